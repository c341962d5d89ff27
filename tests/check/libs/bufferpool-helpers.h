/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bufferpool-helpers.h: shared by the GstDmakitBufferPool tests.
 *
 *  - CountingAllocator: a real system-memory allocator (g_malloc'ed data) that
 *    counts live memories, records which threads allocated, and can be told to
 *    refuse allocations after N, to refuse the next N, or to take a while
 *    (delay_us): lets tests prove "nothing leaked", "the acquiring thread
 *    never allocated", "activation fails early" and "a failed allocation
 *    wakes the acquirers that waited for it".
 *  - LogCapture: collects GStreamer debug lines of one category at WARNING and
 *    ERROR level so tests can assert what the pool told the user.
 *  - small helpers: stats getters, waiting for a condition with a deadline.
 */
#ifndef DMAKIT_TESTS_BUFFERPOOL_HELPERS_H
#define DMAKIT_TESTS_BUFFERPOOL_HELPERS_H

#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>

#include <atomic>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <set>
#include <string>
#include <vector>

/* ---- CountingAllocator ------------------------------------------------------- */

struct CountingMemory {
  GstMemory mem;
  guint8 *raw; /* g_malloc'ed block (NULL for shares) */
  guint8 *data;
};

struct CountingAllocator {
  GstAllocator parent;
  std::atomic<gint64> live;
  std::atomic<gint64> total;
  std::atomic<gint64> fail_after; /* refuse allocations once total reaches this (-1: never) */
  std::atomic<gint64> fail_next;  /* refuse this many of the next allocations */
  std::atomic<gint64> delay_us;   /* each allocation first sleeps this long */
  std::atomic<gint64> calls;      /* allocations begun (counted before the delay) */
  std::mutex lock;
  std::set<GThread *> *threads;
};
struct CountingAllocatorClass {
  GstAllocatorClass parent_class;
};

GType counting_allocator_get_type (void);
G_DEFINE_TYPE (CountingAllocator, counting_allocator, GST_TYPE_ALLOCATOR)

static GstMemory *
counting_mem_new (GstAllocator *allocator, GstMemory *parent, guint8 *raw, guint8 *data,
                  gsize maxsize, gsize align, gsize offset, gsize size, GstMemoryFlags flags)
{
  CountingMemory *m = g_new0 (CountingMemory, 1);
  gst_memory_init (GST_MEMORY_CAST (m), flags, allocator, parent, maxsize, align, offset, size);
  m->raw = raw;
  m->data = data;
  return GST_MEMORY_CAST (m);
}

static GstMemory *
counting_alloc (GstAllocator *allocator, gsize size, GstAllocationParams *params)
{
  CountingAllocator *self = reinterpret_cast<CountingAllocator *> (allocator);
  self->calls.fetch_add (1);
  if (const gint64 us = self->delay_us.load ())
    g_usleep (gulong (us));
  gint64 refuse = self->fail_next.load ();
  while (refuse > 0 && !self->fail_next.compare_exchange_weak (refuse, refuse - 1)) {
  }
  if (refuse > 0)
    return nullptr;
  const gint64 n = self->total.fetch_add (1);
  const gint64 limit = self->fail_after.load ();
  if (limit >= 0 && n >= limit) {
    self->total.fetch_sub (1);
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lk (self->lock);
    self->threads->insert (g_thread_self ());
  }
  GstAllocationParams p;
  if (params)
    p = *params;
  else
    gst_allocation_params_init (&p);
  const gsize maxsize = size + p.prefix + p.padding;
  guint8 *raw = static_cast<guint8 *> (g_malloc0 (maxsize + p.align + 1));
  guint8 *data = reinterpret_cast<guint8 *> (
      (reinterpret_cast<guintptr> (raw) + p.align) & ~guintptr (p.align));
  self->live.fetch_add (1);
  return counting_mem_new (allocator, nullptr, raw, data, maxsize, p.align, p.prefix, size,
                           p.flags);
}

static void
counting_free (GstAllocator *allocator, GstMemory *mem)
{
  CountingAllocator *self = reinterpret_cast<CountingAllocator *> (allocator);
  CountingMemory *m = reinterpret_cast<CountingMemory *> (mem);
  if (!mem->parent) {
    g_free (m->raw);
    self->live.fetch_sub (1);
  }
  g_free (m);
}

static gpointer
counting_map (GstMemory *mem, gsize, GstMapFlags)
{
  return reinterpret_cast<CountingMemory *> (mem)->data;
}

static void
counting_unmap (GstMemory *)
{
}

static GstMemory *
counting_share (GstMemory *mem, gssize offset, gssize size)
{
  GstMemory *parent = mem->parent ? mem->parent : mem;
  if (size == -1)
    size = gssize (mem->size) - offset;
  return counting_mem_new (mem->allocator, parent, nullptr,
                           reinterpret_cast<CountingMemory *> (mem)->data, mem->maxsize, mem->align,
                           gsize (gssize (mem->offset) + offset), gsize (size),
                           GstMemoryFlags (GST_MINI_OBJECT_FLAGS (parent) | GST_MINI_OBJECT_FLAG_LOCK_READONLY));
}

static void
counting_allocator_finalize (GObject *object)
{
  CountingAllocator *self = reinterpret_cast<CountingAllocator *> (object);
  delete self->threads;
  G_OBJECT_CLASS (counting_allocator_parent_class)->finalize (object);
}

static void
counting_allocator_class_init (CountingAllocatorClass *klass)
{
  GST_ALLOCATOR_CLASS (klass)->alloc = counting_alloc;
  GST_ALLOCATOR_CLASS (klass)->free = counting_free;
  G_OBJECT_CLASS (klass)->finalize = counting_allocator_finalize;
}

static void
counting_allocator_init (CountingAllocator *self)
{
  GstAllocator *a = GST_ALLOCATOR_CAST (self);
  a->mem_type = "CountingMemory";
  a->mem_map = counting_map;
  a->mem_unmap = counting_unmap;
  a->mem_share = counting_share;
  new (&self->live) std::atomic<gint64> (0);
  new (&self->total) std::atomic<gint64> (0);
  new (&self->fail_after) std::atomic<gint64> (-1);
  new (&self->fail_next) std::atomic<gint64> (0);
  new (&self->delay_us) std::atomic<gint64> (0);
  new (&self->calls) std::atomic<gint64> (0);
  new (&self->lock) std::mutex ();
  self->threads = new std::set<GThread *> ();
}

static inline CountingAllocator *
counting_allocator_new (void)
{
  auto *a = static_cast<CountingAllocator *> (g_object_new (counting_allocator_get_type (), nullptr));
  gst_object_ref_sink (a);
  return a;
}

static inline bool
counting_allocator_used_thread (CountingAllocator *a, GThread *t)
{
  std::lock_guard<std::mutex> lk (a->lock);
  return a->threads->count (t) != 0;
}

static inline void
counting_allocator_forget_threads (CountingAllocator *a)
{
  std::lock_guard<std::mutex> lk (a->lock);
  a->threads->clear ();
}

/* ---- log capture ------------------------------------------------------------------ */
/* Captures what GStreamer's default log function prints (dmakitbufferpool at
 * WARNING and above, or lower once a test raises the threshold) by pointing
 * fd 2 at a memfd while active; log_capture_stop() restores fd 2 and echoes
 * the text there. Not a gst_debug_add_log_function() hook: GStreamer 1.22
 * leaks the previous list on every add/remove (valgrind "definitely lost"). */
struct LogCapture {
  int saved_fd = -1;
  int mem_fd = -1;
  std::string text;
};

static inline void
log_capture_start (LogCapture *cap)
{
  gst_debug_set_active (TRUE);
  gst_debug_set_threshold_for_name ("dmakitbufferpool", GST_LEVEL_WARNING);
  fflush (stderr);
  cap->mem_fd = memfd_create ("dmakit-log-capture", MFD_CLOEXEC);
  fail_unless (cap->mem_fd >= 0);
  cap->saved_fd = dup (2);
  fail_unless (cap->saved_fd >= 0 && dup2 (cap->mem_fd, 2) == 2);
}

static inline void
log_capture_stop (LogCapture *cap)
{
  if (cap->saved_fd < 0)
    return;
  fflush (stderr);
  dup2 (cap->saved_fd, 2);
  close (cap->saved_fd);
  cap->saved_fd = -1;
  char chunk[4096];
  ssize_t n;
  off_t at = 0;
  while ((n = pread (cap->mem_fd, chunk, sizeof chunk, at)) > 0) {
    cap->text.append (chunk, size_t (n));
    at += n;
  }
  close (cap->mem_fd);
  cap->mem_fd = -1;
  if (!cap->text.empty () && write (2, cap->text.data (), cap->text.size ()) < 0)
    g_printerr ("could not echo the captured log\n");
}

/* The first captured line containing every needle, or "". Call after stop. */
static inline std::string
log_capture_find (LogCapture *cap, std::initializer_list<const char *> needles)
{
  size_t begin = 0;
  while (begin < cap->text.size ()) {
    size_t end = cap->text.find ('\n', begin);
    if (end == std::string::npos)
      end = cap->text.size ();
    const std::string line = cap->text.substr (begin, end - begin);
    bool all = true;
    for (const char *n : needles)
      all = all && line.find (n) != std::string::npos;
    if (all)
      return line;
    begin = end + 1;
  }
  return "";
}

/* ---- stats ------------------------------------------------------------------------- */

static inline guint64
stat_u64 (GstBufferPool *pool, const char *field)
{
  GstStructure *s = gst_dmakit_buffer_pool_get_stats (pool);
  guint64 v = G_MAXUINT64;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "stats lack %s", field);
  gst_structure_free (s);
  return v;
}

/* @ms scaled by CK_TIMEOUT_MULTIPLIER (the VM tier sets 4: everything runs
 * 10-15 times slower there). */
static inline guint
scaled_ms (guint ms)
{
  const char *m = g_getenv ("CK_TIMEOUT_MULTIPLIER");
  const guint64 k = m ? g_ascii_strtoull (m, nullptr, 10) : 1;
  return guint (ms * (k ? k : 1));
}

/* Poll @pred every ms until it holds or @timeout_ms passes. */
template <typename F>
static bool
wait_for (F pred, guint timeout_ms = 5000)
{
  const gint64 end = g_get_monotonic_time () + gint64 (timeout_ms) * 1000;
  while (!pred ()) {
    if (g_get_monotonic_time () > end)
      return false;
    g_usleep (1000);
  }
  return true;
}

#endif /* DMAKIT_TESTS_BUFFERPOOL_HELPERS_H */
