/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstDmakitRoiMeta between two real processes through GStreamer's own
 * unixfdsink / unixfdsrc (gst-plugins-bad 1.24 and newer), which carry every
 * meta that can serialize itself. The producer is this program run again
 * with --producer: appsrc (memfd memory from dmakit's allocator, ROI metas
 * with ids and parents) ! unixfdsink. The test is the consumer: unixfdsrc !
 * appsink, and every frame's rectangles must arrive as they were sent.
 * Without unixfdsink (GStreamer 1.22) it exits 77 and says why. */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>
#include <glib/gstdio.h>

#include <string.h>
#include <sys/wait.h>

#define N_FRAMES 6

/* The rectangles of frame @i in the text form (ids and parents explicit). */
static gchar *
expected_text (guint i)
{
  return g_strdup_printf ("face#0:%u,4,20x16;eye#1<0:%u,6,4x3;plate#7:1,30,%ux8", i, i + 2, 10 + i);
}

static int
run_producer (const gchar *socket_path)
{
  gst_init (NULL, NULL);
  GError *err = NULL;
  GstElement *p = gst_parse_launch ("appsrc name=src format=time "
      "caps=video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1 "
      "! unixfdsink name=sink wait-for-connection=true sync=false", &err);
  if (!p) {
    g_printerr ("producer: %s\n", err->message);
    return 2;
  }
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  g_object_set (sink, "socket-path", socket_path, NULL);
  gst_object_unref (sink);
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstAllocator *alloc = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, NULL, &err);
  if (!alloc) {
    g_printerr ("producer: %s\n", err->message);
    return 2;
  }
  gst_element_set_state (p, GST_STATE_PLAYING);
  for (guint i = 0; i < N_FRAMES; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (alloc, 64 * 48, NULL);
    gst_buffer_memset (buf, 0, (guint8) i, 64 * 48);
    GST_BUFFER_PTS (buf) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
    gchar *text = expected_text (i);
    if (!gst_buffer_add_dmakit_roi_metas_from_string (buf, text, &err)) {
      g_printerr ("producer: %s\n", err->message);
      return 2;
    }
    g_free (text);
    if (gst_app_src_push_buffer (GST_APP_SRC (src), buf) != GST_FLOW_OK)
      return 3;
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int rc = (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS) ? 0 : 4;
  if (m)
    gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (p);
  gst_object_unref (alloc);
  return rc;
}

static const gchar *self_path;

GST_START_TEST (test_rois_cross_processes)
{
  GstElementFactory *f = gst_element_factory_find ("unixfdsink");
  if (!f) {
    /* checked in main() already; keep the test honest if run alone */
    fail ("unixfdsink is not available");
  }
  gst_object_unref (f);

  gchar *dir = g_dir_make_tmp ("dmakit-unixfd-XXXXXX", NULL);
  fail_unless (dir != NULL);
  gchar *sock = g_build_filename (dir, "socket", NULL);
  const gchar *argv[] = { self_path, "--producer", sock, NULL };
  GPid pid;
  GError *err = NULL;
  fail_unless (g_spawn_async (NULL, (gchar **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
          &pid, &err), "spawn: %s", err ? err->message : "?");
  /* the producer creates its socket when it goes to READY */
  for (int i = 0; i < 6000 && !g_file_test (sock, G_FILE_TEST_EXISTS); i++)
    g_usleep (10 * 1000);
  fail_unless (g_file_test (sock, G_FILE_TEST_EXISTS), "the producer never made %s", sock);

  /* gst_meta_deserialize() finds the meta by its registered name: the
   * receiving process must have registered it before the first buffer. */
  fail_unless (gst_dmakit_roi_meta_get_info () != NULL);
  GstElement *p = gst_parse_launch ("unixfdsrc name=src ! appsink name=out sync=false", &err);
  fail_unless (p != NULL);
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  g_object_set (src, "socket-path", sock, NULL);
  gst_object_unref (src);
  GstElement *out = gst_bin_get_by_name (GST_BIN (p), "out");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  for (guint i = 0; i < N_FRAMES; i++) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 60 * GST_SECOND);
    fail_unless (s != NULL, "frame %u never arrived", i);
    GstBuffer *buf = gst_sample_get_buffer (s);
    gchar *got = gst_buffer_dmakit_roi_metas_to_string (buf);
    gchar *want = expected_text (i);
    fail_unless_equals_string (got, want);
    /* the pixels came through the fd as well */
    GstMapInfo map;
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, 64 * 48);
    fail_unless_equals_int (map.data[0], i);
    fail_unless_equals_int (map.data[map.size - 1], i);
    gst_buffer_unmap (buf, &map);
    g_free (got);
    g_free (want);
    gst_sample_unref (s);
  }
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "no EOS from unixfdsrc");
  gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (p);

  int status = 0;
  for (int i = 0; i < 6000; i++) {
    if (waitpid (pid, &status, WNOHANG) == pid)
      break;
    g_usleep (10 * 1000);
  }
  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "producer ended with status 0x%x", status);
  g_spawn_close_pid (pid);
  g_unlink (sock);
  g_rmdir (dir);
  g_free (sock);
  g_free (dir);
}
GST_END_TEST;

static Suite *
roimeta_unixfd_suite (void)
{
  Suite *s = suite_create ("roimeta-unixfd");
  TCase *tc = tcase_create ("unixfd");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_rois_cross_processes);
  return s;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--producer") == 0)
    return run_producer (argv[2]);
  self_path = g_file_read_link ("/proc/self/exe", NULL);
  if (!self_path)
    self_path = argv[0];
  gst_check_init (&argc, &argv);
  GstElementFactory *f = gst_element_factory_find ("unixfdsink");
  if (!f) {
    g_print ("SKIP: unixfdsink/unixfdsrc (gst-plugins-bad 1.24 or newer) are not available "
        "with GStreamer %d.%d\n", GST_VERSION_MAJOR, GST_VERSION_MINOR);
    return 77;
  }
  gst_object_unref (f);
  return gst_check_run_suite (roimeta_unixfd_suite (), "roimeta-unixfd", __FILE__);
}
