/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-dmakitcrop
 * @title: dmakitcrop
 * @see_also: videocrop, dmakitsink
 *
 * Crops video like `videocrop` (same `left`, `right`, `top` and `bottom`
 * properties, changeable while playing, -1 meaning "auto"), but never touches
 * pixels when downstream can take a crop meta: the output buffer is the input
 * buffer with a #GstVideoCropMeta added or combined with the one it already
 * carries. Only when downstream
 * cannot take such a meta does it copy the rectangle, into buffers from
 * downstream's pool or from its own #GstDmakitBufferPool; every copy is
 * counted in #GstDmakitCrop:stats and logged to GST_PERFORMANCE.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! dmakitcrop left=10 top=20 right=30 bottom=40 ! dmakitsink location=out.yuv
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdmakitcrop.h"

#include <gst/dmakit/dmakit-raii.h>
#include <gst/dmakit/dmakit.h>

#include <atomic>
#include <cstring>

GST_DEBUG_CATEGORY_STATIC (gst_dmakit_crop_debug);
#define GST_CAT_DEFAULT gst_dmakit_crop_debug
GST_DEBUG_CATEGORY_STATIC (GST_CAT_PERFORMANCE);

using namespace dmakit;

/* ---- crop-copy helpers shared with dmakitsink ------------------------------- */

namespace dmakit {

bool
crop_format_supported (GstVideoFormat format) noexcept
{
  switch (format) {
    case GST_VIDEO_FORMAT_NV12:
    case GST_VIDEO_FORMAT_NV21:
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_YV12:
    case GST_VIDEO_FORMAT_Y42B:
    case GST_VIDEO_FORMAT_Y444:
    case GST_VIDEO_FORMAT_Y41B:
    case GST_VIDEO_FORMAT_I420_10LE:
    case GST_VIDEO_FORMAT_YUY2:
    case GST_VIDEO_FORMAT_UYVY:
    case GST_VIDEO_FORMAT_YVYU:
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_ARGB:
    case GST_VIDEO_FORMAT_ABGR:
    case GST_VIDEO_FORMAT_RGBx:
    case GST_VIDEO_FORMAT_BGRx:
    case GST_VIDEO_FORMAT_xRGB:
    case GST_VIDEO_FORMAT_xBGR:
    case GST_VIDEO_FORMAT_RGB:
    case GST_VIDEO_FORMAT_BGR:
    case GST_VIDEO_FORMAT_RGB16:
    case GST_VIDEO_FORMAT_AYUV:
    case GST_VIDEO_FORMAT_GRAY8:
    case GST_VIDEO_FORMAT_GRAY16_LE:
    case GST_VIDEO_FORMAT_GRAY16_BE:
      return true;
    default:
      return false;
  }
}

static bool
is_packed_422 (GstVideoFormat format) noexcept
{
  return format == GST_VIDEO_FORMAT_YUY2 || format == GST_VIDEO_FORMAT_UYVY ||
         format == GST_VIDEO_FORMAT_YVYU;
}

bool
crop_needs_luma_shift (GstVideoFormat format, guint x) noexcept
{
  return is_packed_422 (format) && (x & 1) != 0;
}

guint
crop_planes (const GstVideoFrame *src, guint x, guint y, guint w, guint h,
             CropPlane *planes) noexcept
{
  const GstVideoFormatInfo *finfo = src->info.finfo;
  const GstVideoFormat format = GST_VIDEO_FORMAT_INFO_FORMAT (finfo);
  if (!crop_format_supported (format) || w == 0 || h == 0)
    return 0;
  if (guint64 (x) + w > guint64 (GST_VIDEO_FRAME_WIDTH (src)) ||
      guint64 (y) + h > guint64 (GST_VIDEO_FRAME_HEIGHT (src)))
    return 0;

  if (is_packed_422 (format)) {
    /* One plane of macro-pixels (two pixels, four bytes): start at the
     * macro-pixel that holds the left edge, like videocrop. */
    const gsize pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
    const gsize stride = GST_VIDEO_FRAME_PLANE_STRIDE (src, 0);
    planes[0].src = static_cast<const guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (src, 0)) +
                    gsize (y) * stride + gsize (GST_ROUND_DOWN_2 (x)) * pstride;
    planes[0].src_stride = stride;
    planes[0].row_bytes = gsize (w) * pstride;
    planes[0].rows = h;
    return 1;
  }

  const guint n_planes = GST_VIDEO_FRAME_N_PLANES (src);
  for (guint p = 0; p < n_planes; p++) {
    guint comp = 0;
    while (comp < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo) &&
           GST_VIDEO_FORMAT_INFO_PLANE (finfo, comp) != p)
      comp++;
    if (comp == GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo))
      return 0;
    /* Subsampled planes start at the sample that covers the rounded-down
     * edge: a chroma row or column covers 2^sub luma rows or columns. */
    const guint xs = x >> GST_VIDEO_FORMAT_INFO_W_SUB (finfo, comp);
    const guint ys = y >> GST_VIDEO_FORMAT_INFO_H_SUB (finfo, comp);
    const gsize pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, comp);
    const gsize stride = GST_VIDEO_FRAME_PLANE_STRIDE (src, p);
    planes[p].src = static_cast<const guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (src, p)) +
                    gsize (ys) * stride + gsize (xs) * pstride;
    planes[p].src_stride = stride;
    planes[p].row_bytes = gsize (GST_VIDEO_FORMAT_INFO_SCALE_WIDTH (finfo, comp, w)) * pstride;
    planes[p].rows = GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT (finfo, comp, h);
  }
  return n_planes;
}

gsize
crop_copy (const GstVideoFrame *src, guint x, guint y, guint w, guint h, guint8 *const *dst,
           const gint *dst_stride) noexcept
{
  CropPlane planes[GST_VIDEO_MAX_PLANES];
  const guint n = crop_planes (src, x, y, w, h, planes);
  if (n == 0)
    return 0;
  gsize bytes = 0;
  for (guint p = 0; p < n; p++) {
    const CropPlane &pl = planes[p];
    if (dst_stride[p] < 0 || gsize (dst_stride[p]) < pl.row_bytes)
      return 0;
    for (guint r = 0; r < pl.rows; r++)
      std::memcpy (dst[p] + gsize (r) * gsize (dst_stride[p]), pl.src + gsize (r) * pl.src_stride,
                   pl.row_bytes);
    bytes += pl.row_bytes * pl.rows;
  }

  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (src);
  if (crop_needs_luma_shift (format, x)) {
    /* The rows above start one pixel early (at the macro-pixel boundary).
     * Like videocrop, move only the luma samples one pixel left and keep the
     * chroma of the macro-pixel: luma exact, chroma rounded down. videocrop
     * stops two bytes before the end of the output stride; we stop there too
     * and also at the end of the copied bytes, so that a wider destination
     * stride never reads past the source row. */
    const CropPlane &pl = planes[0];
    const gsize luma = (format == GST_VIDEO_FORMAT_UYVY) ? 1 : 0;
    const gsize stride = gsize (dst_stride[0]);
    const gsize limit = MIN (stride >= 2 ? stride - 2 : 0, pl.row_bytes);
    for (guint r = 0; r < pl.rows; r++) {
      guint8 *out = dst[0] + gsize (r) * stride;
      const guint8 *in = pl.src + gsize (r) * pl.src_stride;
      for (gsize j = luma; j < limit; j += 2)
        out[j] = in[j + 2];
    }
  }
  return bytes;
}

const char *
backend_nick (GstAllocator *allocator) noexcept
{
  if (!allocator || !gst_is_dmakit_allocator (allocator))
    return "none";
  auto *klass = static_cast<GEnumClass *> (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
  const GEnumValue *v = g_enum_get_value (klass, gst_dmakit_allocator_get_backend (allocator));
  const char *nick = v ? v->value_nick : "unknown";
  g_type_class_unref (klass); /* registered enums stay alive: the nick stays valid */
  return nick;
}

} // namespace dmakit

/* ---- element ------------------------------------------------------------- */

GType
gst_dmakit_crop_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_DMAKIT_CROP_MODE_AUTO, "Crop by meta when downstream accepts it, otherwise copy",
      "auto" },
    { GST_DMAKIT_CROP_MODE_META, "Crop by meta only; fail negotiation if downstream cannot take it",
      "meta" },
    { GST_DMAKIT_CROP_MODE_COPY, "Always copy the rectangle", "copy" },
    { 0, nullptr, nullptr },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstDmakitCropMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

namespace {

enum class Path { None, Passthrough, Meta, Copy };

const char *
path_name (Path p) noexcept
{
  switch (p) {
    case Path::Passthrough:
      return "passthrough";
    case Path::Meta:
      return "meta";
    case Path::Copy:
      return "copy";
    default:
      return "none";
  }
}

/* Property values; guarded by the object lock. */
struct Settings {
  gint left = 0;
  gint right = 0;
  gint top = 0;
  gint bottom = 0;
  GstDmakitCropMode mode = GST_DMAKIT_CROP_MODE_AUTO;
  bool strict = false;
  GQuark roi_type = 0; /* 0: off */
  /* Counts changes of left/right/top/bottom: two copies with the same
   * generation hold the same sides. */
  guint64 generation = 0;
};

/* The crop applied to the negotiated frame, all >= 0. */
struct Crop {
  guint left = 0;
  guint right = 0;
  guint top = 0;
  guint bottom = 0;
  bool none () const noexcept { return (left | right | top | bottom) == 0; }
};

struct Impl {
  /* Guarded by the object lock. */
  Settings settings;
  /* The settings the last output caps were computed from (transform_caps
   * from the sink side): set_caps gets caps chosen from these, and the
   * properties may have changed since. */
  Settings caps_settings;
  bool need_update = false;
  GCharPtr copy_reason; /* why the copy path was chosen, or NULL */
  /* The last negotiation refusal posted as an error (its text and caps), so
   * that the same refusal is posted once: basesrc renegotiates while a
   * reconfigure is pending and basetransform asks again at every buffer,
   * which would otherwise post it again each time. Cleared at start and stop. */
  GCharPtr last_refusal;
  /* AUTO backend, for the pools we make. Set in start(), cleared in stop():
   * a query can arrive while that happens, so it is read under the lock. */
  ObjectRef<GstAllocator> allocator;

  /* Streaming state: written while negotiating, read while streaming (both on
   * the streaming thread). */
  GstVideoInfo in_info{};
  GstVideoInfo out_info{};
  bool have_info = false;
  bool dmabuf = false;
  Crop crop;
  Path path = Path::None;
  guint downstream_min = 0;
  std::atomic<int> path_for_stats{0};

  std::atomic<guint64> frames{0};
  std::atomic<guint64> zero_copy_frames{0};
  std::atomic<guint64> copied_frames{0};
  std::atomic<guint64> bytes_copied{0};
};

} // namespace

struct _GstDmakitCrop {
  GstBaseTransform parent;
  Impl *impl;
};

enum {
  PROP_0,
  PROP_LEFT,
  PROP_RIGHT,
  PROP_TOP,
  PROP_BOTTOM,
  PROP_MODE,
  PROP_STRICT_ZERO_COPY,
  PROP_ROI_TYPE,
  PROP_STATS,
};

#define CROP_FORMATS                                                                          \
  "{ NV12, NV21, I420, YV12, Y42B, Y444, Y41B, I420_10LE, YUY2, UYVY, YVYU, RGBA, BGRA, "     \
  "ARGB, ABGR, RGBx, BGRx, xRGB, xBGR, RGB, BGR, RGB16, AYUV, GRAY8, GRAY16_LE, GRAY16_BE }"
#define CROP_CAPS                                                                             \
  GST_VIDEO_CAPS_MAKE (CROP_FORMATS)                                                          \
  "; " GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_DMABUF, CROP_FORMATS)

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CROP_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CROP_CAPS));

#define gst_dmakit_crop_parent_class parent_class
G_DEFINE_TYPE (GstDmakitCrop, gst_dmakit_crop, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (dmakitcrop, "dmakitcrop", GST_RANK_NONE, GST_DMAKIT_TYPE_CROP);

static Impl *
impl_of (gpointer self) noexcept
{
  return GST_DMAKIT_CROP (self)->impl;
}

/* Our allocator (a new reference, or NULL before start and after stop). */
static ObjectRef<GstAllocator>
get_allocator (GstDmakitCrop *self) noexcept
{
  ObjectLocker lock (self);
  return self->impl->allocator;
}

/* TRUE if this refusal (@text for @caps) was not posted yet: post it then.
 * Repeating the same refusal only logs it. */
static bool
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

/* GST_ELEMENT_ERROR for a refusal to negotiate @caps, posted once (see
 * refusal_is_new()). @text is a g_strdup_printf() result (transfer full),
 * @debug_args the parenthesised debug format and arguments. */
#define CROP_REFUSE(self, caps, domain, code, text, debug_args)                                \
  G_STMT_START                                                                                \
  {                                                                                           \
    GCharPtr refusal_text_ (text);                                                            \
    if (refusal_is_new ((self), refusal_text_.get (), (caps)))                                \
      GST_ELEMENT_ERROR ((self), domain, code, ("%s", refusal_text_.get ()), debug_args);     \
  }                                                                                           \
  G_STMT_END

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
  return gint64 (MAX (s.left, 0)) + MAX (s.right, 0) < w &&
         gint64 (MAX (s.top, 0)) + MAX (s.bottom, 0) < h;
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
static void
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
  if (impl->have_info &&
      resolve_crop (s, &impl->in_info, &impl->out_info, &c) == CropResult::Ok) {
    GST_DEBUG_OBJECT (self, "crop now l=%u r=%u t=%u b=%u", c.left, c.right, c.top, c.bottom);
    impl->crop = c;
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

static gboolean
gst_dmakit_crop_query (GstBaseTransform *trans, GstPadDirection direction,
                       GstQuery *query) noexcept
{
  const GstQueryType type = GST_QUERY_TYPE (query);
  if ((type != GST_QUERY_CAPS && type != GST_QUERY_ACCEPT_CAPS) ||
      query_in_progress (trans)) /* nested: keep the outer query's settings */
    return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
  QuerySettings q{trans, Settings (), query_settings};
  {
    ObjectLocker lock (trans);
    q.settings = impl_of (trans)->settings;
  }
  query_settings = &q;
  const gboolean res = GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
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
      if (transform_dimension (gst_value_list_get_value (src, i), delta, dynamic, direction,
                               &item))
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

static GstCaps *
gst_dmakit_crop_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
                                GstCaps *caps, GstCaps *filter) noexcept
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
static gboolean
gst_dmakit_crop_accept_caps (GstBaseTransform *trans, GstPadDirection direction,
                             GstCaps *caps) noexcept
{
  GstVideoInfo info;
  if (direction == GST_PAD_SINK && gst_caps_is_fixed (caps) &&
      gst_video_info_from_caps (&info, caps)) {
    const Settings s = caps_settings_of (trans);
    const gint w = GST_VIDEO_INFO_WIDTH (&info), h = GST_VIDEO_INFO_HEIGHT (&info);
    if (!crop_fits (s, w, h)) {
      CROP_REFUSE (GST_DMAKIT_CROP (trans), caps, STREAM, FORMAT, too_large_text (s, w, h),
                   ("caps %" GST_PTR_FORMAT " not accepted", caps));
      return FALSE;
    }
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->accept_caps (trans, direction, caps);
}

static gboolean
gst_dmakit_crop_set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  GstVideoInfo in_info, out_info;
  if (!gst_video_info_from_caps (&in_info, incaps) ||
      !gst_video_info_from_caps (&out_info, outcaps)) {
    CROP_REFUSE (self, incaps, CORE, NEGOTIATION, g_strdup ("Invalid video caps."),
                 ("in %" GST_PTR_FORMAT ", out %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  if (GST_VIDEO_INFO_FORMAT (&in_info) != GST_VIDEO_INFO_FORMAT (&out_info) ||
      !crop_format_supported (GST_VIDEO_INFO_FORMAT (&in_info))) {
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
    if (chosen.generation == s.generation ||
        resolve_crop (chosen, &in_info, &out_info, &crop) != CropResult::Ok) {
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

  impl->in_info = in_info;
  impl->out_info = out_info;
  impl->have_info = true;
  impl->crop = crop;
  GstCapsFeatures *f = gst_caps_get_features (incaps, 0);
  impl->dmabuf = f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_DMABUF);
  GST_INFO_OBJECT (self, "%dx%d %s -> %dx%d: l=%u r=%u t=%u b=%u%s", in_info.width,
                   in_info.height, gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&in_info)),
                   out_info.width, out_info.height, crop.left, crop.right, crop.top, crop.bottom,
                   impl->dmabuf ? " (DMABuf)" : "");

  /* Make sure decide_allocation runs and picks the path again. */
  gst_base_transform_set_passthrough (trans, FALSE);
  gst_base_transform_set_in_place (trans, FALSE);
  return TRUE;
}

static gboolean
gst_dmakit_crop_transform_size (GstBaseTransform *trans, GstPadDirection direction, GstCaps *,
                                gsize, GstCaps *, gsize *othersize) noexcept
{
  Impl *impl = impl_of (trans);
  if (!impl->have_info)
    return FALSE;
  *othersize = direction == GST_PAD_SINK ? GST_VIDEO_INFO_SIZE (&impl->out_info)
                                         : GST_VIDEO_INFO_SIZE (&impl->in_info);
  return TRUE;
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

static void
set_path (GstDmakitCrop *self, Path path, gchar *reason) noexcept
{
  Impl *impl = self->impl;
  impl->path = path;
  impl->path_for_stats.store (int (path), std::memory_order_relaxed);
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
 * frame in rotation that the caches must hold: at 4K (12 MB a frame, with a
 * 32 MB L3 here) one spare input buffer made the copy path 40% slower. A pool
 * that must grow (downstream holds more than it said) grows on the acquiring
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
  return allocator &&
         gst_dmakit_allocator_get_backend (allocator) != GST_DMAKIT_BACKEND_MEMFD;
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
  bool ok = gst_buffer_pool_config_validate_params (config, outcaps, size, min, max) &&
            gst_buffer_pool_set_config (pool, config);
  if (!ok) {
    if (gst_buffer_pool_is_active (pool))
      GST_WARNING_OBJECT (self, "pool %" GST_PTR_FORMAT " is active, cannot reconfigure", pool);
    GST_DEBUG_OBJECT (self, "pool %" GST_PTR_FORMAT " refused the copy configuration", pool);
  }
  return ok;
}

static gboolean
gst_dmakit_crop_decide_allocation (GstBaseTransform *trans, GstQuery *query) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  Settings s;
  {
    ObjectLocker lock (self);
    s = impl->settings;
  }

  const bool has_vmeta = gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, nullptr);
  const bool has_crop =
      gst_query_find_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  const bool has_roi =
      gst_query_find_allocation_meta (query, GST_DMAKIT_ROI_META_API_TYPE, nullptr);
  /* Only GStreamer's crop meta means "this element crops": converters and
   * scalers forward support for every other meta of downstream (ours
   * included) without applying a crop rectangle. */
  const bool meta_ok = has_vmeta && has_crop;
  impl->downstream_min = 0;
  if (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_parse_nth_allocation_pool (query, 0, nullptr, nullptr, &impl->downstream_min,
                                         nullptr);

  if (impl->crop.none () && s.roi_type == 0) {
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
    CROP_REFUSE (self, outcaps, CORE, NEGOTIATION,
                 g_strdup_printf ("mode=meta, but %s, so the crop cannot be done by meta.",
                                  reason.get ()),
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
  const guint size = guint (GST_VIDEO_INFO_SIZE (&impl->out_info));
  GstBufferPool *qpool = nullptr;
  guint qsize = 0, qmin = 0, qmax = 0;
  const bool have_entry = gst_query_get_n_allocation_pools (query) > 0;
  if (have_entry)
    gst_query_parse_nth_allocation_pool (query, 0, &qpool, &qsize, &qmin, &qmax);
  auto pool = ObjectRef<GstBufferPool>::adopt (qpool);
  const char *whose = "downstream's";
  if (pool && !configure_copy_pool (self, pool.get (), outcaps, MAX (qsize, size), qmin, qmax,
                                    has_vmeta, nullptr))
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
    if (alloc && impl->dmabuf && !GST_IS_DMABUF_ALLOCATOR (alloc.get ()))
      alloc.reset ();
    if (!alloc)
      alloc.reset (own_pool_allocator (self, impl->dmabuf));
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
                   ("%u bytes, min %u, max %u, caps %" GST_PTR_FORMAT, size, min, max,
                    outcaps));
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

static gboolean
gst_dmakit_crop_propose_allocation (GstBaseTransform *trans, GstQuery *decide_query,
                                    GstQuery *query) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;

  if (impl->path == Path::Passthrough || impl->path == Path::None)
    return GST_BASE_TRANSFORM_CLASS (parent_class)
        ->propose_allocation (trans, decide_query, query);

  GstCaps *caps = nullptr;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation (query, &caps, &need_pool);
  if (!caps)
    return FALSE;

  /* Crop by meta passes buffers through: what downstream wants for them
   * (pool, alignment, memory) is what upstream should produce. */
  if (impl->path == Path::Meta &&
      !gst_pad_peer_query (GST_BASE_TRANSFORM_SRC_PAD (trans), query))
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
  const bool copy = impl->path != Path::Meta;
  const guint min = copy ? 1 : MAX (impl->downstream_min, entry_min) + 1;
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

/* ---- metadata ------------------------------------------------------------- */

static gboolean
gst_dmakit_crop_transform_meta (GstBaseTransform *trans, GstBuffer *outbuf, GstMeta *meta,
                                GstBuffer *inbuf) noexcept
{
  /* Only called on the copy path: the output is a new, smaller frame. */
  Impl *impl = impl_of (trans);
  const GType api = meta->info->api;
  if (api == GST_VIDEO_CROP_META_API_TYPE)
    return FALSE; /* consumed by the copy */
  if (api == GST_DMAKIT_ROI_META_API_TYPE)
    return TRUE; /* copied, then shifted and clipped in transform() */
  if (api == GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) {
    /* Shift and clip GStreamer's own ROI meta too. */
    auto *roi = reinterpret_cast<GstVideoRegionOfInterestMeta *> (meta);
    gint64 x0 = impl->crop.left, y0 = impl->crop.top;
    GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (inbuf);
    if (cm && gst_buffer_get_video_meta (inbuf)) {
      x0 += cm->x;
      y0 += cm->y;
    }
    const gint64 w = GST_VIDEO_INFO_WIDTH (&impl->out_info);
    const gint64 h = GST_VIDEO_INFO_HEIGHT (&impl->out_info);
    const gint64 l = MAX (gint64 (roi->x) - x0, 0), t = MAX (gint64 (roi->y) - y0, 0);
    const gint64 r = MIN (gint64 (roi->x) + roi->w - x0, w);
    const gint64 b = MIN (gint64 (roi->y) + roi->h - y0, h);
    if (r > l && b > t) {
      GstVideoRegionOfInterestMeta *n = gst_buffer_add_video_region_of_interest_meta_id (
          outbuf, roi->roi_type, guint (l), guint (t), guint (r - l), guint (b - t));
      if (n) {
        n->id = roi->id;
        n->parent_id = roi->parent_id;
        for (GList *p = roi->params; p; p = p->next)
          gst_video_region_of_interest_meta_add_param (
              n, gst_structure_copy (static_cast<GstStructure *> (p->data)));
      }
    }
    return FALSE;
  }
  const gchar *const *tags = gst_meta_api_type_get_tags (api);
  if (!tags)
    return TRUE;
  for (const gchar *const *t = tags; *t; t++) {
    if (g_strcmp0 (*t, GST_META_TAG_VIDEO_STR) != 0 &&
        g_strcmp0 (*t, GST_META_TAG_VIDEO_ORIENTATION_STR) != 0 &&
        g_strcmp0 (*t, GST_META_TAG_VIDEO_COLORSPACE_STR) != 0)
      return FALSE; /* size-dependent or unknown: drop */
  }
  return TRUE;
}

/* ---- processing -------------------------------------------------------------- */

static void
count_zero_copy (Impl *impl) noexcept
{
  impl->frames.fetch_add (1, std::memory_order_relaxed);
  impl->zero_copy_frames.fetch_add (1, std::memory_order_relaxed);
}

static GstFlowReturn
gst_dmakit_crop_transform_ip (GstBaseTransform *trans, GstBuffer *buf) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  if (gst_base_transform_is_passthrough (trans)) {
    count_zero_copy (impl);
    return GST_FLOW_OK;
  }
  maybe_update_crop (self);

  /* The smaller caps do not describe this buffer any more: a video meta must
   * give its real size and layout. Without one, the layout is the default
   * one of the input caps. */
  GstVideoMeta *vmeta = gst_buffer_get_video_meta (buf);
  if (!vmeta) {
    vmeta = gst_buffer_add_video_meta (buf, GST_VIDEO_FRAME_FLAG_NONE,
                                       GST_VIDEO_INFO_FORMAT (&impl->in_info),
                                       GST_VIDEO_INFO_WIDTH (&impl->in_info),
                                       GST_VIDEO_INFO_HEIGHT (&impl->in_info));
    if (!vmeta) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not add a video meta."), (nullptr));
      return GST_FLOW_ERROR;
    }
  }

  /* Accumulate onto a crop the buffer already carries. */
  GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf);
  guint64 x = impl->crop.left, y = impl->crop.top;
  if (cm) {
    x += cm->x;
    y += cm->y;
  }
  guint64 w = GST_VIDEO_INFO_WIDTH (&impl->out_info);
  guint64 h = GST_VIDEO_INFO_HEIGHT (&impl->out_info);

  GQuark roi_type;
  {
    ObjectLocker lock (self);
    roi_type = impl->settings.roi_type;
  }
  if (roi_type != 0) {
    /* Per buffer: the ROI of that type, inside the static crop. */
    GstDmakitRoiMeta *roi = gst_buffer_get_dmakit_roi_meta (buf, g_quark_to_string (roi_type), -1);
    if (roi) {
      const guint64 l = MAX (x, guint64 (roi->x)), t = MAX (y, guint64 (roi->y));
      const guint64 r = MIN (x + w, guint64 (roi->x) + roi->w);
      const guint64 b = MIN (y + h, guint64 (roi->y) + roi->h);
      if (r > l && b > t) {
        x = l;
        y = t;
        w = r - l;
        h = b - t;
      } else {
        GST_LOG_OBJECT (self, "ROI %u,%u %ux%u lies outside the crop; keeping the crop", roi->x,
                        roi->y, roi->w, roi->h);
      }
    }
  }

  if (x + w > vmeta->width || y + h > vmeta->height) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("The crop does not fit in the frame."),
                       ("rectangle %" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                        "x%" G_GUINT64_FORMAT " in a %ux%u frame",
                        x, y, w, h, vmeta->width, vmeta->height));
    return GST_FLOW_ERROR;
  }

  if (!cm)
    cm = gst_buffer_add_video_crop_meta (buf);
  if (!cm) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not add a crop meta."), (nullptr));
    return GST_FLOW_ERROR;
  }
  cm->x = guint (x);
  cm->y = guint (y);
  cm->width = guint (w);
  cm->height = guint (h);
  count_zero_copy (impl);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_dmakit_crop_transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  maybe_update_crop (self);

  guint x = impl->crop.left, y = impl->crop.top;
  GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (inbuf);
  if (cm && gst_buffer_get_video_meta (inbuf)) {
    x += cm->x;
    y += cm->y;
  }
  const guint w = GST_VIDEO_INFO_WIDTH (&impl->out_info);
  const guint h = GST_VIDEO_INFO_HEIGHT (&impl->out_info);
  gsize bytes = 0;
  {
    /* Mapped frames hold a reference: the output is writable again (for the
     * ROI metas) only once they are unmapped. */
    MappedVideoFrame in (&impl->in_info, inbuf, GST_MAP_READ);
    if (!in) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the input frame."),
                         ("buffer of %" G_GSIZE_FORMAT " bytes, caps need %" G_GSIZE_FORMAT,
                          gst_buffer_get_size (inbuf), GST_VIDEO_INFO_SIZE (&impl->in_info)));
      return GST_FLOW_ERROR;
    }
    MappedVideoFrame out (&impl->out_info, outbuf, GST_MAP_WRITE);
    if (!out) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the output frame."),
                         ("buffer of %" G_GSIZE_FORMAT " bytes", gst_buffer_get_size (outbuf)));
      return GST_FLOW_ERROR;
    }
    guint8 *dst[GST_VIDEO_MAX_PLANES];
    gint dst_stride[GST_VIDEO_MAX_PLANES];
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (out.get ()); p++) {
      dst[p] = static_cast<guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (out.get (), p));
      dst_stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE (out.get (), p);
    }
    bytes = crop_copy (in.get (), x, y, w, h, dst, dst_stride);
    if (bytes == 0) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("The crop does not fit in the frame."),
                         ("rectangle %u,%u %ux%u in a %dx%d frame", x, y, w, h,
                          GST_VIDEO_FRAME_WIDTH (in.get ()), GST_VIDEO_FRAME_HEIGHT (in.get ())));
      return GST_FLOW_ERROR;
    }
  }
  gst_buffer_dmakit_roi_metas_crop (outbuf, x, y, w, h);

  impl->frames.fetch_add (1, std::memory_order_relaxed);
  const guint64 n = impl->copied_frames.fetch_add (1, std::memory_order_relaxed) + 1;
  impl->bytes_copied.fetch_add (bytes, std::memory_order_relaxed);
  GST_CAT_LOG_OBJECT (GST_CAT_PERFORMANCE, self,
                      "copy #%" G_GUINT64_FORMAT ": %ux%u at %u,%u, %" G_GSIZE_FORMAT
                      " bytes (%s)",
                      n, w, h, x, y, bytes,
                      impl->copy_reason ? impl->copy_reason.get () : "copy path");
  return GST_FLOW_OK;
}

/* ---- lifecycle and properties ---------------------------------------------- */

static gboolean
gst_dmakit_crop_start (GstBaseTransform *trans) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  GErrorPtr err;
  auto allocator = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ()));
  if (!allocator)
    GST_WARNING_OBJECT (self, "no dmakit allocator: %s; using downstream's or plain pools",
                        err ? err->message : "unknown error");
  else
    GST_INFO_OBJECT (self, "allocator backend: %s", backend_nick (allocator.get ()));
  {
    ObjectLocker lock (self);
    impl->allocator = std::move (allocator);
    impl->last_refusal.reset ();
  }
  impl->frames = 0;
  impl->zero_copy_frames = 0;
  impl->copied_frames = 0;
  impl->bytes_copied = 0;
  set_path (self, Path::None, nullptr);
  return TRUE;
}

static gboolean
gst_dmakit_crop_stop (GstBaseTransform *trans) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  GST_INFO_OBJECT (self,
                   "%" G_GUINT64_FORMAT " frames: %" G_GUINT64_FORMAT " zero-copy, %" G_GUINT64_FORMAT
                   " copied (%" G_GUINT64_FORMAT " bytes)",
                   impl->frames.load (), impl->zero_copy_frames.load (),
                   impl->copied_frames.load (), impl->bytes_copied.load ());
  ObjectRef<GstAllocator> allocator; /* dropped outside the lock */
  {
    ObjectLocker lock (self);
    allocator = std::move (impl->allocator);
    impl->last_refusal.reset ();
  }
  impl->have_info = false;
  impl->path = Path::None;
  return TRUE;
}

static GstStructure *
build_stats (GstDmakitCrop *self) noexcept
{
  Impl *impl = self->impl;
  GCharPtr reason;
  {
    ObjectLocker lock (self);
    reason.reset (g_strdup (impl->copy_reason ? impl->copy_reason.get () : ""));
  }
  return gst_structure_new (
      "dmakitcrop-stats", "frames", G_TYPE_UINT64, impl->frames.load (), "zero-copy-frames",
      G_TYPE_UINT64, impl->zero_copy_frames.load (), "copied-frames", G_TYPE_UINT64,
      impl->copied_frames.load (), "bytes-copied", G_TYPE_UINT64, impl->bytes_copied.load (),
      "last-copy-reason", G_TYPE_STRING, reason.get (), "path", G_TYPE_STRING,
      path_name (Path (impl->path_for_stats.load ())), nullptr);
}

/* left/right/top/bottom are controllable: apply the control sources' values
 * for this buffer's stream time before it is processed. */
static void
gst_dmakit_crop_before_transform (GstBaseTransform *trans, GstBuffer *buf) noexcept
{
  const GstClockTime ts = GST_BUFFER_TIMESTAMP (buf);
  const GstClockTime stream_time = gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME, ts);
  if (GST_CLOCK_TIME_IS_VALID (stream_time))
    gst_object_sync_values (GST_OBJECT (trans), stream_time);
}

/* At EOS, post the stats as an element message ("dmakitcrop-stats") so that
 * applications and gst-launch-1.0 -m see what happened. */
static gboolean
gst_dmakit_crop_sink_event (GstBaseTransform *trans, GstEvent *event) noexcept
{
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
    gst_element_post_message (GST_ELEMENT (self),
                              gst_message_new_element (GST_OBJECT (self), build_stats (self)));
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
gst_dmakit_crop_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (object);
  Impl *impl = self->impl;
  bool reconfigure = false;
  {
    ObjectLocker lock (self);
    Settings &s = impl->settings;
    auto set_side = [&] (gint *side) noexcept {
      const gint v = g_value_get_int (value);
      if (*side != v) {
        *side = v;
        s.generation++;
        impl->need_update = true;
        reconfigure = true;
      }
    };
    switch (prop_id) {
      case PROP_LEFT:
        set_side (&s.left);
        break;
      case PROP_RIGHT:
        set_side (&s.right);
        break;
      case PROP_TOP:
        set_side (&s.top);
        break;
      case PROP_BOTTOM:
        set_side (&s.bottom);
        break;
      case PROP_MODE:
        s.mode = GstDmakitCropMode (g_value_get_enum (value));
        break;
      case PROP_STRICT_ZERO_COPY:
        s.strict = g_value_get_boolean (value);
        break;
      case PROP_ROI_TYPE: {
        const gchar *t = g_value_get_string (value);
        s.roi_type = (t && *t) ? g_quark_from_string (t) : 0;
        break;
      }
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  if (reconfigure)
    gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
}

static void
gst_dmakit_crop_get_property (GObject *object, guint prop_id, GValue *value,
                              GParamSpec *pspec) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, build_stats (self));
    return;
  }
  ObjectLocker lock (self);
  const Settings &s = self->impl->settings;
  switch (prop_id) {
    case PROP_LEFT:
      g_value_set_int (value, s.left);
      break;
    case PROP_RIGHT:
      g_value_set_int (value, s.right);
      break;
    case PROP_TOP:
      g_value_set_int (value, s.top);
      break;
    case PROP_BOTTOM:
      g_value_set_int (value, s.bottom);
      break;
    case PROP_MODE:
      g_value_set_enum (value, s.mode);
      break;
    case PROP_STRICT_ZERO_COPY:
      g_value_set_boolean (value, s.strict);
      break;
    case PROP_ROI_TYPE:
      g_value_set_string (value, s.roi_type ? g_quark_to_string (s.roi_type) : nullptr);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* Out of memory ends the process, as in GLib: noexcept turns a bad_alloc
 * into std::terminate instead of an exception unwinding through C. */
static Impl *
new_impl () noexcept
{
  return new Impl ();
}

static void
gst_dmakit_crop_init (GstDmakitCrop *self)
{
  self->impl = new_impl ();
}

static void
gst_dmakit_crop_finalize (GObject *object) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (object);
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_dmakit_crop_class_init (GstDmakitCropClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_crop_debug, "dmakitcrop", 0,
                           "dmakit crop by meta, copy when needed");
  GST_DEBUG_CATEGORY_GET (GST_CAT_PERFORMANCE, "GST_PERFORMANCE");

  gobject_class->set_property = gst_dmakit_crop_set_property;
  gobject_class->get_property = gst_dmakit_crop_get_property;
  gobject_class->finalize = gst_dmakit_crop_finalize;

  const GParamFlags side_flags = GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_PLAYING | GST_PARAM_CONTROLLABLE);
  g_object_class_install_property (
      gobject_class, PROP_LEFT,
      g_param_spec_int ("left", "Left", "Pixels to crop at the left (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_RIGHT,
      g_param_spec_int ("right", "Right", "Pixels to crop at the right (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_TOP,
      g_param_spec_int ("top", "Top", "Pixels to crop at the top (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_BOTTOM,
      g_param_spec_int ("bottom", "Bottom", "Pixels to crop at the bottom (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
                         "auto: crop by meta when downstream accepts it, else copy; meta: by meta "
                         "only (not-negotiated otherwise); copy: always copy",
                         GST_DMAKIT_TYPE_CROP_MODE, GST_DMAKIT_CROP_MODE_AUTO,
                         GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                      GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      gobject_class, PROP_STRICT_ZERO_COPY,
      g_param_spec_boolean ("strict-zero-copy", "Strict zero-copy",
                            "Fail with an error instead of copying frames", FALSE,
                            GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                         GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      gobject_class, PROP_ROI_TYPE,
      g_param_spec_string ("roi-type", "ROI type",
                           "When set, crop each frame (by meta) to its first GstDmakitRoiMeta of "
                           "this type, inside the left/right/top/bottom crop",
                           nullptr,
                           GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
                          "frames, zero-copy-frames, copied-frames, bytes-copied, "
                          "last-copy-reason and the current path (passthrough, meta, copy)",
                          GST_TYPE_STRUCTURE,
                          GParamFlags (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "dmakit crop", "Filter/Effect/Video",
      "Crops video by adding a crop meta (zero-copy) when downstream accepts one, and copies "
      "the rectangle only when it must",
      "dmakit developers <https://github.com/dmakit/dmakit>");

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->transform_caps = gst_dmakit_crop_transform_caps;
  trans_class->query = gst_dmakit_crop_query;
  trans_class->accept_caps = gst_dmakit_crop_accept_caps;
  trans_class->set_caps = gst_dmakit_crop_set_caps;
  trans_class->transform_size = gst_dmakit_crop_transform_size;
  trans_class->decide_allocation = gst_dmakit_crop_decide_allocation;
  trans_class->propose_allocation = gst_dmakit_crop_propose_allocation;
  trans_class->transform_meta = gst_dmakit_crop_transform_meta;
  trans_class->transform = gst_dmakit_crop_transform;
  trans_class->transform_ip = gst_dmakit_crop_transform_ip;
  trans_class->sink_event = gst_dmakit_crop_sink_event;
  trans_class->before_transform = gst_dmakit_crop_before_transform;
  trans_class->start = gst_dmakit_crop_start;
  trans_class->stop = gst_dmakit_crop_stop;

  gst_type_mark_as_plugin_api (GST_DMAKIT_TYPE_CROP_MODE, GstPluginAPIFlags (0));
}
