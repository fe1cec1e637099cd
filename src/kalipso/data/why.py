"""Why: the flows behind one evidence, where Slips kept them; otherwise the timeline lines of the
same time window to the same target. Read-only.

Where Slips keeps what (../shared/fixtures/SCHEMA-*.md):

* current and middle Slips: hash ``flows_causing_evidence`` maps an evidence id to a JSON list
  of Zeek flow uids (600 s key TTL in 1.1.17+, so often gone in a saved file). The evidence JSON
  carries the same uids in ``uid`` (same lists in every fixture). The flows themselves are in
  Slips' SQLite flows database (``flows``: conn flows; ``altflows``: dns, http, ssl, ...).
* classic Slips: the uid is in the evidence JSON; the flows are Redis hashes
  ``profile_<ip>_timewindow<N>_flows`` and ``..._altflows`` (uid -> JSON).

When none of the named flows can be read (no uids, flows file missing, flows deleted), the
result holds the timeline lines of the window whose peer is the evidence's target instead,
and ``source`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from kalipso.data import parse
from kalipso.data.access import SlipsData, guarded
from kalipso.data.models import Evidence, TimelineEntry
from kalipso.text import format_ts, human_bytes
from kalipso.triage import evidence_target

FLOWS = "flows"
TIMELINE = "timeline"
NOTHING = "none"
FLOWS_SOURCE = "flows Slips recorded for this evidence"
TIMELINE_SOURCE = "timeline lines to the same target (Slips kept no flow ids)"
TIMELINE_UNREADABLE_SOURCE = "timeline lines to the same target (the flows Slips named are not readable)"
PORT_SOURCE = "timeline lines to the same port (Slips kept no flow ids and names no target)"
NOTHING_SOURCE = "nothing to show: Slips kept no flow ids and the evidence names no target"
MAX_UIDS = 500  # e.g. MULTIPLE_RECONNECTION_ATTEMPTS lists every reconnection
MAX_TIMELINE = 2000


@dataclass(frozen=True)
class RecordedFlow:
    """One flow Slips recorded (a Zeek conn, dns, http, ssl, ... record), from SQLite or Redis.

    ``summary`` is one readable line; ``fields`` every field of the flow as (name, text), for a
    detail box (``kalipso.triage.detail_fields`` returns them).
    """

    uid: str
    kind: str
    ts: float | None
    summary: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WhyResult:
    """What lies behind one evidence.

    ``kind``: ``"flows"`` (``flows`` holds the recorded flows), ``"timeline"`` (``timeline``
    holds the window's timeline lines whose peer is ``target``) or ``"none"``. ``source``
    says the same in words, for the screen. ``uids`` are the flow ids Slips kept and
    ``uids_from`` where they came from (``"flows_causing_evidence"``, ``"evidence"`` or '').
    ``missing`` counts uids whose flow was not found; ``note`` explains a fallback or a cap.
    """

    kind: str
    source: str
    target: str
    uids: tuple[str, ...] = ()
    uids_from: str = ""
    flows: tuple[RecordedFlow, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    missing: int = 0
    note: str = ""


def evidence_flows(data: SlipsData, ip: str, tw: str, evidence: Evidence) -> WhyResult:
    """The flows behind ``evidence`` of profile ``ip`` in time window ``tw`` (see the module).

    Raises ConnectionLost (like every SlipsData read) when Redis stops answering.
    """
    return guarded(_evidence_flows)(data, ip, tw, evidence)


def _evidence_flows(data: SlipsData, ip: str, tw: str, evidence: Evidence) -> WhyResult:
    target = evidence_target(evidence)
    uids, uids_from = _uids(data, evidence)
    note = ""
    if uids:
        found, reason = _lookup(data, ip, tw, uids[:MAX_UIDS])
        if found:
            flows = tuple(sorted(found.values(), key=lambda f: (f.ts is None, f.ts or 0.0, f.uid)))
            missing = len(uids[:MAX_UIDS]) - len(flows)
            notes = [f"{missing} of the {len(uids)} flows are no longer recorded" if missing else "",
                     f"showing the first {MAX_UIDS} of {len(uids)} flow ids" if len(uids) > MAX_UIDS else ""]
            return WhyResult(FLOWS, FLOWS_SOURCE, target, uids, uids_from, flows=flows, missing=missing,
                             note="; ".join(n for n in notes if n))
        note = reason or f"none of the {len(uids)} flows Slips named is recorded any more"
    port = dict(evidence.extra).get("dst_port", "")
    if not target and port.isdigit():  # a scan names a port, not a target
        proto = dict(evidence.extra).get("proto", "").upper()
        wanted = {f"{port}/{proto}"} if proto and proto != "FALSE" else None
        lines, capped = _timeline_matching(data, ip, tw, f"{port}/", lambda e: (
            e.dport_proto.upper() in wanted if wanted else e.dport_proto.startswith(f"{port}/")))
        notes = [note, f"showing the first {MAX_TIMELINE} lines" if capped else ""]
        return WhyResult(TIMELINE, PORT_SOURCE, target, uids, uids_from, timeline=lines,
                         missing=len(uids), note="; ".join(n for n in notes if n))
    if not target:
        return WhyResult(NOTHING, NOTHING_SOURCE if not uids else
                         "nothing to show: the flows Slips named are not readable and the evidence names no target",
                         target, uids, uids_from, missing=len(uids), note=note)
    lines, capped = _timeline_matching(data, ip, tw, target,
                                       lambda e: target in (e.peer, e.daddr, e.saddr))
    if capped:
        note = "; ".join(n for n in (note, f"showing the first {MAX_TIMELINE} lines") if n)
    return WhyResult(TIMELINE, TIMELINE_UNREADABLE_SOURCE if uids else TIMELINE_SOURCE, target, uids,
                     uids_from, timeline=lines, missing=len(uids), note=note)


def _uids(data: SlipsData, evidence: Evidence) -> tuple[tuple[str, ...], str]:
    """The flow uids of an evidence: flows_causing_evidence first, the evidence JSON second."""
    try:
        value = data.r.hget("flows_causing_evidence", evidence.id) if evidence.id else None
    except redis.ResponseError:  # not a hash: as if it had expired
        value = None
    listed = parse.loads(value)
    if isinstance(listed, str):
        listed = [listed]
    if isinstance(listed, list):
        uids = tuple(dict.fromkeys(parse.text(u, 64) for u in listed if u and isinstance(u, str)))
        if uids:
            return uids, "flows_causing_evidence"
    uids = tuple(dict.fromkeys(u for u in evidence.uids if u))
    return uids, "evidence" if uids else ""


def _lookup(data: SlipsData, ip: str, tw: str, uids: Sequence[str]) -> tuple[dict[str, RecordedFlow], str]:
    """uid -> flow for the uids found, and why none could be read ('' when some were)."""
    found: dict[str, RecordedFlow] = {}
    if data.schema == "classic":
        for suffix in ("_flows", "_altflows"):
            rest = [u for u in uids if u not in found]
            if not rest:
                break
            try:
                values = data.r.hmget(f"profile_{ip}_{tw}{suffix}", rest)
            except redis.ResponseError:
                continue
            for uid, value in zip(rest, values, strict=False):
                flow = parse.loads(value)
                if isinstance(flow, dict):
                    kind = parse.text(flow.get("flow_type") or flow.get("type") or flow.get("type_")) or (
                        "conn" if suffix == "_flows" else "other")
                    found[uid] = recorded_flow(uid, kind, flow)
        return found, "" if found else "Slips no longer holds these flows in Redis"
    db = data.flows_db
    if db is None:
        return {}, data.flows_unavailable_reason or "Slips' flows database is not readable"
    for uid, (kind, flow) in db.flows_by_uids(uids).items():
        found[uid] = recorded_flow(uid, kind, flow)
    return found, ""


def _timeline_matching(data: SlipsData, ip: str, tw: str, needle: str,
                       keep: Callable[[TimelineEntry], bool]) -> tuple[tuple[TimelineEntry, ...], bool]:
    """The window's timeline lines that contain ``needle`` (matched by Redis, so a long timeline
    is not sent whole) and that ``keep`` accepts, oldest first; and whether the cap was hit."""
    key = f"profile_{ip}_{tw}_timeline"
    pattern = "*" + "".join("\\" + c if c in "*?[]\\" else c for c in needle) + "*"
    entries = []
    capped = False
    try:
        for member, score in data.r.zscan_iter(key, match=pattern, count=1000):
            entry = parse.timeline_entry(member, score)
            if not entry.malformed and keep(entry):
                entries.append(entry)
                if len(entries) >= MAX_TIMELINE:
                    capped = True
                    break
    except redis.ResponseError:  # not a zset
        return (), False
    entries.sort(key=lambda e: (getattr(e, "ts", None) is None, getattr(e, "ts", None) or 0.0))
    return tuple(entries), capped


def _time_of(flow: dict[str, Any]) -> float | None:
    for name in ("starttime", "ts", "stime"):
        value = parse.to_float(flow.get(name))
        if value is not None:
            return value
    return None


def recorded_flow(uid: str, kind: str, flow: dict[str, Any]) -> RecordedFlow:
    """A flow JSON (current SQLite or classic Redis shape) as a RecordedFlow."""
    ts = _time_of(flow)
    get = lambda *names: next((parse.text(flow[n]) for n in names if flow.get(n) not in (None, "", [])), "")  # noqa: E731
    src = ":".join(p for p in (get("saddr"), get("sport")) if p)
    dst = ":".join(p for p in (get("daddr"), get("dport")) if p)
    parts = [kind, f"{src} -> {dst}" if src or dst else "", get("proto"), get("origstate", "state")]
    total = parse.to_int(flow.get("bytes", flow.get("allbytes")))
    if kind == "conn" and total is not None:
        parts.append(human_bytes(total))
    parts.append(get("query", "server_name", "host") + get("uri"))
    fields = [("time", format_ts(ts) if ts is not None else ""), ("uid", uid), ("kind", kind)]
    fields += [(parse.text(k, 64), parse.text(v)) for k, v in flow.items()
               if k not in ("uid",) and v not in (None, "", [], {})]
    return RecordedFlow(uid=uid, kind=kind, ts=ts, summary=" ".join(p for p in parts if p),
                        fields=tuple((k, v) for k, v in fields if v))
