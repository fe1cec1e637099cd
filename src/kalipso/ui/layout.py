"""Pure layout: (rows, cols) -> the rectangles of the fixed panes. No curses here."""

from __future__ import annotations

from dataclasses import dataclass

MIN_ROWS, MIN_COLS = 20, 70


@dataclass(frozen=True)
class Rect:
    y: int
    x: int
    h: int
    w: int

    def contains(self, y: int, x: int) -> bool:
        return self.y <= y < self.y + self.h and self.x <= x < self.x + self.w


def too_small(rows: int, cols: int) -> bool:
    return rows < MIN_ROWS or cols < MIN_COLS


def main_board(rows: int, cols: int) -> dict[str, Rect]:
    """status (top line), tree (left), ipinfo / timeline / evidence (right), help (bottom line).

    The tree gets 30% of the width (at least 30 columns: an IPv4 address with a host name, or
    a time window with its start); the IP-info box 7 rows; the timeline and the evidence share the rest.
    """
    body_h = rows - 2
    tree_w = min(max(30, cols * 3 // 10), 46)
    right_x, right_w = tree_w, cols - tree_w
    info_h = 7
    evidence_h = max(6, (body_h - info_h) // 2)  # evidence is what the analyst reads: half of the right side
    timeline_h = body_h - info_h - evidence_h
    return {
        "status": Rect(0, 0, 1, cols),
        "tree": Rect(1, 0, body_h, tree_w),
        "ipinfo": Rect(1, right_x, info_h, right_w),
        "timeline": Rect(1 + info_h, right_x, timeline_h, right_w),
        "evidence": Rect(1 + info_h + timeline_h, right_x, evidence_h, right_w),
        "help": Rect(rows - 1, 0, 1, cols),
    }


def view_area(rows: int, cols: int) -> dict[str, Rect]:
    """A hotkey view replaces the board between the status line and the help bar."""
    return {"status": Rect(0, 0, 1, cols), "view": Rect(1, 0, rows - 2, cols),
            "help": Rect(rows - 1, 0, 1, cols)}
