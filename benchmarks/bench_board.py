"""The board at 5,000 and 100,000 profiles: first screen, key latency at rest and during a
refresh, peak memory. Prints figures (min/median/max, p95); asserts nothing.

Databases: a generated analysis (2,000 hosts, 2 hours) whose hosts are cloned server-side up
to the wanted number of profiles (common.profiles_database: about 15-60 s on 2 cores).

1. Floor: ``python -c 'import redis, curses'`` (5 runs).
2. First screen: the real program in a 120x40 tmux, from launching it to the profile names
   drawn (KALIPSO_TRACE ``first_board``), wall-clock, 5 runs per size. The trace's own figure
   (from App start, i.e. without interpreter start and imports) is printed beside it.
3. Key -> redrawn screen, on the largest database: a scripted walk (tree moves, expanding,
   selecting windows, paging, focus changes, n/b), one key at a time, keys sent through a
   tmux control-mode client (no process per key). Two figures per key:
   - "in program": the trace's key event (handling + drawing, in the UI thread);
   - "on screen": from writing the key to tmux until the program's output reaches tmux
     (pipe-pane into a file, its size polled every millisecond; no capture process per poll).
   "At rest" is after the global facts have loaded. "During refresh": `r` starts a refresh
   (names, then facts of every profile, in the background loader thread) and the walk goes
   on; a key counts as during the refresh from `r` until 0.3 s after the loader's bg thread
   last used CPU (/proc/PID/task, sampled every 100 ms): the UI applies the results then.
   10 refresh cycles.
4. Memory: VmHWM/VmRSS of the program (/proc/PID/status) once the facts have loaded, and
   VmHWM at exit after the refreshes.

Run: make bench, or .venv/bin/python benchmarks/bench_board.py [--profiles 5000 100000]
[--keys 120] [--cycles 10].
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from common import profiles_database

WALK = (["Down"] * 20 + ["Enter", "Down", "Enter"] + ["Tab"] + ["Down"] * 15 + ["NPage", "PPage", "End", "Home"]
        + ["BTab", "n", "n", "b", "Tab", "Down", "Down", "Tab", "Down", "Up", "Tab"]
        + ["Up"] * 10 + ["Enter", "Down", "Down", "Enter", "Tab"] + ["Down"] * 10 + ["Tab", "Tab"])
TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(round(p * len(ordered))) - 1, 0)] if ordered else float("nan")


def spread(values: list[float], unit: str = "ms", scale: float = 1.0) -> str:
    if not values:
        return "no data"
    v = [x * scale for x in values]
    d = 0 if unit == "ms" else 2
    return f"median {statistics.median(v):.{d}f} {unit} (min {min(v):.{d}f}, max {max(v):.{d}f})"


def latency(values: list[float]) -> str:
    if not values:
        return "no keys"
    return (f"{len(values)} keys: median {statistics.median(values):.1f} ms, p95 {pct(values, 0.95):.1f} ms, "
            f"max {max(values):.1f} ms")


class Session:
    """The real program in a private tmux (120x40), with its trace, pipe-pane output and a
    control-mode client for sending keys."""

    def __init__(self, port: int, refresh: float = 0.0) -> None:
        self.dir = tempfile.mkdtemp(prefix="kalipso-bench-board-")
        self.trace = os.path.join(self.dir, "trace")
        self.output = os.path.join(self.dir, "output")
        self.sock = f"kalipso-bench-{uuid.uuid4().hex[:6]}"
        self.name = "bench"
        self.records: list[dict] = []
        self._trace_pos = 0
        cmd = (f"env -u LINES -u COLUMNS LANG=C.UTF-8 KALIPSO_TRACE={self.trace} {shlex.quote(sys.executable)} "
               f"-m kalipso --port {port} --cache-url redis://127.0.0.1:{port}/1 --refresh {refresh}")
        self.started = time.perf_counter()
        self.tmux("new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", cmd)
        self.control: subprocess.Popen | None = None

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "-f", os.devnull, *args], capture_output=True,
                              text=True).stdout

    def read_trace(self) -> list[dict]:
        """New trace records since the last call (also kept in self.records)."""
        try:
            with open(self.trace, encoding="utf-8") as f:
                f.seek(self._trace_pos)
                chunk = f.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind("\n") + 1]
        self._trace_pos += len(complete.encode("utf-8"))
        new = [json.loads(line) for line in complete.splitlines() if line.strip()]
        self.records.extend(new)
        return new

    def wait_event(self, event: str, timeout: float = 120.0) -> dict | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for r in self.read_trace():
                if r["event"] == event:
                    return r
            time.sleep(0.002)
        return None

    def pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def attach(self) -> None:
        """pipe-pane into a file and a control-mode client to send keys without a process each."""
        open(self.output, "wb").close()
        self.tmux("pipe-pane", "-o", "-t", self.name, f"cat >> {shlex.quote(self.output)}")
        self.control = subprocess.Popen(["tmux", "-L", self.sock, "-f", os.devnull, "-C", "attach-session", "-t",
                                         self.name], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.3)

    def send(self, key: str) -> None:
        assert self.control is not None and self.control.stdin is not None
        self.control.stdin.write(f"send-keys -t {self.name} {key}\n")
        self.control.stdin.flush()

    def output_size(self) -> int:
        return os.stat(self.output).st_size

    def key(self, key: str) -> tuple[float, float, float, float]:
        """Send one key: (in-program ms, on-screen ms, t0, t_done)."""
        last, quiet_since = self.output_size(), time.perf_counter()
        give_up = quiet_since + 0.5
        while time.perf_counter() - quiet_since < 0.03 and time.perf_counter() < give_up:  # output quiet
            time.sleep(0.002)
            size = self.output_size()
            if size != last:
                last, quiet_since = size, time.perf_counter()
        self.read_trace()
        s0 = self.output_size()
        t0 = time.perf_counter()
        self.send(key)
        seen = done = None
        record = None
        deadline = t0 + 10
        while time.perf_counter() < deadline and (seen is None or record is None):
            time.sleep(0.001)
            now = time.perf_counter()
            if seen is None and self.output_size() > s0:
                seen = now
            if record is None:
                keys = [r for r in self.read_trace() if r["event"] == "key"]
                if keys:
                    record, done = keys[-1], now
            elif now - done > 0.2:  # handled, and nothing on screen changed
                break
        in_program = record["ms"] if record else float("nan")
        on_screen = (seen - t0) * 1000 if seen is not None and done is not None and seen <= done + 0.05 \
            else float("nan")
        return in_program, on_screen, t0, done or time.perf_counter()

    def quit(self) -> dict | None:
        if self.control is not None:
            self.send("q")
        else:
            self.tmux("send-keys", "-t", self.name, "q")
        record = self.wait_event("exit", 30)
        if self.control is not None:
            self.control.terminate()
        self.tmux("kill-server")
        subprocess.run(["rm", "-rf", self.dir], check=False)
        return record


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return int(f.read().split(f"{field}:")[1].split()[0])


class BgSampler(threading.Thread):
    """CPU ticks of the loader's bg thread, every 100 ms: when a refresh is running."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        # the UI thread is the process; the loader starts fg, then bg (kalipso-loader-bg)
        self.path = f"/proc/{pid}/task/{tids[2]}/stat" if len(tids) > 2 else None
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def ticks(self) -> int:
        if self.path is None:
            return 0
        try:
            with open(self.path, encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except OSError:
            return 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.ticks()))
            time.sleep(0.1)

    def last_busy(self) -> float:
        for (_, a), (t_b, b) in zip(reversed(self.samples[:-1]), reversed(self.samples[1:]), strict=True):
            if b > a:
                return t_b
        return 0.0


def floor(runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import redis, curses"], check=True)
        times.append(time.perf_counter() - t0)
    return times


def first_screens(port: int, runs: int) -> tuple[list[float], list[float]]:
    walls, inner = [], []
    for _ in range(runs):
        s = Session(port)
        record = s.wait_event("first_board", 120)
        if record:
            walls.append(time.perf_counter() - s.started)
            inner.append(record["ms"] / 1000)
        s.quit()
    return walls, inner


def wait_facts(s: Session, timeout: float = 300.0) -> float:
    """Seconds until 'marks loading…' has gone from the status line (slow poll)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        screen = s.screen()
        if "profiles" in screen and "marks loading" not in screen:
            return time.perf_counter() - s.started
        time.sleep(0.25)
    return float("nan")


def walk(s: Session, keys: list[str]) -> tuple[list[float], list[float]]:
    inner, screen = [], []
    for key in keys:
        a, b, _, _ = s.key(key)
        inner.append(a)
        screen.append(b)
    return inner, screen


def during_refresh(s: Session, sampler: BgSampler, cycles: int) -> tuple[list[float], list[float], list[float]]:
    inner, screen, spans = [], [], []
    keys = iter(WALK * 100)
    for _ in range(cycles):
        time.sleep(1.0)  # quiet before the cycle
        started = time.perf_counter()
        timed = [s.key("r")]
        while True:
            timed.append(s.key(next(keys)))
            now = time.perf_counter()
            idle_since = max(sampler.last_busy(), started)
            if now - started > 1.5 and now - idle_since > 0.6:
                break
            if now - started > 120:
                break
        ended = max(sampler.last_busy(), started)  # no bg CPU after `r`: nothing to re-read
        spans.append(ended - started)
        for a, b, t0, _ in timed:  # from `r` until the UI has applied what the loader read
            if t0 <= ended + 0.3:
                inner.append(a)
                screen.append(b)
    return inner, screen, spans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--keys", type=int, default=120, help="keys of the at-rest walk")
    parser.add_argument("--cycles", type=int, default=10, help="refresh cycles with keys")
    parser.add_argument("--runs", type=int, default=5, help="first-screen runs per size")
    args = parser.parse_args()
    # an installed Kalipso starts from compiled bytecode (pip and `make install` compile it); a
    # source tree edited since, under PYTHONDONTWRITEBYTECODE, would compile every module at
    # every start (~60-100 ms here): compile it first, as an install does
    import compileall

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    compiled = all(compileall.compile_dir(os.path.join(root, d), quiet=1) for d in ("src", "plugins"))
    cache = "compiled before the runs, as by an install" if compiled else "NOT compiled (compileall failed)"
    print(f"python {sys.version.split()[0]}, bytecode cache {cache}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; terminal 120x40 (tmux)")
    base = floor()
    print(f"floor, python -c 'import redis, curses': {spread(base, 's')}")
    largest = max(args.profiles)
    for n in sorted(args.profiles):
        with profiles_database(n) as (server, _):
            walls, inner = first_screens(server.port, args.runs)
            print(f"[{n:,} profiles] start -> profile names drawn (wall, {len(walls)} runs): {spread(walls, 's')}; "
                  f"inside the program (from App start): {spread(inner, 's')}; load average {os.getloadavg()[0]:.2f}")
            if n != largest:
                continue
            s = Session(server.port)
            s.wait_event("first_board", 120)
            facts_at = wait_facts(s)
            pid = s.pid()
            print(f"[{n:,} profiles] global facts (marks, threat order) loaded {facts_at:.1f} s after start; "
                  f"memory then: VmRSS {status_kib(pid, 'VmRSS') / 1024:.0f} MiB, "
                  f"VmHWM {status_kib(pid, 'VmHWM') / 1024:.0f} MiB")
            s.attach()
            keys = (WALK * (args.keys // len(WALK) + 1))[: args.keys]
            inner_rest, screen_rest = walk(s, keys)
            print(f"[{n:,} profiles] key -> redrawn, at rest, in program: {latency(inner_rest)}")
            print(f"[{n:,} profiles] key -> redrawn, at rest, on screen:  "
                  f"{latency([x for x in screen_rest if x == x])}")
            sampler = BgSampler(pid)
            sampler.start()
            inner_busy, screen_busy, spans = during_refresh(s, sampler, args.cycles)
            sampler.stop.set()
            print(f"[{n:,} profiles] refresh (`r` to the bg loader's last CPU use): {spread(spans, 's')} "
                  f"({len(spans)} cycles); load average {os.getloadavg()[0]:.2f}")
            print(f"[{n:,} profiles] key -> redrawn, during refresh, in program: {latency(inner_busy)}")
            print(f"[{n:,} profiles] key -> redrawn, during refresh, on screen:  "
                  f"{latency([x for x in screen_busy if x == x])}")
            exit_record = s.quit()
            if exit_record:
                print(f"[{n:,} profiles] peak memory at exit, after the refreshes (VmHWM): "
                      f"{exit_record['peak_rss_kib'] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
