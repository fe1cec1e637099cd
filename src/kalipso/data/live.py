"""Reading a Slips database while Slips writes it: telling one analysis from the next.

Slips runs for days on a sensor and may be restarted on the same Redis port. A new run starts
a new analysis: Slips flushes db 0 and writes a new ``analysis`` hash (new ``analysis_start``,
usually a new ``output_dir``) and a new ``slips_start_time``. Kalipso must notice that and
reload instead of mixing the two analyses in one tree.

``analysis_identity(data)`` reads what identifies one analysis in one round trip;
``same_analysis(before, after)`` compares two readings, tolerating fields that Slips fills in
after its start (a field that appears is the same analysis filling in; a field that changes or
disappears is a new analysis, or a database flushed for one).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import redis

from kalipso.data import parse
from kalipso.data.errors import ConnectionLost, SlowRedis

IDENTITY_FIELDS = ("analysis_start", "slips_version", "output_dir", "name")


class AnalysisIdentity(NamedTuple):
    """What identifies one Slips analysis. Every field is a string, or None when Slips has not
    written it (yet): an empty database gives ``AnalysisIdentity(None, None, None, None, None)``."""

    analysis_start: str | None  # HGET analysis analysis_start: wall clock when Slips started
    slips_version: str | None  # HGET analysis slips_version
    output_dir: str | None  # HGET analysis output_dir: Slips' output folder of this run
    name: str | None  # HGET analysis name: the input file or interface
    slips_start_time: str | None  # GET slips_start_time: epoch seconds of Slips' start

    @property
    def empty(self) -> bool:
        """True while Slips has written none of these (nothing to show yet: "waiting for Slips")."""
        return all(v is None for v in self)


def _client(data: Any) -> redis.Redis:
    """The analysis client of a SlipsData, or a redis.Redis passed directly."""
    return data.r if hasattr(data, "r") else data


def analysis_identity(data: Any) -> AnalysisIdentity:
    """Read the identity of the analysis in db 0: one pipelined round trip (HMGET + GET).

    ``data`` is a ``SlipsData`` (its analysis client is used) or a ``redis.Redis`` on the
    analysis database. Works on every Slips generation (classic 1.0.x has the same ``analysis``
    hash; ``slips_start_time`` is None where a version does not write it) and on an empty
    database. Raises ConnectionLost when Redis does not answer and SlowRedis on a timeout.
    """
    client = _client(data)
    pipe = client.pipeline(transaction=False)
    pipe.hmget("analysis", list(IDENTITY_FIELDS))
    pipe.get("slips_start_time")
    try:
        fields, start_time = pipe.execute(raise_on_error=False)
    except redis.TimeoutError as exc:
        raise SlowRedis(f"Redis did not answer in time while checking the analysis: {exc}") from exc
    except redis.ConnectionError as exc:
        raise ConnectionLost(f"lost the connection to Redis: {exc}") from exc
    if isinstance(fields, Exception):  # WRONGTYPE: 'analysis' is not a hash; not Slips' then
        fields = [None] * len(IDENTITY_FIELDS)
    if isinstance(start_time, Exception):
        start_time = None
    values = [parse.decode(v) if v is not None else None for v in fields]
    return AnalysisIdentity(*values, parse.decode(start_time) if start_time is not None else None)


def same_analysis(before: AnalysisIdentity, after: AnalysisIdentity) -> bool:
    """False when ``after`` is a different analysis than ``before``.

    A field that was None and now has a value does not count (Slips fills the hash in as it
    starts); a field whose value changed, or that vanished (database flushed for a new run),
    does. Two empty identities are the same (still waiting for Slips).
    """
    return all(old is None or old == new for old, new in zip(before, after, strict=True))
