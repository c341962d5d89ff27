/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-queue.cpp: the hand-off between dmakitsink's streaming thread
 * and its writer (see dmakitsink-queue.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitsink-queue.h"

#include <new>
#include <utility>

namespace dmakit
{
namespace sink
{

namespace
{

/* g_mutex_lock()/unlock() for a scope. */
class [[nodiscard]] Locker
{
public:
  explicit Locker (GMutex *m) noexcept : m_ (m) { g_mutex_lock (m_); }
  ~Locker () { g_mutex_unlock (m_); }
  Locker (const Locker &) = delete;
  Locker &operator= (const Locker &) = delete;

private:
  GMutex *m_;
};

} // namespace

WriteQueue::WriteQueue () noexcept
{
  g_mutex_init (&lock_);
  g_cond_init (&room_);
  g_cond_init (&data_);
}

WriteQueue::~WriteQueue ()
{
  close ();
  g_cond_clear (&data_);
  g_cond_clear (&room_);
  g_mutex_clear (&lock_);
}

bool
WriteQueue::open (guint capacity) noexcept
{
  close ();
  std::unique_ptr<Entry[]> entries (new (std::nothrow) Entry[capacity]);
  if (!entries)
    return false;
  Locker l (&lock_);
  entries_ = std::move (entries);
  capacity_ = capacity;
  head_ = tail_ = 0;
  busy_ = quit_ = flushing_ = failing_ = failed_ = false;
  streaming_waiting_ = writer_waiting_ = false;
  return true;
}

void
WriteQueue::close () noexcept
{
  std::unique_ptr<Entry[]> entries;
  guint64 h, t;
  guint cap;
  {
    Locker l (&lock_);
    entries = std::move (entries_);
    h = head_;
    t = tail_;
    cap = capacity_;
    head_ = tail_ = 0;
    capacity_ = 0;
  }
  for (; entries && h != t; h++)
    if (GstBuffer *b = std::exchange (entries[h % cap].buf, nullptr))
      gst_buffer_unref (b);
}

guint64
WriteQueue::depth () noexcept
{
  Locker l (&lock_);
  return tail_ - head_;
}

void
WriteQueue::wake_streaming_locked () noexcept
{
  if (streaming_waiting_)
    g_cond_signal (&room_);
}

WriteQueue::Push
WriteQueue::try_push (GstBuffer *buf, const Layout &layout, Op op, guint64 offset, bool control,
                      guint64 *depth) noexcept
{
  Locker l (&lock_);
  if (failed_)
    return Push::Failed;
  if (failing_)
    return Push::Failing;
  if (tail_ - head_ < capacity_) {
    Entry &e = entries_[tail_ % capacity_];
    e.buf = buf ? gst_buffer_ref (buf) : nullptr;
    e.layout = layout;
    e.op = op;
    e.offset = offset;
    e.sync_after = buf && GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_SYNC_AFTER);
    e.pts = buf ? GST_BUFFER_PTS (buf) : GST_CLOCK_TIME_NONE;
    e.duration = buf ? GST_BUFFER_DURATION (buf) : GST_CLOCK_TIME_NONE;
    tail_++;
    *depth = tail_ - head_;
    if (writer_waiting_)
      g_cond_signal (&data_);
    return Push::Queued;
  }
  if (!control && flushing_)
    return Push::Flushing;
  return Push::Full;
}

void
WriteQueue::wait_room (bool control) noexcept
{
  Locker l (&lock_);
  streaming_waiting_ = true;
  while (!failed_ && !(!control && flushing_) && (failing_ || tail_ - head_ >= capacity_))
    g_cond_wait (&room_, &lock_);
  streaming_waiting_ = false;
}

WriteQueue::Drain
WriteQueue::wait_drained () noexcept
{
  Locker l (&lock_);
  streaming_waiting_ = true;
  while ((tail_ != head_ || busy_) && !failed_ && !flushing_)
    g_cond_wait (&room_, &lock_);
  streaming_waiting_ = false;
  if (failed_)
    return Drain::Failed;
  if (tail_ == head_ && !busy_)
    return Drain::Done;
  return Drain::Flushing;
}

void
WriteQueue::set_flushing (bool flushing) noexcept
{
  Locker l (&lock_);
  flushing_ = flushing;
  wake_streaming_locked ();
}

void
WriteQueue::quit () noexcept
{
  Locker l (&lock_);
  quit_ = true;
  g_cond_signal (&data_);
}

bool
WriteQueue::pop (Entry *entry) noexcept
{
  Locker l (&lock_);
  /* the previous entry is done: a drain may be waiting for that */
  busy_ = false;
  while (tail_ == head_) {
    wake_streaming_locked ();
    if (quit_)
      return false;
    writer_waiting_ = true;
    g_cond_wait (&data_, &lock_);
    writer_waiting_ = false;
  }
  Entry &e = entries_[head_ % capacity_];
  entry->buf = std::exchange (e.buf, nullptr);
  entry->layout = e.layout;
  entry->op = e.op;
  entry->offset = e.offset;
  entry->sync_after = e.sync_after;
  entry->pts = e.pts;
  entry->duration = e.duration;
  head_++;
  /* busy until the next pop, so that a drain never sees an empty queue
   * while an entry is being written */
  busy_ = true;
  wake_streaming_locked ();
  return true;
}

guint64
WriteQueue::fail_begin () noexcept
{
  Locker l (&lock_);
  failing_ = true;
  guint64 n = 0;
  for (guint64 h = head_; h != tail_; h++)
    n += entries_[h % capacity_].buf ? 1 : 0; /* seeks and truncations carry no buffer */
  return n;
}

void
WriteQueue::fail_end () noexcept
{
  guint64 h, t;
  {
    Locker l (&lock_);
    failed_ = true;
    h = head_;
    t = tail_;
    head_ = tail_;
    wake_streaming_locked ();
  }
  /* Nothing is queued any more once failed_ is set: these entries are ours. */
  for (; h != t; h++)
    if (GstBuffer *b = std::exchange (entries_[h % capacity_].buf, nullptr))
      gst_buffer_unref (b);
}

bool
WriteQueue::failing () noexcept
{
  Locker l (&lock_);
  return failing_;
}

} // namespace sink
} // namespace dmakit
