/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-prelude.h: export macro and common declarations of libgstdmakit-1.0. */
#ifndef GST_DMAKIT_PRELUDE_H
#define GST_DMAKIT_PRELUDE_H

#include <gst/gst.h>

#ifndef GST_DMAKIT_API
#ifdef BUILDING_GST_DMAKIT
#define GST_DMAKIT_API GST_API_EXPORT
#else
#define GST_DMAKIT_API GST_API_IMPORT
#endif
#endif

G_BEGIN_DECLS

/**
 * GST_DMAKIT_ERROR:
 *
 * Error domain of the dmakit library. Errors in this domain carry a
 * #GstDmakitError code.
 *
 * Since: 0.1
 */
#define GST_DMAKIT_ERROR (gst_dmakit_error_quark ())

/**
 * GstDmakitError:
 * @GST_DMAKIT_ERROR_FAILED: generic failure
 * @GST_DMAKIT_ERROR_NOT_SUPPORTED: the backend or feature does not work on this system
 * @GST_DMAKIT_ERROR_DEVICE: a device could not be opened or used (message has path and errno)
 * @GST_DMAKIT_ERROR_NO_MEMORY: an allocation was refused (message has size and count)
 * @GST_DMAKIT_ERROR_PARSE: text could not be parsed (message says where)
 * @GST_DMAKIT_ERROR_INVALID: an argument or configuration is invalid
 *
 * Error codes of the %GST_DMAKIT_ERROR domain.
 *
 * Since: 0.1
 */
typedef enum {
  GST_DMAKIT_ERROR_FAILED,
  GST_DMAKIT_ERROR_NOT_SUPPORTED,
  GST_DMAKIT_ERROR_DEVICE,
  GST_DMAKIT_ERROR_NO_MEMORY,
  GST_DMAKIT_ERROR_PARSE,
  GST_DMAKIT_ERROR_INVALID,
} GstDmakitError;

/**
 * gst_dmakit_error_quark:
 *
 * Returns: the quark of the %GST_DMAKIT_ERROR error domain.
 *
 * Since: 0.1
 */
GST_DMAKIT_API
GQuark gst_dmakit_error_quark (void);

/**
 * gst_dmakit_version_string:
 *
 * Returns: (transfer none): the library version, e.g. "0.1.0".
 *
 * Since: 0.1
 */
GST_DMAKIT_API
const gchar *gst_dmakit_version_string (void);

G_END_DECLS

#endif /* GST_DMAKIT_PRELUDE_H */
