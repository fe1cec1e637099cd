"""Non-interactive export of a Slips analysis as JSON or text (``kalipso export``)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any, TextIO

from kalipso.data import SlipsData, UnexpectedData
from kalipso.data.models import AGGREGATE_NAMES, FlowAggregate
from kalipso.order import ip_sort_key
from kalipso.text import ascii_fallback, cell_width, fit, format_ts, sanitize


def summary(data: SlipsData, host_names: bool = False) -> dict[str, Any]:
    """Every profile and time window with their counts (profiles by IP string, windows by start).

    ``host_names`` adds a ``host_name`` to profiles where Slips knows one (text output). A
    window whose keys hold a type Slips does not write keeps its row: counts null and an
    ``unavailable`` reason, so one odd key does not lose the whole summary.
    """
    profiles = []
    every = sorted(data.profiles(), key=lambda p: p.ip)
    known = data.counts_many([(p.ip, tw.name) for p in every for tw in p.timewindows])
    for profile in every:
        windows = []
        for tw in profile.timewindows:
            row: dict[str, Any] = {"name": tw.name, "number": tw.number, "start": tw.start,
                                   "malicious": tw.malicious}
            try:  # a window the batch could not read: counts() says why
                counts = known.get((profile.ip, tw.name)) or data.counts(profile.ip, tw.name)
                row.update(timeline=counts.timeline, evidence=counts.evidence, alerts=counts.alerts,
                           out_tuples=counts.out_tuples)
            except UnexpectedData as exc:
                row.update(timeline=None, evidence=None, alerts=None, out_tuples=None, unavailable=str(exc))
            windows.append(row)
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


def strict(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json(doc: dict[str, Any], out: TextIO) -> None:
    """Strict JSON (no NaN/Infinity) in pure ASCII: every non-ASCII character, C1 controls and
    bidi overrides included, is a \\u escape, and json escapes ESC and the other C0 controls.
    So the bytes are safe to print on any terminal, while a JSON reader gets the exact strings."""
    json.dump(strict(doc), out, indent=1, ensure_ascii=True, allow_nan=False)
    out.write("\n")


def _writer(out: TextIO) -> Callable[[str], Any]:
    """``out.write``; for an output that is not UTF-8 (LANG with Latin-1, PYTHONIOENCODING=ascii)
    every non-ASCII glyph goes through ascii_fallback instead of failing to encode."""
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    if encoding.startswith("utf"):
        return out.write
    return lambda text: out.write(ascii_fallback(text))


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def _col(value: Any, width: int, cut: bool = False) -> str:
    """Sanitised text padded to ``width`` terminal cells (wide characters count two). Longer
    text is kept whole, so no data is lost, unless ``cut``: then it ends in '…' at ``width``."""
    text = sanitize(value)
    if cut and cell_width(text) > width:
        text = fit(text, width - 1) + "…"
    return text + " " * max(0, width - cell_width(text))


def write_summary_text(doc: dict[str, Any], out: TextIO) -> None:
    """The summary as a table; every string from Slips is sanitised and padded by cells."""
    w = _writer(out)
    w(f"Slips {sanitize(doc['slips_version'] or '?', 40)} ({sanitize(doc['schema'])} schema), "
      f"{len(doc['profiles'])} profiles\n\n")
    w(f"{'profile':<40} {'time window':<20} {'start':<19} {'timeline':>8} "
      f"{'evidence':>8} {'alerts':>6} {'tuples':>6}\n")
    for p in sorted(doc["profiles"], key=lambda p: ip_sort_key(p["ip"])):  # 10.0.2.2 before 10.0.2.255
        name = _col(p["ip"] + (f" ({p['host_name']})" if p.get("host_name") else ""), 40, cut=True)
        if not p["timewindows"]:
            w(f"{name} (no time windows)\n")
        for tw in p["timewindows"]:
            mark = "!" if tw["malicious"] else " "
            w(f"{name} {mark}{_col(tw['name'], 19)} {format_ts(tw['start']):<19} "
              f"{_n(tw['timeline']):>8} {_n(tw['evidence']):>8} {_n(tw['alerts']):>6} {_n(tw['out_tuples']):>6}")
            w(f"  unavailable: {sanitize(tw['unavailable'], 200)}\n" if tw.get("unavailable") else "\n")
            name = " " * 40


def write_detail_text(doc: dict[str, Any], out: TextIO) -> None:
    """One time window as text; every string from Slips (or its flows file) is sanitised."""
    w = _writer(out)
    s = sanitize
    w(f"Profile {s(doc['profile'])}  {s(doc['name'])}  {format_ts(doc['start'])} - "
      f"{format_ts(doc['end'])}{'  MALICIOUS' if doc['malicious'] else ''}\n")
    host = doc["host"]
    if host.get("host_name") or host.get("mac"):
        w(f"Host: {s(host.get('host_name') or '-')}  MAC: {s(host.get('mac') or '-')}\n")
    w(f"\nTimeline ({len(doc['timeline'])} lines)\n")
    for e in doc["timeline"]:
        if e.get("malformed"):
            w(f"  [malformed] {s(e['raw'], 200)}\n")
            continue
        w(f"  {s(e['timestamp'])} {s(e['dport_name'])} [{s(e['daddr'])}] "
          f"{s(e['dport_proto'])} {s(e['state'])} sent:{s(e['sent'])} "
          f"recv:{s(e['recv'])} {s(e['warning'])} {s(e['critical_warning'])}".rstrip() + "\n")
    w(f"\nEvidence ({len(doc['evidence'])})\n")
    for e in doc["evidence"]:
        w(f"  {_col(e['threat_level'], 8)} {s(e['evidence_type'])}: {s(e['description'], 300)}\n")
    w(f"\nAlerts ({len(doc['alerts'])})\n")
    for a in doc["alerts"]:
        w(f"  {s(a['id'])}: {len(a['evidence_ids'])} evidence\n")
    w(f"\nOut tuples ({len(doc['out_tuples'])})\n")
    for t in doc["out_tuples"]:
        w(f"  {_col(t['tuple_id'], 45)} {s(t['letters'], 200)}\n")
    if doc.get("aggregates_unavailable"):
        w(f"\nPort/IP tables: not available: {s(doc['aggregates_unavailable'])}\n")
        return
    for name, rows in doc["aggregates"].items():
        w(f"\n{s(name)} ({len(rows)} rows)\n")
        w(f"  {'key':<45} {'proto':<6} {'state':<16} {'flows':>8} {'packets':>10} {'bytes':>12}\n")
        for r in rows:
            w(f"  {_col(r['key'], 45)} {_col(r['proto'], 6)} {_col(r['state'], 16)} {_n(r.get('flows')):>8} "
              f"{_n(r.get('packets')):>10} {_n(r.get('bytes')):>12}\n")
