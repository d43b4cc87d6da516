/* hk-tool-exec.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko exec`: runs COMMAND once at start and after changes, one run at
 * a time. A run whose {paths} would not fit in the system's argument limit
 * is split into several runs that each fit; a run that cannot be started
 * is reported and tried again, with a growing delay, before anything
 * else. */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "hk-tool-private.h"

/* With --per-event --on-busy-update=queue, events beyond this wait
 * nowhere: dropped, with a warning, rather than queued without bound. */
#define MAX_QUEUED_EVENTS 100000

#define FIRST_RETRY_MS 250
#define MAX_RETRY_MS   (30 * 1000)

typedef enum
{
  BUSY_QUEUE,        /* run again once the current run is done */
  BUSY_DO_NOTHING,   /* ignore changes while a run is going on */
  BUSY_RESTART,      /* stop the current run and start again */
  BUSY_SIGNAL,       /* send --signal to the current run; no new run */
} BusyPolicy;

static const char * const busy_policy_names[] = { "queue", "do-nothing", "restart", "signal", NULL };

typedef enum
{
  CLEAR_NONE,
  CLEAR_SCREEN,
  CLEAR_RESET,
} ClearMode;

typedef struct
{
  HkToolOptions  options;
  gboolean       per_event;
  gboolean       once_per_batch;
  gboolean       queue;
  gboolean       drop;
  gboolean       postpone;
  char          *busy_name;
  char          *signal_name;
  double         kill_after;
  BusyPolicy     busy;
  ClearMode      clear;
  int            signum;
  char         **command;

  HkToolWatch   *watch;
  GSubprocess   *current;
  GPid           current_pgid;
  GSource       *kill_timer;       /* SIGKILL for a run being restarted */
  GSource       *retry_timer;      /* the next try of a run that did not start */
  guint          retry_ms;
  HkToolRun     *run;              /* the run going on (or to retry), with ... */
  guint          next_path;        /* ... the first of its paths not passed yet */
  gsize          budget_divisor;   /* > 1 after E2BIG: smaller argument lists */
  HkToolRun     *pending_batch;    /* once per batch: the next run */
  GQueue         pending_events;   /* per event: HkEvent, in order */
  gboolean       warned_queue_full;
  gboolean       quitting;
  int            exit_code;
} ExecState;

static const char description[] =
  "Runs COMMAND once at start (unless --postpone) and after changes under\n"
  "the PATHs (the current directory by default), never through a shell.\n"
  "Events are first coalesced for --latency milliseconds (default 100).\n"
  "\n"
  "--once-per-batch (the default) runs COMMAND once per batch of events;\n"
  "--per-event runs it once per event, in order. One run at a time; what\n"
  "changes that come while COMMAND runs do is --on-busy-update's choice:\n"
  "  queue       run again once it is done (the default; alias --queue)\n"
  "  do-nothing  ignore them (alias --drop)\n"
  "  restart     stop the run (--signal, then SIGKILL after --kill-after\n"
  "              seconds) and run again\n"
  "  signal      send --signal to the run, and nothing else\n"
  "\n"
  "Each run gets environment variables describing its event (with\n"
  "--once-per-batch, the last event of the batch; the run at start none):\n"
  "  HACHIKO_EVENT_TYPE    created, deleted, modified, moved, attribute-changed,\n"
  "                        closed, opened or closed-no-write\n"
  "  HACHIKO_PATH          the absolute path, exact bytes\n"
  "  HACHIKO_DEST_PATH     where it was moved to (unset unless moved)\n"
  "  HACHIKO_IS_DIRECTORY  1 or 0\n"
  "  HACHIKO_IS_SYNTHETIC  1 or 0 (inferred by a rescan)\n"
  "  HACHIKO_EVENT_COUNT   how many events the run is for\n"
  "\n"
  "An argument of COMMAND that is exactly {path}, {dest} or {type} is\n"
  "replaced by that value as one argument ({dest} is empty unless moved);\n"
  "exactly {paths} becomes one argument per distinct path of the run (none\n"
  "at start). When they would not fit in the system's limit on arguments,\n"
  "the paths are split over several runs, one after the other, each with\n"
  "as many as fit. A COMMAND with {path}, {dest} or {type} is not run at\n"
  "start. Nothing is ever split or given to a shell, so no file name can\n"
  "run anything.\n"
  "\n"
  "A run that cannot be started is reported and tried again after 0.25 s,\n"
  "then twice as long each time (at most 30 s), before any later run.\n"
  "\n"
  "--clear clears the screen (and scrollback) before each run;\n"
  "--clear=reset resets the terminal instead.\n"
  "\n"
  "COMMAND runs in its own process group, standard input from /dev/null.\n"
  "SIGINT and SIGTERM are forwarded to it, and hachiko exits once it ends.\n"
  "\n"
  "Example: hachiko exec -p '*.c;*.h' src -- make -C build\n"
  "\n"
  "Exit status: 130 after SIGINT, 143 after SIGTERM, 2 for a usage error\n"
  "(including a COMMAND that cannot be found), 3 when a PATH cannot be\n"
  "watched or every PATH was deleted.";

static void maybe_run (ExecState *self);

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
quit_when_idle (ExecState *self,
                int        exit_code)
{
  self->quitting = TRUE;
  self->exit_code = exit_code;
  clear_source (&self->retry_timer);
  if (self->current == NULL)
    hk_tool_watch_quit (self->watch, self->exit_code);
}

static void
on_child_exited (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  ExecState *self = data;
  GSubprocess *child = G_SUBPROCESS (source);

  g_subprocess_wait_finish (child, result, NULL);
  if (!g_subprocess_get_successful (child) && !self->quitting)
    {
      g_autofree char *status = hk_tool_describe_status (child);

      hk_tool_message (&self->options, "“%s” %s", self->command[0], status);
    }

  g_clear_object (&self->current);
  self->current_pgid = 0;
  clear_source (&self->kill_timer);

  if (self->quitting)
    hk_tool_watch_quit (self->watch, self->exit_code);
  else
    maybe_run (self);
}

static HkToolRun *
take_next_run (ExecState *self)
{
  HkToolRun *run;
  g_autoptr(HkEvent) event = NULL;

  if (!self->per_event)
    return g_steal_pointer (&self->pending_batch);

  event = g_queue_pop_head (&self->pending_events);
  if (event == NULL)
    return NULL;

  run = hk_tool_run_new ();
  hk_tool_run_add (run, event);

  return run;
}

static gboolean
on_retry (gpointer data)
{
  ExecState *self = data;

  g_clear_pointer (&self->retry_timer, g_source_unref);
  maybe_run (self);

  return G_SOURCE_REMOVE;
}

static void
schedule_retry (ExecState    *self,
                const GError *error)
{
  self->retry_ms = self->retry_ms == 0 ? FIRST_RETRY_MS : MIN (self->retry_ms * 2, MAX_RETRY_MS);
  /* Always said, even with --quiet: this run has not happened. */
  fprintf (stderr, "hachiko: cannot run “%s”: %s; trying again in %g s\n",
           self->command[0], error->message, self->retry_ms / 1000.0);

  self->retry_timer = g_timeout_source_new (self->retry_ms);
  g_source_set_callback (self->retry_timer, on_retry, self, NULL);
  g_source_set_static_name (self->retry_timer, "[hachiko] retry");
  g_source_attach (self->retry_timer, NULL);
}

static void
clear_screen (ExecState *self)
{
  /* Home, clear the screen, then the scrollback (xterm's E3). */
  if (self->clear == CLEAR_SCREEN)
    fputs ("\033[H\033[2J\033[3J", stdout);
  else if (self->clear == CLEAR_RESET)
    fputs ("\033c", stdout);
  fflush (stdout);
}

/* Starts the next part of the current run, or the next run. */
static void
maybe_run (ExecState *self)
{
  while (self->current == NULL && !self->quitting && self->retry_timer == NULL)
    {
      g_autoptr(GError) error = NULL;
      guint next_path;
      gsize budget;

      if (self->run == NULL)
        {
          self->run = take_next_run (self);
          self->next_path = 0;
          if (self->run == NULL)
            return;
        }

      budget = hk_tool_paths_budget (self->command, self->run) / MAX (self->budget_divisor, 1);
      next_path = self->next_path;
      if (self->clear != CLEAR_NONE)
        clear_screen (self);
      self->current = hk_tool_spawn_full (self->command, self->run, &next_path, budget,
                                          HK_TOOL_STDIN_NULL, &error);
      if (self->current == NULL)
        {
          /* The limit was misjudged: try again at once with fewer paths. */
          if (g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_TOO_BIG) &&
              next_path - self->next_path > 1)
            {
              self->budget_divisor = MAX (self->budget_divisor, 1) * 2;
              continue;
            }
          schedule_retry (self, error);
          return;
        }

      self->retry_ms = 0;
      self->next_path = next_path;
      if (self->next_path >= self->run->paths->len)
        g_clear_pointer (&self->run, hk_tool_run_free);

      self->current_pgid = hk_tool_child_pid (self->current);
      g_subprocess_wait_async (self->current, NULL, on_child_exited, self);
    }
}

static void
queue_event (ExecState *self,
             HkEvent   *event)
{
  if (self->pending_events.length >= MAX_QUEUED_EVENTS)
    {
      if (!self->warned_queue_full)
        fprintf (stderr, "hachiko: warning: %u runs are waiting; dropping further events\n",
                 MAX_QUEUED_EVENTS);
      self->warned_queue_full = TRUE;
      return;
    }

  g_queue_push_tail (&self->pending_events, hk_event_ref (event));
}

static gboolean
on_kill_timer (gpointer data)
{
  ExecState *self = data;

  g_clear_pointer (&self->kill_timer, g_source_unref);
  hk_tool_kill_group_after (&self->options, self->command[0], self->kill_after, self->current_pgid);

  return G_SOURCE_REMOVE;
}

/* --on-busy-update=restart: stop the run; maybe_run() follows its end. */
static void
stop_current (ExecState *self)
{
  if (self->kill_timer != NULL)
    return;

  hk_tool_stop_group (self->current_pgid, self->signum);

  self->kill_timer = g_timeout_source_new ((guint) (self->kill_after * 1000));
  g_source_set_callback (self->kill_timer, on_kill_timer, self, NULL);
  g_source_set_static_name (self->kill_timer, "[hachiko] kill after");
  g_source_attach (self->kill_timer, NULL);
}

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  ExecState *self = data;

  if (self->quitting)
    return;

  if (self->current != NULL)
    switch (self->busy)
      {
      case BUSY_DO_NOTHING:
        return;
      case BUSY_SIGNAL:
        hk_tool_signal_group (self->current_pgid, self->signum);
        return;
      case BUSY_RESTART:
        stop_current (self);
        break;
      case BUSY_QUEUE:
      default:
        break;
      }

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);

      if (self->per_event)
        queue_event (self, event);
      else
        {
          if (self->pending_batch == NULL)
            self->pending_batch = hk_tool_run_new ();
          hk_tool_run_add (self->pending_batch, event);
        }
    }

  if (self->pending_events.length < MAX_QUEUED_EVENTS)
    self->warned_queue_full = FALSE;

  maybe_run (self);
}

static void
on_ready (const GError *error,
          gpointer      data)
{
  ExecState *self = data;

  if (error != NULL)
    {
      quit_when_idle (self, hk_tool_exit_for_start_error (error));
      return;
    }

  /* The run at start: no event, no paths. */
  if (!self->postpone && !hk_tool_command_needs_event (self->command) && self->run == NULL)
    {
      self->run = hk_tool_run_new ();
      self->next_path = 0;
      maybe_run (self);
    }
}

static void
on_lost (gpointer data)
{
  ExecState *self = data;

  fprintf (stderr, "hachiko: no PATH is left to watch; exiting\n");
  quit_when_idle (self, HK_TOOL_EXIT_CANNOT_WATCH);
}

static void
handle_signal (int      signum,
               gpointer data)
{
  ExecState *self = data;

  /* A second signal while the command is finishing: no more waiting. */
  if (self->quitting)
    {
      hk_tool_signal_group (self->current_pgid, SIGKILL);
      return;
    }

  hk_tool_watch_stop (self->watch);
  hk_tool_signal_group (self->current_pgid, signum);
  quit_when_idle (self, HK_TOOL_EXIT_SIGNALED (signum));
}

/* --clear's value: an option callback of the main group gets no state. */
static ClearMode clear_option;

static gboolean
parse_clear (const char  *option_name,
             const char  *value,
             gpointer     data,
             GError     **error)
{
  if (value == NULL || g_str_equal (value, "clear"))
    clear_option = CLEAR_SCREEN;
  else if (g_str_equal (value, "reset"))
    clear_option = CLEAR_RESET;
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--clear takes no value or “reset”, not “%s”", value);
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_modes (ExecState *self)
{
  if (self->per_event && self->once_per_batch)
    {
      hk_tool_usage_error ("exec", "--per-event and --once-per-batch cannot be used together");
      return FALSE;
    }
  if ((self->queue ? 1 : 0) + (self->drop ? 1 : 0) + (self->busy_name != NULL ? 1 : 0) > 1)
    {
      hk_tool_usage_error ("exec", "--queue, --drop and --on-busy-update cannot be used together");
      return FALSE;
    }

  self->busy = self->drop ? BUSY_DO_NOTHING : BUSY_QUEUE;
  if (self->busy_name != NULL)
    {
      guint i;

      for (i = 0; busy_policy_names[i] != NULL; i++)
        if (g_str_equal (self->busy_name, busy_policy_names[i]))
          break;
      if (busy_policy_names[i] == NULL)
        {
          hk_tool_usage_error ("exec", "--on-busy-update must be queue, do-nothing, restart "
                               "or signal, not “%s”", self->busy_name);
          return FALSE;
        }
      self->busy = (BusyPolicy) i;
    }

  return hk_tool_check_signal ("exec", self->signal_name, &self->signum) &&
         hk_tool_check_kill_after ("exec", self->kill_after);
}

static GOptionEntry *
exec_entries (ExecState *state)
{
  const GOptionEntry entries[] = {
    { "once-per-batch", 0, 0, G_OPTION_ARG_NONE, &state->once_per_batch,
      "Run COMMAND once per batch of events (default)", NULL },
    { "per-event", 0, 0, G_OPTION_ARG_NONE, &state->per_event,
      "Run COMMAND once per event", NULL },
    { "postpone", 0, 0, G_OPTION_ARG_NONE, &state->postpone,
      "Do not run COMMAND at start; wait for the first change", NULL },
    { "clear", 'c', G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_clear,
      "Clear the screen before each run (=reset: reset the terminal)", "[reset]" },
    { "on-busy-update", 0, 0, G_OPTION_ARG_STRING, &state->busy_name,
      "What changes do while COMMAND runs: queue (default), do-nothing, restart, signal",
      "POLICY" },
    { "queue", 0, 0, G_OPTION_ARG_NONE, &state->queue,
      "Same as --on-busy-update=queue", NULL },
    { "drop", 0, 0, G_OPTION_ARG_NONE, &state->drop,
      "Same as --on-busy-update=do-nothing", NULL },
    { "signal", 's', 0, G_OPTION_ARG_STRING, &state->signal_name,
      "Signal for --on-busy-update=restart and signal (default TERM)", "SIGNAL" },
    { "kill-after", 'k', 0, G_OPTION_ARG_DOUBLE, &state->kill_after,
      "With restart, send SIGKILL SECONDS after the signal (default 10)", "SECONDS" },
    G_OPTION_ENTRY_NULL
  };

  return g_memdup2 (entries, sizeof entries);
}

const GOptionEntry *
hk_tool_exec_options (void)
{
  static ExecState unused;
  static GOptionEntry *entries;

  if (entries == NULL)
    entries = exec_entries (&unused);
  return entries;
}

int
hk_tool_exec (int    argc,
              char **argv)
{
  ExecState state = { .kill_after = 10.0, .signum = SIGTERM };
  g_autofree GOptionEntry *entries = exec_entries (&state);
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_auto(GStrv) args = NULL;
  g_auto(GStrv) command = NULL;
  const HkToolHandlers handlers = {
    .ready = on_ready, .batch = on_batch, .lost = on_lost, .signal = handle_signal,
  };

  args = hk_tool_split_command (argc, argv, &command);
  /* GOption would take the PATH after a bare -c as its value. */
  for (guint i = 1; args[i] != NULL; i++)
    if (g_str_equal (args[i], "-c") || g_str_equal (args[i], "--clear"))
      {
        g_free (args[i]);
        args[i] = g_strdup ("--clear=clear");
      }
  context = hk_tool_option_context_new ("exec", "[PATH...] -- COMMAND [ARG...]",
                                        "Run COMMAND at start and after changes under each PATH.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "exec", &args, &state.options, 100, &state.exit_code);
  if (watch == NULL)
    goto out;
  state.clear = clear_option;
  if (!check_modes (&state) || !hk_tool_check_command ("exec", command))
    {
      state.exit_code = HK_TOOL_EXIT_USAGE;
      goto out;
    }

  state.command = command;
  state.watch = watch;
  g_queue_init (&state.pending_events);

  hk_tool_watch_run (watch, &handlers, &state, &state.exit_code);
  clear_source (&state.kill_timer);
  clear_source (&state.retry_timer);
  g_queue_clear_full (&state.pending_events, (GDestroyNotify) hk_event_unref);
  g_clear_pointer (&state.pending_batch, hk_tool_run_free);
  g_clear_pointer (&state.run, hk_tool_run_free);

out:
  g_free (state.busy_name);
  g_free (state.signal_name);
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
