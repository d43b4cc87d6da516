/* hk-replay.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The pure parts of the model-checked stress test (tests/test-stress.c):
 *
 *  - HkReplayTree: a set of paths relative to a root, each with a kind;
 *    either a snapshot of the disk (hk_replay_tree_scan(), lstat, symlinks
 *    not followed) or a model built by replaying changes;
 *  - HkReplayModel: a tree that replays the watchdog's event stream and
 *    records every event that does not make sense against the model
 *    (duplicate creation, change of an unknown path, ...);
 *  - hk_replay_tree_diff(): the differences between two trees;
 *  - HkReplayGen: a seeded generator of random filesystem operations inside
 *    a root, with a sibling "outside" directory for moves in and out, that
 *    keeps its own exact view of the tree it produces.
 *
 * None of this depends on the library, so it can be unit-tested on its own.
 * Paths are byte strings: names may hold spaces, newlines and bytes that are
 * not UTF-8. Relative paths use '/' and never start or end with it; the root
 * itself is "".
 */

typedef enum
{
  HK_REPLAY_KIND_FILE,
  HK_REPLAY_KIND_DIR,
  HK_REPLAY_KIND_SYMLINK,
  HK_REPLAY_KIND_OTHER,
} HkReplayKind;

const char *hk_replay_kind_to_string (HkReplayKind kind);

/* Trees */

typedef struct _HkReplayTree HkReplayTree;

HkReplayTree *hk_replay_tree_new            (void);
HkReplayTree *hk_replay_tree_copy           (HkReplayTree  *self);
void          hk_replay_tree_free           (HkReplayTree  *self);
gboolean      hk_replay_tree_scan_into      (HkReplayTree  *self,
                                             const char    *abs_dir,
                                             const char    *rel_prefix,
                                             GError       **error);
HkReplayTree *hk_replay_tree_scan           (const char    *root,
                                             GError       **error);
guint         hk_replay_tree_get_size       (HkReplayTree  *self);
gboolean      hk_replay_tree_lookup         (HkReplayTree  *self,
                                             const char    *rel_path,
                                             HkReplayKind  *kind);
void          hk_replay_tree_insert         (HkReplayTree  *self,
                                             const char    *rel_path,
                                             HkReplayKind   kind);
guint         hk_replay_tree_remove_subtree (HkReplayTree  *self,
                                             const char    *rel_path);
guint         hk_replay_tree_move_subtree   (HkReplayTree  *self,
                                             const char    *src,
                                             const char    *dest);
GPtrArray    *hk_replay_tree_list           (HkReplayTree  *self,
                                             guint          kind_mask);

#define HK_REPLAY_KIND_MASK(kind) (1u << (kind))
#define HK_REPLAY_KIND_MASK_ALL   0xfu

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkReplayTree, hk_replay_tree_free)

/* Differences */

typedef enum
{
  /* Every kind must match exactly. */
  HK_REPLAY_DIFF_EXACT,
  /* Only "directory or not" must match: what an event can say. */
  HK_REPLAY_DIFF_DIRECTORIES,
} HkReplayDiffMode;

GPtrArray *hk_replay_tree_diff (HkReplayTree     *expected,
                                HkReplayTree     *actual,
                                HkReplayDiffMode  mode);

char *hk_replay_escape_path (const char *path);

/* Replaying events */

typedef enum
{
  HK_REPLAY_CHANGE_CREATE,  /* path exists now (kind from is_directory) */
  HK_REPLAY_CHANGE_DELETE,  /* path and its subtree are gone */
  HK_REPLAY_CHANGE_MOVE,    /* path and its subtree moved to dest, replacing dest */
  HK_REPLAY_CHANGE_TOUCH,   /* no structural change; path must exist */
} HkReplayChange;

typedef struct _HkReplayModel HkReplayModel;

HkReplayModel *hk_replay_model_new             (const char     *root,
                                                HkReplayTree   *initial);
void           hk_replay_model_free            (HkReplayModel  *self);
void           hk_replay_model_apply           (HkReplayModel  *self,
                                                HkReplayChange  change,
                                                const char     *path,
                                                const char     *dest_path,
                                                gboolean        is_directory);
HkReplayTree  *hk_replay_model_get_tree        (HkReplayModel  *self);
guint          hk_replay_model_get_n_applied   (HkReplayModel  *self);
guint          hk_replay_model_get_n_duplicates (HkReplayModel *self);
GPtrArray     *hk_replay_model_get_anomalies   (HkReplayModel  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkReplayModel, hk_replay_model_free)

/* Generating operations */

typedef struct _HkReplayGen HkReplayGen;

HkReplayGen  *hk_replay_gen_new          (const char   *root,
                                          const char   *outside,
                                          guint32       seed);
void          hk_replay_gen_free         (HkReplayGen  *self);
gboolean      hk_replay_gen_populate     (HkReplayGen  *self,
                                          guint         n_ops,
                                          GError      **error);
gboolean      hk_replay_gen_step         (HkReplayGen  *self,
                                          GError      **error);
guint         hk_replay_gen_next_burst   (HkReplayGen  *self,
                                          guint         max_burst);
HkReplayTree *hk_replay_gen_get_tree     (HkReplayGen  *self);
guint         hk_replay_gen_get_n_steps  (HkReplayGen  *self);
const char   *hk_replay_gen_get_log      (HkReplayGen  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkReplayGen, hk_replay_gen_free)

/* Removes @path recursively (no symlink is followed); a missing path is not
 * an error. */
gboolean hk_replay_rm_rf (const char  *path,
                          GError     **error);

G_END_DECLS
