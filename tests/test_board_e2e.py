"""The real program in tmux: the board on generated and real Slips databases."""

from __future__ import annotations

import json
import re
import time

import pytest

from kalipso.data.server import RedisServer
from kalipso.demo.generator import BEACON_HOST, SCANNER_HOST, Scenario, generate
from tmuxdrive import Tmux

from conftest import flows_db_of, load_keys_json, needs_fixture


@pytest.fixture
def generated(redis_server, tmp_path):
    result = generate(redis_server.client(0), redis_server.client(1), str(tmp_path), Scenario(hosts=12, hours=3))
    return redis_server, result


def board(server, *extra: str, env: dict | None = None, cols: int = 120, rows: int = 32) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1",
                 "--refresh", "1", *extra], cols=cols, rows=rows, env=env)


def test_tree_malicious_marks_timeline_evidence_and_ip_info(generated):
    server, result = generated
    t = board(server)
    try:
        # threat first by default: the two malicious hosts come first once the marks are read
        t.wait_for("Profiles (", "Timeline")
        screen = t.wait_for("marks loading", absent=True)
        tree = screen.splitlines()[2:4]
        assert any(BEACON_HOST in ln for ln in tree) and any(SCANNER_HOST in ln for ln in tree)
        assert re.search(r"\+!\s*" + re.escape(BEACON_HOST) + r" \S* ?acct-pc-07", screen)
        assert re.search(r"\+!\s*" + re.escape(SCANNER_HOST) + r" \S* ?kali", screen)
        assert not re.search(r"\+!\s*192\.168\.1\.10 ", screen)
        t.send("n")  # next malicious time window: expands and selects it
        ip, tw = result.malicious[0]
        screen = t.wait_for(f"Timeline {ip} {tw}", "evidence")
        assert "COMMAND_AND_CONTROL_CHANNEL" in screen and "critical" in screen
        assert "185.220.101.47" in screen
        t.send("c")  # every timeline line, not runs of repeated lines
        t.wait_for("every timeline line shown")
        t.send("Tab")  # focus the timeline: IP info follows the selected line's destination
        t.send("Home")
        first_peer = re.search(r"\[([0-9.]+)\]", t.screen().split("Timeline")[1]).group(1)
        t.wait_for(f"│{first_peer}  ")
        for _ in range(3):
            t.send("Down")
        t.wait_for("[4/")
    finally:
        t.close()


def test_filter_sort_and_help(generated):
    server, _ = generated
    t = board(server)
    try:
        t.wait_for("Profiles (")
        t.filter("kali")
        screen = t.wait_for("Profiles (1)", SCANNER_HOST)
        assert BEACON_HOST not in screen.split("IP info")[0]
        t.send("/")
        t.send("BSpace", "BSpace", "BSpace", "BSpace", "Enter")
        t.wait_for("filter cleared")
        t.send("s")
        t.wait_for("sorted by IP")
        t.send("s")
        t.wait_for("sorted by threat")
        t.send("Home")
        time.sleep(0.3)
        tree = t.screen().splitlines()[2:6]
        assert any(BEACON_HOST in ln for ln in tree[:2]) and any(SCANNER_HOST in ln for ln in tree[:2])
        t.send("?")
        t.wait_for("Keys of the main board", "Hotkey views", "next malicious time window")
        t.send("x")
        t.wait_for("Keys of the main board", absent=True)
    finally:
        t.close()


def test_resize_down_and_up(generated):
    server, _ = generated
    t = board(server)
    try:
        t.wait_for("Profiles (")
        t.resize(50, 12)
        t.wait_for("Terminal too small: 50x12", "at least 70x20")
        t.resize(100, 30)
        screen = t.wait_for("Profiles (", "Evidence")
        assert "too small" not in screen
        assert all(len(ln) <= 100 for ln in screen.splitlines())
    finally:
        t.close()


def test_no_color(generated):
    server, _ = generated
    t = board(server, env={"NO_COLOR": "1"})
    try:
        t.wait_for("Profiles (")
        t.send("n")
        t.wait_for("evidence")
        screen = t.screen(escapes=True)
        assert not re.search(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*38;5", screen), "colour codes under NO_COLOR"
        assert "!" in screen  # malicious marks still read without colour
    finally:
        t.close()


def test_untrusted_strings_are_sanitised(redis_server):
    c = redis_server.client(0)
    c.flushall()
    c.hset("analysis", "slips_version", "1.1.21")
    c.zadd("profiles", {"profile_10.6.6.6": 1.0})
    c.zadd("twsprofile_10.6.6.6", {"timewindow1": 1.0})
    evil = {"timestamp": "2026/01/01 00:00:00", "daddr": "6.6.6.6", "dport/proto": "80/TCP",
            "state": "Established", "dns_resolution": "evil\x1b[31mRED\x1b]0;PWNED\x07.com",
            "info": {"Request": "GET /\x1b[2J\x1b[Hwiped"}, "sent": 1, "recv": 2}
    c.zadd("profile_10.6.6.6_timewindow1_timeline", {json.dumps(evil): 2.0})
    t = board(redis_server, cols=180)
    try:
        t.wait_for("10.6.6.6")
        t.send("Enter", "Down", "Enter")
        screen = t.wait_for("evilRED.com", "GET /wiped")
        raw = t.screen(escapes=True)
        assert "PWNED" not in raw and "[31m" not in screen and "[2J" not in screen
        assert "Profiles (1)" in screen  # the screen was not wiped
    finally:
        t.close()


def test_redis_restart_during_the_session(redis_binary, tmp_path):
    server = RedisServer(redis_binary).start()
    port = server.port
    generate(server.client(0), server.client(1), str(tmp_path), Scenario(hosts=4, hours=1))
    t = board(server)
    try:
        t.wait_for("Profiles (")
        server.stop()
        t.send("r")  # a refresh meets the closed connection
        t.wait_for("connection lost")
        assert "Profiles (" in t.screen()  # the last data stays
        server = RedisServer(redis_binary, port=port).start()
        generate(server.client(0), server.client(1), str(tmp_path), Scenario(hosts=4, hours=1))
        # the generator stamps a new analysis start: depending on when the board reconnects it
        # says "connection restored", or sees the new analysis first and reloads it
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = t.screen()
            if "connection restored" in screen or "Slips started a new analysis" in screen:
                break
            time.sleep(0.1)
        assert "connection restored" in screen or "new analysis" in screen, screen
        t.wait_for("connection lost", absent=True)
        t.wait_for("Profiles (")
        assert not t.dead()
    finally:
        t.close()
        server.stop()


@pytest.mark.parametrize("dataset,ip,tw", [
    ("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01", "10.0.2.15", "timewindow1"),
    ("slips-1.1.21/test9-mixed-zeek-dir", "10.0.2.15", "timewindow1"),
])
def test_real_fixtures_on_the_board(redis_server, dataset, ip, tw):
    path = needs_fixture(dataset)
    load_keys_json(redis_server, path)
    manifest = json.loads((path / "manifest.json").read_text())
    expected = next(t for p in manifest["profiles"] if p["ip"] == ip for t in p["timewindows"] if t["name"] == tw)
    extra = ["--flows-db", flows_db_of(path)] if flows_db_of(path) else []
    t = board(redis_server, *extra)
    try:
        t.wait_for(f"Profiles ({len(manifest['profiles'])})")
        t.filter(ip)
        t.wait_for("Profiles (")
        t.send("n")
        t.wait_for(f"Timeline {ip} {tw} [1/", f"{expected['evidence']:,} evidence")
        t.send("c")  # every line: the count is the manifest's
        screen = t.wait_for(f"Timeline {ip} {tw} [1/{expected['timeline']}]", f"{expected['evidence']:,} evidence")
        assert expected["malicious"] and re.search(r"!" + tw, screen)
    finally:
        t.close()


def test_horizontal_scroll_of_long_lines(generated):
    server, _ = generated
    t = board(server, cols=80, rows=24)  # the usual SSH size: timeline lines are wider than the pane
    try:
        t.wait_for("Profiles (")
        t.send("n")
        t.wait_for("Timeline 192.168.1.23")
        t.send("Tab")

        def timeline_pane() -> str:
            screen = t.screen()
            return screen[screen.index("Timeline"):screen.index("Evidence")]

        assert "2026/11/28 08:00" in timeline_pane() and "↓389" not in timeline_pane()
        t.send("Right")  # only the focused pane scrolls: the time stamps leave the timeline
        deadline = time.monotonic() + 10
        while "2026/11/28 08:00" in timeline_pane() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "2026/11/28 08:00" not in timeline_pane()
        t.send(*["Right"] * 12)  # scrolling stops where the longest line ends
        t.wait_for("↓389")
        time.sleep(0.3)
        assert "↓389" in timeline_pane()
        t.send(*["Left"] * 14)
        t.wait_for("2026/11/28 08:00")
    finally:
        t.close()


def test_new_profiles_and_windows_appear_while_slips_runs(generated):
    server, result = generated
    t = board(server)
    try:
        t.wait_for(f"Profiles ({result.profiles})")
        c = server.client(0)
        c.zadd("profiles", {"profile_10.99.0.1": 1795852900.0})
        c.zadd("twsprofile_10.99.0.1", {"timewindow1": 1795852800.0})
        line = {"timestamp": "2026/11/28 08:01:40", "daddr": "9.9.9.9", "dport/proto": "53/UDP"}
        c.zadd("profile_10.99.0.1_timewindow1_timeline", {json.dumps(line): 1.0})
        t.wait_for(f"Profiles ({result.profiles + 1})", "10.99.0.1")
    finally:
        t.close()


def click(t: Tmux, x: int, y: int) -> None:
    """A left click at cell (x, y) as the terminal reports it (X10: ESC [ M button x y)."""
    for button in (0, 3):  # press, release
        seq = bytes([0x1B, ord("["), ord("M"), 32 + button, 33 + x, 33 + y])
        t._tmux("send-keys", "-H", *[f"{c:02x}" for c in seq])


def test_mouse_clicks_select_tree_rows_and_timeline_lines(generated):
    server, _ = generated
    t = board(server)  # 120x32: tree rows from y=2, timeline lines from y=9, x >= 36
    try:
        t.wait_for("Profiles (")
        t.filter("acct")
        t.wait_for("Profiles (1)")
        click(t, 5, 2)  # the profile row: expands it, and the IP box shows it
        screen = t.wait_for(f"-!{BEACON_HOST} ", f"│{BEACON_HOST}  acct-pc-07")
        assert re.search(rf"-!{re.escape(BEACON_HOST)} \S* ?acct-pc-07", screen)
        click(t, 5, 3)  # its first time window: the beacon folds into one line (×12)
        t.wait_for(f"Timeline {BEACON_HOST} timewindow1 [1/1] (12 lines)", "×12")
        t.send("c")  # every line
        t.wait_for(f"Timeline {BEACON_HOST} timewindow1 [1/12]")
        click(t, 60, 10)  # the second timeline line: selected, and the IP box follows it
        screen = t.wait_for("[2/")
        peer = re.findall(r"\[(\d+\.\d+\.\d+\.\d+)\]", screen.split("Timeline")[1])[1]
        t.wait_for(f"│{peer}  ")
    finally:
        t.close()
