/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstDmakitBufferPool and pooled metas with a clear function (GstMetaInfo's
 * clear_func, GStreamer 1.24 and newer): a meta flagged POOLED stays on a
 * recycled buffer and is cleared on the way back, as GstBufferPool's own
 * reset does; a meta that is not POOLED is dropped. Built against 1.22 (no
 * clear_func) the test exits 77 and says why. */
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>

#if GST_CHECK_VERSION(1, 24, 0)

typedef struct
{
  GstMeta meta;
  gint value;
} CountingMeta;

static gint clears;

static gboolean
counting_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  (void) params;
  (void) buffer;
  ((CountingMeta *) meta)->value = 0;
  return TRUE;
}

static void
counting_clear (GstBuffer * buffer, GstMeta * meta)
{
  (void) buffer;
  ((CountingMeta *) meta)->value = 0;
  g_atomic_int_inc (&clears);
}

static GType
counting_api_type (void)
{
  static GType type = 0;
  if (g_once_init_enter (&type)) {
    static const gchar *tags[] = { NULL };
    g_once_init_leave (&type, gst_meta_api_type_register ("DmakitTestCountingMetaAPI", tags));
  }
  return type;
}

static const GstMetaInfo *
counting_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter (&info)) {
    GstMetaInfo *mi = gst_meta_info_new (counting_api_type (), "DmakitTestCountingMeta",
        sizeof (CountingMeta));
    mi->init_func = counting_init;
    mi->clear_func = counting_clear;
    g_once_init_leave (&info, gst_meta_info_register (mi));
  }
  return info;
}

static GstBufferPool *
small_pool (void)
{
  GstBufferPool *pool = gst_dmakit_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=16,height=16");
  gst_buffer_pool_config_set_params (config, caps, 256, 1, 1);
  gst_dmakit_buffer_pool_config_set_refill (config, FALSE);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  gst_caps_unref (caps);
  return pool;
}

GST_START_TEST (test_pooled_meta_is_cleared_and_kept)
{
  GstBufferPool *pool = small_pool ();
  GstBuffer *buf = NULL;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL), GST_FLOW_OK);
  CountingMeta *m = (CountingMeta *) gst_buffer_add_meta (buf, counting_info (), NULL);
  fail_unless (m != NULL);
  m->value = 42;
  GST_META_FLAG_SET (m, GST_META_FLAG_POOLED);
  GstBuffer *first = buf;
  const gint before = g_atomic_int_get (&clears);
  gst_buffer_unref (buf);
  fail_unless_equals_int (g_atomic_int_get (&clears), before + 1);

  /* max 1: the same buffer comes back, with its pooled meta, cleared */
  buf = NULL;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL), GST_FLOW_OK);
  fail_unless (buf == first);
  m = (CountingMeta *) gst_buffer_get_meta (buf, counting_api_type ());
  fail_unless (m != NULL, "the POOLED meta was dropped on recycling");
  fail_unless_equals_int (m->value, 0);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

GST_START_TEST (test_unpooled_meta_is_dropped)
{
  GstBufferPool *pool = small_pool ();
  GstBuffer *buf = NULL;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL), GST_FLOW_OK);
  fail_unless (gst_buffer_add_meta (buf, counting_info (), NULL) != NULL);
  const gint before = g_atomic_int_get (&clears);
  gst_buffer_unref (buf);
  buf = NULL;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL), GST_FLOW_OK);
  fail_unless (gst_buffer_get_meta (buf, counting_api_type ()) == NULL);
  fail_unless_equals_int (g_atomic_int_get (&clears), before);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
}
GST_END_TEST;

static Suite *
bufferpool_meta_clear_suite (void)
{
  Suite *s = suite_create ("bufferpool-meta-clear");
  TCase *tc = tcase_create ("clear");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pooled_meta_is_cleared_and_kept);
  tcase_add_test (tc, test_unpooled_meta_is_dropped);
  return s;
}

GST_CHECK_MAIN (bufferpool_meta_clear);

#else

int
main (void)
{
  g_print ("SKIP: GstMetaInfo.clear_func needs GStreamer 1.24; built against %d.%d\n",
      GST_VERSION_MAJOR, GST_VERSION_MINOR);
  return 77;
}

#endif
