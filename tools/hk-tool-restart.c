/* hk-tool-restart.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko restart`: keeps COMMAND running and restarts it after changes.
 *
 * COMMAND leads a process group of its own. Stopping it means: --signal to
 * the whole group, then SIGKILL to the group if anything of it is still
 * there after --kill-after seconds; the stop is over once the leader has
 * exited and the group is empty. hachiko is a child subreaper, so that
 * orphaned members of the group are reaped here and an empty group is
 * seen as empty at once. While stopping, the group is polled every 20 ms;
 * nothing polls otherwise. */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/prctl.h>
#endif

#include "hk-tool-private.h"

#define STOP_POLL_MS         20
#define MIN_RUN_US           (1 * G_USEC_PER_SEC)
/* After SIGKILL, how long to wait for a group that does not empty (its
 * members are zombies someone else must reap) before going on. */
#define AFTER_KILL_GRACE_US  (2 * G_USEC_PER_SEC)

typedef struct
{
  HkToolOptions  options;
  char          *signal_name;
  double         kill_after;
  gboolean       restart_on_exit;
  gboolean       pass_stdin;
  gboolean       own_terminal;   /* --stdin on a terminal: COMMAND gets it while it runs */
  char         **command;
  int            signum;

  HkToolWatch   *watch;

  GSubprocess   *child;          /* the group leader, until it exited */
  GPid           pgid;           /* its group, until the group is empty */
  gint64         started_at;
  int            child_status;   /* of the last leader that exited */

  gboolean       stopping;
  gboolean       killed;
  gint64         kill_deadline;
  GSource       *stop_poll;
  GSource       *relaunch_delay;

  HkToolRun     *pending;        /* the events since the last launch */

  gboolean       quitting;
  gboolean       use_child_status;
  int            exit_code;
} RestartState;

static const char description[] =
  "Starts COMMAND (never through a shell) once every PATH is watched, and\n"
  "restarts it after changes: --signal (default SIGTERM) is sent to its\n"
  "process group, then SIGKILL if anything of the group is left after\n"
  "--kill-after seconds (default 10), and COMMAND is started again once\n"
  "the whole group is gone. Events are coalesced for --latency milliseconds\n"
  "(default 100) first, so a burst of changes restarts it once.\n"
  "\n"
  "When COMMAND exits by itself, hachiko waits for the next change to start\n"
  "it again; with --restart-on-exit it starts it again at once (after one\n"
  "second if it ran for less than that).\n"
  "\n"
  "A restarted COMMAND gets HACHIKO_EVENT_TYPE, HACHIKO_PATH,\n"
  "HACHIKO_DEST_PATH, HACHIKO_IS_DIRECTORY, HACHIKO_IS_SYNTHETIC (the last\n"
  "event before the restart) and HACHIKO_EVENT_COUNT (the events since the\n"
  "previous start), as with \"hachiko exec\"; the first start gets none.\n"
  "COMMAND runs with standard input from /dev/null; with --stdin, it gets\n"
  "hachiko's (on a terminal, its process group is the foreground one while\n"
  "it runs, and a COMMAND ended by Ctrl-C ends hachiko too).\n"
  "\n"
  "hachiko is a child subreaper: every process COMMAND leaves behind, in its\n"
  "group or not (a daemon after setsid), is reaped by hachiko when it ends,\n"
  "so none is left a zombie.\n"
  "\n"
  "SIGINT and SIGTERM are forwarded to COMMAND's process group (SIGKILL\n"
  "follows after --kill-after seconds, or at a second signal), and hachiko\n"
  "exits with COMMAND's status: its exit status, or 128 + the signal that\n"
  "killed it. If COMMAND was not running, the status is 130 or 143.\n"
  "\n"
  "Example: hachiko restart -p '*.py' . -- python3 -m http.server\n"
  "\n"
  "Exit status: COMMAND's after SIGINT or SIGTERM, 2 for a usage error\n"
  "(including a COMMAND that cannot be found), 3 when a PATH cannot be\n"
  "watched or every PATH was deleted.";

static void launch (RestartState *self);

/* --- reaping adopted orphans ---------------------------------------------
 *
 * As the subreaper, hachiko adopts every orphan of COMMAND, daemons that
 * left its group included, and must reap them when they end. A thread
 * waits for any child to end, without reaping it (WNOWAIT), and reaps it
 * unless it is a leader GSubprocess waits for (GLib reaps that one, and
 * must get its status). A leader is registered under the same lock it is
 * spawned under, so the thread never takes one for an orphan. */

static GMutex      reaper_mutex;
static GCond       reaper_cond;
static GHashTable *reaper_leaders;     /* pids GLib reaps */
static gboolean    reaper_spawned;     /* a child was spawned since ECHILD */

static gpointer
reaper_thread (gpointer data)
{
  for (;;)
    {
      siginfo_t info = { 0 };
      gboolean ours;

      if (waitid (P_ALL, 0, &info, WEXITED | WNOWAIT) != 0)
        {
          if (errno == EINTR)
            continue;
          /* No child at all: wait for the next spawn. */
          g_mutex_lock (&reaper_mutex);
          while (!reaper_spawned)
            g_cond_wait (&reaper_cond, &reaper_mutex);
          reaper_spawned = FALSE;
          g_mutex_unlock (&reaper_mutex);
          continue;
        }

      g_mutex_lock (&reaper_mutex);
      ours = !g_hash_table_contains (reaper_leaders, GINT_TO_POINTER (info.si_pid));
      if (ours)
        waitpid (info.si_pid, NULL, WNOHANG);
      g_mutex_unlock (&reaper_mutex);

      /* A leader's zombie stays until GLib reaps it, very soon. */
      if (!ours)
        g_usleep (5 * 1000);
    }

  return NULL;
}

static void
reaper_start (void)
{
  reaper_leaders = g_hash_table_new (NULL, NULL);
  g_thread_unref (g_thread_new ("hachiko-reaper", reaper_thread, NULL));
}

static GSubprocess *
spawn_leader (RestartState  *self,
              HkToolRun     *run,
              GError       **error)
{
  GSubprocess *child;

  g_mutex_lock (&reaper_mutex);
  child = hk_tool_spawn_full (self->command, run, NULL, 0,
                              self->own_terminal ? HK_TOOL_STDIN_TERMINAL :
                              self->pass_stdin ? HK_TOOL_STDIN_INHERIT : HK_TOOL_STDIN_NULL,
                              error);
  if (child != NULL)
    g_hash_table_add (reaper_leaders, GINT_TO_POINTER (hk_tool_child_pid (child)));
  reaper_spawned = TRUE;
  g_cond_signal (&reaper_cond);
  g_mutex_unlock (&reaper_mutex);

  return child;
}

static void
forget_leader (GPid pid)
{
  g_mutex_lock (&reaper_mutex);
  g_hash_table_remove (reaper_leaders, GINT_TO_POINTER (pid));
  g_mutex_unlock (&reaper_mutex);
}

/* --stdin on a terminal: the foreground process group gets the input. */
static void
give_terminal (RestartState *self,
               GPid          pgid)
{
  if (self->own_terminal)
    tcsetpgrp (STDIN_FILENO, pgid > 0 ? pgid : getpgrp ());
}

/* Reaps orphaned members of the group, which came to us as the subreaper.
 * Only once the leader is reaped: GSubprocess must get its status. */
static void
reap_group (RestartState *self)
{
  if (self->child != NULL || self->pgid <= 0)
    return;

  while (waitpid (-self->pgid, NULL, WNOHANG) > 0)
    ;
}

static gboolean
group_alive (RestartState *self)
{
  reap_group (self);

  return hk_tool_signal_group (self->pgid, 0);
}

static gboolean
is_running (RestartState *self)
{
  return self->child != NULL || group_alive (self);
}

static void
clear_relaunch_delay (RestartState *self)
{
  if (self->relaunch_delay == NULL)
    return;

  g_source_destroy (self->relaunch_delay);
  g_clear_pointer (&self->relaunch_delay, g_source_unref);
}

static void
finish_stop (RestartState *self)
{
  self->stopping = FALSE;
  self->pgid = 0;
  if (self->stop_poll != NULL)
    {
      g_source_destroy (self->stop_poll);
      g_clear_pointer (&self->stop_poll, g_source_unref);
    }

  if (!self->quitting)
    {
      launch (self);
      return;
    }

  if (self->use_child_status)
    self->exit_code = self->child_status;
  hk_tool_watch_quit (self->watch, self->exit_code);
}

/* Polled while stopping. */
static gboolean
check_stop (gpointer data)
{
  RestartState *self = data;
  gint64 now = g_get_monotonic_time ();

  if (self->child == NULL && !group_alive (self))
    {
      finish_stop (self);
      return G_SOURCE_REMOVE;
    }

  if (!self->killed && now >= self->kill_deadline)
    {
      hk_tool_kill_group_after (&self->options, self->command[0], self->kill_after, self->pgid);
      self->killed = TRUE;
    }
  else if (self->killed && self->child == NULL &&
           now >= self->kill_deadline + AFTER_KILL_GRACE_US)
    {
      finish_stop (self);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static void
begin_stop (RestartState *self,
            int           signum)
{
  if (self->stopping)
    {
      hk_tool_signal_group (self->pgid, signum);
      return;
    }

  self->stopping = TRUE;
  self->killed = signum == SIGKILL;
  self->kill_deadline = g_get_monotonic_time () + (gint64) (self->kill_after * G_USEC_PER_SEC);
  hk_tool_stop_group (self->pgid, signum);

  if (check_stop (self) == G_SOURCE_REMOVE)
    return;

  self->stop_poll = g_timeout_source_new (STOP_POLL_MS);
  g_source_set_callback (self->stop_poll, check_stop, self, NULL);
  g_source_set_static_name (self->stop_poll, "[hachiko] stopping");
  g_source_attach (self->stop_poll, NULL);
}

/* Restarts COMMAND: stops what runs first, if anything does. */
static void
request_restart (RestartState *self)
{
  clear_relaunch_delay (self);
  if (self->quitting || self->stopping)
    return;

  if (is_running (self))
    begin_stop (self, self->signum);
  else
    launch (self);
}

static gboolean
on_relaunch_delay (gpointer data)
{
  RestartState *self = data;

  g_clear_pointer (&self->relaunch_delay, g_source_unref);
  request_restart (self);

  return G_SOURCE_REMOVE;
}

static void
schedule_relaunch (RestartState *self)
{
  gint64 ran = g_get_monotonic_time () - self->started_at;

  if (ran >= MIN_RUN_US)
    {
      request_restart (self);
      return;
    }

  self->relaunch_delay = g_timeout_source_new ((MIN_RUN_US - ran) / 1000 + 1);
  g_source_set_callback (self->relaunch_delay, on_relaunch_delay, self, NULL);
  g_source_set_static_name (self->relaunch_delay, "[hachiko] relaunch delay");
  g_source_attach (self->relaunch_delay, NULL);
}

static void
on_leader_exited (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  RestartState *self = data;
  GSubprocess *child = G_SUBPROCESS (source);
  g_autofree char *status = NULL;

  g_subprocess_wait_finish (child, result, NULL);
  forget_leader (GPOINTER_TO_INT (g_object_get_data (G_OBJECT (child), "hk-tool-pid")));
  if (child != self->child)
    return;

  give_terminal (self, 0);
  self->child_status = hk_tool_child_status (child);
  status = hk_tool_describe_status (child);
  g_clear_object (&self->child);

  if (self->stopping)
    {
      check_stop (self);
      return;
    }

  /* Ctrl-C on the terminal COMMAND had: meant for hachiko too. */
  if (self->own_terminal && self->child_status == HK_TOOL_EXIT_SIGNALED (SIGINT))
    {
      self->quitting = TRUE;
      self->exit_code = self->child_status;
      hk_tool_watch_stop (self->watch);
      if (!group_alive (self))
        hk_tool_watch_quit (self->watch, self->exit_code);
      else
        begin_stop (self, SIGTERM);
      return;
    }

  /* It ended by itself. */
  if (self->restart_on_exit)
    {
      hk_tool_message (&self->options, "“%s” %s; restarting", self->command[0], status);
      schedule_relaunch (self);
    }
  else
    hk_tool_message (&self->options, "“%s” %s; waiting for changes", self->command[0], status);
}

static void
launch (RestartState *self)
{
  g_autoptr(HkToolRun) run = g_steal_pointer (&self->pending);
  g_autoptr(GError) error = NULL;

  g_assert (self->child == NULL);

  self->child = spawn_leader (self, run, &error);
  if (self->child == NULL)
    {
      hk_tool_message (&self->options, "cannot run “%s”: %s; waiting for changes",
                       self->command[0], error->message);
      return;
    }

  self->pgid = hk_tool_child_pid (self->child);
  g_object_set_data (G_OBJECT (self->child), "hk-tool-pid", GINT_TO_POINTER (self->pgid));
  self->started_at = g_get_monotonic_time ();
  g_subprocess_wait_async (self->child, NULL, on_leader_exited, self);
}

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  RestartState *self = data;
  HkEvent *first = g_ptr_array_index (events, 0);

  if (self->quitting)
    return;

  if (self->pending == NULL)
    self->pending = hk_tool_run_new ();
  for (guint i = 0; i < events->len; i++)
    hk_tool_run_add (self->pending, g_ptr_array_index (events, i));

  if (!self->options.quiet && !self->stopping)
    {
      g_autoptr(GString) what = g_string_new (NULL);

      g_string_append_printf (what, "%s ", hk_tool_event_type_nick (first));
      hk_tool_append_text_path (what, hk_event_get_path (first), hk_event_get_is_directory (first));
      if (events->len > 1)
        g_string_append_printf (what, " and %u more", events->len - 1);
      fprintf (stderr, "hachiko: %s “%s” (%s)\n", is_running (self) ? "restarting" : "starting",
               self->command[0], what->str);
    }

  request_restart (self);
}

/* Stops COMMAND with @signum, then quits with COMMAND's status if
 * @use_child_status and it was running, else with @exit_code. */
static void
quit (RestartState *self,
      int           signum,
      gboolean      use_child_status,
      int           exit_code)
{
  self->quitting = TRUE;
  self->exit_code = exit_code;
  self->use_child_status = use_child_status && self->child != NULL;
  clear_relaunch_delay (self);
  hk_tool_watch_stop (self->watch);

  if (is_running (self))
    begin_stop (self, signum);
  else
    hk_tool_watch_quit (self->watch, self->exit_code);
}

static void
on_ready (const GError *error,
          gpointer      data)
{
  RestartState *self = data;

  if (error != NULL)
    {
      hk_tool_watch_quit (self->watch, hk_tool_exit_for_start_error (error));
      return;
    }

  launch (self);
}

static void
on_lost (gpointer data)
{
  RestartState *self = data;

  fprintf (stderr, "hachiko: no PATH is left to watch; stopping “%s”\n", self->command[0]);
  quit (self, self->signum, FALSE, HK_TOOL_EXIT_CANNOT_WATCH);
}

static void
handle_signal (int      signum,
               gpointer data)
{
  RestartState *self = data;

  /* A second signal: no more waiting. */
  if (self->quitting)
    {
      hk_tool_signal_group (self->pgid, SIGKILL);
      self->killed = TRUE;
      return;
    }

  quit (self, signum, TRUE, HK_TOOL_EXIT_SIGNALED (signum));
}

static gboolean
check_options (RestartState *self)
{
  return hk_tool_check_signal ("restart", self->signal_name, &self->signum) &&
         hk_tool_check_kill_after ("restart", self->kill_after);
}

static GOptionEntry *
restart_entries (RestartState *state)
{
  const GOptionEntry entries[] = {
    { "signal", 's', 0, G_OPTION_ARG_STRING, &state->signal_name,
      "Signal to stop COMMAND with (default TERM)", "SIGNAL" },
    { "kill-after", 'k', 0, G_OPTION_ARG_DOUBLE, &state->kill_after,
      "Send SIGKILL if COMMAND is still running SECONDS after the signal (default 10, at most 86400)",
      "SECONDS" },
    { "restart-on-exit", 0, 0, G_OPTION_ARG_NONE, &state->restart_on_exit,
      "Start COMMAND again when it exits by itself", NULL },
    { "stdin", 0, 0, G_OPTION_ARG_NONE, &state->pass_stdin,
      "Give COMMAND hachiko's standard input (default: /dev/null)", NULL },
    G_OPTION_ENTRY_NULL
  };

  return g_memdup2 (entries, sizeof entries);
}

const GOptionEntry *
hk_tool_restart_options (void)
{
  static RestartState unused;
  static GOptionEntry *entries;

  if (entries == NULL)
    entries = restart_entries (&unused);
  return entries;
}

int
hk_tool_restart (int    argc,
                 char **argv)
{
  RestartState state = { .kill_after = 10.0, .signum = SIGTERM };
  g_autofree GOptionEntry *entries = restart_entries (&state);
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_auto(GStrv) args = NULL;
  g_auto(GStrv) command = NULL;
  const HkToolHandlers handlers = {
    .ready = on_ready, .batch = on_batch, .lost = on_lost, .signal = handle_signal,
  };

  args = hk_tool_split_command (argc, argv, &command);
  context = hk_tool_option_context_new ("restart", "[PATH...] -- COMMAND [ARG...]",
                                        "Keep COMMAND running; restart it after changes under each PATH.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "restart", &args, &state.options, 100, &state.exit_code);
  if (watch == NULL)
    goto out;
  if (!check_options (&state) || !hk_tool_check_command ("restart", command))
    {
      state.exit_code = HK_TOOL_EXIT_USAGE;
      goto out;
    }

#ifdef __linux__
  /* Orphans of COMMAND come to us: the group's are seen gone at once by
   * reap_group(), and every one is reaped by the reaper thread. */
  prctl (PR_SET_CHILD_SUBREAPER, 1);
#endif
  reaper_start ();

  if (state.pass_stdin && isatty (STDIN_FILENO) && tcgetpgrp (STDIN_FILENO) == getpgrp ())
    {
      /* Handing the terminal over and back must not stop hachiko. */
      signal (SIGTTOU, SIG_IGN);
      state.own_terminal = TRUE;
    }

  state.command = command;
  state.watch = watch;

  hk_tool_watch_run (watch, &handlers, &state, &state.exit_code);
  clear_relaunch_delay (&state);
  g_clear_pointer (&state.pending, hk_tool_run_free);
  g_clear_object (&state.child);
  give_terminal (&state, 0);

out:
  g_free (state.signal_name);
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
