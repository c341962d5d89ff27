/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop and dmakitsink with video/x-raw(memory:DMABuf): frames in real
 * DMA-BUFs (from a dmakit allocator) are cropped by meta without a copy, or
 * copied into DMA-BUFs (never into memory that is not one), and recorded.
 *
 * Needs a DMA-BUF backend (a dma-heap under /dev/dma_heap, /dev/udmabuf or a DRM render
 * node): without one the test exits 77 (skipped) and says why. */
#include "../pipelines/elements-util.h"

#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit.h>

#include <vector>

using namespace etest;

namespace {

constexpr guint kW = 320, kH = 240, kFrames = 4;

GstAllocator *
dmabuf_allocator ()
{
  GError *err = nullptr;
  GstAllocator *a = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, &err);
  g_clear_error (&err);
  if (a && gst_dmakit_allocator_get_backend (a) == GST_DMAKIT_BACKEND_MEMFD) {
    gst_object_unref (a);
    return nullptr;
  }
  return a;
}

guint8
pixel (guint plane, guint x, guint y)
{
  return guint8 ((plane * 31 + x * 3 + y * 5) & 0xff);
}

/* Runs appsrc (DMA-BUF NV12 frames) ! @middle ! @sink; returns the pipeline
 * (NULL state) and records the first memory of each buffer leaving "crop". */
GstElement *
run_dmabuf (const std::string &middle_and_sink, std::vector<GstMemory *> *in_mems,
            std::vector<GstBuffer *> *out_bufs)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (("appsrc name=src format=time caps=\"video/x-raw(memory:DMABuf),"
                                     "format=NV12,width=320,height=240,framerate=30/1\" ! " +
                                     middle_and_sink)
                                        .c_str (),
                                    &err);
  fail_unless (p != nullptr, "%s", err ? err->message : "?");
  auto crop = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "crop"));
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "src"));
  gst_pad_add_probe (
      pad.get (), GST_PAD_PROBE_TYPE_BUFFER,
      [] (GstPad *, GstPadProbeInfo *info, gpointer data) {
        static_cast<std::vector<GstBuffer *> *> (data)->push_back (
            gst_buffer_ref (GST_PAD_PROBE_INFO_BUFFER (info)));
        return GST_PAD_PROBE_OK;
      },
      out_bufs, nullptr);
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstAllocator *alloc = dmabuf_allocator ();
  fail_unless (alloc != nullptr);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_NV12, kW, kH);
  for (guint i = 0; i < kFrames; i++) {
    GstMemory *mem = gst_allocator_alloc (alloc, GST_VIDEO_INFO_SIZE (&info), nullptr);
    fail_unless (mem != nullptr && gst_is_dmabuf_memory (mem));
    GstBuffer *buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, mem);
    {
      dmakit::MappedVideoFrame f (&info, buf, GST_MAP_WRITE);
      fail_unless (static_cast<bool> (f));
      for (guint pl = 0; pl < 2; pl++)
        for (guint y = 0; y < (pl ? kH / 2 : kH); y++)
          for (guint x = 0; x < kW; x++)
            static_cast<guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (f.get (), pl))
                [y * GST_VIDEO_FRAME_PLANE_STRIDE (f.get (), pl) + x] = pixel (pl, x, y);
    }
    in_mems->push_back (mem);
    GST_BUFFER_PTS (buf) = i * GST_SECOND / 30;
    GstFlowReturn ret;
    g_signal_emit_by_name (src.get (), "push-buffer", buf, &ret);
    gst_buffer_unref (buf);
    fail_unless_equals_int (ret, GST_FLOW_OK);
  }
  gst_object_unref (alloc);
  GstFlowReturn ret;
  g_signal_emit_by_name (src.get (), "end-of-stream", &ret);
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus.get (), 30 * GST_SECOND, GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (msg != nullptr && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
               "no EOS with %s", middle_and_sink.c_str ());
  gst_message_unref (msg);
  set_null (p);
  return p;
}

/* The 8,4 .. 300x228 crop of the pattern, NV12 default layout. */
std::string
expected ()
{
  GstVideoInfo out;
  gst_video_info_set_format (&out, GST_VIDEO_FORMAT_NV12, 300, 228);
  std::string s (GST_VIDEO_INFO_SIZE (&out), '\0');
  for (guint pl = 0; pl < 2; pl++)
    for (guint y = 0; y < (pl ? 114u : 228u); y++)
      for (guint x = 0; x < 300; x++)
        s[GST_VIDEO_INFO_PLANE_OFFSET (&out, pl) + y * GST_VIDEO_INFO_PLANE_STRIDE (&out, pl) + x] =
            char (pixel (pl, x + 8, y + (pl ? 2 : 4)));
  std::string all;
  for (guint i = 0; i < kFrames; i++)
    all += s;
  return all;
}

const char *kCrop = "dmakitcrop name=crop left=8 right=12 top=4 bottom=8";

} // namespace

GST_START_TEST (test_dmabuf_crop_by_meta)
{
  TmpDir dir;
  std::vector<GstMemory *> in;
  std::vector<GstBuffer *> out;
  GstElement *p = run_dmabuf (std::string (kCrop) + " ! dmakitsink name=sink sync=false location=" +
                                  dir.file ("a.raw"),
                              &in, &out);
  assert_str_eq (stat_string (p, "crop", "path"), "meta");
  fail_unless_equals_int (out.size (), kFrames);
  for (guint i = 0; i < kFrames; i++)
    fail_unless (gst_buffer_peek_memory (out[i], 0) == in[i], "memory %u is not the input's", i);
  fail_unless_equals_uint64 (stat (p, "sink", "zero-copy"), kFrames);
  fail_unless (read_file (dir.file ("a.raw")) == expected ());
  for (GstBuffer *b : out)
    gst_buffer_unref (b);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_dmabuf_copy_stays_dmabuf)
{
  TmpDir dir;
  for (const char *sink : {"dmakitsink name=sink sync=false location=", "fakesink name=sink"}) {
    std::vector<GstMemory *> in;
    std::vector<GstBuffer *> out;
    const bool record = g_str_has_prefix (sink, "dmakitsink");
    GstElement *p = run_dmabuf (std::string (kCrop) + " mode=copy ! " + sink +
                                    (record ? dir.file ("c.raw") : std::string ()),
                                &in, &out);
    assert_str_eq (stat_string (p, "crop", "path"), "copy");
    fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), kFrames);
    for (GstBuffer *b : out)
      fail_unless (gst_is_dmabuf_memory (gst_buffer_peek_memory (b, 0)),
                   "a memory:DMABuf copy must be a DMA-BUF");
    if (record)
      fail_unless (read_file (dir.file ("c.raw")) == expected ());
    for (GstBuffer *b : out)
      gst_buffer_unref (b);
    gst_object_unref (p);
  }
}
GST_END_TEST;

static Suite *
crop_dmabuf_suite (void)
{
  Suite *s = suite_create ("dmakitcrop-dmabuf");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_dmabuf_crop_by_meta);
  tcase_add_test (tc, test_dmabuf_copy_stays_dmabuf);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  GstAllocator *a = dmabuf_allocator ();
  if (!a) {
    g_print ("SKIP: no DMA-BUF backend here (no usable /dev/dma_heap/*, /dev/udmabuf or DRM "
             "render node); the memory:DMABuf paths of dmakitcrop need one\n");
    return 77;
  }
  gst_object_unref (a);
  return gst_check_run_suite (crop_dmabuf_suite (), "dmakitcrop-dmabuf", __FILE__);
}
