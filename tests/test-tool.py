#!/usr/bin/python3
# test-tool.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs the built `hachiko` command against temporary trees.
#
#   HACHIKO_TOOL=path/to/hachiko [HACHIKO_TOOL_TESTING=path/to/hachiko-testing] \
#     /usr/bin/python3 tests/test-tool.py [-v]
#
# The binary may also be given as the first argument. HACHIKO_TOOL_TESTING
# (the same command with test hooks) is only needed for the watch-limit test.
#
# No fixed sleep is used to wait for something observable: output is read
# line by line with a deadline. The only sleeps give events time to reach a
# process when nothing can be observed (the --queue/--drop and "nothing
# more happened" checks), and are bounded.

import base64
import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD = os.path.join(HERE, "tool", "record.py")
GROUP = os.path.join(HERE, "tool", "group.py")
PYTHON = "/usr/bin/python3"

TOOL = os.environ.get("HACHIKO_TOOL")
TOOL_TESTING = os.environ.get("HACHIKO_TOOL_TESTING")

DEADLINE = 60.0          # for anything we wait on: generous, since ASan and a loaded machine are slow;
                         # a passing test never waits for it
QUIET_PERIOD = 0.8       # to check that nothing more happens

HOSTILE_NAMES = [
    b"$(touch pwned)",
    b"a;rm -rf b",
    b"`touch pwned2`",
    b"line\nbreak",
    b"tab\there",
    b"sp ace",
    b'quo"te',
    b"back\\slash",
    b"\xff\xfebad-utf8",
    "bidi\u202etxt.exe".encode(),
    b"-n",
    b"{path}",
]


def unescape_text_path(field):
    """Decodes one path of the text format back to bytes."""
    if not field.startswith('"'):
        return field.encode()
    assert field.endswith('"'), field
    inner = field[1:-1]
    out = bytearray()
    i = 0
    simple = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "\\": b"\\"}
    while i < len(inner):
        c = inner[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = inner[i + 1]
        if n == "x":
            out.append(int(inner[i + 2:i + 4], 16))
            i += 4
        elif n == "u":
            out += chr(int(inner[i + 2:i + 6], 16)).encode()
            i += 6
        else:
            out += simple[n]
            i += 2
    return bytes(out)


def split_text_fields(line):
    """Splits a text line into fields; quoted fields stay quoted."""
    fields = []
    i = 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            j = i + 1
            while line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            fields.append(line[i:j + 1])
            i = j + 1
        else:
            j = line.find(" ", i)
            j = len(line) if j < 0 else j
            fields.append(line[i:j])
            i = j
    return fields


def parse_text_line(line):
    """Returns (time, type, path bytes, dest bytes or None, synthetic)."""
    fields = split_text_fields(line)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d", fields[0]), line
    synthetic = fields[-1] == "(synthetic)"
    if synthetic:
        fields = fields[:-1]
    dest = None
    if len(fields) == 5:
        assert fields[3] == "->", line
        dest = unescape_text_path(fields[4])
    else:
        assert len(fields) == 3, line
    return fields[0], fields[1], unescape_text_path(fields[2]), dest, synthetic


def b64decode(text):
    return base64.b64decode(text.encode("ascii"))


class Tool:
    """A running hachiko; its stdout and stderr are read line by line."""

    def __init__(self, args, cwd=None, env=None, binary=None, stderr_tty=False,
                 stdin=subprocess.DEVNULL, preexec_fn=None):
        self.args = [binary or TOOL] + args
        if env is None:
            env = os.environ
        # Our own settings are no business of the commands hachiko runs.
        env = {k: v for k, v in env.items() if not k.startswith("HACHIKO_TOOL")}
        self.stdout = queue.Queue()
        self.stderr = queue.Queue()
        self.stderr_lines = []
        self.stdout_lines = []
        self.pty_master = None
        stderr = subprocess.PIPE
        if stderr_tty:
            self.pty_master, slave = pty.openpty()
            stderr = slave
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=stderr,
                                     stdin=stdin, cwd=cwd, env=env, preexec_fn=preexec_fn)
        if stderr_tty:
            os.close(slave)
            self._start_reader(self._read_pty, self.stderr)
        else:
            self._start_reader(self._read_pipe, self.stderr, self.proc.stderr)
        self._start_reader(self._read_pipe, self.stdout, self.proc.stdout)

    @staticmethod
    def _start_reader(target, q, *args):
        thread = threading.Thread(target=target, args=(q,) + args, daemon=True)
        thread.start()

    @staticmethod
    def _read_pipe(q, pipe):
        for line in iter(pipe.readline, b""):
            q.put(line)
        q.put(None)

    def _read_pty(self, q):
        buf = b""
        while True:
            try:
                data = os.read(self.pty_master, 4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                q.put(line + b"\n")
        if buf:
            q.put(buf)
        q.put(None)

    def _next(self, q, sink, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, None
        try:
            line = q.get(timeout=remaining)
        except queue.Empty:
            return False, None
        if line is not None:
            sink.append(line)
        return True, line

    def expect_stderr(self, pattern, timeout=DEADLINE):
        """Reads stderr until a line matches the regex; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            ok, line = self._next(self.stderr, self.stderr_lines, deadline)
            if not ok or line is None:
                raise AssertionError("no stderr line matching %r; got %r" %
                                     (pattern, self.stderr_lines))
            if re.search(pattern, line.decode("utf-8", "replace")):
                return line.decode("utf-8", "replace")

    def wait_ready(self):
        line = self.expect_stderr(r"ready")
        assert line.rstrip("\r\n").endswith("ready"), line

    def stdout_line(self, timeout=DEADLINE):
        ok, line = self._next(self.stdout, self.stdout_lines, time.monotonic() + timeout)
        if not ok:
            raise AssertionError("no stdout line within %.1f s; got %r" %
                                 (timeout, self.stdout_lines))
        return line

    def stdout_until(self, predicate, timeout=DEADLINE):
        """Reads stdout lines until predicate(line) is true."""
        deadline = time.monotonic() + timeout
        while True:
            ok, line = self._next(self.stdout, self.stdout_lines, deadline)
            if not ok or line is None:
                raise AssertionError("condition not met on stdout; got %r" % self.stdout_lines)
            if predicate(line):
                return line

    def drain_stdout(self, period=QUIET_PERIOD):
        """Everything printed on stdout within @period."""
        deadline = time.monotonic() + period
        lines = []
        while True:
            ok, line = self._next(self.stdout, self.stdout_lines, deadline)
            if not ok or line is None:
                return lines
            lines.append(line)

    def signal(self, signum):
        self.proc.send_signal(signum)

    def wait(self, timeout=DEADLINE):
        return self.proc.wait(timeout=timeout)

    def rest_of_stderr(self, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        while True:
            ok, line = self._next(self.stderr, self.stderr_lines, deadline)
            if not ok or line is None:
                return b"".join(self.stderr_lines).decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def run_tool(args, binary=None, timeout=DEADLINE, **kwargs):
    return subprocess.run([binary or TOOL] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=timeout, **kwargs)


def wait_for(condition, timeout=DEADLINE, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def read_lines(path):
    """The complete lines of a file another process appends to."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    # A line being written may be read in part: leave it for next time.
    return data.decode().split("\n")[:-1]


def read_records(path):
    return [json.loads(line) for line in read_lines(path)]


def touch(path):
    with open(path, "wb") as f:
        f.write(b"x")


def process_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still "exists" for kill(); look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):   # gone meanwhile
        return True


class ToolTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hachiko-tool-")
        self.root = os.path.join(self.tmp, "root")
        self.cwd = os.path.join(self.tmp, "cwd")   # where a shell would touch "pwned"
        os.mkdir(self.root)
        os.mkdir(self.cwd)
        self.tools = []
        self.pgids = set()

    def tearDown(self):
        for tool in self.tools:
            tool.kill()
        for pgid in self.pgids:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, args, ready=True, **kwargs):
        kwargs.setdefault("cwd", self.cwd)
        tool = Tool(args, **kwargs)
        self.tools.append(tool)
        if ready:
            tool.wait_ready()
        return tool

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def bpath(self, name):
        return os.fsencode(self.root) + b"/" + name


class TestHelp(ToolTestCase):
    def test_overview_explains_commands(self):
        result = run_tool(["--help"])
        self.assertEqual(result.returncode, 0)
        out = result.stdout.decode()
        for word in ("log", "exec", "restart", "wait", "Exit status", "Examples"):
            self.assertIn(word, out)

    def test_each_subcommand_has_help(self):
        for command in ("log", "exec", "restart", "wait"):
            result = run_tool([command, "--help"])
            self.assertEqual(result.returncode, 0, command)
            out = result.stdout.decode()
            self.assertIn("hachiko " + command, out)
            self.assertIn("--pattern", out)
            self.assertIn("Exit status", out)
        self.assertIn("--per-event", run_tool(["exec", "--help"]).stdout.decode())
        self.assertIn("--kill-after", run_tool(["restart", "--help"]).stdout.decode())
        self.assertIn("--json", run_tool(["help", "log"]).stdout.decode())

    def test_no_command_is_a_usage_error(self):
        result = run_tool([])
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"Usage", result.stderr)

    def test_version(self):
        result = run_tool(["--version"])
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout.decode(), r"^hachiko \d+\.\d+\.\d+\n$")


class TestErrors(ToolTestCase):
    def assert_one_line_error(self, result, code, *needles):
        self.assertEqual(result.returncode, code, result.stderr)
        err = result.stderr.decode()
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("hachiko"), err)
        for needle in needles:
            self.assertIn(needle, err)
        self.assertEqual(result.stdout, b"")
        return err

    def test_missing_path(self):
        missing = os.path.join(self.tmp, "missing")
        for command in (["log", missing], ["exec", missing, "--", "true"],
                        ["restart", missing, "--", "true"]):
            result = run_tool(command)
            self.assert_one_line_error(result, 3, missing, "No such file", "check")

    def test_bad_glob(self):
        result = run_tool(["log", "--pattern", "[abc", self.root])
        self.assert_one_line_error(result, 2, "[abc", "hachiko(1)")

    def test_bad_regex(self):
        result = run_tool(["exec", "--ignore-regex", "(", self.root, "--", "true"])
        self.assert_one_line_error(result, 2, "(", "hachiko(1)")

    def test_bad_options(self):
        cases = [
            (["log", "--bogus", self.root], "--bogus"),
            (["log", "--latency", "-5", self.root], "latency"),
            (["log", "--event", "nonsense", self.root], "nonsense"),
            (["exec", self.root], "COMMAND"),
            (["exec", self.root, "--"], "COMMAND"),
            (["exec", self.root, "--", "/nonexistent/program"], "/nonexistent/program"),
            (["exec", "--per-event", "--once-per-batch", self.root, "--", "true"], "together"),
            (["exec", "--queue", "--drop", self.root, "--", "true"], "together"),
            (["exec", "--drop", "--on-busy-update=queue", self.root, "--", "true"], "together"),
            (["exec", "--on-busy-update=later", self.root, "--", "true"], "later"),
            (["exec", "--clear=sometimes", self.root, "--", "true"], "sometimes"),
            (["exec", "-k", "1e300", self.root, "--", "true"], "kill-after"),
            (["restart", "--kill-after", "1e300", self.root, "--", "true"], "one day"),
            (["restart", "--kill-after", "inf", self.root, "--", "true"], "kill-after"),
            (["restart", "--kill-after", "nan", self.root, "--", "true"], "kill-after"),
            (["log", "-e", "", self.root], "Empty event type"),
            (["log", "-e", "created,,deleted", self.root], "Empty event type"),
            (["log", "-p", "*.c;", self.root], "Empty pattern"),
            (["log", ""], "empty PATH"),
            (["log", "--format", "{nope}", self.root], "{nope}"),
            (["log", "--json", "--format", "{path}", self.root], "together"),
            (["wait", "--count", "0", self.root], "count"),
            (["wait", "--timeout", "-1", self.root], "timeout"),
            (["restart", "--signal", "NOPE", self.root, "--", "true"], "NOPE"),
            (["restart", "--kill-after", "-1", self.root, "--", "true"], "kill-after"),
            (["frobnicate"], "frobnicate"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                self.assert_one_line_error(run_tool(args), 2, needle, "--help")

    def test_exhausted_watches_at_start(self):
        if not TOOL_TESTING:
            self.skipTest("HACHIKO_TOOL_TESTING not set")
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        env = dict(os.environ, HACHIKO_TEST_WATCH_LIMIT="1")
        result = run_tool(["log", self.root, other], binary=TOOL_TESTING, env=env)
        self.assert_one_line_error(result, 3, "max_user_watches", "sysctl")

    def test_exhausted_watches_while_walking_warns(self):
        if not TOOL_TESTING:
            self.skipTest("HACHIKO_TOOL_TESTING not set")
        os.makedirs(self.path("a", "b"))
        env = dict(os.environ, HACHIKO_TEST_WATCH_LIMIT="1")
        tool = self.start(["log", self.root], binary=TOOL_TESTING, env=env, ready=False)
        line = tool.expect_stderr(r"warning: .*max_user_watches")
        self.assertIn("sysctl", line)
        tool.wait_ready()

    def test_ready_says_what_is_only_polled(self):
        if not TOOL_TESTING:
            self.skipTest("HACHIKO_TOOL_TESTING not set")
        os.makedirs(self.path("a", "b"))
        env = dict(os.environ, HACHIKO_TEST_WATCH_LIMIT="1")
        tool = self.start(["log", "--backend", "inotify", self.root],
                          binary=TOOL_TESTING, env=env, ready=False)
        line = tool.expect_stderr(r"2 directories are only polled")
        self.assertIn("max_user_watches", line)
        tool.wait_ready()

    def test_root_deleted_exits(self):
        tool = self.start(["log", self.root])
        shutil.rmtree(self.root)
        self.assertEqual(tool.wait(), 3)
        self.assertIn("no PATH is left", tool.rest_of_stderr())


class TestLog(ToolTestCase):
    def test_text_lines(self):
        # A move into a directory created a moment before can only be seen
        # as deleted + created (the directory is not watched yet): the
        # directory exists before the move here.
        tool = self.start(["log", self.root])
        touch(self.path("a.txt"))
        os.mkdir(self.path("dir"))
        tool.stdout_until(lambda line: b"created" in line and line.rstrip().endswith(b"dir/"))
        # Only an event from inside proves that "dir" is watched now.
        touch(self.path("dir", "probe"))
        tool.stdout_until(lambda line: line.rstrip().endswith(b"dir/probe"))
        os.rename(self.path("a.txt"), self.path("dir", "b.txt"))
        os.unlink(self.path("dir", "b.txt"))

        tool.stdout_until(lambda line: parse_text_line(line.decode().rstrip("\n"))[1] == "deleted")
        seen = [parse_text_line(line.decode("utf-8").rstrip("\n")) for line in tool.stdout_lines]
        types = [(t, p) for _, t, p, _, _ in seen]
        self.assertIn(("created", self.bpath(b"a.txt")), types)
        self.assertIn(("created", self.bpath(b"dir/")), types)
        seen = [e for e in seen if not e[2].endswith(b"/probe")]
        moves = [(p, d) for _, t, p, d, _ in seen if t == "moved"]
        self.assertEqual(moves, [(self.bpath(b"a.txt"), self.bpath(b"dir/b.txt"))], seen)
        self.assertEqual(seen[-1][1:3], ("deleted", self.bpath(b"dir/b.txt")))

    def test_json_lines(self):
        tool = self.start(["log", "--json", self.root])
        before = time.time()
        events = []
        touch(self.path("a.txt"))
        os.mkdir(self.path("dir"))
        tool.stdout_until(lambda line: events.append(json.loads(line)) or
                          events[-1]["path"] == self.path("dir"))
        touch(self.path("dir", "probe"))
        tool.stdout_until(lambda line: events.append(json.loads(line)) or
                          events[-1]["path"] == self.path("dir", "probe"))
        os.unlink(self.path("dir", "probe"))
        tool.stdout_until(lambda line: events.append(json.loads(line)) or
                          events[-1]["type"] == "deleted")
        events = [e for e in events if not e["path"].endswith("/probe")]
        os.rename(self.path("a.txt"), self.path("dir", "b.txt"))
        shutil.rmtree(self.path("dir"))

        def done(line):
            events.append(json.loads(line))
            return events[-1]["type"] == "deleted" and events[-1]["is_directory"]

        tool.stdout_until(done)
        after = time.time()
        for event in events:
            self.assertEqual(set(event), {"type", "path", "dest", "is_directory",
                                          "synthetic", "timestamp"})
            self.assertIsInstance(event["is_directory"], bool)
            self.assertIs(event["synthetic"], False)
            self.assertLessEqual(before - 1, event["timestamp"])
            self.assertLessEqual(event["timestamp"], after + 1)
            if event["type"] != "moved":
                self.assertIsNone(event["dest"])
        created = [(e["path"], e["is_directory"]) for e in events if e["type"] == "created"]
        self.assertIn((self.path("a.txt"), False), created)
        self.assertIn((self.path("dir"), True), created)
        moved = [e for e in events if e["type"] == "moved"]
        self.assertEqual(len(moved), 1, events)
        self.assertEqual((moved[0]["path"], moved[0]["dest"]),
                         (self.path("a.txt"), self.path("dir", "b.txt")))
        self.assertEqual(events[-1]["path"], self.path("dir"))

    def create_hostile_files(self):
        for name in HOSTILE_NAMES:
            fd = os.open(self.bpath(name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
        touch(self.path("last"))

    def test_text_escaping_is_exact_and_one_line_per_event(self):
        tool = self.start(["log", "--event", "created", self.root])
        self.create_hostile_files()
        created = []

        def done(line):
            text = line.decode("utf-8")          # always valid UTF-8
            self.assertTrue(text.endswith("\n"))
            self.assertNotIn("\r", text)
            self.assertNotIn("\u202e", text)
            created.append(parse_text_line(text.rstrip("\n"))[2])
            return created[-1] == self.bpath(b"last")

        tool.stdout_until(done)
        self.assertEqual(created, [self.bpath(n) for n in HOSTILE_NAMES] + [self.bpath(b"last")])

    def test_json_keeps_paths_exact(self):
        tool = self.start(["log", "--json", "--event", "created", self.root])
        self.create_hostile_files()
        created = []

        def done(line):
            event = json.loads(line.decode("utf-8"))
            if "path_bytes" in event:
                path = b64decode(event["path_bytes"])
                self.assertEqual(event["path"], path.decode("utf-8", "replace"))
            else:
                path = event["path"].encode("utf-8")
            created.append(path)
            return path == self.bpath(b"last")

        tool.stdout_until(done)
        self.assertEqual(created, [self.bpath(n) for n in HOSTILE_NAMES] + [self.bpath(b"last")])

    def test_json_move_with_bad_utf8_dest(self):
        tool = self.start(["log", "--json", "--event", "moved", self.root])
        touch(self.path("plain"))
        os.rename(self.bpath(b"plain"), self.bpath(b"\xe9t\xe9"))
        event = json.loads(tool.stdout_line())
        self.assertEqual(event["path"], self.path("plain"))
        self.assertNotIn("path_bytes", event)
        self.assertEqual(b64decode(event["dest_bytes"]), self.bpath(b"\xe9t\xe9"))

    def test_filters(self):
        os.makedirs(self.path(".git", "objects"))
        os.makedirs(self.path("skip"))
        tool = self.start(["log", "--pattern", "*.TXT", "--ignore", "skip", "--event", "created",
                           self.root])
        touch(self.path(".git", "objects", "x.txt"))
        touch(self.path("skip", "y.txt"))
        touch(self.path("no.c"))
        touch(self.path("yes.txt"))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2], self.bpath(b"yes.txt"))
        self.assertEqual(tool.drain_stdout(), [])

    def test_case_sensitive_and_no_default_ignores(self):
        os.makedirs(self.path(".git"))
        tool = self.start(["log", "--case-sensitive", "--no-default-ignores", "--pattern", "*.txt",
                           "--event", "created", self.root])
        touch(self.path("UPPER.TXT"))
        touch(self.path(".git", "in-git.txt"))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2],
                         self.bpath(b".git/in-git.txt"))

    def test_ignore_directories_and_no_recursive(self):
        os.mkdir(self.path("sub"))
        tool = self.start(["log", "--ignore-directories", "--no-recursive", "--event", "created",
                           self.root])
        os.mkdir(self.path("newdir"))
        touch(self.path("sub", "deep.txt"))
        touch(self.path("top.txt"))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2], self.bpath(b"top.txt"))
        self.assertEqual(tool.drain_stdout(), [])

    def test_several_paths(self):
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        tool = self.start(["log", "--event", "created", self.root, other, self.root])
        touch(self.path("one"))
        first = parse_text_line(tool.stdout_line().decode().rstrip())[2]
        touch(os.path.join(other, "two"))
        second = parse_text_line(tool.stdout_line().decode().rstrip())[2]
        self.assertEqual([first, second], [self.bpath(b"one"), os.fsencode(other) + b"/two"])
        self.assertEqual(tool.drain_stdout(), [])   # the root given twice is watched once

    def test_default_path_is_current_directory(self):
        tool = self.start(["log", "--event", "created"], cwd=self.root)
        touch(self.path("here"))
        self.assertEqual(parse_text_line(tool.stdout_line().decode().rstrip())[2],
                         self.bpath(b"here"))

    def test_sigint_and_sigterm_exit_codes(self):
        for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            tool = self.start(["log", self.root])
            tool.signal(signum)
            self.assertEqual(tool.wait(), code)

    def test_terminal_ends_progress_with_ready(self):
        for i in range(200):
            os.makedirs(self.path("d%03d" % i, "e"))
        tool = self.start(["log", self.root], stderr_tty=True)
        # "ready" comes after the progress line is erased.
        line = tool.stderr_lines[-1].decode()
        self.assertTrue(line.rstrip("\r\n").endswith("ready"), line)
        touch(self.path("d000", "e", "f"))
        tool.stdout_line()


class ExecTestCase(ToolTestCase):
    """What `exec` ran: COMMAND appends a JSON line per run to self.log."""

    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp, "runs.jsonl")

    def records(self):
        return read_records(self.log)

    def wait_records(self, n):
        return wait_for(lambda: len(self.records()) >= n and self.records(),
                        what="%d runs" % n)


class TestExec(ExecTestCase):
    def test_hostile_names_run_nothing_and_reach_the_command_exactly(self):
        self.start(["exec", "--per-event", "--event", "created", self.root, "--",
                    PYTHON, RECORD, self.log, "{path}", "{type}", "{dest}", "literal{path}"])
        for name in HOSTILE_NAMES:
            fd = os.open(self.bpath(name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
        records = self.wait_records(len(HOSTILE_NAMES))

        for name in HOSTILE_NAMES:
            with self.subTest(name=name):
                record = [r for r in records
                          if b64decode(r["env"]["HACHIKO_PATH"]) == self.bpath(name)]
                self.assertEqual(len(record), 1)
                record = record[0]
                argv = [b64decode(a) for a in record["argv"]]
                self.assertEqual(argv, [self.bpath(name), b"created", b"", b"literal{path}"])
                self.assertEqual(b64decode(record["env"]["HACHIKO_EVENT_TYPE"]), b"created")
                self.assertEqual(b64decode(record["env"]["HACHIKO_IS_DIRECTORY"]), b"0")
                self.assertEqual(b64decode(record["env"]["HACHIKO_EVENT_COUNT"]), b"1")
                self.assertNotIn("HACHIKO_DEST_PATH", record["env"])
                self.assertEqual(record["cwd"], self.cwd)

        for where in (self.cwd, self.root, self.tmp):
            self.assertFalse(os.path.exists(os.path.join(where, "pwned")))
            self.assertFalse(os.path.exists(os.path.join(where, "pwned2")))
        self.assertTrue(os.path.exists(self.bpath(b"a;rm -rf b")))

    def test_move_sets_dest(self):
        touch(self.path("from"))
        self.start(["exec", "--per-event", "--event", "moved", self.root, "--",
                    PYTHON, RECORD, self.log, "{dest}", "{type}"])
        os.rename(self.bpath(b"from"), self.bpath(b"to\nnew"))
        record = self.wait_records(1)[0]
        self.assertEqual(b64decode(record["env"]["HACHIKO_PATH"]), self.bpath(b"from"))
        self.assertEqual(b64decode(record["env"]["HACHIKO_DEST_PATH"]), self.bpath(b"to\nnew"))
        self.assertEqual([b64decode(a) for a in record["argv"]], [self.bpath(b"to\nnew"), b"moved"])

    def test_once_per_batch_is_the_default(self):
        self.start(["exec", "--postpone", "--latency", "300", self.root, "--",
                    PYTHON, RECORD, self.log, "{paths}"])
        names = [b"f%d" % i for i in range(5)]
        for name in names:
            touch(self.bpath(name))
        wait_for(lambda: {p for r in self.records() for p in r["argv"]} >=
                 {base64.b64encode(self.bpath(n)).decode() for n in names},
                 what="every path in some run")
        time.sleep(QUIET_PERIOD)
        records = self.records()
        # Five files, several events each: batched into fewer runs.
        self.assertLess(len(records), len(names))
        total = sum(int(b64decode(r["env"]["HACHIKO_EVENT_COUNT"])) for r in records)
        self.assertGreaterEqual(total, len(names))
        last = records[-1]
        self.assertIn(b64decode(last["env"]["HACHIKO_PATH"]), [self.bpath(n) for n in names])

    def test_per_event_runs_once_per_event_in_order(self):
        self.start(["exec", "--per-event", "--event", "created", self.root, "--",
                    PYTHON, RECORD, self.log, "{path}"])
        names = [b"a", b"b", b"c"]
        for name in names:
            touch(self.bpath(name))
        records = self.wait_records(3)
        self.assertEqual([b64decode(r["argv"][0]) for r in records],
                         [self.bpath(n) for n in names])

    def run_while_busy(self, mode):
        gate = os.path.join(self.tmp, "gate")
        env = dict(os.environ, RECORD_GATE=gate)
        self.start(["exec", "--postpone", mode, "--latency", "50", "--event", "created", self.root, "--",
                    PYTHON, RECORD, self.log, "{paths}"], env=env)
        touch(self.path("first"))
        self.wait_records(1)
        # The command is now busy until the gate opens.
        touch(self.path("second"))
        touch(self.path("third"))
        time.sleep(QUIET_PERIOD)      # let the events reach hachiko
        touch(gate)

    def test_queue_runs_again_after_the_current_run(self):
        self.run_while_busy("--queue")
        records = self.wait_records(2)
        self.assertEqual([b64decode(a) for a in records[1]["argv"]],
                         [self.bpath(b"second"), self.bpath(b"third")])
        time.sleep(QUIET_PERIOD)
        self.assertEqual(len(self.records()), 2)

    def test_drop_ignores_changes_while_running(self):
        self.run_while_busy("--drop")
        time.sleep(QUIET_PERIOD)
        self.assertEqual(len(self.records()), 1)
        touch(self.path("fourth"))
        records = self.wait_records(2)
        self.assertEqual([b64decode(a) for a in records[1]["argv"]], [self.bpath(b"fourth")])

    def test_failing_command_is_reported_and_watching_goes_on(self):
        tool = self.start(["exec", "--per-event", "--event", "created", self.root, "--",
                           "/bin/sh", "-c", "exit 3"])
        touch(self.path("x"))
        tool.expect_stderr(r"exited with status 3")
        touch(self.path("y"))
        tool.expect_stderr(r"exited with status 3")

    def test_sigterm_is_forwarded_to_a_running_command(self):
        gate = os.path.join(self.tmp, "gate")   # never opened
        env = dict(os.environ, RECORD_GATE=gate)
        tool = self.start(["exec", self.root, "--", PYTHON, RECORD, self.log], env=env)
        touch(self.path("x"))
        pid = self.wait_records(1)[0]["pid"]
        self.pgids.add(pid)
        tool.signal(signal.SIGTERM)
        self.assertEqual(tool.wait(), 143)
        wait_for(lambda: process_gone(pid), what="the command to end")


class TestRestart(ToolTestCase):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp, "group.log")

    def lines(self, event=None, role=None):
        out = []
        for line in read_lines(self.log):
            ev, rl, pid, pgid = line.split()
            if (event is None or ev == event) and (role is None or rl == role):
                out.append((ev, rl, int(pid), int(pgid)))
        return out

    def wait_lines(self, n, event, role=None):
        return wait_for(lambda: len(self.lines(event, role)) >= n and self.lines(event, role),
                        what="%d %s lines" % (n, event))

    def start_group(self, mode, *options):
        tool = self.start(["restart", *options, self.root, "--", PYTHON, GROUP, self.log, mode])
        started = self.wait_lines(2, "start")
        for _, _, _, pgid in started:
            self.pgids.add(pgid)
        return tool, started

    def test_signal_reaches_the_whole_group_then_restarts(self):
        tool, started = self.start_group("term")
        leader = [s for s in started if s[1] == "leader"][0]
        grandchild = [s for s in started if s[1] == "grandchild"][0]
        # A process group of its own, led by the child.
        self.assertEqual(leader[3], leader[2])
        self.assertEqual(grandchild[3], leader[2])
        self.assertNotEqual(leader[3], os.getpgrp())

        touch(self.path("change"))
        tool.expect_stderr(r"restarting")
        terms = self.wait_lines(2, "term")
        self.assertEqual({t[2] for t in terms}, {leader[2], grandchild[2]})
        started = self.wait_lines(4, "start")
        for _, _, _, pgid in started:
            self.pgids.add(pgid)
        new_leader = [s for s in started if s[1] == "leader"][-1]
        self.assertNotEqual(new_leader[2], leader[2])

        # SIGTERM to hachiko: forwarded to the group; the leader exits 7.
        tool.signal(signal.SIGTERM)
        self.assertEqual(tool.wait(), 7)
        self.assertEqual(len(self.lines("term")), 4)

    def test_sigkill_after_kill_after(self):
        tool, started = self.start_group("ignore", "--kill-after", "0.5")
        pids = [s[2] for s in started]
        begin = time.monotonic()
        touch(self.path("change"))
        tool.expect_stderr(r"SIGKILL")
        wait_for(lambda: all(process_gone(p) for p in pids), what="the group to be killed")
        self.assertGreaterEqual(time.monotonic() - begin, 0.5)
        started = self.wait_lines(4, "start")
        for _, _, _, pgid in started:
            self.pgids.add(pgid)
        pids = [s[2] for s in started[2:]]

        tool.signal(signal.SIGINT)      # ignored by nothing: SIGINT kills python
        code = tool.wait()
        self.assertIn(code, (130, 137))
        wait_for(lambda: all(process_gone(p) for p in pids), what="the group to end")

    def test_sigterm_escalates_for_a_child_ignoring_it(self):
        tool, started = self.start_group("ignore", "--kill-after", "0.3")
        tool.signal(signal.SIGTERM)
        self.assertEqual(tool.wait(), 137)
        wait_for(lambda: all(process_gone(s[2]) for s in started), what="the group to end")

    def test_sigint_exit_status_is_the_childs(self):
        tool = self.start(["restart", self.root, "--", "/bin/sleep", "60"])
        pid = wait_for(lambda: [int(p) for p in os.listdir("/proc") if p.isdigit()
                                and self.is_sleep_child(int(p), tool.proc.pid)],
                       what="sleep to start")[0]
        self.pgids.add(pid)
        tool.signal(signal.SIGINT)
        self.assertEqual(tool.wait(), 130)
        wait_for(lambda: process_gone(pid), what="sleep to end")

    @staticmethod
    def is_sleep_child(pid, parent):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return False
        return int(fields[1]) == parent and cmdline.startswith(b"/bin/sleep")

    def test_waits_for_changes_after_the_child_exits(self):
        tool = self.start(["restart", self.root, "--", PYTHON, GROUP, self.log, "exit", "4"])
        tool.expect_stderr(r"exited with status 4; waiting for changes")
        self.assertEqual(len(self.lines("start")), 1)
        touch(self.path("change"))
        self.wait_lines(2, "start")
        tool.expect_stderr(r"exited with status 4; waiting for changes")

    def test_restart_on_exit(self):
        tool = self.start(["restart", "--restart-on-exit", self.root, "--",
                           PYTHON, GROUP, self.log, "exit", "0"])
        tool.expect_stderr(r"exited with status 0; restarting")
        self.wait_lines(2, "start")

    def test_environment_of_a_restarted_child(self):
        record_log = os.path.join(self.tmp, "runs.jsonl")
        gate = os.path.join(self.tmp, "gate")   # never opened: the child stays up
        env = dict(os.environ, RECORD_GATE=gate)
        self.start(["restart", "--kill-after", "1", "--event", "created", self.root, "--",
                    PYTHON, RECORD, record_log], env=env)
        first = wait_for(lambda: read_records(record_log), what="first start")[0]
        self.pgids.add(first["pid"])
        self.assertEqual(first["env"], {})
        touch(self.bpath(b"new\nfile"))
        records = wait_for(lambda: len(read_records(record_log)) >= 2 and read_records(record_log),
                           what="restart")
        self.pgids.add(records[1]["pid"])
        self.assertEqual(b64decode(records[1]["env"]["HACHIKO_PATH"]), self.bpath(b"new\nfile"))
        self.assertEqual(b64decode(records[1]["env"]["HACHIKO_EVENT_TYPE"]), b"created")


# --- everyday use (issue 15) -------------------------------------------------

EDITOR_TEMPORARIES = [".a.c.swp", ".a.c.swo", "a.c~", ".#a.c", "#a.c#", "4913"]


def write(path, data=b"x", mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


class TestIgnoreFiles(ToolTestCase):
    """A make project: builds only on source changes, once per burst."""

    def setUp(self):
        super().setUp()
        self.runs = os.path.join(self.tmp, "runs.log")
        write(self.path("Makefile"),
              b"all:\n"
              b"\tmkdir -p build\n"
              b"\tcat src/*.c > build/out.txt\n"
              b"\tdate > x.log\n"
              b"\techo run >> $(RUNS)\n")
        write(self.path(".gitignore"), b"build/\n*.log\n")
        write(self.path("src", ".gitignore"), b"gen/\n*.tmp\n!keep.tmp\n")
        write(self.path("src", "a.c"), b"int a;\n")

    def n_runs(self):
        return len(read_lines(self.runs))

    def wait_runs(self, n):
        wait_for(lambda: self.n_runs() >= n, what="%d runs" % n)
        time.sleep(QUIET_PERIOD)          # and no more
        self.assertEqual(self.n_runs(), n, read_lines(self.runs))

    def test_make_project_runs_only_on_source_changes(self):
        # 300 ms: a burst is one batch even on a busy machine.
        self.start(["exec", "--latency", "300", self.root, "--",
                    "make", "-s", "-C", self.root, "RUNS=" + self.runs])
        self.wait_runs(1)                 # at start; its own output runs nothing

        for name in EDITOR_TEMPORARIES:
            write(self.path("src", name))
        write(self.path("src", "gen", "x.c"))        # nested .gitignore
        write(self.path("src", "b.tmp"))
        write(self.path("build", "extra"))
        write(self.path("y.log"))
        self.assertEqual(self.n_runs(), 1)

        for i in range(10):                           # one burst, one run
            write(self.path("src", "a.c"), b"int a%d;\n" % i)
        self.wait_runs(2)

        write(self.path("src", "keep.tmp"))          # re-included by "!"
        self.wait_runs(3)

        # A change to an ignore file applies at once (and is a change itself).
        write(self.path("src", ".gitignore"), b"later.c\n", mode="ab")
        self.wait_runs(4)
        write(self.path("src", "later.c"))
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.n_runs(), 4)
        write(self.path("src", "a.c"), b"int z;\n")
        self.wait_runs(5)

    def test_log_without_ignore_files_or_default_ignores(self):
        tool = self.start(["log", "--no-ignore-files", "--no-default-ignores", "-e", "created",
                           self.root])
        write(self.path("x.log"))
        write(self.path(".a.c.swp"))
        write(self.path("last"))
        paths = []
        tool.stdout_until(lambda line: paths.append(parse_text_line(line.decode().rstrip())[2])
                          or paths[-1] == self.bpath(b"last"))
        self.assertEqual(paths, [self.bpath(b"x.log"), self.bpath(b".a.c.swp"), self.bpath(b"last")])

    def test_ignore_file_option(self):
        extra = os.path.join(self.tmp, "extra-ignore")
        write(extra, b"*.txt\n")
        tool = self.start(["log", "--ignore-file", extra, "-e", "created", self.root])
        write(self.path("a.txt"))
        write(self.path("a.log"))
        write(self.path("b.md"))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2], self.bpath(b"b.md"))

    def test_git_exclude_files_and_parent_gitignore(self):
        home = os.path.join(self.tmp, "home")
        write(os.path.join(home, ".gitconfig"),
              b"[user]\n\tname = x\n[core]\n\texcludesFile = ~/global-ignore\n")
        write(os.path.join(home, "global-ignore"), b"*.bak\n")
        write(self.path(".git", "info", "exclude"), b"/sub/secret\n")
        write(self.path(".gitignore"), b"*.o\n")
        os.makedirs(self.path("sub"))
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        # Watching a subdirectory of the work tree: the top's rules apply.
        tool = self.start(["log", "-e", "created", self.path("sub")], env=env)
        for name in ("x.bak", "secret", "y.o", "plain"):
            write(self.path("sub", name))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2], self.bpath(b"sub/plain"))
        self.assertEqual(tool.drain_stdout(), [])


class TestPatterns(ToolTestCase):
    def test_semicolons_and_commas_split_patterns(self):
        for pattern in ("*.c;*.h", "*.c,*.h"):
            with self.subTest(pattern=pattern):
                tool = self.start(["log", "-p", pattern, "-e", "created", self.root])
                for name in ("a.txt", "a.c", "a.h", "z.c"):
                    touch(self.path(name))
                paths = []
                tool.stdout_until(lambda line: paths.append(parse_text_line(line.decode().rstrip())[2])
                                  or paths[-1] == self.bpath(b"z.c"))
                self.assertEqual(paths, [self.bpath(b"a.c"), self.bpath(b"a.h"), self.bpath(b"z.c")])
                tool.kill()
                for name in ("a.txt", "a.c", "a.h", "z.c"):
                    os.unlink(self.path(name))

    def test_escaped_separator_is_literal(self):
        tool = self.start(["log", "-p", r"a\;b", "-e", "created", self.root])
        touch(self.path("a"))
        touch(self.path("a;b"))
        line = tool.stdout_line()
        self.assertEqual(parse_text_line(line.decode().rstrip())[2], self.bpath(b"a;b"))


class TestLogFormat(ToolTestCase):
    def test_placeholders(self):
        tool = self.start(["log", "--format", "{type}|{path}|{dest}|{is-dir}|{synthetic}|{time}",
                           "-e", "created,moved", self.root])
        touch(self.path("a"))
        os.mkdir(self.path("d"))
        os.rename(self.path("a"), self.path("b c"))
        lines = [tool.stdout_line().decode().rstrip("\n") for _ in range(3)]
        self.assertRegex(lines[0], r"^created\|%s\|\|0\|0\|\d\d:\d\d:\d\d\.\d\d\d$" % re.escape(self.path("a")))
        self.assertTrue(lines[1].startswith("created|%s||1|0|" % self.path("d")), lines[1])
        self.assertTrue(lines[2].startswith('moved|%s|"%s"|0|0|' % (self.path("a"), self.path("b c"))),
                        lines[2])


class TestExecEveryday(ExecTestCase):
    def test_runs_once_at_start(self):
        self.start(["exec", self.root, "--", PYTHON, RECORD, self.log, "{paths}"])
        first = self.wait_records(1)[0]
        self.assertEqual(first["env"], {})
        self.assertEqual(first["argv"], [])          # {paths}: none at start
        time.sleep(QUIET_PERIOD)
        self.assertEqual(len(self.records()), 1)
        touch(self.path("x"))
        second = self.wait_records(2)[1]
        self.assertIn(base64.b64encode(self.bpath(b"x")).decode(), second["argv"])

    def test_postpone_waits_for_a_change(self):
        self.start(["exec", "--postpone", self.root, "--", PYTHON, RECORD, self.log])
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.records(), [])
        touch(self.path("x"))
        self.assertEqual(b64decode(self.wait_records(1)[0]["env"]["HACHIKO_PATH"]), self.bpath(b"x"))

    def test_command_with_path_placeholder_is_not_run_at_start(self):
        self.start(["exec", self.root, "--", PYTHON, RECORD, self.log, "{path}"])
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.records(), [])

    def test_clear(self):
        for option, sequence in (("--clear", b"\x1b[H\x1b[2J\x1b[3J"), ("-c", b"\x1b[H\x1b[2J\x1b[3J"),
                                 ("--clear=reset", b"\x1bc")):
            with self.subTest(option=option):
                tool = self.start(["exec", option, self.root, "--", "echo", "run"])
                self.assertEqual(tool.stdout_line(), sequence + b"run\n")
                touch(self.path("x"))
                self.assertEqual(tool.stdout_line(), sequence + b"run\n")
                tool.kill()

    def test_on_busy_update_restart_stops_the_run(self):
        gate = os.path.join(self.tmp, "gate")     # never opened: each run waits 20 s
        env = dict(os.environ, RECORD_GATE=gate)
        tool = self.start(["exec", "--on-busy-update=restart", self.root, "--",
                           PYTHON, RECORD, self.log], env=env)
        first = self.wait_records(1)[0]
        self.pgids.add(first["pid"])
        touch(self.path("x"))
        second = self.wait_records(2)[1]          # long before the gate's 20 s
        self.pgids.add(second["pid"])
        self.assertTrue(process_gone(first["pid"]))
        self.assertEqual(b64decode(second["env"]["HACHIKO_PATH"]), self.bpath(b"x"))
        tool.signal(signal.SIGTERM)
        self.assertEqual(tool.wait(), 143)

    def test_on_busy_update_signal_only_signals(self):
        gate = os.path.join(self.tmp, "gate")
        env = dict(os.environ, RECORD_GATE=gate)
        self.start(["exec", "--on-busy-update", "signal", "--signal", "TERM", self.root, "--",
                    PYTHON, RECORD, self.log], env=env)
        first = self.wait_records(1)[0]
        self.pgids.add(first["pid"])
        touch(self.path("x"))
        wait_for(lambda: process_gone(first["pid"]), what="the signalled run to end")
        time.sleep(QUIET_PERIOD)
        self.assertEqual(len(self.records()), 1)

    def test_paths_beyond_the_argument_limit_are_split_not_lost(self):
        # A 1 MiB stack limit makes the argument limit 256 KiB: 1200 paths of
        # about 250 bytes do not fit in one run (issue 10, item 13).
        import resource

        def small_stack():
            resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, 1 << 20))

        tool = self.start(["exec", "--postpone", "--latency", "500", "-e", "created", self.root,
                           "--", PYTHON, RECORD, self.log, "{paths}"], preexec_fn=small_stack)
        names = [("f%04d-" % i + "x" * 230).encode() for i in range(1200)]
        for name in names:
            fd = os.open(self.bpath(name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
        expected = {base64.b64encode(self.bpath(n)).decode() for n in names}
        wait_for(lambda: {p for r in self.records() for p in r["argv"]} >= expected,
                 what="every path in some run")
        records = self.records()
        self.assertGreater(len(records), 1)
        self.assertTrue(all(r["argv"] for r in records))
        self.assertEqual(sum(len(r["argv"]) for r in records), len(names))   # each once
        self.assertNotIn("cannot run", b"".join(tool.stderr_lines).decode())

    def test_run_that_cannot_start_is_retried(self):
        script = os.path.join(self.tmp, "cmd.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nprintf '%s\\n' \"$HACHIKO_PATH\" >> \"" + self.log + "\"\n")
        os.chmod(script, 0o755)
        tool = self.start(["exec", "--postpone", "-e", "created", self.root, "--", script])
        os.rename(script, script + ".away")
        touch(self.path("x"))
        tool.expect_stderr(r"cannot run .*trying again")
        os.rename(script + ".away", script)
        wait_for(lambda: read_lines(self.log) == [self.path("x")], what="the retried run")


class TestWait(ToolTestCase):
    def test_one_event_then_exit_0(self):
        tool = self.start(["wait", "-e", "created", self.root])
        touch(self.path("a"))
        self.assertEqual(tool.wait(), 0)
        lines = tool.drain_stdout(0.2) + tool.stdout_lines
        parsed = [parse_text_line(l.decode().rstrip()) for l in tool.stdout_lines]
        self.assertEqual([(t, p) for _, t, p, _, _ in parsed], [("created", self.bpath(b"a"))])

    def test_count_and_json(self):
        tool = self.start(["wait", "--count", "3", "--json", "-e", "created", self.root])
        for name in ("a", "b", "c", "d"):
            touch(self.path(name))
        self.assertEqual(tool.wait(), 0)
        tool.drain_stdout(0.2)
        events = [json.loads(l) for l in tool.stdout_lines]
        self.assertEqual([e["path"] for e in events], [self.path(n) for n in ("a", "b", "c")])

    def test_timeout_exits_1_with_nothing(self):
        begin = time.monotonic()
        result = run_tool(["wait", "-q", "--timeout", "0.5", self.root])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, b"")
        self.assertGreaterEqual(time.monotonic() - begin, 0.5)


class TestCompletions(ToolTestCase):
    def script(self, shell):
        built = os.environ.get("HACHIKO_TOOL_COMPLETIONS")
        generated = run_tool(["completions", shell]).stdout
        if built:
            name = {"bash": "hachiko", "zsh": "_hachiko", "fish": "hachiko.fish"}[shell]
            with open(os.path.join(built, name), "rb") as f:
                self.assertEqual(f.read(), generated)   # the installed file is current
        path = os.path.join(self.tmp, "completion." + shell)
        with open(path, "wb") as f:
            f.write(generated)
        return path

    def bash(self, script, code):
        return subprocess.run(["bash", "--norc", "-c", "source %s; %s" % (script, code)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=DEADLINE)

    def test_bash_loads_and_completes_from_the_option_tables(self):
        script = self.script("bash")
        result = self.bash(script, "complete -p hachiko")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"-F _hachiko hachiko", result.stdout)

        def complete(*words):
            code = ("COMP_WORDS=(%s); COMP_CWORD=%d; _hachiko; printf '%%s\\n' \"${COMPREPLY[@]}\""
                    % (" ".join("'%s'" % w for w in words), len(words) - 1))
            return self.bash(script, code).stdout.decode().split()

        self.assertEqual(complete("hachiko", "wa"), ["wait"])
        self.assertIn("--postpone", complete("hachiko", "exec", "--po"))
        self.assertIn("--on-busy-update", complete("hachiko", "exec", "--on"))
        self.assertEqual(complete("hachiko", "exec", "--on-busy-update", "re"), ["restart"])
        self.assertIn("--no-ignore-files", complete("hachiko", "log", "--no-i"))
        self.assertIn("attribute-changed", complete("hachiko", "log", "-e", ""))
        self.assertIn("--stdin", complete("hachiko", "restart", "--st"))
        self.assertNotIn("completions", complete("hachiko", ""))

    def test_zsh_and_fish_scripts_parse(self):
        for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])):
            with self.subTest(shell=shell):
                script = self.script(shell)
                if shutil.which(check[0]) is None:
                    continue
                result = subprocess.run(check + [script], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, timeout=DEADLINE)
                self.assertEqual(result.returncode, 0, result.stderr)


class TestRestartEveryday(ToolTestCase):
    def zombies_of(self, pid):
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] == "Z":
                out.append(int(entry))
        return out

    def test_no_zombies_after_20_restarts_of_a_command_leaving_a_daemon(self):
        # Each run leaves a daemon in a session of its own (setsid), which
        # ends soon after the run is stopped; hachiko, the subreaper,
        # inherits it and must reap it (issue 10, item 14).
        starts = os.path.join(self.tmp, "starts")
        daemons = os.path.join(self.tmp, "daemons")
        command = ("echo $$ >> %s; setsid sh -c 'echo $$ >> %s; sleep 0.3' & exec sleep 60"
                   % (starts, daemons))
        tool = self.start(["restart", "--latency", "20", self.root, "--", "sh", "-c", command])
        for i in range(1, 21):
            wait_for(lambda: len(read_lines(starts)) >= i, what="start %d" % i)
            self.pgids.add(int(read_lines(starts)[-1]))
            touch(self.path("change%d" % (i % 3)))
        wait_for(lambda: len(read_lines(starts)) >= 21, what="the last start")
        self.pgids.add(int(read_lines(starts)[-1]))
        daemon_pids = [int(p) for p in read_lines(daemons)]
        self.assertGreaterEqual(len(daemon_pids), 20)
        # Every daemon of a stopped run has ended: none may be left a zombie.
        wait_for(lambda: all(process_gone(p) for p in daemon_pids[:20]), what="the daemons to end")
        wait_for(lambda: not self.zombies_of(tool.proc.pid), timeout=5, what="no zombies")
        tool.signal(signal.SIGTERM)
        tool.wait()

    def test_stdin_is_passed_with_the_option_only(self):
        out = os.path.join(self.tmp, "out")
        for option, expected in ((["--stdin"], b"hello\n"), ([], b"")):
            with self.subTest(option=option):
                if os.path.exists(out):
                    os.unlink(out)
                read_end, write_end = os.pipe()
                tool = self.start(["restart", *option, self.root, "--", "sh", "-c",
                                   "cat > %s.part; mv %s.part %s; exec sleep 60" % (out, out, out)],
                                  stdin=read_end)
                os.close(read_end)
                os.write(write_end, b"hello\n")
                os.close(write_end)
                wait_for(lambda: os.path.exists(out), what="the command to read its input")
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), expected)
                tool.signal(signal.SIGTERM)
                tool.wait()

    def test_stdin_on_a_terminal(self):
        # hachiko on a terminal of its own: COMMAND's group gets the
        # terminal to read, and Ctrl-C there ends hachiko with 130.
        import fcntl
        import termios

        out = os.path.join(self.tmp, "out")
        master, slave = pty.openpty()

        def controlling_terminal():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            tool = self.start(["restart", "--stdin", self.root, "--", "sh", "-c",
                               'read line; echo "$line" > %s; exec sleep 60' % out],
                              stdin=slave, preexec_fn=controlling_terminal)
            os.close(slave)
            slave = None
            os.write(master, b"hello\n")
            wait_for(lambda: read_lines(out) == ["hello"], what="the command to read the terminal")
            os.write(master, b"\x03")
            self.assertEqual(tool.wait(), 130)
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
        TOOL = sys.argv.pop(1)
    if not TOOL:
        sys.exit("test-tool.py: set HACHIKO_TOOL or pass the hachiko binary")
    TOOL = os.path.abspath(TOOL)
    if TOOL_TESTING:
        TOOL_TESTING = os.path.abspath(TOOL_TESTING)
    unittest.main()
