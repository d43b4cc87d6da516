#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Python form of the original hachiko's AIOEventHandler example: a
# handler subclass whose methods run on the main loop's thread.

import sys

import gi

gi.require_version("Hk", "1")
from gi.repository import Gio, GLib, Hk  # noqa: E402


class Printer(Hk.EventHandler):
    def do_on_any_event(self, event):
        print(event.get_event_type().value_nick, event.get_path(), event.get_dest_path() or "")


def main():
    root = Gio.File.new_for_commandline_arg(sys.argv[1] if len(sys.argv) > 1 else ".")
    watchdog = Hk.Watchdog.new(root)
    watchdog.add_handler(Printer())
    watchdog.start(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2, loop.quit)  # SIGINT
    loop.run()
    watchdog.stop()


if __name__ == "__main__":
    main()
