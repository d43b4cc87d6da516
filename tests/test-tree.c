/* test-tree.c: the tree's rules, driven through the fake backend.
 *
 * The fake backend reports only what a test injects, in the order the test
 * chooses, while the tree reads the real disk: every rule of
 * docs/semantics.md can be checked without kernel timing. Each injection
 * returns once the worker has handled it, and flush() delivers what it
 * queued, so no test waits for time to pass.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "hk-backend-private.h"
#include "hk-test-util.h"
#include "hk-watchdog-private.h"

typedef struct
{
  char       *base;
  char       *root;
  char       *outside;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

/* Delivers everything the worker queued for the owner. */
static void
flush (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

static void
inject (Fixture    *f,
        const char *dir,
        const char *name,
        HkChange    change,
        gboolean    is_directory)
{
  g_autofree char *dir_path = hk_test_path (f->root, dir);

  hk_fake_backend_inject (dir_path, name, change, is_directory);
  flush ();
}

static void
inject_move (Fixture    *f,
             const char *from_dir,
             const char *from_name,
             const char *to_dir,
             const char *to_name,
             gboolean    is_directory)
{
  g_autofree char *from_path = hk_test_path (f->root, from_dir);
  g_autofree char *to_path = hk_test_path (f->root, to_dir);

  hk_fake_backend_inject_move (from_path, from_name, to_path, to_name, is_directory);
  flush ();
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, &f->outside);
}

static void
fixture_start (Fixture *f)
{
  f->watchdog = hk_test_watchdog_new (f->root);
  hk_watchdog_set_backend_for_testing (f->watchdog, HK_BACKEND_KIND_FAKE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_test_start (f->watchdog);
  flush ();
  g_assert_cmpuint (f->recorder->events->len, ==, 0);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  flush ();
  hk_test_remove_tree (&f->base, &f->root, &f->outside);
}

static void
assert_events (Fixture     *f,
               const char  *expected)
{
  g_autoptr(GString) got = g_string_new (NULL);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      const char *dest = hk_event_get_dest_path (event);
      g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);
      GEnumValue *value = g_enum_get_value (klass, hk_event_get_event_type (event));

      const char *path = hk_event_get_path (event);

      g_string_append_printf (got, "%s%s %s%s%s%s", i > 0 ? "; " : "",
                              value->value_nick,
                              strlen (path) > strlen (f->root) ? path + strlen (f->root) + 1 : ".",
                              dest != NULL ? " -> " : "",
                              dest != NULL ? dest + strlen (f->root) + 1 : "",
                              hk_event_get_is_synthetic (event) ? " (s)" : "");
    }
  g_assert_cmpstr (got->str, ==, expected);
}

/* --- rules ---------------------------------------------------------------- */

static void
test_new_directory_read_then_event_dropped (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  hk_test_mkdir (f->root, "d/e");
  hk_test_write (f->root, "d/e/f", "x");
  inject (f, "", "d", HK_CHANGE_CREATED, TRUE);
  /* The kernel's own events for what the read found come later. */
  inject (f, "d", "e", HK_CHANGE_CREATED, TRUE);
  inject (f, "d/e", "f", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "created d; created d/e (s); created d/e/f (s)");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
}

static void
test_created_directory_is_watched_before_reported (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  hk_test_mkdir (f->root, "d");
  inject (f, "", "d", HK_CHANGE_CREATED, TRUE);
  assert_events (f, "created d");
  /* Watched: the fake backend knows the directory. */
  hk_test_write (f->root, "d/x", "x");
  inject (f, "d", "x", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "created d; created d/x");
}

static void
test_deletion_of_unreported_name_dropped (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  inject (f, "", "ghost", HK_CHANGE_DELETED, FALSE);
  inject (f, "", "ghost", HK_CHANGE_MODIFIED, FALSE);
  inject (f, "", "ghost", HK_CHANGE_MOVED_OUT, FALSE);
  assert_events (f, "");
}

static void
test_rename_is_one_moved (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "a", "x");
  hk_test_mkdir (f->root, "sub");
  fixture_start (f);
  hk_test_rename (f->root, "a", "sub/b");
  inject_move (f, "", "a", "sub", "b", FALSE);
  assert_events (f, "moved a -> sub/b");
}

static void
test_renamed_directory_keeps_paths (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "d");
  fixture_start (f);
  hk_test_rename (f->root, "d", "e");
  inject_move (f, "", "d", "", "e", TRUE);
  hk_test_write (f->root, "e/x", "x");
  inject (f, "e", "x", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "moved d -> e; created e/x");
}

static void
test_directory_moved_out_is_one_deleted (Fixture *f, gconstpointer data)
{
  g_autofree char *dest = g_build_filename (f->outside, "d", NULL);
  g_autofree char *src = hk_test_path (f->root, "d");

  hk_test_mkdir (f->root, "d/e/f");
  fixture_start (f);
  g_assert_cmpuint (hk_fake_backend_count_watches (), ==, 4);
  g_assert_cmpint (g_rename (src, dest), ==, 0);
  inject (f, "", "d", HK_CHANGE_MOVED_OUT, TRUE);
  assert_events (f, "deleted d");
  g_assert_cmpuint (hk_fake_backend_count_watches (), ==, 1);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1);
}

static void
test_directory_moved_in_is_read (Fixture *f, gconstpointer data)
{
  g_autofree char *src = g_build_filename (f->outside, "in", NULL);
  g_autofree char *file = g_build_filename (src, "x", NULL);
  g_autofree char *dest = hk_test_path (f->root, "in");

  g_assert_cmpint (g_mkdir (src, 0755), ==, 0);
  hk_test_write_file (file, "x");
  fixture_start (f);
  g_assert_cmpint (g_rename (src, dest), ==, 0);
  inject (f, "", "in", HK_CHANGE_MOVED_IN, TRUE);
  assert_events (f, "created in; created in/x (s)");
}

static void
test_rename_over_existing_deletes_it_first (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "a", "x");
  hk_test_write (f->root, "b", "x");
  fixture_start (f);
  hk_test_rename (f->root, "a", "b");
  inject_move (f, "", "a", "", "b", FALSE);
  assert_events (f, "deleted b; moved a -> b");
}

static void
test_moved_in_over_existing_replaces_it (Fixture *f, gconstpointer data)
{
  g_autofree char *src = g_build_filename (f->outside, "b", NULL);
  g_autofree char *dest = hk_test_path (f->root, "b");

  hk_test_write (f->root, "b", "x");
  hk_test_write_file (src, "y");
  fixture_start (f);
  g_assert_cmpint (g_rename (src, dest), ==, 0);
  inject (f, "", "b", HK_CHANGE_MOVED_IN, FALSE);
  assert_events (f, "deleted b; created b");
}

static void
test_access_events_only_for_files (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);

  hk_test_write (f->root, "a", "x");
  hk_test_mkdir (f->root, "d");
  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend_for_testing (f->watchdog, HK_BACKEND_KIND_FAKE);
  hk_watchdog_set_access_events (f->watchdog, TRUE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, NULL));
  /* The root's own: a listing of it. */
  inject (f, "", NULL, HK_CHANGE_OPENED, TRUE);
  inject (f, "", NULL, HK_CHANGE_CLOSED_NO_WRITE, TRUE);
  inject (f, "", "d", HK_CHANGE_OPENED, TRUE);
  inject (f, "", "a", HK_CHANGE_OPENED, FALSE);
  inject (f, "", "a", HK_CHANGE_CLOSED_NO_WRITE, FALSE);
  assert_events (f, "opened a; closed-no-write a");
}

static void
test_access_events_off_by_default (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "a", "x");
  fixture_start (f);
  inject (f, "", "a", HK_CHANGE_OPENED, FALSE);
  inject (f, "", "a", HK_CHANGE_MODIFIED, FALSE);
  inject (f, "", "a", HK_CHANGE_ATTRIBUTES, FALSE);
  inject (f, "", "a", HK_CHANGE_CLOSED_WRITE, FALSE);
  assert_events (f, "modified a; attribute-changed a; closed a");
}

static void
test_lost_events_rescan_reports_difference (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "keep", "x");
  hk_test_write (f->root, "gone", "x");
  hk_test_write (f->root, "old", "x");
  hk_test_mkdir (f->root, "d");
  fixture_start (f);
  g_usleep (20000);  /* older than the rescan's horizon below */
  {
    g_autofree char *gone = hk_test_path (f->root, "gone");
    gint64 since = g_get_real_time () * 1000;

    /* Created first: a freed inode number may be reused at once. */
    hk_test_write (f->root, "new", "x");
    g_assert_cmpint (g_unlink (gone), ==, 0);
    hk_test_rename (f->root, "old", "d/renamed");
    hk_fake_backend_inject_lost (since);
  }
  flush ();
  g_assert_cmpuint (f->recorder->n_overflows, ==, 1);
  assert_events (f, "deleted gone (s); moved old -> d/renamed (s); created new (s)");
}

/* A file deleted and another created while events were lost: the new one
 * usually gets the freed inode number (ext4 hands it out at once), yet it
 * is not the old one renamed (test-fanotify's overflow test, under load:
 * "moved old0 -> sentinel"). */
static void
test_lost_events_reused_inode_is_not_a_move (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "gone", "x");
  fixture_start (f);
  g_usleep (20000);  /* older than the rescan's horizon below */
  {
    g_autofree char *gone = hk_test_path (f->root, "gone");
    g_autofree char *fresh = NULL;
    gint64 since = g_get_real_time () * 1000;
    struct stat before, after;

    g_assert_cmpint (g_lstat (gone, &before), ==, 0);
    g_assert_cmpint (g_unlink (gone), ==, 0);
    /* Born clearly after the stretch began, whatever clock stamps it. */
    g_usleep (50000);
    hk_test_write (f->root, "fresh", "x");
    fresh = hk_test_path (f->root, "fresh");
    g_assert_cmpint (g_lstat (fresh, &after), ==, 0);
    if (before.st_ino != after.st_ino)
      g_test_message ("the filesystem did not reuse the inode: this run proves less");
    hk_fake_backend_inject_lost (since);
  }
  flush ();
  assert_events (f, "deleted gone (s); created fresh (s)");
}

static void
test_watch_failure_is_reported (Fixture *f, gconstpointer data)
{
  g_autofree char *d = hk_test_path (f->root, "d");

  fixture_start (f);
  hk_test_mkdir (f->root, "d");
  hk_fake_backend_fail_watch (d, G_IO_ERROR_PERMISSION_DENIED);
  inject (f, "", "d", HK_CHANGE_CREATED, TRUE);
  assert_events (f, "created d");
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
}

static void
test_out_of_watches_falls_back_to_polling (Fixture *f, gconstpointer data)
{
  g_autofree char *d = hk_test_path (f->root, "d");

  fixture_start (f);
  hk_test_mkdir (f->root, "d");
  hk_fake_backend_fail_watch (d, G_IO_ERROR_NO_SPACE);
  inject (f, "", "d", HK_CHANGE_CREATED, TRUE);
  assert_events (f, "created d");
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  /* Covered all the same. */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);
}

static void
test_root_deleted_stops (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  inject (f, "", NULL, HK_CHANGE_SELF_DELETED, TRUE);
  g_assert_cmpuint (f->recorder->events->len, ==, 1);
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (hk_watchdog_get_running (f->watchdog));
}

static void
test_subdirectory_self_events_ignored (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "d");
  fixture_start (f);
  inject (f, "d", NULL, HK_CHANGE_SELF_DELETED, TRUE);
  inject (f, "d", NULL, HK_CHANGE_ATTRIBUTES, TRUE);
  assert_events (f, "");
  g_assert_true (hk_watchdog_get_running (f->watchdog));
}

static void
test_dropped_watch_forgotten (Fixture *f, gconstpointer data)
{
  g_autofree char *d = hk_test_path (f->root, "d");

  hk_test_mkdir (f->root, "d");
  fixture_start (f);
  g_assert_cmpint (g_rmdir (d), ==, 0);
  hk_fake_backend_inject_dropped (d);
  flush ();
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1);
  inject (f, "", "d", HK_CHANGE_DELETED, TRUE);
  assert_events (f, "deleted d");
}

static void
test_polling_round_pairs_moves (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_strdup (f->root);
  gint64 since;

  hk_test_mkdir (f->root, "a/b");
  hk_test_write (f->root, "a/b/f", "x");
  hk_test_write (f->root, "x", "x");
  fixture_start (f);
  g_usleep (20000);  /* the files are older than the round's window */
  since = g_get_real_time () * 1000;
  hk_test_rename (f->root, "a/b", "b2");
  hk_test_rename (f->root, "x", "a/y");
  hk_test_write (f->root, "n", "x");
  {
    g_autofree char *a = hk_test_path (f->root, "a");
    const char *round[] = { root, a, NULL };

    /* The new name is found before the old one is missed: still one move. */
    hk_fake_backend_inject_round (round, HK_RESCAN_ENTRIES, since, G_MAXINT64);
  }
  flush ();
  assert_events (f, "moved a/b -> b2 (s); moved x -> a/y (s); created n (s)");
}

/* Runs on the worker between two reads of the root in one round. */
static void
replace_between_reads (guint    i,
                       gpointer data)
{
  Fixture *f = data;

  if (i == 1)
    hk_test_rename (f->root, "k/j", "c");
}

/* A directory read twice in one polling round (it changed again while the
 * round went on) lists a new name twice: once with the inode it had at
 * the first read, once with the one it has now. Only the later one is
 * there; pairing both made two moves onto one name (test-stress, polling
 * variant, under load). */
static void
test_polling_round_reads_a_directory_twice (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_strdup (f->root);
  g_autofree char *k = NULL;
  gint64 since;

  hk_test_mkdir (f->root, "k");
  hk_test_write (f->root, "k/j", "x");
  hk_test_write (f->root, "w", "x");
  fixture_start (f);
  g_usleep (20000);  /* the files are older than the round's window */
  since = g_get_real_time () * 1000;
  hk_test_rename (f->root, "w", "c");
  k = hk_test_path (f->root, "k");
  {
    const char *round[] = { root, root, k, NULL };

    hk_fake_backend_inject_round_full (round, HK_RESCAN_ENTRIES, since, G_MAXINT64,
                                       replace_between_reads, f);
  }
  flush ();
  assert_events (f, "deleted w (s); moved k/j -> c (s)");
}

/* The disk changes between the reads of one round: the file leaves its
 * directory before that directory's read, the directory is renamed before
 * its parent's. */
static void
move_file_then_directory (guint    i,
                          gpointer data)
{
  Fixture *f = data;

  if (i == 0)
    hk_test_rename (f->root, "p/q/file", "out/file2");
  else if (i == 1)
    hk_test_rename (f->root, "p/q", "p/r/q2");
}

/* A file moved out of a directory that was itself renamed in the same
 * round: the directory's move is told first, so the file's move must come
 * from the directory's new path (test-stress, polling variant: "moved
 * '9g/q/ipg3u 53x' to 'ar/6ox': the source is not in the model"). */
static void
test_polling_round_file_moves_out_of_moved_directory (Fixture *f, gconstpointer data)
{
  g_autofree char *q = NULL;
  g_autofree char *p = NULL;
  g_autofree char *r = NULL;
  g_autofree char *out = NULL;
  gint64 since;

  hk_test_mkdir (f->root, "p/q");
  hk_test_mkdir (f->root, "p/r");
  hk_test_mkdir (f->root, "out");
  hk_test_write (f->root, "p/q/file", "x");
  fixture_start (f);
  g_usleep (20000);  /* the files are older than the round's window */
  since = g_get_real_time () * 1000;
  q = hk_test_path (f->root, "p/q");
  p = hk_test_path (f->root, "p");
  r = hk_test_path (f->root, "p/r");
  out = hk_test_path (f->root, "out");
  {
    const char *round[] = { q, p, r, out, NULL };

    hk_fake_backend_inject_round_full (round, HK_RESCAN_ENTRIES, since, G_MAXINT64,
                                       move_file_then_directory, f);
  }
  flush ();
  assert_events (f, "moved p/q -> p/r/q2 (s); moved p/r/q2/file -> out/file2 (s)");
}

/* A directory that could not be watched when it was found (it was
 * renamed between the read that found it and its watch), then found under
 * its new name by the next polling round: one `moved`, and the directory
 * must still be read and watched where it is now. Before, the move left it
 * unwatched and nothing in it was ever reported (test-stress, polling
 * variant, under load: a directory removed and made again with the same
 * inode number, paired as a move). */
static void
test_polling_round_moves_unwatched_directory (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_strdup (f->root);
  g_autofree char *p = NULL;
  g_autofree char *d = NULL;
  gint64 since;

  hk_test_mkdir (f->root, "p");
  fixture_start (f);
  p = hk_test_path (f->root, "p");
  d = hk_test_path (f->root, "p/d");
  hk_test_mkdir (f->root, "p/d");
  hk_fake_backend_fail_watch (d, G_IO_ERROR_NOT_FOUND);
  {
    const char *round[] = { p, NULL };

    hk_fake_backend_inject_round (round, HK_RESCAN_ENTRIES, 0, G_MAXINT64);
  }
  flush ();
  assert_events (f, "created p/d (s)");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);

  g_usleep (20000);  /* the directory is older than the round's window */
  since = g_get_real_time () * 1000;
  hk_test_rename (f->root, "p/d", "ar");
  hk_test_write (f->root, "ar/f", "x");
  {
    const char *round[] = { root, p, NULL };

    hk_fake_backend_inject_round (round, HK_RESCAN_ENTRIES, since, G_MAXINT64);
  }
  flush ();
  assert_events (f, "created p/d (s); moved p/d -> ar (s); created ar/f (s)");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
}

/* A write seen by a polling round, with an mtime after the end of the
 * round's window: file times can be fine-grained (Linux 6.13 and later)
 * and up to a tick ahead of the coarse clock that cuts the windows. The
 * write happened before the round looked; it is `modified`, not a change
 * of attributes (test-polling under valgrind: "timed out waiting for
 * modified a/b/c/d/file", attribute-changed reported instead). */
static void
test_polling_round_write_ahead_of_window (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_strdup (f->root);
  g_autofree char *file = NULL;
  gint64 since, mtime_ns;
  struct stat st;

  hk_test_write (f->root, "file", "x");
  fixture_start (f);
  g_usleep (20000);  /* the file's creation is older than the round's window */
  since = g_get_real_time () * 1000;
  {
    const char *round[] = { root, NULL };

    /* A round that finds nothing new: the file's state is recorded. */
    hk_fake_backend_inject_round (round, HK_RESCAN_ENTRIES, since, since + 1);
  }
  flush ();
  assert_events (f, "");
  g_usleep (20000);
  hk_test_write (f->root, "file", "xy");
  file = hk_test_path (f->root, "file");
  g_assert_cmpint (g_stat (file, &st), ==, 0);
  mtime_ns = (gint64) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec;
  {
    const char *round[] = { root, NULL };

    /* The window ends a millisecond before the write's time stamp. */
    hk_fake_backend_inject_round (round, HK_RESCAN_CONTENTS, since, mtime_ns - 1000000);
  }
  flush ();
  assert_events (f, "modified file (s)");
}

static void
test_many_watchdogs_share_one_key (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(GPtrArray) watchdogs = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) recorders = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_recorder_free);

  for (guint i = 0; i < 100; i++)
    {
      HkWatchdog *watchdog = hk_watchdog_new (file);

      hk_watchdog_set_backend_for_testing (watchdog, HK_BACKEND_KIND_FAKE);
      g_ptr_array_add (recorders, hk_recorder_new (watchdog, f->root));
      g_ptr_array_add (watchdogs, watchdog);
      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
    }
  g_assert_cmpuint (hk_fake_backend_count_watches (), ==, 1);

  hk_test_write (f->root, "a", "x");
  inject (f, "", "a", HK_CHANGE_CREATED, FALSE);
  for (guint i = 0; i < 100; i++)
    g_assert_cmpuint (hk_recorder_count (g_ptr_array_index (recorders, i),
                                         HK_EVENT_CREATED, "a"), ==, 1);
}

/* mkdir a; mv a d; touch a; touch d/x, all before the worker hears of
 * the first: the creation of directory `a` finds a file at that name. The
 * directory is what was created (the backend said so; only a link could
 * make it something else), and its move follows: it is read where it
 * lands, and nothing in it is lost. */
static void
test_created_directory_whose_name_was_reused (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  hk_test_mkdir (f->root, "d");
  hk_test_write (f->root, "a", "");
  hk_test_write (f->root, "d/x", "");
  inject (f, "", "a", HK_CHANGE_CREATED, TRUE);
  inject_move (f, "", "a", "", "d", TRUE);
  inject (f, "", "a", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "created a; moved a -> d; created d/x (s); created a");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);
}

/* mkdir a; mv a a2; mkdir b; mv b a, all before the worker hears of the
 * first: the watch placed for `a` (by path) lands on the second directory.
 * When that one is watched after its move, the kernel hands out the same
 * watch: the first directory, now a2, is watched and read again where it
 * is, and each directory's changes are reported once, under its own path. */
/* The kernel's story of `mkdir a; mv a a2; mkdir b; mv b a`, told to the
 * tree after the disk changed (when depends on the test). */
static void
inject_a_renamed_and_b_taking_its_name (Fixture *f)
{
  inject (f, "", "a", HK_CHANGE_CREATED, TRUE);
  inject_move (f, "", "a", "", "a2", TRUE);
  inject (f, "", "b", HK_CHANGE_CREATED, TRUE);
  inject_move (f, "", "b", "", "a", TRUE);
}

/* After it: a change in each directory is reported once, at its path. */
static void
assert_later_changes_reported_at_both (Fixture *f)
{
  hk_recorder_clear (f->recorder);
  hk_test_write (f->root, "a2/more", "");
  hk_test_write (f->root, "a/more", "");
  inject (f, "a2", "more", HK_CHANGE_CREATED, FALSE);
  inject (f, "a", "more", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "created a2/more; created a/more");
}

static void
test_watch_placed_on_the_directory_that_took_the_name (Fixture *f, gconstpointer data)
{
  fixture_start (f);
  hk_test_mkdir (f->root, "a2");
  hk_test_write (f->root, "a2/later", "");
  hk_test_mkdir (f->root, "a");
  hk_test_write (f->root, "a/y", "");
  inject_a_renamed_and_b_taking_its_name (f);
  assert_events (f, "created a; created a/y (s); moved a -> a2; created b; moved b -> a; "
                    "created a/y (s); created a2/later (s); deleted a2/y (s)");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);

  assert_later_changes_reported_at_both (f);
}

/* Done on the worker once the new directory `a` is watched, before it is
 * read: it is renamed to a2, and a directory made as b takes its name. */
static void
rename_a_and_take_its_name (gpointer data)
{
  Fixture *f = data;

  hk_test_rename (f->root, "a", "a2");
  hk_test_mkdir (f->root, "b");
  hk_test_write (f->root, "b/y", "");
  hk_test_rename (f->root, "b", "a");
}

/* A created directory is watched when its event is handled and read
 * after: its name may lead to another directory by then (`mkdir a; mv a
 * a2; mkdir b; touch b/y; mv b a` with the watch placed before the
 * renames). Read there, a2 was told to hold y, and its own file x was
 * never told (found under load by test_peer's
 * test_directory_renamed_and_another_renamed_to_its_name_at_once). It is
 * read where it lands when its move is handled. */
static void
test_created_directory_renamed_between_watch_and_read (Fixture *f, gconstpointer data)
{
  g_autofree char *a = NULL;

  fixture_start (f);
  hk_test_mkdir (f->root, "a");
  hk_test_write (f->root, "a/x", "");
  a = hk_test_path (f->root, "a");
  hk_fake_backend_after_watch (a, rename_a_and_take_its_name, f);
  inject_a_renamed_and_b_taking_its_name (f);
  assert_events (f, "created a; moved a -> a2; created a2/x (s); created b; moved b -> a; "
                    "created a/y (s)");

  assert_later_changes_reported_at_both (f);
}

/* renameat2 (RENAME_EXCHANGE) of a file and a directory read by the walk:
 * the kernel reports a rename of each onto the other. Told as the first
 * replacing the second, then the second created at the first's name (its
 * contents with it); the kernel's second half is passed over. Both names
 * stay known: later changes are reported where they happen. */
static void
test_exchange_keeps_both_names (Fixture *f, gconstpointer data)
{
  g_autofree char *a = hk_test_path (f->root, "a");
  g_autofree char *tmp = hk_test_path (f->root, "tmp");
  g_autofree char *d = hk_test_path (f->root, "d");

  hk_test_write (f->root, "a", "x");
  hk_test_mkdir (f->root, "d");
  hk_test_write (f->root, "d/in", "");
  fixture_start (f);
  /* What renameat2 (RENAME_EXCHANGE) leaves, made with three renames. */
  g_assert_cmpint (g_rename (a, tmp), ==, 0);
  g_assert_cmpint (g_rename (d, a), ==, 0);
  g_assert_cmpint (g_rename (tmp, d), ==, 0);
  inject_move (f, "", "a", "", "d", FALSE);
  inject_move (f, "", "d", "", "a", TRUE);
  assert_events (f, "deleted d; moved a -> d; created a; created a/in (s)");

  hk_recorder_clear (f->recorder);
  hk_test_write (f->root, "a/new", "");
  inject (f, "a", "new", HK_CHANGE_CREATED, FALSE);
  inject (f, "", "d", HK_CHANGE_DELETED, FALSE);
  assert_events (f, "created a/new; deleted d");
}

/* Two names exchanged while nobody looked (a polling round, a rescan after
 * lost events): a cycle of renames, which moves cannot tell (each lands on
 * the other's name). Told as both deletions, then both creations: every
 * created name is free when it is told. */
static void
test_polling_round_exchange_tells_free_names (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_strdup (f->root);
  const char *round[] = { root, NULL };
  gint64 since;

  hk_test_write (f->root, "a", "a");
  hk_test_write (f->root, "b", "b");
  fixture_start (f);
  g_usleep (20000);  /* the files are older than the round's window */
  since = g_get_real_time () * 1000;
  hk_test_rename (f->root, "a", "tmp");
  hk_test_rename (f->root, "b", "a");
  hk_test_rename (f->root, "tmp", "b");
  hk_fake_backend_inject_round (round, HK_RESCAN_ENTRIES, since, G_MAXINT64);
  flush ();
  g_assert_cmpuint (f->recorder->events->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (hk_event_get_event_type (g_ptr_array_index (f->recorder->events, i)), ==,
                     (i < 2 ? HK_EVENT_DELETED : HK_EVENT_CREATED));
}

/* A move the kernel never makes (a directory into its own subtree) can
 * only come from a snapshot that has part of the tree wrong: it is read
 * again, not obeyed (a directory inside itself had no path). */
static void
test_directory_moved_into_itself_is_read_again (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "a/sub");
  fixture_start (f);
  inject_move (f, "", "a", "a/sub", "x", TRUE);
  assert_events (f, "");
  hk_test_write (f->root, "a/sub/f", "");
  inject (f, "a/sub", "f", HK_CHANGE_CREATED, FALSE);
  assert_events (f, "created a/sub/f");
}

/* mkdir b/c; touch b/c/x; mv b/c s1/b; mv s1 b/c, all before the worker
 * hears of the first: the path of the new directory leads to s1 (read by
 * the walk, its inode known) when the creation is handled. The new
 * directory is not read there (that would put s1's entries in it, and s1
 * inside itself); its move reads it where it lands. */
static void
test_created_directory_whose_path_leads_to_a_known_one (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "b");
  hk_test_mkdir (f->root, "s1");
  hk_test_write (f->root, "s1/f", "");
  fixture_start (f);
  hk_test_mkdir (f->root, "b/c");
  hk_test_write (f->root, "b/c/x", "");
  hk_test_rename (f->root, "b/c", "s1/b");
  hk_test_rename (f->root, "s1", "b/c");
  inject (f, "b", "c", HK_CHANGE_CREATED, TRUE);
  inject_move (f, "b", "c", "s1", "b", TRUE);
  inject_move (f, "", "s1", "b", "c", TRUE);
  assert_events (f, "created b/c; moved b/c -> s1/b; moved s1 -> b/c; created b/c/b/x (s)");
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 4);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/tree/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("new-directory-read-then-kernel-event-dropped", test_new_directory_read_then_event_dropped);
  ADD ("created-directory-watched-before-reported", test_created_directory_is_watched_before_reported);
  ADD ("deletion-of-unreported-name-dropped", test_deletion_of_unreported_name_dropped);
  ADD ("rename-is-one-moved", test_rename_is_one_moved);
  ADD ("lost-events-reused-inode-is-not-a-move", test_lost_events_reused_inode_is_not_a_move);
  ADD ("polling-round-reads-a-directory-twice", test_polling_round_reads_a_directory_twice);
  ADD ("polling-round-file-moves-out-of-moved-directory",
       test_polling_round_file_moves_out_of_moved_directory);
  ADD ("polling-round-moves-unwatched-directory",
       test_polling_round_moves_unwatched_directory);
  ADD ("polling-round-write-ahead-of-window", test_polling_round_write_ahead_of_window);
  ADD ("renamed-directory-keeps-paths", test_renamed_directory_keeps_paths);
  ADD ("directory-moved-out-is-one-deleted", test_directory_moved_out_is_one_deleted);
  ADD ("directory-moved-in-is-read", test_directory_moved_in_is_read);
  ADD ("rename-over-existing-deletes-it-first", test_rename_over_existing_deletes_it_first);
  ADD ("moved-in-over-existing-replaces-it", test_moved_in_over_existing_replaces_it);
  ADD ("access-events-only-for-files", test_access_events_only_for_files);
  ADD ("access-events-off-by-default", test_access_events_off_by_default);
  ADD ("lost-events-rescan-reports-difference", test_lost_events_rescan_reports_difference);
  ADD ("watch-failure-reported", test_watch_failure_is_reported);
  ADD ("out-of-watches-falls-back-to-polling", test_out_of_watches_falls_back_to_polling);
  ADD ("root-deleted-stops", test_root_deleted_stops);
  ADD ("subdirectory-self-events-ignored", test_subdirectory_self_events_ignored);
  ADD ("dropped-watch-forgotten", test_dropped_watch_forgotten);
  ADD ("polling-round-pairs-moves", test_polling_round_pairs_moves);
  ADD ("many-watchdogs-share-one-key", test_many_watchdogs_share_one_key);
  ADD ("created-directory-whose-name-was-reused", test_created_directory_whose_name_was_reused);
  ADD ("exchange-keeps-both-names", test_exchange_keeps_both_names);
  ADD ("created-directory-whose-path-leads-to-a-known-one",
       test_created_directory_whose_path_leads_to_a_known_one);
  ADD ("directory-moved-into-itself-is-read-again", test_directory_moved_into_itself_is_read_again);
  ADD ("polling-round-exchange-tells-free-names", test_polling_round_exchange_tells_free_names);
  ADD ("watch-placed-on-the-directory-that-took-the-name",
       test_watch_placed_on_the_directory_that_took_the_name);
  ADD ("created-directory-renamed-between-watch-and-read",
       test_created_directory_renamed_between_watch_and_read);

  return g_test_run ();
}
