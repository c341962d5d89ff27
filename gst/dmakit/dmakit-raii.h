/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit-raii.h: private C++ helpers shared by the library and the plugin.
 *
 * Not installed. Everything here is header-only, noexcept and non-throwing so
 * it can be used inside GObject vfuncs and meta callbacks.
 *
 *  - dmakit::ObjectRef<T>      owning ref of a GstObject (gst_object_ref/unref)
 *  - dmakit::GObjectRef<T>     owning ref of a plain GObject (g_object_ref/unref)
 *  - dmakit::MiniObjectRef<T>  owning ref of a GstMiniObject (buffer, caps, memory, ...)
 *  - dmakit::ObjectLocker      scoped GST_OBJECT_LOCK, non-copyable, [[nodiscard]]
 *  - dmakit::MappedMemory      scoped gst_memory_map
 *  - dmakit::MappedBuffer      scoped gst_buffer_map
 *  - dmakit::MappedVideoFrame  scoped gst_video_frame_map
 *  - dmakit::UniqueFd          owning file descriptor
 *  - dmakit::GFreePtr<T>       owning g_free()d pointer; GErrorPtr owning GError
 */
#ifndef GST_DMAKIT_RAII_H
#define GST_DMAKIT_RAII_H

#ifndef __cplusplus
#error "dmakit-raii.h is C++ only"
#endif

#include <gst/gst.h>
#include <gst/video/video.h>

#include <unistd.h>
#include <utility>

namespace dmakit {

/* ---- owning references ------------------------------------------------ */

struct GstObjectTraits {
  static void ref (gpointer p) noexcept { gst_object_ref (p); }
  static void unref (gpointer p) noexcept { gst_object_unref (p); }
};
struct GObjectTraits {
  static void ref (gpointer p) noexcept { g_object_ref (p); }
  static void unref (gpointer p) noexcept { g_object_unref (p); }
};
struct MiniObjectTraits {
  static void ref (gpointer p) noexcept { gst_mini_object_ref (GST_MINI_OBJECT_CAST (p)); }
  static void unref (gpointer p) noexcept { gst_mini_object_unref (GST_MINI_OBJECT_CAST (p)); }
};

/* Owns one reference. Construct with adopt() to take over a reference you
 * already own (transfer full), or with ref() to take a new one. */
template <typename T, typename Traits> class Ref
{
public:
  constexpr Ref () noexcept = default;
  constexpr Ref (std::nullptr_t) noexcept {}
  Ref (const Ref &other) noexcept : ptr_ (other.ptr_)
  {
    if (ptr_)
      Traits::ref (ptr_);
  }
  Ref (Ref &&other) noexcept : ptr_ (std::exchange (other.ptr_, nullptr)) {}
  ~Ref () { reset (); }

  Ref &operator= (const Ref &other) noexcept
  {
    if (this != &other) {
      T *old = std::exchange (ptr_, other.ptr_);
      if (ptr_)
        Traits::ref (ptr_);
      if (old)
        Traits::unref (old);
    }
    return *this;
  }
  Ref &operator= (Ref &&other) noexcept
  {
    if (this != &other) {
      T *old = std::exchange (ptr_, std::exchange (other.ptr_, nullptr));
      if (old)
        Traits::unref (old);
    }
    return *this;
  }

  /* Take over a reference the caller owns. */
  [[nodiscard]] static Ref adopt (T *p) noexcept
  {
    Ref r;
    r.ptr_ = p;
    return r;
  }
  /* Take a new reference (p may be NULL). */
  [[nodiscard]] static Ref ref (T *p) noexcept
  {
    Ref r;
    r.ptr_ = p;
    if (p)
      Traits::ref (p);
    return r;
  }

  void reset (T *adopted = nullptr) noexcept
  {
    T *old = std::exchange (ptr_, adopted);
    if (old)
      Traits::unref (old);
  }
  /* Give the reference away (transfer full). */
  [[nodiscard]] T *release () noexcept { return std::exchange (ptr_, nullptr); }

  T *get () const noexcept { return ptr_; }
  T *operator->() const noexcept { return ptr_; }
  explicit operator bool () const noexcept { return ptr_ != nullptr; }

private:
  T *ptr_ = nullptr;
};

template <typename T> using ObjectRef = Ref<T, GstObjectTraits>;
template <typename T> using GObjectRef = Ref<T, GObjectTraits>;
template <typename T> using MiniObjectRef = Ref<T, MiniObjectTraits>;
using BufferRef = MiniObjectRef<GstBuffer>;
using CapsRef = MiniObjectRef<GstCaps>;
using MemoryRef = MiniObjectRef<GstMemory>;

/* ---- scoped object lock -------------------------------------------------- */

class [[nodiscard]] ObjectLocker
{
public:
  explicit ObjectLocker (gpointer object) noexcept : obj_ (GST_OBJECT_CAST (object))
  {
    GST_OBJECT_LOCK (obj_);
  }
  ~ObjectLocker () { GST_OBJECT_UNLOCK (obj_); }
  ObjectLocker (const ObjectLocker &) = delete;
  ObjectLocker &operator= (const ObjectLocker &) = delete;
  ObjectLocker (ObjectLocker &&) = delete;
  ObjectLocker &operator= (ObjectLocker &&) = delete;

private:
  GstObject *obj_;
};

/* ---- mapping guards --------------------------------------------------------- */

class [[nodiscard]] MappedMemory
{
public:
  MappedMemory (GstMemory *mem, GstMapFlags flags) noexcept : mem_ (mem)
  {
    ok_ = mem_ && gst_memory_map (mem_, &info_, flags);
  }
  ~MappedMemory ()
  {
    if (ok_)
      gst_memory_unmap (mem_, &info_);
  }
  MappedMemory (const MappedMemory &) = delete;
  MappedMemory &operator= (const MappedMemory &) = delete;

  explicit operator bool () const noexcept { return ok_; }
  guint8 *data () const noexcept { return ok_ ? info_.data : nullptr; }
  gsize size () const noexcept { return ok_ ? info_.size : 0; }

private:
  GstMemory *mem_;
  GstMapInfo info_ = GST_MAP_INFO_INIT;
  bool ok_ = false;
};

class [[nodiscard]] MappedBuffer
{
public:
  MappedBuffer (GstBuffer *buf, GstMapFlags flags) noexcept : buf_ (buf)
  {
    ok_ = buf_ && gst_buffer_map (buf_, &info_, flags);
  }
  ~MappedBuffer ()
  {
    if (ok_)
      gst_buffer_unmap (buf_, &info_);
  }
  MappedBuffer (const MappedBuffer &) = delete;
  MappedBuffer &operator= (const MappedBuffer &) = delete;

  explicit operator bool () const noexcept { return ok_; }
  guint8 *data () const noexcept { return ok_ ? info_.data : nullptr; }
  gsize size () const noexcept { return ok_ ? info_.size : 0; }

private:
  GstBuffer *buf_;
  GstMapInfo info_ = GST_MAP_INFO_INIT;
  bool ok_ = false;
};

class [[nodiscard]] MappedVideoFrame
{
public:
  MappedVideoFrame (const GstVideoInfo *info, GstBuffer *buf, GstMapFlags flags) noexcept
  {
    ok_ = buf && gst_video_frame_map (&frame_, const_cast<GstVideoInfo *> (info), buf, flags);
  }
  ~MappedVideoFrame ()
  {
    if (ok_)
      gst_video_frame_unmap (&frame_);
  }
  MappedVideoFrame (const MappedVideoFrame &) = delete;
  MappedVideoFrame &operator= (const MappedVideoFrame &) = delete;

  explicit operator bool () const noexcept { return ok_; }
  GstVideoFrame *get () noexcept { return ok_ ? &frame_ : nullptr; }
  const GstVideoFrame *get () const noexcept { return ok_ ? &frame_ : nullptr; }

private:
  GstVideoFrame frame_{};
  bool ok_ = false;
};

/* ---- file descriptors ---------------------------------------------------- */

class UniqueFd
{
public:
  constexpr UniqueFd () noexcept = default;
  explicit UniqueFd (int fd) noexcept : fd_ (fd) {}
  UniqueFd (UniqueFd &&other) noexcept : fd_ (std::exchange (other.fd_, -1)) {}
  UniqueFd &operator= (UniqueFd &&other) noexcept
  {
    if (this != &other)
      reset (std::exchange (other.fd_, -1));
    return *this;
  }
  UniqueFd (const UniqueFd &) = delete;
  UniqueFd &operator= (const UniqueFd &) = delete;
  ~UniqueFd () { reset (); }

  void reset (int fd = -1) noexcept
  {
    int old = std::exchange (fd_, fd);
    if (old >= 0)
      ::close (old);
  }
  [[nodiscard]] int release () noexcept { return std::exchange (fd_, -1); }
  int get () const noexcept { return fd_; }
  bool valid () const noexcept { return fd_ >= 0; }
  explicit operator bool () const noexcept { return fd_ >= 0; }

private:
  int fd_ = -1;
};

/* ---- GLib allocations ------------------------------------------------------ */

template <typename T> class GFreePtr
{
public:
  constexpr GFreePtr () noexcept = default;
  explicit GFreePtr (T *p) noexcept : p_ (p) {}
  GFreePtr (GFreePtr &&o) noexcept : p_ (std::exchange (o.p_, nullptr)) {}
  GFreePtr &operator= (GFreePtr &&o) noexcept
  {
    if (this != &o) {
      g_free (p_);
      p_ = std::exchange (o.p_, nullptr);
    }
    return *this;
  }
  GFreePtr (const GFreePtr &) = delete;
  GFreePtr &operator= (const GFreePtr &) = delete;
  ~GFreePtr () { g_free (p_); }

  T *get () const noexcept { return p_; }
  [[nodiscard]] T *release () noexcept { return std::exchange (p_, nullptr); }
  void reset (T *p = nullptr) noexcept { g_free (std::exchange (p_, p)); }
  explicit operator bool () const noexcept { return p_ != nullptr; }

private:
  T *p_ = nullptr;
};
using GCharPtr = GFreePtr<gchar>;

class GErrorPtr
{
public:
  GErrorPtr () noexcept = default;
  GErrorPtr (const GErrorPtr &) = delete;
  GErrorPtr &operator= (const GErrorPtr &) = delete;
  ~GErrorPtr () { g_clear_error (&err_); }

  /* For passing as a GError ** out-argument. */
  GError **out () noexcept
  {
    g_clear_error (&err_);
    return &err_;
  }
  GError *get () const noexcept { return err_; }
  GError *operator->() const noexcept { return err_; }
  [[nodiscard]] GError *release () noexcept { return std::exchange (err_, nullptr); }
  explicit operator bool () const noexcept { return err_ != nullptr; }

private:
  GError *err_ = nullptr;
};

} // namespace dmakit

#endif /* GST_DMAKIT_RAII_H */
