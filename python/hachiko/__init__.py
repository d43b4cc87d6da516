# hachiko: watch directory trees from asyncio
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Watch directory trees from asyncio, with coroutine handlers.

The Python face of the hachiko C library (GI namespace ``Hk``)::

    from hachiko import AIOWatchdog, AIOEventHandler

    class MyEventHandler(AIOEventHandler):
        async def on_created(self, event):
            print('Created:', event.src_path)

    async def main():
        async with AIOWatchdog('/srv/data', event_handler=MyEventHandler()):
            await asyncio.sleep(60)

See docs/python.md for the whole guide.
"""

from .aio import (  # noqa: F401
    DEFAULT_MAX_PENDING,
    AIOEventHandler,
    AIOWatchdog,
    ErrorEvent,
    OverflowEvent,
    awatch,
)
from gi.repository import Hk  # noqa: E402

#: The events handlers receive: ``Hk.Event`` with the attributes
#: ``event_type``, ``src_path``, ``dest_path``, ``is_directory`` and
#: ``is_synthetic`` (from the PyGObject overrides shipped with hachiko).
Event = Hk.Event
Filter = Hk.Filter

__all__ = [
    "AIOWatchdog",
    "AIOEventHandler",
    "Event",
    "ErrorEvent",
    "Filter",
    "OverflowEvent",
    "awatch",
    "DEFAULT_MAX_PENDING",
]
