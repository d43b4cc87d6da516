/* test-nodes.c: the in-memory snapshot's directory tables, against a model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hk-nodes-private.h"

/* A model of one directory: name -> kind, ino, stamp; kept beside the
 * tables and compared after every operation. */
typedef struct
{
  HkNodeKind kind;
  guint64    ino;
  guint32    stamp;
} ModelEntry;

typedef struct
{
  HkNodes     nodes;
  GPtrArray  *dirs;     /* HkDirNode of the tree, index = model number */
  GPtrArray  *models;   /* GHashTable name -> ModelEntry per directory */
  guint       n_freed;
} Fixture;

static void
on_dir_freed (HkDirNode *dir,
              gpointer   user_data)
{
  Fixture *f = user_data;

  f->n_freed++;
}

static GHashTable *
model_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* The path of @child, asked after its parent's (which hk_dir_path()
 * remembers) and again, is its parent's and its name. */
static void
check_path (Fixture    *f,
            HkDirNode  *dir,
            HkDirNode  *child,
            const char *name)
{
  g_autofree char *dir_path = hk_dir_path (&f->nodes, dir, NULL, NULL);
  g_autofree char *expected = g_build_filename (dir_path, name, NULL);
  g_autofree char *joined = hk_dir_path (&f->nodes, dir, name, NULL);
  g_autofree char *path = hk_dir_path (&f->nodes, child, NULL, NULL);
  g_autofree char *again = hk_dir_path (&f->nodes, child, NULL, NULL);

  g_assert_cmpstr (joined, ==, expected);
  g_assert_cmpstr (path, ==, expected);
  g_assert_cmpstr (again, ==, expected);
}

static void
check_dir (Fixture   *f,
           HkDirNode *dir,
           GHashTable *model)
{
  GHashTableIter iter;
  const char *name;
  ModelEntry *m;

  g_assert_cmpuint (hk_dir_n_entries (dir), ==, g_hash_table_size (model));

  /* Every entry is found by its name and says what the model says. */
  for (guint i = 0; i < hk_dir_n_entries (dir); i++)
    {
      HkEntry *entry = hk_dir_entry_at (dir, i);
      const char *entry_name = hk_dir_entry_name (dir, entry);

      m = g_hash_table_lookup (model, entry_name);
      g_assert_nonnull (m);
      g_assert_true (hk_dir_lookup (dir, entry_name) == entry);
      g_assert_cmpint (hk_entry_kind (entry), ==, m->kind);
      g_assert_cmpuint (hk_entry_ino (dir, entry), ==, m->ino);
      if (m->kind == HK_NODE_DIR)
        {
          HkDirNode *child = hk_entry_dir (entry);

          g_assert_true (hk_dir_parent (child) == dir);
          g_assert_cmpuint (child->index, ==, i);
          g_assert_cmpstr (hk_dir_name (child), ==, entry_name);
          check_path (f, dir, child, entry_name);
        }
      else
        g_assert_cmpuint (entry->stamp, ==, m->stamp);
    }

  /* And names it does not have are not found. */
  g_hash_table_iter_init (&iter, model);
  while (g_hash_table_iter_next (&iter, (gpointer *) &name, (gpointer *) &m))
    {
      g_autofree char *other = g_strconcat (name, "~", NULL);

      g_assert_nonnull (hk_dir_lookup (dir, name));
      g_assert_null (hk_dir_lookup (dir, other));
    }
}

/* An inode number, above 32 bits now and then (XFS, overlayfs): a table
 * keeps those high halves apart once it has one. */
static guint64
random_ino (GRand *rand)
{
  guint64 ino = (guint64) g_rand_int (rand) + 1;

  if (g_rand_int_range (rand, 0, 8) == 0)
    ino |= (guint64) g_rand_int_range (rand, 1, G_MAXINT32) << 32;
  return ino;
}

static char *
random_name (GRand *rand,
             guint  limit)
{
  return g_strdup_printf ("%s-%u", g_rand_boolean (rand) ? "file" : "a-rather-longer-name",
                          g_rand_int_range (rand, 0, limit));
}

/* Random adds, removals, renames (within and across directories), inode
 * changes, detaches and re-attaches, checked against the model after each
 * step. Names are drawn from @first_limit numbers per prefix for the first
 * half of the steps, then from @second_limit; renames go to a fresh name,
 * or with @rename_within_names to a free one of those. */
static void
run_model (guint32  seed,
           guint    first_limit,
           guint    second_limit,
           gboolean rename_within_names)
{
  Fixture f = { 0, };
  GRand *rand = g_rand_new_with_seed (seed);
  HkDirNode *root;

  hk_nodes_init (&f.nodes, on_dir_freed, &f);
  hk_nodes_set_root_path (&f.nodes, "/r");
  root = hk_dir_new_root (&f.nodes, 1, 1);
  f.dirs = g_ptr_array_new ();
  f.models = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);

  /* The root and three subdirectories: names go up to 2000 per directory,
   * so tables cross the index threshold both ways. */
  g_ptr_array_add (f.dirs, root);
  g_ptr_array_add (f.models, model_new ());
  for (guint d = 0; d < 3; d++)
    {
      g_autofree char *name = g_strdup_printf ("sub%u", d);
      HkEntry *entry = hk_dir_add (&f.nodes, root, name, HK_NODE_DIR, 100 + d);
      ModelEntry *m = g_new0 (ModelEntry, 1);

      m->kind = HK_NODE_DIR;
      m->ino = 100 + d;
      g_hash_table_insert (f.models->pdata[0], g_strdup (name), m);
      g_ptr_array_add (f.dirs, hk_entry_dir (entry));
      g_ptr_array_add (f.models, model_new ());
    }

  for (guint step = 0; step < 40000; step++)
    {
      guint d = g_rand_int_range (rand, 1, f.dirs->len);
      HkDirNode *dir = f.dirs->pdata[d];
      GHashTable *model = f.models->pdata[d];
      guint limit = step < 20000 ? first_limit : second_limit;
      g_autofree char *name = random_name (rand, limit);
      HkEntry *entry = hk_dir_lookup (dir, name);
      guint op = g_rand_int_range (rand, 0, 4);

      if (entry == NULL && op != 3)
        {
          ModelEntry *m = g_new0 (ModelEntry, 1);

          m->kind = (HkNodeKind[]) { HK_NODE_FILE, HK_NODE_SYMLINK, HK_NODE_DIR }[g_rand_int_range (rand, 0, 3)];
          m->ino = random_ino (rand);
          m->stamp = hk_node_stamp_from_stat (&(struct stat) { .st_size = step });
          entry = hk_dir_add (&f.nodes, dir, name, m->kind, m->ino);
          if (m->kind != HK_NODE_DIR)
            entry->stamp = m->stamp;
          g_hash_table_insert (model, g_strdup (name), m);
        }
      else if (entry != NULL && op == 0)
        {
          hk_dir_remove (&f.nodes, dir, entry);
          g_hash_table_remove (model, name);
        }
      else if (entry != NULL && op == 3 && hk_entry_kind (entry) != HK_NODE_DIR)
        {
          ModelEntry *m = g_hash_table_lookup (model, name);

          m->ino = random_ino (rand);
          entry = hk_entry_set_ino (dir, entry, m->ino);
          g_assert_cmpuint (hk_entry_ino (dir, entry), ==, m->ino);
          g_assert_cmpstr (hk_dir_entry_name (dir, entry), ==, name);
        }
      else if (entry != NULL)
        {
          /* Renamed into another directory (or this one), onto a free name. */
          guint to = g_rand_int_range (rand, 1, f.dirs->len);
          HkDirNode *to_dir = f.dirs->pdata[to];
          GHashTable *to_model = f.models->pdata[to];
          g_autofree char *to_name = rename_within_names
            ? random_name (rand, limit) : g_strdup_printf ("moved-%u", step);
          gpointer key, value;

          if (hk_dir_lookup (to_dir, to_name) != NULL)
            continue;  /* taken (or the entry's own name) */
          entry = hk_dir_rename (dir, entry, to_dir, to_name);
          g_assert_cmpstr (hk_dir_entry_name (to_dir, entry), ==, to_name);
          g_assert_true (g_hash_table_steal_extended (model, name, &key, &value));
          g_free (key);
          g_hash_table_insert (to_model, g_strdup (to_name), value);
        }

      if (step % (first_limit < 100 ? 1 : 97) == 0)
        for (guint i = 0; i < f.dirs->len; i++)
          check_dir (&f, f.dirs->pdata[i], f.models->pdata[i]);
      /* Made to measure now and then, as after a read: appends, removals
       * and inode changes then meet tables without room to spare. */
      if (step % 61 == 0)
        hk_dir_trim (f.dirs->pdata[g_rand_int_range (rand, 0, f.dirs->len)]);
    }

  for (guint i = 0; i < f.dirs->len; i++)
    check_dir (&f, f.dirs->pdata[i], f.models->pdata[i]);

  /* A detached directory keeps its contents and comes back under another
   * name. */
  {
    HkEntry *entry = hk_dir_lookup (root, "sub1");
    HkDirNode *sub1 = hk_entry_dir (entry);
    guint n = hk_dir_n_entries (sub1);
    HkDirNode *detached = hk_dir_detach (root, entry);
    g_autofree char *path = NULL;

    g_assert_true (detached == sub1);
    g_assert_null (hk_dir_parent (sub1));
    g_assert_null (hk_dir_lookup (root, "sub1"));
    entry = hk_dir_attach (root, "sub1-again", detached);
    g_assert_true (hk_entry_dir (entry) == sub1);
    g_assert_cmpuint (hk_dir_n_entries (sub1), ==, n);
    path = hk_dir_path (&f.nodes, sub1, "x", NULL);
    g_assert_cmpstr (path, ==, "/r/sub1-again/x");
  }

  f.n_freed = 0;
  hk_dir_free (&f.nodes, root);
  g_assert_cmpuint (f.n_freed, >=, 4);

  g_ptr_array_unref (f.dirs);
  g_ptr_array_unref (f.models);
  hk_nodes_clear (&f.nodes);
  g_rand_free (rand);
}

/* Tables that grow past the index threshold and shrink again. */
static void
test_tables_against_model (void)
{
  run_model (20261129, 2000, 12, FALSE);
}

/* Tables that stay small (at most 30 names), their names in order:
 * removals and renames in the middle of them, directories among them
 * keeping their places. */
static void
test_small_tables_against_model (void)
{
  run_model (20261130, 15, 4, TRUE);
}

/* hk_dir_path() remembers the last directory's path: a move of it or of
 * a directory above it, and a node freed and handed out again, must not
 * give the old path. */
static void
test_remembered_path_follows_moves (void)
{
  HkNodes nodes;
  HkDirNode *root, *a, *b, *b2;
  char *path;

  hk_nodes_init (&nodes, NULL, NULL);
  hk_nodes_set_root_path (&nodes, "/r");
  root = hk_dir_new_root (&nodes, 1, 1);
  a = hk_entry_dir (hk_dir_add (&nodes, root, "a", HK_NODE_DIR, 2));
  b = hk_entry_dir (hk_dir_add (&nodes, a, "b", HK_NODE_DIR, 3));

  path = hk_dir_path (&nodes, b, "x", NULL);
  g_assert_cmpstr (path, ==, "/r/a/b/x");
  g_free (path);

  /* A directory above it renamed. */
  hk_dir_rename (root, hk_dir_lookup (root, "a"), root, "c");
  path = hk_dir_path (&nodes, b, "x", NULL);
  g_assert_cmpstr (path, ==, "/r/c/b/x");
  g_free (path);

  /* Itself moved elsewhere. */
  hk_dir_rename (a, hk_dir_lookup (a, "b"), root, "b");
  path = hk_dir_path (&nodes, b, NULL, NULL);
  g_assert_cmpstr (path, ==, "/r/b");
  g_free (path);

  /* Freed, and its node handed out again under another name. */
  hk_dir_remove (&nodes, root, hk_dir_lookup (root, "b"));
  b2 = hk_entry_dir (hk_dir_add (&nodes, a, "other", HK_NODE_DIR, 4));
  g_assert_true (b2 == b);  /* the slab hands the freed node out first */
  path = hk_dir_path (&nodes, b2, NULL, NULL);
  g_assert_cmpstr (path, ==, "/r/c/other");
  g_free (path);

  hk_dir_free (&nodes, root);
  hk_nodes_clear (&nodes);
}

/* Paths deeper than the fast path's 256 parts, and of the root. */
static void
test_deep_path (void)
{
  HkNodes nodes;
  HkDirNode *root, *dir;
  g_autoptr(GString) expected = g_string_new ("/deep");
  g_autofree char *path = NULL;
  const char *relative;

  hk_nodes_init (&nodes, NULL, NULL);
  hk_nodes_set_root_path (&nodes, "/deep");
  root = dir = hk_dir_new_root (&nodes, 1, 1);
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *name = g_strdup_printf ("d%u", i);

      dir = hk_entry_dir (hk_dir_add (&nodes, dir, name, HK_NODE_DIR, i + 2));
      g_string_append_printf (expected, "/d%u", i);
    }
  path = hk_dir_path (&nodes, dir, NULL, &relative);
  g_assert_cmpstr (path, ==, expected->str);
  g_assert_cmpstr (relative, ==, expected->str + strlen ("/deep/"));
  g_clear_pointer (&path, g_free);
  path = hk_dir_path (&nodes, root, NULL, &relative);
  g_assert_cmpstr (path, ==, "/deep");
  g_assert_cmpstr (relative, ==, "");

  hk_dir_free (&nodes, root);
  hk_nodes_clear (&nodes);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nodes/tables-against-model", test_tables_against_model);
  g_test_add_func ("/nodes/small-tables-against-model", test_small_tables_against_model);
  g_test_add_func ("/nodes/deep-path", test_deep_path);
  g_test_add_func ("/nodes/remembered-path-follows-moves", test_remembered_path_follows_moves);

  return g_test_run ();
}
