/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reliability-util.h: helpers of the fault-injection, soak and load tests
 * (tests/check/reliability/). Header-only, C++.
 *
 *  - Tool: which checker the test runs under (plain, ASan, TSan, valgrind),
 *    so that time-bounded loops scale and RSS checks know what RSS means;
 *  - ProcFigures: fds, buffer mappings and their resident size, all mappings,
 *    VmRSS and the heap in use, read from /proc/self and the allocator;
 *  - TmpDir, LogCapture (GStreamer's log of the dmakit* categories);
 *  - Bus: waits for EOS/ERROR with a deadline and keeps what it saw;
 *  - run_child: runs this very test program again with "--child NAME" in a
 *    fresh process (own rlimits, uid, mount namespace), with a deadline. */
#ifndef DMAKIT_TESTS_RELIABILITY_UTIL_H
#define DMAKIT_TESTS_RELIABILITY_UTIL_H

#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/dmakit/dmakit.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <malloc.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <initializer_list>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define DMAKIT_REL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DMAKIT_REL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DMAKIT_REL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMAKIT_REL_TSAN 1
#endif
#endif

#ifdef DMAKIT_REL_ASAN
extern "C" size_t __sanitizer_get_current_allocated_bytes (void);
#endif

namespace reltest {

using dmakit::BufferRef;
using dmakit::GCharPtr;
using dmakit::GErrorPtr;
using dmakit::ObjectRef;

/* ---- the checker we run under ------------------------------------------- */

enum class Tool { plain, asan, tsan, valgrind };

inline Tool
tool ()
{
#if defined(DMAKIT_REL_ASAN)
  return Tool::asan;
#elif defined(DMAKIT_REL_TSAN)
  return Tool::tsan;
#else
  static int valgrind = -1;
  if (valgrind < 0) {
    gchar *maps = nullptr;
    valgrind = 0;
    if (g_file_get_contents ("/proc/self/maps", &maps, nullptr, nullptr)) {
      valgrind = std::strstr (maps, "vgpreload") != nullptr;
      g_free (maps);
    }
  }
  return valgrind ? Tool::valgrind : Tool::plain;
#endif
}

inline const char *
tool_name ()
{
  switch (tool ()) {
  case Tool::asan:
    return "asan";
  case Tool::tsan:
    return "tsan";
  case Tool::valgrind:
    return "valgrind";
  default:
    return "plain";
  }
}

/* How much slower than a plain build the checker runs: time-bounded loops
 * keep their duration, count-bounded ones divide by this. */
inline guint
slowdown ()
{
  switch (tool ()) {
  case Tool::asan:
    return 2;
  case Tool::tsan:
    return 5;
  case Tool::valgrind:
    return 20;
  default:
    return 1;
  }
}

/* ---- process figures ------------------------------------------------------ */

/* What the open fds point at ("3:/dev/null 4:anon_inode:[eventfd] ..."), for
 * failure messages. */
inline std::string
fd_targets ()
{
  std::string out;
  if (DIR *dir = opendir ("/proc/self/fd")) {
    while (dirent *e = readdir (dir)) {
      if (e->d_name[0] == '.')
        continue;
      gchar *target = g_file_read_link ((std::string ("/proc/self/fd/") + e->d_name).c_str (),
                                        nullptr);
      out += std::string (e->d_name) + ":" + (target ? target : "?") + " ";
      g_free (target);
    }
    closedir (dir);
  }
  return out;
}

struct ProcFigures {
  guint fds = 0;            /* entries of /proc/self/fd */
  guint buffer_fds = 0;     /* of them: memfds, DMA-BUFs, DRM and heap nodes */
  guint maps = 0;           /* lines of /proc/self/maps */
  guint buffer_maps = 0;    /* mappings of memfds and DMA-BUFs (our buffers) */
  guint64 buffer_kib = 0;   /* mapped KiB of those mappings (smaps Size) */
  guint64 buffer_rss_kib = 0; /* resident KiB of those mappings (smaps Rss) */
  guint64 rss_kib = 0;      /* VmRSS */
  guint64 heap_bytes = 0;   /* heap in use: mallinfo2, or ASan's allocator */
  std::string fd_list;      /* what the fds point at, for failure messages */

  std::string str () const
  {
    gchar *s = g_strdup_printf ("fds %u, mappings %u (buffers %u: %" G_GUINT64_FORMAT
                                " KiB, %" G_GUINT64_FORMAT " KiB resident), RSS %" G_GUINT64_FORMAT
                                " KiB, heap in use %" G_GUINT64_FORMAT " KiB",
                                fds, maps, buffer_maps, buffer_kib, buffer_rss_kib, rss_kib,
                                heap_bytes / 1024);
    std::string out (s);
    g_free (s);
    return out;
  }
};

inline bool
is_buffer_mapping (const char *line)
{
  return std::strstr (line, "/memfd:") || std::strstr (line, "dmabuf") ||
         std::strstr (line, "/dev/dri/") || std::strstr (line, "drm mm object");
}

/* Asserts that @b (later) has no fd more than @a (earlier), and exactly its
 * buffer fds, listing both sets if not. (GStreamer may still be finalizing
 * objects of an earlier pipeline when @a is taken, e.g. a stock pool's
 * GstPoll sockets: fewer other fds later is not a leak.) */
#define fail_unless_same_fds(a, b)                                                            \
  fail_unless ((b).buffer_fds == (a).buffer_fds && (b).fds <= (a).fds,                         \
               "open fds went from %u (%u of buffers) to %u (%u of buffers)\n  before: %s\n"    \
               "  after:  %s",                                                                 \
               (a).fds, (a).buffer_fds, (b).fds, (b).buffer_fds, (a).fd_list.c_str (),           \
               (b).fd_list.c_str ())

inline ProcFigures
proc_figures ()
{
  ProcFigures f;
  if (DIR *dir = opendir ("/proc/self/fd")) {
    while (dirent *e = readdir (dir))
      if (e->d_name[0] != '.')
        f.fds++;
    closedir (dir);
    f.fds--; /* the one opendir() holds */
  }
  f.fd_list = fd_targets ();
  for (const char *kind : { "/memfd:", "dmabuf", "/dev/dri/", "/dev/dma_heap/", "/dev/udmabuf" })
    for (size_t at = f.fd_list.find (kind); at != std::string::npos;
         at = f.fd_list.find (kind, at + 1))
      f.buffer_fds++;
  gchar *smaps = nullptr;
  if (g_file_get_contents ("/proc/self/smaps", &smaps, nullptr, nullptr)) {
    bool in_buffer = false;
    for (gchar *line = smaps; line && *line;) {
      gchar *nl = std::strchr (line, '\n');
      if (nl)
        *nl = '\0';
      /* a mapping header starts with "start-end " in hex */
      if (g_ascii_isxdigit (line[0]) && std::strchr (line, '-') &&
          std::strchr (line, '-') < std::strchr (line, ' ')) {
        f.maps++;
        in_buffer = is_buffer_mapping (line);
        if (in_buffer)
          f.buffer_maps++;
      } else if (in_buffer && g_str_has_prefix (line, "Rss:")) {
        f.buffer_rss_kib += g_ascii_strtoull (line + 4, nullptr, 10);
      } else if (in_buffer && g_str_has_prefix (line, "Size:")) {
        f.buffer_kib += g_ascii_strtoull (line + 5, nullptr, 10);
      }
      line = nl ? nl + 1 : nullptr;
    }
    g_free (smaps);
  }
  gchar *status = nullptr;
  if (g_file_get_contents ("/proc/self/status", &status, nullptr, nullptr)) {
    if (const char *p = std::strstr (status, "VmRSS:"))
      f.rss_kib = g_ascii_strtoull (p + 6, nullptr, 10);
    g_free (status);
  }
#if defined(DMAKIT_REL_ASAN)
  f.heap_bytes = __sanitizer_get_current_allocated_bytes ();
#else
  const struct mallinfo2 mi = mallinfo2 ();
  f.heap_bytes = mi.uordblks + mi.hblkhd;
#endif
  return f;
}

/* ---- temporary directory -------------------------------------------------- */

class TmpDir
{
public:
  TmpDir ()
  {
    GError *err = nullptr;
    gchar *d = g_dir_make_tmp ("dmakit-reliability-XXXXXX", &err);
    fail_unless (d != nullptr, "mkdtemp: %s", err ? err->message : "?");
    path_ = d;
    g_free (d);
  }
  ~TmpDir () { remove_tree (path_); }
  TmpDir (const TmpDir &) = delete;
  TmpDir &operator= (const TmpDir &) = delete;
  std::string file (const std::string &name) const { return path_ + "/" + name; }
  const std::string &path () const { return path_; }

  static void remove_tree (const std::string &path)
  {
    if (DIR *dir = opendir (path.c_str ())) {
      while (dirent *e = readdir (dir)) {
        if (!std::strcmp (e->d_name, ".") || !std::strcmp (e->d_name, ".."))
          continue;
        const std::string p = path + "/" + e->d_name;
        if (e->d_type == DT_DIR)
          remove_tree (p);
        else
          unlink (p.c_str ());
      }
      closedir (dir);
    }
    rmdir (path.c_str ());
  }

private:
  std::string path_;
};

/* FNV-1a over @size bytes */
inline guint64
checksum (const guint8 *data, gsize size)
{
  guint64 h = 14695981039346656037ull;
  for (gsize i = 0; i < size; i++)
    h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

inline guint64
file_size (const std::string &path)
{
  struct stat st;
  return ::stat (path.c_str (), &st) == 0 ? guint64 (st.st_size) : 0;
}

/* ---- GStreamer log capture ------------------------------------------------ */

/* Captures what GStreamer's default log function prints for the dmakit*
 * categories at @level and above while alive: fd 2 points at a memfd; the
 * destructor restores it and echoes the text. (gst_debug_add_log_function()
 * would leak in GStreamer 1.22, which valgrind reports.) Holds two fds. */
class LogCapture
{
public:
  explicit LogCapture (GstDebugLevel level)
  {
    gst_debug_set_active (TRUE);
    gst_debug_set_threshold_for_name ("dmakit*", level);
    fflush (stderr);
    mem_fd_ = memfd_create ("dmakit-reliability-log", MFD_CLOEXEC);
    saved_fd_ = dup (2);
    if (mem_fd_ >= 0 && saved_fd_ >= 0)
      dup2 (mem_fd_, 2);
  }
  ~LogCapture ()
  {
    const std::string captured = text ();
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

private:
  int mem_fd_ = -1;
  int saved_fd_ = -1;
};

/* ---- pipelines ------------------------------------------------------------ */

inline GstElement *
parse (const std::string &desc)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", desc.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  return p;
}

inline ObjectRef<GstElement>
by_name (GstElement *pipeline, const char *name)
{
  auto e = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), name));
  fail_unless (bool (e), "no element %s", name);
  return e;
}

/* uint64 field @field of the "stats" property of element @name */
inline guint64
stat (GstElement *pipeline, const char *name, const char *field)
{
  auto e = by_name (pipeline, name);
  GstStructure *st = nullptr;
  g_object_get (e.get (), "stats", &st, nullptr);
  fail_unless (st != nullptr);
  guint64 v = 0;
  const gboolean found = gst_structure_get_uint64 (st, field, &v);
  gst_structure_free (st);
  fail_unless (found, "no %s in the stats of %s", field, name);
  return v;
}

inline guint64
struct_u64 (const GstStructure *s, const char *field)
{
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s in %" GST_PTR_FORMAT, field, s);
  return v;
}

inline guint64
pool_stat (GstBufferPool *pool, const char *field)
{
  GstStructure *s = gst_dmakit_buffer_pool_get_stats (pool);
  const guint64 v = struct_u64 (s, field);
  gst_structure_free (s);
  return v;
}

inline guint64
allocator_stat (GstAllocator *alloc, const char *field)
{
  GstStructure *s = gst_dmakit_allocator_get_stats (alloc);
  const guint64 v = struct_u64 (s, field);
  gst_structure_free (s);
  return v;
}

/* Like stat() and pool_stat(), without check's macros, for polling loops:
 * check records every passing assertion in its message file, which a loop
 * would grow without bound (and RLIMIT_FSIZE may be tiny in a fault test).
 * G_MAXUINT64 where there is no such figure. */
inline guint64
quiet_struct_u64 (GstStructure *s, const char *field)
{
  guint64 v = G_MAXUINT64;
  if (s && !gst_structure_get_uint64 (s, field, &v))
    v = G_MAXUINT64;
  if (s)
    gst_structure_free (s);
  return v;
}

inline guint64
quiet_stat (GstElement *pipeline, const char *name, const char *field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstStructure *st = nullptr;
  if (e) {
    g_object_get (e, "stats", &st, nullptr);
    gst_object_unref (e);
  }
  return quiet_struct_u64 (st, field);
}

inline guint64
quiet_pool_stat (GstBufferPool *pool, const char *field)
{
  return quiet_struct_u64 (gst_dmakit_buffer_pool_get_stats (pool), field);
}

inline std::string
backend_nick (GstAllocator *alloc)
{
  GEnumClass *klass = G_ENUM_CLASS (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
  const GEnumValue *v = g_enum_get_value (klass, gst_dmakit_allocator_get_backend (alloc));
  std::string nick = v ? v->value_nick : "?";
  g_type_class_unref (klass);
  return nick;
}

struct BusResult {
  bool eos = false;
  bool timed_out = false;
  std::string error;       /* first error: user text */
  std::string error_debug; /* first error: debug text */
  std::string error_src;   /* element that posted it */
  std::vector<std::string> warnings;
};

/* Waits until EOS, the first ERROR or the deadline. */
inline BusResult
wait_bus (GstElement *pipeline, guint timeout_ms)
{
  BusResult res;
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (pipeline));
  const gint64 deadline = g_get_monotonic_time () + gint64 (timeout_ms) * 1000;
  for (;;) {
    const gint64 left = deadline - g_get_monotonic_time ();
    if (left <= 0) {
      res.timed_out = true;
      return res;
    }
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus.get (), GstClockTime (left) * GST_USECOND,
        GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!msg) {
      res.timed_out = true;
      return res;
    }
    const GstMessageType type = GST_MESSAGE_TYPE (msg);
    if (type == GST_MESSAGE_EOS) {
      res.eos = true;
    } else {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      if (type == GST_MESSAGE_WARNING)
        gst_message_parse_warning (msg, &err, &dbg);
      else
        gst_message_parse_error (msg, &err, &dbg);
      const std::string text = err ? err->message : "(no message)";
      if (type == GST_MESSAGE_WARNING) {
        res.warnings.push_back (text);
      } else {
        res.error = text;
        res.error_debug = dbg ? dbg : "";
        res.error_src = GST_MESSAGE_SRC_NAME (msg) ? GST_MESSAGE_SRC_NAME (msg) : "";
      }
      g_clear_error (&err);
      g_free (dbg);
    }
    gst_message_unref (msg);
    if (type != GST_MESSAGE_WARNING)
      return res;
  }
}

inline void
set_state_sync (GstElement *p, GstState state, guint timeout_s = 20)
{
  const GstStateChangeReturn r = gst_element_set_state (p, state);
  fail_unless (r != GST_STATE_CHANGE_FAILURE, "set_state %s failed",
               gst_element_state_get_name (state));
  if (r == GST_STATE_CHANGE_ASYNC) {
    GstState now;
    fail_unless_equals_int (gst_element_get_state (p, &now, nullptr, timeout_s * GST_SECOND),
                            GST_STATE_CHANGE_SUCCESS);
  }
}

/* ---- child processes ------------------------------------------------------ */

/* The test program's path ("/proc/self/exe" resolved at start: under
 * valgrind the link is the client program, not valgrind). */
inline const char *g_self_exe = nullptr;

/* Handles "PROGRAM --child NAME ARGS..." in main(): returns the child's name
 * (and its arguments in @args) and leaves argc/argv with the program name
 * only, or returns nullptr for a normal run. Also resolves g_self_exe. */
inline const char *
parse_child_args (int *argc, char ***argv, std::vector<std::string> *args)
{
  static gchar *self = nullptr;
  if (!self)
    self = g_file_read_link ("/proc/self/exe", nullptr);
  g_self_exe = self ? self : (*argv)[0];
  if (*argc < 3 || std::strcmp ((*argv)[1], "--child") != 0)
    return nullptr;
  const char *name = (*argv)[2];
  for (int i = 3; i < *argc; i++)
    args->push_back ((*argv)[i]);
  *argc = 1;
  return name;
}

/* Runs this test program again as "PROGRAM --child NAME ARGS..." (a fresh,
 * single-threaded process: rlimits, uid and namespaces stay there), with
 * @env entries added ("KEY=VALUE"), and waits at most @timeout_s seconds
 * (then kills it: a hang fails). Returns the exit status, or -signal. */
inline int
run_child (const std::string &name, const std::vector<std::string> &args,
           const std::vector<std::string> &env, guint timeout_s)
{
  fail_unless (g_self_exe != nullptr);
  std::vector<std::string> argv_s{ g_self_exe, "--child", name };
  argv_s.insert (argv_s.end (), args.begin (), args.end ());
  std::vector<char *> argv;
  for (auto &a : argv_s)
    argv.push_back (const_cast<char *> (a.c_str ()));
  argv.push_back (nullptr);
  fflush (stdout);
  fflush (stderr);
  const pid_t pid = fork ();
  fail_unless (pid >= 0, "fork: %s", g_strerror (errno));
  if (pid == 0) {
    for (const auto &e : env)
      putenv (const_cast<char *> (e.c_str ()));
    execv (g_self_exe, argv.data ());
    _exit (127);
  }
  const gint64 deadline = g_get_monotonic_time () + gint64 (timeout_s) * G_USEC_PER_SEC;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid (pid, &status, WNOHANG);
    if (r == pid)
      break;
    fail_unless (r == 0, "waitpid: %s", g_strerror (errno));
    if (g_get_monotonic_time () > deadline) {
      kill (pid, SIGKILL);
      waitpid (pid, &status, 0);
      fail ("child %s did not finish within %u s (hang)", name.c_str (), timeout_s);
    }
    g_usleep (20000);
  }
  if (WIFSIGNALED (status))
    return -WTERMSIG (status);
  return WEXITSTATUS (status);
}

} // namespace reltest

#endif /* DMAKIT_TESTS_RELIABILITY_UTIL_H */
