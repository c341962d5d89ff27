/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitcrop.h: dmakitcrop, a crop that adds a crop meta when downstream
 * can take one and copies the rectangle only when it must.
 *
 * Plugin-private header (not installed). The C part declares the element type
 * and its enum; the C++ part declares the crop-copy helpers that dmakitsink
 * shares, so both write exactly the bytes `videocrop` would. */
#ifndef GST_DMAKIT_CROP_H
#define GST_DMAKIT_CROP_H

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/**
 * GstDmakitCropMode:
 * @GST_DMAKIT_CROP_MODE_AUTO: crop by meta when downstream accepts it, otherwise copy
 * @GST_DMAKIT_CROP_MODE_META: crop by meta only; not-negotiated if downstream cannot take it
 * @GST_DMAKIT_CROP_MODE_COPY: always copy the rectangle into a new buffer
 *
 * How dmakitcrop crops.
 *
 * Since: 0.1
 */
typedef enum {
  GST_DMAKIT_CROP_MODE_AUTO = 0,
  GST_DMAKIT_CROP_MODE_META = 1,
  GST_DMAKIT_CROP_MODE_COPY = 2,
} GstDmakitCropMode;

#define GST_DMAKIT_TYPE_CROP_MODE (gst_dmakit_crop_mode_get_type ())
GType gst_dmakit_crop_mode_get_type (void);

#define GST_DMAKIT_TYPE_CROP (gst_dmakit_crop_get_type ())
G_DECLARE_FINAL_TYPE (GstDmakitCrop, gst_dmakit_crop, GST_DMAKIT, CROP, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (dmakitcrop);

G_END_DECLS

#ifdef __cplusplus
namespace dmakit {

/* One plane of a crop: where its first source row starts, how many bytes of
 * each row belong to the rectangle and how many rows there are. */
struct CropPlane {
  const guint8 *src = nullptr;
  gsize src_stride = 0;
  gsize row_bytes = 0;
  guint rows = 0;
};

/* Whether dmakitcrop/dmakitsink can crop @format byte-exactly like videocrop. */
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
gsize crop_copy (const GstVideoFrame *src, guint x, guint y, guint w, guint h,
                 guint8 *const *dst, const gint *dst_stride) noexcept;

/* The nick of the backend of a dmakit allocator ("memfd", "dma-heap", ...),
 * or "none". */
const char *backend_nick (GstAllocator *allocator) noexcept;

} // namespace dmakit
#endif

#endif /* GST_DMAKIT_CROP_H */
