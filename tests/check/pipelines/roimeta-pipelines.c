/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstDmakitRoiMeta through real GStreamer elements.
 *
 * A pad probe after videotestsrc (black I420 640x480) paints one white
 * 64x64 square at (200, 100) and tags the frame with
 *   crop#0:100,50,320x240;face#1<0:200,100,64x64;edge#2:600,440,40x40
 * so every check compares the meta with the real pixels: after the elements,
 * the bounding box of the bright pixels must be where the "face" rectangle
 * says it is. Elements: videoscale, videoconvert, tee + queue, videocrop. */
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>

#include <stdlib.h>
#include <string.h>

#define SRC_W 640
#define SRC_H 480
#define N_FRAMES 3
#define TAGS "crop#0:100,50,320x240;face#1<0:200,100,64x64;edge#2:600,440,40x40"
#define FACE_X 200
#define FACE_Y 100
#define FACE_W 64
#define FACE_H 64

#define SOURCE "videotestsrc pattern=black num-buffers=" G_STRINGIFY (N_FRAMES) \
    " ! capsfilter name=srccaps caps=video/x-raw,format=I420,width=640,height=480," \
    "framerate=30/1,pixel-aspect-ratio=1/1 "

/* ---- helpers ------------------------------------------------------------------ */

static GstPadProbeReturn
paint_and_tag (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) user_data;
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_PAD_PROBE_INFO_DATA (info) = buf;

  GstCaps *caps = gst_pad_get_current_caps (pad);
  GstVideoInfo vinfo;
  fail_unless (caps && gst_video_info_from_caps (&vinfo, caps));
  gst_caps_unref (caps);
  GstVideoFrame frame;
  fail_unless (gst_video_frame_map (&frame, &vinfo, buf, GST_MAP_WRITE));
  guint8 *luma = GST_VIDEO_FRAME_COMP_DATA (&frame, 0);
  gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0);
  for (gint y = FACE_Y; y < FACE_Y + FACE_H; y++)
    memset (luma + y * stride + FACE_X, 235, FACE_W);
  gst_video_frame_unmap (&frame);

  GError *err = NULL;
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, TAGS, &err), "%s",
      err ? err->message : "");
  return GST_PAD_PROBE_OK;
}

static GstElement *
make_pipeline (const gchar * desc)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  fail_unless (pipeline != NULL && err == NULL, "cannot build '%s': %s", desc,
      err ? err->message : "?");
  GstElement *caps = gst_bin_get_by_name (GST_BIN (pipeline), "srccaps");
  fail_unless (caps != NULL);
  GstPad *pad = gst_element_get_static_pad (caps, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, paint_and_tag, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (caps);
  return pipeline;
}

static void
fail_on_bus_error (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    fail ("pipeline error from %s: %s (%s)", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)),
        err->message, dbg ? dbg : "");
  }
  gst_object_unref (bus);
}

/* Pulls every sample of appsink @name until EOS; never waits forever. */
static GPtrArray *
pull_all (GstElement * pipeline, const gchar * name)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), name);
  fail_unless (sink != NULL, "no appsink %s", name);
  GPtrArray *samples = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  GstSample *s;
  while ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND)))
    g_ptr_array_add (samples, s);
  fail_on_bus_error (pipeline);
  fail_unless (gst_app_sink_is_eos (GST_APP_SINK (sink)), "appsink %s: timed out before EOS",
      name);
  gst_object_unref (sink);
  fail_unless_equals_int (samples->len, N_FRAMES);
  return samples;
}

static void
stop (GstElement * pipeline)
{
  fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
}

static void
start (GstElement * pipeline)
{
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
}

typedef struct
{
  gint x0, y0, x1, y1;          /* x1, y1 exclusive; x0 = -1 if nothing is bright */
} Box;

/* Bounding box of the bright pixels of component 0 (Y or R) of a frame. */
static Box
bright_box (GstBuffer * buf, const GstVideoInfo * vinfo)
{
  Box box = { -1, -1, -1, -1 };
  GstVideoFrame frame;
  fail_unless (gst_video_frame_map (&frame, (GstVideoInfo *) vinfo, buf, GST_MAP_READ));
  const guint8 *data = GST_VIDEO_FRAME_COMP_DATA (&frame, 0);
  gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0);
  gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, 0);
  gint w = GST_VIDEO_FRAME_COMP_WIDTH (&frame, 0), h = GST_VIDEO_FRAME_COMP_HEIGHT (&frame, 0);
  for (gint y = 0; y < h; y++) {
    for (gint x = 0; x < w; x++) {
      if (data[y * stride + x * pstride] <= 128)
        continue;
      if (box.x0 < 0) {
        box.x0 = box.x1 = x;
        box.y0 = box.y1 = y;
      }
      box.x0 = MIN (box.x0, x);
      box.y0 = MIN (box.y0, y);
      box.x1 = MAX (box.x1, x + 1);
      box.y1 = MAX (box.y1, y + 1);
    }
  }
  gst_video_frame_unmap (&frame);
  return box;
}

static void
sample_info (GstSample * sample, GstVideoInfo * vinfo)
{
  fail_unless (gst_video_info_from_caps (vinfo, gst_sample_get_caps (sample)));
}

/* The face rectangle must frame the bright square within @tol pixels per edge. */
static void
assert_face_matches_pixels (const GstDmakitRoiMeta * face, Box box, gint tol)
{
  fail_unless (face != NULL, "the face rectangle is missing");
  fail_unless (box.x0 >= 0, "no bright pixels in the frame");
  gint fx1 = (gint) (face->x + face->w), fy1 = (gint) (face->y + face->h);
  fail_unless (abs (box.x0 - (gint) face->x) <= tol && abs (box.y0 - (gint) face->y) <= tol
      && abs (box.x1 - fx1) <= tol && abs (box.y1 - fy1) <= tol,
      "meta %u,%u %ux%u but the pixels are at %d,%d %dx%d", face->x, face->y, face->w, face->h,
      box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
}

static gchar *
text_of (GstBuffer * buf)
{
  return gst_buffer_dmakit_roi_metas_to_string (buf);
}

static void
assert_text (GstBuffer * buf, const gchar * expected)
{
  gchar *t = text_of (buf);
  fail_unless_equals_string (t, expected);
  g_free (t);
}

/* Reference for the scale transform: each edge rounded half up, clipped. */
static guint
ref_round (guint64 v, guint64 out, guint64 in)
{
  return (guint) ((2 * v * out + in) / (2 * in));
}

static void
ref_scale (guint pos, guint len, guint in, guint out, guint * rpos, guint * rlen)
{
  guint a = ref_round (pos, out, in);
  guint b = ref_round (MIN ((guint64) pos + len, in), out, in);
  if (len > 0 && b <= a) {
    a = MIN (a, out - 1);
    b = a + 1;
  }
  *rpos = a;
  *rlen = b - a;
}

static gchar *
expected_scaled_tags (guint ow, guint oh)
{
  GstBuffer *ref = gst_buffer_new ();
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (ref, TAGS, NULL));
  GList *list = gst_buffer_get_dmakit_roi_metas (ref, NULL);
  for (GList * l = list; l; l = l->next) {
    GstDmakitRoiMeta *m = l->data;
    ref_scale (m->x, m->w, SRC_W, ow, &m->x, &m->w);
    ref_scale (m->y, m->h, SRC_H, oh, &m->y, &m->h);
  }
  g_list_free (list);
  gchar *t = text_of (ref);
  gst_buffer_unref (ref);
  return t;
}

/* ---- videoscale ------------------------------------------------------------------ */

GST_START_TEST (test_videoscale)
{
  static const struct
  {
    guint w, h;
    const gchar *extra;
  } sizes[] = {
    {320, 240, ""},             /* down 2x */
    {213, 160, ""},             /* odd down */
    {1280, 960, ""},            /* up 2x */
    {997, 611, ",pixel-aspect-ratio=1/1"},      /* odd up, both axes differently */
    {300, 500, ",pixel-aspect-ratio=1/1"},      /* squeezed in x, stretched in y */
  };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    gchar *desc = g_strdup_printf (SOURCE "! videoscale add-borders=false "
        "! video/x-raw,width=%u,height=%u%s ! appsink name=sink sync=false", sizes[i].w,
        sizes[i].h, sizes[i].extra);
    GstElement *pipeline = make_pipeline (desc);
    start (pipeline);
    GPtrArray *samples = pull_all (pipeline, "sink");
    gchar *expected = expected_scaled_tags (sizes[i].w, sizes[i].h);
    for (guint k = 0; k < samples->len; k++) {
      GstSample *s = g_ptr_array_index (samples, k);
      GstBuffer *buf = gst_sample_get_buffer (s);
      GstVideoInfo vinfo;
      sample_info (s, &vinfo);
      fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&vinfo), sizes[i].w);
      fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&vinfo), sizes[i].h);
      assert_text (buf, expected);
      /* the scaler's filter blurs the square's edges by up to one pixel */
      assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (buf, "face", 1),
          bright_box (buf, &vinfo), 1);
    }
    g_free (expected);
    g_ptr_array_unref (samples);
    stop (pipeline);
    g_free (desc);
  }
}
GST_END_TEST;

/* Documented limitation: when videoscale letterboxes (add-borders=true and the
 * display aspect ratio changes), the "gst-video-scale" transform only gets the
 * two frame sizes, not the borders, so rectangles are scaled to the whole
 * output frame and miss the picture. This pins the behaviour down. */
GST_START_TEST (test_videoscale_letterbox_limitation)
{
  GstElement *pipeline = make_pipeline (SOURCE "! videoscale add-borders=true "
      "! video/x-raw,width=640,height=240,pixel-aspect-ratio=1/1 ! appsink name=sink sync=false");
  start (pipeline);
  GPtrArray *samples = pull_all (pipeline, "sink");
  GstSample *s = g_ptr_array_index (samples, 0);
  GstBuffer *buf = gst_sample_get_buffer (s);
  GstVideoInfo vinfo;
  sample_info (s, &vinfo);
  /* scaled 640x480 -> 640x240 as if stretched ... */
  assert_text (buf, "crop#0:100,25,320x120;face#1<0:200,50,64x32;edge#2:600,220,40x20");
  /* ... while the picture is 320x240, centred with 160-pixel borders */
  Box box = bright_box (buf, &vinfo);
  fail_unless (abs (box.x0 - (160 + FACE_X / 2)) <= 1 && abs (box.y0 - FACE_Y / 2) <= 1,
      "picture moved: bright box at %d,%d", box.x0, box.y0);
  g_ptr_array_unref (samples);
  stop (pipeline);
}
GST_END_TEST;

/* ---- videoconvert ---------------------------------------------------------------- */

GST_START_TEST (test_videoconvert)
{
  static const gchar *formats[] = { "RGBx", "BGRx", "NV12", "GRAY8", "Y444" };
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    gchar *desc = g_strdup_printf (SOURCE "! videoconvert ! video/x-raw,format=%s "
        "! appsink name=sink sync=false", formats[i]);
    GstElement *pipeline = make_pipeline (desc);
    start (pipeline);
    GPtrArray *samples = pull_all (pipeline, "sink");
    for (guint k = 0; k < samples->len; k++) {
      GstSample *s = g_ptr_array_index (samples, k);
      GstBuffer *buf = gst_sample_get_buffer (s);
      GstVideoInfo vinfo;
      sample_info (s, &vinfo);
      fail_unless_equals_string (gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&vinfo)),
          formats[i]);
      /* a format change keeps every field as it was */
      assert_text (buf, TAGS);
      assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (buf, "face", 1),
          bright_box (buf, &vinfo), 0);
    }
    g_ptr_array_unref (samples);
    stop (pipeline);
    g_free (desc);
  }
}
GST_END_TEST;

/* ---- tee + queues ----------------------------------------------------------------- */

/* On one branch only: take a private copy and crop its rectangles. */
static GstPadProbeReturn
modify_branch (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  (void) user_data;
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  fail_unless_equals_int (gst_buffer_dmakit_roi_metas_crop (buf, 150, 90, 100, 100), 1);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_tee_branches)
{
  GstElement *pipeline = make_pipeline (SOURCE "! tee name=t "
      "t. ! queue ! videoscale ! video/x-raw,width=320,height=240 ! appsink name=scaled sync=false "
      "t. ! queue name=q2 ! appsink name=modified sync=false "
      "t. ! queue ! appsink name=plain sync=false");
  GstElement *q2 = gst_bin_get_by_name (GST_BIN (pipeline), "q2");
  GstPad *pad = gst_element_get_static_pad (q2, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, modify_branch, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (q2);
  start (pipeline);

  GPtrArray *scaled = pull_all (pipeline, "scaled");
  GPtrArray *modified = pull_all (pipeline, "modified");
  GPtrArray *plain = pull_all (pipeline, "plain");
  for (guint k = 0; k < N_FRAMES; k++) {
    GstBuffer *b_scaled = gst_sample_get_buffer (g_ptr_array_index (scaled, k));
    GstBuffer *b_mod = gst_sample_get_buffer (g_ptr_array_index (modified, k));
    GstBuffer *b_plain = gst_sample_get_buffer (g_ptr_array_index (plain, k));
    assert_text (b_scaled, "crop#0:50,25,160x120;face#1<0:100,50,32x32;edge#2:300,220,20x20");
    /* crop (150,90) 100x100: crop#0 clipped, face shifted, edge dropped */
    assert_text (b_mod, "crop#0:0,0,100x100;face#1<0:50,10,50x64");
    /* the other branches never see that change */
    assert_text (b_plain, TAGS);
    fail_unless (b_plain != b_mod);
    GstVideoInfo vinfo;
    sample_info (g_ptr_array_index (scaled, k), &vinfo);
    assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (b_scaled, "face", 1),
        bright_box (b_scaled, &vinfo), 1);
    sample_info (g_ptr_array_index (plain, k), &vinfo);
    assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (b_plain, "face", 1),
        bright_box (b_plain, &vinfo), 0);
  }
  g_ptr_array_unref (scaled);
  g_ptr_array_unref (modified);
  g_ptr_array_unref (plain);
  stop (pipeline);
}
GST_END_TEST;

/* ---- videocrop -------------------------------------------------------------------- */

#define CROP_DESC "videocrop left=100 top=50 right=20 bottom=30"
#define CROP_L 100
#define CROP_T 50
#define CROP_W (SRC_W - 100 - 20)
#define CROP_H (SRC_H - 50 - 30)
/* TAGS after a physical crop of (100, 50) 520x400 */
#define TAGS_CROPPED "crop#0:0,0,320x240;face#1<0:100,50,64x64;edge#2:500,390,20x10"

/* videocrop copying pixels (its downstream, a plain appsink, takes no crop
 * meta). In GStreamer 1.22 videocrop has no transform_meta, so
 * GstBaseTransform's default applies: metas with tags are not copied to the
 * output buffer. Our rectangles are dropped, not passed on unshifted. */
GST_START_TEST (test_videocrop_copy_mode_drops)
{
  GstElement *pipeline = make_pipeline (SOURCE "! " CROP_DESC
      " ! appsink name=sink sync=false");
  start (pipeline);
  GPtrArray *samples = pull_all (pipeline, "sink");
  for (guint k = 0; k < samples->len; k++) {
    GstSample *s = g_ptr_array_index (samples, k);
    GstBuffer *buf = gst_sample_get_buffer (s);
    GstVideoInfo vinfo;
    sample_info (s, &vinfo);
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&vinfo), CROP_W);
    fail_unless (gst_buffer_get_video_crop_meta (buf) == NULL, "videocrop did not copy");
    fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 0);
    /* the square really moved to (100, 50) */
    Box box = bright_box (buf, &vinfo);
    fail_unless (box.x0 == FACE_X - CROP_L && box.y0 == FACE_Y - CROP_T);
  }
  g_ptr_array_unref (samples);
  stop (pipeline);
}
GST_END_TEST;

/* The workaround an application can use until a meta-aware crop element
 * (dmakitcrop) is in the pipeline: keep the text before videocrop, put it
 * back after and apply gst_buffer_dmakit_roi_metas_crop() with the crop. */
static GstPadProbeReturn
stash_before_crop (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  GQueue *stash = user_data;
  g_queue_push_tail (stash, text_of (GST_PAD_PROBE_INFO_BUFFER (info)));
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
restore_after_crop (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  GQueue *stash = user_data;
  gchar *text = g_queue_pop_head (stash);
  fail_unless (text != NULL);
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, text, NULL));
  fail_unless_equals_int (gst_buffer_dmakit_roi_metas_crop (buf, CROP_L, CROP_T, CROP_W,
          CROP_H), 0);
  g_free (text);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_videocrop_copy_mode_with_helper)
{
  GstElement *pipeline = make_pipeline (SOURCE "! " CROP_DESC
      " name=crop ! appsink name=sink sync=false");
  GstElement *crop = gst_bin_get_by_name (GST_BIN (pipeline), "crop");
  GQueue stash = G_QUEUE_INIT;
  GstPad *sinkpad = gst_element_get_static_pad (crop, "sink");
  GstPad *srcpad = gst_element_get_static_pad (crop, "src");
  gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, stash_before_crop, &stash, NULL);
  gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_BUFFER, restore_after_crop, &stash, NULL);
  start (pipeline);
  GPtrArray *samples = pull_all (pipeline, "sink");
  for (guint k = 0; k < samples->len; k++) {
    GstSample *s = g_ptr_array_index (samples, k);
    GstBuffer *buf = gst_sample_get_buffer (s);
    GstVideoInfo vinfo;
    sample_info (s, &vinfo);
    assert_text (buf, TAGS_CROPPED);
    assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (buf, "face", 1),
        bright_box (buf, &vinfo), 0);
  }
  g_ptr_array_unref (samples);
  stop (pipeline);
  fail_unless (g_queue_is_empty (&stash));
  gst_object_unref (sinkpad);
  gst_object_unref (srcpad);
  gst_object_unref (crop);
}
GST_END_TEST;

/* Make the appsink accept VideoMeta and GstVideoCropMeta, as a display sink
 * would. Added on the way in: appsink itself answers the query with FALSE
 * (so no after-probe runs), but the upstream element still reads the metas. */
static GstPadProbeReturn
accept_crop_meta (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  (void) user_data;
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
  if (GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION
      && (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_PUSH)) {
    gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
    gst_query_add_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, NULL);
  }
  return GST_PAD_PROBE_OK;
}

/* videocrop cropping by meta: the buffer (and its memory) passes through with a
 * GstVideoCropMeta, and our rectangles stay untouched, in the coordinates of
 * the full frame the buffer holds. That is where they belong: the same
 * rectangles as the crop meta. Applying the crop helper with the crop meta's
 * area gives the rectangles of the cropped picture. */
GST_START_TEST (test_videocrop_meta_mode)
{
  GstElement *pipeline = make_pipeline (SOURCE "! " CROP_DESC
      " ! appsink name=sink sync=false");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, accept_crop_meta, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  start (pipeline);
  GPtrArray *samples = pull_all (pipeline, "sink");
  for (guint k = 0; k < samples->len; k++) {
    GstSample *s = g_ptr_array_index (samples, k);
    GstBuffer *buf = gst_sample_get_buffer (s);
    GstVideoCropMeta *crop = gst_buffer_get_video_crop_meta (buf);
    fail_unless (crop != NULL, "videocrop did not crop by meta");
    fail_unless (crop->x == CROP_L && crop->y == CROP_T && crop->width == CROP_W
        && crop->height == CROP_H);
    assert_text (buf, TAGS);
    /* the buffer still holds the full frame: map it as such */
    GstVideoMeta *vmeta = gst_buffer_get_video_meta (buf);
    fail_unless (vmeta && vmeta->width == SRC_W && vmeta->height == SRC_H);
    GstVideoInfo full;
    gst_video_info_set_format (&full, vmeta->format, vmeta->width, vmeta->height);
    assert_face_matches_pixels (gst_buffer_get_dmakit_roi_meta (buf, "face", 1),
        bright_box (buf, &full), 0);
    /* what an application presenting only the crop does */
    GstBuffer *view = gst_buffer_copy (buf);
    fail_unless_equals_int (gst_buffer_dmakit_roi_metas_crop (view, crop->x, crop->y,
            crop->width, crop->height), 0);
    assert_text (view, TAGS_CROPPED);
    gst_buffer_unref (view);
  }
  g_ptr_array_unref (samples);
  stop (pipeline);
}
GST_END_TEST;

/* Bridging: our "face" rectangle also becomes a GstVideoRegionOfInterestMeta and
 * both survive videoscale together; converting GStreamer's back gives ours. */
static GstPadProbeReturn
add_video_roi (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  (void) user_data;
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  GstDmakitRoiMeta *face = gst_buffer_get_dmakit_roi_meta (buf, "face", 1);
  GstVideoRegionOfInterestMeta *roi = gst_dmakit_roi_meta_to_video_roi_meta (face, buf);
  fail_unless (roi != NULL);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_bridge_through_videoscale)
{
  GstElement *pipeline = make_pipeline (SOURCE "! identity name=id "
      "! videoscale ! video/x-raw,width=320,height=240 ! appsink name=sink sync=false");
  GstElement *id = gst_bin_get_by_name (GST_BIN (pipeline), "id");
  GstPad *pad = gst_element_get_static_pad (id, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, add_video_roi, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (id);
  start (pipeline);
  GPtrArray *samples = pull_all (pipeline, "sink");
  GstBuffer *buf = gst_sample_get_buffer (g_ptr_array_index (samples, 0));
  GstVideoRegionOfInterestMeta *roi = gst_buffer_get_video_region_of_interest_meta_id (buf, 1);
  fail_unless (roi != NULL);
  GstDmakitRoiMeta *ours = gst_buffer_get_dmakit_roi_meta (buf, "face", 1);
  fail_unless (ours != NULL);
  /* GStreamer scales its ROI meta with x and w truncated separately; ours
   * scales edges. For this exact 2x case they agree. */
  fail_unless (roi->x == ours->x && roi->y == ours->y && roi->w == ours->w && roi->h == ours->h);
  fail_unless (roi->parent_id == ours->parent_id);
  GstBuffer *back = gst_buffer_new ();
  GstDmakitRoiMeta *conv = gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (back, roi);
  gchar *a = gst_dmakit_roi_meta_to_string (conv), *b = gst_dmakit_roi_meta_to_string (ours);
  fail_unless_equals_string (a, b);
  g_free (a);
  g_free (b);
  gst_buffer_unref (back);
  g_ptr_array_unref (samples);
  stop (pipeline);
}
GST_END_TEST;

static Suite *
roimeta_pipelines_suite (void)
{
  Suite *s = suite_create ("dmakit-roimeta-pipelines");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_videoscale);
  tcase_add_test (tc, test_videoscale_letterbox_limitation);
  tcase_add_test (tc, test_videoconvert);
  tcase_add_test (tc, test_tee_branches);
  tcase_add_test (tc, test_videocrop_copy_mode_drops);
  tcase_add_test (tc, test_videocrop_copy_mode_with_helper);
  tcase_add_test (tc, test_videocrop_meta_mode);
  tcase_add_test (tc, test_bridge_through_videoscale);
  return s;
}

GST_CHECK_MAIN (roimeta_pipelines);
