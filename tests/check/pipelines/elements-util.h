/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* elements-util.h: helpers shared by the dmakitcrop/dmakitsink tests: run a
 * pipeline to EOS or error, read files, compare video frames plane by plane,
 * read element stats. Header-only, C++. */
#ifndef DMAKIT_ELEMENTS_UTIL_H
#define DMAKIT_ELEMENTS_UTIL_H

#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/video/video.h>

#include <cstring>
#include <dirent.h>
#include <string>
#include <sys/prctl.h>
#include <unistd.h>

namespace etest {

using dmakit::GCharPtr;
using dmakit::ObjectRef;

/* fail_unless_equals_string() keeps a `const gchar *` to its argument: with a
 * temporary std::string (stat_string (...).c_str ()) that pointer dangles
 * before the comparison. This one keeps the strings alive. */
#define assert_str_eq(actual, expected)                                                        \
  G_STMT_START                                                                                \
  {                                                                                           \
    const std::string actual_ = (actual);                                                     \
    const std::string expected_ = (expected);                                                 \
    fail_unless (actual_ == expected_, "'%s' is \"%s\", not \"%s\"", #actual,                  \
                 actual_.c_str (), expected_.c_str ());                                       \
  }                                                                                           \
  G_STMT_END

/* Prints every thread's backtrace of this process to stderr when gdb is
 * installed (a diagnosis for a test that is stuck), else says why not. */
inline void
dump_backtraces (const char *why)
{
  g_printerr ("\n*** %s: backtraces of all threads follow ***\n", why);
  GCharPtr gdb (g_find_program_in_path ("gdb"));
  if (!gdb) {
    g_printerr ("(gdb is not installed: no backtraces)\n");
    return;
  }
  /* With Yama ptrace_scope=1 only an ancestor may attach: allow our child. */
  prctl (PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  GCharPtr cmd (g_strdup_printf ("%s -p %d -batch -nx -ex \"thread apply all bt\"", gdb.get (),
                                 int (getpid ())));
  gchar *out = nullptr;
  if (g_spawn_command_line_sync (cmd.get (), &out, nullptr, nullptr, nullptr) && out)
    g_printerr ("%s\n", out);
  g_free (out);
}

/* Fails fast instead of hanging: if the scope is not left within @seconds,
 * prints the backtraces of all threads and aborts the test process (check
 * reports the signal; CI moves on). Put no assertion inside the scope: a
 * failing check (CK_FORK=no) jumps out without running destructors. */
class Watchdog
{
public:
  Watchdog (std::string what, guint seconds) : what_ (std::move (what)), seconds_ (seconds)
  {
    g_mutex_init (&lock_);
    g_cond_init (&cond_);
    thread_ = g_thread_new ("test-watchdog", &Watchdog::main, this);
  }
  ~Watchdog ()
  {
    g_mutex_lock (&lock_);
    done_ = true;
    g_cond_signal (&cond_);
    g_mutex_unlock (&lock_);
    g_thread_join (thread_);
    g_cond_clear (&cond_);
    g_mutex_clear (&lock_);
  }
  Watchdog (const Watchdog &) = delete;
  Watchdog &operator= (const Watchdog &) = delete;

private:
  static gpointer main (gpointer data)
  {
    auto *self = static_cast<Watchdog *> (data);
    const gint64 deadline = g_get_monotonic_time () + gint64 (self->seconds_) * G_USEC_PER_SEC;
    g_mutex_lock (&self->lock_);
    while (!self->done_)
      if (!g_cond_wait_until (&self->cond_, &self->lock_, deadline))
        break;
    const bool expired = !self->done_;
    g_mutex_unlock (&self->lock_);
    if (expired) {
      GCharPtr why (g_strdup_printf ("%s: still not done after %u s", self->what_.c_str (),
                                     self->seconds_));
      dump_backtraces (why.get ());
      g_printerr ("%s: aborting so that the test fails instead of hanging\n", why.get ());
      abort ();
    }
    return nullptr;
  }
  std::string what_;
  guint seconds_;
  GMutex lock_;
  GCond cond_;
  bool done_ = false;
  GThread *thread_ = nullptr;
};

/* Sets @pipeline to NULL; a state change that does not return within 60 s is
 * a hang: backtraces, then abort. */
inline void
set_null (GstElement *pipeline)
{
  Watchdog dog ("setting the pipeline to NULL", 60);
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

struct RunResult {
  bool eos = false;
  bool timed_out = false;
  std::string error;       /* first error: user text */
  std::string error_debug; /* first error: debug text */
  std::string error_src;   /* name of the element that posted it */
  std::string warning;     /* first warning: user text */
};

/* Sets @pipeline PLAYING and waits for EOS or the first error (or the
 * timeout). Leaves the pipeline PLAYING or in error; the caller sets NULL. */
inline RunResult
run (GstElement *pipeline, guint timeout_s = 60)
{
  RunResult res;
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (pipeline));
  GstStateChangeReturn sret = gst_element_set_state (pipeline, GST_STATE_PLAYING);
  (void) sret; /* a failure shows up as an error message */
  const gint64 deadline = g_get_monotonic_time () + gint64 (timeout_s) * G_USEC_PER_SEC;
  for (;;) {
    const gint64 left = deadline - g_get_monotonic_time ();
    if (left <= 0) {
      res.timed_out = true;
      break;
    }
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus.get (), GstClockTime (left) * GST_USECOND,
        GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!msg) {
      res.timed_out = true;
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
      GError *err = nullptr;
      gst_message_parse_warning (msg, &err, nullptr);
      if (res.warning.empty () && err)
        res.warning = err->message;
      g_clear_error (&err);
      gst_message_unref (msg);
      continue;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      res.eos = true;
    } else {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error (msg, &err, &dbg);
      res.error = err ? err->message : "(no message)";
      res.error_debug = dbg ? dbg : "";
      res.error_src = GST_MESSAGE_SRC_NAME (msg) ? GST_MESSAGE_SRC_NAME (msg) : "";
      g_clear_error (&err);
      g_free (dbg);
    }
    gst_message_unref (msg);
    break;
  }
  if (res.timed_out)
    dump_backtraces ("the pipeline neither finished nor failed in time");
  return res;
}

/* Parses @desc, runs it to EOS (asserting no error), sets it to NULL and
 * returns it (transfer full) so that stats can be read. */
inline GstElement *
run_ok (const std::string &desc, guint timeout_s = 60)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", desc.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  RunResult r = run (p, timeout_s);
  set_null (p);
  fail_unless (!r.timed_out, "timed out: %s", desc.c_str ());
  fail_unless (r.eos, "%s\n  failed: %s (%s)", desc.c_str (), r.error.c_str (),
               r.error_debug.c_str ());
  return p;
}

/* Parses @desc and runs it expecting an error; returns the result. */
inline RunResult
run_expect_error (const std::string &desc, guint timeout_s = 30)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", desc.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  RunResult r = run (p, timeout_s);
  set_null (p);
  gst_object_unref (p);
  fail_unless (!r.timed_out, "timed out (expected an error): %s", desc.c_str ());
  fail_unless (!r.error.empty (), "expected an error from: %s", desc.c_str ());
  return r;
}

inline std::string
read_file (const std::string &path)
{
  gchar *data = nullptr;
  gsize len = 0;
  GError *err = nullptr;
  if (!g_file_get_contents (path.c_str (), &data, &len, &err)) {
    std::string msg = err ? err->message : "?";
    g_clear_error (&err);
    fail ("cannot read %s: %s", path.c_str (), msg.c_str ());
    return {};
  }
  std::string s (data, len);
  g_free (data);
  return s;
}

/* Reads the uint64 field @field of the "stats" property of element @name. */
inline guint64
stat (GstElement *pipeline, const char *name, const char *field)
{
  auto e = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), name));
  fail_unless (e.get () != nullptr, "no element %s", name);
  GstStructure *st = nullptr;
  g_object_get (e.get (), "stats", &st, nullptr);
  fail_unless (st != nullptr);
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (st, field, &v), "no %s in %" GST_PTR_FORMAT, field, st);
  gst_structure_free (st);
  return v;
}

inline std::string
stat_string (GstElement *pipeline, const char *name, const char *field)
{
  auto e = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), name));
  fail_unless (e.get () != nullptr, "no element %s", name);
  GstStructure *st = nullptr;
  g_object_get (e.get (), "stats", &st, nullptr);
  const gchar *s = gst_structure_get_string (st, field);
  std::string out = s ? s : "";
  gst_structure_free (st);
  return out;
}

/* Bytes of each row that belong to the picture (the rest is stride padding,
 * whose content GStreamer does not define). */
inline gsize
row_bytes (const GstVideoInfo *info, guint plane, guint *rows)
{
  const GstVideoFormatInfo *f = info->finfo;
  guint comp = 0;
  while (comp < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (f) && GST_VIDEO_FORMAT_INFO_PLANE (f, comp) != plane)
    comp++;
  *rows = GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT (f, comp, GST_VIDEO_INFO_HEIGHT (info));
  const GstVideoFormat fmt = GST_VIDEO_INFO_FORMAT (info);
  if (fmt == GST_VIDEO_FORMAT_YUY2 || fmt == GST_VIDEO_FORMAT_UYVY || fmt == GST_VIDEO_FORMAT_YVYU)
    return gsize (GST_VIDEO_INFO_WIDTH (info)) * 2;
  return gsize (GST_VIDEO_FORMAT_INFO_SCALE_WIDTH (f, comp, GST_VIDEO_INFO_WIDTH (info))) *
         GST_VIDEO_FORMAT_INFO_PSTRIDE (f, comp);
}

/* The sink that reference pipelines end in (see Capture). */
constexpr const char *kCaptureSink = " ! fakesink name=refsink signal-handoffs=true sync=false";

/* Records what a `fakesink signal-handoffs=true` receives, as the bytes
 * filesink would write, except that the stride padding of raw video frames is
 * written as zeros. GStreamer leaves that padding undefined, so filesink
 * writes uninitialised bytes (which valgrind reports), and compare_frames()
 * does not compare it anyway. Non-video buffers are recorded as they are. */
class Capture
{
public:
  Capture () { g_mutex_init (&lock_); }
  ~Capture () { g_mutex_clear (&lock_); }
  Capture (const Capture &) = delete;
  Capture &operator= (const Capture &) = delete;

  /* Before the pipeline runs. */
  void attach (GstElement *pipeline, const char *sink_name = "refsink")
  {
    auto sink = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), sink_name));
    fail_unless (sink.get () != nullptr, "no element %s to capture from", sink_name);
    g_object_set (sink.get (), "signal-handoffs", TRUE, nullptr);
    g_signal_connect (sink.get (), "handoff", G_CALLBACK (&Capture::on_handoff), this);
  }
  /* After the pipeline stopped. */
  std::string data ()
  {
    g_mutex_lock (&lock_);
    std::string d = data_;
    g_mutex_unlock (&lock_);
    return d;
  }

private:
  static void on_handoff (GstElement *, GstBuffer *buf, GstPad *pad, gpointer user)
  {
    auto *self = static_cast<Capture *> (user);
    std::string chunk;
    GstCaps *caps = gst_pad_get_current_caps (pad);
    GstVideoInfo info;
    if (caps && gst_structure_has_name (gst_caps_get_structure (caps, 0), "video/x-raw") &&
        gst_video_info_from_caps (&info, caps)) {
      GstVideoInfo out;
      gst_video_info_set_format (&out, GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_INFO_WIDTH (&info),
                                 GST_VIDEO_INFO_HEIGHT (&info));
      chunk.assign (GST_VIDEO_INFO_SIZE (&out), '\0');
      dmakit::MappedVideoFrame f (&info, buf, GST_MAP_READ);
      if (f) {
        for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&out); p++) {
          guint rows = 0;
          const gsize rb = row_bytes (&out, p, &rows);
          const auto *src = static_cast<const guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (f.get (), p));
          for (guint r = 0; r < rows; r++)
            std::memcpy (&chunk[GST_VIDEO_INFO_PLANE_OFFSET (&out, p) +
                                gsize (r) * GST_VIDEO_INFO_PLANE_STRIDE (&out, p)],
                         src + gsize (r) * GST_VIDEO_FRAME_PLANE_STRIDE (f.get (), p), rb);
        }
      } else {
        chunk = "<unmappable frame>";
      }
    } else {
      dmakit::MappedBuffer m (buf, GST_MAP_READ);
      if (m)
        chunk.assign (reinterpret_cast<const char *> (m.data ()), m.size ());
    }
    if (caps)
      gst_caps_unref (caps);
    g_mutex_lock (&self->lock_);
    self->data_ += chunk;
    g_mutex_unlock (&self->lock_);
  }

  GMutex lock_;
  std::string data_;
};

/* Runs @desc + kCaptureSink to EOS (asserting no error) and returns what
 * reached the sink (see Capture). */
inline std::string
run_capture (const std::string &desc, guint timeout_s = 60)
{
  const std::string full = desc + kCaptureSink;
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (full.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", full.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  Capture cap;
  cap.attach (p);
  RunResult r = run (p, timeout_s);
  set_null (p);
  gst_object_unref (p);
  fail_unless (!r.timed_out, "timed out: %s", full.c_str ());
  fail_unless (r.eos, "%s\n  failed: %s (%s)", full.c_str (), r.error.c_str (),
               r.error_debug.c_str ());
  return cap.data ();
}

/* Compares two files of @n frames of @fmt @w x @h in the default layout:
 * sizes must be equal and every picture byte must be equal. Stride padding
 * is not compared (filesink writes whatever the upstream pool left there);
 * with @padding_zero, @a's padding must be zero (dmakitsink writes zeros).
 * Returns an empty string or a description of the first difference. */
inline std::string
compare_frames (const std::string &a, const std::string &b, GstVideoFormat fmt, guint w, guint h,
                guint n, bool padding_zero = true)
{
  GstVideoInfo info;
  if (!gst_video_info_set_format (&info, fmt, w, h))
    return "bad format";
  const gsize fsize = GST_VIDEO_INFO_SIZE (&info);
  if (a.size () != fsize * n || b.size () != fsize * n)
    return std::string ("sizes differ: ") + std::to_string (a.size ()) + " vs " +
           std::to_string (b.size ()) + ", expected " + std::to_string (fsize * n);
  for (guint f = 0; f < n; f++) {
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&info); p++) {
      guint rows = 0;
      const gsize rb = row_bytes (&info, p, &rows);
      const gsize stride = GST_VIDEO_INFO_PLANE_STRIDE (&info, p);
      for (guint r = 0; r < rows; r++) {
        const gsize off = f * fsize + GST_VIDEO_INFO_PLANE_OFFSET (&info, p) + r * stride;
        if (std::memcmp (a.data () + off, b.data () + off, rb) != 0) {
          gsize i = 0;
          while (a[off + i] == b[off + i])
            i++;
          return "frame " + std::to_string (f) + " plane " + std::to_string (p) + " row " +
                 std::to_string (r) + " byte " + std::to_string (i) + ": " +
                 std::to_string (guint8 (a[off + i])) + " vs " + std::to_string (guint8 (b[off + i]));
        }
        if (padding_zero)
          for (gsize i = rb; i < stride; i++)
            if (a[off + i] != 0)
              return "non-zero padding in frame " + std::to_string (f) + " plane " +
                     std::to_string (p) + " row " + std::to_string (r);
      }
    }
  }
  return {};
}

/* A fresh temporary directory, removed (with its files) by the destructor. */
class TmpDir
{
public:
  TmpDir ()
  {
    GError *err = nullptr;
    gchar *d = g_dir_make_tmp ("dmakit-elements-XXXXXX", &err);
    fail_unless (d != nullptr, "mkdtemp: %s", err ? err->message : "?");
    path_ = d;
    g_free (d);
  }
  ~TmpDir ()
  {
    if (DIR *dir = opendir (path_.c_str ())) {
      while (dirent *e = readdir (dir)) {
        if (std::strcmp (e->d_name, ".") && std::strcmp (e->d_name, ".."))
          unlink ((path_ + "/" + e->d_name).c_str ());
      }
      closedir (dir);
    }
    rmdir (path_.c_str ());
  }
  TmpDir (const TmpDir &) = delete;
  TmpDir &operator= (const TmpDir &) = delete;
  std::string file (const std::string &name) const { return path_ + "/" + name; }
  const std::string &path () const { return path_; }

private:
  std::string path_;
};

/* Whether this process runs under valgrind (its preload library is mapped):
 * loops that only need to run often enough run fewer times there. */
inline bool
under_valgrind ()
{
  gchar *maps = nullptr;
  bool yes = false;
  if (g_file_get_contents ("/proc/self/maps", &maps, nullptr, nullptr)) {
    yes = std::strstr (maps, "vgpreload") != nullptr;
    g_free (maps);
  }
  return yes;
}

inline guint
count_fds ()
{
  guint n = 0;
  if (DIR *dir = opendir ("/proc/self/fd")) {
    while (dirent *e = readdir (dir))
      if (e->d_name[0] != '.')
        n++;
    closedir (dir);
  }
  return n;
}

/* Resident set size in KiB. */
inline guint64
rss_kib ()
{
  gchar *data = nullptr;
  guint64 kib = 0;
  if (g_file_get_contents ("/proc/self/status", &data, nullptr, nullptr)) {
    const char *p = std::strstr (data, "VmRSS:");
    if (p)
      kib = g_ascii_strtoull (p + 6, nullptr, 10);
    g_free (data);
  }
  return kib;
}

} // namespace etest

#endif /* DMAKIT_ELEMENTS_UTIL_H */
