"""Drawing the board, a view, the detail box, the status line, the help bar and ``?``:
the App's drawing methods (a mixin of ``app.App``), kept apart from its loop and dispatch.
Everything drawn goes through the widgets of ``kalipso.ui`` inside the App's error boundary.
"""

from __future__ import annotations

import curses
import sys
import time

from kalipso import boardlines, keymap, panes, triage
from kalipso.data.models import Evidence
from kalipso.loader import LOADING, LOST, READY
from kalipso.ui import layout, pane, widgets
from kalipso.views.base import Line, Size, line, wrapped

MESSAGE_SECONDS = 20.0  # how long a status message stays (a new-alert notice stays until seen)


class AppDraw:
    """Drawing methods of App (``self`` is the App)."""

    # ------------------------------------------------------------------ draw
    def view_size(self) -> Size:
        area = layout.view_area(curses.LINES, curses.COLS)["view"]
        return Size(area.h - 2, area.w - 2)

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
            self.boundary(lambda: self.draw_view(stdscr, rows, cols), None, None, "drawing the view")
        else:
            self.draw_board(stdscr, rows, cols)
        self.boundary(lambda: widgets.draw_status(stdscr, 0, cols, self.status_line(cols)), None, None,
                      "the status line")
        if self.prompt is not None:
            widgets.draw_prompt(stdscr, rows - 1, cols, "filter", self.prompt, "Enter apply  Esc cancel")
        else:
            current = self.view.spec.key if self.view else None
            self.boundary(lambda: widgets.draw_help_bar(stdscr, rows - 1, cols, self.help_items(cols), current),
                          None, None, "the help bar")
        if self.board.detail is not None:
            self.boundary(lambda: self.draw_detail(stdscr, rows, cols), None, None, "the detail box")
        if self.show_help:
            self.boundary(lambda: self.draw_help_overlay(stdscr, rows, cols), None, None, "the help")
        stdscr.refresh()
        if self.pending_output:
            sys.stdout.write(self.pending_output)
            sys.stdout.flush()
            self.pending_output = ""

    def draw_board(self, stdscr: curses.window, rows: int, cols: int) -> None:
        r = layout.main_board(rows, cols)
        b = self.board
        b.tree_height, b.timeline_height = r["tree"].h - 2, r["timeline"].h - 2
        b.evidence_height = max(r["evidence"].h - 3, 1)
        g = widgets.glyphs(self.utf8)
        now = time.monotonic()
        views = (("tree", lambda: panes.tree(b, g, now)), ("ipinfo", lambda: panes.ipinfo(b)),
                 ("timeline", lambda: panes.timeline(b, g, r["timeline"].w - 2)),
                 ("evidence", lambda: panes.evidence(b, g, r["evidence"].w - 2)))
        for name, build in views:
            self.boundary(lambda n=name, f=build: self.draw_pane(stdscr, r[n], f()), None, None, f"the {name} pane")

    def draw_pane(self, win: curses.window, rect: layout.Rect, p: panes.PaneView) -> None:
        widgets.draw_pane(win, rect, p.title, p.focused, self.utf8, p.content, p.cursor, p.status, p.reason)

    def draw_detail(self, stdscr: curses.window, rows: int, cols: int) -> None:
        b = self.board
        obj = b.detail
        width = min(max(cols - 4, 20), 100) - 2
        content = widgets.field_lines(boardlines.detail_fields(obj), width)
        footer = "Esc close  Up/Down scroll"
        if isinstance(obj, Evidence):
            footer += "  f: the flows behind it"
            if b.why_asked:
                if self.follow_why:
                    self.detail_top = len(content)
                content += boardlines.why_lines(b.why, width, widgets.glyphs(self.utf8))
        body_h = rows - 5
        self.detail_top = max(0, min(self.detail_top, len(content) - body_h))
        widgets.draw_overlay(stdscr, rows, cols, boardlines.detail_title(obj), content, self.utf8,
                             self.detail_top, footer)

    def draw_view(self, stdscr: curses.window, rows: int, cols: int) -> None:
        v = self.view
        assert v is not None
        area = layout.view_area(rows, cols)["view"]
        size = Size(area.h - 2, area.w - 2)
        title = f"{v.spec.key} {v.spec.title}"
        if v.failed:
            content = wrapped(f"The view {v.spec.name} ({v.spec.dist}) failed: {v.failed}", size.cols, "error")
            content.append(line(("Details are in the log file. Esc returns to the main board.", "dim")))
            widgets.draw_pane(stdscr, area, title, True, self.utf8, content)
            return
        content = []
        if v.model is not None or v.status == READY:
            content = self.boundary(lambda: v.instance.render(v.model, size, v.state), [], v) or []
            if v.failed:
                return self.draw_view(stdscr, rows, cols)
        status = v.status
        if self.board.lost:
            status, reason = LOST, self.board.lost
        else:
            reason = v.reason or ("loading… (Esc returns to the board)" if status == LOADING else "")
        widgets.draw_pane(stdscr, area, title, True, self.utf8, content, None,
                          READY if status == READY else status, reason)

    def status_line(self, cols: int) -> Line:
        b, a = self.board, self.data.analysis
        items = [widgets.StatusItem(" Kalipso", "selected", 5)]
        slow = self.loader.slow() if self.loader else None
        if b.lost:
            items.append(widgets.StatusItem(f"connection lost, retrying: {b.lost}", "error", 10, True))
        elif self.problem:
            items.append(widgets.StatusItem(self.problem, "error", 10, True))
        elif slow:
            items.append(widgets.StatusItem(f"Redis slow… reading {slow[0]} for {slow[1]:.0f} s", "warning", 10))
        notice = b.notice_text()
        if notice:
            items.append(widgets.StatusItem(notice, "malicious", 9, True))
        if b.message != self.shown_message:  # a message shows for MESSAGE_SECONDS
            self.shown_message, self.message_at = b.message, time.monotonic()
        if b.message and time.monotonic() - self.message_at < MESSAGE_SECONDS:
            items.append(widgets.StatusItem(b.message, "title", 8, True))
        if b.names is not None:
            n = len(b.names)
            items.append(widgets.StatusItem(f"{n:,} profile{'s' if n != 1 else ''}", "selected", 6))
        if b.names is not None and b.facts is None and not b.lost:
            items.append(widgets.StatusItem("marks loading…", "selected", 7))
        items.append(widgets.StatusItem(f"Slips {a.slips_version or '?'} ({a.schema})", "selected", 4))
        items.append(widgets.StatusItem(self.data.label, "selected", 2, True))
        if b.refreshed_at:
            when = time.strftime("%H:%M:%S", time.localtime(b.refreshed_at))
            items.append(widgets.StatusItem(f"updated {when}", "selected", 1))
        return widgets.status_line(items, cols)

    def help_items(self, cols: int) -> list[tuple[str, str]]:
        taken = {v.key for v in self.registry.views}
        views = [(v.key, v.name) for v in self.registry.views]
        board = [(keymap.key_label(keymap.key_for(b, taken) or b.keys[0]), b.bar_label)
                 for b in keymap.MAIN_BOARD if b.in_bar]
        return widgets.help_items(views, board, {"help", "quit"}, cols)

    def draw_help_overlay(self, stdscr: curses.window, rows: int, cols: int) -> None:
        width = min(max(cols - 4, 20), 100) - 2
        content: list[Line] = []

        def section(title: str, pairs: list[tuple[str, str]]) -> None:
            content.append(line((title, "title")))
            content.extend(widgets.field_lines(pairs, width))

        v = self.view
        if v is not None and v.instance is not None and getattr(v.instance, "keys", ()):
            section(f"Keys of the view {v.spec.name}", [(keymap.key_label(k.key), k.help) for k in v.instance.keys])
        taken = {v.key for v in self.registry.views}
        section("Keys of the main board", [(" / ".join(dict.fromkeys(keymap.key_label(k) for k in b.keys
                                                                        if k not in taken)), b.help)
                                           for b in keymap.MAIN_BOARD])
        section("Hotkey views", [(v.key, f"{v.title} ({v.name}, {v.dist})") for v in self.registry.views])
        if self.registry.failures:
            section("Views that failed to load", [(f.name, f.error) for f in self.registry.failures])
        section("Threat strip", [("letters", triage.STRIP_LEGEND)])
        body_h = min(len(content) + 3, rows - 2) - 3
        self.help_top = max(0, min(self.help_top, len(content) - body_h))
        widgets.draw_overlay(stdscr, rows, cols, "Help", content, self.utf8, self.help_top,
                             "Up/Down/PgDn scroll, any other key closes")
