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
    assert "Not Established: 1 rows, 40 flows" in lines[1]
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
