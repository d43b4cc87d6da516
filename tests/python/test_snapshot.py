# test_snapshot.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Hk.Snapshot through PyGObject: take, save, load, diff, lookup.

Run with the build directory of hachiko in GI_TYPELIB_PATH and
LD_LIBRARY_PATH:

    GI_TYPELIB_PATH=_build/hachiko LD_LIBRARY_PATH=_build/hachiko \\
        /usr/bin/python3 tests/python/test_snapshot.py
"""

import os
import shutil
import tempfile
import unittest

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Hk", "1")
from gi.repository import GLib, Gio, Hk  # noqa: E402

TIMEOUT_MS = 30000


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-py-snapshot-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        os.makedirs(os.path.join(self.root, "src", "lib"))
        write(os.path.join(self.root, "src", "main.c"), "int main;\n")
        write(os.path.join(self.root, "src", "lib", "a.c"), "a")
        write(os.path.join(self.root, "README"), "hello")

    def path(self, relative):
        return os.path.join(self.root, relative)

    def take(self, filter=None):
        return Hk.Snapshot.take(Gio.File.new_for_path(self.root), filter, None)

    def describe(self, events):
        lines = []
        for event in events:
            line = "%s %s" % (
                event.get_event_type().value_nick,
                os.path.relpath(event.get_path(), self.root),
            )
            if event.get_dest_path() is not None:
                line += " -> " + os.path.relpath(event.get_dest_path(), self.root)
            lines.append(line)
        return lines

    def test_take_save_load_round_trip(self):
        snapshot = self.take()
        self.assertEqual(snapshot.get_n_entries(), 5)
        self.assertEqual(snapshot.props.n_entries, 5)
        self.assertEqual(snapshot.get_root().get_path(), self.root)
        self.assertGreater(snapshot.get_taken_at(), 0)

        file = Gio.File.new_for_path(self.root + ".snapshot")
        self.addCleanup(lambda: os.path.exists(file.get_path()) and os.unlink(file.get_path()))
        self.assertTrue(snapshot.save(file, None))
        loaded = Hk.Snapshot.load(file, None)
        self.assertEqual(loaded.get_n_entries(), 5)
        self.assertEqual(loaded.get_taken_at(), snapshot.get_taken_at())
        self.assertEqual(list(snapshot.diff(loaded)), [])

    def test_lookup_gives_kind_size_mtime_inode(self):
        snapshot = self.take()
        st = os.stat(self.path("src/main.c"))
        found, file_type, size, mtime_us, inode = snapshot.lookup("src/main.c")
        self.assertTrue(found)
        self.assertEqual(file_type, Gio.FileType.REGULAR)
        self.assertEqual(size, 10)
        self.assertEqual(mtime_us, st.st_mtime_ns // 1000)
        self.assertEqual(inode, st.st_ino)
        found, file_type, _, _, _ = snapshot.lookup("src/lib")
        self.assertTrue(found)
        self.assertEqual(file_type, Gio.FileType.DIRECTORY)
        self.assertFalse(snapshot.lookup("missing")[0])

    def test_diff_reports_moves_creations_deletions(self):
        before = self.take()
        os.rename(self.path("src"), self.path("source"))
        write(self.path("source/new.c"), "n")
        os.unlink(self.path("README"))
        after = self.take()
        events = before.diff(after)
        self.assertTrue(all(e.get_is_synthetic() for e in events))
        self.assertEqual(self.describe(events), [
            "deleted README",
            "moved src -> source",
            "created source/new.c",
        ])

    def test_filter_leaves_out_ignored(self):
        hk_filter = Hk.Filter.new()
        hk_filter.add_ignore_pattern("lib/")
        snapshot = self.take(hk_filter)
        self.assertFalse(snapshot.lookup("src/lib")[0])
        self.assertEqual(snapshot.get_n_entries(), 3)

    def test_default_constructed_snapshot_is_empty_and_safe(self):
        empty = Hk.Snapshot()
        self.assertEqual(empty.get_n_entries(), 0)
        self.assertTrue(empty.lookup("")[0])
        self.assertFalse(empty.lookup("x")[0])
        events = empty.diff(self.take())
        self.assertEqual(len(events), 5)
        self.assertTrue(all(e.get_event_type() == Hk.EventType.CREATED for e in events))

    def test_corrupt_file_is_a_gerror(self):
        path = self.root + ".bad"
        self.addCleanup(os.unlink, path)
        good = Gio.File.new_for_path(self.root + ".good")
        self.addCleanup(lambda: os.unlink(good.get_path()))
        self.take().save(good, None)
        with open(good.get_path(), "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaises(GLib.Error) as raised:
            Hk.Snapshot.load(Gio.File.new_for_path(path), None)
        self.assertTrue(raised.exception.matches(Gio.io_error_quark(), Gio.IOErrorEnum.INVALID_DATA))

    def test_take_async_and_cancel(self):
        loop = GLib.MainLoop()
        results = []

        def done(source, result, data=None):
            try:
                results.append(Hk.Snapshot.take_finish(result))
            except GLib.Error as e:
                results.append(e)
            loop.quit()

        timeout = GLib.timeout_add(TIMEOUT_MS, loop.quit)
        Hk.Snapshot.take_async(Gio.File.new_for_path(self.root), None, None, done)
        loop.run()
        cancellable = Gio.Cancellable()
        cancellable.cancel()
        Hk.Snapshot.take_async(Gio.File.new_for_path(self.root), None, cancellable, done)
        loop.run()
        GLib.source_remove(timeout)

        self.assertEqual(len(results), 2)
        self.assertIsInstance(results[0], Hk.Snapshot)
        self.assertEqual(results[0].get_n_entries(), 5)
        self.assertIsInstance(results[1], GLib.Error)
        self.assertTrue(results[1].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED))


if __name__ == "__main__":
    unittest.main(verbosity=2)
