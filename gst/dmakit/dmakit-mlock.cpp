/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-mlock.cpp: locking pages in RAM. */
#include "dmakit-mlock.h"

#include <cerrno>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dmakit
{

int
lock_pages (const void *addr, gsize len) noexcept
{
  return syscall (SYS_mlock, addr, len) == 0 ? 0 : errno;
}

void
unlock_pages (const void *addr, gsize len) noexcept
{
  syscall (SYS_munlock, addr, len);
}

gchar *
describe_lock_refusal (gsize size, int err) noexcept
{
  struct rlimit rl = {};
  getrlimit (RLIMIT_MEMLOCK, &rl);
  char limit[64];
  if (rl.rlim_cur == RLIM_INFINITY)
    g_strlcpy (limit, "unlimited", sizeof (limit));
  else
    g_snprintf (limit, sizeof (limit), "%" G_GUINT64_FORMAT " bytes", guint64 (rl.rlim_cur));
  return g_strdup_printf ("lock-memory: mlock of %" G_GSIZE_FORMAT " bytes refused: %s (errno %d); "
                          "RLIMIT_MEMLOCK %s: raise it (ulimit -l, systemd LimitMEMLOCK=) or "
                          "grant CAP_IPC_LOCK; the memory stays pageable",
                          size, g_strerror (err), err, limit);
}

} // namespace dmakit
