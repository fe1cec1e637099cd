"""How long each hotkey view takes to open on a time window with 100,000 flows.

For every installed view: fetch + render at 200x50, in a fresh interpreter each time (5 runs,
median), on the largest time window of a generated database. The map is measured twice in
one interpreter: first open (geopandas import, country data, rasterising) and re-open.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from kalipso.data.server import RedisServer
from kalipso.demo.generator import Scenario, generate

PROBE = """
import json, sys, time
from kalipso.data import open_slips, ConnectionSettings
from kalipso.views.base import Selection, Size
from kalipso.views.registry import discover
port, name, ip, tw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = open_slips(ConnectionSettings(port=port, cache_url=f'redis://127.0.0.1:{port}/1'))
spec = discover().by_name(name)
size, sel = Size(50, 200), Selection(ip, tw, ip)

def open_view():
    view = spec.cls()
    state = view.new_state()
    t0 = time.perf_counter()
    model = view.fetch(data, sel, view.page(state, size))
    while view.pending(model):
        time.sleep(0.005)
    lines = view.render(model, size, state)
    return time.perf_counter() - t0, len(lines)

first, n = open_view()
again, _ = open_view()
print(json.dumps({"first": first, "again": again, "lines": n}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="kalipso-bench-views-")
    with RedisServer() as server:
        result = generate(server.client(0), server.client(1), out,
                          Scenario(hosts=50, hours=2, flows_per_hour=5, big_window_flows=args.flows))
        ip, tw = "192.168.1.10", "timewindow1"
        lines = server.client(0).zcard(f"profile_{ip}_{tw}_timeline")
        print(f"database: {result.profiles} profiles, {result.flows} flows; {ip} {tw} has {lines} timeline "
              f"lines / flows; python {sys.version.split()[0]}")
        names = json.loads(subprocess.run(
            [sys.executable, "-c", "import json; from kalipso.views.registry import discover; "
             "print(json.dumps([v.name for v in discover().views]))"],
            capture_output=True, text=True, check=True).stdout)
        for name in names:
            runs = []
            for _ in range(args.runs):
                done = subprocess.run([sys.executable, "-c", PROBE, str(server.port), name, ip, tw],
                                      capture_output=True, text=True)
                if done.returncode:
                    print(f"{name}: failed: {done.stderr.strip().splitlines()[-1]}")
                    break
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            if not runs:
                continue
            first = statistics.median(r["first"] for r in runs) * 1000
            again = statistics.median(r["again"] for r in runs) * 1000
            label = "first open (incl. geopandas) / re-open" if name == "Map" else "open / re-open"
            print(f"{name:<18} {label}: median {first:7.1f} ms / {again:7.1f} ms ({runs[0]['lines']} lines)")
    subprocess.run(["rm", "-rf", out], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
