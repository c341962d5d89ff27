/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink as a drop-in for filesink: for streams that are not raw video,
 * the file it leaves must be byte for byte the one filesink leaves, also when
 * the muxer goes back to rewrite its header (wavenc, flacenc, matroskamux,
 * qtmux/mp4mux in their plain, faststart, fragmented and robust modes) and
 * across flushing seeks.
 *
 * Each case runs the same pipeline three times in this process: filesink,
 * filesink again, dmakitsink. The two filesink runs must agree first, which
 * shows that the muxer is deterministic here; fields that are not were
 * pinned, never masked:
 *  - g_random (matroskamux's UIDs, oggmux's serial numbers): the global
 *    generator is seeded the same way before each run;
 *  - matroskamux's DateUTC: its creation-time property is set;
 *  - qtmux's creation/modification times (seconds of the wall clock, no way
 *    to set them): the three runs must fall within one wall-clock second; a
 *    triple that crosses a second boundary is run again (at most 8 times).
 *    Where every run takes longer than that (valgrind), such a case says it
 *    was not compared, and only when filesink's two runs differ. */
#include "elements-util.h"

#include <functional>

using namespace etest;

namespace {

/* Fixes what is not deterministic in the muxers, besides g_random (see the
 * top). */
void
pin (GstElement *pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    GstElement *e = GST_ELEMENT (g_value_get_object (&v));
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), "creation-time")) {
      GDateTime *t = g_date_time_new_utc (2026, 1, 2, 3, 4, 5);
      g_object_set (e, "creation-time", t, nullptr);
      g_date_time_unref (t);
    }
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);
}

/* @desc with "SINK" where the sink goes; the sink is named "sink". */
std::string
with_sink (const std::string &desc, const std::string &sink)
{
  const auto at = desc.find ("SINK");
  fail_unless (at != std::string::npos);
  return desc.substr (0, at) + sink + desc.substr (at + 4);
}

GstElement *
parse (const std::string &desc)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr && err == nullptr, "cannot parse %s: %s", desc.c_str (),
               err ? err->message : "?");
  return p;
}

/* Runs @desc to EOS with @sink writing @out; @drive, when given, runs the
 * pipeline instead of a plain run to EOS. */
std::string
record (const std::string &desc, const std::string &sink, const std::string &out,
        const std::function<void (GstElement *)> &drive = nullptr)
{
  g_random_set_seed (0x5eed); /* before parsing: request pads take UIDs */
  GstElement *p = parse (with_sink (desc, sink + " name=sink location=" + out));
  pin (p);
  if (drive) {
    drive (p);
  } else {
    RunResult r = run (p, 60);
    set_null (p);
    fail_unless (r.eos, "%s with %s: %s (%s)", desc.c_str (), sink.c_str (), r.error.c_str (),
                 r.error_debug.c_str ());
  }
  gst_object_unref (p);
  return read_file (out);
}

gint64
wall_second ()
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* The first offset where @a and @b differ, for the failure message. */
std::string
first_difference (const std::string &a, const std::string &b)
{
  gsize i = 0;
  while (i < a.size () && i < b.size () && a[i] == b[i])
    i++;
  return "sizes " + std::to_string (a.size ()) + " and " + std::to_string (b.size ()) +
         ", first difference at byte " + std::to_string (i);
}

/* @may_be_empty: after a flush, qtmux and flacenc (1.22) send nothing more,
 * so filesink's file is empty, and so must dmakitsink's be. */
void
check_parity (const std::string &desc, const std::function<void (GstElement *)> &drive = nullptr,
              bool may_be_empty = false)
{
  TmpDir dir;
  /* Only qtmux/mp4mux write the wall clock (whole seconds, not settable);
   * every other muxer's output is compared whatever the timing. Under
   * valgrind every run takes longer than a second: retrying cannot help,
   * and nine triples of a muxer cost minutes, so one triple there. */
  const bool wall_clock =
      desc.find ("qtmux") != std::string::npos || desc.find ("mp4mux") != std::string::npos;
  const guint retries = !wall_clock ? 0 : g_getenv ("DMAKIT_VALGRIND_TIER") ? 0 : 8;
  for (guint attempt = 0;; attempt++) {
    const gint64 t0 = wall_second ();
    const gint64 started = g_get_monotonic_time ();
    const std::string a = record (desc, "filesink", dir.file ("filesink-1"), drive);
    const std::string b = record (desc, "filesink", dir.file ("filesink-2"), drive);
    const std::string c = record (desc, "dmakitsink", dir.file ("dmakitsink"), drive);
    const bool crossed = wall_clock && wall_second () != t0;
    /* a triple that takes a second or more (valgrind, an emulated VM) can
     * never fall within one: no point in trying again */
    const bool can_fit = g_get_monotonic_time () - started < G_USEC_PER_SEC;
    if (crossed && can_fit && attempt < retries) {
      GST_INFO ("%s: runs crossed a wall-clock second, again", desc.c_str ());
      continue;
    }
    if (crossed && !(a == b && b == c)) {
      /* the three runs never fell within one second (valgrind): the
       * muxer's clock fields may differ, so there is nothing to compare */
      g_print ("%s: NOT COMPARED: %u triple(s) each crossed a wall-clock second\n",
               desc.c_str (), attempt + 1);
      return;
    }
    fail_unless (may_be_empty || a.size () > 0, "%s: filesink wrote nothing", desc.c_str ());
    fail_unless (a == b, "%s: two filesink runs differ (%s): pin that field", desc.c_str (),
                 first_difference (a, b).c_str ());
    fail_unless (c == a, "%s: dmakitsink's file differs from filesink's (%s)", desc.c_str (),
                 first_difference (a, c).c_str ());
    GST_INFO ("%s: %zu bytes, identical", desc.c_str (), a.size ());
    return;
  }
}

/* The muxer asked downstream whether it can seek, and went back to its
 * header: without either, these files come out different. */
const char *const kAudio = "audiotestsrc num-buffers=60 samplesperbuffer=1024 ! "
                           "audio/x-raw,format=S16LE,rate=48000,channels=2 ! ";
const char *const kJpeg = "videotestsrc num-buffers=20 ! video/x-raw,width=160,height=120,"
                          "framerate=10/1 ! jpegenc ! ";

} // namespace

GST_START_TEST (test_wavenc)
{
  check_parity (std::string (kAudio) + "wavenc ! SINK");
}
GST_END_TEST;

GST_START_TEST (test_flacenc)
{
  check_parity (std::string (kAudio) + "flacenc ! SINK");
}
GST_END_TEST;

GST_START_TEST (test_oggmux)
{
  check_parity (std::string (kAudio) + "audioconvert ! vorbisenc ! oggmux ! SINK");
}
GST_END_TEST;

GST_START_TEST (test_matroskamux)
{
  check_parity (std::string (kAudio) + "matroskamux ! SINK");
  check_parity (std::string (kJpeg) + "matroskamux ! SINK");
}
GST_END_TEST;

GST_START_TEST (test_qtmux)
{
  for (const char *opts : {"", "faststart=true", "fragment-duration=500",
                           "fragment-duration=500 fragment-mode=first-moov-then-finalise",
                           "reserved-max-duration=10000000000 "
                           "reserved-moov-update-period=200000000"})
    check_parity (std::string (kAudio) + "qtmux " + opts + " ! SINK");
  check_parity (std::string (kJpeg) + "qtmux ! SINK");
}
GST_END_TEST;

GST_START_TEST (test_mp4mux)
{
  for (const char *opts : {"", "faststart=true", "fragment-duration=500"})
    check_parity (std::string (kAudio) + "opusenc ! mp4mux " + opts + " ! SINK");
}
GST_END_TEST;

/* Flushing seeks upstream: filesink empties the file at FLUSH_STOP and the
 * stream starts again. The source plays a segment to EOS, then a second one
 * after a flushing seek (after EOS, so both runs see the same stream
 * whatever the timing). The seeks go to the source itself: aggregator-based
 * muxers refuse seeks from downstream. */
static void
seek_src (GstElement *p, GstClockTime start, GstClockTime stop)
{
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
  fail_unless (gst_element_seek (src.get (), 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH,
                                 GST_SEEK_TYPE_SET, gint64 (start), GST_SEEK_TYPE_SET,
                                 gint64 (stop)),
               "the source refused the seek");
}

static void
seek_twice (GstElement *p)
{
  RunResult r = run (p, 60);
  fail_unless (r.eos, "first segment: %s", r.error.c_str ());
  seek_src (p, GST_SECOND / 2, GST_SECOND * 8 / 10);
  r = run (p, 60);
  set_null (p);
  fail_unless (r.eos, "after the flushing seek: %s", r.error.c_str ());
}

GST_START_TEST (test_flushing_seek)
{
  const std::string src = "audiotestsrc name=src num-buffers=40 samplesperbuffer=1024 ! "
                          "audio/x-raw,format=S16LE,rate=48000,channels=2 ! ";
  check_parity (src + "matroskamux ! SINK", seek_twice);
  /* these end up empty: the flush truncates, and nothing follows */
  for (const char *mux : {"qtmux", "flacenc"})
    check_parity (src + mux + " ! SINK", seek_twice, true);
}
GST_END_TEST;

static Suite *
parity_suite (void)
{
  Suite *s = suite_create ("dmakitsink-filesink-parity");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 240);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_wavenc);
  tcase_add_test (tc, test_flacenc);
  tcase_add_test (tc, test_oggmux);
  tcase_add_test (tc, test_matroskamux);
  tcase_add_test (tc, test_qtmux);
  tcase_add_test (tc, test_mp4mux);
  tcase_add_test (tc, test_flushing_seek);
  return s;
}

GST_CHECK_MAIN (parity);
