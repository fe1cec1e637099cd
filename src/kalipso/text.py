"""Making untrusted Slips strings safe to draw, and small formatting helpers.

Everything Slips stores is derived from network traffic (domains, user agents, host names,
URIs), so any of it may carry terminal escape sequences, control characters or bidi
overrides. ``sanitize`` is applied on every path that puts such a string on a terminal.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from collections.abc import Iterator

# C0 controls, DEL, C1 controls (which include the 8-bit CSI/OSC introducers),
# bidi embeddings/overrides/isolates and the invisible directional marks.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
# Joiners and modifiers that make one glyph of several code points. Terminals disagree on how
# wide such a glyph is (curses adds up the code points, tmux joins them), so a line holding one
# shifts every border after it: they are dropped, and each emoji stays a glyph of its own.
# Zero-width spaces, word joiner, variation selectors, skin-tone modifiers, tag characters.
_JOINERS = re.compile("[\u200b-\u200d\u2060\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0000-\U000e007f]")
# Regional indicators (two make a flag, drawn 1, 2 or 4 cells wide): their ASCII letters.
_REGIONAL = {cp: chr(ord("A") + cp - 0x1F1E6) for cp in range(0x1F1E6, 0x1F200)}
# A whole escape sequence is dropped, not just its ESC, so "\x1b[31m" leaves no "[31m".
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|.?)"
    # the same introducers as 8-bit C1 characters: CSI, OSC, and DCS/SOS/PM/APC strings
    r"|\x9b[0-?]*[ -/]*[@-~]?|\x9d[^\x07\x9c\x1b]*(?:\x07|\x9c|\x1b\\)?|[\x90\x98\x9e\x9f][^\x9c\x1b]*(?:\x9c|\x1b\\)?"
)


def sanitize(value: object, max_len: int = 4096) -> str:
    """Return ``value`` as one printable line: escape sequences and controls removed.

    Tabs become a space; joiners and modifiers that fuse several emoji into one glyph are
    dropped (terminals disagree on its width); the result is cut to ``max_len`` characters with
    an ellipsis.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_len * 4:
        text = text[: max_len * 4]
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\t", " ")
    text = _UNSAFE.sub("", text)
    if not text.isascii():
        text = _JOINERS.sub("", text).translate(_REGIONAL)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return text


# format characters that are drawn: the soft hyphen and the prepended concatenation marks
_SPACING_FORMAT = frozenset("\u00ad\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2"
                            "\U000110bd\U000110cd")


@functools.lru_cache(maxsize=8192)
def char_width(ch: str) -> int:
    """Terminal cells of one code point, by the rules of the C library's wcwidth (which tmux
    and ncurses use): combining marks, enclosing marks, format characters and Hangul medial
    and final jamo 0; East Asian wide and full-width characters 2 (CJK, and emoji with emoji
    presentation: they are wide since Unicode 9); everything else 1. From the standard
    library's Unicode database, so no table to install and nothing to import at start."""
    if "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff":
        return 0
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 1 if ch in _SPACING_FORMAT else 0
    if "\u3248" <= ch <= "\u324f" or "\u4dc0" <= ch <= "\u4dff":  # circled numbers, hexagrams
        return 2
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _graphemes(text: str) -> Iterator[str]:
    """Grapheme clusters as far as a terminal draws them: a base character with its zero-width
    followers (combining marks, variation selectors), joined through ZWJ. ``sanitize`` removes
    joiners before text is measured or cut, so there each emoji is a glyph of its own."""
    cluster = ""
    joined = False
    for ch in text:
        if cluster and (joined or ch == "\u200d" or char_width(ch) == 0):
            cluster += ch
            joined = ch == "\u200d"
            continue
        if cluster:
            yield cluster
        cluster, joined = ch, False
    if cluster:
        yield cluster


@functools.lru_cache(maxsize=4096)
def _grapheme_width(cluster: str) -> int:
    if cluster.isascii():
        return len(cluster)
    return sum(map(char_width, cluster))


def cell_width(text: str) -> int:
    """Terminal cells that ``text`` takes once sanitised: zero-width characters 0, wide 2,
    an emoji sequence as one glyph; escape sequences and controls 0 (they are never drawn)."""
    if text.isascii() and text.isprintable():
        return len(text)
    safe = sanitize(text, max_len=len(text) + 1)
    return sum(map(_grapheme_width, _graphemes(safe)))


def fit(text: str, width: int) -> str:
    """``text`` sanitised and cut to at most ``width`` cells. A grapheme (a base character with
    its combining marks, an emoji sequence) is kept whole or left out, never split; a wide
    character that does not fit in the last cell is left out. No padding, no ellipsis."""
    if width <= 0:
        return ""
    if text.isascii() and text.isprintable():
        return text[:width]
    out, used = [], 0
    room = width * 8 + 64  # more characters than ``width`` cells can show, zero-width ones too
    for cluster in _graphemes(sanitize(text[:room], max_len=room + 1)):
        w = _grapheme_width(cluster)
        if used + w > width:
            break
        out.append(cluster)
        used += w
    return "".join(out)


def pad(text: str, width: int) -> str:
    """``fit`` to ``width`` cells, then padded with spaces to exactly ``width`` cells."""
    cut = fit(text, width)
    return cut + " " * (width - cell_width(cut))


# The non-ASCII glyphs Kalipso draws, for terminals whose locale is not UTF-8.
_ASCII = {"\u2191": "^", "\u2193": "v", "\u2190": "<", "\u2192": ">", "\u25cf": "*", "\u2022": "*",
          "\u25b6": ">", "\u25b8": ">", "\u25c0": "<", "\u25b2": "^", "\u25bc": "v", "\u25cb": "o",
          "\u2026": "...", "\u00d7": "x", "\u2013": "-", "\u2014": "-", "\u00b7": ".", "\u00a0": " ",
          "\u2713": "v", "\u2717": "x", "\u00b0": "o"}


def _ascii_glyph(ch: str) -> str:
    code = ord(ch)
    if ch in _ASCII:
        return _ASCII[ch]
    if 0x2580 <= code <= 0x259F:  # block elements: the bars of histograms and meters
        return "#"
    if 0x2800 <= code <= 0x28FF:  # braille canvas: by how many of its 8 dots are set
        dots = bin(code - 0x2800).count("1")
        return " " if dots == 0 else "." if dots <= 3 else "#"
    if 0x2500 <= code <= 0x257F:  # box drawing
        name = unicodedata.name(ch, "")
        if "HORIZONTAL" in name and "VERTICAL" not in name or "DASH" in name and "VERTICAL" not in name:
            return "-"
        if "VERTICAL" in name and "HORIZONTAL" not in name and "RIGHT" not in name and "LEFT" not in name:
            return "|"
        return "+"
    return "?"


def ascii_fallback(text: str) -> str:
    """Every non-ASCII glyph as ASCII, for a terminal whose locale is not UTF-8: bars '#',
    arrows ^ v < >, '●' '*', '▶' '>', '…' '...', box drawing - | +, braille '.'/'#' by its
    dots (blank braille a space), any other grapheme (CJK, emoji sequences) one '?'."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else _ascii_grapheme(c) for c in _graphemes(text))


def _ascii_grapheme(cluster: str) -> str:
    """One glyph as ASCII: the UI's own glyphs by the table; a letter with marks as the letter
    ('é' -> 'e'); anything else one '?'."""
    glyph = _ascii_glyph(cluster[0])
    if glyph != "?":
        return glyph
    plain = unicodedata.normalize("NFKD", cluster).encode("ascii", "ignore").decode("ascii")
    return plain if plain.isprintable() and plain else "?"


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
