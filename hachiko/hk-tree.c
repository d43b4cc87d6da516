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

struct _HkTree
{
  HkWatchHub    *hub;
  HkWatchClient  client;         /* how the hub reports to this tree */
  HkEventQueue  *queue;
  HkTreeOptions  options;
  char          *only_name;      /* single-file root: the file's name */
  HkDirNode     *root;
  GHashTable    *nodes;          /* set of HkNode, keyed by (parent, name) */
  GCancellable  *cancellable;    /* the start's, only during start */
  gint64         synced_at_ns;   /* realtime of the last consistent view */
  guint          n_watched;      /* atomic: read from other threads */
  guint          n_polled;       /* atomic: fallen back to polling */
  guint          releases_seen;  /* the hub's releases when a fallback retry failed */
  gint64         next_retry_us;  /* when polled directories next try a watch */
  gint           cancelled;      /* atomic */
  guint          suspended : 1;  /* owner queue saturated: wait for resume */
  guint          root_gone : 1;
};

static gint64
realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* --- snapshot nodes ---------------------------------------------------- */

static guint
node_hash (gconstpointer key)
{
  const HkNode *node = key;

  return g_str_hash (node->name) ^ (guint) (GPOINTER_TO_SIZE (node->parent) >> 4) * 2654435761u;
}

static gboolean
node_equal (gconstpointer a,
            gconstpointer b)
{
  const HkNode *na = a, *nb = b;

  return na->parent == nb->parent && strcmp (na->name, nb->name) == 0;
}

static HkNode *
node_lookup (HkTree     *tree,
             HkDirNode  *parent,
             const char *name)
{
  HkNode key = { .parent = parent, .name = (char *) name };

  return g_hash_table_lookup (tree->nodes, &key);
}

static HkNode *
node_new (HkTree     *tree,
          HkDirNode  *parent,
          const char *name,
          HkNodeKind  kind,
          guint64     ino)
{
  gsize len = strlen (name) + 1;
  gsize size = kind == HK_NODE_DIR ? sizeof (HkDirNode) : sizeof (HkNode);
  HkNode *node = g_malloc0 (size + len);

  node->name = (char *) node + size;
  memcpy (node->name, name, len);
  node->name_is_inline = TRUE;
  node->kind = kind;
  node->ino = ino;
  node->parent = parent;

  if (parent != NULL)
    {
      node->next = parent->children;
      if (parent->children != NULL)
        parent->children->prev = node;
      parent->children = node;
      g_hash_table_add (tree->nodes, node);
    }

  return node;
}

static void
node_unlink (HkTree *tree,
             HkNode *node)
{
  HkDirNode *parent = node->parent;

  if (parent == NULL)
    return;

  g_hash_table_remove (tree->nodes, node);
  if (node->prev != NULL)
    node->prev->next = node->next;
  else
    parent->children = node->next;
  if (node->next != NULL)
    node->next->prev = node->prev;
  node->prev = node->next = NULL;
  node->parent = NULL;
}

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

static void
node_free (HkTree *tree,
           HkNode *node)
{
  if (node->kind == HK_NODE_DIR)
    unwatch_dir (tree, (HkDirNode *) node);

  if (!node->name_is_inline)
    g_free (node->name);
  g_free (node);
}

/* Removes @node and everything below it, without recursion (trees can be
 * deeper than the stack). */
static void
node_remove_subtree (HkTree *tree,
                     HkNode *node)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  node_unlink (tree, node);
  g_ptr_array_add (stack, node);

  while (stack->len > 0)
    {
      HkNode *top = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      if (top->kind == HK_NODE_DIR)
        {
          HkDirNode *dir = (HkDirNode *) top;

          while (dir->children != NULL)
            {
              HkNode *child = dir->children;

              node_unlink (tree, child);
              g_ptr_array_add (stack, child);
            }
        }
      node_free (tree, top);
    }
}

static void
node_rename (HkTree     *tree,
             HkNode     *node,
             HkDirNode  *new_parent,
             const char *new_name)
{
  char *name = g_strdup (new_name);

  node_unlink (tree, node);
  if (!node->name_is_inline)
    g_free (node->name);
  node->name = name;
  node->name_is_inline = FALSE;

  node->parent = new_parent;
  node->next = new_parent->children;
  if (new_parent->children != NULL)
    new_parent->children->prev = node;
  new_parent->children = node;
  g_hash_table_add (tree->nodes, node);
}

/* Absolute path of @node; *relative points inside it, at the path
 * relative to the root ("" for the root itself). */
static char *
node_path (HkTree      *tree,
           HkNode      *node,
           const char  *child_name,
           const char **relative)
{
  const char *parts[256];
  g_autoptr(GPtrArray) many = NULL;
  const char **names = parts;
  guint n = 0;
  gsize root_len = strlen (tree->options.root_path);
  gsize len = root_len;
  GString *path;

  if (child_name != NULL)
    {
      parts[n++] = child_name;
      len += strlen (child_name) + 1;
    }

  for (HkNode *it = node; it != NULL && it->parent != NULL; it = &it->parent->node)
    {
      if (n == G_N_ELEMENTS (parts) && many == NULL)
        {
          many = g_ptr_array_new ();
          for (guint i = 0; i < n; i++)
            g_ptr_array_add (many, (gpointer) parts[i]);
        }
      if (many != NULL)
        g_ptr_array_add (many, it->name);
      else
        parts[n] = it->name;
      n++;
      len += strlen (it->name) + 1;
    }
  if (many != NULL)
    names = (const char **) many->pdata;

  path = g_string_sized_new (len + 1);
  g_string_append_len (path, tree->options.root_path, root_len);
  for (guint i = n; i > 0; i--)
    {
      if (path->len == 0 || path->str[path->len - 1] != '/')
        g_string_append_c (path, '/');
      g_string_append (path, names[i - 1]);
    }

  if (relative != NULL)
    {
      const char *rel = path->str + MIN (root_len, path->len);

      while (*rel == '/')
        rel++;
      *relative = rel;
    }

  /* g_string_free (.., FALSE) keeps str at the same address. */
  return g_string_free (path, FALSE);
}

static HkNodeKind
kind_from_mode (mode_t mode)
{
  if (S_ISDIR (mode))
    return HK_NODE_DIR;
  if (S_ISREG (mode))
    return HK_NODE_FILE;
  if (S_ISLNK (mode))
    return HK_NODE_SYMLINK;
  return HK_NODE_OTHER;
}

static HkNodeKind
kind_from_dtype (unsigned char d_type)
{
  switch (d_type)
    {
    case DT_DIR: return HK_NODE_DIR;
    case DT_REG: return HK_NODE_FILE;
    case DT_LNK: return HK_NODE_SYMLINK;
    default:     return HK_NODE_OTHER;
    }
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

static void
emit_node (HkTree      *tree,
           HkEventType  type,
           HkNode      *node,
           gboolean     synthetic,
           gint64       now)
{
  emit (tree, type, node_path (tree, node, NULL, NULL), NULL,
        node->kind == HK_NODE_DIR, synthetic, now);
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

static guint32
watch_flags (HkTree *tree)
{
  return (tree->options.access_events ? HK_WATCH_ACCESS_EVENTS : 0) |
         (tree->options.follow_symlinks ? HK_WATCH_FOLLOW_SYMLINK : 0);
}

static HkWatch *
add_watch (HkTree         *tree,
           HkBackendKind   kind,
           HkDirNode      *dir,
           const char     *path,
           GError        **error)
{
  HkWatch *watch = hk_watch_hub_add (tree->hub, kind, &tree->client, dir, path,
                                     watch_flags (tree), error);

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
  HkDirNode *parent = dir->node.parent;
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
} Scan;

static void
scan_clear (Scan *scan)
{
  g_clear_pointer (&scan->dents, g_free);
}

static DIR *
open_dir (const char *path,
          GError    **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  DIR *dirp;

  if (fd < 0 && errno == ELOOP)
    fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);  /* followed symlink root */

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

static gboolean
descend_into (HkTree *tree,
              HkNode *node)
{
  g_autofree char *path = NULL;
  const char *relative;

  if (!tree->options.recursive || node->kind != HK_NODE_DIR)
    return FALSE;
  if (tree->options.rules == NULL)
    return TRUE;

  path = node_path (tree, node, NULL, &relative);
  return !is_excluded (tree, relative);
}

/* With follow-symlinks, a symbolic link to a directory is taken as that
 * directory, unless it points at one of its own ancestors (a loop), which
 * is reported and left as a plain entry. Returns the kind to record. */
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

  for (HkDirNode *it = parent; it != NULL; it = it->node.parent)
    if (it->node.ino == target->st_ino && it->dev == target->st_dev)
      {
        g_autofree char *path = node_path (tree, &parent->node, name, NULL);
        g_autofree char *display = g_filename_display_name (path);

        report_error (tree, g_error_new (G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS,
                                         "Not following “%s”: the symbolic link loops "
                                         "back to a directory above it", display));
        return HK_NODE_SYMLINK;
      }

  return HK_NODE_DIR;
}

/* Creates the node for an entry read from @dir_fd. */
static HkNode *
add_entry (HkTree     *tree,
           HkDirNode  *dir,
           int         dir_fd,
           const char *name,
           HkNodeKind  kind,
           guint64     ino)
{
  struct stat target;
  HkNode *node;

  if (kind == HK_NODE_SYMLINK && resolve_symlink (tree, dir, dir_fd, name, &target) == HK_NODE_DIR)
    {
      node = node_new (tree, dir, name, HK_NODE_DIR, target.st_ino);
      ((HkDirNode *) node)->followed = TRUE;
      ((HkDirNode *) node)->dev = target.st_dev;
      return node;
    }

  node = node_new (tree, dir, name, kind, ino);
  if (kind == HK_NODE_DIR)
    ((HkDirNode *) node)->dev = dir->dev;
  return node;
}

/* Reads one directory, adding what the snapshot does not have yet. */
#define DENTS_SIZE (32 * 1024)

/* Reads one directory, adding what the snapshot does not have yet. It
 * reads with getdents64() on the descriptor it opened: the least a walk can
 * do (opendir()/fdopendir() add an fstat() and an fcntl() per directory). */
static void
scan_one (Scan      *scan,
          HkDirNode *dir)
{
  HkTree *tree = scan->tree;
  g_autofree char *path = node_path (tree, &dir->node, NULL, NULL);
  /* A directory with no known entries (the usual case while walking) needs
   * no duplicate check: readdir lists each name once. */
  gboolean fresh = dir->children == NULL;
  gssize n;
  int fd;

  if (dir != tree->root && !watch_dir (tree, dir, path, NULL))
    return;

  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ELOOP)
    fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);  /* a followed link */
  if (fd < 0)
    {
      int errsv = errno;

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

  while ((n = getdents64 (fd, scan->dents, DENTS_SIZE)) > 0)
    {
      for (gssize pos = 0; pos < n;)
        {
          struct dirent64 *de = (struct dirent64 *) (scan->dents + pos);
          const char *name = de->d_name;
          HkNodeKind kind;
          HkNode *child;

          pos += de->d_reclen;

          if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
          if (!tree_accepts (tree, dir, name))
            continue;
          if (!fresh && node_lookup (tree, dir, name) != NULL)
            continue;

          kind = kind_from_dtype (de->d_type);
          if (de->d_type == DT_UNKNOWN)
            {
              struct stat st;

              if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
              kind = kind_from_mode (st.st_mode);
            }

          child = add_entry (tree, dir, fd, name, kind, de->d_ino);
          if (scan->emit)
            emit_node (tree, HK_EVENT_CREATED, child, TRUE, scan->now);

          if (descend_into (tree, child))
            g_ptr_array_add (scan->pending, child);
        }
    }

  close (fd);
}

static void
scan_run (Scan *scan)
{
  while (scan->pending->len > 0)
    {
      HkDirNode *dir = g_ptr_array_steal_index_fast (scan->pending, scan->pending->len - 1);

      if (g_atomic_int_get (&scan->tree->cancelled))
        break;
      scan_one (scan, dir);
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

/* --- public ------------------------------------------------------------ */

static const HkWatchClientFuncs tree_client_funcs;

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
  tree->options.poll_interval = options->poll_interval;
  tree->options.mounts = options->mounts != NULL ? g_hash_table_ref (options->mounts) : NULL;
  tree->queue = hk_event_queue_ref (queue);
  tree->options.root_path = g_strdup (options->root_path);
  tree->options.recursive = options->recursive;
  tree->options.access_events = options->access_events;
  tree->options.follow_symlinks = options->follow_symlinks;
  tree->options.rules = options->rules ? hk_filter_rules_ref (options->rules) : NULL;
  tree->nodes = g_hash_table_new (node_hash, node_equal);

  return tree;
}

void
hk_tree_free (HkTree *tree)
{
  if (tree == NULL)
    return;

  if (tree->root != NULL)
    node_remove_subtree (tree, &tree->root->node);
  g_hash_table_unref (tree->nodes);
  g_clear_pointer (&tree->options.rules, hk_filter_rules_unref);
  g_clear_pointer (&tree->options.mounts, g_hash_table_unref);
  g_free (tree->options.root_path);
  g_free (tree->only_name);
  hk_event_queue_unref (tree->queue);
  g_free (tree);
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

  tree->root = (HkDirNode *) node_new (tree, NULL, "", HK_NODE_DIR, st.st_ino);
  tree->root->dev = st.st_dev;
  tree->synced_at_ns = realtime_ns ();

  if (!watch_dir (tree, tree->root, watch_path, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     "Cannot watch “%s”: it vanished", tree->options.root_path);
      return FALSE;
    }

  tree->cancellable = cancellable;
  g_ptr_array_add (pending, tree->root);
  scan_run (&scan);
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

/* Whether the tree takes events now. A saturated owner queue suspends it
 * (it no longer records anything) until the owner has drained the queue
 * and calls hk_tree_resume(), which rescans. */
static gboolean
tree_is_live (HkTree *tree)
{
  if (tree->suspended || tree->root_gone)
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

/* Whether @node (known already) is still the entry on disk, for a name
 * that arrives by rename(2). Only nodes found by reading a directory can be
 * met again this way (their inode is known); a node recorded from an event
 * (inode 0) meeting a rename onto its name was replaced. */
static gboolean
node_is_on_disk (HkTree *tree,
                 HkNode *node)
{
  g_autofree char *path = NULL;
  struct stat st;

  if (node->ino == 0)
    return FALSE;
  path = node_path (tree, node, NULL, NULL);
  if (lstat (path, &st) != 0)
    return TRUE;  /* gone again: its deletion is queued */
  return node->ino == st.st_ino;
}

static void
tree_on_created (HkTree     *tree,
                 HkDirNode  *dir,
                 const char *name,
                 gboolean    moved_in,
                 gboolean    is_directory,
                 gint64      now)
{
  HkNodeKind kind = is_directory ? HK_NODE_DIR : HK_NODE_FILE;
  HkNode *node;

  if (!tree_is_live (tree) || !tree_accepts (tree, dir, name))
    return;

  node = node_lookup (tree, dir, name);
  if (node != NULL)
    {
      /* Already reported by the read of a new directory... */
      if (!moved_in || node_is_on_disk (tree, node))
        return;
      /* ...or renamed over from outside: the old entry is gone. */
      emit_node (tree, HK_EVENT_DELETED, node, FALSE, now);
      node_remove_subtree (tree, node);
      node = NULL;
    }

  if (!is_directory && tree->options.follow_symlinks)
    {
      g_autofree char *dir_path = node_path (tree, &dir->node, NULL, NULL);
      int dir_fd = open (dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      struct stat st;

      if (dir_fd >= 0)
        {
          if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            {
              node = add_entry (tree, dir, dir_fd, name, HK_NODE_SYMLINK, st.st_ino);
              is_directory = node->kind == HK_NODE_DIR;
            }
          close (dir_fd);
        }
    }

  if (node == NULL)
    {
      node = node_new (tree, dir, name, kind, 0);
      if (kind == HK_NODE_DIR)
        ((HkDirNode *) node)->dev = dir->dev;
    }
  emit_node (tree, HK_EVENT_CREATED, node, FALSE, now);

  if (descend_into (tree, node))
    scan_new_directory (tree, (HkDirNode *) node, now);
}

static void
tree_on_deleted (HkTree     *tree,
                 HkDirNode  *dir,
                 const char *name,
                 gint64      now)
{
  HkNode *node;

  if (!tree_is_live (tree) || !tree_accepts (tree, dir, name))
    return;

  /* Never reported as created (it came and went before we read its
   * directory): nothing to report. */
  node = node_lookup (tree, dir, name);
  if (node == NULL)
    return;

  emit_node (tree, HK_EVENT_DELETED, node, FALSE, now);
  node_remove_subtree (tree, node);
}

static void
tree_on_changed (HkTree      *tree,
                 HkDirNode   *dir,
                 const char  *name,
                 HkEventType  event_type,
                 gboolean     is_directory,
                 gint64       now)
{
  if (!tree_is_live (tree))
    return;

  if (name == NULL)
    {
      /* The root directory itself. */
      if (tree->only_name == NULL)
        emit_node (tree, event_type, &dir->node, FALSE, now);
      return;
    }

  if (!tree_accepts (tree, dir, name))
    return;

  /* A name the snapshot does not have is stale: the read of its new
   * directory already saw it renamed or deleted (and reported the result),
   * or its creation was never reported. */
  if (node_lookup (tree, dir, name) == NULL)
    return;

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

  emit (tree, event_type, node_path (tree, &dir->node, name, NULL), NULL,
        is_directory, FALSE, now);
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

      if (dir->watch == NULL && descend_into (tree, &dir->node))
        {
          /* Nothing under it was ever watched; report no modifications. */
          rescan_dir (tree, dir, &scan, G_MAXINT64);
          scan_run (&scan);
          continue;
        }

      for (HkNode *child = dir->children; child != NULL; child = child->next)
        if (child->kind == HK_NODE_DIR)
          g_ptr_array_add (stack, child);
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
  HkNode *node, *replaced;
  char *old_path;

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

  node = node_lookup (tree, from_dir, from_name);
  if (node == NULL)
    {
      /* Its creation was never seen: it is new to us where it lands. */
      tree_on_created (tree, to_dir, to_name, TRUE, is_directory, now);
      return;
    }

  /* rename(2) over an existing entry replaces it. */
  replaced = node_lookup (tree, to_dir, to_name);
  if (replaced != NULL && replaced != node)
    {
      /* Reported, so that a move never lands on an entry that exists:
       * the coalescer relies on it (docs/coalescing.md). */
      emit_node (tree, HK_EVENT_DELETED, replaced, FALSE, now);
      node_remove_subtree (tree, replaced);
    }

  old_path = node_path (tree, node, NULL, NULL);
  node_rename (tree, node, to_dir, to_name);
  emit (tree, HK_EVENT_MOVED, old_path, node_path (tree, node, NULL, NULL),
        node->kind == HK_NODE_DIR, FALSE, now);

  if (node->kind == HK_NODE_DIR)
    catch_up_unwatched (tree, (HkDirNode *) node, now);
}

static void
tree_on_watch_lost (HkTree    *tree,
                    HkDirNode *dir,
                    gint64     now)
{
  /* A watched directory was deleted or moved away; its parent reports that
   * (or already did). The node stays until then. */
  g_atomic_int_add (&tree->n_watched, -1);

  if (dir == tree->root && !tree->root_gone)
    tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "is no longer watchable", now);
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

static void
rescan_dir (HkTree    *tree,
            HkDirNode *dir,
            Scan      *scan,
            gint64     threshold_ns)
{
  const char *relative;
  g_autofree char *path = node_path (tree, &dir->node, NULL, &relative);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  struct dirent *de;
  HkNode *child, *next;
  DIR *dirp;

  if (dir->watch == NULL && (dir == tree->root || tree->options.recursive))
    watch_dir (tree, dir, path, NULL);

  dirp = open_dir (path, &error);
  if (dirp == NULL)
    return;  /* gone: its parent's rescan reports it */

  while ((de = readdir (dirp)) != NULL)
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

      kind = kind_from_mode (st.st_mode);
      child = node_lookup (tree, dir, name);
      if (child != NULL && child->kind == HK_NODE_DIR && ((HkDirNode *) child)->followed)
        continue;  /* a followed link: its target is rescanned through its own node */

      if (child != NULL && (child->kind != kind || (child->ino != 0 && child->ino != st.st_ino)))
        {
          /* Replaced by something else. */
          emit_node (tree, HK_EVENT_DELETED, child, TRUE, scan->now);
          node_remove_subtree (tree, child);
          child = NULL;
        }

      if (child == NULL)
        {
          child = add_entry (tree, dir, dirfd (dirp), name, kind, st.st_ino);
          emit_node (tree, HK_EVENT_CREATED, child, TRUE, scan->now);
          if (descend_into (tree, child))
            g_ptr_array_add (scan->pending, child);   /* all new: a plain scan */
        }
      else
        {
          gint64 ctime_ns = (gint64) st.st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_ctim.tv_nsec;

          child->ino = st.st_ino;
          if (kind != HK_NODE_DIR && ctime_ns >= threshold_ns &&
              (scan->until_ns == 0 || ctime_ns < scan->until_ns))
            emit_node (tree, lost_change (scan, &st, threshold_ns), child, TRUE, scan->now);
          else if (!scan->shallow && descend_into (tree, child))
            rescan_dir (tree, (HkDirNode *) child, scan, threshold_ns);
        }

      g_hash_table_add (seen, child->name);
    }
  closedir (dirp);

  for (child = dir->children; child != NULL; child = next)
    {
      next = child->next;
      if (!g_hash_table_contains (seen, child->name))
        {
          emit_node (tree, HK_EVENT_DELETED, child, TRUE, scan->now);
          node_remove_subtree (tree, child);
        }
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
  Scan scan = { tree, TRUE, now, pending };

  if (tree->root_gone)
    return;

  rescan_dir (tree, dir != NULL ? dir : tree->root, &scan, synced_at_ns - CTIME_SLACK_NS);
  scan_run (&scan);
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
  hk_event_queue_clear_saturated (tree->queue);
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

  path = node_path (tree, &dir->node, NULL, NULL);
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
  g_autofree char *path = node_path (tree, &dir->node, NULL, NULL);
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gboolean consistent = TRUE;

  if (fd < 0)
    return FALSE;

  for (HkNode *child = dir->children; child != NULL; child = child->next)
    {
      struct stat st;
      gint64 ctime_ns;

      if (child->kind == HK_NODE_DIR)
        continue;
      if (fstatat (fd, child->name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          (child->ino != 0 && child->ino != st.st_ino))
        {
          consistent = FALSE;  /* renamed or replaced: let a read sort it out */
          break;
        }
      ctime_ns = (gint64) st.st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_ctim.tv_nsec;
      if (ctime_ns >= since_ns && ctime_ns < scan->until_ns)
        emit_node (tree, lost_change (scan, &st, since_ns), child, TRUE, scan->now);
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
  Scan scan = { tree, TRUE, now, pending, NULL, TRUE, until_ns };

  if (!tree_is_live (tree))
    return;

  if (is_fallback (tree, dir))
    retry_kernel_watch (tree, dir, now);

  if (kind == HK_RESCAN_ENTRIES || !check_contents (tree, dir, &scan, since_ns))
    rescan_dir (tree, dir, &scan, since_ns);
  scan_run (&scan);
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
  tree_on_moved (client, from_dir, from_name, to_dir, to_name, is_directory, now);
}

static void
client_lost (gpointer client,
             gint64   since_ns,
             gint64   now)
{
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
  return node_path (client, dir, NULL, NULL);
}

static const HkWatchClientFuncs tree_client_funcs = {
  .changed = client_changed,
  .moved = client_moved,
  .rescan = client_rescan,
  .lost = client_lost,
  .watch_lost = client_watch_lost,
  .dup_path = client_dup_path,
};
