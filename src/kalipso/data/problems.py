"""Which exceptions are data problems, in the data layer's own words.

SlipsData's public methods already raise KalipsoDataError subclasses; a view that reads
through another path (or a library error that escaped) is classified here, so that the
loader, which may not import redis or sqlite3, can tell a data problem from a bug.
"""

from __future__ import annotations

import sqlite3

import redis

from kalipso.data.errors import ConnectionLost, KalipsoDataError, SlowRedis, UnexpectedData


def data_problem(exc: BaseException) -> KalipsoDataError | None:
    """The KalipsoDataError that ``exc`` stands for, or None when it is not a data problem."""
    if isinstance(exc, KalipsoDataError):
        return exc
    if isinstance(exc, redis.TimeoutError):
        return SlowRedis(f"Redis did not answer in time: {exc}")
    if isinstance(exc, (redis.ConnectionError, ConnectionError)):
        return ConnectionLost(f"lost the connection to Redis: {exc}")
    if isinstance(exc, redis.ResponseError):
        return UnexpectedData(f"Redis refused a read: {exc}")
    if isinstance(exc, sqlite3.Error):
        return UnexpectedData(f"the flows database could not be read: {exc}")
    return None
