/* hk-event-queue-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hk-event.h"

G_BEGIN_DECLS

/* The one channel from the worker to a watchdog's owner context.
 *
 * The worker pushes items; the first push after a delivery schedules one
 * g_main_context_invoke() on the owner, which takes the whole batch. After
 * hk_event_queue_close() nothing is delivered any more, even items already
 * queued. The queue is bounded: once it holds @bound items it reports itself
 * saturated, and the tree stops producing events until the owner has drained
 * it and asked for a rescan (see hk-tree.c). */

typedef enum
{
  HK_QUEUE_ITEM_EVENT,      /* data: HkEvent */
  HK_QUEUE_ITEM_OVERFLOW,   /* data: NULL; events were lost, a rescan follows */
  HK_QUEUE_ITEM_ERROR,      /* data: GError */
  HK_QUEUE_ITEM_ROOT_GONE,  /* data: GError; the watchdog stops after it */
  HK_QUEUE_ITEM_SATURATED,  /* data: NULL; the owner must request a rescan */
} HkQueueItemKind;

typedef struct
{
  HkQueueItemKind kind;
  gpointer        data;
} HkQueueItem;

typedef struct _HkEventQueue HkEventQueue;

/* Runs on the owner context with the items of one batch (an array of
 * HkQueueItem, owned by the queue). */
typedef void (*HkEventQueueDeliverFunc) (GArray   *items,
                                         gpointer  user_data);

#define HK_EVENT_QUEUE_DEFAULT_BOUND 65536

HkEventQueue *hk_event_queue_new           (GMainContext            *owner,
                                            guint                    bound,
                                            HkEventQueueDeliverFunc  deliver,
                                            gpointer                 user_data);
HkEventQueue *hk_event_queue_ref           (HkEventQueue            *self);
void          hk_event_queue_unref         (HkEventQueue            *self);
void          hk_event_queue_push_event    (HkEventQueue            *self,
                                            HkEvent                 *event);
void          hk_event_queue_push          (HkEventQueue            *self,
                                            HkQueueItemKind          kind,
                                            gpointer                 data);
gboolean      hk_event_queue_is_saturated  (HkEventQueue            *self);
void          hk_event_queue_clear_saturated (HkEventQueue          *self);
void          hk_event_queue_close         (HkEventQueue            *self);

void          hk_queue_item_clear          (HkQueueItem             *item);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkEventQueue, hk_event_queue_unref)

G_END_DECLS
