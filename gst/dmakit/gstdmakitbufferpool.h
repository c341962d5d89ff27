/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitbufferpool.h: a bounded, preallocating, counting buffer pool that never
 * allocates on the streaming thread in steady state. */
#ifndef GST_DMAKIT_BUFFER_POOL_H
#define GST_DMAKIT_BUFFER_POOL_H

#include <gst/dmakit/dmakit-prelude.h>

G_BEGIN_DECLS

#define GST_DMAKIT_TYPE_BUFFER_POOL (gst_dmakit_buffer_pool_get_type ())
GST_DMAKIT_API
GType gst_dmakit_buffer_pool_get_type (void);
#define GST_DMAKIT_BUFFER_POOL(obj)                                                                \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_DMAKIT_TYPE_BUFFER_POOL, GstDmakitBufferPool))
#define GST_DMAKIT_IS_BUFFER_POOL(obj)                                                             \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_DMAKIT_TYPE_BUFFER_POOL))
#define GST_DMAKIT_BUFFER_POOL_CAST(obj) ((GstDmakitBufferPool *)(obj))

typedef struct _GstDmakitBufferPool GstDmakitBufferPool;
typedef struct _GstDmakitBufferPoolClass GstDmakitBufferPoolClass;

/**
 * GstDmakitTimeoutAction:
 * @GST_DMAKIT_TIMEOUT_ACTION_WARN: warn when the acquire timeout expires, then keep waiting
 * @GST_DMAKIT_TIMEOUT_ACTION_FAIL: warn, then fail the acquire with %GST_FLOW_ERROR
 *
 * What an exhausted pool does when an acquire has waited for the configured timeout.
 *
 * Since: 0.1
 */
typedef enum {
  GST_DMAKIT_TIMEOUT_ACTION_WARN = 0,
  GST_DMAKIT_TIMEOUT_ACTION_FAIL = 1,
} GstDmakitTimeoutAction;

#define GST_DMAKIT_TYPE_TIMEOUT_ACTION (gst_dmakit_timeout_action_get_type ())
GST_DMAKIT_API
GType gst_dmakit_timeout_action_get_type (void);

/**
 * GST_DMAKIT_BUFFER_POOL_STATS:
 *
 * Name of the #GstStructure returned by gst_dmakit_buffer_pool_get_stats().
 *
 * Since: 0.1
 */
#define GST_DMAKIT_BUFFER_POOL_STATS "GstDmakitBufferPoolStats"

/**
 * GST_DMAKIT_BUFFER_POOL_TIMEOUT_DETAILS:
 *
 * Name of the details structure of the %GST_MESSAGE_WARNING a pool posts
 * when an acquire times out (see gst_message_parse_warning_details()).
 *
 * Since: 0.1
 */
#define GST_DMAKIT_BUFFER_POOL_TIMEOUT_DETAILS "GstDmakitBufferPoolTimeout"

GST_DMAKIT_API
GstBufferPool *gst_dmakit_buffer_pool_new (void);

/* Config helpers (on the config structure, like gst_buffer_pool_config_*). */
GST_DMAKIT_API
void gst_dmakit_buffer_pool_config_set_low_watermark (GstStructure *config, guint low_watermark);
GST_DMAKIT_API
gboolean gst_dmakit_buffer_pool_config_get_low_watermark (const GstStructure *config,
                                                          guint *low_watermark);

GST_DMAKIT_API
void gst_dmakit_buffer_pool_config_set_refill (GstStructure *config, gboolean refill);
GST_DMAKIT_API
gboolean gst_dmakit_buffer_pool_config_get_refill (const GstStructure *config, gboolean *refill);

GST_DMAKIT_API
void gst_dmakit_buffer_pool_config_set_lock_memory (GstStructure *config, gboolean lock_memory);
GST_DMAKIT_API
gboolean gst_dmakit_buffer_pool_config_get_lock_memory (const GstStructure *config,
                                                        gboolean *lock_memory);

GST_DMAKIT_API
void gst_dmakit_buffer_pool_config_set_acquire_timeout (GstStructure *config, GstClockTime timeout);
GST_DMAKIT_API
gboolean gst_dmakit_buffer_pool_config_get_acquire_timeout (const GstStructure *config,
                                                            GstClockTime *timeout);

GST_DMAKIT_API
void gst_dmakit_buffer_pool_config_set_timeout_action (GstStructure *config,
                                                       GstDmakitTimeoutAction action);
GST_DMAKIT_API
gboolean gst_dmakit_buffer_pool_config_get_timeout_action (const GstStructure *config,
                                                           GstDmakitTimeoutAction *action);

GST_DMAKIT_API
GstStructure *gst_dmakit_buffer_pool_get_stats (GstBufferPool *pool);

GST_DMAKIT_API
void gst_dmakit_buffer_pool_set_element (GstBufferPool *pool, GstElement *element);
GST_DMAKIT_API
GstElement *gst_dmakit_buffer_pool_get_element (GstBufferPool *pool);

/* g_autoptr(GstDmakitBufferPool) (since 0.2) */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstDmakitBufferPool, gst_object_unref)

G_END_DECLS

#endif /* GST_DMAKIT_BUFFER_POOL_H */
