/* test-loop-bridge.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <poll.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"

#define TIMEOUT_MS 5000
/* How long an idle descriptor is watched to show that nothing wakes. */
#define IDLE_MS 200

/* A program that runs no GLib main loop: the fixture owns a bridge and a
 * watchdog created with the bridge's context as thread-default, and only
 * poll()s the bridge's descriptor. */
typedef struct
{
  char         *root;
  HkLoopBridge *bridge;
  HkWatchdog   *watchdog;
  GPtrArray    *paths;        /* of created events, in order */
  GThread      *handler_thread;
  guint         n_closed;
  gboolean      stop_in_handler;
  guint         n_dispatches;
} Fixture;

static void
on_event (HkWatchdog *watchdog,
          HkEvent    *event,
          Fixture    *f)
{
  f->handler_thread = g_thread_self ();
  if (hk_event_get_event_type (event) == HK_EVENT_CLOSED)
    f->n_closed++;
  if (hk_event_get_event_type (event) != HK_EVENT_CREATED)
    return;
  g_ptr_array_add (f->paths, g_path_get_basename (hk_event_get_path (event)));
  if (f->stop_in_handler)
    hk_watchdog_stop (watchdog);
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->root = hk_test_make_tmpdir ();
  f->paths = g_ptr_array_new_with_free_func (g_free);
  f->bridge = hk_loop_bridge_new (&error);
  g_assert_no_error (error);
  g_assert_cmpint (hk_loop_bridge_get_fd (f->bridge), >=, 0);
}

static void
fixture_watch (Fixture *f,
               guint    latency)
{
  GMainContext *context = hk_loop_bridge_get_context (f->bridge);
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  f->watchdog = hk_watchdog_new (file);
  g_main_context_pop_thread_default (context);

  hk_watchdog_set_latency (f->watchdog, latency);
  g_signal_connect (f->watchdog, "event", G_CALLBACK (on_event), f);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_object (&f->watchdog);
  g_clear_object (&f->bridge);
  g_clear_pointer (&f->paths, g_ptr_array_unref);
  hk_test_rm_rf (f->root);
  g_free (f->root);
}

static gboolean
fd_readable (Fixture *f,
             int      timeout_ms)
{
  struct pollfd pfd = { .fd = hk_loop_bridge_get_fd (f->bridge), .events = POLLIN };
  int n;

  do
    n = poll (&pfd, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  g_assert_cmpint (n, >=, 0);

  return n > 0 && (pfd.revents & POLLIN);
}

/* The foreign loop: waits for the descriptor and dispatches, until
 * *@counter reaches @n or the time is up. */
static gboolean
run_until (Fixture     *f,
           const guint *counter,
           guint        n)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;

  while (*counter < n)
    {
      int remaining = (int) ((deadline - g_get_monotonic_time ()) / 1000);

      if (remaining <= 0)
        return FALSE;
      if (fd_readable (f, remaining))
        {
          hk_loop_bridge_dispatch (f->bridge);
          f->n_dispatches++;
        }
    }

  return TRUE;
}

static gboolean
run_until_paths (Fixture *f,
                 guint    n_paths)
{
  return run_until (f, &f->paths->len, n_paths);
}

static void
create_file (Fixture    *f,
             const char *name)
{
  g_autofree char *path = g_build_filename (f->root, name, NULL);

  hk_test_write_file (path, "");
}

static void
test_idle_fd_stays_unreadable (Fixture *f, gconstpointer data)
{
  g_assert_false (fd_readable (f, IDLE_MS));
  fixture_watch (f, 0);
  g_assert_false (fd_readable (f, IDLE_MS));
  /* Dispatching with nothing pending is harmless. */
  g_assert_false (hk_loop_bridge_dispatch (f->bridge));
  g_assert_false (fd_readable (f, 0));
}

static void
test_events_arrive_on_calling_thread (Fixture *f, gconstpointer data)
{
  fixture_watch (f, 0);
  create_file (f, "a");

  /* Nothing is emitted until the program dispatches... */
  g_assert_true (fd_readable (f, TIMEOUT_MS));
  g_assert_cmpuint (f->paths->len, ==, 0);
  g_assert_null (f->handler_thread);

  /* ...and then on the dispatching thread. */
  g_assert_true (run_until_paths (f, 1));
  g_assert_cmpstr (g_ptr_array_index (f->paths, 0), ==, "a");
  g_assert_true (f->handler_thread == g_thread_self ());

  /* The file's close comes after its creation, maybe in a later delivery;
   * once it is in, nothing is pending and the descriptor goes quiet. */
  g_assert_true (run_until (f, &f->n_closed, 1));
  g_assert_false (fd_readable (f, IDLE_MS));
}

static void
test_events_keep_order (Fixture *f, gconstpointer data)
{
  fixture_watch (f, 0);
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%03u", i);
      create_file (f, name);
    }

  g_assert_true (run_until_paths (f, 500));
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%03u", i);
      g_assert_cmpstr (g_ptr_array_index (f->paths, i), ==, name);
    }
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A timeout source on the owner context (an application's own, or a
 * throttled notification) must wake the program: the bridge arms its
 * timer for it, and sleeps again once it ran. */
static void
test_timeouts_wake_the_fd (Fixture *f, gconstpointer data)
{
  GMainContext *context = hk_loop_bridge_get_context (f->bridge);
  g_autoptr(GSource) timeout = g_timeout_source_new (50);
  gboolean fired = FALSE;
  gint64 before = g_get_monotonic_time ();

  g_source_set_callback (timeout, set_flag, &fired, NULL);
  g_source_attach (timeout, context);
  hk_loop_bridge_dispatch (f->bridge);  /* re-arms for the new source */

  while (!fired && g_get_monotonic_time () - before < 5 * G_USEC_PER_SEC)
    if (fd_readable (f, 1000))
      hk_loop_bridge_dispatch (f->bridge);
  g_assert_true (fired);
  g_assert_cmpint (g_get_monotonic_time () - before, >=, 40 * 1000);
  g_assert_false (fd_readable (f, IDLE_MS));
}

static void
test_stop_inside_dispatch (Fixture *f, gconstpointer data)
{
  f->stop_in_handler = TRUE;
  fixture_watch (f, 0);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("s%02u", i);
      create_file (f, name);
    }

  g_assert_true (run_until_paths (f, 1));
  g_assert_false (hk_watchdog_get_running (f->watchdog));
  /* Whatever was still queued never reaches a handler. */
  while (fd_readable (f, IDLE_MS))
    hk_loop_bridge_dispatch (f->bridge);
  g_assert_cmpuint (f->paths->len, ==, 1);
}

static gboolean
dispatch_recursively (gpointer data)
{
  Fixture *f = data;

  g_assert_false (hk_loop_bridge_dispatch (f->bridge));
  f->n_dispatches++;
  return G_SOURCE_REMOVE;
}

/* Any source of the context works, and a dispatch from inside a dispatch
 * does nothing. */
static void
test_plain_sources_and_recursion (Fixture *f, gconstpointer data)
{
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_callback (idle, dispatch_recursively, f, NULL);
  g_source_attach (idle, hk_loop_bridge_get_context (f->bridge));
  g_assert_true (fd_readable (f, TIMEOUT_MS));
  g_assert_true (hk_loop_bridge_dispatch (f->bridge));
  g_assert_cmpuint (f->n_dispatches, ==, 1);
  g_assert_false (fd_readable (f, IDLE_MS));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/loop-bridge/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("idle-fd-stays-unreadable", test_idle_fd_stays_unreadable);
  ADD ("events-arrive-on-calling-thread", test_events_arrive_on_calling_thread);
  ADD ("events-keep-order", test_events_keep_order);
  ADD ("timeouts-wake-the-fd", test_timeouts_wake_the_fd);
  ADD ("stop-inside-dispatch", test_stop_inside_dispatch);
  ADD ("plain-sources-and-recursion", test_plain_sources_and_recursion);
#undef ADD

  return g_test_run ();
}
