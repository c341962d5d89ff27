/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-element-util.h: what the plugin's elements share, over the
 * library's public API: the library's private RAII helpers (dmakit-raii.h,
 * header-only wrappers around GLib and GStreamer calls, shared with the
 * plugin and the tests by design) and the nick of an allocator's backend.
 *
 * Plugin-private header (not installed). */
#ifndef DMAKIT_ELEMENT_UTIL_H
#define DMAKIT_ELEMENT_UTIL_H

#include <gst/dmakit/dmakit-raii.h>
#include <gst/dmakit/dmakit.h>

namespace dmakit
{

/* The nick of the backend of a dmakit allocator ("memfd", "dma-heap", ...),
 * or "none". The nick lives as long as the registered enum, i.e. for ever. */
inline const char *
backend_nick (GstAllocator *allocator) noexcept
{
  if (!allocator || !gst_is_dmakit_allocator (allocator))
    return "none";
  auto *klass = static_cast<GEnumClass *> (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
  const GEnumValue *v = g_enum_get_value (klass, gst_dmakit_allocator_get_backend (allocator));
  const char *nick = v ? v->value_nick : "unknown";
  g_type_class_unref (klass);
  return nick;
}

} // namespace dmakit

#endif /* DMAKIT_ELEMENT_UTIL_H */
