/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop: the path it picks (passthrough, meta, copy) and proof of it
 * (memory identity, stats), crop-meta accumulation, roi-type, ROI shifting in
 * copy mode, ALLOCATION proposals, properties changed mid-stream (byte-exact
 * against videocrop), and every refusal with its error text. */
#include "../pipelines/elements-util.h"

#include <gst/check/gstharness.h>
#include <gst/dmakit/dmakit.h>

#include <atomic>
#include <vector>

using namespace etest;
using dmakit::BufferRef;
using dmakit::MappedVideoFrame;

namespace {

/* Records, under a lock, what passes a pad. */
struct Recorder {
  GMutex lock;
  std::vector<GstMemory *> mems;
  std::vector<GstBuffer *> bufs;                   /* refs held */
  Recorder () { g_mutex_init (&lock); }
  ~Recorder ()
  {
    for (GstBuffer *b : bufs)
      gst_buffer_unref (b);
    g_mutex_clear (&lock);
  }
};

GstPadProbeReturn
record_probe (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *rec = static_cast<Recorder *> (data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&rec->lock);
  rec->mems.push_back (gst_buffer_n_memory (buf) ? gst_buffer_peek_memory (buf, 0) : nullptr);
  rec->bufs.push_back (gst_buffer_ref (buf));
  g_mutex_unlock (&rec->lock);
  return GST_PAD_PROBE_OK;
}

void
add_recorder (GstElement *pipeline, const char *element, const char *pad, Recorder *rec)
{
  auto e = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), element));
  fail_unless (e.get () != nullptr);
  auto p = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (e.get (), pad));
  gst_pad_add_probe (p.get (), GST_PAD_PROBE_TYPE_BUFFER, record_probe, rec, nullptr);
}

GstElement *
parse (const std::string &desc)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", desc.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  return p;
}

void
run_to_eos (GstElement *p)
{
  RunResult r = run (p, 60);
  set_null (p);
  fail_unless (r.eos, "no EOS: %s (%s)", r.error.c_str (), r.error_debug.c_str ());
}

guint8
pixel (guint x, guint y)
{
  return guint8 ((x * 7 + y * 13) & 0xff);
}

/* A GRAY8 buffer of @fw x @fh (stride 64-aligned, described by a video meta)
 * filled with pixel(), optionally carrying a crop meta. */
GstBuffer *
make_gray_buffer (guint fw, guint fh, const GstVideoCropMeta *crop)
{
  const gint stride = gint (GST_ROUND_UP_64 (fw));
  GstBuffer *buf = gst_buffer_new_allocate (nullptr, gsize (stride) * fh, nullptr);
  GstMapInfo map;
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (guint y = 0; y < fh; y++)
    for (guint x = 0; x < guint (stride); x++)
      map.data[y * stride + x] = x < fw ? pixel (x, y) : 0xee;
  gst_buffer_unmap (buf, &map);
  gsize offset[GST_VIDEO_MAX_PLANES] = {0};
  gint strides[GST_VIDEO_MAX_PLANES] = {stride};
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, fw, fh,
                                  1, offset, strides);
  if (crop) {
    GstVideoCropMeta *cm = gst_buffer_add_video_crop_meta (buf);
    cm->x = crop->x;
    cm->y = crop->y;
    cm->width = crop->width;
    cm->height = crop->height;
  }
  return buf;
}

void
push (GstElement *pipeline, GstBuffer *buf, guint i)
{
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), "src"));
  GST_BUFFER_PTS (buf) = i * GST_SECOND / 30;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  GstFlowReturn ret = GST_FLOW_OK;
  g_signal_emit_by_name (src.get (), "push-buffer", buf, &ret);
  gst_buffer_unref (buf);
  fail_unless_equals_int (ret, GST_FLOW_OK);
}

void
end_stream (GstElement *pipeline)
{
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (pipeline), "src"));
  GstFlowReturn ret = GST_FLOW_OK;
  g_signal_emit_by_name (src.get (), "end-of-stream", &ret);
}

const char *kSrc320 =
    "videotestsrc num-buffers=5 ! video/x-raw,format=NV12,width=320,height=240 ! ";

} // namespace

GST_START_TEST (test_passthrough_when_nothing_to_crop)
{
  GstElement *p = parse (std::string (kSrc320) + "dmakitcrop name=crop ! dmakitsink name=sink");
  Recorder in, out;
  add_recorder (p, "crop", "sink", &in);
  add_recorder (p, "crop", "src", &out);
  run_to_eos (p);
  fail_unless_equals_int (in.bufs.size (), 5);
  fail_unless_equals_int (out.bufs.size (), 5);
  for (guint i = 0; i < 5; i++) {
    fail_unless (in.bufs[i] == out.bufs[i], "passthrough must push the input buffer itself");
    fail_unless (gst_buffer_get_video_crop_meta (out.bufs[i]) == nullptr);
  }
  assert_str_eq (stat_string (p, "crop", "path"), "passthrough");
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 5);
  fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), 0);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_meta_path_is_zero_copy)
{
  GstElement *p = parse (std::string (kSrc320) +
                         "dmakitcrop name=crop left=10 right=22 top=4 bottom=6 ! "
                         "dmakitsink name=sink backend=memfd");
  Recorder in, out;
  add_recorder (p, "crop", "sink", &in);
  add_recorder (p, "crop", "src", &out);
  run_to_eos (p);
  fail_unless_equals_int (out.mems.size (), 5);
  for (guint i = 0; i < 5; i++) {
    /* Memory identity: the pixels were not touched or moved. */
    fail_unless (in.mems[i] == out.mems[i], "buffer %u: output memory is not the input's", i);
    GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (out.bufs[i]);
    fail_unless (cm != nullptr);
    fail_unless_equals_int (cm->x, 10);
    fail_unless_equals_int (cm->y, 4);
    fail_unless_equals_int (cm->width, 288);
    fail_unless_equals_int (cm->height, 230);
    GstVideoMeta *vm = gst_buffer_get_video_meta (out.bufs[i]);
    fail_unless (vm != nullptr);
    fail_unless_equals_int (vm->width, 320);
    fail_unless_equals_int (vm->height, 240);
  }
  assert_str_eq (stat_string (p, "crop", "path"), "meta");
  fail_unless_equals_uint64 (stat (p, "crop", "frames"), 5);
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 5);
  fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), 0);
  fail_unless_equals_uint64 (stat (p, "crop", "bytes-copied"), 0);
  /* videotestsrc wrote straight into the sink's dmakit pool. */
  fail_unless_equals_uint64 (stat (p, "sink", "zero-copy"), 5);
  fail_unless_equals_uint64 (stat (p, "sink", "rendered"), 5);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_copy_path_with_fakesink)
{
  GstElement *p = parse (std::string (kSrc320) +
                         "dmakitcrop name=crop left=10 right=22 top=4 bottom=6 ! "
                         "fakesink name=fake");
  Recorder in, out;
  add_recorder (p, "crop", "sink", &in);
  add_recorder (p, "crop", "src", &out);
  run_to_eos (p);
  fail_unless_equals_int (out.mems.size (), 5);
  for (guint i = 0; i < 5; i++) {
    fail_unless (in.mems[i] != out.mems[i], "copy path must produce new memory");
    fail_unless (gst_buffer_get_video_crop_meta (out.bufs[i]) == nullptr);
    /* Our own pool (system memory unless the host has DMA-BUFs), default
     * layout of 288x230 NV12. */
    fail_unless (out.bufs[i]->pool && GST_DMAKIT_IS_BUFFER_POOL (out.bufs[i]->pool));
    fail_unless_equals_int (gst_buffer_get_size (out.bufs[i]), 288 * 230 * 3 / 2);
  }
  assert_str_eq (stat_string (p, "crop", "path"), "copy");
  fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), 5);
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 0);
  fail_unless_equals_uint64 (stat (p, "crop", "bytes-copied"), 5ull * 288 * 230 * 3 / 2);
  const std::string reason = stat_string (p, "crop", "last-copy-reason");
  fail_unless (reason.find ("fake") != std::string::npos &&
                   reason.find ("GstVideoCropMeta") != std::string::npos,
               "reason: %s", reason.c_str ());
  gst_object_unref (p);
}
GST_END_TEST;

/* A crop on a buffer that already carries one adds up, by meta and by copy. */
GST_START_TEST (test_combines_with_existing_crop_meta)
{
  const GstVideoCropMeta upstream{{}, 4, 2, 40, 30};
  for (const char *sink : {"dmakitsink name=sink", "fakesink name=sink"}) {
    GstElement *p = parse (std::string ("appsrc name=src format=time caps=video/x-raw,format=GRAY8,"
                                        "width=40,height=30,framerate=30/1 ! "
                                        "dmakitcrop name=crop left=2 right=3 top=1 bottom=4 ! ") +
                           sink);
    Recorder out;
    add_recorder (p, "crop", "src", &out);
    gst_element_set_state (p, GST_STATE_PLAYING);
    for (guint i = 0; i < 3; i++)
      push (p, make_gray_buffer (64, 48, &upstream), i);
    end_stream (p);
    run_to_eos (p);
    fail_unless_equals_int (out.bufs.size (), 3);
    const bool by_meta = g_str_has_prefix (sink, "dmakitsink");
    for (GstBuffer *b : out.bufs) {
      if (by_meta) {
        GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (b);
        fail_unless (cm != nullptr);
        fail_unless_equals_int (cm->x, 6);
        fail_unless_equals_int (cm->y, 3);
        fail_unless_equals_int (cm->width, 35);
        fail_unless_equals_int (cm->height, 25);
      } else {
        GstVideoInfo info;
        gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, 35, 25);
        MappedVideoFrame f (&info, b, GST_MAP_READ);
        fail_unless (static_cast<bool> (f));
        for (guint y = 0; y < 25; y++)
          for (guint x = 0; x < 35; x++) {
            const guint8 v = static_cast<const guint8 *> (
                GST_VIDEO_FRAME_PLANE_DATA (f.get (), 0))[y * GST_VIDEO_FRAME_PLANE_STRIDE (f.get (), 0) + x];
            fail_unless_equals_int (v, pixel (x + 6, y + 3));
          }
      }
    }
    fail_unless_equals_uint64 (stat (p, "crop", by_meta ? "zero-copy-frames" : "copied-frames"), 3);
    gst_object_unref (p);
  }
}
GST_END_TEST;

GST_START_TEST (test_roi_type_crops_per_buffer)
{
  GstElement *p = parse ("appsrc name=src format=time caps=video/x-raw,format=GRAY8,"
                         "width=64,height=48,framerate=30/1 ! "
                         "dmakitcrop name=crop roi-type=face left=4 ! dmakitsink name=sink");
  Recorder out;
  add_recorder (p, "crop", "src", &out);
  gst_element_set_state (p, GST_STATE_PLAYING);
  /* 0: a face inside the crop; 1: straddling the left crop edge; 2: none;
   * 3: only a ROI of another type. */
  for (guint i = 0; i < 4; i++) {
    GstBuffer *b = make_gray_buffer (64, 48, nullptr);
    if (i == 0)
      gst_buffer_add_dmakit_roi_meta (b, "face", 10, 12, 20, 16);
    else if (i == 1)
      gst_buffer_add_dmakit_roi_meta (b, "face", 0, 5, 10, 10);
    else if (i == 3)
      gst_buffer_add_dmakit_roi_meta (b, "car", 30, 30, 8, 8);
    push (p, b, i);
  }
  end_stream (p);
  run_to_eos (p);
  fail_unless_equals_int (out.bufs.size (), 4);
  const guint expect[4][4] = {{10, 12, 20, 16}, {4, 5, 6, 10}, {4, 0, 60, 48}, {4, 0, 60, 48}};
  for (guint i = 0; i < 4; i++) {
    GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (out.bufs[i]);
    fail_unless (cm != nullptr);
    fail_unless (cm->x == expect[i][0] && cm->y == expect[i][1] && cm->width == expect[i][2] &&
                     cm->height == expect[i][3],
                 "buffer %u: crop %u,%u %ux%u", i, cm->x, cm->y, cm->width, cm->height);
  }
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 4);
  gst_object_unref (p);

  /* Per-buffer crops cannot be copied into fixed caps: refused clearly. */
  RunResult r = run_expect_error (std::string (kSrc320) + "dmakitcrop roi-type=face ! fakesink");
  fail_unless (r.error.find ("roi-type=face") != std::string::npos, "%s", r.error.c_str ());
}
GST_END_TEST;

GST_START_TEST (test_copy_shifts_and_clips_rois)
{
  GstElement *p = parse ("appsrc name=src format=time caps=video/x-raw,format=GRAY8,"
                         "width=64,height=48,framerate=30/1 ! "
                         "dmakitcrop name=crop left=10 top=5 right=4 bottom=3 ! fakesink");
  Recorder out;
  add_recorder (p, "crop", "src", &out);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstBuffer *b = make_gray_buffer (64, 48, nullptr);
  gst_buffer_add_dmakit_roi_meta (b, "face", 20, 10, 8, 8); /* inside */
  gst_buffer_add_dmakit_roi_meta (b, "face", 5, 2, 10, 10); /* straddles top-left */
  gst_buffer_add_dmakit_roi_meta (b, "car", 0, 0, 4, 4);    /* wholly outside */
  gst_buffer_add_video_region_of_interest_meta (b, "person", 58, 40, 10, 10); /* bottom-right */
  push (p, b, 0);
  end_stream (p);
  run_to_eos (p);
  fail_unless_equals_int (out.bufs.size (), 1);
  GstBuffer *o = out.bufs[0];
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (o, nullptr), 2);
  GstDmakitRoiMeta *m = gst_buffer_get_nth_dmakit_roi_meta (o, "face", 0);
  fail_unless (m && m->x == 10 && m->y == 5 && m->w == 8 && m->h == 8);
  m = gst_buffer_get_nth_dmakit_roi_meta (o, "face", 1);
  fail_unless (m && m->x == 0 && m->y == 0 && m->w == 5 && m->h == 7, "%u,%u %ux%u", m->x, m->y,
               m->w, m->h);
  fail_unless (gst_buffer_get_dmakit_roi_meta (o, "car", -1) == nullptr);
  GstVideoRegionOfInterestMeta *v = gst_buffer_get_video_region_of_interest_meta_id (o, 0);
  fail_unless (v != nullptr);
  /* 58-10=48 .. 50 (width 50), 40-5=35 .. 40 (height 40) */
  fail_unless (v->x == 48 && v->y == 35 && v->w == 2 && v->h == 5, "%u,%u %ux%u", v->x, v->y,
               v->w, v->h);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_refusals_are_clear)
{
  RunResult r = run_expect_error (std::string (kSrc320) + "dmakitcrop name=crop left=8 mode=meta ! "
                                  "fakesink name=fake");
  fail_unless_equals_string (r.error_src.c_str (), "crop");
  fail_unless (r.error.find ("mode=meta") != std::string::npos &&
                   r.error.find ("fake") != std::string::npos,
               "%s", r.error.c_str ());

  r = run_expect_error (std::string (kSrc320) +
                        "dmakitcrop name=crop left=8 strict-zero-copy=true ! fakesink");
  fail_unless_equals_string (r.error_src.c_str (), "crop");
  fail_unless (r.error.find ("strict-zero-copy") != std::string::npos, "%s", r.error.c_str ());

  r = run_expect_error (std::string (kSrc320) +
                        "dmakitcrop name=crop left=8 strict-zero-copy=true mode=copy ! "
                        "dmakitsink");
  fail_unless (r.error.find ("strict-zero-copy") != std::string::npos, "%s", r.error.c_str ());

  /* Larger than the frame: see test_too_large_crop_like_videocrop. */

  /* Strict zero-copy is happy when downstream takes the meta. */
  GstElement *p = run_ok (std::string (kSrc320) +
                          "dmakitcrop name=crop left=8 strict-zero-copy=true mode=meta ! "
                          "dmakitsink");
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 5);
  gst_object_unref (p);
}
GST_END_TEST;

/* basetransform asks again at every buffer after a refused negotiation (and
 * basesrc retries while a reconfigure is pending): the refusal must reach
 * the bus once, not once per attempt. */
GST_START_TEST (test_refusal_posted_once)
{
  struct Case {
    const char *props;
    const char *caps;
    const char *words;
  } cases[] = {
      {"left=8 strict-zero-copy=true", "video/x-raw,format=GRAY8,width=64,height=48",
       "strict-zero-copy"},
      {"left=8 mode=meta", "video/x-raw,format=GRAY8,width=64,height=48", "mode=meta"},
      {"left=40 right=40", "video/x-raw,format=GRAY8,width=64,height=48", "as large as the frame"},
  };
  for (const Case &c : cases) {
    GstHarness *h = gst_harness_new_parse ((std::string ("dmakitcrop ") + c.props).c_str ());
    auto bus = ObjectRef<GstBus>::adopt (gst_bus_new ());
    gst_element_set_bus (h->element, bus.get ());
    gst_harness_set_src_caps_str (h, (std::string (c.caps) + ",framerate=30/1").c_str ());
    for (guint i = 0; i < 6; i++) {
      GstBuffer *b = gst_buffer_new_allocate (nullptr, 64 * 48, nullptr);
      gst_buffer_memset (b, 0, 0x40, 64 * 48);
      GST_BUFFER_PTS (b) = i * GST_SECOND / 30;
      const GstFlowReturn ret = gst_harness_push (h, b);
      fail_unless (ret == GST_FLOW_NOT_NEGOTIATED, "%s: buffer %u: %s", c.props, i,
                   gst_flow_get_name (ret));
    }
    guint errors = 0;
    std::string text;
    while (GstMessage *m = gst_bus_pop_filtered (bus.get (), GST_MESSAGE_ERROR)) {
      GError *err = nullptr;
      gst_message_parse_error (m, &err, nullptr);
      if (err)
        text = err->message;
      g_clear_error (&err);
      gst_message_unref (m);
      errors++;
    }
    fail_unless_equals_int (errors, 1);
    fail_unless (text.find (c.words) != std::string::npos, "%s: %s", c.props, text.c_str ());
    gst_element_set_bus (h->element, nullptr);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* What GLib logged while a bad property value was set. */
struct Complaint {
  guint count = 0;
  GLogLevelFlags level = GLogLevelFlags (0);
  std::string message;
};

gboolean
note_complaint (const gchar *, GLogLevelFlags level, const gchar *message, gpointer data)
{
  auto *c = static_cast<Complaint *> (data);
  c->count++;
  c->level = GLogLevelFlags (level & G_LOG_LEVEL_MASK);
  c->message = message;
  return TRUE; /* handled: GstCheck does not see it */
}

/* GObject rejects a bad value with a message in the GLib-GObject domain and
 * leaves the property as it was. GLib 2.75.1 turned these messages from
 * warnings into criticals (GStreamer 1.26 systems have such a GLib), so the
 * level expected is the one of the GLib we run with. */
GLogLevelFlags
rejection_level ()
{
  return glib_check_version (2, 75, 1) == nullptr ? G_LOG_LEVEL_CRITICAL : G_LOG_LEVEL_WARNING;
}

/* Sets @prop of @obj to the int @value and asserts that GObject refused it
 * with exactly one message matching @pattern (a regex), at rejection_level().
 * Other messages still reach GstCheck, which fails on them. */
void
assert_rejected (GObject *obj, const char *prop, gint value, const char *pattern)
{
  Complaint c;
  GstCheckLogFilter *filter = gst_check_add_log_filter (
      "GLib-GObject", GLogLevelFlags (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL),
      g_regex_new (pattern, GRegexCompileFlags (0), GRegexMatchFlags (0), nullptr),
      note_complaint, &c, nullptr);
  g_object_set (obj, prop, value, nullptr);
  gst_check_remove_log_filter (filter);
  fail_unless_equals_int (c.count, 1);
  fail_unless (c.level == rejection_level (), "%s=%d: logged at level 0x%x, expected 0x%x (%s)",
               prop, value, guint (c.level), guint (rejection_level ()), c.message.c_str ());
}

GST_START_TEST (test_bad_property_values)
{
  GstElement *crop = gst_element_factory_make ("dmakitcrop", nullptr);
  fail_unless (crop != nullptr);
  g_object_set (crop, "left", 5, nullptr);
  assert_rejected (G_OBJECT (crop), "left", -2,
                   "\"-2\" of type 'gint' is invalid or out of range for property 'left'");
  assert_rejected (G_OBJECT (crop), "mode", 7,
                   "of type 'GstDmakitCropMode' is invalid or out of range for property 'mode'");
  gint left = 0, mode = -1;
  g_object_get (crop, "left", &left, "mode", &mode, nullptr);
  fail_unless_equals_int (left, 5);
  fail_unless_equals_int (mode, 0); /* auto */
  /* An empty roi-type means "off". */
  g_object_set (crop, "roi-type", "", nullptr);
  gchar *rt = nullptr;
  g_object_get (crop, "roi-type", &rt, nullptr);
  fail_unless (rt == nullptr);
  g_object_set (crop, "roi-type", "face", nullptr);
  g_object_get (crop, "roi-type", &rt, nullptr);
  fail_unless_equals_string (rt, "face");
  g_free (rt);
  /* stats is read-only */
  assert_rejected (G_OBJECT (crop), "stats", 0, "property 'stats' of object class .* is not writable");
  gst_object_unref (crop);
}
GST_END_TEST;

/* What upstream is offered: on the copy path our own pool for the input; on
 * the meta path downstream's pool (here dmakitsink's, with its alignment). */
struct AllocSeen {
  bool seen = false;
  bool dmakit_pool = false;
  bool alignment = false;
  bool refill = true;
  guint min = 0;
  bool vmeta = false, crop = false, roi = false;
};

GstPadProbeReturn
alloc_probe (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  GstQuery *q = GST_PAD_PROBE_INFO_QUERY (info);
  if (GST_QUERY_TYPE (q) != GST_QUERY_ALLOCATION)
    return GST_PAD_PROBE_OK;
  auto *s = static_cast<AllocSeen *> (data);
  s->seen = true;
  s->vmeta = gst_query_find_allocation_meta (q, GST_VIDEO_META_API_TYPE, nullptr);
  s->crop = gst_query_find_allocation_meta (q, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  s->roi = gst_query_find_allocation_meta (q, GST_DMAKIT_ROI_META_API_TYPE, nullptr);
  if (gst_query_get_n_allocation_pools (q) > 0) {
    GstBufferPool *pool = nullptr;
    gst_query_parse_nth_allocation_pool (q, 0, &pool, nullptr, &s->min, nullptr);
    if (pool) {
      s->dmakit_pool = GST_DMAKIT_IS_BUFFER_POOL (pool);
      GstStructure *config = gst_buffer_pool_get_config (pool);
      s->alignment =
          gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
      gboolean refill = TRUE;
      if (gst_dmakit_buffer_pool_config_get_refill (config, &refill))
        s->refill = refill;
      gst_structure_free (config);
      gst_object_unref (pool);
    }
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_allocation_proposals)
{
  for (const char *sink : {"fakesink", "dmakitsink stride-align=64 max-pending=5 location=/dev/null"}) {
    GstElement *p = parse ("videotestsrc name=src num-buffers=2 ! "
                           "video/x-raw,format=NV12,width=320,height=240 ! "
                           "dmakitcrop left=16 ! " + std::string (sink));
    AllocSeen seen;
    auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
    auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (src.get (), "src"));
    gst_pad_add_probe (pad.get (),
                       GstPadProbeType (GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM |
                                        GST_PAD_PROBE_TYPE_PULL),
                       alloc_probe, &seen, nullptr);
    run_to_eos (p);
    fail_unless (seen.seen);
    fail_unless (seen.vmeta && seen.crop && seen.roi, "%s: metas %d %d %d", sink, seen.vmeta,
                 seen.crop, seen.roi);
    fail_unless (seen.dmakit_pool, "%s: no GstDmakitBufferPool offered", sink);
    if (g_str_has_prefix (sink, "dmakitsink")) {
      /* downstream's pool, forwarded: its alignment and its min (5 + 3) */
      fail_unless (seen.alignment);
      fail_unless_equals_int (seen.min, 8);
    } else {
      /* ours, for the input we copy from: one buffer, no spare in rotation */
      fail_unless (!seen.alignment);
      fail_unless_equals_int (seen.min, 1);
      fail_unless (!seen.refill);
    }
    gst_object_unref (p);
  }
}
GST_END_TEST;

/* Properties changed while playing, at a known buffer, against videocrop
 * changed the same way: new caps (left grows) and same caps (left and right
 * trade places). Both paths, byte-exact. */
struct Change {
  guint at;
  const char *prop;
  gint value;
  const char *prop2;
  gint value2;
  guint count = 0;
  GstElement *crop = nullptr;
};

GstPadProbeReturn
change_probe (GstPad *, GstPadProbeInfo *, gpointer data)
{
  auto *c = static_cast<Change *> (data);
  if (c->count++ == c->at) {
    g_object_set (c->crop, c->prop, c->value, nullptr);
    if (c->prop2)
      g_object_set (c->crop, c->prop2, c->value2, nullptr);
  }
  return GST_PAD_PROBE_OK;
}

/* Runs @desc with @change applied at its buffer; returns what was written to
 * @out, or with an empty @out what reached the sink of Capture (which @desc
 * must end in). */
std::string
run_with_change (const std::string &desc, Change change, const std::string &out)
{
  GstElement *p = parse (desc);
  auto crop = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "crop"));
  change.crop = crop.get ();
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "sink"));
  gst_pad_add_probe (pad.get (), GST_PAD_PROBE_TYPE_BUFFER, change_probe, &change, nullptr);
  Capture cap;
  if (out.empty ())
    cap.attach (p);
  run_to_eos (p);
  gst_object_unref (p);
  return out.empty () ? cap.data () : read_file (out);
}

GST_START_TEST (test_property_change_mid_stream)
{
  TmpDir dir;
  const std::string src = "videotestsrc num-buffers=6 pattern=colors ! "
                          "video/x-raw,format=I420,width=160,height=120 ! ";
  const Change changes[] = {
      {3, "left", 10, nullptr, 0},       /* caps change: 156 -> 146 wide */
      {3, "left", 0, "right", 4},        /* same caps: 156 wide either way */
      {2, "top", 7, "bottom", 3},        /* odd top, caps change */
  };
  for (const Change &c : changes) {
    /* the reference, captured (see Capture) */
    const std::string a = run_with_change (src + "videocrop name=crop left=4 right=0 top=0 "
                                                 "bottom=0" + kCaptureSink,
                                           c, "");
    for (const char *mode : {"auto", "copy"}) {
      const std::string out = dir.file (std::string ("out-") + mode + ".raw");
      const std::string b =
          run_with_change (src + "dmakitcrop name=crop mode=" + mode +
                               " left=4 ! dmakitsink sync=false location=" + out,
                           c, out);
      /* Frames before the change, then after it. */
      GstVideoInfo before, after;
      const guint w0 = 156, h0 = 120;
      guint w1 = w0, h1 = h0;
      if (!g_strcmp0 (c.prop, "left") && !c.prop2)
        w1 = 160 - 10;
      if (!g_strcmp0 (c.prop, "top"))
        h1 = 120 - 10;
      gst_video_info_set_format (&before, GST_VIDEO_FORMAT_I420, w0, h0);
      gst_video_info_set_format (&after, GST_VIDEO_FORMAT_I420, w1, h1);
      const gsize split = c.at * before.size;
      fail_unless_equals_int (a.size (), split + (6 - c.at) * after.size);
      std::string d = compare_frames (b.substr (0, split), a.substr (0, split),
                                      GST_VIDEO_FORMAT_I420, w0, h0, c.at);
      fail_unless (d.empty (), "%s=%d mode=%s before: %s", c.prop, c.value, mode, d.c_str ());
      d = compare_frames (b.substr (split), a.substr (split), GST_VIDEO_FORMAT_I420, w1, h1,
                          6 - c.at);
      fail_unless (d.empty (), "%s=%d mode=%s after: %s", c.prop, c.value, mode, d.c_str ());
    }
  }
}
GST_END_TEST;

/* A crop as large as the frame or larger. Like videocrop, a frame size known
 * when linking cannot be linked (the sink pad only offers larger frames).
 * A frame that arrives later, or a crop that grows while playing, is refused
 * when negotiated, and there dmakitcrop posts the reason (videocrop leaves
 * the source's bare not-negotiated). */
GST_START_TEST (test_too_large_crop_like_videocrop)
{
  const char *too_large[] = {"left=200 right=200", "top=240", "left=-1 right=320",
                             "top=-1 bottom=240", "left=320"};
  const char *fits[] = {"left=319", "top=200 bottom=39", "left=-1 right=319", "left=-1 right=-1"};
  for (const char *element : {"videocrop", "dmakitcrop"}) {
    for (const char *props : too_large) {
      const std::string desc = std::string (kSrc320) + element + " " + props + " ! fakesink";
      GError *err = nullptr;
      GstElement *p = gst_parse_launch (desc.c_str (), &err);
      fail_unless (err != nullptr && g_error_matches (err, GST_PARSE_ERROR, GST_PARSE_ERROR_LINK),
                   "%s: expected a link error, got %s", desc.c_str (),
                   err ? err->message : "none");
      g_clear_error (&err);
      if (p)
        gst_object_unref (p);
    }
    for (const char *props : fits) {
      GstElement *p = run_ok (std::string (kSrc320) + element + " " + props + " ! fakesink");
      gst_object_unref (p);
    }
  }

  /* The frame size comes with the first buffer: refused with the reason. */
  const std::string appsrc = "appsrc name=src format=time caps=video/x-raw,format=GRAY8,width=64,"
                             "height=48,framerate=30/1 ! ";
  for (const char *element : {"videocrop", "dmakitcrop"}) {
    GstElement *p = parse (appsrc + element + " name=crop left=40 right=30 ! fakesink");
    auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
    gst_element_set_state (p, GST_STATE_PLAYING);
    GstBuffer *b = make_gray_buffer (64, 48, nullptr);
    GST_BUFFER_PTS (b) = 0;
    auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
    GstFlowReturn ret = GST_FLOW_OK;
    g_signal_emit_by_name (src.get (), "push-buffer", b, &ret);
    gst_buffer_unref (b);
    GstMessage *m = gst_bus_timed_pop_filtered (bus.get (), 30 * GST_SECOND, GST_MESSAGE_ERROR);
    fail_unless (m != nullptr, "%s: no error", element);
    GError *err = nullptr;
    gchar *dbg = nullptr;
    gst_message_parse_error (m, &err, &dbg);
    const std::string from = GST_MESSAGE_SRC_NAME (m), text = err->message, debug = dbg ? dbg : "";
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (m);
    set_null (p);
    gst_object_unref (p);
    if (g_str_equal (element, "videocrop")) {
      /* only the source's "streaming stopped, reason not-negotiated" */
      assert_str_eq (from, "src");
      fail_unless (debug.find ("not-negotiated") != std::string::npos, "%s", debug.c_str ());
    } else {
      assert_str_eq (from, "crop");
      assert_str_eq (text, "Cannot crop left=40 right=30 top=0 bottom=0 from a 64x48 frame: the "
                           "crop is as large as the frame or larger.");
    }
  }

  /* The crop grows too large while playing. */
  GstElement *p = parse ("videotestsrc num-buffers=6 ! "
                         "video/x-raw,format=I420,width=160,height=120 ! "
                         "dmakitcrop name=crop left=8 ! fakesink");
  auto crop = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "crop"));
  Change change{2, "right", 152, nullptr, 0};
  change.crop = crop.get ();
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "sink"));
  gst_pad_add_probe (pad.get (), GST_PAD_PROBE_TYPE_BUFFER, change_probe, &change, nullptr);
  RunResult r = run (p, 60);
  set_null (p);
  gst_object_unref (p);
  fail_unless (!r.eos, "a crop of 160 columns from 160 streamed to the end");
  assert_str_eq (r.error_src, "crop");
  assert_str_eq (r.error, "Cannot crop left=8 right=152 top=0 bottom=0 from a 160x120 frame: the "
                          "crop is as large as the frame or larger.");
}
GST_END_TEST;

/* Sides changed all the time while playing, among values that are all
 * valid for the frame (some -1, auto): every change must be applied or
 * renegotiated, never turned into an error, and every output frame must be
 * one that some valid setting gives. A thread sets one side at a time from a
 * fixed sequence while a non-live source pushes frames as fast as it can, so
 * negotiations (transform_caps, then set_caps) overlap the changes often. */
constexpr gint kStressW = 1280, kStressH = 720;
constexpr gint kStressValues[] = {-1, 0, 1, 2, 3, 5, 7, 16, 33, 50};

struct StressFrame {
  gint caps_w = 0, caps_h = 0;
  gsize size = 0;
  bool has_crop = false;
  guint x = 0, y = 0, w = 0, h = 0;
};

struct StressRecord {
  GMutex lock;
  std::vector<StressFrame> frames;
  StressRecord () { g_mutex_init (&lock); }
  ~StressRecord () { g_mutex_clear (&lock); }
};

GstPadProbeReturn
stress_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  auto *rec = static_cast<StressRecord *> (data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  StressFrame f;
  if (GstCaps *caps = gst_pad_get_current_caps (pad)) {
    const GstStructure *st = gst_caps_get_structure (caps, 0);
    gst_structure_get_int (st, "width", &f.caps_w);
    gst_structure_get_int (st, "height", &f.caps_h);
    gst_caps_unref (caps);
  }
  f.size = gst_buffer_get_size (buf);
  if (GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf)) {
    f.has_crop = true;
    f.x = cm->x;
    f.y = cm->y;
    f.w = cm->width;
    f.h = cm->height;
  }
  g_mutex_lock (&rec->lock);
  rec->frames.push_back (f);
  g_mutex_unlock (&rec->lock);
  return GST_PAD_PROBE_OK;
}

struct Setter {
  GstElement *crop = nullptr;
  std::atomic<bool> stop{false};
  guint changes = 0;
};

gpointer
setter_main (gpointer data)
{
  auto *s = static_cast<Setter *> (data);
  static const char *const sides[] = {"left", "right", "top", "bottom"};
  GRand *rand = g_rand_new_with_seed (20261203);
  while (!s->stop.load ()) {
    const char *side = sides[g_rand_int_range (rand, 0, 4)];
    const gint v = kStressValues[g_rand_int_range (rand, 0, G_N_ELEMENTS (kStressValues))];
    g_object_set (s->crop, side, v, nullptr);
    s->changes++;
    g_usleep (50);
  }
  g_rand_free (rand);
  return nullptr;
}

/* Also changes sides while a negotiation is under way, at the moment the
 * sink is asked for its caps: after dmakitcrop computed its output caps from
 * the settings and before it is told which caps were chosen. Every
 * negotiation is hit, whatever the timing of the setter thread, and every
 * other one with the change that used to fail: from two fixed sides a and
 * b, to "auto" and a fixed side larger than a + b. The auto side, resolved
 * against caps computed for a + b, would be negative. */
struct MidNegotiation {
  GstElement *crop = nullptr;
  GRand *rand = nullptr;
  std::atomic<guint> changes{0};
};

GstPadProbeReturn
mid_negotiation_probe (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *m = static_cast<MidNegotiation *> (data);
  if (GST_QUERY_TYPE (GST_PAD_PROBE_INFO_QUERY (info)) != GST_QUERY_CAPS)
    return GST_PAD_PROBE_OK;
  static const char *const pairs[2][2] = {{"left", "right"}, {"top", "bottom"}};
  const guint pair = g_rand_int_range (m->rand, 0, 2);
  const guint first = g_rand_int_range (m->rand, 0, 2);
  const char *a = pairs[pair][first], *b = pairs[pair][1 - first];
  gint va = 0, vb = 0;
  g_object_get (m->crop, a, &va, b, &vb, nullptr);
  if (va >= 0 && vb >= 0) {
    gint larger = -1;
    for (gint v : kStressValues)
      if (v > va + vb) {
        larger = v;
        break;
      }
    if (larger > 0) {
      g_object_set (m->crop, a, -1, b, larger, nullptr);
      m->changes += 2;
      return GST_PAD_PROBE_OK;
    }
  }
  /* Back to two fixed sides. */
  const gint v = kStressValues[g_rand_int_range (m->rand, 1, G_N_ELEMENTS (kStressValues))];
  g_object_set (m->crop, va < 0 ? a : b, v, nullptr);
  m->changes++;
  return GST_PAD_PROBE_OK;
}

bool
is_stress_value (gint64 v)
{
  for (gint k : kStressValues)
    if (k >= 0 && v == k)
      return true;
  return false;
}

/* Whether a crop of @a before and @b after, in a frame of @full, is what some
 * setting of kStressValues gives: both fixed, one fixed and the other auto
 * (anything that fits), or both auto (centred, the odd pixel after). */
bool
sides_valid (gint64 a, gint64 b, gint64 full)
{
  if (a < 0 || b < 0 || a + b >= full)
    return false;
  const gint64 d = a + b;
  return is_stress_value (a) || is_stress_value (b) || (a == d / 2 && b == d - d / 2);
}

void
run_side_stress (const char *sink, bool by_meta)
{
  /* In the VM tier (an emulated CPU, ~10x slower) fewer frames: the
   * mid-negotiation probe changes the sides at every negotiation anyway. */
  const bool emulated = g_getenv ("DMAKIT_VM") != nullptr;
  const guint n_frames = emulated ? 60 : 300;
  GstElement *p = parse ("videotestsrc is-live=false num-buffers=" + std::to_string (n_frames) +
                         " ! video/x-raw,format=NV12,width=" + std::to_string (kStressW) +
                         ",height=" + std::to_string (kStressH) +
                         ",framerate=30/1 ! dmakitcrop name=crop left=-1 top=2 ! " + sink);
  auto crop = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "crop"));
  StressRecord rec;
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "src"));
  gst_pad_add_probe (pad.get (), GST_PAD_PROBE_TYPE_BUFFER, stress_probe, &rec, nullptr);

  MidNegotiation mid;
  mid.crop = crop.get ();
  mid.rand = g_rand_new_with_seed (7);
  auto sinkpad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "src"));
  sinkpad.reset (gst_pad_get_peer (sinkpad.get ()));
  gst_pad_add_probe (sinkpad.get (), GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, mid_negotiation_probe,
                     &mid, nullptr);

  Setter setter;
  setter.crop = crop.get ();
  GThread *thread = g_thread_new ("side-setter", setter_main, &setter);
  RunResult r = run (p, emulated ? 200 : 90);
  setter.stop = true;
  g_thread_join (thread);
  set_null (p);
  const std::string path = stat_string (p, "crop", "path");
  gst_object_unref (p);
  g_rand_free (mid.rand);

  fail_unless (!r.timed_out, "%s: timed out after %u + %u changes", sink, setter.changes,
               mid.changes.load ());
  fail_unless (r.error.empty (), "%s: error after %u + %u changes, %zu frames: %s (%s)", sink,
               setter.changes, mid.changes.load (), rec.frames.size (), r.error.c_str (),
               r.error_debug.c_str ());
  fail_unless (r.eos, "%s: no EOS", sink);
  fail_unless_equals_int (rec.frames.size (), n_frames);
  /* All four sides 0 is one of the settings too: passthrough, for a while. */
  fail_unless (path == (by_meta ? "meta" : "copy") || path == "passthrough", "%s: path %s", sink,
               path.c_str ());
  guint cropped = 0;
  for (guint i = 0; i < rec.frames.size (); i++) {
    const StressFrame &f = rec.frames[i];
    fail_unless (f.caps_w >= 1 && f.caps_w <= kStressW && f.caps_h >= 1 && f.caps_h <= kStressH,
                 "%s: frame %u: caps %dx%d", sink, i, f.caps_w, f.caps_h);
    const bool full = f.caps_w == kStressW && f.caps_h == kStressH;
    if (!full)
      cropped++;
    if (by_meta && !f.has_crop) {
      fail_unless (full, "%s: frame %u: caps %dx%d but no crop meta", sink, i, f.caps_w,
                   f.caps_h);
    } else if (by_meta) {
      /* The whole input frame, with the crop in a meta matching the caps. */
      fail_unless (f.has_crop, "%s: frame %u: no crop meta", sink, i);
      fail_unless (gint (f.w) == f.caps_w && gint (f.h) == f.caps_h,
                   "%s: frame %u: crop %ux%u, caps %dx%d", sink, i, f.w, f.h, f.caps_w, f.caps_h);
      fail_unless (sides_valid (f.x, gint64 (kStressW) - f.x - f.w, kStressW) &&
                       sides_valid (f.y, gint64 (kStressH) - f.y - f.h, kStressH),
                   "%s: frame %u: crop %u,%u %ux%u is no valid setting", sink, i, f.x, f.y, f.w,
                   f.h);
    } else {
      /* A new frame of exactly the caps' size (or, passed through, the
       * input frame). */
      GstVideoInfo info;
      gst_video_info_set_format (&info, GST_VIDEO_FORMAT_NV12, f.caps_w, f.caps_h);
      fail_unless (!f.has_crop, "%s: frame %u: a copy carries a crop meta", sink, i);
      fail_unless_equals_uint64 (f.size, GST_VIDEO_INFO_SIZE (&info));
    }
  }
  fail_unless (cropped > 0, "%s: no frame was cropped", sink);
}

GST_START_TEST (test_side_changes_while_playing)
{
  run_side_stress ("dmakitsink sync=false location=/dev/null", true);
  run_side_stress ("fakesink sync=false", false);
}
GST_END_TEST;

static Suite *
crop_suite (void)
{
  Suite *s = suite_create ("dmakitcrop");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_passthrough_when_nothing_to_crop);
  tcase_add_test (tc, test_meta_path_is_zero_copy);
  tcase_add_test (tc, test_copy_path_with_fakesink);
  tcase_add_test (tc, test_combines_with_existing_crop_meta);
  tcase_add_test (tc, test_roi_type_crops_per_buffer);
  tcase_add_test (tc, test_copy_shifts_and_clips_rois);
  tcase_add_test (tc, test_refusals_are_clear);
  tcase_add_test (tc, test_too_large_crop_like_videocrop);
  tcase_add_test (tc, test_refusal_posted_once);
  tcase_add_test (tc, test_bad_property_values);
  tcase_add_test (tc, test_allocation_proposals);
  tcase_add_test (tc, test_property_change_mid_stream);
  TCase *stress = tcase_create ("stress");
  tcase_set_timeout (stress, 240);
  suite_add_tcase (s, stress);
  tcase_add_test (stress, test_side_changes_while_playing);
  return s;
}

GST_CHECK_MAIN (crop);
