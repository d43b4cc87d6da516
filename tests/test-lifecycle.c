/* test-lifecycle.c: starting, cancelling and stopping; the owner thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

/* Big enough that the old blocking stop took well over 50 ms (it took
 * 35-41 ms for 8,000 directories), small enough to build in a second. */
#define N_BIG_DIRS 20000

typedef struct
{
  char *base;
  char *root;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  if (g_test_subprocess ())
    return;
  /* Big trees on tmpfs when there is one: a disk under load takes seconds
   * to create and remove 20,000 directories. */
  if (g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) && access ("/dev/shm", W_OK) == 0)
    f->base = g_mkdtemp (g_strdup ("/dev/shm/hachiko-test-XXXXXX"));
  if (f->base == NULL)
    f->base = hk_test_make_tmpdir ();
  f->root = g_build_filename (f->base, "root", NULL);
  g_assert_cmpint (g_mkdir (f->root, 0755), ==, 0);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  hk_test_remove_tree (&f->base, &f->root, NULL);
}

/* N_BIG_DIRS directories, 100 per parent. */
static void
make_big_tree (Fixture *f)
{
  for (guint i = 0; i < N_BIG_DIRS / 100; i++)
    {
      g_autofree char *parent = g_strdup_printf ("%s/p%u", f->root, i);

      g_assert_cmpint (g_mkdir (parent, 0755), ==, 0);
      for (guint j = 0; j < 99; j++)
        {
          g_autofree char *dir = g_strdup_printf ("%s/d%u", parent, j);

          g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
        }
    }
}

static gboolean
backend_has_no_watch (gpointer data)
{
  return hk_watchdog_get_backend_watches () == 0;
}

/* --- stop ------------------------------------------------------------------ */

static void
test_stop_large_tree_returns_at_once (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GError) error = NULL;
  gint64 before, took, walk;

  make_big_tree (f);
  watchdog = hk_test_watchdog_new (f->root);
  before = g_get_monotonic_time ();
  g_assert_true (hk_watchdog_start (watchdog, NULL, &error));
  walk = g_get_monotonic_time () - before;
  g_assert_no_error (error);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, N_BIG_DIRS + 1);

  before = g_get_monotonic_time ();
  hk_watchdog_stop (watchdog);
  took = g_get_monotonic_time () - before;
  g_test_message ("stop on %u directories took %" G_GINT64_FORMAT " µs (the walk %"
                  G_GINT64_FORMAT " µs)", N_BIG_DIRS, took, walk);
  g_assert_false (hk_watchdog_get_running (watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, 0);
  /* It takes microseconds: the owner does not wait for the worker to free
   * the tree, which took a sixth of the walk before. Compared with the
   * walk made here and now, not a fixed time a busy machine can exceed. */
  g_assert_cmpint (took * 10, <, walk);

  /* Freed later, on the worker. */
  g_assert_true (hk_test_wait_until (backend_has_no_watch, NULL, 30000));

  /* Dispose of a running watchdog does not wait either. */
  before = g_get_monotonic_time ();
  g_assert_true (hk_watchdog_start (watchdog, NULL, &error));
  walk = g_get_monotonic_time () - before;
  before = g_get_monotonic_time ();
  g_clear_object (&watchdog);
  took = g_get_monotonic_time () - before;
  g_test_message ("dispose on %u directories took %" G_GINT64_FORMAT " µs (the walk %"
                  G_GINT64_FORMAT " µs)", N_BIG_DIRS, took, walk);
  g_assert_cmpint (took * 10, <, walk);
  g_assert_true (hk_test_wait_until (backend_has_no_watch, NULL, 30000));
}

/* --- cancellation ---------------------------------------------------------- */

typedef struct
{
  GCancellable *cancellable;
  gboolean      done;
  gboolean      ok;
  GError       *error;
  gint64        cancelled_at;
  gint64        done_at;
  guint         n_notify;
  guint         last_n_watched;
  gint64        last_notify_at;
  gint64        min_notify_interval;
} StartState;

static void
on_started (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  StartState *state = user_data;

  state->ok = hk_watchdog_start_finish (HK_WATCHDOG (source), result, &state->error);
  state->done_at = g_get_monotonic_time ();
  state->done = TRUE;
}

static gboolean
start_is_done (gpointer data)
{
  return ((StartState *) data)->done;
}

typedef struct
{
  HkWatchdog   *watchdog;
  GCancellable *cancellable;
  gint64        cancelled_at;
} Canceller;

static gpointer
cancel_when_walking (gpointer data)
{
  Canceller *canceller = data;

  /* The count is an atomic read: fine from any thread. */
  while (hk_watchdog_get_n_watched_directories (canceller->watchdog) < 100)
    g_usleep (200);
  canceller->cancelled_at = g_get_monotonic_time ();
  g_cancellable_cancel (canceller->cancellable);
  return NULL;
}

/* How long a start takes that walks the whole tree, here and now: what a
 * cancelled start is compared with, rather than a fixed time that a busy
 * machine can exceed. Leaves @watchdog stopped. */
static gint64
full_walk_usec (HkWatchdog *watchdog)
{
  gint64 begin = g_get_monotonic_time ();
  gint64 took;

  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  took = g_get_monotonic_time () - begin;
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, N_BIG_DIRS + 1);
  hk_watchdog_stop (watchdog);
  g_assert_true (hk_test_wait_until (backend_has_no_watch, NULL, 30000));
  return took;
}

static void
test_cancel_during_walk (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  StartState state = { cancellable };
  Canceller canceller;
  GThread *thread;

  make_big_tree (f);
  watchdog = hk_test_watchdog_new (f->root);
  canceller = (Canceller) { watchdog, cancellable, 0 };
  thread = g_thread_new ("canceller", cancel_when_walking, &canceller);
  hk_watchdog_start_async (watchdog, cancellable, on_started, &state);
  g_assert_true (hk_test_wait_until (start_is_done, &state, 60000));
  g_thread_join (thread);

  if (state.ok)
    {
      g_test_skip ("walk too fast to cancel");
      return;
    }
  g_test_message ("cancel to failure: %" G_GINT64_FORMAT " µs",
                  state.done_at - canceller.cancelled_at);
  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (hk_watchdog_get_running (watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, 0);
  g_assert_true (hk_test_wait_until (backend_has_no_watch, NULL, 30000));
  g_clear_error (&state.error);

  /* It can start again afterwards. Prompt: the walk polls the flag the
   * cancellable sets, so the cancelled start ended long before a whole
   * walk would have (it had read 100 of 20,000 directories). */
  g_assert_cmpint (2 * (state.done_at - canceller.cancelled_at), <, full_walk_usec (watchdog));
}

static void
test_cancel_sync_start_from_another_thread (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Canceller canceller;
  GThread *thread;
  gint64 returned_at;
  gboolean ok;

  make_big_tree (f);
  watchdog = hk_test_watchdog_new (f->root);
  canceller = (Canceller) { watchdog, cancellable, 0 };
  thread = g_thread_new ("canceller", cancel_when_walking, &canceller);
  ok = hk_watchdog_start (watchdog, cancellable, &error);
  returned_at = g_get_monotonic_time ();
  g_thread_join (thread);

  if (ok)
    {
      g_test_skip ("walk too fast to cancel");
      return;
    }
  g_test_message ("cancel to return: %" G_GINT64_FORMAT " µs", returned_at - canceller.cancelled_at);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (hk_watchdog_get_running (watchdog));
  g_assert_true (hk_test_wait_until (backend_has_no_watch, NULL, 30000));
  /* Prompt: long before a whole walk would have ended. */
  g_assert_cmpint (2 * (returned_at - canceller.cancelled_at), <, full_walk_usec (watchdog));
}

static void
test_cancel_after_walk_still_running (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = hk_test_watchdog_new (f->root);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *sub = g_build_filename (f->root, "sub", NULL);
  StartState state = { cancellable };

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  hk_watchdog_start_async (watchdog, cancellable, on_started, &state);
  /* Runs on the worker after the walk: the walk is over, its result is on
   * its way to this (not yet iterated) context. */
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 2);
  g_cancellable_cancel (cancellable);
  g_assert_true (hk_test_wait_until (start_is_done, &state, 10000));

  g_assert_no_error (state.error);
  g_assert_true (state.ok);
  g_assert_true (hk_watchdog_get_running (watchdog));
}

static void
on_n_watched_record (HkWatchdog *watchdog,
                     GParamSpec *pspec,
                     StartState *state)
{
  gint64 now = g_get_monotonic_time ();

  if (state->last_notify_at != 0)
    state->min_notify_interval = MIN (state->min_notify_interval, now - state->last_notify_at);
  state->last_notify_at = now;
  state->last_n_watched = hk_watchdog_get_n_watched_directories (watchdog);
  state->n_notify++;
}

static gboolean
final_count_notified (gpointer data)
{
  return ((StartState *) data)->last_n_watched == N_BIG_DIRS + 1;
}

static void
test_n_watched_notifies_throttled (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = NULL;
  StartState state = { NULL };
  guint value = G_MAXUINT;

  state.min_notify_interval = G_MAXINT64;
  make_big_tree (f);
  watchdog = hk_test_watchdog_new (f->root);
  g_signal_connect (watchdog, "notify::n-watched-directories",
                    G_CALLBACK (on_n_watched_record), &state);
  hk_watchdog_start_async (watchdog, NULL, on_started, &state);
  g_assert_true (hk_test_wait_until (start_is_done, &state, 60000));
  g_assert_no_error (state.error);

  g_test_message ("%u notifications, shortest interval %" G_GINT64_FORMAT " µs",
                  state.n_notify, state.min_notify_interval);
  g_assert_cmpuint (state.n_notify, >=, 1);
  /* The final count may come after the start completed. */
  g_assert_true (hk_test_wait_until (final_count_notified, &state, 10000));
  g_object_get (watchdog, "n-watched-directories", &value, NULL);
  g_assert_cmpuint (value, ==, N_BIG_DIRS + 1);
  /* At most ten a second (with some slack for the timer's rounding). */
  g_assert_cmpint (state.min_notify_interval, >=, 90000);

  hk_watchdog_stop (watchdog);
  g_assert_cmpuint (state.last_n_watched, ==, 0);
}

/* --- the owner thread ------------------------------------------------------ */

/* For the subprocess children, which end in an abort: a watch on the
 * temporary directory itself (not recursive), so nothing is left behind. */
static HkWatchdog *
new_watchdog_on_tmp (void)
{
  g_autoptr(GFile) file = g_file_new_for_path (g_get_tmp_dir ());
  HkWatchdog *watchdog = hk_watchdog_new (file);

  hk_watchdog_set_recursive (watchdog, FALSE);
  return watchdog;
}

static gpointer
stop_from_thread (gpointer data)
{
  hk_watchdog_stop (data);
  return NULL;
}

static void
test_owner_thread_stop_from_other_thread_is_critical (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(HkWatchdog) watchdog = new_watchdog_on_tmp ();

      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
      /* This thread now owns the owner context, as a running main loop
       * would. */
      g_assert_true (g_main_context_acquire (NULL));
      g_thread_join (g_thread_new ("intruder", stop_from_thread, watchdog));
      return;
    }

  g_test_trap_subprocess (NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*hk_watchdog_stop*does not own*");
}

static gpointer
set_latency_from_thread (gpointer data)
{
  hk_watchdog_set_latency (data, 10);
  return NULL;
}

static void
test_owner_thread_setter_from_other_thread_is_critical (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(HkWatchdog) watchdog = new_watchdog_on_tmp ();

      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
      g_assert_true (g_main_context_acquire (NULL));
      g_thread_join (g_thread_new ("intruder", set_latency_from_thread, watchdog));
      return;
    }

  g_test_trap_subprocess (NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*hk_watchdog_set_latency*does not own*");
}

static gpointer
start_from_thread (gpointer data)
{
  g_autoptr(GError) error = NULL;

  hk_watchdog_start (data, NULL, &error);
  return NULL;
}

static void
test_owner_thread_start_from_other_thread_is_critical (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(HkWatchdog) watchdog = new_watchdog_on_tmp ();

      g_assert_true (g_main_context_acquire (NULL));
      g_thread_join (g_thread_new ("intruder", start_from_thread, watchdog));
      return;
    }

  g_test_trap_subprocess (NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*hk_watchdog_start*does not own*");
}

static gpointer
unref_from_thread (gpointer data)
{
  g_object_unref (data);
  return NULL;
}

static void
test_owner_thread_last_unref_from_other_thread_is_critical (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      HkWatchdog *watchdog = new_watchdog_on_tmp ();

      g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
      g_assert_true (g_main_context_acquire (NULL));
      g_thread_join (g_thread_new ("intruder", unref_from_thread, watchdog));
      return;
    }

  g_test_trap_subprocess (NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*Last reference to a running HkWatchdog*");
}

/* --- fork ------------------------------------------------------------------ */

/* In the child: a fresh watchdog must start and report. Exit status 0 on
 * success. */
static int
child_watches (const char *dir)
{
  g_autoptr(GFile) file = g_file_new_for_path (dir);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  g_autoptr(HkRecorder) recorder = NULL;
  g_autofree char *path = g_build_filename (dir, "from-child", NULL);

  recorder = hk_recorder_new (watchdog, dir);
  if (!hk_watchdog_start (watchdog, NULL, NULL))
    return 2;
  hk_test_write_file (path, "x");
  if (!hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "from-child", 10000))
    return 3;
  return 0;
}

static void
test_fork_child_gets_fresh_worker (Fixture *f, gconstpointer data)
{
  g_autoptr(HkWatchdog) watchdog = hk_test_watchdog_new (f->root);
  g_autofree char *child_dir = g_build_filename (f->base, "child", NULL);
  int status = 0;
  int result_pipe[2];
  guint8 result = 255;
  pid_t pid;
  gint64 deadline;

  /* The parent's worker exists, and is busy with a watchdog. */
  g_assert_true (hk_watchdog_start (watchdog, NULL, NULL));
  g_assert_cmpint (g_mkdir (child_dir, 0755), ==, 0);
  g_assert_cmpint (pipe (result_pipe), ==, 0);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* The result goes through a pipe, not the exit status: under
       * valgrind the child's exit status says that the parent's threads
       * (gone in the child) left memory no one can reach. */
      guint8 code = (guint8) child_watches (child_dir);

      close (result_pipe[0]);
      if (write (result_pipe[1], &code, 1) != 1)
        _exit (4);
      _exit (code);
    }
  close (result_pipe[1]);

  /* Never hang: a child stuck on the parent's worker is killed. */
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (waitpid (pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
          g_assert_not_reached ();
        }
      g_usleep (10000);
    }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (read (result_pipe[0], &result, 1), ==, 1);
  close (result_pipe[0]);
  g_assert_cmpint (result, ==, 0);

  /* The parent goes on working. */
  {
    g_autoptr(HkRecorder) recorder = hk_recorder_new (watchdog, f->root);
    g_autofree char *path = g_build_filename (f->root, "after-fork", NULL);

    hk_test_write_file (path, "x");
    g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "after-fork", 10000));
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/lifecycle/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("stop/large-tree-returns-at-once", test_stop_large_tree_returns_at_once);
  ADD ("cancel/during-walk", test_cancel_during_walk);
  ADD ("cancel/sync-start-from-another-thread", test_cancel_sync_start_from_another_thread);
  ADD ("cancel/after-walk-still-running", test_cancel_after_walk_still_running);
  ADD ("n-watched/notifies-throttled", test_n_watched_notifies_throttled);
  ADD ("owner-thread/stop-from-other-thread-is-critical", test_owner_thread_stop_from_other_thread_is_critical);
  ADD ("owner-thread/setter-from-other-thread-is-critical", test_owner_thread_setter_from_other_thread_is_critical);
  ADD ("owner-thread/start-from-other-thread-is-critical", test_owner_thread_start_from_other_thread_is_critical);
  ADD ("owner-thread/last-unref-from-other-thread-is-critical", test_owner_thread_last_unref_from_other_thread_is_critical);
  ADD ("fork/child-gets-fresh-worker", test_fork_child_gets_fresh_worker);

#undef ADD

  return g_test_run ();
}
