"""Round trips to Redis: batching commands into pipelines, and counting requests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis

BATCH = 2000  # commands per pipeline round trip


def batched(client: redis.Redis, commands: Iterable[Callable[[Any], Any]]) -> list[Any]:
    """Run commands, each fn(pipeline), in pipelines of BATCH; a failed command gives None."""
    results: list[Any] = []
    pipe = client.pipeline(transaction=False)
    n = 0
    for command in commands:
        command(pipe)
        n += 1
        if n == BATCH:
            results.extend(pipe.execute(raise_on_error=False))
            n = 0
    if n:
        results.extend(pipe.execute(raise_on_error=False))
    return [None if isinstance(r, redis.ResponseError) else r for r in results]


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
