#!/usr/bin/python3
# test-tool-hostile.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Hostile inputs against the built `hachiko` command: odd roots, bad
# patterns, hostile names in every output format, symbolic link loops,
# corrupt snapshots. Each must give one clear line of UTF-8 on stderr and the
# documented exit status (docs/tool.md), or the events exactly; no crash, no
# hang.
#
#   HACHIKO_TOOL=_build/tools/hachiko /usr/bin/python3 tests/test-tool-hostile.py -v

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TOOL = os.environ.get("HACHIKO_TOOL")
DEADLINE = 30.0


def remove_deep(root, depth):
    """Removes root/d/d/... @depth levels deep (shutil.rmtree recurses
    once per level, past Python's recursion limit), through the working
    directory: paths that deep are too long to name."""
    cwd = os.open(".", os.O_RDONLY)
    try:
        os.chdir(root)
        levels = 0
        while levels < depth and os.path.isdir("d"):
            os.chdir("d")
            levels += 1
        for _ in range(levels):
            for name in os.listdir("."):
                os.unlink(name)
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.fchdir(cwd)
        os.close(cwd)


class Watcher:
    """`hachiko ARGS` in the background; lines of stdout read with a deadline."""

    def __init__(self, args, cwd=None):
        self.proc = subprocess.Popen([TOOL] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd)
        self.lines = []
        self.stderr = []
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines)),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr))]
        for thread in self.threads:
            thread.start()

    def _read(self, stream, sink):
        for line in stream:
            with self.cond:
                sink.append(line)
                self.cond.notify_all()

    def wait_for(self, predicate, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not predicate():
                    return predicate()
                self.cond.wait(min(left, 0.1))
            return True

    def ready(self):
        return self.wait_for(lambda: any(b"ready" in line for line in self.stderr))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(DEADLINE)
        for thread in self.threads:
            thread.join(DEADLINE)
        self.proc.stdout.close()
        self.proc.stderr.close()


class HostileTest(unittest.TestCase):
    def setUp(self):
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="hachiko-hostile-"))

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.root, *parts)

    def run_tool(self, args, timeout=DEADLINE, **kwargs):
        return subprocess.run([TOOL] + args, capture_output=True, timeout=timeout, **kwargs)

    def assertOneLineError(self, result, status):
        self.assertEqual(result.returncode, status, result)
        lines = result.stderr.decode("utf-8").splitlines()   # valid UTF-8, or this raises
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("hachiko"), lines)
        return lines[0]

    # --- output -------------------------------------------------------------

    def test_json_timestamps_never_go_backwards(self):
        # The library's timestamps are monotonic and in order; the wall-clock
        # conversion must keep them in order (it used to read both clocks for
        # each event, and their jitter put 1 in 5 events a microsecond
        # before the previous one).
        watcher = Watcher(["log", "--json", self.root])
        try:
            self.assertTrue(watcher.ready(), watcher.stderr)
            for i in range(200):
                os.mkdir(self.p("d%d" % i))
            self.assertTrue(watcher.wait_for(lambda: any(b'"d199"' in l or b"/d199\"" in l
                                                         for l in watcher.lines)), watcher.lines)
        finally:
            watcher.stop()
        stamps = [json.loads(line)["timestamp"] for line in watcher.lines]
        self.assertGreaterEqual(len(stamps), 200)
        backwards = [(a, b) for a, b in zip(stamps, stamps[1:]) if b < a]
        self.assertEqual(backwards, [])
        self.assertLess(abs(stamps[-1] - time.time()), 60)

    def test_hostile_names_in_json_round_trip(self):
        names = [b"n\nl\xff\xfe", "\u202eevil\u2028x".encode(), b"d\x1b[31m", b"\x7f\x01", b"q\"\\"]
        watcher = Watcher(["log", "--json", self.root])
        try:
            self.assertTrue(watcher.ready(), watcher.stderr)
            for name in names:
                with open(os.path.join(os.fsencode(self.root), name), "wb"):
                    pass
            last = os.path.join(os.fsencode(self.root), names[-1])
            self.assertTrue(watcher.wait_for(lambda: len(watcher.lines) >= 2 * len(names)))
        finally:
            watcher.stop()
        created = []
        for line in watcher.lines:
            self.assertEqual(line.count(b"\n"), 1)
            event = json.loads(line.decode("utf-8"))
            path = (base64.b64decode(event["path_bytes"]) if "path_bytes" in event
                    else event["path"].encode())
            if event["type"] == "created":
                created.append(path)
        self.assertEqual(created, [os.path.join(os.fsencode(self.root), n) for n in names])
        self.assertIn(last, created)

    def test_closed_stdout_is_a_write_error(self):
        # A closed descriptor 1 used to be reused by GLib's wakeup eventfd,
        # which then received the event lines: 8-byte lines ("created\n")
        # were accepted by it and silently lost.
        proc = subprocess.Popen([TOOL, "log", "--format", "{type}", self.root],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=lambda: os.close(1))
        try:
            deadline = time.monotonic() + DEADLINE
            self.assertEqual(proc.stderr.readline(), b"ready\n")
            while proc.poll() is None and time.monotonic() < deadline:
                os.mkdir(self.p("d%f" % time.monotonic()))
                time.sleep(0.05)
            self.assertEqual(proc.poll(), 1)
            self.assertIn(b"cannot write to standard output", proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(DEADLINE)
            proc.stderr.close()

    # --- roots ---------------------------------------------------------------

    def test_odd_roots_fail_cleanly(self):
        os.mkfifo(self.p("fifo"))
        for root, status in [("", 2), (self.p("missing"), 3), (self.p("nl\nmissing"), 3),
                             (self.p("loop1"), 3)]:
            if root.endswith("loop1"):
                os.symlink("loop2", self.p("loop1"))
                os.symlink("loop1", self.p("loop2"))
            with self.subTest(root=root):
                line = self.assertOneLineError(self.run_tool(["wait", "-t", "0.2", root]), status)
                self.assertNotIn("\n", line)

    def test_nested_paths_report_each_event_once(self):
        # "a PATH given twice is watched once" (docs/tool.md); a PATH inside
        # another one used to be watched twice, every event under it printed
        # twice (and run twice by exec --per-event).
        os.makedirs(self.p("src", "lib"))
        with open(self.p("src", ".gitignore"), "w") as f:
            f.write("ignored/\n")
        os.makedirs(self.p("src", "ignored"))
        watcher = Watcher(["log", "--format", "{type} {path}", self.p("src"), self.p("src", "lib"),
                           self.p("src", "lib") + "/", self.p("src", "ignored")])
        try:
            self.assertTrue(watcher.ready(), watcher.stderr)
            open(self.p("src", "lib", "f"), "wb").close()
            open(self.p("src", "ignored", "g"), "wb").close()   # only the explicit PATH sees it
            open(self.p("src", "last"), "wb").close()
            # Each watcher delivers on its own: wait for both, then for the
            # outer one's next event, after any duplicate of lib/f.
            self.assertTrue(watcher.wait_for(lambda: any(b"closed " + self.p("src", "last").encode()
                                                         in l for l in watcher.lines) and
                                             any(b"closed " + self.p("src", "ignored", "g").encode()
                                                 in l for l in watcher.lines)))
        finally:
            watcher.stop()
        created = [l.split()[1].decode() for l in watcher.lines if l.startswith(b"created ")]
        # Watchers deliver side by side: no order between them.
        self.assertEqual(sorted(created), sorted([self.p("src", "lib", "f"),
                                                  self.p("src", "ignored", "g"),
                                                  self.p("src", "last")]))

    def test_odd_but_valid_roots_are_watched(self):
        os.mkfifo(self.p("fifo"))
        os.mkdir(self.p("sub"))
        for root in [self.p("fifo"), "/proc/self", ".", "sub/", "sub//", self.p("sub") + "//",
                     self.root.replace("/", "//")]:
            with self.subTest(root=root):
                result = self.run_tool(["wait", "-t", "0.2", root], cwd=self.root)
                self.assertEqual(result.returncode, 1, result)   # timed out, nothing happened
                self.assertEqual(result.stderr, b"ready\n")

    def test_symlink_loops_are_warned_once_and_not_followed(self):
        os.makedirs(self.p("a", "b"))
        os.symlink("../..", self.p("a", "b", "up"))
        os.symlink(self.root, self.p("a", "abs"))
        watcher = Watcher(["log", "--follow-symlinks", self.root])
        try:
            self.assertTrue(watcher.ready(), watcher.stderr)
            with open(self.p("a", "b", "f"), "wb"):
                pass
            self.assertTrue(watcher.wait_for(lambda: any(b"closed" in l for l in watcher.lines)))
        finally:
            watcher.stop()
        warnings = [l for l in watcher.stderr if b"loops back" in l]
        self.assertEqual(len(warnings), 2, watcher.stderr)
        self.assertEqual(len([l for l in watcher.lines if b"created" in l]), 1, watcher.lines)

    def test_ignore_files_are_read_while_the_loop_runs(self):
        # The ignore files of the tree used to be read on the main thread
        # before the main loop (and --timeout, and the signal handlers) ran:
        # `wait -t 0` on a large tree took as long as a walk of it. Compared
        # with a walk by `snapshot save`, best of three each.
        for i in range(200):
            parent = self.p("d%d" % i)
            os.mkdir(parent)
            for j in range(100):
                os.mkdir(os.path.join(parent, str(j)))

        def best(args):
            times = []
            for _ in range(3):
                start = time.monotonic()
                self.run_tool(args)
                times.append(time.monotonic() - start)
            return min(times)

        walk = best(["snapshot", "save", self.root, self.p("d0", "snapshot")])
        wait = best(["wait", "-q", "-t", "0", self.root])
        self.assertLess(wait, walk / 4, "wait -t 0: %.3f s, a walk: %.3f s" % (wait, walk))

    def test_tree_10000_levels_deep(self):
        # Deeper than PATH_MAX: one warning (one line, UTF-8), no crash, no
        # hang, and what is watchable is watched (docs/semantics.md).
        depth = 10000
        top = os.open(self.root, os.O_RDONLY)
        fds = [top]
        try:
            for _ in range(depth):
                os.mkdir("d", dir_fd=fds[-1])
                fd = os.open("d", os.O_RDONLY, dir_fd=fds[-1])
                if len(fds) > 1:
                    os.close(fds.pop())
                fds.append(fd)
        finally:
            for fd in fds[1:]:
                os.close(fd)
        try:
            watcher = Watcher(["log", self.root])
            try:
                self.assertTrue(watcher.ready(), watcher.stderr)
                shallow = self.p(*["d"] * 10, "f")
                open(shallow, "wb").close()
                self.assertTrue(watcher.wait_for(lambda: any(shallow.encode() in l
                                                             for l in watcher.lines)))
            finally:
                watcher.stop()
            warnings = [l.decode("utf-8") for l in watcher.stderr if b"ready" not in l]
            self.assertEqual(len(warnings), 1, [w[:200] for w in warnings])
            self.assertIn("File name too long", warnings[0])
        finally:
            remove_deep(self.root, depth)

    # --- patterns and options -------------------------------------------------

    def test_invalid_patterns_are_usage_errors(self):
        for args in (["-p", "[abc"], ["-p", "\\"], ["-p", "[z-a]"], ["-p", ""], ["-p", ";;"],
                     ["--regex", "("], ["--regex", "*"], ["--ignore-regex", "\\"]):
            with self.subTest(args=args):
                self.assertOneLineError(self.run_tool(["wait", "-t", "0.2"] + args + [self.root]), 2)

    def test_non_utf8_option_value_names_the_problem(self):
        result = self.run_tool(["wait", "-t", "0.2", "-p", "\udcff", self.root])
        line = self.assertOneLineError(result, 2)
        self.assertIn("UTF-8", line)

    def test_every_command_is_named_in_usage_errors(self):
        # `snapshot` was missing from the short usage and the unknown-command
        # error.
        for args in ([], ["bogus"], ["--bogus"]):
            with self.subTest(args=args):
                result = self.run_tool(args)
                self.assertEqual(result.returncode, 2, result)
                self.assertIn("snapshot", result.stderr.decode("utf-8").splitlines()[0])

    # --- snapshots ----------------------------------------------------------------

    # The difference from the snapshot was stamped with the wall clock, then
    # converted again (fixed on main by b8bc5cf).
    def test_since_events_are_printed_at_the_current_time(self):
        os.mkdir(self.p("t"))
        snapshot = self.p("s.bin")
        self.run_tool(["snapshot", "save", self.p("t"), snapshot])
        open(self.p("t", "new"), "wb").close()
        watcher = Watcher(["log", "--json", "--since", snapshot, self.p("t")])
        try:
            self.assertTrue(watcher.wait_for(lambda: len(watcher.lines) >= 1), watcher.stderr)
        finally:
            watcher.stop()
        event = json.loads(watcher.lines[0])
        self.assertEqual((event["type"], event["synthetic"]), ("created", True))
        self.assertLess(abs(event["timestamp"] - time.time()), 60, event)

    def test_corrupt_and_truncated_snapshots(self):
        os.makedirs(self.p("t", "a"))
        open(self.p("t", "a", "f"), "wb").close()
        snapshot = self.p("s.bin")
        subprocess.run([TOOL, "snapshot", "save", self.p("t"), snapshot], check=True,
                       capture_output=True, timeout=DEADLINE)
        with open(snapshot, "rb") as f:
            data = f.read()
        bad = self.p("bad.bin")
        cases = [data[:n] for n in (0, 1, 7, 8, 16, len(data) // 2, len(data) - 1)]
        cases += [data[:i] + bytes([data[i] ^ 0x41]) + data[i + 1:] for i in range(len(data))]
        for i, content in enumerate(cases):
            with open(bad, "wb") as f:
                f.write(content)
            for args in (["snapshot", "diff", bad, self.p("t")], ["snapshot", "diff", "--json", bad]):
                with self.subTest(case=i, args=args[:2]):
                    self.assertOneLineError(self.run_tool(args), 1)
        for path in ("/dev/zero", "/dev/null", self.root):
            with self.subTest(path=path):
                self.assertOneLineError(self.run_tool(["snapshot", "diff", path, self.p("t")]), 1)
        with open(bad, "wb") as f:
            f.write(data[:len(data) // 2])
        self.assertOneLineError(self.run_tool(["log", "--since", bad, self.p("t")]), 1)


if __name__ == "__main__":
    if TOOL is None and len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        TOOL = sys.argv.pop(1)
    if TOOL is None:
        sys.exit("set HACHIKO_TOOL to the built hachiko command")
    TOOL = os.path.abspath(TOOL)
    unittest.main()
