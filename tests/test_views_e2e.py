"""Every built-in view in the real program (tmux), checked against the data layer's export."""

from __future__ import annotations

import json
import re
import time

import pytest

from kalipso import export
from kalipso.data import ConnectionSettings, open_slips
from kalipso.demo.generator import BEACON_HOST, Scenario, generate
from kalipso.triage import plural
from kalipso_views.aggregates import _key_order
from tmuxdrive import Tmux

from conftest import flows_db_of, load_keys_json, needs_fixture

TABLES = {"E": "src_ports_client", "C": "dst_ips_client", "B": "dst_ports_server",
          "P": "dst_ports_client", "N": "dst_ports_client_ips"}
TITLES = {"E": "Source ports as client", "C": "Destination IPs as client", "B": "Destination ports as server",
          "P": "Destination ports as client", "N": "Destination IP:port as client"}


def human(n: int) -> str:
    from kalipso.text import human_bytes
    return human_bytes(n)


def open_window(t: Tmux, ip: str) -> str:
    """Filter the tree to ``ip`` and jump to its first malicious time window."""
    t.wait_for("Profiles (")
    t.filter(ip)
    t.wait_for("filter '")
    t.send("n")
    return t.wait_for(f"Timeline {ip} ")


def check_tables(t: Tmux, detail: dict) -> None:
    for key, table in TABLES.items():
        rows = detail["aggregates"][table]
        t.send(key)
        expects = []
        for state, label in (("established", "Established"), ("not_established", "Not Established")):
            mine = [r for r in rows if r["state"] == state]
            flows = sum(r.get("flows") or 0 for r in mine)
            pkts = sum(r.get("packets") or 0 for r in mine)
            nbytes = human(sum(r.get("bytes") or 0 for r in mine))
            expects.append(f"{label}: {plural(len(mine), 'row')}, {plural(flows, 'flow')}, "
                           f"{plural(pkts, 'pkt')}, {nbytes}")
        # the view may say "loading…" first (fetch runs in the loader): wait for the totals
        screen = t.wait_for(f"{TITLES[key]} of {detail['profile']} {detail['name']}", *expects)
        est = sorted((r for r in rows if r["state"] == "established"),
                     key=lambda r: (-(r.get("flows") or 0), _key_order(r["key"])))
        if est:
            body = screen.splitlines()[5]  # border, view title, totals, header, first row
            assert body.lstrip("│").startswith(est[0]["key"][:8]), (key, body)
        t.send("s")
        t.wait_for("sort: packets")
        t.send("t")
        t.wait_for("protocol: tcp")
        if len(est) > 12:
            t.send("s", "s")  # back to flows
            t.wait_for("sort: flows")
            t.send("t", "t", "t")  # back to all protocols
            t.wait_for("protocol: all")
            t.send("Down")
            time.sleep(0.3)
            second = t.screen().splitlines()[5]
            assert second.lstrip("│").startswith(est[1]["key"][:8]), (key, second)
        t.send("Escape")
        t.wait_for(f"Timeline {detail['profile']} {detail['name']}")  # same selection on return


@pytest.fixture
def generated(redis_server, tmp_path):
    generate(redis_server.client(0), redis_server.client(1), str(tmp_path), Scenario(hosts=12, hours=3))
    return redis_server


def board(server, *extra: str, env: dict | None = None, **size) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1",
                 "--refresh", "0", *extra], env=env, **size)


def detail_of(server, ip: str, tw: str, flows: str | None = None) -> dict:
    data = open_slips(ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1"),
                      flows_db=flows)
    try:
        return export.timewindow_detail(data, ip, tw)
    finally:
        data.close()


def test_all_views_on_generated_database(generated):
    server = generated
    t = board(server, cols=140, rows=40)
    try:
        screen = open_window(t, BEACON_HOST)
        tw = re.search(rf"Timeline {re.escape(BEACON_HOST)} (timewindow\d+)", screen).group(1)
        detail = detail_of(server, BEACON_HOST, tw)
        check_tables(t, detail)
        t.send("H")
        screen = t.wait_for(f"   {plural(len(detail['out_tuples']), 'tuple')}   ")
        assert "185.220.101.47:4444/tcp" in screen and "Moldova" in screen and "VT URL:0.62" in screen
        t.send("L")
        t.wait_for("Stratosphere behavioural letters")
        t.send("Escape", "I")
        t.wait_for("analysis_direction = all")
        t.send("Escape", "V")
        t.wait_for("Evidence of all time windows of " + BEACON_HOST, "COMMAND_AND_CONTROL_CHANNEL")
        t.send("Escape", "A")
        t.wait_for(f"({plural(len(detail['timeline']), 'flow')} in the timeline)", "Bytes per",
                   "Evidence per time window")
        t.send("Escape", "M")
        screen = t.wait_for("Moldova", "country", timeout=30)
        t.wait_for("loading the world map", absent=True, timeout=30)
        screen = t.screen()
        assert re.search("[\u2801-\u28ff]", screen), "no braille map drawn"
    finally:
        t.close()


@pytest.mark.parametrize("dataset", ["slips-1.0.1/test9-mixed-zeek-dir-threshold0.01",
                                     "slips-1.1.21/test9-mixed-zeek-dir"])
def test_table_views_on_real_fixtures(redis_server, dataset):
    path = needs_fixture(dataset)
    load_keys_json(redis_server, path)
    flows = flows_db_of(path)
    t = board(redis_server, *(["--flows-db", flows] if flows else []), cols=160, rows=45)
    try:
        screen = open_window(t, "10.0.2.15")
        tw = re.search(r"Timeline 10\.0\.2\.15 (timewindow-?\d+)", screen).group(1)
        detail = detail_of(redis_server, "10.0.2.15", tw, flows)
        manifest = json.loads((path / "manifest.json").read_text())
        expected = next(w for p in manifest["profiles"] if p["ip"] == "10.0.2.15"
                        for w in p["timewindows"] if w["name"] == tw)
        assert len(detail["out_tuples"]) == expected["out_tuples"]
        check_tables(t, detail)
        t.send("H")
        t.wait_for(f"   {plural(expected['out_tuples'], 'tuple')}   ")
        t.send("Escape", "M")
        t.wait_for("loading the world map", absent=True, timeout=30)
        screen = t.wait_for("country")
        data = open_slips(ConnectionSettings(port=redis_server.port,
                                             cache_url=f"redis://127.0.0.1:{redis_server.port}/1"), flows)
        dests = data.destinations("10.0.2.15", tw)
        countries = {i.country for i in data.ip_infos(list(dests)).values()
                     if i.country and i.country not in ("Private", "Unknown")}
        if countries:  # Slips 1.0.1 wrote geocountry; current Slips did not in these runs
            shown = [c for c in countries if c[:21] in screen]
            assert shown, (countries, screen)
        else:
            assert "no country recorded by Slips" in screen
    finally:
        t.close()


def test_current_slips_without_flows_file_says_so_in_the_view(redis_server):
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    t = board(redis_server)
    try:
        open_window(t, "10.0.2.15")
        t.send("P")
        t.wait_for("Not available:", "flows.sqlite")
    finally:
        t.close()


def test_copy_ip_with_osc52(generated):
    t = board(generated, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    t._tmux("set-option", "-s", "set-clipboard", "on")
    try:
        open_window(t, BEACON_HOST)
        t.wait_for(f"│{BEACON_HOST}  acct-pc-07")  # the IP box follows the selected window's profile
        t.send("W")
        t.wait_for(f"copied {BEACON_HOST} via OSC 52")
        deadline = time.monotonic() + 10
        while t._tmux("show-buffer").strip() != BEACON_HOST and time.monotonic() < deadline:
            time.sleep(0.1)
        assert t._tmux("show-buffer").strip() == BEACON_HOST  # tmux received the OSC 52 sequence
    finally:
        t.close()


def test_configured_keys_and_help_bar(generated, tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text("[keys]\nSrcPortClient = e\nDstPortServer = r\nOutTuples = i\n[views]\ndisabled = Activity\n")
    t = board(generated, "--config", str(cfg), cols=200)
    try:
        screen = t.wait_for("Profiles (")
        bar = screen.splitlines()[-1]
        assert "e:SrcPortCl" in bar and "r:DstPortSe" in bar and "Ctrl-R:refresh" in bar, bar
        assert "Activity" not in bar
        open_window(t, BEACON_HOST)
        t.send("e")
        t.wait_for("Source ports as client of")
    finally:
        t.close()


def test_profile_evidence_grouped_with_a_readable_detail_at_80x24(redis_server):
    """View V at the usual SSH size: 84 evidence fold into groups; Enter, Enter shows one evidence
    whole (its long description wrapped, not cut); Esc closes the detail, then the view."""
    path = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, path)
    flows = flows_db_of(path)
    data = open_slips(ConnectionSettings(port=redis_server.port), flows_db=flows)
    try:
        from kalipso.triage import group_evidence
        summary = group_evidence(data.evidence("10.0.2.15", "timewindow1"), data.alerts("10.0.2.15", "timewindow1"))
    finally:
        data.close()
    top = summary.groups[0]
    t = board(redis_server, "--flows-db", flows, cols=80, rows=24)
    try:
        t.wait_for("Profiles (")
        t.filter("10.0.2.15")
        t.send("n")  # the first malicious time window
        t.wait_for("Timeline 10.0.2.15 ")
        t.send("V")
        screen = t.wait_for("Evidence of all time windows of 10.0.2.15",
                            f"84 evidence in {plural(len(summary.groups), 'group')}, 3 alerts")
        assert f"×{top.count}" in screen and f"{top.evidence_type} {top.target}" in screen
        t.send("Down", "Down", "Enter")  # window -> alerts -> the worst, biggest group; expand it
        t.send("Down", "Enter")  # its first evidence: the detail
        screen = t.wait_for("description", "threat level", "flow uids")
        first = top.items[0]
        # the description continues on indented lines: drop the borders and the label column
        text = " ".join(ln.strip("│ ").removeprefix("description").strip() for ln in screen.splitlines())
        assert first.id in screen and " ".join(first.description.split()) in " ".join(text.split())
        t.send("f", "G")  # Why: the flows behind it, at the end of the detail
        t.wait_for("Why: flows Slips recorded for this evidence", "1 flow", f"-> {top.target}:443")
        t.send("Escape")
        t.wait_for("Evidence of all time windows of 10.0.2.15")  # the detail closed, the view stays
        t.send("Escape")
        t.wait_for("Evidence of all time windows", absent=True)
    finally:
        t.close()
