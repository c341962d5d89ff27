/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-bufferpool: GstDmakitBufferPool next to stock GstBufferPool and
 * GstVideoBufferPool, measured in one run (1080p NV12, VideoMeta where the pool
 * supports it). Prints medians and ratios:
 *
 *  1. single-thread acquire+release, ns per cycle;
 *  2. producer -> bounded queue -> consumer on two threads, ns per buffer
 *     (the pool, max 4 buffers, is what bounds the producer);
 *     every section runs all three pools, so each figure has a ratio against
 *     the stock GstBufferPool and one against GstVideoBufferPool;
 *  3. steady state: heap allocations and frees per cycle (this executable
 *     interposes malloc & co., counting on the measuring thread only) and
 *     syscalls per cycle (the process re-runs one phase under `strace -f -c`
 *     with two cycle counts; the difference divided by the difference of
 *     cycles cancels start-up and shutdown);
 *  4. acquire latency p50/p99/p99.9/max under SCHED_FIFO where permitted,
 *     else SCHED_OTHER (said so in the output);
 *  5. cache warmth of the free-buffer order: 4K NV12 frames, pool of 4, one
 *     frame in use at a time, each acquired frame read and written once
 *     (a producer filling it); ns per frame. A LIFO pool hands back the frame
 *     just released, still in the last-level cache; a FIFO one cycles
 *     through all four (50 MB), which do not fit.
 *
 * The whole run stays well under 60 s. No assertion on speed: it reports. */
#include <gst/dmakit/dmakit.h>
#include <glib/gstdio.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DMAKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DMAKIT_SANITIZED 1
#endif
#endif

/* ---- allocation counter (see tests/check/libs/bufferpool-nomalloc.cpp) ---- */

extern "C" {
void *__libc_malloc (size_t);
void *__libc_calloc (size_t, size_t);
void *__libc_realloc (void *, size_t);
void __libc_free (void *);
void *__libc_memalign (size_t, size_t);
}
static __thread bool t_counting __attribute__ ((tls_model ("initial-exec")));
static std::atomic<guint64> g_allocs{ 0 }, g_frees{ 0 };

#ifndef DMAKIT_SANITIZED
#define EXPORT extern "C" __attribute__ ((visibility ("default")))
EXPORT void *
malloc (size_t n)
{
  if (G_UNLIKELY (t_counting))
    g_allocs.fetch_add (1, std::memory_order_relaxed);
  return __libc_malloc (n);
}
EXPORT void *
calloc (size_t n, size_t m)
{
  if (G_UNLIKELY (t_counting))
    g_allocs.fetch_add (1, std::memory_order_relaxed);
  return __libc_calloc (n, m);
}
EXPORT void *
realloc (void *p, size_t n)
{
  if (G_UNLIKELY (t_counting))
    g_allocs.fetch_add (1, std::memory_order_relaxed);
  return __libc_realloc (p, n);
}
EXPORT void
free (void *p)
{
  if (G_UNLIKELY (t_counting) && p)
    g_frees.fetch_add (1, std::memory_order_relaxed);
  __libc_free (p);
}
EXPORT void *
memalign (size_t a, size_t n)
{
  if (G_UNLIKELY (t_counting))
    g_allocs.fetch_add (1, std::memory_order_relaxed);
  return __libc_memalign (a, n);
}
EXPORT void *
aligned_alloc (size_t a, size_t n)
{
  return memalign (a, n);
}
EXPORT int
posix_memalign (void **out, size_t a, size_t n)
{
  void *p = memalign (a, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
#endif

/* ---- pools ------------------------------------------------------------------ */

enum Kind { OURS, STOCK, VIDEO, N_KINDS };
static const char *kind_name[N_KINDS] = { "dmakit", "stock GstBufferPool", "GstVideoBufferPool" };
static const char *kind_arg[N_KINDS] = { "ours", "stock", "video" };

static GstCaps *
frame_caps (GstVideoInfo *info, int width = 1920, int height = 1080)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "NV12", "width",
                                       G_TYPE_INT, width, "height", G_TYPE_INT, height,
                                       "framerate", GST_TYPE_FRACTION, 30, 1, nullptr);
  gst_video_info_from_caps (info, caps);
  return caps;
}

static GstBufferPool *
make_pool (Kind kind, guint min, guint max, int width = 1920, int height = 1080)
{
  GstVideoInfo info;
  GstCaps *caps = frame_caps (&info, width, height);
  GstBufferPool *pool = kind == OURS    ? gst_dmakit_buffer_pool_new ()
                        : kind == VIDEO ? gst_video_buffer_pool_new ()
                                        : gst_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, guint (info.size), min, max);
  if (kind != STOCK)
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool, config) || !gst_buffer_pool_set_active (pool, TRUE)) {
    g_printerr ("could not set up the %s pool\n", kind_name[kind]);
    exit (1);
  }
  gst_caps_unref (caps);
  return pool;
}

static void
drop_pool (GstBufferPool *pool)
{
  gst_buffer_pool_set_active (pool, FALSE);
  gst_object_unref (pool);
}

static inline guint64
now_ns ()
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return guint64 (ts.tv_sec) * 1000000000ull + guint64 (ts.tv_nsec);
}

static double
median (std::vector<double> v)
{
  std::sort (v.begin (), v.end ());
  return v.empty () ? 0 : v[v.size () / 2];
}

static bool
cycles (GstBufferPool *pool, guint n)
{
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = nullptr;
    if (gst_buffer_pool_acquire_buffer (pool, &b, nullptr) != GST_FLOW_OK)
      return false;
    gst_buffer_unref (b);
  }
  return true;
}

/* ns per frame of: acquire, read and write every byte once, release */
static double
warm_frames (GstBufferPool *pool, guint n)
{
  const guint64 t0 = now_ns ();
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = nullptr;
    if (gst_buffer_pool_acquire_buffer (pool, &b, nullptr) != GST_FLOW_OK)
      return -1;
    GstMapInfo map;
    if (gst_buffer_map (b, &map, GST_MAP_READWRITE)) {
      guint64 *p = reinterpret_cast<guint64 *> (map.data);
      const gsize words = map.size / sizeof (guint64);
      for (gsize w = 0; w < words; w++)
        p[w] += 0x0101010101010101ull;
      gst_buffer_unmap (b, &map);
    }
    gst_buffer_unref (b);
  }
  return double (now_ns () - t0) / n;
}

/* ---- producer/consumer ---------------------------------------------------------- */

struct Queue {
  std::mutex lock;
  std::condition_variable cv;
  GstBuffer *ring[16] = {};
  guint head = 0, count = 0;
  bool done = false;
  void push (GstBuffer *b)
  {
    std::unique_lock<std::mutex> lk (lock);
    cv.wait (lk, [&] { return count < 16; });
    ring[(head + count++) % 16] = b;
    lk.unlock ();
    cv.notify_all ();
  }
  GstBuffer *pop ()
  {
    std::unique_lock<std::mutex> lk (lock);
    cv.wait (lk, [&] { return count > 0 || done; });
    if (!count)
      return nullptr;
    GstBuffer *b = ring[head];
    head = (head + 1) % 16;
    count--;
    lk.unlock ();
    cv.notify_all ();
    return b;
  }
  void finish ()
  {
    {
      std::lock_guard<std::mutex> lk (lock);
      done = true;
    }
    cv.notify_all ();
  }
};

/* ns per buffer through producer -> queue -> consumer */
static double
producer_consumer (GstBufferPool *pool, guint n)
{
  Queue q;
  const guint64 t0 = now_ns ();
  std::thread consumer ([&] {
    while (GstBuffer *b = q.pop ())
      gst_buffer_unref (b);
  });
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = nullptr;
    if (gst_buffer_pool_acquire_buffer (pool, &b, nullptr) != GST_FLOW_OK)
      break;
    q.push (b);
  }
  q.finish ();
  consumer.join ();
  return double (now_ns () - t0) / n;
}

/* ---- syscalls via strace ---------------------------------------------------------- */

static std::string self_path;

/* Run this program's "--phase" under strace -f -c; returns the total number
 * of syscalls, or -1. */
static long
strace_phase (const char *strace, const char *phase, Kind kind, guint n)
{
  gchar *out = g_build_filename (g_get_tmp_dir (), "dmakit-bench-strace-XXXXXX", nullptr);
  int fd = g_mkstemp (out);
  if (fd < 0) {
    g_free (out);
    return -1;
  }
  close (fd);
  gchar *cmd = g_strdup_printf ("'%s' -f -c -o '%s' '%s' --phase %s %s %u >/dev/null 2>&1", strace,
                                out, self_path.c_str (), phase, kind_arg[kind], n);
  const int rc = system (cmd);
  g_free (cmd);
  long total = -1;
  gchar *text = nullptr;
  if (rc == 0 && g_file_get_contents (out, &text, nullptr, nullptr)) {
    gchar **lines = g_strsplit (text, "\n", -1);
    for (gchar **it = lines; *it; it++) {
      if (g_str_has_suffix (g_strstrip (*it), "total")) {
        /* "100.00 0.001 3 1234 12 total": calls is the 4th column */
        gchar **cols = g_strsplit_set (*it, " \t", -1);
        std::vector<const char *> words;
        for (gchar **c = cols; *c; c++)
          if (**c)
            words.push_back (*c);
        if (words.size () >= 5)
          total = strtol (words[3], nullptr, 10);
        g_strfreev (cols);
      }
    }
    g_strfreev (lines);
    g_free (text);
  }
  g_unlink (out);
  g_free (out);
  return total;
}

static int
run_phase (const char *phase, const char *which, guint n)
{
  Kind kind = OURS;
  for (int k = 0; k < N_KINDS; k++)
    if (!strcmp (which, kind_arg[k]))
      kind = Kind (k);
  GstBufferPool *pool = make_pool (kind, 4, 4);
  cycles (pool, 2000);
  if (!strcmp (phase, "steady"))
    cycles (pool, n);
  else
    producer_consumer (pool, n);
  drop_pool (pool);
  return 0;
}

/* ---- latency ------------------------------------------------------------------------ */

struct Latency {
  double p50, p99, p999, max;
};

static Latency
percentiles (std::vector<guint64> &v)
{
  std::sort (v.begin (), v.end ());
  auto at = [&] (double q) { return double (v[std::min (v.size () - 1, size_t (q * v.size ()))]); };
  return { at (0.5), at (0.99), at (0.999), double (v.back ()) };
}

/* ---- main ------------------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  if (argc == 5 && !strcmp (argv[1], "--phase")) {
    gst_init (&argc, &argv);
    return run_phase (argv[2], argv[3], guint (strtoul (argv[4], nullptr, 10)));
  }
  gst_init (&argc, &argv);
  {
    gchar *p = g_file_read_link ("/proc/self/exe", nullptr);
    self_path = p ? p : argv[0];
    g_free (p);
  }
  const guint64 bench_start = now_ns ();
  g_print ("bench-bufferpool: %s, 1080p NV12 (%s), pools min=max=4; medians of repeated runs\n",
           gst_version_string (), "3110400-byte buffers");
  {
    GstBufferPool *p = make_pool (OURS, 1, 1);
    GstStructure *st = gst_buffer_pool_get_config (p);
    GstAllocator *a = nullptr;
    gst_buffer_pool_config_get_allocator (st, &a, nullptr);
    GstBuffer *b = nullptr;
    gst_buffer_pool_acquire_buffer (p, &b, nullptr);
    g_print ("dmakit pool memory: %s\n", gst_buffer_peek_memory (b, 0)->allocator->mem_type);
    gst_buffer_unref (b);
    gst_structure_free (st);
    drop_pool (p);
  }

  /* 1. single thread */
  const guint N1 = 100000, R1 = 11;
  double st[N_KINDS];
  {
    GstBufferPool *pools[N_KINDS];
    std::vector<double> runs[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
      pools[k] = make_pool (Kind (k), 4, 4);
      cycles (pools[k], 20000);
    }
    for (guint r = 0; r < R1; r++) /* interleaved, so drift hits all alike */
      for (int k = 0; k < N_KINDS; k++) {
        const guint64 t0 = now_ns ();
        cycles (pools[k], N1);
        runs[k].push_back (double (now_ns () - t0) / N1);
      }
    for (int k = 0; k < N_KINDS; k++) {
      st[k] = median (runs[k]);
      drop_pool (pools[k]);
    }
  }
  g_print ("\n1. single-thread acquire+release (%u cycles x %u runs)\n", N1, R1);
  for (int k = 0; k < N_KINDS; k++)
    g_print ("   %-22s %8.1f ns/cycle   %.2fx stock  %.2fx video pool\n", kind_name[k], st[k],
             st[k] / st[STOCK], st[k] / st[VIDEO]);
  g_print ("   target: dmakit <= 0.50x stock -> %s (%.2fx); <= 0.50x GstVideoBufferPool -> %s "
           "(%.2fx)\n",
           st[OURS] <= 0.5 * st[STOCK] ? "met" : "NOT met", st[OURS] / st[STOCK],
           st[OURS] <= 0.5 * st[VIDEO] ? "met" : "NOT met", st[OURS] / st[VIDEO]);

  /* 2. producer/consumer */
  const guint N2 = 40000, R2 = 5;
  double pc[N_KINDS] = {};
  {
    std::vector<double> runs[N_KINDS];
    for (guint r = 0; r < R2; r++)
      for (int k = 0; k < N_KINDS; k++) {
        GstBufferPool *pool = make_pool (Kind (k), 4, 4);
        producer_consumer (pool, 2000);
        runs[k].push_back (producer_consumer (pool, N2));
        drop_pool (pool);
      }
    for (int k = 0; k < N_KINDS; k++)
      pc[k] = median (runs[k]);
  }
  g_print ("\n2. producer -> queue(16) -> consumer, pool max 4 (%u buffers x %u runs)\n", N2, R2);
  for (int k = 0; k < N_KINDS; k++)
    g_print ("   %-22s %8.1f ns/buffer   %.2fx stock  %.2fx video pool\n", kind_name[k], pc[k],
             pc[k] / pc[STOCK], pc[k] / pc[VIDEO]);

  /* 3. steady state: allocations and syscalls */
  g_print ("\n3. steady state per acquire+release cycle (after 2000 warm-up cycles)\n");
#ifdef DMAKIT_SANITIZED
  g_print ("   heap allocations: not measured (sanitizer build owns malloc)\n");
#else
  for (int k = 0; k < N_KINDS; k++) {
    GstBufferPool *pool = make_pool (Kind (k), 4, 4);
    cycles (pool, 2000);
    const guint n = 100000;
    const guint64 a0 = g_allocs.load (), f0 = g_frees.load ();
    t_counting = true;
    cycles (pool, n);
    t_counting = false;
    const guint64 allocs = g_allocs.load () - a0, frees = g_frees.load () - f0;
    g_print ("   %-22s mallocs %.4f  frees %.4f  per cycle (%u cycles, counted by interposing "
             "malloc on the measuring thread)\n",
             kind_name[k], double (allocs) / n, double (frees) / n, n);
    if (k == OURS)
      g_print ("   target: dmakit 0 mallocs and 0 frees per cycle -> %s (%" G_GUINT64_FORMAT
               " and %" G_GUINT64_FORMAT " in %u cycles)\n",
               allocs == 0 && frees == 0 ? "met" : "NOT met", allocs, frees, n);
    drop_pool (pool);
  }
#endif
  gchar *strace = g_find_program_in_path ("strace");
  if (!strace) {
    g_print ("   syscalls: not measured (strace not installed)\n");
  } else {
    const guint lo = 2000, hi = 202000;
    strace_phase (strace, "steady", OURS, lo); /* first run may build the registry */
    for (const char *phase : { "steady", "pc" }) {
      for (int k : { OURS, STOCK, VIDEO }) {
        const guint h = !strcmp (phase, "pc") ? 42000 : hi;
        const long a = strace_phase (strace, phase, Kind (k), lo);
        const long b = strace_phase (strace, phase, Kind (k), h);
        if (a < 0 || b < 0) {
          g_print ("   syscalls: strace failed (ptrace not permitted?)\n");
          goto strace_done;
        }
        g_print ("   %-22s %s syscalls per %s: %.4f  (strace -f -c: %ld calls at %u, %ld at %u)\n",
                 kind_name[k], !strcmp (phase, "pc") ? "2 threads," : "1 thread, ",
                 !strcmp (phase, "pc") ? "buffer" : "cycle ", double (b - a) / (h - lo), a, lo, b, h);
        /* two processes: a difference below one call per thousand cycles is
         * start-up noise, not a call per cycle */
        if (k == OURS && !strcmp (phase, "steady"))
          g_print ("   target: dmakit 0 syscalls per steady-state cycle -> %s (%ld more calls for "
                   "%u more cycles)\n",
                   double (b - a) / (h - lo) < 0.001 ? "met" : "NOT met", b - a, h - lo);
      }
    }
  strace_done:;
  }
  g_free (strace);

  /* 4. latency */
  {
    const guint N4 = 50000, blocks = 4;
    std::vector<guint64> lat[N_KINDS];
    bool fifo = false;
    std::string policy_note;
    std::thread t ([&] {
      struct sched_param sp = {};
      sp.sched_priority = 50;
      const int err = pthread_setschedparam (pthread_self (), SCHED_FIFO, &sp);
      fifo = err == 0;
      if (!fifo)
        policy_note = std::string ("SCHED_FIFO refused (") + g_strerror (err) + "): SCHED_OTHER";
      GstBufferPool *pools[N_KINDS];
      for (int k = 0; k < N_KINDS; k++) {
        pools[k] = make_pool (Kind (k), 4, 4);
        lat[k].reserve (N4 * blocks);
        cycles (pools[k], 20000);
      }
      for (guint blk = 0; blk < blocks; blk++)
        for (int k = 0; k < N_KINDS; k++)
          for (guint i = 0; i < N4; i++) {
            GstBuffer *b = nullptr;
            const guint64 t0 = now_ns ();
            gst_buffer_pool_acquire_buffer (pools[k], &b, nullptr);
            const guint64 t1 = now_ns ();
            lat[k].push_back (t1 - t0);
            gst_buffer_unref (b);
          }
      for (int k = 0; k < N_KINDS; k++)
        drop_pool (pools[k]);
    });
    t.join ();
    g_print ("\n4. acquire latency, %s, %u samples each (includes ~2 clock reads)\n",
             fifo ? "SCHED_FIFO priority 50" : policy_note.c_str (), N4 * blocks);
    g_print ("   %-22s %8s %8s %8s %10s\n", "", "p50", "p99", "p99.9", "max (ns)");
    Latency l[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
      l[k] = percentiles (lat[k]);
      g_print ("   %-22s %8.0f %8.0f %8.0f %10.0f\n", kind_name[k], l[k].p50, l[k].p99, l[k].p999,
               l[k].max);
    }
    g_print ("   ratio dmakit/stock    %8.2f %8.2f %8.2f %10.2f\n", l[OURS].p50 / l[STOCK].p50,
             l[OURS].p99 / l[STOCK].p99, l[OURS].p999 / l[STOCK].p999, l[OURS].max / l[STOCK].max);
    g_print ("   ratio dmakit/video    %8.2f %8.2f %8.2f %10.2f\n", l[OURS].p50 / l[VIDEO].p50,
             l[OURS].p99 / l[VIDEO].p99, l[OURS].p999 / l[VIDEO].p999, l[OURS].max / l[VIDEO].max);
    g_print ("   (max is dominated by host/VM preemption noise)\n");
  }
  /* 5. cache warmth: which free frame comes back */
  {
    const guint N5 = 60, R5 = 5;
    std::vector<double> runs[N_KINDS];
    GstBufferPool *pools[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
      pools[k] = make_pool (Kind (k), 4, 4, 3840, 2160);
      warm_frames (pools[k], 8); /* every frame faulted in */
    }
    for (guint r = 0; r < R5; r++)
      for (int k = 0; k < N_KINDS; k++)
        runs[k].push_back (warm_frames (pools[k], N5));
    g_print ("\n5. one frame in use, pool of 4 x 4K NV12 (12441600-byte frames, 50 MB): acquire, "
             "read+write the frame, release (%u frames x %u runs)\n", N5, R5);
    double wf[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
      wf[k] = median (runs[k]);
      drop_pool (pools[k]);
    }
    for (int k = 0; k < N_KINDS; k++)
      g_print ("   %-22s %8.0f us/frame   %.2fx stock\n", kind_name[k], wf[k] / 1000,
               wf[k] / wf[STOCK]);
  }
  g_print ("\nbench-bufferpool ran in %.1f s\n", double (now_ns () - bench_start) / 1e9);
  return 0;
}
