"""The loop: poll a key (with a timeout) -> dispatch a command -> refresh due data -> draw.

Curses lives here and in kalipso.ui only. Every call into a view goes through one error
boundary: an exception shows an error in the view's area and a line in the log file.
"""

from __future__ import annotations

import curses
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from kalipso import clipboard, keymap
from kalipso.board import Board
from kalipso.data import ConnectionLost, SlipsData
from kalipso.logfile import log
from kalipso.ui import layout, pane
from kalipso.ui.terminal import terminal, utf8_locale
from kalipso.views.base import Handled, Selection, Size, line
from kalipso.views.registry import LoadedView, Registry


@dataclass
class OpenView:
    spec: LoadedView
    instance: Any
    state: dict
    selection: Selection
    model: Any = None
    error: str | None = None
    fetched_for: Any = None


@dataclass
class App:
    data: SlipsData
    registry: Registry
    refresh_seconds: float = 5.0
    debug: bool = False
    options: dict = field(default_factory=dict)
    board: Board = field(init=False)
    view: OpenView | None = None
    prompt: str | None = None  # text typed into the filter prompt, None when closed
    show_help: bool = False
    running: bool = True
    pending_output: str = ""
    _was_pending: bool = False
    refresh_interval: float = 5.0

    def __post_init__(self) -> None:
        self.board = Board(self.data)
        self.utf8 = utf8_locale()
        # KALIPSO_TRACE=FILE: one JSON line per key (handling + drawing time, Redis round
        # trips) and one at exit (peak memory), for benchmarks/bench_board.py
        trace = os.environ.get("KALIPSO_TRACE")
        self.trace = open(trace, "a", encoding="utf-8") if trace else None

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        with terminal() as stdscr:
            stdscr.timeout(250)
            started = time.monotonic()
            self.board.reload()
            self.refresh_interval = max(self.refresh_seconds, 10 * (time.monotonic() - started))
            last_refresh = time.monotonic()
            self.draw(stdscr)
            self.emit({"event": "first_board", "ms": (time.monotonic() - started) * 1000,
                       "round_trips": self.data.round_trips})
            while self.running:
                key = self.read_key(stdscr)
                t0, trips = time.monotonic(), self.data.round_trips
                if key is not None:
                    self.handle(key, stdscr)
                if self.refresh_seconds and time.monotonic() - last_refresh >= self.refresh_interval:
                    t_reload = time.monotonic()
                    self.board.reload()
                    # a database that takes long to read is re-read less often, so that the
                    # board stays responsive: at most a tenth of the time goes to refreshing
                    self.refresh_interval = max(self.refresh_seconds, 10 * (time.monotonic() - t_reload))
                    if self.view:
                        self.view.fetched_for = None
                    last_refresh = time.monotonic()
                elif key is None:
                    # a view loading in the background is redrawn until (and once after) it is ready
                    pending = self.view_pending()
                    if not (pending or self._was_pending):
                        continue
                    self._was_pending = pending
                self.draw(stdscr)
                if key is not None:
                    self.emit({"event": "key", "key": key, "ms": (time.monotonic() - t0) * 1000,
                               "round_trips": self.data.round_trips - trips})
        if self.trace:
            with open("/proc/self/status", encoding="ascii") as status:  # VmHWM: peak RSS since exec
                peak = int(status.read().split("VmHWM:")[1].split()[0])
            self.emit({"event": "exit", "peak_rss_kib": peak})
            self.trace.close()

    def view_pending(self) -> bool:
        v = self.view
        return bool(v and v.error is None and self.guard(lambda: v.instance.pending(v.model), False))

    def emit(self, record: dict) -> None:
        if self.trace:
            import json
            self.trace.write(json.dumps(record) + "\n")
            self.trace.flush()

    @staticmethod
    def read_key(stdscr: curses.window) -> str | None:
        try:
            key = stdscr.get_wch()
        except curses.error:
            return None
        if isinstance(key, int):
            return curses.keyname(key).decode("ascii", "replace") if key != curses.KEY_RESIZE else "KEY_RESIZE"
        return key

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
            self.show_help = False
            return
        if key == "KEY_MOUSE":
            self.handle_mouse(rows, cols)
            return
        if self.view is not None:
            if key in ("\x1b", "q"):
                self.view = None
                return
            handled = self.guard(lambda v=self.view: v.instance.handle_key(key, v.state), Handled.NO)
            if handled == Handled.REFETCH:
                self.view.fetched_for = None
            if handled != Handled.NO:
                return
        spec = self.registry.by_key(key)
        if spec is not None:
            self.open_view(spec)
            return
        command = keymap.command_for(key)
        if command == "quit":
            self.running = False
        elif command == "help":
            self.show_help = True
        elif command == "filter":
            self.prompt = self.board.filter_text
        elif command == "copy_ip":
            self.copy_ip()
        elif command == "back":
            self.view = None
        elif command and self.view is None:
            page = max(layout.main_board(rows, cols)["timeline"].h - 3, 1)
            self.board.command(command, page)

    def handle_prompt(self, key: str) -> None:
        if key in ("\n", "KEY_ENTER"):
            self.board.set_filter(self.prompt or "")
            self.prompt = None
        elif key == "\x1b":
            self.prompt = None
        elif key in ("KEY_BACKSPACE", "\x7f", "\b"):
            self.prompt = (self.prompt or "")[:-1]
            self.board.set_filter(self.prompt)
        elif len(key) == 1 and key.isprintable():
            self.prompt = (self.prompt or "") + key
            self.board.set_filter(self.prompt)

    def handle_mouse(self, rows: int, cols: int) -> None:
        try:
            _, x, y, _, _ = curses.getmouse()
        except curses.error:
            return
        if self.view is not None or layout.too_small(rows, cols):
            return
        rects = layout.main_board(rows, cols)
        tree, timeline = rects["tree"], rects["timeline"]
        try:
            if tree.contains(y, x) and y > tree.y:
                self.board.click_tree(y - tree.y - 1)
            elif timeline.contains(y, x) and y > timeline.y:
                self.board.click_timeline(y - timeline.y - 1)
        except ConnectionLost as exc:
            self.board.error = str(exc)

    def open_view(self, spec: LoadedView) -> None:
        row = self.board.current_row()
        selected = self.board.selected
        profile = selected[0] if selected else (row.ip if row else None)
        selection = Selection(profile=profile, timewindow=selected[1] if selected else None,
                              ip=self.board.focused_ip())
        instance = self.guard(spec.cls, None)
        if instance is None:
            self.board.message = f"view {spec.name} could not start (see the log)"
            return
        instance.options = {**self.options, "utf8": self.utf8}
        self.view = OpenView(spec, instance, self.guard(instance.new_state, {}) or {}, selection)

    def copy_ip(self) -> None:
        ip = self.board.focused_ip()
        if not ip:
            self.board.message = "no IP selected to copy"
            return
        copied, how = clipboard.copy(ip)
        if copied and not os.environ.get("SSH_CONNECTION"):
            self.board.message = f"copied {ip} to the clipboard"
            return
        self.pending_output = clipboard.osc52(ip)
        self.board.message = f"copied {ip} via OSC 52 ({how})"

    def guard(self, fn, default):
        """The error boundary around plugin code."""
        try:
            return fn()
        except ConnectionLost as exc:
            self.board.error = str(exc)
            return default
        except Exception as exc:
            if self.debug:
                raise
            log.exception("view %s failed", self.view.spec.name if self.view else "?")
            if self.view:
                self.view.error = f"{type(exc).__name__}: {exc}"
            else:
                self.board.message = f"view error: {type(exc).__name__}: {exc}"
            return default

    # ------------------------------------------------------------------ draw
    def draw(self, stdscr: curses.window) -> None:
        rows, cols = stdscr.getmaxyx()
        stdscr.erase()
        if layout.too_small(rows, cols):
            msg = [f"Terminal too small: {cols}x{rows}.",
                   f"Kalipso needs at least {layout.MIN_COLS}x{layout.MIN_ROWS}.", "Resize, or q to quit."]
            for i, text in enumerate(msg[: rows]):
                pane.put(stdscr, i, 0, text, cols, "warning")
            stdscr.refresh()
            return
        if self.view is not None:
            self.draw_view(stdscr, rows, cols)
        else:
            self.draw_board(stdscr, rows, cols)
        self.draw_status(stdscr, cols)
        self.draw_help_bar(stdscr, rows - 1, cols)
        if self.show_help:
            self.draw_help_overlay(stdscr, rows, cols)
        stdscr.refresh()
        if self.pending_output:
            sys.stdout.write(self.pending_output)
            sys.stdout.flush()
            self.pending_output = ""

    def draw_board(self, stdscr: curses.window, rows: int, cols: int) -> None:
        r = layout.main_board(rows, cols)
        b = self.board
        focus = b.focus
        tree, cursor = b.tree_lines(r["tree"].h - 2)
        pane.box(stdscr, r["tree"], f"Profiles ({len(b.visible_profiles())})", focus == "tree", self.utf8)
        pane.lines(stdscr, r["tree"], tree, cursor)
        pane.box(stdscr, r["ipinfo"], "IP info", False, self.utf8)
        pane.lines(stdscr, r["ipinfo"], b.ipinfo_lines())
        timeline, tl_cursor = b.timeline_lines(r["timeline"].h - 2)
        title = "Timeline"
        if b.selected:
            title += f" {b.selected[0]} {b.selected[1]}"
            if b.timeline_total:
                title += f" [{b.timeline_cursor + 1}/{b.timeline_total}]"
        pane.box(stdscr, r["timeline"], title, focus == "timeline", self.utf8)
        pane.lines(stdscr, r["timeline"], timeline, tl_cursor)
        pane.box(stdscr, r["evidence"], "Evidence", focus == "evidence", self.utf8)
        pane.lines(stdscr, r["evidence"], b.evidence_lines(r["evidence"].h - 2))

    def draw_view(self, stdscr: curses.window, rows: int, cols: int) -> None:
        v = self.view
        assert v is not None
        area = layout.view_area(rows, cols)["view"]
        size = Size(area.h - 2, area.w - 2)
        if v.error is None:
            page = self.guard(lambda: v.instance.page(v.state, size), None)
            if page is not None and v.fetched_for != page:
                v.model = self.guard(lambda: v.instance.fetch(self.data, v.selection, page), None)
                v.fetched_for = page if v.error is None else None
        content = [] if v.error else self.guard(lambda: v.instance.render(v.model, size, v.state), []) or []
        pane.box(stdscr, area, f"{v.spec.key} {v.spec.title}", True, self.utf8)
        if v.error:
            content = [line((f"The view {v.spec.name} ({v.spec.dist}) failed: {v.error}", "error")),
                       line(("Details are in the log file. Esc returns to the main board.", "dim"))]
        pane.lines(stdscr, area, content)

    def draw_status(self, stdscr: curses.window, cols: int) -> None:
        b, a = self.board, self.data.analysis
        left = (f" Kalipso  {self.data.label}  Slips {a.slips_version or '?'} ({a.schema})  "
                f"{len(b.profiles)} profiles  updated {time.strftime('%H:%M:%S', time.localtime(b.refreshed_at))} ")
        pane.put(stdscr, 0, 0, left.ljust(cols), cols, "selected")
        if self.prompt is not None:
            pane.put(stdscr, 0, len(left) + 1, f" filter: {self.prompt}_ ", cols - len(left) - 1, "key")
        elif b.error:
            pane.put(stdscr, 0, len(left) + 1, f" {b.error} ", cols - len(left) - 1, "error")
        elif b.message:
            pane.put(stdscr, 0, len(left) + 1, f" {b.message} ", cols - len(left) - 1, "title")

    def help_items(self, cols: int) -> list[tuple[str | None, str]]:
        """(key, name) items of the help bar, names shortened until every key fits."""
        taken = {v.key for v in self.registry.views}
        views = [(v.key, v.name) for v in self.registry.views]
        board = [(keymap.key_label(keymap.key_for(b, taken) or b.keys[0]), b.command)
                 for b in keymap.MAIN_BOARD if b.in_bar]
        essential = [item for item in board if item[1] in ("help", "quit")]
        levels = ([(k, n) for k, n in views] + board, [(k, n[:9]) for k, n in views] + board,
                  [(k, n[:9]) for k, n in views] + essential, [(k, "") for k, _ in views] + essential)
        for level in levels:
            items = [(None, "main")] + level
            if sum(len(k or "") + len(n) + 2 for k, n in items) <= cols:
                break
        return items

    def draw_help_bar(self, stdscr: curses.window, y: int, cols: int) -> None:
        x = 0
        current = self.view.spec.key if self.view else None
        for key, name in self.help_items(cols):
            style = "help_current" if key == current else "normal"
            if key:
                x += pane.put(stdscr, y, x, key, cols - x, "key" if style == "normal" else style)
                if name:
                    x += pane.put(stdscr, y, x, f":{name}", cols - x, style)
            else:
                x += pane.put(stdscr, y, x, name, cols - x, style)
            x += pane.put(stdscr, y, x, " ", cols - x)
            if x >= cols:
                break

    def draw_help_overlay(self, stdscr: curses.window, rows: int, cols: int) -> None:
        content = [line(("Keys of the main board", "title"))]
        taken = {v.key for v in self.registry.views}
        for b in keymap.MAIN_BOARD:
            keys = " / ".join(dict.fromkeys(keymap.key_label(k) for k in b.keys if k not in taken))
            content.append(line((f"{keys:<26}", "key"), b.help))
        content.append(line(("Hotkey views", "title")))
        for v in self.registry.views:
            content.append(line((f"{v.key:<26}", "key"), f"{v.title} ({v.name}, {v.dist})"))
        for f in self.registry.failures:
            content.append(line((f"{'!':<26}", "error"), f"{f.name} failed to load: {f.error}"))
        content.append(line(("any key closes this help", "dim")))
        h, w = min(len(content) + 2, rows - 2), min(90, cols - 4)
        rect = layout.Rect(1, (cols - w) // 2, h, w)
        pane.box(stdscr, rect, "Help", True, self.utf8)
        pane.lines(stdscr, rect, content)
