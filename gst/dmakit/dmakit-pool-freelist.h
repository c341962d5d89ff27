/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-pool-freelist.h (private): the pool's free buffers, two bounded
 * lock-free LIFO stacks over one node array indexed by buffer id. */
#ifndef DMAKIT_POOL_FREELIST_H
#define DMAKIT_POOL_FREELIST_H

#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>

namespace dmakit
{
namespace pool
{

/* Buffer ids: each pooled buffer gets a small id (its node in FreeStack)
 * when it is registered, and keeps it until it is freed. */
constexpr guint32 kNoId = G_MAXUINT32;
constexpr guint32 kMaxIds = 0x7fff; /* 15 bits of FreeStack's top word */

/* Bounded lock-free LIFO of free buffers: a Treiber stack over a fixed array
 * of nodes indexed by buffer id, so a push or a pop is one compare-and-swap on
 * one 64-bit word: no lock, no allocation, no syscall. LIFO hands out the
 * buffer released last, whose memory is the most likely to still be in the
 * CPU caches.
 *
 * The top word: bit 0 sleeper flag | bits 1-15 head (id + 1, 0 = empty) |
 * bits 16-31 size | bits 32-63 tag = pushes mod 2^32.
 *
 * ABA: only a push changes the tag. A pop's CAS succeeds only when the word
 * is unchanged since it read it and next[head]; then no push happened in
 * between, hence no pop either (only a push could have made the head it read
 * the head again), so next[head] is still right. (A thread would have to
 * stall for exactly 2^32 pushes to be fooled.)
 *
 * The sleeper flag: a waiter sets it (fetch_or) before sleeping; the push
 * whose CAS clears it must wake the sleepers. Both are read-modify-writes of
 * the same word, so one sees the other: either the push sees the flag, or
 * the waiter sees the stack non-empty and does not sleep.
 *
 * Counting: the tag counts pushes; a half-wrap counter extends it to 64 bits;
 * pops = pushes - size. So the stack doubles as the acquire/release counters
 * without another atomic. */
struct FreeNode {
  std::atomic<guint32> next{ 0 }; /* id + 1 of the buffer below, 0 */
  GstBuffer *buf = nullptr;       /* written under the mutex before the first push */
};

class FreeStack
{
public:
  /* Only while nobody pushes or pops; the stack must be empty. Keeps the
   * counters running. */
  void init (FreeNode *nodes) noexcept
  {
    nodes_ = nodes;
    const guint64 w = top_.load (std::memory_order_relaxed);
    top_.store (make (0, 0, tag_of (w), false), std::memory_order_relaxed);
  }

  /* Each id is in the stacks at most once, so there is always room. *wake
   * tells whether a sleeper asked to be woken. */
  void push (guint32 id, bool *wake) noexcept
  {
    guint64 w = top_.load (std::memory_order_relaxed);
    for (;;) {
      nodes_[id].next.store (head_of (w), std::memory_order_relaxed);
      const guint32 tag = tag_of (w) + 1;
      if (top_.compare_exchange_weak (w, make (id + 1, size_of (w) + 1, tag, false),
                                      std::memory_order_release, std::memory_order_relaxed)) {
        if (G_UNLIKELY ((tag & 0x7fffffffu) == 0))
          half_wraps_.fetch_add (1, std::memory_order_release);
        *wake = (w & kFlag) != 0;
        return;
      }
    }
  }
  /* nullptr when empty. */
  GstBuffer *pop () noexcept
  {
    guint64 w = top_.load (std::memory_order_acquire);
    for (;;) {
      const guint32 head = head_of (w);
      if (head == 0)
        return nullptr;
      const FreeNode &node = nodes_[head - 1];
      const guint32 next = node.next.load (std::memory_order_relaxed);
      if (top_.compare_exchange_weak (w, make (next, size_of (w) - 1, tag_of (w), w & kFlag),
                                      std::memory_order_acquire, std::memory_order_acquire))
        return node.buf;
    }
  }
  /* Set the sleeper flag; true when the stack was not empty at that moment
   * (then do not sleep: pop again). */
  bool announce_waiter () noexcept
  {
    return head_of (top_.fetch_or (kFlag, std::memory_order_acq_rel)) != 0;
  }

  void counts (guint64 *pushes, guint64 *pops) const noexcept
  {
    guint64 halves = half_wraps_.load (std::memory_order_acquire);
    const guint64 w = top_.load (std::memory_order_acquire);
    const guint32 tag = tag_of (w);
    /* half_wraps_ counts the tag's crossings of 0 and 2^31 and may lag the
     * word by one crossing (bumped after the CAS; read first), which the
     * tag's top bit reveals */
    if ((halves & 1) != (tag >> 31))
      halves++;
    *pushes = ((halves >> 1) << 32) | tag;
    *pops = *pushes - size_of (w);
  }
  /* Buffers in the stack, exact at the moment of the load. */
  size_t size () const noexcept { return size_of (top_.load (std::memory_order_relaxed)); }

private:
  static constexpr guint64 kFlag = 1;
  static guint32 head_of (guint64 w) noexcept { return guint32 (w >> 1) & 0x7fffu; }
  static guint32 size_of (guint64 w) noexcept { return guint32 (w >> 16) & 0xffffu; }
  static guint32 tag_of (guint64 w) noexcept { return guint32 (w >> 32); }
  static guint64 make (guint32 head, guint32 size, guint32 tag, guint64 flag) noexcept
  {
    return (guint64 (tag) << 32) | (guint64 (size) << 16) | (guint64 (head) << 1) | (flag & kFlag);
  }

  FreeNode *nodes_ = nullptr; /* by id, owned by FreeLists */
  alignas (64) std::atomic<guint64> top_{ 0 };
  std::atomic<guint64> half_wraps_{ 0 };
};

/* Why lock-free and not a mutex around two preallocated vectors: measured
 * in one session (2 M pop+push pairs, best of 5, three rounds, loaded
 * 2-vCPU host), these stacks took 11.4-11.8 ns per pop+push, a std::mutex
 * LIFO with the same order 16.1-25.4 ns: 5-14 ns of a 60-65 ns
 * acquire+release cycle, and a mutex makes a real-time streaming thread
 * wait behind a preempted holder. Figures in docs/bufferpool.md. */
/* The free buffers: two FreeStacks over one node array. Released buffers go
 * on `released`, buffers the pool made itself (preallocated, refilled) on
 * `spares`; an acquire takes from `released` first. So a buffer released is
 * the next one acquired, even when the refill thread adds a spare in
 * between (last in, first out holds for releases), and spares are used only
 * when no released buffer is free. Each id is in at most one of them. */
class FreeLists
{
public:
  /* Nodes for @capacity ids (clamped to 1..kMaxIds), or nullptr without memory. */
  static std::unique_ptr<FreeNode[]> make_nodes (guint32 *capacity) noexcept
  {
    *capacity = std::max<guint32> (1, std::min (*capacity, kMaxIds));
    return std::unique_ptr<FreeNode[]> (new (std::nothrow) FreeNode[*capacity]);
  }
  /* Only while nobody pushes or pops; both stacks must be empty. */
  void init (std::unique_ptr<FreeNode[]> nodes, guint32 capacity) noexcept
  {
    nodes_ = std::move (nodes);
    capacity_ = capacity;
    released_.init (nodes_.get ());
    spares_.init (nodes_.get ());
  }
  guint32 capacity () const noexcept { return capacity_; }

  /* (M) Before the first push of @id. */
  void set_buffer (guint32 id, GstBuffer *buf) noexcept { nodes_[id].buf = buf; }

  /* A release: on top of everything an acquire sees first. */
  void push (guint32 id, bool *wake) noexcept { released_.push (id, wake); }
  /* A buffer the pool made: below every released one. */
  void push_spare (guint32 id, bool *wake) noexcept { spares_.push (id, wake); }
  GstBuffer *pop () noexcept
  {
    GstBuffer *buf = released_.pop ();
    return G_LIKELY (buf) ? buf : spares_.pop ();
  }
  /* Set the sleeper flag on both; true when one was not empty (then do not
   * sleep: pop again). A push to either sees the flag, or we see its buffer. */
  bool announce_waiter () noexcept
  {
    return released_.announce_waiter () || spares_.announce_waiter ();
  }

  guint64 pushes () const noexcept
  {
    guint64 pushes, pops;
    counts (&pushes, &pops);
    return pushes;
  }
  guint64 pops () const noexcept
  {
    guint64 pushes, pops;
    counts (&pushes, &pops);
    return pops;
  }
  size_t size () const noexcept { return released_.size () + spares_.size (); }

private:
  void counts (guint64 *pushes, guint64 *pops) const noexcept
  {
    guint64 a_push, a_pop, b_push, b_pop;
    released_.counts (&a_push, &a_pop);
    spares_.counts (&b_push, &b_pop);
    *pushes = a_push + b_push;
    *pops = a_pop + b_pop;
  }
  std::unique_ptr<FreeNode[]> nodes_; /* by id */
  guint32 capacity_ = 0;
  FreeStack released_;
  FreeStack spares_;
};

} // namespace pool
} // namespace dmakit

#endif /* DMAKIT_POOL_FREELIST_H */
