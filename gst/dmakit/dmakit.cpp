/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit.cpp: library-wide helpers (error domain, version). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/dmakit/dmakit-prelude.h>

G_DEFINE_QUARK (gst-dmakit-error-quark, gst_dmakit_error)

const gchar *
gst_dmakit_version_string (void)
{
  return VERSION;
}
