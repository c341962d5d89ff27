/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linked into the test executables of ThreadSanitizer builds only.
 *
 * GLib's GMutex/GRecMutex/GCond are built on raw futexes, and GLib is not
 * instrumented here, so TSan cannot see the happens-before edges that
 * GST_OBJECT_LOCK and friends create, and reports false races on everything
 * protected by them. These wrappers interpose the GLib entry points (the test
 * executable exports them, so calls from libgstreamer and from our code bind
 * here first), call the real function, and tell TSan about the acquire and
 * release. They change no locking behaviour. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glib.h>

void __tsan_acquire (void *addr);
void __tsan_release (void *addr);

#define EXPORT __attribute__ ((visibility ("default")))
#define REAL(name)                                                                            \
  static __typeof__ (name) *real_##name;                                                     \
  if (G_UNLIKELY (!real_##name))                                                             \
    real_##name = (__typeof__ (name) *) dlsym (RTLD_NEXT, #name);

EXPORT void
g_mutex_lock (GMutex *m)
{
  REAL (g_mutex_lock);
  real_g_mutex_lock (m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_mutex_trylock (GMutex *m)
{
  REAL (g_mutex_trylock);
  gboolean ok = real_g_mutex_trylock (m);
  if (ok)
    __tsan_acquire (m);
  return ok;
}

EXPORT void
g_mutex_unlock (GMutex *m)
{
  REAL (g_mutex_unlock);
  __tsan_release (m);
  real_g_mutex_unlock (m);
}

EXPORT void
g_rec_mutex_lock (GRecMutex *m)
{
  REAL (g_rec_mutex_lock);
  real_g_rec_mutex_lock (m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_rec_mutex_trylock (GRecMutex *m)
{
  REAL (g_rec_mutex_trylock);
  gboolean ok = real_g_rec_mutex_trylock (m);
  if (ok)
    __tsan_acquire (m);
  return ok;
}

EXPORT void
g_rec_mutex_unlock (GRecMutex *m)
{
  REAL (g_rec_mutex_unlock);
  __tsan_release (m);
  real_g_rec_mutex_unlock (m);
}

EXPORT void
g_cond_wait (GCond *c, GMutex *m)
{
  REAL (g_cond_wait);
  __tsan_release (m);
  real_g_cond_wait (c, m);
  __tsan_acquire (m);
}

EXPORT gboolean
g_cond_wait_until (GCond *c, GMutex *m, gint64 end_time)
{
  REAL (g_cond_wait_until);
  __tsan_release (m);
  gboolean r = real_g_cond_wait_until (c, m, end_time);
  __tsan_acquire (m);
  return r;
}

EXPORT void
g_rw_lock_writer_lock (GRWLock *l)
{
  REAL (g_rw_lock_writer_lock);
  real_g_rw_lock_writer_lock (l);
  __tsan_acquire (l);
}

EXPORT void
g_rw_lock_writer_unlock (GRWLock *l)
{
  REAL (g_rw_lock_writer_unlock);
  __tsan_release (l);
  real_g_rw_lock_writer_unlock (l);
}

EXPORT void
g_rw_lock_reader_lock (GRWLock *l)
{
  REAL (g_rw_lock_reader_lock);
  real_g_rw_lock_reader_lock (l);
  __tsan_acquire (l);
}

EXPORT void
g_rw_lock_reader_unlock (GRWLock *l)
{
  REAL (g_rw_lock_reader_unlock);
  __tsan_release (l);
  real_g_rw_lock_reader_unlock (l);
}
