/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitallocator.h: DMA-BUF allocator over dma-heaps, udmabuf and DRM dumb
 * buffers, with an explicit memfd fallback that is never reported as DMA-BUF. */
#ifndef GST_DMAKIT_ALLOCATOR_H
#define GST_DMAKIT_ALLOCATOR_H

#include <gst/dmakit/dmakit-prelude.h>
#include <gst/allocators/allocators.h>

G_BEGIN_DECLS

/**
 * GstDmakitBackend:
 * @GST_DMAKIT_BACKEND_AUTO: try dma-heap, udmabuf, DRM dumb, then memfd, in that order
 * @GST_DMAKIT_BACKEND_DMA_HEAP: a Linux dma-heap (default `/dev/dma_heap/system`)
 * @GST_DMAKIT_BACKEND_UDMABUF: memfd pages exported as DMA-BUF through `/dev/udmabuf`
 * @GST_DMAKIT_BACKEND_DRM_DUMB: DRM dumb buffers exported through PRIME (libdrm)
 * @GST_DMAKIT_BACKEND_MEMFD: plain memfd memory; fd memory, never DMA-BUF
 *
 * Where an allocator gets its memory from.
 *
 * Since: 0.1
 */
typedef enum {
  GST_DMAKIT_BACKEND_AUTO = 0,
  GST_DMAKIT_BACKEND_DMA_HEAP = 1,
  GST_DMAKIT_BACKEND_UDMABUF = 2,
  GST_DMAKIT_BACKEND_DRM_DUMB = 3,
  GST_DMAKIT_BACKEND_MEMFD = 4,
} GstDmakitBackend;

#define GST_DMAKIT_TYPE_BACKEND (gst_dmakit_backend_get_type ())
GST_DMAKIT_API
GType gst_dmakit_backend_get_type (void);

/**
 * GST_DMAKIT_ALLOCATOR_NAME:
 *
 * The mem_type of this library's DMA-BUF allocators: the same string as stock
 * GstDmaBufAllocator (%GST_ALLOCATOR_DMABUF, "dmabuf"), because some importers
 * compare mem_type instead of calling gst_is_dmabuf_memory(). Use
 * gst_is_dmakit_memory() to tell our memory apart.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ALLOCATOR_NAME "dmabuf"
/**
 * GST_DMAKIT_FD_ALLOCATOR_NAME:
 *
 * mem_type of the memfd fallback allocator (fd memory, not DMA-BUF).
 *
 * Since: 0.1
 */
#define GST_DMAKIT_FD_ALLOCATOR_NAME "dmakit-memfd"

/* The DMA-BUF allocator: a GstDmaBufAllocator subclass that implements alloc. */
#define GST_DMAKIT_TYPE_ALLOCATOR (gst_dmakit_allocator_get_type ())
GST_DMAKIT_API
GType gst_dmakit_allocator_get_type (void);

/* The memfd fallback allocator: a GstFdAllocator subclass, deliberately NOT a
 * GstDmaBufAllocator so that gst_is_dmabuf_memory() stays truthful. */
#define GST_DMAKIT_TYPE_FD_ALLOCATOR (gst_dmakit_fd_allocator_get_type ())
GST_DMAKIT_API
GType gst_dmakit_fd_allocator_get_type (void);

/**
 * GstDmakitAllocator:
 *
 * Opaque instance of the DMA-BUF allocator (final type, a #GstDmaBufAllocator).
 *
 * Since: 0.1
 */
typedef struct _GstDmakitAllocator GstDmakitAllocator;
typedef struct _GstDmakitAllocatorClass GstDmakitAllocatorClass;

/**
 * GstDmakitFdAllocator:
 *
 * Opaque instance of the memfd fallback allocator (final type, a #GstFdAllocator
 * that is not a #GstDmaBufAllocator).
 *
 * Since: 0.1
 */
typedef struct _GstDmakitFdAllocator GstDmakitFdAllocator;
typedef struct _GstDmakitFdAllocatorClass GstDmakitFdAllocatorClass;

#define GST_DMAKIT_ALLOCATOR(obj)                                                                  \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_DMAKIT_TYPE_ALLOCATOR, GstDmakitAllocator))
#define GST_DMAKIT_FD_ALLOCATOR(obj)                                                               \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_DMAKIT_TYPE_FD_ALLOCATOR, GstDmakitFdAllocator))
#define GST_DMAKIT_IS_ALLOCATOR(obj) (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_DMAKIT_TYPE_ALLOCATOR))
#define GST_DMAKIT_IS_FD_ALLOCATOR(obj)                                                            \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_DMAKIT_TYPE_FD_ALLOCATOR))

GST_DMAKIT_API
GstAllocator *gst_dmakit_allocator_new (GstDmakitBackend backend, const gchar *device,
                                        GError **error);

/**
 * GstDmakitBackendAllocator:
 *
 * Interface both dmakit allocators implement (#GstDmakitAllocator, the
 * DMA-BUF one, and #GstDmakitFdAllocator, the memfd fallback), so that one
 * set of methods works on whatever gst_dmakit_allocator_new() returns, in C
 * and in bindings (`alloc.get_backend ()` in Python). It adds no behaviour:
 * each gst_dmakit_backend_allocator_*() function is the
 * gst_dmakit_allocator_*() function of the same name with a typed instance.
 *
 * Since: 0.1
 */
typedef struct _GstDmakitBackendAllocator GstDmakitBackendAllocator;
typedef struct _GstDmakitBackendAllocatorInterface GstDmakitBackendAllocatorInterface;

/**
 * GstDmakitBackendAllocatorInterface:
 * @parent_iface: the parent interface
 *
 * The interface structure; it has no virtual methods.
 *
 * Since: 0.1
 */
struct _GstDmakitBackendAllocatorInterface {
  GTypeInterface parent_iface;
  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
};

#define GST_DMAKIT_TYPE_BACKEND_ALLOCATOR (gst_dmakit_backend_allocator_get_type ())
#define GST_DMAKIT_BACKEND_ALLOCATOR(obj)                                                          \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_DMAKIT_TYPE_BACKEND_ALLOCATOR, GstDmakitBackendAllocator))
#define GST_DMAKIT_IS_BACKEND_ALLOCATOR(obj)                                                       \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_DMAKIT_TYPE_BACKEND_ALLOCATOR))
GST_DMAKIT_API
GType gst_dmakit_backend_allocator_get_type (void);

GST_DMAKIT_API
GstDmakitBackend gst_dmakit_backend_allocator_get_backend (GstDmakitBackendAllocator *allocator);
GST_DMAKIT_API
const gchar *gst_dmakit_backend_allocator_get_device (GstDmakitBackendAllocator *allocator);
GST_DMAKIT_API
void gst_dmakit_backend_allocator_set_lock_memory (GstDmakitBackendAllocator *allocator,
                                                   gboolean lock_memory);
GST_DMAKIT_API
gboolean gst_dmakit_backend_allocator_get_lock_memory (GstDmakitBackendAllocator *allocator);
GST_DMAKIT_API
GstMemory *gst_dmakit_backend_allocator_alloc_2d (GstDmakitBackendAllocator *allocator, guint width,
                                                  guint height, guint bpp, guint *pitch);
GST_DMAKIT_API
guint64 gst_dmakit_backend_allocator_get_sync_count (GstDmakitBackendAllocator *allocator);
GST_DMAKIT_API
GstStructure *gst_dmakit_backend_allocator_get_stats (GstDmakitBackendAllocator *allocator);

GST_DMAKIT_API
gboolean gst_is_dmakit_allocator (GstAllocator *allocator);

GST_DMAKIT_API
GstDmakitBackend gst_dmakit_allocator_get_backend (GstAllocator *allocator);

GST_DMAKIT_API
const gchar *gst_dmakit_allocator_get_device (GstAllocator *allocator);

GST_DMAKIT_API
void gst_dmakit_allocator_set_lock_memory (GstAllocator *allocator, gboolean lock_memory);

GST_DMAKIT_API
gboolean gst_dmakit_allocator_get_lock_memory (GstAllocator *allocator);

GST_DMAKIT_API
GstMemory *gst_dmakit_allocator_alloc_2d (GstAllocator *allocator, guint width, guint height,
                                          guint bpp, guint *pitch);

GST_DMAKIT_API
gboolean gst_is_dmakit_memory (GstMemory *mem);

GST_DMAKIT_API
gboolean gst_dmakit_memory_is_locked (GstMemory *mem);

GST_DMAKIT_API
gboolean gst_dmakit_memory_lock_pages (GstMemory *mem, GError **error);

/**
 * GST_DMAKIT_ALLOCATOR_STATS:
 *
 * Name of the #GstStructure returned by gst_dmakit_allocator_get_stats():
 * `"dmakit-allocator-stats"`. (The pool's is %GST_DMAKIT_BUFFER_POOL_STATS,
 * `"GstDmakitBufferPoolStats"`: both names are kept as they were, since
 * applications match them.)
 *
 * Since: 0.2
 */
#define GST_DMAKIT_ALLOCATOR_STATS "dmakit-allocator-stats"

GST_DMAKIT_API
guint64 gst_dmakit_allocator_get_sync_count (GstAllocator *allocator);

GST_DMAKIT_API
GstStructure *gst_dmakit_allocator_get_stats (GstAllocator *allocator);

/* g_autoptr() for the library's types (since 0.2) */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstDmakitAllocator, gst_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstDmakitFdAllocator, gst_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstDmakitBackendAllocator, gst_object_unref)

G_END_DECLS

#endif /* GST_DMAKIT_ALLOCATOR_H */
