/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for caps and buffer-pool configuration: what other
 * elements and applications hand to GstDmakitBufferPool::set_config, and the
 * caps that reach dmakitcrop and dmakitsink.
 *
 * Input: a caps string (first line, parsed with gst_caps_from_string), then
 * bytes that pick everything else.
 *
 * Byte 0, bit 0 clear: a GstDmakitBufferPool gets a config built from the
 * bytes (caps, size, min, max, options, video alignment, allocator: none /
 * dmakit / system / an allocator that cannot allocate, allocation params,
 * every dmakit key, and dmakit keys of the wrong type). Checked:
 *  - set_config either accepts, or refuses with a corrected proposal, and
 *    re-proposing converges within 4 rounds (no oscillation);
 *  - an accepted config of bounded size activates or refuses cleanly; an
 *    active pool hands out a buffer of at least `size` bytes (DONTWAIT),
 *    takes it back, and its counters add up (acquires = releases,
 *    outstanding 0).
 * Bit 0 set: the caps go to dmakitcrop (with sides from the bytes) or
 * dmakitsink in a GstHarness: caps query with the caps as filter, accept-caps
 * and allocation queries and a CAPS event with fixed caps, then one buffer.
 * Whatever the caps, no crash and no critical.
 * Built and run by run-fuzz.sh (see tests/check/meson.build). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gst/elements/gstdmakitcrop.h"
#include "gst/elements/gstdmakitsink.h"

#include <gst/allocators/allocators.h>
#include <gst/check/gstharness.h>
#include <gst/dmakit/dmakit.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define REQUIRE(cond, ...)                                                                     \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf (stderr, "caps-fuzzer: %s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      fprintf (stderr, "  " __VA_ARGS__);                                                      \
      fprintf (stderr, "\n");                                                                  \
      abort ();                                                                                \
    }                                                                                          \
  } while (0)

namespace {

GstAllocator *g_dmakit = nullptr; /* AUTO: memfd on a host without DMA-BUF */
bool g_in_caps_parser = false;    /* inside GStreamer's own gst_caps_from_string */
GstAllocator *g_fd = nullptr;     /* GstFdAllocator: cannot allocate by itself */

void
log_handler (const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer)
{
  /* GStreamer 1.22's caps parser itself warns critically on some malformed
   * strings (e.g. an invalid structure name); that is not dmakit's code */
  if ((level & G_LOG_LEVEL_CRITICAL) && g_in_caps_parser)
    return;
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
    fprintf (stderr, "caps-fuzzer: %s-CRITICAL: %s\n", domain ? domain : "", msg);
    abort ();
  }
}

/* Reads the input's bytes after the caps line; zeros once they run out. */
struct Bytes {
  const uint8_t *p;
  size_t n;
  uint8_t u8 ()
  {
    if (!n)
      return 0;
    n--;
    return *p++;
  }
  uint16_t u16 () { return uint16_t (u8 () | (u8 () << 8)); }
  uint32_t u32 () { return uint32_t (u16 () | (uint32_t (u16 ()) << 16)); }
};

void
fuzz_pool (GstCaps *caps, Bytes &b)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  const uint8_t sizing = b.u8 ();
  guint size = b.u32 ();
  size = (sizing & 1) ? size % (8u << 20) : size; /* mostly bounded, sometimes not */
  const guint min = b.u8 () % 16, max = b.u8 () % 24;
  /* the fields gst_buffer_pool_config_set_params() writes, without its
   * preconditions (fixed caps, min <= max): a config can carry anything */
  gst_structure_set (config, "caps", GST_TYPE_CAPS, caps, "size", G_TYPE_UINT, size,
                     "min-buffers", G_TYPE_UINT, min, "max-buffers", G_TYPE_UINT, max, nullptr);
  const uint8_t flags = b.u8 ();
  if (flags & 1)
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (flags & 2) {
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    GstVideoAlignment align;
    gst_video_alignment_reset (&align);
    align.padding_top = b.u8 () % 64;
    align.padding_bottom = b.u8 () % 64;
    align.padding_left = b.u8 () % 64;
    align.padding_right = b.u8 () % 64;
    for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
      align.stride_align[i] = (1u << (b.u8 () % 13)) - 1;
    gst_buffer_pool_config_set_video_alignment (config, &align);
  }
  if (flags & 4)
    gst_buffer_pool_config_add_option (config, "GstBufferPoolOptionNonsense");
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.align = (gsize (1) << (b.u8 () % 13)) - 1;
  params.prefix = b.u16 () % 4096;
  params.padding = b.u16 () % 4096;
  switch (b.u8 () % 4) {
  case 0:
    break;
  case 1:
    gst_buffer_pool_config_set_allocator (config, g_dmakit, &params);
    break;
  case 2:
    gst_buffer_pool_config_set_allocator (config, nullptr, &params);
    break;
  default:
    gst_buffer_pool_config_set_allocator (config, g_fd, &params);
    break;
  }
  const uint8_t keys = b.u8 ();
  if (keys & 1)
    gst_dmakit_buffer_pool_config_set_low_watermark (config, b.u8 () % 40);
  if (keys & 2)
    gst_dmakit_buffer_pool_config_set_refill (config, b.u8 () & 1);
  if (keys & 4)
    gst_dmakit_buffer_pool_config_set_lock_memory (config, b.u8 () & 1);
  if (keys & 8)
    gst_dmakit_buffer_pool_config_set_acquire_timeout (config, GstClockTime (b.u32 ()));
  if (keys & 16)
    gst_structure_set (config, "dmakit-timeout-action", GST_DMAKIT_TYPE_TIMEOUT_ACTION,
                       gint (int8_t (b.u8 ())), nullptr);
  if (keys & 32) /* the dmakit keys with values of the wrong type */
    gst_structure_set (config, "dmakit-low-watermark", G_TYPE_STRING, "many",
                       "dmakit-refill", G_TYPE_INT, 3, "dmakit-acquire-timeout", G_TYPE_DOUBLE,
                       -1.5, nullptr);
  if (keys & 64)
    gst_structure_set (config, "dmakit-timeout-action", G_TYPE_INT, gint (b.u8 ()), nullptr);

  /* accept, or converge on a proposal */
  bool accepted = gst_buffer_pool_set_config (pool, config);
  GstStructure *last = nullptr;
  for (guint round = 0; !accepted && round < 4; round++) {
    GstStructure *proposal = gst_buffer_pool_get_config (pool);
    if (last && gst_structure_is_equal (last, proposal)) {
      gst_structure_free (proposal);
      break; /* a stable refusal: nothing can be corrected */
    }
    if (last)
      gst_structure_free (last);
    last = gst_structure_copy (proposal);
    accepted = gst_buffer_pool_set_config (pool, proposal);
    REQUIRE (accepted || round < 3, "set_config proposals do not converge");
  }
  if (last)
    gst_structure_free (last);

  if (accepted) {
    GstStructure *cfg = gst_buffer_pool_get_config (pool);
    GstCaps *c = nullptr;
    guint csize = 0, cmin = 0, cmax = 0;
    REQUIRE (gst_buffer_pool_config_get_params (cfg, &c, &csize, &cmin, &cmax), "no params");
    REQUIRE (cmax == 0 || cmin <= cmax, "accepted min %u > max %u", cmin, cmax);
    gst_structure_free (cfg);
    const guint64 bytes = guint64 (csize) * MAX (cmin, 1u);
    if (csize > 0 && bytes <= (32u << 20) && gst_buffer_pool_set_active (pool, TRUE)) {
      GstBuffer *buf = nullptr;
      GstBufferPoolAcquireParams ap = {};
      ap.flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT;
      GstFlowReturn r = GST_FLOW_EOS;
      for (guint i = 0; i < 50 && r == GST_FLOW_EOS; i++) {
        r = gst_buffer_pool_acquire_buffer (pool, &buf, &ap);
        if (r == GST_FLOW_EOS)
          g_usleep (1000); /* min 0: the refill thread delivers */
      }
      if (r == GST_FLOW_OK) {
        REQUIRE (gst_buffer_get_size (buf) >= csize, "buffer of %" G_GSIZE_FORMAT " < %u bytes",
                 gst_buffer_get_size (buf), csize);
        GstMapInfo map;
        if (gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
          memset (map.data, 0xa5, map.size);
          gst_buffer_unmap (buf, &map);
        }
        gst_buffer_unref (buf);
      }
      GstStructure *st = gst_dmakit_buffer_pool_get_stats (pool);
      guint64 acquires = 0, releases = 0, outstanding = 0;
      gst_structure_get_uint64 (st, "acquires", &acquires);
      gst_structure_get_uint64 (st, "releases", &releases);
      gst_structure_get_uint64 (st, "outstanding", &outstanding);
      gst_structure_free (st);
      REQUIRE (acquires == releases && outstanding == 0,
               "acquires %" G_GUINT64_FORMAT " releases %" G_GUINT64_FORMAT, acquires, releases);
      REQUIRE (gst_buffer_pool_set_active (pool, FALSE), "cannot deactivate");
    }
  }
  gst_object_unref (pool);
}

void
fuzz_element (GstCaps *caps, Bytes &b)
{
  const uint8_t pick = b.u8 ();
  const bool crop = !(pick & 1);
  GstHarness *h = gst_harness_new (crop ? "dmakitcrop" : "dmakitsink");
  REQUIRE (h != nullptr, "no harness");
  if (crop) {
    g_object_set (h->element, "left", gint (b.u8 () % 80) - 1, "right", gint (b.u8 () % 80) - 1,
                  "top", gint (b.u8 () % 80) - 1, "bottom", gint (b.u8 () % 80) - 1, "mode",
                  gint (b.u8 () % 3), nullptr);
  } else {
    g_object_set (h->element, "sync", FALSE, nullptr);
  }
  /* the caps as a filter: caps negotiation with whatever structure they have */
  GstCaps *answer = gst_pad_peer_query_caps (h->srcpad, caps);
  if (answer)
    gst_caps_unref (answer);

  GstCaps *fixed = nullptr;
  if (caps && !gst_caps_is_empty (caps) && !gst_caps_is_any (caps))
    fixed = gst_caps_fixate (gst_caps_copy (caps));
  if (fixed && gst_caps_is_fixed (fixed)) {
    (void) gst_pad_peer_query_accept_caps (h->srcpad, fixed);
    GstQuery *q = gst_query_new_allocation (fixed, TRUE);
    if (gst_pad_peer_query (h->srcpad, q)) {
      for (guint i = 0; i < gst_query_get_n_allocation_pools (q); i++) {
        GstBufferPool *pool = nullptr;
        gst_query_parse_nth_allocation_pool (q, i, &pool, nullptr, nullptr, nullptr);
        if (pool)
          gst_object_unref (pool);
      }
    }
    gst_query_unref (q);
    gst_harness_set_src_caps (h, gst_caps_ref (fixed));
    gsize size = 64;
    GstVideoInfo info;
    if (gst_video_info_from_caps (&info, fixed) && info.size > 0 && info.size <= (8u << 20))
      size = info.size;
    GstBuffer *buf = gst_buffer_new_allocate (nullptr, size, nullptr);
    GST_BUFFER_PTS (buf) = 0;
    gst_harness_push (h, buf); /* refusing it is fine */
    while (GstBuffer *out = gst_harness_try_pull (h))
      gst_buffer_unref (out);
  }
  if (fixed)
    gst_caps_unref (fixed);
  gst_harness_teardown (h);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

extern "C" int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  gst_init (nullptr, nullptr);
  g_log_set_default_handler (log_handler, nullptr);
  GST_ELEMENT_REGISTER (dmakitcrop, nullptr);
  GST_ELEMENT_REGISTER (dmakitsink, nullptr);
  g_dmakit = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, nullptr);
  REQUIRE (g_dmakit != nullptr, "no dmakit allocator");
  g_fd = gst_fd_allocator_new ();
  /* Warm up the lazily created state of the paths the inputs take. */
  static const char warm[][64] = {
    "video/x-raw,format=NV12,width=64,height=48\n\x00\x01\x10\x00\x00\x00\x02\x04\x01\x07",
    "video/x-raw,format=I420,width=16,height=16\n\x01\x00\x02\x02\x02\x02\x01",
    "video/x-raw,format=I420,width=16,height=16\n\x01\x01",
    "audio/x-raw,format=S16LE,rate=8000,channels=1\n\x00\x01\x10\x00\x00\x00\x02\x04",
  };
  for (const char *w : warm)
    LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (w), strlen (w) + 12);
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = reinterpret_cast<const char *> (data);
  const char *nl = static_cast<const char *> (memchr (text, '\n', size));
  const size_t caps_len = nl ? size_t (nl - text) : size;
  const std::string caps_str (text, std::min<size_t> (caps_len, 2048));
  g_in_caps_parser = true;
  GstCaps *caps = gst_caps_from_string (caps_str.c_str ());
  g_in_caps_parser = false;
  Bytes b{ data + caps_len + (nl ? 1 : 0), size - caps_len - (nl ? 1 : 0) };
  const uint8_t mode = b.u8 ();
  if (mode & 1)
    fuzz_element (caps, b);
  else
    fuzz_pool (caps, b);
  if (caps)
    gst_caps_unref (caps);
  return 0;
}
