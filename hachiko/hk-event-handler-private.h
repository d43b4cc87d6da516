/* hk-event-handler-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-event-handler.h"
#include "hk-filter-private.h"

G_BEGIN_DECLS

/* The handler's filter rules at this moment, or NULL for "everything". */
HkFilterRules *hk_event_handler_dup_rules (HkEventHandler *self);
/* Calls on_any_event when @any, else the method for @event's type: the
 * watchdog checks in between whether the first one stopped it. */
void           hk_event_handler_call      (HkEventHandler *self,
                                           HkEvent        *event,
                                           gboolean        any);

G_END_DECLS
