/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitroimeta.h: crop / region-of-interest meta with copy and scale
 * transforms, a text form, and bridges to GStreamer's crop and ROI metas. */
#ifndef GST_DMAKIT_ROI_META_H
#define GST_DMAKIT_ROI_META_H

#include <gst/dmakit/dmakit-prelude.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#define GST_DMAKIT_ROI_META_API_TYPE (gst_dmakit_roi_meta_api_get_type ())
#define GST_DMAKIT_ROI_META_INFO (gst_dmakit_roi_meta_get_info ())

/**
 * GST_DMAKIT_ROI_TYPE_CROP:
 *
 * The ROI type that means "present only this rectangle".
 */
#define GST_DMAKIT_ROI_TYPE_CROP "crop"

/**
 * GstDmakitRoiMeta:
 * @meta: parent #GstMeta
 * @roi_type: the kind of rectangle as a #GQuark (`crop` means "present only this")
 * @id: identifier of this rectangle, unique on its buffer
 * @parent_id: identifier of the parent rectangle, or -1 for none
 * @x: left edge in pixels of the buffer's frame
 * @y: top edge in pixels of the buffer's frame
 * @w: width in pixels
 * @h: height in pixels
 */
typedef struct {
  GstMeta meta;
  GQuark roi_type;
  gint id;
  gint parent_id;
  guint x;
  guint y;
  guint w;
  guint h;
} GstDmakitRoiMeta;

GST_DMAKIT_API
GType gst_dmakit_roi_meta_api_get_type (void);
GST_DMAKIT_API
const GstMetaInfo *gst_dmakit_roi_meta_get_info (void);

GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, guint x,
                                                  guint y, guint w, guint h);
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_get_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, gint id);
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_iterate_dmakit_roi_meta (GstBuffer *buffer, gpointer *state,
                                                      const gchar *type);
GST_DMAKIT_API
guint gst_buffer_get_n_dmakit_roi_metas (GstBuffer *buffer, const gchar *type);

GST_DMAKIT_API
const gchar *gst_dmakit_roi_meta_get_type_name (const GstDmakitRoiMeta *meta);

GST_DMAKIT_API
gchar *gst_dmakit_roi_meta_to_string (const GstDmakitRoiMeta *meta);
GST_DMAKIT_API
gchar *gst_buffer_dmakit_roi_metas_to_string (GstBuffer *buffer);
GST_DMAKIT_API
gboolean gst_buffer_add_dmakit_roi_metas_from_string (GstBuffer *buffer, const gchar *text,
                                                      GError **error);

/* Physical crop helper: shift every ROI meta on @buffer by (-x, -y), clip it to
 * the w x h frame, drop the ones that fall wholly outside. Returns how many were dropped. */
GST_DMAKIT_API
guint gst_buffer_dmakit_roi_metas_crop (GstBuffer *buffer, guint x, guint y, guint w, guint h);

/* Bridges to GStreamer's own metas. */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta_from_video_crop_meta (
    GstBuffer *buffer, const GstVideoCropMeta *crop);
GST_DMAKIT_API
GstVideoCropMeta *gst_dmakit_roi_meta_to_video_crop_meta (const GstDmakitRoiMeta *meta,
                                                          GstBuffer *buffer);
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (
    GstBuffer *buffer, const GstVideoRegionOfInterestMeta *roi);
GST_DMAKIT_API
GstVideoRegionOfInterestMeta *gst_dmakit_roi_meta_to_video_roi_meta (const GstDmakitRoiMeta *meta,
                                                                     GstBuffer *buffer);

G_END_DECLS

#endif /* GST_DMAKIT_ROI_META_H */
