/* hk-tool-wait.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko wait`: blocks until a matching event (or --count of them),
 * prints it, and exits: for shell loops such as
 * `while hachiko wait src; do make; done`. */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>

#include "hk-tool-private.h"

typedef struct
{
  HkToolOptions  options;
  gboolean       json;
  char          *format_template;
  int            count;
  char          *timeout_text;
  double         timeout;       /* seconds; < 0: none */
  HkToolFormat  *format;
  int            seen;
  gboolean       timed_out;
  GMainLoop     *loop;
  int            exit_code;
} WaitState;

static const char description[] =
  "Waits until an event under the PATHs (the current directory by default)\n"
  "passes the options, prints it as \"hachiko log\" would (text, --json or\n"
  "--format), and exits 0. With --count N, waits for N events and prints\n"
  "each as it comes. With --timeout, gives up after SECONDS and exits 1\n"
  "(having printed the events seen so far, if any).\n"
  "\n"
  "Events are not coalesced (latency 0) unless --latency is given. The\n"
  "watch starts when hachiko does: a change made before \"ready\" is\n"
  "printed on standard error may be missed.\n"
  "\n"
  "Example: while hachiko wait -q -p '*.c' src; do make; done\n"
  "\n"
  "Exit status: 0 after the events, 1 on timeout, 2 for a usage error, 3\n"
  "when a PATH cannot be watched or every PATH was deleted, 130 and 143\n"
  "after SIGINT and SIGTERM.";

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  WaitState *self = data;
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < events->len && self->seen < self->count; i++, self->seen++)
    hk_tool_format_append (self->format, out, g_ptr_array_index (events, i));

  if (fwrite (out->str, 1, out->len, stdout) != out->len || fflush (stdout) != 0)
    {
      fprintf (stderr, "hachiko: cannot write to standard output: %s\n", g_strerror (errno));
      self->exit_code = HK_TOOL_EXIT_FAILURE;
      g_main_loop_quit (self->loop);
      return;
    }

  if (self->seen >= self->count)
    {
      self->exit_code = HK_TOOL_EXIT_OK;
      g_main_loop_quit (self->loop);
    }
}

static gboolean
on_timeout (gpointer data)
{
  WaitState *self = data;

  self->timed_out = TRUE;
  self->exit_code = HK_TOOL_EXIT_FAILURE;
  g_main_loop_quit (self->loop);

  return G_SOURCE_REMOVE;
}

static void
on_ready (const GError *error,
          gpointer      data)
{
  WaitState *self = data;

  if (error == NULL)
    return;

  self->exit_code = hk_tool_exit_for_start_error (error);
  g_main_loop_quit (self->loop);
}

static void
on_lost (gpointer data)
{
  WaitState *self = data;

  fprintf (stderr, "hachiko: no PATH is left to watch; exiting\n");
  self->exit_code = HK_TOOL_EXIT_CANNOT_WATCH;
  g_main_loop_quit (self->loop);
}

static gboolean
on_sigint (gpointer data)
{
  WaitState *self = data;

  self->exit_code = HK_TOOL_EXIT_SIGNALED (SIGINT);
  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  WaitState *self = data;

  self->exit_code = HK_TOOL_EXIT_SIGNALED (SIGTERM);
  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

static GOptionEntry *
wait_entries (WaitState *state)
{
  const GOptionEntry entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT, &state->count,
      "Wait for N events (default 1)", "N" },
    { "timeout", 't', 0, G_OPTION_ARG_STRING, &state->timeout_text,
      "Give up after SECONDS and exit 1", "SECONDS" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &state->json,
      "Print JSON Lines instead of text", NULL },
    { "format", 0, 0, G_OPTION_ARG_STRING, &state->format_template,
      "Print each event as TEMPLATE, as with \"hachiko log\"", "TEMPLATE" },
    G_OPTION_ENTRY_NULL
  };

  return g_memdup2 (entries, sizeof entries);
}

const GOptionEntry *
hk_tool_wait_options (void)
{
  static WaitState unused;
  static GOptionEntry *entries;

  if (entries == NULL)
    entries = wait_entries (&unused);
  return entries;
}

int
hk_tool_wait (int    argc,
              char **argv)
{
  WaitState state = { .count = 1, .timeout = -1 };
  g_autofree GOptionEntry *entries = wait_entries (&state);
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  guint sigint_id, sigterm_id, timeout_id = 0;

  context = hk_tool_option_context_new ("wait", "[PATH...]",
                                        "Wait for a change under each PATH, print it, and exit.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "wait", &args, &state.options, 0, &state.exit_code);
  if (watch == NULL)
    goto out;

  state.exit_code = HK_TOOL_EXIT_USAGE;
  if (state.count < 1)
    {
      hk_tool_usage_error ("wait", "--count must be 1 or more, not %d", state.count);
      goto out;
    }
  if (state.timeout_text != NULL)
    {
      char *end = NULL;

      state.timeout = g_ascii_strtod (state.timeout_text, &end);
      if (end == state.timeout_text || *end != '\0' || !isfinite (state.timeout) ||
          state.timeout < 0 || state.timeout > G_MAXUINT / 1000)
        {
          hk_tool_usage_error ("wait", "--timeout must be from 0 to %u seconds, not “%s”",
                               G_MAXUINT / 1000, state.timeout_text);
          goto out;
        }
    }
  state.format = hk_tool_format_new (state.json, state.format_template, &error);
  if (state.format == NULL)
    {
      hk_tool_usage_error ("wait", "%s", error->message);
      goto out;
    }
  state.exit_code = HK_TOOL_EXIT_OK;

  state.loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_sigint, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, &state);
  /* From the start, not from "ready": a script's deadline is wall time. */
  if (state.timeout >= 0)
    timeout_id = g_timeout_add ((guint) (state.timeout * 1000), on_timeout, &state);

  hk_tool_watch_start (watch, on_ready, on_batch, on_lost, &state);
  g_main_loop_run (state.loop);

  hk_tool_watch_stop (watch);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (timeout_id != 0 && !state.timed_out)
    g_source_remove (timeout_id);
  g_main_loop_unref (state.loop);

out:
  g_clear_pointer (&state.format, hk_tool_format_free);
  g_free (state.format_template);
  g_free (state.timeout_text);
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
