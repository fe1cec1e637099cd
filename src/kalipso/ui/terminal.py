"""The terminal: set up curses, and always restore the terminal, also on errors and signals."""

from __future__ import annotations

import curses
import locale
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from kalipso.lifecycle import raise_terminated
from kalipso.ui import styles


def utf8_locale() -> bool:
    return "UTF-8" in (locale.getlocale()[1] or "").upper().replace("UTF8", "UTF-8")


@contextmanager
def terminal() -> Iterator[curses.window]:
    locale.setlocale(locale.LC_ALL, "")
    os.environ.setdefault("ESCDELAY", "25")  # Esc reacts at once instead of after a second
    old = {s: signal.signal(s, raise_terminated) for s in (signal.SIGTERM, signal.SIGHUP)}
    stdscr = curses.initscr()
    try:
        curses.noecho()
        curses.cbreak()
        stdscr.keypad(True)
        try:
            curses.curs_set(0)
        except curses.error:
            pass
        curses.mousemask(curses.BUTTON1_CLICKED | curses.BUTTON1_PRESSED)
        curses.mouseinterval(0)
        styles.init()
        yield stdscr
    finally:
        stdscr.keypad(False)
        curses.nocbreak()
        curses.echo()
        curses.endwin()
        for sig, handler in old.items():
            signal.signal(sig, handler)
