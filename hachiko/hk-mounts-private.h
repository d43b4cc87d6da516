/* hk-mounts-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hk-backend-kind.h"

G_BEGIN_DECLS

/* Which backend AUTO picks for the filesystem at @path: polling for
 * network, FUSE and other filesystems whose changes the kernel does not
 * announce, inotify otherwise. *reason says why, in a few words. */
HkBackendKind  hk_mounts_choose_backend  (const char  *path,
                                          char       **reason);

/* Mount points strictly inside @root (absolute, as the kernel lists them)
 * mapped to the backend AUTO picks for each, as GINT_TO_POINTER; NULL when
 * there are none. */
GHashTable    *hk_mounts_inside          (const char  *root);

G_END_DECLS
