"""Finding Slips: running_slips_info.txt, stale entries, saved analyses, and the picker."""

from __future__ import annotations

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
            screen = t.wait_for(f"Slips on port {second.port}: eth0")
            if second_profiles:
                assert f"Profiles ({second_profiles})" in screen
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
