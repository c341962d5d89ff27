/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstDmakitRoiMeta through GStreamer's meta serialization (1.24 and newer):
 * gst_meta_serialize() / gst_meta_deserialize() round trips with ids and
 * parents, several metas in one byte stream, and malformed bytes refused
 * without a crash. Built against 1.22 the serialize API does not exist: the
 * test then exits 77 and says why. */
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>

#include <string.h>

#if GST_CHECK_VERSION(1, 24, 0)

static GstBuffer *
three_rois (void)
{
  GstBuffer *buf = gst_buffer_new ();
  GstDmakitRoiMeta *face = gst_buffer_add_dmakit_roi_meta (buf, "face", 10, 20, 64, 48);
  fail_unless (face != NULL);
  GstDmakitRoiMeta *eye = gst_buffer_add_dmakit_roi_meta (buf, "eye", 16, 30, 8, 6);
  fail_unless (eye != NULL);
  eye->parent_id = face->id;
  GstDmakitRoiMeta *plate = gst_buffer_add_dmakit_roi_meta (buf, "plate", 300, 200, 120, 30);
  fail_unless (plate != NULL);
  return buf;
}

/* Every ROI meta of @buf serialized, one after the other, into one array. */
static GByteArray *
serialize_all (GstBuffer * buf, guint * count)
{
  GByteArray *bytes = g_byte_array_new ();
  gpointer state = NULL;
  GstMeta *meta;
  *count = 0;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state, GST_DMAKIT_ROI_META_API_TYPE))) {
    fail_unless (gst_meta_serialize_simple (meta, bytes), "meta %u did not serialize", *count);
    (*count)++;
  }
  return bytes;
}

/* Deserialize every meta in @data onto @into; returns how many were made,
 * stops at the first refusal. */
static guint
deserialize_all (GstBuffer * into, const guint8 * data, gsize size)
{
  guint made = 0;
  gsize at = 0;
  while (at < size) {
    guint32 consumed = 0;
    GstMeta *m = gst_meta_deserialize (into, data + at, size - at, &consumed);
    if (m == NULL)
      break;
    fail_unless (consumed > 0 && consumed <= size - at);
    at += consumed;
    made++;
  }
  return made;
}

GST_START_TEST (test_round_trip_keeps_ids_and_parents)
{
  GstBuffer *src = three_rois ();
  gchar *before = gst_buffer_dmakit_roi_metas_to_string (src);
  guint count;
  GByteArray *bytes = serialize_all (src, &count);
  fail_unless_equals_int (count, 3);

  GstBuffer *dst = gst_buffer_new ();
  fail_unless_equals_int (deserialize_all (dst, bytes->data, bytes->len), 3);
  gchar *after = gst_buffer_dmakit_roi_metas_to_string (dst);
  fail_unless_equals_string (after, before);

  /* the parent link survived by id */
  GstDmakitRoiMeta *eye = NULL, *face = NULL;
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (dst, &state, GST_DMAKIT_ROI_META_API_TYPE))) {
    GstDmakitRoiMeta *r = (GstDmakitRoiMeta *) meta;
    if (g_str_equal (gst_dmakit_roi_meta_get_type_name (r), "eye"))
      eye = r;
    else if (g_str_equal (gst_dmakit_roi_meta_get_type_name (r), "face"))
      face = r;
  }
  fail_unless (eye != NULL && face != NULL);
  fail_unless_equals_int (eye->parent_id, face->id);
  fail_unless_equals_int (eye->x, 16);
  fail_unless_equals_int (eye->h, 6);

  g_free (before);
  g_free (after);
  g_byte_array_unref (bytes);
  gst_buffer_unref (src);
  gst_buffer_unref (dst);
}
GST_END_TEST;

GST_START_TEST (test_id_clash_gets_new_id)
{
  GstBuffer *src = gst_buffer_new ();
  GstDmakitRoiMeta *a = gst_buffer_add_dmakit_roi_meta (src, "face", 1, 2, 3, 4);
  guint count;
  GByteArray *bytes = serialize_all (src, &count);
  fail_unless_equals_int (count, 1);

  /* deserialize twice onto the same buffer: the second one's id is taken */
  GstBuffer *dst = gst_buffer_new ();
  fail_unless_equals_int (deserialize_all (dst, bytes->data, bytes->len), 1);
  fail_unless_equals_int (deserialize_all (dst, bytes->data, bytes->len), 1);
  GList *rois = gst_buffer_get_dmakit_roi_metas (dst, NULL);
  fail_unless_equals_int (g_list_length (rois), 2);
  GstDmakitRoiMeta *r0 = rois->data, *r1 = rois->next->data;
  fail_unless (r0->id != r1->id, "two ROIs with id %d on one buffer", r0->id);
  fail_unless (r0->id == a->id || r1->id == a->id);
  g_list_free (rois);
  g_byte_array_unref (bytes);
  gst_buffer_unref (src);
  gst_buffer_unref (dst);
}
GST_END_TEST;

/* Where the canonical text of the one ROI sits inside its serialization. */
static gsize
payload_offset (const GByteArray * bytes, const gchar * text)
{
  const gsize n = strlen (text);
  for (gsize i = 0; i + n <= bytes->len; i++)
    if (memcmp (bytes->data + i, text, n) == 0)
      return i;
  fail ("payload '%s' not found in the serialized bytes", text);
  return 0;
}

GST_START_TEST (test_malformed_bytes_refused)
{
  GstBuffer *src = gst_buffer_new ();
  gst_buffer_add_dmakit_roi_meta (src, "face", 10, 20, 30, 40);
  gchar *text = gst_buffer_dmakit_roi_metas_to_string (src);
  guint count;
  GByteArray *good = serialize_all (src, &count);
  fail_unless_equals_int (count, 1);
  const gsize at = payload_offset (good, text);
  /* the payload is the text and its NUL, at the end */
  fail_unless_equals_int (at + strlen (text) + 1, good->len);

  /* every truncation is refused (a short header or a short payload) */
  for (gsize len = 0; len < good->len; len++) {
    GstBuffer *dst = gst_buffer_new ();
    guint32 consumed = 0;
    fail_unless (gst_meta_deserialize (dst, good->data, len, &consumed) == NULL,
        "a %" G_GSIZE_FORMAT "-byte prefix of %u bytes was accepted", len, good->len);
    fail_unless_equals_int (gst_buffer_get_n_meta (dst, GST_DMAKIT_ROI_META_API_TYPE), 0);
    gst_buffer_unref (dst);
  }

  /* payloads that are not one valid rectangle, with the header kept */
  static const gchar *const bad_payloads[] = {
    "",                          /* nothing */
    "face",                      /* no rectangle */
    "face:10,20,30x40;eye:1,2,3x4", /* two rectangles */
    "face:-1,20,30x40",          /* negative x */
    "face:99999999999,0,1x1",    /* overflow */
    "fa\xffge:1,2,3x4",          /* not UTF-8 */
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad_payloads); i++) {
    const gchar *p = bad_payloads[i];
    GByteArray *bad = g_byte_array_new ();
    g_byte_array_append (bad, good->data, at);
    g_byte_array_append (bad, (const guint8 *) p, strlen (p) + 1);
    /* keep the header's own length field consistent: refuse by content */
    const guint32 total = bad->len;
    if (good->len >= 4) {
      guint32 orig;
      memcpy (&orig, good->data, 4);
      if (orig == good->len)
        memcpy (bad->data, &total, 4);
    }
    GstBuffer *dst = gst_buffer_new ();
    guint32 consumed = 0;
    fail_unless (gst_meta_deserialize (dst, bad->data, bad->len, &consumed) == NULL,
        "bad payload #%u '%s' was accepted", i, p);
    fail_unless_equals_int (gst_buffer_get_n_meta (dst, GST_DMAKIT_ROI_META_API_TYPE), 0);
    gst_buffer_unref (dst);
    g_byte_array_unref (bad);
  }

  /* a payload without its NUL, and one with a NUL inside */
  {
    GByteArray *bad = g_byte_array_new ();
    g_byte_array_append (bad, good->data, good->len);
    bad->data[bad->len - 1] = 'x';
    GstBuffer *dst = gst_buffer_new ();
    guint32 consumed = 0;
    fail_unless (gst_meta_deserialize (dst, bad->data, bad->len, &consumed) == NULL);
    bad->data[bad->len - 1] = '\0';
    bad->data[at + 2] = '\0';
    fail_unless (gst_meta_deserialize (dst, bad->data, bad->len, &consumed) == NULL);
    fail_unless_equals_int (gst_buffer_get_n_meta (dst, GST_DMAKIT_ROI_META_API_TYPE), 0);
    gst_buffer_unref (dst);
    g_byte_array_unref (bad);
  }

  /* and the unmodified bytes still work */
  GstBuffer *dst = gst_buffer_new ();
  fail_unless_equals_int (deserialize_all (dst, good->data, good->len), 1);
  gchar *back = gst_buffer_dmakit_roi_metas_to_string (dst);
  fail_unless_equals_string (back, text);
  g_free (back);
  gst_buffer_unref (dst);

  g_free (text);
  g_byte_array_unref (good);
  gst_buffer_unref (src);
}
GST_END_TEST;

static Suite *
roimeta_serialize_suite (void)
{
  Suite *s = suite_create ("roimeta-serialize");
  TCase *tc = tcase_create ("serialize");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_round_trip_keeps_ids_and_parents);
  tcase_add_test (tc, test_id_clash_gets_new_id);
  tcase_add_test (tc, test_malformed_bytes_refused);
  return s;
}

GST_CHECK_MAIN (roimeta_serialize);

#else

int
main (void)
{
  g_print ("SKIP: meta serialization (gst_meta_serialize) needs GStreamer 1.24; built against %d.%d\n",
      GST_VERSION_MAJOR, GST_VERSION_MINOR);
  return 77;
}

#endif
