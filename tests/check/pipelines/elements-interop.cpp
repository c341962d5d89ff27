/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop and dmakitsink next to stock elements: videoconvert and
 * videoscale (after: they do not take crop metas, so dmakitcrop copies;
 * before), tee + queue (all branches take the meta, or one does not),
 * videocrop before (its crop meta is combined with ours) and after (it applies
 * ours), compositor, and audio into dmakitsink. Each output must equal what the
 * same pipeline built from videocrop writes (captured from a fakesink, as
 * filesink would write it but with the stride padding zeroed; see Capture). */
#include "elements-util.h"

#include <gst/dmakit/dmakit.h>

#include <vector>

using namespace etest;

namespace {

const std::string kSrc = "videotestsrc num-buffers=4 pattern=colors ! "
                         "video/x-raw,format=NV12,width=160,height=120,framerate=30/1 ! ";
const std::string kCrop = " left=6 right=10 top=4 bottom=2";

/* Runs @ours (with a dmakitcrop named "crop", ending in a dmakitsink that
 * gets a location, or with @ours_captured in the sink of Capture) and @ref
 * (captured, see Capture), then compares the frames of @fmt @w x @h; returns
 * the path "crop" took. */
std::string
compare (const TmpDir &dir, const std::string &ours, const std::string &ref, GstVideoFormat fmt,
         guint w, guint h, guint frames = 4, bool ours_captured = false)
{
  const std::string a = dir.file ("ours.raw");
  GstElement *p;
  std::string got;
  if (ours_captured) {
    GError *err = nullptr;
    const std::string full = ours + kCaptureSink;
    p = gst_parse_launch (full.c_str (), &err);
    fail_unless (p != nullptr, "cannot parse %s: %s", full.c_str (), err ? err->message : "?");
    g_clear_error (&err);
    Capture cap;
    cap.attach (p);
    RunResult r = run (p);
    set_null (p);
    fail_unless (r.eos, "%s\n  failed: %s (%s)", full.c_str (), r.error.c_str (),
                 r.error_debug.c_str ());
    got = cap.data ();
  } else {
    p = run_ok (ours + " location=" + a);
    got = read_file (a);
  }
  const std::string want = run_capture (ref);
  const std::string path = stat_string (p, "crop", "path");
  fail_unless_equals_uint64 (stat (p, "crop", "frames"), frames);
  gst_object_unref (p);
  const std::string diff = compare_frames (got, want, fmt, w, h, frames);
  fail_unless (diff.empty (), "%s\n  vs %s\n  %s", ours.c_str (), ref.c_str (), diff.c_str ());
  return path;
}

/* Records the pool that upstream of dmakitcrop was offered. */
struct Offer {
  bool seen = false;
  bool dmakit_pool = false;
  guint min = 0;
};

GstPadProbeReturn
offer_probe (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  GstQuery *q = GST_PAD_PROBE_INFO_QUERY (info);
  if (GST_QUERY_TYPE (q) != GST_QUERY_ALLOCATION || gst_query_get_n_allocation_pools (q) == 0)
    return GST_PAD_PROBE_OK;
  auto *o = static_cast<Offer *> (data);
  GstBufferPool *pool = nullptr;
  gst_query_parse_nth_allocation_pool (q, 0, &pool, nullptr, &o->min, nullptr);
  o->seen = true;
  o->dmakit_pool = pool && GST_DMAKIT_IS_BUFFER_POOL (pool);
  if (pool)
    gst_object_unref (pool);
  return GST_PAD_PROBE_OK;
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
               kSrc + "videocrop" + kCrop + " ! videoconvert ! video/x-raw,format=I420",
               GST_VIDEO_FORMAT_I420, 144, 114);
  fail_unless_equals_string (path.c_str (), "copy");
  /* before: dmakitsink takes the meta -> zero-copy */
  path = compare (dir,
                  kSrc + "videoconvert ! video/x-raw,format=RGBA ! dmakitcrop name=crop" + kCrop +
                      " ! dmakitsink sync=false",
                  kSrc + "videoconvert ! video/x-raw,format=RGBA ! videocrop" + kCrop,
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
      kSrc + "videocrop" + kCrop + " ! videoscale ! video/x-raw,width=100,height=80",
      GST_VIDEO_FORMAT_NV12, 100, 80);
  fail_unless_equals_string (path.c_str (), "copy");
  path = compare (dir,
                  kSrc + "videoscale ! video/x-raw,width=200,height=150 ! dmakitcrop name=crop" +
                      kCrop + " ! dmakitsink sync=false",
                  kSrc + "videoscale ! video/x-raw,width=200,height=150 ! videocrop" + kCrop,
                  GST_VIDEO_FORMAT_NV12, 184, 144);
  fail_unless_equals_string (path.c_str (), "meta");
}
GST_END_TEST;

GST_START_TEST (test_tee_and_queues)
{
  TmpDir dir;
  const std::string a = dir.file ("a.raw"), b = dir.file ("b.raw");
  const std::string r = run_capture (kSrc + "videocrop" + kCrop);

  /* Both branches take crop metas: zero-copy, both files right. Upstream is
   * offered a dmakit pool whose min covers what the branches hold: tee takes
   * the largest min of its branches (each dmakitsink: max-pending 8 + 3)
   * and adds one, and dmakitcrop one more for upstream's frame in
   * progress. */
  const std::string desc = kSrc + "dmakitcrop name=crop" + kCrop +
                           " ! tee name=t t. ! queue ! dmakitsink name=s1 sync=false location=" +
                           a + " t. ! queue ! dmakitsink name=s2 sync=false location=" + b;
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "%s", err ? err->message : "?");
  g_clear_error (&err);
  Offer offer;
  {
    auto crop = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "crop"));
    auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (crop.get (), "sink"));
    gst_pad_add_probe (pad.get (),
                       GstPadProbeType (GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM |
                                        GST_PAD_PROBE_TYPE_PULL),
                       offer_probe, &offer, nullptr);
  }
  RunResult res = run (p);
  set_null (p);
  fail_unless (res.eos, "%s: %s", desc.c_str (), res.error.c_str ());
  fail_unless (offer.seen, "no pool offered upstream");
  fail_unless (offer.dmakit_pool, "upstream was not offered a GstDmakitBufferPool");
  fail_unless (offer.min >= 8 + 3 + 1 + 1, "pool min %u does not cover what tee, queues and "
               "sinks hold", offer.min);
  assert_str_eq (stat_string (p, "crop", "path"), "meta");
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
  assert_str_eq (stat_string (p, "crop", "path"), "copy");
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
               kSrc + "videocrop left=10 right=10 top=6 bottom=2", GST_VIDEO_FORMAT_NV12, 140,
               112);
  fail_unless_equals_string (path.c_str (), "meta");
  /* before, copying: the incoming crop meta offsets the copy */
  path = compare (dir,
                  kSrc + "videocrop left=4 top=2 ! dmakitcrop name=crop mode=copy" + kCrop +
                      " ! dmakitsink sync=false",
                  kSrc + "videocrop left=10 right=10 top=6 bottom=2", GST_VIDEO_FORMAT_NV12, 140,
                  112);
  fail_unless_equals_string (path.c_str (), "copy");
  /* after: videocrop offers crop metas and applies ours when it copies */
  path = compare (dir,
                  kSrc + "dmakitcrop name=crop" + kCrop +
                      " ! videocrop left=4 right=2 top=2 bottom=4",
                  kSrc + "videocrop left=10 right=12 top=6 bottom=6", GST_VIDEO_FORMAT_NV12, 138,
                  108, 4, true /* videocrop's output, captured */);
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
      kSrc + "videocrop" + kCrop + " ! compositor ! video/x-raw,format=I420",
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
