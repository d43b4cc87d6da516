#!/usr/bin/python3
# test-tool-snapshot.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs `hachiko snapshot save` and `hachiko snapshot diff` (the built
# binary) against temporary trees.
#
#   HACHIKO_TOOL=path/to/hachiko /usr/bin/python3 tests/test-tool-snapshot.py [-v]

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOOL = os.environ.get("HACHIKO_TOOL")
TIMEOUT = 60


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def run(*args):
    return subprocess.run([TOOL, "snapshot", *args], capture_output=True, timeout=TIMEOUT)


class SnapshotToolTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-tool-snapshot-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.tree = os.path.join(self.root, "tree")
        self.file = os.path.join(self.root, "tree.snapshot")
        os.makedirs(os.path.join(self.tree, "src", "lib"))
        os.makedirs(os.path.join(self.tree, ".git"))
        for rel, text in [("src/main.c", "main"), ("src/lib/a.c", "a"), ("notes", "n"),
                          (".git/HEAD", "ref")]:
            self.write(rel, text)

    def path(self, rel):
        return os.path.join(self.tree, rel)

    def write(self, rel, text):
        with open(self.path(rel), "w") as f:
            f.write(text)

    def save(self, *extra):
        result = run(*extra, "save", self.tree, self.file)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def diff_lines(self, *extra):
        result = run(*extra, "diff", self.file)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.decode("utf-8", "surrogateescape").splitlines()

    def test_diff_reports_every_kind_of_change(self):
        self.save()
        os.rename(self.path("src"), self.path("source"))
        self.write("source/new.c", "new")
        os.unlink(self.path("notes"))
        with open(self.path("source/main.c"), "a") as f:
            f.write(" grown")
        t = self.tree
        self.assertEqual(self.diff_lines(), [
            f"deleted {t}/notes",
            f"moved {t}/src/ -> {t}/source/",
            f"modified {t}/source/main.c",
            f"created {t}/source/new.c",
        ])

    def test_diff_without_changes_prints_nothing(self):
        self.save()
        self.assertEqual(self.diff_lines(), [])

    def test_diff_json_lines_like_log(self):
        self.save()
        name = b"bad\xff\n"
        with open(os.path.join(os.fsencode(self.tree), name), "w") as f:
            f.write("x")
        os.rename(self.path("notes"), self.path("renamed"))
        records = [json.loads(line) for line in self.diff_lines("--json")]
        self.assertEqual([r["type"] for r in records], ["created", "moved"])
        created, moved = records
        self.assertEqual(base64.b64decode(created["path_bytes"]),
                         os.path.join(os.fsencode(self.tree), name))
        self.assertEqual(moved["path"], self.path("notes"))
        self.assertEqual(moved["dest"], self.path("renamed"))
        for r in records:
            self.assertTrue(r["synthetic"])
            self.assertFalse(r["is_directory"])
            self.assertIsInstance(r["timestamp"], float)

    def test_diff_against_another_directory(self):
        self.save()
        other = os.path.join(self.root, "copy")
        shutil.copytree(self.tree, other)
        result = run("diff", self.file, other)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.decode().splitlines()
        # Copies are other inodes: everything is deleted and created again.
        self.assertIn(f"created {other}/src/", lines)
        self.assertIn(f"deleted {other}/notes", lines)

    def test_default_ignores_and_filter_options(self):
        self.save("--ignore", "lib/")
        self.write(".git/HEAD", "changed ref")
        self.write("src/lib/b.c", "b")
        self.write("src/c.c", "c")
        self.assertEqual(self.diff_lines("--ignore", "lib/"), [f"created {self.tree}/src/c.c"])

    def test_pattern_and_event_options_filter_the_output(self):
        self.save("--pattern", "*.c")
        os.makedirs(self.path("src/newdir"))
        self.write("src/newdir/x.c", "x")
        self.write("src/newdir/x.h", "h")
        os.unlink(self.path("src/lib/a.c"))
        self.assertEqual(self.diff_lines("--pattern", "*.c"), [
            f"deleted {self.tree}/src/lib/a.c",
            f"created {self.tree}/src/newdir/x.c",
        ])
        self.assertEqual(self.diff_lines("--pattern", "*.c", "--event", "created"), [
            f"created {self.tree}/src/newdir/x.c",
        ])

    def test_save_replaces_the_file(self):
        self.save()
        first = read_bytes(self.file)
        self.write("more", "m")
        self.save()
        self.assertNotEqual(read_bytes(self.file), first)
        self.assertEqual(self.diff_lines(), [])
        leftovers = [n for n in os.listdir(self.root) if n not in ("tree", "tree.snapshot")]
        self.assertEqual(leftovers, [])

    def test_corrupt_and_missing_files_fail(self):
        self.save()
        data = read_bytes(self.file)
        with open(self.file, "wb") as f:
            f.write(data[:-3])
        result = run("diff", self.file)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"truncated", result.stderr)
        result = run("diff", os.path.join(self.root, "missing"))
        self.assertEqual(result.returncode, 1)
        result = run("save", os.path.join(self.root, "missing"), self.file)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"missing", result.stderr)

    def test_usage_errors(self):
        for args in [(), ("frobnicate",), ("save", self.tree), ("diff",),
                     ("diff", "a", "b", "c"), ("--bogus", "save", self.tree, self.file)]:
            result = run(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertTrue(result.stderr.startswith(b"hachiko snapshot: "), result.stderr)



class LogSinceSaveTest(unittest.TestCase):
    """`hachiko log --save FILE` on exit, `--since FILE` at the next start."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-tool-since-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.tree = os.path.join(self.root, "tree")
        self.file = os.path.join(self.root, "saved")
        os.makedirs(self.tree)
        for name in ("gone", "old", "same"):
            with open(os.path.join(self.tree, name), "w") as f:
                f.write(name)

    def log_until_ready(self, *args):
        """Runs `hachiko log`, waits for "ready", then SIGINT; returns stdout lines."""
        proc = subprocess.Popen([TOOL, "log", *args, self.tree],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for line in proc.stderr:
                if line.strip() == b"ready":
                    break
            proc.send_signal(2)
            out, _ = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return proc.returncode, out.decode("utf-8", "surrogateescape").splitlines()

    def test_since_reports_what_changed_while_not_running(self):
        code, _ = self.log_until_ready("--save", self.file)
        self.assertEqual(code, 130)
        self.assertTrue(os.path.getsize(self.file) > 0)

        os.unlink(os.path.join(self.tree, "gone"))
        os.rename(os.path.join(self.tree, "old"), os.path.join(self.tree, "new"))
        with open(os.path.join(self.tree, "added"), "w") as f:
            f.write("x")

        code, lines = self.log_until_ready("--since", self.file)
        self.assertEqual(code, 130)
        events = [" ".join(line.split(" ")[1:]) for line in lines]
        tree = self.tree
        self.assertIn(f"deleted {tree}/gone (synthetic)", events)
        self.assertIn(f"moved {tree}/old -> {tree}/new (synthetic)", events)
        self.assertIn(f"created {tree}/added (synthetic)", events)
        self.assertFalse(any("same" in e for e in events), events)
        self.assertEqual(len(events), 3, events)

    def test_since_needs_one_path_and_a_readable_file(self):
        result = subprocess.run([TOOL, "log", "--since", self.file, self.tree],
                                capture_output=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 1, result.stderr)
        other = os.path.join(self.root, "other")
        os.mkdir(other)
        result = subprocess.run([TOOL, "log", "--save", self.file, self.tree, other],
                                capture_output=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 2, result.stderr)

if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
        TOOL = sys.argv.pop(1)
    if TOOL is None:
        sys.exit("set HACHIKO_TOOL to the hachiko binary")
    unittest.main()
