"""H OutTuples and I InTuples: each tuple's behavioural letters with the IP's ASN, country and
VirusTotal summary. Long letter strings wrap (x toggles one line per tuple); -l N limits them.
L shows the legend of the Stratosphere letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kalipso.data.models import IPInfo, OutTuple
from kalipso.triage import ip_sort_key, plural
from kalipso.views.base import Handled, Line, PageRequest, Selection, Size, View, ViewKey, line, scroll_key, wrapped

LEGEND = [
    "Stratosphere behavioural letters: one letter per flow of the tuple.",
    "Letter = periodicity x size x duration of the flow:",
    "  a-i  strongly periodic      A-I  weakly periodic      r-z  weakly not periodic",
    "  R-Z  strongly not periodic  1-9  no periodicity known yet (first flows)",
    "  within each group the letter grows with the flow's size and duration.",
    "Symbol before a letter = time since the previous flow of the tuple:",
    "  .  < 5 s     ,  < 60 s     +  < 5 min     *  < 1 h     0  timeout (> 1 h)",
    "Long runs of one lowercase letter with '.' or ',' are the mark of a beacon (C&C).",
]


@dataclass(frozen=True)
class TuplesModel:
    profile: str | None
    timewindow: str | None
    tuples: tuple[OutTuple, ...] = ()
    info: dict[str, IPInfo] | None = None
    unavailable: str | None = None


def vt_summary(info: IPInfo | None) -> str:
    if not info or not info.virustotal:
        return ""
    return "VT " + " ".join(f"{k.replace('_file', '')}:{v}" for k, v in info.virustotal)


def tuple_order(t: OutTuple) -> tuple:
    """IPs numerically (v4 before v6, unparsable last), then the port as a number, then proto."""
    return (ip_sort_key(t.daddr), int(t.dport) if t.dport.isdigit() else 1 << 17, t.dport, t.proto)


class OutTuplesView(View):
    name, key, title = "OutTuples", "H", "Out tuples"
    help = "behavioural letters of each (IP, port, protocol) the profile talked to"
    direction = "out"
    keys = (ViewKey("x", "wrap the letters / one line per tuple"),
            ViewKey("L", "legend of the behavioural letters"),
            ViewKey("Up Down PgUp PgDn g G", "scroll"))

    def new_state(self) -> dict[str, Any]:
        return {"offset": 0, "wrap": True, "legend": False}

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        # read whole, then sliced by render: scrolling must not fetch again (a new page would)
        return PageRequest(0, 0)

    def fetch(self, data: Any, selection: Selection, page: Any) -> TuplesModel:
        if not selection.profile or not selection.timewindow:
            return TuplesModel(selection.profile, None, unavailable="select a time window on the main board first")
        tuples = (data.out_tuples if self.direction == "out" else data.in_tuples)(
            selection.profile, selection.timewindow)
        info = data.ip_infos([t.daddr for t in tuples]) if tuples else {}
        return TuplesModel(selection.profile, selection.timewindow, tuple(sorted(tuples, key=tuple_order)), info)

    def render(self, model: TuplesModel, size: Size, state: dict[str, Any]) -> list[Line]:
        head = line((f"{self.title} of {model.profile or '-'} {model.timewindow or ''}", "title"),
                    (f"   {plural(len(model.tuples), 'tuple')}   [x] wrap/one line   [L] legend", "dim"))
        if model.unavailable:
            return [head, line()] + wrapped(model.unavailable, size.cols, "warning")
        if state.get("legend"):
            return [head, line()] + [line((text, "normal")) for text in LEGEND]
        if not model.tuples:
            why = ("Slips writes in tuples only with analysis_direction = all" if self.direction == "in"
                   else "no out tuples in this time window")
            return [head, line(), line((why, "dim"))]
        limit = int(self.options.get("letters_limit") or 0)
        width = max(size.cols, 20)
        body: list[Line] = []
        for t in model.tuples:
            info = (model.info or {}).get(t.daddr)
            meta = "  ".join(x for x in (
                " ".join(y for y in (info.asn_number, info.asn_org) if y) if info else "",
                info.country if info and info.country else "", vt_summary(info)) if x)
            body.append(line((f"{t.daddr}:{t.dport}/{t.proto}", "ip"), (f"  {meta}", "dim"),
                             (f"  ({plural(len(t.letters), 'letter')})", "dim")))
            letters = t.letters[:limit] + ("…" if limit and len(t.letters) > limit else "") if limit else t.letters
            if state.get("wrap", True):
                chunk = max(width - 4, 10)
                for i in range(0, max(len(letters), 1), chunk):
                    body.append(line(("    " + letters[i:i + chunk], "port")))
            else:
                body.append(line(("    " + letters[: width - 4], "port")))
        offset = min(state.get("offset", 0), max(len(body) - 1, 0))
        state["offset"] = offset
        state["_rows"] = len(body)
        return [head] + body[offset: offset + size.rows - 1]

    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        if key == "x":
            state["wrap"] = not state.get("wrap", True)
            return Handled.REDRAW
        if key == "L":
            state["legend"] = not state.get("legend", False)
            return Handled.REDRAW
        return scroll_key(key, state, 10, state.get("_rows"))


class InTuplesView(OutTuplesView):
    name, key, title = "InTuples", "I", "In tuples"
    help = "behavioural letters of each tuple that connected to the profile"
    direction = "in"
