"""Semantic style names -> curses attributes, in one place. NO_COLOR and monochrome aware."""

from __future__ import annotations

import curses
import os

# name: (foreground, attribute added in colour, attribute used without colour)
_SPEC = {
    "normal": (-1, 0, 0),
    "title": (curses.COLOR_CYAN, curses.A_BOLD, curses.A_BOLD),
    "header": (curses.COLOR_BLUE, curses.A_BOLD, curses.A_UNDERLINE),
    "dim": (-1, curses.A_DIM, curses.A_DIM),
    "selected": (-1, curses.A_REVERSE, curses.A_REVERSE),
    "malicious": (curses.COLOR_RED, curses.A_BOLD, curses.A_BOLD),
    "warning": (curses.COLOR_YELLOW, 0, curses.A_UNDERLINE),
    "critical": (curses.COLOR_RED, curses.A_BOLD, curses.A_BOLD | curses.A_UNDERLINE),
    "ok": (curses.COLOR_GREEN, 0, 0),
    "error": (curses.COLOR_RED, curses.A_REVERSE, curses.A_REVERSE),
    "ip": (curses.COLOR_CYAN, 0, 0),
    "port": (curses.COLOR_YELLOW, curses.A_BOLD, curses.A_BOLD),
    "domain": (curses.COLOR_MAGENTA, 0, 0),
    "number": (curses.COLOR_GREEN, 0, 0),
    "bar": (curses.COLOR_GREEN, 0, 0),
    "bar_alt": (curses.COLOR_YELLOW, 0, 0),
    "key": (curses.COLOR_YELLOW, curses.A_BOLD, curses.A_BOLD),
    "border": (curses.COLOR_BLUE, 0, 0),
    "border_focus": (curses.COLOR_MAGENTA, curses.A_BOLD, curses.A_BOLD),
    "help_current": (curses.COLOR_RED, curses.A_REVERSE, curses.A_REVERSE),
}

_attrs: dict[str, int] = {}


def use_colour() -> bool:
    return not os.environ.get("NO_COLOR") and curses.has_colors()


def init() -> None:
    """Called once after initscr. Without colours every style is a plain attribute."""
    colour = use_colour()
    if colour:
        curses.start_color()
        try:
            curses.use_default_colors()
        except curses.error:
            pass
    for i, (name, (fg, attr, mono)) in enumerate(_SPEC.items(), start=1):
        if colour and fg != -1 and i < curses.COLOR_PAIRS:
            curses.init_pair(i, fg, -1)
            _attrs[name] = curses.color_pair(i) | attr
        else:
            _attrs[name] = attr if colour else mono


def attr(name: str) -> int:
    return _attrs.get(name, 0)
