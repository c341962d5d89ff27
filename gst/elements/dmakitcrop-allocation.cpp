/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop-allocation.cpp: dmakitcrop's allocation decisions: which path
 * (passthrough, crop meta or copy) downstream allows, the copy pool, and the
 * pool proposed upstream. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitcrop-private.h"

namespace dmakit
{
namespace crop
{

/* Our allocator (a new reference, or NULL before start and after stop). */
static ObjectRef<GstAllocator>
get_allocator (GstDmakitCrop *self) noexcept
{
  ObjectLocker lock (self);
  return self->impl->allocator;
}

/* ---- allocation ----------------------------------------------------------- */

static gchar *
peer_name (GstBaseTransform *trans) noexcept
{
  auto peer = ObjectRef<GstPad>::adopt (gst_pad_get_peer (GST_BASE_TRANSFORM_SRC_PAD (trans)));
  if (!peer)
    return g_strdup ("(unlinked)");
  auto parent = ObjectRef<GstObject>::adopt (gst_pad_get_parent (peer.get ()));
  return g_strdup (parent ? GST_OBJECT_NAME (parent.get ()) : GST_OBJECT_NAME (peer.get ()));
}

void
set_path (GstDmakitCrop *self, Path path, gchar *reason) noexcept
{
  Impl *impl = self->impl;
  impl->state.path = path;
  impl->stats.path.store (int (path), std::memory_order_relaxed);
  ObjectLocker lock (self);
  impl->copy_reason.reset (reason);
  impl->last_refusal.reset (); /* negotiated: a later refusal is news again */
}

/* Frames start on a cache line: the system allocator's default alignment is
 * 8 bytes, and unaligned frame starts make every row copy straddle lines. */
static GstAllocationParams
frame_params () noexcept
{
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.align = 63;
  return params;
}

/* A pool of exactly the buffers in use: no spare kept ready by the refill
 * thread. The pool hands free buffers out in turn, so every spare is one more
 * frame in rotation that the caches must hold, and at 4K a frame is a large
 * part of a last-level cache. A pool that must grow (downstream holds more than it said) grows on the acquiring
 * thread, once, as GStreamer's own pools do. */
static void
lean_pool (GstStructure *config) noexcept
{
  gst_dmakit_buffer_pool_config_set_refill (config, FALSE);
  gst_dmakit_buffer_pool_config_set_low_watermark (config, 0);
}

/* Whether our AUTO allocator gives real DMA-BUFs here (not the memfd fallback). */
static bool
is_dmabuf_allocator (GstAllocator *allocator) noexcept
{
  return allocator && gst_dmakit_allocator_get_backend (allocator) != GST_DMAKIT_BACKEND_MEMFD;
}

/* The memory for buffers of our own pools (transfer full, NULL if none fits):
 * DMA-BUF where the machine has it. Without it, memory:DMABuf caps get
 * nothing, and system-memory caps get system memory: the memfd fallback would
 * only add an fd per buffer, and nothing downstream asked for fd memory. */
static GstAllocator *
own_pool_allocator (GstDmakitCrop *self, bool dmabuf_caps) noexcept
{
  ObjectRef<GstAllocator> ours = get_allocator (self);
  if (is_dmabuf_allocator (ours.get ()))
    return ours.release ();
  if (dmabuf_caps)
    return nullptr;
  return gst_allocator_find (GST_ALLOCATOR_SYSMEM);
}

/* Configures @pool for copies of @outcaps; TRUE on success. */
static bool
configure_copy_pool (GstDmakitCrop *self, GstBufferPool *pool, GstCaps *outcaps, guint size,
                     guint min, guint max, bool video_meta, GstAllocator *allocator) noexcept
{
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, outcaps, size, min, max);
  if (allocator) {
    /* our own pool */
    const GstAllocationParams params = frame_params ();
    gst_buffer_pool_config_set_allocator (config, allocator, &params);
    lean_pool (config);
  }
  if (video_meta && gst_buffer_pool_has_option (pool, GST_BUFFER_POOL_OPTION_VIDEO_META))
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (gst_buffer_pool_set_config (pool, config))
    return true;
  /* The pool may have left a corrected proposal; accept it if it still fits. */
  config = gst_buffer_pool_get_config (pool);
  bool ok = gst_buffer_pool_config_validate_params (config, outcaps, size, min, max)
            && gst_buffer_pool_set_config (pool, config);
  if (!ok) {
    if (gst_buffer_pool_is_active (pool))
      GST_WARNING_OBJECT (self, "pool %" GST_PTR_FORMAT " is active, cannot reconfigure", pool);
    GST_DEBUG_OBJECT (self, "pool %" GST_PTR_FORMAT " refused the copy configuration", pool);
  }
  return ok;
}

gboolean
decide_allocation (GstBaseTransform *trans, GstQuery *query) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  Settings s;
  {
    ObjectLocker lock (self);
    s = impl->settings;
  }

  const bool has_vmeta = gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, nullptr);
  const bool has_crop
      = gst_query_find_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  const bool has_roi
      = gst_query_find_allocation_meta (query, GST_DMAKIT_ROI_META_API_TYPE, nullptr);
  /* Only GStreamer's crop meta means "this element crops": converters and
   * scalers forward support for every other meta of downstream (ours
   * included) without applying a crop rectangle. */
  const bool meta_ok = has_vmeta && has_crop;
  impl->state.downstream_min = 0;
  if (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_parse_nth_allocation_pool (query, 0, nullptr, nullptr, &impl->state.downstream_min,
                                         nullptr);

  if (impl->state.crop.none () && s.roi_type == 0) {
    GST_INFO_OBJECT (self, "nothing to crop: passthrough");
    set_path (self, Path::Passthrough, nullptr);
    gst_base_transform_set_passthrough (trans, TRUE);
    gst_base_transform_set_in_place (trans, FALSE);
    return TRUE;
  }

  GCharPtr downstream (peer_name (trans));
  GCharPtr reason;
  if (s.mode == GST_DMAKIT_CROP_MODE_COPY) {
    reason.reset (g_strdup ("mode=copy"));
  } else if (!meta_ok) {
    reason.reset (g_strdup_printf (
        "downstream %s does not accept %s%s%s", downstream.get (), has_vmeta ? "" : "GstVideoMeta",
        !has_vmeta && !has_crop ? " and " : "", has_crop ? "" : "GstVideoCropMeta"));
  }

  if (!reason) {
    GST_INFO_OBJECT (self, "cropping by GstVideoCropMeta (downstream %s)", downstream.get ());
    set_path (self, Path::Meta, nullptr);
    gst_base_transform_set_passthrough (trans, FALSE);
    gst_base_transform_set_in_place (trans, TRUE);
    return TRUE;
  }

  /* The copy path: refuse it when the settings say so. Each refusal is
   * posted once (basetransform and basesrc retry negotiation). */
  GstCaps *outcaps = nullptr;
  gst_query_parse_allocation (query, &outcaps, nullptr);
  if (s.roi_type != 0) {
    CROP_REFUSE (self, outcaps, CORE, NEGOTIATION,
                 g_strdup_printf ("roi-type=%s crops each frame by meta, but %s.",
                                  g_quark_to_string (s.roi_type), reason.get ()),
                 ("Use a downstream element that accepts GstVideoMeta and "
                  "GstVideoCropMeta (e.g. dmakitsink), or unset roi-type."));
    return FALSE;
  }
  if (s.mode == GST_DMAKIT_CROP_MODE_META) {
    CROP_REFUSE (
        self, outcaps, CORE, NEGOTIATION,
        g_strdup_printf ("mode=meta, but %s, so the crop cannot be done by meta.", reason.get ()),
        ("downstream supports GstVideoMeta: %s, GstVideoCropMeta: %s, "
         "GstDmakitRoiMeta: %s",
         has_vmeta ? "yes" : "no", has_crop ? "yes" : "no", has_roi ? "yes" : "no"));
    return FALSE;
  }
  if (s.strict) {
    CROP_REFUSE (self, outcaps, STREAM, FAILED,
                 g_strdup_printf ("strict-zero-copy is set, but dmakitcrop would have to copy "
                                  "every frame: %s.",
                                  reason.get ()),
                 ("downstream supports GstVideoMeta: %s, GstVideoCropMeta: %s, "
                  "GstDmakitRoiMeta: %s",
                  has_vmeta ? "yes" : "no", has_crop ? "yes" : "no", has_roi ? "yes" : "no"));
    return FALSE;
  }
  if (!outcaps) {
    CROP_REFUSE (self, outcaps, CORE, NEGOTIATION,
                 g_strdup ("No output caps to allocate copies for."), (nullptr));
    return FALSE;
  }
  const guint size = guint (GST_VIDEO_INFO_SIZE (&impl->state.out_info));
  GstBufferPool *qpool = nullptr;
  guint qsize = 0, qmin = 0, qmax = 0;
  const bool have_entry = gst_query_get_n_allocation_pools (query) > 0;
  if (have_entry)
    gst_query_parse_nth_allocation_pool (query, 0, &qpool, &qsize, &qmin, &qmax);
  auto pool = ObjectRef<GstBufferPool>::adopt (qpool);
  const char *whose = "downstream's";
  if (pool
      && !configure_copy_pool (self, pool.get (), outcaps, MAX (qsize, size), qmin, qmax, has_vmeta,
                               nullptr))
    pool.reset ();
  if (!pool) {
    /* Downstream named an allocator: copy into its memory. Otherwise see
     * own_pool_allocator(). */
    ObjectRef<GstAllocator> alloc;
    if (gst_query_get_n_allocation_params (query) > 0) {
      GstAllocator *a = nullptr;
      gst_query_parse_nth_allocation_param (query, 0, &a, nullptr);
      alloc.reset (a);
    }
    if (alloc && impl->state.dmabuf && !GST_IS_DMABUF_ALLOCATOR (alloc.get ()))
      alloc.reset ();
    if (!alloc)
      alloc.reset (own_pool_allocator (self, impl->state.dmabuf));
    if (!alloc) {
      CROP_REFUSE (self, outcaps, RESOURCE, NO_SPACE_LEFT,
                   g_strdup_printf ("Cannot copy into memory:DMABuf buffers: %s offers no pool "
                                    "and no DMA-BUF backend is available here.",
                                    downstream.get ()),
                   ("%s", reason.get ()));
      return FALSE;
    }
    pool.reset (gst_dmakit_buffer_pool_new ());
    whose = "own GstDmakitBufferPool";
    const guint min = MAX (qmin, 2u);
    const guint max = qmax ? MAX (qmax, min) : 0;
    if (!configure_copy_pool (self, pool.get (), outcaps, size, min, max, has_vmeta,
                              alloc.get ())) {
      CROP_REFUSE (self, outcaps, RESOURCE, SETTINGS,
                   g_strdup ("Failed to configure the copy buffer pool."),
                   ("%u bytes, min %u, max %u, caps %" GST_PTR_FORMAT, size, min, max, outcaps));
      return FALSE;
    }
    qmin = min;
    qmax = max;
  }
  if (have_entry)
    gst_query_set_nth_allocation_pool (query, 0, pool.get (), MAX (qsize, size), qmin, qmax);
  else
    gst_query_add_allocation_pool (query, pool.get (), size, qmin, qmax);

  GST_CAT_INFO_OBJECT (GST_CAT_PERFORMANCE, self,
                       "dmakitcrop will COPY every frame into %s pool: %s", whose, reason.get ());
  GST_INFO_OBJECT (self, "copy path (%s pool): %s", whose, reason.get ());
  set_path (self, Path::Copy, reason.release ());
  gst_base_transform_set_passthrough (trans, FALSE);
  gst_base_transform_set_in_place (trans, FALSE);
  return TRUE;
}

gboolean
propose_allocation (GstBaseTransform *trans, GstQuery *decide_query, GstQuery *query) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;

  if (impl->state.path == Path::Passthrough || impl->state.path == Path::None)
    return parent_class ()->propose_allocation (trans, decide_query, query);

  GstCaps *caps = nullptr;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation (query, &caps, &need_pool);
  if (!caps)
    return FALSE;

  /* Crop by meta passes buffers through: what downstream wants for them
   * (pool, alignment, memory) is what upstream should produce. */
  if (impl->state.path == Path::Meta
      && !gst_pad_peer_query (GST_BASE_TRANSFORM_SRC_PAD (trans), query))
    GST_DEBUG_OBJECT (self, "downstream did not answer the ALLOCATION query");

  if (!gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, nullptr))
    gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, nullptr);
  if (!gst_query_find_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, nullptr))
    gst_query_add_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  if (!gst_query_find_allocation_meta (query, GST_DMAKIT_ROI_META_API_TYPE, nullptr))
    gst_query_add_allocation_meta (query, GST_DMAKIT_ROI_META_API_TYPE, nullptr);

  /* Downstream's pool, if it offered one, is what upstream should use. An
   * entry without a pool (tee, or a sink that asked for none) only says how
   * many buffers downstream holds: offer our pool with at least that many. */
  guint entry_min = 0;
  const bool have_entry = gst_query_get_n_allocation_pools (query) > 0;
  if (have_entry) {
    GstBufferPool *qpool = nullptr;
    gst_query_parse_nth_allocation_pool (query, 0, &qpool, nullptr, &entry_min, nullptr);
    if (qpool) {
      gst_object_unref (qpool);
      return TRUE;
    }
  }
  if (!need_pool)
    return TRUE;

  GstVideoInfo info;
  if (!gst_video_info_from_caps (&info, caps))
    return TRUE;
  GstCapsFeatures *f = gst_caps_get_features (caps, 0);
  const bool dmabuf = f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_DMABUF);
  auto alloc = ObjectRef<GstAllocator>::adopt (own_pool_allocator (self, dmabuf));
  if (!alloc) {
    GST_DEBUG_OBJECT (self, "no DMA-BUF allocator to offer for %" GST_PTR_FORMAT, caps);
    return TRUE;
  }
  /* By meta, downstream holds what it said it holds, plus one for upstream's
   * work in progress. By copy, we hold a buffer only while copying it and
   * upstream fills one at a time: one buffer, and no spare kept ready (see
   * lean_pool()). */
  const bool copy = impl->state.path != Path::Meta;
  const guint min = copy ? 1 : MAX (impl->state.downstream_min, entry_min) + 1;
  auto pool = ObjectRef<GstBufferPool>::adopt (gst_dmakit_buffer_pool_new ());
  GstStructure *config = gst_buffer_pool_get_config (pool.get ());
  gst_buffer_pool_config_set_params (config, caps, guint (info.size), min, 0);
  const GstAllocationParams params = frame_params ();
  gst_buffer_pool_config_set_allocator (config, alloc.get (), &params);
  if (copy)
    lean_pool (config);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool.get (), config)) {
    GST_WARNING_OBJECT (self, "could not configure a pool to propose for %" GST_PTR_FORMAT, caps);
    return TRUE;
  }
  if (have_entry)
    gst_query_set_nth_allocation_pool (query, 0, pool.get (), guint (info.size), min, 0);
  else
    gst_query_add_allocation_pool (query, pool.get (), guint (info.size), min, 0);
  if (gst_query_get_n_allocation_params (query) == 0)
    gst_query_add_allocation_param (query, alloc.get (), &params);
  GST_DEBUG_OBJECT (self, "proposed GstDmakitBufferPool min %u for %" GST_PTR_FORMAT, min, caps);
  return TRUE;
}

} // namespace crop
} // namespace dmakit
