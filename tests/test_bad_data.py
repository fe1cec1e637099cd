"""Malformed Slips values degrade one row or one field, never the caller (property tests + Redis)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from hypothesis import given, settings
from hypothesis import strategies as st

from kalipso import cli
from kalipso.data import ConnectionSettings, open_slips, parse
from kalipso.text import sanitize

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
raw_values = st.one_of(st.binary(max_size=200), st.text(max_size=200), json_values.map(json.dumps))


@settings(max_examples=300, deadline=None)
@given(raw_values, st.one_of(st.floats(), st.binary(max_size=10), st.none()))
def test_timeline_parser_never_raises(value, score):
    entry = parse.timeline_entry(value, score)
    assert entry.ts is None or isinstance(entry.ts, float)
    if not isinstance(parse.loads(value), dict):
        assert entry.malformed


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), raw_values)
def test_evidence_parser_never_raises(key, value):
    ev = parse.evidence(key, value)
    assert isinstance(ev.description, str) and isinstance(ev.threat_level, str)


@settings(max_examples=300, deadline=None)
@given(raw_values)
def test_alert_tuple_and_ip_parsers_never_raise(value):
    alerts = parse.alert_ids(value)
    assert all(isinstance(v, tuple) for v in alerts.values())
    assert all(isinstance(t.letters, str) for t in parse.out_tuples_json(value))
    data = parse.loads(value)
    info = parse.ip_info("1.2.3.4", data if isinstance(data, dict) else {"asn": data, "SNI": data})
    assert info.ip == "1.2.3.4"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["DstPortsClientTCPEstablished", "DstIPsClientUDPNot Established",
                        "SrcPortsClientICMPEstablished", "Evidence", "DstPortsServerTCPNotEstablished"]),
       raw_values)
def test_aggregate_parser_never_raises(field, value):
    rows = parse.aggregate_field(field, value)
    tables = parse.merge_aggregates(rows)
    assert set(tables) == {"src_ports_client", "dst_ips_client", "dst_ports_server",
                           "dst_ports_client", "dst_ports_client_ips"}


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_sanitize_leaves_no_control_characters(value):
    out = sanitize(value)
    assert "\x1b" not in out
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_sanitize_removes_whole_escape_sequences():
    assert sanitize("evil\x1b[31mred\x1b[0m.com") == "evilred.com"
    assert sanitize("a\x1b]0;title\x07b") == "ab"
    assert sanitize("x\u202egnp.exe") == "xgnp.exe"
    assert sanitize("\x9b31m") == "31m"


def _bad_database(client) -> None:
    ip, tw = "10.0.0.5", "timewindow1"
    client.zadd("profiles", {f"profile_{ip}": 1.0, "profile_10.0.0.6": 2.0, "garbage": 3.0})
    client.hset("analysis", mapping={"slips_version": "1.1.21", "output_dir": "/nonexistent"})
    client.hset(f"profile_{ip}", mapping={"duration": "not a number", "MAC": b"\xff\xfe",
                                          "past_user_agents": "{broken"})
    client.zadd(f"twsprofile_{ip}", {tw: 100.0, "timewindowX": 200.0})
    client.set("twsprofile_10.0.0.6", "a string where a zset should be")
    client.zadd(f"profile_{ip}_{tw}_timeline", {
        "not json at all": 101, json.dumps([1, 2, 3]): 102, b"\xff\xfe\x00 invalid utf-8": 103,
        json.dumps({"timestamp": "t", "daddr": "1.2.3.4\x1b[31m", "info": {"Request": ["x", None]},
                    "sent": None, "dport/proto": 53}): 104})
    client.hset(f"profile_{ip}_{tw}_evidence", mapping={
        "e1": "{not json", "e2": json.dumps(["a", "list"]), "e3": json.dumps({"threat_level": 5}),
        "e4": json.dumps({"evidence_type": "X", "attacker": {"value": None}, "confidence": "high"})})
    client.hset(f"profile_{ip}_{tw}", mapping={"alerts": "[not, a, dict]"})
    client.hset(f"profile_{ip}_{tw}:OutTuples:symbols", mapping={"no-dashes": "", "1.2.3.4-80-tcp": b"\xff"})


def test_malformed_values_degrade_rows_not_the_export(empty_redis):
    _bad_database(empty_redis.client(0))
    empty_redis.client(1).hset("IPsInfo:asn", "10.0.0.5", "[1, 2]")
    data = open_slips(ConnectionSettings(port=empty_redis.port,
                                         cache_url=f"redis://127.0.0.1:{empty_redis.port}/1"))
    profiles = data.profiles()
    assert [p.ip for p in profiles] == ["10.0.0.5", "10.0.0.6"]
    assert profiles[1].timewindows == ()  # wrong key type: no windows, no exception
    page = data.timeline("10.0.0.5", "timewindow1", 0, 10)
    assert page.total == 4 and [e.malformed for e in page.items] == [True, True, True, False]
    assert len(data.evidence("10.0.0.5", "timewindow1")) == 4
    assert data.alerts("10.0.0.5", "timewindow1") == []
    assert len(data.out_tuples("10.0.0.5", "timewindow1")) == 2
    assert data.ip_info("10.0.0.5").asn_org == "1, 2"  # odd shape shown as text
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["export", "--port", str(empty_redis.port), "--profile", "10.0.0.5",
                         "--timewindow", "timewindow1", "--format", "text"])
    assert code == 0
    assert "\x1b" not in out.getvalue()
    assert "[malformed]" in out.getvalue()
    assert "not available" in out.getvalue()  # no flows file: the tables say why


def test_expired_keys_are_normal(empty_redis):
    """A tree entry whose per-window keys are gone (Slips expired them) reads as empty."""
    client = empty_redis.client(0)
    client.zadd("profiles", {"profile_10.0.0.9": 1.0})
    client.hset("analysis", "slips_version", "1.1.21")
    client.zadd("twsprofile_10.0.0.9", {"timewindow-2": -7000.0})
    data = open_slips(ConnectionSettings(port=empty_redis.port))
    tw = data.profiles()[0].timewindows[0]
    assert tw.number == -2 and not tw.malicious
    counts = data.counts("10.0.0.9", "timewindow-2")
    assert (counts.timeline, counts.evidence, counts.alerts, counts.out_tuples) == (0, 0, 0, 0)


def test_schema_follows_slips_version_and_keys(empty_redis):
    """Detection never guesses when Slips wrote its version, and is deterministic without it."""
    from kalipso.data.schema import detect
    c = empty_redis.client(0)
    c.sadd("profiles", *[f"profile_10.0.0.{i}" for i in range(30)])
    c.hset("analysis", "slips_version", "1.0.1")
    assert detect(c, "x") == ("classic", "1.0.1")
    c.hset("analysis", "slips_version", "1.1.16")
    assert detect(c, "x") == ("middle", "1.1.16")
    c.hdel("analysis", "slips_version")
    c.zadd("twsprofile_10.0.0.7", {"timewindow1": 1.0})
    c.hset("profile_10.0.0.7_timewindow1", "DstIPs", "{}")
    assert {detect(c, "x")[0] for _ in range(10)} == {"middle"}
    c.hset("evidenceprofile_10.0.0.29", "timewindow1", "{}")
    assert {detect(c, "x")[0] for _ in range(10)} == {"classic"}
