"""Which Slips schema generation a database holds.

Probes, cheapest first (see SCHEMA-*.md section "Telling versions apart"): ``TYPE profiles``
(zset only in 1.1.18+), then ``HGET analysis slips_version``; only a database without a version
is judged by its keys (``evidenceprofile_<ip>``, field ``Evidence`` of a time-window hash).
"""

from __future__ import annotations

import re

import redis

from kalipso.data import parse
from kalipso.data.access import SlipsData
from kalipso.data.adapters import ClassicSlips, CurrentSlips, MiddleSlips
from kalipso.data.errors import NotSlipsDatabase

GENERATIONS: dict[str, type[SlipsData]] = {
    "classic": ClassicSlips, "middle": MiddleSlips, "current": CurrentSlips}


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """'1.1.16' -> (1, 1, 16); None when it does not start with a number."""
    numbers = re.findall(r"\d+", version or "")
    return tuple(int(n) for n in numbers[:3]) if numbers and (version or "")[0].isdigit() else None


def _looks_classic(r: redis.Redis) -> bool | None:
    """For a database without slips_version: True/False from its keys; None when it is empty.

    Any ``evidenceprofile_*`` key means classic; otherwise the first time-window hashes decide
    (classic keeps a field ``Evidence`` there). Profiles are looked at in sorted order, so the
    answer does not depend on chance.
    """
    if next(r.scan_iter(match="evidenceprofile_*", count=1000), None) is not None:
        return True
    members = sorted(parse.decode(m) for m in r.smembers("profiles") or [])
    for ip in (m.removeprefix("profile_") for m in members[:50]):
        for tw in r.zrange(f"twsprofile_{ip}", 0, 2):
            fields = r.hkeys(f"profile_{ip}_{parse.decode(tw)}")
            if b"Evidence" in fields:
                return True
            if any(f.endswith(b"Established") or f == b"OutTuples" for f in fields):
                return False
    return None


def detect(r: redis.Redis, label: str) -> tuple[str, str | None]:
    """(generation, Slips version) of the database behind ``r``; raises NotSlipsDatabase."""
    pipe = r.pipeline(transaction=False)
    pipe.type("profiles")
    pipe.hget("analysis", "slips_version")
    pipe.exists("analysis")
    kind, raw_version, has_analysis = pipe.execute()
    kind = parse.decode(kind)
    version = parse.decode(raw_version) or None
    if kind not in ("set", "zset") and not has_analysis:
        raise NotSlipsDatabase(
            f"the Redis database at {label} holds no Slips analysis (no 'profiles' or 'analysis' key). "
            "Is this the port Slips was started with (-P)?")
    number = version_tuple(version)
    if kind == "zset" or (number and number >= (1, 1, 17)):
        return "current", version
    if number:  # Slips says which version wrote the database: trust it over guessing
        return ("classic" if number < (1, 1) else "middle"), version
    classic = _looks_classic(r) if kind == "set" else None
    return ("classic" if classic else "middle"), version
