"""The board model and the loader without curses: requests, stale results, pane states."""

from __future__ import annotations

import threading
import time

import pytest

from kalipso import keymap
from kalipso.app import App
from kalipso.board import COMMANDS, Board, TreeRow
from kalipso.data import ConnectionLost, ConnectionSettings, UnexpectedData, open_slips
from kalipso.demo.generator import BEACON_HOST, Scenario, generate
from kalipso.loader import LOST, READY, UNAVAILABLE, Loader, Request, Result
from kalipso.views.registry import Registry


def settle(board: Board, data, rounds: int = 30) -> None:
    """Run every read the board wants, in this thread, until it wants nothing new."""
    for _ in range(rounds):
        new = [r for r in board.wants() if board.asked.get(r.slot) != r.key]
        if not new:
            return
        for request in new:
            board.asked[request.slot] = request.key
            board.apply(_run(request, data))
    raise AssertionError("the board kept asking for reads")


def _run(request: Request, data) -> Result:
    loader = Loader.__new__(Loader)  # only _run: no threads
    loader.data, loader.debug = data, False
    return loader._run(request, data)


@pytest.fixture
def generated(empty_redis, tmp_path):
    result = generate(empty_redis.client(0), empty_redis.client(1), str(tmp_path), Scenario(hosts=8, hours=2))
    data = open_slips(ConnectionSettings(port=empty_redis.port, cache_url=empty_redis.url_for(1)))
    yield data, result
    data.close()


def test_first_screen_needs_only_the_names_then_threat_first(generated):
    data, result = generated
    board = Board()
    # nothing about profiles until the names are in (the identity tells a restart of Slips)
    assert sorted(r.slot for r in board.wants()) == ["identity", "names"]
    settle(board, data)
    assert board.panes["tree"].status == READY
    assert board.facts is not None and board.order()[0] == BEACON_HOST  # most alerts on top
    assert board.current_row() == TreeRow(BEACON_HOST, None)
    marks = {(ip, tw) for ip, tws in board.facts.marks.items() for tw in tws}
    assert marks == set(result.malicious)


def test_jump_select_and_stale_results_are_dropped(generated):
    data, result = generated
    board = Board()
    settle(board, data)
    board.run("next_malicious", 10)
    settle(board, data)
    ip, tw = board.selected
    assert (ip, tw) in set(result.malicious)
    assert board.panes["timeline"].status == READY and board.timeline_total > 0
    assert board.summary is not None and board.summary.total == len(board.evidence) > 0
    old = next(r for r in board.wants() if r.slot == "evidence")
    board.run("next_malicious", 10)  # the user moves on before the old result arrives
    assert board.selected != (ip, tw)
    before = board.evidence
    board.apply(_run(old, data))
    assert board.evidence is before  # the result for the window left behind is ignored


def test_n_before_the_marks_arrive_jumps_when_they_do(generated):
    data, result = generated
    board = Board()
    names = next(r for r in board.wants() if r.slot == "names")
    board.asked["names"] = names.key
    board.apply(_run(names, data))
    assert board.facts is None
    board.run("next_malicious", 10)
    assert board.selected is None and "loading" in board.message
    settle(board, data)
    assert board.selected in set(result.malicious)


def test_holding_down_queues_one_read_per_slot(generated):
    data, _ = generated
    board = Board()
    settle(board, data)
    gate = threading.Event()
    loader = Loader(data)
    try:
        loader.submit(Request("block", 1, lambda d: gate.wait(5), "fg", -1))
        time.sleep(0.05)
        for _ in range(100):
            board.run("down", 10)
            for request in board.wants():
                if board.asked.get(request.slot) != request.key:
                    board.asked[request.slot] = request.key
                    loader.submit(request)
        waiting = loader._waiting["fg"]
        assert len(waiting) <= 4, waiting.keys()  # ipinfo, details, strips: the latest of each
        gate.set()
    finally:
        loader.close()


def test_data_problems_are_pane_states(generated):
    data, _ = generated
    board = Board()
    settle(board, data)
    board.run("next_malicious", 10)
    request = next(r for r in board.wants() if r.slot == "timeline")
    board.asked["timeline"] = request.key

    def wrong(_):
        raise UnexpectedData("profile_x_timewindow1_timeline is a hash, not a sorted set")

    board.apply(_run(Request("timeline", request.key, wrong), data))
    assert board.panes["timeline"].status == UNAVAILABLE
    assert "is a hash" in board.panes["timeline"].reason

    def gone(_):
        raise ConnectionLost("lost the connection to Redis")

    board.apply(_run(Request("timeline", request.key, gone), data))
    assert board.panes["timeline"].status == LOST and board.lost
    assert [r.slot for r in board.wants(now=time.monotonic() + 60)] == ["ping"]  # only a ping while lost
    board.apply(Result("ping", ("ping", 0), True))
    assert board.lost is None and board.message == "connection restored"


def test_a_failing_read_is_a_failure_not_a_crash(generated):
    data, _ = generated
    result = _run(Request("view", 1, lambda d: 1 / 0), data)
    assert result.failure and "ZeroDivisionError" in result.failure and result.problem is None


def test_a_view_that_exits_does_not_kill_the_loader(generated):
    import sys
    data, _ = generated
    loader = Loader(data)
    try:
        loader.submit(Request("view", 1, lambda d: sys.exit(3)))
        loader.submit(Request("timeline", 2, lambda d: "still reading", "fg", 9))
        deadline, got = time.monotonic() + 5, []
        while len(got) < 2 and time.monotonic() < deadline:
            got += loader.results()
            time.sleep(0.01)
        assert [r.slot for r in got] == ["view", "timeline"] and "SystemExit" in got[0].failure
        assert got[1].value == "still reading" and not loader.busy()
    finally:
        loader.close()


def test_loader_replaces_a_waiting_read_and_reports_slow_reads(generated):
    data, _ = generated
    gate, ran = threading.Event(), []
    loader = Loader(data)
    try:
        loader.submit(Request("block", 1, lambda d: gate.wait(5), "fg", -1, "a slow read"))
        for i in range(50):
            loader.submit(Request("timeline", i, lambda d, i=i: ran.append(i), "fg"))
        time.sleep(1.1)
        assert loader.slow() is not None and loader.slow()[0] == "a slow read"
        gate.set()
        deadline = time.monotonic() + 5
        while loader.busy() and time.monotonic() < deadline:
            loader.results()
            time.sleep(0.01)
        assert ran == [49]  # only the newest read of the slot ran
    finally:
        loader.close()


def test_refresh_reads_marks_always_and_names_only_when_they_changed(generated, empty_redis):
    data, _ = generated
    board = Board()
    settle(board, data)
    names, threat = board.names, board.facts.threat
    board.refresh()
    settle(board, data)
    assert board.names is names  # same count: the very same list, nothing rebuilt
    assert board.facts.threat is threat  # marks were read again, threat levels kept
    c = empty_redis.client(0)
    c.zadd("profiles", {"profile_10.99.0.1": 1.0})
    c.hset("profile_10.99.0.1_timewindow1", "alerts", '{"a1": "[\\"e1\\"]"}')
    board.refresh()
    settle(board, data)
    assert "10.99.0.1" in board.names and board.is_new("10.99.0.1", time.monotonic())
    assert board.notices and board.notices[-1][:2] == ("10.99.0.1", "timewindow1")
    assert "new alert" in board.notice_text()


def test_every_key_binding_has_a_handler():
    app = App(data=None, registry=Registry([], []))
    for binding in keymap.MAIN_BOARD:
        assert binding.command in app.app_commands or binding.command in COMMANDS, binding.command


def test_names_read_while_starting_are_the_first_names(generated, monkeypatch):
    """The names read before the UI was imported (firstnames) serve the first names request:
    the same names as a read of its own, and the first read's problem is the tree's state."""
    from kalipso import firstnames
    from kalipso.data import tree

    data, result = generated
    board = Board(prefetched=firstnames.NamesPrefetch(data))
    settle(board, data)
    assert board.names == firstnames.sorted_names(data) and len(board.names) == result.profiles
    assert board.prefetched is None  # taken once; a refresh reads again

    def gone(_data):
        raise ConnectionLost("Redis went away")

    monkeypatch.setattr(tree, "profile_names", gone)
    board = Board(prefetched=firstnames.NamesPrefetch(data))
    names = next(r for r in board.wants() if r.slot == "names")
    board.apply(_run(names, data))
    assert board.panes["tree"].status == LOST and board.names is None


def test_a_result_wakes_the_ui():
    """The UI waits on the loader's wake-up pipe beside the keyboard: readable once a result has
    arrived, empty again after results() (so the UI does not spin)."""
    import select

    loader = Loader(data=None)
    try:
        fd = loader.wake_fd()
        assert select.select([fd], [], [], 0)[0] == []
        loader.submit(Request("x", ("x", 1), lambda d: 42, "fg", 0, "x"))
        assert select.select([fd], [], [], 5)[0] == [fd]
        assert [r.value for r in loader.results()] == [42]
        assert select.select([fd], [], [], 0)[0] == []
    finally:
        loader.close()


def test_filter_matches_ips_and_host_names_in_any_case():
    from kalipso.data.tree import TreeFacts

    board = Board(sort_by_threat=False)
    board.names = ["10.0.0.1", "10.0.0.12", "192.168.1.5", "fe80::AB12"]
    board.facts = TreeFacts(host_names={"10.0.0.1": "Printer-12", "192.168.1.5": "kali"})
    cases = {"12": ["10.0.0.1", "10.0.0.12", "fe80::AB12"],  # digits: IPs and host names
             "printer": ["10.0.0.1"], "PRINTER": ["10.0.0.1"], "ab1": ["fe80::AB12"],
             "KALI": ["192.168.1.5"], "zzz": [], "": board.names}
    for needle, expected in cases.items():
        board.filter_text = needle
        assert board.shown_profiles() == expected, needle


def test_a_large_tree_is_filtered_in_the_loader(monkeypatch):
    """Over SYNC_FILTER profiles the filter runs in the loader: the UI keeps the last answer
    (or the whole tree) on screen, says 'filtering…', and takes the answer for the text typed."""
    from kalipso import board as board_module
    from kalipso import panes
    from kalipso.data.tree import TreeFacts

    monkeypatch.setattr(board_module, "SYNC_FILTER", 2)
    board = Board(sort_by_threat=False)
    board.names = ["10.0.0.1", "10.0.0.12", "192.168.1.5", "fe80::ab12"]
    board.facts = TreeFacts(host_names={"10.0.0.1": "Printer-12", "192.168.1.5": "kali"})
    board.set_filter("12")
    assert board.filtering and board.shown_profiles() == board.names  # nothing filtered yet
    assert "filtering…" in panes.tree(board, {}, 0.0).title
    first = next(r for r in board.wants() if r.slot == "filter")
    board.set_filter("kal")  # typed on before the answer came
    board.apply(_run(first, None))
    assert board.filtering  # the answer for '12' is not the answer for 'kal'
    second = next(r for r in board.wants() if r.slot == "filter")
    assert board.message == "filter 'kal': filtering 4 profiles…"
    board.apply(_run(second, None))
    assert not board.filtering and board.shown_profiles() == ["192.168.1.5"]
    assert board.message == "filter 'kal': 1 profile"
    board.set_filter("")
    assert board.shown_profiles() == board.names and not any(r.slot == "filter" for r in board.wants())


def test_a_full_refresh_marks_new_profiles_and_keeps_the_refresh_pace(generated, empty_redis):
    """The every-6th full read still finds which profiles are new (and keeps the same list when
    none is); an unchanged marks read still sets how long reading the facts takes."""
    from kalipso.boardreads import FULL_FACTS_EVERY

    data, _ = generated
    board = Board()
    settle(board, data)
    names = board.names
    while (board.gen + 1) % FULL_FACTS_EVERY:
        board.refresh()
        settle(board, data)
    board.refresh()  # a full read, nothing changed
    settle(board, data)
    assert board.names is names
    board.facts_seconds = 30.0  # as after a slow read
    board.refresh()
    settle(board, data)
    assert board.facts_seconds < 30.0  # the marks read again, unchanged: its own time counts
    empty_redis.client(0).zadd("profiles", {"profile_10.99.0.2": 1.0})
    while (board.gen + 1) % FULL_FACTS_EVERY:
        board.gen += 1  # refreshes that only count would also see it: go straight to a full one
    board.refresh()
    settle(board, data)
    assert "10.99.0.2" in board.names and board.is_new("10.99.0.2", time.monotonic())


def test_n_b_positions_follow_new_marks_objects():
    """positions() is kept per (tree, marks, row) object: a new marks object is seen even if
    Python gives it the address of the last one."""
    from kalipso.data.tree import TreeFacts

    board = Board(sort_by_threat=False)
    board.names = ["10.0.0.1", "10.0.0.4", "10.0.0.5"]
    board.facts = TreeFacts(marks={"10.0.0.1": {"timewindow1": 1}})
    assert set(board.positions()) <= {"10.0.0.1"}
    for ip in ("10.0.0.4", "10.0.0.5"):
        board.facts = TreeFacts(marks={"10.0.0.1": {"timewindow1": 1}, ip: {"timewindow1": 1}})
        assert ip in board.positions()


def test_sort_ips_is_the_ip_order():
    """order.sort_ips (inet_pton as a C key when every name is IPv4) orders as ip_sort_key."""
    import random

    from kalipso.order import ip_sort_key, sort_ips

    rng = random.Random(7)
    v4 = [f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
          for _ in range(3000)]
    odd = ["::1", "fe80::1", "0::1", "01.2.3.4", "1.2.3", "1.2.3.4 ", "x", "", "1.2.3.4\x00", "١.2.3.4"]
    for names in (v4, v4 + odd[:1], v4 + odd, odd, []):
        names = list(dict.fromkeys(names))
        rng.shuffle(names)
        assert sort_ips(names) == sorted(names, key=ip_sort_key)


def test_n_pressed_again_before_the_windows_arrive_moves_on():
    """n selects a window whose row is not in the tree until the profile's windows are read;
    a second n in that time goes to the next malicious window, not to the same one again
    (seen once in the live replay test under load)."""
    from kalipso.data.tree import TreeFacts

    board = Board(sort_by_threat=False)
    board.names = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    board.facts = TreeFacts(marks={"10.0.0.1": {"timewindow1": 1}, "10.0.0.3": {"timewindow1": 1}})
    board.run("next_malicious", 10)
    assert board.selected == ("10.0.0.1", "timewindow1") and board.pending_jump is not None
    board.run("next_malicious", 10)  # the windows of 10.0.0.1 have not been read
    assert board.selected == ("10.0.0.3", "timewindow1")
    board.run("next_malicious", 10)
    assert board.selected == ("10.0.0.1", "timewindow1")  # round again
