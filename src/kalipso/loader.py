"""The loader: owns every read for the board and the views, off the UI thread.

The UI submits requests, each for a *slot* (what the answer is for: the timeline pane, the IP
box, the open view, ...) and a *key* (exactly what is asked). A newer request for a slot
replaces one that is still waiting, so holding Down through a hundred profiles queues one
read, not a hundred. Answers come back as immutable results that the UI applies between
keys; the UI never waits on Redis or SQLite.

Two worker threads share the SlipsData object: ``fg`` for what the user is waiting for
(timeline, evidence, IP info, views), ``bg`` for global facts and refreshes of a large
database, which may take seconds and must not delay a key.

Data problems (a lost connection, a timeout, a key of an unexpected type, a profile Slips
deleted) come back as a Problem, a state of the pane that needed the data. Any other exception
is a failure of the code that ran (a view's fetch, usually) and is logged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from kalipso.data import ConnectionLost, KalipsoDataError
from kalipso.data.problems import data_problem
from kalipso.logfile import log

# pane and view states
LOADING, READY, EMPTY, UNAVAILABLE, LOST = "loading", "ready", "empty", "unavailable", "lost"
SLOW_AFTER = 1.0  # seconds before a read counts as slow on the status line


@dataclass(frozen=True)
class Request:
    """One read: ``fn(data)`` for ``slot``; ``key`` says what exactly it reads."""

    slot: str
    key: Hashable
    fn: Callable[[Any], Any]
    lane: str = "fg"
    priority: int = 5  # lower runs first within a lane
    label: str = ""  # what the status line says while it is slow ("timeline", "view Map")


@dataclass(frozen=True)
class Problem:
    """Why a read gave no data: ``state`` is LOST or UNAVAILABLE, ``reason`` says why in words."""

    state: str
    reason: str


@dataclass(frozen=True)
class Result:
    slot: str
    key: Hashable
    value: Any = None
    problem: Problem | None = None
    failure: str | None = None  # the code that ran raised (not a data problem); see the log
    seconds: float = 0.0
    epoch: int = 0  # results of reads asked before the last reset() are dropped


def classify(exc: BaseException) -> Problem | None:
    """The pane state for a data problem, or None when ``exc`` is not one."""
    err = exc if isinstance(exc, KalipsoDataError) else data_problem(exc)
    if err is None:
        return None
    if isinstance(err, ConnectionLost):
        return Problem(LOST, str(err))
    return Problem(UNAVAILABLE, str(err))


class Loader:
    def __init__(self, data: Any, debug: bool = False) -> None:
        self.data = data
        self.debug = debug
        self._cond = threading.Condition()
        self._waiting: dict[str, dict[str, Request]] = {"fg": {}, "bg": {}}
        self._running: dict[str, tuple[Request, float] | None] = {"fg": None, "bg": None}
        self._results: list[Result] = []
        self._stopping = False
        self._epoch = 0
        # a byte is written here when a result arrives: the UI waits on it beside the keyboard
        # and draws the result at once, instead of finding it at its next poll
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._threads = [threading.Thread(target=self._work, args=(lane,), name=f"kalipso-loader-{lane}",
                                          daemon=True) for lane in ("fg", "bg")]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------- UI side
    def submit(self, request: Request) -> None:
        """Queue a read; it replaces a waiting read of the same slot."""
        with self._cond:
            self._waiting[request.lane][request.slot] = request
            self._cond.notify_all()

    def cancel(self, slot: str) -> None:
        with self._cond:
            for waiting in self._waiting.values():
                waiting.pop(slot, None)

    def wake_fd(self) -> int:
        """Readable when results have arrived (``results()`` empties it)."""
        return self._wake_r

    def wake_write_fd(self) -> int:
        """The pipe's other end, for anything else that must wake the UI (a resize)."""
        return self._wake_w

    def results(self) -> list[Result]:
        """The results that arrived since the last call (never blocks)."""
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._cond:
            out, self._results = self._results, []
            epoch = self._epoch
        return [r for r in out if r.epoch == epoch]

    def reset(self, data: Any) -> None:
        """Read from ``data`` from now on; reads asked before are dropped, their results too."""
        with self._cond:
            self.data = data
            self._epoch += 1
            for waiting in self._waiting.values():
                waiting.clear()

    def busy(self) -> bool:
        with self._cond:
            return any(self._waiting.values()) or any(self._running.values()) or bool(self._results)

    @property
    def epoch(self) -> int:
        return self._epoch

    def slow(self) -> tuple[str, float] | None:
        """(label, seconds) of the read the user waits for (fg lane), once it is over SLOW_AFTER.

        A long read in the background lane (every profile's facts) is not "slow": it is big."""
        now = time.monotonic()
        with self._cond:
            running = self._running["fg"]
        if running is None:
            return None
        request, started = running
        took = now - started
        return (request.label or request.slot, took) if took >= SLOW_AFTER else None

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=0.2)  # a worker stuck in a read is a daemon: it dies with the process
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # ---------------------------------------------------------- worker side
    def _work(self, lane: str) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._waiting[lane]:
                    self._cond.wait()
                if self._stopping:
                    return
                waiting = self._waiting[lane]
                slot = min(waiting, key=lambda s: waiting[s].priority)
                request = waiting.pop(slot)
                self._running[lane] = (request, time.monotonic())
                epoch, data = self._epoch, self.data
            result = None
            try:
                result = self._run(request, data, epoch)
            finally:  # whatever happens, the lane stays alive and is not "busy" for ever
                with self._cond:
                    self._running[lane] = None
                    if result is not None and not self._stopping:
                        self._results.append(result)
                        try:
                            os.write(self._wake_w, b"!")
                        except (BlockingIOError, OSError):
                            pass  # the pipe is full: the UI has bytes to wake up on already

    def _run(self, request: Request, data: Any, epoch: int = 0) -> Result:
        started = time.monotonic()
        try:
            value = request.fn(data)
            return Result(request.slot, request.key, value, seconds=time.monotonic() - started, epoch=epoch)
        except BaseException as exc:  # the loader is the boundary of every read (a view's sys.exit too)
            took = time.monotonic() - started
            problem = classify(exc)
            if problem is not None:
                log.info("%s: %s", request.label or request.slot, problem.reason)
                return Result(request.slot, request.key, problem=problem, seconds=took, epoch=epoch)
            if self.debug:
                log.exception("%s failed (--debug)", request.label or request.slot)
            else:
                log.exception("%s failed", request.label or request.slot)
            return Result(request.slot, request.key, failure=f"{type(exc).__name__}: {exc}", seconds=took,
                          epoch=epoch)
