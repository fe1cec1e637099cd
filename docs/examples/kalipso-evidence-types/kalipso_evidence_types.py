"""Kalipso view: the evidence of the selected time window, counted by type."""

from collections import Counter

from kalipso.views.base import Handled, Size, View, ViewKey, line, scroll_key


class EvidenceTypesView(View):
    name = "EvidenceTypes"          # must equal the entry-point name
    key = "T"                       # one printable character the main board does not use
    title = "Evidence by type"
    api_version = 1
    help = "how many evidence of each type the selected time window has"
    keys = (ViewKey("Up Down PgUp PgDn g G", "scroll"),)  # the view's own keys, listed by the ? overlay

    def fetch(self, data, selection, page):
        # The only place that reads data, always through the SlipsData API. It runs in Kalipso's
        # loader thread and may take a while (the view says "loading…"): never touch state here.
        # A data problem (kalipso.data.ConnectionLost, SlowRedis, UnexpectedData) may propagate:
        # Kalipso shows it as the view's state, not as a failure of the view.
        if not (selection.profile and selection.timewindow):
            return None
        return Counter(e.evidence_type for e in data.evidence(selection.profile, selection.timewindow))

    def render(self, model, size: Size, state):
        # Pure: lines of (text, style) segments. No curses, no I/O.
        if model is None:
            return [line(("Select a time window on the main board first.", "warning"))]
        rows = [line((f"{count:>6}  ", "number"), (kind, "title")) for kind, count in model.most_common()]
        types = f"{len(model)} type" + ("" if len(model) == 1 else "s")  # "1 type", "2 types"
        head = line((f"{sum(model.values())} evidence of {types}", "header"))
        offset = state.get("offset", 0)
        return [head] + rows[offset: offset + size.rows - 1]

    def handle_key(self, key, state) -> Handled:
        return scroll_key(key, state, 10)
