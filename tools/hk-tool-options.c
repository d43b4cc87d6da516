/* hk-tool-options.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hk-tool-private.h"

#define LATENCY_UNSET G_MININT

/* Version-control metadata and editor temporaries nobody wants reported
 * (documented in hachiko(1), DEFAULT IGNORES); --no-default-ignores turns
 * this off. Kept conservative: each names a file no build reads. */
static const char * const default_ignores[] = {
  ".git/", ".hg/", ".svn/", ".bzr/", "_darcs/", "CVS/",   /* version control */
  ".*.sw?", ".*.sw??",                  /* vim swap files: .a.c.swp, .a.c.swo */
  "*~",                                 /* backups of vim, emacs, nano, ... */
  ".#*",                                /* emacs lock files */
  "#*#",                                /* emacs auto-save files */
  "4913",                               /* vim's check that it can write a directory */
  "*.kate-swp",                         /* kate */
  ".goutputstream-*",                   /* gedit and other GIO writers */
  "*___jb_tmp___", "*___jb_old___",     /* JetBrains safe write */
  "__pycache__/", "*.py[co]",           /* Python bytecode */
  ".DS_Store",
};

/* The ignore files read in every directory of a tree, in rank order. */
const char * const hk_tool_ignore_file_names[] = { ".gitignore", ".ignore", ".hgignore", NULL };

#define MAX_WARNINGS 20

static guint n_warnings;

void
hk_tool_options_clear (HkToolOptions *options)
{
  g_clear_pointer (&options->patterns, g_strfreev);
  g_clear_pointer (&options->ignore_patterns, g_strfreev);
  g_clear_pointer (&options->regexes, g_strfreev);
  g_clear_pointer (&options->ignore_regexes, g_strfreev);
  g_clear_pointer (&options->event_types, g_strfreev);
  g_clear_pointer (&options->backend_name, g_free);
  g_clear_pointer (&options->ignore_files, g_strfreev);
}

static GOptionEntry *
common_entries (HkToolOptions *o)
{
  const GOptionEntry common[] = {
    { "pattern", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &o->patterns,
      "Only report paths matching GLOB (repeatable; \";\" or \",\" separate several)", "GLOB" },
    { "ignore", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &o->ignore_patterns,
      "Ignore paths matching GLOB, and everything below (repeatable, as -p)", "GLOB" },
    { "regex", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->regexes,
      "Only report paths matching REGEX (repeatable)", "REGEX" },
    { "ignore-regex", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->ignore_regexes,
      "Ignore paths matching REGEX (repeatable)", "REGEX" },
    { "ignore-directories", 0, 0, G_OPTION_ARG_NONE, &o->ignore_directories,
      "Do not report events about directories", NULL },
    { "case-sensitive", 0, 0, G_OPTION_ARG_NONE, &o->case_sensitive,
      "Match globs and regexes case-sensitively (default: ignore case)", NULL },
    { "no-default-ignores", 0, 0, G_OPTION_ARG_NONE, &o->no_default_ignores,
      "Also watch .git, .hg, .svn and report editor temporaries", NULL },
    { "no-ignore-files", 0, 0, G_OPTION_ARG_NONE, &o->no_ignore_files,
      "Do not read .gitignore, .ignore, .hgignore and git's exclude files", NULL },
    { "ignore-file", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->ignore_files,
      "Read more ignore rules from FILE, gitignore syntax (repeatable)", "FILE" },
    { "event", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &o->event_types,
      "Only report these event types (comma-separated, repeatable)", "TYPE" },
    { "no-recursive", 0, 0, G_OPTION_ARG_NONE, &o->no_recursive,
      "Watch only PATH itself, not its subdirectories", NULL },
    { "follow-symlinks", 0, 0, G_OPTION_ARG_NONE, &o->follow_symlinks,
      "Follow symbolic links to directories", NULL },
    { "latency", 'l', 0, G_OPTION_ARG_INT, &o->latency,
      "Coalesce events for MS milliseconds", "MS" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &o->backend_name,
      "Watch with auto (default), inotify, fanotify, gio or poll", "BACKEND" },
    { "poll-interval", 0, 0, G_OPTION_ARG_INT, &o->poll_interval,
      "Poll every MS milliseconds where polling (default 1000)", "MS" },
    { "ready-before-walk", 0, 0, G_OPTION_ARG_NONE, &o->ready_before_walk,
      "Say ready once every change is seen, before the walk of a large tree ends (fanotify)", NULL },
    { "access-events", 0, 0, G_OPTION_ARG_NONE, &o->access_events,
      "Also report opened and closed-no-write", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet,
      "Print no progress, \"ready\" or status messages", NULL },
    G_OPTION_ENTRY_NULL
  };

  return g_memdup2 (common, sizeof common);
}

/* The options every watching subcommand takes, for completions. */
const GOptionEntry *
hk_tool_common_options (void)
{
  static HkToolOptions unused;
  static GOptionEntry *entries;

  if (entries == NULL)
    entries = common_entries (&unused);
  return entries;
}

GOptionContext *
hk_tool_option_context_new (const char         *command,
                            const char         *parameter_string,
                            const char         *summary,
                            const char         *description,
                            const GOptionEntry *entries,
                            HkToolOptions      *o)
{
  g_autofree GOptionEntry *common = common_entries (o);
  g_autofree char *prgname = g_strdup_printf ("hachiko %s", command);
  GOptionContext *context;

  o->latency = LATENCY_UNSET;

  /* The usage line reads "hachiko COMMAND [OPTION…] PARAMETERS". */
  g_set_prgname (prgname);
  context = g_option_context_new (parameter_string);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, description);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_main_entries (context, common, NULL);

  return context;
}

static gboolean
parse_event_types (HkToolOptions  *o,
                   GError        **error)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);

  o->event_mask = 0;
  for (guint i = 0; o->event_types != NULL && o->event_types[i] != NULL; i++)
    {
      g_auto(GStrv) names = g_strsplit (o->event_types[i], ",", -1);

      if (names[0] == NULL)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "Empty event type: give names separated by commas, "
                       "as in “-e created,deleted”");
          return FALSE;
        }

      for (guint j = 0; names[j] != NULL; j++)
        {
          const char *name = g_strstrip (names[j]);
          GEnumValue *value;

          if (*name == '\0')
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "Empty event type in “%s”: give names separated by commas, "
                           "as in “-e created,deleted”", o->event_types[i]);
              return FALSE;
            }
          value = g_enum_get_value_by_nick (klass, name);
          if (value == NULL)
            {
              g_autoptr(GString) known = g_string_new (NULL);

              for (guint k = 0; k < klass->n_values; k++)
                g_string_append_printf (known, "%s%s", k > 0 ? ", " : "",
                                        klass->values[k].value_nick);
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "Unknown event type “%s” (known: %s)", name, known->str);
              return FALSE;
            }
          o->event_mask |= 1u << value->value;
        }
    }

  /* Asking for an access event implies watching for them. */
  if (o->event_mask & ((1u << HK_EVENT_OPENED) | (1u << HK_EVENT_CLOSED_NO_WRITE)))
    o->access_events = TRUE;

  return TRUE;
}

static gboolean
parse_backend (HkToolOptions  *o,
               GError        **error)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_BACKEND_KIND);
  GEnumValue *value;

  if (o->poll_interval != 0 && o->poll_interval < 10)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--poll-interval must be at least 10 milliseconds, not %d",
                   o->poll_interval);
      return FALSE;
    }

  o->backend = HK_BACKEND_KIND_AUTO;
  if (o->backend_name == NULL)
    return TRUE;

  value = g_enum_get_value_by_nick (klass, o->backend_name);
  if (value == NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "Unknown backend “%s” (known: auto, inotify, fanotify, gio, poll)",
                   o->backend_name);
      return FALSE;
    }
  o->backend = value->value;

  return TRUE;
}

/* Splits each of @globs at unescaped ';' and ',' outside brackets, as
 * watchmedo users write them ("*.c;*.h"); "\;" and "\," stay literal. */
static gboolean
split_globs (char     ***globs,
             const char *option,
             GError    **error)
{
  g_autoptr(GStrvBuilder) out = g_strv_builder_new ();

  for (guint i = 0; *globs != NULL && (*globs)[i] != NULL; i++)
    {
      const char *glob = (*globs)[i];
      g_autoptr(GString) piece = g_string_new (NULL);
      gboolean in_class = FALSE;

      for (const char *p = glob;; p++)
        {
          if (*p == '\\' && (p[1] == ';' || p[1] == ','))
            {
              g_string_append_c (piece, *++p);
              continue;
            }
          if (*p == '\\' && p[1] != '\0')
            {
              g_string_append_c (piece, *p++);
              g_string_append_c (piece, *p);
              continue;
            }
          if (*p == '[')
            in_class = TRUE;
          else if (*p == ']')
            in_class = FALSE;

          if (*p == '\0' || (!in_class && (*p == ';' || *p == ',')))
            {
              if (piece->len == 0)
                {
                  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                               "Empty pattern in %s “%s”: separate globs with “;” or “,” "
                               "(as in “%s '*.c;*.h'”), or repeat %s", option, glob, option, option);
                  return FALSE;
                }
              g_strv_builder_add (out, piece->str);
              g_string_truncate (piece, 0);
              if (*p == '\0')
                break;
              continue;
            }
          g_string_append_c (piece, *p);
        }
    }

  g_strfreev (*globs);
  *globs = g_strv_builder_end (out);
  return TRUE;
}

/* GOption only says "Invalid byte sequence in conversion input" when the
 * value of a text option (a glob, a regex, a template) is not UTF-8: name
 * the option. */
static void
report_non_utf8_option (const char  *command,
                        char       **args)
{
  for (guint i = 1; args[i] != NULL && strcmp (args[i], "--") != 0; i++)
    {
      g_autofree char *option = NULL;

      if (g_utf8_validate (args[i], -1, NULL))
        continue;
      if (args[i][0] == '-')
        option = g_strndup (args[i], strcspn (args[i], "="));
      else if (args[i - 1][0] == '-')
        option = g_strdup (args[i - 1]);
      else
        continue;  /* a PATH: any bytes are fine */
      if (g_utf8_validate (option, -1, NULL))
        {
          hk_tool_usage_error (command, "The value of %s is not valid UTF-8: patterns, regexes "
                               "and templates are text (“?” and “*” match any byte of a name)",
                               option);
          return;
        }
    }
  hk_tool_usage_error (command, "An option or its value is not valid UTF-8");
}

gboolean
hk_tool_parse (GOptionContext   *context,
               const char       *command,
               char           ***args,
               HkToolOptions    *o,
               int               default_latency)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse_strv (context, args, &error))
    {
      if (error->domain == G_CONVERT_ERROR)
        report_non_utf8_option (command, *args);
      else
        hk_tool_usage_error (command, "%s", error->message);
      return FALSE;
    }

  if (o->latency == LATENCY_UNSET)
    o->latency = default_latency;
  else if (o->latency < 0)
    {
      hk_tool_usage_error (command, "--latency must be 0 or more milliseconds, not %d",
                           o->latency);
      return FALSE;
    }

  if (!parse_event_types (o, &error) ||
      !split_globs (&o->patterns, "-p", &error) ||
      !split_globs (&o->ignore_patterns, "-i", &error))
    {
      hk_tool_usage_error (command, "%s", error->message);
      return FALSE;
    }

  if (!parse_backend (o, &error))
    {
      hk_tool_usage_error (command, "%s", error->message);
      return FALSE;
    }
  for (guint i = 1; (*args)[i] != NULL; i++)
    if ((*args)[i][0] == '\0')
      {
        hk_tool_usage_error (command, "an empty PATH was given; name a directory, "
                             "such as “.” for the current one");
        return FALSE;
      }

  return TRUE;
}

typedef gboolean (*AddRuleFunc) (HkFilter *, const char *, GError **);

static gboolean
add_rules (HkFilter     *filter,
           AddRuleFunc   add,
           char        **rules,
           GError      **error)
{
  for (guint i = 0; rules != NULL && rules[i] != NULL; i++)
    if (!add (filter, rules[i], error))
      return FALSE;

  return TRUE;
}

/* The filter given to the watchdog of @root: every ignore rule (the
 * defaults, -i, --ignore-regex, --ignore-file), so that ignored directories
 * are not even watched. Include rules (-p, --regex) are kept apart, in
 * hk_tool_options_build_selection(), so that events about ignore files
 * reach hachiko whatever the patterns. */
HkFilter *
hk_tool_options_build_filter (const HkToolOptions  *o,
                              GFile                *root,
                              GError              **error)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  hk_filter_set_case_sensitive (filter, o->case_sensitive);
  if (root != NULL)
    hk_filter_set_base (filter, root);

  if (!o->no_default_ignores)
    for (guint i = 0; i < G_N_ELEMENTS (default_ignores); i++)
      hk_filter_add_ignore_pattern (filter, default_ignores[i], NULL);

  if (!add_rules (filter, hk_filter_add_ignore_pattern, o->ignore_patterns, error) ||
      !add_rules (filter, hk_filter_add_ignore_regex, o->ignore_regexes, error))
    return NULL;

  for (guint i = 0; o->ignore_files != NULL && o->ignore_files[i] != NULL; i++)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (o->ignore_files[i]);

      if (!hk_filter_add_ignore_file_for_directory (filter, file, root, error))
        {
          g_prefix_error (error, "--ignore-file: ");
          return NULL;
        }
    }

  return g_steal_pointer (&filter);
}

/* What hachiko reports of the events that pass the watchdog's filter:
 * -p, --regex, --ignore-directories. */
HkFilter *
hk_tool_options_build_selection (const HkToolOptions  *o,
                                 GError              **error)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  hk_filter_set_case_sensitive (filter, o->case_sensitive);
  hk_filter_set_ignore_directories (filter, o->ignore_directories);

  if (!add_rules (filter, hk_filter_add_pattern, o->patterns, error) ||
      !add_rules (filter, hk_filter_add_regex, o->regexes, error))
    return NULL;

  return g_steal_pointer (&filter);
}

gboolean
hk_tool_options_accepts (const HkToolOptions *o,
                         HkEvent             *event)
{
  if (o->event_mask == 0)
    return TRUE;

  return (o->event_mask & (1u << hk_event_get_event_type (event))) != 0;
}

/* --- diagnostics: one line each on stderr ------------------------------ */

void
hk_tool_usage_error (const char *command,
                     const char *format,
                     ...)
{
  g_autofree char *message = NULL;
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  line = hk_tool_escape_line (message);
  if (command != NULL)
    fprintf (stderr, "hachiko %s: %s; run “hachiko %s --help” for usage\n",
             command, line, command);
  else
    fprintf (stderr, "hachiko: %s; run “hachiko --help” for usage\n", line);
}

static const char *
hint_for_error (const GError *error)
{
  if (error->domain == G_IO_ERROR)
    switch (error->code)
      {
      case G_IO_ERROR_NOT_FOUND:
        return "check that the path exists";
      case G_IO_ERROR_PERMISSION_DENIED:
        return "check the permissions of the path and its parents";
      case G_IO_ERROR_NO_SPACE:
        return "raise the limit, e.g. “sudo sysctl fs.inotify.max_user_watches=524288”, "
               "or watch less with --ignore or --no-recursive";
      case G_IO_ERROR_TOO_MANY_OPEN_FILES:
        return "raise fs.inotify.max_user_instances or stop other watchers";
      case G_IO_ERROR_NOT_SUPPORTED:
        return "only local paths can be watched";
      case G_IO_ERROR_NOT_MOUNTED:
        return "the file system was unmounted";
      default:
        break;
      }

  if (error->domain == G_REGEX_ERROR)
    return "see REGULAR EXPRESSIONS in hachiko(1)";
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
    return "see PATTERNS in hachiko(1)";

  if (strstr (error->message, "max_user_instances") != NULL)
    return "raise fs.inotify.max_user_instances or stop other watchers";

  return NULL;
}

static void
print_error_line (const char   *prefix,
                  const GError *error,
                  gboolean      with_hint)
{
  g_autofree char *line = hk_tool_escape_line (error->message);
  const char *hint = with_hint ? hint_for_error (error) : NULL;

  if (hint != NULL)
    fprintf (stderr, "hachiko: %s%s; %s\n", prefix, line, hint);
  else
    fprintf (stderr, "hachiko: %s%s\n", prefix, line);
}

void
hk_tool_report_error (const GError *error)
{
  print_error_line ("", error, TRUE);
}

/* Errors while running (a subtree that cannot be watched, ...): printed,
 * up to a bound so that a huge unreadable tree does not flood stderr. */
void
hk_tool_report_watch_warning (const GError *error)
{
  /* A path that vanished while watched needs no advice. */
  gboolean with_hint = !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
                       !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_MOUNTED);

  n_warnings++;
  if (n_warnings < MAX_WARNINGS)
    print_error_line ("warning: ", error, with_hint);
  else if (n_warnings == MAX_WARNINGS)
    fprintf (stderr, "hachiko: warning: more warnings follow; not showing them\n");
}

void
hk_tool_message (const HkToolOptions *o,
                 const char          *format,
                 ...)
{
  g_autofree char *message = NULL;
  g_autofree char *line = NULL;
  va_list args;

  if (o->quiet)
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  line = hk_tool_escape_line (message);
  fprintf (stderr, "hachiko: %s\n", line);
}

/* Everything a subcommand does before watching: parses @args, builds the
 * filter, and creates the watch for the PATHs (the current directory when
 * none is given). Returns NULL with *exit_code set after printing why. */
HkToolWatch *
hk_tool_prepare (GOptionContext   *context,
                 const char       *command,
                 char           ***args,
                 HkToolOptions    *o,
                 int               default_latency,
                 int              *exit_code)
{
  char *current[] = { (char *) ".", NULL };
  g_autoptr(HkFilter) selection = NULL;
  g_autoptr(GError) error = NULL;
  HkToolWatch *watch;

  if (!hk_tool_parse (context, command, args, o, default_latency))
    {
      *exit_code = HK_TOOL_EXIT_USAGE;
      return NULL;
    }

  selection = hk_tool_options_build_selection (o, &error);
  /* (*args)[0] is the program name. */
  watch = selection != NULL ? hk_tool_watch_new (o, selection, (*args)[1] != NULL ? *args + 1 : current, &error) : NULL;
  if (watch == NULL)
    {
      hk_tool_report_error (error);
      *exit_code = HK_TOOL_EXIT_USAGE;
      return NULL;
    }

  return watch;
}

/* The exit status for a failure to start watching. */
int
hk_tool_exit_for_start_error (const GError *error)
{
  hk_tool_report_error (error);

  return HK_TOOL_EXIT_CANNOT_WATCH;
}
