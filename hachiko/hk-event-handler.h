/* hk-event-handler.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <glib-object.h>

#include "hk-version-macros.h"
#include "hk-event.h"
#include "hk-filter.h"

G_BEGIN_DECLS

#define HK_TYPE_EVENT_HANDLER (hk_event_handler_get_type ())

HK_AVAILABLE_IN_1_0
G_DECLARE_DERIVABLE_TYPE (HkEventHandler, hk_event_handler, HK, EVENT_HANDLER, GObject)

/**
 * HkEventHandlerClass:
 * @parent_class: the parent class
 * @on_any_event: called first, for every event the handler's filter accepts
 * @on_created: called for %HK_EVENT_CREATED
 * @on_deleted: called for %HK_EVENT_DELETED
 * @on_modified: called for %HK_EVENT_MODIFIED
 * @on_moved: called for %HK_EVENT_MOVED
 * @on_attribute_changed: called for %HK_EVENT_ATTRIBUTE_CHANGED
 * @on_closed: called for %HK_EVENT_CLOSED
 * @on_opened: called for %HK_EVENT_OPENED
 * @on_closed_no_write: called for %HK_EVENT_CLOSED_NO_WRITE
 *
 * Virtual methods of [class@Hk.EventHandler]. Every default implementation
 * does nothing.
 *
 * Since: 1.0
 */
struct _HkEventHandlerClass
{
  GObjectClass parent_class;

  /**
   * HkEventHandlerClass::on_any_event:
   * @self: the handler
   * @event: the event
   *
   * Called first for every event the handler's [property@Hk.EventHandler:filter]
   * accepts, before the method for the event's type.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_any_event)         (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_created:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_CREATED: a file or directory appeared.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */

  void (*on_created)           (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_deleted:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_DELETED: a file or directory disappeared.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */

  void (*on_deleted)           (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_modified:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_MODIFIED: a file's contents were written.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_modified)          (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_moved:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_MOVED: a file or directory was renamed inside the
   * watched tree; see [method@Hk.Event.get_dest_path].
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_moved)             (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_attribute_changed:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_ATTRIBUTE_CHANGED: metadata changed.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_attribute_changed) (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_closed:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_CLOSED: a file opened for writing was closed.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_closed)            (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_opened:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_OPENED, only reported when
   * [property@Hk.Watchdog:access-events] is set.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_opened)            (HkEventHandler *self,
                                HkEvent        *event);

  /**
   * HkEventHandlerClass::on_closed_no_write:
   * @self: the handler
   * @event: the event
   *
   * Called for %HK_EVENT_CLOSED_NO_WRITE, only reported when
   * [property@Hk.Watchdog:access-events] is set.
   * Runs on the watchdog's owner context.
   *
   * Since: 1.0
   */
  void (*on_closed_no_write)   (HkEventHandler *self,
                                HkEvent        *event);

  /*< private >*/
  gpointer _reserved[8];
};

HK_AVAILABLE_IN_1_0
HkEventHandler *hk_event_handler_new        (void);
HK_AVAILABLE_IN_1_0
HkFilter       *hk_event_handler_get_filter (HkEventHandler *self);
HK_AVAILABLE_IN_1_0
void            hk_event_handler_set_filter (HkEventHandler *self,
                                             HkFilter       *filter);
HK_AVAILABLE_IN_1_0
void            hk_event_handler_dispatch   (HkEventHandler *self,
                                             HkEvent        *event);

G_END_DECLS
