/* hk-watchdog.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <gio/gio.h>

#include "hk-version-macros.h"
#include "hk-backend-kind.h"
#include "hk-event.h"
#include "hk-event-handler.h"
#include "hk-filter.h"
#include "hk-snapshot.h"

G_BEGIN_DECLS

#define HK_TYPE_WATCHDOG (hk_watchdog_get_type ())

/**
 * HkWatchdogClass:
 *
 * The class structure of [class@Hk.Watchdog]. The type is final: it has no
 * public fields and cannot be subclassed.
 *
 * Since: 1.0
 */
HK_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (HkWatchdog, hk_watchdog, HK, WATCHDOG, GObject)

HK_AVAILABLE_IN_1_0
HkWatchdog *hk_watchdog_new                      (GFile                *root);
HK_AVAILABLE_IN_1_0
GFile      *hk_watchdog_get_root                 (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_recursive            (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_recursive            (HkWatchdog           *self,
                                                  gboolean              recursive);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_access_events        (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_access_events        (HkWatchdog           *self,
                                                  gboolean              access_events);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_follow_symlinks      (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_follow_symlinks      (HkWatchdog           *self,
                                                  gboolean              follow_symlinks);
HK_AVAILABLE_IN_1_0
HkFilter   *hk_watchdog_get_filter               (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_filter               (HkWatchdog           *self,
                                                  HkFilter             *filter);
HK_AVAILABLE_IN_1_0
guint       hk_watchdog_get_latency              (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_latency              (HkWatchdog           *self,
                                                  guint                 latency);
HK_AVAILABLE_IN_1_0
guint       hk_watchdog_get_max_latency          (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_max_latency          (HkWatchdog           *self,
                                                  guint                 max_latency);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_running              (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
guint       hk_watchdog_get_n_watched_directories (HkWatchdog          *self);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_start                    (HkWatchdog           *self,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_start_async              (HkWatchdog           *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_start_finish             (HkWatchdog           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_stop                     (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
guint       hk_watchdog_get_n_polled_directories (HkWatchdog          *self);
HK_AVAILABLE_IN_1_0
HkBackendKind hk_watchdog_get_backend            (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_backend              (HkWatchdog           *self,
                                                  HkBackendKind         backend);
HK_AVAILABLE_IN_1_0
HkBackendKind hk_watchdog_get_active_backend     (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
const char *hk_watchdog_get_backend_reason       (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
guint       hk_watchdog_get_poll_interval        (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_poll_interval        (HkWatchdog           *self,
                                                  guint                 poll_interval);
HK_AVAILABLE_IN_1_0
HkSnapshot *hk_watchdog_get_since                (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_since                (HkWatchdog           *self,
                                                  HkSnapshot           *since);
HK_AVAILABLE_IN_1_0
HkSnapshot *hk_watchdog_dup_snapshot             (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_wait_for_walk        (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_set_wait_for_walk        (HkWatchdog           *self,
                                                  gboolean              wait_for_walk);
HK_AVAILABLE_IN_1_0
gboolean    hk_watchdog_get_walk_complete        (HkWatchdog           *self);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_add_handler              (HkWatchdog           *self,
                                                  HkEventHandler       *handler);
HK_AVAILABLE_IN_1_0
void        hk_watchdog_remove_handler           (HkWatchdog           *self,
                                                  HkEventHandler       *handler);

G_END_DECLS
