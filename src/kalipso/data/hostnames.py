"""Host names of many profiles, held compactly.

Current Slips keeps DHCP host names in flows.sqlite, and the board holds them for every
profile (the tree shows them; the filter matches them). As a dict, 100,000 names cost ~15 MiB
(a table, 100,000 key strings and 100,000 value strings); here they are two strings and two
arrays of offsets (~3 MiB), looked up by binary search (~10 µs: a screenful of rows costs
under a millisecond).
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from itertools import accumulate


def _offsets(parts: list[str]) -> array:
    return array("q", accumulate(map(len, parts), initial=0))


class HostNames(Mapping[str, str]):
    """A read-only mapping IP -> host name; keys in text order."""

    __slots__ = ("_keys", "_key_at", "_values", "_value_at", "_folded")

    def __init__(self, names: Mapping[str, str]) -> None:
        keys = sorted(names)
        values = [names[k] for k in keys]
        self._keys, self._key_at = "".join(keys), _offsets(keys)
        self._values, self._value_at = "".join(values), _offsets(values)
        self._folded: str | None = None

    def _key(self, i: int) -> str:
        return self._keys[self._key_at[i]:self._key_at[i + 1]]

    def _value(self, i: int) -> str:
        return self._values[self._value_at[i]:self._value_at[i + 1]]

    def _index(self, key: object) -> int:
        if not isinstance(key, str):
            return -1
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self) and self._key(lo) == key else -1

    def __len__(self) -> int:
        return len(self._key_at) - 1

    def __getitem__(self, key: str) -> str:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._value(i)

    def __contains__(self, key: object) -> bool:
        return self._index(key) >= 0

    def __iter__(self) -> Iterator[str]:
        return (self._key(i) for i in range(len(self)))

    def pairs(self) -> Iterator[tuple[str, str]]:
        """(ip, host name) in key order, without a lookup per key."""
        return ((self._key(i), self._value(i)) for i in range(len(self)))

    def matching(self, needle: str) -> set[str]:
        """The IPs whose host name contains ``needle`` (lower case) in any case: one search
        through all names at C speed, a step per match."""
        if self._folded is None:
            folded = self._values.lower()
            if len(folded) != len(self._values):
                # a few characters lower-case to two ('İ'): those stay as they are, so that
                # the offsets still fit (they then match only in their own case)
                folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in self._values)
            self._folded = folded
        text, at, width = self._folded, self._value_at, len(needle)
        if text.count(needle) > 2000:
            # many matches: test each name once (~0.3 µs each) rather than step from match to match
            return {self._key(i) for i, (a, b) in enumerate(itertools.pairwise(at)) if needle in text[a:b]}
        found: set[str] = set()
        pos = text.find(needle)
        while pos >= 0:
            i = bisect_right(at, pos) - 1
            if pos + width <= at[i + 1]:  # inside one name, not across two
                found.add(self._key(i))
                pos = text.find(needle, at[i + 1])
            else:
                pos = text.find(needle, pos + 1)
        return found


def matching(names: Mapping[str, str] | None, needle: str) -> set[str]:
    """The IPs of ``names`` whose host name contains ``needle`` (lower case), in any case."""
    if not names or not needle:
        return set()
    if isinstance(names, HostNames):
        return names.matching(needle)
    return {ip for ip, name in names.items() if needle in name.lower()}
