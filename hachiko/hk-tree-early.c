/* hk-tree-early.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sys/stat.h>

#include "hk-mounts-private.h"
#include "hk-tree-internal-private.h"

/* --- early ready: the walk behind start -------------------------------- */

/* With a mark that sees every change below the root from the moment it is
 * placed (a fanotify filesystem mark), start returns once the root is
 * watched, and the walk goes on here, on the worker, a slice at a time.
 * The backend holds the events of every directory the walk has not read
 * yet; each slice reads its directories silently (what they hold existed,
 * or was made after start, and the held events say which), lets the
 * backend read what the kernel queued meanwhile, and then releases the
 * held events of the directories it read: they happened before the read
 * or just after it, so each is reported, and applied only where the read
 * does not show it yet (hk_tree_pre_read_changed(),
 * hk_tree_pre_read_moved()). Events of directories read in an earlier
 * slice are handled as usual. */

/* Trees whose walk goes on behind start (the worker's own). */
GList *hk_tree_early_trees;

static gint walk_pause_after;         /* atomic; 0: walks do not pause */
static gint walk_pause_walked;        /* atomic; read by every walk since the pause was set */

static gboolean walk_step (gpointer data);

void
hk_tree_pause_walks_for_testing (guint n_dirs)
{
  g_atomic_int_set (&walk_pause_walked, 0);
  g_atomic_int_set (&walk_pause_after, n_dirs);
}

void
hk_tree_resume_walks_for_testing (void)
{
  g_atomic_int_set (&walk_pause_after, 0);
}

static gboolean
walk_paused (void)
{
  gint after = g_atomic_int_get (&walk_pause_after);

  return after > 0 && g_atomic_int_get (&walk_pause_walked) >= after;
}

/* An idle source; while paused (tests), a timer that looks again. */
void
hk_tree_attach_walk_source (HkTree   *tree,
                            gboolean  paused)
{
  GMainContext *context = g_main_context_get_thread_default ();

  if (tree->walk_source != NULL)
    {
      g_source_destroy (tree->walk_source);
      g_source_unref (tree->walk_source);
    }
  tree->walk_source = paused ? g_timeout_source_new (10) : g_idle_source_new ();
  g_source_set_priority (tree->walk_source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (tree->walk_source, walk_step, tree, NULL);
  g_source_set_static_name (tree->walk_source, "[hachiko] walk");
  g_source_attach (tree->walk_source, context);
  tree->walk_paused = paused;
}

/* Stops holding and walking; idempotent. */
void
hk_tree_end_walk (HkTree *tree)
{
  if (tree->walk_source != NULL)
    {
      g_source_destroy (tree->walk_source);
      g_clear_pointer (&tree->walk_source, g_source_unref);
    }
  if (!tree->early)
    return;
  tree->early = FALSE;
  hk_tree_early_trees = g_list_remove (hk_tree_early_trees, tree);
  hk_watch_hub_end_walk (tree->hub, tree->options.backend);
  g_clear_pointer (&tree->walk, g_ptr_array_unref);
  g_clear_pointer (&tree->held, g_ptr_array_unref);
  g_clear_pointer (&tree->held_set, g_hash_table_unref);
  g_clear_pointer (&tree->wanted, g_ptr_array_unref);
  g_atomic_int_set (&tree->walking, FALSE);
}

/* Reports what the backend held for the directories this slice read, once
 * it has read what the kernel queued until now. */
static void
release_held (HkTree *tree)
{
  g_autoptr(GPtrArray) watches = g_ptr_array_new ();

  hk_watch_hub_dispatch_pending (tree->hub);
  if (tree->held == NULL)
    return;  /* the walk ended while events were handled */

  for (guint i = 0; i < tree->held->len; i++)
    {
      HkDirNode *dir = g_ptr_array_index (tree->held, i);

      if (dir->watch != 0)
        g_ptr_array_add (watches, hk_watch_from_id (dir->watch));
    }

  tree->replaying = TRUE;
  hk_watch_hub_release_held (tree->hub, watches);
  g_clear_pointer (&tree->told, g_hash_table_unref);
  tree->replaying = FALSE;

  if (tree->held != NULL)
    {
      g_ptr_array_set_size (tree->held, 0);
      g_hash_table_remove_all (tree->held_set);
    }
}

static void
finish_walk (HkTree *tree)
{
  gint64 lost_since_ns = tree->lost_since_ns;
  gboolean stopped = g_atomic_int_get (&tree->cancelled) || tree->root_gone;

  hk_tree_end_walk (tree);
  tree->lost_since_ns = 0;
  if (stopped)
    return;

  /* Lost while walking (held too much): reported and rescanned now that
   * the snapshot has everything. */
  if (lost_since_ns != 0)
    hk_tree_on_overflow (tree, lost_since_ns, g_get_monotonic_time ());
  hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_WALK_COMPLETE, NULL);
  hk_event_queue_wake_now (tree->queue);
}

/* Reads @dir, taken from the walk's list, holding its events. */
static void
walk_read (HkTree    *tree,
           Scan      *scan,
           HkDirNode *dir)
{
  guint before = tree->walk->len;

  dir->queued = FALSE;
  tree->hold_watch = TRUE;
  hk_tree_scan_one (scan, dir);
  tree->hold_watch = FALSE;
  tree->n_walked++;
  g_atomic_int_inc (&walk_pause_walked);
  for (guint i = before; i < tree->walk->len; i++)
    ((HkDirNode *) g_ptr_array_index (tree->walk, i))->queued = TRUE;
  if (dir->watch != 0 && g_hash_table_add (tree->held_set, dir))
    g_ptr_array_add (tree->held, dir);
}

/* Directories with events held (client_wanted()) are read first, with the
 * directories above them, so that their events are not held for the
 * whole walk. */
static void
walk_read_wanted (HkTree *tree,
                  Scan   *scan)
{
  g_autoptr(GPtrArray) wanted = g_steal_pointer (&tree->wanted);

  for (guint i = 0; wanted != NULL && i < wanted->len; i++)
    {
      g_auto(GStrv) names = g_strsplit (g_ptr_array_index (wanted, i), "/", -1);
      HkDirNode *dir = tree->root;

      for (guint j = 0; dir != NULL; j++)
        {
          HkEntry *entry;

          if (dir->queued)
            {
              g_ptr_array_remove_fast (tree->walk, dir);
              walk_read (tree, scan, dir);
            }
          if (names[j] == NULL)
            break;
          if (names[j][0] == '\0')
            continue;
          entry = hk_dir_lookup (dir, names[j]);
          dir = entry != NULL ? hk_entry_dir (entry) : NULL;
        }
    }
}

/* Reads one slice of the walk and reports what was held for it. FALSE
 * when the walk is over. With @paused NULL, does not pause (tests). */
static gboolean
walk_slice (HkTree   *tree,
            gboolean *paused)
{
  Scan scan = { tree, FALSE, g_get_monotonic_time (), tree->walk };
  gint64 slice_end = scan.now + WALK_SLICE_US;
  guint n = 0;

  if (paused == NULL || !(*paused = walk_paused ()))
    walk_read_wanted (tree, &scan);

  while (tree->walk->len > 0 && !g_atomic_int_get (&tree->cancelled) && !tree->root_gone)
    {
      if (paused != NULL && (*paused = walk_paused ()))
        break;

      walk_read (tree, &scan, g_ptr_array_steal_index_fast (tree->walk, tree->walk->len - 1));
      if (++n % 16 == 0 && g_get_monotonic_time () >= slice_end)
        break;
    }
  hk_tree_scan_clear (&scan);
  release_held (tree);

  if (tree->walk == NULL)
    return FALSE;  /* ended meanwhile */
  if (tree->walk->len > 0 && !g_atomic_int_get (&tree->cancelled) && !tree->root_gone)
    return TRUE;
  finish_walk (tree);
  return FALSE;
}

static gboolean
walk_step (gpointer data)
{
  HkTree *tree = data;
  gboolean paused = FALSE;

  if (!walk_slice (tree, &paused))
    return G_SOURCE_REMOVE;  /* hk_tree_end_walk() destroyed the source */
  if (paused == tree->walk_paused)
    return G_SOURCE_CONTINUE;
  hk_tree_attach_walk_source (tree, paused);
  return G_SOURCE_REMOVE;
}

/* Another tree starting on the same backend would share the directories
 * (the backend's keys) that a walk has not reached yet, whose held events
 * go to whoever reads them first: the walks going on finish first. */
void
hk_tree_finish_early_walks (void)
{
  while (hk_tree_early_trees != NULL)
    {
      HkTree *other = hk_tree_early_trees->data;

      if (other->walk_source != NULL)
        {
          g_source_destroy (other->walk_source);
          g_clear_pointer (&other->walk_source, g_source_unref);
        }
      while (walk_slice (other, NULL))
        ;
    }
}

/* Whether start may return before the walk: asked for, and every change
 * below the root is seen from now without watching each directory. Trees
 * that span other filesystems (mounts inside, followed links) or report
 * a difference at start (`since`) walk first. */
gboolean
hk_tree_may_walk_early (HkTree *tree)
{
  g_autoptr(GHashTable) mounts = NULL;

  if (!tree->options.early || !tree->options.recursive || tree->only_name != NULL ||
      tree->options.follow_symlinks || tree->options.since != NULL ||
      tree->options.backend != HK_BACKEND_KIND_FANOTIFY)
    return FALSE;
  if (tree->options.mounts != NULL && g_hash_table_size (tree->options.mounts) > 0)
    return FALSE;
  /* Directories other watchdogs watch already get their events now. */
  if (hk_watch_hub_count_handles (tree->hub, HK_BACKEND_KIND_FANOTIFY) > 0)
    return FALSE;
  mounts = hk_mounts_inside (tree->options.root_path);
  return mounts == NULL || g_hash_table_size (mounts) == 0;
}

gboolean
hk_tree_is_walking (HkTree *tree)
{
  return g_atomic_int_get (&tree->walking);
}

/* --- early ready: what the backend held for a directory read silently --- */

/* @dir was read by the walk behind start, without reporting its entries,
 * and the backend held its events until then: each happened before the
 * read or just after it, so the read may show it or not. Each is
 * reported; the snapshot changes only where it does not show it yet. */
gboolean
hk_tree_is_pre_read (HkTree    *tree,
                     HkDirNode *dir)
{
  return tree->replaying && tree->held_set != NULL && dir != NULL &&
         g_hash_table_contains (tree->held_set, dir);
}

static void
emit_absent (HkTree      *tree,
             HkEventType  type,
             HkDirNode   *dir,
             const char  *name,
             gboolean     is_directory,
             gint64       now)
{
  hk_tree_emit (tree, type, hk_dir_path (&tree->nodes, dir, name, NULL), NULL,
                is_directory, FALSE, now);
}

/* What this replay told the user about @name in @dir. The kernel merges
 * queued events about one name and keeps the first one's place, so a
 * held event may say again what an earlier one said (a creation merged
 * into the write of the entry before it), or speak of an entry this
 * replay already told gone (made again: the new creation was merged into
 * the first one), and the read does not tell which. */
typedef enum
{
  TOLD_NOTHING,
  TOLD_CREATED,
  TOLD_GONE,
} Told;

static Told
told_state (HkTree     *tree,
            HkDirNode  *dir,
            const char *name)
{
  GHashTable *names = tree->told != NULL ? g_hash_table_lookup (tree->told, dir) : NULL;

  return names != NULL ? GPOINTER_TO_INT (g_hash_table_lookup (names, name)) : TOLD_NOTHING;
}

static void
note_told (HkTree     *tree,
           HkDirNode  *dir,
           const char *name,
           Told        told)
{
  GHashTable *names;

  if (!hk_tree_is_pre_read (tree, dir))
    return;
  /* Made on the first note: most slices replay nothing. */
  if (tree->told == NULL)
    tree->told = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);
  names = g_hash_table_lookup (tree->told, dir);
  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (tree->told, dir, names);
    }
  g_hash_table_insert (names, g_strdup (name), GINT_TO_POINTER (told));
}

static gboolean entry_on_disk_at_all (HkTree *tree, HkDirNode *dir, const char *name);

/* An event about @name, which this replay told gone, means it was made
 * again, and its creation was merged into an earlier event: told now,
 * when it is still there or @proven (a rename of it); otherwise it came
 * and went again, and its departure was merged into the one told. */
static HkEntry *
made_again (HkTree     *tree,
            HkDirNode  *dir,
            const char *name,
            gboolean    is_directory,
            gboolean    proven,
            gint64      now)
{
  HkEntry *node = hk_dir_lookup (dir, name);

  if (node == NULL && told_state (tree, dir, name) == TOLD_GONE &&
      (proven || entry_on_disk_at_all (tree, dir, name)))
    {
      hk_tree_on_created (tree, dir, name, FALSE, is_directory, now);
      note_told (tree, dir, name, TOLD_CREATED);
      node = hk_dir_lookup (dir, name);
    }
  return node;
}

void
hk_tree_pre_read_changed (HkTree      *tree,
                          HkDirNode   *dir,
                          const char  *name,
                          HkChange     change,
                          HkEventType  event_type,
                          gboolean     is_directory,
                          gint64       now)
{
  HkEntry *node;

  if (!hk_tree_is_live (tree) || !hk_tree_accepts (tree, dir, name))
    return;

  node = hk_dir_lookup (dir, name);
  switch (change)
    {
    case HK_CHANGE_CREATED:
    case HK_CHANGE_MOVED_IN:
      if (node == NULL && told_state (tree, dir, name) == TOLD_GONE &&
          !entry_on_disk_at_all (tree, dir, name))
        break;  /* came and went again: see made_again() */
      if (node != NULL && told_state (tree, dir, name) == TOLD_CREATED)
        {
          /* Told already: as any event about a known entry. */
          hk_tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
          break;
        }
      if (node != NULL && change == HK_CHANGE_MOVED_IN && node->kind == HK_NODE_DIR)
        {
          /* It came with its contents, which the walk takes as old: read
           * again, and reported, as any directory that arrives. */
          hk_dir_remove (&tree->nodes, dir, node);
          node = NULL;
        }
      if (node == NULL)
        hk_tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
      else if ((node->kind == HK_NODE_DIR) == !!is_directory)
        hk_tree_emit_entry (tree, HK_EVENT_CREATED, dir, node, FALSE, now);
      else
        emit_absent (tree, HK_EVENT_CREATED, dir, name, is_directory, now);
      note_told (tree, dir, name, TOLD_CREATED);
      break;

    case HK_CHANGE_DELETED:
    case HK_CHANGE_MOVED_OUT:
      node = made_again (tree, dir, name, is_directory, FALSE, now);
      if (node != NULL)
        hk_tree_on_deleted (tree, dir, name, now);
      else if (told_state (tree, dir, name) != TOLD_GONE)
        emit_absent (tree, HK_EVENT_DELETED, dir, name, is_directory, now);
      note_told (tree, dir, name, TOLD_GONE);
      break;

    default:
      node = made_again (tree, dir, name, is_directory, FALSE, now);
      if (node != NULL)
        hk_tree_on_changed (tree, dir, name, event_type, is_directory, now);
      else if (told_state (tree, dir, name) == TOLD_GONE)
        break;
      else if ((event_type != HK_EVENT_OPENED && event_type != HK_EVENT_CLOSED_NO_WRITE) ||
               (tree->options.access_events && !is_directory))
        emit_absent (tree, event_type, dir, name, is_directory, now);
      break;
    }
}

static gboolean
entry_on_disk_at_all (HkTree     *tree,
                      HkDirNode  *dir,
                      const char *name)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, name, NULL);
  struct stat st;

  return lstat (path, &st) == 0;
}

void
hk_tree_pre_read_moved (HkTree     *tree,
                        HkDirNode  *from_dir,
                        const char *from_name,
                        HkDirNode  *to_dir,
                        const char *to_name,
                        gboolean    is_directory,
                        gint64      now)
{
  HkEntry *from, *to;
  gboolean from_made_here, to_told;

  if (!hk_tree_is_live (tree))
    return;
  if (!hk_tree_accepts (tree, from_dir, from_name) || !hk_tree_accepts (tree, to_dir, to_name))
    {
      /* One side is filtered out: the other is a deletion or an arrival. */
      if (hk_tree_accepts (tree, from_dir, from_name))
        hk_tree_pre_read_changed (tree, from_dir, from_name, HK_CHANGE_MOVED_OUT, HK_EVENT_DELETED,
                                  is_directory, now);
      if (hk_tree_accepts (tree, to_dir, to_name))
        hk_tree_pre_read_changed (tree, to_dir, to_name, HK_CHANGE_MOVED_IN, HK_EVENT_CREATED,
                                  is_directory, now);
      return;
    }

  from = made_again (tree, from_dir, from_name, is_directory, TRUE, now);
  to = hk_dir_lookup (to_dir, to_name);
  from_made_here = told_state (tree, from_dir, from_name) == TOLD_CREATED;
  to_told = told_state (tree, to_dir, to_name) == TOLD_CREATED;
  note_told (tree, to_dir, to_name, TOLD_CREATED);
  note_told (tree, from_dir, from_name, TOLD_GONE);

  /* The source read after the move, the destination after it too: the
   * snapshot shows the move done. */
  if (from == NULL && to != NULL)
    {
      hk_tree_emit (tree, HK_EVENT_MOVED,
                    hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
                    hk_dir_path (&tree->nodes, to_dir, to_name, NULL),
                    to->kind == HK_NODE_DIR, FALSE, now);
      return;
    }

  /* The source read before the move (or recorded from an event and gone
   * since), the destination after: both show it. */
  if (from != NULL && to != NULL && from != to &&
      ((hk_entry_ino (from_dir, from) != 0 &&
        hk_entry_ino (from_dir, from) == hk_entry_ino (to_dir, to)) ||
       (hk_entry_ino (from_dir, from) == 0 && hk_entry_ino (to_dir, to) != 0 &&
        !entry_on_disk_at_all (tree, from_dir, from_name))))
    {
      hk_tree_emit (tree, HK_EVENT_MOVED, hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
                    hk_dir_path (&tree->nodes, to_dir, to_name, NULL),
                    to->kind == HK_NODE_DIR, FALSE, now);
      hk_dir_remove (&tree->nodes, from_dir, from);
      return;
    }

  /* A file this replay told made, landing where the read found a file
   * not told of: the read shows the move done, over whatever was there.
   * (The inode number recorded for the source is that of whatever had
   * its name when it was told, maybe a later file.) */
  if (from != NULL && to != NULL && from != to && from_made_here && !to_told &&
      from->kind != HK_NODE_DIR && to->kind != HK_NODE_DIR)
    {
      hk_tree_emit (tree, HK_EVENT_MOVED, hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
                    hk_dir_path (&tree->nodes, to_dir, to_name, NULL), FALSE, FALSE, now);
      hk_dir_remove (&tree->nodes, from_dir, from);
      return;
    }

  /* Neither shows it (the destination read before the move, the source
   * after): it is new where it landed. Otherwise, as usual. */
  if (from == NULL)
    hk_tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
  else
    hk_tree_on_moved (tree, from_dir, from_name, to_dir, to_name, is_directory, now);
}
