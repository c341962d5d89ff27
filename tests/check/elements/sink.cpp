/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink: counting without a location, the pool it proposes, video meta
 * strides and crop metas honoured, caps changes with buffers still queued,
 * overrun=drop never blocking and overrun=block pushing back (a FIFO nobody
 * reads stalls the writer), EOS posted only after the writer drained, and
 * write failures (unwritable path, disk full) reported with the count of
 * accepted buffers that were not written. */
#include "../pipelines/elements-util.h"

#include <gst/dmakit/dmakit.h>

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <functional>
#include <poll.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace etest;
using dmakit::UniqueFd;

namespace {

GstElement *
parse (const std::string &desc)
{
  GError *err = nullptr;
  GstElement *p = gst_parse_launch (desc.c_str (), &err);
  fail_unless (p != nullptr, "cannot parse %s: %s", desc.c_str (), err ? err->message : "?");
  g_clear_error (&err);
  return p;
}

/* Reads a FIFO on its own thread once started, until EOF or stop(). */
class FifoReader
{
public:
  static constexpr guint64 kChunk = 8192; /* bytes per read() */

  explicit FifoReader (const std::string &path)
  {
    fail_unless (mkfifo (path.c_str (), 0600) == 0, "mkfifo: %s", g_strerror (errno));
    /* non-blocking open: succeeds without a writer, and lets the sink open
     * its end without waiting */
    fd_.reset (open (path.c_str (), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    fail_unless (fd_.valid ());
  }
  ~FifoReader () { stop (); }
  FifoReader (const FifoReader &) = delete;
  FifoReader &operator= (const FifoReader &) = delete;

  int pipe_size () const { return fcntl (fd_.get (), F_GETPIPE_SZ); }

  void start (guint delay_us = 0, bool keep = false)
  {
    th_ = std::thread ([this, delay_us, keep] {
      std::vector<char> chunk (kChunk);
      while (!stop_.load ()) {
        pollfd pfd{fd_.get (), POLLIN, 0};
        if (poll (&pfd, 1, 50) <= 0)
          continue;
        const ssize_t n = read (fd_.get (), chunk.data (), chunk.size ());
        if (n == 0)
          break; /* the writer closed: EOF */
        if (n < 0)
          continue;
        if (keep)
          data_.append (chunk.data (), gsize (n));
        total_.fetch_add (guint64 (n));
        if (delay_us)
          g_usleep (delay_us);
      }
    });
  }
  void stop ()
  {
    if (th_.joinable ()) {
      stop_ = true;
      th_.join ();
    }
  }
  /* Waits (bounded) for EOF after the writer closed. */
  void join ()
  {
    if (th_.joinable ())
      th_.join ();
  }
  guint64 total () const { return total_.load (); }
  const std::string &data () const { return data_; }

private:
  UniqueFd fd_;
  std::thread th_;
  std::atomic<bool> stop_{false};
  std::atomic<guint64> total_{0};
  std::string data_;
};

/* Waits for EOS or error on the bus of a pipeline that is already PLAYING. */
RunResult
wait_bus (GstElement *p, guint timeout_s)
{
  RunResult res;
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
  const gint64 deadline = g_get_monotonic_time () + gint64 (timeout_s) * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline) {
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus.get (), 100 * GST_MSECOND,
        GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!msg)
      continue;
    GError *err = nullptr;
    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_WARNING:
        gst_message_parse_warning (msg, &err, nullptr);
        if (res.warning.empty () && err)
          res.warning = err->message;
        break;
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (msg, &err, nullptr);
        res.error = err ? err->message : "?";
        break;
      default:
        res.eos = true;
        break;
    }
    g_clear_error (&err);
    const bool done = GST_MESSAGE_TYPE (msg) != GST_MESSAGE_WARNING;
    gst_message_unref (msg);
    if (done)
      return res;
  }
  res.timed_out = true;
  return res;
}

/* fail_unless() for the part of a test where the writer is stalled on a FIFO:
 * on failure the pipeline is set to NULL first. With CK_FORK=no (the
 * valgrind and ASan setups) a failed check jumps out of the test without
 * unwinding, and a pipeline left stalled would keep GstCheck's final
 * cleanup, which joins every streaming thread, waiting for ever. */
#define stalled_check(p, cond, ...)                                                            \
  G_STMT_START                                                                                \
  {                                                                                           \
    if (G_UNLIKELY (!(cond))) {                                                               \
      /* the message describes the state before the cleanup */                               \
      gchar *stalled_msg_ = g_strdup_printf (__VA_ARGS__);                                    \
      set_null (p);                                                                           \
      fail ("%s", stalled_msg_);                                                              \
    }                                                                                         \
  }                                                                                           \
  G_STMT_END

bool
wait_until (const std::function<bool ()> &cond, guint timeout_ms)
{
  const gint64 deadline = g_get_monotonic_time () + gint64 (timeout_ms) * 1000;
  while (g_get_monotonic_time () < deadline) {
    if (cond ())
      return true;
    g_usleep (5000);
  }
  return cond ();
}

guint8
sample (guint plane, guint x, guint y)
{
  return guint8 ((plane * 61 + x * 7 + y * 13) & 0xff);
}

/* A frame of @fmt @fw x @fh in a padded, aligned layout (not the default one),
 * described by a video meta, every sample set to sample(). */
GstBuffer *
make_padded_frame (GstVideoFormat fmt, guint fw, guint fh, GstVideoInfo *layout)
{
  gst_video_info_set_format (layout, fmt, fw, fh);
  GstVideoAlignment align;
  gst_video_alignment_reset (&align);
  align.padding_left = 6;
  align.padding_top = 3;
  align.padding_right = 10;
  align.padding_bottom = 2;
  for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++)
    align.stride_align[i] = 31;
  fail_unless (gst_video_info_align (layout, &align));
  GstBuffer *buf = gst_buffer_new_allocate (nullptr, GST_VIDEO_INFO_SIZE (layout), nullptr);
  gst_buffer_memset (buf, 0, 0xee, GST_VIDEO_INFO_SIZE (layout));
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, fmt, fw, fh,
                                  GST_VIDEO_INFO_N_PLANES (layout), layout->offset, layout->stride);
  GstVideoInfo plain;
  gst_video_info_set_format (&plain, fmt, fw, fh);
  dmakit::MappedVideoFrame f (&plain, buf, GST_MAP_WRITE);
  fail_unless (static_cast<bool> (f));
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (f.get ()); p++) {
    guint rows = 0;
    const gsize rb = row_bytes (&plain, p, &rows);
    auto *d = static_cast<guint8 *> (GST_VIDEO_FRAME_PLANE_DATA (f.get (), p));
    for (guint y = 0; y < rows; y++)
      for (guint x = 0; x < rb; x++)
        d[y * GST_VIDEO_FRAME_PLANE_STRIDE (f.get (), p) + x] = sample (p, x, y);
  }
  return buf;
}

/* The bytes the sink must write for the (x, y, w, h) crop of such a frame
 * (x, y even): the default layout of w x h, padding zero. Samples are in
 * bytes per plane row, so a chroma plane starts at (x, y) scaled. */
std::string
expected_crop (GstVideoFormat fmt, guint x, guint y, guint w, guint h)
{
  GstVideoInfo out;
  gst_video_info_set_format (&out, fmt, w, h);
  std::string s (GST_VIDEO_INFO_SIZE (&out), '\0');
  const GstVideoFormatInfo *fi = out.finfo;
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&out); p++) {
    guint comp = 0;
    while (GST_VIDEO_FORMAT_INFO_PLANE (fi, comp) != p)
      comp++;
    const guint xs = (x >> GST_VIDEO_FORMAT_INFO_W_SUB (fi, comp)) * GST_VIDEO_FORMAT_INFO_PSTRIDE (fi, comp);
    const guint ys = y >> GST_VIDEO_FORMAT_INFO_H_SUB (fi, comp);
    guint rows = 0;
    const gsize rb = row_bytes (&out, p, &rows);
    for (guint r = 0; r < rows; r++)
      for (guint c = 0; c < rb; c++)
        s[GST_VIDEO_INFO_PLANE_OFFSET (&out, p) + r * GST_VIDEO_INFO_PLANE_STRIDE (&out, p) + c] =
            char (sample (p, xs + c, ys + r));
  }
  return s;
}

void
push_sample (GstElement *src, GstBuffer *buf, GstCaps *caps, guint i)
{
  GST_BUFFER_PTS (buf) = i * GST_SECOND / 30;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  GstSample *s = gst_sample_new (buf, caps, nullptr, nullptr);
  GstFlowReturn ret = GST_FLOW_OK;
  g_signal_emit_by_name (src, "push-sample", s, &ret);
  gst_sample_unref (s);
  gst_buffer_unref (buf);
  fail_unless_equals_int (ret, GST_FLOW_OK);
}

} // namespace

GST_START_TEST (test_no_location_consumes_and_counts)
{
  GstElement *p = run_ok ("videotestsrc num-buffers=7 ! video/x-raw,width=64,height=48 ! "
                          "dmakitsink name=sink sync=false");
  fail_unless_equals_uint64 (stat (p, "sink", "rendered"), 7);
  fail_unless_equals_uint64 (stat (p, "sink", "written"), 0);
  fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
  /* videotestsrc used the proposed pool: dmakit memory */
  fail_unless_equals_uint64 (stat (p, "sink", "zero-copy"), 7);
  gst_object_unref (p);
}
GST_END_TEST;

struct Proposal {
  bool seen = false, dmakit_pool = false, alignment = false, lock = false;
  guint min = 0;
  bool vmeta = false, crop = false, roi = false;
  std::string backend;
  gint stride0 = 0;
};

GstPadProbeReturn
proposal_probe (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *s = static_cast<Proposal *> (data);
  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER) {
    if (GstVideoMeta *vm = gst_buffer_get_video_meta (GST_PAD_PROBE_INFO_BUFFER (info)))
      s->stride0 = vm->stride[0];
    return GST_PAD_PROBE_OK;
  }
  GstQuery *q = GST_PAD_PROBE_INFO_QUERY (info);
  if (GST_QUERY_TYPE (q) != GST_QUERY_ALLOCATION)
    return GST_PAD_PROBE_OK;
  s->seen = true;
  s->vmeta = gst_query_find_allocation_meta (q, GST_VIDEO_META_API_TYPE, nullptr);
  s->crop = gst_query_find_allocation_meta (q, GST_VIDEO_CROP_META_API_TYPE, nullptr);
  s->roi = gst_query_find_allocation_meta (q, GST_DMAKIT_ROI_META_API_TYPE, nullptr);
  if (gst_query_get_n_allocation_pools (q) > 0) {
    GstBufferPool *pool = nullptr;
    gst_query_parse_nth_allocation_pool (q, 0, &pool, nullptr, &s->min, nullptr);
    if (pool) {
      s->dmakit_pool = GST_DMAKIT_IS_BUFFER_POOL (pool);
      GstStructure *config = gst_buffer_pool_get_config (pool);
      s->alignment =
          gst_buffer_pool_config_has_option (config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
      gboolean lock = FALSE;
      s->lock = gst_dmakit_buffer_pool_config_get_lock_memory (config, &lock) && lock;
      gst_structure_free (config);
      gst_object_unref (pool);
    }
  }
  if (gst_query_get_n_allocation_params (q) > 0) {
    GstAllocator *a = nullptr;
    gst_query_parse_nth_allocation_param (q, 0, &a, nullptr);
    if (a && gst_is_dmakit_allocator (a)) {
      GEnumClass *k = G_ENUM_CLASS (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
      s->backend = g_enum_get_value (k, gst_dmakit_allocator_get_backend (a))->value_nick;
      g_type_class_unref (k);
    }
    if (a)
      gst_object_unref (a);
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_allocation_proposal)
{
  TmpDir dir;
  GstElement *p = parse ("videotestsrc name=src num-buffers=3 ! "
                         "video/x-raw,format=NV12,width=320,height=240 ! "
                         "dmakitsink name=sink sync=false max-pending=4 stride-align=128 "
                         "lock-memory=true backend=memfd location=" + dir.file ("a.raw"));
  Proposal seen;
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (src.get (), "src"));
  gst_pad_add_probe (pad.get (),
                     GstPadProbeType (GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM | GST_PAD_PROBE_TYPE_PULL),
                     proposal_probe, &seen, nullptr);
  gst_pad_add_probe (pad.get (), GST_PAD_PROBE_TYPE_BUFFER, proposal_probe, &seen, nullptr);
  RunResult r = run (p, 30);
  set_null (p);
  fail_unless (r.eos, "%s", r.error.c_str ());
  fail_unless (seen.seen);
  fail_unless (seen.vmeta && seen.crop && seen.roi);
  fail_unless (seen.dmakit_pool);
  fail_unless_equals_int (seen.min, 4 + 3); /* queue + writer + last sample + upstream */
  fail_unless (seen.alignment);
  /* lock-memory may be refused by RLIMIT_MEMLOCK at allocation (a warning), but
   * the configuration must ask for it */
  fail_unless (seen.lock);
  fail_unless_equals_string (seen.backend.c_str (), "memfd");
  /* upstream honoured the alignment: NV12 320 wide -> stride 384 */
  fail_unless_equals_int (seen.stride0, 384);
  assert_str_eq (stat_string (p, "sink", "backend"), "memfd");
  /* and the file is still the default layout */
  fail_unless_equals_int (read_file (dir.file ("a.raw")).size (), 3 * 320 * 240 * 3 / 2);
  gst_object_unref (p);
}
GST_END_TEST;

/* The sink says how many buffers it holds also when no pool is wanted: tee
 * asks its branches that way and offers upstream the largest min. */
GST_START_TEST (test_allocation_min_without_pool)
{
  TmpDir dir;
  for (bool recording : {true, false}) {
    GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
    g_object_set (sink, "max-pending", 5u, nullptr);
    if (recording)
      g_object_set (sink, "location", dir.file ("a.raw").c_str (), nullptr);
    fail_unless (gst_element_set_state (sink, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (sink, "sink"));
    GstCaps *caps = gst_caps_from_string ("video/x-raw,format=NV12,width=320,height=240");
    const guint want_min = recording ? 5 + 3 : 2;
    for (gboolean need_pool : {gboolean (FALSE), gboolean (TRUE)}) {
      GstQuery *q = gst_query_new_allocation (caps, need_pool);
      fail_unless (gst_pad_query (pad.get (), q));
      fail_unless_equals_int (gst_query_get_n_allocation_pools (q), 1);
      GstBufferPool *pool = nullptr;
      guint size = 0, min = 0, max = 0;
      gst_query_parse_nth_allocation_pool (q, 0, &pool, &size, &min, &max);
      fail_unless_equals_int (min, want_min);
      fail_unless_equals_int (size, 320 * 240 * 3 / 2);
      fail_unless_equals_int (max, 0);
      if (need_pool)
        fail_unless (pool && GST_DMAKIT_IS_BUFFER_POOL (pool));
      else
        fail_unless (pool == nullptr);
      if (pool)
        gst_object_unref (pool);
      fail_unless (gst_query_find_allocation_meta (q, GST_VIDEO_CROP_META_API_TYPE, nullptr));
      gst_query_unref (q);
    }
    gst_caps_unref (caps);
    fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_NULL),
                            GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (sink);
  }
}
GST_END_TEST;

/* An ALLOCATION query can reach the sink while it starts or stops (a
 * streaming thread upstream negotiates while the application shuts the
 * pipeline down). The proposal must never see half of start()'s state. */
GST_START_TEST (test_propose_while_starting_and_stopping)
{
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  g_object_set (sink, "location", "/dev/null", nullptr);
  std::atomic<bool> done{false};
  std::atomic<guint> queries{0}, bad{0};
  std::thread asker ([&] {
    GstCaps *caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=64,height=48");
    auto *klass = GST_BASE_SINK_GET_CLASS (sink);
    while (!done.load ()) {
      GstQuery *q = gst_query_new_allocation (caps, TRUE);
      klass->propose_allocation (GST_BASE_SINK (sink), q);
      /* either our pool, or no pool but the count of what we hold */
      if (gst_query_get_n_allocation_pools (q) != 1)
        bad++;
      gst_query_unref (q);
      queries++;
    }
    gst_caps_unref (caps);
  });
  const guint cycles = under_valgrind () ? 100 : 1500;
  for (guint i = 0; i < cycles; i++) {
    fail_unless (gst_element_set_state (sink, GST_STATE_READY) == GST_STATE_CHANGE_SUCCESS);
    fail_unless (gst_element_set_state (sink, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  }
  done = true;
  asker.join ();
  GST_INFO ("%u queries during %u start/stop cycles", queries.load (), cycles);
  fail_unless (queries.load () > 0);
  fail_unless_equals_int (bad.load (), 0);
  gst_object_unref (sink);
}
GST_END_TEST;

/* Video meta strides and plane offsets, with and without a crop meta. */
GST_START_TEST (test_honours_video_meta_and_crop_meta)
{
  TmpDir dir;
  for (GstVideoFormat fmt : {GST_VIDEO_FORMAT_GRAY8, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_NV12,
                             GST_VIDEO_FORMAT_YUY2, GST_VIDEO_FORMAT_RGBA}) {
    for (bool crop : {false, true}) {
      const guint fw = 50, fh = 40;
      const guint x = crop ? 6 : 0, y = crop ? 4 : 0, w = crop ? 21 : fw, h = crop ? 13 : fh;
      const std::string out = dir.file ("out.raw");
      GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
                                           gst_video_format_to_string (fmt), "width", G_TYPE_INT,
                                           gint (w), "height", G_TYPE_INT, gint (h), "framerate",
                                           GST_TYPE_FRACTION, 30, 1, nullptr);
      GstElement *p =
          parse ("appsrc name=src format=time ! dmakitsink name=sink sync=false location=" + out);
      auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
      gst_element_set_state (p, GST_STATE_PLAYING);
      for (guint i = 0; i < 2; i++) {
        GstVideoInfo layout;
        GstBuffer *b = make_padded_frame (fmt, fw, fh, &layout);
        if (crop) {
          GstVideoCropMeta *cm = gst_buffer_add_video_crop_meta (b);
          cm->x = x;
          cm->y = y;
          cm->width = w;
          cm->height = h;
        }
        push_sample (src.get (), b, caps, i);
      }
      GstFlowReturn ret;
      g_signal_emit_by_name (src.get (), "end-of-stream", &ret);
      RunResult r = wait_bus (p, 30);
      set_null (p);
      fail_unless (r.eos, "%s", r.error.c_str ());
      const std::string frame = expected_crop (fmt, x, y, w, h);
      const std::string got = read_file (out);
      fail_unless (got == frame + frame, "%s crop=%d: written bytes differ (%zu vs %zu)",
                   gst_video_format_to_string (fmt), crop, got.size (), 2 * frame.size ());
      fail_unless_equals_uint64 (stat (p, "sink", "copies"), 0); /* gathered, not copied */
      gst_caps_unref (caps);
      gst_object_unref (p);
    }
  }
}
GST_END_TEST;

/* A FIFO whose pipe buffer the test fills first stalls the writer: every
 * buffer then waits in the queue, across a caps change. Each entry carries
 * its own layout, so the file is right once the reader drains it. */
GST_START_TEST (test_caps_change_with_queued_buffers)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo);
  /* Fill the pipe so that the sink's first write blocks. */
  UniqueFd filler (open (fifo.c_str (), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  fail_unless (filler.valid ());
  std::string prefill;
  {
    std::vector<char> junk (4096, 'J');
    for (;;) {
      const ssize_t n = write (filler.get (), junk.data (), junk.size ());
      if (n <= 0)
        break;
      prefill.append (junk.data (), gsize (n));
    }
  }
  GstElement *p = parse ("appsrc name=src format=time ! "
                         "dmakitsink name=sink sync=false max-pending=16 location=" + fifo);
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstCaps *gray = gst_caps_from_string ("video/x-raw,format=GRAY8,width=32,height=16,framerate=30/1");
  GstCaps *i420 = gst_caps_from_string ("video/x-raw,format=I420,width=20,height=10,framerate=30/1");
  std::string expected;
  for (guint i = 0; i < 8; i++) {
    const bool first = i < 4;
    GstVideoInfo layout;
    GstBuffer *b = make_padded_frame (first ? GST_VIDEO_FORMAT_GRAY8 : GST_VIDEO_FORMAT_I420,
                                      first ? 32 : 20, first ? 16 : 10, &layout);
    expected += expected_crop (first ? GST_VIDEO_FORMAT_GRAY8 : GST_VIDEO_FORMAT_I420, 0, 0,
                               first ? 32 : 20, first ? 16 : 10);
    push_sample (src.get (), b, first ? gray : i420, i);
  }
  GstFlowReturn ret;
  g_signal_emit_by_name (src.get (), "end-of-stream", &ret);
  /* Everything gets queued while the writer is stuck. */
  stalled_check (p, wait_until ([&] { return stat (p, "sink", "rendered") == 8; }, 60000),
                 "rendered %" G_GUINT64_FORMAT, stat (p, "sink", "rendered"));
  stalled_check (p, stat (p, "sink", "max-queue-depth") >= 7, "max-queue-depth %" G_GUINT64_FORMAT,
                 stat (p, "sink", "max-queue-depth"));
  stalled_check (p, stat (p, "sink", "written") == 0, "written %" G_GUINT64_FORMAT,
                 stat (p, "sink", "written"));
  filler.reset ();
  reader.start (0, true);
  RunResult r = wait_bus (p, 30);
  set_null (p);
  reader.join ();
  fail_unless (r.eos, "%s", r.error.c_str ());
  fail_unless_equals_uint64 (stat (p, "sink", "written"), 8);
  fail_unless (reader.data () == prefill + expected, "FIFO content differs (%zu vs %zu bytes)",
               reader.data ().size (), prefill.size () + expected.size ());
  gst_caps_unref (gray);
  gst_caps_unref (i420);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_overrun_drop_never_blocks)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo);
  /* 76800-byte frames: larger than the pipe, so the writer stalls at once. */
  GstElement *p = parse ("videotestsrc num-buffers=100 ! "
                         "video/x-raw,format=GRAY8,width=320,height=240 ! "
                         "dmakitsink name=sink sync=false overrun=drop max-pending=2 location=" +
                         fifo);
  gst_element_set_state (p, GST_STATE_PLAYING);
  stalled_check (
      p,
      wait_until (
          [&] { return stat (p, "sink", "rendered") + stat (p, "sink", "dropped") == 100; },
          60000),
      "the streaming thread did not get through all buffers");
  const guint64 dropped = stat (p, "sink", "dropped"), rendered = stat (p, "sink", "rendered");
  const guint64 max_block = stat (p, "sink", "max-block-ns");
  const guint64 max_enqueue = stat (p, "sink", "max-enqueue-ns");
  GST_INFO ("drop: rendered %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT
            " max-block %" G_GUINT64_FORMAT " ns, max-enqueue %" G_GUINT64_FORMAT " ns",
            rendered, dropped, max_block, max_enqueue);
  stalled_check (p, dropped >= 90, "only %" G_GUINT64_FORMAT " dropped", dropped);
  stalled_check (p, rendered >= 2 && rendered <= 4, "rendered %" G_GUINT64_FORMAT, rendered);
  /* never waited for the writer. (max-enqueue-ns is the hand-off's wall
   * time, preemption included, so a loaded or emulated machine can make it
   * anything: it is logged above, not asserted.) */
  stalled_check (p, max_block == 0, "max-block-ns %" G_GUINT64_FORMAT, max_block);
  stalled_check (p, stat (p, "sink", "blocked-ns") == 0, "blocked-ns %" G_GUINT64_FORMAT,
                 stat (p, "sink", "blocked-ns"));
  reader.start ();
  RunResult r = wait_bus (p, 60);
  fail_unless (r.eos, "%s", r.error.c_str ());
  fail_unless (r.warning.find ("dropped") != std::string::npos, "warning: %s",
               r.warning.c_str ());
  set_null (p);
  reader.join ();
  fail_unless_equals_uint64 (stat (p, "sink", "written"), rendered);
  fail_unless_equals_uint64 (reader.total (), rendered * 76800);
  fail_unless_equals_uint64 (stat (p, "sink", "bytes-written"), rendered * 76800);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_overrun_block_pushes_back)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo);
  /* 76800-byte frames: larger than the pipe, so the writer stalls on the
   * first one until the reader starts. */
  GstElement *p = parse ("videotestsrc num-buffers=20 ! "
                         "video/x-raw,format=GRAY8,width=320,height=240 ! "
                         "dmakitsink name=sink sync=false max-pending=2 location=" + fifo);
  gst_element_set_state (p, GST_STATE_PLAYING);
  /* Wait for the condition itself, however slow the machine: the writer
   * holds the first frame (stuck in the pipe), the queue holds the next two,
   * and the streaming thread is blocked waiting for room with the fourth.
   * (Blocked alone is not enough: the writer may not have taken the first
   * frame yet.) */
  stalled_check (p, wait_until (
                        [&] {
                          return stat (p, "sink", "blocked-ns") > 0 &&
                                 stat (p, "sink", "rendered") == 2 + 1 &&
                                 stat (p, "sink", "queue-depth") == 2;
                        },
                        60000),
                 "the streaming thread never blocked behind a full queue (rendered %"
                 G_GUINT64_FORMAT ", queue-depth %" G_GUINT64_FORMAT ")",
                 stat (p, "sink", "rendered"), stat (p, "sink", "queue-depth"));
  /* The writer is stuck, the queue is full, the streaming thread waits and
   * nothing is dropped. */
  stalled_check (p, stat (p, "sink", "dropped") == 0, "dropped %" G_GUINT64_FORMAT,
                 stat (p, "sink", "dropped"));
  stalled_check (p, stat (p, "sink", "written") == 0, "written %" G_GUINT64_FORMAT,
                 stat (p, "sink", "written"));
  /* How long it has been blocked so far: the wait, once over, lasted at
   * least that long. */
  const guint64 blocked = stat (p, "sink", "blocked-ns");
  stalled_check (p, blocked > 0, "not blocked any more");
  reader.start ();
  RunResult r = wait_bus (p, 60);
  set_null (p);
  reader.join ();
  fail_unless (r.eos, "%s", r.error.c_str ());
  fail_unless_equals_uint64 (stat (p, "sink", "written"), 20);
  fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
  fail_unless_equals_uint64 (reader.total (), 20 * 76800);
  fail_unless (stat (p, "sink", "max-block-ns") >= blocked,
               "max-block-ns %" G_GUINT64_FORMAT " < %" G_GUINT64_FORMAT " seen blocking",
               stat (p, "sink", "max-block-ns"), blocked);
  fail_unless_equals_uint64 (stat (p, "sink", "blocked-ns"), 0);
  gst_object_unref (p);
}
GST_END_TEST;

/* PLAYING -> PAUSED calls basesink's unlock(), like a flush. A render that
 * waits for room, and an EOS that waits for the drain, must then wait for
 * PLAYING again and carry on, not fail with FLUSHING (upstream would stop
 * streaming for good) or drop the EOS (the application would wait for it for
 * ever). The writer is stalled on a FIFO while the pipeline pauses. */
GST_START_TEST (test_pause_while_blocked_and_while_draining)
{
  TmpDir dir;
  for (bool at_eos : {false, true}) {
    const std::string fifo = dir.file (at_eos ? "fifo-eos" : "fifo-block");
    FifoReader reader (fifo);
    /* 20 frames of 76800 bytes; at_eos: a queue that takes them all, so the
     * streaming thread ends up waiting in the EOS drain */
    GstElement *p = parse ("videotestsrc num-buffers=20 ! "
                           "video/x-raw,format=GRAY8,width=320,height=240 ! "
                           "dmakitsink name=sink sync=false max-pending=" +
                           std::string (at_eos ? "32" : "2") + " location=" + fifo);
    gst_element_set_state (p, GST_STATE_PLAYING);
    if (at_eos)
      stalled_check (p, wait_until ([&] { return stat (p, "sink", "rendered") == 20; }, 60000),
                     "not all buffers were queued");
    else
      stalled_check (p,
                     wait_until ([&] { return stat (p, "sink", "blocked-ns") > 0; }, 60000),
                     "the streaming thread never blocked");
    stalled_check (p, gst_element_set_state (p, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE,
                   "at_eos=%d: cannot pause", at_eos);
    const GstStateChangeReturn paused = gst_element_get_state (p, nullptr, nullptr,
                                                               60 * GST_SECOND);
    stalled_check (p, paused == GST_STATE_CHANGE_SUCCESS, "at_eos=%d: pausing returned %s",
                   at_eos, gst_element_state_change_return_get_name (paused));
    stalled_check (p, gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE,
                   "at_eos=%d: cannot play again", at_eos);
    reader.start ();
    RunResult r = wait_bus (p, 60);
    set_null (p);
    reader.join ();
    fail_unless (r.eos, "at_eos=%d: no EOS after pausing (%s)", at_eos, r.error.c_str ());
    fail_unless_equals_uint64 (stat (p, "sink", "written"), 20);
    fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
    fail_unless_equals_uint64 (reader.total (), 20 * 76800);
    gst_object_unref (p);
  }
}
GST_END_TEST;

/* EOS is posted only when the writer has written everything: with a slow
 * reader, at EOS time all but at most one pipe-full (and the chunk the reader
 * is holding) must have been read. */
GST_START_TEST (test_eos_after_drain)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo);
  GstElement *p = parse ("videotestsrc num-buffers=20 ! "
                         "video/x-raw,format=GRAY8,width=256,height=128 ! "
                         "dmakitsink name=sink sync=false max-pending=32 location=" + fifo);
  gst_element_set_state (p, GST_STATE_PLAYING); /* the sink opens its end here */
  /* The writer stalls once the pipe is full (two frames): wait until
   * buffers queue up behind it, then read slowly. */
  stalled_check (p, wait_until ([&] { return stat (p, "sink", "max-queue-depth") >= 2; }, 60000),
                 "the queue was never used");
  reader.start (2000);
  RunResult r = wait_bus (p, 120);
  const guint64 read_at_eos = reader.total ();
  fail_unless (r.eos, "%s", r.error.c_str ());
  const guint64 total = 20ull * 256 * 128;
  fail_unless_equals_uint64 (stat (p, "sink", "bytes-written"), total);
  /* unread at EOS: at most what the pipe holds, plus one chunk the reader
   * has taken but not counted yet (it can be preempted in between) */
  fail_unless (read_at_eos + guint64 (reader.pipe_size ()) + FifoReader::kChunk >= total,
               "EOS came before the data was written: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
               " read (pipe %d)",
               read_at_eos, total, reader.pipe_size ());
  set_null (p);
  reader.join ();
  fail_unless_equals_uint64 (reader.total (), total);
  gst_object_unref (p);
}
GST_END_TEST;

/* stop() (READY -> NULL) must not wait for ever for a reader that does not
 * read: the writer gives up on what is left, says so, and counts it. */
GST_START_TEST (test_stop_does_not_wait_for_a_stalled_reader)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo); /* opened, never read */
  GstElement *p = parse ("videotestsrc num-buffers=10 ! "
                         "video/x-raw,format=GRAY8,width=320,height=240 ! "
                         "dmakitsink name=sink sync=false max-pending=4 location=" + fifo);
  /* the warning is posted while the pipeline goes to NULL: keep it */
  g_object_set (p, "auto-flush-bus", FALSE, nullptr);
  gst_element_set_state (p, GST_STATE_PLAYING);
  /* writer stuck on the full pipe, queue full, streaming thread waiting */
  stalled_check (p, wait_until (
                        [&] {
                          return stat (p, "sink", "blocked-ns") > 0 &&
                                 stat (p, "sink", "rendered") == 4 + 1 &&
                                 stat (p, "sink", "queue-depth") == 4;
                        },
                        60000),
                 "the streaming thread never blocked behind a full queue");
  set_null (p); /* aborts the test if this hangs */
  auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
  std::string warning;
  while (GstMessage *m = gst_bus_pop_filtered (bus.get (), GST_MESSAGE_WARNING)) {
    GError *err = nullptr;
    gst_message_parse_warning (m, &err, nullptr);
    if (err && std::strstr (err->message, "not written"))
      warning = err->message;
    g_clear_error (&err);
    gst_message_unref (m);
  }
  const guint64 rendered = stat (p, "sink", "rendered");
  const guint64 written = stat (p, "sink", "written");
  const guint64 not_written = stat (p, "sink", "not-written");
  fail_unless (rendered >= 1);
  fail_unless_equals_uint64 (written, 0);
  fail_unless_equals_uint64 (not_written, rendered); /* nothing lost silently */
  fail_unless_equals_uint64 (stat (p, "sink", "write-errors"), 0);
  const std::string n = std::to_string (not_written) + " accepted buffers were not written";
  fail_unless (warning.find (n) != std::string::npos, "warning \"%s\" lacks \"%s\"",
               warning.c_str (), n.c_str ());
  gst_object_unref (p);
}
GST_END_TEST;

/* A reader that goes away makes the write fail with EPIPE. That is a write
 * error like any other; SIGPIPE must not end the process. */
GST_START_TEST (test_reader_gone_is_a_write_error)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  fail_unless (mkfifo (fifo.c_str (), 0600) == 0);
  UniqueFd reader (open (fifo.c_str (), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  fail_unless (reader.valid ());
  GstElement *p = parse ("videotestsrc num-buffers=30 ! "
                         "video/x-raw,format=GRAY8,width=64,height=48 ! "
                         "dmakitsink name=sink sync=false location=" + fifo);
  /* the sink opens its end when it starts (NULL -> READY) */
  fail_unless (gst_element_set_state (p, GST_STATE_READY) == GST_STATE_CHANGE_SUCCESS);
  reader.reset ();
  RunResult r = run (p, 60);
  set_null (p);
  fail_unless (!r.error.empty (), "no error writing to a pipe without a reader");
  fail_unless_equals_string (r.error_src.c_str (), "sink");
  fail_unless (r.error.find ("Could not write") != std::string::npos &&
                   r.error.find (g_strerror (EPIPE)) != std::string::npos,
               "%s", r.error.c_str ());
  fail_unless_equals_uint64 (stat (p, "sink", "write-errors"), 1);
  fail_unless_equals_uint64 (stat (p, "sink", "rendered"),
                             stat (p, "sink", "written") + stat (p, "sink", "not-written"));
  gst_object_unref (p);
}
GST_END_TEST;

/* The hand-off between the streaming thread and the writer, many times over
 * with a queue of one and two entries, so that both sides keep going to sleep
 * and waking each other: a lost wake-up shows as a pipeline that stops. */
GST_START_TEST (test_handoff_many_small_buffers)
{
  TmpDir dir;
  const guint n = under_valgrind () ? 2000 : 20000;
  for (guint pending : {1u, 2u}) {
    const std::string out = dir.file ("small-" + std::to_string (pending) + ".raw");
    GstElement *p = run_ok ("fakesrc num-buffers=" + std::to_string (n) +
                                " sizetype=fixed sizemax=64 filltype=zero ! "
                                "dmakitsink name=sink sync=false max-pending=" +
                                std::to_string (pending) + " location=" + out,
                            120);
    fail_unless_equals_uint64 (stat (p, "sink", "written"), n);
    fail_unless_equals_uint64 (stat (p, "sink", "bytes-written"), guint64 (n) * 64);
    fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
    gst_object_unref (p);
  }
}
GST_END_TEST;

GST_START_TEST (test_unwritable_location)
{
  for (const char *path : {"/nonexistent-dmakit-dir/out.raw", "/"}) {
    RunResult r = run_expect_error (std::string ("videotestsrc num-buffers=3 ! dmakitsink "
                                                 "name=sink location=") + path);
    fail_unless_equals_string (r.error_src.c_str (), "sink");
    fail_unless (r.error.find ("Could not open") != std::string::npos &&
                     r.error.find (path) != std::string::npos,
                 "%s", r.error.c_str ());
  }
}
GST_END_TEST;

GST_START_TEST (test_disk_full)
{
  if (!g_file_test ("/dev/full", G_FILE_TEST_EXISTS)) {
    GST_WARNING ("no /dev/full here: disk-full test not run");
    return;
  }
  GError *err = nullptr;
  GstElement *p = gst_parse_launch ("videotestsrc num-buffers=30 ! "
                                    "video/x-raw,format=GRAY8,width=64,height=48 ! "
                                    "dmakitsink name=sink sync=false max-pending=16 "
                                    "location=/dev/full",
                                    &err);
  fail_unless (p != nullptr);
  RunResult r = run (p, 30);
  set_null (p);
  fail_unless (!r.error.empty (), "no error writing to /dev/full");
  fail_unless_equals_string (r.error_src.c_str (), "sink");
  const guint64 not_written = stat (p, "sink", "not-written");
  const guint64 rendered = stat (p, "sink", "rendered");
  const guint64 written = stat (p, "sink", "written");
  fail_unless (not_written >= 1);
  /* nothing silently lost: every accepted buffer is written or counted */
  fail_unless_equals_uint64 (rendered, written + not_written);
  fail_unless_equals_uint64 (stat (p, "sink", "write-errors"), 1);
  const std::string n = std::to_string (not_written) + " accepted buffers were not written";
  fail_unless (r.error.find (n) != std::string::npos && r.error.find ("No space") != std::string::npos,
               "message \"%s\" lacks \"%s\"", r.error.c_str (), n.c_str ());
  gst_object_unref (p);
}
GST_END_TEST;

/* GObject refuses a value outside a property's range and keeps the old one;
 * how loudly depends on GLib: a g_warning up to 2.74 (Debian 12, with
 * GStreamer 1.22), a g_critical in 2.84 (Debian 13, with 1.26). GstCheck's
 * ASSERT_WARNING only takes the first, so this takes either, and nothing
 * else: the value must still be refused. */
#define ASSERT_REFUSED(code)                                                                  \
  G_STMT_START                                                                                \
  {                                                                                           \
    _gst_check_expecting_log = TRUE;                                                          \
    _gst_check_raised_warning = FALSE;                                                        \
    _gst_check_raised_critical = FALSE;                                                       \
    code;                                                                                     \
    _gst_check_expecting_log = FALSE;                                                         \
    fail_unless (_gst_check_raised_warning || _gst_check_raised_critical,                     \
                 "GObject did not refuse: %s", #code);                                        \
  }                                                                                           \
  G_STMT_END

GST_START_TEST (test_bad_property_values)
{
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  fail_unless (sink != nullptr);
  g_object_set (sink, "max-pending", 5u, "stride-align", 64u, nullptr);
  ASSERT_REFUSED (g_object_set (sink, "max-pending", 0u, nullptr));
  ASSERT_REFUSED (g_object_set (sink, "max-pending", 100000u, nullptr));
  {
    /* our own warning, in our log domain (GstCheck only traps GLib's and
     * GStreamer's) */
    guint warnings = 0;
    const guint id = g_log_set_handler (
        "GStreamer-Dmakit", G_LOG_LEVEL_WARNING,
        [] (const gchar *, GLogLevelFlags, const gchar *msg, gpointer data) {
          if (std::strstr (msg, "stride-align must be 0 or a power of two"))
            (*static_cast<guint *> (data))++;
        },
        &warnings);
    g_object_set (sink, "stride-align", 48u, nullptr);
    g_log_remove_handler ("GStreamer-Dmakit", id);
    fail_unless_equals_int (warnings, 1);
  }
  ASSERT_REFUSED (g_object_set (sink, "overrun", 9, nullptr));
  ASSERT_REFUSED (g_object_set (sink, "backend", 42, nullptr));
  guint max_pending = 0, align = 0;
  gint overrun = -1;
  g_object_get (sink, "max-pending", &max_pending, "stride-align", &align, "overrun", &overrun,
                nullptr);
  fail_unless_equals_int (max_pending, 5);
  fail_unless_equals_int (align, 64);
  fail_unless_equals_int (overrun, 0);
  gst_object_unref (sink);
}
GST_END_TEST;

/* A backend that is not there is an error at start, not a silent fallback. */
GST_START_TEST (test_unavailable_backend)
{
  struct {
    const char *nick, *device;
  } backends[] = {{"dma-heap", "/dev/dma_heap"}, {"udmabuf", "/dev/udmabuf"}};
  guint tried = 0;
  for (auto &b : backends) {
    if (g_file_test (b.device, G_FILE_TEST_EXISTS))
      continue; /* present: the VM tier covers it */
    RunResult r = run_expect_error (std::string ("videotestsrc num-buffers=2 ! dmakitsink "
                                                 "name=sink backend=") + b.nick);
    fail_unless_equals_string (r.error_src.c_str (), "sink");
    fail_unless (r.error.find ("backend") != std::string::npos, "%s", r.error.c_str ());
    tried++;
  }
  if (tried == 0)
    GST_INFO ("every backend is present here; nothing to refuse");
}
GST_END_TEST;

/* As filesink and fakesink: sync=false by default. */
GST_START_TEST (test_filesink_defaults)
{
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  gboolean sync = TRUE, append = TRUE;
  gchar *index = nullptr;
  g_object_get (sink, "sync", &sync, "append", &append, "index-location", &index, nullptr);
  fail_unless (!sync, "sync defaults to TRUE");
  fail_unless (!append);
  fail_unless (index == nullptr);
  /* gst-inspect shows readable enum values: a description and a kebab nick */
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS (sink), "overrun");
  fail_unless (ps && G_IS_PARAM_SPEC_ENUM (ps));
  auto *klass = static_cast<GEnumClass *> (g_type_class_ref (ps->value_type));
  for (guint i = 0; i < klass->n_values; i++) {
    const GEnumValue &v = klass->values[i];
    fail_unless (std::strchr (v.value_name, ' ') != nullptr, "value name %s", v.value_name);
    for (const char *c = v.value_nick; *c; c++)
      fail_unless (g_ascii_islower (*c) || *c == '-', "nick %s", v.value_nick);
  }
  g_type_class_unref (klass);
  gst_object_unref (sink);
}
GST_END_TEST;

/* file:// like filesink, through the GstURIHandler interface itself (with
 * rank none, gst_element_make_from_uri() never picks dmakitsink). */
GST_START_TEST (test_uri_handler)
{
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  fail_unless (GST_IS_URI_HANDLER (sink));
  GstURIHandler *h = GST_URI_HANDLER (sink);
  fail_unless_equals_int (gst_uri_handler_get_uri_type (h), GST_URI_SINK);
  const gchar *const *protocols = gst_uri_handler_get_protocols (h);
  fail_unless (protocols && g_strv_length (const_cast<gchar **> (protocols)) == 1);
  fail_unless_equals_string (protocols[0], "file");
  GError *err = nullptr;
  fail_unless (gst_uri_handler_set_uri (h, "file:///tmp/a%20b.raw", &err));
  gchar *location = nullptr;
  g_object_get (sink, "location", &location, nullptr);
  fail_unless_equals_string (location, "/tmp/a b.raw");
  g_free (location);
  gchar *uri = gst_uri_handler_get_uri (h);
  fail_unless_equals_string (uri, "file:///tmp/a%20b.raw");
  g_free (uri);
  fail_unless (gst_uri_handler_set_uri (h, "file://localhost/tmp/c.raw", &err));
  g_object_get (sink, "location", &location, nullptr);
  fail_unless_equals_string (location, "/tmp/c.raw");
  g_free (location);
  /* location -> uri */
  g_object_set (sink, "location", "/tmp/d e.raw", nullptr);
  uri = gst_uri_handler_get_uri (h);
  fail_unless_equals_string (uri, "file:///tmp/d%20e.raw");
  g_free (uri);
  /* errors */
  fail_if (gst_uri_handler_set_uri (h, "http://example.com/x", &err));
  fail_unless (err && err->domain == GST_URI_ERROR);
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (h, "file://otherhost/x", &err));
  fail_unless (err != nullptr);
  g_clear_error (&err);
  /* "file://" clears, as filesink (applications probe handlers with it) */
  fail_unless (gst_uri_handler_set_uri (h, "file://", &err));
  g_object_get (sink, "location", &location, nullptr);
  fail_unless (location == nullptr);
  /* the URI query answers it */
  fail_unless (gst_uri_handler_set_uri (h, "file:///tmp/q.raw", &err));
  GstQuery *q = gst_query_new_uri ();
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (sink, "sink"));
  fail_unless (gst_pad_query (pad.get (), q));
  gst_query_parse_uri (q, &uri);
  fail_unless_equals_string (uri, "file:///tmp/q.raw");
  g_free (uri);
  gst_query_unref (q);
  gst_object_unref (sink);

  GstElement *made =
      gst_element_make_from_uri (GST_URI_SINK, "file:///tmp/x.raw", nullptr, nullptr);
  if (made) {
    fail_if (g_str_equal (G_OBJECT_TYPE_NAME (made), "GstDmakitSink"),
             "rank none, yet picked for file://");
    gst_object_unref (made);
  }
}
GST_END_TEST;

/* A file is seekable in BYTES and a FIFO is not (as filesink says); the
 * position is the bytes accepted. A BYTES segment that must move the
 * position on a FIFO is an error, as with filesink. */
GST_START_TEST (test_seeking_and_position_queries)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  FifoReader reader (fifo);
  for (bool regular : {true, false}) {
    GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
    g_object_set (sink, "location", regular ? dir.file ("a.raw").c_str () : fifo.c_str (), nullptr);
    fail_unless (gst_element_set_state (sink, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (sink, "sink"));
    GstQuery *q = gst_query_new_seeking (GST_FORMAT_BYTES);
    fail_unless (gst_pad_query (pad.get (), q));
    gboolean seekable = !regular;
    GstFormat fmt = GST_FORMAT_UNDEFINED;
    gst_query_parse_seeking (q, &fmt, &seekable, nullptr, nullptr);
    fail_unless_equals_int (fmt, GST_FORMAT_BYTES);
    fail_unless_equals_int (seekable, regular);
    gst_query_unref (q);
    q = gst_query_new_seeking (GST_FORMAT_TIME);
    fail_unless (gst_pad_query (pad.get (), q));
    gst_query_parse_seeking (q, nullptr, &seekable, nullptr, nullptr);
    fail_if (seekable);
    gst_query_unref (q);
    q = gst_query_new_position (GST_FORMAT_BYTES);
    fail_unless (gst_pad_query (pad.get (), q));
    gint64 pos = -1;
    gst_query_parse_position (q, &fmt, &pos);
    fail_unless_equals_int64 (pos, 0);
    gst_query_unref (q);
    fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (sink);
  }
  /* the FIFO: wavenc goes back to its header at EOS */
  reader.start ();
  RunResult r = run_expect_error ("audiotestsrc num-buffers=3 ! wavenc ! dmakitsink name=sink "
                                  "location=" + fifo);
  fail_unless_equals_string (r.error_src.c_str (), "sink");
  fail_unless (r.error.find ("seeking") != std::string::npos, "%s", r.error.c_str ());
}
GST_END_TEST;

/* append: as filesink append=true, the old content stays and every write
 * (also wavenc's header rewrite) lands at the end. */
GST_START_TEST (test_append)
{
  TmpDir dir;
  std::string files[2];
  for (guint i = 0; i < 2; i++) {
    const std::string out = dir.file (i ? "dmakit.raw" : "filesink.raw");
    fail_unless (g_file_set_contents (out.c_str (), "OLD CONTENT", -1, nullptr));
    GstElement *p = run_ok ("audiotestsrc num-buffers=4 ! audio/x-raw,rate=8000 ! wavenc ! " +
                            std::string (i ? "dmakitsink" : "filesink") +
                            " name=sink append=true location=" + out);
    gst_object_unref (p);
    files[i] = read_file (out);
  }
  fail_unless (files[0].compare (0, 11, "OLD CONTENT") == 0);
  fail_unless (files[1] == files[0], "append: %zu bytes vs filesink's %zu", files[1].size (),
               files[0].size ());
}
GST_END_TEST;

/* The child of test_no_fd_per_buffer: a fresh process (this program again,
 * exec'd after fork, so no thread or pool of earlier tests is inherited)
 * that already runs under RLIMIT_NOFILE 64. Records 70 NV12 frames through a
 * queue of 60 (a pool of 63 buffers) and exits 0 on EOS with few fds open. */
static int
nofile_child (const char *out)
{
  gst_init (nullptr, nullptr);
  const std::string desc = "videotestsrc num-buffers=70 ! "
                           "video/x-raw,format=NV12,width=320,height=240 ! "
                           "dmakitsink name=sink max-pending=60 location=" + std::string (out);
  GstElement *p = gst_parse_launch (desc.c_str (), nullptr);
  if (!p)
    return 91;
  GstBus *bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                              GstMessageType (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  /* fds open now, with the pool and its 63 buffers alive */
  guint fds = 0;
  if (DIR *d = opendir ("/proc/self/fd")) {
    while (readdir (d))
      fds++;
    closedir (d);
  }
  /* Where this machine has DMA-BUF (a dma-heap, udmabuf or DRM node), AUTO
   * proposes real DMA-BUFs, one fd each, for producers that import them: 63
   * of them cannot fit under 64 fds, and the application must be told why
   * (pool, count, size, errno) by the sink's bus error. Without DMA-BUF the
   * pool holds system memory and the recording succeeds with few fds. */
  bool dmabuf = false;
  if (GstAllocator *a = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, nullptr)) {
    dmabuf = gst_dmakit_backend_allocator_get_backend (GST_DMAKIT_BACKEND_ALLOCATOR (a))
             != GST_DMAKIT_BACKEND_MEMFD;
    gst_object_unref (a);
  }
  int code = 92;
  if (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS) {
    code = dmabuf ? 94 : fds < 40 ? 0 : 93;
  } else if (m) {
    GError *err = nullptr;
    gchar *dbg = nullptr;
    gst_message_parse_error (m, &err, &dbg);
    g_printerr ("child: error from %s: %s (%s)\n", GST_MESSAGE_SRC_NAME (m), err->message, dbg);
    if (dmabuf && g_str_equal (GST_MESSAGE_SRC_NAME (m), "sink")
        && strstr (err->message, "dmakitbufferpool") && strstr (err->message, "63 buffers")
        && strstr (err->message, "115200 bytes")
        && strstr (err->message, g_strerror (EMFILE)) && dbg && strstr (dbg, "errno 24"))
      code = 0;
    g_clear_error (&err);
    g_free (dbg);
  }
  g_printerr ("child: DMA-BUF here: %s\n", dmabuf ? "yes (expects the pool's error)" : "no");
  g_printerr ("child: %u fds open at EOS\n", fds);
  if (m)
    gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  return code;
}

static gchar *g_self_exe = nullptr;

/* For system-memory caps and no DMA-BUF here, the proposed pool holds plain
 * system memory: no fd per buffer. max-pending=60 asks for 63 buffers, which
 * memfd memory could not have under RLIMIT_NOFILE 64 (set in a child). With
 * DMA-BUF (the VM tier) the pool cannot activate, and the bus error says
 * which pool, how many buffers of what size, and the errno. */
GST_START_TEST (test_no_fd_per_buffer)
{
  TmpDir dir;
  const std::string out = dir.file ("x.nv12");
  fail_unless (g_self_exe != nullptr);
  fflush (stdout);
  fflush (stderr);
  const pid_t pid = fork ();
  fail_unless (pid >= 0);
  if (pid == 0) {
    struct rlimit rl;
    getrlimit (RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
      _exit (90);
    char *argv[] = {g_self_exe, const_cast<char *> ("--nofile-child"),
                    const_cast<char *> (out.c_str ()), nullptr};
    execv (g_self_exe, argv);
    _exit (127);
  }
  int status = 0;
  const gint64 deadline = g_get_monotonic_time () + 90 * G_USEC_PER_SEC;
  for (;;) {
    const pid_t r = waitpid (pid, &status, WNOHANG);
    if (r == pid)
      break;
    fail_unless (r == 0, "waitpid: %s", g_strerror (errno));
    if (g_get_monotonic_time () > deadline) {
      kill (pid, SIGKILL);
      waitpid (pid, &status, 0);
      fail ("the child did not finish in 90 s");
    }
    g_usleep (20000);
  }
  fail_unless (WIFEXITED (status), "the child died");
  fail_unless_equals_int (WEXITSTATUS (status), 0);
  GstAllocator *a = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, nullptr);
  const bool dmabuf = a && gst_dmakit_backend_allocator_get_backend (GST_DMAKIT_BACKEND_ALLOCATOR (a))
                               != GST_DMAKIT_BACKEND_MEMFD;
  if (a)
    gst_object_unref (a);
  if (!dmabuf)
    fail_unless_equals_int (read_file (out).size (), 70 * 320 * 240 * 3 / 2);
}
GST_END_TEST;

/* index-location: one line per frame (offset size pts duration format
 * width height strides plane-offsets) for a recording of frames of varying
 * sizes (crop metas); read back, the lines tile the file, and each frame is
 * the crop. */
GST_START_TEST (test_index)
{
  TmpDir dir;
  const std::string out = dir.file ("roi.raw"), index = dir.file ("roi.idx");
  const GstVideoFormat fmt = GST_VIDEO_FORMAT_I420;
  const guint fw = 64, fh = 48;
  struct Rect {
    guint x, y, w, h;
  } rects[] = {{0, 0, 64, 48}, {2, 4, 30, 20}, {10, 6, 17, 9}, {0, 0, 8, 8}, {32, 24, 32, 24}};
  GstCaps *caps =
      gst_caps_from_string ("video/x-raw,format=I420,width=64,height=48,framerate=30/1");
  GstElement *p = parse ("appsrc name=src format=time ! dmakitsink name=sink location=" + out +
                         " index-location=" + index);
  auto src = ObjectRef<GstElement>::adopt (gst_bin_get_by_name (GST_BIN (p), "src"));
  gst_element_set_state (p, GST_STATE_PLAYING);
  guint i = 0;
  for (const Rect &r : rects) {
    GstVideoInfo layout;
    GstBuffer *b = make_padded_frame (fmt, fw, fh, &layout);
    GstVideoCropMeta *cm = gst_buffer_add_video_crop_meta (b);
    cm->x = r.x;
    cm->y = r.y;
    cm->width = r.w;
    cm->height = r.h;
    push_sample (src.get (), b, caps, i++);
  }
  GstFlowReturn ret;
  g_signal_emit_by_name (src.get (), "end-of-stream", &ret);
  RunResult res = wait_bus (p, 30);
  set_null (p);
  fail_unless (res.eos, "%s", res.error.c_str ());
  gst_object_unref (p);
  gst_caps_unref (caps);

  const std::string data = read_file (out);
  gchar **lines = g_strsplit (read_file (index).c_str (), "\n", -1);
  guint64 next = 0;
  guint n = 0;
  for (gchar **l = lines; *l; l++) {
    if (**l == '#' || **l == '\0')
      continue;
    fail_unless (n < G_N_ELEMENTS (rects), "more lines than frames");
    const Rect &r = rects[n];
    gchar **f = g_strsplit (*l, " ", -1);
    fail_unless_equals_int (g_strv_length (f), 9);
    const guint64 offset = g_ascii_strtoull (f[0], nullptr, 10);
    const guint64 size = g_ascii_strtoull (f[1], nullptr, 10);
    fail_unless_equals_uint64 (offset, next);
    fail_unless_equals_uint64 (g_ascii_strtoull (f[2], nullptr, 10), n * GST_SECOND / 30);
    fail_unless_equals_string (f[4], "I420");
    fail_unless_equals_int (atoi (f[5]), r.w);
    fail_unless_equals_int (atoi (f[6]), r.h);
    GstVideoInfo info;
    gst_video_info_set_format (&info, fmt, r.w, r.h);
    fail_unless_equals_uint64 (size, GST_VIDEO_INFO_SIZE (&info));
    const std::string strides = std::to_string (info.stride[0]) + "," +
                                std::to_string (info.stride[1]) + "," +
                                std::to_string (info.stride[2]);
    fail_unless_equals_string (f[7], strides.c_str ());
    const std::string offsets = std::to_string (info.offset[0]) + "," +
                                std::to_string (info.offset[1]) + "," +
                                std::to_string (info.offset[2]);
    fail_unless_equals_string (f[8], offsets.c_str ());
    fail_unless (offset + size <= data.size ());
    fail_unless (data.compare (offset, size, expected_crop (fmt, r.x, r.y, r.w, r.h)) == 0,
                 "frame %u: pixels differ", n);
    next = offset + size;
    n++;
    g_strfreev (f);
  }
  g_strfreev (lines);
  fail_unless_equals_int (n, G_N_ELEMENTS (rects));
  fail_unless_equals_uint64 (next, data.size ()); /* the frames tile the file */
}
GST_END_TEST;

static Suite *
sink_suite (void)
{
  Suite *s = suite_create ("dmakitsink");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_no_location_consumes_and_counts);
  tcase_add_test (tc, test_allocation_proposal);
  tcase_add_test (tc, test_allocation_min_without_pool);
  tcase_add_test (tc, test_propose_while_starting_and_stopping);
  tcase_add_test (tc, test_honours_video_meta_and_crop_meta);
  tcase_add_test (tc, test_caps_change_with_queued_buffers);
  tcase_add_test (tc, test_overrun_drop_never_blocks);
  tcase_add_test (tc, test_overrun_block_pushes_back);
  tcase_add_test (tc, test_eos_after_drain);
  tcase_add_test (tc, test_pause_while_blocked_and_while_draining);
  tcase_add_test (tc, test_stop_does_not_wait_for_a_stalled_reader);
  tcase_add_test (tc, test_reader_gone_is_a_write_error);
  tcase_add_test (tc, test_handoff_many_small_buffers);
  tcase_add_test (tc, test_unwritable_location);
  tcase_add_test (tc, test_disk_full);
  tcase_add_test (tc, test_bad_property_values);
  tcase_add_test (tc, test_unavailable_backend);
  tcase_add_test (tc, test_filesink_defaults);
  tcase_add_test (tc, test_uri_handler);
  tcase_add_test (tc, test_seeking_and_position_queries);
  tcase_add_test (tc, test_append);
  tcase_add_test (tc, test_no_fd_per_buffer);
  tcase_add_test (tc, test_index);
  return s;
}

int
main (int argc, char **argv)
{
  /* the path of this program (under valgrind the link names the client
   * program, not valgrind) */
  g_self_exe = g_file_read_link ("/proc/self/exe", nullptr);
  if (argc == 3 && std::strcmp (argv[1], "--nofile-child") == 0)
    return nofile_child (argv[2]);
  gst_check_init (&argc, &argv);
  Suite *s = sink_suite ();
  return gst_check_run_suite (s, "sink", __FILE__);
}
