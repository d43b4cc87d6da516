/* hk-gio-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hk-backend-private.h"

/* GIO: one GFileMonitor per directory, as GLib provides it on the platform
 * (inotify on Linux, kqueue on the BSDs and macOS, ReadDirectoryChangesW on
 * Windows). The key of a directory is its WatchedDir; the same directory
 * (device and inode) watched again gets the same key.
 *
 * Monitors are created on the worker with the worker's context as
 * thread-default, so their "changed" signals arrive there. Each monitor
 * dispatches from a GSource of its own, so events of *different*
 * directories may arrive out of the kernel's order. Two consequences:
 *
 * - A move between two directories arrives as MOVED_OUT at the source and
 *   MOVED_IN at the destination, each naming the other side. The move is
 *   reported when the source's half arrives (in the source directory's
 *   order). A destination's half that comes first is held, with the events
 *   of its directory behind it, until the source's half or an idle moment.
 * - GLib stops a monitor whose directory is moved (it reports the
 *   directory "deleted"). At an idle moment, once the tree has seen the
 *   move, a directory still on disk gets a new monitor at its new path and
 *   is re-read.
 *
 * GIO's events do not say whether an entry is a directory; the backend
 * looks, and an entry gone before it could look waits for its next event
 * (see Unresolved). */

/* The other half of a reported move is expected for this long. */
#define EXPECT_US (2 * G_USEC_PER_SEC)
/* A stopped monitor may have missed changes since a little before its
 * directory-gone event arrived. */
#define RESTART_SLACK_NS (100 * G_GINT64_CONSTANT (1000000))
/* How often directories waiting for the tree to learn of a rename look
 * again: from RETRY_MIN_MS, doubling while they wait, up to RETRY_MAX_MS. */
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 1000
/* An arrival not found where it should be waits at least this long for
 * its next event, which GLib may still hold (it pairs renames and batches
 * what it reads before handing it to the monitors). */
#define ARRIVAL_WAIT_US (3 * G_USEC_PER_SEC)

typedef struct _HkGioBackend HkGioBackend;

typedef struct
{
  HkGioBackend *backend;
  dev_t         dev;
  ino_t         ino;
  char         *path;        /* as the monitor was created: GIO names files under it */
  GFileMonitor *monitor;
  HkWatchFlags  flags;
  GQueue        held;        /* HeldEvent: behind a move's early destination half */
  GHashTable   *unresolved;  /* name -> Unresolved: arrived, gone before we saw its kind */
  gint64        stopped_ns;  /* realtime the monitor stopped, 0 while it runs */
  guint         gone_reported : 1;  /* SELF_DELETED sent while stopped */
} WatchedDir;

typedef struct
{
  GFile             *file;
  GFile             *other;
  GFileMonitorEvent  event;
} HeldEvent;

struct _HkGioBackend
{
  HkBackend     parent;
  GMainContext *context;
  GHashTable   *dirs;       /* WatchedDir (key), by device and inode */
  GHashTable   *by_path;    /* monitor path -> WatchedDir, for the other side of moves */
  GHashTable   *expected;   /* "<dir>/<name>" -> monotonic deadline */
  GSource      *idle;
  GSource      *retry;
  guint         retry_ms;   /* the last retry's delay */
};

static gboolean hk_gio_backend_idle (gpointer data);

static gint64
realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static guint
dir_hash (gconstpointer key)
{
  const WatchedDir *dir = key;

  return (guint) dir->ino ^ (guint) dir->dev * 2654435761u;
}

static gboolean
dir_equal (gconstpointer a,
           gconstpointer b)
{
  const WatchedDir *da = a, *db = b;

  return da->dev == db->dev && da->ino == db->ino;
}

static void
held_event_free (HeldEvent *held)
{
  g_clear_object (&held->file);
  g_clear_object (&held->other);
  g_free (held);
}

static void
stop_monitor (WatchedDir *dir)
{
  if (dir->monitor == NULL)
    return;
  g_signal_handlers_disconnect_by_data (dir->monitor, dir);
  g_file_monitor_cancel (dir->monitor);
  g_clear_object (&dir->monitor);
  if (g_hash_table_lookup (dir->backend->by_path, dir->path) == dir)
    g_hash_table_remove (dir->backend->by_path, dir->path);
}

static void
watched_dir_free (WatchedDir *dir)
{
  stop_monitor (dir);
  g_queue_clear_full (&dir->held, (GDestroyNotify) held_event_free);
  g_clear_pointer (&dir->unresolved, g_hash_table_unref);
  g_free (dir->path);
  g_free (dir);
}

static void
schedule_idle (HkGioBackend *self)
{
  if (self->idle != NULL)
    return;

  /* Below the monitors' priority: runs once every monitor with something
   * queued has delivered it. */
  self->idle = g_idle_source_new ();
  g_source_set_priority (self->idle, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (self->idle, hk_gio_backend_idle, self, NULL);
  g_source_set_static_name (self->idle, "[hachiko] gio");
  g_source_attach (self->idle, self->context);
}

static void on_monitor_changed (GFileMonitor      *monitor,
                                GFile             *file,
                                GFile             *other,
                                GFileMonitorEvent  event,
                                gpointer           data);

static gboolean
start_monitor (WatchedDir  *dir,
               const char  *path,
               GError     **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) local_error = NULL;
  HkGioBackend *self = dir->backend;

  /* GIO attaches the monitor to the thread-default context: the worker's. */
  g_main_context_push_thread_default (self->context);
  dir->monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &local_error);
  g_main_context_pop_thread_default (self->context);

  if (dir->monitor == NULL)
    {
      g_autofree char *display = g_filename_display_name (path);

      g_set_error (error, G_IO_ERROR,
                   local_error->domain == G_IO_ERROR ? local_error->code : G_IO_ERROR_FAILED,
                   "Cannot watch “%s” with GIO: %s", display, local_error->message);
      return FALSE;
    }

  /* No rate limit: every CHANGED is passed on; the coalescer is the place
   * to merge them. */
  g_file_monitor_set_rate_limit (dir->monitor, 0);
  g_signal_connect (dir->monitor, "changed", G_CALLBACK (on_monitor_changed), dir);

  g_free (dir->path);
  dir->path = g_strdup (path);
  dir->stopped_ns = 0;
  g_hash_table_replace (self->by_path, dir->path, dir);
  return TRUE;
}

/* The name of @file in @dir; NULL when @file is @dir itself (*is_self
 * set) or lies elsewhere. */
static char *
child_name (WatchedDir *dir,
            GFile      *file,
            gboolean   *is_self)
{
  g_autofree char *path = g_file_get_path (file);
  gsize len = strlen (dir->path);
  const char *name;

  *is_self = FALSE;
  if (path == NULL)
    return NULL;
  if (strcmp (path, dir->path) == 0)
    {
      *is_self = TRUE;
      return NULL;
    }
  if (strncmp (path, dir->path, len) != 0)
    return NULL;
  name = path + len;
  if (len > 0 && dir->path[len - 1] != '/')
    {
      if (*name != '/')
        return NULL;
      name++;
    }
  if (*name == '\0' || strchr (name, '/') != NULL)
    return NULL;
  return g_strdup (name);
}

/* The watched directory @file lies in, and its name there. */
static WatchedDir *
locate (HkGioBackend  *self,
        GFile         *file,
        char         **name)
{
  g_autoptr(GFile) parent = file != NULL ? g_file_get_parent (file) : NULL;
  g_autofree char *parent_path = parent != NULL ? g_file_get_path (parent) : NULL;
  WatchedDir *dir;

  if (parent_path == NULL)
    return NULL;
  dir = g_hash_table_lookup (self->by_path, parent_path);
  if (dir == NULL || !hk_backend_has_key (&self->parent, dir))
    return NULL;
  *name = g_file_get_basename (file);
  return dir;
}

/* GIO's events do not say whether the entry is a directory: look. -1 when
 * it is gone already. */
static int
kind_at (HkGioBackend *self,
         WatchedDir   *dir,
         const char   *name)
{
  g_autofree char *dir_path = hk_backend_dup_path (&self->parent, dir);
  g_autofree char *path = NULL;
  struct stat st;

  if (dir_path == NULL)
    return -1;
  path = g_build_filename (dir_path, name, NULL);
  if ((dir->flags & HK_WATCH_FOLLOW_SYMLINK) ? stat (path, &st) : lstat (path, &st))
    return -1;
  return S_ISDIR (st.st_mode);
}

static gboolean
is_directory_at (HkGioBackend *self,
                 WatchedDir   *dir,
                 const char   *name)
{
  return kind_at (self, dir, name) == TRUE;
}

/* Whether the entry @file of an event is a directory; when it cannot be
 * found on disk any more (a parent renamed meanwhile), whether we watch a
 * directory under GIO's name for it. */
static gboolean
is_directory_entry (HkGioBackend *self,
                    WatchedDir   *dir,
                    const char   *name,
                    GFile        *file)
{
  g_autofree char *path = NULL;
  int kind = kind_at (self, dir, name);

  if (kind >= 0)
    return kind;
  path = g_file_get_path (file);
  return path != NULL && g_hash_table_contains (self->by_path, path);
}

/* An entry that arrived and was gone (renamed, deleted) before its event
 * was handled: its kind is unknown until its next event says where it
 * went, so its arrival, and what happened to it meanwhile, waits for
 * that. A directory taken for a file would never be read. */
typedef struct
{
  HkChange  arrival;
  GArray   *changes;  /* HkChange: modified, attributes, closed */
  gint64    since_us; /* monotonic */
} Unresolved;

static void
unresolved_free (Unresolved *unresolved)
{
  g_array_unref (unresolved->changes);
  g_free (unresolved);
}

static void
defer_arrival (WatchedDir *dir,
               const char *name,
               HkChange    change)
{
  Unresolved *unresolved = g_new0 (Unresolved, 1);

  unresolved->arrival = change;
  unresolved->since_us = g_get_monotonic_time ();
  unresolved->changes = g_array_new (FALSE, FALSE, sizeof (HkChange));
  if (dir->unresolved == NULL)
    dir->unresolved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) unresolved_free);
  g_hash_table_replace (dir->unresolved, g_strdup (name), unresolved);
}

/* Whether @name's arrival waits; then @change waits with it. */
static gboolean
defer_change (WatchedDir *dir,
              const char *name,
              HkChange    change)
{
  Unresolved *unresolved = dir->unresolved != NULL ? g_hash_table_lookup (dir->unresolved, name) : NULL;

  if (unresolved == NULL)
    return FALSE;
  g_array_append_val (unresolved->changes, change);
  return TRUE;
}

/* Reports the deferred arrival of @name, if any, as a directory or not,
 * and what happened to it meanwhile. */
static void
resolve_arrival (HkGioBackend *self,
                 WatchedDir   *dir,
                 const char   *name,
                 gboolean      is_directory)
{
  g_autofree char *key = NULL;
  Unresolved *unresolved = NULL;
  gint64 now = g_get_monotonic_time ();

  if (dir->unresolved == NULL ||
      !g_hash_table_steal_extended (dir->unresolved, name, (gpointer *) &key, (gpointer *) &unresolved))
    return;
  hk_backend_report_change (&self->parent, dir, name, unresolved->arrival, is_directory, now);
  for (guint i = 0; i < unresolved->changes->len && hk_backend_has_key (&self->parent, dir); i++)
    {
      HkChange change = g_array_index (unresolved->changes, HkChange, i);

      if (!is_directory || change != HK_CHANGE_CLOSED_WRITE)
        hk_backend_report_change (&self->parent, dir, name, change, is_directory, now);
    }
  unresolved_free (unresolved);
}

static void
report_arrival (HkGioBackend *self,
                WatchedDir   *dir,
                const char   *name,
                HkChange      change)
{
  int kind = kind_at (self, dir, name);

  if (dir->unresolved != NULL)
    g_hash_table_remove (dir->unresolved, name);
  if (kind < 0)
    {
      defer_arrival (dir, name, change);
      schedule_idle (self);
    }
  else
    hk_backend_report_change (&self->parent, dir, name, change, kind, g_get_monotonic_time ());
}

static char *
expect_key (WatchedDir *dir,
            const char *name,
            char        half)
{
  return g_strdup_printf ("%c%p/%s", half, (gpointer) dir, name);
}

/* Consumes the expectation of @half of a move at @dir/@name, if any. */
static gboolean
take_expected (HkGioBackend *self,
               WatchedDir   *dir,
               const char   *name,
               char          half)
{
  g_autofree char *key = expect_key (dir, name, half);
  gint64 now = g_get_monotonic_time ();
  gpointer deadline;
  GHashTableIter iter;
  gboolean found = FALSE;

  if (g_hash_table_lookup_extended (self->expected, key, NULL, &deadline))
    {
      found = GPOINTER_TO_SIZE (deadline) >= (gsize) now;
      g_hash_table_remove (self->expected, key);
    }

  /* Halves that never came (their monitor was stopped) expire. */
  g_hash_table_iter_init (&iter, self->expected);
  while (g_hash_table_iter_next (&iter, NULL, &deadline))
    if (GPOINTER_TO_SIZE (deadline) < (gsize) now)
      g_hash_table_iter_remove (&iter);

  return found;
}

static void
expect (HkGioBackend *self,
        WatchedDir   *dir,
        const char   *name,
        char          half)
{
  g_hash_table_replace (self->expected, expect_key (dir, name, half),
                        GSIZE_TO_POINTER ((gsize) (g_get_monotonic_time () + EXPECT_US)));
}

static void replay_held (HkGioBackend *self, WatchedDir *dir);

/* The arrival at @dir/@name still waits for its kind; @event is the next
 * one about it. Returns TRUE when @event was taken care of. */
static gboolean
settle_unresolved (HkGioBackend      *self,
                   WatchedDir        *dir,
                   const char        *name,
                   GFile             *file,
                   GFile             *other,
                   GFileMonitorEvent  event)
{
  g_autofree char *other_name = NULL;
  g_autofree char *old_key = NULL;
  WatchedDir *where = NULL;
  Unresolved *unresolved;
  int kind;

  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CHANGED:
      return defer_change (dir, name, HK_CHANGE_MODIFIED);
    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
      return defer_change (dir, name, HK_CHANGE_ATTRIBUTES);
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
      return defer_change (dir, name, HK_CHANGE_CLOSED_WRITE);
    case G_FILE_MONITOR_EVENT_RENAMED:
      if (other != NULL)
        {
          where = dir;
          other_name = g_file_get_basename (other);
        }
      break;
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      where = locate (self, other, &other_name);
      break;
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
      /* Another arrival at the name (the first was replaced, or deleted
       * and made again): the tree never heard of the first, so one
       * arrival, still waiting, stands for both. A move from a watched
       * directory is a move, though. */
      if (event == G_FILE_MONITOR_EVENT_CREATED || locate (self, other, &other_name) == NULL)
        return TRUE;
      g_clear_pointer (&other_name, g_free);
      break;
    default:
      break;
    }

  if (where == NULL)
    {
      /* Gone for good (deleted, moved out of every watch): a file as far
       * as anyone can tell. */
      resolve_arrival (self, dir, name, FALSE);
      return FALSE;
    }

  kind = kind_at (self, where, other_name);
  if (kind >= 0)
    {
      resolve_arrival (self, dir, name, kind);
      return FALSE;
    }

  /* Still not found where it went (a parent renamed meanwhile). The tree
   * may know the entry already (the read of a new directory found it):
   * the rename is reported for that, and the arrival waits at the new
   * name as a move in, which the tree drops if the move made it known, or
   * takes as a replacement with the right kind if it did not. */
  hk_backend_report_move (&self->parent, dir, name, where, other_name, FALSE,
                          g_get_monotonic_time ());
  if (!hk_backend_has_key (&self->parent, dir) || !hk_backend_has_key (&self->parent, where))
    return TRUE;
  g_hash_table_steal_extended (dir->unresolved, name, (gpointer *) &old_key, (gpointer *) &unresolved);
  unresolved->arrival = HK_CHANGE_MOVED_IN;
  unresolved->since_us = g_get_monotonic_time ();  /* its wait starts again at the new name */
  if (where->unresolved == NULL)
    where->unresolved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) unresolved_free);
  g_hash_table_replace (where->unresolved, g_strdup (other_name), unresolved);
  if (where != dir)
    {
      HeldEvent *head = g_queue_peek_head (&where->held);

      /* Its destination half, held or still to come, is taken care of. */
      if (head != NULL && head->event == G_FILE_MONITOR_EVENT_MOVED_IN &&
          head->other != NULL && g_file_equal (head->other, file))
        {
          held_event_free (g_queue_pop_head (&where->held));
          replay_held (self, where);
        }
      else
        expect (self, where, other_name, 'i');
    }
  schedule_idle (self);
  return TRUE;
}

/* Whether moving @from_dir/@from_name into @to_dir would put a directory
 * inside itself, as the tree sees the tree now. Events of different
 * directories arrive out of the kernel's order (one GSource per monitor):
 * "mv d/e f; mv d f/d" may arrive second move first, when the tree still
 * has f as d/e. Such a move waits for the one that makes it possible. */
static gboolean
move_would_nest (HkGioBackend *self,
                 WatchedDir   *from_dir,
                 const char   *from_name,
                 WatchedDir   *to_dir)
{
  g_autofree char *from_parent = hk_backend_dup_path (&self->parent, from_dir);
  g_autofree char *to_path = hk_backend_dup_path (&self->parent, to_dir);
  g_autofree char *moved = NULL;
  gsize len;

  if (from_parent == NULL || to_path == NULL)
    return FALSE;
  moved = g_build_filename (from_parent, from_name, NULL);
  len = strlen (moved);
  return strncmp (to_path, moved, len) == 0 && (to_path[len] == '\0' || to_path[len] == '/');
}

/* A move the tree cannot take as one (see move_would_nest()), still
 * impossible at an idle moment: reported as what each side saw. */
static void
report_move_as_halves (HkGioBackend *self,
                       WatchedDir   *from_dir,
                       const char   *from_name,
                       WatchedDir   *to_dir,
                       const char   *to_name)
{
  gint64 now = g_get_monotonic_time ();

  hk_backend_report_change (&self->parent, from_dir, from_name, HK_CHANGE_MOVED_OUT, FALSE, now);
  if (hk_backend_has_key (&self->parent, to_dir))
    hk_backend_report_change (&self->parent, to_dir, to_name, HK_CHANGE_MOVED_IN,
                              is_directory_at (self, to_dir, to_name), now);
}

/* Translates one GIO event. Returns FALSE when it must wait (the
 * destination half of a move whose source half has not arrived). */
static gboolean
translate (HkGioBackend      *self,
           WatchedDir        *dir,
           GFile             *file,
           GFile             *other,
           GFileMonitorEvent  event,
           gboolean           flushing)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *name = NULL;
  g_autofree char *other_name = NULL;
  WatchedDir *other_dir;
  gboolean is_self;

  name = child_name (dir, file, &is_self);
  if (name == NULL && !is_self)
    return TRUE;

  if (is_self)
    {
      switch (event)
        {
        case G_FILE_MONITOR_EVENT_DELETED:
        case G_FILE_MONITOR_EVENT_MOVED:
        case G_FILE_MONITOR_EVENT_MOVED_OUT:
          /* Deleted or moved: GLib stopped the monitor. Sorted out once
           * the tree has seen its parent's event. */
          dir->stopped_ns = realtime_ns () - RESTART_SLACK_NS;
          dir->gone_reported = FALSE;
          stop_monitor (dir);
          schedule_idle (self);
          break;
        case G_FILE_MONITOR_EVENT_UNMOUNTED:
          hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_SELF_UNMOUNTED, TRUE, now);
          break;
        case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
          hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_ATTRIBUTES, TRUE, now);
          break;
        case G_FILE_MONITOR_EVENT_CHANGED:
          hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_MODIFIED, TRUE, now);
          break;
        default:
          break;
        }
      return TRUE;
    }

  /* An arrival waiting for its kind: this event may say where it went. */
  if (dir->unresolved != NULL && g_hash_table_contains (dir->unresolved, name))
    {
      if (settle_unresolved (self, dir, name, file, other, event))
        return TRUE;
      if (!hk_backend_has_key (&self->parent, dir))
        return TRUE;
    }

  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CREATED:
      report_arrival (self, dir, name, HK_CHANGE_CREATED);
      break;

    case G_FILE_MONITOR_EVENT_DELETED:
      hk_backend_report_change (&self->parent, dir, name, HK_CHANGE_DELETED, FALSE, now);
      break;

    case G_FILE_MONITOR_EVENT_CHANGED:
      hk_backend_report_change (&self->parent, dir, name, HK_CHANGE_MODIFIED,
                                is_directory_entry (self, dir, name, file), now);
      break;

    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
      hk_backend_report_change (&self->parent, dir, name, HK_CHANGE_ATTRIBUTES,
                                is_directory_entry (self, dir, name, file), now);
      break;

    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
      /* GIO sends it for new directories and links too, and after two
       * seconds without a close ("virtual"): only a file's is a close. */
      if (!is_directory_entry (self, dir, name, file))
        hk_backend_report_change (&self->parent, dir, name, HK_CHANGE_CLOSED_WRITE, FALSE, now);
      break;

    case G_FILE_MONITOR_EVENT_RENAMED:
      other_name = other != NULL ? g_file_get_basename (other) : NULL;
      if (other_name != NULL)
        hk_backend_report_move (&self->parent, dir, name, dir, other_name,
                                is_directory_at (self, dir, other_name), now);
      break;

    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      other_dir = locate (self, other, &other_name);
      if (other_dir == NULL)
        {
          hk_backend_report_change (&self->parent, dir, name, HK_CHANGE_MOVED_OUT, FALSE, now);
          break;
        }
      if (take_expected (self, dir, name, 'o'))
        break;  /* reported when its destination half came first */
      if (move_would_nest (self, dir, name, other_dir))
        {
          if (!flushing)
            return FALSE;
          report_move_as_halves (self, dir, name, other_dir, other_name);
        }
      else
        hk_backend_report_move (&self->parent, dir, name, other_dir, other_name,
                                is_directory_at (self, other_dir, other_name), now);
      if (hk_backend_has_key (&self->parent, other_dir) && !g_queue_is_empty (&other_dir->held))
        {
          HeldEvent *head = g_queue_peek_head (&other_dir->held);

          if (head->event == G_FILE_MONITOR_EVENT_MOVED_IN &&
              head->other != NULL && g_file_equal (head->other, file))
            {
              held_event_free (g_queue_pop_head (&other_dir->held));
              replay_held (self, other_dir);
              break;
            }
        }
      expect (self, other_dir, other_name, 'i');
      break;

    case G_FILE_MONITOR_EVENT_MOVED_IN:
      other_dir = locate (self, other, &other_name);
      if (other_dir == NULL)
        {
          report_arrival (self, dir, name, HK_CHANGE_MOVED_IN);
          break;
        }
      if (take_expected (self, dir, name, 'i'))
        break;  /* reported with its source half */
      if (!flushing)
        return FALSE;

      /* The source half did not come by an idle moment: report it now. */
      if (move_would_nest (self, other_dir, other_name, dir))
        report_move_as_halves (self, other_dir, other_name, dir, name);
      else
        hk_backend_report_move (&self->parent, other_dir, other_name, dir, name,
                                is_directory_at (self, dir, name), now);
      expect (self, other_dir, other_name, 'o');
      break;

    case G_FILE_MONITOR_EVENT_UNMOUNTED:
    case G_FILE_MONITOR_EVENT_PRE_UNMOUNT:
    case G_FILE_MONITOR_EVENT_MOVED:
    default:
      break;
    }

  return TRUE;
}

static void
hold (WatchedDir        *dir,
      GFile             *file,
      GFile             *other,
      GFileMonitorEvent  event,
      gboolean           at_head)
{
  HeldEvent *held = g_new0 (HeldEvent, 1);

  held->file = g_object_ref (file);
  held->other = other != NULL ? g_object_ref (other) : NULL;
  held->event = event;
  if (at_head)
    g_queue_push_head (&dir->held, held);
  else
    g_queue_push_tail (&dir->held, held);
}

/* Delivers @dir's held events until one must wait again. */
static void
replay_directory (HkGioBackend *self,
                  WatchedDir   *dir,
                  gboolean      flushing)
{
  while (hk_backend_has_key (&self->parent, dir) && !g_queue_is_empty (&dir->held))
    {
      HeldEvent *held = g_queue_pop_head (&dir->held);

      if (!translate (self, dir, held->file, held->other, held->event, flushing))
        {
          g_queue_push_head (&dir->held, held);
          schedule_idle (self);
          return;
        }
      held_event_free (held);
    }
}

static void
replay_held (HkGioBackend *self,
             WatchedDir   *dir)
{
  replay_directory (self, dir, FALSE);
}

static void
on_monitor_changed (GFileMonitor      *monitor,
                    GFile             *file,
                    GFile             *other,
                    GFileMonitorEvent  event,
                    gpointer           data)
{
  WatchedDir *dir = data;
  HkGioBackend *self = dir->backend;

  if (!hk_backend_has_key (&self->parent, dir))
    return;

  if (!g_queue_is_empty (&dir->held))
    {
      hold (dir, file, other, event, FALSE);
      return;
    }

  if (!translate (self, dir, file, other, event, FALSE))
    {
      hold (dir, file, other, event, TRUE);
      schedule_idle (self);
    }
}

static gboolean
on_retry (gpointer data)
{
  HkGioBackend *self = data;

  g_clear_pointer (&self->retry, g_source_unref);
  schedule_idle (self);
  return G_SOURCE_REMOVE;
}

/* Looks again later, backing off while nothing moves: the tree may be slow
 * to learn of a rename (a loaded machine), and waiting costs nothing. */
static void
schedule_retry (HkGioBackend *self)
{
  if (self->retry != NULL)
    return;
  self->retry_ms = CLAMP (self->retry_ms * 2, RETRY_MIN_MS, RETRY_MAX_MS);
  self->retry = g_timeout_source_new (self->retry_ms);
  g_source_set_callback (self->retry, on_retry, self, NULL);
  g_source_set_static_name (self->retry, "[hachiko] gio retry");
  g_source_attach (self->retry, self->context);
}

/* Whether the tree's path for @dir leads to it: FALSE while the tree has
 * not yet learned that @dir or a parent was renamed. */
static gboolean
path_is_current (HkGioBackend *self,
                 WatchedDir   *dir,
                 char        **path_out)
{
  g_autofree char *path = hk_backend_dup_path (&self->parent, dir);
  struct stat st;

  if (path == NULL || lstat (path, &st) != 0 || !S_ISDIR (st.st_mode) ||
      st.st_dev != dir->dev || st.st_ino != dir->ino)
    return FALSE;
  if (path_out != NULL)
    *path_out = g_steal_pointer (&path);
  return TRUE;
}

/* A directory whose monitor GLib stopped: moved (watched again where it is
 * now, and re-read) or gone. Until the tree's path leads to it again it
 * is reported gone, once: a root is gone for good; a subdirectory's report
 * is ignored and its parent's event either removes its watch (deleted,
 * moved out) or gives it its new path (moved), then it restarts. */
static void
restart_stopped (HkGioBackend *self,
                 WatchedDir   *dir)
{
  g_autofree char *path = NULL;
  gint64 now = g_get_monotonic_time ();
  gint64 since_ns = dir->stopped_ns;

  if (!path_is_current (self, dir, &path))
    {
      if (!dir->gone_reported)
        {
          dir->gone_reported = TRUE;
          hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_SELF_DELETED, TRUE, now);
        }
      if (hk_backend_has_key (&self->parent, dir))
        schedule_retry (self);
      return;
    }

  if (!start_monitor (dir, path, NULL))
    {
      dir->stopped_ns = 0;
      hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_SELF_DELETED, TRUE, now);
      return;
    }

  hk_backend_report_rescan (&self->parent, dir, HK_RESCAN_ENTRIES, since_ns, realtime_ns (), now);
  hk_backend_report_rescan_done (&self->parent, now);
}

/* Arrivals nothing more was said about yet. While the tree's path for the
 * directory is stale (a parent renamed, the tree not told yet) the entry
 * may well be there: look again later. Once the path is current, and the
 * entry was given ARRIVAL_WAIT_US for its next event and still is not
 * found, it went away without an event we can see: a file, as far as
 * anyone can tell. */
static void
flush_unresolved (HkGioBackend *self,
                  WatchedDir   *dir)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  Unresolved *unresolved;
  const char *name;

  if (dir->unresolved == NULL)
    return;
  g_hash_table_iter_init (&iter, dir->unresolved);
  while (g_hash_table_iter_next (&iter, (gpointer *) &name, (gpointer *) &unresolved))
    g_ptr_array_add (names, g_strdup (name));

  for (guint i = 0; i < names->len && hk_backend_has_key (&self->parent, dir); i++)
    {
      int kind;

      name = g_ptr_array_index (names, i);
      unresolved = g_hash_table_lookup (dir->unresolved, name);
      if (unresolved == NULL)
        continue;
      kind = kind_at (self, dir, name);
      if (kind < 0 &&
          (g_get_monotonic_time () < unresolved->since_us + ARRIVAL_WAIT_US ||
           !path_is_current (self, dir, NULL)))
        {
          schedule_retry (self);
          continue;
        }
      resolve_arrival (self, dir, name, kind == TRUE);
    }
}

/* The directory with @lookup's device and inode, if still watched. */
static WatchedDir *
find_dir (HkGioBackend     *self,
          const WatchedDir *lookup)
{
  WatchedDir *dir = g_hash_table_lookup (self->dirs, lookup);

  return dir != NULL && hk_backend_has_key (&self->parent, dir) ? dir : NULL;
}

static gboolean
hk_gio_backend_idle (gpointer data)
{
  HkGioBackend *self = data;
  g_autoptr(GArray) pending = g_array_new (FALSE, TRUE, sizeof (WatchedDir));
  GHashTableIter iter;
  WatchedDir *dir;

  g_clear_pointer (&self->idle, g_source_unref);

  /* Collected by identity, not pointer: reports add and remove watches,
   * freeing directories. */
  g_hash_table_iter_init (&iter, self->dirs);
  while (g_hash_table_iter_next (&iter, (gpointer *) &dir, NULL))
    if (dir->stopped_ns != 0 || !g_queue_is_empty (&dir->held) ||
        (dir->unresolved != NULL && g_hash_table_size (dir->unresolved) > 0))
      {
        WatchedDir lookup = { .dev = dir->dev, .ino = dir->ino };

        g_array_append_val (pending, lookup);
      }

  for (guint i = 0; i < pending->len; i++)
    {
      dir = find_dir (self, &g_array_index (pending, WatchedDir, i));
      if (dir != NULL)
        replay_directory (self, dir, TRUE);
      dir = find_dir (self, &g_array_index (pending, WatchedDir, i));
      if (dir != NULL)
        flush_unresolved (self, dir);
    }

  for (guint i = 0; i < pending->len; i++)
    {
      dir = find_dir (self, &g_array_index (pending, WatchedDir, i));
      if (dir != NULL && dir->stopped_ns != 0)
        restart_stopped (self, dir);
    }

  /* Nothing left waiting: the next wait starts with short retries. */
  if (self->retry == NULL)
    self->retry_ms = 0;

  return G_SOURCE_REMOVE;
}

static gboolean
hk_gio_backend_add_watch (HkBackend     *backend,
                          const char    *path,
                          HkWatchFlags   flags,
                          gpointer      *key,
                          GError       **error)
{
  HkGioBackend *self = (HkGioBackend *) backend;
  WatchedDir *dir, lookup = { 0 };
  struct stat st;

  if (!hk_backend_stat_dir (path, flags, &st, error))
    return FALSE;

  lookup.dev = st.st_dev;
  lookup.ino = st.st_ino;
  dir = g_hash_table_lookup (self->dirs, &lookup);
  if (dir == NULL)
    {
      dir = g_new0 (WatchedDir, 1);
      dir->backend = self;
      dir->dev = st.st_dev;
      dir->ino = st.st_ino;
      dir->flags = flags;
      g_queue_init (&dir->held);
      if (!start_monitor (dir, path, error))
        {
          watched_dir_free (dir);
          return FALSE;
        }
      g_hash_table_add (self->dirs, dir);
    }

  *key = dir;
  return TRUE;
}

static void
hk_gio_backend_remove_watch (HkBackend *backend,
                             gpointer   key)
{
  HkGioBackend *self = (HkGioBackend *) backend;

  g_hash_table_remove (self->dirs, key);
}

static HkBackend *
hk_gio_backend_create (GMainContext  *context,
                       GError       **error)
{
  HkGioBackend *self = g_new0 (HkGioBackend, 1);

  self->context = g_main_context_ref (context);
  self->dirs = g_hash_table_new_full (dir_hash, dir_equal, (GDestroyNotify) watched_dir_free, NULL);
  self->by_path = g_hash_table_new (g_str_hash, g_str_equal);
  self->expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return &self->parent;
}

static void
hk_gio_backend_destroy (HkBackend *backend)
{
  HkGioBackend *self = (HkGioBackend *) backend;

  if (self->idle != NULL)
    {
      g_source_destroy (self->idle);
      g_clear_pointer (&self->idle, g_source_unref);
    }
  if (self->retry != NULL)
    {
      g_source_destroy (self->retry);
      g_clear_pointer (&self->retry, g_source_unref);
    }
  g_hash_table_unref (self->dirs);
  g_hash_table_unref (self->by_path);
  g_hash_table_unref (self->expected);
  g_main_context_unref (self->context);
  g_free (self);
}

const HkBackendClass hk_gio_backend_class = {
  .name = "gio",
  .kind = HK_BACKEND_KIND_GIO,
  .caps = HK_BACKEND_CAP_PAIRS_MOVES | HK_BACKEND_CAP_NEEDS_PATH,
  .create = hk_gio_backend_create,
  .destroy = hk_gio_backend_destroy,
  .add_watch = hk_gio_backend_add_watch,
  .remove_watch = hk_gio_backend_remove_watch,
};
