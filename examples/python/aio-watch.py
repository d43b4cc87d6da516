#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The original hachiko's example, unchanged but for the path: coroutine
# handlers on a plain asyncio loop, no GLib main loop.
#
#   examples/python/aio-watch.py [PATH [SECONDS]]

import asyncio
import sys

from hachiko.hachiko import AIOWatchdog, AIOEventHandler


class MyEventHandler(AIOEventHandler):
    async def on_created(self, event):
        if not event.is_directory:
            print('Created:', event.src_path, flush=True)

    async def on_moved(self, event):
        print('Moved:', event.src_path, '->', event.dest_path, flush=True)

    async def on_deleted(self, event):
        print('Deleted:', event.src_path, flush=True)


async def watch_fs(path, seconds=20):
    watch = AIOWatchdog(path, event_handler=MyEventHandler())
    watch.start()
    print('Watching', path, flush=True)
    for _ in range(seconds):
        await asyncio.sleep(1)
    watch.stop()


if __name__ == '__main__':
    path = sys.argv[1] if len(sys.argv) > 1 else '.'
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    asyncio.run(watch_fs(path, seconds))
