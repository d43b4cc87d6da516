/* hk-tool-log.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko log`: one line per event on stdout, as text or JSON Lines. */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <glib-unix.h>

#include "hk-tool-private.h"

typedef struct
{
  HkToolOptions  options;
  gboolean       json;
  GMainLoop     *loop;
  int            exit_code;
} LogState;

static const char description[] =
  "Prints one line per event to standard output:\n"
  "\n"
  "  TIME TYPE PATH [-> DEST] [(synthetic)]\n"
  "\n"
  "TIME is the local time (HH:MM:SS.mmm). TYPE is created, deleted, modified,\n"
  "moved, attribute-changed, closed, opened or closed-no-write. Paths are\n"
  "absolute; a directory's ends in \"/\". A path containing a space, a quote,\n"
  "a backslash, a control character or bytes that are not UTF-8 is printed\n"
  "in double quotes with C-style escapes: \\\" \\\\ \\n \\t \\r, \\xNN for one\n"
  "byte, \\uNNNN for one character. \"(synthetic)\" marks events inferred by\n"
  "a rescan rather than read from the kernel.\n"
  "\n"
  "With --json, each line is a JSON object with the fields type, path, dest\n"
  "(null unless moved), is_directory, synthetic and timestamp (seconds since\n"
  "the Unix epoch). A path that is not valid UTF-8 has U+FFFD in place of\n"
  "its bad bytes in path, and its exact bytes in path_bytes (base64); the\n"
  "same for dest and dest_bytes.\n"
  "\n"
  "\"ready\" is printed to standard error once every directory is watched;\n"
  "on a terminal, the number of directories watched so far is shown while\n"
  "a large tree is walked. Latency defaults to 0 (every event at once).\n"
  "\n"
  "Exit status: 130 after SIGINT, 143 after SIGTERM, 1 when writing standard\n"
  "output fails, 2 for a usage error, 3 when a PATH cannot be watched or\n"
  "every PATH was deleted.";

static void
append_time (GString *out,
             gint64   wall_us)
{
  time_t seconds = (time_t) (wall_us / G_USEC_PER_SEC);
  struct tm tm;

  localtime_r (&seconds, &tm);
  g_string_append_printf (out, "%02d:%02d:%02d.%03d",
                          tm.tm_hour, tm.tm_min, tm.tm_sec,
                          (int) (wall_us % G_USEC_PER_SEC) / 1000);
}

static void
append_text (GString *out,
             HkEvent *event,
             gint64   wall_us)
{
  gboolean is_dir = hk_event_get_is_directory (event);
  const char *dest = hk_event_get_dest_path (event);

  append_time (out, wall_us);
  g_string_append_printf (out, " %s ", hk_tool_event_type_nick (event));
  hk_tool_append_text_path (out, hk_event_get_path (event), is_dir);
  if (dest != NULL)
    {
      g_string_append (out, " -> ");
      hk_tool_append_text_path (out, dest, is_dir);
    }
  if (hk_event_get_is_synthetic (event))
    g_string_append (out, " (synthetic)");
  g_string_append_c (out, '\n');
}

static void
append_json (GString *out,
             HkEvent *event,
             gint64   wall_us)
{
  g_string_append (out, "{\"type\":");
  hk_tool_append_json_string (out, hk_tool_event_type_nick (event));
  g_string_append_c (out, ',');
  hk_tool_append_json_path (out, "path", hk_event_get_path (event));
  g_string_append_c (out, ',');
  hk_tool_append_json_path (out, "dest", hk_event_get_dest_path (event));
  g_string_append_printf (out, ",\"is_directory\":%s,\"synthetic\":%s,"
                          "\"timestamp\":%" G_GINT64_FORMAT ".%06d}\n",
                          hk_event_get_is_directory (event) ? "true" : "false",
                          hk_event_get_is_synthetic (event) ? "true" : "false",
                          wall_us / G_USEC_PER_SEC, (int) (wall_us % G_USEC_PER_SEC));
}

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  LogState *self = data;
  g_autoptr(GString) out = g_string_new (NULL);
  /* Event timestamps are monotonic; the wall clock is what people read. */
  gint64 offset = g_get_real_time () - g_get_monotonic_time ();

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);
      gint64 wall_us = hk_event_get_timestamp (event) + offset;

      if (self->json)
        append_json (out, event, wall_us);
      else
        append_text (out, event, wall_us);
    }

  /* One write and flush per batch, so that pipes see events promptly. */
  if (fwrite (out->str, 1, out->len, stdout) != out->len || fflush (stdout) != 0)
    {
      fprintf (stderr, "hachiko: cannot write to standard output: %s\n", g_strerror (errno));
      self->exit_code = HK_TOOL_EXIT_FAILURE;
      g_main_loop_quit (self->loop);
    }
}

static void
on_ready (const GError *error,
          gpointer      data)
{
  LogState *self = data;

  if (error == NULL)
    return;

  self->exit_code = hk_tool_exit_for_start_error (error);
  g_main_loop_quit (self->loop);
}

static void
on_lost (gpointer data)
{
  LogState *self = data;

  fprintf (stderr, "hachiko: no PATH is left to watch; exiting\n");
  self->exit_code = HK_TOOL_EXIT_CANNOT_WATCH;
  g_main_loop_quit (self->loop);
}

static gboolean
on_sigint (gpointer data)
{
  LogState *self = data;

  self->exit_code = HK_TOOL_EXIT_SIGNALED (SIGINT);
  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  LogState *self = data;

  self->exit_code = HK_TOOL_EXIT_SIGNALED (SIGTERM);
  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

int
hk_tool_log (int    argc,
             char **argv)
{
  LogState state = { 0 };
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &state.json,
      "Print JSON Lines instead of text", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  guint sigint_id, sigterm_id;

  context = hk_tool_option_context_new ("log", "[PATH...]",
                                        "Print one line per file system event under each PATH.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "log", &args, &state.options, 0, &state.exit_code);
  if (watch == NULL)
    goto out;

  state.loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_sigint, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, &state);

  hk_tool_watch_start (watch, on_ready, on_batch, on_lost, &state);
  g_main_loop_run (state.loop);

  hk_tool_watch_stop (watch);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_main_loop_unref (state.loop);

out:
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
