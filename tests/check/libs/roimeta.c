/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of GstDmakitRoiMeta: registration, add/find/iterate, the copy and
 * scale transforms, the physical-crop helper, the text form (round trips and a
 * table of malformed input) and the bridges to GStreamer's crop and ROI metas. */
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>

#include <string.h>

static GstBuffer *
new_buffer (void)
{
  return gst_buffer_new ();
}

static gchar *
text_of (GstBuffer * buf)
{
  gchar *s = gst_buffer_dmakit_roi_metas_to_string (buf);
  fail_unless (s != NULL);
  return s;
}

static void
assert_text (GstBuffer * buf, const gchar * expected)
{
  gchar *s = text_of (buf);
  fail_unless_equals_string (s, expected);
  g_free (s);
}

static void
assert_rect (const GstDmakitRoiMeta * m, const gchar * type, gint id, gint parent, guint x,
    guint y, guint w, guint h)
{
  fail_unless (m != NULL, "missing rectangle #%d", id);
  fail_unless_equals_string (gst_dmakit_roi_meta_get_type_name (m), type);
  fail_unless_equals_int (m->id, id);
  fail_unless_equals_int (m->parent_id, parent);
  fail_unless_equals_int (m->x, x);
  fail_unless_equals_int (m->y, y);
  fail_unless_equals_int (m->w, w);
  fail_unless_equals_int (m->h, h);
}

/* ---- registration ---------------------------------------------------------- */

#define N_REG_THREADS 8
static gint reg_go;

static gpointer
register_thread (gpointer data)
{
  (void) data;
  while (!g_atomic_int_get (&reg_go))
    g_thread_yield ();
  return (gpointer) gst_dmakit_roi_meta_get_info ();
}

GST_START_TEST (test_registration)
{
  /* Each test runs in its own process: this is the first registration, raced
   * from several threads. All must get the same info. */
  GThread *threads[N_REG_THREADS];
  for (guint i = 0; i < N_REG_THREADS; i++)
    threads[i] = g_thread_new ("reg", register_thread, NULL);
  g_atomic_int_set (&reg_go, 1);
  const GstMetaInfo *first = g_thread_join (threads[0]);
  for (guint i = 1; i < N_REG_THREADS; i++)
    fail_unless (g_thread_join (threads[i]) == first);

  const GstMetaInfo *info = GST_DMAKIT_ROI_META_INFO;
  fail_unless (info == first);
  fail_unless (info == gst_meta_get_info ("GstDmakitRoiMeta"));
  fail_unless (info->api == GST_DMAKIT_ROI_META_API_TYPE);
  fail_unless_equals_string (g_type_name (info->api), "GstDmakitRoiMetaAPI");
  fail_unless (info->size == sizeof (GstDmakitRoiMeta));
  fail_unless (info->transform_func != NULL);

  GType api = GST_DMAKIT_ROI_META_API_TYPE;
  fail_unless (gst_meta_api_type_has_tag (api, g_quark_from_string (GST_META_TAG_VIDEO_STR)));
  fail_unless (gst_meta_api_type_has_tag (api, g_quark_from_string (GST_META_TAG_VIDEO_SIZE_STR)));
  fail_unless (gst_meta_api_type_has_tag (api,
          g_quark_from_string (GST_META_TAG_VIDEO_ORIENTATION_STR)));
  fail_if (gst_meta_api_type_has_tag (api, g_quark_from_string (GST_META_TAG_MEMORY_STR)));
  const gchar *const *tags = gst_meta_api_type_get_tags (api);
  fail_unless_equals_int (g_strv_length ((gchar **) tags), 3);
}
GST_END_TEST;

/* ---- add, find, iterate ---------------------------------------------------- */

GST_START_TEST (test_add_find_iterate)
{
  GstBuffer *buf = new_buffer ();
  GstDmakitRoiMeta *crop = gst_buffer_add_dmakit_roi_meta (buf, "crop", 10, 20, 640, 480);
  GstDmakitRoiMeta *f1 = gst_buffer_add_dmakit_roi_meta (buf, "face", 1, 2, 3, 4);
  GstDmakitRoiMeta *f2 = gst_buffer_add_dmakit_roi_meta_full (buf, "face", 7, 0, 5, 6, 7, 8);
  GstDmakitRoiMeta *f3 = gst_buffer_add_dmakit_roi_meta_full (buf, "face", -1, 7, 9, 9, 1, 1);

  assert_rect (crop, "crop", 0, -1, 10, 20, 640, 480);
  assert_rect (f1, "face", 1, -1, 1, 2, 3, 4);
  assert_rect (f2, "face", 7, 0, 5, 6, 7, 8);
  /* auto ids continue above the highest id in use */
  assert_rect (f3, "face", 8, 7, 9, 9, 1, 1);
  fail_unless (crop->roi_type == g_quark_from_string (GST_DMAKIT_ROI_TYPE_CROP));

  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 4);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, "face"), 3);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, "crop"), 1);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, "nobody-uses-this-type"), 0);

  /* find by type and id */
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, "face", 7) == f2);
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, NULL, 7) == f2);
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, "crop", 7) == NULL);
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, "face", 99) == NULL);
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, "face", -1) == f1); /* lowest id */
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, NULL, -1) == crop);
  fail_unless (gst_buffer_get_dmakit_roi_meta (buf, "crop", -1) == crop);

  /* iterate: every face once, nothing else */
  gpointer state = NULL;
  GstDmakitRoiMeta *m;
  guint seen = 0, mask = 0;
  while ((m = gst_buffer_iterate_dmakit_roi_meta (buf, &state, "face"))) {
    fail_unless_equals_string (gst_dmakit_roi_meta_get_type_name (m), "face");
    mask |= 1u << (m == f1 ? 0 : m == f2 ? 1 : m == f3 ? 2 : 3);
    seen++;
  }
  fail_unless_equals_int (seen, 3);
  fail_unless_equals_int (mask, 0x7);

  /* the list and the nth getter are in id order */
  GList *list = gst_buffer_get_dmakit_roi_metas (buf, NULL);
  fail_unless_equals_int (g_list_length (list), 4);
  fail_unless (g_list_nth_data (list, 0) == crop);
  fail_unless (g_list_nth_data (list, 1) == f1);
  fail_unless (g_list_nth_data (list, 2) == f2);
  fail_unless (g_list_nth_data (list, 3) == f3);
  g_list_free (list);
  fail_unless (gst_buffer_get_nth_dmakit_roi_meta (buf, "face", 0) == f1);
  fail_unless (gst_buffer_get_nth_dmakit_roi_meta (buf, "face", 2) == f3);
  fail_unless (gst_buffer_get_nth_dmakit_roi_meta (buf, "face", 3) == NULL);
  fail_unless (gst_buffer_get_dmakit_roi_metas (buf, "nobody-uses-this-type") == NULL);

  /* a taken id, a self-parent: refused, buffer unchanged */
  fail_unless (gst_buffer_add_dmakit_roi_meta_full (buf, "face", 7, -1, 0, 0, 1, 1) == NULL);
  fail_unless (gst_buffer_add_dmakit_roi_meta_full (buf, "face", 20, 20, 0, 0, 1, 1) == NULL);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 4);

  /* invalid arguments are programming errors */
  ASSERT_CRITICAL (gst_buffer_add_dmakit_roi_meta (buf, "", 0, 0, 1, 1));
  ASSERT_CRITICAL (gst_buffer_add_dmakit_roi_meta (buf, NULL, 0, 0, 1, 1));
  ASSERT_CRITICAL (gst_buffer_add_dmakit_roi_meta (buf, "face", G_MAXUINT, 0, 1, 1));
  ASSERT_CRITICAL (gst_buffer_add_dmakit_roi_meta (buf, "face", 0, 2, 1, G_MAXUINT - 1));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 4);

  /* removing one frees its id for nothing else: the next id is still above the max */
  gst_buffer_remove_meta (buf, (GstMeta *) f1);
  GstDmakitRoiMeta *f4 = gst_buffer_add_dmakit_roi_meta (buf, "face", 0, 0, 2, 2);
  fail_unless_equals_int (f4->id, 9);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_ids_unique)
{
  GstBuffer *buf = new_buffer ();
  /* A meta added the raw way still gets an id of its own. */
  GstDmakitRoiMeta *a = (GstDmakitRoiMeta *) gst_buffer_add_meta (buf, GST_DMAKIT_ROI_META_INFO,
      NULL);
  GstDmakitRoiMeta *b = (GstDmakitRoiMeta *) gst_buffer_add_meta (buf, GST_DMAKIT_ROI_META_INFO,
      NULL);
  fail_unless_equals_int (a->id, 0);
  fail_unless_equals_int (b->id, 1);
  fail_unless_equals_int (a->parent_id, -1);
  fail_unless_equals_int (a->roi_type, 0);
  /* a meta without a type cannot be written as text */
  fail_unless (gst_dmakit_roi_meta_to_string (a) == NULL);
  fail_unless (gst_dmakit_roi_meta_get_type_name (a) == NULL);
  assert_text (buf, "");
  gst_buffer_unref (buf);

  /* At the top of the id range, the lowest free id is used. */
  buf = new_buffer ();
  fail_unless (gst_buffer_add_dmakit_roi_meta_full (buf, "t", G_MAXINT, -1, 0, 0, 1, 1));
  fail_unless (gst_buffer_add_dmakit_roi_meta_full (buf, "t", 0, -1, 0, 0, 1, 1));
  GstDmakitRoiMeta *c = gst_buffer_add_dmakit_roi_meta (buf, "t", 0, 0, 1, 1);
  fail_unless_equals_int (c->id, 1);
  /* the new id never equals the requested parent */
  GstDmakitRoiMeta *d = gst_buffer_add_dmakit_roi_meta_full (buf, "t", -1, 2, 0, 0, 1, 1);
  fail_unless_equals_int (d->id, 3);
  fail_unless_equals_int (d->parent_id, 2);
  gst_buffer_unref (buf);
}
GST_END_TEST;

/* ---- copy ------------------------------------------------------------------- */

GST_START_TEST (test_copy)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64, NULL);
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf,
          "crop#4:1,2,30x40;face#9<4:5,6,7x8;f%20x#2:0,0,0x0", NULL));
  const gchar *expected = "f%20x#2:0,0,0x0;crop#4:1,2,30x40;face#9<4:5,6,7x8";
  assert_text (buf, expected);

  /* gst_buffer_copy: every field */
  GstBuffer *copy = gst_buffer_copy (buf);
  assert_text (copy, expected);
  assert_rect (gst_buffer_get_dmakit_roi_meta (copy, "face", 9), "face", 9, 4, 5, 6, 7, 8);
  fail_unless (gst_buffer_get_dmakit_roi_meta (copy, "face", 9) !=
      gst_buffer_get_dmakit_roi_meta (buf, "face", 9));
  gst_buffer_unref (copy);

  /* gst_buffer_copy_into with META only */
  GstBuffer *dest = gst_buffer_new ();
  fail_unless (gst_buffer_copy_into (dest, buf, GST_BUFFER_COPY_META, 0, -1));
  assert_text (dest, expected);
  /* copying again into the same buffer does not duplicate identical rectangles */
  fail_unless (gst_buffer_copy_into (dest, buf, GST_BUFFER_COPY_META, 0, -1));
  assert_text (dest, expected);
  gst_buffer_unref (dest);

  /* a region copy carries them too (documented, like GstVideoRegionOfInterestMeta) */
  GstBuffer *region = gst_buffer_copy_region (buf, GST_BUFFER_COPY_ALL, 8, 16);
  assert_text (region, expected);
  gst_buffer_unref (region);

  /* copying into a buffer whose id 4 is a different rectangle: the copy gets a new id */
  dest = gst_buffer_new ();
  fail_unless (gst_buffer_add_dmakit_roi_meta_full (dest, "other", 4, -1, 9, 9, 9, 9));
  fail_unless (gst_buffer_copy_into (dest, buf, GST_BUFFER_COPY_META, 0, -1));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (dest, NULL), 4);
  assert_rect (gst_buffer_get_dmakit_roi_meta (dest, NULL, 4), "other", 4, -1, 9, 9, 9, 9);
  GstDmakitRoiMeta *moved = gst_buffer_get_dmakit_roi_meta (dest, "crop", -1);
  fail_unless (moved->id != 4 && moved->id != 2 && moved->id != 9);
  assert_rect (moved, "crop", moved->id, -1, 1, 2, 30, 40);
  gst_buffer_unref (dest);

  gst_buffer_unref (buf);
}
GST_END_TEST;

/* ---- scale ------------------------------------------------------------------ */

/* Applies the transforms a scaler applies: copy flags/timestamps, then the
 * "gst-video-scale" transform of every meta (what videoconvertscale does). */
static GstBuffer *
scale_metas (GstBuffer * in, gint iw, gint ih, gint ow, gint oh)
{
  GstVideoInfo in_info, out_info;
  fail_unless (gst_video_info_set_format (&in_info, GST_VIDEO_FORMAT_GRAY8, iw, ih));
  fail_unless (gst_video_info_set_format (&out_info, GST_VIDEO_FORMAT_GRAY8, ow, oh));
  GstVideoMetaTransform trans = { &in_info, &out_info };
  GstBuffer *out = gst_buffer_new ();
  fail_unless (gst_buffer_copy_into (out, in, GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS,
          0, -1));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (out, NULL), 0);
  gpointer state = NULL;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta (in, &state)))
    fail_unless (m->info->transform_func (out, m, in, gst_video_meta_transform_scale_get_quark (),
            &trans));
  return out;
}

/* Independent reference: round half up of v * out / in. */
static guint
ref_round (guint64 v, guint64 out, guint64 in)
{
  return (guint) ((2 * v * out + in) / (2 * in));
}

static void
check_scaled (guint x, guint w, guint in, guint out, guint got_x, guint got_w)
{
  guint x0 = ref_round (x, out, in);
  guint x1 = ref_round (MIN ((guint64) x + w, in), out, in);
  if (w > 0 && x1 <= x0) {
    if (x0 >= out)
      x0 = out - 1;
    x1 = x0 + 1;
  }
  fail_unless_equals_int (got_x, x0);
  fail_unless_equals_int (got_w, x1 - x0);
}

GST_START_TEST (test_scale)
{
  GstBuffer *buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta_full (buf, "face", 5, 2, 10, 20, 30, 40);

  /* up 2x */
  GstBuffer *up = scale_metas (buf, 100, 100, 200, 200);
  assert_text (up, "face#5<2:20,40,60x80");
  gst_buffer_unref (up);

  /* down 2x: each edge rounded, not x and width separately */
  gst_buffer_unref (buf);
  buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta (buf, "r", 11, 21, 33, 45);
  GstBuffer *down = scale_metas (buf, 640, 480, 320, 240);
  /* x: 5.5 -> 6, x+w: 22 -> 22 => w 16 (not round(16.5) = 17); y: 10.5 -> 11, 33 -> 33 */
  assert_text (down, "r#0:6,11,16x22");
  gst_buffer_unref (down);

  /* same size is the identity (what videoconvert does) */
  GstBuffer *same = scale_metas (buf, 640, 480, 640, 480);
  assert_text (same, "r#0:11,21,33x45");
  gst_buffer_unref (same);
  gst_buffer_unref (buf);

  /* odd sizes, many rectangles, checked against the reference */
  const guint in_w = 101, in_h = 77, out_w = 33, out_h = 50;
  buf = new_buffer ();
  for (guint i = 0; i < 60; i++) {
    guint x = (i * 37) % in_w, y = (i * 53) % in_h;
    guint w = 1 + (i * 11) % (in_w - x), h = 1 + (i * 7) % (in_h - y);
    gst_buffer_add_dmakit_roi_meta_full (buf, "r", (gint) i, -1, x, y, w, h);
  }
  GstBuffer *odd = scale_metas (buf, in_w, in_h, out_w, out_h);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (odd, NULL), 60);
  for (guint i = 0; i < 60; i++) {
    GstDmakitRoiMeta *s = gst_buffer_get_dmakit_roi_meta (buf, NULL, (gint) i);
    GstDmakitRoiMeta *d = gst_buffer_get_dmakit_roi_meta (odd, NULL, (gint) i);
    fail_unless (d != NULL);
    check_scaled (s->x, s->w, in_w, out_w, d->x, d->w);
    check_scaled (s->y, s->h, in_h, out_h, d->y, d->h);
    fail_unless (d->w >= 1 && d->h >= 1);
    fail_unless (d->x + d->w <= out_w && d->y + d->h <= out_h);
  }
  gst_buffer_unref (odd);
  /* and back up to an odd size */
  GstBuffer *odd_up = scale_metas (buf, in_w, in_h, 333, 199);
  for (guint i = 0; i < 60; i++) {
    GstDmakitRoiMeta *s = gst_buffer_get_dmakit_roi_meta (buf, NULL, (gint) i);
    GstDmakitRoiMeta *d = gst_buffer_get_dmakit_roi_meta (odd_up, NULL, (gint) i);
    check_scaled (s->x, s->w, in_w, 333, d->x, d->w);
    check_scaled (s->y, s->h, in_h, 199, d->y, d->h);
  }
  gst_buffer_unref (odd_up);
  gst_buffer_unref (buf);

  /* rectangles at the frame edge, 1-pixel ones, one sticking out, one outside */
  buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta_full (buf, "edge", 0, -1, 90, 90, 10, 10);
  gst_buffer_add_dmakit_roi_meta_full (buf, "px", 1, -1, 55, 0, 1, 1);
  gst_buffer_add_dmakit_roi_meta_full (buf, "last", 2, -1, 99, 99, 1, 1);
  gst_buffer_add_dmakit_roi_meta_full (buf, "out", 3, -1, 95, 0, 20, 100);
  gst_buffer_add_dmakit_roi_meta_full (buf, "gone", 4, -1, 100, 0, 5, 5);
  gst_buffer_add_dmakit_roi_meta_full (buf, "pt", 5, -1, 99, 50, 0, 0);
  gst_buffer_add_dmakit_roi_meta_full (buf, "full", 6, -1, 0, 0, 100, 100);
  GstBuffer *tiny = scale_metas (buf, 100, 100, 10, 10);
  /* edge: 9..10 stays inside; px: 5.5..5.6 rounds to 6..6, kept 1 wide;
   * last: 9.9..10 rounds to 10..10, kept 1 wide inside at 9; out: clipped to
   * 95..100 -> 10..10 -> 9 + 1; gone: starts outside the frame, dropped;
   * pt: a point stays a point, inside; full stays full */
  assert_text (tiny, "edge#0:9,9,1x1;px#1:6,0,1x1;last#2:9,9,1x1;out#3:9,0,1x10;"
      "pt#5:9,5,0x0;full#6:0,0,10x10");
  gst_buffer_unref (tiny);
  GstBuffer *big = scale_metas (buf, 100, 100, 1000, 1000);
  assert_text (big, "edge#0:900,900,100x100;px#1:550,0,10x10;last#2:990,990,10x10;"
      "out#3:950,0,50x1000;pt#5:990,500,0x0;full#6:0,0,1000x1000");
  gst_buffer_unref (big);
  gst_buffer_unref (buf);

  /* edges are scaled, so rectangles that tile the frame still tile it */
  buf = new_buffer ();
  guint edges[] = { 0, 13, 33, 34, 67, 80, 100 };
  for (guint i = 0; i + 1 < G_N_ELEMENTS (edges); i++)
    gst_buffer_add_dmakit_roi_meta_full (buf, "tile", (gint) i, -1, edges[i], 0,
        edges[i + 1] - edges[i], 1);
  GstBuffer *tiled = scale_metas (buf, 100, 1, 7, 1);
  guint next = 0;
  for (guint i = 0; i + 1 < G_N_ELEMENTS (edges); i++) {
    GstDmakitRoiMeta *d = gst_buffer_get_dmakit_roi_meta (tiled, NULL, (gint) i);
    /* a span may only be widened to 1 pixel when it would vanish */
    if (d->w > 0 && ref_round (edges[i + 1], 7, 100) > ref_round (edges[i], 7, 100)) {
      fail_unless_equals_int (d->x, next);
      next = d->x + d->w;
    }
  }
  fail_unless_equals_int (next, 7);
  gst_buffer_unref (tiled);
  gst_buffer_unref (buf);

  /* an unknown transform drops the meta */
  buf = new_buffer ();
  GstMeta *meta = (GstMeta *) gst_buffer_add_dmakit_roi_meta (buf, "r", 1, 1, 1, 1);
  GstBuffer *other = gst_buffer_new ();
  fail_if (meta->info->transform_func (other, meta, buf, g_quark_from_string ("some-transform"),
          NULL));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (other, NULL), 0);
  gst_buffer_unref (other);
  gst_buffer_unref (buf);
}
GST_END_TEST;

/* ---- physical crop helper --------------------------------------------------- */

GST_START_TEST (test_crop_helper)
{
  GstBuffer *buf = new_buffer ();
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf,
          "in#0:120,60,10x10;left#1:90,70,20x5;right#2:300,50,10x10;above#3:150,0,10x49;"
          "all#4:0,0,640x480;pt#5:100,50,0x0;ptout#6:99,50,0x0;corner#7:299,149,100x100;"
          "touch#8:300,60,5x5", NULL));
  /* keep the 200x100 area at (100, 50) */
  guint dropped = gst_buffer_dmakit_roi_metas_crop (buf, 100, 50, 200, 100);
  fail_unless_equals_int (dropped, 4);  /* right, above, ptout, touch */
  assert_text (buf, "in#0:20,10,10x10;left#1:0,20,10x5;all#4:0,0,200x100;pt#5:0,0,0x0;"
      "corner#7:199,99,1x1");

  /* cropping to nothing drops everything */
  dropped = gst_buffer_dmakit_roi_metas_crop (buf, 0, 0, 0, 0);
  fail_unless_equals_int (dropped, 5);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 0);

  /* other metas are left alone; large values do not overflow */
  GstVideoCropMeta *vc = gst_buffer_add_video_crop_meta (buf);
  vc->x = 3;
  gst_buffer_add_dmakit_roi_meta (buf, "big", G_MAXUINT - 10, 0, 10, 1);
  fail_unless_equals_int (gst_buffer_dmakit_roi_metas_crop (buf, G_MAXUINT - 5, 0, 5, 1), 0);
  assert_text (buf, "big#0:0,0,5x1");
  fail_unless (gst_buffer_get_video_crop_meta (buf) == vc && vc->x == 3);
  gst_buffer_unref (buf);
}
GST_END_TEST;

/* ---- text form -------------------------------------------------------------- */

GST_START_TEST (test_text_round_trip)
{
  static const gchar *canonical[] = {
    "",
    "crop#0:0,0,640x480",
    "face#3<1:10,20,64x64",
    "a#0:0,0,0x0;b#1<0:4294967295,0,0x4294967295",
    "crop#0:8,8,1904x1064;face#1<0:100,200,64x64;face#2<0:400,200,60x60;eye#3<1:110,220,10x5",
    "f%20x#5:1,2,3x4",
    "caf%C3%A9#2147483647<2147483646:1,1,1x1",
    "roi/x264enc#1:0,0,16x16;A-Z.0_9+#2:1,1,1x1",
    "%25%3A%3B%23%3C#7:1,2,3x4",
  };
  for (guint i = 0; i < G_N_ELEMENTS (canonical); i++) {
    GstBuffer *buf = new_buffer ();
    GError *err = NULL;
    fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, canonical[i], &err),
        "'%s': %s", canonical[i], err ? err->message : "");
    assert_text (buf, canonical[i]);
    /* each meta's own text is its part of the whole */
    gchar **parts = g_strsplit (canonical[i], ";", -1);
    GList *list = gst_buffer_get_dmakit_roi_metas (buf, NULL);
    fail_unless_equals_int (g_list_length (list), *canonical[i] ? g_strv_length (parts) : 0);
    guint k = 0;
    for (GList * l = list; l; l = l->next, k++) {
      gchar *one = gst_dmakit_roi_meta_to_string (l->data);
      fail_unless_equals_string (one, parts[k]);
      /* and parses back on its own to the same rectangle */
      GstBuffer *single = new_buffer ();
      fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (single, one, NULL));
      assert_text (single, one);
      gst_buffer_unref (single);
      g_free (one);
    }
    g_list_free (list);
    g_strfreev (parts);
    gst_buffer_unref (buf);
  }
}
GST_END_TEST;

GST_START_TEST (test_text_canonical_form)
{
  static const struct
  {
    const gchar *in, *out;
  } cases[] = {
    {" \t\n", ""},
    {" face : 1 , 2 , 3 x 4 ", "face#0:1,2,3x4"},
    {"face # 3 < 1 : 1,2,3x4", "face#3<1:1,2,3x4"},
    {"a:1,2,3x4;b:5,6,7x8", "a#0:1,2,3x4;b#1:5,6,7x8"},
    {"a:1,2,3x4 ;\n b:5,6,7x8", "a#0:1,2,3x4;b#1:5,6,7x8"},
    {"x#5:0,0,1x1;y:0,0,1x1", "x#5:0,0,1x1;y#6:0,0,1x1"},
    {"y:0,0,1x1;x#5:0,0,1x1", "x#5:0,0,1x1;y#6:0,0,1x1"},
    {"p<0:0,0,1x1;q:0,0,1x1", "p#1<0:0,0,1x1;q#2:0,0,1x1"},   /* never its own parent */
    {"caf%c3%a9:1,1,1x1", "caf%C3%A9#0:1,1,1x1"},
    {"b#2:0,0,1x1;a#1:0,0,1x1;c#0:0,0,1x1", "c#0:0,0,1x1;a#1:0,0,1x1;b#2:0,0,1x1"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstBuffer *buf = new_buffer ();
    GError *err = NULL;
    fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, cases[i].in, &err),
        "'%s': %s", cases[i].in, err ? err->message : "");
    assert_text (buf, cases[i].out);
    gst_buffer_unref (buf);
  }

  /* unnumbered rectangles continue above the ids already on the buffer */
  GstBuffer *buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta_full (buf, "old", 7, -1, 0, 0, 1, 1);
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, "n:1,1,1x1;m#3:2,2,2x2", NULL));
  assert_text (buf, "m#3:2,2,2x2;old#7:0,0,1x1;n#8:1,1,1x1");
  gst_buffer_unref (buf);
}
GST_END_TEST;

static const struct
{
  const gchar *text;
  gint offset;
  const gchar *says;
} malformed[] = {
  {";", 0, "expected a ROI type name"},
  {"crop", 4, "expected '#', '<' or ':' after the type name, found the end of the text"},
  {"crop:", 5, "expected x"},
  {"crop:1,2,3", 10, "expected 'x' between width and height"},
  {"crop:1,2,3x", 11, "expected a height"},
  {"crop:1,2,3x4;", 13, "expected a ROI type name"},
  {"crop:1,2,3x4 junk", 13, "expected ';' between rectangles"},
  {"crop:1,2,3X4", 10, "found 'X'"},
  {"crop:1 2,3x4", 7, "expected ',' after x, found '2'"},
  {"crop:-1,2,3x4", 5, "expected x (0 to 4294967295), found '-'"},
  {"crop:+1,2,3x4", 5, "found '+'"},
  {"crop:0x10,2,3x4", 6, "expected ',' after x"},
  {"crop:4294967296,0,1x1", 5, "x (0 to 4294967295) is larger than 4294967295"},
  {"crop:99999999999999999999999,0,1x1", 5, "is larger than"},
  {"crop:4294967295,0,1x1", 5, "x + width (4294967296) is larger than 4294967295"},
  {"crop:0,4294967000,1x296", 7, "y + height (4294967296) is larger than"},
  {"crop#2147483648:0,0,1x1", 5, "an id (0 to 2147483647) is larger than 2147483647"},
  {"crop#-1:0,0,1x1", 5, "expected an id"},
  {"crop#01:0,0,1x1", 5, "leading zero"},
  {"crop:01,0,1x1", 5, "leading zero"},
  {"crop#:0,0,1x1", 5, "expected an id"},
  {"crop#1#2:0,0,1x1", 6, "expected ':' before the coordinates, found '#'"},
  {"crop<:0,0,1x1", 5, "expected a parent id"},
  {"a#1:0,0,1x1;b#1:0,0,1x1", 14, "id 1 is already used"},
  {"keep#0:0,0,1x1", 5, "id 0 is already used"},
  {"a#3<3:0,0,1x1", 4, "cannot be its own parent"},
  {"fa ce:0,0,1x1", 3, "found 'c'"},
  {"fa$ce:0,0,1x1", 2, "found '$'"},
  {"#1:0,0,1x1", 0, "expected a ROI type name"},
  {"%zz:0,0,1x1", 0, "two hexadecimal digits"},
  {"a%4:0,0,1x1", 1, "two hexadecimal digits"},
  {"a%00:0,0,1x1", 1, "NUL"},
  {"%FF:0,0,1x1", 0, "not valid UTF-8"},
  {"crop:1,2,3x4\xff", 12, "found byte 0xFF"},
  {"\xc3\xa9:1,2,3x4", 0, "found byte 0xC3"},
  {"crop:1,2,3x4;;", 13, "expected a ROI type name"},
  {"crop:1,2,3x4\x01", 12, "found byte 0x01"},
};

GST_START_TEST (test_text_malformed)
{
  GstBuffer *buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta (buf, "keep", 1, 2, 3, 4);
  const gchar *before = "keep#0:1,2,3x4";

  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++) {
    GError *err = NULL;
    fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf, malformed[i].text, &err),
        "'%s' was accepted", malformed[i].text);
    fail_unless (err != NULL);
    fail_unless (g_error_matches (err, GST_DMAKIT_ERROR, GST_DMAKIT_ERROR_PARSE));
    gchar *where = g_strdup_printf ("at byte %d:", malformed[i].offset);
    fail_unless (strstr (err->message, where) != NULL, "'%s': wrong position in '%s' (want %s)",
        malformed[i].text, err->message, where);
    fail_unless (strstr (err->message, malformed[i].says) != NULL,
        "'%s': message '%s' does not say '%s'", malformed[i].text, err->message,
        malformed[i].says);
    g_free (where);
    g_error_free (err);
    assert_text (buf, before);
    fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 1);
  }
  /* a NULL error pointer is fine */
  fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf, "bad", NULL));
  assert_text (buf, before);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_text_limits)
{
  GstBuffer *buf = new_buffer ();
  GError *err = NULL;

  /* a 255-byte type is fine, 256 is not */
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < 255; i++)
    g_string_append_c (s, 'a');
  g_string_append (s, ":0,0,1x1");
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, s->str, NULL));
  g_string_insert_c (s, 0, 'b');
  fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf, s->str, &err));
  fail_unless (strstr (err->message, "at byte 0: type name longer than 255 bytes"), "%s",
      err->message);
  g_clear_error (&err);
  /* escapes count once decoded: 85 x %C3%A9 is 170 bytes, fine */
  g_string_truncate (s, 0);
  for (guint i = 0; i < 85; i++)
    g_string_append (s, "%C3%A9");
  g_string_append (s, "#100:0,0,1x1");
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, s->str, &err));

  /* 1024 rectangles are accepted, 1025 are not */
  gst_buffer_unref (buf);
  buf = new_buffer ();
  g_string_truncate (s, 0);
  for (guint i = 0; i < GST_DMAKIT_ROI_TEXT_MAX_RECTS; i++)
    g_string_append_printf (s, "%sr:%u,0,1x1", i ? ";" : "", i);
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, s->str, NULL));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL),
      GST_DMAKIT_ROI_TEXT_MAX_RECTS);
  gchar *back = text_of (buf);
  GstBuffer *again = new_buffer ();
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (again, back, NULL));
  assert_text (again, back);
  gst_buffer_unref (again);
  g_free (back);
  gst_buffer_unref (buf);
  buf = new_buffer ();
  g_string_append (s, ";r:0,0,1x1");
  fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf, s->str, &err));
  fail_unless (strstr (err->message, "more than 1024 rectangles"), "%s", err->message);
  g_clear_error (&err);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 0);

  /* text longer than the limit is refused without reading all of it */
  gsize big = GST_DMAKIT_ROI_TEXT_MAX_LENGTH + 100;
  gchar *huge = g_malloc (big + 1);
  memset (huge, ' ', big);
  huge[big] = '\0';
  fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf, huge, &err));
  fail_unless (strstr (err->message, "at byte 65536: the text is longer than 65536 bytes"), "%s",
      err->message);
  g_clear_error (&err);
  /* exactly at the limit is fine (all whitespace: no rectangles) */
  huge[GST_DMAKIT_ROI_TEXT_MAX_LENGTH] = '\0';
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, huge, NULL));
  g_free (huge);

  g_string_free (s, TRUE);
  gst_buffer_unref (buf);
}
GST_END_TEST;

/* ---- bridges ------------------------------------------------------------------ */

GST_START_TEST (test_bridges)
{
  /* GstVideoCropMeta -> ours */
  GstBuffer *src = new_buffer ();
  GstVideoCropMeta *vc = gst_buffer_add_video_crop_meta (src);
  vc->x = 16;
  vc->y = 8;
  vc->width = 1280;
  vc->height = 720;
  GstBuffer *buf = new_buffer ();
  gst_buffer_add_dmakit_roi_meta (buf, "face", 0, 0, 1, 1);
  GstDmakitRoiMeta *c = gst_buffer_add_dmakit_roi_meta_from_video_crop_meta (buf, vc);
  assert_rect (c, "crop", 1, -1, 16, 8, 1280, 720);

  /* ours -> GstVideoCropMeta: added when missing, updated when present (one crop meta) */
  GstBuffer *out = new_buffer ();
  GstVideoCropMeta *oc = gst_dmakit_roi_meta_to_video_crop_meta (c, out);
  fail_unless (oc != NULL && gst_buffer_get_video_crop_meta (out) == oc);
  fail_unless (oc->x == 16 && oc->y == 8 && oc->width == 1280 && oc->height == 720);
  GstDmakitRoiMeta *f = gst_buffer_get_dmakit_roi_meta (buf, "face", -1);
  fail_unless (gst_dmakit_roi_meta_to_video_crop_meta (f, out) == oc);
  fail_unless (oc->x == 0 && oc->y == 0 && oc->width == 1 && oc->height == 1);
  guint n_crop = 0;
  gpointer state = NULL;
  while (gst_buffer_iterate_meta_filtered (out, &state, GST_VIDEO_CROP_META_API_TYPE))
    n_crop++;
  fail_unless_equals_int (n_crop, 1);
  gst_buffer_unref (out);
  gst_buffer_unref (src);
  gst_buffer_unref (buf);

  /* GstVideoRegionOfInterestMeta -> ours: type quark, id and parent carried */
  src = new_buffer ();
  GstVideoRegionOfInterestMeta *r1 =
      gst_buffer_add_video_region_of_interest_meta (src, "person", 10, 20, 30, 40);
  r1->id = 4;
  r1->parent_id = 2;
  buf = new_buffer ();
  GstDmakitRoiMeta *m1 = gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (buf, r1);
  assert_rect (m1, "person", 4, 2, 10, 20, 30, 40);
  fail_unless (m1->roi_type == r1->roi_type);
  /* the same id again: a new id */
  GstDmakitRoiMeta *m2 = gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (buf, r1);
  assert_rect (m2, "person", 5, 2, 10, 20, 30, 40);
  /* GStreamer initialises id and parent_id to 0: that is "no parent" */
  GstVideoRegionOfInterestMeta *r0 =
      gst_buffer_add_video_region_of_interest_meta (src, "car", 1, 2, 3, 4);
  fail_unless (r0->id == 0 && r0->parent_id == 0);
  GstDmakitRoiMeta *m0 = gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (buf, r0);
  assert_rect (m0, "car", 0, -1, 1, 2, 3, 4);
  GstDmakitRoiMeta *m0b = gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (buf, r0);
  assert_rect (m0b, "car", 6, -1, 1, 2, 3, 4);
  /* a ROI meta without a type is not converted */
  GstVideoRegionOfInterestMeta *untyped =
      gst_buffer_add_video_region_of_interest_meta_id (src, 0, 1, 1, 1, 1);
  fail_unless (gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (buf, untyped) == NULL);
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), 4);

  /* ours -> GstVideoRegionOfInterestMeta, and back again: same text */
  out = new_buffer ();
  GList *list = gst_buffer_get_dmakit_roi_metas (buf, NULL);
  for (GList * l = list; l; l = l->next) {
    GstDmakitRoiMeta *m = l->data;
    GstVideoRegionOfInterestMeta *v = gst_dmakit_roi_meta_to_video_roi_meta (m, out);
    fail_unless (v != NULL);
    fail_unless (v->roi_type == m->roi_type && v->id == m->id && v->parent_id == m->parent_id);
    fail_unless (v->x == m->x && v->y == m->y && v->w == m->w && v->h == m->h);
  }
  g_list_free (list);
  GstBuffer *back = new_buffer ();
  state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (out, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    fail_unless (gst_buffer_add_dmakit_roi_meta_from_video_roi_meta (back,
            (GstVideoRegionOfInterestMeta *) meta));
  gchar *a = text_of (buf), *b = text_of (back);
  fail_unless_equals_string (a, b);
  fail_unless_equals_string (a, "car#0:1,2,3x4;person#4<2:10,20,30x40;person#5<2:10,20,30x40;"
      "car#6:1,2,3x4");
  g_free (a);
  g_free (b);
  gst_buffer_unref (back);
  gst_buffer_unref (out);
  gst_buffer_unref (buf);
  gst_buffer_unref (src);
}
GST_END_TEST;

/* Keep this test last: it spends the process's budget of new text types (with
 * CK_FORK=no all tests share one process). */
GST_START_TEST (test_text_new_type_cap)
{
  GstBuffer *buf = new_buffer ();
  fail_unless (gst_buffer_add_dmakit_roi_meta (buf, "made-in-c-before", 0, 0, 1, 1));
  guint created = 0;
  for (;;) {
    gchar *text = g_strdup_printf ("cap-type-%u:0,0,1x1", created);
    GError *err = NULL;
    gboolean ok = gst_buffer_add_dmakit_roi_metas_from_string (buf, text, &err);
    g_free (text);
    if (!ok) {
      fail_unless (strstr (err->message, "at byte 0: unknown ROI type") != NULL, "%s",
          err->message);
      g_error_free (err);
      break;
    }
    created++;
    fail_unless (created <= GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES, "no limit on new types");
  }
  /* earlier tests in the same process may have used part of the budget */
  fail_unless (created > GST_DMAKIT_ROI_TEXT_MAX_NEW_TYPES / 2);
  guint n = gst_buffer_get_n_dmakit_roi_metas (buf, NULL);
  fail_unless_equals_int (n, created + 1);
  /* known types keep working, whoever created them */
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf,
          "cap-type-0:1,1,1x1;made-in-c-before:2,2,2x2", NULL));
  fail_unless (gst_buffer_add_dmakit_roi_meta (buf, "made-in-c-after", 0, 0, 1, 1));
  fail_unless (gst_buffer_add_dmakit_roi_metas_from_string (buf, "made-in-c-after:3,3,3x3",
          NULL));
  /* a refused text leaves the buffer unchanged */
  fail_if (gst_buffer_add_dmakit_roi_metas_from_string (buf,
          "made-in-c-after:3,3,3x3;never-seen-before:0,0,1x1", NULL));
  fail_unless_equals_int (gst_buffer_get_n_dmakit_roi_metas (buf, NULL), n + 4);
  gst_buffer_unref (buf);
}
GST_END_TEST;

static Suite *
roimeta_suite (void)
{
  Suite *s = suite_create ("dmakit-roimeta");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_registration);
  tcase_add_test (tc, test_add_find_iterate);
  tcase_add_test (tc, test_ids_unique);
  tcase_add_test (tc, test_copy);
  tcase_add_test (tc, test_scale);
  tcase_add_test (tc, test_crop_helper);
  tcase_add_test (tc, test_text_round_trip);
  tcase_add_test (tc, test_text_canonical_form);
  tcase_add_test (tc, test_text_malformed);
  tcase_add_test (tc, test_text_limits);
  tcase_add_test (tc, test_bridges);
  tcase_add_test (tc, test_text_new_type_cap);
  return s;
}

/* The library logs in its own domain, which GstCheck does not trap: route its
 * criticals to GstCheck so ASSERT_CRITICAL works and unexpected ones fail. */
static void
dmakit_log_critical (const gchar * domain, GLogLevelFlags level, const gchar * message,
    gpointer user_data)
{
  (void) user_data;
  if (_gst_check_expecting_log && (level & G_LOG_LEVEL_CRITICAL)) {
    _gst_check_raised_critical = TRUE;
    return;
  }
  g_printerr ("%s: unexpected %s: %s\n", domain,
      (level & G_LOG_LEVEL_CRITICAL) ? "critical" : "warning", message);
  fail ("unexpected log message from %s: %s", domain, message);
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  g_log_set_handler ("GStreamer-Dmakit", G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING,
      dmakit_log_critical, NULL);
  return gst_check_run_suite (roimeta_suite (), "roimeta", __FILE__);
}
