"""Orders of profiles: by IP address (numeric) and threat first. Pure and fast enough for
100,000 profiles in the loader thread."""

from __future__ import annotations

import functools
import socket
from typing import Any

_PTON, _V4, _V6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6


def ip_sort_key(ip: str) -> bytes:
    """Numeric order, IPv4 before IPv6, anything unparsable last (by its text).

    One bytes value (family, address, then for IPv6 and the rest the text in UTF-8, whose byte
    order is the order of code points): a sort compares keys with memcmp. Tuple keys compare element by element,
    which held the GIL ~250 ms when the loader sorted 100,000 names in the order Slips lists
    them, and stalled the UI thread as long; bytes keys on names already sorted as text: ~20 ms.
    inet_pton is C: about ten times faster than ipaddress on 100,000 names. An IPv4 key has no
    text: inet_pton reads only the plain dotted quad (no leading zeros), so one address has one
    text; that spares a third of the time sorting 100,000 names (~55 -> ~37 ms)."""
    try:
        return b"\x04" + _PTON(_V4, ip)
    except (OSError, ValueError):
        pass
    try:
        return b"\x06" + _PTON(_V6, ip) + ip.encode("utf-8", "surrogatepass")
    except (OSError, ValueError):
        return b"\x09" + ip.encode("utf-8", "surrogatepass")


_V4_KEY = functools.partial(_PTON, _V4)  # a C callable: no Python frame per name


def sort_ips(ips: list[str]) -> list[str]:
    """``sorted(ips, key=ip_sort_key)``, a little faster when every name is an IPv4 address.

    Sorted as text first (C compares of str: the keyed sort then finds runs), then by address
    with inet_pton itself as the key, which for IPv4 names orders as ip_sort_key does (the
    same address bytes behind the same family byte); one name of another kind makes it raise,
    and the general key is used (~45 against ~60 ms at 100,000 names)."""
    text = sorted(ips)
    try:
        return sorted(text, key=_V4_KEY)
    except (OSError, ValueError):
        return sorted(text, key=ip_sort_key)


def threat_order(names: list[str], facts: Any) -> list[str]:
    """Malicious profiles first (most alerts first), then by threat level, then by IP.

    ``names`` is already in IP order and sorting is stable, so only the threat part is keyed.
    Only the profiles with marks or a threat level have a key other than (0, 0): they are
    sorted apart and the others keep their order, in one pass (the board calls this in the UI
    thread when new names arrive: a full keyed sort of 100,000 names took ~0.1 s there)."""
    marks, threat = facts.marks, facts.threat

    def key(ip: str) -> tuple[int, int]:
        return (-sum(marks[ip].values()) - 1_000_000 if ip in marks else 0, -threat.get(ip, 0))

    keyed = {ip for ip in set(marks).union(threat) if key(ip) != (0, 0)}
    if not keyed:
        return list(names)
    special = [ip for ip in names if ip in keyed]
    first = sorted((ip for ip in special if key(ip) < (0, 0)), key=key)
    last = sorted((ip for ip in special if key(ip) > (0, 0)), key=key)
    return first + [ip for ip in names if ip not in keyed] + last
