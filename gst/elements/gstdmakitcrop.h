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

#include "dmakit-enumtypes.h"

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

/* The value names gst-inspect shows (see dmakit-enumtypes.cpp.template). */
#define GST_DMAKIT_CROP_MODE_AUTO_DESC "Crop by meta when downstream accepts it, otherwise copy"
#define GST_DMAKIT_CROP_MODE_META_DESC                                                       \
  "Crop by meta only; fail negotiation if downstream cannot take it"
#define GST_DMAKIT_CROP_MODE_COPY_DESC "Always copy the rectangle"

#define GST_TYPE_DMAKIT_CROP (gst_dmakit_crop_get_type ())
G_DECLARE_FINAL_TYPE (GstDmakitCrop, gst_dmakit_crop, GST, DMAKIT_CROP, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (dmakitcrop);

G_END_DECLS

#endif /* GST_DMAKIT_CROP_H */
