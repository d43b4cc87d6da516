/* hk-backend-kind.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <glib.h>

#include "hk-version-macros.h"

G_BEGIN_DECLS

/**
 * HkBackendKind:
 * @HK_BACKEND_KIND_AUTO: let hachiko choose, per subtree: inotify on local
 *   filesystems, polling on network and virtual filesystems and where the
 *   kernel's watch limit is reached
 * @HK_BACKEND_KIND_INOTIFY: Linux inotify, one kernel watch per directory
 * @HK_BACKEND_KIND_FANOTIFY: Linux fanotify (Linux 5.9 as root, 5.13 for
 *   any user): with `CAP_SYS_ADMIN` one mark per filesystem however many
 *   directories, else one per directory; events carry the pid of the
 *   process that made the change (see [method@Hk.Event.get_pid])
 * @HK_BACKEND_KIND_GIO: one #GFileMonitor per directory, as GIO provides
 *   it on the platform
 * @HK_BACKEND_KIND_POLL: periodic comparison of the directories with the
 *   snapshot, every [property@Hk.Watchdog:poll-interval] milliseconds; the
 *   only backend that works on every filesystem, including network ones
 *
 * The mechanism a [class@Hk.Watchdog] uses to learn about changes. See
 * `docs/backends.md` for what each one can and cannot see.
 *
 * Since: 1.0
 */
typedef enum
{
  HK_BACKEND_KIND_AUTO,
  HK_BACKEND_KIND_INOTIFY,
  HK_BACKEND_KIND_FANOTIFY,
  HK_BACKEND_KIND_GIO,
  HK_BACKEND_KIND_POLL,
} HkBackendKind;

G_END_DECLS
