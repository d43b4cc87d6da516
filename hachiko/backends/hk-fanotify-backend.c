/* hk-fanotify-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hk-backend-private.h"

/* Linux fanotify, reporting directory file handles and names
 * (FAN_REPORT_DFID_NAME, Linux 5.9; unprivileged since 5.13).
 *
 * The key of a watched directory is its file handle (with the filesystem
 * id), interned: every event names the directory it happened in by handle
 * and the entry by name, and the handle of a directory outlives renames.
 *
 * Two ways to mark (HkFanotifyMode):
 *  - filesystem: with CAP_SYS_ADMIN, one FAN_MARK_FILESYSTEM mark per
 *    filesystem the watched directories live on. The kernel then reports
 *    every change on that filesystem; events in directories that are no
 *    key are dropped after one hash lookup. The number of marks does not
 *    grow with the number of directories.
 *  - inode: one inode mark per directory (FAN_EVENT_ON_CHILD | FAN_ONDIR),
 *    like inotify but without fs.inotify.max_user_watches. Used without the
 *    privilege, and for a filesystem where a filesystem mark is refused
 *    (EXDEV on btrfs subvolumes, EPERM, ...).
 * HACHIKO_FANOTIFY_MODE=inode|filesystem forces one, read when the backend
 * is created (tests force it with hk_fanotify_backend_set_mode_for_testing()).
 *
 * fanotify merges queued events about the same name (same directory, same
 * process; since Linux 5.17, with FAN_REPORT_TARGET_FID, also the same
 * entry) into one with several bits set, and loses their order. Bits are
 * replayed in the only order that can have happened, and a merge of a
 * creation with a deletion is settled by looking at the disk. Renames come
 * as one FAN_RENAME event with both names (Linux 5.17), so moves are
 * paired without a window; older kernels get a move out and a move in.
 *
 * Not reported by fanotify: unmounts (the kernel drops the marks of an
 * unmounted filesystem silently), and the pid of another user's process to
 * an unprivileged watcher (the kernel says 0; the events say -1). */

#define READ_CHUNK (64 * 1024)

/* Early ready: how many events may be held, in all, while walks go on
 * (about 100 bytes each). A filesystem mark also queues the changes other
 * processes make elsewhere on the filesystem, and those are held too until
 * the walk ends (their directories are not known yet): at the 20,000-30,000
 * events per second of a busy shared machine, a bound of 100,000 lasts a
 * walk of several seconds. Past it, everything held is dropped and a loss
 * reported, so the walking trees rescan when their walk ends. */
#define HK_FANOTIFY_HOLD_MAX 100000

/* A key's identity: filesystem id, handle type, handle bytes. */
#define ID_MAX (sizeof (__kernel_fsid_t) + sizeof (int) + MAX_HANDLE_SZ)

#define DIRENT_MASK (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO)
#define BASE_MASK   (FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | \
                     FAN_CLOSE_WRITE | FAN_DELETE_SELF | FAN_MOVE_SELF | \
                     FAN_ONDIR | FAN_EVENT_ON_CHILD)
#define ACCESS_MASK (FAN_OPEN | FAN_CLOSE_NOWRITE)

typedef enum
{
  MODE_AUTO,        /* filesystem marks where permitted, else inode marks */
  MODE_INODE,
  MODE_FILESYSTEM,
} HkFanotifyMode;

typedef struct
{
  __kernel_fsid_t  fsid;
  char            *path;          /* a directory on it, to reopen it */
  guint            n_keys;
  guint32          mask;          /* of the filesystem mark, when marked */
  guint            marked : 1;    /* has a filesystem mark */
  guint            refused : 1;   /* a filesystem mark failed: inode marks */
} Filesystem;

typedef struct
{
  gsize       id_len;
  guint8      id[ID_MAX];
  guint       hash;
  Filesystem *fs;
  char       *path;               /* where it was when watched */
  guint32     mask;               /* of its inode mark (inode mode) */
  guint       inode_marked : 1;
  guint       holding : 1;        /* HK_WATCH_HOLD: events held until released */
  GPtrArray  *held;               /* of Held, nullable */
} Key;

/* An event held during an early-ready walk (a copy of the kernel's
 * record), shared by the lists of both sides of a rename. */
typedef enum
{
  SIDE_PLACE = 1 << 0,            /* the one directory, or a rename's source */
  SIDE_TO    = 1 << 1,            /* a rename's destination */
} Side;

typedef struct
{
  gint    ref_count;
  guint64 seq;                    /* its place in the kernel's queue */
  guint   sides;                  /* Side: the halves not delivered yet */
  gsize   len;
  guint8  raw[];                  /* metadata and info records */
} Held;

/* Events held for a directory handle that is not a key (yet). */
typedef struct
{
  Key        id;                  /* only the identity fields are used */
  GPtrArray *held;
} HeldList;

/* Marks held now, for tests (hk_fanotify_backend_count_marks()). */
static gint n_filesystem_marks;
static gint n_inode_marks;
static gint n_held_ever;        /* events held during walks, for tests */
static gint n_settled_merges;   /* arrival and departure merged: disk asked */

typedef struct
{
  HkBackend       parent;
  int             fd;
  GSource        *fd_source;
  HkFanotifyMode  mode;
  gboolean        has_rename;      /* FAN_RENAME works (Linux 5.17) */
  GHashTable     *keys;            /* set of Key, by id */
  GHashTable     *filesystems;     /* fsid (guint64 *) -> Filesystem */
  GHashTable     *fsids;           /* st_dev -> __kernel_fsid_t */
  guint8         *buf;
  gint64          quiet_at_ns;     /* realtime when the queue was last empty */

  /* Early ready (hk_watch_hub_begin_walk()). */
  guint           n_walking;       /* clients walking */
  guint           n_held;          /* list entries held, in all */
  guint64         held_seq;        /* the next Held's seq */
  gint64          walks_began_ns;  /* realtime when the first walk going on began */
  guint           hold_max;
  gboolean        hold_overflowed; /* dropped everything: hold nothing until the walks end */
  gboolean        reading;
  GHashTable     *held_lists;      /* set of HeldList, by handle */
  GPtrArray      *to_flush;        /* Key with held events and not holding */
} HkFanotifyBackend;

/* --- keys ---------------------------------------------------------------- */

static guint
key_hash (gconstpointer data)
{
  return ((const Key *) data)->hash;
}

static gboolean
key_equal (gconstpointer a,
           gconstpointer b)
{
  const Key *ka = a, *kb = b;

  return ka->id_len == kb->id_len && memcmp (ka->id, kb->id, ka->id_len) == 0;
}

/* Fills @key's identity; FALSE when the handle is too large. */
static gboolean
key_set_id (Key                      *key,
            const __kernel_fsid_t    *fsid,
            const struct file_handle *handle)
{
  guint8 *p = key->id;
  guint hash = 5381;

  if (handle->handle_bytes > MAX_HANDLE_SZ)
    return FALSE;

  memcpy (p, fsid, sizeof *fsid);
  p += sizeof *fsid;
  memcpy (p, &handle->handle_type, sizeof handle->handle_type);
  p += sizeof handle->handle_type;
  memcpy (p, handle->f_handle, handle->handle_bytes);
  p += handle->handle_bytes;
  key->id_len = p - key->id;

  for (gsize i = 0; i < key->id_len; i++)
    hash = hash * 33 + key->id[i];
  key->hash = hash;
  return TRUE;
}

static const struct file_handle *
key_handle (const Key           *key,
            struct file_handle  *storage)
{
  gsize offset = sizeof (__kernel_fsid_t);

  memcpy (&storage->handle_type, key->id + offset, sizeof storage->handle_type);
  offset += sizeof storage->handle_type;
  storage->handle_bytes = key->id_len - offset;
  memcpy (storage->f_handle, key->id + offset, storage->handle_bytes);
  return storage;
}

static Key *
lookup_key (HkFanotifyBackend           *self,
            const __kernel_fsid_t       *fsid,
            const struct file_handle    *handle)
{
  Key probe;

  if (!key_set_id (&probe, fsid, handle))
    return NULL;
  return g_hash_table_lookup (self->keys, &probe);
}

static guint64
fsid_to_u64 (const __kernel_fsid_t *fsid)
{
  guint64 v;

  memcpy (&v, fsid, sizeof v);
  return v;
}

static void
filesystem_free (gpointer data)
{
  Filesystem *fs = data;

  g_free (fs->path);
  g_free (fs);
}

/* --- marks --------------------------------------------------------------- */

static gboolean
mark (HkFanotifyBackend *self,
      unsigned int       flags,
      guint32            mask,
      int                dir_fd,
      const char        *path)
{
  if (fanotify_mark (self->fd, flags, mask, dir_fd, path) == 0)
    return TRUE;

  /* Before Linux 5.17 there is no FAN_RENAME: moves come in two halves. */
  if (errno == EINVAL && (mask & FAN_RENAME))
    {
      self->has_rename = FALSE;
      mask = (mask & ~FAN_RENAME) | FAN_MOVED_FROM | FAN_MOVED_TO;
      return fanotify_mark (self->fd, flags, mask, dir_fd, path) == 0;
    }
  return FALSE;
}

static guint32
mask_for (HkFanotifyBackend *self,
          HkWatchFlags       flags)
{
  guint32 mask = BASE_MASK;

  mask |= self->has_rename ? FAN_RENAME : (FAN_MOVED_FROM | FAN_MOVED_TO);
  if (flags & HK_WATCH_ACCESS_EVENTS)
    mask |= ACCESS_MASK;
  return mask;
}

static Filesystem *
get_filesystem (HkFanotifyBackend      *self,
                const __kernel_fsid_t  *fsid,
                const char             *path)
{
  guint64 id = fsid_to_u64 (fsid);
  Filesystem *fs = g_hash_table_lookup (self->filesystems, &id);

  if (fs == NULL)
    {
      fs = g_new0 (Filesystem, 1);
      fs->fsid = *fsid;
      fs->path = g_strdup (path);
      g_hash_table_insert (self->filesystems, g_memdup2 (&id, sizeof id), fs);
    }
  return fs;
}

static void
forget_filesystem (HkFanotifyBackend *self,
                   Filesystem        *fs)
{
  guint64 id = fsid_to_u64 (&fs->fsid);

  g_hash_table_remove (self->filesystems, &id);
  /* Device numbers are reused by the next mount (tmpfs, ...). */
  g_hash_table_remove_all (self->fsids);
}

/* Places (or widens) the filesystem mark of @fs. Sets errno on failure. */
static gboolean
mark_filesystem (HkFanotifyBackend *self,
                 Filesystem        *fs,
                 const char        *path,
                 guint32            mask)
{
  if (fs->marked && (fs->mask & mask) == mask)
    return TRUE;
  if (!mark (self, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, path))
    return FALSE;
  if (!fs->marked)
    g_atomic_int_inc (&n_filesystem_marks);
  fs->marked = TRUE;
  fs->mask |= mask;
  return TRUE;
}

static void
set_watch_error (GError     **error,
                 const char  *path,
                 int          errsv)
{
  g_autofree char *display = g_filename_display_name (path);

  if (errsv == ENOSPC)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                 "Cannot watch “%s”: the fanotify mark limit "
                 "(fs.fanotify.max_user_marks) is reached", display);
  else if (errsv == EOPNOTSUPP || errsv == ENODEV || errsv == EXDEV)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "Cannot watch “%s” with fanotify: the filesystem does not "
                 "support it (%s)", display, g_strerror (errsv));
  else
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                 "Cannot watch “%s” with fanotify: %s", display, g_strerror (errsv));
}

/* The filesystem id events carry (statfs' f_fsid) for a device, NULL with
 * errno set when statfs() fails. */
static const __kernel_fsid_t *
fsid_of_device (HkFanotifyBackend *self,
                dev_t              dev,
                const char        *path)
{
  __kernel_fsid_t *fsid = g_hash_table_lookup (self->fsids, GSIZE_TO_POINTER (dev));
  struct statfs sfs;

  if (fsid != NULL)
    return fsid;
  if (statfs (path, &sfs) != 0)
    return NULL;
  fsid = g_memdup2 (&sfs.f_fsid, sizeof *fsid);
  g_hash_table_insert (self->fsids, GSIZE_TO_POINTER (dev), fsid);
  return fsid;
}

static gboolean
hk_fanotify_backend_add_watch (HkBackend     *backend,
                               const char    *path,
                               HkWatchFlags   flags,
                               gpointer      *key_out,
                               GError       **error)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;
  struct { struct file_handle fh; guint8 bytes[MAX_HANDLE_SZ]; } handle;
  int at_flags = (flags & HK_WATCH_FOLLOW_SYMLINK) ? AT_SYMLINK_FOLLOW : 0;
  guint32 mask = mask_for (self, flags);
  const __kernel_fsid_t *fsid;
  struct stat st;
  Filesystem *fs;
  Key probe = { 0 }, *key;
  int mount_id;

  /* Two system calls per directory: the filesystem id is looked up once
   * per device. */
  if ((at_flags ? stat (path, &st) : lstat (path, &st)) != 0)
    {
      set_watch_error (error, path, errno);
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      set_watch_error (error, path, ENOTDIR);
      return FALSE;
    }
  handle.fh.handle_bytes = MAX_HANDLE_SZ;
  if (name_to_handle_at (AT_FDCWD, path, &handle.fh, &mount_id, at_flags) != 0 ||
      (fsid = fsid_of_device (self, st.st_dev, path)) == NULL)
    {
      set_watch_error (error, path, errno);
      return FALSE;
    }

  if (!key_set_id (&probe, fsid, &handle.fh))
    {
      set_watch_error (error, path, EOPNOTSUPP);
      return FALSE;
    }

  fs = get_filesystem (self, fsid, path);
  key = g_hash_table_lookup (self->keys, &probe);

  if (self->mode != MODE_INODE && !fs->refused && !mark_filesystem (self, fs, path, mask))
    {
      int errsv = errno;

      /* Not permitted, or a btrfs subvolume (EXDEV): inode marks there. */
      if (self->mode == MODE_FILESYSTEM || fs->marked ||
          !(errsv == EPERM || errsv == EXDEV || errsv == EOPNOTSUPP ||
            errsv == ENODEV || errsv == EINVAL))
        {
          if (fs->n_keys == 0)
            forget_filesystem (self, fs);
          set_watch_error (error, path, errsv);
          return FALSE;
        }
      g_debug ("fanotify: no filesystem mark for %s (%s): inode marks",
               path, g_strerror (errsv));
      fs->refused = TRUE;
    }

  if (!fs->marked && (key == NULL || (key->mask & mask) != mask))
    {
      if (!mark (self, FAN_MARK_ADD | FAN_MARK_ONLYDIR |
                 (at_flags ? 0 : FAN_MARK_DONT_FOLLOW), mask, AT_FDCWD, path))
        {
          int errsv = errno;

          if (fs->n_keys == 0)
            forget_filesystem (self, fs);
          set_watch_error (error, path, errsv);
          return FALSE;
        }
    }

  if (key == NULL)
    {
      HeldList *list = NULL;

      key = g_new0 (Key, 1);
      *key = probe;
      key->fs = fs;
      key->path = g_strdup (path);
      fs->n_keys++;
      g_hash_table_add (self->keys, key);

      /* Early ready: what happened in it before it was known is the
       * client's after it read the directory: when it releases the watch
       * (HK_WATCH_HOLD), or else at the next read of the queue. */
      key->holding = (flags & HK_WATCH_HOLD) && self->n_walking > 0;
      if (g_hash_table_steal_extended (self->held_lists, &probe, (gpointer *) &list, NULL))
        {
          key->held = g_steal_pointer (&list->held);
          g_free (list);
          if (!key->holding)
            g_ptr_array_add (self->to_flush, key);
        }
    }
  if (!fs->marked)
    {
      key->mask |= mask;
      if (!key->inode_marked)
        g_atomic_int_inc (&n_inode_marks);
      key->inode_marked = TRUE;
    }

  *key_out = key;
  return TRUE;
}

static int open_key_directory (Key *key);

/* Removes the inode mark of @key, which needs the directory: by handle
 * (with CAP_DAC_READ_SEARCH), else at the path it was watched at if it is
 * still there. When neither works the mark stays until the directory goes;
 * its events are dropped as those of any unknown directory. */
static void
unmark_inode (HkFanotifyBackend *self,
              Key               *key)
{
  struct { struct file_handle fh; guint8 bytes[MAX_HANDLE_SZ]; } storage;
  int fd = open_key_directory (key);

  if (fd < 0)
    {
      struct statfs sfs;
      Key probe;
      int mount_id;

      storage.fh.handle_bytes = MAX_HANDLE_SZ;
      fd = open (key->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (fd >= 0 &&
          (name_to_handle_at (fd, "", &storage.fh, &mount_id, AT_EMPTY_PATH) != 0 ||
           fstatfs (fd, &sfs) != 0 ||
           !key_set_id (&probe, (const __kernel_fsid_t *) &sfs.f_fsid, &storage.fh) ||
           !key_equal (&probe, key)))
        {
          close (fd);
          fd = -1;
        }
    }

  if (fd < 0)
    return;
  fanotify_mark (self->fd, FAN_MARK_REMOVE, key->mask, fd, NULL);
  close (fd);
}

/* Nobody watches anything on @fs any more: stop the kernel queueing its
 * changes. Removing the mark needs a descriptor on the filesystem, which
 * is not held (it would keep the filesystem from being unmounted): the
 * directory it was first marked through, if still there, else, once
 * nothing is watched at all, a flush of every filesystem mark. A mark that
 * stays costs only the lookups that drop its events. */
static void
unmark_filesystem (HkFanotifyBackend *self,
                   Filesystem        *fs)
{
  int fd = open (fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct statfs sfs;
  gboolean removed = FALSE;

  if (fd >= 0)
    {
      removed = fstatfs (fd, &sfs) == 0 &&
                memcmp (&sfs.f_fsid, &fs->fsid, sizeof fs->fsid) == 0 &&
                fanotify_mark (self->fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM,
                               fs->mask, fd, NULL) == 0;
      close (fd);
    }

  if (!removed && g_hash_table_size (self->keys) == 0)
    {
      GHashTableIter iter;
      Filesystem *other;

      if (fanotify_mark (self->fd, FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, "/") != 0)
        return;
      g_hash_table_iter_init (&iter, self->filesystems);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &other))
        if (other != fs && other->marked)
          {
            other->marked = FALSE;
            other->mask = 0;
            g_atomic_int_add (&n_filesystem_marks, -1);
          }
      removed = TRUE;
    }

  if (removed)
    {
      fs->marked = FALSE;
      fs->mask = 0;
      g_atomic_int_add (&n_filesystem_marks, -1);
    }
}

/* --- held events (early ready) ------------------------------------------ */

static Held *
held_ref (Held *held)
{
  held->ref_count++;
  return held;
}

static void
held_unref (Held *held)
{
  if (--held->ref_count == 0)
    g_free (held);
}

static void
held_list_free (gpointer data)
{
  HeldList *list = data;

  g_ptr_array_unref (list->held);
  g_free (list);
}

static GPtrArray *
new_held_array (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) held_unref);
}

static void
drop_key_held (HkFanotifyBackend *self,
               Key               *key)
{
  if (key->held == NULL)
    return;
  self->n_held -= MIN (self->n_held, key->held->len);
  g_ptr_array_remove (self->to_flush, key);
  g_clear_pointer (&key->held, g_ptr_array_unref);
}

/* Everything held is dropped (past the bound): a loss. */
static void
drop_all_held (HkFanotifyBackend *self)
{
  GHashTableIter iter;
  Key *key;

  g_hash_table_remove_all (self->held_lists);
  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    g_clear_pointer (&key->held, g_ptr_array_unref);
  g_ptr_array_set_size (self->to_flush, 0);
  self->n_held = 0;
}

static void
forget_key (HkFanotifyBackend *self,
            Key               *key)
{
  Filesystem *fs = key->fs;

  g_hash_table_remove (self->keys, key);
  drop_key_held (self, key);
  if (key->inode_marked)
    g_atomic_int_add (&n_inode_marks, -1);
  if (--fs->n_keys == 0)
    {
      if (fs->marked)
        unmark_filesystem (self, fs);
      forget_filesystem (self, fs);
    }
  g_free (key->path);
  g_free (key);
}

static void
hk_fanotify_backend_remove_watch (HkBackend *backend,
                                  gpointer   data)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;
  Key *key = data;

  if (!key->fs->marked)
    unmark_inode (self, key);
  forget_key (self, key);
}

/* --- reading ------------------------------------------------------------- */

static gboolean hk_fanotify_backend_read (gint fd, GIOCondition condition, gpointer data);

static const char *mode_for_testing;
static gint bounded_queue_for_testing;
static guint hold_max_for_testing;

void
hk_fanotify_backend_set_hold_max_for_testing (guint max)
{
  g_atomic_int_set (&hold_max_for_testing, max);
}

void
hk_fanotify_backend_bound_queue_for_testing (gboolean bounded)
{
  g_atomic_int_set (&bounded_queue_for_testing, bounded);
}

void
hk_fanotify_backend_set_mode_for_testing (const char *mode)
{
  g_atomic_pointer_set (&mode_for_testing, g_intern_string (mode));
}

static HkFanotifyMode
mode_from_environment (void)
{
  const char *mode = g_atomic_pointer_get (&mode_for_testing);

  if (mode == NULL)
    mode = g_getenv ("HACHIKO_FANOTIFY_MODE");

  if (g_strcmp0 (mode, "inode") == 0)
    return MODE_INODE;
  if (g_strcmp0 (mode, "filesystem") == 0)
    return MODE_FILESYSTEM;
  return MODE_AUTO;
}

static HkBackend *
hk_fanotify_backend_create (GMainContext  *context,
                            GError       **error)
{
  unsigned int flags = FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_NONBLOCK | FAN_CLOEXEC;
  HkFanotifyBackend *self;
  int fd = -1;

  /* With the entry's own handle in every event (Linux 5.17), the kernel
   * merges only events about one object: two files made one after the
   * other under one name stay two events, in order. Without it, the
   * second file's rename merged into the first's, queued before the
   * second creation, which then named an entry already gone. */
  for (guint attempt = 0; attempt < 2 && fd < 0; attempt++)
    {
      unsigned int with = attempt == 0 ? flags | FAN_REPORT_FID | FAN_REPORT_TARGET_FID : flags;

      /* A filesystem mark queues every change on the filesystem, wanted
       * or not, and the queue fills while the worker walks a big tree:
       * with the privilege that filesystem marks need anyway, the queue
       * is unbounded rather than overflowing into a rescan of the whole
       * tree. */
      if (!g_atomic_int_get (&bounded_queue_for_testing))
        fd = fanotify_init (with | FAN_UNLIMITED_QUEUE, O_RDONLY);
      if (fd < 0)
        fd = fanotify_init (with, O_RDONLY);
    }

  if (fd < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "fanotify is not available: %s%s", g_strerror (errsv),
                   errsv == EPERM ? " (unprivileged fanotify needs Linux 5.13)" :
                   errsv == EINVAL ? " (reporting names needs Linux 5.9)" : "");
      return NULL;
    }

  self = g_new0 (HkFanotifyBackend, 1);
  self->fd = fd;
  self->mode = mode_from_environment ();
  self->has_rename = TRUE;
  self->keys = g_hash_table_new (key_hash, key_equal);
  self->filesystems = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                             g_free, filesystem_free);
  self->fsids = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->buf = g_malloc (READ_CHUNK);
  self->hold_max = g_atomic_int_get (&hold_max_for_testing);
  if (self->hold_max == 0)
    self->hold_max = HK_FANOTIFY_HOLD_MAX;
  self->held_lists = g_hash_table_new_full (key_hash, key_equal, held_list_free, NULL);
  self->to_flush = g_ptr_array_new ();

  self->fd_source = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (self->fd_source, G_SOURCE_FUNC (hk_fanotify_backend_read), self, NULL);
  g_source_set_static_name (self->fd_source, "[hachiko] fanotify");
  g_source_attach (self->fd_source, context);

  return &self->parent;
}

static void
hk_fanotify_backend_destroy (HkBackend *backend)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;
  GHashTableIter iter;
  Key *key;

  g_source_destroy (self->fd_source);
  g_clear_pointer (&self->fd_source, g_source_unref);
  close (self->fd);

  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    {
      g_hash_table_iter_steal (&iter);
      g_clear_pointer (&key->held, g_ptr_array_unref);
      g_free (key->path);
      g_free (key);
    }
  g_hash_table_unref (self->keys);
  g_hash_table_unref (self->filesystems);
  g_hash_table_unref (self->fsids);
  g_hash_table_unref (self->held_lists);
  g_ptr_array_unref (self->to_flush);
  g_free (self->buf);
  g_free (self);
  g_atomic_int_set (&n_filesystem_marks, 0);
  g_atomic_int_set (&n_inode_marks, 0);
}

void
hk_fanotify_backend_count_marks (guint *filesystem_marks,
                                 guint *inode_marks)
{
  *filesystem_marks = g_atomic_int_get (&n_filesystem_marks);
  *inode_marks = g_atomic_int_get (&n_inode_marks);
}

guint
hk_fanotify_backend_count_held (void)
{
  return g_atomic_int_get (&n_held_ever);
}

guint
hk_fanotify_backend_count_settled_merges (void)
{
  return g_atomic_int_get (&n_settled_merges);
}

static gint64
realtime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* One directory entry an event names. */
typedef struct
{
  Key        *key;      /* NULL: a directory nobody watches */
  const char *name;     /* "." for the directory itself */
  const struct file_handle *handle;
  const __kernel_fsid_t    *fsid;
} Place;

static void
place_from_info (HkFanotifyBackend                 *self,
                 const struct fanotify_event_info_fid *info,
                 Place                             *place)
{
  const struct file_handle *handle = (const struct file_handle *) info->handle;

  place->fsid = &info->fsid;
  place->handle = handle;
  place->name = (const char *) handle->f_handle + handle->handle_bytes;
  place->key = lookup_key (self, &info->fsid, handle);
}

/* Opens the directory of @key by its handle: wherever it is now, which
 * the clients' paths may not know yet (renames still queued). Needs
 * CAP_DAC_READ_SEARCH; -1 without. */
static int
open_key_directory (Key *key)
{
  struct { struct file_handle fh; guint8 bytes[MAX_HANDLE_SZ]; } storage;
  int mount_fd = open (key->fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd;

  if (mount_fd < 0)
    return -1;
  fd = open_by_handle_at (mount_fd, (struct file_handle *) key_handle (key, &storage.fh),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close (mount_fd);
  return fd;
}

/* Whether an entry @name of that kind is in @key's directory now. By
 * handle where permitted; else at the directory's path as the clients
 * know it, which is wrong while a rename of it is still queued. */
static gboolean
exists_now (HkFanotifyBackend *self,
            Key               *key,
            const char        *name,
            gboolean           is_directory)
{
  int dir_fd = open_key_directory (key);
  struct stat st;
  int ret;

  if (dir_fd >= 0)
    {
      ret = fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW);
      close (dir_fd);
    }
  else
    {
      g_autofree char *dir = hk_backend_dup_path (&self->parent, key);
      g_autofree char *path = NULL;

      if (dir == NULL)
        return FALSE;
      path = g_build_filename (dir, name, NULL);
      ret = lstat (path, &st);
    }

  /* Of the other kind, it is another entry, with an event of its own:
   * the kernel never merges events about a directory with events about
   * a file. */
  return ret == 0 && !!S_ISDIR (st.st_mode) == !!is_directory;
}

static void
report_data_bits (HkFanotifyBackend *self,
                  Key               *key,
                  const char        *name,
                  guint64            mask,
                  gboolean           is_directory,
                  gint64             now)
{
  static const struct { guint64 bit; HkChange change; } data_bits[] = {
    { FAN_OPEN, HK_CHANGE_OPENED },
    { FAN_MODIFY, HK_CHANGE_MODIFIED },
    { FAN_ATTRIB, HK_CHANGE_ATTRIBUTES },
    { FAN_CLOSE_WRITE, HK_CHANGE_CLOSED_WRITE },
    { FAN_CLOSE_NOWRITE, HK_CHANGE_CLOSED_NO_WRITE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (data_bits); i++)
    if (mask & data_bits[i].bit)
      hk_backend_report_change (&self->parent, key, name, data_bits[i].change,
                                is_directory, now);
}

/* An event about an entry of a watched directory, its bits replayed in the
 * only order that can have happened: an entry is created before it is
 * written and written before it is deleted. */
static void
dispatch_named (HkFanotifyBackend *self,
                Key               *key,
                const char        *name,
                guint64            mask,
                gboolean           held,
                gint64             now)
{
  gboolean is_directory = (mask & FAN_ONDIR) != 0;
  guint64 arrived = mask & (FAN_CREATE | FAN_MOVED_TO);
  guint64 left = mask & (FAN_DELETE | FAN_MOVED_FROM);

  if (arrived && left)
    {
      /* Merged both ways: the disk says which came last. Either the old
       * entry was replaced (reported deleted, then created) or the entry
       * came and went (a deletion the tree drops if it never saw it). */
      g_atomic_int_inc (&n_settled_merges);
      if (held)
        {
          /* Held for a directory read since: its client reports every
           * change it is told, so the entry that came and went is told
           * as such (one that was there before and went, came back and
           * went again is told only as the latter). */
          hk_backend_report_change (&self->parent, key, name,
                                    (arrived & FAN_CREATE) ? HK_CHANGE_CREATED : HK_CHANGE_MOVED_IN,
                                    is_directory, now);
          report_data_bits (self, key, name, mask, is_directory, now);
        }
      hk_backend_report_change (&self->parent, key, name, HK_CHANGE_DELETED,
                                is_directory, now);
      if (!exists_now (self, key, name, is_directory))
        return;
      left = 0;
    }

  if (arrived)
    hk_backend_report_change (&self->parent, key, name,
                              (arrived & FAN_CREATE) ? HK_CHANGE_CREATED : HK_CHANGE_MOVED_IN,
                              is_directory, now);
  report_data_bits (self, key, name, mask, is_directory, now);
  if (left)
    hk_backend_report_change (&self->parent, key, name,
                              (left & FAN_DELETE) ? HK_CHANGE_DELETED : HK_CHANGE_MOVED_OUT,
                              is_directory, now);
}

/* The watched parent of the directory @place names, and its name there:
 * by handle where permitted, else from the directory's known path. */
static Key *
find_parent (HkFanotifyBackend  *self,
             const Place        *place,
             char              **name_out)
{
  g_autofree char *path = NULL;
  g_autofree char *parent_path = NULL;
  struct { struct file_handle fh; guint8 bytes[MAX_HANDLE_SZ]; } handle;
  struct statfs sfs;
  int mount_id;

  if (place->key != NULL)
    path = hk_backend_dup_path (&self->parent, place->key);

  if (path == NULL)
    {
      guint64 id = fsid_to_u64 (place->fsid);
      Filesystem *fs = g_hash_table_lookup (self->filesystems, &id);
      int mount_fd, fd;
      char link[64];

      if (fs == NULL || (mount_fd = open (fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return NULL;
      fd = open_by_handle_at (mount_fd, (struct file_handle *) place->handle, O_PATH | O_CLOEXEC);
      close (mount_fd);
      if (fd < 0)
        return NULL;
      g_snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
      path = g_file_read_link (link, NULL);
      close (fd);
      if (path == NULL)
        return NULL;
    }

  parent_path = g_path_get_dirname (path);
  handle.fh.handle_bytes = MAX_HANDLE_SZ;
  if (name_to_handle_at (AT_FDCWD, parent_path, &handle.fh, &mount_id, 0) != 0 ||
      statfs (parent_path, &sfs) != 0)
    return NULL;

  *name_out = g_path_get_basename (path);
  return lookup_key (self, (const __kernel_fsid_t *) &sfs.f_fsid, &handle.fh);
}

/* An event about a directory itself ("."). */
static void
dispatch_self (HkFanotifyBackend *self,
               const Place       *place,
               guint64            mask,
               gint64             now)
{
  Key *key = place->key;

  if (mask & (FAN_ATTRIB | FAN_MODIFY))
    {
      g_autofree char *name = NULL;
      Key *parent = find_parent (self, place, &name);

      /* The directory's own watch (a root reports its own changes), and
       * its parent's entry, as inotify reports both. */
      if (key != NULL)
        report_data_bits (self, key, NULL, mask & (FAN_ATTRIB | FAN_MODIFY), TRUE, now);
      if (parent != NULL)
        report_data_bits (self, parent, name, mask & (FAN_ATTRIB | FAN_MODIFY), TRUE, now);
    }

  if (key == NULL)
    return;

  if (mask & (FAN_OPEN | FAN_CLOSE_NOWRITE))
    report_data_bits (self, key, NULL, mask & (FAN_OPEN | FAN_CLOSE_NOWRITE), TRUE, now);
  if (mask & FAN_MOVE_SELF)
    hk_backend_report_change (&self->parent, key, NULL, HK_CHANGE_SELF_MOVED, TRUE, now);
  if (mask & FAN_DELETE_SELF)
    {
      /* The kernel dropped the mark with the inode: the key ends here. */
      hk_backend_report_change (&self->parent, key, NULL, HK_CHANGE_SELF_DELETED, TRUE, now);
      /* Asked of the hub, by pointer: a client may have removed its last
       * watch while handling the report, and freed the key. */
      if (hk_backend_has_key (&self->parent, key))
        {
          hk_backend_report_dropped (&self->parent, key, now);
          forget_key (self, key);
        }
    }
}

/* The directories an event names. */
typedef struct
{
  Place    place, from, to;
  gboolean have_place, have_from, have_to;
  gboolean rename;
} Places;

static void
parse_places (HkFanotifyBackend                    *self,
              const struct fanotify_event_metadata *meta,
              const guint8                         *raw,
              Places                               *places)
{
  const guint8 *end = raw + meta->event_len;

  memset (places, 0, sizeof *places);
  for (const guint8 *p = raw + meta->metadata_len; p + sizeof (struct fanotify_event_info_header) <= end;)
    {
      const struct fanotify_event_info_header *header = (const void *) p;
      const struct fanotify_event_info_fid *info = (const void *) p;

      if (header->len == 0 || p + header->len > end)
        break;
      switch (header->info_type)
        {
        case FAN_EVENT_INFO_TYPE_DFID_NAME:
        case FAN_EVENT_INFO_TYPE_DFID:
          place_from_info (self, info, &places->place);
          if (header->info_type == FAN_EVENT_INFO_TYPE_DFID)
            places->place.name = ".";
          places->have_place = TRUE;
          break;
        case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
          place_from_info (self, info, &places->from);
          places->have_from = TRUE;
          break;
        case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
          place_from_info (self, info, &places->to);
          places->have_to = TRUE;
          break;
        default:
          break;
        }
      p += header->len;
    }
  places->rename = (meta->mask & FAN_RENAME) && (places->have_from || places->have_to);
}

/* Reports an event; of a rename, only the @sides given (the others were
 * reported before, or are still held). */
static void
deliver (HkFanotifyBackend                    *self,
         const struct fanotify_event_metadata *meta,
         const Places                         *places,
         guint                                 sides,
         gboolean                              held,
         gint64                                now)
{
  /* Who made the change, for this event's reports (0: not told). */
  hk_backend_set_event_pid (&self->parent, meta->pid > 0 ? (gint) meta->pid : -1);

  /* An inode mark sees only its own side of a rename. */
  if (places->rename)
    {
      Key *from_key = (sides & SIDE_PLACE) ? places->from.key : NULL;
      Key *to_key = (sides & SIDE_TO) ? places->to.key : NULL;

      if (from_key != NULL || to_key != NULL)
        hk_backend_report_move (&self->parent, from_key, places->from.name, to_key, places->to.name,
                                (meta->mask & FAN_ONDIR) != 0, now);
    }
  else if (places->have_place && strcmp (places->place.name, ".") == 0)
    dispatch_self (self, &places->place, meta->mask, now);
  else if (places->have_place && places->place.key != NULL)
    dispatch_named (self, places->place.key, places->place.name, meta->mask, held, now);

  hk_backend_set_event_pid (&self->parent, -1);
}

/* --- holding events during early-ready walks ----------------------------- */

/* Whether events about the directory @place names are held now. */
static gboolean
place_is_held (const Place *place)
{
  return place->key == NULL || place->key->holding;
}

/* The first event held for a directory not known yet: where it is, so
 * that a walk can read it soon rather than in its turn (once per
 * directory; needs CAP_DAC_READ_SEARCH, which filesystem marks come with). */
static void
report_wanted (HkFanotifyBackend *self,
               const Place       *place)
{
  guint64 id = fsid_to_u64 (place->fsid);
  Filesystem *fs = g_hash_table_lookup (self->filesystems, &id);
  g_autofree char *path = NULL;
  char link[64];
  int mount_fd, fd;

  if (fs == NULL || (mount_fd = open (fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return;
  fd = open_by_handle_at (mount_fd, (struct file_handle *) place->handle, O_PATH | O_CLOEXEC);
  close (mount_fd);
  if (fd < 0)
    return;
  g_snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  path = g_file_read_link (link, NULL);
  close (fd);
  if (path != NULL && path[0] == '/')
    hk_backend_report_wanted (&self->parent, path);
}

static void
hold_for (HkFanotifyBackend *self,
          const Place       *place,
          Held              *held)
{
  GPtrArray **array;

  if (place->key != NULL)
    array = &place->key->held;
  else
    {
      HeldList probe, *list;

      if (!key_set_id (&probe.id, place->fsid, place->handle))
        return;
      list = g_hash_table_lookup (self->held_lists, &probe);
      if (list == NULL)
        {
          list = g_new0 (HeldList, 1);
          list->id = probe.id;
          g_hash_table_add (self->held_lists, list);
          report_wanted (self, place);
        }
      array = &list->held;
    }

  if (*array == NULL)
    *array = new_held_array ();
  g_ptr_array_add (*array, held_ref (held));
  self->n_held++;
  g_atomic_int_inc (&n_held_ever);
}

/* While a client walks, an event about a directory not known yet (or
 * known and held) is held for it. Of a rename with one side known, that
 * side is reported now (a move out or in) and the other held. Returns
 * FALSE when the event is to be reported as usual. */
static gboolean
hold_event (HkFanotifyBackend                    *self,
            const struct fanotify_event_metadata *meta,
            const guint8                         *raw,
            const Places                         *places,
            gint64                                now)
{
  guint sides = 0;
  Held *held;

  if (places->rename)
    {
      if (places->have_from && place_is_held (&places->from))
        sides |= SIDE_PLACE;
      if (places->have_to && place_is_held (&places->to))
        sides |= SIDE_TO;
    }
  else if (places->have_place && place_is_held (&places->place))
    sides = SIDE_PLACE;
  if (sides == 0)
    return FALSE;

  if (self->n_held + 2 > self->hold_max)
    {
      /* Past the bound: the walking clients rescan once their walk is over. */
      g_debug ("fanotify: more than %u events held during a walk: dropped", self->hold_max);
      drop_all_held (self);
      self->hold_overflowed = TRUE;
      /* What was dropped may go back to the walks' start: the queue was
       * empty since, but its events were held, not told. */
      hk_backend_report_lost (&self->parent, MIN (self->quiet_at_ns, self->walks_began_ns), now);
      return FALSE;
    }

  held = g_malloc (sizeof (Held) + meta->event_len);
  held->ref_count = 1;
  held->seq = self->held_seq++;
  held->sides = sides;
  held->len = meta->event_len;
  memcpy (held->raw, raw, meta->event_len);
  if (sides & SIDE_PLACE)
    hold_for (self, places->rename ? &places->from : &places->place, held);
  if (sides & SIDE_TO)
    hold_for (self, &places->to, held);
  held_unref (held);

  if (places->rename && sides != (SIDE_PLACE | SIDE_TO))
    deliver (self, meta, places, (SIDE_PLACE | SIDE_TO) & ~sides, FALSE, now);
  return TRUE;
}

/* Reports the halves of @held whose directories are known and no longer
 * held. */
static void
deliver_held (HkFanotifyBackend *self,
              Held              *held,
              gboolean           unknown_too,
              gint64             now)
{
  struct fanotify_event_metadata meta;
  Places places;
  guint ready = 0;

  if (held->sides == 0)
    return;
  memcpy (&meta, held->raw, sizeof meta);
  parse_places (self, &meta, held->raw, &places);

  if (places.rename)
    {
      if ((held->sides & SIDE_PLACE) && places.from.key != NULL && !places.from.key->holding)
        ready |= SIDE_PLACE;
      if ((held->sides & SIDE_TO) && places.to.key != NULL && !places.to.key->holding)
        ready |= SIDE_TO;
    }
  else if ((held->sides & SIDE_PLACE) &&
           (unknown_too || (places.place.key != NULL && !places.place.key->holding)))
    ready = SIDE_PLACE;

  if (ready == 0)
    return;
  held->sides &= ~ready;
  deliver (self, &meta, &places, ready, TRUE, now);
}

/* Directories whose held events are reported together, each in the
 * order the kernel queued them, in the order the walk read the
 * directories (a parent before its subdirectories: an event inside a
 * directory moved since is told after the move, where the read found it).
 * A rename waits for what was queued before it in its source's list: the
 * source may have been created there first. */
typedef struct
{
  GPtrArray *keys;                /* of Key, nullable entries */
  GPtrArray *arrays;              /* of GPtrArray of Held, one per key */
  guint     *next;                /* per array: the first not reported */
} HeldBatch;

static void held_batch_deliver_upto (HkFanotifyBackend *self, HeldBatch *batch,
                                     guint index, guint64 seq, gint64 now);

static void
held_batch_deliver_one (HkFanotifyBackend *self,
                        HeldBatch         *batch,
                        Held              *held,
                        gint64             now)
{
  if (held->sides & SIDE_PLACE)
    {
      struct fanotify_event_metadata meta;
      Places places;

      memcpy (&meta, held->raw, sizeof meta);
      parse_places (self, &meta, held->raw, &places);
      if (places.rename && places.from.key != NULL)
        for (guint i = 0; i < batch->keys->len; i++)
          if (g_ptr_array_index (batch->keys, i) == places.from.key)
            held_batch_deliver_upto (self, batch, i, held->seq, now);
    }
  deliver_held (self, held, FALSE, now);
}

static void
held_batch_deliver_upto (HkFanotifyBackend *self,
                         HeldBatch         *batch,
                         guint              index,
                         guint64            seq,
                         gint64             now)
{
  GPtrArray *array = g_ptr_array_index (batch->arrays, index);

  while (batch->next[index] < array->len)
    {
      Held *held = g_ptr_array_index (array, batch->next[index]);

      if (held->seq >= seq)
        break;
      batch->next[index]++;
      self->n_held -= MIN (self->n_held, 1);
      held_batch_deliver_one (self, batch, held, now);
    }
}

/* Reports what @arrays hold (of Held, @keys' lists, stolen from them). */
static void
deliver_held_arrays (HkFanotifyBackend *self,
                     GPtrArray         *keys,
                     GPtrArray         *arrays,
                     gint64             now)
{
  g_autofree guint *next = g_new0 (guint, arrays->len + 1);
  HeldBatch batch = { keys, arrays, next };

  for (guint i = 0; i < arrays->len; i++)
    held_batch_deliver_upto (self, &batch, i, G_MAXUINT64, now);
}

/* Keys watched without HK_WATCH_HOLD that had events held before they
 * were known: their clients read them when they were watched, and get
 * these now, before anything newer. */
static void
flush_held (HkFanotifyBackend *self)
{
  g_autoptr(GPtrArray) arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();

  while (self->to_flush->len > 0)
    {
      Key *key = g_ptr_array_steal_index (self->to_flush, 0);

      if (key->held != NULL)
        {
          g_ptr_array_add (keys, key);
          g_ptr_array_add (arrays, g_steal_pointer (&key->held));
        }
    }
  deliver_held_arrays (self, keys, arrays, g_get_monotonic_time ());
}

static void
hk_fanotify_backend_release_held (HkBackend *backend,
                                  gpointer  *keys,
                                  guint      n_keys)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;
  g_autoptr(GPtrArray) arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) held_keys = g_ptr_array_new ();
  gint64 now = g_get_monotonic_time ();

  /* All of them first: a rename between two of them is one move. Keys
   * may go away while their events are reported: the events find their
   * directories by handle (a key's place in @held_keys is only compared). */
  for (guint i = 0; i < n_keys; i++)
    {
      Key *key = keys[i];

      key->holding = FALSE;
      if (key->held != NULL)
        {
          g_ptr_array_remove (self->to_flush, key);
          g_ptr_array_add (held_keys, key);
          g_ptr_array_add (arrays, g_steal_pointer (&key->held));
        }
    }

  deliver_held_arrays (self, held_keys, arrays, now);
}

static void
hk_fanotify_backend_begin_walk (HkBackend *backend)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;

  if (self->n_walking++ == 0)
    self->walks_began_ns = realtime_ns ();
}

/* The last walk is over: what is still held is about directories outside
 * every tree, except a directory's own change (chmod), which its parent
 * may still report. */
static void
hk_fanotify_backend_end_walk (HkBackend *backend)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) lists = NULL;
  GHashTableIter iter;
  HeldList *list;
  Key *key;

  g_return_if_fail (self->n_walking > 0);
  if (--self->n_walking > 0)
    return;
  self->hold_overflowed = FALSE;

  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    if (key->holding)
      {
        key->holding = FALSE;
        if (key->held != NULL)
          g_ptr_array_add (self->to_flush, key);
      }

  lists = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, self->held_lists);
  while (g_hash_table_iter_next (&iter, (gpointer *) &list, NULL))
    {
      g_hash_table_iter_steal (&iter);
      g_ptr_array_add (lists, list);
    }
  for (guint i = 0; i < lists->len; i++)
    {
      list = g_ptr_array_index (lists, i);
      for (guint j = 0; j < list->held->len; j++)
        {
          Held *held = g_ptr_array_index (list->held, j);
          struct fanotify_event_metadata meta;
          Places places;

          self->n_held -= MIN (self->n_held, 1);
          if (held->sides != SIDE_PLACE)
            continue;
          memcpy (&meta, held->raw, sizeof meta);
          parse_places (self, &meta, held->raw, &places);
          if (!places.rename && places.have_place && strcmp (places.place.name, ".") == 0)
            deliver_held (self, held, TRUE, now);
        }
      held_list_free (list);
    }
  flush_held (self);
}

static gboolean
hk_fanotify_backend_covers_subtree (HkBackend *backend,
                                    gpointer   data)
{
  return ((Key *) data)->fs->marked;
}

static void
dispatch_event (HkFanotifyBackend                    *self,
                const struct fanotify_event_metadata *meta,
                const guint8                         *raw,
                gint64                                now)
{
  Places places;

  if (meta->mask & FAN_Q_OVERFLOW)
    {
      hk_backend_report_lost (&self->parent, self->quiet_at_ns, now);
      return;
    }

  parse_places (self, meta, raw, &places);
  if (self->n_walking > 0 && !self->hold_overflowed &&
      hold_event (self, meta, raw, &places, now))
    return;
  deliver (self, meta, &places, SIDE_PLACE | SIDE_TO, FALSE, now);
}

static gboolean
hk_fanotify_backend_read (gint          fd,
                          GIOCondition  condition,
                          gpointer      data)
{
  HkFanotifyBackend *self = data;

  /* A walk yielding from inside a report reads on its next slice. */
  if (self->reading)
    return G_SOURCE_CONTINUE;
  self->reading = TRUE;
  flush_held (self);

  for (;;)
    {
      gint64 now;
      gssize n;

      do
        n = read (self->fd, self->buf, READ_CHUNK);
      while (n < 0 && errno == EINTR);

      if (n <= 0)
        {
          if (n < 0 && errno == EAGAIN)
            self->quiet_at_ns = realtime_ns ();
          break;
        }

      now = g_get_monotonic_time ();
      for (gssize pos = 0; pos + (gssize) FAN_EVENT_METADATA_LEN <= n;)
        {
          struct fanotify_event_metadata meta;

          /* Events are only 4-byte aligned in the buffer (names have any
           * length); the header has a 64-bit field, so it is copied. */
          memcpy (&meta, self->buf + pos, sizeof meta);
          if (meta.event_len < FAN_EVENT_METADATA_LEN || pos + (gssize) meta.event_len > n)
            break;
          if (meta.vers == FANOTIFY_METADATA_VERSION)
            {
              if (meta.fd >= 0)
                close (meta.fd);
              dispatch_event (self, &meta, self->buf + pos, now);
            }
          pos += meta.event_len;
        }
    }

  self->reading = FALSE;
  return G_SOURCE_CONTINUE;
}

static void
hk_fanotify_backend_dispatch_pending (HkBackend *backend)
{
  HkFanotifyBackend *self = (HkFanotifyBackend *) backend;

  hk_fanotify_backend_read (self->fd, G_IO_IN, self);
}

const HkBackendClass hk_fanotify_backend_class = {
  .name = "fanotify",
  .kind = HK_BACKEND_KIND_FANOTIFY,
  .caps = HK_BACKEND_CAP_ACCESS_EVENTS | HK_BACKEND_CAP_PAIRS_MOVES,
  .create = hk_fanotify_backend_create,
  .destroy = hk_fanotify_backend_destroy,
  .add_watch = hk_fanotify_backend_add_watch,
  .remove_watch = hk_fanotify_backend_remove_watch,
  .dispatch_pending = hk_fanotify_backend_dispatch_pending,
  .covers_subtree = hk_fanotify_backend_covers_subtree,
  .begin_walk = hk_fanotify_backend_begin_walk,
  .end_walk = hk_fanotify_backend_end_walk,
  .release_held = hk_fanotify_backend_release_held,
};
