/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-private.h (private): the state of a GstDmakitBufferPool and
 * the functions its files share. Not installed.
 *
 * Threading model (details in docs/bufferpool.md):
 *  - Hot path: acquire pops a preallocated buffer from a fixed-capacity
 *    lock-free LIFO (FreeLists: the buffer released last comes back first,
 *    cache-warm); release resets the buffer, finds its id (IdMap) and pushes
 *    it back: one compare-and-swap each, no lock, no allocation, no syscall.
 *    A syscall happens only to wake an acquirer that sleeps on an empty pool.
 *  - Slow paths (empty pool, discards, flushing, config, stats) take
 *    Impl::mutex. Lock order: GST_BUFFER_POOL_LOCK (the base class rec-lock,
 *    held by the base around set_config/start/stop/flush_start/flush_stop)
 *    -> Impl::mutex. Impl::mutex is never held while allocating or freeing a
 *    buffer, posting a message, joining a thread or calling
 *    gst_buffer_pool_is_active().
 *  - A refill thread (created in start(), joined in stop()) allocates buffers
 *    so that the acquiring thread never does, and frees discarded ones so that
 *    the releasing thread never does. Who allocates when no buffer is free
 *    below max: see acquire_slow(); nobody ever waits for a buffer that
 *    nobody is going to produce.
 *
 * Files: gstdmakitbufferpool.cpp (GObject glue, vfuncs, hot paths),
 * dmakit-pool-slow.cpp (waits, timeouts, discards), dmakit-pool-buffers.cpp
 * (allocating, registering and freeing one buffer), dmakit-pool-refill.cpp
 * (the refill thread, start and stop), dmakit-pool-config.cpp (set_config
 * validation, config helpers), dmakit-pool-stats.cpp, dmakit-pool-layout.cpp
 * (plane maths), and the containers dmakit-pool-{freelist,idmap,slots}.h. */
#ifndef DMAKIT_POOL_PRIVATE_H
#define DMAKIT_POOL_PRIVATE_H

#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/video/video.h>

#include "dmakit-pool-freelist.h"
#include "dmakit-pool-idmap.h"
#include "dmakit-pool-slots.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_buffer_pool_debug);
GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_buffer_pool_performance);

/* Config keys stored in the pool's config GstStructure. */
#define DMAKIT_POOL_KEY_LOW_WATERMARK "dmakit-low-watermark"
#define DMAKIT_POOL_KEY_REFILL "dmakit-refill"
#define DMAKIT_POOL_KEY_LOCK_MEMORY "dmakit-lock-memory"
#define DMAKIT_POOL_KEY_ACQUIRE_TIMEOUT "dmakit-acquire-timeout"
#define DMAKIT_POOL_KEY_TIMEOUT_ACTION "dmakit-timeout-action"

namespace dmakit
{
namespace pool
{

/* What one buffer looks like; fixed by set_config. */
struct Layout {
  guint size = 0; /* bytes each buffer exposes */
  GstAllocationParams params{};
  ObjectRef<GstAllocator> allocator;
  std::string describe; /* "dmakit memfd backend (dmakit-memfd, ...)" for messages */
  bool dmakit = false;  /* one of our allocators: lock through its API */
  bool video = false;
  GstVideoInfo vinfo{}; /* final layout (alignment and driver pitch applied) */
  bool add_meta = false;
  bool set_alignment = false;
  GstVideoAlignment align{};
  bool drm = false; /* allocate with gst_dmakit_allocator_alloc_2d */
  guint drm_width = 0, drm_rows = 0, drm_bpp = 0, drm_pitch = 0;
};

struct Settings {
  guint min = 0;
  guint max = 0;
  guint low_watermark = 1;
  bool refill = true;
  bool lock_memory = false;
  GstClockTime timeout = GST_CLOCK_TIME_NONE;
  GstDmakitTimeoutAction action = GST_DMAKIT_TIMEOUT_ACTION_WARN;
};

/* Counters of the slow paths, under Impl::mutex. */
struct Stats {
  guint64 allocations = 0, frees = 0;
  guint64 waits = 0, wait_total_ns = 0, wait_max_ns = 0;
  guint64 exhausted = 0, timeouts = 0, refills = 0, discards = 0, stale = 0;
  guint64 alloc_failures = 0, lock_failures = 0, locked = 0;
  guint64 bytes_held = 0;
};

/* A counter written only under Impl::mutex and read anywhere: a relaxed
 * load + store, no locked instruction. */
struct Counter {
  std::atomic<guint64> v{ 0 };
  guint64 get () const noexcept { return v.load (std::memory_order_relaxed); }
  void add (guint64 n) noexcept { v.store (get () + n, std::memory_order_relaxed); }
};

struct Impl {
  /* Lock order: base rec-lock -> mutex. The mutex guards the slow paths and
   * everything below marked (M); the hot paths use only the stack, the id map
   * and atomics. */
  std::mutex mutex;
  std::condition_variable buffer_cv; /* acquirers: a buffer is free, or flushing */
  std::condition_variable refill_cv; /* refill thread: work to do, or quit */

  FreeLists stack;               /* free buffers; capacity (ids) fixed at set_config */
  IdMap ids;                     /* buffer -> id of every pooled buffer; written under the mutex */
  std::vector<guint32> free_ids; /* (M) ids not held by a buffer nor by an allocation
                                  * in progress; capacity reserved at set_config */

  SlotTable table;                        /* (M) every live buffer of the pool, free or out */
  std::vector<Slot> graveyard;            /* (M) discarded buffers the refill thread frees */
  size_t grave_n = 0;                     /* (M) */
  bool flushing = true;                   /* (M) mirrors the base class' flushing state */
  bool running = false;                   /* (M) between start_pool() and shutdown_pool() */
  bool quit = false;                      /* (M) the refill thread must exit */
  bool inactive_noted = false;            /* (M) */
  bool offset_known = false;              /* (M) */
  bool alloc_warned = false;              /* (M) */
  std::atomic<bool> lock_warned{ false }; /* a refused lock was warned about */
  guint waiters = 0;                /* (M) acquirers waiting for a buffer (sleeping on buffer_cv,
                                     * or about to) */
  bool asked = false;               /* (M) a DONTWAIT acquire found no free buffer below max:
                                     * the refill thread owes one */
  guint pending = 0;                /* (M) allocations in progress outside the mutex */
  guint64 generation = 0;           /* (M) bumped by every accepted config */
  gsize mem_offset = 0;             /* (M) */
  GThread *refill_thread = nullptr; /* (M) */
  Settings set;                     /* (M) written only while nothing is out */
  Layout configured;                /* (M) as set_config accepted it */
  Layout lay;  /* (M) idem, fitted on activation; read without the mutex while started */
  Stats stats; /* (M) */

  /* Written under the mutex, read by the hot paths. Counters of pushes and
   * pops that are not acquires or releases, so that
   *   acquires = stack pops - drained + direct;  releases = stack pushes - other + slow. */
  Counter drained, direct, other_pushes, slow_releases;
  std::atomic<guint64> max_outstanding{ 0 };
  std::atomic<guint> live{ 0 }; /* table.size () */
  std::atomic<bool> flushing_hint{ true };
  std::atomic<bool> refill_idle{ false };
  std::atomic<guint> hot_size{ 0 }, hot_min{ 0 }, hot_max{ 0 }, hot_low_watermark{ 0 };
  std::atomic<gsize> hot_offset{ 0 };

  GWeakRef element;

  Impl () { g_weak_ref_init (&element, nullptr); }
  ~Impl () { g_weak_ref_clear (&element); }

  guint64 acquires () const noexcept { return stack.pops () - drained.get () + direct.get (); }
  guint64 releases () const noexcept
  {
    return stack.pushes () - other_pushes.get () + slow_releases.get ();
  }
  /* (M) An id for a buffer about to be allocated, or kNoId when every id is
   * taken (max-buffers 0 or above kMaxIds: the buffer will be an extra one). */
  guint32 take_id () noexcept
  {
    if (free_ids.empty ())
      return kNoId;
    const guint32 id = free_ids.back ();
    free_ids.pop_back ();
    return id;
  }
  /* (M) capacity reserved at set_config: never allocates */
  void give_id (guint32 id) noexcept
  {
    if (id != kNoId)
      free_ids.push_back (id);
  }
  size_t allocated () const noexcept { return table.size (); }
  bool can_grow () const noexcept { return set.max == 0 || allocated () + pending < set.max; }
  /* (M) Whether the refill thread has work: below max, fewer free buffers
   * (counting those being allocated) than the low watermark, than the
   * acquirers waiting, or than one when a DONTWAIT acquire asked for one.
   * Whoever finds the pool empty below max with refill on counts itself in
   * waiters (or sets asked) before it wakes the refill thread, so this holds
   * for it even with a low watermark of 0. */
  bool refill_needed () const noexcept
  {
    if (!set.refill || flushing || quit || !running || !can_grow () || free_ids.empty ())
      return false;
    if (allocated () + pending < set.min)
      return true;
    const size_t want = std::max<size_t> (
        { size_t (set.low_watermark), size_t (waiters), size_t (asked ? 1 : 0) });
    return stack.size () + pending < want;
  }
  /* (M) Wake the refill thread if it sleeps and has work. */
  void wake_refill_locked () noexcept
  {
    if (refill_idle.load (std::memory_order_relaxed) && refill_needed ()) {
      refill_idle.store (false, std::memory_order_relaxed);
      refill_cv.notify_one ();
    }
  }
  /* (M) Room for @buffers live buffers; only on the allocation path, so the
   * table grows with the buffers actually made (doubling), whatever
   * max-buffers says. False when the memory cannot be had. */
  bool reserve (size_t buffers) noexcept
  {
    if (buffers <= table.capacity () && buffers <= graveyard.size ())
      return true;
    const size_t cap = std::max<size_t> (buffers, std::max<size_t> (table.capacity (), 8) * 2);
    if (!table.reserve (cap))
      return false;
    try {
      graveyard.resize (table.capacity ());
    } catch (...) {
      return false;
    }
    return true;
  }
};

/* Microseconds of g_get_monotonic_time() in nanoseconds. */
inline guint64
monotonic_ns () noexcept
{
  return guint64 (g_get_monotonic_time ()) * 1000;
}

/* dmakit-pool-buffers.cpp */
bool is_dmakit_allocator (GstAllocator *allocator) noexcept;
/* Set lay->dmakit and lay->describe from lay->allocator (none yet: the
 * pool's own, opened on activation). */
void describe_layout (Layout *lay) noexcept;
/* Activation: open the pool's own allocator when the config named none, and
 * fit a video layout on a DRM dumb buffer's pitch (one probe allocation).
 * False (with the errno and what failed) when that cannot be done. */
bool fit_layout (GstDmakitBufferPool *self, Layout *lay, int *err, const gchar **what) noexcept;
GstFlowReturn alloc_one (GstDmakitBufferPool *self, Slot *out) noexcept;
void free_slot (const Slot &slot) noexcept;
bool register_slot (GstDmakitBufferPool *self, Impl &s, Slot &slot) noexcept;
bool unregister_slot (Impl &s, GstBuffer *buf, Slot *out) noexcept;
bool push_other (Impl &s, const Slot &slot) noexcept;
G_GNUC_NO_INLINE void wake_sleepers (Impl &s) noexcept;
G_GNUC_NO_INLINE void kick_refill (Impl &s) noexcept;
guint32 id_capacity (const Settings &set) noexcept;

/* dmakit-pool-refill.cpp */
gboolean start_pool (GstDmakitBufferPool *self) noexcept;
void shutdown_pool (GstDmakitBufferPool *self) noexcept;

/* dmakit-pool-config.cpp: validate @config and, when accepted, apply it. */
gboolean configure (GstDmakitBufferPool *self, GstStructure *config) noexcept;

/* dmakit-pool-slow.cpp */
G_GNUC_NO_INLINE GstFlowReturn acquire_slow (GstDmakitBufferPool *self, GstBuffer **buffer,
                                             GstBufferPoolAcquireParams *params) noexcept;
G_GNUC_NO_INLINE void release_slow (GstDmakitBufferPool *self, GstBuffer *buffer,
                                    const gchar *reason, bool inactive) noexcept;

/* After a buffer left the pool: note the highest outstanding count, and wake
 * the refill thread when it sleeps while the pool runs low. Relaxed loads
 * only, unless one of those changes. Without the mutex. */
inline void
after_acquire (Impl &s) noexcept
{
  const guint live = s.live.load (std::memory_order_relaxed);
  const size_t free_now = s.stack.size ();
  const guint64 out = live > free_now ? live - free_now : 0;
  guint64 max_out = s.max_outstanding.load (std::memory_order_relaxed);
  while (G_UNLIKELY (out > max_out)
         && !s.max_outstanding.compare_exchange_weak (max_out, out, std::memory_order_relaxed)) {
  }
  if (G_UNLIKELY (s.refill_idle.load (std::memory_order_relaxed))) {
    const guint max = s.hot_max.load (std::memory_order_relaxed);
    if ((max == 0 || live < max)
        && (free_now < s.hot_low_watermark.load (std::memory_order_relaxed)
            || live < s.hot_min.load (std::memory_order_relaxed)))
      kick_refill (s);
  }
}

} // namespace pool
} // namespace dmakit

struct _GstDmakitBufferPool {
  GstBufferPool parent;
  dmakit::pool::Impl *impl;
};

struct _GstDmakitBufferPoolClass {
  GstBufferPoolClass parent_class;
};

#define POOL_IMPL(p) (*GST_DMAKIT_BUFFER_POOL (p)->impl)

#endif /* DMAKIT_POOL_PRIVATE_H */
