"""Command line: ``kalipso [PATH] [options]`` opens the board; ``kalipso export`` and
``kalipso views`` are for scripts. Exit status: 0 ok, 1 internal error (traceback in the log
file), 2 a problem the user can fix (one line on stderr).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from kalipso import __version__, config, lifecycle, logfile
from kalipso.data import ConnectionSettings, EmptyDatabase, KalipsoDataError, open_slips

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 6379


class NothingFound(KalipsoDataError):
    """Discovery found no running Slips and no saved analysis."""


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-file", help="where tracebacks go (default ~/.local/state/kalipso/kalipso.log)")
    p.add_argument("--debug", action="store_true", help="re-raise errors instead of containing them")


def add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="a saved Slips database (dump.rdb) or a Slips output folder holding one")
    g = p.add_argument_group("connection to Slips' Redis (any of these skips the search)")
    g.add_argument("--host", help=f"Redis host (default {DEFAULT_HOST})")
    g.add_argument("-p", "--port", type=int, help=f"Redis port Slips was started with, -P (default {DEFAULT_PORT})")
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


def main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kalipso", description="Terminal user interface of Slips, the Stratosphere Linux IPS.",
        epilog="Other commands: 'kalipso export --help' (the analysis as JSON/text), "
               "'kalipso views' (installed hotkey views).")
    p.add_argument("--version", action="version", version=f"kalipso {__version__}")
    add_source(p)
    ui = p.add_argument_group("the board")
    ui.add_argument("--demo", action="store_true",
                    help="open a generated demo network in a private Redis (removed on exit)")
    ui.add_argument("--slips-dir", action="append", default=[], metavar="DIR",
                    help="Slips folder to search for running_slips_info.txt and output/ (also $SLIPS_DIR)")
    ui.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS",
                    help="re-read the database every SECONDS while Slips runs (0: never; default 5)")
    ui.add_argument("--bell", action="store_true", help="ring the terminal bell when new alerts arrive")
    ui.add_argument("--sort", choices=("threat", "ip"), default=None,
                    help="order of the profile tree at start (default: threat, or [board] sort in the config)")
    ui.add_argument("--disable-view", action="append", default=[], metavar="NAME",
                    help="do not load the hotkey view NAME (repeatable)")
    ui.add_argument("-l", "--letters-limit", type=int, default=0, metavar="N",
                    help="show at most N behavioural letters per tuple (default: all, wrapped)")
    ui.add_argument("--config", metavar="FILE", help="config file (default $XDG_CONFIG_HOME/kalipso/config.ini)")
    add_common(p)
    return p


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kalipso export", description="Print the analysis as JSON or text.")
    add_source(p)
    p.add_argument("--profile", metavar="IP", help="export one profile's time window in full")
    p.add_argument("--timewindow", metavar="NAME", help="time window name, e.g. timewindow1")
    p.add_argument("--format", choices=("json", "text"), default="json")
    add_common(p)
    return p


def views_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kalipso views", description="List the installed hotkey views.")
    p.add_argument("--config", metavar="FILE", help="config file with [keys] and [views]")
    p.add_argument("--disable-view", action="append", default=[], metavar="NAME")
    add_common(p)
    return p


def explicit_connection(args: argparse.Namespace) -> bool:
    return any(getattr(args, a, None) for a in ("host", "port", "url", "unix_socket"))


def settings_from(args: argparse.Namespace) -> ConnectionSettings:
    password = getpass.getpass("Redis password: ") if args.ask_password else None
    return ConnectionSettings(
        host=args.host or DEFAULT_HOST, port=args.port or DEFAULT_PORT, db=args.db, url=args.url,
        unix_socket=args.unix_socket, username=args.username, password=password, tls=args.tls,
        tls_ca=args.tls_ca, timeout=args.timeout, cache_url=args.cache_url)


@contextmanager
def saved_source(path: str, args: argparse.Namespace) -> Iterator[tuple[ConnectionSettings, str | None, str]]:
    """A saved dump.rdb (or output folder) served by a private Redis for the command's duration."""
    from kalipso.data.savefile import open_saved

    with open_saved(path, cache_url=args.cache_url) as saved:
        yield saved.settings, args.flows_db or saved.flows_db, saved.note


@contextmanager
def data_source(args: argparse.Namespace, interactive: bool) -> Iterator[tuple[ConnectionSettings, str | None, str]]:
    """(settings, flows file, note) of what the user asked for; private servers stop on exit."""
    if getattr(args, "demo", False):
        from kalipso.demo.session import demo_database
        with demo_database() as settings:
            yield settings, None, "demo network: generated and alive (flows every second), removed on exit"
        return
    if args.path:
        with saved_source(args.path, args) as source:
            yield source
        return
    if explicit_connection(args) or not interactive:
        yield settings_from(args), args.flows_db, ""
        return
    from kalipso.data import discover
    search = discover.find(args.slips_dir)
    sources = discover.newest_first(search.sources)
    usable = [s for s in sources if s.usable]
    if not usable:
        stale = [s for s in sources if not s.usable]
        raise NothingFound(
            "found no Slips to open. Looked in: " + "; ".join(search.looked)
            + (f"; stale (not answering): {', '.join(f'port {s.port}' for s in stale)}" if stale else "")
            + ". Give -p PORT, a dump.rdb or output folder, or try --demo.")
    chosen = usable[0]
    if len(usable) > 1:
        from kalipso.ui.picker import pick
        index = pick(f"Kalipso: {len(usable)} Slips analyses found", [discover.describe(s) for s in sources],
                     [s.usable for s in sources], header=discover.HEADER)
        if index is None:
            raise KeyboardInterrupt
        chosen = sources[index]
    if chosen.kind == "saved":
        with saved_source(chosen.path or "", args) as source:
            yield source
        return
    yield (ConnectionSettings(port=chosen.port or DEFAULT_PORT, cache_url=args.cache_url, timeout=args.timeout),
           args.flows_db, f"Slips on port {chosen.port}: {chosen.label}")


def run_ui(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("kalipso: the board needs a terminal; for scripts use 'kalipso export'", file=sys.stderr)
        return EXIT_USER
    from kalipso.ui.terminal import TerminalUnusable, check_terminal, ensure_locale
    ensure_locale()  # an uninstalled locale (LC_ALL forwarded by SSH) falls back instead of failing
    try:
        check_terminal()  # TERM unset, unknown or cursorless: one line before any data source opens
    except TerminalUnusable as exc:
        print(f"kalipso: {exc}", file=sys.stderr)
        return EXIT_USER
    cfg = config.load(args.config)
    with data_source(args, interactive=True) as (settings, flows_db, note):
        def reopen():
            return open_slips(settings, flows_db=flows_db)

        try:
            data = reopen()  # errors here come before curses starts
        except EmptyDatabase:
            # Kalipso started before Slips wrote anything: wait for it (q quits)
            from kalipso.ui.waiting import wait_for
            data = wait_for(f"Kalipso: waiting for Slips… ({settings.describe()} is empty)", reopen)
            if data is None:
                return EXIT_OK
        # the names of the first screen are read while the board is imported and curses starts
        from kalipso import heap
        from kalipso.firstnames import NamesPrefetch
        heap.tune()  # before the loader's threads (the waiting screen's, if any, came before: harmless)
        prefetched = NamesPrefetch(data)
        from kalipso.views.registry import discover
        registry = discover(disabled=set(args.disable_view) | cfg.disabled, keys=cfg.keys)
        from kalipso.app import App
        app = None
        try:
            app = App(data, registry, refresh_seconds=args.refresh, debug=args.debug,
                      options={"letters_limit": args.letters_limit}, sort_by_threat=(args.sort or cfg.sort) != "ip",
                      bell=args.bell, reopen=reopen, prefetched=prefetched)
            app.board.message = note
            app.run()
        finally:
            (app.data if app is not None else data).close()  # after a reload, the app holds the new one
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from kalipso import export

    if bool(args.profile) != bool(args.timewindow):
        print("kalipso: --profile and --timewindow go together", file=sys.stderr)
        return EXIT_USER
    with data_source(args, interactive=False) as (settings, flows_db, _):
        data = open_slips(settings, flows_db=flows_db)
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
        print(f"{view.key}  {view.name:<20} {view.title:<30} {view.dist} {view.version}")
    for failure in registry.failures:
        print(f"!  {failure.name:<20} FAILED to load ({failure.dist}): {failure.error}")
    return EXIT_OK


def guarded_run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: user errors as one line on stderr, tracebacks only in the log file."""
    log_path = logfile.setup(args.log_file, args.debug)
    # SIGTERM and SIGHUP (an SSH session dropping) unwind like Ctrl-C for the whole command, so
    # every private server and temporary folder is cleaned up, not only while curses runs
    lifecycle.install()
    try:
        return run(args)
    except KalipsoDataError as exc:
        print(f"kalipso: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        logfile.log.exception("internal error")
        where = f" (traceback in {log_path})" if log_path else ""
        print(f"kalipso: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL


COMMANDS = {"export": (export_parser, run_export), "views": (views_parser, run_views)}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in COMMANDS:
        make_parser, run = COMMANDS[args_list[0]]
        args = make_parser().parse_args(args_list[1:])
    else:
        args, run = main_parser().parse_args(args_list), run_ui
    return guarded_run(run, args)
