"""A: activity charts (asciichartpy) of the selected profile: flows and bytes over the selected
time window, and the number of evidence in each of the profile's time windows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import asciichartpy

from kalipso.data.models import Activity
from kalipso.text import format_ts, human_bytes
from kalipso.triage import plural
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


# Bucket widths that read well on an axis label, in seconds.
NICE_WIDTHS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200)


def bucket_count(duration: float, most: int) -> int:
    """How many buckets to cut ``duration`` seconds into: the narrowest width of NICE_WIDTHS
    (10 s, 30 s, 1 min, 5 min ...) that divides it evenly in at most ``most`` buckets."""
    most = max(most, 1)
    for width in NICE_WIDTHS:
        n = duration / width
        if n <= most and abs(n - round(n)) < 1e-6:
            return max(int(round(n)), 1)
    return most


def width_label(seconds: float) -> str:
    """60 -> '1 min', 30 -> '30 s', 3600 -> '1 h', 36 -> '36 s'."""
    for unit, name in ((3600, "h"), (60, "min")):
        if seconds >= unit and abs(seconds / unit - round(seconds / unit)) < 1e-6:
            return f"{round(seconds / unit)} {name}"
    return f"{seconds:.0f} s" if abs(seconds - round(seconds)) < 1e-6 else f"{seconds:.1f} s"


def nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 x 10^k that is at least ``raw``."""
    scale = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= raw)


def chart(values: list[float], height: int, kind: str = "count") -> list[Line]:
    """An asciichartpy line chart whose y ticks are round: whole numbers for counts (``kind``
    'count'), round sizes for 'bytes'. An all-zero series is a flat line at 0."""
    if not values or height < 2:
        return []
    top = max(max(values), 0.0)
    if top <= 0:
        step, rows = 1.0, 0  # flat at 0: one row, no spike to 1
    else:
        unit = 1024 ** max(int(math.log(top, 1024)), 0) if kind == "bytes" else 1
        step = nice_step(max(top / unit / (height - 1), 1 if kind == "count" else 0.1)) * unit
        rows = max(math.ceil(top / step - 1e-9), 1)
    text = asciichartpy.plot(values, {"min": 0, "max": rows * step, "height": rows, "format": "{:8.0f} "})
    labels = [human_bytes(rows * step - i * step) if kind == "bytes" else f"{rows * step - i * step:,.0f}"
              for i in range(rows + 1)]
    lw = max(8, max(len(label) for label in labels))
    out = []
    for i, row in enumerate(text.split("\n")):
        cut = next((j for j, c in enumerate(row) if c in "┤┼"), -1)
        if cut < 0:
            out.append(line(row))
            continue
        label = labels[i] if i < len(labels) else ""
        out.append(line((f"{label:>{lw}} {row[cut]}", "dim"), (row[cut + 1:], "bar")))
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
        duration = (tw.end - tw.start) if tw.start is not None and tw.end is not None else 3600.0
        activity = data.activity(profile.ip, tw, buckets=bucket_count(duration, min(page.limit, 120)))
        counts = data.evidence_counts(profile.ip, [t.name for t in profile.timewindows])
        return ActivityModel(profile.ip, tw.name, activity, tuple(counts.items()))

    def render(self, model: ActivityModel, size: Size, state: dict[str, Any]) -> list[Line]:
        head = line((f"{self.title}: {model.profile or '-'} {model.timewindow or ''}", "title"))
        if model.unavailable or model.activity is None:
            return [head, line()] + wrapped(model.unavailable or "no data", size.cols, "warning")
        a = model.activity
        height = max((size.rows - 5) // 3, 3)
        per = width_label(a.bucket_seconds)
        flows = sum(a.flows)
        out = [head, line((f"Flows per {per} from {format_ts(a.start)} "
                           f"({plural(flows, 'flow')} in the timeline)", "header"))]
        out += chart([float(v) for v in a.flows], height, "count")
        if a.bytes is not None:
            total = sum(a.bytes)
            out.append(line((f"Bytes per {per} (from the {a.bytes_source}; "
                             + (f"total {human_bytes(total)})" if total else "no bytes: total 0 B)"), "header")))
            out += chart([float(v) for v in a.bytes], height, "bytes")
        else:
            out.append(line(("Bytes: not available (no flows file, and the timeline is too long to read)", "dim")))
        counts = [float(n) for _, n in model.evidence_per_window]
        out.append(line((f"Evidence per time window ({plural(len(counts), 'window')}, "
                         f"{model.evidence_per_window[0][0] if counts else '-'} .. "
                         f"{model.evidence_per_window[-1][0] if counts else '-'})", "header")))
        out += chart(downsample(counts, max(size.cols - 14, 10)), height, "count")
        return out[: size.rows]
