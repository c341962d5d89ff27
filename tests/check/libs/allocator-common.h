/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* allocator-common.h: helpers shared by the allocator tests (not installed).
 *
 *  - LogCapture: records dmakit* debug messages at or above a level
 *  - count_open_fds / count_mappings: /proc/self/fd entries and /proc/self/maps lines
 *  - read_fdinfo: /proc/self/fdinfo/<fd>
 *  - drop_cap_ipc_lock: removes CAP_IPC_LOCK so RLIMIT_MEMLOCK applies (root too)
 *  - vm_locked_kb: VmLck of this process
 */
#ifndef DMAKIT_TESTS_ALLOCATOR_COMMON_H
#define DMAKIT_TESTS_ALLOCATOR_COMMON_H

#include <gst/gst.h>
#include <gst/dmakit/dmakit-raii.h>

#include <cstring>
#include <dirent.h>
#include <linux/capability.h>
#include <mutex>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

namespace dmakit_test {

/* Captures every message of the dmakit* categories at @level or more severe,
 * and silences the default stderr printer while alive. */
class LogCapture
{
public:
  explicit LogCapture (GstDebugLevel level) noexcept
  {
    /* The parenthesised names bypass GStreamer's C-only wrapper macros; NULL
     * stands for gst_debug_log_default. */
    gst_debug_set_threshold_for_name ("dmakit*", level);
    (gst_debug_remove_log_function) (nullptr);
    (gst_debug_add_log_function) (&LogCapture::log, this, nullptr);
  }
  ~LogCapture ()
  {
    (gst_debug_remove_log_function) (&LogCapture::log);
    (gst_debug_add_log_function) (nullptr, nullptr, nullptr);
    gst_debug_unset_threshold_for_name ("dmakit*");
  }
  LogCapture (const LogCapture &) = delete;
  LogCapture &operator= (const LogCapture &) = delete;

  std::string text () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return text_;
  }
  bool contains (const std::string &needle) const { return text ().find (needle) != std::string::npos; }
  void clear ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    text_.clear ();
  }

private:
  static void log (GstDebugCategory *category, GstDebugLevel level, const gchar *, const gchar *,
                   gint, GObject *, GstDebugMessage *message, gpointer user_data) noexcept
  {
    if (!g_str_has_prefix (gst_debug_category_get_name (category), "dmakit"))
      return;
    auto *self = static_cast<LogCapture *> (user_data);
    std::lock_guard<std::mutex> lock (self->mutex_);
    self->text_ += gst_debug_level_get_name (level);
    self->text_ += ' ';
    self->text_ += gst_debug_category_get_name (category);
    self->text_ += ": ";
    self->text_ += gst_debug_message_get (message);
    self->text_ += '\n';
  }

  mutable std::mutex mutex_;
  std::string text_;
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
