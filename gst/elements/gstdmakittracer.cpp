/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakittracer.cpp: the `dmakit` tracer.
 *
 * Enabled with GST_TRACERS=dmakit (params: "dmakit(print=false,post=true)").
 * Works on any pipeline. For every buffer pushed (or pulled) across a link it
 * records:
 *  - on the link (the real source pad): buffers, bytes, the memory kind
 *    (DMA-BUF, fd, system, other) and the pool the buffer came from;
 *  - on the element downstream: a snapshot of the buffer's memories (their
 *    root memory, following GstMemory::parent for gst_memory_share() subsets);
 *  - on the element upstream: whether the buffer leaving it carries memory that
 *    entered it (same streaming thread: compared with the last two inputs seen
 *    by this thread; other thread, e.g. a queue: compared with a ring of the
 *    last inputs). Memory that did not come in is a copy; its size is counted.
 * At EOS of a top-level pipeline, and when it goes from PAUSED to READY with
 * unreported data, it prints a compact table and posts an element message
 * "dmakit-tracer-report" from the pipeline. Counters restart after a report.
 *
 * Hot path: per-pad and per-element state is allocated once (element-new,
 * element-add-pad, or the first buffer) and found with qdata; per-thread state
 * (GPrivate) is allocated once per thread. Counters are relaxed atomics; no
 * lock is taken and nothing is allocated per buffer.
 *
 * Locks: creation_lock may be held while taking registry_lock, never the
 * reverse. Nothing is posted, pushed, queried or unreffed under either. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdmakittracer.h"

#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit-raii.h>
#include <gst/dmakit/dmakit.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_dmakit_tracer_debug);
#define GST_CAT_DEFAULT gst_dmakit_tracer_debug

using dmakit::GCharPtr;
using dmakit::ObjectRef;

namespace {

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

const char *const kind_names[KIND_COUNT] = { "none", "dmabuf", "fd", "system", "other" };

inline Kind
classify_memory (GstMemory *mem) noexcept
{
  GstAllocator *alloc = mem->allocator;
  if (G_UNLIKELY (!alloc))
    return KIND_OTHER;
  if (gst_is_dmabuf_memory (mem))
    return KIND_DMABUF;
  if (gst_is_fd_memory (mem))
    return KIND_FD;
  if (alloc->mem_type && std::strcmp (alloc->mem_type, GST_ALLOCATOR_SYSMEM) == 0)
    return KIND_SYSTEM;
  return KIND_OTHER;
}

/* The last allocator seen on a pad and its kind, packed in one word (kind in
 * the low 3 bits of the aligned pointer): classifying costs a few type checks,
 * and a pad almost always sees one allocator. Re-classified every 256 uses in
 * case a new allocator took the address of a dead one. Compared, never
 * dereferenced. */
struct KindCache {
  std::atomic<guintptr> packed{ 0 };
  std::atomic<guint> uses{ 0 };
};

inline Kind
classify_cached (GstMemory *mem, KindCache *cache) noexcept
{
  if (cache) {
    guint uses = cache->uses.load (std::memory_order_relaxed) + 1;
    cache->uses.store (uses, std::memory_order_relaxed);
    guintptr packed = cache->packed.load (std::memory_order_relaxed);
    if (G_LIKELY ((packed & ~guintptr (7)) == reinterpret_cast<guintptr> (mem->allocator)
                  && packed != 0 && (uses & 0xff) != 0))
      return static_cast<Kind> (packed & 7);
  }
  Kind k = classify_memory (mem);
  auto a = reinterpret_cast<guintptr> (mem->allocator);
  if (cache && (a & 7) == 0)
    cache->packed.store (a | k, std::memory_order_relaxed);
  return k;
}

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

inline void
buffer_info_fill (BufferInfo &bi, GstBuffer *buf, KindCache *cache) noexcept
{
  guint n = gst_buffer_n_memory (buf);
  bi.n_mem = n;
  bi.n_roots = MIN (n, kMaxRoots);
  bi.size = 0;
  bi.kind = KIND_NONE;
  for (guint i = 0; i < n; i++) {
    GstMemory *mem = gst_buffer_peek_memory (buf, i);
    bi.size += mem->size;
    Kind k = classify_cached (mem, cache);
    bi.kind = (i == 0 || bi.kind == k) ? k : KIND_OTHER;
    if (i < kMaxRoots) {
      GstMemory *root = mem;
      while (root->parent)
        root = root->parent;
      bi.roots[i] = root;
      bi.sizes[i] = mem->size;
    }
  }
}

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

GPrivate thread_state_key = G_PRIVATE_INIT (g_free);

inline ThreadState *
thread_state () noexcept
{
  auto *ts = static_cast<ThreadState *> (g_private_get (&thread_state_key));
  if (G_UNLIKELY (!ts)) {
    /* once per thread */
    ts = g_new0 (ThreadState, 1);
    g_private_set (&thread_state_key, ts);
  }
  return ts;
}

inline bool
snapshot_has (const Snapshot &s, const GstMemory *root) noexcept
{
  for (guint i = 0; i < s.n; i++)
    if (s.roots[i] == root)
      return true;
  return false;
}

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
  Counter decided{ 0 };    /* outputs compared with an input */
  Counter decoupled{ 0 };  /* of which: input came from another thread */
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

std::atomic<guint64> next_element_id{ 1 };

/* Live element states, for the printout at exit. */
std::mutex registry_lock;
std::unordered_set<ElementState *> &
registry () noexcept
{
  static auto *set = new std::unordered_set<ElementState *> ();
  return *set;
}

ElementState *
element_state_ref (ElementState *es) noexcept
{
  if (es)
    es->refs.fetch_add (1, std::memory_order_relaxed);
  return es;
}

void
element_state_unref (ElementState *es) noexcept
{
  if (!es || es->refs.fetch_sub (1, std::memory_order_acq_rel) != 1)
    return;
  {
    std::lock_guard<std::mutex> lk (registry_lock);
    registry ().erase (es);
  }
  delete es;
}

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
std::mutex creation_lock;
GQuark element_quark;
GQuark pad_quark;
GQuark pool_quark;

void
element_state_destroy (gpointer data) noexcept
{
  element_state_unref (static_cast<ElementState *> (data));
}

void
pad_state_destroy (gpointer data) noexcept
{
  delete static_cast<PadState *> (data);
}

inline ElementState *
element_state_get (GstElement *element) noexcept
{
  /* no checked G_OBJECT() cast on the hot path */
  auto *object = reinterpret_cast<GObject *> (element);
  return static_cast<ElementState *> (g_object_get_qdata (object, element_quark));
}

ElementState *
element_state_ensure (GstElement *element) noexcept
{
  if (ElementState *es = element_state_get (element))
    return es;
  std::lock_guard<std::mutex> lk (creation_lock);
  if (ElementState *es = element_state_get (element))
    return es;
  auto *es = new ElementState ();
  es->id = next_element_id.fetch_add (1, std::memory_order_relaxed);
  es->name.reset (gst_object_get_name (GST_OBJECT_CAST (element)));
  {
    std::lock_guard<std::mutex> rk (registry_lock);
    registry ().insert (es);
  }
  g_object_set_qdata_full (G_OBJECT (element), element_quark, es, element_state_destroy);
  return es;
}

inline PadState *
pad_state_get (GstPad *pad) noexcept
{
  auto *object = reinterpret_cast<GObject *> (pad);
  return static_cast<PadState *> (g_object_get_qdata (object, pad_quark));
}

PadState *
pad_state_ensure (GstPad *pad, GstElement *parent_hint) noexcept
{
  if (PadState *ps = pad_state_get (pad))
    return ps;
  ObjectRef<GstElement> parent;
  bool proxy = GST_IS_PROXY_PAD (pad);
  if (!proxy) {
    if (parent_hint)
      parent = ObjectRef<GstElement>::ref (parent_hint);
    else
      parent = ObjectRef<GstElement>::adopt (gst_pad_get_parent_element (pad));
  }
  ElementState *es = parent ? element_state_ensure (parent.get ()) : nullptr;
  std::lock_guard<std::mutex> lk (creation_lock);
  if (PadState *ps = pad_state_get (pad))
    return ps;
  auto *ps = new PadState ();
  ps->proxy = proxy;
  ps->element = element_state_ref (es);
  g_object_set_qdata_full (G_OBJECT (pad), pad_quark, ps, pad_state_destroy);
  return ps;
}

/* Slow path: the pad was (re)linked, or this is its first buffer. */
ElementState *
refresh_peer (PadState *ps, GstPad *pad) noexcept
{
  ps->peer_dirty.store (false, std::memory_order_relaxed);
  GstPad *peer = gst_pad_get_peer (pad);
  ElementState *es = nullptr;
  if (peer && !GST_IS_PROXY_PAD (peer)) {
    auto parent = ObjectRef<GstElement>::adopt (gst_pad_get_parent_element (peer));
    if (parent)
      es = element_state_ensure (parent.get ());
  }
  {
    std::lock_guard<std::mutex> lk (creation_lock);
    ElementState *old = ps->peer_element.load (std::memory_order_relaxed);
    if (old != es) {
      ps->peer_element.store (element_state_ref (es), std::memory_order_release);
      /* another thread may still be using the old one: keep it until the pad goes */
      if (old)
        ps->retired.push_back (old);
    }
    ps->peer_raw.store (peer, std::memory_order_relaxed);
  }
  if (peer)
    gst_object_unref (peer);
  return es;
}

inline ElementState *
peer_element_of (PadState *ps, GstPad *pad) noexcept
{
  GstPad *peer = GST_PAD_PEER (pad);
  if (G_LIKELY (!ps->peer_dirty.load (std::memory_order_relaxed)
                && peer == ps->peer_raw.load (std::memory_order_relaxed)))
    return ps->peer_element.load (std::memory_order_acquire);
  return refresh_peer (ps, pad);
}

/* ---- pools ---------------------------------------------------------------------- */

/* Counters fed by the pool-buffer-queued/-dequeued hooks (GStreamer >= 1.28). */
struct PoolCounters {
  Counter queued{ 0 };
  Counter dequeued{ 0 };
};

void
pool_counters_destroy (gpointer data) noexcept
{
  delete static_cast<PoolCounters *> (data);
}

PoolCounters *
pool_counters_ensure (GstBufferPool *pool) noexcept
{
  auto *object = reinterpret_cast<GObject *> (pool);
  auto *pc = static_cast<PoolCounters *> (g_object_get_qdata (object, pool_quark));
  if (G_LIKELY (pc))
    return pc;
  std::lock_guard<std::mutex> lk (creation_lock);
  pc = static_cast<PoolCounters *> (g_object_get_qdata (G_OBJECT (pool), pool_quark));
  if (!pc) {
    pc = new PoolCounters ();
    g_object_set_qdata_full (G_OBJECT (pool), pool_quark, pc, pool_counters_destroy);
  }
  return pc;
}

inline void
track_pool (PadState *ps, GstBufferPool *pool) noexcept
{
  /* re-check every 256 buffers in case a new pool took the address of a dead one */
  guint check = ps->pool_check.load (std::memory_order_relaxed) + 1;
  ps->pool_check.store (check, std::memory_order_relaxed);
  if (G_LIKELY (pool == ps->pool_raw.load (std::memory_order_relaxed) && (check & 0xff) != 0))
    return;
  ps->pool_raw.store (pool, std::memory_order_relaxed);
  /* g_weak_ref_set allocates a list node: only when the pool really changed */
  auto *known = static_cast<GstBufferPool *> (g_weak_ref_get (&ps->pool));
  if (known != pool)
    g_weak_ref_set (&ps->pool, pool);
  if (known)
    gst_object_unref (known); /* never the last reference: @pool is alive */
}

/* ---- hot path --------------------------------------------------------------------- */

/* @append: @bi is not the first buffer of a buffer list; the element gets the
 * list as one input, so its buffers go into one snapshot. */
inline void
record_input (ElementState *es, ThreadState *ts, const BufferInfo &bi, bool append) noexcept
{
  bump (es->buffers_in);
  bump (es->bytes_in, bi.size);
  es->in_kind.store (bi.kind, std::memory_order_relaxed);

  ThreadSlot &slot = ts->slots[es->id % kThreadSlots];
  if (append && slot.id == es->id) {
    Snapshot &cur = slot.cur;
    if (cur.kind != bi.kind)
      cur.kind = KIND_OTHER;
    for (guint i = 0; i < bi.n_roots; i++) {
      if (cur.n < kMaxRoots)
        cur.roots[cur.n++] = bi.roots[i];
      else
        cur.overflow = true;
    }
  } else {
    if (slot.id == es->id) {
      slot.prev = slot.cur;
    } else {
      slot.id = es->id;
      slot.prev.n = 0;
      slot.prev.overflow = false;
    }
    slot.cur.n = static_cast<guint8> (bi.n_roots);
    slot.cur.kind = bi.kind;
    slot.cur.overflow = bi.n_mem > bi.n_roots;
    for (guint i = 0; i < bi.n_roots; i++)
      slot.cur.roots[i] = bi.roots[i];
  }

  if (bi.n_roots) {
    guint pos = es->ring_pos.fetch_add (bi.n_roots, std::memory_order_relaxed);
    for (guint i = 0; i < bi.n_roots; i++)
      es->ring[(pos + i) % kRing].store (bi.roots[i], std::memory_order_relaxed);
  }
}

inline void
record_output (ElementState *es, ThreadState *ts, const BufferInfo &bi) noexcept
{
  bump (es->buffers_out);
  bump (es->bytes_out, bi.size);
  es->out_kind.store (bi.kind, std::memory_order_relaxed);
  if (bi.n_mem == 0)
    return;

  const ThreadSlot &slot = ts->slots[es->id % kThreadSlots];
  bool same_thread = slot.id == es->id;
  Kind in_kind;
  if (same_thread) {
    in_kind = slot.cur.kind;
  } else if (es->buffers_in.load (std::memory_order_relaxed) == 0) {
    return; /* a source: nothing came in, nothing to compare */
  } else {
    in_kind = static_cast<Kind> (es->in_kind.load (std::memory_order_relaxed));
    bump (es->decoupled);
  }
  bump (es->decided);

  bool copied = false;
  gsize copied_bytes = 0, listed = 0;
  for (guint i = 0; i < bi.n_roots; i++) {
    const GstMemory *root = bi.roots[i];
    listed += bi.sizes[i];
    bool known;
    if (same_thread)
      known = snapshot_has (slot.cur, root) || snapshot_has (slot.prev, root)
              || ((slot.cur.overflow || slot.prev.overflow) && es->ring_has (root));
    else
      known = es->ring_has (root);
    if (!known) {
      copied = true;
      copied_bytes += bi.sizes[i];
    }
  }
  if (copied) {
    if (bi.n_mem > bi.n_roots)
      copied_bytes += bi.size - listed;
    bump (es->copies);
    bump (es->bytes_copied, copied_bytes);
    GST_TRACE ("element #%" G_GUINT64_FORMAT ": copy of %" G_GSIZE_FORMAT " bytes", es->id,
               copied_bytes);
  }
  if (in_kind != KIND_NONE && in_kind != bi.kind)
    bump (es->kind_changes);
}

inline void
record_link (PadState *ps, GstBuffer *buf, const BufferInfo &bi) noexcept
{
  bump (ps->buffers);
  bump (ps->bytes, bi.size);
  bump (ps->kinds[bi.kind]);
  GstBufferPool *pool = buf->pool;
  if (pool) {
    bump (ps->pooled);
    track_pool (ps, pool);
  }
}

/* A buffer leaves @pad (a source pad, or a ghost/proxy pad) by gst_pad_push;
 * @in_list: it is not the first buffer of a list pushed at once. */
inline void
on_push (GstPad *pad, GstBuffer *buf, ThreadState *ts, bool in_list) noexcept
{
  PadState *ps = pad_state_get (pad);
  if (G_UNLIKELY (!ps))
    ps = pad_state_ensure (pad, nullptr);
  BufferInfo bi;
  buffer_info_fill (bi, buf, &ps->kind_cache);
  if (ps->element) {
    record_output (ps->element, ts, bi);
    record_link (ps, buf, bi);
  }
  if (ElementState *peer = peer_element_of (ps, pad))
    record_input (peer, ts, bi, in_list);
}

} // namespace

/* ---- hooks ---------------------------------------------------------------------------- */

static void
hook_pad_push_pre (GObject *, GstClockTime, GstPad *pad, GstBuffer *buf) noexcept
{
  if (G_UNLIKELY (!buf))
    return;
  on_push (pad, buf, thread_state (), false);
}

static void
hook_pad_push_list_pre (GObject *, GstClockTime, GstPad *pad, GstBufferList *list) noexcept
{
  if (G_UNLIKELY (!list))
    return;
  ThreadState *ts = thread_state ();
  guint n = gst_buffer_list_length (list);
  for (guint i = 0; i < n; i++)
    on_push (pad, gst_buffer_list_get (list, i), ts, i > 0);
}

/* @pad pulled @buf from its peer (pull mode). */
static void
hook_pad_pull_range_post (GObject *, GstClockTime, GstPad *pad, GstBuffer *buf,
                          GstFlowReturn res) noexcept
{
  if (res != GST_FLOW_OK || !buf)
    return;
  ThreadState *ts = thread_state ();
  BufferInfo bi;
  buffer_info_fill (bi, buf, nullptr);
  /* upstream first: the peer source pad produced it */
  if (GstPad *peer = gst_pad_get_peer (pad)) {
    if (!GST_IS_PROXY_PAD (peer)) {
      PadState *pps = pad_state_ensure (peer, nullptr);
      if (pps->element) {
        record_output (pps->element, ts, bi);
        record_link (pps, buf, bi);
      }
    }
    gst_object_unref (peer);
  }
  PadState *ps = pad_state_get (pad);
  if (G_UNLIKELY (!ps))
    ps = pad_state_ensure (pad, nullptr);
  if (ps->element)
    record_input (ps->element, ts, bi, false);
}

static void
hook_element_new (GObject *, GstClockTime, GstElement *element) noexcept
{
  element_state_ensure (element);
}

static void
hook_element_add_pad (GObject *, GstClockTime, GstElement *element, GstPad *pad) noexcept
{
  if (element && pad)
    pad_state_ensure (pad, element);
}

static void
mark_dirty (GstPad *pad) noexcept
{
  if (!pad)
    return;
  if (PadState *ps = pad_state_get (pad))
    ps->peer_dirty.store (true, std::memory_order_relaxed);
}

static void
hook_pad_link_post (GObject *, GstClockTime, GstPad *srcpad, GstPad *sinkpad,
                    GstPadLinkReturn) noexcept
{
  mark_dirty (srcpad);
  mark_dirty (sinkpad);
}

static void
hook_pad_unlink_post (GObject *, GstClockTime, GstPad *srcpad, GstPad *sinkpad, gboolean) noexcept
{
  mark_dirty (srcpad);
  mark_dirty (sinkpad);
}

/* The pools a downstream element proposes in answer to an ALLOCATION query. */
static void
hook_pad_query_post (GObject *, GstClockTime, GstPad *pad, GstQuery *query, gboolean res) noexcept
{
  if (G_LIKELY (GST_QUERY_TYPE (query) != GST_QUERY_ALLOCATION) || !res)
    return;
  if (GST_IS_PROXY_PAD (pad))
    return; /* the real pad behind it answers too */
  PadState *ps = pad_state_ensure (pad, nullptr);
  guint n = gst_query_get_n_allocation_pools (query);
  for (guint i = 0; i < n; i++) {
    GstBufferPool *pool = nullptr;
    guint size = 0, min = 0, max = 0;
    gst_query_parse_nth_allocation_pool (query, i, &pool, &size, &min, &max);
    if (!pool)
      continue;
    auto owned = ObjectRef<GstBufferPool>::adopt (pool);
    GST_DEBUG_OBJECT (pad, "proposes pool %" GST_PTR_FORMAT " size %u min %u max %u", pool, size,
                      min, max);
    std::vector<ObjectRef<GstBufferPool>> seen; /* dropped after the lock */
    std::lock_guard<std::mutex> lk (creation_lock);
    guint slot = ps->n_proposals;
    for (guint j = 0; j < ps->n_proposals; j++) {
      auto known = ObjectRef<GstBufferPool>::adopt (
          static_cast<GstBufferPool *> (g_weak_ref_get (&ps->proposals[j].pool)));
      bool same = known.get () == pool || !known;
      seen.push_back (std::move (known));
      if (same) {
        slot = j;
        break;
      }
    }
    if (slot >= kMaxProposals)
      slot = kMaxProposals - 1;
    g_weak_ref_set (&ps->proposals[slot].pool, pool);
    ps->proposals[slot].size = size;
    ps->proposals[slot].min = min;
    ps->proposals[slot].max = max;
    ps->n_proposals = MAX (ps->n_proposals, slot + 1);
  }
}

static void
hook_pool_buffer_queued (GObject *, GstClockTime, GstBufferPool *pool, GstBuffer *) noexcept
{
  if (pool)
    bump (pool_counters_ensure (pool)->queued);
}

static void
hook_pool_buffer_dequeued (GObject *, GstClockTime, GstBufferPool *pool, GstBuffer *) noexcept
{
  if (pool)
    bump (pool_counters_ensure (pool)->dequeued);
}

/* ---- report ----------------------------------------------------------------------------- */

/* Settings are fixed at construction (from the "params" string). */
struct GstDmakitTracerImpl {
  gboolean print = TRUE;
  gboolean post = TRUE;
  bool active = false; /* the one instance that registered the hooks */
};

struct _GstDmakitTracer {
  GstTracer parent;
  GstDmakitTracerImpl *impl;
};

G_DEFINE_TYPE_WITH_CODE (GstDmakitTracer, gst_dmakit_tracer, GST_TYPE_TRACER,
                         GST_DEBUG_CATEGORY_INIT (gst_dmakit_tracer_debug, "dmakittracer", 0,
                                                  "dmakit memory/copy/pool tracer"));

static std::atomic<GstDmakitTracer *> active_tracer{ nullptr };

namespace {

std::string
format_bytes (guint64 b)
{
  gchar buf[32];
  if (b >= G_GUINT64_CONSTANT (1000000000))
    g_snprintf (buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 100000000)
    g_snprintf (buf, sizeof buf, "%.0f MB", b / 1e6);
  else if (b >= 1000000)
    g_snprintf (buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1000)
    g_snprintf (buf, sizeof buf, "%.1f kB", b / 1e3);
  else
    g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT " B", b);
  return buf;
}

std::string
pad_label (GstPad *pad)
{
  std::string s;
  GstObject *parent = gst_object_get_parent (GST_OBJECT_CAST (pad));
  if (parent) {
    GCharPtr pname (gst_object_get_name (parent));
    s += pname.get () ? pname.get () : "?";
    gst_object_unref (parent);
  } else {
    s += "?";
  }
  GCharPtr name (gst_object_get_name (GST_OBJECT_CAST (pad)));
  s += ".";
  s += name.get () ? name.get () : "?";
  return s;
}

/* The real pad a source pad ends up feeding, through ghost pads. */
ObjectRef<GstPad>
real_peer (GstPad *pad)
{
  auto peer = ObjectRef<GstPad>::adopt (gst_pad_get_peer (pad));
  for (int depth = 0; peer && GST_IS_PROXY_PAD (peer.get ()) && depth < 32; depth++) {
    auto internal = ObjectRef<GstPad>::adopt (
        GST_PAD_CAST (gst_proxy_pad_get_internal (GST_PROXY_PAD (peer.get ()))));
    if (!internal)
      return {};
    peer = ObjectRef<GstPad>::adopt (gst_pad_get_peer (internal.get ()));
  }
  return peer;
}

std::vector<ObjectRef<GstElement>>
bin_children_upstream_first (GstBin *bin)
{
  std::vector<ObjectRef<GstElement>> children;
  GstIterator *it = gst_bin_iterate_sorted (bin);
  GValue v = G_VALUE_INIT;
  bool done = false;
  while (!done) {
    switch (gst_iterator_next (it, &v)) {
      case GST_ITERATOR_OK:
        children.push_back (ObjectRef<GstElement>::ref (GST_ELEMENT (g_value_get_object (&v))));
        g_value_reset (&v);
        break;
      case GST_ITERATOR_RESYNC:
        children.clear ();
        gst_iterator_resync (it);
        break;
      default:
        done = true;
        break;
    }
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  /* sorted is sinks first */
  std::reverse (children.begin (), children.end ());
  return children;
}

void
collect_elements (GstBin *bin, std::vector<ObjectRef<GstElement>> &out, int depth)
{
  for (auto &child : bin_children_upstream_first (bin)) {
    bool is_bin = GST_IS_BIN (child.get ());
    GstElement *raw = child.get ();
    out.push_back (std::move (child));
    if (is_bin && depth < 32)
      collect_elements (GST_BIN (raw), out, depth + 1);
  }
}

std::vector<ObjectRef<GstPad>>
element_pads (GstElement *element)
{
  std::vector<ObjectRef<GstPad>> pads;
  dmakit::ObjectLocker lock (element);
  for (GList *l = element->pads; l; l = l->next)
    pads.push_back (ObjectRef<GstPad>::ref (GST_PAD (l->data)));
  return pads;
}

bool
get_u64 (const GstStructure *s, const char *field, guint64 *out)
{
  const GValue *v = gst_structure_get_value (s, field);
  if (!v)
    return false;
  GValue u = G_VALUE_INIT;
  g_value_init (&u, G_TYPE_UINT64);
  bool ok = g_value_type_transformable (G_VALUE_TYPE (v), G_TYPE_UINT64)
            && g_value_transform (v, &u);
  if (ok)
    *out = g_value_get_uint64 (&u);
  g_value_unset (&u);
  return ok;
}

struct PoolUse {
  std::string used_by;     /* source pad of the element that acquires from it */
  std::string proposed_by; /* sink pad of the element that proposed it */
  guint proposed_size = 0, proposed_min = 0, proposed_max = 0;
  bool proposed = false;
};

void
array_append_structure (GValue *array, GstStructure *s)
{
  GValue v = G_VALUE_INIT;
  g_value_init (&v, GST_TYPE_STRUCTURE);
  g_value_take_boxed (&v, s);
  gst_value_array_append_and_take_value (array, &v);
}

struct ElementRow {
  std::string name;
  const char *role;
  guint64 frames, in, out, bytes_in, bytes_out, decided, decoupled, copies, bytes_copied,
      kind_changes;
  Kind in_kind, out_kind;
};

std::string
summary_entry (const ElementRow &r)
{
  GCharPtr s;
  if (g_str_equal (r.role, "source"))
    s.reset (g_strdup_printf ("%s: %" G_GUINT64_FORMAT " frames (source, %s)", r.name.c_str (),
                              r.frames, kind_names[r.out_kind]));
  else if (g_str_equal (r.role, "sink"))
    s.reset (g_strdup_printf ("%s: %" G_GUINT64_FORMAT " frames (sink, %s)", r.name.c_str (),
                              r.frames, kind_names[r.in_kind]));
  else
    s.reset (g_strdup_printf ("%s: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT
                              " copies%s%s%s",
                              r.name.c_str (), r.frames, r.copies, r.copies ? ", " : "",
                              r.copies ? format_bytes (r.bytes_copied).c_str () : "",
                              r.copies ? " copied" : ""));
  std::string out = s.get ();
  if (r.kind_changes && r.in_kind != r.out_kind) {
    out += ", ";
    out += kind_names[r.in_kind];
    out += "->";
    out += kind_names[r.out_kind];
  }
  return out;
}

} // namespace

/* Builds the report of @pipeline, restarts its counters, prints/logs/posts it.
 * Returns FALSE when nothing flowed since the last report. Takes no lock while
 * posting. */
static gboolean
report_pipeline (GstDmakitTracer *self, GstElement *pipeline, const char *reason) noexcept
{
  std::vector<ObjectRef<GstElement>> elements;
  if (GST_IS_BIN (pipeline))
    collect_elements (GST_BIN (pipeline), elements, 0);

  std::vector<ElementRow> rows;
  std::map<GstBufferPool *, PoolUse> pools;
  std::vector<ObjectRef<GstBufferPool>> pool_refs;
  GValue elements_v = G_VALUE_INIT, links_v = G_VALUE_INIT, pools_v = G_VALUE_INIT;
  g_value_init (&elements_v, GST_TYPE_ARRAY);
  g_value_init (&links_v, GST_TYPE_ARRAY);
  g_value_init (&pools_v, GST_TYPE_ARRAY);
  std::string links_text;

  for (auto &element : elements) {
    ElementState *es = element_state_get (element.get ());
    GCharPtr name (gst_object_get_name (GST_OBJECT_CAST (element.get ())));
    if (es) {
      std::lock_guard<std::mutex> lk (registry_lock);
      es->name.reset (g_strdup (name.get ()));
    }
    /* links and pools, from the element's pads */
    for (auto &pad : element_pads (element.get ())) {
      PadState *ps = pad_state_get (pad.get ());
      if (!ps)
        continue;
      std::string label = pad_label (pad.get ());
      if (GST_PAD_IS_SRC (pad.get ())) {
        guint64 buffers = take (ps->buffers);
        guint64 bytes = take (ps->bytes);
        guint64 pooled = take (ps->pooled);
        guint64 kinds[KIND_COUNT];
        guint best = KIND_NONE;
        for (guint k = 0; k < KIND_COUNT; k++) {
          kinds[k] = take (ps->kinds[k]);
          if (kinds[k] > kinds[best])
            best = k;
        }
        if (buffers) {
          auto peer = real_peer (pad.get ());
          std::string sink = peer ? pad_label (peer.get ()) : std::string ("(unlinked)");
          GstStructure *l = gst_structure_new (
              "dmakit-link", "src", G_TYPE_STRING, label.c_str (), "sink", G_TYPE_STRING,
              sink.c_str (), "buffers", G_TYPE_UINT64, buffers, "bytes", G_TYPE_UINT64, bytes,
              "pooled", G_TYPE_UINT64, pooled, "memory", G_TYPE_STRING, kind_names[best], "dmabuf",
              G_TYPE_UINT64, kinds[KIND_DMABUF], "fd", G_TYPE_UINT64, kinds[KIND_FD], "system",
              G_TYPE_UINT64, kinds[KIND_SYSTEM], "other", G_TYPE_UINT64, kinds[KIND_OTHER],
              "empty", G_TYPE_UINT64, kinds[KIND_NONE], NULL);
          array_append_structure (&links_v, l);
          GCharPtr line (g_strdup_printf (
              "  link %s -> %s: %" G_GUINT64_FORMAT " buffers, %s, %s (dmabuf %" G_GUINT64_FORMAT
              ", fd %" G_GUINT64_FORMAT ", system %" G_GUINT64_FORMAT ", other %" G_GUINT64_FORMAT
              "), %" G_GUINT64_FORMAT " from a pool\n",
              label.c_str (), sink.c_str (), buffers, format_bytes (bytes).c_str (),
              kind_names[best], kinds[KIND_DMABUF], kinds[KIND_FD], kinds[KIND_SYSTEM],
              kinds[KIND_OTHER], pooled));
          links_text += line.get ();
        }
        auto *pool = static_cast<GstBufferPool *> (g_weak_ref_get (&ps->pool));
        if (pool) {
          auto ref = ObjectRef<GstBufferPool>::adopt (pool);
          if (pools.find (pool) == pools.end ())
            pool_refs.push_back (ref);
          /* elements come upstream first: the first pad is the producer,
           * later ones only pass its buffers on */
          std::string &used_by = pools[pool].used_by;
          if (used_by.empty ())
            used_by = label;
        }
      }
      struct Proposed {
        ObjectRef<GstBufferPool> pool;
        guint size, min, max;
      };
      std::vector<Proposed> proposed;
      {
        std::lock_guard<std::mutex> lk (creation_lock);
        for (guint j = 0; j < ps->n_proposals; j++) {
          auto pool = ObjectRef<GstBufferPool>::adopt (
              static_cast<GstBufferPool *> (g_weak_ref_get (&ps->proposals[j].pool)));
          if (pool)
            proposed.push_back ({ std::move (pool), ps->proposals[j].size, ps->proposals[j].min,
                                  ps->proposals[j].max });
        }
      }
      for (auto &prop : proposed) {
        GstBufferPool *pool = prop.pool.get ();
        if (pools.find (pool) == pools.end ())
          pool_refs.push_back (prop.pool);
        PoolUse &use = pools[pool];
        /* the answer passes through every pad upstream of the element that
         * made it; elements come upstream first, so keep the last one */
        use.proposed_by = label;
        use.proposed = true;
        use.proposed_size = prop.size;
        use.proposed_min = prop.min;
        use.proposed_max = prop.max;
      }
    }
    if (!es)
      continue;

    ElementRow r;
    r.name = name.get () ? name.get () : "?";
    r.in = take (es->buffers_in);
    r.out = take (es->buffers_out);
    r.bytes_in = take (es->bytes_in);
    r.bytes_out = take (es->bytes_out);
    r.decided = take (es->decided);
    r.decoupled = take (es->decoupled);
    r.copies = take (es->copies);
    r.bytes_copied = take (es->bytes_copied);
    r.kind_changes = take (es->kind_changes);
    r.in_kind = r.in ? static_cast<Kind> (es->in_kind.load ()) : KIND_NONE;
    r.out_kind = r.out ? static_cast<Kind> (es->out_kind.load ()) : KIND_NONE;
    if (r.in == 0 && r.out == 0)
      continue;
    if (r.in == 0)
      r.role = "source";
    else if (r.out == 0)
      r.role = "sink";
    else if (r.decoupled)
      r.role = "decoupled";
    else
      r.role = "filter";
    r.frames = r.out ? r.out : r.in;

    GstElementFactory *factory = gst_element_get_factory (element.get ());
    GstStructure *e = gst_structure_new (
        "dmakit-element", "name", G_TYPE_STRING, r.name.c_str (), "factory", G_TYPE_STRING,
        factory ? GST_OBJECT_NAME (factory) : G_OBJECT_TYPE_NAME (element.get ()), "role",
        G_TYPE_STRING, r.role, "frames", G_TYPE_UINT64, r.frames, "buffers-in", G_TYPE_UINT64,
        r.in, "buffers-out", G_TYPE_UINT64, r.out, "bytes-in", G_TYPE_UINT64, r.bytes_in,
        "bytes-out", G_TYPE_UINT64, r.bytes_out, "compared", G_TYPE_UINT64, r.decided,
        "cross-thread", G_TYPE_UINT64, r.decoupled, "copies", G_TYPE_UINT64, r.copies,
        "bytes-copied", G_TYPE_UINT64, r.bytes_copied, "kind-changes", G_TYPE_UINT64,
        r.kind_changes, "memory-in", G_TYPE_STRING, kind_names[r.in_kind], "memory-out",
        G_TYPE_STRING, kind_names[r.out_kind], NULL);
    array_append_structure (&elements_v, e);
    rows.push_back (std::move (r));
  }

  std::string pools_text;
  for (auto &pool_ref : pool_refs) {
    GstBufferPool *pool = pool_ref.get ();
    const PoolUse &use = pools[pool];
    guint size = 0, min = 0, max = 0;
    if (GstStructure *config = gst_buffer_pool_get_config (pool)) {
      gst_buffer_pool_config_get_params (config, nullptr, &size, &min, &max);
      gst_structure_free (config);
    }
    gint64 outstanding = -1, free_buffers = -1;
    guint64 waits = 0, wait_total = 0, wait_max = 0;
    GstStructure *stats = nullptr;
    if (GST_DMAKIT_IS_BUFFER_POOL (pool)) {
      stats = gst_dmakit_buffer_pool_get_stats (pool);
      guint64 v;
      if (stats && get_u64 (stats, "outstanding", &v))
        outstanding = static_cast<gint64> (v);
      if (stats && get_u64 (stats, "free", &v))
        free_buffers = static_cast<gint64> (v);
      if (stats)
        get_u64 (stats, "waits", &waits);
      if (stats)
        get_u64 (stats, "wait-total-ns", &wait_total);
      if (stats)
        get_u64 (stats, "wait-max-ns", &wait_max);
    } else if (auto *pc = static_cast<PoolCounters *> (
                   g_object_get_qdata (G_OBJECT (pool), pool_quark))) {
      /* GStreamer >= 1.28: buffers put back minus buffers taken = free */
      gint64 q = static_cast<gint64> (pc->queued.load ());
      gint64 d = static_cast<gint64> (pc->dequeued.load ());
      if (q >= d)
        free_buffers = q - d;
    }
    GCharPtr pname (gst_object_get_name (GST_OBJECT_CAST (pool)));
    GstStructure *p = gst_structure_new (
        "dmakit-pool", "name", G_TYPE_STRING, pname.get (), "type", G_TYPE_STRING,
        G_OBJECT_TYPE_NAME (pool), "size", G_TYPE_UINT, size, "min-buffers", G_TYPE_UINT, min,
        "max-buffers", G_TYPE_UINT, max, "active", G_TYPE_BOOLEAN, gst_buffer_pool_is_active (pool),
        "used-by", G_TYPE_STRING, use.used_by.c_str (), "proposed-by", G_TYPE_STRING,
        use.proposed_by.c_str (), "outstanding", G_TYPE_INT64, outstanding, "free", G_TYPE_INT64,
        free_buffers, "waits", G_TYPE_UINT64, waits, "wait-total-ns", G_TYPE_UINT64, wait_total,
        "wait-max-ns", G_TYPE_UINT64, wait_max, NULL);
    if (use.proposed)
      gst_structure_set (p, "proposed-size", G_TYPE_UINT, use.proposed_size,
                         "proposed-min-buffers", G_TYPE_UINT, use.proposed_min,
                         "proposed-max-buffers", G_TYPE_UINT, use.proposed_max, NULL);
    if (stats) {
      gst_structure_set (p, "stats", GST_TYPE_STRUCTURE, stats, NULL);
      /* freed below, after its figures made it into the text */
    }
    array_append_structure (&pools_v, p);

    std::string counts = outstanding >= 0 ? std::to_string (outstanding) + " out" : "out ?";
    counts += free_buffers >= 0 ? ", " + std::to_string (free_buffers) + " free" : ", free ?";
    if (stats) {
      GCharPtr w (g_strdup_printf (", %" G_GUINT64_FORMAT " waits (%.3f ms total, %.3f ms max)",
                                   waits, wait_total / 1e6, wait_max / 1e6));
      counts += w.get ();
    }
    GCharPtr proposal (use.proposed ? g_strdup_printf ("; proposed by %s (size %u, min %u, max %u)",
                                                       use.proposed_by.c_str (), use.proposed_size,
                                                       use.proposed_min, use.proposed_max)
                                    : g_strdup (""));
    GCharPtr line (g_strdup_printf ("  pool %s (%s): size %u, min %u, max %u; %s%s%s%s\n",
                                    pname.get (), G_OBJECT_TYPE_NAME (pool), size, min, max,
                                    counts.c_str (), use.used_by.empty () ? "" : "; used by ",
                                    use.used_by.c_str (), proposal.get ()));
    pools_text += line.get ();
    if (stats)
      gst_structure_free (stats);
  }

  if (rows.empty ()) {
    g_value_unset (&elements_v);
    g_value_unset (&links_v);
    g_value_unset (&pools_v);
    return FALSE;
  }

  std::string summary;
  for (const auto &r : rows) {
    if (!summary.empty ())
      summary += "; ";
    summary += summary_entry (r);
  }
  GCharPtr pipeline_name (gst_object_get_name (GST_OBJECT_CAST (pipeline)));

  GST_INFO_OBJECT (pipeline, "report (%s): %s", reason, summary.c_str ());

  if (self->impl->print) {
    std::string table;
    GCharPtr head (g_strdup_printf ("dmakit tracer: %s (%s)\n  %-24s %-9s %8s %8s %10s  %s\n",
                                    pipeline_name.get (), reason, "element", "role", "frames",
                                    "copies", "copied", "memory in -> out"));
    table += head.get ();
    for (const auto &r : rows) {
      bool filter = !g_str_equal (r.role, "source") && !g_str_equal (r.role, "sink");
      std::string copies = filter ? std::to_string (r.copies) : "-";
      std::string copied = filter ? format_bytes (r.bytes_copied) : "-";
      GCharPtr line (g_strdup_printf ("  %-24s %-9s %8" G_GUINT64_FORMAT " %8s %10s  %s -> %s\n",
                                      r.name.c_str (), r.role, r.frames, copies.c_str (),
                                      copied.c_str (), r.in ? kind_names[r.in_kind] : "-",
                                      r.out ? kind_names[r.out_kind] : "-"));
      table += line.get ();
    }
    table += links_text;
    table += pools_text;
    table += "  summary: " + summary + "\n";
    g_printerr ("%s", table.c_str ());
  }

  if (self->impl->post) {
    GstStructure *s = gst_structure_new (GST_DMAKIT_TRACER_REPORT_NAME, "pipeline", G_TYPE_STRING,
                                         pipeline_name.get (), "reason", G_TYPE_STRING, reason,
                                         "summary", G_TYPE_STRING, summary.c_str (), NULL);
    gst_structure_take_value (s, "elements", &elements_v);
    gst_structure_take_value (s, "links", &links_v);
    gst_structure_take_value (s, "pools", &pools_v);
    GstMessage *msg = gst_message_new_element (GST_OBJECT_CAST (pipeline), s);
    gst_element_post_message (pipeline, msg);
  } else {
    g_value_unset (&elements_v);
    g_value_unset (&links_v);
    g_value_unset (&pools_v);
  }
  return TRUE;
}

static inline bool
is_top_level_bin (GstElement *element) noexcept
{
  return GST_IS_BIN (element) && GST_OBJECT_PARENT (element) == nullptr;
}

static void
hook_element_post_message_pre (GObject *self, GstClockTime, GstElement *element,
                               GstMessage *message) noexcept
{
  if (G_LIKELY (GST_MESSAGE_TYPE (message) != GST_MESSAGE_EOS))
    return;
  if (!element || !is_top_level_bin (element))
    return;
  /* posted before the EOS message itself, so an application that stops at EOS
   * has the report on its bus already */
  report_pipeline (GST_DMAKIT_TRACER (self), element, "eos");
}

static void
hook_element_change_state_post (GObject *self, GstClockTime, GstElement *element,
                                GstStateChange transition, GstStateChangeReturn result) noexcept
{
  if (G_LIKELY (transition != GST_STATE_CHANGE_PAUSED_TO_READY))
    return;
  if (result == GST_STATE_CHANGE_FAILURE || !is_top_level_bin (element))
    return;
  /* streaming has stopped; report what flowed since the last report (the bus
   * is flushed only on READY -> NULL) */
  report_pipeline (GST_DMAKIT_TRACER (self), element, "shutdown");
}

/* ---- GObject ----------------------------------------------------------------------------- */

static bool
parse_bool (const GValue *v, gboolean *out) noexcept
{
  if (G_VALUE_HOLDS_BOOLEAN (v)) {
    *out = g_value_get_boolean (v);
    return true;
  }
  if (G_VALUE_HOLDS_INT (v)) {
    *out = g_value_get_int (v) != 0;
    return true;
  }
  if (G_VALUE_HOLDS_STRING (v)) {
    const gchar *s = g_value_get_string (v);
    if (!g_ascii_strcasecmp (s, "yes") || !g_ascii_strcasecmp (s, "on")) {
      *out = TRUE;
      return true;
    }
    if (!g_ascii_strcasecmp (s, "no") || !g_ascii_strcasecmp (s, "off")) {
      *out = FALSE;
      return true;
    }
  }
  return false;
}

static void
gst_dmakit_tracer_parse_params (GstDmakitTracer *self) noexcept
{
  gchar *raw = nullptr;
  g_object_get (self, "params", &raw, NULL);
  GCharPtr params (raw);
  if (!params || !*params.get ())
    return;
  GCharPtr text (g_strdup_printf ("dmakit,%s", params.get ()));
  GstStructure *s = gst_structure_new_from_string (text.get ());
  if (!s) {
    GST_WARNING_OBJECT (self, "cannot parse parameters \"%s\" (expected e.g. "
                              "\"print=false,post=true\"); using the defaults",
                        params.get ());
    return;
  }
  guint n = gst_structure_n_fields (s);
  for (guint i = 0; i < n; i++) {
    const gchar *field = gst_structure_nth_field_name (s, i);
    const GValue *v = gst_structure_get_value (s, field);
    gboolean *target = nullptr;
    if (g_str_equal (field, "print"))
      target = &self->impl->print;
    else if (g_str_equal (field, "post"))
      target = &self->impl->post;
    if (!target) {
      GST_WARNING_OBJECT (self, "unknown parameter \"%s\" (known: print, post)", field);
      continue;
    }
    if (!parse_bool (v, target))
      GST_WARNING_OBJECT (self, "parameter \"%s\" needs true or false", field);
  }
  gst_structure_free (s);
}

static void
gst_dmakit_tracer_constructed (GObject *object) noexcept
{
  GstDmakitTracer *self = GST_DMAKIT_TRACER (object);
  G_OBJECT_CLASS (gst_dmakit_tracer_parent_class)->constructed (object);
  gst_dmakit_tracer_parse_params (self);

  GstDmakitTracer *expected = nullptr;
  if (!active_tracer.compare_exchange_strong (expected, self)) {
    GST_WARNING_OBJECT (self, "another dmakit tracer is already active; this one stays idle");
    return;
  }
  self->impl->active = true;

  GstTracer *tracer = GST_TRACER (self);
  gst_tracing_register_hook (tracer, "pad-push-pre", G_CALLBACK (hook_pad_push_pre));
  gst_tracing_register_hook (tracer, "pad-push-list-pre", G_CALLBACK (hook_pad_push_list_pre));
  gst_tracing_register_hook (tracer, "pad-pull-range-post", G_CALLBACK (hook_pad_pull_range_post));
  gst_tracing_register_hook (tracer, "pad-query-post", G_CALLBACK (hook_pad_query_post));
  gst_tracing_register_hook (tracer, "pad-link-post", G_CALLBACK (hook_pad_link_post));
  gst_tracing_register_hook (tracer, "pad-unlink-post", G_CALLBACK (hook_pad_unlink_post));
  gst_tracing_register_hook (tracer, "element-new", G_CALLBACK (hook_element_new));
  gst_tracing_register_hook (tracer, "element-add-pad", G_CALLBACK (hook_element_add_pad));
  gst_tracing_register_hook (tracer, "element-post-message-pre",
                             G_CALLBACK (hook_element_post_message_pre));
  gst_tracing_register_hook (tracer, "element-change-state-post",
                             G_CALLBACK (hook_element_change_state_post));

  /* The pool hooks appeared in GStreamer 1.28; they need no new symbol, so the
   * check is on the version we run against, not the one we were built with. */
  guint major = 0, minor = 0, micro = 0, nano = 0;
  gst_version (&major, &minor, &micro, &nano);
  if (major > 1 || (major == 1 && minor >= 28)) {
    gst_tracing_register_hook (tracer, "pool-buffer-queued", G_CALLBACK (hook_pool_buffer_queued));
    gst_tracing_register_hook (tracer, "pool-buffer-dequeued",
                               G_CALLBACK (hook_pool_buffer_dequeued));
  }
  GST_INFO_OBJECT (self, "dmakit tracer active (print=%d, post=%d, GStreamer %u.%u.%u)",
                   self->impl->print, self->impl->post, major, minor, micro);
}

static void
gst_dmakit_tracer_finalize (GObject *object) noexcept
{
  GstDmakitTracer *self = GST_DMAKIT_TRACER (object);
  if (self->impl->active) {
    /* whatever was never reported (no EOS, no shutdown) */
    std::string text;
    {
      std::lock_guard<std::mutex> lk (registry_lock);
      for (ElementState *es : registry ()) {
        guint64 in = es->buffers_in.load (), out = es->buffers_out.load ();
        if (!in && !out)
          continue;
        GCharPtr line (g_strdup_printf (
            "  %s: %" G_GUINT64_FORMAT " in, %" G_GUINT64_FORMAT " out, %" G_GUINT64_FORMAT
            " copies, %s copied\n",
            es->name.get () ? es->name.get () : "?", in, out, es->copies.load (),
            format_bytes (es->bytes_copied.load ()).c_str ()));
        text += line.get ();
      }
    }
    if (!text.empty ()) {
      GST_INFO_OBJECT (self, "unreported at exit:\n%s", text.c_str ());
      if (self->impl->print)
        g_printerr ("dmakit tracer: unreported at exit\n%s", text.c_str ());
    }
    GstDmakitTracer *expected = self;
    active_tracer.compare_exchange_strong (expected, nullptr);
  }
  delete std::exchange (self->impl, nullptr);
  G_OBJECT_CLASS (gst_dmakit_tracer_parent_class)->finalize (object);
}

static void
gst_dmakit_tracer_class_init (GstDmakitTracerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  gobject_class->constructed = gst_dmakit_tracer_constructed;
  gobject_class->finalize = gst_dmakit_tracer_finalize;
  element_quark = g_quark_from_static_string ("dmakit-tracer-element");
  pad_quark = g_quark_from_static_string ("dmakit-tracer-pad");
  pool_quark = g_quark_from_static_string ("dmakit-tracer-pool");
}

static void
gst_dmakit_tracer_init (GstDmakitTracer *self)
{
  self->impl = new GstDmakitTracerImpl ();
}
