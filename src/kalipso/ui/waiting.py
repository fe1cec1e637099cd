"""A waiting screen: Kalipso started before Slips wrote anything. It tries again every second
(in a thread, so a paused Redis does not freeze it) until the database holds an analysis."""

from __future__ import annotations

import curses
import threading
import time
from collections.abc import Callable
from typing import Any

from kalipso.ui import pane
from kalipso.ui.terminal import terminal, terminal_gone


def wait_for(title: str, attempt: Callable[[], Any], interval: float = 1.0) -> Any:
    """The first value ``attempt()`` returns that is not None; None when the user quits (q).

    ``attempt`` raises to say "not yet"; its message is shown under the title."""
    found: dict[str, Any] = {"value": None, "why": "", "running": False}

    def run() -> None:
        try:
            found["value"] = attempt()
        except Exception as exc:  # not there yet: say why, and try again
            found["why"] = str(exc)
        finally:
            found["running"] = False

    last = 0.0
    with terminal() as stdscr:
        stdscr.timeout(100)
        while found["value"] is None:
            if not found["running"] and time.monotonic() - last >= interval:
                last, found["running"] = time.monotonic(), True
                threading.Thread(target=run, name="kalipso-wait", daemon=True).start()
            rows, cols = stdscr.getmaxyx()
            stdscr.erase()
            lines = [(title, "title"), ("", "normal"), (found["why"], "dim"), ("", "normal"),
                     ("The board opens by itself when Slips has written its first data. q quits.", "dim")]
            for i, (text, style) in enumerate(lines[: rows]):
                pane.put(stdscr, i + 1, 2, text, cols - 4, style)
            stdscr.refresh()
            asked = time.monotonic()
            try:
                key = stdscr.get_wch()
            except curses.error:
                if time.monotonic() - asked < 0.002 and terminal_gone():
                    return None  # the terminal went away: nobody is waiting any more
                continue
            if key in ("q", "\x1b"):
                return None
    return found["value"]
