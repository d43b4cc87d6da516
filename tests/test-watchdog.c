/* test-watchdog.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

#define TIMEOUT 5000

typedef struct
{
  char       *root;
  char       *outside;   /* a sibling of the root, not watched */
  char       *base;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
  char       *saved_sysctl;  /* restored at tear-down, even on failure */
} Fixture;


static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  /* A subprocess child drops privileges and works on its parent's fixture
   * (passed in the environment): a tree of its own could not be removed. */
  if (g_test_subprocess ())
    return;

  hk_test_make_tree (&f->base, &f->root, &f->outside);
  g_chmod (f->base, 0755);
}

static void
fixture_watch (Fixture *f)
{
  f->watchdog = hk_test_watchdog_new (f->root);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_test_start (f->watchdog);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  hk_test_restore_max_queued_events (&f->saved_sysctl);
  hk_test_remove_tree (&f->base, &f->root, &f->outside);
  hk_watchdog_set_watch_limit (0);
  hk_watchdog_set_queue_bound (0);
}

#define WAIT_FOR(f, type, rel) HK_RECORDER_WAIT_FOR ((f)->recorder, type, rel, TIMEOUT)

/* --- starting ------------------------------------------------------------ */

static void
test_start_missing_root_not_found (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = hk_test_path (f->root, "nope");
  g_autoptr(GFile) file = g_file_new_for_path (missing);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(GError) error = NULL;

  g_assert_false (hk_watchdog_start (watchdog, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nope"));
  g_assert_false (hk_watchdog_get_running (watchdog));
}

/* A watchdog made without a root (g_object_new(), or Hk.Watchdog(None) from
 * Python), and one given an empty path: clear errors, as stat("") gives,
 * not GIO criticals and "only local files". */
static void
test_start_without_root_or_with_empty_path (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) rootless = g_object_new (HK_TYPE_WATCHDOG, NULL);
  g_autoptr(GFile) empty = g_file_new_for_path ("");
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (empty);
  g_autoptr(GError) error = NULL;

  g_assert_false (hk_watchdog_start (rootless, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hk_watchdog_start (watchdog, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (hk_watchdog_get_running (watchdog));
}

static void
start_unreadable_child (Fixture *f)
{
  const char *locked = g_getenv ("HK_TEST_LOCKED_DIR");
  g_autoptr(GFile) file = g_file_new_for_path (locked);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GError) error = NULL;

  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    g_error ("cannot drop privileges: %s", g_strerror (errno));

  watchdog = hk_watchdog_new (file);
  g_assert_false (hk_watchdog_start (watchdog, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
}

static void
test_start_unreadable_root_permission_denied (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      start_unreadable_child (f);
      return;
    }

  hk_test_mkdir (f->root, "locked");
  {
    g_autofree char *locked = hk_test_path (f->root, "locked");
    g_chmod (locked, 0);
    /* The child runs its own fixture; it must look at ours. */
    g_setenv ("HK_TEST_LOCKED_DIR", locked, TRUE);
  }
  /* Run as an unprivileged user: root reads anything. */
  g_test_trap_subprocess (NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_start_non_local_root_not_supported (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_uri ("resource:///org/example/x");
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(GError) error = NULL;

  g_assert_false (hk_watchdog_start (watchdog, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
}

static void
test_start_file_root_watches_that_file (Fixture *f, gconstpointer data)
{
  g_autofree char *file_path = hk_test_path (f->root, "single.txt");
  g_autofree char *tmp_path = hk_test_path (f->root, "single.txt.tmp");
  g_autoptr(GFile) file = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GError) error = NULL;

  hk_test_write_file (file_path, "one");
  file = g_file_new_for_path (file_path);
  watchdog = hk_watchdog_new (file);
  recorder = hk_recorder_new (watchdog, f->root);
  hk_watchdog_start (watchdog, NULL, &error);
  g_assert_no_error (error);

  hk_test_write (f->root, "other.txt", "ignored");
  hk_test_write (f->root, "single.txt", "two");
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_MODIFIED, "single.txt", TIMEOUT));

  /* An editor's atomic save: a new file renamed over it. */
  hk_test_write_file (tmp_path, "three");
  g_assert_cmpint (g_rename (tmp_path, file_path), ==, 0);
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "single.txt", TIMEOUT));
  hk_test_write (f->root, "single.txt", "four");
  hk_test_drain (100);

  for (guint i = 0; i < recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (recorder->events, i);

      g_assert_true (g_str_has_suffix (hk_event_get_path (event), "/single.txt"));
    }
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_MODIFIED, "single.txt"), >=, 2);
}

static void
on_start_ready (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GError **error = user_data;

  if (!hk_watchdog_start_finish (HK_WATCHDOG (object), result, error) && *error == NULL)
    g_assert_not_reached ();
  if (*error == NULL)
    *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS, "ok");  /* marks "done" */
}

static gboolean
error_is_set (gpointer data)
{
  return *(GError **) data != NULL;
}

static void
test_start_async_walks_off_thread (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *rel = g_strdup_printf ("d%u/e/f", i);
      hk_test_mkdir (f->root, rel);
    }

  watchdog = hk_watchdog_new (file);
  recorder = hk_recorder_new (watchdog, f->root);
  hk_watchdog_start_async (watchdog, NULL, on_start_ready, &error);
  g_assert_true (hk_test_wait_until (error_is_set, &error, TIMEOUT));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);  /* success marker */
  g_assert_true (hk_watchdog_get_running (watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, 151);

  hk_test_write (f->root, "d7/e/f/new", "x");
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "d7/e/f/new", TIMEOUT));
}

static void
test_start_async_cancelled (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  hk_watchdog_start_async (watchdog, cancellable, on_start_ready, &error);
  g_assert_true (hk_test_wait_until (error_is_set, &error, TIMEOUT));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (hk_watchdog_get_running (watchdog));
}

static void
test_start_async_then_stop_cancels (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(GError) error = NULL;

  hk_watchdog_start_async (watchdog, NULL, on_start_ready, &error);
  hk_watchdog_stop (watchdog);
  g_assert_true (hk_test_wait_until (error_is_set, &error, TIMEOUT));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (hk_watchdog_get_running (watchdog));
}

/* --- basic events --------------------------------------------------------- */

static void
test_events_create_modify_delete (Fixture *f, gconstpointer data)
{
  g_autofree char *path = hk_test_path (f->root, "file.txt");
  HkEvent *created;

  fixture_watch (f);

  hk_test_write_file (path, "hello");
  WAIT_FOR (f, HK_EVENT_CLOSED, "file.txt");
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "file.txt"), ==, 1);
  g_assert_true (hk_recorder_has (f->recorder, HK_EVENT_MODIFIED, "file.txt"));

  created = g_ptr_array_index (f->recorder->events, 0);
  g_assert_false (hk_event_get_is_directory (created));
  g_assert_false (hk_event_get_is_synthetic (created));
  g_assert_cmpint (hk_event_get_timestamp (created), <=, g_get_monotonic_time ());

  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  WAIT_FOR (f, HK_EVENT_ATTRIBUTE_CHANGED, "file.txt");

  g_assert_cmpint (g_unlink (path), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "file.txt");
}

static void
on_created_detail (HkWatchdog *watchdog,
                   HkEvent    *event,
                   guint      *count)
{
  g_assert_cmpint (hk_event_get_event_type (event), ==, HK_EVENT_CREATED);
  (*count)++;
}

static void
test_events_detailed_signal (Fixture *f, gconstpointer data)
{
  guint count = 0;

  fixture_watch (f);
  g_signal_connect (f->watchdog, "event::created", G_CALLBACK (on_created_detail), &count);
  hk_test_write (f->root, "a", "1");
  WAIT_FOR (f, HK_EVENT_CLOSED, "a");
  g_assert_cmpuint (count, ==, 1);
}

static void
test_events_access_events_only_when_asked (Fixture *f, gconstpointer data)
{
  g_autofree char *path = hk_test_path (f->root, "read-me");
  g_autofree char *contents = NULL;

  hk_test_write (f->root, "read-me", "data");
  fixture_watch (f);
  g_file_get_contents (path, &contents, NULL, NULL);
  hk_test_write (f->root, "marker", "");
  WAIT_FOR (f, HK_EVENT_CREATED, "marker");
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_OPENED, "read-me"));

  hk_watchdog_stop (f->watchdog);
  hk_watchdog_set_access_events (f->watchdog, TRUE);
  hk_watchdog_start (f->watchdog, NULL, NULL);
  g_clear_pointer (&contents, g_free);
  g_file_get_contents (path, &contents, NULL, NULL);
  WAIT_FOR (f, HK_EVENT_OPENED, "read-me");
  WAIT_FOR (f, HK_EVENT_CLOSED_NO_WRITE, "read-me");
}

typedef struct
{
  GMainContext *context;
  GThread      *thread;
  char         *root;
  gboolean      ok;
} ThreadOwner;

static gboolean
has_event (gpointer data)
{
  return ((HkRecorder *) data)->events->len > 0;
}

static gpointer
owner_thread (gpointer data)
{
  ThreadOwner *owner = data;
  g_autoptr(GFile) file = g_file_new_for_path (owner->root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autofree char *path = g_build_filename (owner->root, "from-thread", NULL);

  g_main_context_push_thread_default (owner->context);
  watchdog = hk_watchdog_new (file);
  recorder = hk_recorder_new (watchdog, owner->root);  /* asserts the thread */
  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  hk_test_write_file (path, "x");
  owner->ok = hk_test_wait_until (has_event, recorder, TIMEOUT);
  hk_watchdog_stop (watchdog);
  g_main_context_pop_thread_default (owner->context);

  return NULL;
}

static void
test_events_emitted_on_owner_thread (Fixture *f, gconstpointer data)
{
  ThreadOwner owner = { g_main_context_new (), NULL, f->root, FALSE };

  owner.thread = g_thread_new ("owner", owner_thread, &owner);
  g_thread_join (owner.thread);
  g_main_context_unref (owner.context);
  g_assert_true (owner.ok);
}

/* --- recursive semantics -------------------------------------------------- */

typedef struct
{
  HkRecorder *recorder;
  guint       expected;
  guint       seen;      /* events already counted */
  guint       created;
} CountWait;

static gboolean
created_at_least (gpointer data)
{
  CountWait *w = data;

  for (; w->seen < w->recorder->events->len; w->seen++)
    if (hk_event_get_event_type (g_ptr_array_index (w->recorder->events, w->seen)) == HK_EVENT_CREATED)
      w->created++;
  return w->created >= w->expected;
}

static void
test_recursive_mkdir_p_then_files_exactly_once (Fixture *f, gconstpointer data)
{
  const guint n_trees = 1000, n_files = 5;
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  CountWait w;

  fixture_watch (f);

  for (guint i = 0; i < n_trees; i++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/t%u/b/c", f->root, i);

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      for (guint j = 0; j < n_files; j++)
        {
          g_autofree char *file = g_strdup_printf ("%s/f%u", dir, j);
          int fd = open (file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

          g_assert_cmpint (fd, >=, 0);
          close (fd);
        }
    }

  w = (CountWait) { f->recorder, n_trees * (3 + n_files), 0, 0 };
  g_assert_true (hk_test_wait_until (created_at_least, &w, 20000));
  hk_test_drain (200);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      guint n;

      if (hk_event_get_event_type (event) != HK_EVENT_CREATED)
        continue;
      n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, hk_event_get_path (event)));
      g_hash_table_replace (counts, g_strdup (hk_event_get_path (event)), GUINT_TO_POINTER (n + 1));
    }

  g_assert_cmpuint (g_hash_table_size (counts), ==, n_trees * (3 + n_files));
  for (guint i = 0; i < n_trees; i++)
    {
      const char *dirs[] = { "", "/b", "/b/c" };

      for (guint d = 0; d < G_N_ELEMENTS (dirs); d++)
        {
          g_autofree char *p = g_strdup_printf ("%s/t%u%s", f->root, i, dirs[d]);
          g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (counts, p)), ==, 1);
        }
      for (guint j = 0; j < n_files; j++)
        {
          g_autofree char *p = g_strdup_printf ("%s/t%u/b/c/f%u", f->root, i, j);
          g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (counts, p)), ==, 1);
        }
    }
}

static void
test_recursive_rename_is_one_moved_event (Fixture *f, gconstpointer data)
{
  g_autofree char *a = hk_test_path (f->root, "a.txt");
  g_autofree char *b = hk_test_path (f->root, "b.txt");

  hk_test_write (f->root, "a.txt", "x");
  hk_test_mkdir (f->root, "sub");
  fixture_watch (f);

  g_assert_cmpint (g_rename (a, b), ==, 0);
  WAIT_FOR (f, HK_EVENT_MOVED, "a.txt -> b.txt");
  {
    g_autofree char *into = hk_test_path (f->root, "sub/c.txt");
    g_assert_cmpint (g_rename (b, into), ==, 0);
  }
  WAIT_FOR (f, HK_EVENT_MOVED, "b.txt -> sub/c.txt");
  hk_test_drain (50);
  g_assert_cmpuint (f->recorder->events->len, ==, 2);
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_DELETED, "a.txt"));
}

static void
test_recursive_renamed_directory_keeps_watching (Fixture *f, gconstpointer data)
{
  g_autofree char *old_dir = hk_test_path (f->root, "old");
  g_autofree char *new_dir = hk_test_path (f->root, "new");

  hk_test_mkdir (f->root, "old/deep/er");
  fixture_watch (f);

  g_assert_cmpint (g_rename (old_dir, new_dir), ==, 0);
  WAIT_FOR (f, HK_EVENT_MOVED, "old -> new");
  hk_test_write (f->root, "new/deep/er/file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "new/deep/er/file");
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "old/deep/er/file"));
}

static void
test_recursive_directory_moved_in_is_watched (Fixture *f, gconstpointer data)
{
  g_autofree char *src = g_build_filename (f->outside, "incoming", NULL);
  g_autofree char *dst = hk_test_path (f->root, "incoming");
  g_autofree char *deep = g_build_filename (src, "x/y", NULL);
  g_autofree char *file = g_build_filename (src, "x/y/data", NULL);

  g_mkdir_with_parents (deep, 0755);
  hk_test_write_file (file, "1");
  fixture_watch (f);

  g_assert_cmpint (g_rename (src, dst), ==, 0);
  WAIT_FOR (f, HK_EVENT_CREATED, "incoming");
  WAIT_FOR (f, HK_EVENT_CREATED, "incoming/x/y/data");
  g_assert_true (hk_event_get_is_synthetic (g_ptr_array_index (f->recorder->events,
                                                                f->recorder->events->len - 1)));
  hk_test_write (f->root, "incoming/x/y/later", "2");
  WAIT_FOR (f, HK_EVENT_CREATED, "incoming/x/y/later");
}

static void
test_recursive_directory_moved_out_is_deleted (Fixture *f, gconstpointer data)
{
  g_autofree char *src = hk_test_path (f->root, "leaving");
  g_autofree char *dst = g_build_filename (f->outside, "leaving", NULL);
  g_autofree char *later = g_build_filename (dst, "a/after-move", NULL);
  guint watches_before, watches_after;

  hk_test_mkdir (f->root, "leaving/a");
  fixture_watch (f);
  watches_before = hk_watchdog_get_backend_watches ();

  g_assert_cmpint (g_rename (src, dst), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "leaving");
  watches_after = hk_watchdog_get_backend_watches ();
  g_assert_cmpuint (watches_after, ==, watches_before - 2);

  hk_test_write_file (later, "x");
  hk_test_write (f->root, "marker", "");
  WAIT_FOR (f, HK_EVENT_CREATED, "marker");
  for (guint i = 0; i < f->recorder->events->len; i++)
    g_assert_null (strstr (hk_event_get_path (g_ptr_array_index (f->recorder->events, i)), "after-move"));
}

static void
test_recursive_off_watches_root_only (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);

  hk_test_mkdir (f->root, "sub");
  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_recursive (f->watchdog, FALSE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, NULL));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1);

  hk_test_write (f->root, "sub/inner", "x");
  hk_test_write (f->root, "top", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "top");
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "sub/inner"));
}

static void
test_recursive_hostile_names_exact (Fixture *f, gconstpointer data)
{
  const char *names[] = { "new\nline", "caf\xe9", "$(touch pwned)", "a;rm -rf b", " lead", "tab\there" };

  fixture_watch (f);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    hk_test_write (f->root, names[i], "x");
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    WAIT_FOR (f, HK_EVENT_CREATED, names[i]);
}

/* --- stop and dispose ------------------------------------------------------ */

static void
test_stop_no_event_after_stop (Fixture *f, gconstpointer data)
{
  fixture_watch (f);

  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u", i);
      hk_test_write (f->root, rel, "x");
    }
  /* Wait until the worker has read some of them into the owner's queue,
   * without dispatching it: events are provably pending when stop runs. */
  g_assert_true (hk_test_wait_queued (f->watchdog, 1, 10000));
  hk_watchdog_stop (f->watchdog);
  g_assert_false (hk_watchdog_get_running (f->watchdog));
  hk_test_drain (200);
  g_assert_cmpuint (f->recorder->events->len, ==, 0);
}

static void
stop_in_handler (HkWatchdog *watchdog,
                 HkEvent    *event,
                 guint      *calls)
{
  (*calls)++;
  hk_watchdog_stop (watchdog);
}

static gboolean
called (gpointer data)
{
  return *(guint *) data > 0;
}

static void
test_stop_from_handler_stops_the_batch (Fixture *f, gconstpointer data)
{
  guint calls = 0;

  fixture_watch (f);
  g_signal_connect (f->watchdog, "event", G_CALLBACK (stop_in_handler), &calls);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u", i);
      hk_test_write (f->root, rel, "x");
    }
  /* Wait for events to be read (a batch is waiting), then deliver. */
  hk_test_wait_queued (f->watchdog, 1, 10000);
  g_assert_true (hk_test_wait_until (called, &calls, 10000));
  hk_test_drain (100);
  g_assert_cmpuint (calls, ==, 1);
}

static void
test_stop_unref_running_is_safe (Fixture *f, gconstpointer data)
{
  for (guint round = 0; round < 20; round++)
    {
      g_autoptr(GFile) file = g_file_new_for_path (f->root);
      HkWatchdog *watchdog = hk_watchdog_new (file);
      g_autofree char *rel = g_strdup_printf ("r%u", round);

      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
      hk_test_write (f->root, rel, "x");
      if (round % 2)
        g_usleep (2000);
      g_object_unref (watchdog);
      hk_test_drain (5);
    }
}

static void
test_stop_start_repeated (Fixture *f, gconstpointer data)
{
  fixture_watch (f);

  for (guint round = 0; round < 5; round++)
    {
      g_autofree char *rel = g_strdup_printf ("round%u", round);

      hk_watchdog_stop (f->watchdog);
      hk_watchdog_stop (f->watchdog);
      g_assert_true (hk_watchdog_start (f->watchdog, NULL, NULL));
      hk_test_write (f->root, rel, "x");
      WAIT_FOR (f, HK_EVENT_CREATED, rel);
    }
}

/* --- one worker for every watchdog ----------------------------------------- */

static void
test_shared_worker_two_watchdogs (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = hk_test_path (f->root, "sub");
  g_autoptr(GFile) sub_file = NULL;
  g_autoptr(HkWatchdog) second = NULL;
  g_autoptr(HkRecorder) second_recorder = NULL;

  hk_test_mkdir (f->root, "sub");
  fixture_watch (f);
  sub_file = g_file_new_for_path (sub);
  second = hk_watchdog_new (sub_file);
  second_recorder = hk_recorder_new (second, sub);
  g_assert_true (hk_watchdog_start (second, NULL, NULL));
  /* "sub" is watched by both: one kernel watch, shared. */
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 2);

  hk_test_write (f->root, "sub/both", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "sub/both");
  g_assert_true (hk_recorder_wait_for (second_recorder, HK_EVENT_CREATED, "both", TIMEOUT));

  hk_watchdog_stop (second);
  hk_test_write (f->root, "sub/first-only", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "sub/first-only");
  g_assert_false (hk_recorder_has (second_recorder, HK_EVENT_CREATED, "first-only"));
}

/* --- losing nothing -------------------------------------------------------- */

static gboolean
stopped (gpointer data)
{
  return !hk_watchdog_get_running (data);
}

static void
test_lose_nothing_root_deleted_stops_with_error (Fixture *f, gconstpointer data)
{
  fixture_watch (f);
  hk_test_rm_rf (f->root);
  g_assert_true (hk_test_wait_until (stopped, f->watchdog, TIMEOUT));
  WAIT_FOR (f, HK_EVENT_DELETED, "");
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0), G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (hk_watchdog_get_running (f->watchdog));
}

static void
test_lose_nothing_root_moved_stops_with_error (Fixture *f, gconstpointer data)
{
  g_autofree char *moved = g_build_filename (f->base, "moved-root", NULL);

  fixture_watch (f);
  g_assert_cmpint (g_rename (f->root, moved), ==, 0);
  g_assert_true (hk_test_wait_until (stopped, f->watchdog, TIMEOUT));
  WAIT_FOR (f, HK_EVENT_DELETED, "");
  g_assert_false (hk_watchdog_get_running (f->watchdog));
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
}

static void
test_lose_nothing_overflow_without_changes_reports_nothing (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "untouched", "1");
  hk_test_mkdir (f->root, "dir/sub");
  hk_test_write (f->root, "dir/sub/deep", "1");
  g_usleep (30000);  /* older than the coarse timestamp slack */
  fixture_watch (f);

  hk_watchdog_inject_overflow (f->watchdog);
  hk_test_drain (100);
  g_assert_cmpuint (f->recorder->n_overflows, ==, 1);
  hk_recorder_dump (f->recorder);
  g_assert_cmpuint (f->recorder->events->len, ==, 0);
}

static gboolean
got_overflow (gpointer data)
{
  return ((HkRecorder *) data)->n_overflows > 0;
}

/* A real IN_Q_OVERFLOW, by lowering the kernel's queue length (root only),
 * then checks that what was reported, applied to the state before, gives
 * exactly the tree on disk. */
static void
test_lose_nothing_real_overflow_reports_exact_difference (Fixture *f, gconstpointer data)
{
  const char *knob = HK_TEST_MAX_QUEUED_EVENTS;
  g_autoptr(GHashTable) model = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key;

  if (geteuid () != 0 || !hk_test_read_sysctl (knob, &f->saved_sysctl))
    {
      g_test_skip ("needs root to lower max_queued_events");
      return;
    }

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *rel = g_strdup_printf ("old%u", i);
      hk_test_write (f->root, rel, "x");
      g_hash_table_add (model, g_strdup (rel));
    }
  g_usleep (30000);

  /* The limit applies to inotify instances created after the change. */
  g_assert_true (hk_test_write_sysctl (knob, "32"));
  g_assert_true (hk_watchdog_restart_backend_for_testing ());
  fixture_watch (f);
  hk_test_write_sysctl (knob, f->saved_sysctl);
  g_clear_pointer (&f->saved_sysctl, g_free);

  hk_watchdog_stall_worker (300);
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *rel = g_strdup_printf ("new%u", i);
      hk_test_write (f->root, rel, "x");
    }
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *rel = g_strdup_printf ("old%u", i);
      g_autofree char *path = hk_test_path (f->root, rel);
      g_unlink (path);
    }
  hk_test_mkdir (f->root, "late/dir");
  hk_test_write (f->root, "late/dir/file", "x");

  g_assert_true (hk_test_wait_until (got_overflow, f->recorder, TIMEOUT));
  hk_test_drain (300);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      const char *rel = hk_event_get_path (event) + strlen (f->root) + 1;

      switch (hk_event_get_event_type (event))
        {
        case HK_EVENT_CREATED:
          g_hash_table_add (model, g_strdup (rel));
          break;
        case HK_EVENT_DELETED:
          g_hash_table_remove (model, rel);
          break;
        default:
          break;
        }
    }

  for (guint i = 0; i < 300; i++)
    g_hash_table_add (disk, g_strdup_printf ("new%u", i));
  for (guint i = 10; i < 20; i++)
    g_hash_table_add (disk, g_strdup_printf ("old%u", i));
  g_hash_table_add (disk, g_strdup ("late"));
  g_hash_table_add (disk, g_strdup ("late/dir"));
  g_hash_table_add (disk, g_strdup ("late/dir/file"));

  g_hash_table_iter_init (&iter, disk);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (model, key))
      g_error ("missing from the events: %s", (char *) key);
  g_hash_table_iter_init (&iter, model);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (disk, key))
      g_error ("reported but not on disk: %s", (char *) key);
  /* Untouched files were not reported. */
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_MODIFIED, "old15"));
}

static void
test_lose_nothing_watch_limit_reported_and_polled (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "a/b");
  hk_test_mkdir (f->root, "c");
  hk_watchdog_set_watch_limit (2);   /* root + one more */
  fixture_watch (f);

  g_assert_cmpuint (f->recorder->errors->len, ==, 0);  /* delivered on the next dispatch */
  hk_test_drain (50);
  g_assert_cmpuint (f->recorder->errors->len, >=, 1);
  {
    const GError *error = g_ptr_array_index (f->recorder->errors, 0);

    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
    g_assert_nonnull (strstr (error->message, "max_user_watches"));
  }

  /* Unwatched directories are still covered, by rescans. */
  hk_test_write (f->root, "a/b/late", "x");
  hk_test_write (f->root, "c/late", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/b/late");
  WAIT_FOR (f, HK_EVENT_CREATED, "c/late");
}


/* --- symbolic links -------------------------------------------------------- */

static void
test_symlinks_not_followed_by_default (Fixture *f, gconstpointer data)
{
  g_autofree char *link = hk_test_path (f->root, "link");

  hk_test_mkdir (f->root, "target");
  g_assert_cmpint (symlink ("target", link), ==, 0);
  fixture_watch (f);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);

  hk_test_write (f->root, "target/file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "target/file");
  hk_test_drain (50);
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "link/file"));
}

static void
test_symlinks_followed_with_loop_detection (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autofree char *to_outside = hk_test_path (f->root, "ext");
  g_autofree char *loop = hk_test_path (f->root, "sub/loop");
  g_autofree char *ext_file = g_build_filename (f->outside, "from-link", NULL);

  hk_test_mkdir (f->root, "sub");
  g_assert_cmpint (symlink (f->outside, to_outside), ==, 0);
  g_assert_cmpint (symlink ("..", loop), ==, 0);

  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_follow_symlinks (f->watchdog, TRUE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, NULL));
  /* root, sub, and ext followed; sub/loop is not. */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
  hk_test_drain (50);
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS);

  hk_test_write_file (ext_file, "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "ext/from-link");
}

/* --- permissions and filters ------------------------------------------------ */

static void
unreadable_subdir_child (void)
{
  const char *root = g_getenv ("HK_TEST_ROOT");
  g_autoptr(GFile) file = g_file_new_for_path (root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autofree char *fresh = g_build_filename (root, "open/fresh", NULL);

  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    g_error ("cannot drop privileges: %s", g_strerror (errno));

  watchdog = hk_watchdog_new (file);
  recorder = hk_recorder_new (watchdog, root);
  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  hk_test_drain (50);
  g_assert_cmpuint (recorder->errors->len, >=, 1);
  g_assert_error ((GError *) g_ptr_array_index (recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (((GError *) g_ptr_array_index (recorder->errors, 0))->message, "secret"));

  /* The rest of the tree is unaffected. */
  hk_test_write_file (fresh, "x");
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "open/fresh", TIMEOUT));
}

static void
test_lose_nothing_unreadable_subdirectory_reported (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      unreadable_subdir_child ();
      return;
    }

  hk_test_mkdir (f->root, "secret/inner");
  hk_test_mkdir (f->root, "open");
  g_chmod (f->root, 0777);
  {
    g_autofree char *open_dir = hk_test_path (f->root, "open");
    g_autofree char *secret = hk_test_path (f->root, "secret");

    g_chmod (open_dir, 0777);
    g_chmod (secret, 0);
  }
  g_setenv ("HK_TEST_ROOT", f->root, TRUE);
  g_test_trap_subprocess (NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_filter_ignored_directories_are_not_watched (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkFilter) filter = hk_filter_new ();

  hk_test_mkdir (f->root, ".git/objects/aa");
  hk_test_mkdir (f->root, "node_modules/x/y");
  hk_test_mkdir (f->root, "src/node_modules/z");
  hk_test_mkdir (f->root, "src/lib");
  g_assert_true (hk_filter_add_ignore_pattern (filter, ".git", NULL));
  g_assert_true (hk_filter_add_ignore_pattern (filter, "node_modules", NULL));

  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_filter (f->watchdog, filter);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, NULL));
  /* root, src, src/lib */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 3);

  hk_test_write (f->root, ".git/HEAD", "x");
  hk_test_write (f->root, "src/lib/a.c", "x");
  hk_test_mkdir (f->root, "src/lib/node_modules/new");
  hk_test_write (f->root, "src/lib/node_modules/new/pkg.js", "x");
  hk_test_write (f->root, "src/lib/b.c", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "src/lib/b.c");
  g_assert_true (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "src/lib/a.c"));
  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      const char *path = hk_event_get_path (g_ptr_array_index (f->recorder->events, i));

      g_assert_null (strstr (path, ".git"));
      g_assert_null (strstr (path, "node_modules"));
    }
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 3);
}

/* --- a busy owner ------------------------------------------------------------ */

static void
on_batch_size (HkWatchdog *watchdog,
               GPtrArray  *events,
               guint      *largest_before_overflow)
{
  HkRecorder *recorder = g_object_get_data (G_OBJECT (watchdog), "recorder");

  if (recorder->n_overflows == 0)
    *largest_before_overflow = MAX (*largest_before_overflow, events->len);
}

static void
test_lose_nothing_blocked_owner_bounded_and_complete (Fixture *f, gconstpointer data)
{
  const guint n_files = 100000, bound = 1000;
  guint largest = 0;
  g_autoptr(GHashTable) created = g_hash_table_new (g_str_hash, g_str_equal);

  hk_watchdog_set_queue_bound (bound);
  fixture_watch (f);
  g_object_set_data (G_OBJECT (f->watchdog), "recorder", f->recorder);
  g_signal_connect (f->watchdog, "batch", G_CALLBACK (on_batch_size), &largest);

  /* The owner context does not run while the files appear. */
  for (guint i = 0; i < n_files; i++)
    {
      char path[4096];
      int fd;

      g_snprintf (path, sizeof path, "%s/f%06u", f->root, i);
      fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      g_assert_cmpint (fd, >=, 0);
      close (fd);
    }

  {
    CountWait w = { f->recorder, n_files, 0, 0 };
    g_assert_true (hk_test_wait_until (created_at_least, &w, 60000));
  }
  hk_test_drain (100);

  g_assert_cmpuint (f->recorder->n_overflows, >=, 1);
  /* Before the overflow, no delivery exceeded the bound (plus the events of
   * the one kernel read in progress when it was reached). */
  g_assert_cmpuint (largest, <=, bound + 4096);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);

      if (hk_event_get_event_type (event) == HK_EVENT_CREATED)
        g_hash_table_add (created, (gpointer) hk_event_get_path (event));
      else if (hk_event_get_event_type (event) == HK_EVENT_DELETED)
        g_hash_table_remove (created, hk_event_get_path (event));
    }
  g_assert_cmpuint (g_hash_table_size (created), ==, n_files);
}

/* --- many lifecycles ----------------------------------------------------------- */

typedef struct
{
  char    *root;
  gint     stop;
} Churn;

static gpointer
churn_thread (gpointer data)
{
  Churn *churn = data;
  g_autofree char *path = g_build_filename (churn->root, "churn", NULL);

  while (!g_atomic_int_get (&churn->stop))
    {
      int fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

      if (fd >= 0)
        close (fd);
      unlink (path);
    }
  return NULL;
}

static void
count_event (HkWatchdog *watchdog,
             HkEvent    *event,
             guint      *count)
{
  (*count)++;
}

static void
test_lifecycle_many_start_stop_unref_cycles (Fixture *f, gconstpointer data)
{
  const char *env = g_getenv ("HK_TEST_CYCLES");
  guint cycles = env != NULL ? (guint) atoi (env) : 10000;
  Churn churn = { f->root, FALSE };
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  GThread *thread;
  guint after_stop = 0;

  hk_test_mkdir (f->root, "a/b");
  thread = g_thread_new ("churn", churn_thread, &churn);

  for (guint i = 0; i < cycles; i++)
    {
      HkWatchdog *watchdog = hk_watchdog_new (file);
      guint count = 0;

      g_signal_connect (watchdog, "event", G_CALLBACK (count_event), &count);
      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
      if (i % 3 == 0)
        g_main_context_iteration (NULL, FALSE);
      if (i % 2 == 0)
        {
          hk_watchdog_stop (watchdog);
          count = 0;
          while (g_main_context_iteration (NULL, FALSE))
            ;
          after_stop += count;
        }
      g_object_unref (watchdog);  /* running or not */
    }

  g_atomic_int_set (&churn.stop, TRUE);
  g_thread_join (thread);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (after_stop, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/watchdog/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("start/missing-root-not-found", test_start_missing_root_not_found);
  ADD ("start/without-root-or-with-empty-path", test_start_without_root_or_with_empty_path);
  ADD ("start/unreadable-root-permission-denied", test_start_unreadable_root_permission_denied);
  ADD ("start/non-local-root-not-supported", test_start_non_local_root_not_supported);
  ADD ("start/file-root-watches-that-file", test_start_file_root_watches_that_file);
  ADD ("start/async-walks-off-thread", test_start_async_walks_off_thread);
  ADD ("start/async-cancelled", test_start_async_cancelled);
  ADD ("start/async-then-stop-cancels", test_start_async_then_stop_cancels);
  ADD ("events/create-modify-delete", test_events_create_modify_delete);
  ADD ("events/detailed-signal", test_events_detailed_signal);
  ADD ("events/access-events-only-when-asked", test_events_access_events_only_when_asked);
  ADD ("events/emitted-on-owner-thread", test_events_emitted_on_owner_thread);
  ADD ("recursive/mkdir-p-then-files-exactly-once", test_recursive_mkdir_p_then_files_exactly_once);
  ADD ("recursive/rename-is-one-moved-event", test_recursive_rename_is_one_moved_event);
  ADD ("recursive/renamed-directory-keeps-watching", test_recursive_renamed_directory_keeps_watching);
  ADD ("recursive/directory-moved-in-is-watched", test_recursive_directory_moved_in_is_watched);
  ADD ("recursive/directory-moved-out-is-deleted", test_recursive_directory_moved_out_is_deleted);
  ADD ("recursive/off-watches-root-only", test_recursive_off_watches_root_only);
  ADD ("recursive/hostile-names-exact", test_recursive_hostile_names_exact);
  ADD ("stop/no-event-after-stop", test_stop_no_event_after_stop);
  ADD ("stop/from-handler-stops-the-batch", test_stop_from_handler_stops_the_batch);
  ADD ("stop/unref-running-is-safe", test_stop_unref_running_is_safe);
  ADD ("stop/start-repeated", test_stop_start_repeated);
  ADD ("shared-worker/two-watchdogs", test_shared_worker_two_watchdogs);
  ADD ("lose-nothing/root-deleted-stops-with-error", test_lose_nothing_root_deleted_stops_with_error);
  ADD ("lose-nothing/root-moved-stops-with-error", test_lose_nothing_root_moved_stops_with_error);
  ADD ("lose-nothing/overflow-without-changes-reports-nothing", test_lose_nothing_overflow_without_changes_reports_nothing);
  ADD ("lose-nothing/real-overflow-reports-exact-difference", test_lose_nothing_real_overflow_reports_exact_difference);
  ADD ("lose-nothing/watch-limit-reported-and-polled", test_lose_nothing_watch_limit_reported_and_polled);

  ADD ("symlinks/not-followed-by-default", test_symlinks_not_followed_by_default);
  ADD ("symlinks/followed-with-loop-detection", test_symlinks_followed_with_loop_detection);
  ADD ("lose-nothing/unreadable-subdirectory-reported", test_lose_nothing_unreadable_subdirectory_reported);
  ADD ("filter/ignored-directories-are-not-watched", test_filter_ignored_directories_are_not_watched);
  ADD ("lose-nothing/blocked-owner-bounded-and-complete", test_lose_nothing_blocked_owner_bounded_and_complete);
  ADD ("lifecycle/many-start-stop-unref-cycles", test_lifecycle_many_start_stop_unref_cycles);

#undef ADD

  return g_test_run ();
}
