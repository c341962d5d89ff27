/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of GstDmakitBufferPool: config contract, preallocation, blocking,
 * timeouts, flushing, deactivation, generations, refill, discards, video
 * layout, memory locking and stats. Malloc counting lives in
 * bufferpool-nomalloc.cpp, the multi-threaded stress in bufferpool-stress.cpp,
 * DRM dumb buffers in bufferpool-drm.cpp. */
#include "bufferpool-helpers.h"

#include <gst/dmakit/dmakit-raii.h>
#include <gst/allocators/allocators.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <linux/capability.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace dmakit;

/* ASan/TSan intercept mlock()/munlock() as no-ops (their shadow memory would
 * make real locking absurd): the lock-memory tests cannot observe anything. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DMAKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DMAKIT_SANITIZED 1
#endif
#endif
#ifdef DMAKIT_SANITIZED
#define SKIP_UNDER_SANITIZER(what)                                                          \
  do {                                                                                      \
    g_print ("%s: skipped: mlock() is a no-op under sanitizers\n", what);                   \
    return;                                                                                 \
  } while (0)
#else
#define SKIP_UNDER_SANITIZER(what) \
  do {                             \
  } while (0)
#endif

static GstCaps *
nv12_caps (int w, int h)
{
  return gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "NV12", "width", G_TYPE_INT,
                              w, "height", G_TYPE_INT, h, "framerate", GST_TYPE_FRACTION, 30, 1,
                              nullptr);
}

static guint
video_size (GstCaps *caps)
{
  GstVideoInfo info;
  fail_unless (gst_video_info_from_caps (&info, caps));
  return guint (info.size);
}

/* A pool configured with @caps/@size/@min/@max (allocator: @alloc, NULL = the
 * pool's default), after @extra edited the config. Asserts set_config works. */
static GstBufferPool *
configured_pool (GstCaps *caps, guint size, guint min, guint max, GstAllocator *alloc,
                 const std::function<void (GstStructure *)> &extra = {})
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  if (alloc)
    gst_buffer_pool_config_set_allocator (config, alloc, nullptr);
  if (extra)
    extra (config);
  fail_unless (gst_buffer_pool_set_config (pool, config), "set_config refused");
  return pool;
}

static GstBuffer *
acquire (GstBufferPool *pool)
{
  GstBuffer *buf = nullptr;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, nullptr), GST_FLOW_OK);
  fail_unless (buf != nullptr);
  return buf;
}

static GstFlowReturn
try_acquire (GstBufferPool *pool, GstBuffer **buf, bool dontwait)
{
  GstBufferPoolAcquireParams params = {};
  params.flags = dontwait ? GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT : GST_BUFFER_POOL_ACQUIRE_FLAG_NONE;
  return gst_buffer_pool_acquire_buffer (pool, buf, &params);
}

/* ---- config ------------------------------------------------------------------------ */

GST_START_TEST (test_config_helpers)
{
  GstStructure *config = gst_structure_new_empty ("GstBufferPoolConfig");
  guint wm = 0;
  gboolean b = FALSE;
  GstClockTime t = 0;
  GstDmakitTimeoutAction a = GST_DMAKIT_TIMEOUT_ACTION_WARN;
  fail_if (gst_dmakit_buffer_pool_config_get_low_watermark (config, &wm));
  fail_if (gst_dmakit_buffer_pool_config_get_refill (config, &b));
  fail_if (gst_dmakit_buffer_pool_config_get_lock_memory (config, &b));
  fail_if (gst_dmakit_buffer_pool_config_get_acquire_timeout (config, &t));
  fail_if (gst_dmakit_buffer_pool_config_get_timeout_action (config, &a));

  gst_dmakit_buffer_pool_config_set_low_watermark (config, 5);
  gst_dmakit_buffer_pool_config_set_refill (config, FALSE);
  gst_dmakit_buffer_pool_config_set_lock_memory (config, TRUE);
  gst_dmakit_buffer_pool_config_set_acquire_timeout (config, 20 * GST_MSECOND);
  gst_dmakit_buffer_pool_config_set_timeout_action (config, GST_DMAKIT_TIMEOUT_ACTION_FAIL);

  fail_unless (gst_dmakit_buffer_pool_config_get_low_watermark (config, &wm));
  fail_unless_equals_int (wm, 5);
  b = TRUE;
  fail_unless (gst_dmakit_buffer_pool_config_get_refill (config, &b));
  fail_unless (!b);
  fail_unless (gst_dmakit_buffer_pool_config_get_lock_memory (config, &b));
  fail_unless (b);
  fail_unless (gst_dmakit_buffer_pool_config_get_acquire_timeout (config, &t));
  fail_unless_equals_uint64 (t, 20 * GST_MSECOND);
  fail_unless (gst_dmakit_buffer_pool_config_get_timeout_action (config, &a));
  fail_unless_equals_int (a, GST_DMAKIT_TIMEOUT_ACTION_FAIL);
  /* the keys are plain fields of the config structure, in GStreamer's style */
  fail_unless (gst_structure_has_field_typed (config, "dmakit-low-watermark", G_TYPE_UINT));
  fail_unless (gst_structure_has_field_typed (config, "dmakit-acquire-timeout", G_TYPE_UINT64));
  fail_unless (gst_structure_has_field_typed (config, "dmakit-timeout-action",
                                              GST_DMAKIT_TYPE_TIMEOUT_ACTION));
  /* out arguments are optional */
  fail_unless (gst_dmakit_buffer_pool_config_get_low_watermark (config, nullptr));
  gst_structure_free (config);

  GEnumClass *k = G_ENUM_CLASS (g_type_class_ref (GST_DMAKIT_TYPE_TIMEOUT_ACTION));
  fail_unless_equals_string (g_enum_get_value (k, GST_DMAKIT_TIMEOUT_ACTION_FAIL)->value_nick, "fail");
  fail_unless_equals_string (g_enum_get_value (k, GST_DMAKIT_TIMEOUT_ACTION_WARN)->value_nick,
                             "warn");
  /* gst-inspect shows value_name as the description: words, not the C name */
  for (guint i = 0; i < k->n_values; i++) {
    fail_if (g_str_has_prefix (k->values[i].value_name, "GST_"),
             "value_name %s is the C identifier", k->values[i].value_name);
    fail_unless (strchr (k->values[i].value_name, ' ') != nullptr,
                 "value_name '%s' is no description", k->values[i].value_name);
  }
  g_type_class_unref (k);
}
GST_END_TEST;

GST_START_TEST (test_options)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  fail_unless (GST_DMAKIT_IS_BUFFER_POOL (pool));
  fail_unless (gst_buffer_pool_has_option (pool, GST_BUFFER_POOL_OPTION_VIDEO_META));
  fail_unless (gst_buffer_pool_has_option (pool, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT));
  /* never configured: cannot be activated */
  fail_if (gst_buffer_pool_set_active (pool, TRUE));
  gst_object_unref (pool);
}
GST_END_TEST;

/* set_config with @config must fail; returns the pool's proposal. */
static GstStructure *
expect_rejected (GstBufferPool *pool, GstStructure *config)
{
  fail_if (gst_buffer_pool_set_config (pool, config), "invalid config accepted");
  return gst_buffer_pool_get_config (pool);
}

GST_START_TEST (test_config_min_above_max)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 4096, 0, 0);
  /* gst_buffer_pool_config_set_params() refuses min > max, so write the fields */
  gst_structure_set (config, "min-buffers", G_TYPE_UINT, 6u, "max-buffers", G_TYPE_UINT, 3u, nullptr);
  GstStructure *proposal = expect_rejected (pool, config);
  guint size, min, max;
  fail_unless (gst_buffer_pool_config_get_params (proposal, nullptr, &size, &min, &max));
  fail_unless_equals_int (size, 4096);
  fail_unless_equals_int (min, 6);
  fail_unless_equals_int (max, 6);
  fail_unless (gst_buffer_pool_set_config (pool, proposal), "the proposal must be accepted");
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 6);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_config_size_zero)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  /* video caps: the proposal carries the frame size */
  GstCaps *caps = nv12_caps (320, 240);
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 0, 2, 4);
  GstStructure *proposal = expect_rejected (pool, config);
  guint size = 0;
  fail_unless (gst_buffer_pool_config_get_params (proposal, nullptr, &size, nullptr, nullptr));
  fail_unless_equals_int (size, video_size (caps));
  fail_unless (gst_buffer_pool_set_config (pool, proposal));

  /* not video: nothing to infer, still rejected */
  GstCaps *bytes = gst_caps_new_empty_simple ("application/octet-stream");
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, bytes, 0, 2, 4);
  proposal = expect_rejected (pool, config);
  fail_unless (gst_buffer_pool_config_get_params (proposal, nullptr, &size, nullptr, nullptr));
  fail_unless_equals_int (size, 0);
  gst_structure_free (proposal);

  /* no caps at all */
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 0, 2, 4);
  gst_structure_free (expect_rejected (pool, config));
  gst_caps_unref (bytes);
  gst_caps_unref (caps);
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_config_video_size_too_small)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstCaps *caps = nv12_caps (640, 480);
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 1000, 1, 2);
  GstStructure *proposal = expect_rejected (pool, config);
  guint size = 0;
  fail_unless (gst_buffer_pool_config_get_params (proposal, nullptr, &size, nullptr, nullptr));
  fail_unless_equals_int (size, 640 * 480 * 3 / 2);
  fail_unless (gst_buffer_pool_set_config (pool, proposal));
  /* a bigger size than needed is kept */
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 640 * 480 * 2, 1, 2);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  config = gst_buffer_pool_get_config (pool);
  fail_unless (gst_buffer_pool_config_get_params (config, nullptr, &size, nullptr, nullptr));
  fail_unless_equals_int (size, 640 * 480 * 2);
  gst_structure_free (config);
  gst_caps_unref (caps);
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_config_bad_caps)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();

  /* raw video without a size: fixed, but not parsable as video */
  GstCaps *caps = gst_caps_from_string ("video/x-raw, format=NV12");
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 4096, 1, 2);
  gst_structure_free (expect_rejected (pool, config));
  gst_caps_unref (caps);

  /* caps that are not fixed: the proposal fixates them */
  caps = gst_caps_from_string ("video/x-raw, format={NV12,I420}, width=64, height=[16,32], "
                               "framerate=30/1");
  config = gst_buffer_pool_get_config (pool);
  gst_structure_set (config, "caps", GST_TYPE_CAPS, caps, "size", G_TYPE_UINT, 64 * 32 * 2,
                     "min-buffers", G_TYPE_UINT, 1u, "max-buffers", G_TYPE_UINT, 2u, nullptr);
  GstStructure *proposal = expect_rejected (pool, config);
  GstCaps *proposed = nullptr;
  fail_unless (gst_buffer_pool_config_get_params (proposal, &proposed, nullptr, nullptr, nullptr));
  fail_unless (proposed && gst_caps_is_fixed (proposed));
  fail_unless (gst_caps_is_subset (proposed, caps));
  fail_unless (gst_buffer_pool_set_config (pool, proposal), "fixated proposal must be accepted");
  gst_caps_unref (caps);

  /* ANY and EMPTY caps cannot be fixated: rejected without a critical (found by
   * the caps fuzzer), and the proposal carries no caps, which is accepted */
  for (const char *text : { "ANY", "EMPTY" }) {
    caps = gst_caps_from_string (text);
    config = gst_buffer_pool_get_config (pool);
    gst_structure_set (config, "caps", GST_TYPE_CAPS, caps, "size", G_TYPE_UINT, 4096u,
                       "min-buffers", G_TYPE_UINT, 1u, "max-buffers", G_TYPE_UINT, 2u, nullptr);
    proposal = expect_rejected (pool, config);
    proposed = (GstCaps *) 0x1;
    fail_unless (gst_buffer_pool_config_get_params (proposal, &proposed, nullptr, nullptr, nullptr));
    fail_unless (proposed == nullptr, "%s caps: the proposal must carry no caps", text);
    fail_unless (gst_buffer_pool_set_config (pool, proposal), "%s caps: proposal refused", text);
    gst_caps_unref (caps);
  }

  /* VideoMeta with audio caps: the proposal drops the video options */
  caps = gst_caps_from_string ("audio/x-raw, format=S16LE, rate=48000, channels=2, layout=interleaved");
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 1920, 1, 2);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
  proposal = expect_rejected (pool, config);
  fail_if (gst_buffer_pool_config_has_option (proposal, GST_BUFFER_POOL_OPTION_VIDEO_META));
  fail_if (gst_buffer_pool_config_has_option (proposal, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT));
  fail_unless (gst_buffer_pool_set_config (pool, proposal));
  gst_caps_unref (caps);
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_config_watermark_and_action)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 512, 1, 4);
  gst_dmakit_buffer_pool_config_set_low_watermark (config, 9);
  GstStructure *proposal = expect_rejected (pool, config);
  guint wm = 0;
  fail_unless (gst_dmakit_buffer_pool_config_get_low_watermark (proposal, &wm));
  fail_unless_equals_int (wm, 4);
  fail_unless (gst_buffer_pool_set_config (pool, proposal));

  /* an out-of-range action value written as a raw enum */
  config = gst_buffer_pool_get_config (pool);
  gst_structure_set (config, "dmakit-timeout-action", GST_DMAKIT_TYPE_TIMEOUT_ACTION, 7, nullptr);
  proposal = expect_rejected (pool, config);
  GstDmakitTimeoutAction action = GST_DMAKIT_TIMEOUT_ACTION_FAIL;
  fail_unless (gst_dmakit_buffer_pool_config_get_timeout_action (proposal, &action));
  fail_unless_equals_int (action, GST_DMAKIT_TIMEOUT_ACTION_WARN);
  gst_structure_free (proposal);
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_config_allocator_cannot_alloc)
{
  /* GstFdAllocator only wraps fds (CUSTOM_ALLOC): the pool cannot use it */
  GstAllocator *fd = gst_fd_allocator_new ();
  fail_unless (GST_OBJECT_FLAG_IS_SET (fd, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC));
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 512, 1, 4);
  gst_buffer_pool_config_set_allocator (config, fd, nullptr);
  GstStructure *proposal = expect_rejected (pool, config);
  GstAllocator *proposed = fd;
  fail_unless (gst_buffer_pool_config_get_allocator (proposal, &proposed, nullptr));
  fail_unless (proposed == nullptr, "proposal must fall back to the pool's allocator");
  fail_unless (gst_buffer_pool_set_config (pool, proposal));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *buf = acquire (pool);
  fail_unless_equals_int (gst_buffer_get_size (buf), 512);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (fd);
}
GST_END_TEST;

/* ---- activation ---------------------------------------------------------------- */

/* Resident set size of this process, in bytes. */
static gsize
rss_bytes ()
{
  FILE *f = fopen ("/proc/self/statm", "r");
  fail_unless (f != nullptr);
  unsigned long pages = 0, resident = 0;
  fail_unless_equals_int (fscanf (f, "%lu %lu", &pages, &resident), 2);
  fclose (f);
  return gsize (resident) * gsize (sysconf (_SC_PAGESIZE));
}

GST_START_TEST (test_config_huge_max_costs_what_is_allocated)
{
  /* a large max-buffers is accepted and costs the buffers actually made */
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  for (guint max : { 10000000u, G_MAXUINT }) {
    const gsize before = rss_bytes ();
    GstBufferPool *pool = configured_pool (nullptr, 64, 0, max, sysmem);
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    GstBuffer *b[64];
    for (GstBuffer *&x : b)
      x = acquire (pool);
    for (GstBuffer *x : b)
      gst_buffer_unref (x);
    const gsize grown = rss_bytes () - std::min (before, rss_bytes ());
    fail_unless (grown < 32u << 20, "max-buffers %u cost %zu bytes of RSS for 64 buffers", max,
                 grown);
    fail_unless_equals_uint64 (stat_u64 (pool, "allocated") >= 64, TRUE);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
  }
  gst_object_unref (sysmem);
}
GST_END_TEST;

GST_START_TEST (test_config_huge_min_refused_with_proposal)
{
  /* more min-buffers than the pool can keep free: refused, the most it can
   * keep proposed (GStreamer's contract for a FALSE set_config) */
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  const guint cases[][2] = { { G_MAXUINT, 0 }, { G_MAXUINT, G_MAXUINT }, { 100000, 0 } };
  for (const auto &c : cases) {
    GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
    GstStructure *config = gst_buffer_pool_get_config (pool);
    gst_buffer_pool_config_set_params (config, nullptr, 64, c[0], c[1]);
    gst_buffer_pool_config_set_allocator (config, sysmem, nullptr);
    fail_if (gst_buffer_pool_set_config (pool, config), "min %u max %u accepted", c[0], c[1]);
    config = gst_buffer_pool_get_config (pool);
    guint size = 0, min = 0, max = 0;
    fail_unless (gst_buffer_pool_config_get_params (config, nullptr, &size, &min, &max));
    fail_unless_equals_int (size, 64);
    fail_unless_equals_int (min, 32767);
    fail_unless_equals_int (max, c[1]);
    fail_unless (gst_buffer_pool_set_config (pool, config), "the proposal must be accepted");
    gst_object_unref (pool);
  }
  /* the proposal activates: 32767 buffers preallocated */
  GstBufferPool *pool = configured_pool (nullptr, 64, 32767, 0, sysmem, [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_refill (c, FALSE);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "free"), 32767);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (sysmem);
}
GST_END_TEST;

GST_START_TEST (test_config_alignment_not_mask)
{
  /* an alignment that is not 2^n - 1 would hit gst_allocator_alloc()'s
   * assertion on activation: refused, the nearest mask proposed */
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  const gsize cases[][2]
      = { { 5, 7 }, { 6, 7 }, { 100, 127 }, { gsize (1) << 40, (gsize (1) << 40) - 1 } };
  for (const auto &c : cases) {
    GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
    GstStructure *config = gst_buffer_pool_get_config (pool);
    gst_buffer_pool_config_set_params (config, nullptr, 1000, 1, 2);
    GstAllocationParams params;
    gst_allocation_params_init (&params);
    params.align = c[0];
    gst_buffer_pool_config_set_allocator (config, sysmem, &params);
    fail_if (gst_buffer_pool_set_config (pool, config), "alignment %zu accepted", c[0]);
    config = gst_buffer_pool_get_config (pool);
    GstAllocator *proposed = nullptr;
    fail_unless (gst_buffer_pool_config_get_allocator (config, &proposed, &params));
    fail_unless (proposed == sysmem);
    fail_unless_equals_uint64 (params.align, c[1]);
    fail_unless (gst_buffer_pool_set_config (pool, config), "the proposal must be accepted");
    if (c[1] < 4096) {
      fail_unless (gst_buffer_pool_set_active (pool, TRUE));
      GstBuffer *buf = acquire (pool);
      GstMapInfo map;
      fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
      fail_unless_equals_uint64 (reinterpret_cast<uintptr_t> (map.data) & c[1], 0);
      gst_buffer_unmap (buf, &map);
      gst_buffer_unref (buf);
      fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    }
    gst_object_unref (pool);
  }

  /* a stride alignment of the video alignment option, likewise */
  GstCaps *caps = nv12_caps (64, 48);
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, video_size (caps), 1, 2);
  gst_buffer_pool_config_set_allocator (config, sysmem, nullptr);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
  GstVideoAlignment align;
  gst_video_alignment_reset (&align);
  align.stride_align[0] = 6;
  gst_buffer_pool_config_set_video_alignment (config, &align);
  fail_if (gst_buffer_pool_set_config (pool, config), "stride alignment 6 accepted");
  config = gst_buffer_pool_get_config (pool);
  fail_unless (gst_buffer_pool_config_get_video_alignment (config, &align));
  fail_unless_equals_int (align.stride_align[0], 7);
  fail_unless (gst_buffer_pool_set_config (pool, config), "the proposal must be accepted");
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *buf = acquire (pool);
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  fail_unless (meta != nullptr);
  fail_unless_equals_int (meta->stride[0] % 8, 0);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
  gst_object_unref (sysmem);
}
GST_END_TEST;

/* In a child process: the file limit just above what is open, a pool of 64
 * memfd buffers owned by a bin in a pipeline; activation must fail and post
 * an error naming pool, size, count and errno. Returns 0 on success. */
static int
activation_failure_child ()
{
  dmakit::GErrorPtr gerr;
  GstAllocator *memfd = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, gerr.out ());
  if (!memfd) {
    g_printerr ("no memfd allocator: %s\n", gerr ? gerr->message : "?");
    return 2;
  }
  GstElement *pipeline = gst_pipeline_new ("pipeline");
  GstElement *owner = gst_bin_new ("pool-owner");
  gst_bin_add (GST_BIN (pipeline), owner);
  GstBus *bus = gst_element_get_bus (pipeline);

  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  gst_object_set_name (GST_OBJECT (pool), "frames-pool");
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 4096, 64, 64);
  gst_buffer_pool_config_set_allocator (config, memfd, nullptr);
  if (!gst_buffer_pool_set_config (pool, config))
    return 3;
  gst_dmakit_buffer_pool_set_element (pool, owner);

  guint open_fds = 0;
  DIR *d = opendir ("/proc/self/fd");
  while (struct dirent *e = readdir (d))
    open_fds += e->d_name[0] != '.';
  closedir (d);
  struct rlimit rl;
  getrlimit (RLIMIT_NOFILE, &rl);
  rl.rlim_cur = open_fds + 8;
  if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 4;

  if (gst_buffer_pool_set_active (pool, TRUE)) {
    g_printerr ("activation succeeded under RLIMIT_NOFILE %u\n", open_fds + 8);
    return 5;
  }
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (!msg) {
    g_printerr ("no error message on the bus\n");
    return 6;
  }
  GError *err = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error (msg, &err, &debug);
  int rc = 0;
  const gchar *strerr = g_strerror (EMFILE);
  if (GST_MESSAGE_SRC (msg) != GST_OBJECT (owner) || err->domain != GST_RESOURCE_ERROR
      || !strstr (err->message, "frames-pool") || !strstr (err->message, "64 buffers")
      || !strstr (err->message, "4096 bytes") || !strstr (err->message, strerr) || !debug
      || !strstr (debug, "frames-pool") || !strstr (debug, "errno 24")) {
    g_printerr ("wrong error from %s: %s (%s)\n", GST_MESSAGE_SRC_NAME (msg), err->message,
                debug ? debug : "no debug");
    rc = 7;
  }
  g_error_free (err);
  g_free (debug);
  gst_message_unref (msg);
  gst_object_unref (pool);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  gst_object_unref (memfd);
  return rc;
}

GST_START_TEST (test_activation_failure_posts_error)
{
  const pid_t pid = fork ();
  fail_if (pid < 0);
  if (pid == 0)
    _exit (activation_failure_child ());
  int status = 0;
  fail_unless_equals_int (waitpid (pid, &status, 0), pid);
  fail_unless (WIFEXITED (status), "child died (status %d)", status);
  fail_unless_equals_int (WEXITSTATUS (status), 0);
}
GST_END_TEST;

GST_START_TEST (test_preallocation_default_allocator)
{
  /* no allocator in the config: the pool uses a dmakit allocator (AUTO) */
  GstCaps *caps = nv12_caps (320, 240);
  GstBufferPool *pool = configured_pool (caps, video_size (caps), 3, 6, nullptr);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 0);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 3);
  fail_unless_equals_uint64 (stat_u64 (pool, "free"), 3);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocations"), 3);
  fail_unless (stat_u64 (pool, "bytes-held") >= 3ull * video_size (caps));
  GstBuffer *buf = acquire (pool);
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  fail_unless (gst_is_dmakit_memory (mem), "default allocator must be a dmakit one");
  fail_unless_equals_int (gst_buffer_get_size (buf), video_size (caps));
  {
    MappedBuffer m (buf, GST_MAP_WRITE);
    fail_unless (bool (m));
    memset (m.data (), 0x5a, m.size ());
  }
  gst_buffer_unref (buf);
  /* nothing else got allocated: the watermark (1) is below min */
  g_usleep (20000);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 3);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 0);
  fail_unless_equals_uint64 (stat_u64 (pool, "bytes-held"), 0);
  gst_object_unref (pool);
  gst_caps_unref (caps);
}
GST_END_TEST;

GST_START_TEST (test_preallocation_failure)
{
  CountingAllocator *alloc = counting_allocator_new ();
  alloc->fail_after = 2; /* the third allocation is refused */
  LogCapture cap;
  log_capture_start (&cap);
  GstBufferPool *pool = configured_pool (nullptr, 70000, 4, 8, GST_ALLOCATOR (alloc));
  fail_if (gst_buffer_pool_set_active (pool, TRUE), "activation must fail");
  log_capture_stop (&cap);
  fail_if (gst_buffer_pool_is_active (pool));
  /* what was allocated before the failure is freed, nothing stays */
  fail_unless_equals_int64 (alloc->live.load (), 0);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 0);
  /* the error names the backend (memory type), the size and the count */
  std::string line = log_capture_find (&cap, { "ERROR", "CountingMemory", "70000 bytes", "4 buffers",
                                               "buffer 3 of 4" });
  fail_if (line.empty (), "no GST_ERROR naming backend, size and count");
  /* acquiring from the failed pool is a clean error, not a hang */
  GstBuffer *buf = nullptr;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, nullptr), GST_FLOW_FLUSHING);
  /* with memory again it activates */
  alloc->fail_after = -1;
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 4);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- exhaustion: blocking, DONTWAIT, timeouts, flushing -------------------------- */

struct Acquirer {
  GstBufferPool *pool;
  GstFlowReturn ret = GST_FLOW_CUSTOM_ERROR;
  GstBuffer *buf = nullptr;
  std::atomic<bool> done{ false };
  gint64 elapsed_us = 0;
  std::thread thread;

  explicit Acquirer (GstBufferPool *p) : pool (p)
  {
    thread = std::thread ([this] {
      const gint64 t0 = g_get_monotonic_time ();
      ret = gst_buffer_pool_acquire_buffer (pool, &buf, nullptr);
      elapsed_us = g_get_monotonic_time () - t0;
      done = true;
    });
  }
  void join () { thread.join (); }
};

GST_START_TEST (test_blocking_acquire_woken_by_release)
{
  GstBufferPool *pool = configured_pool (nullptr, 1024, 2, 2, nullptr);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *a = acquire (pool), *b = acquire (pool);
  Acquirer waiter (pool);
  fail_unless (wait_for ([&] { return stat_u64 (pool, "waits") == 1; }));
  g_usleep (30000);
  fail_if (waiter.done.load (), "acquire must block while the pool is exhausted");
  fail_unless_equals_uint64 (stat_u64 (pool, "exhausted"), 1);
  /* a release from another thread wakes it with that very buffer */
  std::thread ([a] { gst_buffer_unref (a); }).join ();
  waiter.join ();
  fail_unless_equals_int (waiter.ret, GST_FLOW_OK);
  fail_unless (waiter.buf == a);
  fail_unless (waiter.elapsed_us >= 25000);
  fail_unless (stat_u64 (pool, "wait-total-ns") >= 25000000ull);
  fail_unless (stat_u64 (pool, "wait-max-ns") >= 25000000ull);
  fail_unless_equals_uint64 (stat_u64 (pool, "max-outstanding"), 2);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 2);
  gst_buffer_unref (waiter.buf);
  gst_buffer_unref (b);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_dontwait_eos)
{
  for (gboolean refill : { gboolean (TRUE), gboolean (FALSE) }) {
    GstBufferPool *pool = configured_pool (nullptr, 256, 1, 2, nullptr, [refill] (GstStructure *c) {
      gst_dmakit_buffer_pool_config_set_refill (c, refill);
    });
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    GstBuffer *a = acquire (pool);
    GstBuffer *b = nullptr;
    if (refill) {
      /* the refill thread (watermark 1) provides the second one */
      fail_unless (wait_for ([&] { return stat_u64 (pool, "free") == 1; }));
      fail_unless_equals_int (try_acquire (pool, &b, true), GST_FLOW_OK);
    } else {
      /* refill off: allocated on this thread, like the stock pool */
      fail_unless_equals_int (try_acquire (pool, &b, true), GST_FLOW_OK);
    }
    GstBuffer *c = nullptr;
    /* DONTWAIT does not wait: the pool's own "waits" counter stays 0 (a
     * clock bound would fail on a slow machine) */
    fail_unless_equals_int (try_acquire (pool, &c, true), GST_FLOW_EOS);
    fail_unless (c == nullptr);
    fail_unless_equals_uint64 (stat_u64 (pool, "exhausted"), 1);
    fail_unless_equals_uint64 (stat_u64 (pool, "waits"), 0);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
  }
}
GST_END_TEST;

GST_START_TEST (test_timeout_warns_on_bus_and_keeps_waiting)
{
  GstElement *pipeline = gst_pipeline_new ("owner");
  GstBus *bus = gst_element_get_bus (pipeline);
  GstBufferPool *pool = configured_pool (nullptr, 4096, 1, 1, nullptr, [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_acquire_timeout (c, 40 * GST_MSECOND);
    gst_dmakit_buffer_pool_config_set_timeout_action (c, GST_DMAKIT_TIMEOUT_ACTION_WARN);
  });
  gst_object_set_name (GST_OBJECT (pool), "testpool");
  gst_dmakit_buffer_pool_set_element (pool, pipeline);
  GstElement *owner = gst_dmakit_buffer_pool_get_element (pool);
  fail_unless (owner == pipeline);
  gst_object_unref (owner);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  LogCapture cap;
  log_capture_start (&cap);

  GstBuffer *held = acquire (pool);
  Acquirer waiter (pool);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 5 * GST_SECOND, GST_MESSAGE_WARNING);
  fail_unless (msg != nullptr, "no warning on the bus");
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (pipeline));
  GError *err = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_warning (msg, &err, &debug);
  fail_unless (strstr (err->message, "testpool") != nullptr, "%s", err->message);
  fail_unless (strstr (debug, "1 buffers of 4096 bytes out") != nullptr, "%s", debug);
  fail_unless (strstr (debug, "waited") != nullptr);
  const GstStructure *details = nullptr;
  gst_message_parse_warning_details (msg, &details);
  fail_unless (details && gst_structure_has_name (details, GST_DMAKIT_BUFFER_POOL_TIMEOUT_DETAILS));
  fail_unless_equals_string (gst_structure_get_string (details, "pool-name"), "testpool");
  guint size = 0, out = 0;
  guint64 waited = 0;
  fail_unless (gst_structure_get_uint (details, "size", &size));
  fail_unless (gst_structure_get_uint (details, "outstanding", &out));
  fail_unless (gst_structure_get_uint64 (details, "waited-ns", &waited));
  fail_unless_equals_int (size, 4096);
  fail_unless_equals_int (out, 1);
  fail_unless (waited >= 40 * GST_MSECOND, "waited %" G_GUINT64_FORMAT, waited);
  g_error_free (err);
  g_free (debug);
  gst_message_unref (msg);

  /* action warn: still waiting; it warns again every timeout */
  msg = gst_bus_timed_pop_filtered (bus, 5 * GST_SECOND, GST_MESSAGE_WARNING);
  fail_unless (msg != nullptr, "second warning expected while still waiting");
  gst_message_unref (msg);
  fail_if (waiter.done.load ());
  gst_buffer_unref (held);
  waiter.join ();
  fail_unless_equals_int (waiter.ret, GST_FLOW_OK);
  fail_unless (stat_u64 (pool, "timeouts") >= 2);
  gst_buffer_unref (waiter.buf);
  log_capture_stop (&cap);
  fail_unless (!log_capture_find (&cap, { "WARN", "testpool", "exhausted", "4096 bytes" }).empty ());
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  /* drop any further warnings still queued: they hold refs on the pipeline */
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}
GST_END_TEST;

GST_START_TEST (test_timeout_fail)
{
  GstBufferPool *pool = configured_pool (nullptr, 100, 1, 1, nullptr, [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_acquire_timeout (c, 30 * GST_MSECOND);
    gst_dmakit_buffer_pool_config_set_timeout_action (c, GST_DMAKIT_TIMEOUT_ACTION_FAIL);
  });
  gst_object_set_name (GST_OBJECT (pool), "failpool");
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  LogCapture cap;
  log_capture_start (&cap);
  GstBuffer *held = acquire (pool);
  GstBuffer *buf = nullptr;
  const gint64 t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, nullptr), GST_FLOW_ERROR);
  const gint64 took = g_get_monotonic_time () - t0;
  /* waited its 30 ms (the upper bound only catches a hang: a loaded or
   * emulated machine may take far longer to wake the thread) */
  fail_unless (took >= 29000 && took < 30 * G_USEC_PER_SEC, "took %" G_GINT64_FORMAT " us", took);
  log_capture_stop (&cap);
  /* no element: no bus, but the log names the pool and the numbers */
  fail_if (log_capture_find (&cap, { "WARN", "failpool", "1 buffers of 100 bytes out",
                                     "failing the acquire" })
               .empty ());
  fail_unless_equals_uint64 (stat_u64 (pool, "timeouts"), 1);
  gst_buffer_unref (held);
  /* the pool is fine afterwards */
  buf = acquire (pool);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

static void
check_all_woken (bool deactivate)
{
  GstBufferPool *pool = configured_pool (nullptr, 64, 1, 1, nullptr);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *held = acquire (pool);
  std::vector<std::unique_ptr<Acquirer>> waiters;
  for (int i = 0; i < 4; i++)
    waiters.emplace_back (new Acquirer (pool));
  fail_unless (wait_for ([&] { return stat_u64 (pool, "waits") == 4; }));
  g_usleep (10000);
  const gint64 t0 = g_get_monotonic_time ();
  if (deactivate)
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  else
    gst_buffer_pool_set_flushing (pool, TRUE);
  for (auto &w : waiters) {
    w->join ();
    fail_unless_equals_int (w->ret, GST_FLOW_FLUSHING);
    fail_unless (w->buf == nullptr);
  }
  /* the acquirers have no timeout: that every join returned with FLUSHING
   * is the proof that flushing (or deactivating) woke them; the clock bound
   * only catches a wake-up that came from somewhere else much later */
  fail_unless (g_get_monotonic_time () - t0 < 30 * G_USEC_PER_SEC, "waiters were not woken");
  if (!deactivate) {
    gst_buffer_pool_set_flushing (pool, FALSE);
    gst_buffer_unref (held);
    GstBuffer *again = acquire (pool);
    gst_buffer_unref (again);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  } else {
    gst_buffer_unref (held);
  }
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 0);
  gst_object_unref (pool);
}

GST_START_TEST (test_flush_wakes_every_waiter)
{
  check_all_woken (false);
}
GST_END_TEST;

GST_START_TEST (test_deactivate_wakes_every_waiter)
{
  check_all_woken (true);
}
GST_END_TEST;

/* ---- deactivation with buffers out -------------------------------------------------- */

static void
count_finalized (gpointer data, GstMiniObject *)
{
  static_cast<std::atomic<int> *> (data)->fetch_add (1);
}

static void
note_pool_gone (gpointer data, GObject *)
{
  *static_cast<std::atomic<bool> *> (data) = true;
}

GST_START_TEST (test_deactivate_with_buffers_out)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 2048, 4, 4, GST_ALLOCATOR (alloc));
  gst_object_set_name (GST_OBJECT (pool), "outpool");
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_int64 (alloc->live.load (), 4);
  std::vector<GstBuffer *> out;
  std::atomic<int> finalized{ 0 };
  for (int i = 0; i < 3; i++) {
    out.push_back (acquire (pool));
    gst_mini_object_weak_ref (GST_MINI_OBJECT (out.back ()), count_finalized, &finalized);
  }
  LogCapture cap;
  log_capture_start (&cap);
  gst_debug_set_threshold_for_name ("dmakitbufferpool", GST_LEVEL_INFO);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE), "deactivation with buffers out is fine");
  std::atomic<bool> pool_gone{ false };
  g_object_weak_ref (G_OBJECT (pool), note_pool_gone, &pool_gone);
  /* the owner lets go of the pool first: the buffers keep it alive */
  gst_object_unref (pool);
  fail_if (pool_gone.load ());

  /* each buffer is freed when it comes back, on the thread that returns it;
   * the idle one goes with the first return */
  std::thread ([&] { gst_buffer_unref (out[0]); }).join ();
  fail_unless_equals_int (finalized.load (), 1);
  fail_unless_equals_int64 (alloc->live.load (), 2);
  std::thread ([&] { gst_buffer_unref (out[1]); }).join ();
  fail_unless_equals_int (finalized.load (), 2);
  fail_unless_equals_int64 (alloc->live.load (), 1);
  fail_if (pool_gone.load ());
  std::thread ([&] { gst_buffer_unref (out[2]); }).join ();
  fail_unless_equals_int (finalized.load (), 3);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  fail_unless (pool_gone.load (), "the last buffer back drops the last pool ref");
  log_capture_stop (&cap);
  fail_unless (!log_capture_find (&cap, { "INFO", "deactivated with 2 buffers out" }).empty ());
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_reactivate_while_buffers_out)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 512, 2, 3, GST_ALLOCATOR (alloc));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *a = acquire (pool);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  /* config cannot change while a buffer is out (GstBufferPool contract) */
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 1024, 2, 3);
  fail_if (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  /* back in an active pool: reused */
  gst_buffer_unref (a);
  fail_unless (wait_for ([&] { return stat_u64 (pool, "allocated") >= 2; }));
  GstBuffer *b = acquire (pool);
  fail_unless_equals_int (gst_buffer_get_size (b), 512);
  gst_buffer_unref (b);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (pool);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- generations ------------------------------------------------------------------- */

GST_START_TEST (test_generation_change)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 1000, 2, 4, GST_ALLOCATOR (alloc));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  const guint64 gen1 = stat_u64 (pool, "generation");
  std::atomic<int> finalized{ 0 };
  GstBuffer *a = acquire (pool), *b = acquire (pool);
  gst_mini_object_weak_ref (GST_MINI_OBJECT (a), count_finalized, &finalized);
  gst_mini_object_weak_ref (GST_MINI_OBJECT (b), count_finalized, &finalized);

  /* active: a new config is refused and the old one stays */
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 3000, 2, 4);
  fail_if (gst_buffer_pool_set_config (pool, config));
  fail_unless_equals_uint64 (stat_u64 (pool, "generation"), gen1);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  fail_unless_equals_int (finalized.load (), 0); /* recycled */

  /* inactive: accepted; every buffer of the old config is freed */
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 3000, 2, 4);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless_equals_int (finalized.load (), 2);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  fail_unless (stat_u64 (pool, "generation") > gen1);

  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 2);
  for (int i = 0; i < 4; i++) {
    GstBuffer *n = acquire (pool);
    fail_unless_equals_int (gst_buffer_get_size (n), 3000);
    fail_unless_equals_int (gst_buffer_peek_memory (n, 0)->maxsize, 3000);
    gst_buffer_unref (n);
  }
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- refill -------------------------------------------------------------------------- */

GST_START_TEST (test_refill_keeps_watermark)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 4096, 1, 8, GST_ALLOCATOR (alloc), [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_low_watermark (c, 3);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  /* min 1 preallocated, then the refill thread brings it to 3 free */
  fail_unless (wait_for ([&] { return stat_u64 (pool, "free") == 3; }));
  counting_allocator_forget_threads (alloc);
  std::vector<GstBuffer *> out;
  for (int i = 0; i < 5; i++) {
    out.push_back (acquire (pool));
    fail_unless (wait_for ([&] { return stat_u64 (pool, "free") >= 3 || stat_u64 (pool, "allocated") == 8; }));
  }
  /* 5 out, 3 free: bounded by max 8 */
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 8);
  fail_unless_equals_uint64 (stat_u64 (pool, "free"), 3);
  fail_unless (stat_u64 (pool, "refills") >= 7);
  /* the acquiring thread never allocated */
  fail_if (counting_allocator_used_thread (alloc, g_thread_self ()));
  for (GstBuffer *b : out)
    gst_buffer_unref (b);
  fail_unless_equals_uint64 (stat_u64 (pool, "free"), 8);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_refill_off_allocates_on_caller)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 100, 0, 2, GST_ALLOCATOR (alloc), [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_refill (c, FALSE);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 0);
  GstBuffer *a = acquire (pool);
  fail_unless (counting_allocator_used_thread (alloc, g_thread_self ()));
  GstBuffer *b = acquire (pool);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 2);
  fail_unless_equals_uint64 (stat_u64 (pool, "refills"), 0);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- who allocates when the pool is empty below max ----------------------------- */

/* Turns a hang into a test failure: if not stopped within @ms, it sets the
 * pool flushing, which wakes every waiting acquirer (GST_FLOW_FLUSHING). */
class Watchdog
{
public:
  Watchdog (GstBufferPool *pool, guint ms) : pool_ (pool)
  {
    thread_ = std::thread ([this, ms] {
      std::unique_lock<std::mutex> lk (lock_);
      if (!cv_.wait_for (lk, std::chrono::milliseconds (ms), [this] { return stopped_; })) {
        fired_ = true;
        lk.unlock ();
        gst_buffer_pool_set_flushing (pool_, TRUE);
      }
    });
  }
  ~Watchdog () { stop (); }
  bool fired () const { return fired_.load (); }
  /* Returns whether it fired. */
  bool stop ()
  {
    if (thread_.joinable ()) {
      {
        std::lock_guard<std::mutex> lk (lock_);
        stopped_ = true;
      }
      cv_.notify_all ();
      thread_.join ();
    }
    return fired_.load ();
  }

private:
  GstBufferPool *pool_;
  std::mutex lock_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::atomic<bool> fired_{ false };
  std::thread thread_;
};

/* Every combination of refill on/off, low watermark 0/2, max-buffers 0
 * (unlimited)/3, blocking/DONTWAIT, with min 1: acquiring and holding buffers
 * up to max (5 when unlimited) must never wait for a buffer nobody will
 * produce. Below max, with refill on, the refill thread must be woken to
 * allocate one (and the acquiring thread never allocates); with refill off
 * the acquiring thread allocates. A DONTWAIT that misses below max may return
 * EOS, but retrying must soon succeed. At max, DONTWAIT returns EOS and a
 * blocking acquire waits for a release. Each acquire has a watchdog. */
GST_START_TEST (test_below_max_never_waits_for_nobody)
{
  const guint limit_ms = scaled_ms (5000);
  for (gboolean refill : { gboolean (TRUE), gboolean (FALSE) })
    for (guint wm : { 0u, 2u })
      for (guint max : { 0u, 3u })
        for (bool dontwait : { false, true }) {
          GCharPtr name (g_strdup_printf ("refill %s, low watermark %u, max-buffers %u, %s",
                                          refill ? "on" : "off", wm, max,
                                          dontwait ? "DONTWAIT" : "blocking"));
          CountingAllocator *alloc = counting_allocator_new ();
          GstBufferPool *pool = configured_pool (nullptr, 256, 1, max, GST_ALLOCATOR (alloc),
                                                 [&] (GstStructure *c) {
                                                   gst_dmakit_buffer_pool_config_set_refill (c, refill);
                                                   gst_dmakit_buffer_pool_config_set_low_watermark (c, wm);
                                                 });
          fail_unless (gst_buffer_pool_set_active (pool, TRUE), "%s", name.get ());
          /* let the refill thread do its start-up work and go to sleep, as it
           * does in a running pipeline */
          g_usleep (20000);
          counting_allocator_forget_threads (alloc);
          const guint n = max ? max : 5;
          std::vector<GstBuffer *> held;
          for (guint i = 0; i < n; i++) {
            GstBuffer *b = nullptr;
            GstFlowReturn ret;
            Watchdog dog (pool, limit_ms);
            if (!dontwait) {
              ret = gst_buffer_pool_acquire_buffer (pool, &b, nullptr);
            } else {
              while ((ret = try_acquire (pool, &b, true)) == GST_FLOW_EOS && !dog.fired ())
                g_usleep (1000);
            }
            fail_if (dog.stop (), "%s: acquire %u of %u (%u held, below max) waited %u ms for a "
                     "buffer nobody produced (returned %s)", name.get (), i + 1, n, i, limit_ms,
                     gst_flow_get_name (ret));
            fail_unless (ret == GST_FLOW_OK && b, "%s: acquire %u returned %s", name.get (), i + 1,
                         gst_flow_get_name (ret));
            held.push_back (b);
          }
          if (refill)
            fail_if (counting_allocator_used_thread (alloc, g_thread_self ()),
                     "%s: the acquiring thread allocated", name.get ());
          else
            fail_unless (counting_allocator_used_thread (alloc, g_thread_self ()),
                         "%s: refill off must allocate on the acquiring thread", name.get ());
          if (max) {
            fail_unless (stat_u64 (pool, "allocated") <= max, "%s", name.get ());
            GstBuffer *b = nullptr;
            fail_unless (try_acquire (pool, &b, true) == GST_FLOW_EOS, "%s: DONTWAIT at max",
                         name.get ());
            /* at max a blocking acquire waits for a release, and gets it */
            const guint64 waits = stat_u64 (pool, "waits");
            Acquirer waiter (pool);
            fail_unless (wait_for ([&] { return stat_u64 (pool, "waits") > waits; }), "%s",
                         name.get ());
            g_usleep (10000);
            fail_if (waiter.done.load (), "%s: acquire at max must wait", name.get ());
            gst_buffer_unref (held.back ());
            held.pop_back ();
            if (!wait_for ([&] { return waiter.done.load (); }, limit_ms))
              gst_buffer_pool_set_flushing (pool, TRUE);
            waiter.join ();
            fail_unless (waiter.ret == GST_FLOW_OK, "%s: a release must wake the waiter (%s)",
                         name.get (), gst_flow_get_name (waiter.ret));
            held.push_back (waiter.buf);
          }
          for (GstBuffer *b : held)
            gst_buffer_unref (b);
          fail_unless (gst_buffer_pool_set_active (pool, FALSE));
          gst_object_unref (pool);
          fail_unless_equals_int64 (alloc->live.load (), 0);
          gst_object_unref (alloc);
        }
}
GST_END_TEST;

/* Refill off, max 1: while one acquirer allocates the last buffer below max,
 * a second one waits (the pool counts the allocation in progress). When that
 * allocation fails, the second must be woken to allocate itself, not wait
 * for a release that cannot come (nothing is out). */
GST_START_TEST (test_failed_allocation_wakes_waiters)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 128, 0, 1, GST_ALLOCATOR (alloc), [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_refill (c, FALSE);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  alloc->delay_us = 300000;
  alloc->fail_next = 1;
  Acquirer allocating (pool);
  fail_unless (wait_for ([&] { return alloc->calls.load () == 1; }));
  Acquirer waiting (pool);
  fail_unless (wait_for ([&] { return stat_u64 (pool, "waits") == 1; }),
               "the second acquirer must wait while the first allocates the last buffer");
  const guint limit_ms = scaled_ms (5000);
  if (!wait_for ([&] { return allocating.done.load () && waiting.done.load (); }, limit_ms))
    gst_buffer_pool_set_flushing (pool, TRUE);
  allocating.join ();
  waiting.join ();
  fail_unless_equals_int (allocating.ret, GST_FLOW_ERROR);
  fail_unless (waiting.ret == GST_FLOW_OK, "after the failed allocation the waiter must allocate "
               "itself; it got %s", gst_flow_get_name (waiting.ret));
  fail_unless_equals_uint64 (stat_u64 (pool, "alloc-failures"), 1);
  gst_buffer_unref (waiting.buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- free-buffer order ------------------------------------------------------------ */

/* Free buffers come back last in, first out: the buffer released last (whose
 * memory is the most likely to be in the CPU caches) is handed out first. */
GST_START_TEST (test_free_buffers_lifo)
{
  for (gboolean refill : { gboolean (TRUE), gboolean (FALSE) }) {
    GstBufferPool *pool = configured_pool (nullptr, 4096, 4, 4, nullptr, [refill] (GstStructure *c) {
      gst_dmakit_buffer_pool_config_set_refill (c, refill);
    });
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    GstBuffer *b[4];
    for (GstBuffer *&x : b)
      x = acquire (pool);
    /* released 0, 1, 2, 3 (from another thread for 2) */
    gst_buffer_unref (b[0]);
    gst_buffer_unref (b[1]);
    std::thread ([&] { gst_buffer_unref (b[2]); }).join ();
    gst_buffer_unref (b[3]);
    for (int i = 3; i >= 0; i--) {
      GstBuffer *x = acquire (pool);
      fail_unless (x == b[i], "refill %d: expected the buffer released %s (%d), got another",
                   refill, i == 3 ? "last" : "next to last", i);
    }
    /* one in use at a time: always the same one */
    for (GstBuffer *x : b)
      gst_buffer_unref (x); /* 0, 1, 2, 3: 3 is on top */
    for (int i = 0; i < 10; i++) {
      GstBuffer *x = acquire (pool);
      fail_unless (x == b[3], "a single buffer in use must be the same one every time");
      gst_buffer_unref (x);
    }
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
  }
}
GST_END_TEST;

/* GStreamer's test_buffer_is_recycled (acquire, release, acquire: the same
 * buffer), thousands of times while the refill thread is busy: a buffer is
 * discarded every few cycles, so it allocates a replacement and pushes it
 * while the cycle runs. A spare must never come before the buffer released. */
GST_START_TEST (test_buffer_is_recycled_with_refill)
{
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  for (guint min : { 0u, 2u }) {
    GstBufferPool *pool = configured_pool (nullptr, 10, min, 0, sysmem, [] (GstStructure *c) {
      gst_dmakit_buffer_pool_config_set_low_watermark (c, 2);
    });
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    for (int i = 0; i < 5000; i++) {
      GstBuffer *buf = acquire (pool);
      GstBuffer *prev = buf;
      gst_buffer_unref (buf);
      buf = acquire (pool);
      fail_unless (buf == prev, "cycle %d (min %u): got another buffer than the one released", i,
                   min);
      if (i % 5 == 0) {
        /* spoil another one: discarded, the refill thread replaces it */
        GstBuffer *other = acquire (pool);
        gst_buffer_append_memory (other, gst_allocator_alloc (sysmem, 4, nullptr));
        gst_buffer_unref (other);
      }
      gst_buffer_unref (buf);
    }
    fail_unless (stat_u64 (pool, "refills") > 100);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
  }
  gst_object_unref (sysmem);
}
GST_END_TEST;

/* max-buffers 0: the free stack tracks 256 buffers (for min 1); beyond that,
 * acquires still succeed (extra buffers, allocated on the acquiring thread
 * since the refill thread cannot pool them) and the extras are freed when
 * they come back, by the refill thread. */
GST_START_TEST (test_unlimited_beyond_stack_capacity)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = configured_pool (nullptr, 64, 1, 0, GST_ALLOCATOR (alloc), [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_low_watermark (c, 0);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  const guint limit_ms = scaled_ms (10000);
  std::vector<GstBuffer *> held;
  for (guint i = 0; i < 300; i++) {
    Watchdog dog (pool, limit_ms);
    GstBuffer *b = nullptr;
    const GstFlowReturn ret = gst_buffer_pool_acquire_buffer (pool, &b, nullptr);
    fail_if (dog.stop (), "acquire %u hung", i + 1);
    fail_unless (ret == GST_FLOW_OK, "acquire %u: %s", i + 1, gst_flow_get_name (ret));
    held.push_back (b);
  }
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 300);
  fail_unless_equals_int64 (alloc->live.load (), 300);
  for (GstBuffer *b : held)
    gst_buffer_unref (b);
  /* 256 pooled ones stay free; the 44 extras are discarded and freed */
  fail_unless (wait_for ([&] { return alloc->live.load () == 256; }), "live %" G_GINT64_FORMAT,
               alloc->live.load ());
  fail_unless_equals_uint64 (stat_u64 (pool, "free"), 256);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 256);
  fail_unless_equals_uint64 (stat_u64 (pool, "discards"), 44);
  fail_unless_equals_uint64 (stat_u64 (pool, "outstanding"), 0);
  /* they are all reused without allocating */
  const guint64 allocations = stat_u64 (pool, "allocations");
  held.clear ();
  for (guint i = 0; i < 256; i++)
    held.push_back (acquire (pool));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocations"), allocations);
  for (GstBuffer *b : held)
    gst_buffer_unref (b);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- release: reset, discards ---------------------------------------------------- */

GST_START_TEST (test_release_resets_and_discards)
{
  CountingAllocator *alloc = counting_allocator_new ();
  GstCaps *caps = nv12_caps (64, 48);
  const guint size = video_size (caps);
  GstBufferPool *pool = configured_pool (caps, size, 2, 2, GST_ALLOCATOR (alloc), [] (GstStructure *c) {
    gst_buffer_pool_config_add_option (c, GST_BUFFER_POOL_OPTION_VIDEO_META);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));

  /* metadata, flags, timestamps and a resize are undone; the buffer is reused */
  GstBuffer *buf = acquire (pool);
  GstBuffer *first = buf;
  GST_BUFFER_PTS (buf) = 42;
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  gst_buffer_add_video_crop_meta (buf);
  gst_buffer_resize (buf, 16, 100);
  gst_buffer_unref (buf);
  GstBuffer *again = nullptr;
  for (int i = 0; i < 2 && again != first; i++) {
    GstBuffer *b = acquire (pool);
    if (b == first)
      again = b;
    else
      gst_buffer_unref (b);
  }
  fail_unless (again == first, "an intact buffer is recycled");
  fail_unless_equals_int (gst_buffer_get_size (again), size);
  fail_unless (!GST_BUFFER_PTS_IS_VALID (again));
  fail_if (GST_BUFFER_FLAG_IS_SET (again, GST_BUFFER_FLAG_DISCONT));
  fail_unless (gst_buffer_get_video_crop_meta (again) == nullptr, "unpooled meta must go");
  fail_unless (gst_buffer_get_video_meta (again) != nullptr, "the pool's VideoMeta stays");
  gst_buffer_unref (again);
  fail_unless_equals_uint64 (stat_u64 (pool, "discards"), 0);

  /* each of these is discarded, freed off this thread and replaced */
  guint64 expected = 0;
  auto check_discarded = [&] (const char *what, const std::function<void (GstBuffer *)> &spoil,
                              const std::function<void ()> &after = {}) {
    GstBuffer *b = acquire (pool);
    std::atomic<int> gone{ 0 };
    gst_mini_object_weak_ref (GST_MINI_OBJECT (b), count_finalized, &gone);
    spoil (b);
    gst_buffer_unref (b);
    expected++;
    fail_unless_equals_uint64 (stat_u64 (pool, "discards"), expected);
    fail_unless (wait_for ([&] { return gone.load () == 1; }), "%s: buffer not freed", what);
    /* the refill thread replaces it */
    fail_unless (wait_for ([&] { return stat_u64 (pool, "allocated") == 2; }), "%s: not replaced", what);
    if (after)
      after ();
  };
  GstMemory *mapped_mem = nullptr;
  check_discarded ("memory replaced", [&] (GstBuffer *b) {
    gst_buffer_replace_all_memory (b, gst_allocator_alloc (GST_ALLOCATOR (alloc), size, nullptr));
  });
  check_discarded ("memory added", [&] (GstBuffer *b) {
    gst_buffer_append_memory (b, gst_allocator_alloc (GST_ALLOCATOR (alloc), 16, nullptr));
  });
  check_discarded ("read-only", [&] (GstBuffer *b) {
    GST_MINI_OBJECT_FLAG_SET (gst_buffer_peek_memory (b, 0), GST_MEMORY_FLAG_READONLY);
  });
  /* another buffer holds the memory (gst_buffer_copy() is checked below:
   * what it does to the original depends on the GStreamer version) */
  GstBuffer *holder = nullptr;
  check_discarded (
      "shared",
      [&] (GstBuffer *b) {
        holder = gst_buffer_new ();
        gst_buffer_append_memory (holder, gst_memory_ref (gst_buffer_peek_memory (b, 0)));
      },
      [&] { gst_buffer_unref (holder); });
  GstMapInfo leaked;
  check_discarded ("still mapped", [&] (GstBuffer *b) {
    /* a map nobody undid: our ref keeps the memory alive after the buffer */
    mapped_mem = gst_memory_ref (gst_buffer_peek_memory (b, 0));
    fail_unless (gst_memory_map (mapped_mem, &leaked, GST_MAP_READ));
  }, [&] {
    gst_memory_unmap (mapped_mem, &leaked);
    gst_memory_unref (mapped_mem);
  });

  /* gst_buffer_copy() shares the memory. Since GStreamer 1.24 the copy holds
   * the original (a GstParentBufferMeta), which comes back only when the copy
   * goes, intact: it is recycled, not discarded. Before, the original came
   * back at once with its memory shared: discarded. Either way the count is
   * exact. */
  {
    GstBuffer *b = acquire (pool);
    GstBuffer *copy = gst_buffer_copy (b);
    const bool holds = gst_buffer_get_parent_buffer_meta (copy) != nullptr;
    gst_buffer_unref (b);
    if (holds) {
      fail_unless_equals_uint64 (stat_u64 (pool, "discards"), expected);
      gst_buffer_unref (copy);
      fail_unless_equals_uint64 (stat_u64 (pool, "discards"), expected);
      GstBuffer *again = acquire (pool);
      fail_unless (again == b, "the original must be recycled once the copy is gone");
      gst_buffer_unref (again);
    } else {
      fail_unless_equals_uint64 (stat_u64 (pool, "discards"), expected + 1);
      gst_buffer_unref (copy);
      fail_unless (wait_for ([&] { return stat_u64 (pool, "allocated") == 2; }), "not replaced");
    }
  }
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
  fail_unless_equals_int64 (alloc->live.load (), 0);
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_params_prefix_and_align)
{
  /* memory with a prefix and an alignment is recycled, not seen as resized */
  CountingAllocator *alloc = counting_allocator_new ();
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, nullptr, 1000, 1, 1);
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.prefix = 64;
  params.padding = 32;
  params.align = 127;
  gst_buffer_pool_config_set_allocator (config, GST_ALLOCATOR (alloc), &params);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  for (int i = 0; i < 10; i++) {
    GstBuffer *b = acquire (pool);
    GstMapInfo map;
    fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, 1000);
    fail_unless ((reinterpret_cast<guintptr> (map.data) - 64) % 128 == 0);
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (stat_u64 (pool, "discards"), 0);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocations"), 1);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (alloc);
}
GST_END_TEST;

/* ---- video layout / non-video -------------------------------------------------------- */

static void
check_video_layout (const char *format, int w, int h, const GstVideoAlignment *align, GstAllocator *alloc)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, format, "width",
                                       G_TYPE_INT, w, "height", G_TYPE_INT, h, nullptr);
  GstVideoInfo expect;
  fail_unless (gst_video_info_from_caps (&expect, caps));
  GstVideoAlignment used;
  if (align) {
    used = *align;
    guint m = 0;
    for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
      m |= used.stride_align[i];
    for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
      used.stride_align[i] = m;
    fail_unless (gst_video_info_align (&expect, &used));
  }
  GstBufferPool *pool = configured_pool (caps, 0 + video_size (caps), 1, 2, alloc, [&] (GstStructure *c) {
    gst_buffer_pool_config_add_option (c, GST_BUFFER_POOL_OPTION_VIDEO_META);
    if (align) {
      gst_buffer_pool_config_add_option (c, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
      gst_buffer_pool_config_set_video_alignment (c, const_cast<GstVideoAlignment *> (align));
    }
  });
  GstStructure *config = gst_buffer_pool_get_config (pool);
  guint size = 0;
  fail_unless (gst_buffer_pool_config_get_params (config, nullptr, &size, nullptr, nullptr));
  fail_unless (size >= expect.size, "config size %u < layout %zu", size, expect.size);
  gst_structure_free (config);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *buf = acquire (pool);
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  fail_unless (meta != nullptr);
  fail_unless_equals_int (meta->format, GST_VIDEO_INFO_FORMAT (&expect));
  fail_unless_equals_int (meta->width, w);
  fail_unless_equals_int (meta->height, h);
  fail_unless_equals_int (meta->n_planes, GST_VIDEO_INFO_N_PLANES (&expect));
  for (guint p = 0; p < meta->n_planes; p++) {
    fail_unless_equals_int (meta->stride[p], GST_VIDEO_INFO_PLANE_STRIDE (&expect, p));
    fail_unless_equals_int (meta->offset[p], GST_VIDEO_INFO_PLANE_OFFSET (&expect, p));
    if (align)
      fail_unless_equals_int (meta->stride[p] & used.stride_align[p], 0);
  }
  if (align) {
    /* the alignment as gst_video_info_align() adjusted it */
    fail_unless_equals_int (meta->alignment.padding_top, used.padding_top);
    fail_unless_equals_int (meta->alignment.padding_left, used.padding_left);
    fail_unless (used.padding_left >= align->padding_left);
  }
  fail_unless (gst_buffer_get_size (buf) >= expect.size);
  {
    /* the layout the meta describes maps as a frame and every plane is writable */
    GstVideoInfo plain;
    fail_unless (gst_video_info_from_caps (&plain, caps));
    MappedVideoFrame frame (&plain, buf, GST_MAP_WRITE);
    fail_unless (bool (frame));
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame.get ()); p++) {
      fail_unless_equals_int (GST_VIDEO_FRAME_PLANE_STRIDE (frame.get (), p), meta->stride[p]);
      gint comp[GST_VIDEO_MAX_COMPONENTS];
      gst_video_format_info_component (frame.get ()->info.finfo, p, comp);
      guint8 *d = static_cast<guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (frame.get (), p));
      const guint rows = GST_VIDEO_FRAME_COMP_HEIGHT (frame.get (), comp[0]);
      const guint row_bytes = GST_VIDEO_FRAME_COMP_WIDTH (frame.get (), comp[0]) *
                              GST_VIDEO_FRAME_COMP_PSTRIDE (frame.get (), comp[0]);
      for (guint r = 0; r < rows; r++)
        memset (d + gsize (r) * meta->stride[p], 0x10, row_bytes);
    }
  }
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
}

GST_START_TEST (test_video_meta_layout)
{
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  for (GstAllocator *alloc : { (GstAllocator *) nullptr, sysmem }) {
    check_video_layout ("NV12", 1920, 1080, nullptr, alloc);
    check_video_layout ("I420", 641, 479, nullptr, alloc);
    GstVideoAlignment align;
    gst_video_alignment_reset (&align);
    align.padding_top = 8;
    align.padding_bottom = 8;
    align.padding_left = 32;
    align.padding_right = 16;
    align.stride_align[0] = 63;
    align.stride_align[1] = 63;
    check_video_layout ("NV12", 1280, 720, &align, alloc);
    gst_video_alignment_reset (&align);
    align.stride_align[0] = 255;
    check_video_layout ("RGBA", 333, 200, &align, alloc);
  }
  gst_object_unref (sysmem);
}
GST_END_TEST;

GST_START_TEST (test_non_video_caps)
{
  const char *caps_str[] = {
    "audio/x-raw, format=S16LE, rate=48000, channels=2, layout=interleaved",
    "application/octet-stream",
    nullptr, /* no caps */
  };
  for (const char *s : caps_str) {
    GstCaps *caps = s ? gst_caps_from_string (s) : nullptr;
    GstBufferPool *pool = configured_pool (caps, 3333, 2, 0, nullptr);
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    std::vector<GstBuffer *> out;
    for (int i = 0; i < 5; i++) { /* max 0: unlimited */
      out.push_back (acquire (pool));
      fail_unless_equals_int (gst_buffer_get_size (out.back ()), 3333);
      fail_unless (gst_buffer_get_video_meta (out.back ()) == nullptr);
    }
    for (GstBuffer *b : out)
      gst_buffer_unref (b);
    fail_unless (stat_u64 (pool, "allocated") >= 5);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
    if (caps)
      gst_caps_unref (caps);
  }
}
GST_END_TEST;

/* ---- lock memory -------------------------------------------------------------------- */

static guint64
vm_locked_kb (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  guint64 kb = 0;
  while (f && fgets (line, sizeof line, f))
    if (sscanf (line, "VmLck: %" G_GUINT64_FORMAT " kB", &kb) == 1)
      break;
  if (f)
    fclose (f);
  return kb;
}

/* The /proc/self/smaps entry of the mapping that contains @addr. */
struct MappingInfo {
  bool found = false;
  std::string name;                                   /* path, [heap], /dmabuf:..., or "" */
  std::vector<std::string> flags;                     /* VmFlags mnemonics */
  bool has (const char *f) const { return std::find (flags.begin (), flags.end (), f) != flags.end (); }
  /* VM_PFNMAP or VM_IO: pages the driver owns (a dma-heap's), which mlock()
   * accepts but cannot and need not pin: they are never swapped, and they
   * never count in VmLck */
  bool special () const { return has ("pf") || has ("io"); }
  std::string describe () const
  {
    std::string d = name.empty () ? "anonymous" : name;
    d += " (VmFlags:";
    for (const std::string &f : flags)
      d += " " + f;
    return d + ")";
  }
};

static MappingInfo
mapping_of (const void *addr)
{
  MappingInfo info;
  FILE *f = fopen ("/proc/self/smaps", "r");
  fail_unless (f != nullptr, "/proc/self/smaps: %s", g_strerror (errno));
  const guintptr a = reinterpret_cast<guintptr> (addr);
  char line[1024];
  bool inside = false;
  while (fgets (line, sizeof line, f)) {
    unsigned long lo, hi;
    int name_at = 0;
    /* "lo-hi perms offset dev inode   name" starts an entry */
    if (sscanf (line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &name_at) == 2 && name_at > 0) {
      if (info.found)
        break;
      inside = a >= lo && a < hi;
      if (inside) {
        info.found = true;
        info.name = g_strstrip (line + name_at);
      }
    } else if (inside && g_str_has_prefix (line, "VmFlags:")) {
      gchar **words = g_strsplit_set (line + strlen ("VmFlags:"), " \t\n", -1);
      for (gchar **w = words; *w; w++)
        if (**w)
          info.flags.push_back (*w);
      g_strfreev (words);
    }
  }
  fclose (f);
  return info;
}

/* Lock memory: every buffer the pool holds is locked, and the lock is
 * released with the buffers. What "locked" can be observed as depends on the
 * memory: anonymous (heap) and shmem (memfd) mappings get VM_LOCKED ("lo" in
 * VmFlags) and count in VmLck; a DMA-BUF heap mapping is VM_PFNMAP|VM_IO ("pf
 * io"), where mlock() succeeds without pinning anything (the heap's pages are
 * never swapped) and VmLck does not move: there the test checks that the lock
 * was issued and succeeded (pool and allocator stats, and
 * gst_dmakit_memory_is_locked() per buffer). Which case applies is read from
 * the buffer's own mapping, not assumed. */
GST_START_TEST (test_lock_memory)
{
  SKIP_UNDER_SANITIZER ("test_lock_memory");
  const guint size = 512 * 1024;
  GstAllocator *sysmem = gst_allocator_find (nullptr);
  for (GstAllocator *alloc : { sysmem, (GstAllocator *) nullptr }) {
    const guint64 before = vm_locked_kb ();
    GstBufferPool *pool = configured_pool (nullptr, size, 3, 3, alloc, [] (GstStructure *c) {
      gst_dmakit_buffer_pool_config_set_lock_memory (c, TRUE);
    });
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    if (stat_u64 (pool, "lock-failures") != 0) {
      /* an unprivileged runner with a small RLIMIT_MEMLOCK: say so, still correct */
      g_printerr ("lock memory refused here (RLIMIT_MEMLOCK); skipping the VmLck check\n");
    } else {
      fail_unless_equals_uint64 (stat_u64 (pool, "locked"), 3);
      std::vector<GstBuffer *> held;
      guint64 pageable_kb = 0; /* memory whose lock must show in VmLck */
      guint special = 0;
      for (int i = 0; i < 3; i++) {
        GstBuffer *b = acquire (pool);
        held.push_back (b);
        GstMemory *mem = gst_buffer_peek_memory (b, 0);
        const bool dmakit = gst_is_dmakit_memory (mem);
        fail_unless (dmakit == (alloc == nullptr), "the default allocator is a dmakit one");
        if (dmakit)
          fail_unless (gst_dmakit_memory_is_locked (mem), "buffer %d: dmakit memory not locked", i);
        MappedMemory m (mem, GST_MAP_READ);
        fail_unless (bool (m));
        const MappingInfo map = mapping_of (m.data ());
        fail_unless (map.found, "buffer %d: no mapping contains %p", i, m.data ());
        fail_unless (!map.flags.empty (), "buffer %d: no VmFlags in smaps for %s", i,
                     map.describe ().c_str ());
        g_print ("lock memory, %s: buffer %d in %s\n",
                 dmakit ? gst_buffer_peek_memory (b, 0)->allocator->mem_type : "sysmem", i,
                 map.describe ().c_str ());
        if (map.special ()) {
          /* only DMA-BUF memory comes in driver-owned mappings */
          fail_unless (dmakit && gst_is_dmabuf_memory (mem), "buffer %d: %s is not DMA-BUF memory",
                       i, map.describe ().c_str ());
          special++;
        } else {
          fail_unless (map.has ("lo"), "buffer %d: the pages of %s are not locked", i,
                       map.describe ().c_str ());
          pageable_kb += mem->maxsize / 1024;
        }
      }
      if (alloc == nullptr) {
        /* the allocator agrees: 3 locks issued and succeeded, none refused */
        GstAllocator *own = gst_buffer_peek_memory (held[0], 0)->allocator;
        GstStructure *st = gst_dmakit_allocator_get_stats (own);
        guint64 locked = 0, refused = G_MAXUINT64;
        fail_unless (gst_structure_get_uint64 (st, "locked", &locked));
        fail_unless (gst_structure_get_uint64 (st, "lock-failures", &refused));
        gst_structure_free (st);
        fail_unless_equals_uint64 (locked, 3);
        fail_unless_equals_uint64 (refused, 0);
      }
      fail_unless (special == 0 || special == 3, "buffers of one pool are all alike");
      const guint64 during = vm_locked_kb ();
      fail_unless (during >= before + pageable_kb, "VmLck %" G_GUINT64_FORMAT " -> %"
                   G_GUINT64_FORMAT " kB, expected at least +%" G_GUINT64_FORMAT " kB",
                   before, during, pageable_kb);
      if (special == 0)
        fail_unless (pageable_kb >= 3 * size / 1024);
      for (GstBuffer *b : held)
        gst_buffer_unref (b);
    }
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    fail_unless_equals_uint64 (stat_u64 (pool, "locked"), 0);
    /* heap-allocated buffers may leave their two edge pages locked (shared
     * with neighbours, see lock_pages()); everything else is unlocked */
    const guint64 page_kb = guint64 (sysconf (_SC_PAGESIZE)) / 1024;
    fail_unless (vm_locked_kb () <= before + 3 * 2 * page_kb, "lock not released with the "
                 "buffers: VmLck %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " kB", before,
                 vm_locked_kb ());
    gst_object_unref (pool);
  }
  gst_object_unref (sysmem);
}
GST_END_TEST;

/* Drop CAP_IPC_LOCK from the effective set (root ignores RLIMIT_MEMLOCK with it). */
static bool
set_ipc_lock_capability (bool on)
{
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = {};
  if (syscall (SYS_capget, &hdr, data) != 0)
    return false;
  if (on)
    data[0].effective |= (1u << CAP_IPC_LOCK) & data[0].permitted;
  else
    data[0].effective &= ~(1u << CAP_IPC_LOCK);
  return syscall (SYS_capset, &hdr, data) == 0;
}

/* Lock memory is the pool's decision for its own buffers: the allocator it
 * allocates from, which others (an upstream element it was proposed to) may
 * share, keeps its own setting. */
GST_START_TEST (test_lock_memory_leaves_shared_allocator)
{
  dmakit::GErrorPtr err;
  GstAllocator *alloc = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, err.out ());
  fail_unless (alloc != nullptr);
  fail_if (gst_dmakit_allocator_get_lock_memory (alloc));
  GstBufferPool *pool = configured_pool (nullptr, 4096, 2, 2, alloc, [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_lock_memory (c, TRUE);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 2);
  fail_if (gst_dmakit_allocator_get_lock_memory (alloc), "the pool changed the shared allocator");
  GstMemory *other = gst_allocator_alloc (alloc, 4096, nullptr);
  fail_unless (other != nullptr);
  fail_if (gst_dmakit_memory_is_locked (other), "another user of the allocator got locked memory");
  gst_memory_unref (other);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  fail_if (gst_dmakit_allocator_get_lock_memory (alloc));
  gst_object_unref (pool);
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_lock_memory_refused_warns)
{
  SKIP_UNDER_SANITIZER ("test_lock_memory_refused_warns");
  struct rlimit saved;
  fail_unless (getrlimit (RLIMIT_MEMLOCK, &saved) == 0);
  fail_unless (set_ipc_lock_capability (false), "capset: %s", g_strerror (errno));
  struct rlimit tiny = { 64 * 1024, saved.rlim_max };
  fail_unless (setrlimit (RLIMIT_MEMLOCK, &tiny) == 0);

  GstAllocator *sysmem = gst_allocator_find (nullptr);
  for (GstAllocator *alloc : { sysmem, (GstAllocator *) nullptr }) {
    LogCapture cap;
    log_capture_start (&cap);
    GstBufferPool *pool = configured_pool (nullptr, 1024 * 1024, 2, 2, alloc, [] (GstStructure *c) {
      gst_dmakit_buffer_pool_config_set_lock_memory (c, TRUE);
    });
    /* refusing the lock does not fail activation: buffers stay pageable */
    fail_unless (gst_buffer_pool_set_active (pool, TRUE));
    log_capture_stop (&cap);
    fail_unless_equals_uint64 (stat_u64 (pool, "lock-failures"), 2);
    fail_unless_equals_uint64 (stat_u64 (pool, "locked"), 0);
    fail_if (log_capture_find (&cap, { "WARN", "lock-memory", "refused", "RLIMIT_MEMLOCK 65536" })
                 .empty (), "no clear warning for a refused lock");
    GstBuffer *b = acquire (pool);
    gst_buffer_unref (b);
    fail_unless (gst_buffer_pool_set_active (pool, FALSE));
    gst_object_unref (pool);
  }
  gst_object_unref (sysmem);
  setrlimit (RLIMIT_MEMLOCK, &saved);
  set_ipc_lock_capability (true);
}
GST_END_TEST;

/* set_config only validates: the pool's own allocator (no allocator in the
 * config) is opened on activation, not during negotiation. Seen through the
 * allocator's INFO line that names the backend AUTO chose. */
GST_START_TEST (test_set_config_opens_nothing)
{
  LogCapture cap;
  log_capture_start (&cap);
  gst_debug_set_threshold_for_name ("dmakitallocator", GST_LEVEL_INFO);
  GstBufferPool *pool = configured_pool (nullptr, 4096, 1, 2, nullptr);
  log_capture_stop (&cap);
  fail_unless (log_capture_find (&cap, { "auto: chose" }).empty (),
               "set_config opened an allocator");
  LogCapture cap2;
  log_capture_start (&cap2);
  gst_debug_set_threshold_for_name ("dmakitallocator", GST_LEVEL_INFO);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  log_capture_stop (&cap2);
  gst_debug_set_threshold_for_name ("dmakitallocator", GST_LEVEL_WARNING);
  fail_if (log_capture_find (&cap2, { "auto: chose" }).empty (),
           "activation did not open the pool's allocator");
  GstBuffer *b = acquire (pool);
  gst_buffer_unref (b);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

/* The reset happens in the reset_buffer vfunc, which does what GstBufferPool's
 * default does (flags, timestamps, offsets, unpooled metas), so that anything
 * hooking the base class' contract sees it; the release restores the size. */
GST_START_TEST (test_reset_buffer_vfunc)
{
  GstBufferPool *pool = configured_pool (nullptr, 1000, 1, 1, nullptr);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBufferPoolClass *klass = GST_BUFFER_POOL_GET_CLASS (pool);
  fail_unless (klass->reset_buffer != nullptr, "no reset_buffer vfunc");
  GstBuffer *buf = acquire (pool);
  GST_BUFFER_PTS (buf) = 1;
  GST_BUFFER_DTS (buf) = 2;
  GST_BUFFER_DURATION (buf) = 3;
  GST_BUFFER_OFFSET (buf) = 4;
  GST_BUFFER_OFFSET_END (buf) = 5;
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  GstCaps *ref = gst_caps_new_empty_simple ("timestamp/x-test");
  gst_buffer_add_reference_timestamp_meta (buf, ref, 10, 20);
  gst_caps_unref (ref);
  gst_buffer_resize (buf, 0, 100);
  klass->reset_buffer (pool, buf);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (GST_BUFFER_DTS (buf), GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), GST_BUFFER_OFFSET_NONE);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), GST_BUFFER_OFFSET_NONE);
  fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  fail_unless (gst_buffer_get_reference_timestamp_meta (buf, nullptr) == nullptr,
               "an unpooled meta survived the reset");
  gst_buffer_unref (buf);
  /* and the reset buffer is the one handed out again, at its size */
  GstBuffer *again = acquire (pool);
  fail_unless (again == buf);
  fail_unless_equals_uint64 (gst_buffer_get_size (again), 1000);
  fail_unless_equals_uint64 (stat_u64 (pool, "discards"), 0);
  gst_buffer_unref (again);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

/* ---- stats --------------------------------------------------------------------------- */

GST_START_TEST (test_stats_fields)
{
  GstBufferPool *pool = configured_pool (nullptr, 100, 2, 5, nullptr, [] (GstStructure *c) {
    gst_dmakit_buffer_pool_config_set_low_watermark (c, 2);
  });
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBuffer *a = acquire (pool);
  GstStructure *s = gst_dmakit_buffer_pool_get_stats (pool);
  fail_unless (gst_structure_has_name (s, GST_DMAKIT_BUFFER_POOL_STATS));
  for (const char *f : { "allocated", "free", "outstanding", "max-outstanding", "acquires",
                         "releases", "waits", "wait-total-ns", "wait-max-ns", "exhausted",
                         "timeouts", "refills", "discards", "stale", "allocations", "frees",
                         "alloc-failures", "locked", "lock-failures", "bytes-held", "generation" })
    fail_unless (gst_structure_has_field_typed (s, f, G_TYPE_UINT64), "missing %s", f);
  for (const char *f : { "size", "min-buffers", "max-buffers", "low-watermark" })
    fail_unless (gst_structure_has_field_typed (s, f, G_TYPE_UINT), "missing %s", f);
  guint v = 0;
  gst_structure_get_uint (s, "max-buffers", &v);
  fail_unless_equals_int (v, 5);
  gst_structure_free (s);
  fail_unless_equals_uint64 (stat_u64 (pool, "outstanding"), 1);
  fail_unless_equals_uint64 (stat_u64 (pool, "acquires"), 1);
  fail_unless (wait_for ([&] { return stat_u64 (pool, "free") == 2; }));
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"), 3);
  fail_unless (stat_u64 (pool, "bytes-held") >= 3 * 100);
  gst_buffer_unref (a);
  fail_unless_equals_uint64 (stat_u64 (pool, "releases"), 1);
  fail_unless_equals_uint64 (stat_u64 (pool, "outstanding"), 0);
  fail_unless_equals_uint64 (stat_u64 (pool, "allocated"),
                             stat_u64 (pool, "allocations") - stat_u64 (pool, "frees"));
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  /* wrong type: a clear critical (in our log domain), not a crash */
  GstBufferPool *stock = gst_buffer_pool_new ();
  guint criticals = 0;
  const guint handler = g_log_set_handler (
      "GStreamer-Dmakit", GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL),
      [] (const gchar *, GLogLevelFlags, const gchar *, gpointer n) { (*static_cast<guint *> (n))++; },
      &criticals);
  const GLogLevelFlags fatal = g_log_set_always_fatal (GLogLevelFlags (G_LOG_FATAL_MASK));
  fail_unless (gst_dmakit_buffer_pool_get_stats (stock) == nullptr);
  g_log_set_always_fatal (fatal);
  g_log_remove_handler ("GStreamer-Dmakit", handler);
  fail_unless_equals_int (criticals, 1);
  gst_object_unref (stock);
}
GST_END_TEST;

static Suite *
bufferpool_suite (void)
{
  Suite *s = suite_create ("dmakit-bufferpool");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_config_helpers);
  tcase_add_test (tc, test_options);
  tcase_add_test (tc, test_config_min_above_max);
  tcase_add_test (tc, test_config_size_zero);
  tcase_add_test (tc, test_config_video_size_too_small);
  tcase_add_test (tc, test_config_bad_caps);
  tcase_add_test (tc, test_config_watermark_and_action);
  tcase_add_test (tc, test_config_allocator_cannot_alloc);
  tcase_add_test (tc, test_preallocation_default_allocator);
  tcase_add_test (tc, test_preallocation_failure);
  tcase_add_test (tc, test_config_huge_max_costs_what_is_allocated);
  tcase_add_test (tc, test_config_huge_min_refused_with_proposal);
  tcase_add_test (tc, test_config_alignment_not_mask);
  tcase_add_test (tc, test_activation_failure_posts_error);
  tcase_add_test (tc, test_blocking_acquire_woken_by_release);
  tcase_add_test (tc, test_dontwait_eos);
  tcase_add_test (tc, test_timeout_warns_on_bus_and_keeps_waiting);
  tcase_add_test (tc, test_timeout_fail);
  tcase_add_test (tc, test_flush_wakes_every_waiter);
  tcase_add_test (tc, test_deactivate_wakes_every_waiter);
  tcase_add_test (tc, test_deactivate_with_buffers_out);
  tcase_add_test (tc, test_reactivate_while_buffers_out);
  tcase_add_test (tc, test_generation_change);
  tcase_add_test (tc, test_refill_keeps_watermark);
  tcase_add_test (tc, test_refill_off_allocates_on_caller);
  tcase_add_test (tc, test_below_max_never_waits_for_nobody);
  tcase_add_test (tc, test_failed_allocation_wakes_waiters);
  tcase_add_test (tc, test_free_buffers_lifo);
  tcase_add_test (tc, test_buffer_is_recycled_with_refill);
  tcase_add_test (tc, test_unlimited_beyond_stack_capacity);
  tcase_add_test (tc, test_release_resets_and_discards);
  tcase_add_test (tc, test_params_prefix_and_align);
  tcase_add_test (tc, test_video_meta_layout);
  tcase_add_test (tc, test_non_video_caps);
  tcase_add_test (tc, test_lock_memory);
  tcase_add_test (tc, test_lock_memory_refused_warns);
  tcase_add_test (tc, test_lock_memory_leaves_shared_allocator);
  tcase_add_test (tc, test_reset_buffer_vfunc);
  tcase_add_test (tc, test_set_config_opens_nothing);
  tcase_add_test (tc, test_stats_fields);
  return s;
}

GST_CHECK_MAIN (bufferpool);
