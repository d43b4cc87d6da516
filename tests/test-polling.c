/* test-polling.c: directories past the kernel's watch limit, polled.
 *
 * Regression tests for issue 10 items 7, 15 and 16: exactly-once events
 * from polled subtrees, no use-after-free when a polled directory is
 * renamed, and polled directories taking a kernel watch back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

#define TIMEOUT 5000

typedef struct
{
  char       *base;
  char       *root;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

/* One write(2): one change, whatever the timing of the rounds (opening
 * with O_TRUNC would be a second one). */
static void
append_rel (Fixture    *f,
            const char *relative)
{
  g_autofree char *path = hk_test_path (f->root, relative);
  int fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "more", 4), ==, 4);
  close (fd);
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, NULL);
}

static void
fixture_watch (Fixture *f,
               guint    watch_limit)
{
  hk_watchdog_set_watch_limit (watch_limit);
  f->watchdog = hk_test_watchdog_new (f->root);
  /* Forced: AUTO would go on with fanotify where inotify runs out. */
  hk_watchdog_set_backend (f->watchdog, HK_BACKEND_KIND_INOTIFY);
  hk_watchdog_set_poll_interval (f->watchdog, 50);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_test_start (f->watchdog);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  hk_watchdog_set_watch_limit (0);
  hk_test_remove_tree (&f->base, &f->root, NULL);
}

#define WAIT_FOR(f, type, rel) HK_RECORDER_WAIT_FOR ((f)->recorder, type, rel, TIMEOUT)

/* Item 7: each polled directory was rescanned by its own timer and again
 * from its polled parent: one write three levels down gave three events. */
static void
test_polled_changes_reported_once (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "a/b/c/d");
  hk_test_write (f->root, "a/b/c/d/file", "x");
  fixture_watch (f, 1);  /* the root only */
  g_assert_cmpuint (hk_watchdog_get_n_polled_directories (f->watchdog), ==, 4);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 5);

  hk_test_write (f->root, "a/b/c/d/new", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/b/c/d/new");
  g_usleep (60 * 1000);  /* the next round must not see it again */
  append_rel (f, "a/b/c/d/file");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "a/b/c/d/file");
  hk_test_write (f->root, "a/b/marker", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/b/marker");
  /* Several rounds later. */
  hk_test_drain (300);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "a/b/c/d/new"), ==, 1);
  if (hk_recorder_count (f->recorder, HK_EVENT_MODIFIED, "a/b/c/d/file") != 1) hk_recorder_dump (f->recorder);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_MODIFIED, "a/b/c/d/file"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "a/b/marker"), ==, 1);
  /* One error for the fallback, not one per directory. */
  g_assert_cmpuint (f->recorder->errors->len, ==, 1);
}

/* Item 15: renaming a polled directory freed its nodes while the poll
 * round still held them (use-after-free, then SIGSEGV). */
static void
test_polled_directory_renamed (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "a/b/c/d");
  fixture_watch (f, 1);

  {
    g_autofree char *from = hk_test_path (f->root, "a/b");
    g_autofree char *to = hk_test_path (f->root, "a/b2");

    g_assert_cmpint (g_rename (from, to), ==, 0);
  }
  WAIT_FOR (f, HK_EVENT_MOVED, "a/b -> a/b2");
  hk_test_write (f->root, "a/b2/c/d/after", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/b2/c/d/after");
  hk_test_drain (200);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "a/b2/c/d/after"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "a/b"), ==, 0);
}

static gboolean
polled_none (gpointer data)
{
  return hk_watchdog_get_n_polled_directories (data) == 0;
}

/* Item 16: a polled directory never got a kernel watch back. */
static void
test_polled_directory_gets_watch_back (Fixture *f, gconstpointer data)
{
  g_autofree char *a = hk_test_path (f->root, "a");

  hk_test_mkdir (f->root, "a");
  hk_test_mkdir (f->root, "b");
  fixture_watch (f, 2);  /* the root and one of a, b */
  g_assert_cmpuint (hk_watchdog_get_n_polled_directories (f->watchdog), ==, 1);

  /* A kernel watch is given back (by whichever of them holds it)... */
  hk_test_write (f->root, "a/x", "x");
  hk_test_write (f->root, "b/x", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/x");
  WAIT_FOR (f, HK_EVENT_CREATED, "b/x");
  {
    g_autofree char *ax = hk_test_path (f->root, "a/x");
    g_autofree char *bx = hk_test_path (f->root, "b/x");
    g_autofree char *b = hk_test_path (f->root, "b");

    g_unlink (ax);
    g_unlink (bx);
    g_assert_cmpint (g_rmdir (a), ==, 0);
    g_assert_cmpint (g_rmdir (b), ==, 0);
  }
  hk_test_mkdir (f->root, "c");
  WAIT_FOR (f, HK_EVENT_CREATED, "c");
  /* ...and a polled directory, if any is left, takes it. */
  g_assert_true (hk_test_wait_until (polled_none, f->watchdog, TIMEOUT));
  hk_test_write (f->root, "c/y", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "c/y");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/polling/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("changes-reported-once", test_polled_changes_reported_once);
  ADD ("renamed-polled-directory", test_polled_directory_renamed);
  ADD ("gets-kernel-watch-back", test_polled_directory_gets_watch_back);

  return g_test_run ();
}
