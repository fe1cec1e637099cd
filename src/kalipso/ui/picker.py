"""A small curses list shown before the board: choose one of several Slips instances or files."""

from __future__ import annotations

import curses

from kalipso.ui import pane
from kalipso.ui.layout import Rect
from kalipso.ui.terminal import terminal, utf8_locale
from kalipso.views.base import line


def pick(title: str, rows: list[str], selectable: list[bool], header: str | None = None) -> int | None:
    """Index of the row chosen with Enter, or None on q/Esc. Unselectable rows are shown dim.

    ``header``: a column-title line shown above the rows (``discover.HEADER`` for rows made by
    ``discover.describe``)."""
    first = next((i for i, ok in enumerate(selectable) if ok), None)
    if first is None:
        return None
    cursor = first
    with terminal() as stdscr:
        utf8 = utf8_locale()
        while True:
            h, w = stdscr.getmaxyx()
            stdscr.erase()
            top = [line(("Enter opens, q quits. Stale instances do not answer on their port.", "dim"))]
            if header:
                top.append(line((header, "dim")))
            rect = Rect(0, 0, min(len(rows) + len(top) + 3, h), w)
            pane.box(stdscr, rect, title, True, utf8)
            room = max(rect.h - 2 - len(top), 1)  # rows that fit: scroll to keep the cursor in view
            top_row = max(0, cursor - room + 1)
            content = top + [line((text, "normal" if ok else "dim"))
                             for text, ok in zip(rows[top_row:], selectable[top_row:], strict=True)]
            pane.lines(stdscr, rect, content, cursor - top_row + len(top))
            stdscr.refresh()
            try:
                key = stdscr.get_wch()
            except curses.error:
                continue
            if key in ("q", "\x1b"):
                return None
            if key in ("\n", curses.KEY_ENTER):
                return cursor
            step = {curses.KEY_DOWN: 1, "j": 1, curses.KEY_UP: -1, "k": -1}.get(key, 0)
            candidate = cursor + step
            while 0 <= candidate < len(rows) and not selectable[candidate]:
                candidate += step
            if step and 0 <= candidate < len(rows):
                cursor = candidate
