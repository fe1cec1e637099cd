"""Orders of profiles: by IP address (numeric) and threat first. Pure and fast enough for
100,000 profiles in the loader thread."""

from __future__ import annotations

import socket
from typing import Any

_PTON, _V4, _V6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6


def ip_sort_key(ip: str) -> tuple[int, bytes, str]:
    """Numeric order, IPv4 before IPv6, anything unparsable last (by its text).

    inet_pton is C: about ten times faster than ipaddress on 100,000 names. Written out
    without a loop: this runs once per profile at every refresh."""
    try:
        return (4, _PTON(_V4, ip), ip)
    except (OSError, ValueError):
        pass
    try:
        return (6, _PTON(_V6, ip), ip)
    except (OSError, ValueError):
        return (9, b"", ip)


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
