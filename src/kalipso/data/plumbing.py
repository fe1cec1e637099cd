"""Round trips to Redis: batching commands into pipelines, counting requests, and turning
Redis' own errors into the data layer's (one place, so that no redis exception escapes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from kalipso.data.errors import ConnectionLost, SlowRedis, UnexpectedData
from kalipso.logfile import log

T = TypeVar("T")
BATCH = 2000  # commands per pipeline round trip

# TYPE answers in words a user knows
TYPE_NAMES = {"zset": "a sorted set", "hash": "a hash", "set": "a set", "list": "a list",
              "string": "a string", "stream": "a stream", "none": "missing"}


def type_name(kind: str) -> str:
    return TYPE_NAMES.get(kind, f"a {kind}")


def is_wrongtype(exc: BaseException) -> bool:
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def first_line(value: object, limit: int = 160) -> str:
    """A printable one-line excerpt of an error message or a key (keys come from traffic)."""
    from kalipso.text import sanitize
    lines = str(value).splitlines() or [""]
    return sanitize(lines[0], limit)


@contextmanager
def translated(label: str, diagnose: Callable[[], str | None] | None = None) -> Iterator[None]:
    """Turn redis exceptions into the data layer's: a timeout into SlowRedis, a lost connection
    into ConnectionLost, WRONGTYPE and other refusals into UnexpectedData. ``diagnose`` (run
    only after a WRONGTYPE) names the key of the wrong type in one line."""
    try:
        yield
    except redis.TimeoutError as exc:
        raise SlowRedis(f"Redis at {first_line(label)} did not answer in time ({first_line(exc)}); "
                        "try again") from exc
    except redis.ConnectionError as exc:
        raise ConnectionLost(f"lost the connection to Redis at {first_line(label)}: {first_line(exc)}") from exc
    except redis.ResponseError as exc:
        if is_wrongtype(exc):
            what = diagnose() if diagnose is not None else None
            raise UnexpectedData(what or "a key Slips wrote holds an unexpected type "
                                 f"({first_line(exc, 80)})") from exc
        raise UnexpectedData(f"Redis at {first_line(label)} refused a read: {first_line(exc)}") from exc


# The per-profile and per-window keys a pane needs, with the type Slips writes them as.
NEEDED_KEYS = {
    "timeline": ("profile_{ip}_{tw}_timeline", "zset"),
    "evidence": ("profile_{ip}_{tw}_evidence", "hash"),
    "window": ("profile_{ip}_{tw}", "hash"),
    "out": ("profile_{ip}_{tw}:OutTuples:symbols", "hash"),
    "in": ("profile_{ip}_{tw}:InTuples:symbols", "hash"),
    "windows": ("twsprofile_{ip}", "zset"),
}
# Which of them each method reads, most likely culprit first (others: all of them).
METHOD_KEYS = {
    "timeline": ("timeline",), "activity": ("timeline",), "evidence": ("evidence", "window"),
    "evidence_counts": ("evidence", "window"), "alerts": ("window",), "aggregates": ("window",),
    "out_tuples": ("out", "window"), "in_tuples": ("in", "window"),
    "counts": ("timeline", "evidence", "window", "out"), "destinations": ("window", "out"),
    "profile": ("windows",), "timewindows": ("windows",),
}


def wrong_type_key(client: redis.Redis, method: str, args: tuple, kwargs: dict) -> str | None:
    """After a WRONGTYPE in ``method(ip, tw, ...)``: '<key> is a hash, not a sorted set', from
    one TYPE pipeline over the keys that method reads (run on the error path only)."""
    ip = args[0] if args else kwargs.get("ip")
    tw = args[1] if len(args) > 1 else kwargs.get("tw")
    tw = getattr(tw, "name", tw)
    if not isinstance(ip, str):
        return None
    candidates = [NEEDED_KEYS[n] for n in METHOD_KEYS.get(method, tuple(NEEDED_KEYS))]
    candidates = [(t.format(ip=ip, tw=tw), kind) for t, kind in candidates if isinstance(tw, str) or "{tw}" not in t]
    try:
        pipe = client.pipeline(transaction=False)
        for key, _ in candidates:
            pipe.type(key)
        found = pipe.execute()
    except redis.RedisError:
        return None
    for (key, kind), got in zip(candidates, found, strict=False):
        got = got.decode("utf-8", "replace") if isinstance(got, bytes) else str(got)
        if got not in ("none", kind):
            return f"{first_line(key)} is {type_name(got)}, not {type_name(kind)}"
    return None


def absent_on_wrong_type(key: str, read: Callable[[], T], default: T) -> T:
    """Read an auxiliary key; when it holds another type than Slips writes, it counts as absent
    (a warning goes to the log file) so that the tree and the export still work."""
    try:
        return read()
    except redis.ResponseError as exc:
        if not is_wrongtype(exc):
            raise
        log.warning("%s holds an unexpected type: read as absent", first_line(key))
        return default


def _describe(stack: list[Any], index: int) -> str:
    try:
        args = stack[index][0]
        return " ".join(first_line(a.decode("utf-8", "replace") if isinstance(a, bytes) else a, 80)
                        for a in args[:2])
    except Exception:  # only a log message
        return "a command"


def batched(client: redis.Redis, commands: Iterable[Callable[[Any], Any]],
            keep_errors: bool = False) -> list[Any]:
    """Run commands, each fn(pipeline), in pipelines of BATCH; a failed command gives None
    (logged: a key of an unexpected type reads as absent), or its error with ``keep_errors``."""
    results: list[Any] = []
    pipe = client.pipeline(transaction=False)
    n = 0

    def run() -> None:
        stack = list(pipe.command_stack)  # execute() empties it
        answers = pipe.execute(raise_on_error=False)
        for i, answer in enumerate(answers):
            if isinstance(answer, redis.ResponseError) and not keep_errors:
                log.warning("%s: %s; read as absent", _describe(stack, i), first_line(answer, 80))
                answer = None
            results.append(answer)

    for command in commands:
        command(pipe)
        n += 1
        if n == BATCH:
            run()
            n = 0
    if n:
        run()
    return results


def count_round_trips(client: redis.Redis, bump: Callable[[], None]) -> redis.Redis:
    """Call ``bump`` for every request the client sends: each command, each pipeline execute."""
    single, make_pipeline = client.execute_command, client.pipeline

    def execute_command(*args: Any, **kwargs: Any) -> Any:
        bump()
        return single(*args, **kwargs)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        run = pipe.execute

        def execute(*a: Any, **kw: Any) -> Any:
            bump()
            return run(*a, **kw)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    client.execute_command = execute_command  # type: ignore[method-assign]
    client.pipeline = pipeline  # type: ignore[method-assign]
    return client
