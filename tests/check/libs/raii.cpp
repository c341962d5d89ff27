/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the private RAII helpers in gst/dmakit/dmakit-raii.h. */
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit-raii.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace dmakit;

static gint
refcount (gpointer obj)
{
  return GST_OBJECT_REFCOUNT_VALUE (obj);
}

GST_START_TEST (test_object_ref)
{
  GstElement *raw = gst_bin_new ("b");
  gst_object_ref_sink (raw);
  fail_unless_equals_int (refcount (raw), 1);
  {
    auto r = ObjectRef<GstElement>::ref (raw);
    fail_unless_equals_int (refcount (raw), 2);
    auto copy = r;
    fail_unless_equals_int (refcount (raw), 3);
    auto moved = std::move (copy);
    fail_unless (!copy);
    fail_unless (moved.get () == raw);
    fail_unless_equals_int (refcount (raw), 3);
    moved.reset ();
    fail_unless_equals_int (refcount (raw), 2);
    r = r; /* self-assignment keeps the ref */
    fail_unless_equals_int (refcount (raw), 2);
  }
  fail_unless_equals_int (refcount (raw), 1);
  {
    auto adopted = ObjectRef<GstElement>::adopt (raw);
    GstElement *given = adopted.release ();
    fail_unless (given == raw);
    fail_unless (!adopted);
  }
  fail_unless_equals_int (refcount (raw), 1);
  {
    auto adopted = ObjectRef<GstElement>::adopt (raw);
  }
  /* the adopted reference was dropped: the object is gone (checked by leak
   * tracing in the sanitizer tiers); nothing more to touch here. */
}
GST_END_TEST;

GST_START_TEST (test_mini_object_ref)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 16, NULL);
  {
    auto a = BufferRef::ref (buf);
    fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (buf), 2);
    BufferRef b;
    b = a;
    fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (buf), 3);
    b = BufferRef (nullptr);
    fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (buf), 2);
  }
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (buf), 1);
  gst_buffer_unref (buf);
}
GST_END_TEST;

static gpointer
try_lock_thread (gpointer obj)
{
  gboolean got = g_mutex_trylock (GST_OBJECT_GET_LOCK (obj));
  if (got)
    g_mutex_unlock (GST_OBJECT_GET_LOCK (obj));
  return GINT_TO_POINTER (got);
}

GST_START_TEST (test_object_locker)
{
  GstObject *obj = GST_OBJECT (gst_bin_new ("lockme"));
  gst_object_ref_sink (obj);
  {
    ObjectLocker lock (obj);
    GThread *t = g_thread_new ("trylock", try_lock_thread, obj);
    fail_if (GPOINTER_TO_INT (g_thread_join (t)), "lock not held inside scope");
  }
  GThread *t = g_thread_new ("trylock", try_lock_thread, obj);
  fail_unless (GPOINTER_TO_INT (g_thread_join (t)), "lock still held after scope");
  gst_object_unref (obj);
}
GST_END_TEST;

GST_START_TEST (test_mapped_memory_and_buffer)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64, NULL);
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  const gint lockstate_before = GST_MINI_OBJECT_CAST (mem)->lockstate;
  {
    MappedMemory m (mem, GST_MAP_WRITE);
    fail_unless (bool (m));
    fail_unless (GST_MINI_OBJECT_CAST (mem)->lockstate != lockstate_before);
    fail_unless_equals_int (m.size (), 64);
    memset (m.data (), 0xab, m.size ());
  }
  {
    MappedBuffer b (buf, GST_MAP_READ);
    fail_unless (bool (b));
    fail_unless_equals_int (b.data ()[63], 0xab);
  }
  /* every guard unmapped: the memory's lock state is back where it was */
  fail_unless_equals_int (GST_MINI_OBJECT_CAST (mem)->lockstate, lockstate_before);
  {
    MappedMemory none (nullptr, GST_MAP_READ);
    fail_if (bool (none));
    fail_unless (none.data () == nullptr);
  }
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_mapped_video_frame)
{
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_NV12, 64, 32);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  {
    MappedVideoFrame f (&info, buf, GST_MAP_WRITE);
    fail_unless (bool (f));
    fail_unless_equals_int (GST_VIDEO_FRAME_N_PLANES (f.get ()), 2);
    fail_unless_equals_int (GST_VIDEO_FRAME_PLANE_STRIDE (f.get (), 0), 64);
  }
  GstBuffer *small = gst_buffer_new_allocate (NULL, 10, NULL);
  {
    MappedVideoFrame bad (&info, small, GST_MAP_READ);
    fail_if (bool (bad), "a too-small buffer must not map as a frame");
  }
  gst_buffer_unref (small);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_unique_fd)
{
  int raw = memfd_create ("dmakit-raii", MFD_CLOEXEC);
  fail_unless (raw >= 0);
  {
    UniqueFd fd (raw);
    fail_unless (fd.valid ());
    UniqueFd moved (std::move (fd));
    fail_if (fd.valid ());
    fail_unless_equals_int (moved.get (), raw);
    fail_unless (fcntl (raw, F_GETFD) >= 0);
  }
  errno = 0;
  fail_unless (fcntl (raw, F_GETFD) == -1 && errno == EBADF, "fd not closed by UniqueFd");

  raw = memfd_create ("dmakit-raii", MFD_CLOEXEC);
  {
    UniqueFd fd (raw);
    int kept = fd.release ();
    fail_unless_equals_int (kept, raw);
  }
  fail_unless (fcntl (raw, F_GETFD) >= 0, "released fd must stay open");
  close (raw);
}
GST_END_TEST;

GST_START_TEST (test_gerror_and_gfree)
{
  GErrorPtr err;
  g_set_error (err.out (), GST_CORE_ERROR, GST_CORE_ERROR_FAILED, "boom %d", 42);
  fail_unless (bool (err));
  fail_unless_equals_string (err->message, "boom 42");
  /* out() clears a previous error instead of leaking it */
  g_set_error (err.out (), GST_CORE_ERROR, GST_CORE_ERROR_FAILED, "second");
  fail_unless_equals_string (err->message, "second");
  GError *taken = err.release ();
  fail_if (bool (err));
  g_error_free (taken);

  GCharPtr s (g_strdup ("hello"));
  fail_unless_equals_string (s.get (), "hello");
  s.reset (g_strdup ("again"));
  fail_unless_equals_string (s.get (), "again");
}
GST_END_TEST;

static Suite *
raii_suite (void)
{
  Suite *s = suite_create ("dmakit-raii");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_object_ref);
  tcase_add_test (tc, test_mini_object_ref);
  tcase_add_test (tc, test_object_locker);
  tcase_add_test (tc, test_mapped_memory_and_buffer);
  tcase_add_test (tc, test_mapped_video_frame);
  tcase_add_test (tc, test_unique_fd);
  tcase_add_test (tc, test_gerror_and_gfree);
  return s;
}

GST_CHECK_MAIN (raii);
