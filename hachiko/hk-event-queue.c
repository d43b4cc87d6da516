/* hk-event-queue.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-event-queue-private.h"

struct _HkEventQueue
{
  gatomicrefcount          ref_count;
  GMutex                   mutex;
  GArray                  *items;          /* of HkQueueItem */
  GMainContext            *owner;
  HkEventQueueDeliverFunc  deliver;
  gpointer                 user_data;
  guint                    bound;
  guint                    n_events;
  guint                    scheduled : 1;  /* an invoke is on its way */
  guint                    closed : 1;
  gint                     saturated;      /* atomic: read per event by the worker */
};

void
hk_queue_item_clear (HkQueueItem *item)
{
  switch (item->kind)
    {
    case HK_QUEUE_ITEM_EVENT:
      g_clear_pointer (&item->data, hk_event_unref);
      break;
    case HK_QUEUE_ITEM_ERROR:
    case HK_QUEUE_ITEM_ROOT_GONE:
      g_clear_pointer ((GError **) &item->data, g_error_free);
      break;
    case HK_QUEUE_ITEM_OVERFLOW:
    case HK_QUEUE_ITEM_SATURATED:
    default:
      break;
    }
}

static GArray *
new_item_array (void)
{
  GArray *items = g_array_new (FALSE, FALSE, sizeof (HkQueueItem));

  g_array_set_clear_func (items, (GDestroyNotify) hk_queue_item_clear);
  return items;
}

HkEventQueue *
hk_event_queue_new (GMainContext            *owner,
                    guint                    bound,
                    HkEventQueueDeliverFunc  deliver,
                    gpointer                 user_data)
{
  HkEventQueue *self = g_new0 (HkEventQueue, 1);

  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->mutex);
  self->items = new_item_array ();
  self->owner = g_main_context_ref (owner);
  self->bound = bound ? bound : HK_EVENT_QUEUE_DEFAULT_BOUND;
  self->deliver = deliver;
  self->user_data = user_data;

  return self;
}

HkEventQueue *
hk_event_queue_ref (HkEventQueue *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
hk_event_queue_unref (HkEventQueue *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_array_unref (self->items);
  g_main_context_unref (self->owner);
  g_mutex_clear (&self->mutex);
  g_free (self);
}

/* Runs on the owner context, once per batch. */
static gboolean
hk_event_queue_dispatch (gpointer data)
{
  HkEventQueue *self = data;
  g_autoptr(GArray) batch = NULL;

  g_mutex_lock (&self->mutex);
  self->scheduled = FALSE;
  if (!self->closed)
    {
      batch = g_steal_pointer (&self->items);
      self->items = new_item_array ();
      self->n_events = 0;
    }
  g_mutex_unlock (&self->mutex);

  /* The owner context is the only place hk_event_queue_close() is called,
   * so a queue that was open above cannot be closed before this returns
   * unless the deliver function itself stops the watchdog, which it
   * handles. */
  if (batch != NULL && batch->len > 0)
    self->deliver (batch, self->user_data);

  return G_SOURCE_REMOVE;
}

void
hk_event_queue_push (HkEventQueue    *self,
                     HkQueueItemKind  kind,
                     gpointer         data)
{
  HkQueueItem item = { kind, data };
  gboolean schedule = FALSE;

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_mutex_unlock (&self->mutex);
      hk_queue_item_clear (&item);
      return;
    }

  g_array_append_val (self->items, item);
  if (kind == HK_QUEUE_ITEM_EVENT && ++self->n_events >= self->bound)
    g_atomic_int_set (&self->saturated, TRUE);
  if (!self->scheduled)
    schedule = self->scheduled = TRUE;
  g_mutex_unlock (&self->mutex);

  if (schedule)
    g_main_context_invoke_full (self->owner,
                                G_PRIORITY_DEFAULT,
                                hk_event_queue_dispatch,
                                hk_event_queue_ref (self),
                                (GDestroyNotify) hk_event_queue_unref);
}

void
hk_event_queue_push_event (HkEventQueue *self,
                           HkEvent      *event)
{
  hk_event_queue_push (self, HK_QUEUE_ITEM_EVENT, event);
}

/* Saturation is sticky until the owner drains the queue and clears it by
 * asking for a rescan; see hk_event_queue_clear_saturated(). */
gboolean
hk_event_queue_is_saturated (HkEventQueue *self)
{
  return g_atomic_int_get (&self->saturated);
}

void
hk_event_queue_clear_saturated (HkEventQueue *self)
{
  g_atomic_int_set (&self->saturated, FALSE);
}

void
hk_event_queue_close (HkEventQueue *self)
{
  g_autoptr(GArray) dropped = NULL;

  g_mutex_lock (&self->mutex);
  self->closed = TRUE;
  dropped = g_steal_pointer (&self->items);
  self->items = new_item_array ();
  g_mutex_unlock (&self->mutex);
}
