"""The lines of the main board's panes, built from the board's state. Pure: no curses.

The widgets in kalipso.ui draw these lines; they never look inside a Slips value.
"""

from __future__ import annotations

from typing import Any

from kalipso import triage
from kalipso.board import Board, TreeRow
from kalipso.data import why
from kalipso.data.models import Evidence, IPInfo, TimelineEntry, threat_rank
from kalipso.text import format_ts
from kalipso.triage import plural
from kalipso.views.base import Line, line


def threat_style(level: str | None) -> str:
    rank = threat_rank(level)
    return "critical" if rank >= 4 else "malicious" if rank >= 3 else "warning" if rank >= 2 else "normal"


# ------------------------------------------------------------------------ tree
def tree_line(board: Board, row: TreeRow, glyphs: dict[str, str], now: float = 0.0) -> Line:
    new = line((" new", "ok")) if board.is_new(row.ip if row.tw is None else (row.ip, row.tw), now) else ()
    return _tree_line(board, row, glyphs) + new


def _tree_line(board: Board, row: TreeRow, glyphs: dict[str, str]) -> Line:
    if row.tw is None:
        bad = board.malicious(row.ip)
        expanded = row.ip in board.expanded
        loading = expanded and board.profile_windows(row.ip) is None
        sign = "…" if loading else "-" if expanded else "+"
        host = board.host_name(row.ip)
        detail = board.details.get(row.ip)
        strip = strip_segments(board, row.ip)
        # the strip has a cell per window; the count says how many when they do not all fit
        count = f" ({detail[1].window_count})" if detail and not expanded and (
            not strip or detail[1].window_count > STRIP_CELLS) else ""
        return line((f"{sign}{'!' if bad else ' '}", "malicious" if bad else "dim"),
                    (row.ip, "malicious" if bad else "normal"), *strip,
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


STRIP_CELLS = 6


def strip_segments(board: Board, ip: str) -> list[tuple[str, str]]:
    """The profile's threat strip: one letter per time window (newest windows), coloured by the
    worst threat of that window; upper case where the window raised an alert."""
    entry = board.strips.get(ip)
    if not entry or not entry[1][0]:
        return []
    names, worst = entry[1]
    strip = triage.threat_strip(names, worst, STRIP_CELLS, board.marks(ip).keys())
    return [(" ", "normal")] + [(c, triage.STRIP_STYLES.get(c, "dim")) for c in strip]


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


# -------------------------------------------------------------------- evidence
def evidence_line(e: Evidence) -> Line:
    level = e.threat_level or "?"
    conf = f" conf {e.confidence:g}" if e.confidence is not None else ""
    when = format_ts(e.ts) if e.ts is not None else e.timestamp[:19]
    return line((f"{level:<8} ", threat_style(level)), (when + " ", "dim"), (e.evidence_type + " ", "title"),
                (e.description, "normal"), (conf, "dim"))


def evidence_head(board: Board) -> Line:
    s = board.summary
    if s is None:
        return line(("loading…", "dim"))
    return line((plural(s.total, "evidence", "evidence"), "header"),
                (f" in {plural(len(s.groups), 'group')}", "dim"), (", ", "header"),
                (plural(s.alert_count, "alert"), "malicious" if s.alert_count else "header"),
                (f", first fired {s.first_alert.fired}" if s.first_alert else "", "dim"))


def evidence_row(kind: str, obj: Any, depth: int, is_open: bool, glyphs: dict[str, str]) -> Line:
    """One row of the evidence pane: the alerts line, an alert, a group or one evidence."""
    sign = ("-" if is_open else "+") if kind != "item" else " "
    indent = "  " * depth
    if kind == "alerts":
        cited = len({e.id for a in obj.alerts for e in a.evidence})  # an evidence may serve several alerts
        return line((f"{indent}{sign} ", "dim"), (plural(obj.alert_count, "alert"), "malicious"),
                    (f" raised on {plural(cited, 'evidence', 'evidence')}", "dim"))
    if kind == "alert":
        when = f"fired {obj.fired}" + (" (est.)" if obj.estimated else "")
        return line((f"{indent}{sign} ", "dim"), ("alert ", "malicious"), (when + " ", "dim"),
                    (f"on {plural(len(obj.evidence), 'evidence', 'evidence')}", "normal"),
                    (f", {obj.missing} gone" if obj.missing else "", "dim"))
    if kind == "group":
        span = obj.first if obj.first == obj.last else f"{obj.first}–{obj.last}"
        return line((f"{indent}{sign}", "dim"), ("A" if obj.in_alert else " ", "malicious"),
                    (f" {obj.threat_level or '?':<8} ", threat_style(obj.threat_level)),
                    (f"×{obj.count:<4} ", "number" if obj.count > 1 else "dim"),
                    (obj.evidence_type + " ", "title"), (obj.target + " " if obj.target else "", "ip"),
                    (span + " ", "dim"), (obj.description, "normal"))
    if depth == 1:  # under its group: the type and target are the group's
        when = format_ts(obj.ts) if obj.ts is not None else obj.timestamp[:19]
        return line((indent + "  ", "dim"), (when + " ", "dim"), (obj.description, "normal"))
    return line((indent + "  ", "dim")) + evidence_line(obj)


def run_line(run: triage.TimelineRun, glyphs: dict[str, str]) -> Line:
    """A timeline run: one line, with ×N and the time range when it folds several."""
    base = timeline_line(run.entry, glyphs)
    if not run.collapsed:
        return base
    last = run.last.split(" ")[-1] if run.last[:10] == run.first[:10] else run.last
    return line((f"×{run.count} ", "number"), (f"{run.first}–{last} ", "dim")) + base[1:]


def detail_fields(obj: Any) -> list[tuple[str, str]]:
    """The fields of whatever the detail box shows; a folded timeline run is its first line
    plus how often it repeats and when."""
    if isinstance(obj, triage.TimelineRun):
        span = obj.first if obj.first == obj.last else f"{obj.first} – {obj.last}"
        return [("repeated", f"×{obj.count}, {span}")] + triage.detail_fields(obj.entry)
    return triage.detail_fields(obj)


def detail_title(obj: Any) -> str:
    return {Evidence: "Evidence", TimelineEntry: "Timeline line", triage.TimelineRun: "Timeline lines",
            triage.EvidenceGroup: "Evidence group", triage.AlertEntry: "Alert"}.get(type(obj), "Details")


def why_lines(result: why.WhyResult | None, width: int, glyphs: dict[str, str]) -> list[Line]:
    """The 'Why' part of an evidence's detail box: which source it is, then flows or lines."""
    out: list[Line] = [line(), line(("Why: ", "title"), ("loading…" if result is None else result.source, "header"))]
    if result is None:
        return out
    if result.note:
        out.append(line((result.note, "dim")))
    for f in result.flows:
        out.append(line((f.summary, "normal")))
    for e in result.timeline:
        out.append(timeline_line(e, glyphs))
    if result.missing:
        out.append(line((f"{plural(result.missing, 'flow')} Slips named not found", "dim")))
    return out



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
