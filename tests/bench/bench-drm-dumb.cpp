/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-drm-dumb: the dmakit drm-dumb backend next to stock GStreamer's
 * GstDRMDumbAllocator (gstreamer-allocators-1.0, since 1.24), on the same DRM
 * node, in one run. 1080p NV12 buffers:
 *
 *  1. allocation + free per buffer (batches of 8 allocated, then freed):
 *       - dmakit drm-dumb: dumb buffer + PRIME export + one mapping, what
 *         gst_allocator_alloc() hands out (DMA-BUF memory);
 *       - stock GstDRMDumbAllocator: gst_drm_dumb_allocator_alloc() (a dumb
 *         buffer handle, no DMA-BUF), and the same followed by
 *         gst_drm_dumb_memory_export_dmabuf() (what a DMA-BUF consumer needs);
 *  2. map(WRITE)+unmap cost, once without touching the data and once writing
 *     one byte per page inside every map, of dmakit memory, of stock DRM dumb
 *     memory (DRM_IOCTL_MODE_MAP_DUMB + mmap on every first map, munmap on the
 *     last unmap) and of the stock GstDmaBufAllocator memory that
 *     gst_drm_dumb_memory_export_dmabuf() returns.
 *
 * Needs a DRM node that can create dumb buffers (vgem in the VM tier): without
 * one it prints why and exits 77 (skipped). Built against GStreamer < 1.24 it
 * measures dmakit alone and says that the stock allocator does not exist
 * there. The stock constructors refuse a node whose DRM_CAP_DUMB_BUFFER query
 * fails (render-only drivers such as vgem answer it with EOPNOTSUPP although
 * DRM_IOCTL_MODE_CREATE_DUMB works on their primary node); the benchmark then
 * constructs the stock allocator through its public "drm-fd" property, which
 * skips only that capability query, and says so. No assertion on speed. */
#include <gst/gst.h>
#include <gst/allocators/allocators.h>
#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include "bench-util.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

using namespace dmakit;
using namespace dmakit::bench;

namespace
{

constexpr guint kWidth = 1920, kHeight = 1080;
constexpr gsize kFrameSize = kWidth * kHeight * 3 / 2; /* 1080p NV12 */
constexpr guint32 kFourccNV12 = 0x3231564e;            /* DRM_FORMAT_NV12 */
constexpr int kRuns = 9;
constexpr double kRunBudgetNs = 15e6;

int
calibrated (double one_ns, int lo, int hi)
{
  if (one_ns <= 0)
    return hi;
  return std::clamp (int (kRunBudgetNs / one_ns), lo, hi);
}


using AllocFn = std::function<GstMemory *()>;

/* ns per alloc and per free: @batch allocations, then their frees; median
 * over kRuns runs of calibrated length. */
bool
measure_alloc (const AllocFn &alloc, double *alloc_ns, double *free_ns)
{
  const int batch = 8;
  std::vector<GstMemory *> mems (batch);
  auto round = [&] (double &a, double &f) {
    const double t0 = now_ns ();
    for (GstMemory *&m : mems)
      if (!(m = alloc ()))
        return false;
    const double t1 = now_ns ();
    for (GstMemory *m : mems)
      gst_memory_unref (m);
    const double t2 = now_ns ();
    a += t1 - t0;
    f += t2 - t1;
    return true;
  };
  double a = 0, f = 0;
  if (!round (a, f)) /* warm-up and calibration */
    return false;
  const int rounds = calibrated (a + f, 1, 64);
  std::vector<double> a_runs, f_runs;
  for (int r = 0; r < kRuns; ++r) {
    a = f = 0;
    for (int k = 0; k < rounds; ++k)
      if (!round (a, f))
        return false;
    a_runs.push_back (a / (batch * rounds));
    f_runs.push_back (f / (batch * rounds));
  }
  *alloc_ns = median (a_runs);
  *free_ns = median (f_runs);
  return true;
}

/* @iters map(WRITE)+unmap, optionally writing one byte per page; ns per op,
 * or a negative value when a map fails. */
double
map_loop (GstMemory *mem, int iters, bool touch)
{
  const gsize page = gsize (sysconf (_SC_PAGESIZE));
  const double t0 = now_ns ();
  for (int i = 0; i < iters; ++i) {
    GstMapInfo info;
    if (!gst_memory_map (mem, &info, GST_MAP_WRITE))
      return -1;
    if (touch) {
      for (gsize off = 0; off < info.size; off += page)
        info.data[off] = guint8 (i);
    } else {
      asm volatile("" : : "r"(info.data) : "memory");
    }
    gst_memory_unmap (mem, &info);
  }
  return (now_ns () - t0) / iters;
}

double
measure_map (GstMemory *mem, bool touch)
{
  if (map_loop (mem, 3, true) < 0)
    return -1;
  const double one = map_loop (mem, 5, touch);
  const int iters = calibrated (one, 5, 100000);
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r)
    runs.push_back (map_loop (mem, iters, touch));
  return median (runs);
}

struct Row {
  std::string label;
  AllocFn alloc;
};

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_print ("dmakit DRM dumb benchmark (%s, built against %d.%d.%d, medians of %d runs)\n",
           gst_version_string (), GST_VERSION_MAJOR, GST_VERSION_MINOR, GST_VERSION_MICRO, kRuns);

  GErrorPtr err;
  GstAllocator *raw = gst_dmakit_allocator_new (GST_DMAKIT_BACKEND_DRM_DUMB, nullptr, err.out ());
  if (!raw) {
    g_print ("SKIP: no DRM node here can create and export dumb buffers: %s\n", err->message);
    return 77;
  }
  auto ours = ObjectRef<GstAllocator>::adopt (raw);
  const std::string device = gst_dmakit_allocator_get_device (ours.get ());
  g_print ("DRM node: %s (the one the dmakit drm-dumb backend picked)\n\n", device.c_str ());

  std::vector<Row> rows;
  rows.push_back ({ "dmakit drm-dumb (DMA-BUF)",
                    [&] () { return gst_allocator_alloc (ours.get (), kFrameSize, nullptr); } });

  ObjectRef<GstAllocator> stock;
  std::string stock_note;
#if GST_CHECK_VERSION(1, 24, 0)
  {
    GstAllocator *s = gst_drm_dumb_allocator_new_with_device_path (device.c_str ());
    if (s) {
      stock_note = "constructed with gst_drm_dumb_allocator_new_with_device_path()";
    } else {
      const int fd = open (device.c_str (), O_RDWR | O_CLOEXEC);
      if (fd >= 0) {
        s = gst_drm_dumb_allocator_new_with_fd (fd);
        if (s) {
          stock_note = "constructed with gst_drm_dumb_allocator_new_with_fd()";
        } else {
          /* the public constructors refused: they only add the
           * DRM_CAP_DUMB_BUFFER query to this */
          s = GST_ALLOCATOR (g_object_new (GST_TYPE_DRM_DUMB_ALLOCATOR, "drm-fd", fd, nullptr));
          gst_object_ref_sink (s);
          gint got = -1;
          g_object_get (s, "drm-fd", &got, nullptr);
          if (got < 0) {
            gst_object_unref (s);
            s = nullptr;
            stock_note = "not measured: GstDRMDumbAllocator cannot use " + device;
          } else {
            stock_note = "gst_drm_dumb_allocator_new_with_device_path() and _new_with_fd() "
                         "refuse "
                         + device
                         + " (its DRM_CAP_DUMB_BUFFER query fails, as on "
                           "render-only drivers); constructed through the public \"drm-fd\" "
                           "property instead, which skips only that query";
          }
        }
        close (fd); /* the allocator holds a dup */
      } else {
        stock_note = "not measured: cannot open " + device + ": " + g_strerror (errno);
      }
    }
    if (s)
      stock = ObjectRef<GstAllocator>::adopt (s);
  }
  if (stock) {
    GstAllocator *st = stock.get ();
    rows.push_back ({ "stock GstDRMDumbAllocator", [st] () {
                       guint32 pitch = 0;
                       return gst_drm_dumb_allocator_alloc (st, kFourccNV12, kWidth, kHeight,
                                                            &pitch);
                     } });
    if (gst_drm_dumb_allocator_has_prime_export (st)) {
      rows.push_back ({ "stock GstDRMDumbAllocator+export", [st] () -> GstMemory * {
                         guint32 pitch = 0;
                         GstMemory *m = gst_drm_dumb_allocator_alloc (st, kFourccNV12, kWidth,
                                                                      kHeight, &pitch);
                         if (!m)
                           return nullptr;
                         GstMemory *d = gst_drm_dumb_memory_export_dmabuf (m);
                         gst_memory_unref (m); /* the DMA-BUF keeps the buffer object */
                         return d;
                       } });
    } else {
      stock_note += "; the node has no PRIME export, so no exported row";
    }
  }
#else
  stock_note = std::string ("not measured: GstDRMDumbAllocator is new in GStreamer 1.24; this "
                            "build is against ")
               + std::to_string (GST_VERSION_MAJOR) + "." + std::to_string (GST_VERSION_MINOR);
#endif
  g_print ("stock GstDRMDumbAllocator: %s\n\n", stock_note.c_str ());

  /* ---- 1. allocation ---- */
  g_print ("1. allocation + free per 1080p NV12 buffer (batches of 8 allocated, then freed)\n");
  g_print ("   %-36s %14s %14s %12s\n", "allocator", "alloc", "free", "alloc vs stock");
  std::vector<double> a (rows.size (), -1), f (rows.size (), -1);
  for (size_t i = 0; i < rows.size (); ++i)
    if (!measure_alloc (rows[i].alloc, &a[i], &f[i]))
      g_print ("   %-36s allocation failed\n", rows[i].label.c_str ());
  for (size_t i = 0; i < rows.size (); ++i) {
    if (a[i] < 0)
      continue;
    std::string ratio = "-";
    if (rows.size () > 1 && a[1] > 0) {
      char buf[32];
      g_snprintf (buf, sizeof (buf), "%.2fx", a[i] / a[1]);
      ratio = buf;
    }
    g_print ("   %-36s %14s %14s %12s\n", rows[i].label.c_str (), fmt_time (a[i]).c_str (),
             fmt_time (f[i]).c_str (), ratio.c_str ());
  }
  if (rows.size () > 2 && a[2] > 0)
    g_print ("   dmakit vs stock alloc+export (both hand out a DMA-BUF): %.2fx\n", a[0] / a[2]);
  g_print ("\n");

  /* ---- 2. map + unmap ---- */
  std::vector<std::pair<std::string, MemoryRef>> mems;
  for (size_t i = 0; i < rows.size (); ++i) {
    GstMemory *m = rows[i].alloc ();
    if (!m)
      continue;
    std::string label = rows[i].label;
    if (label == "stock GstDRMDumbAllocator+export")
      label = "stock GstDmaBufAllocator (exported dumb)";
    mems.push_back ({ label, MemoryRef::adopt (m) });
  }
  g_print ("2. map(WRITE)+unmap of one 1080p NV12 buffer (%" G_GSIZE_FORMAT " bytes)\n",
           kFrameSize);
  g_print ("   %-40s %14s %10s %16s %10s\n", "memory", "map+unmap", "vs stock", "+touch pages",
           "vs stock");
  std::vector<double> plain (mems.size ()), touched (mems.size ());
  for (size_t i = 0; i < mems.size (); ++i) {
    plain[i] = measure_map (mems[i].second.get (), false);
    touched[i] = measure_map (mems[i].second.get (), true);
  }
  for (size_t i = 0; i < mems.size (); ++i) {
    if (plain[i] < 0 || touched[i] < 0) {
      g_print ("   %-40s map failed\n", mems[i].first.c_str ());
      continue;
    }
    const bool have_stock = mems.size () > 1 && plain[1] > 0 && touched[1] > 0;
    g_print ("   %-40s %14s %9.3fx %16s %9.3fx\n", mems[i].first.c_str (),
             fmt_time (plain[i]).c_str (), have_stock ? plain[i] / plain[1] : 0.0,
             fmt_time (touched[i]).c_str (), have_stock ? touched[i] / touched[1] : 0.0);
  }
  if (mems.size () > 1 && plain[0] > 0 && plain[1] > 0)
    g_print ("   target: dmakit map+unmap <= 0.35x stock GstDRMDumbAllocator -> %s (%.3fx; "
             "%.3fx touching pages)\n",
             plain[0] <= 0.35 * plain[1] ? "met" : "NOT met", plain[0] / plain[1],
             touched[0] / touched[1]);
  else
    g_print ("   (no stock GstDRMDumbAllocator to compare with: vs stock columns are 0)\n");
  return 0;
}
