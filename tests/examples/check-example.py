#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs an example watcher (COMMAND... DIRECTORY) on a temporary directory and
# checks that it really watches: once it prints "watching", a file created,
# renamed and deleted there must show up as "created", "moved" and "deleted"
# lines. Bounded by a deadline; the temporary directory is always removed.
#
#   check-example.py COMMAND [ARGS...]

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

TIMEOUT = 30.0


def main():
    command = sys.argv[1:]
    if not command:
        sys.exit("usage: check-example.py COMMAND [ARGS...]")

    root = tempfile.mkdtemp(prefix="hachiko-example-")
    lines = queue.Queue()
    seen = []
    child = subprocess.Popen(command + [root], stdout=subprocess.PIPE, text=True,
                             errors="replace")

    def read_lines():
        for line in child.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read_lines, daemon=True).start()

    def wait_for(predicate, what):
        while True:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {what}; saw {seen}")
            if line is None:
                raise AssertionError(f"exited ({child.wait()}) before {what}; saw {seen}")
            seen.append(line)
            print("example:", line)
            if predicate(line):
                return

    try:
        wait_for(lambda l: l.startswith("watching "), "the 'watching' line")
        path = os.path.join(root, "hello.txt")
        moved = os.path.join(root, "renamed.txt")
        with open(path, "w") as f:
            f.write("hello\n")
        wait_for(lambda l: l == f"created {path}", f"'created {path}'")
        os.rename(path, moved)
        wait_for(lambda l: l == f"moved {path} -> {moved}", "the move")
        os.unlink(moved)
        wait_for(lambda l: l == f"deleted {moved}", "the deletion")
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        shutil.rmtree(root, ignore_errors=True)

    if child.returncode != 0:
        raise AssertionError(f"example exited with status {child.returncode}")
    print("ok: the example reported create, move and delete")


if __name__ == "__main__":
    main()
