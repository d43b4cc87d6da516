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
#include "hk-mounts-private.h"
#include "hk-nodes-private.h"
#include "hk-scanner-private.h"
#include "hk-snapshot-private.h"
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
 * the snapshot, and only the difference is reported. */

/* How far back a rescan treats a changed ctime as a lost modification:
 * file timestamps come from a coarse clock (up to a jiffy behind), so
 * allow for that. */
#define CTIME_SLACK_NS (10 * G_GINT64_CONSTANT (1000000))

/* Directories past the kernel's watch limit are polled this often (unless
 * the watchdog sets its own poll interval), and try to get a kernel watch
 * back this often (sooner when some watch is released). */
#define FALLBACK_POLL_INTERVAL_MS 2000
#define FALLBACK_RETRY_US (30 * G_USEC_PER_SEC)

typedef struct _Pairing Pairing;

/* While events arrive, how often the root path is checked to still lead to
 * the root: a parent renamed sends the root's own watch no event. */
#define ROOT_CHECK_INTERVAL_US (100 * 1000)

struct _HkTree
{
  HkWatchHub    *hub;
  HkWatchClient  client;         /* how the hub reports to this tree */
  HkEventQueue  *queue;
  HkTreeOptions  options;
  char          *only_name;      /* single-file root: the file's name */
  HkDirNode     *root;
  HkNodes        nodes;          /* the snapshot */
  GCancellable  *cancellable;    /* the start's, only during start */
  HkMountMonitor *mount_monitor; /* recursive trees: mounts coming and going */
  char          *real_root;      /* root_path with links resolved, as mountinfo has it */
  gint64         synced_at_ns;   /* realtime of the last consistent view */
  gint64         root_checked_at; /* monotonic time of the last root check */
  dev_t          above_root_dev;  /* the directory holding the root, at start */
  ino_t          above_root_ino;
  guint          n_watched;      /* atomic: read from other threads */
  guint          n_polled;       /* atomic: fallen back to polling */
  guint          releases_seen;  /* the hub's releases when a fallback retry failed */
  gint64         next_retry_us;  /* when polled directories next try a watch */
  gint           cancelled;      /* atomic */
  gboolean       fanotify_fallback_reported;
  Pairing       *round;          /* a polling round's pairing, until it ends */
  GPtrArray     *walk;           /* the start walk's directories to read, while it runs */
  guint          suspended : 1;  /* owner queue saturated: wait for resume */
  guint          root_gone : 1;

  /* Early ready: the walk goes on after start returned (see walk_step()). */
  GSource       *walk_source;
  GPtrArray     *held;           /* directories read this slice, their events held */
  GHashTable    *held_set;       /* the same, as a set */
  GPtrArray     *wanted;         /* relative paths of directories with events held */
  GHashTable    *told;           /* while replaying: read directory → set of names told created */
  gint           walking;        /* atomic */
  guint          n_walked;       /* directories read by the walk */
  gint64         lost_since_ns;  /* events lost during the walk since then (0: none) */
  guint          hold_watch : 1; /* the next watch is HK_WATCH_HOLD */
  guint          early : 1;      /* the walk goes on behind start */
  guint          replaying : 1;  /* reporting what the backend held */
  guint          walk_paused : 1; /* tests: the walk waits on a timer */
};


static gint64
realtime_ns (void)
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

static void
unwatch_dir (HkTree    *tree,
             HkDirNode *dir)
{
  if (dir->watch == NULL)
    return;

  if (is_fallback (tree, dir))
    g_atomic_int_add (&tree->n_polled, -1);
  dir->fallback = FALSE;
  hk_watch_remove (g_steal_pointer (&dir->watch));
  g_atomic_int_add (&tree->n_watched, -1);
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
  unwatch_dir (tree, dir);
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

static char *
entry_path (HkTree         *tree,
            HkDirNode      *dir,
            const HkEntry  *entry)
{
  return hk_dir_path (&tree->nodes, dir, hk_dir_entry_name (dir, entry), NULL);
}

/* --- output ------------------------------------------------------------ */

static void
emit (HkTree      *tree,
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
static void
emit_entry (HkTree      *tree,
            HkEventType  type,
            HkDirNode   *dir,
            HkEntry     *entry,
            gboolean     synthetic,
            gint64       now)
{
  emit (tree, type, entry_path (tree, dir, entry), NULL,
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

static gboolean
tree_accepts (HkTree     *tree,
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
static int
open_dir_fd (HkTree     *tree,
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
  HkDirNode *parent = dir->parent;
  gpointer kind;

  if (tree->options.mounts != NULL &&
      g_hash_table_lookup_extended (tree->options.mounts, path, NULL, &kind))
    return GPOINTER_TO_INT (kind);
  if (parent != NULL && parent->watch != NULL && !parent->fallback)
    return hk_watch_get_kind (parent->watch);
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
  dir->watch = add_watch (tree, HK_BACKEND_KIND_POLL, dir, path, NULL);
  if (dir->watch == NULL)
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

/* Watches @dir. Returns FALSE when @dir cannot be read at all (it vanished
 * or is unreadable) so the caller does not descend into it. */
static gboolean
watch_dir (HkTree     *tree,
           HkDirNode  *dir,
           const char *path,
           GError    **error)
{
  g_autoptr(GError) local_error = NULL;

  if (dir->watch != NULL)
    return TRUE;

  dir->watch = add_watch (tree, backend_for (tree, dir, path), dir, path, &local_error);
  if (dir->watch != NULL)
    {
      g_atomic_int_inc (&tree->n_watched);
      return TRUE;
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
      dir->watch = add_watch (tree, HK_BACKEND_KIND_FANOTIFY, dir, path, NULL);
      if (dir->watch != NULL)
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

typedef struct
{
  HkTree    *tree;
  gboolean   emit;       /* report what is found (new directories) */
  gint64     now;
  GPtrArray *pending;    /* directories still to read */
  guint8    *dents;      /* getdents64() buffer, allocated on first use */
  gboolean   shallow;    /* rescans: known subdirectories are not re-read */
  gint64     until_ns;   /* rescans: changes at or after this are not ours (0: none) */
  Pairing   *pairing;    /* rescans: appearances and disappearances, paired by inode */
  gint64     lost_from_ns; /* rescans: born after this, an entry is new (0: unknown) */
} Scan;

static void
scan_clear (Scan *scan)
{
  g_clear_pointer (&scan->dents, g_free);
}

static DIR *
open_dir (HkTree     *tree,
          HkDirNode  *dir,
          const char *path,
          GError    **error)
{
  int fd = open_dir_fd (tree, dir, path);
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

/* Whether the directory @dir (NULL: not a directory) is watched and read. */
static gboolean
descend_into (HkTree    *tree,
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

  for (HkDirNode *it = parent; it != NULL; it = it->parent)
    if (it->ino == target->st_ino && it->dev == target->st_dev)
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
static HkEntry *
add_entry (HkTree     *tree,
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
      entry = hk_dir_add (dir, name, HK_NODE_DIR, target.st_ino);
      entry->u.dir->followed = TRUE;
      entry->u.dir->dev = target.st_dev;
      return entry;
    }

  return hk_dir_add (dir, name, kind, ino);
}

#define DENTS_SIZE (32 * 1024)

static gboolean check_root (HkTree *tree, gint64 now);
static void tree_on_root_gone (HkTree *tree, int error_code, const char *why, gint64 now);

/* Watches @dir, a directory that is about to be reported `created`: the
 * user may react to the event at once, and must find it watched. Returns
 * FALSE when it cannot be read (vanished meanwhile: its deletion follows). */
static gboolean
watch_new_dir (HkTree    *tree,
               HkDirNode *dir)
{
  g_autofree char *path = hk_dir_path (&tree->nodes, dir, NULL, NULL);

  if (watch_dir (tree, dir, path, NULL))
    return TRUE;

  /* Vanished, or its path is stale because a parent of the root moved. */
  check_root (tree, g_get_monotonic_time ());
  return FALSE;
}

/* Reports @child of @dir, just found in it (open as @dir_fd), as a
 * synthetic `created`: a directory is watched first (and read later,
 * through @scan), a file's state is recorded. */
static void
report_found (HkTree    *tree,
              HkDirNode *dir,
              HkEntry   *child,
              int        dir_fd,
              Scan      *scan)
{
  HkDirNode *child_dir = hk_entry_dir (child);
  gboolean descend = descend_into (tree, child_dir) && watch_new_dir (tree, child_dir);
  struct stat st;

  if (child_dir == NULL)
    child->stamp = fstatat (dir_fd, hk_dir_entry_name (dir, child), &st, AT_SYMLINK_NOFOLLOW) == 0
      ? hk_node_stamp_from_stat (&st) : 0;

  emit_entry (tree, HK_EVENT_CREATED, dir, child, TRUE, scan->now);
  if (descend)
    g_ptr_array_add (scan->pending, child_dir);
}

/* Reads one directory, adding what the snapshot does not have yet. It
 * reads with getdents64() on the descriptor it opened: the least a walk can
 * do (opendir()/fdopendir() add an fstat() and an fcntl() per directory). */
static void
scan_one (Scan      *scan,
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

  if (dir != tree->root && !watch_dir (tree, dir, path, NULL))
    {
      check_root (tree, scan->now);
      return;
    }
  polled = dir->watch != NULL && hk_watch_get_kind (dir->watch) == HK_BACKEND_KIND_POLL;

  fd = open_dir_fd (tree, dir, path);
  if (fd < 0)
    {
      int errsv = errno;

      /* Renamed (or deleted) between its watch and this read: a watched
       * directory is one that was read, so drop the watch; the rename's
       * event catches up with it at its new path (catch_up_unwatched). */
      if (dir != tree->root && (errsv == ENOENT || errsv == ENOTDIR))
        unwatch_dir (tree, dir);
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

      if (!tree_accepts (tree, dir, name))
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

      child = add_entry (tree, dir, fd, name, kind, entry.ino);
      if (scan->emit)
        {
          report_found (tree, dir, child, fd, scan);
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

      if (descend_into (tree, hk_entry_dir (child)))
        g_ptr_array_add (scan->pending, hk_entry_dir (child));
    }

  close (fd);
  /* Read in full: the table need not keep room to grow. */
  if (fresh)
    hk_dir_trim (dir);
}

/* How long the start walk reads before it lets the backends deliver what
 * they have, so that other watchdogs of the process keep their latency and
 * their kernel queues do not overflow while a large tree is walked. */
#define WALK_SLICE_US 5000

static void
scan_run (Scan *scan)
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
      scan_one (scan, dir);

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
  scan_clear (scan);
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
  scan_run (&scan);
}

/* --- mounts the kernel does not announce -------------------------------- */

/* The kernel reports an unmount (IN_UNMOUNT) only when a filesystem goes
 * away entirely; a mount over a watched directory, or a bind mount
 * detached, changes what a path shows without any event, and the watches
 * stay on the inodes that are no longer there. The mount table says when
 * that happens: the directories where it changed are unwatched, then
 * rescanned, which reports the difference and watches what is there now. */

static void rescan (HkTree *tree, HkDirNode *dir, gint64 synced_at_ns, gint64 now);
static gboolean tree_is_live (HkTree *tree);

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

      unwatch_dir (tree, dir);
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
      if (tree_is_live (tree))
        rescan (tree, dir, realtime_ns (), now);
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
 * does not show it yet (pre_read_changed(), pre_read_moved()). Events of
 * directories read in an earlier slice are handled as usual. */

/* Trees whose walk goes on behind start (the worker's own). */
static GList *early_trees;

static gint walk_pause_after;         /* atomic; 0: walks do not pause */
static gint walk_pause_walked;        /* atomic; read by every walk since the pause was set */

static gboolean walk_step (gpointer data);
static void tree_on_overflow (HkTree *tree, gint64 lost_since_ns, gint64 now);

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
static void
attach_walk_source (HkTree   *tree,
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
static void
end_walk (HkTree *tree)
{
  if (tree->walk_source != NULL)
    {
      g_source_destroy (tree->walk_source);
      g_clear_pointer (&tree->walk_source, g_source_unref);
    }
  if (!tree->early)
    return;
  tree->early = FALSE;
  early_trees = g_list_remove (early_trees, tree);
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

      if (dir->watch != NULL)
        g_ptr_array_add (watches, dir->watch);
    }

  tree->replaying = TRUE;
  tree->told = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);
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

  end_walk (tree);
  tree->lost_since_ns = 0;
  if (stopped)
    return;

  /* Lost while walking (held too much): reported and rescanned now that
   * the snapshot has everything. */
  if (lost_since_ns != 0)
    tree_on_overflow (tree, lost_since_ns, g_get_monotonic_time ());
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
  scan_one (scan, dir);
  tree->hold_watch = FALSE;
  tree->n_walked++;
  g_atomic_int_inc (&walk_pause_walked);
  for (guint i = before; i < tree->walk->len; i++)
    ((HkDirNode *) g_ptr_array_index (tree->walk, i))->queued = TRUE;
  if (dir->watch != NULL && g_hash_table_add (tree->held_set, dir))
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
  scan_clear (&scan);
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
    return G_SOURCE_REMOVE;  /* end_walk() destroyed the source */
  if (paused == tree->walk_paused)
    return G_SOURCE_CONTINUE;
  attach_walk_source (tree, paused);
  return G_SOURCE_REMOVE;
}

/* Another tree starting on the same backend would share the directories
 * (the backend's keys) that a walk has not reached yet, whose held events
 * go to whoever reads them first: the walks going on finish first. */
static void
finish_early_walks (void)
{
  while (early_trees != NULL)
    {
      HkTree *other = early_trees->data;

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
static gboolean
may_walk_early (HkTree *tree)
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
  hk_nodes_set_root_path (&tree->nodes, tree->options.root_path);

  return tree;
}

void
hk_tree_free (HkTree *tree)
{
  if (tree == NULL)
    return;

  end_walk (tree);
  if (tree->root != NULL)
    hk_dir_free (&tree->nodes, tree->root);
  g_clear_pointer (&tree->mount_monitor, hk_mount_monitor_free);
  g_free (tree->real_root);
  hk_nodes_clear (&tree->nodes);
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

  tree->root = hk_dir_new_root (st.st_ino, st.st_dev);
  remember_above_root (tree);
  tree->synced_at_ns = realtime_ns ();

  if (tree->options.backend == HK_BACKEND_KIND_FANOTIFY || tree->options.automatic)
    finish_early_walks ();
  if (may_walk_early (tree))
    {
      /* From here the backend holds what it cannot place yet. */
      tree->early = TRUE;
      tree->walk = g_ptr_array_new ();
      tree->held = g_ptr_array_new ();
      tree->held_set = g_hash_table_new (NULL, NULL);
      hk_watch_hub_begin_walk (tree->hub, tree->options.backend);
      tree->hold_watch = TRUE;
    }

  ok = watch_dir (tree, tree->root, watch_path, error);
  tree->hold_watch = FALSE;
  if (!ok)
    {
      end_walk (tree);
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     "Cannot watch “%s”: it vanished", tree->options.root_path);
      return FALSE;
    }

  if (tree->early && !hk_watch_covers_subtree (tree->root->watch))
    {
      /* Inode marks (no filesystem mark here): the walk comes first. */
      g_autoptr(GPtrArray) watches = g_ptr_array_new ();

      g_ptr_array_add (watches, tree->root->watch);
      hk_watch_hub_release_held (tree->hub, watches);
      end_walk (tree);
    }

  if (tree->options.recursive)
    watch_mounts (tree);

  if (tree->early)
    {
      g_atomic_int_set (&tree->walking, TRUE);
      early_trees = g_list_prepend (early_trees, tree);
      g_ptr_array_add (tree->walk, tree->root);
      tree->root->queued = TRUE;
      attach_walk_source (tree, FALSE);
      return TRUE;
    }

  tree->cancellable = cancellable;
  /* With `since`, nothing is reported before the difference from it. */
  tree->walk = tree->options.since == NULL ? pending : NULL;
  g_ptr_array_add (pending, tree->root);
  scan_run (&scan);
  tree->walk = NULL;
  tree->cancellable = NULL;
  tree->synced_at_ns = realtime_ns ();

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
      if (st.st_ino == tree->root->ino && st.st_dev == tree->root->dev)
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
static gboolean
tree_is_live (HkTree *tree)
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
      tree->synced_at_ns = realtime_ns ();
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
  guint64 ino = hk_entry_ino (entry);
  struct stat st;

  if (ino == 0)
    return FALSE;
  path = entry_path (tree, dir, entry);
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
    return hk_dir_add (dir, name, HK_NODE_FILE, 0);

  if (S_ISLNK (st.st_mode) && tree->options.follow_symlinks)
    {
      g_autofree char *dir_path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
      int dir_fd = open_dir_fd (tree, dir, dir_path);

      if (dir_fd >= 0)
        {
          entry = add_entry (tree, dir, dir_fd, name, HK_NODE_SYMLINK, st.st_ino);
          close (dir_fd);
          if (entry->kind != HK_NODE_DIR)
            entry->stamp = hk_node_stamp_from_stat (&st);
          return entry;
        }
    }

  entry = hk_dir_add (dir, name, hk_node_kind_from_mode (st.st_mode), 0);
  entry->stamp = hk_node_stamp_from_stat (&st);
  return entry;
}

static void
tree_on_created (HkTree     *tree,
                 HkDirNode  *dir,
                 const char *name,
                 gboolean    moved_in,
                 gboolean    is_directory,
                 gint64      now)
{
  gboolean descend;
  HkDirNode *child_dir;
  HkEntry *entry;

  if (!tree_is_live (tree) || !tree_accepts (tree, dir, name))
    return;

  entry = hk_dir_lookup (dir, name);
  if (entry != NULL)
    {
      /* Already reported by the read of a new directory... */
      if (!moved_in || entry_is_on_disk (tree, dir, entry))
        return;
      /* ...or renamed over from outside: the old entry is gone. */
      emit_entry (tree, HK_EVENT_DELETED, dir, entry, FALSE, now);
      hk_dir_remove (&tree->nodes, dir, entry);
    }

  /* Not every backend knows a directory from a link to one. */
  if (is_directory)
    {
      g_autofree char *path = hk_dir_path (&tree->nodes, dir, name, NULL);
      struct stat st;

      is_directory = lstat (path, &st) != 0 || S_ISDIR (st.st_mode);
    }

  if (!is_directory)
    entry = add_created_file (tree, dir, name);
  else
    entry = hk_dir_add (dir, name, HK_NODE_DIR, 0);
  child_dir = hk_entry_dir (entry);

  /* A directory is watched before it is reported, then read. */
  descend = descend_into (tree, child_dir) && watch_new_dir (tree, child_dir);
  emit_entry (tree, HK_EVENT_CREATED, dir, entry, FALSE, now);

  if (descend)
    scan_new_directory (tree, child_dir, now);
}

static void
tree_on_deleted (HkTree     *tree,
                 HkDirNode  *dir,
                 const char *name,
                 gint64      now)
{
  HkEntry *entry;

  if (!tree_is_live (tree) || !tree_accepts (tree, dir, name))
    return;

  /* Never reported as created (it came and went before we read its
   * directory): nothing to report. */
  entry = hk_dir_lookup (dir, name);
  if (entry == NULL)
    return;

  emit_entry (tree, HK_EVENT_DELETED, dir, entry, FALSE, now);
  hk_dir_remove (&tree->nodes, dir, entry);
}

static void
tree_on_changed (HkTree      *tree,
                 HkDirNode   *dir,
                 const char  *name,
                 HkEventType  event_type,
                 gboolean     is_directory,
                 gint64       now)
{
  HkEntry *entry;
  char *path;

  if (!tree_is_live (tree))
    return;

  if (name == NULL)
    {
      /* The root directory itself. */
      if (tree->only_name == NULL)
        emit (tree, event_type, hk_dir_path (&tree->nodes, dir, NULL, NULL), NULL,
              TRUE, FALSE, now);
      return;
    }

  if (!tree_accepts (tree, dir, name))
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
  emit (tree, event_type, path, NULL, is_directory, FALSE, now);
}

static void rescan_dir (HkTree *tree, HkDirNode *dir, Scan *scan, gint64 threshold_ns);
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

      if (dir->watch == NULL && descend_into (tree, dir))
        {
          /* Nothing under it was ever watched; report no modifications. */
          rescan_dir (tree, dir, &scan, G_MAXINT64);
          scan_run (&scan);
          continue;
        }

      hk_dir_collect_subdirs (dir, stack);
    }
}

static void
tree_on_moved (HkTree     *tree,
               HkDirNode  *from_dir,
               const char *from_name,
               HkDirNode  *to_dir,
               const char *to_name,
               gboolean    is_directory,
               gint64      now)
{
  gboolean from_in = tree_accepts (tree, from_dir, from_name);
  gboolean to_in = tree_accepts (tree, to_dir, to_name);
  HkEntry *entry, *replaced;
  HkDirNode *moved_dir;
  char *old_path, *new_path;

  if (!tree_is_live (tree))
    return;

  if (!from_in || !to_in)
    {
      if (from_in)
        tree_on_deleted (tree, from_dir, from_name, now);
      if (to_in)
        tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
      return;
    }

  entry = hk_dir_lookup (from_dir, from_name);
  if (entry == NULL)
    {
      /* Its creation was never seen: it is new to us where it lands. */
      tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
      return;
    }

  /* rename(2) over an existing entry replaces it. */
  replaced = hk_dir_lookup (to_dir, to_name);
  if (replaced != NULL && replaced != entry)
    {
      /* Reported, so that a move never lands on an entry that exists:
       * the coalescer relies on it (docs/coalescing.md). */
      emit_entry (tree, HK_EVENT_DELETED, to_dir, replaced, FALSE, now);
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
  emit (tree, HK_EVENT_MOVED, old_path, new_path, moved_dir != NULL, FALSE, now);

  if (moved_dir != NULL)
    catch_up_unwatched (tree, moved_dir, now);
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

  if (dir->parent == NULL)
    return FALSE;
  path = hk_dir_path (&tree->nodes, dir, NULL, NULL);
  if ((dir_may_be_link (tree, dir) ? stat (path, &st) : lstat (path, &st)) != 0)
    return FALSE;
  return S_ISDIR (st.st_mode) &&
         (dir->ino == 0 || dir->ino == st.st_ino);
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
  if (dir_still_on_disk (tree, dir) && tree_is_live (tree))
    rescan (tree, dir, realtime_ns (), now);
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

  emit (tree, HK_EVENT_DELETED, root_path, NULL, tree->only_name == NULL, FALSE, now);
  hk_event_queue_push (tree->queue, HK_QUEUE_ITEM_ROOT_GONE,
                       g_error_new (G_IO_ERROR, error_code,
                                    "The watched root “%s” %s", display, why));
}

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

static Pairing *
pairing_new (void)
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
      emit_entry (scan->tree, HK_EVENT_DELETED, dir, entry, TRUE, scan->now);
      hk_dir_remove (&scan->tree->nodes, dir, entry);
      return;
    }

  v = g_new0 (Vanished, 1);
  v->path = entry_path (scan->tree, dir, entry);
  v->parent = dir;
  v->name = g_strdup (hk_dir_entry_name (dir, entry));
  v->kind = entry->kind;
  v->ino = hk_entry_ino (entry);
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
                 born_after (dir_fd, name, scan->lost_from_ns), NULL };
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

static gboolean
is_attached (HkTree    *tree,
             HkDirNode *dir)
{
  HkDirNode *it = dir;

  while (it->parent != NULL)
    it = it->parent;
  return it == tree->root;
}

/* Where the user sees @v now: a move of a directory above it, told
 * earlier in the same pairing, moved it too. (A directory it vanished
 * from that is itself held back has not been told anything yet.) */
static char *
told_path (HkTree   *tree,
           Vanished *v)
{
  if (is_attached (tree, v->parent))
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

  emit_entry (tree, HK_EVENT_CREATED, dir, entry, TRUE, now);
  if (hk_entry_dir (entry) != NULL)
    g_ptr_array_add (stack, hk_entry_dir (entry));
  while (stack->len > 0)
    {
      HkDirNode *top = g_ptr_array_steal_index (stack, stack->len - 1);

      for (guint i = 0; i < hk_dir_n_entries (top); i++)
        {
          HkEntry *child = hk_dir_entry_at (top, i);

          emit_entry (tree, HK_EVENT_CREATED, top, child, TRUE, now);
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

  entry = hk_dir_add (a->dir, a->name, v->kind, v->ino);
  entry->stamp = a->stamp;  /* a rename changes the ctime */
  return entry;
}

/* Reports what the rescan held back: deletions first (a rename over an
 * existing entry must find its destination free), then moves, each once
 * its destination is free in what the user was told, then creations. The
 * directories that moved are returned for a deep rescan to re-read. */
static GPtrArray *
pairing_finish (Scan *scan)
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
          is_attached (tree, a->dir))
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
      emit (tree, HK_EVENT_DELETED, told_path (tree, v), NULL,
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
          emit (tree, HK_EVENT_MOVED, source, g_steal_pointer (&dest),
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
        emit (tree, HK_EVENT_DELETED, told_path (tree, v), NULL,
              v->kind == HK_NODE_DIR, TRUE, scan->now);
    }

  for (guint i = 0; i < pairing->appeared->len; i++)
    {
      Appeared *a = &g_array_index (pairing->appeared, Appeared, i);
      HkEntry *child;

      if (a->source != NULL && vanished_pending (a->source))
        {
          /* A cycle of renames (a <-> b): told as deletion and creation. */
          emit (tree, HK_EVENT_DELETED, told_path (tree, a->source), NULL,
                a->kind == HK_NODE_DIR, TRUE, scan->now);
          emit_subtree_created (tree, a->dir, reattach (tree, a), scan->now);
        }
      else if (a->source == NULL && is_attached (tree, a->dir) &&
               hk_dir_lookup (a->dir, a->name) == NULL)
        {
          g_autofree char *dir_path = hk_dir_path (&tree->nodes, a->dir, NULL, NULL);
          int dir_fd = open (dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

          child = add_entry (tree, a->dir, dir_fd, a->name, a->kind, a->ino);
          report_found (tree, a->dir, child, dir_fd, scan);
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

/* What a changed ctime means. A polling round knows its window exactly, so
 * it can tell a write (mtime in the window) from a metadata change. */
static HkEventType
lost_change (Scan              *scan,
             const struct stat *st,
             gint64             since_ns)
{
  gint64 mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;

  if (scan->until_ns == 0 || (mtime_ns >= since_ns && mtime_ns < scan->until_ns))
    return HK_EVENT_MODIFIED;
  return HK_EVENT_ATTRIBUTE_CHANGED;
}

/* Whether the file @entry, now @st on disk, changed since the user was
 * last told about it. Its stamp says what was reported; a file never
 * stamped (read by the start walk and quiet since) counts as changed when
 * its ctime is not older than @threshold_ns, the last moment nothing was
 * lost. */
static gboolean
file_changed_unreported (const HkEntry     *entry,
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
         target.st_dev == dir->dev;
}

static void
rescan_dir (HkTree    *tree,
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

  gboolean was_unwatched = dir->watch == NULL;

  if (was_unwatched && (dir == tree->root || tree->options.recursive))
    watch_dir (tree, dir, path, NULL);

  dirp = open_dir (tree, dir, path, &error);
  if (dirp == NULL)
    {
      /* Gone: its parent's rescan reports it, or it was renamed and the
       * rename's event catches up with it, if it is left unwatched. */
      if (was_unwatched && dir != tree->root)
        unwatch_dir (tree, dir);
      return;
    }

  while ((de = readdir (dirp)) != NULL && !g_atomic_int_get (&tree->cancelled))
    {
      const char *name = de->d_name;
      struct stat st;
      HkNodeKind kind;

      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
        continue;
      if (!tree_accepts (tree, dir, name))
        continue;
      if (fstatat (dirfd (dirp), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;

      kind = hk_node_kind_from_mode (st.st_mode);
      child = hk_dir_lookup (dir, name);
      if (child != NULL && child->kind == HK_NODE_DIR && child->u.dir->followed &&
          kind == HK_NODE_SYMLINK && followed_link_unchanged (tree, child->u.dir, dirfd (dirp)))
        {
          /* A followed link to the same directory: rescanned as that
           * directory. Anything else is a replacement, below. */
          child->mark = TRUE;
          if (descend_into (tree, child->u.dir))
            rescan_dir (tree, child->u.dir, scan, threshold_ns);
          continue;
        }

      if (child != NULL && (child->kind != kind ||
                            (hk_entry_ino (child) != 0 && hk_entry_ino (child) != st.st_ino)))
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
          child = add_entry (tree, dir, dirfd (dirp), name, kind, st.st_ino);
          child->mark = TRUE;
          report_found (tree, dir, child, dirfd (dirp), scan);
          continue;
        }

      /* Marked first: the entry may move in its table below. */
      child->mark = TRUE;
      hk_entry_set_ino (child, st.st_ino);
      if (kind != HK_NODE_DIR)
        {
          if (file_changed_unreported (child, &st, threshold_ns, scan->until_ns))
            emit_entry (tree, lost_change (scan, &st, threshold_ns), dir, child, TRUE, scan->now);
          child->stamp = hk_node_stamp_from_stat (&st);
        }
      else if (!scan->shallow && descend_into (tree, child->u.dir))
        rescan_dir (tree, child->u.dir, scan, threshold_ns);
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
static void
rescan (HkTree    *tree,
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

      scan.pairing = pairing_new ();
      for (guint i = 0; i < todo->len; i++)
        rescan_dir (tree, g_ptr_array_index (todo, i), &scan, synced_at_ns - CTIME_SLACK_NS);
      moved = pairing_finish (&scan);
      scan_run (&scan);
      /* Directories that moved while events were lost may have changed
       * inside too. */
      g_ptr_array_set_size (todo, 0);
      g_ptr_array_extend (todo, moved, NULL, NULL);
    }
}


static void
tree_on_overflow (HkTree *tree,
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
      rescan (tree, NULL, MAX (tree->synced_at_ns, lost_since_ns), now);
      tree->synced_at_ns = realtime_ns ();
    }
}

void
hk_tree_inject_overflow (HkTree *tree)
{
  tree_on_overflow (tree, realtime_ns (), g_get_monotonic_time ());
}

void
hk_tree_resume (HkTree *tree)
{
  if (!tree->suspended)
    return;

  tree->suspended = FALSE;
  rescan (tree, NULL, tree->synced_at_ns, g_get_monotonic_time ());
  tree->synced_at_ns = realtime_ns ();
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

  hk_watch_remove (g_steal_pointer (&dir->watch));
  dir->watch = watch;
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
          (child->u.ino != 0 && child->u.ino != st.st_ino))
        {
          consistent = FALSE;  /* renamed or replaced: let a read sort it out */
          break;
        }
      if (file_changed_unreported (child, &st, since_ns, scan->until_ns))
        emit_entry (tree, lost_change (scan, &st, since_ns), dir, child, TRUE, scan->now);
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
  if (!tree_is_live (tree) || !is_attached (tree, dir))
    return;

  if (is_fallback (tree, dir))
    retry_kernel_watch (tree, dir, now);

  if (tree->round == NULL)
    tree->round = pairing_new ();
  scan.pairing = tree->round;
  if (kind == HK_RESCAN_ENTRIES || !check_contents (tree, dir, &scan, since_ns))
    rescan_dir (tree, dir, &scan, since_ns);
  scan_clear (&scan);
}

static void
client_rescan_done (gpointer client,
                    gint64   now)
{
  HkTree *tree = client;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GPtrArray) moved = NULL;
  Scan scan = { tree, TRUE, now };

  if (tree->round == NULL)
    return;
  pending = g_ptr_array_new ();
  scan.pending = pending;

  /* Moved directories have watches of their own that re-read them. */
  scan.pairing = g_steal_pointer (&tree->round);
  moved = pairing_finish (&scan);
  scan_run (&scan);
}

/* --- early ready: what the backend held for a directory read silently --- */

/* @dir was read by the walk behind start, without reporting its entries,
 * and the backend held its events until then: each happened before the
 * read or just after it, so the read may show it or not. Each is
 * reported; the snapshot changes only where it does not show it yet. */
static gboolean
is_pre_read (HkTree    *tree,
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
  emit (tree, type, hk_dir_path (&tree->nodes, dir, name, NULL), NULL,
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
  GHashTable *names = g_hash_table_lookup (tree->told, dir);

  return names != NULL ? GPOINTER_TO_INT (g_hash_table_lookup (names, name)) : TOLD_NOTHING;
}

static void
note_told (HkTree     *tree,
           HkDirNode  *dir,
           const char *name,
           Told        told)
{
  GHashTable *names;

  if (!is_pre_read (tree, dir))
    return;
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
      tree_on_created (tree, dir, name, FALSE, is_directory, now);
      note_told (tree, dir, name, TOLD_CREATED);
      node = hk_dir_lookup (dir, name);
    }
  return node;
}

static void
pre_read_changed (HkTree      *tree,
                  HkDirNode   *dir,
                  const char  *name,
                  HkChange     change,
                  HkEventType  event_type,
                  gboolean     is_directory,
                  gint64       now)
{
  HkEntry *node;

  if (!tree_is_live (tree) || !tree_accepts (tree, dir, name))
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
          tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
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
        tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
      else if ((node->kind == HK_NODE_DIR) == !!is_directory)
        emit_entry (tree, HK_EVENT_CREATED, dir, node, FALSE, now);
      else
        emit_absent (tree, HK_EVENT_CREATED, dir, name, is_directory, now);
      note_told (tree, dir, name, TOLD_CREATED);
      break;

    case HK_CHANGE_DELETED:
    case HK_CHANGE_MOVED_OUT:
      node = made_again (tree, dir, name, is_directory, FALSE, now);
      if (node != NULL)
        tree_on_deleted (tree, dir, name, now);
      else if (told_state (tree, dir, name) != TOLD_GONE)
        emit_absent (tree, HK_EVENT_DELETED, dir, name, is_directory, now);
      note_told (tree, dir, name, TOLD_GONE);
      break;

    default:
      node = made_again (tree, dir, name, is_directory, FALSE, now);
      if (node != NULL)
        tree_on_changed (tree, dir, name, event_type, is_directory, now);
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

static void
pre_read_moved (HkTree     *tree,
                HkDirNode  *from_dir,
                const char *from_name,
                HkDirNode  *to_dir,
                const char *to_name,
                gboolean    is_directory,
                gint64      now)
{
  HkEntry *from, *to;
  gboolean from_made_here, to_told;

  if (!tree_is_live (tree))
    return;
  if (!tree_accepts (tree, from_dir, from_name) || !tree_accepts (tree, to_dir, to_name))
    {
      /* One side is filtered out: the other is a deletion or an arrival. */
      if (tree_accepts (tree, from_dir, from_name))
        pre_read_changed (tree, from_dir, from_name, HK_CHANGE_MOVED_OUT, HK_EVENT_DELETED,
                          is_directory, now);
      if (tree_accepts (tree, to_dir, to_name))
        pre_read_changed (tree, to_dir, to_name, HK_CHANGE_MOVED_IN, HK_EVENT_CREATED,
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
      emit (tree, HK_EVENT_MOVED,
            hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
            hk_dir_path (&tree->nodes, to_dir, to_name, NULL),
            to->kind == HK_NODE_DIR, FALSE, now);
      return;
    }

  /* The source read before the move (or recorded from an event and gone
   * since), the destination after: both show it. */
  if (from != NULL && to != NULL && from != to &&
      ((hk_entry_ino (from) != 0 && hk_entry_ino (from) == hk_entry_ino (to)) ||
       (hk_entry_ino (from) == 0 && hk_entry_ino (to) != 0 &&
        !entry_on_disk_at_all (tree, from_dir, from_name))))
    {
      emit (tree, HK_EVENT_MOVED, hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
            hk_dir_path (&tree->nodes, to_dir, to_name, NULL), to->kind == HK_NODE_DIR, FALSE, now);
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
      emit (tree, HK_EVENT_MOVED, hk_dir_path (&tree->nodes, from_dir, from_name, NULL),
            hk_dir_path (&tree->nodes, to_dir, to_name, NULL), FALSE, FALSE, now);
      hk_dir_remove (&tree->nodes, from_dir, from);
      return;
    }

  /* Neither shows it (the destination read before the move, the source
   * after): it is new where it landed. Otherwise, as usual. */
  if (from == NULL)
    tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
  else
    tree_on_moved (tree, from_dir, from_name, to_dir, to_name, is_directory, now);
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
  if (name != NULL && is_pre_read (tree, dir))
    {
      pre_read_changed (tree, dir, name, change,
                        change < G_N_ELEMENTS (change_types) ? change_types[change] : HK_EVENT_CREATED,
                        is_directory, now);
      return;
    }
  switch (change)
    {
    case HK_CHANGE_CREATED:
    case HK_CHANGE_MOVED_IN:
      tree_on_created (tree, dir, name, change == HK_CHANGE_MOVED_IN, is_directory, now);
      break;

    case HK_CHANGE_DELETED:
    case HK_CHANGE_MOVED_OUT:
      tree_on_deleted (tree, dir, name, now);
      break;

    case HK_CHANGE_SELF_DELETED:
    case HK_CHANGE_SELF_MOVED:
    case HK_CHANGE_SELF_UNMOUNTED:
      /* A subdirectory is reported by its parent, except for an unmount,
       * which the parent never sees. */
      if (dir != tree->root)
        {
          if (change == HK_CHANGE_SELF_UNMOUNTED)
            rescan (tree, dir, realtime_ns (), now);
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
      tree_on_changed (tree, dir, name, change_types[change], is_directory, now);
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
  if (is_pre_read (client, from_dir) || is_pre_read (client, to_dir))
    pre_read_moved (client, from_dir, from_name, to_dir, to_name, is_directory, now);
  else
    tree_on_moved (client, from_dir, from_name, to_dir, to_name, is_directory, now);
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
  tree_on_overflow (client, since_ns, now);
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
  dir->watch = NULL;
  dir->fallback = FALSE;
  tree_on_watch_lost (tree, dir, now);
}

static char *
client_dup_path (gpointer client,
                 gpointer dir)
{
  if (!is_attached (client, dir))
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
      int fd = open_dir_fd (tree, dir, path);

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
          int flags = child->kind == HK_NODE_DIR && child->u.dir->followed
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
              g_ptr_array_add (dirs, child->u.dir);
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
                                                       TRUE, g_get_real_time ());

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
  unwatch_dir (tree, dir);
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

  scan_run (&scan);
}
