/* hk-watchdog-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-watchdog.h"

G_BEGIN_DECLS

/* Fault injection for tests. */
#define HK_HAVE_INJECT_OVERFLOW 1

/* Behaves as if the kernel queue overflowed now: `overflow`, then a rescan
 * reporting the difference. The watchdog must be running. */
void  hk_watchdog_inject_overflow        (HkWatchdog *self);
/* Makes watch requests fail with ENOSPC once @limit watches are held in
 * the process (0: only the kernel's limit). Needs a started watchdog or
 * applies to the next worker. */
void  hk_watchdog_set_watch_limit        (guint       limit);
/* The bound of the queue towards the owner, for watchdogs started after
 * the call (0: the default). */
void  hk_watchdog_set_queue_bound        (guint       bound);
/* Keeps the worker from reading events for @ms (it sleeps), so a test can
 * fill the kernel queue. Returns at once. */
void  hk_watchdog_stall_worker           (guint       ms);
/* Stops the idle worker so that the next start opens a new inotify
 * instance (which picks up changed /proc/sys/fs/inotify limits). Returns
 * FALSE if a watchdog still uses it. */
gboolean hk_watchdog_restart_backend_for_testing (void);
/* Kernel (inotify) watches the worker holds for every watchdog of the
 * process; a directory watched by several watchdogs counts once. */
guint hk_watchdog_get_backend_watches    (void);

/* Makes the next start use @kind, including the internal fake backend
 * (HK_BACKEND_KIND_FAKE in hk-watch-private.h). */
void  hk_watchdog_set_backend_for_testing (HkWatchdog    *self,
                                           HkBackendKind  kind);
/* Early-ready walks stop after reading @n_dirs directories in all (0:
 * never) until hk_watchdog_resume_walks_for_testing(). Any thread. */
void  hk_watchdog_pause_walks_for_testing  (guint n_dirs);
void  hk_watchdog_resume_walks_for_testing (void);
/* The number of directories from which AUTO prefers fanotify (0: the
 * default, HK_FANOTIFY_AUTO_MIN_DIRECTORIES). Any thread. */
void  hk_watchdog_set_auto_fanotify_threshold_for_testing (guint n_directories);
/* Items read for @self that wait for its owner context to take them. */
guint hk_watchdog_get_n_queued_for_testing (HkWatchdog *self);

G_END_DECLS
