"""V: the evidence of every time window of the selected profile, newest window first, grouped.

Each window's evidence is folded by (evidence type, target) with ``kalipso.triage``: one line per
group, worst threat first, with its count, first-last time and a short description; groups that
took part in an alert are marked. A cursor moves over the lines: Enter expands a group (or the
alerts, or one alert into the evidence it was raised on), Enter on one evidence opens its detail
(every field, wrapped to the width) and Esc/Backspace closes it; f in a detail adds the flows
behind the evidence (Why, from ``kalipso.data.why``). t groups by type alone.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from kalipso.data.models import TimeWindow
from kalipso.data.why import WhyResult, evidence_flows
from kalipso.text import format_ts, sanitize
from kalipso.triage import EvidenceSummary, collapse_timeline, detail_fields, group_evidence, plural, wrap_fields
from kalipso.views.base import Handled, Line, PageRequest, Segment, Selection, Size, View, ViewKey, line

ENTER = ("\n", "\r", "KEY_ENTER")
CLOSE = ("\x1b", "KEY_BACKSPACE", "\x7f", "\b", "KEY_LEFT", "h")


@dataclass(frozen=True)
class WindowEvidence:
    """One time window with its evidence grouped by (type, target) and by type alone."""

    timewindow: TimeWindow
    by_target: EvidenceSummary
    by_type: EvidenceSummary


@dataclass(frozen=True)
class WhyPage(PageRequest):
    """The page V asks for once the user wants the flows behind one evidence: a new page makes
    the app fetch again, and fetch then also reads the Why of that evidence."""

    timewindow: str = ""
    evidence_id: str = ""


@dataclass(frozen=True)
class ProfileEvidence:
    profile: str | None
    windows: tuple[WindowEvidence, ...] = ()
    unavailable: str | None = None
    empty_windows: int = 0  # windows without evidence or alerts (not listed)
    why: tuple[str, str, WhyResult] | None = None  # (time window, evidence id, result)


def _style(level: str) -> str:
    return {"critical": "critical", "high": "malicious", "medium": "warning"}.get(level, "normal")


def _clock(text: str) -> str:
    """'2023/02/22 00:00:03' -> '00:00:03' (the window header carries the date)."""
    return text[-8:] if len(text) >= 8 and text[-3] == ":" else text


class ProfileEvidenceView(View):
    name, key, title = "ProfileEvidence", "V", "Evidence of all time windows"
    help = "every evidence of the selected profile, grouped by type and target, window by window"
    keys = (
        ViewKey("Up Down j k", "move the cursor"),
        ViewKey("PgUp PgDn g G", "move the cursor a page / to the ends"),
        ViewKey("Enter", "expand a group, the alerts or an alert; on one evidence: its detail"),
        ViewKey("Esc Backspace", "close the detail"),
        ViewKey("f", "in a detail: the flows behind the evidence (Why)"),
        ViewKey("t", "group by type and target / by type only"),
    )

    def new_state(self) -> dict[str, Any]:
        return {"offset": 0, "cursor": 0, "cursor_id": None, "open": set(), "closed": set(),
                "detail": None, "detail_offset": 0, "by_type": False}

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        # read whole, then sliced by render: scrolling must not fetch again (a new page would).
        # Asking for the flows of an evidence is a new page; it stays after the detail closes,
        # so closing it does not read the profile again.
        why = state.get("why")
        return WhyPage(0, 0, *why) if why else PageRequest(0, 0)

    # ------------------------------------------------------------------ data
    def fetch(self, data: Any, selection: Selection, page: Any) -> ProfileEvidence:
        if not selection.profile:
            return ProfileEvidence(None, unavailable="select a profile on the main board first")
        profile = data.profile(selection.profile)
        windows = []
        empty = 0
        for tw in reversed(profile.timewindows):
            evidence = data.evidence(profile.ip, tw.name)
            alerts = data.alerts(profile.ip, tw.name) if tw.malicious or evidence else []
            if not evidence and not alerts:
                empty += 1
                continue
            windows.append(WindowEvidence(tw, group_evidence(evidence, alerts),
                                          group_evidence(evidence, alerts, by_target=False)))
        why = None
        if isinstance(page, WhyPage):
            found = next((e for w in windows if w.timewindow.name == page.timewindow
                          for g in w.by_target.groups for e in g.items if e.id == page.evidence_id), None)
            if found is not None:
                why = (page.timewindow, page.evidence_id, evidence_flows(data, profile.ip, page.timewindow, found))
        return ProfileEvidence(profile.ip, tuple(windows), empty_windows=empty, why=why)

    # ------------------------------------------------------------------ drawing
    def render(self, model: ProfileEvidence, size: Size, state: dict[str, Any]) -> list[Line]:
        total = sum(w.by_target.total for w in model.windows)
        alerts = sum(w.by_target.alert_count for w in model.windows)
        head = line((f"{self.title} of {model.profile or '-'}", "title"),
                    (f"   {plural(total, 'evidence', 'evidence')}, {plural(alerts, 'alert')}, "
                     f"{plural(len(model.windows), 'window')}"
                     + (f" ({model.empty_windows} without evidence not shown)" if model.empty_windows else ""),
                     "dim"))
        if model.unavailable:
            return [head, line(), line((model.unavailable, "warning"))]
        if state.get("detail"):
            body = self._detail(model, size, state)
            if body is not None:
                return body
            state["detail"] = None  # the evidence is gone after a refresh
        rows = self._rows(model, state)
        if not rows:
            return [head, line(), line(("no evidence in any time window of this profile", "dim"))]
        ids = [ident for ident, _ in rows]
        state["_ids"] = ids
        cursor = ids.index(state["cursor_id"]) if state.get("cursor_id") in ids else \
            min(max(state.get("cursor", 0), 0), len(ids) - 1)
        state["cursor"], state["cursor_id"] = cursor, ids[cursor]
        height = max(size.rows - 1, 1)
        state["_page"] = height
        offset = min(max(state.get("offset", 0), cursor - height + 1, 0), cursor)
        state["offset"] = offset
        out = [head]
        for i in range(offset, min(offset + height, len(rows))):
            ln = rows[i][1]
            out.append(tuple(Segment(s.text, "selected") for s in ln) if i == cursor else ln)
        return out

    def _rows(self, model: ProfileEvidence, state: dict[str, Any]) -> list[tuple[tuple, Line]]:
        utf8 = self.options.get("utf8", True)
        shut, opened, times = ("▸", "▾", "×") if utf8 else (">", "v", "x")
        open_ = state.get("open", set())
        rows: list[tuple[tuple, Line]] = []
        for w in model.windows:
            tw = w.timewindow
            summary = w.by_type if state.get("by_type") else w.by_target
            wid = ("window", tw.name)
            expanded = wid not in state.get("closed", set())
            rows.append((wid, line(
                (f"{opened if expanded else shut} {'! ' if tw.malicious else ''}{tw.name}  {format_ts(tw.start)}",
                 "malicious" if tw.malicious else "header"),
                (f"  {plural(summary.total, 'evidence', 'evidence')} in {plural(len(summary.groups), 'group')}, "
                 f"{plural(summary.alert_count, 'alert')}", "dim"))))
            if not expanded:
                continue
            if summary.alerts:
                aid = ("alerts", tw.name)
                first = summary.first_alert
                rows.append((aid, line(
                    (f"  {opened if aid in open_ else shut} {plural(summary.alert_count, 'alert')}", "malicious"),
                    (f", first fired {first.fired}" + (" (time of its newest evidence)" if first.estimated else
                                                       f" (its newest evidence {_clock(first.evidence_time)})"
                                                       if first.evidence_time else ""), "dim"))))
                if aid in open_:
                    for a in summary.alerts:
                        one = ("alert", tw.name, a.id)
                        rows.append((one, line(
                            (f"    {opened if one in open_ else shut} alert {sanitize(a.id, 60)}", "malicious"),
                            (f"  fired {a.fired}  {plural(len(a.evidence_ids), 'evidence', 'evidence')}"
                             + (f" ({a.missing} gone)" if a.missing else ""), "dim"))))
                        if one in open_:
                            rows += [(("item", tw.name, one, e.id), self._item(e, "      "))
                                     for e in a.evidence]
            for g in summary.groups:
                gid = ("group", tw.name, g.evidence_type, g.target)
                target = g.target or (plural(len(g.targets), "target") if state.get("by_type") and g.targets else "")
                span = _clock(g.first) if g.first == g.last else f"{_clock(g.first)}-{_clock(g.last)}"
                rows.append((gid, line(
                    (f"  {opened if gid in open_ else shut} ", "dim"),
                    (f"{g.threat_level or '?':<8} ", _style(g.threat_level)),
                    (f"{times}{g.count:<5} ", "number"),
                    (sanitize(g.evidence_type, 60), "title"),
                    (f" {sanitize(target, 60)}" if target else "", "ip"),
                    (f"  {span}", "dim"),
                    ("  alert" if g.in_alert else "", "malicious"),
                    (f"  {sanitize(g.description, 300)}", "normal"))))
                if gid in open_:
                    rows += [(("item", tw.name, gid, e.id), self._item(e, "      ")) for e in g.items]
        return rows

    def _item(self, e: Any, indent: str) -> Line:
        when = e.timestamp if e.ts is None else format_ts(e.ts)
        return line((f"{indent}{_clock(when.split('.', 1)[0])} ", "dim"),
                    (f"{e.threat_level or '?':<8} ", _style(e.threat_level)),
                    (sanitize(e.description, 300) or sanitize(e.evidence_type), "normal"))

    def _detail(self, model: ProfileEvidence, size: Size, state: dict[str, Any]) -> list[Line] | None:
        tw_name, evidence_id = state["detail"]
        found = next((e for w in model.windows if w.timewindow.name == tw_name
                      for g in w.by_target.groups for e in g.items if e.id == evidence_id), None)
        if found is None:
            return None
        width = max(size.cols, 20)
        fields = wrap_fields([(k, sanitize(v, 20000)) for k, v in detail_fields(found)], width)
        body = [line((label, "header"), (text, "normal")) for label, text in fields]
        body += self._why(model, state, tw_name, evidence_id, width)
        head = line((f"Evidence of {model.profile} {tw_name}", "title"),
                    ("   [Esc] back  [f] flows behind it", "dim"))
        height = max(size.rows - 1, 1)
        state["_detail_rows"] = len(body)
        state["_page"] = height
        offset = min(max(state.get("detail_offset", 0), 0), max(len(body) - height, 0))
        state["detail_offset"] = offset
        return [head] + body[offset: offset + height]

    def _why(self, model: ProfileEvidence, state: dict[str, Any], tw_name: str, evidence_id: str,
             width: int) -> list[Line]:
        if state.get("why") != (tw_name, evidence_id):
            return [line(), line(("[f] shows the flows behind this evidence", "dim"))]
        if model.why is None or model.why[:2] != (tw_name, evidence_id):
            return [line(), line(("Why: loading…", "dim"))]
        result = model.why[2]
        out = [line()] + [line((text, "header")) for text in _wrap(f"Why: {result.source}", width)]
        if result.note:
            out += [line((text, "dim")) for text in _wrap(result.note, width)]
        if result.flows:
            out.append(line((plural(len(result.flows), "flow"), "dim")))
            for flow in result.flows:
                stamp = format_ts(flow.ts) if flow.ts is not None else "-"
                out += [line((text, "normal")) for text in _wrap(f"{stamp}  {sanitize(flow.summary, 2000)}", width)]
        elif result.timeline:
            runs = collapse_timeline(result.timeline)
            out.append(line((f"{plural(len(result.timeline), 'line')} to {sanitize(result.target or '-')}"
                             + (f", {plural(len(runs), 'run')} of identical lines" if len(runs) < len(result.timeline)
                                else ""), "dim")))
            for run in runs:
                e = run.entry
                when = run.first if run.count == 1 else f"{run.first} - {_clock(run.last)} x{run.count}"
                text = " ".join(p for p in (when, e.daddr, e.dport_proto, e.state,
                                            f"{e.tot} B" if e.tot else "", e.warning) if p)
                out += [line((t, "normal")) for t in _wrap(sanitize(text, 2000), width)]
        elif result.kind != "none":
            out.append(line(("no such lines in this time window", "dim")))
        return out

    # ------------------------------------------------------------------ keys
    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        page = max(state.get("_page", 10), 1)
        if state.get("detail"):
            if key in CLOSE or key in ENTER:
                state["detail"] = None
                return Handled.REDRAW
            if key == "f":
                state["why"] = tuple(state["detail"])  # a new page: the app fetches the Why
                return Handled.REDRAW
            step = _step(key, page, state.get("_detail_rows", 0))
            if step is None:
                return Handled.NO  # q leaves the view
            state["detail_offset"] = max(state.get("detail_offset", 0) + step, 0) if abs(step) < 10**9 else \
                (0 if step < 0 else state.get("_detail_rows", 0))
            return Handled.REDRAW
        ids: list[tuple] = state.get("_ids", [])
        if key == "t":
            state["by_type"] = not state.get("by_type", False)
            return Handled.REDRAW
        if key in ENTER and ids:
            ident = ids[min(state.get("cursor", 0), len(ids) - 1)]
            if ident[0] == "item":
                state["detail"], state["detail_offset"] = (ident[1], ident[3]), 0
            elif ident[0] == "window":
                state.setdefault("closed", set()).symmetric_difference_update({ident})
            else:
                state.setdefault("open", set()).symmetric_difference_update({ident})
            return Handled.REDRAW
        if key in ("KEY_BACKSPACE", "\x7f", "\b", "KEY_LEFT") and ids:
            # close what the cursor is in: an expanded group/alert, or the item's parent
            ident = ids[min(state.get("cursor", 0), len(ids) - 1)]
            parent = ident[2] if ident[0] == "item" else ident
            if parent in state.get("open", set()):
                state["open"].discard(parent)
                state["cursor_id"] = parent
                return Handled.REDRAW
            return Handled.NO
        step = _step(key, page, len(ids))
        if step is None:
            return Handled.NO
        cursor = state.get("cursor", 0) + step if abs(step) < 10**9 else (0 if step < 0 else len(ids) - 1)
        state["cursor"] = min(max(cursor, 0), max(len(ids) - 1, 0))
        state["cursor_id"] = ids[state["cursor"]] if ids else None
        return Handled.REDRAW


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, max(width, 10), break_long_words=True) or [""]


def _step(key: str, page: int, total: int) -> int | None:
    """Cursor movement of a key (±10**9 for the ends), None for other keys."""
    return {"KEY_DOWN": 1, "j": 1, "KEY_UP": -1, "k": -1, "KEY_NPAGE": page, " ": page,
            "KEY_PPAGE": -page, "KEY_HOME": -10**9, "g": -10**9, "KEY_END": 10**9, "G": 10**9}.get(key)
