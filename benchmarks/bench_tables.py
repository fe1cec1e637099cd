"""The five port/IP tables of a time window with 100,000 flows, from Slips' SQLite flows file:
the former SQL query (FlowsDB.aggregates_sql: one GROUP BY per table over a materialised
json_extract) against the one-pass implementation (FlowsDB.aggregates), in the same run.

Generates the flows file (about 10 s), then alternates the two, each run on a fresh
connection, in one interpreter that also holds a heap the size of a 100,000-profile board
(the collector walks it). Prints wall and CPU time (CPU includes the read-ahead thread),
min/median/max, and checks that both give the same tables. Asserts nothing on time.
Run: make bench (or .venv/bin/python benchmarks/bench_tables.py [--flows N] [--runs N]).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from kalipso.data.flows import FlowsDB
from kalipso.data.server import RedisServer
from kalipso.demo.generator import Scenario, generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="kalipso-bench-tables-")
    try:
        with RedisServer() as server:
            t0 = time.perf_counter()
            result = generate(server.client(0), server.client(1), out,
                              Scenario(hosts=50, hours=2, flows_per_hour=5, big_window_flows=args.flows))
            built = time.perf_counter() - t0
        import sqlite3
        ip, tw = "192.168.1.10", "timewindow1"
        with sqlite3.connect(result.flows_db) as conn:
            in_window = conn.execute("SELECT count(*) FROM flows WHERE twid = ? AND profileid = ?",
                                     (tw, f"profile_{ip}")).fetchone()[0]
        print(f"flows file: {result.flows} flows, {in_window} of them in {ip} {tw}; built in {built:.1f} s; "
              f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        heap = [(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", [i]) for i in range(100_000)]  # noqa: F841
        times: dict[str, dict[str, list[float]]] = {label: {"wall": [], "cpu": []} for label in ("today", "one pass")}
        tables = {}
        for _ in range(args.runs):
            for label in ("today", "one pass"):
                db = FlowsDB(result.flows_db)
                fn = db.aggregates_sql if label == "today" else db.aggregates
                w0, c0 = time.perf_counter(), time.process_time()
                tables[label] = fn(ip, tw)
                times[label]["cpu"].append(time.process_time() - c0)
                times[label]["wall"].append(time.perf_counter() - w0)
                db.close()
        same = tables["today"] == tables["one pass"]
        rows = {name: len(rows) for name, rows in tables["one pass"].items()}
        print(f"tables: {rows}; identical to today's: {'yes' if same else 'NO'}")
        for label, kinds in times.items():
            w, c = kinds["wall"], kinds["cpu"]
            print(f"{label:>9}: wall median {statistics.median(w) * 1000:5.0f} ms (min {min(w) * 1000:.0f}, "
                  f"max {max(w) * 1000:.0f}); CPU median {statistics.median(c) * 1000:5.0f} ms "
                  f"(min {min(c) * 1000:.0f}, max {max(c) * 1000:.0f}); {len(w)} runs")
        wall = statistics.median(times["today"]["wall"]) / statistics.median(times["one pass"]["wall"])
        cpu = statistics.median(times["today"]["cpu"]) / statistics.median(times["one pass"]["cpu"])
        print(f"speed-up (medians): {wall:.2f}x wall, {cpu:.2f}x CPU (target: >= 2x, <= 1 s); "
              f"load average now {os.getloadavg()[0]:.2f} (other work on the machine skews both)")
    finally:
        subprocess.run(["rm", "-rf", out], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
