/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-queue.h: the hand-off between dmakitsink's streaming thread
 * and its writer thread: a bounded queue of entries, allocated at start.
 *
 * Plugin-private header (not installed). */
#ifndef DMAKITSINK_QUEUE_H
#define DMAKITSINK_QUEUE_H

#include <gst/gst.h>
#include <gst/video/video.h>

#include <memory>

namespace dmakit
{
namespace sink
{

/* How to write one buffer: each queue entry carries its own copy, so a caps
 * change never affects buffers already queued. */
struct Layout {
  bool video = false;
  GstVideoInfo info{};
};

/* What a queue entry asks the writer to do. Seeks and truncations travel in
 * the same queue as the data, so the writer applies them in stream order. */
enum class Op : guint8 {
  Write,    /* write buf at the current position */
  Seek,     /* move the write position to offset (a BYTES segment) */
  Truncate, /* empty the file and start again at 0 (a flush) */
};

struct Entry {
  GstBuffer *buf = nullptr; /* Op::Write only; the queue's reference */
  Layout layout;
  Op op = Op::Write;
  guint64 offset = 0; /* Op::Seek */
  /* What the writer needs of the buffer besides its memory, read when it is
   * queued: the writer then reads only the buffer's memory and metas. */
  bool sync_after = false; /* GST_BUFFER_FLAG_SYNC_AFTER */
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
};

/* One producer (the streaming thread), one consumer (the writer thread).
 *
 * One mechanism: a GMutex guarding every field, and two GConds, one for
 * each thread that may sleep. The mutex is held only to copy an entry in or
 * out and to flip a flag, never around I/O, a push, a post or a buffer
 * unref, so the streaming thread waits for it at most for one such copy.
 * GLib's mutex and conditions are futexes on Linux: no allocation. A thread
 * is signalled only when it sleeps (the *_waiting flags), so a hand-off to a
 * busy writer costs no system call.
 *
 * The streaming thread sleeps only in wait_room() (overrun=block with a full
 * queue, a seek waiting for room, or the writer reporting a failure) and in
 * wait_drained() (EOS). The writer sleeps only in pop(). */
class WriteQueue
{
public:
  WriteQueue () noexcept;
  ~WriteQueue ();
  WriteQueue (const WriteQueue &) = delete;
  WriteQueue &operator= (const WriteQueue &) = delete;

  /* Allocates @capacity entries (no exception: false when out of memory)
   * and clears every flag. Before the writer starts. */
  bool open (guint capacity) noexcept;
  /* Drops the entries (and any buffer left in them). After the writer
   * stopped. */
  void close () noexcept;
  guint capacity () const noexcept { return capacity_; }
  /* Entries queued, for the stats. */
  guint64 depth () noexcept;

  /* ---- streaming thread ---- */
  enum class Push {
    Queued,   /* in the queue, *@depth entries now */
    Full,     /* no room */
    Failing,  /* the writer is reporting a failure: wait, then Failed */
    Failed,   /* writing failed: nothing is accepted any more */
    Flushing, /* set_flushing (true) (only for entries that are not @control) */
  };
  /* Queues @buf (a new reference is taken) with @layout, or a control entry
   * (@control: a seek or truncation, which flushing does not refuse). */
  Push try_push (GstBuffer *buf, const Layout &layout, Op op, guint64 offset, bool control,
                 guint64 *depth) noexcept;
  /* Sleeps until try_push() may give another answer than Full or Failing. */
  void wait_room (bool control) noexcept;
  enum class Drain { Done, Failed, Flushing };
  /* Sleeps until the writer wrote everything queued, writing failed, or
   * set_flushing (true) was called. */
  Drain wait_drained () noexcept;

  /* ---- any thread (unlock, unlock_stop, stop) ---- */
  void set_flushing (bool flushing) noexcept;
  /* The writer leaves pop() once the queue is empty. */
  void quit () noexcept;

  /* ---- writer thread ---- */
  /* Takes the next entry (the caller owns its buffer), sleeping while the
   * queue is empty; false once quit() was called and the queue is empty. */
  bool pop (Entry *entry) noexcept;
  /* Writing failed: nothing queued will be written. Returns how many queued
   * buffers will not be written; the streaming thread waits in the meantime.
   * Then call fail_end(), once the failure is reported. */
  guint64 fail_begin () noexcept;
  /* Refuses everything from now on, drops the queued buffers and wakes the
   * streaming thread. */
  void fail_end () noexcept;
  bool failing () noexcept;

private:
  void wake_streaming_locked () noexcept;

  /* The lock of the hand-off; taken alone, never with the object lock or a
   * GStreamer lock held inside it (basesink's PREROLL lock may be held
   * around it, never the other way round). */
  GMutex lock_;
  GCond room_; /* streaming thread: room, idle writer, failure or flushing */
  GCond data_; /* writer: an entry or quit */
  std::unique_ptr<Entry[]> entries_;
  guint capacity_ = 0;
  guint64 head_ = 0;  /* next entry to pop */
  guint64 tail_ = 0;  /* next entry to fill */
  bool busy_ = false; /* the writer holds a popped entry */
  bool quit_ = false;
  bool flushing_ = false;
  bool failing_ = false;
  bool failed_ = false;
  bool streaming_waiting_ = false;
  bool writer_waiting_ = false;
};

} // namespace sink
} // namespace dmakit

#endif /* DMAKITSINK_QUEUE_H */
