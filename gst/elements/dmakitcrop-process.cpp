/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop-process.cpp: dmakitcrop's per-buffer work: a crop meta added
 * or combined in place, or the rectangle copied, and the metas that follow. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitcrop-private.h"

#include "dmakit-videocopy.h"

namespace dmakit
{
namespace crop
{

/* Where the copied rectangle starts in @inbuf: the crop, moved by the crop
 * meta @inbuf carries (which describes it only with a video meta). */
static void
copy_origin (const Impl *impl, GstBuffer *inbuf, guint *x, guint *y) noexcept
{
  *x = impl->state.crop.left;
  *y = impl->state.crop.top;
  GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (inbuf);
  if (cm && gst_buffer_get_video_meta (inbuf)) {
    *x += cm->x;
    *y += cm->y;
  }
}

/* ---- metadata ------------------------------------------------------------- */

gboolean
transform_meta (GstBaseTransform *trans, GstBuffer *outbuf, GstMeta *meta,
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
    guint ox, oy;
    copy_origin (impl, inbuf, &ox, &oy);
    const gint64 x0 = ox, y0 = oy;
    const gint64 w = GST_VIDEO_INFO_WIDTH (&impl->state.out_info);
    const gint64 h = GST_VIDEO_INFO_HEIGHT (&impl->state.out_info);
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
    if (g_strcmp0 (*t, GST_META_TAG_VIDEO_STR) != 0
        && g_strcmp0 (*t, GST_META_TAG_VIDEO_ORIENTATION_STR) != 0
        && g_strcmp0 (*t, GST_META_TAG_VIDEO_COLORSPACE_STR) != 0)
      return FALSE; /* size-dependent or unknown: drop */
  }
  return TRUE;
}

/* ---- processing -------------------------------------------------------------- */

static void
count_zero_copy (Impl *impl) noexcept
{
  impl->stats.frames.fetch_add (1, std::memory_order_relaxed);
  impl->stats.zero_copy_frames.fetch_add (1, std::memory_order_relaxed);
}

GstFlowReturn
transform_ip (GstBaseTransform *trans, GstBuffer *buf) noexcept
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
    vmeta = gst_buffer_add_video_meta (
        buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT (&impl->state.in_info),
        GST_VIDEO_INFO_WIDTH (&impl->state.in_info), GST_VIDEO_INFO_HEIGHT (&impl->state.in_info));
    if (!vmeta) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not add a video meta."), (nullptr));
      return GST_FLOW_ERROR;
    }
  }

  /* Accumulate onto a crop the buffer already carries. */
  GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf);
  guint64 x = impl->state.crop.left, y = impl->state.crop.top;
  if (cm) {
    x += cm->x;
    y += cm->y;
  }
  guint64 w = GST_VIDEO_INFO_WIDTH (&impl->state.out_info);
  guint64 h = GST_VIDEO_INFO_HEIGHT (&impl->state.out_info);

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

GstFlowReturn
transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf) noexcept
{
  GstDmakitCrop *self = GST_DMAKIT_CROP (trans);
  Impl *impl = self->impl;
  maybe_update_crop (self);

  guint x, y;
  copy_origin (impl, inbuf, &x, &y);
  const guint w = GST_VIDEO_INFO_WIDTH (&impl->state.out_info);
  const guint h = GST_VIDEO_INFO_HEIGHT (&impl->state.out_info);
  gsize bytes = 0;
  {
    /* Mapped frames hold a reference: the output is writable again (for the
     * ROI metas) only once they are unmapped. */
    MappedVideoFrame in (&impl->state.in_info, inbuf, GST_MAP_READ);
    if (!in) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the input frame."),
                         ("buffer of %" G_GSIZE_FORMAT " bytes, caps need %" G_GSIZE_FORMAT,
                          gst_buffer_get_size (inbuf), GST_VIDEO_INFO_SIZE (&impl->state.in_info)));
      return GST_FLOW_ERROR;
    }
    MappedVideoFrame out (&impl->state.out_info, outbuf, GST_MAP_WRITE);
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

  impl->stats.frames.fetch_add (1, std::memory_order_relaxed);
  const guint64 n = impl->stats.copied_frames.fetch_add (1, std::memory_order_relaxed) + 1;
  impl->stats.bytes_copied.fetch_add (bytes, std::memory_order_relaxed);
  GST_CAT_LOG_OBJECT (GST_CAT_PERFORMANCE, self,
                      "copy #%" G_GUINT64_FORMAT ": %ux%u at %u,%u, %" G_GSIZE_FORMAT " bytes (%s)",
                      n, w, h, x, y, bytes,
                      impl->copy_reason ? impl->copy_reason.get () : "copy path");
  return GST_FLOW_OK;
}

} // namespace crop
} // namespace dmakit
