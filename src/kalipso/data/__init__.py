"""The data layer: the only part of Kalipso that talks to Redis or SQLite.

``open_slips(settings)`` connects, detects the Slips schema generation and returns a
``SlipsData`` that reads it into the models of ``kalipso.data.models``.
"""

from __future__ import annotations

from kalipso.data.access import SlipsData
from kalipso.data.connect import ConnectionSettings, analysis_client, cache_client, check
from kalipso.data.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
    EmptyDatabase,
    KalipsoDataError,
    NotSlipsDatabase,
    SlowRedis,
    UnexpectedData,
    UnknownProfile,
    UnknownTimeWindow,
)
from kalipso.data.schema import GENERATIONS, detect

__all__ = [
    "AuthenticationFailed", "ConnectionFailed", "ConnectionLost", "ConnectionSettings",
    "EmptyDatabase", "KalipsoDataError", "NotSlipsDatabase", "SlipsData", "SlowRedis", "UnexpectedData",
    "UnknownProfile", "UnknownTimeWindow",
    "open_slips",
]


def open_slips(settings: ConnectionSettings, flows_db: str | None = None) -> SlipsData:
    """Connect to the analysis database described by ``settings`` and pick its reader.

    Raises ConnectionFailed, AuthenticationFailed or NotSlipsDatabase (EmptyDatabase when db 0
    holds nothing yet: Slips has not written) with a one-line message.
    The IP-info cache is optional: when it does not answer, IP info is simply empty.
    """
    settings = settings.with_password_from_env()
    client = analysis_client(settings)
    label = settings.describe()
    check(client, label)
    schema, version = detect(client, label)
    cache = cache_client(settings)
    try:
        check(cache, "cache")
    except KalipsoDataError:
        cache.close()
        cache = None
    return GENERATIONS[schema](client, cache, settings, version, flows_db=flows_db)
