"""The loop: wait for a key or a loader result (poll on the keyboard and the loader's wake-up
pipe) -> run the key's command -> apply the loader's results -> ask the loader for what is now
wanted -> draw what changed (ui.draw.AppDraw).

The UI thread never waits on Redis or SQLite: every read goes through kalipso.loader. One error
boundary (``App.boundary``) covers every command, every pane draw and every call into view
code, and names what failed; an error never exits the program (``--debug`` re-raises).
"""

from __future__ import annotations

import curses
import os
import time
from dataclasses import dataclass, field
from typing import Any

from kalipso import clipboard, heap, keymap
from kalipso.board import COMMANDS as BOARD_COMMANDS
from kalipso.board import Board
from kalipso.loader import LOADING, LOST, READY, Loader, Request, Result
from kalipso.logfile import log
from kalipso.ui import layout, pane
from kalipso.ui.draw import AppDraw
from kalipso.ui.terminal import resize_wakeup, terminal, terminal_gone, utf8_locale, wait_for_input
from kalipso.views.base import Handled, Selection
from kalipso.views.registry import LoadedView, Registry

IDLE_TIMEOUT_MS = 250  # longest wait for a key or a result: resize, the refresh timer and "Redis slow" need no more
BUSY_TIMEOUT_MS = 30  # poll while a view loads in its own background (the map's geopandas)


@dataclass
class OpenView:
    spec: LoadedView
    instance: Any
    state: dict
    selection: Selection
    status: str = LOADING
    reason: str = ""
    model: Any = None
    failed: str | None = None  # the view's own code raised: shown in its area until it is closed
    asked: Any = None
    refetches: int = 0


@dataclass
class App(AppDraw):
    data: Any
    registry: Registry
    refresh_seconds: float = 5.0
    debug: bool = False
    options: dict = field(default_factory=dict)
    sort_by_threat: bool = True
    bell: bool = False  # ring the terminal bell when new alerts arrive
    reopen: Any = None  # () -> a new SlipsData, when Slips restarts with a new analysis
    prefetched: Any = None  # firstnames.NamesPrefetch started before the UI was imported
    board: Board = field(init=False)
    view: OpenView | None = None
    prompt: str | None = None  # text typed into the filter prompt, None when closed
    prompt_before: str = ""  # the filter when the prompt opened: Esc restores it
    show_help: bool = False
    detail_top: int = 0
    help_top: int = 0
    follow_why: bool = False
    running: bool = True
    pending_output: str = ""
    problem: str = ""  # the last internal error (status line)
    shown_message: str = ""
    message_at: float = 0.0

    def __post_init__(self) -> None:
        self.board = Board(sort_by_threat=self.sort_by_threat, prefetched=self.prefetched)
        self.utf8 = utf8_locale()
        self.loader: Loader | None = None
        self.resized: Any = lambda: False  # () -> the terminal changed size (ui.terminal.resize_wakeup)
        self.app_commands = {"quit": self.quit, "help": self.help, "filter": self.open_prompt,
                             "copy_ip": self.copy_ip, "back": self.back}
        missing = [b.command for b in keymap.MAIN_BOARD
                   if b.command not in self.app_commands and b.command not in BOARD_COMMANDS]
        if missing:  # a key bound to nothing is a programming error: refuse to start
            raise RuntimeError(f"key bindings without a command handler: {', '.join(missing)}")
        self.refresh_interval = self.refresh_seconds
        self.last_refresh = time.monotonic()
        # KALIPSO_TRACE=FILE: one JSON line per key (handling + drawing time) and at exit, for
        # benchmarks/bench_board.py
        trace = os.environ.get("KALIPSO_TRACE")
        self.trace = open(trace, "a", encoding="utf-8") if trace else None
        self.first_board = False
        self.started = time.monotonic()

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        self.loader = Loader(self.data, debug=self.debug)
        pane.use_ascii(not self.utf8)
        try:
            with terminal() as stdscr, resize_wakeup(self.loader.wake_write_fd()) as resized:
                self.resized = resized
                self.loop(stdscr)
        finally:
            self.loader.close()
            self.finish_trace()

    def loop(self, stdscr: curses.window) -> None:
        assert self.loader is not None
        dirty, last_slow, was_pending, instant = True, None, False, 0
        stdscr.timeout(0)  # get_wch never waits: wait_for_input waits for keys and results together
        while self.running:
            for result in self.loader.results():
                self.apply(result)
                dirty = True
            if self.board.restarted is not None:
                self.restart()
            if self.board.bell:
                self.board.bell = False
                if self.bell:
                    curses.beep()
            self.boundary(self.submit_wants, None, None, "asking for reads")
            slow = self.loader.slow()
            if slow and (last_slow is None or int(slow[1]) != int(last_slow[1])):
                dirty = True
            last_slow = slow
            # a view still loading in its own background (the map's geopandas) is redrawn until,
            # and once after, it is ready
            pending = bool(self.view and self.view.status == READY and not self.view.failed and self.boundary(
                lambda v=self.view: v.instance.pending(v.model), False, self.view))
            dirty = dirty or pending or was_pending
            was_pending = pending
            if dirty:
                self.draw(stdscr)
                dirty = False
                if not self.first_board and self.board.names is not None:
                    self.first_board = True
                    self.emit({"event": "first_board", "ms": (time.monotonic() - self.started) * 1000})
            key, typed = self.next_key(stdscr, (BUSY_TIMEOUT_MS if pending else IDLE_TIMEOUT_MS) / 1000)
            if key is None and self.resized():
                key, typed = "KEY_RESIZE", False
            if typed and key is None:
                # the keyboard was readable, yet no key: after many of these in a row, see
                # whether the terminal is gone (its input then reads as end-of-file at once)
                instant += 1
                if instant > 50 and terminal_gone():
                    log.info("the terminal went away: exiting")
                    self.running = False
                    break
            else:
                instant = 0
            if key is not None:
                t0 = time.monotonic()
                # view code called from handle() has its own boundary, which blames the view
                self.boundary(lambda k=key: self.handle(k, stdscr), None, None, f"key {key!r}")
                self.boundary(self.submit_wants, None, None, "asking for reads")
                self.draw(stdscr)
                self.emit({"event": "key", "key": key, "ms": (time.monotonic() - t0) * 1000})
            self.maybe_refresh()

    def restart(self) -> None:
        """Slips started a new analysis on this database: read it afresh, mixing nothing."""
        new = self.board.restarted
        self.board.restarted = None
        if self.reopen is None:
            self.board.message = "Slips started a new analysis here; restart Kalipso to read it"
            return
        self.loader.submit(Request("reopen", ("reopen", id(new)), lambda d: self.reopen(), "bg", -1,
                                   "the new analysis"))

    def reopened(self, result: Result) -> None:
        if result.value is None:
            why = result.problem.reason if result.problem else result.failure
            self.board.message = f"Slips started a new analysis; reading it failed: {why}"
            return
        old, self.data = self.data, result.value
        self.loader.reset(self.data)
        keep = self.board
        # gen goes on from the old board's, so that nothing keyed by gen looks fresh when it is not
        self.board = Board(sort_by_threat=keep.sort_by_threat, filter_text=keep.filter_text, collapse=keep.collapse,
                           gen=keep.gen + 1)
        self.close_view()
        a = self.data.analysis
        self.board.message = (f"Slips started a new analysis (Slips {a.slips_version or '?'}, "
                              f"{a.analysis_start or 'start unknown'}): reloaded")
        self.loader.submit(Request("close", ("close", id(old)), lambda d: old.close(), "bg", 9, "closing"))

    def maybe_refresh(self) -> None:
        if not self.refresh_seconds or time.monotonic() - self.last_refresh < self.refresh_interval:
            return
        self.last_refresh = time.monotonic()
        self.board.refresh()
        # a database that takes long to read is re-read less often: at most a tenth of the
        # time goes to refreshing, whatever its size
        self.refresh_interval = max(self.refresh_seconds, 10 * self.board.facts_seconds)

    def submit_wants(self) -> None:
        assert self.loader is not None
        for request in self.board.wants():
            if self.board.asked.get(request.slot) != request.key:
                self.board.asked[request.slot] = request.key
                log.debug("submit %s %r", request.slot, request.key)
                self.loader.submit(request)
        v = self.view
        if v is None or v.failed or self.board.lost:
            return
        size = self.view_size()
        page = self.boundary(lambda: v.instance.page(v.state, size), None, v)
        if v.failed:
            return
        key = (id(v), page, self.board.gen, v.refetches)
        if key != v.asked:
            v.asked = key
            instance, selection = v.instance, v.selection
            self.loader.submit(Request("view", key, lambda d: instance.fetch(d, selection, page), "fg", 0,
                                       f"view {v.spec.name}"))

    def apply(self, result: Result) -> None:
        log.debug("result %s %r %s", result.slot, result.key, "problem" if result.problem else "")
        if self.loader is not None and result.epoch != self.loader.epoch:
            return  # read from the analysis before a reload: it belongs to no board any more
        if result.slot == "reopen":
            self.boundary(lambda: self.reopened(result), None, None, "reading the new analysis")
        elif result.slot == "view":
            self.apply_view(result)
        else:
            self.boundary(lambda: self.board.apply(result), None, None, f"applying {result.slot}")
            if result.slot in ("names", "facts") and result.seconds > 0.25:
                heap.trim()  # a large read replaced what the board held: give the freed pages back

    def apply_view(self, result: Result) -> None:
        v = self.view
        if v is None or result.key != v.asked:
            return  # the view was closed or asked again since
        if result.failure is not None:
            v.failed = result.failure
            log.error("view %s (%s) failed in fetch: %s", v.spec.name, v.spec.dist, result.failure)
        elif result.problem is not None:
            v.status, v.reason = result.problem.state, result.problem.reason
            if result.problem.state == LOST:
                self.board.apply(result)
        else:
            v.model, v.status, v.reason = result.value, READY, ""

    def finish_trace(self) -> None:
        if self.trace:
            with open("/proc/self/status", encoding="ascii") as status:  # VmHWM: peak RSS since exec
                peak = int(status.read().split("VmHWM:")[1].split()[0])
            self.emit({"event": "exit", "peak_rss_kib": peak})
            self.trace.close()

    def emit(self, record: dict) -> None:
        if self.trace:
            import json
            self.trace.write(json.dumps(record) + "\n")
            self.trace.flush()

    def next_key(self, stdscr: curses.window, wait: float) -> tuple[str | None, bool]:
        """(key or None, whether the keyboard was readable). Waits up to ``wait`` seconds for a
        key or a loader result (the loader's wake-up pipe), whichever comes first.

        get_wch runs in no-delay mode (the board's timeout is 0) only to take a key curses
        already holds; bytes waiting on the terminal are read with a 100 ms timeout, because in
        no-delay mode ncurses drops a UTF-8 character whose second byte has not arrived yet."""
        assert self.loader is not None
        typed = wait_for_input(self.loader.wake_fd(), 0)
        if not typed:
            key = self.read_key(stdscr)  # a key curses holds (given back, or read with another)
            if key is not None:
                return key, False
            typed = wait_for_input(self.loader.wake_fd(), wait)
            if not typed:
                return None, False
        stdscr.timeout(100)
        try:
            return self.read_key(stdscr), True
        finally:
            stdscr.timeout(0)

    @staticmethod
    def read_key(stdscr: curses.window) -> str | None:
        try:
            key = stdscr.get_wch()
        except curses.error:
            return None
        if isinstance(key, int):
            return curses.keyname(key).decode("ascii", "replace") if key != curses.KEY_RESIZE else "KEY_RESIZE"
        return key

    # ------------------------------------------------------- error boundary
    def boundary(self, fn, default, view: OpenView | None = None, what: str = ""):
        """Run ``fn``; an exception is logged and shown, blamed on ``view`` when given."""
        try:
            return fn()
        except Exception as exc:
            if self.debug:
                raise
            if view is not None:
                log.exception("view %s (%s) failed", view.spec.name, view.spec.dist)
                view.failed = f"{type(exc).__name__}: {exc}"
            else:
                log.exception("internal error in %s", what or "the board")
                self.problem = f"internal error in {what or 'the board'}: {type(exc).__name__}: {exc} (see the log)"
            return default

    # -------------------------------------------------------------- dispatch
    def handle(self, key: str, stdscr: curses.window) -> None:
        rows, cols = stdscr.getmaxyx()
        if key == "KEY_RESIZE":
            curses.update_lines_cols()
            stdscr.clear()
            return
        if self.prompt is not None:
            self.handle_prompt(key)
            return
        if self.show_help:
            step = {"KEY_DOWN": 1, "j": 1, "KEY_UP": -1, "k": -1, "KEY_NPAGE": rows - 6, " ": rows - 6,
                    "KEY_PPAGE": -(rows - 6)}.get(key)
            if step is None:
                self.show_help, self.help_top = False, 0
            else:
                self.help_top = max(self.help_top + step, 0)
            return
        if self.board.detail is not None:
            self.handle_detail(key, rows)
            return
        if key == "KEY_MOUSE":
            self.handle_mouse(rows, cols)
            return
        if self.view is not None:
            v = self.view
            handled = Handled.NO if v.failed else self.boundary(lambda: v.instance.handle_key(key, v.state),
                                                                 Handled.NO, v)
            if handled == Handled.REFETCH:
                v.refetches += 1
            if handled != Handled.NO:
                return
            if key in ("\x1b", "q"):
                self.close_view()
                return
        spec = self.registry.by_key(key)
        if spec is not None:
            self.open_view(spec)
            return
        name = keymap.command_for(key)
        if name is None:
            return
        self.problem = ""
        if name in self.app_commands:
            self.app_commands[name]()
        elif self.view is None:
            board_rect = layout.main_board(rows, cols)
            # a page is the focused pane's height, less one line kept for context
            page = {"tree": board_rect["tree"].h - 3, "timeline": board_rect["timeline"].h - 3,
                    "evidence": self.board.evidence_height - 1}[self.board.focus]
            page = max(page, 1)
            self.board.run(name, page)

    def quit(self) -> None:
        self.running = False

    def help(self) -> None:
        self.show_help = True

    def back(self) -> None:
        self.close_view()

    def close_view(self) -> None:
        """Leave the view; its fetch, if it still waits, is not run."""
        self.view = None
        if self.loader is not None:
            self.loader.cancel("view")

    def open_prompt(self) -> None:
        self.prompt_before = self.board.filter_text
        self.prompt = self.board.filter_text

    def handle_prompt(self, key: str) -> None:
        if key in ("\n", "KEY_ENTER"):
            self.board.set_filter(self.prompt or "")
            self.prompt = None
        elif key == "\x1b":
            self.prompt = None
            self.board.set_filter(self.prompt_before)
            self.board.message = "filter cancelled" if not self.prompt_before else self.board.message
        elif key in ("KEY_BACKSPACE", "\x7f", "\b"):
            self.prompt = (self.prompt or "")[:-1]
            self.board.set_filter(self.prompt)
        elif len(key) == 1 and key.isprintable():
            self.prompt = (self.prompt or "") + key
            self.board.set_filter(self.prompt)

    def handle_detail(self, key: str, rows: int) -> None:
        if key in ("\x1b", "q", "\n", "KEY_ENTER", "KEY_LEFT", "h", "KEY_BACKSPACE", "\x7f"):
            self.board.close_detail()
            if self.loader is not None:
                self.loader.cancel("why")
            self.detail_top, self.follow_why = 0, False
        elif key in ("f", "F"):
            self.board.ask_why()
            self.follow_why = True  # scroll to the Why section, also when it arrives later
        elif key in ("KEY_DOWN", "j"):
            self.follow_why = False
            self.detail_top += 1
        elif key in ("KEY_UP", "k"):
            self.follow_why = False
            self.detail_top = max(self.detail_top - 1, 0)
        elif key in ("KEY_NPAGE", " "):
            self.detail_top += max(rows - 6, 1)
        elif key == "KEY_PPAGE":
            self.detail_top = max(self.detail_top - max(rows - 6, 1), 0)

    def handle_mouse(self, rows: int, cols: int) -> None:
        try:
            _, x, y, _, bstate = curses.getmouse()
        except curses.error:
            return
        if not bstate & (curses.BUTTON1_PRESSED | curses.BUTTON1_CLICKED):
            return  # a release: the press already acted
        if self.view is not None or layout.too_small(rows, cols):
            return
        rects = layout.main_board(rows, cols)
        tree, timeline = rects["tree"], rects["timeline"]
        if tree.contains(y, x) and y > tree.y:
            self.board.click_tree(y - tree.y - 1)
        elif timeline.contains(y, x) and y > timeline.y:
            self.board.click_timeline(y - timeline.y - 1)

    def open_view(self, spec: LoadedView) -> None:
        row = self.board.current_row()
        selected = self.board.selected
        profile = selected[0] if selected else (row.ip if row else None)
        selection = Selection(profile=profile, timewindow=selected[1] if selected else None,
                              ip=self.board.focused_ip())
        view = OpenView(spec, None, {}, selection)
        view.instance = self.boundary(spec.cls, None, view)
        if view.instance is not None:
            view.instance.options = {**self.options, "utf8": self.utf8}
            view.state = self.boundary(view.instance.new_state, {}, view) or {}
        self.view = view

    def copy_ip(self) -> None:
        value = self.board.focused_ip()
        ip, why = clipboard.copyable_ip(value)
        if ip is None:
            self.board.message = why or "no IP selected to copy"
            return
        copied, how = clipboard.copy(ip)
        if copied and not os.environ.get("SSH_CONNECTION"):
            self.board.message = f"copied {ip} to the clipboard"
            return
        self.pending_output = clipboard.osc52(ip)
        self.board.message = f"copied {ip} via OSC 52 ({how})"
