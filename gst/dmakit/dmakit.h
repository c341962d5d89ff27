/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit.h: umbrella header of libgstdmakit-1.0. Include only this one. */
#ifndef GST_DMAKIT_H
#define GST_DMAKIT_H

#include <gst/dmakit/dmakit-prelude.h>
#include <gst/dmakit/gstdmakitallocator.h>
#include <gst/dmakit/gstdmakitbufferpool.h>
#include <gst/dmakit/gstdmakitroimeta.h>

#endif /* GST_DMAKIT_H */
