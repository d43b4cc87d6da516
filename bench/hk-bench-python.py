#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# hk-bench-python: hachiko's asyncio package against the alternatives.
#
#   /usr/bin/python3 bench/hk-bench-python.py --build-dir BUILDDIR [--output FILE]
#
# Measures, in one run on one machine, the latency from open(O_CREAT) to a
# coroutine handler running on the asyncio loop and the throughput with no
# loss, for:
#   hachiko-asyncio   the hachiko package (AIOWatchdog, Hk.LoopBridge)
#   hachiko-uvloop    the same on uvloop (when python3-uvloop is installed)
#   (a) hachiko-glib  the C library with a GLib main loop (hk-bench --subject=hachiko)
#   (b) watchdog      the original hachiko design: a python3-watchdog Observer
#                     thread + loop.call_soon_threadsafe(ensure_future, ...)
#   (c) aionotify     a pure-Python inotify asyncio watcher (python3-aionotify)
#
# Each subject runs in its own process and speaks the protocol of
# bench/hk-bench-proto.h on stdin/stdout; this script is both the driver
# and, with --subject=NAME DIR, the Python subjects.

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LAT_PREFIX = "lat-"
TP_PREFIX = "tp-"


def parse_index(name, prefix):
    if not name.startswith(prefix):
        return -1
    digits = name[len(prefix):]
    return int(digits) if digits.isdigit() else -1


# --- subjects -------------------------------------------------------------------


class Subject:
    """The protocol side of a Python subject; subclasses watch."""

    def __init__(self, root):
        self.root = root
        self.loop = asyncio.get_running_loop()
        self.mode = None
        self.tp_n = 0
        self.tp_seen = set()
        self.tp_last = 0
        self.tp_cpu = 0
        self.overflows = 0
        self.synthetic = 0
        self.done = asyncio.Event()

    def emit(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def file_created(self, name, handler_ns, reader_ns=0, synthetic=False):
        if self.mode == "lat":
            i = parse_index(name, LAT_PREFIX)
            if i >= 0:
                self.emit("L %d %d %d" % (i, handler_ns, reader_ns))
        elif self.mode == "tp":
            i = parse_index(name, TP_PREFIX)
            if 0 <= i < self.tp_n and i not in self.tp_seen:
                self.tp_seen.add(i)
                self.tp_last = handler_ns
                if synthetic:
                    self.synthetic += 1
                if len(self.tp_seen) == self.tp_n:
                    self.emit(self.tp_line("T"))

    def tp_line(self, tag):
        cpu_us = int(time.process_time() * 1e6) - self.tp_cpu
        return "%s %d %d %d %d %d" % (tag, len(self.tp_seen), self.tp_last, self.overflows,
                                      self.synthetic, cpu_us)

    def on_command(self):
        line = sys.stdin.readline()
        if not line:
            self.done.set()
            return
        words = line.split()
        if not words:
            return
        if words[0] == "start":
            self.loop.create_task(self.start_and_report(words[1]))
        elif words[0] == "lat":
            self.mode = "lat"
            self.emit("ok")
        elif words[0] == "tp":
            self.mode = "tp"
            self.tp_n = int(words[1])
            self.tp_seen = set()
            self.tp_cpu = int(time.process_time() * 1e6)
            self.emit("ok")
        elif words[0] == "report":
            self.emit(self.tp_line("P"))
        elif words[0] == "quit":
            self.stop()
            self.emit("bye")
            self.done.set()

    async def start_and_report(self, n_dirs):
        t0 = time.monotonic_ns()
        try:
            started = self.start()
            if started is not None:
                await started
        except Exception as exc:  # noqa: BLE001 - reported to the driver
            self.emit("error %s" % exc)
            return
        self.emit("ready %d -1 -1 %s" % (time.monotonic_ns() - t0, n_dirs))

    async def run(self):
        self.loop.add_reader(sys.stdin.fileno(), self.on_command)
        self.emit("hello")
        await self.done.wait()

    def start(self):
        raise NotImplementedError

    def stop(self):
        pass


class HachikoSubject(Subject):
    def start(self):
        import hachiko

        subject = self

        class Handler(hachiko.AIOEventHandler):
            async def on_created(self, event):
                now = time.monotonic_ns()
                if not event.is_directory:
                    subject.file_created(os.path.basename(event.src_path), now,
                                         event.timestamp * 1000, event.is_synthetic)

            async def on_overflow(self, event):
                subject.overflows += 1

        self.watch = hachiko.AIOWatchdog(self.root, event_handler=Handler())
        self.watch.start()

    def stop(self):
        self.watch.stop()


class WatchdogSubject(Subject):
    """The original hachiko: watchdog's observer thread, each handler call
    marshalled with call_soon_threadsafe and run as a task."""

    def start(self):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        subject = self
        loop = self.loop

        async def on_created(event):
            now = time.monotonic_ns()
            if not event.is_directory:
                subject.file_created(os.path.basename(event.src_path), now)

        class Handler(FileSystemEventHandler):
            def dispatch(self, event):
                if event.event_type == "created":
                    loop.call_soon_threadsafe(asyncio.ensure_future, on_created(event))

        self.observer = Observer()
        self.observer.schedule(Handler(), self.root, recursive=True)
        self.observer.start()

    def stop(self):
        self.observer.stop()
        self.observer.join()


class AionotifySubject(Subject):
    """inotify read on the loop by python3-aionotify, one watch per
    directory (new directories are watched as they appear)."""

    async def start(self):
        import aionotify

        self.flags = aionotify.Flags
        mask = aionotify.Flags.CREATE | aionotify.Flags.MOVED_TO
        self.watcher = aionotify.Watcher()
        for directory, _, _ in os.walk(self.root):
            self.watcher.watch(directory, mask)
        self.mask = mask
        await self.watcher.setup(self.loop)
        self.task = self.loop.create_task(self.read())

    async def read(self):
        while True:
            event = await self.watcher.get_event()
            now = time.monotonic_ns()
            path = os.path.join(event.alias, event.name)
            if event.flags & self.flags.ISDIR:
                self.watcher.watch(path, self.mask)
                continue
            self.file_created(event.name, now)

    def stop(self):
        self.task.cancel()


SUBJECTS = {
    "hachiko-asyncio": HachikoSubject,
    "hachiko-uvloop": HachikoSubject,
    "watchdog": WatchdogSubject,
    "aionotify": AionotifySubject,
}


def run_subject(name, root):
    if name == "hachiko-uvloop":
        import uvloop
        uvloop.install()

    async def main():
        await SUBJECTS[name](root).run()

    asyncio.run(main())


# --- driver ---------------------------------------------------------------------


class Child:
    def __init__(self, command, env):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.buffer = ""

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read_line(self, timeout):
        import select
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while "\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split("\n", 1)
        return line

    def expect(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if line is None or line.startswith(prefix):
                return line

    def close(self):
        try:
            self.send("quit")
            self.expect("bye", 5)
        except (BrokenPipeError, OSError):
            pass
        self.proc.kill()
        self.proc.wait()


def make_tree(root, n_dirs, tp_dirs):
    dirs = []
    for i in range(n_dirs):
        d = os.path.join(root, "g%d" % (i // 10), "d%d" % i)
        os.makedirs(d)
        dirs.append(d)
    tp = []
    for i in range(tp_dirs):
        d = os.path.join(root, "tp", "t%d" % i)
        os.makedirs(d)
        tp.append(d)
    return dirs, tp


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def measure(name, command, env, args):
    base = tempfile.mkdtemp(prefix="hk-bench-python-", dir=args.dir)
    result = {"name": name}
    child = None
    try:
        dirs, tp_dirs = make_tree(base, args.dirs, args.tp_dirs)
        child = Child(command + [base], env)
        if child.expect("hello", 30) is None:
            result["note"] = "did not start"
            return result
        child.send("start %d" % sum(1 for _ in os.walk(base)))
        ready = child.expect("ready", 120)
        if ready is None:
            result["note"] = "failed to start"
            return result

        # Latency: one file at a time, each waited for.
        child.send("lat")
        child.expect("ok", 10)
        samples, hops, missed = [], [], 0
        for i in range(args.latency_events):
            path = os.path.join(dirs[(i * 7919 + 1) % len(dirs)], LAT_PREFIX + str(i))
            t0 = time.monotonic_ns()
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            while True:
                line = child.read_line(2.0)
                if line is None:
                    missed += 1
                    break
                parts = line.split()
                if parts[0] == "L" and int(parts[1]) == i:
                    samples.append((int(parts[2]) - t0) / 1e3)
                    if int(parts[3]) > 0:
                        hops.append((int(parts[2]) - int(parts[3])) / 1e3)
                    break
            time.sleep(args.pace_ms / 1000)
        result["lat"] = samples
        result["hop"] = hops
        result["lat_missed"] = missed

        # Throughput: a burst into the throughput directories.
        n = args.throughput_files
        child.send("tp %d" % n)
        child.expect("ok", 10)
        t_start = time.monotonic_ns()
        for i in range(n):
            path = os.path.join(tp_dirs[i % len(tp_dirs)], TP_PREFIX + str(i))
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        t_end = time.monotonic_ns()
        line = child.expect("T", args.tp_timeout)
        if line is None:
            child.send("report")
            line = child.expect("P", 10)
        if line is not None:
            _, seen, last_ns, overflows, synthetic, cpu_us = line.split()
            seen, last_ns = int(seen), int(last_ns)
            result["tp"] = {
                "n": n,
                "seen": seen,
                "produce_rate": n / ((t_end - t_start) / 1e9),
                "delivered_rate": seen / ((last_ns - t_start) / 1e9) if seen and last_ns > t_start else 0,
                "lag_ms": max(0, last_ns - t_end) / 1e6,
                "overflows": int(overflows),
                "synthetic": int(synthetic),
                "cpu_us_per_event": int(cpu_us) / seen if seen else 0,
                "complete": line.startswith("T"),
            }
        return result
    finally:
        if child is not None:
            child.close()
        shutil.rmtree(base, ignore_errors=True)


def machine_description(tree_dir):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    fs = subprocess.run(["stat", "-f", "-c", "%T", tree_dir], stdout=subprocess.PIPE,
                        text=True).stdout.strip()
    load = os.getloadavg()
    return ("%d CPUs (%s), Linux %s, Python %s, trees on %s; load average %.2f at the start "
            "(other work shared the machine)" % (os.cpu_count(), cpu, platform.release(),
                                                 platform.python_version(), fs, load[0]))


def fmt(value, digits=1):
    return "—" if value is None or value != value else "%.*f" % (digits, value)


def write_report(args, results, machine, command_line):
    by_name = {r["name"]: r for r in results}
    base = by_name.get("hachiko-glib", {})
    base_median = statistics.median(base["lat"]) if base.get("lat") else None
    lines = [
        "# Performance of the Python package",
        "",
        "<!-- Generated by bench/hk-bench-python.py; edits are overwritten by the next run. -->",
        "",
        "Latency from `open(O_CREAT)` to the handler running, and throughput with no loss, for the",
        "`hachiko` Python package on an asyncio loop against (a) the C library with a GLib main",
        "loop, (b) the original hachiko design (a python3-watchdog observer thread and",
        "`loop.call_soon_threadsafe`) and (c) a pure-Python inotify asyncio watcher",
        "(python3-aionotify). One run; every subject in its own process, one after the other.",
        "",
        "Machine: " + machine + ".",
        "",
        "Command (from the source tree, after building in `_build`):",
        "",
        "```sh",
        command_line,
        "```",
        "",
        "Or `ninja -C _build bench-python`. Parameters: %d directories, %d latency events paced %d ms"
        " apart, a burst of %d files into %d directories."
        % (args.dirs, args.latency_events, args.pace_ms, args.throughput_files, args.tp_dirs),
        "",
        "## Latency (µs, open → handler)",
        "",
        "| Subject | median | p90 | p99 | max | median / (a) | missed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = r.get("lat") or []
        median = statistics.median(lat) if lat else None
        ratio = "%.2f×" % (median / base_median) if median and base_median else "—"
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            TITLES[r["name"]], fmt(median), fmt(percentile(lat, 90) if lat else None),
            fmt(percentile(lat, 99) if lat else None), fmt(max(lat) if lat else None), ratio,
            r.get("lat_missed", r.get("note", "—"))))
    lines += [
        "",
        "## Throughput (burst of %d files)" % args.throughput_files,
        "",
        "| Subject | producer files/s | delivered events/s | lost | kernel/queue overflows | "
        "reported by a rescan | last delivery after the burst (ms) | CPU µs per event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        tp = r.get("tp")
        if tp is None:
            lines.append("| %s | — | — | — | — | — | — | %s |" % (TITLES[r["name"]], r.get("note", "failed")))
            continue
        overflows = "cannot tell" if tp["overflows"] < 0 or r["name"] in ("watchdog", "aionotify") else tp["overflows"]
        lines.append("| %s | %.0f | %.0f | %d | %s | %d | %.1f | %.2f |" % (
            TITLES[r["name"]], tp["produce_rate"], tp["delivered_rate"], tp["n"] - tp["seen"],
            overflows, tp["synthetic"], tp["lag_ms"], tp["cpu_us_per_event"]))

    aio = by_name.get("hachiko-asyncio", {})
    verdict = []
    if aio.get("lat") and base_median:
        aio_median = statistics.median(aio["lat"])
        verdict.append("- Median latency of hachiko-asyncio / (a): %.2f× (goal ≤ 1.5×): %s." % (
            aio_median / base_median, "met" if aio_median <= 1.5 * base_median else "**not met**"))
        for other in ("watchdog", "aionotify"):
            o = by_name.get(other, {})
            if o.get("lat"):
                om = statistics.median(o["lat"])
                verdict.append("- Median latency against %s: %.0f µs vs %.0f µs: %s." % (
                    TITLES[other], aio_median, om, "better" if aio_median < om else "**not better**"))
    if verdict:
        lines += ["", "## Goals", ""] + verdict
    findings = os.path.join(os.path.dirname(os.path.abspath(args.output)), "performance-python-findings.md")
    if os.path.exists(findings):
        with open(findings) as f:
            lines += ["", "## What profiling found", "",
                      "(From `docs/performance-python-findings.md`, written by hand; the figures above "
                      "are from this run.)", "", f.read().rstrip()]
    lines += ["", NOTES]
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + "\n")


TITLES = {
    "hachiko-asyncio": "hachiko package, asyncio",
    "hachiko-uvloop": "hachiko package, uvloop",
    "hachiko-glib": "(a) C library, GLib main loop",
    "watchdog": "(b) watchdog thread + call_soon_threadsafe",
    "aionotify": "(c) aionotify (pure-Python inotify)",
}

NOTES = """## How to read it

- The latency is measured by the driver: the clock is read just before `open()`, the
  subject reads it when its handler starts (CLOCK_MONOTONIC in both processes).
- The hachiko subjects run their handler as a coroutine in a task on the loop, as an
  `AIOEventHandler` method; (b) runs it as a task scheduled with
  `call_soon_threadsafe(ensure_future, ...)` as the original hachiko did; (c) runs it in the
  task that reads inotify.
- "reported by a rescan": files the library found by re-reading the tree after an overflow
  (marked synthetic). They are delivered, not lost; (b) and (c) cannot recover lost events.
- A single run on a shared 2-core machine: expect spread between runs; the C benchmark in
  `docs/performance.md` shows run-to-run variation.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--build-dir", default="_build")
    parser.add_argument("--output", default="docs/performance-python.md")
    parser.add_argument("--dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
                        help="where the trees are made (default: /dev/shm)")
    parser.add_argument("--dirs", type=int, default=1000)
    parser.add_argument("--latency-events", type=int, default=1000)
    parser.add_argument("--pace-ms", type=int, default=2)
    parser.add_argument("--throughput-files", type=int, default=50000)
    parser.add_argument("--tp-dirs", type=int, default=10)
    parser.add_argument("--tp-timeout", type=float, default=30)
    parser.add_argument("--subjects", default="hachiko-glib,hachiko-asyncio,hachiko-uvloop,watchdog,aionotify")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()

    if args.subject:
        run_subject(args.subject, args.rest[0])
        return

    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build_dir)
    env = dict(os.environ)
    env["GI_TYPELIB_PATH"] = os.path.join(build, "hachiko")
    env["LD_LIBRARY_PATH"] = os.path.join(build, "hachiko")
    env["PYTHONPATH"] = os.path.join(source, "python")
    me = [sys.executable, os.path.abspath(__file__)]
    commands = {
        "hachiko-glib": [os.path.join(build, "bench", "hk-bench"), "--subject=hachiko"],
        "hachiko-asyncio": me + ["--subject=hachiko-asyncio"],
        "hachiko-uvloop": me + ["--subject=hachiko-uvloop"],
        "watchdog": me + ["--subject=watchdog"],
        "aionotify": me + ["--subject=aionotify"],
    }
    machine = machine_description(args.dir or tempfile.gettempdir())
    results = []
    for name in args.subjects.split(","):
        sys.stderr.write("hk-bench-python: %s\n" % name)
        r = measure(name, commands[name], env, args)
        if r.get("lat"):
            sys.stderr.write("  latency median %.1f µs, p99 %.1f µs, %d missed\n" % (
                statistics.median(r["lat"]), percentile(r["lat"], 99), r["lat_missed"]))
        if r.get("hop"):
            sys.stderr.write("  worker read -> handler: median %.1f µs\n" % statistics.median(r["hop"]))
        if r.get("tp"):
            tp = r["tp"]
            sys.stderr.write("  throughput %.0f events/s, %d lost, %d synthetic, %.2f µs CPU/event\n" % (
                tp["delivered_rate"], tp["n"] - tp["seen"], tp["synthetic"], tp["cpu_us_per_event"]))
        results.append(r)
    command_line = "/usr/bin/python3 bench/hk-bench-python.py --build-dir _build --output %s" % (
        os.path.relpath(os.path.abspath(args.output), source))
    write_report(args, results, machine, command_line)


if __name__ == "__main__":
    main()
