"""The living demo writer: current Slips' layout and order, deterministic, alive, and readable."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
import time

import pytest

from kalipso.data import ConnectionSettings, KalipsoDataError, open_slips
from kalipso.data.live import analysis_identity, same_analysis
from kalipso.demo.classic import ClassicLiveWriter
from kalipso.demo.generator import BEACON_HOST, SCANNER_HOST
from kalipso.demo.live import ATTACKER_HOST, LiveScenario, LiveWriter
from kalipso.demo.session import demo_database

from conftest import load_keys_json, needs_fixture

START = 1795852800.0
IP = r"(?:\d+\.\d+\.\d+\.\d+|(?:[0-9a-f]{0,4}:){2,}[0-9a-f]{0,4})"


def pattern(key: str) -> str:
    return re.sub(IP, "<ip>", re.sub(r"timewindow-?\d+", "timewindow<N>", key))


def writer_for(server, tmp_path, **kw) -> LiveWriter:
    scenario = LiveScenario(start=START, **kw)
    return LiveWriter(server.client(0), server.client(1), str(tmp_path), scenario, clock=lambda: START)


def settings(server) -> ConnectionSettings:
    return ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1")


def dump(client) -> dict:
    out = {}
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key).decode()
        value = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
                 "zset": lambda k: client.zrange(k, 0, -1, withscores=True)}[kind](key)
        out[key] = (kind, value)
    return out


def test_keys_and_values_are_shaped_like_real_slips(empty_redis, tmp_path):
    real = json.loads(needs_fixture("slips-1.1.21/test9-mixed-zeek-dir/keys.json").read_text())
    w = writer_for(empty_redis, tmp_path)
    w.start()
    w.advance(START + 60)
    for db in ("0", "1"):
        real_patterns = {(pattern(k), v["type"]) for k, v in real[db].items()}
        real_patterns |= {(f"IPsInfo:{k}", "hash") for k in
                          ("geocountry", "asn", "reverse_dns", "VirusTotal", "threatintelligence")}
        ours = {(pattern(k.decode()), t) for k, (t, _) in dump(empty_redis.client(int(db))).items()}
        assert ours <= real_patterns, sorted(ours - real_patterns)
    client = empty_redis.client(0)
    assert client.type("profiles") == b"zset"
    real_ev = json.loads(next(iter(real["0"]["profile_10.0.2.15_timewindow1_evidence"]["value"].values())))
    ev_key = next(client.scan_iter("profile_*_timewindow*_evidence"))
    assert set(json.loads(next(iter(client.hgetall(ev_key).values())))) == set(real_ev)
    alerts = json.loads(client.hget(f"profile_{ATTACKER_HOST}_timewindow{w.tw_of(START + 15)}", "alerts"))
    assert all(isinstance(json.loads(ids), list) and ids for ids in alerts.values())  # double-encoded
    assert set(client.hkeys("analysis")) >= {b"slips_version", b"analysis_start", b"output_dir", b"file_start"}


def test_same_seed_same_database(redis_server, tmp_path):
    dumps = []
    for run in range(2):
        w = writer_for(redis_server, tmp_path / str(run))
        w.start()
        w.advance(START + 45)
        snapshot = dump(redis_server.client(0))
        snapshot.pop(b"analysis")  # names the output folder
        dumps.append(snapshot)
    assert dumps[0] == dumps[1]


def test_alert_within_20_seconds_new_profiles_and_rolling_windows(empty_redis, tmp_path):
    w = writer_for(empty_redis, tmp_path, width=120.0, history=330.0)
    w.start()
    data = open_slips(settings(empty_redis))
    before = {p.ip: p for p in data.profiles()}
    assert ATTACKER_HOST not in before
    assert before[BEACON_HOST].malicious_timewindows and before[SCANNER_HOST].malicious_timewindows
    w.advance(START + 20)
    fresh = [a for a in w.stats.alerted if a[2] > START]
    assert fresh and fresh[0][2] <= START + 20 and fresh[0][0] == ATTACKER_HOST
    after = {p.ip: p for p in data.profiles()}
    assert after[ATTACKER_HOST].malicious_timewindows == {fresh[0][1]}
    first_windows = set(data.timewindows(BEACON_HOST))
    w.advance(START + 2 * 120)  # two more windows start; window N-2's keys go when N closes
    names = [tw.name for tw in data.timewindows(BEACON_HOST)]
    assert len(names) > len(first_windows)
    client = empty_redis.client(0)
    assert client.zcard(f"profile_{BEACON_HOST}_timewindow1_timeline") == 0
    assert client.zcard(f"profile_{BEACON_HOST}_{names[-1]}_timeline") > 0
    assert "timewindow1" in names  # twsprofile still lists it, as in Slips
    for tw in names:  # a window whose keys are gone reads as empty, not as an error
        data.timeline(BEACON_HOST, tw)
        data.evidence(BEACON_HOST, tw)


def test_starting_empty_writes_metadata_before_profiles(empty_redis, tmp_path):
    w = writer_for(empty_redis, tmp_path, history=0.0)
    w.start()
    client = empty_redis.client(0)
    assert client.hget("analysis", "slips_version") == b"1.1.21"
    w.advance(START + 3)
    assert client.zcard("profiles") > 0


def test_run_stops_by_itself_and_on_the_event(empty_redis, tmp_path):
    w = LiveWriter(empty_redis.client(0), empty_redis.client(1), str(tmp_path), LiveScenario(tick=0.2))
    t0 = time.monotonic()
    stats = w.run(seconds=1.0)
    assert 0.9 < time.monotonic() - t0 < 5 and stats.ticks >= 3 and stats.live_flows > 0
    w2 = LiveWriter(empty_redis.client(0), empty_redis.client(1), str(tmp_path), LiveScenario(tick=0.2))
    stop = threading.Event()
    thread = w2.run_in_thread(stop)
    time.sleep(1.0)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and w2.stats.live_flows > 0


def test_demo_database_is_alive_and_cleaned_up():
    with demo_database() as cfg:
        data = open_slips(cfg)
        lines = data.counts(BEACON_HOST, data.timewindows(BEACON_HOST)[-1].name).timeline
        count = int(data.r.get("processed_flows_by_profiler_so_far"))
        deadline = time.monotonic() + 10
        while int(data.r.get("processed_flows_by_profiler_so_far")) == count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert int(data.r.get("processed_flows_by_profiler_so_far")) > count and lines > 0
    with pytest.raises(KalipsoDataError):  # the private server is gone
        open_slips(dataclasses.replace(cfg, timeout=0.5))


def test_command_line_bounded_run(empty_redis):
    t0 = time.time()
    result = subprocess.run([sys.executable, "-m", "kalipso.demo", "--live", "--port", str(empty_redis.port),
                             "--seconds", "14", "--width", "60", "--print-alerts"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "live Slips wrote" in result.stdout
    alerts = [line.split() for line in result.stdout.splitlines() if line.startswith("alert ")]
    assert [a for a in alerts if a[2] == ATTACKER_HOST and t0 < float(a[1]) < t0 + 20]  # within ~13 s
    assert empty_redis.client(0).zcard("profiles") > 0


def test_analysis_identity_tells_a_restarted_slips_apart(empty_redis, tmp_path):
    client = empty_redis.client(0)
    empty = analysis_identity(client)
    assert empty.empty and same_analysis(empty, empty)
    w = writer_for(empty_redis, tmp_path / "one")
    w.start()
    data = open_slips(settings(empty_redis))
    first = analysis_identity(data)
    assert not first.empty and first.slips_version == "1.1.21" and first.output_dir == str(tmp_path / "one")
    assert same_analysis(empty, first)  # Slips filling in its metadata is the same analysis
    w.advance(START + 30)
    assert analysis_identity(data) == first  # flows, evidence, alerts do not change it
    client.hdel("analysis", "output_dir")
    assert not same_analysis(first, analysis_identity(data))  # a field vanished: flushed
    again = LiveWriter(empty_redis.client(0), empty_redis.client(1), str(tmp_path / "two"),
                       LiveScenario(start=START + 3600), clock=lambda: START + 3600)
    again.start()  # Slips restarted on the same port: new start time and output folder
    assert not same_analysis(first, analysis_identity(data))


def test_analysis_identity_of_a_classic_database(empty_redis):
    load_keys_json(empty_redis, needs_fixture("slips-1.0.1/test15-malicious-zeek-dir"))
    ident = analysis_identity(empty_redis.client(0))
    assert ident.slips_version == "1.0.1" and ident.analysis_start


def test_command_line_on_a_unix_socket(redis_binary, tmp_path):
    sock = tmp_path / "redis.sock"
    server = subprocess.Popen([redis_binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = subprocess.run([sys.executable, "-m", "kalipso.demo", "--live", "--unix-socket", str(sock),
                                 "--seconds", "1", "--history", "0"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        data = open_slips(ConnectionSettings(unix_socket=str(sock), cache_url=f"unix://{sock}?db=1"))
        assert data.analysis.slips_version == "1.1.21" and data.profiles()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_command_line_refuses_a_redis_holding_other_data(empty_redis):
    empty_redis.client(0).hset("analysis", mapping={"name": "dataset/real.pcap", "slips_version": "1.1.21"})
    command = [sys.executable, "-m", "kalipso.demo", "--live", "--port", str(empty_redis.port), "--seconds", "0.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "dataset/real.pcap" in result.stderr
    assert empty_redis.client(0).hget("analysis", "name") == b"dataset/real.pcap"  # untouched
    assert subprocess.run(command + ["--force"], capture_output=True, timeout=60).returncode == 0
    assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0  # a demo: rewritten


def test_classic_layout_is_shaped_like_real_classic_slips_and_reads_back(empty_redis):
    real = json.loads(needs_fixture("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01/keys.json").read_text())
    w = ClassicLiveWriter(empty_redis.client(0), empty_redis.client(1), None, LiveScenario(start=START),
                          clock=lambda: START)
    w.start()
    w.advance(START + 20)
    for db in ("0", "1"):
        real_patterns = {(pattern(k), v["type"]) for k, v in real[db].items()}
        ours = {(pattern(k.decode()), t) for k, (t, _) in dump(empty_redis.client(int(db))).items()}
        assert ours <= real_patterns, sorted(ours - real_patterns)
    data = open_slips(settings(empty_redis))
    assert data.schema == "classic" and data.analysis.slips_version == "1.0.1"
    profiles = {p.ip: p for p in data.profiles()}
    assert profiles[ATTACKER_HOST].malicious_timewindows and profiles[ATTACKER_HOST].host_name == "guest-laptop"
    assert profiles[BEACON_HOST].host_name == "acct-pc-07"
    names = [tw.name for tw in data.timewindows(BEACON_HOST)]
    assert names[0] == "timewindow1" and len(names) == len(set(names)) >= 3  # per profile, from 1
    tw = names[-1]
    assert data.evidence(BEACON_HOST, tw) and data.timeline(BEACON_HOST, tw, 0, 5).total
    table = data.aggregates(BEACON_HOST, tw).table("dst_ports_client")
    assert any(r.key == "4444" and r.flows for r in table)
    assert data.ip_info("185.220.101.47").country == "Moldova"
