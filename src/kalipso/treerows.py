"""The rows of the profile tree, and the scrolling rule every list on the board follows.

Pure and small on purpose: a tree of 100,000 profiles must not cost 100,000 objects on the UI
thread, so rows are made only when they are looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from kalipso.data import hostnames


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


SYNC_FILTER = 20_000  # profiles filtered in the UI thread (~6 ms); a larger tree in the loader


def filter_profiles(order: list[str], needle: str, host_names: Any, detail_hosts: dict[str, str]) -> list[str]:
    """The profiles of ``order`` whose IP or host name contains ``needle`` (lower case).

    Host names are matched once (hostnames.matching: one search through all of them), then one
    substring test per IP; a needle without letters needs no lower-casing."""
    by_host = hostnames.matching(host_names, needle)
    by_host.update(ip for ip, host in detail_hosts.items() if needle in host.lower())
    if needle != needle.upper():
        return [ip for ip in order if needle in ip.lower() or ip in by_host]
    return [ip for ip in order if needle in ip or ip in by_host]


def same_filter(a: tuple | None, b: tuple | None) -> bool:
    """Two Board.filter_key() values are the same filter: text and details count equal, order
    and host names the very same objects."""
    return (a is not None and b is not None and a[0] == b[0] and a[1] is b[1] and a[2] is b[2]
            and a[3] == b[3])
