/* hk-nodes-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hk-slab-private.h"

G_BEGIN_DECLS

typedef struct _HkDirNode HkDirNode;
typedef struct _HkEntries HkEntries;

typedef enum
{
  HK_NODE_FILE,
  HK_NODE_DIR,
  HK_NODE_SYMLINK,
  HK_NODE_OTHER,
} HkNodeKind;

/* The in-memory snapshot of a tree: a node per directory, and in each
 * directory one table of its entries with their names packed behind them
 * (8 bytes and the name per entry; see docs/performance-findings.md). An
 * entry is an HkEntry inside its directory's table: a pointer to it, or to
 * its name, holds only until that directory's entries change (an entry
 * added, removed or renamed in or out, or given an inode number above 32
 * bits). Directory nodes do not move. */
typedef struct
{
  guint32 ref;             /* directories: their node's hk_slab_id();
                            * others: the low 32 bits of the inode, whose
                            * high bits the table keeps when any is set */
  guint32 stamp : 28;      /* files: what was last reported, 0 unknown */
  guint32 kind : 2;        /* HkNodeKind */
  guint32 mark : 1;        /* scratch for a rescan: seen on disk */
  guint32 spare : 1;
} HkEntry;

/* 32 bytes, from the tree's slab: one per directory (see
 * docs/performance-findings.md, memory per directory). */
struct _HkDirNode
{
  HkEntries *entries;      /* NULL while it has none */
  guint64    ino;
  guint32    parent;       /* hk_slab_id() of the parent (hk_dir_parent()),
                            * 0 for the root and for detached nodes */
  guint32    watch;        /* the owner's 32-bit handle of its watch, 0 when
                            * unwatched */
  guint32    dev;          /* hk_node_dev(): with ino, loop detection for symlinks */
  guint32    index : 29;   /* of its entry in the parent's table */
  guint32    followed : 1; /* a symbolic link followed to a directory */
  guint32    fallback : 1; /* polled for lack of kernel watches */
  guint32    queued : 1;   /* waiting in the start walk's list */
};

/* A device number as a node keeps it. Linux's fit in 32 bits (12 bits of
 * major and 20 of minor, as the kernel has them); elsewhere they are
 * folded, which only weakens a comparison. */
static inline guint32
hk_node_dev (dev_t dev)
{
  return (guint32) ((guint64) dev ^ ((guint64) dev >> 32));
}

/* The set of nodes of one tree. */
typedef void (*HkNodesDirFreed) (HkDirNode *dir,
                                 gpointer   user_data);

typedef struct
{
  char            *root_path;    /* what paths start with */
  HkSlab           dirs;         /* the HkDirNode of every directory */
  HkNodesDirFreed  dir_freed;    /* told before a directory node is freed */
  gpointer         user_data;
  /* The path hk_dir_path() built last, of path_dir, while no directory
   * moved since (path_generation). */
  char            *path;
  gsize            path_len;
  const HkDirNode *path_dir;
  guint            path_generation;
} HkNodes;

void        hk_nodes_init            (HkNodes           *nodes,
                                      HkNodesDirFreed    dir_freed,
                                      gpointer           user_data);
void        hk_nodes_set_root_path   (HkNodes           *nodes,
                                      const char        *root_path);
void        hk_nodes_clear           (HkNodes           *nodes);

/* A directory node in no table: the root. */
HkDirNode  *hk_dir_new_root          (HkNodes           *nodes,
                                      guint64            ino,
                                      dev_t              dev);
/* Frees @dir, detached or the root, and everything below it, without
 * recursion (trees can be deeper than the stack). */
void        hk_dir_free              (HkNodes           *nodes,
                                      HkDirNode         *dir);

guint       hk_dir_n_entries         (const HkDirNode   *dir);
/* Appends the nodes of @dir's subdirectories to @out. */
void        hk_dir_collect_subdirs   (HkDirNode         *dir,
                                      GPtrArray         *out);
HkEntry    *hk_dir_entry_at          (HkDirNode         *dir,
                                      guint              i);
HkEntry    *hk_dir_lookup            (HkDirNode         *dir,
                                      const char        *name);
const char *hk_dir_entry_name        (const HkDirNode   *dir,
                                      const HkEntry     *entry);
/* The directory's own name, in its parent ("" for the root). */
const char *hk_dir_name              (const HkDirNode   *dir);

/* Adds @name; a directory gets a node of its own, with its parent's dev. */
HkEntry    *hk_dir_add               (HkNodes           *nodes,
                                      HkDirNode         *dir,
                                      const char        *name,
                                      HkNodeKind         kind,
                                      guint64            ino);
/* Removes @entry and frees what is below it. */
void        hk_dir_remove            (HkNodes           *nodes,
                                      HkDirNode         *dir,
                                      HkEntry           *entry);
/* Removes @entry, keeping what is below it: a directory's node is
 * returned detached (for hk_dir_attach() or hk_dir_free()), else NULL. */
HkDirNode  *hk_dir_detach            (HkDirNode         *dir,
                                      HkEntry           *entry);
HkEntry    *hk_dir_attach            (HkDirNode         *dir,
                                      const char        *name,
                                      HkDirNode         *child);
/* Moves @entry to @to_dir as @to_name (which must be free there). */
HkEntry    *hk_dir_rename            (HkDirNode         *from_dir,
                                      HkEntry           *entry,
                                      HkDirNode         *to_dir,
                                      const char        *to_name);
/* Gives back the room a table grew into: after a directory was read. */
void        hk_dir_trim              (HkDirNode         *dir);

/* Absolute path of @dir (+ "/" @child_name); *relative points inside it
 * at the path relative to the root ("" for the root itself). */
char       *hk_dir_path              (HkNodes           *nodes,
                                      const HkDirNode   *dir,
                                      const char        *child_name,
                                      const char       **relative);

static inline HkNodeKind
hk_entry_kind (const HkEntry *entry)
{
  return (HkNodeKind) entry->kind;
}

/* NULL for the root and for detached nodes. */
static inline HkDirNode *
hk_dir_parent (const HkDirNode *dir)
{
  return dir->parent != 0 ? hk_slab_lookup (dir->parent) : NULL;
}

/* Whether @dir is @ancestor or below it. */
static inline gboolean
hk_dir_is_within (const HkDirNode *dir,
                  const HkDirNode *ancestor)
{
  for (const HkDirNode *it = dir; it != NULL; it = hk_dir_parent (it))
    if (it == ancestor)
      return TRUE;
  return FALSE;
}

/* The entry's directory node, NULL when it is not a directory. */
static inline HkDirNode *
hk_entry_dir (const HkEntry *entry)
{
  return entry->kind == HK_NODE_DIR ? hk_slab_lookup (entry->ref) : NULL;
}

/* The inode number of @entry, in @dir (0: unknown). */
guint64     hk_entry_ino             (const HkDirNode   *dir,
                                      const HkEntry     *entry);
/* Sets it; the entry may move (a first inode above 32 bits in its table):
 * returns where it is now. */
HkEntry    *hk_entry_set_ino         (HkDirNode         *dir,
                                      HkEntry           *entry,
                                      guint64            ino);

HkNodeKind  hk_node_kind_from_mode   (mode_t             mode);
HkNodeKind  hk_node_kind_from_dtype  (unsigned char      d_type);
/* What a file looked like, folded into 28 bits (never 0). */
guint32     hk_node_stamp_from_stat  (const struct stat *st);

G_END_DECLS
