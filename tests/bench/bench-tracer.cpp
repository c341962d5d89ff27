/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-tracer: cost of the `dmakit` tracer. Pipeline rate with
 * GST_TRACERS unset (stock GStreamer), GST_TRACERS=dmakit, and for scale the
 * stock `stats` tracer, measured in one run (medians of interleaved runs).
 *
 * GST_TRACERS is read by gst_init(), so every measured run is a child process
 * (this program re-executed with --child) with its own environment. The child
 * times PLAYING -> EOS and prints the figures on stdout.
 *
 *   convert      videotestsrc ! I420 320x240 ! identity ! videoconvert ! NV12 ! fakesink
 *   passthrough  videotestsrc ! I420 320x240 ! identity ! videoconvert ! fakesink
 *                (videoconvert in passthrough: the cheapest buffers, worst case)
 *
 * Both wall-clock time and the CPU time of the child (all its threads,
 * getrusage) are measured: on a shared machine the CPU time is the steadier
 * figure. Overhead per buffer and link = (cpu_on - cpu_off) / buffers / links. */
#include <gst/gst.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr guint kRuns = 7;

struct Case {
  const char *name;
  const char *desc; /* %u: number of buffers */
  guint buffers;
  guint links; /* links a buffer crosses */
};

const Case kCases[] = {
  { "convert",
    "videotestsrc num-buffers=%u ! video/x-raw,format=I420,width=320,height=240,framerate=30/1"
    " ! identity ! videoconvert ! video/x-raw,format=NV12 ! fakesink",
    2000, 5 },
  { "passthrough",
    "videotestsrc num-buffers=%u ! video/x-raw,format=I420,width=320,height=240,framerate=30/1"
    " ! identity ! videoconvert ! fakesink",
    4000, 4 },
};

struct Mode {
  const char *name;
  const char *tracers; /* nullptr: GST_TRACERS unset */
};

const Mode kModes[] = {
  { "off (stock)", nullptr },
  { "dmakit", "dmakit(print=false)" },
  { "stock stats tracer", "stats" },
};

/* ---- child --------------------------------------------------------------- */

gint64
cpu_us ()
{
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * G_GINT64_CONSTANT (1000000)
         + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int
child_main (const char *desc)
{
  gst_init (nullptr, nullptr);
  bool tracer_active = false;
  GList *tracers = gst_tracing_get_active_tracers ();
  for (GList *l = tracers; l; l = l->next)
    if (g_str_equal (G_OBJECT_TYPE_NAME (l->data), "GstDmakitTracer"))
      tracer_active = true;
  g_list_free_full (tracers, gst_object_unref);

  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc, &err);
  if (!p) {
    g_printerr ("cannot build %s: %s\n", desc, err ? err->message : "?");
    g_clear_error (&err);
    return 1;
  }
  GstBus *bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PAUSED);
  gst_element_get_state (p, nullptr, nullptr, GST_CLOCK_TIME_NONE);
  /* not synchronised to the clock: we measure throughput */
  const gint64 c0 = cpu_us ();
  const gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (p, GST_STATE_PLAYING);
  bool report = false, ok = false;
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (
        bus, 60 * GST_SECOND,
        static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!m)
      break;
    GstMessageType type = GST_MESSAGE_TYPE (m);
    const GstStructure *s = gst_message_get_structure (m);
    if (type == GST_MESSAGE_ELEMENT && s && gst_structure_has_name (s, "dmakit-tracer-report"))
      report = true;
    gst_message_unref (m);
    if (type == GST_MESSAGE_EOS) {
      ok = true;
      break;
    }
    if (type == GST_MESSAGE_ERROR)
      break;
  }
  const gint64 t1 = g_get_monotonic_time ();
  const gint64 c1 = cpu_us ();
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  if (!ok) {
    g_printerr ("child: no EOS for %s\n", desc);
    return 1;
  }
  std::printf ("us=%" G_GINT64_FORMAT " cpu=%" G_GINT64_FORMAT " tracer=%d report=%d\n", t1 - t0,
               c1 - c0, tracer_active ? 1 : 0, report ? 1 : 0);
  return 0;
}

/* ---- parent -------------------------------------------------------------- */

struct Sample {
  double us = 0;
  double cpu = 0;
  bool tracer = false;
  bool report = false;
  bool ok = false;
};

Sample
spawn_child (const std::string &self, const std::string &desc, const Mode &mode)
{
  Sample s;
  gchar **envp = g_get_environ ();
  if (mode.tracers)
    envp = g_environ_setenv (envp, "GST_TRACERS", mode.tracers, TRUE);
  else
    envp = g_environ_unsetenv (envp, "GST_TRACERS");
  envp = g_environ_unsetenv (envp, "GST_DEBUG");
  const gchar *argv[] = { self.c_str (), "--child", desc.c_str (), nullptr };
  gchar *out = nullptr;
  gint status = 0;
  GError *err = nullptr;
  if (!g_spawn_sync (nullptr, const_cast<gchar **> (argv), envp, G_SPAWN_DEFAULT, nullptr,
                     nullptr, &out, nullptr, &status, &err)) {
    g_printerr ("cannot run %s: %s\n", self.c_str (), err->message);
    g_clear_error (&err);
  } else if (g_spawn_check_wait_status (status, nullptr) && out) {
    gint64 us = 0, cpu = 0;
    int tracer = 0, report = 0;
    if (std::sscanf (out, "us=%" G_GINT64_FORMAT " cpu=%" G_GINT64_FORMAT " tracer=%d report=%d",
                     &us, &cpu, &tracer, &report)
        == 4) {
      s.us = static_cast<double> (us);
      s.cpu = static_cast<double> (cpu);
      s.tracer = tracer != 0;
      s.report = report != 0;
      s.ok = us > 0;
    }
  }
  g_free (out);
  g_strfreev (envp);
  return s;
}

double
median (std::vector<double> v)
{
  if (v.empty ())
    return 0;
  std::sort (v.begin (), v.end ());
  size_t n = v.size ();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace

int
main (int argc, char **argv)
{
  if (argc == 3 && std::strcmp (argv[1], "--child") == 0)
    return child_main (argv[2]);

  gchar *exe = g_file_read_link ("/proc/self/exe", nullptr);
  std::string self = exe ? exe : argv[0];
  g_free (exe);

  std::printf ("bench-tracer: pipeline rate with the dmakit tracer off/on, %u interleaved runs, "
               "medians\n",
               kRuns);
  bool failed = false;
  for (const Case &c : kCases) {
    gchar *desc_c = g_strdup_printf (c.desc, c.buffers);
    std::string desc = desc_c;
    g_free (desc_c);
    std::vector<std::vector<double>> times (G_N_ELEMENTS (kModes));
    std::vector<std::vector<double>> cpus (G_N_ELEMENTS (kModes));
    std::vector<bool> available (G_N_ELEMENTS (kModes), true);
    for (guint run = 0; run < kRuns; run++) {
      for (guint m = 0; m < G_N_ELEMENTS (kModes); m++) {
        /* rotate the order so drift hits every mode alike */
        guint mi = (m + run) % G_N_ELEMENTS (kModes);
        const Mode &mode = kModes[mi];
        if (!available[mi])
          continue;
        Sample s = spawn_child (self, desc, mode);
        if (!s.ok) {
          g_printerr ("  %s / %s: run failed\n", c.name, mode.name);
          if (mi <= 1)
            failed = true;
          available[mi] = false;
          continue;
        }
        if (mi == 1 && (!s.tracer || !s.report)) {
          g_printerr ("  %s: the dmakit tracer was %s in the child (is the plugin on "
                      "GST_PLUGIN_PATH?)\n",
                      c.name, s.tracer ? "active but posted no report" : "not active");
          failed = true;
          available[mi] = false;
          continue;
        }
        if (mi == 0 && s.tracer) {
          g_printerr ("  %s: tracer active with GST_TRACERS unset\n", c.name);
          failed = true;
        }
        times[mi].push_back (s.us);
        cpus[mi].push_back (s.cpu);
      }
    }
    std::printf ("\n%s: %u buffers, %u links\n  %s\n", c.name, c.buffers, c.links, desc.c_str ());
    std::printf ("  %-20s %9s %8s %8s %9s %9s %15s\n", "mode", "wall ms", "fps", "ratio",
                 "cpu ms", "cpu ratio", "cpu ns/buf/link");
    const double off = median (times[0]);
    const double cpu_off = median (cpus[0]);
    for (guint mi = 0; mi < G_N_ELEMENTS (kModes); mi++) {
      if (times[mi].empty ()) {
        std::printf ("  %-20s %10s\n", kModes[mi].name, "n/a");
        continue;
      }
      const double us = median (times[mi]);
      const double cpu = median (cpus[mi]);
      const double fps = c.buffers / (us / 1e6);
      const double ratio = off > 0 ? off / us : 0;         /* rate on / rate off */
      const double cpu_ratio = cpu > 0 ? cpu_off / cpu : 0; /* same, from CPU time */
      const double ns = (cpu - cpu_off) * 1e3 / c.buffers / c.links;
      if (mi == 0)
        std::printf ("  %-20s %9.1f %8.0f %8s %9.1f %9s %15s\n", kModes[mi].name, us / 1e3, fps,
                     "1.00x", cpu / 1e3, "1.00x", "-");
      else
        std::printf ("  %-20s %9.1f %8.0f %7.3fx %9.1f %8.3fx %15.0f\n", kModes[mi].name,
                     us / 1e3, fps, ratio, cpu / 1e3, cpu_ratio, ns);
    }
  }
  std::printf ("\nratio = rate with the tracer / rate without (1.00x = no cost); cpu ratio = the\n"
               "same from the CPU time the process used, steadier on a shared machine\n");
  return failed ? 1 : 0;
}
