"""Tolerant parsers of the values Slips writes into Redis.

Slips values are untrusted (derived from traffic) and their shape changed between versions.
Every parser here accepts anything and never raises: a value of an unexpected shape becomes
a row marked ``malformed`` or a missing field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from kalipso.data.models import (
    AGGREGATE_NAMES,
    ESTABLISHED,
    NOT_ESTABLISHED,
    Evidence,
    FlowAggregate,
    IPInfo,
    OutTuple,
    TimelineEntry,
)

MAX_FIELD = 4096


def decode(value: Any) -> str:
    """bytes/str/None -> str; invalid UTF-8 is replaced, never raised."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def loads(value: Any) -> Any:
    """JSON-decode a Slips value; None when it is not JSON."""
    text = decode(value)
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def to_float(value: Any) -> float | None:
    """A finite float, or None: NaN, +-inf and numbers beyond a float ('1e400') are no value.

    Slips never writes them; a fault or an attacker can, and strict JSON cannot carry them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 10 ** 308 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        result = float(decode(value).strip())
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def to_int(value: Any) -> int | None:
    number = to_float(value)
    return int(number) if number is not None else None


def text(value: Any, limit: int = MAX_FIELD) -> str:
    """Any JSON value as display text: lists joined with ', ', None/False as ''."""
    if value is None or value is False:
        return ""
    if isinstance(value, list):
        return ", ".join(text(v, limit) for v in value if v not in (None, ""))[:limit]
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)[:limit]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return decode(value)[:limit]


_TW_NUMBER = re.compile(r"timewindow(-?\d{1,18})$")


def timewindow_number(name: str) -> int | None:
    """'timewindow-3' -> -3; None for a name of another form (or a number no window has)."""
    match = _TW_NUMBER.search(name)
    return int(match.group(1)) if match else None


def timeline_entry(member: Any, score: Any) -> TimelineEntry:
    """One member of a ``..._timeline`` zset; ``ts`` is None for a score that is no time (+-inf)."""
    ts = to_float(score)
    raw = decode(member)
    data = loads(raw)
    if not isinstance(data, dict):
        return TimelineEntry(ts=ts, malformed=True, raw=raw[:MAX_FIELD])
    info = data.get("info")
    info_pairs: tuple[tuple[str, str], ...] = ()
    if isinstance(info, dict):
        info_pairs = tuple((text(k, 64), text(v)) for k, v in info.items() if v not in (None, "", []))
    elif info not in (None, "", False):
        info_pairs = (("info", text(info)),)
    return TimelineEntry(
        ts=ts,
        timestamp=text(data.get("timestamp")),
        daddr=text(data.get("daddr")),
        saddr=text(data.get("saddr")),
        preposition=text(data.get("preposition")),
        dport_name=text(data.get("dport_name")),
        dport_proto=text(data.get("dport/proto")),
        state=text(data.get("state")),
        dns_resolution=text(data.get("dns_resolution")),
        sent=text(data.get("sent")),
        recv=text(data.get("recv")),
        tot=text(data.get("tot")),
        duration=text(data.get("duration")),
        warning=text(data.get("warning")),
        critical_warning=text(data.get("critical warning")),
        info=info_pairs,
        raw=raw[:MAX_FIELD],
    )


def _ioc_value(value: Any) -> str:
    # current Slips: {"value": ip, ...}; classic Slips: a plain string
    if isinstance(value, dict):
        return text(value.get("value"))
    return text(value)


def evidence(evidence_id: Any, value: Any) -> Evidence:
    """One evidence JSON, classic (``ID``, ``stime``) or current (``id``, ``timestamp``)."""
    eid = decode(evidence_id)
    data = loads(value)
    if isinstance(data, str):  # classic Slips double-encodes inside the Evidence field
        data = loads(data)
    if not isinstance(data, dict):
        return Evidence(id=eid, description=decode(value)[:MAX_FIELD], malformed=True)
    stamp = data.get("timestamp", data.get("stime"))
    confidence = data.get("confidence")
    return Evidence(
        id=text(data.get("id") or data.get("ID") or eid),
        evidence_type=text(data.get("evidence_type") or data.get("type_evidence")),
        description=text(data.get("description")),
        threat_level=text(data.get("threat_level")).lower(),
        confidence=to_float(confidence),
        timestamp=text(stamp),
        ts=to_float(stamp),
        attacker=_ioc_value(data.get("attacker")),
        victim=_ioc_value(data.get("victim")),
        category=text(data.get("category")),
        uids=tuple(u for u in _strings(data.get("uid"))[:10000] if u),
        profile_ip=_evidence_profile(data),
        extra=_evidence_extra(data),
    )


# Evidence keys shown by their own Evidence field (or known from the selection).
_EVIDENCE_MAPPED = {"id", "ID", "evidence_type", "type_evidence", "description", "threat_level",
                    "confidence", "timestamp", "stime", "attacker", "victim", "category", "uid",
                    "profile", "profileid", "timewindow", "twid"}


def _evidence_profile(data: dict[str, Any]) -> str:
    profile = data.get("profile")  # current: {"ip": ...}; classic: "profileid": "profile_<ip>"
    if isinstance(profile, dict):
        return text(profile.get("ip"))
    return text(data.get("profileid") or profile).removeprefix("profile_")


def _evidence_extra(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every other non-empty field, e.g. ('dst_port', '443'), ('victim queries', 'a.com')."""
    pairs = []
    for key, value in data.items():
        if key in ("attacker", "victim") and isinstance(value, dict):
            pairs += [(f"{key} {text(k, 64)}", text(v)) for k, v in value.items()
                      if k not in ("value", "profile") and v not in (None, "", False, [], {})]
        elif key not in _EVIDENCE_MAPPED and value not in (None, "", False, [], {}):
            pairs.append((text(key, 64), text(value)))
    return tuple(pairs[:64])


def alert_ids(value: Any) -> dict[str, tuple[str, ...]]:
    """The ``alerts`` field of a time-window hash: alert id -> evidence ids.

    Current Slips double-encodes the inner list; classic Slips prefixes the alert id with
    ``profile_<ip>_timewindow<N>_``. Both are accepted.
    """
    data = loads(value)
    if not isinstance(data, dict):
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for alert_id, inner in data.items():
        if isinstance(inner, str):
            inner = loads(inner)
        ids = tuple(text(i) for i in inner) if isinstance(inner, list) else ()
        result[text(alert_id)] = ids
    return result


def out_tuple(tuple_id: Any, letters: Any) -> OutTuple:
    """``<daddr>-<dport>-<proto>`` and its letters (IPv6 addresses hold no '-')."""
    tid = decode(tuple_id)
    parts = tid.rsplit("-", 2)
    daddr, dport, proto = parts if len(parts) == 3 else (tid, "", "")
    return OutTuple(tuple_id=tid, daddr=daddr, dport=dport, proto=proto, letters=text(letters))


def out_tuples_json(value: Any) -> list[OutTuple]:
    """Field ``OutTuples`` of classic/middle Slips: ``{tuple: [letters, [t1, t2]]}``."""
    data = loads(value)
    if not isinstance(data, dict):
        return []
    tuples = []
    for tid, entry in data.items():
        letters = entry[0] if isinstance(entry, list) and entry else entry
        tuples.append(out_tuple(tid, letters if isinstance(letters, str) else ""))
    return tuples


def _sni_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return (text(value),) if value else ()
    names = []
    for item in value:
        name = text(item.get("server_name")) if isinstance(item, dict) else text(item)
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(text(v) for v in value if v not in (None, ""))
    return (text(value),) if value not in (None, "", False) else ()


def ip_info(ip: str, data: dict[str, Any], threat_level: str | None = None) -> IPInfo:
    """Merge Slips' IP-info fields (one JSON object, or per-kind values) into an IPInfo."""
    asn = data.get("asn")
    asn_number = asn_org = None
    if isinstance(asn, dict):
        asn_number = text(asn.get("number") or asn.get("asn")) or None
        asn_org = text(asn.get("org") or asn.get("asnorg")) or None
    elif asn:
        asn_org = text(asn)
    vt = data.get("VirusTotal")
    vt_pairs: tuple[tuple[str, str], ...] = ()
    if isinstance(vt, dict):
        vt_pairs = tuple((text(k), text(v)) for k, v in vt.items() if k != "timestamp")
    ti = data.get("threatintelligence")
    if isinstance(ti, dict):
        ti = " ".join(p for p in (text(ti.get("threat_level")), text(ti.get("description")),
                                  f"({text(ti.get('source'))})" if ti.get("source") else "") if p)
    confidence = text(data.get("confidence"))
    if confidence.startswith("confidence:"):
        confidence = confidence.split(":", 1)[1].strip()
    return IPInfo(
        ip=ip,
        asn_number=asn_number,
        asn_org=asn_org if asn_org != "Unknown" else None,
        country=text(data.get("geocountry")) or None,
        reverse_dns=text(data.get("reverse_dns")) or None,
        sni=_sni_names(data.get("SNI")),
        domains=_strings(data.get("DNS_resolution")),
        virustotal=vt_pairs,
        threat_intelligence=text(ti) or None,
        score=text(data.get("score")) or None,
        confidence=confidence or None,
        threat_level=threat_level,
    )


# "DstPortsClientTCPNot Established" -> (Dst, Ports, Client, TCP, Not Established)
_AGGREGATE_FIELD = re.compile(
    r"^(Dst|Src)(Ports|IPs)(Client|Server)([A-Za-z0-9-]+?)(Not ?Established|Established)$"
)
_FIELD_TABLES = {
    ("Src", "Ports", "Client"): "src_ports_client",
    ("Dst", "IPs", "Client"): "dst_ips_client",
    ("Dst", "Ports", "Server"): "dst_ports_server",
    ("Dst", "Ports", "Client"): "dst_ports_client",
}


def aggregate_field(field_name: str, value: Any) -> list[tuple[str, FlowAggregate]]:
    """Rows of one classic/middle aggregate field, as (table name, row) pairs."""
    match = _AGGREGATE_FIELD.match(field_name)
    if not match:
        return []
    direction, kind, role, proto, state = match.groups()
    table = _FIELD_TABLES.get((direction, kind, role))
    data = loads(value)
    if table is None or not isinstance(data, dict):
        return []
    state_name = ESTABLISHED if state == "Established" else NOT_ESTABLISHED
    proto = proto.lower()
    rows: list[tuple[str, FlowAggregate]] = []
    for key, entry in data.items():
        if not isinstance(entry, dict):
            continue
        rows.append((table, FlowAggregate(
            key=text(key), proto=proto, state=state_name,
            flows=to_int(entry.get("totalflows")),
            packets=to_int(entry.get("totalpkt")),
            bytes=to_int(entry.get("totalbytes")),
        )))
        if table == "dst_ports_client" and isinstance(entry.get("dstips"), dict):
            for ip, per_ip in entry["dstips"].items():
                pkts = to_int(per_ip.get("pkts")) if isinstance(per_ip, dict) else None
                rows.append(("dst_ports_client_ips", FlowAggregate(
                    key=f"{text(ip)}:{text(key)}", proto=proto, state=state_name,
                    flows=None, packets=pkts, bytes=None)))
    return rows


def merge_aggregates(rows: list[tuple[str, FlowAggregate]]) -> dict[str, tuple[FlowAggregate, ...]]:
    """Group (table, row) pairs into the five tables, summing rows with the same key."""
    merged: dict[str, dict[tuple[str, str, str], FlowAggregate]] = {n: {} for n in AGGREGATE_NAMES}
    for table, row in rows:
        ident = (row.key, row.proto, row.state)
        old = merged[table].get(ident)
        if old is not None:
            row = FlowAggregate(row.key, row.proto, row.state,
                                _add(old.flows, row.flows), _add(old.packets, row.packets),
                                _add(old.bytes, row.bytes))
        merged[table][ident] = row
    return {name: tuple(sorted(rows_.values(), key=_row_order)) for name, rows_ in merged.items()}


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def _row_order(row: FlowAggregate) -> tuple:
    return (row.state, row.proto, -(row.flows or 0), -(row.packets or 0), row.key)


def established(zeek_state: Any) -> str:
    """Slips' rule on a Zeek conn_state: established or not established.

    S0 REJ RSTOS0 RSTRH SH SHR are not established; S1 SF S2 S3 RSTO RSTP OTH are. Any other
    state (RSTR, for example) is not established, as Slips decides on the real data.
    """
    state = decode(zeek_state).strip()
    if state in ("S1", "SF", "S2", "S3", "RSTO", "RSTP", "OTH") or state.lower() == "established":
        return ESTABLISHED
    return NOT_ESTABLISHED
