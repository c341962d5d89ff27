/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstdmakitroimeta.cpp: GstDmakitRoiMeta, a crop / region-of-interest meta.
 *
 * - registration (API with the video, size and orientation tags; one
 *   implementation), done once and thread-safe;
 * - transforms: copy keeps every field, "gst-video-scale" scales each edge
 *   with round-half-up and clips to the output frame, anything else drops;
 * - the text form (grammar in docs/roimeta.md): parse everything first, add
 *   only when all of it is valid;
 * - the physical-crop helper and the bridges to GstVideoCropMeta and
 *   GstVideoRegionOfInterestMeta;
 * - on GStreamer >= 1.24, serialize/deserialize through the text form.
 *
 * The only allocations are std::vector / std::string growth in the helpers
 * (ids, text form, sorting), which may throw std::bad_alloc. Every function
 * called from C (meta vfuncs, public API) is noexcept or catches: out of
 * memory is a clean failure (FALSE, NULL, a GError), never an exception
 * into C. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/dmakit/dmakit.h>
#include <gst/dmakit/dmakit-raii.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstring>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_dmakit_roi_meta_debug);
#define GST_CAT_DEFAULT gst_dmakit_roi_meta_debug

namespace {

using dmakit::GCharPtr;

void
ensure_debug_category () noexcept
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gst_dmakit_roi_meta_debug, "dmakitroimeta", 0,
                             "dmakit crop / region-of-interest meta");
    g_once_init_leave (&once, 1);
  }
}

inline GstDmakitRoiMeta *
as_roi (GstMeta *meta) noexcept
{
  return reinterpret_cast<GstDmakitRoiMeta *> (meta);
}

/* x + w (and y + h) must stay representable as a guint edge. */
inline bool
span_fits (guint pos, guint len) noexcept
{
  return static_cast<guint64> (pos) + len <= G_MAXUINT;
}

/* ---- ids ------------------------------------------------------------------ */

/* A sorted set of the ids in use on one buffer (plus any reserved while
 * parsing). Buffers carry few rectangles; a sorted vector is the cheapest. */
class IdSet
{
public:
  IdSet () = default;
  explicit IdSet (GstBuffer *buffer)
  {
    gpointer state = nullptr;
    GstMeta *m;
    while ((m = gst_buffer_iterate_meta_filtered (buffer, &state, GST_DMAKIT_ROI_META_API_TYPE)))
      ids_.push_back (as_roi (m)->id);
    std::sort (ids_.begin (), ids_.end ());
  }

  bool contains (gint id) const noexcept
  {
    return std::binary_search (ids_.begin (), ids_.end (), id);
  }

  void insert (gint id)
  {
    auto it = std::lower_bound (ids_.begin (), ids_.end (), id);
    if (it == ids_.end () || *it != id)
      ids_.insert (it, id);
  }

  /* One more than the highest id in use (0 when none); if that would pass
   * G_MAXINT, the lowest unused id >= 0. -1 if every id is taken. */
  gint next () const noexcept
  {
    if (ids_.empty () || ids_.back () < 0)
      return 0;
    if (ids_.back () < G_MAXINT)
      return ids_.back () + 1;
    gint candidate = 0;
    for (gint id : ids_) {
      if (id < candidate)
        continue;
      if (id != candidate)
        break;
      if (candidate == G_MAXINT)
        return -1;
      candidate++;
    }
    return candidate;
  }

private:
  std::vector<gint> ids_;
};

GstDmakitRoiMeta *
find_id (GstBuffer *buffer, gint id) noexcept
{
  gpointer state = nullptr;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered (buffer, &state, GST_DMAKIT_ROI_META_API_TYPE)))
    if (as_roi (m)->id == id)
      return as_roi (m);
  return nullptr;
}

/* Adds a meta and fills it in. @id must be free on @buffer (the caller
 * checked); the init function has already given the meta a fresh id. */
GstDmakitRoiMeta *
add_raw (GstBuffer *buffer, GQuark type, gint id, gint parent_id, guint x, guint y, guint w,
         guint h) noexcept
{
  auto *meta = as_roi (gst_buffer_add_meta (buffer, GST_DMAKIT_ROI_META_INFO, nullptr));
  if (!meta)
    return nullptr;
  meta->roi_type = type;
  if (id >= 0)
    meta->id = id;
  meta->parent_id = parent_id >= 0 && parent_id != meta->id ? parent_id : -1;
  meta->x = x;
  meta->y = y;
  meta->w = w;
  meta->h = h;
  return meta;
}

/* For the transforms: put a rectangle with the source's id on @dest. When
 * @dest already has that id (copying into a buffer that has rectangles), an
 * identical rectangle is not added twice; a different one gets a new id. */
bool
add_keeping_id (GstBuffer *dest, const GstDmakitRoiMeta *src, guint x, guint y, guint w,
                guint h) noexcept
{
  gint id = src->id;
  if (id >= 0) {
    if (const GstDmakitRoiMeta *same = find_id (dest, id)) {
      if (same->roi_type == src->roi_type && same->parent_id == src->parent_id && same->x == x
          && same->y == y && same->w == w && same->h == h)
        return true;
      GST_WARNING ("ROI id %d is already used on buffer %p; the copy gets a new id", id, dest);
      id = -1;
    }
  }
  /* With a new id, add_raw() drops a parent that happens to equal it. */
  return add_raw (dest, src->roi_type, id, src->parent_id, x, y, w, h) != nullptr;
}

/* ---- meta vfuncs ------------------------------------------------------------ */

gboolean
roi_meta_init (GstMeta *meta, gpointer /* params */, GstBuffer *buffer) noexcept
{
  auto *m = as_roi (meta);
  m->roi_type = 0;
  /* The new meta is not linked into @buffer yet: the ids seen are the others'. */
  try {
    m->id = IdSet (buffer).next ();
  } catch (...) {
    m->id = -1; /* no memory to look at the ids: refuse the meta */
  }
  m->parent_id = -1;
  m->x = m->y = m->w = m->h = 0;
  return m->id >= 0;
}

/* Scales one axis: the edges pos and pos + len, each rounded half up, after
 * clipping to the input frame. A rectangle starting outside the input frame
 * is dropped (false). A non-empty span never becomes empty: it keeps at least
 * one pixel, moved inside the frame if rounding pushed it onto the far edge. */
bool
scale_axis (guint pos, guint len, guint in_size, guint out_size, guint *out_pos,
            guint *out_len) noexcept
{
  if (pos >= in_size)
    return false;
  const guint64 end = std::min<guint64> (static_cast<guint64> (pos) + len, in_size);
  guint64 a = gst_util_uint64_scale_round (pos, out_size, in_size);
  guint64 b = gst_util_uint64_scale_round (end, out_size, in_size);
  if (len > 0 && b <= a) {
    if (a >= out_size)
      a = out_size - 1;
    b = a + 1;
  } else if (len == 0 && a >= out_size) {
    a = out_size - 1;
    b = a;
  }
  *out_pos = static_cast<guint> (a);
  *out_len = static_cast<guint> (b - a);
  return true;
}

gboolean
roi_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
                    gpointer data) noexcept
{
  const auto *src = as_roi (meta);

  if (GST_META_TRANSFORM_IS_COPY (type)) {
    /* Like GstVideoRegionOfInterestMeta: copied for whole and region copies
     * alike; a byte region says nothing about which pixels were kept. */
    GST_LOG ("copy ROI #%d %s %u,%u %ux%u from %p to %p", src->id, g_quark_to_string (src->roi_type),
             src->x, src->y, src->w, src->h, buffer, dest);
    return add_keeping_id (dest, src, src->x, src->y, src->w, src->h);
  }

  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    const auto *trans = static_cast<const GstVideoMetaTransform *> (data);
    if (!trans || !trans->in_info || !trans->out_info)
      return FALSE;
    const gint iw = GST_VIDEO_INFO_WIDTH (trans->in_info);
    const gint ih = GST_VIDEO_INFO_HEIGHT (trans->in_info);
    const gint ow = GST_VIDEO_INFO_WIDTH (trans->out_info);
    const gint oh = GST_VIDEO_INFO_HEIGHT (trans->out_info);
    if (iw <= 0 || ih <= 0 || ow <= 0 || oh <= 0) {
      GST_WARNING ("cannot scale ROI #%d between %dx%d and %dx%d; dropped", src->id, iw, ih, ow, oh);
      return FALSE;
    }
    guint x, y, w, h;
    if (!scale_axis (src->x, src->w, iw, ow, &x, &w) || !scale_axis (src->y, src->h, ih, oh, &y, &h)) {
      GST_DEBUG ("ROI #%d %u,%u %ux%u lies outside the %dx%d input frame; dropped on scale", src->id,
                 src->x, src->y, src->w, src->h, iw, ih);
      return TRUE;
    }
    GST_LOG ("scale ROI #%d %u,%u %ux%u (%dx%d) -> %u,%u %ux%u (%dx%d)", src->id, src->x, src->y,
             src->w, src->h, iw, ih, x, y, w, h, ow, oh);
    return add_keeping_id (dest, src, x, y, w, h);
  }

  GST_LOG ("transform %s not supported; ROI #%d dropped", g_quark_to_string (type), src->id);
  return FALSE;
}

/* ---- text form -------------------------------------------------------------- */

/* How many ROI types the text form has created in this process (see
 * GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES). May overshoot by a few under races. */
std::atomic<guint> new_text_types{ 0 };

GQuark
intern_text_type (const std::string &type)
{
  if (!g_quark_try_string (type.c_str ()))
    new_text_types.fetch_add (1, std::memory_order_relaxed);
  return g_quark_from_string (type.c_str ());
}

inline bool
is_type_char (guchar c) noexcept
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '.' || c == '/' || c == '+';
}

inline bool
is_ws (int c) noexcept
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void
append_type (std::string &out, const gchar *type)
{
  static const char hex[] = "0123456789ABCDEF";
  for (const guchar *p = reinterpret_cast<const guchar *> (type); *p; p++) {
    if (is_type_char (*p)) {
      out += static_cast<char> (*p);
    } else {
      out += '%';
      out += hex[*p >> 4];
      out += hex[*p & 0xf];
    }
  }
}

/* Returns false for a meta without a type (cannot be written). */
bool
append_meta (std::string &out, const GstDmakitRoiMeta *m)
{
  const gchar *type = m->roi_type ? g_quark_to_string (m->roi_type) : nullptr;
  if (!type || !*type)
    return false;
  append_type (out, type);
  char num[96];
  if (m->id >= 0) {
    g_snprintf (num, sizeof num, "#%d", m->id);
    out += num;
  }
  if (m->parent_id >= 0 && m->parent_id != m->id) {
    g_snprintf (num, sizeof num, "<%d", m->parent_id);
    out += num;
  }
  g_snprintf (num, sizeof num, ":%u,%u,%ux%u", m->x, m->y, m->w, m->h);
  out += num;
  return true;
}

struct ParsedRect {
  std::string type;
  gint id = -1; /* -1: assign one */
  gint parent_id = -1;
  guint x = 0, y = 0, w = 0, h = 0;
};

class Parser
{
public:
  Parser (const gchar *text, gsize len, GError **error) noexcept
      : s_ (text), len_ (len), error_ (error)
  {
  }

  /* text = ws [ rect *( ws ";" ws rect ) ] ws. @used holds the ids already on
   * the buffer; explicit ids are added to it as they are read. */
  bool parse_list (std::vector<ParsedRect> &out, IdSet &used)
  {
    skip_ws ();
    if (at_end ())
      return true;
    for (;;) {
      if (out.size () >= GST_DMAKIT_ROI_TEXT_MAX_RECTS)
        return fail (pos_, "more than %d rectangles", GST_DMAKIT_ROI_TEXT_MAX_RECTS);
      ParsedRect r;
      if (!parse_rect (r, used))
        return false;
      out.push_back (std::move (r));
      skip_ws ();
      if (at_end ())
        return true;
      if (peek () != ';')
        return expected ("';' between rectangles, or the end of the text");
      pos_++;
      skip_ws ();
    }
  }

  /* Exactly one rectangle and nothing else (for deserialization). */
  bool parse_single (ParsedRect &r, IdSet &used)
  {
    skip_ws ();
    if (!parse_rect (r, used))
      return false;
    skip_ws ();
    if (!at_end ())
      return expected ("the end of the text");
    return true;
  }

private:
  bool at_end () const noexcept { return pos_ >= len_; }
  int peek () const noexcept { return at_end () ? -1 : static_cast<guchar> (s_[pos_]); }
  void skip_ws () noexcept
  {
    while (is_ws (peek ()))
      pos_++;
  }

  G_GNUC_PRINTF (3, 4) bool fail (gsize at, const char *format, ...) noexcept
  {
    va_list args;
    va_start (args, format);
    GCharPtr what (g_strdup_vprintf (format, args));
    va_end (args);
    g_set_error (error_, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_PARSE, "ROI text, at byte %" G_GSIZE_FORMAT ": %s",
                 at, what.get ());
    return false;
  }

  bool expected (const char *what) noexcept
  {
    char found[32];
    const int c = peek ();
    if (c < 0)
      g_strlcpy (found, "the end of the text", sizeof found);
    else if (c >= 0x20 && c < 0x7f && c != '\'')
      g_snprintf (found, sizeof found, "'%c'", c);
    else
      g_snprintf (found, sizeof found, "byte 0x%02X", c);
    return fail (pos_, "expected %s, found %s", what, found);
  }

  static int hex_value (int c) noexcept
  {
    return g_ascii_isxdigit (c) ? g_ascii_xdigit_value (static_cast<gchar> (c)) : -1;
  }

  bool parse_type (std::string &out)
  {
    const gsize start = pos_;
    for (;;) {
      const int c = peek ();
      if (c >= 0 && is_type_char (static_cast<guchar> (c))) {
        out += static_cast<char> (c);
        pos_++;
      } else if (c == '%') {
        const int hi = pos_ + 1 < len_ ? hex_value (static_cast<guchar> (s_[pos_ + 1])) : -1;
        const int lo = pos_ + 2 < len_ ? hex_value (static_cast<guchar> (s_[pos_ + 2])) : -1;
        if (hi < 0 || lo < 0)
          return fail (pos_, "expected two hexadecimal digits after '%%' in the type name");
        if (hi == 0 && lo == 0)
          return fail (pos_, "'%%00' (a NUL byte) is not allowed in a type name");
        out += static_cast<char> (hi * 16 + lo);
        pos_ += 3;
      } else {
        break;
      }
      if (out.size () > GST_DMAKIT_ROI_TYPE_MAX_LENGTH)
        return fail (start, "type name longer than %d bytes", GST_DMAKIT_ROI_TYPE_MAX_LENGTH);
    }
    if (out.empty ())
      return expected ("a ROI type name (letters, digits, '_', '-', '.', '/', '+' or %XX)");
    if (!g_utf8_validate (out.data (), static_cast<gssize> (out.size ()), nullptr))
      return fail (start, "the type name is not valid UTF-8 once %%XX escapes are decoded");
    if (new_text_types.load (std::memory_order_relaxed) >= GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES
        && !g_quark_try_string (out.c_str ()))
      return fail (start,
                   "unknown ROI type: this process already created %d types from text, the most "
                   "it will",
                   GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES);
    return true;
  }

  /* A decimal number without sign or leading zeros, at most @max. */
  bool parse_number (guint64 max, guint64 *value, const char *what) noexcept
  {
    const gsize start = pos_;
    const int first = peek ();
    if (first < '0' || first > '9')
      return expected (what);
    guint64 v = 0;
    bool too_big = false;
    while (peek () >= '0' && peek () <= '9') {
      if (!too_big) {
        v = v * 10 + static_cast<guint64> (peek () - '0');
        too_big = v > max;
      }
      pos_++;
    }
    if (too_big)
      return fail (start, "%s is larger than %" G_GUINT64_FORMAT, what, max);
    if (first == '0' && pos_ - start > 1)
      return fail (start, "%s has a leading zero", what);
    *value = v;
    return true;
  }

  bool parse_coordinate (guint *out, const char *what) noexcept
  {
    guint64 v = 0;
    if (!parse_number (G_MAXUINT, &v, what))
      return false;
    *out = static_cast<guint> (v);
    return true;
  }

  bool separator (char c, const char *what) noexcept
  {
    skip_ws ();
    if (peek () != c)
      return expected (what);
    pos_++;
    skip_ws ();
    return true;
  }

  /* rect = type [ "#" id ] [ "<" parent ] ":" x "," y "," w "x" h */
  bool parse_rect (ParsedRect &r, IdSet &used)
  {
    if (!parse_type (r.type))
      return false;
    skip_ws ();
    gsize id_at = 0;
    if (peek () == '#') {
      pos_++;
      skip_ws ();
      id_at = pos_;
      guint64 v = 0;
      if (!parse_number (G_MAXINT, &v, "an id (0 to 2147483647)"))
        return false;
      r.id = static_cast<gint> (v);
      skip_ws ();
    }
    if (peek () == '<') {
      pos_++;
      skip_ws ();
      const gsize parent_at = pos_;
      guint64 v = 0;
      if (!parse_number (G_MAXINT, &v, "a parent id (0 to 2147483647)"))
        return false;
      r.parent_id = static_cast<gint> (v);
      if (r.parent_id == r.id)
        return fail (parent_at, "rectangle #%d cannot be its own parent", r.id);
      skip_ws ();
    }
    if (peek () != ':')
      return expected (r.id < 0 && r.parent_id < 0 ? "'#', '<' or ':' after the type name"
                                                   : "':' before the coordinates");
    pos_++;
    skip_ws ();
    const gsize x_at = pos_;
    if (!parse_coordinate (&r.x, "x (0 to 4294967295)") || !separator (',', "',' after x"))
      return false;
    const gsize y_at = pos_;
    if (!parse_coordinate (&r.y, "y (0 to 4294967295)") || !separator (',', "',' after y")
        || !parse_coordinate (&r.w, "a width (0 to 4294967295)")
        || !separator ('x', "'x' between width and height")
        || !parse_coordinate (&r.h, "a height (0 to 4294967295)"))
      return false;
    if (!span_fits (r.x, r.w))
      return fail (x_at, "x + width (%" G_GUINT64_FORMAT ") is larger than %u",
                   static_cast<guint64> (r.x) + r.w, G_MAXUINT);
    if (!span_fits (r.y, r.h))
      return fail (y_at, "y + height (%" G_GUINT64_FORMAT ") is larger than %u",
                   static_cast<guint64> (r.y) + r.h, G_MAXUINT);
    if (r.id >= 0) {
      if (used.contains (r.id))
        return fail (id_at, "id %d is already used (on the buffer or earlier in the text)", r.id);
      used.insert (r.id);
    }
    return true;
  }

  const gchar *s_;
  gsize len_;
  gsize pos_ = 0;
  GError **error_;
};

/* Gives every unnumbered rectangle an id: the next free one, never its own
 * parent's. */
bool
assign_ids (std::vector<ParsedRect> &rects, IdSet &used, GError **error)
{
  for (auto &r : rects) {
    if (r.id >= 0)
      continue;
    gint id = used.next ();
    if (id >= 0 && id == r.parent_id) {
      used.insert (id);
      id = used.next ();
    }
    if (id < 0) {
      g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_PARSE,
                   "ROI text: no free id left on the buffer");
      return false;
    }
    r.id = id;
    used.insert (id);
  }
  return true;
}

bool
check_text_length (const gchar *text, gsize *len, GError **error) noexcept
{
  /* Never scan past the limit: hostile input may be huge. */
  const gsize n = strnlen (text, GST_DMAKIT_ROI_TEXT_MAX_LENGTH + 1);
  if (n > GST_DMAKIT_ROI_TEXT_MAX_LENGTH) {
    g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_PARSE,
                 "ROI text, at byte %d: the text is longer than %d bytes",
                 GST_DMAKIT_ROI_TEXT_MAX_LENGTH, GST_DMAKIT_ROI_TEXT_MAX_LENGTH);
    return false;
  }
  *len = n;
  return true;
}

/* ---- crop helper -------------------------------------------------------------- */

/* Intersects [pos, pos + len) with [c, c + clen) and moves it to the crop's
 * origin. A zero-length span is a point, kept if it lies inside. */
bool
crop_axis (guint pos, guint len, guint c, guint clen, guint *out_pos, guint *out_len) noexcept
{
  const guint64 s = pos, e = static_cast<guint64> (pos) + len;
  const guint64 cs = c, ce = static_cast<guint64> (c) + clen;
  if (len == 0) {
    if (s < cs || s >= ce)
      return false;
    *out_pos = static_cast<guint> (s - cs);
    *out_len = 0;
    return true;
  }
  const guint64 is = std::max (s, cs), ie = std::min (e, ce);
  if (ie <= is)
    return false;
  *out_pos = static_cast<guint> (is - cs);
  *out_len = static_cast<guint> (ie - is);
  return true;
}

struct CropArea {
  guint x, y, w, h;
  guint dropped;
};

gboolean
crop_one (GstBuffer *buffer, GstMeta **meta, gpointer user_data) noexcept
{
  if ((*meta)->info->api != GST_DMAKIT_ROI_META_API_TYPE)
    return TRUE;
  auto *area = static_cast<CropArea *> (user_data);
  auto *m = as_roi (*meta);
  guint x, y, w, h;
  if (crop_axis (m->x, m->w, area->x, area->w, &x, &w)
      && crop_axis (m->y, m->h, area->y, area->h, &y, &h)) {
    m->x = x;
    m->y = y;
    m->w = w;
    m->h = h;
  } else {
    GST_LOG ("ROI #%d %u,%u %ux%u is outside the crop %u,%u %ux%u of %p; removed", m->id, m->x,
             m->y, m->w, m->h, area->x, area->y, area->w, area->h, buffer);
    *meta = nullptr;
    area->dropped++;
  }
  return TRUE;
}

/* ---- serialization (GStreamer >= 1.24) ------------------------------------------ */

#if GST_CHECK_VERSION(1, 24, 0)
gboolean
roi_meta_serialize (const GstMeta *meta, GstByteArrayInterface *data, guint8 *version) noexcept
{
  std::string text;
  try {
    if (!append_meta (text, reinterpret_cast<const GstDmakitRoiMeta *> (meta)))
      return FALSE;
  } catch (...) {
    return FALSE;
  }
  *version = 0;
  /* With the NUL, so the deserializer can check it got the whole string. */
  return gst_byte_array_interface_append_data (data, reinterpret_cast<const guint8 *> (text.c_str ()),
                                               text.size () + 1);
}

GstMeta *
roi_meta_deserialize (const GstMetaInfo * /* info */, GstBuffer *buffer, const guint8 *data,
                      gsize size, guint8 version) noexcept
{
  if (version != 0 || size == 0 || size > GST_DMAKIT_ROI_TEXT_MAX_LENGTH || data[size - 1] != '\0'
      || memchr (data, '\0', size - 1)) {
    GST_WARNING ("cannot deserialize a ROI meta (version %u, %" G_GSIZE_FORMAT " bytes)", version, size);
    return nullptr;
  }
  try {
    IdSet none; /* the id is checked against @buffer below, not refused */
    ParsedRect r;
    dmakit::GErrorPtr err;
    Parser parser (reinterpret_cast<const gchar *> (data), size - 1, err.out ());
    if (!parser.parse_single (r, none)) {
      GST_WARNING ("cannot deserialize a ROI meta: %s", err->message);
      return nullptr;
    }
    if (r.id >= 0 && find_id (buffer, r.id)) {
      GST_WARNING ("deserialized ROI id %d is already used on %p; it gets a new id", r.id, buffer);
      r.id = -1;
    }
    GstDmakitRoiMeta *m
        = add_raw (buffer, intern_text_type (r.type), r.id, r.parent_id, r.x, r.y, r.w, r.h);
    return m ? &m->meta : nullptr;
  } catch (...) {
    GST_WARNING ("cannot deserialize a ROI meta: out of memory");
    return nullptr;
  }
}
#endif

} // namespace

/* ---- public API ----------------------------------------------------------------- */

GType
gst_dmakit_roi_meta_api_get_type (void)
{
  static GType type = 0;
  if (g_once_init_enter (&type)) {
    ensure_debug_category ();
    static const gchar *tags[] = { GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR,
                                   GST_META_TAG_VIDEO_ORIENTATION_STR, nullptr };
    GType t = gst_meta_api_type_register ("GstDmakitRoiMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

const GstMetaInfo *
gst_dmakit_roi_meta_get_info (void)
{
  static const GstMetaInfo *info = nullptr;
  if (g_once_init_enter (&info)) {
    ensure_debug_category ();
#if GST_CHECK_VERSION(1, 24, 0)
    GstMetaInfo *mi = gst_meta_info_new (GST_DMAKIT_ROI_META_API_TYPE, "GstDmakitRoiMeta",
                                         sizeof (GstDmakitRoiMeta));
    mi->init_func = roi_meta_init;
    mi->free_func = nullptr;
    mi->transform_func = roi_meta_transform;
    mi->serialize_func = roi_meta_serialize;
    mi->deserialize_func = roi_meta_deserialize;
    const GstMetaInfo *registered = gst_meta_info_register (mi);
#else
    const GstMetaInfo *registered
        = gst_meta_register (GST_DMAKIT_ROI_META_API_TYPE, "GstDmakitRoiMeta",
                             sizeof (GstDmakitRoiMeta), roi_meta_init, nullptr, roi_meta_transform);
#endif
    g_once_init_leave (&info, registered);
  }
  return info;
}

GstDmakitRoiMeta *
gst_buffer_add_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, guint x, guint y, guint w,
                                guint h)
{
  return gst_buffer_add_dmakit_roi_meta_full (buffer, type, -1, -1, x, y, w, h);
}

GstDmakitRoiMeta *
gst_buffer_add_dmakit_roi_meta_full (GstBuffer *buffer, const gchar *type, gint id, gint parent_id,
                                     guint x, guint y, guint w, guint h)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), nullptr);
  g_return_val_if_fail (type != nullptr && *type != '\0', nullptr);
  g_return_val_if_fail (id >= -1 && parent_id >= -1, nullptr);
  g_return_val_if_fail (span_fits (x, w) && span_fits (y, h), nullptr);

  if (id >= 0) {
    if (find_id (buffer, id)) {
      GST_WARNING ("ROI id %d is already used on buffer %p", id, buffer);
      return nullptr;
    }
    if (parent_id == id) {
      GST_WARNING ("ROI #%d cannot be its own parent", id);
      return nullptr;
    }
  } else {
    /* Same rule as the text form: the next free id, never the parent's. */
    try {
      IdSet used (buffer);
      id = used.next ();
      if (id >= 0 && id == parent_id) {
        used.insert (id);
        id = used.next ();
      }
    } catch (...) {
      GST_WARNING ("out of memory looking for a free ROI id on %p", buffer);
      return nullptr;
    }
    if (id < 0)
      return nullptr;
  }
  return add_raw (buffer, g_quark_from_string (type), id, parent_id, x, y, w, h);
}

GstDmakitRoiMeta *
gst_buffer_get_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, gint id)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  const GQuark q = type ? g_quark_try_string (type) : 0;
  if (type && !q)
    return nullptr;
  GstDmakitRoiMeta *best = nullptr;
  gpointer state = nullptr;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered (buffer, &state, GST_DMAKIT_ROI_META_API_TYPE))) {
    auto *r = as_roi (m);
    if (type && r->roi_type != q)
      continue;
    if (id >= 0) {
      if (r->id == id)
        return r;
    } else if (!best || r->id < best->id) {
      best = r;
    }
  }
  return best;
}

GstDmakitRoiMeta *
gst_buffer_iterate_dmakit_roi_meta (GstBuffer *buffer, gpointer *state, const gchar *type)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (state != nullptr, nullptr);
  const GQuark q = type ? g_quark_try_string (type) : 0;
  if (type && !q)
    return nullptr;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered (buffer, state, GST_DMAKIT_ROI_META_API_TYPE)))
    if (!type || as_roi (m)->roi_type == q)
      return as_roi (m);
  return nullptr;
}

guint
gst_buffer_get_n_dmakit_roi_metas (GstBuffer *buffer, const gchar *type)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), 0);
  guint n = 0;
  gpointer state = nullptr;
  while (gst_buffer_iterate_dmakit_roi_meta (buffer, &state, type))
    n++;
  return n;
}

namespace {
std::vector<GstDmakitRoiMeta *>
sorted_metas (GstBuffer *buffer, const gchar *type)
{
  std::vector<GstDmakitRoiMeta *> v;
  gpointer state = nullptr;
  while (GstDmakitRoiMeta *m = gst_buffer_iterate_dmakit_roi_meta (buffer, &state, type))
    v.push_back (m);
  std::stable_sort (v.begin (), v.end (),
                    [] (const GstDmakitRoiMeta *a, const GstDmakitRoiMeta *b) { return a->id < b->id; });
  return v;
}
} // namespace

GstDmakitRoiMeta *
gst_buffer_get_nth_dmakit_roi_meta (GstBuffer *buffer, const gchar *type, guint index)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  try {
    auto v = sorted_metas (buffer, type);
    return index < v.size () ? v[index] : nullptr;
  } catch (...) {
    GST_WARNING ("out of memory sorting the ROI metas of %p", buffer);
    return nullptr;
  }
}

GList *
gst_buffer_get_dmakit_roi_metas (GstBuffer *buffer, const gchar *type)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  try {
    auto v = sorted_metas (buffer, type);
    GList *list = nullptr;
    for (auto it = v.rbegin (); it != v.rend (); ++it)
      list = g_list_prepend (list, *it);
    return list;
  } catch (...) {
    GST_WARNING ("out of memory sorting the ROI metas of %p", buffer);
    return nullptr;
  }
}

const gchar *
gst_dmakit_roi_meta_get_type_name (const GstDmakitRoiMeta *meta)
{
  g_return_val_if_fail (meta != nullptr, nullptr);
  return meta->roi_type ? g_quark_to_string (meta->roi_type) : nullptr;
}

gchar *
gst_dmakit_roi_meta_to_string (const GstDmakitRoiMeta *meta)
{
  g_return_val_if_fail (meta != nullptr, nullptr);
  try {
    std::string text;
    if (!append_meta (text, meta))
      return nullptr;
    return g_strndup (text.data (), text.size ());
  } catch (...) {
    GST_WARNING ("out of memory writing ROI #%d as text", meta->id);
    return nullptr;
  }
}

gchar *
gst_buffer_dmakit_roi_metas_to_string (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  try {
    std::string text;
    for (const GstDmakitRoiMeta *m : sorted_metas (buffer, nullptr)) {
      const gsize before = text.size ();
      if (before)
        text += ';';
      if (!append_meta (text, m)) {
        GST_WARNING ("ROI #%d on %p has no type and cannot be written as text", m->id, buffer);
        text.resize (before);
      }
    }
    return g_strndup (text.data (), text.size ());
  } catch (...) {
    GST_WARNING ("out of memory writing the ROI metas of %p as text", buffer);
    return nullptr;
  }
}

gboolean
gst_buffer_add_dmakit_roi_metas_from_string (GstBuffer *buffer, const gchar *text, GError **error)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), FALSE);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), FALSE);
  g_return_val_if_fail (text != nullptr, FALSE);
  g_return_val_if_fail (error == nullptr || *error == nullptr, FALSE);

  gsize len;
  if (!check_text_length (text, &len, error))
    return FALSE;

  std::vector<ParsedRect> rects;
  try {
    IdSet used (buffer);
    Parser parser (text, len, error);
    if (!parser.parse_list (rects, used) || !assign_ids (rects, used, error))
      return FALSE;
  } catch (...) {
    if (error && *error)
      g_clear_error (error);
    g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_NO_MEMORY,
                 "out of memory parsing %" G_GSIZE_FORMAT " bytes of ROI text", len);
    return FALSE;
  }

  /* Everything is valid: only now touch the buffer (no allocation of ours
   * below but the quark of each type). */
  for (const auto &r : rects) {
    GQuark type;
    try {
      type = intern_text_type (r.type);
    } catch (...) {
      type = 0;
    }
    if (!type || !add_raw (buffer, type, r.id, r.parent_id, r.x, r.y, r.w, r.h)) {
      g_set_error (error, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_FAILED, "could not add a ROI meta");
      return FALSE;
    }
  }
  GST_LOG ("added %" G_GSIZE_FORMAT " ROI metas to %p from text", rects.size (), buffer);
  return TRUE;
}

guint
gst_buffer_dmakit_roi_metas_crop (GstBuffer *buffer, guint x, guint y, guint w, guint h)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), 0);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), 0);
  CropArea area{ x, y, w, h, 0 };
  gst_buffer_foreach_meta (buffer, crop_one, &area);
  return area.dropped;
}

GstDmakitRoiMeta *
gst_buffer_add_dmakit_roi_meta_from_video_crop_meta (GstBuffer *buffer, const GstVideoCropMeta *crop)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (crop != nullptr, nullptr);
  return gst_buffer_add_dmakit_roi_meta_full (buffer, GST_DMAKIT_ROI_TYPE_CROP, -1, -1, crop->x,
                                              crop->y, crop->width, crop->height);
}

GstVideoCropMeta *
gst_dmakit_roi_meta_to_video_crop_meta (const GstDmakitRoiMeta *meta, GstBuffer *buffer)
{
  g_return_val_if_fail (meta != nullptr, nullptr);
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), nullptr);
  GstVideoCropMeta *crop = gst_buffer_get_video_crop_meta (buffer);
  if (!crop)
    crop = gst_buffer_add_video_crop_meta (buffer);
  if (!crop)
    return nullptr;
  crop->x = meta->x;
  crop->y = meta->y;
  crop->width = meta->w;
  crop->height = meta->h;
  return crop;
}

GstDmakitRoiMeta *
gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (GstBuffer *buffer,
                                                    const GstVideoRegionOfInterestMeta *roi)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), nullptr);
  g_return_val_if_fail (roi != nullptr, nullptr);
  const gchar *type = roi->roi_type ? g_quark_to_string (roi->roi_type) : nullptr;
  if (!type || !*type) {
    GST_WARNING ("GstVideoRegionOfInterestMeta without a type; not converted");
    return nullptr;
  }
  if (!span_fits (roi->x, roi->w) || !span_fits (roi->y, roi->h)) {
    GST_WARNING ("GstVideoRegionOfInterestMeta %u,%u %ux%u overflows; not converted", roi->x,
                 roi->y, roi->w, roi->h);
    return nullptr;
  }
  const gint id = roi->id >= 0 && !find_id (buffer, roi->id) ? roi->id : -1;
  const gint parent = roi->parent_id >= 0 && roi->parent_id != roi->id ? roi->parent_id : -1;
  /* add_raw drops a parent equal to the final id. */
  return add_raw (buffer, roi->roi_type, id, parent, roi->x, roi->y, roi->w, roi->h);
}

GstVideoRegionOfInterestMeta *
gst_dmakit_roi_meta_to_video_roi_meta (const GstDmakitRoiMeta *meta, GstBuffer *buffer)
{
  g_return_val_if_fail (meta != nullptr, nullptr);
  g_return_val_if_fail (GST_IS_BUFFER (buffer), nullptr);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), nullptr);
  g_return_val_if_fail (meta->roi_type != 0, nullptr);
  GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta_id (
      buffer, meta->roi_type, meta->x, meta->y, meta->w, meta->h);
  if (!roi)
    return nullptr;
  roi->id = meta->id;
  roi->parent_id = meta->parent_id;
  return roi;
}
