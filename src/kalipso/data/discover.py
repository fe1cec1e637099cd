"""Finding what a Slips user has: running instances and saved analyses.

In this order: Slips' own record of its running instances (``running_slips_info.txt`` in the
Slips folder), the default Slips port on localhost, and ``dump.rdb`` files in Slips' output
folders. Instances whose port does not answer are reported as stale, not offered.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import redis

from kalipso.data import parse
from kalipso.data.connect import no_retry_client
from kalipso.data.schema import version_tuple

INFO_FILE = "running_slips_info.txt"
SLIPS_DIR_ENV = "SLIPS_DIR"


@dataclass(frozen=True)
class Source:
    """Something Kalipso can open: a live Slips Redis (port) or a saved dump.rdb (path)."""

    kind: str  # "running", "saved" or "stale"
    label: str  # Slips' input (file or interface) or the output folder
    port: int | None = None
    path: str | None = None
    started: str = ""
    slips_version: str = ""
    profiles: int | None = None
    output_dir: str | None = None

    @property
    def usable(self) -> bool:
        return self.kind != "stale"


@dataclass
class Search:
    sources: list[Source] = field(default_factory=list)
    looked: list[str] = field(default_factory=list)  # where we looked, for "found nothing"


def parse_info_file(text: str) -> list[dict[str, str]]:
    """Rows of running_slips_info.txt: date, input, port, redis pid, zeek dir, output dir,
    slips pid, is daemon, save. Comment and header lines are skipped; malformed rows too."""
    rows = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("Date") or "," not in line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[2].isdigit():
            continue
        names = ("date", "input", "port", "redis_pid", "zeek_dir", "output_dir", "slips_pid", "daemon", "save")
        rows.append(dict(zip(names, parts + [""] * (len(names) - len(parts)), strict=False)))
    return rows


def probe(host: str, port: int, timeout: float = 0.5) -> dict | None:
    """Version, profile count and start of the Slips analysis on a port; None if none answers."""
    client = no_retry_client(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                             protocol=2, decode_responses=False)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.type("profiles")
        pipe.hmget("analysis", ["slips_version", "analysis_start", "name", "output_dir"])
        kind, (version, start, name, output) = pipe.execute()
        kind = parse.decode(kind)
        count = client.zcard("profiles") if kind == "zset" else client.scard("profiles") if kind == "set" else 0
        if kind not in ("set", "zset") and version is None:
            return {"slips": False}
        return {"slips": True, "version": parse.decode(version), "start": parse.decode(start),
                "name": parse.decode(name), "output_dir": parse.decode(output), "profiles": int(count)}
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def slips_dirs(explicit: list[str] | None) -> list[str]:
    dirs = list(explicit or [])
    if os.environ.get(SLIPS_DIR_ENV):
        dirs.append(os.environ[SLIPS_DIR_ENV])
    dirs.append(os.getcwd())
    return list(dict.fromkeys(os.path.abspath(d) for d in dirs))


def find(explicit_dirs: list[str] | None = None, default_port: int = 6379, host: str = "127.0.0.1") -> Search:
    search = Search()
    output_dirs: list[str] = []
    seen_ports: set[int] = set()
    for d in slips_dirs(explicit_dirs):
        output_dirs.append(os.path.join(d, "output"))
        info_path = os.path.join(d, INFO_FILE)
        search.looked.append(info_path)
        try:
            with open(info_path, encoding="utf-8", errors="replace") as f:
                rows = parse_info_file(f.read())
        except OSError:
            continue
        for row in rows:
            port = int(row["port"])
            out = row["output_dir"]
            if out:
                output_dirs.append(out if os.path.isabs(out) else os.path.join(d, out))
            if port in seen_ports:
                continue
            seen_ports.add(port)
            found = probe(host, port)
            if found and found["slips"]:
                search.sources.append(Source("running", row["input"], port=port, started=found["start"] or row["date"],
                                             slips_version=found["version"], profiles=found["profiles"],
                                             output_dir=found["output_dir"] or out))
            else:
                search.sources.append(Source("stale", row["input"], port=port, started=row["date"]))
    if default_port and default_port not in seen_ports:
        search.looked.append(f"{host}:{default_port}")
        found = probe(host, default_port)
        if found and found["slips"]:
            search.sources.append(Source("running", found["name"] or f"Slips on port {default_port}",
                                         port=default_port, started=found["start"], slips_version=found["version"],
                                         profiles=found["profiles"], output_dir=found["output_dir"]))
    for out in dict.fromkeys(output_dirs):
        search.looked.append(os.path.join(out, "**", "dump.rdb"))
        pattern = [os.path.join(out, "databases", "dump.rdb"), os.path.join(out, "*", "databases", "dump.rdb"),
                   os.path.join(out, "dump.rdb"), os.path.join(out, "*", "dump.rdb")]
        for path in sorted({p for pat in pattern for p in glob.glob(pat)}):
            folder = os.path.dirname(path)
            folder = os.path.dirname(folder) if os.path.basename(folder) == "databases" else folder
            search.sources.append(Source("saved", os.path.basename(folder), path=path,
                                         started=_mtime(path), output_dir=folder))
    return search


def _mtime(path: str) -> str:
    import time

    try:
        return time.strftime("%Y/%m/%d %H:%M", time.localtime(os.path.getmtime(path)))
    except OSError:
        return ""


def describe(source: Source) -> str:
    """One line for the picker and for messages."""
    if source.kind == "saved":
        return f"saved    {source.label:<34} {source.path}  ({source.started})"
    version = f"Slips {source.slips_version}" if source.slips_version else ""
    count = f"{source.profiles} profiles" if source.profiles is not None else ""
    state = "running " if source.kind == "running" else "stale   "
    port = f"port {source.port}"
    tail = "not answering" if source.kind == "stale" else f"{version:<13} {count:<14} started {source.started}"
    return f"{state} {source.label[:34]:<34} {port:<10} {tail}"


def newest_first(sources: list[Source]) -> list[Source]:
    order = {"running": 0, "saved": 1, "stale": 2}
    return sorted(sources, key=lambda s: (order[s.kind], -(version_tuple(s.slips_version) or (0,))[0]))
