/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-videocopy.cpp: the pixel copies of a crop rectangle (see
 * dmakit-videocopy.h). No element state, no allocation: plain row copies. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-videocopy.h"

#include <cstring>

namespace dmakit
{

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
  return format == GST_VIDEO_FORMAT_YUY2 || format == GST_VIDEO_FORMAT_UYVY
         || format == GST_VIDEO_FORMAT_YVYU;
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
  if (guint64 (x) + w > guint64 (GST_VIDEO_FRAME_WIDTH (src))
      || guint64 (y) + h > guint64 (GST_VIDEO_FRAME_HEIGHT (src)))
    return 0;

  if (is_packed_422 (format)) {
    /* One plane of macro-pixels (two pixels, four bytes): start at the
     * macro-pixel that holds the left edge, like videocrop. */
    const gsize pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
    const gsize stride = GST_VIDEO_FRAME_PLANE_STRIDE (src, 0);
    planes[0].src = static_cast<const guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (src, 0))
                    + gsize (y) * stride + gsize (GST_ROUND_DOWN_2 (x)) * pstride;
    planes[0].src_stride = stride;
    planes[0].row_bytes = gsize (w) * pstride;
    planes[0].rows = h;
    return 1;
  }

  const guint n_planes = GST_VIDEO_FRAME_N_PLANES (src);
  for (guint p = 0; p < n_planes; p++) {
    guint comp = 0;
    while (comp < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo)
           && GST_VIDEO_FORMAT_INFO_PLANE (finfo, comp) != p)
      comp++;
    if (comp == GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo))
      return 0;
    /* Subsampled planes start at the sample that covers the rounded-down
     * edge: a chroma row or column covers 2^sub luma rows or columns. */
    const guint xs = x >> GST_VIDEO_FORMAT_INFO_W_SUB (finfo, comp);
    const guint ys = y >> GST_VIDEO_FORMAT_INFO_H_SUB (finfo, comp);
    const gsize pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, comp);
    const gsize stride = GST_VIDEO_FRAME_PLANE_STRIDE (src, p);
    planes[p].src = static_cast<const guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (src, p))
                    + gsize (ys) * stride + gsize (xs) * pstride;
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

} // namespace dmakit
