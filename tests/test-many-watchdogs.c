/* test-many-watchdogs.c: many watchdogs on one directory (issue 10, item 1),
 * and several on a tree whose directories come and go: the hub's lists of
 * the watches of one directory, and its table of those lists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>

#include "hk-test-util.h"

#define N_WATCHDOGS 100

typedef struct
{
  HkRecorder **recorders;
} Everyone;

static gboolean
everyone_saw_it (gpointer data)
{
  Everyone *everyone = data;

  for (guint i = 0; i < N_WATCHDOGS; i++)
    if (!hk_recorder_has (everyone->recorders[i], HK_EVENT_CREATED, "file"))
      return FALSE;
  return TRUE;
}

static gboolean
nobody_runs (gpointer data)
{
  HkWatchdog **watchdogs = data;

  for (guint i = 0; i < N_WATCHDOGS; i++)
    if (hk_watchdog_get_running (watchdogs[i]))
      return FALSE;
  return TRUE;
}

static void
test_hundred_watchdogs_each_get_every_event_once (void)
{
  g_autofree char *dir = hk_test_make_tmpdir ();
  g_autofree char *file_path = g_build_filename (dir, "file", NULL);
  g_autoptr(GFile) root = g_file_new_for_path (dir);
  HkWatchdog *watchdogs[N_WATCHDOGS];
  HkRecorder *recorders[N_WATCHDOGS];
  Everyone everyone = { recorders };
  guint n_without = 0;
  guint n_running = 0;

  for (guint i = 0; i < N_WATCHDOGS; i++)
    {
      watchdogs[i] = hk_watchdog_new (root);
      recorders[i] = hk_recorder_new (watchdogs[i], dir);
      g_assert_true (hk_watchdog_start (watchdogs[i], NULL, NULL));
    }

  hk_test_write_file (file_path, "x");
  hk_test_wait_until (everyone_saw_it, &everyone, 5000);
  hk_test_drain (200);

  for (guint i = 0; i < N_WATCHDOGS; i++)
    if (hk_recorder_count (recorders[i], HK_EVENT_CREATED, "file") != 1)
      n_without++;
  g_test_message ("%u of %u watchdogs did not get the creation exactly once", n_without, N_WATCHDOGS);

  /* Deleting the directory stops every one of them. */
  hk_test_rm_rf (dir);
  hk_test_wait_until (nobody_runs, watchdogs, 5000);
  for (guint i = 0; i < N_WATCHDOGS; i++)
    if (hk_watchdog_get_running (watchdogs[i]))
      n_running++;
  g_test_message ("%u of %u watchdogs still running after the root was deleted", n_running, N_WATCHDOGS);

  for (guint i = 0; i < N_WATCHDOGS; i++)
    {
      hk_recorder_free (recorders[i]);
      g_object_unref (watchdogs[i]);
    }
  g_assert_cmpuint (n_without, ==, 0);
  g_assert_cmpuint (n_running, ==, 0);
}

#define N_DIRS      400
#define N_OBSERVERS 3

typedef struct
{
  HkRecorder **recorders;
  guint        n_recorders;
  HkEventType  type;
  GPtrArray   *paths;
} AllSaw;

static gboolean
all_saw (gpointer data)
{
  AllSaw *all = data;

  for (guint r = 0; r < all->n_recorders; r++)
    for (guint i = 0; i < all->paths->len; i++)
      if (!hk_recorder_has (all->recorders[r], all->type, all->paths->pdata[i]))
        return FALSE;
  return TRUE;
}

/* Watches are removed in every order, from the middle of a directory's
 * list as well as its head (a whole watchdog stopped), while the table of
 * lists shrinks: every directory still watched keeps reporting, to every
 * watchdog still running, once. */
static void
test_watch_lists_survive_removals (void)
{
  g_autofree char *dir = hk_test_make_tmpdir ();
  g_autoptr(GFile) root = g_file_new_for_path (dir);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261130);
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) created = g_ptr_array_new_with_free_func (g_free);
  HkWatchdog *watchdogs[N_OBSERVERS];
  HkRecorder *recorders[N_OBSERVERS];
  HkRecorder *running[N_OBSERVERS - 1];
  guint order[N_DIRS];
  AllSaw all;
  guint n_wrong = 0;

  for (guint i = 0; i < N_DIRS; i++)
    {
      g_autofree char *name = g_strdup_printf ("d%03u", i);

      hk_test_mkdir (dir, name);
      order[i] = i;
    }
  for (guint i = N_DIRS - 1; i > 0; i--)
    {
      guint j = g_rand_int_range (rand, 0, i + 1), t = order[i];

      order[i] = order[j];
      order[j] = t;
    }

  for (guint i = 0; i < N_OBSERVERS; i++)
    {
      watchdogs[i] = hk_watchdog_new (root);
      recorders[i] = hk_recorder_new (watchdogs[i], dir);
      g_assert_true (hk_watchdog_start (watchdogs[i], NULL, NULL));
    }

  /* Four in five directories go, in a random order. */
  for (guint i = 0; i < N_DIRS; i++)
    if (order[i] % 5 != 0)
      {
        g_autofree char *path = g_strdup_printf ("%s/d%03u", dir, order[i]);

        g_assert_cmpint (g_rmdir (path), ==, 0);
        g_ptr_array_add (removed, g_strdup_printf ("d%03u", order[i]));
      }
  all = (AllSaw) { recorders, N_OBSERVERS, HK_EVENT_DELETED, removed };
  g_assert_true (hk_test_wait_until (all_saw, &all, 10000));

  /* The middle watchdog stops: its watches leave every list. */
  hk_watchdog_stop (watchdogs[1]);
  hk_recorder_clear (recorders[1]);

  for (guint i = 0; i < N_DIRS; i += 5)
    {
      g_autofree char *name = g_strdup_printf ("d%03u/f", i);

      hk_test_write (dir, name, "x");
      g_ptr_array_add (created, g_steal_pointer (&name));
    }
  running[0] = recorders[0];
  running[1] = recorders[2];
  all = (AllSaw) { running, N_OBSERVERS - 1, HK_EVENT_CREATED, created };
  g_assert_true (hk_test_wait_until (all_saw, &all, 10000));
  hk_test_drain (200);

  for (guint r = 0; r < N_OBSERVERS; r++)
    for (guint i = 0; i < created->len; i++)
      if (hk_recorder_count (recorders[r], HK_EVENT_CREATED, created->pdata[i]) != (r == 1 ? 0 : 1))
        n_wrong++;
  for (guint r = 0; r < N_OBSERVERS; r += 2)
    for (guint i = 0; i < removed->len; i++)
      if (hk_recorder_count (recorders[r], HK_EVENT_DELETED, removed->pdata[i]) != 1)
        n_wrong++;

  for (guint i = 0; i < N_OBSERVERS; i++)
    {
      hk_recorder_free (recorders[i]);
      g_object_unref (watchdogs[i]);
    }
  hk_test_rm_rf (dir);
  g_assert_cmpuint (n_wrong, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/many-watchdogs/hundred-on-one-directory-each-get-every-event-once",
                   test_hundred_watchdogs_each_get_every_event_once);
  g_test_add_func ("/many-watchdogs/watch-lists-survive-removals",
                   test_watch_lists_survive_removals);

  return g_test_run ();
}
