/* hk-tool-exec.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko exec`: runs COMMAND after changes, one run at a time. */

#include "config.h"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>

#include "hk-tool-private.h"

/* With --per-event --queue, events beyond this wait nowhere: dropped, with
 * a warning, rather than queued without bound. */
#define MAX_QUEUED_EVENTS 100000

typedef struct
{
  HkToolOptions  options;
  gboolean       per_event;
  gboolean       once_per_batch;
  gboolean       queue;
  gboolean       drop;
  char         **command;

  GMainLoop     *loop;
  HkToolWatch   *watch;
  GSubprocess   *current;
  GPid           current_pgid;
  HkToolRun     *pending_batch;    /* once per batch: the next run */
  GQueue         pending_events;   /* per event: HkEvent, in order */
  gboolean       warned_queue_full;
  gboolean       quitting;
  int            exit_code;
} ExecState;

static const char description[] =
  "Runs COMMAND after changes under the PATHs (the current directory by\n"
  "default), never through a shell. Events are first coalesced for\n"
  "--latency milliseconds (default 100).\n"
  "\n"
  "--once-per-batch (the default) runs COMMAND once per batch of events;\n"
  "--per-event runs it once per event, in order. One run at a time: changes\n"
  "that come while COMMAND runs make it run again when it is done (--queue,\n"
  "the default), or are ignored (--drop).\n"
  "\n"
  "Each run gets environment variables describing its event (with\n"
  "--once-per-batch, the last event of the batch):\n"
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
  "exactly {paths} becomes one argument per distinct path of the run. Other\n"
  "arguments are passed unchanged; nothing is ever split or given to a shell,\n"
  "so no file name can run anything.\n"
  "\n"
  "COMMAND runs in its own process group, standard input from /dev/null.\n"
  "SIGINT and SIGTERM are forwarded to it, and hachiko exits once it ends.\n"
  "\n"
  "Example: hachiko exec -p '*.c' -p '*.h' src -- make -C build\n"
  "\n"
  "Exit status: 130 after SIGINT, 143 after SIGTERM, 2 for a usage error\n"
  "(including a COMMAND that cannot be found), 3 when a PATH cannot be\n"
  "watched or every PATH was deleted.";

static void maybe_run (ExecState *self);

static void
quit_when_idle (ExecState *self,
                int        exit_code)
{
  self->quitting = TRUE;
  self->exit_code = exit_code;
  if (self->current == NULL)
    g_main_loop_quit (self->loop);
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

  if (self->quitting)
    g_main_loop_quit (self->loop);
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

static void
maybe_run (ExecState *self)
{
  while (self->current == NULL && !self->quitting)
    {
      g_autoptr(HkToolRun) run = take_next_run (self);
      g_autoptr(GError) error = NULL;

      if (run == NULL)
        return;

      self->current = hk_tool_spawn (self->command, run, TRUE, &error);
      if (self->current == NULL)
        {
          hk_tool_message (&self->options, "cannot run “%s”: %s", self->command[0], error->message);
          continue;
        }

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

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  ExecState *self = data;

  if (self->quitting)
    return;
  if (self->current != NULL && self->drop)
    return;

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
    quit_when_idle (self, hk_tool_exit_for_start_error (error));
}

static void
on_lost (gpointer data)
{
  ExecState *self = data;

  fprintf (stderr, "hachiko: no PATH is left to watch; exiting\n");
  quit_when_idle (self, HK_TOOL_EXIT_CANNOT_WATCH);
}

static void
handle_signal (ExecState *self,
               int        signum)
{
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

static gboolean
on_sigint (gpointer data)
{
  handle_signal (data, SIGINT);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  handle_signal (data, SIGTERM);
  return G_SOURCE_CONTINUE;
}

static gboolean
check_modes (ExecState *self)
{
  if (self->per_event && self->once_per_batch)
    {
      hk_tool_usage_error ("exec", "--per-event and --once-per-batch cannot be used together");
      return FALSE;
    }
  if (self->queue && self->drop)
    {
      hk_tool_usage_error ("exec", "--queue and --drop cannot be used together");
      return FALSE;
    }

  return TRUE;
}

int
hk_tool_exec (int    argc,
              char **argv)
{
  ExecState state = { 0 };
  const GOptionEntry entries[] = {
    { "once-per-batch", 0, 0, G_OPTION_ARG_NONE, &state.once_per_batch,
      "Run COMMAND once per batch of events (default)", NULL },
    { "per-event", 0, 0, G_OPTION_ARG_NONE, &state.per_event,
      "Run COMMAND once per event", NULL },
    { "queue", 0, 0, G_OPTION_ARG_NONE, &state.queue,
      "Run again after the current run if changes came meanwhile (default)", NULL },
    { "drop", 0, 0, G_OPTION_ARG_NONE, &state.drop,
      "Ignore changes while COMMAND runs", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_auto(GStrv) args = NULL;
  g_auto(GStrv) command = NULL;
  guint sigint_id, sigterm_id;

  args = hk_tool_split_command (argc, argv, &command);
  context = hk_tool_option_context_new ("exec", "[PATH...] -- COMMAND [ARG...]",
                                        "Run COMMAND after changes under each PATH.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "exec", &args, &state.options, 100, &state.exit_code);
  if (watch == NULL)
    goto out;
  if (!check_modes (&state) || !hk_tool_check_command ("exec", command))
    {
      state.exit_code = HK_TOOL_EXIT_USAGE;
      goto out;
    }

  state.command = command;
  state.watch = watch;
  state.loop = g_main_loop_new (NULL, FALSE);
  g_queue_init (&state.pending_events);
  sigint_id = g_unix_signal_add (SIGINT, on_sigint, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, &state);

  hk_tool_watch_start (watch, on_ready, on_batch, on_lost, &state);
  g_main_loop_run (state.loop);

  hk_tool_watch_stop (watch);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_queue_clear_full (&state.pending_events, (GDestroyNotify) hk_event_unref);
  g_clear_pointer (&state.pending_batch, hk_tool_run_free);
  g_main_loop_unref (state.loop);

out:
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
