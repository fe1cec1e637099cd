"""V: the evidence of every time window of the selected profile, newest window first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kalipso.data.models import Evidence, TimeWindow
from kalipso.text import format_ts
from kalipso.views.base import Handled, Line, Selection, Size, View, line, scroll_key


@dataclass(frozen=True)
class ProfileEvidence:
    profile: str | None
    windows: tuple[tuple[TimeWindow, tuple[Evidence, ...]], ...] = ()
    unavailable: str | None = None


def _style(level: str) -> str:
    return {"critical": "critical", "high": "malicious", "medium": "warning"}.get(level, "normal")


class ProfileEvidenceView(View):
    name, key, title = "ProfileEvidence", "V", "Evidence of all time windows"
    help = "every evidence of the selected profile, time window by time window"

    def fetch(self, data: Any, selection: Selection, page: Any) -> ProfileEvidence:
        if not selection.profile:
            return ProfileEvidence(None, unavailable="select a profile on the main board first")
        profile = data.profile(selection.profile)
        windows = tuple((tw, tuple(data.evidence(profile.ip, tw.name)))
                        for tw in reversed(profile.timewindows))
        return ProfileEvidence(profile.ip, windows)

    def render(self, model: ProfileEvidence, size: Size, state: dict[str, Any]) -> list[Line]:
        total = sum(len(ev) for _, ev in model.windows)
        head = line((f"{self.title} of {model.profile or '-'}", "title"),
                    (f"   {total} evidence in {len(model.windows)} time windows", "dim"))
        if model.unavailable:
            return [head, line(), line((model.unavailable, "warning"))]
        body: list[Line] = []
        for tw, evidence in model.windows:
            mark = "! " if tw.malicious else ""
            body.append(line((f"{mark}{tw.name}  {format_ts(tw.start)}", "malicious" if tw.malicious else "header"),
                             (f"  {len(evidence)} evidence, {tw.alert_count} alerts", "dim")))
            for e in evidence:
                body.append(line((f"  {e.threat_level or '?':<8} ", _style(e.threat_level)),
                                 (f"{e.evidence_type} ", "title"), (e.description, "normal")))
        state["_rows"] = len(body)
        offset = min(state.get("offset", 0), max(len(body) - 1, 0))
        return [head] + body[offset: offset + size.rows - 1]

    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        return scroll_key(key, state, 10, state.get("_rows"))
