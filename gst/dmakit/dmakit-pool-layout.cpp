/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-layout.cpp: video plane and DRM dumb-buffer maths. */
#include "dmakit-pool-layout.h"

#include <algorithm>

namespace dmakit
{
namespace pool
{

namespace
{

/* Planes of @info sorted by offset, with the number of rows (of the plane's own
 * stride) each spans. False when the layout is not a simple planar one. */
bool
plane_rows (const GstVideoInfo &info, guint order[GST_VIDEO_MAX_PLANES],
            guint rows[GST_VIDEO_MAX_PLANES]) noexcept
{
  const guint n = GST_VIDEO_INFO_N_PLANES (&info);
  for (guint i = 0; i < n; i++)
    order[i] = i;
  std::sort (order, order + n,
             [&info] (guint a, guint b) { return info.offset[a] < info.offset[b]; });
  for (guint k = 0; k < n; k++) {
    const guint p = order[k];
    const gsize end = k + 1 < n ? info.offset[order[k + 1]] : info.size;
    if (info.stride[p] <= 0 || end < info.offset[p])
      return false;
    rows[p] = guint ((end - info.offset[p] + guint (info.stride[p]) - 1) / guint (info.stride[p]));
  }
  return true;
}

} // namespace

/* Relayout @info on a driver @pitch for plane 0, scaling the other planes'
 * strides in proportion (rounded up to 4 bytes when the ratio is not exact,
 * e.g. I420 with an odd width). Returns the new total size, 0 if impossible. */
gsize
relayout_on_pitch (GstVideoInfo *info, guint pitch) noexcept
{
  guint order[GST_VIDEO_MAX_PLANES], rows[GST_VIDEO_MAX_PLANES];
  if (!plane_rows (*info, order, rows))
    return 0;
  const guint base = guint (info->stride[0]);
  if (pitch < base)
    return 0;
  gsize offset = 0;
  const guint n = GST_VIDEO_INFO_N_PLANES (info);
  gint strides[GST_VIDEO_MAX_PLANES];
  for (guint p = 0; p < n; p++) {
    const guint64 scaled = (guint64 (info->stride[p]) * pitch + base - 1) / base;
    const guint64 stride = p == 0 || (guint64 (info->stride[p]) * pitch) % base == 0
                               ? scaled
                               : (scaled + 3) & ~guint64 (3);
    if (stride > guint64 (G_MAXINT))
      return 0;
    strides[p] = gint (stride);
  }
  for (guint k = 0; k < n; k++) {
    const guint p = order[k];
    info->stride[p] = strides[p];
    info->offset[p] = offset;
    offset += gsize (strides[p]) * rows[p];
  }
  info->size = offset;
  return offset;
}

/* Dumb-buffer geometry for @info: width in pixels of plane 0, rows covering all
 * planes at plane 0's stride, bits per pixel. */
bool
drm_geometry (const GstVideoInfo &info, guint *width, guint *rows, guint *bpp) noexcept
{
  const GstVideoFormatInfo *finfo = info.finfo;
  if (GST_VIDEO_FORMAT_INFO_IS_TILED (finfo) || GST_VIDEO_FORMAT_INFO_HAS_PALETTE (finfo))
    return false;
  const gint pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
  if (pstride <= 0 || info.stride[0] <= 0 || info.stride[0] % pstride)
    return false;
  /* the plane offsets of an aligned layout with top/left padding do not start
   * at plane boundaries: keep those on the generic path */
  guint order[GST_VIDEO_MAX_PLANES], prow[GST_VIDEO_MAX_PLANES];
  if (!plane_rows (info, order, prow) || info.offset[order[0]] != 0)
    return false;
  *width = guint (info.stride[0] / pstride);
  *bpp = guint (pstride) * 8;
  *rows = guint ((info.size + guint (info.stride[0]) - 1) / guint (info.stride[0]));
  return true;
}

bool
is_align_mask (guint64 v) noexcept
{
  return ((v + 1) & v) == 0;
}

/* The alignment mask nearest to @v; a tie goes to the larger one, which
 * honours the request. */
guint64
nearest_align_mask (guint64 v) noexcept
{
  guint64 hi = v;
  for (guint shift = 1; shift < 64; shift <<= 1)
    hi |= hi >> shift;
  const guint64 lo = hi >> 1;
  return v - lo < hi - v ? lo : hi;
}

} // namespace pool
} // namespace dmakit
