/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitroimeta.h: crop / region-of-interest meta with copy and scale
 * transforms, a text form, and bridges to GStreamer's crop and ROI metas. */
#ifndef GST_DMAKIT_ROI_META_H
#define GST_DMAKIT_ROI_META_H

#include <gst/dmakit/dmakit-prelude.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/**
 * GST_DMAKIT_ROI_META_API_TYPE:
 *
 * The #GType of the #GstDmakitRoiMeta API. It carries the tags
 * %GST_META_TAG_VIDEO_STR, %GST_META_TAG_VIDEO_SIZE_STR and
 * %GST_META_TAG_VIDEO_ORIENTATION_STR, so video elements keep it across
 * conversions and call its scale transform when they resize.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_META_API_TYPE (gst_dmakit_roi_meta_api_get_type ())

/**
 * GST_DMAKIT_ROI_META_INFO:
 *
 * The registered #GstMetaInfo of the "GstDmakitRoiMeta" implementation.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_META_INFO (gst_dmakit_roi_meta_get_info ())

/**
 * GST_DMAKIT_ROI_TYPE_CROP:
 *
 * The ROI type that means "present only this rectangle".
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_TYPE_CROP "crop"

/**
 * GST_DMAKIT_ROI_TEXT_MAX_LENGTH:
 *
 * The longest text, in bytes, that gst_buffer_add_dmakit_roi_metas_from_string()
 * accepts. Longer text is refused with an error.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_TEXT_MAX_LENGTH 65536

/**
 * GST_DMAKIT_ROI_TEXT_MAX_RECTS:
 *
 * The most rectangles one call of gst_buffer_add_dmakit_roi_metas_from_string()
 * accepts.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_TEXT_MAX_RECTS 1024

/**
 * GST_DMAKIT_ROI_TYPE_MAX_LENGTH:
 *
 * The longest ROI type name, in bytes (after decoding `%XX` escapes), that the
 * text form accepts.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_TYPE_MAX_LENGTH 255

/**
 * GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES:
 *
 * ROI types are interned as #GQuark values, which live as long as the
 * process. So that text from outside cannot grow that table without bound, the
 * text form creates at most this many new types per process; after that, text
 * naming a type the process does not know yet is refused with an error. Types
 * created through the C API (gst_buffer_add_dmakit_roi_meta() etc.) do not count
 * and are accepted by the text form like any known type.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES 1024

/**
 * GstDmakitRoiMeta:
 * @meta: parent #GstMeta
 * @roi_type: the kind of rectangle as a #GQuark (`crop` means "present only this")
 * @id: identifier of this rectangle, unique on its buffer (>= 0)
 * @parent_id: identifier of the parent rectangle, or -1 for none
 * @x: left edge in pixels of the buffer's frame
 * @y: top edge in pixels of the buffer's frame
 * @w: width in pixels
 * @h: height in pixels
 *
 * One crop or region-of-interest rectangle. A buffer may carry many; each has
 * its own id. Read them with gst_buffer_get_dmakit_roi_metas() (sorted by id),
 * gst_buffer_get_nth_dmakit_roi_meta() or gst_buffer_iterate_dmakit_roi_meta().
 *
 * Since: 0.1
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

/**
 * gst_dmakit_roi_meta_api_get_type:
 *
 * Returns: the #GType of the #GstDmakitRoiMeta API (registered once, thread-safe).
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GType gst_dmakit_roi_meta_api_get_type (void);

/**
 * gst_dmakit_roi_meta_get_info:
 *
 * Returns: (transfer none): the #GstMetaInfo of the "GstDmakitRoiMeta"
 *     implementation (registered once, thread-safe).
 *
 * Since: 0.1
 */
GST_DMAKIT_API
const GstMetaInfo *gst_dmakit_roi_meta_get_info (void);

/**
 * gst_buffer_add_dmakit_roi_meta:
 * @buffer: a writable #GstBuffer
 * @type: the ROI type, e.g. "crop" or "face" (not empty)
 * @x: left edge
 * @y: top edge
 * @w: width
 * @h: height
 *
 * Adds a rectangle with a new id (one more than the highest id on @buffer, or 0)
 * and no parent.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL if the arguments
 *     are invalid (x + w or y + h above %G_MAXUINT).
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, guint x,
                                                  guint y, guint w, guint h);

/**
 * gst_buffer_add_dmakit_roi_meta_full:
 * @buffer: a writable #GstBuffer
 * @type: the ROI type (not empty)
 * @id: the id to give the rectangle, or -1 to assign a new one
 * @parent_id: the parent's id, or -1 for none
 * @x: left edge
 * @y: top edge
 * @w: width
 * @h: height
 *
 * Adds a rectangle with a chosen id and parent.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL if @id is already
 *     used on @buffer, @parent_id equals @id, or the rectangle overflows.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta_full (GstBuffer *buffer, const gchar *type,
                                                       gint id, gint parent_id, guint x, guint y,
                                                       guint w, guint h);

/**
 * gst_buffer_get_dmakit_roi_meta:
 * @buffer: a #GstBuffer
 * @type: (nullable): the ROI type to match, or %NULL for any
 * @id: the id to match, or -1 for any
 *
 * Finds one rectangle. With @id -1, the matching rectangle with the lowest id.
 *
 * Returns: (transfer none) (nullable): the meta, or %NULL if none matches.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_get_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, gint id);

/**
 * gst_buffer_iterate_dmakit_roi_meta: (skip)
 * @buffer: a #GstBuffer
 * @state: (inout): an opaque state pointer, %NULL to start
 * @type: (nullable): the ROI type to match, or %NULL for any
 *
 * Iterates the rectangles of @buffer in the buffer's meta order (not sorted).
 * Use gst_buffer_get_dmakit_roi_metas() for id order.
 *
 * Returns: (transfer none) (nullable): the next meta, or %NULL at the end.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_iterate_dmakit_roi_meta (GstBuffer *buffer, gpointer *state,
                                                      const gchar *type);

/**
 * gst_buffer_get_n_dmakit_roi_metas:
 * @buffer: a #GstBuffer
 * @type: (nullable): the ROI type to count, or %NULL for all
 *
 * Returns: how many rectangles of @type @buffer carries.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
guint gst_buffer_get_n_dmakit_roi_metas (GstBuffer *buffer, const gchar *type);

/**
 * gst_buffer_get_nth_dmakit_roi_meta:
 * @buffer: a #GstBuffer
 * @type: (nullable): the ROI type to match, or %NULL for any
 * @index: position in id order, below gst_buffer_get_n_dmakit_roi_metas()
 *
 * Returns: (transfer none) (nullable): the @index-th matching rectangle in
 *     ascending id order, or %NULL if @index is out of range.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_get_nth_dmakit_roi_meta (GstBuffer *buffer, const gchar *type,
                                                      guint index);

/**
 * gst_buffer_get_dmakit_roi_metas:
 * @buffer: a #GstBuffer
 * @type: (nullable): the ROI type to match, or %NULL for any
 *
 * Returns: (transfer container) (element-type GstDmakitRoiMeta): the matching
 *     rectangles in ascending id order. Free the list with g_list_free(); the
 *     metas belong to @buffer.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GList *gst_buffer_get_dmakit_roi_metas (GstBuffer *buffer, const gchar *type);

/**
 * gst_dmakit_roi_meta_get_type_name:
 * @meta: a #GstDmakitRoiMeta
 *
 * Returns: (transfer none) (nullable): the ROI type as a string, e.g. "crop".
 *
 * Since: 0.1
 */
GST_DMAKIT_API
const gchar *gst_dmakit_roi_meta_get_type_name (const GstDmakitRoiMeta *meta);

/**
 * gst_dmakit_roi_meta_to_string:
 * @meta: a #GstDmakitRoiMeta
 *
 * Formats one rectangle in the text form (docs/roimeta.md), e.g.
 * `face#3<1:10,20,64x64`.
 *
 * Returns: (transfer full) (nullable): the text, or %NULL if the meta has no type.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
gchar *gst_dmakit_roi_meta_to_string (const GstDmakitRoiMeta *meta);

/**
 * gst_buffer_dmakit_roi_metas_to_string:
 * @buffer: a #GstBuffer
 *
 * Formats every rectangle of @buffer, in ascending id order, separated by `;`.
 * Parsing the result with gst_buffer_add_dmakit_roi_metas_from_string() onto a
 * buffer without rectangles gives back the same rectangles, ids included.
 *
 * Returns: (transfer full): the text ("" when there are none).
 *
 * Since: 0.1
 */
GST_DMAKIT_API
gchar *gst_buffer_dmakit_roi_metas_to_string (GstBuffer *buffer);

/**
 * gst_buffer_add_dmakit_roi_metas_from_string:
 * @buffer: a writable #GstBuffer
 * @text: rectangles in the text form, e.g. `crop:0,0,640x480;face#3<1:10,20,64x64`
 * @error: return location for a #GError (%GST_DMAKIT_ERROR_PARSE), or %NULL
 *
 * Parses every rectangle of @text first and only then adds them all to @buffer.
 * On any error (syntax, overflow, empty or overlong type, duplicate id, text
 * longer than %GST_DMAKIT_ROI_TEXT_MAX_LENGTH, more than
 * %GST_DMAKIT_ROI_TEXT_MAX_RECTS rectangles) @buffer is left unchanged and the
 * error message gives the byte offset and what was expected there.
 *
 * Returns: %TRUE if every rectangle was added.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
gboolean gst_buffer_add_dmakit_roi_metas_from_string (GstBuffer *buffer, const gchar *text,
                                                      GError **error);

/**
 * gst_buffer_dmakit_roi_metas_crop:
 * @buffer: a writable #GstBuffer
 * @x: left edge of the kept area
 * @y: top edge of the kept area
 * @w: width of the kept area
 * @h: height of the kept area
 *
 * For elements that physically crop a frame to the area (@x, @y, @w, @h): every
 * rectangle on @buffer is shifted by (-@x, -@y) and clipped to @w x @h; the ones
 * that fall wholly outside are removed.
 *
 * Returns: how many rectangles were removed.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
guint gst_buffer_dmakit_roi_metas_crop (GstBuffer *buffer, guint x, guint y, guint w, guint h);

/**
 * gst_buffer_add_dmakit_roi_meta_from_video_crop_meta:
 * @buffer: a writable #GstBuffer
 * @crop: a #GstVideoCropMeta (from any buffer)
 *
 * Adds a rectangle of type "crop" with the area of @crop, a new id and no parent.
 *
 * Returns: (transfer none) (nullable): the new meta.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta_from_video_crop_meta (
    GstBuffer *buffer, const GstVideoCropMeta *crop);

/**
 * gst_dmakit_roi_meta_to_video_crop_meta:
 * @meta: a #GstDmakitRoiMeta
 * @buffer: a writable #GstBuffer
 *
 * Sets the #GstVideoCropMeta of @buffer to the rectangle of @meta (any type),
 * adding one if @buffer has none.
 *
 * Returns: (transfer none) (nullable): the crop meta of @buffer.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstVideoCropMeta *gst_dmakit_roi_meta_to_video_crop_meta (const GstDmakitRoiMeta *meta,
                                                          GstBuffer *buffer);

/**
 * gst_buffer_add_dmakit_roi_meta_from_video_roi_meta:
 * @buffer: a writable #GstBuffer
 * @roi: a #GstVideoRegionOfInterestMeta (from any buffer)
 *
 * Adds a rectangle with the type, area, id and parent of @roi. If the id of @roi
 * is negative or already used on @buffer, a new id is assigned. A negative parent,
 * or a parent equal to the id (GStreamer initialises both to 0), means no parent.
 * The params of @roi are not carried.
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL if @roi has no type.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstDmakitRoiMeta *gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (
    GstBuffer *buffer, const GstVideoRegionOfInterestMeta *roi);

/**
 * gst_dmakit_roi_meta_to_video_roi_meta:
 * @meta: a #GstDmakitRoiMeta
 * @buffer: a writable #GstBuffer
 *
 * Adds a #GstVideoRegionOfInterestMeta with the type, area, id and parent id of
 * @meta to @buffer.
 *
 * Returns: (transfer none) (nullable): the new #GstVideoRegionOfInterestMeta.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GstVideoRegionOfInterestMeta *gst_dmakit_roi_meta_to_video_roi_meta (const GstDmakitRoiMeta *meta,
                                                                     GstBuffer *buffer);

G_END_DECLS

#endif /* GST_DMAKIT_ROI_META_H */
