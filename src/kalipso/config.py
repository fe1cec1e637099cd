"""The user's config file: which key opens which view, and views to leave out.

$XDG_CONFIG_HOME/kalipso/config.ini (default ~/.config/kalipso/config.ini)::

    [keys]
    # view name = key; e.g. the letters of the later Node.js Kalipso
    SrcPortClient = e
    DstIPsClient = d
    OutTuples = i

    [views]
    disabled = Map, Activity

    [board]
    # the order of the profile tree at start: threat (malicious first, the default) or ip
    sort = threat

A broken file is reported on stderr and ignored, never fatal.
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The later Node.js Kalipso's letters, for users who want them back (see docs).
NODE_KALIPSO_KEYS = {"SrcPortClient": "e", "DstIPsClient": "d", "DstPortServer": "r",
                     "DstPortsClient": "p", "DstPortsClientIPs": "t", "OutTuples": "i",
                     "InTuples": "y", "ProfileEvidence": "z"}


@dataclass
class Config:
    keys: dict[str, str] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    sort: str = "threat"


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kalipso" / "config.ini"


def load(path: str | None = None) -> Config:
    target = Path(path) if path else default_path()
    if not target.exists():
        return Config()
    parser = configparser.ConfigParser()
    parser.optionxform = str  # view names are case-sensitive
    try:
        parser.read(target, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        print(f"kalipso: ignoring {target}: {exc}", file=sys.stderr)
        return Config()
    keys = {name: value.strip() for name, value in parser.items("keys")} if parser.has_section("keys") else {}
    disabled = set()
    if parser.has_option("views", "disabled"):
        disabled = {v.strip() for v in parser.get("views", "disabled").split(",") if v.strip()}
    sort = parser.get("board", "sort", fallback="threat").strip().lower()
    if sort not in ("threat", "ip"):
        print(f"kalipso: {target}: [board] sort must be threat or ip, not {sort!r}; using threat", file=sys.stderr)
        sort = "threat"
    return Config(keys=keys, disabled=disabled, sort=sort)
