/* hk-loop-bridge.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <gio/gio.h>

#include "hk-version-macros.h"

G_BEGIN_DECLS

#define HK_TYPE_LOOP_BRIDGE (hk_loop_bridge_get_type ())

/**
 * HkLoopBridgeClass:
 *
 * The class structure of [class@Hk.LoopBridge]. The type is final: it has
 * no public fields and cannot be subclassed.
 *
 * Since: 1.0
 */
HK_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (HkLoopBridge, hk_loop_bridge, HK, LOOP_BRIDGE, GObject)

HK_AVAILABLE_IN_1_0
HkLoopBridge *hk_loop_bridge_new         (GError       **error);
HK_AVAILABLE_IN_1_0
GMainContext *hk_loop_bridge_get_context (HkLoopBridge  *self);
HK_AVAILABLE_IN_1_0
int           hk_loop_bridge_get_fd      (HkLoopBridge  *self);
HK_AVAILABLE_IN_1_0
gboolean      hk_loop_bridge_dispatch    (HkLoopBridge  *self);

G_END_DECLS
