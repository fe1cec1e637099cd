"""The main board's state: what is selected, expanded and scrolled, and what each pane holds.

Plain Python: no curses, no Redis. The board says which reads it wants (``wants``), the app
hands them to the loader, and the answers come back through ``apply``. It never reads data
itself, so a key is handled in microseconds whatever the database does. Every pane is in one
state: loading, ready, empty, unavailable (reason) or lost (connection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kalipso import triage
from kalipso.data import tree as datatree
from kalipso.data import why
from kalipso.data.models import Evidence, IPInfo, TimelineEntry, TimeWindow
from kalipso.data.parse import timewindow_number
from kalipso.loader import EMPTY, LOADING, LOST, READY, UNAVAILABLE, Request, Result
from kalipso.order import ip_sort_key, threat_order

FOCUS_ORDER = ("tree", "timeline", "evidence")
PING_SECONDS = 2.0  # how often a lost connection is tried again
WINDOW_CACHE = 64  # time-window lists kept for profiles that are not expanded
COLLAPSE_LIMIT = 5000  # timeline lines read at once to fold repeated lines into runs


@dataclass
class Pane:
    """The state of one pane; ``reason`` says why it is empty, unavailable or lost."""

    status: str = LOADING
    reason: str = ""

    def set(self, status: str, reason: str = "") -> None:
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class TreeRow:
    ip: str
    tw: str | None  # None for the profile row itself


COMMANDS: dict[str, Callable[[Board, int], None]] = {}


def command(name: str) -> Callable[[Callable[[Board, int], None]], Callable[[Board, int], None]]:
    """Register a board method as the handler of a key-table command."""

    def register(fn: Callable[[Board, int], None]) -> Callable[[Board, int], None]:
        COMMANDS[name] = fn
        return fn

    return register


@dataclass
class Board:
    sort_by_threat: bool = True
    # the tree: names in IP order and in threat order (both sorted by the loader)
    names: list[str] | None = None
    threat_names: list[str] | None = None
    details: dict[str, tuple[int, datatree.ProfileDetail]] = field(default_factory=dict)
    strips: dict[str, tuple[int, tuple[tuple[str, ...], dict[str, str]]]] = field(default_factory=dict)
    facts: datatree.TreeFacts | None = None
    windows: dict[str, tuple[int, tuple[TimeWindow, ...]]] = field(default_factory=dict)
    expanded: set[str] = field(default_factory=set)
    filter_text: str = ""
    tree_cursor: int = 0
    tree_top: int = 0
    tree_height: int = 20
    focus: str = "tree"
    # the selected time window
    selected: tuple[str, str] | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    timeline_offset: int = 0  # index of timeline[0] in the whole timeline
    timeline_total: int = 0
    timeline_top: int = 0
    timeline_cursor: int = 0
    timeline_height: int = 20
    collapse: bool = True  # fold consecutive timeline lines that differ only in time
    timeline_runs: tuple[triage.TimelineRun, ...] = ()
    timeline_lines: int = 0  # lines in the whole timeline (timeline_total counts runs when folded)
    evidence: tuple[Evidence, ...] = ()
    alerts: tuple[Any, ...] = ()
    summary: triage.EvidenceSummary | None = None
    evidence_open: set[Any] = field(default_factory=set)  # expanded groups and alert lines
    evidence_cursor: int = 0
    evidence_top: int = 0
    evidence_height: int = 5
    hscroll: dict[str, int] = field(default_factory=lambda: {"timeline": 0, "evidence": 0})
    ip_info: IPInfo | None = None
    detail: Any = None  # what the detail box shows: an evidence, timeline line, group or alert
    why: why.WhyResult | None = None  # the flows behind the evidence in the detail box
    why_asked: bool = False
    panes: dict[str, Pane] = field(default_factory=lambda: {
        "tree": Pane(), "timeline": Pane(EMPTY, "select a time window in the tree (Enter)"),
        "evidence": Pane(EMPTY, ""), "ipinfo": Pane(EMPTY, "no IP selected")})
    # bookkeeping: generation of the data (a refresh bumps it) and what was asked
    gen: int = 0
    names_gen: int = -1
    facts_gen: int = -1
    facts_seconds: float = 0.0
    asked: dict[str, Any] = field(default_factory=dict)
    lost: str | None = None
    last_ping: float = 0.0
    message: str = ""
    refreshed_at: float = 0.0
    pending_jump: TreeRow | None = None
    moved: bool = False  # the user has moved or opened something: keep their place from now on
    _ev_memo: tuple[Any, list[tuple[str, Any, int]]] = field(default=(None, []), repr=False)
    _memo_key: tuple | None = field(default=None, repr=False)
    _memo: tuple[list[str], list[TreeRow]] = field(default=([], []), repr=False)

    # ================================================================ reads
    def wants(self, now: float | None = None) -> list[Request]:
        """The reads the board needs now. The app submits those whose key changed."""
        now = time.monotonic() if now is None else now
        if self.lost:
            if now - self.last_ping < PING_SECONDS:
                return []
            self.last_ping = now
            return [Request("ping", ("ping", now), lambda d: d.ping(), "bg", 0, "reconnect")]
        out: list[Request] = []
        if self.names_gen < self.gen:
            gen = self.gen
            out.append(Request("names", ("names", gen), _sorted_names, "bg", 0, "profiles"))
        if self.names is not None and self.facts_gen < self.names_gen:
            names, gen = self.names, self.names_gen
            out.append(Request("facts", ("facts", gen), lambda d: _facts(d, names), "bg", 1,
                               "malicious marks and threat levels"))
        if self.names is not None:
            missing = [r.ip for r in self.visible_rows() if r.tw is None and self._stale(self.details.get(r.ip))]
            if missing:
                out.append(Request("details", ("details", tuple(missing), self.gen),
                                   lambda d, ips=missing: datatree.profile_details(d, ips), "fg", 4, "profile details"))
            unstriped = [r.ip for r in self.visible_rows() if r.tw is None and self._stale(self.strips.get(r.ip))]
            if unstriped:
                out.append(Request("strips", ("strips", tuple(unstriped), self.gen),
                                   lambda d, ips=unstriped: datatree.window_threats(d, ips), "fg", 6, "threat strips"))
        for ip in sorted(self.expanded | ({self.selected[0]} if self.selected else set())):
            if self._stale(self.windows.get(ip)):
                out.append(Request(f"windows:{ip}", (ip, self.gen), lambda d, ip=ip: d.timewindows(ip), "fg", 3,
                                   f"time windows of {ip}"))
        if self.selected:
            ip, tw = self.selected
            start, length = self._timeline_page()
            fold = self.collapse
            out.append(Request("timeline", (ip, tw, start, length, fold, self.gen),
                               lambda d: _timeline(d, ip, tw, start, length, fold), "fg", 0, "timeline"))
            out.append(Request("evidence", (ip, tw, self.gen), lambda d: _evidence(d, ip, tw), "fg", 1, "evidence"))
            if self.why_asked and isinstance(self.detail, Evidence):
                e = self.detail
                out.append(Request("why", (ip, tw, e.id, self.gen), lambda d: why.evidence_flows(d, ip, tw, e),
                                   "fg", 0, "the flows behind the evidence"))
        focused = self.focused_ip()
        if focused:
            out.append(Request("ipinfo", (focused, self.gen), lambda d: d.ip_info(focused), "fg", 2, "IP info"))
        return out

    def _stale(self, entry: tuple[int, Any] | None) -> bool:
        return entry is None or entry[0] < self.gen

    def _timeline_page(self) -> tuple[int, int]:
        """The slice of the timeline to hold: the visible lines plus a screen above and below."""
        if self.collapse:
            return 0, COLLAPSE_LIMIT
        h = max(self.timeline_height, 1)
        lo, hi = self.timeline_offset, self.timeline_offset + len(self.timeline)
        if self.timeline and lo <= self.timeline_top and self.timeline_top + h <= hi:
            return tuple(self.asked.get("timeline", (None, None, lo, hi - lo))[2:4])  # type: ignore[return-value]
        return max(self.timeline_top - h, 0), 3 * h

    def refresh(self) -> None:
        """Ask for everything again (the loader reads it in the background)."""
        self.gen += 1

    def apply(self, result: Result) -> None:
        """Take in one loader result; results for a selection the user has left are dropped."""
        slot = result.slot
        if result.problem is not None and result.problem.state == LOST:
            if not self.lost:
                self.message = ""
            self.lost = result.problem.reason
            self.last_ping = time.monotonic()
            for name in self._panes_of(slot):
                self.panes[name].set(LOST, result.problem.reason)
            return
        if slot == "ping":
            if result.problem is None and result.failure is None:
                self.lost = None
                self.message = "connection restored"
                self.gen += 1
            return
        if slot.startswith("windows:"):
            self._apply_windows(slot[len("windows:"):], result)
            return
        handler = getattr(self, f"_apply_{slot}", None)
        if handler is not None:
            handler(result)

    def _panes_of(self, slot: str) -> tuple[str, ...]:
        return {"names": ("tree",), "timeline": ("timeline",), "evidence": ("evidence",),
                "ipinfo": ("ipinfo",)}.get(slot, ())

    def _problem(self, result: Result, pane: str) -> bool:
        """Set the pane's state from a failed result; True when the result carried no data."""
        if result.problem is not None:
            self.panes[pane].set(UNAVAILABLE, result.problem.reason)
            return True
        if result.failure is not None:
            self.panes[pane].set(UNAVAILABLE, f"could not be read ({result.failure}); see the log")
            return True
        return False

    def _apply_names(self, result: Result) -> None:
        gen = result.key[1]
        if self._problem(result, "tree"):
            self.names_gen = gen  # tried; a refresh tries again
            return
        current = self.current_row()
        self.names, self.names_gen = result.value, gen
        self.refreshed_at = time.time()
        if self.facts is not None:
            self.threat_names = threat_order(self.names, self.facts)
        if self.names:
            self.panes["tree"].set(READY)
        else:
            self.panes["tree"].set(EMPTY, "waiting for Slips… (no profiles yet)")
        self._keep_row(current)

    def _apply_facts(self, result: Result) -> None:
        gen = result.key[1]
        self.facts_gen = gen
        if result.value is None:
            self._problem(result, "tree")
            return
        current = self.current_row()
        self.facts, self.threat_names = result.value
        self.facts_seconds = result.seconds
        if self.moved:
            self._keep_row(current)
        else:
            self.tree_cursor = self.tree_top = 0  # the first screen: the most severe host on top
        if self.pending_jump is None and self.message.startswith("malicious marks are still loading"):
            self.message = ""

    def _apply_details(self, result: Result) -> None:
        if result.value:
            gen = result.key[2]
            self.details.update({ip: (gen, d) for ip, d in result.value.items()})

    def _apply_strips(self, result: Result) -> None:
        if result.value:
            gen = result.key[2]
            self.strips.update({ip: (gen, v) for ip, v in result.value.items()})
        if len(self.strips) > 4 * WINDOW_CACHE:  # only the rows on screen need one
            keep = {r.ip for r in self.visible_rows()}
            self.strips = {ip: v for ip, v in self.strips.items() if ip in keep}

    def _apply_windows(self, ip: str, result: Result) -> None:
        gen = result.key[1]
        if result.value is None:
            self.windows[ip] = (gen, ())
            if result.problem is not None:
                self.message = result.problem.reason
            return
        current = self.current_row()
        self.windows[ip] = (gen, result.value)
        if len(self.windows) > WINDOW_CACHE:
            for old in [k for k in self.windows if k not in self.expanded][: len(self.windows) - WINDOW_CACHE]:
                del self.windows[old]
        if self.pending_jump and self.pending_jump.ip == ip:
            target, self.pending_jump = self.pending_jump, None
            self._keep_row(target)
        else:
            self._keep_row(current)

    def _apply_timeline(self, result: Result) -> None:
        ip, tw = result.key[:2]
        if (ip, tw) != self.selected or result.key != self.asked.get("timeline"):
            return
        if self._problem(result, "timeline"):
            return
        page, runs = result.value
        self.timeline, self.timeline_offset, self.timeline_lines = page.items, page.offset, page.total
        self.timeline_runs = tuple(runs or ())
        self.timeline_total = len(self.timeline_runs) if runs is not None else page.total
        if self.timeline_total and self.timeline_cursor >= self.timeline_total:
            self.timeline_cursor = self.timeline_total - 1
        self.panes["timeline"].set(READY if page.total else EMPTY, "this time window has no timeline lines")

    def _apply_evidence(self, result: Result) -> None:
        if result.key[:2] != self.selected:
            return
        if self._problem(result, "evidence"):
            return
        self.evidence, self.alerts, self.summary = result.value
        self.evidence_cursor = min(self.evidence_cursor, max(self.evidence_rows() - 1, 0))
        self.panes["evidence"].set(READY if self.evidence or self.alerts else EMPTY,
                                   "no evidence in this time window")

    def _apply_why(self, result: Result) -> None:
        if not isinstance(self.detail, Evidence) or result.key[2] != self.detail.id:
            return
        if result.value is not None:
            self.why = result.value
        else:
            reason = result.problem.reason if result.problem else result.failure or ""
            self.why = why.WhyResult(why.NOTHING, f"could not be read: {reason}", "")

    def _apply_ipinfo(self, result: Result) -> None:
        if result.key[0] != self.focused_ip():
            return
        if self._problem(result, "ipinfo"):
            return
        self.ip_info = result.value
        self.panes["ipinfo"].set(READY)

    # ================================================================= tree
    def order(self) -> list[str]:
        """Profile IPs in the current sort order (IP order until the threat facts are loaded)."""
        if self.sort_by_threat and self.threat_names is not None:
            return self.threat_names
        return self.names or []

    def host_name(self, ip: str) -> str | None:
        detail = self.details.get(ip)
        if detail and detail[1].host_name:
            return detail[1].host_name
        return self.facts.host_names.get(ip) if self.facts else None

    def marks(self, ip: str) -> dict[str, int]:
        return self.facts.marks.get(ip, {}) if self.facts else {}

    def profile_windows(self, ip: str) -> tuple[TimeWindow, ...] | None:
        entry = self.windows.get(ip)
        return entry[1] if entry else None

    def window(self, ip: str, name: str) -> TimeWindow | None:
        return next((tw for tw in self.profile_windows(ip) or () if tw.name == name), None)

    def malicious(self, ip: str) -> bool:
        if self.marks(ip):
            return True
        return any(tw.malicious for tw in self.profile_windows(ip) or ())

    def _tree(self) -> tuple[list[str], list[TreeRow]]:
        windows_key = tuple((ip, id(self.windows.get(ip))) for ip in sorted(self.expanded))
        key = (id(self.order()), len(self.order()), self.filter_text, frozenset(self.expanded), windows_key,
               id(self.facts))
        if key != self._memo_key:
            needle = self.filter_text.lower()
            shown = [ip for ip in self.order()
                     if not needle or needle in ip.lower() or needle in (self.host_name(ip) or "").lower()]
            rows: list[TreeRow] = []
            for ip in shown:
                rows.append(TreeRow(ip, None))
                if ip in self.expanded:
                    rows.extend(TreeRow(ip, tw.name) for tw in self.profile_windows(ip) or ())
            self._memo_key, self._memo = key, (shown, rows)
        return self._memo

    def shown_profiles(self) -> list[str]:
        return self._tree()[0]

    def rows(self) -> list[TreeRow]:
        return self._tree()[1]

    def visible_rows(self) -> list[TreeRow]:
        rows = self.rows()
        self._scroll_tree(len(rows))
        return rows[self.tree_top: self.tree_top + max(self.tree_height, 1)]

    def _scroll_tree(self, n: int) -> None:
        self.tree_cursor = max(0, min(self.tree_cursor, n - 1))
        h = max(self.tree_height, 1)
        if self.tree_cursor < self.tree_top:
            self.tree_top = self.tree_cursor
        elif self.tree_cursor >= self.tree_top + h:
            self.tree_top = self.tree_cursor - h + 1
        self.tree_top = max(0, min(self.tree_top, max(n - h, 0)))

    def current_row(self) -> TreeRow | None:
        rows = self.rows()
        return rows[self.tree_cursor] if 0 <= self.tree_cursor < len(rows) else None

    def _keep_row(self, row: TreeRow | None) -> None:
        """Put the cursor back on ``row`` after the rows changed (refresh, sort, filter)."""
        rows = self.rows()
        if row is not None and row in rows:
            self.tree_cursor = rows.index(row)
        elif row is not None and TreeRow(row.ip, None) in rows:
            self.tree_cursor = rows.index(TreeRow(row.ip, None))
        self.tree_cursor = max(0, min(self.tree_cursor, len(rows) - 1))

    def focused_ip(self) -> str | None:
        """The IP the IP box shows: the timeline line's peer, or the tree's profile."""
        if self.focus == "timeline":
            entry = self.timeline_entry()
            if entry and entry.peer:
                return entry.peer
        row = self.current_row()
        return row.ip if row else None

    def timeline_entry(self) -> TimelineEntry | None:
        if self.collapse:
            run = self.timeline_runs[self.timeline_cursor] if 0 <= self.timeline_cursor < len(self.timeline_runs) \
                else None
            return run.entry if run else None
        i = self.timeline_cursor - self.timeline_offset
        return self.timeline[i] if 0 <= i < len(self.timeline) else None

    def timeline_run(self) -> triage.TimelineRun | None:
        if self.collapse and 0 <= self.timeline_cursor < len(self.timeline_runs):
            return self.timeline_runs[self.timeline_cursor]
        return None

    # ============================================================= evidence
    def evidence_items(self) -> list[tuple[str, Any, int]]:
        """The evidence pane's rows: (kind, object, depth). Kinds: 'alerts' (the alerts line),
        'alert', 'group' and 'item' (one evidence); expanded lines are followed by their items."""
        key = (id(self.summary), frozenset(self.evidence_open))
        if self._ev_memo[0] == key:
            return self._ev_memo[1]
        rows: list[tuple[str, Any, int]] = []
        s = self.summary
        if s is not None:
            if s.alerts:
                rows.append(("alerts", s, 0))
                if "alerts" in self.evidence_open:
                    for a in s.alerts:
                        rows.append(("alert", a, 1))
                        if ("alert", a.id) in self.evidence_open:
                            rows.extend(("item", e, 2) for e in a.evidence)
            for g in s.groups:
                rows.append(("group", g, 0))
                if ("group", g.key) in self.evidence_open:
                    rows.extend(("item", e, 1) for e in g.items)
        self._ev_memo = (key, rows)
        return rows

    def evidence_row(self) -> tuple[str, Any, int] | None:
        rows = self.evidence_items()
        return rows[self.evidence_cursor] if 0 <= self.evidence_cursor < len(rows) else None

    # ============================================================= commands
    def run(self, name: str, page_rows: int) -> None:
        self.moved = True
        COMMANDS[name](self, page_rows)

    @command("focus_next")
    def focus_next(self, _: int) -> None:
        self.focus = FOCUS_ORDER[(FOCUS_ORDER.index(self.focus) + 1) % len(FOCUS_ORDER)]

    @command("focus_prev")
    def focus_prev(self, _: int) -> None:
        self.focus = FOCUS_ORDER[(FOCUS_ORDER.index(self.focus) - 1) % len(FOCUS_ORDER)]

    def _move(self, delta: int, absolute: int | None = None) -> None:
        if self.focus == "tree":
            n = len(self.rows())
            self.tree_cursor = max(0, min(absolute if absolute is not None else self.tree_cursor + delta, n - 1))
        elif self.focus == "timeline":
            target = absolute if absolute is not None else self.timeline_cursor + delta
            self.timeline_cursor = max(0, min(target, self.timeline_total - 1))
            h = max(self.timeline_height, 1)
            self.timeline_top = max(min(self.timeline_top, self.timeline_cursor), self.timeline_cursor - h + 1, 0)
        else:
            n = self.evidence_rows()
            self.evidence_cursor = max(0, min(absolute if absolute is not None else self.evidence_cursor + delta,
                                              n - 1))
            h = max(self.evidence_height, 1)
            self.evidence_top = max(min(self.evidence_top, self.evidence_cursor), self.evidence_cursor - h + 1, 0)

    def evidence_rows(self) -> int:
        return len(self.evidence_items())

    @command("up")
    def up(self, _: int) -> None:
        self._move(-1)

    @command("down")
    def down(self, _: int) -> None:
        self._move(1)

    @command("page_up")
    def page_up(self, rows: int) -> None:
        self._move(-rows)

    @command("page_down")
    def page_down(self, rows: int) -> None:
        self._move(rows)

    @command("home")
    def home(self, _: int) -> None:
        self._move(0, 0)

    @command("end")
    def end(self, _: int) -> None:
        last = {"tree": len(self.rows()), "timeline": self.timeline_total, "evidence": self.evidence_rows()}
        self._move(0, max(last[self.focus] - 1, 0))

    @command("open")
    def open(self, _: int) -> None:
        if self.focus == "timeline":
            self.show_detail(self.timeline_run() or self.timeline_entry())
            return
        if self.focus == "evidence":
            row = self.evidence_row()
            if row is None:
                return
            kind, obj, _ = row
            toggle = {"alerts": "alerts", "alert": ("alert", getattr(obj, "id", None)),
                      "group": ("group", getattr(obj, "key", None))}.get(kind)
            if toggle is None:
                self.show_detail(obj)
            else:
                self.evidence_open.symmetric_difference_update({toggle})
            return
        row = self.current_row()
        if row is None:
            return
        if row.tw is None:
            self.expanded.symmetric_difference_update({row.ip})
        else:
            self.select_timewindow(row.ip, row.tw)

    def show_detail(self, obj: Any) -> None:
        self.detail, self.why, self.why_asked = obj, None, False

    def close_detail(self) -> None:
        self.detail, self.why, self.why_asked = None, None, False

    def ask_why(self) -> None:
        """Read the flows behind the evidence in the detail box (the loader does it)."""
        if isinstance(self.detail, Evidence):
            self.why_asked = True

    @command("collapse")
    def toggle_collapse(self, _: int) -> None:
        self.collapse = not self.collapse
        self.timeline_cursor = self.timeline_top = 0
        self.timeline, self.timeline_runs, self.timeline_total = (), (), 0
        if self.selected:
            self.panes["timeline"].set(LOADING)
        self.message = ("repeated timeline lines folded (×N)" if self.collapse
                        else "every timeline line shown")

    @command("right")
    def right(self, page: int) -> None:
        if self.focus == "tree":
            row = self.current_row()
            if row and row.tw is None and row.ip not in self.expanded:
                self.expanded.add(row.ip)
            elif row and row.tw is not None:
                self.select_timewindow(row.ip, row.tw)
        else:
            self.hscroll[self.focus] += 8  # the app stops it at the longest line

    @command("left")
    def left(self, _: int) -> None:
        if self.focus == "tree":
            row = self.current_row()
            if row:
                self.expanded.discard(row.ip)
                self._keep_row(TreeRow(row.ip, None))
        else:
            self.hscroll[self.focus] = max(self.hscroll[self.focus] - 8, 0)

    def select_timewindow(self, ip: str, tw: str) -> None:
        if self.selected != (ip, tw):
            self.selected = (ip, tw)
            self.timeline, self.timeline_total, self.timeline_offset = (), 0, 0
            self.timeline_top = self.timeline_cursor = self.evidence_cursor = self.evidence_top = 0
            self.evidence, self.alerts, self.summary = (), (), None
            self.evidence_open = set()
            self.timeline_runs = ()
            self.hscroll = {"timeline": 0, "evidence": 0}
            self.panes["timeline"].set(LOADING)
            self.panes["evidence"].set(LOADING)

    def click_tree(self, index: int) -> None:
        self.moved = True
        rows = self.rows()
        if 0 <= self.tree_top + index < len(rows):
            self.focus = "tree"
            self.tree_cursor = self.tree_top + index
            self.open(0)

    def click_timeline(self, index: int) -> None:
        if 0 <= self.timeline_top + index < self.timeline_total:
            self.focus = "timeline"
            self.timeline_cursor = self.timeline_top + index

    @command("sort")
    def sort(self, _: int) -> None:
        row = self.current_row()
        self.sort_by_threat = not self.sort_by_threat
        self._keep_row(row)
        if self.sort_by_threat and self.facts is None:
            self.message = "profiles will sort by threat when the malicious marks are loaded…"
        else:
            self.message = "profiles sorted by " + ("threat" if self.sort_by_threat else "IP")

    def set_filter(self, text: str) -> None:
        self.moved = True
        row = self.current_row()
        self.filter_text = text
        self._keep_row(row)
        n = len(self.shown_profiles())
        self.message = (f"filter '{text}': {n} profile{'s' if n != 1 else ''}" if text else "filter cleared")

    def _jump_malicious(self, step: int) -> None:
        """Select the next (1) or previous (-1) malicious time window in tree order."""
        if self.facts is None:
            self.message = "malicious marks are still loading…"
            return
        shown = self.shown_profiles()
        targets = sorted(((pi, timewindow_number(tw) or 0), TreeRow(ip, tw))
                         for pi, ip in enumerate(shown) for tw in self.marks(ip))
        if not targets:
            self.message = "no malicious time window" + (" matches the filter" if self.filter_text else "")
            return
        row = self.current_row()
        index = {ip: i for i, ip in enumerate(shown)} if row else {}
        pi = index.get(row.ip, -1) if row else -1
        here = (pi, timewindow_number(row.tw) or 0) if row and row.tw else (pi, float("-inf"))
        if step > 0:
            target = next((t for pos, t in targets if pos > here), targets[0][1])
        else:
            target = next((t for pos, t in reversed(targets) if pos < here), targets[-1][1])
        self.expanded.add(target.ip)
        self.focus = "tree"
        self.select_timewindow(target.ip, target.tw or "")
        if target in self.rows():
            self._keep_row(target)
        else:
            self._keep_row(TreeRow(target.ip, None))
            self.pending_jump = target  # the cursor moves there when the windows arrive

    @command("next_malicious")
    def next_malicious(self, _: int) -> None:
        self._jump_malicious(1)

    @command("prev_malicious")
    def prev_malicious(self, _: int) -> None:
        self._jump_malicious(-1)

    @command("refresh")
    def refresh_now(self, _: int) -> None:
        self.refresh()
        self.message = "refreshing…"


def _sorted_names(data: Any) -> list[str]:
    """Profile names in IP order; sorted in the loader so the UI never sorts 100,000 names."""
    return sorted(datatree.profile_names(data), key=ip_sort_key)


def _facts(data: Any, names: list[str]) -> tuple[datatree.TreeFacts, list[str]]:
    facts = datatree.tree_facts(data, names)
    return facts, threat_order(names, facts)


def _timeline(data: Any, ip: str, tw: str, start: int, length: int, fold: bool) -> tuple[Any, Any]:
    page = data.timeline(ip, tw, start, length)
    return page, (triage.collapse_timeline(page.items) if fold else None)


def _evidence(data: Any, ip: str, tw: str) -> tuple[tuple[Evidence, ...], tuple[Any, ...], triage.EvidenceSummary]:
    """Evidence, alerts and their grouping, computed here: grouping 100,000 evidence takes seconds."""
    evidence, alerts = tuple(data.evidence(ip, tw)), tuple(data.alerts(ip, tw))
    return evidence, alerts, triage.group_evidence(evidence, alerts)
