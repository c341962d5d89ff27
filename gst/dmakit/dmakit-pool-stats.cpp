/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-stats.cpp: gst_dmakit_buffer_pool_get_stats(). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakit-pool-private.h"

using dmakit::pool::Impl;
using dmakit::pool::Settings;
using dmakit::pool::Stats;

/**
 * gst_dmakit_buffer_pool_get_stats:
 * @pool: (type GstDmakitBufferPool): a #GstDmakitBufferPool
 *
 * Takes a consistent snapshot of the pool's counters. The structure is named
 * %GST_DMAKIT_BUFFER_POOL_STATS and has these #guint64 fields: `allocated`
 * (buffers alive), `free`, `outstanding`, `max-outstanding`, `acquires`,
 * `releases`, `waits`, `wait-total-ns`, `wait-max-ns`, `exhausted`,
 * `timeouts`, `refills`, `discards`, `stale`, `allocations`, `frees`,
 * `alloc-failures`, `locked`, `lock-failures`, `bytes-held`, `generation`;
 * and these #guint fields: `size`, `min-buffers`, `max-buffers`,
 * `low-watermark`. See docs/bufferpool.md.
 *
 * Returns: (transfer full): the statistics
 *
 * Since: 0.1
 */
GstStructure *
gst_dmakit_buffer_pool_get_stats (GstBufferPool *pool)
{
  g_return_val_if_fail (GST_DMAKIT_IS_BUFFER_POOL (pool), nullptr);
  Impl &s = POOL_IMPL (pool);
  Stats st;
  guint64 allocated, free_n, generation, acquires, releases, max_out;
  Settings set;
  guint size;
  {
    std::lock_guard<std::mutex> lk (s.mutex);
    st = s.stats;
    allocated = s.allocated ();
    free_n = s.stack.size ();
    generation = s.generation;
    set = s.set;
    size = s.lay.size;
    acquires = s.acquires ();
    releases = s.releases ();
    max_out = s.max_outstanding.load (std::memory_order_relaxed);
  }
  const guint64 outstanding = acquires > releases ? acquires - releases : 0;
  return gst_structure_new (
      GST_DMAKIT_BUFFER_POOL_STATS, "allocated", G_TYPE_UINT64, allocated, "free", G_TYPE_UINT64,
      free_n, "outstanding", G_TYPE_UINT64, outstanding, "max-outstanding", G_TYPE_UINT64,
      std::max (max_out, outstanding), "acquires", G_TYPE_UINT64, acquires, "releases",
      G_TYPE_UINT64, releases, "waits", G_TYPE_UINT64, st.waits, "wait-total-ns", G_TYPE_UINT64,
      st.wait_total_ns, "wait-max-ns", G_TYPE_UINT64, st.wait_max_ns, "exhausted", G_TYPE_UINT64,
      st.exhausted, "timeouts", G_TYPE_UINT64, st.timeouts, "refills", G_TYPE_UINT64, st.refills,
      "discards", G_TYPE_UINT64, st.discards, "stale", G_TYPE_UINT64, st.stale, "allocations",
      G_TYPE_UINT64, st.allocations, "frees", G_TYPE_UINT64, st.frees, "alloc-failures",
      G_TYPE_UINT64, st.alloc_failures, "locked", G_TYPE_UINT64, st.locked, "lock-failures",
      G_TYPE_UINT64, st.lock_failures, "bytes-held", G_TYPE_UINT64, st.bytes_held, "generation",
      G_TYPE_UINT64, generation, "size", G_TYPE_UINT, size, "min-buffers", G_TYPE_UINT, set.min,
      "max-buffers", G_TYPE_UINT, set.max, "low-watermark", G_TYPE_UINT, set.low_watermark,
      nullptr);
}
