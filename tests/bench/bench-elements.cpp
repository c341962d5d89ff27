/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-elements: dmakitcrop and dmakitsink next to stock GStreamer, 1080p
 * and 4K NV12, measured in one run (medians of interleaved repetitions):
 *
 *   source alone        videotestsrc ! dmakitsink            (and ! fakesink)
 *   crop, zero-copy     videotestsrc ! dmakitcrop ! dmakitsink
 *   crop, copy          videotestsrc ! dmakitcrop ! fakesink
 *   stock videocrop     videotestsrc ! videocrop ! fakesink  (copies)
 *   recording           videotestsrc ! dmakitsink location=tmpfs  vs  ! filesink location=tmpfs
 *   recording, cropped  dmakitcrop ! dmakitsink location  vs  videocrop ! filesink location
 *   overrun=drop        longest time the streaming thread was blocked
 *
 * Both figures are steady state, measured at the sink's pad from the 30th
 * buffer to the last (pool preallocation and start-up excluded): frames per
 * second of wall clock, and process CPU time (all threads) per frame. On a
 * shared machine the wall clock mostly measures the other processes; the
 * CPU time per frame does not, so the ratios are printed for both.
 * Targets: zero-copy crop >= 0.95x the source alone; copy crop >= stock
 * videocrop; the streaming thread never blocked with overrun=drop. */
#include <gst/gst.h>

#include <ctime>

#include <algorithm>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr guint kReps1080 = 5;
constexpr guint kReps4K = 3;
constexpr guint kSkip = 30;

/* CPU time of the whole process (all threads), in microseconds. */
gint64
process_cpu_us ()
{
  timespec ts{};
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return gint64 (ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

struct Probe {
  guint count = 0;
  gint64 t_first = 0, t_last = 0;     /* wall clock */
  gint64 cpu_first = 0, cpu_last = 0; /* process CPU time */
};

GstPadProbeReturn
probe_cb (GstPad *, GstPadProbeInfo *, gpointer data)
{
  auto *p = static_cast<Probe *> (data);
  if (++p->count < kSkip)
    return GST_PAD_PROBE_OK;
  const gint64 now = g_get_monotonic_time (), cpu = process_cpu_us ();
  if (p->count == kSkip) {
    p->t_first = now;
    p->cpu_first = cpu;
  }
  p->t_last = now;
  p->cpu_last = cpu;
  return GST_PAD_PROBE_OK;
}

struct Result {
  double fps = 0;
  double cpu_us = 0; /* process CPU time per frame (all threads), steady state */
  guint64 max_block_ns = 0;
  guint64 max_enqueue_ns = 0;
  guint64 dropped = 0;
  bool ok = false;
};

guint64
sink_stat (GstElement *pipeline, const char *field)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstStructure *st = nullptr;
  guint64 v = 0;
  if (sink && g_object_class_find_property (G_OBJECT_GET_CLASS (sink), "stats")) {
    g_object_get (sink, "stats", &st, nullptr);
    if (st) {
      gst_structure_get_uint64 (st, field, &v);
      gst_structure_free (st);
    }
  }
  if (sink)
    gst_object_unref (sink);
  return v;
}

Result
run_once (const std::string &desc)
{
  Result r;
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  if (!p) {
    g_printerr ("cannot parse %s: %s\n", desc.c_str (), err ? err->message : "?");
    g_clear_error (&err);
    return r;
  }
  Probe probe;
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, probe_cb, &probe, nullptr);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e = nullptr;
    gst_message_parse_error (msg, &e, nullptr);
    g_printerr ("error in %s: %s\n", desc.c_str (), e ? e->message : "?");
    g_clear_error (&e);
  } else if (msg && probe.count > kSkip) {
    r.ok = true;
    r.fps = double (probe.count - kSkip) * 1e6 / double (MAX (probe.t_last - probe.t_first, 1));
    r.cpu_us = double (probe.cpu_last - probe.cpu_first) / double (probe.count - kSkip);
  }
  if (msg)
    gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  r.max_block_ns = sink_stat (p, "max-block-ns");
  r.max_enqueue_ns = sink_stat (p, "max-enqueue-ns");
  r.dropped = sink_stat (p, "dropped");
  gst_object_unref (p);
  return r;
}

double
median (std::vector<double> v)
{
  if (v.empty ())
    return 0;
  std::sort (v.begin (), v.end ());
  return v[v.size () / 2];
}

struct Case {
  const char *key;
  const char *label;
  std::string tail; /* after the source */
  std::vector<double> fps;
  std::vector<double> cpu_us;
  guint64 max_block_ns = 0;
  guint64 max_enqueue_ns = 0;
  guint64 dropped = 0;
};

void
bench_resolution (const char *name, guint w, guint h, guint frames, guint reps,
                  const std::string &tmp)
{
  const std::string src = "videotestsrc num-buffers=" + std::to_string (frames) +
                          " pattern=solid-color ! video/x-raw,format=NV12,width=" +
                          std::to_string (w) + ",height=" + std::to_string (h) +
                          ",framerate=30/1 ! ";
  /* 1/8 off each side: a crop that keeps the frame 3/4 wide and high */
  const std::string crop = " left=" + std::to_string (w / 8) + " right=" + std::to_string (w / 8) +
                           " top=" + std::to_string (h / 8) + " bottom=" + std::to_string (h / 8);
  const std::string fa = tmp + "/bench-a.raw", fb = tmp + "/bench-b.raw";
  std::vector<Case> cases = {
      {"src", "source alone -> dmakitsink", "dmakitsink name=sink sync=false", {}, {}, 0, 0, 0},
      {"src-fake", "source alone -> fakesink", "fakesink name=sink sync=false", {}, {}, 0, 0, 0},
      {"zc", "dmakitcrop zero-copy -> dmakitsink",
       "dmakitcrop" + crop + " ! dmakitsink name=sink sync=false", {}, {}, 0, 0, 0},
      {"copy", "dmakitcrop copy -> fakesink",
       "dmakitcrop" + crop + " ! fakesink name=sink sync=false", {}, {}, 0, 0, 0},
      {"vcrop", "stock videocrop -> fakesink",
       "videocrop" + crop + " ! fakesink name=sink sync=false", {}, {}, 0, 0, 0},
      {"filesink", "filesink (tmpfs)", "filesink name=sink location=" + fb, {}, {}, 0, 0, 0},
      {"dsink", "dmakitsink location (tmpfs)",
       "dmakitsink name=sink sync=false location=" + fa, {}, {}, 0, 0, 0},
      {"vcrop-file", "videocrop -> filesink (tmpfs)",
       "videocrop" + crop + " ! filesink name=sink location=" + fb, {}, {}, 0, 0, 0},
      {"zc-file", "dmakitcrop -> dmakitsink location (tmpfs)",
       "dmakitcrop" + crop + " ! dmakitsink name=sink sync=false location=" + fa, {}, {}, 0, 0, 0},
      {"drop", "dmakitsink location overrun=drop max-pending=4",
       "dmakitsink name=sink sync=false overrun=drop max-pending=4 location=" + fa, {}, {}, 0, 0, 0},
  };
  for (guint rep = 0; rep < reps; rep++) {
    for (Case &c : cases) {
      Result r = run_once (src + c.tail);
      if (r.ok) {
        c.fps.push_back (r.fps);
        c.cpu_us.push_back (r.cpu_us);
      }
      c.max_block_ns = MAX (c.max_block_ns, r.max_block_ns);
      c.max_enqueue_ns = MAX (c.max_enqueue_ns, r.max_enqueue_ns);
      c.dropped += r.dropped;
      unlink (fa.c_str ());
      unlink (fb.c_str ());
    }
  }
  auto get = [&] (const char *key) -> Case & {
    for (Case &c : cases)
      if (!g_strcmp0 (c.key, key))
        return c;
    return cases[0];
  };
  std::printf ("\n== %s NV12 (%ux%u), %u frames, crop to %ux%u, median of %u ==\n", name, w, h,
               frames, w - 2 * (w / 8), h - 2 * (h / 8), reps);
  std::printf ("  %-48s %9s %14s\n", "", "wall", "CPU/frame");
  for (const Case &c : cases)
    std::printf ("  %-48s %9.1f fps %9.0f us\n", c.label, median (c.fps), median (c.cpu_us));
  const double src_alone = median (get ("src").fps), src_fake = median (get ("src-fake").fps);
  const double zc = median (get ("zc").fps), copy = median (get ("copy").fps);
  const double vcrop = median (get ("vcrop").fps);
  const double fsink = median (get ("filesink").fps), dsink = median (get ("dsink").fps);
  const double vfile = median (get ("vcrop-file").fps), zfile = median (get ("zc-file").fps);
  auto ratio = [] (double a, double b) { return b > 0 ? a / b : 0.0; };
  auto cpu = [&] (const char *key) { return median (get (key).cpu_us); };
  std::printf ("  ratios (wall-clock fps; in brackets the same ratio from CPU time per frame,\n"
               "  which a busy machine disturbs less):\n");
  auto verdict = [] (double wall, double cpu_ratio, double target) -> std::string {
    return std::string ("wall ") + (wall >= target ? "met" : "MISSED") + ", CPU " +
           (cpu_ratio >= target ? "met" : "MISSED");
  };
  std::printf ("    zero-copy crop / source alone (same sink)     %5.2fx [%5.2fx]  (target >= 0.95x: %s)\n",
               ratio (zc, src_alone), ratio (cpu ("src"), cpu ("zc")),
               verdict (ratio (zc, src_alone), ratio (cpu ("src"), cpu ("zc")), 0.95).c_str ());
  std::printf ("    zero-copy crop / source alone -> fakesink     %5.2fx [%5.2fx]\n", ratio (zc, src_fake),
               ratio (cpu ("src-fake"), cpu ("zc")));
  std::printf ("    copy crop / stock videocrop                   %5.2fx [%5.2fx]  (target >= 1.00x: %s)\n",
               ratio (copy, vcrop), ratio (cpu ("vcrop"), cpu ("copy")),
               verdict (ratio (copy, vcrop), ratio (cpu ("vcrop"), cpu ("copy")), 1.0).c_str ());
  std::printf ("    stock videocrop / source alone -> fakesink    %5.2fx [%5.2fx]\n", ratio (vcrop, src_fake),
               ratio (cpu ("src-fake"), cpu ("vcrop")));
  std::printf ("    dmakitsink / filesink (same bytes)            %5.2fx [%5.2fx]\n", ratio (dsink, fsink),
               ratio (cpu ("filesink"), cpu ("dsink")));
  std::printf ("    dmakitcrop+dmakitsink / videocrop+filesink    %5.2fx [%5.2fx]\n", ratio (zfile, vfile),
               ratio (cpu ("vcrop-file"), cpu ("zc-file")));
  const Case &drop = get ("drop");
  std::printf ("    overrun=drop: streaming thread waited %.1f us at most (longest hand-off %.1f us,\n"
               "      preemption included), %" G_GUINT64_FORMAT " buffers dropped over %u runs"
               " (target never blocked: %s)\n",
               double (drop.max_block_ns) / 1000.0, double (drop.max_enqueue_ns) / 1000.0,
               drop.dropped, reps, drop.max_block_ns == 0 ? "met" : "MISSED");
  std::printf ("    overrun=block (dmakitsink location): longest wait for room %.1f us\n",
               double (get ("dsink").max_block_ns) / 1000.0);
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  const gint64 t0 = g_get_monotonic_time ();
  std::string tmp = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ();
  gchar *dir = g_build_filename (tmp.c_str (), "dmakit-bench-XXXXXX", nullptr);
  if (!g_mkdtemp (dir)) {
    g_printerr ("cannot create a directory in %s\n", tmp.c_str ());
    return 1;
  }
  for (const char *f : {"dmakitcrop", "dmakitsink", "videotestsrc", "videocrop", "filesink"}) {
    GstElementFactory *fac = gst_element_factory_find (f);
    if (!fac) {
      g_printerr ("element %s not found (GST_PLUGIN_PATH?)\n", f);
      return 1;
    }
    gst_object_unref (fac);
  }
  gchar *version = gst_version_string ();
  std::printf ("bench-elements: dmakitcrop / dmakitsink vs stock GStreamer (%s), files in %s\n",
               version, dir);
  g_free (version);
  bench_resolution ("1080p", 1920, 1080, 300, kReps1080, dir);
  bench_resolution ("4K", 3840, 2160, 150, kReps4K, dir);
  rmdir (dir);
  g_free (dir);
  std::printf ("\ntotal %.1f s\n", double (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}
