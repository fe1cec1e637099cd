"""Shared test fixtures: a real redis-server per test module, and the real Slips fixtures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kalipso.data.server import RedisServer, find_redis_server

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KALIPSO_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"


def fixture_dirs() -> list[Path]:
    """Every real Slips dataset folder (with a manifest.json), or [] without ../shared."""
    if not FIXTURES.is_dir():
        return []
    return sorted(p.parent for p in FIXTURES.glob("slips-*/*/manifest.json"))


def fixture_params():
    """pytest params over the real datasets; one skipped param when they are absent."""
    dirs = fixture_dirs()
    if not dirs:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"real Slips fixtures not found at {FIXTURES} (../shared is absent)"))]
    return [pytest.param(d, id=f"{d.parent.name}/{d.name}") for d in dirs]


def needs_fixture(relative: str) -> Path:
    path = FIXTURES / relative
    if not path.exists():
        pytest.skip(f"real Slips fixture {path} not found (../shared is absent)")
    return path


@pytest.fixture(scope="session")
def redis_binary() -> str:
    # the Redis of an ordinary Debian sensor box (7.0) first; the saved-file tests pick their own
    binary = os.environ.get("KALIPSO_TEST_REDIS") or shutil.which("redis-server") or find_redis_server()
    if not binary:
        pytest.fail("redis-server is not installed: .ci/run installs it (apt-get install redis-server)")
    return binary


@pytest.fixture(scope="module")
def redis_server(redis_binary):
    with RedisServer(redis_binary) as server:
        yield server


@pytest.fixture
def empty_redis(redis_server):
    """The module's server, flushed before the test."""
    for db in (0, 1):
        redis_server.client(db).flushdb()
    return redis_server


def load_keys_json(server: RedisServer, dataset: Path) -> dict:
    """Load a fixture's keys.json into db 0 (analysis) and db 1 (IP-info cache)."""
    with open(dataset / "keys.json", encoding="utf-8") as f:
        dump = json.load(f)
    for db_name, db in (("0", 0), ("1", 1)):
        client = server.client(db)
        client.flushdb()
        pipe = client.pipeline(transaction=False)
        for key, entry in dump.get(db_name, {}).items():
            kind, value = entry["type"], entry["value"]
            if kind == "string":
                pipe.set(key, value)
            elif kind == "hash" and value:
                pipe.hset(key, mapping=value)
            elif kind == "set" and value:
                pipe.sadd(key, *value)
            elif kind == "zset" and value:
                pipe.zadd(key, {m: s for m, s in value})
            elif kind == "list" and value:
                pipe.rpush(key, *value)
        pipe.execute()
    return dump


def servers_in(folder: Path) -> list[int]:
    """Pids of processes whose working folder is inside ``folder``: a private redis-server runs
    in its own folder (--dir), whether it listens on a port or on a unix socket."""
    root = str(Path(folder).resolve()) + os.sep
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(root):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def flows_db_of(dataset: Path) -> str | None:
    path = dataset / "flows.sqlite"
    return str(path) if path.exists() else None


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Log files of in-process CLI runs go to a temporary folder, not the user's home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.getbasetemp() / "state"))
