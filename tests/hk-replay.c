/* hk-replay.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "hk-replay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_ANOMALIES 200

const char *
hk_replay_kind_to_string (HkReplayKind kind)
{
  switch (kind)
    {
    case HK_REPLAY_KIND_FILE:
      return "file";
    case HK_REPLAY_KIND_DIR:
      return "dir";
    case HK_REPLAY_KIND_SYMLINK:
      return "symlink";
    case HK_REPLAY_KIND_OTHER:
    default:
      return "other";
    }
}

static gboolean
set_error_from_errno (GError     **error,
                      int          saved_errno,
                      const char  *what,
                      const char  *path)
{
  g_autofree char *escaped = hk_replay_escape_path (path);

  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
               "%s %s: %s", what, escaped, g_strerror (saved_errno));
  return FALSE;
}

/* "a/b", "c" -> "a/b/c"; "", "c" -> "c" */
static char *
rel_join (const char *parent,
          const char *name)
{
  if (parent[0] == '\0')
    return g_strdup (name);
  return g_strconcat (parent, "/", name, NULL);
}

/* "a/b/c" -> "a/b"; "c" -> "" */
static char *
rel_parent (const char *rel)
{
  const char *slash = strrchr (rel, '/');

  if (slash == NULL)
    return g_strdup ("");
  return g_strndup (rel, slash - rel);
}

/* Whether @rel is @ancestor or lies below it. */
static gboolean
rel_is_within (const char *rel,
               const char *ancestor)
{
  size_t len = strlen (ancestor);

  if (len == 0)
    return TRUE;
  if (strncmp (rel, ancestor, len) != 0)
    return FALSE;
  return rel[len] == '\0' || rel[len] == '/';
}

char *
hk_replay_escape_path (const char *path)
{
  g_autofree char *escaped = NULL;

  if (path == NULL)
    return g_strdup ("(null)");

  escaped = g_strescape (path, NULL);
  return g_strdup_printf ("'%s'", escaped);
}

/* Trees */

struct _HkReplayTree
{
  GHashTable *entries;  /* relative path (owned) -> GINT_TO_POINTER (HkReplayKind) */
};

HkReplayTree *
hk_replay_tree_new (void)
{
  HkReplayTree *self = g_new0 (HkReplayTree, 1);

  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

HkReplayTree *
hk_replay_tree_copy (HkReplayTree *self)
{
  HkReplayTree *copy = hk_replay_tree_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (copy->entries, g_strdup (key), value);
  return copy;
}

void
hk_replay_tree_free (HkReplayTree *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->entries);
  g_free (self);
}

static HkReplayKind
kind_from_mode (mode_t mode)
{
  if (S_ISDIR (mode))
    return HK_REPLAY_KIND_DIR;
  if (S_ISREG (mode))
    return HK_REPLAY_KIND_FILE;
  if (S_ISLNK (mode))
    return HK_REPLAY_KIND_SYMLINK;
  return HK_REPLAY_KIND_OTHER;
}

static gboolean scan_entry (HkReplayTree  *self,
                            const char    *abs_path,
                            const char    *rel_path,
                            GError       **error);

gboolean
hk_replay_tree_scan_into (HkReplayTree  *self,
                          const char    *abs_dir,
                          const char    *rel_prefix,
                          GError       **error)
{
  DIR *dir;
  struct dirent *dent;
  gboolean ok = TRUE;

  dir = opendir (abs_dir);
  if (dir == NULL)
    return set_error_from_errno (error, errno, "opendir", abs_dir);

  while (ok && (errno = 0, dent = readdir (dir)) != NULL)
    {
      g_autofree char *abs_child = NULL;
      g_autofree char *rel_child = NULL;

      if (strcmp (dent->d_name, ".") == 0 || strcmp (dent->d_name, "..") == 0)
        continue;

      abs_child = g_build_filename (abs_dir, dent->d_name, NULL);
      rel_child = rel_join (rel_prefix, dent->d_name);
      ok = scan_entry (self, abs_child, rel_child, error);
    }

  if (ok && errno != 0)
    ok = set_error_from_errno (error, errno, "readdir", abs_dir);

  closedir (dir);
  return ok;
}

static gboolean
scan_entry (HkReplayTree  *self,
            const char    *abs_path,
            const char    *rel_path,
            GError       **error)
{
  struct stat st;
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  if (lstat (abs_path, &st) != 0)
    return set_error_from_errno (error, errno, "lstat", abs_path);

  kind = kind_from_mode (st.st_mode);
  hk_replay_tree_insert (self, rel_path, kind);

  if (kind == HK_REPLAY_KIND_DIR)
    return hk_replay_tree_scan_into (self, abs_path, rel_path, error);
  return TRUE;
}

HkReplayTree *
hk_replay_tree_scan (const char  *root,
                     GError     **error)
{
  g_autoptr(HkReplayTree) tree = hk_replay_tree_new ();

  if (!hk_replay_tree_scan_into (tree, root, "", error))
    return NULL;
  return g_steal_pointer (&tree);
}

guint
hk_replay_tree_get_size (HkReplayTree *self)
{
  return g_hash_table_size (self->entries);
}

gboolean
hk_replay_tree_lookup (HkReplayTree *self,
                       const char   *rel_path,
                       HkReplayKind *kind)
{
  gpointer value;

  if (!g_hash_table_lookup_extended (self->entries, rel_path, NULL, &value))
    return FALSE;
  if (kind != NULL)
    *kind = GPOINTER_TO_INT (value);
  return TRUE;
}

void
hk_replay_tree_insert (HkReplayTree *self,
                       const char   *rel_path,
                       HkReplayKind  kind)
{
  g_return_if_fail (rel_path != NULL && rel_path[0] != '\0');

  g_hash_table_replace (self->entries, g_strdup (rel_path), GINT_TO_POINTER (kind));
}

guint
hk_replay_tree_remove_subtree (HkReplayTree *self,
                               const char   *rel_path)
{
  GHashTableIter iter;
  gpointer key;
  guint removed = 0;

  g_return_val_if_fail (rel_path != NULL && rel_path[0] != '\0', 0);

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      if (rel_is_within (key, rel_path))
        {
          g_hash_table_iter_remove (&iter);
          removed++;
        }
    }
  return removed;
}

/* Moves @src and everything below it to @dest, replacing whatever was at
 * @dest (as rename(2) does). Returns the number of entries moved. */
guint
hk_replay_tree_move_subtree (HkReplayTree *self,
                             const char   *src,
                             const char   *dest)
{
  g_autoptr(GPtrArray) moved = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) kinds = g_array_new (FALSE, FALSE, sizeof (int));
  size_t src_len = strlen (src);
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (src[0] != '\0' && dest[0] != '\0', 0);
  g_return_val_if_fail (!rel_is_within (dest, src), 0);

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      int kind = GPOINTER_TO_INT (value);

      if (!rel_is_within (key, src))
        continue;
      g_ptr_array_add (moved, g_strconcat (dest, (const char *) key + src_len, NULL));
      g_array_append_val (kinds, kind);
      g_hash_table_iter_remove (&iter);
    }

  if (moved->len > 0)
    hk_replay_tree_remove_subtree (self, dest);

  for (guint i = 0; i < moved->len; i++)
    hk_replay_tree_insert (self, g_ptr_array_index (moved, i),
                           g_array_index (kinds, int, i));

  return moved->len;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The paths whose kind is in @kind_mask, sorted bytewise (so the order does
 * not depend on the hash table's history). */
GPtrArray *
hk_replay_tree_list (HkReplayTree *self,
                     guint         kind_mask)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      if (kind_mask & HK_REPLAY_KIND_MASK (GPOINTER_TO_INT (value)))
        g_ptr_array_add (list, g_strdup (key));
    }
  g_ptr_array_sort (list, compare_strings);
  return list;
}

/* Differences */

static gboolean
kinds_match (HkReplayKind     a,
             HkReplayKind     b,
             HkReplayDiffMode mode)
{
  if (mode == HK_REPLAY_DIFF_EXACT)
    return a == b;
  return (a == HK_REPLAY_KIND_DIR) == (b == HK_REPLAY_KIND_DIR);
}

/* One human-readable line per difference, sorted by path: "missing" means in
 * @expected only, "unexpected" in @actual only. */
GPtrArray *
hk_replay_tree_diff (HkReplayTree     *expected,
                     HkReplayTree     *actual,
                     HkReplayDiffMode  mode)
{
  g_autoptr(GPtrArray) paths = hk_replay_tree_list (expected, HK_REPLAY_KIND_MASK_ALL);
  g_autoptr(GPtrArray) extra = hk_replay_tree_list (actual, HK_REPLAY_KIND_MASK_ALL);
  GPtrArray *diff = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < extra->len; i++)
    {
      if (!hk_replay_tree_lookup (expected, g_ptr_array_index (extra, i), NULL))
        g_ptr_array_add (paths, g_strdup (g_ptr_array_index (extra, i)));
    }
  g_ptr_array_sort (paths, compare_strings);

  for (guint i = 0; i < paths->len; i++)
    {
      const char *path = g_ptr_array_index (paths, i);
      g_autofree char *escaped = hk_replay_escape_path (path);
      HkReplayKind want = HK_REPLAY_KIND_OTHER, got = HK_REPLAY_KIND_OTHER;
      gboolean in_expected = hk_replay_tree_lookup (expected, path, &want);
      gboolean in_actual = hk_replay_tree_lookup (actual, path, &got);

      if (!in_actual)
        g_ptr_array_add (diff, g_strdup_printf ("missing    %s (%s)", escaped,
                                                hk_replay_kind_to_string (want)));
      else if (!in_expected)
        g_ptr_array_add (diff, g_strdup_printf ("unexpected %s (%s)", escaped,
                                                hk_replay_kind_to_string (got)));
      else if (!kinds_match (want, got, mode))
        g_ptr_array_add (diff, g_strdup_printf ("wrong kind %s: %s, expected %s", escaped,
                                                hk_replay_kind_to_string (got),
                                                hk_replay_kind_to_string (want)));
    }

  return diff;
}

/* Replaying events */

struct _HkReplayModel
{
  char         *root;
  HkReplayTree *tree;
  guint         n_applied;
  guint         n_duplicates;
  guint         n_anomalies;
  GPtrArray    *anomalies;
};

HkReplayModel *
hk_replay_model_new (const char   *root,
                     HkReplayTree *initial)
{
  HkReplayModel *self = g_new0 (HkReplayModel, 1);
  size_t len = strlen (root);

  while (len > 1 && root[len - 1] == '/')
    len--;
  self->root = g_strndup (root, len);
  self->tree = initial != NULL ? hk_replay_tree_copy (initial) : hk_replay_tree_new ();
  self->anomalies = g_ptr_array_new_with_free_func (g_free);
  return self;
}

void
hk_replay_model_free (HkReplayModel *self)
{
  if (self == NULL)
    return;
  g_free (self->root);
  hk_replay_tree_free (self->tree);
  g_ptr_array_unref (self->anomalies);
  g_free (self);
}

G_GNUC_PRINTF (2, 3)
static void
add_anomaly (HkReplayModel *self,
             const char    *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  self->n_anomalies++;
  if (self->anomalies->len >= MAX_ANOMALIES)
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (self->anomalies,
                   g_strdup_printf ("event #%u: %s", self->n_applied, message));
}

/* Returns the path relative to the root ("" for the root itself), or NULL if
 * @path is not inside the root. */
static const char *
relativize (HkReplayModel *self,
            const char    *path)
{
  size_t len = strlen (self->root);

  if (path == NULL || strncmp (path, self->root, len) != 0)
    return NULL;
  if (path[len] == '\0')
    return path + len;
  if (path[len] != '/' || path[len + 1] == '\0')
    return NULL;
  return path + len + 1;
}

static void
check_parent (HkReplayModel *self,
              const char    *what,
              const char    *rel)
{
  g_autofree char *parent = rel_parent (rel);
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  if (parent[0] == '\0')
    return;

  if (!hk_replay_tree_lookup (self->tree, parent, &kind) || kind != HK_REPLAY_KIND_DIR)
    {
      g_autofree char *escaped = hk_replay_escape_path (rel);

      add_anomaly (self, "%s %s: the parent directory is not in the model", what, escaped);
    }
}

static void
check_kind (HkReplayModel *self,
            const char    *what,
            const char    *rel,
            HkReplayKind   kind,
            gboolean       is_directory)
{
  g_autofree char *escaped = NULL;

  if ((kind == HK_REPLAY_KIND_DIR) == !!is_directory)
    return;

  escaped = hk_replay_escape_path (rel);
  add_anomaly (self, "%s %s: event says %s, the model has %s", what, escaped,
               is_directory ? "directory" : "not a directory",
               hk_replay_kind_to_string (kind));
}

static void
apply_create (HkReplayModel *self,
              const char    *rel,
              gboolean       is_directory)
{
  HkReplayKind new_kind = is_directory ? HK_REPLAY_KIND_DIR : HK_REPLAY_KIND_FILE;
  HkReplayKind old_kind;

  if (rel[0] == '\0')
    {
      add_anomaly (self, "created the root itself");
      return;
    }

  if (hk_replay_tree_lookup (self->tree, rel, &old_kind))
    {
      g_autofree char *escaped = hk_replay_escape_path (rel);

      self->n_duplicates++;
      add_anomaly (self, "created %s (%s): duplicate, the model already has it (%s)",
                   escaped, hk_replay_kind_to_string (new_kind),
                   hk_replay_kind_to_string (old_kind));
      /* A file cannot have children: a directory replaced by a file loses
       * its subtree. */
      if (old_kind == HK_REPLAY_KIND_DIR && !is_directory)
        hk_replay_tree_remove_subtree (self->tree, rel);
    }

  check_parent (self, "created", rel);
  hk_replay_tree_insert (self->tree, rel, new_kind);
}

static void
apply_delete (HkReplayModel *self,
              const char    *rel,
              gboolean       is_directory)
{
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  if (rel[0] == '\0')
    {
      add_anomaly (self, "deleted the root itself");
      return;
    }

  if (!hk_replay_tree_lookup (self->tree, rel, &kind))
    {
      g_autofree char *escaped = hk_replay_escape_path (rel);

      add_anomaly (self, "deleted %s: not in the model", escaped);
      return;
    }

  check_kind (self, "deleted", rel, kind, is_directory);
  hk_replay_tree_remove_subtree (self->tree, rel);
}

static void
apply_move (HkReplayModel *self,
            const char    *rel,
            const char    *dest_rel,
            gboolean       is_directory)
{
  g_autofree char *escaped = hk_replay_escape_path (rel);
  g_autofree char *escaped_dest = hk_replay_escape_path (dest_rel);
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  if (rel[0] == '\0' || dest_rel[0] == '\0')
    {
      add_anomaly (self, "moved %s to %s: the root cannot move", escaped, escaped_dest);
      return;
    }
  if (strcmp (rel, dest_rel) == 0)
    {
      add_anomaly (self, "moved %s onto itself", escaped);
      return;
    }
  if (rel_is_within (dest_rel, rel))
    {
      add_anomaly (self, "moved %s into its own subtree (%s)", escaped, escaped_dest);
      return;
    }

  check_parent (self, "moved to", dest_rel);

  if (!hk_replay_tree_lookup (self->tree, rel, &kind))
    {
      /* Whatever the source was, the destination exists now. */
      add_anomaly (self, "moved %s to %s: the source is not in the model",
                   escaped, escaped_dest);
      hk_replay_tree_remove_subtree (self->tree, dest_rel);
      hk_replay_tree_insert (self->tree, dest_rel,
                             is_directory ? HK_REPLAY_KIND_DIR : HK_REPLAY_KIND_FILE);
      return;
    }

  check_kind (self, "moved", rel, kind, is_directory);
  hk_replay_tree_move_subtree (self->tree, rel, dest_rel);
}

static void
apply_touch (HkReplayModel *self,
             const char    *rel,
             gboolean       is_directory)
{
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  if (rel[0] == '\0')
    return;

  if (!hk_replay_tree_lookup (self->tree, rel, &kind))
    {
      g_autofree char *escaped = hk_replay_escape_path (rel);

      add_anomaly (self, "changed %s: not in the model", escaped);
      return;
    }

  check_kind (self, "changed", rel, kind, is_directory);
}

/* Applies one event, with the semantics the watchdog guarantees; anything
 * that does not fit the model is recorded as an anomaly and applied as best
 * it can be, so that one mistake does not hide the following ones. */
void
hk_replay_model_apply (HkReplayModel  *self,
                       HkReplayChange  change,
                       const char     *path,
                       const char     *dest_path,
                       gboolean        is_directory)
{
  const char *rel = relativize (self, path);
  const char *dest_rel = NULL;

  self->n_applied++;

  if (rel == NULL)
    {
      g_autofree char *escaped = hk_replay_escape_path (path);

      add_anomaly (self, "event for %s, outside the root", escaped);
      return;
    }

  if (change == HK_REPLAY_CHANGE_MOVE)
    {
      dest_rel = relativize (self, dest_path);
      if (dest_rel == NULL)
        {
          g_autofree char *escaped = hk_replay_escape_path (dest_path);

          add_anomaly (self, "move to %s, outside the root", escaped);
          return;
        }
    }

  switch (change)
    {
    case HK_REPLAY_CHANGE_CREATE:
      apply_create (self, rel, is_directory);
      break;
    case HK_REPLAY_CHANGE_DELETE:
      apply_delete (self, rel, is_directory);
      break;
    case HK_REPLAY_CHANGE_MOVE:
      apply_move (self, rel, dest_rel, is_directory);
      break;
    case HK_REPLAY_CHANGE_TOUCH:
    default:
      apply_touch (self, rel, is_directory);
      break;
    }
}

HkReplayTree *
hk_replay_model_get_tree (HkReplayModel *self)
{
  return self->tree;
}

guint
hk_replay_model_get_n_applied (HkReplayModel *self)
{
  return self->n_applied;
}

guint
hk_replay_model_get_n_duplicates (HkReplayModel *self)
{
  return self->n_duplicates;
}

/* The first anomalies (at most MAX_ANOMALIES); the last line, if any more
 * were left out, says how many. */
GPtrArray *
hk_replay_model_get_anomalies (HkReplayModel *self)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < self->anomalies->len; i++)
    g_ptr_array_add (list, g_strdup (g_ptr_array_index (self->anomalies, i)));
  if (self->n_anomalies > self->anomalies->len)
    g_ptr_array_add (list, g_strdup_printf ("... and %u more",
                                            self->n_anomalies - self->anomalies->len));
  return list;
}

/* Removing trees */

gboolean
hk_replay_rm_rf (const char  *path,
                 GError     **error)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    {
      if (errno == ENOENT)
        return TRUE;
      return set_error_from_errno (error, errno, "lstat", path);
    }

  if (S_ISDIR (st.st_mode))
    {
      DIR *dir = opendir (path);
      struct dirent *dent;
      gboolean ok = TRUE;

      if (dir == NULL)
        return set_error_from_errno (error, errno, "opendir", path);

      while (ok && (dent = readdir (dir)) != NULL)
        {
          g_autofree char *child = NULL;

          if (strcmp (dent->d_name, ".") == 0 || strcmp (dent->d_name, "..") == 0)
            continue;
          child = g_build_filename (path, dent->d_name, NULL);
          ok = hk_replay_rm_rf (child, error);
        }
      closedir (dir);

      if (!ok)
        return FALSE;
      if (rmdir (path) != 0 && errno != ENOENT)
        return set_error_from_errno (error, errno, "rmdir", path);
      return TRUE;
    }

  if (unlink (path) != 0 && errno != ENOENT)
    return set_error_from_errno (error, errno, "unlink", path);
  return TRUE;
}

/* Generating operations */

#define MAX_ENTRIES     400
#define MAX_OUTSIDE     8
#define MAX_DEPTH       12

static guint
rel_depth (const char *rel)
{
  guint depth = rel[0] != '\0' ? 1 : 0;

  for (const char *p = rel; *p != '\0'; p++)
    depth += *p == '/';
  return depth;
}

typedef enum
{
  OP_CREATE_FILE,
  OP_WRITE,
  OP_TRUNCATE,
  OP_CHMOD,
  OP_RENAME_FILE,
  OP_RENAME_DIR,
  OP_MOVE_IN,
  OP_MOVE_OUT,
  OP_MKDIR_P,
  OP_RM_RF,
  OP_RAPID,
  OP_SYMLINK,
  OP_HARDLINK,
  N_OPS
} Op;

static const guint op_weights[N_OPS] = {
  [OP_CREATE_FILE] = 14,
  [OP_WRITE]       = 10,
  [OP_TRUNCATE]    = 5,
  [OP_CHMOD]       = 5,
  [OP_RENAME_FILE] = 10,
  [OP_RENAME_DIR]  = 7,
  [OP_MOVE_IN]     = 5,
  [OP_MOVE_OUT]    = 5,
  [OP_MKDIR_P]     = 6,
  [OP_RM_RF]       = 4,
  [OP_RAPID]       = 7,
  [OP_SYMLINK]     = 2,
  [OP_HARDLINK]    = 1,
};

struct _HkReplayGen
{
  char         *root;
  char         *outside;
  GRand        *rand;        /* every choice about operations */
  GRand        *burst_rand;  /* scheduling only, so variants share operations */
  HkReplayTree *tree;        /* exactly what is under root */
  GPtrArray    *outside_entries;  /* names directly under outside */
  guint         outside_serial;
  guint         n_steps;
  GString      *log;
};

HkReplayGen *
hk_replay_gen_new (const char *root,
                   const char *outside,
                   guint32     seed)
{
  HkReplayGen *self = g_new0 (HkReplayGen, 1);

  self->root = g_strdup (root);
  self->outside = g_strdup (outside);
  self->rand = g_rand_new_with_seed (seed);
  self->burst_rand = g_rand_new_with_seed (seed ^ 0x5bd1e995u);
  self->tree = hk_replay_tree_new ();
  self->outside_entries = g_ptr_array_new_with_free_func (g_free);
  self->log = g_string_new (NULL);
  return self;
}

void
hk_replay_gen_free (HkReplayGen *self)
{
  if (self == NULL)
    return;
  g_free (self->root);
  g_free (self->outside);
  g_rand_free (self->rand);
  g_rand_free (self->burst_rand);
  hk_replay_tree_free (self->tree);
  g_ptr_array_unref (self->outside_entries);
  g_string_free (self->log, TRUE);
  g_free (self);
}

HkReplayTree *
hk_replay_gen_get_tree (HkReplayGen *self)
{
  return self->tree;
}

guint
hk_replay_gen_get_n_steps (HkReplayGen *self)
{
  return self->n_steps;
}

const char *
hk_replay_gen_get_log (HkReplayGen *self)
{
  return self->log->str;
}

guint
hk_replay_gen_next_burst (HkReplayGen *self,
                          guint        max_burst)
{
  return g_rand_int_range (self->burst_rand, 1, MAX (max_burst, 1) + 1);
}

G_GNUC_PRINTF (2, 3)
static void
log_op (HkReplayGen *self,
        const char  *format,
        ...)
{
  va_list args;

  g_string_append_printf (self->log, "#%u ", self->n_steps);
  va_start (args, format);
  g_string_append_vprintf (self->log, format, args);
  va_end (args);
  g_string_append_c (self->log, '\n');
}

static char *
abs_path (HkReplayGen *self,
          const char  *rel)
{
  if (rel[0] == '\0')
    return g_strdup (self->root);
  return g_strconcat (self->root, "/", rel, NULL);
}

static guint
rand_below (HkReplayGen *self,
            guint        n)
{
  return g_rand_int_range (self->rand, 0, n);
}

static gboolean
chance (HkReplayGen *self,
        guint        percent)
{
  return rand_below (self, 100) < percent;
}

static char *
random_plain (HkReplayGen *self,
              guint        min_len,
              guint        max_len)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";
  guint len = g_rand_int_range (self->rand, min_len, max_len + 1);
  GString *s = g_string_sized_new (len);

  for (guint i = 0; i < len; i++)
    g_string_append_c (s, alphabet[rand_below (self, sizeof alphabet - 1)]);
  return g_string_free (s, FALSE);
}

/* A random name; mostly short and plain, sometimes with a space, a newline,
 * bytes that are not UTF-8, non-ASCII UTF-8, a leading dot, or long. */
static char *
random_name (HkReplayGen *self)
{
  g_autofree char *a = random_plain (self, 1, 6);
  guint style = rand_below (self, 100);

  if (style < 78)
    return g_steal_pointer (&a);
  if (style < 84)
    {
      g_autofree char *b = random_plain (self, 1, 4);
      return g_strconcat (a, " ", b, NULL);
    }
  if (style < 89)
    {
      g_autofree char *b = random_plain (self, 0, 3);
      return g_strconcat (a, "\n", b, NULL);
    }
  if (style < 94)
    return g_strconcat (a, chance (self, 50) ? "\xff\xfe" : "\xc3\x28", NULL);
  if (style < 97)
    return g_strconcat (a, "\xc3\xa9\xe6\x97\xa5", NULL);
  if (style < 99)
    return g_strconcat (".", a, NULL);
  return random_plain (self, 100, 240);
}

/* A name that does not exist in @parent_rel yet, joined to it. */
static char *
new_child (HkReplayGen *self,
           const char  *parent_rel)
{
  for (;;)
    {
      g_autofree char *name = random_name (self);
      g_autofree char *rel = NULL;

      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        continue;
      rel = rel_join (parent_rel, name);
      if (!hk_replay_tree_lookup (self->tree, rel, NULL))
        return g_steal_pointer (&rel);
    }
}

/* A random path among those of the given kinds, or NULL; @with_root adds "". */
static char *
pick (HkReplayGen *self,
      guint        kind_mask,
      gboolean     with_root)
{
  g_autoptr(GPtrArray) list = hk_replay_tree_list (self->tree, kind_mask);
  guint n = list->len + (with_root ? 1 : 0);
  guint i;

  if (n == 0)
    return NULL;
  i = rand_below (self, n);
  if (i == list->len)
    return g_strdup ("");
  return g_strdup (g_ptr_array_index (list, i));
}

static char *
pick_dir (HkReplayGen *self)
{
  return pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR), TRUE);
}

static gboolean
write_file (HkReplayGen  *self,
            const char   *path,
            int           flags,
            GError      **error)
{
  char buf[2048];
  guint len = rand_below (self, sizeof buf);
  int fd;

  fd = open (path, flags | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    return set_error_from_errno (error, errno, "open", path);

  memset (buf, 'a' + rand_below (self, 26), len);
  if (len > 0 && write (fd, buf, len) != (ssize_t) len)
    {
      int saved_errno = errno;
      close (fd);
      return set_error_from_errno (error, saved_errno, "write", path);
    }
  if (close (fd) != 0)
    return set_error_from_errno (error, errno, "close", path);
  return TRUE;
}

static gboolean
create_file (HkReplayGen  *self,
             const char   *rel,
             GError      **error)
{
  g_autofree char *path = abs_path (self, rel);

  if (!write_file (self, path, O_CREAT | O_EXCL, error))
    return FALSE;
  hk_replay_tree_insert (self->tree, rel, HK_REPLAY_KIND_FILE);
  return TRUE;
}

static gboolean
make_dir (HkReplayGen  *self,
          const char   *rel,
          GError      **error)
{
  g_autofree char *path = abs_path (self, rel);

  if (mkdir (path, 0755) != 0)
    return set_error_from_errno (error, errno, "mkdir", path);
  hk_replay_tree_insert (self->tree, rel, HK_REPLAY_KIND_DIR);
  return TRUE;
}

static gboolean
op_create_file (HkReplayGen  *self,
                GError      **error)
{
  g_autofree char *parent = pick_dir (self);
  g_autofree char *rel = new_child (self, parent);
  g_autofree char *escaped = hk_replay_escape_path (rel);

  log_op (self, "create-file %s", escaped);
  return create_file (self, rel, error);
}

static char *
pick_file (HkReplayGen *self)
{
  return pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_FILE), FALSE);
}

static gboolean
op_write (HkReplayGen  *self,
          GError      **error)
{
  g_autofree char *rel = pick_file (self);
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;

  if (rel == NULL)
    return op_create_file (self, error);

  path = abs_path (self, rel);
  escaped = hk_replay_escape_path (rel);
  log_op (self, "write %s", escaped);
  return write_file (self, path, chance (self, 50) ? O_APPEND : O_TRUNC, error);
}

static gboolean
op_truncate (HkReplayGen  *self,
             GError      **error)
{
  g_autofree char *rel = pick_file (self);
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;
  guint len;

  if (rel == NULL)
    return op_create_file (self, error);

  path = abs_path (self, rel);
  escaped = hk_replay_escape_path (rel);
  len = rand_below (self, 4096);
  log_op (self, "truncate %s %u", escaped, len);
  if (truncate (path, len) != 0)
    return set_error_from_errno (error, errno, "truncate", path);
  return TRUE;
}

static gboolean
op_chmod (HkReplayGen  *self,
          GError      **error)
{
  static const mode_t file_modes[] = { 0600, 0640, 0644, 0664, 0755 };
  static const mode_t dir_modes[] = { 0700, 0750, 0755, 0775 };
  g_autofree char *rel = pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_FILE) |
                                     HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR), FALSE);
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;
  mode_t mode;

  if (rel == NULL)
    return op_create_file (self, error);

  path = abs_path (self, rel);
  escaped = hk_replay_escape_path (rel);

  if (chance (self, 30))
    {
      log_op (self, "touch %s", escaped);
      if (utimensat (AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) != 0)
        return set_error_from_errno (error, errno, "utimensat", path);
      return TRUE;
    }

  hk_replay_tree_lookup (self->tree, rel, &kind);
  if (kind == HK_REPLAY_KIND_DIR)
    mode = dir_modes[rand_below (self, G_N_ELEMENTS (dir_modes))];
  else
    mode = file_modes[rand_below (self, G_N_ELEMENTS (file_modes))];

  log_op (self, "chmod %s %03o", escaped, (guint) mode);
  if (chmod (path, mode) != 0)
    return set_error_from_errno (error, errno, "chmod", path);
  return TRUE;
}

static gboolean
do_rename (HkReplayGen  *self,
           const char   *src_rel,
           const char   *dest_rel,
           GError      **error)
{
  g_autofree char *src = abs_path (self, src_rel);
  g_autofree char *dest = abs_path (self, dest_rel);

  if (rename (src, dest) != 0)
    return set_error_from_errno (error, errno, "rename", src);
  hk_replay_tree_move_subtree (self->tree, src_rel, dest_rel);
  return TRUE;
}

/* Whether two absolute paths name the same inode: rename(2) between hard
 * links of one file does nothing at all. */
static gboolean
same_inode (const char *a,
            const char *b)
{
  struct stat sa, sb;

  if (lstat (a, &sa) != 0 || lstat (b, &sb) != 0)
    return FALSE;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static gboolean
op_rename_file (HkReplayGen  *self,
                GError      **error)
{
  guint non_dirs = HK_REPLAY_KIND_MASK_ALL & ~HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR);
  g_autofree char *src = pick (self, non_dirs, FALSE);
  g_autofree char *dest = NULL;
  g_autofree char *escaped_src = NULL;
  g_autofree char *escaped_dest = NULL;

  if (src == NULL)
    return op_create_file (self, error);

  /* Sometimes over an existing file, as editors save; not over another
   * name of the same inode, where rename(2) does nothing. */
  if (chance (self, 30))
    dest = pick (self, non_dirs, FALSE);
  if (dest != NULL)
    {
      g_autofree char *src_path = abs_path (self, src);
      g_autofree char *dest_path = abs_path (self, dest);

      if (same_inode (src_path, dest_path))
        g_clear_pointer (&dest, g_free);
    }
  if (dest == NULL)
    {
      g_autofree char *parent = chance (self, 60) ? rel_parent (src) : pick_dir (self);

      g_clear_pointer (&dest, g_free);
      dest = new_child (self, parent);
    }

  escaped_src = hk_replay_escape_path (src);
  escaped_dest = hk_replay_escape_path (dest);
  log_op (self, "rename-file %s -> %s", escaped_src, escaped_dest);
  return do_rename (self, src, dest, error);
}

/* The directories @src may be renamed into: not itself nor below it. */
static char *
pick_dir_outside_of (HkReplayGen *self,
                     const char  *src)
{
  g_autoptr(GPtrArray) dirs = hk_replay_tree_list (self->tree,
                                                   HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR));
  g_autoptr(GPtrArray) ok = g_ptr_array_new ();

  g_ptr_array_add (ok, (gpointer) "");
  for (guint i = 0; i < dirs->len; i++)
    {
      if (!rel_is_within (g_ptr_array_index (dirs, i), src))
        g_ptr_array_add (ok, g_ptr_array_index (dirs, i));
    }
  return g_strdup (g_ptr_array_index (ok, rand_below (self, ok->len)));
}

/* An empty directory that @src (NULL: something from outside) may
 * replace, or NULL. */
static char *
pick_empty_dir_for (HkReplayGen *self,
                    const char  *src)
{
  g_autoptr(GPtrArray) all = hk_replay_tree_list (self->tree, HK_REPLAY_KIND_MASK_ALL);
  g_autoptr(GHashTable) parents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) ok = g_ptr_array_new ();
  HkReplayKind kind = HK_REPLAY_KIND_OTHER;

  for (guint i = 0; i < all->len; i++)
    g_hash_table_add (parents, rel_parent (g_ptr_array_index (all, i)));

  for (guint i = 0; i < all->len; i++)
    {
      const char *rel = g_ptr_array_index (all, i);

      hk_replay_tree_lookup (self->tree, rel, &kind);
      if (kind == HK_REPLAY_KIND_DIR &&
          !g_hash_table_contains (parents, rel) &&
          (src == NULL || !rel_is_within (rel, src)))
        g_ptr_array_add (ok, (gpointer) rel);
    }

  if (ok->len == 0)
    return NULL;
  return g_strdup (g_ptr_array_index (ok, rand_below (self, ok->len)));
}

static gboolean
op_rename_dir (HkReplayGen  *self,
               GError      **error)
{
  g_autofree char *src = pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR), FALSE);
  g_autofree char *dest = NULL;
  g_autofree char *escaped_src = NULL;
  g_autofree char *escaped_dest = NULL;

  if (src == NULL)
    {
      g_autofree char *rel = new_child (self, "");
      g_autofree char *escaped = hk_replay_escape_path (rel);

      log_op (self, "mkdir %s", escaped);
      return make_dir (self, rel, error);
    }

  if (chance (self, 15))
    dest = pick_empty_dir_for (self, src);
  if (dest == NULL)
    {
      g_autofree char *parent = chance (self, 50) ? rel_parent (src)
                                                  : pick_dir_outside_of (self, src);
      dest = new_child (self, parent);
    }

  escaped_src = hk_replay_escape_path (src);
  escaped_dest = hk_replay_escape_path (dest);
  log_op (self, "rename-dir %s -> %s", escaped_src, escaped_dest);
  return do_rename (self, src, dest, error);
}

/* Builds a random subtree at @abs (a file if @depth is 0 and by chance). */
static gboolean
build_outside (HkReplayGen  *self,
               const char   *abs,
               guint         depth,
               GError      **error)
{
  guint n_files;

  if (mkdir (abs, 0755) != 0)
    return set_error_from_errno (error, errno, "mkdir", abs);

  n_files = rand_below (self, 4);
  for (guint i = 0; i < n_files; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%u", i);
      g_autofree char *path = g_build_filename (abs, name, NULL);

      if (!write_file (self, path, O_CREAT | O_EXCL, error))
        return FALSE;
    }

  if (depth > 0)
    {
      g_autofree char *sub = g_build_filename (abs, "sub", NULL);

      return build_outside (self, sub, depth - 1, error);
    }
  return TRUE;
}

static gboolean
op_move_in (HkReplayGen  *self,
            GError      **error)
{
  g_autofree char *name = NULL;
  g_autofree char *src = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *dest_rel = NULL;
  g_autofree char *dest = NULL;
  g_autofree char *escaped = NULL;
  struct stat st;

  if (self->outside_entries->len > 0 && chance (self, 40))
    {
      guint i = rand_below (self, self->outside_entries->len);

      name = g_ptr_array_steal_index (self->outside_entries, i);
      src = g_build_filename (self->outside, name, NULL);
    }
  else
    {
      name = g_strdup_printf ("in-%u", self->outside_serial++);
      src = g_build_filename (self->outside, name, NULL);
      if (chance (self, 25))
        {
          if (!write_file (self, src, O_CREAT | O_EXCL, error))
            return FALSE;
        }
      else if (!build_outside (self, src, rand_below (self, 4), error))
        return FALSE;
    }

  if (lstat (src, &st) != 0)
    return set_error_from_errno (error, errno, "lstat", src);

  /* Sometimes over an existing entry, as a file saved through a temporary
   * file elsewhere on the same file system. */
  if (chance (self, 25))
    {
      guint non_dirs = HK_REPLAY_KIND_MASK_ALL & ~HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR);

      if (S_ISDIR (st.st_mode))
        dest_rel = pick_empty_dir_for (self, NULL);
      else
        dest_rel = pick (self, non_dirs, FALSE);
    }
  if (dest_rel != NULL)
    {
      dest = abs_path (self, dest_rel);
      if (same_inode (src, dest))
        {
          g_clear_pointer (&dest_rel, g_free);
          g_clear_pointer (&dest, g_free);
        }
    }
  if (dest_rel == NULL)
    {
      parent = pick_dir (self);
      dest_rel = new_child (self, parent);
      dest = abs_path (self, dest_rel);
    }

  escaped = hk_replay_escape_path (dest_rel);
  log_op (self, "move-in outside/%s -> %s%s", name, escaped,
          hk_replay_tree_lookup (self->tree, dest_rel, NULL) ? " (replacing it)" : "");

  if (rename (src, dest) != 0)
    return set_error_from_errno (error, errno, "rename", src);
  if (hk_replay_tree_lookup (self->tree, dest_rel, NULL))
    hk_replay_tree_remove_subtree (self->tree, dest_rel);

  if (lstat (dest, &st) != 0)
    return set_error_from_errno (error, errno, "lstat", dest);
  hk_replay_tree_insert (self->tree, dest_rel, kind_from_mode (st.st_mode));
  if (S_ISDIR (st.st_mode))
    return hk_replay_tree_scan_into (self->tree, dest, dest_rel, error);
  return TRUE;
}

static gboolean
op_move_out (HkReplayGen  *self,
             GError      **error)
{
  g_autofree char *rel = NULL;
  g_autofree char *src = NULL;
  g_autofree char *name = NULL;
  g_autofree char *dest = NULL;
  g_autofree char *escaped = NULL;

  if (chance (self, 60))
    rel = pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR), FALSE);
  if (rel == NULL)
    rel = pick (self, HK_REPLAY_KIND_MASK_ALL, FALSE);
  if (rel == NULL)
    return op_move_in (self, error);

  name = g_strdup_printf ("out-%u", self->outside_serial++);
  src = abs_path (self, rel);
  dest = g_build_filename (self->outside, name, NULL);
  escaped = hk_replay_escape_path (rel);
  log_op (self, "move-out %s -> outside/%s", escaped, name);

  if (rename (src, dest) != 0)
    return set_error_from_errno (error, errno, "rename", src);
  hk_replay_tree_remove_subtree (self->tree, rel);

  g_ptr_array_add (self->outside_entries, g_steal_pointer (&name));
  while (self->outside_entries->len > MAX_OUTSIDE)
    {
      g_autofree char *old = g_build_filename (self->outside,
                                               g_ptr_array_index (self->outside_entries, 0),
                                               NULL);
      if (!hk_replay_rm_rf (old, error))
        return FALSE;
      g_ptr_array_remove_index (self->outside_entries, 0);
    }
  return TRUE;
}

static gboolean
op_mkdir_p (HkReplayGen  *self,
            GError      **error)
{
  g_autofree char *rel = pick_dir (self);
  guint depth = g_rand_int_range (self->rand, 1, 6);

  /* Renames only ever nest what exists, so this bounds the depth. */
  if (rel_depth (rel) + depth > MAX_DEPTH)
    {
      g_free (rel);
      rel = g_strdup ("");
    }
  g_autofree char *escaped = NULL;
  g_autofree char *first = NULL;

  for (guint level = 0; level < depth; level++)
    {
      g_autofree char *child = new_child (self, rel);
      guint n_files = rand_below (self, 3);

      if (!make_dir (self, child, error))
        return FALSE;
      if (first == NULL)
        first = g_strdup (child);

      for (guint i = 0; i < n_files; i++)
        {
          g_autofree char *file = new_child (self, child);

          if (!create_file (self, file, error))
            return FALSE;
        }

      g_free (rel);
      rel = g_steal_pointer (&child);
    }

  escaped = hk_replay_escape_path (rel);
  log_op (self, "mkdir-p %s (with files)", escaped);
  return TRUE;
}

static gboolean
op_rm_rf (HkReplayGen  *self,
          GError      **error)
{
  g_autofree char *rel = NULL;
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;

  if (chance (self, 70))
    rel = pick (self, HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR), FALSE);
  if (rel == NULL)
    rel = pick (self, HK_REPLAY_KIND_MASK_ALL, FALSE);
  if (rel == NULL)
    return op_mkdir_p (self, error);

  path = abs_path (self, rel);
  escaped = hk_replay_escape_path (rel);
  log_op (self, "rm-rf %s", escaped);
  if (!hk_replay_rm_rf (path, error))
    return FALSE;
  hk_replay_tree_remove_subtree (self->tree, rel);
  return TRUE;
}

static gboolean
op_rapid (HkReplayGen  *self,
          GError      **error)
{
  g_autofree char *parent = pick_dir (self);
  g_autofree char *rel = new_child (self, parent);
  g_autofree char *path = abs_path (self, rel);
  g_autofree char *escaped = hk_replay_escape_path (rel);
  guint variant = rand_below (self, 6);

  log_op (self, "rapid-%u %s", variant, escaped);

  switch (variant)
    {
    case 0:  /* create, write, delete */
      if (!create_file (self, rel, error))
        return FALSE;
      if (unlink (path) != 0)
        return set_error_from_errno (error, errno, "unlink", path);
      hk_replay_tree_remove_subtree (self->tree, rel);
      return TRUE;

    case 1:  /* mkdir, rmdir */
      if (!make_dir (self, rel, error))
        return FALSE;
      if (rmdir (path) != 0)
        return set_error_from_errno (error, errno, "rmdir", path);
      hk_replay_tree_remove_subtree (self->tree, rel);
      return TRUE;

    case 2:  /* mkdir, a file in it, rm -rf */
      {
        g_autofree char *file = NULL;

        if (!make_dir (self, rel, error))
          return FALSE;
        file = new_child (self, rel);
        if (!create_file (self, file, error))
          return FALSE;
        if (!hk_replay_rm_rf (path, error))
          return FALSE;
        hk_replay_tree_remove_subtree (self->tree, rel);
        return TRUE;
      }

    case 3:  /* create, rename, delete */
      {
        g_autofree char *other = NULL;
        g_autofree char *other_path = NULL;

        if (!create_file (self, rel, error))
          return FALSE;
        other = new_child (self, parent);
        if (!do_rename (self, rel, other, error))
          return FALSE;
        other_path = abs_path (self, other);
        if (unlink (other_path) != 0)
          return set_error_from_errno (error, errno, "unlink", other_path);
        hk_replay_tree_remove_subtree (self->tree, other);
        return TRUE;
      }

    case 4:  /* create, delete, create again under the same name */
      if (!create_file (self, rel, error))
        return FALSE;
      if (unlink (path) != 0)
        return set_error_from_errno (error, errno, "unlink", path);
      hk_replay_tree_remove_subtree (self->tree, rel);
      return create_file (self, rel, error);

    case 5:  /* a directory replaced by a file of the same name */
    default:
      if (!make_dir (self, rel, error))
        return FALSE;
      if (rmdir (path) != 0)
        return set_error_from_errno (error, errno, "rmdir", path);
      hk_replay_tree_remove_subtree (self->tree, rel);
      return create_file (self, rel, error);
    }
}

static gboolean
op_symlink (HkReplayGen  *self,
            GError      **error)
{
  g_autofree char *parent = pick_dir (self);
  g_autofree char *rel = new_child (self, parent);
  g_autofree char *path = abs_path (self, rel);
  g_autofree char *escaped = hk_replay_escape_path (rel);
  const char *targets[] = { ".", "..", "does-not-exist", "/" };
  const char *target = targets[rand_below (self, G_N_ELEMENTS (targets))];

  log_op (self, "symlink %s -> %s", escaped, target);
  if (symlink (target, path) != 0)
    return set_error_from_errno (error, errno, "symlink", path);
  hk_replay_tree_insert (self->tree, rel, HK_REPLAY_KIND_SYMLINK);
  return TRUE;
}

static gboolean
op_hardlink (HkReplayGen  *self,
             GError      **error)
{
  g_autofree char *src = pick_file (self);
  g_autofree char *parent = NULL;
  g_autofree char *rel = NULL;
  g_autofree char *src_path = NULL;
  g_autofree char *path = NULL;
  g_autofree char *escaped_src = NULL;
  g_autofree char *escaped = NULL;

  if (src == NULL)
    return op_create_file (self, error);

  parent = pick_dir (self);
  rel = new_child (self, parent);
  src_path = abs_path (self, src);
  path = abs_path (self, rel);
  escaped_src = hk_replay_escape_path (src);
  escaped = hk_replay_escape_path (rel);
  log_op (self, "hardlink %s -> %s", escaped, escaped_src);
  if (link (src_path, path) != 0)
    return set_error_from_errno (error, errno, "link", path);
  hk_replay_tree_insert (self->tree, rel, HK_REPLAY_KIND_FILE);
  return TRUE;
}

static Op
choose_op (HkReplayGen *self)
{
  guint weights[N_OPS];
  guint total = 0;
  guint size = hk_replay_tree_get_size (self->tree);
  guint r;

  memcpy (weights, op_weights, sizeof weights);

  /* Keep the tree between a handful of entries and MAX_ENTRIES. */
  if (size > MAX_ENTRIES)
    {
      weights[OP_RM_RF] *= 8;
      weights[OP_MOVE_OUT] *= 4;
      weights[OP_MKDIR_P] = 0;
      weights[OP_MOVE_IN] = 0;
    }
  else if (size < 10)
    {
      weights[OP_RM_RF] = 0;
      weights[OP_MOVE_OUT] = 0;
      weights[OP_MKDIR_P] *= 3;
    }

  for (guint i = 0; i < N_OPS; i++)
    total += weights[i];

  r = rand_below (self, total);
  for (guint i = 0; i < N_OPS; i++)
    {
      if (r < weights[i])
        return i;
      r -= weights[i];
    }
  g_assert_not_reached ();
}

gboolean
hk_replay_gen_step (HkReplayGen  *self,
                    GError      **error)
{
  self->n_steps++;

  switch (choose_op (self))
    {
    case OP_CREATE_FILE:
      return op_create_file (self, error);
    case OP_WRITE:
      return op_write (self, error);
    case OP_TRUNCATE:
      return op_truncate (self, error);
    case OP_CHMOD:
      return op_chmod (self, error);
    case OP_RENAME_FILE:
      return op_rename_file (self, error);
    case OP_RENAME_DIR:
      return op_rename_dir (self, error);
    case OP_MOVE_IN:
      return op_move_in (self, error);
    case OP_MOVE_OUT:
      return op_move_out (self, error);
    case OP_MKDIR_P:
      return op_mkdir_p (self, error);
    case OP_RM_RF:
      return op_rm_rf (self, error);
    case OP_RAPID:
      return op_rapid (self, error);
    case OP_SYMLINK:
      return op_symlink (self, error);
    case OP_HARDLINK:
      return op_hardlink (self, error);
    case N_OPS:
    default:
      g_assert_not_reached ();
    }
}

/* The initial tree, before the watch starts: directories and files only. */
gboolean
hk_replay_gen_populate (HkReplayGen  *self,
                        guint         n_ops,
                        GError      **error)
{
  g_string_append (self->log, "# initial tree\n");

  for (guint i = 0; i < n_ops; i++)
    {
      gboolean ok = chance (self, 40) ? op_mkdir_p (self, error)
                                      : op_create_file (self, error);
      if (!ok)
        return FALSE;
    }

  g_string_append (self->log, "# watch started\n");
  return TRUE;
}
