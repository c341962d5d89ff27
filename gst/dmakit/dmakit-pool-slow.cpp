/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-slow.cpp: the slow paths of acquire and release: an empty
 * pool (allocate, wait, time out), discards, flushing and deactivation. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"

#include <chrono>

#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug

namespace dmakit
{
namespace pool
{
/* Post (and log) the warning of an acquire that timed out. Without the mutex. */
static void
report_timeout (GstDmakitBufferPool *self, guint64 out, size_t allocated, guint max, guint size,
                guint64 waited_ns, GstClockTime timeout, GstDmakitTimeoutAction action) noexcept
{
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  const bool fail = action == GST_DMAKIT_TIMEOUT_ACTION_FAIL;
  GST_WARNING_OBJECT (
      self,
      "buffer pool %s exhausted: waited %.3f ms for a free buffer; %" G_GUINT64_FORMAT
      " buffers of %u bytes out (%zu allocated, max %u); %s",
      name, waited_ns / 1e6, out, size, allocated, max,
      fail ? "failing the acquire" : "still waiting");
  ObjectRef<GstElement> element
      = ObjectRef<GstElement>::adopt (gst_dmakit_buffer_pool_get_element (GST_BUFFER_POOL (self)));
  if (element) {
    GError *err
        = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY,
                       "Buffer pool %s ran out of buffers: waited %.1f ms, %" G_GUINT64_FORMAT
                       " of %u-byte buffers out",
                       name, waited_ns / 1e6, out, size);
    gchar *debug = g_strdup_printf (
        "pool %s: %" G_GUINT64_FORMAT
        " buffers of %u bytes out, %zu allocated, max %u; waited %" G_GUINT64_FORMAT
        " ns (timeout %" G_GUINT64_FORMAT " ns); %s",
        name, out, size, allocated, max, waited_ns, guint64 (timeout),
        fail ? "failing" : "still waiting");
    GstStructure *details = gst_structure_new (
        GST_DMAKIT_BUFFER_POOL_TIMEOUT_DETAILS, "pool-name", G_TYPE_STRING, name, "size",
        G_TYPE_UINT, size, "outstanding", G_TYPE_UINT, guint (out), "allocated", G_TYPE_UINT,
        guint (allocated), "max-buffers", G_TYPE_UINT, max, "waited-ns", G_TYPE_UINT64, waited_ns,
        "timeout-ns", G_TYPE_UINT64, guint64 (timeout), "action", GST_DMAKIT_TYPE_TIMEOUT_ACTION,
        action, nullptr);
    GstMessage *msg
        = gst_message_new_warning_with_details (GST_OBJECT (element.get ()), err, debug, details);
    gst_element_post_message (element.get (), msg);
    g_error_free (err);
    g_free (debug);
  }
  g_free (name);
}

GstFlowReturn
acquire_slow (GstDmakitBufferPool *self, GstBuffer **buffer,
              GstBufferPoolAcquireParams *params) noexcept
{
  Impl &s = *self->impl;
  const bool dontwait = params && (params->flags & GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT);
  std::unique_lock<std::mutex> lk (s.mutex);
  const GstClockTime timeout = s.set.timeout;
  const bool timed = GST_CLOCK_TIME_IS_VALID (timeout) && timeout > 0;
  bool counted_exhausted = false, waited = false, gave_up_slot = false;
  guint64 wait_start = 0;
  std::chrono::steady_clock::time_point deadline;
  GstFlowReturn ret;

  for (;;) {
    if (s.flushing) {
      ret = GST_FLOW_FLUSHING;
      break;
    }
    if ((*buffer = s.stack.pop ())) {
      ret = GST_FLOW_OK;
      break;
    }
    /* No free buffer. Below max somebody must allocate, or this acquire
     * would wait for a buffer nobody produces:
     *  - refill off (or the pool not started): this thread, like the stock
     *    pool;
     *  - refill on: always the refill thread, never this one. A blocking
     *    acquire counts itself in waiters, a DONTWAIT one sets asked, before
     *    waking it, so refill_needed() holds for it whatever the watermark;
     *  - refill on, but every id taken (more than max(256, 2 x min) buffers
     *    live with max-buffers 0, or above kMaxIds): the refill thread cannot
     *    pool more; this thread allocates an extra buffer, freed on return.
     * At max, a release (or flushing) wakes the waiters. */
    const bool can_grow = s.can_grow ();
    if (can_grow && (!s.set.refill || !s.running || s.free_ids.empty ())) {
      if (!s.reserve (s.allocated () + s.pending + 1)) {
        s.stats.alloc_failures++;
        const size_t allocated = s.allocated ();
        lk.unlock ();
        GST_WARNING_OBJECT (self, "out of memory for the table of %zu buffers", allocated + 1);
        lk.lock ();
        ret = GST_FLOW_ERROR;
        break;
      }
      const guint32 id = s.take_id ();
      s.pending++;
      lk.unlock ();
      Slot slot;
      ret = alloc_one (self, &slot);
      lk.lock ();
      s.pending--;
      slot.id = id;
      if (ret != GST_FLOW_OK)
        s.give_id (id);
      else if (!register_slot (self, s, slot)) /* gives the id back */
        ret = GST_FLOW_ERROR;
      if (ret != GST_FLOW_OK) {
        s.stats.alloc_failures++;
        const guint64 failures = s.stats.alloc_failures;
        /* Others may wait because our allocation counted towards max: it is
         * free again, they must look again (below, on leaving). */
        gave_up_slot = true;
        lk.unlock ();
        if (slot.buf)
          free_slot (slot);
        GST_WARNING_OBJECT (self,
                            "could not allocate a %u-byte buffer from %s "
                            "(%" G_GUINT64_FORMAT " failures)",
                            s.lay.size, s.lay.describe.c_str (), failures);
        lk.lock ();
        ret = GST_FLOW_ERROR;
        break;
      }
      if (s.flushing && push_other (s, slot)) {
        ret = GST_FLOW_FLUSHING;
        break;
      }
      *buffer = slot.buf;
      s.direct.add (1);
      break;
    }
    if (!can_grow && !counted_exhausted) {
      s.stats.exhausted++;
      counted_exhausted = true;
    }
    if (dontwait) {
      if (can_grow) {
        /* refill on: ask the refill thread for one, so that a retry finds it */
        s.asked = true;
        s.wake_refill_locked ();
      }
      ret = GST_FLOW_EOS;
      break;
    }
    if (!waited) {
      waited = true;
      s.stats.waits++;
      wait_start = monotonic_ns ();
      if (timed)
        deadline = std::chrono::steady_clock::now () + std::chrono::nanoseconds (timeout);
    }
    /* Count ourselves before asking the refill thread: with a low watermark
     * of 0 we are the only reason for it to allocate. */
    s.waiters++;
    s.wake_refill_locked ();
    /* Ask the next push to wake us; a buffer pushed meanwhile: take it. */
    if (s.stack.announce_waiter ()) {
      s.waiters--;
      continue;
    }
    bool timed_out = false;
    if (timed)
      timed_out = s.buffer_cv.wait_until (lk, deadline) == std::cv_status::timeout;
    else
      s.buffer_cv.wait (lk);
    s.waiters--;
    if (timed_out && !s.flushing && s.stack.size () == 0) {
      s.stats.timeouts++;
      const guint64 out = s.acquires () - s.releases ();
      const size_t allocated = s.allocated ();
      const guint max = s.set.max;
      const guint size = s.lay.size;
      const GstDmakitTimeoutAction action = s.set.action;
      const guint64 waited_ns = monotonic_ns () - wait_start;
      lk.unlock ();
      report_timeout (self, out, allocated, max, size, waited_ns, timeout, action);
      lk.lock ();
      if (action == GST_DMAKIT_TIMEOUT_ACTION_FAIL) {
        ret = GST_FLOW_ERROR;
        break;
      }
      deadline += std::chrono::nanoseconds (timeout);
    }
  }

  if (waited) {
    const guint64 w = monotonic_ns () - wait_start;
    s.stats.wait_total_ns += w;
    s.stats.wait_max_ns = std::max (s.stats.wait_max_ns, w);
  }
  /* we leave without a buffer while one is free, or while the slot our failed
   * allocation held is free again, and others sleep: pass it on */
  const bool pass_on = ret != GST_FLOW_OK && s.waiters > 0 && (s.stack.size () > 0 || gave_up_slot);
  lk.unlock ();
  if (pass_on)
    s.buffer_cv.notify_all ();
  if (ret == GST_FLOW_OK)
    after_acquire (s);
  return ret;
}

/* The buffer leaves the pool, or the hot path could not tell its id. With
 * nothing held. */
void
release_slow (GstDmakitBufferPool *self, GstBuffer *buffer, const gchar *reason,
              bool inactive) noexcept
{
  Impl &s = *self->impl;
  std::unique_lock<std::mutex> lk (s.mutex);
  const Slot *slot = s.table.find (buffer);
  if (slot && !reason && !inactive && slot->generation == s.generation) {
    if (slot->id != kNoId) {
      /* the id lookup overlapped a deletion from the id map: push it here */
      bool wake = false;
      s.stack.push (slot->id, &wake);
      lk.unlock ();
      if (wake)
        s.buffer_cv.notify_all ();
      return;
    }
    reason = "it is an extra buffer beyond the ids of the pool's free stack";
  }

  s.slow_releases.add (1);
  Slot dead;
  dead.buf = buffer;
  const bool tracked = slot != nullptr;
  if (tracked) {
    if (!reason && slot->generation != s.generation) {
      reason = "it belongs to an older configuration";
      s.stats.stale++;
    } else if (reason) {
      s.stats.discards++;
    }
    unregister_slot (s, buffer, &dead);
  }
  bool note_inactive = false;
  size_t idle_n = 0;
  if (inactive && !s.inactive_noted) {
    /* first buffer back after a deactivation: free the idle ones too (below,
     * one at a time without the mutex) */
    s.inactive_noted = true;
    note_inactive = true;
    idle_n = s.stack.size ();
  }
  const guint64 out_after = s.acquires () - s.releases ();
  /* While active, the refill thread frees it (and replaces it); after a
   * deactivation the returning thread does, right now. */
  const bool to_grave = !inactive && s.refill_thread && tracked && s.grave_n < s.graveyard.size ();
  if (to_grave)
    s.graveyard[s.grave_n++] = dead;
  const bool kick = to_grave && s.refill_idle.load (std::memory_order_relaxed);
  if (kick)
    s.refill_idle.store (false, std::memory_order_relaxed);
  /* a slot below max-buffers opened: sleepers may allocate (refill off) */
  const bool wake = s.waiters > 0;
  lk.unlock ();

  if (note_inactive)
    GST_INFO_OBJECT (self,
                     "pool deactivated with %" G_GUINT64_FORMAT " buffers out (besides "
                     "this one); freeing each as it comes back, and %zu idle ones now",
                     out_after, idle_n);
  if (reason)
    GST_CAT_DEBUG_OBJECT (gst_dmakit_buffer_pool_performance, self, "discarding buffer %p: %s",
                          buffer, reason);
  if (!tracked)
    GST_WARNING_OBJECT (self, "buffer %p is not one of this pool's; freeing it", buffer);
  if (kick)
    s.refill_cv.notify_one ();
  if (wake)
    s.buffer_cv.notify_all ();
  if (!to_grave)
    free_slot (dead);
  if (note_inactive) {
    for (;;) {
      Slot islot;
      bool have = false;
      {
        std::lock_guard<std::mutex> lk2 (s.mutex);
        /* stop if the pool was activated again meanwhile */
        while (!have && s.flushing) {
          GstBuffer *idle = s.stack.pop ();
          if (!idle)
            break;
          s.drained.add (1);
          have = unregister_slot (s, idle, &islot);
        }
      }
      if (!have)
        break;
      free_slot (islot);
    }
  }
}

} // namespace pool
} // namespace dmakit
