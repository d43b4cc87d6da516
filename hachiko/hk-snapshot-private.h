/* hk-snapshot-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-snapshot.h"

G_BEGIN_DECLS

/* Builds an HkSnapshot from entries given one by one, for instance from the
 * watchdog's live tree on the worker thread. Not thread-safe; the result is
 * immutable and can be handed to any thread.
 *
 * Directories are named by a handle: HK_SNAPSHOT_ROOT_DIR for the root, and
 * what hk_snapshot_builder_add() returns for a directory it adds. Entries may
 * come in any order (a parent before its children); adding them directory
 * by directory, each directory's names in strcmp() order, and directories
 * in the order their handles were returned (breadth first) is the fast path:
 * no sorting at the end. A name added twice to one directory keeps the last. */
typedef struct _HkSnapshotBuilder HkSnapshotBuilder;

#define HK_SNAPSHOT_ROOT_DIR 0u
#define HK_SNAPSHOT_NO_DIR   G_MAXUINT32

HkSnapshotBuilder *hk_snapshot_builder_new             (const char        *root_path,
                                                        gint64             taken_at_us);
/* Stat data of the root directory itself. */
void               hk_snapshot_builder_set_root        (HkSnapshotBuilder *builder,
                                                        guint64            dev,
                                                        guint64            ino,
                                                        guint              mode,
                                                        gint64             mtime_ns,
                                                        gint64             ctime_ns);
/* @mode is st_mode; when its file-type bits are 0, @file_type supplies them.
 * @dev only matters for directories (a file is on its directory's device).
 * Returns the new directory's handle, or HK_SNAPSHOT_NO_DIR for a
 * non-directory. */
guint32            hk_snapshot_builder_add             (HkSnapshotBuilder *builder,
                                                        guint32            parent_dir,
                                                        const char        *name,
                                                        GFileType          file_type,
                                                        guint64            dev,
                                                        guint64            ino,
                                                        guint64            size,
                                                        gint64             mtime_ns,
                                                        gint64             ctime_ns,
                                                        guint              mode);
/* The directory could not be read: its contents are unknown, and a diff
 * reports nothing below it. */
void               hk_snapshot_builder_set_unreadable  (HkSnapshotBuilder *builder,
                                                        guint32            dir);
void               hk_snapshot_builder_set_duration    (HkSnapshotBuilder *builder,
                                                        gint64             duration_us);
/* Consumes @builder. */
HkSnapshot        *hk_snapshot_builder_end             (HkSnapshotBuilder *builder);
void               hk_snapshot_builder_free            (HkSnapshotBuilder *builder);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkSnapshotBuilder, hk_snapshot_builder_free)

/* hk_snapshot_diff() with the events' is_synthetic flag and timestamp chosen
 * by the caller (the watchdog's `since` seam marks them synthetic). */
GPtrArray  *hk_snapshot_diff_full          (HkSnapshot  *old_snapshot,
                                            HkSnapshot  *new_snapshot,
                                            gboolean     synthetic,
                                            gint64       timestamp);

/* Same entries with the same data (the taken-at time and root are not
 * compared). */
gboolean    hk_snapshot_equal              (HkSnapshot  *a,
                                            HkSnapshot  *b);

const char *hk_snapshot_get_root_path      (HkSnapshot  *self);
gint64      hk_snapshot_get_duration       (HkSnapshot  *self);
guint       hk_snapshot_get_n_unreadable   (HkSnapshot  *self);
/* Bytes of memory the snapshot's tables use. */
gsize       hk_snapshot_get_memory_size    (HkSnapshot  *self);

/* Tests only: called on the walking thread before each directory is read,
 * with its breadth-first index (0 is the root). NULL to remove. */
typedef void (*HkSnapshotWalkHook) (guint32  dir,
                                    gpointer user_data);
void        hk_snapshot_set_walk_hook      (HkSnapshotWalkHook hook,
                                            gpointer           user_data);

/* Parses a snapshot file's contents; what hk_snapshot_load() does after
 * reading the file (and what the fuzzer calls). */
HkSnapshot *hk_snapshot_new_from_bytes     (GBytes      *bytes,
                                            const char  *display_name,
                                            GError     **error);
GBytes     *hk_snapshot_serialize          (HkSnapshot  *self);

G_END_DECLS
