"""The main board's state: what is selected, expanded and scrolled, and what each pane holds.

Plain Python: no curses, no Redis. The board says which reads it wants (``wants``), the app
hands them to the loader, and the answers come back through ``apply``. It never reads data
itself, so a key is handled in microseconds whatever the database does. Every pane is in one
state: loading, ready, empty, unavailable (reason) or lost (connection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kalipso import triage
from kalipso.boardreads import NEW_SECONDS, BoardReads
from kalipso.data import tree as datatree
from kalipso.data import why
from kalipso.data.models import Evidence, IPInfo, TimelineEntry, TimeWindow
from kalipso.data.parse import timewindow_number
from kalipso.loader import EMPTY, LOADING
from kalipso.treerows import SYNC_FILTER, TreeRow, TreeRows, filter_profiles, same_filter, scroll_window

FOCUS_ORDER = ("tree", "timeline", "evidence")


@dataclass
class Pane:
    """The state of one pane; ``reason`` says why it is empty, unavailable or lost."""

    status: str = LOADING
    reason: str = ""

    def set(self, status: str, reason: str = "") -> None:
        self.status, self.reason = status, reason


COMMANDS: dict[str, Callable[[Board, int], None]] = {}


def command(name: str) -> Callable[[Callable[[Board, int], None]], Callable[[Board, int], None]]:
    """Register a board method as the handler of a key-table command."""

    def register(fn: Callable[[Board, int], None]) -> Callable[[Board, int], None]:
        COMMANDS[name] = fn
        return fn

    return register


@dataclass
class Board(BoardReads):
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
    facts_names: list[str] | None = None  # the names the last facts were read for
    facts_seconds: float = 0.0
    asked: dict[str, Any] = field(default_factory=dict)
    lost: str | None = None
    last_ping: float = 0.0
    message: str = ""
    refreshed_at: float = 0.0
    pending_jump: TreeRow | None = None
    pending_step: int = 0  # an n/b pressed before the marks were loaded
    facts_problem: str = ""  # why the marks could not be read (they are then not "loading")
    selected_gone: bool = False  # Slips deleted the selected time window or profile
    moved: bool = False  # the user has moved or opened something: keep their place from now on
    # live Slips: the analysis read first, new alerts not yet seen, when new rows appeared
    identity: Any = None
    identity_gen: int = -1
    prefetched: Any = None  # firstnames.NamesPrefetch: the names read while the program started
    restarted: Any = None  # the identity of a new analysis on the same database, to reopen
    notices: list[tuple[str, str, int, bool]] = field(default_factory=list)  # (ip, tw, new alerts, new host)
    bell: bool = False
    first_seen: dict[Any, float] = field(default_factory=dict)  # ip or (ip, tw) -> monotonic time
    _ev_memo: tuple[Any, list[tuple[str, Any, int]]] = field(default=(None, []), repr=False)
    _memo_key: tuple | None = field(default=None, repr=False)
    _memo_refs: tuple = field(default=(), repr=False)
    _positions: tuple[list[str], Any, str | None, dict[str, int]] | None = field(default=None, repr=False)
    filtered: tuple[tuple, list[str]] | None = None  # (filter_key(), shown) from the loader
    _memo: tuple[list[str], TreeRows] = field(default=([], None), repr=False)  # type: ignore[assignment]

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

    def _tree(self) -> tuple[list[str], TreeRows]:
        order = self.order()
        names_by_host = self.facts.host_names if self.facts else None
        windows = tuple(self.windows.get(ip) for ip in sorted(self.expanded))
        # the objects themselves are kept with the memo, so their ids cannot be reused
        refs = (order, names_by_host, windows, self.filtered)
        key = (tuple(map(id, refs[:2])), tuple(map(id, windows)), len(order), self.filter_text,
               frozenset(self.expanded), len(self.details), id(self.filtered))
        if key != self._memo_key:
            needle = self.filter_text.lower()
            if not needle:
                shown = order
            elif len(order) <= SYNC_FILTER:
                shown = filter_profiles(order, needle, names_by_host, self._detail_hosts())
            else:
                # a large tree is filtered in the loader (the "filter" read of wants()); until the answer for
                # this text is in, the last answer (or the whole tree) stays on screen
                done = self.filtered
                shown = done[1] if done is not None else order
            opened = {ip: tuple(tw.name for tw in self.profile_windows(ip) or ()) for ip in self.expanded}
            self._memo_key, self._memo, self._memo_refs = key, (shown, TreeRows(shown, opened)), refs
            self._positions = None
        return self._memo

    def _detail_hosts(self) -> dict[str, str]:
        return {ip: d[1].host_name for ip, d in self.details.items() if d[1].host_name}

    def filter_key(self) -> tuple | None:
        """What the loader filters for a large tree now, or None (no filter, or a small tree):
        the text, the very order and host-name objects (compared with ``is``: an id could be
        reused by a later object), and how many rows have details."""
        needle = self.filter_text.lower()
        order = self.order()
        if not needle or len(order) <= SYNC_FILTER:
            return None
        return (needle, order, self.facts.host_names if self.facts else None, len(self.details))

    def filter_done(self, key: tuple | None = None) -> bool:
        """The loader's last answer is the answer for ``key`` (by default the current one)."""
        key = self.filter_key() if key is None else key
        return self.filtered is not None and same_filter(self.filtered[0], key)

    @property
    def filtering(self) -> bool:
        """A large tree's filter is being computed in the loader."""
        return self.filter_key() is not None and not self.filter_done()

    def positions(self) -> dict[str, int]:
        """Index in the shown tree of each profile with malicious windows, and of the selected
        row's profile (for n/b): one pass, kept while the tree, the marks and the row stay
        (the very objects: an id could be reused by a later one). A map of every shown
        profile held ~5 MiB at 100,000 profiles."""
        shown = self.shown_profiles()
        marks = self.facts.marks if self.facts else {}
        row = self.current_row()
        ip = row.ip if row else None
        cached = self._positions
        if cached is None or cached[0] is not shown or cached[1] is not marks or cached[2] != ip:
            wanted = set(marks) | ({ip} if ip else set())
            cached = self._positions = (shown, marks, ip, {p: i for i, p in enumerate(shown) if p in wanted})
        return cached[3]

    def shown_profiles(self) -> list[str]:
        return self._tree()[0]

    def rows(self) -> TreeRows:
        return self._tree()[1]

    def visible_rows(self) -> list[TreeRow]:
        rows = self.rows()
        self._scroll_tree(len(rows))
        return rows[self.tree_top: self.tree_top + max(self.tree_height, 1)]

    def _scroll_tree(self, n: int) -> None:
        self.tree_cursor = max(0, min(self.tree_cursor, n - 1))
        self.tree_top = scroll_window(self.tree_cursor, self.tree_top, self.tree_height, n)

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

    @staticmethod
    def evidence_key(kind: str, obj: Any) -> Any:
        """What ``evidence_open`` holds for an expandable evidence row (None: not expandable)."""
        return {"alerts": "alerts", "alert": ("alert", getattr(obj, "id", None)),
                "group": ("group", getattr(obj, "key", None))}.get(kind)

    def evidence_row(self) -> tuple[str, Any, int] | None:
        rows = self.evidence_items()
        return rows[self.evidence_cursor] if 0 <= self.evidence_cursor < len(rows) else None

    # ============================================================= commands
    def run(self, name: str, page_rows: int) -> None:
        self.moved = True
        self.pending_jump, self.pending_step = None, 0  # a later key overrides a jump still waiting
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
            toggle = self.evidence_key(kind, obj)
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
        self.notices = [n for n in self.notices if n[:2] != (ip, tw)]  # seen
        if self.selected != (ip, tw) or self.selected_gone:
            self.selected = (ip, tw)
            self.selected_gone = False
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
        self.message = self.filter_message()

    def filter_message(self) -> str:
        if not self.filter_text:
            return "filter cleared"
        if self.filtering:
            return f"filter '{self.filter_text}': filtering {len(self.order()):,} profiles…"
        n = len(self.shown_profiles())
        return f"filter '{self.filter_text}': {n:,} profile{'s' if n != 1 else ''}"

    def _jump_malicious(self, step: int) -> None:
        """Select the next (1) or previous (-1) malicious time window in tree order."""
        if self.facts is None and self.facts_problem:
            self.message = f"malicious marks are not available: {self.facts_problem}"
            return
        if self.facts is None:
            self.pending_step = step  # done when the marks arrive
            self.message = "malicious marks are still loading… (the jump follows)"
            return
        position = self.positions()
        targets = sorted(((position[ip], timewindow_number(tw) or 0), TreeRow(ip, tw))
                         for ip, windows in self.facts.marks.items() if ip in position for tw in windows)
        if not targets:
            self.message = "no malicious time window" + (" matches the filter" if self.filter_text else "")
            return
        row = self.current_row()
        if row and row.tw is None and self.selected and self.selected[0] == row.ip:
            # the cursor is on the profile of the selected window, whose row is not there (yet:
            # n pressed again before its windows were read): go on from the window, not before it
            row = TreeRow(*self.selected)
        pi = position.get(row.ip, -1) if row else -1
        here = (pi, timewindow_number(row.tw) or 0) if row and row.tw else (pi, float("-inf"))
        if step > 0:
            target = next((t for pos, t in targets if pos > here), targets[0][1])
        else:
            target = next((t for pos, t in reversed(targets) if pos < here), targets[-1][1])
        self._jump_to(target)

    @command("newest_alert")
    def newest_alert(self, _: int) -> None:
        """Jump to the time window of the newest alert that arrived while Kalipso was open."""
        if not self.notices:
            self.message = "no new alert since Kalipso started"
            return
        ip, tw, _, _ = self.notices[-1]
        self.notices.clear()
        self._jump_to(TreeRow(ip, tw))

    def _jump_to(self, target: TreeRow) -> None:
        self.expanded.add(target.ip)
        self.focus = "tree"
        if target.ip not in self.shown_profiles() and self.filter_text:
            self.set_filter("")
        self.select_timewindow(target.ip, target.tw or "")
        if target in self.rows():
            self._keep_row(target)
        else:
            self._keep_row(TreeRow(target.ip, None))
            self.pending_jump = target  # the cursor moves there when the windows arrive

    def notice_text(self) -> str:
        """'2 new alerts: 192.168.1.23 timewindow5 (a: go there)', or '' when all were seen."""
        if not self.notices:
            return ""
        n = sum(count for _, _, count, _ in self.notices)
        ip, tw, _, new_host = self.notices[-1]
        what = f"{n} new alert{'s' if n != 1 else ''}: {ip} {tw}"
        return what + (" (a new malicious host)" if new_host else "") + " [a: go there]"

    def is_new(self, key: Any, now: float) -> bool:
        seen = self.first_seen.get(key)
        return seen is not None and now - seen < NEW_SECONDS

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


