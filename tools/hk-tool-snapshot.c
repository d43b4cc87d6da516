/* hk-tool-snapshot.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko snapshot save DIR FILE` and `hachiko snapshot diff FILE [DIR]`:
 * what changed in a tree while nothing was watching it. */

#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "hk-tool-private.h"

typedef struct
{
  HkToolOptions options;
  gboolean      json;
} SnapshotState;

static const char description[] =
  "Commands:\n"
  "  save DIR FILE    record every entry under DIR (names, kinds, inodes,\n"
  "                   sizes, times) in FILE, replacing it atomically\n"
  "  diff FILE [DIR]  print what changed under DIR (default: the directory\n"
  "                   FILE was taken of) since FILE was saved\n"
  "\n"
  "diff prints one line per change, in the format of \"hachiko log\" without\n"
  "the time:\n"
  "\n"
  "  TYPE PATH [-> DEST]\n"
  "\n"
  "TYPE is created, deleted, modified, moved or attribute-changed. Deletions\n"
  "come first (contents before their directory), then the rest in the tree's\n"
  "order (a directory before its contents). A renamed file or directory is\n"
  "one \"moved\" line (found by inode); a moved directory's contents are not\n"
  "repeated. With --json, each line is a JSON object as \"hachiko log --json\"\n"
  "prints, with synthetic true and the time of the new snapshot.\n"
  "\n"
  "The filter options (--pattern, --ignore, ...) apply to the walk; give diff\n"
  "the same ones as save. Directories named .git, .hg and .svn are left out\n"
  "unless --no-default-ignores is given.\n"
  "\n"
  "Exit status: 0 success, 1 failure (FILE or DIR unreadable, FILE corrupt),\n"
  "2 usage error.";

static void
append_text (GString *out,
             HkEvent *event)
{
  gboolean is_dir = hk_event_get_is_directory (event);
  const char *dest = hk_event_get_dest_path (event);

  g_string_append_printf (out, "%s ", hk_tool_event_type_nick (event));
  hk_tool_append_text_path (out, hk_event_get_path (event), is_dir);
  if (dest != NULL)
    {
      g_string_append (out, " -> ");
      hk_tool_append_text_path (out, dest, is_dir);
    }
  g_string_append_c (out, '\n');
}

static HkSnapshot *
take (SnapshotState  *state,
      const char     *dir,
      HkFilter      **filter_out,
      GError        **error)
{
  g_autoptr(GFile) root = g_file_new_for_commandline_arg (dir);
  g_autoptr(HkFilter) filter = hk_tool_options_build_filter (&state->options, root, error);
  HkSnapshot *snapshot;

  if (filter == NULL)
    return NULL;
  snapshot = hk_snapshot_take (root, filter, NULL, error);
  if (filter_out != NULL)
    *filter_out = g_steal_pointer (&filter);
  return snapshot;
}

static int
run_save (SnapshotState  *state,
          char          **args)
{
  g_autoptr(HkSnapshot) snapshot = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;

  if (g_strv_length (args) != 3)
    {
      hk_tool_usage_error ("snapshot", "save takes a DIR and a FILE");
      return HK_TOOL_EXIT_USAGE;
    }

  snapshot = take (state, args[1], NULL, &error);
  file = g_file_new_for_commandline_arg (args[2]);
  if (snapshot == NULL || !hk_snapshot_save (snapshot, file, NULL, &error))
    {
      hk_tool_report_error (error);
      return error->domain == G_REGEX_ERROR ||
             g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)
             ? HK_TOOL_EXIT_USAGE : HK_TOOL_EXIT_FAILURE;
    }

  hk_tool_message (&state->options, "saved %u entries of %s", hk_snapshot_get_n_entries (snapshot),
                   args[1]);
  return HK_TOOL_EXIT_OK;
}

static int
run_diff (SnapshotState  *state,
          char          **args)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autoptr(HkSnapshot) after = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HkFilter) filter = NULL;
  g_autoptr(HkFilter) selection = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *root = NULL;
  guint n_args = g_strv_length (args);

  if (n_args != 2 && n_args != 3)
    {
      hk_tool_usage_error ("snapshot", "diff takes a FILE and an optional DIR");
      return HK_TOOL_EXIT_USAGE;
    }

  file = g_file_new_for_commandline_arg (args[1]);
  before = hk_snapshot_load (file, NULL, &error);
  if (before == NULL)
    {
      hk_tool_report_error (error);
      return HK_TOOL_EXIT_FAILURE;
    }

  dir = n_args == 3 ? g_strdup (args[2]) : g_file_get_path (hk_snapshot_get_root (before));
  after = take (state, dir, &filter, &error);
  if (after == NULL)
    {
      hk_tool_report_error (error);
      return HK_TOOL_EXIT_FAILURE;
    }

  /* Include patterns select what is printed, as for `log`. */
  selection = hk_tool_options_build_selection (&state->options, &error);
  if (selection == NULL)
    {
      hk_tool_report_error (error);
      return HK_TOOL_EXIT_FAILURE;
    }

  /* A snapshot keeps every directory that is not ignored (their contents
   * may match); what is printed follows the filter, as `log` does. */
  root = g_file_get_path (hk_snapshot_get_root (after));
  events = hk_snapshot_diff (before, after);
  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);

      if (!hk_tool_options_accepts (&state->options, event) ||
          !hk_tool_filter_accepts (filter, root, event) ||
          !hk_tool_filter_accepts (selection, root, event))
        continue;
      if (state->json)
        hk_tool_append_json_event (out, event, hk_snapshot_get_taken_at (after));
      else
        append_text (out, event);
    }

  if (fwrite (out->str, 1, out->len, stdout) != out->len || fflush (stdout) != 0)
    {
      fprintf (stderr, "hachiko: cannot write to standard output: %s\n", g_strerror (errno));
      return HK_TOOL_EXIT_FAILURE;
    }

  return HK_TOOL_EXIT_OK;
}

int
hk_tool_snapshot (int    argc,
                  char **argv)
{
  SnapshotState state = { 0 };
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &state.json,
      "diff: print JSON Lines instead of text", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  int exit_code = HK_TOOL_EXIT_USAGE;

  context = hk_tool_option_context_new ("snapshot", "save DIR FILE | diff FILE [DIR]",
                                        "Save what a directory tree holds; later, tell what changed.",
                                        description, entries, &state.options);
  if (!hk_tool_parse (context, "snapshot", &args, &state.options, 0))
    goto out;

  if (args[1] != NULL && g_str_equal (args[1], "save"))
    exit_code = run_save (&state, args + 1);
  else if (args[1] != NULL && g_str_equal (args[1], "diff"))
    exit_code = run_diff (&state, args + 1);
  else if (args[1] == NULL)
    hk_tool_usage_error ("snapshot", "missing “save” or “diff”");
  else
    hk_tool_usage_error ("snapshot", "unknown “%s” (expected save or diff)", args[1]);

out:
  hk_tool_options_clear (&state.options);
  return exit_code;
}
