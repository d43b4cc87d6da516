/* hk-nodes-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _HkNode    HkNode;
typedef struct _HkDirNode HkDirNode;

typedef enum
{
  HK_NODE_FILE,
  HK_NODE_DIR,
  HK_NODE_SYMLINK,
  HK_NODE_OTHER,
} HkNodeKind;

/* One entry of the in-memory snapshot. Files are plain HkNodes; directories
 * are HkDirNodes. Kept small on purpose: the snapshot holds every entry of
 * the tree (see docs/performance.md for the bytes per directory). */
struct _HkNode
{
  HkDirNode *parent;
  HkNode    *prev;
  HkNode    *next;
  char      *name;
  guint64    ino;
  guint8     kind;
  guint8     name_is_inline : 1;
  guint32    stamp;            /* files: hash of (mtime, size, ctime) last
                                * reported, 0 when unknown; fits the padding */
};

struct _HkDirNode
{
  HkNode     node;
  HkNode    *children;
  gpointer   watch;            /* the owner's watch of it, NULL when unwatched */
  guint32    followed : 1;     /* a symbolic link followed to a directory */
  guint32    fallback : 1;     /* polled for lack of kernel watches */
  guint32    queued : 1;       /* waiting in the start walk's list */
  dev_t      dev;              /* with node.ino: loop detection for symlinks */
};

/* The set of nodes of one tree. */
typedef void (*HkNodesDirFreed) (HkDirNode *dir,
                                 gpointer   user_data);

typedef struct
{
  GHashTable      *set;          /* of HkNode, keyed by (parent, name) */
  char            *root_path;    /* what paths start with */
  HkNodesDirFreed  dir_freed;    /* told before a directory node is freed */
  gpointer         user_data;
} HkNodes;

void        hk_nodes_init            (HkNodes           *nodes,
                                      HkNodesDirFreed    dir_freed,
                                      gpointer           user_data);
void        hk_nodes_set_root_path   (HkNodes           *nodes,
                                      const char        *root_path);
void        hk_nodes_clear           (HkNodes           *nodes);

HkNode     *hk_node_lookup           (HkNodes           *nodes,
                                      HkDirNode         *parent,
                                      const char        *name);
/* With @parent NULL: a root, in no set. */
HkNode     *hk_node_new              (HkNodes           *nodes,
                                      HkDirNode         *parent,
                                      const char        *name,
                                      HkNodeKind         kind,
                                      guint64            ino);
/* Detaches @node (and what is below it) from its parent. */
void        hk_node_unlink           (HkNodes           *nodes,
                                      HkNode            *node);
/* Frees @node and everything below it, without recursion. */
void        hk_node_remove_subtree   (HkNodes           *nodes,
                                      HkNode            *node);
void        hk_node_rename           (HkNodes           *nodes,
                                      HkNode            *node,
                                      HkDirNode         *new_parent,
                                      const char        *new_name);
/* Absolute path of @node (+ "/" @child_name); *relative points inside it
 * at the path relative to the root ("" for the root itself). */
char       *hk_node_path             (HkNodes           *nodes,
                                      HkNode            *node,
                                      const char        *child_name,
                                      const char       **relative);

HkNodeKind  hk_node_kind_from_mode   (mode_t             mode);
HkNodeKind  hk_node_kind_from_dtype  (unsigned char      d_type);
/* What a file looked like, folded into 32 bits (never 0). */
guint32     hk_node_stamp_from_stat  (const struct stat *st);

G_END_DECLS
