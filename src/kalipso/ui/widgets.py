"""Widgets: a boxed pane with a state, a list with a cursor, a detail box, the status line, the
help bar and the prompt. They draw lines (kalipso.views.base.Line) and know nothing of Slips.

Line builders (``status_line``, ``help_items``, ``field_lines``) are pure and tested without
a terminal; the ``draw_*`` functions paint through the one write path in kalipso.ui.pane.
"""

from __future__ import annotations

import curses
import textwrap
from dataclasses import dataclass

from kalipso.text import cell_width
from kalipso.ui import pane
from kalipso.ui.layout import Rect
from kalipso.views.base import Line, line, wrap_fields

UTF8_GLYPHS = {"current": "●", "up": "↑", "down": "↓", "more": "…"}
ASCII_GLYPHS = {"current": "*", "up": "^", "down": "v", "more": "..."}

STATE_TEXT = {"loading": "loading…", "lost": "connection lost", "unavailable": "not available", "empty": ""}
STATE_STYLE = {"loading": "dim", "lost": "error", "unavailable": "warning", "empty": "dim"}


def glyphs(utf8: bool) -> dict[str, str]:
    return UTF8_GLYPHS if utf8 else ASCII_GLYPHS


# ------------------------------------------------------------------ panes
def state_lines(status: str, reason: str, width: int) -> list[Line]:
    """What a pane shows instead of (or above) its content when it is not ready."""
    text = reason or STATE_TEXT.get(status, status)
    if status == "lost":
        text = f"connection lost: {reason}" if reason else text
    elif status == "unavailable" and reason:
        text = f"not available: {reason}"
    return [line((part, STATE_STYLE.get(status, "dim"))) for part in textwrap.wrap(text, max(width, 10))[:3] or [""]]


def draw_pane(win: curses.window, rect: Rect, title: str, focused: bool, utf8: bool,
              content: list[Line], cursor: int | None = None, status: str = "ready", reason: str = "") -> None:
    """A boxed pane: its content, or its state (loading, empty, unavailable, lost).

    A pane that has content and a problem (the connection was lost after it loaded) keeps the
    content under a one-line banner, so the analyst still sees the last data."""
    pane.box(win, rect, title, focused, utf8)
    if status == "ready" or (status == "loading" and content):
        pane.lines(win, rect, content, cursor)
        return
    banner = state_lines(status, reason, rect.w - 2)
    if content and status in ("lost", "unavailable"):
        banner = banner[:1]
        cursor = cursor + 1 if cursor is not None else None
    pane.lines(win, rect, banner + (content if status != "empty" else []), cursor)



# ------------------------------------------------------------- detail box
def field_lines(fields: list[tuple[str, str]], width: int) -> list[Line]:
    """Label/value pairs as lines, every value wrapped in full to ``width`` cells."""
    return [line((label, "header"), (text, "normal")) for label, text in wrap_fields(fields, width)]


def draw_overlay(win: curses.window, rows: int, cols: int, title: str, content: list[Line], utf8: bool,
                 top: int = 0, footer: str = "") -> int:
    """A centred box over the board; returns the number of content rows it shows."""
    width = min(max(cols - 4, 20), 100)
    height = min(len(content) + 2 + (1 if footer else 0), rows - 2)
    rect = Rect(1, (cols - width) // 2, max(height, 3), width)
    pane.box(win, rect, title, True, utf8)
    body_h = rect.h - 2 - (1 if footer else 0)
    shown = content[top: top + body_h]
    if footer:
        shown = shown + [line()] * (body_h - len(shown)) + [line((footer, "dim"))]
    pane.lines(win, rect, shown)
    return body_h


# ------------------------------------------------------------ status line
@dataclass(frozen=True)
class StatusItem:
    """A part of the status line; the lowest ``priority`` goes first when space runs out."""

    text: str
    style: str = "selected"
    priority: int = 5
    elide: bool = False  # may be shortened in the middle (addresses, paths)


def elide_middle(text: str, width: int) -> str:
    if cell_width(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def status_line(items: list[StatusItem], width: int) -> Line:
    """The items that fit in ``width``, dropping the least important first and eliding the
    elidable ones in the middle before dropping them."""
    items = [i for i in items if i.text]
    sep = 2

    def total(xs: list[StatusItem]) -> int:
        return sum(cell_width(i.text) for i in xs) + sep * max(len(xs) - 1, 0)

    while total(items) > width and len(items) > 1:
        # the least important item goes first: shortened in the middle if it may be and
        # something useful remains, dropped otherwise
        over = total(items) - width
        victim = min(items, key=lambda i: i.priority)
        idx = items.index(victim)
        if victim.elide and cell_width(victim.text) - over >= 12:
            items[idx] = StatusItem(elide_middle(victim.text, cell_width(victim.text) - over), victim.style,
                                    victim.priority, False)
        else:
            items.pop(idx)
    if items and total(items) > width:
        items[-1] = StatusItem(elide_middle(items[-1].text, width), items[-1].style, items[-1].priority)
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if i:
            out.append(("  ", "selected"))
        out.append((item.text, item.style))
    return line(*out)


def draw_status(win: curses.window, y: int, cols: int, content: Line) -> None:
    pane.put(win, y, 0, " " * cols, cols, "selected")
    pane.put_line(win, y, 0, content, cols)


# --------------------------------------------------------------- help bar
def help_items(views: list[tuple[str, str]], board: list[tuple[str, str]], essential: set[str],
               width: int) -> list[tuple[str, str]]:
    """(key, name) items of the help bar: whole view names when they fit, else the keys only;
    never half a name. Then board commands are dropped from the end, the essential ones last."""

    def fits(items: list[tuple[str, str]]) -> bool:
        return sum(cell_width(k) + (cell_width(n) + 1 if n else 0) + 1 for k, n in items) <= width

    if fits(views + board):
        return views + board
    keys_only = [(k, "") for k, _ in views]
    board = list(board)
    while not fits(keys_only + board):
        optional = [i for i, (_, n) in enumerate(board) if n not in essential]
        if not optional:
            break
        board.pop(optional[-1])
    return keys_only + board


def draw_help_bar(win: curses.window, y: int, cols: int, items: list[tuple[str, str]], current: str | None) -> None:
    x = 0
    pane.put(win, y, 0, " " * cols, cols)
    for key, name in items:
        style = "help_current" if key == current else "normal"
        x += pane.put(win, y, x, key, cols - x, "key" if style == "normal" else style)
        if name:
            x += pane.put(win, y, x, f":{name}", cols - x, style)
        x += pane.put(win, y, x, " ", cols - x)
        if x >= cols:
            break


def draw_prompt(win: curses.window, y: int, cols: int, label: str, text: str, hint: str) -> None:
    """A one-line prompt, always visible: label, the typed text with a cursor, and its keys."""
    pane.put(win, y, 0, " " * cols, cols, "selected")
    x = pane.put(win, y, 0, f"{label}: ", cols, "key")
    shown = text[-max(cols - x - len(hint) - 3, 5):]
    x += pane.put(win, y, x, shown + "_", cols - x, "selected")
    if x + len(hint) + 2 <= cols:
        pane.put(win, y, cols - len(hint) - 1, hint, len(hint), "dim")
