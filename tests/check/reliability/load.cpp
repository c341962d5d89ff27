/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Load: many pipelines on one allocator, many threads on one pool, and
 * flushing seeks under load. Also run under ThreadSanitizer (suite 'threads').
 * Every wait has a deadline: a deadlock fails the test instead of hanging it.
 *
 *  shared_allocator       8 pipelines (appsrc ! dmakitcrop ! queue !
 *                         dmakitsink), each fed by its own thread from its own
 *                         GstDmakitBufferPool, all pools on ONE dmakit
 *                         allocator. Every frame pushed is written, every
 *                         buffer handed out comes back, and the allocator's
 *                         counters equal the sum of the pools' counters.
 *  threads_hammer_pool    8 threads acquire (blocking and DONTWAIT), hold,
 *                         check and release buffers of one pool, 20000 buffers
 *                         each, while another thread reads the stats. No
 *                         buffer is ever handed to two holders at once, none
 *                         is lost, and pool and allocator counters add up.
 *  flushing_seeks         videotestsrc ! dmakitcrop ! queue ! dmakitsink with
 *                         40 flushing seeks, 10-30 ms apart, from another
 *                         thread; then a seek to [0 s, 2 s] must give EOS
 *                         after exactly 60 frames of its segment, rendered =
 *                         written, the file holds every written frame, and
 *                         every buffer of the pool is back.
 * Nothing here depends on how the threads are scheduled: the amount of work is
 * fixed, and time only bounds a failure (deadlock). */
#include "reliability-util.h"

#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace reltest;

namespace {

ObjectRef<GstAllocator>
shared_allocator ()
{
  GErrorPtr err;
  auto a = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ()));
  fail_unless (bool (a), "no allocator: %s", err ? err->message : "?");
  return a;
}

ObjectRef<GstBufferPool>
new_pool (GstAllocator *alloc, GstCaps *caps, guint size, guint min, guint max, guint watermark)
{
  auto pool = ObjectRef<GstBufferPool>::adopt (gst_dmakit_buffer_pool_new ());
  GstStructure *config = gst_buffer_pool_get_config (pool.get ());
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  gst_buffer_pool_config_set_allocator (config, alloc, nullptr);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_dmakit_buffer_pool_config_set_low_watermark (config, watermark);
  fail_unless (gst_buffer_pool_set_config (pool.get (), config), "config refused");
  fail_unless (gst_buffer_pool_set_active (pool.get (), TRUE));
  return pool;
}

void
weak_notify (gpointer data, GObject *)
{
  static_cast<std::atomic<bool> *> (data)->store (true);
}

/* ---- many pipelines, one allocator ------------------------------------- */

GST_START_TEST (test_shared_allocator)
{
  constexpr guint kPipelines = 8;
  const guint frames = std::max (240 / slowdown (), 24u);
  constexpr guint kW = 160, kH = 120, kCropW = 152, kCropH = 112;
  TmpDir dir;
  auto alloc = shared_allocator ();
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_NV12, kW, kH);
  GstCaps *caps = gst_video_info_to_caps (&info);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, 30, 1, nullptr);
  GstVideoInfo cropped;
  gst_video_info_set_format (&cropped, GST_VIDEO_FORMAT_NV12, kCropW, kCropH);

  struct Lane {
    GstElement *pipeline = nullptr;
    ObjectRef<GstBufferPool> pool;
    guint pushed = 0;
    GstFlowReturn last = GST_FLOW_OK;
  };
  std::vector<Lane> lanes (kPipelines);
  gchar *caps_str = gst_caps_to_string (caps);
  for (guint i = 0; i < kPipelines; i++) {
    gchar *desc = g_strdup_printf (
        "appsrc name=src format=time caps=\"%s\" ! dmakitcrop name=crop left=8 top=8 "
        "! queue max-size-buffers=4 ! dmakitsink name=sink sync=false max-pending=4 "
        "location=%s/out-%u.raw",
        caps_str, dir.path ().c_str (), i);
    lanes[i].pipeline = parse (desc);
    g_free (desc);
    lanes[i].pool = new_pool (alloc.get (), caps, guint (info.size), 4, 8, 2);
    /* (prerolls once the producer pushes) */
    fail_unless (gst_element_set_state (lanes[i].pipeline, GST_STATE_PLAYING) !=
                 GST_STATE_CHANGE_FAILURE);
  }
  g_free (caps_str);

  /* one producer per pipeline: acquire from its pool, fill, push */
  std::vector<std::thread> producers;
  for (guint i = 0; i < kPipelines; i++) {
    producers.emplace_back ([&, i] {
      Lane &lane = lanes[i];
      auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (lane.pipeline), "src"));
      for (guint f = 0; f < frames; f++) {
        GstBuffer *buf = nullptr;
        lane.last = gst_buffer_pool_acquire_buffer (lane.pool.get (), &buf, nullptr);
        if (lane.last != GST_FLOW_OK)
          return;
        {
          GstVideoFrame vf;
          if (gst_video_frame_map (&vf, &info, buf, GST_MAP_WRITE)) {
            for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&vf); p++)
              memset (GST_VIDEO_FRAME_PLANE_DATA (&vf, p), int ((i * 16 + f) & 0xff),
                      gsize (GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p)) *
                          GST_VIDEO_FRAME_COMP_HEIGHT (&vf, p));
            gst_video_frame_unmap (&vf);
          }
        }
        GST_BUFFER_PTS (buf) = gst_util_uint64_scale (f, GST_SECOND, 30);
        GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
        lane.last = gst_app_src_push_buffer (GST_APP_SRC (src.get ()), buf);
        if (lane.last != GST_FLOW_OK)
          return;
        lane.pushed++;
      }
      lane.last = gst_app_src_end_of_stream (GST_APP_SRC (src.get ()));
    });
  }
  for (auto &t : producers)
    t.join ();

  for (guint i = 0; i < kPipelines; i++) {
    Lane &lane = lanes[i];
    fail_unless_equals_int (lane.last, GST_FLOW_OK);
    fail_unless_equals_int (lane.pushed, frames);
    BusResult r = wait_bus (lane.pipeline, 60000 * slowdown ());
    fail_unless (r.eos, "pipeline %u: no EOS: %s", i, r.timed_out ? "timed out" : r.error.c_str ());
    fail_unless_equals_uint64 (stat (lane.pipeline, "crop", "frames"), frames);
    fail_unless_equals_uint64 (stat (lane.pipeline, "crop", "copied-frames"), 0);
    fail_unless_equals_uint64 (stat (lane.pipeline, "sink", "rendered"), frames);
    fail_unless_equals_uint64 (stat (lane.pipeline, "sink", "written"), frames);
    fail_unless_equals_uint64 (stat (lane.pipeline, "sink", "zero-copy"), frames);
    fail_unless_equals_int (gst_element_set_state (lane.pipeline, GST_STATE_NULL),
                            GST_STATE_CHANGE_SUCCESS);
    gchar *out = g_strdup_printf ("%s/out-%u.raw", dir.path ().c_str (), i);
    fail_unless_equals_uint64 (file_size (out), guint64 (frames) * cropped.size);
    g_free (out);
    /* every buffer handed out came back */
    GstBufferPool *pool = lane.pool.get ();
    fail_unless_equals_uint64 (pool_stat (pool, "acquires"), frames);
    fail_unless_equals_uint64 (pool_stat (pool, "releases"), frames);
    fail_unless_equals_uint64 (pool_stat (pool, "outstanding"), 0);
    fail_unless_equals_uint64 (pool_stat (pool, "free"), pool_stat (pool, "allocated"));
    fail_unless (pool_stat (pool, "allocated") <= 8);
  }
  /* The allocator saw exactly the pools' allocations, and all are freed. Counted
   * once the pools are stopped: until then a pool's refill thread may still be
   * allocating a buffer it decided on while the stream ran (it refills in the
   * background, and may lag on a loaded machine), which neither the pool's nor
   * the allocator's counters show yet. */
  guint64 sum_allocations = 0;
  for (auto &lane : lanes) {
    fail_unless (gst_buffer_pool_set_active (lane.pool.get (), FALSE));
    fail_unless_equals_uint64 (pool_stat (lane.pool.get (), "allocated"), 0);
    fail_unless_equals_uint64 (pool_stat (lane.pool.get (), "frees"),
                               pool_stat (lane.pool.get (), "allocations"));
    sum_allocations += pool_stat (lane.pool.get (), "allocations");
  }
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "allocated"), sum_allocations);
  for (auto &lane : lanes) {
    std::atomic<bool> gone{ false };
    g_object_weak_ref (G_OBJECT (lane.pool.get ()), weak_notify, &gone);
    lane.pool.reset ();
    fail_unless (gone.load (), "a pool outlived its owner");
    gst_object_unref (lane.pipeline);
  }
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding-bytes"), 0);
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "freed"), sum_allocations);
  g_print ("%u pipelines x %u frames on one %s allocator: %" G_GUINT64_FORMAT
           " buffers allocated by %u pools, all freed\n",
           kPipelines, frames, backend_nick (alloc.get ()).c_str (), sum_allocations, kPipelines);
  gst_caps_unref (caps);
}
GST_END_TEST;

/* ---- many threads, one pool --------------------------------------------- */

GST_START_TEST (test_threads_hammer_pool)
{
  constexpr guint kThreads = 8, kMax = 12;
  const guint kPerThread = 20000 / slowdown ();
  auto alloc = shared_allocator ();
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=64,height=48");
  auto pool = new_pool (alloc.get (), caps, 64 * 48, 4, kMax, 3);
  gst_caps_unref (caps);

  std::mutex lock;
  std::set<GstBuffer *> out;           /* buffers held right now */
  std::atomic<guint64> handed{ 0 }, returned{ 0 }, eos{ 0 }, twice{ 0 }, clobbered{ 0 };
  std::atomic<bool> stop{ false };
  std::atomic<guint> finished{ 0 };
  auto worker = [&] (guint id) {
    std::mt19937 rng (id * 7919u + 1);
    std::vector<std::pair<GstBuffer *, guint32>> held;
    guint32 seq = 0;
    guint mine = 0;
    auto give_back = [&] (size_t i) {
      GstBuffer *b = held[i].first;
      guint32 mark = 0;
      gst_buffer_extract (b, 0, &mark, sizeof mark);
      if (mark != held[i].second)
        clobbered++; /* somebody else wrote into a buffer we held */
      {
        std::lock_guard<std::mutex> lk (lock);
        out.erase (b);
      }
      held.erase (held.begin () + gssize (i));
      gst_buffer_unref (b);
      returned++;
    };
    while (!stop.load () && mine < kPerThread) {
      if (held.size () < 2 && rng () % 3 != 0) {
        /* block only with empty hands: a blocked thread holds nothing */
        GstBufferPoolAcquireParams params = {};
        if (!held.empty ())
          params.flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT;
        GstBuffer *b = nullptr;
        const GstFlowReturn r = gst_buffer_pool_acquire_buffer (pool.get (), &b, &params);
        if (r == GST_FLOW_EOS) {
          eos++;
          continue;
        }
        if (r != GST_FLOW_OK)
          break;
        handed++;
        mine++;
        {
          std::lock_guard<std::mutex> lk (lock);
          if (!out.insert (b).second)
            twice++; /* handed out while somebody held it */
        }
        const guint32 mark = (id << 24) | (seq++ & 0xffffff);
        gst_buffer_fill (b, 0, &mark, sizeof mark);
        held.emplace_back (b, mark);
      } else if (!held.empty ()) {
        give_back (size_t (rng () % held.size ()));
      }
      if (rng () % 8 == 0)
        std::this_thread::yield ();
    }
    while (!held.empty ())
      give_back (held.size () - 1);
    finished++;
  };
  std::vector<std::thread> threads;
  for (guint i = 0; i < kThreads; i++)
    threads.emplace_back (worker, i);
  guint64 stat_reads = 0;
  std::atomic<bool> reading{ true };
  std::thread reader ([&] {
    while (reading.load ()) {
      gst_structure_free (gst_dmakit_buffer_pool_get_stats (pool.get ()));
      gst_structure_free (gst_dmakit_allocator_get_stats (alloc.get ()));
      stat_reads++;
      g_usleep (1000);
    }
  });
  /* the deadline only bounds a deadlock: then flushing wakes the waiters */
  const gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC * slowdown ();
  while (finished.load () < kThreads && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  const bool hung = finished.load () < kThreads;
  if (hung) {
    stop.store (true);
    gst_buffer_pool_set_flushing (pool.get (), TRUE);
  }
  for (auto &t : threads)
    t.join ();
  reading.store (false);
  reader.join ();
  fail_if (hung, "%u of %u threads still busy after %u s: %" G_GUINT64_FORMAT " handed out",
           kThreads - finished.load (), kThreads, 120 * slowdown (), handed.load ());

  fail_unless_equals_uint64 (twice.load (), 0);
  fail_unless_equals_uint64 (clobbered.load (), 0);
  fail_unless_equals_uint64 (handed.load (), guint64 (kThreads) * kPerThread);
  fail_unless_equals_uint64 (returned.load (), handed.load ());
  fail_unless (out.empty ());
  /* the pool's own counters say the same */
  fail_unless_equals_uint64 (pool_stat (pool.get (), "acquires"), handed.load ());
  fail_unless_equals_uint64 (pool_stat (pool.get (), "releases"), returned.load ());
  fail_unless_equals_uint64 (pool_stat (pool.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (pool_stat (pool.get (), "discards"), 0);
  const guint64 allocated = pool_stat (pool.get (), "allocated");
  fail_unless (allocated <= kMax);
  fail_unless_equals_uint64 (pool_stat (pool.get (), "free"), allocated);
  fail_unless (pool_stat (pool.get (), "max-outstanding") <= kMax);
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding"), allocated);
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "allocated"),
                             pool_stat (pool.get (), "allocations"));
  g_print ("%u threads: %" G_GUINT64_FORMAT " buffers handed out and back, %" G_GUINT64_FORMAT
           " DONTWAIT refusals, %" G_GUINT64_FORMAT " waits, %" G_GUINT64_FORMAT
           " stats reads; pool of %" G_GUINT64_FORMAT " (max %u)\n",
           kThreads, handed.load (), eos.load (), pool_stat (pool.get (), "waits"), stat_reads,
           allocated, kMax);
  fail_unless (gst_buffer_pool_set_active (pool.get (), FALSE));
  pool.reset ();
  fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding"), 0);
}
GST_END_TEST;

/* ---- flushing seeks under load -------------------------------------------- */

GstPadProbeReturn
grab_pool (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  auto *slot = static_cast<std::atomic<GstBufferPool *> *> (data);
  GstBufferPool *none = nullptr;
  if (buf->pool && GST_DMAKIT_IS_BUFFER_POOL (buf->pool)) {
    GstBufferPool *pool = GST_BUFFER_POOL (gst_object_ref (buf->pool));
    if (!slot->compare_exchange_strong (none, pool))
      gst_object_unref (pool);
  }
  return GST_PAD_PROBE_REMOVE;
}

/* Counts the buffers that reach the sink after a segment that ends at 2 s
 * (only the last seek sets a stop). */
struct SegmentCount {
  std::atomic<bool> in_last{ false };
  std::atomic<guint> buffers{ 0 };
};

GstPadProbeReturn
count_last_segment (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *c = static_cast<SegmentCount *> (data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    if (c->in_last.load ())
      c->buffers++;
  } else if (GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info)) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      const GstSegment *seg = nullptr;
      gst_event_parse_segment (ev, &seg);
      const bool last = seg->stop == 2 * GST_SECOND;
      if (last && !c->in_last.load ())
        c->buffers = 0;
      c->in_last.store (last);
    }
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_flushing_seeks)
{
  constexpr guint kSeeks = 40;
  constexpr guint kW = 320, kH = 240;
  TmpDir dir;
  const std::string out = dir.file ("seek.raw");
  GstElement *p = parse ("videotestsrc name=src ! video/x-raw,format=I420,width=320,height=240,"
                         "framerate=30/1 ! dmakitcrop name=crop left=16 top=16 ! queue "
                         "! dmakitsink name=sink sync=false location=" + out);
  std::atomic<GstBufferPool *> grabbed{ nullptr };
  SegmentCount last;
  {
    auto sink = by_name (p, "sink");
    GstPad *pad = gst_element_get_static_pad (sink.get (), "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, grab_pool, &grabbed, nullptr);
    gst_pad_add_probe (pad,
                       GstPadProbeType (GST_PAD_PROBE_TYPE_BUFFER |
                                        GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                       count_last_segment, &last, nullptr);
    gst_object_unref (pad);
  }
  set_state_sync (p, GST_STATE_PLAYING);

  std::atomic<bool> done{ false };
  std::atomic<guint> seeks{ 0 }, refused{ 0 };
  std::thread seeker ([&] {
    std::mt19937 rng (42);
    for (guint i = 0; i < kSeeks; i++) {
      const GstClockTime pos = (rng () % 10000) * GST_MSECOND;
      if (gst_element_seek_simple (p, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, gint64 (pos)))
        seeks++;
      else
        refused++;
      g_usleep (10000 + rng () % 20000);
    }
    done.store (true);
  });
  /* meanwhile: no error, no EOS (the stream is endless); the deadline only
   * bounds a hang */
  BusResult during;
  const gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC * slowdown ();
  while (!done.load () && g_get_monotonic_time () < deadline) {
    during = wait_bus (p, 100);
    if (!during.timed_out)
      break;
  }
  const bool hung = !done.load () && during.timed_out;
  seeker.join ();
  fail_if (hung, "the seeks did not finish: %u of %u after %u s", seeks.load () + refused.load (),
           kSeeks, 120 * slowdown ());
  fail_unless (during.timed_out, "while seeking: %s%s", during.eos ? "EOS" : "",
               during.error.c_str ());
  fail_unless_equals_int (seeks.load (), kSeeks);
  fail_unless_equals_int (refused.load (), 0);

  /* a last flushing seek with a stop: the 60 frames of [0 s, 2 s], then EOS */
  const guint64 before = stat (p, "sink", "rendered");
  fail_unless (gst_element_seek (p, 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, 0,
                                 GST_SEEK_TYPE_SET, gint64 (2 * GST_SECOND)));
  BusResult r = wait_bus (p, 60000 * slowdown ());
  fail_unless (r.eos, "no EOS after the last seek: %s", r.timed_out ? "timed out" : r.error.c_str ());
  const guint64 rendered = stat (p, "sink", "rendered");
  const guint64 written = stat (p, "sink", "written");
  fail_unless (last.in_last.load (), "the last seek's segment never reached the sink");
  fail_unless_equals_int (last.buffers.load (), 60);
  fail_unless_equals_uint64 (written, rendered);
  fail_unless_equals_uint64 (stat (p, "sink", "not-written"), 0);
  fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
  fail_unless (stat (p, "crop", "frames") >= rendered);
  GstVideoInfo cropped;
  gst_video_info_set_format (&cropped, GST_VIDEO_FORMAT_I420, kW - 16, kH - 16);
  fail_unless_equals_uint64 (stat (p, "sink", "bytes-written"), written * cropped.size);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  /* Each flush truncates the file, as filesink does: what is left is the last
   * seek's 60 frames. */
  fail_unless_equals_uint64 (file_size (out), guint64 (60) * cropped.size);
  g_print ("%u flushing seeks (%" G_GUINT64_FORMAT " frames before the last one), "
           "then 60 frames and EOS; %" G_GUINT64_FORMAT " frames written in all, crop saw %"
           G_GUINT64_FORMAT "\n",
           seeks.load (), before, written, stat (p, "crop", "frames"));
  gst_object_unref (p);
  auto pool = ObjectRef<GstBufferPool>::adopt (grabbed.exchange (nullptr));
  fail_unless (bool (pool), "videotestsrc did not use dmakitsink's pool");
  fail_unless_equals_uint64 (pool_stat (pool.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (pool_stat (pool.get (), "acquires"), pool_stat (pool.get (), "releases"));
}
GST_END_TEST;

Suite *
load_suite ()
{
  Suite *s = suite_create ("dmakit-reliability-load");
  TCase *tc = tcase_create ("load");
  tcase_set_timeout (tc, 120 * slowdown ());
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_shared_allocator);
  tcase_add_test (tc, test_threads_hammer_pool);
  tcase_add_test (tc, test_flushing_seeks);
  return s;
}

} // namespace

GST_CHECK_MAIN (load);
