"""How Kalipso ends: SIGTERM and SIGHUP unwind the program like Ctrl-C, so cleanup runs."""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (the terminal went away): leave cleanly."""


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def install() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_terminated)
