/* hk-mount-monitor-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Tells when mounts appear or go, without polling: the kernel marks
 * /proc/self/mountinfo readable with POLLPRI | POLLERR whenever the mount
 * table of the process's namespace changes. Idle, it costs one descriptor
 * and no wake-up. */
typedef struct _HkMountMonitor HkMountMonitor;

/* Called on the monitor's context with the mount points (absolute paths,
 * unescaped) of the mounts that appeared or went since the last call. */
typedef void (*HkMountMonitorFunc) (GPtrArray *mount_points,
                                    gpointer   user_data);

HkMountMonitor *hk_mount_monitor_new  (GMainContext       *context,
                                       HkMountMonitorFunc  func,
                                       gpointer            user_data);
void            hk_mount_monitor_free (HkMountMonitor     *self);

G_END_DECLS
