/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-config.cpp: what a GstDmakitBufferPool accepts as a config:
 * validation with corrected proposals (set_config), and the public config
 * helpers (gst_dmakit_buffer_pool_config_*). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"
#include "dmakit-pool-layout.h"

#include <gst/video/gstvideopool.h>

#include <memory>
#include <utility>

#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug

namespace dmakit
{
namespace pool
{

namespace
{

bool
caps_are_raw_video (const GstCaps *caps) noexcept
{
  if (!caps || gst_caps_get_size (caps) == 0)
    return false;
  const GstStructure *st = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (st, "video/x-raw");
}

void
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

} // namespace

gboolean
configure (GstDmakitBufferPool *self, GstStructure *config) noexcept
{
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
    GST_WARNING_OBJECT (self,
                        "invalid config: min-buffers %u > max-buffers %u; proposing "
                        "max-buffers %u",
                        min, max, min);
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
    GST_WARNING_OBJECT (self,
                        "invalid config: allocator %s cannot allocate memory itself "
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
    GstClockTime t;
    gint action; /* read as an int: an invalid value is not a GstDmakitTimeoutAction */
    if (gst_dmakit_buffer_pool_config_get_low_watermark (config, &wm))
      set.low_watermark = wm;
    if (gst_dmakit_buffer_pool_config_get_refill (config, &b))
      set.refill = b;
    if (gst_dmakit_buffer_pool_config_get_lock_memory (config, &b))
      set.lock_memory = b;
    if (gst_dmakit_buffer_pool_config_get_acquire_timeout (config, &t))
      set.timeout = t;
    if (gst_structure_get_enum (config, DMAKIT_POOL_KEY_TIMEOUT_ACTION,
                                GST_DMAKIT_TYPE_TIMEOUT_ACTION, &action)) {
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

  const bool want_meta
      = gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  const bool want_align
      = gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);

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
    GST_WARNING_OBJECT (self,
                        "invalid config: caps %" GST_PTR_FORMAT " are not fixed; "
                        "proposing %" GST_PTR_FORMAT,
                        caps, fixed);
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
    GST_WARNING_OBJECT (self,
                        "invalid config: %s requested but the caps (%" GST_PTR_FORMAT
                        ") are not raw video; proposing plain buffers",
                        want_meta ? "VideoMeta" : "video alignment", caps);
    remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
    remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    valid = false;
  }

  if (lay.video) {
    const gsize needed = GST_VIDEO_INFO_SIZE (&lay.vinfo);
    if (size < needed) {
      GST_WARNING_OBJECT (self,
                          "invalid config: size %u is too small for %" GST_PTR_FORMAT
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
        GST_WARNING_OBJECT (self,
                            "invalid config: cannot apply the video alignment to %" GST_PTR_FORMAT
                            "; proposing no alignment",
                            caps);
        remove_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
        valid = false;
      } else {
        lay.vinfo = aligned;
        lay.align = align;
        lay.set_alignment = true;
        gst_buffer_pool_config_set_video_alignment (config, &align);
        if (params.align < max_align) {
          GST_DEBUG_OBJECT (self,
                            "raising allocation alignment from %" G_GSIZE_FORMAT
                            " to %u for the video strides",
                            params.align, max_align);
          params.align = max_align;
          allocator_changed = true;
        }
      }
    }
  } else if (size == 0) {
    GST_WARNING_OBJECT (
        self, "invalid config: size 0 for %" GST_PTR_FORMAT "; give the size of one buffer", caps);
    valid = false;
  }

  if (!valid) {
    gst_buffer_pool_config_set_params (config, caps_ref.get (), size, min, max);
    if (allocator_changed)
      gst_buffer_pool_config_set_allocator (config, alloc_ref.get (), &params);
    return FALSE;
  }

  /* Validation only: the pool's own allocator (when the config names none)
   * is opened, and a DRM dumb layout probed, on activation (fit_layout()). */
  lay.allocator = alloc_ref;
  lay.params = params;
  if (lay.video) {
    /* aligned layouts may be bigger; like GstVideoBufferPool, grow silently */
    size = std::max<guint> (size, guint (GST_VIDEO_INFO_SIZE (&lay.vinfo)));
  }
  lay.size = size;
  describe_layout (&lay);

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
    s.configured = lay;
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
                    s.lay.drm ? " on a DRM pitch" : "", s.lay.describe.c_str ());
  return TRUE;
}

} // namespace pool
} // namespace dmakit

/* The value of @key when @config holds one of @type, read with @get. */
template <typename T, typename V>
static gboolean
get_field (const GstStructure *config, const gchar *key, GType type, V (*get) (const GValue *),
           T *out) noexcept
{
  const GValue *v = gst_structure_get_value (config, key);
  if (!v || !G_VALUE_HOLDS (v, type))
    return FALSE;
  if (out)
    *out = T (get (v));
  return TRUE;
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
  gst_structure_set (config, DMAKIT_POOL_KEY_LOW_WATERMARK, G_TYPE_UINT, low_watermark, nullptr);
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
  return get_field (config, DMAKIT_POOL_KEY_LOW_WATERMARK, G_TYPE_UINT, g_value_get_uint,
                    low_watermark);
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
  gst_structure_set (config, DMAKIT_POOL_KEY_REFILL, G_TYPE_BOOLEAN, refill, nullptr);
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
  return get_field (config, DMAKIT_POOL_KEY_REFILL, G_TYPE_BOOLEAN, g_value_get_boolean, refill);
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
  gst_structure_set (config, DMAKIT_POOL_KEY_LOCK_MEMORY, G_TYPE_BOOLEAN, lock_memory, nullptr);
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
  return get_field (config, DMAKIT_POOL_KEY_LOCK_MEMORY, G_TYPE_BOOLEAN, g_value_get_boolean,
                    lock_memory);
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
  gst_structure_set (config, DMAKIT_POOL_KEY_ACQUIRE_TIMEOUT, G_TYPE_UINT64, guint64 (timeout),
                     nullptr);
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
  return get_field (config, DMAKIT_POOL_KEY_ACQUIRE_TIMEOUT, G_TYPE_UINT64, g_value_get_uint64,
                    timeout);
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
  gst_structure_set (config, DMAKIT_POOL_KEY_TIMEOUT_ACTION, GST_DMAKIT_TYPE_TIMEOUT_ACTION, action,
                     nullptr);
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
  return get_field (config, DMAKIT_POOL_KEY_TIMEOUT_ACTION, GST_DMAKIT_TYPE_TIMEOUT_ACTION,
                    g_value_get_enum, action);
}
