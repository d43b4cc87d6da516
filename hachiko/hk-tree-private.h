/* hk-tree-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "hk-event-queue-private.h"
#include "hk-filter-private.h"
#include "hk-nodes-private.h"
#include "hk-snapshot.h"
#include "hk-watch-private.h"

G_BEGIN_DECLS

typedef struct _HkTree    HkTree;
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
  gboolean       early;          /* start may return before the walk, where the backend allows */
} HkTreeOptions;

HkTree     *hk_tree_new                (HkWatchHub           *hub,
                                        const HkTreeOptions  *options,
                                        HkEventQueue         *queue);
void        hk_tree_free               (HkTree               *tree);
gboolean    hk_tree_start              (HkTree               *tree,
                                        GCancellable         *cancellable,
                                        GError              **error);
void        hk_tree_cancel             (HkTree               *tree);
/* Whether the start walk still goes on (early ready: hk_tree_start()
 * returned before it; HK_QUEUE_ITEM_WALK_COMPLETE follows its end).
 * Atomic: readable from any thread. */
gboolean    hk_tree_is_walking         (HkTree               *tree);
/* Tests: early-ready walks stop after reading @n_dirs directories in all
 * (0: never), until hk_tree_resume_walks_for_testing(). Any thread. */
void        hk_tree_pause_walks_for_testing  (guint            n_dirs);
void        hk_tree_resume_walks_for_testing (void);
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
