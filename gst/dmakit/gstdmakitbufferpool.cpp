/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitbufferpool.cpp: GstDmakitBufferPool, a bounded, preallocating,
 * counting GstBufferPool whose acquire/release path takes no heap allocation
 * and makes no syscall in steady state, and which never starves silently.
 * This file is the GObject glue, the vfuncs and the hot paths; the state and
 * the threading model are described in dmakit-pool-private.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"
#include "dmakit-mlock.h"

#include <gst/video/gstvideopool.h>

#include <new>
#include <utility>

GST_DEBUG_CATEGORY (gst_dmakit_buffer_pool_debug);
GST_DEBUG_CATEGORY (gst_dmakit_buffer_pool_performance);
#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug

using dmakit::ObjectRef;
using namespace dmakit::pool;

G_DEFINE_TYPE (GstDmakitBufferPool, gst_dmakit_buffer_pool, GST_TYPE_BUFFER_POOL)

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

static gboolean
gst_dmakit_buffer_pool_set_config (GstBufferPool *pool, GstStructure *config) noexcept
{
  if (!configure (GST_DMAKIT_BUFFER_POOL (pool), config))
    return FALSE;
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
  GST_DEBUG_OBJECT (self,
                    "flushing (set_flushing or deactivation): %" G_GUINT64_FORMAT
                    " buffers out, %u acquirers woken",
                    out, waiters);
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
      dmakit::unlock_pages (slot.unlock_addr, slot.unlock_len);
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

/* Whether @mem belongs to its buffer alone: nobody else holds a reference
 * (another buffer sharing it, a share of it, a gst_buffer_map() not undone
 * all hold one) and it is not read-only. Public API only: the refcount and
 * the flags. (gst_memory_is_writable() would say the same for a memory whose
 * only holder is one buffer with one ref, at 12-20 ns more per cycle in
 * bench-bufferpool's single-thread loop.) */
static inline bool
memory_is_exclusive (GstMemory *mem) noexcept
{
  return GST_MINI_OBJECT_REFCOUNT_VALUE (mem) == 1 && !GST_MEMORY_IS_READONLY (mem);
}

/* Drop the metas that are not POOLED (and clear the pooled ones that can
 * be, GStreamer >= 1.24), as GstBufferPool's default reset does. */
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
  (void)buffer;
#endif
  return TRUE;
}

/* GstBufferPool calls this before release_buffer for every buffer coming
 * back (gst_buffer_pool_release_buffer: reset_buffer, release_buffer, then
 * the outstanding count). It does what GstBufferPool's default does (flags
 * but TAG_MEMORY, timestamps, offsets, unpooled metas; release_buffer then
 * restores the size once it has checked the memory) without chaining it: the default also resizes
 * every buffer to the config's size through gst_buffer_resize(), which cost 22-25 ns per cycle here
 * (65 -> 88 ns in the single-thread loop), and our size is the fitted layout's (a DRM pitch may
 * make it bigger than the config's). Runs on the releasing thread without the mutex: it touches
 * only the buffer, which is ours alone now, and hot_size/hot_offset, which only change while no
 * buffer is out. */
static void
gst_dmakit_buffer_pool_reset_buffer (GstBufferPool *, GstBuffer *buffer) noexcept
{
  GST_BUFFER_FLAGS (buffer) &= GST_BUFFER_FLAG_TAG_MEMORY;
  GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_OFFSET (buffer) = GST_BUFFER_OFFSET_NONE;
  GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET_NONE;
  gst_buffer_foreach_meta (buffer, remove_meta_unpooled, nullptr);
}

/* Why a returned (and reset) buffer cannot be handed out again, or nullptr.
 * A resized buffer (audio sources and encoders do that) gets its size back
 * here, once its memory is known to be its own. */
static inline const gchar *
check_returned (Impl &s, GstBuffer *buffer) noexcept
{
  if (G_UNLIKELY (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_TAG_MEMORY)))
    return "its memory was replaced, added or removed";
  if (G_UNLIKELY (gst_buffer_n_memory (buffer) != 1))
    return "it has more than one memory";
  GstMemory *mem = gst_buffer_peek_memory (buffer, 0);
  if (G_UNLIKELY (!memory_is_exclusive (mem)))
    return "its memory is shared, still mapped or read-only";
  const gsize size = s.hot_size.load (std::memory_order_relaxed);
  const gsize offset = s.hot_offset.load (std::memory_order_relaxed);
  if (G_UNLIKELY (mem->size != size || mem->offset != offset)) {
    if (mem->maxsize < offset + size)
      return "it was resized beyond its memory";
    gst_buffer_resize (buffer, gssize (offset) - gssize (mem->offset), gssize (size));
    if (mem->size != size || mem->offset != offset)
      return "it was resized and cannot be restored";
  }
  return nullptr;
}

static void
gst_dmakit_buffer_pool_release_buffer (GstBufferPool *pool, GstBuffer *buffer) noexcept
{
  GstDmakitBufferPool *self = GST_DMAKIT_BUFFER_POOL_CAST (pool);
  Impl &s = *self->impl;
  const gchar *reason = check_returned (s, buffer);

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
gst_dmakit_buffer_pool_dispose (GObject *object) noexcept
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
gst_dmakit_buffer_pool_finalize (GObject *object) noexcept
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
  pool_class->reset_buffer = gst_dmakit_buffer_pool_reset_buffer;
  pool_class->release_buffer = gst_dmakit_buffer_pool_release_buffer;
  pool_class->free_buffer = gst_dmakit_buffer_pool_free_buffer;
  pool_class->flush_start = gst_dmakit_buffer_pool_flush_start;
  pool_class->flush_stop = gst_dmakit_buffer_pool_flush_stop;

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_buffer_pool_debug, "dmakitbufferpool", 0,
                           "dmakit buffer pool");
  GST_DEBUG_CATEGORY_GET (gst_dmakit_buffer_pool_performance, "GST_PERFORMANCE");
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
  GstBufferPool *pool = GST_BUFFER_POOL_CAST (g_object_new (GST_DMAKIT_TYPE_BUFFER_POOL, nullptr));
  gst_object_ref_sink (pool);
  return pool;
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
