/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Counts heap allocations on the acquire/release path of GstDmakitBufferPool
 * after warm-up: they must be zero.
 *
 * How: this executable defines malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc, memalign and valloc itself (exported, so every library in the
 * process calls them) and forwards to glibc's __libc_* entry points. Each call
 * made while the calling thread has counting switched on (a thread-local flag)
 * is counted. GLib 2.74's g_slice keeps its own magazines, so main() re-runs
 * the program with G_SLICE=always-malloc to route those through malloc too.
 * test_interposer_counts proves the counter sees GLib and GStreamer
 * allocations, so a zero below is a measurement, not a blind spot. */
#include "bufferpool-helpers.h"

#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DMAKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DMAKIT_SANITIZED 1
#endif
#endif

/* ---- the interposer ------------------------------------------------------------------ */

extern "C" {
void *__libc_malloc (size_t);
void *__libc_calloc (size_t, size_t);
void *__libc_realloc (void *, size_t);
void __libc_free (void *);
void *__libc_memalign (size_t, size_t);
}

static __thread bool t_counting __attribute__ ((tls_model ("initial-exec")));
static std::atomic<guint64> g_allocs{ 0 }; /* malloc, calloc, realloc, memalign... */
static std::atomic<guint64> g_frees{ 0 };

static inline void
count_alloc ()
{
  if (G_UNLIKELY (t_counting))
    g_allocs.fetch_add (1, std::memory_order_relaxed);
}

#ifndef DMAKIT_SANITIZED
#define DMAKIT_EXPORT extern "C" __attribute__ ((visibility ("default")))

DMAKIT_EXPORT void *
malloc (size_t n)
{
  count_alloc ();
  return __libc_malloc (n);
}

DMAKIT_EXPORT void *
calloc (size_t n, size_t m)
{
  count_alloc ();
  return __libc_calloc (n, m);
}

DMAKIT_EXPORT void *
realloc (void *p, size_t n)
{
  count_alloc ();
  return __libc_realloc (p, n);
}

DMAKIT_EXPORT void
free (void *p)
{
  if (G_UNLIKELY (t_counting) && p)
    g_frees.fetch_add (1, std::memory_order_relaxed);
  __libc_free (p);
}

DMAKIT_EXPORT void *
memalign (size_t align, size_t n)
{
  count_alloc ();
  return __libc_memalign (align, n);
}

DMAKIT_EXPORT void *
aligned_alloc (size_t align, size_t n)
{
  count_alloc ();
  return __libc_memalign (align, n);
}

DMAKIT_EXPORT int
posix_memalign (void **out, size_t align, size_t n)
{
  count_alloc ();
  void *p = __libc_memalign (align, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}

DMAKIT_EXPORT void *
valloc (size_t n)
{
  count_alloc ();
  return __libc_memalign (size_t (sysconf (_SC_PAGESIZE)), n);
}
#endif

struct Counted {
  guint64 allocs, frees;
};

/* Runs @body with counting switched on for this thread. */
template <typename F>
static Counted
counted (F body)
{
  const guint64 a0 = g_allocs.load (), f0 = g_frees.load ();
  t_counting = true;
  body ();
  t_counting = false;
  return { g_allocs.load () - a0, g_frees.load () - f0 };
}

/* ---- tests ------------------------------------------------------------------------------ */

GST_START_TEST (test_interposer_counts)
{
  /* the counter must see what GLib and GStreamer allocate, or a zero means nothing */
  Counted c = counted ([] {
    gpointer p = g_malloc (64);
    g_free (p);
    GstBuffer *b = gst_buffer_new ();
    gst_buffer_unref (b);
    gpointer s = g_slice_alloc (24);
    g_slice_free1 (24, s);
  });
  fail_unless (c.allocs >= 3, "interposer saw %" G_GUINT64_FORMAT " allocations", c.allocs);
  fail_unless (c.frees >= 3, "interposer saw %" G_GUINT64_FORMAT " frees", c.frees);
  /* and nothing when switched off */
  const guint64 before = g_allocs.load ();
  gpointer p = g_malloc (64);
  g_free (p);
  fail_unless_equals_uint64 (g_allocs.load (), before);
}
GST_END_TEST;

static GstBufferPool *
make_pool (GstCaps *caps, guint size, guint min, guint max, GstAllocator *alloc, bool video_meta,
           bool refill)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  if (alloc)
    gst_buffer_pool_config_set_allocator (config, alloc, nullptr);
  if (video_meta)
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_dmakit_buffer_pool_config_set_refill (config, refill);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  return pool;
}

/* acquire+release @n times, holding up to @depth buffers at once. No check
 * assertions inside: libcheck's fail_unless records its location through a
 * pipe (allocating) on every call. */
static bool
cycle (GstBufferPool *pool, guint n, guint depth, bool dontwait)
{
  bool ok = true;
  GstBuffer *held[8] = {};
  GstBufferPoolAcquireParams params = {};
  params.flags = dontwait ? GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT : GST_BUFFER_POOL_ACQUIRE_FLAG_NONE;
  for (guint i = 0; i < n; i++) {
    for (guint d = 0; d < depth; d++)
      ok = gst_buffer_pool_acquire_buffer (pool, &held[d], &params) == GST_FLOW_OK && ok;
    for (guint d = 0; d < depth; d++) {
      if (!held[d])
        continue;
      GST_BUFFER_PTS (held[d]) = i; /* touch it like a producer would */
      gst_buffer_unref (held[d]);
      held[d] = nullptr;
    }
  }
  return ok;
}

GST_START_TEST (test_no_malloc_single_thread)
{
  GstCaps *caps = gst_caps_from_string ("video/x-raw, format=NV12, width=1920, height=1080, "
                                        "framerate=30/1");
  GstVideoInfo info;
  fail_unless (gst_video_info_from_caps (&info, caps));
  GstCaps *bytes = gst_caps_new_empty_simple ("application/octet-stream");
  GstAllocator *sysmem = gst_allocator_find (nullptr);

  struct Case {
    const char *name;
    GstBufferPool *pool;
  } cases[] = {
    { "1080p NV12 + VideoMeta, default (dmakit) allocator",
      make_pool (caps, guint (info.size), 4, 4, nullptr, true, true) },
    { "bytes, system allocator, refill on", make_pool (bytes, 4096, 4, 8, sysmem, false, true) },
    { "bytes, system allocator, refill off", make_pool (bytes, 4096, 4, 8, sysmem, false, false) },
  };
  for (const Case &c : cases) {
    fail_unless (cycle (c.pool, 2000, 3, false)); /* warm-up */
    bool ok = true;
    Counted n = counted ([&] {
      ok = cycle (c.pool, 50000, 1, false) && ok;
      ok = cycle (c.pool, 20000, 3, false) && ok;
      ok = cycle (c.pool, 20000, 2, true) && ok;
    });
    fail_unless (ok, "%s: an acquire failed", c.name);
    g_print ("%s: %" G_GUINT64_FORMAT " allocations, %" G_GUINT64_FORMAT " frees in 130000 "
             "acquire+release cycles\n", c.name, n.allocs, n.frees);
    fail_unless_equals_uint64 (n.allocs, 0);
    fail_unless_equals_uint64 (n.frees, 0);
    fail_unless (gst_buffer_pool_set_active (c.pool, FALSE));
    gst_object_unref (c.pool);
  }
  gst_object_unref (sysmem);
  gst_caps_unref (bytes);
  gst_caps_unref (caps);
}
GST_END_TEST;

/* A fixed-capacity hand-over queue that itself never allocates. */
struct Handover {
  std::mutex lock;
  std::condition_variable cv;
  GstBuffer *ring[4] = {};
  guint head = 0, count = 0;
  bool done = false;
  void push (GstBuffer *b)
  {
    std::unique_lock<std::mutex> lk (lock);
    cv.wait (lk, [&] { return count < 4; });
    ring[(head + count++) % 4] = b;
    cv.notify_all ();
  }
  GstBuffer *pop ()
  {
    std::unique_lock<std::mutex> lk (lock);
    cv.wait (lk, [&] { return count > 0 || done; });
    if (count == 0)
      return nullptr;
    GstBuffer *b = ring[head];
    head = (head + 1) % 4;
    count--;
    cv.notify_all ();
    return b;
  }
};

GST_START_TEST (test_no_malloc_two_threads)
{
  /* producer acquires, consumer releases: the release path runs on another
   * thread and both wait on each other (pool exhaustion and the queue) */
  GstCaps *caps = gst_caps_new_empty_simple ("application/octet-stream");
  GstBufferPool *pool = make_pool (caps, 65536, 3, 3, nullptr, false, true);
  for (int round = 0; round < 2; round++) {
    Handover q;
    const guint n = round == 0 ? 2000 : 30000;
    std::atomic<guint64> consumer_allocs{ 0 }, consumer_frees{ 0 };
    std::thread consumer ([&] {
      Counted c = counted ([&] {
        while (GstBuffer *b = q.pop ())
          gst_buffer_unref (b);
      });
      consumer_allocs = c.allocs;
      consumer_frees = c.frees;
    });
    bool ok = true;
    Counted p = counted ([&] {
      for (guint i = 0; i < n; i++) {
        GstBuffer *b = nullptr;
        if (gst_buffer_pool_acquire_buffer (pool, &b, nullptr) != GST_FLOW_OK) {
          ok = false;
          break;
        }
        q.push (b);
      }
    });
    fail_unless (ok, "an acquire failed");
    {
      std::lock_guard<std::mutex> lk (q.lock);
      q.done = true;
    }
    q.cv.notify_all ();
    consumer.join ();
    if (round == 0)
      continue; /* warm-up */
    g_print ("two threads, %u buffers: producer %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
             ", consumer %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " allocations/frees\n",
             n, p.allocs, p.frees, consumer_allocs.load (), consumer_frees.load ());
    fail_unless_equals_uint64 (p.allocs, 0);
    fail_unless_equals_uint64 (p.frees, 0);
    fail_unless_equals_uint64 (consumer_allocs.load (), 0);
    fail_unless_equals_uint64 (consumer_frees.load (), 0);
  }
  fail_unless_equals_uint64 (stat_u64 (pool, "acquires"), 32000);
  fail_unless_equals_uint64 (stat_u64 (pool, "releases"), 32000);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
}
GST_END_TEST;

static Suite *
bufferpool_nomalloc_suite (void)
{
  Suite *s = suite_create ("dmakit-bufferpool-nomalloc");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_interposer_counts);
  tcase_add_test (tc, test_no_malloc_single_thread);
  tcase_add_test (tc, test_no_malloc_two_threads);
  return s;
}

int
main (int argc, char **argv)
{
#ifdef DMAKIT_SANITIZED
  (void) argc;
  (void) argv;
  (void) bufferpool_nomalloc_suite;
  g_print ("SKIP: built with a sanitizer that owns malloc; the allocation counter needs the "
           "plain allocator\n");
  return 77;
#else
  if (g_strcmp0 (g_getenv ("G_SLICE"), "always-malloc") != 0) {
    /* GLib reads G_SLICE when it loads: set it and start again */
    setenv ("G_SLICE", "always-malloc", 1);
    execv ("/proc/self/exe", argv);
    g_printerr ("re-exec with G_SLICE=always-malloc failed: %s\n", g_strerror (errno));
    return 1;
  }
  {
    /* valgrind replaces malloc even in the executable: then nothing reaches
     * us and counting is impossible. Anywhere else an interposer that sees
     * nothing is a failure (test_interposer_counts). */
    const gchar *preload = g_getenv ("LD_PRELOAD");
    const guint64 before = g_allocs.load ();
    t_counting = true;
    gpointer probe = g_malloc (8); /* through libglib's PLT, like everyone else */
    t_counting = false;
    g_free (probe);
    if (g_allocs.load () == before && preload && strstr (preload, "vgpreload")) {
      g_print ("SKIP: running under valgrind, which owns malloc; the allocation counter "
               "cannot see anything here\n");
      return 77;
    }
  }
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (bufferpool_nomalloc_suite (), "dmakit-bufferpool-nomalloc",
                              __FILE__);
#endif
}
