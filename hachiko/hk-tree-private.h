/* hk-tree-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "hk-event-queue-private.h"
#include "hk-filter-private.h"

G_BEGIN_DECLS

typedef struct _HkBackend HkBackend;
typedef struct _HkTree    HkTree;
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
};

struct _HkDirNode
{
  HkNode     node;
  HkNode    *children;
  HkDirNode *next_same_watch;  /* chain of nodes sharing one kernel watch */
  HkTree    *tree;
  gint32     watch;            /* backend watch handle, -1 when unwatched */
  guint32    polled : 1;       /* covered by periodic rescans (no watch) */
  guint32    followed : 1;     /* a symbolic link followed to a directory */
  dev_t      dev;              /* with node.ino: loop detection for symlinks */
};

typedef struct
{
  char          *root_path;      /* absolute, the user's root */
  gboolean       recursive;
  gboolean       access_events;
  gboolean       follow_symlinks;
  HkFilterRules *rules;          /* nullable; prunes ignored subtrees */
} HkTreeOptions;

HkTree     *hk_tree_new                (HkBackend            *backend,
                                        const HkTreeOptions  *options,
                                        HkEventQueue         *queue);
void        hk_tree_free               (HkTree               *tree);
gboolean    hk_tree_start              (HkTree               *tree,
                                        GCancellable         *cancellable,
                                        GError              **error);
void        hk_tree_cancel             (HkTree               *tree);
guint       hk_tree_get_n_watched      (HkTree               *tree);
gboolean    hk_tree_is_root            (HkTree               *tree,
                                        HkDirNode            *dir);

/* Called by backends on the worker thread, in kernel queue order. */
void        hk_tree_on_created         (HkTree               *tree,
                                        HkDirNode            *dir,
                                        const char           *name,
                                        gboolean              moved_in,
                                        gboolean              is_directory,
                                        gint64                now);
void        hk_tree_on_deleted         (HkTree               *tree,
                                        HkDirNode            *dir,
                                        const char           *name,
                                        gint64                now);
void        hk_tree_on_changed         (HkTree               *tree,
                                        HkDirNode            *dir,
                                        const char           *name,
                                        HkEventType           event_type,
                                        gboolean              is_directory,
                                        gint64                now);
void        hk_tree_on_moved           (HkTree               *tree,
                                        HkDirNode            *from_dir,
                                        const char           *from_name,
                                        HkDirNode            *to_dir,
                                        const char           *to_name,
                                        gboolean              is_directory,
                                        gint64                now);
void        hk_tree_on_watch_lost      (HkTree               *tree,
                                        HkDirNode            *dir,
                                        gint64                now);
void        hk_tree_on_root_gone       (HkTree               *tree,
                                        int                   error_code,
                                        const char           *why,
                                        gint64                now);
void        hk_tree_on_overflow        (HkTree               *tree,
                                        gint64                now);
void        hk_tree_rescan             (HkTree               *tree,
                                        HkDirNode            *dir,
                                        gint64                now);
void        hk_tree_resume             (HkTree               *tree);
/* The filter changed while running (on the worker). */
void        hk_tree_set_rules          (HkTree               *tree,
                                        HkFilterRules        *rules);

G_END_DECLS
