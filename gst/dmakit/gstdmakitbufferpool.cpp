/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitbufferpool.cpp: GstDmakitBufferPool, a bounded, preallocating,
 * counting GstBufferPool whose acquire/release path takes no heap allocation
 * and makes no syscall in steady state, and which never starves silently.
 *
 * Threading model (details in docs/bufferpool.md):
 *  - Hot path: acquire pops a preallocated buffer from a fixed-capacity
 *    lock-free LIFO stack (FreeStack: the buffer released last comes back
 *    first, cache-warm); release resets the buffer, finds its id (IdMap) and
 *    pushes it back: one compare-and-swap each, no lock, no allocation, no
 *    syscall. A syscall happens only to wake an acquirer that sleeps on an
 *    empty stack.
 *  - Slow paths (empty stack, discards, flushing, config, stats) take
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
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (gst_dmakit_buffer_pool_debug);
#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug
GST_DEBUG_CATEGORY_STATIC (CAT_PERFORMANCE);

/* Config keys stored in the pool's config GstStructure. */
#define KEY_LOW_WATERMARK "dmakit-low-watermark"
#define KEY_REFILL "dmakit-refill"
#define KEY_LOCK_MEMORY "dmakit-lock-memory"
#define KEY_ACQUIRE_TIMEOUT "dmakit-acquire-timeout"
#define KEY_TIMEOUT_ACTION "dmakit-timeout-action"

#define DEFAULT_LOW_WATERMARK 1
#define DEFAULT_REFILL TRUE
#define DEFAULT_LOCK_MEMORY FALSE
#define DEFAULT_ACQUIRE_TIMEOUT GST_CLOCK_TIME_NONE
#define DEFAULT_TIMEOUT_ACTION GST_DMAKIT_TIMEOUT_ACTION_WARN

/* GstMiniObject::lockstate layout (gstminiobject.c, unchanged since 1.0): bits
 * 0..7 are the access flags of the current locks, bits 8..15 count the locks
 * (maps) held, bits 16.. count the exclusive holders (buffers sharing the
 * memory). A memory is exclusively ours with one holder and no lock. */
#define DMAKIT_LOCKSTATE_LOCK_MASK 0xff00
#define DMAKIT_LOCKSTATE_SHARE_SHIFT 16

namespace {

using dmakit::GCharPtr;
using dmakit::ObjectRef;
using Clock = std::chrono::steady_clock;

guint64
monotonic_ns () noexcept
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return guint64 (ts.tv_sec) * 1000000000ull + guint64 (ts.tv_nsec);
}

/* Buffer ids: each pooled buffer gets a small id (its node in FreeStack)
 * when it is registered, and keeps it until it is freed. */
constexpr guint32 kNoId = G_MAXUINT32;
constexpr guint32 kMaxIds = 0x7fff; /* 15 bits of FreeStack's top word */

/* One buffer the pool owns, whether free or out. */
struct Slot {
  GstBuffer *buf = nullptr;
  guint64 generation = 0;
  gsize bytes = 0;           /* maxsize of its memory: what it costs */
  guint8 *unlock_addr = nullptr; /* pages we mlock()ed ourselves and must munlock */
  gsize unlock_len = 0;
  guint32 id = kNoId; /* its node in the free stack; kNoId for an extra buffer
                       * beyond the stack's capacity */
  bool locked = false;
};

/* Open-addressing hash table of Slots keyed by buffer pointer (linear probing,
 * backward-shift deletion). Its capacity changes only in reserve(), which the
 * pool calls on the allocation path; find/insert/take never allocate. */
class SlotTable
{
public:
  /* False (and nothing changed) when the memory cannot be had. */
  bool reserve (size_t entries) noexcept
  {
    size_t want = 16;
    while (want < entries * 2) {
      if (want > SIZE_MAX / 4 / sizeof (Slot))
        return false;
      want *= 2;
    }
    if (want <= slots_.size ())
      return true;
    std::vector<Slot> old;
    try {
      old.resize (want);
    } catch (...) {
      return false;
    }
    old.swap (slots_);
    mask_ = want - 1;
    size_ = 0;
    for (const Slot &s : old)
      if (s.buf)
        insert (s);
    return true;
  }
  size_t capacity () const noexcept { return slots_.size () / 2; }
  size_t size () const noexcept { return size_; }

  Slot *find (GstBuffer *buf) noexcept
  {
    if (slots_.empty ())
      return nullptr;
    for (size_t i = hash (buf) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].buf == buf)
        return &slots_[i];
      if (!slots_[i].buf)
        return nullptr;
    }
  }
  /* Requires size() < capacity(). */
  void insert (const Slot &slot) noexcept
  {
    size_t i = hash (slot.buf) & mask_;
    while (slots_[i].buf)
      i = (i + 1) & mask_;
    slots_[i] = slot;
    size_++;
  }
  bool take (GstBuffer *buf, Slot *out) noexcept
  {
    Slot *s = find (buf);
    if (!s)
      return false;
    *out = *s;
    size_t i = size_t (s - slots_.data ());
    for (size_t j = (i + 1) & mask_; slots_[j].buf; j = (j + 1) & mask_) {
      const size_t home = hash (slots_[j].buf) & mask_;
      /* leave j where it is when its home lies cyclically in (i, j] */
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays)
        continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot ();
    size_--;
    return true;
  }
  template <typename F> void for_each (F &&f) const
  {
    for (const Slot &s : slots_)
      if (s.buf)
        f (s);
  }

private:
  static size_t hash (const GstBuffer *buf) noexcept
  {
    guint64 v = guint64 (reinterpret_cast<uintptr_t> (buf));
    v ^= v >> 29;
    v *= 0x9e3779b97f4a7c15ull;
    return size_t (v >> 24);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

/* Bounded lock-free LIFO of free buffers: a Treiber stack over a fixed array
 * of nodes indexed by buffer id, so a push or a pop is one compare-and-swap on
 * one 64-bit word: no lock, no allocation, no syscall. LIFO hands out the
 * buffer released last, whose memory is the most likely to still be in the
 * CPU caches.
 *
 * The top word: bit 0 sleeper flag | bits 1-15 head (id + 1, 0 = empty) |
 * bits 16-31 size | bits 32-63 tag = pushes mod 2^32.
 *
 * ABA: only a push changes the tag. A pop's CAS succeeds only when the word
 * is unchanged since it read it and next[head]; then no push happened in
 * between, hence no pop either (only a push could have made the head it read
 * the head again), so next[head] is still right. (A thread would have to
 * stall for exactly 2^32 pushes to be fooled.)
 *
 * The sleeper flag: a waiter sets it (fetch_or) before sleeping; the push
 * whose CAS clears it must wake the sleepers. Both are read-modify-writes of
 * the same word, so one sees the other: either the push sees the flag, or
 * the waiter sees the stack non-empty and does not sleep.
 *
 * Counting: the tag counts pushes; a half-wrap counter extends it to 64 bits;
 * pops = pushes - size. So the stack doubles as the acquire/release counters
 * without another atomic. */
struct FreeNode {
  std::atomic<guint32> next{ 0 }; /* id + 1 of the buffer below, 0 */
  GstBuffer *buf = nullptr;       /* written under the mutex before the first push */
};

class FreeStack
{
public:
  /* Only while nobody pushes or pops; the stack must be empty. Keeps the
   * counters running. */
  void init (FreeNode *nodes) noexcept
  {
    nodes_ = nodes;
    const guint64 w = top_.load (std::memory_order_relaxed);
    top_.store (make (0, 0, tag_of (w), false), std::memory_order_relaxed);
  }

  /* Each id is in the stacks at most once, so there is always room. *wake
   * tells whether a sleeper asked to be woken. */
  void push (guint32 id, bool *wake) noexcept
  {
    guint64 w = top_.load (std::memory_order_relaxed);
    for (;;) {
      nodes_[id].next.store (head_of (w), std::memory_order_relaxed);
      const guint32 tag = tag_of (w) + 1;
      if (top_.compare_exchange_weak (w, make (id + 1, size_of (w) + 1, tag, false),
                                      std::memory_order_release, std::memory_order_relaxed)) {
        if (G_UNLIKELY ((tag & 0x7fffffffu) == 0))
          half_wraps_.fetch_add (1, std::memory_order_release);
        *wake = (w & kFlag) != 0;
        return;
      }
    }
  }
  /* nullptr when empty. */
  GstBuffer *pop () noexcept
  {
    guint64 w = top_.load (std::memory_order_acquire);
    for (;;) {
      const guint32 head = head_of (w);
      if (head == 0)
        return nullptr;
      const FreeNode &node = nodes_[head - 1];
      const guint32 next = node.next.load (std::memory_order_relaxed);
      if (top_.compare_exchange_weak (w, make (next, size_of (w) - 1, tag_of (w), w & kFlag),
                                      std::memory_order_acquire, std::memory_order_acquire))
        return node.buf;
    }
  }
  /* Set the sleeper flag; true when the stack was not empty at that moment
   * (then do not sleep: pop again). */
  bool announce_waiter () noexcept
  {
    return head_of (top_.fetch_or (kFlag, std::memory_order_acq_rel)) != 0;
  }

  void counts (guint64 *pushes, guint64 *pops) const noexcept
  {
    guint64 halves = half_wraps_.load (std::memory_order_acquire);
    const guint64 w = top_.load (std::memory_order_acquire);
    const guint32 tag = tag_of (w);
    /* half_wraps_ counts the tag's crossings of 0 and 2^31 and may lag the
     * word by one crossing (bumped after the CAS; read first), which the
     * tag's top bit reveals */
    if ((halves & 1) != (tag >> 31))
      halves++;
    *pushes = ((halves >> 1) << 32) | tag;
    *pops = *pushes - size_of (w);
  }
  /* Buffers in the stack, exact at the moment of the load. */
  size_t size () const noexcept { return size_of (top_.load (std::memory_order_relaxed)); }

private:
  static constexpr guint64 kFlag = 1;
  static guint32 head_of (guint64 w) noexcept { return guint32 (w >> 1) & 0x7fffu; }
  static guint32 size_of (guint64 w) noexcept { return guint32 (w >> 16) & 0xffffu; }
  static guint32 tag_of (guint64 w) noexcept { return guint32 (w >> 32); }
  static guint64 make (guint32 head, guint32 size, guint32 tag, guint64 flag) noexcept
  {
    return (guint64 (tag) << 32) | (guint64 (size) << 16) | (guint64 (head) << 1) | (flag & kFlag);
  }

  FreeNode *nodes_ = nullptr; /* by id, owned by FreeLists */
  alignas (64) std::atomic<guint64> top_{ 0 };
  std::atomic<guint64> half_wraps_{ 0 };
};

/* The free buffers: two FreeStacks over one node array. Released buffers go
 * on `released`, buffers the pool made itself (preallocated, refilled) on
 * `spares`; an acquire takes from `released` first. So a buffer released is
 * the next one acquired, even when the refill thread adds a spare in
 * between (last in, first out holds for releases), and spares are used only
 * when no released buffer is free. Each id is in at most one of them. */
class FreeLists
{
public:
  /* Nodes for @capacity ids (clamped to 1..kMaxIds), or nullptr without memory. */
  static std::unique_ptr<FreeNode[]> make_nodes (guint32 *capacity) noexcept
  {
    *capacity = std::max<guint32> (1, std::min (*capacity, kMaxIds));
    return std::unique_ptr<FreeNode[]> (new (std::nothrow) FreeNode[*capacity]);
  }
  /* Only while nobody pushes or pops; both stacks must be empty. */
  void init (std::unique_ptr<FreeNode[]> nodes, guint32 capacity) noexcept
  {
    nodes_ = std::move (nodes);
    capacity_ = capacity;
    released_.init (nodes_.get ());
    spares_.init (nodes_.get ());
  }
  guint32 capacity () const noexcept { return capacity_; }

  /* (M) Before the first push of @id. */
  void set_buffer (guint32 id, GstBuffer *buf) noexcept { nodes_[id].buf = buf; }

  /* A release: on top of everything an acquire sees first. */
  void push (guint32 id, bool *wake) noexcept { released_.push (id, wake); }
  /* A buffer the pool made: below every released one. */
  void push_spare (guint32 id, bool *wake) noexcept { spares_.push (id, wake); }
  GstBuffer *pop () noexcept
  {
    GstBuffer *buf = released_.pop ();
    return G_LIKELY (buf) ? buf : spares_.pop ();
  }
  /* Set the sleeper flag on both; true when one was not empty (then do not
   * sleep: pop again). A push to either sees the flag, or we see its buffer. */
  bool announce_waiter () noexcept
  {
    return released_.announce_waiter () || spares_.announce_waiter ();
  }

  guint64 pushes () const noexcept
  {
    guint64 pushes, pops;
    counts (&pushes, &pops);
    return pushes;
  }
  guint64 pops () const noexcept
  {
    guint64 pushes, pops;
    counts (&pushes, &pops);
    return pops;
  }
  size_t size () const noexcept { return released_.size () + spares_.size (); }

private:
  void counts (guint64 *pushes, guint64 *pops) const noexcept
  {
    guint64 a_push, a_pop, b_push, b_pop;
    released_.counts (&a_push, &a_pop);
    spares_.counts (&b_push, &b_pop);
    *pushes = a_push + b_push;
    *pops = a_pop + b_pop;
  }
  std::unique_ptr<FreeNode[]> nodes_; /* by id */
  guint32 capacity_ = 0;
  FreeStack released_;
  FreeStack spares_;
};

/* Buffer -> id, looked up on the release hot path without a lock; written
 * only under Impl::mutex. Open addressing with linear probing, at most half
 * full. An insert only fills an empty cell, which ends no other key's probe
 * sequence, so readers need not care. A deletion shifts entries back, so it
 * runs inside a sequence count (a seqlock): a reader that overlapped one
 * returns kNoId and the caller takes the slow path, which never spins. */
class IdMap
{
public:
  /* Only while nobody looks up. */
  struct Cell;
  /* Cells for @ids ids, or nullptr without memory. */
  static std::unique_ptr<Cell[]> make_cells (guint32 ids, size_t *n) noexcept
  {
    *n = 16;
    while (*n < 2 * size_t (ids))
      *n <<= 1;
    return std::unique_ptr<Cell[]> (new (std::nothrow) Cell[*n]);
  }
  /* Only while nobody looks up. */
  void init (std::unique_ptr<Cell[]> cells, size_t n) noexcept
  {
    cells_ = std::move (cells);
    mask_ = n - 1;
  }
  /* (M) @buf is not in the map; fewer than half the cells are used. */
  void insert (GstBuffer *buf, guint32 id) noexcept
  {
    size_t i = hash (buf) & mask_;
    while (cells_[i].key.load (std::memory_order_relaxed))
      i = (i + 1) & mask_;
    cells_[i].id.store (id, std::memory_order_relaxed);
    cells_[i].key.store (buf, std::memory_order_release);
  }
  /* (M) */
  void erase (GstBuffer *buf) noexcept
  {
    size_t i = hash (buf) & mask_;
    for (;; i = (i + 1) & mask_) {
      GstBuffer *k = cells_[i].key.load (std::memory_order_relaxed);
      if (!k)
        return;
      if (k == buf)
        break;
    }
    /* A seqlock without fences (ThreadSanitizer does not model them): the
     * writes below are release stores, the reader's loads acquire loads, so a
     * reader that sees any of them sees the odd count in its second read. */
    const guint32 seq = seq_.load (std::memory_order_relaxed);
    seq_.store (seq + 1, std::memory_order_relaxed);
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      GstBuffer *k = cells_[j].key.load (std::memory_order_relaxed);
      if (!k)
        break;
      const size_t home = hash (k) & mask_;
      /* leave j where it is when its home lies cyclically in (i, j] */
      if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
        continue;
      cells_[i].id.store (cells_[j].id.load (std::memory_order_relaxed), std::memory_order_release);
      cells_[i].key.store (k, std::memory_order_release);
      i = j;
    }
    cells_[i].key.store (nullptr, std::memory_order_release);
    cells_[i].id.store (kNoId, std::memory_order_release);
    seq_.store (seq + 2, std::memory_order_release);
  }
  /* Any thread. kNoId when @buf is not there, or a deletion ran meanwhile. */
  guint32 lookup (GstBuffer *buf) const noexcept
  {
    if (G_UNLIKELY (!cells_))
      return kNoId;
    const guint32 seq = seq_.load (std::memory_order_acquire);
    guint32 id = kNoId;
    for (size_t i = hash (buf) & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, n++) {
      GstBuffer *k = cells_[i].key.load (std::memory_order_acquire);
      if (k == buf) {
        id = cells_[i].id.load (std::memory_order_acquire);
        break;
      }
      if (!k)
        break;
    }
    if (G_UNLIKELY ((seq & 1) || seq_.load (std::memory_order_relaxed) != seq))
      return kNoId;
    return id;
  }

  struct Cell {
    std::atomic<GstBuffer *> key{ nullptr };
    std::atomic<guint32> id{ kNoId };
  };

private:
  static size_t hash (const GstBuffer *buf) noexcept
  {
    const guint64 v = guint64 (reinterpret_cast<uintptr_t> (buf)) * 0x9e3779b97f4a7c15ull;
    return size_t (v >> 32);
  }
  std::unique_ptr<Cell[]> cells_;
  size_t mask_ = 0;
  std::atomic<guint32> seq_{ 0 };
};

/* What one buffer looks like; fixed by set_config. */
struct Layout {
  guint size = 0; /* bytes each buffer exposes */
  GstAllocationParams params{};
  ObjectRef<GstAllocator> allocator;
  GCharPtr describe; /* "dmakit memfd backend (dmakit-memfd, ...)" for messages */
  bool dmakit = false; /* one of our allocators: lock through its API */
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
  guint low_watermark = DEFAULT_LOW_WATERMARK;
  bool refill = DEFAULT_REFILL;
  bool lock_memory = DEFAULT_LOCK_MEMORY;
  GstClockTime timeout = DEFAULT_ACQUIRE_TIMEOUT;
  GstDmakitTimeoutAction action = DEFAULT_TIMEOUT_ACTION;
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

  FreeLists stack; /* free buffers; capacity (ids) fixed at set_config */
  IdMap ids;       /* buffer -> id of every pooled buffer; written under the mutex */
  std::vector<guint32> free_ids; /* (M) ids not held by a buffer nor by an allocation
                                  * in progress; capacity reserved at set_config */

  SlotTable table;             /* (M) every live buffer of the pool, free or out */
  std::vector<Slot> graveyard; /* (M) discarded buffers the refill thread frees */
  size_t grave_n = 0;          /* (M) */
  bool flushing = true;        /* (M) mirrors the base class' flushing state */
  bool running = false;        /* (M) between start_pool() and shutdown_pool() */
  bool quit = false;           /* (M) the refill thread must exit */
  bool inactive_noted = false; /* (M) */
  bool offset_known = false;   /* (M) */
  bool lock_warned = false, alloc_warned = false; /* (M) */
  guint waiters = 0;           /* (M) acquirers waiting for a buffer (sleeping on buffer_cv,
                                * or about to) */
  bool asked = false;          /* (M) a DONTWAIT acquire found no free buffer below max:
                                * the refill thread owes one */
  guint pending = 0;           /* (M) allocations in progress outside the mutex */
  guint64 generation = 0;      /* (M) bumped by every accepted config */
  gsize mem_offset = 0;        /* (M) */
  GThread *refill_thread = nullptr; /* (M) */
  Settings set;                /* (M) written only while nothing is out */
  Layout lay;                  /* (M) idem; read without the mutex while started */
  Stats stats;                 /* (M) */

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
  bool can_grow () const noexcept
  {
    return set.max == 0 || allocated () + pending < set.max;
  }
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
    const size_t want =
        std::max<size_t> ({ size_t (set.low_watermark), size_t (waiters), size_t (asked ? 1 : 0) });
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

} // namespace

struct _GstDmakitBufferPool {
  GstBufferPool parent;
  Impl *impl;
};

struct _GstDmakitBufferPoolClass {
  GstBufferPoolClass parent_class;
};

G_DEFINE_TYPE (GstDmakitBufferPool, gst_dmakit_buffer_pool, GST_TYPE_BUFFER_POOL)

GType
gst_dmakit_timeout_action_get_type (void)
{
  static gsize type_id = 0;
  static const GEnumValue values[] = {
    /* value_name is what gst-inspect shows next to the nick: a description */
    { GST_DMAKIT_TIMEOUT_ACTION_WARN, "Warn, then keep waiting", "warn" },
    { GST_DMAKIT_TIMEOUT_ACTION_FAIL, "Warn, then fail the acquire", "fail" },
    { 0, nullptr, nullptr },
  };
  if (g_once_init_enter (&type_id)) {
    GType t = g_enum_register_static ("GstDmakitTimeoutAction", values);
    g_once_init_leave (&type_id, t);
  }
  return type_id;
}

#define POOL_IMPL(p) (*GST_DMAKIT_BUFFER_POOL (p)->impl)

/* ---- allocator helpers ---------------------------------------------------- */

static bool
is_dmakit_allocator (GstAllocator *allocator) noexcept
{
  /* both the DMA-BUF allocator and the memfd fallback */
  return allocator && gst_is_dmakit_allocator (allocator);
}

static gchar *
describe_allocator (GstAllocator *allocator) noexcept
{
  if (!allocator)
    return g_strdup ("no allocator");
  const gchar *mem_type = allocator->mem_type ? allocator->mem_type : "unknown";
  if (is_dmakit_allocator (allocator)) {
    GstDmakitBackend backend = gst_dmakit_allocator_get_backend (allocator);
    GEnumClass *klass = static_cast<GEnumClass *> (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
    GEnumValue *v = g_enum_get_value (klass, backend);
    gchar *s = g_strdup_printf ("dmakit %s backend (%s, allocator %s)", v ? v->value_nick : "unknown",
                                mem_type, GST_OBJECT_NAME (allocator));
    g_type_class_unref (klass);
    return s;
  }
  return g_strdup_printf ("%s (allocator %s)", mem_type, GST_OBJECT_NAME (allocator));
}

/* ---- layout ------------------------------------------------------------------ */

/* Planes of @info sorted by offset, with the number of rows (of the plane's own
 * stride) each spans. False when the layout is not a simple planar one. */
static bool
plane_rows (const GstVideoInfo &info, guint order[GST_VIDEO_MAX_PLANES],
            guint rows[GST_VIDEO_MAX_PLANES]) noexcept
{
  const guint n = GST_VIDEO_INFO_N_PLANES (&info);
  for (guint i = 0; i < n; i++)
    order[i] = i;
  std::sort (order, order + n,
             [&info] (guint a, guint b) { return info.offset[a] < info.offset[b]; });
  for (guint k = 0; k < n; k++) {
    const guint p = order[k];
    const gsize end = k + 1 < n ? info.offset[order[k + 1]] : info.size;
    if (info.stride[p] <= 0 || end < info.offset[p])
      return false;
    rows[p] = guint ((end - info.offset[p] + guint (info.stride[p]) - 1) / guint (info.stride[p]));
  }
  return true;
}

/* Relayout @info on a driver @pitch for plane 0, scaling the other planes'
 * strides in proportion (rounded up to 4 bytes when the ratio is not exact,
 * e.g. I420 with an odd width). Returns the new total size, 0 if impossible. */
static gsize
relayout_on_pitch (GstVideoInfo *info, guint pitch) noexcept
{
  guint order[GST_VIDEO_MAX_PLANES], rows[GST_VIDEO_MAX_PLANES];
  if (!plane_rows (*info, order, rows))
    return 0;
  const guint base = guint (info->stride[0]);
  if (pitch < base)
    return 0;
  gsize offset = 0;
  const guint n = GST_VIDEO_INFO_N_PLANES (info);
  gint strides[GST_VIDEO_MAX_PLANES];
  for (guint p = 0; p < n; p++) {
    const guint64 scaled = (guint64 (info->stride[p]) * pitch + base - 1) / base;
    const guint64 stride = p == 0 || (guint64 (info->stride[p]) * pitch) % base == 0
                               ? scaled
                               : (scaled + 3) & ~guint64 (3);
    if (stride > guint64 (G_MAXINT))
      return 0;
    strides[p] = gint (stride);
  }
  for (guint k = 0; k < n; k++) {
    const guint p = order[k];
    info->stride[p] = strides[p];
    info->offset[p] = offset;
    offset += gsize (strides[p]) * rows[p];
  }
  info->size = offset;
  return offset;
}

/* Dumb-buffer geometry for @info: width in pixels of plane 0, rows covering all
 * planes at plane 0's stride, bits per pixel. */
static bool
drm_geometry (const GstVideoInfo &info, guint *width, guint *rows, guint *bpp) noexcept
{
  const GstVideoFormatInfo *finfo = info.finfo;
  if (GST_VIDEO_FORMAT_INFO_IS_TILED (finfo) || GST_VIDEO_FORMAT_INFO_HAS_PALETTE (finfo))
    return false;
  const gint pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
  if (pstride <= 0 || info.stride[0] <= 0 || info.stride[0] % pstride)
    return false;
  /* the plane offsets of an aligned layout with top/left padding do not start
   * at plane boundaries: keep those on the generic path */
  guint order[GST_VIDEO_MAX_PLANES], prow[GST_VIDEO_MAX_PLANES];
  if (!plane_rows (info, order, prow) || info.offset[order[0]] != 0)
    return false;
  *width = guint (info.stride[0] / pstride);
  *bpp = guint (pstride) * 8;
  *rows = guint ((info.size + guint (info.stride[0]) - 1) / guint (info.stride[0]));
  return true;
}

/* ---- buffers ------------------------------------------------------------------ */

static gboolean
mark_meta_pooled (GstBuffer *, GstMeta **meta, gpointer) noexcept
{
  /* GST_META_FLAG_SET does not compile as C++ (int -> enum) */
  (*meta)->flags = GstMetaFlags ((*meta)->flags | GST_META_FLAG_POOLED | GST_META_FLAG_LOCKED);
  return TRUE;
}

static gboolean
remove_meta_unpooled (GstBuffer *buffer, GstMeta **meta, gpointer) noexcept
{
  if (!GST_META_FLAG_IS_SET (*meta, GST_META_FLAG_POOLED)) {
    (*meta)->flags = GstMetaFlags ((*meta)->flags & ~GST_META_FLAG_LOCKED);
    *meta = nullptr;
  }
#if GST_CHECK_VERSION(1, 23, 1)
  else if ((*meta)->info->clear_func) {
    (*meta)->info->clear_func (buffer, *meta);
  }
#else
  (void) buffer;
#endif
  return TRUE;
}

/* mlock the pages of @mem ourselves (memory not from a dmakit allocator). We
 * remember only the pages that lie entirely inside the memory for munlock, so
 * a neighbouring allocation sharing an edge page keeps its lock. */
static bool
lock_pages (GstMemory *mem, Slot *slot, int *err) noexcept
{
  GstMapInfo map;
  if (!gst_memory_map (mem, &map, GST_MAP_READ)) {
    *err = EINVAL;
    return false;
  }
  const uintptr_t page = uintptr_t (sysconf (_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t> (map.data) - mem->offset;
  const uintptr_t end = begin + mem->maxsize;
  const uintptr_t lo = begin & ~(page - 1);
  const uintptr_t hi = (end + page - 1) & ~(page - 1);
  const bool ok = mlock (reinterpret_cast<void *> (lo), hi - lo) == 0;
  *err = ok ? 0 : errno;
  gst_memory_unmap (mem, &map);
  if (ok) {
    const uintptr_t in_lo = (begin + page - 1) & ~(page - 1);
    const uintptr_t in_hi = end & ~(page - 1);
    if (in_hi > in_lo) {
      slot->unlock_addr = reinterpret_cast<guint8 *> (in_lo);
      slot->unlock_len = in_hi - in_lo;
    }
  }
  return ok;
}

/* Allocate one buffer for the current layout. Called without the mutex, by
 * start(), the refill thread, or (refill off) the acquiring thread. */
static GstFlowReturn
alloc_one (GstDmakitBufferPool *self, Slot *out) noexcept
{
  Impl &s = *self->impl;
  const Layout &lay = s.lay; /* stable while the pool is started */
  GstBuffer *buf = nullptr;

  if (lay.drm) {
    guint pitch = 0;
    GstMemory *mem = gst_dmakit_allocator_alloc_2d (lay.allocator.get (), lay.drm_width,
                                                    lay.drm_rows, lay.drm_bpp, &pitch);
    if (!mem)
      return GST_FLOW_ERROR;
    if (pitch != lay.drm_pitch || mem->maxsize < lay.size) {
      GST_WARNING_OBJECT (self, "DRM dumb buffer %ux%u@%u came back with pitch %u (expected %u) "
                          "and %" G_GSIZE_FORMAT " bytes (need %u)",
                          lay.drm_width, lay.drm_rows, lay.drm_bpp, pitch, lay.drm_pitch,
                          mem->maxsize, lay.size);
      gst_memory_unref (mem);
      return GST_FLOW_ERROR;
    }
    if (mem->offset != 0 || mem->size != lay.size)
      gst_memory_resize (mem, -gssize (mem->offset), lay.size);
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, mem);
  } else {
    buf = gst_buffer_new_allocate (lay.allocator.get (), lay.size,
                                   const_cast<GstAllocationParams *> (&lay.params));
    if (!buf)
      return GST_FLOW_ERROR;
  }

  if (lay.add_meta) {
    const GstVideoInfo &vi = lay.vinfo;
    GstVideoMeta *meta = gst_buffer_add_video_meta_full (
        buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT (&vi), GST_VIDEO_INFO_WIDTH (&vi),
        GST_VIDEO_INFO_HEIGHT (&vi), GST_VIDEO_INFO_N_PLANES (&vi),
        const_cast<gsize *> (vi.offset), const_cast<gint *> (vi.stride));
    if (meta && lay.set_alignment)
      gst_video_meta_set_alignment (meta, lay.align);
  }
  /* what the buffer carries now stays; anything added later is dropped on release */
  gst_buffer_foreach_meta (buf, mark_meta_pooled, nullptr);
  GST_BUFFER_FLAG_UNSET (buf, GST_BUFFER_FLAG_TAG_MEMORY);

  Slot slot;
  slot.buf = buf;
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  slot.bytes = mem->maxsize;

  if (s.set.lock_memory) {
    if (lay.dmakit) {
      slot.locked = gst_dmakit_memory_is_locked (mem);
    } else {
      int err = 0;
      slot.locked = lock_pages (mem, &slot, &err);
      if (!slot.locked)
        GST_DEBUG_OBJECT (self, "mlock of %" G_GSIZE_FORMAT " bytes failed: %s", mem->maxsize,
                          g_strerror (err));
    }
  }
  *out = slot;
  return GST_FLOW_OK;
}

/* Free one buffer the pool no longer tracks. Without the mutex. */
static void
free_slot (const Slot &slot) noexcept
{
  if (slot.unlock_addr)
    munlock (slot.unlock_addr, slot.unlock_len);
  /* buffer->pool is NULL here: the unref really frees it */
  gst_buffer_unref (slot.buf);
}

static void
warn_lock_refused (GstDmakitBufferPool *self, Impl &s, guint64 failures) noexcept
{
  struct rlimit rl = {};
  getrlimit (RLIMIT_MEMLOCK, &rl);
  GST_WARNING_OBJECT (self, "lock-memory: the system refused to lock a %u-byte buffer in RAM "
                      "(%" G_GUINT64_FORMAT " refused so far; RLIMIT_MEMLOCK %" G_GUINT64_FORMAT
                      " bytes, CAP_IPC_LOCK lifts it); buffers stay pageable, from %s",
                      s.lay.size, failures, guint64 (rl.rlim_cur), s.lay.describe.get ());
}

/* (M) Register a freshly allocated buffer, with the id (or kNoId) taken for
 * it. Returns false when it does not fit this configuration (offset
 * mismatch) and must be freed; the id is given back. */
static bool
register_slot (GstDmakitBufferPool *self, Impl &s, Slot &slot) noexcept
{
  gsize offset = 0;
  gst_buffer_get_sizes (slot.buf, &offset, nullptr);
  if (!s.offset_known) {
    s.offset_known = true;
    s.mem_offset = offset;
    s.hot_offset.store (offset, std::memory_order_relaxed);
  } else if (offset != s.mem_offset) {
    GST_WARNING_OBJECT (self, "allocator gave memory at offset %" G_GSIZE_FORMAT
                        ", the pool's buffers use %" G_GSIZE_FORMAT, offset, s.mem_offset);
    s.give_id (std::exchange (slot.id, kNoId));
    return false;
  }
  slot.generation = s.generation;
  if (slot.id != kNoId) {
    s.stack.set_buffer (slot.id, slot.buf);
    s.ids.insert (slot.buf, slot.id);
  }
  s.table.insert (slot);
  s.live.store (guint (s.table.size ()), std::memory_order_relaxed);
  s.stats.allocations++;
  s.stats.bytes_held += slot.bytes;
  if (s.set.lock_memory) {
    if (slot.locked) {
      s.stats.locked++;
    } else {
      s.stats.lock_failures++;
      if (!s.lock_warned) {
        s.lock_warned = true;
        warn_lock_refused (self, s, s.stats.lock_failures);
      }
    }
  }
  return true;
}

/* (M) Forget a buffer that is not in the free stack: take it out of the table
 * and the id map, give its id back. False if it is not ours. */
static bool
unregister_slot (Impl &s, GstBuffer *buf, Slot *out) noexcept
{
  if (!s.table.take (buf, out))
    return false;
  if (out->id != kNoId && out->generation == s.generation) {
    /* (the id of a buffer of an older configuration belongs to no stack) */
    s.ids.erase (buf);
    s.give_id (out->id);
  }
  s.live.store (guint (s.table.size ()), std::memory_order_relaxed);
  s.stats.frees++;
  s.stats.bytes_held -= out->bytes;
  if (out->locked)
    s.stats.locked--;
  return true;
}

/* (M) Put a registered buffer that is not a release (preallocated, refilled)
 * in the free stack. False for an extra buffer (no id): the caller frees it. */
static bool
push_other (Impl &s, const Slot &slot) noexcept
{
  if (slot.id == kNoId)
    return false;
  bool wake = false;
  s.stack.push_spare (slot.id, &wake);
  s.other_pushes.add (1);
  if (wake || s.waiters > 0)
    s.buffer_cv.notify_all ();
  return true;
}

/* Wake the acquirers sleeping on an empty stack (a push saw their flag). Taking
 * the mutex first guarantees that whoever set the flag is already waiting. */
static G_GNUC_NO_INLINE void
wake_sleepers (Impl &s) noexcept
{
  {
    std::lock_guard<std::mutex> lk (s.mutex);
  }
  s.buffer_cv.notify_all ();
}

/* Wake the refill thread if it sleeps and has work. Without the mutex. */
static G_GNUC_NO_INLINE void
kick_refill (Impl &s) noexcept
{
  std::lock_guard<std::mutex> lk (s.mutex);
  s.wake_refill_locked ();
}

/* After a buffer left the pool: note the highest outstanding count, and wake
 * the refill thread when it sleeps while the pool runs low. Relaxed loads
 * only, unless one of those changes. Without the mutex. */
static inline void
after_acquire (Impl &s) noexcept
{
  const guint live = s.live.load (std::memory_order_relaxed);
  const size_t free_now = s.stack.size ();
  const guint64 out = live > free_now ? live - free_now : 0;
  guint64 max_out = s.max_outstanding.load (std::memory_order_relaxed);
  while (G_UNLIKELY (out > max_out) &&
         !s.max_outstanding.compare_exchange_weak (max_out, out, std::memory_order_relaxed)) {
  }
  if (G_UNLIKELY (s.refill_idle.load (std::memory_order_relaxed))) {
    const guint max = s.hot_max.load (std::memory_order_relaxed);
    if ((max == 0 || live < max) &&
        (free_now < s.hot_low_watermark.load (std::memory_order_relaxed) ||
         live < s.hot_min.load (std::memory_order_relaxed)))
      kick_refill (s);
  }
}

/* How many buffers the pool tracks in its free stack (ids): max-buffers, or
 * with max-buffers 0 at least 256 (more for a large min or watermark), up to
 * kMaxIds. Buffers beyond it are extras: handed out once, freed on return. */
static guint32
id_capacity (const Settings &set) noexcept
{
  const size_t want = set.max ? size_t (set.max)
                              : std::max<size_t> ({ 256, 2 * size_t (set.min),
                                                    2 * size_t (set.low_watermark) });
  return guint32 (std::min<size_t> (want, kMaxIds));
}

/* ---- refill thread --------------------------------------------------------------- */

static gpointer
refill_thread_main (gpointer data) noexcept
{
  /* No ref on the pool: stop()/finalize join this thread before it goes away. */
  GstDmakitBufferPool *self = static_cast<GstDmakitBufferPool *> (data);
  Impl &s = *self->impl;
  GST_DEBUG_OBJECT (self, "refill thread running");
  std::unique_lock<std::mutex> lk (s.mutex);
  while (!s.quit) {
    if (s.grave_n > 0) {
      Slot dead = s.graveyard[--s.grave_n];
      s.graveyard[s.grave_n] = Slot ();
      lk.unlock ();
      free_slot (dead);
      lk.lock ();
      continue;
    }
    if (s.refill_needed ()) {
      if (!s.reserve (s.allocated () + s.pending + 1)) {
        /* no room to track one more buffer: as if the allocation failed */
        s.stats.alloc_failures++;
        if (!s.alloc_warned) {
          s.alloc_warned = true;
          const size_t allocated = s.allocated ();
          lk.unlock ();
          GST_WARNING_OBJECT (self,
                              "refill: out of memory for the table of %zu buffers; "
                              "retrying every 50 ms",
                              allocated + 1);
          lk.lock ();
        }
        s.refill_cv.wait_for (lk, std::chrono::milliseconds (50));
        continue;
      }
      const guint32 id = s.take_id (); /* refill_needed(): there is one */
      s.pending++;
      lk.unlock ();
      Slot slot;
      const GstFlowReturn ret = alloc_one (self, &slot);
      lk.lock ();
      s.pending--;
      slot.id = id;
      if (ret == GST_FLOW_OK && register_slot (self, s, slot)) {
        push_other (s, slot); /* has an id: always fits */
        s.stats.refills++;
        s.asked = false;
        continue;
      }
      if (ret == GST_FLOW_OK) {
        /* register_slot() gave the id back */
        lk.unlock ();
        free_slot (slot);
        lk.lock ();
      } else {
        s.give_id (id);
      }
      s.stats.alloc_failures++;
      if (!s.alloc_warned) {
        s.alloc_warned = true;
        const size_t allocated = s.allocated ();
        lk.unlock ();
        GST_WARNING_OBJECT (self, "refill: could not allocate a %u-byte buffer from %s "
                            "(%zu allocated); retrying every 50 ms",
                            s.lay.size, s.lay.describe.get (), allocated);
        lk.lock ();
      }
      s.refill_cv.wait_for (lk, std::chrono::milliseconds (50));
      continue;
    }
    s.refill_idle.store (true, std::memory_order_relaxed);
    s.refill_cv.wait (lk);
    s.refill_idle.store (false, std::memory_order_relaxed);
  }
  s.refill_idle.store (false, std::memory_order_relaxed);
  GST_DEBUG_OBJECT (self, "refill thread exiting");
  return nullptr;
}

/* Stop the refill thread and free every buffer the pool holds that is not
 * out. Idempotent. Called from stop(), set_config() and finalize, never with
 * the mutex held. */
static void
shutdown_pool (GstDmakitBufferPool *self) noexcept
{
  Impl &s = *self->impl;
  GThread *thread;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.quit = true;
    s.running = false;
    thread = std::exchange (s.refill_thread, nullptr);
  }
  s.refill_cv.notify_all ();
  if (thread)
    g_thread_join (thread);

  /* one at a time, each freed without the mutex: no container to grow */
  size_t freed = 0, still_out = 0;
  for (;;) {
    Slot dead;
    bool have = false;
    {
      std::lock_guard<std::mutex> lk (s.mutex);
      while (!have) {
        GstBuffer *buf = s.stack.pop ();
        if (!buf)
          break;
        s.drained.add (1);
        have = unregister_slot (s, buf, &dead);
      }
      if (!have && s.grave_n > 0) {
        dead = s.graveyard[--s.grave_n];
        s.graveyard[s.grave_n] = Slot ();
        have = true;
      }
      if (!have)
        still_out = s.table.size ();
    }
    if (!have)
      break;
    free_slot (dead);
    freed++;
  }
  if (freed)
    GST_DEBUG_OBJECT (self, "freed %zu buffers", freed);
  if (still_out)
    GST_WARNING_OBJECT (self, "%zu buffers still out after shutdown; each is freed when it "
                        "comes back", still_out);
}

/* A failed activation: log it, and post an error naming the pool, the buffer
 * size, the count and the errno on the pool's element (set_element() or the
 * parent), the way GST_ELEMENT_ERROR would. Without the mutex (the base
 * class holds its own lock around start()). */
static void
report_activation_failure (GstDmakitBufferPool *self, guint count, guint done, int err,
                           const gchar *what) noexcept
{
  Impl &s = *self->impl;
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  const guint size = s.lay.size;
  const gchar *reason = err ? g_strerror (err) : "the allocator gave no reason";
  struct rlimit nofile = {};
  getrlimit (RLIMIT_NOFILE, &nofile);
  gchar *debug = g_strdup_printf (
      "pool %s: could not preallocate %u buffers of %u bytes from %s: buffer %u of %u failed "
      "(%s): %s (errno %d); RLIMIT_NOFILE %" G_GUINT64_FORMAT,
      name, count, size, s.lay.describe.get (), done + 1, count, what, reason, err,
      guint64 (nofile.rlim_cur));
  GST_ERROR_OBJECT (self, "activation failed: %s", debug);
  ObjectRef<GstElement> element
      = ObjectRef<GstElement>::adopt (gst_dmakit_buffer_pool_get_element (GST_BUFFER_POOL (self)));
  if (element) {
    const gint code = err == ENOMEM || err == EMFILE || err == ENFILE || err == ENOSPC
                          ? GST_RESOURCE_ERROR_NO_SPACE_LEFT
                          : GST_RESOURCE_ERROR_FAILED;
    GError *gerr = g_error_new (GST_RESOURCE_ERROR, code,
                                "Buffer pool %s could not allocate %u buffers of %u bytes: "
                                "buffer %u failed: %s",
                                name, count, size, done + 1, reason);
    GstMessage *msg = gst_message_new_error (GST_OBJECT (element.get ()), gerr, debug);
    gst_element_post_message (element.get (), msg);
    g_error_free (gerr);
  }
  g_free (debug);
  g_free (name);
}

/* Preallocate min buffers and start the refill thread. */
static gboolean
start_pool (GstDmakitBufferPool *self) noexcept
{
  Impl &s = *self->impl;
  Settings set;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    set = s.set;
  }

  if (set.lock_memory && s.lay.dmakit)
    gst_dmakit_allocator_set_lock_memory (s.lay.allocator.get (), TRUE);

  /* Each buffer is registered as soon as it is made: the table grows with
   * the buffers actually allocated, and nothing else is collected. */
  for (guint i = 0; i < set.min; i++) {
    Slot slot;
    errno = 0;
    if (alloc_one (self, &slot) != GST_FLOW_OK) {
      const int err = errno;
      shutdown_pool (self);
      report_activation_failure (self, set.min, i, err, "allocation failed");
      return FALSE;
    }
    bool kept = false, room = true;
    {
      std::lock_guard<std::mutex> lk (s.mutex);
      room = s.reserve (s.table.size () + 1);
      if (room) {
        slot.id = s.take_id ();
        if (register_slot (self, s, slot)) {
          kept = push_other (s, slot);
          if (!kept) {
            Slot gone;
            unregister_slot (s, slot.buf, &gone);
          }
        }
      }
    }
    if (!kept)
      free_slot (slot);
    if (!room) {
      shutdown_pool (self);
      report_activation_failure (self, set.min, i, ENOMEM, "no memory to track the buffer");
      return FALSE;
    }
  }

  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.quit = false;
    s.running = true;
    s.inactive_noted = false;
    s.asked = false;
    s.lock_warned = false;
    s.alloc_warned = false;
  }

  if (set.refill) {
    GError *err = nullptr;
    GThread *thread = g_thread_try_new ("dmakit-refill", refill_thread_main, self, &err);
    if (!thread) {
      GST_ERROR_OBJECT (self, "activation failed: could not start the refill thread: %s",
                        err ? err->message : "unknown error");
      g_clear_error (&err);
      shutdown_pool (self);
      report_activation_failure (self, set.min, set.min, EAGAIN,
                                 "could not start the refill thread");
      return FALSE;
    }
    std::lock_guard<std::mutex> lk (s.mutex);
    s.refill_thread = thread;
  }
  GST_DEBUG_OBJECT (self, "started: %u buffers of %u bytes from %s, max %u, refill %s, "
                    "low watermark %u",
                    set.min, s.lay.size, s.lay.describe.get (), set.max,
                    set.refill ? "on" : "off", set.low_watermark);
  return TRUE;
}

/* ---- vfuncs ------------------------------------------------------------------- */

static const gchar **
gst_dmakit_buffer_pool_get_options (GstBufferPool *) noexcept
{
  static const gchar *options[] = {
    GST_BUFFER_POOL_OPTION_VIDEO_META,
    GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT,
    nullptr,
  };
  return options;
}

/* Whether @v is an alignment mask (2^n - 1), as gst_allocator_alloc() requires. */
static bool
is_align_mask (guint64 v) noexcept
{
  return ((v + 1) & v) == 0;
}

/* The alignment mask nearest to @v; a tie goes to the larger one, which
 * honours the request. */
static guint64
nearest_align_mask (guint64 v) noexcept
{
  guint64 hi = v;
  for (guint shift = 1; shift < 64; shift <<= 1)
    hi |= hi >> shift;
  const guint64 lo = hi >> 1;
  return v - lo < hi - v ? lo : hi;
}

static bool
caps_are_raw_video (const GstCaps *caps) noexcept
{
  if (!caps || gst_caps_get_size (caps) == 0)
    return false;
  const GstStructure *st = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (st, "video/x-raw");
}

static void
remove_option (GstStructure *config, const gchar *option) noexcept
{
  const GValue *opts = gst_structure_get_value (config, "options");
  if (!opts || !GST_VALUE_HOLDS_ARRAY (opts))
    return;
  GValue kept = G_VALUE_INIT;
  g_value_init (&kept, GST_TYPE_ARRAY);
  for (guint i = 0; i < gst_value_array_get_size (opts); i++) {
    const GValue *v = gst_value_array_get_value (opts, i);
    if (G_VALUE_HOLDS_STRING (v) && g_strcmp0 (g_value_get_string (v), option) == 0)
      continue;
    gst_value_array_append_value (&kept, v);
  }
  gst_structure_take_value (config, "options", &kept);
}

static gboolean
gst_dmakit_buffer_pool_set_config (GstBufferPool *pool, GstStructure *config) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (pool);
  Impl &s = *self->impl;

  GstCaps *caps = nullptr;
  guint size = 0, min = 0, max = 0;
  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max)) {
    GST_WARNING_OBJECT (self, "config lacks size, min-buffers or max-buffers: %" GST_PTR_FORMAT,
                        config);
    return FALSE;
  }
  GstAllocator *allocator = nullptr;
  GstAllocationParams params;
  gst_buffer_pool_config_get_allocator (config, &allocator, &params);

  /* we edit caps/allocator in the proposal: keep our own references */
  dmakit::CapsRef caps_ref = dmakit::CapsRef::ref (caps);
  ObjectRef<GstAllocator> alloc_ref = ObjectRef<GstAllocator>::ref (allocator);
  bool valid = true;
  bool allocator_changed = false;

  if (max != 0 && min > max) {
    GST_WARNING_OBJECT (self, "invalid config: min-buffers %u > max-buffers %u; proposing "
                        "max-buffers %u", min, max, min);
    max = min;
    valid = false;
  }

  if (min > kMaxIds) {
    /* the free stack holds at most kMaxIds buffers: more preallocated ones
     * would be freed at once */
    GST_WARNING_OBJECT (self,
                        "invalid config: min-buffers %u is more than the %u buffers the "
                        "pool can keep; proposing min-buffers %u",
                        min, kMaxIds, kMaxIds);
    min = kMaxIds;
    valid = false;
  }

  if (!is_align_mask (params.align)) {
    const gsize fixed = gsize (nearest_align_mask (params.align));
    GST_WARNING_OBJECT (self,
                        "invalid config: allocation alignment %" G_GSIZE_FORMAT
                        " is not a mask (2^n - 1); proposing %" G_GSIZE_FORMAT,
                        params.align, fixed);
    params.align = fixed;
    allocator_changed = true;
    valid = false;
  }

  if (allocator && GST_OBJECT_FLAG_IS_SET (allocator, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC)) {
    GST_WARNING_OBJECT (self, "invalid config: allocator %s cannot allocate memory itself "
                        "(custom alloc); proposing the pool's default allocator",
                        GST_OBJECT_NAME (allocator));
    alloc_ref.reset ();
    allocator_changed = true;
    valid = false;
  }

  Settings set;
  set.min = min;
  set.max = max;
  {
    guint wm;
    gboolean b;
    guint64 t;
    gint action;
    if (gst_structure_get_uint (config, KEY_LOW_WATERMARK, &wm))
      set.low_watermark = wm;
    if (gst_structure_get_boolean (config, KEY_REFILL, &b))
      set.refill = b;
    if (gst_structure_get_boolean (config, KEY_LOCK_MEMORY, &b))
      set.lock_memory = b;
    if (gst_structure_get_uint64 (config, KEY_ACQUIRE_TIMEOUT, &t))
      set.timeout = t;
    if (gst_structure_get_enum (config, KEY_TIMEOUT_ACTION, GST_DMAKIT_TYPE_TIMEOUT_ACTION, &action)) {
      if (action == GST_DMAKIT_TIMEOUT_ACTION_WARN || action == GST_DMAKIT_TIMEOUT_ACTION_FAIL) {
        set.action = GstDmakitTimeoutAction (action);
      } else {
        GST_WARNING_OBJECT (self, "invalid config: timeout action %d; proposing warn", action);
        gst_dmakit_buffer_pool_config_set_timeout_action (config, GST_DMAKIT_TIMEOUT_ACTION_WARN);
        valid = false;
      }
    }
  }
  if (max != 0 && set.low_watermark > max) {
    GST_WARNING_OBJECT (self, "invalid config: low watermark %u > max-buffers %u; proposing %u",
                        set.low_watermark, max, max);
    set.low_watermark = max;
    gst_dmakit_buffer_pool_config_set_low_watermark (config, max);
    valid = false;
  }

  const bool want_meta =
      gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  const bool want_align =
      gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);

  Layout lay;
  gst_video_info_init (&lay.vinfo);
  if (caps && !gst_caps_is_fixed (caps)) {
    GstCaps *fixed = gst_caps_is_any (caps) || gst_caps_is_empty (caps)
                         ? nullptr
                         : gst_caps_fixate (gst_caps_copy (caps));
    if (fixed && !gst_caps_is_fixed (fixed)) {
      /* ANY or EMPTY caps cannot be fixated: propose no caps at all
       * (gst_buffer_pool_config_set_params only takes fixed caps or NULL) */
      gst_caps_unref (fixed);
      fixed = nullptr;
    }
    GST_WARNING_OBJECT (self, "invalid config: caps %" GST_PTR_FORMAT " are not fixed; "
                        "proposing %" GST_PTR_FORMAT, caps, fixed);
    caps_ref.reset (fixed);
    valid = false;
  } else if (caps && caps_are_raw_video (caps)) {
    if (gst_video_info_from_caps (&lay.vinfo, caps)) {
      lay.video = true;
    } else {
      GST_WARNING_OBJECT (self, "invalid config: cannot parse raw video caps %" GST_PTR_FORMAT,
                          caps);
      valid = false;
    }
  }
  if ((want_meta || want_align) && !lay.video && valid) {
    GST_WARNING_OBJECT (self, "invalid config: %s requested but the caps (%" GST_PTR_FORMAT
                        ") are not raw video; proposing plain buffers",
                        want_meta ? "VideoMeta" : "video alignment", caps);
    remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
    remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    valid = false;
  }

  if (lay.video) {
    const gsize needed = GST_VIDEO_INFO_SIZE (&lay.vinfo);
    if (size < needed) {
      GST_WARNING_OBJECT (self, "invalid config: size %u is too small for %" GST_PTR_FORMAT
                          " (needs %" G_GSIZE_FORMAT "); proposing it",
                          size, caps, needed);
      size = guint (needed);
      valid = false;
    }
    lay.add_meta = want_meta;
    if (want_align && !want_meta)
      GST_INFO_OBJECT (self, "video alignment ignored without VideoMeta: consumers could not "
                       "know the padded strides");
    if (want_align && want_meta) {
      GstVideoAlignment align;
      if (!gst_buffer_pool_config_get_video_alignment (config, &align))
        gst_video_alignment_reset (&align);
      bool masks = true;
      for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++) {
        if (!is_align_mask (align.stride_align[i])) {
          const guint fixed = guint (nearest_align_mask (align.stride_align[i]));
          GST_WARNING_OBJECT (self,
                              "invalid config: stride alignment %u of plane %u is not a "
                              "mask (2^n - 1); proposing %u",
                              align.stride_align[i], i, fixed);
          align.stride_align[i] = fixed;
          masks = false;
        }
      }
      if (!masks) {
        gst_buffer_pool_config_set_video_alignment (config, &align);
        valid = false;
      }
      /* the allocation alignment must cover every stride alignment, and back */
      guint max_align = guint (params.align);
      for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
        max_align |= align.stride_align[i];
      for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
        align.stride_align[i] = max_align;
      GstVideoInfo aligned = lay.vinfo;
      if (!gst_video_info_align (&aligned, &align)) {
        GST_WARNING_OBJECT (self, "invalid config: cannot apply the video alignment to %"
                            GST_PTR_FORMAT "; proposing no alignment", caps);
        remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
        valid = false;
      } else {
        lay.vinfo = aligned;
        lay.align = align;
        lay.set_alignment = true;
        gst_buffer_pool_config_set_video_alignment (config, &align);
        if (params.align < max_align) {
          GST_DEBUG_OBJECT (self, "raising allocation alignment from %" G_GSIZE_FORMAT
                            " to %u for the video strides", params.align, max_align);
          params.align = max_align;
          allocator_changed = true;
        }
      }
    }
  } else if (size == 0) {
    GST_WARNING_OBJECT (self, "invalid config: size 0 for %" GST_PTR_FORMAT
                        "; give the size of one buffer", caps);
    valid = false;
  }

  if (!valid) {
    gst_buffer_pool_config_set_params (config, caps_ref.get (), size, min, max);
    if (allocator_changed)
      gst_buffer_pool_config_set_allocator (config, alloc_ref.get (), &params);
    return FALSE;
  }

  /* the allocator: the config's, or our own (AUTO) */
  if (alloc_ref) {
    lay.allocator = alloc_ref;
  } else {
    dmakit::GErrorPtr err;
    GstAllocator *own = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ());
    if (own) {
      lay.allocator = ObjectRef<GstAllocator>::adopt (own);
    } else {
      GST_WARNING_OBJECT (self, "no dmakit allocator (%s); using the system allocator",
                          err ? err->message : "unknown error");
      lay.allocator = ObjectRef<GstAllocator>::adopt (gst_allocator_find (nullptr));
    }
  }
  lay.dmakit = is_dmakit_allocator (lay.allocator.get ());
  lay.describe.reset (describe_allocator (lay.allocator.get ()));
  lay.params = params;

  if (lay.video) {
    /* aligned layouts may be bigger; like GstVideoBufferPool, grow silently */
    size = std::max<guint> (size, guint (GST_VIDEO_INFO_SIZE (&lay.vinfo)));
    guint w, rows, bpp;
    if (lay.dmakit && gst_dmakit_allocator_get_backend (lay.allocator.get ()) ==
                          GST_DMAKIT_BACKEND_DRM_DUMB) {
      if (!drm_geometry (lay.vinfo, &w, &rows, &bpp)) {
        GST_INFO_OBJECT (self, "format %s does not map onto a DRM dumb buffer's single pitch; "
                         "allocating plain memory from it",
                         gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&lay.vinfo)));
      } else {
        /* one probe allocation tells the driver's pitch for this geometry */
        guint pitch = 0;
        GstMemory *probe = gst_dmakit_allocator_alloc_2d (lay.allocator.get (), w, rows, bpp, &pitch);
        GstVideoInfo on_pitch = lay.vinfo;
        const gsize laid = probe ? relayout_on_pitch (&on_pitch, pitch) : 0;
        if (probe)
          gst_memory_unref (probe);
        if (!probe || laid == 0 || laid > G_MAXUINT) {
          GST_WARNING_OBJECT (self, "invalid config: DRM dumb allocation %ux%u@%u from %s "
                              "%s", w, rows, bpp, lay.describe.get (),
                              probe ? "has a pitch the planes cannot follow" : "failed");
          return FALSE;
        }
        /* the planes on the driver's pitch may need more rows than the probe */
        size = std::max<guint> (size, guint (laid));
        rows = std::max<guint> (rows, guint ((guint64 (size) + pitch - 1) / pitch));
        lay.vinfo = on_pitch;
        lay.drm = true;
        lay.drm_width = w;
        lay.drm_rows = rows;
        lay.drm_bpp = bpp;
        lay.drm_pitch = pitch;
      }
    }
  }
  lay.size = size;

  /* the free stacks, the id map and the free ids, bounded by kMaxIds; the
   * buffer table grows with the buffers actually allocated */
  guint32 ids = id_capacity (set);
  std::unique_ptr<FreeNode[]> nodes = FreeLists::make_nodes (&ids);
  size_t cells_n = 0;
  std::unique_ptr<IdMap::Cell[]> cells = IdMap::make_cells (ids, &cells_n);
  std::vector<guint32> free_ids;
  bool room = nodes && cells;
  if (room) {
    try {
      free_ids.reserve (ids);
    } catch (...) {
      room = false;
    }
  }
  if (!room) {
    GST_ERROR_OBJECT (self, "out of memory for the free lists of %u buffers", ids);
    return FALSE;
  }
  for (guint32 id = ids; id > 0; id--)
    free_ids.push_back (id - 1);

  /* this config is accepted: drop everything of the previous one */
  shutdown_pool (self);
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.generation++;
    s.set = set;
    s.lay = std::move (lay);
    s.offset_known = false;
    s.hot_size.store (size, std::memory_order_relaxed);
    s.hot_offset.store (0, std::memory_order_relaxed);
    s.hot_min.store (set.min, std::memory_order_relaxed);
    s.hot_max.store (set.max, std::memory_order_relaxed);
    s.hot_low_watermark.store (set.refill ? set.low_watermark : 0, std::memory_order_relaxed);
    /* nothing is out (GstBufferPool refuses set_config then) and the refill
     * thread is gone: nobody touches the stack or the id map */
    s.stack.init (std::move (nodes), ids);
    s.ids.init (std::move (cells), cells_n);
    s.free_ids.swap (free_ids);
  }

  gst_buffer_pool_config_set_params (config, caps_ref.get (), size, min, max);
  if (allocator_changed)
    gst_buffer_pool_config_set_allocator (config, alloc_ref.get (), &params);
  GST_DEBUG_OBJECT (self, "configured: %u bytes, min %u, max %u, %s%s%s from %s", size, min, max,
                    s.lay.video ? "video" : "plain", s.lay.add_meta ? " with VideoMeta" : "",
                    s.lay.drm ? " on a DRM pitch" : "", s.lay.describe.get ());
  return GST_BUFFER_POOL_CLASS (gst_dmakit_buffer_pool_parent_class)->set_config (pool, config);
}

static gboolean
gst_dmakit_buffer_pool_start (GstBufferPool *pool) noexcept
{
  return start_pool (GST_DMAKIT_BUFFER_POOL (pool));
}

static gboolean
gst_dmakit_buffer_pool_stop (GstBufferPool *pool) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (pool);
  shutdown_pool (self);
  Impl &s = *self->impl;
  std::lock_guard<std::mutex> lk (s.mutex);
  return s.table.size () == 0;
}

static void
gst_dmakit_buffer_pool_flush_start (GstBufferPool *pool) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (pool);
  Impl &s = *self->impl;
  guint64 out;
  guint waiters;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.flushing = true;
    s.flushing_hint.store (true, std::memory_order_release);
    out = s.acquires () - s.releases ();
    waiters = s.waiters;
  }
  /* every waiter at once */
  s.buffer_cv.notify_all ();
  GST_DEBUG_OBJECT (self, "flushing (set_flushing or deactivation): %" G_GUINT64_FORMAT
                    " buffers out, %u acquirers woken", out, waiters);
}

static void
gst_dmakit_buffer_pool_flush_stop (GstBufferPool *pool) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (pool);
  Impl &s = *self->impl;
  bool running;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    running = s.running;
  }
  if (!running) {
    /* Re-activated after a set_config() that raced with the last buffer of a
     * deactivated pool coming back: the base class skipped start(). */
    GST_INFO_OBJECT (self, "activated without start(); starting now");
    if (!start_pool (self))
      GST_ERROR_OBJECT (self, "could not start; acquires will allocate or wait");
  }
  std::lock_guard<std::mutex> lk (s.mutex);
  s.flushing = false;
  s.flushing_hint.store (false, std::memory_order_release);
  s.inactive_noted = false;
  s.wake_refill_locked ();
}

static GstFlowReturn
gst_dmakit_buffer_pool_alloc_buffer (GstBufferPool *pool, GstBuffer **buffer,
                                     GstBufferPoolAcquireParams *) noexcept
{
  /* Not used by our own paths (start/acquire allocate through alloc_one and
   * track the buffer); provided so the vfunc yields a correctly laid-out
   * buffer if someone calls it. */
  Slot slot;
  GstFlowReturn ret = alloc_one (GST_DMAKIT_BUFFER_POOL (pool), &slot);
  if (ret == GST_FLOW_OK) {
    if (slot.unlock_addr)
      munlock (slot.unlock_addr, slot.unlock_len);
    *buffer = slot.buf;
  }
  return ret;
}

static void
gst_dmakit_buffer_pool_free_buffer (GstBufferPool *pool, GstBuffer *buffer) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (pool);
  Impl &s = *self->impl;
  Slot slot;
  bool tracked;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    tracked = unregister_slot (s, buffer, &slot);
  }
  if (tracked)
    free_slot (slot);
  else
    gst_buffer_unref (buffer);
}

/* Post (and log) the warning of an acquire that timed out. Without the mutex. */
static void
report_timeout (GstDmakitBufferPool *self, guint64 out, size_t allocated, guint max, guint size,
                guint64 waited_ns, GstClockTime timeout, GstDmakitTimeoutAction action) noexcept
{
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  const bool fail = action == GST_DMAKIT_TIMEOUT_ACTION_FAIL;
  GST_WARNING_OBJECT (self, "buffer pool %s exhausted: waited %.3f ms for a free buffer; %"
                      G_GUINT64_FORMAT " buffers of %u bytes out (%zu allocated, max %u); %s",
                      name, waited_ns / 1e6, out, size, allocated, max,
                      fail ? "failing the acquire" : "still waiting");
  ObjectRef<GstElement> element =
      ObjectRef<GstElement>::adopt (gst_dmakit_buffer_pool_get_element (GST_BUFFER_POOL (self)));
  if (element) {
    GError *err = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY,
                               "Buffer pool %s ran out of buffers: waited %.1f ms, %"
                               G_GUINT64_FORMAT " of %u-byte buffers out",
                               name, waited_ns / 1e6, out, size);
    gchar *debug = g_strdup_printf (
        "pool %s: %" G_GUINT64_FORMAT " buffers of %u bytes out, %zu allocated, max %u; waited %"
        G_GUINT64_FORMAT " ns (timeout %" G_GUINT64_FORMAT " ns); %s",
        name, out, size, allocated, max, waited_ns, guint64 (timeout),
        fail ? "failing" : "still waiting");
    GstStructure *details = gst_structure_new (
        GST_DMAKIT_BUFFER_POOL_TIMEOUT_DETAILS, "pool-name", G_TYPE_STRING, name, "size",
        G_TYPE_UINT, size, "outstanding", G_TYPE_UINT, guint (out), "allocated", G_TYPE_UINT,
        guint (allocated), "max-buffers", G_TYPE_UINT, max, "waited-ns", G_TYPE_UINT64, waited_ns,
        "timeout-ns", G_TYPE_UINT64, guint64 (timeout), "action", GST_DMAKIT_TYPE_TIMEOUT_ACTION,
        action, nullptr);
    GstMessage *msg =
        gst_message_new_warning_with_details (GST_OBJECT (element.get ()), err, debug, details);
    gst_element_post_message (element.get (), msg);
    g_error_free (err);
    g_free (debug);
  }
  g_free (name);
}

static G_GNUC_NO_INLINE GstFlowReturn
acquire_slow (GstDmakitBufferPool *self, GstBuffer **buffer,
              GstBufferPoolAcquireParams *params) noexcept
{
  Impl &s = *self->impl;
  const bool dontwait = params && (params->flags & GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT);
  std::unique_lock<std::mutex> lk (s.mutex);
  const GstClockTime timeout = s.set.timeout;
  const bool timed = GST_CLOCK_TIME_IS_VALID (timeout) && timeout > 0;
  bool counted_exhausted = false, waited = false, gave_up_slot = false;
  guint64 wait_start = 0;
  Clock::time_point deadline;
  GstFlowReturn ret;

  for (;;) {
    if (s.flushing) {
      ret = GST_FLOW_FLUSHING;
      break;
    }
    if ((*buffer = s.stack.pop ())) {
      ret = GST_FLOW_OK;
      break;
    }
    /* No free buffer. Below max somebody must allocate, or this acquire
     * would wait for a buffer nobody produces:
     *  - refill off (or the pool not started): this thread, like the stock
     *    pool;
     *  - refill on: always the refill thread, never this one. A blocking
     *    acquire counts itself in waiters, a DONTWAIT one sets asked, before
     *    waking it, so refill_needed() holds for it whatever the watermark;
     *  - refill on, but every id taken (more than max(256, 2 x min) buffers
     *    live with max-buffers 0, or above kMaxIds): the refill thread cannot
     *    pool more; this thread allocates an extra buffer, freed on return.
     * At max, a release (or flushing) wakes the waiters. */
    const bool can_grow = s.can_grow ();
    if (can_grow && (!s.set.refill || !s.running || s.free_ids.empty ())) {
      if (!s.reserve (s.allocated () + s.pending + 1)) {
        s.stats.alloc_failures++;
        const size_t allocated = s.allocated ();
        lk.unlock ();
        GST_WARNING_OBJECT (self, "out of memory for the table of %zu buffers", allocated + 1);
        lk.lock ();
        ret = GST_FLOW_ERROR;
        break;
      }
      const guint32 id = s.take_id ();
      s.pending++;
      lk.unlock ();
      Slot slot;
      ret = alloc_one (self, &slot);
      lk.lock ();
      s.pending--;
      slot.id = id;
      if (ret != GST_FLOW_OK)
        s.give_id (id);
      else if (!register_slot (self, s, slot)) /* gives the id back */
        ret = GST_FLOW_ERROR;
      if (ret != GST_FLOW_OK) {
        s.stats.alloc_failures++;
        const guint64 failures = s.stats.alloc_failures;
        /* Others may wait because our allocation counted towards max: it is
         * free again, they must look again (below, on leaving). */
        gave_up_slot = true;
        lk.unlock ();
        if (slot.buf)
          free_slot (slot);
        GST_WARNING_OBJECT (self, "could not allocate a %u-byte buffer from %s "
                            "(%" G_GUINT64_FORMAT " failures)",
                            s.lay.size, s.lay.describe.get (), failures);
        lk.lock ();
        ret = GST_FLOW_ERROR;
        break;
      }
      if (s.flushing && push_other (s, slot)) {
        ret = GST_FLOW_FLUSHING;
        break;
      }
      *buffer = slot.buf;
      s.direct.add (1);
      break;
    }
    if (!can_grow && !counted_exhausted) {
      s.stats.exhausted++;
      counted_exhausted = true;
    }
    if (dontwait) {
      if (can_grow) {
        /* refill on: ask the refill thread for one, so that a retry finds it */
        s.asked = true;
        s.wake_refill_locked ();
      }
      ret = GST_FLOW_EOS;
      break;
    }
    if (!waited) {
      waited = true;
      s.stats.waits++;
      wait_start = monotonic_ns ();
      if (timed)
        deadline = Clock::now () + std::chrono::nanoseconds (timeout);
    }
    /* Count ourselves before asking the refill thread: with a low watermark
     * of 0 we are the only reason for it to allocate. */
    s.waiters++;
    s.wake_refill_locked ();
    /* Ask the next push to wake us; a buffer pushed meanwhile: take it. */
    if (s.stack.announce_waiter ()) {
      s.waiters--;
      continue;
    }
    bool timed_out = false;
    if (timed)
      timed_out = s.buffer_cv.wait_until (lk, deadline) == std::cv_status::timeout;
    else
      s.buffer_cv.wait (lk);
    s.waiters--;
    if (timed_out && !s.flushing && s.stack.size () == 0) {
      s.stats.timeouts++;
      const guint64 out = s.acquires () - s.releases ();
      const size_t allocated = s.allocated ();
      const guint max = s.set.max;
      const guint size = s.lay.size;
      const GstDmakitTimeoutAction action = s.set.action;
      const guint64 waited_ns = monotonic_ns () - wait_start;
      lk.unlock ();
      report_timeout (self, out, allocated, max, size, waited_ns, timeout, action);
      lk.lock ();
      if (action == GST_DMAKIT_TIMEOUT_ACTION_FAIL) {
        ret = GST_FLOW_ERROR;
        break;
      }
      deadline += std::chrono::nanoseconds (timeout);
    }
  }

  if (waited) {
    const guint64 w = monotonic_ns () - wait_start;
    s.stats.wait_total_ns += w;
    s.stats.wait_max_ns = std::max (s.stats.wait_max_ns, w);
  }
  /* we leave without a buffer while one is free, or while the slot our failed
   * allocation held is free again, and others sleep: pass it on */
  const bool pass_on =
      ret != GST_FLOW_OK && s.waiters > 0 && (s.stack.size () > 0 || gave_up_slot);
  lk.unlock ();
  if (pass_on)
    s.buffer_cv.notify_all ();
  if (ret == GST_FLOW_OK)
    after_acquire (s);
  return ret;
}

static GstFlowReturn
gst_dmakit_buffer_pool_acquire_buffer (GstBufferPool *pool, GstBuffer **buffer,
                                       GstBufferPoolAcquireParams *params) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL_CAST (pool);
  Impl &s = *self->impl;
  if (G_LIKELY (!s.flushing_hint.load (std::memory_order_acquire))) {
    /* hot path: one CAS, no lock, no allocation, no syscall */
    GstBuffer *buf = s.stack.pop ();
    if (G_LIKELY (buf)) {
      *buffer = buf;
      after_acquire (s);
      return GST_FLOW_OK;
    }
  }
  return acquire_slow (self, buffer, params);
}

/* Reset a returned buffer (what GstBufferPool's default reset_buffer does)
 * and tell why it cannot be handed out again, or nullptr. Runs on the
 * releasing thread without the mutex: it touches only the buffer, which is
 * ours alone now, and hot_size/hot_offset, which only change while no buffer
 * is out. We do this in release_buffer and leave the reset_buffer vfunc unset:
 * one indirect call less on the hot path. */
static const gchar *
reset_and_check (Impl &s, GstBuffer *buffer) noexcept
{
  GST_BUFFER_FLAGS (buffer) &= GST_BUFFER_FLAG_TAG_MEMORY;
  GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_OFFSET (buffer) = GST_BUFFER_OFFSET_NONE;
  GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET_NONE;

  if (G_UNLIKELY (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_TAG_MEMORY)))
    return "its memory was replaced, added or removed";
  if (G_UNLIKELY (gst_buffer_n_memory (buffer) != 1))
    return "it has more than one memory";
  GstMemory *mem = gst_buffer_peek_memory (buffer, 0);
  /* gst_memory_is_writable() would also walk the parents under a spinlock
   * (two locked instructions per level, ~40% of the release path); the buffer
   * is its only parent and has one ref here, so the lock state says it all */
  const gint state = __atomic_load_n (&GST_MINI_OBJECT_CAST (mem)->lockstate, __ATOMIC_ACQUIRE);
  if (G_UNLIKELY ((state >> DMAKIT_LOCKSTATE_SHARE_SHIFT) > 1 || GST_MEMORY_IS_READONLY (mem)))
    return "its memory is shared or read-only";
  if (G_UNLIKELY (state & DMAKIT_LOCKSTATE_LOCK_MASK))
    return "its memory is still mapped";
  const gsize size = s.hot_size.load (std::memory_order_relaxed);
  const gsize offset = s.hot_offset.load (std::memory_order_relaxed);
  if (G_UNLIKELY (mem->size != size || mem->offset != offset)) {
    /* resized, like audio sources and encoders do: restore, as the stock pool does */
    if (mem->maxsize < offset + size)
      return "it was resized beyond its memory";
    gst_buffer_resize (buffer, gssize (offset) - gssize (mem->offset), gssize (size));
    if (mem->size != size || mem->offset != offset)
      return "it was resized and cannot be restored";
  }
  gst_buffer_foreach_meta (buffer, remove_meta_unpooled, nullptr);
  return nullptr;
}

/* The buffer leaves the pool, or the hot path could not tell its id. With
 * nothing held. */
static G_GNUC_NO_INLINE void
release_slow (GstDmakitBufferPool *self, GstBuffer *buffer, const gchar *reason,
              bool inactive) noexcept
{
  Impl &s = *self->impl;
  std::unique_lock<std::mutex> lk (s.mutex);
  const Slot *slot = s.table.find (buffer);
  if (slot && !reason && !inactive && slot->generation == s.generation) {
    if (slot->id != kNoId) {
      /* the id lookup overlapped a deletion from the id map: push it here */
      bool wake = false;
      s.stack.push (slot->id, &wake);
      lk.unlock ();
      if (wake)
        s.buffer_cv.notify_all ();
      return;
    }
    reason = "it is an extra buffer beyond the ids of the pool's free stack";
  }

  s.slow_releases.add (1);
  Slot dead;
  dead.buf = buffer;
  const bool tracked = slot != nullptr;
  if (tracked) {
    if (!reason && slot->generation != s.generation) {
      reason = "it belongs to an older configuration";
      s.stats.stale++;
    } else if (reason) {
      s.stats.discards++;
    }
    unregister_slot (s, buffer, &dead);
  }
  bool note_inactive = false;
  size_t idle_n = 0;
  if (inactive && !s.inactive_noted) {
    /* first buffer back after a deactivation: free the idle ones too (below,
     * one at a time without the mutex) */
    s.inactive_noted = true;
    note_inactive = true;
    idle_n = s.stack.size ();
  }
  const guint64 out_after = s.acquires () - s.releases ();
  /* While active, the refill thread frees it (and replaces it); after a
   * deactivation the returning thread does, right now. */
  const bool to_grave =
      !inactive && s.refill_thread && tracked && s.grave_n < s.graveyard.size ();
  if (to_grave)
    s.graveyard[s.grave_n++] = dead;
  const bool kick = to_grave && s.refill_idle.load (std::memory_order_relaxed);
  if (kick)
    s.refill_idle.store (false, std::memory_order_relaxed);
  /* a slot below max-buffers opened: sleepers may allocate (refill off) */
  const bool wake = s.waiters > 0;
  lk.unlock ();

  if (note_inactive)
    GST_INFO_OBJECT (self,
                     "pool deactivated with %" G_GUINT64_FORMAT " buffers out (besides "
                     "this one); freeing each as it comes back, and %zu idle ones now",
                     out_after, idle_n);
  if (reason)
    GST_CAT_DEBUG_OBJECT (CAT_PERFORMANCE, self, "discarding buffer %p: %s", buffer, reason);
  if (!tracked)
    GST_WARNING_OBJECT (self, "buffer %p is not one of this pool's; freeing it", buffer);
  if (kick)
    s.refill_cv.notify_one ();
  if (wake)
    s.buffer_cv.notify_all ();
  if (!to_grave)
    free_slot (dead);
  if (note_inactive) {
    for (;;) {
      Slot islot;
      bool have = false;
      {
        std::lock_guard<std::mutex> lk2 (s.mutex);
        /* stop if the pool was activated again meanwhile */
        while (!have && s.flushing) {
          GstBuffer *idle = s.stack.pop ();
          if (!idle)
            break;
          s.drained.add (1);
          have = unregister_slot (s, idle, &islot);
        }
      }
      if (!have)
        break;
      free_slot (islot);
    }
  }
}

static void
gst_dmakit_buffer_pool_release_buffer (GstBufferPool *pool, GstBuffer *buffer) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL_CAST (pool);
  Impl &s = *self->impl;
  const gchar *reason = reset_and_check (s, buffer);

  /* Flushing: either set_flushing() or a deactivation. Only the base class
   * knows which; ask it without our mutex (lock order), off the hot path. */
  bool inactive = false;
  if (G_UNLIKELY (s.flushing_hint.load (std::memory_order_acquire)))
    inactive = !gst_buffer_pool_is_active (pool);

  if (G_LIKELY (!reason && !inactive)) {
    /* hot path: an id lookup and one CAS, no lock, no allocation, no syscall
     * unless a sleeper asked to be woken */
    const guint32 id = s.ids.lookup (buffer);
    if (G_LIKELY (id != kNoId)) {
      bool wake = false;
      s.stack.push (id, &wake);
      if (G_UNLIKELY (wake))
        wake_sleepers (s);
      return;
    }
  }
  release_slow (self, buffer, reason, inactive);
}

/* ---- GObject ----------------------------------------------------------------- */

static void
gst_dmakit_buffer_pool_init (GstDmakitBufferPool *self)
{
  /* no exception out of a GObject init: like g_malloc(), abort with a message */
  self->impl = new (std::nothrow) Impl ();
  if (G_UNLIKELY (!self->impl))
    g_error ("dmakit buffer pool: out of memory for its state");
}

static void
gst_dmakit_buffer_pool_dispose (GObject *object)
{
  /* the base class deactivates the pool here (nothing can be out: every
   * outstanding buffer holds a ref), which stops it */
  G_OBJECT_CLASS (gst_dmakit_buffer_pool_parent_class)->dispose (object);
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (object);
  shutdown_pool (self);
  Impl &s = *self->impl;
  ObjectRef<GstAllocator> allocator;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    allocator = std::move (s.lay.allocator);
  }
  g_weak_ref_set (&s.element, nullptr);
}

static void
gst_dmakit_buffer_pool_finalize (GObject *object)
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL (object);
  shutdown_pool (self);
  delete std::exchange (self->impl, nullptr);
  G_OBJECT_CLASS (gst_dmakit_buffer_pool_parent_class)->finalize (object);
}

static void
gst_dmakit_buffer_pool_class_init (GstDmakitBufferPoolClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  gobject_class->dispose = gst_dmakit_buffer_pool_dispose;
  gobject_class->finalize = gst_dmakit_buffer_pool_finalize;

  pool_class->get_options = gst_dmakit_buffer_pool_get_options;
  pool_class->set_config = gst_dmakit_buffer_pool_set_config;
  pool_class->start = gst_dmakit_buffer_pool_start;
  pool_class->stop = gst_dmakit_buffer_pool_stop;
  pool_class->acquire_buffer = gst_dmakit_buffer_pool_acquire_buffer;
  pool_class->alloc_buffer = gst_dmakit_buffer_pool_alloc_buffer;
  /* reset happens inside release_buffer (reset_and_check) */
  pool_class->reset_buffer = nullptr;
  pool_class->release_buffer = gst_dmakit_buffer_pool_release_buffer;
  pool_class->free_buffer = gst_dmakit_buffer_pool_free_buffer;
  pool_class->flush_start = gst_dmakit_buffer_pool_flush_start;
  pool_class->flush_stop = gst_dmakit_buffer_pool_flush_stop;

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_buffer_pool_debug, "dmakitbufferpool", 0,
                           "dmakit buffer pool");
  GST_DEBUG_CATEGORY_GET (CAT_PERFORMANCE, "GST_PERFORMANCE");
  g_type_class_ref (GST_DMAKIT_TYPE_TIMEOUT_ACTION);
}

/* ---- public API --------------------------------------------------------------- */

/**
 * gst_dmakit_buffer_pool_new:
 *
 * Creates a pool that preallocates its buffers on activation, hands them out
 * without allocating or making syscalls (the buffer released last first:
 * last in, first out, so its memory is likely still cached), refills from a
 * background thread, and counts everything (see
 * gst_dmakit_buffer_pool_get_stats()). Unless the
 * config names an allocator, it allocates from a #GstDmakitAllocator
 * (%GST_DMAKIT_BACKEND_AUTO).
 *
 * Returns: (transfer full): a new #GstBufferPool
 *
 * Since: 0.1
 */
GstBufferPool *
gst_dmakit_buffer_pool_new (void)
{
  GstBufferPool *pool =
      GST_BUFFER_POOL_CAST (g_object_new (GST_DMAKIT_TYPE_BUFFER_POOL, nullptr));
  gst_object_ref_sink (pool);
  return pool;
}

/**
 * gst_dmakit_buffer_pool_config_set_low_watermark:
 * @config: a #GstBufferPool configuration
 * @low_watermark: how many free buffers the refill thread keeps ready (bounded by max-buffers)
 *
 * Stores the low watermark (key `dmakit-low-watermark`, default 1) in @config.
 * With 0 the refill thread keeps no spare buffers: it allocates one only for
 * an acquire that finds the pool empty below max-buffers (a blocking acquire
 * waits for it; a %GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT one returns
 * %GST_FLOW_EOS and a retry gets it).
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_config_set_low_watermark (GstStructure *config, guint low_watermark)
{
  g_return_if_fail (config != nullptr);
  gst_structure_set (config, KEY_LOW_WATERMARK, G_TYPE_UINT, low_watermark, nullptr);
}

/**
 * gst_dmakit_buffer_pool_config_get_low_watermark:
 * @config: a #GstBufferPool configuration
 * @low_watermark: (out) (optional): the low watermark
 *
 * Returns: %TRUE if @config sets a low watermark.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_buffer_pool_config_get_low_watermark (const GstStructure *config, guint *low_watermark)
{
  g_return_val_if_fail (config != nullptr, FALSE);
  guint v;
  if (!gst_structure_get_uint (config, KEY_LOW_WATERMARK, &v))
    return FALSE;
  if (low_watermark)
    *low_watermark = v;
  return TRUE;
}

/**
 * gst_dmakit_buffer_pool_config_set_refill:
 * @config: a #GstBufferPool configuration
 * @refill: %TRUE to refill from a background thread (default); %FALSE to
 *     allocate on the acquiring thread below max-buffers, like the stock pool
 *
 * Stores the refill switch (key `dmakit-refill`) in @config.
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_config_set_refill (GstStructure *config, gboolean refill)
{
  g_return_if_fail (config != nullptr);
  gst_structure_set (config, KEY_REFILL, G_TYPE_BOOLEAN, refill, nullptr);
}

/**
 * gst_dmakit_buffer_pool_config_get_refill:
 * @config: a #GstBufferPool configuration
 * @refill: (out) (optional): the refill switch
 *
 * Returns: %TRUE if @config sets the refill switch.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_buffer_pool_config_get_refill (const GstStructure *config, gboolean *refill)
{
  g_return_val_if_fail (config != nullptr, FALSE);
  gboolean v;
  if (!gst_structure_get_boolean (config, KEY_REFILL, &v))
    return FALSE;
  if (refill)
    *refill = v;
  return TRUE;
}

/**
 * gst_dmakit_buffer_pool_config_set_lock_memory:
 * @config: a #GstBufferPool configuration
 * @lock_memory: %TRUE to lock every buffer the pool holds in RAM (mlock)
 *
 * Stores the lock-memory switch (key `dmakit-lock-memory`, default %FALSE) in
 * @config. A refused lock is a warning and counts in the `lock-failures` stat.
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_config_set_lock_memory (GstStructure *config, gboolean lock_memory)
{
  g_return_if_fail (config != nullptr);
  gst_structure_set (config, KEY_LOCK_MEMORY, G_TYPE_BOOLEAN, lock_memory, nullptr);
}

/**
 * gst_dmakit_buffer_pool_config_get_lock_memory:
 * @config: a #GstBufferPool configuration
 * @lock_memory: (out) (optional): the lock-memory switch
 *
 * Returns: %TRUE if @config sets the lock-memory switch.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_buffer_pool_config_get_lock_memory (const GstStructure *config, gboolean *lock_memory)
{
  g_return_val_if_fail (config != nullptr, FALSE);
  gboolean v;
  if (!gst_structure_get_boolean (config, KEY_LOCK_MEMORY, &v))
    return FALSE;
  if (lock_memory)
    *lock_memory = v;
  return TRUE;
}

/**
 * gst_dmakit_buffer_pool_config_set_acquire_timeout:
 * @config: a #GstBufferPool configuration
 * @timeout: how long an acquire waits on an exhausted pool before it warns
 *     (and, with %GST_DMAKIT_TIMEOUT_ACTION_FAIL, fails); %GST_CLOCK_TIME_NONE
 *     (default) or 0 waits silently
 *
 * Stores the acquire timeout (key `dmakit-acquire-timeout`) in @config.
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_config_set_acquire_timeout (GstStructure *config, GstClockTime timeout)
{
  g_return_if_fail (config != nullptr);
  gst_structure_set (config, KEY_ACQUIRE_TIMEOUT, G_TYPE_UINT64, guint64 (timeout), nullptr);
}

/**
 * gst_dmakit_buffer_pool_config_get_acquire_timeout:
 * @config: a #GstBufferPool configuration
 * @timeout: (out) (optional): the acquire timeout
 *
 * Returns: %TRUE if @config sets an acquire timeout.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_buffer_pool_config_get_acquire_timeout (const GstStructure *config,
                                                   GstClockTime *timeout)
{
  g_return_val_if_fail (config != nullptr, FALSE);
  guint64 v;
  if (!gst_structure_get_uint64 (config, KEY_ACQUIRE_TIMEOUT, &v))
    return FALSE;
  if (timeout)
    *timeout = v;
  return TRUE;
}

/**
 * gst_dmakit_buffer_pool_config_set_timeout_action:
 * @config: a #GstBufferPool configuration
 * @action: what an acquire does when the timeout expires
 *
 * Stores the timeout action (key `dmakit-timeout-action`, default
 * %GST_DMAKIT_TIMEOUT_ACTION_WARN) in @config.
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_config_set_timeout_action (GstStructure *config,
                                                  GstDmakitTimeoutAction action)
{
  g_return_if_fail (config != nullptr);
  gst_structure_set (config, KEY_TIMEOUT_ACTION, GST_DMAKIT_TYPE_TIMEOUT_ACTION, action, nullptr);
}

/**
 * gst_dmakit_buffer_pool_config_get_timeout_action:
 * @config: a #GstBufferPool configuration
 * @action: (out) (optional): the timeout action
 *
 * Returns: %TRUE if @config sets a timeout action.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_buffer_pool_config_get_timeout_action (const GstStructure *config,
                                                  GstDmakitTimeoutAction *action)
{
  g_return_val_if_fail (config != nullptr, FALSE);
  gint v;
  if (!gst_structure_get_enum (config, KEY_TIMEOUT_ACTION, GST_DMAKIT_TYPE_TIMEOUT_ACTION, &v))
    return FALSE;
  if (action)
    *action = GstDmakitTimeoutAction (v);
  return TRUE;
}

/**
 * gst_dmakit_buffer_pool_set_element:
 * @pool: (type GstDmakitBufferPool): a #GstDmakitBufferPool
 * @element: (nullable) (transfer none): the element that owns @pool
 *
 * Names the element on whose bus the pool posts its messages: a warning when
 * an acquire timed out, an error (%GST_RESOURCE_ERROR, naming the pool, the
 * buffer size, the count and the errno) when activation cannot preallocate.
 * The pool keeps only a weak reference.
 *
 * Since: 0.1
 */
void
gst_dmakit_buffer_pool_set_element (GstBufferPool *pool, GstElement *element)
{
  g_return_if_fail (GST_DMAKIT_IS_BUFFER_POOL (pool));
  g_return_if_fail (element == nullptr || GST_IS_ELEMENT (element));
  g_weak_ref_set (&POOL_IMPL (pool).element, element);
}

/**
 * gst_dmakit_buffer_pool_get_element:
 * @pool: (type GstDmakitBufferPool): a #GstDmakitBufferPool
 *
 * Returns: (transfer full) (nullable): the element set with
 * gst_dmakit_buffer_pool_set_element(), else the pool's parent if that is an
 * element, else %NULL.
 *
 * Since: 0.1
 */
GstElement *
gst_dmakit_buffer_pool_get_element (GstBufferPool *pool)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BUFFER_POOL (pool), nullptr);
  gpointer element = g_weak_ref_get (&POOL_IMPL (pool).element);
  if (element)
    return GST_ELEMENT (element);
  GstObject *parent = gst_object_get_parent (GST_OBJECT (pool));
  if (parent && GST_IS_ELEMENT (parent))
    return GST_ELEMENT (parent);
  if (parent)
    gst_object_unref (parent);
  return nullptr;
}

/**
 * gst_dmakit_buffer_pool_get_stats:
 * @pool: (type GstDmakitBufferPool): a #GstDmakitBufferPool
 *
 * Takes a consistent snapshot of the pool's counters. The structure is named
 * %GST_DMAKIT_BUFFER_POOL_STATS and has these #guint64 fields: `allocated`
 * (buffers alive), `free`, `outstanding`, `max-outstanding`, `acquires`,
 * `releases`, `waits`, `wait-total-ns`, `wait-max-ns`, `exhausted`,
 * `timeouts`, `refills`, `discards`, `stale`, `allocations`, `frees`,
 * `alloc-failures`, `locked`, `lock-failures`, `bytes-held`, `generation`;
 * and these #guint fields: `size`, `min-buffers`, `max-buffers`,
 * `low-watermark`. See docs/bufferpool.md.
 *
 * Returns: (transfer full): the statistics
 *
 * Since: 0.1
 */
GstStructure *
gst_dmakit_buffer_pool_get_stats (GstBufferPool *pool)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BUFFER_POOL (pool), nullptr);
  Impl &s = POOL_IMPL (pool);
  Stats st;
  guint64 allocated, free_n, generation, acquires, releases, max_out;
  Settings set;
  guint size;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    st = s.stats;
    allocated = s.allocated ();
    free_n = s.stack.size ();
    generation = s.generation;
    set = s.set;
    size = s.lay.size;
    acquires = s.acquires ();
    releases = s.releases ();
    max_out = s.max_outstanding.load (std::memory_order_relaxed);
  }
  const guint64 outstanding = acquires > releases ? acquires - releases : 0;
  return gst_structure_new (
      GST_DMAKIT_BUFFER_POOL_STATS, "allocated", G_TYPE_UINT64, allocated, "free", G_TYPE_UINT64,
      free_n, "outstanding", G_TYPE_UINT64, outstanding, "max-outstanding", G_TYPE_UINT64,
      std::max (max_out, outstanding), "acquires", G_TYPE_UINT64, acquires, "releases",
      G_TYPE_UINT64, releases, "waits", G_TYPE_UINT64, st.waits, "wait-total-ns", G_TYPE_UINT64,
      st.wait_total_ns, "wait-max-ns", G_TYPE_UINT64, st.wait_max_ns, "exhausted", G_TYPE_UINT64,
      st.exhausted, "timeouts", G_TYPE_UINT64, st.timeouts, "refills", G_TYPE_UINT64, st.refills,
      "discards", G_TYPE_UINT64, st.discards, "stale", G_TYPE_UINT64, st.stale, "allocations",
      G_TYPE_UINT64, st.allocations, "frees", G_TYPE_UINT64, st.frees, "alloc-failures",
      G_TYPE_UINT64, st.alloc_failures, "locked", G_TYPE_UINT64, st.locked, "lock-failures",
      G_TYPE_UINT64, st.lock_failures, "bytes-held", G_TYPE_UINT64, st.bytes_held, "generation",
      G_TYPE_UINT64, generation, "size", G_TYPE_UINT, size, "min-buffers", G_TYPE_UINT, set.min,
      "max-buffers", G_TYPE_UINT, set.max, "low-watermark", G_TYPE_UINT, set.low_watermark,
      nullptr);
}
