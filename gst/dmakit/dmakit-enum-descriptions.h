/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-enum-descriptions.h (private): the readable description of each
 * enum value, which the generated dmakit-enumtypes.c puts in value_name (what
 * gst-inspect shows next to the nick). One line per value of the enums in
 * gstdmakitallocator.h and gstdmakitbufferpool.h: a value added there without
 * a line here does not compile. */
#ifndef DMAKIT_ENUM_DESCRIPTIONS_H
#define DMAKIT_ENUM_DESCRIPTIONS_H

/* GstDmakitBackend */
#define DMAKIT_DESCRIPTION_GST_DMAKIT_BACKEND_AUTO "Try dma-heap, udmabuf, DRM dumb, then memfd"
#define DMAKIT_DESCRIPTION_GST_DMAKIT_BACKEND_DMA_HEAP "DMA-BUF from a Linux dma-heap"
#define DMAKIT_DESCRIPTION_GST_DMAKIT_BACKEND_UDMABUF                                              \
  "DMA-BUF from memfd pages through /dev/udmabuf"
#define DMAKIT_DESCRIPTION_GST_DMAKIT_BACKEND_DRM_DUMB                                             \
  "DMA-BUF from DRM dumb buffers (PRIME export)"
#define DMAKIT_DESCRIPTION_GST_DMAKIT_BACKEND_MEMFD "Plain memfd memory (fd memory, not DMA-BUF)"

/* GstDmakitTimeoutAction */
#define DMAKIT_DESCRIPTION_GST_DMAKIT_TIMEOUT_ACTION_WARN "Warn, then keep waiting"
#define DMAKIT_DESCRIPTION_GST_DMAKIT_TIMEOUT_ACTION_FAIL "Warn, then fail the acquire"

#endif /* DMAKIT_ENUM_DESCRIPTIONS_H */
