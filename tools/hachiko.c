/* hachiko.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* `hachiko COMMAND …`: dispatches to the subcommands. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hk-tool-private.h"

#ifdef HK_TOOL_TEST_HOOKS
# include "hk-watchdog-private.h"
#endif

/* The subcommands: adding one is adding a row. */
const HkToolCommand hk_tool_commands[] = {
  { "log", hk_tool_log, "print one line per file system event",
    hk_tool_log_options, TRUE, FALSE, FALSE },
  { "exec", hk_tool_exec, "run a command at start and after changes",
    hk_tool_exec_options, TRUE, TRUE, FALSE },
  { "restart", hk_tool_restart, "keep a command running, restart it after changes",
    hk_tool_restart_options, TRUE, TRUE, FALSE },
  { "wait", hk_tool_wait, "wait for a change, print it and exit",
    hk_tool_wait_options, TRUE, FALSE, FALSE },
  { "snapshot", hk_tool_snapshot, "save a tree's state; later, print what changed" },
  { "completions", hk_tool_completions, "print shell completions (bash, zsh, fish)",
    NULL, FALSE, FALSE, TRUE },
};

const guint hk_tool_n_commands = G_N_ELEMENTS (hk_tool_commands);

static void
print_overview (FILE *out)
{
  fputs ("Usage:\n", out);
  for (guint i = 0; i < hk_tool_n_commands; i++)
    if (!hk_tool_commands[i].hidden)
      fprintf (out, "  hachiko %-8s [OPTION...]%s\n", hk_tool_commands[i].name,
               hk_tool_commands[i].takes_command ? " [PATH...] -- COMMAND [ARG...]" :
               hk_tool_commands[i].watches ? " [PATH...]" : "");
  fputs ("\n"
         "Watch directory trees and react to changes.\n"
         "\n"
         "Commands:\n", out);
  for (guint i = 0; i < hk_tool_n_commands; i++)
    if (!hk_tool_commands[i].hidden)
      fprintf (out, "  %-9s%s\n", hk_tool_commands[i].name, hk_tool_commands[i].summary);
  fputs ("\n"
         "Examples:\n"
         "  hachiko log .                      show what changes under the current directory\n"
         "  hachiko log --json src             the same, as JSON Lines\n"
         "  hachiko exec src -- make           run make now and after each burst of changes\n"
         "  hachiko exec -p '*.md' . -- pandoc -o out.html {path}\n"
         "                                     pass the changed file as an argument\n"
         "  hachiko restart -p '*.py' . -- python3 server.py\n"
         "                                     restart a server when a Python file changes\n"
         "  while hachiko wait -q src; do make; done\n"
         "                                     the same loop in a shell script\n"
         "\n"
         "Without PATH, the current directory is watched. What .gitignore, .ignore\n"
         "and .hgignore files (and git's exclude files) ignore is ignored, unless\n"
         "--no-ignore-files is given; so are version control directories and editor\n"
         "temporaries (.git/, *.swp, *~, ...), unless --no-default-ignores is given.\n"
         "\n"
         "Run \"hachiko log --help\" (exec, restart) for the options of each command,\n"
         "and see hachiko(1).\n"
         "\n"
         "Exit status: 0 success, 1 failure, 2 usage error, 3 a PATH cannot be\n"
         "watched; 130 and 143 after SIGINT and SIGTERM.\n", out);
}

char **
hk_tool_split_command (int     argc,
                       char  **argv,
                       char ***command)
{
  g_autoptr(GStrvBuilder) head = g_strv_builder_new ();
  int i;

  *command = NULL;
  for (i = 0; i < argc; i++)
    {
      if (i > 0 && strcmp (argv[i], "--") == 0)
        {
          g_autoptr(GStrvBuilder) tail = g_strv_builder_new ();

          for (int j = i + 1; j < argc; j++)
            g_strv_builder_add (tail, argv[j]);
          *command = g_strv_builder_end (tail);
          break;
        }
      g_strv_builder_add (head, argv[i]);
    }

  return g_strv_builder_end (head);
}

/* A standard descriptor left closed by the caller would be taken by the
 * first one opened here (GLib's wakeup eventfd, an inotify descriptor), and
 * the event lines written into it. /dev/null opened read-only holds its
 * place: reading gives end of file, writing fails with EBADF as on a closed
 * descriptor, and COMMAND inherits the same. */
static void
hold_standard_descriptors (void)
{
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
    {
      int held;

      if (fcntl (fd, F_GETFD) != -1 || errno != EBADF)
        continue;
      held = open ("/dev/null", O_RDONLY);
      if (held >= 0 && held != fd)
        {
          dup2 (held, fd);
          close (held);
        }
    }
}

int
main (int    argc,
      char **argv)
{
  const char *name;

  hold_standard_descriptors ();
  setlocale (LC_ALL, "");

#ifdef HK_TOOL_TEST_HOOKS
  if (g_getenv ("HACHIKO_TEST_WATCH_LIMIT") != NULL)
    hk_watchdog_set_watch_limit ((guint) g_ascii_strtoull (g_getenv ("HACHIKO_TEST_WATCH_LIMIT"), NULL, 10));
#endif

  if (argc < 2)
    {
      fputs ("Usage: hachiko log|exec|restart|wait|snapshot [OPTION...] [PATH...] [-- COMMAND [ARG...]]\n"
             "Run \"hachiko --help\" for more.\n", stderr);
      return HK_TOOL_EXIT_USAGE;
    }

  name = argv[1];
  if (g_str_equal (name, "--help") || g_str_equal (name, "-h") ||
      g_str_equal (name, "-?") || g_str_equal (name, "help"))
    {
      /* `hachiko help log` is `hachiko log --help`. */
      if (g_str_equal (name, "help") && argc > 2)
        {
          char *help_argv[] = { argv[2], (char *) "--help", NULL };

          for (guint i = 0; i < hk_tool_n_commands; i++)
            if (g_str_equal (argv[2], hk_tool_commands[i].name))
              return hk_tool_commands[i].run (2, help_argv);
          hk_tool_usage_error (NULL, "unknown command “%s”", argv[2]);
          return HK_TOOL_EXIT_USAGE;
        }
      print_overview (stdout);
      return HK_TOOL_EXIT_OK;
    }

  if (g_str_equal (name, "--version") || g_str_equal (name, "-V"))
    {
      printf ("hachiko %s\n", PACKAGE_VERSION);
      return HK_TOOL_EXIT_OK;
    }

  for (guint i = 0; i < hk_tool_n_commands; i++)
    if (g_str_equal (name, hk_tool_commands[i].name))
      return hk_tool_commands[i].run (argc - 1, argv + 1);

  if (name[0] == '-')
    hk_tool_usage_error (NULL, "“%s” must come after a command (log, exec, restart, wait or snapshot)", name);
  else
    hk_tool_usage_error (NULL, "unknown command “%s” (expected log, exec, restart, wait or snapshot)", name);

  return HK_TOOL_EXIT_USAGE;
}
