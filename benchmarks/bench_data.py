"""Data-layer speed and memory on a large generated database.

Builds 5,000 profiles x 24 time windows (>200,000 timeline lines) in a private Redis, then times,
each in fresh interpreters (5 runs, median/min/max): listing the whole profile tree, and
reading one time window's first screen (timeline page of 50, evidence, IP info). Prints the
figures; asserts nothing. Run: make bench (or .venv/bin/python benchmarks/bench_data.py).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import LARGE, large_database, probe_end, run_probe

from kalipso.demo.generator import Scenario

LAZY_TREE = ("t0 = time.perf_counter()\n"
             "profiles = data.profiles(timewindows=False)\n"
             "t1 = time.perf_counter()\n") + probe_end("[len(profiles), sum(p.timewindow_count for p in profiles)]")

TREE = ("t0 = time.perf_counter()\n"
        "profiles = data.profiles()\n"
        "t1 = time.perf_counter()\n") + probe_end("[len(profiles), sum(len(p.timewindows) for p in profiles)]")

FIRST_SCREEN = ("ip, tw = '10.0.1.0', 'timewindow24'\n"
                "t0 = time.perf_counter()\n"
                "page = data.timeline(ip, tw, 0, 50)\n"
                "ev = data.evidence(ip, tw)\n"
                "info = data.ip_info(ip)\n"
                "t1 = time.perf_counter()\n") + probe_end("[page.total, len(page.items)]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=LARGE.hosts)
    parser.add_argument("--hours", type=int, default=LARGE.hours)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, bytecode cache "
          f"{'off' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'on'}")
    with large_database(Scenario(hosts=args.hosts, hours=args.hours, flows_per_hour=1)) as (server, _):
        for label, probe in (("profile tree as the board reads it (window counts and malicious marks; "
                              "windows per profile on demand)", LAZY_TREE),
                             ("profile tree with every time window read (export)", TREE)):
            tree = run_probe(probe, server.port)
            print(f"{label}: {tree['extra'][0]} profiles, {tree['extra'][1]} time windows: "
                  f"median {tree['median_s'] * 1000:.0f} ms (min {tree['min_s'] * 1000:.0f}, "
                  f"max {tree['max_s'] * 1000:.0f}); peak RSS {tree['peak_rss_mib']:.0f} MiB")
        screen = run_probe(FIRST_SCREEN, server.port)
        print(f"first screen of one time window ({screen['extra'][1]} of {screen['extra'][0]} lines, "
              f"evidence, IP info): median {screen['median_s'] * 1000:.1f} ms "
              f"(min {screen['min_s'] * 1000:.1f}, max {screen['max_s'] * 1000:.1f}); "
              f"peak RSS {screen['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
