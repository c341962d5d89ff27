/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The `dmakit` tracer on stock pipelines whose copying behaviour is known:
 * videoconvert (format change) copies every frame, identity and queue copy
 * nothing, videocrop into fakesink copies (fakesink does not accept crop meta).
 * None of these pipelines contains a dmakit element. GST_TRACERS is set in
 * main() before gst_check_init(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <gst/allocators/allocators.h>
#include <gst/app/app.h>
#include <gst/dmakit/dmakit.h>

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/dma-heap.h>

#define REPORT_NAME "dmakit-tracer-report"
#define N_FRAMES 30

/* ---- helpers ------------------------------------------------------------- */

static GstElement *
parse (const gchar * desc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL, "cannot build \"%s\": %s", desc, err ? err->message : "?");
  g_clear_error (&err);
  return p;
}

static void assert_str (const GstStructure * s, const gchar * field, const gchar * expected);

/* Runs @pipeline to EOS. Returns (a copy of) the report structure posted by
 * the tracer, and checks it came from the pipeline itself before EOS. */
static GstStructure *
run_to_eos (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstStructure *report = NULL;
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    fail_unless (msg != NULL, "no EOS within 20 s");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &err, &dbg);
      fail ("pipeline error: %s (%s)", err->message, dbg ? dbg : "");
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    const GstStructure *s = gst_message_get_structure (msg);
    if (s && gst_structure_has_name (s, REPORT_NAME)) {
      fail_unless (report == NULL, "two reports before EOS");
      fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (pipeline),
          "report not posted by the top-level pipeline");
      report = gst_structure_copy (s);
    }
    gst_message_unref (msg);
  }
  fail_unless (report != NULL, "no " REPORT_NAME " message before EOS");
  assert_str (report, "reason", "eos");
  assert_str (report, "pipeline", GST_OBJECT_NAME (pipeline));
  fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  return report;
}

static GstStructure *
run_desc (const gchar * desc)
{
  GstElement *p = parse (desc);
  GstStructure *r = run_to_eos (p);
  gst_object_unref (p);
  return r;
}

static const GstStructure *
find_entry (const GstStructure * report, const gchar * list, const gchar * key,
    const gchar * value)
{
  const GValue *arr = gst_structure_get_value (report, list);
  fail_unless (arr != NULL && GST_VALUE_HOLDS_ARRAY (arr), "report has no %s array", list);
  for (guint i = 0; i < gst_value_array_get_size (arr); i++) {
    const GValue *v = gst_value_array_get_value (arr, i);
    fail_unless (GST_VALUE_HOLDS_STRUCTURE (v));
    const GstStructure *s = gst_value_get_structure (v);
    const gchar *got = gst_structure_get_string (s, key);
    if (got && g_str_equal (got, value))
      return s;
  }
  return NULL;
}

static const GstStructure *
element_entry (const GstStructure * report, const gchar * name)
{
  const GstStructure *e = find_entry (report, "elements", "name", name);
  fail_unless (e != NULL, "no entry for element %s in %" GST_PTR_FORMAT, name, report);
  return e;
}

static const GstStructure *
link_entry (const GstStructure * report, const gchar * src)
{
  const GstStructure *l = find_entry (report, "links", "src", src);
  fail_unless (l != NULL, "no entry for link from %s in %" GST_PTR_FORMAT, src, report);
  return l;
}

static guint64
u64 (const GstStructure * s, const gchar * field)
{
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "%s lacks %s: %" GST_PTR_FORMAT,
      gst_structure_get_name (s), field, s);
  return v;
}

static void
assert_str (const GstStructure * s, const gchar * field, const gchar * expected)
{
  const gchar *v = gst_structure_get_string (s, field);
  fail_unless (v != NULL, "%s lacks %s", gst_structure_get_name (s), field);
  fail_unless_equals_string (v, expected);
}

static gsize
frame_size (GstVideoFormat format, guint width, guint height)
{
  GstVideoInfo info;
  gst_video_info_init (&info);
  fail_unless (gst_video_info_set_format (&info, format, width, height));
  return GST_VIDEO_INFO_SIZE (&info);
}

/* ---- tests ------------------------------------------------------------------ */

GST_START_TEST (test_tracer_is_active)
{
  GList *tracers = gst_tracing_get_active_tracers ();
  gboolean found = FALSE;
  for (GList * l = tracers; l; l = l->next)
    if (g_str_equal (G_OBJECT_TYPE_NAME (l->data), "GstDmakitTracer"))
      found = TRUE;
  g_list_free_full (tracers, gst_object_unref);
  fail_unless (found, "GST_TRACERS=dmakit did not instantiate the dmakit tracer");
}
GST_END_TEST;

GST_START_TEST (test_videoconvert_copies)
{
  GstStructure *r = run_desc ("videotestsrc name=videotestsrc0 num-buffers="
      G_STRINGIFY (N_FRAMES) " ! video/x-raw,format=I420,width=320,height=240"
      " ! identity name=identity0 ! videoconvert name=videoconvert0"
      " ! video/x-raw,format=NV12 ! fakesink name=fakesink0");
  const gsize nv12 = frame_size (GST_VIDEO_FORMAT_NV12, 320, 240);

  const GstStructure *vc = element_entry (r, "videoconvert0");
  fail_unless_equals_uint64 (u64 (vc, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (vc, "buffers-in"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (vc, "copies"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (vc, "bytes-copied"), (guint64) N_FRAMES * nv12);
  assert_str (vc, "role", "filter");
  assert_str (vc, "factory", "videoconvert");

  const GstStructure *id = element_entry (r, "identity0");
  fail_unless_equals_uint64 (u64 (id, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (id, "copies"), 0);
  fail_unless_equals_uint64 (u64 (id, "bytes-copied"), 0);

  const GstStructure *src = element_entry (r, "videotestsrc0");
  assert_str (src, "role", "source");
  fail_unless_equals_uint64 (u64 (src, "frames"), N_FRAMES);
  const GstStructure *sink = element_entry (r, "fakesink0");
  assert_str (sink, "role", "sink");
  fail_unless_equals_uint64 (u64 (sink, "frames"), N_FRAMES);

  const gchar *summary = gst_structure_get_string (r, "summary");
  fail_unless (summary != NULL);
  fail_unless (strstr (summary, "videoconvert0: " G_STRINGIFY (N_FRAMES) " frames, "
          G_STRINGIFY (N_FRAMES) " copies") != NULL, "summary: %s", summary);
  fail_unless (strstr (summary, "identity0: " G_STRINGIFY (N_FRAMES) " frames, 0 copies")
      != NULL, "summary: %s", summary);
  gst_structure_free (r);
}
GST_END_TEST;

GST_START_TEST (test_identity_does_not_copy)
{
  GstStructure *r = run_desc ("videotestsrc num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! video/x-raw,width=320,height=240 ! identity name=identity0"
      " ! identity name=identity1 ! fakesink");
  for (guint i = 0; i < 2; i++) {
    gchar *name = g_strdup_printf ("identity%u", i);
    const GstStructure *id = element_entry (r, name);
    fail_unless_equals_uint64 (u64 (id, "frames"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (id, "compared"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (id, "copies"), 0);
    fail_unless_equals_uint64 (u64 (id, "kind-changes"), 0);
    g_free (name);
  }
  gst_structure_free (r);
}
GST_END_TEST;

GST_START_TEST (test_videocrop_into_fakesink_copies)
{
  GstStructure *r = run_desc ("videotestsrc num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! video/x-raw,format=I420,width=320,height=240"
      " ! videocrop name=videocrop0 left=8 right=8 ! fakesink");
  const GstStructure *crop = element_entry (r, "videocrop0");
  fail_unless_equals_uint64 (u64 (crop, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (crop, "copies"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (crop, "bytes-copied"),
      (guint64) N_FRAMES * frame_size (GST_VIDEO_FORMAT_I420, 304, 240));
  gst_structure_free (r);
}
GST_END_TEST;

GST_START_TEST (test_memory_kinds_are_system)
{
  GstStructure *r = run_desc ("videotestsrc name=src num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! capsfilter name=cf0 caps=video/x-raw,format=I420,width=320,height=240"
      " ! videoconvert name=conv ! capsfilter name=cf1 caps=video/x-raw,format=NV12"
      " ! fakesink name=sink");
  const gchar *srcs[] = { "src.src", "cf0.src", "conv.src", "cf1.src" };
  const gchar *sinks[] = { "cf0.sink", "conv.sink", "cf1.sink", "sink.sink" };
  for (guint i = 0; i < G_N_ELEMENTS (srcs); i++) {
    const GstStructure *l = link_entry (r, srcs[i]);
    assert_str (l, "sink", sinks[i]);
    assert_str (l, "memory", "system");
    fail_unless_equals_uint64 (u64 (l, "buffers"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (l, "system"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (l, "dmabuf"), 0);
    fail_unless_equals_uint64 (u64 (l, "fd"), 0);
    fail_unless_equals_uint64 (u64 (l, "other"), 0);
  }
  const gsize i420 = frame_size (GST_VIDEO_FORMAT_I420, 320, 240);
  fail_unless_equals_uint64 (u64 (link_entry (r, "src.src"), "bytes"), (guint64) N_FRAMES * i420);
  assert_str (element_entry (r, "conv"), "memory-in", "system");
  assert_str (element_entry (r, "conv"), "memory-out", "system");
  fail_unless_equals_uint64 (u64 (element_entry (r, "conv"), "kind-changes"), 0);

  /* the pool videotestsrc acquires from */
  const GstStructure *pool = find_entry (r, "pools", "used-by", "src.src");
  fail_unless (pool != NULL, "no pool used by src.src in %" GST_PTR_FORMAT, r);
  guint pool_size = 0;
  fail_unless (gst_structure_get_uint (pool, "size", &pool_size));
  fail_unless_equals_int (pool_size, i420);
  fail_unless_equals_uint64 (u64 (link_entry (r, "src.src"), "pooled"), N_FRAMES);
  gst_structure_free (r);
}
GST_END_TEST;

GST_START_TEST (test_queue_is_decoupled_and_does_not_copy)
{
  GstStructure *r = run_desc ("videotestsrc num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! video/x-raw,format=I420,width=320,height=240 ! queue name=queue0"
      " max-size-buffers=100 ! videoconvert name=videoconvert0 ! video/x-raw,format=NV12"
      " ! queue name=queue1 ! fakesink");
  for (guint i = 0; i < 2; i++) {
    gchar *name = g_strdup_printf ("queue%u", i);
    const GstStructure *q = element_entry (r, name);
    assert_str (q, "role", "decoupled");
    fail_unless_equals_uint64 (u64 (q, "frames"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (q, "cross-thread"), N_FRAMES);
    fail_unless_equals_uint64 (u64 (q, "copies"), 0);
    g_free (name);
  }
  fail_unless_equals_uint64 (u64 (element_entry (r, "videoconvert0"), "copies"), N_FRAMES);
  gst_structure_free (r);
}
GST_END_TEST;

GST_START_TEST (test_tee_and_ghost_pads)
{
  /* identity sits in a bin: links are reported between the real pads */
  GstStructure *r = run_desc ("videotestsrc num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! video/x-raw,width=160,height=120 ! tee name=t"
      " ! queue name=qa ! ( identity name=inbin ) ! fakesink name=sa"
      " t. ! queue name=qb ! fakesink name=sb");
  const GstStructure *tee = element_entry (r, "t");
  fail_unless_equals_uint64 (u64 (tee, "buffers-in"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (tee, "buffers-out"), 2 * N_FRAMES);
  fail_unless_equals_uint64 (u64 (tee, "copies"), 0);
  const GstStructure *id = element_entry (r, "inbin");
  fail_unless_equals_uint64 (u64 (id, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (id, "copies"), 0);
  assert_str (link_entry (r, "inbin.src"), "sink", "sa.sink");
  assert_str (link_entry (r, "qa.src"), "sink", "inbin.sink");
  assert_str (link_entry (r, "qb.src"), "sink", "sb.sink");
  gst_structure_free (r);
}
GST_END_TEST;

/* appsrc pushing fd memory (memfd), single buffers and a buffer list */
GST_START_TEST (test_fd_memory_and_buffer_lists)
{
  GstElement *p = parse ("appsrc name=src format=time caps=application/x-test"
      " ! identity ! fakesink");
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstAllocator *fd_alloc = gst_fd_allocator_new ();
  const gsize size = 4096;

  GstBufferList *list = gst_buffer_list_new ();
  for (guint i = 0; i < 8; i++) {
    int fd = memfd_create ("dmakit-tracer-test", MFD_CLOEXEC);
    fail_unless (fd >= 0, "memfd_create: %s", g_strerror (errno));
    fail_unless (ftruncate (fd, size) == 0);
    GstMemory *mem = gst_fd_allocator_alloc (fd_alloc, fd, size, GST_FD_MEMORY_FLAG_NONE);
    fail_unless (mem != NULL);
    GstBuffer *buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, mem);
    GST_BUFFER_PTS (buf) = i * GST_MSECOND;
    if (i < 5) {
      fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), buf), GST_FLOW_OK);
    } else {
      gst_buffer_list_add (list, buf);
    }
  }
  fail_unless_equals_int (gst_app_src_push_buffer_list (GST_APP_SRC (src), list), GST_FLOW_OK);
  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC (src)), GST_FLOW_OK);

  GstStructure *r = run_to_eos (p);
  const GstStructure *l = link_entry (r, "src.src");
  assert_str (l, "memory", "fd");
  fail_unless_equals_uint64 (u64 (l, "buffers"), 8);
  fail_unless_equals_uint64 (u64 (l, "fd"), 8);
  fail_unless_equals_uint64 (u64 (l, "system"), 0);
  fail_unless_equals_uint64 (u64 (l, "bytes"), 8 * size);
  const GstStructure *id = element_entry (r, "identity0");
  fail_unless_equals_uint64 (u64 (id, "frames"), 8);
  fail_unless_equals_uint64 (u64 (id, "copies"), 0);
  assert_str (id, "memory-out", "fd");
  gst_structure_free (r);
  gst_object_unref (src);
  gst_object_unref (fd_alloc);
  gst_object_unref (p);
}
GST_END_TEST;

/* Real DMA-BUFs from /dev/dma_heap/system: only added when the device exists. */
GST_START_TEST (test_dmabuf_memory)
{
  int heap = open ("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
  fail_unless (heap >= 0, "open /dev/dma_heap/system: %s", g_strerror (errno));
  GstElement *p = parse ("appsrc name=src format=time caps=application/x-test"
      " ! identity ! fakesink");
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstAllocator *dmabuf_alloc = gst_dmabuf_allocator_new ();
  const gsize size = 4096;
  for (guint i = 0; i < 4; i++) {
    struct dma_heap_allocation_data data = {.len = size,.fd_flags = O_RDWR | O_CLOEXEC };
    fail_unless (ioctl (heap, DMA_HEAP_IOCTL_ALLOC, &data) == 0, "DMA_HEAP_IOCTL_ALLOC: %s",
        g_strerror (errno));
    GstBuffer *buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_dmabuf_allocator_alloc (dmabuf_alloc, (gint) data.fd,
            size));
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), buf), GST_FLOW_OK);
  }
  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC (src)), GST_FLOW_OK);
  GstStructure *r = run_to_eos (p);
  const GstStructure *l = link_entry (r, "src.src");
  assert_str (l, "memory", "dmabuf");
  fail_unless_equals_uint64 (u64 (l, "dmabuf"), 4);
  fail_unless_equals_uint64 (u64 (l, "fd"), 0);
  gst_structure_free (r);
  gst_object_unref (src);
  gst_object_unref (dmabuf_alloc);
  gst_object_unref (p);
  close (heap);
}
GST_END_TEST;

/* Buffers from a GstDmakitBufferPool: the report carries the pool's own
 * figures (outstanding, free, waits) from gst_dmakit_buffer_pool_get_stats(). */
GST_START_TEST (test_dmakit_pool_stats)
{
  GstElement *p = parse ("appsrc name=src format=time caps=application/x-test"
      " ! queue ! fakesink enable-last-sample=false");
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, NULL, 4096, 3, 3);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);

  /* more buffers than the pool holds: acquires wait for fakesink to release */
  for (guint i = 0; i < 12; i++) {
    GstBuffer *buf = NULL;
    fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL), GST_FLOW_OK);
    GST_BUFFER_PTS (buf) = i * GST_MSECOND;
    /* handed over: basesrc can flag the first one DISCONT without copying it */
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), buf), GST_FLOW_OK);
  }
  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC (src)), GST_FLOW_OK);

  GstStructure *r = run_to_eos (p);
  fail_unless_equals_uint64 (u64 (link_entry (r, "src.src"), "pooled"), 12);
  const GstStructure *e = find_entry (r, "pools", "used-by", "src.src");
  fail_unless (e != NULL, "no pool used by src.src in %" GST_PTR_FORMAT, r);
  assert_str (e, "type", "GstDmakitBufferPool");
  const GValue *stats_v = gst_structure_get_value (e, "stats");
  fail_unless (stats_v != NULL && GST_VALUE_HOLDS_STRUCTURE (stats_v), "no stats in %"
      GST_PTR_FORMAT, e);
  const GstStructure *stats = gst_value_get_structure (stats_v);
  gint64 outstanding = -1, free_buffers = -1;
  fail_unless (gst_structure_get_int64 (e, "outstanding", &outstanding));
  fail_unless (gst_structure_get_int64 (e, "free", &free_buffers));
  /* everything came back: fakesink keeps no last sample */
  fail_unless_equals_int64 (outstanding, 0);
  fail_unless_equals_int64 (free_buffers, (gint64) u64 (stats, "allocated"));
  fail_unless_equals_uint64 (u64 (stats, "acquires"), 12);
  fail_unless_equals_uint64 (u64 (e, "waits"), u64 (stats, "waits"));
  fail_unless_equals_uint64 (u64 (e, "wait-max-ns"), u64 (stats, "wait-max-ns"));
  fail_unless (u64 (e, "wait-total-ns") >= u64 (e, "wait-max-ns"));
  guint min = 0;
  fail_unless (gst_structure_get_uint (e, "min-buffers", &min));
  fail_unless_equals_int (min, 3);
  gst_structure_free (r);

  gst_buffer_pool_set_active (pool, FALSE);
  gst_object_unref (pool);
  gst_object_unref (src);
  gst_object_unref (p);
}
GST_END_TEST;

/* filesrc ! rawvideoparse: rawvideoparse pulls from filesrc (pull mode) */
GST_START_TEST (test_pull_mode)
{
  GError *err = NULL;
  gchar *dir = g_dir_make_tmp ("dmakit-tracer-XXXXXX", &err);
  fail_unless (dir != NULL, "%s", err ? err->message : "?");
  gchar *path = g_build_filename (dir, "frames.yuv", NULL);
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! video/x-raw,format=I420,width=64,height=48 ! filesink location=\"%s\"", path);
  GstStructure *r = run_desc (desc);
  gst_structure_free (r);
  g_free (desc);

  desc = g_strdup_printf ("filesrc name=file location=\"%s\" ! rawvideoparse name=parse"
      " width=64 height=48 format=i420 ! fakesink name=sink", path);
  r = run_desc (desc);
  const GstStructure *file = element_entry (r, "file");
  assert_str (file, "role", "source");
  const GstStructure *l = link_entry (r, "file.src");
  assert_str (l, "sink", "parse.sink");
  fail_unless (u64 (l, "buffers") > 0);
  assert_str (l, "memory", "system");
  const GstStructure *parse = element_entry (r, "parse");
  fail_unless_equals_uint64 (u64 (parse, "buffers-in"), u64 (l, "buffers"));
  fail_unless_equals_uint64 (u64 (parse, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (element_entry (r, "sink"), "frames"), N_FRAMES);
  gst_structure_free (r);
  g_free (desc);

  fail_unless (g_unlink (path) == 0);
  fail_unless (g_rmdir (dir) == 0);
  g_free (path);
  g_free (dir);
}
GST_END_TEST;

/* Waits until the pipeline is PLAYING and at least one buffer reached the sink. */
static void
play_a_little (GstElement * p, guint spin_ms)
{
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (p, NULL, NULL, 10 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  g_usleep (spin_ms * 1000);
}

GST_START_TEST (test_teardown_mid_stream)
{
  /* PAUSED -> READY reports what flowed since the last report */
  for (guint round = 0; round < 6; round++) {
    GstElement *p = parse ("videotestsrc ! video/x-raw,format=I420,width=160,height=120"
        " ! queue name=q ! videoconvert name=conv ! video/x-raw,format=NV12"
        " ! tee name=t ! queue ! fakesink t. ! fakesink");
    play_a_little (p, 5 + round * 7);
    fail_unless (gst_element_set_state (p, GST_STATE_READY) == GST_STATE_CHANGE_SUCCESS);
    GstBus *bus = gst_element_get_bus (p);
    GstStructure *report = NULL;
    GstMessage *msg;
    while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR))) {
      fail_if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR);
      const GstStructure *s = gst_message_get_structure (msg);
      if (s && gst_structure_has_name (s, REPORT_NAME))
        report = gst_structure_copy (s);
      gst_message_unref (msg);
    }
    fail_unless (report != NULL, "no report at shutdown (round %u)", round);
    assert_str (report, "reason", "shutdown");
    const GstStructure *vc = element_entry (report, "conv");
    guint64 frames = u64 (vc, "frames");
    fail_unless (frames > 0);
    fail_unless_equals_uint64 (u64 (vc, "copies"), frames);
    fail_unless_equals_uint64 (u64 (element_entry (report, "q"), "copies"), 0);
    gst_structure_free (report);
    gst_object_unref (bus);
    fail_unless (gst_element_set_state (p, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (p);
  }

  /* straight to NULL while buffers fly, and unref at once */
  for (guint round = 0; round < 10; round++) {
    GstElement *p = parse ("videotestsrc ! video/x-raw,width=64,height=48 ! tee name=t"
        " ! queue ! videoconvert ! fakesink t. ! queue ! identity ! fakesink sync=false");
    play_a_little (p, round * 3);
    fail_unless (gst_element_set_state (p, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (p);
  }
}
GST_END_TEST;

/* Elements are replaced between runs: the link caches must follow the relink. */
GST_START_TEST (test_relink_between_runs)
{
  GstElement *p = parse ("videotestsrc name=src num-buffers=" G_STRINGIFY (N_FRAMES)
      " ! capsfilter name=up caps=video/x-raw,format=I420,width=160,height=120"
      " ! identity name=mid ! capsfilter name=down caps=video/x-raw,format=I420 ! fakesink");
  GstStructure *r = run_to_eos (p);
  fail_unless_equals_uint64 (u64 (element_entry (r, "mid"), "copies"), 0);
  gst_structure_free (r);

  GstElement *mid = gst_bin_get_by_name (GST_BIN (p), "mid");
  GstElement *up = gst_bin_get_by_name (GST_BIN (p), "up");
  GstElement *down = gst_bin_get_by_name (GST_BIN (p), "down");
  gst_element_unlink_many (up, mid, down, NULL);
  gst_bin_remove (GST_BIN (p), mid);
  gst_object_unref (mid);
  GstElement *conv = gst_element_factory_make ("videoflip", "mid2");
  fail_unless (conv != NULL);
  g_object_set (conv, "method", 1 /* 90° clockwise */ , NULL);
  gst_bin_add (GST_BIN (p), conv);
  fail_unless (gst_element_link_many (up, conv, down, NULL));
  r = run_to_eos (p);
  fail_unless (find_entry (r, "elements", "name", "mid") == NULL,
      "removed element still reported: %" GST_PTR_FORMAT, r);
  const GstStructure *flip = element_entry (r, "mid2");
  fail_unless_equals_uint64 (u64 (flip, "frames"), N_FRAMES);
  fail_unless_equals_uint64 (u64 (flip, "copies"), N_FRAMES);
  assert_str (link_entry (r, "up.src"), "sink", "mid2.sink");
  fail_unless_equals_uint64 (u64 (link_entry (r, "up.src"), "buffers"), N_FRAMES);
  gst_structure_free (r);
  gst_object_unref (up);
  gst_object_unref (down);
  gst_object_unref (p);
}
GST_END_TEST;

static gboolean
have_dma_heap (void)
{
  return g_file_test ("/dev/dma_heap/system", G_FILE_TEST_EXISTS);
}

static Suite *
tracer_suite (void)
{
  Suite *s = suite_create ("dmakit-tracer");
  TCase *tc = tcase_create ("stock-pipelines");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tracer_is_active);
  tcase_add_test (tc, test_videoconvert_copies);
  tcase_add_test (tc, test_identity_does_not_copy);
  tcase_add_test (tc, test_videocrop_into_fakesink_copies);
  tcase_add_test (tc, test_memory_kinds_are_system);
  tcase_add_test (tc, test_queue_is_decoupled_and_does_not_copy);
  tcase_add_test (tc, test_tee_and_ghost_pads);
  tcase_add_test (tc, test_fd_memory_and_buffer_lists);
  tcase_add_test (tc, test_dmakit_pool_stats);
  tcase_add_test (tc, test_pull_mode);
  tcase_add_test (tc, test_teardown_mid_stream);
  tcase_add_test (tc, test_relink_between_runs);
  if (have_dma_heap ())
    tcase_add_test (tc, test_dmabuf_memory);
  else
    g_print ("tracer: /dev/dma_heap/system absent: the DMA-BUF kind test is not run here\n");
  return s;
}

int
main (int argc, char **argv)
{
  /* the tracer is created by gst_init from GST_TRACERS */
  g_setenv ("GST_TRACERS", "dmakit(print=true,post=true)", TRUE);
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (tracer_suite (), "tracer", __FILE__);
}
