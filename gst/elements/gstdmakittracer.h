/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakittracer.h: the `dmakit` tracer (GST_TRACERS=dmakit). Shows, per
 * element and per link, what kind of memory flowed, which elements copied it,
 * and how the buffer pools behaved. Private to the plugin. */
#ifndef GST_DMAKIT_TRACER_H
#define GST_DMAKIT_TRACER_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_DMAKIT_TRACER (gst_dmakit_tracer_get_type ())
G_DECLARE_FINAL_TYPE (GstDmakitTracer, gst_dmakit_tracer, GST, DMAKIT_TRACER, GstTracer)

/* Name of the structure of the element message posted on the bus of the
 * top-level pipeline at EOS and when it shuts down. */
#define GST_DMAKIT_TRACER_REPORT_NAME "dmakit-tracer-report"

G_END_DECLS

#endif /* GST_DMAKIT_TRACER_H */
