/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host tier of GstDmakitAllocator: the memfd backend in full (alloc, params,
 * map, share, copy, lock, failures, leaks, lifetime), the type hierarchy, the
 * AUTO choice and the errors of backends whose device is missing or wrong.
 * Needs no device: memfd exists on every supported kernel. */
#include <gst/check/gstcheck.h>
#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include "allocator-common.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace dmakit;
using namespace dmakit_test;

static gsize
page ()
{
  return gsize (sysconf (_SC_PAGESIZE));
}

static ObjectRef<GstAllocator>
new_memfd_allocator ()
{
  GErrorPtr err;
  auto alloc = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, err.out ()));
  fail_unless (alloc, "memfd allocator: %s", err ? err->message : "?");
  fail_if (bool (err));
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

GST_START_TEST (test_types)
{
  fail_unless (g_type_is_a (GST_DMAKIT_TYPE_ALLOCATOR, GST_TYPE_DMABUF_ALLOCATOR));
  fail_unless (g_type_is_a (GST_DMAKIT_TYPE_FD_ALLOCATOR, GST_TYPE_FD_ALLOCATOR));
  fail_if (g_type_is_a (GST_DMAKIT_TYPE_FD_ALLOCATOR, GST_TYPE_DMABUF_ALLOCATOR),
           "the memfd allocator must not pass for a DMA-BUF allocator");

  fail_unless (G_TYPE_IS_ENUM (GST_DMAKIT_TYPE_BACKEND));
  GEnumClass *klass = G_ENUM_CLASS (g_type_class_ref (GST_DMAKIT_TYPE_BACKEND));
  const struct {
    const char *nick;
    int value;
  } expected[] = {{"auto", GST_DMAKIT_BACKEND_AUTO},
                  {"dma-heap", GST_DMAKIT_BACKEND_DMA_HEAP},
                  {"udmabuf", GST_DMAKIT_BACKEND_UDMABUF},
                  {"drm-dumb", GST_DMAKIT_BACKEND_DRM_DUMB},
                  {"memfd", GST_DMAKIT_BACKEND_MEMFD}};
  for (const auto &e : expected) {
    GEnumValue *v = g_enum_get_value_by_nick (klass, e.nick);
    fail_unless (v != nullptr, "no enum nick %s", e.nick);
    fail_unless_equals_int (v->value, e.value);
    /* gst-inspect shows value_name as the description: words, not the C name */
    fail_if (g_str_has_prefix (v->value_name, "GST_"), "%s: value_name is the C identifier %s",
             e.nick, v->value_name);
    fail_unless (strchr (v->value_name, ' ') != nullptr, "%s: value_name '%s' is no description",
                 e.nick, v->value_name);
  }
  fail_unless_equals_int (klass->n_values, 5);
  g_type_class_unref (klass);
}
GST_END_TEST;

GST_START_TEST (test_new_memfd)
{
  auto alloc = new_memfd_allocator ();
  fail_unless (GST_DMAKIT_IS_FD_ALLOCATOR (alloc.get ()));
  fail_if (GST_DMAKIT_IS_ALLOCATOR (alloc.get ()));
  fail_if (GST_IS_DMABUF_ALLOCATOR (alloc.get ()));
  fail_unless (gst_is_dmakit_allocator (alloc.get ()));
  fail_unless_equals_int (gst_dmakit_allocator_get_backend (alloc.get ()),
                          GST_DMAKIT_BACKEND_MEMFD);
  fail_unless (gst_dmakit_allocator_get_device (alloc.get ()) == nullptr);
  fail_unless_equals_string (alloc->mem_type, GST_DMAKIT_FD_ALLOCATOR_NAME);
  fail_if (GST_OBJECT_FLAG_IS_SET (alloc.get (), GST_ALLOCATOR_FLAG_CUSTOM_ALLOC),
           "pools and gst_memory_copy() need CUSTOM_ALLOC cleared");
  fail_if (g_object_is_floating (alloc.get ()));
  fail_unless_equals_int (GST_OBJECT_REFCOUNT_VALUE (alloc.get ()), 1);
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc.get ()), 0);

  auto sys = ObjectRef<GstAllocator>::adopt (gst_allocator_find (NULL));
  fail_if (gst_is_dmakit_allocator (sys.get ()));

  /* the interface both kinds implement: the same answers through it */
  fail_unless (g_type_is_a (GST_DMAKIT_TYPE_ALLOCATOR, GST_DMAKIT_TYPE_BACKEND_ALLOCATOR));
  fail_unless (g_type_is_a (GST_DMAKIT_TYPE_FD_ALLOCATOR, GST_DMAKIT_TYPE_BACKEND_ALLOCATOR));
  fail_if (GST_DMAKIT_IS_BACKEND_ALLOCATOR (sys.get ()));
  GstDmakitBackendAllocator *iface = GST_DMAKIT_BACKEND_ALLOCATOR (alloc.get ());
  fail_unless_equals_int (gst_dmakit_backend_allocator_get_backend (iface),
                          GST_DMAKIT_BACKEND_MEMFD);
  fail_unless (gst_dmakit_backend_allocator_get_device (iface) == nullptr);
  fail_unless_equals_uint64 (gst_dmakit_backend_allocator_get_sync_count (iface), 0);
  fail_if (gst_dmakit_backend_allocator_get_lock_memory (iface));
  gst_dmakit_backend_allocator_set_lock_memory (iface, TRUE);
  fail_unless (gst_dmakit_allocator_get_lock_memory (alloc.get ()));
  gst_dmakit_backend_allocator_set_lock_memory (iface, FALSE);
  guint pitch = 0;
  GstMemory *mem = gst_dmakit_backend_allocator_alloc_2d (iface, 100, 10, 32, &pitch);
  fail_unless (mem != nullptr);
  fail_unless_equals_int (pitch, 448);
  GstStructure *st = gst_dmakit_backend_allocator_get_stats (iface);
  fail_unless_equals_string (gst_structure_get_string (st, "backend"), "memfd");
  gst_structure_free (st);
  gst_memory_unref (mem);
}
GST_END_TEST;

GST_START_TEST (test_alloc_basic)
{
  auto alloc = new_memfd_allocator ();
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 1000, nullptr));
  fail_unless (mem);
  fail_unless (mem->allocator == alloc.get ());
  fail_unless (gst_is_fd_memory (mem.get ()));
  fail_if (gst_is_dmabuf_memory (mem.get ()), "memfd memory must never pass for DMA-BUF");
  fail_unless (gst_is_dmakit_memory (mem.get ()));
  fail_unless (gst_memory_is_type (mem.get (), GST_DMAKIT_FD_ALLOCATOR_NAME));
  fail_unless_equals_int (mem->size, 1000);
  fail_unless_equals_int (mem->offset, 0);
  fail_unless_equals_int (mem->maxsize, page ());

  int fd = gst_fd_memory_get_fd (mem.get ());
  fail_unless (fd >= 0);
  struct stat st;
  fail_unless (fstat (fd, &st) == 0);
  fail_unless_equals_int64 (st.st_size, gint64 (mem->maxsize));
  std::string link = fd_link (fd);
  fail_unless (g_str_has_prefix (link.c_str (), "/memfd:dmakit:"), "fd link is %s", link.c_str ());
  int seals = fcntl (fd, F_GET_SEALS);
  fail_unless (seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW),
               "memfd not sealed against resizing (seals 0x%x)", seals);
  fail_unless (fcntl (fd, F_GETFD) & FD_CLOEXEC);

  /* a second allocation is a different buffer with a different name */
  auto mem2 = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 1000, nullptr));
  fail_unless (mem2);
  int fd2 = gst_fd_memory_get_fd (mem2.get ());
  fail_unless (fd2 != fd);
  fail_if (fd_link (fd2) == link);

  /* zero-size memory is valid GstMemory */
  auto empty = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 0, nullptr));
  fail_unless (empty);
  fail_unless_equals_int (empty->size, 0);
}
GST_END_TEST;

GST_START_TEST (test_params)
{
  auto alloc = new_memfd_allocator ();
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.prefix = 100;
  params.padding = 50;
  params.align = 63;
  params.flags = GstMemoryFlags (GST_MEMORY_FLAG_ZERO_PREFIXED | GST_MEMORY_FLAG_ZERO_PADDED);
  const gsize size = 3 * page () - 120; /* prefix+size+padding spills into a 4th page */
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, &params));
  fail_unless (mem);
  fail_unless_equals_int (mem->size, size);
  fail_unless_equals_int (mem->offset, 100);
  fail_unless_equals_int (mem->align, 63);
  fail_unless_equals_int (mem->maxsize, 4 * page ());
  fail_unless (GST_MEMORY_IS_ZERO_PREFIXED (mem.get ()));
  fail_unless (GST_MEMORY_IS_ZERO_PADDED (mem.get ()));
  {
    MappedMemory m (mem.get (), GST_MAP_READWRITE);
    fail_unless (bool (m));
    fail_unless_equals_int (m.size (), size);
    guint8 *base = m.data () - mem->offset;
    fail_unless ((guintptr (base) & 63) == 0, "start of memory not 64-byte aligned");
    for (gsize i = 0; i < 100; ++i)
      fail_unless (base[i] == 0, "prefix byte %" G_GSIZE_FORMAT " not zero", i);
    for (gsize i = 0; i < 50; ++i)
      fail_unless (m.data ()[size + i] == 0, "padding byte %" G_GSIZE_FORMAT " not zero", i);
    memset (m.data (), 0x5a, m.size ());
  }
  /* the bytes are in the fd at offset prefix */
  guint8 byte = 0;
  fail_unless (pread (gst_fd_memory_get_fd (mem.get ()), &byte, 1, 100) == 1);
  fail_unless_equals_int (byte, 0x5a);
  fail_unless (pread (gst_fd_memory_get_fd (mem.get ()), &byte, 1, 99) == 1);
  fail_unless_equals_int (byte, 0);

  /* resize within maxsize works like any GstMemory */
  gst_memory_resize (mem.get (), -100, size + 100);
  fail_unless_equals_int (mem->offset, 0);

  /* NOT asking for zeroing does not set the flags */
  GstAllocationParams plain;
  gst_allocation_params_init (&plain);
  plain.prefix = 16;
  auto mem2 = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 10, &plain));
  fail_unless (mem2);
  fail_if (GST_MEMORY_IS_ZERO_PREFIXED (mem2.get ()));
  fail_unless_equals_int (mem2->offset, 16);

  /* an alignment beyond a page cannot be honoured: refused, not faked */
  GstAllocationParams big_align;
  gst_allocation_params_init (&big_align);
  big_align.align = 2 * page () - 1;
  {
    LogCapture log (GST_LEVEL_WARNING);
    GstMemory *m = gst_allocator_alloc (alloc.get (), 10, &big_align);
    fail_unless (m == nullptr);
    fail_unless (log.contains ("alignment mask"), "log: %s", log.text ().c_str ());
  }

  /* sizes that overflow are refused cleanly */
  GstAllocationParams pref;
  gst_allocation_params_init (&pref);
  pref.prefix = 4096;
  fail_unless (gst_allocator_alloc (alloc.get (), G_MAXSIZE - 10, &pref) == nullptr);
  fail_unless (gst_allocator_alloc (alloc.get (), G_MAXSIZE - 10, nullptr) == nullptr);
  fail_unless (gst_allocator_alloc (alloc.get (), G_MAXSSIZE, nullptr) == nullptr);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "failures"), 4);
}
GST_END_TEST;

GST_START_TEST (test_map_persistent)
{
  auto alloc = new_memfd_allocator ();
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
      w.data ()[i] = guint8 (i * 7);
  }
  for (int i = 0; i < 100; ++i) {
    MappedMemory r (mem.get (), (i & 1) ? GST_MAP_READ : GST_MAP_READWRITE);
    fail_unless (bool (r));
    fail_unless (r.data () == first, "mapping moved: not persistent");
    fail_unless_equals_int (r.data ()[size - 1], guint8 ((size - 1) * 7));
  }
  fail_unless_equals_int (count_mappings (), maps_before);

  /* nested maps of different kinds share the mapping */
  {
    MappedMemory a (mem.get (), GST_MAP_READ);
    MappedMemory b (mem.get (), GST_MAP_READ);
    fail_unless (a && b && a.data () == b.data ());
  }

  /* the data is the fd's: an independent mapping of the fd sees it */
  int fd = gst_fd_memory_get_fd (mem.get ());
  void *other = mmap (nullptr, mem->maxsize, PROT_READ, MAP_SHARED, fd, 0);
  fail_unless (other != MAP_FAILED);
  fail_unless (memcmp (other, first, size) == 0);
  munmap (other, mem->maxsize);
}
GST_END_TEST;

GST_START_TEST (test_share)
{
  auto alloc = new_memfd_allocator ();
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.prefix = 32;
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 1000, &params));
  fail_unless (mem);
  {
    MappedMemory w (mem.get (), GST_MAP_WRITE);
    fail_unless (bool (w));
    for (gsize i = 0; i < w.size (); ++i)
      w.data ()[i] = guint8 (i);
  }
  auto sub = MemoryRef::adopt (gst_memory_share (mem.get (), 10, 100));
  fail_unless (sub);
  fail_unless (sub->parent == mem.get ());
  fail_unless (sub->allocator == alloc.get ());
  fail_unless_equals_int (sub->size, 100);
  fail_unless (gst_is_dmakit_memory (sub.get ()));
  fail_unless (gst_is_fd_memory (sub.get ()));
  fail_if (gst_is_dmabuf_memory (sub.get ()));
  fail_unless_equals_int (gst_fd_memory_get_fd (sub.get ()), gst_fd_memory_get_fd (mem.get ()));
  {
    MappedMemory r (sub.get (), GST_MAP_READ);
    fail_unless (bool (r));
    fail_unless_equals_int (r.size (), 100);
    fail_unless_equals_int (r.data ()[0], 10);
    fail_unless_equals_int (r.data ()[99], 109);
  }
  {
    /* shares are read-only */
    GstMapInfo info;
    fail_if (gst_memory_map (sub.get (), &info, GST_MAP_WRITE));
  }

  /* size -1 means "to the end of the memory", not to the end of the pages */
  auto rest = MemoryRef::adopt (gst_memory_share (mem.get (), 900, -1));
  fail_unless (rest);
  fail_unless_equals_int (rest->size, 100);
  fail_unless (rest->offset + rest->size <= rest->maxsize);
  auto all = MemoryRef::adopt (gst_memory_share (mem.get (), 0, -1));
  fail_unless_equals_int (all->size, 1000);

  /* adjacent shares are a span; a buffer of both maps without a copy */
  auto a = MemoryRef::adopt (gst_memory_share (mem.get (), 0, 500));
  auto b = MemoryRef::adopt (gst_memory_share (mem.get (), 500, 500));
  gsize span_offset = 1234;
  fail_unless (gst_memory_is_span (a.get (), b.get (), &span_offset));
  fail_unless_equals_int (span_offset, 0);
  fail_if (gst_memory_is_span (b.get (), a.get (), nullptr));
  auto other = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 1000, nullptr));
  fail_if (gst_memory_is_span (mem.get (), other.get (), nullptr));

  GstBuffer *buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, a.release ());
  gst_buffer_append_memory (buf, b.release ());
  {
    MappedBuffer m (buf, GST_MAP_READ);
    fail_unless (bool (m));
    fail_unless_equals_int (m.size (), 1000);
    fail_unless_equals_int (m.data ()[999], guint8 (999));
  }
  gst_buffer_unref (buf);

  /* the parent can go first: the share keeps it */
  GstMemory *parent = mem.release ();
  gst_memory_unref (parent);
  {
    MappedMemory r (sub.get (), GST_MAP_READ);
    fail_unless (bool (r));
    fail_unless_equals_int (r.data ()[5], 15);
  }
}
GST_END_TEST;

GST_START_TEST (test_copy)
{
  auto alloc = new_memfd_allocator ();
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 5000, nullptr));
  fail_unless (mem);
  {
    MappedMemory w (mem.get (), GST_MAP_WRITE);
    for (gsize i = 0; i < w.size (); ++i)
      w.data ()[i] = guint8 (i ^ 0x33);
  }
  auto copy = MemoryRef::adopt (gst_memory_copy (mem.get (), 0, -1));
  fail_unless (copy);
  fail_unless (copy->allocator == alloc.get (), "a copy must come from the same allocator");
  fail_unless (gst_is_fd_memory (copy.get ()));
  fail_unless (gst_is_dmakit_memory (copy.get ()));
  fail_unless (gst_fd_memory_get_fd (copy.get ()) != gst_fd_memory_get_fd (mem.get ()));
  fail_unless_equals_int (copy->size, 5000);
  {
    MappedMemory a (mem.get (), GST_MAP_READ);
    MappedMemory b (copy.get (), GST_MAP_READ);
    fail_unless (a && b);
    fail_unless (memcmp (a.data (), b.data (), 5000) == 0);
  }
  auto part = MemoryRef::adopt (gst_memory_copy (mem.get (), 100, 10));
  fail_unless (part);
  fail_unless_equals_int (part->size, 10);
  {
    MappedMemory p (part.get (), GST_MAP_READ);
    fail_unless_equals_int (p.data ()[0], guint8 (100 ^ 0x33));
  }
  /* copies are independent */
  {
    MappedMemory w (copy.get (), GST_MAP_WRITE);
    w.data ()[0] = 0xee;
  }
  {
    MappedMemory r (mem.get (), GST_MAP_READ);
    fail_unless_equals_int (r.data ()[0], 0x33);
  }
  /* a copy of a share copies the share's bytes */
  auto sub = MemoryRef::adopt (gst_memory_share (mem.get (), 200, 300));
  auto subcopy = MemoryRef::adopt (gst_memory_copy (sub.get (), 0, -1));
  fail_unless (subcopy);
  fail_unless_equals_int (subcopy->size, 300);
  fail_unless (subcopy->parent == nullptr);
  {
    MappedMemory r (subcopy.get (), GST_MAP_READ);
    fail_unless_equals_int (r.data ()[0], guint8 (200 ^ 0x33));
  }
  /* a range outside the memory is refused, not read */
  {
    LogCapture log (GST_LEVEL_WARNING);
    fail_unless (gst_memory_copy (mem.get (), 6000, 10) == nullptr);
    fail_unless (gst_memory_copy (mem.get (), 4000, 2000) == nullptr);
    fail_unless (log.contains ("beyond size"), "log: %s", log.text ().c_str ());
  }
  /* gst_buffer deep copy goes through the same path */
  GstBuffer *buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, gst_memory_ref (mem.get ()));
  GstBuffer *deep = gst_buffer_copy_deep (buf);
  fail_unless (gst_buffer_peek_memory (deep, 0)->allocator == alloc.get ());
  gst_buffer_unref (deep);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_lock)
{
  auto alloc = new_memfd_allocator ();
  fail_if (gst_dmakit_allocator_get_lock_memory (alloc.get ()));
  const gsize size = 16 * page ();
  auto unlocked = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_unless (unlocked);
  fail_if (gst_dmakit_memory_is_locked (unlocked.get ()));

  struct rlimit rl;
  fail_unless (getrlimit (RLIMIT_MEMLOCK, &rl) == 0);
  const long before_kb = vm_locked_kb ();
  gst_dmakit_allocator_set_lock_memory (alloc.get (), TRUE);
  fail_unless (gst_dmakit_allocator_get_lock_memory (alloc.get ()));
  auto locked = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_unless (locked);
  /* 64 KiB fits every default RLIMIT_MEMLOCK (64 KiB on old kernels, 8 MiB now) */
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * size) {
    g_print ("RLIMIT_MEMLOCK %llu is below %zu: lock check skipped\n",
             (unsigned long long) rl.rlim_cur, 2 * size);
    return;
  }
  fail_unless (gst_dmakit_memory_is_locked (locked.get ()));
  const long after_kb = vm_locked_kb ();
  fail_unless (after_kb - before_kb >= long (size / 1024),
               "VmLck grew by %ld kB only, expected %zu", after_kb - before_kb, size / 1024);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "locked"), 1);
  /* locked pages are resident: no fault on first touch */
  {
    MappedMemory w (locked.get (), GST_MAP_WRITE);
    fail_unless (bool (w));
    unsigned char vec[16];
    fail_unless (mincore (w.data (), size, vec) == 0);
    for (unsigned char v : vec)
      fail_unless (v & 1, "locked page not resident");
    memset (w.data (), 1, size);
  }
  auto sub = MemoryRef::adopt (gst_memory_share (locked.get (), 0, 10));
  fail_unless (gst_dmakit_memory_is_locked (sub.get ()));
  fail_if (gst_dmakit_memory_is_locked (unlocked.get ()));

  /* system memory is never reported as locked by us */
  auto sysmem = MemoryRef::adopt (gst_allocator_alloc (nullptr, 10, nullptr));
  fail_if (gst_dmakit_memory_is_locked (sysmem.get ()));

  sub.reset ();
  locked.reset ();
  fail_unless (vm_locked_kb () <= before_kb, "VmLck not released on free");
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "locked"), 0);

  gst_dmakit_allocator_set_lock_memory (alloc.get (), FALSE);
  auto again = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), size, nullptr));
  fail_if (gst_dmakit_memory_is_locked (again.get ()));
}
GST_END_TEST;

/* Child-side of test_lock_refused: exit codes say what went wrong. */
static int
lock_refused_child ()
{
  if (!drop_cap_ipc_lock ())
    return 10;
  struct rlimit tiny = {4096, 4096};
  if (setrlimit (RLIMIT_MEMLOCK, &tiny) != 0)
    return 11;
  GErrorPtr err;
  GstAllocator *alloc = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, err.out ());
  if (!alloc)
    return 12;
  gst_dmakit_allocator_set_lock_memory (alloc, TRUE);
  const gsize size = 16 * page ();
  int rc = 0;
  {
    LogCapture log (GST_LEVEL_WARNING);
    GstMemory *mem = gst_allocator_alloc (alloc, size, nullptr);
    if (!mem) {
      rc = 13; /* a refused lock must not fail the allocation */
    } else {
      if (gst_dmakit_memory_is_locked (mem))
        rc = 14;
      else if (!log.contains ("RLIMIT_MEMLOCK"))
        rc = 15;
      else if (!log.contains (std::to_string (size) + " bytes"))
        rc = 16;
      else if (!log.contains ("4096 bytes"))
        rc = 17; /* the limit itself is named */
      else if (log.line_with ("RLIMIT_MEMLOCK").find ("WARN") == std::string::npos)
        rc = 18;
      else {
        GstMapInfo info;
        if (!gst_memory_map (mem, &info, GST_MAP_WRITE))
          rc = 19;
        else {
          memset (info.data, 7, info.size); /* still usable, just not locked */
          gst_memory_unmap (mem, &info);
        }
      }
      GstStructure *s = gst_dmakit_allocator_get_stats (alloc);
      guint64 failures = 0;
      gst_structure_get_uint64 (s, "lock-failures", &failures);
      gst_structure_free (s);
      if (rc == 0 && failures != 1)
        rc = 20;
      gst_memory_unref (mem);
    }
  }
  gst_object_unref (alloc);
  return rc;
}

GST_START_TEST (test_lock_refused)
{
  pid_t pid = fork ();
  fail_unless (pid >= 0);
  if (pid == 0)
    _exit (lock_refused_child ());
  int status = 0;
  fail_unless (waitpid (pid, &status, 0) == pid);
  fail_unless (WIFEXITED (status), "child died (signal %d)", WTERMSIG (status));
  const char *why[] = {"ok",
                       "",
                       "",
                       "",
                       "",
                       "",
                       "",
                       "",
                       "",
                       "",
                       "cannot drop CAP_IPC_LOCK",
                       "cannot set RLIMIT_MEMLOCK",
                       "no allocator",
                       "allocation failed because the lock was refused",
                       "memory reported locked under a 4 KiB RLIMIT_MEMLOCK",
                       "warning does not name RLIMIT_MEMLOCK",
                       "warning does not give the size",
                       "warning does not give the limit",
                       "refusal not logged at WARNING level",
                       "memory not mappable after a refused lock",
                       "lock-failures counter wrong"};
  int code = WEXITSTATUS (status);
  fail_unless (code == 0, "child: %s (%d)",
               code < int (G_N_ELEMENTS (why)) ? why[code] : "unknown", code);
}
GST_END_TEST;

GST_START_TEST (test_nofile)
{
  auto alloc = new_memfd_allocator ();
  const int fds_before = count_open_fds ();
  struct rlimit saved;
  fail_unless (getrlimit (RLIMIT_NOFILE, &saved) == 0);
  {
    /* the capture holds its fds before the table is filled */
    LogCapture log (GST_LEVEL_WARNING);
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
    /* Fill the fd table up to a small limit (or the current one where the
     * limit cannot be lowered, e.g. under valgrind). */
    struct rlimit tiny = saved;
    tiny.rlim_cur = rlim_t (highest + 4);
    const bool lowered = setrlimit (RLIMIT_NOFILE, &tiny) == 0;
    if (!lowered)
      fail_unless (saved.rlim_cur <= 65536, "cannot lower RLIMIT_NOFILE (%s) and it is huge",
                   g_strerror (errno));
    std::vector<int> filler{source};
    for (;;) {
      int fd = dup (source);
      if (fd < 0) {
        fail_unless_equals_int (errno, EMFILE);
        break;
      }
      filler.push_back (fd);
      fail_unless (filler.size () < 70000);
    }
    GstMemory *mem = gst_allocator_alloc (alloc.get (), 4096, nullptr);
    fail_unless (mem == nullptr, "allocation must fail when no fd is left");

    GErrorPtr err;
    GstAllocator *none = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, err.out ());
    fail_unless (none == nullptr);
    fail_unless (err && err->domain == GST_DMAKIT_ERROR);
    fail_unless (strstr (err->message, "memfd") && strstr (err->message, g_strerror (EMFILE)),
                 "error: %s", err->message);
    /* AUTO has no fallback left either, and says why */
    none = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ());
    fail_unless (none == nullptr);
    fail_unless (strstr (err->message, "memfd") != nullptr, "error: %s", err->message);

    for (int fd : filler)
      close (fd);
    if (lowered)
      fail_unless (setrlimit (RLIMIT_NOFILE, &saved) == 0);
    const std::string line = log.line_with (g_strerror (EMFILE));
    fail_unless (!line.empty (), "failure not logged: %s", log.text ().c_str ());
    fail_unless (line.find ("WARN") != std::string::npos, "not a warning: %s", line.c_str ());
    fail_unless (line.find ("memfd") != std::string::npos, "no backend: %s", line.c_str ());
    fail_unless (line.find ("4096 bytes") != std::string::npos, "no size: %s", line.c_str ());
  }
  fail_unless_equals_int (count_open_fds (), fds_before);
  fail_unless (stat_u64 (alloc.get (), "failures") >= 1);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
  /* and it recovers */
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 4096, nullptr));
  fail_unless (mem);
}
GST_END_TEST;

GST_START_TEST (test_no_leaks)
{
  auto alloc = new_memfd_allocator ();
  /* warm up GLib/GStreamer one-time state */
  gst_memory_unref (gst_allocator_alloc (alloc.get (), 100, nullptr));
  const int fds_before = count_open_fds ();
  const int maps_before = count_mappings ();
  {
    /* the counters see one allocation: fd and mapping */
    auto one = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 100, nullptr));
    fail_unless_equals_int (count_open_fds (), fds_before + 1);
    fail_unless_equals_int (count_mappings (), maps_before + 1);
  }
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.prefix = 64;
  params.padding = 64;
  for (int i = 0; i < 2000; ++i) {
    GstMemory *mem = gst_allocator_alloc (alloc.get (), 4096 + i, &params);
    fail_unless (mem);
    {
      MappedMemory w (mem, GST_MAP_WRITE);
      fail_unless (bool (w));
      w.data ()[0] = guint8 (i);
    }
    GstMemory *sub = gst_memory_share (mem, 1, 100);
    GstMemory *copy = (i % 10 == 0) ? gst_memory_copy (mem, 0, 200) : nullptr;
    gst_memory_unref (mem);
    gst_memory_unref (sub);
    if (copy)
      gst_memory_unref (copy);
  }
  fail_unless_equals_int (count_open_fds (), fds_before);
  fail_unless_equals_int (count_mappings (), maps_before);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding-bytes"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "allocated"), 2 + 2000 + 200);
}
GST_END_TEST;

static void
weak_notify (gpointer data, GObject *)
{
  *static_cast<gboolean *> (data) = TRUE;
}

GST_START_TEST (test_allocator_outlived)
{
  GErrorPtr err;
  GstAllocator *alloc = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_MEMFD, nullptr, err.out ());
  fail_unless (alloc);
  gboolean finalized = FALSE;
  g_object_weak_ref (G_OBJECT (alloc), weak_notify, &finalized);
  GstMemory *mem = gst_allocator_alloc (alloc, 8192, nullptr);
  fail_unless (mem);
  gst_object_unref (alloc); /* the last external ref */
  fail_if (finalized, "memory must keep its allocator alive");
  {
    MappedMemory w (mem, GST_MAP_WRITE);
    fail_unless (bool (w));
    memset (w.data (), 0x42, w.size ());
  }
  GstMemory *sub = gst_memory_share (mem, 0, 16);
  GstMemory *copy = gst_memory_copy (mem, 0, -1);
  fail_unless (sub && copy);
  fail_unless (copy->allocator == mem->allocator);
  gst_memory_unref (mem);
  fail_if (finalized);
  {
    MappedMemory r (copy, GST_MAP_READ);
    fail_unless_equals_int (r.data ()[8191], 0x42);
  }
  gst_memory_unref (copy);
  {
    MappedMemory r (sub, GST_MAP_READ);
    fail_unless_equals_int (r.data ()[15], 0x42);
  }
  fail_if (finalized);
  gst_memory_unref (sub);
  fail_unless (finalized, "allocator not finalized after its last memory");
}
GST_END_TEST;

GST_START_TEST (test_outlives_pipeline)
{
  /* A pool with our allocator feeds a real pipeline; a buffer kept after the
   * pipeline and the pool are gone stays valid. */
  auto alloc = new_memfd_allocator ();
  GstBufferPool *pool = gst_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  GstCaps *caps = gst_caps_from_string ("application/octet-stream");
  gst_buffer_pool_config_set_params (config, caps, 4096, 2, 4);
  gst_caps_unref (caps);
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  gst_buffer_pool_config_set_allocator (config, alloc.get (), &params);
  fail_unless (gst_buffer_pool_set_config (pool, config),
               "a stock pool must accept the allocator (CUSTOM_ALLOC cleared)");
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));

  GstElement *pipeline = gst_pipeline_new ("p");
  GstElement *src = gst_element_factory_make ("appsrc", "src");
  GstElement *sink = gst_element_factory_make ("appsink", "sink");
  fail_unless (src && sink, "appsrc/appsink missing");
  gst_bin_add_many (GST_BIN (pipeline), src, sink, nullptr);
  fail_unless (gst_element_link (src, sink));
  g_object_set (sink, "sync", FALSE, nullptr);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);

  GstBuffer *buf = nullptr;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, nullptr), GST_FLOW_OK);
  fail_unless (gst_buffer_peek_memory (buf, 0)->allocator == alloc.get ());
  {
    MappedBuffer w (buf, GST_MAP_WRITE);
    memset (w.data (), 0x99, w.size ());
  }
  GstFlowReturn ret;
  g_signal_emit_by_name (src, "push-buffer", buf, &ret);
  fail_unless_equals_int (ret, GST_FLOW_OK);
  gst_buffer_unref (buf);
  GstSample *sample = nullptr;
  g_signal_emit_by_name (sink, "pull-sample", &sample);
  fail_unless (sample != nullptr);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  gst_buffer_pool_set_active (pool, FALSE);
  gst_object_unref (pool);
  alloc.reset ();

  GstBuffer *kept = gst_sample_get_buffer (sample);
  fail_unless (gst_is_dmakit_memory (gst_buffer_peek_memory (kept, 0)));
  {
    MappedBuffer r (kept, GST_MAP_READ);
    fail_unless (bool (r));
    fail_unless_equals_int (r.data ()[4095], 0x99);
  }
  gst_sample_unref (sample);
}
GST_END_TEST;

GST_START_TEST (test_auto)
{
  LogCapture log (GST_LEVEL_INFO);
  GErrorPtr err;
  auto alloc = ObjectRef<GstAllocator>::adopt (
      gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_AUTO, nullptr, err.out ()));
  fail_unless (alloc, "AUTO found nothing: %s", err ? err->message : "?");
  GstDmakitBackend chosen = gst_dmakit_allocator_get_backend (alloc.get ());
  fail_unless (chosen != GST_DMAKIT_BACKEND_AUTO);
  const GstDmakitBackend order[] = {GST_DMAKIT_BACKEND_DMA_HEAP, GST_DMAKIT_BACKEND_UDMABUF,
                                    GST_DMAKIT_BACKEND_DRM_DUMB, GST_DMAKIT_BACKEND_MEMFD};
  const char *nicks[] = {"dma-heap", "udmabuf", "drm-dumb", "memfd"};
  const std::string text = log.text ();
  for (int i = 0; i < 4; ++i) {
    if (order[i] == chosen) {
      fail_unless (text.find (std::string ("chose the ") + nicks[i] + " backend") != std::string::npos,
                   "final choice not logged at INFO: %s", text.c_str ());
      break;
    }
    /* every backend tried before the chosen one was refused, with a reason */
    fail_unless (text.find (std::string ("auto: ") + nicks[i] + " refused: ") != std::string::npos,
                 "refusal of %s not logged: %s", nicks[i], text.c_str ());
  }
  if (!g_file_test ("/dev/dma_heap/system", G_FILE_TEST_EXISTS)) {
    fail_if (chosen == GST_DMAKIT_BACKEND_DMA_HEAP);
    fail_unless (text.find ("/dev/dma_heap/system") != std::string::npos);
  }
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 4096, nullptr));
  fail_unless (mem);
  /* whatever was chosen, the memory says truthfully what it is */
  fail_unless_equals_int (gst_is_dmabuf_memory (mem.get ()), chosen != GST_DMAKIT_BACKEND_MEMFD);
  fail_unless (gst_is_fd_memory (mem.get ()));
}
GST_END_TEST;

static void
check_new_error (GstDmakitBackend backend, const char *device, const char *nick,
                 const char *path, int errnum)
{
  GErrorPtr err;
  GstAllocator *alloc = gst_dmakit_allocator_new (backend, device, err.out ());
  fail_unless (alloc == nullptr, "%s on %s must fail", nick, path);
  fail_unless (bool (err));
  fail_unless (err->domain == GST_DMAKIT_ERROR);
  fail_unless (strstr (err->message, nick) != nullptr, "error lacks backend: %s", err->message);
  fail_unless (strstr (err->message, path) != nullptr, "error lacks path: %s", err->message);
  fail_unless (strstr (err->message, g_strerror (errnum)) != nullptr,
               "error lacks errno text \"%s\": %s", g_strerror (errnum), err->message);
}

GST_START_TEST (test_new_errors)
{
  const int fds_before = count_open_fds ();
  check_new_error (GST_DMAKIT_BACKEND_DMA_HEAP, "no-such-heap", "dma-heap",
                   "/dev/dma_heap/no-such-heap", ENOENT);
  check_new_error (GST_DMAKIT_BACKEND_DMA_HEAP, "/nonexistent/heap", "dma-heap",
                   "/nonexistent/heap", ENOENT);
  check_new_error (GST_DMAKIT_BACKEND_UDMABUF, "/nonexistent/udmabuf", "udmabuf",
                   "/nonexistent/udmabuf", ENOENT);
  check_new_error (GST_DMAKIT_BACKEND_DRM_DUMB, "/nonexistent/dri/card0", "drm-dumb",
                   "/nonexistent/dri/card0", ENOENT);
  /* a device that exists but is not the right kind refuses at the probe */
  check_new_error (GST_DMAKIT_BACKEND_DMA_HEAP, "/dev/null", "dma-heap", "/dev/null", ENOTTY);
  check_new_error (GST_DMAKIT_BACKEND_UDMABUF, "/dev/null", "udmabuf", "/dev/null", ENOTTY);
  check_new_error (GST_DMAKIT_BACKEND_DRM_DUMB, "/dev/null", "drm-dumb", "/dev/null", ENOTTY);
  if (!g_file_test ("/dev/dma_heap/system", G_FILE_TEST_EXISTS))
    check_new_error (GST_DMAKIT_BACKEND_DMA_HEAP, nullptr, "dma-heap", "/dev/dma_heap/system",
                     ENOENT);
  if (!g_file_test ("/dev/udmabuf", G_FILE_TEST_EXISTS))
    check_new_error (GST_DMAKIT_BACKEND_UDMABUF, nullptr, "udmabuf", "/dev/udmabuf", ENOENT);
  if (!g_file_test ("/dev/dri", G_FILE_TEST_EXISTS))
    check_new_error (GST_DMAKIT_BACKEND_DRM_DUMB, nullptr, "drm-dumb", "/dev/dri", ENOENT);

  GErrorPtr err;
  fail_unless (gst_dmakit_allocator_new (GstDmakitBackend (42), nullptr, err.out ()) == nullptr);
  fail_unless (err && g_error_matches (err.get (), GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_INVALID));
  /* no fd of the failed attempts stays open */
  fail_unless_equals_int (count_open_fds (), fds_before);
}
GST_END_TEST;

GST_START_TEST (test_unconfigured_instance)
{
  /* g_object_new() without gst_dmakit_allocator_new() gives an allocator that
   * refuses to allocate and says why, instead of crashing. */
  GstAllocator *alloc = GST_ALLOCATOR (g_object_new (GST_DMAKIT_TYPE_ALLOCATOR, nullptr));
  gst_object_ref_sink (alloc);
  {
    LogCapture log (GST_LEVEL_WARNING);
    fail_unless (gst_allocator_alloc (alloc, 100, nullptr) == nullptr);
    fail_unless (log.contains ("gst_dmakit_allocator_new"), "log: %s", log.text ().c_str ());
  }
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_dmabuf_map_path_host)
{
  /* Our DMA-BUF allocator is a GstDmaBufAllocator, so foreign code may wrap
   * fds with it through gst_dmabuf_allocator_alloc(). On the host a memfd
   * stands in for the fd: this runs our map/unmap override (the fd mapping
   * plus DMA_BUF_IOCTL_SYNC) for real, where the kernel refuses the sync
   * (ENOTTY: not a DMA-BUF). The map must still work, the refusal must be
   * counted and warned about once, and no success may be counted. */
  GstAllocator *alloc = GST_ALLOCATOR (g_object_new (GST_DMAKIT_TYPE_ALLOCATOR, nullptr));
  gst_object_ref_sink (alloc);
  int fd = memfd_create ("dmakit-test", MFD_CLOEXEC);
  fail_unless (fd >= 0);
  fail_unless (ftruncate (fd, 8192) == 0);
  GstMemory *mem = gst_dmabuf_allocator_alloc (alloc, fd, 8192);
  fail_unless (mem);
  fail_unless (gst_is_dmabuf_memory (mem));
  {
    LogCapture log (GST_LEVEL_WARNING);
    for (int i = 0; i < 3; ++i) {
      MappedMemory w (mem, GST_MAP_WRITE);
      fail_unless (bool (w));
      w.data ()[i] = guint8 (i + 1);
    }
    fail_unless (log.contains ("DMA_BUF_IOCTL_SYNC START"), "log: %s", log.text ().c_str ());
    fail_unless (log.contains (g_strerror (ENOTTY)), "log: %s", log.text ().c_str ());
    fail_unless (log.contains ("not cache-coherent"), "log: %s", log.text ().c_str ());
    fail_unless (log.line_with ("not cache-coherent").find ("WARN") != std::string::npos);
    fail_unless_equals_int (log.count ("not cache-coherent"), 1); /* once per allocator */
  }
  fail_unless_equals_uint64 (gst_dmakit_allocator_get_sync_count (alloc), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc, "sync-failures"), 6);
  guint8 byte = 0;
  fail_unless (pread (fd, &byte, 1, 2) == 1);
  fail_unless_equals_int (byte, 3);
  gst_memory_unref (mem);
  /* foreign memory is not counted as ours */
  fail_unless_equals_uint64 (stat_u64 (alloc, "freed"), 0);
  fail_unless_equals_uint64 (stat_u64 (alloc, "outstanding-bytes"), 0);
  errno = 0;
  fail_unless (fcntl (fd, F_GETFD) == -1 && errno == EBADF, "wrapped fd not closed on free");
  gst_object_unref (alloc);
}
GST_END_TEST;

GST_START_TEST (test_alloc_2d)
{
  auto alloc = new_memfd_allocator ();
  guint pitch = 0;
  auto mem = MemoryRef::adopt (gst_dmakit_allocator_alloc_2d (alloc.get (), 100, 10, 24, &pitch));
  fail_unless (mem);
  fail_unless_equals_int (pitch, 320); /* 300 bytes rounded up to 64 */
  fail_unless_equals_int (mem->size, 3200);
  fail_unless_equals_int (mem->offset, 0);

  mem = MemoryRef::adopt (gst_dmakit_allocator_alloc_2d (alloc.get (), 1920, 1080, 8, &pitch));
  fail_unless_equals_int (pitch, 1920);
  fail_unless_equals_int (mem->size, 1920 * 1080);

  mem = MemoryRef::adopt (gst_dmakit_allocator_alloc_2d (alloc.get (), 3, 2, 12, &pitch));
  fail_unless_equals_int (pitch, 64); /* 4.5 bytes -> 5 -> 64 */
  fail_unless_equals_int (mem->size, 128);

  /* pitch is optional */
  mem = MemoryRef::adopt (gst_dmakit_allocator_alloc_2d (alloc.get (), 64, 64, 32, nullptr));
  fail_unless (mem);

  LogCapture log (GST_LEVEL_WARNING);
  pitch = 77;
  fail_unless (gst_dmakit_allocator_alloc_2d (alloc.get (), 0, 10, 8, &pitch) == nullptr);
  fail_unless (gst_dmakit_allocator_alloc_2d (alloc.get (), 10, 0, 8, &pitch) == nullptr);
  fail_unless (gst_dmakit_allocator_alloc_2d (alloc.get (), 10, 10, 0, &pitch) == nullptr);
  fail_unless (gst_dmakit_allocator_alloc_2d (alloc.get (), G_MAXUINT, G_MAXUINT, 32, &pitch) ==
               nullptr);
  fail_unless_equals_int (pitch, 77); /* untouched on failure */
  fail_unless (log.contains ("alloc_2d refused"));
}
GST_END_TEST;

static gpointer
alloc_thread (gpointer data)
{
  auto *alloc = static_cast<GstAllocator *> (data);
  for (int i = 0; i < 200; ++i) {
    GstMemory *mem = gst_allocator_alloc (alloc, 4096, nullptr);
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
  auto alloc = new_memfd_allocator ();
  GThread *threads[4];
  for (auto &t : threads)
    t = g_thread_new ("alloc", alloc_thread, alloc.get ());
  for (auto &t : threads)
    fail_unless (GPOINTER_TO_INT (g_thread_join (t)));
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "allocated"), 800);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
}
GST_END_TEST;

GST_START_TEST (test_stats)
{
  auto alloc = new_memfd_allocator ();
  auto mem = MemoryRef::adopt (gst_allocator_alloc (alloc.get (), 5000, nullptr));
  GstStructure *s = gst_dmakit_allocator_get_stats (alloc.get ());
  fail_unless_equals_string (gst_structure_get_name (s), "dmakit-allocator-stats");
  fail_unless_equals_string (gst_structure_get_string (s, "backend"), "memfd");
  fail_if (gst_structure_has_field (s, "device"));
  gst_structure_free (s);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 1);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding-bytes"), 2 * page ());
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "syncs"), 0);
  /* a share is not an allocation */
  gst_memory_unref (gst_memory_share (mem.get (), 0, 10));
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 1);
  mem.reset ();
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "freed"), 1);
  fail_unless_equals_uint64 (stat_u64 (alloc.get (), "outstanding"), 0);
}
GST_END_TEST;

static Suite *
allocator_memfd_suite (void)
{
  Suite *s = suite_create ("dmakit-allocator-memfd");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_types);
  tcase_add_test (tc, test_new_memfd);
  tcase_add_test (tc, test_alloc_basic);
  tcase_add_test (tc, test_params);
  tcase_add_test (tc, test_map_persistent);
  tcase_add_test (tc, test_share);
  tcase_add_test (tc, test_copy);
  tcase_add_test (tc, test_lock);
  tcase_add_test (tc, test_lock_refused);
  tcase_add_test (tc, test_nofile);
  tcase_add_test (tc, test_no_leaks);
  tcase_add_test (tc, test_allocator_outlived);
  tcase_add_test (tc, test_outlives_pipeline);
  tcase_add_test (tc, test_auto);
  tcase_add_test (tc, test_new_errors);
  tcase_add_test (tc, test_unconfigured_instance);
  tcase_add_test (tc, test_dmabuf_map_path_host);
  tcase_add_test (tc, test_alloc_2d);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_stats);
  return s;
}

GST_CHECK_MAIN (allocator_memfd);
