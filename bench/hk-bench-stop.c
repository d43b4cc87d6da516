/* hk-bench-stop.c: how long the owner thread is held by stop(), dispose
 * and a cancelled start, on a large tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * hk-bench-stop [--dirs N] [--rounds R] [DIR]
 *
 * Builds N directories (default 100,000, 100 per parent) in a new temporary
 * directory below DIR (default /dev/shm when it exists, else the temporary
 * directory), then for each round: starts a watchdog, times stop(); starts
 * it again, times the last unref (dispose); starts it with start_async()
 * and cancels from another thread once 1,000 directories are watched,
 * timing from the cancel to the failed completion on the owner. Prints the
 * median and the worst of the rounds. Needs fs.inotify.max_user_watches
 * above N.
 */

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <hachiko.h>

typedef struct
{
  HkWatchdog   *watchdog;
  GCancellable *cancellable;
  gint64        cancelled_at;
  gint64        done_at;
  gboolean      done;
  gboolean      ok;
} Cancel;

static int
remove_entry (const char        *path,
              const struct stat *st,
              int                flag,
              struct FTW        *ftw)
{
  return remove (path);
}

static gint64
median (GArray *values)
{
  g_autoptr(GArray) sorted = g_array_copy (values);
  gint64 *v = (gint64 *) sorted->data;

  for (guint i = 1; i < sorted->len; i++)
    for (guint j = i; j > 0 && v[j - 1] > v[j]; j--)
      {
        gint64 t = v[j];
        v[j] = v[j - 1];
        v[j - 1] = t;
      }
  return v[sorted->len / 2];
}

static gint64
worst (GArray *values)
{
  gint64 max = 0;

  for (guint i = 0; i < values->len; i++)
    max = MAX (max, g_array_index (values, gint64, i));
  return max;
}

static gpointer
cancel_when_walking (gpointer data)
{
  Cancel *cancel = data;

  /* An atomic read of the tree's counter: safe from this thread. */
  while (hk_watchdog_get_n_watched_directories (cancel->watchdog) < 1000)
    g_usleep (100);
  cancel->cancelled_at = g_get_monotonic_time ();
  g_cancellable_cancel (cancel->cancellable);
  return NULL;
}

static void
on_started (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Cancel *cancel = data;

  cancel->ok = hk_watchdog_start_finish (HK_WATCHDOG (source), result, NULL);
  cancel->done_at = g_get_monotonic_time ();
  cancel->done = TRUE;
}

int
main (int   argc,
      char *argv[])
{
  int n_dirs = 100000;
  int rounds = 5;
  g_autofree char *parent = NULL;
  g_autofree char *base = NULL;
  g_autoptr(GArray) stops = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) disposes = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) cancels = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) starts = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GFile) root = NULL;
  GOptionEntry entries[] = {
    { "dirs", 0, 0, G_OPTION_ARG_INT, &n_dirs, "Directories in the tree", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Rounds", "R" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("[DIR]");
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || n_dirs < 100 || rounds < 1)
    {
      g_printerr ("hk-bench-stop: %s\n", error != NULL ? error->message : "bad arguments");
      return 2;
    }

  parent = g_strdup (argc > 1 ? argv[1]
                     : g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ());
  base = g_build_filename (parent, "hk-bench-stop-XXXXXX", NULL);
  if (g_mkdtemp (base) == NULL)
    {
      g_printerr ("hk-bench-stop: cannot create a directory in %s: %s\n", parent, g_strerror (errno));
      return 1;
    }
  for (int i = 0; i < n_dirs / 100; i++)
    {
      g_autofree char *p = g_strdup_printf ("%s/p%d", base, i);

      g_mkdir (p, 0755);
      for (int j = 0; j < 99; j++)
        {
          g_autofree char *d = g_strdup_printf ("%s/d%d", p, j);

          g_mkdir (d, 0755);
        }
    }
  root = g_file_new_for_path (base);

  for (int round = 0; round < rounds; round++)
    {
      g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (root);
      Cancel cancel = { 0 };
      GThread *thread;
      gint64 t0;

      t0 = g_get_monotonic_time ();
      if (!hk_watchdog_start (watchdog, NULL, &error))
        {
          g_printerr ("hk-bench-stop: %s\n", error->message);
          break;
        }
      t0 = g_get_monotonic_time () - t0;
      g_array_append_val (starts, t0);

      t0 = g_get_monotonic_time ();
      hk_watchdog_stop (watchdog);
      t0 = g_get_monotonic_time () - t0;
      g_array_append_val (stops, t0);

      hk_watchdog_start (watchdog, NULL, NULL);
      t0 = g_get_monotonic_time ();
      g_clear_object (&watchdog);
      t0 = g_get_monotonic_time () - t0;
      g_array_append_val (disposes, t0);

      cancel.watchdog = watchdog = hk_watchdog_new (root);
      cancel.cancellable = g_cancellable_new ();
      thread = g_thread_new ("canceller", cancel_when_walking, &cancel);
      hk_watchdog_start_async (watchdog, cancel.cancellable, on_started, &cancel);
      while (!cancel.done)
        g_main_context_iteration (NULL, TRUE);
      g_thread_join (thread);
      g_object_unref (cancel.cancellable);
      if (!cancel.ok)
        {
          t0 = cancel.done_at - cancel.cancelled_at;
          g_array_append_val (cancels, t0);
        }

      /* Let the worker free the trees before the next round. */
      g_usleep (200000);
    }

  printf ("| %d directories, %d rounds | median (µs) | worst (µs) |\n", n_dirs, rounds);
  printf ("|---|---:|---:|\n");
  if (starts->len > 0)
    printf ("| start (walk, for scale) | %" G_GINT64_FORMAT " | %" G_GINT64_FORMAT " |\n",
            median (starts), worst (starts));
  if (stops->len > 0)
    printf ("| stop, owner thread | %" G_GINT64_FORMAT " | %" G_GINT64_FORMAT " |\n",
            median (stops), worst (stops));
  if (disposes->len > 0)
    printf ("| last unref of a running watchdog, owner thread | %" G_GINT64_FORMAT " | %" G_GINT64_FORMAT " |\n",
            median (disposes), worst (disposes));
  if (cancels->len > 0)
    printf ("| cancel during start_async, to the failed completion | %" G_GINT64_FORMAT " | %" G_GINT64_FORMAT " |\n",
            median (cancels), worst (cancels));

  nftw (base, remove_entry, 64, FTW_DEPTH | FTW_PHYS);
  return 0;
}
