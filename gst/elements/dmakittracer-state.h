/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakittracer-state.h: what the `dmakit` tracer keeps per thread, per
 * element, per pad and per pool, and the recording the hooks do with it.
 *
 * Hot path: per-pad and per-element state is allocated once (element-new,
 * element-add-pad, or the first buffer) and found with qdata; per-thread state
 * (GPrivate) is allocated once per thread. Counters are relaxed atomics; no
 * lock is taken and nothing is allocated per buffer.
 *
 * Locks: creation_lock may be held while taking registry_lock, never the
 * reverse. Nothing is posted, pushed, queried or unreffed under either.
 *
 * The functions that create state allocate with operator new and may throw
 * std::bad_alloc: the hooks (the C boundary) catch it.
 *
 * Plugin-private header (not installed). */
#ifndef DMAKITTRACER_STATE_H
#define DMAKITTRACER_STATE_H

#include "dmakit-element-util.h"

#include <atomic>
#include <mutex>
#include <unordered_set>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_tracer_debug);
#define GST_CAT_DEFAULT gst_dmakit_tracer_debug

namespace dmakit
{
namespace tracer
{

/* ---- memory kinds ------------------------------------------------------- */

enum Kind : guint8 {
  KIND_NONE = 0, /* buffer without memory */
  KIND_DMABUF,
  KIND_FD,
  KIND_SYSTEM,
  KIND_OTHER,
  KIND_COUNT,
};

static_assert (KIND_COUNT <= 8, "kinds are packed in 3 bits");

inline const char *const kind_names[KIND_COUNT] = { "none", "dmabuf", "fd", "system", "other" };

/* The last allocator seen on a pad and its kind, packed in one word (kind in
 * the low 3 bits of the aligned pointer): classifying costs a few type checks,
 * and a pad almost always sees one allocator. Re-classified every 256 uses in
 * case a new allocator took the address of a dead one. Compared, never
 * dereferenced. */
struct KindCache {
  std::atomic<guintptr> packed{ 0 };
  std::atomic<guint> uses{ 0 };
};

/* ---- what one buffer carries ---------------------------------------------- */

constexpr guint kMaxRoots = 8;

struct BufferInfo {
  const GstMemory *roots[kMaxRoots];
  gsize sizes[kMaxRoots];
  guint n_roots; /* min (n_mem, kMaxRoots) */
  guint n_mem;
  gsize size;
  Kind kind; /* common kind of all memories, KIND_OTHER when mixed */
};

void buffer_info_fill (BufferInfo &bi, GstBuffer *buf, KindCache *cache) noexcept;

/* ---- per-thread state ------------------------------------------------------ */

struct Snapshot {
  const GstMemory *roots[kMaxRoots];
  guint8 n;
  Kind kind;
  bool overflow; /* a buffer list had more roots than fit: also look in the ring */
};

/* The last two buffers that entered one element in this thread. */
struct ThreadSlot {
  guint64 id; /* ElementState::id, 0 = unused */
  Snapshot cur;
  Snapshot prev;
};

constexpr guint kThreadSlots = 64;

struct ThreadState {
  ThreadSlot slots[kThreadSlots];
};

/* This thread's state (allocated once per thread). */
ThreadState *thread_state () noexcept;

/* ---- per-element state ------------------------------------------------------ */

using Counter = std::atomic<guint64>;

inline void
bump (Counter &c, guint64 v = 1) noexcept
{
  c.fetch_add (v, std::memory_order_relaxed);
}

inline guint64
take (Counter &c) noexcept
{
  return c.exchange (0, std::memory_order_relaxed);
}

constexpr guint kRing = 64;

struct ElementState {
  std::atomic<gint> refs{ 1 };
  guint64 id = 0;
  GCharPtr name; /* under registry_lock; refreshed at each report, printed at exit */

  Counter buffers_in{ 0 };
  Counter buffers_out{ 0 };
  Counter bytes_in{ 0 };
  Counter bytes_out{ 0 };
  Counter decided{ 0 };   /* outputs compared with an input */
  Counter decoupled{ 0 }; /* of which: input came from another thread */
  Counter copies{ 0 };
  Counter bytes_copied{ 0 };
  Counter kind_changes{ 0 };
  std::atomic<guint8> in_kind{ KIND_NONE };
  std::atomic<guint8> out_kind{ KIND_NONE };

  /* roots of the last inputs, for elements that output from another thread */
  std::atomic<guint> ring_pos{ 0 };
  std::atomic<const GstMemory *> ring[kRing];

  ElementState () noexcept
  {
    for (auto &r : ring)
      r.store (nullptr, std::memory_order_relaxed);
  }
  bool ring_has (const GstMemory *root) const noexcept
  {
    for (const auto &r : ring)
      if (r.load (std::memory_order_relaxed) == root)
        return true;
    return false;
  }
};

ElementState *element_state_ref (ElementState *es) noexcept;
void element_state_unref (ElementState *es) noexcept;

/* Live element states, for the printout at exit; under registry_lock. */
extern std::mutex registry_lock;
std::unordered_set<ElementState *> &registry ();

/* ---- per-pad state ------------------------------------------------------------ */

constexpr guint kMaxProposals = 4;

struct Proposal {
  GWeakRef pool;
  guint size = 0, min = 0, max = 0;
};

struct PadState {
  ElementState *element = nullptr; /* ref; NULL for proxy/ghost pads and parentless pads */
  bool proxy = false;

  KindCache kind_cache;

  /* link counters, on the (real) source pad of the link */
  Counter buffers{ 0 };
  Counter bytes{ 0 };
  Counter pooled{ 0 };
  Counter kinds[KIND_COUNT];

  /* peer cache: the element downstream of this pad when it pushes */
  std::atomic<bool> peer_dirty{ true };
  std::atomic<GstPad *> peer_raw{ nullptr }; /* compared, never dereferenced */
  std::atomic<ElementState *> peer_element{ nullptr };
  std::vector<ElementState *> retired; /* old peers, under creation_lock */

  /* the pool the buffers on this pad come from (pool_raw/pool_check: only the
   * pushing thread writes them; atomics in case two threads push) */
  std::atomic<GstBufferPool *> pool_raw{ nullptr }; /* compared, never dereferenced */
  std::atomic<guint> pool_check{ 0 };
  GWeakRef pool;

  /* pools proposed in answers to ALLOCATION queries on this pad, under creation_lock */
  Proposal proposals[kMaxProposals];
  guint n_proposals = 0;

  PadState () noexcept
  {
    for (auto &k : kinds)
      k.store (0, std::memory_order_relaxed);
    g_weak_ref_init (&pool, nullptr);
    for (auto &p : proposals)
      g_weak_ref_init (&p.pool, nullptr);
  }
  ~PadState ()
  {
    element_state_unref (element);
    element_state_unref (peer_element.load ());
    for (ElementState *es : retired)
      element_state_unref (es);
    g_weak_ref_clear (&pool);
    for (auto &p : proposals)
      g_weak_ref_clear (&p.pool);
  }
};

/* Serialises state creation, peer cache updates and allocation proposals. */
extern std::mutex creation_lock;
extern GQuark element_quark;
extern GQuark pad_quark;
extern GQuark pool_quark;

inline ElementState *
element_state_get (GstElement *element) noexcept
{
  /* no checked G_OBJECT() cast on the hot path */
  auto *object = reinterpret_cast<GObject *> (element);
  return static_cast<ElementState *> (g_object_get_qdata (object, element_quark));
}

ElementState *element_state_ensure (GstElement *element);

inline PadState *
pad_state_get (GstPad *pad) noexcept
{
  auto *object = reinterpret_cast<GObject *> (pad);
  return static_cast<PadState *> (g_object_get_qdata (object, pad_quark));
}

PadState *pad_state_ensure (GstPad *pad, GstElement *parent_hint);

/* ---- pools ---------------------------------------------------------------------- */

/* Counters fed by the pool-buffer-queued/-dequeued hooks (GStreamer >= 1.28). */
struct PoolCounters {
  Counter queued{ 0 };
  Counter dequeued{ 0 };
};

PoolCounters *pool_counters_ensure (GstBufferPool *pool);

/* ---- recording (hot path) ---- */

/* @bi entered the element of @es (@append: not the first buffer of a list). */
void record_input (ElementState *es, ThreadState *ts, const BufferInfo &bi, bool append) noexcept;
/* @bi left the element of @es. */
void record_output (ElementState *es, ThreadState *ts, const BufferInfo &bi) noexcept;
/* @buf crossed the link whose source pad has @ps. */
void record_link (PadState *ps, GstBuffer *buf, const BufferInfo &bi) noexcept;
/* A buffer leaves @pad (a source pad, or a ghost/proxy pad) by gst_pad_push;
 * @in_list: it is not the first buffer of a list pushed at once. */
void on_push (GstPad *pad, GstBuffer *buf, ThreadState *ts, bool in_list);

} // namespace tracer
} // namespace dmakit

#endif /* DMAKITTRACER_STATE_H */
