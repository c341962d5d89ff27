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

#include "dmakitsink-private.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <unistd.h>
#include <utility>

using namespace dmakit;
using namespace dmakit::sink;

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

G_DEFINE_TYPE_WITH_CODE (GstDmakitSink, gst_dmakit_sink, GST_TYPE_BASE_SINK,
                         G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
                                                gst_dmakit_sink_uri_handler_init));
GST_DEBUG_CATEGORY (gst_dmakit_sink_debug);
GST_DEBUG_CATEGORY (gst_dmakit_sink_performance);
GST_ELEMENT_REGISTER_DEFINE (dmakitsink, "dmakitsink", GST_RANK_NONE, GST_TYPE_DMAKIT_SINK);

GstBaseSinkClass *
dmakit::sink::parent_class () noexcept
{
  return GST_BASE_SINK_CLASS (gst_dmakit_sink_parent_class);
}

static void
reset_stats (Impl *impl) noexcept
{
  Stats &s = impl->stats;
  for (auto *a : {&s.rendered, &s.dropped, &s.written, &s.zero_copy, &s.copies, &s.bytes_written,
                  &s.max_queue_depth, &s.max_block_ns, &s.block_start_ns, &s.max_enqueue_ns,
                  &s.write_errors, &s.not_written, &s.seeks})
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
  impl->state.wake_fd.reset ();
  impl->state.index_fd.reset ();
  impl->state.fd.reset ();
  impl->queue.close ();
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
  impl->state.layout = Layout{};
  impl->state.pos = 0;
  impl->pos_for_query.store (0);
  impl->state.wpos = 0;

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

  {
    ObjectLocker lock (self);
    impl->run = std::move (run);
    impl->allocator = std::move (allocator);
    impl->writing = false;
  }
  /* run.location now belongs to impl->run, constant until stop */
  const char *location = impl->run.location.get ();
  if (!location || !*location)
    return TRUE;

  bool seekable = false;
  if (!open_output (self, &seekable)) {
    release_run_state (self);
    return FALSE;
  }
  if (!impl->queue.open (impl->run.max_pending)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory."),
                       ("cannot allocate a write queue of %u entries", impl->run.max_pending));
    release_run_state (self);
    return FALSE;
  }
  impl->stopping = false;
  impl->overrun.store (impl->run.overrun);
  try {
    impl->state.iov.reserve (1024);
  } catch (const std::bad_alloc &) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory."),
                       ("cannot reserve the writer's I/O vector"));
    release_run_state (self);
    return FALSE;
  }

  GErrorPtr terr;
  impl->state.worker = g_thread_try_new ("dmakitsink-wr", writer_main, self, terr.out ());
  if (!impl->state.worker) {
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
  GST_INFO_OBJECT (self, "writing to %s%s%s%s, queue of %u, overrun=%s", location,
                   impl->state.append ? " (append)" : "", seekable ? "" : " (not seekable)",
                   impl->state.wake_fd ? " (not a regular file: non-blocking)" : "", impl->queue.capacity (),
                   impl->run.overrun == GST_DMAKIT_SINK_OVERRUN_DROP ? "drop" : "block");
  return TRUE;
}

static gboolean
gst_dmakit_sink_stop (GstBaseSink *sink) noexcept
{
  GstDmakitSink *self = GST_DMAKIT_SINK (sink);
  Impl *impl = self->impl;
  if (impl->state.worker) {
    /* The worker writes what was accepted, then exits. A regular file takes
     * it all; another output gets kStopGraceMs without progress before the
     * rest is given up (counted in not-written, with a warning). */
    impl->stopping.store (true);
    if (impl->state.wake_fd) {
      const guint64 one = 1;
      ssize_t r;
      do
        r = ::write (impl->state.wake_fd.get (), &one, sizeof one);
      while (r < 0 && errno == EINTR);
    }
    impl->queue.quit ();
    g_thread_join (std::exchange (impl->state.worker, nullptr));
  }
  release_run_state (self);
  impl->state.iov = std::vector<iovec> ();
  impl->state.staging = std::vector<guint8> ();
  GST_INFO_OBJECT (self,
                   "rendered %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
                   ", written %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes)",
                   impl->stats.rendered.load (), impl->stats.dropped.load (), impl->stats.written.load (),
                   impl->stats.bytes_written.load ());
  return TRUE;
}

/* ---- properties ------------------------------------------------------------ */

GstStructure *
dmakit::sink::build_stats (GstDmakitSink *self) noexcept
{
  Impl *impl = self->impl;
  const guint64 depth = impl->queue.depth ();
  const guint64 since = impl->stats.block_start_ns.load (std::memory_order_relaxed);
  const guint64 now = gst_util_get_timestamp ();
  const guint64 blocked = since != 0 && now > since ? now - since : 0;
  return gst_structure_new (
      "dmakitsink-stats", "rendered", G_TYPE_UINT64, impl->stats.rendered.load (), "dropped",
      G_TYPE_UINT64, impl->stats.dropped.load (), "written", G_TYPE_UINT64, impl->stats.written.load (),
      "zero-copy", G_TYPE_UINT64, impl->stats.zero_copy.load (), "copies", G_TYPE_UINT64,
      impl->stats.copies.load (), "bytes-written", G_TYPE_UINT64, impl->stats.bytes_written.load (),
      "queue-depth", G_TYPE_UINT64, depth, "max-queue-depth", G_TYPE_UINT64,
      impl->stats.max_queue_depth.load (), "max-block-ns", G_TYPE_UINT64, impl->stats.max_block_ns.load (),
      "blocked-ns", G_TYPE_UINT64, blocked,
      "max-enqueue-ns", G_TYPE_UINT64, impl->stats.max_enqueue_ns.load (),
      "write-errors", G_TYPE_UINT64, impl->stats.write_errors.load (), "not-written", G_TYPE_UINT64,
      impl->stats.not_written.load (), "seeks", G_TYPE_UINT64, impl->stats.seeks.load (), "backend",
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
  G_OBJECT_CLASS (gst_dmakit_sink_parent_class)->finalize (object);
}

static void
gst_dmakit_sink_class_init (GstDmakitSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_dmakit_sink_debug, "dmakitsink", 0,
                           "dmakit zero-copy, real-time recording sink");
  GST_DEBUG_CATEGORY_GET (gst_dmakit_sink_performance, "GST_PERFORMANCE");

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
                         GST_TYPE_DMAKIT_SINK_OVERRUN, GST_DMAKIT_SINK_OVERRUN_BLOCK,
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
  sink_class->set_caps = set_caps;
  sink_class->render = render;
  sink_class->wait_event = wait_event;
  sink_class->unlock = unlock;
  sink_class->unlock_stop = unlock_stop;
  sink_class->propose_allocation = propose_allocation;
  sink_class->event = event;
  sink_class->query = handle_query;

  gst_type_mark_as_plugin_api (GST_TYPE_DMAKIT_SINK_OVERRUN, GstPluginAPIFlags (0));
}

