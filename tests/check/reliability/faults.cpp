/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection through real pipelines. Each fault must end in a clear
 * error or a clean fallback: no crash, no hang (every wait has a deadline,
 * every child process a time limit), no leak (fds, buffer mappings, the pool
 * and the allocator finalized; LSan/valgrind in their tiers), and nothing
 * accepted and then silently dropped (the counters add up).
 *
 * Faults that change process-wide state (rlimits, uid, capabilities, mount
 * namespace) run in a child: this program again with "--child NAME", a fresh
 * single-threaded process, killed if it outlives its deadline.
 *
 *  refill_fails_mid_stream_fsize / _nofile
 *      dmakitsink's proposed pool (memfd memory on a host without DMA-BUF)
 *      must grow from its refill thread while a queue fills up in front of a
 *      sink that cannot write (nobody reads its FIFO, smaller than a frame,
 *      yet); memfd allocation is made to fail (RLIMIT_FSIZE below the frame
 *      size: EFBIG; or a full fd table: EMFILE) before the source goes on.
 *      Expected: the refill fails, is counted and logged with the errno, the
 *      stream waits (stops at the frame the design says, with no bus
 *      message) instead of failing, and when the reader comes back every
 *      frame is written.
 *  activation_fails_in_pipeline
 *      the same allocation failure before the stream starts: dmakitsink's
 *      proposed pool cannot preallocate; the pipeline fails with a bus error
 *      at once, the log says why, and nothing was accepted.
 *  memlock_limit_falls_back
 *      dmakitsink lock-memory=true without CAP_IPC_LOCK under a 64 KiB
 *      RLIMIT_MEMLOCK: the locks are refused, the warning names
 *      RLIMIT_MEMLOCK, and all frames are still written (clean fallback).
 *  device_permission_denied / device_is_a_directory
 *      explicit backends on a mode-000 node (run as nobody when root) and on a
 *      directory: a GError in GST_DMAKIT_ERROR naming the path and the errno.
 *  devices_vanish
 *      (needs CAP_SYS_ADMIN for a private mount namespace) an allocator made
 *      before /dev is hidden keeps allocating; new explicit allocators fail
 *      with ENOENT; AUTO falls back to memfd and never claims DMA-BUF.
 *  pool_deactivated_while_appsink_holds / _consumer_holds
 *      appsink holds frames from dmakitcrop's copy pool, or a consumer holds
 *      frames of the pool dmakitsink proposed to videotestsrc, while the
 *      pipeline goes to NULL and is destroyed; the frames stay valid, are
 *      released later from another thread, and then the pool, its memory and
 *      its fds are gone.
 *  sink_disk_full
 *      dmakitsink records into a 64 KiB tmpfs (private mount namespace), or,
 *      without CAP_SYS_ADMIN, under a 64 KiB RLIMIT_FSIZE: the error says how
 *      many accepted buffers were not written; rendered = written +
 *      not-written; the file holds exactly bytes-written.
 * (/dev/full, a nonexistent heap path and RLIMIT_NOFILE at allocator level
 * are covered by elements/sink and libs/allocator-memfd.) */
#include "reliability-util.h"

#include <gst/app/gstappsink.h>

#include <atomic>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>

using namespace reltest;

namespace {

constexpr guint kFrames = 60;
const char *const kCropDesc = "videotestsrc name=src num-buffers=%u ! "
                              "video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! "
                              "dmakitcrop name=crop left=8 top=8 ! appsink name=sink sync=false";

std::string
crop_desc (guint frames)
{
  gchar *s = g_strdup_printf (kCropDesc, frames);
  std::string out (s);
  g_free (s);
  return out;
}

/* Runs a short pipeline once so that GStreamer's lazily created state (task
 * pool threads, plugin features, quarks) exists before a baseline is taken. */
void
warm_up ()
{
  GstElement *p = parse (crop_desc (3));
  auto sink = by_name (p, "sink");
  set_state_sync (p, GST_STATE_PLAYING);
  guint n = 0;
  while (GstSample *s =
             gst_app_sink_try_pull_sample (GST_APP_SINK (sink.get ()), 45 * GST_SECOND)) {
    gst_sample_unref (s);
    n++;
  }
  const bool eos = gst_app_sink_is_eos (GST_APP_SINK (sink.get ()));
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  fail_unless (eos && n == 3, "warm-up failed: %u frames, eos %d", n, eos);
}

bool
drop_cap_ipc_lock ()
{
  struct __user_cap_header_struct header = {};
  struct __user_cap_data_struct data[2] = {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall (SYS_capget, &header, data) != 0)
    return false;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall (SYS_capset, &header, data) == 0;
}

/* A private mount namespace in which @path gets a tmpfs of @size bytes.
 * Returns false (with the reason) where that is not allowed. */
bool
private_tmpfs (const std::string &path, const char *size, std::string &why)
{
  if (unshare (CLONE_NEWNS) != 0) {
    why = std::string ("unshare(CLONE_NEWNS): ") + g_strerror (errno);
    return false;
  }
  if (mount ("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why = std::string ("making / private: ") + g_strerror (errno);
    return false;
  }
  const std::string opts = std::string ("size=") + size + ",mode=0755";
  if (mount ("tmpfs", path.c_str (), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str ()) != 0) {
    why = "mount tmpfs on " + path + ": " + g_strerror (errno);
    return false;
  }
  return true;
}

void
weak_notify (gpointer data, GObject *)
{
  static_cast<std::atomic<bool> *> (data)->store (true);
}

/* The allocator in @pool's config (transfer none: the config's ref is
 * dropped, the pool keeps its own). */
GstAllocator *
pool_allocator (GstBufferPool *pool)
{
  GstStructure *config = gst_buffer_pool_get_config (pool);
  GstAllocator *alloc = nullptr;
  gst_buffer_pool_config_get_allocator (config, &alloc, nullptr);
  gst_structure_free (config);
  fail_unless (alloc && gst_is_dmakit_allocator (alloc), "the pool has no dmakit allocator");
  return alloc;
}

/* The child's status, with the meaning the parent prints. */
void
expect_child_ok (const char *name, int status)
{
  fail_unless (status == 0 || status == 77, "child %s failed: %s %d", name,
               status < 0 ? "killed by signal" : "exit status", status < 0 ? -status : status);
  if (status == 77)
    g_print ("%s: skipped in the child (reason printed above)\n", name);
}

/* ---- children ----------------------------------------------------------- */

std::vector<std::string> g_child_args;

/* Pulls a sample, waiting at most @timeout_ms. */
GstSample *
pull (GstElement *sink, guint timeout_ms)
{
  return gst_app_sink_try_pull_sample (GST_APP_SINK (sink), GstClockTime (timeout_ms) * GST_MSECOND);
}

/* Holds the source's streaming thread at its first buffer, after noting the
 * buffer's pool, until the test releases it. */
struct HeldSource {
  std::atomic<GstBufferPool *> pool{ nullptr };
  std::atomic<bool> release{ false };
};

GstPadProbeReturn
hold_first_buffer (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *held = static_cast<HeldSource *> (data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  if (buf->pool && GST_DMAKIT_IS_BUFFER_POOL (buf->pool))
    held->pool.store (GST_BUFFER_POOL (gst_object_ref (buf->pool)));
  else
    return GST_PAD_PROBE_REMOVE; /* (the test fails: no pool) */
  /* (bounded: a failed test leaves at once, see main) */
  const gint64 until = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (!held->release.load () && g_get_monotonic_time () < until)
    g_usleep (1000);
  return GST_PAD_PROBE_REMOVE;
}

GST_START_TEST (child_refill)
{
  const std::string mode = g_child_args.at (0); /* "fsize" or "nofile" */
  const std::string fifo = g_child_args.at (1);
  constexpr guint kFrame = 28800; /* 160x120 I420 */
  fail_unless (mkfifo (fifo.c_str (), 0600) == 0, "mkfifo: %s", g_strerror (errno));
  /* the read end first: the sink's open() would block without a reader */
  const int rd = open (fifo.c_str (), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  fail_unless (rd >= 0);
  /* A FIFO smaller than one frame: until the reader comes, the sink's writer
   * cannot finish even the first frame, so where the stream stops does not
   * depend on scheduling (how many frames a 64 KiB FIFO takes does: it
   * depends on how the writes are split). */
  const int fifo_size = fcntl (rd, F_SETPIPE_SZ, 4096);
  fail_unless (fifo_size > 0 && guint (fifo_size) < kFrame, "F_SETPIPE_SZ: %d (%s)", fifo_size,
               g_strerror (errno));
  /* The queue asks for up to 24 frames while the sink cannot write (nobody
   * reads the FIFO yet): dmakitsink's pool (min = max-pending + 3 = 5) must
   * grow, from its refill thread. The source waits at its first frame until
   * the fault is in place, so the pool cannot have grown before.
   * RLIMIT_FSIZE limits memfds only (backend=memfd; a dma-heap in the VM tier
   * would not notice it); a full fd table stops every fd-backed backend: a
   * dma-heap where the machine has one, else memfd (AUTO would choose plain
   * system memory on a host without DMA-BUF, which needs no fd). */
  const char *nofile_backend =
    g_file_test ("/dev/dma_heap/system", G_FILE_TEST_EXISTS) ? "dma-heap" : "memfd";
  GstElement *p = parse (std::string ("videotestsrc name=src is-live=true num-buffers=60 ! "
                                      "video/x-raw,format=I420,width=160,height=120,framerate=60/1 "
                                      "! queue max-size-buffers=24 max-size-bytes=0 max-size-time=0 "
                                      "! dmakitsink name=sink sync=false max-pending=2 backend=") +
                         (mode == "fsize" ? "memfd" : nofile_backend) + " location=" + fifo);
  auto sink = by_name (p, "sink");
  HeldSource held;
  {
    auto src = by_name (p, "src");
    GstPad *pad = gst_element_get_static_pad (src.get (), "src");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, hold_first_buffer, &held, nullptr);
    gst_object_unref (pad);
  }

  struct rlimit saved_fsize, saved_nofile;
  fail_unless (getrlimit (RLIMIT_FSIZE, &saved_fsize) == 0);
  fail_unless (getrlimit (RLIMIT_NOFILE, &saved_nofile) == 0);
  std::vector<int> filler;
  std::thread reader;
  guint64 bytes_read = 0;
  {
    LogCapture log (GST_LEVEL_WARNING);
    /* (not waited for: the sink completes the change with the first frame,
     * which the probe holds) */
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    const gint64 until = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
    while (!held.pool.load () && g_get_monotonic_time () < until)
      g_usleep (1000);
    auto pool = ObjectRef<GstBufferPool>::adopt (held.pool.exchange (nullptr));
    if (!pool)
      held.release.store (true);
    fail_unless (bool (pool), "upstream did not use dmakitsink's GstDmakitBufferPool");

    /* the fault, while the pool still has to grow */
    if (mode == "fsize") {
      signal (SIGXFSZ, SIG_IGN);
      struct rlimit tiny = saved_fsize;
      tiny.rlim_cur = 4096;
      fail_unless (setrlimit (RLIMIT_FSIZE, &tiny) == 0);
    } else {
      const int source = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      fail_unless (source >= 0);
      filler.push_back (source);
      struct rlimit tiny = saved_nofile;
      tiny.rlim_cur = std::min<rlim_t> (saved_nofile.rlim_cur, 4096);
      setrlimit (RLIMIT_NOFILE, &tiny); /* only to need fewer dups */
      for (;;) {
        const int fd = dup (source);
        if (fd < 0) {
          fail_unless_equals_int (errno, EMFILE);
          break;
        }
        filler.push_back (fd);
        fail_unless (filler.size () < 70000);
      }
    }
    const guint64 allocated_at_fault = pool_stat (pool.get (), "allocated");
    const guint64 waits_at_fault = pool_stat (pool.get (), "waits");
    held.release.store (true); /* the source goes on */

    /* The pool cannot grow: the refill fails, and the stream waits. Where it
     * stops is fixed by the design, not by timing: the writer holds frame 1
     * (it cannot finish it: the FIFO is smaller), the sink's queue holds
     * max-pending = 2 more (rendered = 3, written = 0), and every other buffer
     * the pool has sits in the queue element, none free, the source waiting
     * for one (a wait counted after the fault). Nothing can leave that state
     * until the reader comes: the deadline only bounds a failure. */
    constexpr guint64 kHeld = 2 + 1;
    auto stalled = [&] {
      GstBufferPool *bp = pool.get ();
      const guint64 failures = quiet_pool_stat (bp, "alloc-failures");
      const guint64 waits = quiet_pool_stat (bp, "waits");
      return failures >= 1 && failures != G_MAXUINT64 &&
             quiet_stat (p, "sink", "rendered") == kHeld && quiet_pool_stat (bp, "free") == 0 &&
             quiet_pool_stat (bp, "outstanding") == quiet_pool_stat (bp, "allocated") &&
             waits > waits_at_fault && waits != G_MAXUINT64;
    };
    const gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
    while (!stalled () && g_get_monotonic_time () < deadline)
      g_usleep (10000);
    fail_unless (stalled (), "the stream did not stop where it must: %" G_GUINT64_FORMAT
                 " failed refills (want >= 1), rendered %" G_GUINT64_FORMAT
                 " (want %" G_GUINT64_FORMAT "), pool: %" G_GUINT64_FORMAT " allocated, %"
                 G_GUINT64_FORMAT " free, %" G_GUINT64_FORMAT " outstanding, %" G_GUINT64_FORMAT
                 " waits since the fault",
                 pool_stat (pool.get (), "alloc-failures"), stat (p, "sink", "rendered"), kHeld,
                 pool_stat (pool.get (), "allocated"), pool_stat (pool.get (), "free"),
                 pool_stat (pool.get (), "outstanding"),
                 pool_stat (pool.get (), "waits") - waits_at_fault);
    const guint64 rendered_stalled = stat (p, "sink", "rendered");
    fail_unless_equals_uint64 (stat (p, "sink", "written"), 0);
    {
      /* waiting, not failing: nothing on the bus */
      auto bus = ObjectRef<GstBus>::adopt (gst_element_get_bus (p));
      GstMessage *m =
          gst_bus_pop_filtered (bus.get (), GstMessageType (GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
      fail_unless (m == nullptr, "while stalled: %" GST_PTR_FORMAT, m);
    }
    const int errnum = mode == "fsize" ? EFBIG : EMFILE;
    fail_unless (log.contains ("could not allocate"), "the refill failure is not logged");
    fail_unless (log.contains (g_strerror (errnum)), "the log does not say \"%s\"",
                 g_strerror (errnum));
    auto alloc = ObjectRef<GstAllocator>::ref (pool_allocator (pool.get ()));
    fail_unless (allocator_stat (alloc.get (), "failures") >= 1);
    fail_unless_equals_uint64 (stat (p, "sink", "rendered"), rendered_stalled);

    /* the disk comes back: frames flow back into the pool and the stream
     * finishes with the buffers it has (the fault is still there) */
    fcntl (rd, F_SETPIPE_SZ, 65536); /* (only faster; 4 KiB would do) */
    reader = std::thread ([&] {
      char chunk[65536];
      for (;;) {
        const ssize_t n = read (rd, chunk, sizeof chunk);
        if (n > 0)
          bytes_read += guint64 (n);
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
          break;
        else
          g_usleep (1000);
      }
    });
    BusResult r = wait_bus (p, 45000);
    fail_unless (r.eos, "no EOS after the consumer came back: %s (%s)", r.error.c_str (),
                 r.error_debug.c_str ());
    fail_unless_equals_uint64 (stat (p, "sink", "rendered"), 60);
    fail_unless_equals_uint64 (stat (p, "sink", "written"), 60);
    fail_unless_equals_uint64 (stat (p, "sink", "not-written"), 0);
    fail_unless_equals_uint64 (stat (p, "sink", "dropped"), 0);
    g_print ("refill (%s): pool had %" G_GUINT64_FORMAT " buffers at the fault, %" G_GUINT64_FORMAT
             " after; %" G_GUINT64_FORMAT " failed refills; the stream waited at frame %"
             G_GUINT64_FORMAT " and then wrote all 60\n",
             mode.c_str (), allocated_at_fault, pool_stat (pool.get (), "allocated"),
             pool_stat (pool.get (), "alloc-failures"), rendered_stalled);
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    reader.join ();
    close (rd);
    fail_unless_equals_uint64 (bytes_read, 60 * kFrame);

    for (int fd : filler)
      close (fd);
    fail_unless (setrlimit (RLIMIT_FSIZE, &saved_fsize) == 0);
    fail_unless (setrlimit (RLIMIT_NOFILE, &saved_nofile) == 0);

    fail_unless_equals_uint64 (pool_stat (pool.get (), "outstanding"), 0);
    fail_unless_equals_uint64 (pool_stat (pool.get (), "acquires"),
                               pool_stat (pool.get (), "releases"));
    gst_object_unref (p);
    std::atomic<bool> pool_gone{ false };
    g_object_weak_ref (G_OBJECT (pool.get ()), weak_notify, &pool_gone);
    pool.reset ();
    fail_unless (pool_gone.load (), "the pool outlived its pipeline");
    fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding"), 0);
    fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding-bytes"), 0);
  }
}
GST_END_TEST;

GST_START_TEST (child_activation_fails)
{
  warm_up ();
  const ProcFigures before = proc_figures ();
  {
    LogCapture log (GST_LEVEL_WARNING);
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit saved, tiny;
    fail_unless (getrlimit (RLIMIT_FSIZE, &saved) == 0);
    tiny = saved;
    tiny.rlim_cur = 4096;
    fail_unless (setrlimit (RLIMIT_FSIZE, &tiny) == 0);
    /* (memfd: the backend RLIMIT_FSIZE limits) */
    GstElement *p = parse ("videotestsrc name=src num-buffers=30 ! "
                           "video/x-raw,format=I420,width=160,height=120 ! "
                           "dmakitsink name=sink sync=false backend=memfd");
    gst_element_set_state (p, GST_STATE_PLAYING);
    BusResult r = wait_bus (p, 45000);
    fail_unless (!r.timed_out, "neither an error nor EOS within 45 s");
    fail_unless (!r.eos && !r.error.empty (), "the pipeline ran without memory");
    g_print ("activation failure: error from %s: \"%s\"\n", r.error_src.c_str (), r.error.c_str ());
    fail_unless (log.contains ("could not preallocate"), "the pool does not say why");
    fail_unless (log.contains (g_strerror (EFBIG)), "the log does not give the errno");
    fail_unless_equals_uint64 (stat (p, "sink", "rendered"), 0);
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (p);
    fail_unless (setrlimit (RLIMIT_FSIZE, &saved) == 0);
  }
  const ProcFigures after = proc_figures ();
  fail_unless_same_fds (before, after);
  fail_unless_equals_int (after.buffer_maps, before.buffer_maps);
}
GST_END_TEST;

GST_START_TEST (child_memlock)
{
  const std::string dir = g_child_args.at (0);
  if (!drop_cap_ipc_lock ()) {
    g_print ("SKIP: cannot drop CAP_IPC_LOCK: %s\n", g_strerror (errno));
    exit (77);
  }
  struct rlimit tiny = { 64 * 1024, 64 * 1024 };
  fail_unless (setrlimit (RLIMIT_MEMLOCK, &tiny) == 0);
  const std::string out = dir + "/locked.raw";
  LogCapture log (GST_LEVEL_WARNING);
  /* memfd: a heap DMA-BUF mapping (VM_PFNMAP) is not charged to RLIMIT_MEMLOCK,
   * so only the memfd backend can be refused on a real kernel too */
  GstElement *p = parse ("videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=160,height=120"
                         " ! dmakitsink name=sink sync=false lock-memory=true backend=memfd location=" + out);
  gst_element_set_state (p, GST_STATE_PLAYING);
  BusResult r = wait_bus (p, 45000);
  gst_element_set_state (p, GST_STATE_NULL);
  fail_unless (r.eos, "no EOS: %s (%s)", r.error.c_str (), r.error_debug.c_str ());
  fail_unless_equals_uint64 (stat (p, "sink", "written"), 20);
  fail_unless_equals_uint64 (file_size (out), 20 * 28800);
  fail_unless (log.contains ("RLIMIT_MEMLOCK"), "the refused lock is not reported");
  gst_object_unref (p);
}
GST_END_TEST;

void
check_refusal (GstDmakitBackend backend, const std::string &path, int errnum)
{
  GErrorPtr err;
  GstAllocator *a = gst_dmakit_allocator_new (backend, path.c_str (), err.out ());
  fail_unless (a == nullptr, "backend %d accepted %s", int (backend), path.c_str ());
  fail_unless (err && err->domain == GST_DMAKIT_ERROR, "no GError in GST_DMAKIT_ERROR");
  fail_unless (std::strstr (err->message, path.c_str ()) != nullptr, "no path: %s", err->message);
  fail_unless (std::strstr (err->message, g_strerror (errnum)) != nullptr, "no \"%s\": %s",
               g_strerror (errnum), err->message);
  g_print ("refused: %s\n", err->message);
}

GST_START_TEST (child_permission)
{
  const std::string node = g_child_args.at (0);
  /* libcheck keeps a message file in the working directory */
  fail_unless (chdir ("/tmp") == 0);
  if (geteuid () == 0) {
    /* root reads mode-000 files: become nobody */
    fail_unless (setgroups (0, nullptr) == 0, "setgroups: %s", g_strerror (errno));
    fail_unless (setgid (65534) == 0 && setuid (65534) == 0, "setuid: %s", g_strerror (errno));
  }
  fail_unless (access (node.c_str (), R_OK) != 0, "the node is readable");
  const guint fds = proc_figures ().fds;
  check_refusal (GST_DMAKIT_BACKEND_DMA_HEAP, node, EACCES);
  check_refusal (GST_DMAKIT_BACKEND_UDMABUF, node, EACCES);
  check_refusal (GST_DMAKIT_BACKEND_DRM_DUMB, node, EACCES);
  fail_unless_equals_int (proc_figures ().fds, fds);
}
GST_END_TEST;

GST_START_TEST (child_vanish)
{
  GErrorPtr err;
  auto before = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ()));
  fail_unless (bool (before), "%s", err ? err->message : "?");
  const GstDmakitBackend backend = gst_dmakit_allocator_get_backend (before.get ());
  fail_unless (backend != GST_DMAKIT_BACKEND_AUTO);
  std::string why;
  if (!private_tmpfs ("/dev", "1m", why)) {
    g_print ("SKIP: cannot hide /dev: %s\n", why.c_str ());
    exit (77);
  }
  /* the device is gone for everyone who has not opened it */
  check_refusal (GST_DMAKIT_BACKEND_DMA_HEAP, "/dev/dma_heap/system", ENOENT);
  check_refusal (GST_DMAKIT_BACKEND_UDMABUF, "/dev/udmabuf", ENOENT);
  {
    GErrorPtr e;
    fail_unless (gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_DRM_DUMB, nullptr, e.out ()) == nullptr);
    fail_unless (e && std::strstr (e->message, "/dev/dri") != nullptr, "%s", e ? e->message : "?");
  }
  GErrorPtr e2;
  auto after = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, e2.out ()));
  fail_unless (bool (after), "AUTO has no fallback: %s", e2 ? e2->message : "?");
  fail_unless_equals_int (gst_dmakit_allocator_get_backend (after.get ()), GST_DMAKIT_BACKEND_MEMFD);
  GstMemory *m = gst_allocator_alloc (after.get (), 65536, nullptr);
  fail_unless (m != nullptr);
  fail_if (gst_is_dmabuf_memory (m), "memfd memory claims to be a DMA-BUF");
  gst_memory_unref (m);
  /* the allocator made before keeps working on the device it holds open */
  m = gst_allocator_alloc (before.get (), 65536, nullptr);
  fail_unless (m != nullptr, "the allocator made before the device vanished stopped working");
  fail_unless_equals_int (gst_is_dmabuf_memory (m), backend != GST_DMAKIT_BACKEND_MEMFD);
  gst_memory_unref (m);
  g_print ("devices hidden: the %s allocator kept working, AUTO fell back to memfd\n",
           backend_nick (before.get ()).c_str ());
}
GST_END_TEST;

GST_START_TEST (child_disk_full)
{
  const std::string mnt = g_child_args.at (0);
  std::string why;
  const bool tmpfs = private_tmpfs (mnt, "64k", why);
  if (!tmpfs) {
    /* no mount namespace here: a file size limit gives the same kind of
     * failure after a number of successful writes (EFBIG) */
    g_print ("no private tmpfs (%s): using RLIMIT_FSIZE=64 KiB instead\n", why.c_str ());
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit tiny;
    fail_unless (getrlimit (RLIMIT_FSIZE, &tiny) == 0);
    tiny.rlim_cur = 64 * 1024;
    fail_unless (setrlimit (RLIMIT_FSIZE, &tiny) == 0);
  }
  const std::string out = mnt + "/out.raw";
  GstElement *p = parse ("videotestsrc num-buffers=100 ! video/x-raw,format=GRAY8,width=64,height=48"
                         " ! dmakitsink name=sink sync=false max-pending=8 location=" + out);
  gst_element_set_state (p, GST_STATE_PLAYING);
  BusResult r = wait_bus (p, 45000);
  fail_unless (!r.timed_out, "no error within 45 s (hang?)");
  fail_unless (!r.eos && !r.error.empty (), "the disk did not fill up");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_string (r.error_src.c_str (), "sink");
  const guint64 rendered = stat (p, "sink", "rendered");
  const guint64 written = stat (p, "sink", "written");
  const guint64 not_written = stat (p, "sink", "not-written");
  const guint64 dropped = stat (p, "sink", "dropped");
  const guint64 bytes = stat (p, "sink", "bytes-written");
  g_print ("disk full (%s): \"%s\"; rendered %" G_GUINT64_FORMAT ", written %" G_GUINT64_FORMAT
           ", not written %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " bytes in the file\n",
           tmpfs ? "64 KiB tmpfs" : "64 KiB RLIMIT_FSIZE", r.error.c_str (), rendered, written,
           not_written, file_size (out));
  fail_unless (written >= 10, "only %" G_GUINT64_FORMAT " frames fit in 64 KiB?", written);
  fail_unless (not_written >= 1);
  fail_unless_equals_uint64 (dropped, 0);
  fail_unless_equals_uint64 (rendered, written + not_written);
  fail_unless_equals_uint64 (stat (p, "sink", "write-errors"), 1);
  fail_unless_equals_uint64 (file_size (out), bytes);
  fail_unless (bytes >= written * 3072 && bytes < (written + 1) * 3072);
  const std::string count = std::to_string (not_written) + " accepted buffers were not written (" +
                            std::to_string (written) + " were written)";
  fail_unless (r.error.find (count) != std::string::npos, "\"%s\" lacks \"%s\"", r.error.c_str (),
               count.c_str ());
  fail_unless (r.error.find (tmpfs ? "No space left" : "Could not write") != std::string::npos,
               "%s", r.error.c_str ());
  gst_object_unref (p);
}
GST_END_TEST;

/* ---- tests (parent side) ------------------------------------------------ */

GST_START_TEST (test_refill_fails_mid_stream_fsize)
{
  TmpDir dir;
  expect_child_ok ("refill fsize",
                   run_child ("refill", { "fsize", dir.file ("fifo") }, {}, 60 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_refill_fails_mid_stream_nofile)
{
  TmpDir dir;
  expect_child_ok ("refill nofile",
                   run_child ("refill", { "nofile", dir.file ("fifo") }, {}, 60 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_activation_fails_in_pipeline)
{
  expect_child_ok ("activation", run_child ("activation", {}, {}, 60 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_memlock_limit_falls_back)
{
  TmpDir dir;
  expect_child_ok ("memlock", run_child ("memlock", { dir.path () }, {}, 60 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_device_permission_denied)
{
  TmpDir dir;
  fail_unless (chmod (dir.path ().c_str (), 0755) == 0);
  const std::string node = dir.file ("heap");
  const int fd = open (node.c_str (), O_CREAT | O_WRONLY | O_CLOEXEC, 0);
  fail_unless (fd >= 0);
  close (fd);
  fail_unless (chmod (node.c_str (), 0) == 0);
  expect_child_ok ("permission", run_child ("permission", { node }, {}, 30 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_device_is_a_directory)
{
  TmpDir dir;
  const guint fds = proc_figures ().fds;
  /* open() of a directory read-only works: the heap probe's ioctl refuses it */
  check_refusal (GST_DMAKIT_BACKEND_DMA_HEAP, dir.path (), ENOTTY);
  check_refusal (GST_DMAKIT_BACKEND_UDMABUF, dir.path (), EISDIR);
  check_refusal (GST_DMAKIT_BACKEND_DRM_DUMB, dir.path (), EISDIR);
  fail_unless_equals_int (proc_figures ().fds, fds);
}
GST_END_TEST;

GST_START_TEST (test_devices_vanish)
{
  expect_child_ok ("vanish", run_child ("vanish", {}, {}, 30 * slowdown ()));
}
GST_END_TEST;

GST_START_TEST (test_sink_disk_full)
{
  TmpDir dir;
  const std::string mnt = dir.file ("mnt");
  fail_unless (mkdir (mnt.c_str (), 0755) == 0);
  expect_child_ok ("disk full", run_child ("disk-full", { mnt }, {}, 60 * slowdown ()));
}
GST_END_TEST;

/* Holds frames (their buffers) while the pipeline that made them goes to
 * NULL and is destroyed, checks they stay valid, releases them from another
 * thread, and checks that the pool, its memory and its fds are gone. */
void
hold_across_teardown (GstElement *p, std::vector<GstBuffer *> &held)
{
  std::vector<guint64> sums;
  for (GstBuffer *b : held) {
    dmakit::MappedBuffer m (b, GST_MAP_READ);
    fail_unless (bool (m));
    sums.push_back (checksum (m.data (), m.size ()));
  }
  GstBufferPool *pool = held[0]->pool;
  fail_unless (pool && GST_DMAKIT_IS_BUFFER_POOL (pool), "not from a GstDmakitBufferPool");
  std::atomic<bool> pool_gone{ false };
  g_object_weak_ref (G_OBJECT (pool), weak_notify, &pool_gone);
  GstAllocator *a = gst_buffer_peek_memory (held[0], 0)->allocator;
  auto alloc = ObjectRef<GstAllocator>::ref (gst_is_dmakit_allocator (a) ? a : nullptr);

  /* the pipeline, and with it the pool's owner, goes away with frames out */
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  fail_if (pool_gone.load (), "the pool was finalized while its buffers were out");
  fail_if (gst_buffer_pool_is_active (pool));
  fail_unless_equals_uint64 (pool_stat (pool, "outstanding"), held.size ());

  /* the consumer still reads its frames, then releases them from its thread */
  guint intact = 0;
  std::thread consumer ([&] {
    for (size_t i = 0; i < held.size (); i++) {
      dmakit::MappedBuffer m (held[i], GST_MAP_READ);
      if (m && checksum (m.data (), m.size ()) == sums[i])
        intact++;
    }
    for (GstBuffer *b : held) {
      g_usleep (2000);
      gst_buffer_unref (b);
    }
  });
  consumer.join ();
  fail_unless_equals_int (intact, held.size ());
  held.clear ();
  fail_unless (pool_gone.load (), "the pool was not finalized after its last buffer came back");
  if (alloc) {
    fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding"), 0);
    fail_unless_equals_uint64 (allocator_stat (alloc.get (), "outstanding-bytes"), 0);
  }
}

/* appsink holds frames of dmakitcrop's copy pool (its own GstDmakitBufferPool:
 * DMA-BUF where there is a heap, system memory otherwise). */
GST_START_TEST (test_pool_deactivated_while_appsink_holds)
{
  warm_up ();
  const ProcFigures before = proc_figures ();
  GstElement *p = parse (crop_desc (20));
  auto sink = by_name (p, "sink");
  set_state_sync (p, GST_STATE_PLAYING);
  std::vector<GstBuffer *> held;
  for (guint i = 0; i < 8; i++) {
    GstSample *s = pull (sink.get (), 45000);
    fail_unless (s != nullptr);
    held.push_back (gst_buffer_ref (gst_sample_get_buffer (s)));
    gst_sample_unref (s);
  }
  sink.reset ();
  hold_across_teardown (p, held);
  const ProcFigures after = proc_figures ();
  g_print ("appsink held 8 frames across teardown: before %s\n  after %s\n",
           before.str ().c_str (), after.str ().c_str ());
  fail_unless_same_fds (before, after);
  fail_unless_equals_int (after.buffer_maps, before.buffer_maps);
}
GST_END_TEST;

GstPadProbeReturn
keep_buffers (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *held = static_cast<std::vector<GstBuffer *> *> (data);
  if (held->size () < 8)
    held->push_back (gst_buffer_ref (GST_PAD_PROBE_INFO_BUFFER (info)));
  return GST_PAD_PROBE_OK;
}

/* A consumer keeps frames of the pool dmakitsink proposed (dmakit memory:
 * backend=memfd, since AUTO gives system memory on a host without DMA-BUF),
 * which videotestsrc deactivates at NULL. */
GST_START_TEST (test_pool_deactivated_while_consumer_holds)
{
  warm_up ();
  const ProcFigures before = proc_figures ();
  GstElement *p = parse ("videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=160,height=120 "
                         "! dmakitsink name=sink sync=false backend=memfd");
  std::vector<GstBuffer *> held;
  {
    auto sink = by_name (p, "sink");
    GstPad *pad = gst_element_get_static_pad (sink.get (), "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, keep_buffers, &held, nullptr);
    gst_object_unref (pad);
  }
  set_state_sync (p, GST_STATE_PLAYING);
  BusResult r = wait_bus (p, 45000);
  fail_unless (r.eos, "%s", r.error.c_str ());
  fail_unless_equals_int (held.size (), 8);
  fail_unless (gst_is_dmakit_allocator (gst_buffer_peek_memory (held[0], 0)->allocator));
  hold_across_teardown (p, held);
  const ProcFigures after = proc_figures ();
  g_print ("a consumer held 8 frames across teardown: before %s\n  after %s\n",
           before.str ().c_str (), after.str ().c_str ());
  fail_unless_same_fds (before, after);
  fail_unless_equals_int (after.buffer_maps, before.buffer_maps);
}
GST_END_TEST;

Suite *
faults_suite ()
{
  Suite *s = suite_create ("dmakit-reliability-faults");
  TCase *tc = tcase_create ("faults");
  tcase_set_timeout (tc, 120 * slowdown ());
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_refill_fails_mid_stream_fsize);
  tcase_add_test (tc, test_refill_fails_mid_stream_nofile);
  tcase_add_test (tc, test_activation_fails_in_pipeline);
  tcase_add_test (tc, test_memlock_limit_falls_back);
  tcase_add_test (tc, test_device_permission_denied);
  tcase_add_test (tc, test_device_is_a_directory);
  tcase_add_test (tc, test_devices_vanish);
  tcase_add_test (tc, test_sink_disk_full);
  tcase_add_test (tc, test_pool_deactivated_while_appsink_holds);
  tcase_add_test (tc, test_pool_deactivated_while_consumer_holds);
  return s;
}

Suite *
child_suite (const std::string &name)
{
  Suite *s = suite_create ("dmakit-reliability-child");
  TCase *tc = tcase_create ("child");
  tcase_set_timeout (tc, 120 * slowdown ());
  suite_add_tcase (s, tc);
  if (name == "refill")
    tcase_add_test (tc, child_refill);
  else if (name == "activation")
    tcase_add_test (tc, child_activation_fails);
  else if (name == "memlock")
    tcase_add_test (tc, child_memlock);
  else if (name == "permission")
    tcase_add_test (tc, child_permission);
  else if (name == "vanish")
    tcase_add_test (tc, child_vanish);
  else if (name == "disk-full")
    tcase_add_test (tc, child_disk_full);
  else
    return nullptr;
  return s;
}

} // namespace

int
main (int argc, char **argv)
{
  const char *child = parse_child_args (&argc, &argv, &g_child_args);
  gst_check_init (&argc, &argv);
  if (child) {
    /* a child runs its scenario in this process: no fork per test, so the
     * rlimits, uid and namespace set inside it stay where they belong */
    g_setenv ("CK_FORK", "no", TRUE);
    Suite *s = child_suite (child);
    if (!s) {
      g_printerr ("unknown child %s\n", child);
      return 2;
    }
    const int rc = gst_check_run_suite (s, "reliability-child", __FILE__);
    /* after a failure the scenario's pipeline may still run: leave at once */
    if (rc != 0)
      _exit (1);
    return 0;
  }
  return gst_check_run_suite (faults_suite (), "reliability-faults", __FILE__);
}
