/* hk-tree.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hk-event-private.h"
#include "hk-mount-monitor-private.h"
#include "hk-nodes-private.h"
#include "hk-scanner-private.h"
#include "hk-snapshot-private.h"
#include "hk-tree-internal-private.h"
#include "hk-tree-private.h"

/* HkTree is one running watchdog's view of its tree, kept on the worker
 * thread: a snapshot of every entry (name, kind, inode) that turns kernel
 * events into HkEvents and keeps them consistent.
 *
 * The snapshot is what makes "exactly once" hold. A new directory is
 * watched first and read second; whatever the read finds is reported
 * (synthetic) and recorded, so when the kernel's own IN_CREATE for the same
 * name arrives later it is recognised and dropped. A deletion of a name
 * the snapshot never had is dropped too: its creation was never reported.
 * After a lost stretch of events (kernel overflow, a saturated owner
 * queue, a subtree without watches) the tree is re-read and compared with
 * the snapshot, and only the difference is reported.
 *
 * The rescans are in hk-tree-rescan.c; the walk that goes on behind start,
 * and the replay of the events the backend held for it, in hk-tree-early.c.
 * hk-tree-internal-private.h is what the three files share. */

/* Directories past the kernel's watch limit are polled this often (unless
 * the watchdog sets its own poll interval), and try to get a kernel watch
 * back this often (sooner when some watch is released). */
#define FALLBACK_POLL_INTERVAL_MS 2000
#define FALLBACK_RETRY_US (30 * G_USEC_PER_SEC)

/* While events arrive, how often the root path is checked to still lead to
 * the root: a parent renamed sends the root's own watch no event. */
#define ROOT_CHECK_INTERVAL_US (100 * 1000)

gint64
hk_tree_realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* --- the tree's side of the snapshot ----------------------------------- */

static gboolean
is_fallback (HkTree    *tree,
             HkDirNode *dir)
{
  return dir->fallback;
}

void
hk_tree_unwatch_dir (HkTree    *tree,
                     HkDirNode *dir)
{
  if (dir->watch == 0)
    return;

  g_hash_table_remove (tree->placed, dir);
  if (is_fallback (tree, dir))
    g_atomic_int_add (&tree->n_polled, -1);
  dir->fallback = FALSE;
  hk_watch_remove (hk_watch_from_id (dir->watch));
  dir->watch = 0;
  g_atomic_int_add (&tree->n_watched, -1);
}

/* A directory that shares its watch with another of the tree, and the
 * directory the watch was placed on: see check_watch_siblings(). */
typedef struct
{
  HkDirNode *dir;
  guint64    ino;
  dev_t      dev;
  guint      tries;
} WatchCheck;

static void
forget_watch_checks (HkTree    *tree,
                     HkDirNode *dir)
{
  for (guint i = tree->watch_checks->len; i > 0; i--)
    if (g_array_index (tree->watch_checks, WatchCheck, i - 1).dir == dir)
      g_array_remove_index (tree->watch_checks, i - 1);
}

static void
forget_exchange (HkTree *tree)
{
  tree->exchange.from_dir = tree->exchange.to_dir = NULL;
  g_clear_pointer (&tree->exchange.from_name, g_free);
  g_clear_pointer (&tree->exchange.to_name, g_free);
}

/* The snapshot frees a directory: the tree lets its watch go. */
static void
dir_freed (HkDirNode *dir,
           gpointer   user_data)
{
  HkTree *tree = user_data;

  /* Deleted by an event handled while the start walk yielded. */
  if (dir->queued && tree->walk != NULL)
    g_ptr_array_remove_fast (tree->walk, dir);
  if (tree->held_set != NULL && g_hash_table_remove (tree->held_set, dir))
    g_ptr_array_remove (tree->held, dir);
  if (tree->told != NULL)
    g_hash_table_remove (tree->told, dir);
  forget_watch_checks (tree, dir);
  if (tree->exchange.from_dir == dir || tree->exchange.to_dir == dir)
    forget_exchange (tree);
  hk_tree_unwatch_dir (tree, dir);
}

/* Records the state of @entry (a file at @path) that is being reported. */
static void
entry_stamp (HkEntry    *entry,
             const char *path)
{
  struct stat st;

  if (entry->kind == HK_NODE_DIR)
    return;
  entry->stamp = lstat (path, &st) == 0 ? hk_node_stamp_from_stat (&st) : 0;
}

char *
hk_tree_entry_path (HkTree         *tree,
                    HkDirNode      *dir,
                    const HkEntry  *entry)
{
  return hk_dir_path (&tree->nodes, dir, hk_dir_entry_name (dir, entry), NULL);
}

/* --- output ------------------------------------------------------------ */

void
hk_tree_emit (HkTree      *tree,
              HkEventType  type,
              char        *path,
              char        *dest_path,
              gboolean     is_directory,
              gboolean     synthetic,
              gint64       now)
{
  HkEvent *event = hk_event_new_take (type, path, dest_path, is_directory, synthetic, now);

  /* Who made the change, when the backend knows (fanotify). */
  if (!synthetic)
    hk_event_set_pid (event, hk_watch_hub_get_event_pid (tree->hub));
  hk_event_queue_push_event (tree->queue, event);
}

/* Reports @entry of @dir. */
void
hk_tree_emit_entry (HkTree      *tree,
                    HkEventType  type,
                    HkDirNode   *dir,
                    HkEntry     *entry,
                    gboolean     synthetic,
                    gint64       now)
{
  hk_tree_emit (tree, type, hk_tree_entry_path (tree, dir, entry), NULL,
                entry->kind == HK_NODE_DIR, synthetic, now);
}

static void
report_error (HkTree     *tree,
              GError     *error)
{
  hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_ERROR, error);
}

/* --- watching and scanning --------------------------------------------- */

static gboolean
is_excluded (HkTree     *tree,
             const char *relative)
{
  return tree->options.rules != NULL &&
         *relative != '\0' &&
         hk_filter_rules_excludes_directory (tree->options.rules, relative);
}

gboolean
hk_tree_accepts (HkTree     *tree,
                 HkDirNode  *dir,
                 const char *name)
{
  return tree->only_name == NULL ||
         (dir == tree->root && strcmp (name, tree->only_name) == 0);
}

/* Whether @dir's path may end in a symbolic link to be followed: the root
 * (a link given as the root is resolved, follow-symlinks or not) and links
 * followed with follow-symlinks. Any other directory is opened and watched
 * without following, so a directory replaced by a link is not entered. */
static gboolean
dir_may_be_link (HkTree    *tree,
                 HkDirNode *dir)
{
  return dir == tree->root || dir->followed;
}

static guint32
watch_flags (HkTree    *tree,
             HkDirNode *dir)
{
  return (tree->options.access_events ? HK_WATCH_ACCESS_EVENTS : 0) |
         (dir_may_be_link (tree, dir) ? HK_WATCH_FOLLOW_SYMLINK : 0) |
         (tree->hold_watch ? HK_WATCH_HOLD : 0);
}

/* On Linux, O_NOFOLLOW on a link fails with ENOTDIR as well as ELOOP, so
 * whether to follow is decided from the node, not from the error. */
int
hk_tree_open_dir_fd (HkTree     *tree,
                     HkDirNode  *dir,
                     const char *path)
{
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

  if (!dir_may_be_link (tree, dir))
    flags |= O_NOFOLLOW;
  return open (path, flags);
}

static HkWatch *
add_watch (HkTree         *tree,
           HkBackendKind   kind,
           HkDirNode      *dir,
           const char     *path,
           GError        **error)
{
  HkWatch *watch = hk_watch_hub_add (tree->hub, kind, &tree->client, dir, path,
                                     watch_flags (tree, dir), error);

  if (watch != NULL && kind == HK_BACKEND_KIND_POLL)
    hk_watch_set_interval (watch, tree->options.poll_interval > 0
                                  ? tree->options.poll_interval
                                  : FALLBACK_POLL_INTERVAL_MS);
  return watch;
}

/* Under AUTO each mount point inside the tree gets the backend its
 * filesystem needs; other directories take their parent's. */
static HkBackendKind
backend_for (HkTree     *tree,
             HkDirNode  *dir,
             const char *path)
{
  HkDirNode *parent = hk_dir_parent (dir);
  gpointer kind;

  if (tree->options.mounts != NULL &&
      g_hash_table_lookup_extended (tree->options.mounts, path, NULL, &kind))
    return GPOINTER_TO_INT (kind);
  if (parent != NULL && parent->watch != 0 && !parent->fallback)
    return hk_watch_get_kind (hk_watch_from_id (parent->watch));
  return tree->options.backend;
}

/* Out of kernel watches: @dir is polled instead, and tries again for a
 * kernel watch later (see retry_kernel_watch()). */
static gboolean
fall_back_to_polling (HkTree      *tree,
                      HkDirNode   *dir,
                      const char  *path,
                      GError      *why)
{
  dir->watch = hk_watch_id (add_watch (tree, HK_BACKEND_KIND_POLL, dir, path, NULL));
  if (dir->watch == 0)
    return FALSE;
  dir->fallback = TRUE;

  g_atomic_int_inc (&tree->n_watched);
  tree->releases_seen = hk_watch_hub_get_releases (tree->hub, tree->options.backend);
  tree->next_retry_us = g_get_monotonic_time () + FALLBACK_RETRY_US;

  /* One error per episode, not one per directory. */
  if (g_atomic_int_add (&tree->n_polled, 1) == 0)
    {
      GError *error = g_error_copy (why);

      g_prefix_error (&error, "Falling back to polling every %u ms: ",
                      tree->options.poll_interval > 0
                      ? tree->options.poll_interval : FALLBACK_POLL_INTERVAL_MS);
      report_error (tree, error);
    }
  return TRUE;
}

static gboolean rewatch_misplaced (gpointer data);

/* Whether the backend watching @dir gives out a watch that stands for one
 * live object: the kernel's (an inotify descriptor or a fanotify handle
 * dies with its inode), and the fake one that stands in for inotify in
 * tests. */
static gboolean
watch_is_on_one_object (HkDirNode *dir)
{
  HkWatch *watch = hk_watch_from_id (dir->watch);
  HkBackendKind kind = watch != NULL ? hk_watch_get_kind (watch) : HK_BACKEND_KIND_AUTO;

  return kind == HK_BACKEND_KIND_INOTIFY || kind == HK_BACKEND_KIND_FANOTIFY ||
         kind == HK_BACKEND_KIND_FAKE;
}

static void
arm_watch_checks (HkTree *tree)
{
  if (tree->watch_checks->len == 0 || tree->watch_checks_source != NULL)
    return;
  /* Below every backend's source: it runs when they have nothing ready,
   * so that a path made stale by a move is brought up to date first. */
  tree->watch_checks_source = g_idle_source_new ();
  g_source_set_priority (tree->watch_checks_source, G_PRIORITY_LOW);
  g_source_set_callback (tree->watch_checks_source, rewatch_misplaced, tree, NULL);
  g_source_attach (tree->watch_checks_source, g_main_context_get_thread_default ());
}

static void
add_watch_check (HkTree      *tree,
                 HkDirNode   *dir,
                 struct stat *watched)
{
  WatchCheck check = { dir, watched->st_ino, watched->st_dev, 0 };

  forget_watch_checks (tree, dir);
  g_array_append_val (tree->watch_checks, check);
}

/* A watch by path lands on whatever has the name when it is placed: a
 * directory renamed (and its name taken) before its creation was handled
 * got the watch of the directory that took the name, and was read there.
 * When @dir's new watch (just placed at @path) is one other directories of
 * this tree have too, each of them is checked once the events already
 * queued are handled: one whose path leads elsewhere than the directory
 * the watch is on is watched and read again where it is
 * (rewatch_misplaced()). Two links to one directory lead to the same. */
static gboolean
check_watch_siblings (HkTree     *tree,
                      HkDirNode  *dir,
                      const char *path)
{
  g_autoptr(GPtrArray) siblings = g_ptr_array_new ();
  struct stat watched;

  hk_watch_collect_siblings (hk_watch_from_id (dir->watch), siblings);
  if (siblings->len == 0 || stat (path, &watched) != 0)
    return TRUE;

  /* Another directory of the tree, read with its inode, is the one the
   * watch is on, and @dir (known by name only) is not a link to it: @dir
   * is elsewhere, its path stale until its move is handled. It is not
   * read here; that move watches and reads it where it lands. Only where
   * a shared watch means one live directory: GIO and polling key theirs
   * by inode number or path, which a new directory can share with a
   * deleted one whose deletion is still to be handled. */
  for (guint i = 0; i < siblings->len && watch_is_on_one_object (dir); i++)
    {
      HkDirNode *other = g_ptr_array_index (siblings, i);

      if (dir->ino == 0 && !dir->followed && !other->followed &&
          other->ino == watched.st_ino && other->dev == hk_node_dev (watched.st_dev))
        return FALSE;
    }

  add_watch_check (tree, dir, &watched);
  for (guint i = 0; i < siblings->len; i++)
    add_watch_check (tree, siblings->pdata[i], &watched);
  arm_watch_checks (tree);
  return TRUE;
}

/* Watches @dir. Returns FALSE when @dir cannot be read at all (it vanished
 * or is unreadable) so the caller does not descend into it. */
gboolean
hk_tree_watch_dir (HkTree     *tree,
                   HkDirNode  *dir,
                   const char *path,
                   GError    **error)
{
  g_autoptr(GError) local_error = NULL;

  if (dir->watch != 0)
    return TRUE;

  dir->watch = hk_watch_id (add_watch (tree, backend_for (tree, dir, path), dir, path, &local_error));
  if (dir->watch != 0)
    {
      g_atomic_int_inc (&tree->n_watched);
      if (check_watch_siblings (tree, dir, path))
        return TRUE;
      hk_tree_unwatch_dir (tree, dir);
      return FALSE;
    }

  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
      g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY))
    return FALSE;  /* vanished between readdir and add_watch: its deletion follows */

  if (dir == tree->root)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  /* Out of inotify watches, AUTO goes on with fanotify marks where the
   * process may place them (they have no per-directory limit), and polls
   * only where it may not. */
  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) &&
      tree->options.automatic &&
      backend_for (tree, dir, path) == HK_BACKEND_KIND_INOTIFY)
    {
      dir->watch = hk_watch_id (add_watch (tree, HK_BACKEND_KIND_FANOTIFY, dir, path, NULL));
      if (dir->watch != 0)
        {
          g_atomic_int_inc (&tree->n_watched);
          /* Said once: nothing is lost, but the application may want to
           * raise fs.inotify.max_user_watches. */
          if (!tree->fanotify_fallback_reported)
            {
              tree->fanotify_fallback_reported = TRUE;
              g_prefix_error (&local_error, "Watching with fanotify from here on: ");
              report_error (tree, g_steal_pointer (&local_error));
            }
          return TRUE;
        }
    }

  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) &&
      fall_back_to_polling (tree, dir, path, local_error))
    return TRUE;

  report_error (tree, g_steal_pointer (&local_error));
  return FALSE;
}

void
hk_tree_scan_clear (Scan *scan)
{
  g_clear_pointer (&scan->dents, g_free);
}

/* Whether the directory @dir (NULL: not a directory) is watched and read. */
gboolean
hk_tree_descend_into (HkTree    *tree,
                      HkDirNode *dir)
{
  g_autofree char *path = NULL;
  const char *relative;

  if (!tree->options.recursive || dir == NULL)
    return FALSE;
  if (tree->options.rules == NULL)
    return TRUE;

  path = hk_dir_path (&tree->nodes, dir, NULL, &relative);
  return !is_excluded (tree, relative);
}

/* Whether the directory @target is the directory open as @dir_fd or one
 * of its ancestors on disk: a link there pointing at @target would enter
 * itself again, even when the way down went through other links. */
static gboolean
target_contains_dir (int                dir_fd,
                     const struct stat *target)
{
  int fd = openat (dir_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  dev_t last_dev = 0;
  ino_t last_ino = 0;
  gboolean found = FALSE;

  for (guint depth = 0; fd >= 0 && depth < 4096; depth++)
    {
      struct stat st;
      int up;

      if (fstat (fd, &st) != 0)
        break;
      if (st.st_dev == target->st_dev && st.st_ino == target->st_ino)
        {
          found = TRUE;
          break;
        }
      if (depth > 0 && st.st_dev == last_dev && st.st_ino == last_ino)
        break;  /* "/" is its own parent */
      last_dev = st.st_dev;
      last_ino = st.st_ino;
      up = openat (fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
      close (fd);
      fd = up;
    }
  if (fd >= 0)
    close (fd);

  return found;
}

static void
report_link_loop (HkTree     *tree,
                  HkDirNode  *parent,
                  const char *name)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, parent, name, NULL);
  g_autofree char *display = g_filename_display_name (path);

  report_error (tree, g_error_new (G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS,
                                   "Not following “%s”: the symbolic link loops "
                                   "back to a directory above it", display));
}

/* With follow-symlinks, a symbolic link to a directory is taken as that
 * directory, unless it points at one of its own ancestors (a loop), which
 * is reported and left as a plain entry. Ancestors are both the nodes above
 * it (the way down, through other links) and the directories above the
 * link on disk. Returns the kind to record. */
static HkNodeKind
resolve_symlink (HkTree      *tree,
                 HkDirNode   *parent,
                 int          dir_fd,
                 const char  *name,
                 struct stat *target)
{
  if (!tree->options.follow_symlinks ||
      fstatat (dir_fd, name, target, 0) != 0 ||
      !S_ISDIR (target->st_mode))
    return HK_NODE_SYMLINK;

  for (HkDirNode *it = parent; it != NULL; it = hk_dir_parent (it))
    if (it->ino == target->st_ino && it->dev == hk_node_dev (target->st_dev))
      {
        report_link_loop (tree, parent, name);
        return HK_NODE_SYMLINK;
      }

  if (target_contains_dir (dir_fd, target))
    {
      report_link_loop (tree, parent, name);
      return HK_NODE_SYMLINK;
    }

  return HK_NODE_DIR;
}

/* Records an entry read from @dir_fd. */
HkEntry *
hk_tree_add_entry (HkTree     *tree,
                   HkDirNode  *dir,
                   int         dir_fd,
                   const char *name,
                   HkNodeKind  kind,
                   guint64     ino)
{
  struct stat target;
  HkEntry *entry;

  if (kind == HK_NODE_SYMLINK && resolve_symlink (tree, dir, dir_fd, name, &target) == HK_NODE_DIR)
    {
      entry = hk_dir_add (&tree->nodes, dir, name, HK_NODE_DIR, target.st_ino);
      hk_entry_dir (entry)->followed = TRUE;
      hk_entry_dir (entry)->dev = hk_node_dev (target.st_dev);
      return entry;
    }

  return hk_dir_add (&tree->nodes, dir, name, kind, ino);
}

#define DENTS_SIZE (32 * 1024)

static gboolean check_root (HkTree *tree, gint64 now);
static void tree_on_root_gone (HkTree *tree, int error_code, const char *why, gint64 now);

/* The directory a watch was placed on ahead of its read. */
typedef struct
{
  dev_t dev;
  ino_t ino;
} PlacedWatch;

static gboolean
stat_dir_at (HkTree      *tree,
             HkDirNode   *dir,
             const char  *path,
             struct stat *st)
{
  return (dir_may_be_link (tree, dir) ? stat (path, st) : lstat (path, st)) == 0 &&
         S_ISDIR (st->st_mode);
}

/* Watches @dir, a directory that is about to be reported `created`: the
 * user may react to the event at once, and must find it watched. Returns
 * FALSE when it cannot be read (vanished meanwhile: its deletion follows).
 *
 * It is read later, by path, when the name may lead to another directory
 * (`mv a a2; mv b a` since): the directory its watch is on is noted, from
 * the same answer before and after the watch, for the read to check
 * (hk_tree_scan_one()). Where the name changed hands while the watch was
 * placed, it is left unwatched: its move's event catches up with it
 * (catch_up_unwatched()). */
static gboolean
watch_new_dir (HkTree    *tree,
               HkDirNode *dir)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  gboolean watched = dir->watch != 0;
  struct stat before, after;
  gboolean known = !watched && stat_dir_at (tree, dir, path, &before);

  if (hk_tree_watch_dir (tree, dir, path, NULL))
    {
      PlacedWatch *placed;

      /* Not there before or after: its read fails, as it did before. */
      if (watched || dir->watch == 0 || !known || !stat_dir_at (tree, dir, path, &after))
        return TRUE;
      if (after.st_ino != before.st_ino || after.st_dev != before.st_dev)
        {
          hk_tree_unwatch_dir (tree, dir);
          return FALSE;
        }
      placed = g_new (PlacedWatch, 1);
      placed->dev = before.st_dev;
      placed->ino = before.st_ino;
      g_hash_table_insert (tree->placed, dir, placed);
      return TRUE;
    }

  /* Vanished, or its path is stale because a parent of the root moved. */
  check_root (tree, g_get_monotonic_time ());
  return FALSE;
}

/* Reports @child of @dir, just found in it (open as @dir_fd), as a
 * synthetic `created`: a directory is watched first (and read later,
 * through @scan), a file's state is recorded. */
void
hk_tree_report_found (HkTree    *tree,
                      HkDirNode *dir,
                      HkEntry   *child,
                      int        dir_fd,
                      Scan      *scan)
{
  HkDirNode *child_dir = hk_entry_dir (child);
  gboolean descend = hk_tree_descend_into (tree, child_dir) && watch_new_dir (tree, child_dir);
  struct stat st;

  if (child_dir == NULL)
    child->stamp = fstatat (dir_fd, hk_dir_entry_name (dir, child), &st, AT_SYMLINK_NOFOLLOW) == 0
      ? hk_node_stamp_from_stat (&st) : 0;

  hk_tree_emit_entry (tree, HK_EVENT_CREATED, dir, child, TRUE, scan->now);
  if (descend)
    g_ptr_array_add (scan->pending, child_dir);
}

/* Whether @fd, @dir opened by path, is the directory @dir's watch was
 * placed on when that was done ahead of the read (watch_new_dir()). */
static gboolean
reads_the_watched_dir (HkTree    *tree,
                       HkDirNode *dir,
                       int        fd)
{
  PlacedWatch *placed = g_hash_table_lookup (tree->placed, dir);
  struct stat st;
  gboolean same;

  if (placed == NULL)
    return TRUE;
  same = fstat (fd, &st) == 0 && st.st_ino == placed->ino && st.st_dev == placed->dev;
  g_hash_table_remove (tree->placed, dir);
  return same;
}

/* Reads one directory, adding what the snapshot does not have yet. It
 * reads with getdents64() on the descriptor it opened: the least a walk can
 * do (opendir()/fdopendir() add an fstat() and an fcntl() per directory). */
void
hk_tree_scan_one (Scan      *scan,
                  HkDirNode *dir)
{
  HkTree *tree = scan->tree;
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  /* A directory with no known entries (the usual case while walking) needs
   * no duplicate check: readdir lists each name once. */
  gboolean fresh = hk_dir_n_entries (dir) == 0;
  gboolean polled;
  HkScanner scanner;
  HkScannerEntry entry;
  int fd;

  if (dir != tree->root && !hk_tree_watch_dir (tree, dir, path, NULL))
    {
      check_root (tree, scan->now);
      return;
    }
  polled = dir->watch != 0 && hk_watch_get_kind (hk_watch_from_id (dir->watch)) == HK_BACKEND_KIND_POLL;

  fd = hk_tree_open_dir_fd (tree, dir, path);
  if (fd >= 0 && !reads_the_watched_dir (tree, dir, fd))
    {
      close (fd);
      fd = -1;
      errno = ENOENT;  /* as if renamed: the same catching up */
    }
  if (fd < 0)
    {
      int errsv = errno;

      /* Renamed (or deleted) between its watch and this read: a watched
       * directory is one that was read, so drop the watch; the rename's
       * event catches up with it at its new path (catch_up_unwatched). */
      if (dir != tree->root && (errsv == ENOENT || errsv == ENOTDIR))
        hk_tree_unwatch_dir (tree, dir);
      if (errsv == ENOENT)
        check_root (tree, scan->now);

      if (errsv != ENOENT && errsv != ENOTDIR)
        {
          g_autofree char *display = g_filename_display_name (path);

          report_error (tree, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                                           "Cannot read directory “%s”: %s",
                                           display, g_strerror (errsv)));
        }
      return;
    }

  if (scan->dents == NULL)
    scan->dents = g_malloc (DENTS_SIZE);

  hk_scanner_init (&scanner, fd, scan->dents, DENTS_SIZE);
  while (hk_scanner_next (&scanner, &entry))
    {
      const char *name = entry.name;
      HkNodeKind kind;
      HkEntry *child;

      if (!hk_tree_accepts (tree, dir, name))
        continue;
      if (!fresh && hk_dir_lookup (dir, name) != NULL)
        continue;

      kind = hk_node_kind_from_dtype (entry.type);
      if (entry.type == DT_UNKNOWN)
        {
          struct stat st;

          if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
          kind = hk_node_kind_from_mode (st.st_mode);
        }

      child = hk_tree_add_entry (tree, dir, fd, name, kind, entry.ino);
      if (scan->emit)
        {
          hk_tree_report_found (tree, dir, child, fd, scan);
          continue;
        }

      /* A polled directory's files are compared with what they were
       * when read; kernel-watched ones need no stat. */
      if (polled && child->kind != HK_NODE_DIR)
        {
          struct stat st;

          if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            child->stamp = hk_node_stamp_from_stat (&st);
        }

      if (hk_tree_descend_into (tree, hk_entry_dir (child)))
        g_ptr_array_add (scan->pending, hk_entry_dir (child));
    }

  close (fd);
  /* Read in full: the table need not keep room to grow. */
  if (fresh)
    hk_dir_trim (dir);
}

void
hk_tree_scan_run (Scan *scan)
{
  HkTree *tree = scan->tree;
  gboolean walking = scan->pending == tree->walk;
  gint64 slice_end = walking ? g_get_monotonic_time () + WALK_SLICE_US : 0;
  guint n = 0;

  while (scan->pending->len > 0)
    {
      HkDirNode *dir = g_ptr_array_steal_index_fast (scan->pending, scan->pending->len - 1);

      dir->queued = FALSE;
      if (g_atomic_int_get (&tree->cancelled) || tree->root_gone ||
          g_cancellable_is_cancelled (tree->cancellable))
        break;
      hk_tree_scan_one (scan, dir);

      if (walking && ++n % 64 == 0 && g_get_monotonic_time () >= slice_end)
        {
          /* Events handled now may add to or remove from the walk's list
           * (node_free() takes deleted directories out). */
          for (guint i = 0; i < scan->pending->len; i++)
            ((HkDirNode *) g_ptr_array_index (scan->pending, i))->queued = TRUE;
          hk_watch_hub_dispatch_pending (tree->hub);
          hk_event_queue_wake_all_armed ();
          for (guint i = 0; i < scan->pending->len; i++)
            ((HkDirNode *) g_ptr_array_index (scan->pending, i))->queued = FALSE;
          slice_end = g_get_monotonic_time () + WALK_SLICE_US;
        }
    }
  hk_tree_scan_clear (scan);
}

/* Watches and reads a directory that just appeared, reporting its contents
 * as synthetic creations. */
static void
scan_new_directory (HkTree    *tree,
                    HkDirNode *dir,
                    gint64     now)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Scan scan = { tree, TRUE, now, pending };

  g_ptr_array_add (pending, dir);
  hk_tree_scan_run (&scan);
}

/* --- mounts the kernel does not announce -------------------------------- */

/* The kernel reports an unmount (IN_UNMOUNT) only when a filesystem goes
 * away entirely; a mount over a watched directory, or a bind mount
 * detached, changes what a path shows without any event, and the watches
 * stay on the inodes that are no longer there. The mount table says when
 * that happens: the directories where it changed are unwatched, then
 * rescanned, which reports the difference and watches what is there now. */

/* @path relative to @top, or NULL when it is not below it. */
static const char *
path_below (const char *path,
            const char *top)
{
  gsize len = strlen (top);

  if (strncmp (path, top, len) != 0)
    return NULL;
  if (len > 0 && top[len - 1] == '/')
    return path + len;  /* top is "/" */
  return path[len] == '/' ? path + len + 1 : NULL;
}

/* The directory node at @relative (names separated by '/'), or NULL. */
static HkDirNode *
lookup_dir (HkTree     *tree,
            const char *relative)
{
  g_auto(GStrv) names = g_strsplit (relative, "/", -1);
  HkDirNode *dir = tree->root;

  for (guint i = 0; names[i] != NULL && dir != NULL; i++)
    {
      HkEntry *entry;

      if (names[i][0] == '\0')
        continue;
      entry = hk_dir_lookup (dir, names[i]);
      dir = entry != NULL ? hk_entry_dir (entry) : NULL;
    }

  return dir;
}

/* Drops the watches of @top and of the directories below it. */
static void
unwatch_subtree (HkTree    *tree,
                 HkDirNode *top)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  g_ptr_array_add (stack, top);
  while (stack->len > 0)
    {
      HkDirNode *dir = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      hk_tree_unwatch_dir (tree, dir);
      hk_dir_collect_subdirs (dir, stack);
    }
}

static void
on_mounts_changed (GPtrArray *mount_points,
                   gpointer   data)
{
  HkTree *tree = data;
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < mount_points->len && !tree->root_gone; i++)
    {
      const char *mount_point = g_ptr_array_index (mount_points, i);
      const char *relative = path_below (mount_point, tree->real_root);
      HkDirNode *dir;

      if (strcmp (mount_point, tree->real_root) == 0)
        {
          /* Mounted over, or uncovered: the path leads elsewhere now. */
          check_root (tree, now);
          continue;
        }

      dir = relative != NULL ? lookup_dir (tree, relative) : NULL;
      if (dir == NULL || dir == tree->root)
        continue;  /* not in the snapshot (ignored, or not read yet) */

      /* A suspended tree rescans everything, re-watching, when it resumes. */
      unwatch_subtree (tree, dir);
      if (hk_tree_is_live (tree))
        hk_tree_rescan (tree, dir, hk_tree_realtime_ns (), now);
    }
}

static void
watch_mounts (HkTree *tree)
{
  tree->real_root = realpath (tree->options.root_path, NULL);
  if (tree->real_root == NULL)
    return;
  tree->mount_monitor = hk_mount_monitor_new (g_main_context_get_thread_default (),
                                              on_mounts_changed, tree);
}

/* --- public ------------------------------------------------------------ */

static const HkWatchClientFuncs tree_client_funcs;
static void report_since (HkTree *tree);

HkTree *
hk_tree_new (HkWatchHub          *hub,
             const HkTreeOptions *options,
             HkEventQueue        *queue)
{
  HkTree *tree = g_new0 (HkTree, 1);

  tree->hub = hub;
  tree->client.funcs = &tree_client_funcs;
  tree->client.data = tree;
  tree->options.backend = options->backend;
  tree->options.automatic = options->automatic;
  tree->options.poll_interval = options->poll_interval;
  tree->options.mounts = options->mounts != NULL ? g_hash_table_ref (options->mounts) : NULL;
  tree->options.since = options->since != NULL ? g_object_ref (options->since) : NULL;
  tree->options.early = options->early;
  tree->queue = hk_event_queue_ref (queue);
  tree->options.root_path = g_strdup (options->root_path);
  tree->options.recursive = options->recursive;
  tree->options.access_events = options->access_events;
  tree->options.follow_symlinks = options->follow_symlinks;
  tree->options.rules = options->rules ? hk_filter_rules_ref (options->rules) : NULL;
  hk_nodes_init (&tree->nodes, dir_freed, tree);
  /* The hub finds the client of a watched directory from its node. */
  hk_slab_set_tag (&tree->nodes.dirs, &tree->client);
  hk_nodes_set_root_path (&tree->nodes, tree->options.root_path);
  tree->watch_checks = g_array_new (FALSE, FALSE, sizeof (WatchCheck));
  tree->placed = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  return tree;
}

void
hk_tree_free (HkTree *tree)
{
  if (tree == NULL)
    return;

  hk_tree_end_walk (tree);
  if (tree->root != NULL)
    hk_dir_free (&tree->nodes, tree->root);
  g_clear_pointer (&tree->mount_monitor, hk_mount_monitor_free);
  g_free (tree->real_root);
  hk_nodes_clear (&tree->nodes);
  if (tree->watch_checks_source != NULL)
    g_source_destroy (tree->watch_checks_source);
  g_clear_pointer (&tree->watch_checks_source, g_source_unref);
  g_array_unref (tree->watch_checks);
  g_hash_table_unref (tree->placed);
  forget_exchange (tree);
  g_clear_pointer (&tree->options.rules, hk_filter_rules_unref);
  g_clear_pointer (&tree->options.mounts, g_hash_table_unref);
  g_clear_object (&tree->options.since);
  g_free (tree->options.root_path);
  g_free (tree->only_name);
  hk_event_queue_unref (tree->queue);
  g_free (tree);
}

/* For check_root(): the directory the root path names as its parent. */
static void
remember_above_root (HkTree *tree)
{
  g_autofree char *above = g_path_get_dirname (tree->options.root_path);
  struct stat st;

  if (stat (above, &st) != 0)
    return;
  tree->above_root_dev = st.st_dev;
  tree->above_root_ino = st.st_ino;
}

/* Runs on the worker. On success every directory of the tree is watched
 * (or, out of watches, polled) and the tree receives events. */
gboolean
hk_tree_start (HkTree        *tree,
               GCancellable  *cancellable,
               GError       **error)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Scan scan = { tree, FALSE, g_get_monotonic_time (), pending };
  const char *watch_path = tree->options.root_path;
  g_autofree char *parent_path = NULL;
  struct stat st;
  gboolean ok;

  if (stat (tree->options.root_path, &st) != 0)
    {
      int errsv = errno;
      g_autofree char *display = g_filename_display_name (tree->options.root_path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot watch “%s”: %s", display, g_strerror (errsv));
      return FALSE;
    }

  if (!S_ISDIR (st.st_mode))
    {
      /* A single file: watch its directory for that one name, which also
       * follows editors that save by renaming a new file over it. */
      parent_path = g_path_get_dirname (tree->options.root_path);
      tree->only_name = g_path_get_basename (tree->options.root_path);
      g_free (tree->options.root_path);
      tree->options.root_path = g_strdup (parent_path);
      hk_nodes_set_root_path (&tree->nodes, parent_path);
      tree->options.recursive = FALSE;
      watch_path = parent_path;
      if (stat (watch_path, &st) != 0)
        st.st_ino = 0;
    }
  else if (access (watch_path, R_OK | X_OK) != 0)
    {
      g_autofree char *display = g_filename_display_name (watch_path);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "Cannot watch “%s”: %s", display, g_strerror (EACCES));
      return FALSE;
    }

  tree->root = hk_dir_new_root (&tree->nodes, st.st_ino, st.st_dev);
  remember_above_root (tree);
  tree->synced_at_ns = hk_tree_realtime_ns ();

  if (tree->options.backend == HK_BACKEND_KIND_FANOTIFY || tree->options.automatic)
    hk_tree_finish_early_walks ();
  if (hk_tree_may_walk_early (tree))
    {
      /* From here the backend holds what it cannot place yet. */
      tree->early = TRUE;
      tree->walk = g_ptr_array_new ();
      tree->held = g_ptr_array_new ();
      tree->held_set = g_hash_table_new (NULL, NULL);
      hk_watch_hub_begin_walk (tree->hub, tree->options.backend);
      tree->hold_watch = TRUE;
    }

  ok = hk_tree_watch_dir (tree, tree->root, watch_path, error);
  tree->hold_watch = FALSE;
  if (!ok)
    {
      hk_tree_end_walk (tree);
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     "Cannot watch “%s”: it vanished", tree->options.root_path);
      return FALSE;
    }

  if (tree->early && !hk_watch_covers_subtree (hk_watch_from_id (tree->root->watch)))
    {
      /* Inode marks (no filesystem mark here): the walk comes first. */
      g_autoptr(GPtrArray) watches = g_ptr_array_new ();

      g_ptr_array_add (watches, hk_watch_from_id (tree->root->watch));
      hk_watch_hub_release_held (tree->hub, watches);
      hk_tree_end_walk (tree);
    }

  if (tree->options.recursive)
    watch_mounts (tree);

  if (tree->early)
    {
      g_atomic_int_set (&tree->walking, TRUE);
      hk_tree_early_trees = g_list_prepend (hk_tree_early_trees, tree);
      g_ptr_array_add (tree->walk, tree->root);
      tree->root->queued = TRUE;
      hk_tree_attach_walk_source (tree, FALSE);
      return TRUE;
    }

  tree->cancellable = cancellable;
  /* With `since`, nothing is reported before the difference from it. */
  tree->walk = tree->options.since == NULL ? pending : NULL;
  g_ptr_array_add (pending, tree->root);
  hk_tree_scan_run (&scan);
  tree->walk = NULL;
  tree->cancellable = NULL;
  tree->synced_at_ns = hk_tree_realtime_ns ();

  if (g_atomic_int_get (&tree->cancelled) ||
      g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             "The watchdog was stopped while starting");
      return FALSE;
    }

  if (tree->options.since != NULL)
    report_since (tree);

  return TRUE;
}

void
hk_tree_cancel (HkTree *tree)
{
  g_atomic_int_set (&tree->cancelled, TRUE);
}

guint
hk_tree_get_n_watched (HkTree *tree)
{
  return g_atomic_int_get (&tree->n_watched);
}

guint
hk_tree_get_n_polled (HkTree *tree)
{
  return g_atomic_int_get (&tree->n_polled);
}

/* Whether the root path still leads to the watched root. When it does not,
 * and the root's own watch will not say why (it reports the root itself
 * deleted or moved: then the root's parent path still leads to the same
 * directory), the root or a parent was moved, deleted or replaced:
 * reported as the root gone, which stops the watchdog rather than report
 * paths that no longer exist. */
static gboolean
check_root (HkTree *tree,
            gint64  now)
{
  g_autofree char *parent_path = NULL;
  struct stat st;

  if (tree->root_gone)
    return FALSE;
  tree->root_checked_at = now;

  if (stat (tree->options.root_path, &st) == 0)
    {
      if (st.st_ino == tree->root->ino && hk_node_dev (st.st_dev) == tree->root->dev)
        return TRUE;
      tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND,
                            "was replaced: the path now leads to another directory", now);
      return FALSE;
    }

  parent_path = g_path_get_dirname (tree->options.root_path);
  if (stat (parent_path, &st) == 0 &&
      st.st_dev == tree->above_root_dev && st.st_ino == tree->above_root_ino)
    return TRUE;  /* the root itself went: its own watch reports how */

  tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND,
                        "is no longer at that path: a parent directory was "
                        "moved, renamed or deleted", now);
  return FALSE;
}

/* Whether the tree takes events now. A saturated owner queue suspends it
 * (it no longer records anything) until the owner has drained the queue
 * and calls hk_tree_resume(), which rescans. */
gboolean
hk_tree_is_live (HkTree *tree)
{
  gint64 now;

  if (tree->suspended || tree->root_gone)
    return FALSE;

  now = g_get_monotonic_time ();
  if (now - tree->root_checked_at >= ROOT_CHECK_INTERVAL_US && !check_root (tree, now))
    return FALSE;

  if (hk_event_queue_is_saturated (tree->queue))
    {
      tree->suspended = TRUE;
      tree->synced_at_ns = hk_tree_realtime_ns ();
      hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_SATURATED, NULL);
      return FALSE;
    }

  return TRUE;
}

/* Whether @entry of @dir (known already) is still the entry on disk, for
 * a name that arrives by rename(2). Only entries found by reading a
 * directory can be met again this way (their inode is known); an entry
 * recorded from an event (inode 0) meeting a rename onto its name was
 * replaced. */
static gboolean
entry_is_on_disk (HkTree    *tree,
                  HkDirNode *dir,
                  HkEntry   *entry)
{
  g_autofree char *path = NULL;
  guint64 ino = hk_entry_ino (dir, entry);
  struct stat st;

  if (ino == 0)
    return FALSE;
  path = hk_tree_entry_path (tree, dir, entry);
  if (lstat (path, &st) != 0)
    return TRUE;  /* gone again: its deletion is queued */
  return ino == st.st_ino;
}

/* Records the entry @name in @dir that the kernel reported as a new
 * non-directory, with the kind and state it has now (what the user will
 * be told about). With follow-symlinks, a link to a directory becomes a
 * followed directory. */
static HkEntry *
add_created_file (HkTree     *tree,
                  HkDirNode  *dir,
                  const char *name)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, name, NULL);
  HkEntry *entry;
  struct stat st;

  /* Gone or replaced by a directory already: the events for that follow. */
  if (lstat (path, &st) != 0 || S_ISDIR (st.st_mode))
    return hk_dir_add (&tree->nodes, dir, name, HK_NODE_FILE, 0);

  if (S_ISLNK (st.st_mode) && tree->options.follow_symlinks)
    {
      g_autofree char *dir_path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
      int dir_fd = hk_tree_open_dir_fd (tree, dir, dir_path);

      if (dir_fd >= 0)
        {
          entry = hk_tree_add_entry (tree, dir, dir_fd, name, HK_NODE_SYMLINK, st.st_ino);
          close (dir_fd);
          if (entry->kind != HK_NODE_DIR)
            entry->stamp = hk_node_stamp_from_stat (&st);
          return entry;
        }
    }

  entry = hk_dir_add (&tree->nodes, dir, name, hk_node_kind_from_mode (st.st_mode), 0);
  entry->stamp = hk_node_stamp_from_stat (&st);
  return entry;
}

/* Whether the backend watching @dir tells a link to a directory from a
 * directory: the kernel's do. */
static gboolean
backend_knows_links (HkDirNode *dir)
{
  HkWatch *watch = hk_watch_from_id (dir->watch);
  HkBackendKind kind = watch != NULL ? hk_watch_get_kind (watch) : HK_BACKEND_KIND_AUTO;

  return kind == HK_BACKEND_KIND_INOTIFY || kind == HK_BACKEND_KIND_FANOTIFY;
}

void
hk_tree_on_created (HkTree     *tree,
                    HkDirNode  *dir,
                    const char *name,
                    gboolean    moved_in,
                    gboolean    is_directory,
                    gint64      now)
{
  gboolean descend;
  HkDirNode *child_dir;
  HkEntry *entry;

  if (!hk_tree_is_live (tree) || !hk_tree_accepts (tree, dir, name))
    return;

  entry = hk_dir_lookup (dir, name);
  if (entry != NULL)
    {
      /* Already reported by the read of a new directory... */
      if (!moved_in || entry_is_on_disk (tree, dir, entry))
        return;
      /* ...or renamed over from outside: the old entry is gone. */
      hk_tree_emit_entry (tree, HK_EVENT_DELETED, dir, entry, FALSE, now);
      hk_dir_remove (&tree->nodes, dir, entry);
    }

  /* GIO and polling judge by stat(), which follows a link to a
   * directory; inotify and fanotify say what was created. Only a link
   * makes the difference: anything else at the name now came after (the
   * directory was renamed away, and its move follows). */
  if (is_directory && !backend_knows_links (dir))
    {
      g_autofree char *path = hk_dir_path (&tree->nodes, dir, name, NULL);
      struct stat st;

      is_directory = lstat (path, &st) != 0 || !S_ISLNK (st.st_mode);
    }

  if (!is_directory)
    entry = add_created_file (tree, dir, name);
  else
    entry = hk_dir_add (&tree->nodes, dir, name, HK_NODE_DIR, 0);
  child_dir = hk_entry_dir (entry);

  /* A directory is watched before it is reported, then read. */
  descend = hk_tree_descend_into (tree, child_dir) && watch_new_dir (tree, child_dir);
  hk_tree_emit_entry (tree, HK_EVENT_CREATED, dir, entry, FALSE, now);

  if (descend)
    scan_new_directory (tree, child_dir, now);
}

void
hk_tree_on_deleted (HkTree     *tree,
                    HkDirNode  *dir,
                    const char *name,
                    gint64      now)
{
  HkEntry *entry;

  if (!hk_tree_is_live (tree) || !hk_tree_accepts (tree, dir, name))
    return;

  /* Never reported as created (it came and went before we read its
   * directory): nothing to report. */
  entry = hk_dir_lookup (dir, name);
  if (entry == NULL)
    return;

  hk_tree_emit_entry (tree, HK_EVENT_DELETED, dir, entry, FALSE, now);
  hk_dir_remove (&tree->nodes, dir, entry);
}

void
hk_tree_on_changed (HkTree      *tree,
                    HkDirNode   *dir,
                    const char  *name,
                    HkEventType  event_type,
                    gboolean     is_directory,
                    gint64       now)
{
  HkEntry *entry;
  char *path;

  if (!hk_tree_is_live (tree))
    return;

  if (name == NULL)
    {
      /* The root directory itself; access events are about files (every
       * listing opens a directory, our own reads included). */
      if (tree->only_name == NULL &&
          event_type != HK_EVENT_OPENED && event_type != HK_EVENT_CLOSED_NO_WRITE)
        hk_tree_emit (tree, event_type, hk_dir_path (&tree->nodes, dir, NULL, NULL), NULL,
                      TRUE, FALSE, now);
      return;
    }

  if (!hk_tree_accepts (tree, dir, name))
    return;

  /* A name the snapshot does not have is stale: the read of its new
   * directory already saw it renamed or deleted (and reported the result),
   * or its creation was never reported. */
  entry = hk_dir_lookup (dir, name);
  if (entry == NULL)
    return;
  /* What the entry is, the snapshot knows best: not every backend says. */
  is_directory = entry->kind == HK_NODE_DIR;

  switch (event_type)
    {
    case HK_EVENT_OPENED:
    case HK_EVENT_CLOSED_NO_WRITE:
      /* Access events are about files: directories are opened by every
       * listing, including our own reads. */
      if (!tree->options.access_events || is_directory)
        return;
      break;
    default:
      break;
    }

  path = hk_dir_path (&tree->nodes, dir, name, NULL);
  if (event_type == HK_EVENT_MODIFIED || event_type == HK_EVENT_ATTRIBUTE_CHANGED ||
      event_type == HK_EVENT_CLOSED)
    entry_stamp (entry, path);
  hk_tree_emit (tree, event_type, path, NULL, is_directory, FALSE, now);
}

static void tree_on_root_gone (HkTree *tree, int error_code, const char *why, gint64 now);

/* A directory that appeared was watched and read under the path it had
 * when its event was processed. If it (or a parent) had been renamed by
 * then, that failed, and the rename's event is the first chance to catch
 * up: read each such directory at its new path, reporting what it holds. */
static void
catch_up_unwatched (HkTree    *tree,
                    HkDirNode *moved,
                    gint64     now)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Scan scan = { tree, TRUE, now, pending };

  g_ptr_array_add (stack, moved);
  while (stack->len > 0)
    {
      HkDirNode *dir = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      if (dir->watch == 0 && hk_tree_descend_into (tree, dir))
        {
          /* Nothing under it was ever watched; report no modifications. */
          hk_tree_rescan_dir (tree, dir, &scan, G_MAXINT64);
          hk_tree_scan_run (&scan);
          continue;
        }

      hk_dir_collect_subdirs (dir, stack);
    }
}

/* Runs once the backends have nothing ready: each directory that
 * check_watch_siblings() listed and whose path leads to another directory
 * than its watch is on is unwatched, then watched and read where it is. A
 * path not there (a move still to come) is looked at again, a few times.
 * As many as were listed (reading one may list others); the list stays
 * the tree's meanwhile, so that a directory freed by a read leaves it. */
static gboolean
rewatch_misplaced (gpointer data)
{
  HkTree *tree = data;
  gint64 now = g_get_monotonic_time ();

  g_clear_pointer (&tree->watch_checks_source, g_source_unref);
  for (guint n = tree->watch_checks->len; n > 0 && tree->watch_checks->len > 0; n--)
    {
      WatchCheck check = g_array_index (tree->watch_checks, WatchCheck, 0);
      g_autofree char *path = NULL;
      struct stat st;

      g_array_remove_index (tree->watch_checks, 0);
      if (!hk_tree_is_live (tree) || !hk_tree_is_attached (tree, check.dir) || check.dir->watch == 0)
        continue;
      path = hk_dir_path (&tree->nodes, check.dir, NULL, NULL);
      if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode))
        {
          if (++check.tries < 3)
            g_array_append_val (tree->watch_checks, check);
          continue;
        }
      if (st.st_ino != check.ino || st.st_dev != check.dev)
        {
          hk_tree_unwatch_dir (tree, check.dir);
          catch_up_unwatched (tree, check.dir, now);
        }
    }
  arm_watch_checks (tree);
  return G_SOURCE_REMOVE;
}

/* Whether the rename of @entry onto @replaced that the kernel reports was
 * renameat2 (RENAME_EXCHANGE): both names are there still, the replaced
 * entry (known by its inode) now at the source's. */
static gboolean
is_exchange (HkTree      *tree,
             HkDirNode   *from_dir,
             const char  *from_name,
             HkDirNode   *to_dir,
             HkEntry     *replaced,
             struct stat *from_now)
{
  g_autofree char *from_path = hk_dir_path (&tree->nodes, from_dir, from_name, NULL);
  guint64 replaced_ino = hk_entry_ino (to_dir, replaced);

  return replaced_ino != 0 && lstat (from_path, from_now) == 0 && from_now->st_ino == replaced_ino;
}

/* Whether this move is the kernel's second half of an exchange already
 * reported. */
static gboolean
is_exchange_second_half (HkTree     *tree,
                         HkDirNode  *from_dir,
                         const char *from_name,
                         HkDirNode  *to_dir,
                         const char *to_name)
{
  gboolean match = tree->exchange.from_dir == from_dir && tree->exchange.to_dir == to_dir &&
                   g_strcmp0 (tree->exchange.from_name, from_name) == 0 &&
                   g_strcmp0 (tree->exchange.to_name, to_name) == 0;

  forget_exchange (tree);
  return match;
}

void
hk_tree_on_moved (HkTree     *tree,
                  HkDirNode  *from_dir,
                  const char *from_name,
                  HkDirNode  *to_dir,
                  const char *to_name,
                  gboolean    is_directory,
                  gint64      now)
{
  gboolean from_in = hk_tree_accepts (tree, from_dir, from_name);
  gboolean to_in = hk_tree_accepts (tree, to_dir, to_name);
  HkEntry *entry, *replaced;
  HkDirNode *moved_dir;
  char *old_path, *new_path;
  gboolean exchanged = FALSE;
  struct stat from_now;

  if (!hk_tree_is_live (tree))
    return;

  if (tree->exchange.from_dir != NULL &&
      is_exchange_second_half (tree, from_dir, from_name, to_dir, to_name))
    return;

  if (!from_in || !to_in)
    {
      if (from_in)
        hk_tree_on_deleted (tree, from_dir, from_name, now);
      if (to_in)
        hk_tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
      return;
    }

  entry = hk_dir_lookup (from_dir, from_name);
  if (entry == NULL)
    {
      /* Its creation was never seen: it is new to us where it lands. */
      hk_tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
      return;
    }

  /* The kernel never moves a directory into itself: the snapshot has
   * that part of the tree wrong (a watch was misplaced). It is read again,
   * and the difference reported. */
  if (hk_entry_dir (entry) != NULL && hk_dir_is_within (to_dir, hk_entry_dir (entry)))
    {
      hk_tree_rescan (tree, from_dir, hk_tree_realtime_ns (), now);
      return;
    }

  /* rename(2) over an existing entry replaces it. */
  replaced = hk_dir_lookup (to_dir, to_name);
  if (replaced != NULL && replaced != entry)
    {
      /* An exchange is told as that replacement, then the replaced entry
       * created at the source's name: the story a coalescer can follow (a
       * move lands on a free name). The kernel's second half, the other
       * way, is then passed over. */
      exchanged = is_exchange (tree, from_dir, from_name, to_dir, replaced, &from_now);
      /* Reported, so that a move never lands on an entry that exists:
       * the coalescer relies on it (docs/coalescing.md). */
      hk_tree_emit_entry (tree, HK_EVENT_DELETED, to_dir, replaced, FALSE, now);
      hk_dir_remove (&tree->nodes, to_dir, replaced);
      /* The removal may have moved the source within the same table. */
      entry = hk_dir_lookup (from_dir, from_name);
    }
  else if (replaced == entry)
    return;  /* renamed onto itself */

  old_path = hk_dir_path (&tree->nodes, from_dir, from_name, NULL);
  entry = hk_dir_rename (from_dir, entry, to_dir, to_name);
  moved_dir = hk_entry_dir (entry);
  new_path = hk_dir_path (&tree->nodes, to_dir, to_name, NULL);
  entry_stamp (entry, new_path);  /* a rename changes the ctime */
  hk_tree_emit (tree, HK_EVENT_MOVED, old_path, new_path, moved_dir != NULL, FALSE, now);

  if (moved_dir != NULL)
    catch_up_unwatched (tree, moved_dir, now);

  if (exchanged && hk_tree_is_live (tree))
    {
      hk_tree_on_created (tree, from_dir, from_name, FALSE, S_ISDIR (from_now.st_mode), now);
      tree->exchange.from_dir = to_dir;
      tree->exchange.from_name = g_strdup (to_name);
      tree->exchange.to_dir = from_dir;
      tree->exchange.to_name = g_strdup (from_name);
    }
}

/* Whether @dir's path still leads to a directory that can be it: the same
 * inode when known (a directory covered by a mount is listed in its parent
 * with its own inode, so that holds across an unmount). */
static gboolean
dir_still_on_disk (HkTree    *tree,
                   HkDirNode *dir)
{
  g_autofree char *path = NULL;
  struct stat st;

  if (dir->parent == 0)
    return FALSE;
  path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  return stat_dir_at (tree, dir, path, &st) && (dir->ino == 0 || dir->ino == st.st_ino);
}

static void
tree_on_watch_lost (HkTree    *tree,
                    HkDirNode *dir,
                    gint64     now)
{
  /* A watched directory was deleted or moved away; its parent reports that
   * (or already did). The node stays until then. */
  g_atomic_int_add (&tree->n_watched, -1);

  if (dir == tree->root)
    {
      if (!tree->root_gone)
        tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "is no longer watchable", now);
      return;
    }

  /* ...or the filesystem mounted on it was unmounted: the directory is
   * there still, now the one it covered, and must be watched again. */
  if (dir_still_on_disk (tree, dir) && hk_tree_is_live (tree))
    hk_tree_rescan (tree, dir, hk_tree_realtime_ns (), now);
}

static void
tree_on_root_gone (HkTree     *tree,
                   int         error_code,
                   const char *why,
                   gint64      now)
{
  g_autofree char *display = NULL;
  char *root_path;

  if (tree->root_gone)
    return;
  tree->root_gone = TRUE;

  root_path = tree->only_name != NULL
    ? g_build_filename (tree->options.root_path, tree->only_name, NULL)
    : g_strdup (tree->options.root_path);
  display = g_filename_display_name (root_path);

  hk_tree_emit (tree, HK_EVENT_DELETED, root_path, NULL, tree->only_name == NULL, FALSE, now);
  hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_ROOT_GONE,
                       g_error_new (G_IO_ERROR, error_code,
                                    "The watched root “%s” %s", display, why));
}

/* --- what the backends report ------------------------------------------ */

/* A directory polled for lack of kernel watches tries for one again when
 * the backend gave some back, or every FALLBACK_RETRY_US. */
static void
retry_kernel_watch (HkTree    *tree,
                    HkDirNode *dir,
                    gint64     now)
{
  g_autofree char *path = NULL;
  guint releases = hk_watch_hub_get_releases (tree->hub, tree->options.backend);
  HkWatch *watch;

  if (releases == tree->releases_seen && now < tree->next_retry_us)
    return;

  path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  watch = add_watch (tree, tree->options.backend, dir, path, NULL);
  if (watch == NULL)
    {
      tree->releases_seen = releases;
      tree->next_retry_us = now + FALLBACK_RETRY_US;
      return;
    }

  hk_watch_remove (hk_watch_from_id (dir->watch));
  dir->watch = hk_watch_id (watch);
  dir->fallback = FALSE;
  g_atomic_int_add (&tree->n_polled, -1);
}

/* Names unchanged: only the files' state is checked, without reading the
 * directory. */
static gboolean
check_contents (HkTree    *tree,
                HkDirNode *dir,
                Scan      *scan,
                gint64     since_ns)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gboolean consistent = TRUE;

  if (fd < 0)
    return FALSE;

  for (guint i = 0; i < hk_dir_n_entries (dir); i++)
    {
      HkEntry *child = hk_dir_entry_at (dir, i);
      struct stat st;

      if (child->kind == HK_NODE_DIR)
        continue;
      if (fstatat (fd, hk_dir_entry_name (dir, child), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          (hk_entry_ino (dir, child) != 0 && hk_entry_ino (dir, child) != st.st_ino))
        {
          consistent = FALSE;  /* renamed or replaced: let a read sort it out */
          break;
        }
      if (hk_tree_file_changed_unreported (child, &st, since_ns, scan->until_ns))
        hk_tree_emit_entry (tree, hk_tree_lost_change (scan, &st, since_ns), dir, child,
                            TRUE, scan->now);
      child->stamp = hk_node_stamp_from_stat (&st);
    }

  close (fd);
  return consistent;
}

static void
client_rescan (gpointer      client,
               gpointer      dir_ptr,
               HkRescanKind  kind,
               gint64        since_ns,
               gint64        until_ns,
               gint64        now)
{
  HkTree *tree = client;
  HkDirNode *dir = dir_ptr;
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Scan scan = { tree, TRUE, now, pending, NULL, TRUE, until_ns, NULL, since_ns };

  /* Held back by this round's pairing (it vanished): not ours now. */
  if (!hk_tree_is_live (tree) || !hk_tree_is_attached (tree, dir))
    return;

  if (is_fallback (tree, dir))
    retry_kernel_watch (tree, dir, now);

  if (tree->round == NULL)
    {
      tree->round = hk_tree_pairing_new ();
      tree->round_since_ns = since_ns;
    }
  else
    tree->round_since_ns = MIN (tree->round_since_ns, since_ns);
  scan.pairing = tree->round;
  if (kind == HK_RESCAN_ENTRIES || !check_contents (tree, dir, &scan, since_ns))
    hk_tree_rescan_dir (tree, dir, &scan, since_ns);
  hk_tree_scan_clear (&scan);
}

static void
client_rescan_done (gpointer client,
                    gint64   now)
{
  HkTree *tree = client;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GPtrArray) moved = NULL;
  g_autoptr(GHashTable) unwatched = NULL;
  g_autoptr(GPtrArray) tops = NULL;
  Scan scan = { tree, TRUE, now };

  if (tree->round == NULL)
    return;
  pending = g_ptr_array_new ();
  scan.pending = pending;

  scan.pairing = g_steal_pointer (&tree->round);
  moved = hk_tree_pairing_finish (&scan);
  hk_tree_scan_run (&scan);

  /* A moved directory with a watch of its own is re-read by it. One
   * without (renamed before its watch was placed, so the watch failed) is
   * watched and read now, or nothing in it would ever be heard of. */
  unwatched = g_hash_table_new (NULL, NULL);
  tops = g_ptr_array_new ();
  for (guint i = 0; i < moved->len; i++)
    {
      HkDirNode *dir = g_ptr_array_index (moved, i);

      if (dir->watch == 0 && hk_tree_is_attached (tree, dir) && hk_tree_descend_into (tree, dir))
        g_hash_table_add (unwatched, dir);
    }
  /* Only the topmost: a deep rescan covers the ones below it, and may
   * free them. */
  for (guint i = 0; i < moved->len; i++)
    {
      HkDirNode *dir = g_ptr_array_index (moved, i);
      gboolean below_another = FALSE;

      if (!g_hash_table_contains (unwatched, dir))
        continue;
      for (HkDirNode *up = hk_dir_parent (dir); up != NULL && !below_another; up = hk_dir_parent (up))
        below_another = g_hash_table_contains (unwatched, up);
      if (!below_another)
        g_ptr_array_add (tops, dir);
    }
  for (guint i = 0; i < tops->len; i++)
    hk_tree_rescan (tree, g_ptr_array_index (tops, i), tree->round_since_ns, now);
}

static void
client_changed (gpointer    client,
                gpointer    dir_ptr,
                const char *name,
                HkChange    change,
                gboolean    is_directory,
                gint64      now)
{
  static const HkEventType change_types[] = {
    [HK_CHANGE_MODIFIED] = HK_EVENT_MODIFIED,
    [HK_CHANGE_ATTRIBUTES] = HK_EVENT_ATTRIBUTE_CHANGED,
    [HK_CHANGE_CLOSED_WRITE] = HK_EVENT_CLOSED,
    [HK_CHANGE_OPENED] = HK_EVENT_OPENED,
    [HK_CHANGE_CLOSED_NO_WRITE] = HK_EVENT_CLOSED_NO_WRITE,
  };
  HkTree *tree = client;
  HkDirNode *dir = dir_ptr;

  /* A subdirectory's own events are its parent's to report (a polling
   * round reports them in its middle: they must not end it). */
  if (name == NULL && dir != tree->root && change != HK_CHANGE_SELF_UNMOUNTED)
    return;

  /* A round left open by its backend ends before anything else is heard. */
  client_rescan_done (tree, now);
  /* The second half of an exchange comes right after the first (only the
   * moved directories' own events come between). */
  if (name != NULL && tree->exchange.from_dir != NULL)
    forget_exchange (tree);
  if (name != NULL && hk_tree_is_pre_read (tree, dir))
    {
      hk_tree_pre_read_changed (tree, dir, name, change,
                                change < G_N_ELEMENTS (change_types)
                                ? change_types[change] : HK_EVENT_CREATED,
                                is_directory, now);
      return;
    }
  switch (change)
    {
    case HK_CHANGE_CREATED:
    case HK_CHANGE_MOVED_IN:
      hk_tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
      break;

    case HK_CHANGE_DELETED:
    case HK_CHANGE_MOVED_OUT:
      hk_tree_on_deleted (tree, dir, name, now);
      break;

    case HK_CHANGE_SELF_DELETED:
    case HK_CHANGE_SELF_MOVED:
    case HK_CHANGE_SELF_UNMOUNTED:
      /* A subdirectory is reported by its parent, except for an unmount,
       * which the parent never sees. */
      if (dir != tree->root)
        {
          if (change == HK_CHANGE_SELF_UNMOUNTED)
            hk_tree_rescan (tree, dir, hk_tree_realtime_ns (), now);
        }
      else if (change == HK_CHANGE_SELF_DELETED)
        tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "was deleted", now);
      else if (change == HK_CHANGE_SELF_MOVED)
        tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "was moved away", now);
      else
        tree_on_root_gone (tree, G_IO_ERROR_NOT_MOUNTED, "was unmounted", now);
      break;

    case HK_CHANGE_MODIFIED:
    case HK_CHANGE_ATTRIBUTES:
    case HK_CHANGE_CLOSED_WRITE:
    case HK_CHANGE_OPENED:
    case HK_CHANGE_CLOSED_NO_WRITE:
      /* About a directory itself: only the root's own events are ours. */
      if (name == NULL && dir != tree->root)
        break;
      hk_tree_on_changed (tree, dir, name, change_types[change], is_directory, now);
      break;

    default:
      g_assert_not_reached ();
    }
}

static void
client_moved (gpointer    client,
              gpointer    from_dir,
              const char *from_name,
              gpointer    to_dir,
              const char *to_name,
              gboolean    is_directory,
              gint64      now)
{
  client_rescan_done (client, now);
  if (hk_tree_is_pre_read (client, from_dir) || hk_tree_is_pre_read (client, to_dir))
    hk_tree_pre_read_moved (client, from_dir, from_name, to_dir, to_name, is_directory, now);
  else
    hk_tree_on_moved (client, from_dir, from_name, to_dir, to_name, is_directory, now);
}

static void
client_lost (gpointer client,
             gint64   since_ns,
             gint64   now)
{
  HkTree *tree = client;

  client_rescan_done (client, now);
  /* During the walk behind start, a rescan would read directories the
   * walk has not reached as new: it waits for the walk's end. */
  if (tree->early)
    {
      if (tree->lost_since_ns == 0 || since_ns < tree->lost_since_ns)
        tree->lost_since_ns = MAX (since_ns, 1);
      return;
    }
  hk_tree_on_overflow (client, since_ns, now);
}

static void
client_watch_lost (gpointer client,
                   gpointer dir_ptr,
                   gint64   now)
{
  HkTree *tree = client;
  HkDirNode *dir = dir_ptr;

  /* The hub freed the watch already. */
  if (is_fallback (tree, dir))
    g_atomic_int_add (&tree->n_polled, -1);
  dir->watch = 0;
  dir->fallback = FALSE;
  tree_on_watch_lost (tree, dir, now);
}

static char *
client_dup_path (gpointer client,
                 gpointer dir)
{
  if (!hk_tree_is_attached (client, dir))
    return NULL;
  return hk_dir_path (&((HkTree *) client)->nodes, dir, NULL, NULL);
}

/* How many directories with held events the walk notes to read first. */
#define WANTED_MAX 4096

static void
client_wanted (gpointer    client,
               const char *path)
{
  HkTree *tree = client;
  const char *relative;

  if (!tree->early || tree->real_root == NULL)
    return;
  relative = path_below (path, tree->real_root);
  if (relative == NULL || relative[0] == '\0')
    return;
  if (tree->wanted == NULL)
    tree->wanted = g_ptr_array_new_with_free_func (g_free);
  if (tree->wanted->len < WANTED_MAX)
    g_ptr_array_add (tree->wanted, g_strdup (relative));
}

static const HkWatchClientFuncs tree_client_funcs = {
  .changed = client_changed,
  .moved = client_moved,
  .rescan = client_rescan,
  .rescan_done = client_rescan_done,
  .lost = client_lost,
  .watch_lost = client_watch_lost,
  .dup_path = client_dup_path,
  .wanted = client_wanted,
};

/* --- the snapshot as a public HkSnapshot --------------------------------- */

HkSnapshot *
hk_tree_dup_snapshot (HkTree *tree)
{
  g_autoptr(HkSnapshotBuilder) builder = NULL;
  g_autoptr(GPtrArray) dirs = g_ptr_array_new ();
  g_autoptr(GArray) handles = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint32 root_handle = HK_SNAPSHOT_ROOT_DIR;
  gint64 started = g_get_monotonic_time ();
  struct stat st;

  builder = hk_snapshot_builder_new (tree->options.root_path, g_get_real_time ());
  if (tree->root == NULL)
    return hk_snapshot_builder_end (g_steal_pointer (&builder));

  if (stat (tree->options.root_path, &st) == 0)
    hk_snapshot_builder_set_root (builder, st.st_dev, st.st_ino, st.st_mode,
                                  (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                                  (gint64) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);

  /* Breadth first: the builder's fast path. */
  g_ptr_array_add (dirs, tree->root);
  g_array_append_val (handles, root_handle);
  for (guint i = 0; i < dirs->len; i++)
    {
      HkDirNode *dir = g_ptr_array_index (dirs, i);
      guint32 handle = g_array_index (handles, guint32, i);
      g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
      int fd = hk_tree_open_dir_fd (tree, dir, path);

      if (fd < 0)
        {
          hk_snapshot_builder_set_unreadable (builder, handle);
          continue;
        }

      for (guint j = 0; j < hk_dir_n_entries (dir); j++)
        {
          HkEntry *child = hk_dir_entry_at (dir, j);
          const char *name = hk_dir_entry_name (dir, child);
          guint32 child_handle;
          int flags = child->kind == HK_NODE_DIR && hk_entry_dir (child)->followed
            ? 0 : AT_SYMLINK_NOFOLLOW;

          /* Gone since: its event is on its way. */
          if (fstatat (fd, name, &st, flags) != 0)
            continue;
          child_handle = hk_snapshot_builder_add (builder, handle, name, G_FILE_TYPE_UNKNOWN,
                                                  st.st_dev, st.st_ino,
                                                  S_ISDIR (st.st_mode) ? 0 : (guint64) st.st_size,
                                                  (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                                                  (gint64) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec,
                                                  st.st_mode);
          if (child->kind == HK_NODE_DIR && child_handle != HK_SNAPSHOT_NO_DIR)
            {
              g_ptr_array_add (dirs, hk_entry_dir (child));
              g_array_append_val (handles, child_handle);
            }
        }
      close (fd);
    }

  hk_snapshot_builder_set_duration (builder, g_get_monotonic_time () - started);
  return hk_snapshot_builder_end (g_steal_pointer (&builder));
}

/* After the start walk: what changed since the snapshot the application
 * gave, as synthetic events ahead of every live one. */
static void
report_since (HkTree *tree)
{
  g_autoptr(HkSnapshot) now_snapshot = hk_tree_dup_snapshot (tree);
  g_autoptr(GPtrArray) events = hk_snapshot_diff_full (tree->options.since, now_snapshot,
                                                       TRUE, g_get_monotonic_time ());

  for (guint i = 0; i < events->len; i++)
    hk_event_queue_push_event (tree->queue, hk_event_ref (g_ptr_array_index (events, i)));
}

/* --- live filter changes ----------------------------------------------- */

/* Stops watching @dir and forgets what is below it; @dir itself stays, as
 * an ignored directory does after a walk. */
static void
forget_contents (HkTree    *tree,
                 HkDirNode *dir)
{
  while (hk_dir_n_entries (dir) > 0)
    hk_dir_remove (&tree->nodes, dir, hk_dir_entry_at (dir, hk_dir_n_entries (dir) - 1));
  hk_tree_unwatch_dir (tree, dir);
}

/* Runs on the worker when the filter changed while running. A directory
 * the new rules ignore loses its watch and everything below it; one they
 * no longer ignore is watched and read into the snapshot without reporting
 * its entries (they existed before, the user just did not look at them). */
void
hk_tree_set_rules (HkTree        *tree,
                   HkFilterRules *rules)
{
  g_autoptr(HkFilterRules) old_rules = g_steal_pointer (&tree->options.rules);
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Scan scan = { tree, FALSE, g_get_monotonic_time (), pending };

  tree->options.rules = rules != NULL ? hk_filter_rules_ref (rules) : NULL;
  if (tree->root == NULL || !tree->options.recursive || tree->root_gone)
    return;

  g_ptr_array_add (stack, tree->root);
  while (stack->len > 0)
    {
      HkDirNode *dir = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      for (guint i = 0; i < hk_dir_n_entries (dir); i++)
        {
          HkDirNode *child = hk_entry_dir (hk_dir_entry_at (dir, i));
          g_autofree char *path = NULL;
          const char *relative;

          if (child == NULL)
            continue;

          path = hk_dir_path (&tree->nodes, child, NULL, &relative);
          if (is_excluded (tree, relative))
            forget_contents (tree, child);
          else if (old_rules != NULL && hk_filter_rules_excludes_directory (old_rules, relative))
            g_ptr_array_add (pending, child);
          else
            g_ptr_array_add (stack, child);
        }
    }

  hk_tree_scan_run (&scan);
}
