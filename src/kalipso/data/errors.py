"""Errors the data layer raises to its callers. Each carries a one-line message for users."""

from __future__ import annotations


class KalipsoDataError(Exception):
    """Base class: something about the Slips database that the user must know."""


class ConnectionFailed(KalipsoDataError):
    """No Redis server answered at the given address."""


class AuthenticationFailed(KalipsoDataError):
    """The Redis server refused the password (or asks for one that was not given)."""


class NotSlipsDatabase(KalipsoDataError):
    """The server answers but its database holds no Slips analysis."""


class EmptyDatabase(NotSlipsDatabase):
    """The database holds no key at all: Slips has not written yet (the UI waits for it)."""


class ConnectionLost(KalipsoDataError):
    """A Redis server that was reachable stopped answering."""


class UnknownProfile(KalipsoDataError):
    """The requested profile is not in the database."""


class UnknownTimeWindow(KalipsoDataError):
    """The requested time window is not in the profile."""


class UnexpectedData(KalipsoDataError):
    """A key holds a value of an unexpected type or shape (e.g. WRONGTYPE): a state of the pane
    that needed it, never a crash. The message names the key."""


class SlowRedis(KalipsoDataError):
    """Redis did not answer within the timeout (paused, overloaded): try again later."""
