"""Command line: ``kalipso [options]`` opens the board; ``kalipso export`` and ``kalipso views``
are for scripts. Exit status: 0 ok, 1 internal error (traceback in the log), 2 user-facing error.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence

from kalipso import __version__, config, logfile
from kalipso.data import ConnectionSettings, KalipsoDataError, SlipsData, open_slips

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection to Slips' Redis")
    g.add_argument("--host", default="127.0.0.1", help="Redis host (default 127.0.0.1)")
    g.add_argument("-p", "--port", type=int, default=6379,
                   help="Redis port Slips was started with, -P (default 6379)")
    g.add_argument("--db", type=int, default=0, help="database number (default 0)")
    g.add_argument("--url", help="redis://, rediss:// or unix:// URL (overrides host/port/db)")
    g.add_argument("--unix-socket", metavar="PATH", help="Redis unix socket")
    g.add_argument("--username", help="Redis ACL user name")
    g.add_argument("--ask-password", action="store_true",
                   help="prompt for the Redis password (or set $KALIPSO_REDIS_PASSWORD)")
    g.add_argument("--tls", action="store_true", help="connect with TLS")
    g.add_argument("--tls-ca", metavar="FILE", help="CA certificate for --tls")
    g.add_argument("--timeout", type=float, default=5.0, help="Redis timeout in seconds (default 5)")
    g.add_argument("--cache-url", help="IP-info cache (default: port 6379 db 1 on the same host)")
    g.add_argument("--flows-db", metavar="PATH",
                   help="Slips' flows.sqlite (default: found through the analysis output folder)")


def settings_from(args: argparse.Namespace) -> ConnectionSettings:
    password = None
    if getattr(args, "ask_password", False):
        password = getpass.getpass("Redis password: ")
    return ConnectionSettings(
        host=args.host, port=args.port, db=args.db, url=args.url, unix_socket=args.unix_socket,
        username=args.username, password=password, tls=args.tls, tls_ca=args.tls_ca,
        timeout=args.timeout, cache_url=args.cache_url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kalipso", description="Terminal user interface of Slips, the Stratosphere Linux IPS.")
    parser.add_argument("--version", action="version", version=f"kalipso {__version__}")
    parser.add_argument("--log-file", help="where tracebacks go (default ~/.local/state/kalipso/kalipso.log)")
    parser.add_argument("--debug", action="store_true", help="re-raise errors instead of containing them")
    add_connection_options(parser)
    ui = parser.add_argument_group("the board")
    ui.add_argument("--demo", action="store_true",
                    help="open a generated demo network in a private Redis (removed on exit)")
    ui.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS",
                    help="re-read the database every SECONDS while Slips runs (0: never; default 5)")
    ui.add_argument("--disable-view", action="append", default=[], metavar="NAME",
                    help="do not load the hotkey view NAME (repeatable)")
    ui.add_argument("-l", "--letters-limit", type=int, default=0, metavar="N",
                    help="show at most N behavioural letters per tuple (default: all, wrapped)")
    ui.add_argument("--config", metavar="FILE",
                    help="config file (default $XDG_CONFIG_HOME/kalipso/config.ini)")
    parser.set_defaults(run=run_ui)
    sub = parser.add_subparsers(dest="command")

    export = sub.add_parser("export", help="print the analysis as JSON or text")
    add_connection_options(export)
    export.add_argument("--profile", metavar="IP", help="export one profile's time window in full")
    export.add_argument("--timewindow", metavar="NAME", help="time window name, e.g. timewindow1")
    export.add_argument("--format", choices=("json", "text"), default="json")
    export.set_defaults(run=run_export)

    views = sub.add_parser("views", help="list the installed hotkey views and any that failed to load")
    views.add_argument("--config", metavar="FILE", help="config file with [keys] and [views]")
    views.add_argument("--disable-view", action="append", default=[], metavar="NAME")
    views.set_defaults(run=run_views)
    return parser


def run_export(args: argparse.Namespace) -> int:
    from kalipso import export

    if bool(args.profile) != bool(args.timewindow):
        print("kalipso: --profile and --timewindow go together", file=sys.stderr)
        return EXIT_USER
    data = open_slips(settings_from(args), flows_db=args.flows_db)
    try:
        if args.profile:
            doc = export.timewindow_detail(data, args.profile, args.timewindow)
            writer = export.write_detail_text
        else:
            doc = export.summary(data, host_names=args.format == "text")
            writer = export.write_summary_text
        (export.write_json if args.format == "json" else writer)(doc, sys.stdout)
    finally:
        data.close()
    return EXIT_OK


def run_views(args: argparse.Namespace) -> int:
    from kalipso.views.registry import discover

    cfg = config.load(args.config)
    registry = discover(disabled=set(args.disable_view) | cfg.disabled, keys=cfg.keys)
    for view in registry.views:
        print(f"{view.key}  {view.name:<20} {view.title:<28} {view.dist} {view.version}")
    for failure in registry.failures:
        print(f"!  {failure.name:<20} FAILED to load ({failure.dist}): {failure.error}")
    return EXIT_OK


def run_ui(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from kalipso.views.registry import discover

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("kalipso: the board needs a terminal; for scripts use 'kalipso export'", file=sys.stderr)
        return EXIT_USER
    if args.demo:
        from kalipso.demo.session import demo_database
        source = demo_database()
    else:
        source = nullcontext(settings_from(args))
    with source as settings:
        data = open_slips(settings, flows_db=args.flows_db)  # errors here come before curses
        cfg = config.load(args.config)
        registry = discover(disabled=set(args.disable_view) | cfg.disabled, keys=cfg.keys)
        from kalipso.app import App
        try:
            App(data, registry, refresh_seconds=args.refresh, debug=args.debug,
                options={"letters_limit": args.letters_limit}).run()
        finally:
            data.close()
    return EXIT_OK


def guarded_run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: user errors as one line on stderr, tracebacks only in the log file."""
    log_path = logfile.setup(args.log_file, args.debug)
    try:
        return run(args)
    except KalipsoDataError as exc:
        print(f"kalipso: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        logfile.log.exception("internal error")
        where = f" (traceback in {log_path})" if log_path else ""
        print(f"kalipso: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return guarded_run(args.run, args)


__all__ = ["main", "SlipsData"]
