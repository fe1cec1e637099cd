"""Which Slips schema generation a database holds.

Probes, cheapest first (see SCHEMA-*.md section "Telling versions apart"): ``TYPE profiles``
(zset only in 1.1.18+), then ``HGET analysis slips_version``; only a database without a version
is judged by its keys (``evidenceprofile_<ip>``, field ``Evidence`` of a time-window hash).
"""

from __future__ import annotations

import re

import redis

from kalipso.data import parse, plumbing
from kalipso.data.access import SlipsData
from kalipso.data.adapters import ClassicSlips, CurrentSlips, MiddleSlips
from kalipso.data.errors import EmptyDatabase, NotSlipsDatabase

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
    answer does not depend on chance. Keys of another type than Slips writes are skipped.
    """
    if next(r.scan_iter(match="evidenceprofile_*", count=1000), None) is not None:
        return True
    profiles = plumbing.absent_on_wrong_type("profiles", lambda: r.smembers("profiles"), set())
    members = sorted(parse.decode(m) for m in profiles or [])
    for ip in (m.removeprefix("profile_") for m in members[:50]):
        windows = plumbing.absent_on_wrong_type(
            f"twsprofile_{ip}", lambda ip=ip: r.zrange(f"twsprofile_{ip}", 0, 2), [])
        for tw in windows:
            key = f"profile_{ip}_{parse.decode(tw)}"
            fields = plumbing.absent_on_wrong_type(key, lambda key=key: r.hkeys(key), [])
            if b"Evidence" in fields:
                return True
            if any(f.endswith(b"Established") or f == b"OutTuples" for f in fields):
                return False
    return None


def _has_profile_keys(r: redis.Redis, pages: int = 20) -> bool:
    """Whether a few SCAN pages find a ``twsprofile_*`` key (a Slips that lost ``profiles``)."""
    cursor = 0
    for _ in range(pages):
        cursor, keys = r.scan(cursor, match="twsprofile_*", count=1000)
        if keys:
            return True
        if not cursor:
            break
    return False


def detect(r: redis.Redis, label: str) -> tuple[str, str | None]:
    """(generation, Slips version) of the database behind ``r``.

    Raises EmptyDatabase when db 0 holds nothing (Slips has not written yet), NotSlipsDatabase
    when it holds something else, SlowRedis/ConnectionLost when Redis stops answering. A
    half-written Slips database (``analysis`` but no profiles yet, or profiles but no version)
    is Slips; keys of an unexpected type count as absent."""
    with plumbing.translated(label):
        pipe = r.pipeline(transaction=False)
        pipe.dbsize()
        pipe.type("profiles")
        pipe.type("analysis")
        pipe.hget("analysis", "slips_version")
        size, kind, analysis_kind, raw_version = (
            None if isinstance(a, redis.ResponseError) else a for a in pipe.execute(raise_on_error=False))
        if size == 0:  # None: DBSIZE refused (an ACL), so nothing is known about emptiness
            raise EmptyDatabase("the database is empty: waiting for Slips to write (the Redis database "
                                f"at {plumbing.first_line(label)} holds no Slips analysis yet)")
        kind, analysis_kind = parse.decode(kind), parse.decode(analysis_kind)
        version = plumbing.first_line(parse.decode(raw_version), 40) or None
        if kind not in ("set", "zset") and analysis_kind != "hash" and not _has_profile_keys(r):
            raise NotSlipsDatabase(
                f"the Redis database at {plumbing.first_line(label)} holds no Slips analysis "
                "(no 'profiles' or 'analysis' key). Is this the port Slips was started with (-P)?")
        number = version_tuple(version)
        if kind == "zset" or (number and number >= (1, 1, 17)):
            return "current", version
        if number:  # Slips says which version wrote the database: trust it over guessing
            return ("classic" if number < (1, 1) else "middle"), version
        classic = _looks_classic(r) if kind == "set" else None
        return ("classic" if classic else "middle"), version
