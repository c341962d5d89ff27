/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte-exactness of dmakitcrop + dmakitsink against stock videocrop (the bytes
 * filesink would write, captured; see Capture in elements-util.h):
 *
 *   videotestsrc ! caps ! dmakitcrop ... ! dmakitsink location=A     (zero-copy: crop meta)
 *   videotestsrc ! caps ! dmakitcrop mode=copy ... ! dmakitsink location=C  (copy)
 *   videotestsrc ! caps ! videocrop ... ! fakesink (captured: reference)
 *
 * for every listed format, two frame sizes (one odd) and several crops (odd
 * offsets, odd sizes, a one-pixel column at the right edge, the bottom row).
 * Every picture byte must be equal; the stats must show which path ran. */
#include "elements-util.h"

#include <vector>

using namespace etest;

namespace {

struct CropCase {
  gint l, r, t, b; /* -2 in l or t: "width - 1" / "height - 1" */
};

constexpr guint kFrames = 2;

const GstVideoFormat kFormats[] = {
  GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_YUY2,  GST_VIDEO_FORMAT_RGBA,
  GST_VIDEO_FORMAT_BGRx, GST_VIDEO_FORMAT_GRAY8, GST_VIDEO_FORMAT_UYVY, GST_VIDEO_FORMAT_NV21,
  GST_VIDEO_FORMAT_Y444, GST_VIDEO_FORMAT_RGB,  GST_VIDEO_FORMAT_Y42B,
};

const CropCase kCrops[] = {
  {0, 0, 0, 0},   /* nothing: passthrough */
  {8, 16, 4, 12}, /* even */
  {1, 0, 1, 0},   /* odd offsets */
  {3, 5, 7, 1},   /* odd offsets and sizes */
  {1, 2, 1, 2},   /* odd offsets, odd size */
  {-2, 0, 0, 0},  /* a one-pixel column at the right edge */
  {0, 0, -2, 0},  /* the bottom row */
  {0, 1, 0, 1},   /* right and bottom edges only */
};

struct Size {
  guint w, h;
};
const Size kSizes[] = {{320, 240}, {97, 63}};

std::string
source (GstVideoFormat fmt, Size s)
{
  return "videotestsrc num-buffers=" + std::to_string (kFrames) +
         " pattern=colors ! video/x-raw,format=" + gst_video_format_to_string (fmt) +
         ",width=" + std::to_string (s.w) + ",height=" + std::to_string (s.h) +
         ",framerate=30/1 ! ";
}

std::string
crop_props (const CropCase &c)
{
  return " left=" + std::to_string (c.l) + " right=" + std::to_string (c.r) +
         " top=" + std::to_string (c.t) + " bottom=" + std::to_string (c.b);
}

void
check_one (const TmpDir &dir, GstVideoFormat fmt, Size s, CropCase c)
{
  if (c.l == -2)
    c.l = gint (s.w) - 1;
  if (c.t == -2)
    c.t = gint (s.h) - 1;
  const guint ow = s.w - guint (c.l + c.r), oh = s.h - guint (c.t + c.b);
  const std::string zc = dir.file ("zc.raw"), cp = dir.file ("cp.raw");
  const std::string what = std::string (gst_video_format_to_string (fmt)) + " " +
                           std::to_string (s.w) + "x" + std::to_string (s.h) + crop_props (c);

  const std::string b = run_capture (source (fmt, s) + "videocrop" + crop_props (c));

  const bool none = (c.l | c.r | c.t | c.b) == 0;
  {
    GstElement *p = run_ok (source (fmt, s) + "dmakitcrop name=crop" + crop_props (c) +
                            " ! dmakitsink name=sink sync=false location=" + zc);
    fail_unless_equals_uint64 (stat (p, "crop", "frames"), kFrames);
    fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), kFrames);
    fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), 0);
    assert_str_eq (stat_string (p, "crop", "path"), none ? "passthrough" : "meta");
    fail_unless_equals_uint64 (stat (p, "sink", "written"), kFrames);
    gst_object_unref (p);
  }
  {
    GstElement *p = run_ok (source (fmt, s) + "dmakitcrop name=crop mode=copy" + crop_props (c) +
                            " ! dmakitsink name=sink sync=false location=" + cp);
    fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), none ? 0 : kFrames);
    if (!none) {
      assert_str_eq (stat_string (p, "crop", "last-copy-reason"), "mode=copy");
      fail_unless (stat (p, "crop", "bytes-copied") > 0);
    }
    gst_object_unref (p);
  }

  std::string diff = compare_frames (read_file (zc), b, fmt, ow, oh, kFrames);
  fail_unless (diff.empty (), "zero-copy %s: %s", what.c_str (), diff.c_str ());
  diff = compare_frames (read_file (cp), b, fmt, ow, oh, kFrames);
  fail_unless (diff.empty (), "copy %s: %s", what.c_str (), diff.c_str ());
}

} // namespace

GST_START_TEST (test_byte_exact_matrix)
{
  TmpDir dir;
  guint n = 0;
  for (GstVideoFormat fmt : kFormats)
    for (Size s : kSizes)
      for (const CropCase &c : kCrops) {
        check_one (dir, fmt, s, c);
        n++;
      }
  GST_INFO ("%u format/size/crop combinations byte-exact in both modes", n);
}
GST_END_TEST;

/* The same with a fakesink-free copy into a downstream that takes VideoMeta
 * but whose pool has padded strides (stride-align): the copy path must
 * respect the pool's strides and the sink must undo them. */
GST_START_TEST (test_byte_exact_aligned_strides)
{
  TmpDir dir;
  const CropCase c{3, 5, 7, 1};
  for (GstVideoFormat fmt : {GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_YUY2,
                             GST_VIDEO_FORMAT_RGBA, GST_VIDEO_FORMAT_GRAY8}) {
    const Size s{97, 63};
    const std::string ref = run_capture (source (fmt, s) + "videocrop" + crop_props (c));
    for (const char *mode : {"auto", "copy"}) {
      const std::string out = dir.file (std::string ("al-") + mode + ".raw");
      GstElement *p =
          run_ok (source (fmt, s) + "dmakitcrop name=crop mode=" + mode + crop_props (c) +
                  " ! dmakitsink name=sink sync=false stride-align=64 location=" + out);
      gst_object_unref (p);
      const std::string diff =
          compare_frames (read_file (out), ref, fmt, s.w - 8, s.h - 8, kFrames);
      fail_unless (diff.empty (), "%s mode=%s stride-align=64: %s", gst_video_format_to_string (fmt),
                   mode, diff.c_str ());
    }
  }
}
GST_END_TEST;

static Suite *
elements_byte_exact_suite (void)
{
  Suite *s = suite_create ("dmakit-elements-byte-exact");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_byte_exact_matrix);
  tcase_add_test (tc, test_byte_exact_aligned_strides);
  return s;
}

GST_CHECK_MAIN (elements_byte_exact);
