"""Reading a Slips database while it is being written, in Slips' order (tests/replay.py)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from kalipso.data import ConnectionSettings, KalipsoDataError, open_slips
from kalipso.data.live import analysis_identity
from replay import Replay

from conftest import FIXTURES

DATASETS = ["slips-1.1.21/test9-mixed-zeek-dir", "slips-1.1.21/test15-malicious-zeek-dir",
            "slips-1.0.1/test9-mixed-zeek-dir-threshold0.01", "slips-1.1.16/test15-malicious-zeek-dir"]


def dataset_or_skip(name: str):
    path = FIXTURES / name
    if not (path / "keys.json").exists():
        pytest.skip(f"real Slips fixture {path} not found (../shared is absent)")
    return path


def contents(client) -> dict[str, tuple[str, object]]:
    out: dict[str, tuple[str, object]] = {}
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        kind = client.type(raw).decode()
        if kind == "string":
            value: object = client.get(raw).decode()
        elif kind == "hash":
            value = {k.decode(): v.decode() for k, v in client.hgetall(raw).items()}
        elif kind == "set":
            value = sorted(m.decode() for m in client.smembers(raw))
        elif kind == "zset":
            value = sorted((m.decode(), s) for m, s in client.zrange(raw, 0, -1, withscores=True))
        else:
            value = [m.decode() for m in client.lrange(raw, 0, -1)]
        out[key] = (kind, value)
    return out


def normal(entry: dict) -> tuple[str, object]:
    kind, value = entry["type"], entry["value"]
    if kind == "set":
        value = sorted(value)
    elif kind == "zset":
        value = sorted((m, float(s)) for m, s in value)
    return kind, value


def manifest_marks(dataset) -> set[tuple[str, str]]:
    manifest = json.loads((dataset / "manifest.json").read_text())
    return {(p["ip"], tw["name"]) for p in manifest["profiles"] for tw in p["timewindows"] if tw["malicious"]}


@pytest.mark.parametrize("name", DATASETS)
def test_replay_ends_with_exactly_the_fixture(empty_redis, name):
    dataset = dataset_or_skip(name)
    replay = Replay(empty_redis.client(0), empty_redis.client(1), dataset, duration=0)
    phases = [phase for phase, _ in replay.steps]
    assert phases[0] == "metadata" and phases[-1] == "end"
    # Slips' order: metadata, cache, profiles, windows, evidence/alerts, end
    rank = {"metadata": 0, "cache": 1, "profiles": 2, "windows": 3, "evidence": 4, "alert": 4, "end": 5}
    assert [rank[p] for p in phases] == sorted(rank[p] for p in phases)
    replay.run()
    for db in ("0", "1"):
        expected = {k: normal(e) for k, e in replay.expected[db].items()}
        assert contents(empty_redis.client(int(db))) == expected


def test_alerts_come_after_their_evidence(empty_redis):
    dataset = dataset_or_skip(DATASETS[0])
    replay = Replay(empty_redis.client(0), empty_redis.client(1), dataset, duration=0)
    seen_evidence: set[str] = set()
    for phase, commands in replay.steps:
        for _db, method, args, _kwargs in commands:
            if method == "hset" and args[0].endswith("_evidence") and len(args) == 3:
                seen_evidence.add(args[1])
            if phase == "alert":
                for ids in json.loads(args[2]).values():
                    assert set(json.loads(ids)) <= seen_evidence
    assert sum(1 for phase, _ in replay.steps if phase == "alert") >= 4


def read_everything(settings: ConnectionSettings, marks: set[tuple[str, str]], seen: set[tuple[str, str]]) -> None:
    """What the board reads on a refresh; only kalipso.data errors may come out of it."""
    data = open_slips(settings)
    try:
        analysis_identity(data)
        profiles = data.profiles(timewindows=False)
        for profile in profiles:
            for tw in profile.malicious_timewindows:
                assert (profile.ip, tw) in marks, f"{profile.ip} {tw} marked malicious, not in the manifest"
                seen.add((profile.ip, tw))
        for profile in profiles[:: max(len(profiles) // 8, 1)]:
            for tw in data.timewindows(profile.ip)[-2:]:
                data.timeline(profile.ip, tw.name, 0, 50)
                data.evidence(profile.ip, tw.name)
                data.alerts(profile.ip, tw.name)
    finally:
        data.close()


@pytest.mark.parametrize("name", [DATASETS[0], DATASETS[2], DATASETS[3]])
def test_data_layer_reads_while_slips_writes(empty_redis, name):
    dataset = dataset_or_skip(name)
    marks = manifest_marks(dataset)
    settings = ConnectionSettings(port=empty_redis.port, cache_url=f"redis://127.0.0.1:{empty_redis.port}/1",
                                  timeout=2)
    replay = Replay(empty_redis.client(0), empty_redis.client(1), dataset, duration=4.0)
    with pytest.raises(KalipsoDataError):  # before Slips has written anything
        read_everything(settings, marks, set())
    stop = threading.Event()
    thread = replay.run_in_thread(stop)
    reads = errors = 0
    seen: set[tuple[str, str]] = set()
    try:
        while thread.is_alive():
            try:
                read_everything(settings, marks, seen)
                reads += 1
            except KalipsoDataError:
                errors += 1  # e.g. "waiting for Slips" before the analysis hash exists
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert replay.error is None and replay.done == len(replay.steps)
    assert reads >= 5, (reads, errors)
    read_everything(settings, marks, seen)
    assert seen == marks  # every malicious mark of the manifest, once all alerts are in
    data = open_slips(settings)
    full = {(p.ip, tw.name) for p in data.profiles() for tw in p.timewindows if tw.malicious}
    assert full == marks
    print(f"{name}: {reads} full reads during the replay, {errors} data errors (before the analysis existed)")


def test_replay_of_an_odd_database(empty_redis, tmp_path):
    """Values Slips should not write still replay exactly: a non-JSON alerts field, an empty hash,
    a window only its keys know of, a key of a type keys.json cannot carry."""
    dump = {"0": {
        "analysis": {"type": "hash", "value": {"slips_version": "1.1.21", "analysis_end": "x"}, "ttl": -1},
        "profiles": {"type": "zset", "value": [["profile_10.0.0.1", 5.0]], "ttl": -1},
        "profile_10.0.0.1": {"type": "hash", "value": {}, "ttl": -1},
        "twsprofile_10.0.0.1": {"type": "zset", "value": [["timewindow1", 5.0]], "ttl": -1},
        "profile_10.0.0.1_timewindow1": {"type": "hash", "value": {"alerts": "not json"}, "ttl": -1},
        "profile_10.0.0.1_timewindow7_timeline": {"type": "zset", "value": [["{}", 9.0]], "ttl": -1},
        "weird": {"type": "stream", "value": [], "ttl": -1},
    }, "1": {}}
    (tmp_path / "keys.json").write_text(json.dumps(dump))
    replay = Replay(empty_redis.client(0), empty_redis.client(1), tmp_path, duration=0)
    replay.run()
    expected = {k: normal(e) for k, e in replay.expected["0"].items()}
    assert contents(empty_redis.client(0)) == expected and "weird" not in expected
