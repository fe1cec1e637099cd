"""E C B P N: flows, packets and bytes per port or IP, Established and Not Established side by side.

The rows come from ``SlipsData.aggregates`` (Redis for classic/middle Slips, the SQLite flows
file for current Slips). Bars are on a log scale so that one chatty port does not flatten the
rest. Keys: s cycles the sort measure, t cycles the protocol filter, arrows/PgUp/PgDn scroll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kalipso.data.models import ESTABLISHED, NOT_ESTABLISHED, FlowAggregate
from kalipso.text import human_bytes, sanitize
from kalipso.triage import ip_sort_key, plural
from kalipso.views.base import (
    Handled,
    Line,
    PageRequest,
    Selection,
    Size,
    View,
    ViewKey,
    line,
    scroll_key,
    wrapped,
)

MEASURES = ("flows", "packets", "bytes")
PROTOCOLS = ("all", "tcp", "udp", "icmp")


@dataclass(frozen=True)
class TableModel:
    profile: str | None
    timewindow: str | None
    rows: tuple[FlowAggregate, ...] = ()
    unavailable: str | None = None


def log_bar(value: int | None, maximum: int, width: int) -> str:
    """A bar whose length grows with log10(1 + value), full at ``maximum``."""
    if not value or maximum <= 0 or width <= 0:
        return ""
    filled = width * math.log10(1 + value) / math.log10(1 + maximum)
    return "█" * max(1, round(filled))


def _fmt(value: int | None, measure: str) -> str:
    if value is None:
        return "-"
    return human_bytes(value) if measure == "bytes" else f"{value:,}"


class AggregateView(View):
    """Shared engine of the five port/IP tables; subclasses name the table and the key column."""

    table = ""
    key_header = "key"
    key_width = 15
    keys = (ViewKey("s", "cycle the sort and the bars: flows, packets, bytes"),
            ViewKey("t", "cycle the protocol: all, tcp, udp, icmp"),
            ViewKey("Up Down PgUp PgDn g G", "scroll both tables"))

    def new_state(self) -> dict[str, Any]:
        return {"offset": 0, "sort": "flows", "proto": "all"}

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        return PageRequest(0, 0)  # the table of one time window is read whole, then sliced

    def fetch(self, data: Any, selection: Selection, page: PageRequest) -> TableModel:
        if not selection.profile or not selection.timewindow:
            return TableModel(selection.profile, None, unavailable="select a time window on the main board first")
        agg = data.aggregates(selection.profile, selection.timewindow)
        if not agg.available:
            return TableModel(selection.profile, selection.timewindow, unavailable=agg.unavailable_reason)
        return TableModel(selection.profile, selection.timewindow, rows=agg.table(self.table))

    def _rows(self, model: TableModel, state: dict[str, Any], which: str) -> list[FlowAggregate]:
        measure = state.get("sort", "flows")
        proto = state.get("proto", "all")
        rows = [r for r in model.rows if r.state == which and (proto == "all" or r.proto == proto)]
        rows.sort(key=lambda r: (-(getattr(r, measure) or 0), _key_order(r.key)))
        return rows

    def render(self, model: TableModel, size: Size, state: dict[str, Any]) -> list[Line]:
        head = f"{self.title} of {model.profile or '-'} {model.timewindow or ''}"
        if model.unavailable:
            why = f"Not available: {model.unavailable}"
            return [line((head, "title")), line()] + wrapped(why, size.cols, "warning")
        est, nest = self._rows(model, state, ESTABLISHED), self._rows(model, state, NOT_ESTABLISHED)
        sort, proto = state.get("sort", "flows"), state.get("proto", "all")
        lines = [line((sanitize(head), "title"),
                      (f"   sort: {sort} [s]   protocol: {proto} [t]   bars: log scale", "dim"))]
        half = max((size.cols - 1) // 2, 20)
        if half >= self.key_width + 38:  # both tables fit side by side with their whole keys
            left = self._side("Established", est, half, size.rows - 1, state)
            right = self._side("Not Established", nest, half, size.rows - 1, state)
            for i in range(max(len(left), len(right))):
                a = left[i] if i < len(left) else line(" " * half)
                b = right[i] if i < len(right) else line()
                lines.append(_pad(a, half) + line(("│", "dim")) + b)
        else:  # one above the other, each the full width
            top_h = max((size.rows - 1) // 2, 3)
            top = self._side("Established", est, size.cols, top_h, state)
            lines += top + [line()] * (top_h - len(top))
            lines += self._side("Not Established", nest, size.cols, size.rows - 1 - top_h, state)
        return lines[: max(size.rows, 1)]

    def _side(self, label: str, rows: list[FlowAggregate], width: int, height: int,
              state: dict[str, Any]) -> list[Line]:
        measure = state.get("sort", "flows")
        totals = {m: sum(getattr(r, m) or 0 for r in rows) for m in MEASURES}
        title = (f"{label}: {plural(len(rows), 'row')}, {plural(totals['flows'], 'flow')}, "
                 f"{plural(totals['packets'], 'pkt')}, {human_bytes(totals['bytes'])}")
        # column widths: roomy when there is space, tight at 80 columns (two tables of 38)
        fw, pw, bw, prw = (7, 8, 10, 5) if width >= 50 else (6, 7, 9, 4)
        kw = min(self.key_width, max(width - (fw + pw + bw + prw + 5), 6))
        header = f"{self.key_header[:kw]:<{kw}} {'proto'[:prw]:<{prw}} {'flows':>{fw}} {'pkts':>{pw}} {'bytes':>{bw}} "
        out = [line((sanitize(title, width), "header")), line((header[:width], "header"))]
        bar_width = max(width - len(header), 0)
        maximum = max((getattr(r, measure) or 0 for r in rows), default=0)
        offset = state.get("offset", 0)
        for r in rows[offset: offset + max(height - 2, 0)]:
            text = (f"{sanitize(r.key, kw):<{kw}} {r.proto[:prw]:<{prw}} {_fmt(r.flows, 'flows'):>{fw}} "
                    f"{_fmt(r.packets, 'packets'):>{pw}} {_fmt(r.bytes, 'bytes'):>{bw}} ")
            out.append(line(text[:width], (log_bar(getattr(r, measure), maximum, bar_width), "bar")))
        if not rows:
            out.append(line(("(none)", "dim")))
        return out

    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        if key == "s":
            state["sort"] = MEASURES[(MEASURES.index(state.get("sort", "flows")) + 1) % len(MEASURES)]
            return Handled.REDRAW
        if key == "t":
            state["proto"] = PROTOCOLS[(PROTOCOLS.index(state.get("proto", "all")) + 1) % len(PROTOCOLS)]
            state["offset"] = 0
            return Handled.REDRAW
        return scroll_key(key, state, 10)


def _key_order(key: str) -> tuple:
    """Ports numerically, IPs numerically (v4 before v6), 'ip:port' by IP then port."""
    if key.isdigit():
        return (0, int(key), "")
    ip, sep, port = key.rpartition(":")
    if sep and port.isdigit() and ip_sort_key(ip)[0] < 2:
        return (1, ip_sort_key(ip), int(port))
    return (1, ip_sort_key(key), 0)


def _pad(ln: Line, width: int) -> Line:
    used = sum(len(s.text) for s in ln)
    return ln + line(" " * max(width - used, 0)) if used < width else ln


class SrcPortClientView(AggregateView):
    name, key, title, table = "SrcPortClient", "E", "Source ports as client", "src_ports_client"
    key_header, key_width = "src port", 8
    help = "flows/packets/bytes per source port the profile used as client"


class DstIPsClientView(AggregateView):
    name, key, title, table = "DstIPsClient", "C", "Destination IPs as client", "dst_ips_client"
    key_header, key_width = "dst IP", 39
    help = "flows/packets/bytes per destination IP the profile talked to"


class DstPortServerView(AggregateView):
    name, key, title, table = "DstPortServer", "B", "Destination ports as server", "dst_ports_server"
    key_header, key_width = "dst port", 8
    help = "flows/packets/bytes per port of the profile that others connected to"


class DstPortsClientView(AggregateView):
    name, key, title, table = "DstPortsClient", "P", "Destination ports as client", "dst_ports_client"
    key_header, key_width = "dst port", 8
    help = "flows/packets/bytes per destination port the profile connected to"


class DstPortsClientIPsView(AggregateView):
    name, key, title, table = "DstPortsClientIPs", "N", "Destination IP:port as client", "dst_ports_client_ips"
    key_header, key_width = "dst IP:port", 45
    help = "flows/packets/bytes per destination IP and port"
