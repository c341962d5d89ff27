/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-refill.cpp: the life of a started GstDmakitBufferPool:
 * preallocation and the refill thread on start, teardown on stop. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"

#include <cerrno>
#include <chrono>
#include <utility>

#include <sys/resource.h>

#define GST_CAT_DEFAULT gst_dmakit_buffer_pool_debug

namespace dmakit
{
namespace pool
{
/* (M, @lk holds it) A refill allocation failed: count it, warn the first
 * time (without the mutex), and retry in 50 ms. */
static void
refill_failed (GstDmakitBufferPool *self, std::unique_lock<std::mutex> &lk,
               const gchar *what) noexcept
{
  Impl &s = *self->impl;
  s.stats.alloc_failures++;
  if (!s.alloc_warned) {
    s.alloc_warned = true;
    const size_t allocated = s.allocated ();
    lk.unlock ();
    GST_WARNING_OBJECT (self, "refill: %s (%u bytes from %s, %zu allocated); retrying every 50 ms",
                        what, s.lay.size, s.lay.describe.c_str (), allocated);
    lk.lock ();
  }
  s.refill_cv.wait_for (lk, std::chrono::milliseconds (50));
}

static gpointer
refill_thread_main (gpointer data) noexcept
{
  /* No ref on the pool: stop()/finalize join this thread before it goes away. */
  GstDmakitBufferPool *self = static_cast<GstDmakitBufferPool *> (data);
  Impl &s = *self->impl;
  GST_DEBUG_OBJECT (self, "refill thread running");
  std::unique_lock<std::mutex> lk (s.mutex);
  while (!s.quit) {
    if (s.grave_n > 0) {
      Slot dead = s.graveyard[--s.grave_n];
      s.graveyard[s.grave_n] = Slot ();
      lk.unlock ();
      free_slot (dead);
      lk.lock ();
      continue;
    }
    if (s.refill_needed ()) {
      if (!s.reserve (s.allocated () + s.pending + 1)) {
        /* no room to track one more buffer: as if the allocation failed */
        refill_failed (self, lk, "out of memory for the table of one more buffer");
        continue;
      }
      const guint32 id = s.take_id (); /* refill_needed(): there is one */
      s.pending++;
      lk.unlock ();
      Slot slot;
      const GstFlowReturn ret = alloc_one (self, &slot);
      lk.lock ();
      s.pending--;
      slot.id = id;
      if (ret == GST_FLOW_OK && register_slot (self, s, slot)) {
        push_other (s, slot); /* has an id: always fits */
        s.stats.refills++;
        s.asked = false;
        continue;
      }
      if (ret == GST_FLOW_OK) {
        /* register_slot() gave the id back */
        lk.unlock ();
        free_slot (slot);
        lk.lock ();
      } else {
        s.give_id (id);
      }
      refill_failed (self, lk, "could not allocate a buffer");
      continue;
    }
    s.refill_idle.store (true, std::memory_order_relaxed);
    s.refill_cv.wait (lk);
    s.refill_idle.store (false, std::memory_order_relaxed);
  }
  s.refill_idle.store (false, std::memory_order_relaxed);
  GST_DEBUG_OBJECT (self, "refill thread exiting");
  return nullptr;
}

/* Stop the refill thread and free every buffer the pool holds that is not
 * out. Idempotent. Called from stop(), set_config() and finalize, never with
 * the mutex held. */
void
shutdown_pool (GstDmakitBufferPool *self) noexcept
{
  Impl &s = *self->impl;
  GThread *thread;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.quit = true;
    s.running = false;
    thread = std::exchange (s.refill_thread, nullptr);
  }
  s.refill_cv.notify_all ();
  if (thread)
    g_thread_join (thread);

  /* one at a time, each freed without the mutex: no container to grow */
  size_t freed = 0, still_out = 0;
  for (;;) {
    Slot dead;
    bool have = false;
    {
      std::lock_guard<std::mutex> lk (s.mutex);
      while (!have) {
        GstBuffer *buf = s.stack.pop ();
        if (!buf)
          break;
        s.drained.add (1);
        have = unregister_slot (s, buf, &dead);
      }
      if (!have && s.grave_n > 0) {
        dead = s.graveyard[--s.grave_n];
        s.graveyard[s.grave_n] = Slot ();
        have = true;
      }
      if (!have)
        still_out = s.table.size ();
    }
    if (!have)
      break;
    free_slot (dead);
    freed++;
  }
  if (freed)
    GST_DEBUG_OBJECT (self, "freed %zu buffers", freed);
  if (still_out)
    GST_WARNING_OBJECT (self,
                        "%zu buffers still out after shutdown; each is freed when it "
                        "comes back",
                        still_out);
}

/* A failed activation: log it, and post an error naming the pool, the buffer
 * size, the count and the errno on the pool's element (set_element() or the
 * parent), the way GST_ELEMENT_ERROR would. Without the mutex (the base
 * class holds its own lock around start()). */
static void
report_activation_failure (GstDmakitBufferPool *self, guint count, guint done, int err,
                           const gchar *what) noexcept
{
  Impl &s = *self->impl;
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  const guint size = s.lay.size;
  const gchar *reason = err ? g_strerror (err) : "the allocator gave no reason";
  struct rlimit nofile = {};
  getrlimit (RLIMIT_NOFILE, &nofile);
  gchar *debug = g_strdup_printf (
      "pool %s: could not preallocate %u buffers of %u bytes from %s: buffer %u of %u failed "
      "(%s): %s (errno %d); RLIMIT_NOFILE %" G_GUINT64_FORMAT,
      name, count, size, s.lay.describe.c_str (), done + 1, count, what, reason, err,
      guint64 (nofile.rlim_cur));
  GST_ERROR_OBJECT (self, "activation failed: %s", debug);
  ObjectRef<GstElement> element
      = ObjectRef<GstElement>::adopt (gst_dmakit_buffer_pool_get_element (GST_BUFFER_POOL (self)));
  if (element) {
    const gint code = err == ENOMEM || err == EMFILE || err == ENFILE || err == ENOSPC
                          ? GST_RESOURCE_ERROR_NO_SPACE_LEFT
                          : GST_RESOURCE_ERROR_FAILED;
    GError *gerr = g_error_new (GST_RESOURCE_ERROR, code,
                                "Buffer pool %s could not allocate %u buffers of %u bytes: "
                                "buffer %u failed: %s",
                                name, count, size, done + 1, reason);
    GstMessage *msg = gst_message_new_error (GST_OBJECT (element.get ()), gerr, debug);
    gst_element_post_message (element.get (), msg);
    g_error_free (gerr);
  }
  g_free (debug);
  g_free (name);
}

/* Preallocate min buffers and start the refill thread. */
gboolean
start_pool (GstDmakitBufferPool *self) noexcept
{
  Impl &s = *self->impl;
  Settings set;
  Layout lay;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    set = s.set;
    lay = s.configured;
  }
  /* devices are opened and probed here, on activation, never in set_config */
  int err = 0;
  const gchar *what = "allocator setup";
  if (!fit_layout (self, &lay, &err, &what)) {
    report_activation_failure (self, set.min, 0, err, what);
    return FALSE;
  }
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.lay = std::move (lay);
    s.hot_size.store (s.lay.size, std::memory_order_relaxed);
  }

  s.lock_warned.store (false);
  /* Each buffer is registered as soon as it is made: the table grows with
   * the buffers actually allocated, and nothing else is collected. */
  for (guint i = 0; i < set.min; i++) {
    Slot slot;
    errno = 0;
    if (alloc_one (self, &slot) != GST_FLOW_OK) {
      const int err = errno;
      shutdown_pool (self);
      report_activation_failure (self, set.min, i, err, "allocation failed");
      return FALSE;
    }
    bool kept = false, room = true;
    {
      std::lock_guard<std::mutex> lk (s.mutex);
      room = s.reserve (s.table.size () + 1);
      if (room) {
        slot.id = s.take_id ();
        if (register_slot (self, s, slot)) {
          kept = push_other (s, slot);
          if (!kept) {
            Slot gone;
            unregister_slot (s, slot.buf, &gone);
          }
        }
      }
    }
    if (!kept)
      free_slot (slot);
    if (!room) {
      shutdown_pool (self);
      report_activation_failure (self, set.min, i, ENOMEM, "no memory to track the buffer");
      return FALSE;
    }
  }

  {
    std::lock_guard<std::mutex> lk (s.mutex);
    s.quit = false;
    s.running = true;
    s.inactive_noted = false;
    s.asked = false;
    s.alloc_warned = false;
  }

  if (set.refill) {
    GError *err = nullptr;
    GThread *thread = g_thread_try_new ("dmakit-refill", refill_thread_main, self, &err);
    if (!thread) {
      GST_ERROR_OBJECT (self, "activation failed: could not start the refill thread: %s",
                        err ? err->message : "unknown error");
      g_clear_error (&err);
      shutdown_pool (self);
      report_activation_failure (self, set.min, set.min, EAGAIN,
                                 "could not start the refill thread");
      return FALSE;
    }
    std::lock_guard<std::mutex> lk (s.mutex);
    s.refill_thread = thread;
  }
  GST_DEBUG_OBJECT (self,
                    "started: %u buffers of %u bytes from %s, max %u, refill %s, "
                    "low watermark %u",
                    set.min, s.lay.size, s.lay.describe.c_str (), set.max,
                    set.refill ? "on" : "off", set.low_watermark);
  return TRUE;
}

} // namespace pool
} // namespace dmakit
