#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The hachiko package on a plain asyncio loop (HK_TEST_LOOP=uvloop: on
# uvloop). No GLib main loop runs in this process. Run through meson test,
# which sets GI_TYPELIB_PATH, LD_LIBRARY_PATH and PYTHONPATH (python/ of the
# source tree, for the package and the Hk overrides).

import asyncio
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import gi

gi.require_version("Hk", "1")
from gi.repository import Hk  # noqa: E402

import hachiko  # noqa: E402
from hachiko import AIOEventHandler, AIOWatchdog, awatch  # noqa: E402

LOOP = os.environ.get("HK_TEST_LOOP", "asyncio")
TIMEOUT = 20.0
SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]

if LOOP == "uvloop":
    import uvloop

    def new_loop():
        return uvloop.new_event_loop()
else:
    def new_loop():
        return asyncio.new_event_loop()


async def wait_for(predicate, timeout=TIMEOUT):
    """Lets the loop run until predicate() holds; polls, so no event is
    needed to wake it. Returns the last value."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return predicate()


def touch(path):
    with open(path, "wb"):
        pass


# Files created by another process, so the burst is not slowed by this
# process's loop (nor the loop by the burst).
PRODUCER = """
import os, sys
root, n, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "d%d" % (i // per_dir))
    if i % per_dir == 0:
        os.mkdir(d)
    os.close(os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
"""


def burst_names(n, per_dir):
    return {"d%d/f%d" % (i // per_dir, i) for i in range(n)}


class Recorder(AIOEventHandler):
    """Collects what every method saw, and on which thread."""

    def __init__(self, root, **kwargs):
        super().__init__(**kwargs)
        self.root = root
        self.calls = []       # (method, event_type, relative path)
        self.created = []     # relative paths of created files
        self.synthetic = []   # relative paths of synthetic created files
        self.overflows = 0
        self.threads = set()

    def rel(self, path):
        # Cheaper than os.path.relpath: the burst tests call it 200,000 times.
        return path[len(self.root) + 1:] if path else path

    async def on_any_event(self, event):
        self.threads.add(threading.get_ident())
        self.calls.append(("any", event.event_type, self.rel(event.src_path)))

    async def on_created(self, event):
        self.calls.append(("created", event.event_type, self.rel(event.src_path)))
        if not event.is_directory:
            (self.synthetic if event.is_synthetic else self.created).append(self.rel(event.src_path))

    async def on_deleted(self, event):
        self.calls.append(("deleted", event.event_type, self.rel(event.src_path)))

    async def on_moved(self, event):
        self.calls.append(("moved", self.rel(event.src_path), self.rel(event.dest_path)))

    async def on_overflow(self, event):
        self.overflows += 1
        self.calls.append(("overflow", event.event_type, None))


class AioTestCase(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hachiko-aio-")
        self.loop = new_loop()
        self.loop_errors = []
        self.loop.set_exception_handler(lambda loop, context: self.loop_errors.append(context))

    def tearDown(self):
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def run_async(self, coro, timeout=60):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def path(self, *parts):
        return os.path.join(self.root, *parts)


class SnippetTest(AioTestCase):
    """The issue's example, run as it is shipped."""

    def test_snippet_prints_create_move_delete(self):
        script = SOURCE_ROOT / "examples" / "python" / "aio-watch.py"
        command = [sys.executable, str(script), self.root, "30"]
        if LOOP == "uvloop":
            # The unchanged example, with uvloop as asyncio's loop.
            command[1:1] = ["-c", "import runpy, sys, uvloop; uvloop.install(); "
                            "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "Watching " + self.root)
            os.mkdir(self.path("dir"))           # a directory: not printed
            touch(self.path("a"))
            os.rename(self.path("a"), self.path("b"))
            os.unlink(self.path("b"))
            expected = [
                "Created: " + self.path("a"),
                "Moved: %s -> %s" % (self.path("a"), self.path("b")),
                "Deleted: " + self.path("b"),
            ]
            lines = []
            reader = threading.Thread(target=lambda: lines.extend(
                proc.stdout.readline().strip() for _ in expected))
            reader.start()
            reader.join(TIMEOUT)
            self.assertEqual(lines, expected)
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)
            proc.stdout.close()


class ExamplesTest(AioTestCase):
    """The other shipped examples print what happens."""

    def run_example(self, name, args, actions, expected, stop=None, any_of=False, on_line=None):
        proc = subprocess.Popen([sys.executable, str(SOURCE_ROOT / "examples" / "python" / name)] + args,
                                stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "Watching " + self.root)
            actions()
            lines = []

            def read():
                for line in proc.stdout:
                    lines.append(line.strip())
                    if on_line is not None:
                        on_line(lines[-1])
                    if any_of:
                        if lines[-1].startswith("moved"):
                            return
                    elif all(e in lines for e in expected):
                        return

            reader = threading.Thread(target=read)
            reader.start()
            reader.join(TIMEOUT)
            if any_of:
                moved = [line for line in lines if line.startswith("moved")]
                self.assertTrue(moved, lines)
                # Each move line names a probe and its new name.
                i = int(moved[0].split()[1].rsplit("p", 1)[1])
                self.assertEqual(moved[0], "moved %s %s" % (self.path("p%d" % i), self.path("q%d" % i)))
            else:
                for line in expected:
                    self.assertIn(line, lines)
            if stop is not None:
                proc.send_signal(stop)
                self.assertEqual(proc.wait(TIMEOUT), 0)
        finally:
            proc.kill()
            proc.wait(TIMEOUT)
            proc.stdout.close()

    def test_awatch_example(self):
        # awatch() starts watching on its first iteration, after the example
        # printed "Watching": rename probes until one is seen.
        def actions():
            def probe():
                try:
                    for i in range(100):
                        touch(self.path("p%d" % i))
                        os.rename(self.path("p%d" % i), self.path("q%d" % i))
                        if os.path.exists(self.path("seen")):
                            return
                        time.sleep(0.1)
                except OSError:
                    return   # the test is over and removed the tree

            threading.Thread(target=probe, daemon=True).start()

        self.run_example("awatch.py", [self.root], actions, [], stop=signal.SIGINT, any_of=True,
                         on_line=lambda line: line.startswith("moved") and touch(self.path("seen")))

    def test_glib_main_loop_example(self):
        self.run_example("glib-watch.py", [self.root], lambda: os.mkdir(self.path("d")),
                         ["created %s" % self.path("d")], stop=signal.SIGTERM)


class HandlerTest(AioTestCase):
    def test_events_reach_coroutines_on_the_loop_thread(self):
        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            touch(self.path("a"))
            os.rename(self.path("a"), self.path("b"))
            os.unlink(self.path("b"))
            ok = await wait_for(lambda: ("deleted", "deleted", "b") in handler.calls)
            watch.stop()
            return ok, handler

        ok, handler = self.run_async(main())
        self.assertTrue(ok, handler.calls)
        self.assertEqual(handler.calls, [
            ("any", "created", "a"), ("created", "created", "a"),
            ("any", "closed", "a"),
            ("any", "moved", "a"), ("moved", "a", "b"),
            ("any", "deleted", "b"), ("deleted", "deleted", "b"),
        ])
        self.assertEqual(handler.threads, {threading.get_ident()})

    def test_path_may_be_str_bytes_or_pathlike(self):
        async def main(path):
            handler = Recorder(self.root)
            watch = AIOWatchdog(path, event_handler=handler)
            watch.start()
            touch(self.path("x"))
            ok = await wait_for(lambda: "x" in handler.created)
            watch.stop()
            os.unlink(self.path("x"))
            return ok

        for path in (self.root, os.fsencode(self.root), pathlib.Path(self.root)):
            self.assertTrue(self.run_async(main(path)), repr(path))

    def test_filter_as_a_list_of_patterns(self):
        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler, filter=["*.txt"])
            watch.start()
            touch(self.path("skip.log"))
            touch(self.path("keep.txt"))
            touch(self.path("last.txt"))
            ok = await wait_for(lambda: "last.txt" in handler.created)
            watch.stop()
            return ok, handler.created

        ok, created = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(created, ["keep.txt", "last.txt"])

    def test_slow_handler_keeps_order_and_never_overlaps(self):
        class Slow(AIOEventHandler):
            def __init__(self):
                super().__init__()
                self.running = 0
                self.max_running = 0
                self.seen = []

            async def step(self, tag, event):
                self.running += 1
                self.max_running = max(self.max_running, self.running)
                await asyncio.sleep(0.001)
                self.seen.append((tag, os.path.basename(event.src_path)))
                self.running -= 1

            async def on_any_event(self, event):
                if event.event_type == "created":
                    await self.step("any", event)

            async def on_created(self, event):
                await self.step("created", event)

        names = ["f%03d" % i for i in range(100)]

        async def main():
            handler = Slow()
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            for name in names:
                touch(self.path(name))
            ok = await wait_for(lambda: len(handler.seen) == 2 * len(names))
            watch.stop()
            return ok, handler

        ok, handler = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(handler.max_running, 1)
        self.assertEqual(handler.seen, [(tag, n) for n in names for tag in ("any", "created")])

    def test_slow_handler_bounds_the_python_queue(self):
        # A handler held on its first event: past max_pending queued events
        # the watchdog stops reading (the library's bounded queue takes over),
        # and once the handler goes on, every file arrives exactly once.
        class Held(Recorder):
            async def on_created(self, event):
                await self.gate
                await super().on_created(event)

        n = 3000

        async def main():
            handler = Held(self.root)
            handler.gate = self.loop.create_future()
            watch = AIOWatchdog(self.root, event_handler=handler, max_pending=100)
            watch.start()
            for i in range(n):
                touch(self.path("h%d" % i))
                if i % 50 == 49:
                    await asyncio.sleep(0.001)   # let deliveries come in small batches
            throttled = await wait_for(lambda: not watch._reading)
            await asyncio.sleep(0.2)
            queued = len(watch._runner.pending)
            handler.gate.set_result(None)
            ok = await wait_for(lambda: len(handler.created) + len(handler.synthetic) >= n)
            await asyncio.sleep(0.1)
            watch.stop()
            return throttled, queued, ok, handler

        throttled, queued, ok, handler = self.run_async(main())
        sys.stderr.write("held handler: %d events queued in Python\n" % queued)
        self.assertTrue(throttled)
        # 2 events per file (created, closed) = 6,000 without the bound; one
        # delivery may overshoot it, by what was read since the previous one.
        self.assertLess(queued, 1000)
        self.assertTrue(ok)
        delivered = handler.created + handler.synthetic
        self.assertEqual(sorted(delivered), sorted("h%d" % i for i in range(n)))

    def test_handler_exception_is_reported_and_the_next_event_runs(self):
        class Failing(Recorder):
            async def on_created(self, event):
                await super().on_created(event)
                if event.src_path.endswith("bad"):
                    raise ValueError("boom")

        async def main():
            handler = Failing(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            touch(self.path("bad"))
            touch(self.path("good"))
            ok = await wait_for(lambda: "good" in handler.created)
            watch.stop()
            return ok

        self.assertTrue(self.run_async(main()))
        self.assertEqual(len(self.loop_errors), 1)
        self.assertIsInstance(self.loop_errors[0]["exception"], ValueError)

    def test_dispatch_from_an_observer_thread(self):
        async def main():
            handler = Recorder("/r")
            events = [Hk.Event("created", "/r/%d" % i) for i in range(50)]
            thread = threading.Thread(target=lambda: [handler.dispatch(e) for e in events])
            thread.start()
            thread.join()
            ok = await wait_for(lambda: len(handler.created) == 50)
            return ok, handler

        ok, handler = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(handler.created, [str(i) for i in range(50)])
        self.assertEqual(handler.threads, {threading.get_ident()})

    def test_handler_given_to_a_watchdog_observer(self):
        # As the original allowed: the handler under python3-watchdog's
        # Observer thread, its coroutines on the loop.
        try:
            from watchdog.observers import Observer
        except ImportError:
            self.skipTest("python3-watchdog is not installed")

        async def main():
            handler = Recorder(self.root)
            observer = Observer()
            observer.schedule(handler, self.root, recursive=True)
            observer.start()
            try:
                touch(self.path("w"))
                return await wait_for(lambda: "w" in handler.created), handler
            finally:
                observer.stop()
                await self.loop.run_in_executor(None, observer.join)

        ok, handler = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(handler.threads, {threading.get_ident()})

    def test_missing_root_raises_file_not_found(self):
        async def main():
            with self.assertRaises(FileNotFoundError):
                AIOWatchdog(self.path("missing")).start()
            with self.assertRaises(FileNotFoundError):
                async with AIOWatchdog(self.path("missing")):
                    pass

        self.run_async(main())

    def test_async_with_starts_and_stops(self):
        async def main():
            handler = Recorder(self.root)
            async with AIOWatchdog(self.root, event_handler=handler) as watch:
                self.assertTrue(watch.running)
                touch(self.path("w"))
                ok = await wait_for(lambda: "w" in handler.created)
            self.assertFalse(watch.running)
            return ok

        self.assertTrue(self.run_async(main()))


class StopTest(AioTestCase):
    def test_stop_inside_a_handler(self):
        class Stopper(Recorder):
            async def on_created(self, event):
                await super().on_created(event)
                self.watch.stop()
                self.after_stop = True

        async def main():
            handler = Stopper(self.root)
            handler.after_stop = False
            handler.watch = AIOWatchdog(self.root, event_handler=handler)
            handler.watch.start()
            # Several events in the queue at once: none after the first may
            # start once the handler stopped the watchdog.
            for i in range(20):
                touch(self.path("s%02d" % i))
            ok = await wait_for(lambda: handler.created)
            await asyncio.sleep(0.3)
            return ok, handler

        ok, handler = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(handler.created, ["s00"])
        self.assertTrue(handler.after_stop)   # the stopping handler itself finished
        self.assertEqual(handler.calls, [("any", "created", "s00"), ("created", "created", "s00")])

    def test_stop_cancels_a_suspended_handler_and_drops_the_queue(self):
        class Blocking(AIOEventHandler):
            def __init__(self):
                super().__init__()
                self.started = []
                self.cancelled = 0

            async def on_created(self, event):
                self.started.append(os.path.basename(event.src_path))
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise

        async def main():
            handler = Blocking()
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            touch(self.path("one"))
            touch(self.path("two"))
            ok = await wait_for(lambda: handler.started)
            watch.stop()
            await wait_for(lambda: handler.cancelled)
            await asyncio.sleep(0.1)   # a second handler would start now, if at all
            return ok, handler

        ok, handler = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(handler.started, ["one"])
        self.assertEqual(handler.cancelled, 1)
        self.assertEqual(self.loop_errors, [])


class StopDuringStartTest(AioTestCase):
    def test_stop_while_astart_walks(self):
        async def main():
            for i in range(50):
                os.makedirs(self.path("d%d" % i, "e"))
            watch = AIOWatchdog(self.root)
            task = asyncio.ensure_future(watch.astart())
            # One step: astart() is now waiting for the walk, whose result
            # can only come in a later loop iteration (through the bridge).
            await asyncio.sleep(0)
            self.assertTrue(watch._starting)
            watch.stop()
            try:
                await asyncio.wait_for(task, TIMEOUT)
            except asyncio.CancelledError:
                cancelled = True
            else:
                cancelled = False
            # It can start again afterwards.
            watch.start()
            running = watch.running
            watch.stop()
            return cancelled, running

        cancelled, running = self.run_async(main())
        self.assertTrue(cancelled)
        self.assertTrue(running)


class IterationTest(AioTestCase):
    def test_awatch_yields_batches_until_stop_event(self):
        async def main():
            stop = asyncio.Event()
            batches = []

            async def consume():
                async for batch in awatch(self.root, stop_event=stop):
                    batches.append([(e.event_type, os.path.basename(e.src_path)) for e in batch])

            task = asyncio.ensure_future(consume())
            # awatch() starts watching on its first iteration: create files
            # until one is reported.
            for i in range(200):
                touch(self.path("a%d" % i))
                if await wait_for(lambda: batches, 0.05):
                    break
            ok = bool(batches)
            stop.set()
            # The generator ends by itself, with no event to wake it.
            await asyncio.wait_for(task, TIMEOUT)
            return ok, batches

        ok, batches = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(batches[0][0][0], "created")
        self.assertRegex(batches[0][0][1], r"^a\d+$")

    def test_cancelling_the_task_iterating_events(self):
        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            seen = []

            async def consume():
                async for event in watch.events():
                    if event.event_type == "created":
                        seen.append(os.path.basename(event.src_path))

            task = asyncio.ensure_future(consume())
            await wait_for(lambda: watch._subscribers)
            touch(self.path("a"))
            ok = await wait_for(lambda: seen)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled = True
            else:
                cancelled = False
            subscribers = len(watch._subscribers)
            # The watchdog and its handler carry on.
            touch(self.path("b"))
            still = await wait_for(lambda: "b" in handler.created)
            watch.stop()
            return ok, cancelled, subscribers, still, seen

        ok, cancelled, subscribers, still, seen = self.run_async(main())
        self.assertTrue(ok)
        self.assertTrue(cancelled)
        self.assertEqual(subscribers, 0)
        self.assertTrue(still)
        self.assertEqual(seen, ["a"])

    def test_events_end_when_stopped(self):
        async def main():
            watch = AIOWatchdog(self.root)
            watch.start()
            seen = []

            async def consume():
                async for event in watch.events():
                    seen.append(event)

            task = asyncio.ensure_future(consume())
            await wait_for(lambda: watch._subscribers)
            watch.stop()
            await asyncio.wait_for(task, TIMEOUT)
            return seen

        self.assertEqual(self.run_async(main()), [])


def task_switches():
    """Voluntary context switches of every thread: each is a wake-up after
    blocking. Involuntary ones are preemptions by other load, not wake-ups
    (counting them made this test fail on a busy machine)."""
    total = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/status" % tid) as f:
                fields = dict(line.split(":", 1) for line in f
                              if line.startswith("voluntary_ctxt_switches"))
        except FileNotFoundError:
            continue
        total[tid] = sum(int(v) for v in fields.values())
    return total


class IdleTest(AioTestCase):
    def test_idle_wakes_nothing(self):
        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler, latency=20)
            dispatches = []
            real = watch._on_readable

            def counting():
                dispatches.append(time.monotonic())
                real()

            watch._on_readable = counting
            watch.start()
            touch(self.path("a"))
            ok = await wait_for(lambda: "a" in handler.created)
            await asyncio.sleep(0.2)   # the coalescing window (20 ms) is long over
            before = task_switches()
            n_before = len(dispatches)
            cpu_before = time.process_time()
            # One sleep: the loop thread blocks once in its poll for 2 s.
            await asyncio.sleep(2)
            cpu = time.process_time() - cpu_before
            after = task_switches()
            woken = len(dispatches) - n_before
            watch.stop()
            return ok, before, after, woken, cpu

        ok, before, after, woken, cpu = self.run_async(main())
        self.assertTrue(ok)
        self.assertEqual(woken, 0)
        main_tid = str(threading.get_native_id())
        others = {tid: after[tid] - before[tid] for tid in after if tid in before and tid != main_tid}
        self.assertEqual(sum(others.values()), 0, others)
        self.assertLessEqual(after[main_tid] - before[main_tid], 3)
        self.assertLess(cpu, 0.05)

    def test_no_thread_added_and_no_glib_main_loop(self):
        # A fresh interpreter, so that no earlier test left a thread behind.
        script = """
import asyncio, os, sys
import hachiko

def threads():
    return sorted(open("/proc/self/task/%s/comm" % t).read().strip()
                  for t in os.listdir("/proc/self/task"))

async def main():
    watch = hachiko.AIOWatchdog(sys.argv[1])
    watch.start()
    print(threads())
    watch.stop()
    async with hachiko.AIOWatchdog(sys.argv[1]):
        print(threads())

if sys.argv[2] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
"""
        out = subprocess.run([sys.executable, "-c", script, self.root, LOOP], check=True,
                             stdout=subprocess.PIPE, text=True, timeout=TIMEOUT).stdout.splitlines()
        # start(): the interpreter's thread and the library's one shared
        # worker, nothing else.
        self.assertEqual(out[0], str(sorted(["python3", "hachiko-worker"])))
        # astart() (async with) uses the library's start_async(), whose
        # GTask makes GLib start its own idle "gmain" thread once per
        # process.
        self.assertLessEqual(set(eval(out[1])), {"python3", "hachiko-worker", "gmain"})


class BurstTest(AioTestCase):
    def setUp(self):
        super().setUp()
        # On tmpfs when there is one: creating 100,000 files on a loaded
        # disk takes longer than delivering them.
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            shutil.rmtree(self.root)
            self.root = tempfile.mkdtemp(prefix="hachiko-aio-", dir="/dev/shm")

    def produce(self, n, per_dir):
        return subprocess.Popen([sys.executable, "-c", PRODUCER, self.root, str(n), str(per_dir)])

    def test_burst_of_100000_files_all_reach_coroutine_handlers(self):
        n, per_dir = 100000, 10000

        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            started = time.monotonic()
            producer = self.produce(n, per_dir)
            ok = await wait_for(lambda: len(handler.created) + len(handler.synthetic) >= n, 45)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.2)   # anything extra (duplicates) would show up
            watch.stop()
            self.assertEqual(await self.loop.run_in_executor(None, producer.wait), 0)
            return ok, handler, elapsed

        ok, handler, elapsed = self.run_async(main(), timeout=90)
        sys.stderr.write("%d files reached the handlers in %.1f s (%d synthetic after %d overflows)\n"
                         % (n, elapsed, len(handler.synthetic), handler.overflows))
        self.assertTrue(ok, "%d of %d" % (len(handler.created) + len(handler.synthetic), n))
        delivered = handler.created + handler.synthetic
        self.assertEqual(len(delivered), n)               # each exactly once
        self.assertEqual(set(delivered), burst_names(n, per_dir))

    def test_blocked_loop_gets_overflow_and_the_exact_difference(self):
        # More files than the library's queue towards the owner holds
        # (65,536 events) arrive while the loop is blocked.
        n, per_dir = 80000, 10000

        async def main():
            handler = Recorder(self.root)
            watch = AIOWatchdog(self.root, event_handler=handler)
            watch.start()
            producer = self.produce(n, per_dir)
            blocked_from = time.monotonic()
            self.assertEqual(producer.wait(), 0)      # blocks the loop...
            time.sleep(max(0.0, 2.0 - (time.monotonic() - blocked_from)))   # ...for 2 s at least
            ok = await wait_for(lambda: len(handler.created) + len(handler.synthetic) >= n, 45)
            await asyncio.sleep(0.2)
            watch.stop()
            return ok, handler

        ok, handler = self.run_async(main(), timeout=90)
        sys.stderr.write("blocked loop: %d reported live, %d by the rescan, %d overflows\n"
                         % (len(handler.created), len(handler.synthetic), handler.overflows))
        self.assertTrue(ok)
        self.assertGreaterEqual(handler.overflows, 1)
        overflow_at = handler.calls.index(("overflow", "overflow", None))
        self.assertTrue(handler.synthetic)
        # Live events came before the overflow, the rescan's after it, and
        # together they are every file exactly once.
        live_before = [c[2] for c in handler.calls[:overflow_at] if c[0] == "created" and "/" in c[2]]
        self.assertEqual(set(live_before) | set(handler.synthetic), burst_names(n, per_dir))
        self.assertEqual(len(handler.created) + len(handler.synthetic), n)
        self.assertFalse(set(handler.created) & set(handler.synthetic))


if __name__ == "__main__":
    sys.stderr.write("event loop: %s\n" % LOOP)
    unittest.main(verbosity=2)
