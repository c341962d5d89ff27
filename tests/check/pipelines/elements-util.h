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
#include <unistd.h>

namespace etest {

using dmakit::GCharPtr;
using dmakit::ObjectRef;

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
  gst_element_set_state (p, GST_STATE_NULL);
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
  gst_element_set_state (p, GST_STATE_NULL);
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
