/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitcrop-private.h: what the files of dmakitcrop share: its Settings,
 * its streaming State, its counters and the vfuncs each file implements.
 *
 *   gstdmakitcrop.cpp            element glue: type, properties, start/stop, stats
 *   dmakitcrop-caps.cpp          crop arithmetic and caps (transform, accept, set)
 *   dmakitcrop-allocation.cpp    the path (passthrough, meta, copy) and the pools
 *   dmakitcrop-process.cpp       per-buffer work: crop meta or copy, metas
 *
 * Plugin-private header (not installed). */
#ifndef DMAKITCROP_PRIVATE_H
#define DMAKITCROP_PRIVATE_H

#include "dmakit-element-util.h"
#include "gstdmakitcrop.h"

#include <atomic>

GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_crop_debug);
GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_crop_performance);
#define GST_CAT_DEFAULT gst_dmakit_crop_debug
#define GST_CAT_PERFORMANCE gst_dmakit_crop_performance

namespace dmakit
{
namespace crop
{

enum class Path { None, Passthrough, Meta, Copy };

/* Property values. Guarded by the object lock; every user copies them out
 * (per query, per negotiation, per buffer for roi-type) and works on the
 * copy. */
struct Settings {
  gint left = 0;
  gint right = 0;
  gint top = 0;
  gint bottom = 0;
  GstDmakitCropMode mode = GST_DMAKIT_CROP_MODE_AUTO;
  bool strict = false;
  GQuark roi_type = 0; /* 0: off */
  /* Counts changes of left/right/top/bottom: two copies with the same
   * generation hold the same sides. */
  guint64 generation = 0;
};

/* The crop applied to the negotiated frame, all >= 0. */
struct Crop {
  guint left = 0;
  guint right = 0;
  guint top = 0;
  guint bottom = 0;
  bool none () const noexcept { return (left | right | top | bottom) == 0; }
};

/* Streaming state: written while negotiating (set_caps, decide_allocation),
 * read while streaming, both on the streaming thread, so it needs no lock.
 * Reset in stop. */
struct State {
  GstVideoInfo in_info{};
  GstVideoInfo out_info{};
  bool have_info = false;
  bool dmabuf = false;
  Crop crop;
  Path path = Path::None;
  guint downstream_min = 0;
};

/* Counters for the stats property and message: atomics, read from any
 * thread without a lock. Reset in start. */
struct Stats {
  std::atomic<int> path{ 0 }; /* a Path, for readers off the streaming thread */
  std::atomic<guint64> frames{ 0 };
  std::atomic<guint64> zero_copy_frames{ 0 };
  std::atomic<guint64> copied_frames{ 0 };
  std::atomic<guint64> bytes_copied{ 0 };
};

struct Impl {
  /* Guarded by the object lock, the element's only lock. It is taken for
   * a copy or an assignment and released before any push, query or post. */
  Settings settings;
  /* The settings the last output caps were computed from (transform_caps
   * from the sink side): set_caps gets caps chosen from these, and the
   * properties may have changed since. */
  Settings caps_settings;
  bool need_update = false;
  GCharPtr copy_reason; /* why the copy path was chosen, or NULL */
  /* The last negotiation refusal posted as an error (its text and caps), so
   * that the same refusal is posted once: basesrc renegotiates while a
   * reconfigure is pending and basetransform asks again at every buffer,
   * which would otherwise post it again each time. Cleared at start and stop. */
  GCharPtr last_refusal;
  /* AUTO backend, for the pools we make. Built in start, dropped in stop: a
   * query can arrive while that happens, so it is read under the lock. */
  ObjectRef<GstAllocator> allocator;

  State state; /* streaming thread only */
  Stats stats; /* atomics */
};

} // namespace crop
} // namespace dmakit

struct _GstDmakitCrop {
  GstBaseTransform parent;
  dmakit::crop::Impl *impl;
};

namespace dmakit
{
namespace crop
{

inline Impl *
impl_of (gpointer self) noexcept
{
  return GST_DMAKIT_CROP (self)->impl;
}

/* gstdmakitcrop.cpp */
GstBaseTransformClass *parent_class () noexcept;

/* dmakitcrop-caps.cpp */
bool refusal_is_new (GstDmakitCrop *self, const gchar *text, GstCaps *caps) noexcept;
void maybe_update_crop (GstDmakitCrop *self) noexcept;
gboolean handle_query (GstBaseTransform *trans, GstPadDirection direction,
                       GstQuery *query) noexcept;
GstCaps *transform_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps,
                         GstCaps *filter) noexcept;
gboolean accept_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps) noexcept;
gboolean set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps) noexcept;
gboolean transform_size (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps,
                         gsize size, GstCaps *othercaps, gsize *othersize) noexcept;

/* dmakitcrop-allocation.cpp */
void set_path (GstDmakitCrop *self, Path path, gchar *reason) noexcept;
gboolean decide_allocation (GstBaseTransform *trans, GstQuery *query) noexcept;
gboolean propose_allocation (GstBaseTransform *trans, GstQuery *decide_query,
                             GstQuery *query) noexcept;

/* dmakitcrop-process.cpp */
gboolean transform_meta (GstBaseTransform *trans, GstBuffer *outbuf, GstMeta *meta,
                         GstBuffer *inbuf) noexcept;
GstFlowReturn transform_ip (GstBaseTransform *trans, GstBuffer *buf) noexcept;
GstFlowReturn transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf) noexcept;

} // namespace crop
} // namespace dmakit

/* GST_ELEMENT_ERROR for a refusal to negotiate @caps, posted once (see
 * refusal_is_new()). @text is a g_strdup_printf() result (transfer full),
 * @debug_args the parenthesised debug format and arguments. */
#define CROP_REFUSE(self, caps, domain, code, text, debug_args)                                    \
  G_STMT_START                                                                                     \
  {                                                                                                \
    dmakit::GCharPtr refusal_text_ (text);                                                         \
    if (dmakit::crop::refusal_is_new ((self), refusal_text_.get (), (caps)))                       \
      GST_ELEMENT_ERROR ((self), domain, code, ("%s", refusal_text_.get ()), debug_args);          \
  }                                                                                                \
  G_STMT_END

#endif /* DMAKITCROP_PRIVATE_H */
