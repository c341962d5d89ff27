/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink-writer.cpp: dmakitsink's writer thread: it takes entries from
 * the WriteQueue and writes them (each video frame in the default layout of
 * its cropped size, other streams as their buffers come), applies seeks and
 * truncations, writes the index, and reports what failed. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakitsink-private.h"

#include "dmakit-videocopy.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <climits>
#include <csignal>
#include <cstdarg>
#include <new>
#include <poll.h>
#include <unistd.h>
#include <utility>

namespace dmakit
{
namespace sink
{

static const guint8 kZeros[4096] = {};

/* Appends @len bytes at @p, merging with the previous entry when contiguous.
 * The vector was reserved in start; should it have to grow and memory run
 * out, false (the buffer is then reported as not written). */
static bool
iov_add (std::vector<iovec> &iov, const void *p, gsize len) noexcept
{
  if (len == 0)
    return true;
  if (!iov.empty ()) {
    iovec &last = iov.back ();
    if (static_cast<const guint8 *> (last.iov_base) + last.iov_len == p) {
      last.iov_len += len;
      return true;
    }
  }
  try {
    iov.push_back (iovec{ const_cast<void *> (p), len });
  } catch (const std::bad_alloc &) {
    return false;
  }
  return true;
}

static bool
iov_add_zeros (std::vector<iovec> &iov, gsize len) noexcept
{
  while (len > 0) {
    const gsize n = MIN (len, sizeof (kZeros));
    if (!iov_add (iov, kZeros, n))
      return false;
    len -= n;
  }
  return true;
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
    pollfd fds[2]
        = { { impl->state.fd.get (), POLLOUT, 0 }, { impl->state.wake_fd.get (), POLLIN, 0 } };
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
    const ssize_t r = ::writev (impl->state.fd.get (), &iov[i], cnt);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && impl->state.wake_fd) {
        if (const int e = wait_writable (impl))
          return e;
        continue;
      }
      return errno;
    }
    if (r == 0)
      return EIO;
    impl->stats.bytes_written.fetch_add (guint64 (r), std::memory_order_relaxed);
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

/* Where the picture of @buf is in its @fw x @fh frame: its crop meta (ours
 * or GStreamer's), else the caps-sized top-left area, clipped to the frame.
 * False when nothing of it is inside the frame. */
static bool
picture_rect (GstBuffer *buf, guint fw, guint fh, const GstVideoInfo *caps_info, guint *x, guint *y,
              guint *w, guint *h) noexcept
{
  *x = 0;
  *y = 0;
  *w = GST_VIDEO_INFO_WIDTH (caps_info);
  *h = GST_VIDEO_INFO_HEIGHT (caps_info);
  if (GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf)) {
    *x = cm->x;
    *y = cm->y;
    *w = cm->width;
    *h = cm->height;
  } else if (GstDmakitRoiMeta *rm
             = gst_buffer_get_dmakit_roi_meta (buf, GST_DMAKIT_ROI_TYPE_CROP, -1)) {
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

static const char kOutOfMemory[] = "out of memory";

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
  if (!picture_rect (buf, GST_VIDEO_FRAME_WIDTH (frame.get ()),
                     GST_VIDEO_FRAME_HEIGHT (frame.get ()), info, &x, &y, &w, &h)) {
    res.what = "its crop meta lies outside the frame";
    return res;
  }
  GstVideoInfo &out = *out_info;
  if (!gst_video_info_set_format (&out, GST_VIDEO_INFO_FORMAT (info), w, h)) {
    res.what = "the cropped size has no valid layout";
    return res;
  }

  auto &iov = impl->state.iov;
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
      bool ok = iov_add_zeros (iov, offset - pos);
      pos = offset;
      for (guint r = 0; r < planes[p].rows && ok; r++) {
        ok = iov_add (iov, planes[p].src + gsize (r) * planes[p].src_stride, planes[p].row_bytes)
             && iov_add_zeros (iov, stride - planes[p].row_bytes);
        pos += stride;
      }
      if (!ok) {
        res.what = kOutOfMemory;
        return res;
      }
    }
    if (GST_VIDEO_INFO_SIZE (&out) > pos
        && !iov_add_zeros (iov, GST_VIDEO_INFO_SIZE (&out) - pos)) {
      res.what = kOutOfMemory;
      return res;
    }
  } else if (crop_format_supported (format)) {
    /* Packed 4:2:2 with an odd left edge: the luma samples move, so the rows
     * are rebuilt in a staging frame first, exactly as videocrop does. */
    try {
      impl->state.staging.assign (GST_VIDEO_INFO_SIZE (&out), 0);
    } catch (const std::bad_alloc &) {
      res.what = kOutOfMemory;
      return res;
    }
    guint8 *dst[GST_VIDEO_MAX_PLANES];
    gint dst_stride[GST_VIDEO_MAX_PLANES];
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&out); p++) {
      dst[p] = impl->state.staging.data () + GST_VIDEO_INFO_PLANE_OFFSET (&out, p);
      dst_stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (&out, p);
    }
    if (crop_copy (frame.get (), x, y, w, h, dst, dst_stride) == 0) {
      res.what = "the crop does not fit in the frame";
      return res;
    }
    impl->stats.copies.fetch_add (1, std::memory_order_relaxed);
    if (!iov_add (iov, impl->state.staging.data (), impl->state.staging.size ())) {
      res.what = kOutOfMemory;
      return res;
    }
  } else if (x == 0 && y == 0 && w == guint (GST_VIDEO_FRAME_WIDTH (frame.get ()))
             && h == guint (GST_VIDEO_FRAME_HEIGHT (frame.get ()))) {
    /* A format we cannot crop: write it whole, plane by plane. */
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame.get ()); p++) {
      const gsize plane_size
          = (p + 1 < GST_VIDEO_INFO_N_PLANES (&out) ? GST_VIDEO_INFO_PLANE_OFFSET (&out, p + 1)
                                                    : GST_VIDEO_INFO_SIZE (&out))
            - GST_VIDEO_INFO_PLANE_OFFSET (&out, p);
      if (GST_VIDEO_FRAME_PLANE_STRIDE (frame.get (), p) != GST_VIDEO_INFO_PLANE_STRIDE (&out, p)) {
        res.what = "this format can only be written in its default layout";
        return res;
      }
      if (!iov_add (iov, GST_VIDEO_FRAME_PLANE_DATA (frame.get (), p), plane_size)) {
        res.what = kOutOfMemory;
        return res;
      }
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
    iovec v{ m.data (), m.size () };
    res.err = write_all (impl, &v, 1);
  }
  return res;
}

static const char kIndexHeader[]
    = "# dmakitsink index 1: offset size pts duration format width height strides plane-offsets\n";

/* Writes @len bytes to the index; 0 or an errno. Worker thread. */
static int
index_write (Impl *impl, const char *p, gsize len) noexcept
{
  while (len > 0) {
    const ssize_t r = ::write (impl->state.index_fd.get (), p, len);
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
G_GNUC_PRINTF (4, 5)
static void
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
index_add (Impl *impl, guint64 offset, guint64 size, const Entry &entry,
           const GstVideoInfo *out) noexcept
{
  char line[512];
  gsize n = 0;
  line_add (line, sizeof line, &n, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, offset, size);
  for (GstClockTime t : { entry.pts, entry.duration }) {
    if (GST_CLOCK_TIME_IS_VALID (t))
      line_add (line, sizeof line, &n, " %" G_GUINT64_FORMAT, guint64 (t));
    else
      line_add (line, sizeof line, &n, " -");
  }
  if (out) {
    line_add (line, sizeof line, &n, " %s %d %d ",
              gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (out)), GST_VIDEO_INFO_WIDTH (out),
              GST_VIDEO_INFO_HEIGHT (out));
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
  if (::lseek (impl->state.fd.get (), off_t (offset), SEEK_SET) == off_t (-1)) {
    res.err = errno;
    res.kind = Failure::Seek;
    return res;
  }
  if (!impl->state.append)
    impl->state.wpos = offset;
  impl->stats.seeks.fetch_add (1, std::memory_order_relaxed);
  return res;
}

/* A flush: the file starts again, empty (filesink's FLUSH_STOP), and so does
 * the index. Worker thread. */
static WriteResult
apply_truncate (Impl *impl) noexcept
{
  WriteResult res;
  if (::lseek (impl->state.fd.get (), 0, SEEK_SET) == off_t (-1)
      || ::ftruncate (impl->state.fd.get (), 0) != 0) {
    res.err = errno;
    res.kind = Failure::Seek;
    return res;
  }
  impl->state.wpos = 0;
  if (impl->state.index_fd) {
    if (::ftruncate (impl->state.index_fd.get (), 0) != 0
        || ::lseek (impl->state.index_fd.get (), 0, SEEK_SET) == off_t (-1))
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
write_entry (Impl *impl, const Entry &entry) noexcept
{
  GstBuffer *buf = entry.buf;
  const Layout &layout = entry.layout;
  if (gst_buffer_get_size (buf) == 0)
    return WriteResult{};
  const guint64 at = impl->state.wpos;
  const guint64 before = impl->stats.bytes_written.load (std::memory_order_relaxed);
  GstVideoInfo out;
  WriteResult res
      = layout.video ? write_video (impl, buf, &layout.info, &out) : write_bytes (impl, buf);
  const guint64 size = impl->stats.bytes_written.load (std::memory_order_relaxed) - before;
  impl->state.wpos += size;
  if (res.err != 0 || res.what)
    return res;
  if (entry.sync_after) {
    int r;
    do
      r = ::fsync (impl->state.fd.get ());
    while (r != 0 && errno == EINTR);
    if (r != 0 && errno != EINVAL && errno != EROFS) /* not syncable (pipe, ...): nothing to do */
      res.err = errno;
  }
  if (res.err == 0 && impl->state.index_fd) {
    if (const int e = index_add (impl, at, size, entry, layout.video ? &out : nullptr)) {
      res.err = e;
      res.kind = Failure::Index;
    }
  }
  return res;
}

/* The writer failed on @failed_buf: nothing queued will be written. The
 * streaming thread accepts nothing more from here on; it is told to fail
 * (GST_FLOW_ERROR) only once our error is on the bus, so that the first
 * error a user sees is the one that says what happened. Writer thread. */
static void
fail_writer (GstDmakitSink *self, const WriteResult &res, GstBuffer *failed_buf) noexcept
{
  Impl *impl = self->impl;
  const guint64 not_written = (failed_buf ? 1 : 0) + impl->queue.fail_begin ();
  if (res.err != ECANCELED) /* giving up at stop is not a write error */
    impl->stats.write_errors.fetch_add (1, std::memory_order_relaxed);
  impl->stats.not_written.fetch_add (not_written, std::memory_order_relaxed);
  post_write_error (self, res, failed_buf, not_written);
  impl->queue.fail_end ();
}

gpointer
writer_main (gpointer data) noexcept
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
  Entry entry;
  while (impl->queue.pop (&entry)) {
    WriteResult res;
    switch (entry.op) {
    case Op::Seek:
      res = apply_seek (impl, entry.offset);
      break;
    case Op::Truncate:
      res = apply_truncate (impl);
      break;
    case Op::Write:
      res = write_entry (impl, entry);
      break;
    }
    if (res.err != 0 || res.what)
      fail_writer (self, res, entry.buf);
    else if (entry.op == Op::Write)
      impl->stats.written.fetch_add (1, std::memory_order_relaxed);
    /* Back to its pool, from this thread. */
    if (GstBuffer *b = std::exchange (entry.buf, nullptr))
      gst_buffer_unref (b);
  }
  GST_DEBUG_OBJECT (self, "writer thread done");
  return nullptr;
}

bool
open_output (GstDmakitSink *self, bool *seekable) noexcept
{
  Impl *impl = self->impl;
  const char *location = impl->run.location.get ();
  /* As filesink: truncate, or with append add to the end (O_APPEND: every
   * write lands at the end, whatever the position). */
  const bool append = impl->run.append;
  const int mode = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  impl->state.fd.reset (::open (location, mode, 0666));
  if (!impl->state.fd) {
    const int e = errno;
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                       ("Could not open \"%s\" for writing: %s.", location, g_strerror (e)),
                       ("open() failed: errno %d", e));
    return false;
  }
  impl->state.append = append;
  /* As filesink: seekable if a seek to 0 works; the position starts at 0
   * (also with append, where it counts the bytes of this run). The writer's
   * own file offset starts at the end when appending. */
  *seekable = ::lseek (impl->state.fd.get (), 0, SEEK_SET) != off_t (-1);
  if (append && *seekable) {
    const off_t end = ::lseek (impl->state.fd.get (), 0, SEEK_END);
    impl->state.wpos = end > 0 ? guint64 (end) : 0;
  }
  const char *index_location = impl->run.index_location.get ();
  if (index_location && *index_location) {
    impl->state.index_fd.reset (::open (index_location, mode, 0666));
    struct stat ist;
    int e = 0;
    if (!impl->state.index_fd)
      e = errno;
    else if (fstat (impl->state.index_fd.get (), &ist) != 0)
      e = errno;
    else if (ist.st_size == 0)
      e = index_write (impl, kIndexHeader, sizeof kIndexHeader - 1);
    if (e) {
      GST_ELEMENT_ERROR (
          self, RESOURCE, OPEN_WRITE,
          ("Could not open the index \"%s\" for writing: %s.", index_location, g_strerror (e)),
          ("open()/write() failed: errno %d", e));
      return false;
    }
  }
  /* Not a regular file (a pipe, FIFO, socket or device): write it
   * non-blocking, so that the writer can also watch for stop(). */
  struct stat st;
  if (fstat (impl->state.fd.get (), &st) == 0 && !S_ISREG (st.st_mode)) {
    const int flags = fcntl (impl->state.fd.get (), F_GETFL);
    impl->state.wake_fd.reset (eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (flags < 0 || !impl->state.wake_fd
        || fcntl (impl->state.fd.get (), F_SETFL, flags | O_NONBLOCK) < 0) {
      const int e = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                         ("Could not set up writing to \"%s\": %s.", location, g_strerror (e)),
                         ("eventfd/fcntl failed: errno %d", e));
      return false;
    }
  }
  return true;
}

/* See dmakitsink-private.h. */
guint64
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
  guint x, y, w, h;
  GstVideoInfo out;
  if (!picture_rect (buf, fw, fh, info, &x, &y, &w, &h)
      || !gst_video_info_set_format (&out, GST_VIDEO_INFO_FORMAT (info), w, h))
    return 0; /* the writer refuses it */
  return GST_VIDEO_INFO_SIZE (&out);
}

} // namespace sink
} // namespace dmakit
