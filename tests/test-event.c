/* test-event.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-test-util.h"

static void
test_event_accessors (void)
{
  g_autoptr(HkEvent) event = hk_event_new (HK_EVENT_MOVED, "/tmp/a", "/tmp/b", TRUE, FALSE, 42);
  g_autofree char *dest = NULL;

  g_assert_cmpint (hk_event_get_event_type (event), ==, HK_EVENT_MOVED);
  g_assert_cmpstr (hk_event_get_path (event), ==, "/tmp/a");
  g_assert_cmpstr (hk_event_get_dest_path (event), ==, "/tmp/b");
  g_assert_true (hk_event_get_is_directory (event));
  g_assert_false (hk_event_get_is_synthetic (event));
  g_assert_cmpint (hk_event_get_timestamp (event), ==, 42);

  g_assert_true (G_IS_FILE (hk_event_get_file (event)));
  /* Lazily created once, then the same object. */
  g_assert_true (hk_event_get_file (event) == hk_event_get_file (event));
  dest = g_file_get_path (hk_event_get_dest_file (event));
  g_assert_cmpstr (dest, ==, "/tmp/b");
}

static void
test_event_no_dest_for_plain_events (void)
{
  g_autoptr(HkEvent) event = hk_event_new (HK_EVENT_CREATED, "/x", NULL, FALSE, TRUE, 1);

  g_assert_null (hk_event_get_dest_path (event));
  g_assert_null (hk_event_get_dest_file (event));
  g_assert_true (hk_event_get_is_synthetic (event));
}

static void
test_event_non_utf8_path_kept_exact (void)
{
  const char *path = "/tmp/caf\xe9\nx";
  g_autoptr(HkEvent) event = hk_event_new (HK_EVENT_CREATED, path, NULL, FALSE, FALSE, 1);
  g_autofree char *back = g_file_get_path (hk_event_get_file (event));

  g_assert_cmpstr (hk_event_get_path (event), ==, path);
  g_assert_cmpstr (back, ==, path);
}

static void
test_event_boxed_copy_is_ref (void)
{
  g_autoptr(HkEvent) event = hk_event_new (HK_EVENT_DELETED, "/x", NULL, FALSE, FALSE, 1);
  HkEvent *copy = g_boxed_copy (HK_TYPE_EVENT, event);

  g_assert_true (copy == event);
  g_boxed_free (HK_TYPE_EVENT, copy);
}

static gpointer
get_file_thread (gpointer data)
{
  return hk_event_get_file (data);
}

static void
test_event_lazy_file_is_thread_safe (void)
{
  for (guint round = 0; round < 200; round++)
    {
      g_autoptr(HkEvent) event = hk_event_new (HK_EVENT_CREATED, "/x/y", NULL, FALSE, FALSE, 1);
      GThread *a = g_thread_new ("a", get_file_thread, event);
      GThread *b = g_thread_new ("b", get_file_thread, event);
      gpointer fa = g_thread_join (a);
      gpointer fb = g_thread_join (b);

      g_assert_true (fa == fb);
    }
}

static void
test_event_type_nicks (void)
{
  static const char *nicks[] = {
    "created", "deleted", "modified", "moved", "attribute-changed",
    "closed", "opened", "closed-no-write",
  };
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);

  g_assert_cmpuint (klass->n_values, ==, G_N_ELEMENTS (nicks));
  for (guint i = 0; i < G_N_ELEMENTS (nicks); i++)
    g_assert_cmpstr (g_enum_get_value (klass, i)->value_nick, ==, nicks[i]);
}

static void
test_event_type_to_string_is_nick (void)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);

  for (guint i = 0; i < klass->n_values; i++)
    {
      const GEnumValue *value = &klass->values[i];
      const char *name = hk_event_type_to_string (value->value);

      g_assert_cmpstr (name, ==, value->value_nick);
      /* Static: the same pointer every time. */
      g_assert_true (name == hk_event_type_to_string (value->value));
    }

  g_assert_cmpstr (hk_event_type_to_string (HK_EVENT_ATTRIBUTE_CHANGED), ==, "attribute-changed");

  g_test_expect_message ("Hachiko", G_LOG_LEVEL_CRITICAL, "*event_type*");
  g_assert_null (hk_event_type_to_string ((HkEventType) klass->n_values));
  g_test_assert_expected_messages ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/event/accessors", test_event_accessors);
  g_test_add_func ("/event/no-dest-for-plain-events", test_event_no_dest_for_plain_events);
  g_test_add_func ("/event/non-utf8-path-kept-exact", test_event_non_utf8_path_kept_exact);
  g_test_add_func ("/event/boxed-copy-is-ref", test_event_boxed_copy_is_ref);
  g_test_add_func ("/event/lazy-file-is-thread-safe", test_event_lazy_file_is_thread_safe);
  g_test_add_func ("/event/type-nicks-are-signal-details", test_event_type_nicks);
  g_test_add_func ("/event/type-to-string-is-nick", test_event_type_to_string_is_nick);

  return g_test_run ();
}
