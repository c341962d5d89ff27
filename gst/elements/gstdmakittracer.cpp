/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakittracer.cpp: the `dmakit` tracer.
 *
 * Enabled with GST_TRACERS=dmakit (params: "dmakit(print=false,post=true)").
 * Works on any pipeline. For every buffer pushed (or pulled) across a link it
 * records:
 *  - on the link (the real source pad): buffers, bytes, the memory kind
 *    (DMA-BUF, fd, system, other) and the pool the buffer came from;
 *  - on the element downstream: a snapshot of the buffer's memories (their
 *    root memory, following GstMemory::parent for gst_memory_share() subsets);
 *  - on the element upstream: whether the buffer leaving it carries memory that
 *    entered it (same streaming thread: compared with the last two inputs seen
 *    by this thread; other thread, e.g. a queue: compared with a ring of the
 *    last inputs). Memory that did not come in is a copy; its size is counted.
 * At EOS of a top-level pipeline, and when it goes from PAUSED to READY with
 * unreported data, it prints a compact table and posts an element message
 * "dmakit-tracer-report" from the pipeline. Counters restart after a report.
 *
 * Files: gstdmakittracer.cpp (this one: the GstTracer and its hooks),
 * dmakittracer-state.{h,cpp} (what is kept and the recording on the hot
 * path), dmakittracer-report.{h,cpp} (the table and the message). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdmakittracer.h"

#include "dmakittracer-report.h"
#include "dmakittracer-state.h"

#include <exception>
#include <string>
#include <utility>

using namespace dmakit;
using namespace dmakit::tracer;

/* The hooks are called from C: an exception (std::bad_alloc from the state
 * or the report) stops here, logged; the buffer, query or message goes on. */
template <typename F>
static inline void
guarded (F &&f) noexcept
{
  try {
    f ();
  } catch (const std::exception &e) {
    GST_WARNING ("dmakit tracer: %s; this event is not recorded", e.what ());
  } catch (...) {
    GST_WARNING ("dmakit tracer: unknown exception; this event is not recorded");
  }
}

/* ---- GObject instance ---------------------------------------------------- */

/* Settings are fixed at construction (from the "params" string). */
struct GstDmakitTracerImpl {
  gboolean print = TRUE;
  gboolean post = TRUE;
  bool active = false; /* the one instance that registered the hooks */
};

struct _GstDmakitTracer {
  GstTracer parent;
  GstDmakitTracerImpl *impl;
};

GST_DEBUG_CATEGORY (gst_dmakit_tracer_debug);
G_DEFINE_TYPE_WITH_CODE (GstDmakitTracer, gst_dmakit_tracer, GST_TYPE_TRACER,
                         GST_DEBUG_CATEGORY_INIT (gst_dmakit_tracer_debug, "dmakittracer", 0,
                                                  "dmakit memory/copy/pool tracer"));

static std::atomic<GstDmakitTracer *> active_tracer{ nullptr };

/* Out of memory ends the process, as in GLib: noexcept turns a bad_alloc
 * into std::terminate instead of an exception unwinding through C. */
static GstDmakitTracerImpl *
new_impl () noexcept
{
  return new GstDmakitTracerImpl ();
}

static void
report_of (GstDmakitTracer *self, GstElement *pipeline, const char *reason)
{
  report_pipeline (pipeline, reason, self->impl->print, self->impl->post);
}

/* ---- hooks ------------------------------------------------------------------ */

static void
hook_pad_push_pre (GObject *, GstClockTime, GstPad *pad, GstBuffer *buf) noexcept
{
  guarded ([&] {
    if (G_UNLIKELY (!buf))
      return;
    on_push (pad, buf, thread_state (), false);
  });
}

static void
hook_pad_push_list_pre (GObject *, GstClockTime, GstPad *pad, GstBufferList *list) noexcept
{
  guarded ([&] {
    if (G_UNLIKELY (!list))
      return;
    ThreadState *ts = thread_state ();
    guint n = gst_buffer_list_length (list);
    for (guint i = 0; i < n; i++)
      on_push (pad, gst_buffer_list_get (list, i), ts, i > 0);
  });
}

/* @pad pulled @buf from its peer (pull mode). */
static void
hook_pad_pull_range_post (GObject *, GstClockTime, GstPad *pad, GstBuffer *buf,
                          GstFlowReturn res) noexcept
{
  guarded ([&] {
    if (res != GST_FLOW_OK || !buf)
      return;
    ThreadState *ts = thread_state ();
    BufferInfo bi;
    buffer_info_fill (bi, buf, nullptr);
    /* upstream first: the peer source pad produced it */
    if (GstPad *peer = gst_pad_get_peer (pad)) {
      if (!GST_IS_PROXY_PAD (peer)) {
        PadState *pps = pad_state_ensure (peer, nullptr);
        if (pps->element) {
          record_output (pps->element, ts, bi);
          record_link (pps, buf, bi);
        }
      }
      gst_object_unref (peer);
    }
    PadState *ps = pad_state_get (pad);
    if (G_UNLIKELY (!ps))
      ps = pad_state_ensure (pad, nullptr);
    if (ps->element)
      record_input (ps->element, ts, bi, false);
  });
}

static void
hook_element_new (GObject *, GstClockTime, GstElement *element) noexcept
{
  guarded ([&] { element_state_ensure (element); });
}

static void
hook_element_add_pad (GObject *, GstClockTime, GstElement *element, GstPad *pad) noexcept
{
  guarded ([&] {
    if (element && pad)
      pad_state_ensure (pad, element);
  });
}

static void
mark_dirty (GstPad *pad) noexcept
{
  if (!pad)
    return;
  if (PadState *ps = pad_state_get (pad))
    ps->peer_dirty.store (true, std::memory_order_relaxed);
}

static void
hook_pad_link_post (GObject *, GstClockTime, GstPad *srcpad, GstPad *sinkpad,
                    GstPadLinkReturn) noexcept
{
  mark_dirty (srcpad);
  mark_dirty (sinkpad);
}

static void
hook_pad_unlink_post (GObject *, GstClockTime, GstPad *srcpad, GstPad *sinkpad, gboolean) noexcept
{
  mark_dirty (srcpad);
  mark_dirty (sinkpad);
}

/* The pools a downstream element proposes in answer to an ALLOCATION query. */
static void
hook_pad_query_post (GObject *, GstClockTime, GstPad *pad, GstQuery *query, gboolean res) noexcept
{
  guarded ([&] {
    if (G_LIKELY (GST_QUERY_TYPE (query) != GST_QUERY_ALLOCATION) || !res)
      return;
    if (GST_IS_PROXY_PAD (pad))
      return; /* the real pad behind it answers too */
    PadState *ps = pad_state_ensure (pad, nullptr);
    guint n = gst_query_get_n_allocation_pools (query);
    for (guint i = 0; i < n; i++) {
      GstBufferPool *pool = nullptr;
      guint size = 0, min = 0, max = 0;
      gst_query_parse_nth_allocation_pool (query, i, &pool, &size, &min, &max);
      if (!pool)
        continue;
      auto owned = ObjectRef<GstBufferPool>::adopt (pool);
      GST_DEBUG_OBJECT (pad, "proposes pool %" GST_PTR_FORMAT " size %u min %u max %u", pool, size,
                        min, max);
      std::vector<ObjectRef<GstBufferPool>> seen; /* dropped after the lock */
      std::lock_guard<std::mutex> lk (creation_lock);
      guint slot = ps->n_proposals;
      for (guint j = 0; j < ps->n_proposals; j++) {
        auto known = ObjectRef<GstBufferPool>::adopt (
            static_cast<GstBufferPool *> (g_weak_ref_get (&ps->proposals[j].pool)));
        bool same = known.get () == pool || !known;
        seen.push_back (std::move (known));
        if (same) {
          slot = j;
          break;
        }
      }
      if (slot >= kMaxProposals)
        slot = kMaxProposals - 1;
      g_weak_ref_set (&ps->proposals[slot].pool, pool);
      ps->proposals[slot].size = size;
      ps->proposals[slot].min = min;
      ps->proposals[slot].max = max;
      ps->n_proposals = MAX (ps->n_proposals, slot + 1);
    }
  });
}

static void
hook_pool_buffer_queued (GObject *, GstClockTime, GstBufferPool *pool, GstBuffer *) noexcept
{
  guarded ([&] {
    if (pool)
      bump (pool_counters_ensure (pool)->queued);
  });
}

static void
hook_pool_buffer_dequeued (GObject *, GstClockTime, GstBufferPool *pool, GstBuffer *) noexcept
{
  guarded ([&] {
    if (pool)
      bump (pool_counters_ensure (pool)->dequeued);
  });
}

static inline bool
is_top_level_bin (GstElement *element) noexcept
{
  return GST_IS_BIN (element) && GST_OBJECT_PARENT (element) == nullptr;
}

static void
hook_element_post_message_pre (GObject *self, GstClockTime, GstElement *element,
                               GstMessage *message) noexcept
{
  guarded ([&] {
    if (G_LIKELY (GST_MESSAGE_TYPE (message) != GST_MESSAGE_EOS))
      return;
    if (!element || !is_top_level_bin (element))
      return;
    /* posted before the EOS message itself, so an application that stops at EOS
     * has the report on its bus already */
    report_of (GST_DMAKIT_TRACER (self), element, "eos");
  });
}

static void
hook_element_change_state_post (GObject *self, GstClockTime, GstElement *element,
                                GstStateChange transition, GstStateChangeReturn result) noexcept
{
  guarded ([&] {
    if (G_LIKELY (transition != GST_STATE_CHANGE_PAUSED_TO_READY))
      return;
    if (result == GST_STATE_CHANGE_FAILURE || !is_top_level_bin (element))
      return;
    /* streaming has stopped; report what flowed since the last report (the bus
     * is flushed only on READY -> NULL) */
    report_of (GST_DMAKIT_TRACER (self), element, "shutdown");
  });
}

/* ---- GObject ----------------------------------------------------------------------------- */

static bool
parse_bool (const GValue *v, gboolean *out) noexcept
{
  if (G_VALUE_HOLDS_BOOLEAN (v)) {
    *out = g_value_get_boolean (v);
    return true;
  }
  if (G_VALUE_HOLDS_INT (v)) {
    *out = g_value_get_int (v) != 0;
    return true;
  }
  if (G_VALUE_HOLDS_STRING (v)) {
    const gchar *s = g_value_get_string (v);
    if (!g_ascii_strcasecmp (s, "yes") || !g_ascii_strcasecmp (s, "on")) {
      *out = TRUE;
      return true;
    }
    if (!g_ascii_strcasecmp (s, "no") || !g_ascii_strcasecmp (s, "off")) {
      *out = FALSE;
      return true;
    }
  }
  return false;
}

static void
gst_dmakit_tracer_parse_params (GstDmakitTracer *self) noexcept
{
  gchar *raw = nullptr;
  g_object_get (self, "params", &raw, NULL);
  GCharPtr params (raw);
  if (!params || !*params.get ())
    return;
  GCharPtr text (g_strdup_printf ("dmakit,%s", params.get ()));
  GstStructure *s = gst_structure_new_from_string (text.get ());
  if (!s) {
    GST_WARNING_OBJECT (self,
                        "cannot parse parameters \"%s\" (expected e.g. "
                        "\"print=false,post=true\"); using the defaults",
                        params.get ());
    return;
  }
  guint n = gst_structure_n_fields (s);
  for (guint i = 0; i < n; i++) {
    const gchar *field = gst_structure_nth_field_name (s, i);
    const GValue *v = gst_structure_get_value (s, field);
    gboolean *target = nullptr;
    if (g_str_equal (field, "print"))
      target = &self->impl->print;
    else if (g_str_equal (field, "post"))
      target = &self->impl->post;
    if (!target) {
      GST_WARNING_OBJECT (self, "unknown parameter \"%s\" (known: print, post)", field);
      continue;
    }
    if (!parse_bool (v, target))
      GST_WARNING_OBJECT (self, "parameter \"%s\" needs true or false", field);
  }
  gst_structure_free (s);
}

static void
gst_dmakit_tracer_constructed (GObject *object) noexcept
{
  GstDmakitTracer *self = GST_DMAKIT_TRACER (object);
  G_OBJECT_CLASS (gst_dmakit_tracer_parent_class)->constructed (object);
  gst_dmakit_tracer_parse_params (self);

  GstDmakitTracer *expected = nullptr;
  if (!active_tracer.compare_exchange_strong (expected, self)) {
    GST_WARNING_OBJECT (self, "another dmakit tracer is already active; this one stays idle");
    return;
  }
  self->impl->active = true;

  GstTracer *tracer = GST_TRACER (self);
  gst_tracing_register_hook (tracer, "pad-push-pre", G_CALLBACK (hook_pad_push_pre));
  gst_tracing_register_hook (tracer, "pad-push-list-pre", G_CALLBACK (hook_pad_push_list_pre));
  gst_tracing_register_hook (tracer, "pad-pull-range-post", G_CALLBACK (hook_pad_pull_range_post));
  gst_tracing_register_hook (tracer, "pad-query-post", G_CALLBACK (hook_pad_query_post));
  gst_tracing_register_hook (tracer, "pad-link-post", G_CALLBACK (hook_pad_link_post));
  gst_tracing_register_hook (tracer, "pad-unlink-post", G_CALLBACK (hook_pad_unlink_post));
  gst_tracing_register_hook (tracer, "element-new", G_CALLBACK (hook_element_new));
  gst_tracing_register_hook (tracer, "element-add-pad", G_CALLBACK (hook_element_add_pad));
  gst_tracing_register_hook (tracer, "element-post-message-pre",
                             G_CALLBACK (hook_element_post_message_pre));
  gst_tracing_register_hook (tracer, "element-change-state-post",
                             G_CALLBACK (hook_element_change_state_post));

  /* The pool hooks appeared in GStreamer 1.28; they need no new symbol, so the
   * check is on the version we run against, not the one we were built with. */
  guint major = 0, minor = 0, micro = 0, nano = 0;
  gst_version (&major, &minor, &micro, &nano);
  if (major > 1 || (major == 1 && minor >= 28)) {
    gst_tracing_register_hook (tracer, "pool-buffer-queued", G_CALLBACK (hook_pool_buffer_queued));
    gst_tracing_register_hook (tracer, "pool-buffer-dequeued",
                               G_CALLBACK (hook_pool_buffer_dequeued));
  }
  GST_INFO_OBJECT (self, "dmakit tracer active (print=%d, post=%d, GStreamer %u.%u.%u)",
                   self->impl->print, self->impl->post, major, minor, micro);
}

static void
gst_dmakit_tracer_finalize (GObject *object) noexcept
{
  GstDmakitTracer *self = GST_DMAKIT_TRACER (object);
  if (self->impl->active) {
    /* whatever was never reported (no EOS, no shutdown) */
    guarded ([&] {
      const std::string text = unreported_at_exit ();
      if (!text.empty ()) {
        GST_INFO_OBJECT (self, "unreported at exit:\n%s", text.c_str ());
        if (self->impl->print)
          g_printerr ("dmakit tracer: unreported at exit\n%s", text.c_str ());
      }
    });
    GstDmakitTracer *expected = self;
    active_tracer.compare_exchange_strong (expected, nullptr);
  }
  delete std::exchange (self->impl, nullptr);
  G_OBJECT_CLASS (gst_dmakit_tracer_parent_class)->finalize (object);
}

static void
gst_dmakit_tracer_class_init (GstDmakitTracerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  gobject_class->constructed = gst_dmakit_tracer_constructed;
  gobject_class->finalize = gst_dmakit_tracer_finalize;
  element_quark = g_quark_from_static_string ("dmakit-tracer-element");
  pad_quark = g_quark_from_static_string ("dmakit-tracer-pad");
  pool_quark = g_quark_from_static_string ("dmakit-tracer-pool");
}

static void
gst_dmakit_tracer_init (GstDmakitTracer *self)
{
  self->impl = new_impl ();
}
