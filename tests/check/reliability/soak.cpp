/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Soak: bounded, but long enough for a per-cycle or per-second leak to show.
 *
 *  cycle_recording   videotestsrc ! dmakitcrop ! dmakitsink location=FILE,
 *                    NULL -> PLAYING (frames written) -> NULL, 200 times;
 *  cycle_tracer      the same with GST_TRACERS=dmakit (a child process: the
 *                    tracer is set up in gst_init), and each cycle's report
 *                    must reach the bus;
 *  stream            videotestsrc ! dmakitcrop ! dmakitsink location=/dev/null
 *                    streaming for 10 s, sampled every second.
 *
 * Every figure is printed: open fds, mappings (all, and those of our buffers:
 * memfd/DMA-BUF, with their mapped and resident size), VmRSS and the heap in
 * use (mallinfo2, or ASan's allocator). After a warm-up, fds, buffer mappings
 * and their mapped size must be exactly flat; the heap may grow by at most 256 KiB and RSS by at
 * most 4 MiB over the whole run (see kHeapSlack and kRssSlack for why).
 * Under valgrind, RSS and the heap mean nothing (valgrind's own allocator and
 * its freed-block queue); valgrind checks leaks itself. Under ASan, RSS
 * includes the quarantine of freed blocks and is not checked; the heap figure
 * is ASan's count of live bytes. */
#include "reliability-util.h"

#include <algorithm>

using namespace reltest;

namespace {

/* The heap may grow by this much over a whole run after the warm-up. A leak of
 * one GstBuffer struct (~300 bytes with metas) per cycle over 180 cycles is
 * 54 KiB, one frame per cycle megabytes, so 256 KiB catches any per-cycle
 * leak of a frame and of most bookkeeping, while leaving room for GLib/GStreamer
 * caches that fill once (quarks, type tables, debug categories, the task pool's
 * per-thread data when it starts one more worker). */
constexpr guint64 kHeapSlack = 256 * 1024;
/* RSS may grow by this much: glibc keeps freed memory below its trim threshold
 * in the arenas of the streaming threads (each thread can get its own arena),
 * and thread stacks of new task-pool workers get touched. A leaked frame per
 * cycle (28-115 KiB) would exceed it within 40-150 cycles. */
constexpr guint64 kRssSlackKib = 4 * 1024;

guint
cycles ()
{
  switch (tool ()) {
  case Tool::valgrind:
  case Tool::tsan:
    return 100;
  default:
    return 200;
  }
}

void
check_flat (const char *what, const ProcFigures &a, const ProcFigures &b,
            bool buffers_checked_already = false)
{
  g_print ("%s [%s]\n  after warm-up: %s\n  at the end:    %s\n", what, tool_name (),
           a.str ().c_str (), b.str ().c_str ());
  if (!buffers_checked_already) {
    fail_unless_same_fds (a, b);
    fail_unless_equals_int (b.buffer_maps, a.buffer_maps);
    fail_unless_equals_uint64 (b.buffer_kib, a.buffer_kib);
  }
  if (tool () == Tool::valgrind)
    return;
  fail_unless (b.heap_bytes <= a.heap_bytes + kHeapSlack,
               "%s: the heap grew by %" G_GINT64_FORMAT " bytes", what,
               gint64 (b.heap_bytes) - gint64 (a.heap_bytes));
  if (tool () == Tool::plain)
    fail_unless (b.rss_kib <= a.rss_kib + kRssSlackKib, "%s: RSS grew by %" G_GINT64_FORMAT " KiB",
                 what, gint64 (b.rss_kib) - gint64 (a.rss_kib));
}

/* NULL -> PLAYING, at least 3 frames written, (READY: with the tracer, its
 * report), NULL. */
void
cycle (GstElement *p, bool tracer)
{
  set_state_sync (p, GST_STATE_PLAYING);
  /* (the deadline only bounds a failure: a passing run waits for frames) */
  const gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (quiet_stat (p, "sink", "written") < 3 && g_get_monotonic_time () < deadline)
    g_usleep (500);
  fail_unless (stat (p, "sink", "written") >= 3, "no frames were written");
  if (tracer) {
    /* the tracer reports on PAUSED -> READY; the bus is flushed at NULL */
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
    bool report = false;
    while (GstMessage *m = gst_bus_pop_filtered (bus.get (), GST_MESSAGE_ELEMENT)) {
      const GstStructure *s = gst_message_get_structure (m);
      report |= s && gst_structure_has_name (s, "dmakit-tracer-report");
      gst_message_unref (m);
    }
    fail_unless (report, "the tracer did not report this cycle");
  }
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
}

void
soak_cycles (bool tracer)
{
  TmpDir dir;
  GstElement *p = parse ("videotestsrc ! video/x-raw,format=NV12,width=320,height=240 ! "
                         "dmakitcrop left=8 top=4 ! dmakitsink name=sink sync=false max-pending=4 "
                         "location=" + dir.file ("soak.raw"));
  const guint n = cycles ();
  const guint warm = std::max (n / 10, 5u);
  ProcFigures start;
  const gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++) {
    cycle (p, tracer);
    if (i + 1 == warm)
      start = proc_figures ();
  }
  const ProcFigures end = proc_figures ();
  gst_object_unref (p);
  gchar *what = g_strdup_printf ("%u NULL<->PLAYING cycles%s (%.1f s, figures after %u)", n,
                                 tracer ? " with the dmakit tracer" : "",
                                 double (g_get_monotonic_time () - t0) / G_USEC_PER_SEC, warm);
  check_flat (what, start, end);
  g_free (what);
}

GST_START_TEST (test_cycle_recording)
{
  soak_cycles (false);
}
GST_END_TEST;

GST_START_TEST (child_cycle_tracer)
{
  soak_cycles (true);
}
GST_END_TEST;

GST_START_TEST (test_cycle_tracer)
{
  const int status = run_child ("cycle-tracer", {}, { "GST_TRACERS=dmakit(print=false)" },
                                240 * slowdown ());
  fail_unless_equals_int (status, 0);
}
GST_END_TEST;

GST_START_TEST (test_stream)
{
  constexpr guint kSeconds = 10;
  GstElement *p = parse ("videotestsrc is-live=true ! "
                         "video/x-raw,format=NV12,width=320,height=240,framerate=200/1 ! "
                         "dmakitcrop left=16 top=8 ! queue max-size-buffers=4 ! "
                         "dmakitsink name=sink sync=false backend=memfd location=/dev/null");
  /* backend=memfd: the frames live in fds and mappings, which the bounds
   * below count buffer by buffer, so the heap check sees only bookkeeping.
   * (AUTO gives plain system memory on a host without DMA-BUF: a pool that
   * grows by a frame under a stall would then grow the heap by 115 KiB.) */
  set_state_sync (p, GST_STATE_PLAYING);
  std::vector<ProcFigures> samples;
  std::vector<guint64> written;
  for (guint s = 0; s <= kSeconds; s++) {
    if (s > 0) {
      g_usleep (G_USEC_PER_SEC);
      /* frames keep flowing: at least one since the last sample (a loaded
       * machine may stall the pipeline for a while: only a hang of 60 s
       * fails) */
      const gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      while (quiet_stat (p, "sink", "written") <= written.back () &&
             g_get_monotonic_time () < deadline)
        g_usleep (1000);
    }
    samples.push_back (proc_figures ());
    written.push_back (stat (p, "sink", "written"));
    if (s > 0)
      fail_unless (written[s] > written[s - 1], "no frame written for 60 s after t=%u s", s - 1);
    g_print ("  t=%2us frames %6" G_GUINT64_FORMAT "  %s\n", s, written.back (),
             samples.back ().str ().c_str ());
  }
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
  GstMessage *err = gst_bus_pop_filtered (bus.get (), GST_MESSAGE_ERROR);
  fail_unless (err == nullptr, "error while streaming: %" GST_PTR_FORMAT, err);
  fail_unless_equals_uint64 (stat (p, "sink", "not-written"), 0);
  fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  /* From t=2 s on the pipeline is in steady state. A loaded machine can still
   * stall one thread long enough for a pool to grow by a buffer or two (seen
   * once in CI: 11 -> 12 buffer fds, once 11 -> 16); that growth is bounded
   * by what the pipeline can hold at once: the sink's queue (8) + writer and
   * last sample, the queue element (4), one each in dmakitcrop and the source
   * = 16 buffers against a min of 11. A leak grows with every frame (~200
   * per second here, so ~1600 by t=10 s). So: every second, the buffers'
   * fds, mappings and mapped size stay within kGrowth buffers of t=2 s, and
   * the other fds do not grow. */
  constexpr guint kGrowth = 8;
  const guint64 kib_per_buffer =
      samples[2].buffer_maps ? samples[2].buffer_kib / samples[2].buffer_maps : 0;
  for (guint s = 3; s <= kSeconds; s++) {
    fail_unless (samples[s].buffer_fds <= samples[2].buffer_fds + kGrowth &&
                     samples[s].fds - samples[s].buffer_fds <=
                         samples[2].fds - samples[2].buffer_fds,
                 "open fds went from %u (%u of buffers) to %u (%u of buffers) at t=%u s\n"
                 "  before: %s\n  after:  %s",
                 samples[2].fds, samples[2].buffer_fds, samples[s].fds, samples[s].buffer_fds, s,
                 samples[2].fd_list.c_str (), samples[s].fd_list.c_str ());
    fail_unless (samples[s].buffer_maps <= samples[2].buffer_maps + kGrowth,
                 "buffer mappings went from %u to %u at t=%u s", samples[2].buffer_maps,
                 samples[s].buffer_maps, s);
    fail_unless (samples[s].buffer_kib <= samples[2].buffer_kib + kGrowth * kib_per_buffer,
                 "mapped buffer memory went from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                 " KiB at t=%u s", samples[2].buffer_kib, samples[s].buffer_kib, s);
  }
  gchar *what = g_strdup_printf ("%u s of streaming, %" G_GUINT64_FORMAT " frames (t=2 s vs t=%u s)",
                                 kSeconds, written.back (), kSeconds);
  check_flat (what, samples[2], samples[kSeconds], /* bounded above */ true);
  g_free (what);
  /* (the buffers' resident part may still grow inside those mappings: a
   * buffer the pool hands out for the first time after a hiccup gets its
   * pages mapped then; it is bounded by the mapped size checked above) */
  fail_unless (samples[kSeconds].buffer_rss_kib <= samples[kSeconds].buffer_kib);
}
GST_END_TEST;

Suite *
soak_suite (const char *child)
{
  Suite *s = suite_create ("dmakit-reliability-soak");
  TCase *tc = tcase_create ("soak");
  tcase_set_timeout (tc, 240 * slowdown ());
  suite_add_tcase (s, tc);
  if (child) {
    tcase_add_test (tc, child_cycle_tracer);
    return s;
  }
  tcase_add_test (tc, test_cycle_recording);
  tcase_add_test (tc, test_cycle_tracer);
  tcase_add_test (tc, test_stream);
  return s;
}

} // namespace

int
main (int argc, char **argv)
{
  std::vector<std::string> args;
  const char *child = parse_child_args (&argc, &argv, &args);
  if (child && std::strcmp (child, "cycle-tracer") != 0)
    return 2;
  gst_check_init (&argc, &argv);
  if (child)
    g_setenv ("CK_FORK", "no", TRUE);
  const int rc = gst_check_run_suite (soak_suite (child), "reliability-soak", __FILE__);
  if (child && rc != 0)
    _exit (1);
  return rc;
}
