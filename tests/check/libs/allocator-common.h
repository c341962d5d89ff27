/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* allocator-common.h: helpers shared by the allocator tests (not installed).
 *
 *  - LogCapture: records what the dmakit* categories log at or above a level
 *  - count_open_fds / count_mappings: /proc/self/fd entries and /proc/self/maps lines
 *  - read_fdinfo: /proc/self/fdinfo/<fd>
 *  - drop_cap_ipc_lock: removes CAP_IPC_LOCK so RLIMIT_MEMLOCK applies (root too)
 *  - vm_locked_kb: VmLck of this process
 */
#ifndef DMAKIT_TESTS_ALLOCATOR_COMMON_H
#define DMAKIT_TESTS_ALLOCATOR_COMMON_H

#include <gst/gst.h>
#include <gst/dmakit/dmakit-raii.h>

#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

namespace dmakit_test {

/* Captures what GStreamer's default log function prints while alive: fd 2
 * points at a memfd, and the dmakit* categories log at @level and above. The
 * destructor restores fd 2 and echoes the text there. (Not a
 * gst_debug_add_log_function() hook: GStreamer 1.22 leaks the previous list on
 * every add/remove, which valgrind reports as definitely lost.) Holds two fds
 * while alive: create it before exhausting the fd table. */
class LogCapture
{
public:
  explicit LogCapture (GstDebugLevel level) noexcept
  {
    gst_debug_set_active (TRUE);
    gst_debug_set_threshold_for_name ("dmakit*", level);
    fflush (stderr);
    mem_fd_ = memfd_create ("dmakit-test-log", MFD_CLOEXEC);
    saved_fd_ = dup (2);
    if (mem_fd_ >= 0 && saved_fd_ >= 0)
      dup2 (mem_fd_, 2);
  }
  ~LogCapture ()
  {
    std::string captured = text ();
    fflush (stderr);
    if (saved_fd_ >= 0) {
      dup2 (saved_fd_, 2);
      close (saved_fd_);
    }
    if (mem_fd_ >= 0)
      close (mem_fd_);
    gst_debug_unset_threshold_for_name ("dmakit*");
    if (!captured.empty () && write (2, captured.data (), captured.size ()) < 0)
      g_printerr ("could not echo the captured log\n");
  }
  LogCapture (const LogCapture &) = delete;
  LogCapture &operator= (const LogCapture &) = delete;

  /* Everything captured so far. */
  std::string text () const
  {
    fflush (stderr);
    std::string out;
    char chunk[4096];
    off_t at = 0;
    ssize_t n;
    while (mem_fd_ >= 0 && (n = pread (mem_fd_, chunk, sizeof (chunk), at)) > 0) {
      out.append (chunk, size_t (n));
      at += n;
    }
    return out;
  }
  bool contains (const std::string &needle) const { return text ().find (needle) != std::string::npos; }
  /* The first line containing @needle, or "". */
  std::string line_with (const std::string &needle) const
  {
    const std::string all = text ();
    size_t pos = all.find (needle);
    if (pos == std::string::npos)
      return std::string ();
    size_t begin = all.rfind ('\n', pos);
    begin = begin == std::string::npos ? 0 : begin + 1;
    size_t end = all.find ('\n', pos);
    return all.substr (begin, end == std::string::npos ? std::string::npos : end - begin);
  }
  /* How often @needle occurs. */
  int count (const std::string &needle) const
  {
    const std::string all = text ();
    int n = 0;
    for (size_t pos = all.find (needle); pos != std::string::npos;
         pos = all.find (needle, pos + needle.size ()))
      ++n;
    return n;
  }

private:
  int mem_fd_ = -1;
  int saved_fd_ = -1;
};

inline int
count_open_fds ()
{
  DIR *dir = opendir ("/proc/self/fd");
  if (!dir)
    return -1;
  int n = 0;
  while (struct dirent *e = readdir (dir)) {
    if (e->d_name[0] != '.')
      ++n;
  }
  closedir (dir);
  return n;
}

/* Mappings of buffer files in /proc/self/maps: DMA-BUFs ("/dmabuf:<name>" or
 * "anon_inode:dmabuf"), memfds ("/memfd:<name>"), and DRM/GEM objects. Other
 * mappings (thread stacks, malloc arenas) come and go with GLib and libc and
 * would make a leak check flaky, so they are not counted. */
inline int
count_mappings ()
{
  gchar *contents = nullptr;
  if (!g_file_get_contents ("/proc/self/maps", &contents, nullptr, nullptr))
    return -1;
  int n = 0;
  gchar **lines = g_strsplit (contents, "\n", -1);
  for (gchar **l = lines; *l; ++l) {
    if (strstr (*l, "dmabuf") || strstr (*l, "/memfd:") || strstr (*l, "drm mm object") ||
        strstr (*l, "/dev/dri/"))
      ++n;
  }
  g_strfreev (lines);
  g_free (contents);
  return n;
}

inline std::string
read_fdinfo (int fd)
{
  gchar *path = g_strdup_printf ("/proc/self/fdinfo/%d", fd);
  gchar *contents = nullptr;
  std::string out;
  if (g_file_get_contents (path, &contents, nullptr, nullptr))
    out = contents;
  g_free (contents);
  g_free (path);
  return out;
}

inline std::string
fd_link (int fd)
{
  char path[64];
  char target[512];
  g_snprintf (path, sizeof (path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink (path, target, sizeof (target) - 1);
  if (n < 0)
    return std::string ();
  target[n] = '\0';
  return target;
}

/* Drops CAP_IPC_LOCK from this process (effective, permitted, inheritable). */
inline bool
drop_cap_ipc_lock ()
{
  struct __user_cap_header_struct header = {};
  struct __user_cap_data_struct data[2] = {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  if (syscall (SYS_capget, &header, data) != 0)
    return false;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall (SYS_capset, &header, data) == 0;
}

/* VmLck of this process in kB, -1 when unknown. */
inline long
vm_locked_kb ()
{
  gchar *contents = nullptr;
  if (!g_file_get_contents ("/proc/self/status", &contents, nullptr, nullptr))
    return -1;
  long kb = -1;
  const gchar *line = strstr (contents, "VmLck:");
  if (line)
    kb = strtol (line + strlen ("VmLck:"), nullptr, 10);
  g_free (contents);
  return kb;
}

} // namespace dmakit_test

#endif /* DMAKIT_TESTS_ALLOCATOR_COMMON_H */
