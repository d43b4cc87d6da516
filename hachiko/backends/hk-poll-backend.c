/* hk-poll-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "hk-backend-private.h"

/* Polling: for filesystems that report nothing (network, FUSE) and for
 * directories past the kernel's watch limit. The only backend with a timer,
 * and only while it polls something.
 *
 * A round stats each polled directory. When its mtime or ctime moved, its
 * names changed and the client re-reads it; otherwise the client only
 * checks its files' ctimes against the round's window. Windows are taken
 * from CLOCK_REALTIME_COARSE, the clock the kernel stamps files with, and
 * follow each other without gap or overlap, so each change is seen by
 * exactly one round. */

#define DEFAULT_INTERVAL_MS 1000

typedef struct
{
  dev_t  dev;
  ino_t  ino;
  gint64 mtime_ns;
  gint64 ctime_ns;
  gint64 round_ns;     /* end of the last round's window */
  gint64 due_us;       /* monotonic time of the next round */
  guint  interval_ms;
  guint  interval_set : 1;  /* a client asked for an interval */
  guint  recent : 1;        /* its times are from the tick it was read in */
} PolledDir;

typedef struct
{
  HkBackend     parent;
  GMainContext *context;
  GSource      *timer;
  guint         timer_ms;
  GHashTable   *dirs;    /* PolledDir (key) */
} HkPollBackend;

static gint64
coarse_realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME_COARSE, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gint64
timespec_ns (const struct timespec *ts)
{
  return (gint64) ts->tv_sec * G_GINT64_CONSTANT (1000000000) + ts->tv_nsec;
}

/* Files are stamped from the coarse clock: two changes within one of its
 * ticks leave a directory with the same times. A directory whose times are
 * that close to the moment it was read may have changed again after the
 * read without its times moving, so it is read once more, next round. */
static gint64
coarse_tick_ns (void)
{
  static gsize tick_ns;

  if (g_once_init_enter (&tick_ns))
    {
      struct timespec res;
      gint64 ns = clock_getres (CLOCK_REALTIME_COARSE, &res) == 0
        ? MAX (2 * timespec_ns (&res), 10 * G_GINT64_CONSTANT (1000000))
        : 20 * G_GINT64_CONSTANT (1000000);

      g_once_init_leave (&tick_ns, (gsize) ns);
    }
  return (gint64) tick_ns;
}

static gboolean
times_are_recent (const struct stat *st,
                  gint64             read_at_ns)
{
  return MAX (timespec_ns (&st->st_mtim), timespec_ns (&st->st_ctim)) >= read_at_ns - coarse_tick_ns ();
}

static guint
dir_hash (gconstpointer key)
{
  const PolledDir *dir = key;

  return (guint) dir->ino ^ (guint) dir->dev * 2654435761u;
}

static gboolean
dir_equal (gconstpointer a,
           gconstpointer b)
{
  const PolledDir *da = a, *db = b;

  return da->dev == db->dev && da->ino == db->ino;
}

static gboolean hk_poll_backend_tick (gpointer data);

/* A new directory joins the timer's next round, so that directories polled
 * together can pair a rename between them from the start. */
static gint64
first_round (HkPollBackend *self,
             PolledDir     *dir)
{
  gint64 next = self->timer != NULL ? g_source_get_ready_time (self->timer) : -1;

  if (next < 0)
    next = g_get_monotonic_time () + (gint64) dir->interval_ms * 1000;
  return next;
}

/* One timer at the shortest interval asked for; each directory is polled
 * when it is due. */
static void
update_timer (HkPollBackend *self)
{
  GHashTableIter iter;
  PolledDir *dir;
  guint shortest = 0;

  g_hash_table_iter_init (&iter, self->dirs);
  while (g_hash_table_iter_next (&iter, (gpointer *) &dir, NULL))
    if (shortest == 0 || dir->interval_ms < shortest)
      shortest = dir->interval_ms;

  if (shortest == self->timer_ms)
    return;

  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
  self->timer_ms = shortest;
  if (shortest == 0)
    return;

  self->timer = g_timeout_source_new (shortest);
  g_source_set_callback (self->timer, hk_poll_backend_tick, self, NULL);
  g_source_set_static_name (self->timer, "[hachiko] poll");
  g_source_attach (self->timer, self->context);
}

/* Stats @dir and reports a re-read of its entries if they changed, or (not
 * @recheck) a check of its files' state. Returns whether entries changed. */
static gboolean
poll_dir (HkPollBackend *self,
          PolledDir     *dir,
          gboolean       recheck,
          gint64         now)
{
  g_autofree char *path = hk_backend_dup_path (&self->parent, dir);
  gint64 since = dir->round_ns;
  gint64 until = coarse_realtime_ns ();
  struct stat st;

  dir->due_us = now + (gint64) dir->interval_ms * 1000;
  if (path == NULL)
    return FALSE;

  if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode) ||
      st.st_ino != dir->ino || st.st_dev != dir->dev)
    {
      /* Its parent's round reports the deletion; a root is gone. Not
       * latched: the path is its first client's, which may be a stale
       * name of a directory that moved (its parent's round has not
       * dropped it yet) while another client already watches it at its
       * new name. */
      if (!recheck)
        hk_backend_report_change (&self->parent, dir, NULL, HK_CHANGE_SELF_DELETED, TRUE, now);
      return FALSE;
    }

  if (timespec_ns (&st.st_mtim) != dir->mtime_ns || timespec_ns (&st.st_ctim) != dir->ctime_ns ||
      (dir->recent && !recheck))
    {
      dir->round_ns = until;
      dir->mtime_ns = timespec_ns (&st.st_mtim);
      dir->ctime_ns = timespec_ns (&st.st_ctim);
      dir->recent = times_are_recent (&st, until);
      hk_backend_report_rescan (&self->parent, dir, HK_RESCAN_ENTRIES, since, until, now);
      return TRUE;
    }
  if (!recheck)
    {
      dir->round_ns = until;
      hk_backend_report_rescan (&self->parent, dir, HK_RESCAN_CONTENTS, since, until, now);
    }
  return FALSE;
}

static gboolean
hk_poll_backend_tick (gpointer data)
{
  HkPollBackend *self = data;
  g_autoptr(GPtrArray) due = g_ptr_array_new ();
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  PolledDir *dir;

  /* Collected first: a round adds and removes polled directories. */
  g_hash_table_iter_init (&iter, self->dirs);
  while (g_hash_table_iter_next (&iter, (gpointer *) &dir, NULL))
    /* Whatever is due within half an interval goes now: directories
     * polled in one round can pair a rename between them. */
    if (dir->due_us <= now + (gint64) dir->interval_ms * 500)
      g_ptr_array_add (due, dir);

  /* When names changed somewhere, the round looks at every directory once
   * more before it ends: a rename between two of them that happened while
   * it read the first is then seen from both sides, and pairs. */
  for (guint pass = 0; pass < 2; pass++)
    {
      gboolean changed = FALSE;

      for (guint i = 0; i < due->len; i++)
        {
          dir = g_ptr_array_index (due, i);
          /* A round may have freed @dir: ask the hub first, which compares
           * pointers; the directory table would read the freed memory. */
          if (hk_backend_has_key (&self->parent, dir) && g_hash_table_contains (self->dirs, dir))
            changed |= poll_dir (self, dir, pass > 0, now);
        }
      if (!changed)
        break;
    }
  if (due->len > 0)
    hk_backend_report_rescan_done (&self->parent, now);

  return G_SOURCE_CONTINUE;
}

static gboolean
hk_poll_backend_add_watch (HkBackend     *backend,
                           const char    *path,
                           HkWatchFlags   flags,
                           gpointer      *key,
                           GError       **error)
{
  HkPollBackend *self = (HkPollBackend *) backend;
  PolledDir *dir, lookup = { 0 };
  struct stat st;

  if (!hk_backend_stat_dir (path, flags, &st, error))
    return FALSE;

  lookup.dev = st.st_dev;
  lookup.ino = st.st_ino;
  dir = g_hash_table_lookup (self->dirs, &lookup);
  if (dir == NULL)
    {
      dir = g_new0 (PolledDir, 1);
      dir->dev = st.st_dev;
      dir->ino = st.st_ino;
      dir->mtime_ns = timespec_ns (&st.st_mtim);
      dir->ctime_ns = timespec_ns (&st.st_ctim);
      dir->round_ns = coarse_realtime_ns ();
      dir->recent = times_are_recent (&st, dir->round_ns);
      dir->interval_ms = DEFAULT_INTERVAL_MS;
      dir->due_us = first_round (self, dir);
      g_hash_table_add (self->dirs, dir);
      update_timer (self);
    }
  else
    {
      /* Another watch of the same inode number: another client's, or a
       * directory deleted in this round whose number the filesystem gave
       * to a new one at once, with times that may match the old ones.
       * Its entries are read again next round either way. */
      dir->recent = TRUE;
    }

  *key = dir;
  return TRUE;
}

static void
hk_poll_backend_remove_watch (HkBackend *backend,
                              gpointer   key)
{
  HkPollBackend *self = (HkPollBackend *) backend;

  g_hash_table_remove (self->dirs, key);
  update_timer (self);
}

static void
hk_poll_backend_set_interval (HkBackend *backend,
                              gpointer   key,
                              guint      interval_ms)
{
  HkPollBackend *self = (HkPollBackend *) backend;
  PolledDir *dir = key;

  /* Shared by several clients: the most eager one sets the pace. */
  if (!dir->interval_set || interval_ms < dir->interval_ms)
    dir->interval_ms = MAX (interval_ms, 10);
  dir->interval_set = TRUE;
  update_timer (self);
  dir->due_us = MIN (dir->due_us, first_round (self, dir));
}

static HkBackend *
hk_poll_backend_create (GMainContext  *context,
                        GError       **error)
{
  HkPollBackend *self = g_new0 (HkPollBackend, 1);

  self->context = g_main_context_ref (context);
  self->dirs = g_hash_table_new_full (dir_hash, dir_equal, g_free, NULL);
  return &self->parent;
}

static void
hk_poll_backend_destroy (HkBackend *backend)
{
  HkPollBackend *self = (HkPollBackend *) backend;

  g_hash_table_remove_all (self->dirs);
  update_timer (self);
  g_hash_table_unref (self->dirs);
  g_main_context_unref (self->context);
  g_free (self);
}

const HkBackendClass hk_poll_backend_class = {
  .name = "poll",
  .kind = HK_BACKEND_KIND_POLL,
  .caps = HK_BACKEND_CAP_NEEDS_PATH,
  .create = hk_poll_backend_create,
  .destroy = hk_poll_backend_destroy,
  .add_watch = hk_poll_backend_add_watch,
  .remove_watch = hk_poll_backend_remove_watch,
  .set_interval = hk_poll_backend_set_interval,
};
