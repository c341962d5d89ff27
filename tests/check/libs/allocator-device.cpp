/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device tier of GstDmakitAllocator: the same suite for each DMA-BUF backend.
 *
 * Linked into one executable per backend (allocator-dmaheap.cpp,
 * allocator-udmabuf.cpp, allocator-drmdumb.cpp define dmakit_test_backend), so
 * each backend skips on its own: exit 77 with the reason printed when its
 * device is absent (or not accessible to this user), and a real run when it is
 * there. Nothing is mocked: the memory comes from the kernel, its fds are
 * checked in /proc/self/fdinfo (exp_name, name, size), and the cache syncs are
 * counted only when the kernel accepted DMA_BUF_IOCTL_SYNC. */
#include <gst/check/gstcheck.h>
#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include "allocator-common.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <string>
#include <sys/ioctl.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace dmakit;
using namespace dmakit_test;

extern "C" const int dmakit_test_backend;

static GstDmakitBackend
backend ()
{
  return GstDmakitBackend (dmakit_test_backend);
}

static const char *
backend_nick ()
{
  switch (backend ()) {
  case GST_DMAKIT_BACKEND_DMA_HEAP:
    return "dma-heap";
  case GST_DMAKIT_BACKEND_UDMABUF:
    return "udmabuf";
  case GST_DMAKIT_BACKEND_DRM_DUMB:
    return "drm-dumb";
  default:
    return "?";
  }
}

static gsize
page ()
{
  return gsize (sysconf (_SC_PAGESIZE));
}

static ObjectRef<GstAllocator>
new_allocator ()
{
  GErrorPtr err;
  auto alloc = ObjectRef<GstAllocator>::adopt (gst_dmakit_allocator_new (backend (), nullptr,
                                                                          err.out ()));
  fail_unless (alloc, "%s allocator: %s", backend_nick (), err ? err->message : "?");
  return alloc;
}

static guint64
stat_u64 (GstAllocator *alloc, const char *field)
{
  GstStructure *s = gst_dmakit_allocator_get_stats (alloc);
  guint64 v = G_MAXUINT64;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no stats field %s", field);
  gst_structure_free (s);
  return v;
}

/* "key:\tvalue" from fdinfo text, empty when absent. */
static std::string
fdinfo_field (const std::string &info, const std::string &key)
{
  const std::string needle = key + ":";
  size_t pos = 0;
  while ((pos = info.find (needle, pos)) != std::string::npos) {
    if (pos == 0 || info[pos - 1] == '\n') {
      size_t start = pos + needle.size ();
      while (start < info.size () && (info[start] == '\t' || info[start] == ' '))
        ++start;
      size_t end = info.find ('\n', start);
      return info.substr (start, end == std::string::npos ? std::string::npos : end - start);
    }
    pos += needle.size ();
  }
  return std::string ();
}

static void
check_real_dmabuf (GstMemory *mem)
{
  fail_unless (gst_is_dmabuf_memory (mem), "%s memory is not DMA-BUF memory", backend_nick ());
  fail_unless (gst_is_fd_memory (mem));
  fail_unless (gst_is_dmakit_memory (mem));
  int fd = gst_dmabuf_memory_get_fd (mem);
  fail_unless (fd >= 0);
  fail_unless (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  const std::string info = read_fdinfo (fd);
  const std::string exp_name = fdinfo_field (info, "exp_name");
  fail_if (exp_name.empty (), "fd %d is not a DMA-BUF (fdinfo has no exp_name):\n%s", fd,
           info.c_str ());
  const std::string size = fdinfo_field (info, "size");
  fail_unless_equals_uint64 (g_ascii_strtoull (size.c_str (), nullptr, 10), mem->maxsize);
  /* Kernels whose fdinfo shows exp_name (5.10+) also support DMA_BUF_SET_NAME (5.3+). */
  const std::string name = fdinfo_field (info, "name");
  fail_unless (g_str_has_prefix (name.c_str (), "dmakit:"),
               "DMA-BUF not named by us (name \"%s\"):\n%s", name.c_str (), info.c_str ());
}

GST_START_TEST (test_new)
{
  auto alloc = new_allocator ();
  fail_unless (GST_DMAKIT_IS_ALLOCATOR (alloc.get ()));
  fail_unless (GST_IS_DMABUF_ALLOCATOR (alloc.get ()));
  fail_unless_equals_int (gst_dmakit_allocator_get_backend (alloc.get ()), backend ());
  const gchar *device = gst_dmakit_allocator_get_device (alloc.get ());
  fail_unless (device && g_str_has_prefix (device, "/dev/"), "device %s", device);
  fail_unless_equals_string (alloc->mem_type, GST_DMAKIT_ALLOCATOR_NAME);
  fail_if (GST_OBJECT_FLAG_IS_SET (alloc.get (), GST_ALLOCATOR_FLAG_CUSTOM_ALLOC));
  GstStructure *s = gst_dmakit_allocator_get_stats (alloc.get ());
  fail_unless_equals_string (gst_structure_get_string (s, "backend"), backend_nick ());
  fail_unless_equals_string (gst_structure_get_string (s, "device"), device);
  gst_structure_free (s);

  /* with this device present, AUTO must pick a DMA-BUF backend, not memfd */
  GErrorPtr err;
  auto any = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ()));
  fail_unless (any);
  fail_unless (gst_dmakit_allocator_get_backend (any.get ()) != GST_DMAKIT_BACKEND_MEMFD);
  fail_unless (gst_dmakit_allocator_get_backend (any.get ()) <= backend (),
               "AUTO skipped a working backend earlier in the order");
  auto mem = MemoryRef::adopt (gst_allocator_alloc (any.get (), 4096, nullptr));
  fail_unless (mem);
  check_real_dmabuf (mem.get ());
}
GST_END_TEST;

GST_START_TEST (test_alloc_dmabuf)
{
  auto alloc = new_allocator ();
  const gsize size = 100000;
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_unless (mem);
  fail_unless (mem->allocator == alloc.get ());
  fail_unless_equals_int (mem->size, size);
  fail_unless_equals_int (mem->offset, 0);
  fail_unless (mem->maxsize >= size && mem->maxsize % page () == 0);
  check_real_dmabuf (mem.get ());
  fail_unless (gst_memory_is_type (mem.get (), GST_DMAKIT_ALLOCATOR_NAME));

  /* two allocations: two buffers, two names */
  auto mem2 = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_unless (mem2);
  int fd1 = gst_dmabuf_memory_get_fd (mem.get ());
  int fd2 = gst_dmabuf_memory_get_fd (mem2.get ());
  fail_unless (fd1 != fd2);
  fail_if (fdinfo_field (read_fdinfo (fd1), "name") == fdinfo_field (read_fdinfo (fd2), "name"));
}
GST_END_TEST;

GST_START_TEST (test_sync_counted)
{
  auto alloc = new_allocator ();
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 64 * 1024, nullptr));
  fail_unless (mem);
  const guint64 c0 = gst_dmakit_allocator_get_sync_count (alloc.get ());
  GstMapInfo info;
  fail_unless (gst_memory_map (mem.get (), &info, GST_MAP_READ));
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 1);
  gst_memory_unmap (mem.get (), &info);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 2);
  fail_unless (gst_memory_map (mem.get (), &info, GST_MAP_WRITE));
  memset (info.data, 0xab, info.size);
  gst_memory_unmap (mem.get (), &info);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 4);
  fail_unless (gst_memory_map (mem.get (), &info, GST_MAP_READWRITE));
  gst_memory_unmap (mem.get (), &info);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 6);
  /* a share syncs the same DMA-BUF */
  auto sub = MemoryRef::adopt (gst_memory_share (mem.get (), 100, 100));
  fail_unless (gst_memory_map (sub.get (), &info, GST_MAP_READ));
  fail_unless_equals_int (info.data[0], 0xab);
  gst_memory_unmap (sub.get (), &info);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 8);
  /* through a buffer as elements do */
  GstBuffer *buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, gst_memory_ref (mem.get ()));
  {
    MappedBuffer m (buf, GST_MAP_READ);
    fail_unless (bool (m));
  }
  gst_buffer_unref (buf);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), c0 + 10);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "sync-failures"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "syncs"),
                             gst_dmakit_allocator_get_sync_count (alloc.get ()));
}
GST_END_TEST;

GST_START_TEST (test_map_persistent_coherent)
{
  auto alloc = new_allocator ();
  const gsize size = 256 * 1024;
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_unless (mem);
  const int maps_before = count_mappings ();
  fail_unless (maps_before >= 1, "the buffer's mapping is not visible in /proc/self/maps");
  guint8 *first = nullptr;
  {
    MappedMemory w (mem.get (), GST_MAP_WRITE);
    fail_unless (bool (w));
    first = w.data ();
    for (gsize i = 0; i < size; ++i)
      w.data ()[i] = guint8 (i * 13);
  }
  for (int i = 0; i < 100; ++i) {
    MappedMemory r (mem.get (), (i & 1) ? GST_MAP_READ : GST_MAP_READWRITE);
    fail_unless (bool (r));
    fail_unless (r.data () == first, "mapping moved: not persistent");
  }
  fail_unless_equals_int (count_mappings (), maps_before);

  /* an independent mapping of the DMA-BUF fd sees what we wrote */
  int fd = gst_dmabuf_memory_get_fd (mem.get ());
  void *other = mmap (nullptr, mem->maxsize, PROT_READ, MAP_SHARED, fd, 0);
  fail_unless (other != MAP_FAILED, "mmap: %s", g_strerror (errno));
  struct dma_buf_sync sync = {};
  sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
  fail_unless (ioctl (fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
  fail_unless (memcmp (other, first, size) == 0);
  sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
  fail_unless (ioctl (fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
  munmap (other, mem->maxsize);

  /* and so does the stock GstDmaBufAllocator importing a dup of the fd */
  auto stock = ObjectRef<GstAllocator>::adopt (gst_dmabuf_allocator_new ());
  auto imported = MemoryRef::adopt (gst_dmabuf_allocator_alloc (stock.get (), dup (fd), size));
  fail_unless (imported);
  {
    MappedMemory r (imported.get (), GST_MAP_READ);
    fail_unless (bool (r));
    fail_unless_equals_int (r.data ()[size - 1], guint8 ((size - 1) * 13));
  }
}
GST_END_TEST;

GST_START_TEST (test_params)
{
  auto alloc = new_allocator ();
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.prefix = 128;
  params.padding = 64;
  params.align = 255;
  params.flags = GstMemoryFlags (GST_MEMORY_FLAG_ZERO_PREFIXED | GST_MEMORY_FLAG_ZERO_PADDED);
  const gsize size = 2 * page () + 1;
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, &params));
  fail_unless (mem);
  check_real_dmabuf (mem.get ());
  fail_unless_equals_int (mem->size, size);
  fail_unless_equals_int (mem->offset, 128);
  fail_unless_equals_int (mem->align, 255);
  fail_unless (mem->maxsize >= 3 * page ());
  fail_unless (GST_MEMORY_IS_ZERO_PREFIXED (mem.get ()) && GST_MEMORY_IS_ZERO_PADDED (mem.get ()));
  MappedMemory m (mem.get (), GST_MAP_READ);
  fail_unless (bool (m));
  fail_unless_equals_int (m.size (), size);
  guint8 *base = m.data () - mem->offset;
  fail_unless ((guintptr (base) & 255) == 0);
  for (gsize i = 0; i < 128; ++i)
    fail_unless (base[i] == 0);
  for (gsize i = 0; i < 64; ++i)
    fail_unless (m.data ()[size + i] == 0);
}
GST_END_TEST;

GST_START_TEST (test_share_copy)
{
  auto alloc = new_allocator ();
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 10000, nullptr));
  fail_unless (mem);
  {
    MappedMemory w (mem.get (), GST_MAP_WRITE);
    for (gsize i = 0; i < w.size (); ++i)
      w.data ()[i] = guint8 (i % 251);
  }
  auto sub = MemoryRef::adopt (gst_memory_share (mem.get (), 1000, -1));
  fail_unless (sub);
  fail_unless_equals_int (sub->size, 9000);
  fail_unless (gst_is_dmabuf_memory (sub.get ()));
  fail_unless_equals_int (gst_dmabuf_memory_get_fd (sub.get ()),
                          gst_dmabuf_memory_get_fd (mem.get ()));
  {
    MappedMemory r (sub.get (), GST_MAP_READ);
    fail_unless_equals_int (r.data ()[0], 1000 % 251);
  }
  auto copy = MemoryRef::adopt (gst_memory_copy (mem.get (), 0, -1));
  fail_unless (copy);
  fail_unless (copy->allocator == alloc.get ());
  check_real_dmabuf (copy.get ());
  fail_unless (gst_dmabuf_memory_get_fd (copy.get ()) != gst_dmabuf_memory_get_fd (mem.get ()));
  {
    MappedMemory a (mem.get (), GST_MAP_READ);
    MappedMemory b (copy.get (), GST_MAP_READ);
    fail_unless (memcmp (a.data (), b.data (), 10000) == 0);
  }
  /* valid after the allocator's last external ref is gone */
  GstAllocator *raw = alloc.release ();
  gst_object_unref (raw);
  {
    MappedMemory r (copy.get (), GST_MAP_READ);
    fail_unless (bool (r));
    fail_unless_equals_int (r.data ()[9999], 9999 % 251);
  }
}
GST_END_TEST;

GST_START_TEST (test_lock)
{
  auto alloc = new_allocator ();
  gst_dmakit_allocator_set_lock_memory (alloc.get (), TRUE);
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 16 * page (), nullptr));
  fail_unless (mem);
  /* DMA-BUF pages are kernel pages and never swapped; mlock succeeds on them
   * within the default RLIMIT_MEMLOCK (8 MiB), and as root in any case. */
  fail_unless (gst_dmakit_memory_is_locked (mem.get ()),
               "mlock of a %s mapping refused (RLIMIT_MEMLOCK?)", backend_nick ());
  MappedMemory w (mem.get (), GST_MAP_WRITE);
  fail_unless (bool (w));
  memset (w.data (), 1, w.size ());
}
GST_END_TEST;

GST_START_TEST (test_no_leaks)
{
  auto alloc = new_allocator ();
  gst_memory_unref (gst_allocator_alloc (alloc.get (), 100, nullptr));
  const int fds_before = count_open_fds ();
  const int maps_before = count_mappings ();
  {
    /* the counters see one allocation: fd and mapping */
    auto one = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 100, nullptr));
    fail_unless_equals_int (count_open_fds (), fds_before + 1);
    fail_unless_equals_int (count_mappings (), maps_before + 1);
  }
  for (int i = 0; i < 300; ++i) {
    GstMemory *mem = gst_allocator_alloc (alloc.get (), 8192 + i * 64, nullptr);
    fail_unless (mem);
    {
      MappedMemory w (mem, GST_MAP_WRITE);
      fail_unless (bool (w));
      w.data ()[0] = guint8 (i);
    }
    GstMemory *sub = gst_memory_share (mem, 0, 10);
    gst_memory_unref (mem);
    gst_memory_unref (sub);
  }
  fail_unless_equals_int (count_open_fds (), fds_before);
  fail_unless_equals_int (count_mappings (), maps_before);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding-bytes"), 0);
}
GST_END_TEST;

GST_START_TEST (test_alloc_2d)
{
  auto alloc = new_allocator ();
  const struct {
    guint w, h, bpp;
  } shapes[] = {{1920, 1080, 32}, {641, 480, 16}, {100, 100, 8}, {33, 7, 24}};
  for (const auto &s : shapes) {
    guint pitch = 0;
    auto mem = MemoryRef::adopt (gst_dmakit_allocator_alloc_2d (alloc.get (), s.w, s.h, s.bpp,
                                                                &pitch));
    fail_unless (mem, "alloc_2d %ux%u@%u failed", s.w, s.h, s.bpp);
    check_real_dmabuf (mem.get ());
    const guint min_pitch = (s.w * s.bpp + 7) / 8;
    fail_unless (pitch >= min_pitch, "pitch %u < %u", pitch, min_pitch);
    if (backend () != GST_DMAKIT_BACKEND_DRM_DUMB)
      fail_unless_equals_int (pitch, (min_pitch + 63) / 64 * 64);
    fail_unless_equals_int (mem->size, gsize (pitch) * s.h);
    fail_unless (mem->maxsize >= mem->size);
    MappedMemory w (mem.get (), GST_MAP_WRITE);
    fail_unless (bool (w));
    memset (w.data () + gsize (pitch) * (s.h - 1), 0x11, pitch); /* the last row is there */
  }
}
GST_END_TEST;

GST_START_TEST (test_refused)
{
  /* Kernel refusals that are safe to provoke. (The system dma-heap has no size
   * check: it takes pages until the OOM killer runs, so its ENOMEM cannot be
   * provoked in a test; the EMFILE test below covers its refusal path.) */
  auto alloc = new_allocator ();
  gsize request = 0;
  const char *expect = nullptr;
  switch (backend ()) {
  case GST_DMAKIT_BACKEND_UDMABUF: {
    /* udmabuf refuses more than size_limit_mb with EINVAL before pinning pages */
    gchar *text = nullptr;
    if (!g_file_get_contents ("/sys/module/udmabuf/parameters/size_limit_mb", &text, nullptr,
                              nullptr)) {
      g_print ("udmabuf size_limit_mb unreadable: refusal check skipped\n");
      return;
    }
    request = gsize ((g_ascii_strtoull (text, nullptr, 10) + 1) * 1024 * 1024);
    g_free (text);
    expect = "size_limit_mb";
    break;
  }
  case GST_DMAKIT_BACKEND_DRM_DUMB:
    /* dumb buffer sizes are 32-bit: 8 GiB is refused with EINVAL up front */
    request = gsize (8) * 1024 * 1024 * 1024;
    expect = g_strerror (EINVAL);
    break;
  default:
    fail ("no safe size refusal for this backend");
  }
  const int fds_before = count_open_fds ();
  const int maps_before = count_mappings ();
  {
    LogCapture log (GST_LEVEL_WARNING);
    GstMemory *mem = gst_allocator_alloc (alloc.get (), request, nullptr);
    fail_unless (mem == nullptr, "%" G_GSIZE_FORMAT " bytes allocated?", request);
    fail_unless (log.contains (expect), "log lacks \"%s\": %s", expect, log.text ().c_str ());
    fail_unless (log.contains (backend_nick ()), "log lacks the backend: %s", log.text ().c_str ());
    fail_unless (log.contains (gst_dmakit_allocator_get_device (alloc.get ())),
                 "log lacks the device: %s", log.text ().c_str ());
    fail_unless (log.contains (std::to_string (request) + " bytes"), "log lacks the size: %s",
                 log.text ().c_str ());
  }
  fail_unless_equals_int (count_open_fds (), fds_before);
  fail_unless_equals_int (count_mappings (), maps_before);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "failures"), 1);
  /* it recovers */
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 4096, nullptr));
  fail_unless (mem);
}
GST_END_TEST;

GST_START_TEST (test_emfile)
{
  /* No fd left: the kernel allocates the buffer, then cannot hand out its fd
   * (dma-heap, DRM PRIME) or we cannot even create the memfd (udmabuf). Every
   * path must fail cleanly, say why, and leak nothing. */
  auto alloc = new_allocator ();
  gst_memory_unref (gst_allocator_alloc (alloc.get (), 4096, nullptr)); /* warm-up */
  const int fds_before = count_open_fds ();
  const int maps_before = count_mappings ();
  const guint64 out_bytes = stat_u64 (alloc.get (), "outstanding-bytes");
  struct rlimit saved;
  fail_unless (getrlimit (RLIMIT_NOFILE, &saved) == 0);
  {
    LogCapture log (GST_LEVEL_WARNING); /* takes its fds before the table fills */
    const int source = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    fail_unless (source >= 0);
    int highest = 0;
    {
      DIR *dir = opendir ("/proc/self/fd");
      fail_unless (dir != nullptr);
      while (struct dirent *e = readdir (dir))
        highest = std::max (highest, atoi (e->d_name));
      closedir (dir);
    }
    struct rlimit tiny = saved;
    tiny.rlim_cur = rlim_t (highest + 4);
    const bool lowered = setrlimit (RLIMIT_NOFILE, &tiny) == 0;
    if (!lowered)
      fail_unless (saved.rlim_cur <= 65536, "cannot lower RLIMIT_NOFILE (%s) and it is huge",
                   g_strerror (errno));
    std::vector<int> filler{source};
    for (;;) {
      int fd = dup (source);
      if (fd < 0)
        break;
      filler.push_back (fd);
      fail_unless (filler.size () < 70000);
    }
    for (int i = 0; i < 20; ++i)
      fail_unless (gst_allocator_alloc (alloc.get (), 65536, nullptr) == nullptr);
    guint pitch = 0;
    fail_unless (gst_dmakit_allocator_alloc_2d (alloc.get (), 64, 64, 32, &pitch) == nullptr);
    for (int fd : filler)
      close (fd);
    if (lowered)
      fail_unless (setrlimit (RLIMIT_NOFILE, &saved) == 0);
    const std::string line = log.line_with (g_strerror (EMFILE));
    fail_unless (!line.empty (), "failure not logged: %s", log.text ().c_str ());
    fail_unless (line.find (backend_nick ()) != std::string::npos, "no backend: %s", line.c_str ());
    fail_unless (line.find ("WARN") != std::string::npos, "not a warning: %s", line.c_str ());
  }
  fail_unless_equals_int (count_open_fds (), fds_before);
  fail_unless_equals_int (count_mappings (), maps_before);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "failures"), 21);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding-bytes"), out_bytes);
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 65536, nullptr));
  fail_unless (mem, "no recovery after EMFILE");
  check_real_dmabuf (mem.get ());
}
GST_END_TEST;

GST_START_TEST (test_device_names)
{
  /* a dma-heap can be named by heap name or by path */
  const char *names[] = {"system", "/dev/dma_heap/system"};
  for (const char *name : names) {
    GErrorPtr err;
    auto alloc = ObjectRef<GstAllocator>::adopt (
        gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_DMA_HEAP, name, err.out ()));
    fail_unless (alloc, "%s: %s", name, err ? err->message : "?");
    fail_unless_equals_string (gst_dmakit_allocator_get_device (alloc.get ()),
                               "/dev/dma_heap/system");
    /* AUTO takes the heap name too */
    auto any = ObjectRef<GstAllocator>::adopt (
        gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, name, err.out ()));
    fail_unless (any);
    fail_unless_equals_int (gst_dmakit_allocator_get_backend (any.get ()),
                            GST_DMAKIT_BACKEND_DMA_HEAP);
  }
  /* AUTO with a heap that does not exist logs the refusal and falls back */
  LogCapture log (GST_LEVEL_INFO);
  GErrorPtr err;
  auto fallback = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, "no-such-heap", err.out ()));
  fail_unless (fallback);
  fail_unless (gst_dmakit_allocator_get_backend (fallback.get ()) != GST_DMAKIT_BACKEND_DMA_HEAP);
  fail_unless (log.contains ("/dev/dma_heap/no-such-heap"), "log: %s", log.text ().c_str ());
}
GST_END_TEST;

static gpointer
alloc_thread (gpointer data)
{
  auto *alloc = static_cast<GstAllocator *> (data);
  for (int i = 0; i < 50; ++i) {
    GstMemory *mem = gst_allocator_alloc (alloc, 16384, nullptr);
    if (!mem)
      return GINT_TO_POINTER (FALSE);
    GstMapInfo info;
    if (!gst_memory_map (mem, &info, GST_MAP_WRITE))
      return GINT_TO_POINTER (FALSE);
    info.data[0] = 1;
    gst_memory_unmap (mem, &info);
    gst_memory_unref (mem);
  }
  return GINT_TO_POINTER (TRUE);
}

GST_START_TEST (test_threads)
{
  auto alloc = new_allocator ();
  GThread *threads[4];
  for (auto &t : threads)
    t = g_thread_new ("alloc", alloc_thread, alloc.get ());
  for (auto &t : threads)
    fail_unless (GPOINTER_TO_INT (g_thread_join (t)));
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "allocated"), 200);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "syncs"), 400);
}
GST_END_TEST;

/* The device this backend needs, or why the suite must skip. */
static bool
device_usable (std::string &reason)
{
  std::vector<std::string> candidates;
  switch (backend ()) {
  case GST_DMAKIT_BACKEND_DMA_HEAP:
    candidates.push_back ("/dev/dma_heap/system");
    reason = "no /dev/dma_heap/system (kernel without CONFIG_DMABUF_HEAPS_SYSTEM)";
    break;
  case GST_DMAKIT_BACKEND_UDMABUF:
    candidates.push_back ("/dev/udmabuf");
    reason = "no /dev/udmabuf (kernel without CONFIG_UDMABUF)";
    break;
  case GST_DMAKIT_BACKEND_DRM_DUMB: {
    reason = "no DRM node in /dev/dri (no GPU driver; `modprobe vgem` gives one)";
    if (GDir *dir = g_dir_open ("/dev/dri", 0, nullptr)) {
      while (const gchar *name = g_dir_read_name (dir)) {
        if (g_str_has_prefix (name, "card") || g_str_has_prefix (name, "renderD"))
          candidates.push_back (std::string ("/dev/dri/") + name);
      }
      g_dir_close (dir);
    }
    break;
  }
  default:
    reason = "unknown backend";
    return false;
  }
  for (const std::string &path : candidates) {
    if (!g_file_test (path.c_str (), G_FILE_TEST_EXISTS))
      continue;
    int fd = open (path.c_str (), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      close (fd);
      return true;
    }
    reason = path + " exists but cannot be opened: " + g_strerror (errno);
  }
  return false;
}

static Suite *
allocator_device_suite (void)
{
  Suite *s = suite_create ((std::string ("dmakit-allocator-") + backend_nick ()).c_str ());
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_new);
  tcase_add_test (tc, test_alloc_dmabuf);
  tcase_add_test (tc, test_sync_counted);
  tcase_add_test (tc, test_map_persistent_coherent);
  tcase_add_test (tc, test_params);
  tcase_add_test (tc, test_share_copy);
  tcase_add_test (tc, test_lock);
  tcase_add_test (tc, test_no_leaks);
  tcase_add_test (tc, test_alloc_2d);
  if (backend () != GST_DMAKIT_BACKEND_DMA_HEAP)
    tcase_add_test (tc, test_refused);
  else
    tcase_add_test (tc, test_device_names);
  tcase_add_test (tc, test_emfile);
  tcase_add_test (tc, test_threads);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  std::string reason;
  if (!device_usable (reason)) {
    g_print ("SKIP: %s backend: %s\n", backend_nick (), reason.c_str ());
    return 77;
  }
  Suite *s = allocator_device_suite ();
  return gst_check_run_suite (s, (std::string ("allocator-") + backend_nick ()).c_str (),
                              __FILE__);
}
