/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the GstDmakitRoiMeta text form.
 *
 * For every input it checks properties, not just "no crash":
 *  - rejected text leaves the buffer exactly as it was and the error is in
 *    GST_DMAKIT_ERROR_PARSE with "at byte N:" where N <= the text's length;
 *  - accepted text round-trips: to_string, parse onto a fresh buffer,
 *    to_string again gives the same bytes;
 *  - the crop helper and the scale transform keep every rectangle inside the
 *    target frame.
 *  - on GStreamer >= 1.24 the same bytes, as the payload of a serialized
 *    meta (a real header in front), are either refused by
 *    gst_meta_deserialize() with nothing added to the buffer, or give one
 *    rectangle whose own serialization deserializes to the same text.
 * Built and run by run-fuzz.sh (see tests/check/meson.build). */
#include <gst/dmakit/dmakit.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define REQUIRE(cond)                                                                  \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf (stderr, "roimeta-fuzzer: %s:%d: property failed: %s\n", __FILE__,        \
               __LINE__, #cond);                                                       \
      abort ();                                                                        \
    }                                                                                  \
  } while (0)

namespace {

const char *const kPresent = "keep#7<1:10,20,30x40";

gchar *
text_of (GstBuffer *buf)
{
  gchar *s = gst_buffer_dmakit_roi_metas_to_string (buf);
  REQUIRE (s != nullptr);
  return s;
}

void
check_inside (GstBuffer *buf, guint w, guint h)
{
  gpointer state = nullptr;
  while (GstDmakitRoiMeta *m = gst_buffer_iterate_dmakit_roi_meta (buf, &state, nullptr)) {
    REQUIRE (static_cast<guint64> (m->x) + m->w <= w);
    REQUIRE (static_cast<guint64> (m->y) + m->h <= h);
    REQUIRE (m->w > 0 || m->x < w);
    REQUIRE (m->h > 0 || m->y < h);
  }
}

/* What every accepted text must give: spans that fit a guint, unique ids >= 0,
 * no rectangle its own parent, a type name. */
void
check_invariants (GstBuffer *buf)
{
  GList *list = gst_buffer_get_dmakit_roi_metas (buf, nullptr);
  gint prev = -1;
  for (GList *l = list; l; l = l->next) {
    auto *m = static_cast<GstDmakitRoiMeta *> (l->data);
    REQUIRE (static_cast<guint64> (m->x) + m->w <= G_MAXUINT);
    REQUIRE (static_cast<guint64> (m->y) + m->h <= G_MAXUINT);
    REQUIRE (m->id >= 0 && m->id > prev); /* sorted by id, so unique ids increase */
    REQUIRE (m->parent_id >= -1 && m->parent_id != m->id);
    const gchar *type = gst_dmakit_roi_meta_get_type_name (m);
    REQUIRE (type != nullptr && *type != '\0' && strlen (type) <= GST_DMAKIT_ROI_TYPE_MAX_LENGTH);
    REQUIRE (g_utf8_validate (type, -1, nullptr));
    prev = m->id;
  }
  REQUIRE (g_list_length (list) <= GST_DMAKIT_ROI_TEXT_MAX_RECTS + 1);
  g_list_free (list);
}

void
check_scale (GstBuffer *buf, guint seed)
{
  const gint iw = 1 + static_cast<gint> (seed % 4096), ih = 1 + static_cast<gint> ((seed >> 12) % 4096);
  const gint ow = 1 + static_cast<gint> ((seed >> 3) % 977), oh = 1 + static_cast<gint> ((seed >> 7) % 1531);
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format (&in_info, GST_VIDEO_FORMAT_GRAY8, iw, ih);
  gst_video_info_set_format (&out_info, GST_VIDEO_FORMAT_GRAY8, ow, oh);
  GstVideoMetaTransform trans = { &in_info, &out_info };
  GstBuffer *out = gst_buffer_new ();
  gpointer state = nullptr;
  while (GstMeta *m = gst_buffer_iterate_meta (buf, &state)) {
    auto *roi = reinterpret_cast<GstDmakitRoiMeta *> (m);
    const bool inside = roi->x < static_cast<guint> (iw) && roi->y < static_cast<guint> (ih);
    const guint before = gst_buffer_get_n_dmakit_roi_metas (out, nullptr);
    REQUIRE (m->info->transform_func (out, m, buf, gst_video_meta_transform_scale_get_quark (), &trans));
    /* a rectangle starting inside the input frame is never lost, one outside is dropped */
    REQUIRE (gst_buffer_get_n_dmakit_roi_metas (out, nullptr) == before + (inside ? 1 : 0));
    if (inside && roi->w > 0) {
      GstDmakitRoiMeta *d = gst_buffer_get_dmakit_roi_meta (out, nullptr, roi->id);
      REQUIRE (d != nullptr && d->w >= 1);
    }
  }
  check_inside (out, static_cast<guint> (ow), static_cast<guint> (oh));
  gst_buffer_unref (out);
}

#if GST_CHECK_VERSION(1, 24, 0)
/* The bytes gst_meta_serialize() puts before a ROI meta's payload (the text
 * and its NUL), taken from a real serialization once. */
GByteArray *g_header;
bool g_header_has_total; /* its first guint32 is the whole size */

void
init_serialize_header ()
{
  GstBuffer *buf = gst_buffer_new ();
  REQUIRE (gst_buffer_add_dmakit_roi_metas_from_string (buf, "a:1,2,3x4", nullptr));
  gpointer state = nullptr;
  GstMeta *m = gst_buffer_iterate_meta (buf, &state);
  REQUIRE (m != nullptr);
  GByteArray *bytes = g_byte_array_new ();
  REQUIRE (gst_meta_serialize_simple (m, bytes));
  gchar *payload = gst_dmakit_roi_meta_to_string (reinterpret_cast<GstDmakitRoiMeta *> (m));
  const size_t n = strlen (payload) + 1; /* with its NUL */
  REQUIRE (bytes->len > n);
  const guint at = bytes->len - static_cast<guint> (n);
  REQUIRE (memcmp (bytes->data + at, payload, n) == 0);
  g_free (payload);
  guint32 first;
  memcpy (&first, bytes->data, 4);
  g_header_has_total = first == bytes->len;
  g_header = g_byte_array_new ();
  g_byte_array_append (g_header, bytes->data, at);
  g_byte_array_unref (bytes);
  gst_buffer_unref (buf);
}

void
check_deserialize (const uint8_t *data, size_t size)
{
  if (size > G_MAXUINT32 - g_header->len)
    return;
  GByteArray *msg = g_byte_array_sized_new (g_header->len + size);
  g_byte_array_append (msg, g_header->data, g_header->len);
  g_byte_array_append (msg, data, static_cast<guint> (size));
  if (g_header_has_total) {
    const guint32 total = msg->len;
    memcpy (msg->data, &total, 4);
  }
  GstBuffer *buf = gst_buffer_new ();
  guint32 consumed = 0;
  GstMeta *m = gst_meta_deserialize (buf, msg->data, msg->len, &consumed);
  if (m == nullptr) {
    REQUIRE (gst_buffer_get_n_dmakit_roi_metas (buf, nullptr) == 0);
  } else {
    REQUIRE (consumed <= msg->len);
    REQUIRE (gst_buffer_get_n_dmakit_roi_metas (buf, nullptr) == 1);
    check_invariants (buf);
    gchar *once = text_of (buf);
    GByteArray *again = g_byte_array_new ();
    REQUIRE (gst_meta_serialize_simple (m, again));
    GstBuffer *buf2 = gst_buffer_new ();
    REQUIRE (gst_meta_deserialize (buf2, again->data, again->len, &consumed) != nullptr);
    gchar *twice = text_of (buf2);
    REQUIRE (strcmp (once, twice) == 0);
    g_free (twice);
    g_free (once);
    gst_buffer_unref (buf2);
    g_byte_array_unref (again);
  }
  gst_buffer_unref (buf);
  g_byte_array_unref (msg);
}
#endif

} // namespace

extern "C" int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

extern "C" int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  /* No plugins are needed: keep start-up cheap and free of registry scans. */
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
  g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  gst_init (nullptr, nullptr);
  g_log_set_always_fatal (static_cast<GLogLevelFlags> (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
#if GST_CHECK_VERSION(1, 24, 0)
  init_serialize_header ();
#endif

  /* Warm up: whatever the target creates lazily (quarks, debug categories,
   * the error domain, the scale quark) exists before fuzzing starts. */
  static const char warm[] = "crop#2:1,2,3x4;face<2:0,0,1x1";
  LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (warm), sizeof warm - 1);
  static const char bad[] = "crop:1,2,";
  LLVMFuzzerTestOneInput (reinterpret_cast<const uint8_t *> (bad), sizeof bad - 1);

  /* GLib grows its quark table every 2048 quarks and leaks the old array on
   * purpose (lock-free readers). Step just past a growth point now: the text
   * form creates at most GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES (< 2047) new
   * quarks, so no growth, and no false leak report, happens while fuzzing. */
  static_assert (GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES < 2047, "quark padding assumes fewer types");
  for (guint i = 0;; i++) {
    gchar *name = g_strdup_printf ("dmakit-fuzz-pad-%u", i);
    const GQuark q = g_quark_from_string (name);
    g_free (name);
    if (q % 2048 == 0)
      break;
  }
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* The API takes a NUL-terminated string: embedded NULs end the text. */
  const std::string text (reinterpret_cast<const char *> (data), size);
  const size_t len = strlen (text.c_str ());

  GstBuffer *buf = gst_buffer_new ();
  REQUIRE (gst_buffer_add_dmakit_roi_metas_from_string (buf, kPresent, nullptr));
  gchar *before = text_of (buf);

  GError *err = nullptr;
  if (!gst_buffer_add_dmakit_roi_metas_from_string (buf, text.c_str (), &err)) {
    REQUIRE (err != nullptr);
    REQUIRE (g_error_matches (err, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_PARSE));
    const char *at = strstr (err->message, "at byte ");
    REQUIRE (at != nullptr);
    const unsigned long offset = strtoul (at + 8, nullptr, 10);
    REQUIRE (offset <= len);
    gchar *after = text_of (buf);
    REQUIRE (strcmp (before, after) == 0);
    REQUIRE (gst_buffer_get_n_dmakit_roi_metas (buf, nullptr) == 1);
    g_free (after);
    g_error_free (err);
  } else {
    REQUIRE (err == nullptr);
    check_invariants (buf);
    gchar *once = text_of (buf);
    GstBuffer *again = gst_buffer_new ();
    GError *err2 = nullptr;
    REQUIRE (gst_buffer_add_dmakit_roi_metas_from_string (again, once, &err2));
    gchar *twice = text_of (again);
    REQUIRE (strcmp (once, twice) == 0);
    REQUIRE (gst_buffer_get_n_dmakit_roi_metas (again, nullptr)
             == gst_buffer_get_n_dmakit_roi_metas (buf, nullptr));
    /* every single rectangle's text parses back on its own */
    gpointer state = nullptr;
    while (GstDmakitRoiMeta *m = gst_buffer_iterate_dmakit_roi_meta (buf, &state, nullptr)) {
      gchar *one = gst_dmakit_roi_meta_to_string (m);
      REQUIRE (one != nullptr && strchr (one, ';') == nullptr);
      GstBuffer *single = gst_buffer_new ();
      REQUIRE (gst_buffer_add_dmakit_roi_metas_from_string (single, one, nullptr));
      gchar *back = text_of (single);
      REQUIRE (strcmp (one, back) == 0);
      g_free (back);
      gst_buffer_unref (single);
      g_free (one);
    }

    const guint seed = g_str_hash (once);
    check_scale (buf, seed);
    const guint cx = seed % 2000, cy = (seed >> 11) % 2000;
    const guint cw = (seed >> 5) % 3000, ch = (seed >> 9) % 3000;
    const guint n = gst_buffer_get_n_dmakit_roi_metas (again, nullptr);
    const guint dropped = gst_buffer_dmakit_roi_metas_crop (again, cx, cy, cw, ch);
    REQUIRE (dropped + gst_buffer_get_n_dmakit_roi_metas (again, nullptr) == n);
    check_inside (again, cw, ch);

    g_free (twice);
    g_free (once);
    gst_buffer_unref (again);
  }
  g_free (before);
  gst_buffer_unref (buf);
#if GST_CHECK_VERSION(1, 24, 0)
  check_deserialize (data, size);
#endif
  return 0;
}
