/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-allocator: GstDmakitAllocator next to stock GStreamer, in one run.
 *
 *  1. Allocation time per buffer for every backend that works here (the others
 *     print why they are skipped), next to system memory.
 *  2. Map+unmap cost of one 1080p NV12 buffer (3 110 400 bytes):
 *       - dmakit memory (each backend that works here),
 *       - stock GstDmaBufAllocator-wrapped memory without KEEP_MAPPED (a memfd
 *         stands in for the DMA-BUF fd on hosts without DMA-BUF devices),
 *       - stock GstFdAllocator-wrapped memfd without KEEP_MAPPED,
 *       - system memory (gst_allocator_alloc (NULL, ...)),
 *     once without touching the data and once writing one byte per page
 *     inside every map (what a real CPU consumer does).
 * Every figure is the median of several runs; ratios are printed next to them. */
#include <gst/gst.h>
#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include "bench-util.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using namespace dmakit;
using namespace dmakit::bench;

namespace {

constexpr gsize kFrameSize = 1920 * 1080 * 3 / 2; /* 1080p NV12 */
constexpr int kRuns = 9;

/* Median over kRuns of fn(), which returns ns per operation. */
double
median_of_runs (const std::function<double ()> &fn)
{
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r)
    runs.push_back (fn ());
  return median (runs);
}


struct Backend {
  GstDmakitBackend id;
  const char *nick;
};

const Backend kBackends[] = {{GST_DMAKIT_BACKEND_DMA_HEAP, "dma-heap"},
                             {GST_DMAKIT_BACKEND_UDMABUF, "udmabuf"},
                             {GST_DMAKIT_BACKEND_DRM_DUMB, "drm-dumb"},
                             {GST_DMAKIT_BACKEND_MEMFD, "memfd"}};

/* Each run lasts about this long; iteration counts are calibrated to it so the
 * whole benchmark stays short on slow machines (and under TCG) too. */
constexpr double kRunBudgetNs = 15e6;

int
calibrated (double one_ns, int lo, int hi)
{
  if (one_ns <= 0)
    return hi;
  return std::clamp (int (kRunBudgetNs / one_ns), lo, hi);
}

/* One round: allocate @batch buffers, then free them; adds the times. */
void
alloc_round (GstAllocator *alloc, gsize size, std::vector<GstMemory *> &mems, double &a, double &f)
{
  double t0 = now_ns ();
  for (GstMemory *&m : mems) {
    m = gst_allocator_alloc (alloc, size, nullptr);
    if (!m) {
      g_printerr ("allocation of %" G_GSIZE_FORMAT " bytes failed\n", size);
      exit (1);
    }
  }
  double t1 = now_ns ();
  for (GstMemory *m : mems)
    gst_memory_unref (m);
  double t2 = now_ns ();
  a += t1 - t0;
  f += t2 - t1;
}

/* ns per alloc and per free, allocating @batch buffers, then freeing them. */
void
measure_alloc (GstAllocator *alloc, gsize size, int batch, double *alloc_ns, double *free_ns)
{
  std::vector<GstMemory *> mems (batch);
  double a = 0, f = 0;
  alloc_round (alloc, size, mems, a, f); /* warm-up and calibration */
  const int rounds = calibrated ((a + f), 1, 64);
  std::vector<double> a_runs, f_runs;
  for (int r = 0; r < kRuns; ++r) {
    a = f = 0;
    for (int k = 0; k < rounds; ++k)
      alloc_round (alloc, size, mems, a, f);
    a_runs.push_back (a / (batch * rounds));
    f_runs.push_back (f / (batch * rounds));
  }
  *alloc_ns = median (a_runs);
  *free_ns = median (f_runs);
}

/* @iters map(WRITE)+unmap, optionally writing one byte per page; ns per op. */
double
map_loop (GstMemory *mem, int iters, bool touch)
{
  const gsize page = gsize (sysconf (_SC_PAGESIZE));
  double t0 = now_ns ();
  for (int i = 0; i < iters; ++i) {
    GstMapInfo info;
    if (!gst_memory_map (mem, &info, GST_MAP_WRITE)) {
      g_printerr ("map failed\n");
      exit (1);
    }
    if (touch) {
      for (gsize off = 0; off < info.size; off += page)
        info.data[off] = guint8 (i);
    } else {
      /* keep the compiler from dropping the map */
      asm volatile ("" : : "r"(info.data) : "memory");
    }
    gst_memory_unmap (mem, &info);
  }
  return (now_ns () - t0) / iters;
}

double
measure_map (GstMemory *mem, bool touch)
{
  /* warm-up (first mapping, first faults) and calibration */
  map_loop (mem, 3, true);
  const double one = map_loop (mem, 5, touch);
  const int iters = calibrated (one, 5, 100000);
  return median_of_runs ([&] () { return map_loop (mem, iters, touch); });
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  const gsize page = gsize (sysconf (_SC_PAGESIZE));
  g_print ("dmakit allocator benchmark (%s, page %" G_GSIZE_FORMAT
           " bytes, medians of %d runs)\n\n",
           gst_version_string (), page, kRuns);

  /* ---- allocators that work here ---- */
  struct Avail {
    const Backend *b;
    ObjectRef<GstAllocator> alloc;
  };
  std::vector<Avail> avail;
  for (const Backend &b : kBackends) {
    GErrorPtr err;
    GstAllocator *a = gst_dmakit_allocator_new (b.id, nullptr, err.out ());
    if (!a) {
      g_print ("%-10s skipped: %s\n", b.nick, err->message);
      continue;
    }
    avail.push_back ({&b, ObjectRef<GstAllocator>::adopt (a)});
  }
  g_print ("\n");

  /* ---- 1. allocation ---- */
  const gsize sizes[] = {4096, kFrameSize};
  g_print ("1. allocation + free per buffer (batches of 8 allocated, then freed)\n");
  g_print ("   %-22s %14s %14s %14s %14s  %s\n", "allocator", "alloc 4 KiB", "free 4 KiB",
           "alloc 1080p", "free 1080p", "alloc vs system (4 KiB / 1080p)");
  double sys_alloc[2] = {0, 0}, sys_free[2] = {0, 0};
  for (int s = 0; s < 2; ++s)
    measure_alloc (nullptr, sizes[s], 8, &sys_alloc[s], &sys_free[s]);
  g_print ("   %-22s %14s %14s %14s %14s  %s\n", "system memory (stock)",
           fmt_time (sys_alloc[0]).c_str (), fmt_time (sys_free[0]).c_str (),
           fmt_time (sys_alloc[1]).c_str (), fmt_time (sys_free[1]).c_str (), "1.00x / 1.00x");
  auto alloc_row = [&] (const char *label, GstAllocator *alloc, int batch) {
    double a[2], f[2];
    for (int s = 0; s < 2; ++s)
      measure_alloc (alloc, sizes[s], batch, &a[s], &f[s]);
    g_print ("   %-22s %14s %14s %14s %14s  %.2fx / %.2fx\n", label, fmt_time (a[0]).c_str (),
             fmt_time (f[0]).c_str (), fmt_time (a[1]).c_str (), fmt_time (f[1]).c_str (),
             a[0] / sys_alloc[0], a[1] / sys_alloc[1]);
  };
  for (Avail &v : avail) {
    std::string label = std::string ("dmakit ") + v.b->nick;
    alloc_row (label.c_str (), v.alloc.get (), 8);
  }
  for (Avail &v : avail) {
    if (v.b->id != GST_DMAKIT_BACKEND_MEMFD)
      continue;
    /* lock-memory: mlock populates every page; two buffers at a time stay
     * within the default 8 MiB RLIMIT_MEMLOCK */
    gst_dmakit_allocator_set_lock_memory (v.alloc.get (), TRUE);
    alloc_row ("dmakit memfd +mlock", v.alloc.get (), 2);
    gst_dmakit_allocator_set_lock_memory (v.alloc.get (), FALSE);
    GstStructure *st = gst_dmakit_allocator_get_stats (v.alloc.get ());
    guint64 refused = 0;
    gst_structure_get_uint64 (st, "lock-failures", &refused);
    gst_structure_free (st);
    if (refused)
      g_print ("   (mlock refused %" G_GUINT64_FORMAT " times: RLIMIT_MEMLOCK too small here)\n",
               refused);
  }
  g_print ("\n");

  /* ---- 2. map + unmap ---- */
  struct MapCase {
    std::string label;
    MemoryRef mem;
  };
  std::vector<MapCase> cases;
  for (Avail &v : avail) {
    MemoryRef m = MemoryRef::adopt (gst_allocator_alloc (v.alloc.get (), kFrameSize, nullptr));
    cases.push_back ({std::string ("dmakit ") + v.b->nick + (gst_is_dmabuf_memory (m.get ())
                                                                 ? " (DMA-BUF)"
                                                                 : " (fd)"),
                      std::move (m)});
  }
  auto stock_dmabuf = ObjectRef<GstAllocator>::adopt (gst_dmabuf_allocator_new ());
  auto stock_fd = ObjectRef<GstAllocator>::adopt (gst_fd_allocator_new ());
  {
    /* The stock DMA-BUF wrapper gets a real DMA-BUF when a device works here
     * (a dup of one of ours), else a memfd stands in for the fd. */
    int fd = -1;
    const char *what = "memfd stand-in";
    for (MapCase &c : cases) {
      if (gst_is_dmabuf_memory (c.mem.get ())) {
        fd = dup (gst_dmabuf_memory_get_fd (c.mem.get ()));
        what = "real DMA-BUF";
        break;
      }
    }
    if (fd < 0) {
      fd = memfd_create ("bench-stock-dmabuf", MFD_CLOEXEC);
      if (fd < 0 || ftruncate (fd, off_t (kFrameSize)) < 0)
        return 1;
    }
    cases.push_back ({std::string ("stock GstDmaBufAllocator (") + what + ")",
                      MemoryRef::adopt (gst_dmabuf_allocator_alloc (stock_dmabuf.get (), fd,
                                                                    kFrameSize))});
    fd = memfd_create ("bench-stock-fd", MFD_CLOEXEC);
    if (fd < 0 || ftruncate (fd, off_t (kFrameSize)) < 0)
      return 1;
    cases.push_back ({"stock GstFdAllocator",
                      MemoryRef::adopt (gst_fd_allocator_alloc (stock_fd.get (), fd, kFrameSize,
                                                                GST_FD_MEMORY_FLAG_NONE))});
  }
  cases.push_back ({"system memory (stock)",
                    MemoryRef::adopt (gst_allocator_alloc (nullptr, kFrameSize, nullptr))});

  g_print ("2. map(WRITE)+unmap of one 1080p NV12 buffer (%" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
           " pages)\n",
           kFrameSize, (kFrameSize + page - 1) / page);
  g_print ("   stock wrappers are without KEEP_MAPPED (their default); without a DMA-BUF\n"
           "   device the stock DMA-BUF wrapper maps a memfd (its SYNC ioctls then fail\n"
           "   with ENOTTY, a syscall each like on a real DMA-BUF)\n");
  g_print ("   %-44s %14s %10s %10s %16s %10s %10s\n", "memory", "map+unmap", "vs sys",
           "vs stock", "+touch pages", "vs sys", "vs stock");
  std::vector<double> plain (cases.size ()), touched (cases.size ());
  for (size_t i = 0; i < cases.size (); ++i) {
    plain[i] = measure_map (cases[i].mem.get (), false);
    touched[i] = measure_map (cases[i].mem.get (), true);
  }
  size_t sys_i = cases.size () - 1;
  size_t stock_i = cases.size () - 3;
  for (size_t i = 0; i < cases.size (); ++i) {
    g_print ("   %-44s %14s %9.2fx %9.3fx %16s %9.2fx %9.3fx\n", cases[i].label.c_str (),
             fmt_time (plain[i]).c_str (), plain[i] / plain[sys_i], plain[i] / plain[stock_i],
             fmt_time (touched[i]).c_str (), touched[i] / touched[sys_i],
             touched[i] / touched[stock_i]);
  }
  g_print ("\n   vs sys: time / system memory's time; vs stock: time / stock "
           "GstDmaBufAllocator's time\n");
  return 0;
}
