/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitcrop.h: dmakitcrop, a crop that adds a crop meta when downstream
 * can take one and copies the rectangle only when it must.
 *
 * Plugin-private header (not installed): the element type and its enum. The
 * pixel copies dmakitsink shares are in dmakit-videocopy.h. */
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

#endif /* GST_DMAKIT_CROP_H */
