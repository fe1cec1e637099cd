"""A: activity charts (asciichartpy) of the selected profile: flows and bytes over the selected
time window, and the number of evidence in each of the profile's time windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asciichartpy

from kalipso.data.models import Activity
from kalipso.text import format_ts, human_bytes
from kalipso.views.base import Line, PageRequest, Selection, Size, View, line, wrapped


@dataclass(frozen=True)
class ActivityModel:
    profile: str | None
    timewindow: str | None
    activity: Activity | None = None
    evidence_per_window: tuple[tuple[str, int], ...] = ()
    unavailable: str | None = None


def downsample(values: list[float], width: int) -> list[float]:
    """At most ``width`` points; each keeps the maximum of the values it covers."""
    if len(values) <= width or width <= 0:
        return values
    step = len(values) / width
    return [max(values[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)]


def chart(values: list[float], height: int, fmt: str) -> list[Line]:
    if not values or height < 2:
        return []
    if max(values) == min(values):
        values = values + [values[-1] + 1]  # a flat series still draws (asciichartpy needs a range)
    if max(values) - min(values) < height and "0f" in fmt:
        fmt = fmt.replace(".0f", ".1f")  # a small range: whole numbers would repeat on the axis
    text = asciichartpy.plot(values, {"height": height - 1, "format": fmt})
    out = []
    for row in text.split("\n"):
        cut = next((i for i, c in enumerate(row) if c in "┤┼"), -1)
        out.append(line((row[: cut + 1], "dim"), (row[cut + 1:], "bar")) if cut >= 0 else line(row))
    return out


class ActivityView(View):
    name, key, title = "Activity", "A", "Activity over time"
    help = "charts of flows and bytes over the time window, and evidence per time window"

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        return PageRequest(0, max(size.cols - 14, 10))  # one bucket per chart column

    def fetch(self, data: Any, selection: Selection, page: PageRequest) -> ActivityModel:
        if not selection.profile or not selection.timewindow:
            return ActivityModel(selection.profile, None, unavailable="select a time window on the main board first")
        profile = data.profile(selection.profile)
        tw = profile.timewindow(selection.timewindow)
        if tw is None:
            return ActivityModel(profile.ip, selection.timewindow, unavailable="the time window is gone")
        activity = data.activity(profile.ip, tw, buckets=min(page.limit, 120))
        counts = data.evidence_counts(profile.ip, [t.name for t in profile.timewindows])
        return ActivityModel(profile.ip, tw.name, activity, tuple(counts.items()))

    def render(self, model: ActivityModel, size: Size, state: dict[str, Any]) -> list[Line]:
        head = line((f"{self.title}: {model.profile or '-'} {model.timewindow or ''}", "title"))
        if model.unavailable or model.activity is None:
            return [head, line()] + wrapped(model.unavailable or "no data", size.cols, "warning")
        a = model.activity
        height = max((size.rows - 5) // 3, 3)
        minutes = a.bucket_seconds / 60
        out = [head, line((f"Flows per {minutes:.1f} min from {format_ts(a.start)} "
                           f"({sum(a.flows)} flows in the timeline)", "header"))]
        out += chart([float(v) for v in a.flows], height, "{:8.0f} ")
        if a.bytes is not None:
            out.append(line((f"Bytes per {minutes:.1f} min (from the {a.bytes_source}; "
                             f"total {human_bytes(sum(a.bytes))})", "header")))
            out += chart([float(v) for v in a.bytes], height, "{:8.3g} ")
        else:
            out.append(line(("Bytes: not available (no flows file, and the timeline is too long to read)", "dim")))
        counts = [float(n) for _, n in model.evidence_per_window]
        out.append(line((f"Evidence per time window ({len(counts)} windows, "
                         f"{model.evidence_per_window[0][0] if counts else '-'} .. "
                         f"{model.evidence_per_window[-1][0] if counts else '-'})", "header")))
        out += chart(downsample(counts, max(size.cols - 14, 10)), height, "{:8.0f} ")
        return out[: size.rows]
