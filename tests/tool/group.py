#!/usr/bin/python3
# group.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# COMMAND for `hachiko restart` in test-tool.py: a leader that forks a
# grandchild into its own process group. Both append "EVENT ROLE PID PGID"
# lines to LOGFILE: "start" once running, "term" when SIGTERM arrives.
#
#   group.py LOGFILE term     on SIGTERM: record it; the leader exits 7
#   group.py LOGFILE ignore   SIGTERM is ignored (only SIGKILL stops them)
#   group.py LOGFILE exit N   the leader exits N at once (no grandchild)
#
# Every process exits by itself after 60 s, whatever happens.

import os
import signal
import sys
import time

role = "leader"


def record(event):
    line = "%s %s %d %d\n" % (event, role, os.getpid(), os.getpgrp())
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line.encode())
    os.close(fd)


def on_term(signum, frame):
    record("term")
    os._exit(7 if role == "leader" else 0)


def main():
    global role
    mode = sys.argv[2]

    if mode == "exit":
        record("start")
        sys.exit(int(sys.argv[3]))

    # Before forking, so that no signal can come before the handler.
    if mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)

    if os.fork() == 0:
        role = "grandchild"
    record("start")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(0)


if __name__ == "__main__":
    main()
