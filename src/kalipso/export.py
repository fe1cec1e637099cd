"""Non-interactive export of a Slips analysis as JSON or text (``kalipso export``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from kalipso.data import SlipsData
from kalipso.data.models import AGGREGATE_NAMES, FlowAggregate
from kalipso.text import format_ts, sanitize


def summary(data: SlipsData, host_names: bool = False) -> dict[str, Any]:
    """Every profile and time window with their counts (profiles by IP string, windows by start).

    ``host_names`` adds a ``host_name`` to profiles where Slips knows one (text output).
    """
    profiles = []
    for profile in sorted(data.profiles(), key=lambda p: p.ip):
        windows = []
        for tw in profile.timewindows:
            counts = data.counts(profile.ip, tw.name)
            windows.append({
                "name": tw.name, "number": tw.number, "start": tw.start,
                "malicious": tw.malicious, "timeline": counts.timeline,
                "evidence": counts.evidence, "alerts": counts.alerts,
                "out_tuples": counts.out_tuples,
            })
        entry: dict[str, Any] = {"ip": profile.ip, "timewindows": windows}
        if host_names and profile.host_name:
            entry["host_name"] = profile.host_name
        profiles.append(entry)
    return {"schema": data.schema, "slips_version": data.analysis.slips_version,
            "profiles": profiles}


def aggregate_row(row: FlowAggregate) -> dict[str, Any]:
    """A table row as exported; counts Slips did not store are left out, not zeroed."""
    return {k: v for k, v in dataclasses.asdict(row).items() if v is not None}


def timewindow_detail(data: SlipsData, ip: str, tw_name: str) -> dict[str, Any]:
    """One time window in full. Raises UnknownProfile / UnknownTimeWindow."""
    tw = data.timewindow(ip, tw_name)
    counts = data.counts(ip, tw_name)
    timeline = data.timeline(ip, tw_name, 0, counts.timeline)
    aggregates = data.aggregates(ip, tw_name)
    result: dict[str, Any] = {
        "schema": data.schema, "slips_version": data.analysis.slips_version,
        "profile": ip, "name": tw.name, "number": tw.number, "start": tw.start, "end": tw.end,
        "malicious": tw.malicious, "blocked": tw.blocked,
        "counts": dataclasses.asdict(counts),
        "timeline": [_entry(e) for e in timeline.items],
        "evidence": [dataclasses.asdict(e) for e in data.evidence(ip, tw_name)],
        "alerts": [dataclasses.asdict(a) for a in data.alerts(ip, tw_name)],
        "out_tuples": [dataclasses.asdict(t) for t in data.out_tuples(ip, tw_name)],
        "ip_info": dataclasses.asdict(data.ip_info(ip)),
        "host": dataclasses.asdict(data.host_info(ip)),
        "aggregates_source": aggregates.source,
        "aggregates": {name: [aggregate_row(r) for r in aggregates.table(name)]
                       for name in AGGREGATE_NAMES},
    }
    if not aggregates.available:
        result["aggregates_unavailable"] = aggregates.unavailable_reason
    return result


def _entry(entry: Any) -> dict[str, Any]:
    d = dataclasses.asdict(entry)
    d["info"] = dict(entry.info)
    if not entry.malformed:
        d.pop("raw")
    return d


def write_json(doc: dict[str, Any], out: TextIO) -> None:
    json.dump(doc, out, indent=1, ensure_ascii=True)
    out.write("\n")


def write_summary_text(doc: dict[str, Any], out: TextIO) -> None:
    out.write(f"Slips {sanitize(doc['slips_version'] or '?')} ({doc['schema']} schema), "
              f"{len(doc['profiles'])} profiles\n\n")
    out.write(f"{'profile':<40} {'time window':<20} {'start':<19} {'timeline':>8} "
              f"{'evidence':>8} {'alerts':>6} {'tuples':>6}\n")
    for p in doc["profiles"]:
        name = sanitize(p["ip"] + (f" ({p['host_name']})" if p.get("host_name") else ""), 40)
        if not p["timewindows"]:
            out.write(f"{name:<40} (no time windows)\n")
        for tw in p["timewindows"]:
            mark = "!" if tw["malicious"] else " "
            out.write(f"{name:<40} {mark}{tw['name']:<19} {format_ts(tw['start']):<19} "
                      f"{tw['timeline']:>8} {tw['evidence']:>8} {tw['alerts']:>6} {tw['out_tuples']:>6}\n")
            name = ""


def write_detail_text(doc: dict[str, Any], out: TextIO) -> None:
    w = out.write
    w(f"Profile {sanitize(doc['profile'])}  {doc['name']}  {format_ts(doc['start'])} - "
      f"{format_ts(doc['end'])}{'  MALICIOUS' if doc['malicious'] else ''}\n")
    host = doc["host"]
    if host.get("host_name") or host.get("mac"):
        w(f"Host: {sanitize(host.get('host_name') or '-')}  MAC: {sanitize(host.get('mac') or '-')}\n")
    w(f"\nTimeline ({len(doc['timeline'])} lines)\n")
    for e in doc["timeline"]:
        if e.get("malformed"):
            w(f"  [malformed] {sanitize(e['raw'], 200)}\n")
            continue
        w(f"  {sanitize(e['timestamp'])} {sanitize(e['dport_name'])} [{sanitize(e['daddr'])}] "
          f"{sanitize(e['dport_proto'])} {sanitize(e['state'])} sent:{sanitize(e['sent'])} "
          f"recv:{sanitize(e['recv'])} {sanitize(e['warning'])} {sanitize(e['critical_warning'])}\n".rstrip() + "\n")
    w(f"\nEvidence ({len(doc['evidence'])})\n")
    for e in doc["evidence"]:
        w(f"  {sanitize(e['threat_level']):<8} {sanitize(e['evidence_type'])}: {sanitize(e['description'], 300)}\n")
    w(f"\nAlerts ({len(doc['alerts'])})\n")
    for a in doc["alerts"]:
        w(f"  {sanitize(a['id'])}: {len(a['evidence_ids'])} evidence\n")
    w(f"\nOut tuples ({len(doc['out_tuples'])})\n")
    for t in doc["out_tuples"]:
        w(f"  {sanitize(t['tuple_id']):<45} {sanitize(t['letters'], 200)}\n")
    if doc.get("aggregates_unavailable"):
        w(f"\nPort/IP tables: not available: {sanitize(doc['aggregates_unavailable'])}\n")
        return
    for name, rows in doc["aggregates"].items():
        w(f"\n{name} ({len(rows)} rows)\n")
        w(f"  {'key':<45} {'proto':<6} {'state':<16} {'flows':>8} {'packets':>10} {'bytes':>12}\n")
        for r in rows:
            w(f"  {sanitize(r['key']):<45} {r['proto']:<6} {r['state']:<16} {r.get('flows', '-'):>8} "
              f"{r.get('packets', '-'):>10} {r.get('bytes', '-'):>12}\n")
