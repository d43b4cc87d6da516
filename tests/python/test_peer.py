#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A peer's test suite: the behaviours python-watchdog's own emitter and
# observer tests check, run against hachiko's asyncio API
# (hachiko.AIOWatchdog / AIOEventHandler) and against Hk.Watchdog on a GLib
# main context. Each test works in a fresh temporary directory, collects
# events in the callbacks and asserts in the test body; every event must
# arrive exactly once. Run through meson test (GI_TYPELIB_PATH,
# LD_LIBRARY_PATH and PYTHONPATH set), with Debian's /usr/bin/python3.
#
# Exactly once is checked with a barrier: after the actions, a directory
# ".barrier-N" is created at the root and the test waits for its `created`
# event. Events of one watchdog arrive in order, so anything the actions
# caused (including a duplicate) has arrived by then.

import asyncio
import ctypes
import errno
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Hk", "1")
from gi.repository import GLib, Gio, Hk  # noqa: E402

from hachiko import AIOEventHandler, AIOWatchdog  # noqa: E402

TIMEOUT = 20.0
BARRIER = ".barrier-"
STRUCTURAL = ("created", "deleted", "moved")


def touch(path):
    with open(path, "wb"):
        pass


def write(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)


_libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2


def exchange(a, b):
    """renameat2(RENAME_EXCHANGE): a and b swap places, atomically."""
    if _libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), a)


# --- two ways to watch: asyncio and a GLib main context ----------------------

class _Collector(AIOEventHandler):
    def __init__(self, sink, **kwargs):
        super().__init__(**kwargs)
        self.sink = sink

    async def on_any_event(self, event):
        self.sink.events.append(event)

    async def on_error(self, event):
        self.sink.errors.append(event.error)

    async def on_overflow(self, event):
        self.sink.overflows += 1


def new_loop():
    """asyncio's loop, or uvloop's with HK_TEST_LOOP=uvloop (as test_aio.py)."""
    if os.environ.get("HK_TEST_LOOP") == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class AioHarness:
    """hachiko.AIOWatchdog on a plain asyncio loop (no GLib main loop)."""

    name = "asyncio"

    def __init__(self, sharing=None):
        self.owns_loop = sharing is None
        self.loop = new_loop() if sharing is None else sharing.loop
        self.loop_errors = []
        if self.owns_loop:
            self.loop.set_exception_handler(lambda loop, context: self.loop_errors.append(context))
        self.events = []
        self.errors = []
        self.overflows = 0
        self.watch = None

    def start(self, path, recursive=True, **kwargs):
        handler = _Collector(self, loop=self.loop)
        self.watch = AIOWatchdog(path, recursive=recursive, event_handler=handler, loop=self.loop,
                                 **kwargs)
        self.watch.start()

    def start_again(self):
        self.watch.start()

    def running(self):
        return self.watch.running

    def stop(self):
        self.watch.stop()

    def pump(self, predicate, timeout=TIMEOUT):
        async def spin():
            deadline = time.monotonic() + timeout
            while not predicate() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            return predicate()

        return self.loop.run_until_complete(spin())

    def close(self):
        if self.watch is not None:
            self.watch.stop()
        if self.owns_loop:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class GLibHarness:
    """Hk.Watchdog on the default GLib main context, through the typelib."""

    name = "glib"

    def __init__(self, sharing=None):
        self.events = []
        self.errors = []
        self.overflows = 0
        self.loop_errors = []
        self.watchdog = None

    def start(self, path, recursive=True, **kwargs):
        self.watchdog = Hk.Watchdog(path, recursive=recursive, **kwargs)
        self.watchdog.connect("event", lambda wd, event: self.events.append(event))
        self.watchdog.connect("error", lambda wd, error: self.errors.append(error))
        self.watchdog.connect("overflow", lambda wd: setattr(self, "overflows", self.overflows + 1))
        self.watchdog.start(None)

    def start_again(self):
        self.watchdog.start(None)

    def running(self):
        return self.watchdog.get_running()

    def stop(self):
        self.watchdog.stop()

    def pump(self, predicate, timeout=TIMEOUT):
        context = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            context.iteration(False) or time.sleep(0.005)
        return predicate()

    def close(self):
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None


# --- the tests ----------------------------------------------------------------

class PeerTests:
    """watchdog's emitter tests, adapted. Mixed into one TestCase per harness."""

    harness_class = None

    def setUp(self):
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-peer-"))
        self.outside = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-peer-out-"))
        self.h = self.harness_class()
        self.barriers = 0

    def tearDown(self):
        self.h.close()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.outside, ignore_errors=True)
        self.assertEqual(self.h.loop_errors, [])

    # helpers

    def p(self, *parts):
        return os.path.join(self.root, *parts)

    def start(self, recursive=True, path=None, **kwargs):
        self.h.start(self.root if path is None else path, recursive=recursive, **kwargs)

    def rel(self, path):
        if path is None:
            return None
        self.assertIsInstance(path, str)
        self.assertTrue(os.path.isabs(path), path)
        if path == self.root:
            return "."
        self.assertTrue(path.startswith(self.root + "/"), path)
        return path[len(self.root) + 1:]

    def settle(self):
        """Waits until everything the actions so far caused has arrived."""
        self.barriers += 1
        barrier = self.p(BARRIER + str(self.barriers))
        os.mkdir(barrier)
        self.assertTrue(self.h.pump(lambda: any(e.src_path == barrier for e in self.h.events)),
                        "the barrier %s never arrived; got %r" % (barrier, self.h.events))

    def seen(self, types=None):
        """(type, path, dest, is_directory) of every event but the barriers'."""
        out = []
        for event in self.h.events:
            src = self.rel(event.src_path)
            if src.startswith(BARRIER):
                continue
            if types is not None and event.event_type not in types:
                continue
            out.append((event.event_type, src, self.rel(event.dest_path), event.is_directory))
        return out

    def assertSeen(self, expected, types=STRUCTURAL):
        self.assertEqual(self.seen(types), expected)

    # create / delete / modify

    def test_file_created(self):
        self.start()
        write(self.p("a"), b"hello")
        self.settle()
        self.assertSeen([("created", "a", None, False)])
        self.assertEqual(self.seen(["closed"]), [("closed", "a", None, False)])

    def test_file_deleted(self):
        touch(self.p("a"))
        self.start()
        os.unlink(self.p("a"))
        self.settle()
        self.assertSeen([("deleted", "a", None, False)])
        self.assertEqual(self.seen(), [("deleted", "a", None, False)])

    def test_file_modified(self):
        write(self.p("a"))
        self.start()
        with open(self.p("a"), "ab") as f:
            f.write(b"more")
        self.settle()
        self.assertEqual(self.seen(), [("modified", "a", None, False), ("closed", "a", None, False)])

    def test_file_attributes_changed(self):
        touch(self.p("a"))
        self.start()
        os.chmod(self.p("a"), 0o600)
        self.settle()
        self.assertEqual(self.seen(), [("attribute-changed", "a", None, False)])

    def test_directory_created_and_deleted(self):
        self.start()
        os.mkdir(self.p("d"))
        os.rmdir(self.p("d"))
        self.settle()
        self.assertSeen([("created", "d", None, True), ("deleted", "d", None, True)])

    def test_directory_attributes_changed(self):
        os.mkdir(self.p("d"))
        self.start()
        os.chmod(self.p("d"), 0o700)
        self.settle()
        self.assertEqual(self.seen(), [("attribute-changed", "d", None, True)])

    def test_fast_subdirectory_creation_and_deletion(self):
        os.mkdir(self.p("sub"))
        self.start()
        for _ in range(20):
            os.mkdir(self.p("sub", "x"))
            os.rmdir(self.p("sub", "x"))
        self.settle()
        self.assertSeen([("created", "sub/x", None, True), ("deleted", "sub/x", None, True)] * 20)

    # moves

    def test_move_within_a_directory(self):
        touch(self.p("a"))
        self.start()
        os.rename(self.p("a"), self.p("b"))
        self.settle()
        self.assertEqual(self.seen(), [("moved", "a", "b", False)])

    def test_consecutive_moves(self):
        touch(self.p("a"))
        touch(self.p("c"))
        self.start()
        os.rename(self.p("a"), self.p("b"))
        os.rename(self.p("c"), self.p("d"))
        os.rename(self.p("b"), self.p("e"))
        self.settle()
        self.assertEqual(self.seen(), [("moved", "a", "b", False), ("moved", "c", "d", False),
                                       ("moved", "b", "e", False)])

    def test_move_between_directories(self):
        os.mkdir(self.p("d1"))
        os.mkdir(self.p("d2"))
        touch(self.p("d1", "a"))
        self.start()
        os.rename(self.p("d1", "a"), self.p("d2", "a"))
        self.settle()
        self.assertEqual(self.seen(), [("moved", "d1/a", "d2/a", False)])

    def test_file_moved_in_from_outside_is_created(self):
        write(os.path.join(self.outside, "in"))
        self.start()
        os.rename(os.path.join(self.outside, "in"), self.p("in"))
        self.settle()
        self.assertEqual(self.seen(), [("created", "in", None, False)])

    def test_directory_moved_in_from_outside_reports_its_contents(self):
        os.makedirs(os.path.join(self.outside, "d", "sub"))
        touch(os.path.join(self.outside, "d", "sub", "f"))
        self.start()
        os.rename(os.path.join(self.outside, "d"), self.p("d"))
        self.settle()
        self.assertSeen([("created", "d", None, True), ("created", "d/sub", None, True),
                         ("created", "d/sub/f", None, False)])
        write(self.p("d", "sub", "f"), b"later")
        self.settle()
        self.assertIn(("closed", "d/sub/f", None, False), self.seen(["closed"]))

    def test_file_moved_out_is_deleted(self):
        touch(self.p("o"))
        self.start()
        os.rename(self.p("o"), os.path.join(self.outside, "o"))
        self.settle()
        self.assertEqual(self.seen(), [("deleted", "o", None, False)])

    def test_directory_moved_out_is_one_deletion_and_silent_after(self):
        os.makedirs(self.p("d", "sub"))
        touch(self.p("d", "sub", "f"))
        self.start()
        os.rename(self.p("d"), os.path.join(self.outside, "d"))
        write(os.path.join(self.outside, "d", "sub", "f"), b"changed outside")
        os.mkdir(os.path.join(self.outside, "d", "new"))
        self.settle()
        self.assertEqual(self.seen(), [("deleted", "d", None, True)])

    def test_moved_directory_keeps_reporting_at_its_new_path(self):
        os.makedirs(self.p("d", "sub"))
        write(self.p("d", "sub", "f"))
        self.start()
        os.rename(self.p("d"), self.p("e"))
        write(self.p("e", "sub", "f"), b"changed")
        os.mkdir(self.p("e", "sub", "new"))
        touch(self.p("e", "sub", "new", "g"))
        self.settle()
        # The kernel merges the truncation's and the write's IN_MODIFY when
        # they are queued back to back: one or two `modified`.
        seen = self.seen(STRUCTURAL + ("modified",))
        if seen[1:3] == [("modified", "e/sub/f", None, False)] * 2:
            del seen[1]
        self.assertEqual(seen, [
            ("moved", "d", "e", True),
            ("modified", "e/sub/f", None, False),
            ("created", "e/sub/new", None, True),
            ("created", "e/sub/new/g", None, False),
        ])

    def test_nested_directory_moved_up(self):
        os.makedirs(self.p("dir1", "dir2"))
        self.start()
        os.rename(self.p("dir1", "dir2"), self.p("dir2"))
        touch(self.p("dir2", "b"))
        self.settle()
        self.assertSeen([("moved", "dir1/dir2", "dir2", True), ("created", "dir2/b", None, False)])

    def test_replace_by_rename(self):
        # An editor's save: write a temporary file, rename it over the target.
        # The replaced entry is reported deleted before the move
        # (docs/semantics.md, docs/coalescing.md).
        write(self.p("t"), b"old")
        self.start()
        write(self.p("t.tmp"), b"new")
        os.rename(self.p("t.tmp"), self.p("t"))
        self.settle()
        self.assertSeen([("created", "t.tmp", None, False), ("deleted", "t", None, False),
                         ("moved", "t.tmp", "t", False)])

    def test_case_only_rename(self):
        touch(self.p("foo"))
        os.mkdir(self.p("dir"))
        self.start()
        os.rename(self.p("foo"), self.p("FOO"))
        os.rename(self.p("dir"), self.p("DIR"))
        touch(self.p("DIR", "x"))
        self.settle()
        self.assertSeen([("moved", "foo", "FOO", False), ("moved", "dir", "DIR", True),
                         ("created", "DIR/x", None, False)])

    # A directory created, renamed and its old name reused by a file before
    # the worker handles the IN_CREATE: the tree lstat()ed the name, found the
    # file, recorded a file; the move was a file's, the renamed directory
    # never watched, everything in it lost (found by RandomOperationsTest;
    # about one try in two; fixed on main by b8bc5cf).
    def test_directory_renamed_and_its_name_reused_at_once(self):
        problems = []
        for i in range(60):
            # A fresh watchdog on a fresh directory each time: the worker
            # wakes up for the first event, and the window is its wake-up.
            top = self.p("t%d" % i)
            os.mkdir(top)
            harness = self.harness_class(sharing=self.h)
            try:
                harness.start(top)
                os.mkdir(os.path.join(top, "a"))
                os.rename(os.path.join(top, "a"), os.path.join(top, "d"))
                touch(os.path.join(top, "a"))
                touch(os.path.join(top, "d", "x"))
                barrier = os.path.join(top, BARRIER)
                os.mkdir(barrier)
                self.assertTrue(harness.pump(lambda: any(e.src_path == barrier
                                                         for e in harness.events)))
                touch(os.path.join(top, "d", "later"))
                os.rmdir(barrier)
                self.assertTrue(harness.pump(lambda: any(e.src_path == barrier
                                                         and e.event_type == "deleted"
                                                         for e in harness.events)))
                seen = [(e.event_type, os.path.relpath(e.src_path, top),
                         e.dest_path and os.path.relpath(e.dest_path, top), e.is_directory)
                        for e in harness.events if e.event_type in STRUCTURAL]
                for event in (("moved", "a", "d", True), ("created", "d/x", None, False),
                              ("created", "d/later", None, False)):
                    if seen.count(event) != 1:
                        problems.append((i, event, seen.count(event)))
            finally:
                harness.close()
        self.assertEqual(problems, [])

    # A directory created and renamed, and another directory renamed to its
    # old name, before the worker handles the first IN_CREATE: inotify
    # watches by path, so the first directory's watch landed on the second
    # one; the first was never watched (a2/later lost) and the second's
    # entries were told twice, under the first one's new path too. One try in
    # ten or twenty, so 150 tries. Fixed on main: the first version of the
    # fix (3da9f07) acted before the queued events were handled and left
    # a2/y behind in about one run in four; the check now waits for them.
    # Under load (three busy loops beside it) it still failed about one run
    # in thirty-five, two ways. (1) The new directory was watched when its
    # event was handled, and read later by path, when the name was the
    # other directory's: a2 was read from b (test-tree's
    # /tree/created-directory-renamed-between-watch-and-read; fixed by
    # noting what the watch is on and checking it at the read). (2) The
    # repair of a misplaced watch runs once the worker has nothing else to
    # do, which can be after the barrier's event: its synthetic events come
    # after the barrier, so a mismatch waits for them (bounded).
    def test_directory_renamed_and_another_renamed_to_its_name_at_once(self):
        problems = []
        for i in range(150):
            # A fresh watchdog on a fresh directory each time, as in the
            # reduced case this was found with.
            top = self.p("t%d" % i)
            os.mkdir(top)
            harness = self.harness_class(sharing=self.h)
            try:
                harness.start(top)
                os.mkdir(os.path.join(top, "a"))
                os.rename(os.path.join(top, "a"), os.path.join(top, "a2"))
                os.mkdir(os.path.join(top, "b"))
                touch(os.path.join(top, "b", "y"))
                os.rename(os.path.join(top, "b"), os.path.join(top, "a"))
                touch(os.path.join(top, "a2", "later"))
                touch(os.path.join(top, "a", "later"))
                barrier = os.path.join(top, BARRIER)
                os.mkdir(barrier)
                self.assertTrue(harness.pump(lambda: any(e.src_path == barrier
                                                         for e in harness.events)))
                on_disk = {k: v for k, v in _tree(top).items() if BARRIER not in k}

                # The repair of the misplaced watch is told as differences
                # (synthetic), so check what the events describe, not counts.
                def described():
                    model, anomalies = {}, []
                    _apply(model, top, [e for e in harness.events if BARRIER not in e.src_path],
                           anomalies)
                    return model, anomalies

                if not harness.pump(lambda: described() == (on_disk, [])):
                    model, anomalies = described()
                    problems.append((i, sorted(set(model) ^ set(on_disk)), anomalies))
            finally:
                harness.close()
        self.assertEqual(problems, [])

    def exchange_or_skip(self, a, b):
        try:
            exchange(a, b)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOSYS):
                self.skipTest("no RENAME_EXCHANGE here")
            raise

    # renameat2(RENAME_EXCHANGE), as `mv --exchange` (coreutils 9.5) does:
    # both names stay. The tree took the first half for a rename over the
    # second name and the second half for a move back: b was gone from its
    # snapshot, a later deletion of b dropped, events under exchanged
    # directories carried the wrong path or were lost (fixed on main by
    # 5c77b6b). Whatever the events, applied to the tree before they must
    # give the tree after, and later changes must be reported at their paths.

    def check_exchange(self, before, later_changes, expected_later):
        model = dict(before)
        anomalies = []
        _apply(model, self.root, [e for e in self.h.events
                                  if BARRIER not in e.src_path], anomalies)
        self.assertEqual((model, anomalies),
                         ({k: v for k, v in _tree(self.root).items() if BARRIER not in k}, []))
        self.h.events.clear()
        later_changes()
        self.settle()
        self.assertEqual(self.seen(), expected_later)

    def test_exchange_files_keeps_both(self):
        write(self.p("a"), b"a")
        write(self.p("b"), b"b")
        before = _tree(self.root)
        self.start()
        self.exchange_or_skip(self.p("a"), self.p("b"))
        self.settle()
        self.check_exchange(before, lambda: (os.unlink(self.p("b")), os.unlink(self.p("a"))),
                            [("deleted", "b", None, False), ("deleted", "a", None, False)])

    def test_exchange_directories_keeps_both_watched_at_their_paths(self):
        os.mkdir(self.p("d1"))
        os.mkdir(self.p("d2"))
        touch(self.p("d1", "in1"))
        touch(self.p("d2", "in2"))
        before = _tree(self.root)
        self.start()
        self.exchange_or_skip(self.p("d1"), self.p("d2"))
        self.settle()

        def later():
            touch(self.p("d1", "new"))      # d1 is the old d2 now
            touch(self.p("d2", "new"))
            os.unlink(self.p("d2", "in1"))  # in1 moved with its directory

        self.check_exchange(before, later, [
            ("created", "d1/new", None, False), ("closed", "d1/new", None, False),
            ("created", "d2/new", None, False), ("closed", "d2/new", None, False),
            ("deleted", "d2/in1", None, False)])

    def test_exchange_with_outside_is_deleted_and_created(self):
        os.mkdir(self.p("d1"))
        touch(self.p("d1", "in1"))
        os.mkdir(os.path.join(self.outside, "o"))
        touch(os.path.join(self.outside, "o", "out"))
        self.start()
        self.exchange_or_skip(self.p("d1"), os.path.join(self.outside, "o"))
        touch(self.p("d1", "new"))
        self.settle()
        seen = self.seen()
        self.assertEqual(seen[:2], [("deleted", "d1", None, True), ("created", "d1", None, True)])
        self.assertEqual(sorted(seen[2:]), [("created", "d1/new", None, False),
                                            ("created", "d1/out", None, False)])

    # whole subtrees

    def make_subtree(self):
        os.makedirs(self.p("x", "y", "z"))
        touch(self.p("x", "a"))
        touch(self.p("x", "y", "b"))
        touch(self.p("x", "y", "z", "c"))
        return {"x": True, "x/a": False, "x/y": True, "x/y/b": False, "x/y/z": True,
                "x/y/z/c": False}

    def check_subtree_deleted(self, entries):
        deleted = self.seen()
        self.assertEqual(sorted(deleted), sorted(("deleted", path, None, is_dir)
                                                 for path, is_dir in entries.items()))
        order = [path for _, path, _, _ in deleted]
        for path in entries:
            parent = os.path.dirname(path)
            if parent:
                self.assertLess(order.index(path), order.index(parent), order)

    def test_rmtree_reports_every_entry_once_contents_first(self):
        entries = self.make_subtree()
        self.start()
        shutil.rmtree(self.p("x"))
        self.settle()
        self.check_subtree_deleted(entries)

    def test_rm_rf_reports_every_entry_once_contents_first(self):
        entries = self.make_subtree()
        self.start()
        subprocess.run(["rm", "-rf", self.p("x")], check=True)
        self.settle()
        self.check_subtree_deleted(entries)

    def test_mkdir_p_then_file(self):
        self.start()
        subprocess.run(["sh", "-c", 'mkdir -p "$1/a/b/c" && touch "$1/a/b/c/f"', "sh", self.root],
                       check=True)
        self.settle()
        self.assertSeen([("created", "a", None, True), ("created", "a/b", None, True),
                         ("created", "a/b/c", None, True), ("created", "a/b/c/f", None, False)])

    def test_many_nested_directories_then_files(self):
        self.start()
        for i in range(20):
            os.makedirs(self.p("n%d" % i, "b", "c"))
            touch(self.p("n%d" % i, "b", "c", "f"))
        self.settle()
        expected = []
        for i in range(20):
            expected += [("created", "n%d" % i, None, True), ("created", "n%d/b" % i, None, True),
                         ("created", "n%d/b/c" % i, None, True),
                         ("created", "n%d/b/c/f" % i, None, False)]
        self.assertSeen(expected)

    # options and lifecycle

    def test_non_recursive_reports_direct_children_only(self):
        os.mkdir(self.p("d"))
        touch(self.p("d", "old"))
        self.start(recursive=False)
        touch(self.p("d", "inner"))
        os.unlink(self.p("d", "old"))
        os.mkdir(self.p("e"))
        touch(self.p("e", "inner"))
        touch(self.p("top"))
        self.settle()
        self.assertSeen([("created", "e", None, True), ("created", "top", None, False)])

    def test_root_deleted_is_reported_then_stops(self):
        os.mkdir(self.p("d"))
        touch(self.p("d", "f"))
        self.start()
        shutil.rmtree(self.root)
        self.assertTrue(self.h.pump(lambda: not self.h.running() and self.h.errors))
        self.assertEqual(sorted(self.seen()), sorted([
            ("deleted", "d/f", None, False), ("deleted", "d", None, True),
            ("deleted", ".", None, True)]))
        self.assertEqual(self.seen()[-1], ("deleted", ".", None, True))
        self.assertEqual(len(self.h.errors), 1)
        self.assertTrue(self.h.errors[0].matches(Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND),
                        self.h.errors[0])
        # Nothing after: the tree is recreated at the same path.
        n = len(self.h.events)
        os.mkdir(self.root)
        touch(self.p("again"))
        self.h.pump(lambda: False, 0.3)
        self.assertEqual(len(self.h.events), n)

    def test_root_moved_is_reported_then_stops(self):
        self.start()
        os.rename(self.root, self.root + "-moved")
        try:
            self.assertTrue(self.h.pump(lambda: not self.h.running() and self.h.errors))
            self.assertEqual(self.seen(), [("deleted", ".", None, True)])
            self.assertTrue(self.h.errors[0].matches(Gio.io_error_quark(),
                                                     Gio.IOErrorEnum.NOT_FOUND))
        finally:
            os.rename(self.root + "-moved", self.root)

    def test_root_given_as_a_link_reports_the_link_path(self):
        os.mkdir(self.p("real"))
        os.symlink("real", self.p("link"))
        link = self.p("link")
        self.h.start(link)
        touch(self.p("real", "a"))
        os.mkdir(self.p("real", "d"))
        barrier = os.path.join(link, "d")
        self.assertTrue(self.h.pump(lambda: any(e.src_path == barrier for e in self.h.events)),
                        self.h.events)
        self.assertEqual([(e.event_type, e.src_path) for e in self.h.events
                          if e.event_type in STRUCTURAL],
                         [("created", os.path.join(link, "a")), ("created", barrier)])

    def test_access_events_only_when_asked_and_only_for_files(self):
        write(self.p("a"))
        os.mkdir(self.p("d"))
        self.start(access_events=True)
        with open(self.p("a"), "rb") as f:
            f.read()
        os.listdir(self.p("d"))
        self.settle()
        self.assertEqual(self.seen(("opened", "closed-no-write")),
                         [("opened", "a", None, False), ("closed-no-write", "a", None, False)])

    # docs/semantics.md: `opened` and `closed-no-write` are "only for files
    # (every directory listing, including our own, opens directories)"; the
    # root directory's own were reported (the start's own read included)
    # until da20e19 on main.
    def test_access_events_never_for_the_root_directory(self):
        self.start(access_events=True)
        os.listdir(self.root)
        self.settle()
        self.assertEqual(self.seen(), [])

    def test_no_access_events_by_default(self):
        write(self.p("a"))
        self.start()
        with open(self.p("a"), "rb") as f:
            f.read()
        self.settle()
        self.assertEqual(self.seen(), [])

    def test_filter_reports_a_move_when_either_end_passes(self):
        touch(self.p("a.txt"))
        touch(self.p("b.log"))
        self.start(filter=Hk.Filter(ignore_patterns=["*.log"]))
        os.rename(self.p("a.txt"), self.p("a.log"))     # into an ignored name
        os.rename(self.p("b.log"), self.p("b.txt"))     # out of one
        os.rename(self.p("a.log"), self.p("c.log"))     # between ignored names
        touch(self.p("a.log"))
        self.settle()
        self.assertEqual(self.seen(), [("moved", "a.txt", "a.log", False),
                                       ("moved", "b.log", "b.txt", False)])

    def test_two_watchers_of_one_tree_each_see_each_event_once(self):
        # watchdog's observer: several watches of one path, several handlers.
        os.mkdir(self.p("sub"))
        other = self.harness_class(sharing=self.h)
        nested = self.harness_class(sharing=self.h)
        try:
            self.start()
            other.start(self.root)
            nested.start(self.p("sub"))
            touch(self.p("sub", "f"))
            os.rename(self.p("sub", "f"), self.p("g"))
            self.settle()
            self.assertTrue(self.h.pump(lambda: any(BARRIER in e.src_path for e in other.events)))
            self.assertTrue(self.h.pump(lambda: any(e.event_type == "deleted"
                                                    for e in nested.events)))
            expected = [("created", "sub/f", None, False), ("moved", "sub/f", "g", False)]
            self.assertSeen(expected)
            self.h.events = other.events
            self.assertSeen(expected)
            # For the watcher of sub, g is outside: the move is a deletion.
            self.h.events = [e for e in nested.events]
            self.assertSeen([("created", "sub/f", None, False), ("deleted", "sub/f", None, False)])
        finally:
            other.close()
            nested.close()

    def test_file_root_sees_an_editor_save_and_nothing_else(self):
        # docs/semantics.md: a file as root; a save by rename is deleted +
        # created of the name.
        path = self.p("f.txt")
        write(path, b"old")
        self.start(path=path)
        write(path + ".tmp", b"new")
        os.rename(path + ".tmp", path)
        write(self.p("other"))
        with open(path, "ab") as f:
            f.write(b"more")
        self.assertTrue(self.h.pump(lambda: any(e.event_type == "closed" for e in self.h.events)))
        self.assertEqual(self.seen(), [("deleted", "f.txt", None, False),
                                       ("created", "f.txt", None, False),
                                       ("modified", "f.txt", None, False),
                                       ("closed", "f.txt", None, False)])

    def test_hard_link_is_the_new_name_only(self):
        touch(self.p("a"))
        self.start()
        os.link(self.p("a"), self.p("b"))
        os.unlink(self.p("b"))
        self.settle()
        self.assertEqual(self.seen(), [("created", "b", None, False), ("deleted", "b", None, False)])

    def test_symlink_created_and_removed(self):
        os.mkdir(self.p("d"))
        self.start()
        os.symlink("/nonexistent", self.p("dangling"))
        os.symlink("d", self.p("to-dir"))
        os.unlink(self.p("dangling"))
        os.unlink(self.p("to-dir"))
        self.settle()
        # Links are not followed: a link to a directory is not a directory.
        self.assertSeen([("created", "dangling", None, False), ("created", "to-dir", None, False),
                         ("deleted", "dangling", None, False), ("deleted", "to-dir", None, False)])

    def test_paths_are_absolute_str(self):
        touch(self.p("a"))
        self.start()
        os.rename(self.p("a"), self.p("b"))
        self.settle()
        for event in self.h.events:
            self.assertIsInstance(event.src_path, str)
            self.assertTrue(os.path.isabs(event.src_path))
            if event.event_type == "moved":
                self.assertIsInstance(event.dest_path, str)
                self.assertTrue(os.path.isabs(event.dest_path))
            else:
                self.assertIsNone(event.dest_path)

    def test_relative_root_with_trailing_slashes_gives_absolute_paths(self):
        os.mkdir(self.p("sub"))
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            self.start(path="sub//")
        finally:
            os.chdir(cwd)
        touch(self.p("sub", "a"))
        self.settle_in("sub")
        self.assertEqual(self.seen(["created"]), [("created", "sub/a", None, False)])

    def settle_in(self, sub):
        """settle() for a watchdog whose root is @sub."""
        barrier = self.p(sub, BARRIER + "x")
        os.mkdir(barrier)
        self.assertTrue(self.h.pump(lambda: any(e.src_path == barrier for e in self.h.events)),
                        self.h.events)
        self.h.events = [e for e in self.h.events if e.src_path != barrier]

    def test_stop_then_no_more_calls(self):
        self.start()
        touch(self.p("before"))
        self.settle()
        # Events read but not delivered yet when stop() comes are dropped.
        touch(self.p("queued"))
        time.sleep(0.05)
        self.h.stop()
        n = len(self.h.events)
        touch(self.p("after"))
        os.mkdir(self.p("after-dir"))
        self.h.pump(lambda: False, 0.3)
        self.assertEqual(len(self.h.events), n)
        self.assertFalse(self.h.running())

    def test_start_twice_reports_once(self):
        self.start()
        self.h.start_again()
        touch(self.p("a"))
        self.settle()
        self.assertSeen([("created", "a", None, False)])

    def test_stop_and_start_again(self):
        self.start()
        self.h.stop()
        touch(self.p("while-stopped"))
        self.h.start_again()
        touch(self.p("a"))
        self.settle()
        self.assertSeen([("created", "a", None, False)])

    def test_non_utf8_names(self):
        root = os.fsencode(self.root)
        self.start()
        touch(os.path.join(root, b"bad\xff"))
        os.rename(os.path.join(root, b"bad\xff"), os.path.join(root, b"worse\xfe\n"))
        os.mkdir(os.path.join(root, b"dir\xff"))
        os.unlink(os.path.join(root, b"worse\xfe\n"))
        self.settle()
        events = [(e.event_type, os.fsencode(e.src_path),
                   None if e.dest_path is None else os.fsencode(e.dest_path))
                  for e in self.h.events
                  if e.event_type in STRUCTURAL and BARRIER not in e.src_path]
        self.assertEqual(events, [
            ("created", os.path.join(root, b"bad\xff"), None),
            ("moved", os.path.join(root, b"bad\xff"), os.path.join(root, b"worse\xfe\n")),
            ("created", os.path.join(root, b"dir\xff"), None),
            ("deleted", os.path.join(root, b"worse\xfe\n"), None),
        ])

    def test_non_utf8_root(self):
        root = os.path.join(os.fsencode(self.root), b"r\xff")
        os.mkdir(root)
        self.h.start(root)
        touch(os.path.join(root, b"f"))
        self.assertTrue(self.h.pump(lambda: any(e.event_type == "created" for e in self.h.events)))
        self.assertEqual(os.fsencode(self.h.events[0].src_path), os.path.join(root, b"f"))


def _tree(root):
    """{relative path: is_directory} of everything under @root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = True
        for name in filenames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = False
    return out


def _apply(model, root, events, anomalies):
    """Applies @events to @model as a consumer would; what cannot apply
    (a created path that exists, a deleted one that does not) goes to
    @anomalies."""
    for event in events:
        path = os.path.relpath(event.src_path, root)
        below = [k for k in model if k == path or k.startswith(path + "/")]
        if event.event_type == "created":
            if path in model:
                anomalies.append(("created twice", path))
            model[path] = event.is_directory
        elif event.event_type == "deleted":
            if path not in model:
                anomalies.append(("deleted unknown", path))
            for k in below:
                del model[k]
        elif event.event_type == "moved":
            dest = os.path.relpath(event.dest_path, root)
            if path not in model or dest in model:
                anomalies.append(("bad move", path, dest))
            for k in below:
                model[dest + k[len(path):]] = model.pop(k)


@unittest.skipUnless(os.environ.get("HK_PEER_RANDOM"),
                     "set HK_PEER_RANDOM=N to run N random sequences per latency")
class RandomOperationsTest(unittest.TestCase):
    """Random bursts of creations, renames (in, out, over, across),
    deletions and writes, as fast as Python makes them; the events applied
    to a model of the tree must give the tree on disk. Not run by meson: on
    main since 3da9f07, seed 135 at latency 0 (HK_PEER_RANDOM=135,135) makes
    the worker loop for ever in hk_dir_path() (a directory moved under
    itself in the snapshot) and the process cannot exit; before b8bc5cf a
    few seeds in a hundred lost events."""

    NAMES = ("a", "b", "c", "d")

    def run_sequence(self, seed, latency, n_ops=60):
        rnd = random.Random(seed)
        root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-random-"))
        outside = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-random-out-"))
        try:
            for i in range(3):
                os.makedirs(os.path.join(root, "s%d" % i, "t"))
                touch(os.path.join(root, "s%d" % i, "f"))
            model = _tree(root)
            harness = GLibHarness()
            harness.start(root, latency=latency)
            for n in range(n_ops):
                self.random_operation(rnd, root, outside, n)
            barrier = os.path.join(root, BARRIER)
            os.mkdir(barrier)
            self.assertTrue(harness.pump(lambda: any(e.src_path == barrier for e in harness.events)))
            harness.close()
            anomalies = []
            _apply(model, root, harness.events, anomalies)
            return model == _tree(root) and not anomalies and harness.overflows == 0
        finally:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(outside, ignore_errors=True)

    def random_operation(self, rnd, root, outside, n):
        tree = _tree(root)
        dirs = [""] + [k for k, is_dir in tree.items() if is_dir]
        new_name = os.path.join(rnd.choice(dirs), rnd.choice(self.NAMES))
        existing = rnd.choice(sorted(tree)) if tree else None
        op = rnd.choice(["touch", "mkdir", "rename", "rename", "rm", "out", "in", "write"])
        try:
            if op == "touch":
                touch(os.path.join(root, new_name))
            elif op == "write" and existing is not None and not tree[existing]:
                with open(os.path.join(root, existing), "ab") as f:
                    f.write(b"x")
            elif op == "mkdir":
                os.mkdir(os.path.join(root, new_name))
            elif op == "rename" and existing is not None:
                os.rename(os.path.join(root, existing), os.path.join(root, new_name))
            elif op == "rm" and existing is not None:
                path = os.path.join(root, existing)
                if tree[existing]:
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            elif op == "out" and existing is not None:
                os.rename(os.path.join(root, existing), os.path.join(outside, "o%d" % n))
            elif op == "in":
                source = os.path.join(outside, "i%d" % n)
                if rnd.random() < 0.5:
                    os.makedirs(os.path.join(source, "x"))
                else:
                    touch(source)
                os.rename(source, os.path.join(root, new_name))
        except OSError:
            pass   # the random choice did not fit (a file as a parent, a full directory)

    def test_random_sequences(self):
        # HK_PEER_RANDOM=N: seeds 0 to N-1; HK_PEER_RANDOM=135,7: those seeds.
        value = os.environ["HK_PEER_RANDOM"]
        seeds = [int(x) for x in value.split(",")] if "," in value else range(int(value))
        for latency in (0, 100):
            failed = [seed for seed in seeds if not self.run_sequence(seed, latency)]
            self.assertEqual(failed, [], "latency %d" % latency)


class HostileRootTest(unittest.TestCase):
    """Odd roots given to AIOWatchdog: an OSError a Python user expects, or
    a working watch."""

    def setUp(self):
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-peer-"))
        self.loop = new_loop()

    def tearDown(self):
        self.loop.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, path):
        watch = AIOWatchdog(path, loop=self.loop)
        watch.start()
        watch.stop()

    def test_empty_path_is_not_found(self):
        # As os.stat(""): it used to say "only local files can be watched".
        with self.assertRaises(FileNotFoundError) as raised:
            self.start("")
        self.assertEqual(raised.exception.errno, errno.ENOENT)

    def test_missing_paths_are_not_found(self):
        for path in (os.path.join(self.root, "nope"), os.path.join(self.root, "nl\nnope"),
                     os.path.join(os.fsencode(self.root), b"\xff")):
            with self.subTest(path=path), self.assertRaises(FileNotFoundError):
                self.start(path)

    def test_file_and_fifo_roots_are_watched(self):
        touch(os.path.join(self.root, "file"))
        os.mkfifo(os.path.join(self.root, "fifo"))
        for name in ("file", "fifo"):
            with self.subTest(name=name):
                self.start(os.path.join(self.root, name))


class SinceTimestampTest(unittest.TestCase):
    """Events of a watchdog started with a `since` snapshot."""

    def setUp(self):
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-peer-"))

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    # Hk.Event.get_timestamp() is "in the clock of g_get_monotonic_time()";
    # the difference from `since` was stamped with g_get_real_time() until
    # b8bc5cf on main, so `hachiko log --since` printed those events at a
    # wrong time of day (and --json about 56 years ahead).
    def test_since_events_have_monotonic_timestamps(self):
        since = Hk.Snapshot.take(Gio.File.new_for_path(self.root), None, None)
        touch(os.path.join(self.root, "new"))
        watchdog = Hk.Watchdog(self.root)
        watchdog.set_since(since)
        events = []
        watchdog.connect("event", lambda wd, event: events.append(event))
        before = GLib.get_monotonic_time()
        watchdog.start(None)
        context = GLib.MainContext.default()
        deadline = time.monotonic() + TIMEOUT
        while not events and time.monotonic() < deadline:
            context.iteration(False) or time.sleep(0.005)
        after = GLib.get_monotonic_time()
        watchdog.stop()
        self.assertEqual([(e.event_type, e.is_synthetic) for e in events], [("created", True)])
        self.assertTrue(before <= events[0].timestamp <= after,
                        (before, events[0].timestamp, after))


class AioPeerTest(PeerTests, unittest.TestCase):
    harness_class = AioHarness


class GLibPeerTest(PeerTests, unittest.TestCase):
    harness_class = GLibHarness


if __name__ == "__main__":
    unittest.main(verbosity=2)
