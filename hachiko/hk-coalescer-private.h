/* hk-coalescer-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-event.h"

G_BEGIN_DECLS

/* Holds events for the watchdog's `latency` and merges those about the same
 * entry (see docs/coalescing.md). Pure data: no timers, no threads; the
 * event queue drives it on the worker with the current monotonic time.
 *
 * It relies on what the worker guarantees: events come in the order things
 * happened, a created path and the destination of a move are vacant (a
 * replaced entry is reported deleted first), and the contents of a
 * directory that appears are reported as created after it. */
typedef struct _HkCoalescer HkCoalescer;

HkCoalescer *hk_coalescer_new           (guint        latency_ms,
                                         guint        max_latency_ms);
void         hk_coalescer_free          (HkCoalescer *self);
/* Adds @events (an array of HkEvent; the coalescer takes its own refs). */
void         hk_coalescer_add           (HkCoalescer *self,
                                         GPtrArray   *events,
                                         gint64       now);
/* Adds one event (the coalescer takes its own ref). */
void         hk_coalescer_add_one       (HkCoalescer *self,
                                         HkEvent     *event,
                                         gint64       now);
/* How many merged events are pending. */
guint        hk_coalescer_get_n_pending (HkCoalescer *self);
/* When the window closes (monotonic µs), or 0 when none is open. A
 * window whose events all merged away stays open until then. */
gint64       hk_coalescer_get_deadline  (HkCoalescer *self);
/* The merged events if due at @now (else an empty array); *next is the
 * next deadline, 0 when nothing remains. */
GPtrArray   *hk_coalescer_take_ready    (HkCoalescer *self,
                                         gint64       now,
                                         gint64      *next);
/* Every pending event, merged, now. */
GPtrArray   *hk_coalescer_take_all      (HkCoalescer *self);

G_END_DECLS
