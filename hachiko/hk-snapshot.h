/* hk-snapshot.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <gio/gio.h>

#include "hk-version-macros.h"
#include "hk-event.h"
#include "hk-filter.h"

G_BEGIN_DECLS

#define HK_TYPE_SNAPSHOT (hk_snapshot_get_type ())

/**
 * HkSnapshotClass:
 *
 * The class structure of [class@Hk.Snapshot]. The type is final: it has no
 * public fields and cannot be subclassed.
 *
 * Since: 1.0
 */
HK_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (HkSnapshot, hk_snapshot, HK, SNAPSHOT, GObject)

HK_AVAILABLE_IN_1_0
HkSnapshot *hk_snapshot_take          (GFile                *root,
                                       HkFilter             *filter,
                                       GCancellable         *cancellable,
                                       GError              **error);
HK_AVAILABLE_IN_1_0
void        hk_snapshot_take_async    (GFile                *root,
                                       HkFilter             *filter,
                                       GCancellable         *cancellable,
                                       GAsyncReadyCallback   callback,
                                       gpointer              user_data);
HK_AVAILABLE_IN_1_0
HkSnapshot *hk_snapshot_take_finish   (GAsyncResult         *result,
                                       GError              **error);
HK_AVAILABLE_IN_1_0
HkSnapshot *hk_snapshot_load          (GFile                *file,
                                       GCancellable         *cancellable,
                                       GError              **error);
HK_AVAILABLE_IN_1_0
gboolean    hk_snapshot_save          (HkSnapshot           *self,
                                       GFile                *file,
                                       GCancellable         *cancellable,
                                       GError              **error);
HK_AVAILABLE_IN_1_0
GPtrArray  *hk_snapshot_diff          (HkSnapshot           *old_snapshot,
                                       HkSnapshot           *new_snapshot);
HK_AVAILABLE_IN_1_0
GFile      *hk_snapshot_get_root      (HkSnapshot           *self);
HK_AVAILABLE_IN_1_0
guint       hk_snapshot_get_n_entries (HkSnapshot           *self);
HK_AVAILABLE_IN_1_0
gint64      hk_snapshot_get_taken_at  (HkSnapshot           *self);
HK_AVAILABLE_IN_1_0
gboolean    hk_snapshot_lookup        (HkSnapshot           *self,
                                       const char           *path,
                                       GFileType            *file_type,
                                       guint64              *size,
                                       gint64               *mtime_us,
                                       guint64              *inode);

G_END_DECLS
