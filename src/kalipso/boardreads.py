"""The board's reads: which reads it wants now, and how their results come in.

A mixin of Board. ``wants`` turns the board's state (what is selected, expanded, visible) into
loader requests, one slot per pane; ``apply`` takes the results in and sets each pane's state.
Results for a selection the user has already left are dropped. The read functions at the end
run in the loader thread, so sorting and grouping never happen on the UI thread.
"""

from __future__ import annotations

import bisect
import time
from typing import TYPE_CHECKING, Any

from kalipso import triage
from kalipso.data import live, why
from kalipso.data import tree as datatree
from kalipso.data.models import Evidence
from kalipso.firstnames import sorted_names
from kalipso.loader import EMPTY, LOST, READY, UNAVAILABLE, Request, Result
from kalipso.order import ip_sort_key, threat_order
from kalipso.treerows import filter_profiles, same_filter

if TYPE_CHECKING:
    from kalipso.board import Board

PING_SECONDS = 2.0  # how often a lost connection is tried again
NEW_SECONDS = 60.0  # how long a new profile or time window is marked in the tree
STRIP_EVERY = 3  # refreshes between two reads of the threat strips on screen
FULL_FACTS_EVERY = 6  # refreshes between two reads of every profile's threat level and host name
WINDOW_CACHE = 64  # time-window lists kept for profiles that are not expanded
COLLAPSE_LIMIT = 5000  # timeline lines read at once to fold repeated lines into runs


class BoardReads:
    """Reads of the Board (see the module). ``self`` is the Board."""
    def wants(self: Board, now: float | None = None) -> list[Request]:
        """The reads the board needs now. The app submits those whose key changed."""
        now = time.monotonic() if now is None else now
        if self.lost:
            if now - self.last_ping < PING_SECONDS:
                return []
            self.last_ping = now
            return [Request("ping", ("ping", now), lambda d: d.ping(), "bg", 0, "reconnect")]
        out: list[Request] = []
        if self.names_gen < self.gen:
            gen, known, facts = self.gen, self.names, self.facts
            # now and then a full read: a profile deleted and one added keep the count
            full = gen % FULL_FACTS_EVERY == 0
            fn = lambda d: _sorted_names(d, known, facts, full)  # noqa: E731
            if self.prefetched is not None:  # the names read while the program started
                fn = lambda d, p=self.prefetched: (p.take(), None, [])  # noqa: E731
                self.prefetched = None
            out.append(Request("names", ("names", gen), fn, "bg", 0, "profiles"))
        if self.identity_gen < self.gen:
            gen = self.gen
            # before the names: a new analysis on the same port must not fill the old board
            out.append(Request("identity", ("identity", gen), live.analysis_identity, "bg", -1, "the analysis"))
        if self.names is not None and self.facts_gen < self.names_gen:
            names, gen, facts = self.names, self.names_gen, self.facts
            # marks are read on every refresh (new alerts); threat levels and host names of
            # every profile when the profiles changed, and on every FULL_FACTS_EVERY-th refresh
            if facts is not None and names is self.facts_names and gen % FULL_FACTS_EVERY:
                fn = lambda d: _marks_only(d, names, facts)  # noqa: E731
            else:
                fn = lambda d: _facts(d, names)  # noqa: E731
            self.facts_names = names
            out.append(Request("facts", ("facts", gen), fn, "bg", 1,
                               "malicious marks and threat levels"))
        if self.names is not None:
            missing = [r.ip for r in self.visible_rows() if r.tw is None and self._stale(self.details.get(r.ip))]
            if missing:
                out.append(Request("details", ("details", tuple(missing), self.gen),
                                   lambda d, ips=missing: datatree.profile_details(d, ips), "fg", 4, "profile details"))
            # strips read every evidence of a profile's windows: every STRIP_EVERY-th refresh
            strip_gen = self.gen - self.gen % STRIP_EVERY
            unstriped = [r.ip for r in self.visible_rows()
                         if r.tw is None and (r.ip not in self.strips or self.strips[r.ip][0] < strip_gen)]
            if unstriped:
                out.append(Request("strips", ("strips", tuple(unstriped), strip_gen),
                                   lambda d, ips=unstriped: datatree.window_threats(d, ips), "bg", 5, "threat strips"))
        # windows of the expanded profiles on screen and of the selected one; others wait until
        # they scroll into view (a refresh does not re-read a hundred expanded profiles)
        on_screen = {r.ip for r in self.visible_rows()} if self.names is not None else set()
        for ip in sorted((self.expanded & on_screen) | ({self.selected[0]} if self.selected else set())):
            if self._stale(self.windows.get(ip)):
                out.append(Request(f"windows:{ip}", (ip, self.gen), lambda d, ip=ip: d.timewindows(ip), "fg", 3,
                                   f"time windows of {ip}"))
        if self.selected and not self.selected_gone:
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
        filter_key = self.filter_key()
        if filter_key is not None and not self.filter_done(filter_key):
            order, needle = self.order(), filter_key[0]
            hosts, detail_hosts = (self.facts.host_names if self.facts else None), self._detail_hosts()
            out.append(Request("filter", filter_key,
                               lambda d: (filter_key, filter_profiles(order, needle, hosts, detail_hosts)),
                               "fg", 1, "filter"))
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
        # per-profile memory stays bounded: what is on screen is read again anyway
        if len(self.details) > 4 * WINDOW_CACHE:
            keep = {r.ip for r in self.visible_rows()}
            self.details = {ip: d for ip, d in self.details.items() if ip in keep}
        now = time.monotonic()
        self.first_seen = {k: t for k, t in self.first_seen.items() if now - t < NEW_SECONDS}
        del self.notices[:-100]

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
        names, threat_names, new = result.value
        if names is self.names:  # the same names: nothing to rebuild
            self.names_gen = gen
            self.refreshed_at = time.time()
            if self.names:
                self.panes["tree"].set(READY)
            return
        current = self.current_row()
        if self.names is not None:
            now = time.monotonic()
            self.first_seen.update(dict.fromkeys(new, now))
            if self.selected and not _sorted_contains(names, self.selected[0]):
                self._gone(f"Slips deleted the profile {self.selected[0]}")
        self.names, self.names_gen = names, gen
        self.refreshed_at = time.time()
        if threat_names is not None:
            self.threat_names = threat_names  # ordered in the loader with the facts known then
        if self.names:
            self.panes["tree"].set(READY)
        else:
            self.panes["tree"].set(EMPTY, "waiting for Slips… (no profiles yet)")
        self._keep_row(current)

    def _apply_facts(self, result: Result) -> None:
        gen = result.key[1]
        self.facts_gen = gen
        if result.value is None:
            reason = result.problem.reason if result.problem else f"{result.failure} (see the log)"
            self.facts_problem = reason
            if self.pending_step:
                self.pending_step = 0
                self.message = f"malicious marks are not available: {reason}"
            return
        self.facts_problem = ""
        facts, threat_names = result.value
        self.facts_seconds = result.seconds  # sets the refresh interval, also when nothing changed
        if facts is self.facts:
            return  # the marks did not change (threat levels and host names were not read)
        current = self.current_row()
        old = self.facts
        self.facts, self.threat_names = facts, threat_names
        if old is not None:
            self._notice_new_alerts(old.marks, self.facts.marks)
        if self.moved:
            self._keep_row(current)
        else:
            self.tree_cursor = self.tree_top = 0  # the first screen: the most severe host on top
        if self.pending_step:
            step, self.pending_step = self.pending_step, 0
            self._jump_malicious(step)
        elif self.pending_jump is None and self.message.startswith("malicious marks are still loading"):
            self.message = ""

    def _apply_identity(self, result: Result) -> None:
        self.identity_gen = result.key[1]
        if result.value is None:
            return
        if self.identity is None:
            self.identity = result.value
        elif not live.same_analysis(self.identity, result.value):
            self.restarted = result.value  # the app reopens the database: nothing is mixed
        else:
            self.identity = result.value  # fields that appear as Slips fills them in

    def _apply_filter(self, result: Result) -> None:
        if result.value is not None and same_filter(result.value[0], self.filter_key()):
            current = self.current_row()
            self.filtered = result.value  # else typed on since, or the tree changed: asked again
            self._keep_row(current)
            if self.message.startswith(f"filter '{self.filter_text}': filtering"):
                self.message = self.filter_message()

    def _apply_details(self, result: Result) -> None:
        if result.value:
            gen = result.key[2]
            self.details.update({ip: (gen, d) for ip, d in result.value.items()})

    def _notice_new_alerts(self, before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> None:
        """Remember alerts that appeared since the last refresh, newest last, until seen."""
        for ip, windows in after.items():
            for tw, count in windows.items():
                new = count - before.get(ip, {}).get(tw, 0)
                if new > 0 or (tw not in before.get(ip, {})):
                    self.notices.append((ip, tw, max(new, 1), ip not in before))
                    self.bell = True

    def _gone(self, why_text: str) -> None:
        self.selected_gone = True  # no more reads of it: the panes keep saying why
        for pane in ("timeline", "evidence"):
            self.panes[pane].set(EMPTY, why_text)
        self.timeline, self.timeline_runs, self.timeline_total = (), (), 0
        self.evidence, self.alerts, self.summary = (), (), None

    def _apply_strips(self, result: Result) -> None:
        if result.value:
            gen = result.key[2]
            self.strips.update({ip: (gen, v) for ip, v in result.value.items()})
        if len(self.strips) > 4 * WINDOW_CACHE:  # only the rows on screen need one
            keep = {r.ip for r in self.visible_rows()}
            self.strips = {ip: v for ip, v in self.strips.items() if ip in keep}

    def _apply_windows(self, ip: str, result: Result) -> None:
        gen = result.key[1]
        if result.value is None:  # keep what was read before; the next refresh tries again
            previous = self.windows.get(ip)
            self.windows[ip] = (gen, previous[1] if previous else ())
            self.message = result.problem.reason if result.problem else f"time windows of {ip}: {result.failure}"
            if self.pending_jump and self.pending_jump.ip == ip:
                self.pending_jump = None
            return
        current = self.current_row()
        previous = self.windows.get(ip)
        names = {tw.name for tw in result.value}
        if previous is not None:
            now = time.monotonic()
            known = {p.name for p in previous[1]}
            self.first_seen.update({(ip, tw.name): now for tw in result.value if tw.name not in known})
        if self.selected and self.selected[0] == ip and result.value and self.selected[1] not in names:
            self._gone(f"Slips deleted {self.selected[1]} of {ip} (it expires old time windows while it runs)")
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


def _sorted_names(data: Any, known: list[str] | None, facts: datatree.TreeFacts | None, full: bool = False
                  ) -> tuple[list[str], list[str] | None, list[str]]:
    """Profile names in IP order, in threat order when the facts are known, and the names that
    are not in ``known``; all computed in the loader so that the UI never sorts or compares
    100,000 names.

    A refresh first counts the profiles (one ZCARD/SCARD): the same count keeps ``known``, the
    very same list, so nothing downstream is rebuilt. So does a full read that finds the same
    names. Slips only adds profiles while it runs."""
    if known is not None and not full and datatree.profile_count(data) == len(known):
        return known, None, []
    names = sorted_names(data)
    if known is not None and names == known:
        return known, None, []
    if known is None:
        new: list[str] = []
    else:
        seen = set(known)
        new = [ip for ip in names if ip not in seen]
    return names, (threat_order(names, facts) if facts is not None else None), new


def _marks_only(data: Any, names: list[str], facts: datatree.TreeFacts
                ) -> tuple[datatree.TreeFacts, list[str] | None]:
    """A refresh of the malicious marks alone (one SCAN), keeping threat levels and host names.
    The same marks give back the same facts (the board then changes nothing)."""
    marks = datatree.malicious_marks(data)
    if marks == facts.marks:
        return facts, None
    fresh = datatree.TreeFacts(threat=facts.threat, host_names=facts.host_names, marks=marks)
    return fresh, threat_order(names, fresh)


def _sorted_contains(names: list[str], ip: str) -> bool:
    """``ip in names`` for names in IP order: a binary search, not 100,000 compares."""
    i = bisect.bisect_left(names, ip_sort_key(ip), key=ip_sort_key)
    return i < len(names) and names[i] == ip


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
