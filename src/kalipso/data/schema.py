"""Which Slips schema generation a database holds.

Probes, cheapest first (see SCHEMA-*.md section "Telling versions apart"): ``TYPE profiles``
(zset only in 1.1.18+), ``HGET analysis slips_version``, and for set-typed profiles whether
classic keys (``evidenceprofile_<ip>``, field ``Evidence`` of a time-window hash) exist.
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
    """True/False from the first few profiles; None when there is nothing to look at."""
    sample = [parse.decode(m).removeprefix("profile_") for m in r.srandmember("profiles", 10) or []]
    if not sample:
        return None
    pipe = r.pipeline(transaction=False)
    for ip in sample:
        pipe.exists(f"evidenceprofile_{ip}")
    if any(pipe.execute()):
        return True
    for ip in sample:
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
    classic = _looks_classic(r) if kind == "set" else None
    if classic is None:
        classic = bool(number and number < (1, 1))
    return ("classic" if classic else "middle"), version
