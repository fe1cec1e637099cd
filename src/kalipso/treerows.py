"""The rows of the profile tree, and the scrolling rule every list on the board follows.

Pure and small on purpose: a tree of 100,000 profiles must not cost 100,000 objects on the UI
thread, so rows are made only when they are looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class TreeRow(NamedTuple):
    """A row of the tree; a tuple because the tree of 100,000 profiles builds 100,000 of them."""

    ip: str
    tw: str | None  # None for the profile row itself


class TreeRows(Sequence[TreeRow]):
    """The rows of the tree without building one object per profile: the profiles shown, with
    the time windows of the expanded ones after them. Rows are made when they are looked at,
    so filtering, sorting or expanding a tree of 100,000 profiles costs one list, not 100,000
    objects on the UI thread."""

    def __init__(self, shown: list[str], opened: dict[str, tuple[str, ...]]) -> None:
        self.shown = shown
        position = {ip: i for i, ip in enumerate(shown)} if len(opened) > 8 else None
        spots = []
        for ip, windows in opened.items():
            try:
                at = position[ip] if position is not None else shown.index(ip)
            except (KeyError, ValueError):
                continue  # expanded, but filtered out
            if windows:
                spots.append((at, ip, windows))
        self.spots = sorted(spots)  # (index in shown, ip, window names), in tree order
        self.length = len(shown) + sum(len(w) for _, _, w in self.spots)

    def __len__(self) -> int:
        return self.length

    def _row(self, i: int) -> TreeRow:
        before = 0  # windows rows above
        for at, ip, windows in self.spots:
            start = at + before  # the row of this expanded profile
            if i <= start:
                break
            if i <= start + len(windows):
                return TreeRow(ip, windows[i - start - 1])
            before += len(windows)
        return TreeRow(self.shown[i - before], None)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._row(j) for j in range(*i.indices(self.length))]
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self._row(i)

    def index(self, row: TreeRow, *_: Any) -> int:  # type: ignore[override]
        at = self.shown.index(row.ip)  # ValueError when absent, like list.index
        before = sum(len(w) for a, _, w in self.spots if a < at)
        if row.tw is None:
            return at + before
        windows = next((w for a, ip, w in self.spots if ip == row.ip), ())
        return at + before + 1 + windows.index(row.tw)

    def __contains__(self, row: object) -> bool:
        try:
            self.index(row)  # type: ignore[arg-type]
            return True
        except (ValueError, AttributeError, TypeError):
            return False


def scroll_window(cursor: int, top: int, height: int, total: int) -> int:
    """The first visible index of a list of ``total`` rows so that the cursor stays in view."""
    height = max(height, 1)
    top = max(min(top, cursor), cursor - height + 1)
    return max(0, min(top, max(total - height, 0)))
