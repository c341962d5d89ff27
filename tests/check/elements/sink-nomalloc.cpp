/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakitsink's render (the streaming thread's part) does no heap allocation:
 * queueing to the writer, counting without a location, and dropping when the
 * queue is full (overrun=drop, writer stalled on a FIFO nobody reads).
 *
 * How: this executable exports its own malloc family, forwarding to glibc's
 * __libc_* functions and counting the calls made while the calling thread
 * has counting switched on. main() re-runs the program with
 * G_SLICE=always-malloc so that GLib's slice allocator goes through malloc
 * too. test_counter_sees_allocations proves the counter works. */
#include "../pipelines/elements-util.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SINK_NOMALLOC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SINK_NOMALLOC_SANITIZED 1
#endif
#endif

extern "C" {
void *__libc_malloc (size_t);
void *__libc_calloc (size_t, size_t);
void *__libc_realloc (void *, size_t);
void __libc_free (void *);
void *__libc_memalign (size_t, size_t);
}

static __thread bool t_count __attribute__ ((tls_model ("initial-exec")));
static std::atomic<guint64> g_count{0};

static inline void
note ()
{
  if (G_UNLIKELY (t_count))
    g_count.fetch_add (1, std::memory_order_relaxed);
}

#ifndef SINK_NOMALLOC_SANITIZED
#define EXPORTED extern "C" __attribute__ ((visibility ("default")))
EXPORTED void *
malloc (size_t n)
{
  note ();
  return __libc_malloc (n);
}
EXPORTED void *
calloc (size_t n, size_t m)
{
  note ();
  return __libc_calloc (n, m);
}
EXPORTED void *
realloc (void *p, size_t n)
{
  note ();
  return __libc_realloc (p, n);
}
EXPORTED void
free (void *p)
{
  __libc_free (p);
}
EXPORTED void *
memalign (size_t a, size_t n)
{
  note ();
  return __libc_memalign (a, n);
}
EXPORTED void *
aligned_alloc (size_t a, size_t n)
{
  note ();
  return __libc_memalign (a, n);
}
EXPORTED int
posix_memalign (void **out, size_t a, size_t n)
{
  note ();
  void *p = __libc_memalign (a, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
#endif

using namespace etest;

namespace {

template <typename F>
guint64
allocations_in (F body)
{
  const guint64 before = g_count.load ();
  t_count = true;
  body ();
  t_count = false;
  return g_count.load () - before;
}

/* A dmakitsink started (PAUSED) with GRAY8 64x48 caps, ready for render(). */
GstElement *
started_sink (const std::string &props)
{
  GstElement *sink = gst_element_factory_make ("dmakitsink", nullptr);
  fail_unless (sink != nullptr);
  gst_util_set_object_arg (G_OBJECT (sink), "sync", "false");
  if (!props.empty ()) {
    gchar **kv = g_strsplit (props.c_str (), " ", -1);
    for (gchar **p = kv; *p; p++) {
      gchar **pair = g_strsplit (*p, "=", 2);
      gst_util_set_object_arg (G_OBJECT (sink), pair[0], pair[1]);
      g_strfreev (pair);
    }
    g_strfreev (kv);
  }
  fail_unless (gst_element_set_state (sink, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  auto pad = ObjectRef<GstPad>::adopt (gst_element_get_static_pad (sink, "sink"));
  fail_unless (gst_pad_send_event (pad.get (), gst_event_new_stream_start ("nomalloc")));
  GstCaps *caps =
      gst_caps_from_string ("video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1");
  fail_unless (gst_pad_send_event (pad.get (), gst_event_new_caps (caps)));
  gst_caps_unref (caps);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_pad_send_event (pad.get (), gst_event_new_segment (&seg)));
  return sink;
}

std::vector<GstBuffer *>
make_buffers (guint n)
{
  std::vector<GstBuffer *> v;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_buffer_new_allocate (nullptr, 64 * 48, nullptr);
    gst_buffer_memset (b, 0, guint8 (i), 64 * 48);
    v.push_back (b);
  }
  return v;
}

GstFlowReturn
render (GstElement *sink, GstBuffer *buf)
{
  return GST_BASE_SINK_GET_CLASS (sink)->render (GST_BASE_SINK (sink), buf);
}

} // namespace

GST_START_TEST (test_counter_sees_allocations)
{
  const guint64 n = allocations_in ([] {
    g_free (g_malloc (100));
    GstBuffer *b = gst_buffer_new ();
    gst_buffer_unref (b);
  });
  fail_unless (n >= 2, "the interposer counted %" G_GUINT64_FORMAT, n);
}
GST_END_TEST;

GST_START_TEST (test_render_queueing_does_not_allocate)
{
  TmpDir dir;
  const std::string out = dir.file ("out.raw");
  GstElement *sink = started_sink ("max-pending=64 location=" + out);
  auto bufs = make_buffers (50);
  /* warm-up outside the count */
  fail_unless_equals_int (render (sink, bufs[0]), GST_FLOW_OK);
  /* no assertion inside the counted part: check's own bookkeeping allocates */
  std::vector<GstFlowReturn> rets (bufs.size (), GST_FLOW_ERROR);
  guint64 n = allocations_in ([&] {
    for (guint i = 1; i < bufs.size (); i++)
      rets[i] = render (sink, bufs[i]);
  });
  fail_unless_equals_uint64 (n, 0);
  for (guint i = 1; i < bufs.size (); i++)
    fail_unless_equals_int (rets[i], GST_FLOW_OK);
  fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  /* and everything queued was written */
  fail_unless_equals_int (read_file (out).size (), 50 * 64 * 48);
  for (GstBuffer *b : bufs)
    gst_buffer_unref (b);
  gst_object_unref (sink);
}
GST_END_TEST;

GST_START_TEST (test_render_counting_does_not_allocate)
{
  GstElement *sink = started_sink ("");
  auto bufs = make_buffers (20);
  fail_unless_equals_int (render (sink, bufs[0]), GST_FLOW_OK);
  /* no assertion inside the counted part: check's own bookkeeping allocates */
  std::vector<GstFlowReturn> rets (bufs.size (), GST_FLOW_ERROR);
  guint64 n = allocations_in ([&] {
    for (guint i = 1; i < bufs.size (); i++)
      rets[i] = render (sink, bufs[i]);
  });
  fail_unless_equals_uint64 (n, 0);
  for (guint i = 1; i < bufs.size (); i++)
    fail_unless_equals_int (rets[i], GST_FLOW_OK);
  gst_element_set_state (sink, GST_STATE_NULL);
  for (GstBuffer *b : bufs)
    gst_buffer_unref (b);
  gst_object_unref (sink);
}
GST_END_TEST;

GST_START_TEST (test_render_dropping_does_not_allocate)
{
  TmpDir dir;
  const std::string fifo = dir.file ("fifo");
  fail_unless (mkfifo (fifo.c_str (), 0600) == 0);
  dmakit::UniqueFd reader (open (fifo.c_str (), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  dmakit::UniqueFd filler (open (fifo.c_str (), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  fail_unless (reader.valid () && filler.valid ());
  {
    std::vector<char> junk (4096, 'J');
    while (write (filler.get (), junk.data (), junk.size ()) > 0)
      ;
  }
  GstElement *sink = started_sink ("max-pending=2 overrun=drop location=" + fifo);
  auto bufs = make_buffers (40);
  std::vector<GstFlowReturn> rets (bufs.size (), GST_FLOW_ERROR);
  guint64 n = allocations_in ([&] {
    for (guint i = 0; i < bufs.size (); i++)
      rets[i] = render (sink, bufs[i]);
  });
  fail_unless_equals_uint64 (n, 0);
  for (GstFlowReturn r : rets)
    fail_unless_equals_int (r, GST_FLOW_OK);
  GstStructure *st = nullptr;
  g_object_get (sink, "stats", &st, nullptr);
  guint64 dropped = 0;
  fail_unless (gst_structure_get_uint64 (st, "dropped", &dropped));
  gst_structure_free (st);
  fail_unless (dropped >= 37, "dropped %" G_GUINT64_FORMAT, dropped);
  /* unstall the writer so that stop() can finish */
  filler.reset ();
  GThread *drainer = g_thread_new ("drain", [] (gpointer fd) -> gpointer {
    char buf[8192];
    for (;;) {
      const ssize_t r = read (GPOINTER_TO_INT (fd), buf, sizeof buf);
      if (r == 0)
        break;
      if (r < 0 && errno != EAGAIN && errno != EINTR)
        break;
      if (r < 0)
        g_usleep (1000);
    }
    return nullptr;
  }, GINT_TO_POINTER (reader.get ()));
  fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_thread_join (drainer);
  for (GstBuffer *b : bufs)
    gst_buffer_unref (b);
  gst_object_unref (sink);
}
GST_END_TEST;

static Suite *
sink_nomalloc_suite (void)
{
  Suite *s = suite_create ("dmakitsink-nomalloc");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_counter_sees_allocations);
  tcase_add_test (tc, test_render_queueing_does_not_allocate);
  tcase_add_test (tc, test_render_counting_does_not_allocate);
  tcase_add_test (tc, test_render_dropping_does_not_allocate);
  return s;
}

int
main (int argc, char **argv)
{
#ifdef SINK_NOMALLOC_SANITIZED
  (void) argc;
  (void) argv;
  (void) sink_nomalloc_suite;
  g_print ("SKIP: a sanitizer owns malloc here; the allocation counter needs the plain one\n");
  return 77;
#else
  if (under_valgrind ()) {
    g_print ("SKIP: valgrind replaces malloc, so the allocation counter sees nothing; "
             "run without valgrind\n");
    return 77;
  }
  if (g_strcmp0 (g_getenv ("G_SLICE"), "always-malloc") != 0) {
    setenv ("G_SLICE", "always-malloc", 1);
    execv ("/proc/self/exe", argv);
    g_printerr ("re-exec with G_SLICE=always-malloc failed: %s\n", g_strerror (errno));
    return 1;
  }
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (sink_nomalloc_suite (), "dmakitsink-nomalloc", __FILE__);
#endif
}
