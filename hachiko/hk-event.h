/* hk-event.h
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

/**
 * HkEventType:
 * @HK_EVENT_CREATED: a file or directory appeared (created, or moved in
 *   from outside the watched tree)
 * @HK_EVENT_DELETED: a file or directory disappeared (deleted, or moved out
 *   of the watched tree)
 * @HK_EVENT_MODIFIED: a file's contents were written
 * @HK_EVENT_MOVED: a file or directory was renamed inside the watched tree;
 *   see [method@Hk.Event.get_dest_file]
 * @HK_EVENT_ATTRIBUTE_CHANGED: metadata (permissions, owner, timestamps,
 *   extended attributes, link count) changed
 * @HK_EVENT_CLOSED: a file that was opened for writing was closed
 * @HK_EVENT_OPENED: a file or directory was opened; only reported when
 *   [property@Hk.Watchdog:access-events] is %TRUE
 * @HK_EVENT_CLOSED_NO_WRITE: a file or directory that was opened read-only
 *   was closed; only reported when [property@Hk.Watchdog:access-events] is
 *   %TRUE
 *
 * The kind of change an [struct@Hk.Event] describes.
 *
 * The nick of each value ("created", "deleted", "modified", "moved",
 * "attribute-changed", "closed", "opened", "closed-no-write") is the detail
 * of the [signal@Hk.Watchdog::event] signal.
 *
 * Since: 1.0
 */
typedef enum
{
  HK_EVENT_CREATED,
  HK_EVENT_DELETED,
  HK_EVENT_MODIFIED,
  HK_EVENT_MOVED,
  HK_EVENT_ATTRIBUTE_CHANGED,
  HK_EVENT_CLOSED,
  HK_EVENT_OPENED,
  HK_EVENT_CLOSED_NO_WRITE,
} HkEventType;

#define HK_TYPE_EVENT (hk_event_get_type ())

typedef struct _HkEvent HkEvent;

HK_AVAILABLE_IN_1_0
GType        hk_event_get_type          (void) G_GNUC_CONST;
HK_AVAILABLE_IN_1_0
const char  *hk_event_type_to_string    (HkEventType  event_type);

HK_AVAILABLE_IN_1_0
HkEvent     *hk_event_new               (HkEventType  event_type,
                                         const char  *path,
                                         const char  *dest_path,
                                         gboolean     is_directory,
                                         gboolean     is_synthetic,
                                         gint64       timestamp);
HK_AVAILABLE_IN_1_0
HkEvent     *hk_event_ref               (HkEvent     *self);
HK_AVAILABLE_IN_1_0
void         hk_event_unref             (HkEvent     *self);
HK_AVAILABLE_IN_1_0
HkEventType  hk_event_get_event_type    (const HkEvent *self);
HK_AVAILABLE_IN_1_0
GFile       *hk_event_get_file          (HkEvent     *self);
HK_AVAILABLE_IN_1_0
GFile       *hk_event_get_dest_file     (HkEvent     *self);
HK_AVAILABLE_IN_1_0
const char  *hk_event_get_path          (const HkEvent *self);
HK_AVAILABLE_IN_1_0
const char  *hk_event_get_dest_path     (const HkEvent *self);
HK_AVAILABLE_IN_1_0
gboolean     hk_event_get_is_directory  (const HkEvent *self);
HK_AVAILABLE_IN_1_0
gboolean     hk_event_get_is_synthetic  (const HkEvent *self);
HK_AVAILABLE_IN_1_0
gint64       hk_event_get_timestamp     (const HkEvent *self);

HK_AVAILABLE_IN_1_0
gint         hk_event_get_pid           (const HkEvent *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkEvent, hk_event_unref)

G_END_DECLS
