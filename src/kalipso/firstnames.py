"""The profile names, read while the program is still starting.

The first screen is drawn from the profile names. Reading them is mostly Redis' time (a
read-only script listing 100,000 members takes ~0.1 s in the server), so the read starts as
soon as the database is open, in a thread of its own, while the interpreter imports the board
and curses starts. The loader's first names request then takes the answer instead of reading
again. Imports only the data layer and the IP order: it starts before the UI is imported.
"""

from __future__ import annotations

import threading
from typing import Any

from kalipso.data import tree
from kalipso.order import sort_ips


def sorted_names(data: Any) -> list[str]:
    """Every profile's IP in address order."""
    return sort_ips(tree.profile_names(data))


class NamesPrefetch:
    """``sorted_names(data)`` started now; ``take()`` waits for it (in the loader thread) and
    raises what the read raised, so a lost connection is a state of the tree like any read's."""

    def __init__(self, data: Any) -> None:
        self._done = threading.Event()
        self._value: list[str] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(data,), name="kalipso-first-names", daemon=True).start()

    def _run(self, data: Any) -> None:
        try:
            self._value = sorted_names(data)
        except BaseException as exc:  # handed to the loader, which classifies it
            self._error = exc
        finally:
            self._done.set()

    def take(self) -> list[str]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        value, self._value = self._value, None  # taken once: the board holds the names, not this
        assert value is not None
        return value
