/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loads the uninstalled dmakit plugin and checks its metadata, and that every
 * element instantiates and every writable property can be read and set back. */
#include <gst/check/gstcheck.h>
#include "config.h"

/* Elements the plugin must provide. Keep in step with gst/elements/plugin.cpp. */
static const gchar *const expected_elements[] = {
  "dmakitcrop",
  "dmakitsink",
  NULL,
};

static GstPlugin *
load_dmakit (void)
{
  GstPlugin *plugin = gst_registry_find_plugin (gst_registry_get (), "dmakit");
  fail_unless (plugin != NULL, "dmakit plugin not found in " GST_DMAKIT_PLUGIN_DIR);
  GstPlugin *loaded = gst_plugin_load (plugin);
  fail_unless (loaded != NULL);
  gst_object_unref (plugin);
  return loaded;
}

GST_START_TEST (test_plugin_metadata)
{
  GstPlugin *plugin = load_dmakit ();
  fail_unless_equals_string (gst_plugin_get_name (plugin), "dmakit");
  fail_unless_equals_string (gst_plugin_get_version (plugin), VERSION);
  fail_unless_equals_string (gst_plugin_get_license (plugin), "LGPL");
  fail_unless_equals_string (gst_plugin_get_source (plugin), PACKAGE);
  fail_unless_equals_string (gst_plugin_get_package (plugin), "dmakit");
  fail_unless (g_str_has_prefix (gst_plugin_get_origin (plugin), "https://"));
  fail_unless (strlen (gst_plugin_get_description (plugin)) > 20);
  const gchar *filename = gst_plugin_get_filename (plugin);
  fail_unless (filename && g_str_has_prefix (filename, GST_DMAKIT_PLUGIN_DIR),
      "plugin loaded from %s, not from the build directory", filename);
  gst_object_unref (plugin);
}
GST_END_TEST;

static void
check_property_round_trip (GstElement * element, GParamSpec * pspec)
{
  const gchar *name = g_param_spec_get_name (pspec);
  const gchar *blurb = g_param_spec_get_blurb (pspec);
  fail_unless (blurb && strlen (blurb) > 5, "%s::%s has no description",
      G_OBJECT_TYPE_NAME (element), name);
  if (!(pspec->flags & G_PARAM_READABLE))
    return;
  /* GstObject's own name/parent are not element properties to round-trip */
  if (pspec->owner_type == GST_TYPE_OBJECT)
    return;
  GValue value = G_VALUE_INIT;
  g_value_init (&value, pspec->value_type);
  g_object_get_property (G_OBJECT (element), name, &value);
  /* The value read back must be valid for the spec and equal the default at
   * construction (every property declares a default). */
  fail_if (g_param_value_validate (pspec, &value), "%s::%s reads an invalid value",
      G_OBJECT_TYPE_NAME (element), name);
  if ((pspec->flags & G_PARAM_WRITABLE) && !(pspec->flags & G_PARAM_CONSTRUCT_ONLY)) {
    GValue def = G_VALUE_INIT;
    g_value_init (&def, pspec->value_type);
    g_param_value_set_default (pspec, &def);
    if (!G_VALUE_HOLDS_OBJECT (&def) && !G_VALUE_HOLDS_BOXED (&def) && !G_VALUE_HOLDS_POINTER (&def)
        && g_strcmp0 (name, "name") != 0 && g_strcmp0 (name, "parent") != 0)
      fail_unless (g_param_values_cmp (pspec, &value, &def) == 0,
          "%s::%s does not start at its declared default", G_OBJECT_TYPE_NAME (element), name);
    g_value_unset (&def);
    g_object_set_property (G_OBJECT (element), name, &value);
    GValue again = G_VALUE_INIT;
    g_value_init (&again, pspec->value_type);
    g_object_get_property (G_OBJECT (element), name, &again);
    fail_unless (g_param_values_cmp (pspec, &value, &again) == 0,
        "%s::%s did not read back what was set", G_OBJECT_TYPE_NAME (element), name);
    g_value_unset (&again);
  }
  g_value_unset (&value);
}

GST_START_TEST (test_elements_instantiate)
{
  GstPlugin *plugin = load_dmakit ();
  GList *features = gst_registry_get_feature_list_by_plugin (gst_registry_get (), "dmakit");
  guint n_elements = 0;
  for (GList * l = features; l; l = l->next) {
    if (!GST_IS_ELEMENT_FACTORY (l->data))
      continue;
    GstElementFactory *f = GST_ELEMENT_FACTORY (l->data);
    const gchar *fname = GST_OBJECT_NAME (f);
    n_elements++;
    fail_unless (g_str_has_prefix (fname, "dmakit"), "element %s is not named dmakit<role>", fname);
    const gchar *keys[] = { GST_ELEMENT_METADATA_LONGNAME, GST_ELEMENT_METADATA_KLASS,
      GST_ELEMENT_METADATA_DESCRIPTION, GST_ELEMENT_METADATA_AUTHOR };
    for (guint k = 0; k < G_N_ELEMENTS (keys); k++) {
      const gchar *v = gst_element_factory_get_metadata (f, keys[k]);
      fail_unless (v && *v, "%s lacks metadata %s", fname, keys[k]);
    }
    fail_unless (gst_element_factory_get_num_pad_templates (f) > 0, "%s has no pad templates",
        fname);
    GstElement *e = gst_element_factory_create (f, NULL);
    fail_unless (e != NULL, "%s does not instantiate", fname);
    guint n_props = 0;
    GParamSpec **props = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n_props);
    for (guint i = 0; i < n_props; i++)
      check_property_round_trip (e, props[i]);
    g_free (props);
    gst_object_unref (e);
  }
  for (guint i = 0; expected_elements[i]; i++) {
    GstElementFactory *f = gst_element_factory_find (expected_elements[i]);
    fail_unless (f != NULL, "expected element %s missing", expected_elements[i]);
    gst_object_unref (f);
  }
  fail_unless_equals_int (n_elements, G_N_ELEMENTS (expected_elements) - 1);
  gst_plugin_feature_list_free (features);
  gst_object_unref (plugin);
}
GST_END_TEST;

static Suite *
plugin_suite (void)
{
  Suite *s = suite_create ("dmakit-plugin");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_plugin_metadata);
  tcase_add_test (tc, test_elements_instantiate);
  return s;
}

GST_CHECK_MAIN (plugin);
