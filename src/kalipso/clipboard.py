"""Copy a string to the analyst's clipboard: pyperclip where a clipboard exists, else OSC 52.

Over SSH on a headless sensor box pyperclip has no clipboard; the OSC 52 escape sequence asks
the analyst's own terminal to set its clipboard instead. The UI writes that sequence.
"""

from __future__ import annotations

import base64
import contextlib
import os


def osc52(text: str) -> str:
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    seq = f"\x1b]52;c;{payload}\x07"
    # tmux takes a plain OSC 52 itself (set -g set-clipboard on) and forwards it to the outer
    # terminal; its passthrough wrapper would need allow-passthrough. GNU screen needs a DCS.
    if os.environ.get("TERM", "").startswith("screen") and not os.environ.get("TMUX"):
        return f"\x1bP{seq}\x1b\\"
    return seq


def copy(text: str) -> tuple[bool, str]:
    """Try the system clipboard. Returns (copied, how or why not)."""
    if os.environ.get("KALIPSO_CLIPBOARD") == "osc52" or not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no local clipboard"
    try:
        import pyperclip
    except ImportError:
        return False, "pyperclip is not installed"
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    try:
        os.dup2(devnull, 2)  # xclip's "Can't open display" must not garble the screen
        pyperclip.copy(text)
        return True, "clipboard"
    except Exception as exc:  # pyperclip.PyperclipException and friends
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        with contextlib.suppress(OSError):
            os.close(devnull)
