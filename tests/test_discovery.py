"""Finding Slips: running_slips_info.txt, stale entries, saved analyses, and the picker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest
import redis

from kalipso.data import ConnectionSettings, analysis_client, discover
from kalipso.data.server import RedisServer, free_port
from kalipso.demo.generator import Scenario, generate
from tmuxdrive import Tmux

from conftest import fixture_dirs, load_keys_json

HEADER = ("29 # This file contains a list of used redis ports.\n"
          " # Once a server is killed, it will be removed from this file.\n"
          "Date, File or interface, Used port, Server PID, Output Zeek Dir, Logs Dir, Slips PID, Is Daemon, "
          "Save the DB\n")


def test_parse_info_file_like_slips_writes_it():
    row = "2026/11/28 05:00:01.1,dataset/test9.pcap,32768,111,zeek,output/x,222,False,False\n"
    rows = discover.parse_info_file(HEADER + row + "garbage line\n,,\n")
    assert [(r["input"], r["port"], r["output_dir"]) for r in rows] == [("dataset/test9.pcap", "32768", "output/x")]


def test_picker_lists_live_instances_and_opens_the_chosen_one(redis_binary, tmp_path):
    first = RedisServer(redis_binary).start()
    second = RedisServer(redis_binary).start()
    try:
        generate(first.client(0), first.client(1), str(tmp_path / "a"), Scenario(hosts=3, hours=1))
        dirs = fixture_dirs()
        if dirs:  # a real Slips database as the second instance
            load_keys_json(second, next(d for d in dirs if "1.1.21" in str(d) and "test15" in d.name))
            second_profiles = 3
        else:
            generate(second.client(0), second.client(1), str(tmp_path / "b"), Scenario(hosts=5, hours=1))
            second_profiles = None
        stale = free_port()
        slips = tmp_path / "slips"
        slips.mkdir()
        (slips / "running_slips_info.txt").write_text(
            HEADER
            + f"2026/11/28 08:00:00,dataset/office.pcap,{first.port},1,zeek,output/office,2,False,False\n"
            + f"2026/11/28 09:00:00,eth0,{second.port},3,zeek,output/eth0,4,False,False\n"
            + f"2026/11/27 07:00:00,dataset/old.pcap,{stale},5,zeek,output/old,6,False,False\n")
        found = discover.find([str(slips)], default_port=0)
        kinds = {s.label: s.kind for s in found.sources}
        assert kinds == {"dataset/office.pcap": "running", "eth0": "running", "dataset/old.pcap": "stale"}
        t = Tmux(["--slips-dir", str(slips), "--refresh", "0"], cols=140, rows=30)
        try:
            screen = t.wait_for("Slips analyses found", "dataset/office.pcap", "eth0")
            assert "not answering" in screen and "dataset/old.pcap" in screen
            t.send("Down", "Enter")
            t.wait_for(f"Slips on port {second.port}: eth0")
            if second_profiles:  # the tree fills in once the loader has read it
                t.wait_for(f"Profiles ({second_profiles})")
        finally:
            t.close()
    finally:
        first.stop()
        second.stop()


def test_saved_analysis_in_output_folder_is_found(tmp_path):
    dumps = [d for d in fixture_dirs() if (d / "dump.rdb").exists() and "1.0.1" in str(d)]
    if not dumps:
        import pytest
        pytest.skip("no fixture dump.rdb (../shared is absent)")
    out = tmp_path / "output" / "test15" / "databases"
    out.mkdir(parents=True)
    shutil.copy(dumps[0] / "dump.rdb", out / "dump.rdb")
    found = discover.find([str(tmp_path)], default_port=0)
    saved = [s for s in found.sources if s.kind == "saved"]
    assert len(saved) == 1 and saved[0].label == "test15" and saved[0].path == str(out / "dump.rdb")
    assert saved[0].slips_version == "1.0.1" and saved[0].profiles and saved[0].started.startswith("2026/")


def test_nothing_found_says_where_it_looked(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "kalipso", "export", "--help"], capture_output=True, text=True)
    assert "PATH" in result.stdout
    found = discover.find([str(tmp_path)], default_port=free_port())
    assert not found.sources
    assert any("running_slips_info.txt" in w for w in found.looked)
    assert any("dump.rdb" in w for w in found.looked)


def test_nothing_listening_answers_at_once():
    port = free_port()
    t0 = time.monotonic()
    assert discover.probe("127.0.0.1", port) is None
    found = discover.find(["/nonexistent-slips-dir"], default_port=port)
    assert not found.sources and time.monotonic() - t0 <= 0.3


def test_stale_pooled_socket_is_retried_once(redis_binary):
    port = free_port()
    with RedisServer(redis_binary, port=port) as server:
        client = analysis_client(ConnectionSettings(port=port, timeout=2))
        client.set("x", "1")
    with RedisServer(redis_binary, port=port):  # Redis restarted: the pooled socket is dead
        assert client.get("x") is None  # one retry on a fresh socket, no error
    t0 = time.monotonic()
    with pytest.raises(redis.ConnectionError):  # and now nothing listens: no retry loop
        client.get("x")
    assert time.monotonic() - t0 < 0.3
    assert server.port == port


def test_timeout_is_not_retried(redis_binary):
    with RedisServer(redis_binary) as server:
        client = analysis_client(ConnectionSettings(port=server.port, timeout=0.5))
        client.ping()
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(redis.TimeoutError):
                client.hget("analysis", "slips_version")
            assert time.monotonic() - t0 < 0.9  # one timeout, not two
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)


def saved_fixtures():
    return [d for d in fixture_dirs() if (d / "dump.rdb").exists()]


def _from_header(path):
    rdb = discover._Rdb(path.read_bytes())
    rdb.pos = 9
    return rdb


def test_summary_of_a_saved_file_is_read_from_the_file_itself():
    dumps = saved_fixtures()
    if not dumps:
        pytest.skip("no fixture dump.rdb (../shared is absent)")
    for dataset in dumps:  # RDB 10 (Redis 7.0, classic Slips) and RDB 12 (Redis 8.2, field TTLs)
        keys = json.loads((dataset / "keys.json").read_text())["0"]
        info = discover.read_saved_analysis(str(dataset / "dump.rdb"))
        assert info.complete, (dataset, info.reason)
        assert info.slips_version == keys["analysis"]["value"]["slips_version"]
        assert info.analysis_start == keys["analysis"]["value"]["analysis_start"]
        assert info.profiles == len(keys["profiles"]["value"])
        walked = discover._walk(_from_header(dataset / "dump.rdb"), budget=5)  # the fallback agrees
        assert walked == info


def test_picker_line_of_a_saved_file_shows_version_profiles_and_start_not_mtime(tmp_path):
    dumps = [d for d in saved_fixtures() if "1.1.21" in str(d) and d.name == "test9-mixed-zeek-dir"]
    if not dumps:
        pytest.skip("no fixture dump.rdb (../shared is absent)")
    out = tmp_path / "output" / "test9" / "databases"
    out.mkdir(parents=True)
    shutil.copy(dumps[0] / "dump.rdb", out / "dump.rdb")
    os.utime(out / "dump.rdb", (1700000000, 1700000000))  # copied on 2023/11/14
    (saved,) = discover.find([str(tmp_path)], default_port=0).sources
    line = discover.describe(saved)
    assert "Slips 1.1.21" in line and "109 profiles" in line and "started 2026/11/28 05:17:16" in line
    assert "2023/11/14" not in line and str(out / "dump.rdb") in line


def test_damaged_saved_file_says_what_is_unknown(tmp_path):
    dumps = saved_fixtures()
    if not dumps:
        pytest.skip("no fixture dump.rdb (../shared is absent)")
    data = (dumps[0] / "dump.rdb").read_bytes()
    for name, blob in (("cut", data[: len(data) // 3]), ("junk", b"REDIS0012" + bytes(range(256)) * 4),
                       ("empty", b""), ("text", b"hello")):
        path = tmp_path / name / "dump.rdb"
        path.parent.mkdir()
        path.write_bytes(blob)
        info = discover.read_saved_analysis(str(path))
        line = discover.describe(discover.Source("saved", name, path=str(path), started=info.analysis_start,
                                                 slips_version=info.slips_version, profiles=info.profiles,
                                                 note=info.reason))
        assert line.startswith("saved") and str(path) in line


def test_summary_of_a_file_saved_by_this_redis(redis_binary, tmp_path):
    with RedisServer(redis_binary) as server:
        result = generate(server.client(0), server.client(1), str(tmp_path / "out"), Scenario(hosts=150, hours=2))
        server.client(0).save()
        info = discover.read_saved_analysis(os.path.join(server.dir, "dump.rdb"))
    assert info.complete and info.slips_version == "1.1.21" and info.profiles == result.profiles


def test_picker_scrolls_to_the_cursor_and_shows_the_header(tmp_path):
    import subprocess
    import sys
    import uuid
    result = tmp_path / "chosen"
    script = tmp_path / "pick.py"
    script.write_text(
        "from kalipso.data import discover\nfrom kalipso.ui.picker import pick\n"
        "rows = [f'saved    analysis-{i:02d}' for i in range(40)]\n"
        f"index = pick('Pick one', rows, [i != 3 for i in range(40)], header=discover.HEADER)\n"
        f"open({str(result)!r}, 'w').write(str(index))\n")
    sock = f"kalipso-pick-{uuid.uuid4().hex[:6]}"

    def tmux(*args):
        return subprocess.run(["tmux", "-L", sock, "-f", os.devnull, *args], capture_output=True, text=True,
                              timeout=20).stdout

    tmux("new-session", "-d", "-x", "100", "-y", "12",
         f"env -u LINES -u COLUMNS LANG=C.UTF-8 TERM=tmux-256color {sys.executable} {script}; sleep 30")
    try:
        deadline = time.monotonic() + 20
        while "analysis-00" not in tmux("capture-pane", "-p") and time.monotonic() < deadline:
            time.sleep(0.1)
        screen = tmux("capture-pane", "-p")
        assert "analysis start" in screen and "profiles" in screen  # the column titles
        for _ in range(30):
            tmux("send-keys", "Down")
        deadline = time.monotonic() + 20
        while "analysis-30" not in tmux("capture-pane", "-p") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "analysis-30" in tmux("capture-pane", "-p")  # scrolled: the cursor's row is on screen
        tmux("send-keys", "Enter")
        deadline = time.monotonic() + 20
        # the file exists before its text is written: wait for the text (read '' once, 1 run in 3)
        while not (result.exists() and result.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert result.read_text() == "31"  # row 3 is not selectable: one Down jumps over it
    finally:
        tmux("kill-server")
