/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-stream.cpp: dmakitsink on the streaming thread: render hands
 * each buffer to the WriteQueue (no allocation, no I/O), caps, the BYTES
 * segments and flushes filesink follows, queries, the drain at EOS, and the
 * pool proposed upstream. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitsink-private.h"

#include <gst/allocators/allocators.h>

namespace dmakit
{
namespace sink
{

/* DMA-BUF or dmakit memory, or a buffer of a dmakit pool (the one we
 * proposed: upstream produced straight into it, whatever its memory). */
static bool
is_zero_copy_memory (GstBuffer *buf) noexcept
{
  if (gst_buffer_n_memory (buf) == 0)
    return false;
  if (buf->pool && GST_DMAKIT_IS_BUFFER_POOL (buf->pool))
    return true;
  GstMemory *m = gst_buffer_peek_memory (buf, 0);
  return gst_is_dmabuf_memory (m) || gst_is_dmakit_memory (m);
}

enum class Push { Queued, Dropped, Error, Flushing };

/* Hands an entry to the writer. Streaming thread, no allocation, no I/O.
 * A buffer (Op::Write) follows `overrun` when the queue is full and, woken
 * by unlock(), waits for preroll as basesink asks (render holds the PREROLL
 * lock). A seek or truncation must never be lost, or the file would differ
 * from filesink's: it always waits for room, also while flushing
 * (FLUSH_STOP itself queues one). Such entries exist only for seekable
 * outputs (regular files, devices), whose writer never stalls, so that wait
 * is bounded by the disk. */
static Push
push_entry (GstDmakitSink *self, GstBuffer *buf, Op op, guint64 offset) noexcept
{
  Impl *impl = self->impl;
  const bool control = op != Op::Write;
  guint64 t0 = gst_util_get_timestamp ();
  Push ret = Push::Error;
  guint64 depth = 0;
  guint64 t_wait = 0;
  auto end_wait = [&] (guint64 now) noexcept {
    if (t_wait) {
      atomic_max (impl->stats.max_block_ns, now - t_wait);
      impl->stats.block_start_ns.store (0, std::memory_order_relaxed);
      t_wait = 0;
    }
  };
  for (;;) {
    const WriteQueue::Push r
        = impl->queue.try_push (buf, impl->state.layout, op, offset, control, &depth);
    if (r == WriteQueue::Push::Queued) {
      ret = Push::Queued;
      break;
    }
    if (r == WriteQueue::Push::Failed) {
      ret = Push::Error;
      break;
    }
    if (r == WriteQueue::Push::Flushing) {
      /* unlock() was called: a flush, a stop, or PLAYING -> PAUSED, which
       * unlocks render too. As basesink asks, wait for preroll: it returns
       * FLUSHING on a flush or stop, and OK once PLAYING again, when the
       * buffer must still be queued (returning FLUSHING there would stop
       * upstream's streaming for good). Called with the PREROLL lock, which
       * basesink holds around render. The pause is not a wait for room. */
      end_wait (gst_util_get_timestamp ());
      if (gst_base_sink_wait_preroll (GST_BASE_SINK (self)) != GST_FLOW_OK) {
        ret = Push::Flushing;
        break;
      }
      t0 = gst_util_get_timestamp ();
      continue;
    }
    if (r == WriteQueue::Push::Full && !control
        && impl->overrun.load (std::memory_order_relaxed) == GST_DMAKIT_SINK_OVERRUN_DROP) {
      ret = Push::Dropped;
      break;
    }
    /* overrun=block with a full queue, a seek waiting for room, or the
     * writer reporting a failure: sleep until a slot frees up or the state
     * changes */
    if (t_wait == 0) {
      t_wait = gst_util_get_timestamp ();
      impl->stats.block_start_ns.store (t_wait, std::memory_order_relaxed);
    }
    impl->queue.wait_room (control);
  }
  const guint64 t1 = gst_util_get_timestamp ();
  atomic_max (impl->stats.max_enqueue_ns, t1 - t0);
  end_wait (t1);
  if (ret == Push::Queued)
    atomic_max (impl->stats.max_queue_depth, depth);
  return ret;
}

GstFlowReturn
render (GstBaseSink *sink, GstBuffer *buf) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  const bool zc = is_zero_copy_memory (buf);

  if (!impl->writing) {
    impl->stats.rendered.fetch_add (1, std::memory_order_relaxed);
    if (zc)
      impl->stats.zero_copy.fetch_add (1, std::memory_order_relaxed);
    return GST_FLOW_OK;
  }

  switch (push_entry (self, buf, Op::Write, 0)) {
  case Push::Queued:
    impl->stats.rendered.fetch_add (1, std::memory_order_relaxed);
    if (zc)
      impl->stats.zero_copy.fetch_add (1, std::memory_order_relaxed);
    impl->state.pos += written_size (buf, impl->state.layout);
    impl->pos_for_query.store (impl->state.pos, std::memory_order_relaxed);
    return GST_FLOW_OK;
  case Push::Dropped: {
    const guint64 n = impl->stats.dropped.fetch_add (1, std::memory_order_relaxed) + 1;
    GST_CAT_LOG_OBJECT (GST_CAT_PERFORMANCE, self,
                        "write queue full: dropped buffer %" G_GUINT64_FORMAT, n);
    return GST_FLOW_OK;
  }
  case Push::Flushing:
    return GST_FLOW_FLUSHING;
  case Push::Error:
    break;
  }
  return GST_FLOW_ERROR;
}

gboolean
set_caps (GstBaseSink *sink, GstCaps *caps) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  Layout layout;
  const GstStructure *st
      = gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0) : nullptr;
  if (st && gst_structure_has_name (st, "video/x-raw")) {
    if (!gst_video_info_from_caps (&layout.info, caps)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Invalid video caps."),
                         ("%" GST_PTR_FORMAT, caps));
      return FALSE;
    }
    layout.video = true;
  }
  impl->state.layout = layout;
  GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT " (%s)", caps,
                   layout.video ? "frames in default layout" : "bytes as they come");
  return TRUE;
}

enum class Drain { Done, Failed, Flushing };

/* Waits until the writer wrote everything queued, writing failed, or
 * unlock() was called. unlock() means a flush, a stop, or PLAYING ->
 * PAUSED: as in render, wait for preroll, and go on draining once PLAYING
 * again (dropping the EOS there would leave the application waiting for
 * it for ever). Streaming thread, from wait_event, in PLAYING, with
 * basesink's PREROLL lock. */
static Drain
drain (GstDmakitSink *self) noexcept
{
  Impl *impl = self->impl;
  for (;;) {
    switch (impl->queue.wait_drained ()) {
    case WriteQueue::Drain::Done:
      return Drain::Done;
    case WriteQueue::Drain::Failed:
      return Drain::Failed;
    case WriteQueue::Drain::Flushing:
      break;
    }
    if (gst_base_sink_wait_preroll (GST_BASE_SINK (self)) != GST_FLOW_OK)
      return Drain::Flushing;
  }
}

/* EOS: basesink's wait_event first prerolls and waits until the EOS is due,
 * which leaves us PLAYING. Then the writer drains, with basesink's PREROLL
 * lock held as during render: a PAUSED <-> PLAYING change never has to wait
 * for the disk, because leaving PLAYING calls unlock() first (see drain()).
 * Only then are the final stats posted, and basesink posts EOS. */
GstFlowReturn
wait_event (GstBaseSink *sink, GstEvent *event) noexcept
{
  GstFlowReturn ret = parent_class ()->wait_event (sink, event);
  if (ret != GST_FLOW_OK || GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return ret;
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  switch (impl->writing ? drain (self) : Drain::Done) {
  case Drain::Done:
    break;
  case Drain::Failed:
    GST_DEBUG_OBJECT (self, "not posting EOS: writing failed (error posted)");
    return GST_FLOW_ERROR;
  case Drain::Flushing:
    GST_DEBUG_OBJECT (self, "not posting EOS: flushing before the writer drained");
    return GST_FLOW_FLUSHING;
  }
  const guint64 dropped = impl->stats.dropped.load ();
  if (dropped > 0)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                         ("%" G_GUINT64_FORMAT " buffers were dropped because the write queue "
                          "was full (overrun=drop, max-pending=%u).",
                          dropped, impl->run.max_pending),
                         ("%" G_GUINT64_FORMAT " rendered, %" G_GUINT64_FORMAT " written",
                          impl->stats.rendered.load (), impl->stats.written.load ()));
  /* Everything is written: the stats are final ("dmakitsink-stats"). */
  gst_element_post_message (GST_ELEMENT (self),
                            gst_message_new_element (GST_OBJECT (self), build_stats (self)));
  return GST_FLOW_OK;
}

gboolean
unlock (GstBaseSink *sink) noexcept
{
  GST_DMAKIT_SINK (sink)->impl->queue.set_flushing (true);
  return TRUE;
}

gboolean
unlock_stop (GstBaseSink *sink) noexcept
{
  GST_DMAKIT_SINK (sink)->impl->queue.set_flushing (false);
  return TRUE;
}

/* As filesink: a BYTES segment whose start is not the current position moves
 * the write position there (muxers go back to fix their headers this way),
 * and FLUSH_STOP empties a seekable file and starts again at 0. Both are
 * entries of the write queue, so the writer applies them in order with the
 * data and this thread does no I/O. Serialized events come here from the
 * streaming thread with the stream lock held, in order with render. */
gboolean
event (GstBaseSink *sink, GstEvent *event) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  if (impl->writing) {
    switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment *segment = nullptr;
      gst_event_parse_segment (event, &segment);
      if (segment->format != GST_FORMAT_BYTES || guint64 (segment->start) == impl->state.pos)
        break;
      if (!impl->seekable) {
        GST_ELEMENT_ERROR (self, RESOURCE, SEEK,
                           ("Error while seeking in \"%s\": it is not seekable (a pipe, "
                            "FIFO, socket or terminal).",
                            impl->run.location.get ()),
                           ("BYTES segment starts at %" G_GUINT64_FORMAT
                            ", the position is %" G_GUINT64_FORMAT,
                            guint64 (segment->start), impl->state.pos));
        gst_event_unref (event);
        return FALSE;
      }
      GST_DEBUG_OBJECT (self, "seek from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
                        impl->state.pos, guint64 (segment->start));
      if (push_entry (self, nullptr, Op::Seek, guint64 (segment->start)) != Push::Queued) {
        GST_DEBUG_OBJECT (self, "seek not queued: writing failed (error posted)");
        gst_event_unref (event);
        return FALSE;
      }
      impl->state.pos = guint64 (segment->start);
      impl->pos_for_query.store (impl->state.pos, std::memory_order_relaxed);
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      if (impl->state.pos != 0 && impl->seekable) {
        if (push_entry (self, nullptr, Op::Truncate, 0) != Push::Queued)
          GST_DEBUG_OBJECT (self, "truncation not queued: writing failed (error posted)");
        impl->state.pos = 0;
        impl->pos_for_query.store (0, std::memory_order_relaxed);
      }
      break;
    default:
      break;
    }
  }
  return parent_class ()->event (sink, event);
}

/* As filesink: POSITION in bytes, FORMATS, URI, and SEEKING (seekable in
 * BYTES when the output is); other formats are basesink's (a TIME position,
 * which filesink refuses, keeps working). */
gboolean
handle_query (GstBaseSink *sink, GstQuery *query) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  GstFormat format = GST_FORMAT_UNDEFINED;
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_POSITION:
    gst_query_parse_position (query, &format, nullptr);
    if (format != GST_FORMAT_DEFAULT && format != GST_FORMAT_BYTES)
      break;
    gst_query_set_position (query, GST_FORMAT_BYTES,
                            gint64 (impl->pos_for_query.load (std::memory_order_relaxed)));
    return TRUE;
  case GST_QUERY_FORMATS:
    gst_query_set_formats (query, 2, GST_FORMAT_DEFAULT, GST_FORMAT_BYTES);
    return TRUE;
  case GST_QUERY_URI: {
    ObjectLocker lock (self);
    gst_query_set_uri (query, impl->settings.uri.get ());
    return TRUE;
  }
  case GST_QUERY_SEEKING: {
    gst_query_parse_seeking (query, &format, nullptr, nullptr, nullptr);
    bool seekable;
    {
      ObjectLocker lock (self);
      seekable = impl->writing && impl->seekable;
    }
    if (format == GST_FORMAT_BYTES || format == GST_FORMAT_DEFAULT)
      gst_query_set_seeking (query, GST_FORMAT_BYTES, seekable, 0, -1);
    else
      gst_query_set_seeking (query, format, FALSE, 0, -1);
    return TRUE;
  }
  default:
    break;
  }
  return parent_class ()->query (sink, query);
}

gboolean
propose_allocation (GstBaseSink *sink, GstQuery *query) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, nullptr);
  gst_query_add_allocation_meta (query, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  gst_query_add_allocation_meta (query, GST_DMAKIT_ROI_META_API_TYPE, nullptr);

  GstCaps *caps = nullptr;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation (query, &caps, &need_pool);
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps (&info, caps))
    return TRUE;

  /* A query can arrive while the element starts or stops: read what start()
   * set up under the lock, and keep our own reference to the allocator. */
  ObjectRef<GstAllocator> allocator;
  bool writing, lock_memory;
  guint max_pending, stride_align;
  GstDmakitBackend wanted;
  {
    ObjectLocker lock (self);
    allocator = impl->allocator;
    writing = impl->writing;
    max_pending = impl->run.max_pending;
    lock_memory = impl->run.lock_memory;
    stride_align = impl->run.stride_align;
    wanted = impl->run.backend;
  }

  /* What we hold: the queue, the buffer the worker writes, the last sample,
   * plus one for upstream's work in progress. Always said, also when no pool
   * is wanted or offered: an element that allocates for several consumers
   * (tee takes the largest min of its branches) must know it. */
  const guint min = (writing ? max_pending + 2 : 1) + 1;
  const guint size = guint (GST_VIDEO_INFO_SIZE (&info));
  GstCapsFeatures *f = gst_caps_get_features (caps, 0);
  const bool dmabuf_caps = f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_DMABUF);
  const bool fallback
      = allocator
        && gst_dmakit_allocator_get_backend (allocator.get ()) == GST_DMAKIT_BACKEND_MEMFD;
  if (need_pool && !dmabuf_caps
      && (!allocator || (fallback && wanted == GST_DMAKIT_BACKEND_AUTO))) {
    /* System-memory caps and no DMA-BUF here: nothing asked for an fd, and
     * the memfd fallback would cost one per buffer (max-pending + 3 of them,
     * enough to exhaust a small RLIMIT_NOFILE). Plain system memory, in our
     * pool. An explicit backend=memfd still gets memfd memory. */
    allocator.reset (gst_allocator_find (GST_ALLOCATOR_SYSMEM));
  } else if (!need_pool || !allocator || (dmabuf_caps && fallback)) {
    if (need_pool && allocator)
      GST_INFO_OBJECT (self, "no DMA-BUF backend here: no pool for %" GST_PTR_FORMAT, caps);
    gst_query_add_allocation_pool (query, nullptr, size, min, 0);
    return TRUE;
  }

  auto pool = ObjectRef<GstBufferPool>::adopt (gst_dmakit_buffer_pool_new ());
  /* the pool posts its errors (activation, exhaustion) on our bus */
  gst_dmakit_buffer_pool_set_element (pool.get (), GST_ELEMENT (self));
  GstStructure *config = gst_buffer_pool_get_config (pool.get ());
  gst_buffer_pool_config_set_params (config, caps, size, min, 0);
  gst_buffer_pool_config_set_allocator (config, allocator.get (), nullptr);
  gst_dmakit_buffer_pool_config_set_lock_memory (config, lock_memory);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (stride_align > 1) {
    GstVideoAlignment align;
    gst_video_alignment_reset (&align);
    for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
      align.stride_align[i] = stride_align - 1;
    gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    gst_buffer_pool_config_set_video_alignment (config, &align);
  }
  if (!gst_buffer_pool_set_config (pool.get (), config)) {
    GST_WARNING_OBJECT (self, "could not configure a pool to propose for %" GST_PTR_FORMAT, caps);
    gst_query_add_allocation_pool (query, nullptr, size, min, 0);
    return TRUE;
  }
  gst_query_add_allocation_pool (query, pool.get (), size, min, 0);
  gst_query_add_allocation_param (query, allocator.get (), nullptr);
  const char *nick
      = gst_is_dmakit_allocator (allocator.get ()) ? backend_nick (allocator.get ()) : "system";
  impl->backend.store (nick);
  GST_DEBUG_OBJECT (self, "proposed GstDmakitBufferPool (%s) min %u for %" GST_PTR_FORMAT, nick,
                    min, caps);
  return TRUE;
}

} // namespace sink
} // namespace dmakit
