"""Live Slips on the real board in tmux (issue 10): reading while Slips writes.

- The replay test: the board starts on an EMPTY Redis ("waiting for Slips"), then a real fixture
  is written into it in Slips' order (tests/replay.py) while a user presses keys. The program
  never exits or shows an error, shows the new-alert notice while alerts arrive, and ends with
  every profile and every malicious mark of the fixture's manifest. A current (1.1.21) and a
  classic (1.0.1) fixture.
- Slips restarting with a new analysis on the same port: the notice, and a reload that mixes
  nothing of the old analysis.
- A time window that Slips deletes while it is selected is shown as gone, not as an error.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from kalipso.demo.generator import BEACON_HOST, Scenario, generate
from replay import Replay
from tmuxdrive import Tmux

from conftest import load_keys_json, needs_fixture

NOTICE = re.compile(r"(\d+) new alerts?: (\S+) (timewindow-?\d+)")
# keys a user presses while Slips writes: move, expand, switch panes, next alert, open and close
# details and views, fold runs; never q (quit), / (filter) or s (sort)
KEYS = [("Down",), ("Enter",), ("Tab",), ("n",), ("Down", "Down"), ("Enter",), ("Tab",), ("Escape",),
        ("a",), ("Home",), ("c",), ("Tab", "Enter"), ("Escape",), ("H",), ("Escape",), ("Up",), ("b",),
        ("End",), ("Escape",), ("Home",)]


def board(server, *extra: str, cols: int = 120, rows: int = 40) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1",
                 "--refresh", "1", *extra], cols=cols, rows=rows)


def alive(t: Tmux) -> str:
    """The screen, after checking that the program still runs and shows no error."""
    screen = t.screen()
    assert not t.dead() and t.exit_status() is None, f"the program exited:\n{screen}"
    for bad in ("internal error", "Traceback", "failed:", "Error"):
        assert bad not in screen, f"{bad!r} on screen:\n{screen}"
    return screen


def wait_until(t: Tmux, check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = alive(t)
        value = check(screen)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never saw {what} on screen:\n{screen}")


def manifest_of(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def marks_of(manifest: dict) -> set[tuple[str, str]]:
    return {(p["ip"], w["name"]) for p in manifest["profiles"] for w in p["timewindows"] if w["malicious"]}


def visit_marks(t: Tmux, expected: int) -> set[tuple[str, str]]:
    """Every malicious window n reaches, pressing n until it comes round again."""
    title = re.compile(r"Timeline (\S+) (timewindow-?\d+)")
    seen: list[tuple[str, str]] = []
    current = None
    for _ in range(expected + 2):
        m = title.search(t.screen())
        current = (m.group(1), m.group(2)) if m else None
        t.send("n")
        deadline = time.monotonic() + (10 if not seen else 4)
        found = None
        while time.monotonic() < deadline:
            m = title.search(alive(t))
            if m and (m.group(1), m.group(2)) != current:
                found = (m.group(1), m.group(2))
                break
            time.sleep(0.1)
        if found is None:  # n stays where it is: the only malicious window, already open
            if current and not seen:
                seen.append(current)
            break
        if found in seen:
            break
        seen.append(found)
    return set(seen)


REPLAYS = [
    pytest.param("slips-1.1.21/test9-mixed-zeek-dir", (120, 40), id="current-1.1.21-120x40"),
    pytest.param("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01", (80, 24), id="classic-1.0.1-80x24"),
]


@pytest.mark.parametrize("dataset,size", REPLAYS)
def test_replay_while_the_user_presses_keys(empty_redis, dataset, size):
    path = needs_fixture(dataset)
    manifest = manifest_of(path)
    marks = marks_of(manifest)
    profiles = len(manifest["profiles"])
    cols, rows = size
    t = board(empty_redis, cols=cols, rows=rows)
    stop = threading.Event()
    try:
        t.wait_for("waiting for Slips")
        replay = Replay(empty_redis.client(0), empty_redis.client(1), path, duration=20.0)
        writer = replay.run_in_thread(stop)
        notices: list[str] = []
        opened = False
        marked_new = False
        i = 0
        deadline = time.monotonic() + 90
        while writer.is_alive() and time.monotonic() < deadline:
            screen = alive(t)
            if "Profiles (" in screen:
                opened = True
            notices.extend(m.group(0) for m in NOTICE.finditer(screen))
            marked_new = marked_new or bool(re.search(r"\S new\s*│", screen))
            if opened:
                t.send(*KEYS[i % len(KEYS)])
                i += 1
            time.sleep(0.15)
        assert not writer.is_alive(), "the replay did not finish in time"
        assert replay.error is None, replay.error
        assert opened, "the board never opened while Slips wrote"
        assert replay.alerts_written > 0
        assert marked_new, "no profile or window was marked new while Slips wrote"
        # the notice shows while alerts arrive (or right after the last one: the next refresh)
        if not notices:
            screen = wait_until(t, lambda s: NOTICE.search(s) and s, "a new-alert notice", timeout=10)
            notices.append(NOTICE.search(screen).group(0))
        assert any((m := NOTICE.search(n)) and (m.group(2), m.group(3)) in marks for n in notices), notices

        # the end: every profile, every malicious mark
        t.send("Escape", "Escape")
        screen = wait_until(t, lambda s: f"Profiles ({profiles})" in s and s, f"Profiles ({profiles})")
        screen = wait_until(t, lambda s: "marks loading" not in s and s, "the marks")
        tree_ips = sorted({ip for ip, _ in marks})
        for ip in tree_ips:  # each malicious profile carries its mark in the tree
            t.send("/", *["BSpace"] * 20)  # the prompt starts with the filter applied
            t.type(ip)
            t.send("Enter", "Home")  # an expanded profile with 193 windows may have scrolled its row away
            wait_until(t, lambda s, ip=ip: re.search(r"[+-]!" + re.escape(ip) + " ", s), f"!{ip} in the tree")
        t.send("/", *["BSpace"] * 20, "Enter")
        wait_until(t, lambda s: f"Profiles ({profiles})" in s, f"Profiles ({profiles}) unfiltered")
        visited = visit_marks(t, len(marks))
        assert visited == marks, (sorted(visited), sorted(marks))
        t.send("a")  # jump to the newest alert: the notice is then seen
        wait_until(t, lambda s: not NOTICE.search(s), "the notice cleared after a", timeout=15)
        alive(t)
    finally:
        stop.set()
        t.close()


# ------------------------------------------------------------------ Slips restarts
def write_other_analysis(client, client1, tmp_path, start: float, hosts: int):
    """Flush, then write another analysis at once (what a restarted Slips ends up with)."""
    client.flushdb()
    client1.flushdb()
    return generate(client, client1, str(tmp_path), Scenario(hosts=hosts, hours=1, start=start, seed=7))


def test_slips_restarts_with_a_new_analysis_on_the_same_port(empty_redis, tmp_path):
    c0, c1 = empty_redis.client(0), empty_redis.client(1)
    first = generate(c0, c1, str(tmp_path / "a"), Scenario(hosts=12, hours=2))
    old_only = "10.0.0.99"  # a host only the first analysis has
    c0.zadd("profiles", {f"profile_{old_only}": 1795852800.0})
    c0.zadd(f"twsprofile_{old_only}", {"timewindow1": 1795852800.0})
    t = board(empty_redis)
    try:
        t.wait_for(f"Profiles ({first.profiles + 1})", old_only)
        t.send("n")
        t.wait_for("Timeline 192.168.1.")
        c0.hset("analysis", "slips_version", "1.1.21")
        second = write_other_analysis(c0, c1, tmp_path / "b", start=1795939200.0, hosts=5)  # a day later
        assert second.profiles != first.profiles + 1
        screen = t.wait_for("Slips started a new analysis", "reloaded", timeout=30)
        screen = wait_until(t, lambda s: f"Profiles ({second.profiles})" in s and s, f"Profiles ({second.profiles})")
        assert old_only not in screen
        assert "timewindow" not in screen.split("Timeline")[1].split("\n")[0] or "11-29" in screen
        t.filter(old_only)
        screen = wait_until(t, lambda s: "Profiles (0)" in s and s, "nothing of the old analysis")
        alive(t)
    finally:
        t.close()


def test_slips_restarts_from_a_current_to_a_classic_fixture(empty_redis):
    current = needs_fixture("slips-1.1.21/test9-mixed-zeek-dir")
    classic = needs_fixture("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01")
    load_keys_json(empty_redis, current)
    before, after = manifest_of(current), manifest_of(classic)
    only_before = sorted({p["ip"] for p in before["profiles"]} - {p["ip"] for p in after["profiles"]})
    assert only_before
    t = board(empty_redis, cols=120, rows=40)
    stop = threading.Event()
    try:
        t.wait_for(f"Profiles ({len(before['profiles'])})", "Slips 1.1.21")
        for db in (0, 1):
            empty_redis.client(db).flushdb()
        replay = Replay(empty_redis.client(0), empty_redis.client(1), classic, duration=4.0)
        writer = replay.run_in_thread(stop)
        status: list[str] = []

        def classic_shown(s: str):
            status.append(s.splitlines()[0] if s else "")
            return f"Profiles ({len(after['profiles'])})" in s and not writer.is_alive() and s

        screen = wait_until(t, classic_shown, "the classic analysis", timeout=60)
        assert replay.error is None, replay.error
        said = [ln for ln in status if "Slips started a new analysis" in ln]
        assert said and "reloaded" in said[-1] and "Slips 1.0.1" in said[-1], "\n".join(dict.fromkeys(status))
        assert "Slips 1.1.21" not in screen
        t.filter(only_before[0])
        wait_until(t, lambda s: "Profiles (0)" in s, f"{only_before[0]} gone with the old analysis")
        alive(t)
    finally:
        stop.set()
        t.close()


# ------------------------------------------------------------------ a deleted window
def test_a_selected_window_deleted_by_slips_is_shown_as_gone(empty_redis, tmp_path):
    c0 = empty_redis.client(0)
    result = generate(c0, empty_redis.client(1), str(tmp_path), Scenario(hosts=8, hours=3))
    ip, tw = next((i, w) for i, w in result.malicious if i == BEACON_HOST)
    t = board(empty_redis, cols=80, rows=24)
    try:
        t.wait_for(f"Profiles ({result.profiles})")
        t.wait_for("marks loading", absent=True)
        t.send("n")
        t.wait_for(f"Timeline {ip} {tw}", "evidence in")
        # Slips expires the window: the member and every per-window key
        c0.zrem(f"twsprofile_{ip}", tw)
        for key in c0.scan_iter(match=f"*profile_{ip}_{tw}*"):
            c0.delete(key)
        for key in c0.scan_iter(match=f"*profile_{ip}_{tw}"):
            c0.delete(key)
        screen = wait_until(t, lambda s: ("deleted" in s or "(gone)" in s) and s, f"{tw} shown as gone")
        assert "(gone)" in screen or f"Slips deleted {tw}" in screen, screen
        for keys in (("Down",), ("Up",), ("Enter",), ("Tab",), ("Enter",), ("Escape",), ("r",)):
            t.send(*keys)
            time.sleep(0.2)
            alive(t)
        t.send("n")  # the other malicious windows still open
        t.wait_for("Timeline ", "evidence in")
        alive(t)
    finally:
        t.close()
