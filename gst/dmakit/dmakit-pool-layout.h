/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-layout.h (private): video plane and DRM dumb-buffer maths of
 * the pool's buffer layout, and allocation alignment masks. */
#ifndef DMAKIT_POOL_LAYOUT_H
#define DMAKIT_POOL_LAYOUT_H

#include <gst/video/video.h>

namespace dmakit
{
namespace pool
{

/* Relayout @info on a driver @pitch for plane 0, scaling the other planes'
 * strides in proportion (rounded up to 4 bytes when the ratio is not exact,
 * e.g. I420 with an odd width). Returns the new total size, 0 if impossible. */
gsize relayout_on_pitch (GstVideoInfo *info, guint pitch) noexcept;

/* Dumb-buffer geometry for @info: width in pixels of plane 0, rows covering all
 * planes at plane 0's stride, bits per pixel. False when the format does not
 * map onto one pitch. */
bool drm_geometry (const GstVideoInfo &info, guint *width, guint *rows, guint *bpp) noexcept;

/* Whether @v is an alignment mask (2^n - 1), as gst_allocator_alloc() requires. */
bool is_align_mask (guint64 v) noexcept;

/* The alignment mask nearest to @v; a tie goes to the larger one, which
 * honours the request. */
guint64 nearest_align_mask (guint64 v) noexcept;

} // namespace pool
} // namespace dmakit

#endif /* DMAKIT_POOL_LAYOUT_H */
