/* hk-tool-child.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Running COMMAND for `exec` and `restart`. Never through a shell: the
 * argument vector goes to execve() as given, with whole-argument
 * placeholders replaced by exact values, and the event is described in
 * HACHIKO_* environment variables. Each run gets its own process group so
 * that signals reach everything it started. */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/prctl.h>
#endif

#include "hk-tool-private.h"

static const char * const hachiko_variables[] = {
  "HACHIKO_EVENT_TYPE",
  "HACHIKO_PATH",
  "HACHIKO_DEST_PATH",
  "HACHIKO_IS_DIRECTORY",
  "HACHIKO_IS_SYNTHETIC",
  "HACHIKO_EVENT_COUNT",
};

static const struct
{
  const char *name;
  int         signum;
} signal_names[] = {
  { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
  { "ABRT", SIGABRT }, { "KILL", SIGKILL }, { "SEGV", SIGSEGV },
  { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
  { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "CONT", SIGCONT },
  { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "WINCH", SIGWINCH },
  { "BUS", SIGBUS }, { "ILL", SIGILL }, { "FPE", SIGFPE },
};

/* --- what a run is about ----------------------------------------------- */

HkToolRun *
hk_tool_run_new (void)
{
  HkToolRun *run = g_new0 (HkToolRun, 1);

  run->paths = g_ptr_array_new_with_free_func (g_free);
  run->seen = g_hash_table_new (g_str_hash, g_str_equal);

  return run;
}

static void
add_path (HkToolRun  *run,
          const char *path)
{
  char *copy;

  if (path == NULL || g_hash_table_contains (run->seen, path))
    return;

  copy = g_strdup (path);
  g_ptr_array_add (run->paths, copy);
  g_hash_table_add (run->seen, copy);
}

void
hk_tool_run_add (HkToolRun *run,
                 HkEvent   *event)
{
  g_clear_pointer (&run->last, hk_event_unref);
  run->last = hk_event_ref (event);
  run->count++;
  add_path (run, hk_event_get_path (event));
  add_path (run, hk_event_get_dest_path (event));
}

void
hk_tool_run_free (HkToolRun *run)
{
  g_clear_pointer (&run->last, hk_event_unref);
  g_clear_pointer (&run->seen, g_hash_table_unref);
  g_clear_pointer (&run->paths, g_ptr_array_unref);
  g_free (run);
}

/* --- spawning ---------------------------------------------------------- */

gboolean
hk_tool_check_command (const char  *command,
                       char       **argv)
{
  g_autofree char *program = NULL;

  if (argv == NULL || argv[0] == NULL)
    {
      hk_tool_usage_error (command, "no COMMAND given: put it after “--”, "
                           "as in “hachiko %s . -- make”", command);
      return FALSE;
    }

  program = g_find_program_in_path (argv[0]);
  if (program == NULL)
    {
      hk_tool_usage_error (command, "cannot run “%s”: no such executable in PATH", argv[0]);
      return FALSE;
    }

  return TRUE;
}

/* Each placeholder is recognized only as a whole argument, and is
 * replaced by exactly one value ({paths}: one argument per path, those
 * from *@next_path on that fit in @budget bytes; *@next_path is moved past
 * them). A run without an event (the run at start) has no paths. */
static GPtrArray *
expand_argv (char      **argv,
             HkToolRun  *run,
             guint      *next_path,
             gsize       budget)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  HkEvent *event = run != NULL ? run->last : NULL;
  gboolean has_paths = FALSE;

  for (guint i = 0; argv[i] != NULL; i++)
    {
      const char *arg = argv[i];

      if (i == 0 || run == NULL)
        g_ptr_array_add (out, g_strdup (arg));
      else if (g_str_equal (arg, "{paths}") && !has_paths)
        {
          has_paths = TRUE;
          gsize used = 0;
          guint j = *next_path;

          for (; j < run->paths->len; j++)
            {
              const char *path = g_ptr_array_index (run->paths, j);
              gsize cost = strlen (path) + 1 + sizeof (char *);

              /* At least one path per run, whatever it costs. */
              if (j > *next_path && used + cost > budget)
                break;
              used += cost;
              g_ptr_array_add (out, g_strdup (path));
            }
          *next_path = j;
        }
      else if (event == NULL)
        g_ptr_array_add (out, g_strdup (arg));
      else if (g_str_equal (arg, "{path}"))
        g_ptr_array_add (out, g_strdup (hk_event_get_path (event)));
      else if (g_str_equal (arg, "{dest}"))
        g_ptr_array_add (out, g_strdup (hk_event_get_dest_path (event) != NULL ?
                                        hk_event_get_dest_path (event) : ""));
      else if (g_str_equal (arg, "{type}"))
        g_ptr_array_add (out, g_strdup (hk_tool_event_type_nick (event)));
      else
        g_ptr_array_add (out, g_strdup (arg));
    }
  g_ptr_array_add (out, NULL);

  /* Without {paths}, one run is the whole run. */
  if (run != NULL && !has_paths)
    *next_path = run->paths->len;

  return out;
}

/* Whether @argv has a placeholder that needs an event. */
gboolean
hk_tool_command_needs_event (char **argv)
{
  for (guint i = 1; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], "{path}") || g_str_equal (argv[i], "{dest}") ||
        g_str_equal (argv[i], "{type}"))
      return TRUE;

  return FALSE;
}

/* How many bytes of arguments and environment execve() takes, less what
 * the environment of a run of @argv and @run uses; {paths} must fit in
 * what is left. */
gsize
hk_tool_paths_budget (char      **argv,
                      HkToolRun  *run)
{
  long arg_max = sysconf (_SC_ARG_MAX);
  gsize used = 0;
  gsize limit;
  char **env = g_get_environ ();

  limit = arg_max > 0 ? (gsize) arg_max : 131072;
  for (guint i = 0; env[i] != NULL; i++)
    used += strlen (env[i]) + 1 + sizeof (char *);
  g_strfreev (env);
  for (guint i = 0; argv[i] != NULL; i++)
    used += strlen (argv[i]) + 1 + sizeof (char *);
  /* HACHIKO_* variables: two paths and a few short values. */
  if (run != NULL && run->last != NULL)
    {
      const char *dest = hk_event_get_dest_path (run->last);

      used += strlen (hk_event_get_path (run->last)) + (dest != NULL ? strlen (dest) : 0) + 256;
    }
  /* A margin for the program name, the auxiliary vector and alignment. */
  used += 4096 + limit / 16;

  return used < limit ? limit - used : 0;
}

static void
set_environment (GSubprocessLauncher *launcher,
                 HkToolRun           *run)
{
  HkEvent *event = run != NULL ? run->last : NULL;
  g_autofree char *count = NULL;

  /* Values from an enclosing hachiko must not leak into ours. */
  for (guint i = 0; i < G_N_ELEMENTS (hachiko_variables); i++)
    g_subprocess_launcher_unsetenv (launcher, hachiko_variables[i]);

  if (event == NULL)
    return;

  count = g_strdup_printf ("%u", run->count);
  g_subprocess_launcher_setenv (launcher, "HACHIKO_EVENT_TYPE", hk_tool_event_type_nick (event), TRUE);
  g_subprocess_launcher_setenv (launcher, "HACHIKO_PATH", hk_event_get_path (event), TRUE);
  if (hk_event_get_dest_path (event) != NULL)
    g_subprocess_launcher_setenv (launcher, "HACHIKO_DEST_PATH", hk_event_get_dest_path (event), TRUE);
  g_subprocess_launcher_setenv (launcher, "HACHIKO_IS_DIRECTORY",
                                hk_event_get_is_directory (event) ? "1" : "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "HACHIKO_IS_SYNTHETIC",
                                hk_event_get_is_synthetic (event) ? "1" : "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "HACHIKO_EVENT_COUNT", count, TRUE);
}

/* Runs in the child between fork and exec: async-signal-safe calls only.
 * With @data, the new group takes the terminal on standard input (before
 * COMMAND can try to read it and be stopped); SIGTTOU is still ignored
 * here, as inherited from hachiko. */
static void
child_setup (gpointer data)
{
  setpgid (0, 0);
  if (data != NULL)
    tcsetpgrp (STDIN_FILENO, getpid ());
  /* hachiko may ignore SIGTTOU (restart --stdin); COMMAND must not. */
  signal (SIGTTOU, SIG_DFL);
#ifdef __linux__
  /* If hachiko dies without cleaning up, its child is told. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
#endif
}

/* Spawns a run of @argv for @run (NULL: none; no HACHIKO_* variables).
 * With @next_path, placeholders are replaced, {paths} with the paths
 * from *@next_path that fit in @budget bytes (see expand_argv()). */
GSubprocess *
hk_tool_spawn_full (char       **argv,
                    HkToolRun   *run,
                    guint       *next_path,
                    gsize        budget,
                    HkToolStdin  stdin_mode,
                    GError     **error)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (stdin_mode != HK_TOOL_STDIN_NULL ? G_SUBPROCESS_FLAGS_STDIN_INHERIT
                                                                : G_SUBPROCESS_FLAGS_NONE);
  guint unused = 0;
  g_autoptr(GPtrArray) args = expand_argv (argv, next_path != NULL ? run : NULL,
                                           next_path != NULL ? next_path : &unused, budget);

  set_environment (launcher, run);
  g_subprocess_launcher_set_child_setup (launcher, child_setup,
                                         stdin_mode == HK_TOOL_STDIN_TERMINAL ? launcher : NULL, NULL);

  return g_subprocess_launcher_spawnv (launcher, (const char * const *) args->pdata, error);
}

GSubprocess *
hk_tool_spawn (char       **argv,
               HkToolRun   *run,
               gboolean     placeholders,
               GError     **error)
{
  guint next_path = 0;

  return hk_tool_spawn_full (argv, run, placeholders ? &next_path : NULL, G_MAXSIZE,
                             HK_TOOL_STDIN_NULL, error);
}

/* --- kill-after -------------------------------------------------------- */

/* Checks a --kill-after value: finite, 0 or more, and at most a day, so
 * that it converts to microseconds without overflow. */
gboolean
hk_tool_check_kill_after (const char *command,
                          double      seconds)
{
  if (!isfinite (seconds) || seconds < 0 || seconds > HK_TOOL_MAX_KILL_AFTER)
    {
      hk_tool_usage_error (command, "--kill-after must be from 0 to %d seconds (one day), not %g",
                           HK_TOOL_MAX_KILL_AFTER, seconds);
      return FALSE;
    }

  return TRUE;
}

/* --- statuses and signals ---------------------------------------------- */

int
hk_tool_child_status (GSubprocess *child)
{
  if (g_subprocess_get_if_signaled (child))
    return HK_TOOL_EXIT_SIGNALED (g_subprocess_get_term_sig (child));

  return g_subprocess_get_exit_status (child);
}

static const char *
signal_name (int signum)
{
  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    if (signal_names[i].signum == signum)
      return signal_names[i].name;

  return NULL;
}

char *
hk_tool_describe_status (GSubprocess *child)
{
  if (g_subprocess_get_if_signaled (child))
    {
      int sig = g_subprocess_get_term_sig (child);
      const char *name = signal_name (sig);

      if (name != NULL)
        return g_strdup_printf ("was killed by SIG%s", name);
      return g_strdup_printf ("was killed by signal %d", sig);
    }

  return g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (child));
}

/* Accepts "TERM", "SIGTERM", "sigterm" and "15". */
gboolean
hk_tool_parse_signal (const char *name,
                      int        *signum)
{
  const char *bare = name;
  char *end = NULL;
  gint64 number;

  if (g_ascii_strncasecmp (bare, "SIG", 3) == 0)
    bare += 3;

  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    if (g_ascii_strcasecmp (bare, signal_names[i].name) == 0)
      {
        *signum = signal_names[i].signum;
        return TRUE;
      }

  errno = 0;
  number = g_ascii_strtoll (name, &end, 10);
  if (errno == 0 && end != name && *end == '\0' && number > 0 && number < NSIG)
    {
      *signum = (int) number;
      return TRUE;
    }

  return FALSE;
}

/* The process id of @child, which leads its process group; 0 once it has
 * been reaped. */
GPid
hk_tool_child_pid (GSubprocess *child)
{
  const char *id = g_subprocess_get_identifier (child);

  return id != NULL ? (GPid) atoi (id) : 0;
}

/* Sends @signum to every process of the group @pgid. Returns FALSE when
 * the group has no process left. */
gboolean
hk_tool_signal_group (GPid pgid,
                      int  signum)
{
  if (pgid <= 0)
    return FALSE;

  return kill (-pgid, signum) == 0 || errno != ESRCH;
}

void
hk_tool_stop_group (GPid pgid,
                    int  signum)
{
  hk_tool_signal_group (pgid, signum);
  if (signum != SIGKILL && signum != SIGCONT)
    hk_tool_signal_group (pgid, SIGCONT);
}

void
hk_tool_kill_group_after (const HkToolOptions *options,
                          const char          *command,
                          double               kill_after,
                          GPid                 pgid)
{
  hk_tool_message (options, "“%s” is still running after %g s; sending SIGKILL",
                   command, kill_after);
  hk_tool_signal_group (pgid, SIGKILL);
}

gboolean
hk_tool_check_signal (const char *command,
                      const char *name,
                      int        *signum)
{
  if (name == NULL || hk_tool_parse_signal (name, signum))
    return TRUE;

  hk_tool_usage_error (command, "unknown signal “%s” (use a name such as TERM, "
                       "INT, HUP, or a number)", name);
  return FALSE;
}
