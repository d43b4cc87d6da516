#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# hachiko.awatch(): one list of events per delivery, like watchfiles.
# Stops after SECONDS (default: on Ctrl-C) through stop_event.
#
#   examples/python/awatch.py [PATH [SECONDS]]

import asyncio
import signal
import sys

import hachiko


async def main(path, seconds):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if seconds:
        loop.call_later(seconds, stop.set)

    print("Watching", path, flush=True)
    async for batch in hachiko.awatch(path, filter=None, stop_event=stop):
        for event in batch:
            print(event.event_type, event.src_path, event.dest_path or "", flush=True)
    print("Stopped", flush=True)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "."
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0
    asyncio.run(main(path, seconds))
