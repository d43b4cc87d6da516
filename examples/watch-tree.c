/* watch-tree.c: prints every change under a directory until Ctrl-C.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   cc watch-tree.c $(pkg-config --cflags --libs hachiko-1) -o watch-tree
 */

#include <glib-unix.h>
#include <hachiko.h>

static void
on_event (HkWatchdog *watchdog,
          HkEvent    *event,
          gpointer    user_data)
{
  const char *nick = hk_event_type_to_string (hk_event_get_event_type (event));

  if (hk_event_get_dest_path (event) != NULL)
    g_print ("%s %s -> %s\n", nick, hk_event_get_path (event), hk_event_get_dest_path (event));
  else
    g_print ("%s %s\n", nick, hk_event_get_path (event));
}

static void
on_error (HkWatchdog   *watchdog,
          const GError *error,
          gpointer      user_data)
{
  g_printerr ("warning: %s\n", error->message);
}

static gboolean
on_sigint (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GFile) root = g_file_new_for_commandline_arg (argc > 1 ? argv[1] : ".");
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (root);
  g_autoptr(GError) error = NULL;

  g_signal_connect (watchdog, "event", G_CALLBACK (on_event), NULL);
  g_signal_connect (watchdog, "error", G_CALLBACK (on_error), NULL);
  if (!hk_watchdog_start (watchdog, NULL, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  g_print ("watching %s\n", g_file_peek_path (root));
  g_unix_signal_add (SIGINT, on_sigint, loop);
  g_unix_signal_add (SIGTERM, on_sigint, loop);
  g_main_loop_run (loop);
  hk_watchdog_stop (watchdog);

  return 0;
}
