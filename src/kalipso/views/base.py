"""The view contract for hotkey views (entry-point group ``kalipso.views``).

A view is a class with four attributes checked when it loads -- ``name`` (equal to its entry
point's name), ``key`` (one printable character), ``title`` and ``api_version`` -- and three
methods that the core calls inside one error boundary:

* ``fetch(data, selection, page)``: the only place that reads data, through the SlipsData
  API; returns any model object. ``page`` is the visible slice, so huge tables are never
  loaded whole when the data allows paging.
* ``render(model, size, state)``: pure. Returns lines of (text, style) segments; never curses.
* ``handle_key(key, state)``: optional. Returns ``Handled.REDRAW`` to re-render,
  ``Handled.REFETCH`` to fetch again (e.g. a new page), or ``Handled.NO`` to pass the key on.

``fetch`` runs in the loader thread, never on the UI thread: it may take seconds, and the view
shows "loading…" meanwhile (Esc works at once). It must only read through ``data`` and must not
touch ``state``. A data problem it meets (lost connection, a key of an unexpected type) is shown
as a state of the view, not as a failure of the view. ``keys`` declares the view's own keys as
data, so the help overlay lists them.

Views never import curses or redis: data comes in through ``data`` and lines go out.
"""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

API_VERSION = 1
SUPPORTED_API_VERSIONS = (1,)

# Semantic style names; the UI maps them to curses attributes (kalipso.ui.styles).
STYLES = ("normal", "title", "header", "dim", "selected", "malicious", "warning", "critical",
          "ok", "error", "ip", "port", "domain", "number", "bar", "bar_alt", "key")


@dataclass(frozen=True)
class Segment:
    """A run of text in one semantic style."""

    text: str
    style: str = "normal"


Line = tuple[Segment, ...]


def line(*parts: str | tuple[str, str] | Segment) -> Line:
    """Build a Line from strings (normal style), (text, style) pairs or Segments."""
    out = []
    for part in parts:
        if isinstance(part, Segment):
            out.append(part)
        elif isinstance(part, tuple):
            out.append(Segment(part[0], part[1]))
        else:
            out.append(Segment(part))
    return tuple(out)


def wrapped(text: str, width: int, style: str = "normal") -> list[Line]:
    """A long message as several lines of at most ``width`` characters."""
    return [line((part, style)) for part in textwrap.wrap(text, max(width, 10)) or [""]]


def wrap_cells(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` terminal cells (wide CJK counts 2), broken at
    spaces where it can be and inside long words where it must; nothing is cut off."""
    from kalipso.text import cell_width, fit, sanitize

    text = sanitize(text, max(len(text) + 1, 1))
    width = max(width, 2)
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if cell_width(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while cell_width(word) > width:  # a word longer than a line: broken by cells
            head = fit(word, width) or word[:1]
            lines.append(head)
            word = word[len(head):]
        current = word
    lines.append(current)
    return lines


def wrap_fields(fields: Sequence[tuple[str, str]], width: int, label_width: int | None = None
                ) -> list[tuple[str, str]]:
    """(label, text) pairs wrapped to ``width`` cells: the label on the first line of each
    field, padded so that the texts line up; long texts continue on more lines (label '').
    Long words (URLs, uid lists) are broken, so nothing is ever cut; wide characters count 2."""
    if not fields:
        return []
    lw = label_width if label_width is not None else min(max(len(k) for k, _ in fields), 18)
    lw = max(min(lw, width // 3), 1)
    room = max(width - lw - 2, 10)
    out: list[tuple[str, str]] = []
    for label, text in fields:
        label = label if len(label) <= lw else label[: lw - 1] + "…"
        parts: list[str] = []
        for para in str(text).splitlines() or [""]:
            parts += wrap_cells(para, room)
        for i, part in enumerate(parts):
            out.append((f"{label:<{lw}}  " if i == 0 else " " * (lw + 2), part))
    return out


def line_text(ln: Line) -> str:
    return "".join(s.text for s in ln)


@dataclass(frozen=True)
class ViewKey:
    """A key that a view handles itself, with one line of help for the ``?`` overlay."""

    key: str
    help: str


@dataclass(frozen=True)
class Selection:
    """What is selected on the main board when a view opens."""

    profile: str | None = None
    timewindow: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Size:
    rows: int
    cols: int


@dataclass(frozen=True)
class PageRequest:
    """The visible window: ``limit`` rows from ``offset``."""

    offset: int = 0
    limit: int = 100


class Handled(enum.Enum):
    NO = 0
    REDRAW = 1
    REFETCH = 2


class View:
    """Base class of hotkey views. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""
    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    api_version: ClassVar[int] = API_VERSION
    help: ClassVar[str] = ""  # one line shown in the help overlay
    keys: ClassVar[tuple[ViewKey, ...]] = ()  # the view's own keys, listed by the help overlay
    # Global options from the command line (e.g. {"letters_limit": 40}); set by the app.
    options: dict[str, Any] = {}

    def new_state(self) -> dict[str, Any]:
        """Fresh per-opening state (scroll offsets, sort order, toggles)."""
        return {"offset": 0}

    def pending(self, model: Any) -> bool:
        """True while the model is still loading in the background: the app redraws."""
        return False

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        """The slice of data the view wants for this size and state."""
        return PageRequest(offset=state.get("offset", 0), limit=max(size.rows, 1))

    def fetch(self, data: Any, selection: Selection, page: PageRequest) -> Any:
        raise NotImplementedError

    def render(self, model: Any, size: Size, state: dict[str, Any]) -> list[Line]:
        raise NotImplementedError

    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        return Handled.NO


def scroll_key(key: str, state: dict[str, Any], page_rows: int, total: int | None = None) -> Handled:
    """Common scrolling keys for views: arrows, j/k, PgUp/PgDn, Home/End (g/G)."""
    offset = state.get("offset", 0)
    step = {"KEY_DOWN": 1, "j": 1, "KEY_UP": -1, "k": -1,
            "KEY_NPAGE": page_rows, " ": page_rows, "KEY_PPAGE": -page_rows}.get(key)
    if step is not None:
        offset += step
    elif key in ("KEY_HOME", "g"):
        offset = 0
    elif key in ("KEY_END", "G"):
        offset = (total or 0) - page_rows
    else:
        return Handled.NO
    if total is not None:
        offset = min(offset, max(total - page_rows, 0))
    state["offset"] = max(offset, 0)
    return Handled.REDRAW
