"""Where tracebacks go: a log file, never the user's terminal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("kalipso")


def default_log_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "kalipso" / "kalipso.log"


def setup(path: str | None = None, debug: bool = False) -> Path | None:
    """Send the 'kalipso' logger to a file. Returns the path, or None if it cannot be written."""
    target = Path(path) if path else default_log_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8")
    except OSError:
        log.addHandler(logging.NullHandler())
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
    return target
