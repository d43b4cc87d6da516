/* test-many-watchdogs.c: many watchdogs on one directory (issue 10, item 1).
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/many-watchdogs/hundred-on-one-directory-each-get-every-event-once",
                   test_hundred_watchdogs_each_get_every_event_once);

  return g_test_run ();
}
