"""Making untrusted Slips strings safe to draw, and small formatting helpers.

Everything Slips stores is derived from network traffic (domains, user agents, host names,
URIs), so any of it may carry terminal escape sequences, control characters or bidi
overrides. ``sanitize`` is applied on every path that puts such a string on a terminal.
"""

from __future__ import annotations

import re
import time

# C0 controls, DEL, C1 controls (which include the 8-bit CSI/OSC introducers),
# bidi embeddings/overrides/isolates and the invisible directional marks.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
# A whole escape sequence is dropped, not just its ESC, so "\x1b[31m" leaves no "[31m".
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|.?)"
)


def sanitize(value: object, max_len: int = 4096) -> str:
    """Return ``value`` as one printable line: escape sequences and controls removed.

    Tabs become a space; the result is cut to ``max_len`` characters with an ellipsis.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_len * 4:
        text = text[: max_len * 4]
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\t", " ")
    text = _UNSAFE.sub("", text)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return text


def human_bytes(n: float | int | None) -> str:
    """1536 -> '1.5 KiB'; None -> '-'."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - loop always returns


def format_ts(ts: float | None, fmt: str = "%Y/%m/%d %H:%M:%S") -> str:
    """Format an epoch timestamp in local time; '-' when unknown or out of range."""
    if ts is None:
        return "-"
    try:
        return time.strftime(fmt, time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        return "-"
