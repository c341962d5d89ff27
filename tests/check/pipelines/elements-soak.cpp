/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* State cycling NULL <-> PLAYING 200 times, with frames flowing each time,
 * through dmakitcrop (by meta into a recording dmakitsink, and by copy into
 * fakesink): the process's open file descriptors (/proc/self/fd: memfd
 * buffers, the output file, writer thread) must come back to the same count
 * and the resident memory must stay flat within a tolerance. */
#include "elements-util.h"

using namespace etest;

namespace {

constexpr guint kCycles = 200;
constexpr guint kWarmup = 20;
constexpr guint64 kRssToleranceKib = 12 * 1024;

/* Under valgrind and AddressSanitizer freed memory sits in a quarantine:
 * RSS means nothing there. */
bool
rss_meaningful ()
{
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#endif
#endif
  return !under_valgrind ();
}

void
cycle (GstElement *p, const char *counter_element, const char *counter_field)
{
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstState state;
  fail_unless_equals_int (gst_element_get_state (p, &state, nullptr, 60 * GST_SECOND),
                          GST_STATE_CHANGE_SUCCESS);
  /* let a few frames through before tearing down (the deadline only bounds
   * a failure; a passing run waits for the frames, not for the clock) */
  const gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (stat (p, counter_element, counter_field) < 3 && g_get_monotonic_time () < deadline)
    g_usleep (500);
  fail_unless (stat (p, counter_element, counter_field) >= 3, "no frames flowed");
  GstStateChangeReturn ret;
  {
    /* no assertion in here: a failing check jumps out without unwinding */
    Watchdog dog ("setting the pipeline to NULL", 60);
    ret = gst_element_set_state (p, GST_STATE_NULL);
  }
  fail_unless_equals_int (ret, GST_STATE_CHANGE_SUCCESS);
}

void
soak (const std::string &desc, const char *counter_element, const char *counter_field)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "%s", err ? err->message : "?");
  guint fds0 = 0;
  guint64 rss0 = 0;
  for (guint i = 0; i < kCycles; i++) {
    cycle (p, counter_element, counter_field);
    if (i + 1 == kWarmup) {
      fds0 = count_fds ();
      rss0 = rss_kib ();
    }
  }
  const guint fds1 = count_fds ();
  const guint64 rss1 = rss_kib ();
  GST_INFO ("%s: fds %u -> %u, RSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " KiB",
            desc.c_str (), fds0, fds1, rss0, rss1);
  fail_unless_equals_int (fds1, fds0);
  if (!rss_meaningful ()) {
    GST_INFO ("under valgrind or ASan: RSS not checked");
    gst_object_unref (p);
    return;
  }
  fail_unless (rss1 <= rss0 + kRssToleranceKib,
               "RSS grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " KiB over %u cycles",
               rss0, rss1, kCycles - kWarmup);
  gst_object_unref (p);
}

} // namespace

GST_START_TEST (test_cycle_meta_path_recording)
{
  TmpDir dir;
  soak ("videotestsrc ! video/x-raw,format=NV12,width=320,height=240 ! "
        "dmakitcrop name=crop left=8 top=4 ! dmakitsink name=sink sync=false max-pending=4 "
        "location=" + dir.file ("soak.raw"),
        "sink", "written");
}
GST_END_TEST;

GST_START_TEST (test_cycle_copy_path)
{
  soak ("videotestsrc ! video/x-raw,format=I420,width=320,height=240 ! "
        "dmakitcrop name=crop left=8 top=4 right=2 ! fakesink sync=false",
        "crop", "copied-frames");
}
GST_END_TEST;

static Suite *
elements_soak_suite (void)
{
  Suite *s = suite_create ("dmakit-elements-soak");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 240);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_cycle_meta_path_recording);
  tcase_add_test (tc, test_cycle_copy_path);
  return s;
}

GST_CHECK_MAIN (elements_soak);
