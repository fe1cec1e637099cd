"""Finding what a Slips user has: running instances and saved analyses.

In this order: Slips' own record of its running instances (``running_slips_info.txt`` in the
Slips folder), the default Slips port on localhost, and ``dump.rdb`` files in Slips' output
folders. Instances whose port does not answer are reported as stale, not offered.
"""

from __future__ import annotations

import glob
import mmap
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

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
    note: str = ""  # why some of the above is unknown (a saved file that could not be read whole)

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
            saved = read_saved_analysis(path)
            search.sources.append(Source("saved", os.path.basename(folder), path=path,
                                         started=saved.analysis_start, slips_version=saved.slips_version,
                                         profiles=saved.profiles, output_dir=folder,
                                         note="" if saved.complete else saved.reason))
    return search


HEADER = f"{'':<8} {'analysis':<34} {'port':<10} {'version':<13} {'profiles':<14} analysis start"


def describe(source: Source) -> str:
    """One line for the picker and for messages: what, where, Slips version, profiles, start.

    The start is Slips' own ``analysis_start`` (from the database, or read from the dump.rdb
    file itself), never the file's modification time, which is when the file was copied."""
    state = {"running": "running", "saved": "saved", "stale": "stale"}[source.kind]
    where = f"port {source.port}" if source.port is not None else ""
    if source.kind == "stale":
        return f"{state:<8} {source.label[:34]:<34} {where:<10} not answering"
    version = f"Slips {source.slips_version}" if source.slips_version else "Slips ?"
    count = f"{source.profiles} profiles" if source.profiles is not None else "? profiles"
    started = f"started {source.started[:19]}" if source.started else "start unknown"
    line = f"{state:<8} {source.label[:34]:<34} {where:<10} {version:<13} {count:<14} {started}"
    if source.kind == "saved":
        line = f"{line}  {source.path}"
        if source.note and not (source.slips_version and source.started and source.profiles is not None):
            line += f"  ({source.note})"
    return line


def newest_first(sources: list[Source]) -> list[Source]:
    order = {"running": 0, "saved": 1, "stale": 2}
    return sorted(sources, key=lambda s: (order[s.kind], -(version_tuple(s.slips_version) or (0,))[0]))


# ------------------------------------------------------------------ saved files (dump.rdb)
class _RdbUnreadable(Exception):
    """A part of the file this reader does not parse (streams, modules) or a damaged file."""


def _lzf(data: bytes, size: int) -> bytes:
    """LZF decompression (Redis compresses strings over 20 bytes with it)."""
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
        else:  # back reference
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0:
                raise _RdbUnreadable("bad LZF reference")
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
    if len(out) != size:
        raise _RdbUnreadable("bad LZF length")
    return bytes(out)


class _Rdb:
    """Just enough of the RDB format (versions 9-12) to walk its keys and read a few values.

    Works on a memory map of the file: skipping a value is arithmetic on the position, and only
    the pages actually read come from the disk."""

    def __init__(self, data) -> None:
        self.data = data
        self.pos = 0
        self.size = len(data)

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end > self.size:
            raise _RdbUnreadable("file ends early")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        if self.pos >= self.size:
            raise _RdbUnreadable("file ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def skip(self, n: int) -> None:
        self.pos += n
        if self.pos > self.size:
            raise _RdbUnreadable("file ends early")

    def length(self) -> tuple[int, int | None]:
        """(length, None), or (0, special encoding 0-3) for an integer or LZF string."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, None
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), None
        if kind == 3:
            return 0, first & 0x3F
        if first == 0x80:
            return struct.unpack(">I", self.read(4))[0], None
        if first == 0x81:
            return struct.unpack(">Q", self.read(8))[0], None
        raise _RdbUnreadable("bad length encoding")

    def number(self) -> int:
        value, special = self.length()
        if special is not None:
            raise _RdbUnreadable("unexpected string encoding")
        return value

    def string(self) -> bytes:
        value, special = self.length()
        if special is None:
            return self.read(value)
        if special == 0:
            return str(struct.unpack("<b", self.read(1))[0]).encode()
        if special == 1:
            return str(struct.unpack("<h", self.read(2))[0]).encode()
        if special == 2:
            return str(struct.unpack("<i", self.read(4))[0]).encode()
        if special == 3:
            clen, ulen = self.number(), self.number()
            return _lzf(self.read(clen), ulen)
        raise _RdbUnreadable("bad string encoding")

    def skip_string(self) -> None:
        value, special = self.length()
        if special is None:
            self.skip(value)
        elif special in (0, 1, 2):
            self.skip(1 << special)
        elif special == 3:
            clen, _ulen = self.number(), self.number()
            self.skip(clen)
        else:
            raise _RdbUnreadable("bad string encoding")

    def skip_value(self, kind: int) -> None:
        if kind == 0:
            self.skip_string()
        elif kind in (1, 2):  # list, set
            for _ in range(self.number()):
                self.skip_string()
        elif kind == 3:  # zset, scores as strings
            for _ in range(self.number()):
                self.skip_string()
                size = self.byte()
                if size < 253:
                    self.skip(size)
        elif kind == 4:  # hash
            for _ in range(2 * self.number()):
                self.skip_string()
        elif kind == 5:  # zset, binary scores
            for _ in range(self.number()):
                self.skip_string()
                self.skip(8)
        elif kind in (9, 10, 11, 12, 13, 16, 17, 20, 23):  # one encoded blob
            self.skip_string()
        elif kind == 25:  # hash listpack with field TTLs: min expire, blob
            self.skip(8)
            self.skip_string()
        elif kind == 14:  # quicklist of ziplists
            for _ in range(self.number()):
                self.skip_string()
        elif kind == 18:  # quicklist of listpacks
            for _ in range(self.number()):
                self.number()
                self.skip_string()
        elif kind in (22, 24):  # hash with field TTLs
            if kind == 24:
                self.skip(8)
            for _ in range(self.number()):
                self.number()
                self.skip_string()
                self.skip_string()
        else:
            raise _RdbUnreadable(f"value type {kind} (stream or module)")


def _listpack(blob: bytes) -> list[bytes]:
    """The entries of a listpack (Redis 7+ small hashes, sets and sorted sets)."""
    out: list[bytes] = []
    i = 6
    while i < len(blob) and blob[i] != 0xFF:
        b = blob[i]
        if b < 0x80:
            out.append(str(b).encode())
            size = 1
        elif b >> 6 == 2:
            n = b & 0x3F
            out.append(blob[i + 1:i + 1 + n])
            size = 1 + n
        elif b >> 5 == 6:
            value = ((b & 0x1F) << 8) | blob[i + 1]
            out.append(str(value - (1 << 13) if value >= 1 << 12 else value).encode())
            size = 2
        elif b >> 4 == 14:
            n = ((b & 0x0F) << 8) | blob[i + 1]
            out.append(blob[i + 2:i + 2 + n])
            size = 2 + n
        elif b == 0xF0:
            n = struct.unpack("<I", blob[i + 1:i + 5])[0]
            out.append(blob[i + 5:i + 5 + n])
            size = 5 + n
        elif b in (0xF1, 0xF2, 0xF3, 0xF4):
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            out.append(str(int.from_bytes(blob[i + 1:i + 1 + width], "little", signed=True)).encode())
            size = 1 + width
        else:
            raise _RdbUnreadable("bad listpack entry")
        back = 1 if size < 128 else 2 if size < 16384 else 3 if size < 2097152 else 4 if size < 268435456 else 5
        i += size + back
    return out


def _ziplist(blob: bytes) -> list[bytes]:
    """The entries of a ziplist (small hashes and sorted sets of Redis before 7)."""
    out: list[bytes] = []
    i = 10
    while i < len(blob) and blob[i] != 0xFF:
        i += 5 if blob[i] == 0xFE else 1  # previous entry's length
        b = blob[i]
        if b >> 6 == 0:
            n, i = b & 0x3F, i + 1
            out.append(blob[i:i + n])
            i += n
        elif b >> 6 == 1:
            n, i = ((b & 0x3F) << 8) | blob[i + 1], i + 2
            out.append(blob[i:i + n])
            i += n
        elif b == 0x80:
            n, i = struct.unpack(">I", blob[i + 1:i + 5])[0], i + 5
            out.append(blob[i:i + n])
            i += n
        else:
            width = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(b)
            if width is None:
                if 0xF1 <= b <= 0xFD:
                    out.append(str((b & 0x0F) - 1).encode())
                    i += 1
                    continue
                raise _RdbUnreadable("bad ziplist entry")
            out.append(str(int.from_bytes(blob[i + 1:i + 1 + width], "little", signed=True)).encode())
            i += 1 + width
    return out


def _read_hash(rdb: _Rdb, kind: int) -> dict[bytes, bytes]:
    if kind == 4:
        n = rdb.number()
        items = [rdb.string() for _ in range(2 * n)]
        return dict(zip(items[0::2], items[1::2], strict=True))
    if kind in (16, 13, 25, 23):
        if kind == 25:
            rdb.skip(8)
        entries = (_listpack if kind != 13 else _ziplist)(rdb.string())
        step = 3 if kind in (23, 25) else 2  # field, value(, TTL)
        return {entries[i]: entries[i + 1] for i in range(0, len(entries) - 1, step)}
    if kind in (22, 24):
        if kind == 24:
            rdb.skip(8)
        out = {}
        for _ in range(rdb.number()):
            rdb.number()
            field = rdb.string()
            out[field] = rdb.string()
        return out
    rdb.skip_value(kind)
    return {}


def _count(rdb: _Rdb, kind: int) -> int | None:
    """Members of a set or sorted set."""
    if kind in (2, 3, 5):
        n = rdb.number()
        for _ in range(n):  # skip the members: they come before the next key
            rdb.skip_string()
            if kind == 3:
                size = rdb.byte()
                if size < 253:
                    rdb.skip(size)
            elif kind == 5:
                rdb.skip(8)
        return n
    if kind == 11:
        blob = rdb.string()
        return struct.unpack("<I", blob[4:8])[0]
    if kind == 20:
        return len(_listpack(rdb.string()))
    if kind == 17:
        return len(_listpack(rdb.string())) // 2
    if kind == 12:
        return len(_ziplist(rdb.string())) // 2
    rdb.skip_value(kind)
    return None


@dataclass(frozen=True)
class SavedAnalysis:
    """What a dump.rdb says about its analysis, read from the file itself."""

    slips_version: str = ""
    analysis_start: str = ""
    name: str = ""
    output_dir: str = ""
    profiles: int | None = None
    complete: bool = True  # False: the budget ran out or a part could not be parsed
    reason: str = ""


HASH_KINDS = (4, 13, 16, 22, 23, 24, 25)
SET_KINDS = (2, 3, 5, 11, 12, 17, 20)


def _next_is_record(rdb: _Rdb) -> bool:
    """After a value: the end of the file, an opcode, or the type byte of the next key."""
    return rdb.pos >= rdb.size or rdb.data[rdb.pos] <= 25 or rdb.data[rdb.pos] >= 0xF4


def _find(rdb: _Rdb, key: bytes, kinds: tuple[int, ...], read, accept) -> Any:
    """Find a short key's record by its bytes (<type><length><key>: keys under 21 bytes are
    never compressed) and read its value; candidates inside other values fail the checks."""
    needle = bytes([len(key)]) + key
    start = 10
    while True:
        at = rdb.data.find(needle, start)
        if at < 0:
            return None
        start = at + 1
        if rdb.data[at - 1] not in kinds:
            continue
        rdb.pos = at + len(needle)
        try:
            value = read(rdb, rdb.data[at - 1])
        except (_RdbUnreadable, struct.error, IndexError, ValueError):
            continue
        if accept(value) and _next_is_record(rdb):
            return value


def read_saved_analysis(path: str, budget: float = 0.5) -> SavedAnalysis:
    """Slips version, analysis start, input name and profile count from a dump.rdb, without
    starting a Redis.

    First the ``analysis`` and ``profiles`` records are looked up by their key bytes (a C-speed
    search of the memory-mapped file: about 0.1 s for 140 MB); when one is missing, the file's
    keys are walked (values skipped by their lengths) to say why, for at most ``budget`` seconds."""
    found: dict[bytes, bytes] = {}
    profiles: int | None = None
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            rdb = _Rdb(data)
            if rdb.read(5) != b"REDIS":
                return SavedAnalysis(complete=False, reason="not a Redis database file")
            analysis = _find(rdb, b"analysis", HASH_KINDS, _read_hash,
                             lambda h: b"slips_version" in h or b"analysis_start" in h)
            count = _find(rdb, b"profiles", SET_KINDS, _count, lambda n: n is not None)
            if analysis is not None and count is not None:
                return _saved(analysis, count, complete=True, reason="")
            rdb.pos = 9
            return _walk(rdb, budget)
    except (OSError, _RdbUnreadable, struct.error, IndexError, ValueError) as exc:
        return _saved(found, profiles, complete=False, reason=str(exc) or type(exc).__name__)


def _walk(rdb: _Rdb, budget: float) -> SavedAnalysis:
    """Walk the keys from the start of the file (after the header) until both are found."""
    found: dict[bytes, bytes] = {}
    profiles: int | None = None
    deadline = time.monotonic() + budget
    db = 0
    seen_analysis = seen_profiles = False
    try:
        keys = 0
        while not (seen_analysis and seen_profiles):
            op = rdb.byte()
            if op == 0xFF:
                break
            if op == 0xFE:
                db = rdb.number()
            elif op == 0xFB:
                rdb.number()
                rdb.number()
            elif op == 0xFA:
                rdb.skip_string()
                rdb.skip_string()
            elif op == 0xFD:
                rdb.skip(4)
            elif op == 0xFC:
                rdb.skip(8)
            elif op == 0xF9:
                rdb.skip(1)
            elif op == 0xF8:
                rdb.number()
            elif op == 0xF4:  # slot info (cluster)
                for _ in range(3):
                    rdb.number()
            elif op == 0xF5:  # a function library
                rdb.skip_string()
            elif op >= 0xF0:
                raise _RdbUnreadable(f"opcode {op:#x}")
            else:
                key = rdb.string()
                if db == 0 and key == b"analysis":
                    found = _read_hash(rdb, op)
                    seen_analysis = True
                elif db == 0 and key == b"profiles":
                    profiles = _count(rdb, op)
                    seen_profiles = True
                else:
                    rdb.skip_value(op)
                keys += 1
                if keys % 512 == 0 and time.monotonic() > deadline:
                    raise _RdbUnreadable(f"stopped after {budget:g} s")
    except (_RdbUnreadable, struct.error, IndexError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        return _saved(found, profiles, complete=False, reason=reason)
    missing = [name for name, seen in (("analysis", seen_analysis), ("profiles", seen_profiles)) if not seen]
    return _saved(found, profiles, complete=not missing,
                  reason=f"no {' or '.join(missing)} key in the file" if missing else "")


def _saved(found: dict[bytes, bytes], profiles: int | None, complete: bool, reason: str) -> SavedAnalysis:
    def get(name: str) -> str:
        return parse.text(found.get(name.encode(), b""), 200)

    return SavedAnalysis(slips_version=get("slips_version"), analysis_start=get("analysis_start"),
                         name=get("name"), output_dir=get("output_dir"), profiles=profiles,
                         complete=complete, reason=reason)
