"""Kalipso only reads: the whole export runs as a Redis ACL user that may only read."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from kalipso import cli
from kalipso.demo.generator import generate

from conftest import fixture_dirs, flows_db_of, load_keys_json


def _make_reader(server) -> str:
    admin = server.client(0)
    admin.execute_command("ACL", "SETUSER", "reader", "reset", "on", ">readonly-pw", "~*",
                          "resetchannels", "-@all", "+@read", "+@connection", "-@write")
    return f"redis://reader:readonly-pw@127.0.0.1:{server.port}/0"


def _export_everything(url: str, cache_url: str, flows: str | None) -> int:
    base = ["export", "--url", url, "--cache-url", cache_url]
    if flows:
        base += ["--flows-db", flows]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(base) == 0
    summary = json.loads(out.getvalue())
    n = 0
    for profile in summary["profiles"]:
        for tw in profile["timewindows"]:
            for fmt in ("json", "text"):
                with redirect_stdout(io.StringIO()):
                    code = cli.main(base + ["--profile", profile["ip"], "--timewindow", tw["name"],
                                            "--format", fmt])
                assert code == 0, (profile["ip"], tw["name"])
            n += 1
    return n


def test_reader_user_really_cannot_write(redis_server):
    import redis
    url = _make_reader(redis_server)
    client = redis.Redis.from_url(url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("x", "1")


def test_export_of_generated_database_as_read_only_user(redis_server, tmp_path):
    generate(redis_server.client(0), redis_server.client(1), str(tmp_path))
    url = _make_reader(redis_server)
    cache = url.replace("/0", "/1")
    keys_before = redis_server.client(0).dbsize()
    assert _export_everything(url, cache, None) > 50
    assert redis_server.client(0).dbsize() == keys_before


@pytest.mark.skipif(not fixture_dirs(), reason="real Slips fixtures not found (../shared is absent)")
@pytest.mark.parametrize("generation", ["slips-1.0.1", "slips-1.1.16", "slips-1.1.21"])
def test_export_of_real_fixture_as_read_only_user(redis_server, generation):
    dataset = next(d for d in fixture_dirs() if d.parent.name == generation and "test15" in d.name)
    load_keys_json(redis_server, dataset)
    url = _make_reader(redis_server)
    assert _export_everything(url, url.replace("/0", "/1"), flows_db_of(dataset)) > 0
