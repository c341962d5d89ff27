/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-errors.cpp: what dmakitsink tells the user when writing fails:
 * one element error (or, when stopping gave up on a stalled output, a
 * warning) that names the file, the cause and how many accepted buffers
 * were not written. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitsink-private.h"

#include <cerrno>

namespace dmakit
{
namespace sink
{

void
post_write_error (GstDmakitSink *self, const WriteResult &res, GstBuffer *failed_buf,
                  guint64 not_written) noexcept
{
  Impl *impl = self->impl;
  const guint64 written = impl->stats.written.load ();
  const char *location = impl->run.location.get ();
  if (res.kind == Failure::Seek) {
    GST_ELEMENT_ERROR (self, RESOURCE, SEEK,
                       ("Error while seeking in \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT " were written).",
                        location, g_strerror (res.err), not_written, written),
                       ("lseek/ftruncate failed: errno %d, %" G_GUINT64_FORMAT " bytes written",
                        res.err, impl->stats.bytes_written.load ()));
  } else if (res.kind == Failure::Index) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
                       ("Could not write the index \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT " were written).",
                        impl->run.index_location.get (), g_strerror (res.err), not_written,
                        written),
                       ("index write failed: errno %d", res.err));
  } else if (res.err == ECANCELED) {
    /* Stopping, and the output took no data for kStopGraceMs: a warning,
     * since the application asked to stop. */
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                         ("Stopped while \"%s\" was not taking data: %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, not_written, written),
                         ("no progress for %d ms after stop; %" G_GUINT64_FORMAT " bytes written",
                          kStopGraceMs, impl->stats.bytes_written.load ()));
  } else if (res.err != 0) {
    if (res.err == ENOSPC || res.err == EDQUOT)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
                         ("No space left to write \"%s\": %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, not_written, written),
                         ("write failed: %s (errno %d), %" G_GUINT64_FORMAT " bytes written",
                          g_strerror (res.err), res.err, impl->stats.bytes_written.load ()));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
                         ("Could not write to \"%s\": %s. %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, g_strerror (res.err), not_written, written),
                         ("write failed: errno %d, %" G_GUINT64_FORMAT " bytes written", res.err,
                          impl->stats.bytes_written.load ()));
  } else {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
                       ("Cannot write a buffer to \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT " were written).",
                        location, res.what, not_written, written),
                       ("buffer %" GST_PTR_FORMAT, failed_buf));
  }
}

} // namespace sink
} // namespace dmakit
