/* hk-tree-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "hk-event-queue-private.h"
#include "hk-filter-private.h"
#include "hk-snapshot.h"
#include "hk-watch-private.h"

G_BEGIN_DECLS

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
  guint32    stamp;            /* files: hash of (mtime, size, ctime) last
                                * reported, 0 when unknown; fits the padding */
};

struct _HkDirNode
{
  HkNode     node;
  HkNode    *children;
  HkWatch   *watch;            /* NULL when unwatched */
  guint32    followed : 1;     /* a symbolic link followed to a directory */
  guint32    fallback : 1;     /* polled for lack of kernel watches */
  guint32    queued : 1;       /* waiting in the start walk's list */
  dev_t      dev;              /* with node.ino: loop detection for symlinks */
};

typedef struct
{
  char          *root_path;      /* absolute, the user's root */
  gboolean       recursive;
  gboolean       access_events;
  gboolean       follow_symlinks;
  HkFilterRules *rules;          /* nullable; prunes ignored subtrees */
  HkBackendKind  backend;        /* never AUTO */
  gboolean       automatic;      /* chosen by AUTO: out of inotify watches, try fanotify */
  guint          poll_interval;  /* ms, for the polling backend; 0: default */
  GHashTable    *mounts;         /* nullable: mount point -> HkBackendKind, for AUTO */
  HkSnapshot    *since;          /* nullable: report the difference from it at start */
} HkTreeOptions;

HkTree     *hk_tree_new                (HkWatchHub           *hub,
                                        const HkTreeOptions  *options,
                                        HkEventQueue         *queue);
void        hk_tree_free               (HkTree               *tree);
gboolean    hk_tree_start              (HkTree               *tree,
                                        GCancellable         *cancellable,
                                        GError              **error);
void        hk_tree_cancel             (HkTree               *tree);
/* Directories covered, by any backend; and those only polled. Atomic:
 * readable from any thread. */
guint       hk_tree_get_n_watched      (HkTree               *tree);
guint       hk_tree_get_n_polled       (HkTree               *tree);
/* A consistent copy of what the tree knows, each entry stat'ed now. Runs
 * on the worker. */
HkSnapshot *hk_tree_dup_snapshot       (HkTree               *tree);
/* Behaves as if events were lost now: `overflow`, then a rescan. */
void        hk_tree_inject_overflow    (HkTree               *tree);
void        hk_tree_resume             (HkTree               *tree);
/* The filter changed while running (on the worker). */
void        hk_tree_set_rules          (HkTree               *tree,
                                        HkFilterRules        *rules);

G_END_DECLS
