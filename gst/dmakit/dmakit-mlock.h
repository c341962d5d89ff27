/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-mlock.h (private): locking pages in RAM, and the one message that
 * says why a lock was refused. Used by the allocators and the pool. */
#ifndef DMAKIT_MLOCK_H
#define DMAKIT_MLOCK_H

#include <glib.h>

namespace dmakit
{

/* mlock() [@addr, @addr + @len). The raw syscall: sanitizer runtimes
 * intercept mlock() and turn it into a no-op that reports success, which
 * would make us claim a lock we lack. Returns 0, or the errno. */
int lock_pages (const void *addr, gsize len) noexcept;

/* munlock() [@addr, @addr + @len). */
void unlock_pages (const void *addr, gsize len) noexcept;

/* Why locking @size bytes was refused with @err, naming RLIMIT_MEMLOCK and
 * how to lift it: "lock-memory: mlock of N bytes refused: <reason> (errno E);
 * RLIMIT_MEMLOCK <limit>: raise it (...) or grant CAP_IPC_LOCK; the memory
 * stays pageable". Free with g_free(). */
gchar *describe_lock_refusal (gsize size, int err) noexcept;

} // namespace dmakit

#endif /* DMAKIT_MLOCK_H */
