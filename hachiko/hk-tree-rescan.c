/* hk-tree-rescan.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hk-tree-internal-private.h"

/* How far back a rescan treats a changed ctime as a lost modification:
 * file timestamps come from a coarse clock (up to a jiffy behind), so
 * allow for that. */
#define CTIME_SLACK_NS (10 * G_GINT64_CONSTANT (1000000))

/* --- rescans: report the difference between the snapshot and the disk -- */

/* What a rescan found gone and found new is held until the end of the
 * rescan (or polling round), then paired by inode: an entry that reappears
 * under another name was renamed while its events were lost, and is
 * reported as one `moved`, its contents moving with it. */
struct _Pairing
{
  GPtrArray  *vanished;   /* of Vanished, in the order found */
  GHashTable *by_ino;     /* ino -> Vanished, for those with a known inode */
  GArray     *appeared;   /* of Appeared */
  GHashTable *appeared_at; /* "dir/name" -> index + 1 in appeared */
};

typedef struct
{
  HkDirNode  *dir;        /* a directory's node, detached with its subtree */
  char       *path;       /* where the user last saw it, when it vanished */
  HkDirNode  *parent;     /* the directory it vanished from */
  char       *name;       /* its name there */
  guint64     ino;
  guint32     stamp;
  HkNodeKind  kind;
  guint       paired : 1;
  guint       reattached : 1;
  guint       deferred : 1;   /* deleted after the moves out of it */
} Vanished;

typedef struct
{
  HkDirNode  *dir;
  char       *name;
  HkNodeKind  kind;
  guint64     ino;
  guint32     stamp;
  gboolean    born_late;  /* created after the lost stretch began: new */
  gboolean    in_cycle;   /* its source is part of a cycle of renames */
  Vanished   *source;     /* set when paired */
} Appeared;

static void
vanished_free (Vanished *v)
{
  g_free (v->path);
  g_free (v->name);
  g_free (v);
}

/* Whether @v is still held back, not yet put back into the snapshot. */
static gboolean
vanished_pending (Vanished *v)
{
  return !v->reattached;
}

Pairing *
hk_tree_pairing_new (void)
{
  Pairing *pairing = g_new0 (Pairing, 1);

  pairing->vanished = g_ptr_array_new_with_free_func ((GDestroyNotify) vanished_free);
  pairing->by_ino = g_hash_table_new (g_int64_hash, g_int64_equal);
  pairing->appeared = g_array_new (FALSE, FALSE, sizeof (Appeared));
  pairing->appeared_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return pairing;
}

/* @entry of @dir is no longer on disk (or is another one now). */
static void
vanish (Scan      *scan,
        HkDirNode *dir,
        HkEntry   *entry)
{
  Vanished *v;

  if (scan->pairing == NULL)
    {
      hk_tree_emit_entry (scan->tree, HK_EVENT_DELETED, dir, entry, TRUE, scan->now);
      hk_dir_remove (&scan->tree->nodes, dir, entry);
      return;
    }

  v = g_new0 (Vanished, 1);
  v->path = hk_tree_entry_path (scan->tree, dir, entry);
  v->parent = dir;
  v->name = g_strdup (hk_dir_entry_name (dir, entry));
  v->kind = entry->kind;
  v->ino = hk_entry_ino (dir, entry);
  v->stamp = entry->stamp;
  v->dir = hk_dir_detach (dir, entry);
  g_ptr_array_add (scan->pairing->vanished, v);
  if (v->ino != 0)
    g_hash_table_insert (scan->pairing->by_ino, &v->ino, v);
}

/* Whether the entry @name (in the directory open as @dir_fd) was created
 * after @lost_from_ns, by its birth time where the filesystem keeps one.
 * Such an entry is new, even when it has the inode number of one that
 * vanished: filesystems hand a freed number out again at once. Birth times
 * come from the coarse clock or a fine one, and the stretch's start from
 * either too: only a birth clearly after it counts, and an entry made in
 * the first BIRTH_SLACK_NS of the stretch may still be paired. */
#define BIRTH_SLACK_NS (20 * G_GINT64_CONSTANT (1000000))

static gboolean
born_after (int         dir_fd,
            const char *name,
            gint64      lost_from_ns)
{
  struct statx stx;

  if (lost_from_ns == 0 ||
      statx (dir_fd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) != 0 ||
      !(stx.stx_mask & STATX_BTIME))
    return FALSE;
  return (gint64) stx.stx_btime.tv_sec * G_GINT64_CONSTANT (1000000000) +
         stx.stx_btime.tv_nsec > lost_from_ns + BIRTH_SLACK_NS;
}

static void
appear (Scan              *scan,
        HkDirNode         *dir,
        int                dir_fd,
        const char        *name,
        HkNodeKind         kind,
        const struct stat *st)
{
  Pairing *pairing = scan->pairing;
  Appeared a = { dir, NULL, kind, st->st_ino,
                 kind != HK_NODE_DIR ? hk_node_stamp_from_stat (st) : 0,
                 born_after (dir_fd, name, scan->lost_from_ns), FALSE, NULL };
  char *at = g_strdup_printf ("%p/%s", (gpointer) dir, name);
  guint found = GPOINTER_TO_UINT (g_hash_table_lookup (pairing->appeared_at, at));

  /* Read twice in one round (its directory changed again meanwhile): the
   * later read is what is there. Two entries for one name would pair two
   * moves onto it. */
  if (found != 0)
    {
      Appeared *earlier = &g_array_index (pairing->appeared, Appeared, found - 1);

      earlier->kind = a.kind;
      earlier->ino = a.ino;
      earlier->stamp = a.stamp;
      earlier->born_late = a.born_late;
      g_free (at);
      return;
    }

  a.name = g_strdup (name);
  g_array_append_val (pairing->appeared, a);
  g_hash_table_insert (pairing->appeared_at, at, GUINT_TO_POINTER (pairing->appeared->len));
}

/* The directories above the sources of paired moves, as paths: a
 * deletion of one of them waits until after the moves out of it. One set
 * for the whole pairing: a rescan may hold a hundred thousand entries. */
static GHashTable *
move_source_parents (Pairing *pairing)
{
  GHashTable *parents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < pairing->vanished->len; i++)
    {
      Vanished *v = g_ptr_array_index (pairing->vanished, i);
      const char *slash;

      if (!v->paired)
        continue;
      for (slash = strrchr (v->path, '/'); slash != NULL && slash > v->path;
           slash = g_strrstr_len (v->path, slash - v->path, "/"))
        {
          char *parent = g_strndup (v->path, slash - v->path);

          if (!g_hash_table_add (parents, parent))
            break;  /* and so are the ones above it */
        }
    }
  return parents;
}

gboolean
hk_tree_is_attached (HkTree    *tree,
                     HkDirNode *dir)
{
  return hk_dir_is_within (dir, tree->root);
}

/* Where the user sees @v now: a move of a directory above it, told
 * earlier in the same pairing, moved it too. (A directory it vanished
 * from that is itself held back has not been told anything yet.) */
static char *
told_path (HkTree   *tree,
           Vanished *v)
{
  if (hk_tree_is_attached (tree, v->parent))
    return hk_dir_path (&tree->nodes, v->parent, v->name, NULL);
  return g_strdup (v->path);
}

/* Reports @entry of @dir created, and everything below it, directories
 * before their contents. */
static void
emit_subtree_created (HkTree    *tree,
                      HkDirNode *dir,
                      HkEntry   *entry,
                      gint64     now)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  hk_tree_emit_entry (tree, HK_EVENT_CREATED, dir, entry, TRUE, now);
  if (hk_entry_dir (entry) != NULL)
    g_ptr_array_add (stack, hk_entry_dir (entry));
  while (stack->len > 0)
    {
      HkDirNode *top = g_ptr_array_steal_index (stack, stack->len - 1);

      for (guint i = 0; i < hk_dir_n_entries (top); i++)
        {
          HkEntry *child = hk_dir_entry_at (top, i);

          hk_tree_emit_entry (tree, HK_EVENT_CREATED, top, child, TRUE, now);
          if (hk_entry_dir (child) != NULL)
            g_ptr_array_add (stack, hk_entry_dir (child));
        }
    }
}

/* Puts the vanished source of @a back into the snapshot where it
 * appeared. */
static HkEntry *
reattach (HkTree   *tree,
          Appeared *a)
{
  Vanished *v = a->source;
  HkEntry *entry;

  v->reattached = TRUE;
  if (v->dir != NULL)
    return hk_dir_attach (a->dir, a->name, g_steal_pointer (&v->dir));

  entry = hk_dir_add (&tree->nodes, a->dir, a->name, v->kind, v->ino);
  entry->stamp = a->stamp;  /* a rename changes the ctime */
  return entry;
}

/* Reports what the rescan held back: deletions first (a rename over an
 * existing entry must find its destination free), then moves, each once
 * its destination is free in what the user was told, then creations. The
 * directories that moved are returned for a deep rescan to re-read. */
GPtrArray *
hk_tree_pairing_finish (Scan *scan)
{
  Pairing *pairing = g_steal_pointer (&scan->pairing);
  HkTree *tree = scan->tree;
  GPtrArray *moved_dirs = g_ptr_array_new ();
  g_autoptr(GHashTable) occupied = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) source_parents = NULL;
  gboolean progress = TRUE;

  for (guint i = 0; i < pairing->appeared->len; i++)
    {
      Appeared *a = &g_array_index (pairing->appeared, Appeared, i);
      Vanished *v = a->ino != 0 ? g_hash_table_lookup (pairing->by_ino, &a->ino) : NULL;

      if (v != NULL && !v->paired && v->kind == a->kind && !a->born_late &&
          hk_tree_is_attached (tree, a->dir))
        {
          v->paired = TRUE;
          a->source = v;
          g_hash_table_add (occupied, v->path);
        }
    }

  for (guint i = 0; i < pairing->vanished->len; i++)
    {
      Vanished *v = g_ptr_array_index (pairing->vanished, i);

      if (v->paired)
        continue;
      /* A directory holding the source of a move is deleted after the
       * move, so that the move's source is still there when it is told. */
      if (source_parents == NULL)
        source_parents = move_source_parents (pairing);
      if (v->kind == HK_NODE_DIR && g_hash_table_contains (source_parents, v->path))
        {
          v->deferred = TRUE;
          continue;
        }
      /* Freed at the end: appearances below it still point into it. */
      hk_tree_emit (tree, HK_EVENT_DELETED, told_path (tree, v), NULL,
                    v->kind == HK_NODE_DIR, TRUE, scan->now);
    }

  while (progress)
    {
      progress = FALSE;
      for (guint i = 0; i < pairing->appeared->len; i++)
        {
          Appeared *a = &g_array_index (pairing->appeared, Appeared, i);
          g_autofree char *dest = NULL;
          HkDirNode *moved_dir;
          char *source;

          if (a->source == NULL || !vanished_pending (a->source))
            continue;
          dest = hk_dir_path (&tree->nodes, a->dir, a->name, NULL);
          if (g_hash_table_contains (occupied, dest))
            continue;

          g_hash_table_remove (occupied, a->source->path);
          source = told_path (tree, a->source);
          moved_dir = hk_entry_dir (reattach (tree, a));
          hk_tree_emit (tree, HK_EVENT_MOVED, source, g_steal_pointer (&dest),
                        moved_dir != NULL, TRUE, scan->now);
          if (moved_dir != NULL)
            g_ptr_array_add (moved_dirs, moved_dir);
          progress = TRUE;
        }
    }

  for (guint i = 0; i < pairing->vanished->len; i++)
    {
      Vanished *v = g_ptr_array_index (pairing->vanished, i);

      if (v->deferred)
        hk_tree_emit (tree, HK_EVENT_DELETED, told_path (tree, v), NULL,
                      v->kind == HK_NODE_DIR, TRUE, scan->now);
    }

  /* A cycle of renames (a <-> b, an exchange): told as deletions, then
   * creations, so that every name created is free by then. */
  for (guint i = 0; i < pairing->appeared->len; i++)
    {
      Appeared *a = &g_array_index (pairing->appeared, Appeared, i);

      a->in_cycle = a->source != NULL && vanished_pending (a->source);
      if (a->in_cycle)
        hk_tree_emit (tree, HK_EVENT_DELETED, told_path (tree, a->source), NULL,
                      a->kind == HK_NODE_DIR, TRUE, scan->now);
    }

  for (guint i = 0; i < pairing->appeared->len; i++)
    {
      Appeared *a = &g_array_index (pairing->appeared, Appeared, i);
      HkEntry *child;

      if (a->in_cycle)
        emit_subtree_created (tree, a->dir, reattach (tree, a), scan->now);
      else if (a->source == NULL && hk_tree_is_attached (tree, a->dir) &&
               hk_dir_lookup (a->dir, a->name) == NULL)
        {
          g_autofree char *dir_path = hk_dir_path (&tree->nodes, a->dir, NULL, NULL);
          int dir_fd = open (dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

          child = hk_tree_add_entry (tree, a->dir, dir_fd, a->name, a->kind, a->ino);
          hk_tree_report_found (tree, a->dir, child, dir_fd, scan);
          if (dir_fd >= 0)
            close (dir_fd);
        }
      g_free (a->name);
    }

  for (guint i = 0; i < pairing->vanished->len; i++)
    {
      Vanished *v = g_ptr_array_index (pairing->vanished, i);

      if (v->dir != NULL)
        hk_dir_free (&tree->nodes, g_steal_pointer (&v->dir));
    }

  g_array_unref (pairing->appeared);
  g_hash_table_unref (pairing->appeared_at);
  g_hash_table_unref (pairing->by_ino);
  g_ptr_array_unref (pairing->vanished);
  g_free (pairing);

  return moved_dirs;
}

/* How far ahead of the coarse clock that cuts polling windows a file's
 * time can be: fine-grained timestamps (Linux 6.13 and later) run up to a
 * tick (10 ms at HZ=100) ahead of it. */
#define FINE_AHEAD_NS (20 * G_GINT64_CONSTANT (1000000))

/* What a changed ctime means. A polling round knows its window, so it can
 * tell a write (mtime in the window) from a metadata change. A write seen
 * now with an mtime just past the window's end happened before the round
 * looked: the clocks differ, it is still a write of this round. */
HkEventType
hk_tree_lost_change (Scan              *scan,
                     const struct stat *st,
                     gint64             since_ns)
{
  gint64 mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;

  if (scan->until_ns == 0 || (mtime_ns >= since_ns && mtime_ns < scan->until_ns + FINE_AHEAD_NS))
    return HK_EVENT_MODIFIED;
  return HK_EVENT_ATTRIBUTE_CHANGED;
}

/* Whether the file @entry, now @st on disk, changed since the user was
 * last told about it. Its stamp says what was reported; a file never
 * stamped (read by the start walk and quiet since) counts as changed when
 * its ctime is not older than @threshold_ns, the last moment nothing was
 * lost. */
gboolean
hk_tree_file_changed_unreported (const HkEntry     *entry,
                                 const struct stat *st,
                                 gint64             threshold_ns,
                                 gint64             until_ns)
{
  gint64 ctime_ns;

  if (entry->stamp != 0)
    return entry->stamp != hk_node_stamp_from_stat (st);

  ctime_ns = (gint64) st->st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_ctim.tv_nsec;
  return ctime_ns >= threshold_ns && (until_ns == 0 || ctime_ns < until_ns);
}

/* Whether the link @name (in the directory open as @dir_fd), followed as
 * @dir, still leads to the same directory. */
static gboolean
followed_link_unchanged (HkTree    *tree,
                         HkDirNode *dir,
                         int        dir_fd)
{
  struct stat target;

  return fstatat (dir_fd, hk_dir_name (dir), &target, 0) == 0 &&
         S_ISDIR (target.st_mode) &&
         target.st_ino == dir->ino &&
         hk_node_dev (target.st_dev) == dir->dev;
}

static DIR *
open_dir (HkTree     *tree,
          HkDirNode  *dir,
          const char *path,
          GError    **error)
{
  int fd = hk_tree_open_dir_fd (tree, dir, path);
  DIR *dirp;

  if (fd < 0)
    {
      int errsv = errno;
      g_autofree char *display = g_filename_display_name (path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot read directory “%s”: %s", display, g_strerror (errsv));
      return NULL;
    }

  dirp = fdopendir (fd);
  if (dirp == NULL)
    close (fd);
  return dirp;
}

void
hk_tree_rescan_dir (HkTree    *tree,
                    HkDirNode *dir,
                    Scan      *scan,
                    gint64     threshold_ns)
{
  const char *relative;
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, &relative);
  g_autoptr(GError) error = NULL;
  struct dirent *de;
  HkEntry *child;
  DIR *dirp;

  gboolean was_unwatched = dir->watch == 0;

  if (was_unwatched && (dir == tree->root || tree->options.recursive))
    hk_tree_watch_dir (tree, dir, path, NULL);

  dirp = open_dir (tree, dir, path, &error);
  if (dirp == NULL)
    {
      /* Gone: its parent's rescan reports it, or it was renamed and the
       * rename's event catches up with it, if it is left unwatched. */
      if (was_unwatched && dir != tree->root)
        hk_tree_unwatch_dir (tree, dir);
      return;
    }

  while ((de = readdir (dirp)) != NULL && !g_atomic_int_get (&tree->cancelled))
    {
      const char *name = de->d_name;
      struct stat st;
      HkNodeKind kind;

      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
        continue;
      if (!hk_tree_accepts (tree, dir, name))
        continue;
      if (fstatat (dirfd (dirp), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;

      kind = hk_node_kind_from_mode (st.st_mode);
      child = hk_dir_lookup (dir, name);
      if (child != NULL && child->kind == HK_NODE_DIR && hk_entry_dir (child)->followed &&
          kind == HK_NODE_SYMLINK && followed_link_unchanged (tree, hk_entry_dir (child), dirfd (dirp)))
        {
          /* A followed link to the same directory: rescanned as that
           * directory. Anything else is a replacement, below. */
          child->mark = TRUE;
          if (hk_tree_descend_into (tree, hk_entry_dir (child)))
            hk_tree_rescan_dir (tree, hk_entry_dir (child), scan, threshold_ns);
          continue;
        }

      if (child != NULL && (child->kind != kind ||
                            (hk_entry_ino (dir, child) != 0 && hk_entry_ino (dir, child) != st.st_ino)))
        {
          /* Replaced by something else. */
          vanish (scan, dir, child);
          child = NULL;
        }

      if (child == NULL && scan->pairing != NULL)
        {
          appear (scan, dir, dirfd (dirp), name, kind, &st);
          continue;
        }

      if (child == NULL)
        {
          /* All new: watched, reported, then read by a plain scan. */
          child = hk_tree_add_entry (tree, dir, dirfd (dirp), name, kind, st.st_ino);
          child->mark = TRUE;
          hk_tree_report_found (tree, dir, child, dirfd (dirp), scan);
          continue;
        }

      /* Marked first: the entry may move in its table below. */
      child->mark = TRUE;
      child = hk_entry_set_ino (dir, child, st.st_ino);
      if (kind != HK_NODE_DIR)
        {
          if (hk_tree_file_changed_unreported (child, &st, threshold_ns, scan->until_ns))
            hk_tree_emit_entry (tree, hk_tree_lost_change (scan, &st, threshold_ns), dir, child,
                                TRUE, scan->now);
          child->stamp = hk_node_stamp_from_stat (&st);
        }
      else if (!scan->shallow && hk_tree_descend_into (tree, hk_entry_dir (child)))
        hk_tree_rescan_dir (tree, hk_entry_dir (child), scan, threshold_ns);
    }
  closedir (dirp);

  /* What was not seen vanished. Backwards: a removal moves the last entry,
   * already looked at, into the hole. A stopped tree is thrown away. */
  for (guint i = hk_dir_n_entries (dir); i > 0; i--)
    {
      child = hk_dir_entry_at (dir, i - 1);
      if (child->mark || g_atomic_int_get (&tree->cancelled))
        child->mark = FALSE;
      else
        vanish (scan, dir, child);
    }
}

/* Re-reads @dir (NULL: the whole tree) and reports how it differs from
 * the snapshot. Files whose ctime is not older than @synced_at_ns (the last
 * moment the snapshot was known to be complete) are reported modified. */
void
hk_tree_rescan (HkTree    *tree,
                HkDirNode *dir,
                gint64     synced_at_ns,
                gint64     now)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  g_autoptr(GPtrArray) todo = g_ptr_array_new ();
  Scan scan = { tree, TRUE, now, pending };

  if (tree->root_gone)
    return;
  scan.lost_from_ns = synced_at_ns;

  g_ptr_array_add (todo, dir != NULL ? dir : tree->root);
  while (todo->len > 0 && !g_atomic_int_get (&tree->cancelled))
    {
      g_autoptr(GPtrArray) moved = NULL;

      scan.pairing = hk_tree_pairing_new ();
      for (guint i = 0; i < todo->len; i++)
        hk_tree_rescan_dir (tree, g_ptr_array_index (todo, i), &scan,
                            synced_at_ns - CTIME_SLACK_NS);
      moved = hk_tree_pairing_finish (&scan);
      hk_tree_scan_run (&scan);
      /* Directories that moved while events were lost may have changed
       * inside too. */
      g_ptr_array_set_size (todo, 0);
      g_ptr_array_extend (todo, moved, NULL, NULL);
    }
}


void
hk_tree_on_overflow (HkTree *tree,
                     gint64  lost_since_ns,
                     gint64  now)
{
  if (tree->root_gone)
    return;

  hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_OVERFLOW, NULL);
  if (!tree->suspended)
    {
      /* Every event after the backend last knew it was complete was either
       * read or lost. */
      hk_tree_rescan (tree, NULL, MAX (tree->synced_at_ns, lost_since_ns), now);
      tree->synced_at_ns = hk_tree_realtime_ns ();
    }
}

void
hk_tree_inject_overflow (HkTree *tree)
{
  hk_tree_on_overflow (tree, hk_tree_realtime_ns (), g_get_monotonic_time ());
}

void
hk_tree_resume (HkTree *tree)
{
  if (!tree->suspended)
    return;

  tree->suspended = FALSE;
  hk_tree_rescan (tree, NULL, tree->synced_at_ns, g_get_monotonic_time ());
  tree->synced_at_ns = hk_tree_realtime_ns ();
}
