"""What each pane of the main board shows, from the board's state: its title, lines, cursor
and state. Pure, no curses: the app hands a PaneView to the widgets, and tests read it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kalipso import boardlines
from kalipso.board import Board, scroll_window
from kalipso.loader import EMPTY, LOADING, LOST, READY
from kalipso.text import sanitize
from kalipso.views.base import Line, line


@dataclass(frozen=True)
class PaneView:
    title: str
    content: list[Line] = field(default_factory=list)
    cursor: int | None = None
    status: str = READY
    reason: str = ""
    focused: bool = False


def tree(b: Board, glyphs: dict[str, str], now: float) -> PaneView:
    content = [boardlines.tree_line(b, row, glyphs, now) for row in b.visible_rows()]
    p = b.panes["tree"]
    status, reason = p.status, p.reason
    if status == READY and not b.rows():
        content = [line((f"no profile matches the filter '{b.filter_text}'", "dim"))]
    title = f"Profiles ({len(b.shown_profiles()):,})" if b.names is not None else "Profiles"
    if b.filter_text:
        title += f" /{b.filter_text}" + (" filtering…" if b.filtering else "")
    if b.names is not None and b.facts is None and not b.facts_problem:
        title += " marks loading…"
    if b.lost:
        status, reason = LOST, b.lost
    return PaneView(title, content, b.tree_cursor - b.tree_top, status, reason, b.focus == "tree")


def ipinfo(b: Board) -> PaneView:
    p = b.panes["ipinfo"]
    if b.ip_info is not None and b.ip_info.ip != b.focused_ip() and p.status != LOST:
        return PaneView("IP info", [], None, LOADING)  # the info of the IP just left is not shown
    return PaneView("IP info", boardlines.ipinfo_lines(b), None, p.status, p.reason)


def timeline(b: Board, glyphs: dict[str, str], width: int) -> PaneView:
    h = max(b.timeline_height, 0)
    if b.collapse:
        content = [boardlines.run_line(run, glyphs) for run in b.timeline_runs[b.timeline_top: b.timeline_top + h]]
    else:
        first = b.timeline_top - b.timeline_offset
        entries = b.timeline[first: first + h] if first >= 0 else ()
        content = [boardlines.timeline_line(e, glyphs) for e in entries]
    b.hscroll["timeline"] = clamp_scroll(b.hscroll["timeline"], content, width)
    content = [shift(ln, b.hscroll["timeline"]) for ln in content]
    p = b.panes["timeline"]
    status, reason = p.status, p.reason
    if status == READY and b.timeline_total and not content:
        status = LOADING  # scrolled past the lines held: the next page is on its way
    title = "Timeline"
    if b.selected:
        title += f" {b.selected[0]} {b.selected[1]}"
        if b.timeline_total:
            title += f" [{b.timeline_cursor + 1}/{b.timeline_total}]"
            if b.collapse and b.timeline_lines != b.timeline_total:
                title += f" ({b.timeline_lines:,} lines" + (
                    f", first {len(b.timeline):,} folded)" if b.timeline_lines > len(b.timeline) else ")")
    cursor = b.timeline_cursor - b.timeline_top if b.focus == "timeline" and content else None
    return PaneView(title, content, cursor, status, reason, b.focus == "timeline")


def evidence(b: Board, glyphs: dict[str, str], width: int) -> PaneView:
    content: list[Line] = []
    rows = b.evidence_items()
    if b.selected and rows:
        b.evidence_top = scroll_window(b.evidence_cursor, b.evidence_top, b.evidence_height, len(rows))
        body = [boardlines.evidence_row(kind, obj, depth, b.evidence_key(kind, obj) in b.evidence_open, glyphs)
                for kind, obj, depth in rows[b.evidence_top: b.evidence_top + b.evidence_height]]
        b.hscroll["evidence"] = clamp_scroll(b.hscroll["evidence"], body, width)
        content = [boardlines.evidence_head(b)] + [shift(ln, b.hscroll["evidence"]) for ln in body]
    cursor = 1 + b.evidence_cursor - b.evidence_top if b.focus == "evidence" and content else None
    p = b.panes["evidence"]
    status, reason = (p.status, p.reason) if b.selected else (EMPTY, "")
    return PaneView("Evidence", content, cursor, status, reason, b.focus == "evidence")


def clamp_scroll(offset: int, content: list[Line], width: int) -> int:
    """Horizontal scroll stops where the longest line's end reaches the pane's right edge."""
    longest = max((sum(len(sanitize(s.text)) for s in ln) for ln in content), default=0)
    return max(0, min(offset, longest - width))


def shift(ln: Line, columns: int) -> Line:
    """The line scrolled ``columns`` characters to the left (horizontal scrolling).

    Texts are sanitised before they are cut: a cut inside an escape sequence would leave its
    payload for the write path to show as plain text."""
    if columns <= 0:
        return ln
    out, skip = [], columns
    for seg in ln:
        text = sanitize(seg.text)
        if skip >= len(text):
            skip -= len(text)
            continue
        out.append(type(seg)(text[skip:], seg.style))
        skip = 0
    return tuple(out)
