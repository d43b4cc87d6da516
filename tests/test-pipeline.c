/* test-pipeline.c: the worker's filter and coalescer, the bounded queue,
 * delivery order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

typedef struct
{
  char       *base;
  char       *root;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, NULL);
  f->watchdog = hk_test_watchdog_new (f->root);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  hk_watchdog_set_queue_bound (0);
  hk_test_remove_tree (&f->base, &f->root, NULL);
}

static guint
events_about (Fixture    *f,
              const char *relative)
{
  g_autofree char *path = hk_test_path (f->root, relative);
  guint n = 0;

  for (guint i = 0; i < f->recorder->events->len; i++)
    if (g_strcmp0 (hk_event_get_path (g_ptr_array_index (f->recorder->events, i)), path) == 0)
      n++;
  return n;
}

/* --- order across nested iterations (issue 10, item 8) --------------------- */

typedef struct
{
  Fixture *f;
  gboolean nested;
  gboolean queued_seen;
} Nesting;

static void
nest_on_first (HkWatchdog *watchdog,
               HkEvent    *event,
               Nesting    *nesting)
{
  Fixture *f = nesting->f;
  g_autofree char *a1 = hk_test_path (f->root, "a1");
  g_autofree char *b = hk_test_path (f->root, "b");

  if (nesting->nested || strcmp (hk_event_get_path (event), a1) != 0)
    return;
  nesting->nested = TRUE;

  /* As a modal dialog would: new events arrive and the handler iterates
   * the owner context before returning. */
  hk_test_write_file (b, "x");
  g_assert_cmpint (g_unlink (b), ==, 0);
  nesting->queued_seen = hk_test_wait_queued (watchdog, 2, 10000);
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
}

static gboolean
b_deleted (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_DELETED, "b");
}

static void
test_order_nested_iteration_keeps_order (Fixture *f, gconstpointer data)
{
  Nesting nesting = { f, FALSE, FALSE };
  const char *expected[] = { "created a1", "created a2", "created b", "deleted b" };
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);

  g_signal_connect (f->watchdog, "event", G_CALLBACK (nest_on_first), &nesting);
  hk_test_start (f->watchdog);

  /* a1 and a2 in one batch: the nested iteration comes between them. */
  hk_test_write (f->root, "a1", "x");
  hk_test_write (f->root, "a2", "x");
  g_assert_true (hk_test_wait_queued (f->watchdog, 2, 10000));
  g_assert_true (hk_test_wait_until (b_deleted, f, 10000));
  hk_test_drain (100);
  g_assert_true (nesting.nested);
  g_assert_true (nesting.queued_seen);

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      HkEventType type = hk_event_get_event_type (event);
      g_autofree char *name = g_path_get_basename (hk_event_get_path (event));

      if (type == HK_EVENT_CREATED || type == HK_EVENT_DELETED)
        g_ptr_array_add (seen, g_strdup_printf ("%s %s", type == HK_EVENT_CREATED ? "created" : "deleted", name));
    }
  g_assert_cmpuint (seen->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpstr (g_ptr_array_index (seen, i), ==, expected[i]);
}

/* --- live latency ---------------------------------------------------------- */

static gboolean
x_created (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_CREATED, "x");
}

static gboolean
y_created (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_CREATED, "y");
}

static void
test_live_latency_applies_while_running (Fixture *f, gconstpointer data)
{
  hk_test_start (f->watchdog);

  /* Without a window, a write is several events. */
  hk_test_write (f->root, "x", "x");
  g_assert_true (hk_test_wait_until (x_created, f, 10000));
  hk_test_drain (100);
  g_assert_cmpuint (events_about (f, "x"), >, 1);

  /* With one, set while running, they merge into the creation. */
  hk_watchdog_set_latency (f->watchdog, 200);
  hk_test_write (f->root, "y", "x");
  g_assert_true (hk_test_wait_until (y_created, f, 10000));
  hk_test_drain (400);
  g_assert_cmpuint (events_about (f, "y"), ==, 1);
}

/* --- live filter ----------------------------------------------------------- */

typedef struct
{
  guint n;
} Watches;

static gboolean
watches_are (gpointer data)
{
  return hk_watchdog_get_backend_watches () == ((Watches *) data)->n;
}

static gboolean
keep_has (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_CREATED, "keep/marker");
}

static gboolean
later_created (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_CREATED, "sub/d2/later");
}

static void
test_live_filter_ignore_and_unignore (Fixture *f, gconstpointer data)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(GError) error = NULL;
  Watches all = { 5 }, without_sub = { 2 };

  hk_test_mkdir (f->root, "keep");
  hk_test_mkdir (f->root, "sub");
  hk_test_mkdir (f->root, "sub/d1");
  hk_test_mkdir (f->root, "sub/d2");
  hk_test_write (f->root, "sub/d1/old", "x");
  hk_test_start (f->watchdog);
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, all.n);

  /* Ignoring a subtree while running, by editing the filter in use: its
   * watches go, its events are not reported. */
  hk_watchdog_set_filter (f->watchdog, filter);
  g_assert_true (hk_filter_add_ignore_pattern (filter, "sub", &error));
  g_assert_no_error (error);
  g_assert_true (hk_test_wait_until (watches_are, &without_sub, 10000));
  hk_test_write (f->root, "sub/d1/ignored", "x");
  hk_test_write (f->root, "keep/marker", "x");
  g_assert_true (hk_test_wait_until (keep_has, f, 10000));
  hk_test_drain (100);
  g_assert_cmpuint (events_about (f, "sub/d1/ignored"), ==, 0);

  /* Un-ignoring it: watched again, read without events for what it has. */
  hk_recorder_clear (f->recorder);
  hk_watchdog_set_filter (f->watchdog, NULL);
  g_assert_true (hk_test_wait_until (watches_are, &all, 10000));
  hk_test_drain (100);
  g_assert_cmpuint (f->recorder->events->len, ==, 0);

  /* And what happens in it now is reported, exactly. */
  hk_test_write (f->root, "sub/d2/later", "x");
  g_assert_true (hk_test_wait_until (later_created, f, 10000));
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "sub/d2/later"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "sub/d1/ignored"), ==, 0);
  /* Known since the re-read: its deletion is reported. */
  {
    g_autofree char *ignored = hk_test_path (f->root, "sub/d1/ignored");
    g_assert_cmpint (g_unlink (ignored), ==, 0);
  }
  g_assert_true (hk_recorder_wait_for (f->recorder, HK_EVENT_DELETED, "sub/d1/ignored", 10000));
}

/* --- the bounded coalescer ------------------------------------------------- */

#define N_BURST 300

static gboolean
all_created (gpointer data)
{
  Fixture *f = data;

  for (guint i = 0; i < N_BURST; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u", i);

      if (!hk_recorder_has (f->recorder, HK_EVENT_CREATED, rel))
        return FALSE;
    }
  return TRUE;
}

/* Iterates the owner until the worker's batch is taken. */
static void
drain_queue (HkWatchdog *watchdog)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (hk_watchdog_get_n_queued_for_testing (watchdog) > 0 &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
}

static void
test_bounded_coalescer_overflows_into_exact_rescan (Fixture *f, gconstpointer data)
{
  hk_watchdog_set_queue_bound (100);
  hk_watchdog_set_latency (f->watchdog, 1000);
  hk_watchdog_set_max_latency (f->watchdog, 1000);
  hk_test_start (f->watchdog);

  /* The owner keeps its queue empty, so only the coalescing window can
   * hold more than the bound. */
  for (guint i = 0; i < N_BURST; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u", i);

      hk_test_write (f->root, rel, "x");
      drain_queue (f->watchdog);
    }
  g_assert_true (hk_test_wait_until (all_created, f, 30000));
  hk_test_drain (1200);

  /* More than the bound was held back: an overflow, then exactly once. */
  g_assert_cmpuint (f->recorder->n_overflows, >=, 1);
  for (guint i = 0; i < N_BURST; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u", i);

      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, rel), ==, 1);
    }
}

static gboolean
marker_created (gpointer data)
{
  Fixture *f = data;

  return hk_recorder_has (f->recorder, HK_EVENT_CREATED, "marker");
}

static void
test_bounded_filtered_events_do_not_count (Fixture *f, gconstpointer data)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  g_assert_true (hk_filter_add_ignore_pattern (filter, "*.tmp", NULL));
  hk_watchdog_set_filter (f->watchdog, filter);
  hk_watchdog_set_queue_bound (100);
  hk_test_start (f->watchdog);

  /* Far more events than the bound, while the owner does not drain, but
   * none the user receives. */
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *rel = g_strdup_printf ("f%u.tmp", i);

      hk_test_write (f->root, rel, "x");
    }
  hk_test_write (f->root, "marker", "x");
  g_assert_true (hk_test_wait_until (marker_created, f, 10000));
  hk_test_drain (100);

  g_assert_cmpuint (f->recorder->n_overflows, ==, 0);
  g_assert_cmpuint (f->recorder->events->len, ==, events_about (f, "marker"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/pipeline/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("order/nested-iteration-keeps-order", test_order_nested_iteration_keeps_order);
  ADD ("live/latency-applies-while-running", test_live_latency_applies_while_running);
  ADD ("live/filter-ignore-and-unignore", test_live_filter_ignore_and_unignore);
  ADD ("bounded/coalescer-overflows-into-exact-rescan", test_bounded_coalescer_overflows_into_exact_rescan);
  ADD ("bounded/filtered-events-do-not-count", test_bounded_filtered_events_do_not_count);

#undef ADD

  return g_test_run ();
}
