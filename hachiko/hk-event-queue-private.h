/* hk-event-queue-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hk-event.h"
#include "hk-filter-private.h"

G_BEGIN_DECLS

/* The worker end of one watchdog's pipeline, and its one channel to the
 * owner context.
 *
 * The tree pushes every event and marker here, on the worker. The queue
 * drops the events the watchdog's filter rejects (on the path relative to
 * the root, a pointer into the path the tree built), merges the rest in
 * the coalescer when `latency` > 0 (its timer runs on the worker too), and
 * appends what is left to the batch for the owner. The first item after a
 * delivery schedules one g_main_context_invoke() on the owner, which takes
 * the whole batch: the owner only emits signals and calls handlers.
 *
 * Bounded: once @bound events the user will receive are waiting (in the
 * batch, or in the coalescer) the queue reports itself saturated. The tree
 * then stops recording and pushes HK_QUEUE_ITEM_SATURATED; once the owner
 * has delivered that marker the queue clears the saturation and calls the
 * resume function on the worker, and the tree re-reads itself, reporting
 * what the user missed. After hk_event_queue_close() nothing is delivered
 * any more, even items already queued, and resume is never called. */

typedef enum
{
  HK_QUEUE_ITEM_EVENT,      /* data: HkEvent */
  HK_QUEUE_ITEM_OVERFLOW,   /* data: NULL; events were lost, a rescan follows */
  HK_QUEUE_ITEM_ERROR,      /* data: GError */
  HK_QUEUE_ITEM_ROOT_GONE,  /* data: GError; the watchdog stops after it */
  HK_QUEUE_ITEM_SATURATED,  /* data: NULL; a rescan follows once delivered */
  HK_QUEUE_ITEM_WALK_COMPLETE, /* data: NULL; an early-ready walk ended */
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
/* Runs on the worker once the owner delivered a saturation marker. */
typedef void (*HkEventQueueResumeFunc)  (gpointer  user_data);

#define HK_EVENT_QUEUE_DEFAULT_BOUND 65536

HkEventQueue *hk_event_queue_new           (GMainContext            *owner,
                                            GMainContext            *worker,
                                            guint                    bound,
                                            HkEventQueueDeliverFunc  deliver,
                                            gpointer                 user_data);
HkEventQueue *hk_event_queue_ref           (HkEventQueue            *self);
void          hk_event_queue_unref         (HkEventQueue            *self);
/* Before the first push. */
void          hk_event_queue_set_resume_func (HkEventQueue          *self,
                                            HkEventQueueResumeFunc   resume,
                                            gpointer                 user_data);
/* Any thread: the filter (@rules, nullable; paths are matched from
 * @base_len on) and the coalescing window, applied on the worker to the
 * events that follow. Events held under the old window are sent first. */
void          hk_event_queue_configure     (HkEventQueue            *self,
                                            HkFilterRules           *rules,
                                            gsize                    base_len,
                                            guint                    latency_ms,
                                            guint                    max_latency_ms);
/* On the worker: */
void          hk_event_queue_push_event    (HkEventQueue            *self,
                                            HkEvent                 *event);
void          hk_event_queue_push          (HkEventQueue            *self,
                                            HkQueueItemKind          kind,
                                            gpointer                 data);
gboolean      hk_event_queue_is_saturated  (HkEventQueue            *self);
/* The owner is woken once the worker returns to its loop; this wakes it
 * now (before a walk reports its end, so its errors come first). */
void          hk_event_queue_wake_now      (HkEventQueue            *self);
/* Wakes every owner whose queue has a wake armed: for a long task on the
 * worker (a walk) that lets the backends report meanwhile. */
void          hk_event_queue_wake_all_armed (void);
/* On the owner: */
void          hk_event_queue_close         (HkEventQueue            *self);

/* Any thread: items waiting for the owner (for tests). */
guint         hk_event_queue_get_n_waiting (HkEventQueue            *self);

void          hk_queue_item_clear          (HkQueueItem             *item);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkEventQueue, hk_event_queue_unref)

G_END_DECLS
