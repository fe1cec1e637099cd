"""The one clipped write path. Every string is sanitised here; curses.error is handled here."""

from __future__ import annotations

import curses

from kalipso import text as txt
from kalipso.ui import styles
from kalipso.ui.layout import Rect
from kalipso.views.base import Line

ASCII_BOX = {"h": "-", "v": "|", "tl": "+", "tr": "+", "bl": "+", "br": "+"}
UTF8_BOX = {"h": "─", "v": "│", "tl": "┌", "tr": "┐", "bl": "└", "br": "┘"}

_ascii_only = False  # a terminal whose locale is not UTF-8 gets ASCII for every glyph


def use_ascii(flag: bool) -> None:
    global _ascii_only
    _ascii_only = flag


def put(win: curses.window, y: int, x: int, text: str, width: int, style: str | int = "normal") -> int:
    """Write sanitised ``text`` at (y, x), at most ``width`` cells. Returns the cells used."""
    if width <= 0:
        return 0
    text = txt.fit(text, width)  # sanitises: no escape sequence or control reaches the terminal
    if _ascii_only:
        text = txt.fit(txt.ascii_fallback(text), width)
    attr = styles.attr(style) if isinstance(style, str) else style
    try:
        win.addstr(y, x, text, attr)
    except curses.error:
        pass  # writing the bottom-right cell raises after drawing it; nothing to do
    return txt.cell_width(text)


def put_line(win: curses.window, y: int, x: int, line: Line, width: int, extra_attr: int = 0) -> None:
    """Draw a Line of segments, clipped to ``width``, padding the rest with the line's attr."""
    used = 0
    for seg in line:
        if used >= width:
            break
        used += put(win, y, x + used, seg.text, width - used, styles.attr(seg.style) | extra_attr)
    if extra_attr and used < width:
        put(win, y, x + used, " " * (width - used), width - used, extra_attr)


def box(win: curses.window, rect: Rect, title: str, focused: bool, utf8: bool) -> None:
    """A border with a title; the focused pane's border is bold and coloured differently."""
    if rect.h < 2 or rect.w < 2:
        return
    g = UTF8_BOX if utf8 else ASCII_BOX
    style = "border_focus" if focused else "border"
    put(win, rect.y, rect.x, g["tl"] + g["h"] * (rect.w - 2) + g["tr"], rect.w, style)
    for row in range(rect.y + 1, rect.y + rect.h - 1):
        put(win, row, rect.x, g["v"], 1, style)
        put(win, row, rect.x + rect.w - 1, g["v"], 1, style)
    put(win, rect.y + rect.h - 1, rect.x, g["bl"] + g["h"] * (rect.w - 2) + g["br"], rect.w, style)
    label = f" {'▶ ' if focused and utf8 else '> ' if focused else ''}{title} "
    put(win, rect.y, rect.x + 2, label, rect.w - 4, "border_focus" if focused else "title")


def lines(win: curses.window, rect: Rect, content: list[Line], selected: int | None = None) -> None:
    """Draw lines inside a boxed rect (one cell of border on each side)."""
    inner_w = rect.w - 2
    for i in range(rect.h - 2):
        y = rect.y + 1 + i
        put(win, y, rect.x + 1, " " * inner_w, inner_w)
        if i < len(content):
            put_line(win, y, rect.x + 1, content[i], inner_w,
                     styles.attr("selected") if selected == i else 0)
