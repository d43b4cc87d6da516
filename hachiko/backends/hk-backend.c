/* hk-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>

#include "hk-backend-private.h"
#include "hk-enums.h"
#include "hk-probe-private.h"
#include "hk-slab-private.h"

/* The registry: one line per backend. */
static const HkBackendClass *backend_classes[] = {
  &hk_inotify_backend_class,
  &hk_gio_backend_class,
  &hk_poll_backend_class,
  &hk_fanotify_backend_class,
  &hk_fake_backend_class,
};

/* The hub: the worker's backends, created when first asked for, and the
 * fan-out from a backend's key to every client watching that directory. */
struct _HkWatchHub
{
  GMainContext *context;
  HkBackend    *backends[G_N_ELEMENTS (backend_classes)];
  gint          event_pid;  /* of the report being made, -1: unknown */
  guint         reporting;  /* watch lists gathered and not cleared yet */
  GPtrArray    *dying;      /* HkWatch removed while reporting */
};

/* A client of one backend, listed in backend->clients while it has
 * watches there. */
typedef struct
{
  HkWatchClient  client;
  guint          n_watches;
} ClientEntry;

/* One client's watch of one directory, from its backend's slab (tagged
 * with the backend). The watches of a key form a list whose head is in
 * backend->heads: one 16-byte record per watched directory, with no
 * per-key container. The directory is kept by slab id, and its slab is
 * tagged with its client (see docs/performance-findings.md, memory per
 * directory). */
struct _HkWatch
{
  gpointer       key;
  guint32        dir;        /* slab id of the client's directory */
  guint32        next;       /* slab id of the next watch of the key, 0
                              * for none, REMOVED once removed */
};

#define REMOVED G_MAXUINT32  /* never a slab id: no block has that many slots */

G_STATIC_ASSERT (sizeof (HkWatch) == 16);

guint32
hk_watch_id (HkWatch *watch)
{
  return watch != NULL ? hk_slab_id (watch) : 0;
}

HkWatch *
hk_watch_from_id (guint32 id)
{
  return id != 0 ? hk_slab_lookup (id) : NULL;
}

static inline gboolean
watch_removed (const HkWatch *watch)
{
  return watch->next == REMOVED;
}

static inline HkBackend *
watch_backend (const HkWatch *watch)
{
  return hk_slab_tag (watch);
}

static inline gpointer
watch_dir (const HkWatch *watch)
{
  return hk_slab_lookup (watch->dir);
}

/* Only while @watch is not removed: its directory may be freed after. */
static inline const HkWatchClient *
watch_client (const HkWatch *watch)
{
  return hk_slab_tag (watch_dir (watch));
}

static inline HkWatch *
watch_next (const HkWatch *watch)
{
  return hk_watch_from_id (watch->next);
}

/* The watches of one key and their clients, gathered before a report: a
 * client may add or remove watches (of this key too) while it handles
 * one, and a watch removed while any list is out is freed only when the
 * last list is cleared. Most keys have one watch: no allocation for up
 * to 8. */
typedef struct
{
  HkWatch             *watch;
  const HkWatchClient *client;
  gpointer             dir;
} WatchItem;

typedef struct
{
  WatchItem   inline_items[8];
  WatchItem  *items;
  guint       len;
  HkWatchHub *hub;
} WatchList;

static guint handle_limit_for_testing;

void
hk_watch_hub_set_handle_limit_for_testing (guint limit)
{
  g_atomic_int_set (&handle_limit_for_testing, limit);
}

static gint
class_index (HkBackendKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (backend_classes); i++)
    if (backend_classes[i]->kind == kind)
      return (gint) i;
  return -1;
}

HkWatchHub *
hk_watch_hub_new (GMainContext *context)
{
  HkWatchHub *hub = g_new0 (HkWatchHub, 1);

  hub->context = g_main_context_ref (context);
  hub->event_pid = -1;
  hub->dying = g_ptr_array_new ();
  return hub;
}

void
hk_watch_hub_free (HkWatchHub *hub)
{
  if (hub == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (hub->backends); i++)
    {
      HkBackend *backend = hub->backends[i];

      if (backend == NULL)
        continue;
      g_warn_if_fail (backend->n_heads == 0);
      g_free (backend->heads);
      g_hash_table_unref (backend->clients);
      hk_slab_clear (&backend->watches);
      backend->klass->destroy (backend);
    }
  g_ptr_array_unref (hub->dying);
  g_main_context_unref (hub->context);
  g_free (hub);
}

/* backend->heads: the heads of the watch lists, by key. Linear probing
 * over slab ids (hk-probe-private.h), at most three quarters full. */
static inline guint32
home_slot (HkBackend *backend,
           gpointer   key)
{
  guint64 h = (guint64) (guintptr) key * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);

  return (guint32) (h >> 32) & backend->heads_mask;
}

/* The slot of @key's head, or -1. */
static gint64
heads_find (HkBackend *backend,
            gpointer   key)
{
  if (backend->heads == NULL)
    return -1;
  for (guint32 i = home_slot (backend, key); backend->heads[i] != 0;
       i = (i + 1) & backend->heads_mask)
    if (hk_watch_from_id (backend->heads[i])->key == key)
      return i;
  return -1;
}

static void
heads_insert (HkBackend *backend,
              guint32    id)
{
  guint32 i = home_slot (backend, hk_watch_from_id (id)->key);

  while (backend->heads[i] != 0)
    i = (i + 1) & backend->heads_mask;
  backend->heads[i] = id;
}

static void
heads_resize (HkBackend *backend,
              guint32    slots)
{
  g_autofree guint32 *old = g_steal_pointer (&backend->heads);
  guint32 old_slots = old != NULL ? backend->heads_mask + 1 : 0;

  if (slots == 0)
    {
      backend->heads_mask = 0;
      return;
    }
  backend->heads = g_new0 (guint32, slots);
  backend->heads_mask = slots - 1;
  for (guint32 i = 0; i < old_slots; i++)
    if (old[i] != 0)
      heads_insert (backend, old[i]);
}

static guint32
heads_home (guint32       id,
            gconstpointer backend)
{
  return home_slot ((HkBackend *) backend, hk_watch_from_id (id)->key);
}

static void
heads_delete_slot (HkBackend *backend,
                   guint32    slot)
{
  hk_probe_delete (backend->heads, backend->heads_mask, slot, heads_home, backend);
}

static HkWatch *
keys_lookup (HkBackend *backend,
             gpointer   key)
{
  gint64 slot = heads_find (backend, key);

  return slot >= 0 ? hk_watch_from_id (backend->heads[slot]) : NULL;
}

/* Makes @head the head of its key's list (NULL @head: the key has none,
 * @key says which). */
static void
keys_set_head (HkBackend *backend,
               gpointer   key,
               HkWatch   *head)
{
  gint64 slot = heads_find (backend, key);
  guint32 slots = backend->heads != NULL ? backend->heads_mask + 1 : 0;

  if (slot >= 0 && head != NULL)
    backend->heads[slot] = hk_watch_id (head);
  else if (slot >= 0)
    {
      heads_delete_slot (backend, (guint32) slot);
      backend->n_heads--;
      if (backend->n_heads == 0)
        heads_resize (backend, 0);
      else if (slots > 64 && backend->n_heads * 8 < slots)
        heads_resize (backend, slots / 4);
    }
  else if (head != NULL)
    {
      if ((backend->n_heads + 1) * 4 > slots * 3)
        heads_resize (backend, MAX (slots * 2, 16));
      heads_insert (backend, hk_watch_id (head));
      backend->n_heads++;
    }
}

static HkBackend *
get_backend (HkWatchHub     *hub,
             HkBackendKind   kind,
             GError        **error)
{
  gint i = class_index (kind);
  HkBackend *backend;

  if (i < 0)
    {
      g_autoptr(GEnumClass) enum_class = g_type_class_ref (HK_TYPE_BACKEND_KIND);
      GEnumValue *value = g_enum_get_value (enum_class, kind);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "The %s backend is not available in this build of hachiko",
                   value != NULL ? value->value_nick : "requested");
      return NULL;
    }

  if (hub->backends[i] != NULL)
    return hub->backends[i];

  backend = backend_classes[i]->create (hub->context, error);
  if (backend == NULL)
    return NULL;

  backend->klass = backend_classes[i];
  backend->hub = hub;
  backend->clients = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  hk_slab_init (&backend->watches, sizeof (HkWatch));
  hk_slab_set_tag (&backend->watches, backend);
  backend->watches.keep_one = TRUE;  /* one watch added and removed in turn */
  hub->backends[i] = backend;

  return backend;
}

gboolean
hk_watch_hub_supports (HkWatchHub     *hub,
                       HkBackendKind   kind,
                       GError        **error)
{
  return get_backend (hub, kind, error) != NULL;
}

static void
free_dying (HkWatchHub *hub)
{
  for (guint i = 0; i < hub->dying->len; i++)
    {
      HkWatch *watch = g_ptr_array_index (hub->dying, i);

      hk_slab_free (&watch_backend (watch)->watches, watch);
    }
  g_ptr_array_set_size (hub->dying, 0);
}

/* @watch is removed: freed now, or once no watch list holds it. */
static void
watch_free (HkWatch *watch)
{
  HkBackend *backend = watch_backend (watch);

  if (backend->hub->reporting > 0)
    g_ptr_array_add (backend->hub->dying, watch);
  else
    hk_slab_free (&backend->watches, watch);
}

static void
client_add (HkBackend           *backend,
            const HkWatchClient *client)
{
  ClientEntry *entry = g_hash_table_lookup (backend->clients, client->data);

  if (entry == NULL)
    {
      entry = g_new0 (ClientEntry, 1);
      entry->client = *client;
      g_hash_table_insert (backend->clients, client->data, entry);
    }
  entry->n_watches++;
}

/* A watch of @client's is removed. */
static void
client_remove (HkBackend           *backend,
               const HkWatchClient *client)
{
  ClientEntry *entry = g_hash_table_lookup (backend->clients, client->data);

  if (--entry->n_watches == 0)
    g_hash_table_remove (backend->clients, client->data);
}

/* @watch, out of its key's list, no longer counts for @client and is
 * freed (once no watch list holds it). */
static void
watch_retire (HkBackend           *backend,
              HkWatch             *watch,
              const HkWatchClient *client)
{
  client_remove (backend, client);
  watch->next = REMOVED;
  watch_free (watch);
}

HkWatch *
hk_watch_hub_add (HkWatchHub           *hub,
                  HkBackendKind         kind,
                  const HkWatchClient  *client,
                  gpointer              dir,
                  const char           *path,
                  HkWatchFlags          flags,
                  GError              **error)
{
  HkBackend *backend = get_backend (hub, kind, error);
  guint limit = g_atomic_int_get (&handle_limit_for_testing);
  HkWatch *watch;
  gpointer key = NULL;

  g_return_val_if_fail (hk_slab_tag (dir) == client, NULL);
  if (backend == NULL)
    return NULL;

  if ((backend->klass->caps & HK_BACKEND_CAP_KERNEL_HANDLES) &&
      limit > 0 && backend->n_heads >= limit)
    {
      g_autofree char *display = g_filename_display_name (path);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "Cannot watch “%s”: the %s watch limit "
                   "(fs.%s.max_user_watches) is reached",
                   display, backend->klass->name, backend->klass->name);
      return NULL;
    }

  if (!backend->klass->add_watch (backend, path, flags, &key, error))
    return NULL;

  watch = hk_slab_alloc0 (&backend->watches);
  client_add (backend, client);
  watch->key = key;
  watch->dir = hk_slab_id (dir);
  watch->next = hk_watch_id (keys_lookup (backend, key));
  keys_set_head (backend, key, watch);

  return watch;
}

void
hk_watch_remove (HkWatch *watch)
{
  HkBackend *backend;
  HkWatch *head;

  if (watch == NULL || watch_removed (watch))
    return;

  backend = watch_backend (watch);
  head = keys_lookup (backend, watch->key);

  if (head == watch)
    {
      keys_set_head (backend, watch->key, watch_next (watch));
      if (watch->next == 0)
        {
          backend->klass->remove_watch (backend, watch->key);
          backend->releases++;
        }
    }
  else
    {
      for (HkWatch *it = head; it != NULL; it = watch_next (it))
        if (watch_next (it) == watch)
          {
            it->next = watch->next;
            break;
          }
    }
  watch_retire (backend, watch, watch_client (watch));
}

HkBackendKind
hk_watch_get_kind (HkWatch *watch)
{
  return watch_backend (watch)->klass->kind;
}

void
hk_watch_set_interval (HkWatch *watch,
                       guint    interval_ms)
{
  HkBackend *backend = watch_backend (watch);

  if (backend->klass->set_interval != NULL && !watch_removed (watch))
    backend->klass->set_interval (backend, watch->key, interval_ms);
}

void
hk_watch_hub_dispatch_pending (HkWatchHub *hub)
{
  for (guint i = 0; i < G_N_ELEMENTS (hub->backends); i++)
    {
      HkBackend *backend = hub->backends[i];

      if (backend != NULL && backend->klass->dispatch_pending != NULL)
        backend->klass->dispatch_pending (backend);
    }
}

void
hk_watch_hub_begin_walk (HkWatchHub    *hub,
                         HkBackendKind  kind)
{
  HkBackend *backend = get_backend (hub, kind, NULL);

  if (backend != NULL && backend->klass->begin_walk != NULL)
    backend->klass->begin_walk (backend);
}

void
hk_watch_hub_end_walk (HkWatchHub    *hub,
                       HkBackendKind  kind)
{
  gint i = class_index (kind);
  HkBackend *backend = i >= 0 ? hub->backends[i] : NULL;

  if (backend != NULL && backend->klass->end_walk != NULL)
    backend->klass->end_walk (backend);
}

gboolean
hk_watch_covers_subtree (HkWatch *watch)
{
  HkBackend *backend = watch_backend (watch);

  return !watch_removed (watch) && backend->klass->covers_subtree != NULL &&
         backend->klass->covers_subtree (backend, watch->key);
}

void
hk_watch_collect_siblings (HkWatch   *watch,
                           GPtrArray *dirs)
{
  if (watch_removed (watch))
    return;
  for (HkWatch *it = keys_lookup (watch_backend (watch), watch->key); it != NULL;
       it = watch_next (it))
    if (it != watch && !watch_removed (it) && watch_client (it) == watch_client (watch))
      g_ptr_array_add (dirs, watch_dir (it));
}

void
hk_watch_hub_release_held (HkWatchHub *hub,
                           GPtrArray  *watches)
{
  g_autofree gpointer *keys = NULL;
  HkBackend *backend;
  guint n = 0;

  if (watches->len == 0)
    return;
  backend = watch_backend (g_ptr_array_index (watches, 0));
  if (backend->klass->release_held == NULL)
    return;

  keys = g_new (gpointer, watches->len);
  for (guint i = 0; i < watches->len; i++)
    {
      HkWatch *watch = g_ptr_array_index (watches, i);

      g_assert (watch_backend (watch) == backend);
      if (!watch_removed (watch))
        keys[n++] = watch->key;
    }
  backend->klass->release_held (backend, keys, n);
}

guint
hk_watch_hub_count_handles (HkWatchHub    *hub,
                            HkBackendKind  kind)
{
  gint i = class_index (kind);

  if (i < 0 || hub->backends[i] == NULL)
    return 0;
  return hub->backends[i]->n_heads;
}

guint
hk_watch_hub_get_releases (HkWatchHub    *hub,
                           HkBackendKind  kind)
{
  gint i = class_index (kind);

  if (i < 0 || hub->backends[i] == NULL)
    return 0;
  return hub->backends[i]->releases;
}

/* --- reports ----------------------------------------------------------- */

static void
watch_list_collect (WatchList *list,
                    HkBackend *self,
                    gpointer   key)
{
  HkWatch *head = keys_lookup (self, key);
  guint n = 0;

  for (HkWatch *it = head; it != NULL; it = watch_next (it))
    n++;

  list->hub = self->hub;
  list->hub->reporting++;
  list->items = n <= G_N_ELEMENTS (list->inline_items) ? list->inline_items : g_new (WatchItem, n);
  /* The list is headed by the newest watch: gather oldest first. */
  list->len = n;
  for (HkWatch *it = head; it != NULL; it = watch_next (it))
    {
      n--;
      list->items[n].watch = it;
      list->items[n].dir = watch_dir (it);
      list->items[n].client = hk_slab_tag (list->items[n].dir);
    }
}

static void
watch_list_clear (WatchList *list)
{
  if (list->items != list->inline_items)
    g_free (list->items);
  list->items = NULL;
  list->len = 0;
  if (list->hub != NULL && --list->hub->reporting == 0)
    free_dying (list->hub);
  list->hub = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WatchList, watch_list_clear)

void
hk_backend_report_wanted (HkBackend  *self,
                          const char *path)
{
  g_autoptr(GArray) clients = g_array_new (FALSE, FALSE, sizeof (HkWatchClient));
  GHashTableIter iter;
  ClientEntry *entry;

  /* A copy: a client may stop watching while it is told. */
  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    if (entry->client.funcs->wanted != NULL)
      g_array_append_val (clients, entry->client);
  for (guint i = 0; i < clients->len; i++)
    {
      HkWatchClient *client = &g_array_index (clients, HkWatchClient, i);

      client->funcs->wanted (client->data, path);
    }
}

gboolean
hk_backend_has_key (HkBackend *self,
                    gpointer   key)
{
  return keys_lookup (self, key) != NULL;
}

void
hk_backend_report_change (HkBackend  *self,
                          gpointer    key,
                          const char *name,
                          HkChange    change,
                          gboolean    is_directory,
                          gint64      now)
{
  g_auto(WatchList) watches = { 0, };

  watch_list_collect (&watches, self, key);
  for (guint i = 0; i < watches.len; i++)
    {
      HkWatch *watch = watches.items[i].watch;
      const HkWatchClient *client = watches.items[i].client;

      if (!watch_removed (watch))
        client->funcs->changed (client->data, watches.items[i].dir, name, change, is_directory, now);
    }
}

/* A rename seen from both sides: for each client that sees the source, a
 * move inside it if it also sees the destination, else a move out; the
 * clients that only see the destination get a move in. */
void
hk_backend_report_move (HkBackend  *self,
                        gpointer    from_key,
                        const char *from_name,
                        gpointer    to_key,
                        const char *to_name,
                        gboolean    is_directory,
                        gint64      now)
{
  g_auto(WatchList) from = { 0, };
  g_auto(WatchList) to = { 0, };
  gboolean inline_paired[8] = { FALSE, };
  g_autofree gboolean *many_paired = NULL;
  gboolean *paired;

  watch_list_collect (&from, self, from_key);
  watch_list_collect (&to, self, to_key);
  paired = to.len <= G_N_ELEMENTS (inline_paired)
    ? inline_paired : (many_paired = g_new0 (gboolean, to.len));

  for (guint i = 0; i < from.len; i++)
    {
      HkWatch *source = from.items[i].watch;
      const HkWatchClient *client = from.items[i].client;
      const WatchItem *dest = NULL;

      for (guint j = 0; j < to.len; j++)
        if (!paired[j] && to.items[j].client->data == client->data)
          {
            paired[j] = TRUE;
            dest = &to.items[j];
            break;
          }

      if (watch_removed (source))
        continue;
      if (dest != NULL && !watch_removed (dest->watch))
        client->funcs->moved (client->data, from.items[i].dir, from_name,
                              dest->dir, to_name, is_directory, now);
      else
        client->funcs->changed (client->data, from.items[i].dir, from_name,
                                HK_CHANGE_MOVED_OUT, is_directory, now);
    }

  for (guint j = 0; j < to.len; j++)
    {
      HkWatch *dest = to.items[j].watch;
      const HkWatchClient *client = to.items[j].client;

      if (!paired[j] && !watch_removed (dest))
        client->funcs->changed (client->data, to.items[j].dir, to_name,
                                HK_CHANGE_MOVED_IN, is_directory, now);
    }
}

void
hk_backend_report_rescan (HkBackend    *self,
                          gpointer      key,
                          HkRescanKind  kind,
                          gint64        since_ns,
                          gint64        until_ns,
                          gint64        now)
{
  g_auto(WatchList) watches = { 0, };

  watch_list_collect (&watches, self, key);
  for (guint i = 0; i < watches.len; i++)
    {
      HkWatch *watch = watches.items[i].watch;
      const HkWatchClient *client = watches.items[i].client;

      if (!watch_removed (watch))
        client->funcs->rescan (client->data, watches.items[i].dir, kind, since_ns, until_ns, now);
    }
}

/* The clients, copied: a client's rescan adds and removes watches. */
static GArray *
collect_clients (HkBackend *self)
{
  GArray *clients = g_array_new (FALSE, FALSE, sizeof (HkWatchClient));
  GHashTableIter iter;
  ClientEntry *entry;

  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    g_array_append_val (clients, entry->client);
  return clients;
}

void
hk_backend_report_lost (HkBackend *self,
                        gint64     since_ns,
                        gint64     now)
{
  g_autoptr(GArray) clients = collect_clients (self);

  g_debug ("%s: events lost, %u clients rescan", self->klass->name, clients->len);
  for (guint i = 0; i < clients->len; i++)
    {
      HkWatchClient *client = &g_array_index (clients, HkWatchClient, i);

      /* Skip a client whose last watch went away during another's rescan. */
      if (g_hash_table_contains (self->clients, client->data))
        client->funcs->lost (client->data, since_ns, now);
    }
}

void
hk_backend_report_rescan_done (HkBackend *self,
                               gint64     now)
{
  g_autoptr(GArray) clients = collect_clients (self);

  for (guint i = 0; i < clients->len; i++)
    {
      HkWatchClient *client = &g_array_index (clients, HkWatchClient, i);

      if (g_hash_table_contains (self->clients, client->data))
        client->funcs->rescan_done (client->data, now);
    }
}

void
hk_backend_report_dropped (HkBackend *self,
                           gpointer   key,
                           gint64     now)
{
  g_auto(WatchList) watches = { 0, };

  watch_list_collect (&watches, self, key);
  if (watches.len == 0)
    return;
  keys_set_head (self, key, NULL);

  self->releases++;
  for (guint i = 0; i < watches.len; i++)
    watch_retire (self, watches.items[i].watch, watches.items[i].client);

  for (guint i = 0; i < watches.len; i++)
    {
      const HkWatchClient *client = watches.items[i].client;

      client->funcs->watch_lost (client->data, watches.items[i].dir, now);
    }
}

gboolean
hk_backend_stat_dir (const char   *path,
                     HkWatchFlags  flags,
                     struct stat  *st,
                     GError      **error)
{
  int rc = (flags & HK_WATCH_FOLLOW_SYMLINK) ? stat (path, st) : lstat (path, st);
  int errsv = rc != 0 ? errno : ENOTDIR;
  g_autofree char *display = NULL;

  if (rc == 0 && S_ISDIR (st->st_mode))
    return TRUE;

  display = g_filename_display_name (path);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "Cannot watch “%s”: %s", display, g_strerror (errsv));
  return FALSE;
}

char *
hk_backend_dup_path (HkBackend *self,
                     gpointer   key)
{
  g_auto(WatchList) watches = { 0, };

  /* The oldest watch that has a path: a client's directory may be held
   * out of its tree for a moment (a rescan pairing a move) and has none. */
  watch_list_collect (&watches, self, key);
  for (guint i = 0; i < watches.len; i++)
    {
      HkWatch *watch = watches.items[i].watch;
      const HkWatchClient *client = watches.items[i].client;
      char *path;

      if (watch_removed (watch))
        continue;
      path = client->funcs->dup_path (client->data, watches.items[i].dir);
      if (path != NULL)
        return path;
    }
  return NULL;
}

/* The process behind the reports a backend is making, for backends that
 * know it (fanotify): set around the reports of one kernel event, so the
 * clients' callbacks keep their signatures. */
void
hk_backend_set_event_pid (HkBackend *self,
                          gint       pid)
{
  self->hub->event_pid = pid;
}

gint
hk_watch_hub_get_event_pid (HkWatchHub *hub)
{
  return hub->event_pid;
}
