#!/usr/bin/python3
# test-tool-backend.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `hachiko --backend` and `--poll-interval` on every watching subcommand.
#
#   HACHIKO_TOOL=path/to/hachiko /usr/bin/python3 tests/test-tool-backend.py [-v]
#
# Uses the helpers of test-tool.py (Tool, run_tool, ...); nothing waits on a
# fixed sleep: output is read line by line with a deadline.

import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
tool_tests = importlib.import_module("test-tool")

ToolTestCase = tool_tests.ToolTestCase
run_tool = tool_tests.run_tool
read_records = tool_tests.read_records
wait_for = tool_tests.wait_for
touch = tool_tests.touch
parse_text_line = tool_tests.parse_text_line
PYTHON = tool_tests.PYTHON
RECORD = tool_tests.RECORD

BACKENDS = ["auto", "inotify", "gio", "poll"]


def line_is(line, event_type, path):
    _, kind, where, dest, _ = parse_text_line(line.decode("utf-8").rstrip("\n"))
    return (event_type is None or kind == event_type) and os.fsencode(path) in (where, dest)


def events(tool):
    return [parse_text_line(line.decode("utf-8").rstrip("\n"))[1:3] for line in tool.stdout_lines]


class TestBackendOption(ToolTestCase):
    def test_log_with_each_backend_sees_create_and_move(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                os.mkdir(self.path(backend))
                tool = self.start(["log", "--backend", backend, "--poll-interval", "50",
                                   self.path(backend)])
                touch(self.path(backend, "file"))
                tool.stdout_until(lambda line: line_is(line, "created", self.path(backend, "file")))
                os.rename(self.path(backend, "file"), self.path(backend, "renamed"))
                # Polling reports a rename as deleted + created (docs/backends.md).
                tool.stdout_until(lambda line: line_is(line, None, self.path(backend, "renamed")))
                tool.kill()
                self.assertIn(("created", os.fsencode(self.path(backend, "file"))), events(tool))

    def test_poll_interval_sets_the_pace(self):
        # Ten changes, each made once the previous one was seen: each waits
        # for the next round, so at the default (1 s) this takes about 10 s;
        # at 20 ms well under the bound. Measured, not slept.
        tool = self.start(["log", "--backend", "poll", "--poll-interval", "20", self.root])
        started = tool_tests.time.monotonic()
        for i in range(10):
            touch(self.path("quick-%d" % i))
            tool.stdout_until(lambda line: line_is(line, "created", self.path("quick-%d" % i)))
        self.assertLess(tool_tests.time.monotonic() - started, 5.0)

    def test_exec_and_restart_take_the_options(self):
        log = os.path.join(self.tmp, "runs.jsonl")
        self.start(["exec", "--backend", "gio", "--poll-interval", "50", "--per-event",
                    "--event", "created", self.root, "--", PYTHON, RECORD, log, "{path}"])
        touch(self.path("for-exec"))
        records = wait_for(lambda: read_records(log), what="a run")
        self.assertEqual(tool_tests.b64decode(records[0]["argv"][0]),
                         os.fsencode(self.path("for-exec")))

        restart_log = os.path.join(self.tmp, "restarts.jsonl")
        self.start(["restart", "--backend", "poll", "--poll-interval", "50", self.root, "--",
                    PYTHON, RECORD, restart_log, "x"])
        first = wait_for(lambda: read_records(restart_log), what="first start")[0]
        self.pgids.add(first["pid"])
        touch(self.path("for-restart"))
        records = wait_for(lambda: len(read_records(restart_log)) >= 2 and read_records(restart_log),
                           what="a restart")
        self.pgids.add(records[1]["pid"])

    def test_help_lists_the_options(self):
        for command in ("log", "exec", "restart"):
            with self.subTest(command=command):
                result = run_tool([command, "--help"])
                self.assertEqual(result.returncode, 0)
                self.assertIn(b"--backend=BACKEND", result.stdout)
                self.assertIn(b"--poll-interval=MS", result.stdout)

    def test_bad_values_are_usage_errors(self):
        cases = [
            (["log", "--backend", "carrier-pigeon", self.root], "carrier-pigeon"),
            (["log", "--poll-interval", "5", self.root], "poll-interval"),
            (["exec", "--backend", "nope", self.root, "--", "true"], "nope"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                result = run_tool(args)
                self.assertEqual(result.returncode, 2, result.stderr)
                err = result.stderr.decode()
                self.assertIn(needle, err)
                self.assertEqual(err.count("\n"), 1, err)

    def test_ready_before_walk(self):
        # Changes in directories the walk may not have read when "ready"
        # came are reported once. With auto on a small tree this is inotify
        # (walks first anyway); with fanotify as root, ready comes first.
        for i in range(30):
            os.makedirs(self.path("t%02d" % i, "sub"))
        backends = ["auto"]
        if os.geteuid() == 0:
            backends.append("fanotify")
        for backend in backends:
            with self.subTest(backend=backend):
                tool = self.start(["log", "--ready-before-walk", "--backend", backend, self.root],
                                  ready=False)
                try:
                    tool.wait_ready()
                except Exception:
                    if backend == "fanotify":
                        self.skipTest("the fanotify backend does not work here")
                    raise
                name = "new-%s" % backend
                touch(self.path("t29", "sub", name))
                tool.stdout_until(lambda line: line_is(line, "created", self.path("t29", "sub", name)))
                touch(self.path("sentinel-%s" % backend))
                tool.stdout_until(lambda line: line_is(line, "created", self.path("sentinel-%s" % backend)))
                tool.kill()
                self.assertEqual(events(tool).count(("created", os.fsencode(self.path("t29", "sub", name)))), 1)
        for command in ("log", "exec", "restart", "wait"):
            self.assertIn(b"--ready-before-walk", run_tool([command, "--help"]).stdout)

    def test_unavailable_backend_cannot_watch(self):
        # fanotify is not in every build; where it works, this checks nothing.
        probe = tool_tests.subprocess.Popen([tool_tests.TOOL, "log", "--backend", "fanotify", self.root],
                                            stdout=tool_tests.subprocess.PIPE,
                                            stderr=tool_tests.subprocess.PIPE)
        try:
            out, err = probe.communicate(timeout=2)
        except tool_tests.subprocess.TimeoutExpired:
            probe.kill()
            probe.communicate()
            self.skipTest("the fanotify backend works here")
        self.assertEqual(probe.returncode, 3, err)
        self.assertIn(b"fanotify", err)
        self.assertEqual(err.count(b"\n"), 1, err)


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
        tool_tests.TOOL = sys.argv.pop(1)
    if not tool_tests.TOOL:
        sys.exit("test-tool-backend.py: set HACHIKO_TOOL or pass the hachiko binary")
    tool_tests.TOOL = os.path.abspath(tool_tests.TOOL)
    unittest.main()
