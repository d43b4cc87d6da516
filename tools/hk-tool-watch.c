/* hk-tool-watch.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* One HkWatchdog per PATH, started together. The ignore files of the trees
 * are read first, on a thread, so that the main loop runs meanwhile (a
 * --timeout, a signal, the progress line): on a large tree that takes as
 * long as the library's own walk. While they start, a tty on stderr shows
 * how many directories are watched so far; once all are watching, "ready"
 * is printed. Nothing polls after that.
 *
 * hk_tool_watch_run() is the main loop every watching subcommand shares:
 * it runs until the subcommand is done or a signal ends it. */

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hk-tool-private.h"

#define PROGRESS_INTERVAL_MS 100

struct _HkToolWatch
{
  const HkToolOptions *options;
  HkFilter            *selection;  /* -p, --regex, --ignore-directories */
  GPtrArray           *watchdogs;
  GPtrArray           *filters;    /* each watchdog's, given to it once loaded */
  GPtrArray           *roots;      /* each watchdog's canonical root path */
  GCancellable        *cancellable;
  GSource             *progress;

  const HkToolHandlers *handlers;  /* NULL once the subcommand is done */
  gpointer             user_data;
  GMainLoop           *loop;       /* while hk_tool_watch_run() runs */
  int                 *exit_code;

  guint                n_starting;
  guint                n_running;
  gboolean             progress_shown;
  gboolean             finished_starting;
  gboolean             stopping;
};

/* Start callbacks may come after the subcommand is done with the watch. */
static HkToolWatch *
watch_ref (HkToolWatch *self)
{
  return g_rc_box_acquire (self);
}

static void
watch_clear (HkToolWatch *self)
{
  g_clear_pointer (&self->watchdogs, g_ptr_array_unref);
  g_clear_pointer (&self->filters, g_ptr_array_unref);
  g_clear_pointer (&self->roots, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->selection);
}

static void
watch_unref (HkToolWatch *self)
{
  g_rc_box_release_full (self, (GDestroyNotify) watch_clear);
}

static void
clear_progress (HkToolWatch *self)
{
  if (self->progress != NULL)
    {
      g_source_destroy (self->progress);
      g_clear_pointer (&self->progress, g_source_unref);
    }
  if (self->progress_shown)
    {
      fputs ("\r\033[K", stderr);
      self->progress_shown = FALSE;
    }
}

static gboolean
on_progress (gpointer data)
{
  HkToolWatch *self = data;
  guint n = 0;

  for (guint i = 0; i < self->watchdogs->len; i++)
    n += hk_watchdog_get_n_watched_directories (g_ptr_array_index (self->watchdogs, i));

  fprintf (stderr, "\r\033[Kwatching %u director%s…", n, n == 1 ? "y" : "ies");
  fflush (stderr);
  self->progress_shown = TRUE;

  return G_SOURCE_CONTINUE;
}

/* Whether @path (under the watchdog's root) passes @filter. */
static gboolean
filter_matches_path (HkFilter   *filter,
                     const char *root,
                     const char *path,
                     gboolean    is_directory)
{
  gsize len = strlen (root);
  const char *relative = path;

  if (path == NULL)
    return FALSE;
  if (strncmp (path, root, len) == 0)
    relative = path + len;
  while (*relative == '/')
    relative++;

  return hk_filter_matches (filter, relative, is_directory);
}

gboolean
hk_tool_filter_accepts (HkFilter   *filter,
                        const char *root,
                        HkEvent    *event)
{
  gboolean is_dir = hk_event_get_is_directory (event);

  return filter_matches_path (filter, root, hk_event_get_path (event), is_dir) ||
         filter_matches_path (filter, root, hk_event_get_dest_path (event), is_dir);
}

static void
on_batch (HkWatchdog *watchdog,
          GPtrArray  *events,
          gpointer    data)
{
  HkToolWatch *self = data;
  HkFilter *filter = hk_watchdog_get_filter (watchdog);
  const char *root = g_object_get_data (G_OBJECT (watchdog), "hk-tool-root");
  g_autoptr(GPtrArray) accepted = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);

  /* Ignore files first, so that the whole batch sees their new rules. */
  if (!self->options->no_ignore_files)
    for (guint i = 0; i < events->len; i++)
      hk_tool_ignore_update (filter, g_ptr_array_index (events, i), root);

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);

      if (!hk_tool_options_accepts (self->options, event))
        continue;
      if (!hk_tool_filter_accepts (self->selection, root, event))
        continue;
      /* The watchdog may have matched older rules than the filter has now. */
      if (!hk_tool_filter_accepts (filter, root, event))
        continue;
      g_ptr_array_add (accepted, hk_event_ref (event));
    }

  if (accepted->len > 0 && self->handlers != NULL && self->handlers->batch != NULL)
    self->handlers->batch (accepted, self->user_data);
}

static void
on_error (HkWatchdog   *watchdog,
          const GError *error,
          gpointer      data)
{
  hk_tool_report_watch_warning (error);
}

static void
on_running_changed (HkWatchdog *watchdog,
                    GParamSpec *pspec,
                    gpointer    data)
{
  HkToolWatch *self = data;

  /* Only the library stopping a watchdog by itself (its root is gone)
   * counts; starting, and our own stops, do not. */
  if (self->stopping || hk_watchdog_get_running (watchdog) || !self->finished_starting)
    return;

  g_assert (self->n_running > 0);
  self->n_running--;
  if (self->n_running > 0 || self->handlers == NULL)
    return;

  if (self->handlers->lost != NULL)
    {
      self->handlers->lost (self->user_data);
      return;
    }
  fprintf (stderr, "hachiko: no PATH is left to watch; exiting\n");
  hk_tool_watch_quit (self, HK_TOOL_EXIT_CANNOT_WATCH);
}

HkToolWatch *
hk_tool_watch_new (const HkToolOptions  *options,
                   HkFilter             *selection,
                   char                **paths,
                   GError              **error)
{
  HkToolWatch *self = g_rc_box_new0 (HkToolWatch);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  self->options = options;
  self->selection = g_object_ref (selection);
  self->watchdogs = g_ptr_array_new_with_free_func (g_object_unref);
  self->filters = g_ptr_array_new_with_free_func (g_object_unref);
  self->roots = g_ptr_array_new_with_free_func (g_free);
  self->cancellable = g_cancellable_new ();

  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autofree char *canonical = g_canonicalize_filename (paths[i], NULL);
      g_autoptr(GFile) root = NULL;
      g_autoptr(HkFilter) filter = NULL;
      HkWatchdog *watchdog;

      /* The same root twice would report every event twice. */
      if (g_hash_table_contains (seen, canonical))
        continue;

      root = g_file_new_for_path (paths[i]);
      /* One filter per root: ignore files are relative to it. */
      filter = hk_tool_options_build_filter (options, root, error);
      if (filter == NULL)
        {
          watch_unref (self);
          return NULL;
        }
      watchdog = hk_watchdog_new (root);
      hk_watchdog_set_recursive (watchdog, !options->no_recursive);
      hk_watchdog_set_follow_symlinks (watchdog, options->follow_symlinks);
      hk_watchdog_set_access_events (watchdog, options->access_events);
      hk_watchdog_set_latency (watchdog, options->latency);
      hk_watchdog_set_backend (watchdog, options->backend);
      if (options->poll_interval > 0)
        hk_watchdog_set_poll_interval (watchdog, options->poll_interval);
      hk_watchdog_set_wait_for_walk (watchdog, !options->ready_before_walk);
      g_ptr_array_add (self->filters, g_object_ref (filter));
      g_ptr_array_add (self->roots, g_strdup (canonical));
      g_object_set_data_full (G_OBJECT (watchdog), "hk-tool-root", g_file_get_path (root), g_free);
      g_signal_connect (watchdog, "batch", G_CALLBACK (on_batch), self);
      g_signal_connect (watchdog, "error", G_CALLBACK (on_error), self);
      g_signal_connect (watchdog, "notify::running", G_CALLBACK (on_running_changed), self);
      g_ptr_array_add (self->watchdogs, watchdog);
      g_hash_table_add (seen, g_steal_pointer (&canonical));
    }

  return self;
}

static void
finish_starting (HkToolWatch  *self,
                 const GError *error)
{
  self->finished_starting = TRUE;
  clear_progress (self);

  if (error == NULL)
    {
      guint polled = 0;

      /* "ready" must not hide that part of the tree is only polled. */
      for (guint i = 0; i < self->watchdogs->len; i++)
        polled += hk_watchdog_get_n_polled_directories (g_ptr_array_index (self->watchdogs, i));
      if (polled > 0)
        hk_tool_message (self->options,
                         "%u directories are only polled, every %u ms: the kernel's watch "
                         "limit is reached (raise it: sysctl fs.inotify.max_user_watches)",
                         polled, self->options->poll_interval > 0 ? self->options->poll_interval : 1000);
    }

  if (error != NULL)
    hk_tool_watch_stop (self);
  else if (!self->options->quiet)
    fputs ("ready\n", stderr);

  if (self->handlers == NULL)
    return;
  if (self->handlers->ready != NULL)
    self->handlers->ready (error, self->user_data);
  else if (error != NULL)
    hk_tool_watch_quit (self, hk_tool_exit_for_start_error (error));
}

static void
on_started (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  HkToolWatch *self = data;
  g_autoptr(GError) error = NULL;
  gboolean ok = hk_watchdog_start_finish (HK_WATCHDOG (source), result, &error);

  if (self->finished_starting || self->stopping)
    goto out;

  self->n_starting--;
  if (!ok)
    {
      finish_starting (self, error);
      goto out;
    }

  self->n_running++;
  if (self->n_starting == 0)
    finish_starting (self, NULL);

out:
  watch_unref (self);
}

/* Whether watcher @i is inside watcher @j's tree, which reports what it
 * would: @j recursive, and its filter (ignore files included) not hiding
 * @i's root. */
static gboolean
is_covered_by (HkToolWatch *self,
               guint        i,
               guint        j)
{
  const char *inner = g_ptr_array_index (self->roots, i);
  const char *outer = g_ptr_array_index (self->roots, j);
  gsize len = strlen (outer);
  const char *relative;

  if (self->options->no_recursive || i == j || strncmp (inner, outer, len) != 0)
    return FALSE;
  if (len == 1)
    relative = inner + 1;  /* outer is "/" */
  else if (inner[len] == '/')
    relative = inner + len + 1;
  else
    return FALSE;
  return !hk_filter_excludes_directory (g_ptr_array_index (self->filters, j), relative);
}

/* A PATH inside another one would report each of its events twice: only
 * the outer one watches (docs/tool.md: a PATH given twice is watched
 * once). */
static void
drop_nested_watchers (HkToolWatch *self)
{
  for (guint i = 0; i < self->watchdogs->len;)
    {
      gboolean covered = FALSE;

      for (guint j = 0; j < self->watchdogs->len && !covered; j++)
        covered = is_covered_by (self, i, j);
      if (!covered)
        {
          i++;
          continue;
        }
      g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->watchdogs, i), self);
      g_ptr_array_remove_index (self->watchdogs, i);
      g_ptr_array_remove_index (self->filters, i);
      g_ptr_array_remove_index (self->roots, i);
    }
}

static void
start_watchdogs (HkToolWatch *self)
{
  drop_nested_watchers (self);
  self->n_starting = self->watchdogs->len;
  for (guint i = 0; i < self->watchdogs->len; i++)
    {
      HkWatchdog *watchdog = g_ptr_array_index (self->watchdogs, i);

      hk_watchdog_set_filter (watchdog, g_ptr_array_index (self->filters, i));
      hk_watchdog_start_async (watchdog, self->cancellable, on_started, watch_ref (self));
    }
}

static void
load_ignore_files (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  HkToolWatch *self = task_data;

  /* The filters are not the watchdogs' yet: no other thread uses them. */
  for (guint i = 0; i < self->filters->len; i++)
    hk_tool_ignore_load (g_ptr_array_index (self->filters, i),
                         g_ptr_array_index (self->roots, i),
                         !self->options->no_recursive, cancellable);
  g_task_return_boolean (task, TRUE);
}

static void
on_ignore_files_loaded (GObject      *source,
                        GAsyncResult *result,
                        gpointer      data)
{
  HkToolWatch *self = g_task_get_task_data (G_TASK (result));

  if (!self->stopping)
    start_watchdogs (self);
}

static void
watch_start (HkToolWatch *self)
{
  g_autoptr(GTask) task = NULL;

  if (!self->options->quiet && isatty (STDERR_FILENO))
    {
      self->progress = g_timeout_source_new (PROGRESS_INTERVAL_MS);
      g_source_set_callback (self->progress, on_progress, self, NULL);
      g_source_set_static_name (self->progress, "[hachiko] progress");
      g_source_attach (self->progress, NULL);
    }

  if (self->options->no_ignore_files)
    {
      start_watchdogs (self);
      return;
    }
  task = g_task_new (NULL, self->cancellable, on_ignore_files_loaded, NULL);
  g_task_set_source_tag (task, watch_start);
  g_task_set_task_data (task, watch_ref (self), (GDestroyNotify) watch_unref);
  g_task_run_in_thread (task, load_ignore_files);
}

static void
handle_signal (HkToolWatch *self,
               int          signum)
{
  if (self->handlers->signal != NULL)
    self->handlers->signal (signum, self->user_data);
  else
    hk_tool_watch_quit (self, HK_TOOL_EXIT_SIGNALED (signum));
}

static gboolean
on_sigint (gpointer data)
{
  handle_signal (data, SIGINT);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  handle_signal (data, SIGTERM);
  return G_SOURCE_CONTINUE;
}

void
hk_tool_watch_run (HkToolWatch          *self,
                   const HkToolHandlers *handlers,
                   gpointer              user_data,
                   int                  *exit_code)
{
  guint sigint_id, sigterm_id;

  self->handlers = handlers;
  self->user_data = user_data;
  self->exit_code = exit_code;
  self->loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_sigint, self);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, self);

  watch_start (self);
  g_main_loop_run (self->loop);

  if (handlers->done != NULL)
    handlers->done (user_data);
  hk_tool_watch_stop (self);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_pointer (&self->loop, g_main_loop_unref);
}

void
hk_tool_watch_quit (HkToolWatch *self,
                    int          exit_code)
{
  *self->exit_code = exit_code;
  if (self->loop != NULL)
    g_main_loop_quit (self->loop);
}

void
hk_tool_watch_stop (HkToolWatch *self)
{
  self->stopping = TRUE;
  clear_progress (self);
  g_cancellable_cancel (self->cancellable);
  for (guint i = 0; i < self->watchdogs->len; i++)
    hk_watchdog_stop (g_ptr_array_index (self->watchdogs, i));
}

GPtrArray *
hk_tool_watch_get_watchdogs (HkToolWatch *self)
{
  return self->watchdogs;
}

void
hk_tool_watch_free (HkToolWatch *self)
{
  hk_tool_watch_stop (self);
  for (guint i = 0; i < self->watchdogs->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->watchdogs, i), self);
  self->handlers = NULL;
  watch_unref (self);
}
