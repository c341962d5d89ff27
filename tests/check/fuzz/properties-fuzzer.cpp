/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the property strings of dmakitcrop and dmakitsink:
 * what gst-launch-1.0 lines, gst_util_set_object_arg() and
 * application configuration files hand to the elements.
 *
 * Input (text, one item per line):
 *   caps FORMAT W H         optional first line: the test frames (W, H 1..64)
 *   crop.NAME=VALUE         a property of dmakitcrop
 *   sink.NAME=VALUE         a property of dmakitsink
 * A NAME that is not a property of the element picks one of its own
 * properties by hash, and a line without "crop."/"sink." picks the element by
 * hash, so that every byte string reaches some property. dmakitsink's
 * location is kept inside the work directory.
 *
 * Properties checked for every input:
 *  - a value that GLib accepts for the property (it deserializes and is valid
 *    for the GParamSpec; the others are refused by GObject before the element
 *    sees them) reads back as itself or, if the element refuses it, as the old
 *    value, never as anything else, and the read-back value is always valid;
 *  - the elements then run videotestsrc num-buffers=2 ! caps ! dmakitcrop !
 *    dmakitsink: linking fails only for a crop that does not fit the frame;
 *    a linked pipeline reaches EOS or posts an error within 5 s (a
 *    hang is a failure), goes back to NULL, and dmakitsink's counters add up
 *    (with a location: rendered = written + not-written, all written at EOS;
 *    nothing left queued; never more frames than the source made).
 * No crash, no critical, no leak (libFuzzer's per-input leak check).
 * Built and run by run-fuzz.sh (see tests/check/meson.build). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gst/elements/gstdmakitcrop.h"
#include "gst/elements/gstdmakitsink.h"

#include <gst/dmakit/dmakit.h>
#include <gst/gst.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#define REQUIRE(cond, ...)                                                                     \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf (stderr, "properties-fuzzer: %s:%d: property failed: %s\n", __FILE__, __LINE__,  \
               #cond);                                                                         \
      fprintf (stderr, "  " __VA_ARGS__);                                                      \
      fprintf (stderr, "\n");                                                                  \
      abort ();                                                                                \
    }                                                                                          \
  } while (0)

namespace {

std::string g_work; /* where dmakitsink may write */

const char *const kFormats[] = { "NV12", "I420", "YUY2", "UYVY", "RGBA", "BGRx", "RGB",
                                 "GRAY8", "GRAY16_LE", "Y444", "Y42B", "AYUV", "NV21" };

/* Criticals are bugs (ours, or a misuse of GStreamer by us): abort. GLib's
 * and our own warnings about refused values are expected here. */
void
log_handler (const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer)
{
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
    fprintf (stderr, "properties-fuzzer: %s-CRITICAL: %s\n", domain ? domain : "", msg);
    abort ();
  }
}

std::vector<GParamSpec *>
own_properties (GstElement *e)
{
  guint n = 0;
  GParamSpec **all = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
  std::vector<GParamSpec *> own;
  for (guint i = 0; i < n; i++)
    if (all[i]->owner_type == G_OBJECT_TYPE (e))
      own.push_back (all[i]);
  g_free (all);
  return own;
}

bool
values_equal (const GValue *a, const GValue *b)
{
  if (G_VALUE_HOLDS_STRING (a)) {
    const gchar *x = g_value_get_string (a), *y = g_value_get_string (b);
    /* "" and NULL are the same for our string properties (roi-type) */
    return g_strcmp0 (x && *x ? x : nullptr, y && *y ? y : nullptr) == 0;
  }
  return gst_value_compare (a, b) == GST_VALUE_EQUAL;
}

/* Keeps a location inside the work directory: slashes become '_'. */
std::string
confine_location (const std::string &value)
{
  std::string name = value.substr (0, 200);
  for (char &c : name)
    if (c == '/' || c == '\0')
      c = '_';
  return g_work + "/out/" + name;
}

void
set_one (GstElement *e, GParamSpec *pspec, std::string value)
{
  if (!(pspec->flags & G_PARAM_WRITABLE))
    return; /* stats */
  if (g_str_equal (pspec->name, "location"))
    value = confine_location (value);
  GValue want = G_VALUE_INIT, before = G_VALUE_INIT, after = G_VALUE_INIT;
  g_value_init (&want, pspec->value_type);
  if (!gst_value_deserialize_with_pspec (&want, value.c_str (), pspec) ||
      g_param_value_validate (pspec, &want)) {
    g_value_unset (&want);
    return; /* GObject itself refuses it before the element sees it */
  }
  g_value_init (&before, pspec->value_type);
  g_object_get_property (G_OBJECT (e), pspec->name, &before);
  gst_util_set_object_arg (G_OBJECT (e), pspec->name, value.c_str ());
  g_value_init (&after, pspec->value_type);
  g_object_get_property (G_OBJECT (e), pspec->name, &after);
  REQUIRE (!g_param_value_validate (pspec, &after), "%s: invalid read-back", pspec->name);
  REQUIRE (values_equal (&after, &want) || values_equal (&after, &before),
           "%s=\"%s\" reads back as something else", pspec->name, value.c_str ());
  g_value_unset (&want);
  g_value_unset (&before);
  g_value_unset (&after);
}

guint64
stat_u64 (GstElement *e, const char *field)
{
  GstStructure *st = nullptr;
  g_object_get (e, "stats", &st, nullptr);
  REQUIRE (st != nullptr, "no stats");
  guint64 v = 0;
  REQUIRE (gst_structure_get_uint64 (st, field, &v), "no %s", field);
  gst_structure_free (st);
  return v;
}

void
run_pipeline (GstElement *crop, GstElement *sink, const char *format, guint w, guint h,
              bool recording)
{
  g_object_set (sink, "sync", FALSE, nullptr);
  GstElement *pipeline = gst_pipeline_new (nullptr);
  GstElement *src = gst_element_factory_make ("videotestsrc", nullptr);
  GstElement *filter = gst_element_factory_make ("capsfilter", nullptr);
  REQUIRE (src && filter, "videotestsrc/capsfilter missing: check GST_PLUGIN_PATH");
  g_object_set (src, "num-buffers", 2, nullptr);
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, format, "width",
                                       G_TYPE_INT, gint (w), "height", G_TYPE_INT, gint (h),
                                       "framerate", GST_TYPE_FRACTION, 30, 1, nullptr);
  g_object_set (filter, "caps", caps, nullptr);
  gst_caps_unref (caps);
  /* (crop and sink are not floating: the bin takes a reference of its own) */
  gst_bin_add_many (GST_BIN (pipeline), src, filter, crop, sink, nullptr);
  if (!gst_element_link_many (src, filter, crop, sink, nullptr)) {
    /* Only a crop that does not fit the frame is refused when linking (as
     * videocrop does); anything else must link. */
    gint left, right, top, bottom;
    g_object_get (crop, "left", &left, "right", &right, "top", &top, "bottom", &bottom, nullptr);
    const gint64 across = gint64 (MAX (left, 0)) + MAX (right, 0);
    const gint64 down = gint64 (MAX (top, 0)) + MAX (bottom, 0);
    REQUIRE (across >= gint64 (w) || down >= gint64 (h),
             "cannot link, although left=%d right=%d top=%d bottom=%d fit %ux%u", left, right,
             top, bottom, w, h);
    gst_bin_remove_many (GST_BIN (pipeline), crop, sink, nullptr);
    gst_object_unref (pipeline);
    return;
  }

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 5 * GST_SECOND,
                                                GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  REQUIRE (msg != nullptr, "neither EOS nor an error within 5 s (hang)");
  const bool eos = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
  gst_message_unref (msg);
  gst_object_unref (bus);
  REQUIRE (gst_element_set_state (pipeline, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS,
           "cannot go back to NULL");
  const guint64 rendered = stat_u64 (sink, "rendered"), written = stat_u64 (sink, "written");
  const guint64 not_written = stat_u64 (sink, "not-written");
  REQUIRE (stat_u64 (sink, "queue-depth") == 0, "buffers left queued");
  REQUIRE (rendered + stat_u64 (sink, "dropped") <= 2, "more frames than the source made");
  if (recording) {
    /* everything accepted was written or counted as not written */
    REQUIRE (rendered == written + not_written, "accepted %" G_GUINT64_FORMAT ", written %"
             G_GUINT64_FORMAT ", not written %" G_GUINT64_FORMAT, rendered, written, not_written);
    if (eos)
      REQUIRE (not_written == 0, "EOS, but %" G_GUINT64_FORMAT " not written", not_written);
  } else {
    REQUIRE (written == 0 && not_written == 0, "wrote without a location");
  }
  REQUIRE (stat_u64 (crop, "frames") <= 2, "more frames than the source made");
  gst_bin_remove_many (GST_BIN (pipeline), crop, sink, nullptr);
  gst_object_unref (pipeline);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

extern "C" int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  const char *work = g_getenv ("DMAKIT_FUZZ_WORK");
  g_work = work ? work : "/tmp";
  g_mkdir_with_parents ((g_work + "/out").c_str (), 0755);
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  gst_init (nullptr, nullptr);
  g_log_set_default_handler (log_handler, nullptr);
  GST_ELEMENT_REGISTER (dmakitcrop, nullptr);
  GST_ELEMENT_REGISTER (dmakitsink, nullptr);
  /* Warm up whatever GStreamer creates once (types, quarks, task threads,
   * debug categories) on the paths the inputs take: EOS and errors. */
  static const char warm[] = "caps I420 16 16\ncrop.left=2\nsink.location=warm\n";
  LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (warm), sizeof warm - 1);
  static const char fail[] = "caps NV12 8 8\ncrop.left=100\nsink.backend=dma-heap\n";
  LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (fail), sizeof fail - 1);
  static const char meta[] = "crop.mode=meta\ncrop.roi-type=face\nsink.overrun=drop\n";
  LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (meta), sizeof meta - 1);
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const std::string text (reinterpret_cast<const char *> (data), size);
  GstElement *crop = gst_element_factory_make ("dmakitcrop", nullptr);
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  REQUIRE (crop && sink, "elements not registered");
  gst_object_ref_sink (crop);
  gst_object_ref_sink (sink);
  const std::vector<GParamSpec *> crop_props = own_properties (crop);
  const std::vector<GParamSpec *> sink_props = own_properties (sink);

  const char *format = "I420";
  guint w = 32, h = 24;
  std::vector<std::string> lines;
  for (size_t start = 0; start <= text.size ();) {
    size_t end = text.find ('\n', start);
    if (end == std::string::npos)
      end = text.size ();
    lines.push_back (text.substr (start, end - start));
    start = end + 1;
  }
  if (lines.size () > 32)
    lines.resize (32);
  for (size_t i = 0; i < lines.size (); i++) {
    const std::string &line = lines[i];
    if (i == 0 && line.compare (0, 5, "caps ") == 0) {
      const guint hash = g_str_hash (line.c_str ());
      format = kFormats[hash % G_N_ELEMENTS (kFormats)];
      for (const char *f : kFormats)
        if (line.find (std::string (" ") + f + " ") != std::string::npos)
          format = f;
      unsigned a = 0, b = 0;
      if (sscanf (line.c_str () + 5, "%*s %u %u", &a, &b) == 2) {
        w = 1 + a % 64;
        h = 1 + b % 64;
      }
      continue;
    }
    const size_t eq = line.find ('=');
    std::string name = line.substr (0, eq);
    const std::string value = eq == std::string::npos ? "" : line.substr (eq + 1);
    bool is_sink;
    if (name.compare (0, 5, "crop.") == 0) {
      is_sink = false;
      name.erase (0, 5);
    } else if (name.compare (0, 5, "sink.") == 0) {
      is_sink = true;
      name.erase (0, 5);
    } else {
      is_sink = g_str_hash (name.c_str ()) & 1;
    }
    GstElement *e = is_sink ? sink : crop;
    const std::vector<GParamSpec *> &props = is_sink ? sink_props : crop_props;
    GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), name.c_str ());
    if (!pspec || pspec->owner_type != G_OBJECT_TYPE (e))
      pspec = props[g_str_hash (name.c_str ()) % props.size ()];
    set_one (e, pspec, value);
  }

  gchar *location = nullptr;
  g_object_get (sink, "location", &location, nullptr);
  run_pipeline (crop, sink, format, w, h, location != nullptr);
  if (location) {
    unlink (location);
    g_free (location);
  }
  gst_object_unref (crop);
  gst_object_unref (sink);
  return 0;
}
