/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop-caps.cpp: the crop arithmetic and dmakitcrop's caps: transform,
 * accept and set caps, each caps query working on one copy of the Settings. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitcrop-private.h"

#include "dmakit-videocopy.h"

namespace dmakit
{
namespace crop
{

/* TRUE if this refusal (@text for @caps) was not posted yet: post it then.
 * Repeating the same refusal only logs it. */
bool
refusal_is_new (GstDmakitCrop *self, const gchar *text, GstCaps *caps) noexcept
{
  GCharPtr caps_str (caps ? gst_caps_to_string (caps) : g_strdup ("(none)"));
  GCharPtr key (g_strconcat (text, "\n", caps_str.get (), nullptr));
  ObjectLocker lock (self);
  if (self->impl->last_refusal && g_str_equal (self->impl->last_refusal.get (), key.get ())) {
    GST_DEBUG_OBJECT (self, "refusing again (already posted): %s", text);
    return false;
  }
  self->impl->last_refusal = std::move (key);
  return true;
}

/* ---- crop arithmetic --------------------------------------------------------- */

enum class CropResult { Ok, TooLarge, Mismatch };

/* Resolves the properties (with -1 = auto) against negotiated sizes. */
static CropResult
resolve_crop (const Settings &s, const GstVideoInfo *in, const GstVideoInfo *out,
              Crop *crop) noexcept
{
  const gint64 in_w = GST_VIDEO_INFO_WIDTH (in), in_h = GST_VIDEO_INFO_HEIGHT (in);
  const gint64 dx = in_w - GST_VIDEO_INFO_WIDTH (out);
  const gint64 dy = in_h - GST_VIDEO_INFO_HEIGHT (out);
  if (dx < 0 || dy < 0)
    return CropResult::Mismatch;

  auto resolve = [] (gint a, gint b, gint64 d, gint64 full, gint64 *ra, gint64 *rb) noexcept {
    if (a == -1 && b == -1) {
      *ra = d / 2;
      *rb = d - d / 2;
    } else if (a == -1) {
      *rb = b;
      *ra = d - b;
    } else if (b == -1) {
      *ra = a;
      *rb = d - a;
    } else {
      *ra = a;
      *rb = b;
    }
    if (*ra < 0 || *rb < 0 || *ra + *rb >= full)
      return CropResult::TooLarge;
    if (*ra + *rb != d)
      return CropResult::Mismatch;
    return CropResult::Ok;
  };
  gint64 l, r, t, b;
  CropResult res = resolve (s.left, s.right, dx, in_w, &l, &r);
  if (res != CropResult::Ok)
    return res;
  res = resolve (s.top, s.bottom, dy, in_h, &t, &b);
  if (res != CropResult::Ok)
    return res;
  crop->left = guint (l);
  crop->right = guint (r);
  crop->top = guint (t);
  crop->bottom = guint (b);
  return CropResult::Ok;
}

/* Whether the sides leave at least one column and one row of a @w x @h
 * frame (an auto side counts as 0 here), as videocrop requires. */
static bool
crop_fits (const Settings &s, gint64 w, gint64 h) noexcept
{
  return gint64 (MAX (s.left, 0)) + MAX (s.right, 0) < w
         && gint64 (MAX (s.top, 0)) + MAX (s.bottom, 0) < h;
}

/* The user-facing text of a crop that does not fit (transfer full). */
static gchar *
too_large_text (const Settings &s, gint w, gint h) noexcept
{
  return g_strdup_printf ("Cannot crop left=%d right=%d top=%d bottom=%d from a %dx%d frame: "
                          "the crop is as large as the frame or larger.",
                          s.left, s.right, s.top, s.bottom, w, h);
}

/* Re-reads the properties when they changed without new caps (e.g. left and
 * right moved by the same amount). Streaming thread. */
void
maybe_update_crop (GstDmakitCrop *self) noexcept
{
  Impl *impl = self->impl;
  Settings s;
  {
    ObjectLocker lock (self);
    if (!impl->need_update)
      return;
    s = impl->settings;
    impl->need_update = false;
  }
  Crop c;
  if (impl->state.have_info
      && resolve_crop (s, &impl->state.in_info, &impl->state.out_info, &c) == CropResult::Ok) {
    GST_DEBUG_OBJECT (self, "crop now l=%u r=%u t=%u b=%u", c.left, c.right, c.top, c.bottom);
    impl->state.crop = c;
  } else {
    GST_DEBUG_OBJECT (self, "crop change needs new caps; renegotiation pending");
  }
}
/* ---- caps ------------------------------------------------------------------ */

/* A caps query transforms caps twice (the filter towards the peer, then the
 * peer's answer back); with the properties changed in between, the two
 * would not match and the query would answer nothing (upstream fails with
 * not-negotiated). So each caps or accept-caps query works with one copy of
 * the settings, found here by transform_caps on the querying thread. */
struct QuerySettings {
  GstBaseTransform *trans;
  Settings settings;
  QuerySettings *outer; /* a query of another dmakitcrop in progress */
};
static thread_local QuerySettings *query_settings = nullptr;

static const QuerySettings *
query_in_progress (GstBaseTransform *trans) noexcept
{
  for (const QuerySettings *q = query_settings; q; q = q->outer)
    if (q->trans == trans)
      return q;
  return nullptr;
}

/* The settings to compute caps with: those of the query in progress on this
 * thread, or the current ones. */
static Settings
caps_settings_of (GstBaseTransform *trans) noexcept
{
  if (const QuerySettings *q = query_in_progress (trans))
    return q->settings;
  ObjectLocker lock (trans);
  return impl_of (trans)->settings;
}

gboolean
handle_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query) noexcept
{
  const GstQueryType type = GST_QUERY_TYPE (query);
  if ((type != GST_QUERY_CAPS && type != GST_QUERY_ACCEPT_CAPS)
      || query_in_progress (trans)) /* nested: keep the outer query's settings */
    return parent_class ()->query (trans, direction, query);
  QuerySettings q{ trans, Settings (), query_settings };
  {
    ObjectLocker lock (trans);
    q.settings = impl_of (trans)->settings;
  }
  query_settings = &q;
  const gboolean res = parent_class ()->query (trans, direction, query);
  query_settings = q.outer;
  return res;
}

/* Adds @delta to one width/height value (int, range or list), clamped to
 * [1, G_MAXINT]. With @dynamic (an auto side), sizes become ranges. */
static bool
transform_dimension (const GValue *src, gint64 delta, bool dynamic, GstPadDirection direction,
                     GValue *dest) noexcept
{
  auto clamp = [] (gint64 v) noexcept -> gint { return gint (CLAMP (v, 1, G_MAXINT)); };
  auto set_range = [] (GValue *v, gint lo, gint hi) noexcept {
    if (lo == hi) {
      g_value_init (v, G_TYPE_INT);
      g_value_set_int (v, lo);
    } else {
      g_value_init (v, GST_TYPE_INT_RANGE);
      gst_value_set_int_range (v, lo, hi);
    }
  };

  if (G_VALUE_HOLDS_INT (src)) {
    const gint v = clamp (gint64 (g_value_get_int (src)) + delta);
    if (!dynamic)
      set_range (dest, v, v);
    else if (direction == GST_PAD_SRC)
      set_range (dest, v, G_MAXINT); /* input at least the output plus the fixed sides */
    else
      set_range (dest, 1, v); /* output at most the input minus the fixed sides */
    return true;
  }
  if (GST_VALUE_HOLDS_INT_RANGE (src)) {
    gint lo = clamp (gint64 (gst_value_get_int_range_min (src)) + delta);
    gint hi = clamp (gint64 (gst_value_get_int_range_max (src)) + delta);
    if (dynamic) {
      if (direction == GST_PAD_SRC)
        hi = G_MAXINT;
      else
        lo = 1;
    }
    set_range (dest, lo, hi);
    return true;
  }
  if (GST_VALUE_HOLDS_LIST (src)) {
    g_value_init (dest, GST_TYPE_LIST);
    for (guint i = 0; i < gst_value_list_get_size (src); i++) {
      GValue item = G_VALUE_INIT;
      if (transform_dimension (gst_value_list_get_value (src, i), delta, dynamic, direction, &item))
        gst_value_list_append_and_take_value (dest, &item);
    }
    if (gst_value_list_get_size (dest) == 0) {
      g_value_unset (dest);
      return false;
    }
    return true;
  }
  return false;
}

GstCaps *
transform_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps,
                GstCaps *filter) noexcept
{
  const Settings s = caps_settings_of (trans);
  if (direction == GST_PAD_SINK) {
    ObjectLocker lock (trans);
    impl_of (trans)->caps_settings = s;
  }
  const bool w_dynamic = s.left == -1 || s.right == -1;
  const bool h_dynamic = s.top == -1 || s.bottom == -1;
  const gint64 fixed_w = gint64 (MAX (s.left, 0)) + MAX (s.right, 0);
  const gint64 fixed_h = gint64 (MAX (s.top, 0)) + MAX (s.bottom, 0);
  /* From the sink side the frame shrinks, from the source side it grows. */
  const gint64 dw = direction == GST_PAD_SINK ? -fixed_w : fixed_w;
  const gint64 dh = direction == GST_PAD_SINK ? -fixed_h : fixed_h;

  GstCaps *result = gst_caps_new_empty ();
  for (guint i = 0; i < gst_caps_get_size (caps); i++) {
    const GstStructure *st = gst_caps_get_structure (caps, i);
    GstCapsFeatures *features = gst_caps_get_features (caps, i);
    const GValue *wv = gst_structure_get_value (st, "width");
    const GValue *hv = gst_structure_get_value (st, "height");
    GstStructure *ns = gst_structure_copy (st);
    if (wv && hv) {
      GValue w = G_VALUE_INIT, h = G_VALUE_INIT;
      if (!transform_dimension (wv, dw, w_dynamic, direction, &w)) {
        gst_structure_free (ns);
        continue;
      }
      if (!transform_dimension (hv, dh, h_dynamic, direction, &h)) {
        g_value_unset (&w);
        gst_structure_free (ns);
        continue;
      }
      gst_structure_take_value (ns, "width", &w);
      gst_structure_take_value (ns, "height", &h);
    }
    gst_caps_append_structure_full (result, ns,
                                    features ? gst_caps_features_copy (features) : nullptr);
  }

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = tmp;
  }
  GST_LOG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                  direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

/* Input caps are refused (like videocrop) when the crop does not fit their
 * frame: from the source side, transform_caps only offers frames larger than
 * the fixed sides, so a frame known when linking fails to link. A frame that
 * arrives later (appsrc, a decoder, a new size) is refused here, before it
 * is negotiated; the caller only hears "not accepted", so say why. */
gboolean
accept_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps) noexcept
{
  GstVideoInfo info;
  if (direction == GST_PAD_SINK && gst_caps_is_fixed (caps)
      && gst_video_info_from_caps (&info, caps)) {
    const Settings s = caps_settings_of (trans);
    const gint w = GST_VIDEO_INFO_WIDTH (&info), h = GST_VIDEO_INFO_HEIGHT (&info);
    if (!crop_fits (s, w, h)) {
      CROP_REFUSE (GST_DMAKIT_CROP (trans), caps, STREAM, FORMAT, too_large_text (s, w, h),
                   ("caps %" GST_PTR_FORMAT " not accepted", caps));
      return FALSE;
    }
  }
  return parent_class ()->accept_caps (trans, direction, caps);
}

gboolean
set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  GstVideoInfo in_info, out_info;
  if (!gst_video_info_from_caps (&in_info, incaps)
      || !gst_video_info_from_caps (&out_info, outcaps)) {
    CROP_REFUSE (self, incaps, CORE, NEGOTIATION, g_strdup ("Invalid video caps."),
                 ("in %" GST_PTR_FORMAT ", out %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  if (GST_VIDEO_INFO_FORMAT (&in_info) != GST_VIDEO_INFO_FORMAT (&out_info)
      || !crop_format_supported (GST_VIDEO_INFO_FORMAT (&in_info))) {
    CROP_REFUSE (self, incaps, CORE, NEGOTIATION, g_strdup ("Unsupported format for cropping."),
                 ("in %" GST_PTR_FORMAT ", out %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }

  /* The current settings, and those the output caps were computed from:
   * the properties can change between transform_caps and here. */
  Settings s, chosen;
  {
    ObjectLocker lock (self);
    s = impl->settings;
    chosen = impl->caps_settings;
    impl->need_update = false;
  }
  const gint in_w = GST_VIDEO_INFO_WIDTH (&in_info), in_h = GST_VIDEO_INFO_HEIGHT (&in_info);
  Crop crop;
  if (resolve_crop (s, &in_info, &out_info, &crop) != CropResult::Ok) {
    if (!crop_fits (s, in_w, in_h)) {
      CROP_REFUSE (self, incaps, STREAM, FORMAT, too_large_text (s, in_w, in_h),
                   ("in %" GST_PTR_FORMAT, incaps));
      return FALSE;
    }
    /* The sides fit this frame, but not these output caps: they were
     * chosen before the properties last changed. Crop what the caps were
     * computed for and renegotiate with the new values at the next buffer:
     * a valid setting is never an error. */
    const gint dx = in_w - GST_VIDEO_INFO_WIDTH (&out_info);
    const gint dy = in_h - GST_VIDEO_INFO_HEIGHT (&out_info);
    if (dx < 0 || dy < 0) {
      CROP_REFUSE (self, incaps, CORE, NEGOTIATION,
                   g_strdup ("The output is larger than the input."),
                   ("in %" GST_PTR_FORMAT ", out %" GST_PTR_FORMAT, incaps, outcaps));
      return FALSE;
    }
    if (chosen.generation == s.generation
        || resolve_crop (chosen, &in_info, &out_info, &crop) != CropResult::Ok) {
      /* Not from those settings either (another query computed caps in
       * between): left/top as set, clamped, the rest on the other side. */
      crop.left = guint (CLAMP (s.left, 0, dx));
      crop.right = guint (dx) - crop.left;
      crop.top = guint (CLAMP (s.top, 0, dy));
      crop.bottom = guint (dy) - crop.top;
    }
    GST_DEBUG_OBJECT (self,
                      "properties changed during negotiation (generation %" G_GUINT64_FORMAT
                      " -> %" G_GUINT64_FORMAT "): l=%u r=%u t=%u b=%u for now, renegotiating",
                      chosen.generation, s.generation, crop.left, crop.right, crop.top,
                      crop.bottom);
    {
      ObjectLocker lock (self);
      impl->need_update = true;
    }
    gst_base_transform_reconfigure_src (trans);
  }

  impl->state.in_info = in_info;
  impl->state.out_info = out_info;
  impl->state.have_info = true;
  impl->state.crop = crop;
  GstCapsFeatures *f = gst_caps_get_features (incaps, 0);
  impl->state.dmabuf = f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_DMABUF);
  GST_INFO_OBJECT (self, "%dx%d %s -> %dx%d: l=%u r=%u t=%u b=%u%s", in_info.width, in_info.height,
                   gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&in_info)), out_info.width,
                   out_info.height, crop.left, crop.right, crop.top, crop.bottom,
                   impl->state.dmabuf ? " (DMABuf)" : "");

  /* Make sure decide_allocation runs and picks the path again. */
  gst_base_transform_set_passthrough (trans, FALSE);
  gst_base_transform_set_in_place (trans, FALSE);
  return TRUE;
}

gboolean
transform_size (GstBaseTransform *trans, GstPadDirection direction, GstCaps *, gsize, GstCaps *,
                gsize *othersize) noexcept
{
  Impl *impl = impl_of (trans);
  if (!impl->state.have_info)
    return FALSE;
  *othersize = direction == GST_PAD_SINK ? GST_VIDEO_INFO_SIZE (&impl->state.out_info)
                                         : GST_VIDEO_INFO_SIZE (&impl->state.in_info);
  return TRUE;
}

} // namespace crop
} // namespace dmakit
