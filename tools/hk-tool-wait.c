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
#include <stdio.h>

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
  HkToolWatch   *watch;
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
      hk_tool_watch_quit (self->watch, HK_TOOL_EXIT_FAILURE);
      return;
    }

  if (self->seen >= self->count)
    hk_tool_watch_quit (self->watch, HK_TOOL_EXIT_OK);
}

static gboolean
on_timeout (gpointer data)
{
  WaitState *self = data;

  self->timed_out = TRUE;
  hk_tool_watch_quit (self->watch, HK_TOOL_EXIT_FAILURE);

  return G_SOURCE_REMOVE;
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
  const HkToolHandlers handlers = { .batch = on_batch };
  guint timeout_id = 0;

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
  state.watch = watch;

  /* From the start, not from "ready": a script's deadline is wall time. */
  if (state.timeout >= 0)
    timeout_id = g_timeout_add ((guint) (state.timeout * 1000), on_timeout, &state);
  hk_tool_watch_run (watch, &handlers, &state, &state.exit_code);
  if (timeout_id != 0 && !state.timed_out)
    g_source_remove (timeout_id);

out:
  g_clear_pointer (&state.format, hk_tool_format_free);
  g_free (state.format_template);
  g_free (state.timeout_text);
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
