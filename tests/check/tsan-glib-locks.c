/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linked into the test executables of ThreadSanitizer builds only.
 *
 * GLib and GStreamer are not built with TSan here, so TSan cannot see the
 * happens-before edges they create with their own futexes and atomics, and
 * reports false races on everything handed between threads through them.
 * The wrappers below interpose exported GLib/GStreamer entry points (the test
 * executable exports them, so every call that goes through the PLT binds here
 * first: calls from our library and plugin, from the tests, and from
 * libgstreamer/libgstbase/plugins into GLib), call the real function, and tell
 * TSan about the synchronization the real function performs. They change no
 * behaviour and model exactly what an instrumented GLib/GStreamer would show:
 *
 *  - GMutex/GRecMutex/GCond/GRWLock: acquire after lock, release before unlock
 *    (GRecMutex's lazily created pthread mutex is handed over like the lock
 *    itself; see g_rec_mutex_lock).
 *  - Reference counts (gst_mini_object_ref/unref, g_object_ref/unref, which
 *    gst_object_ref/unref end in): GLib's g_atomic_int_inc/dec_and_test are
 *    sequentially consistent read-modify-writes, i.e. an acquire plus a release
 *    on the refcount word. Modelling that lets TSan see that the thread which
 *    drops the last reference (and frees) comes after every earlier owner.
 *  - The quark table: GLib protects it with an internal lock that TSan cannot
 *    see; the wrappers serialise the quark calls that come through the PLT with
 *    a pthread mutex (visible to TSan). GLib holds its own lock there anyway.
 *
 * What stays invisible: calls inside libgstreamer do not go through the PLT,
 * so when libgstreamer drops the last reference itself (gst_bus_post, pad
 * pushes, sample and message finalization, ...) the final free cannot be
 * ordered after the other owners' accesses. The frees libgstreamer performs
 * itself (g_slice_free1 and g_free of its structures and of system memory,
 * and g_value_unset of plain values such as a message's strings and GErrors,
 * called straight from libgstreamer's code) are routed through functions
 * named dmakit_tsan_gstcore_*, so tests/check/suppressions/tsan.supp can name
 * exactly those frees and nothing else: our code's own frees, and frees of our
 * memory (allocator, pool) stay checked. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glib-object.h>
#include <gst/gst.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

void __tsan_acquire (void *addr);
void __tsan_release (void *addr);

#define EXPORT __attribute__ ((visibility ("default")))
/* The pointer to the real function is resolved on first use; concurrent first
 * uses store the same value, with atomics so that TSan sees no race here. */
#define REAL(name)                                                                            \
  static __typeof__ (name) *real_##name;                                                     \
  __typeof__ (name) *rp_##name = __atomic_load_n (&real_##name, __ATOMIC_ACQUIRE);          \
  if (G_UNLIKELY (!rp_##name)) {                                                              \
    rp_##name = (__typeof__ (name) *) dlsym (RTLD_NEXT, #name);                              \
    __atomic_store_n (&real_##name, rp_##name, __ATOMIC_RELEASE);                            \
  }

/* An atomic read-modify-write with acquire+release semantics on @addr. */
static inline void
tsan_acq_rel (void *addr)
{
  __tsan_acquire (addr);
  __tsan_release (addr);
}

EXPORT void
g_mutex_lock (GMutex *m)
{
  REAL (g_mutex_lock);
  rp_g_mutex_lock (m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_mutex_trylock (GMutex *m)
{
  REAL (g_mutex_trylock);
  gboolean ok = rp_g_mutex_trylock (m);
  if (ok)
    __tsan_acquire (m);
  return ok;
}

EXPORT void
g_mutex_unlock (GMutex *m)
{
  REAL (g_mutex_unlock);
  __tsan_release (m);
  rp_g_mutex_unlock (m);
}

/* GRecMutex (unlike GMutex) is a pthread mutex that GLib allocates lazily and
 * publishes with an atomic pointer exchange, invisible to TSan: the thread that
 * locks it first on another thread would see a race between the allocation and
 * pthread_mutex_lock's access. Acquiring before the real lock makes the
 * publication visible (every earlier unlock already happened). */
EXPORT void
g_rec_mutex_lock (GRecMutex *m)
{
  REAL (g_rec_mutex_lock);
  __tsan_acquire (m);
  rp_g_rec_mutex_lock (m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_rec_mutex_trylock (GRecMutex *m)
{
  REAL (g_rec_mutex_trylock);
  __tsan_acquire (m);
  gboolean ok = rp_g_rec_mutex_trylock (m);
  if (ok)
    __tsan_acquire (m);
  return ok;
}

EXPORT void
g_rec_mutex_init (GRecMutex *m)
{
  REAL (g_rec_mutex_init);
  rp_g_rec_mutex_init (m);
  __tsan_release (m);
}

EXPORT void
g_rec_mutex_unlock (GRecMutex *m)
{
  REAL (g_rec_mutex_unlock);
  __tsan_release (m);
  rp_g_rec_mutex_unlock (m);
}

EXPORT void
g_cond_wait (GCond *c, GMutex *m)
{
  REAL (g_cond_wait);
  __tsan_release (m);
  rp_g_cond_wait (c, m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_cond_wait_until (GCond *c, GMutex *m, gint64 end_time)
{
  REAL (g_cond_wait_until);
  __tsan_release (m);
  gboolean r = rp_g_cond_wait_until (c, m, end_time);
  __tsan_acquire (m);
  return r;
}

EXPORT void
g_rw_lock_writer_lock (GRWLock *l)
{
  REAL (g_rw_lock_writer_lock);
  rp_g_rw_lock_writer_lock (l);
  __tsan_acquire (l);
}

EXPORT void
g_rw_lock_writer_unlock (GRWLock *l)
{
  REAL (g_rw_lock_writer_unlock);
  __tsan_release (l);
  rp_g_rw_lock_writer_unlock (l);
}

EXPORT void
g_rw_lock_reader_lock (GRWLock *l)
{
  REAL (g_rw_lock_reader_lock);
  rp_g_rw_lock_reader_lock (l);
  __tsan_acquire (l);
}

EXPORT void
g_rw_lock_reader_unlock (GRWLock *l)
{
  REAL (g_rw_lock_reader_unlock);
  __tsan_release (l);
  rp_g_rw_lock_reader_unlock (l);
}

/* Reference counts. The annotation comes before the real call: an unref may
 * free the object. */
EXPORT GstMiniObject *
gst_mini_object_ref (GstMiniObject *obj)
{
  REAL (gst_mini_object_ref);
  if (obj)
    tsan_acq_rel (&obj->refcount);
  return rp_gst_mini_object_ref (obj);
}

EXPORT void
gst_mini_object_unref (GstMiniObject *obj)
{
  REAL (gst_mini_object_unref);
  if (obj)
    tsan_acq_rel (&obj->refcount);
  rp_gst_mini_object_unref (obj);
}

EXPORT gpointer (g_object_ref) (gpointer obj)
{
  REAL (g_object_ref);
  if (obj)
    tsan_acq_rel ((gpointer) &G_OBJECT (obj)->ref_count);
  return rp_g_object_ref (obj);
}

EXPORT void
g_object_unref (gpointer obj)
{
  REAL (g_object_unref);
  if (obj)
    tsan_acq_rel ((gpointer) &G_OBJECT (obj)->ref_count);
  rp_g_object_unref (obj);
}

/* The quark table. */
static pthread_mutex_t quark_lock = PTHREAD_MUTEX_INITIALIZER;

#define QUARK_WRAP(ret, name, arg_type)                                                       \
  EXPORT ret name (arg_type arg)                                                             \
  {                                                                                          \
    REAL (name);                                                                             \
    pthread_mutex_lock (&quark_lock);                                                        \
    ret r = rp_##name (arg);                                                                 \
    pthread_mutex_unlock (&quark_lock);                                                      \
    return r;                                                                                \
  }

QUARK_WRAP (GQuark, g_quark_from_string, const gchar *)
QUARK_WRAP (GQuark, g_quark_from_static_string, const gchar *)
QUARK_WRAP (GQuark, g_quark_try_string, const gchar *)
QUARK_WRAP (const gchar *, g_quark_to_string, GQuark)
QUARK_WRAP (const gchar *, g_intern_string, const gchar *)
QUARK_WRAP (const gchar *, g_intern_static_string, const gchar *)

/* Frees performed by libgstreamer itself. */
static uintptr_t gstcore_lo, gstcore_hi;
static pthread_once_t gstcore_once = PTHREAD_ONCE_INIT;

static int
find_gstcore (struct dl_phdr_info *info, size_t size, void *data)
{
  (void) size;
  (void) data;
  if (!info->dlpi_name || !strstr (info->dlpi_name, "/libgstreamer-1.0.so"))
    return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW (Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
      gstcore_lo = info->dlpi_addr + ph->p_vaddr;
      gstcore_hi = gstcore_lo + ph->p_memsz;
    }
  }
  return 1;
}

static void
init_gstcore (void)
{
  dl_iterate_phdr (find_gstcore, NULL);
}

/* TRUE when @ret (a return address) lies in libgstreamer's code. */
static int
called_from_gstcore (void *ret)
{
  pthread_once (&gstcore_once, init_gstcore);
  const uintptr_t a = (uintptr_t) ret;
  return a >= gstcore_lo && a < gstcore_hi;
}

/* Each dmakit_tsan_gstcore_* function calls a second, instrumented function,
 * so that its name is a frame of TSan's stack (TSan records call sites). */
__attribute__ ((noinline)) static void
call_slice_free1 (gsize size, gpointer mem)
{
  REAL (g_slice_free1);
  rp_g_slice_free1 (size, mem);
}

__attribute__ ((noinline)) void
dmakit_tsan_gstcore_slice_free1 (gsize size, gpointer mem)
{
  call_slice_free1 (size, mem);
}

EXPORT void
g_slice_free1 (gsize size, gpointer mem)
{
  if (called_from_gstcore (__builtin_return_address (0)))
    dmakit_tsan_gstcore_slice_free1 (size, mem);
  else
    call_slice_free1 (size, mem);
}

__attribute__ ((noinline)) static void
call_free (gpointer mem)
{
  REAL (g_free);
  rp_g_free (mem);
}

__attribute__ ((noinline)) void
dmakit_tsan_gstcore_free (gpointer mem)
{
  call_free (mem);
}

EXPORT void
g_free (gpointer mem)
{
  if (called_from_gstcore (__builtin_return_address (0)))
    dmakit_tsan_gstcore_free (mem);
  else
    call_free (mem);
}

__attribute__ ((noinline)) static void
call_value_unset (GValue *value)
{
  REAL (g_value_unset);
  rp_g_value_unset (value);
}

__attribute__ ((noinline)) void
dmakit_tsan_gstcore_value_unset (GValue *value)
{
  call_value_unset (value);
}

/* Only plain values (strings, GErrors, ...) are tagged: a value holding an
 * object or a mini object (a buffer, a sample, caps) ends in the annotated
 * unrefs above, and whatever that runs (our pool's release_buffer, say) must
 * stay checked. */
EXPORT void
g_value_unset (GValue *value)
{
  const GType fundamental = value ? G_TYPE_FUNDAMENTAL (G_VALUE_TYPE (value)) : G_TYPE_INVALID;
  const gboolean plain =
      fundamental == G_TYPE_STRING
      || (fundamental == G_TYPE_BOXED && G_VALUE_TYPE (value) == G_TYPE_ERROR);
  if (plain && called_from_gstcore (__builtin_return_address (0)))
    dmakit_tsan_gstcore_value_unset (value);
  else
    call_value_unset (value);
}
