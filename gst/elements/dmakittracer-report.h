/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakittracer-report.h: the `dmakit` tracer's report.
 *
 * Both functions allocate (std::string, std::vector) and may throw
 * std::bad_alloc: their callers, the hooks and finalize, catch it.
 *
 * Plugin-private header (not installed). */
#ifndef DMAKITTRACER_REPORT_H
#define DMAKITTRACER_REPORT_H

#include <gst/gst.h>

#include <string>

namespace dmakit
{
namespace tracer
{

/* Builds the report of @pipeline, restarts its counters, logs it, prints it
 * (@print) and posts it on @pipeline's bus (@post). Returns FALSE when
 * nothing flowed since the last report. Takes no lock while posting. */
gboolean report_pipeline (GstElement *pipeline, const char *reason, bool print, bool post);

/* One line per element whose counters were never reported, or "". */
std::string unreported_at_exit ();

} // namespace tracer
} // namespace dmakit

#endif /* DMAKITTRACER_REPORT_H */
