/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-slots.h (private): every buffer the pool owns, free or out, in
 * a table keyed by buffer pointer that allocates only when it grows. */
#ifndef DMAKIT_POOL_SLOTS_H
#define DMAKIT_POOL_SLOTS_H

#include "dmakit-pool-freelist.h"

#include <cstdint>
#include <vector>

namespace dmakit
{
namespace pool
{

/* One buffer the pool owns, whether free or out. */
struct Slot {
  GstBuffer *buf = nullptr;
  guint64 generation = 0;
  gsize bytes = 0;               /* maxsize of its memory: what it costs */
  guint8 *unlock_addr = nullptr; /* pages we mlock()ed ourselves and must munlock */
  gsize unlock_len = 0;
  guint32 id = kNoId; /* its node in the free stack; kNoId for an extra buffer
                       * beyond the stack's capacity */
  bool locked = false;
};

/* Open-addressing hash table of Slots keyed by buffer pointer (linear probing,
 * backward-shift deletion). Its capacity changes only in reserve(), which the
 * pool calls on the allocation path; find/insert/take never allocate. */
class SlotTable
{
public:
  /* False (and nothing changed) when the memory cannot be had. */
  bool reserve (size_t entries) noexcept
  {
    size_t want = 16;
    while (want < entries * 2) {
      if (want > SIZE_MAX / 4 / sizeof (Slot))
        return false;
      want *= 2;
    }
    if (want <= slots_.size ())
      return true;
    std::vector<Slot> old;
    try {
      old.resize (want);
    } catch (...) {
      return false;
    }
    old.swap (slots_);
    mask_ = want - 1;
    size_ = 0;
    for (const Slot &s : old)
      if (s.buf)
        insert (s);
    return true;
  }
  size_t capacity () const noexcept { return slots_.size () / 2; }
  size_t size () const noexcept { return size_; }

  Slot *find (GstBuffer *buf) noexcept
  {
    if (slots_.empty ())
      return nullptr;
    for (size_t i = hash (buf) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].buf == buf)
        return &slots_[i];
      if (!slots_[i].buf)
        return nullptr;
    }
  }
  /* Requires size() < capacity(). */
  void insert (const Slot &slot) noexcept
  {
    size_t i = hash (slot.buf) & mask_;
    while (slots_[i].buf)
      i = (i + 1) & mask_;
    slots_[i] = slot;
    size_++;
  }
  bool take (GstBuffer *buf, Slot *out) noexcept
  {
    Slot *s = find (buf);
    if (!s)
      return false;
    *out = *s;
    size_t i = size_t (s - slots_.data ());
    for (size_t j = (i + 1) & mask_; slots_[j].buf; j = (j + 1) & mask_) {
      const size_t home = hash (slots_[j].buf) & mask_;
      /* leave j where it is when its home lies cyclically in (i, j] */
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays)
        continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot ();
    size_--;
    return true;
  }
  template <typename F> void for_each (F &&f) const
  {
    for (const Slot &s : slots_)
      if (s.buf)
        f (s);
  }

private:
  static size_t hash (const GstBuffer *buf) noexcept
  {
    guint64 v = guint64 (reinterpret_cast<uintptr_t> (buf));
    v ^= v >> 29;
    v *= 0x9e3779b97f4a7c15ull;
    return size_t (v >> 24);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

} // namespace pool
} // namespace dmakit

#endif /* DMAKIT_POOL_SLOTS_H */
