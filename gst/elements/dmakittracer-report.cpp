/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakittracer-report.cpp: the `dmakit` tracer's report: a table on stderr
 * and a "dmakit-tracer-report" element message, built from the state the
 * hooks recorded (see dmakittracer-report.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmakittracer-report.h"
#include "dmakittracer-state.h"
#include "gstdmakittracer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dmakit
{
namespace tracer
{

namespace
{

std::string
format_bytes (guint64 b)
{
  gchar buf[32];
  if (b >= G_GUINT64_CONSTANT (1000000000))
    g_snprintf (buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 100000000)
    g_snprintf (buf, sizeof buf, "%.0f MB", b / 1e6);
  else if (b >= 1000000)
    g_snprintf (buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1000)
    g_snprintf (buf, sizeof buf, "%.1f kB", b / 1e3);
  else
    g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT " B", b);
  return buf;
}

std::string
pad_label (GstPad *pad)
{
  std::string s;
  GstObject *parent = gst_object_get_parent (GST_OBJECT_CAST (pad));
  if (parent) {
    GCharPtr pname (gst_object_get_name (parent));
    s += pname.get () ? pname.get () : "?";
    gst_object_unref (parent);
  } else {
    s += "?";
  }
  GCharPtr name (gst_object_get_name (GST_OBJECT_CAST (pad)));
  s += ".";
  s += name.get () ? name.get () : "?";
  return s;
}

/* The real pad a source pad ends up feeding, through ghost pads. */
ObjectRef<GstPad>
real_peer (GstPad *pad)
{
  auto peer = ObjectRef<GstPad>::adopt (gst_pad_get_peer (pad));
  for (int depth = 0; peer && GST_IS_PROXY_PAD (peer.get ()) && depth < 32; depth++) {
    auto internal = ObjectRef<GstPad>::adopt (
        GST_PAD_CAST (gst_proxy_pad_get_internal (GST_PROXY_PAD (peer.get ()))));
    if (!internal)
      return {};
    peer = ObjectRef<GstPad>::adopt (gst_pad_get_peer (internal.get ()));
  }
  return peer;
}

std::vector<ObjectRef<GstElement>>
bin_children_upstream_first (GstBin *bin)
{
  std::vector<ObjectRef<GstElement>> children;
  GstIterator *it = gst_bin_iterate_sorted (bin);
  GValue v = G_VALUE_INIT;
  bool done = false;
  while (!done) {
    switch (gst_iterator_next (it, &v)) {
    case GST_ITERATOR_OK:
      children.push_back (ObjectRef<GstElement>::ref (GST_ELEMENT (g_value_get_object (&v))));
      g_value_reset (&v);
      break;
    case GST_ITERATOR_RESYNC:
      children.clear ();
      gst_iterator_resync (it);
      break;
    default:
      done = true;
      break;
    }
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  /* sorted is sinks first */
  std::reverse (children.begin (), children.end ());
  return children;
}

void
collect_elements (GstBin *bin, std::vector<ObjectRef<GstElement>> &out, int depth)
{
  for (auto &child : bin_children_upstream_first (bin)) {
    bool is_bin = GST_IS_BIN (child.get ());
    GstElement *raw = child.get ();
    out.push_back (std::move (child));
    if (is_bin && depth < 32)
      collect_elements (GST_BIN (raw), out, depth + 1);
  }
}

std::vector<ObjectRef<GstPad>>
element_pads (GstElement *element)
{
  std::vector<ObjectRef<GstPad>> pads;
  dmakit::ObjectLocker lock (element);
  for (GList *l = element->pads; l; l = l->next)
    pads.push_back (ObjectRef<GstPad>::ref (GST_PAD (l->data)));
  return pads;
}

bool
get_u64 (const GstStructure *s, const char *field, guint64 *out)
{
  const GValue *v = gst_structure_get_value (s, field);
  if (!v)
    return false;
  GValue u = G_VALUE_INIT;
  g_value_init (&u, G_TYPE_UINT64);
  bool ok
      = g_value_type_transformable (G_VALUE_TYPE (v), G_TYPE_UINT64) && g_value_transform (v, &u);
  if (ok)
    *out = g_value_get_uint64 (&u);
  g_value_unset (&u);
  return ok;
}

struct PoolUse {
  std::string used_by;     /* source pad of the element that acquires from it */
  std::string proposed_by; /* sink pad of the element that proposed it */
  guint proposed_size = 0, proposed_min = 0, proposed_max = 0;
  bool proposed = false;
};

void
array_append_structure (GValue *array, GstStructure *s)
{
  GValue v = G_VALUE_INIT;
  g_value_init (&v, GST_TYPE_STRUCTURE);
  g_value_take_boxed (&v, s);
  gst_value_array_append_and_take_value (array, &v);
}

struct ElementRow {
  std::string name;
  const char *role;
  guint64 frames, in, out, bytes_in, bytes_out, decided, decoupled, copies, bytes_copied,
      kind_changes;
  Kind in_kind, out_kind;
};

std::string
summary_entry (const ElementRow &r)
{
  GCharPtr s;
  if (g_str_equal (r.role, "source"))
    s.reset (g_strdup_printf ("%s: %" G_GUINT64_FORMAT " frames (source, %s)", r.name.c_str (),
                              r.frames, kind_names[r.out_kind]));
  else if (g_str_equal (r.role, "sink"))
    s.reset (g_strdup_printf ("%s: %" G_GUINT64_FORMAT " frames (sink, %s)", r.name.c_str (),
                              r.frames, kind_names[r.in_kind]));
  else
    s.reset (g_strdup_printf (
        "%s: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT " copies%s%s%s", r.name.c_str (),
        r.frames, r.copies, r.copies ? ", " : "",
        r.copies ? format_bytes (r.bytes_copied).c_str () : "", r.copies ? " copied" : ""));
  std::string out = s.get ();
  if (r.kind_changes && r.in_kind != r.out_kind) {
    out += ", ";
    out += kind_names[r.in_kind];
    out += "->";
    out += kind_names[r.out_kind];
  }
  return out;
}

/* What a pool says about its buffers. */
struct PoolFigures {
  gint64 outstanding = -1; /* -1: unknown */
  gint64 free_buffers = -1;
  guint64 waits = 0, wait_total = 0, wait_max = 0;
};

/* The figures of @pool, and its stats structure (transfer full) when it has
 * one. GstDmakitBufferPool reports its own (gst_dmakit_buffer_pool_get_stats):
 * this one function is where the tracer knows a pool type. Any other pool
 * counts through GStreamer's pool-buffer-queued/-dequeued hooks
 * (GStreamer >= 1.28): buffers put back minus buffers taken = free. */
GstStructure *
pool_figures (GstBufferPool *pool, PoolFigures *fig)
{
  if (GST_DMAKIT_IS_BUFFER_POOL (pool)) {
    GstStructure *stats = gst_dmakit_buffer_pool_get_stats (pool);
    guint64 v;
    if (stats && get_u64 (stats, "outstanding", &v))
      fig->outstanding = static_cast<gint64> (v);
    if (stats && get_u64 (stats, "free", &v))
      fig->free_buffers = static_cast<gint64> (v);
    if (stats) {
      get_u64 (stats, "waits", &fig->waits);
      get_u64 (stats, "wait-total-ns", &fig->wait_total);
      get_u64 (stats, "wait-max-ns", &fig->wait_max);
    }
    return stats;
  }
  if (auto *pc = static_cast<PoolCounters *> (g_object_get_qdata (G_OBJECT (pool), pool_quark))) {
    const gint64 q = static_cast<gint64> (pc->queued.load ());
    const gint64 d = static_cast<gint64> (pc->dequeued.load ());
    if (q >= d)
      fig->free_buffers = q - d;
  }
  return nullptr;
}

} // namespace

namespace
{

/* One report in the making: the element message's three arrays and the
 * table's lines. The arrays are unset when the report is dropped, also when
 * building it throws. */
struct Report {
  std::vector<ElementRow> rows;
  std::map<GstBufferPool *, PoolUse> pools;
  std::vector<ObjectRef<GstBufferPool>> pool_refs; /* in the order met */
  GValue elements_v = G_VALUE_INIT, links_v = G_VALUE_INIT, pools_v = G_VALUE_INIT;
  std::string links_text;
  std::string pools_text;

  Report () noexcept
  {
    g_value_init (&elements_v, GST_TYPE_ARRAY);
    g_value_init (&links_v, GST_TYPE_ARRAY);
    g_value_init (&pools_v, GST_TYPE_ARRAY);
  }
  ~Report ()
  {
    for (GValue *v : { &elements_v, &links_v, &pools_v })
      if (G_IS_VALUE (v))
        g_value_unset (v);
  }
  Report (const Report &) = delete;
  Report &operator= (const Report &) = delete;

  PoolUse &use_of (GstBufferPool *pool, const ObjectRef<GstBufferPool> &ref);
  void add_link (GstPad *pad, PadState *ps, const std::string &label);
  void add_pool_user (PadState *ps, const std::string &label);
  void add_proposals (PadState *ps, const std::string &label);
  void add_element (GstElement *element, ElementState *es, const char *name);
  void add_pool (GstBufferPool *pool);
  std::string table (const char *pipeline_name, const char *reason,
                     const std::string &summary) const;
};

PoolUse &
Report::use_of (GstBufferPool *pool, const ObjectRef<GstBufferPool> &ref)
{
  if (pools.find (pool) == pools.end ())
    pool_refs.push_back (ref);
  return pools[pool];
}

/* The link leaving the source pad @pad, restarting its counters. */
void
Report::add_link (GstPad *pad, PadState *ps, const std::string &label)
{
  guint64 buffers = take (ps->buffers);
  guint64 bytes = take (ps->bytes);
  guint64 pooled = take (ps->pooled);
  guint64 kinds[KIND_COUNT];
  guint best = KIND_NONE;
  for (guint k = 0; k < KIND_COUNT; k++) {
    kinds[k] = take (ps->kinds[k]);
    if (kinds[k] > kinds[best])
      best = k;
  }
  if (!buffers)
    return;
  auto peer = real_peer (pad);
  std::string sink = peer ? pad_label (peer.get ()) : std::string ("(unlinked)");
  GstStructure *l = gst_structure_new (
      "dmakit-link", "src", G_TYPE_STRING, label.c_str (), "sink", G_TYPE_STRING, sink.c_str (),
      "buffers", G_TYPE_UINT64, buffers, "bytes", G_TYPE_UINT64, bytes, "pooled", G_TYPE_UINT64,
      pooled, "memory", G_TYPE_STRING, kind_names[best], "dmabuf", G_TYPE_UINT64,
      kinds[KIND_DMABUF], "fd", G_TYPE_UINT64, kinds[KIND_FD], "system", G_TYPE_UINT64,
      kinds[KIND_SYSTEM], "other", G_TYPE_UINT64, kinds[KIND_OTHER], "empty", G_TYPE_UINT64,
      kinds[KIND_NONE], NULL);
  array_append_structure (&links_v, l);
  GCharPtr line (g_strdup_printf (
      "  link %s -> %s: %" G_GUINT64_FORMAT " buffers, %s, %s (dmabuf %" G_GUINT64_FORMAT
      ", fd %" G_GUINT64_FORMAT ", system %" G_GUINT64_FORMAT ", other %" G_GUINT64_FORMAT
      "), %" G_GUINT64_FORMAT " from a pool\n",
      label.c_str (), sink.c_str (), buffers, format_bytes (bytes).c_str (), kind_names[best],
      kinds[KIND_DMABUF], kinds[KIND_FD], kinds[KIND_SYSTEM], kinds[KIND_OTHER], pooled));
  links_text += line.get ();
}

/* The pool the buffers leaving the source pad of @ps came from. */
void
Report::add_pool_user (PadState *ps, const std::string &label)
{
  auto ref
      = ObjectRef<GstBufferPool>::adopt (static_cast<GstBufferPool *> (g_weak_ref_get (&ps->pool)));
  if (!ref)
    return;
  /* elements come upstream first: the first pad is the producer, later ones
   * only pass its buffers on */
  std::string &used_by = use_of (ref.get (), ref).used_by;
  if (used_by.empty ())
    used_by = label;
}

/* The pools proposed in answers to ALLOCATION queries on the pad of @ps. */
void
Report::add_proposals (PadState *ps, const std::string &label)
{
  struct Proposed {
    ObjectRef<GstBufferPool> pool;
    guint size, min, max;
  };
  std::vector<Proposed> proposed;
  {
    std::lock_guard<std::mutex> lk (creation_lock);
    for (guint j = 0; j < ps->n_proposals; j++) {
      auto pool = ObjectRef<GstBufferPool>::adopt (
          static_cast<GstBufferPool *> (g_weak_ref_get (&ps->proposals[j].pool)));
      if (pool)
        proposed.push_back ({ std::move (pool), ps->proposals[j].size, ps->proposals[j].min,
                              ps->proposals[j].max });
    }
  }
  for (auto &prop : proposed) {
    PoolUse &use = use_of (prop.pool.get (), prop.pool);
    /* the answer passes through every pad upstream of the element that made
     * it; elements come upstream first, so keep the last one */
    use.proposed_by = label;
    use.proposed = true;
    use.proposed_size = prop.size;
    use.proposed_min = prop.min;
    use.proposed_max = prop.max;
  }
}

/* The row of @element, restarting its counters; none if nothing flowed. */
void
Report::add_element (GstElement *element, ElementState *es, const char *name)
{
  ElementRow r;
  r.name = name ? name : "?";
  r.in = take (es->buffers_in);
  r.out = take (es->buffers_out);
  r.bytes_in = take (es->bytes_in);
  r.bytes_out = take (es->bytes_out);
  r.decided = take (es->decided);
  r.decoupled = take (es->decoupled);
  r.copies = take (es->copies);
  r.bytes_copied = take (es->bytes_copied);
  r.kind_changes = take (es->kind_changes);
  r.in_kind = r.in ? static_cast<Kind> (es->in_kind.load ()) : KIND_NONE;
  r.out_kind = r.out ? static_cast<Kind> (es->out_kind.load ()) : KIND_NONE;
  if (r.in == 0 && r.out == 0)
    return;
  if (r.in == 0)
    r.role = "source";
  else if (r.out == 0)
    r.role = "sink";
  else if (r.decoupled)
    r.role = "decoupled";
  else
    r.role = "filter";
  r.frames = r.out ? r.out : r.in;

  GstElementFactory *factory = gst_element_get_factory (element);
  GstStructure *e = gst_structure_new (
      "dmakit-element", "name", G_TYPE_STRING, r.name.c_str (), "factory", G_TYPE_STRING,
      factory ? GST_OBJECT_NAME (factory) : G_OBJECT_TYPE_NAME (element), "role", G_TYPE_STRING,
      r.role, "frames", G_TYPE_UINT64, r.frames, "buffers-in", G_TYPE_UINT64, r.in, "buffers-out",
      G_TYPE_UINT64, r.out, "bytes-in", G_TYPE_UINT64, r.bytes_in, "bytes-out", G_TYPE_UINT64,
      r.bytes_out, "compared", G_TYPE_UINT64, r.decided, "cross-thread", G_TYPE_UINT64, r.decoupled,
      "copies", G_TYPE_UINT64, r.copies, "bytes-copied", G_TYPE_UINT64, r.bytes_copied,
      "kind-changes", G_TYPE_UINT64, r.kind_changes, "memory-in", G_TYPE_STRING,
      kind_names[r.in_kind], "memory-out", G_TYPE_STRING, kind_names[r.out_kind], NULL);
  array_append_structure (&elements_v, e);
  rows.push_back (std::move (r));
}

void
Report::add_pool (GstBufferPool *pool)
{
  const PoolUse &use = pools[pool];
  guint size = 0, min = 0, max = 0;
  if (GstStructure *config = gst_buffer_pool_get_config (pool)) {
    gst_buffer_pool_config_get_params (config, nullptr, &size, &min, &max);
    gst_structure_free (config);
  }
  PoolFigures fig;
  /* freed at the end, after its figures made it into the text */
  auto stats = std::unique_ptr<GstStructure, void (*) (GstStructure *)> (pool_figures (pool, &fig),
                                                                         [] (GstStructure *s) {
                                                                           if (s)
                                                                             gst_structure_free (s);
                                                                         });
  GCharPtr pname (gst_object_get_name (GST_OBJECT_CAST (pool)));
  GstStructure *p = gst_structure_new (
      "dmakit-pool", "name", G_TYPE_STRING, pname.get (), "type", G_TYPE_STRING,
      G_OBJECT_TYPE_NAME (pool), "size", G_TYPE_UINT, size, "min-buffers", G_TYPE_UINT, min,
      "max-buffers", G_TYPE_UINT, max, "active", G_TYPE_BOOLEAN, gst_buffer_pool_is_active (pool),
      "used-by", G_TYPE_STRING, use.used_by.c_str (), "proposed-by", G_TYPE_STRING,
      use.proposed_by.c_str (), "outstanding", G_TYPE_INT64, fig.outstanding, "free", G_TYPE_INT64,
      fig.free_buffers, "waits", G_TYPE_UINT64, fig.waits, "wait-total-ns", G_TYPE_UINT64,
      fig.wait_total, "wait-max-ns", G_TYPE_UINT64, fig.wait_max, NULL);
  if (use.proposed)
    gst_structure_set (p, "proposed-size", G_TYPE_UINT, use.proposed_size, "proposed-min-buffers",
                       G_TYPE_UINT, use.proposed_min, "proposed-max-buffers", G_TYPE_UINT,
                       use.proposed_max, NULL);
  if (stats)
    gst_structure_set (p, "stats", GST_TYPE_STRUCTURE, stats.get (), NULL);
  array_append_structure (&pools_v, p);

  std::string counts = fig.outstanding >= 0 ? std::to_string (fig.outstanding) + " out" : "out ?";
  counts += fig.free_buffers >= 0 ? ", " + std::to_string (fig.free_buffers) + " free" : ", free ?";
  if (stats) {
    GCharPtr w (g_strdup_printf (", %" G_GUINT64_FORMAT " waits (%.3f ms total, %.3f ms max)",
                                 fig.waits, fig.wait_total / 1e6, fig.wait_max / 1e6));
    counts += w.get ();
  }
  GCharPtr proposal (use.proposed ? g_strdup_printf ("; proposed by %s (size %u, min %u, max %u)",
                                                     use.proposed_by.c_str (), use.proposed_size,
                                                     use.proposed_min, use.proposed_max)
                                  : g_strdup (""));
  GCharPtr line (g_strdup_printf ("  pool %s (%s): size %u, min %u, max %u; %s%s%s%s\n",
                                  pname.get (), G_OBJECT_TYPE_NAME (pool), size, min, max,
                                  counts.c_str (), use.used_by.empty () ? "" : "; used by ",
                                  use.used_by.c_str (), proposal.get ()));
  pools_text += line.get ();
}

/* The table printed on stderr. */
std::string
Report::table (const char *pipeline_name, const char *reason, const std::string &summary) const
{
  std::string table;
  GCharPtr head (g_strdup_printf ("dmakit tracer: %s (%s)\n  %-24s %-9s %8s %8s %10s  %s\n",
                                  pipeline_name, reason, "element", "role", "frames", "copies",
                                  "copied", "memory in -> out"));
  table += head.get ();
  for (const auto &r : rows) {
    bool filter = !g_str_equal (r.role, "source") && !g_str_equal (r.role, "sink");
    std::string copies = filter ? std::to_string (r.copies) : "-";
    std::string copied = filter ? format_bytes (r.bytes_copied) : "-";
    GCharPtr line (g_strdup_printf ("  %-24s %-9s %8" G_GUINT64_FORMAT " %8s %10s  %s -> %s\n",
                                    r.name.c_str (), r.role, r.frames, copies.c_str (),
                                    copied.c_str (), r.in ? kind_names[r.in_kind] : "-",
                                    r.out ? kind_names[r.out_kind] : "-"));
    table += line.get ();
  }
  table += links_text;
  table += pools_text;
  table += "  summary: " + summary + "\n";
  return table;
}

} // namespace

gboolean
report_pipeline (GstElement *pipeline, const char *reason, bool print, bool post)
{
  std::vector<ObjectRef<GstElement>> elements;
  if (GST_IS_BIN (pipeline))
    collect_elements (GST_BIN (pipeline), elements, 0);

  Report report;
  for (auto &element : elements) {
    ElementState *es = element_state_get (element.get ());
    GCharPtr name (gst_object_get_name (GST_OBJECT_CAST (element.get ())));
    if (es) {
      std::lock_guard<std::mutex> lk (registry_lock);
      es->name.reset (g_strdup (name.get ()));
    }
    /* links and pools, from the element's pads */
    for (auto &pad : element_pads (element.get ())) {
      PadState *ps = pad_state_get (pad.get ());
      if (!ps)
        continue;
      std::string label = pad_label (pad.get ());
      if (GST_PAD_IS_SRC (pad.get ())) {
        report.add_link (pad.get (), ps, label);
        report.add_pool_user (ps, label);
      }
      report.add_proposals (ps, label);
    }
    if (es)
      report.add_element (element.get (), es, name.get ());
  }
  for (auto &pool_ref : report.pool_refs)
    report.add_pool (pool_ref.get ());
  if (report.rows.empty ())
    return FALSE;

  std::string summary;
  for (const auto &r : report.rows) {
    if (!summary.empty ())
      summary += "; ";
    summary += summary_entry (r);
  }
  GCharPtr pipeline_name (gst_object_get_name (GST_OBJECT_CAST (pipeline)));
  GST_INFO_OBJECT (pipeline, "report (%s): %s", reason, summary.c_str ());
  if (print)
    g_printerr ("%s", report.table (pipeline_name.get (), reason, summary).c_str ());
  if (post) {
    GstStructure *s = gst_structure_new (GST_DMAKIT_TRACER_REPORT_NAME, "pipeline", G_TYPE_STRING,
                                         pipeline_name.get (), "reason", G_TYPE_STRING, reason,
                                         "summary", G_TYPE_STRING, summary.c_str (), NULL);
    gst_structure_take_value (s, "elements", &report.elements_v);
    gst_structure_take_value (s, "links", &report.links_v);
    gst_structure_take_value (s, "pools", &report.pools_v);
    gst_element_post_message (pipeline, gst_message_new_element (GST_OBJECT_CAST (pipeline), s));
  }
  return TRUE;
}

std::string
unreported_at_exit ()
{
  std::string text;
  std::lock_guard<std::mutex> lk (registry_lock);
  for (ElementState *es : registry ()) {
    guint64 in = es->buffers_in.load (), out = es->buffers_out.load ();
    if (!in && !out)
      continue;
    GCharPtr line (g_strdup_printf ("  %s: %" G_GUINT64_FORMAT " in, %" G_GUINT64_FORMAT
                                    " out, %" G_GUINT64_FORMAT " copies, %s copied\n",
                                    es->name.get () ? es->name.get () : "?", in, out,
                                    es->copies.load (),
                                    format_bytes (es->bytes_copied.load ()).c_str ()));
    text += line.get ();
  }
  return text;
}

} // namespace tracer
} // namespace dmakit
