/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-info: a small application that links libgstdmakit-1.0.
 *
 *   cc dmakit-pool-info.c $(pkg-config --cflags --libs gstreamer-dmakit-1.0) -o dmakit-pool-info
 *   ./dmakit-pool-info [WIDTHxHEIGHT] [N]
 *
 * It opens the best allocator this machine has (AUTO), builds a 1080p NV12
 * GstDmakitBufferPool on it, cycles N buffers through it, and prints the
 * backend, the memory kind and the pool's counters. */
#include <gst/dmakit/dmakit.h>
#include <gst/video/video.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
  guint width = 1920, height = 1080, n = 100;
  gst_init (&argc, &argv);
  if (argc > 1 && sscanf (argv[1], "%ux%u", &width, &height) != 2) {
    fprintf (stderr, "usage: %s [WIDTHxHEIGHT] [N]\n", argv[0]);
    return 2;
  }
  if (argc > 2)
    n = (guint) g_ascii_strtoull (argv[2], NULL, 10);

  GError *err = NULL;
  GstAllocator *alloc = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, NULL, &err);
  if (!alloc) {
    fprintf (stderr, "no allocator: %s\n", err->message);
    g_error_free (err);
    return 1;
  }
  GEnumClass *klass = (GEnumClass *) g_type_class_ref (GST_DMAKIT_TYPE_BACKEND);
  GEnumValue *v = g_enum_get_value (klass, gst_dmakit_allocator_get_backend (alloc));
  printf ("backend: %s\n", v ? v->value_nick : "?");
  g_type_class_unref (klass);

  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_NV12, width, height);
  GstCaps *caps = gst_video_info_to_caps (&info);
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, (guint) GST_VIDEO_INFO_SIZE (&info), 4, 8);
  gst_buffer_pool_config_set_allocator (config, alloc, NULL);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_caps_unref (caps);
  if (!gst_buffer_pool_set_config (pool, config) || !gst_buffer_pool_set_active (pool, TRUE)) {
    fprintf (stderr, "pool could not be configured or activated\n");
    return 1;
  }

  for (guint i = 0; i < n; i++) {
    GstBuffer *buf = NULL;
    if (gst_buffer_pool_acquire_buffer (pool, &buf, NULL) != GST_FLOW_OK) {
      fprintf (stderr, "acquire failed\n");
      return 1;
    }
    if (i == 0) {
      GstMemory *mem = gst_buffer_peek_memory (buf, 0);
      printf ("memory: %s\n", gst_is_dmabuf_memory (mem) ? "DMA-BUF"
                              : gst_is_fd_memory (mem)   ? "fd (not DMA-BUF)"
                                                         : "system");
    }
    gst_buffer_unref (buf);
  }

  GstStructure *stats = gst_dmakit_buffer_pool_get_stats (pool);
  gchar *s = gst_structure_to_string (stats);
  printf ("stats: %s\n", s);
  g_free (s);
  gst_structure_free (stats);
  gst_buffer_pool_set_active (pool, FALSE);
  gst_object_unref (pool);
  gst_object_unref (alloc);
  return 0;
}
