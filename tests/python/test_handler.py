# test_handler.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Hk.EventHandler subclassed from Python, through PyGObject.

Run with the build directory of hachiko in GI_TYPELIB_PATH and
LD_LIBRARY_PATH:

    GI_TYPELIB_PATH=_build/hachiko LD_LIBRARY_PATH=_build/hachiko \\
        /usr/bin/python3 tests/python/test_handler.py
"""

import os
import shutil
import tempfile
import time
import unittest

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Hk", "1")
from gi.repository import GLib, Gio, GObject, Hk  # noqa: E402

TIMEOUT = 5.0

NICKS = {
    Hk.EventType.CREATED: "created",
    Hk.EventType.DELETED: "deleted",
    Hk.EventType.MODIFIED: "modified",
    Hk.EventType.MOVED: "moved",
    Hk.EventType.ATTRIBUTE_CHANGED: "attribute-changed",
    Hk.EventType.CLOSED: "closed",
    Hk.EventType.OPENED: "opened",
    Hk.EventType.CLOSED_NO_WRITE: "closed-no-write",
}


class Recorder(Hk.EventHandler):
    """Logs every call as "[tag]method relative-path"."""

    def __init__(self, log, root="", tag="", **kwargs):
        super().__init__(**kwargs)
        self.log = log
        self.root = root
        self.tag = tag

    def _relative(self, path):
        if path is not None and self.root and path.startswith(self.root + "/"):
            return path[len(self.root) + 1:]
        return path

    def _add(self, method, event):
        line = "%s%s %s" % (self.tag, method, self._relative(event.get_path()))
        if event.get_dest_path() is not None:
            line += " -> " + self._relative(event.get_dest_path())
        self.log.append(line)

    def do_on_any_event(self, event):
        self._add("any:" + NICKS[event.get_event_type()], event)

    def do_on_created(self, event):
        self._add("created", event)

    def do_on_deleted(self, event):
        self._add("deleted", event)

    def do_on_modified(self, event):
        self._add("modified", event)

    def do_on_moved(self, event):
        self._add("moved", event)

    def do_on_attribute_changed(self, event):
        self._add("attribute-changed", event)

    def do_on_closed(self, event):
        self._add("closed", event)

    def do_on_opened(self, event):
        self._add("opened", event)

    def do_on_closed_no_write(self, event):
        self._add("closed-no-write", event)


class OnlyCreated(Hk.EventHandler):
    """Overrides one method: the others keep doing nothing."""

    def __init__(self):
        super().__init__()
        self.created = []

    def do_on_created(self, event):
        self.created.append(event.get_path())


def wait_until(condition, timeout=TIMEOUT):
    """Iterates the default main context until condition() or timeout."""
    context = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    timed_out = []
    source = GLib.timeout_add(int(timeout * 1000), lambda: timed_out.append(True))
    try:
        while not condition() and not timed_out and time.monotonic() < deadline:
            context.iteration(True)
    finally:
        if not timed_out:
            GLib.source_remove(source)
    return condition()


def drain(seconds):
    """Dispatches whatever comes for a while, so late events show up."""
    wait_until(lambda: False, seconds)


def write(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)


class DispatchTest(unittest.TestCase):
    def test_any_then_specific(self):
        log = []
        handler = Recorder(log)
        for event_type, nick in NICKS.items():
            dest = "/r/g" if event_type == Hk.EventType.MOVED else None
            event = Hk.Event.new(event_type, "/r/f", dest, False, False, 0)
            del log[:]
            handler.dispatch(event)
            suffix = " -> /r/g" if dest else ""
            self.assertEqual(log, ["any:%s /r/f%s" % (nick, suffix), "%s /r/f%s" % (nick, suffix)])

    def test_defaults_do_nothing(self):
        base = Hk.EventHandler()
        partial = OnlyCreated()
        for event_type in NICKS:
            event = Hk.Event.new(event_type, "/r/f", None, False, False, 0)
            base.dispatch(event)
            partial.dispatch(event)
        self.assertEqual(partial.created, ["/r/f"])

    def test_filter_property(self):
        handler = Recorder([])
        self.assertIsNone(handler.props.filter)
        notified = []
        handler.connect("notify::filter", lambda *args: notified.append(True))
        flt = Hk.Filter()
        handler.props.filter = flt
        self.assertIs(handler.get_filter(), flt)
        self.assertEqual(len(notified), 1)
        handler.set_filter(flt)
        self.assertEqual(len(notified), 1)
        handler.set_filter(None)
        self.assertIsNone(handler.get_filter())
        # And at construction.
        self.assertIs(Recorder([], filter=flt).get_filter(), flt)


class WatchdogTest(unittest.TestCase):
    def setUp(self):
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-py-"))
        self.watchdog = Hk.Watchdog.new(Gio.File.new_for_path(self.root))
        self.log = []

    def tearDown(self):
        self.watchdog.stop()
        self.watchdog = None
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.root, name)

    def add(self, tag=""):
        handler = Recorder(self.log, self.root, tag)
        self.watchdog.add_handler(handler)
        return handler

    def wait_for(self, line):
        if not wait_until(lambda: line in self.log):
            self.fail("%r never came; the log: %r" % (line, self.log))

    def test_order_on_a_watchdog(self):
        self.add()
        self.watchdog.connect("event", lambda wd, event:
                              self.log.append("signal:%s" % NICKS[event.get_event_type()]))
        self.watchdog.start(None)
        write(self.path("f"))
        self.wait_for("closed f")
        self.assertEqual(self.log[:3], ["signal:created", "any:created f", "created f"])
        self.assertEqual(self.log[-3:], ["signal:closed", "any:closed f", "closed f"])

    def test_every_method(self):
        self.add()
        self.watchdog.props.access_events = True
        self.watchdog.start(None)
        write(self.path("f"))
        self.wait_for("closed f")
        with open(self.path("f"), "rb") as f:
            f.read()
        self.wait_for("closed-no-write f")
        os.chmod(self.path("f"), 0o600)
        self.wait_for("attribute-changed f")
        os.rename(self.path("f"), self.path("g"))
        self.wait_for("moved f -> g")
        os.unlink(self.path("g"))
        self.wait_for("deleted g")
        for line in ("created f", "opened f", "modified f", "any:moved f -> g", "any:deleted g"):
            self.assertIn(line, self.log)

    def test_several_in_order(self):
        self.add("1:")
        self.add("2:")
        self.watchdog.start(None)
        os.mkdir(self.path("d"))
        self.wait_for("2:created d")
        self.assertEqual(self.log, ["1:any:created d", "1:created d", "2:any:created d", "2:created d"])

    def test_filter_per_handler(self):
        texts = self.add("txt:")
        self.add("all:")
        flt = Hk.Filter()
        flt.add_pattern("*.txt")
        texts.props.filter = flt
        self.watchdog.start(None)
        write(self.path("a.log"))
        write(self.path("b.txt"))
        write(self.path("last"))
        self.wait_for("all:closed last")
        self.assertIn("all:created a.log", self.log)
        self.assertIn("txt:created b.txt", self.log)
        self.assertFalse([line for line in self.log if line.startswith("txt:") and "b.txt" not in line])

    def test_remove_handler(self):
        removed = self.add("removed:")
        self.add("kept:")
        self.watchdog.start(None)
        write(self.path("f"))
        self.wait_for("removed:created f")
        self.watchdog.remove_handler(removed)
        self.watchdog.remove_handler(Hk.EventHandler())  # never added: nothing
        write(self.path("g"))
        self.wait_for("kept:closed g")
        drain(0.05)
        self.assertFalse([line for line in self.log if line.startswith("removed:") and " g" in line])

    def test_handler_kept_alive(self):
        # The watchdog holds a reference: a handler needs no other owner.
        self.watchdog.add_handler(Recorder(self.log, self.root))
        self.watchdog.start(None)
        write(self.path("f"))
        self.wait_for("created f")

    def test_latency_merges(self):
        self.add()
        self.watchdog.props.latency = 50
        self.watchdog.start(None)
        write(self.path("f"))
        self.wait_for("created f")
        drain(0.2)
        self.assertEqual(self.log, ["any:created f", "created f"])

    def test_batch_signal(self):
        batches = []
        self.add()
        self.watchdog.props.latency = 50
        self.watchdog.connect("batch", lambda wd, events: batches.append(
            ([e.get_path() for e in events], len(self.log))))
        self.watchdog.start(None)
        write(self.path("f"))
        write(self.path("g"))
        self.wait_for("created g")
        self.assertEqual(len(batches), 1)
        paths, log_length_then = batches[0]
        self.assertEqual(paths, [self.path("f"), self.path("g")])
        self.assertEqual(log_length_then, 0)  # before any handler ran


if __name__ == "__main__":
    unittest.main(verbosity=2)
