"""The board on a large generated database: start-up, key latency, round trips, memory.

Runs the real program in a 120x40 tmux terminal against 5,000 profiles x 24 time windows and
a scripted walk of 200 key presses (tree moves, expanding, selecting windows, timeline paging,
focus changes, malicious-window jumps), one key at a time. The program's own trace
(KALIPSO_TRACE) gives per-key handling+drawing time and Redis round trips; wall-clock start-up
is measured from launch until the first complete board is on screen. Prints figures only.
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
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from common import LARGE, large_database

from kalipso.demo.generator import Scenario

WALK = (["Down"] * 20 + ["Enter", "Down", "Enter"] + ["Tab"] + ["Down"] * 15 + ["NPage", "PPage", "End", "Home"]
        + ["BTab", "n", "n", "b", "Tab", "Down", "Down", "Tab", "Down", "Up", "Tab"]
        + ["Up"] * 10 + ["Enter", "Down", "Down", "Enter", "Tab"] + ["Down"] * 10 + ["Tab", "Tab"])


def tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, "-f", os.devnull, *args], capture_output=True, text=True).stdout


def trace_lines(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_session(port: int, keys: list[str]) -> tuple[float, list[dict]]:
    trace = tempfile.mktemp(prefix="kalipso-trace-")
    sock = f"kalipso-bench-{uuid.uuid4().hex[:6]}"
    cmd = (f"env -u LINES -u COLUMNS LANG=C.UTF-8 KALIPSO_TRACE={trace} {shlex.quote(sys.executable)} -m kalipso "
           f"--port {port} --cache-url redis://127.0.0.1:{port}/1 --refresh 0")
    t0 = time.perf_counter()
    tmux(sock, "new-session", "-d", "-x", "120", "-y", "40", cmd)
    startup = None
    while time.perf_counter() - t0 < 120:
        if os.path.exists(trace) and any(r["event"] == "first_board" for r in trace_lines(trace)):
            startup = time.perf_counter() - t0
            break
        time.sleep(0.01)
    for key in keys:
        before = len(trace_lines(trace))
        tmux(sock, "send-keys", key)
        deadline = time.perf_counter() + 30
        while len(trace_lines(trace)) == before and time.perf_counter() < deadline:
            time.sleep(0.005)
    tmux(sock, "send-keys", "q")
    deadline = time.perf_counter() + 30
    while not any(r["event"] == "exit" for r in trace_lines(trace)) and time.perf_counter() < deadline:
        time.sleep(0.05)
    tmux(sock, "kill-server")
    records = trace_lines(trace)
    os.unlink(trace)
    return startup or float("nan"), records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=LARGE.hosts)
    parser.add_argument("--hours", type=int, default=LARGE.hours)
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    keys = (WALK * (args.keys // len(WALK) + 1))[: args.keys]
    print(f"python {sys.version.split()[0]}, bytecode cache "
          f"{'off' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'on'}; terminal 120x40 (tmux)")
    with large_database(Scenario(hosts=args.hosts, hours=args.hours, flows_per_hour=1)) as (server, _):
        startups = []
        for _ in range(3):
            startup, records = run_session(server.port, [])
            startups.append((startup, next(r for r in records if r["event"] == "first_board")))
        walls = [s for s, _ in startups]
        inner = [r["ms"] for _, r in startups]
        print(f"start to first complete board (wall, 3 runs): median {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f}); of which loading+drawing inside the program: "
              f"median {statistics.median(inner) / 1000:.2f} s, {startups[0][1]['round_trips']} Redis round trips")
        _, records = run_session(server.port, keys)
        per_key = [r for r in records if r["event"] == "key"]
        ms = sorted(r["ms"] for r in per_key)
        trips = [r["round_trips"] for r in per_key]
        p95 = ms[max(int(round(0.95 * len(ms))) - 1, 0)]
        print(f"key press -> redrawn board, {len(ms)} keys: median {statistics.median(ms):.1f} ms, "
              f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")
        print(f"Redis round trips per key press: mean {statistics.mean(trips):.2f}, max {max(trips)}")
        exit_record = next((r for r in records if r["event"] == "exit"), None)
        if exit_record:
            print(f"peak memory of the program (VmHWM): {exit_record['peak_rss_kib'] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
