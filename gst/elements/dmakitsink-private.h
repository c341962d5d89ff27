/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-private.h: what the files of dmakitsink share: its Settings,
 * its State, its counters and the functions each file implements.
 *
 *   gstdmakitsink.cpp        element glue: type, properties, URI handler,
 *                            start/stop, stats
 *   dmakitsink-stream.cpp    the streaming thread: render, caps, events,
 *                            queries, EOS drain, allocation proposal
 *   dmakitsink-queue.cpp     the hand-off to the writer (WriteQueue)
 *   dmakitsink-writer.cpp    the output: opening it, the writer thread's I/O,
 *                            seeks, truncation, the index
 *   dmakitsink-errors.cpp    what the user is told when writing fails
 *
 * Plugin-private header (not installed). */
#ifndef DMAKITSINK_PRIVATE_H
#define DMAKITSINK_PRIVATE_H

#include "dmakit-element-util.h"
#include "dmakitsink-queue.h"
#include "gstdmakitsink.h"

#include <atomic>
#include <sys/uio.h>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_sink_debug);
GST_DEBUG_CATEGORY_EXTERN (gst_dmakit_sink_performance);
#define GST_CAT_DEFAULT gst_dmakit_sink_debug
#define GST_CAT_PERFORMANCE gst_dmakit_sink_performance

namespace dmakit
{
namespace sink
{

constexpr guint kDefaultMaxPending = 8;
constexpr guint kMaxMaxPending = 4096;
constexpr guint kMaxStrideAlign = 4096;
/* When the element stops and its output (a pipe, FIFO or socket) takes no
 * data for this long, the writer gives up on what is left (and says so)
 * instead of blocking the state change for ever. */
constexpr int kStopGraceMs = 1000;

/* Property values. Guarded by the object lock; copied out at start (into
 * Impl::run), and read by nothing else while streaming except overrun,
 * which is mirrored in an atomic because it may change while playing. */
struct Settings {
  GCharPtr location;
  GCharPtr uri; /* location as a file:// URI (GstURIHandler) */
  GCharPtr index_location;
  bool append = false;
  guint max_pending = kDefaultMaxPending;
  GstDmakitSinkOverrun overrun = GST_DMAKIT_SINK_OVERRUN_BLOCK;
  GstDmakitBackend backend = GST_DMAKIT_BACKEND_AUTO;
  bool lock_memory = false;
  guint stride_align = 0;
};

/* Built in start, dropped in stop. Written before the writer thread starts
 * and after it was joined; in between each field belongs to the thread its
 * comment names, so it needs no lock. */
struct State {
  UniqueFd fd;
  /* For outputs that are not regular files (pipes, FIFOs, sockets, ttys):
   * the fd is non-blocking and the writer polls it together with this
   * eventfd, which stop() signals, so that stopping never waits for a reader
   * that does not read. -1 for regular files, whose writes do not block. */
  UniqueFd wake_fd;
  UniqueFd index_fd;   /* the sidecar index, or -1 */
  bool append = false; /* opened with O_APPEND */
  GThread *worker = nullptr;

  /* Streaming thread only. */
  Layout layout;
  /* Where the next accepted byte will land once the writer gets to it (what
   * filesink calls its current position): moved by accepted buffers, BYTES
   * segments and flushes. Mirrored in Impl::pos_for_query. */
  guint64 pos = 0;

  /* Writer thread only. */
  std::vector<iovec> iov;      /* reserved in start */
  std::vector<guint8> staging; /* grows once to the largest odd-edge frame */
  guint64 wpos = 0;            /* file offset of the next write */
};

/* Counters for the stats property and message: atomics, read from any
 * thread without a lock. Reset in start. */
struct Stats {
  std::atomic<guint64> rendered{ 0 };
  std::atomic<guint64> dropped{ 0 };
  std::atomic<guint64> written{ 0 };
  std::atomic<guint64> zero_copy{ 0 };
  std::atomic<guint64> copies{ 0 };
  std::atomic<guint64> bytes_written{ 0 };
  std::atomic<guint64> max_queue_depth{ 0 };
  std::atomic<guint64> max_block_ns{ 0 };   /* longest wait for room (or a failure report) */
  std::atomic<guint64> block_start_ns{ 0 }; /* start of the streaming thread's current wait, or 0 */
  std::atomic<guint64> max_enqueue_ns{ 0 }; /* longest hand-off, wall clock, preemption included */
  std::atomic<guint64> write_errors{ 0 };
  std::atomic<guint64> not_written{ 0 };
  std::atomic<guint64> seeks{ 0 };
};

/* Locks, in the order they may be taken: basesink's PREROLL lock (held by
 * basesink around render and wait_event), then the WriteQueue's lock. The
 * object lock is taken alone, for a copy or an assignment. */
struct Impl {
  /* Guarded by the object lock. */
  Settings settings;
  /* Written by start() and stop() under the object lock, constant in
   * between. propose_allocation() can be called on a streaming thread while
   * the element starts or stops (a query reaches a sink that is being shut
   * down), so it reads them under the object lock. */
  Settings run;
  ObjectRef<GstAllocator> allocator; /* offered upstream with our pools */
  bool writing = false;              /* a location is open and the worker runs */
  bool seekable = false;             /* lseek() works on the output */

  std::atomic<int> overrun{ GST_DMAKIT_SINK_OVERRUN_BLOCK };
  std::atomic<const char *> backend{ "none" }; /* its backend's nick, kept after stop */
  std::atomic<bool> stopping{ false };
  std::atomic<guint64> pos_for_query{ 0 };

  WriteQueue queue; /* its own lock */
  State state;
  Stats stats;
};

/* Raises @a to @v if @v is larger. */
inline void
atomic_max (std::atomic<guint64> &a, guint64 v) noexcept
{
  guint64 cur = a.load (std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak (cur, v, std::memory_order_relaxed))
    ;
}

} // namespace sink
} // namespace dmakit

struct _GstDmakitSink {
  GstBaseSink parent;
  dmakit::sink::Impl *impl;
};

namespace dmakit
{
namespace sink
{

/* gstdmakitsink.cpp */
GstBaseSinkClass *parent_class () noexcept;
GstStructure *build_stats (GstDmakitSink *self) noexcept;

/* dmakitsink-stream.cpp */
GstFlowReturn render (GstBaseSink *sink, GstBuffer *buf) noexcept;
gboolean set_caps (GstBaseSink *sink, GstCaps *caps) noexcept;
GstFlowReturn wait_event (GstBaseSink *sink, GstEvent *event) noexcept;
gboolean unlock (GstBaseSink *sink) noexcept;
gboolean unlock_stop (GstBaseSink *sink) noexcept;
gboolean event (GstBaseSink *sink, GstEvent *event) noexcept;
gboolean handle_query (GstBaseSink *sink, GstQuery *query) noexcept;
gboolean propose_allocation (GstBaseSink *sink, GstQuery *query) noexcept;

/* dmakitsink-writer.cpp */
/* What failed: writing data, moving the write position, or the index. */
enum class Failure { Write, Seek, Index };

struct WriteResult {
  int err = 0;                /* errno of a failed write, or 0 */
  const char *what = nullptr; /* a problem with the buffer itself */
  Failure kind = Failure::Write;
};

/* dmakitsink-errors.cpp: posts the error (or warning) for @res, which lost
 * @not_written accepted buffers, @failed_buf among them. Writer thread. */
void post_write_error (GstDmakitSink *self, const WriteResult &res, GstBuffer *failed_buf,
                       guint64 not_written) noexcept;

/* The writer thread (g_thread_try_new(), @data is the element). */
gpointer writer_main (gpointer data) noexcept;
/* Opens impl->run's location (and index) as filesink does: truncated, or
 * appended to; a pipe, FIFO, socket or device non-blocking, with the eventfd
 * stop() signals. Sets *@seekable. On failure posts the error and returns
 * false; the caller releases what was opened. Before the writer starts. */
bool open_output (GstDmakitSink *self, bool *seekable) noexcept;
/* The size the writer will write for @buf (what moves the position): the
 * default layout of the cropped frame for video, else the buffer's size. */
guint64 written_size (GstBuffer *buf, const Layout &layout) noexcept;

} // namespace sink
} // namespace dmakit

#endif /* DMAKITSINK_PRIVATE_H */
