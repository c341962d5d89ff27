/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop and dmakitsink next to stock elements: videoconvert and
 * videoscale (after: they do not take crop metas, so dmakitcrop copies;
 * before), tee + queue (all branches take the meta, or one does not),
 * videocrop before (its crop meta is combined with ours) and after (it applies
 * ours), compositor, and audio into dmakitsink. Each output must equal what the
 * same pipeline built from videocrop and filesink writes. */
#include "elements-util.h"

#include <vector>

using namespace etest;

namespace {

const std::string kSrc = "videotestsrc num-buffers=4 pattern=colors ! "
                         "video/x-raw,format=NV12,width=160,height=120,framerate=30/1 ! ";
const std::string kCrop = " left=6 right=10 top=4 bottom=2";

/* Runs @ours (with a dmakitcrop named "crop") and @ref, then compares the
 * frames of @fmt @w x @h in the two files; returns the path "crop" took. */
std::string
compare (const TmpDir &dir, const std::string &ours, const std::string &ref, GstVideoFormat fmt,
         guint w, guint h, guint frames = 4, bool ours_pads_zero = true)
{
  const std::string a = dir.file ("ours.raw"), b = dir.file ("ref.raw");
  GstElement *p = run_ok (ours + " location=" + a);
  gst_object_unref (run_ok (ref + " location=" + b));
  const std::string path = stat_string (p, "crop", "path");
  fail_unless_equals_uint64 (stat (p, "crop", "frames"), frames);
  gst_object_unref (p);
  const std::string diff =
      compare_frames (read_file (a), read_file (b), fmt, w, h, frames, ours_pads_zero);
  fail_unless (diff.empty (), "%s\n  vs %s\n  %s", ours.c_str (), ref.c_str (), diff.c_str ());
  return path;
}

} // namespace

GST_START_TEST (test_videoconvert)
{
  TmpDir dir;
  /* after: videoconvert does not take crop metas -> copy */
  std::string path =
      compare (dir,
               kSrc + "dmakitcrop name=crop" + kCrop +
                   " ! videoconvert ! video/x-raw,format=I420 ! dmakitsink sync=false",
               kSrc + "videocrop" + kCrop + " ! videoconvert ! video/x-raw,format=I420 ! filesink",
               GST_VIDEO_FORMAT_I420, 144, 114);
  fail_unless_equals_string (path.c_str (), "copy");
  /* before: dmakitsink takes the meta -> zero-copy */
  path = compare (dir,
                  kSrc + "videoconvert ! video/x-raw,format=RGBA ! dmakitcrop name=crop" + kCrop +
                      " ! dmakitsink sync=false",
                  kSrc + "videoconvert ! video/x-raw,format=RGBA ! videocrop" + kCrop +
                      " ! filesink",
                  GST_VIDEO_FORMAT_RGBA, 144, 114);
  fail_unless_equals_string (path.c_str (), "meta");
}
GST_END_TEST;

GST_START_TEST (test_videoscale)
{
  TmpDir dir;
  std::string path = compare (
      dir,
      kSrc + "dmakitcrop name=crop" + kCrop +
          " ! videoscale ! video/x-raw,width=100,height=80 ! dmakitsink sync=false",
      kSrc + "videocrop" + kCrop + " ! videoscale ! video/x-raw,width=100,height=80 ! filesink",
      GST_VIDEO_FORMAT_NV12, 100, 80);
  fail_unless_equals_string (path.c_str (), "copy");
  path = compare (dir,
                  kSrc + "videoscale ! video/x-raw,width=200,height=150 ! dmakitcrop name=crop" +
                      kCrop + " ! dmakitsink sync=false",
                  kSrc + "videoscale ! video/x-raw,width=200,height=150 ! videocrop" + kCrop +
                      " ! filesink",
                  GST_VIDEO_FORMAT_NV12, 184, 144);
  fail_unless_equals_string (path.c_str (), "meta");
}
GST_END_TEST;

GST_START_TEST (test_tee_and_queues)
{
  TmpDir dir;
  const std::string ref = dir.file ("ref.raw"), a = dir.file ("a.raw"), b = dir.file ("b.raw");
  gst_object_unref (run_ok (kSrc + "videocrop" + kCrop + " ! filesink location=" + ref));
  const std::string r = read_file (ref);

  /* Both branches take crop metas: zero-copy, both files right. */
  GstElement *p = run_ok (kSrc + "dmakitcrop name=crop" + kCrop +
                          " ! tee name=t t. ! queue ! dmakitsink name=s1 sync=false location=" +
                          a + " t. ! queue ! dmakitsink name=s2 sync=false location=" + b);
  fail_unless_equals_string (stat_string (p, "crop", "path").c_str (), "meta");
  fail_unless_equals_uint64 (stat (p, "crop", "zero-copy-frames"), 4);
  fail_unless_equals_uint64 (stat (p, "s1", "written"), 4);
  fail_unless_equals_uint64 (stat (p, "s2", "written"), 4);
  gst_object_unref (p);
  for (const std::string &f : {a, b}) {
    const std::string d = compare_frames (read_file (f), r, GST_VIDEO_FORMAT_NV12, 144, 114, 4);
    fail_unless (d.empty (), "tee branch %s: %s", f.c_str (), d.c_str ());
  }

  /* One branch cannot take them (fakesink): tee only offers what all take. */
  p = run_ok (kSrc + "dmakitcrop name=crop" + kCrop +
              " ! tee name=t t. ! queue ! dmakitsink name=s1 sync=false location=" + a +
              " t. ! queue ! fakesink");
  fail_unless_equals_string (stat_string (p, "crop", "path").c_str (), "copy");
  fail_unless_equals_uint64 (stat (p, "crop", "copied-frames"), 4);
  gst_object_unref (p);
  const std::string d = compare_frames (read_file (a), r, GST_VIDEO_FORMAT_NV12, 144, 114, 4);
  fail_unless (d.empty (), "tee + fakesink: %s", d.c_str ());
}
GST_END_TEST;

GST_START_TEST (test_videocrop_before_and_after)
{
  TmpDir dir;
  /* before: videocrop crops by meta (we offer crop metas), we add ours on top */
  std::string path =
      compare (dir,
               kSrc + "videocrop left=4 top=2 ! dmakitcrop name=crop" + kCrop +
                   " ! dmakitsink sync=false",
               kSrc + "videocrop left=10 right=10 top=6 bottom=2 ! filesink",
               GST_VIDEO_FORMAT_NV12, 140, 112);
  fail_unless_equals_string (path.c_str (), "meta");
  /* before, copying: the incoming crop meta offsets the copy */
  path = compare (dir,
                  kSrc + "videocrop left=4 top=2 ! dmakitcrop name=crop mode=copy" + kCrop +
                      " ! dmakitsink sync=false",
                  kSrc + "videocrop left=10 right=10 top=6 bottom=2 ! filesink",
                  GST_VIDEO_FORMAT_NV12, 140, 112);
  fail_unless_equals_string (path.c_str (), "copy");
  /* after: videocrop offers crop metas and applies ours when it copies */
  path = compare (dir,
                  kSrc + "dmakitcrop name=crop" + kCrop +
                      " ! videocrop left=4 right=2 top=2 bottom=4 ! filesink",
                  kSrc + "videocrop left=10 right=12 top=6 bottom=6 ! filesink",
                  GST_VIDEO_FORMAT_NV12, 138, 108, 4, false /* filesink writes ours */);
  fail_unless_equals_string (path.c_str (), "meta");
}
GST_END_TEST;

GST_START_TEST (test_compositor)
{
  TmpDir dir;
  /* identity drop-allocation: GStreamer 1.22's GstVideoAggregator leaks a
   * reference of every allocator a downstream ALLOCATION answer carries
   * (gst_video_aggregator_decide_allocation parses it and never unrefs), and
   * dmakitsink answers with its allocator. The point here is dmakitcrop in
   * front of compositor; the recording side is covered elsewhere. */
  const std::string path = compare (
      dir,
      kSrc + "dmakitcrop name=crop" + kCrop +
          " ! compositor ! video/x-raw,format=I420 ! identity drop-allocation=true ! "
          "dmakitsink sync=false",
      kSrc + "videocrop" + kCrop + " ! compositor ! video/x-raw,format=I420 ! filesink",
      GST_VIDEO_FORMAT_I420, 144, 114);
  fail_unless_equals_string (path.c_str (), "copy");
}
GST_END_TEST;

GST_START_TEST (test_audio_into_dmakitsink)
{
  TmpDir dir;
  const std::string a = dir.file ("a.raw"), b = dir.file ("b.raw");
  const std::string src = "audiotestsrc num-buffers=25 wave=sine freq=440 ! "
                          "audio/x-raw,format=S16LE,rate=48000,channels=2 ! ";
  GstElement *p = run_ok (src + "dmakitsink name=sink sync=false location=" + a);
  fail_unless_equals_uint64 (stat (p, "sink", "written"), 25);
  gst_object_unref (p);
  gst_object_unref (run_ok (src + "filesink location=" + b));
  const std::string x = read_file (a), y = read_file (b);
  fail_unless (x.size () > 0);
  fail_unless (x == y, "audio bytes differ (%zu vs %zu bytes)", x.size (), y.size ());
}
GST_END_TEST;

static Suite *
elements_interop_suite (void)
{
  Suite *s = suite_create ("dmakit-elements-interop");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_videoconvert);
  tcase_add_test (tc, test_videoscale);
  tcase_add_test (tc, test_tee_and_queues);
  tcase_add_test (tc, test_videocrop_before_and_after);
  tcase_add_test (tc, test_compositor);
  tcase_add_test (tc, test_audio_into_dmakitsink);
  return s;
}

GST_CHECK_MAIN (elements_interop);
