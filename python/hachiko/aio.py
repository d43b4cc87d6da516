# aio.py: hachiko on an asyncio event loop
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""AIOWatchdog, AIOEventHandler and awatch() on a plain asyncio loop.

No GLib main loop runs and no thread is added: each AIOWatchdog owns an
``Hk.LoopBridge`` whose descriptor is registered with ``loop.add_reader()``,
so the library's deliveries are dispatched by the asyncio loop itself, on its
thread. Works with any loop that implements ``add_reader`` (asyncio's
selector loops, uvloop).

Handler semantics (see docs/python.md):

- the coroutines of one AIOWatchdog's handler run one at a time, in event
  order: ``on_any_event(e)``, then the specific method for ``e``, then the
  methods for the next event. They never overlap; a handler that wants
  concurrency starts its own tasks.
- they run in a task of the watchdog's loop; a slow handler delays the next
  ones but loses nothing. Events wait in a queue of at most ``max_pending``;
  past that the watchdog stops reading, the library's own bounded queue fills
  up, and the library reports ``overflow`` followed by a rescan that reports
  exactly what changed (synthetic events). Memory stays bounded.
- ``stop()`` returns with nothing more to run: queued events are dropped and a
  handler suspended in an ``await`` is cancelled (unless ``stop()`` was
  called by that handler itself, which then finishes normally).
"""

import asyncio
import collections
import errno
import os

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Hk", "1")
from gi.repository import GLib, Gio, Hk  # noqa: E402

__all__ = [
    "AIOWatchdog",
    "AIOEventHandler",
    "OverflowEvent",
    "ErrorEvent",
    "awatch",
    "DEFAULT_MAX_PENDING",
]

#: Events an AIOWatchdog keeps queued for a slow consumer before it stops
#: reading (the library's own queue holds as many again).
DEFAULT_MAX_PENDING = 65536


class OverflowEvent:
    """Events were lost (kernel queue overflow, or a consumer too slow).

    The synthetic events that follow report exactly what changed meanwhile.
    Given to ``AIOEventHandler.on_overflow`` and yielded by ``events()`` and
    ``awatch()``.
    """

    __slots__ = ("src_path",)
    event_type = "overflow"
    dest_path = None
    is_directory = True
    is_synthetic = True

    def __init__(self, src_path):
        self.src_path = src_path

    @property
    def path(self):
        return self.src_path

    def __repr__(self):
        return "<hachiko.OverflowEvent %r>" % (self.src_path,)


class ErrorEvent:
    """Part of the tree cannot be watched, or the root is gone.

    ``error`` is the ``GLib.Error`` the library reported (for instance
    ``Gio.IOErrorEnum.NO_SPACE`` when the inotify watch limit is reached, or
    ``NOT_FOUND`` when the root was deleted; the watchdog then stops).
    """

    __slots__ = ("src_path", "error")
    event_type = "error"
    dest_path = None
    is_directory = True
    is_synthetic = False

    def __init__(self, src_path, error):
        self.src_path = src_path
        self.error = error

    @property
    def path(self):
        return self.src_path

    def __repr__(self):
        return "<hachiko.ErrorEvent %r %s>" % (self.src_path, self.error.message)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AIOEventHandler:
    """Base class for handlers whose methods are coroutines.

    Override any of ``on_any_event``, ``on_created``, ``on_deleted``,
    ``on_modified``, ``on_moved``, ``on_attribute_changed``, ``on_closed``,
    ``on_opened``, ``on_closed_no_write`` (each ``async def m(self, event)``;
    ``on_any_event`` runs first, then the specific one), and
    ``on_overflow`` / ``on_error`` for the library's reports.

    ``dispatch(event)`` hands one event over from any thread, as a watchdog
    ``Observer`` does: the methods then run on ``loop`` (which must be given,
    or the handler be created on the running loop), in order.
    """

    def __init__(self, loop=None):
        self._loop = loop if loop is not None else _running_loop()
        self._method_table = {}
        self._dispatch_runner = None

    @property
    def loop(self):
        return self._loop

    async def on_any_event(self, event):
        pass

    async def on_created(self, event):
        pass

    async def on_deleted(self, event):
        pass

    async def on_modified(self, event):
        pass

    async def on_moved(self, event):
        pass

    async def on_attribute_changed(self, event):
        pass

    async def on_closed(self, event):
        pass

    async def on_opened(self, event):
        pass

    async def on_closed_no_write(self, event):
        pass

    async def on_overflow(self, event):
        pass

    async def on_error(self, event):
        pass

    def _methods_for(self, event_type):
        """The bound methods an event of @event_type runs, in order."""
        methods = self._method_table.get(event_type)
        if methods is None:
            if event_type in ("overflow", "error"):
                methods = (getattr(self, "on_" + event_type),)
            else:
                specific = getattr(self, "on_" + event_type.replace("-", "_"), None)
                methods = (self.on_any_event,) if specific is None else (self.on_any_event, specific)
            self._method_table[event_type] = methods
        return methods

    def _bind(self, loop):
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ValueError("this AIOEventHandler belongs to another event loop")

    def dispatch(self, event):
        """Runs the methods for @event on the handler's loop; thread-safe.

        Events given to ``dispatch`` run one at a time in the order they were
        given, like those of an AIOWatchdog.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("AIOEventHandler.dispatch() needs a loop: "
                               "create the handler with loop=... or on the running loop")
        if _running_loop() is loop:
            self._feed_dispatched(event)
        else:
            loop.call_soon_threadsafe(self._feed_dispatched, event)

    def _feed_dispatched(self, event):
        if self._dispatch_runner is None:
            self._dispatch_runner = _Runner(self._loop, self)
        self._dispatch_runner.feed((event,))


class _Runner:
    """Runs a handler's coroutines for a stream of events: one at a time, in
    order, in a task that exists only while there is something to run."""

    def __init__(self, loop, handler, on_drained=None):
        self.loop = loop
        self.handler = handler
        self.pending = collections.deque()
        self.task = None
        self.closed = False
        self.on_drained = on_drained

    def feed(self, events):
        if self.closed:
            return
        self.pending.extend(events)
        if self.task is None and self.pending:
            self.task = self.loop.create_task(self._run())

    def close(self):
        """Nothing starts after this; an in-flight handler is cancelled
        unless it is the caller."""
        self.closed = True
        self.pending.clear()
        task = self.task
        if task is not None and task is not _current_task(self.loop):
            task.cancel()

    async def _run(self):
        pending = self.pending
        methods_for = self.handler._methods_for
        try:
            while pending and not self.closed:
                event = pending.popleft()
                for method in methods_for(event.event_type):
                    if self.closed:
                        break
                    try:
                        await method(event)
                    except asyncio.CancelledError:
                        if self.closed or asyncio.current_task().cancelling():
                            raise
                        self._report(method, event, None)
                    except Exception as exc:
                        self._report(method, event, exc)
        finally:
            self.task = None
        if self.on_drained is not None and not self.closed:
            self.on_drained()

    def _report(self, method, event, exc):
        context = {
            "message": "Exception in hachiko event handler %s for %r" % (method.__qualname__, event),
            "event": event,
        }
        if exc is not None:
            context["exception"] = exc
        self.loop.call_exception_handler(context)


def _current_task(loop):
    try:
        return asyncio.current_task(loop)
    except RuntimeError:
        return None


class _Subscriber:
    """A queue of events (or of batches) for one events()/awatch() consumer."""

    def __init__(self, loop, batches=False):
        self.loop = loop
        self.batches = batches
        self.items = collections.deque()
        self.size = 0
        self.waiter = None
        self.closed = False

    def put(self, events):
        if self.closed:
            return
        if self.batches:
            self.items.append(list(events))
        else:
            self.items.extend(events)
        self.size += len(events)
        self._wake()

    def close(self, drop=False):
        self.closed = True
        if drop:
            self.items.clear()
            self.size = 0
        self._wake()

    def _wake(self):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self):
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


_IO_ERRORS = {
    Gio.IOErrorEnum.NOT_FOUND: (FileNotFoundError, errno.ENOENT),
    Gio.IOErrorEnum.PERMISSION_DENIED: (PermissionError, errno.EACCES),
    Gio.IOErrorEnum.NO_SPACE: (OSError, errno.ENOSPC),
    Gio.IOErrorEnum.NOT_SUPPORTED: (OSError, errno.EOPNOTSUPP),
}


def _os_error(error, path):
    """A GLib.Error from starting, as the OSError a Python user expects."""
    if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
        return asyncio.CancelledError(error.message)
    cls, code = OSError, None
    if error.domain == "g-io-error-quark":
        for value, (error_cls, error_code) in _IO_ERRORS.items():
            if error.code == int(value):
                cls, code = error_cls, error_code
    exc = cls(code, error.message, path) if code is not None else cls(error.message)
    exc.__cause__ = error
    return exc


class AIOWatchdog:
    """Watches a directory tree and runs an AIOEventHandler's coroutines.

    ``path`` may be a ``str``, ``bytes`` or ``os.PathLike``; ``filter`` an
    ``Hk.Filter`` or a list of glob patterns (see docs/filters.md);
    ``latency`` the coalescing window in milliseconds (0: deliver at once).
    ``start()`` and ``stop()`` are plain methods to call on the loop's thread
    (from a coroutine, or before the loop runs when ``loop`` is given);
    ``async with AIOWatchdog(...) as w:`` starts without blocking the loop
    while the tree is walked, and stops on exit.
    """

    def __init__(self, path=".", recursive=True, event_handler=None, *, loop=None,
                 filter=None, latency=0, max_latency=None, access_events=False,
                 follow_symlinks=False, max_pending=DEFAULT_MAX_PENDING):
        self._path = os.fsdecode(os.fspath(path))
        self._recursive = bool(recursive)
        self._handler = event_handler if event_handler is not None else AIOEventHandler(loop=loop)
        self._loop = loop
        self._filter = Hk.Filter.coerce(filter)
        self._latency = latency
        self._max_latency = max_latency
        self._access_events = access_events
        self._follow_symlinks = follow_symlinks
        self._max_pending = max_pending
        self._bridge = None
        self._watchdog = None
        self._signal_ids = []
        self._runner = None
        self._subscribers = set()
        self._running = False
        self._starting = False
        self._start_future = None
        self._reading = False
        self._throttled = False

    # --- public API ---------------------------------------------------------

    @property
    def path(self):
        return self._path

    @property
    def event_handler(self):
        return self._handler

    @property
    def loop(self):
        return self._loop

    @property
    def running(self):
        return self._running

    @property
    def watchdog(self):
        """The underlying ``Hk.Watchdog`` (created by the first start)."""
        return self._watchdog

    def start(self):
        """Starts watching; returns once every directory is watched, so any
        change made after it returns is reported. Raises ``OSError``
        (``FileNotFoundError``, ``PermissionError``, ...) if the root cannot
        be watched. Starting a running watchdog does nothing."""
        if self._running:
            return
        self._check_path()
        self._prepare()
        try:
            self._watchdog.start(None)
        except GLib.Error as error:
            self._unprepare()
            raise _os_error(error, self._path)
        self._started()

    async def astart(self):
        """Like ``start()``, but the tree is walked on the library's worker
        thread while the loop keeps running."""
        if self._running:
            return
        self._check_path()
        self._prepare()
        future = self._start_future = self._loop.create_future()

        def on_started(watchdog, result):
            if future.done():
                return
            try:
                watchdog.start_finish(result)
            except GLib.Error as error:
                future.set_exception(_os_error(error, self._path))
            else:
                future.set_result(None)

        # The task's callback comes back on the bridge's context, which the
        # loop dispatches: start reading now.
        self._starting = True
        self._set_reading(True)
        context = self._bridge.get_context()
        context.push_thread_default()
        try:
            self._watchdog.start_async(None, on_started)
        finally:
            context.pop_thread_default()
        try:
            await future
        except BaseException:
            self._watchdog.stop()
            self._unprepare()
            raise
        finally:
            self._starting = False
            self._start_future = None
        self._started()

    def stop(self):
        """Stops watching. When this returns no handler coroutine starts any
        more: queued events are dropped and a handler suspended in ``await``
        is cancelled (a handler that calls ``stop()`` itself finishes
        normally). ``events()`` iterations end. It can be started again; a
        pending ``astart()`` raises ``asyncio.CancelledError``."""
        if self._start_future is not None:
            # Its callback would come through the reader removed below.
            self._start_future.cancel()
        if self._running or self._starting:
            self._running = False
            self._watchdog.stop()
            self._unprepare()
        if self._runner is not None:
            self._runner.close()
        for subscriber in self._subscribers:
            subscriber.close(drop=True)

    async def __aenter__(self):
        await self.astart()
        return self

    async def __aexit__(self, *exc_info):
        self.stop()

    async def events(self):
        """Yields every event (``Hk.Event``, or ``OverflowEvent`` /
        ``ErrorEvent``) until the watchdog stops; several iterations may run
        at once, each sees every event. Independent of the handler."""
        subscriber = self._subscribe(batches=False)
        try:
            items = subscriber.items
            while True:
                while items:
                    subscriber.size -= 1
                    yield items.popleft()
                if subscriber.closed:
                    return
                self._consumer_idle()
                await subscriber.wait()
        finally:
            self._subscribers.discard(subscriber)

    def __repr__(self):
        return "<hachiko.AIOWatchdog %r %s>" % (self._path, "running" if self._running else "stopped")

    # --- plumbing ------------------------------------------------------------

    def _check_path(self):
        # GIO takes "" for a URI, not a path; as os.stat("") does, say
        # it does not exist.
        if self._path == "":
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self._path)

    def _prepare(self):
        if self._loop is None:
            self._loop = _running_loop() or asyncio.get_event_loop()
        self._handler._bind(self._loop)
        if self._bridge is None:
            self._bridge = Hk.LoopBridge.new()
            context = self._bridge.get_context()
            # The context that is thread-default at creation owns the
            # watchdog: every delivery is dispatched through the bridge.
            context.push_thread_default()
            try:
                self._watchdog = Hk.Watchdog(self._path, recursive=self._recursive,
                                             filter=self._filter, latency=self._latency,
                                             access_events=self._access_events,
                                             follow_symlinks=self._follow_symlinks)
            finally:
                context.pop_thread_default()
            if self._max_latency is not None:
                self._watchdog.set_max_latency(self._max_latency)
        watchdog = self._watchdog
        self._signal_ids = [
            watchdog.connect("batch", self._on_batch),
            watchdog.connect("overflow", self._on_overflow),
            watchdog.connect("error", self._on_error),
            watchdog.connect("notify::running", self._on_running_changed),
        ]
        self._runner = _Runner(self._loop, self._handler, self._consumer_idle)

    def _started(self):
        self._running = True
        self._throttled = False
        self._set_reading(True)

    def _unprepare(self):
        self._set_reading(False)
        for handler_id in self._signal_ids:
            self._watchdog.disconnect(handler_id)
        self._signal_ids = []

    def _set_reading(self, reading):
        if reading == self._reading:
            return
        if reading:
            self._loop.add_reader(self._bridge.get_fd(), self._on_readable)
        else:
            self._loop.remove_reader(self._bridge.get_fd())
        self._reading = reading

    def _subscribe(self, batches):
        loop = self._loop or _running_loop()
        subscriber = _Subscriber(loop, batches)
        self._subscribers.add(subscriber)
        return subscriber

    def _on_readable(self):
        self._bridge.dispatch()
        if (len(self._runner.pending) > self._max_pending or self._subscribers) and \
                self._running and self._over_limit():
            # Stop reading: the library's bounded queue takes over, then
            # reports overflow and rescans once we read again.
            self._throttled = True
            self._set_reading(False)

    def _over_limit(self):
        limit = self._max_pending
        if len(self._runner.pending) > limit:
            return True
        return any(s.size > limit for s in self._subscribers)

    def _consumer_idle(self):
        if self._throttled and self._running and not self._over_limit():
            self._throttled = False
            self._set_reading(True)

    def _deliver(self, events):
        self._runner.feed(events)
        for subscriber in self._subscribers:
            subscriber.put(events)

    def _on_batch(self, watchdog, events):
        self._deliver(events)

    def _on_overflow(self, watchdog):
        self._deliver((OverflowEvent(self._path),))

    def _on_error(self, watchdog, error):
        self._deliver((ErrorEvent(self._path, error),))

    def _on_running_changed(self, watchdog, pspec):
        if watchdog.get_running() or not self._running:
            return
        # The library stopped by itself (root deleted or unmounted): what was
        # delivered still runs, then iterations end.
        self._running = False
        self._unprepare()
        for subscriber in self._subscribers:
            subscriber.close()


async def awatch(*paths, recursive=True, filter=None, latency=0, stop_event=None,
                 loop=None, **kwargs):
    """Yields a list of events per delivery for one or more paths.

    Like watchfiles' ``awatch``: ``async for batch in awatch(path):``. Each
    batch holds ``Hk.Event`` objects (attributes ``event_type``,
    ``src_path``, ``dest_path``, ``is_directory``, ``is_synthetic``), or one
    ``OverflowEvent`` / ``ErrorEvent``. Ends when ``stop_event`` (an
    ``asyncio.Event``, or anything with ``is_set()`` and a ``wait()``
    coroutine) is set, or when a root is gone (after the batch holding its
    ``ErrorEvent``). Other keyword arguments
    go to ``AIOWatchdog``.
    """
    if not paths:
        paths = (".",)
    loop = loop or asyncio.get_running_loop()
    watchdogs = [AIOWatchdog(path, recursive, loop=loop, filter=filter, latency=latency, **kwargs)
                 for path in paths]
    subscriber = _Subscriber(loop, batches=True)
    stop_waiter = None
    try:
        for watchdog in watchdogs:
            watchdog._subscribers.add(subscriber)
            await watchdog.astart()
        if stop_event is not None:
            if stop_event.is_set():
                return
            stop_waiter = loop.create_task(stop_event.wait())
            stop_waiter.add_done_callback(lambda _: subscriber.close(drop=True))
        items = subscriber.items
        while True:
            while items:
                batch = items.popleft()
                subscriber.size -= len(batch)
                yield batch
                if stop_event is not None and stop_event.is_set():
                    return
            if subscriber.closed or not any(w.running for w in watchdogs):
                return
            for watchdog in watchdogs:
                watchdog._consumer_idle()
            await subscriber.wait()
    finally:
        if stop_waiter is not None:
            stop_waiter.cancel()
        for watchdog in watchdogs:
            watchdog.stop()
            watchdog._subscribers.discard(subscriber)
