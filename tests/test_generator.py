"""The generated database is shaped exactly like a real current-Slips database."""

from __future__ import annotations

import json
import re

import pytest

from kalipso.data import ConnectionSettings, open_slips
from kalipso.demo.generator import BEACON_HOST, SCANNER_HOST, Scenario, generate

from conftest import needs_fixture

IP = r"(?:\d+\.\d+\.\d+\.\d+|(?:[0-9a-f]{0,4}:){2,}[0-9a-f]{0,4})"


def pattern(key: str) -> str:
    key = re.sub(r"timewindow-?\d+", "timewindow<N>", key)
    return re.sub(IP, "<ip>", key)


def shape(value):
    """The JSON shape of a value: dict keys (recursively) and element kinds, not the data."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def real_current() -> dict:
    path = needs_fixture("slips-1.1.21/test9-mixed-zeek-dir/keys.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def generated(redis_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = generate(redis_server.client(0), redis_server.client(1), str(out))
    return redis_server, result


def _keys(client) -> dict[str, str]:
    return {k.decode(): client.type(k).decode() for k in client.scan_iter(count=1000)}


def test_key_patterns_and_types_exist_in_real_slips(generated):
    server, _ = generated
    real = real_current()
    for db in ("0", "1"):
        real_patterns = {(pattern(k), v["type"]) for k, v in real[db].items()}
        # keys a Slips with working GeoIP/ASN/VirusTotal/TI writes (see SCHEMA-current §3)
        real_patterns |= {(f"IPsInfo:{k}", "hash") for k in
                          ("geocountry", "asn", "reverse_dns", "VirusTotal", "threatintelligence")}
        ours = {(pattern(k), t) for k, t in _keys(server.client(int(db))).items()}
        assert ours <= real_patterns, sorted(ours - real_patterns)


def test_value_shapes_match_real_slips(generated):
    server, _ = generated
    real = real_current()["0"]
    client = server.client(0)

    def first(pattern_: str):
        return next(k for k in real if pattern(k) == pattern_ and real[k]["value"])

    real_line = json.loads(real[first("profile_<ip>_timewindow<N>_timeline")]["value"][0][0])
    real_ev = json.loads(next(iter(real[first("profile_<ip>_timewindow<N>_evidence")]["value"].values())))
    key = next(client.scan_iter("profile_*_timewindow*_timeline"))
    ours_line = json.loads(client.zrange(key, 0, 0)[0])
    assert set(ours_line) == set(real_line)
    ev_key = next(client.scan_iter("profile_*_timewindow*_evidence"))
    ours_ev = json.loads(next(iter(client.hgetall(ev_key).values())))
    assert set(ours_ev) == set(real_ev)
    assert set(ours_ev["attacker"]) == set(real_ev["attacker"])
    real_alerts = real[first("profile_<ip>_timewindow<N>")]["value"]["alerts"]
    ours_alerts = client.hget(f"profile_{BEACON_HOST}_timewindow1", "alerts")
    assert shape(json.loads(ours_alerts)) == {k: "str" for k in json.loads(ours_alerts)}
    assert all(isinstance(json.loads(v), list) for v in json.loads(real_alerts).values())
    assert all(isinstance(json.loads(v), list) for v in json.loads(ours_alerts).values())
    assert set(client.hkeys(f"profile_{BEACON_HOST}")) >= {b"starttime", b"duration", b"threat_level"}
    assert client.type("profiles") == b"zset"


def test_generated_database_reads_back(generated, tmp_path):
    server, result = generated
    data = open_slips(ConnectionSettings(port=server.port,
                                         cache_url=f"redis://127.0.0.1:{server.port}/1"))
    assert data.schema == "current"
    profiles = {p.ip: p for p in data.profiles()}
    assert len(profiles) == result.profiles
    marked = {(p.ip, tw.name) for p in profiles.values() for tw in p.timewindows if tw.malicious}
    assert marked == set(result.malicious)
    assert profiles[BEACON_HOST].host_name == "acct-pc-07"
    assert profiles[SCANNER_HOST].malicious
    total_lines = sum(data.counts(p.ip, tw.name).timeline for p in profiles.values() for tw in p.timewindows)
    assert total_lines == result.timeline_lines
    agg = data.aggregates(SCANNER_HOST, "timewindow2")
    assert agg.source == "sqlite"
    nest = [r for r in agg.table("dst_ports_client") if r.key == "445" and r.state == "not_established"]
    assert nest and nest[0].flows >= 30
    info = data.ip_info("185.220.101.47")
    assert info.country == "Moldova" and info.asn_number == "AS200019" and info.virustotal


def test_scale_parameters(redis_server, tmp_path):
    result = generate(redis_server.client(0), redis_server.client(1), str(tmp_path),
                      Scenario(hosts=50, hours=3, flows_per_hour=2, big_window_flows=500,
                               beacon=False, scanner=False))
    assert result.alerts == 0
    data = open_slips(ConnectionSettings(port=redis_server.port))
    # up to 200 hosts live on the LAN (192.168.1.x); the 10.x numbering is only for larger scales
    ips = {p.ip for p in data.profiles(timewindows=False)}
    assert {f"192.168.1.{i}" for i in range(10, 60)} <= ips and "10.0.0.10" not in ips
    assert data.timeline("10.0.0.10", "timewindow1", 0, 1).total == 0
    first = "192.168.1.10"
    assert data.timeline(first, "timewindow1", 0, 10).total >= 500
    # the big window is the first host's first window only; the others keep ~flows_per_hour
    assert data.timeline(first, "timewindow2", 0, 1).total < 50
    assert data.timeline("192.168.1.11", "timewindow1", 0, 1).total < 50
