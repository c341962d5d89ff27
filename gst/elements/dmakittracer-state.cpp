/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakittracer-state.cpp: the `dmakit` tracer's state and what the hooks
 * record in it (see dmakittracer-state.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakittracer-state.h"

#include <gst/allocators/allocators.h>

#include <cstring>

namespace dmakit
{
namespace tracer
{

static inline Kind
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

static inline Kind
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

void
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

static GPrivate thread_state_key = G_PRIVATE_INIT (g_free);

ThreadState *
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

static inline bool
snapshot_has (const Snapshot &s, const GstMemory *root) noexcept
{
  for (guint i = 0; i < s.n; i++)
    if (s.roots[i] == root)
      return true;
  return false;
}

static std::atomic<guint64> next_element_id{ 1 };

/* Live element states, for the printout at exit. */
std::mutex registry_lock;
std::unordered_set<ElementState *> &
registry ()
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

/* Serialises state creation, peer cache updates and allocation proposals. */
std::mutex creation_lock;
GQuark element_quark;
GQuark pad_quark;
GQuark pool_quark;

static void
element_state_destroy (gpointer data) noexcept
{
  element_state_unref (static_cast<ElementState *> (data));
}

static void
pad_state_destroy (gpointer data) noexcept
{
  delete static_cast<PadState *> (data);
}

ElementState *
element_state_ensure (GstElement *element)
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
    try {
      registry ().insert (es);
    } catch (...) {
      delete es;
      throw;
    }
  }
  g_object_set_qdata_full (G_OBJECT (element), element_quark, es, element_state_destroy);
  return es;
}

PadState *
pad_state_ensure (GstPad *pad, GstElement *parent_hint)
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
static ElementState *
refresh_peer (PadState *ps, GstPad *pad)
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
      /* another thread may still be using the old one: keep it until the pad
       * goes (first, so that a failed push_back changes nothing) */
      if (old)
        ps->retired.push_back (old);
      ps->peer_element.store (element_state_ref (es), std::memory_order_release);
    }
    ps->peer_raw.store (peer, std::memory_order_relaxed);
  }
  if (peer)
    gst_object_unref (peer);
  return es;
}

static inline ElementState *
peer_element_of (PadState *ps, GstPad *pad)
{
  GstPad *peer = GST_PAD_PEER (pad);
  if (G_LIKELY (!ps->peer_dirty.load (std::memory_order_relaxed)
                && peer == ps->peer_raw.load (std::memory_order_relaxed)))
    return ps->peer_element.load (std::memory_order_acquire);
  return refresh_peer (ps, pad);
}

static void
pool_counters_destroy (gpointer data) noexcept
{
  delete static_cast<PoolCounters *> (data);
}

PoolCounters *
pool_counters_ensure (GstBufferPool *pool)
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

static inline void
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
void
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

void
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

void
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
void
on_push (GstPad *pad, GstBuffer *buf, ThreadState *ts, bool in_list)
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

} // namespace tracer
} // namespace dmakit
