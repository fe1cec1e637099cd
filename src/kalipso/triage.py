"""Triage: from a time window's evidence, alerts and timeline to what an analyst reads first.

Pure functions over the models of ``kalipso.data.models``: no curses, no Redis. The board's
evidence and timeline panes and view V draw what these return.

* ``group_evidence`` folds evidence into (type, target) groups, worst threat first, and links
  the alerts of the window to the evidence they were raised on.
* ``collapse_timeline`` folds consecutive timeline lines that differ only in time (a beacon).
* ``threat_strip`` is one letter per time window: the worst threat of that window.
* ``detail_fields`` lists every field of an evidence, a timeline line, an alert or a recorded
  flow as (label, text) pairs; ``wrap_fields`` wraps them to a width for a detail box.
* ``ip_sort_key`` orders IP addresses numerically; ``plural`` says "1 row", "2 rows".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kalipso.data.models import Alert, Evidence, TimelineEntry, TimeWindow, threat_rank
from kalipso.text import format_ts
from kalipso.views.base import wrap_fields  # noqa: F401  (part of this module's API)

# ------------------------------------------------------------------ small helpers


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "row")`` -> '1 row'; ``plural(2, "row")`` -> '2 rows' (thousands separated)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def ip_sort_key(ip: str) -> tuple[int, int, str]:
    """Sort key for IP addresses: IPv4 numerically, then IPv6 numerically, then anything else.

    ``sorted(ips, key=ip_sort_key)`` gives 10.0.2.2, 10.0.2.255, 104.127.60.107, ::1, 'x'.
    """
    text = (ip or "").strip()
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return (2, 0, text)
    return (0 if addr.version == 4 else 1, int(addr), text)


def _time_key(ts: float | None, stamp: str) -> tuple[int, float, str]:
    # Epoch seconds where Slips wrote a number; classic Slips writes "YYYY/MM/DD HH:MM:SS.f",
    # which sorts correctly as text.
    return (0, ts, "") if ts is not None else (1, 0.0, stamp)


def _show_time(ts: float | None, stamp: str) -> str:
    if ts is not None:
        return format_ts(ts)
    return stamp.split(".", 1)[0] if stamp else "-"


def _evidence_time_key(e: Evidence) -> tuple[int, float, str]:
    return _time_key(e.ts, e.timestamp)


# ------------------------------------------------------------------ evidence groups

# An IPv4 address not followed by a prefix length (so '10.0.0.0/8' is not taken), or an IPv6
# candidate (checked with ipaddress).
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d/]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:/])")


def _ips_in(text: str) -> Iterable[str]:
    for match in sorted([*_IPV4.finditer(text), *_IPV6.finditer(text)], key=lambda m: m.start()):
        try:
            yield str(ipaddress.ip_address(match.group(1)))
        except ValueError:
            continue


def evidence_target(e: Evidence) -> str:
    """The peer an evidence is about, seen from the profile it was filed under; '' if none.

    Current Slips names an attacker and a victim: the target is whichever of the two is not
    the profile (the victim when the profile attacked, the attacker when it was attacked).
    Classic Slips names only the attacker: a destination IP or domain is the target, and where
    the attacker is the profile itself the target is the first other IP in the description
    ("Connecting to private IP: 10.0.2.255 on destination port: 137").
    """
    me = e.profile_ip
    attacker = "" if e.attacker == "profile" else e.attacker  # classic writes the word 'profile'
    if e.victim and attacker:
        return attacker if me and e.victim == me else e.victim
    if e.victim and e.victim != me:
        return e.victim
    if attacker and me and attacker != me:
        return attacker
    for ip in _ips_in(e.description):
        if ip != me:
            return ip
    return ""


@dataclass(frozen=True)
class EvidenceGroup:
    """Evidence of one type about one target, in a time window.

    ``threat_level`` is the worst of its items; ``description`` the most common description
    (the first one on a tie); ``items`` oldest first; ``alert_ids`` the alerts that any item
    took part in.
    """

    evidence_type: str
    target: str
    threat_level: str
    count: int
    first: str
    last: str
    first_ts: float | None
    last_ts: float | None
    description: str
    confidence: float | None
    alert_ids: tuple[str, ...]
    items: tuple[Evidence, ...]
    targets: tuple[str, ...] = ()  # distinct targets of the items, in IP order

    @property
    def key(self) -> tuple[str, str]:
        return (self.evidence_type, self.target)

    @property
    def in_alert(self) -> bool:
        return bool(self.alert_ids)


@dataclass(frozen=True)
class AlertEntry:
    """An alert of the window with the evidence it was raised on.

    ``fired`` is when Slips raised it: its own record (SQLite ``alerts``) where there is one,
    otherwise the time of the newest of its evidence (``estimated`` is then True).
    ``missing`` counts evidence ids of the alert that are not in the window any more
    (whitelisted, or deleted by Slips). ``evidence`` is oldest first; ``evidence_time`` is the
    time of the newest of them in traffic time (Slips records ``fired`` on its own clock, which
    for a capture file read later is not the time of the traffic).
    """

    alert: Alert
    fired: str
    fired_ts: float | None
    estimated: bool
    evidence: tuple[Evidence, ...]
    missing: int
    evidence_time: str = ""

    @property
    def id(self) -> str:
        return self.alert.id

    @property
    def evidence_ids(self) -> tuple[str, ...]:
        return self.alert.evidence_ids


@dataclass(frozen=True)
class EvidenceSummary:
    """The evidence of a time window folded into groups, and its alerts (first fired first)."""

    groups: tuple[EvidenceGroup, ...] = ()
    alerts: tuple[AlertEntry, ...] = ()
    total: int = 0

    @property
    def alert_count(self) -> int:
        return len(self.alerts)

    @property
    def first_alert(self) -> AlertEntry | None:
        return self.alerts[0] if self.alerts else None

    @property
    def threat_level(self) -> str | None:
        """The worst threat level of the window's evidence."""
        return self.groups[0].threat_level if self.groups else None

    def counts_by_type(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for g in self.groups:
            counts[g.evidence_type] += g.count
        return dict(counts)


def _worst(items: Sequence[Evidence]) -> str:
    return max((e.threat_level for e in items), key=threat_rank, default="")


def group_evidence(evidence: Sequence[Evidence], alerts: Sequence[Alert] = (),
                   by_target: bool = True) -> EvidenceSummary:
    """Group a window's evidence by (evidence type, target), worst threat first, then most.

    Every evidence lands in exactly one group, so the groups' counts add up to
    ``len(evidence)`` and, per type, to the number of evidence of that type. With
    ``by_target=False`` the groups are by type alone (``target`` is '' and ``targets`` lists
    the targets): a window with many small groups (HTTP to 40 servers) then reads in a few lines.
    """
    alert_of: dict[str, list[str]] = {}
    for a in alerts:
        for eid in a.evidence_ids:
            alert_of.setdefault(eid, []).append(a.id)
    buckets: dict[tuple[str, str], list[Evidence]] = {}
    for e in evidence:
        buckets.setdefault((e.evidence_type, evidence_target(e) if by_target else ""), []).append(e)
    groups = []
    for (kind, target), items in buckets.items():
        items.sort(key=_evidence_time_key)
        descriptions = Counter(e.description for e in items)
        top = max(descriptions.values())
        description = next(e.description for e in items if descriptions[e.description] == top)
        ids = tuple(dict.fromkeys(a for e in items for a in alert_of.get(e.id, ())))
        confidences = [e.confidence for e in items if e.confidence is not None]
        groups.append(EvidenceGroup(
            evidence_type=kind, target=target, threat_level=_worst(items), count=len(items),
            first=_show_time(items[0].ts, items[0].timestamp),
            last=_show_time(items[-1].ts, items[-1].timestamp),
            first_ts=items[0].ts, last_ts=items[-1].ts, description=description,
            confidence=max(confidences) if confidences else None, alert_ids=ids, items=tuple(items),
            targets=((target,) if target else ()) if by_target else tuple(sorted(
                {t for t in map(evidence_target, items) if t}, key=ip_sort_key))))
    groups.sort(key=lambda g: (-threat_rank(g.threat_level), -g.count, g.evidence_type,
                               ip_sort_key(g.target)))
    return EvidenceSummary(groups=tuple(groups), alerts=_alert_entries(evidence, alerts),
                           total=len(evidence))


def _alert_entries(evidence: Sequence[Evidence], alerts: Sequence[Alert]) -> tuple[AlertEntry, ...]:
    by_id = {e.id: e for e in evidence}
    entries = []
    for a in alerts:
        items = tuple(sorted((by_id[i] for i in dict.fromkeys(a.evidence_ids) if i in by_id),
                             key=_evidence_time_key))
        newest = _show_time(items[-1].ts, items[-1].timestamp) if items else ""
        recorded = _epoch(a.time)
        if recorded is not None or a.time:
            fired, ts, estimated = (format_ts(recorded) if recorded is not None else a.time or "-"), recorded, False
        elif items:
            fired, ts, estimated = newest, items[-1].ts, True
        else:
            fired, ts, estimated = "-", None, True
        entries.append(AlertEntry(alert=a, fired=fired, fired_ts=ts, estimated=estimated,
                                  evidence=items, missing=len(set(a.evidence_ids)) - len(items),
                                  evidence_time=newest))
    entries.sort(key=lambda x: (x.fired_ts is None, x.fired_ts or 0.0, x.fired, x.alert.id))
    return tuple(entries)


def _epoch(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number == number and abs(number) != float("inf") else None


def worst_threat(evidence: Iterable[Evidence]) -> str | None:
    """The worst threat level among some evidence ('critical' ... 'info'), None if none."""
    level = max((e.threat_level for e in evidence), key=threat_rank, default=None)
    return level if level is not None and threat_rank(level) >= 0 else None


# ------------------------------------------------------------------ the timeline

# What makes two timeline lines "the same line at another time": every field but these.
_TIME_FIELDS = ("ts", "timestamp", "duration", "raw")
_SAME_LINE_FIELDS = tuple(f.name for f in dataclasses.fields(TimelineEntry) if f.name not in _TIME_FIELDS)


@dataclass(frozen=True)
class TimelineRun:
    """Consecutive timeline lines that differ only in time (and duration), e.g. a beacon.

    ``entry`` is the first line; ``count`` how many lines the run folds (1: a single line).
    """

    entry: TimelineEntry
    count: int
    first_ts: float | None
    last_ts: float | None
    first: str
    last: str
    entries: tuple[TimelineEntry, ...]

    @property
    def collapsed(self) -> bool:
        return self.count > 1


def _same_line_key(entry: TimelineEntry) -> tuple[Any, ...] | None:
    if entry.malformed:
        return None  # an unreadable line never folds into another
    return tuple(getattr(entry, name) for name in _SAME_LINE_FIELDS)


def _line_time(entry: TimelineEntry) -> str:
    """Slips' human timestamp to the second ('2023/02/22 00:00:03'); epoch seconds where Slips
    wrote numbers (timeline_human_timestamp off) are formatted; '-' when there is no time."""
    ts = getattr(entry, "ts", None)
    stamp = entry.timestamp
    if stamp and _epoch(stamp) is None:
        return stamp.split(".", 1)[0]
    number = _epoch(stamp) if stamp else ts
    return format_ts(number) if number is not None else "-"


def collapse_timeline(entries: Iterable[TimelineEntry]) -> list[TimelineRun]:
    """Fold consecutive lines that differ only in time into runs (×N, first–last time).

    Lines keep their order; a line with another destination, port, state, size or info in
    between ends a run. ``sum(run.count)`` equals the number of lines.
    """
    runs: list[list[TimelineEntry]] = []
    last_key: tuple[Any, ...] | None = None
    for entry in entries:
        key = _same_line_key(entry)
        if runs and key is not None and key == last_key:
            runs[-1].append(entry)
        else:
            runs.append([entry])
        last_key = key
    return [TimelineRun(entry=r[0], count=len(r), first_ts=r[0].ts, last_ts=r[-1].ts,
                        first=_line_time(r[0]), last=_line_time(r[-1]), entries=tuple(r))
            for r in runs]


# ------------------------------------------------------------------ threat strip

# One letter per time window. Lower case: the worst evidence of the window; upper case: the
# window also raised an alert ('!' when it has an alert but no evidence left to rate).
STRIP_LETTERS = {None: ".", "info": "i", "low": "l", "medium": "m", "high": "h", "critical": "c"}
# Semantic style of each letter (kalipso.views.base.STYLES), for the coloured strip.
STRIP_STYLES = {".": "dim", "i": "dim", "l": "normal", "m": "warning", "h": "malicious",
                "c": "critical", "I": "malicious", "L": "malicious", "M": "malicious",
                "H": "critical", "C": "critical", "!": "critical"}
STRIP_LEGEND = ". nothing  i info  l low  m medium  h high  c critical  UPPER CASE: alert"


def _strip_letter(level: str | None, alerted: bool) -> str:
    letter = STRIP_LETTERS.get((level or "").lower() or None, ".")
    if alerted:
        return "!" if letter == "." else letter.upper()
    return letter


def _strip_rank(letter: str) -> tuple[bool, int]:
    order = ".ilmhc"
    return (letter.isupper() or letter == "!", order.find(letter.lower()))


def threat_strip(windows: Sequence[TimeWindow | str], marks: Mapping[str, str | None],
                 width: int | None = None, alerted: Iterable[str] = ()) -> str:
    """One letter per time window, oldest first: the worst threat level of that window.

    ``windows``: the profile's time windows (TimeWindow objects or names), oldest first.
    ``marks``: window name -> worst threat level of its evidence ('info' ... 'critical'), e.g.
    from ``worst_threat``; windows without a mark show '.'. A window that raised an alert
    (``TimeWindow.malicious`` or its name in ``alerted``) shows its letter in upper case.
    With ``width`` and more windows than that, neighbouring windows share a cell that shows
    the worst of them, so a red window never disappears. ``STRIP_STYLES`` colours the letters;
    the letters alone read without colour (NO_COLOR, ASCII).
    """
    flagged = set(alerted)
    cells = []
    for tw in windows:
        name = tw if isinstance(tw, str) else tw.name
        hot = name in flagged or (not isinstance(tw, str) and tw.malicious)
        cells.append(_strip_letter(marks.get(name), hot))
    if width is None or width <= 0 or len(cells) <= width:
        return "".join(cells)
    step = len(cells) / width
    return "".join(max(cells[int(i * step): max(int((i + 1) * step), int(i * step) + 1)], key=_strip_rank)
                   for i in range(width))


# ------------------------------------------------------------------ detail fields


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def detail_fields(obj: Any) -> list[tuple[str, str]]:
    """Every field of an Evidence, TimelineEntry, Alert/AlertEntry, EvidenceGroup or recorded
    flow (anything with ``fields``), as (label, text) pairs for a detail box. Empty fields are
    left out; texts are not sanitised (the drawing side does that)."""
    if isinstance(obj, Evidence):
        pairs = [
            ("type", obj.evidence_type), ("description", obj.description),
            ("threat level", obj.threat_level), ("confidence", _number(obj.confidence)),
            ("attacker", obj.attacker), ("victim", obj.victim), ("target", evidence_target(obj)),
            ("category", obj.category), ("time", _show_time(obj.ts, obj.timestamp)),
            ("timestamp", obj.timestamp if obj.ts is not None else ""),
            ("profile", obj.profile_ip), ("id", obj.id),
            ("flow uids", ", ".join(obj.uids)),
            *obj.extra,
            ("malformed", "yes: Slips' value is not the expected JSON" if obj.malformed else ""),
        ]
    elif isinstance(obj, TimelineEntry):
        if obj.malformed:
            pairs = [("time", _line_time(obj)), ("raw value", obj.raw),
                     ("malformed", "yes: Slips' value is not the expected JSON")]
        else:
            pairs = [
                ("time", obj.timestamp or _line_time(obj)), ("source", obj.saddr),
                ("direction", obj.preposition), ("destination", obj.daddr),
                ("port/proto", obj.dport_proto), ("service", obj.dport_name.strip("?")),
                ("state", obj.state), ("resolved to", obj.dns_resolution.strip("?")),
                ("sent", obj.sent), ("received", obj.recv), ("total bytes", obj.tot),
                ("duration", obj.duration), ("warning", obj.warning),
                ("critical warning", obj.critical_warning), *obj.info,
            ]
    elif isinstance(obj, AlertEntry):
        pairs = [("alert", obj.id), ("fired", obj.fired + (" (time of its newest evidence)" if obj.estimated else "")),
                 ("newest evidence", obj.evidence_time if not obj.estimated else ""),
                 ("profile", obj.alert.profile_ip), ("time window", obj.alert.timewindow),
                 ("evidence", plural(len(obj.evidence_ids), "evidence", "evidence")
                  + (f" ({obj.missing} no longer in the time window)" if obj.missing else "")),
                 ("evidence ids", ", ".join(obj.evidence_ids))]
    elif isinstance(obj, Alert):
        pairs = [("alert", obj.id), ("fired", obj.time or ""), ("profile", obj.profile_ip),
                 ("time window", obj.timewindow), ("evidence ids", ", ".join(obj.evidence_ids))]
    elif isinstance(obj, EvidenceGroup):
        pairs = [("type", obj.evidence_type), ("target", obj.target or "(none named)"),
                 ("threat level", obj.threat_level), ("count", f"{obj.count:,}"),
                 ("first", obj.first), ("last", obj.last), ("description", obj.description),
                 ("confidence", _number(obj.confidence)), ("alerts", ", ".join(obj.alert_ids))]
    elif hasattr(obj, "fields"):
        pairs = list(obj.fields)
    else:
        raise TypeError(f"no detail fields for {type(obj).__name__}")
    return [(label, text) for label, text in pairs if text not in ("", None)]
