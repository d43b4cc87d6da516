#!/usr/bin/python3
# record.py
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# COMMAND for `hachiko exec` in test-tool.py: appends one JSON line to
# LOGFILE with its arguments and HACHIKO_* variables, as exact bytes in
# base64. If RECORD_GATE is set, then waits (at most 20 s) until that file
# exists, to keep the run busy while the test makes more changes.

import base64
import json
import os
import sys
import time


def b64(data):
    return base64.b64encode(data).decode("ascii")


def main():
    log = sys.argv[1]
    record = {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "argv": [b64(os.fsencode(arg)) for arg in sys.argv[2:]],
        "env": {key.decode(): b64(value)
                for key, value in os.environb.items()
                if key.startswith(b"HACHIKO_")},
    }
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps(record) + "\n").encode())
    os.close(fd)

    gate = os.environ.get("RECORD_GATE")
    if gate:
        deadline = time.monotonic() + 20
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)


if __name__ == "__main__":
    main()
