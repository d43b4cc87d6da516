/* hk-coalescer.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-coalescer-private.h"

struct _HkCoalescer
{
  GPtrArray *pending;       /* HkEvent, in arrival order */
  gint64     first_added;   /* when the oldest pending event came */
  gint64     last_added;
  gint64     latency;       /* µs */
  gint64     max_latency;   /* µs */
};

HkCoalescer *
hk_coalescer_new (guint latency_ms,
                  guint max_latency_ms)
{
  HkCoalescer *self = g_new0 (HkCoalescer, 1);

  self->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  self->latency = (gint64) latency_ms * 1000;
  self->max_latency = (gint64) MAX (max_latency_ms, latency_ms) * 1000;

  return self;
}

void
hk_coalescer_free (HkCoalescer *self)
{
  g_ptr_array_unref (self->pending);
  g_free (self);
}

void
hk_coalescer_add (HkCoalescer *self,
                  GPtrArray   *events,
                  gint64       now)
{
  if (events->len == 0)
    return;

  if (self->pending->len == 0)
    self->first_added = now;
  self->last_added = now;

  for (guint i = 0; i < events->len; i++)
    g_ptr_array_add (self->pending, hk_event_ref (g_ptr_array_index (events, i)));
}

gint64
hk_coalescer_get_deadline (HkCoalescer *self)
{
  if (self->pending->len == 0)
    return 0;

  /* Quiet for `latency`, or held for `max-latency`: whichever comes first,
   * so continuous activity cannot starve delivery. */
  return MIN (self->last_added + self->latency, self->first_added + self->max_latency);
}

GPtrArray *
hk_coalescer_take_all (HkCoalescer *self)
{
  GPtrArray *events = g_steal_pointer (&self->pending);

  self->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  return events;
}

GPtrArray *
hk_coalescer_take_ready (HkCoalescer *self,
                         gint64       now,
                         gint64      *next)
{
  gint64 deadline = hk_coalescer_get_deadline (self);

  if (deadline > 0 && now >= deadline)
    {
      *next = 0;
      return hk_coalescer_take_all (self);
    }

  *next = deadline;
  return g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
}
