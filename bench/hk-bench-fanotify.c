/* hk-bench-fanotify.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * How soon is a change anywhere in a big tree seen? With a fanotify
 * filesystem mark the kernel reports changes anywhere on the filesystem from
 * the moment the mark is placed, however many directories there are; inotify
 * needs one watch per directory, so a walk of the whole tree first.
 *
 *   hk-bench-fanotify [--dirs N] [--runs R] [DIR]
 *
 * makes a tree of N directories (default 100000) in DIR (default: a new
 * temporary directory, removed at the end) and prints, as Markdown, the
 * median over R runs (default 3) of:
 *
 *  - kernel, fanotify filesystem mark: fanotify_init + fanotify_mark
 *    (FAN_MARK_FILESYSTEM) on the root, then a file created in the last
 *    directory of the tree, until read() returns its event;
 *  - hub, fanotify filesystem mark: the same through hachiko's backend
 *    layer (hk_watch_hub_add on the root, then on the last directory, which
 *    is what a walk running behind `start` would do when it got there);
 *  - hk_watchdog_start with inotify, with fanotify (filesystem marks: start
 *    returning before the walk (wait-for-walk FALSE) and after it (TRUE, the default)) and
 *    with fanotify (inode marks), then the same file, made right after
 *    `start` returns, until its `created` event; and until `walk-complete`
 *    (the snapshot complete);
 *  - the floor for a complete snapshot: hk_snapshot_take() of the tree;
 *  - in the background, for 5 s: how many events a filesystem mark makes
 *    the watcher read from other processes' work, and the CPU it costs.
 *
 * Needs root (filesystem marks need CAP_SYS_ADMIN; inotify needs
 * fs.inotify.max_user_watches above N, which it raises for the run).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <hachiko.h>

#include "hk-watchdog-private.h"
#include "hk-backend-private.h"
#include "hk-fanotify-auto-private.h"
#include "hk-slab-private.h"

#define MAX_WATCHES "/proc/sys/fs/inotify/max_user_watches"
#define PER_LEVEL   100
#define TIMEOUT_US  (60 * G_USEC_PER_SEC)

static guint n_dirs = 100000;
static guint n_runs = 3;

static double
elapsed_ms (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1000.0;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (double *values,
        guint   n)
{
  qsort (values, n, sizeof *values, compare_doubles);
  return values[n / 2];
}

/* root/dNNN/dNNN/... : PER_LEVEL directories under each, breadth first,
 * until there are n_dirs. Returns the last one made (the deepest). */
static char *
make_tree (const char *root)
{
  g_autoptr(GPtrArray) queue = g_ptr_array_new_with_free_func (g_free);
  char *last = NULL;
  guint made = 0, head = 0;

  g_ptr_array_add (queue, g_strdup (root));
  while (made < n_dirs)
    {
      const char *parent = g_ptr_array_index (queue, head++);

      for (guint i = 0; i < PER_LEVEL && made < n_dirs; i++, made++)
        {
          char *dir = g_strdup_printf ("%s/d%03u", parent, i);

          if (mkdir (dir, 0755) != 0)
            g_error ("mkdir %s: %s", dir, g_strerror (errno));
          g_ptr_array_add (queue, dir);
          last = dir;
        }
    }
  return g_strdup (last);
}

static void
touch (const char *dir,
       const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  if (fd < 0)
    g_error ("create %s: %s", path, g_strerror (errno));
  close (fd);
}

/* --- the kernel alone ---------------------------------------------------- */

static double
run_kernel_filesystem_mark (const char *root,
                            const char *last,
                            guint       run)
{
  g_autofree char *name = g_strdup_printf ("kernel-%u", run);
  gint64 start = g_get_monotonic_time ();
  guint8 buf[8192];
  int fd = fanotify_init (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME, O_RDONLY);

  if (fd < 0 || fanotify_mark (fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
                               FAN_CREATE | FAN_ONDIR, AT_FDCWD, root) != 0)
    g_error ("fanotify filesystem mark: %s", g_strerror (errno));

  touch (last, name);
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n <= 0)
        g_error ("read: %s", g_strerror (errno));
      for (struct fanotify_event_metadata *meta = (void *) buf; FAN_EVENT_OK (meta, n);
           meta = FAN_EVENT_NEXT (meta, n))
        {
          struct fanotify_event_info_fid *info = (void *) (meta + 1);
          struct file_handle *handle = (void *) info->handle;
          const char *event_name = (const char *) handle->f_handle + handle->handle_bytes;

          if (strcmp (event_name, name) == 0)
            {
              double ms = elapsed_ms (start);

              close (fd);
              return ms;
            }
        }
    }
}

/* What a filesystem mark costs while nothing in the tree changes: every
 * change elsewhere on the filesystem is queued and read (and dropped, by
 * the backend). Counts the events read in @seconds and the CPU spent. */
static void
measure_background (const char *root,
                    guint       seconds,
                    guint64    *n_events,
                    double     *cpu_ms)
{
  g_autofree guint8 *buf = g_malloc (64 * 1024);
  gint64 end = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  struct rusage before, after;
  int fd = fanotify_init (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_NONBLOCK |
                          FAN_UNLIMITED_QUEUE, O_RDONLY);

  if (fd < 0 || fanotify_mark (fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
                               FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB |
                               FAN_CLOSE_WRITE | FAN_RENAME | FAN_DELETE_SELF |
                               FAN_MOVE_SELF | FAN_ONDIR | FAN_EVENT_ON_CHILD,
                               AT_FDCWD, root) != 0)
    g_error ("fanotify filesystem mark: %s", g_strerror (errno));

  *n_events = 0;
  getrusage (RUSAGE_SELF, &before);
  while (g_get_monotonic_time () < end)
    {
      ssize_t n = read (fd, buf, 64 * 1024);

      if (n <= 0)
        {
          g_usleep (10000);
          continue;
        }
      for (struct fanotify_event_metadata *meta = (void *) buf; FAN_EVENT_OK (meta, n);
           meta = FAN_EVENT_NEXT (meta, n))
        (*n_events)++;
    }
  getrusage (RUSAGE_SELF, &after);
  close (fd);

  *cpu_ms = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1000.0 +
            (after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1000.0 +
            (after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1000.0 +
            (after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1000.0;
}

/* --- through the hub ------------------------------------------------------ */

typedef struct
{
  const char *name;
  gboolean    seen;
} HubProbe;

static void
probe_changed (gpointer client, gpointer dir, const char *name, HkChange change,
               gboolean is_directory, gint64 now)
{
  HubProbe *probe = client;

  if (change == HK_CHANGE_CREATED && g_strcmp0 (name, probe->name) == 0)
    probe->seen = TRUE;
}

static void probe_moved (gpointer c, gpointer fd, const char *fn, gpointer td, const char *tn,
                         gboolean d, gint64 now) {}
static void probe_rescan (gpointer c, gpointer d, HkRescanKind k, gint64 s, gint64 u, gint64 now) {}
static void probe_rescan_done (gpointer c, gint64 now) {}
static void probe_lost (gpointer c, gint64 s, gint64 now) {}
static void probe_watch_lost (gpointer c, gpointer d, gint64 now) {}
/* The hub keeps a directory by slab id: each is a slab object holding its path. */
static char *probe_dup_path (gpointer c, gpointer d) { return g_strdup (*(const char **) d); }

static const HkWatchClientFuncs probe_funcs = {
  .changed = probe_changed,
  .moved = probe_moved,
  .rescan = probe_rescan,
  .rescan_done = probe_rescan_done,
  .lost = probe_lost,
  .watch_lost = probe_watch_lost,
  .dup_path = probe_dup_path,
};

static double
run_hub_filesystem_mark (const char *root,
                         const char *last,
                         guint       run)
{
  g_autofree char *name = g_strdup_printf ("hub-%u", run);
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  HubProbe probe = { name, FALSE };
  HkWatchClient client = { &probe_funcs, &probe };
  HkWatchHub *hub;
  HkWatch *root_watch, *last_watch;
  HkSlab dirs;
  const char **root_dir, **last_dir;
  gint64 start;
  double ms;

  hk_slab_init (&dirs, sizeof (const char *));
  hk_slab_set_tag (&dirs, &client);
  root_dir = hk_slab_alloc0 (&dirs);
  *root_dir = root;
  last_dir = hk_slab_alloc0 (&dirs);
  *last_dir = last;

  hk_fanotify_backend_set_mode_for_testing ("filesystem");
  start = g_get_monotonic_time ();
  hub = hk_watch_hub_new (context);
  root_watch = hk_watch_hub_add (hub, HK_BACKEND_KIND_FANOTIFY, &client, root_dir,
                                 root, 0, &error);
  g_assert_no_error (error);
  last_watch = hk_watch_hub_add (hub, HK_BACKEND_KIND_FANOTIFY, &client, last_dir,
                                 last, 0, &error);
  g_assert_no_error (error);

  touch (last, name);
  while (!probe.seen && g_get_monotonic_time () - start < TIMEOUT_US)
    g_main_context_iteration (context, TRUE);
  ms = elapsed_ms (start);
  if (!probe.seen)
    g_error ("the hub never saw %s", name);

  hk_watch_remove (last_watch);
  hk_watch_remove (root_watch);
  hk_watch_hub_free (hub);
  hk_slab_free (&dirs, root_dir);
  hk_slab_free (&dirs, last_dir);
  hk_slab_clear (&dirs);
  hk_fanotify_backend_set_mode_for_testing (NULL);
  return ms;
}

/* --- hk_watchdog_start ------------------------------------------------------ */

typedef struct
{
  const char *path;
  gboolean    seen;
} WatchdogProbe;

static void
on_created (HkWatchdog *watchdog, HkEvent *event, gpointer data)
{
  WatchdogProbe *probe = data;

  if (strcmp (hk_event_get_path (event), probe->path) == 0)
    probe->seen = TRUE;
}

static void
on_walk_complete (GObject    *object,
                  GParamSpec *pspec,
                  gpointer    data)
{
  gint64 *complete_at = data;

  if (hk_watchdog_get_walk_complete (HK_WATCHDOG (object)) && *complete_at == 0)
    *complete_at = g_get_monotonic_time ();
}

static double
run_watchdog (const char    *root,
              const char    *last,
              HkBackendKind  kind,
              const char    *mode,
              gboolean       wait_for_walk,
              guint          run,
              double        *start_ms,
              double        *complete_ms)
{
  g_autofree char *name = g_strdup_printf ("watchdog-%d-%s-%s-%u", kind, mode ? mode : "",
                                           wait_for_walk ? "wait" : "early", run);
  g_autofree char *path = g_build_filename (last, name, NULL);
  g_autoptr(GFile) file = g_file_new_for_path (root);
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GError) error = NULL;
  WatchdogProbe probe = { path, FALSE };
  gint64 start, complete_at = 0;
  double ms;

  hk_fanotify_backend_set_mode_for_testing (mode);
  if (!hk_watchdog_restart_backend_for_testing ())
    g_error ("the worker is busy");

  watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend (watchdog, kind);
  hk_watchdog_set_wait_for_walk (watchdog, wait_for_walk);
  g_signal_connect (watchdog, "event::created", G_CALLBACK (on_created), &probe);
  g_signal_connect (watchdog, "notify::walk-complete", G_CALLBACK (on_walk_complete), &complete_at);

  start = g_get_monotonic_time ();
  if (!hk_watchdog_start (watchdog, NULL, &error))
    g_error ("start: %s", error->message);
  *start_ms = elapsed_ms (start);

  touch (last, name);
  while (!probe.seen && g_get_monotonic_time () - start < TIMEOUT_US)
    g_main_context_iteration (NULL, TRUE);
  ms = elapsed_ms (start);
  if (!probe.seen)
    g_error ("the watchdog never saw %s", path);

  while (complete_at == 0 && g_get_monotonic_time () - start < 10 * TIMEOUT_US)
    g_main_context_iteration (NULL, TRUE);
  if (complete_at == 0)
    g_error ("the walk never completed");
  *complete_ms = (complete_at - start) / 1000.0;

  hk_watchdog_stop (watchdog);
  g_clear_object (&watchdog);
  hk_fanotify_backend_set_mode_for_testing (NULL);
  return ms;
}

/* --- main ------------------------------------------------------------------- */

static char *
read_knob (const char *path)
{
  char *value = NULL;

  g_file_get_contents (path, &value, NULL, NULL);
  return value;
}

static void
write_knob (const char *path,
            const char *value)
{
  FILE *fp = fopen (path, "w");

  if (fp == NULL)
    return;
  fputs (value, fp);
  fclose (fp);
}

int
main (int argc, char **argv)
{
  static const struct
  {
    const char *title; HkBackendKind kind; const char *mode; gboolean wait_for_walk;
  } watchdogs[] = {
    { "inotify", HK_BACKEND_KIND_INOTIFY, NULL, FALSE },
    { "fanotify, filesystem mark (start returns before the walk)", HK_BACKEND_KIND_FANOTIFY, "filesystem", FALSE },
    { "fanotify, filesystem mark, wait-for-walk", HK_BACKEND_KIND_FANOTIFY, "filesystem", TRUE },
    { "fanotify, inode marks", HK_BACKEND_KIND_FANOTIFY, "inode", FALSE },
  };
  g_autofree char *base = NULL;
  g_autofree char *root = NULL;
  g_autofree char *last = NULL;
  g_autofree char *saved_watches = NULL;
  g_autofree double *kernel = NULL, *hub = NULL;
  double starts[G_N_ELEMENTS (watchdogs)][16], seen[G_N_ELEMENTS (watchdogs)][16];
  double complete[G_N_ELEMENTS (watchdogs)][16], floor_ms[16];
  gboolean skip_inode = FALSE;
  const char *dir = NULL;
  gboolean own_base = FALSE;
  guint64 background_events;
  double background_cpu_ms;
  gint64 made_at;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--dirs") == 0 && i + 1 < argc)
        n_dirs = atoi (argv[++i]);
      else if (strcmp (argv[i], "--skip-inode") == 0)
        skip_inode = TRUE;
      else if (strcmp (argv[i], "--runs") == 0 && i + 1 < argc)
        {
          int runs = atoi (argv[++i]);

          n_runs = CLAMP (runs, 1, 16);
        }
      else
        dir = argv[i];
    }

  if (dir == NULL)
    {
      base = g_dir_make_tmp ("hk-bench-fanotify-XXXXXX", NULL);
      own_base = TRUE;
    }
  else
    base = g_strdup (dir);
  root = g_build_filename (base, "tree", NULL);
  g_mkdir (root, 0755);

  made_at = g_get_monotonic_time ();
  last = make_tree (root);
  g_printerr ("made %u directories in %.0f ms; the last is %s\n",
              n_dirs, elapsed_ms (made_at), last);

  saved_watches = read_knob (MAX_WATCHES);
  if (saved_watches != NULL && (guint) atoi (saved_watches) < n_dirs * 2 + 1000)
    {
      g_autofree char *wanted = g_strdup_printf ("%u", n_dirs * 2 + 1000);

      write_knob (MAX_WATCHES, wanted);
    }
  else
    g_clear_pointer (&saved_watches, g_free);

  kernel = g_new0 (double, n_runs);
  hub = g_new0 (double, n_runs);
  for (guint run = 0; run < n_runs; run++)
    {
      kernel[run] = run_kernel_filesystem_mark (root, last, run);
      hub[run] = run_hub_filesystem_mark (root, last, run);
      for (guint w = 0; w < G_N_ELEMENTS (watchdogs); w++)
        {
          if (skip_inode && g_strcmp0 (watchdogs[w].mode, "inode") == 0)
            {
              seen[w][run] = starts[w][run] = complete[w][run] = 0;
              continue;
            }
          seen[w][run] = run_watchdog (root, last, watchdogs[w].kind, watchdogs[w].mode,
                                       watchdogs[w].wait_for_walk, run,
                                       &starts[w][run], &complete[w][run]);
          g_printerr ("run %u: %s: start %.1f ms, seen %.1f ms, walk complete %.1f ms\n", run,
                      watchdogs[w].title, starts[w][run], seen[w][run], complete[w][run]);
        }
      {
        g_autoptr(GFile) file = g_file_new_for_path (root);
        g_autoptr(HkSnapshot) snapshot = NULL;
        gint64 taken_at = g_get_monotonic_time ();

        snapshot = hk_snapshot_take (file, NULL, NULL, NULL);
        floor_ms[run] = elapsed_ms (taken_at);
      }
      g_printerr ("run %u: kernel %.2f ms, hub %.2f ms, hk_snapshot_take %.1f ms\n", run,
                  kernel[run], hub[run], floor_ms[run]);
    }

  if (saved_watches != NULL)
    write_knob (MAX_WATCHES, saved_watches);

  measure_background (root, 5, &background_events, &background_cpu_ms);

  /* What AUTO would pay to ask whether the tree is large: the count stops
   * at the threshold; a smaller tree is counted whole. */
  {
    g_autofree char *small = g_build_filename (root, "d050", NULL);
    const char *roots[] = { root, small };

    for (guint i = 0; i < G_N_ELEMENTS (roots); i++)
      {
        double ms[16];

        for (guint run = 0; run < n_runs; run++)
          {
            g_autofree char *reason = NULL;
            gint64 asked_at = g_get_monotonic_time ();
            gboolean prefers = hk_fanotify_auto_prefers (roots[i], HK_FANOTIFY_AUTO_MIN_DIRECTORIES,
                                                         &reason);

            ms[run] = elapsed_ms (asked_at);
            if (run == 0)
              g_printerr ("hk_fanotify_auto_prefers (%s): %s (%s)\n", roots[i],
                          prefers ? "yes" : "no", reason);
          }
        g_printerr ("hk_fanotify_auto_prefers on %s: median %.1f ms\n",
                    i == 0 ? "the tree" : "a 100-directory subtree", median (ms, n_runs));
      }
  }

  g_print ("| %u directories, median of %u runs | ms |\n|---|---|\n", n_dirs, n_runs);
  g_print ("| kernel: fanotify_mark (FAN_MARK_FILESYSTEM) to an event in the last directory | %.2f |\n",
           median (kernel, n_runs));
  g_print ("| hachiko hub: fanotify backend, filesystem mark, to the same event | %.2f |\n",
           median (hub, n_runs));
  for (guint w = 0; w < G_N_ELEMENTS (watchdogs); w++)
    {
      if (skip_inode && g_strcmp0 (watchdogs[w].mode, "inode") == 0)
        continue;
      g_print ("| hk_watchdog_start, %s: `start` returns | %.1f |\n",
               watchdogs[w].title, median (starts[w], n_runs));
      g_print ("| hk_watchdog_start, %s: the change in the last directory seen | %.1f |\n",
               watchdogs[w].title, median (seen[w], n_runs));
      g_print ("| hk_watchdog_start, %s: `walk-complete` | %.1f |\n",
               watchdogs[w].title, median (complete[w], n_runs));
    }
  g_print ("| floor for a complete snapshot: hk_snapshot_take() of the tree | %.1f |\n",
           median (floor_ms, n_runs));

  g_print ("\nBackground: a filesystem mark on the tree's filesystem read %" G_GUINT64_FORMAT
           " events in 5 s from other processes (%.0f per second), for %.1f ms of CPU "
           "(%.2f µs per event, reading only).\n",
           background_events, background_events / 5.0, background_cpu_ms,
           background_events > 0 ? background_cpu_ms * 1000.0 / background_events : 0.0);

  if (own_base)
    {
      g_autofree char *command = g_strdup_printf ("rm -rf '%s'", base);

      if (system (command) != 0)
        g_printerr ("could not remove %s\n", base);
    }
  return 0;
}
