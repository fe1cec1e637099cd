"""Write the demo analysis into a running Redis (it flushes db 0 and db 1 first).

  python -m kalipso.demo --port N OUTPUT_DIR        a still analysis (a few hours of an office)
  python -m kalipso.demo --live --port N [...]      a living one: Slips writing as it runs,
                                                    until Ctrl-C or --seconds have passed
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time

import redis

from kalipso.demo.classic import ClassicLiveWriter
from kalipso.demo.generator import Scenario, generate
from kalipso.demo.live import LiveScenario, LiveWriter


def _clients(args: argparse.Namespace) -> tuple[redis.Redis, redis.Redis]:
    if args.unix_socket:
        return (redis.Redis(unix_socket_path=args.unix_socket, db=0),
                redis.Redis(unix_socket_path=args.unix_socket, db=1))
    if args.port is None:
        raise SystemExit("python -m kalipso.demo: give --port or --unix-socket")
    return (redis.Redis(host=args.host, port=args.port, db=0),
            redis.Redis(host=args.host, port=args.cache_port or args.port, db=1))


def _foreign_data(db0: redis.Redis, db1: redis.Redis) -> str:
    """Why writing here would destroy someone's data ('' when db 0 and db 1 are empty or hold a
    demo analysis): the demo writer stands in for Slips only in a Redis of its own."""
    name = db0.hget("analysis", "name")
    if name is not None and name.startswith(b"demo/"):
        return ""
    if db0.dbsize():
        return "db 0 of this Redis holds data that is not a Kalipso demo" + (
            f" (a Slips analysis of {name.decode(errors='replace')})" if name else "")
    if db1.dbsize():
        return "db 1 of this Redis holds data (a Slips IP-info cache?)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kalipso.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", nargs="?",
                        help="Slips' output folder to write (flows.sqlite); with --live, a temporary one "
                             "removed at the end when not given")
    parser.add_argument("--port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--unix-socket", metavar="PATH")
    parser.add_argument("--cache-port", type=int, help="default: the same server, db 1")
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    still = parser.add_argument_group("still analysis")
    still.add_argument("--hosts", type=int, default=Scenario.hosts)
    still.add_argument("--hours", type=int, default=Scenario.hours)
    still.add_argument("--flows-per-hour", type=int, default=Scenario.flows_per_hour)
    still.add_argument("--big-window-flows", type=int, default=0)
    live = parser.add_argument_group("living analysis (--live)")
    live.add_argument("--live", action="store_true", help="keep writing, like a running Slips")
    live.add_argument("--width", type=float, default=LiveScenario.width, help="time-window width in seconds")
    live.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    live.add_argument("--history", type=float, default=LiveScenario.history,
                      help="seconds of past traffic written at once on start (0: start empty)")
    live.add_argument("--flows-per-second", type=float, default=LiveScenario.flows_per_second)
    live.add_argument("--keep-old-windows", action="store_true",
                      help="do not delete the keys of window N-2 when window N closes (Slips does)")
    live.add_argument("--classic", action="store_true",
                      help="write classic Slips' layout (1.0.x) instead of the current one (1.1.21)")
    live.add_argument("--print-alerts", action="store_true",
                      help="print 'alert <unix time> <ip> <timewindow>' when an alert is in Redis "
                           "(to measure how fast a reader notices it)")
    parser.add_argument("--force", action="store_true",
                        help="write even though the Redis holds data that the demo did not write")
    args = parser.parse_args(argv)
    db0, db1 = _clients(args)
    try:
        foreign = not args.force and _foreign_data(db0, db1)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(f"python -m kalipso.demo: {exc}", file=sys.stderr)
        return 1
    if foreign:
        print(f"python -m kalipso.demo: {foreign}; it flushes db 0 and db 1 first. Point it at a private "
              "Redis, or give --force.", file=sys.stderr)
        return 1
    if not args.live:
        if not args.output_dir:
            parser.error("OUTPUT_DIR is required without --live")
        try:
            result = generate(db0, db1, args.output_dir, Scenario(
                hosts=args.hosts, hours=args.hours, flows_per_hour=args.flows_per_hour,
                big_window_flows=args.big_window_flows, seed=args.seed))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            print(f"python -m kalipso.demo: {exc}", file=sys.stderr)
            return 1
        print(result)
        return 0
    out = args.output_dir or tempfile.mkdtemp(prefix="kalipso-live-")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    def printed(ip: str, tw: str, _ts: float) -> None:
        print(f"alert {time.time():.3f} {ip} {tw}", flush=True)

    writer_class = ClassicLiveWriter if args.classic else LiveWriter
    writer = writer_class(db0, db1, out, LiveScenario(
        width=args.width, seed=args.seed, history=args.history, flows_per_second=args.flows_per_second,
        forget_old_windows=not args.keep_old_windows), on_alert=printed if args.print_alerts else None)
    try:
        writer.start()
        print(f"live Slips {writer.stats.summary()} (history); output folder {out}", flush=True)
        writer.run(stop, args.seconds)
    except KeyboardInterrupt:
        stop.set()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(f"python -m kalipso.demo: {exc}", file=sys.stderr)
        return 1
    finally:
        writer.close()
        if not args.output_dir:
            shutil.rmtree(out, ignore_errors=True)
    print(f"live Slips wrote {writer.stats.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
