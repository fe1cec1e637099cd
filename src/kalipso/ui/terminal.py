"""The terminal: set up curses, and always restore the terminal, also on errors and signals."""

from __future__ import annotations

import curses
import locale
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kalipso.lifecycle import raise_terminated
from kalipso.ui import styles


class TerminalUnusable(Exception):
    """The terminal cannot show the board (TERM unset, unknown, or without cursor addressing)."""


# the locales Python's start-up puts into LC_CTYPE when it replaces a C/POSIX one (PEP 538)
_COERCION_TARGETS = ("C.UTF-8", "C.utf8", "UTF-8")
_OTHER_CATEGORIES = tuple(getattr(locale, name) for name in (
    "LC_COLLATE", "LC_TIME", "LC_NUMERIC", "LC_MONETARY", "LC_MESSAGES") if hasattr(locale, name))


def utf8_locale() -> bool:
    """The character set of the current LC_CTYPE is UTF-8 (so the board may draw non-ASCII glyphs)."""
    try:
        codeset = locale.nl_langinfo(locale.CODESET)
    except (AttributeError, ValueError):  # no nl_langinfo on this platform
        codeset = locale.getlocale()[1] or ""
    return codeset.upper().replace("-", "") == "UTF8"


def _coerced() -> bool:
    """Python's start-up replaced a C/POSIX (or uninstalled) LC_CTYPE by C.UTF-8 in the environment.

    That happens when LC_ALL is unset and the start-up LC_CTYPE locale was C; it also turns on
    UTF-8 mode, which a user-chosen LC_CTYPE=C.UTF-8 does not. The user's own setting (e.g.
    LANG=C) says the terminal is not UTF-8, and it is the one to honour.
    """
    env = os.environ
    return (bool(sys.flags.utf8_mode) and env.get("PYTHONUTF8") is None and "utf8" not in sys._xoptions
            and not env.get("LC_ALL") and env.get("LC_CTYPE") in _COERCION_TARGETS)


def _requested_ctype() -> str:
    """The LC_CTYPE locale name the user's environment asks for ("" = as the environment says)."""
    if not _coerced():
        return ""
    return os.environ.get("LANG") or "C"


def _names_utf8(name: str) -> bool:
    return "UTF8" in name.upper().replace("-", "")


def _set_first(category: int, *names: str) -> None:
    for name in names:
        try:
            locale.setlocale(category, name)
            return
        except locale.Error:
            continue


def ensure_locale() -> bool:
    """Set the user's locale, falling back where it is not installed; True when it is UTF-8.

    `LC_ALL=en_US.UTF-8` forwarded by SSH to a box that only has C.UTF-8 makes
    `setlocale(LC_ALL, "")` fail ("unsupported locale setting"): each category then falls back on
    its own, LC_CTYPE to C.UTF-8 when the requested locale names UTF-8 (the terminal speaks it),
    else to C. Safe to call more than once.
    """
    try:
        locale.setlocale(locale.LC_ALL, "")
    except locale.Error:
        for category in _OTHER_CATEGORIES:
            _set_first(category, "", "C")
    requested = _requested_ctype()
    wanted = requested or os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or "C"
    fallbacks = ("C.UTF-8", "C.utf8", "C") if _names_utf8(wanted) else ("C",)
    _set_first(locale.LC_CTYPE, requested, *fallbacks)
    return utf8_locale()


def check_terminal() -> None:
    """Raise TerminalUnusable (one line) unless $TERM names a terminal that can address the cursor.

    Runs before curses starts, so an unset or unknown TERM is a clear message instead of a
    setupterm error, and TERM=dumb is refused instead of drawing the board on one line.
    """
    term = os.environ.get("TERM", "")
    if not term:
        raise TerminalUnusable("TERM is not set, so the board cannot draw; set it to your terminal's type "
                               "(e.g. TERM=xterm-256color), or use 'kalipso export' for text output")
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        fd = -1
    try:
        curses.setupterm(term, fd)
    except curses.error:
        raise TerminalUnusable(f"unknown terminal type TERM={term} (no terminfo entry); set TERM to a known "
                               "type (e.g. TERM=xterm-256color), or use 'kalipso export' for text output") from None
    if not curses.tigetstr("cup") or curses.tigetflag("hc") > 0 or curses.tigetflag("gn") > 0:
        raise TerminalUnusable(f"the terminal TERM={term} cannot move the cursor, which the board needs; use a "
                               "full-screen terminal (e.g. TERM=xterm-256color), or 'kalipso export' for text output")


@contextmanager
def terminal() -> Iterator[curses.window]:
    ensure_locale()
    # Esc reacts within 0.1 s instead of a second, while an arrow key whose bytes arrive apart
    # (over SSH, or on a loaded machine) still reads as one key, not Esc and two letters
    os.environ.setdefault("ESCDELAY", "100")
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
        # the release is in the mask too: ncurses can block in get_wch, whatever the timeout,
        # after reading a mouse event that the mask filters out (seen with X10 press + release)
        curses.mousemask(curses.BUTTON1_CLICKED | curses.BUTTON1_PRESSED | curses.BUTTON1_RELEASED)
        curses.mouseinterval(0)
        styles.init()
        yield stdscr
    finally:
        # after SIGHUP the terminal is gone and each of these returns ERR: restore what can be
        # restored, and let the exit go on (a curses.error here was logged as an internal error)
        for step in (lambda: stdscr.keypad(False), curses.nocbreak, curses.echo, curses.endwin):
            try:
                step()
            except curses.error:
                pass
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def resize_wakeup(wake_write_fd: int) -> Iterator[Callable[[], bool]]:
    """While the board runs: a resize wakes its wait at once. Yields ``resized()``, which says
    (once) that the terminal changed size, after resizing curses to it.

    ncurses' own SIGWINCH handler only sets a flag for its next get_wch, and the board's wait
    (poll on the keyboard and the loader's pipe) is resumed after a signal: a resize showed only
    at the next wake-up, up to 250 ms later. A Python handler with the loader's pipe as wake-up
    fd ends the wait; the board then resizes curses itself (what ncurses' handler leads to)."""
    flag = {"resized": False}

    def on_resize(_signum: int, _frame: object) -> None:
        flag["resized"] = True

    def resized() -> bool:
        if not flag["resized"]:
            return False
        flag["resized"] = False
        try:
            size = os.get_terminal_size(sys.__stdout__.fileno())
            curses.resizeterm(size.lines, size.columns)
        except (OSError, ValueError, AttributeError, curses.error):
            pass
        return True

    try:
        previous_fd = signal.set_wakeup_fd(wake_write_fd, warn_on_full_buffer=False)
        previous = signal.signal(signal.SIGWINCH, on_resize)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGWINCH here
        yield lambda: False
        return
    try:
        yield resized
    finally:
        signal.signal(signal.SIGWINCH, previous if previous is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(previous_fd)


def wait_for_input(wake_fd: int, seconds: float) -> bool:
    """Wait until a key is typed, ``wake_fd`` is readable (the loader has results) or
    ``seconds`` have passed; True when the keyboard is what woke us (or its end of file).

    A resize ends the wait through ``wake_fd`` (see resize_wakeup). If polling itself fails,
    this sleeps for ``seconds`` instead of returning at once, so the board cannot spin."""
    import select

    try:
        keyboard = sys.stdin.fileno()
        poller = select.poll()
        poller.register(keyboard, select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        ready = poller.poll(max(int(seconds * 1000), 0))
    except (OSError, ValueError):
        time.sleep(seconds)
        return True  # the caller's read finds out what is wrong with the terminal
    return any(fd == keyboard for fd, _ in ready)


def terminal_gone() -> bool:
    """True when the terminal has gone away (its pty closed without a SIGHUP reaching us): input
    then reads as end-of-file at once. A byte that is really there is given back to curses."""
    import select

    fd = sys.stdin.fileno()
    try:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return False
        data = os.read(fd, 1)
    except (OSError, ValueError):
        return True
    if not data:
        return True
    curses.ungetch(data[0])
    return False
