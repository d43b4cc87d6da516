/* hk-snapshot.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hk-event-private.h"
#include "hk-filter-private.h"
#include "hk-scanner-private.h"
#include "hk-snapshot-private.h"

/**
 * HkSnapshot:
 *
 * What a directory tree looked like at one moment: every entry's name,
 * kind, inode, size, modification and change times, and mode.
 *
 * A snapshot is taken with [func@Hk.Snapshot.take] (or
 * [func@Hk.Snapshot.take_async]), written to a file with
 * [method@Hk.Snapshot.save] and read back with [func@Hk.Snapshot.load].
 * [method@Hk.Snapshot.diff] compares two snapshots of the same tree and tells
 * what changed in between as [struct@Hk.Event]s, moves included (found by
 * inode): what changed while a program was not running.
 *
 * A snapshot is immutable, so it can be shared between threads freely. It
 * is compact: about 40 bytes per entry plus the entry's name.
 *
 * See the "Snapshots" guide (docs/snapshots.md) for the file format and the
 * exact rules of the diff.
 *
 * Since: 1.0
 */

/* One entry of a directory. Every directory's entries are contiguous in one
 * array and sorted by name (strcmp() order), so a lookup is a binary search
 * and a diff is a merge of two sorted lists; names live in one arena. */
typedef struct
{
  guint32 name;      /* offset of the NUL-terminated name in the arena */
  guint16 name_len;
  guint16 mode;      /* st_mode: file type and permission bits */
  guint64 ino;
  guint64 size;      /* for a directory: the index of its Dir instead */
  gint64  mtime_ns;
  gint64  ctime_ns;
} Entry;

G_STATIC_ASSERT (sizeof (Entry) == 40);

#define DIR_UNREADABLE 1u

typedef struct
{
  guint32 first;     /* its entries are entries[first, first + n) */
  guint32 n;
  guint32 parent;    /* HK_SNAPSHOT_NO_DIR for the root */
  guint32 self;      /* its own entry, in its parent's (root: NO_DIR) */
  guint64 dev;
  guint32 flags;
  guint32 padding;
} Dir;

struct _HkSnapshot
{
  GObject  parent_instance;

  GFile   *root;
  char    *root_path;
  gint64   taken_at_us;
  gint64   duration_us;
  Entry    root_entry;
  Entry   *entries;
  guint    n_entries;
  Dir     *dirs;        /* breadth-first: a parent before its children */
  guint    n_dirs;
  char    *names;
  gsize    names_len;
  guint    n_unreadable;
};

G_DEFINE_FINAL_TYPE (HkSnapshot, hk_snapshot, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ROOT,
  PROP_N_ENTRIES,
  PROP_TAKEN_AT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- helpers ------------------------------------------------------------ */

static inline gboolean
mode_is_dir (guint mode)
{
  return S_ISDIR (mode);
}

static guint
mode_from_file_type (GFileType file_type)
{
  switch (file_type)
    {
    case G_FILE_TYPE_DIRECTORY:     return S_IFDIR;
    case G_FILE_TYPE_SYMBOLIC_LINK: return S_IFLNK;
    case G_FILE_TYPE_SPECIAL:       return S_IFIFO;
    case G_FILE_TYPE_REGULAR:
    default:                        return S_IFREG;
    }
}

static GFileType
file_type_from_mode (guint mode)
{
  if (S_ISDIR (mode))
    return G_FILE_TYPE_DIRECTORY;
  if (S_ISREG (mode))
    return G_FILE_TYPE_REGULAR;
  if (S_ISLNK (mode))
    return G_FILE_TYPE_SYMBOLIC_LINK;
  return G_FILE_TYPE_SPECIAL;
}

static gboolean
mode_type_is_valid (guint64 mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
    case S_IFBLK: case S_IFIFO: case S_IFSOCK:
      return mode <= 0xffff;
    default:
      return FALSE;
    }
}

static inline gint64
timespec_ns (const struct timespec *ts)
{
  return (gint64) ts->tv_sec * G_GINT64_CONSTANT (1000000000) + ts->tv_nsec;
}

/* Appends the path of @dir relative to the root ("" for the root). Walks up
 * the parent chain into @chain (scratch), so deep trees need no recursion. */
static void
append_dir_path (GString     *out,
                 const Entry *entries,
                 const Dir   *dirs,
                 const char  *names,
                 guint32      dir,
                 GArray      *chain)
{
  g_array_set_size (chain, 0);
  for (guint32 d = dir; d != 0 && d != HK_SNAPSHOT_NO_DIR; d = dirs[d].parent)
    g_array_append_val (chain, dirs[d].self);

  for (guint i = chain->len; i > 0; i--)
    {
      const Entry *e = &entries[g_array_index (chain, guint32, i - 1)];

      if (out->len > 0 && out->str[out->len - 1] != '/')
        g_string_append_c (out, '/');
      g_string_append_len (out, names + e->name, e->name_len);
    }
}

/* --- builder ------------------------------------------------------------ */

struct _HkSnapshotBuilder
{
  char       *root_path;
  gint64      taken_at_us;
  gint64      duration_us;
  Entry       root_entry;
  GArray     *entries;    /* Entry */
  GArray     *parents;    /* guint32 per entry: its directory */
  GArray     *dirs;       /* Dir */
  GByteArray *names;
  guint32     last_parent;
  gboolean    canonical;  /* grouped by directory, breadth first, sorted */
};

HkSnapshotBuilder *
hk_snapshot_builder_new (const char *root_path,
                         gint64      taken_at_us)
{
  HkSnapshotBuilder *builder = g_new0 (HkSnapshotBuilder, 1);
  Dir root = { 0, 0, HK_SNAPSHOT_NO_DIR, HK_SNAPSHOT_NO_DIR, 0, 0, 0 };

  builder->root_path = g_strdup (root_path);
  builder->taken_at_us = taken_at_us;
  builder->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  builder->parents = g_array_new (FALSE, FALSE, sizeof (guint32));
  builder->dirs = g_array_new (FALSE, FALSE, sizeof (Dir));
  builder->names = g_byte_array_new ();
  builder->canonical = TRUE;
  builder->root_entry.mode = S_IFDIR;
  g_array_append_val (builder->dirs, root);

  return builder;
}

void
hk_snapshot_builder_free (HkSnapshotBuilder *builder)
{
  if (builder == NULL)
    return;

  g_free (builder->root_path);
  g_array_unref (builder->entries);
  g_array_unref (builder->parents);
  g_array_unref (builder->dirs);
  g_byte_array_unref (builder->names);
  g_free (builder);
}

void
hk_snapshot_builder_set_root (HkSnapshotBuilder *builder,
                              guint64            dev,
                              guint64            ino,
                              guint              mode,
                              gint64             mtime_ns,
                              gint64             ctime_ns)
{
  builder->root_entry.ino = ino;
  builder->root_entry.mode = (guint16) ((mode & ~S_IFMT) | S_IFDIR);
  builder->root_entry.mtime_ns = mtime_ns;
  builder->root_entry.ctime_ns = ctime_ns;
  g_array_index (builder->dirs, Dir, 0).dev = dev;
}

void
hk_snapshot_builder_set_unreadable (HkSnapshotBuilder *builder,
                                    guint32            dir)
{
  g_return_if_fail (dir < builder->dirs->len);

  g_array_index (builder->dirs, Dir, dir).flags |= DIR_UNREADABLE;
}

void
hk_snapshot_builder_set_duration (HkSnapshotBuilder *builder,
                                  gint64             duration_us)
{
  builder->duration_us = duration_us;
}

static void
builder_add_entry (HkSnapshotBuilder *builder,
                   guint32            parent_dir,
                   const char        *name,
                   gsize              len,
                   Entry             *entry)
{
  Dir *parent = &g_array_index (builder->dirs, Dir, parent_dir);
  guint32 index = builder->entries->len;

  if (builder->canonical)
    {
      if (parent_dir < builder->last_parent)
        builder->canonical = FALSE;
      else if (parent->n > 0)
        {
          const Entry *prev = &g_array_index (builder->entries, Entry, index - 1);

          if (strcmp (name, (const char *) builder->names->data + prev->name) <= 0)
            builder->canonical = FALSE;
        }
      else
        parent->first = index;
    }
  parent->n++;
  builder->last_parent = parent_dir;

  entry->name = builder->names->len;
  entry->name_len = (guint16) len;
  g_byte_array_append (builder->names, (const guint8 *) name, len + 1);

  if (mode_is_dir (entry->mode))
    {
      Dir child = { 0, 0, parent_dir, index, 0, 0, 0 };

      child.dev = entry->size;  /* the caller passes the device here */
      entry->size = builder->dirs->len;
      g_array_append_val (builder->dirs, child);
    }

  g_array_append_val (builder->parents, parent_dir);
  g_array_append_val (builder->entries, *entry);
}

guint32
hk_snapshot_builder_add (HkSnapshotBuilder *builder,
                         guint32            parent_dir,
                         const char        *name,
                         GFileType          file_type,
                         guint64            dev,
                         guint64            ino,
                         guint64            size,
                         gint64             mtime_ns,
                         gint64             ctime_ns,
                         guint              mode)
{
  gsize len;
  Entry entry;

  g_return_val_if_fail (builder != NULL, HK_SNAPSHOT_NO_DIR);
  g_return_val_if_fail (parent_dir < builder->dirs->len, HK_SNAPSHOT_NO_DIR);
  g_return_val_if_fail (name != NULL, HK_SNAPSHOT_NO_DIR);

  len = strlen (name);
  g_return_val_if_fail (len > 0 && len <= G_MAXUINT16, HK_SNAPSHOT_NO_DIR);
  g_return_val_if_fail (builder->names->len + len + 1 < G_MAXUINT32, HK_SNAPSHOT_NO_DIR);
  g_return_val_if_fail (builder->entries->len < G_MAXUINT32 - 1, HK_SNAPSHOT_NO_DIR);

  if ((mode & S_IFMT) == 0)
    mode |= mode_from_file_type (file_type);

  entry = (Entry) {
    .mode = (guint16) mode,
    .ino = ino,
    .size = mode_is_dir (mode) ? dev : size,
    .mtime_ns = mtime_ns,
    .ctime_ns = ctime_ns,
  };
  builder_add_entry (builder, parent_dir, name, len, &entry);

  return mode_is_dir (mode) ? (guint32) entry.size : HK_SNAPSHOT_NO_DIR;
}

static int
compare_by_name (gconstpointer a,
                 gconstpointer b,
                 gpointer      data)
{
  const HkSnapshotBuilder *builder = data;
  guint32 ia = *(const guint32 *) a, ib = *(const guint32 *) b;
  const char *names = (const char *) builder->names->data;
  int c = strcmp (names + g_array_index (builder->entries, Entry, ia).name,
                  names + g_array_index (builder->entries, Entry, ib).name);

  if (c != 0)
    return c;
  return ia < ib ? -1 : ia > ib;
}

/* Puts entries given in any order into the layout a snapshot needs:
 * grouped by directory, sorted by name, directories numbered breadth
 * first. Of a name given twice, the last wins; what is unreachable from
 * the root (below a dropped duplicate) is dropped. */
static void
builder_canonicalize (HkSnapshotBuilder *builder)
{
  guint n = builder->entries->len;
  guint n_dirs = builder->dirs->len;
  g_autofree guint32 *perm = g_new (guint32, MAX (n, 1));
  g_autofree guint32 *group_start = g_new0 (guint32, n_dirs);
  g_autofree guint32 *group_len = g_new0 (guint32, n_dirs);
  GArray *entries = g_array_sized_new (FALSE, FALSE, sizeof (Entry), n);
  GArray *dirs = g_array_sized_new (FALSE, FALSE, sizeof (Dir), n_dirs);
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (guint32));
  const char *names = (const char *) builder->names->data;
  Dir root = g_array_index (builder->dirs, Dir, 0);
  guint32 zero = 0;

  const guint32 *parents = (const guint32 *) (gpointer) builder->parents->data;
  g_autofree guint32 *cursor = g_new (guint32, n_dirs);

  /* Grouped by directory with a counting sort (stable: a later duplicate
   * stays later), then each group sorted by name. */
  for (guint i = 0; i < n; i++)
    group_len[parents[i]]++;
  for (guint d = 0, start = 0; d < n_dirs; d++)
    {
      group_start[d] = cursor[d] = start;
      start += group_len[d];
    }
  for (guint i = 0; i < n; i++)
    perm[cursor[parents[i]]++] = i;
  for (guint d = 0; d < n_dirs; d++)
    if (group_len[d] > 1)
      g_qsort_with_data (perm + group_start[d], group_len[d], sizeof (guint32), compare_by_name, builder);

  root.first = root.n = 0;
  g_array_append_val (dirs, root);
  g_array_append_val (order, zero);

  for (guint qi = 0; qi < order->len; qi++)
    {
      guint32 old_dir = g_array_index (order, guint32, qi);
      guint32 first = entries->len;
      guint32 end = group_start[old_dir] + group_len[old_dir];

      for (guint32 k = group_start[old_dir]; k < end; k++)
        {
          Entry entry = g_array_index (builder->entries, Entry, perm[k]);

          if (k + 1 < end &&
              strcmp (names + entry.name,
                      names + g_array_index (builder->entries, Entry, perm[k + 1]).name) == 0)
            continue;

          if (mode_is_dir (entry.mode))
            {
              guint32 old_child = (guint32) entry.size;
              Dir child = g_array_index (builder->dirs, Dir, old_child);

              child.first = child.n = 0;
              child.parent = qi;
              child.self = entries->len;
              entry.size = dirs->len;
              g_array_append_val (dirs, child);
              g_array_append_val (order, old_child);
            }
          g_array_append_val (entries, entry);
        }

      g_array_index (dirs, Dir, qi).first = first;
      g_array_index (dirs, Dir, qi).n = entries->len - first;
    }

  g_array_unref (builder->entries);
  g_array_unref (builder->dirs);
  builder->entries = entries;
  builder->dirs = dirs;
  builder->canonical = TRUE;
}

static gpointer
steal_exact (GArray *array,
             gsize  *len)
{
  gsize n = array->len;
  gsize element = g_array_get_element_size (array);
  gpointer data = g_array_steal (array, NULL);

  *len = n;
  /* The array grew by doubling; give the slack back. */
  return g_realloc (data, MAX (n * element, 1));
}

HkSnapshot *
hk_snapshot_builder_end (HkSnapshotBuilder *builder)
{
  HkSnapshot *self;
  gsize n_entries, n_dirs, names_len;

  g_return_val_if_fail (builder != NULL, NULL);

  if (!builder->canonical)
    builder_canonicalize (builder);

  /* An empty directory's range starts where the previous one ended, so
   * every range is in order. */
  for (guint d = 0, next = 0; d < builder->dirs->len; d++)
    {
      Dir *dir = &g_array_index (builder->dirs, Dir, d);

      if (dir->n == 0)
        dir->first = next;
      next = dir->first + dir->n;
    }

  self = g_object_new (HK_TYPE_SNAPSHOT, NULL);
  g_free (self->root_path);
  g_free (self->dirs);
  g_free (self->names);
  g_object_unref (self->root);
  self->root_path = g_steal_pointer (&builder->root_path);
  self->root = g_file_new_for_path (self->root_path);
  self->taken_at_us = builder->taken_at_us;
  self->duration_us = builder->duration_us;
  self->root_entry = builder->root_entry;
  self->entries = steal_exact (builder->entries, &n_entries);
  self->dirs = steal_exact (builder->dirs, &n_dirs);
  self->n_entries = n_entries;
  self->n_dirs = n_dirs;
  names_len = builder->names->len;
  self->names = g_realloc (g_byte_array_steal (builder->names, NULL), MAX (names_len, 1));
  self->names_len = names_len;

  for (guint d = 0; d < self->n_dirs; d++)
    if (self->dirs[d].flags & DIR_UNREADABLE)
      self->n_unreadable++;

  hk_snapshot_builder_free (builder);
  return self;
}

/* --- walking a tree ----------------------------------------------------- */

#define DENTS_SIZE (32 * 1024)

typedef struct
{
  HkSnapshotBuilder *builder;
  HkFilterRules     *rules;
  GString           *path;       /* absolute path of the directory read */
  GString           *relative;   /* its path relative to the root */
  GString           *child;      /* an entry's relative path, for the filter */
  GArray            *chain;
  GByteArray        *name_buf;   /* one directory's names */
  GArray            *name_offsets;
  GPtrArray         *sorted;
  guint8            *dents;
} Walk;

static void
walk_clear (Walk *walk)
{
  g_clear_pointer (&walk->builder, hk_snapshot_builder_free);
  g_string_free (walk->path, TRUE);
  g_string_free (walk->relative, TRUE);
  g_string_free (walk->child, TRUE);
  g_array_unref (walk->chain);
  g_byte_array_unref (walk->name_buf);
  g_array_unref (walk->name_offsets);
  g_ptr_array_unref (walk->sorted);
  g_free (walk->dents);
}

static HkSnapshotWalkHook walk_hook;
static gpointer walk_hook_data;

void
hk_snapshot_set_walk_hook (HkSnapshotWalkHook hook,
                           gpointer           user_data)
{
  walk_hook = hook;
  walk_hook_data = user_data;
}

/* open() of a path that may be longer than PATH_MAX (deep trees): opens
 * it piece by piece with openat(). */
static int
open_directory (const char *path)
{
  const char *rest = path;
  int dir_fd = AT_FDCWD;
  int fd;

  while (strlen (rest) >= PATH_MAX - 1)
    {
      const char *cut = rest + PATH_MAX - 2;
      g_autofree char *piece = NULL;
      int next;

      while (cut > rest && *cut != '/')
        cut--;
      if (cut == rest)
        {
          errno = ENAMETOOLONG;
          fd = -1;
          goto out;
        }
      piece = g_strndup (rest, cut - rest);
      next = openat (dir_fd, *piece == '\0' ? "/" : piece,
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (dir_fd != AT_FDCWD)
        close (dir_fd);
      if (next < 0)
        return -1;
      dir_fd = next;
      rest = cut + 1;
    }

  fd = openat (dir_fd, rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

out:
  if (dir_fd != AT_FDCWD)
    {
      int errsv = errno;

      close (dir_fd);
      errno = errsv;
    }
  return fd;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Lists @fd's names, sorted, into walk->sorted. */
static gboolean
read_names (Walk *walk,
            int   fd)
{
  HkScanner scanner;
  HkScannerEntry entry;

  g_byte_array_set_size (walk->name_buf, 0);
  g_array_set_size (walk->name_offsets, 0);
  g_ptr_array_set_size (walk->sorted, 0);

  hk_scanner_init (&scanner, fd, walk->dents, DENTS_SIZE);
  while (hk_scanner_next (&scanner, &entry))
    {
      guint32 offset = walk->name_buf->len;

      g_byte_array_append (walk->name_buf, (const guint8 *) entry.name, strlen (entry.name) + 1);
      g_array_append_val (walk->name_offsets, offset);
    }
  if (hk_scanner_failed (&scanner))
    return FALSE;

  for (guint i = 0; i < walk->name_offsets->len; i++)
    g_ptr_array_add (walk->sorted, walk->name_buf->data + g_array_index (walk->name_offsets, guint32, i));
  if (walk->sorted->len > 1)
    qsort (walk->sorted->pdata, walk->sorted->len, sizeof (gpointer), compare_names);

  return TRUE;
}

static gboolean
walk_accepts (Walk        *walk,
              const char  *name,
              gboolean     is_directory)
{
  if (walk->rules == NULL)
    return TRUE;

  g_string_truncate (walk->child, 0);
  g_string_append_len (walk->child, walk->relative->str, walk->relative->len);
  if (walk->child->len > 0)
    g_string_append_c (walk->child, '/');
  g_string_append (walk->child, name);

  /* Directories that are not ignored are kept even when a pattern does not
   * match them: their contents may match. */
  if (is_directory)
    return !hk_filter_rules_excludes_directory (walk->rules, walk->child->str);
  return hk_filter_rules_matches (walk->rules, walk->child->str, FALSE);
}

static void
walk_directory (Walk    *walk,
                guint32  dir,
                int      fd)
{
  if (!read_names (walk, fd))
    {
      hk_snapshot_builder_set_unreadable (walk->builder, dir);
      return;
    }

  for (guint i = 0; i < walk->sorted->len; i++)
    {
      const char *name = g_ptr_array_index (walk->sorted, i);
      struct stat st;

      /* Gone since it was listed: it is not part of the tree any more. */
      if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      if (!walk_accepts (walk, name, S_ISDIR (st.st_mode)))
        continue;

      hk_snapshot_builder_add (walk->builder, dir, name, G_FILE_TYPE_UNKNOWN,
                               st.st_dev, st.st_ino,
                               S_ISDIR (st.st_mode) ? 0 : (guint64) st.st_size,
                               timespec_ns (&st.st_mtim), timespec_ns (&st.st_ctim),
                               st.st_mode);
    }
}

/* Breadth first, without recursion: the builder's directory table is the
 * queue. Unreadable directories are recorded as such and skipped. */
static HkSnapshot *
walk_tree (const char     *root_path,
           HkFilterRules  *rules,
           GCancellable   *cancellable,
           GError        **error)
{
  Walk walk = {
    .rules = rules,
    .path = g_string_new (NULL),
    .relative = g_string_new (NULL),
    .child = g_string_new (NULL),
    .chain = g_array_new (FALSE, FALSE, sizeof (guint32)),
    .name_buf = g_byte_array_new (),
    .name_offsets = g_array_new (FALSE, FALSE, sizeof (guint32)),
    .sorted = g_ptr_array_new (),
    .dents = g_malloc (DENTS_SIZE),
  };
  gint64 started = g_get_monotonic_time ();
  struct stat st;
  HkSnapshot *snapshot = NULL;
  int root_fd;

  root_fd = open (root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0 || fstat (root_fd, &st) != 0)
    {
      int errsv = errno;
      g_autofree char *display = g_filename_display_name (root_path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot read directory “%s”: %s", display, g_strerror (errsv));
      if (root_fd >= 0)
        close (root_fd);
      goto out;
    }

  walk.builder = hk_snapshot_builder_new (root_path, g_get_real_time ());
  hk_snapshot_builder_set_root (walk.builder, st.st_dev, st.st_ino, st.st_mode,
                                timespec_ns (&st.st_mtim), timespec_ns (&st.st_ctim));

  for (guint32 d = 0; d < walk.builder->dirs->len; d++)
    {
      const Entry *entries = (const Entry *) (gpointer) walk.builder->entries->data;
      const Dir *dirs = (const Dir *) (gpointer) walk.builder->dirs->data;
      int fd;

      if (G_UNLIKELY (walk_hook != NULL))
        walk_hook (d, walk_hook_data);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          if (d == 0)
            close (root_fd);
          goto out;
        }

      g_string_truncate (walk.relative, 0);
      append_dir_path (walk.relative, entries, dirs, (const char *) walk.builder->names->data,
                       d, walk.chain);

      if (d == 0)
        fd = root_fd;
      else
        {
          g_string_assign (walk.path, root_path);
          if (walk.path->str[walk.path->len - 1] != '/')
            g_string_append_c (walk.path, '/');
          g_string_append_len (walk.path, walk.relative->str, walk.relative->len);
          fd = open_directory (walk.path->str);
        }

      if (fd < 0)
        {
          /* A directory removed since it was listed is simply empty. */
          if (errno != ENOENT && errno != ENOTDIR)
            hk_snapshot_builder_set_unreadable (walk.builder, d);
          continue;
        }

      walk_directory (&walk, d, fd);
      close (fd);
    }

  hk_snapshot_builder_set_duration (walk.builder, g_get_monotonic_time () - started);
  snapshot = hk_snapshot_builder_end (g_steal_pointer (&walk.builder));

out:
  walk_clear (&walk);
  return snapshot;
}

static char *
root_path_for (GFile   *root,
               GError **error)
{
  char *path = g_file_get_path (root);

  if (path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (root);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "Cannot take a snapshot of “%s”: not a local file", uri);
    }
  return path;
}

/**
 * hk_snapshot_take:
 * @root: the directory to take a snapshot of
 * @filter: (nullable): what to leave out: directories it ignores are not
 *   read, files it does not match are not recorded
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Walks the tree under @root and records every entry. Symbolic links are
 * recorded as links, never followed (except @root itself). Directories that
 * cannot be read are recorded, with unknown contents: a diff reports
 * nothing below them.
 *
 * This blocks for as long as the walk takes; see
 * [func@Hk.Snapshot.take_async].
 *
 * Returns: (transfer full): the snapshot, or %NULL with @error set
 *   (%G_IO_ERROR_NOT_FOUND, %G_IO_ERROR_NOT_DIRECTORY,
 *   %G_IO_ERROR_PERMISSION_DENIED for @root; %G_IO_ERROR_CANCELLED)
 *
 * Since: 1.0
 */
HkSnapshot *
hk_snapshot_take (GFile         *root,
                  HkFilter      *filter,
                  GCancellable  *cancellable,
                  GError       **error)
{
  g_autofree char *root_path = NULL;
  g_autoptr(HkFilterRules) rules = NULL;

  g_return_val_if_fail (G_IS_FILE (root), NULL);
  g_return_val_if_fail (filter == NULL || HK_IS_FILTER (filter), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  root_path = root_path_for (root, error);
  if (root_path == NULL)
    return NULL;
  if (filter != NULL)
    rules = hk_filter_dup_rules (filter);

  return walk_tree (root_path, rules, cancellable, error);
}

typedef struct
{
  char          *root_path;
  HkFilterRules *rules;
} TakeData;

static void
take_data_free (TakeData *data)
{
  g_free (data->root_path);
  g_clear_pointer (&data->rules, hk_filter_rules_unref);
  g_free (data);
}

static void
take_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  TakeData *data = task_data;
  GError *error = NULL;
  HkSnapshot *snapshot = walk_tree (data->root_path, data->rules, cancellable, &error);

  if (snapshot == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, snapshot, g_object_unref);
}

/**
 * hk_snapshot_take_async:
 * @root: the directory to take a snapshot of
 * @filter: (nullable): what to leave out, as for [func@Hk.Snapshot.take]
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the snapshot is taken
 * @user_data: data for @callback
 *
 * Takes a snapshot like [func@Hk.Snapshot.take], walking the tree on
 * another thread. @filter's rules are copied before this returns, so it can
 * be changed meanwhile. @callback runs in the thread-default main context
 * of the caller.
 *
 * Since: 1.0
 */
void
hk_snapshot_take_async (GFile               *root,
                        HkFilter            *filter,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  TakeData *data;

  g_return_if_fail (G_IS_FILE (root));
  g_return_if_fail (filter == NULL || HK_IS_FILTER (filter));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, hk_snapshot_take_async);

  data = g_new0 (TakeData, 1);
  data->root_path = root_path_for (root, &error);
  if (filter != NULL)
    data->rules = hk_filter_dup_rules (filter);
  g_task_set_task_data (task, data, (GDestroyNotify) take_data_free);

  if (data->root_path == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_run_in_thread (task, take_in_thread);
}

/**
 * hk_snapshot_take_finish:
 * @result: the result given to the callback
 * @error: return location for an error
 *
 * Finishes [func@Hk.Snapshot.take_async].
 *
 * Returns: (transfer full): the snapshot, or %NULL with @error set
 *
 * Since: 1.0
 */
HkSnapshot *
hk_snapshot_take_finish (GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hk_snapshot_take_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- file format ---------------------------------------------------------
 *
 * Documented in docs/snapshots.md. A 24-byte header (magic, version,
 * CRC-32 of the payload, payload length; little-endian), then the payload:
 * varints (LEB128), signed values zigzag-encoded, each directory's names
 * sharing their prefix with the previous name. */

static const guint8 snapshot_magic[8] = { 0x89, 'H', 'K', 'S', 'N', 'A', 'P', '\n' };

#define FORMAT_VERSION 1
#define HEADER_SIZE 24
#define MAX_NAME_LEN 255
#define MAX_ROOT_PATH_LEN (64 * 1024)
/* The fewest bytes an entry can take: prefix, suffix length, one byte of
 * name, mode, inode, size (or device and flags), mtime, ctime. */
#define MIN_ENTRY_BYTES 8

static guint32 crc_table[256];

static void
crc_table_init (void)
{
  for (guint32 i = 0; i < 256; i++)
    {
      guint32 c = i;

      for (int k = 0; k < 8; k++)
        c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
}

/* CRC-32 (IEEE 802.3, as zlib's crc32()). */
static guint32
compute_crc32 (const guint8 *data,
               gsize         len)
{
  static gsize initialized;
  guint32 c = 0xffffffffu;

  if (g_once_init_enter (&initialized))
    {
      crc_table_init ();
      g_once_init_leave (&initialized, 1);
    }

  for (gsize i = 0; i < len; i++)
    c = crc_table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static inline guint64
zigzag (gint64 v)
{
  return ((guint64) v << 1) ^ (guint64) (v >> 63);
}

static inline gint64
unzigzag (guint64 u)
{
  return (gint64) (u >> 1) ^ -(gint64) (u & 1);
}

static inline void
put_varint (GByteArray *out,
            guint64     v)
{
  guint8 buf[10];
  guint n = 0;

  while (v >= 0x80)
    {
      buf[n++] = (guint8) (v | 0x80);
      v >>= 7;
    }
  buf[n++] = (guint8) v;
  g_byte_array_append (out, buf, n);
}

static inline void
put_le (guint8  *out,
        guint64  v,
        guint    n_bytes)
{
  for (guint i = 0; i < n_bytes; i++)
    out[i] = (guint8) (v >> (8 * i));
}

static inline guint64
get_le (const guint8 *in,
        guint         n_bytes)
{
  guint64 v = 0;

  for (guint i = 0; i < n_bytes; i++)
    v |= (guint64) in[i] << (8 * i);
  return v;
}

static inline guint64
wrapping_sub (gint64 a,
              gint64 b)
{
  return (guint64) a - (guint64) b;
}

/* The snapshot in the file format. */
GBytes *
hk_snapshot_serialize (HkSnapshot *self)
{
  GByteArray *out = g_byte_array_sized_new (HEADER_SIZE + self->n_entries * 16 + self->names_len);
  guint8 header[HEADER_SIZE] = { 0 };
  const Entry *root = &self->root_entry;
  gsize root_len = strlen (self->root_path);
  gsize payload_len;

  g_byte_array_append (out, header, HEADER_SIZE);

  put_varint (out, root_len);
  g_byte_array_append (out, (const guint8 *) self->root_path, root_len);
  put_varint (out, zigzag (self->taken_at_us));
  put_varint (out, zigzag (self->duration_us));
  put_varint (out, self->n_dirs);
  put_varint (out, self->n_entries);
  put_varint (out, self->dirs[0].dev);
  put_varint (out, self->dirs[0].flags);
  put_varint (out, root->mode);
  put_varint (out, root->ino);
  put_varint (out, zigzag (root->mtime_ns));
  put_varint (out, zigzag ((gint64) wrapping_sub (root->ctime_ns, root->mtime_ns)));

  for (guint d = 0; d < self->n_dirs; d++)
    {
      const Dir *dir = &self->dirs[d];
      const char *prev = "";
      gsize prev_len = 0;
      guint64 prev_ino = 0;
      gint64 prev_mtime = 0;

      put_varint (out, dir->n);
      for (guint i = 0; i < dir->n; i++)
        {
          const Entry *e = &self->entries[dir->first + i];
          const char *name = self->names + e->name;
          gsize prefix = 0;

          while (prefix < prev_len && prefix < e->name_len && prev[prefix] == name[prefix])
            prefix++;
          put_varint (out, prefix);
          put_varint (out, e->name_len - prefix);
          g_byte_array_append (out, (const guint8 *) name + prefix, e->name_len - prefix);
          put_varint (out, e->mode);
          put_varint (out, zigzag ((gint64) (e->ino - prev_ino)));
          if (mode_is_dir (e->mode))
            {
              const Dir *child = &self->dirs[e->size];

              put_varint (out, child->dev ^ dir->dev);
              put_varint (out, child->flags);
            }
          else
            put_varint (out, e->size);
          put_varint (out, zigzag ((gint64) wrapping_sub (e->mtime_ns, prev_mtime)));
          put_varint (out, zigzag ((gint64) wrapping_sub (e->ctime_ns, e->mtime_ns)));

          prev = name;
          prev_len = e->name_len;
          prev_ino = e->ino;
          prev_mtime = e->mtime_ns;
        }
    }

  payload_len = out->len - HEADER_SIZE;
  memcpy (out->data, snapshot_magic, sizeof snapshot_magic);
  put_le (out->data + 8, FORMAT_VERSION, 4);
  put_le (out->data + 12, compute_crc32 (out->data + HEADER_SIZE, payload_len), 4);
  put_le (out->data + 16, payload_len, 8);

  return g_byte_array_free_to_bytes (out);
}

/**
 * hk_snapshot_save:
 * @self: a snapshot
 * @file: where to write it
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Writes the snapshot to @file, atomically: the data goes to a temporary
 * file that replaces @file once complete (and, when @file existed, is
 * synced to disk first), so a crash during the save leaves the previous
 * file intact. The format is described in the "Snapshots" guide.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
hk_snapshot_save (HkSnapshot    *self,
                  GFile         *file,
                  GCancellable  *cancellable,
                  GError       **error)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (HK_IS_SNAPSHOT (self), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  bytes = hk_snapshot_serialize (self);
  return g_file_replace_contents (file, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                  NULL, FALSE, G_FILE_CREATE_NONE, NULL, cancellable, error);
}

typedef struct
{
  const guint8 *pos;
  const guint8 *end;
  const char   *problem;   /* set on the first failure */
} Reader;

static inline gsize
reader_left (Reader *r)
{
  return (gsize) (r->end - r->pos);
}

static inline gboolean
read_varint (Reader  *r,
             guint64 *out)
{
  guint64 v = 0;

  for (guint shift = 0; shift < 64; shift += 7)
    {
      guint8 b;

      if (r->pos >= r->end)
        {
          r->problem = "unexpected end of data";
          return FALSE;
        }
      b = *r->pos++;
      if (shift == 63 && b > 1)
        break;
      v |= (guint64) (b & 0x7f) << shift;
      if (!(b & 0x80))
        {
          *out = v;
          return TRUE;
        }
    }

  r->problem = "malformed number";
  return FALSE;
}

static gboolean
read_count (Reader  *r,
            gsize    min_bytes_each,
            guint64 *out)
{
  if (!read_varint (r, out))
    return FALSE;
  if (*out > reader_left (r) / min_bytes_each)
    {
      r->problem = "a count larger than the data";
      return FALSE;
    }
  return TRUE;
}

static gboolean
fail (Reader     *r,
      const char *problem)
{
  r->problem = problem;
  return FALSE;
}

static gboolean
name_is_valid (const char *name,
               gsize       len)
{
  if (memchr (name, '/', len) != NULL || memchr (name, '\0', len) != NULL)
    return FALSE;
  return !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

static gboolean
parse_directory (Reader            *r,
                 HkSnapshotBuilder *builder,
                 guint32            d)
{
  char name[MAX_NAME_LEN + 1];
  gsize prev_len = 0;
  guint64 prev_ino = 0;
  gint64 prev_mtime = 0;
  guint64 dir_dev = g_array_index (builder->dirs, Dir, d).dev;
  guint64 n;

  if (!read_count (r, MIN_ENTRY_BYTES, &n))
    return FALSE;

  for (guint64 i = 0; i < n; i++)
    {
      guint64 prefix, suffix, mode, ino, size, mtime, ctime;
      Entry entry;

      if (!read_varint (r, &prefix) || !read_varint (r, &suffix))
        return FALSE;
      if (prefix > prev_len || suffix == 0 || suffix > MAX_NAME_LEN - prefix)
        return fail (r, "bad name length");
      if (suffix > reader_left (r))
        return fail (r, "unexpected end of data");
      memcpy (name + prefix, r->pos, suffix);
      r->pos += suffix;
      prev_len = prefix + suffix;
      name[prev_len] = '\0';
      if (!name_is_valid (name, prev_len))
        return fail (r, "bad name");

      if (!read_varint (r, &mode) || !read_varint (r, &ino))
        return FALSE;
      if (!mode_type_is_valid (mode))
        return fail (r, "bad file type");
      entry = (Entry) { .mode = (guint16) mode, .ino = prev_ino + (guint64) unzigzag (ino) };

      if (mode_is_dir (mode))
        {
          guint64 dev, flags;

          if (!read_varint (r, &dev) || !read_varint (r, &flags))
            return FALSE;
          if (flags & ~(guint64) DIR_UNREADABLE)
            return fail (r, "bad directory flags");
          entry.size = dev ^ dir_dev;
          size = flags;
        }
      else
        {
          if (!read_varint (r, &size))
            return FALSE;
          entry.size = size;
        }

      if (!read_varint (r, &mtime) || !read_varint (r, &ctime))
        return FALSE;
      entry.mtime_ns = (gint64) ((guint64) prev_mtime + (guint64) unzigzag (mtime));
      entry.ctime_ns = (gint64) ((guint64) entry.mtime_ns + (guint64) unzigzag (ctime));

      if (builder->entries->len >= G_MAXUINT32 - 1 ||
          builder->names->len + prev_len + 1 >= G_MAXUINT32)
        return fail (r, "too many entries");

      builder_add_entry (builder, d, name, prev_len, &entry);
      if (!builder->canonical)
        return fail (r, "names out of order");
      if (mode_is_dir (mode))
        g_array_index (builder->dirs, Dir, builder->dirs->len - 1).flags = (guint32) size;

      prev_ino = entry.ino;
      prev_mtime = entry.mtime_ns;
    }

  return TRUE;
}

static HkSnapshot *
parse_payload (Reader *r)
{
  g_autoptr(HkSnapshotBuilder) builder = NULL;
  g_autofree char *root_path = NULL;
  guint64 root_len, taken_at, duration, n_dirs, n_entries;
  guint64 dev, flags, mode, ino, mtime, ctime;

  if (!read_varint (r, &root_len))
    return NULL;
  if (root_len == 0 || root_len > MAX_ROOT_PATH_LEN || root_len > reader_left (r))
    return (fail (r, "bad root path"), NULL);
  root_path = g_strndup ((const char *) r->pos, root_len);
  r->pos += root_len;
  if (strlen (root_path) != root_len || root_path[0] != '/')
    return (fail (r, "bad root path"), NULL);

  if (!read_varint (r, &taken_at) || !read_varint (r, &duration) ||
      !read_count (r, MIN_ENTRY_BYTES, &n_dirs) || !read_count (r, MIN_ENTRY_BYTES, &n_entries))
    return NULL;
  if (n_dirs == 0 || n_dirs > n_entries + 1)
    return (fail (r, "bad directory count"), NULL);

  if (!read_varint (r, &dev) || !read_varint (r, &flags) || !read_varint (r, &mode) ||
      !read_varint (r, &ino) || !read_varint (r, &mtime) || !read_varint (r, &ctime))
    return NULL;
  if (!mode_is_dir (mode) || !mode_type_is_valid (mode) || (flags & ~(guint64) DIR_UNREADABLE))
    return (fail (r, "bad root entry"), NULL);

  builder = hk_snapshot_builder_new (root_path, unzigzag (taken_at));
  hk_snapshot_builder_set_duration (builder, unzigzag (duration));
  hk_snapshot_builder_set_root (builder, dev, ino, (guint) mode, unzigzag (mtime),
                                (gint64) ((guint64) unzigzag (mtime) + (guint64) unzigzag (ctime)));
  g_array_index (builder->dirs, Dir, 0).flags = (guint32) flags;
  /* Bounded by the data left (read_count), so no hostile huge allocation. */
  g_array_set_size (builder->entries, n_entries);
  g_array_set_size (builder->entries, 0);

  for (guint64 d = 0; d < n_dirs; d++)
    {
      /* Directories come in the order their entries numbered them. */
      if (d >= builder->dirs->len)
        return (fail (r, "more directories than directory entries"), NULL);
      if (!parse_directory (r, builder, (guint32) d))
        return NULL;
    }

  if (builder->dirs->len != n_dirs || builder->entries->len != n_entries)
    return (fail (r, "entry counts do not match"), NULL);
  if (r->pos != r->end)
    return (fail (r, "trailing data"), NULL);

  return hk_snapshot_builder_end (g_steal_pointer (&builder));
}

/* Parses the contents of a snapshot file. */
HkSnapshot *
hk_snapshot_new_from_bytes (GBytes      *bytes,
                            const char  *display_name,
                            GError     **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  guint32 version;
  guint64 payload_len;
  Reader reader;
  HkSnapshot *snapshot;

  if (len < sizeof snapshot_magic || memcmp (data, snapshot_magic, sizeof snapshot_magic) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "“%s” is not a hachiko snapshot", display_name);
      return NULL;
    }
  if (len < HEADER_SIZE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Snapshot “%s” is truncated", display_name);
      return NULL;
    }

  version = (guint32) get_le (data + 8, 4);
  if (version != FORMAT_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "Snapshot “%s” has format version %u; this hachiko reads version %u",
                   display_name, version, FORMAT_VERSION);
      return NULL;
    }

  payload_len = get_le (data + 16, 8);
  if (payload_len != len - HEADER_SIZE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   payload_len > len - HEADER_SIZE ? "Snapshot “%s” is truncated"
                                                   : "Snapshot “%s” has trailing data",
                   display_name);
      return NULL;
    }
  if (compute_crc32 (data + HEADER_SIZE, payload_len) != (guint32) get_le (data + 12, 4))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Snapshot “%s” is corrupt (checksum mismatch)", display_name);
      return NULL;
    }

  /* The checksum only catches accidents; the parser trusts nothing. */
  reader = (Reader) { data + HEADER_SIZE, data + len, NULL };
  snapshot = parse_payload (&reader);
  if (snapshot == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "Snapshot “%s” is corrupt: %s", display_name,
                 reader.problem != NULL ? reader.problem : "invalid data");
  return snapshot;
}

/* Larger than any snapshot of a real tree (about 25 bytes per entry). */
#define MAX_FILE_SIZE (G_GINT64_CONSTANT (16) << 30)

/**
 * hk_snapshot_load:
 * @file: a file written by [method@Hk.Snapshot.save]
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Reads a snapshot back. A file that is not a snapshot, truncated or
 * corrupt gives %G_IO_ERROR_INVALID_DATA; one written by a newer format
 * version gives %G_IO_ERROR_NOT_SUPPORTED.
 *
 * Returns: (transfer full): the snapshot, or %NULL with @error set
 *
 * Since: 1.0
 */
HkSnapshot *
hk_snapshot_load (GFile         *file,
                  GCancellable  *cancellable,
                  GError       **error)
{
  g_autoptr(GFileInfo) info = NULL;
  g_autofree char *display = NULL;
  g_autoptr(GBytes) bytes = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  display = g_file_get_parse_name (file);

  /* Only regular files: reading a device or a FIFO could never end. */
  info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
                            G_FILE_QUERY_INFO_NONE, cancellable, error);
  if (info == NULL)
    return NULL;
  if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "“%s” is not a regular file", display);
      return NULL;
    }
  if (g_file_info_get_size (info) > MAX_FILE_SIZE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "“%s” is too large to be a hachiko snapshot", display);
      return NULL;
    }

  if (!g_file_load_contents (file, cancellable, &contents, &len, NULL, error))
    return NULL;
  bytes = g_bytes_new_take (contents, len);

  return hk_snapshot_new_from_bytes (bytes, display, error);
}

/* --- diff --------------------------------------------------------------- */

/* Match states, per entry: 0 = unmatched, else index + 1 of the entry it
 * corresponds to in the other snapshot, or IGNORED (below a directory that
 * one of the snapshots could not read). */
#define IGNORED G_MAXUINT32

typedef struct
{
  guint64 dev;
  guint64 ino;
  guint32 entry;
  guint32 dir;
} Identity;

typedef struct
{
  HkSnapshot *old;
  HkSnapshot *new;
  guint32    *old_match;
  guint32    *new_match;
  guint8     *new_moved;
  GArray     *pairs;        /* (old dir, new dir) whose contents to match */
  GHashTable *replaced;     /* new entry + 1 -> old entry + 1 of the same name */
  GHashTable *old_parent;   /* moved new entry + 1 -> old parent dir + 1 */
  GHashTable *suppressed;   /* old entry + 1 not reported as deleted */
  GPtrArray  *events;
  GArray     *chain;
  gboolean    synthetic;
  gint64      timestamp;
} Diff;

static inline guint64
entry_dev (HkSnapshot  *snap,
           guint32      dir,
           const Entry *e)
{
  return mode_is_dir (e->mode) ? snap->dirs[e->size].dev : snap->dirs[dir].dev;
}

static void
mark_subtree_ignored (HkSnapshot *snap,
                      guint32    *match,
                      guint32     dir)
{
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint32));

  g_array_append_val (stack, dir);
  while (stack->len > 0)
    {
      guint32 d = g_array_index (stack, guint32, stack->len - 1);
      const Dir *top = &snap->dirs[d];

      g_array_set_size (stack, stack->len - 1);
      for (guint32 i = top->first; i < top->first + top->n; i++)
        {
          match[i] = IGNORED;
          if (mode_is_dir (snap->entries[i].mode))
            {
              guint32 child = (guint32) snap->entries[i].size;

              g_array_append_val (stack, child);
            }
        }
    }
}

/* Matches the entries of two directories by name and identity (same
 * type, device and inode), queueing matched subdirectories. */
static void
match_pairs (Diff *diff)
{
  HkSnapshot *old = diff->old, *new = diff->new;

  while (diff->pairs->len > 0)
    {
      guint32 od = g_array_index (diff->pairs, guint32, diff->pairs->len - 2);
      guint32 nd = g_array_index (diff->pairs, guint32, diff->pairs->len - 1);
      const Dir *o = &old->dirs[od], *n = &new->dirs[nd];
      guint i = 0, j = 0;

      g_array_set_size (diff->pairs, diff->pairs->len - 2);

      if ((o->flags | n->flags) & DIR_UNREADABLE)
        {
          mark_subtree_ignored (old, diff->old_match, od);
          mark_subtree_ignored (new, diff->new_match, nd);
          continue;
        }

      while (i < o->n && j < n->n)
        {
          guint32 oi = o->first + i, ni = n->first + j;
          const Entry *oe = &old->entries[oi], *ne = &new->entries[ni];
          int c = strcmp (old->names + oe->name, new->names + ne->name);

          if (c < 0)
            {
              i++;
              continue;
            }
          if (c > 0)
            {
              j++;
              continue;
            }
          i++, j++;

          /* Already paired as a move (a rename into a moved directory). */
          if (diff->old_match[oi] != 0 || diff->new_match[ni] != 0)
            continue;
          if ((oe->mode & S_IFMT) != (ne->mode & S_IFMT) || oe->ino != ne->ino ||
              entry_dev (old, od, oe) != entry_dev (new, nd, ne))
            {
              g_hash_table_insert (diff->replaced, GUINT_TO_POINTER (ni + 1), GUINT_TO_POINTER (oi + 1));
              continue;
            }

          diff->old_match[oi] = ni + 1;
          diff->new_match[ni] = oi + 1;
          if (mode_is_dir (ne->mode))
            {
              guint32 pair[2] = { (guint32) oe->size, (guint32) ne->size };

              g_array_append_vals (diff->pairs, pair, 2);
            }
        }
    }
}

static guint
identity_hash (gconstpointer key)
{
  const Identity *id = key;

  return (guint) (id->ino * 0x9e3779b97f4a7c15ull >> 32) ^ (guint) id->dev;
}

static gboolean
identity_equal (gconstpointer a,
                gconstpointer b)
{
  const Identity *ia = a, *ib = b;

  return ia->ino == ib->ino && ia->dev == ib->dev;
}

/* An inode that disappeared from one place and appeared at another is a
 * move. New entries are visited breadth first, so a moved directory's
 * contents are matched by name (and not reported) before they are met. */
static void
match_moves (Diff *diff)
{
  HkSnapshot *old = diff->old, *new = diff->new;
  g_autoptr(GArray) unmatched = g_array_new (FALSE, FALSE, sizeof (Identity));
  g_autoptr(GHashTable) by_identity = NULL;

  for (guint32 d = 0; d < old->n_dirs; d++)
    for (guint32 i = old->dirs[d].first; i < old->dirs[d].first + old->dirs[d].n; i++)
      if (diff->old_match[i] == 0)
        {
          Identity id = { entry_dev (old, d, &old->entries[i]), old->entries[i].ino, i, d };

          g_array_append_val (unmatched, id);
        }
  if (unmatched->len == 0)
    return;

  by_identity = g_hash_table_new (identity_hash, identity_equal);
  for (guint k = 0; k < unmatched->len; k++)
    g_hash_table_add (by_identity, &g_array_index (unmatched, Identity, k));

  for (guint32 d = 0; d < new->n_dirs; d++)
    for (guint32 i = new->dirs[d].first; i < new->dirs[d].first + new->dirs[d].n; i++)
      {
        const Entry *ne = &new->entries[i];
        Identity key = { entry_dev (new, d, ne), ne->ino, 0, 0 };
        const Identity *found;
        const Entry *oe;

        if (diff->new_match[i] != 0)
          continue;
        found = g_hash_table_lookup (by_identity, &key);
        if (found == NULL || diff->old_match[found->entry] != 0)
          continue;
        oe = &old->entries[found->entry];
        if ((oe->mode & S_IFMT) != (ne->mode & S_IFMT))
          continue;
        /* Inode numbers are reused: a file deleted and another created
         * later may get the same one. A rename keeps size and mtime, so a
         * file whose content changed too is not taken for a move. */
        if (!mode_is_dir (ne->mode) && (oe->size != ne->size || oe->mtime_ns != ne->mtime_ns))
          continue;

        diff->old_match[found->entry] = i + 1;
        diff->new_match[i] = found->entry + 1;
        diff->new_moved[i] = TRUE;
        g_hash_table_insert (diff->old_parent, GUINT_TO_POINTER (i + 1), GUINT_TO_POINTER (found->dir + 1));
        if (mode_is_dir (ne->mode))
          {
            guint32 pair[2] = { (guint32) oe->size, (guint32) ne->size };

            g_array_append_vals (diff->pairs, pair, 2);
            match_pairs (diff);
          }
      }
}

/* A rename onto an existing name replaces it; as for live events, that is
 * the move alone (unless what was replaced was a directory with contents,
 * whose deletion is then worth reporting). */
static void
find_replaced_by_moves (Diff *diff)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, diff->replaced);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint32 ni = GPOINTER_TO_UINT (key) - 1, oi = GPOINTER_TO_UINT (value) - 1;
      const Entry *oe = &diff->old->entries[oi];

      if (!diff->new_moved[ni] || diff->old_match[oi] != 0)
        continue;
      if (mode_is_dir (oe->mode) && diff->old->dirs[oe->size].n > 0)
        continue;
      g_hash_table_add (diff->suppressed, GUINT_TO_POINTER (oi + 1));
    }
}

static char *
entry_path (Diff       *diff,
            HkSnapshot *snap,
            guint32     dir,
            guint32     entry)
{
  const char *root = diff->new->root_path;
  GString *path = g_string_new (root);
  const Entry *e = &snap->entries[entry];

  append_dir_path (path, snap->entries, snap->dirs, snap->names, dir, diff->chain);
  if (path->len > 0 && path->str[path->len - 1] != '/')
    g_string_append_c (path, '/');
  g_string_append_len (path, snap->names + e->name, e->name_len);

  return g_string_free (path, FALSE);
}

static void
emit (Diff        *diff,
      HkEventType  type,
      char        *path,
      char        *dest_path,
      gboolean     is_directory)
{
  g_ptr_array_add (diff->events, hk_event_new_take (type, path, dest_path, is_directory,
                                                    diff->synthetic, diff->timestamp));
}

typedef struct
{
  guint32 dir;
  guint32 pos;
  guint32 entry;   /* the directory's own entry, or HK_SNAPSHOT_NO_DIR */
} Frame;

/* Deletions, contents before their directory, at their old paths. */
static void
report_deletions (Diff *diff)
{
  HkSnapshot *old = diff->old;
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (Frame));
  Frame root = { 0, 0, HK_SNAPSHOT_NO_DIR };

  g_array_append_val (stack, root);
  while (stack->len > 0)
    {
      Frame *top = &g_array_index (stack, Frame, stack->len - 1);
      const Dir *dir = &old->dirs[top->dir];

      if (top->pos < dir->n)
        {
          guint32 i = dir->first + top->pos++;
          const Entry *e = &old->entries[i];
          guint32 parent = top->dir;

          if (diff->old_match[i] == IGNORED)
            continue;
          if (mode_is_dir (e->mode))
            {
              Frame child = { (guint32) e->size, 0, i };

              g_array_append_val (stack, child);
            }
          else if (diff->old_match[i] == 0 &&
                   !g_hash_table_contains (diff->suppressed, GUINT_TO_POINTER (i + 1)))
            emit (diff, HK_EVENT_DELETED, entry_path (diff, old, parent, i), NULL, FALSE);
          continue;
        }

      {
        Frame done = *top;

        g_array_set_size (stack, stack->len - 1);
        if (done.entry != HK_SNAPSHOT_NO_DIR && diff->old_match[done.entry] == 0 &&
            !g_hash_table_contains (diff->suppressed, GUINT_TO_POINTER (done.entry + 1)))
          emit (diff, HK_EVENT_DELETED,
                entry_path (diff, old, old->dirs[done.dir].parent, done.entry), NULL, TRUE);
      }
    }
}

static void
report_changes (Diff        *diff,
                guint32      dir,
                guint32      i,
                const Entry *oe,
                gboolean     moved)
{
  const Entry *ne = &diff->new->entries[i];
  HkEventType type;

  if (mode_is_dir (ne->mode))
    {
      /* A directory's times change with its contents: only its mode is
       * news. */
      if (oe->mode == ne->mode)
        return;
      type = HK_EVENT_ATTRIBUTE_CHANGED;
    }
  else if (oe->size != ne->size || oe->mtime_ns != ne->mtime_ns)
    type = HK_EVENT_MODIFIED;
  else if (oe->mode != ne->mode || (!moved && oe->ctime_ns != ne->ctime_ns))
    type = HK_EVENT_ATTRIBUTE_CHANGED;  /* a rename alone changes the ctime */
  else
    return;

  emit (diff, type, entry_path (diff, diff->new, dir, i), NULL, mode_is_dir (ne->mode));
}

/* Creations, moves and changes, directories before their contents. */
static void
report_new_tree (Diff *diff)
{
  HkSnapshot *new = diff->new;
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (Frame));
  Frame root = { 0, 0, HK_SNAPSHOT_NO_DIR };

  g_array_append_val (stack, root);
  while (stack->len > 0)
    {
      Frame *top = &g_array_index (stack, Frame, stack->len - 1);
      const Dir *dir = &new->dirs[top->dir];
      guint32 i, parent, match;
      const Entry *e;

      if (top->pos >= dir->n)
        {
          g_array_set_size (stack, stack->len - 1);
          continue;
        }

      i = dir->first + top->pos++;
      e = &new->entries[i];
      parent = top->dir;
      match = diff->new_match[i];
      if (match == IGNORED)
        continue;

      if (match == 0)
        emit (diff, HK_EVENT_CREATED, entry_path (diff, new, parent, i), NULL, mode_is_dir (e->mode));
      else
        {
          const Entry *oe = &diff->old->entries[match - 1];

          if (diff->new_moved[i])
            {
              guint32 old_parent = GPOINTER_TO_UINT (g_hash_table_lookup (diff->old_parent,
                                                                          GUINT_TO_POINTER (i + 1))) - 1;

              emit (diff, HK_EVENT_MOVED, entry_path (diff, diff->old, old_parent, match - 1),
                    entry_path (diff, new, parent, i), mode_is_dir (e->mode));
            }
          report_changes (diff, parent, i, oe, diff->new_moved[i]);
        }

      if (mode_is_dir (e->mode))
        {
          Frame child = { (guint32) e->size, 0, i };

          g_array_append_val (stack, child);
        }
    }
}

GPtrArray *
hk_snapshot_diff_full (HkSnapshot *old_snapshot,
                       HkSnapshot *new_snapshot,
                       gboolean    synthetic,
                       gint64      timestamp)
{
  Diff diff = {
    .old = old_snapshot,
    .new = new_snapshot,
    .old_match = g_new0 (guint32, MAX (old_snapshot->n_entries, 1)),
    .new_match = g_new0 (guint32, MAX (new_snapshot->n_entries, 1)),
    .new_moved = g_new0 (guint8, MAX (new_snapshot->n_entries, 1)),
    .pairs = g_array_new (FALSE, FALSE, sizeof (guint32)),
    .replaced = g_hash_table_new (NULL, NULL),
    .old_parent = g_hash_table_new (NULL, NULL),
    .suppressed = g_hash_table_new (NULL, NULL),
    .events = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref),
    .chain = g_array_new (FALSE, FALSE, sizeof (guint32)),
    .synthetic = synthetic,
    .timestamp = timestamp,
  };
  guint32 roots[2] = { 0, 0 };

  g_array_append_vals (diff.pairs, roots, 2);
  match_pairs (&diff);
  match_moves (&diff);
  find_replaced_by_moves (&diff);

  report_deletions (&diff);
  report_new_tree (&diff);

  g_free (diff.old_match);
  g_free (diff.new_match);
  g_free (diff.new_moved);
  g_array_unref (diff.pairs);
  g_hash_table_unref (diff.replaced);
  g_hash_table_unref (diff.old_parent);
  g_hash_table_unref (diff.suppressed);
  g_array_unref (diff.chain);

  return diff.events;
}

/**
 * hk_snapshot_diff:
 * @old_snapshot: the earlier snapshot
 * @new_snapshot: the later snapshot of the same tree
 *
 * Tells what changed between two snapshots, as events marked synthetic:
 *
 * - %HK_EVENT_DELETED for every entry gone, contents before their
 *   directory, then, in the new tree's order (a directory before its
 *   contents):
 * - %HK_EVENT_MOVED where an inode (on the same device) reappears under
 *   another name: one event for a moved directory, its contents are not
 *   repeated; renaming onto an existing name is the move alone;
 * - %HK_EVENT_CREATED for every new entry;
 * - %HK_EVENT_MODIFIED for a file whose size or modification time changed;
 * - %HK_EVENT_ATTRIBUTE_CHANGED for an entry whose mode changed, or a file
 *   whose change time alone changed.
 *
 * An entry replaced by another inode under the same name is deleted and
 * created. Paths are absolute, under @new_snapshot's root; a move's source
 * is where the entry was in @old_snapshot. Nothing is reported below a
 * directory that either snapshot could not read.
 *
 * The array owns its events (its free function unrefs them), so
 * g_ptr_array_unref() frees everything. It is annotated
 * `(transfer container)` for that reason: with `(transfer full)` the
 * bindings of Debian 12 (PyGObject 3.42, GJS 1.74) would unref each event
 * once more.
 *
 * Returns: (transfer container) (element-type Hk.Event): the events, in
 *   order
 *
 * Since: 1.0
 */
GPtrArray *
hk_snapshot_diff (HkSnapshot *old_snapshot,
                  HkSnapshot *new_snapshot)
{
  g_return_val_if_fail (HK_IS_SNAPSHOT (old_snapshot), NULL);
  g_return_val_if_fail (HK_IS_SNAPSHOT (new_snapshot), NULL);

  return hk_snapshot_diff_full (old_snapshot, new_snapshot, TRUE, g_get_monotonic_time ());
}

/* --- queries ------------------------------------------------------------ */

gboolean
hk_snapshot_equal (HkSnapshot *a,
                   HkSnapshot *b)
{
  const Entry *ra = &a->root_entry, *rb = &b->root_entry;

  if (a->n_entries != b->n_entries || a->n_dirs != b->n_dirs ||
      ra->ino != rb->ino || ra->mode != rb->mode || ra->mtime_ns != rb->mtime_ns ||
      ra->ctime_ns != rb->ctime_ns)
    return FALSE;

  for (guint d = 0; d < a->n_dirs; d++)
    if (a->dirs[d].first != b->dirs[d].first || a->dirs[d].n != b->dirs[d].n ||
        a->dirs[d].parent != b->dirs[d].parent || a->dirs[d].dev != b->dirs[d].dev ||
        a->dirs[d].flags != b->dirs[d].flags)
      return FALSE;

  for (guint i = 0; i < a->n_entries; i++)
    {
      const Entry *ea = &a->entries[i], *eb = &b->entries[i];

      if (ea->name_len != eb->name_len || ea->mode != eb->mode || ea->ino != eb->ino ||
          ea->size != eb->size || ea->mtime_ns != eb->mtime_ns || ea->ctime_ns != eb->ctime_ns ||
          memcmp (a->names + ea->name, b->names + eb->name, ea->name_len) != 0)
        return FALSE;
    }

  return TRUE;
}

const char *
hk_snapshot_get_root_path (HkSnapshot *self)
{
  return self->root_path;
}

gint64
hk_snapshot_get_duration (HkSnapshot *self)
{
  return self->duration_us;
}

guint
hk_snapshot_get_n_unreadable (HkSnapshot *self)
{
  return self->n_unreadable;
}

gsize
hk_snapshot_get_memory_size (HkSnapshot *self)
{
  return sizeof *self + self->n_entries * sizeof (Entry) + self->n_dirs * sizeof (Dir) +
         self->names_len + strlen (self->root_path) + 1;
}

/**
 * hk_snapshot_get_root:
 * @self: a snapshot
 *
 * Gets the directory the snapshot is of.
 *
 * Returns: (transfer none): the root
 *
 * Since: 1.0
 */
GFile *
hk_snapshot_get_root (HkSnapshot *self)
{
  g_return_val_if_fail (HK_IS_SNAPSHOT (self), NULL);

  return self->root;
}

/**
 * hk_snapshot_get_n_entries:
 * @self: a snapshot
 *
 * Gets how many entries (files, directories, links, ...) the snapshot
 * records, not counting the root.
 *
 * Returns: the number of entries
 *
 * Since: 1.0
 */
guint
hk_snapshot_get_n_entries (HkSnapshot *self)
{
  g_return_val_if_fail (HK_IS_SNAPSHOT (self), 0);

  return self->n_entries;
}

/**
 * hk_snapshot_get_taken_at:
 * @self: a snapshot
 *
 * Gets when the walk that took the snapshot started: changes made before
 * that are in the snapshot.
 *
 * Returns: wall-clock time in microseconds since the Unix epoch, as
 *   g_get_real_time()
 *
 * Since: 1.0
 */
gint64
hk_snapshot_get_taken_at (HkSnapshot *self)
{
  g_return_val_if_fail (HK_IS_SNAPSHOT (self), 0);

  return self->taken_at_us;
}

static const Entry *
find_in_dir (HkSnapshot *self,
             guint32     dir,
             const char *name,
             gsize       len)
{
  const Dir *d = &self->dirs[dir];
  guint lo = 0, hi = d->n;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      const Entry *e = &self->entries[d->first + mid];
      int c = strncmp (self->names + e->name, name, len);

      if (c == 0)
        c = e->name_len > len ? 1 : 0;
      if (c == 0)
        return e;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }

  return NULL;
}

/**
 * hk_snapshot_lookup:
 * @self: a snapshot
 * @path: (type filename): a path relative to the root, or an absolute path
 *   under it; "" or "." is the root itself
 * @file_type: (out) (optional): the entry's type
 * @size: (out) (optional): its size in bytes (0 for a directory)
 * @mtime_us: (out) (optional): its modification time, in microseconds
 *   since the Unix epoch (as g_get_real_time(); a snapshot keeps
 *   nanoseconds, but they do not fit a JavaScript number)
 * @inode: (out) (optional): its inode number
 *
 * Tells what the snapshot knows about one path.
 *
 * Returns: %TRUE if the snapshot has an entry at @path
 *
 * Since: 1.0
 */
gboolean
hk_snapshot_lookup (HkSnapshot *self,
                    const char *path,
                    GFileType  *file_type,
                    guint64    *size,
                    gint64     *mtime_us,
                    guint64    *inode)
{
  const Entry *e = &self->root_entry;
  guint32 dir = 0;
  const char *p;

  g_return_val_if_fail (HK_IS_SNAPSHOT (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (path[0] == '/')
    {
      gsize root_len = strlen (self->root_path);

      while (root_len > 1 && self->root_path[root_len - 1] == '/')
        root_len--;
      if (strncmp (path, self->root_path, root_len) != 0 ||
          (path[root_len] != '/' && path[root_len] != '\0' && root_len > 1))
        return FALSE;
      path += root_len;
    }

  for (p = path; *p != '\0';)
    {
      const char *end = strchrnul (p, '/');
      gsize len = end - p;

      if (len == 0 || (len == 1 && p[0] == '.'))
        {
          p = *end == '/' ? end + 1 : end;
          continue;
        }
      if (!mode_is_dir (e->mode) || len > MAX_NAME_LEN)
        return FALSE;
      e = find_in_dir (self, dir, p, len);
      if (e == NULL)
        return FALSE;
      if (mode_is_dir (e->mode))
        dir = (guint32) e->size;
      p = *end == '/' ? end + 1 : end;
    }

  if (file_type != NULL)
    *file_type = file_type_from_mode (e->mode);
  if (size != NULL)
    *size = mode_is_dir (e->mode) ? 0 : e->size;
  if (mtime_us != NULL)
    *mtime_us = e->mtime_ns / 1000;
  if (inode != NULL)
    *inode = e->ino;
  return TRUE;
}

/* --- GObject ------------------------------------------------------------ */

static void
hk_snapshot_finalize (GObject *object)
{
  HkSnapshot *self = HK_SNAPSHOT (object);

  g_clear_object (&self->root);
  g_free (self->root_path);
  g_free (self->entries);
  g_free (self->dirs);
  g_free (self->names);

  G_OBJECT_CLASS (hk_snapshot_parent_class)->finalize (object);
}

static void
hk_snapshot_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  HkSnapshot *self = HK_SNAPSHOT (object);

  switch (prop_id)
    {
    case PROP_ROOT:
      g_value_set_object (value, self->root);
      break;
    case PROP_N_ENTRIES:
      g_value_set_uint (value, self->n_entries);
      break;
    case PROP_TAKEN_AT:
      g_value_set_int64 (value, self->taken_at_us);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_snapshot_class_init (HkSnapshotClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hk_snapshot_finalize;
  object_class->get_property = hk_snapshot_get_property;

  /**
   * HkSnapshot:root: (getter get_root)
   *
   * The directory the snapshot is of.
   *
   * Since: 1.0
   */
  properties[PROP_ROOT] =
    g_param_spec_object ("root", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * HkSnapshot:n-entries: (getter get_n_entries)
   *
   * How many entries the snapshot records, not counting the root.
   *
   * Since: 1.0
   */
  properties[PROP_N_ENTRIES] =
    g_param_spec_uint ("n-entries", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * HkSnapshot:taken-at: (getter get_taken_at)
   *
   * When the walk started, in microseconds since the Unix epoch.
   *
   * Since: 1.0
   */
  properties[PROP_TAKEN_AT] =
    g_param_spec_int64 ("taken-at", NULL, NULL, G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* A snapshot made with g_object_new() (Hk.Snapshot() in a binding) is a
 * valid, empty one of "/", so that no call on it can crash. */
static void
hk_snapshot_init (HkSnapshot *self)
{
  self->root_path = g_strdup ("/");
  self->root = g_file_new_for_path (self->root_path);
  self->root_entry.mode = S_IFDIR;
  self->dirs = g_new0 (Dir, 1);
  self->dirs[0].parent = self->dirs[0].self = HK_SNAPSHOT_NO_DIR;
  self->n_dirs = 1;
  self->names = g_malloc0 (1);
}
