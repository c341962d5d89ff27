/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitsink.h: dmakitsink, a sink that proposes a GstDmakitBufferPool,
 * honours crop metas and records from a worker thread, so that the streaming
 * thread neither allocates nor waits for the disk.
 *
 * Plugin-private header (not installed). */
#ifndef GST_DMAKIT_SINK_H
#define GST_DMAKIT_SINK_H

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include "dmakit-enumtypes.h"

G_BEGIN_DECLS

/**
 * GstDmakitSinkOverrun:
 * @GST_DMAKIT_SINK_OVERRUN_BLOCK: wait for room in the write queue (back-pressure)
 * @GST_DMAKIT_SINK_OVERRUN_DROP: never wait: drop the buffer, count it and report it
 *
 * What dmakitsink does with a buffer when its write queue is full.
 *
 * Since: 0.1
 */
typedef enum {
  GST_DMAKIT_SINK_OVERRUN_BLOCK = 0,
  GST_DMAKIT_SINK_OVERRUN_DROP = 1,
} GstDmakitSinkOverrun;

/* The value names gst-inspect shows (see dmakit-enumtypes.cpp.template). */
#define GST_DMAKIT_SINK_OVERRUN_BLOCK_DESC "Wait for room in the write queue (back-pressure)"
#define GST_DMAKIT_SINK_OVERRUN_DROP_DESC "Never wait: drop the buffer, count it and report it"

#define GST_TYPE_DMAKIT_SINK (gst_dmakit_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstDmakitSink, gst_dmakit_sink, GST, DMAKIT_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (dmakitsink);

G_END_DECLS

#endif /* GST_DMAKIT_SINK_H */
