"""The lines of the main board's panes, built from the board's state. Pure: no curses.

The widgets in kalipso.ui draw these lines; they never look inside a Slips value.
"""

from __future__ import annotations

from dataclasses import fields

from kalipso.board import Board, TreeRow
from kalipso.data.models import Evidence, IPInfo, TimelineEntry, threat_rank
from kalipso.text import format_ts
from kalipso.views.base import Line, line


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 alert', '2 alerts', '1,599 evidence' (many=word for uncountables)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def threat_style(level: str | None) -> str:
    rank = threat_rank(level)
    return "critical" if rank >= 4 else "malicious" if rank >= 3 else "warning" if rank >= 2 else "normal"


# ------------------------------------------------------------------------ tree
def tree_line(board: Board, row: TreeRow, glyphs: dict[str, str]) -> Line:
    if row.tw is None:
        bad = board.malicious(row.ip)
        expanded = row.ip in board.expanded
        loading = expanded and board.profile_windows(row.ip) is None
        sign = "…" if loading else "-" if expanded else "+"
        host = board.host_name(row.ip)
        detail = board.details.get(row.ip)
        count = f" ({detail[1].window_count})" if detail and not expanded else ""
        return line((f"{sign}{'!' if bad else ' '}", "malicious" if bad else "dim"),
                    (row.ip, "malicious" if bad else "normal"),
                    (f" {host}" if host else "", "domain"), (count, "dim"))
    tw = board.window(row.ip, row.tw)
    if tw is None:
        return line(("   " + row.tw + " (gone)", "dim"))
    current = board.selected == (row.ip, row.tw)
    alerts = board.marks(row.ip).get(row.tw, tw.alert_count)
    bad = tw.malicious or row.tw in board.marks(row.ip)
    mark = "!" if bad else (glyphs["current"] if current else " ")
    style = "malicious" if bad else ("title" if current else "normal")
    return line(f"  {mark}", (f"{tw.name} ", style), (format_ts(tw.start, "%m-%d %H:%M"), "dim"),
                (f" {plural(alerts, 'alert')}" if alerts else "", "malicious"))


# -------------------------------------------------------------------- timeline
def timeline_line(e: TimelineEntry, glyphs: dict[str, str]) -> Line:
    """One timeline entry as Slips' Kalipso showed it, plus the state it dropped."""
    if e.malformed:
        return line(("[unreadable line] ", "warning"), (e.raw, "dim"))
    parts: list[tuple[str, str]] = [(e.timestamp[:19] + " ", "dim")]
    if e.dport_name and e.dport_name not in ("????", "-"):
        parts.append((e.dport_name + " ", "domain"))
    if e.dns_resolution and e.dns_resolution not in ("????", "-"):
        parts.append((e.dns_resolution + " ", "domain"))
    parts.append((f"[{e.peer}] ", "ip"))
    parts.append((e.dport_proto + " ", "port"))
    if e.state:
        parts.append((e.state + " ", "ok" if e.state == "Established" else "dim"))
    if e.sent or e.recv:
        parts.append((f"{glyphs['up']}{e.sent} {glyphs['down']}{e.recv} ", "number"))
    if e.warning:
        parts.append((e.warning + " ", "warning"))
    if e.critical_warning:
        parts.append((e.critical_warning + " ", "critical"))
    for key, value in e.info:
        parts.append((f"{key}:", "dim"))
        parts.append((value + " ", "normal"))
    return line(*parts)


def timeline_fields(e: TimelineEntry) -> list[tuple[str, str]]:
    """Every field of a timeline line, for the detail box."""
    if e.malformed:
        return [("unreadable line", e.raw)]
    out = [("time", e.timestamp or format_ts(e.ts))]
    for f in fields(e):
        if f.name in ("ts", "timestamp", "info", "malformed", "raw"):
            continue
        value = getattr(e, f.name)
        if value:
            out.append((f.name.replace("_", " "), str(value)))
    out.extend((k, v) for k, v in e.info)
    return out


# -------------------------------------------------------------------- evidence
def evidence_line(e: Evidence) -> Line:
    level = e.threat_level or "?"
    conf = f" conf {e.confidence:g}" if e.confidence is not None else ""
    when = format_ts(e.ts) if e.ts is not None else e.timestamp[:19]
    return line((f"{level:<8} ", threat_style(level)), (when + " ", "dim"), (e.evidence_type + " ", "title"),
                (e.description, "normal"), (conf, "dim"))


def evidence_fields(e: Evidence) -> list[tuple[str, str]]:
    """Every field of an evidence, for the detail box."""
    out = [("description", e.description), ("threat level", e.threat_level),
           ("confidence", f"{e.confidence:g}" if e.confidence is not None else ""),
           ("type", e.evidence_type), ("attacker", e.attacker), ("victim", e.victim),
           ("category", e.category), ("time", format_ts(e.ts) if e.ts is not None else e.timestamp),
           ("id", e.id)]
    for f in fields(e):
        if f.name not in {"description", "threat_level", "confidence", "evidence_type", "attacker", "victim",
                          "category", "ts", "timestamp", "id", "malformed"}:
            value = getattr(e, f.name)
            if value:
                out.append((f.name.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, tuple)
                            else str(value)))
    return [(k, v) for k, v in out if v]


def evidence_head(board: Board) -> Line:
    n_alerts = len(board.alerts)
    times = [t for t in (to_epoch(getattr(a, "time", None)) for a in board.alerts) if t is not None]
    first = format_ts(min(times)) if times else None
    return line((plural(len(board.evidence), "evidence", "evidence"), "header"), (", ", "header"),
                (plural(n_alerts, "alert"), "malicious" if n_alerts else "header"),
                (f", first at {first}" if first else "", "dim"))


def to_epoch(value: object) -> float | None:
    """An alert time as Slips stores it (epoch seconds, as text) -> float; None if unknown."""
    try:
        ts = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return ts if ts == ts and abs(ts) < 1e11 else None


# --------------------------------------------------------------------- IP info
def ipinfo_lines(board: Board) -> list[Line]:
    info: IPInfo | None = board.ip_info
    if info is None:
        return []
    host = board.host_name(info.ip)
    out = [line((info.ip, "ip"), (f"  {host}" if host else "", "title"),
                (f"  threat: {info.threat_level}" if info.threat_level else "", threat_style(info.threat_level)))]
    pairs = [("ASN", " ".join(x for x in (info.asn_number, info.asn_org) if x)),
             ("Country", info.country), ("rDNS", info.reverse_dns),
             ("Domains", ", ".join(info.domains)), ("SNI", ", ".join(info.sni)),
             ("VirusTotal", "  ".join(f"{k}:{v}" for k, v in info.virustotal)),
             ("Threat intel", info.threat_intelligence),
             ("Score", f"{info.score} (confidence {info.confidence})" if info.score else None)]
    for label, value in pairs:
        if value:
            out.append(line((f"{label}: ", "header"), (value, "critical" if label == "Threat intel" else "normal")))
    if len(out) == 1:
        out.append(line(("Slips has no information about this IP", "dim")))
    return out
