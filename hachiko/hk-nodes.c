/* hk-nodes.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "hk-nodes-private.h"
#include "hk-probe-private.h"

/* The snapshot: every entry of a watched tree. A directory has a node
 * (which never moves: watches and the walk point at it) and one table
 * holding its entries, 8 bytes each, followed by their names. It knows
 * nothing of backends, queues or threads; whoever owns it is told when a
 * directory node is freed.
 *
 * A small table keeps its names in the order of its entries, packed: the
 * name of entry i is the one after i others, found by skipping them, so
 * an entry needs no offset of its own. A table past INDEX_MIN_ENTRIES
 * entries gets an offset per entry and an index (open addressing, linear
 * probing) to find a name; its names are in any order, with the garbage
 * of removed ones until they are full. */

G_STATIC_ASSERT (sizeof (HkEntry) == 8);
G_STATIC_ASSERT (sizeof (HkDirNode) == 32);

/* Up to this many entries a name is found by comparing them all: one pass
 * over a few hundred bytes, where the offsets and the index would cost 4
 * bytes an entry and at least 516 bytes (see docs/performance-findings.md). */
#define INDEX_MIN_ENTRIES 32

/* One allocation per directory: this 12-byte header, the entries, the
 * high halves of their inode numbers once one needs them, in an indexed
 * table the offsets of the names and the index (its size, then its
 * slots), then the names (see docs/performance-findings.md, memory per
 * directory). The room for names is not kept: it is names_len for a
 * table made to measure ("exact"), else names_room_for (names_len) or
 * more. */
struct _HkEntries
{
  guint32  n : 26;         /* entries in use */
  guint32  size_class : 6; /* hk_slab_size_class() of the block, 0: malloc */
  guint32  names_len;      /* bytes of names in use, garbage included */
  guint32  n_alloc : 29;   /* below 2^26, as n (table_resize()) */
  guint32  wide : 1;       /* n_alloc high halves follow the entries */
  guint32  indexed : 1;    /* offsets and an index of names follow them */
  guint32  exact : 1;      /* no room for names beyond names_len */
  HkEntry  items[];
};

G_STATIC_ASSERT (sizeof (HkEntries) == 12);

/* Room for names in a table that grows: powers of two from 64. */
static inline gsize
names_room_for (gsize len)
{
  gsize room = 64;

  while (room < len)
    room *= 2;
  return room;
}

static inline gsize
names_room (const HkEntries *t)
{
  return t->exact ? t->names_len : names_room_for (t->names_len);
}

/* The high 32 bits of each entry's inode number, NULL while all are 0. */
static inline guint32 *
highs_of (const HkEntries *t)
{
  return t->wide ? (guint32 *) (t->items + t->n_alloc) : NULL;
}

/* Where the offsets start in an indexed table, or the names. */
static inline guint32 *
after_entries (const HkEntries *t)
{
  return (guint32 *) (t->items + t->n_alloc) + (t->wide ? t->n_alloc : 0);
}

/* Indexed tables: the offset of each entry's name. */
static inline guint32 *
offsets_of (const HkEntries *t)
{
  return after_entries (t);
}

static inline guint32
index_slots (const HkEntries *t)
{
  return t->indexed ? after_entries (t)[t->n_alloc] : 0;
}

static inline guint32
index_mask (const HkEntries *t)
{
  return index_slots (t) - 1;
}

/* The index: entry number + 1 per slot, 0 for empty. */
static inline guint32 *
index_of (const HkEntries *t)
{
  return after_entries (t) + t->n_alloc + 1;
}

static inline char *
names_of (const HkEntries *t)
{
  return t->indexed ? (char *) (index_of (t) + index_slots (t)) : (char *) after_entries (t);
}

/* The name after @name in a table whose names are in order. */
static inline const char *
next_name (const char *name)
{
  return name + strlen (name) + 1;
}

static inline const char *
item_name (const HkEntries *t,
           guint32          i)
{
  const char *name = names_of (t);

  if (t->indexed)
    return name + offsets_of (t)[i];
  while (i-- > 0)
    name = next_name (name);
  return name;
}

static inline gsize
table_size (guint32  n_alloc,
            gboolean wide,
            guint32  slots,
            gsize    names_room)
{
  gsize per_entry = sizeof (HkEntry) + (wide ? sizeof (guint32) : 0) +
                    (slots > 0 ? sizeof (guint32) : 0);

  return sizeof (HkEntries) + (gsize) n_alloc * per_entry +
         (slots > 0 ? (1 + (gsize) slots) * sizeof (guint32) : 0) + names_room;
}

/* Tables of up to a few hundred bytes, most of them, come from the size
 * classes of hk-slab.c: no malloc header. */
static HkEntries *
table_alloc (gsize size)
{
  guint size_class = hk_slab_size_class (size);
  HkEntries *t = size_class > 0 ? hk_slab_class_alloc (size_class) : g_malloc (size);

  t->size_class = size_class;
  return t;
}

static void
table_free (HkEntries *t)
{
  if (t == NULL)
    return;
  if (t->size_class > 0)
    hk_slab_class_free (t->size_class, t);
  else
    g_free (t);
}

/* --- the index ------------------------------------------------------------ */

static void
index_insert (HkEntries *t,
              guint32    i)
{
  guint32 *index = index_of (t);
  guint32 mask = index_mask (t);
  guint32 slot = g_str_hash (item_name (t, i)) & mask;

  while (index[slot] != 0)
    slot = (slot + 1) & mask;
  index[slot] = i + 1;
}

static void
index_fill (HkEntries *t)
{
  memset (index_of (t), 0, (gsize) index_slots (t) * sizeof (guint32));
  for (guint32 i = 0; i < t->n; i++)
    index_insert (t, i);
}

/* The slot holding the entry named @name, or -1. */
static gint64
index_find (const HkEntries *t,
            const char      *name)
{
  const guint32 *index = index_of (t);
  guint32 mask = index_mask (t);
  guint32 slot = g_str_hash (name) & mask;

  while (index[slot] != 0)
    {
      if (strcmp (item_name (t, index[slot] - 1), name) == 0)
        return slot;
      slot = (slot + 1) & mask;
    }
  return -1;
}

static guint32
index_home (guint32       value,
            gconstpointer table)
{
  return g_str_hash (item_name (table, value - 1));
}

static void
index_delete_slot (HkEntries *t,
                   guint32    slot)
{
  hk_probe_delete (index_of (t), index_mask (t), slot, index_home, t);
}

/* --- tables --------------------------------------------------------------- */

/* Gives @dir's table room for @n_alloc entries (with high halves of inode
 * numbers when @wide), an index of @slots (0: none; an indexed table stays
 * indexed) and @names_room bytes of names, @exact when that is names_len.
 * Always a new block of that size: shrinking in place would leave a hole
 * behind each table read, too small for the next. The index is built
 * again. */
static void
table_resize (HkDirNode *dir,
              guint32    n_alloc,
              gboolean   wide,
              guint32    slots,
              gsize      names_room,
              gboolean   exact)
{
  HkEntries *old = dir->entries;
  HkEntries *t;

  /* A table counts its entries in 26 bits. */
  if (n_alloc >= (1u << 26) || names_room > G_MAXUINT32)
    g_error ("hachiko: a directory has more entries than a snapshot can hold");
  g_assert (old == NULL || !old->indexed || slots > 0);

  t = table_alloc (table_size (n_alloc, wide, slots, names_room));
  t->n = old != NULL ? old->n : 0;
  t->names_len = old != NULL ? old->names_len : 0;
  t->n_alloc = n_alloc;
  t->wide = wide;
  t->indexed = slots > 0;
  t->exact = exact;
  if (slots > 0)
    after_entries (t)[n_alloc] = slots;

  if (old != NULL)
    {
      memcpy (t->items, old->items, (gsize) old->n * sizeof (HkEntry));
      if (old->wide)
        memcpy (highs_of (t), highs_of (old), (gsize) old->n * sizeof (guint32));
      else if (wide)
        memset (highs_of (t), 0, (gsize) old->n * sizeof (guint32));
      if (old->indexed)
        memcpy (offsets_of (t), offsets_of (old), (gsize) old->n * sizeof (guint32));
      else if (t->indexed)
        {
          /* The names stay where they are; they just get offsets. */
          const char *names = names_of (old);
          const char *name = names;

          for (guint32 i = 0; i < old->n; i++, name = next_name (name))
            offsets_of (t)[i] = (guint32) (name - names);
        }
      memcpy (names_of (t), names_of (old), old->names_len);
      table_free (old);
    }
  dir->entries = t;
  if (slots > 0)
    index_fill (t);
}

/* Drops the names no entry of an indexed table uses, when they are at
 * least @min_share of all (1: any). Tables without an index have no
 * garbage. */
static void
table_compact (HkEntries *t,
               guint      min_share)
{
  g_autofree char *packed = NULL;
  gsize live = 0;
  guint32 len = 0;

  if (!t->indexed)
    return;
  for (guint32 i = 0; i < t->n; i++)
    live += strlen (item_name (t, i)) + 1;
  if (live == t->names_len || (t->names_len - live) * min_share < t->names_len)
    return;

  packed = g_malloc (live);
  for (guint32 i = 0; i < t->n; i++)
    {
      const char *name = item_name (t, i);
      gsize size = strlen (name) + 1;

      memcpy (packed + len, name, size);
      offsets_of (t)[i] = len;
      len += size;
    }
  memcpy (names_of (t), packed, len);
  t->names_len = len;
}

/* Appends an entry for @name, its reference left for the caller. */
static HkEntry *
table_append (HkDirNode  *dir,
              const char *name,
              HkNodeKind  kind)
{
  gsize size = strlen (name) + 1;
  HkEntries *t = dir->entries;
  HkEntry *entry;

  if (t == NULL)
    table_resize (dir, 8, FALSE, 0, names_room_for (size), FALSE);  /* most directories fit */
  else
    {
      guint32 n_alloc = t->n_alloc;
      guint32 slots = index_slots (t);
      gboolean names_full = t->names_len + size > names_room (t);

      /* Garbage is looked for only when the names are full: half of
       * them is reused in place. */
      if (names_full)
        {
          table_compact (t, 2);
          names_full = t->names_len + size > names_room (t);
        }
      if (t->n == n_alloc)
        n_alloc *= 2;
      /* The index is at most half full; it starts with the 33rd entry. */
      if (slots > 0 && ((guint32) t->n + 1) * 2 > slots)
        slots *= 2;
      else if (slots == 0 && t->n + 1 > INDEX_MIN_ENTRIES)
        slots = 4 * INDEX_MIN_ENTRIES;
      if (names_full || n_alloc != t->n_alloc || slots != index_slots (t))
        table_resize (dir, n_alloc, t->wide, slots,
                      names_room_for (t->names_len + size), FALSE);
    }

  /* Names in order stay in order: this one is last. */
  t = dir->entries;
  memcpy (names_of (t) + t->names_len, name, size);
  entry = &t->items[t->n];
  memset (entry, 0, sizeof *entry);
  entry->kind = kind;
  if (t->wide)
    highs_of (t)[t->n] = 0;
  if (t->indexed)
    offsets_of (t)[t->n] = t->names_len;
  t->names_len += size;
  t->n++;
  if (t->indexed)
    index_insert (t, t->n - 1);

  return entry;
}

/* Tells the directory of entry @i where it is now. */
static inline void
entry_placed (HkEntries *t,
              guint32    i)
{
  if (t->items[i].kind == HK_NODE_DIR)
    hk_entry_dir (&t->items[i])->index = i;
}

/* Removes the entry @i. In an indexed table the last entry takes its
 * place and the name stays behind as garbage, until the names are full
 * or the table is trimmed; in a small one the entries and names after it
 * move up, keeping the names in order. */
static void
table_remove (HkDirNode *dir,
              guint32    i)
{
  HkEntries *t = dir->entries;
  guint32 last = t->n - 1;

  if (t->indexed)
    {
      index_delete_slot (t, (guint32) index_find (t, item_name (t, i)));
      if (i != last)
        {
          index_of (t)[index_find (t, item_name (t, last))] = i + 1;
          t->items[i] = t->items[last];
          offsets_of (t)[i] = offsets_of (t)[last];
          if (t->wide)
            highs_of (t)[i] = highs_of (t)[last];
          entry_placed (t, i);
        }
    }
  else
    {
      char *names = names_of (t);
      char *name = (char *) item_name (t, i);
      gsize size = strlen (name) + 1;
      gsize after = t->names_len - (gsize) (name - names) - size;

      memmove (name, name + size, after);
      t->names_len -= size;
      memmove (&t->items[i], &t->items[i + 1], (gsize) (last - i) * sizeof (HkEntry));
      if (t->wide)
        memmove (&highs_of (t)[i], &highs_of (t)[i + 1], (gsize) (last - i) * sizeof (guint32));
      for (guint32 j = i; j < last; j++)
        entry_placed (t, j);
    }
  t->n--;

  if (t->n == 0)
    {
      table_free (t);
      dir->entries = NULL;
    }
  else if (t->n_alloc >= 64 && t->n * 4 < t->n_alloc)
    hk_dir_trim (dir);  /* most entries went: give the room back */
}

static guint32
entry_number (HkDirNode *dir,
              HkEntry   *entry)
{
  g_assert (dir->entries != NULL &&
            entry >= dir->entries->items &&
            entry < dir->entries->items + dir->entries->n);
  return (guint32) (entry - dir->entries->items);
}

/* Bumped whenever a directory is attached, detached or freed in any
 * tree: a remembered path (hk_dir_path()) is good while it is unchanged. */
static gint path_generation;

static inline void
paths_changed (void)
{
  g_atomic_int_inc (&path_generation);
}

/* --- directories ---------------------------------------------------------- */

HkDirNode *
hk_dir_new_root (HkNodes *nodes,
                 guint64  ino,
                 dev_t    dev)
{
  HkDirNode *dir = hk_slab_alloc0 (&nodes->dirs);

  dir->ino = ino;
  dir->dev = hk_node_dev (dev);
  return dir;
}

void
hk_dir_free (HkNodes   *nodes,
             HkDirNode *dir)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  paths_changed ();
  g_ptr_array_add (stack, dir);
  while (stack->len > 0)
    {
      HkDirNode *top = g_ptr_array_steal_index_fast (stack, stack->len - 1);
      HkEntries *t = top->entries;

      hk_dir_collect_subdirs (top, stack);
      if (nodes->dir_freed != NULL)
        nodes->dir_freed (top, nodes->user_data);
      table_free (t);
      hk_slab_free (&nodes->dirs, top);
    }
}

void
hk_dir_collect_subdirs (HkDirNode *dir,
                        GPtrArray *out)
{
  HkEntries *t = dir->entries;

  for (guint32 i = 0; t != NULL && i < t->n; i++)
    if (t->items[i].kind == HK_NODE_DIR)
      g_ptr_array_add (out, hk_entry_dir (&t->items[i]));
}

guint
hk_dir_n_entries (const HkDirNode *dir)
{
  return dir->entries != NULL ? dir->entries->n : 0;
}

HkEntry *
hk_dir_entry_at (HkDirNode *dir,
                 guint      i)
{
  g_assert (i < hk_dir_n_entries (dir));
  return &dir->entries->items[i];
}

const char *
hk_dir_entry_name (const HkDirNode *dir,
                   const HkEntry   *entry)
{
  return item_name (dir->entries, (guint32) (entry - dir->entries->items));
}

const char *
hk_dir_name (const HkDirNode *dir)
{
  if (dir->parent == 0)
    return "";
  return item_name (hk_dir_parent (dir)->entries, dir->index);
}

HkEntry *
hk_dir_lookup (HkDirNode  *dir,
               const char *name)
{
  HkEntries *t = dir->entries;

  if (t == NULL)
    return NULL;

  if (t->indexed)
    {
      gint64 slot = index_find (t, name);

      return slot >= 0 ? &t->items[index_of (t)[slot] - 1] : NULL;
    }

  /* Names in order: one pass over them. */
  const char *candidate = names_of (t);

  for (guint32 i = 0; i < t->n; i++, candidate = next_name (candidate))
    if (candidate[0] == name[0] && strcmp (candidate, name) == 0)
      return &t->items[i];
  return NULL;
}

guint64
hk_entry_ino (const HkDirNode *dir,
              const HkEntry   *entry)
{
  const HkEntries *t = dir->entries;

  if (entry->kind == HK_NODE_DIR)
    return hk_entry_dir (entry)->ino;
  if (!t->wide)
    return entry->ref;
  return (guint64) highs_of (t)[entry - t->items] << 32 | entry->ref;
}

HkEntry *
hk_entry_set_ino (HkDirNode *dir,
                  HkEntry   *entry,
                  guint64    ino)
{
  HkEntries *t = dir->entries;
  guint32 i = entry_number (dir, entry);

  if (entry->kind == HK_NODE_DIR)
    {
      hk_entry_dir (entry)->ino = ino;
      return entry;
    }

  if ((ino >> 32) != 0 && !t->wide)
    {
      table_resize (dir, t->n_alloc, TRUE, index_slots (t), names_room (t), t->exact);
      t = dir->entries;
      entry = &t->items[i];
    }
  entry->ref = (guint32) ino;
  if (t->wide)
    highs_of (t)[i] = (guint32) (ino >> 32);
  return entry;
}

HkEntry *
hk_dir_add (HkNodes    *nodes,
            HkDirNode  *dir,
            const char *name,
            HkNodeKind  kind,
            guint64     ino)
{
  HkEntry *entry = table_append (dir, name, kind);

  if (kind == HK_NODE_DIR)
    {
      HkDirNode *child = hk_slab_alloc0 (&nodes->dirs);

      child->parent = hk_slab_id (dir);
      child->index = dir->entries->n - 1;
      child->ino = ino;
      child->dev = dir->dev;
      entry->ref = hk_slab_id (child);
      return entry;
    }

  return hk_entry_set_ino (dir, entry, ino);
}

HkDirNode *
hk_dir_detach (HkDirNode *dir,
               HkEntry   *entry)
{
  HkDirNode *child = hk_entry_dir (entry);

  table_remove (dir, entry_number (dir, entry));
  if (child != NULL)
    {
      child->parent = 0;
      child->index = 0;
      paths_changed ();
    }
  return child;
}

void
hk_dir_remove (HkNodes   *nodes,
               HkDirNode *dir,
               HkEntry   *entry)
{
  HkDirNode *child = hk_dir_detach (dir, entry);

  if (child != NULL)
    hk_dir_free (nodes, child);
}

HkEntry *
hk_dir_attach (HkDirNode  *dir,
               const char *name,
               HkDirNode  *child)
{
  HkEntry *entry = table_append (dir, name, HK_NODE_DIR);

  entry->ref = hk_slab_id (child);
  child->parent = hk_slab_id (dir);
  child->index = dir->entries->n - 1;
  paths_changed ();
  return entry;
}

HkEntry *
hk_dir_rename (HkDirNode  *from_dir,
               HkEntry    *entry,
               HkDirNode  *to_dir,
               const char *to_name)
{
  HkEntry old = *entry;
  guint64 ino = hk_entry_ino (from_dir, entry);
  HkDirNode *child = hk_dir_detach (from_dir, entry);
  HkEntry *moved;

  if (child != NULL)
    return hk_dir_attach (to_dir, to_name, child);

  moved = table_append (to_dir, to_name, old.kind);
  moved->stamp = old.stamp;
  return hk_entry_set_ino (to_dir, moved, ino);
}

void
hk_dir_trim (HkDirNode *dir)
{
  HkEntries *t = dir->entries;

  if (t == NULL)
    return;
  table_compact (t, 1);
  if (t->n_alloc > t->n || !t->exact)
    table_resize (dir, t->n, t->wide, index_slots (t), t->names_len, TRUE);
}

/* Absolute path of @dir. */
static char *
build_dir_path (HkNodes         *nodes,
                const HkDirNode *dir,
                gsize           *len_out)
{
  const char *parts[256];
  g_autoptr(GPtrArray) many = NULL;
  const char **names = parts;
  guint n = 0;
  gsize root_len = strlen (nodes->root_path);
  gsize len = root_len;
  GString *path;

  for (const HkDirNode *it = dir; it != NULL && it->parent != 0; it = hk_dir_parent (it))
    {
      const char *name = hk_dir_name (it);

      if (n == G_N_ELEMENTS (parts) && many == NULL)
        {
          many = g_ptr_array_new ();
          for (guint i = 0; i < n; i++)
            g_ptr_array_add (many, (gpointer) parts[i]);
        }
      if (many != NULL)
        g_ptr_array_add (many, (gpointer) name);
      else
        parts[n] = name;
      n++;
      len += strlen (name) + 1;
    }
  if (many != NULL)
    names = (const char **) many->pdata;

  path = g_string_sized_new (len + 1);
  g_string_append_len (path, nodes->root_path, root_len);
  for (guint i = n; i > 0; i--)
    {
      if (path->len == 0 || path->str[path->len - 1] != '/')
        g_string_append_c (path, '/');
      g_string_append (path, names[i - 1]);
    }
  *len_out = path->len;
  return g_string_free (path, FALSE);
}

/* Absolute path of @dir (+ "/" @child_name); *relative points inside it,
 * at the path relative to the root ("" for the root itself). The last
 * directory's path is remembered: events come in runs in one directory,
 * and its path would otherwise be built from every ancestor's name each
 * time (a search of its parent's names for a directory of a small
 * table). */
char *
hk_dir_path (HkNodes          *nodes,
             const HkDirNode  *dir,
             const char       *child_name,
             const char      **relative)
{
  guint generation = (guint) g_atomic_int_get (&path_generation);
  gsize root_len = strlen (nodes->root_path);
  gsize child_len = child_name != NULL ? strlen (child_name) : 0;
  gsize len;
  char *path;

  if (nodes->path == NULL || nodes->path_dir != dir || nodes->path_generation != generation)
    {
      g_free (nodes->path);
      nodes->path = build_dir_path (nodes, dir, &nodes->path_len);
      nodes->path_dir = dir;
      nodes->path_generation = generation;
    }

  len = nodes->path_len;
  path = g_malloc (len + child_len + 2);
  memcpy (path, nodes->path, len);
  if (child_name != NULL)
    {
      if (len == 0 || path[len - 1] != '/')
        path[len++] = '/';
      memcpy (path + len, child_name, child_len);
      len += child_len;
    }
  path[len] = '\0';

  if (relative != NULL)
    {
      const char *rel = path + MIN (root_len, len);

      while (*rel == '/')
        rel++;
      *relative = rel;
    }
  return path;
}

HkNodeKind
hk_node_kind_from_mode (mode_t mode)
{
  if (S_ISDIR (mode))
    return HK_NODE_DIR;
  if (S_ISREG (mode))
    return HK_NODE_FILE;
  if (S_ISLNK (mode))
    return HK_NODE_SYMLINK;
  return HK_NODE_OTHER;
}

HkNodeKind
hk_node_kind_from_dtype (unsigned char d_type)
{
  switch (d_type)
    {
    case DT_DIR: return HK_NODE_DIR;
    case DT_REG: return HK_NODE_FILE;
    case DT_LNK: return HK_NODE_SYMLINK;
    default:     return HK_NODE_OTHER;
    }
}

/* What a file looked like when it was last reported or read, folded into
 * 28 bits (0: unknown). A rescan reports `modified` for a file only when it
 * no longer matches: the user was told about that state already. */
guint32
hk_node_stamp_from_stat (const struct stat *st)
{
  guint64 parts[] = { st->st_mtim.tv_sec, st->st_mtim.tv_nsec, st->st_size,
                      st->st_ctim.tv_sec, st->st_ctim.tv_nsec };
  guint64 h = G_GUINT64_CONSTANT (14695981039346656037);
  guint32 stamp;

  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    h = (h ^ parts[i]) * G_GUINT64_CONSTANT (1099511628211);
  h ^= h >> 33;
  h *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  h ^= h >> 33;
  stamp = (guint32) h & 0x0fffffff;  /* HkEntry.stamp's width */

  return stamp != 0 ? stamp : 1;
}

void
hk_nodes_init (HkNodes         *nodes,
               HkNodesDirFreed  dir_freed,
               gpointer         user_data)
{
  nodes->root_path = NULL;
  nodes->path = NULL;
  hk_slab_init (&nodes->dirs, sizeof (HkDirNode));
  nodes->dir_freed = dir_freed;
  nodes->user_data = user_data;
}

void
hk_nodes_set_root_path (HkNodes    *nodes,
                        const char *root_path)
{
  g_free (nodes->root_path);
  nodes->root_path = g_strdup (root_path);
  g_clear_pointer (&nodes->path, g_free);
}

void
hk_nodes_clear (HkNodes *nodes)
{
  g_clear_pointer (&nodes->root_path, g_free);
  g_clear_pointer (&nodes->path, g_free);
  hk_slab_clear (&nodes->dirs);
}
