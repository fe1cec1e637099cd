"""Helpers for the benchmark scripts: a large generated database and timing/memory probes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

from kalipso.data.server import RedisServer
from kalipso.demo.generator import Scenario, generate

LARGE = Scenario(hosts=5000, hours=24, flows_per_hour=1, beacon=True, scanner=True)


@contextmanager
def large_database(scenario: Scenario = LARGE):
    """A private Redis holding a generated analysis of the given scale (and its flows file)."""
    out = tempfile.mkdtemp(prefix="kalipso-bench-")
    with RedisServer() as server:
        t0 = time.perf_counter()
        result = generate(server.client(0), server.client(1), out, scenario)
        built = time.perf_counter() - t0
        info = server.client(0).info("memory")
        print(f"database: {result.profiles} profiles, {result.timewindows} time windows, "
              f"{result.timeline_lines} timeline lines, {result.flows} flows, {result.alerts} alerts; "
              f"built in {built:.1f} s; Redis uses {info['used_memory'] / 2**20:.0f} MiB")
        yield server, result
    subprocess.run(["rm", "-rf", out], check=False)


def run_probe(code: str, port: int, repeat: int = 5) -> dict:
    """Run ``code`` in fresh interpreters; it must print a JSON dict with 'seconds'.

    Peak RSS (ru_maxrss of the child) is reported as well, with and without the work, so the
    figure is what the operation adds on top of importing Kalipso.
    """
    prelude = ("import json, time\n"
               "from kalipso.data import open_slips, ConnectionSettings\n"
               f"data = open_slips(ConnectionSettings(port={port}, cache_url='redis://127.0.0.1:{port}/1'))\n"
               "def hwm():\n"
               "    # VmHWM restarts at exec; ru_maxrss would carry the benchmark parent's peak\n"
               "    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
               "base = hwm()\n")
    times, peaks, extra = [], [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                             check=True, env=dict(os.environ))
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(doc["seconds"])
        peaks.append(doc["peak_kib"] / 1024)
        extra.append(doc.get("extra"))
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_rss_mib": max(peaks), "extra": extra[0]}


def probe_end(expr_extra: str = "None") -> str:
    return ("peak = hwm()\n"
            f"print(json.dumps({{'seconds': t1 - t0, 'peak_kib': peak, 'added_kib': peak - base, "
            f"'extra': {expr_extra}}}))\n")


