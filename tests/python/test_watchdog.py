#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Drives libhachiko through its typelib from PyGObject, as an application
# would. Run with Debian's /usr/bin/python3 (python3-gi).

import os
import shutil
import tempfile
import threading
import unittest

import gi

gi.require_version("Hk", "1")
gi.require_version("Gio", "2.0")
from gi.repository import GLib, Gio, Hk  # noqa: E402

TIMEOUT_MS = 5000


def wait_until(predicate, timeout_ms=TIMEOUT_MS):
    context = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + timeout_ms * 1000
    while not predicate() and GLib.get_monotonic_time() < deadline:
        context.iteration(False) or GLib.usleep(1000)
    return predicate()


class WatchdogTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-py-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_created_event_for_a_new_file(self):
        watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        seen = []
        threads = []
        owner = threading.get_ident()

        # An assertion raised in a signal callback is only printed by
        # PyGObject: collect here, assert in the test body.
        def on_created(wd, event):
            threads.append(threading.get_ident())
            seen.append(event)

        watchdog.connect("event::created", on_created)
        watchdog.start(None)
        self.assertTrue(watchdog.props.running)

        path = os.path.join(self.root, "hello.txt")
        with open(path, "w") as f:
            f.write("hi")

        self.assertTrue(wait_until(lambda: len(seen) > 0))
        self.assertEqual(threads, [owner] * len(threads))
        event = seen[0]
        self.assertEqual(event.get_event_type(), Hk.EventType.CREATED)
        self.assertEqual(event.get_path(), path)
        self.assertEqual(event.get_file().get_path(), path)
        self.assertFalse(event.get_is_directory())
        self.assertFalse(event.get_is_synthetic())

        watchdog.stop()
        self.assertFalse(watchdog.props.running)
        with open(os.path.join(self.root, "after-stop"), "w"):
            pass
        wait_until(lambda: False, 100)
        self.assertEqual(len(seen), 1)

    def test_moved_event_carries_both_paths(self):
        src = os.path.join(self.root, "a")
        dst = os.path.join(self.root, "b")
        open(src, "w").close()
        watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        moves = []
        watchdog.connect("event::moved", lambda wd, ev: moves.append(ev))
        watchdog.start(None)
        os.rename(src, dst)
        self.assertTrue(wait_until(lambda: len(moves) > 0))
        self.assertEqual(moves[0].get_path(), src)
        self.assertEqual(moves[0].get_dest_path(), dst)
        watchdog.stop()

    def test_missing_root_raises_not_found(self):
        watchdog = Hk.Watchdog.new(Gio.File.new_for_path(os.path.join(self.root, "nope")))
        with self.assertRaises(GLib.Error) as ctx:
            watchdog.start(None)
        self.assertTrue(ctx.exception.matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND))

    def test_start_async(self):
        os.makedirs(os.path.join(self.root, "x", "y"))
        watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        results = []

        def done(wd, result):
            results.append(wd.start_finish(result))

        watchdog.start_async(None, done)
        self.assertTrue(wait_until(lambda: results))
        self.assertTrue(results[0])
        self.assertEqual(watchdog.get_n_watched_directories(), 3)
        watchdog.stop()

    def test_batch_signal_lists_events(self):
        watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        batches = []
        watchdog.connect("batch", lambda wd, events: batches.append([e.get_path() for e in events]))
        watchdog.start(None)
        open(os.path.join(self.root, "f"), "w").close()
        self.assertTrue(wait_until(lambda: any(os.path.join(self.root, "f") in b for b in batches)))
        watchdog.stop()


if __name__ == "__main__":
    unittest.main()
