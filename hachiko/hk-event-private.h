/* hk-event-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-event.h"

G_BEGIN_DECLS

/* Takes ownership of @path and @dest_path: the worker builds them once. */
HkEvent *hk_event_new_take (HkEventType  event_type,
                            char        *path,
                            char        *dest_path,
                            gboolean     is_directory,
                            gboolean     is_synthetic,
                            gint64       timestamp);

/* Only before the event is shared. */
void     hk_event_set_pid  (HkEvent     *event,
                            gint         pid);

G_END_DECLS
