/* test-conformance.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"
#include "hk-backend-private.h"

/* The same event-semantics cases, run against every backend available in
 * this run. What a backend cannot see is declared once, in the backends[]
 * table below (and in docs/backends.md); a case never weakens a shared
 * assertion for one backend silently. */

#define TIMEOUT 5000
/* Polling rounds in the tests: short, to keep the suite fast. */
#define POLL_INTERVAL_MS 50

typedef enum
{
  /* Cannot see close(2): no `closed` events. */
  QUIRK_NO_CLOSE         = 1 << 0,
  /* Reports a rename as `deleted` + `created` (synthetic), not `moved`.
   * No backend has it now that rescans pair moves by inode (polling
   * reports one synthetic `moved`); kept for a backend that cannot. */
  QUIRK_MOVES_UNPAIRED   = 1 << 1,
  /* Learns about changes only at its next round: wait longer before
   * concluding that nothing more comes. */
  QUIRK_ROUNDS           = 1 << 2,
} Quirks;

typedef struct
{
  const char    *name;
  HkBackendKind  kind;
  Quirks         quirks;
  const char    *fanotify_mode;  /* forced (HACHIKO_FANOTIFY_MODE), NULL: default */
} Backend;

/* Adding a backend to the suite is one line here. */
static const Backend backends[] = {
  { "inotify",  HK_BACKEND_KIND_INOTIFY,  0 },
  { "fanotify", HK_BACKEND_KIND_FANOTIFY, 0 },  /* filesystem marks where permitted */
  { "fanotify-inode", HK_BACKEND_KIND_FANOTIFY, 0, "inode" },
  { "gio",      HK_BACKEND_KIND_GIO,      0 },
  { "poll",     HK_BACKEND_KIND_POLL,     QUIRK_NO_CLOSE | QUIRK_ROUNDS },
};

static const Backend *
find_backend (HkBackendKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    if (backends[i].kind == kind)
      return &backends[i];
  g_assert_not_reached ();
}

typedef struct
{
  const Backend *backend;
  char          *base;
  char          *root;
  char          *outside;   /* a sibling of the root, not watched */
  HkWatchdog    *watchdog;
  HkRecorder    *recorder;
} Fixture;

static gboolean
has_quirk (Fixture *f,
           Quirks   quirk)
{
  return (f->backend->quirks & quirk) != 0;
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->backend = data;
  hk_test_make_tree (&f->base, &f->root, &f->outside);
  if (f->backend->fanotify_mode != NULL)
    {
      /* Read when the backend is created. */
      hk_fanotify_backend_set_mode_for_testing (f->backend->fanotify_mode);
      g_assert_true (hk_watchdog_restart_backend_for_testing ());
    }
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  if (f->backend->fanotify_mode != NULL)
    {
      hk_watchdog_restart_backend_for_testing ();
      hk_fanotify_backend_set_mode_for_testing (NULL);
    }
  hk_test_remove_tree (&f->base, &f->root, &f->outside);
}

static gint64
coarse_realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME_COARSE, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gint64
realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* Polling rounds are cut on the kernel's coarse clock, and a change made
 * just before a watch starts may carry a timestamp past its first boundary
 * (fine-grained "multigrain" file timestamps, Linux 6.13+), so the first
 * round reports it (docs/backends.md). The cases set their tree up before
 * the coarse clock has passed every timestamp it got, so what they made
 * before watching is never news. */
static void
wait_until_setup_is_past (void)
{
  gint64 setup_done = realtime_ns ();

  while (coarse_realtime_ns () <= setup_done)
    g_usleep (500);
}

/* Starts watching the root with the fixture's backend. FALSE (and the test
 * skipped) when the backend is not available in this run. */
static gboolean
fixture_watch (Fixture *f)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(GError) error = NULL;

  wait_until_setup_is_past ();

  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend (f->watchdog, f->backend->kind);
  hk_watchdog_set_poll_interval (f->watchdog, POLL_INTERVAL_MS);
  f->recorder = hk_recorder_new (f->watchdog, f->root);

  if (!hk_watchdog_start (f->watchdog, NULL, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        {
          g_autofree char *why = g_strdup_printf ("%s: %s", f->backend->name, error->message);

          g_test_skip (why);
          return FALSE;
        }
      g_assert_no_error (error);
    }
  g_assert_true (hk_watchdog_get_running (f->watchdog));
  g_assert_cmpint (hk_watchdog_get_active_backend (f->watchdog), ==, f->backend->kind);
  /* The cases are about changes made once the tree is known: a fanotify
   * start returns before its walk (tested in test-fanotify.c). */
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, TIMEOUT));
  return TRUE;
}

#define WAIT_FOR(f, type, rel) \
  G_STMT_START { \
    if (!hk_recorder_wait_for ((f)->recorder, type, rel, TIMEOUT)) \
      { \
        hk_recorder_dump ((f)->recorder); \
        g_error ("%s: timed out waiting for %s %s", (f)->backend->name, #type, (const char *) (rel)); \
      } \
  } G_STMT_END

/* Lets late or duplicate events arrive: a few polling rounds, or a moment. */
static void
settle (Fixture *f)
{
  hk_test_drain (has_quirk (f, QUIRK_ROUNDS) ? 4 * POLL_INTERVAL_MS : 150);
}

#define ASSERT_COUNT(f, type, rel, n) \
  G_STMT_START { \
    guint count_ = hk_recorder_count ((f)->recorder, type, rel); \
    if (count_ != (n)) \
      { \
        hk_recorder_dump ((f)->recorder); \
        g_error ("%s: %u × %s %s, expected %u", (f)->backend->name, count_, #type, (const char *) (rel), (guint) (n)); \
      } \
  } G_STMT_END

/* A rename inside the tree: one `moved` (or, for a backend declared
 * QUIRK_MOVES_UNPAIRED, one `deleted` and one `created`). */
static void
assert_moved_once (Fixture    *f,
                   const char *from,
                   const char *to)
{
  g_autofree char *pair = g_strdup_printf ("%s -> %s", from, to);

  if (has_quirk (f, QUIRK_MOVES_UNPAIRED))
    {
      WAIT_FOR (f, HK_EVENT_CREATED, to);
      WAIT_FOR (f, HK_EVENT_DELETED, from);
      settle (f);
      ASSERT_COUNT (f, HK_EVENT_CREATED, to, 1);
      ASSERT_COUNT (f, HK_EVENT_DELETED, from, 1);
      return;
    }

  WAIT_FOR (f, HK_EVENT_MOVED, pair);
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_MOVED, pair, 1);
  ASSERT_COUNT (f, HK_EVENT_CREATED, to, 0);
  ASSERT_COUNT (f, HK_EVENT_DELETED, from, 0);
}

/* --- cases ------------------------------------------------------------- */

static void
test_create_file (Fixture *f, gconstpointer data)
{
  if (!fixture_watch (f))
    return;

  hk_test_write (f->root, "file", "hello");
  WAIT_FOR (f, HK_EVENT_CREATED, "file");
  if (!has_quirk (f, QUIRK_NO_CLOSE))
    WAIT_FOR (f, HK_EVENT_CLOSED, "file");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "file", 1);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "file", 0);
}

static void
test_create_directory (Fixture *f, gconstpointer data)
{
  if (!fixture_watch (f))
    return;

  hk_test_mkdir (f->root, "dir");
  WAIT_FOR (f, HK_EVENT_CREATED, "dir");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "dir", 1);
  g_assert_cmpuint (f->recorder->events->len, ==, 1);
}

/* The race every recursive watcher must win: entries made in a directory
 * before its watch exists. */
static void
test_file_in_new_directory (Fixture *f, gconstpointer data)
{
  static const char *entries[] = { "new", "new/a", "new/sub", "new/sub/b", "new/sub/c" };

  if (!fixture_watch (f))
    return;

  hk_test_mkdir (f->root, "new/sub");
  hk_test_write (f->root, "new/a", "a");
  hk_test_write (f->root, "new/sub/b", "b");
  hk_test_write (f->root, "new/sub/c", "c");

  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    WAIT_FOR (f, HK_EVENT_CREATED, entries[i]);
  settle (f);
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      ASSERT_COUNT (f, HK_EVENT_CREATED, entries[i], 1);
      ASSERT_COUNT (f, HK_EVENT_DELETED, entries[i], 0);
    }
}

static void
test_modify (Fixture *f, gconstpointer data)
{
  g_autofree char *path = hk_test_path (f->root, "file");
  int fd;

  hk_test_write (f->root, "file", "one");
  if (!fixture_watch (f))
    return;

  fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "two", 3), ==, 3);
  WAIT_FOR (f, HK_EVENT_MODIFIED, "file");
  close (fd);
  if (!has_quirk (f, QUIRK_NO_CLOSE))
    WAIT_FOR (f, HK_EVENT_CLOSED, "file");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "file", 0);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "file", 0);
}

static void
test_attributes (Fixture *f, gconstpointer data)
{
  g_autofree char *path = hk_test_path (f->root, "file");

  hk_test_write (f->root, "file", "one");
  if (!fixture_watch (f))
    return;

  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  WAIT_FOR (f, HK_EVENT_ATTRIBUTE_CHANGED, "file");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_ATTRIBUTE_CHANGED, "file", 1);
  ASSERT_COUNT (f, HK_EVENT_MODIFIED, "file", 0);
}

static void
test_delete (Fixture *f, gconstpointer data)
{
  g_autofree char *file = hk_test_path (f->root, "file");
  g_autofree char *dir = hk_test_path (f->root, "dir");

  hk_test_write (f->root, "file", "one");
  hk_test_mkdir (f->root, "dir");
  if (!fixture_watch (f))
    return;

  g_assert_cmpint (g_unlink (file), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "file");
  WAIT_FOR (f, HK_EVENT_DELETED, "dir");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "file", 1);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "dir", 1);
  g_assert_cmpuint (f->recorder->events->len, ==, 2);
}

static void
test_move_within_directory (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "a", "one");
  if (!fixture_watch (f))
    return;

  hk_test_rename (f->root, "a", "b");
  assert_moved_once (f, "a", "b");
}

static void
test_move_across_directories (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "x");
  hk_test_mkdir (f->root, "y");
  hk_test_write (f->root, "x/a", "one");
  if (!fixture_watch (f))
    return;

  hk_test_rename (f->root, "x/a", "y/a");
  assert_moved_once (f, "x/a", "y/a");
}

/* A moved directory keeps its contents and keeps being watched: later
 * events carry the new path. */
static void
test_move_directory_with_contents (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "d/s");
  hk_test_mkdir (f->root, "other");
  hk_test_write (f->root, "d/f", "f");
  hk_test_write (f->root, "d/s/g", "g");
  if (!fixture_watch (f))
    return;

  hk_test_rename (f->root, "d", "other/e");
  if (has_quirk (f, QUIRK_MOVES_UNPAIRED))
    {
      /* The new name is a new tree, its contents reported with it. */
      WAIT_FOR (f, HK_EVENT_CREATED, "other/e/s/g");
      WAIT_FOR (f, HK_EVENT_DELETED, "d");
      ASSERT_COUNT (f, HK_EVENT_CREATED, "other/e", 1);
      ASSERT_COUNT (f, HK_EVENT_CREATED, "other/e/f", 1);
    }
  else
    {
      assert_moved_once (f, "d", "other/e");
      /* Its contents moved with it: nothing to report about them. */
      ASSERT_COUNT (f, HK_EVENT_CREATED, "other/e/f", 0);
      ASSERT_COUNT (f, HK_EVENT_DELETED, "d/f", 0);
    }

  hk_test_write (f->root, "other/e/s/h", "h");
  WAIT_FOR (f, HK_EVENT_CREATED, "other/e/s/h");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "other/e/s/h", 1);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "d/s/h", 0);
}

/* rename(2) over an existing name replaces it: the replaced entry is
 * reported deleted once, and the rename itself once. */
static void
test_rename_over_existing (Fixture *f, gconstpointer data)
{
  hk_test_write (f->root, "new", "new");
  hk_test_write (f->root, "old", "old");
  if (!fixture_watch (f))
    return;

  hk_test_rename (f->root, "new", "old");
  if (has_quirk (f, QUIRK_MOVES_UNPAIRED))
    {
      WAIT_FOR (f, HK_EVENT_DELETED, "new");
      WAIT_FOR (f, HK_EVENT_CREATED, "old");
      settle (f);
      ASSERT_COUNT (f, HK_EVENT_DELETED, "new", 1);
      ASSERT_COUNT (f, HK_EVENT_CREATED, "old", 1);
    }
  else
    {
      WAIT_FOR (f, HK_EVENT_MOVED, "new -> old");
      settle (f);
      ASSERT_COUNT (f, HK_EVENT_MOVED, "new -> old", 1);
      ASSERT_COUNT (f, HK_EVENT_CREATED, "old", 0);
    }
  ASSERT_COUNT (f, HK_EVENT_DELETED, "old", 1);
}

static void
test_move_in_from_outside (Fixture *f, gconstpointer data)
{
  g_autofree char *source = g_build_filename (f->outside, "d", NULL);
  g_autofree char *source_file = g_build_filename (f->outside, "d", "f", NULL);
  g_autofree char *dest = hk_test_path (f->root, "d");

  g_assert_cmpint (g_mkdir (source, 0755), ==, 0);
  hk_test_write_file (source_file, "f");
  if (!fixture_watch (f))
    return;

  g_assert_cmpint (g_rename (source, dest), ==, 0);
  WAIT_FOR (f, HK_EVENT_CREATED, "d");
  WAIT_FOR (f, HK_EVENT_CREATED, "d/f");

  /* And it is watched from now on. */
  hk_test_write (f->root, "d/g", "g");
  WAIT_FOR (f, HK_EVENT_CREATED, "d/g");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "d", 1);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "d/f", 1);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "d/g", 1);
}

static void
test_move_out_to_outside (Fixture *f, gconstpointer data)
{
  g_autofree char *source = hk_test_path (f->root, "d");
  g_autofree char *dest = g_build_filename (f->outside, "d", NULL);
  g_autofree char *dest_file = g_build_filename (f->outside, "d", "later", NULL);

  hk_test_mkdir (f->root, "d/s");
  hk_test_write (f->root, "d/f", "f");
  if (!fixture_watch (f))
    return;

  g_assert_cmpint (g_rename (source, dest), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "d");

  /* Gone from the tree: nothing below it is reported any more. */
  hk_test_write_file (dest_file, "x");
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "d", 1);
  g_assert_cmpuint (f->recorder->events->len, ==, 1);
}

static void
test_deep_tree (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) rel = g_string_new ("a");
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);

  if (!fixture_watch (f))
    return;

  /* Twelve levels made as fast as possible, a file at each. */
  for (guint depth = 0; depth < 12; depth++)
    {
      g_autofree char *file = NULL;

      if (depth > 0)
        g_string_append_printf (rel, "/%c", 'a' + depth);
      hk_test_mkdir (f->root, rel->str);
      file = g_strdup_printf ("%s/file", rel->str);
      hk_test_write (f->root, file, "x");
      g_ptr_array_add (expected, g_strdup (rel->str));
      g_ptr_array_add (expected, g_steal_pointer (&file));
    }

  for (guint i = 0; i < expected->len; i++)
    WAIT_FOR (f, HK_EVENT_CREATED, g_ptr_array_index (expected, i));
  settle (f);
  for (guint i = 0; i < expected->len; i++)
    ASSERT_COUNT (f, HK_EVENT_CREATED, g_ptr_array_index (expected, i), 1);
  ASSERT_COUNT (f, HK_EVENT_DELETED, "a", 0);
}

static void
test_stop (Fixture *f, gconstpointer data)
{
  if (!fixture_watch (f))
    return;

  hk_test_write (f->root, "before", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "before");
  hk_watchdog_stop (f->watchdog);
  hk_recorder_clear (f->recorder);

  hk_test_write (f->root, "after", "x");
  hk_test_mkdir (f->root, "after-dir");
  settle (f);
  g_assert_cmpuint (f->recorder->events->len, ==, 0);
  g_assert_false (hk_watchdog_get_running (f->watchdog));
}

/* Two watchdogs on the same directory share the backend's watch (the same
 * key) and each gets every event once; stopping one leaves the other
 * watching. */
static void
test_two_watchdogs_same_directory (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) second = NULL;
  g_autoptr(HkRecorder) second_recorder = NULL;
  g_autoptr(GError) error = NULL;

  hk_test_mkdir (f->root, "sub");
  if (!fixture_watch (f))
    return;

  second = hk_watchdog_new (file);
  hk_watchdog_set_backend (second, f->backend->kind);
  hk_watchdog_set_poll_interval (second, POLL_INTERVAL_MS);
  second_recorder = hk_recorder_new (second, f->root);
  hk_watchdog_start (second, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hk_test_wait_walk_complete (second, TIMEOUT));

  hk_test_write (f->root, "sub/both", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "sub/both");
  if (!hk_recorder_wait_for (second_recorder, HK_EVENT_CREATED, "sub/both", TIMEOUT))
    g_error ("%s: the second watchdog missed sub/both", f->backend->name);

  hk_watchdog_stop (f->watchdog);
  hk_test_write (f->root, "sub/second-only", "x");
  if (!hk_recorder_wait_for (second_recorder, HK_EVENT_CREATED, "sub/second-only", TIMEOUT))
    g_error ("%s: the second watchdog stopped watching with the first", f->backend->name);
  settle (f);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "sub/both", 1);
  ASSERT_COUNT (f, HK_EVENT_CREATED, "sub/second-only", 0);
  g_assert_cmpuint (hk_recorder_count (second_recorder, HK_EVENT_CREATED, "sub/both"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (second_recorder, HK_EVENT_CREATED, "sub/second-only"), ==, 1);
  hk_watchdog_stop (second);
}

static gboolean
stopped (gpointer data)
{
  return !hk_watchdog_get_running (data);
}

/* A deleted or moved-away root is reported once and stops the watchdog
 * with an error. */
static void
test_root_gone_stops (Fixture *f, gconstpointer data)
{
  g_autofree char *moved = g_build_filename (f->base, "moved-root", NULL);
  gboolean by_rename = g_str_has_suffix (g_test_get_path (), "/root-moved");

  hk_test_mkdir (f->root, "sub");
  if (!fixture_watch (f))
    return;

  if (by_rename)
    g_assert_cmpint (g_rename (f->root, moved), ==, 0);
  else
    hk_test_rm_rf (f->root);
  if (!hk_test_wait_until (stopped, f->watchdog, TIMEOUT))
    {
      hk_recorder_dump (f->recorder);
      g_error ("%s: the watchdog did not stop", f->backend->name);
    }
  ASSERT_COUNT (f, HK_EVENT_DELETED, "", 1);
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
  g_assert_error ((GError *) g_ptr_array_index (f->recorder->errors, 0),
                  G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* A forced backend that cannot work fails start with NOT_SUPPORTED and
 * says why; one that can reports it chose as told. */
static void
test_forced_backend_reason (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(GError) error = NULL;

  hk_watchdog_set_backend (watchdog, f->backend->kind);
  if (!hk_watchdog_start (watchdog, NULL, &error))
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
      g_assert_nonnull (strstr (error->message, f->backend->name));
      g_test_message ("%s not available: %s", f->backend->name, error->message);
      return;
    }
  g_assert_cmpint (hk_watchdog_get_active_backend (watchdog), ==, f->backend->kind);
  g_assert_cmpstr (hk_watchdog_get_backend_reason (watchdog), ==, "chosen by the application");
}

/* Polling only: a directory polled for two watchdogs is looked at as
 * often as the more eager one asked, whatever the other asked. (A first
 * client at exactly the default interval used to be overridden by a slower
 * second one.) */
static void
test_poll_shared_directory_keeps_the_faster_interval (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(HkWatchdog) slow = hk_watchdog_new (file);
  g_autoptr(GError) error = NULL;

  if (!fixture_watch (f))
    return;
  hk_watchdog_stop (f->watchdog);
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);

  /* The first at the default interval (1 s), the second at a minute. */
  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend (f->watchdog, HK_BACKEND_KIND_POLL);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_watchdog_start (f->watchdog, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hk_watchdog_get_poll_interval (f->watchdog), ==, 1000);
  hk_watchdog_set_backend (slow, HK_BACKEND_KIND_POLL);
  hk_watchdog_set_poll_interval (slow, 60000);
  hk_watchdog_start (slow, NULL, &error);
  g_assert_no_error (error);

  /* Two rounds in a row, each within a few seconds. */
  hk_test_write (f->root, "first", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "first");
  hk_test_write (f->root, "second", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "second");
  hk_watchdog_stop (slow);
}

int
main (int   argc,
      char *argv[])
{
  static const struct
  {
    const char *name;
    void (*func) (Fixture *, gconstpointer);
  } cases[] = {
    { "create-file", test_create_file },
    { "create-directory", test_create_directory },
    { "file-in-new-directory", test_file_in_new_directory },
    { "modify", test_modify },
    { "attributes", test_attributes },
    { "delete", test_delete },
    { "move-within-directory", test_move_within_directory },
    { "move-across-directories", test_move_across_directories },
    { "move-directory-with-contents", test_move_directory_with_contents },
    { "rename-over-existing", test_rename_over_existing },
    { "move-in-from-outside", test_move_in_from_outside },
    { "move-out-to-outside", test_move_out_to_outside },
    { "deep-tree", test_deep_tree },
    { "stop", test_stop },
    { "two-watchdogs-same-directory", test_two_watchdogs_same_directory },
    { "root-deleted", test_root_gone_stops },
    { "root-moved", test_root_gone_stops },
    { "forced-backend-reason", test_forced_backend_reason },
  };

  g_test_init (&argc, &argv, NULL);

  for (guint b = 0; b < G_N_ELEMENTS (backends); b++)
    for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
      {
        g_autofree char *path = g_strdup_printf ("/conformance/%s/%s", backends[b].name, cases[c].name);

        g_test_add (path, Fixture, &backends[b], fixture_set_up, cases[c].func, fixture_tear_down);
      }

  g_test_add ("/conformance/poll/shared-directory-keeps-the-faster-interval", Fixture,
              find_backend (HK_BACKEND_KIND_POLL), fixture_set_up,
              test_poll_shared_directory_keeps_the_faster_interval, fixture_tear_down);

  return g_test_run ();
}
