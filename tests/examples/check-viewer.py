#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs the GTK 4 example on a temporary folder, through its test hook
# (HACHIKO_VIEWER_TEST=1: it prints each row it adds and reads commands on
# stdin). Creates, moves and deletes files and waits for the rows; checks that
# a filter pattern typed in the entry applies to the events that follow, and
# that Pause stops the rows until Resume; saves a screenshot of the screen
# (ImageMagick's `import`). Run it inside an X server, e.g. Xvfb:
#
#   xvfb-run -a -s '-screen 0 1024x768x24' check-viewer.py VIEWER SCREENSHOT.png

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading

TIMEOUT = 60.0


class Viewer:
    def __init__(self, command, env):
        self.seen = []
        self.lines = queue.Queue()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env, text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def wait_for(self, expected):
        """Waits for the line `expected`; returns the lines read before it."""
        before = []
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {expected!r}; saw {self.seen}")
            if line is None:
                raise AssertionError(f"viewer exited ({self.process.wait()}) before {expected!r}; "
                                     f"saw {self.seen}")
            self.seen.append(line)
            print("viewer:", line)
            if line.startswith("error "):
                raise AssertionError(line)
            if line == expected or (expected.endswith("*") and line.startswith(expected[:-1])):
                return before
            before.append(line)


def touch(path):
    with open(path, "w") as f:
        f.write("x\n")


def main():
    viewer_path, screenshot = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="hachiko-viewer-")
    for i in range(20):
        os.makedirs(os.path.join(root, f"dir{i:02}", "sub"))
    env = dict(os.environ, HACHIKO_VIEWER_TEST="1", GDK_BACKEND="x11", GSK_RENDERER="cairo",
               NO_AT_BRIDGE="1", GTK_A11Y="none", GSETTINGS_BACKEND="memory")
    viewer = Viewer([viewer_path, root], env)
    try:
        viewer.wait_for("ready 41")  # the root and 40 directories

        a, b = os.path.join(root, "a.txt"), os.path.join(root, "b.txt")
        touch(a)
        viewer.wait_for(f"row created {a}")
        os.rename(a, b)
        viewer.wait_for(f"row moved {a} -> {b}")
        os.unlink(b)
        viewer.wait_for(f"row deleted {b}")

        # A pattern typed in the entry applies to the events after it: of two
        # files created in order, only the one matching shows.
        viewer.send("filter *.log !dir01/")
        viewer.wait_for("filter-applied *.log !dir01/")
        hidden, ignored, shown = (os.path.join(root, "c.txt"),
                                  os.path.join(root, "dir01", "e.log"),
                                  os.path.join(root, "dir02", "d.log"))
        touch(hidden)
        touch(ignored)
        touch(shown)
        before = viewer.wait_for(f"row created {shown}")
        assert not any(hidden in line or ignored in line for line in before), before

        viewer.send("pause")
        viewer.wait_for("paused")
        while_paused = os.path.join(root, "while-paused.log")
        touch(while_paused)
        viewer.send("resume")
        viewer.wait_for("ready *")
        after = os.path.join(root, "after.log")
        touch(after)
        before = viewer.wait_for(f"row created {after}")
        assert not any(while_paused in line for line in before), before

        # Leave a few rows of each kind on screen for the screenshot.
        for name in ("notes.log", "build.log"):
            touch(os.path.join(root, "dir03", name))
        os.rename(os.path.join(root, "dir03", "notes.log"), os.path.join(root, "dir03", "old.log"))
        viewer.wait_for(f"row moved {os.path.join(root, 'dir03', 'notes.log')} -> "
                        f"{os.path.join(root, 'dir03', 'old.log')}")
        # The rows are in the model; wait for a frame that draws them.
        viewer.send("draw")
        viewer.wait_for("drawn")
        subprocess.run(["import", "-window", "root", "-crop", "760x480+0+0", screenshot],
                       check=True, timeout=TIMEOUT)
        assert os.path.getsize(screenshot) > 1000
        viewer.send("quit")
        viewer.process.stdin.close()
        if viewer.process.wait(timeout=TIMEOUT) != 0:
            raise AssertionError(f"viewer exited with status {viewer.process.returncode}")
    finally:
        if viewer.process.poll() is None:
            viewer.process.kill()
            viewer.process.wait()
        shutil.rmtree(root, ignore_errors=True)
    print(f"ok: rows appeared, filter and pause applied; screenshot in {screenshot}")


if __name__ == "__main__":
    main()
