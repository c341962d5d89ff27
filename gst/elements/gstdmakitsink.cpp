/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-dmakitsink
 * @title: dmakitsink
 * @see_also: filesink, dmakitcrop
 *
 * A sink for zero-copy, real-time pipelines. It proposes a
 * #GstDmakitBufferPool upstream (with the #GstDmakitSink:backend,
 * #GstDmakitSink:lock-memory and #GstDmakitSink:stride-align settings) and
 * accepts #GstVideoMeta, #GstVideoCropMeta and #GstDmakitRoiMeta.
 *
 * It is a drop-in for filesink: `sync` is FALSE by default, it has
 * #GstDmakitSink:append, it handles `file://` URIs, and it answers the
 * SEEKING and POSITION queries and follows BYTES segments and flushes as
 * filesink does, so muxers that rewrite their headers (wavenc, flacenc,
 * matroskamux, qtmux) leave the same file. Seeks travel through the write
 * queue, in order with the data. #GstDmakitSink:index-location adds a text
 * index of every buffer written (offset, size, timestamps, frame layout).
 *
 * With #GstDmakitSink:location set, the streaming thread only hands a
 * reference of each buffer to a worker thread through a bounded queue that
 * was allocated when the element started: no heap allocation and no I/O on
 * the streaming thread. The worker writes each (cropped) video frame in
 * GStreamer's default layout for the cropped size, the bytes
 * `videocrop ! filesink` would write, and any other stream as its buffers
 * come. Without a location the sink consumes and counts.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=100 ! dmakitcrop left=8 ! dmakitsink location=out.yuv sync=false
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdmakitsink.h"
#include "dmakit-element-util.h"
#include "dmakit-videocopy.h"

#include <gst/dmakit/dmakit-raii.h>
#include <gst/dmakit/dmakit.h>
#include <gst/video/video.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <new>
#include <string>
#include <csignal>
#include <linux/futex.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_dmakit_sink_debug);
#define GST_CAT_DEFAULT gst_dmakit_sink_debug
GST_DEBUG_CATEGORY_STATIC (GST_CAT_PERFORMANCE);

using namespace dmakit;

GType
gst_dmakit_sink_overrun_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_DMAKIT_SINK_OVERRUN_BLOCK, "Wait for room in the write queue (back-pressure)",
      "block" },
    { GST_DMAKIT_SINK_OVERRUN_DROP, "Never wait: drop the buffer, count it and report it",
      "drop" },
    { 0, nullptr, nullptr },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstDmakitSinkOverrun", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

namespace {

constexpr guint kDefaultMaxPending = 8;
constexpr guint kMaxMaxPending = 4096;
constexpr guint kMaxStrideAlign = 4096;
/* When the element stops and its output (a pipe, FIFO or socket) takes no
 * data for this long, the writer gives up on what is left (and says so)
 * instead of blocking the state change for ever. */
constexpr int kStopGraceMs = 1000;

/* Property values; guarded by the object lock, copied out at start. */
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

struct Slot {
  GstBuffer *buf = nullptr; /* Op::Write only */
  Layout layout;
  Op op = Op::Write;
  guint64 offset = 0; /* Op::Seek */
};

std::uint64_t
now_ns () noexcept
{
  return std::uint64_t (std::chrono::duration_cast<std::chrono::nanoseconds> (
                            std::chrono::steady_clock::now ().time_since_epoch ())
                            .count ());
}

void
atomic_max (std::atomic<guint64> &a, guint64 v) noexcept
{
  guint64 cur = a.load (std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak (cur, v, std::memory_order_relaxed))
    ;
}

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

  std::atomic<int> overrun{GST_DMAKIT_SINK_OVERRUN_BLOCK};
  std::atomic<const char *> backend{"none"}; /* its backend's nick, kept after stop */
  UniqueFd fd;
  /* For outputs that are not regular files (pipes, FIFOs, sockets, ttys):
   * the fd is non-blocking and the writer polls it together with this
   * eventfd, which stop() signals, so that stopping never waits for a reader
   * that does not read. -1 for regular files, whose writes do not block. */
  UniqueFd wake_fd;
  UniqueFd index_fd; /* the sidecar index, or -1 */
  bool seekable = false; /* lseek() works on fd; constant while writing */
  bool append = false;   /* opened with O_APPEND; constant while writing */
  std::atomic<bool> stopping{false};
  GThread *worker = nullptr;

  /* Streaming thread only. */
  Layout layout;
  /* Where the next accepted byte will land once the writer gets to it (what
   * filesink calls its current position): moved by accepted buffers, BYTES
   * segments and flushes. Mirrored for position queries from other threads. */
  guint64 pos = 0;
  std::atomic<guint64> pos_for_query{0};

  /* The write queue: a ring of preallocated slots with one producer (the
   * streaming thread) and one consumer (the writer thread). The streaming
   * thread takes no lock: it publishes entries with atomics and wakes the
   * writer through a futex only when the writer sleeps. It sleeps itself
   * only with overrun=block and a full queue. */
  std::unique_ptr<Slot[]> slots;
  guint capacity = 0;
  std::atomic<guint64> head{0};        /* next entry to pop; the writer moves it */
  std::atomic<guint64> tail{0};        /* next slot to fill; the streaming thread moves it */
  std::atomic<int> data_seq{0};        /* futex word the writer sleeps on */
  std::atomic<int> worker_waiting{0};
  std::atomic<int> space_seq{0};       /* futex word the streaming thread sleeps on */
  std::atomic<int> producer_waiting{0};
  std::atomic<int> in_push{0};         /* between the streaming thread's checks and its push */
  std::atomic<bool> busy{false};       /* the writer holds a popped entry */
  std::atomic<bool> quit{false};
  std::atomic<bool> flushing{false};
  std::atomic<bool> failing{false};    /* the writer is reporting a failure: accept nothing */
  std::atomic<bool> failed{false};     /* reported: refuse with GST_FLOW_ERROR */
  /* EOS waits for the writer to drain, with this lock (off the hot path). */
  GMutex drain_lock;
  GCond drained;
  std::atomic<int> drain_waiting{0};

  /* Worker only. */
  std::vector<iovec> iov;
  std::vector<guint8> staging;
  guint64 wpos = 0; /* file offset of the next write */

  std::atomic<guint64> rendered{0};
  std::atomic<guint64> dropped{0};
  std::atomic<guint64> written{0};
  std::atomic<guint64> zero_copy{0};
  std::atomic<guint64> copies{0};
  std::atomic<guint64> bytes_written{0};
  std::atomic<guint64> max_queue_depth{0};
  std::atomic<guint64> max_block_ns{0};   /* longest wait for room (or a failure report) */
  std::atomic<guint64> block_start_ns{0}; /* start of the streaming thread's current wait, or 0 */
  std::atomic<guint64> max_enqueue_ns{0}; /* longest hand-off, wall clock, preemption included */
  std::atomic<guint64> write_errors{0};
  std::atomic<guint64> not_written{0};
  std::atomic<guint64> seeks{0};

  Impl () noexcept
  {
    g_mutex_init (&drain_lock);
    g_cond_init (&drained);
  }
  ~Impl ()
  {
    g_cond_clear (&drained);
    g_mutex_clear (&drain_lock);
  }
  Impl (const Impl &) = delete;
  Impl &operator= (const Impl &) = delete;
};

void
futex_wait (std::atomic<int> *word, int expected) noexcept
{
  static_assert (sizeof (std::atomic<int>) == sizeof (int), "futex word");
  syscall (SYS_futex, reinterpret_cast<int *> (word), FUTEX_WAIT_PRIVATE, expected, nullptr,
           nullptr, 0);
}

void
futex_wake (std::atomic<int> *word) noexcept
{
  syscall (SYS_futex, reinterpret_cast<int *> (word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
           nullptr, 0);
}

/* The hand-off between the streaming thread and the writer, and why no
 * wake-up is lost. Each side that may sleep does, in this order:
 *
 *   seq = X_seq; X_waiting = 1; if (!condition) futex_wait (&X_seq, seq);
 *
 * and each side that makes the condition true does:
 *
 *   <publish (tail, head, quit, failed or flushing)>; X_seq++; if (X_waiting) futex_wake (&X_seq);
 *
 * All of these are sequentially consistent atomics, so either the sleeper's
 * condition check sees the publication, or the waker's load of X_waiting
 * sees 1 and wakes it. If the increment of X_seq happens between the
 * sleeper's read of seq and its futex_wait, the kernel sees X_seq != seq and
 * futex_wait returns at once. The sleeper then loops and checks again, so
 * spurious returns are harmless. */

/* After publishing an entry or asking the writer to quit. */
void
wake_writer (Impl *impl) noexcept
{
  impl->data_seq.fetch_add (1);
  if (impl->worker_waiting.load ())
    futex_wake (&impl->data_seq);
}

/* After freeing a slot or changing the failure/flushing state. */
void
wake_producer (Impl *impl) noexcept
{
  impl->space_seq.fetch_add (1);
  if (impl->producer_waiting.load ())
    futex_wake (&impl->space_seq);
}

void
notify_drained (Impl *impl) noexcept
{
  g_mutex_lock (&impl->drain_lock);
  g_cond_broadcast (&impl->drained);
  g_mutex_unlock (&impl->drain_lock);
}

} // namespace

struct _GstDmakitSink {
  GstBaseSink parent;
  Impl *impl;
};

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_MAX_PENDING,
  PROP_OVERRUN,
  PROP_BACKEND,
  PROP_LOCK_MEMORY,
  PROP_STRIDE_ALIGN,
  PROP_APPEND,
  PROP_INDEX_LOCATION,
  PROP_SYNC,
  PROP_STATS,
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void gst_dmakit_sink_uri_handler_init (gpointer g_iface, gpointer iface_data) noexcept;

#define gst_dmakit_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstDmakitSink, gst_dmakit_sink, GST_TYPE_BASE_SINK,
                         G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
                                                gst_dmakit_sink_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (dmakitsink, "dmakitsink", GST_RANK_NONE, GST_DMAKIT_TYPE_SINK);

/* ---- writing (worker thread) ------------------------------------------------ */

static const guint8 kZeros[4096] = {};

/* Appends @len bytes at @p, merging with the previous entry when contiguous. */
static void
iov_add (std::vector<iovec> &iov, const void *p, gsize len)
{
  if (len == 0)
    return;
  if (!iov.empty ()) {
    iovec &last = iov.back ();
    if (static_cast<const guint8 *> (last.iov_base) + last.iov_len == p) {
      last.iov_len += len;
      return;
    }
  }
  iov.push_back (iovec{const_cast<void *> (p), len});
}

static void
iov_add_zeros (std::vector<iovec> &iov, gsize len)
{
  while (len > 0) {
    const gsize n = MIN (len, sizeof (kZeros));
    iov.push_back (iovec{const_cast<guint8 *> (kZeros), n});
    len -= n;
  }
}

/* A non-blocking output (not a regular file) took no more data: waits until
 * it does. Returns 0 when it can be written again (or reports an error, which
 * the next write returns), or ECANCELED when the element stops and the output
 * took nothing for kStopGraceMs. Worker thread. */
static int
wait_writable (Impl *impl) noexcept
{
  for (;;) {
    const bool stopping = impl->stopping.load ();
    pollfd fds[2] = {{impl->fd.get (), POLLOUT, 0}, {impl->wake_fd.get (), POLLIN, 0}};
    /* Not stopping: wait as long as it takes, but also for stop() (the
     * eventfd stays readable once signalled, so nothing is missed). */
    const int r = ::poll (fds, stopping ? 1 : 2, stopping ? kStopGraceMs : -1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (r == 0)
      return ECANCELED;
    if (fds[0].revents != 0)
      return 0;
    /* only the eventfd: stop() was called; wait again, bounded */
  }
}

/* Writes all of @iov; returns 0 or an errno. Counts bytes as they land. */
static int
write_all (Impl *impl, iovec *iov, gsize n) noexcept
{
  gsize i = 0;
  while (i < n) {
    if (iov[i].iov_len == 0) {
      i++;
      continue;
    }
    const int cnt = int (MIN (n - i, gsize (IOV_MAX)));
    const ssize_t r = ::writev (impl->fd.get (), &iov[i], cnt);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && impl->wake_fd) {
        if (const int e = wait_writable (impl))
          return e;
        continue;
      }
      return errno;
    }
    if (r == 0)
      return EIO;
    impl->bytes_written.fetch_add (guint64 (r), std::memory_order_relaxed);
    gsize left = gsize (r);
    while (left > 0 && i < n) {
      if (left >= iov[i].iov_len) {
        left -= iov[i].iov_len;
        i++;
      } else {
        iov[i].iov_base = static_cast<guint8 *> (iov[i].iov_base) + left;
        iov[i].iov_len -= left;
        left = 0;
      }
    }
  }
  return 0;
}

/* Where the picture of @buf is: its crop meta (ours or GStreamer's), else the
 * caps-sized top-left area, clipped to the frame. */
static bool
frame_rect (GstBuffer *buf, const GstVideoFrame *frame, const GstVideoInfo *caps_info, guint *x,
            guint *y, guint *w, guint *h) noexcept
{
  const guint fw = GST_VIDEO_FRAME_WIDTH (frame), fh = GST_VIDEO_FRAME_HEIGHT (frame);
  *x = 0;
  *y = 0;
  *w = GST_VIDEO_INFO_WIDTH (caps_info);
  *h = GST_VIDEO_INFO_HEIGHT (caps_info);
  if (GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf)) {
    *x = cm->x;
    *y = cm->y;
    *w = cm->width;
    *h = cm->height;
  } else if (GstDmakitRoiMeta *rm = gst_buffer_get_dmakit_roi_meta (buf, GST_DMAKIT_ROI_TYPE_CROP,
                                                                     -1)) {
    *x = rm->x;
    *y = rm->y;
    *w = rm->w;
    *h = rm->h;
  }
  if (*x >= fw || *y >= fh)
    return false;
  *w = MIN (*w, fw - *x);
  *h = MIN (*h, fh - *y);
  return *w > 0 && *h > 0;
}

/* What failed: writing data, moving the write position, or the index. */
enum class Failure { Write, Seek, Index };

struct WriteResult {
  int err = 0;                /* errno of a failed write, or 0 */
  const char *what = nullptr; /* a problem with the buffer itself */
  Failure kind = Failure::Write;
};

/* Writes the frame @buf in the default layout of its (cropped) size, which
 * it stores in @out. */
static WriteResult
write_video (Impl *impl, GstBuffer *buf, const GstVideoInfo *info, GstVideoInfo *out_info) noexcept
{
  WriteResult res;
  MappedVideoFrame frame (info, buf, GST_MAP_READ);
  if (!frame) {
    res.what = "the buffer cannot be mapped as a frame of its caps (too small or bad video meta)";
    return res;
  }
  guint x, y, w, h;
  if (!frame_rect (buf, frame.get (), info, &x, &y, &w, &h)) {
    res.what = "its crop meta lies outside the frame";
    return res;
  }
  GstVideoInfo &out = *out_info;
  if (!gst_video_info_set_format (&out, GST_VIDEO_INFO_FORMAT (info), w, h)) {
    res.what = "the cropped size has no valid layout";
    return res;
  }

  auto &iov = impl->iov;
  iov.clear ();
  CropPlane planes[GST_VIDEO_MAX_PLANES];
  const GstVideoFormat format = GST_VIDEO_INFO_FORMAT (info);
  const guint n = crop_format_supported (format) && !crop_needs_luma_shift (format, x)
                      ? crop_planes (frame.get (), x, y, w, h, planes)
                      : 0;
  if (n > 0) {
    /* Gather the rows straight from the frame, padding with zeros to the
     * default layout: no copy in user space. */
    gsize pos = 0;
    for (guint p = 0; p < n; p++) {
      const gsize offset = GST_VIDEO_INFO_PLANE_OFFSET (&out, p);
      const gsize stride = gsize (GST_VIDEO_INFO_PLANE_STRIDE (&out, p));
      if (offset < pos || stride < planes[p].row_bytes) {
        res.what = "unexpected default layout";
        return res;
      }
      iov_add_zeros (iov, offset - pos);
      pos = offset;
      for (guint r = 0; r < planes[p].rows; r++) {
        iov_add (iov, planes[p].src + gsize (r) * planes[p].src_stride, planes[p].row_bytes);
        iov_add_zeros (iov, stride - planes[p].row_bytes);
        pos += stride;
      }
    }
    if (GST_VIDEO_INFO_SIZE (&out) > pos)
      iov_add_zeros (iov, GST_VIDEO_INFO_SIZE (&out) - pos);
  } else if (crop_format_supported (format)) {
    /* Packed 4:2:2 with an odd left edge: the luma samples move, so the rows
     * are rebuilt in a staging frame first, exactly as videocrop does. */
    impl->staging.assign (GST_VIDEO_INFO_SIZE (&out), 0);
    guint8 *dst[GST_VIDEO_MAX_PLANES];
    gint dst_stride[GST_VIDEO_MAX_PLANES];
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&out); p++) {
      dst[p] = impl->staging.data () + GST_VIDEO_INFO_PLANE_OFFSET (&out, p);
      dst_stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (&out, p);
    }
    if (crop_copy (frame.get (), x, y, w, h, dst, dst_stride) == 0) {
      res.what = "the crop does not fit in the frame";
      return res;
    }
    impl->copies.fetch_add (1, std::memory_order_relaxed);
    iov_add (iov, impl->staging.data (), impl->staging.size ());
  } else if (x == 0 && y == 0 && w == guint (GST_VIDEO_FRAME_WIDTH (frame.get ())) &&
             h == guint (GST_VIDEO_FRAME_HEIGHT (frame.get ()))) {
    /* A format we cannot crop: write it whole, plane by plane. */
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame.get ()); p++) {
      const gsize plane_size =
          (p + 1 < GST_VIDEO_INFO_N_PLANES (&out) ? GST_VIDEO_INFO_PLANE_OFFSET (&out, p + 1)
                                                   : GST_VIDEO_INFO_SIZE (&out)) -
          GST_VIDEO_INFO_PLANE_OFFSET (&out, p);
      if (GST_VIDEO_FRAME_PLANE_STRIDE (frame.get (), p) != GST_VIDEO_INFO_PLANE_STRIDE (&out, p)) {
        res.what = "this format can only be written in its default layout";
        return res;
      }
      iov_add (iov, GST_VIDEO_FRAME_PLANE_DATA (frame.get (), p), plane_size);
    }
  } else {
    res.what = "this format cannot be cropped";
    return res;
  }
  res.err = write_all (impl, iov.data (), iov.size ());
  return res;
}

static WriteResult
write_bytes (Impl *impl, GstBuffer *buf) noexcept
{
  WriteResult res;
  const guint n = gst_buffer_n_memory (buf);
  for (guint i = 0; i < n && res.err == 0; i++) {
    MappedMemory m (gst_buffer_peek_memory (buf, i), GST_MAP_READ);
    if (!m) {
      res.what = "a memory of the buffer cannot be mapped for reading";
      return res;
    }
    iovec v{m.data (), m.size ()};
    res.err = write_all (impl, &v, 1);
  }
  return res;
}

static const char kIndexHeader[] =
    "# dmakitsink index 1: offset size pts duration format width height strides plane-offsets\n";

/* Writes @len bytes to the index; 0 or an errno. Worker thread. */
static int
index_write (Impl *impl, const char *p, gsize len) noexcept
{
  while (len > 0) {
    const ssize_t r = ::write (impl->index_fd.get (), p, len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (r == 0)
      return EIO;
    p += r;
    len -= gsize (r);
  }
  return 0;
}

/* Appends to @line (of @cap bytes, at *@n) with snprintf semantics; no
 * allocation. */
G_GNUC_PRINTF (4, 5) static void
line_add (char *line, gsize cap, gsize *n, const char *fmt, ...) noexcept
{
  if (*n >= cap)
    return;
  va_list ap;
  va_start (ap, fmt);
  const int r = g_vsnprintf (line + *n, gulong (cap - *n), fmt, ap);
  va_end (ap);
  if (r > 0)
    *n = MIN (cap, *n + gsize (r));
}

/* One index line for a buffer written at @offset (see kIndexHeader and
 * docs/elements.md); @out is the written frame's layout, NULL for a stream
 * that is not video. Worker thread. */
static int
index_add (Impl *impl, guint64 offset, guint64 size, GstBuffer *buf,
           const GstVideoInfo *out) noexcept
{
  char line[512];
  gsize n = 0;
  line_add (line, sizeof line, &n, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, offset, size);
  for (GstClockTime t : {GST_BUFFER_PTS (buf), GST_BUFFER_DURATION (buf)}) {
    if (GST_CLOCK_TIME_IS_VALID (t))
      line_add (line, sizeof line, &n, " %" G_GUINT64_FORMAT, guint64 (t));
    else
      line_add (line, sizeof line, &n, " -");
  }
  if (out) {
    line_add (line, sizeof line, &n, " %s %d %d ",
              gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (out)),
              GST_VIDEO_INFO_WIDTH (out), GST_VIDEO_INFO_HEIGHT (out));
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (out); p++)
      line_add (line, sizeof line, &n, p ? ",%d" : "%d", GST_VIDEO_INFO_PLANE_STRIDE (out, p));
    line_add (line, sizeof line, &n, " ");
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (out); p++)
      line_add (line, sizeof line, &n, p ? ",%" G_GSIZE_FORMAT : "%" G_GSIZE_FORMAT,
                GST_VIDEO_INFO_PLANE_OFFSET (out, p));
  } else {
    line_add (line, sizeof line, &n, " - - - - -");
  }
  if (n >= sizeof line)
    n = sizeof line - 1;
  line[n++] = '\n';
  return index_write (impl, line, n);
}

/* A BYTES segment: the next write lands at @offset (as filesink, a seek past
 * the end leaves a hole). With append, writes go to the end whatever the
 * position, as with filesink's "ab" mode. Worker thread. */
static WriteResult
apply_seek (Impl *impl, guint64 offset) noexcept
{
  WriteResult res;
  if (::lseek (impl->fd.get (), off_t (offset), SEEK_SET) == off_t (-1)) {
    res.err = errno;
    res.kind = Failure::Seek;
    return res;
  }
  if (!impl->append)
    impl->wpos = offset;
  impl->seeks.fetch_add (1, std::memory_order_relaxed);
  return res;
}

/* A flush: the file starts again, empty (filesink's FLUSH_STOP), and so does
 * the index. Worker thread. */
static WriteResult
apply_truncate (Impl *impl) noexcept
{
  WriteResult res;
  if (::lseek (impl->fd.get (), 0, SEEK_SET) == off_t (-1) ||
      ::ftruncate (impl->fd.get (), 0) != 0) {
    res.err = errno;
    res.kind = Failure::Seek;
    return res;
  }
  impl->wpos = 0;
  if (impl->index_fd) {
    if (::ftruncate (impl->index_fd.get (), 0) != 0 ||
        ::lseek (impl->index_fd.get (), 0, SEEK_SET) == off_t (-1))
      res.err = errno;
    else
      res.err = index_write (impl, kIndexHeader, sizeof kIndexHeader - 1);
    if (res.err)
      res.kind = Failure::Index;
  }
  return res;
}

/* Writes one buffer at the current position, then its index line, then
 * fsyncs if the buffer asks for it (GST_BUFFER_FLAG_SYNC_AFTER, as
 * filesink). Worker thread. */
static WriteResult
write_entry (Impl *impl, GstBuffer *buf, const Layout &layout) noexcept
{
  if (gst_buffer_get_size (buf) == 0)
    return WriteResult{};
  const guint64 at = impl->wpos;
  const guint64 before = impl->bytes_written.load (std::memory_order_relaxed);
  GstVideoInfo out;
  WriteResult res = layout.video ? write_video (impl, buf, &layout.info, &out)
                                 : write_bytes (impl, buf);
  const guint64 size = impl->bytes_written.load (std::memory_order_relaxed) - before;
  impl->wpos += size;
  if (res.err != 0 || res.what)
    return res;
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_SYNC_AFTER)) {
    int r;
    do
      r = ::fsync (impl->fd.get ());
    while (r != 0 && errno == EINTR);
    if (r != 0 && errno != EINVAL && errno != EROFS) /* not syncable (pipe, ...): nothing to do */
      res.err = errno;
  }
  if (res.err == 0 && impl->index_fd) {
    if (const int e = index_add (impl, at, size, buf, layout.video ? &out : nullptr)) {
      res.err = e;
      res.kind = Failure::Index;
    }
  }
  return res;
}

static void
post_write_error (GstDmakitSink *self, const WriteResult &res, GstBuffer *failed_buf,
                  guint64 not_written) noexcept
{
  Impl *impl = self->impl;
  const guint64 written = impl->written.load ();
  const char *location = impl->run.location.get ();
  if (res.kind == Failure::Seek) {
    GST_ELEMENT_ERROR (self, RESOURCE, SEEK,
                       ("Error while seeking in \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT
                        " were written).",
                        location, g_strerror (res.err), not_written, written),
                       ("lseek/ftruncate failed: errno %d, %" G_GUINT64_FORMAT " bytes written",
                        res.err, impl->bytes_written.load ()));
  } else if (res.kind == Failure::Index) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
                       ("Could not write the index \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT
                        " were written).",
                        impl->run.index_location.get (), g_strerror (res.err), not_written,
                        written),
                       ("index write failed: errno %d", res.err));
  } else if (res.err == ECANCELED) {
    /* Stopping, and the output took no data for kStopGraceMs: a warning,
     * since the application asked to stop. */
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                         ("Stopped while \"%s\" was not taking data: %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, not_written, written),
                         ("no progress for %d ms after stop; %" G_GUINT64_FORMAT
                          " bytes written",
                          kStopGraceMs, impl->bytes_written.load ()));
  } else if (res.err != 0) {
    if (res.err == ENOSPC || res.err == EDQUOT)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
                         ("No space left to write \"%s\": %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, not_written, written),
                         ("write failed: %s (errno %d), %" G_GUINT64_FORMAT " bytes written",
                          g_strerror (res.err), res.err, impl->bytes_written.load ()));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
                         ("Could not write to \"%s\": %s. %" G_GUINT64_FORMAT
                          " accepted buffers were not written (%" G_GUINT64_FORMAT
                          " were written).",
                          location, g_strerror (res.err), not_written, written),
                         ("write failed: errno %d, %" G_GUINT64_FORMAT " bytes written", res.err,
                          impl->bytes_written.load ()));
  } else {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
                       ("Cannot write a buffer to \"%s\": %s. %" G_GUINT64_FORMAT
                        " accepted buffers were not written (%" G_GUINT64_FORMAT
                        " were written).",
                        location, res.what, not_written, written),
                       ("buffer %" GST_PTR_FORMAT, failed_buf));
  }
}

/* The writer failed on @failed_buf: nothing queued will be written. The
 * streaming thread accepts nothing more from here on; it is told to fail
 * (GST_FLOW_ERROR) only once our error is on the bus, so that the first
 * error a user sees is the one that says what happened. Writer thread. */
static void
fail_worker (GstDmakitSink *self, const WriteResult &res, GstBuffer *failed_buf) noexcept
{
  Impl *impl = self->impl;
  impl->failing.store (true);
  /* A push that passed its check before it saw `failing` completes first. */
  while (impl->in_push.load ())
    g_thread_yield ();
  std::vector<GstBuffer *> discarded;
  const guint64 t = impl->tail.load ();
  guint64 h = impl->head.load ();
  discarded.reserve (t - h);
  for (; h != t; h++)
    if (GstBuffer *b = std::exchange (impl->slots[h % impl->capacity].buf, nullptr))
      discarded.push_back (b); /* seeks and truncations carry no buffer */
  impl->head.store (t);
  const guint64 not_written = (failed_buf ? 1 : 0) + discarded.size ();
  if (res.err != ECANCELED) /* giving up at stop is not a write error */
    impl->write_errors.fetch_add (1, std::memory_order_relaxed);
  impl->not_written.fetch_add (not_written, std::memory_order_relaxed);
  post_write_error (self, res, failed_buf, not_written);
  impl->failed.store (true);
  wake_producer (impl);
  notify_drained (impl);
  for (GstBuffer *b : discarded)
    gst_buffer_unref (b);
}

static gpointer
worker_main (gpointer data) noexcept
{
  auto *self = static_cast<GstDmakitSink *> (data);
  Impl *impl = self->impl;
  /* Writing to a pipe or socket whose reader went away raises SIGPIPE on
   * this thread, which would end the process. Blocked, the write fails with
   * EPIPE instead, and that is reported like any other write error. */
  sigset_t pipe_set;
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, nullptr);
  GST_DEBUG_OBJECT (self, "writer thread started");
  for (;;) {
    const guint64 h = impl->head.load (std::memory_order_relaxed);
    if (impl->tail.load (std::memory_order_acquire) == h) {
      impl->busy.store (false);
      if (impl->drain_waiting.load ())
        notify_drained (impl);
      if (impl->quit.load ())
        break; /* asked to stop, and nothing left to write */
      const int seq = impl->data_seq.load ();
      impl->worker_waiting.store (1);
      if (impl->tail.load () == h && !impl->quit.load ())
        futex_wait (&impl->data_seq, seq);
      impl->worker_waiting.store (0);
      continue;
    }
    /* busy before the slot is released, so that a drain never sees an
     * empty queue while an entry is being written */
    impl->busy.store (true);
    Slot &s = impl->slots[h % impl->capacity];
    Slot slot;
    slot.buf = std::exchange (s.buf, nullptr);
    slot.layout = s.layout;
    slot.op = s.op;
    slot.offset = s.offset;
    impl->head.store (h + 1, std::memory_order_release);
    wake_producer (impl);

    if (!impl->failing.load ()) {
      WriteResult res;
      switch (slot.op) {
        case Op::Seek:
          res = apply_seek (impl, slot.offset);
          break;
        case Op::Truncate:
          res = apply_truncate (impl);
          break;
        case Op::Write:
          res = write_entry (impl, slot.buf, slot.layout);
          break;
      }
      if (res.err != 0 || res.what)
        fail_worker (self, res, slot.buf);
      else if (slot.op == Op::Write)
        impl->written.fetch_add (1, std::memory_order_relaxed);
    }
    /* Back to its pool, from this thread. */
    if (slot.buf)
      gst_buffer_unref (slot.buf);
  }
  impl->busy.store (false);
  notify_drained (impl);
  GST_DEBUG_OBJECT (self, "writer thread done");
  return nullptr;
}

/* ---- streaming thread -------------------------------------------------------- */

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

/* The size the writer will write for @buf (what moves the position): the
 * default layout of the cropped frame for video, else the buffer's size. */
static guint64
written_size (GstBuffer *buf, const Layout &layout) noexcept
{
  if (!layout.video)
    return gst_buffer_get_size (buf);
  if (gst_buffer_get_size (buf) == 0)
    return 0;
  const GstVideoInfo *info = &layout.info;
  guint fw = GST_VIDEO_INFO_WIDTH (info), fh = GST_VIDEO_INFO_HEIGHT (info);
  if (GstVideoMeta *vm = gst_buffer_get_video_meta (buf)) {
    fw = vm->width;
    fh = vm->height;
  }
  guint x = 0, y = 0, w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  if (GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf)) {
    x = cm->x;
    y = cm->y;
    w = cm->width;
    h = cm->height;
  } else if (GstDmakitRoiMeta *rm = gst_buffer_get_dmakit_roi_meta (buf, GST_DMAKIT_ROI_TYPE_CROP,
                                                                     -1)) {
    x = rm->x;
    y = rm->y;
    w = rm->w;
    h = rm->h;
  }
  if (x >= fw || y >= fh)
    return 0; /* the writer refuses it */
  w = MIN (w, fw - x);
  h = MIN (h, fh - y);
  GstVideoInfo out;
  if (w == 0 || h == 0 || !gst_video_info_set_format (&out, GST_VIDEO_INFO_FORMAT (info), w, h))
    return 0;
  return GST_VIDEO_INFO_SIZE (&out);
}

enum class Push { Queued, Dropped, Error, Flushing };

/* Hands an entry to the writer. Streaming thread, no lock taken, no
 * allocation. A buffer (Op::Write) follows `overrun` when the queue is full
 * and, woken by unlock(), waits for preroll as basesink asks (render holds
 * the PREROLL lock). A seek or truncation must never be lost, or the file
 * would differ from filesink's: it always waits for room, also while
 * flushing (FLUSH_STOP itself queues one). Such entries exist only for
 * seekable outputs (regular files, devices), whose writer never stalls, so
 * that wait is bounded by the disk. */
static Push
push_entry (GstDmakitSink *self, GstBuffer *buf, Op op, guint64 offset) noexcept
{
  Impl *impl = self->impl;
  const bool control = op != Op::Write;
  guint64 t0 = now_ns ();
  Push ret = Push::Error;
  guint64 depth = 0;
  const guint64 cap = impl->capacity;
  guint64 t_wait = 0;
  auto end_wait = [&] (guint64 now) noexcept {
    if (t_wait) {
      atomic_max (impl->max_block_ns, now - t_wait);
      impl->block_start_ns.store (0, std::memory_order_relaxed);
      t_wait = 0;
    }
  };
  for (;;) {
    impl->in_push.store (1);
    if (impl->failed.load ()) {
      impl->in_push.store (0);
      ret = Push::Error;
      break;
    }
    if (!impl->failing.load ()) {
      const guint64 t = impl->tail.load (std::memory_order_relaxed);
      const guint64 h = impl->head.load (std::memory_order_acquire);
      if (t - h < cap) {
        Slot &s = impl->slots[t % cap];
        s.buf = buf ? gst_buffer_ref (buf) : nullptr;
        s.layout = impl->layout;
        s.op = op;
        s.offset = offset;
        impl->tail.store (t + 1, std::memory_order_release);
        impl->in_push.store (0);
        wake_writer (impl);
        depth = t + 1 - h;
        ret = Push::Queued;
        break;
      }
    }
    impl->in_push.store (0);
    if (!control && impl->flushing.load ()) {
      /* unlock() was called: a flush, a stop, or PLAYING -> PAUSED, which
       * unlocks render too. As basesink asks, wait for preroll: it returns
       * FLUSHING on a flush or stop, and OK once PLAYING again, when the
       * buffer must still be queued (returning FLUSHING there would stop
       * upstream's streaming for good). Called with the PREROLL lock, which
       * basesink holds around render. The pause is not a wait for room. */
      end_wait (now_ns ());
      if (gst_base_sink_wait_preroll (GST_BASE_SINK (self)) != GST_FLOW_OK) {
        ret = Push::Flushing;
        break;
      }
      t0 = now_ns ();
      continue;
    }
    if (!control && !impl->failing.load () &&
        impl->overrun.load (std::memory_order_relaxed) == GST_DMAKIT_SINK_OVERRUN_DROP) {
      ret = Push::Dropped;
      break;
    }
    /* overrun=block with a full queue, a seek waiting for room, or the
     * writer reporting a failure: sleep until a slot frees up or the state
     * changes */
    if (t_wait == 0) {
      t_wait = now_ns ();
      impl->block_start_ns.store (t_wait, std::memory_order_relaxed);
    }
    const int seq = impl->space_seq.load ();
    impl->producer_waiting.store (1);
    const bool recheck = impl->failed.load () || (!control && impl->flushing.load ()) ||
                         (!impl->failing.load () && impl->tail.load () - impl->head.load () < cap);
    if (!recheck)
      futex_wait (&impl->space_seq, seq);
    impl->producer_waiting.store (0);
  }
  const guint64 t1 = now_ns ();
  atomic_max (impl->max_enqueue_ns, t1 - t0);
  end_wait (t1);
  if (ret == Push::Queued)
    atomic_max (impl->max_queue_depth, depth);
  return ret;
}

static GstFlowReturn
gst_dmakit_sink_render (GstBaseSink *sink, GstBuffer *buf) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  const bool zc = is_zero_copy_memory (buf);

  if (!impl->writing) {
    impl->rendered.fetch_add (1, std::memory_order_relaxed);
    if (zc)
      impl->zero_copy.fetch_add (1, std::memory_order_relaxed);
    return GST_FLOW_OK;
  }

  switch (push_entry (self, buf, Op::Write, 0)) {
    case Push::Queued:
      impl->rendered.fetch_add (1, std::memory_order_relaxed);
      if (zc)
        impl->zero_copy.fetch_add (1, std::memory_order_relaxed);
      impl->pos += written_size (buf, impl->layout);
      impl->pos_for_query.store (impl->pos, std::memory_order_relaxed);
      return GST_FLOW_OK;
    case Push::Dropped: {
      const guint64 n = impl->dropped.fetch_add (1, std::memory_order_relaxed) + 1;
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

static gboolean
gst_dmakit_sink_set_caps (GstBaseSink *sink, GstCaps *caps) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  Layout layout;
  const GstStructure *st = gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0)
                                                        : nullptr;
  if (st && gst_structure_has_name (st, "video/x-raw")) {
    if (!gst_video_info_from_caps (&layout.info, caps)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Invalid video caps."),
                         ("%" GST_PTR_FORMAT, caps));
      return FALSE;
    }
    layout.video = true;
  }
  impl->layout = layout;
  GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT " (%s)", caps,
                   layout.video ? "frames in default layout" : "bytes as they come");
  return TRUE;
}

enum class Drain { Done, Failed, Flushing };

/* Waits until the worker wrote everything queued. It ends when the queue is
 * empty and the writer idle (the writer signals it), when writing failed
 * (fail_worker() signals it) or when unlock() is called (it signals it): every
 * way out has a signaller, each of which sets its flag before it takes
 * drain_lock to broadcast. unlock() means a flush, a stop, or PLAYING ->
 * PAUSED: as in render, wait for preroll, and go on draining once PLAYING
 * again (dropping the EOS there would leave the application waiting for
 * it for ever). Streaming thread, from wait_event, in PLAYING, with
 * basesink's PREROLL lock. */
static Drain
drain (GstDmakitSink *self) noexcept
{
  Impl *impl = self->impl;
  for (;;) {
    g_mutex_lock (&impl->drain_lock);
    impl->drain_waiting.store (1);
    while ((impl->tail.load () != impl->head.load () || impl->busy.load ()) &&
           !impl->failed.load () && !impl->flushing.load ())
      g_cond_wait (&impl->drained, &impl->drain_lock);
    impl->drain_waiting.store (0);
    g_mutex_unlock (&impl->drain_lock);
    if (impl->failed.load ())
      return Drain::Failed;
    if (impl->tail.load () == impl->head.load () && !impl->busy.load ())
      return Drain::Done;
    if (gst_base_sink_wait_preroll (GST_BASE_SINK (self)) != GST_FLOW_OK)
      return Drain::Flushing;
  }
}

static GstStructure *build_stats (GstDmakitSink *self) noexcept;

/* EOS: basesink's wait_event first prerolls and waits until the EOS is due,
 * which leaves us PLAYING. Then the writer drains, with basesink's PREROLL
 * lock held as during render: a PAUSED <-> PLAYING change never has to wait
 * for the disk, because leaving PLAYING calls unlock() first (see drain()).
 * Only then are the final stats posted, and basesink posts EOS. */
static GstFlowReturn
gst_dmakit_sink_wait_event (GstBaseSink *sink, GstEvent *event) noexcept
{
  GstFlowReturn ret = GST_BASE_SINK_CLASS (parent_class)->wait_event (sink, event);
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
  const guint64 dropped = impl->dropped.load ();
  if (dropped > 0)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                         ("%" G_GUINT64_FORMAT " buffers were dropped because the write queue "
                          "was full (overrun=drop, max-pending=%u).",
                          dropped, impl->run.max_pending),
                         ("%" G_GUINT64_FORMAT " rendered, %" G_GUINT64_FORMAT " written",
                          impl->rendered.load (), impl->written.load ()));
  /* Everything is written: the stats are final ("dmakitsink-stats"). */
  gst_element_post_message (GST_ELEMENT (self),
                            gst_message_new_element (GST_OBJECT (self), build_stats (self)));
  return GST_FLOW_OK;
}

static gboolean
gst_dmakit_sink_unlock (GstBaseSink *sink) noexcept
{
  Impl *impl = GST_DMAKIT_SINK (sink)->impl;
  impl->flushing.store (true);
  wake_producer (impl);
  notify_drained (impl);
  return TRUE;
}

static gboolean
gst_dmakit_sink_unlock_stop (GstBaseSink *sink) noexcept
{
  Impl *impl = GST_DMAKIT_SINK (sink)->impl;
  impl->flushing.store (false);
  return TRUE;
}

/* As filesink: a BYTES segment whose start is not the current position moves
 * the write position there (muxers go back to fix their headers this way),
 * and FLUSH_STOP empties a seekable file and starts again at 0. Both are
 * entries of the write queue, so the writer applies them in order with the
 * data and this thread does no I/O. Serialized events come here from the
 * streaming thread with the stream lock held, in order with render. */
static gboolean
gst_dmakit_sink_event (GstBaseSink *sink, GstEvent *event) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  if (impl->writing) {
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_SEGMENT: {
        const GstSegment *segment = nullptr;
        gst_event_parse_segment (event, &segment);
        if (segment->format != GST_FORMAT_BYTES || guint64 (segment->start) == impl->pos)
          break;
        if (!impl->seekable) {
          GST_ELEMENT_ERROR (self, RESOURCE, SEEK,
                             ("Error while seeking in \"%s\": it is not seekable (a pipe, "
                              "FIFO, socket or terminal).",
                              impl->run.location.get ()),
                             ("BYTES segment starts at %" G_GUINT64_FORMAT
                              ", the position is %" G_GUINT64_FORMAT,
                              guint64 (segment->start), impl->pos));
          gst_event_unref (event);
          return FALSE;
        }
        GST_DEBUG_OBJECT (self, "seek from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
                          impl->pos, guint64 (segment->start));
        if (push_entry (self, nullptr, Op::Seek, guint64 (segment->start)) != Push::Queued) {
          GST_DEBUG_OBJECT (self, "seek not queued: writing failed (error posted)");
          gst_event_unref (event);
          return FALSE;
        }
        impl->pos = guint64 (segment->start);
        impl->pos_for_query.store (impl->pos, std::memory_order_relaxed);
        break;
      }
      case GST_EVENT_FLUSH_STOP:
        if (impl->pos != 0 && impl->seekable) {
          if (push_entry (self, nullptr, Op::Truncate, 0) != Push::Queued)
            GST_DEBUG_OBJECT (self, "truncation not queued: writing failed (error posted)");
          impl->pos = 0;
          impl->pos_for_query.store (0, std::memory_order_relaxed);
        }
        break;
      default:
        break;
    }
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

/* As filesink: POSITION in bytes, FORMATS, URI, and SEEKING (seekable in
 * BYTES when the output is); other formats are basesink's (a TIME position,
 * which filesink refuses, keeps working). */
static gboolean
gst_dmakit_sink_query (GstBaseSink *sink, GstQuery *query) noexcept
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
  return GST_BASE_SINK_CLASS (parent_class)->query (sink, query);
}

/* ---- allocation ----------------------------------------------------------- */

static gboolean
gst_dmakit_sink_propose_allocation (GstBaseSink *sink, GstQuery *query) noexcept
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
  const bool fallback = allocator && gst_dmakit_allocator_get_backend (allocator.get ()) ==
                                         GST_DMAKIT_BACKEND_MEMFD;
  if (need_pool && !dmabuf_caps &&
      (!allocator || (fallback && wanted == GST_DMAKIT_BACKEND_AUTO))) {
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
  const char *nick = gst_is_dmakit_allocator (allocator.get ()) ? backend_nick (allocator.get ())
                                                                 : "system";
  impl->backend.store (nick);
  GST_DEBUG_OBJECT (self, "proposed GstDmakitBufferPool (%s) min %u for %" GST_PTR_FORMAT, nick,
                    min, caps);
  return TRUE;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void
reset_stats (Impl *impl) noexcept
{
  for (auto *a : {&impl->rendered, &impl->dropped, &impl->written, &impl->zero_copy,
                  &impl->copies, &impl->bytes_written, &impl->max_queue_depth,
                  &impl->max_block_ns, &impl->max_enqueue_ns, &impl->write_errors,
                  &impl->not_written, &impl->seeks})
    a->store (0);
}

/* Releases what start() set up; the worker is not running. */
static void
release_run_state (GstDmakitSink *self) noexcept
{
  Impl *impl = self->impl;
  ObjectRef<GstAllocator> allocator; /* dropped outside the lock */
  {
    ObjectLocker lock (self);
    allocator = std::move (impl->allocator);
    impl->writing = false;
    impl->seekable = false;
  }
  impl->wake_fd.reset ();
  impl->index_fd.reset ();
  impl->fd.reset ();
  impl->slots.reset ();
  impl->capacity = 0;
}

static gboolean
gst_dmakit_sink_start (GstBaseSink *sink) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  Settings run;
  {
    ObjectLocker lock (self);
    run.location.reset (g_strdup (impl->settings.location.get ()));
    run.index_location.reset (g_strdup (impl->settings.index_location.get ()));
    run.append = impl->settings.append;
    run.max_pending = impl->settings.max_pending;
    run.overrun = impl->settings.overrun;
    run.backend = impl->settings.backend;
    run.lock_memory = impl->settings.lock_memory;
    run.stride_align = impl->settings.stride_align;
  }
  reset_stats (impl);
  /* Register the metas render and the writer look up now: a first lookup
   * registers the type, which allocates (render must not). */
  (void) gst_video_meta_get_info ();
  (void) gst_video_crop_meta_get_info ();
  (void) gst_dmakit_roi_meta_get_info ();
  (void) GST_VIDEO_META_API_TYPE;
  (void) GST_VIDEO_CROP_META_API_TYPE;
  (void) GST_DMAKIT_ROI_META_API_TYPE;
  impl->block_start_ns.store (0);
  impl->layout = Layout{};
  impl->pos = 0;
  impl->pos_for_query.store (0);
  impl->wpos = 0;

  GErrorPtr err;
  auto allocator = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (run.backend, nullptr, err.out ()));
  if (!allocator) {
    if (run.backend != GST_DMAKIT_BACKEND_AUTO) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
                         ("The requested memory backend is not available: %s",
                          err ? err->message : "unknown error"),
                         ("backend=%d", int (run.backend)));
      return FALSE;
    }
    GST_WARNING_OBJECT (self, "no dmakit allocator (%s): not proposing a pool",
                        err ? err->message : "unknown error");
  }
  impl->backend.store (backend_nick (allocator.get ()));
  GST_INFO_OBJECT (self, "pool backend: %s", impl->backend.load ());

  const std::string location = run.location ? run.location.get () : "";
  {
    ObjectLocker lock (self);
    impl->run = std::move (run);
    impl->allocator = std::move (allocator);
    impl->writing = false;
  }
  if (location.empty ())
    return TRUE;

  /* As filesink: truncate, or with append add to the end (O_APPEND: every
   * write lands at the end, whatever the position). */
  const bool append = impl->run.append;
  const int mode = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  impl->fd.reset (::open (location.c_str (), mode, 0666));
  if (!impl->fd) {
    const int e = errno;
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                       ("Could not open \"%s\" for writing: %s.", location.c_str (),
                        g_strerror (e)),
                       ("open() failed: errno %d", e));
    release_run_state (self);
    return FALSE;
  }
  impl->append = append;
  /* As filesink: seekable if a seek to 0 works; the position starts at 0
   * (also with append, where it counts the bytes of this run). The writer's
   * own file offset starts at the end when appending. */
  const bool seekable = ::lseek (impl->fd.get (), 0, SEEK_SET) != off_t (-1);
  if (append && seekable) {
    const off_t end = ::lseek (impl->fd.get (), 0, SEEK_END);
    impl->wpos = end > 0 ? guint64 (end) : 0;
  }
  const char *index_location = impl->run.index_location.get ();
  if (index_location && *index_location) {
    impl->index_fd.reset (::open (index_location, mode, 0666));
    struct stat ist;
    int e = 0;
    if (!impl->index_fd)
      e = errno;
    else if (fstat (impl->index_fd.get (), &ist) != 0)
      e = errno;
    else if (ist.st_size == 0)
      e = index_write (impl, kIndexHeader, sizeof kIndexHeader - 1);
    if (e) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                         ("Could not open the index \"%s\" for writing: %s.", index_location,
                          g_strerror (e)),
                         ("open()/write() failed: errno %d", e));
      release_run_state (self);
      return FALSE;
    }
  }
  /* Not a regular file (a pipe, FIFO, socket or device): write it
   * non-blocking, so that the writer can also watch for stop(). */
  struct stat st;
  if (fstat (impl->fd.get (), &st) == 0 && !S_ISREG (st.st_mode)) {
    const int flags = fcntl (impl->fd.get (), F_GETFL);
    impl->wake_fd.reset (eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (flags < 0 || !impl->wake_fd || fcntl (impl->fd.get (), F_SETFL, flags | O_NONBLOCK) < 0) {
      const int e = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                         ("Could not set up writing to \"%s\": %s.", location.c_str (),
                          g_strerror (e)),
                         ("eventfd/fcntl failed: errno %d", e));
      release_run_state (self);
      return FALSE;
    }
  }
  impl->capacity = impl->run.max_pending;
  impl->slots.reset (new (std::nothrow) Slot[impl->capacity]);
  if (!impl->slots) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory."),
                       ("cannot allocate a write queue of %u entries", impl->capacity));
    release_run_state (self);
    return FALSE;
  }
  impl->head = 0;
  impl->tail = 0;
  impl->busy = impl->quit = impl->flushing = impl->failing = impl->failed = false;
  impl->stopping = false;
  impl->worker_waiting = impl->producer_waiting = impl->drain_waiting = impl->in_push = 0;
  impl->overrun.store (impl->run.overrun);
  impl->iov.reserve (1024);

  GErrorPtr terr;
  impl->worker = g_thread_try_new ("dmakitsink-wr", worker_main, self, terr.out ());
  if (!impl->worker) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Could not start the writer thread."),
                       ("%s", terr ? terr->message : "unknown error"));
    release_run_state (self);
    return FALSE;
  }
  {
    ObjectLocker lock (self);
    impl->seekable = seekable;
    impl->writing = true;
  }
  GST_INFO_OBJECT (self, "writing to %s%s%s%s, queue of %u, overrun=%s", location.c_str (),
                   append ? " (append)" : "", seekable ? "" : " (not seekable)",
                   impl->wake_fd ? " (not a regular file: non-blocking)" : "", impl->capacity,
                   impl->run.overrun == GST_DMAKIT_SINK_OVERRUN_DROP ? "drop" : "block");
  return TRUE;
}

static gboolean
gst_dmakit_sink_stop (GstBaseSink *sink) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  if (impl->worker) {
    /* The worker writes what was accepted, then exits. A regular file takes
     * it all; another output gets kStopGraceMs without progress before the
     * rest is given up (counted in not-written, with a warning). */
    impl->stopping.store (true);
    if (impl->wake_fd) {
      const guint64 one = 1;
      ssize_t r;
      do
        r = ::write (impl->wake_fd.get (), &one, sizeof one);
      while (r < 0 && errno == EINTR);
    }
    impl->quit.store (true);
    wake_writer (impl);
    g_thread_join (std::exchange (impl->worker, nullptr));
  }
  release_run_state (self);
  impl->iov = std::vector<iovec> ();
  impl->staging = std::vector<guint8> ();
  GST_INFO_OBJECT (self,
                   "rendered %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
                   ", written %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes)",
                   impl->rendered.load (), impl->dropped.load (), impl->written.load (),
                   impl->bytes_written.load ());
  return TRUE;
}

/* ---- properties ------------------------------------------------------------ */

static GstStructure *
build_stats (GstDmakitSink *self) noexcept
{
  Impl *impl = self->impl;
  const guint64 depth = impl->tail.load () - impl->head.load ();
  const guint64 since = impl->block_start_ns.load (std::memory_order_relaxed);
  const guint64 now = now_ns ();
  const guint64 blocked = since != 0 && now > since ? now - since : 0;
  return gst_structure_new (
      "dmakitsink-stats", "rendered", G_TYPE_UINT64, impl->rendered.load (), "dropped",
      G_TYPE_UINT64, impl->dropped.load (), "written", G_TYPE_UINT64, impl->written.load (),
      "zero-copy", G_TYPE_UINT64, impl->zero_copy.load (), "copies", G_TYPE_UINT64,
      impl->copies.load (), "bytes-written", G_TYPE_UINT64, impl->bytes_written.load (),
      "queue-depth", G_TYPE_UINT64, depth, "max-queue-depth", G_TYPE_UINT64,
      impl->max_queue_depth.load (), "max-block-ns", G_TYPE_UINT64, impl->max_block_ns.load (),
      "blocked-ns", G_TYPE_UINT64, blocked,
      "max-enqueue-ns", G_TYPE_UINT64, impl->max_enqueue_ns.load (),
      "write-errors", G_TYPE_UINT64, impl->write_errors.load (), "not-written", G_TYPE_UINT64,
      impl->not_written.load (), "seeks", G_TYPE_UINT64, impl->seeks.load (), "backend",
      G_TYPE_STRING, impl->backend.load (), nullptr);
}

/* Sets location and the URI that goes with it; with the object lock (so it
 * logs nothing: logging an object takes its lock). As filesink, refused
 * while a file is open (the location is read at start). */
static bool
set_location_locked (GstDmakitSink *self, const gchar *location, GError **error) noexcept
{
  Impl *impl = self->impl;
  if (impl->writing) {
    g_set_error_literal (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
                         "Changing the location of dmakitsink while a file is open is not "
                         "supported");
    return false;
  }
  impl->settings.location.reset (g_strdup (location));
  impl->settings.uri.reset (location ? gst_filename_to_uri (location, nullptr) : nullptr);
  return true;
}

/* ---- GstURIHandler (file://, like filesink) --------------------------------- */

static GstURIType
gst_dmakit_sink_uri_get_type (GType) noexcept
{
  return GST_URI_SINK;
}

static const gchar *const *
gst_dmakit_sink_uri_get_protocols (GType) noexcept
{
  static const gchar *const protocols[] = {"file", nullptr};
  return protocols;
}

static gchar *
gst_dmakit_sink_uri_get_uri (GstURIHandler *handler) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (handler);
  ObjectLocker lock (self);
  return g_strdup (self->impl->settings.uri.get ());
}

/* As filesink: file:///path and file://localhost/path, percent-escapes
 * decoded; the bare "file://" (how applications probe for a handler)
 * clears the location; anything else must name an absolute path. */
static gboolean
gst_dmakit_sink_uri_set_uri (GstURIHandler *handler, const gchar *uri, GError **error) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (handler);
  GCharPtr location;
  if (g_str_has_prefix (uri, "file://localhost/")) {
    GCharPtr tmp (g_strconcat ("file://", uri + strlen ("file://localhost"), nullptr));
    location.reset (gst_uri_get_location (tmp.get ()));
  } else if (std::strcmp (uri, "file://") == 0) {
    ObjectLocker lock (self);
    return set_location_locked (self, nullptr, error);
  } else {
    location.reset (gst_uri_get_location (uri));
  }
  if (!location) {
    g_set_error_literal (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "File URI without location");
    return FALSE;
  }
  if (!g_path_is_absolute (location.get ())) {
    g_set_error_literal (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                         "File URI location must be an absolute path");
    return FALSE;
  }
  bool ok;
  {
    ObjectLocker lock (self);
    ok = set_location_locked (self, location.get (), error);
  }
  if (ok)
    g_object_notify (G_OBJECT (self), "location");
  return ok;
}

static void
gst_dmakit_sink_uri_handler_init (gpointer g_iface, gpointer) noexcept
{
  auto *iface = static_cast<GstURIHandlerInterface *> (g_iface);
  iface->get_type = gst_dmakit_sink_uri_get_type;
  iface->get_protocols = gst_dmakit_sink_uri_get_protocols;
  iface->get_uri = gst_dmakit_sink_uri_get_uri;
  iface->set_uri = gst_dmakit_sink_uri_set_uri;
}

static void
gst_dmakit_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (object);
  Impl *impl = self->impl;
  if (prop_id == PROP_SYNC) { /* basesink's, which takes the object lock */
    gst_base_sink_set_sync (GST_BASE_SINK (self), g_value_get_boolean (value));
    return;
  }
  if (prop_id == PROP_LOCATION) {
    bool ok;
    {
      ObjectLocker lock (self);
      ok = set_location_locked (self, g_value_get_string (value), nullptr);
    }
    if (!ok)
      GST_WARNING_OBJECT (self, "cannot change the location while a file is open: keeping it");
    return;
  }
  ObjectLocker lock (self);
  Settings &s = impl->settings;
  switch (prop_id) {
    case PROP_APPEND:
      s.append = g_value_get_boolean (value);
      break;
    case PROP_INDEX_LOCATION:
      s.index_location.reset (g_value_dup_string (value));
      break;
    case PROP_MAX_PENDING:
      s.max_pending = g_value_get_uint (value);
      break;
    case PROP_OVERRUN:
      s.overrun = GstDmakitSinkOverrun (g_value_get_enum (value));
      impl->overrun.store (s.overrun);
      break;
    case PROP_BACKEND:
      s.backend = GstDmakitBackend (g_value_get_enum (value));
      break;
    case PROP_LOCK_MEMORY:
      s.lock_memory = g_value_get_boolean (value);
      break;
    case PROP_STRIDE_ALIGN: {
      const guint v = g_value_get_uint (value);
      if (v != 0 && (v & (v - 1)) != 0)
        g_warning ("%s: stride-align must be 0 or a power of two, not %u; keeping %u",
                   GST_OBJECT_NAME (self), v, s.stride_align);
      else
        s.stride_align = v;
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_dmakit_sink_get_property (GObject *object, guint prop_id, GValue *value,
                              GParamSpec *pspec) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, build_stats (self));
    return;
  }
  if (prop_id == PROP_SYNC) {
    g_value_set_boolean (value, gst_base_sink_get_sync (GST_BASE_SINK (self)));
    return;
  }
  ObjectLocker lock (self);
  const Settings &s = self->impl->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, s.location.get ());
      break;
    case PROP_MAX_PENDING:
      g_value_set_uint (value, s.max_pending);
      break;
    case PROP_OVERRUN:
      g_value_set_enum (value, s.overrun);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, s.backend);
      break;
    case PROP_LOCK_MEMORY:
      g_value_set_boolean (value, s.lock_memory);
      break;
    case PROP_STRIDE_ALIGN:
      g_value_set_uint (value, s.stride_align);
      break;
    case PROP_APPEND:
      g_value_set_boolean (value, s.append);
      break;
    case PROP_INDEX_LOCATION:
      g_value_set_string (value, s.index_location.get ());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* Out of memory ends the process, as in GLib. */
static Impl *
new_impl () noexcept
{
  return new Impl ();
}

static void
gst_dmakit_sink_init (GstDmakitSink *self)
{
  self->impl = new_impl ();
  /* as filesink and fakesink: write as fast as the data comes */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_dmakit_sink_finalize (GObject *object) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (object);
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_dmakit_sink_class_init (GstDmakitSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_sink_debug, "dmakitsink", 0,
                           "dmakit zero-copy, real-time recording sink");
  GST_DEBUG_CATEGORY_GET (GST_CAT_PERFORMANCE, "GST_PERFORMANCE");

  gobject_class->set_property = gst_dmakit_sink_set_property;
  gobject_class->get_property = gst_dmakit_sink_get_property;
  gobject_class->finalize = gst_dmakit_sink_finalize;

  const GParamFlags ready = GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                         GST_PARAM_MUTABLE_READY);
  g_object_class_install_property (
      gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
                           "File to write to (frames in default layout, cropped); none: consume "
                           "and count only. Read when the element starts; cannot change while "
                           "a file is open",
                           nullptr, ready));
  /* GstBaseSink's sync, with filesink's and fakesink's default (FALSE): the
   * same name in this class shadows the parent's, so that gst-inspect and
   * g_param_spec_get_default_value() say what a new element does. */
  g_object_class_install_property (
      gobject_class, PROP_SYNC,
      g_param_spec_boolean ("sync", "Sync", "Sync on the clock", FALSE,
                            GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (
      gobject_class, PROP_APPEND,
      g_param_spec_boolean ("append", "Append",
                            "Append to an already existing file (as filesink: every write lands "
                            "at the end, and a flush still empties the whole file)",
                            FALSE, ready));
  g_object_class_install_property (
      gobject_class, PROP_INDEX_LOCATION,
      g_param_spec_string ("index-location", "Index location",
                           "Sidecar index to write next to the recording, one text line per "
                           "buffer: offset size pts duration format width height strides "
                           "plane-offsets (see the element documentation); none: no index",
                           nullptr, ready));
  g_object_class_install_property (
      gobject_class, PROP_MAX_PENDING,
      g_param_spec_uint ("max-pending", "Max pending",
                         "Capacity of the write queue between the streaming thread and the "
                         "writer thread, in buffers (allocated at start)",
                         1, kMaxMaxPending, kDefaultMaxPending, ready));
  g_object_class_install_property (
      gobject_class, PROP_OVERRUN,
      g_param_spec_enum ("overrun", "Overrun",
                         "When the write queue is full: block (back-pressure) or drop (never "
                         "wait; drops are counted and reported)",
                         GST_DMAKIT_TYPE_SINK_OVERRUN, GST_DMAKIT_SINK_OVERRUN_BLOCK,
                         GParamFlags (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                      GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (
      gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
                         "Memory backend of the buffer pool proposed upstream (a backend other "
                         "than auto that is unavailable is an error at start)",
                         GST_DMAKIT_TYPE_BACKEND, GST_DMAKIT_BACKEND_AUTO, ready));
  g_object_class_install_property (
      gobject_class, PROP_LOCK_MEMORY,
      g_param_spec_boolean ("lock-memory", "Lock memory",
                            "Lock (mlock) the memory of the proposed pool's buffers", FALSE,
                            ready));
  g_object_class_install_property (
      gobject_class, PROP_STRIDE_ALIGN,
      g_param_spec_uint ("stride-align", "Stride alignment",
                         "Byte alignment of every plane stride in the proposed pool (0 or a "
                         "power of two; 0: the default layout)",
                         0, kMaxStrideAlign, 0, ready));
  g_object_class_install_property (
      gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
                          "rendered, dropped, written, zero-copy, copies, bytes-written, "
                          "queue-depth, max-queue-depth, max-block-ns (longest wait for room), "
                          "max-enqueue-ns (longest hand-off to the writer), write-errors, "
                          "not-written, seeks (BYTES segments applied), backend",
                          GST_TYPE_STRUCTURE,
                          GParamFlags (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (
      element_class, "dmakit sink", "Sink/File",
      "Proposes a DMA-BUF pool, honours crop metas and records from a worker thread without "
      "allocating or blocking on the streaming thread",
      "dmakit developers <https://github.com/dmakit/dmakit>");

  sink_class->start = gst_dmakit_sink_start;
  sink_class->stop = gst_dmakit_sink_stop;
  sink_class->set_caps = gst_dmakit_sink_set_caps;
  sink_class->render = gst_dmakit_sink_render;
  sink_class->wait_event = gst_dmakit_sink_wait_event;
  sink_class->unlock = gst_dmakit_sink_unlock;
  sink_class->unlock_stop = gst_dmakit_sink_unlock_stop;
  sink_class->propose_allocation = gst_dmakit_sink_propose_allocation;
  sink_class->event = gst_dmakit_sink_event;
  sink_class->query = gst_dmakit_sink_query;

  gst_type_mark_as_plugin_api (GST_DMAKIT_TYPE_SINK_OVERRUN, GstPluginAPIFlags (0));
}
