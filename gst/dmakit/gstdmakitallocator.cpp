/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitallocator.cpp: DMA-BUF allocator over dma-heaps, udmabuf and DRM dumb
 * buffers, with an explicit memfd fallback that is never reported as DMA-BUF.
 *
 * Design (see docs/allocator.md):
 *  - Two final types. GstDmakitAllocator derives from GstDmaBufAllocator (so
 *    gst_is_dmabuf_memory() is TRUE for its memory); GstDmakitFdAllocator derives
 *    from GstFdAllocator only (memfd memory: fd memory, never DMA-BUF). Both
 *    implement `alloc` and clear GST_ALLOCATOR_FLAG_CUSTOM_ALLOC, so pools and
 *    gst_memory_copy() can allocate from them.
 *  - Memory is GstFdMemory created by gst_fd_allocator_alloc() with
 *    GST_FD_MEMORY_FLAG_KEEP_MAPPED, and mapped read/write once at allocation
 *    time. Every later map is a pointer hand-out by the stock fd map (no mmap,
 *    no mprotect, no page faults after the first touch); the mapping goes away
 *    with the memory.
 *  - For DMA-BUFs we replace GstDmaBufAllocator's mem_map_full/mem_unmap_full
 *    (which sync without retrying) with our own: chain to the fd map for the
 *    pointer, and bracket it with DMA_BUF_IOCTL_SYNC START/END (READ/WRITE from
 *    the map flags), retried on EINTR/EAGAIN and counted. Exactly one sync per
 *    map and per unmap.
 *
 * Lock order: none. The allocator holds no lock while allocating; its state is
 * immutable after gst_dmakit_allocator_new() except for atomics.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include "dmakit-mlock.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

#include <xf86drm.h>
#include <xf86drmMode.h>

GST_DEBUG_CATEGORY_STATIC (dmakit_allocator_debug);
GST_DEBUG_CATEGORY_STATIC (dmakit_fd_allocator_debug);
GST_DEBUG_CATEGORY_STATIC (CAT_PERFORMANCE);
#define GST_CAT_DEFAULT dmakit_allocator_debug

using dmakit::MemoryRef;
using dmakit::ObjectLocker;
using dmakit::ObjectRef;
using dmakit::UniqueFd;

namespace {

/* Private memory flags (above GST_MEMORY_FLAG_LAST, as GstMemory allows).
 * Shares (gst_memory_share) inherit the flags of their parent. */
constexpr guint kFlagOwned = guint (GST_MEMORY_FLAG_LAST) << 0;  /* allocated by us */
constexpr guint kFlagLocked = guint (GST_MEMORY_FLAG_LAST) << 1; /* mlock()ed */

/* DRM dumb buffers for linear (1D) allocations: rows of 1024 x 32 bpp = 4096 bytes. */
constexpr guint32 kDumbRowWidth = 1024;
constexpr guint32 kDumbRowBpp = 32;
constexpr gsize kDumbRowBytes = kDumbRowWidth * kDumbRowBpp / 8;

/* Pitch alignment of alloc_2d for every backend but DRM dumb (which uses the driver's). */
constexpr guint64 kPitchAlign = 64;

/* How often a DMA_BUF_IOCTL_SYNC is retried on EINTR/EAGAIN before giving up. */
constexpr int kSyncRetries = 100;

gsize
page_size () noexcept
{
  static const gsize size = [] () noexcept {
    long v = sysconf (_SC_PAGESIZE);
    return v > 0 ? gsize (v) : gsize (4096);
  }();
  return size;
}

/* Round @v up to a multiple of @a (a power of two). FALSE on overflow. */
bool
round_up (guint64 v, guint64 a, guint64 *out) noexcept
{
  if (v > G_MAXUINT64 - (a - 1))
    return false;
  *out = (v + a - 1) & ~(a - 1);
  return true;
}

const char *
backend_nick (GstDmakitBackend b) noexcept
{
  switch (b) {
  case GST_DMAKIT_BACKEND_AUTO:
    return "auto";
  case GST_DMAKIT_BACKEND_DMA_HEAP:
    return "dma-heap";
  case GST_DMAKIT_BACKEND_UDMABUF:
    return "udmabuf";
  case GST_DMAKIT_BACKEND_DRM_DUMB:
    return "drm-dumb";
  case GST_DMAKIT_BACKEND_MEMFD:
    return "memfd";
  }
  return "invalid";
}

int
ioctl_restart (int fd, unsigned long req, void *arg) noexcept
{
  int r;
  do {
    r = ioctl (fd, req, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

/* State shared by both allocator types. Immutable after setup except atomics. */
struct Impl {
  GstDebugCategory *cat = nullptr;
  GstDmakitBackend backend = GST_DMAKIT_BACKEND_AUTO; /* AUTO: not set up */
  std::string device;                                 /* empty for memfd */
  UniqueFd dev;                                       /* heap / udmabuf / DRM node */
  bool contiguous = false;                            /* CMA heap */
  GstMemoryShareFunction fd_share = nullptr;          /* GstFdAllocator's share */

  std::atomic<bool> lock_memory{false};
  std::atomic<guint64> seq{0};
  std::atomic<guint64> allocated{0};
  std::atomic<guint64> freed{0};
  std::atomic<guint64> failures{0};
  std::atomic<guint64> outstanding_bytes{0};
  std::atomic<guint64> syncs{0};
  std::atomic<guint64> sync_failures{0};
  std::atomic<guint64> locked{0};
  std::atomic<guint64> lock_failures{0};
  std::atomic<bool> sync_warned{false};
  std::atomic<bool> lock_warned{false};
};

/* A freshly allocated kernel buffer, before it becomes a GstMemory. */
struct RawBuffer {
  UniqueFd fd;
  guint64 size = 0; /* what the kernel gave: the mapping length */
  guint pitch = 0;  /* DRM dumb only */
};

} // namespace

struct _GstDmakitAllocator {
  GstDmaBufAllocator parent;
  Impl *impl;
};

struct _GstDmakitAllocatorClass {
  GstDmaBufAllocatorClass parent_class;
};

struct _GstDmakitFdAllocator {
  GstFdAllocator parent;
  Impl *impl;
};

struct _GstDmakitFdAllocatorClass {
  GstFdAllocatorClass parent_class;
};

/* ---- type boilerplate ----------------------------------------------------- */

G_DEFINE_INTERFACE (GstDmakitBackendAllocator, gst_dmakit_backend_allocator, GST_TYPE_ALLOCATOR)

static void
gst_dmakit_backend_allocator_default_init (GstDmakitBackendAllocatorInterface *)
{
}

/* Both allocators implement the interface; it has no vfuncs to fill in. */
static void
backend_allocator_iface_init (gpointer, gpointer) noexcept
{
}

G_DEFINE_TYPE_WITH_CODE (GstDmakitAllocator, gst_dmakit_allocator, GST_TYPE_DMABUF_ALLOCATOR,
                         G_IMPLEMENT_INTERFACE (GST_DMAKIT_TYPE_BACKEND_ALLOCATOR,
                                                backend_allocator_iface_init);
                         GST_DEBUG_CATEGORY_INIT (dmakit_allocator_debug, "dmakitallocator", 0,
                                                  "dmakit DMA-BUF allocator");
                         GST_DEBUG_CATEGORY_GET (CAT_PERFORMANCE, "GST_PERFORMANCE"));
G_DEFINE_TYPE_WITH_CODE (GstDmakitFdAllocator, gst_dmakit_fd_allocator, GST_TYPE_FD_ALLOCATOR,
                         G_IMPLEMENT_INTERFACE (GST_DMAKIT_TYPE_BACKEND_ALLOCATOR,
                                                backend_allocator_iface_init);
                         GST_DEBUG_CATEGORY_INIT (dmakit_fd_allocator_debug, "dmakitfdallocator", 0,
                                                  "dmakit memfd (non-DMA-BUF) allocator");
                         GST_DEBUG_CATEGORY_GET (CAT_PERFORMANCE, "GST_PERFORMANCE"));

namespace {

Impl *
impl_of (GstAllocator *allocator) noexcept
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (allocator, GST_DMAKIT_TYPE_ALLOCATOR))
    return reinterpret_cast<GstDmakitAllocator *> (allocator)->impl;
  if (G_TYPE_CHECK_INSTANCE_TYPE (allocator, GST_DMAKIT_TYPE_FD_ALLOCATOR))
    return reinterpret_cast<GstDmakitFdAllocator *> (allocator)->impl;
  return nullptr;
}

/* Only installed on GstDmakitAllocator, so the cast is safe in the hot path. */
inline Impl *
dmabuf_impl (GstAllocator *allocator) noexcept
{
  return reinterpret_cast<GstDmakitAllocator *> (allocator)->impl;
}

GstMemory *
root_of (GstMemory *mem) noexcept
{
  return mem->parent ? mem->parent : mem;
}

/* ---- cache coherency ------------------------------------------------------ */

guint64
sync_rw_flags (GstMapFlags flags) noexcept
{
  guint64 f = 0;
  if (flags & GST_MAP_READ)
    f |= DMA_BUF_SYNC_READ;
  if (flags & GST_MAP_WRITE)
    f |= DMA_BUF_SYNC_WRITE;
  /* The kernel rejects a sync without direction; a map without flags reads. */
  return f ? f : guint64 (DMA_BUF_SYNC_READ);
}

/* One DMA_BUF_IOCTL_SYNC, retried on EINTR/EAGAIN. A failure is reported (the
 * first one per allocator as a warning) but does not fail the map: the data is
 * still reachable, only coherency is not guaranteed, which the warning says. */
void
dmabuf_sync (GstAllocator *allocator, Impl *impl, int fd, guint64 flags) noexcept
{
  struct dma_buf_sync sync = {};
  sync.flags = flags;
  int r = -1;
  int err = 0;
  for (int attempt = 0; attempt <= kSyncRetries; ++attempt) {
    r = ioctl (fd, DMA_BUF_IOCTL_SYNC, &sync);
    if (r == 0)
      break;
    err = errno;
    if (err != EINTR && err != EAGAIN)
      break;
  }
  if (G_LIKELY (r == 0)) {
    impl->syncs.fetch_add (1, std::memory_order_relaxed);
    return;
  }
  impl->sync_failures.fetch_add (1, std::memory_order_relaxed);
  const char *what = (flags & DMA_BUF_SYNC_END) ? "END" : "START";
  if (!impl->sync_warned.exchange (true)) {
    GST_CAT_WARNING_OBJECT (impl->cat, allocator,
                            "DMA_BUF_IOCTL_SYNC %s on fd %d failed: %s (errno %d); CPU access "
                            "to this DMA-BUF is not cache-coherent (further failures at DEBUG)",
                            what, fd, g_strerror (err), err);
  } else {
    GST_CAT_DEBUG_OBJECT (impl->cat, allocator, "DMA_BUF_IOCTL_SYNC %s on fd %d failed: %s", what,
                          fd, g_strerror (err));
  }
}

gpointer
dmabuf_mem_map_full (GstMemory *mem, GstMapInfo *info, gsize maxsize) noexcept
{
  GstAllocator *allocator = mem->allocator;
  /* allocator->mem_map is GstFdAllocator's: a pointer hand-out once mapped. */
  gpointer data = allocator->mem_map (mem, maxsize, info->flags);
  if (G_LIKELY (data != nullptr)) {
    dmabuf_sync (allocator, dmabuf_impl (allocator), gst_fd_memory_get_fd (mem),
                 DMA_BUF_SYNC_START | sync_rw_flags (info->flags));
  }
  return data;
}

void
dmabuf_mem_unmap_full (GstMemory *mem, GstMapInfo *info) noexcept
{
  GstAllocator *allocator = mem->allocator;
  dmabuf_sync (allocator, dmabuf_impl (allocator), gst_fd_memory_get_fd (mem),
               DMA_BUF_SYNC_END | sync_rw_flags (info->flags));
  allocator->mem_unmap (mem);
}

/* ---- share / copy / span (both types) --------------------------------------- */

/* GstFdAllocator's share takes size -1 as "up to maxsize", which overruns a
 * memory with an offset; clamp to the memory's size first, as GstMemory does. */
GstMemory *
dmakit_mem_share (GstMemory *mem, gssize offset, gssize size) noexcept
{
  Impl *impl = impl_of (mem->allocator);
  if (size == -1)
    size = gssize (mem->size) > offset ? gssize (mem->size) - offset : 0;
  return impl->fd_share (mem, offset, size);
}

GstMemory *
dmakit_mem_copy (GstMemory *mem, gssize offset, gssize size) noexcept
{
  GstAllocator *allocator = mem->allocator;
  dmakit::MappedMemory src (mem, GST_MAP_READ);
  if (!src) {
    GST_CAT_WARNING_OBJECT (impl_of (allocator)->cat, allocator,
                            "copy of memory %p failed: cannot map it for reading", mem);
    return nullptr;
  }
  if (offset < 0 || gsize (offset) > src.size ()) {
    GST_CAT_WARNING_OBJECT (impl_of (allocator)->cat, allocator,
                            "copy of memory %p: offset %" G_GSSIZE_FORMAT " beyond size %" G_GSIZE_FORMAT,
                            mem, offset, src.size ());
    return nullptr;
  }
  if (size == -1)
    size = gssize (src.size ()) - offset;
  if (size < 0 || gsize (offset) + gsize (size) > src.size ()) {
    GST_CAT_WARNING_OBJECT (impl_of (allocator)->cat, allocator,
                            "copy of memory %p: range %" G_GSSIZE_FORMAT "+%" G_GSSIZE_FORMAT
                            " beyond size %" G_GSIZE_FORMAT,
                            mem, offset, size, src.size ());
    return nullptr;
  }
  GstAllocationParams params;
  gst_allocation_params_init (&params);
  params.align = mem->align;
  GstMemory *copy = gst_allocator_alloc (allocator, gsize (size), &params);
  if (!copy)
    return nullptr; /* alloc logged why */
  {
    dmakit::MappedMemory dst (copy, GST_MAP_WRITE);
    if (!dst) {
      GST_CAT_WARNING_OBJECT (impl_of (allocator)->cat, allocator,
                              "copy of memory %p failed: cannot map the copy for writing", mem);
      gst_memory_unref (copy);
      return nullptr;
    }
    memcpy (dst.data (), src.data () + offset, gsize (size));
  }
  GST_CAT_DEBUG (CAT_PERFORMANCE, "memcpy %" G_GSSIZE_FORMAT " bytes of memory %p -> %p",
                 size, mem, copy);
  return copy;
}

/* Two shares of one parent are contiguous when they touch. */
gboolean
dmakit_mem_is_span (GstMemory *mem1, GstMemory *mem2, gsize *offset) noexcept
{
  if (mem1->parent == nullptr || mem1->parent != mem2->parent)
    return FALSE;
  if (offset)
    *offset = mem1->offset - mem1->parent->offset;
  return mem1->offset + mem1->size == mem2->offset;
}

/* ---- kernel buffers ------------------------------------------------------- */

void
format_name (GstAllocator *allocator, guint64 seq, char (&name)[DMA_BUF_NAME_LEN]) noexcept
{
  ObjectLocker lock (allocator);
  g_snprintf (name, sizeof (name), "dmakit:%s:%" G_GUINT64_FORMAT,
              GST_OBJECT_NAME (allocator) ? GST_OBJECT_NAME (allocator) : "?", seq);
}

/* memfd of @size bytes with @seals added. Sets errno and returns an invalid fd
 * on failure. */
UniqueFd
make_memfd (const char *name, guint64 size, int seals) noexcept
{
  UniqueFd fd (memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd)
    return fd;
  if (size > guint64 (G_MAXINT64)) {
    errno = EFBIG;
    return UniqueFd ();
  }
  int r;
  do {
    r = ftruncate (fd.get (), off_t (size));
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    return UniqueFd ();
  if (seals && fcntl (fd.get (), F_ADD_SEALS, seals) < 0)
    return UniqueFd ();
  return fd;
}

void
set_dmabuf_name (GstAllocator *allocator, Impl *impl, int fd, const char *name) noexcept
{
  if (ioctl (fd, DMA_BUF_SET_NAME, name) == 0) {
    GST_CAT_LOG_OBJECT (impl->cat, allocator, "named DMA-BUF fd %d \"%s\"", fd, name);
    return;
  }
  int err = errno;
  /* ENOTTY/EINVAL: kernel without DMA_BUF_SET_NAME; EBUSY: old kernels refuse
   * names on attached buffers. The name is diagnostics only. */
  GST_CAT_DEBUG_OBJECT (impl->cat, allocator, "DMA_BUF_SET_NAME \"%s\" on fd %d: %s", name, fd,
                        g_strerror (err));
}

/* dma-heap: one DMA_HEAP_IOCTL_ALLOC. */
bool
heap_alloc (int heap_fd, guint64 size, RawBuffer &raw, int &err) noexcept
{
  struct dma_heap_allocation_data data = {};
  data.len = size;
  data.fd_flags = O_RDWR | O_CLOEXEC;
  if (ioctl_restart (heap_fd, DMA_HEAP_IOCTL_ALLOC, &data) < 0) {
    err = errno;
    return false;
  }
  raw.fd.reset (int (data.fd));
  raw.size = size;
  return true;
}

/* udmabuf: a sealed memfd of @size bytes, exported through /dev/udmabuf. The
 * memfd is closed afterwards: the udmabuf keeps its pages. */
bool
udmabuf_alloc (int dev_fd, const char *name, guint64 size, RawBuffer &raw, int &err) noexcept
{
  UniqueFd memfd = make_memfd (name, size, F_SEAL_SHRINK | F_SEAL_GROW);
  if (!memfd) {
    err = errno;
    return false;
  }
  struct udmabuf_create create = {};
  create.memfd = guint32 (memfd.get ());
  create.flags = UDMABUF_FLAGS_CLOEXEC;
  create.offset = 0;
  create.size = size;
  int fd = ioctl_restart (dev_fd, UDMABUF_CREATE, &create);
  if (fd < 0) {
    err = errno;
    return false;
  }
  raw.fd.reset (fd);
  raw.size = size;
  return true;
}

/* DRM dumb buffer, PRIME-exported read/write. The GEM handle is released at
 * once: the DMA-BUF keeps the buffer object alive. */
bool
dumb_alloc (int drm_fd, guint32 width, guint32 height, guint32 bpp, RawBuffer &raw,
            int &err) noexcept
{
  guint32 handle = 0, pitch = 0;
  uint64_t size = 0;
  errno = 0;
  int r = drmModeCreateDumbBuffer (drm_fd, width, height, bpp, 0, &handle, &pitch, &size);
  if (r != 0) {
    err = r < 0 && r != -1 ? -r : (errno ? errno : EINVAL);
    return false;
  }
  int prime = -1;
  errno = 0;
  r = drmPrimeHandleToFD (drm_fd, handle, DRM_CLOEXEC | DRM_RDWR, &prime);
  int prime_err = errno;
  drmModeDestroyDumbBuffer (drm_fd, handle);
  if (r != 0 || prime < 0) {
    err = prime_err ? prime_err : EINVAL;
    return false;
  }
  raw.fd.reset (prime);
  raw.size = size;
  raw.pitch = pitch;
  return true;
}

/* Maps and unmaps one page of @fd: proves CPU access works. */
bool
probe_mmap (int fd, int &err) noexcept
{
  void *p = mmap (nullptr, page_size (), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    err = errno;
    return false;
  }
  munmap (p, page_size ());
  return true;
}

void
set_device_error (GError **error, GstDmakitError code, GstDmakitBackend backend,
                  const std::string &path, const char *what, int err)
{
  g_set_error (error, GST_DMAKIT_ERROR, code, "%s backend: %s %s: %s (errno %d)",
               backend_nick (backend), what, path.c_str (), g_strerror (err), err);
}

/* ---- backend set-up ---------------------------------------------------------- */

bool
setup_dma_heap (Impl &impl, const gchar *device, GError **error)
{
  std::string path;
  if (device == nullptr || *device == '\0')
    path = "/dev/dma_heap/system";
  else if (strchr (device, '/'))
    path = device;
  else
    path = std::string ("/dev/dma_heap/") + device;

  UniqueFd fd (open (path.c_str (), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DMA_HEAP, path,
                      "cannot open", errno);
    return false;
  }
  RawBuffer probe;
  int err = 0;
  if (!heap_alloc (fd.get (), page_size (), probe, err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DMA_HEAP, path,
                      "DMA_HEAP_IOCTL_ALLOC of one page failed on", err);
    return false;
  }
  if (!probe_mmap (probe.fd.get (), err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DMA_HEAP, path,
                      "cannot mmap a buffer from", err);
    return false;
  }
  const char *base = strrchr (path.c_str (), '/');
  impl.contiguous = base && strstr (base, "cma") != nullptr;
  impl.device = std::move (path);
  impl.dev = std::move (fd);
  return true;
}

bool
setup_udmabuf (Impl &impl, const gchar *device, GError **error)
{
  std::string path = (device && *device) ? device : "/dev/udmabuf";
  UniqueFd fd (open (path.c_str (), O_RDWR | O_CLOEXEC));
  if (!fd) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_UDMABUF, path,
                      "cannot open", errno);
    return false;
  }
  RawBuffer probe;
  int err = 0;
  if (!udmabuf_alloc (fd.get (), "dmakit:probe", page_size (), probe, err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_UDMABUF, path,
                      "UDMABUF_CREATE of one page failed on", err);
    return false;
  }
  if (!probe_mmap (probe.fd.get (), err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_UDMABUF, path,
                      "cannot mmap a buffer from", err);
    return false;
  }
  impl.device = std::move (path);
  impl.dev = std::move (fd);
  return true;
}

/* One DRM node: can it create a dumb buffer, export it through PRIME and mmap it? */
bool
try_drm_node (const std::string &path, UniqueFd &out, GError **error)
{
  UniqueFd fd (open (path.c_str (), O_RDWR | O_CLOEXEC));
  if (!fd) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DRM_DUMB, path,
                      "cannot open", errno);
    return false;
  }
  /* Opening a primary node makes us DRM master when nobody is; dumb buffers
   * do not need it, and holding it would lock a compositor out. */
  if (drmIsMaster (fd.get ()))
    drmDropMaster (fd.get ());
  uint64_t cap = 0;
  /* Render-only drivers (vgem) answer DRM_CAP_DUMB_BUFFER with an error although
   * their primary node creates dumb buffers, so only a definite "no" refuses;
   * the real test is the probe below. */
  if (drmGetCap (fd.get (), DRM_CAP_DUMB_BUFFER, &cap) == 0 && cap == 0) {
    g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_NOT_SUPPORTED,
                 "%s backend: %s: driver has no dumb buffers (DRM_CAP_DUMB_BUFFER = 0)",
                 backend_nick (GST_DMAKIT_BACKEND_DRM_DUMB), path.c_str ());
    return false;
  }
  cap = 0;
  if (drmGetCap (fd.get (), DRM_CAP_PRIME, &cap) == 0 && !(cap & DRM_PRIME_CAP_EXPORT)) {
    g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_NOT_SUPPORTED,
                 "%s backend: %s: driver cannot export PRIME buffers (DRM_CAP_PRIME = %"
                 G_GUINT64_FORMAT ")",
                 backend_nick (GST_DMAKIT_BACKEND_DRM_DUMB), path.c_str (), guint64 (cap));
    return false;
  }
  RawBuffer probe;
  int err = 0;
  if (!dumb_alloc (fd.get (), 64, 64, 32, probe, err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DRM_DUMB, path,
                      "cannot create and PRIME-export a 64x64 dumb buffer on", err);
    return false;
  }
  if (!probe_mmap (probe.fd.get (), err)) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DRM_DUMB, path,
                      "cannot mmap a PRIME-exported dumb buffer from", err);
    return false;
  }
  out = std::move (fd);
  return true;
}

/* /dev/dri/renderD* then /dev/dri/card*, each in numeric order. */
std::vector<std::string>
list_drm_nodes (int &err)
{
  std::vector<std::pair<std::pair<int, long>, std::string>> found;
  DIR *dir = opendir ("/dev/dri");
  if (!dir) {
    err = errno;
    return {};
  }
  /* closed on every way out, an exception included */
  std::unique_ptr<DIR, int (*) (DIR *)> dir_guard (dir, closedir);
  while (struct dirent *e = readdir (dir)) {
    int kind;
    const char *num;
    if (g_str_has_prefix (e->d_name, "renderD")) {
      kind = 0;
      num = e->d_name + strlen ("renderD");
    } else if (g_str_has_prefix (e->d_name, "card")) {
      kind = 1;
      num = e->d_name + strlen ("card");
    } else {
      continue;
    }
    char *end = nullptr;
    long n = strtol (num, &end, 10);
    if (end == num || *end != '\0')
      continue;
    found.push_back ({{kind, n}, std::string ("/dev/dri/") + e->d_name});
  }
  dir_guard.reset ();
  std::sort (found.begin (), found.end ());
  std::vector<std::string> out;
  for (auto &f : found)
    out.push_back (std::move (f.second));
  err = out.empty () ? ENOENT : 0;
  return out;
}

bool
setup_drm_dumb (Impl &impl, const gchar *device, GError **error)
{
  if (device && *device) {
    UniqueFd fd;
    if (!try_drm_node (device, fd, error))
      return false;
    impl.device = device;
    impl.dev = std::move (fd);
    return true;
  }
  int err = 0;
  std::vector<std::string> nodes = list_drm_nodes (err);
  if (nodes.empty ()) {
    set_device_error (error, GST_DMAKIT_ERROR_DEVICE, GST_DMAKIT_BACKEND_DRM_DUMB, "/dev/dri",
                      "no render or card node in", err);
    return false;
  }
  std::string refusals;
  for (const std::string &node : nodes) {
    dmakit::GErrorPtr node_err;
    UniqueFd fd;
    if (try_drm_node (node, fd, node_err.out ())) {
      impl.device = node;
      impl.dev = std::move (fd);
      return true;
    }
    GST_INFO ("drm-dumb: %s refused: %s", node.c_str (), node_err->message);
    if (!refusals.empty ())
      refusals += "; ";
    refusals += node_err->message;
  }
  g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_DEVICE,
               "drm-dumb backend: no DRM node in /dev/dri can create and export dumb buffers: %s",
               refusals.c_str ());
  return false;
}

bool
setup_memfd (Impl &impl, GError **error)
{
  UniqueFd probe = make_memfd ("dmakit:probe", page_size (), F_SEAL_SHRINK | F_SEAL_GROW);
  int err = errno;
  if (!probe) {
    set_device_error (error, GST_DMAKIT_ERROR_NOT_SUPPORTED, GST_DMAKIT_BACKEND_MEMFD,
                      "(memfd_create)", "cannot create a sealed memfd", err);
    return false;
  }
  impl.device.clear ();
  return true;
}

/* ---- allocation --------------------------------------------------------------- */

void
log_alloc_failure (GstAllocator *allocator, Impl *impl, guint64 bytes, const char *what,
                   int err) noexcept
{
  impl->failures.fetch_add (1, std::memory_order_relaxed);
  guint64 out_n = impl->allocated.load () - impl->freed.load ();
  GST_CAT_WARNING_OBJECT (impl->cat, allocator,
                          "%s%s%s: cannot allocate %" G_GUINT64_FORMAT " bytes: %s: %s (errno %d); "
                          "%" G_GUINT64_FORMAT " buffers (%" G_GUINT64_FORMAT
                          " bytes) of this allocator are outstanding",
                          backend_nick (impl->backend), impl->device.empty () ? "" : " ",
                          impl->device.c_str (), bytes, what, g_strerror (err), err, out_n,
                          impl->outstanding_bytes.load ());
  /* callers up the stack (a pool reporting a failed activation) read errno */
  errno = err;
}

/* Kernel buffer of at least @bytes (already page-rounded), named. */
bool
raw_alloc (GstAllocator *allocator, Impl *impl, guint64 bytes, RawBuffer &raw) noexcept
{
  char name[DMA_BUF_NAME_LEN];
  format_name (allocator, impl->seq.fetch_add (1, std::memory_order_relaxed), name);
  int err = 0;
  switch (impl->backend) {
  case GST_DMAKIT_BACKEND_DMA_HEAP:
    if (!heap_alloc (impl->dev.get (), bytes, raw, err)) {
      log_alloc_failure (allocator, impl, bytes, "DMA_HEAP_IOCTL_ALLOC", err);
      return false;
    }
    break;
  case GST_DMAKIT_BACKEND_UDMABUF:
    if (!udmabuf_alloc (impl->dev.get (), name, bytes, raw, err)) {
      log_alloc_failure (allocator, impl, bytes,
                         err == EINVAL ? "UDMABUF_CREATE (note the udmabuf size_limit_mb module "
                                         "parameter, 64 MiB by default)"
                                       : "memfd/UDMABUF_CREATE",
                         err);
      return false;
    }
    break;
  case GST_DMAKIT_BACKEND_DRM_DUMB: {
    guint64 rows = (bytes + kDumbRowBytes - 1) / kDumbRowBytes;
    if (rows > G_MAXUINT32) {
      log_alloc_failure (allocator, impl, bytes, "too large for a dumb buffer", EFBIG);
      return false;
    }
    if (!dumb_alloc (impl->dev.get (), kDumbRowWidth, guint32 (rows), kDumbRowBpp, raw, err)) {
      log_alloc_failure (allocator, impl, bytes, "DRM_IOCTL_MODE_CREATE_DUMB/PRIME export", err);
      return false;
    }
    if (raw.size < bytes) {
      log_alloc_failure (allocator, impl, bytes, "driver returned a smaller dumb buffer", EINVAL);
      return false;
    }
    break;
  }
  case GST_DMAKIT_BACKEND_MEMFD:
    raw.fd = make_memfd (name, bytes, F_SEAL_SHRINK | F_SEAL_GROW);
    if (!raw.fd) {
      log_alloc_failure (allocator, impl, bytes, "memfd_create/ftruncate", errno);
      return false;
    }
    raw.size = bytes;
    return true;
  case GST_DMAKIT_BACKEND_AUTO:
  default:
    log_alloc_failure (allocator, impl, bytes,
                       "allocator not set up (create it with gst_dmakit_allocator_new())",
                       ENODEV);
    return false;
  }
  set_dmabuf_name (allocator, impl, raw.fd.get (), name);
  return true;
}

struct Layout {
  gsize offset = 0;  /* prefix */
  gsize size = 0;    /* what the caller asked for */
  gsize padding = 0; /* after the data */
  gsize align = 0;   /* mask */
  guint flags = 0;   /* GstMemoryFlags from the params */
};

/* Locks the whole persistent mapping @base of our (root) memory @mem in RAM
 * and counts it; for DMA-BUF, also faults every page in. Returns 0 or the
 * errno of the refusal (counted, not logged: the caller says it). */
int
lock_mapping (GstAllocator *allocator, Impl *impl, GstMemory *mem, guint8 *base) noexcept
{
  const gsize maxsize = mem->maxsize;
  const int err = dmakit::lock_pages (base, maxsize);
  if (err) {
    impl->lock_failures.fetch_add (1, std::memory_order_relaxed);
    return err;
  }
  GST_MINI_OBJECT_FLAG_SET (mem, kFlagLocked);
  impl->locked.fetch_add (1, std::memory_order_relaxed);
  if (impl->backend != GST_DMAKIT_BACKEND_MEMFD) {
    /* DMA-BUF mappings are VM_PFNMAP/VM_MIXEDMAP: their pages are kernel
     * pages that never swap, and mlock() succeeds on them without faulting
     * anything in. Touch every page now so that a real-time thread never
     * takes the first-access fault. */
    const int fd = gst_fd_memory_get_fd (mem);
    dmabuf_sync (allocator, impl, fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
    guint8 sum = 0;
    for (gsize off = 0; off < maxsize; off += page_size ())
      sum = guint8 (sum + *static_cast<volatile guint8 *> (base + off));
    dmabuf_sync (allocator, impl, fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
    (void) sum;
  }
  return 0;
}

/* Turns @raw into our GstMemory: KEEP_MAPPED fd memory mapped read/write now,
 * optionally mlock()ed, with the prefix/padding zeroed when asked. */
GstMemory *
wrap_raw (GstAllocator *allocator, Impl *impl, RawBuffer &raw, const Layout &layout) noexcept
{
  const gsize maxsize = gsize (raw.size);
  GstMemory *mem = gst_fd_allocator_alloc (allocator, raw.fd.get (), maxsize,
                                           GST_FD_MEMORY_FLAG_KEEP_MAPPED);
  if (!mem) {
    log_alloc_failure (allocator, impl, raw.size, "gst_fd_allocator_alloc", EINVAL);
    return nullptr; /* raw still owns the fd */
  }
  (void) raw.fd.release (); /* the memory owns it now */
  MemoryRef ref = MemoryRef::adopt (mem);
  mem->offset = layout.offset;
  mem->size = layout.size;
  mem->align = layout.align;
  guint flags = layout.flags & ~(kFlagOwned | kFlagLocked);
  if (impl->contiguous)
    flags |= GST_MEMORY_FLAG_PHYSICALLY_CONTIGUOUS;
  GST_MINI_OBJECT_FLAG_SET (mem, flags);

  /* The persistent read/write mapping; GstFdAllocator keeps it until free. */
  guint8 *base = static_cast<guint8 *> (allocator->mem_map (mem, maxsize, GST_MAP_READWRITE));
  if (!base) {
    log_alloc_failure (allocator, impl, raw.size, "mmap", errno ? errno : ENOMEM);
    return nullptr; /* ref frees the memory: closes the fd */
  }
  allocator->mem_unmap (mem); /* KEEP_MAPPED: only drops the count */

  const bool is_dmabuf = impl->backend != GST_DMAKIT_BACKEND_MEMFD;
  const bool zero_prefix = (flags & GST_MEMORY_FLAG_ZERO_PREFIXED) && layout.offset > 0;
  const bool zero_padding = (flags & GST_MEMORY_FLAG_ZERO_PADDED) && layout.padding > 0;
  if (zero_prefix || zero_padding) {
    const int fd = gst_fd_memory_get_fd (mem);
    if (is_dmabuf)
      dmabuf_sync (allocator, impl, fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
    if (zero_prefix)
      memset (base, 0, layout.offset);
    if (zero_padding)
      memset (base + layout.offset + layout.size, 0, layout.padding);
    if (is_dmabuf)
      dmabuf_sync (allocator, impl, fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
  }

  if (impl->lock_memory.load (std::memory_order_relaxed)) {
    const int err = lock_mapping (allocator, impl, mem, base);
    if (err) {
      dmakit::GCharPtr why (dmakit::describe_lock_refusal (maxsize, err));
      if (!impl->lock_warned.exchange (true))
        GST_CAT_WARNING_OBJECT (impl->cat, allocator, "%s (further refusals at INFO)", why.get ());
      else
        GST_CAT_INFO_OBJECT (impl->cat, allocator, "%s", why.get ());
    }
  }

  GST_MINI_OBJECT_FLAG_SET (mem, kFlagOwned);
  impl->allocated.fetch_add (1, std::memory_order_relaxed);
  impl->outstanding_bytes.fetch_add (maxsize, std::memory_order_relaxed);
  GST_CAT_LOG_OBJECT (impl->cat, allocator,
                      "allocated %p: fd %d, size %" G_GSIZE_FORMAT ", offset %" G_GSIZE_FORMAT
                      ", maxsize %" G_GSIZE_FORMAT,
                      mem, gst_fd_memory_get_fd (mem), mem->size, mem->offset, mem->maxsize);
  return ref.release ();
}

GstMemory *
dmakit_alloc (GstAllocator *allocator, gsize size, GstAllocationParams *params) noexcept
{
  Impl *impl = impl_of (allocator);
  GstAllocationParams defaults;
  if (!params) {
    gst_allocation_params_init (&defaults);
    params = &defaults;
  }
  if (params->align >= page_size ()) {
    /* Mappings are page aligned, nothing more; a larger alignment cannot be honoured. */
    impl->failures.fetch_add (1, std::memory_order_relaxed);
    GST_CAT_WARNING_OBJECT (impl->cat, allocator,
                            "alignment mask %" G_GSIZE_FORMAT " refused: %s memory is aligned to "
                            "pages (mask %" G_GSIZE_FORMAT ") and no more",
                            params->align, backend_nick (impl->backend), page_size () - 1);
    errno = EINVAL;
    return nullptr;
  }
  guint64 total = guint64 (params->prefix) + guint64 (size);
  guint64 bytes = 0;
  if (total < size || total > G_MAXUINT64 - params->padding ||
      !round_up (std::max<guint64> (total + params->padding, 1), page_size (), &bytes) ||
      bytes > guint64 (G_MAXSSIZE)) {
    impl->failures.fetch_add (1, std::memory_order_relaxed);
    GST_CAT_WARNING_OBJECT (impl->cat, allocator,
                            "refused: prefix %" G_GSIZE_FORMAT " + size %" G_GSIZE_FORMAT
                            " + padding %" G_GSIZE_FORMAT " overflows",
                            params->prefix, size, params->padding);
    errno = EOVERFLOW;
    return nullptr;
  }
  RawBuffer raw;
  if (!raw_alloc (allocator, impl, bytes, raw))
    return nullptr;
  Layout layout;
  layout.offset = params->prefix;
  layout.size = size;
  layout.padding = params->padding;
  layout.align = params->align;
  layout.flags = params->flags;
  return wrap_raw (allocator, impl, raw, layout);
}

void
init_common (GstAllocator *alloc, Impl *impl, GstDebugCategory *cat, const char *mem_type) noexcept
{
  impl->cat = cat;
  alloc->mem_type = mem_type;
  impl->fd_share = alloc->mem_share; /* GstFdAllocator's */
  alloc->mem_share = dmakit_mem_share;
  alloc->mem_copy = dmakit_mem_copy;
  alloc->mem_is_span = dmakit_mem_is_span;
  GST_OBJECT_FLAG_UNSET (alloc, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

void
account_free (Impl *impl, GstMemory *mem) noexcept
{
  if (impl && mem->parent == nullptr && (GST_MINI_OBJECT_FLAGS (mem) & kFlagOwned)) {
    impl->freed.fetch_add (1, std::memory_order_relaxed);
    impl->outstanding_bytes.fetch_sub (mem->maxsize, std::memory_order_relaxed);
    if (GST_MINI_OBJECT_FLAGS (mem) & kFlagLocked)
      impl->locked.fetch_sub (1, std::memory_order_relaxed);
  }
}

} // namespace

/* ---- GstDmakitAllocator ------------------------------------------------------ */

static void
gst_dmakit_allocator_free (GstAllocator *allocator, GstMemory *mem) noexcept
{
  account_free (impl_of (allocator), mem);
  GST_ALLOCATOR_CLASS (gst_dmakit_allocator_parent_class)->free (allocator, mem);
}

static void
gst_dmakit_allocator_finalize (GObject *object) noexcept
{
  auto *self = reinterpret_cast<GstDmakitAllocator *> (object);
  GST_DEBUG_OBJECT (self, "finalize");
  delete std::exchange (self->impl, nullptr);
  G_OBJECT_CLASS (gst_dmakit_allocator_parent_class)->finalize (object);
}

static void
gst_dmakit_allocator_class_init (GstDmakitAllocatorClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);
  gobject_class->finalize = gst_dmakit_allocator_finalize;
  allocator_class->alloc = dmakit_alloc;
  allocator_class->free = gst_dmakit_allocator_free;
}

static void
gst_dmakit_allocator_init (GstDmakitAllocator *self)
{
  /* no exception out of a GObject init: like g_malloc(), abort with a message */
  self->impl = new (std::nothrow) Impl ();
  if (G_UNLIKELY (!self->impl))
    g_error ("dmakit allocator: out of memory for its state");
  GstAllocator *alloc = GST_ALLOCATOR_CAST (self);
  init_common (alloc, self->impl, dmakit_allocator_debug, GST_DMAKIT_ALLOCATOR_NAME);
  /* Replace GstDmaBufAllocator's map/unmap: same fd mapping, our sync. */
  alloc->mem_map_full = dmabuf_mem_map_full;
  alloc->mem_unmap_full = dmabuf_mem_unmap_full;
}

/* ---- GstDmakitFdAllocator ------------------------------------------------------ */

static void
gst_dmakit_fd_allocator_free (GstAllocator *allocator, GstMemory *mem) noexcept
{
  account_free (impl_of (allocator), mem);
  GST_ALLOCATOR_CLASS (gst_dmakit_fd_allocator_parent_class)->free (allocator, mem);
}

static void
gst_dmakit_fd_allocator_finalize (GObject *object) noexcept
{
  auto *self = reinterpret_cast<GstDmakitFdAllocator *> (object);
  GST_CAT_DEBUG_OBJECT (dmakit_fd_allocator_debug, self, "finalize");
  delete std::exchange (self->impl, nullptr);
  G_OBJECT_CLASS (gst_dmakit_fd_allocator_parent_class)->finalize (object);
}

static void
gst_dmakit_fd_allocator_class_init (GstDmakitFdAllocatorClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);
  gobject_class->finalize = gst_dmakit_fd_allocator_finalize;
  allocator_class->alloc = dmakit_alloc;
  allocator_class->free = gst_dmakit_fd_allocator_free;
}

static void
gst_dmakit_fd_allocator_init (GstDmakitFdAllocator *self)
{
  self->impl = new (std::nothrow) Impl ();
  if (G_UNLIKELY (!self->impl))
    g_error ("dmakit allocator: out of memory for its state");
  init_common (GST_ALLOCATOR_CAST (self), self->impl, dmakit_fd_allocator_debug,
               GST_DMAKIT_FD_ALLOCATOR_NAME);
}

/* ---- public API ------------------------------------------------------------------ */

static GstAllocator *
create_allocator (GstDmakitBackend backend, const gchar *device, GError **error)
{
  const bool is_memfd = backend == GST_DMAKIT_BACKEND_MEMFD;
  GType type = is_memfd ? GST_DMAKIT_TYPE_FD_ALLOCATOR : GST_DMAKIT_TYPE_ALLOCATOR;
  /* Adopt the floating reference and sink it: we own exactly one. */
  auto alloc = ObjectRef<GstAllocator>::adopt (
      static_cast<GstAllocator *> (g_object_new (type, nullptr)));
  gst_object_ref_sink (alloc.get ());
  Impl *impl = impl_of (alloc.get ());
  bool ok = false;
  switch (backend) {
  case GST_DMAKIT_BACKEND_DMA_HEAP:
    ok = setup_dma_heap (*impl, device, error);
    break;
  case GST_DMAKIT_BACKEND_UDMABUF:
    ok = setup_udmabuf (*impl, device, error);
    break;
  case GST_DMAKIT_BACKEND_DRM_DUMB:
    ok = setup_drm_dumb (*impl, device, error);
    break;
  case GST_DMAKIT_BACKEND_MEMFD:
    ok = setup_memfd (*impl, error);
    break;
  case GST_DMAKIT_BACKEND_AUTO:
  default:
    break;
  }
  if (!ok)
    return nullptr;
  impl->backend = backend;
  return alloc.release ();
}

/* May throw std::bad_alloc (device paths, refusal texts): only
 * gst_dmakit_allocator_new() calls it, and catches. */
static GstAllocator *
allocator_new (GstDmakitBackend backend, const gchar *device, GError **error)
{
  /* Registers the types and with them the debug categories. */
  g_type_ensure (GST_DMAKIT_TYPE_ALLOCATOR);
  g_type_ensure (GST_DMAKIT_TYPE_FD_ALLOCATOR);

  if (backend < GST_DMAKIT_BACKEND_AUTO || backend > GST_DMAKIT_BACKEND_MEMFD) {
    g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_INVALID,
                 "invalid GstDmakitBackend value %d", int (backend));
    return nullptr;
  }
  if (backend != GST_DMAKIT_BACKEND_AUTO) {
    GstAllocator *alloc = create_allocator (backend, device, error);
    if (alloc) {
      GST_INFO_OBJECT (alloc, "using the %s backend%s%s", backend_nick (backend),
                       impl_of (alloc)->device.empty () ? "" : " on ",
                       impl_of (alloc)->device.c_str ());
    }
    return alloc;
  }

  static const GstDmakitBackend order[] = {GST_DMAKIT_BACKEND_DMA_HEAP,
                                           GST_DMAKIT_BACKEND_UDMABUF,
                                           GST_DMAKIT_BACKEND_DRM_DUMB,
                                           GST_DMAKIT_BACKEND_MEMFD};
  std::string refusals;
  for (GstDmakitBackend candidate : order) {
    dmakit::GErrorPtr err;
    const gchar *dev = candidate == GST_DMAKIT_BACKEND_DMA_HEAP ? device : nullptr;
    GstAllocator *alloc = create_allocator (candidate, dev, err.out ());
    if (alloc) {
      Impl *impl = impl_of (alloc);
      GST_INFO_OBJECT (alloc, "auto: chose the %s backend%s%s (%s)", backend_nick (candidate),
                       impl->device.empty () ? "" : " on ", impl->device.c_str (),
                       candidate == GST_DMAKIT_BACKEND_MEMFD
                           ? "fd memory, NOT DMA-BUF: no DMA-BUF backend works here"
                           : "DMA-BUF memory");
      return alloc;
    }
    GST_INFO ("auto: %s refused: %s", backend_nick (candidate), err->message);
    if (!refusals.empty ())
      refusals += "; ";
    refusals += err->message;
  }
  g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_NOT_SUPPORTED,
               "auto: no backend works here: %s", refusals.c_str ());
  return nullptr;
}

/**
 * gst_dmakit_allocator_new:
 * @backend: where the memory comes from; %GST_DMAKIT_BACKEND_AUTO picks the first that works
 * @device: (nullable): the device to use; %NULL for the backend's default. For
 *   %GST_DMAKIT_BACKEND_DMA_HEAP (and AUTO) a heap name such as "linux,cma" or a
 *   path; for udmabuf the path of the udmabuf device; for DRM dumb a DRM node
 *   path (default: the first `/dev/dri/renderD*`, then `card*`, that can create
 *   and PRIME-export dumb buffers). Ignored for memfd. With AUTO it only
 *   applies to the dma-heap attempt.
 * @error: return location for a #GError (domain %GST_DMAKIT_ERROR), or %NULL
 *
 * Creates an allocator. DMA-BUF backends give a #GstDmakitAllocator (a
 * #GstDmaBufAllocator); memfd gives a #GstDmakitFdAllocator (fd memory that
 * gst_is_dmabuf_memory() rightly rejects). Each backend is probed by allocating
 * and mapping one page. AUTO tries dma-heap, udmabuf, DRM dumb and memfd in
 * that order and logs every refusal and its choice at INFO level.
 *
 * Returns: (transfer full) (nullable): the allocator, or %NULL with @error set
 *   to a message naming the backend, the device path and the errno text.
 *
 * Since: 0.1
 */
GstAllocator *
gst_dmakit_allocator_new (GstDmakitBackend backend, const gchar *device, GError **error)
{
  g_return_val_if_fail (error == nullptr || *error == nullptr, nullptr);
  /* no exception crosses into C: out of memory is an error like any other */
  try {
    return allocator_new (backend, device, error);
  } catch (...) {
    if (error && !*error)
      g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_NO_MEMORY,
                   "out of memory while setting up the allocator");
    return nullptr;
  }
}

/**
 * gst_is_dmakit_allocator:
 * @allocator: (nullable): a #GstAllocator
 *
 * Returns: %TRUE if @allocator is a #GstDmakitAllocator or a #GstDmakitFdAllocator.
 *
 * Since: 0.1
 */
gboolean
gst_is_dmakit_allocator (GstAllocator *allocator)
{
  return allocator != nullptr && impl_of (allocator) != nullptr;
}

/**
 * gst_dmakit_allocator_get_backend: (skip)
 * @allocator: a dmakit allocator
 *
 * Returns: the backend @allocator uses (never %GST_DMAKIT_BACKEND_AUTO for an
 *   allocator made by gst_dmakit_allocator_new()).
 *
 * Since: 0.1
 */
GstDmakitBackend
gst_dmakit_allocator_get_backend (GstAllocator *allocator)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), GST_DMAKIT_BACKEND_AUTO);
  return impl_of (allocator)->backend;
}

/**
 * gst_dmakit_allocator_get_device: (skip)
 * @allocator: a dmakit allocator
 *
 * Returns: (transfer none) (nullable): the device path in use (heap, udmabuf or
 *   DRM node), or %NULL for the memfd backend. Valid as long as @allocator.
 *
 * Since: 0.1
 */
const gchar *
gst_dmakit_allocator_get_device (GstAllocator *allocator)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), nullptr);
  Impl *impl = impl_of (allocator);
  return impl->device.empty () ? nullptr : impl->device.c_str ();
}

/**
 * gst_dmakit_allocator_set_lock_memory: (skip)
 * @allocator: a dmakit allocator
 * @lock_memory: whether to mlock() memory allocated from now on
 *
 * With @lock_memory, every later allocation is locked in RAM (mlock of its
 * whole mapping) so a real-time thread never page-faults on it. When
 * RLIMIT_MEMLOCK refuses, the memory is still returned, unlocked, and a
 * warning names the limit and the size; gst_dmakit_memory_is_locked() tells.
 *
 * Since: 0.1
 */
void
gst_dmakit_allocator_set_lock_memory (GstAllocator *allocator, gboolean lock_memory)
{
  g_return_if_fail (gst_is_dmakit_allocator (allocator));
  impl_of (allocator)->lock_memory.store (lock_memory != FALSE);
}

/**
 * gst_dmakit_allocator_get_lock_memory: (skip)
 * @allocator: a dmakit allocator
 *
 * Returns: whether new allocations are mlock()ed.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_allocator_get_lock_memory (GstAllocator *allocator)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), FALSE);
  return impl_of (allocator)->lock_memory.load ();
}

/**
 * gst_dmakit_allocator_alloc_2d: (skip)
 * @allocator: a dmakit allocator
 * @width: width in pixels
 * @height: height in rows
 * @bpp: bits per pixel
 * @pitch: (out) (optional): bytes per row of the returned memory
 *
 * Allocates an image-shaped buffer. For DRM dumb buffers the driver picks the
 * pitch (and may need more than @width * @bpp / 8). For every other backend the
 * pitch is @width * @bpp / 8 rounded up to a byte, then to a multiple of 64.
 * The memory's size is pitch * @height; it has no prefix or padding.
 *
 * Returns: (transfer full) (nullable): the memory, or %NULL (logged) on failure.
 *
 * Since: 0.1
 */
GstMemory *
gst_dmakit_allocator_alloc_2d (GstAllocator *allocator, guint width, guint height, guint bpp,
                               guint *pitch)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), nullptr);
  Impl *impl = impl_of (allocator);
  if (width == 0 || height == 0 || bpp == 0) {
    impl->failures.fetch_add (1, std::memory_order_relaxed);
    GST_CAT_WARNING_OBJECT (impl->cat, allocator, "alloc_2d refused: %ux%u at %u bpp is empty",
                            width, height, bpp);
    return nullptr;
  }
  if (impl->backend == GST_DMAKIT_BACKEND_DRM_DUMB) {
    RawBuffer raw;
    int err = 0;
    if (!dumb_alloc (impl->dev.get (), width, height, bpp, raw, err)) {
      log_alloc_failure (allocator, impl, guint64 (width) * height * ((bpp + 7) / 8),
                         "DRM_IOCTL_MODE_CREATE_DUMB/PRIME export", err);
      return nullptr;
    }
    const guint64 bytes = guint64 (raw.pitch) * height;
    if (raw.pitch < (guint64 (width) * bpp + 7) / 8 || bytes > raw.size) {
      log_alloc_failure (allocator, impl, bytes, "driver returned an inconsistent dumb buffer",
                         EINVAL);
      return nullptr;
    }
    char name[DMA_BUF_NAME_LEN];
    format_name (allocator, impl->seq.fetch_add (1, std::memory_order_relaxed), name);
    set_dmabuf_name (allocator, impl, raw.fd.get (), name);
    Layout layout;
    layout.size = gsize (bytes);
    const guint driver_pitch = raw.pitch;
    GstMemory *mem = wrap_raw (allocator, impl, raw, layout);
    if (mem && pitch)
      *pitch = driver_pitch;
    return mem;
  }
  guint64 row = (guint64 (width) * bpp + 7) / 8;
  guint64 aligned = 0;
  /* aligned fits 32 bits and so does height: the product cannot wrap 64 bits. */
  if (!round_up (row, kPitchAlign, &aligned) || aligned > G_MAXUINT ||
      aligned * height > guint64 (G_MAXSSIZE)) {
    impl->failures.fetch_add (1, std::memory_order_relaxed);
    GST_CAT_WARNING_OBJECT (impl->cat, allocator, "alloc_2d refused: %ux%u at %u bpp overflows",
                            width, height, bpp);
    return nullptr;
  }
  GstMemory *mem = gst_allocator_alloc (allocator, gsize (aligned * height), nullptr);
  if (mem && pitch)
    *pitch = guint (aligned);
  return mem;
}

/**
 * gst_is_dmakit_memory:
 * @mem: a #GstMemory
 *
 * Returns: %TRUE if @mem (or the memory it shares) comes from a dmakit allocator.
 *
 * Since: 0.1
 */
gboolean
gst_is_dmakit_memory (GstMemory *mem)
{
  g_return_val_if_fail (mem != nullptr, FALSE);
  return mem->allocator != nullptr && gst_is_dmakit_allocator (mem->allocator);
}

/**
 * gst_dmakit_memory_is_locked:
 * @mem: a #GstMemory
 *
 * Returns: %TRUE if @mem is dmakit memory whose mapping is mlock()ed.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_memory_is_locked (GstMemory *mem)
{
  g_return_val_if_fail (mem != nullptr, FALSE);
  if (!gst_is_dmakit_memory (mem))
    return FALSE;
  return (GST_MINI_OBJECT_FLAGS (root_of (mem)) & kFlagLocked) != 0;
}

/**
 * gst_dmakit_memory_lock_pages:
 * @mem: dmakit memory, not yet shared with other threads
 * @error: (optional): where to put the reason of a refusal
 *
 * Locks the pages of @mem (its whole mapping, shares included) in RAM
 * (mlock), the way memory from an allocator with
 * gst_dmakit_allocator_set_lock_memory() is locked, but for this memory
 * alone: the allocator, which others may share, is left as it is. The lock
 * lasts until the memory is freed. A refusal (RLIMIT_MEMLOCK) is counted in
 * the allocator's `lock-failures` stat and returned in @error (a
 * %G_FILE_ERROR from the errno, with a message naming the limit); nothing is
 * logged.
 *
 * Returns: %TRUE if @mem is locked now (or was already).
 *
 * Since: 0.2
 */
gboolean
gst_dmakit_memory_lock_pages (GstMemory *mem, GError **error)
{
  g_return_val_if_fail (mem != nullptr, FALSE);
  g_return_val_if_fail (error == nullptr || *error == nullptr, FALSE);
  if (!gst_is_dmakit_memory (mem)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not dmakit memory");
    return FALSE;
  }
  GstMemory *root = root_of (mem);
  if (GST_MINI_OBJECT_FLAGS (root) & kFlagLocked)
    return TRUE;
  GstAllocator *allocator = root->allocator;
  Impl *impl = impl_of (allocator);
  guint8 *base = static_cast<guint8 *> (allocator->mem_map (root, root->maxsize, GST_MAP_READ));
  if (!base) {
    const int err = errno ? errno : ENOMEM;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), "cannot map the memory: %s",
                 g_strerror (err));
    return FALSE;
  }
  const int err = lock_mapping (allocator, impl, root, base);
  allocator->mem_unmap (root);
  if (err) {
    dmakit::GCharPtr why (dmakit::describe_lock_refusal (root->maxsize, err));
    g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (err), why.get ());
    return FALSE;
  }
  return TRUE;
}

/**
 * gst_dmakit_allocator_get_sync_count: (skip)
 * @allocator: a dmakit allocator
 *
 * Returns: how many DMA_BUF_IOCTL_SYNC calls (START and END each count one)
 *   succeeded on memory of @allocator. Always 0 for the memfd backend, whose
 *   memory needs none.
 *
 * Since: 0.1
 */
guint64
gst_dmakit_allocator_get_sync_count (GstAllocator *allocator)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), 0);
  return impl_of (allocator)->syncs.load ();
}

/**
 * gst_dmakit_allocator_get_stats: (skip)
 * @allocator: a dmakit allocator
 *
 * Counters of @allocator, in a structure named "dmakit-allocator-stats" with:
 * "backend" (string nick), "device" (string, may be absent), "allocated",
 * "freed", "outstanding", "outstanding-bytes", "failures", "syncs",
 * "sync-failures", "locked" and "lock-failures" (all #guint64).
 *
 * Returns: (transfer full): the counters.
 *
 * Since: 0.1
 */
GstStructure *
gst_dmakit_allocator_get_stats (GstAllocator *allocator)
{
  g_return_val_if_fail (gst_is_dmakit_allocator (allocator), nullptr);
  Impl *impl = impl_of (allocator);
  const guint64 allocated = impl->allocated.load ();
  const guint64 freed = impl->freed.load ();
  GstStructure *s = gst_structure_new (
      GST_DMAKIT_ALLOCATOR_STATS, "backend", G_TYPE_STRING, backend_nick (impl->backend),
      "allocated", G_TYPE_UINT64, allocated, "freed", G_TYPE_UINT64, freed, "outstanding",
      G_TYPE_UINT64, allocated >= freed ? allocated - freed : guint64 (0), "outstanding-bytes",
      G_TYPE_UINT64, impl->outstanding_bytes.load (), "failures", G_TYPE_UINT64,
      impl->failures.load (), "syncs", G_TYPE_UINT64, impl->syncs.load (), "sync-failures",
      G_TYPE_UINT64, impl->sync_failures.load (), "locked", G_TYPE_UINT64, impl->locked.load (),
      "lock-failures", G_TYPE_UINT64, impl->lock_failures.load (), nullptr);
  if (!impl->device.empty ())
    gst_structure_set (s, "device", G_TYPE_STRING, impl->device.c_str (), nullptr);
  return s;
}

/* ---- GstDmakitBackendAllocator: typed entry points for bindings ---------------- */

/**
 * gst_dmakit_backend_allocator_get_backend:
 * @allocator: a dmakit allocator (either kind)
 *
 * gst_dmakit_allocator_get_backend() with a typed instance.
 *
 * Returns: the backend @allocator uses.
 *
 * Since: 0.1
 */
GstDmakitBackend
gst_dmakit_backend_allocator_get_backend (GstDmakitBackendAllocator *allocator)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), GST_DMAKIT_BACKEND_AUTO);
  return gst_dmakit_allocator_get_backend (GST_ALLOCATOR_CAST (allocator));
}

/**
 * gst_dmakit_backend_allocator_get_device:
 * @allocator: a dmakit allocator (either kind)
 *
 * gst_dmakit_allocator_get_device() with a typed instance.
 *
 * Returns: (transfer none) (nullable): the device path in use, or %NULL for memfd.
 *
 * Since: 0.1
 */
const gchar *
gst_dmakit_backend_allocator_get_device (GstDmakitBackendAllocator *allocator)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), nullptr);
  return gst_dmakit_allocator_get_device (GST_ALLOCATOR_CAST (allocator));
}

/**
 * gst_dmakit_backend_allocator_set_lock_memory:
 * @allocator: a dmakit allocator (either kind)
 * @lock_memory: whether to mlock() memory allocated from now on
 *
 * gst_dmakit_allocator_set_lock_memory() with a typed instance.
 *
 * Since: 0.1
 */
void
gst_dmakit_backend_allocator_set_lock_memory (GstDmakitBackendAllocator *allocator,
                                              gboolean lock_memory)
{
  g_return_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator));
  gst_dmakit_allocator_set_lock_memory (GST_ALLOCATOR_CAST (allocator), lock_memory);
}

/**
 * gst_dmakit_backend_allocator_get_lock_memory:
 * @allocator: a dmakit allocator (either kind)
 *
 * gst_dmakit_allocator_get_lock_memory() with a typed instance.
 *
 * Returns: whether new allocations are mlock()ed.
 *
 * Since: 0.1
 */
gboolean
gst_dmakit_backend_allocator_get_lock_memory (GstDmakitBackendAllocator *allocator)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), FALSE);
  return gst_dmakit_allocator_get_lock_memory (GST_ALLOCATOR_CAST (allocator));
}

/**
 * gst_dmakit_backend_allocator_alloc_2d:
 * @allocator: a dmakit allocator (either kind)
 * @width: width in pixels
 * @height: height in rows
 * @bpp: bits per pixel
 * @pitch: (out) (optional): bytes per row of the returned memory
 *
 * gst_dmakit_allocator_alloc_2d() with a typed instance.
 *
 * Returns: (transfer full) (nullable): the memory, or %NULL (logged) on failure.
 *
 * Since: 0.1
 */
GstMemory *
gst_dmakit_backend_allocator_alloc_2d (GstDmakitBackendAllocator *allocator, guint width,
                                       guint height, guint bpp, guint *pitch)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), nullptr);
  return gst_dmakit_allocator_alloc_2d (GST_ALLOCATOR_CAST (allocator), width, height, bpp, pitch);
}

/**
 * gst_dmakit_backend_allocator_get_sync_count:
 * @allocator: a dmakit allocator (either kind)
 *
 * gst_dmakit_allocator_get_sync_count() with a typed instance.
 *
 * Returns: how many DMA_BUF_IOCTL_SYNC calls succeeded (0 for memfd).
 *
 * Since: 0.1
 */
guint64
gst_dmakit_backend_allocator_get_sync_count (GstDmakitBackendAllocator *allocator)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), 0);
  return gst_dmakit_allocator_get_sync_count (GST_ALLOCATOR_CAST (allocator));
}

/**
 * gst_dmakit_backend_allocator_get_stats:
 * @allocator: a dmakit allocator (either kind)
 *
 * gst_dmakit_allocator_get_stats() with a typed instance.
 *
 * Returns: (transfer full): the counters.
 *
 * Since: 0.1
 */
GstStructure *
gst_dmakit_backend_allocator_get_stats (GstDmakitBackendAllocator *allocator)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BACKEND_ALLOCATOR (allocator), nullptr);
  return gst_dmakit_allocator_get_stats (GST_ALLOCATOR_CAST (allocator));
}
