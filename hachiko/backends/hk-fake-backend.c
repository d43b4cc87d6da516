/* hk-fake-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hk-backend-private.h"

/* A backend that reports only what a test injects, so that the tree's
 * rules can be tested in any order of events without kernel timing. */

typedef struct
{
  dev_t dev;
  ino_t ino;
} FakeDir;

typedef struct
{
  HkBackend     parent;
  GMainContext *context;
  GHashTable   *dirs;          /* FakeDir (key) */
  GHashTable   *failures;      /* path -> GIOErrorEnum */
} HkFakeBackend;

G_LOCK_DEFINE_STATIC (fake_lock);
static HkFakeBackend *the_fake;
static GHashTable *pending_failures;  /* path -> code, under fake_lock */
static char            *after_watch_path;   /* hk_fake_backend_after_watch(), under fake_lock */
static HkFakeWatchHook  after_watch_hook;
static gpointer         after_watch_data;

static guint
dir_hash (gconstpointer key)
{
  const FakeDir *dir = key;

  return (guint) dir->ino ^ (guint) dir->dev * 2654435761u;
}

static gboolean
dir_equal (gconstpointer a,
           gconstpointer b)
{
  const FakeDir *da = a, *db = b;

  return da->dev == db->dev && da->ino == db->ino;
}

static gboolean
hk_fake_backend_add_watch (HkBackend     *backend,
                           const char    *path,
                           HkWatchFlags   flags,
                           gpointer      *key,
                           GError       **error)
{
  HkFakeBackend *self = (HkFakeBackend *) backend;
  FakeDir lookup = { 0 }, *dir;
  gpointer code = NULL;
  struct stat st;

  G_LOCK (fake_lock);
  if (pending_failures != NULL &&
      g_hash_table_lookup_extended (pending_failures, path, NULL, &code))
    {
      g_hash_table_remove (pending_failures, path);
      G_UNLOCK (fake_lock);
      g_set_error (error, G_IO_ERROR, GPOINTER_TO_INT (code),
                   "Cannot watch “%s”: injected failure", path);
      return FALSE;
    }
  G_UNLOCK (fake_lock);

  if (!hk_backend_stat_dir (path, flags, &st, error))
    return FALSE;

  G_LOCK (fake_lock);
  if (after_watch_path != NULL && strcmp (after_watch_path, path) == 0)
    {
      HkFakeWatchHook hook = after_watch_hook;
      gpointer hook_data = after_watch_data;

      g_clear_pointer (&after_watch_path, g_free);
      after_watch_hook = NULL;
      G_UNLOCK (fake_lock);
      hook (hook_data);
    }
  else
    G_UNLOCK (fake_lock);

  lookup.dev = st.st_dev;
  lookup.ino = st.st_ino;
  dir = g_hash_table_lookup (self->dirs, &lookup);
  if (dir == NULL)
    {
      dir = g_memdup2 (&lookup, sizeof lookup);
      g_hash_table_add (self->dirs, dir);
    }
  *key = dir;
  return TRUE;
}

static void
hk_fake_backend_remove_watch (HkBackend *backend,
                              gpointer   key)
{
  HkFakeBackend *self = (HkFakeBackend *) backend;

  g_hash_table_remove (self->dirs, key);
}

static HkBackend *
hk_fake_backend_create (GMainContext  *context,
                        GError       **error)
{
  HkFakeBackend *self = g_new0 (HkFakeBackend, 1);

  self->context = g_main_context_ref (context);
  self->dirs = g_hash_table_new_full (dir_hash, dir_equal, g_free, NULL);

  G_LOCK (fake_lock);
  the_fake = self;
  G_UNLOCK (fake_lock);

  return &self->parent;
}

static void
hk_fake_backend_destroy (HkBackend *backend)
{
  HkFakeBackend *self = (HkFakeBackend *) backend;

  G_LOCK (fake_lock);
  if (the_fake == self)
    the_fake = NULL;
  G_UNLOCK (fake_lock);

  g_hash_table_unref (self->dirs);
  g_main_context_unref (self->context);
  g_free (self);
}

const HkBackendClass hk_fake_backend_class = {
  .name = "fake",
  .kind = HK_BACKEND_KIND_FAKE,
  .caps = HK_BACKEND_CAP_ACCESS_EVENTS | HK_BACKEND_CAP_PAIRS_MOVES | HK_BACKEND_CAP_NEEDS_PATH,
  .create = hk_fake_backend_create,
  .destroy = hk_fake_backend_destroy,
  .add_watch = hk_fake_backend_add_watch,
  .remove_watch = hk_fake_backend_remove_watch,
};

/* --- driving it from a test ------------------------------------------- */

typedef enum
{
  INJECT_CHANGE,
  INJECT_MOVE,
  INJECT_RESCAN,
  INJECT_LOST,
  INJECT_DROPPED,
  COUNT_WATCHES,
} InjectKind;

typedef struct
{
  InjectKind  kind;
  const char *dir_path;
  const char * const *dir_paths;
  const char *name;
  const char *to_dir_path;
  const char *to_name;
  HkChange    change;
  gint        rescan_kind;
  gboolean    is_directory;
  gint64      since_ns;
  gint64      until_ns;
  guint       count;
  HkFakeRoundStep step;
  gpointer    step_data;
  gboolean    done;
  GMutex      mutex;
  GCond       cond;
} Injection;

static gpointer
key_for_path (HkFakeBackend *self,
              const char    *path)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->dirs);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *current = hk_backend_dup_path (&self->parent, key);

      if (g_strcmp0 (current, path) == 0)
        return key;
    }
  return NULL;
}

static gboolean
signal_done (gpointer data)
{
  Injection *inj = data;

  g_mutex_lock (&inj->mutex);
  inj->done = TRUE;
  g_cond_signal (&inj->cond);
  g_mutex_unlock (&inj->mutex);

  return G_SOURCE_REMOVE;
}

static gboolean
run_injection (gpointer data)
{
  Injection *inj = data;
  HkFakeBackend *self = the_fake;
  gint64 now = g_get_monotonic_time ();

  if (self != NULL)
    {
      HkBackend *backend = &self->parent;

      switch (inj->kind)
        {
        case INJECT_CHANGE:
          hk_backend_report_change (backend, key_for_path (self, inj->dir_path), inj->name,
                                    inj->change, inj->is_directory, now);
          break;
        case INJECT_MOVE:
          hk_backend_report_move (backend,
                                  key_for_path (self, inj->dir_path), inj->name,
                                  key_for_path (self, inj->to_dir_path), inj->to_name,
                                  inj->is_directory, now);
          break;
        case INJECT_RESCAN:
          for (guint i = 0; inj->dir_paths[i] != NULL; i++)
            {
              if (inj->step != NULL)
                inj->step (i, inj->step_data);
              hk_backend_report_rescan (backend, key_for_path (self, inj->dir_paths[i]),
                                        inj->rescan_kind, inj->since_ns, inj->until_ns, now);
            }
          hk_backend_report_rescan_done (backend, now);
          break;
        case INJECT_LOST:
          hk_backend_report_lost (backend, inj->since_ns, now);
          break;
        case INJECT_DROPPED:
          {
            gpointer key = key_for_path (self, inj->dir_path);

            /* Like a kernel dropping a watch: reported, then forgotten. */
            hk_backend_report_dropped (backend, key, now);
            if (key != NULL)
              g_hash_table_remove (self->dirs, key);
          }
          break;
        case COUNT_WATCHES:
          inj->count = g_hash_table_size (self->dirs);
          break;
        default:
          g_assert_not_reached ();
        }
    }

  /* Done once the worker has also run what the reports scheduled (the
   * owner's wake-up): at a lower priority than all of it. */
  {
    GSource *idle = g_idle_source_new ();

    g_source_set_priority (idle, G_PRIORITY_LOW);
    g_source_set_callback (idle, signal_done, inj, NULL);
    g_source_attach (idle, g_main_context_get_thread_default ());
    g_source_unref (idle);
  }

  return G_SOURCE_REMOVE;
}

static void
inject (Injection *inj)
{
  GMainContext *context = NULL;

  G_LOCK (fake_lock);
  if (the_fake != NULL)
    context = g_main_context_ref (the_fake->context);
  G_UNLOCK (fake_lock);

  if (context == NULL)
    {
      g_critical ("The fake backend is not running");
      return;
    }

  g_mutex_init (&inj->mutex);
  g_cond_init (&inj->cond);
  g_main_context_invoke (context, run_injection, inj);
  g_mutex_lock (&inj->mutex);
  while (!inj->done)
    g_cond_wait (&inj->cond, &inj->mutex);
  g_mutex_unlock (&inj->mutex);
  g_mutex_clear (&inj->mutex);
  g_cond_clear (&inj->cond);
  g_main_context_unref (context);
}

void
hk_fake_backend_inject (const char *dir_path,
                        const char *name,
                        HkChange    change,
                        gboolean    is_directory)
{
  Injection inj = { INJECT_CHANGE, dir_path, .name = name, .change = change, .is_directory = is_directory };

  inject (&inj);
}

void
hk_fake_backend_inject_move (const char *from_dir_path,
                             const char *from_name,
                             const char *to_dir_path,
                             const char *to_name,
                             gboolean    is_directory)
{
  Injection inj = { INJECT_MOVE, from_dir_path, .name = from_name, .to_dir_path = to_dir_path,
                    .to_name = to_name, .is_directory = is_directory };

  inject (&inj);
}

void
hk_fake_backend_inject_round (const char * const *dir_paths,
                              HkRescanKind        kind,
                              gint64              since_ns,
                              gint64              until_ns)
{
  hk_fake_backend_inject_round_full (dir_paths, kind, since_ns, until_ns, NULL, NULL);
}

void
hk_fake_backend_inject_round_full (const char * const *dir_paths,
                                   HkRescanKind        kind,
                                   gint64              since_ns,
                                   gint64              until_ns,
                                   HkFakeRoundStep     step,
                                   gpointer            step_data)
{
  Injection inj = { INJECT_RESCAN, .dir_paths = dir_paths, .rescan_kind = kind,
                    .since_ns = since_ns, .until_ns = until_ns,
                    .step = step, .step_data = step_data };

  inject (&inj);
}

void
hk_fake_backend_inject_lost (gint64 since_ns)
{
  Injection inj = { INJECT_LOST, .since_ns = since_ns };

  inject (&inj);
}

void
hk_fake_backend_inject_dropped (const char *dir_path)
{
  Injection inj = { INJECT_DROPPED, dir_path };

  inject (&inj);
}

void
hk_fake_backend_after_watch (const char      *path,
                             HkFakeWatchHook  hook,
                             gpointer         data)
{
  G_LOCK (fake_lock);
  g_free (after_watch_path);
  after_watch_path = g_strdup (path);
  after_watch_hook = hook;
  after_watch_data = data;
  G_UNLOCK (fake_lock);
}

void
hk_fake_backend_fail_watch (const char *path,
                            gint        code)
{
  G_LOCK (fake_lock);
  if (pending_failures == NULL)
    pending_failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (pending_failures, g_strdup (path), GINT_TO_POINTER (code));
  G_UNLOCK (fake_lock);
}

guint
hk_fake_backend_count_watches (void)
{
  Injection inj = { COUNT_WATCHES };

  inject (&inj);
  return inj.count;
}
