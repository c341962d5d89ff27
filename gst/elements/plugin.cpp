/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* plugin.cpp: the `dmakit` plugin. Each element registers itself through
 * GST_ELEMENT_REGISTER_DEFINE in its own file; this only lists them. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstdmakittracer.h"
#include "gstdmakitcrop.h"
#include "gstdmakitsink.h"

static gboolean
plugin_init (GstPlugin *plugin) noexcept
{
  gboolean ok = TRUE;
  ok &= GST_ELEMENT_REGISTER (dmakitcrop, plugin);
  ok &= GST_ELEMENT_REGISTER (dmakitsink, plugin);
  ok &= gst_tracer_register (plugin, "dmakit", GST_TYPE_DMAKIT_TRACER);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, dmakit,
                   "Zero-copy, real-time-safe media memory: DMA-BUF pools, crop by meta and "
                   "recording without allocation on the streaming thread",
                   plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
