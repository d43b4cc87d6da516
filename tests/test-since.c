/* test-since.c: what changed while nothing watched (issue 12).
 *
 * A running watchdog's snapshot (hk_watchdog_dup_snapshot), saved and
 * loaded, given to the next watchdog as `since`: its first events are the
 * difference, synthetic, then live events, with nothing lost or repeated
 * at the seam, even with a writer running through the start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <glib/gstdio.h>

#include "hk-test-util.h"

typedef struct
{
  char *base;
  char *root;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, NULL);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  hk_test_remove_tree (&f->base, &f->root, NULL);
}

static HkSnapshot *
snapshot_of_running_watchdog (Fixture *f)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (root);
  g_autoptr(GFile) saved = NULL;
  g_autoptr(HkSnapshot) snapshot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->base, "snapshot", NULL);

  g_assert_null (hk_watchdog_dup_snapshot (watchdog));
  g_assert_true (hk_watchdog_start (watchdog, NULL, &error));
  snapshot = hk_watchdog_dup_snapshot (watchdog);
  g_assert_nonnull (snapshot);
  hk_watchdog_stop (watchdog);

  /* Through a file, as a program that exits and starts again does. */
  saved = g_file_new_for_path (path);
  g_assert_true (hk_snapshot_save (snapshot, saved, NULL, &error));
  g_assert_no_error (error);
  return hk_snapshot_load (saved, NULL, &error);
}

static void
test_difference_then_live_events (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkSnapshot) since = NULL;
  g_autofree char *gone = hk_test_path (f->root, "gone");
  g_autofree char *old = hk_test_path (f->root, "old");
  g_autofree char *renamed = hk_test_path (f->root, "sub/renamed");
  gint64 started;

  hk_test_write (f->root, "gone", "x");
  hk_test_write (f->root, "old", "x");
  hk_test_write (f->root, "same", "x");
  hk_test_write (f->root, "changed", "x");
  {
    g_autofree char *sub = hk_test_path (f->root, "sub");

    g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  }
  since = snapshot_of_running_watchdog (f);
  g_assert_nonnull (since);

  /* While nothing watches. */
  g_assert_cmpint (g_unlink (gone), ==, 0);
  g_assert_cmpint (g_rename (old, renamed), ==, 0);
  hk_test_write (f->root, "changed", "longer now");
  hk_test_write (f->root, "new", "x");

  watchdog = hk_watchdog_new (root);
  hk_watchdog_set_since (watchdog, since);
  recorder = hk_recorder_new (watchdog, f->root);
  started = g_get_monotonic_time ();
  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  hk_test_write (f->root, "live", "x");
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "live", 5000));
  hk_test_drain (100);

  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_DELETED, "gone"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_MOVED, "old -> sub/renamed"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_MODIFIED, "changed"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_CREATED, "new"), ==, 1);
  g_assert_false (hk_recorder_has (recorder, HK_EVENT_MODIFIED, "same"));
  /* The difference first, synthetic; then only live events, about "live".
   * All of them in the clock of g_get_monotonic_time(), as every event
   * (the difference was once stamped with the wall clock). */
  {
    gboolean live = FALSE;

    for (guint i = 0; i < recorder->events->len; i++)
      {
        HkEvent *event = g_ptr_array_index (recorder->events, i);
        gboolean about_live = g_str_has_suffix (hk_event_get_path (event), "/live");

        if (about_live)
          live = TRUE;
        g_assert_cmpint (about_live, ==, live);
        g_assert_cmpint (hk_event_get_is_synthetic (event), ==, !live);
        g_assert_cmpint (hk_event_get_timestamp (event), >=, started);
        g_assert_cmpint (hk_event_get_timestamp (event), <=, g_get_monotonic_time ());
      }
  }
}

typedef struct
{
  const char *root;
  gint        stop;
  guint       n;
} Writer;

static gpointer
write_files (gpointer data)
{
  Writer *writer = data;

  while (!g_atomic_int_get (&writer->stop) || writer->n < 200)
    {
      g_autofree char *name = g_strdup_printf ("w%04u", writer->n);
      g_autofree char *path = g_build_filename (writer->root, "busy", name, NULL);

      hk_test_write_file (path, "x");
      writer->n++;
      if (writer->n >= 3000)
        break;
    }
  return NULL;
}

static void
test_seam_with_a_writer (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkSnapshot) since = NULL;
  g_autofree char *busy = hk_test_path (f->root, "busy");
  Writer writer = { f->root, 0, 0 };
  GThread *thread;

  g_assert_cmpint (g_mkdir (busy, 0755), ==, 0);
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *name = g_strdup_printf ("pre/d%u", i);
      g_autofree char *path = hk_test_path (f->root, name);

      g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
    }
  since = snapshot_of_running_watchdog (f);

  watchdog = hk_watchdog_new (root);
  hk_watchdog_set_since (watchdog, since);
  recorder = hk_recorder_new (watchdog, f->root);
  thread = g_thread_new ("writer", write_files, &writer);
  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  g_atomic_int_set (&writer.stop, 1);
  g_thread_join (thread);

  {
    g_autofree char *last = g_strdup_printf ("busy/w%04u", writer.n - 1);

    g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, last, 10000));
  }
  hk_test_drain (200);
  for (guint i = 0; i < writer.n; i++)
    {
      g_autofree char *name = g_strdup_printf ("busy/w%04u", i);
      guint n = hk_recorder_count (recorder, HK_EVENT_CREATED, name);

      if (n != 1)
        g_error ("%s reported created %u times", name, n);
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/since/difference-then-live-events", Fixture, NULL,
              fixture_set_up, test_difference_then_live_events, fixture_tear_down);
  g_test_add ("/since/seam-with-a-writer", Fixture, NULL,
              fixture_set_up, test_seam_with_a_writer, fixture_tear_down);

  return g_test_run ();
}
