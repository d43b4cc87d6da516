/* test-stress.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The model-checked stress test: a seeded generator applies random
 * filesystem operations in bursts, without waiting for events; once they
 * settle, replaying the received event stream on the initial snapshot must
 * give exactly the tree on disk. See docs/testing.md.
 *
 * Environment:
 *   HK_STRESS_SEED=N    run only seed N (every variant; pick one with -p)
 *   HK_STRESS_OPS=N     operations per seed
 *   HK_STRESS_SEEDS=N   seeds per variant
 *   HK_STRESS_LONG=1    the long run (the "stress" suite)
 *   HK_STRESS_STRICT=0  events that do not fit the model (duplicates,
 *                       unknown paths) are only reported; by default they
 *                       fail the test
 *   HK_STRESS_VERBOSE=1 print every operation and event
 *
 * A test path ending in seed-N given with -p registers that seed too, so
 * "test-stress -p /stress/replay/threaded/seed-1234" just works.
 */

#include <hachiko.h>

#if defined(__has_include)
# if __has_include("hk-watchdog-private.h")
#  include "hk-watchdog-private.h"
# endif
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hk-replay.h"

#define CI_OPS               300
#define CI_SEEDS             20
#define CI_SEEDS_VARIANT     6
#define CI_SEEDS_BACKEND     4
#define BACKEND_POLL_MS      50
#define LONG_OPS             2000
#define LONG_SEEDS           50
#define LONG_FIRST_SEED      1000
#define INITIAL_OPS          25
#define MAX_BURST            40
#define QUIET_USEC           (300 * G_TIME_SPAN_MILLISECOND)
#define SETTLE_USEC          (5 * G_TIME_SPAN_SECOND)
#define TICK_MSEC            50
#define COALESCED_LATENCY    50
#define MAX_PRINTED_DIFFS    20

typedef enum
{
  VARIANT_PLAIN,
  VARIANT_THREADED,
  VARIANT_OVERFLOW,
  VARIANT_OVERFLOW_THREADED,
  VARIANT_COALESCED,
  /* The plain run with another backend; one line each. */
  VARIANT_BACKEND_GIO,
  VARIANT_BACKEND_POLL,
  VARIANT_BACKEND_FANOTIFY,
  /* fanotify with start returning before the walk: the walk is held after
   * the root until half the operations are done. */
  VARIANT_BACKEND_FANOTIFY_EARLY,
  N_VARIANTS
} Variant;

static const char * const variant_paths[N_VARIANTS] = {
  [VARIANT_PLAIN]             = "/stress/replay",
  [VARIANT_THREADED]          = "/stress/replay/threaded",
  [VARIANT_OVERFLOW]          = "/stress/replay/with-overflow",
  [VARIANT_OVERFLOW_THREADED] = "/stress/replay/with-overflow-threaded",
  [VARIANT_COALESCED]         = "/stress/replay/coalesced",
  [VARIANT_BACKEND_GIO]       = "/stress/replay/backend-gio",
  [VARIANT_BACKEND_POLL]      = "/stress/replay/backend-poll",
  [VARIANT_BACKEND_FANOTIFY]  = "/stress/replay/backend-fanotify",
  [VARIANT_BACKEND_FANOTIFY_EARLY] = "/stress/replay/backend-fanotify-early",
};

/* The backend a variant forces; AUTO (inotify here) for the others. */
static const HkBackendKind variant_backends[N_VARIANTS] = {
  [VARIANT_BACKEND_GIO]       = HK_BACKEND_KIND_GIO,
  [VARIANT_BACKEND_POLL]      = HK_BACKEND_KIND_POLL,
  [VARIANT_BACKEND_FANOTIFY]  = HK_BACKEND_KIND_FANOTIFY,
  [VARIANT_BACKEND_FANOTIFY_EARLY] = HK_BACKEND_KIND_FANOTIFY,
};

typedef struct
{
  guint32 seed;
  guint   n_ops;
  Variant variant;
} StressCase;

static const char *program_path;
static GPtrArray *cases;  /* StressCase, freed after the run even if skipped */
static gboolean strict;
static gboolean verbose;

/* One run of one seed */

typedef struct
{
  const StressCase *scase;
  GMainContext     *context;
  HkWatchdog       *watchdog;
  HkReplayGen      *gen;
  HkReplayModel    *model;
  char             *root;
  GString          *event_log;
  gint64            last_event;
  guint             n_events;
  guint             n_overflows;
  guint             n_errors;
  gboolean          injected;

  /* Shared with the generator thread */
  GError           *gen_error;
  gint              ops_done;     /* atomic */
  gint              halfway;      /* atomic */
} Run;

static gboolean
variant_is_threaded (Variant variant)
{
  return variant == VARIANT_THREADED || variant == VARIANT_OVERFLOW_THREADED ||
         variant == VARIANT_BACKEND_FANOTIFY_EARLY;
}

static gboolean
variant_forces_overflow (Variant variant)
{
  return variant == VARIANT_OVERFLOW || variant == VARIANT_OVERFLOW_THREADED;
}

static const char *
event_type_name (HkEventType type)
{
  switch (type)
    {
    case HK_EVENT_CREATED:
      return "created";
    case HK_EVENT_DELETED:
      return "deleted";
    case HK_EVENT_MODIFIED:
      return "modified";
    case HK_EVENT_MOVED:
      return "moved";
    case HK_EVENT_ATTRIBUTE_CHANGED:
      return "attribute-changed";
    case HK_EVENT_CLOSED:
      return "closed";
    case HK_EVENT_OPENED:
      return "opened";
    case HK_EVENT_CLOSED_NO_WRITE:
      return "closed-no-write";
    default:
      return "unknown";
    }
}

static HkReplayChange
change_for_event_type (HkEventType type)
{
  switch (type)
    {
    case HK_EVENT_CREATED:
      return HK_REPLAY_CHANGE_CREATE;
    case HK_EVENT_DELETED:
      return HK_REPLAY_CHANGE_DELETE;
    case HK_EVENT_MOVED:
      return HK_REPLAY_CHANGE_MOVE;
    case HK_EVENT_MODIFIED:
    case HK_EVENT_ATTRIBUTE_CHANGED:
    case HK_EVENT_CLOSED:
    case HK_EVENT_OPENED:
    case HK_EVENT_CLOSED_NO_WRITE:
    default:
      return HK_REPLAY_CHANGE_TOUCH;
    }
}

static void
on_event (HkWatchdog *watchdog,
          HkEvent    *event,
          Run        *run)
{
  HkEventType type = hk_event_get_event_type (event);
  const char *path = hk_event_get_path (event);
  const char *dest_path = hk_event_get_dest_path (event);
  gboolean is_directory = hk_event_get_is_directory (event);
  g_autofree char *escaped = hk_replay_escape_path (path);

  run->n_events++;
  run->last_event = g_get_monotonic_time ();

  g_string_append_printf (run->event_log, "@%u %s %s", run->n_events,
                          event_type_name (type), escaped);
  if (type == HK_EVENT_MOVED)
    {
      g_autofree char *escaped_dest = hk_replay_escape_path (dest_path);
      g_string_append_printf (run->event_log, " -> %s", escaped_dest);
    }
  g_string_append_printf (run->event_log, "%s%s\n",
                          is_directory ? " dir" : "",
                          hk_event_get_is_synthetic (event) ? " synthetic" : "");

  hk_replay_model_apply (run->model, change_for_event_type (type),
                         path, dest_path, is_directory);
}

static void
on_overflow (HkWatchdog *watchdog,
             Run        *run)
{
  run->n_overflows++;
  run->last_event = g_get_monotonic_time ();
  g_string_append_printf (run->event_log, "@%u overflow\n", run->n_events);
}

static void
on_error (HkWatchdog   *watchdog,
          const GError *error,
          Run          *run)
{
  run->n_errors++;
  run->last_event = g_get_monotonic_time ();
  g_string_append_printf (run->event_log, "@%u error: %s\n", run->n_events, error->message);
  g_test_message ("error signal: %s", error->message);
}

static gboolean
inject_overflow (Run *run)
{
#ifdef HK_HAVE_INJECT_OVERFLOW
  g_string_append_printf (run->event_log, "@%u (overflow injected after op %u)\n",
                          run->n_events, hk_replay_gen_get_n_steps (run->gen));
  hk_watchdog_inject_overflow (run->watchdog);
  run->injected = TRUE;
  return TRUE;
#else
  return FALSE;
#endif
}

static void
dispatch_pending (GMainContext *context)
{
  /* Bounded, so a stream of sources cannot keep the generator waiting. */
  for (guint i = 0; i < 1000 && g_main_context_iteration (context, FALSE); i++)
    ;
}

/* Runs operations in bursts on the main thread, sometimes letting the
 * context dispatch between bursts, never waiting for an event. */
static gboolean
run_ops_here (Run     *run,
              GError **error)
{
  HkReplayGen *gen = run->gen;
  guint n_ops = run->scase->n_ops;

  while (hk_replay_gen_get_n_steps (gen) < n_ops)
    {
      guint burst = hk_replay_gen_next_burst (gen, MAX_BURST);

      for (guint i = 0; i < burst && hk_replay_gen_get_n_steps (gen) < n_ops; i++)
        {
          if (!hk_replay_gen_step (gen, error))
            return FALSE;
        }

      if (variant_forces_overflow (run->scase->variant) && !run->injected &&
          hk_replay_gen_get_n_steps (gen) >= n_ops / 2)
        inject_overflow (run);

      if (hk_replay_gen_next_burst (gen, 5) > 1)
        dispatch_pending (run->context);
    }
  return TRUE;
}

static gpointer
gen_thread_func (gpointer data)
{
  Run *run = data;
  HkReplayGen *gen = run->gen;
  guint n_ops = run->scase->n_ops;

  while (hk_replay_gen_get_n_steps (gen) < n_ops)
    {
      if (!hk_replay_gen_step (gen, &run->gen_error))
        break;
      if (!g_atomic_int_get (&run->halfway) &&
          hk_replay_gen_get_n_steps (gen) >= n_ops / 2)
        {
          g_atomic_int_set (&run->halfway, TRUE);
          g_main_context_wakeup (run->context);
        }
    }

  g_atomic_int_set (&run->ops_done, TRUE);
  g_main_context_wakeup (run->context);
  return NULL;
}

/* Runs operations on a second thread while this one keeps dispatching. */
static gboolean
run_ops_in_thread (Run     *run,
                   GError **error)
{
  GThread *thread = g_thread_new ("hk-stress-gen", gen_thread_func, run);

  while (!g_atomic_int_get (&run->ops_done))
    {
      g_main_context_iteration (run->context, TRUE);

      if (variant_forces_overflow (run->scase->variant) && !run->injected &&
          g_atomic_int_get (&run->halfway))
        inject_overflow (run);
      if (run->scase->variant == VARIANT_BACKEND_FANOTIFY_EARLY && g_atomic_int_get (&run->halfway))
        hk_watchdog_resume_walks_for_testing ();
    }
  hk_watchdog_resume_walks_for_testing ();

  g_thread_join (thread);

  if (run->gen_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&run->gen_error));
      return FALSE;
    }
  return TRUE;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Waits until no event came for QUIET_USEC and the model equals @disk, or
 * until SETTLE_USEC passed. Returns whether it settled. */
static gboolean
settle (Run          *run,
        HkReplayTree *disk)
{
  g_autoptr(GSource) tick = g_timeout_source_new (TICK_MSEC);
  gint64 deadline = g_get_monotonic_time () + SETTLE_USEC;
  gboolean settled = FALSE;

  g_source_set_callback (tick, tick_cb, NULL, NULL);
  g_source_attach (tick, run->context);
  run->last_event = MAX (run->last_event, g_get_monotonic_time ());

  for (;;)
    {
      gint64 now;

      g_main_context_iteration (run->context, TRUE);
      now = g_get_monotonic_time ();

      if (now - run->last_event >= QUIET_USEC)
        {
          g_autoptr(GPtrArray) diff =
            hk_replay_tree_diff (disk, hk_replay_model_get_tree (run->model),
                                 HK_REPLAY_DIFF_DIRECTORIES);
          if (diff->len == 0)
            {
              settled = TRUE;
              break;
            }
        }

      if (now >= deadline)
        break;
    }

  g_source_destroy (tick);
  return settled;
}

static char *
replay_command (const StressCase *scase)
{
  return g_strdup_printf ("HK_STRESS_SEED=%u HK_STRESS_OPS=%u %s -p %s",
                          scase->seed, scase->n_ops, program_path, g_test_get_path ());
}

static char *
write_failure_log (Run *run)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *template = g_strdup_printf ("hk%s-XXXXXX.log", g_test_get_path ());
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  int fd;

  /* A unique name: several test programs may fail at once. */
  g_strdelimit (template, "/", '-');
  fd = g_file_open_tmp (template, &path, &error);
  if (fd < 0)
    return g_strdup_printf ("(could not create a log: %s)", error->message);
  close (fd);

  contents = g_strdup_printf ("# %s\n# root %s\n\n# operations\n%s\n# events\n%s",
                              g_test_get_path (), run->root,
                              hk_replay_gen_get_log (run->gen), run->event_log->str);
  if (!g_file_set_contents (path, contents, -1, &error))
    return g_strdup_printf ("(could not write %s: %s)", path, error->message);
  return g_steal_pointer (&path);
}

static void
print_lines (const char *title,
             GPtrArray  *lines)
{
  g_printerr ("%s (%u):\n", title, lines->len);
  for (guint i = 0; i < lines->len && i < MAX_PRINTED_DIFFS; i++)
    g_printerr ("  %s\n", (const char *) g_ptr_array_index (lines, i));
  if (lines->len > MAX_PRINTED_DIFFS)
    g_printerr ("  ... %u more\n", lines->len - MAX_PRINTED_DIFFS);
}

static void
report_failure (Run        *run,
                const char *what,
                GPtrArray  *diff,
                GPtrArray  *anomalies)
{
  g_autofree char *command = replay_command (run->scase);
  g_autofree char *log_path = write_failure_log (run);

  g_printerr ("\n%s: %s\n", g_test_get_path (), what);
  g_printerr ("seed %u, %u operations, %u events, %u overflow signals, %u error signals\n",
              run->scase->seed, run->scase->n_ops, run->n_events, run->n_overflows,
              run->n_errors);
  if (diff != NULL && diff->len > 0)
    print_lines ("differences from the disk (missing: on disk only; "
                 "unexpected: in the model only)", diff);
  if (anomalies != NULL && anomalies->len > 0)
    print_lines ("events that do not fit the model", anomalies);
  g_printerr ("operations and events: %s\n", log_path);
  g_printerr ("replay: %s\n\n", command);

  g_test_fail_printf ("%s (seed %u); replay: %s", what, run->scase->seed, command);
}

static void
test_replay (gconstpointer data)
{
  const StressCase *scase = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp_template = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *outside = NULL;
  g_autoptr(GFile) root_file = NULL;
  g_autoptr(HkReplayTree) initial = NULL;
  g_autoptr(HkReplayTree) disk = NULL;
  g_autoptr(GPtrArray) diff = NULL;
  g_autoptr(GPtrArray) anomalies = NULL;
  g_autoptr(GError) cleanup_error = NULL;
  g_autofree char *failure = NULL;
  gboolean have_overflow_signal;
  gboolean settled;
  gboolean ops_ok;
  Run run = { .scase = scase };

#ifndef HK_HAVE_INJECT_OVERFLOW
  if (variant_forces_overflow (scase->variant))
    {
      g_test_skip ("hk_watchdog_inject_overflow() is not available");
      return;
    }
#endif

  tmp_template = g_dir_make_tmp ("hk-stress-XXXXXX", &error);
  g_assert_no_error (error);
  /* Event paths are canonical; so must the root be. */
  tmp = realpath (tmp_template, NULL);
  g_assert_nonnull (tmp);
  run.root = g_build_filename (tmp, "root", NULL);
  outside = g_build_filename (tmp, "outside", NULL);
  g_assert_no_errno (mkdir (run.root, 0755));
  g_assert_no_errno (mkdir (outside, 0755));

  run.gen = hk_replay_gen_new (run.root, outside, scase->seed);
  hk_replay_gen_populate (run.gen, INITIAL_OPS, &error);
  g_assert_no_error (error);
  initial = hk_replay_tree_scan (run.root, &error);
  g_assert_no_error (error);
  run.model = hk_replay_model_new (run.root, initial);
  run.event_log = g_string_new (NULL);

  run.context = g_main_context_new ();
  g_main_context_push_thread_default (run.context);

  root_file = g_file_new_for_path (run.root);
  run.watchdog = hk_watchdog_new (root_file);
  /* Looked up once the class exists. */
  have_overflow_signal = g_signal_lookup ("overflow", HK_TYPE_WATCHDOG) != 0;
  g_signal_connect (run.watchdog, "event", G_CALLBACK (on_event), &run);
  if (have_overflow_signal)
    g_signal_connect (run.watchdog, "overflow", G_CALLBACK (on_overflow), &run);
  if (g_signal_lookup ("error", HK_TYPE_WATCHDOG) != 0)
    g_signal_connect (run.watchdog, "error", G_CALLBACK (on_error), &run);
  if (scase->variant == VARIANT_COALESCED)
    hk_watchdog_set_latency (run.watchdog, COALESCED_LATENCY);

  hk_watchdog_set_backend (run.watchdog, variant_backends[scase->variant]);
  hk_watchdog_set_poll_interval (run.watchdog, BACKEND_POLL_MS);

  /* The model starts from the tree as it is when start returns, which
   * with an early start is before the walk has read it. */
  if (scase->variant == VARIANT_BACKEND_FANOTIFY_EARLY)
    hk_watchdog_pause_walks_for_testing (1);
  else
    hk_watchdog_set_wait_for_walk (run.watchdog, TRUE);
  if (!hk_watchdog_start (run.watchdog, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    {
      g_test_skip (error->message);
      g_clear_object (&run.watchdog);
      g_main_context_pop_thread_default (run.context);
      g_main_context_unref (run.context);
      hk_replay_rm_rf (tmp, &cleanup_error);
      hk_replay_model_free (run.model);
      hk_replay_gen_free (run.gen);
      g_string_free (run.event_log, TRUE);
      g_free (run.root);
      return;
    }
  g_assert_no_error (error);

  if (variant_is_threaded (scase->variant))
    ops_ok = run_ops_in_thread (&run, &error);
  else
    ops_ok = run_ops_here (&run, &error);

  /* The generator only does what must succeed: a failure is a test bug. */
  if (!ops_ok)
    failure = g_strdup_printf ("the generator failed at op %u (a test bug): %s",
                               hk_replay_gen_get_n_steps (run.gen), error->message);

  if (failure == NULL)
    {
      disk = hk_replay_tree_scan (run.root, &error);
      g_assert_no_error (error);
      diff = hk_replay_tree_diff (disk, hk_replay_gen_get_tree (run.gen), HK_REPLAY_DIFF_EXACT);
      if (diff->len > 0)
        failure = g_strdup ("the generator lost track of the disk (a test bug)");
    }

  if (failure == NULL)
    {
      settled = settle (&run, disk);
      hk_watchdog_stop (run.watchdog);

      g_clear_pointer (&diff, g_ptr_array_unref);
      diff = hk_replay_tree_diff (disk, hk_replay_model_get_tree (run.model),
                                  HK_REPLAY_DIFF_DIRECTORIES);
      anomalies = hk_replay_model_get_anomalies (run.model);

      g_test_message ("seed %u: %u ops, %u entries on disk, %u events, %u duplicate creations, "
                      "%u anomalies, %u overflow signals, %u error signals%s",
                      scase->seed, scase->n_ops, hk_replay_tree_get_size (disk), run.n_events,
                      hk_replay_model_get_n_duplicates (run.model), anomalies->len,
                      run.n_overflows, run.n_errors, settled ? "" : ", did not settle");
      for (guint i = 0; i < anomalies->len && i < MAX_PRINTED_DIFFS; i++)
        g_test_message ("  anomaly: %s", (const char *) g_ptr_array_index (anomalies, i));

      if (verbose)
        g_printerr ("operations:\n%s\nevents:\n%s\n", hk_replay_gen_get_log (run.gen),
                    run.event_log->str);

      if (diff->len > 0)
        failure = g_strdup ("replaying the events does not give the tree on disk");
      else if (strict && anomalies->len > 0)
        failure = g_strdup ("events that do not fit the model (HK_STRESS_STRICT)");
      else if (variant_forces_overflow (scase->variant) && have_overflow_signal &&
               run.n_overflows == 0)
        failure = g_strdup ("the injected overflow was never signalled");
    }

  /* Clean up before reporting: without -k, a failure aborts the program. */
  hk_watchdog_stop (run.watchdog);
  g_clear_object (&run.watchdog);
  dispatch_pending (run.context);
  g_main_context_pop_thread_default (run.context);
  g_main_context_unref (run.context);
  hk_replay_rm_rf (tmp, &cleanup_error);
  g_assert_no_error (cleanup_error);

  if (failure != NULL)
    report_failure (&run, failure, diff, anomalies);

  hk_replay_model_free (run.model);
  hk_replay_gen_free (run.gen);
  g_string_free (run.event_log, TRUE);
  g_free (run.root);
}

/* Tests of the model itself (no watchdog) */

static void
test_model_semantics (void)
{
  g_autoptr(HkReplayTree) initial = hk_replay_tree_new ();
  g_autoptr(HkReplayTree) want = hk_replay_tree_new ();
  g_autoptr(HkReplayModel) model = NULL;
  g_autoptr(GPtrArray) diff = NULL;
  g_autoptr(GPtrArray) anomalies = NULL;

  hk_replay_tree_insert (initial, "a", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (initial, "a/x", HK_REPLAY_KIND_FILE);
  hk_replay_tree_insert (initial, "a/b", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (initial, "a/b/y", HK_REPLAY_KIND_FILE);
  hk_replay_tree_insert (initial, "ab", HK_REPLAY_KIND_FILE);
  model = hk_replay_model_new ("/r/", initial);

  /* A directory moves with its subtree; "ab" is not below "a". */
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_MOVE, "/r/a", "/r/c", TRUE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_CREATE, "/r/c/b/z", NULL, FALSE);
  /* A move replaces its destination. */
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_MOVE, "/r/ab", "/r/c/x", FALSE);
  /* A deletion takes the subtree. */
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_DELETE, "/r/c/b", NULL, TRUE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_TOUCH, "/r/c/x", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_TOUCH, "/r", NULL, TRUE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_CREATE, "/r/n\n\xff", NULL, TRUE);

  hk_replay_tree_insert (want, "c", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (want, "c/x", HK_REPLAY_KIND_SYMLINK);
  hk_replay_tree_insert (want, "n\n\xff", HK_REPLAY_KIND_DIR);

  anomalies = hk_replay_model_get_anomalies (model);
  g_assert_cmpuint (anomalies->len, ==, 0);
  g_assert_cmpuint (hk_replay_model_get_n_applied (model), ==, 7);

  /* An event cannot tell a symlink from a file; an exact diff can. */
  diff = hk_replay_tree_diff (want, hk_replay_model_get_tree (model), HK_REPLAY_DIFF_DIRECTORIES);
  g_assert_cmpuint (diff->len, ==, 0);
  g_clear_pointer (&diff, g_ptr_array_unref);
  diff = hk_replay_tree_diff (want, hk_replay_model_get_tree (model), HK_REPLAY_DIFF_EXACT);
  g_assert_cmpuint (diff->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (diff, 0), ==, "wrong kind 'c/x': file, expected symlink");
}

static void
test_model_anomalies (void)
{
  g_autoptr(HkReplayTree) initial = hk_replay_tree_new ();
  g_autoptr(HkReplayTree) want = hk_replay_tree_new ();
  g_autoptr(HkReplayModel) model = NULL;
  g_autoptr(GPtrArray) diff = NULL;
  g_autoptr(GPtrArray) anomalies = NULL;

  hk_replay_tree_insert (initial, "d", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (initial, "d/f", HK_REPLAY_KIND_FILE);
  model = hk_replay_model_new ("/r", initial);

  hk_replay_model_apply (model, HK_REPLAY_CHANGE_CREATE, "/r/d/f", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_TOUCH, "/r/gone", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_DELETE, "/r/gone", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_CREATE, "/rx/q", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_MOVE, "/r/d", "/r/d/e", TRUE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_CREATE, "/r/p/q", NULL, FALSE);
  hk_replay_model_apply (model, HK_REPLAY_CHANGE_TOUCH, "/r/d", NULL, FALSE);

  anomalies = hk_replay_model_get_anomalies (model);
  g_assert_cmpuint (hk_replay_model_get_n_duplicates (model), ==, 1);
  g_assert_cmpuint (anomalies->len, ==, 7);
  g_assert_cmpstr (g_ptr_array_index (anomalies, 0), ==,
                   "event #1: created 'd/f' (file): duplicate, the model already has it (file)");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 1), ==, "event #2: changed 'gone': not in the model");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 2), ==, "event #3: deleted 'gone': not in the model");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 3), ==, "event #4: event for '/rx/q', outside the root");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 4), ==,
                   "event #5: moved 'd' into its own subtree ('d/e')");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 5), ==,
                   "event #6: created 'p/q': the parent directory is not in the model");
  g_assert_cmpstr (g_ptr_array_index (anomalies, 6), ==,
                   "event #7: changed 'd': event says not a directory, the model has dir");

  /* Still applied as "exists". */
  hk_replay_tree_insert (want, "d", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (want, "d/f", HK_REPLAY_KIND_FILE);
  hk_replay_tree_insert (want, "p/q", HK_REPLAY_KIND_FILE);
  diff = hk_replay_tree_diff (want, hk_replay_model_get_tree (model), HK_REPLAY_DIFF_EXACT);
  g_assert_cmpuint (diff->len, ==, 0);
}

static void
test_model_diff (void)
{
  g_autoptr(HkReplayTree) disk = hk_replay_tree_new ();
  g_autoptr(HkReplayTree) model = hk_replay_tree_new ();
  g_autoptr(GPtrArray) diff = NULL;

  hk_replay_tree_insert (disk, "a", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (disk, "b", HK_REPLAY_KIND_FILE);
  hk_replay_tree_insert (disk, "c", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (model, "a", HK_REPLAY_KIND_DIR);
  hk_replay_tree_insert (model, "c", HK_REPLAY_KIND_FILE);
  hk_replay_tree_insert (model, "d e", HK_REPLAY_KIND_FILE);

  diff = hk_replay_tree_diff (disk, model, HK_REPLAY_DIFF_DIRECTORIES);
  g_assert_cmpuint (diff->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (diff, 0), ==, "missing    'b' (file)");
  g_assert_cmpstr (g_ptr_array_index (diff, 1), ==, "wrong kind 'c': file, expected dir");
  g_assert_cmpstr (g_ptr_array_index (diff, 2), ==, "unexpected 'd e' (file)");
}

/* The generator is deterministic and its own view always equals the disk,
 * whatever the names; this is what makes a failing seed replayable. */
static void
test_model_generator (void)
{
  g_autoptr(GError) error = NULL;
  char *logs[2] = { NULL, NULL };

  for (guint round = 0; round < 2; round++)
    {
      g_autofree char *tmp = g_dir_make_tmp ("hk-stress-gen-XXXXXX", &error);
      g_autofree char *root = g_build_filename (tmp, "root", NULL);
      g_autofree char *outside = g_build_filename (tmp, "outside", NULL);
      g_autoptr(HkReplayGen) gen = NULL;
      g_autoptr(HkReplayTree) disk = NULL;
      g_autoptr(GPtrArray) diff = NULL;

      g_assert_no_error (error);
      g_assert_no_errno (mkdir (root, 0755));
      g_assert_no_errno (mkdir (outside, 0755));

      gen = hk_replay_gen_new (root, outside, 4242);
      hk_replay_gen_populate (gen, INITIAL_OPS, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < 400; i++)
        {
          hk_replay_gen_step (gen, &error);
          g_assert_no_error (error);
        }

      disk = hk_replay_tree_scan (root, &error);
      g_assert_no_error (error);
      diff = hk_replay_tree_diff (disk, hk_replay_gen_get_tree (gen), HK_REPLAY_DIFF_EXACT);
      g_assert_cmpuint (diff->len, ==, 0);
      logs[round] = g_strdup (hk_replay_gen_get_log (gen));

      hk_replay_rm_rf (tmp, &error);
      g_assert_no_error (error);
      g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
    }

  g_assert_cmpstr (logs[0], ==, logs[1]);
  g_free (logs[0]);
  g_free (logs[1]);
}

/* Registration */

static guint
env_uint (const char *name,
          guint       fallback)
{
  const char *value = g_getenv (name);
  guint64 parsed;

  if (value == NULL || value[0] == '\0')
    return fallback;
  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32, &parsed, NULL))
    g_error ("%s=%s is not a number", name, value);
  return parsed;
}

static void
add_case (Variant variant,
          guint32 seed,
          guint   n_ops)
{
  StressCase *scase = g_new0 (StressCase, 1);
  g_autofree char *path = g_strdup_printf ("%s/seed-%u", variant_paths[variant], seed);

  scase->seed = seed;
  scase->n_ops = n_ops;
  scase->variant = variant;
  g_ptr_array_add (cases, scase);
  g_test_add_data_func (path, scase, test_replay);
}

/* "-p /stress/replay/threaded/seed-77" registers that case, so a failing
 * seed can be replayed by its test path alone. */
static void
add_cases_from_args (int          argc,
                     char       **argv,
                     guint        n_ops,
                     GHashTable  *added)
{
  for (int i = 1; i < argc; i++)
    {
      const char *path = NULL;
      const char *seed_part;
      guint64 seed;

      if (strcmp (argv[i], "-p") == 0 && i + 1 < argc)
        path = argv[++i];
      else if (g_str_has_prefix (argv[i], "-p="))
        path = argv[i] + 3;
      if (path == NULL || (seed_part = strrchr (path, '/')) == NULL ||
          !g_str_has_prefix (seed_part, "/seed-") ||
          !g_ascii_string_to_unsigned (seed_part + 6, 10, 0, G_MAXUINT32, &seed, NULL))
        continue;

      for (guint v = 0; v < N_VARIANTS; v++)
        {
          g_autofree char *prefix = g_strndup (path, seed_part - path);

          if (strcmp (prefix, variant_paths[v]) == 0 &&
              g_hash_table_add (added, g_strdup (path)))
            add_case (v, seed, n_ops);
        }
    }
}

static void
add_default_cases (GHashTable *added,
                   guint32     first_seed,
                   guint       n_seeds,
                   guint       n_variant_seeds,
                   guint       n_backend_seeds,
                   guint       n_ops)
{
  for (guint v = 0; v < N_VARIANTS; v++)
    {
      guint count = v == VARIANT_PLAIN ? n_seeds
                  : variant_backends[v] != HK_BACKEND_KIND_AUTO ? n_backend_seeds
                  : n_variant_seeds;

      for (guint i = 0; i < count; i++)
        {
          guint32 seed = first_seed + i;
          g_autofree char *path = g_strdup_printf ("%s/seed-%u", variant_paths[v], seed);

          if (g_hash_table_add (added, g_steal_pointer (&path)))
            add_case (v, seed, n_ops);
        }
    }
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GHashTable) added = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean long_run = env_uint ("HK_STRESS_LONG", 0) != 0;
  guint n_ops = env_uint ("HK_STRESS_OPS", long_run ? LONG_OPS : CI_OPS);
  guint first_seed = long_run ? LONG_FIRST_SEED : 1;
  guint n_seeds = env_uint ("HK_STRESS_SEEDS", long_run ? LONG_SEEDS : CI_SEEDS);
  guint n_variant_seeds = env_uint ("HK_STRESS_SEEDS", long_run ? LONG_SEEDS : CI_SEEDS_VARIANT);
  guint n_backend_seeds = env_uint ("HK_STRESS_SEEDS", long_run ? LONG_SEEDS : CI_SEEDS_BACKEND);
  int ret;

  program_path = argv[0];
  cases = g_ptr_array_new_with_free_func (g_free);
  strict = env_uint ("HK_STRESS_STRICT", 1) != 0;
  verbose = env_uint ("HK_STRESS_VERBOSE", 0) != 0;

  /* Before g_test_init(), which consumes -p. */
  add_cases_from_args (argc, argv, n_ops, added);

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/stress/model/semantics", test_model_semantics);
  g_test_add_func ("/stress/model/anomalies", test_model_anomalies);
  g_test_add_func ("/stress/model/diff", test_model_diff);
  g_test_add_func ("/stress/model/generator", test_model_generator);

  if (g_getenv ("HK_STRESS_SEED") != NULL)
    {
      guint32 seed = env_uint ("HK_STRESS_SEED", 0);

      for (guint v = 0; v < N_VARIANTS; v++)
        {
          g_autofree char *path = g_strdup_printf ("%s/seed-%u", variant_paths[v], seed);

          if (g_hash_table_add (added, g_steal_pointer (&path)))
            add_case (v, seed, n_ops);
        }
    }
  else
    add_default_cases (added, first_seed, n_seeds, n_variant_seeds, n_backend_seeds, n_ops);

  ret = g_test_run ();
  g_clear_pointer (&cases, g_ptr_array_unref);
  return ret;
}
