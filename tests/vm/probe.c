/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dmakit-vm-probe: proves, with plain ioctls and no dmakit code, that the
 * kernel it runs on has working DMA-BUF exporters and importers:
 *
 *   heap      /dev/dma_heap/system: DMA_HEAP_IOCTL_ALLOC, CPU access with
 *             DMA_BUF_IOCTL_SYNC, pattern written and read back;
 *   udmabuf   /dev/udmabuf: UDMABUF_CREATE over a sealed memfd, and the two
 *             mappings share pages (zero copy in both directions);
 *   vgem      /dev/dri/card0: DRM dumb buffer, PRIME export, the dma-buf
 *             mapping and the dumb mapping show the same bytes;
 *   vivid     capture: EXPBUF of an MMAP buffer (vivid exports);
 *             capture: frames captured INTO buffers from each exporter above
 *             (V4L2_MEMORY_DMABUF, what `v4l2src io-mode=dmabuf-import` does);
 *             output: a heap buffer queued and consumed (V4L2_MEMORY_DMABUF,
 *             what `v4l2sink io-mode=dmabuf-import` does).
 *
 * Prints one PASS/FAIL line per check; exits 0 only when every required check
 * passes, 1 otherwise. Built and run by tests/vm/run inside the VM (on a host
 * without these devices every check fails with the reason).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <drm.h>
#include <drm_mode.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>

static int g_failures;

static void report(int required, int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(int required, int ok, const char *what, const char *fmt, ...)
{
  va_list ap;
  printf("%s %-34s ", ok ? "PASS" : (required ? "FAIL" : "info-fail"), what);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (!ok && required)
    g_failures++;
}

static int xioctl(int fd, unsigned long request, void *arg)
{
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r == -1 && (errno == EINTR || errno == EAGAIN));
  return r;
}

static size_t page_align(size_t size)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (size + page - 1) / page * page;
}

static uint8_t pattern_at(size_t i, uint8_t seed)
{
  return (uint8_t)(i * 31u + (i >> 9) + seed);
}

static int dmabuf_sync(int fd, uint64_t flags)
{
  struct dma_buf_sync sync = { .flags = flags };
  return xioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
}

/* Writes a pattern through a shared mapping of dma-buf @fd (bracketed by
 * DMA_BUF_IOCTL_SYNC) and reads it back through a second mapping. */
static int check_cpu_access(int fd, size_t size, uint8_t seed, char *err, size_t errlen)
{
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0 || (size_t)end < size) {
    snprintf(err, errlen, "lseek(SEEK_END) = %lld, expected >= %zu (%s)", (long long)end, size,
             strerror(errno));
    return -1;
  }
  lseek(fd, 0, SEEK_SET);
  uint8_t *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (w == MAP_FAILED) {
    snprintf(err, errlen, "mmap: %s", strerror(errno));
    return -1;
  }
  if (dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) < 0) {
    snprintf(err, errlen, "DMA_BUF_IOCTL_SYNC start: %s", strerror(errno));
    munmap(w, size);
    return -1;
  }
  for (size_t i = 0; i < size; i++)
    w[i] = pattern_at(i, seed);
  dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
  munmap(w, size);

  const uint8_t *r = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (r == MAP_FAILED) {
    snprintf(err, errlen, "second mmap: %s", strerror(errno));
    return -1;
  }
  dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
  size_t bad = size;
  for (size_t i = 0; i < size; i++) {
    if (r[i] != pattern_at(i, seed)) {
      bad = i;
      break;
    }
  }
  dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
  munmap((void *)r, size);
  if (bad != size) {
    snprintf(err, errlen, "pattern mismatch at byte %zu", bad);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ heap */

static int heap_alloc(size_t size, char *err, size_t errlen)
{
  int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
  if (heap < 0) {
    snprintf(err, errlen, "open /dev/dma_heap/system: %s", strerror(errno));
    return -1;
  }
  struct dma_heap_allocation_data data = {
    .len = size,
    .fd_flags = O_RDWR | O_CLOEXEC,
  };
  int r = xioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data);
  int saved = errno;
  close(heap);
  if (r < 0) {
    snprintf(err, errlen, "DMA_HEAP_IOCTL_ALLOC(%zu): %s", size, strerror(saved));
    return -1;
  }
  return (int)data.fd;
}

static void probe_heap(void)
{
  char err[256] = "";
  const size_t size = 1u << 20;
  int fd = heap_alloc(size, err, sizeof err);
  if (fd < 0) {
    report(1, 0, "dma-heap system alloc", "%s", err);
    return;
  }
  int ok = check_cpu_access(fd, size, 0x11, err, sizeof err) == 0;
  if (ok)
    report(1, 1, "dma-heap system alloc+cpu access", "%zu bytes, pattern verified", size);
  else
    report(1, 0, "dma-heap system alloc+cpu access", "%s", err);
  close(fd);
}

/* --------------------------------------------------------------- udmabuf */

/* Returns a udmabuf fd of @size backed by a new sealed memfd (*memfd_out). */
static int udmabuf_alloc(size_t size, int *memfd_out, char *err, size_t errlen)
{
  *memfd_out = -1;
  int memfd = memfd_create("dmakit-vm-probe", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  if (memfd < 0) {
    snprintf(err, errlen, "memfd_create: %s", strerror(errno));
    return -1;
  }
  if (ftruncate(memfd, (off_t)size) < 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
    snprintf(err, errlen, "memfd size/seal: %s", strerror(errno));
    close(memfd);
    return -1;
  }
  int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    snprintf(err, errlen, "open /dev/udmabuf: %s", strerror(errno));
    close(memfd);
    return -1;
  }
  struct udmabuf_create create = {
    .memfd = (uint32_t)memfd,
    .flags = UDMABUF_FLAGS_CLOEXEC,
    .offset = 0,
    .size = size,
  };
  int fd = xioctl(dev, UDMABUF_CREATE, &create);
  int saved = errno;
  close(dev);
  if (fd < 0) {
    snprintf(err, errlen, "UDMABUF_CREATE(%zu): %s", size, strerror(saved));
    close(memfd);
    return -1;
  }
  *memfd_out = memfd;
  return fd;
}

static void probe_udmabuf(void)
{
  char err[256] = "";
  const size_t size = 1u << 20;
  int memfd;
  int fd = udmabuf_alloc(size, &memfd, err, sizeof err);
  if (fd < 0) {
    report(1, 0, "udmabuf create", "%s", err);
    return;
  }
  int ok = check_cpu_access(fd, size, 0x22, err, sizeof err) == 0;
  if (ok) {
    /* Zero copy: what went through the dma-buf is in the memfd's pages. */
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (m == MAP_FAILED) {
      ok = 0;
      snprintf(err, sizeof err, "mmap memfd: %s", strerror(errno));
    } else {
      for (size_t i = 0; i < size && ok; i++) {
        if (m[i] != pattern_at(i, 0x22)) {
          ok = 0;
          snprintf(err, sizeof err, "memfd does not see the dma-buf write at byte %zu", i);
        }
      }
      m[4096] = 0x5a; /* and the other way round */
      uint8_t *d = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
      if (d == MAP_FAILED) {
        ok = 0;
        snprintf(err, sizeof err, "mmap udmabuf: %s", strerror(errno));
      } else {
        dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
        if (ok && d[4096] != 0x5a) {
          ok = 0;
          snprintf(err, sizeof err, "dma-buf does not see the memfd write");
        }
        dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
        munmap(d, size);
      }
      munmap(m, size);
    }
  }
  if (ok)
    report(1, 1, "udmabuf create+shared pages", "%zu bytes over a sealed memfd, zero copy both ways", size);
  else
    report(1, 0, "udmabuf create+shared pages", "%s", err);
  close(fd);
  close(memfd);
}

/* ------------------------------------------------------------------ vgem */

/* Creates a dumb buffer on @drm and exports it; returns the dma-buf fd. */
static int vgem_alloc(int drm, uint32_t width, uint32_t height, size_t *size_out, uint32_t *handle_out,
                      char *err, size_t errlen)
{
  struct drm_mode_create_dumb create = { .width = width, .height = height, .bpp = 32 };
  if (xioctl(drm, DRM_IOCTL_MODE_CREATE_DUMB, &create) < 0) {
    snprintf(err, errlen, "DRM_IOCTL_MODE_CREATE_DUMB: %s", strerror(errno));
    return -1;
  }
  struct drm_prime_handle prime = { .handle = create.handle, .flags = DRM_CLOEXEC | DRM_RDWR };
  if (xioctl(drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime) < 0) {
    snprintf(err, errlen, "DRM_IOCTL_PRIME_HANDLE_TO_FD: %s", strerror(errno));
    struct drm_mode_destroy_dumb destroy = { .handle = create.handle };
    xioctl(drm, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
    return -1;
  }
  *size_out = (size_t)create.size;
  *handle_out = create.handle;
  return prime.fd;
}

static int open_vgem(char *name, size_t namelen)
{
  static const char *const nodes[] = { "/dev/dri/card0", "/dev/dri/card1", "/dev/dri/renderD128" };
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    int fd = open(nodes[i], O_RDWR | O_CLOEXEC);
    if (fd < 0)
      continue;
    char drv[64] = "";
    struct drm_version v = { .name_len = sizeof drv - 1, .name = drv };
    if (xioctl(fd, DRM_IOCTL_VERSION, &v) == 0 && strcmp(drv, "vgem") == 0) {
      snprintf(name, namelen, "%s", nodes[i]);
      return fd;
    }
    close(fd);
  }
  return -1;
}

static void probe_vgem(void)
{
  char err[256] = "", node[64] = "";
  int drm = open_vgem(node, sizeof node);
  if (drm < 0) {
    report(1, 0, "vgem dumb+prime", "no DRM node whose driver is vgem");
    return;
  }
  size_t size = 0;
  uint32_t handle = 0;
  int fd = vgem_alloc(drm, 320, 240, &size, &handle, err, sizeof err);
  int ok = fd >= 0 && check_cpu_access(fd, size, 0x33, err, sizeof err) == 0;
  if (ok) {
    struct drm_mode_map_dumb map = { .handle = handle };
    if (xioctl(drm, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0) {
      ok = 0;
      snprintf(err, sizeof err, "DRM_IOCTL_MODE_MAP_DUMB: %s", strerror(errno));
    } else {
      const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, drm, (off_t)map.offset);
      if (p == MAP_FAILED) {
        ok = 0;
        snprintf(err, sizeof err, "mmap dumb: %s", strerror(errno));
      } else {
        for (size_t i = 0; i < size && ok; i++) {
          if (p[i] != pattern_at(i, 0x33)) {
            ok = 0;
            snprintf(err, sizeof err, "dumb mapping differs from the dma-buf at byte %zu", i);
          }
        }
        munmap((void *)p, size);
      }
    }
  }
  if (ok) {
    struct drm_prime_handle back = { .fd = fd };
    if (xioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &back) < 0 || back.handle != handle) {
      ok = 0;
      snprintf(err, sizeof err, "PRIME_FD_TO_HANDLE did not give back handle %u", handle);
    }
  }
  if (ok)
    report(1, 1, "vgem dumb+prime export", "%s: 320x240x32 (%zu bytes), same bytes via prime and dumb map", node,
           size);
  else
    report(1, 0, "vgem dumb+prime export", "%s", err);
  if (fd >= 0)
    close(fd);
  if (handle) {
    struct drm_mode_destroy_dumb destroy = { .handle = handle };
    xioctl(drm, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
  }

  /* Import a heap buffer into vgem (informational). */
  int hfd = heap_alloc(1u << 20, err, sizeof err);
  if (hfd >= 0) {
    struct drm_prime_handle imp = { .fd = hfd };
    if (xioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &imp) == 0)
      report(0, 1, "vgem import of a heap dma-buf", "handle %u", imp.handle);
    else
      report(0, 0, "vgem import of a heap dma-buf", "%s", strerror(errno));
    close(hfd);
  }
  close(drm);
}

/* ----------------------------------------------------------------- vivid */

static int find_video(uint32_t cap_bit, char *path, size_t pathlen)
{
  for (int i = 0; i < 64; i++) {
    snprintf(path, pathlen, "/dev/video%d", i);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
      continue;
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (xioctl(fd, VIDIOC_QUERYCAP, &cap) == 0) {
      uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
      if ((caps & cap_bit) && strcmp((const char *)cap.driver, "vivid") == 0)
        return fd;
    }
    close(fd);
  }
  return -1;
}

static int wait_dq(int fd, enum v4l2_buf_type type, short events, struct v4l2_buffer *buf, char *err,
                   size_t errlen)
{
  for (int tries = 0; tries < 100; tries++) {
    struct pollfd p = { .fd = fd, .events = events };
    int r = poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) {
      snprintf(err, errlen, "poll: %s", strerror(errno));
      return -1;
    }
    memset(buf, 0, sizeof *buf);
    buf->type = type;
    buf->memory = V4L2_MEMORY_DMABUF;
    if (ioctl(fd, VIDIOC_DQBUF, buf) == 0)
      return 0;
    if (errno != EAGAIN && errno != EINTR) {
      snprintf(err, errlen, "VIDIOC_DQBUF: %s", strerror(errno));
      return -1;
    }
  }
  snprintf(err, errlen, "no buffer dequeued within 10 s");
  return -1;
}

static void probe_vivid_export(int fd)
{
  char err[256] = "";
  struct v4l2_requestbuffers req = { .count = 2, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
  if (xioctl(fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 1) {
    report(1, 0, "vivid capture EXPBUF", "VIDIOC_REQBUFS(MMAP): %s", strerror(errno));
    return;
  }
  struct v4l2_exportbuffer exp = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .index = 0, .flags = O_RDWR | O_CLOEXEC };
  int ok = xioctl(fd, VIDIOC_EXPBUF, &exp) == 0;
  if (!ok) {
    snprintf(err, sizeof err, "VIDIOC_EXPBUF: %s", strerror(errno));
  } else {
    off_t size = lseek(exp.fd, 0, SEEK_END);
    ok = size > 0 && check_cpu_access(exp.fd, (size_t)size, 0x44, err, sizeof err) == 0;
    close(exp.fd);
  }
  if (ok)
    report(1, 1, "vivid capture EXPBUF", "exported MMAP buffer 0 as a dma-buf, CPU access verified");
  else
    report(1, 0, "vivid capture EXPBUF", "%s", err);
  struct v4l2_requestbuffers zero = { .count = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
  xioctl(fd, VIDIOC_REQBUFS, &zero);
}

enum exporter { EXP_HEAP, EXP_UDMABUF, EXP_VGEM };
static const char *const exporter_names[] = { "heap", "udmabuf", "vgem" };

/* Allocates a dma-buf of at least @size from @which; returns fd and the real size. */
static int alloc_from(enum exporter which, size_t size, size_t *real, int *aux_fd, char *err, size_t errlen)
{
  *aux_fd = -1;
  size = page_align(size);
  *real = size;
  switch (which) {
  case EXP_HEAP:
    return heap_alloc(size, err, errlen);
  case EXP_UDMABUF:
    return udmabuf_alloc(size, aux_fd, err, errlen);
  case EXP_VGEM: {
    char node[64];
    int drm = open_vgem(node, sizeof node);
    if (drm < 0) {
      snprintf(err, errlen, "no vgem node");
      return -1;
    }
    uint32_t handle;
    /* width*4 bytes per row; enough rows to cover @size. */
    uint32_t rows = (uint32_t)((size + 4095) / 4096);
    int fd = vgem_alloc(drm, 1024, rows, real, &handle, err, errlen);
    *aux_fd = drm; /* keep the device open while the buffer is in use */
    return fd;
  }
  }
  return -1;
}

/* Streams vivid capture into a buffer from @which and checks vivid wrote it. */
static void probe_vivid_import_capture(int fd, enum exporter which, int required)
{
  char err[256] = "", what[64];
  snprintf(what, sizeof what, "vivid capture into %s dma-buf", exporter_names[which]);
  struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
  if (xioctl(fd, VIDIOC_G_FMT, &fmt) < 0) {
    report(required, 0, what, "VIDIOC_G_FMT: %s", strerror(errno));
    return;
  }
  size_t need = fmt.fmt.pix.sizeimage, size = 0;
  int aux = -1;
  int buf_fd = alloc_from(which, need, &size, &aux, err, sizeof err);
  if (buf_fd < 0) {
    report(required, 0, what, "%s", err);
    if (aux >= 0)
      close(aux);
    return;
  }
  /* Fill with a marker vivid's test pattern cannot reproduce everywhere. */
  uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buf_fd, 0);
  int ok = m != MAP_FAILED;
  if (!ok)
    snprintf(err, sizeof err, "mmap: %s", strerror(errno));
  if (ok) {
    dmabuf_sync(buf_fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
    memset(m, 0xa5, size);
    dmabuf_sync(buf_fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
  }
  struct v4l2_requestbuffers req = { .count = 1, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF };
  if (ok && (xioctl(fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 1)) {
    ok = 0;
    snprintf(err, sizeof err, "VIDIOC_REQBUFS(DMABUF): %s", strerror(errno));
  }
  if (ok) {
    struct v4l2_buffer qb = { .index = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF };
    qb.m.fd = buf_fd;
    qb.length = (uint32_t)size;
    if (xioctl(fd, VIDIOC_QBUF, &qb) < 0) {
      ok = 0;
      snprintf(err, sizeof err, "VIDIOC_QBUF(fd): %s", strerror(errno));
    }
  }
  enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (ok && xioctl(fd, VIDIOC_STREAMON, &type) < 0) {
    ok = 0;
    snprintf(err, sizeof err, "VIDIOC_STREAMON: %s", strerror(errno));
  }
  size_t changed = 0;
  struct v4l2_buffer dq;
  if (ok && wait_dq(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, POLLIN, &dq, err, sizeof err) < 0)
    ok = 0;
  if (ok) {
    dmabuf_sync(buf_fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
    for (size_t i = 0; i < dq.bytesused && i < size; i++)
      changed += m[i] != 0xa5;
    dmabuf_sync(buf_fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
    if (dq.bytesused == 0 || changed < dq.bytesused / 2) {
      ok = 0;
      snprintf(err, sizeof err, "frame not written into our buffer (bytesused %u, %zu bytes changed)", dq.bytesused,
               changed);
    }
  }
  xioctl(fd, VIDIOC_STREAMOFF, &type);
  struct v4l2_requestbuffers zero = { .count = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF };
  xioctl(fd, VIDIOC_REQBUFS, &zero);
  if (ok)
    report(required, 1, what, "%ux%u %.4s frame (%u bytes) written into a %zu-byte buffer", fmt.fmt.pix.width,
           fmt.fmt.pix.height, (const char *)&fmt.fmt.pix.pixelformat, dq.bytesused, size);
  else
    report(required, 0, what, "%s", err);
  if (m != MAP_FAILED)
    munmap(m, size);
  close(buf_fd);
  if (aux >= 0)
    close(aux);
}

static void probe_vivid_import_output(int fd)
{
  char err[256] = "";
  const char *what = "vivid output from heap dma-bufs";
  struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT };
  if (xioctl(fd, VIDIOC_G_FMT, &fmt) < 0) {
    report(1, 0, what, "VIDIOC_G_FMT: %s", strerror(errno));
    return;
  }
  /* vivid starts streaming an output once two buffers are queued. */
  enum { N_OUT = 2 };
  size_t size = page_align(fmt.fmt.pix.sizeimage);
  int fds[N_OUT] = { -1, -1 };
  int ok = 1;
  for (int i = 0; i < N_OUT && ok; i++) {
    fds[i] = heap_alloc(size, err, sizeof err);
    ok = fds[i] >= 0;
  }
  struct v4l2_requestbuffers req = { .count = N_OUT, .type = V4L2_BUF_TYPE_VIDEO_OUTPUT, .memory = V4L2_MEMORY_DMABUF };
  if (ok && (xioctl(fd, VIDIOC_REQBUFS, &req) < 0 || req.count < N_OUT)) {
    ok = 0;
    snprintf(err, sizeof err, "VIDIOC_REQBUFS(DMABUF, %d): %s", N_OUT, strerror(errno));
  }
  for (int i = 0; i < N_OUT && ok; i++) {
    struct v4l2_buffer qb = { .index = (uint32_t)i, .type = V4L2_BUF_TYPE_VIDEO_OUTPUT, .memory = V4L2_MEMORY_DMABUF };
    qb.m.fd = fds[i];
    qb.length = (uint32_t)size;
    qb.bytesused = fmt.fmt.pix.sizeimage;
    if (xioctl(fd, VIDIOC_QBUF, &qb) < 0) {
      ok = 0;
      snprintf(err, sizeof err, "VIDIOC_QBUF(fd, index %d): %s", i, strerror(errno));
    }
  }
  enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
  if (ok && xioctl(fd, VIDIOC_STREAMON, &type) < 0) {
    ok = 0;
    snprintf(err, sizeof err, "VIDIOC_STREAMON: %s", strerror(errno));
  }
  struct v4l2_buffer dq;
  if (ok && wait_dq(fd, V4L2_BUF_TYPE_VIDEO_OUTPUT, POLLOUT, &dq, err, sizeof err) < 0)
    ok = 0;
  xioctl(fd, VIDIOC_STREAMOFF, &type);
  struct v4l2_requestbuffers zero = { .count = 0, .type = V4L2_BUF_TYPE_VIDEO_OUTPUT, .memory = V4L2_MEMORY_DMABUF };
  xioctl(fd, VIDIOC_REQBUFS, &zero);
  if (ok)
    report(1, 1, what, "%ux%u %.4s frames (%u bytes) consumed by vivid", fmt.fmt.pix.width, fmt.fmt.pix.height,
           (const char *)&fmt.fmt.pix.pixelformat, fmt.fmt.pix.sizeimage);
  else
    report(1, 0, what, "%s", err);
  for (int i = 0; i < N_OUT; i++)
    if (fds[i] >= 0)
      close(fds[i]);
}

static void probe_vivid(void)
{
  char path[64];
  int cap = find_video(V4L2_CAP_VIDEO_CAPTURE, path, sizeof path);
  if (cap < 0) {
    report(1, 0, "vivid capture device", "no vivid single-planar capture node in /dev/video*");
  } else {
    report(1, 1, "vivid capture device", "%s", path);
    probe_vivid_export(cap);
    probe_vivid_import_capture(cap, EXP_HEAP, 1);
    probe_vivid_import_capture(cap, EXP_UDMABUF, 1);
    probe_vivid_import_capture(cap, EXP_VGEM, 1);
    close(cap);
  }
  int out = find_video(V4L2_CAP_VIDEO_OUTPUT, path, sizeof path);
  if (out < 0) {
    report(1, 0, "vivid output device", "no vivid single-planar output node in /dev/video*");
  } else {
    report(1, 1, "vivid output device", "%s", path);
    probe_vivid_import_output(out);
    close(out);
  }
}

int main(int argc, char **argv)
{
  int skip_vivid = argc > 1 && strcmp(argv[1], "--no-vivid") == 0;
  struct utsname uts;
  printf("dmakit-vm-probe: DMA-BUF exporters/importers of kernel %s\n", uname(&uts) == 0 ? uts.release : "?");
  probe_heap();
  probe_udmabuf();
  probe_vgem();
  if (!skip_vivid)
    probe_vivid();
  printf("dmakit-vm-probe: %s (%d required check(s) failed)\n", g_failures ? "FAILED" : "all required checks passed",
         g_failures);
  return g_failures ? 1 : 0;
}
