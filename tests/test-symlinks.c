/* test-symlinks.c: symbolic links to directories, followed or given as the
 * root (issue 10, items 2 and 3).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"

#define TIMEOUT 5000

typedef struct
{
  char       *base;
  char       *root;      /* base/root: the watched tree */
  char       *outside;   /* base/outside: link targets, not watched */
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, &f->outside);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  hk_test_remove_tree (&f->base, &f->root, &f->outside);
}

static void
make_link (Fixture    *f,
           const char *target,
           const char *relative)
{
  g_autofree char *path = hk_test_path (f->base, relative);

  g_assert_cmpint (symlink (target, path), ==, 0);
}

/* Watches base/@relative, reporting paths relative to it. */
static void
watch (Fixture    *f,
       const char *relative,
       gboolean    follow_symlinks)
{
  g_autofree char *path = hk_test_path (f->base, relative);

  f->watchdog = hk_test_watchdog_new (path);
  hk_watchdog_set_follow_symlinks (f->watchdog, follow_symlinks);
  f->recorder = hk_recorder_new (f->watchdog, path);
  hk_test_start (f->watchdog);
}

#define WAIT_FOR(f, type, rel) HK_RECORDER_WAIT_FOR ((f)->recorder, type, rel, TIMEOUT)

static guint
count_errors (Fixture *f,
              gint     code)
{
  guint n = 0;

  for (guint i = 0; i < f->recorder->errors->len; i++)
    if (g_error_matches (g_ptr_array_index (f->recorder->errors, i), G_IO_ERROR, code))
      n++;

  return n;
}

/* A followed link's target is read: its files are known (edits and
 * deletions reported) and its subdirectories watched. */
static void
test_followed_target_is_read (Fixture *f, gconstpointer data)
{
  hk_test_write (f->base, "outside/a", "1");
  hk_test_write (f->base, "outside/b", "1");
  hk_test_mkdir (f->base, "outside/sub/deeper");
  hk_test_write (f->base, "outside/sub/c", "1");
  make_link (f, "../outside", "root/link");

  watch (f, "root", TRUE);
  /* root, link, link/sub, link/sub/deeper */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 4);

  hk_test_write (f->base, "outside/a", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "link/a");
  hk_test_write (f->base, "outside/sub/deeper/new", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "link/sub/deeper/new");
  {
    g_autofree char *b = hk_test_path (f->base, "outside/b");
    g_assert_cmpint (g_unlink (b), ==, 0);
  }
  WAIT_FOR (f, HK_EVENT_DELETED, "link/b");
  {
    g_autofree char *from = hk_test_path (f->base, "outside/sub/c");
    g_autofree char *to = hk_test_path (f->base, "outside/sub/c2");
    g_assert_cmpint (g_rename (from, to), ==, 0);
  }
  WAIT_FOR (f, HK_EVENT_MOVED, "link/sub/c -> link/sub/c2");

  hk_test_drain (50);
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
}

/* A link as the root, with follow-symlinks: the whole tree behind it. */
static void
test_followed_root_link_is_read (Fixture *f, gconstpointer data)
{
  hk_test_write (f->base, "outside/a", "1");
  hk_test_mkdir (f->base, "outside/sub");
  make_link (f, "outside", "rootlink");

  watch (f, "rootlink", TRUE);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);

  hk_test_write (f->base, "outside/a", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "a");
  hk_test_write (f->base, "outside/sub/new", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "sub/new");
}

/* A link inside a followed directory is followed too. */
static void
test_nested_links_followed (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->base, "outside/t1");
  hk_test_mkdir (f->base, "outside/t2/sub");
  hk_test_write (f->base, "outside/t2/f", "1");
  make_link (f, "../t2", "outside/t1/l2");
  make_link (f, "../outside/t1", "root/l1");

  watch (f, "root", TRUE);
  /* root, l1, l1/l2, l1/l2/sub */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 4);

  hk_test_write (f->base, "outside/t2/f", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "l1/l2/f");
  hk_test_write (f->base, "outside/t2/sub/g", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "l1/l2/sub/g");

  /* A link created later is followed and read as well. */
  hk_test_mkdir (f->base, "outside/t3");
  hk_test_write (f->base, "outside/t3/old", "1");
  make_link (f, "../t3", "outside/t1/l3");
  WAIT_FOR (f, HK_EVENT_CREATED, "l1/l3");
  WAIT_FOR (f, HK_EVENT_CREATED, "l1/l3/old");
  hk_test_write (f->base, "outside/t3/old", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "l1/l3/old");
}

/* Two links to one directory: each is a path of its own, and each reports
 * every change exactly once. */
static void
test_two_links_to_one_directory (Fixture *f, gconstpointer data)
{
  hk_test_write (f->base, "outside/f", "1");
  make_link (f, "../outside", "root/a");
  make_link (f, "../outside", "root/b");

  watch (f, "root", TRUE);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);

  hk_test_write (f->base, "outside/new", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "a/new");
  WAIT_FOR (f, HK_EVENT_CREATED, "b/new");
  hk_test_write (f->base, "outside/f", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "a/f");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "b/f");

  hk_test_drain (100);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "a/new"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "b/new"), ==, 1);
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
}

/* Loops below a followed link: to the link's own target, and to a
 * directory above the whole tree (which contains the root). Each is
 * reported once and not followed; the rest keeps working. */
static void
test_loop_below_link_detected (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->base, "outside/sub");
  make_link (f, "..", "outside/sub/up");      /* back to outside: the link's target */
  make_link (f, "../..", "outside/sub/top");  /* base: contains root and outside */
  make_link (f, "../outside", "root/ext");

  watch (f, "root", TRUE);
  /* root, ext, ext/sub */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
  hk_test_drain (100);
  g_assert_cmpuint (count_errors (f, G_IO_ERROR_TOO_MANY_LINKS), ==, 2);
  g_assert_cmpuint (f->recorder->errors->len, ==, 2);

  hk_test_write (f->base, "outside/sub/x", "1");
  WAIT_FOR (f, HK_EVENT_CREATED, "ext/sub/x");
}

/* Without follow-symlinks, a link given as the root is resolved; events
 * carry the path the user gave; links inside stay unfollowed. */
static void
test_root_link_without_follow (Fixture *f, gconstpointer data)
{
  hk_test_write (f->base, "root/f", "1");
  hk_test_mkdir (f->base, "root/d");
  hk_test_write (f->base, "outside/o", "1");
  make_link (f, "../outside", "root/inner");
  make_link (f, "root", "rootlink");

  watch (f, "rootlink", FALSE);
  /* root and d; inner is an entry, not followed */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);

  hk_test_write (f->base, "root/d/new", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "d/new");
  hk_test_write (f->base, "root/f", "2");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "f");
  {
    HkEvent *event = g_ptr_array_index (f->recorder->events, 0);
    g_autofree char *expected = hk_test_path (f->base, "rootlink/");

    g_assert_true (g_str_has_prefix (hk_event_get_path (event), expected));
  }

  hk_test_write (f->base, "outside/o", "2");
  hk_test_write (f->base, "outside/p", "2");
  hk_test_write (f->base, "root/last", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "last");
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_MODIFIED, "inner/o"));
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "inner/p"));
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/symlinks/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("followed-target-is-read", test_followed_target_is_read);
  ADD ("followed-root-link-is-read", test_followed_root_link_is_read);
  ADD ("nested-links-followed", test_nested_links_followed);
  ADD ("two-links-to-one-directory", test_two_links_to_one_directory);
  ADD ("loop-below-link-detected", test_loop_below_link_detected);
  ADD ("root-link-without-follow", test_root_link_without_follow);

#undef ADD

  return g_test_run ();
}
