/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-idmap.h (private): buffer -> id, looked up without a lock on
 * the release path (a seqlock over an open-addressing table). */
#ifndef DMAKIT_POOL_IDMAP_H
#define DMAKIT_POOL_IDMAP_H

#include "dmakit-pool-freelist.h"

namespace dmakit
{
namespace pool
{

/* Buffer -> id, looked up on the release hot path without a lock; written
 * only under Impl::mutex. Open addressing with linear probing, at most half
 * full. An insert only fills an empty cell, which ends no other key's probe
 * sequence, so readers need not care. A deletion shifts entries back, so it
 * runs inside a sequence count (a seqlock): a reader that overlapped one
 * returns kNoId and the caller takes the slow path, which never spins. */
class IdMap
{
public:
  /* Only while nobody looks up. */
  struct Cell;
  /* Cells for @ids ids, or nullptr without memory. */
  static std::unique_ptr<Cell[]> make_cells (guint32 ids, size_t *n) noexcept
  {
    *n = 16;
    while (*n < 2 * size_t (ids))
      *n <<= 1;
    return std::unique_ptr<Cell[]> (new (std::nothrow) Cell[*n]);
  }
  /* Only while nobody looks up. */
  void init (std::unique_ptr<Cell[]> cells, size_t n) noexcept
  {
    cells_ = std::move (cells);
    mask_ = n - 1;
  }
  /* (M) @buf is not in the map; fewer than half the cells are used. */
  void insert (GstBuffer *buf, guint32 id) noexcept
  {
    size_t i = hash (buf) & mask_;
    while (cells_[i].key.load (std::memory_order_relaxed))
      i = (i + 1) & mask_;
    cells_[i].id.store (id, std::memory_order_relaxed);
    cells_[i].key.store (buf, std::memory_order_release);
  }
  /* (M) */
  void erase (GstBuffer *buf) noexcept
  {
    size_t i = hash (buf) & mask_;
    for (;; i = (i + 1) & mask_) {
      GstBuffer *k = cells_[i].key.load (std::memory_order_relaxed);
      if (!k)
        return;
      if (k == buf)
        break;
    }
    /* A seqlock without fences (ThreadSanitizer does not model them): the
     * writes below are release stores, the reader's loads acquire loads, so a
     * reader that sees any of them sees the odd count in its second read. */
    const guint32 seq = seq_.load (std::memory_order_relaxed);
    seq_.store (seq + 1, std::memory_order_relaxed);
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      GstBuffer *k = cells_[j].key.load (std::memory_order_relaxed);
      if (!k)
        break;
      const size_t home = hash (k) & mask_;
      /* leave j where it is when its home lies cyclically in (i, j] */
      if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
        continue;
      cells_[i].id.store (cells_[j].id.load (std::memory_order_relaxed), std::memory_order_release);
      cells_[i].key.store (k, std::memory_order_release);
      i = j;
    }
    cells_[i].key.store (nullptr, std::memory_order_release);
    cells_[i].id.store (kNoId, std::memory_order_release);
    seq_.store (seq + 2, std::memory_order_release);
  }
  /* Any thread. kNoId when @buf is not there, or a deletion ran meanwhile. */
  guint32 lookup (GstBuffer *buf) const noexcept
  {
    if (G_UNLIKELY (!cells_))
      return kNoId;
    const guint32 seq = seq_.load (std::memory_order_acquire);
    guint32 id = kNoId;
    for (size_t i = hash (buf) & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, n++) {
      GstBuffer *k = cells_[i].key.load (std::memory_order_acquire);
      if (k == buf) {
        id = cells_[i].id.load (std::memory_order_acquire);
        break;
      }
      if (!k)
        break;
    }
    if (G_UNLIKELY ((seq & 1) || seq_.load (std::memory_order_relaxed) != seq))
      return kNoId;
    return id;
  }

  struct Cell {
    std::atomic<GstBuffer *> key{ nullptr };
    std::atomic<guint32> id{ kNoId };
  };

private:
  static size_t hash (const GstBuffer *buf) noexcept
  {
    const guint64 v = guint64 (reinterpret_cast<uintptr_t> (buf)) * 0x9e3779b97f4a7c15ull;
    return size_t (v >> 32);
  }
  std::unique_ptr<Cell[]> cells_;
  size_t mask_ = 0;
  std::atomic<guint32> seq_{ 0 };
};

} // namespace pool
} // namespace dmakit

#endif /* DMAKIT_POOL_IDMAP_H */
