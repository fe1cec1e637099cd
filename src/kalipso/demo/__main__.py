"""python -m kalipso.demo --port N OUTPUT_DIR: write the demo analysis into a running Redis."""

from __future__ import annotations

import argparse

import redis

from kalipso.demo.generator import Scenario, generate


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m kalipso.demo", description=__doc__)
    parser.add_argument("output_dir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cache-port", type=int, help="default: the same server, db 1")
    parser.add_argument("--hosts", type=int, default=Scenario.hosts)
    parser.add_argument("--hours", type=int, default=Scenario.hours)
    parser.add_argument("--flows-per-hour", type=int, default=Scenario.flows_per_hour)
    parser.add_argument("--big-window-flows", type=int, default=0)
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    args = parser.parse_args()
    db0 = redis.Redis(port=args.port, db=0)
    db1 = redis.Redis(port=args.cache_port or args.port, db=1)
    result = generate(db0, db1, args.output_dir, Scenario(
        hosts=args.hosts, hours=args.hours, flows_per_hour=args.flows_per_hour,
        big_window_flows=args.big_window_flows, seed=args.seed))
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
