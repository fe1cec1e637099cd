"""The registry validates views and keeps failures; the table views render the data they get."""

from __future__ import annotations

from importlib.metadata import EntryPoint

from kalipso.data.models import FlowAggregate
from kalipso.views.base import Selection, Size, View, line_text
from kalipso.views.registry import discover
from kalipso_views.aggregates import DstPortsClientView, TableModel, log_bar


class GoodView(View):
    name, key, title = "Good", "Z", "A good view"

    def fetch(self, data, selection, page):
        return None

    def render(self, model, size, state):
        return []


class ReservedKey(GoodView):
    name, key = "ReservedKey", "q"


class WrongName(GoodView):
    name, key = "Other", "Y"


class Clash(GoodView):
    name, key = "ZClash", "Z"


class FutureApi(GoodView):
    name, key, api_version = "FutureApi", "X", 99


def ep(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"test_views_registry:{attr}", group="kalipso.views")


def test_registry_loads_valid_views_and_collects_failures():
    registry = discover(eps=[
        ep("Good", "GoodView"), ep("ReservedKey", "ReservedKey"), ep("Other2", "WrongName"),
        ep("ZClash", "Clash"), ep("FutureApi", "FutureApi"),
        EntryPoint(name="Broken", value="no_such_module_xyz:View", group="kalipso.views")])
    assert [v.name for v in registry.views] == ["Good"]
    errors = {f.name: f.error for f in registry.failures}
    assert "reserved" in errors["ReservedKey"]
    assert "differs from its entry-point name" in errors["Other2"]
    assert "already taken by view 'Good'" in errors["ZClash"]
    assert "api_version 99" in errors["FutureApi"]
    assert "ModuleNotFoundError" in errors["Broken"]


def test_disable_and_configured_keys():
    registry = discover(eps=[ep("Good", "GoodView")], keys={"Good": "g"})
    assert registry.failures and "not usable" in registry.failures[0].error  # g is reserved
    registry = discover(eps=[ep("Good", "GoodView")], keys={"Good": "x"})
    assert registry.by_key("x").name == "Good"
    assert discover(eps=[ep("Good", "GoodView")], disabled={"Good"}).views == []


def rows():
    return (FlowAggregate("443", "tcp", "established", 120, 3000, 900000),
            FlowAggregate("80", "tcp", "established", 3, 30, 5000),
            FlowAggregate("445", "tcp", "not_established", 40, 80, 0),
            FlowAggregate("53", "udp", "established", 50, 100, 9000))


def test_table_view_renders_both_states_sorted_with_totals():
    view = DstPortsClientView()
    state = view.new_state()
    model = TableModel("10.0.0.1", "timewindow1", rows=rows())
    lines = [line_text(ln) for ln in view.render(model, Size(20, 160), state)]
    assert "Destination ports as client of 10.0.0.1 timewindow1" in lines[0]
    assert "Established: 3 rows, 173 flows" in lines[1]
    assert "Not Established: 1 row, 40 flows" in lines[1]
    assert "bars: log scale" in lines[0]
    body = lines[3:]
    assert body[0].lstrip().startswith("443") and body[1].lstrip().startswith("53")
    view.handle_key("s", state)  # sort by packets
    view.handle_key("t", state)  # tcp only
    lines = [line_text(ln) for ln in view.render(model, Size(20, 160), state)]
    assert "sort: packets" in lines[0] and "protocol: tcp" in lines[0]
    assert not any(ln.lstrip().startswith("53 ") for ln in lines[3:])


def test_table_view_says_why_data_is_missing():
    view = DstPortsClientView()
    model = view.fetch(None, Selection("10.0.0.1", None), view.page({}, Size(10, 80)))
    assert "select a time window" in line_text(view.render(model, Size(10, 80), {})[2])


def test_log_bar():
    assert log_bar(0, 100, 10) == "" and log_bar(100, 100, 10) == "█" * 10
    assert 1 <= len(log_bar(1, 1_000_000, 10)) < len(log_bar(1000, 1_000_000, 10)) < 10


def test_ip_tables_stack_when_side_by_side_would_cut_the_keys():
    from kalipso_views.aggregates import DstPortsClientIPsView
    view = DstPortsClientIPsView()
    rows_ = (FlowAggregate("185.220.101.47:4444", "tcp", "established", 12, 132, 9600),
             FlowAggregate("81.2.69.160:443", "tcp", "not_established", 1, 1, 0))
    lines = [line_text(ln) for ln in view.render(TableModel("10.0.0.1", "timewindow1", rows=rows_),
                                                 Size(22, 78), view.new_state())]
    assert any(ln.startswith("185.220.101.47:4444 ") for ln in lines)  # the whole key, full width
    assert any(ln.startswith("81.2.69.160:443 ") for ln in lines)
    assert not any("│" in ln for ln in lines)  # no side-by-side split


def test_the_node_kalipso_letters_all_load():
    """The letters the README offers to users of the Node.js Kalipso (e d r p t i y z) are usable."""
    from kalipso.config import NODE_KALIPSO_KEYS
    registry = discover(keys=NODE_KALIPSO_KEYS)
    assert registry.failures == []
    assert {v.name: v.key for v in registry.views if v.name in NODE_KALIPSO_KEYS} == NODE_KALIPSO_KEYS


def test_every_built_in_view_declares_its_keys():
    from kalipso.views.base import ViewKey
    registry = discover()
    for view in registry.views:
        if view.name in ("Activity",):
            continue  # no keys of its own
        keys = view.cls.keys
        assert keys and all(isinstance(k, ViewKey) and k.key and k.help for k in keys), view.name


def test_out_tuples_sort_ips_numerically_and_say_1_letter():
    from kalipso.data.models import OutTuple
    from kalipso_views.tuples import OutTuplesView, TuplesModel, tuple_order
    tuples = [OutTuple(f"{ip}-{port}-tcp", ip, port, "tcp", letters) for ip, port, letters in (
        ("104.127.60.107", "443", "1"), ("10.0.2.255", "137", "88"), ("::1", "53", "2"),
        ("10.0.2.2", "80", "3"), ("10.0.2.2", "8080", "4"), ("10.0.2.2", "443", "5"))]
    ordered = sorted(tuples, key=tuple_order)
    assert [(t.daddr, t.dport) for t in ordered] == [
        ("10.0.2.2", "80"), ("10.0.2.2", "443"), ("10.0.2.2", "8080"), ("10.0.2.255", "137"),
        ("104.127.60.107", "443"), ("::1", "53")]
    view = OutTuplesView()
    text = [line_text(ln) for ln in view.render(TuplesModel("10.0.2.15", "timewindow1", tuple(ordered), {}),
                                                Size(30, 80), view.new_state())]
    assert "6 tuples" in text[0] and any("(1 letter)" in t for t in text) and any("(2 letters)" in t for t in text)


def test_activity_charts_tick_whole_numbers_and_stay_flat_at_zero():
    from kalipso_views.activity import bucket_count, chart, width_label
    flat = [line_text(ln) for ln in chart([0.0] * 40, 6, "bytes")]
    assert len(flat) == 1 and flat[0].split()[0:2] == ["0", "B"]  # one row at 0, no spike to 1
    counts = [line_text(ln) for ln in chart([0, 1, 0, 2, 0, 1, 3], 8, "count")]
    ticks = [t.split("┤")[0].split("┼")[0].strip() for t in counts]
    assert ticks == ["3", "2", "1", "0"]
    big = [line_text(ln).split()[0] for ln in chart([3, 17, 250, 4], 6, "count")]
    assert big == ["250", "200", "150", "100", "50", "0"]
    assert bucket_count(3600, 66) == 60 and width_label(3600 / 60) == "1 min"
    assert bucket_count(3600, 120) == 120 and width_label(30) == "30 s"


def _evidence_model():
    from kalipso.data.models import Alert, Evidence, TimeWindow
    from kalipso.triage import group_evidence
    from kalipso_views.evidence_all import ProfileEvidence, WindowEvidence
    long = "Connection to unknown destination port 5888/TCP destination IP 66.63.168.35. " + "word " * 40 + "END"
    evidence = [Evidence(id=f"u{i}", evidence_type="UNKNOWN_PORT", threat_level="high", ts=1677024003.0 + i,
                         description=long, attacker="192.168.1.107", victim="66.63.168.35",
                         profile_ip="192.168.1.107", uids=(f"C{i}",)) for i in range(719)]
    evidence.append(Evidence(id="x", evidence_type="HTTP_TRAFFIC", threat_level="info", ts=1677024000.0,
                             description="Unencrypted HTTP traffic", attacker="192.168.1.107",
                             victim="147.32.80.7", profile_ip="192.168.1.107"))
    alerts = [Alert("a1", "192.168.1.107", "timewindow1", ("u0", "u1"), "1677024100.0")]
    tw = TimeWindow("192.168.1.107", "timewindow1", 1, 1677020403.0, 1677024003.0, malicious=True, alert_count=1)
    quiet = TimeWindow("192.168.1.107", "timewindow0", 0, 1677016803.0, 1677020403.0)
    return ProfileEvidence("192.168.1.107", (
        WindowEvidence(tw, group_evidence(evidence, alerts), group_evidence(evidence, alerts, by_target=False)),
        WindowEvidence(quiet, group_evidence([], []), group_evidence([], [], by_target=False))), empty_windows=3), long


def test_profile_evidence_groups_cursor_expand_and_detail():
    from kalipso.views.base import Handled
    from kalipso_views.evidence_all import ProfileEvidenceView
    model, long = _evidence_model()
    view = ProfileEvidenceView()
    state = view.new_state()
    size = Size(24, 80)
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert "720 evidence, 1 alert, 2 windows (3 without evidence not shown)" in text[0]
    assert "720 evidence in 2 groups, 1 alert" in text[1]
    assert "1 alert, first fired" in text[2]
    assert "×719" in text[3] and "UNKNOWN_PORT 66.63.168.35" in text[3] and "alert" in text[3]
    assert "×1" in text[4] and "HTTP_TRAFFIC 147.32.80.7" in text[4] and "alert" not in text[4].split("147.32.80.7")[1]
    for key in ("j", "j", "\n"):  # the cursor to the UNKNOWN_PORT group, Enter expands it
        assert view.handle_key(key, state) == Handled.REDRAW
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert text[3].lstrip().startswith("▾") and len(text) == 24
    view.handle_key("j", state)
    view.handle_key("KEY_ENTER", state)  # Enter on the first item: its detail, every field wrapped
    detail = [line_text(ln) for ln in view.render(model, size, state)]
    assert "Evidence of 192.168.1.107 timewindow1" in detail[0]
    assert all(len(t) <= 80 for t in detail)
    first = next(i for i, t in enumerate(detail) if t.startswith("description"))
    col = len(detail[first]) - len(detail[first][len("description"):].lstrip())
    words = detail[first][col:]
    for t in detail[first + 1:]:
        if not t.startswith(" " * col):
            break
        words += " " + t.strip()
    assert long.split()[-1] in words and words.split() == long.split()  # readable in full
    body = "\n".join(detail)
    assert "66.63.168.35" in body and "high" in body and "C0" in body and "u0" in body
    assert view.handle_key("\x1b", state) == Handled.REDRAW  # Esc closes the detail, not the view
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert text[0].startswith("Evidence of all time windows")
    view.handle_key("KEY_BACKSPACE", state)  # Backspace folds the group the cursor is in
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert text[3].lstrip().startswith("▸") and "HTTP_TRAFFIC" in text[4]
    assert view.handle_key("\x1b", state) == Handled.NO  # without a detail, Esc leaves the view
    view.handle_key("t", state)  # by type only
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert any("UNKNOWN_PORT 1 target" in t for t in text)


def test_profile_evidence_alert_expands_to_its_evidence():
    from kalipso_views.evidence_all import ProfileEvidenceView
    model, _ = _evidence_model()
    view = ProfileEvidenceView()
    state = view.new_state()
    view.render(model, Size(30, 100), state)
    view.handle_key("j", state)
    view.handle_key("\n", state)  # the alerts line
    view.render(model, Size(30, 100), state)
    view.handle_key("j", state)
    view.handle_key("\n", state)  # the one alert
    text = [line_text(ln) for ln in view.render(model, Size(30, 100), state)]
    assert "alert a1" in text[3] and "2 evidence" in text[3]
    assert text[4].strip().startswith(("00:", "01:", "02:", "03:", "04:", "05:", "06:", "07:", "08:", "09:",
                                       "1", "2")) and "high" in text[4]
    assert "high" in text[5] and "UNKNOWN_PORT" in text[6]


def test_activity_and_evidence_views_on_real_data_with_a_line_without_time(redis_server):
    """A timeline member whose score is -inf (no usable time) must not break Activity."""
    from kalipso.data import ConnectionSettings, open_slips
    from kalipso.views.base import PageRequest
    from kalipso_views.activity import ActivityView
    from kalipso_views.evidence_all import ProfileEvidenceView

    from conftest import flows_db_of, load_keys_json, needs_fixture
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    redis_server.client(0).zadd("profile_10.0.2.15_timewindow1_timeline",
                                {'{"timestamp": "", "daddr": "1.2.3.4", "dport/proto": "80/TCP"}': float("-inf")})
    for flows in (None, flows_db_of(path)):  # bytes from the timeline, then from the flows file
        data = open_slips(ConnectionSettings(port=redis_server.port), flows_db=flows)
        try:
            view = ActivityView()
            model = view.fetch(data, Selection("10.0.2.15", "timewindow1"), view.page({}, Size(24, 80)))
        finally:
            data.close()
        text = [line_text(ln) for ln in view.render(model, Size(24, 80), {})]
        assert any(t.startswith("Flows per 1 min from") for t in text), text
    data = open_slips(ConnectionSettings(port=redis_server.port))
    try:
        view = ProfileEvidenceView()
        model = view.fetch(data, Selection("10.0.2.15", "timewindow1"), PageRequest())
        text = [line_text(ln) for ln in view.render(model, Size(24, 80), view.new_state())]
        assert "84 evidence in" in text[1] and "3 alerts" in text[1]
    finally:
        data.close()


def test_the_documented_example_declares_its_keys_and_validates():
    import importlib.util

    from kalipso.views.base import ViewKey
    from kalipso.views.registry import validate

    from conftest import REPO
    path = REPO / "docs" / "examples" / "kalipso-evidence-types" / "kalipso_evidence_types.py"
    spec = importlib.util.spec_from_file_location("kalipso_evidence_types_doc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = module.EvidenceTypesView
    assert validate(cls, "EvidenceTypes") is None
    assert cls.keys and all(isinstance(k, ViewKey) for k in cls.keys)
    guide = (REPO / "docs" / "PLUGINS.md").read_text()
    assert "keys = (ViewKey(" in guide and "loader thread" in guide and "UnexpectedData" in guide


def test_scrolling_a_built_in_view_does_not_fetch_again():
    """The app fetches again when page() changes: a view read whole must return the same page
    whatever its scroll position, or every arrow key would reload it in the loader."""
    size = Size(24, 80)
    for view_spec in discover().views:
        view = view_spec.cls()
        state = view.new_state()
        before = view.page(state, size)
        for key in ("j", "KEY_DOWN", "KEY_NPAGE", "G"):
            view.handle_key(key, state)
        state["offset"] = state.get("offset", 0) + 5
        assert view.page(state, size) == before, view_spec.name


def test_profile_evidence_detail_shows_the_flows_behind_an_evidence(redis_server):
    """f in a detail asks for a new page; the fetch for it adds the Why of that evidence."""
    from kalipso.data import ConnectionSettings, open_slips
    from kalipso.data.why import FLOWS_SOURCE
    from kalipso.views.base import Handled
    from kalipso_views.evidence_all import ProfileEvidenceView

    from conftest import flows_db_of, load_keys_json, needs_fixture
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    data = open_slips(ConnectionSettings(port=redis_server.port), flows_db=flows_db_of(path))
    view = ProfileEvidenceView()
    state, size = view.new_state(), Size(40, 80)
    try:
        first_page = view.page(state, size)
        model = view.fetch(data, Selection("10.0.2.15", "timewindow1"), first_page)
        view.render(model, size, state)
        for key in ("j", "j", "\n", "j", "\n"):  # the worst group, its first evidence
            view.handle_key(key, state)
            view.render(model, size, state)
        assert view.page(state, size) == first_page  # opening a detail reads nothing
        assert view.handle_key("f", state) == Handled.REDRAW
        why_page = view.page(state, size)
        assert why_page != first_page
        text = [line_text(ln) for ln in view.render(model, size, state)]
        assert "Why: loading…" in text
        model = view.fetch(data, Selection("10.0.2.15", "timewindow1"), why_page)
    finally:
        data.close()
    text = [line_text(ln) for ln in view.render(model, size, state)]
    assert f"Why: {FLOWS_SOURCE}" in text and "1 flow" in text
    assert any("ssl 10.0.2.15:" in t and "-> 216.58.201.78:443" in t for t in text)
    assert all(len(t) <= 80 for t in text)
    view.handle_key("\x1b", state)  # closing the detail keeps the page: nothing is read again
    assert view.page(state, size) == why_page
