#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A watchdog started in a fork()ed child works (issue 10, item 9): the child
# gets a worker of its own instead of waiting forever for the parent's
# worker thread, which fork() does not copy. Python's multiprocessing forks
# by default on Linux.

import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import unittest

import gi

gi.require_version("Hk", "1")
gi.require_version("Gio", "2.0")
from gi.repository import GLib, Gio, Hk  # noqa: E402

TIMEOUT_S = 20


def watch_once(root, name):
    """In the child: start a watchdog, create @name, True if reported."""
    watchdog = Hk.Watchdog.new(Gio.File.new_for_path(root))
    seen = []
    watchdog.connect("event::created", lambda wd, event: seen.append(event.get_path()))
    watchdog.start(None)
    with open(os.path.join(root, name), "w") as f:
        f.write("x")
    context = GLib.MainContext.default()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        context.iteration(False) or time.sleep(0.001)
    watchdog.stop()
    return os.path.join(root, name) in seen


def child_main(root, name, queue):
    queue.put(watch_once(root, name))


class ForkTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-py-fork-")
        # The parent's worker is alive and busy when the child is forked.
        self.watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        self.watchdog.start(None)

    def tearDown(self):
        self.watchdog.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def test_os_fork_child_watches(self):
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = watch_once(self.root, "from-os-fork")
            finally:
                os._exit(0 if ok else 1)

        deadline = time.monotonic() + TIMEOUT_S
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                self.fail("the forked child hung")
            time.sleep(0.01)
        self.assertTrue(os.WIFEXITED(status))
        self.assertEqual(os.WEXITSTATUS(status), 0)

    def test_multiprocessing_fork_child_watches(self):
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        process = ctx.Process(target=child_main, args=(self.root, "from-mp", queue))
        process.start()
        process.join(TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()
            self.fail("the multiprocessing child hung")
        self.assertEqual(process.exitcode, 0)
        self.assertTrue(queue.get(timeout=1))


if __name__ == "__main__":
    unittest.main()
