/* hk-watchdog.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hk-enums.h"
#include "hk-event-handler-private.h"
#include "hk-event-private.h"
#include "hk-fanotify-auto-private.h"
#include "hk-filter-private.h"
#include "hk-mounts-private.h"
#include "hk-tree-private.h"
#include "hk-watchdog-private.h"
#include "hk-worker-private.h"

/**
 * HkWatchdog:
 *
 * Watches a directory tree and reports every change as a signal.
 *
 * A watchdog watches [property@Hk.Watchdog:root] and, when
 * [property@Hk.Watchdog:recursive] is set (the default), every directory
 * below it, including directories created or moved in later. Kernel events
 * are read on one worker thread shared by every watchdog of the process;
 * they are delivered in batches to the main context that was the
 * thread-default when the watchdog was created (the *owner context*), and
 * every signal and [class@Hk.EventHandler] method runs there and nowhere
 * else.
 *
 * ```c
 * static void
 * on_created (HkWatchdog *watchdog, HkEvent *event, gpointer user_data)
 * {
 *   g_print ("created %s\n", hk_event_get_path (event));
 * }
 *
 * g_autoptr(GFile) root = g_file_new_for_path ("/srv/data");
 * g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (root);
 * g_autoptr(GError) error = NULL;
 *
 * g_signal_connect (watchdog, "event::created", G_CALLBACK (on_created), NULL);
 * if (!hk_watchdog_start (watchdog, NULL, &error))
 *   g_printerr ("%s\n", error->message);
 * ```
 *
 * Nothing is lost silently: when the kernel's queue overflows, or the
 * owner context is too busy to drain its queue, [signal@Hk.Watchdog::overflow]
 * is emitted and the tree is re-read, reporting exactly what changed as
 * synthetic events. Subtrees that cannot be watched are reported through
 * [signal@Hk.Watchdog::error].
 *
 * After [method@Hk.Watchdog.stop] returns, no signal is emitted and no
 * handler runs, even for events already read. See `docs/semantics.md` for
 * the precise rules.
 *
 * ## Threads
 *
 * A watchdog belongs to its *owner context*: the thread-default
 * [struct@GLib.MainContext] of the thread that created it (see
 * [method@GLib.MainContext.push_thread_default]). Every signal handler,
 * every [class@Hk.EventHandler] method and every property notification
 * runs on the thread that iterates the owner context, so handlers never
 * need locks.
 *
 * [method@Hk.Watchdog.start],
 * [method@Hk.Watchdog.start_async], [method@Hk.Watchdog.stop], the setters
 * of a running watchdog and its last unref must run on the thread that
 * owns that context (or, when no thread owns it, on one that can acquire
 * it): anything else is a programming error, reported with a `g_critical`
 * and ignored (except the last unref, which still stops the watchdog).
 * The worker thread never calls into application code. A
 * [class@Hk.Filter] in use may be edited from any thread; the watchdog
 * takes the new rules on its owner context. Stopping never waits for the
 * worker, so it is safe to stop a watchdog on a large tree from a GTK
 * main thread.
 *
 * Since: 1.0
 */

struct _HkWatchdog
{
  GObject        parent_instance;

  GFile         *root;
  HkFilter      *filter;
  GPtrArray     *handlers;        /* HkEventHandler */
  GMainContext  *owner;
  HkWorker      *worker;

  gulong         filter_changed_id;

  /* While running (or starting): */
  struct _HkRun *run;
  GSource       *n_watched_source;
  guint          notified_n_watched;
  gint64         notified_at;

  guint          latency;
  guint          max_latency;
  HkBackendKind  backend;
  HkBackendKind  active_backend;
  char          *backend_reason;
  guint          poll_interval;
  HkSnapshot    *since;
  guint          recursive : 1;
  guint          access_events : 1;
  guint          follow_symlinks : 1;
  guint          running : 1;
  guint          starting : 1;
  guint          wait_for_walk : 1;
  guint          walk_complete : 1;
};

enum {
  PROP_0,
  PROP_ROOT,
  PROP_RECURSIVE,
  PROP_ACCESS_EVENTS,
  PROP_FOLLOW_SYMLINKS,
  PROP_FILTER,
  PROP_LATENCY,
  PROP_MAX_LATENCY,
  PROP_RUNNING,
  PROP_BACKEND,
  PROP_ACTIVE_BACKEND,
  PROP_BACKEND_REASON,
  PROP_POLL_INTERVAL,
  PROP_SINCE,
  PROP_N_WATCHED_DIRECTORIES,
  PROP_WAIT_FOR_WALK,
  PROP_WALK_COMPLETE,
  N_PROPS
};

enum {
  EVENT,
  BATCH,
  OVERFLOW,
  ERROR,
  N_SIGNALS
};

#define DEFAULT_MAX_LATENCY 1000
#define DEFAULT_POLL_INTERVAL 1000

G_DEFINE_FINAL_TYPE (HkWatchdog, hk_watchdog, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];
static GQuark event_type_quarks[HK_EVENT_CLOSED_NO_WRITE + 1];
static guint queue_bound_for_testing;

static gboolean hk_watchdog_set_filter_internal (HkWatchdog *self,
                                                 HkFilter   *filter);
static void set_walk_complete (HkWatchdog *self,
                               gboolean    complete);

/* --- the running state ---------------------------------------------------- */

/* What one start creates, shared by the watchdog (on the owner) and the
 * worker, each holding a reference: nothing else crosses threads. The tree
 * lives on the worker and is freed there after a stop; the mutex keeps a
 * cancellation arriving from another thread away from a freed tree. */
typedef struct _HkRun
{
  gatomicrefcount  ref_count;
  GMutex           mutex;
  HkTree          *tree;         /* under mutex when not on the worker */
  HkEventQueue    *queue;
  HkWorker        *worker;       /* the watchdog holds its reference */
  char            *base_path;    /* events' paths are relative to this */

  /* Owner only. */
  HkFilterRules   *rules;        /* the rules in use, nullable */
  GCancellable    *cancellable;  /* the start's, until it completes */
  gulong           cancelled_id;
} HkRun;


static HkRun *
hk_run_ref (HkRun *run)
{
  g_atomic_ref_count_inc (&run->ref_count);
  return run;
}

static void
hk_run_unref (HkRun *run)
{
  if (!g_atomic_ref_count_dec (&run->ref_count))
    return;

  g_assert (run->tree == NULL);
  g_assert (run->cancellable == NULL);
  hk_event_queue_unref (run->queue);
  g_clear_pointer (&run->rules, hk_filter_rules_unref);
  g_free (run->base_path);
  g_mutex_clear (&run->mutex);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkRun, hk_run_unref)

static void
hk_run_cancel_walk (HkRun *run)
{
  g_mutex_lock (&run->mutex);
  if (run->tree != NULL)
    hk_tree_cancel (run->tree);
  g_mutex_unlock (&run->mutex);
}

static void
on_start_cancelled (GCancellable *cancellable,
                    gpointer      data)
{
  hk_run_cancel_walk (data);
}

static void
hk_run_watch_cancellable (HkRun        *run,
                          GCancellable *cancellable)
{
  if (cancellable == NULL)
    return;
  run->cancellable = g_object_ref (cancellable);
  run->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_start_cancelled),
                                             hk_run_ref (run), (GDestroyNotify) hk_run_unref);
}

static void
hk_run_unwatch_cancellable (HkRun *run)
{
  g_autoptr(GCancellable) cancellable = g_steal_pointer (&run->cancellable);

  if (cancellable == NULL)
    return;
  /* Once cancelled the handler has run or is running, maybe in a
   * "cancelled" handler that called stop(): disconnecting then would wait
   * for ourselves. The connection then lives as long as the cancellable. */
  if (!g_cancellable_is_cancelled (cancellable))
    g_cancellable_disconnect (cancellable, run->cancelled_id);
  run->cancelled_id = 0;
}

static void
free_tree_on_worker (HkWorker *worker,
                     gpointer  data)
{
  HkRun *run = data;
  HkTree *tree;

  g_mutex_lock (&run->mutex);
  tree = g_steal_pointer (&run->tree);
  g_mutex_unlock (&run->mutex);

  hk_tree_free (tree);
}

/* Ends a run without waiting: the queue is closed at once, so nothing more
 * is delivered; the walk (if any) is told to stop and the tree is freed on
 * the worker afterwards. Takes the caller's reference. */
static void
hk_run_release (HkRun *run)
{
  hk_event_queue_close (run->queue);
  hk_run_unwatch_cancellable (run);
  hk_run_cancel_walk (run);
  hk_worker_post (run->worker, free_tree_on_worker, run, (GDestroyNotify) hk_run_unref);
}

static void
resume_tree (gpointer data)
{
  HkRun *run = data;

  /* Called on the worker, where the tree lives, only while the queue is
   * open, which is before the tree is freed. */
  hk_tree_resume (run->tree);
}

/* --- threads -------------------------------------------------------------- */

static gboolean
on_owner_thread (HkWatchdog *self)
{
  if (!g_main_context_acquire (self->owner))
    return FALSE;
  g_main_context_release (self->owner);
  return TRUE;
}

/* The owner context's thread is the only one a running watchdog may be
 * driven from: it is where its signals run. */
#define CHECK_OWNER_THREAD(self, ...)                                         \
  G_STMT_START {                                                              \
    if (G_UNLIKELY (!on_owner_thread (self)))                                 \
      {                                                                       \
        g_critical ("%s: called from a thread that does not own the "         \
                    "watchdog's main context", G_STRFUNC);                    \
        return __VA_ARGS__;                                                   \
      }                                                                       \
  } G_STMT_END

/* --- n-watched-directories ------------------------------------------------ */

#define N_WATCHED_NOTIFY_INTERVAL_US (G_USEC_PER_SEC / 10)

static void
notify_n_watched (HkWatchdog *self)
{
  guint n = hk_watchdog_get_n_watched_directories (self);

  if (n == self->notified_n_watched)
    return;
  self->notified_n_watched = n;
  self->notified_at = g_get_monotonic_time ();
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_WATCHED_DIRECTORIES]);
}

static void schedule_n_watched_notify (HkWatchdog *self);

static gboolean
on_n_watched_timeout (gpointer data)
{
  HkWatchdog *self = data;

  g_clear_pointer (&self->n_watched_source, g_source_unref);
  notify_n_watched (self);
  if (self->starting || (self->running && !self->walk_complete))
    schedule_n_watched_notify (self);

  return G_SOURCE_REMOVE;
}

/* At most 10 notifications a second: every 100 ms while starting (a
 * progress bar), else after deliveries. */
static void
schedule_n_watched_notify (HkWatchdog *self)
{
  gint64 wait_us;

  if (self->n_watched_source != NULL)
    return;
  if (!self->starting && (!self->running || self->walk_complete) &&
      hk_watchdog_get_n_watched_directories (self) == self->notified_n_watched)
    return;  /* the usual case after a delivery: nothing to say */

  wait_us = self->notified_at + N_WATCHED_NOTIFY_INTERVAL_US - g_get_monotonic_time ();
  if (self->starting)
    wait_us = N_WATCHED_NOTIFY_INTERVAL_US;
  else if (wait_us <= 0)
    {
      notify_n_watched (self);
      return;
    }

  self->n_watched_source = g_timeout_source_new (MAX (1, (wait_us + 999) / 1000));
  g_source_set_callback (self->n_watched_source, on_n_watched_timeout, self, NULL);
  g_source_set_static_name (self->n_watched_source, "[hachiko] n-watched-directories");
  g_source_attach (self->n_watched_source, self->owner);
}

static void
cancel_n_watched_notify (HkWatchdog *self)
{
  if (self->n_watched_source == NULL)
    return;
  g_source_destroy (self->n_watched_source);
  g_clear_pointer (&self->n_watched_source, g_source_unref);
}

/* --- delivery on the owner context ---------------------------------------- */

static const char *
relative_to_base (HkRun      *run,
                  const char *path)
{
  gsize len = strlen (run->base_path);

  if (path == NULL || strncmp (path, run->base_path, len) != 0)
    return path;
  path += len;
  while (*path == '/')
    path++;
  return path;
}

static gboolean
handler_accepts (HkRun          *run,
                 HkEventHandler *handler,
                 HkEvent        *event)
{
  g_autoptr(HkFilterRules) rules = hk_event_handler_dup_rules (handler);
  gboolean is_dir;
  const char *dest;

  if (rules == NULL)
    return TRUE;

  is_dir = hk_event_get_is_directory (event);
  if (hk_filter_rules_matches (rules, relative_to_base (run, hk_event_get_path (event)), is_dir))
    return TRUE;

  dest = hk_event_get_dest_path (event);
  return dest != NULL && hk_filter_rules_matches (rules, relative_to_base (run, dest), is_dir);
}

/* Emits one batch: `batch` first, then per event the `event` signal and
 * the handlers. Returns FALSE when a handler stopped the watchdog. */
static gboolean
emit_events (HkWatchdog *self,
             HkRun      *run,
             GPtrArray  *events)
{
  g_autoptr(GPtrArray) handlers = NULL;

  if (events->len == 0)
    return TRUE;

  g_signal_emit (self, signals[BATCH], 0, events);
  if (self->run != run)
    return FALSE;

  /* A handler added during emission gets the next batch; one removed
   * gets nothing more, checked below. */
  if (self->handlers->len > 0)
    {
      handlers = g_ptr_array_new_full (self->handlers->len, g_object_unref);
      for (guint i = 0; i < self->handlers->len; i++)
        g_ptr_array_add (handlers, g_object_ref (g_ptr_array_index (self->handlers, i)));
    }

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);
      HkEventType type = hk_event_get_event_type (event);

      g_signal_emit (self, signals[EVENT], event_type_quarks[type], event);
      if (self->run != run)
        return FALSE;

      for (guint j = 0; handlers != NULL && j < handlers->len; j++)
        {
          HkEventHandler *handler = g_ptr_array_index (handlers, j);

          /* Removed meanwhile: nothing more for it, as for a signal
           * handler disconnected during an emission. */
          if (!g_ptr_array_find (self->handlers, handler, NULL))
            continue;
          if (!handler_accepts (run, handler, event))
            continue;
          hk_event_handler_call (handler, event, TRUE);
          if (self->run != run)
            return FALSE;
          if (!g_ptr_array_find (self->handlers, handler, NULL))
            continue;
          hk_event_handler_call (handler, event, FALSE);
          if (self->run != run)
            return FALSE;
        }
    }

  return TRUE;
}

/* Runs on the owner context with one batch. The worker has filtered and
 * coalesced it already: only signals and handlers are left to run. */
static void
hk_watchdog_deliver (GArray   *items,
                     gpointer  user_data)
{
  HkWatchdog *self = user_data;
  G_GNUC_UNUSED g_autoptr(HkWatchdog) keep = g_object_ref (self);  /* a handler may drop the last other reference */
  g_autoptr(HkRun) run = NULL;
  g_autoptr(GPtrArray) events = NULL;

  if (self->run == NULL)
    return;
  run = hk_run_ref (self->run);  /* so that `self->run != run` stays meaningful */
  events = g_ptr_array_new_full (items->len, (GDestroyNotify) hk_event_unref);

  for (guint i = 0; i < items->len; i++)
    {
      HkQueueItem *item = &g_array_index (items, HkQueueItem, i);

      if (item->kind == HK_QUEUE_ITEM_EVENT)
        {
          g_ptr_array_add (events, g_steal_pointer (&item->data));
          continue;
        }

      /* Markers: the events before them go out first. */
      if (!emit_events (self, run, events))
        return;
      g_ptr_array_set_size (events, 0);

      switch (item->kind)
        {
        case HK_QUEUE_ITEM_SATURATED:
        case HK_QUEUE_ITEM_OVERFLOW:
          g_signal_emit (self, signals[OVERFLOW], 0);
          break;

        case HK_QUEUE_ITEM_ERROR:
          g_signal_emit (self, signals[ERROR], 0, item->data);
          break;

        case HK_QUEUE_ITEM_ROOT_GONE:
          g_signal_emit (self, signals[ERROR], 0, item->data);
          if (self->run == run)
            hk_watchdog_stop (self);
          return;

        case HK_QUEUE_ITEM_WALK_COMPLETE:
          set_walk_complete (self, TRUE);
          break;

        case HK_QUEUE_ITEM_EVENT:
        default:
          g_assert_not_reached ();
        }

      if (self->run != run)
        return;
    }

  if (emit_events (self, run, events))
    schedule_n_watched_notify (self);
}

/* --- starting and stopping ------------------------------------------------ */

static void
set_walk_complete (HkWatchdog *self,
                   gboolean    complete)
{
  if (self->walk_complete == !!complete)
    return;
  self->walk_complete = !!complete;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WALK_COMPLETE]);
  if (complete)
    schedule_n_watched_notify (self);  /* the final count, still throttled */
}

static void
set_running (HkWatchdog *self,
             gboolean    running)
{
  self->starting = FALSE;
  if (self->running == !!running)
    return;
  self->running = !!running;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/* Drops the current run, if any, without waiting for the worker. */
static void
release_run (HkWatchdog *self)
{
  HkRun *run = g_steal_pointer (&self->run);

  cancel_n_watched_notify (self);
  if (run != NULL)
    hk_run_release (run);
}

static guint auto_fanotify_threshold_for_testing;  /* atomic; 0: the default */

void
hk_watchdog_set_auto_fanotify_threshold_for_testing (guint n_directories)
{
  g_atomic_int_set (&auto_fanotify_threshold_for_testing, n_directories);
}

/* AUTO looks at the root's filesystem; a forced backend that cannot work
 * here makes the start fail with NOT_SUPPORTED. A large local tree with no
 * mount inside, whose start need not wait for the walk, is watched with a
 * fanotify filesystem mark where the process may place one: start then
 * takes constant time (plus the count, which stops at the threshold). */
static void
choose_backend (HkWatchdog *self,
                const char *dir_path,
                gboolean    mounts_inside)
{
  g_autofree char *reason = NULL;
  HkBackendKind kind = self->backend;

  if (kind == HK_BACKEND_KIND_AUTO)
    {
      g_autofree char *path = dir_path != NULL
        ? g_strdup (dir_path)
        : g_file_get_path (self->root);
      g_autofree char *parent = dir_path != NULL ? NULL : g_path_get_dirname (path);

      kind = hk_mounts_choose_backend (parent != NULL ? parent : path, &reason);
      if (kind == HK_BACKEND_KIND_INOTIFY && dir_path != NULL && self->recursive &&
          !self->wait_for_walk && self->since == NULL && !self->follow_symlinks &&
          !mounts_inside)
        {
          guint threshold = g_atomic_int_get (&auto_fanotify_threshold_for_testing);
          g_autofree char *size_reason = NULL;

          if (hk_fanotify_auto_prefers (path, threshold > 0 ? threshold
                                                             : HK_FANOTIFY_AUTO_MIN_DIRECTORIES,
                                        &size_reason))
            kind = HK_BACKEND_KIND_FANOTIFY;
          g_free (reason);
          reason = g_steal_pointer (&size_reason);
        }
    }
  else
    reason = g_strdup ("chosen by the application");

  g_object_freeze_notify (G_OBJECT (self));
  if (self->active_backend != kind)
    {
      self->active_backend = kind;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVE_BACKEND]);
    }
  if (g_strcmp0 (self->backend_reason, reason) != 0)
    {
      g_free (self->backend_reason);
      self->backend_reason = g_steal_pointer (&reason);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKEND_REASON]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}


/* Hands the rules and the coalescing window to the worker. */
static void
configure_queue (HkWatchdog *self)
{
  HkRun *run = self->run;

  hk_event_queue_configure (run->queue, run->rules, strlen (run->base_path),
                            self->latency, self->max_latency);
}

/* Everything that can be checked on the caller's thread, then a run with
 * a tree and a queue ready to be walked on the worker. */
static gboolean
prepare_start (HkWatchdog  *self,
               GError     **error)
{
  g_autofree char *root_path = NULL;
  g_autoptr(GHashTable) mounts = NULL;
  HkTreeOptions options = { 0 };
  HkRun *run;
  struct stat st;

  if (self->worker == NULL)
    {
      self->worker = hk_worker_acquire (error);
      if (self->worker == NULL)
        return FALSE;
    }

  if (self->root == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "Nothing to watch: the watchdog has no root directory");
      return FALSE;
    }

  root_path = g_file_get_path (self->root);
  if (root_path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (self->root);

      /* An empty path, as stat("") says. */
      if (uri == NULL || uri[0] == '\0')
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             "Cannot watch an empty path: No such file or directory");
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                     "Cannot watch “%s”: only local files can be watched", uri);
      return FALSE;
    }

  if (stat (root_path, &st) != 0)
    {
      int errsv = errno;
      g_autofree char *display = g_filename_display_name (root_path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot watch “%s”: %s", display, g_strerror (errsv));
      return FALSE;
    }

  run = g_new0 (HkRun, 1);
  g_atomic_ref_count_init (&run->ref_count);
  g_mutex_init (&run->mutex);
  run->worker = self->worker;
  run->rules = self->filter != NULL ? hk_filter_dup_rules (self->filter) : NULL;
  run->queue = hk_event_queue_new (self->owner,
                                   hk_worker_get_context (self->worker),
                                   g_atomic_int_get (&queue_bound_for_testing),
                                   hk_watchdog_deliver, self);
  run->base_path = S_ISDIR (st.st_mode)
    ? g_strdup (root_path)
    : g_path_get_dirname (root_path);

  options.root_path = root_path;
  options.recursive = self->recursive;
  options.access_events = self->access_events;
  options.follow_symlinks = self->follow_symlinks;
  options.rules = run->rules;
  if (self->backend == HK_BACKEND_KIND_AUTO && self->recursive && S_ISDIR (st.st_mode))
    mounts = hk_mounts_inside (root_path);
  choose_backend (self, S_ISDIR (st.st_mode) ? root_path : NULL,
                  mounts != NULL && g_hash_table_size (mounts) > 0);
  options.backend = self->active_backend;
  options.automatic = self->backend == HK_BACKEND_KIND_AUTO;
  options.poll_interval = self->poll_interval;
  options.mounts = mounts;
  options.since = self->since;
  /* `since` needs the complete snapshot before its difference. */
  options.early = !self->wait_for_walk && self->since == NULL;
  run->tree = hk_tree_new (hk_worker_get_hub (self->worker), &options, run->queue);
  hk_event_queue_set_resume_func (run->queue, resume_tree, run);

  self->run = run;
  configure_queue (self);

  return TRUE;
}

/**
 * hk_watchdog_start:
 * @self: a watchdog
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @error: return location for a #GError
 *
 * Starts watching. Returns once every change made in the tree from then on
 * will be reported: once every directory of the tree is watched and read;
 * or, with [property@Hk.Watchdog:wait-for-walk] %FALSE and a fanotify
 * filesystem mark, as soon as the mark is placed, the walk going on
 * afterwards (see [property@Hk.Watchdog:walk-complete]).
 *
 * The walk of the tree runs on the worker thread while the caller waits;
 * see [method@Hk.Watchdog.start_async] to keep the caller's main loop
 * running meanwhile. Cancelling @cancellable (from another thread) stops
 * the walk promptly: the start then fails with %G_IO_ERROR_CANCELLED and
 * leaves no watch behind.
 *
 * Fails with %G_IO_ERROR_NOT_FOUND when the root does not exist,
 * %G_IO_ERROR_PERMISSION_DENIED when it cannot be read,
 * %G_IO_ERROR_NO_SPACE when the root itself cannot be watched because the
 * inotify watch limit is reached, and %G_IO_ERROR_NOT_SUPPORTED for a
 * non-local root. Starting a running watchdog does nothing and succeeds.
 *
 * Must be called on the thread of the owner context.
 *
 * Returns: %TRUE if the watchdog is running
 *
 * Since: 1.0
 */
typedef struct
{
  HkRun        *run;
  GCancellable *cancellable;
  GError       *error;
  gboolean      ok;
} Walk;

static void
walk_on_worker (HkWorker *worker,
                gpointer  data)
{
  Walk *walk = data;

  walk->ok = hk_tree_start (walk->run->tree, walk->cancellable, &walk->error);
  hk_event_queue_wake_now (walk->run->queue);  /* what the walk reported, first */
}

/* The walk is over (on the owner): running if it succeeded and nobody
 * stopped the watchdog meanwhile, whatever the cancellable says now. */
static gboolean
finish_start (HkWatchdog  *self,
              HkRun       *run,
              gboolean     ok,
              GError     **error)
{
  if (self->run != run)
    {
      g_clear_error (error);
      return FALSE;
    }

  hk_run_unwatch_cancellable (run);
  if (!ok)
    {
      release_run (self);
      self->starting = FALSE;
      notify_n_watched (self);
      return FALSE;
    }

  cancel_n_watched_notify (self);
  set_running (self, TRUE);
  /* Early ready: the walk goes on, and says when it is over. */
  if (!hk_tree_is_walking (run->tree))
    set_walk_complete (self, TRUE);
  schedule_n_watched_notify (self);  /* the final count, still throttled */
  return TRUE;
}

gboolean
hk_watchdog_start (HkWatchdog    *self,
                   GCancellable  *cancellable,
                   GError       **error)
{
  Walk walk = { 0 };

  g_return_val_if_fail (HK_IS_WATCHDOG (self), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  CHECK_OWNER_THREAD (self, FALSE);

  if (self->running)
    return TRUE;
  if (self->starting)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING,
                           "The watchdog is already starting");
      return FALSE;
    }

  if (!prepare_start (self, error))
    return FALSE;

  self->starting = TRUE;
  walk.run = self->run;
  walk.cancellable = cancellable;
  hk_run_watch_cancellable (walk.run, cancellable);
  hk_worker_call (self->worker, walk_on_worker, &walk);

  if (!finish_start (self, walk.run, walk.ok, &walk.error))
    {
      g_propagate_error (error, walk.error);
      return FALSE;
    }
  return TRUE;
}

static void
walk_task_on_worker (HkWorker *worker,
                     GTask    *task)
{
  HkRun *run = g_task_get_task_data (task);
  GError *error = NULL;
  gboolean ok = hk_tree_start (run->tree, g_task_get_cancellable (task), &error);

  /* What the walk reported (errors) reaches the owner before its end. */
  hk_event_queue_wake_now (run->queue);
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
walk_task_done (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HkWatchdog *self = g_task_get_source_object (task);
  HkRun *run = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);

  if (finish_start (self, run, ok, &error))
    g_task_return_boolean (task, TRUE);
  else if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             "The watchdog was stopped while starting");
}

/**
 * hk_watchdog_start_async:
 * @self: a watchdog
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the watchdog is watching, or failed
 * @user_data: data for @callback
 *
 * Starts watching without blocking: the walk of the tree runs on the
 * worker thread and @callback runs on the owner context when every
 * directory is watched. Call [method@Hk.Watchdog.start_finish] from it.
 * Meanwhile [property@Hk.Watchdog:n-watched-directories] notifies the
 * progress.
 *
 * This is the asynchronous version of [method@Hk.Watchdog.start].
 * Cancelling @cancellable stops the walk promptly; the start then fails
 * with %G_IO_ERROR_CANCELLED, as it does when the watchdog is stopped
 * meanwhile, and leaves no watch behind. A cancellation that comes once
 * the walk is over changes nothing: the result says whether the watchdog
 * runs.
 *
 * Must be called on the thread of the owner context.
 *
 * Since: 1.0
 */
void
hk_watchdog_start_async (HkWatchdog          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) walk = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  CHECK_OWNER_THREAD (self);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hk_watchdog_start_async);
  /* Success means running, even if a cancel came after the walk. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->running)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->starting)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "The watchdog is already starting");
      return;
    }
  if (!prepare_start (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->starting = TRUE;
  schedule_n_watched_notify (self);
  hk_run_watch_cancellable (self->run, cancellable);

  /* The walk's own task has no source object: its last reference may go
   * on the worker. */
  walk = g_task_new (NULL, cancellable, walk_task_done, g_steal_pointer (&task));
  g_task_set_source_tag (walk, walk_task_on_worker);
  g_task_set_check_cancellable (walk, FALSE);
  g_task_set_task_data (walk, hk_run_ref (self->run), (GDestroyNotify) hk_run_unref);
  hk_worker_run_task (self->worker, walk, walk_task_on_worker);
}

/**
 * hk_watchdog_start_finish:
 * @self: a watchdog
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Hk.Watchdog.start_async].
 *
 * Returns: %TRUE if the watchdog is running
 *
 * Since: 1.0
 */
gboolean
hk_watchdog_start_finish (HkWatchdog    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * hk_watchdog_stop:
 * @self: a watchdog
 *
 * Stops watching. When this returns, no signal is emitted and no handler
 * runs any more, even for events that were already read; events pending in
 * the coalescing window are dropped too. A pending
 * [method@Hk.Watchdog.start_async] fails with %G_IO_ERROR_CANCELLED.
 *
 * It returns at once, whatever the size of the tree: the worker releases
 * the watches and the snapshot afterwards.
 *
 * Must be called on the owner context's thread. Stopping a stopped
 * watchdog does nothing; it can be started again.
 *
 * Since: 1.0
 */
void
hk_watchdog_stop (HkWatchdog *self)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));

  if (self->run == NULL)
    return;
  CHECK_OWNER_THREAD (self);

  release_run (self);
  set_running (self, FALSE);
  set_walk_complete (self, FALSE);
  notify_n_watched (self);
}

/* --- test hooks -------------------------------------------------------- */

static void
inject_overflow (HkWorker *worker,
                 gpointer  data)
{
  hk_tree_inject_overflow (data);
}

void
hk_watchdog_inject_overflow (HkWatchdog *self)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (self->running);

  hk_worker_call (self->worker, inject_overflow, self->run->tree);
}

void
hk_watchdog_set_watch_limit (guint limit)
{
  hk_watch_hub_set_handle_limit_for_testing (limit);
}

void
hk_watchdog_set_queue_bound (guint bound)
{
  g_atomic_int_set (&queue_bound_for_testing, bound);
}

static void
stall (HkWorker *worker,
       gpointer  data)
{
  g_usleep (GPOINTER_TO_UINT (data) * 1000);
}

void
hk_watchdog_pause_walks_for_testing (guint n_dirs)
{
  hk_tree_pause_walks_for_testing (n_dirs);
}

void
hk_watchdog_resume_walks_for_testing (void)
{
  hk_tree_resume_walks_for_testing ();
}

void
hk_watchdog_stall_worker (guint ms)
{
  g_autoptr(GError) error = NULL;
  HkWorker *worker = hk_worker_acquire (&error);

  if (worker == NULL)
    return;
  hk_worker_post (worker, stall, GUINT_TO_POINTER (ms), NULL);
  hk_worker_release (worker);
}

gboolean
hk_watchdog_restart_backend_for_testing (void)
{
  return hk_worker_shutdown_idle ();
}

static void
read_backend_watches (HkWorker *worker,
                      gpointer  data)
{
  *(guint *) data = hk_watch_hub_count_handles (hk_worker_get_hub (worker),
                                                HK_BACKEND_KIND_INOTIFY);
}

guint
hk_watchdog_get_backend_watches (void)
{
  g_autoptr(GError) error = NULL;
  HkWorker *worker = hk_worker_acquire (&error);
  guint n = 0;

  if (worker == NULL)
    return 0;
  hk_worker_call (worker, read_backend_watches, &n);
  hk_worker_release (worker);

  return n;
}

guint
hk_watchdog_get_n_queued_for_testing (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), 0);

  return self->run != NULL ? hk_event_queue_get_n_waiting (self->run->queue) : 0;
}

/* --- GObject ------------------------------------------------------------ */

/**
 * hk_watchdog_new:
 * @root: the file or directory to watch
 *
 * Creates a watchdog for @root. The thread-default main context at this
 * point becomes the owner context, where every signal is emitted.
 *
 * Returns: (transfer full): a new, stopped watchdog
 *
 * Since: 1.0
 */
HkWatchdog *
hk_watchdog_new (GFile *root)
{
  g_return_val_if_fail (G_IS_FILE (root), NULL);

  return g_object_new (HK_TYPE_WATCHDOG, "root", root, NULL);
}

static void
hk_watchdog_dispose (GObject *object)
{
  HkWatchdog *self = HK_WATCHDOG (object);

  if (self->run != NULL && !on_owner_thread (self))
    g_critical ("Last reference to a running HkWatchdog dropped on a thread that "
                "does not own its main context: stop it on the owner first");
  release_run (self);
  self->starting = FALSE;
  self->running = FALSE;
  hk_watchdog_set_filter_internal (self, NULL);
  if (self->handlers != NULL)
    g_ptr_array_set_size (self->handlers, 0);

  G_OBJECT_CLASS (hk_watchdog_parent_class)->dispose (object);
}

static void
hk_watchdog_finalize (GObject *object)
{
  HkWatchdog *self = HK_WATCHDOG (object);

  g_clear_object (&self->root);
  g_clear_pointer (&self->handlers, g_ptr_array_unref);
  g_clear_pointer (&self->worker, hk_worker_release);
  g_clear_pointer (&self->owner, g_main_context_unref);
  g_clear_pointer (&self->backend_reason, g_free);
  g_clear_object (&self->since);

  G_OBJECT_CLASS (hk_watchdog_parent_class)->finalize (object);
}

static void
hk_watchdog_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  HkWatchdog *self = HK_WATCHDOG (object);

  switch (prop_id)
    {
    case PROP_ROOT:
      g_value_set_object (value, self->root);
      break;
    case PROP_RECURSIVE:
      g_value_set_boolean (value, self->recursive);
      break;
    case PROP_ACCESS_EVENTS:
      g_value_set_boolean (value, self->access_events);
      break;
    case PROP_FOLLOW_SYMLINKS:
      g_value_set_boolean (value, self->follow_symlinks);
      break;
    case PROP_FILTER:
      g_value_set_object (value, self->filter);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency);
      break;
    case PROP_MAX_LATENCY:
      g_value_set_uint (value, self->max_latency);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, self->backend);
      break;
    case PROP_ACTIVE_BACKEND:
      g_value_set_enum (value, self->active_backend);
      break;
    case PROP_BACKEND_REASON:
      g_value_set_string (value, self->backend_reason);
      break;
    case PROP_POLL_INTERVAL:
      g_value_set_uint (value, self->poll_interval);
      break;
    case PROP_SINCE:
      g_value_set_object (value, self->since);
      break;
    case PROP_N_WATCHED_DIRECTORIES:
      g_value_set_uint (value, hk_watchdog_get_n_watched_directories (self));
      break;
    case PROP_WAIT_FOR_WALK:
      g_value_set_boolean (value, self->wait_for_walk);
      break;
    case PROP_WALK_COMPLETE:
      g_value_set_boolean (value, self->walk_complete);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_watchdog_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  HkWatchdog *self = HK_WATCHDOG (object);

  switch (prop_id)
    {
    case PROP_ROOT:
      self->root = g_value_dup_object (value);
      break;
    case PROP_RECURSIVE:
      hk_watchdog_set_recursive (self, g_value_get_boolean (value));
      break;
    case PROP_ACCESS_EVENTS:
      hk_watchdog_set_access_events (self, g_value_get_boolean (value));
      break;
    case PROP_FOLLOW_SYMLINKS:
      hk_watchdog_set_follow_symlinks (self, g_value_get_boolean (value));
      break;
    case PROP_FILTER:
      hk_watchdog_set_filter (self, g_value_get_object (value));
      break;
    case PROP_LATENCY:
      hk_watchdog_set_latency (self, g_value_get_uint (value));
      break;
    case PROP_MAX_LATENCY:
      hk_watchdog_set_max_latency (self, g_value_get_uint (value));
      break;
    case PROP_BACKEND:
      hk_watchdog_set_backend (self, g_value_get_enum (value));
      break;
    case PROP_POLL_INTERVAL:
      hk_watchdog_set_poll_interval (self, g_value_get_uint (value));
      break;
    case PROP_SINCE:
      hk_watchdog_set_since (self, g_value_get_object (value));
      break;
    case PROP_WAIT_FOR_WALK:
      hk_watchdog_set_wait_for_walk (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_watchdog_class_init (HkWatchdogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  g_autoptr(GEnumClass) enum_class = g_type_class_ref (HK_TYPE_EVENT_TYPE);

  object_class->dispose = hk_watchdog_dispose;
  object_class->finalize = hk_watchdog_finalize;
  object_class->get_property = hk_watchdog_get_property;
  object_class->set_property = hk_watchdog_set_property;

  for (guint i = 0; i < G_N_ELEMENTS (event_type_quarks); i++)
    event_type_quarks[i] = g_quark_from_static_string (g_enum_get_value (enum_class, i)->value_nick);

  /**
   * HkWatchdog:root:
   *
   * The file or directory to watch. A missing root makes
   * [method@Hk.Watchdog.start] fail; a file as root watches that one file
   * (including editors' save-by-rename).
   *
   * Since: 1.0
   */
  properties[PROP_ROOT] =
    g_param_spec_object ("root", NULL, NULL,
                         G_TYPE_FILE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:recursive:
   *
   * Whether to watch every directory below the root, including those that
   * appear later. Setting it on a running watchdog takes effect at the next
   * start.
   *
   * Since: 1.0
   */
  properties[PROP_RECURSIVE] =
    g_param_spec_boolean ("recursive", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:access-events:
   *
   * Whether to report %HK_EVENT_OPENED and %HK_EVENT_CLOSED_NO_WRITE for
   * files. Off by default: every read of a file produces them. Setting it
   * on a running watchdog takes effect at the next start.
   *
   * Since: 1.0
   */
  properties[PROP_ACCESS_EVENTS] =
    g_param_spec_boolean ("access-events", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:follow-symlinks:
   *
   * Whether symbolic links to directories are followed and watched. By
   * default a symbolic link is reported as an entry of its own and not
   * followed. Setting it on a running watchdog takes effect at the next
   * start.
   *
   * Since: 1.0
   */
  properties[PROP_FOLLOW_SYMLINKS] =
    g_param_spec_boolean ("follow-symlinks", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:filter:
   *
   * Which paths to report. Directories the filter ignores are not watched
   * at all. It acts live: setting it on a running watchdog, or editing
   * the filter in use (see [signal@Hk.Filter::changed]), applies to the
   * events that follow. A directory that becomes ignored stops being
   * watched; one that stops being ignored is watched and read, without
   * events for the entries it already had.
   *
   * Since: 1.0
   */
  properties[PROP_FILTER] =
    g_param_spec_object ("filter", NULL, NULL,
                         HK_TYPE_FILTER,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:latency:
   *
   * Coalescing window in milliseconds. 0 (the default) delivers each event
   * as soon as it is read. Above 0, events for the same path within the
   * window are merged (see `docs/coalescing.md`). Setting it on a running
   * watchdog applies to the events that follow; events held under the old
   * window are delivered first.
   *
   * Since: 1.0
   */
  properties[PROP_LATENCY] =
    g_param_spec_uint ("latency", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:max-latency:
   *
   * With [property@Hk.Watchdog:latency] above 0, the longest time in
   * milliseconds an event may be held back while activity continues on its
   * path. Default 1000. Setting it on a running watchdog applies to the
   * events that follow.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_LATENCY] =
    g_param_spec_uint ("max-latency", NULL, NULL,
                       1, G_MAXINT, DEFAULT_MAX_LATENCY,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:running:
   *
   * Whether the watchdog is watching. It becomes %FALSE after
   * [method@Hk.Watchdog.stop], and when the root is deleted, moved away or
   * unmounted.
   *
   * Since: 1.0
   */
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:backend:
   *
   * The mechanism to watch with. With %HK_BACKEND_KIND_AUTO (the default)
   * hachiko chooses per subtree: inotify on local filesystems, polling on
   * network and user-space filesystems (NFS, SMB, FUSE, 9p, ...), fanotify
   * (or else polling) where the kernel's watch limit is reached, and
   * fanotify for a tree of 10,000 directories or more when
   * [property@Hk.Watchdog:wait-for-walk] is %FALSE and the process may place
   * a filesystem mark (`CAP_SYS_ADMIN`); [property@Hk.Watchdog:backend-reason]
   * says why. A forced backend that cannot work
   * here makes [method@Hk.Watchdog.start] fail with
   * %G_IO_ERROR_NOT_SUPPORTED.
   *
   * Applies at the next start.
   *
   * Since: 1.0
   */
  properties[PROP_BACKEND] =
    g_param_spec_enum ("backend", NULL, NULL,
                       HK_TYPE_BACKEND_KIND, HK_BACKEND_KIND_AUTO,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:active-backend:
   *
   * The backend used for the root, chosen at start; see
   * [property@Hk.Watchdog:backend-reason] for why.
   *
   * Since: 1.0
   */
  properties[PROP_ACTIVE_BACKEND] =
    g_param_spec_enum ("active-backend", NULL, NULL,
                       HK_TYPE_BACKEND_KIND, HK_BACKEND_KIND_AUTO,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:backend-reason:
   *
   * A short sentence saying why [property@Hk.Watchdog:active-backend] was
   * chosen, such as "poll: nfs is a network or user-space filesystem whose
   * changes the kernel does not report". %NULL before the first start.
   *
   * Since: 1.0
   */
  properties[PROP_BACKEND_REASON] =
    g_param_spec_string ("backend-reason", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:poll-interval:
   *
   * How often, in milliseconds, the polling backend looks at each polled
   * directory. Default 1000. Applies at the next start.
   *
   * Since: 1.0
   */
  properties[PROP_POLL_INTERVAL] =
    g_param_spec_uint ("poll-interval", NULL, NULL,
                       10, G_MAXINT, DEFAULT_POLL_INTERVAL,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:since:
   *
   * A snapshot of the tree from an earlier moment, for instance saved when
   * the program last ran (see [method@Hk.Snapshot.save]). When set, the
   * first events after [method@Hk.Watchdog.start] are the difference
   * between it and the tree as the start found it, marked synthetic; live
   * events follow. Nothing is lost at the seam; a file written while the
   * start walks may be reported `modified` both ways.
   *
   * Applies at the next start.
   *
   * Since: 1.0
   */
  properties[PROP_SINCE] =
    g_param_spec_object ("since", NULL, NULL,
                         HK_TYPE_SNAPSHOT,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:n-watched-directories:
   *
   * How many directories are watched so far; 0 when stopped. It grows
   * while [method@Hk.Watchdog.start_async] walks the tree, so a progress
   * bar can be bound to it. Notified on the owner context, at most ten
   * times a second.
   *
   * Since: 1.0
   */
  properties[PROP_N_WATCHED_DIRECTORIES] =
    g_param_spec_uint ("n-watched-directories", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:wait-for-walk:
   *
   * Whether [method@Hk.Watchdog.start] waits for the walk of the whole
   * tree even where it need not. By default (%TRUE) it does. Set to
   * %FALSE, with a fanotify filesystem mark (the `fanotify` backend with
   * `CAP_SYS_ADMIN`) `start` returns as soon as the mark is placed, because
   * every change below the root is seen from then on, and the walk goes on
   * on the worker thread; [property@Hk.Watchdog:walk-complete] says when it
   * is over; changes made in directories the walk has not read yet are
   * reported once each (see docs/backends.md, "Ready in constant time").
   * With %HK_BACKEND_KIND_AUTO, %FALSE also lets a large tree be watched
   * with fanotify (see [property@Hk.Watchdog:backend]). Every other
   * backend, and a tree that spans several filesystems (mount points inside
   * it, [property@Hk.Watchdog:follow-symlinks]) or has
   * [property@Hk.Watchdog:since] set, always walks before `start` returns.
   *
   * Applies at the next start.
   *
   * Since: 1.0
   */
  properties[PROP_WAIT_FOR_WALK] =
    g_param_spec_boolean ("wait-for-walk", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HkWatchdog:walk-complete:
   *
   * Whether the walk of the tree is over, so that the watchdog's snapshot
   * has every entry. It is %TRUE when [method@Hk.Watchdog.start] returns,
   * except when `start` returned before the walk (see
   * [property@Hk.Watchdog:wait-for-walk]): then it becomes %TRUE later, on
   * the owner context, after every event reported until then. Until then
   * [property@Hk.Watchdog:n-watched-directories] grows and
   * [method@Hk.Watchdog.dup_snapshot] returns what the walk read so far.
   * %FALSE when stopped.
   *
   * Since: 1.0
   */
  properties[PROP_WALK_COMPLETE] =
    g_param_spec_boolean ("walk-complete", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HkWatchdog::event:
   * @self: the watchdog
   * @event: the event
   *
   * Emitted on the owner context for every event that passes the
   * [property@Hk.Watchdog:filter]. The signal is detailed by the event
   * type's nick, so `event::created` sees only creations.
   *
   * Since: 1.0
   */
  /* Not G_SIGNAL_TYPE_STATIC_SCOPE: bindings keep events beyond the
   * emission, and copying one is only a reference. */
  signals[EVENT] =
    g_signal_new ("event",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__BOXED,
                  G_TYPE_NONE, 1, HK_TYPE_EVENT);
  g_signal_set_va_marshaller (signals[EVENT], G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__BOXEDv);

  /**
   * HkWatchdog::batch:
   * @self: the watchdog
   * @events: (element-type Hk.Event): the events of one delivery
   *
   * Emitted on the owner context with every event of one delivery, before
   * the [signal@Hk.Watchdog::event] emissions for them. Useful to update a
   * view once per batch.
   *
   * Since: 1.0
   */
  signals[BATCH] =
    g_signal_new ("batch",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__BOXED,
                  G_TYPE_NONE, 1, G_TYPE_PTR_ARRAY);
  g_signal_set_va_marshaller (signals[BATCH], G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__BOXEDv);

  /**
   * HkWatchdog::overflow:
   * @self: the watchdog
   *
   * Emitted when events were lost: the kernel's queue overflowed, or the
   * owner context did not drain its queue in time. The tree is re-read
   * right after, and what changed meanwhile is reported as synthetic
   * events following this signal.
   *
   * Since: 1.0
   */
  signals[OVERFLOW] =
    g_signal_new ("overflow",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__VOID,
                  G_TYPE_NONE, 0);

  /**
   * HkWatchdog::error:
   * @self: the watchdog
   * @error: what went wrong
   *
   * Emitted when part of the tree cannot be watched as asked: a directory
   * that cannot be read (%G_IO_ERROR_PERMISSION_DENIED), the inotify watch
   * limit reached (%G_IO_ERROR_NO_SPACE, the message names the path and
   * `fs.inotify.max_user_watches`; the subtree is then rescanned
   * periodically instead), or the root deleted, moved away
   * (%G_IO_ERROR_NOT_FOUND) or unmounted (%G_IO_ERROR_NOT_MOUNTED), after
   * which the watchdog stops.
   *
   * Since: 1.0
   */
  signals[ERROR] =
    g_signal_new ("error",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__BOXED,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
  g_signal_set_va_marshaller (signals[ERROR], G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__BOXEDv);
}

static void
hk_watchdog_init (HkWatchdog *self)
{
  self->recursive = TRUE;
  self->wait_for_walk = TRUE;
  self->max_latency = DEFAULT_MAX_LATENCY;
  self->poll_interval = DEFAULT_POLL_INTERVAL;
  self->owner = g_main_context_ref_thread_default ();
  self->handlers = g_ptr_array_new_with_free_func (g_object_unref);
}

/* --- live filter ------------------------------------------------------- */

typedef struct
{
  HkRun         *run;
  HkFilterRules *rules;
} NewRules;

static void
new_rules_free (NewRules *data)
{
  hk_run_unref (data->run);
  g_clear_pointer (&data->rules, hk_filter_rules_unref);
  g_free (data);
}

static void
set_tree_rules_on_worker (HkWorker *worker,
                          gpointer  user_data)
{
  NewRules *data = user_data;

  /* Posted before any free of the tree, so it is still there. */
  if (data->run->tree != NULL)
    hk_tree_set_rules (data->run->tree, data->rules);
}

/* Takes the filter's current rules for the events that follow. */
static void
apply_filter (HkWatchdog *self)
{
  HkRun *run = self->run;
  NewRules *data;

  if (run == NULL)
    return;

  g_clear_pointer (&run->rules, hk_filter_rules_unref);
  run->rules = self->filter != NULL ? hk_filter_dup_rules (self->filter) : NULL;
  configure_queue (self);

  data = g_new0 (NewRules, 1);
  data->run = hk_run_ref (run);
  data->rules = run->rules != NULL ? hk_filter_rules_ref (run->rules) : NULL;
  hk_worker_post (run->worker, set_tree_rules_on_worker, data, (GDestroyNotify) new_rules_free);
}

static gboolean
apply_filter_on_owner (gpointer data)
{
  apply_filter (data);
  return G_SOURCE_REMOVE;
}

/* HkFilter::changed comes on the thread that edited the filter. */
static void
on_filter_changed (HkFilter *filter,
                   gpointer  user_data)
{
  HkWatchdog *self = user_data;

  g_main_context_invoke_full (self->owner, G_PRIORITY_DEFAULT,
                              apply_filter_on_owner,
                              g_object_ref (self), g_object_unref);
}

static gboolean
hk_watchdog_set_filter_internal (HkWatchdog *self,
                                 HkFilter   *filter)
{
  if (self->filter == filter)
    return FALSE;

  if (self->filter != NULL)
    g_clear_signal_handler (&self->filter_changed_id, self->filter);
  g_set_object (&self->filter, filter);
  if (filter != NULL)
    self->filter_changed_id = g_signal_connect (filter, "changed",
                                                G_CALLBACK (on_filter_changed), self);
  apply_filter (self);
  return TRUE;
}

/* --- accessors ---------------------------------------------------------- */

/**
 * hk_watchdog_get_root:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:root].
 *
 * Returns: (transfer none): the root
 *
 * Since: 1.0
 */
GFile *
hk_watchdog_get_root (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), NULL);

  return self->root;
}

#define BOOLEAN_ACCESSORS(field, prop)                                        \
gboolean                                                                      \
hk_watchdog_get_##field (HkWatchdog *self)                                    \
{                                                                             \
  g_return_val_if_fail (HK_IS_WATCHDOG (self), FALSE);                        \
  return self->field;                                                         \
}                                                                             \
                                                                              \
void                                                                          \
hk_watchdog_set_##field (HkWatchdog *self,                                    \
                         gboolean    field)                                   \
{                                                                             \
  g_return_if_fail (HK_IS_WATCHDOG (self));                                   \
  if (self->run != NULL)                                                      \
    CHECK_OWNER_THREAD (self);                                                \
  if (self->field == !!field)                                                 \
    return;                                                                   \
  self->field = !!field;                                                      \
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);               \
}

/**
 * hk_watchdog_get_recursive:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:recursive].
 *
 * Returns: whether subdirectories are watched
 *
 * Since: 1.0
 */
/**
 * hk_watchdog_set_recursive:
 * @self: a watchdog
 * @recursive: whether to watch subdirectories
 *
 * Sets [property@Hk.Watchdog:recursive].
 *
 * Since: 1.0
 */
BOOLEAN_ACCESSORS (recursive, PROP_RECURSIVE)

/**
 * hk_watchdog_get_access_events:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:access-events].
 *
 * Returns: whether open and close-without-write events are reported
 *
 * Since: 1.0
 */
/**
 * hk_watchdog_set_access_events:
 * @self: a watchdog
 * @access_events: whether to report open and close-without-write events
 *
 * Sets [property@Hk.Watchdog:access-events].
 *
 * Since: 1.0
 */
BOOLEAN_ACCESSORS (access_events, PROP_ACCESS_EVENTS)

/**
 * hk_watchdog_get_follow_symlinks:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:follow-symlinks].
 *
 * Returns: whether symbolic links to directories are followed
 *
 * Since: 1.0
 */
/**
 * hk_watchdog_set_follow_symlinks:
 * @self: a watchdog
 * @follow_symlinks: whether to follow symbolic links to directories
 *
 * Sets [property@Hk.Watchdog:follow-symlinks].
 *
 * Since: 1.0
 */
BOOLEAN_ACCESSORS (follow_symlinks, PROP_FOLLOW_SYMLINKS)

/**
 * hk_watchdog_get_wait_for_walk:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:wait-for-walk].
 *
 * Returns: whether `start` always waits for the walk of the whole tree
 *
 * Since: 1.0
 */
/**
 * hk_watchdog_set_wait_for_walk:
 * @self: a watchdog
 * @wait_for_walk: whether `start` always waits for the walk of the tree
 *
 * Sets [property@Hk.Watchdog:wait-for-walk].
 *
 * Since: 1.0
 */
BOOLEAN_ACCESSORS (wait_for_walk, PROP_WAIT_FOR_WALK)

/**
 * hk_watchdog_get_walk_complete:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:walk-complete].
 *
 * Returns: whether the walk of the tree is over
 *
 * Since: 1.0
 */
gboolean
hk_watchdog_get_walk_complete (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), FALSE);
  return self->walk_complete;
}

#undef BOOLEAN_ACCESSORS

/**
 * hk_watchdog_get_filter:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:filter].
 *
 * Returns: (transfer none) (nullable): the filter
 *
 * Since: 1.0
 */
HkFilter *
hk_watchdog_get_filter (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), NULL);

  return self->filter;
}

/**
 * hk_watchdog_set_filter:
 * @self: a watchdog
 * @filter: (nullable): a filter, or %NULL to report everything
 *
 * Sets [property@Hk.Watchdog:filter].
 *
 * Since: 1.0
 */
void
hk_watchdog_set_filter (HkWatchdog *self,
                        HkFilter   *filter)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (filter == NULL || HK_IS_FILTER (filter));
  if (self->run != NULL)
    CHECK_OWNER_THREAD (self);

  if (hk_watchdog_set_filter_internal (self, filter))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILTER]);
}

/**
 * hk_watchdog_get_latency:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:latency].
 *
 * Returns: the coalescing window in milliseconds
 *
 * Since: 1.0
 */
guint
hk_watchdog_get_latency (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), 0);

  return self->latency;
}

/**
 * hk_watchdog_set_latency:
 * @self: a watchdog
 * @latency: the coalescing window in milliseconds, 0 for none
 *
 * Sets [property@Hk.Watchdog:latency].
 *
 * Since: 1.0
 */
void
hk_watchdog_set_latency (HkWatchdog *self,
                         guint       latency)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  if (self->run != NULL)
    CHECK_OWNER_THREAD (self);

  if (self->latency == latency)
    return;
  self->latency = latency;
  if (self->run != NULL)
    configure_queue (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATENCY]);
}

/**
 * hk_watchdog_get_max_latency:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:max-latency].
 *
 * Returns: the longest delay in milliseconds
 *
 * Since: 1.0
 */
guint
hk_watchdog_get_max_latency (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), 0);

  return self->max_latency;
}

/**
 * hk_watchdog_set_max_latency:
 * @self: a watchdog
 * @max_latency: the longest delay in milliseconds
 *
 * Sets [property@Hk.Watchdog:max-latency].
 *
 * Since: 1.0
 */
void
hk_watchdog_set_max_latency (HkWatchdog *self,
                             guint       max_latency)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (max_latency > 0);
  if (self->run != NULL)
    CHECK_OWNER_THREAD (self);

  if (self->max_latency == max_latency)
    return;
  self->max_latency = max_latency;
  if (self->run != NULL)
    configure_queue (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_LATENCY]);
}

/**
 * hk_watchdog_get_running:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:running].
 *
 * Returns: whether the watchdog is watching
 *
 * Since: 1.0
 */
gboolean
hk_watchdog_get_running (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), FALSE);

  return self->running;
}

/**
 * hk_watchdog_get_n_watched_directories:
 * @self: a watchdog
 *
 * Gets how many directories are watched so far. It may be read while
 * [method@Hk.Watchdog.start_async] walks the tree, to show progress.
 *
 * Returns: the number of watched directories, 0 when stopped
 *
 * Since: 1.0
 */
guint
hk_watchdog_get_n_watched_directories (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), 0);

  /* The tree is freed only after the run is dropped. */
  return self->run != NULL ? hk_tree_get_n_watched (self->run->tree) : 0;
}

/**
 * hk_watchdog_add_handler:
 * @self: a watchdog
 * @handler: a handler
 *
 * Adds @handler: for every event that passes the watchdog's filter and the
 * handler's own [property@Hk.EventHandler:filter], its `on_any_event` and
 * then the method for the event's type run, on the owner context, after
 * the [signal@Hk.Watchdog::event] emission for that event. Handlers run in
 * the order they were added.
 *
 * Since: 1.0
 */
void
hk_watchdog_add_handler (HkWatchdog     *self,
                         HkEventHandler *handler)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (HK_IS_EVENT_HANDLER (handler));

  g_ptr_array_add (self->handlers, g_object_ref (handler));
}

/**
 * hk_watchdog_remove_handler:
 * @self: a watchdog
 * @handler: a handler added with [method@Hk.Watchdog.add_handler]
 *
 * Removes @handler. Removing one that was not added does nothing.
 *
 * Since: 1.0
 */
void
hk_watchdog_remove_handler (HkWatchdog     *self,
                            HkEventHandler *handler)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (HK_IS_EVENT_HANDLER (handler));

  g_ptr_array_remove (self->handlers, handler);
}

/**
 * hk_watchdog_get_backend:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:backend].
 *
 * Returns: the backend asked for
 *
 * Since: 1.0
 */
HkBackendKind
hk_watchdog_get_backend (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), HK_BACKEND_KIND_AUTO);

  return self->backend;
}

/**
 * hk_watchdog_set_backend:
 * @self: a watchdog
 * @backend: the backend to use
 *
 * Sets [property@Hk.Watchdog:backend]. Applies at the next start.
 *
 * Since: 1.0
 */
void
hk_watchdog_set_backend (HkWatchdog    *self,
                         HkBackendKind  backend)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (backend <= HK_BACKEND_KIND_POLL);

  if (self->backend == backend)
    return;
  self->backend = backend;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKEND]);
}

/**
 * hk_watchdog_get_active_backend:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:active-backend].
 *
 * Returns: the backend used for the root, %HK_BACKEND_KIND_AUTO before the
 *   first start
 *
 * Since: 1.0
 */
HkBackendKind
hk_watchdog_get_active_backend (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), HK_BACKEND_KIND_AUTO);

  return self->active_backend;
}

/**
 * hk_watchdog_get_backend_reason:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:backend-reason].
 *
 * Returns: (nullable): why the active backend was chosen
 *
 * Since: 1.0
 */
const char *
hk_watchdog_get_backend_reason (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), NULL);

  return self->backend_reason;
}

/**
 * hk_watchdog_get_poll_interval:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:poll-interval].
 *
 * Returns: the interval in milliseconds
 *
 * Since: 1.0
 */
guint
hk_watchdog_get_poll_interval (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), DEFAULT_POLL_INTERVAL);

  return self->poll_interval;
}

/**
 * hk_watchdog_set_poll_interval:
 * @self: a watchdog
 * @poll_interval: the interval in milliseconds, at least 10
 *
 * Sets [property@Hk.Watchdog:poll-interval]. Applies at the next start.
 *
 * Since: 1.0
 */
void
hk_watchdog_set_poll_interval (HkWatchdog *self,
                               guint       poll_interval)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (poll_interval >= 10);

  if (self->poll_interval == poll_interval)
    return;
  self->poll_interval = poll_interval;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_POLL_INTERVAL]);
}

void
hk_watchdog_set_backend_for_testing (HkWatchdog    *self,
                                     HkBackendKind  kind)
{
  self->backend = kind;
}

/**
 * hk_watchdog_get_n_polled_directories:
 * @self: a watchdog
 *
 * Gets how many of the watched directories are only polled because the
 * kernel's watch limit was reached (see `docs/backends.md`). They are
 * covered, with a delay of up to [property@Hk.Watchdog:poll-interval], and
 * take a kernel watch back as soon as one is free.
 *
 * Returns: the number of directories polled for lack of kernel watches
 *
 * Since: 1.0
 */
guint
hk_watchdog_get_n_polled_directories (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), 0);

  return self->run != NULL ? hk_tree_get_n_polled (self->run->tree) : 0;
}

/**
 * hk_watchdog_get_since:
 * @self: a watchdog
 *
 * Gets [property@Hk.Watchdog:since].
 *
 * Returns: (nullable) (transfer none): the snapshot the next start reports
 *   the difference from
 *
 * Since: 1.0
 */
HkSnapshot *
hk_watchdog_get_since (HkWatchdog *self)
{
  g_return_val_if_fail (HK_IS_WATCHDOG (self), NULL);

  return self->since;
}

/**
 * hk_watchdog_set_since:
 * @self: a watchdog
 * @since: (nullable): a snapshot of the tree, or %NULL
 *
 * Sets [property@Hk.Watchdog:since]. Applies at the next start.
 *
 * Since: 1.0
 */
void
hk_watchdog_set_since (HkWatchdog *self,
                       HkSnapshot *since)
{
  g_return_if_fail (HK_IS_WATCHDOG (self));
  g_return_if_fail (since == NULL || HK_IS_SNAPSHOT (since));

  if (g_set_object (&self->since, since))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SINCE]);
}

typedef struct
{
  HkTree     *tree;
  HkSnapshot *snapshot;
} DupSnapshot;

static void
dup_snapshot_on_worker (HkWorker *worker,
                        gpointer  data)
{
  DupSnapshot *dup = data;

  dup->snapshot = hk_tree_dup_snapshot (dup->tree);
}

/**
 * hk_watchdog_dup_snapshot:
 * @self: a running watchdog
 *
 * Gets a snapshot of the tree as the watchdog knows it now: every entry it
 * watches, with its current metadata. It can be saved and given to a later
 * watchdog as [property@Hk.Watchdog:since], so that the next run reports
 * what changed in between.
 *
 * The copy is made on the worker thread while the caller waits; it costs
 * one `stat()` per entry (about as long as [func@Hk.Snapshot.take]).
 *
 * While the walk behind an early `start` goes on
 * ([property@Hk.Watchdog:walk-complete] still %FALSE), the snapshot has
 * only what the walk read so far.
 *
 * Returns: (transfer full) (nullable): a snapshot, or %NULL when the
 *   watchdog is not running
 *
 * Since: 1.0
 */
HkSnapshot *
hk_watchdog_dup_snapshot (HkWatchdog *self)
{
  DupSnapshot dup = { 0 };

  g_return_val_if_fail (HK_IS_WATCHDOG (self), NULL);

  if (!self->running || self->run == NULL)
    return NULL;

  dup.tree = self->run->tree;
  hk_worker_call (self->worker, dup_snapshot_on_worker, &dup);
  return dup.snapshot;
}
