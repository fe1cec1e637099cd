"""The main board's state and the lines of its panes. Pure: data in, lines out; no curses.

The app feeds it commands (from the key table) and pane sizes; the UI paints what it returns.
All reads go through SlipsData and are limited to what is visible.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from kalipso.data import ConnectionLost, SlipsData
from kalipso.data.models import Evidence, IPInfo, Profile, TimelineEntry, TimeWindow, threat_rank
from kalipso.data.parse import timewindow_number
from kalipso.text import format_ts
from kalipso.views.base import Line, line

FOCUS_ORDER = ("tree", "timeline", "evidence")


def ip_sort_key(ip: str) -> tuple:
    """Numeric order, IPv4 before IPv6, anything unparsable last."""
    try:
        addr = ipaddress.ip_address(ip)
        return (addr.version, int(addr), ip)
    except ValueError:
        return (9, 0, ip)


@dataclass(frozen=True)
class TreeRow:
    ip: str
    tw: str | None  # None for the profile row itself


@dataclass
class Board:
    data: SlipsData
    profiles: list[Profile] = field(default_factory=list)
    expanded: set[str] = field(default_factory=set)
    sort_by_threat: bool = False
    filter_text: str = ""
    tree_cursor: int = 0
    tree_top: int = 0
    focus: str = "tree"
    selected: tuple[str, str] | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    timeline_total: int = 0
    timeline_top: int = 0
    timeline_cursor: int = 0
    timeline_height: int = 20
    evidence: list[Evidence] = field(default_factory=list)
    evidence_top: int = 0
    hscroll: int = 0  # horizontal scroll of the timeline and evidence lines
    ip_info: IPInfo | None = None
    error: str | None = None
    message: str = ""
    refreshed_at: float = 0.0
    # memo of the visible tree: rebuilt only when profiles, filter, sort or expansion change
    _memo_key: tuple | None = field(default=None, repr=False)
    _memo: tuple[list[Profile], list[TreeRow]] = field(default=([], []), repr=False)
    _by_ip: dict[str, Profile] = field(default_factory=dict, repr=False)
    # time windows of the profiles that were opened: the tree reads them only on demand
    _windows: dict[str, tuple[TimeWindow, ...]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Re-read profiles (and the open time window) keeping selection and scroll position."""
        current = self.current_row()
        try:
            self.profiles = self.data.profiles(timewindows=False)
            self._by_ip = {p.ip: p for p in self.profiles}
            wanted = set(self.expanded) | ({self.selected[0]} if self.selected else set())
            self._windows = {ip: self.data.timewindows(ip) for ip in wanted if ip in self._by_ip}
            if self.selected:
                self._load_timewindow(keep_position=True)
            self.error = None
        except ConnectionLost as exc:
            self.error = str(exc)
            return
        self.refreshed_at = time.time()
        rows = self.rows()
        if current in rows:
            self.tree_cursor = rows.index(current)
        self.tree_cursor = min(self.tree_cursor, max(len(rows) - 1, 0))
        self._update_ip_info(force=True)

    def _load_timewindow(self, keep_position: bool = False) -> None:
        assert self.selected
        ip, tw = self.selected
        if not keep_position:
            self.timeline_top = self.timeline_cursor = self.evidence_top = 0
        self._load_timeline_page()
        self.evidence = self.data.evidence(ip, tw)

    def _load_timeline_page(self) -> None:
        assert self.selected
        page = self.data.timeline(*self.selected, self.timeline_top, max(self.timeline_height, 1))
        self.timeline, self.timeline_total = page.items, page.total
        if self.timeline_total and self.timeline_cursor >= self.timeline_total:
            self.timeline_cursor = self.timeline_total - 1

    def _update_ip_info(self, force: bool = False) -> None:
        """Show the focused IP's info; read it again only for another IP, or when forced
        (a refresh), not on every cursor move."""
        ip = self.focused_ip()
        if not force and self.ip_info is not None and self.ip_info.ip == ip:
            return
        try:
            self.ip_info = self.data.ip_info(ip) if ip else None
        except ConnectionLost as exc:
            self.error = str(exc)

    # -------------------------------------------------------------------- tree
    def _tree(self) -> tuple[list[Profile], list[TreeRow]]:
        key = (id(self.profiles), self.filter_text, self.sort_by_threat, frozenset(self.expanded))
        if key != self._memo_key:
            needle = self.filter_text.lower()
            shown = [p for p in self.profiles
                     if not needle or needle in p.ip.lower() or needle in (p.host_name or "").lower()]
            if self.sort_by_threat:
                shown.sort(key=lambda p: (not p.malicious, -threat_rank(p.threat_level), ip_sort_key(p.ip)))
            else:
                shown.sort(key=lambda p: ip_sort_key(p.ip))
            rows = []
            for p in shown:
                rows.append(TreeRow(p.ip, None))
                if p.ip in self.expanded:
                    rows.extend(TreeRow(p.ip, tw.name) for tw in self.windows(p.ip))
            self._memo_key, self._memo = key, (shown, rows)
        return self._memo

    def visible_profiles(self) -> list[Profile]:
        return self._tree()[0]

    def rows(self) -> list[TreeRow]:
        return self._tree()[1]

    def current_row(self) -> TreeRow | None:
        rows = self.rows()
        return rows[self.tree_cursor] if 0 <= self.tree_cursor < len(rows) else None

    def profile(self, ip: str) -> Profile | None:
        return self._by_ip.get(ip)

    def windows(self, ip: str) -> tuple[TimeWindow, ...]:
        """The time windows of a profile, read once when first needed."""
        if ip not in self._windows:
            self._windows[ip] = self.data.timewindows(ip)
        return self._windows[ip]

    def window(self, ip: str, name: str) -> TimeWindow | None:
        return next((tw for tw in self.windows(ip) if tw.name == name), None)

    def focused_ip(self) -> str | None:
        """The IP whose info the IP box shows: the timeline line's peer, or the tree's profile."""
        if self.focus == "timeline" and self.timeline:
            entry = self.timeline_entry()
            if entry and entry.peer:
                return entry.peer
        row = self.current_row()
        return row.ip if row else None

    def timeline_entry(self) -> TimelineEntry | None:
        i = self.timeline_cursor - self.timeline_top
        return self.timeline[i] if 0 <= i < len(self.timeline) else None

    # ---------------------------------------------------------------- commands
    def command(self, name: str, page_rows: int = 10) -> None:
        """Apply a key-table command to the board."""
        try:
            handler = getattr(self, f"cmd_{name}", None)
            if handler:
                handler(page_rows)
        except ConnectionLost as exc:
            self.error = str(exc)

    def cmd_focus_next(self, _: int) -> None:
        self.focus = FOCUS_ORDER[(FOCUS_ORDER.index(self.focus) + 1) % len(FOCUS_ORDER)]
        self._update_ip_info()

    def cmd_focus_prev(self, _: int) -> None:
        self.focus = FOCUS_ORDER[(FOCUS_ORDER.index(self.focus) - 1) % len(FOCUS_ORDER)]
        self._update_ip_info()

    def _move(self, delta: int | None, absolute: int | None = None) -> None:
        if self.focus == "tree":
            n = len(self.rows())
            target = absolute if absolute is not None else self.tree_cursor + (delta or 0)
            self.tree_cursor = max(0, min(target, n - 1))
        elif self.focus == "timeline":
            target = absolute if absolute is not None else self.timeline_cursor + (delta or 0)
            self.timeline_cursor = max(0, min(target, self.timeline_total - 1))
            height = max(self.timeline_height, 1)
            top = min(self.timeline_top, self.timeline_cursor)
            top = max(top, self.timeline_cursor - height + 1)
            if top != self.timeline_top and self.selected:
                self.timeline_top = top
                self._load_timeline_page()
        else:
            target = absolute if absolute is not None else self.evidence_top + (delta or 0)
            self.evidence_top = max(0, min(target, len(self.evidence) - 1))
        self._update_ip_info()

    def cmd_up(self, _: int) -> None:
        self._move(-1)

    def cmd_down(self, _: int) -> None:
        self._move(1)

    def cmd_page_up(self, rows: int) -> None:
        self._move(-rows)

    def cmd_page_down(self, rows: int) -> None:
        self._move(rows)

    def cmd_home(self, _: int) -> None:
        self._move(None, 0)

    def cmd_end(self, _: int) -> None:
        last = {"tree": len(self.rows()), "timeline": self.timeline_total,
                "evidence": len(self.evidence)}[self.focus] - 1
        self._move(None, max(last, 0))

    def cmd_open(self, _: int) -> None:
        if self.focus != "tree":
            self._update_ip_info()
            return
        row = self.current_row()
        if row is None:
            return
        if row.tw is None:
            self.expanded.symmetric_difference_update({row.ip})
        else:
            self.select_timewindow(row.ip, row.tw)

    def click_tree(self, index: int) -> None:
        """A click on the index-th visible tree row: move there and open it."""
        rows = self.rows()
        if 0 <= self.tree_top + index < len(rows):
            self.focus = "tree"
            self.tree_cursor = self.tree_top + index
            self.cmd_open(0)
            self._update_ip_info()

    def click_timeline(self, index: int) -> None:
        """A click on the index-th visible timeline line: select it; the IP box follows."""
        if 0 <= self.timeline_top + index < self.timeline_total:
            self.focus = "timeline"
            self.timeline_cursor = self.timeline_top + index
            self._update_ip_info()

    def cmd_right(self, page: int) -> None:
        if self.focus == "tree":
            self.cmd_open(page)
        else:
            self.hscroll += 20

    def cmd_left(self, page: int) -> None:
        if self.focus == "tree":
            self.cmd_close(page)
        else:
            self.hscroll = max(self.hscroll - 20, 0)

    def cmd_close(self, _: int) -> None:
        row = self.current_row()
        if self.focus == "tree" and row:
            self.expanded.discard(row.ip)
            self.tree_cursor = self.rows().index(TreeRow(row.ip, None))

    def select_timewindow(self, ip: str, tw: str) -> None:
        self.selected = (ip, tw)
        self.hscroll = 0
        self._load_timewindow()
        self._update_ip_info()
        self.message = f"{ip} {tw}: {self.timeline_total} timeline lines, {len(self.evidence)} evidence"

    def cmd_sort(self, _: int) -> None:
        self.sort_by_threat = not self.sort_by_threat
        self._keep_row(self.current_row())
        self._update_ip_info()
        self.message = "profiles sorted by " + ("threat" if self.sort_by_threat else "IP")

    def _keep_row(self, row: TreeRow | None) -> None:
        rows = self.rows()
        self.tree_cursor = rows.index(row) if row in rows else min(self.tree_cursor, max(len(rows) - 1, 0))

    def set_filter(self, text: str) -> None:
        row = self.current_row()
        self.filter_text = text
        self._keep_row(row)
        shown = len(self.visible_profiles())
        self.message = f"filter '{text}': {shown} profiles" if text else "filter cleared"
        self._update_ip_info()

    def _jump_malicious(self, step: int) -> None:
        """Select the next (step 1) or previous (-1) malicious time window in tree order.

        Only the marks are needed to find it (windows of a profile are ordered by number), so
        a jump reads the windows of the target profile alone."""
        profiles = self.visible_profiles()
        targets = sorted((((pi, timewindow_number(name) or 0), TreeRow(p.ip, name))
                          for pi, p in enumerate(profiles) for name in p.malicious_timewindows),
                         key=lambda t: t[0])
        if not targets:
            self.message = "no malicious time window"
            return
        row = self.current_row()
        pi = next((i for i, p in enumerate(profiles) if row and p.ip == row.ip), -1)
        here = (pi, timewindow_number(row.tw) or 0) if row and row.tw else (pi, float("-inf"))
        if step > 0:
            target = next((t for pos, t in targets if pos > here), targets[0][1])
        else:
            target = next((t for pos, t in reversed(targets) if pos < here), targets[-1][1])
        self.expanded.add(target.ip)
        self.focus = "tree"
        rows = self.rows()
        if target in rows:
            self.tree_cursor = rows.index(target)
            self.select_timewindow(target.ip, target.tw or "")
        else:
            self.message = f"{target.ip} {target.tw} is no longer in the database"

    def cmd_next_malicious(self, _: int) -> None:
        self._jump_malicious(1)

    def cmd_prev_malicious(self, _: int) -> None:
        self._jump_malicious(-1)

    def cmd_refresh(self, _: int) -> None:
        self.reload()
        self.message = "refreshed" if not self.error else ""

    # ------------------------------------------------------------------- lines
    def tree_lines(self, height: int) -> tuple[list[Line], int]:
        """Visible tree lines and the index of the cursor among them."""
        rows = self.rows()
        if self.tree_cursor < self.tree_top:
            self.tree_top = self.tree_cursor
        elif self.tree_cursor >= self.tree_top + height:
            self.tree_top = self.tree_cursor - height + 1
        out: list[Line] = []
        for row in rows[self.tree_top: self.tree_top + height]:
            p = self.profile(row.ip)
            if p is None:
                continue
            if row.tw is None:
                mark = "!" if p.malicious else " "
                sign = "-" if p.ip in self.expanded else "+"
                label = p.ip + (f" {p.host_name}" if p.host_name else "")
                out.append(line((f"{sign}{mark}", "malicious" if p.malicious else "dim"),
                                (label, "malicious" if p.malicious else "normal")))
            else:
                tw = self.window(row.ip, row.tw)
                if tw is None:
                    continue
                current = self.selected == (row.ip, row.tw)
                mark = "!" if tw.malicious else ("●" if current else " ")
                style = "malicious" if tw.malicious else ("title" if current else "normal")
                out.append(line(f"  {mark}", (f"{tw.name} ", style),
                                (format_ts(tw.start, "%m-%d %H:%M"), "dim")))
        if not rows:
            out.append(line(("no profiles" + (" match the filter" if self.filter_text else ""), "dim")))
        return out, self.tree_cursor - self.tree_top

    def timeline_lines(self, height: int) -> tuple[list[Line], int | None]:
        self.timeline_height = height
        if not self.selected:
            return [line(("select a time window in the tree (Enter)", "dim"))], None
        if not self.timeline:
            return [line(("this time window has no timeline lines", "dim"))], None
        out = [shift(timeline_line(e), self.hscroll) for e in self.timeline[:height]]
        cursor = self.timeline_cursor - self.timeline_top if self.focus == "timeline" else None
        return out, cursor

    def evidence_lines(self, height: int) -> list[Line]:
        if not self.selected:
            return []
        window = self.window(*self.selected)
        alerts = window.alert_count if window else 0
        head = line((f"{len(self.evidence)} evidence", "header"),
                    (f", {alerts} alert{'s' if alerts != 1 else ''}", "malicious" if alerts else "header"))
        body = [shift(evidence_line(e), self.hscroll) for e in self.evidence[self.evidence_top:]]
        if not self.evidence:
            body = [line(("no evidence in this time window", "dim"))]
        return [head] + body[: max(height - 1, 0)]

    def ipinfo_lines(self) -> list[Line]:
        info = self.ip_info
        if info is None:
            return [line(("no IP selected", "dim"))]
        profile = self.profile(info.ip)
        out = [line((info.ip, "ip"), (f"  {profile.host_name}" if profile and profile.host_name else "", "title"),
                    (f"  threat: {info.threat_level}" if info.threat_level else "",
                     "malicious" if threat_rank(info.threat_level) >= 3 else "normal"))]
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


def shift(ln: Line, columns: int) -> Line:
    """The line scrolled ``columns`` characters to the left (horizontal scrolling)."""
    if columns <= 0:
        return ln
    out, skip = [], columns
    for seg in ln:
        if skip >= len(seg.text):
            skip -= len(seg.text)
            continue
        out.append(type(seg)(seg.text[skip:], seg.style))
        skip = 0
    return tuple(out) or line(("…", "dim"))


def timeline_line(e: TimelineEntry) -> Line:
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
        parts.append((f"↑{e.sent} ↓{e.recv} ", "number"))
    if e.warning:
        parts.append((e.warning + " ", "warning"))
    if e.critical_warning:
        parts.append((e.critical_warning + " ", "critical"))
    for key, value in e.info:
        parts.append((f"{key}:", "dim"))
        parts.append((value + " ", "normal"))
    return line(*parts)


def evidence_line(e: Evidence) -> Line:
    level = e.threat_level or "?"
    style = "critical" if threat_rank(level) >= 4 else "malicious" if threat_rank(level) >= 3 else \
        "warning" if threat_rank(level) >= 2 else "normal"
    conf = f" conf {e.confidence:g}" if e.confidence is not None else ""
    when = format_ts(e.ts) if e.ts is not None else e.timestamp[:19]
    return line((f"{level:<8} ", style), (when + " ", "dim"), (e.evidence_type + " ", "title"),
                (e.description, "normal"), (conf, "dim"))
