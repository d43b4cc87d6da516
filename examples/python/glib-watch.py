#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# hachiko from a GLib application (GTK, or any GLib main loop): signals and
# Hk.EventHandler methods run on the main loop's thread.
#
#   examples/python/glib-watch.py [PATH]

import signal
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Hk", "1")
from gi.repository import GLib, Hk  # noqa: E402


class Printer(Hk.EventHandler):
    def do_on_any_event(self, event):
        print(event.event_type, event.src_path, event.dest_path or "", flush=True)


def on_overflow(watchdog):
    print("overflow: what changed meanwhile follows as synthetic events", flush=True)


def main():
    watchdog = Hk.Watchdog(sys.argv[1] if len(sys.argv) > 1 else ".")
    watchdog.add_handler(Printer())
    watchdog.connect("overflow", on_overflow)
    watchdog.start(None)
    print("Watching", watchdog.path, flush=True)

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    loop.run()
    watchdog.stop()


if __name__ == "__main__":
    main()
