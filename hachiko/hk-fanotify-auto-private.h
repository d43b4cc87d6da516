/* hk-fanotify-auto-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* From how many directories AUTO prefers fanotify (filesystem marks) over
 * inotify for a local tree: see docs/backends.md for the figures
 * behind it. */
#define HK_FANOTIFY_AUTO_MIN_DIRECTORIES 10000

/* Whether AUTO should watch the local tree at @root with fanotify: only
 * when a filesystem mark is permitted there (CAP_SYS_ADMIN, and not a btrfs
 * subvolume or another filesystem that refuses one) and the tree holds at
 * least @min_directories directories (counted, without following links,
 * until that many are found). *reason says why, in a few words, either
 * way. */
gboolean  hk_fanotify_auto_prefers  (const char  *root,
                                     guint        min_directories,
                                     char       **reason);

G_END_DECLS
