/* hk-event-queue.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hk-coalescer-private.h"
#include "hk-event-queue-private.h"

static void disarm (HkEventQueue *self);

typedef struct
{
  HkFilterRules *rules;
  gsize          base_len;
  guint          latency_ms;
  guint          max_latency_ms;
} Config;

struct _HkEventQueue
{
  gatomicrefcount          ref_count;
  GMutex                   mutex;
  GMainContext            *owner;
  GMainContext            *worker;
  HkEventQueueDeliverFunc  deliver;
  gpointer                 user_data;
  HkEventQueueResumeFunc   resume;
  gpointer                 resume_data;
  guint                    bound;

  /* Under mutex: the batch for the owner, and a new configuration. */
  GArray                  *items;          /* of HkQueueItem */
  guint                    n_events;
  Config                   next_config;
  guint                    scheduled : 1;  /* an invoke is on its way */
  guint                    wake_armed : 1; /* wake_source will invoke */
  guint                    closed : 1;
  gint                     config_changed; /* atomic: checked per event */
  gint                     saturated;      /* atomic: read per event by the tree */

  /* Worker only. */
  GSource                 *wake_source;    /* holds a ref until close */
  Config                   config;
  HkCoalescer             *coalescer;      /* when latency > 0 */
  GSource                 *flush_source;

  /* Owner only. */
  guint                    delivering : 1;
  guint                    deferred : 1;   /* a nested dispatch left items */
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
new_item_array (guint reserved)
{
  GArray *items = g_array_sized_new (FALSE, FALSE, sizeof (HkQueueItem), reserved);

  g_array_set_clear_func (items, (GDestroyNotify) hk_queue_item_clear);
  return items;
}

static void
config_clear (Config *config)
{
  g_clear_pointer (&config->rules, hk_filter_rules_unref);
}

static gboolean on_wake_source (gpointer data);

static gboolean
wake_source_dispatch (GSource     *source,
                      GSourceFunc  callback,
                      gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs wake_source_funcs = {
  .dispatch = wake_source_dispatch,
};

HkEventQueue *
hk_event_queue_new (GMainContext            *owner,
                    GMainContext            *worker,
                    guint                    bound,
                    HkEventQueueDeliverFunc  deliver,
                    gpointer                 user_data)
{
  HkEventQueue *self = g_new0 (HkEventQueue, 1);

  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->mutex);
  self->items = new_item_array (0);
  self->owner = g_main_context_ref (owner);
  self->worker = g_main_context_ref (worker);
  self->bound = bound ? bound : HK_EVENT_QUEUE_DEFAULT_BOUND;
  self->deliver = deliver;
  self->user_data = user_data;

  /* Wakes the owner once the worker is done with what it is handling (a
   * kernel read, a walk's directory): one batch per read, not per event. */
  self->wake_source = g_source_new (&wake_source_funcs, sizeof (GSource));
  g_source_set_callback (self->wake_source, on_wake_source,
                         hk_event_queue_ref (self), (GDestroyNotify) hk_event_queue_unref);
  g_source_set_static_name (self->wake_source, "[hachiko] wake owner");
  g_source_set_priority (self->wake_source, G_PRIORITY_HIGH);
  g_source_attach (self->wake_source, worker);

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

  /* The flush timer holds a reference: this runs as it is destroyed. */
  g_clear_pointer (&self->flush_source, g_source_unref);
  g_clear_pointer (&self->wake_source, g_source_unref);
  g_clear_pointer (&self->coalescer, hk_coalescer_free);
  config_clear (&self->config);
  config_clear (&self->next_config);
  g_array_unref (self->items);
  g_main_context_unref (self->owner);
  g_main_context_unref (self->worker);
  g_mutex_clear (&self->mutex);
  g_free (self);
}

void
hk_event_queue_set_resume_func (HkEventQueue           *self,
                                HkEventQueueResumeFunc  resume,
                                gpointer                user_data)
{
  self->resume = resume;
  self->resume_data = user_data;
}

/* --- the owner end ------------------------------------------------------ */

static gboolean
has_saturation_marker (GArray *batch)
{
  for (guint i = 0; i < batch->len; i++)
    if (g_array_index (batch, HkQueueItem, i).kind == HK_QUEUE_ITEM_SATURATED)
      return TRUE;
  return FALSE;
}

static gboolean
resume_on_worker (gpointer data)
{
  HkEventQueue *self = data;
  gboolean closed;

  g_mutex_lock (&self->mutex);
  closed = self->closed;
  if (!closed)
    {
      self->n_events = 0;
      g_atomic_int_set (&self->saturated, FALSE);
    }
  g_mutex_unlock (&self->mutex);

  /* Closed happens before the tree is freed, and both run on the worker:
   * an open queue means a live tree. */
  if (!closed && self->resume != NULL)
    self->resume (self->resume_data);

  return G_SOURCE_REMOVE;
}

/* Takes the waiting batch, or NULL when there is none or the queue is
 * closed. */
static GArray *
take_batch (HkEventQueue *self)
{
  GArray *batch = NULL;

  g_mutex_lock (&self->mutex);
  self->scheduled = FALSE;
  if (!self->closed && self->items->len > 0)
    {
      batch = g_steal_pointer (&self->items);
      /* The next batch is likely as large as this one: no regrowth. */
      self->items = new_item_array (batch->len);
      self->n_events = 0;
    }
  g_mutex_unlock (&self->mutex);

  return batch;
}

/* Runs on the owner context, once per batch. A handler that iterates the
 * owner context (a modal dialog) dispatches again from inside deliver:
 * that nested dispatch leaves the new items for the outer one, which
 * delivers them after the rest of its batch, so order holds. */
static gboolean
hk_event_queue_dispatch (gpointer data)
{
  HkEventQueue *self = data;

  if (self->delivering)
    {
      self->deferred = TRUE;
      return G_SOURCE_REMOVE;
    }

  self->delivering = TRUE;
  do
    {
      g_autoptr(GArray) batch = take_batch (self);

      self->deferred = FALSE;
      if (batch == NULL)
        break;

      self->deliver (batch, self->user_data);

      if (has_saturation_marker (batch))
        g_main_context_invoke_full (self->worker, G_PRIORITY_DEFAULT,
                                    resume_on_worker,
                                    hk_event_queue_ref (self),
                                    (GDestroyNotify) hk_event_queue_unref);
    }
  while (self->deferred);
  self->delivering = FALSE;

  return G_SOURCE_REMOVE;
}

void
hk_event_queue_close (HkEventQueue *self)
{
  g_autoptr(GArray) dropped = NULL;

  g_mutex_lock (&self->mutex);
  self->closed = TRUE;
  dropped = g_steal_pointer (&self->items);
  self->items = new_item_array (0);
  g_mutex_unlock (&self->mutex);

  /* Drops the source's reference on the queue. */
  disarm (self);
  g_source_destroy (self->wake_source);
}

/* --- the worker end ----------------------------------------------------- */

/* A batch this large goes at once, even in the middle of a long rescan. */
#define WAKE_AT_ONCE 1024

typedef enum  /* in increasing urgency */
{
  WAKE_NONE,
  WAKE_SOON,  /* arm wake_source */
  WAKE_NOW,   /* invoke on the owner */
} Wake;

/* Appends to the batch; the mutex is held. */
static Wake
append_locked (HkEventQueue *self,
               HkQueueItem  *item)
{
  g_array_append_vals (self->items, item, 1);
  if (item->kind == HK_QUEUE_ITEM_EVENT && ++self->n_events >= self->bound)
    g_atomic_int_set (&self->saturated, TRUE);
  if (self->scheduled)
    return WAKE_NONE;
  if (self->items->len >= WAKE_AT_ONCE)
    {
      self->scheduled = TRUE;
      return WAKE_NOW;
    }
  if (self->wake_armed)
    return WAKE_NONE;
  self->wake_armed = TRUE;
  return WAKE_SOON;
}

static void
wake_owner (HkEventQueue *self)
{
  g_main_context_invoke_full (self->owner,
                              G_PRIORITY_DEFAULT,
                              hk_event_queue_dispatch,
                              hk_event_queue_ref (self),
                              (GDestroyNotify) hk_event_queue_unref);
}

/* Queues whose wake is armed, so that a long task on the worker (a walk)
 * can wake their owners without returning to the worker's loop. */
G_LOCK_DEFINE_STATIC (armed_lock);
static GPtrArray *armed_queues;

static void
wake (HkEventQueue *self,
      Wake          how)
{
  if (how == WAKE_NOW)
    wake_owner (self);
  else if (how == WAKE_SOON)
    {
      g_source_set_ready_time (self->wake_source, 0);  /* on the worker: no syscall */
      G_LOCK (armed_lock);
      if (armed_queues == NULL)
        armed_queues = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_queue_unref);
      g_ptr_array_add (armed_queues, hk_event_queue_ref (self));
      G_UNLOCK (armed_lock);
    }
}

static void
disarm (HkEventQueue *self)
{
  G_LOCK (armed_lock);
  if (armed_queues != NULL)
    g_ptr_array_remove_fast (armed_queues, self);
  G_UNLOCK (armed_lock);
}

/* On the worker, right after what pushed the items returned. */
static gboolean
on_wake_source (gpointer data)
{
  HkEventQueue *self = data;

  g_source_set_ready_time (self->wake_source, -1);
  disarm (self);
  hk_event_queue_wake_now (self);

  return G_SOURCE_CONTINUE;
}

void
hk_event_queue_wake_all_armed (void)
{
  g_autoptr(GPtrArray) queues = NULL;

  G_LOCK (armed_lock);
  queues = g_steal_pointer (&armed_queues);
  G_UNLOCK (armed_lock);

  for (guint i = 0; queues != NULL && i < queues->len; i++)
    {
      HkEventQueue *queue = g_ptr_array_index (queues, i);

      g_source_set_ready_time (queue->wake_source, -1);
      hk_event_queue_wake_now (queue);
    }
}

void
hk_event_queue_wake_now (HkEventQueue *self)
{
  gboolean invoke;

  g_mutex_lock (&self->mutex);
  self->wake_armed = FALSE;
  invoke = !self->scheduled && !self->closed && self->items->len > 0;
  if (invoke)
    self->scheduled = TRUE;
  g_mutex_unlock (&self->mutex);

  if (invoke)
    wake_owner (self);
}

/* Appends @events (may be NULL) and then @marker (may be NULL). */
static void
append (HkEventQueue *self,
        GPtrArray    *events,
        HkQueueItem  *marker)
{
  Wake how = WAKE_NONE;

  if (events != NULL)
    g_ptr_array_set_free_func (events, NULL);  /* the items take them */

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_mutex_unlock (&self->mutex);
      for (guint i = 0; events != NULL && i < events->len; i++)
        hk_event_unref (events->pdata[i]);
      if (marker != NULL)
        hk_queue_item_clear (marker);
      return;
    }
  for (guint i = 0; events != NULL && i < events->len; i++)
    {
      HkQueueItem item = { HK_QUEUE_ITEM_EVENT, g_steal_pointer (&events->pdata[i]) };

      Wake item_how = append_locked (self, &item);

      how = MAX (how, item_how);
    }
  if (marker != NULL)
    {
      Wake marker_how = append_locked (self, marker);

      how = MAX (how, marker_how);
    }
  g_mutex_unlock (&self->mutex);

  wake (self, how);
}

static void
cancel_flush (HkEventQueue *self)
{
  if (self->flush_source == NULL)
    return;
  g_source_destroy (self->flush_source);
  g_clear_pointer (&self->flush_source, g_source_unref);
}

/* Sends whatever the coalescer holds, now. */
static void
flush_coalescer (HkEventQueue *self)
{
  g_autoptr(GPtrArray) events = NULL;

  cancel_flush (self);
  if (self->coalescer == NULL || hk_coalescer_get_deadline (self->coalescer) == 0)
    return;
  events = hk_coalescer_take_all (self->coalescer);
  append (self, events, NULL);
}

static gboolean on_flush_timeout (gpointer data);

static void
schedule_flush (HkEventQueue *self,
                gint64        deadline)
{
  gint64 delay_ms = MAX (1, (deadline - g_get_monotonic_time () + 999) / 1000);

  self->flush_source = g_timeout_source_new (delay_ms);
  g_source_set_callback (self->flush_source, on_flush_timeout,
                         hk_event_queue_ref (self),
                         (GDestroyNotify) hk_event_queue_unref);
  g_source_set_static_name (self->flush_source, "[hachiko] coalescing");
  g_source_attach (self->flush_source, self->worker);
}

static gboolean
on_flush_timeout (gpointer data)
{
  HkEventQueue *self = data;
  g_autoptr(GPtrArray) events = NULL;
  gint64 next;

  g_clear_pointer (&self->flush_source, g_source_unref);
  events = hk_coalescer_take_ready (self->coalescer, g_get_monotonic_time (), &next);
  if (next > 0)
    schedule_flush (self, next);
  append (self, events, NULL);

  return G_SOURCE_REMOVE;
}

static void
apply_config (HkEventQueue *self)
{
  Config next = { 0 };
  gboolean window_changed;

  if (!g_atomic_int_compare_and_exchange (&self->config_changed, TRUE, FALSE))
    return;

  g_mutex_lock (&self->mutex);
  next = self->next_config;
  next.rules = next.rules != NULL ? hk_filter_rules_ref (next.rules) : NULL;
  g_mutex_unlock (&self->mutex);

  window_changed = next.latency_ms != self->config.latency_ms ||
                   next.max_latency_ms != self->config.max_latency_ms;
  config_clear (&self->config);
  self->config = next;

  if (!window_changed && (self->coalescer != NULL || next.latency_ms == 0))
    return;

  /* Events held under the old window go out now, in order. */
  flush_coalescer (self);
  g_clear_pointer (&self->coalescer, hk_coalescer_free);
  if (next.latency_ms > 0)
    self->coalescer = hk_coalescer_new (next.latency_ms, next.max_latency_ms);
}

static gboolean
apply_config_on_worker (gpointer data)
{
  apply_config (data);
  return G_SOURCE_REMOVE;
}

void
hk_event_queue_configure (HkEventQueue  *self,
                          HkFilterRules *rules,
                          gsize          base_len,
                          guint          latency_ms,
                          guint          max_latency_ms)
{
  g_mutex_lock (&self->mutex);
  config_clear (&self->next_config);
  self->next_config.rules = rules != NULL ? hk_filter_rules_ref (rules) : NULL;
  self->next_config.base_len = base_len;
  self->next_config.latency_ms = latency_ms;
  self->next_config.max_latency_ms = max_latency_ms;
  g_mutex_unlock (&self->mutex);

  g_atomic_int_set (&self->config_changed, TRUE);
  /* Applied before the next event anyway; this also flushes events held
   * under the old window when nothing else happens. */
  g_main_context_invoke_full (self->worker, G_PRIORITY_DEFAULT,
                              apply_config_on_worker,
                              hk_event_queue_ref (self),
                              (GDestroyNotify) hk_event_queue_unref);
}

static const char *
relative_path (HkEventQueue *self,
               const char   *path)
{
  if (path == NULL || strlen (path) < self->config.base_len)
    return path;
  path += self->config.base_len;
  while (*path == '/')
    path++;
  return path;
}

static gboolean
filter_accepts (HkEventQueue *self,
                HkEvent      *event)
{
  HkFilterRules *rules = self->config.rules;
  gboolean is_dir;
  const char *dest;

  if (rules == NULL)
    return TRUE;

  is_dir = hk_event_get_is_directory (event);
  if (hk_filter_rules_matches (rules, relative_path (self, hk_event_get_path (event)), is_dir))
    return TRUE;

  dest = hk_event_get_dest_path (event);
  return dest != NULL && hk_filter_rules_matches (rules, relative_path (self, dest), is_dir);
}

/* Takes @event. */
void
hk_event_queue_push_event (HkEventQueue *self,
                           HkEvent      *event)
{
  HkQueueItem item = { HK_QUEUE_ITEM_EVENT, event };
  Wake how;

  apply_config (self);

  if (!filter_accepts (self, event))
    {
      hk_event_unref (event);
      return;
    }

  if (self->coalescer != NULL)
    {
      hk_coalescer_add_one (self->coalescer, event, g_get_monotonic_time ());
      hk_event_unref (event);

      /* Bounded like the batch: a full window is a saturated queue. */
      if (hk_coalescer_get_n_pending (self->coalescer) >= self->bound)
        g_atomic_int_set (&self->saturated, TRUE);
      if (self->flush_source == NULL)
        schedule_flush (self, hk_coalescer_get_deadline (self->coalescer));
      return;
    }

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_mutex_unlock (&self->mutex);
      hk_event_unref (event);
      return;
    }
  how = append_locked (self, &item);
  g_mutex_unlock (&self->mutex);

  wake (self, how);
}

/* Takes @data. Whatever the coalescer holds goes out before a marker, so
 * `overflow` and `error` come in order with the events. */
void
hk_event_queue_push (HkEventQueue    *self,
                     HkQueueItemKind  kind,
                     gpointer         data)
{
  HkQueueItem item = { kind, data };

  if (kind == HK_QUEUE_ITEM_EVENT)
    {
      hk_event_queue_push_event (self, data);
      return;
    }

  apply_config (self);
  flush_coalescer (self);
  append (self, NULL, &item);
}

/* Saturation is sticky until the owner has delivered the saturation
 * marker; see resume_on_worker(). */
gboolean
hk_event_queue_is_saturated (HkEventQueue *self)
{
  return g_atomic_int_get (&self->saturated);
}

/* Items waiting for the owner, for tests. */
guint
hk_event_queue_get_n_waiting (HkEventQueue *self)
{
  guint n;

  g_mutex_lock (&self->mutex);
  n = self->items->len;
  g_mutex_unlock (&self->mutex);

  return n;
}
