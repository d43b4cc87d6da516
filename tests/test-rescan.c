/* test-rescan.c: what the tree reports when it has to look again: overflow
 * rescans, a root whose parent moved, new directories (issue 10, items 6,
 * 11 and 17).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

#define TIMEOUT 5000

typedef struct
{
  char       *base;
  char       *root;          /* base/parent/root */
  HkWatchdog *watchdog;
  HkRecorder *recorder;
  char       *saved_sysctl;  /* restored at tear-down, even on failure */
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->base = hk_test_make_tmpdir ();
  f->root = g_build_filename (f->base, "parent", "root", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->root, 0755), ==, 0);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  hk_test_restore_max_queued_events (&f->saved_sysctl);
  hk_test_remove_tree (&f->base, &f->root, NULL);
}

static void
fixture_watch (Fixture *f)
{
  f->watchdog = hk_test_watchdog_new (f->root);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_test_start (f->watchdog);
}

static gboolean
stopped (gpointer data)
{
  return !hk_watchdog_get_running (data);
}

/* --- item 17: an overflow rescan reports only what the user was not told -- */

typedef struct
{
  const char *root;
  guint       n_files;
  gint        done;
} Burst;

static gpointer
burst_thread (gpointer data)
{
  Burst *burst = data;

  for (guint i = 0; i < burst->n_files; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/f%05u", burst->root, i);

      hk_test_write_file (path, "contents");
    }
  g_atomic_int_set (&burst->done, TRUE);
  return NULL;
}

static gboolean
burst_done (gpointer data)
{
  return g_atomic_int_get (&((Burst *) data)->done);
}

typedef struct
{
  HkRecorder *recorder;
  Burst      *burst;
  GHashTable *created;     /* relative path -> count */
  guint       seen;        /* events of recorder->events looked at */
} Tally;

static void
tally_update (Tally *tally)
{
  GPtrArray *events = tally->recorder->events;
  gsize root_len = strlen (tally->recorder->root);

  for (; tally->seen < events->len; tally->seen++)
    {
      HkEvent *event = g_ptr_array_index (events, tally->seen);
      const char *rel = hk_event_get_path (event) + root_len + 1;

      if (hk_event_get_event_type (event) == HK_EVENT_CREATED)
        g_hash_table_insert (tally->created, g_strdup (rel),
                             GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (tally->created, rel)) + 1));
    }
}

static gboolean
all_created (gpointer data)
{
  Tally *tally = data;

  tally_update (tally);
  return g_atomic_int_get (&tally->burst->done) &&
         g_hash_table_size (tally->created) == tally->burst->n_files;
}

/* A real IN_Q_OVERFLOW during a burst of 30,000 files (the kernel queue is
 * shortened, as root, and the worker stalled while the burst runs). Every file is
 * reported created exactly once, and a file whose writer had closed it
 * (the user received its real `closed`) is never reported `modified`
 * afterwards: it did not change since. The old rescan compared ctimes with
 * the last quiet moment and reported all of those again. */
static void
test_overflow_reports_no_unchanged_file (Fixture *f, gconstpointer data)
{
  Burst burst = { f->root, 30000, FALSE };
  g_autoptr(GHashTable) created = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) closed = g_hash_table_new (g_str_hash, g_str_equal);
  Tally tally = { NULL, &burst, created, 0 };
  gsize root_len = strlen (f->root);
  guint spurious = 0, synthetic_modified = 0;
  GHashTableIter iter;
  gpointer key, value;
  GThread *thread;

  if (geteuid () != 0 || !hk_test_read_sysctl (HK_TEST_MAX_QUEUED_EVENTS, &f->saved_sysctl))
    {
      g_test_skip ("needs root to lower max_queued_events");
      return;
    }

  /* The limit applies to inotify instances created after the change. */
  g_assert_true (hk_test_write_sysctl (HK_TEST_MAX_QUEUED_EVENTS, "1024"));
  g_assert_true (hk_watchdog_restart_backend_for_testing ());
  fixture_watch (f);
  hk_test_write_sysctl (HK_TEST_MAX_QUEUED_EVENTS, f->saved_sysctl);
  g_clear_pointer (&f->saved_sysctl, g_free);
  tally.recorder = f->recorder;

  /* The worker sleeps until the burst is over: 90,000 events overflow any
   * queue length, even one another test changed meanwhile. */
  hk_watchdog_stall_worker (100);
  thread = g_thread_new ("burst", burst_thread, &burst);
  while (!hk_test_wait_until (burst_done, &burst, 50))
    hk_watchdog_stall_worker (100);
  g_assert_true (hk_test_wait_until (all_created, &tally, 60000));
  g_thread_join (thread);
  hk_test_drain (300);
  tally_update (&tally);

  g_assert_cmpuint (f->recorder->n_overflows, >=, 1);

  g_hash_table_iter_init (&iter, created);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (GPOINTER_TO_UINT (value) != 1)
      g_error ("%s reported created %u times", (char *) key, GPOINTER_TO_UINT (value));
  g_assert_cmpuint (g_hash_table_size (created), ==, burst.n_files);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      const char *rel = hk_event_get_path (event) + root_len + 1;

      switch (hk_event_get_event_type (event))
        {
        case HK_EVENT_CLOSED:
          g_hash_table_add (closed, (gpointer) rel);
          break;
        case HK_EVENT_MODIFIED:
          if (hk_event_get_is_synthetic (event))
            synthetic_modified++;
          if (g_hash_table_contains (closed, rel))
            spurious++;
          break;
        case HK_EVENT_DELETED:
        case HK_EVENT_MOVED:
          g_error ("unexpected event for %s", rel);
          break;
        default:
          break;
        }
    }

  g_test_message ("%u events, %u overflows, %u files closed before a rescan, "
                  "%u synthetic modified, %u after the file was closed",
                  f->recorder->events->len, f->recorder->n_overflows,
                  g_hash_table_size (closed), synthetic_modified, spurious);
  g_assert_cmpuint (spurious, ==, 0);
}

/* Without an overflow during the burst, an injected one reports nothing:
 * files delivered with their events are known as they are. */
static void
test_injected_overflow_after_events_reports_nothing (Fixture *f, gconstpointer data)
{
  fixture_watch (f);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/g%03u", f->root, i);

      hk_test_write_file (path, "x");
    }
  g_assert_true (hk_recorder_wait_for (f->recorder, HK_EVENT_CLOSED, "g199", TIMEOUT));
  hk_recorder_clear (f->recorder);

  hk_watchdog_inject_overflow (f->watchdog);
  hk_test_drain (200);
  hk_recorder_dump (f->recorder);
  g_assert_cmpuint (f->recorder->n_overflows, ==, 1);
  g_assert_cmpuint (f->recorder->events->len, ==, 0);
}

/* --- item 6: a parent of the root renamed is never silent ----------------- */

static void
check_root_gone_error (Fixture *f)
{
  const GError *error;

  g_assert_true (hk_test_wait_until (stopped, f->watchdog, TIMEOUT));
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  error = g_ptr_array_index (f->recorder->errors, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "parent directory"));
  g_assert_true (hk_recorder_has (f->recorder, HK_EVENT_DELETED, ""));
}

/* A new subdirectory under the renamed parent cannot be watched at its old
 * path: that is not taken for "it vanished". */
static void
test_parent_renamed_new_directory (Fixture *f, gconstpointer data)
{
  g_autofree char *from = g_build_filename (f->base, "parent", NULL);
  g_autofree char *to = g_build_filename (f->base, "renamed", NULL);
  g_autofree char *fresh = g_build_filename (to, "root", "fresh", "sub", NULL);
  g_autofree char *file = g_build_filename (to, "root", "fresh", "sub", "file", NULL);

  fixture_watch (f);
  g_assert_cmpint (g_rename (from, to), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (fresh, 0755), ==, 0);
  hk_test_write_file (file, "x");

  check_root_gone_error (f);
}

/* Only an existing file changes: found by the check of the root path that
 * runs while events arrive. */
static void
test_parent_renamed_file_changed (Fixture *f, gconstpointer data)
{
  g_autofree char *from = g_build_filename (f->base, "parent", NULL);
  g_autofree char *to = g_build_filename (f->base, "renamed", NULL);
  g_autofree char *before = hk_test_path (f->root, "existing");
  g_autofree char *after = g_build_filename (to, "root", "existing", NULL);

  hk_test_write_file (before, "1");
  fixture_watch (f);
  g_assert_cmpint (g_rename (from, to), ==, 0);
  hk_test_write_file (after, "2");

  check_root_gone_error (f);
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_MODIFIED, "existing"));
}

/* The parent renamed and another directory made at its old path: the root
 * path leads nowhere, though its parent path exists. */
static void
test_parent_renamed_and_recreated (Fixture *f, gconstpointer data)
{
  g_autofree char *from = g_build_filename (f->base, "parent", NULL);
  g_autofree char *to = g_build_filename (f->base, "renamed", NULL);
  g_autofree char *after = g_build_filename (to, "root", "existing", NULL);
  g_autofree char *before = hk_test_path (f->root, "existing");

  hk_test_write_file (before, "1");
  fixture_watch (f);
  g_assert_cmpint (g_rename (from, to), ==, 0);
  g_assert_cmpint (g_mkdir (from, 0755), ==, 0);
  hk_test_write_file (after, "2");

  check_root_gone_error (f);
}

/* --- item 11: a `created` directory is already watched ------------------- */

typedef struct
{
  guint n_dirs;       /* `created` directories received */
  guint n_unwatched;  /* ...of which the watchdog did not count as watched yet */
} WatchedCheck;

static void
on_created_check_watched (HkWatchdog   *watchdog,
                          HkEvent      *event,
                          WatchedCheck *check)
{
  if (!hk_event_get_is_directory (event))
    return;
  check->n_dirs++;
  /* The root plus every directory reported so far (none is deleted). */
  if (hk_watchdog_get_n_watched_directories (watchdog) < 1 + check->n_dirs)
    check->n_unwatched++;
}

static gpointer
mkdir_thread (gpointer data)
{
  const char *root = data;

  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/d%03u/a/b", root, i);

      g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
    }
  return NULL;
}

static gboolean
got_all_dirs (gpointer data)
{
  return ((WatchedCheck *) data)->n_dirs >= 900;
}

static void
test_created_directory_is_watched (Fixture *f, gconstpointer data)
{
  WatchedCheck check = { 0, 0 };
  GThread *thread;

  fixture_watch (f);
  g_signal_connect (f->watchdog, "event::created", G_CALLBACK (on_created_check_watched), &check);

  thread = g_thread_new ("mkdir", mkdir_thread, f->root);
  g_assert_true (hk_test_wait_until (got_all_dirs, &check, 20000));
  g_thread_join (thread);
  hk_test_drain (100);

  g_test_message ("%u directories, %u reported before being watched", check.n_dirs, check.n_unwatched);
  g_assert_cmpuint (check.n_dirs, ==, 900);
  g_assert_cmpuint (check.n_unwatched, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/rescan/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("overflow-reports-no-unchanged-file", test_overflow_reports_no_unchanged_file);
  ADD ("injected-overflow-after-events-reports-nothing", test_injected_overflow_after_events_reports_nothing);
  ADD ("parent-renamed-new-directory-stops-with-error", test_parent_renamed_new_directory);
  ADD ("parent-renamed-file-changed-stops-with-error", test_parent_renamed_file_changed);
  ADD ("parent-renamed-and-recreated-stops-with-error", test_parent_renamed_and_recreated);
  ADD ("created-directory-is-watched", test_created_directory_is_watched);

#undef ADD

  return g_test_run ();
}
