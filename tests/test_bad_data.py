"""Malformed Slips values: the parsers recover what is there, and odd keys never crash a caller.

Property tests check what the parsers return against the values they were given (a field
round-trips, a non-finite number becomes None), not only that they return something; the
Redis tests check the contract the UI relies on: a needed key of another type is an
UnexpectedData naming it, an auxiliary one reads as absent, an empty database waits.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalipso import cli, export
from kalipso.data import (
    ConnectionSettings,
    EmptyDatabase,
    NotSlipsDatabase,
    SlowRedis,
    UnexpectedData,
    open_slips,
    parse,
)
from kalipso.data.schema import detect
from kalipso.text import sanitize

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
raw_values = st.one_of(st.binary(max_size=200), st.text(max_size=200), json_values.map(json.dumps))
words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
numbers = st.one_of(st.floats(), st.integers(), st.sampled_from(["1e400", "-1e400", "nan", "inf", "-inf", "7.5"]))


@settings(max_examples=300, deadline=None)
@given(numbers)
def test_to_float_is_finite_or_none(value):
    result = parse.to_float(value)
    assert result is None or math.isfinite(result)
    if isinstance(value, float) and math.isfinite(value):
        assert result == value
    if isinstance(value, str):
        assert result == (float(value) if math.isfinite(float(value)) else None)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({k: words for k in (
    "timestamp", "daddr", "saddr", "preposition", "dport_name", "dport/proto", "state",
    "sent", "recv", "tot", "duration", "warning", "critical warning")}),
    st.floats(allow_nan=False), st.booleans())
def test_timeline_entry_keeps_every_field(fields, score, ascii_only):
    entry = parse.timeline_entry(json.dumps(fields, ensure_ascii=ascii_only).encode(), score)
    assert not entry.malformed
    assert entry.ts == (score if math.isfinite(score) else None)
    assert (entry.timestamp, entry.daddr, entry.dport_proto, entry.critical_warning, entry.tot) == (
        fields["timestamp"], fields["daddr"], fields["dport/proto"], fields["critical warning"], fields["tot"])


@settings(max_examples=300, deadline=None)
@given(raw_values, st.one_of(st.floats(), st.binary(max_size=10), st.none()))
def test_timeline_member_that_is_not_an_object_is_shown_raw(value, score):
    entry = parse.timeline_entry(value, score)
    if not isinstance(parse.loads(value), dict):
        assert entry.malformed and entry.raw == parse.decode(value)[:parse.MAX_FIELD]
    assert entry.ts is None or math.isfinite(entry.ts)


@settings(max_examples=300, deadline=None)
@given(words, words, st.sampled_from(["High", "low", "CRITICAL"]), numbers, st.booleans())
def test_evidence_of_both_shapes(eid, description, level, confidence, classic):
    if classic:  # 1.0.x: ID/type_evidence/stime, double-encoded inside the Evidence field
        doc = {"ID": eid, "type_evidence": "PortScan", "description": description,
               "threat_level": level, "confidence": confidence, "stime": "12.5"}
        value = json.dumps(json.dumps(doc))
    else:
        doc = {"id": eid, "evidence_type": "PortScan", "description": description,
               "threat_level": level, "confidence": confidence, "timestamp": "12.5",
               "attacker": {"value": "10.0.0.1"}}
        value = json.dumps(doc)
    ev = parse.evidence("key", value)
    assert (ev.id, ev.evidence_type, ev.description, ev.threat_level) == (eid, "PortScan", description, level.lower())
    assert ev.confidence == parse.to_float(confidence) and ev.ts == 12.5
    assert ev.attacker == ("" if classic else "10.0.0.1")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(words, st.lists(words, max_size=4), max_size=5), st.booleans())
def test_alert_ids_of_both_shapes(alerts, double_encoded):
    value = json.dumps({a: json.dumps(ids) if double_encoded else ids for a, ids in alerts.items()})
    assert parse.alert_ids(value) == {a: tuple(ids) for a, ids in alerts.items()}


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(), st.integers(0, 65535), st.sampled_from(["tcp", "udp", "icmp"]), words)
def test_out_tuple_splits_address_port_protocol(ip, port, proto, letters):
    t = parse.out_tuple(f"{ip}-{port}-{proto}", letters)
    assert (t.daddr, t.dport, t.proto, t.letters) == (str(ip), str(port), proto, letters)
    [from_json] = parse.out_tuples_json(json.dumps({f"{ip}-{port}-{proto}": [letters, [1.0, 2.0]]}))
    assert from_json == t


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(words, st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=6))
def test_aggregate_field_sums_what_slips_stored(table):
    value = json.dumps({k: {"totalflows": f, "totalpkt": p, "totalbytes": p * 10} for k, (f, p) in table.items()})
    rows = parse.merge_aggregates(parse.aggregate_field("DstIPsClientTCPNot Established", value))["dst_ips_client"]
    assert {r.key: (r.flows, r.packets, r.bytes) for r in rows} == {k: (f, p, p * 10) for k, (f, p) in table.items()}
    assert {(r.proto, r.state) for r in rows} <= {("tcp", "not_established")}


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_export_strict_json_drops_only_non_finite_numbers(value):
    text = json.dumps(export.strict(value), allow_nan=False)  # raises on NaN/Infinity
    finite = [v for v in _floats(value) if math.isfinite(v)]
    assert [v for v in _floats(json.loads(text)) if v is not None] == finite


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_sanitize_leaves_no_control_characters(value):
    out = sanitize(value)
    assert "\x1b" not in out
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert sanitize(out, len(out) + 1) == out  # idempotent


def test_sanitize_removes_whole_escape_sequences():
    assert sanitize("evil\x1b[31mred\x1b[0m.com") == "evilred.com"
    assert sanitize("a\x1b]0;title\x07b") == "ab"
    assert sanitize("x\u202egnp.exe") == "xgnp.exe"
    assert sanitize("\x9b31m") == ""  # the 8-bit CSI is a whole sequence too: no "31m" left
    assert sanitize("a\x9d0;title\x9cb") == "ab"


# ------------------------------------------------------------------ against a real Redis
IP, TW = "10.0.0.5", "timewindow1"


def _open(server, **kw):
    return open_slips(ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1", **kw))


def _export(server, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["export", "--port", str(server.port), *extra])
    return code, out.getvalue(), err.getvalue()


def _bad_database(client) -> None:
    client.zadd("profiles", {f"profile_{IP}": 1.0, "profile_10.0.0.6": 2.0, "garbage": 3.0})
    client.hset("analysis", mapping={"slips_version": "1.1.21", "output_dir": "/nonexistent"})
    client.hset(f"profile_{IP}", mapping={"duration": "not a number", "MAC": b"\xff\xfe",
                                          "past_user_agents": "{broken"})
    client.zadd(f"twsprofile_{IP}", {TW: 100.0, "timewindowX": 200.0})
    client.set("twsprofile_10.0.0.6", "a string where a zset should be")
    client.zadd(f"profile_{IP}_{TW}_timeline", {
        "not json at all": 101, json.dumps([1, 2, 3]): 102, b"\xff\xfe\x00 invalid utf-8": 103,
        json.dumps({"timestamp": "t", "daddr": "1.2.3.4\x1b[31m", "info": {"Request": ["x", None]},
                    "sent": None, "dport/proto": 53}): 104})
    client.hset(f"profile_{IP}_{TW}_evidence", mapping={
        "e1": "{not json", "e2": json.dumps(["a", "list"]), "e3": json.dumps({"threat_level": 5}),
        "e4": json.dumps({"evidence_type": "X", "attacker": {"value": None}, "confidence": "high"})})
    client.hset(f"profile_{IP}_{TW}", mapping={"alerts": "[not, a, dict]"})
    client.hset(f"profile_{IP}_{TW}:OutTuples:symbols", mapping={"no-dashes": "", "1.2.3.4-80-tcp": b"\xff"})


def test_malformed_values_degrade_rows_not_the_export(empty_redis):
    _bad_database(empty_redis.client(0))
    empty_redis.client(1).hset("IPsInfo:asn", IP, "[1, 2]")
    data = _open(empty_redis)
    profiles = data.profiles()
    assert [p.ip for p in profiles] == [IP, "10.0.0.6"]  # 'garbage' is no profile_ member
    assert profiles[1].timewindows == ()  # wrong key type: no windows, no exception
    assert [tw.name for tw in profiles[0].timewindows] == [TW, "timewindowX"]
    assert profiles[0].timewindows[0].end == 100.0 + 3600  # 'not a number' duration: one hour
    page = data.timeline(IP, TW, 0, 10)
    assert page.total == 4 and [e.malformed for e in page.items] == [True, True, True, False]
    assert page.items[2].raw == "\ufffd\ufffd\x00 invalid utf-8"
    last = page.items[3]
    assert (last.ts, last.daddr, last.dport_proto, last.sent, last.info) == (
        104.0, "1.2.3.4\x1b[31m", "53", "", (("Request", "x"),))
    evidence = {e.id: e for e in data.evidence(IP, TW)}
    assert sorted(evidence) == ["e1", "e2", "e3", "e4"]
    assert evidence["e1"].malformed and evidence["e1"].description == "{not json"
    assert evidence["e3"].threat_level == "5" and not evidence["e3"].malformed
    assert evidence["e4"].evidence_type == "X" and evidence["e4"].confidence is None
    assert data.alerts(IP, TW) == []
    tuples = {t.tuple_id: t for t in data.out_tuples(IP, TW)}
    assert (tuples["1.2.3.4-80-tcp"].daddr, tuples["1.2.3.4-80-tcp"].dport, tuples["1.2.3.4-80-tcp"].letters) == (
        "1.2.3.4", "80", "\ufffd")
    assert tuples["no-dashes"].daddr == "no-dashes" and tuples["no-dashes"].dport == ""
    assert data.ip_info(IP).asn_org == "1, 2"  # odd shape shown as text
    code, out, _ = _export(empty_redis, "--profile", IP, "--timewindow", TW, "--format", "text")
    assert code == 0
    assert "\x1b" not in out and "[1.2.3.4]" in out  # the escape sequence is dropped whole
    assert out.count("[malformed]") == 3
    assert "Port/IP tables: not available:" in out  # no flows file: the tables say why


def test_expired_keys_are_normal(empty_redis):
    """A tree entry whose per-window keys are gone (Slips expired them) reads as empty."""
    client = empty_redis.client(0)
    client.zadd("profiles", {"profile_10.0.0.9": 1.0})
    client.hset("analysis", "slips_version", "1.1.21")
    client.zadd("twsprofile_10.0.0.9", {"timewindow-2": -7000.0})
    data = _open(empty_redis)
    tw = data.profiles()[0].timewindows[0]
    assert tw.number == -2 and not tw.malicious and tw.start == -7000.0
    counts = data.counts("10.0.0.9", "timewindow-2")
    assert (counts.timeline, counts.evidence, counts.alerts, counts.out_tuples) == (0, 0, 0, 0)


@pytest.mark.parametrize("suffix,make,message", [
    ("_timeline", lambda c, k: c.hset(k, "a", "b"), "_timeline is a hash, not a sorted set"),
    ("_evidence", lambda c, k: c.set(k, "x"), "_evidence is a string, not a hash"),
    ("", lambda c, k: c.rpush(k, "x"), f"profile_{IP}_{TW} is a list, not a hash"),
    (":OutTuples:symbols", lambda c, k: c.sadd(k, "x"), ":OutTuples:symbols is a set, not a hash"),
])
def test_a_needed_key_of_another_type_is_unexpected_data_naming_it(empty_redis, suffix, make, message):
    _bad_database(empty_redis.client(0))
    key = f"profile_{IP}_{TW}{suffix}"
    empty_redis.client(0).delete(key)
    make(empty_redis.client(0), key)
    data = _open(empty_redis)
    with pytest.raises(UnexpectedData) as info:
        export.timewindow_detail(data, IP, TW)
    assert str(info.value).endswith(message) and "\n" not in str(info.value)
    assert data.profiles()[0].ip == IP  # the tree is not affected
    summary = export.summary(data)  # the window keeps its row and says why
    row = summary["profiles"][0]["timewindows"][0]
    assert row["timeline"] is None and row["unavailable"].endswith(message)
    code, _, err = _export(empty_redis, "--profile", IP, "--timewindow", TW)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_auxiliary_keys_of_another_type_read_as_absent(empty_redis, caplog):
    c, cache = empty_redis.client(0), empty_redis.client(1)
    _bad_database(c)
    c.set("BlockedProfTW", "x")
    c.zadd("whitelisted_evidence", {"e1": 1.0})
    c.delete(f"profile_{IP}")
    c.rpush(f"profile_{IP}", "x")
    c.sadd("DNSresolution", "x")
    cache.set("IPsInfo:asn", "x")
    cache.hset("IPsInfo:geocountry", IP, "Czechia")
    with caplog.at_level(logging.WARNING, logger="kalipso"):
        data = _open(empty_redis)
        assert [p.ip for p in data.profiles()] == [IP, "10.0.0.6"]
        assert len(data.evidence(IP, TW)) == 4  # no whitelist
        assert data.host_info(IP).mac is None
        info = data.ip_info(IP)
        assert info.country == "Czechia" and info.asn_org is None  # the other kinds still read
    logged = caplog.text
    assert "BlockedProfTW" in logged and "whitelisted_evidence" in logged and f"profile_{IP}" in logged
    code, out, _ = _export(empty_redis)
    assert code == 0 and json.loads(out)["profiles"][0]["ip"] == IP


def test_non_finite_scores_give_no_time_and_strict_json(empty_redis):
    c = empty_redis.client(0)
    _bad_database(c)
    c.zadd(f"twsprofile_{IP}", {TW: float("inf")})
    c.zadd(f"profile_{IP}_{TW}_timeline", {json.dumps({"daddr": "9.9.9.9", "tot": 5}): float("-inf")})
    c.hset(f"profile_{IP}_{TW}_evidence", "e5", '{"confidence": 1e400, "timestamp": "nan"}')
    data = _open(empty_redis)
    first = data.timeline(IP, TW, 0, 1).items[0]
    assert first.daddr == "9.9.9.9" and first.ts is None
    tw = data.timewindow(IP, TW)
    assert tw.start is None and tw.end is None
    activity = data.activity(IP, tw)  # a window without a start: buckets from 0, no crash
    assert len(activity.flows) == 60 and activity.bytes is not None
    assert {e.id: e.confidence for e in data.evidence(IP, TW)}["e5"] is None
    for extra in ([], ["--profile", IP, "--timewindow", TW]):
        code, out, _ = _export(empty_redis, *extra)
        assert code == 0
        json.loads(out, parse_constant=lambda v: pytest.fail(f"{v} in JSON"))


def test_detection_of_empty_half_written_and_foreign_databases(empty_redis):
    c = empty_redis.client(0)
    with pytest.raises(EmptyDatabase, match="^the database is empty: waiting for Slips to write"):
        detect(c, "x")
    code, _, err = _export(empty_redis)
    assert code == 2 and err.startswith("kalipso: the database is empty") and err.count("\n") == 1
    c.hset("analysis", mapping={"slips_version": "1.1.21", "analysis_start": "now"})  # no profiles yet
    assert detect(c, "x") == ("current", "1.1.21")
    assert _open(empty_redis).profiles() == []
    c.delete("analysis")
    c.sadd("profiles", "profile_10.0.0.1")  # profiles but no version yet
    assert detect(c, "x")[0] in ("classic", "middle")
    c.set("analysis", "not a hash")  # an auxiliary key of another type
    assert detect(c, "x")[0] in ("classic", "middle")
    c.delete("profiles", "analysis")
    c.set("some", "thing")
    with pytest.raises(NotSlipsDatabase) as info:
        detect(c, "x")
    assert not isinstance(info.value, EmptyDatabase)


def test_a_paused_redis_is_slow_not_lost(empty_redis):
    _bad_database(empty_redis.client(0))
    data = _open(empty_redis, timeout=0.3)
    admin = empty_redis.client(0)
    admin.execute_command("CLIENT", "PAUSE", "1200", "ALL")
    try:
        with pytest.raises(SlowRedis, match="did not answer in time"):
            data.timeline(IP, TW)
    finally:
        time.sleep(1.3)
    assert data.timeline(IP, TW).total == 4


def test_a_flows_file_that_is_no_database(empty_redis, tmp_path):
    _bad_database(empty_redis.client(0))
    garbage = tmp_path / "flows.sqlite"
    garbage.write_bytes(b"\x1b[2J not a database " * 100)
    data = open_slips(ConnectionSettings(port=empty_redis.port), flows_db=str(garbage))
    activity = data.activity(IP, data.timewindow(IP, TW))
    assert activity.bytes_source == "timeline" and sum(activity.flows) == 4
    agg = data.aggregates(IP, TW)
    assert not agg.available and "cannot read" in agg.unavailable_reason
    for fmt in ("json", "text"):
        code, out, _ = _export(empty_redis, "--profile", IP, "--timewindow", TW, "--flows-db", str(garbage),
                               "--format", fmt)
        assert code == 0 and "\x1b" not in out


@pytest.mark.parametrize("members,expected", [
    # the fast way: every member starts with profile_
    (["profile_10.0.0.2", "profile_10.0.0.10", "profile_::1"], ["10.0.0.10", "10.0.0.2", "::1"]),
    # a member that is no profile, and members whose text holds what the fast way looks for
    (["profile_10.0.0.2", "garbage", 'x","profile_1.1.1.1', 'profile_a,"profile_b', "profile_é\x1b[2J"],
     ['a,"profile_b', "10.0.0.2", "é\x1b[2J"]),
    ([], []),
])
def test_tree_names_from_odd_members(empty_redis, members, expected):
    """The board's names read (one script, the prefix taken off the JSON text) gives the same
    names as the command-by-command read, for members a fast path could misread."""
    from kalipso.data import tree

    client = empty_redis.client(0)
    client.hset("analysis", mapping={"slips_version": "1.1.21"})
    for i, m in enumerate(members):
        client.zadd("profiles", {m: float(i)})
    data = _open(empty_redis)
    assert tree.profile_names(data) == sorted(expected)
    assert sorted(data._profile_ips()) == sorted(expected)
    tree._NO_LUA[data.r] = True  # where scripts are not allowed
    assert tree.profile_names(data) == sorted(expected)
