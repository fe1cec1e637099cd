"""Connections to Slips' Redis servers: the analysis database and the IP-info cache.

Slips keeps one analysis per Redis port (db 0) and a cache shared by every run on port 6379,
db 1. Both addresses are configurable. Connections are made with short timeouts so that a
server that goes away is noticed quickly instead of hanging the interface.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, replace
from urllib.parse import urlparse

import redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from kalipso.data.errors import AuthenticationFailed, ConnectionFailed

PASSWORD_ENV = "KALIPSO_REDIS_PASSWORD"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
CACHE_PORT = 6379
CACHE_DB = 1


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the analysis database is and how to reach the IP-info cache."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db: int = 0
    url: str | None = None
    unix_socket: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    timeout: float = 5.0
    cache_url: str | None = None

    def describe(self) -> str:
        """A short human label of the analysis database, without any password."""
        if self.url:
            parsed = urlparse(self.url)
            if parsed.scheme == "unix":
                return f"unix:{parsed.path}"
            db = parsed.path.lstrip("/") or "0"
            return f"{parsed.hostname or DEFAULT_HOST}:{parsed.port or DEFAULT_PORT}/{db}"
        if self.unix_socket:
            return f"unix:{self.unix_socket}/{self.db}"
        return f"{self.host}:{self.port}/{self.db}"

    def with_password_from_env(self) -> ConnectionSettings:
        """Fill the password from $KALIPSO_REDIS_PASSWORD (or $REDISCLI_AUTH) when unset."""
        if self.password is not None:
            return self
        pw = os.environ.get(PASSWORD_ENV) or os.environ.get("REDISCLI_AUTH")
        return replace(self, password=pw) if pw else self


# No CLIENT SETINFO on connect, so that a read-only ACL user sees nothing but reads.
# redis-py >= 7 spells this driver_info=None; older releases lib_name/lib_version=None.
_NO_SETINFO = ({"driver_info": None}
               if "driver_info" in inspect.signature(redis.Redis.__init__).parameters
               else {"lib_name": None, "lib_version": None})


def _failed_to_connect(error: Exception) -> bool:
    """True for an error raised while opening a connection (refused, no such socket file,
    unreachable), as opposed to a pooled socket that died since it last worked."""
    if isinstance(error.__context__, (ConnectionRefusedError, FileNotFoundError)):
        return True
    return " connecting to " in str(error)


class StaleSocketRetry(Retry):
    """One immediate retry, and only for a pooled socket that went stale.

    A connection that used to work can be closed by the server (Slips restarted its Redis,
    an idle timeout): the next command fails once and succeeds on a fresh socket. Everything
    else fails at once: a refused or impossible connection (nothing listens: the answer must
    come in milliseconds, not after seconds of back-off), a timeout (a paused or overloaded
    Redis: the UI says "Redis slow" and tries again on its next refresh instead of waiting
    twice), and authentication or loading errors.
    """

    def __init__(self) -> None:
        super().__init__(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):  # type: ignore[override]
        def retryable(error: Exception) -> bool:
            if isinstance(error, (redis_errors.AuthenticationError, redis_errors.AuthorizationError,
                                  redis_errors.BusyLoadingError, redis_errors.MaxConnectionsError)):
                return False
            if _failed_to_connect(error):
                return False
            return is_retryable(error) if is_retryable else True

        return super().call_with_retry(do, fail, retryable, with_failure_count)


def no_retry_client(**kwargs) -> redis.Redis:
    """A redis.Redis with Kalipso's retry policy (see StaleSocketRetry) and no CLIENT SETINFO."""
    return redis.Redis(retry=StaleSocketRetry(), **_NO_SETINFO, **kwargs)


def _common(settings: ConnectionSettings) -> dict:
    # Values are decoded by the parsers (invalid UTF-8 must not raise), hence raw bytes.
    return {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        "decode_responses": False,
        "protocol": 2,  # RESP2: no HELLO, and no RESP3-to-RESP2 score conversion per member
        "username": settings.username,
        "password": settings.password,
        # one immediate retry for a stale pooled socket only; refused connections and
        # timeouts fail at once (the UI reconnects and retries on its own schedule)
        "retry": StaleSocketRetry(),
        **_NO_SETINFO,
    }


def _url_kwargs(kwargs: dict) -> dict:
    # from_url takes the URL's own user/password unless we pass explicit ones
    return {k: v for k, v in kwargs.items() if v is not None or k in _NO_SETINFO}


def analysis_client(settings: ConnectionSettings) -> redis.Redis:
    """A client for the analysis database (not yet connected)."""
    kwargs = _common(settings)
    if settings.url:
        return redis.Redis.from_url(settings.url, **_url_kwargs(kwargs))
    if settings.unix_socket:
        return redis.Redis(unix_socket_path=settings.unix_socket, db=settings.db, **kwargs)
    extra = {}
    if settings.tls:
        extra = {"ssl": True, "ssl_ca_certs": settings.tls_ca}
    return redis.Redis(host=settings.host, port=settings.port, db=settings.db, **kwargs, **extra)


def cache_client(settings: ConnectionSettings) -> redis.Redis:
    """A client for the IP-info cache: --cache-url, else port 6379 db 1 on the same host."""
    kwargs = _common(settings)
    kwargs["socket_timeout"] = kwargs["socket_connect_timeout"] = min(settings.timeout, 2.0)
    if settings.cache_url:
        return redis.Redis.from_url(settings.cache_url, **_url_kwargs(kwargs))
    host = settings.host
    if settings.url:
        host = urlparse(settings.url).hostname or DEFAULT_HOST
    extra = {"ssl": True, "ssl_ca_certs": settings.tls_ca} if settings.tls else {}
    return redis.Redis(host=host, port=CACHE_PORT, db=CACHE_DB, **kwargs, **extra)


def check(client: redis.Redis, label: str) -> None:
    """PING the server; turn every failure into a one-line, user-facing error."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        if client.connection_pool.connection_kwargs.get("password") is None:
            raise AuthenticationFailed(f"Redis at {label} needs a password: set ${PASSWORD_ENV} "
                                       "or use --ask-password.") from exc
        raise AuthenticationFailed(f"Redis at {label} refused the password. "
                                   f"Set the right one in ${PASSWORD_ENV} or use --ask-password.") from exc
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise AuthenticationFailed(f"Redis at {label} needs a password: set ${PASSWORD_ENV} "
                                       f"or use --ask-password.") from exc
        raise ConnectionFailed(f"Redis at {label} answered with an error: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise ConnectionFailed(f"No Redis server answers at {label} ({reason}). "
                               "Is Slips running? Use -p/--port for its Redis port.") from exc
