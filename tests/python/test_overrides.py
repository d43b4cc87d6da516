#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The PyGObject overrides for Hk (python/gi/overrides/Hk.py), found through
# gi.overrides' extended __path__ (PYTHONPATH set by meson test).

import os
import pathlib
import unittest

import gi

gi.require_version("Hk", "1")
gi.require_version("Gio", "2.0")
from gi.repository import GLib, Gio, Hk  # noqa: E402


class OverridesTest(unittest.TestCase):
    def test_overrides_are_loaded_from_the_tree(self):
        self.assertEqual(Hk.Event.__module__, "gi.overrides.Hk")

    def test_watchdog_from_str_bytes_pathlike_or_file(self):
        for path in ("/tmp", b"/tmp", pathlib.Path("/tmp"), Gio.File.new_for_path("/tmp")):
            watchdog = Hk.Watchdog(path)
            self.assertEqual(watchdog.get_root().get_path(), "/tmp")
            self.assertEqual(watchdog.path, "/tmp")
        self.assertEqual(repr(Hk.Watchdog("/tmp")), "<Hk.Watchdog '/tmp' stopped>")
        # The plain constructor and properties keep working.
        self.assertEqual(Hk.Watchdog.new(Gio.File.new_for_path("/")).path, "/")
        watchdog = Hk.Watchdog(root=Gio.File.new_for_path("/tmp"), recursive=False, latency=30)
        self.assertFalse(watchdog.props.recursive)
        self.assertEqual(watchdog.props.latency, 30)

    def test_watchdog_filter_from_a_list(self):
        watchdog = Hk.Watchdog("/tmp", filter=["*.py", "*.txt"])
        flt = watchdog.props.filter
        self.assertTrue(flt.matches("a/b.py", False))
        self.assertTrue(flt.matches("b.txt", False))
        self.assertFalse(flt.matches("b.c", False))

    def test_filter_from_lists(self):
        flt = Hk.Filter(["*.c"], ignore_patterns=["build/"], ignore_regexes=[r"~$"])
        self.assertTrue(flt.matches("src/x.c", False))
        self.assertFalse(flt.matches("build/x.c", False))
        self.assertFalse(flt.matches("x.c~", False))
        self.assertTrue(Hk.Filter().matches("anything", False))
        with self.assertRaises(GLib.Error):
            Hk.Filter(regexes=["("])

    def test_event_attributes(self):
        event = Hk.Event.new(Hk.EventType.MOVED, "/r/a", "/r/b", False, True, 7)
        self.assertEqual(event.event_type, "moved")
        self.assertEqual(event.path, "/r/a")
        self.assertEqual(event.src_path, "/r/a")
        self.assertEqual(event.dest_path, "/r/b")
        self.assertFalse(event.is_directory)
        self.assertTrue(event.is_synthetic)
        self.assertEqual(event.timestamp, 7)
        self.assertEqual(repr(event), "<Hk.Event moved '/r/a' -> '/r/b' synthetic>")

    def test_event_types_are_the_nicks(self):
        for value in Hk.EventType.__enum_values__.values():
            event = Hk.Event.new(value, "/d", None, True, False, 0)
            self.assertEqual(event.event_type, value.value_nick)
        self.assertEqual(repr(Hk.Event("attribute-changed", "/d", is_directory=True)),
                         "<Hk.Event attribute-changed '/d' directory>")

    def test_event_constructor_and_equality(self):
        event = Hk.Event("created", pathlib.Path("/r/x"))
        self.assertEqual(event.get_event_type(), Hk.EventType.CREATED)
        self.assertEqual(event, Hk.Event.new(Hk.EventType.CREATED, "/r/x", None, False, False, 0))
        self.assertNotEqual(event, Hk.Event("deleted", "/r/x"))
        self.assertEqual(len({event, Hk.Event("created", "/r/x")}), 1)


class LoopBridgeTest(unittest.TestCase):
    def test_constructed_either_way_is_ready(self):
        for bridge in (Hk.LoopBridge(), Hk.LoopBridge.new()):
            self.assertGreaterEqual(bridge.get_fd(), 0)
            self.assertEqual(bridge.props.fd, bridge.get_fd())
            self.assertIsInstance(bridge.get_context(), GLib.MainContext)
            self.assertFalse(bridge.dispatch())

    def test_idle_source_dispatched_through_the_fd(self):
        import select
        bridge = Hk.LoopBridge()
        ran = []
        source = GLib.idle_source_new()
        source.set_callback(lambda *args: ran.append(True) or False)
        source.attach(bridge.get_context())
        readable, _, _ = select.select([bridge.get_fd()], [], [], 5)
        self.assertEqual(readable, [bridge.get_fd()])
        self.assertTrue(bridge.dispatch())
        self.assertEqual(ran, [True])
        self.assertEqual(select.select([bridge.get_fd()], [], [], 0.1)[0], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
