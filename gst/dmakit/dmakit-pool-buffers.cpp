/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-buffers.cpp: one buffer of a GstDmakitBufferPool: allocating it
 * in the configured layout, registering it (table, id map, free list) and
 * freeing it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"
#include "dmakit-mlock.h"
#include "dmakit-pool-layout.h"

#include <cerrno>
#include <utility>

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug

namespace dmakit
{
namespace pool
{
bool
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
    gchar *s
        = g_strdup_printf ("dmakit %s backend (%s, allocator %s)", v ? v->value_nick : "unknown",
                           mem_type, GST_OBJECT_NAME (allocator));
    g_type_class_unref (klass);
    return s;
  }
  return g_strdup_printf ("%s (allocator %s)", mem_type, GST_OBJECT_NAME (allocator));
}

void
describe_layout (Layout *lay) noexcept
{
  lay->dmakit = is_dmakit_allocator (lay->allocator.get ());
  if (!lay->allocator) {
    lay->describe = "the pool's own dmakit allocator (auto backend, opened on activation)";
    return;
  }
  GCharPtr d (describe_allocator (lay->allocator.get ()));
  lay->describe = d.get ();
}

bool
fit_layout (GstDmakitBufferPool *self, Layout *lay, int *err, const gchar **what) noexcept
{
  if (!lay->allocator) {
    dmakit::GErrorPtr gerr;
    GstAllocator *own = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, gerr.out ());
    if (own) {
      lay->allocator = ObjectRef<GstAllocator>::adopt (own);
    } else {
      GST_WARNING_OBJECT (self, "no dmakit allocator (%s); using the system allocator",
                          gerr ? gerr->message : "unknown error");
      lay->allocator = ObjectRef<GstAllocator>::adopt (gst_allocator_find (nullptr));
    }
    describe_layout (lay);
  }
  if (!lay->video || !lay->dmakit
      || gst_dmakit_allocator_get_backend (lay->allocator.get ()) != GST_DMAKIT_BACKEND_DRM_DUMB)
    return true;
  guint w, rows, bpp;
  if (!drm_geometry (lay->vinfo, &w, &rows, &bpp)) {
    GST_INFO_OBJECT (self,
                     "format %s does not map onto a DRM dumb buffer's single pitch; "
                     "allocating plain memory from it",
                     gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&lay->vinfo)));
    return true;
  }
  /* one probe allocation tells the driver's pitch for this geometry */
  guint pitch = 0;
  errno = 0;
  GstMemory *probe = gst_dmakit_allocator_alloc_2d (lay->allocator.get (), w, rows, bpp, &pitch);
  *err = errno;
  GstVideoInfo on_pitch = lay->vinfo;
  const gsize laid = probe ? relayout_on_pitch (&on_pitch, pitch) : 0;
  if (probe)
    gst_memory_unref (probe);
  if (!probe || laid == 0 || laid > G_MAXUINT) {
    GST_WARNING_OBJECT (self, "DRM dumb allocation %ux%u@%u from %s %s", w, rows, bpp,
                        lay->describe.c_str (),
                        probe ? "has a pitch the planes cannot follow" : "failed");
    *what = probe ? "the driver's pitch does not fit the planes" : "DRM dumb probe allocation";
    if (probe)
      *err = EINVAL;
    return false;
  }
  /* the planes on the driver's pitch may need more rows than the probe */
  lay->size = std::max<guint> (lay->size, guint (laid));
  rows = std::max<guint> (rows, guint ((guint64 (lay->size) + pitch - 1) / pitch));
  lay->vinfo = on_pitch;
  lay->drm = true;
  lay->drm_width = w;
  lay->drm_rows = rows;
  lay->drm_bpp = bpp;
  lay->drm_pitch = pitch;
  return true;
}

static gboolean
mark_meta_pooled (GstBuffer *, GstMeta **meta, gpointer) noexcept
{
  /* GST_META_FLAG_SET does not compile as C++ (int -> enum) */
  (*meta)->flags = GstMetaFlags ((*meta)->flags | GST_META_FLAG_POOLED | GST_META_FLAG_LOCKED);
  return TRUE;
}

/* mlock the pages of @mem ourselves (memory not from a dmakit allocator). We
 * remember only the pages that lie entirely inside the memory for munlock, so
 * a neighbouring allocation sharing an edge page keeps its lock. */
static bool
lock_mapped_pages (GstMemory *mem, Slot *slot, int *err) noexcept
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
  *err = dmakit::lock_pages (reinterpret_cast<void *> (lo), hi - lo);
  const bool ok = *err == 0;
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
GstFlowReturn
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
      GST_WARNING_OBJECT (self,
                          "DRM dumb buffer %ux%u@%u came back with pitch %u (expected %u) "
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
        GST_VIDEO_INFO_HEIGHT (&vi), GST_VIDEO_INFO_N_PLANES (&vi), const_cast<gsize *> (vi.offset),
        const_cast<gint *> (vi.stride));
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
    /* this pool's buffers only: the allocator, which others may share, is
     * left as it is */
    GCharPtr why;
    if (lay.dmakit) {
      dmakit::GErrorPtr err;
      slot.locked = gst_dmakit_memory_lock_pages (mem, err.out ());
      if (!slot.locked)
        why.reset (g_strdup (err ? err->message : "lock-memory: mlock refused"));
    } else {
      int err = 0;
      slot.locked = lock_mapped_pages (mem, &slot, &err);
      if (!slot.locked)
        why.reset (dmakit::describe_lock_refusal (mem->maxsize, err));
    }
    if (why && !s.lock_warned.exchange (true))
      GST_WARNING_OBJECT (self, "%s (buffers from %s; further refusals at DEBUG)", why.get (),
                          lay.describe.c_str ());
    else if (why)
      GST_DEBUG_OBJECT (self, "%s", why.get ());
  }
  *out = slot;
  return GST_FLOW_OK;
}

/* Free one buffer the pool no longer tracks. Without the mutex. */
void
free_slot (const Slot &slot) noexcept
{
  if (slot.unlock_addr)
    dmakit::unlock_pages (slot.unlock_addr, slot.unlock_len);
  /* buffer->pool is NULL here: the unref really frees it */
  gst_buffer_unref (slot.buf);
}

/* (M) Register a freshly allocated buffer, with the id (or kNoId) taken for
 * it. Returns false when it does not fit this configuration (offset
 * mismatch) and must be freed; the id is given back. */
bool
register_slot (GstDmakitBufferPool *self, Impl &s, Slot &slot) noexcept
{
  gsize offset = 0;
  gst_buffer_get_sizes (slot.buf, &offset, nullptr);
  if (!s.offset_known) {
    s.offset_known = true;
    s.mem_offset = offset;
    s.hot_offset.store (offset, std::memory_order_relaxed);
  } else if (offset != s.mem_offset) {
    GST_WARNING_OBJECT (self,
                        "allocator gave memory at offset %" G_GSIZE_FORMAT
                        ", the pool's buffers use %" G_GSIZE_FORMAT,
                        offset, s.mem_offset);
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
    }
  }
  return true;
}

/* (M) Forget a buffer that is not in the free stack: take it out of the table
 * and the id map, give its id back. False if it is not ours. */
bool
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
bool
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
void
wake_sleepers (Impl &s) noexcept
{
  {
    std::lock_guard<std::mutex> lk (s.mutex);
  }
  s.buffer_cv.notify_all ();
}

/* Wake the refill thread if it sleeps and has work. Without the mutex. */
void
kick_refill (Impl &s) noexcept
{
  std::lock_guard<std::mutex> lk (s.mutex);
  s.wake_refill_locked ();
}

/* How many buffers the pool tracks in its free stack (ids): max-buffers, or
 * with max-buffers 0 at least 256 (more for a large min or watermark), up to
 * kMaxIds. Buffers beyond it are extras: handed out once, freed on return. */
guint32
id_capacity (const Settings &set) noexcept
{
  const size_t want
      = set.max ? size_t (set.max)
                : std::max<size_t> ({ 256, 2 * size_t (set.min), 2 * size_t (set.low_watermark) });
  return guint32 (std::min<size_t> (want, kMaxIds));
}

} // namespace pool
} // namespace dmakit
