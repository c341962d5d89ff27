/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-videocopy.h: the pixel copies of a crop rectangle, byte for byte
 * what `videocrop` writes. dmakitcrop copies with them when downstream
 * cannot take a crop meta; dmakitsink writes cropped frames with them.
 *
 * Plugin-private header (not installed). */
#ifndef DMAKIT_VIDEOCOPY_H
#define DMAKIT_VIDEOCOPY_H

#include <gst/video/video.h>

namespace dmakit
{

/* One plane of a crop: where its first source row starts, how many bytes of
 * each row belong to the rectangle and how many rows there are. */
struct CropPlane {
  const guint8 *src = nullptr;
  gsize src_stride = 0;
  gsize row_bytes = 0;
  guint rows = 0;
};

/* Whether @format can be cropped byte-exactly like videocrop. */
bool crop_format_supported (GstVideoFormat format) noexcept;

/* Fills @planes (GST_VIDEO_MAX_PLANES entries) with the source rows of the
 * (@x, @y, @w, @h) rectangle of @src, rounding chroma offsets of subsampled
 * formats down the way videocrop does. Returns the number of planes, or 0 if
 * the format is unsupported or the rectangle does not fit in @src. */
guint crop_planes (const GstVideoFrame *src, guint x, guint y, guint w, guint h,
                   CropPlane *planes) noexcept;

/* TRUE when a plain row copy is not enough: packed 4:2:2 formats with an odd
 * left edge, where videocrop moves the luma samples one pixel (see
 * crop_copy()). */
bool crop_needs_luma_shift (GstVideoFormat format, guint x) noexcept;

/* Copies the (@x, @y, @w, @h) rectangle of @src to the planes @dst/@dst_stride
 * (one entry per plane), byte for byte what videocrop writes, padding left
 * untouched. Returns the number of bytes copied, or 0 on failure. */
gsize crop_copy (const GstVideoFrame *src, guint x, guint y, guint w, guint h, guint8 *const *dst,
                 const gint *dst_stride) noexcept;

} // namespace dmakit

#endif /* DMAKIT_VIDEOCOPY_H */
