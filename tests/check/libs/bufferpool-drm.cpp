/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstDmakitBufferPool on DRM dumb buffers: the VideoMeta must follow the
 * driver's pitch. Needs /dev/dri; exits 77 (skip) with the reason when the
 * host has no DRM node or the node cannot make dumb buffers. */
#include "bufferpool-helpers.h"

#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <glib/gstdio.h>

using namespace dmakit;

static GstAllocator *
drm_allocator (GError **err)
{
  return gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_DRM_DUMB, nullptr, err);
}

static void
check_format (const char *format, guint w, guint h)
{
  GErrorPtr err;
  GstAllocator *alloc = drm_allocator (err.out ());
  fail_unless (alloc != nullptr, "%s", err ? err->message : "?");
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, format, "width",
                                       G_TYPE_INT, gint (w), "height", G_TYPE_INT, gint (h), nullptr);
  GstVideoInfo plain;
  fail_unless (gst_video_info_from_caps (&plain, caps));

  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, guint (plain.size), 2, 3);
  gst_buffer_pool_config_set_allocator (config, alloc, nullptr);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));

  /* what the driver says the pitch is for this geometry */
  const guint pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (plain.finfo, 0);
  guint pitch = 0;
  GstMemory *probe = gst_dmakit_allocator_alloc_2d (alloc, guint (plain.stride[0]) / pstride,
                                                    (guint (plain.size) + plain.stride[0] - 1) / plain.stride[0],
                                                    pstride * 8, &pitch);
  fail_unless (probe != nullptr);
  gst_memory_unref (probe);

  GstBuffer *buf = nullptr;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, nullptr), GST_FLOW_OK);
  fail_unless (gst_is_dmabuf_memory (gst_buffer_peek_memory (buf, 0)));
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  fail_unless (meta != nullptr);
  fail_unless_equals_int (meta->stride[0], gint (pitch));
  for (guint p = 1; p < meta->n_planes; p++) {
    /* other planes scale with plane 0 as in the tight layout (rounded up to 4
     * bytes when the ratio is not exact, e.g. I420 at odd widths) */
    const gint64 exact = (gint64 (plain.stride[p]) * gint (pitch) + plain.stride[0] - 1) / plain.stride[0];
    fail_unless (meta->stride[p] >= exact && meta->stride[p] < exact + 4, "plane %u stride %d, "
                 "expected ~%" G_GINT64_FORMAT, p, meta->stride[p], exact);
  }
  /* the planes (of the formats used here: plane i = component i) lie one
   * after the other and fit in the buffer */
  for (guint p = 1; p < meta->n_planes; p++)
    fail_unless (meta->offset[p] >= meta->offset[p - 1] + gsize (meta->stride[p - 1]) *
                                                             GST_VIDEO_INFO_COMP_HEIGHT (&plain, p - 1));
  fail_unless (gst_buffer_get_size (buf) >= meta->offset[meta->n_planes - 1] +
               gsize (meta->stride[meta->n_planes - 1]) *
               GST_VIDEO_INFO_COMP_HEIGHT (&plain, meta->n_planes - 1));
  if (meta->n_planes > 1)
    fail_unless_equals_int (meta->offset[1], gsize (pitch) * (plain.offset[1] / gsize (plain.stride[0])));
  {
    MappedVideoFrame frame (&plain, buf, GST_MAP_WRITE);
    fail_unless (bool (frame), "the dumb buffer must map as a frame with its meta");
    guint8 *last = static_cast<guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (frame.get (), meta->n_planes - 1));
    last[0] = 0x80;
  }
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
  gst_object_unref (alloc);
}

GST_START_TEST (test_drm_pitch_nv12)
{
  check_format ("NV12", 1920, 1080);
  check_format ("NV12", 641, 361);
}
GST_END_TEST;

GST_START_TEST (test_drm_pitch_other_formats)
{
  check_format ("I420", 1280, 720);
  check_format ("I420", 641, 479);
  check_format ("RGBA", 333, 200);
  check_format ("YUY2", 322, 100);
}
GST_END_TEST;

static Suite *
bufferpool_drm_suite (void)
{
  Suite *s = suite_create ("dmakit-bufferpool-drm");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_drm_pitch_nv12);
  tcase_add_test (tc, test_drm_pitch_other_formats);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  if (!g_file_test ("/dev/dri", G_FILE_TEST_IS_DIR)) {
    g_print ("SKIP: no /dev/dri on this host: DRM dumb buffers cannot be tested here\n");
    return 77;
  }
  GErrorPtr err;
  GstAllocator *alloc = drm_allocator (err.out ());
  if (!alloc) {
    g_print ("SKIP: /dev/dri exists but gives no DRM dumb allocator: %s\n",
             err ? err->message : "unknown error");
    return 77;
  }
  gst_object_unref (alloc);
  return gst_check_run_suite (bufferpool_drm_suite (), "dmakit-bufferpool-drm", __FILE__);
}
