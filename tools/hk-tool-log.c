/* hk-tool-log.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko log`: one line per event on stdout, as text or JSON Lines. */

#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "hk-tool-private.h"

typedef struct
{
  HkToolOptions  options;
  gboolean       json;
  char          *format_template;
  HkToolFormat  *format;
  char          *since_file;
  char          *save_file;
  HkToolWatch   *watch;
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
  "With --format, each line is TEMPLATE with {type}, {path}, {dest}, {time},\n"
  "{timestamp} (seconds since the epoch), {is-dir} and {synthetic} (1 or 0)\n"
  "replaced; paths are escaped as in the text format; \\n, \\t, {{ and }}\n"
  "stand for a newline, a tab and braces. Example: --format '{type} {path}'.\n"
  "\n"
  "\"ready\" is printed to standard error once every directory is watched\n"
  "(with a fanotify filesystem mark: once the mark is placed, the walk going\n"
  "on behind it, except with --save);\n"
  "on a terminal, the number of directories watched so far is shown while\n"
  "a large tree is walked. Latency defaults to 0 (every event at once).\n"
  "\n"
  "Exit status: 130 after SIGINT, 143 after SIGTERM, 1 when writing standard\n"
  "output fails, 2 for a usage error, 3 when a PATH cannot be watched or\n"
  "every PATH was deleted.";

static void
on_batch (GPtrArray *events,
          gpointer   data)
{
  LogState *self = data;
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < events->len; i++)
    hk_tool_format_append (self->format, out, g_ptr_array_index (events, i));

  /* One write and flush per batch, so that pipes see events promptly. */
  if (fwrite (out->str, 1, out->len, stdout) != out->len || fflush (stdout) != 0)
    {
      fprintf (stderr, "hachiko: cannot write to standard output: %s\n", g_strerror (errno));
      hk_tool_watch_quit (self->watch, HK_TOOL_EXIT_FAILURE);
    }
}

/* --save: what the watchdog knows as it exits. */
static void
save_snapshot (gpointer data)
{
  LogState *state = data;
  HkWatchdog *watchdog = g_ptr_array_index (hk_tool_watch_get_watchdogs (state->watch), 0);
  g_autoptr(HkSnapshot) snapshot = hk_watchdog_dup_snapshot (watchdog);
  g_autoptr(GFile) file = g_file_new_for_commandline_arg (state->save_file);
  g_autoptr(GError) error = NULL;

  if (snapshot == NULL)
    {
      g_autoptr(GError) gone = g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                            "Not saving “%s”: the tree is no longer watched",
                                            state->save_file);

      hk_tool_report_error (gone);
      if (state->exit_code == HK_TOOL_EXIT_OK)
        state->exit_code = HK_TOOL_EXIT_FAILURE;
      return;
    }
  if (!hk_snapshot_save (snapshot, file, NULL, &error))
    {
      hk_tool_report_error (error);
      if (state->exit_code == HK_TOOL_EXIT_OK)
        state->exit_code = HK_TOOL_EXIT_FAILURE;
    }
}

static GOptionEntry *
log_entries (LogState *state)
{
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &state->json,
      "Print JSON Lines instead of text", NULL },
    { "format", 0, 0, G_OPTION_ARG_STRING, &state->format_template,
      "Print each event as TEMPLATE ({type}, {path}, {dest}, {time}, ...)", "TEMPLATE" },
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &state->since_file,
      "First print what changed since the snapshot in FILE (hachiko snapshot save, or --save)", "FILE" },
    { "save", 0, 0, G_OPTION_ARG_FILENAME, &state->save_file,
      "On exit, save the tree's snapshot to FILE, for a later --since", "FILE" },
    G_OPTION_ENTRY_NULL
  };

  return g_memdup2 (entries, sizeof entries);
}

const GOptionEntry *
hk_tool_log_options (void)
{
  static LogState unused;
  static GOptionEntry *entries;

  if (entries == NULL)
    entries = log_entries (&unused);
  return entries;
}

int
hk_tool_log (int    argc,
             char **argv)
{
  LogState state = { 0 };
  g_autofree GOptionEntry *entries = log_entries (&state);
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HkToolWatch) watch = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  HkToolHandlers handlers = { .batch = on_batch };

  context = hk_tool_option_context_new ("log", "[PATH...]",
                                        "Print one line per file system event under each PATH.",
                                        description, entries, &state.options);
  watch = hk_tool_prepare (context, "log", &args, &state.options, 0, &state.exit_code);
  if (watch == NULL)
    goto out;
  state.format = hk_tool_format_new (state.json, state.format_template, &error);
  if (state.format == NULL)
    {
      hk_tool_usage_error ("log", "%s", error->message);
      state.exit_code = HK_TOOL_EXIT_USAGE;
      goto out;
    }

  if ((state.since_file != NULL || state.save_file != NULL) &&
      hk_tool_watch_get_watchdogs (watch)->len != 1)
    {
      hk_tool_usage_error ("log", "--since and --save take exactly one PATH");
      state.exit_code = HK_TOOL_EXIT_USAGE;
      goto out;
    }
  if (state.since_file != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (state.since_file);
      g_autoptr(HkSnapshot) since = hk_snapshot_load (file, NULL, &error);

      if (since == NULL)
        {
          hk_tool_report_error (error);
          state.exit_code = HK_TOOL_EXIT_FAILURE;
          goto out;
        }
      hk_watchdog_set_since (g_ptr_array_index (hk_tool_watch_get_watchdogs (watch), 0), since);
    }

  /* --save writes the whole tree: "ready" waits for the walk (a fanotify
   * start returns before it otherwise). */
  if (state.save_file != NULL)
    hk_watchdog_set_wait_for_walk (g_ptr_array_index (hk_tool_watch_get_watchdogs (watch), 0), TRUE);

  if (state.save_file != NULL)
    handlers.done = save_snapshot;
  state.watch = watch;
  hk_tool_watch_run (watch, &handlers, &state, &state.exit_code);

out:
  g_clear_pointer (&state.format, hk_tool_format_free);
  g_free (state.format_template);
  g_free (state.since_file);
  g_free (state.save_file);
  hk_tool_options_clear (&state.options);
  return state.exit_code;
}
