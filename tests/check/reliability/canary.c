/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Negative controls: each checker tier must be able to fail. Every mode does
 * one deliberate bug that its tier has to catch; meson declares these tests
 * with should_fail, so the tier is green only when the checker reports it.
 * A checker that stopped working (a broken setup, a suppression that hides
 * too much) turns the canary into an unexpected pass: a failure.
 *
 *   leak, overflow              AddressSanitizer/LeakSanitizer (asan builds)
 *   ubsan                       UndefinedBehaviorSanitizer (the asan build has
 *                               it too): a signed integer overflow
 *   race                        ThreadSanitizer: a plain data race
 *   race-locks                  ThreadSanitizer: one variable written under
 *                               two different GMutexes (the GLib lock
 *                               annotations of tsan-glib-locks.c must not
 *                               order what the locks do not order)
 *   race-refs                   ThreadSanitizer: two owners of one GstBuffer
 *                               write its PTS unsynchronized (the refcount
 *                               annotations must not order that either)
 *   valgrind-leak, valgrind-overflow
 *                               valgrind memcheck; without valgrind these
 *                               exit 77 (skip), unless DMAKIT_VALGRIND_TIER
 *                               says valgrind should be there: then they exit
 *                               0, an unexpected pass, so that a valgrind tier
 *                               that runs nothing under valgrind fails. */
#include <gst/gst.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* UBSan recovers by default; the asan setup sets halt_on_error=1, and so does
 * this (for a plain `meson test` in the asan build). */
__attribute__ ((visibility ("default"))) const char *__ubsan_default_options (void);
__attribute__ ((visibility ("default"))) const char *
__ubsan_default_options (void)
{
  return "halt_on_error=1:print_stacktrace=1";
}

static void *volatile g_sink;
static volatile int g_big = G_MAXINT;
static volatile int g_index = 16;
static int g_shared;
static GMutex g_lock_a, g_lock_b;
static pthread_barrier_t g_barrier;

static void
leak (void)
{
  g_sink = g_malloc (4096);
  memset (g_sink, 1, 4096);
  g_sink = NULL; /* the last pointer is gone: definitely lost */
}

static void
overflow (void)
{
  char *p = g_malloc (16);
  p[g_index] = 1; /* one byte past the end */
  g_sink = p;
  g_free (p);
  g_sink = NULL;
}

static void *
racer (void *arg)
{
  pthread_barrier_wait (&g_barrier);
  g_shared += GPOINTER_TO_INT (arg);
  return NULL;
}

static void *
racer_locked (void *arg)
{
  GMutex *m = arg;
  pthread_barrier_wait (&g_barrier);
  g_mutex_lock (m);
  g_shared++;
  g_mutex_unlock (m);
  return NULL;
}

static void *
racer_buffer (void *arg)
{
  GstBuffer *buf = arg; /* this thread owns one reference */
  pthread_barrier_wait (&g_barrier);
  GST_BUFFER_PTS (buf) = GST_SECOND;
  gst_buffer_unref (buf);
  return NULL;
}

static int
two_threads (void *(*fn) (void *), void *a, void *b)
{
  pthread_t t1, t2;
  pthread_barrier_init (&g_barrier, NULL, 2);
  pthread_create (&t1, NULL, fn, a);
  pthread_create (&t2, NULL, fn, b);
  pthread_join (t1, NULL);
  pthread_join (t2, NULL);
  pthread_barrier_destroy (&g_barrier);
  return 0;
}

static gboolean
under_valgrind (void)
{
  gchar *maps = NULL;
  gboolean yes = FALSE;
  if (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL)) {
    yes = strstr (maps, "vgpreload") != NULL;
    g_free (maps);
  }
  return yes;
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (g_str_has_prefix (mode, "valgrind-")) {
    if (!under_valgrind ()) {
      if (g_getenv ("DMAKIT_VALGRIND_TIER")) {
        printf ("the valgrind tier ran this canary without valgrind: nothing is checked\n");
        return 0;
      }
      printf ("SKIP: not running under valgrind\n");
      return 77;
    }
    mode += strlen ("valgrind-");
  }
  printf ("canary %s: this test must be reported by its checker\n", argv[1]);
  fflush (stdout);
  if (!strcmp (mode, "leak")) {
    leak ();
  } else if (!strcmp (mode, "overflow")) {
    overflow ();
  } else if (!strcmp (mode, "ubsan")) {
    g_sink = GINT_TO_POINTER (g_big + 1); /* signed overflow: undefined */
  } else if (!strcmp (mode, "race")) {
    two_threads (racer, GINT_TO_POINTER (1), GINT_TO_POINTER (2));
  } else if (!strcmp (mode, "race-locks")) {
    two_threads (racer_locked, &g_lock_a, &g_lock_b);
  } else if (!strcmp (mode, "race-refs")) {
    gst_init (&argc, &argv);
    GstBuffer *buf = gst_buffer_new ();
    gst_buffer_ref (buf);
    two_threads (racer_buffer, buf, buf);
  } else {
    printf ("unknown mode %s\n", mode);
    return 0; /* an unexpected pass: fails the should_fail test */
  }
  printf ("canary %s: done, nothing reported so far\n", argv[1]);
  return 0;
}
