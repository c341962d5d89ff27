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

#include "dmakitcrop-private.h"

using namespace dmakit;
using namespace dmakit::crop;

static const char *
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

#define CROP_FORMATS                                                                               \
  "{ NV12, NV21, I420, YV12, Y42B, Y444, Y41B, I420_10LE, YUY2, UYVY, YVYU, RGBA, BGRA, "          \
  "ARGB, ABGR, RGBx, BGRx, xRGB, xBGR, RGB, BGR, RGB16, AYUV, GRAY8, GRAY16_LE, GRAY16_BE }"
#define CROP_CAPS                                                                                  \
  GST_VIDEO_CAPS_MAKE (CROP_FORMATS)                                                               \
  "; " GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_DMABUF, CROP_FORMATS)

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CROP_CAPS));
static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CROP_CAPS));

G_DEFINE_TYPE (GstDmakitCrop, gst_dmakit_crop, GST_TYPE_BASE_TRANSFORM);
GST_DEBUG_CATEGORY (gst_dmakit_crop_debug);
GST_DEBUG_CATEGORY (gst_dmakit_crop_performance);
GST_ELEMENT_REGISTER_DEFINE (dmakitcrop, "dmakitcrop", GST_RANK_NONE, GST_TYPE_DMAKIT_CROP);

GstBaseTransformClass *
dmakit::crop::parent_class () noexcept
{
  return GST_BASE_TRANSFORM_CLASS (gst_dmakit_crop_parent_class);
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
  impl->stats.frames = 0;
  impl->stats.zero_copy_frames = 0;
  impl->stats.copied_frames = 0;
  impl->stats.bytes_copied = 0;
  set_path (self, Path::None, nullptr);
  return TRUE;
}

static gboolean
gst_dmakit_crop_stop (GstBaseTransform *trans) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  GST_INFO_OBJECT (self,
                   "%" G_GUINT64_FORMAT " frames: %" G_GUINT64_FORMAT
                   " zero-copy, %" G_GUINT64_FORMAT " copied (%" G_GUINT64_FORMAT " bytes)",
                   impl->stats.frames.load (), impl->stats.zero_copy_frames.load (),
                   impl->stats.copied_frames.load (), impl->stats.bytes_copied.load ());
  ObjectRef<GstAllocator> allocator; /* dropped outside the lock */
  {
    ObjectLocker lock (self);
    allocator = std::move (impl->allocator);
    impl->last_refusal.reset ();
  }
  impl->state.have_info = false;
  impl->state.path = Path::None;
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
  return gst_structure_new ("dmakitcrop-stats", "frames", G_TYPE_UINT64, impl->stats.frames.load (),
                            "zero-copy-frames", G_TYPE_UINT64, impl->stats.zero_copy_frames.load (),
                            "copied-frames", G_TYPE_UINT64, impl->stats.copied_frames.load (),
                            "bytes-copied", G_TYPE_UINT64, impl->stats.bytes_copied.load (),
                            "last-copy-reason", G_TYPE_STRING, reason.get (), "path", G_TYPE_STRING,
                            path_name (Path (impl->stats.path.load ())), nullptr);
}

/* left/right/top/bottom are controllable: apply the control sources' values
 * for this buffer's stream time before it is processed. */
static void
gst_dmakit_crop_before_transform (GstBaseTransform *trans, GstBuffer *buf) noexcept
{
  const GstClockTime ts = GST_BUFFER_TIMESTAMP (buf);
  const GstClockTime stream_time
      = gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME, ts);
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
  return parent_class ()->sink_event (trans, event);
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
  G_OBJECT_CLASS (gst_dmakit_crop_parent_class)->finalize (object);
}

static void
gst_dmakit_crop_class_init (GstDmakitCropClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_crop_debug, "dmakitcrop", 0,
                           "dmakit crop by meta, copy when needed");
  GST_DEBUG_CATEGORY_GET (gst_dmakit_crop_performance, "GST_PERFORMANCE");

  gobject_class->set_property = gst_dmakit_crop_set_property;
  gobject_class->get_property = gst_dmakit_crop_get_property;
  gobject_class->finalize = gst_dmakit_crop_finalize;

  const GParamFlags side_flags = GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
                                              | GST_PARAM_MUTABLE_PLAYING | GST_PARAM_CONTROLLABLE);
  g_object_class_install_property (gobject_class, PROP_LEFT,
                                   g_param_spec_int ("left", "Left",
                                                     "Pixels to crop at the left (-1 to auto-crop)",
                                                     -1, G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_RIGHT,
      g_param_spec_int ("right", "Right", "Pixels to crop at the right (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (gobject_class, PROP_TOP,
                                   g_param_spec_int ("top", "Top",
                                                     "Pixels to crop at the top (-1 to auto-crop)",
                                                     -1, G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_BOTTOM,
      g_param_spec_int ("bottom", "Bottom", "Pixels to crop at the bottom (-1 to auto-crop)", -1,
                        G_MAXINT, 0, side_flags));
  g_object_class_install_property (
      gobject_class, PROP_MODE,
      g_param_spec_enum (
          "mode", "Mode",
          "auto: crop by meta when downstream accepts it, else copy; meta: by meta "
          "only (not-negotiated otherwise); copy: always copy",
          GST_TYPE_DMAKIT_CROP_MODE, GST_DMAKIT_CROP_MODE_AUTO,
          GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      gobject_class, PROP_STRICT_ZERO_COPY,
      g_param_spec_boolean (
          "strict-zero-copy", "Strict zero-copy", "Fail with an error instead of copying frames",
          FALSE,
          GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      gobject_class, PROP_ROI_TYPE,
      g_param_spec_string (
          "roi-type", "ROI type",
          "When set, crop each frame (by meta) to its first GstDmakitRoiMeta of "
          "this type, inside the left/right/top/bottom crop",
          nullptr,
          GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
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
  trans_class->transform_caps = transform_caps;
  trans_class->query = handle_query;

  trans_class->accept_caps = accept_caps;
  trans_class->set_caps = set_caps;
  trans_class->transform_size = transform_size;
  trans_class->decide_allocation = decide_allocation;
  trans_class->propose_allocation = propose_allocation;
  trans_class->transform_meta = transform_meta;
  trans_class->transform = transform;
  trans_class->transform_ip = transform_ip;
  trans_class->sink_event = gst_dmakit_crop_sink_event;
  trans_class->before_transform = gst_dmakit_crop_before_transform;
  trans_class->start = gst_dmakit_crop_start;
  trans_class->stop = gst_dmakit_crop_stop;

  gst_type_mark_as_plugin_api (GST_TYPE_DMAKIT_CROP_MODE, GstPluginAPIFlags (0));
}
