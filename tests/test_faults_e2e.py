"""The real board in tmux while Redis misbehaves: gone, paused, or holding keys of the wrong type.

The program must run throughout, show the fault in the pane that needed the data and on the
status line, and recover without a restart.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from kalipso.data.server import RedisServer
from kalipso.demo.generator import BEACON_HOST, Scenario, generate
from tmuxdrive import Tmux

VIEW_KEYS = ("E", "C", "B", "P", "N", "H", "I", "V", "A", "M")


def board(server: RedisServer, *extra: str, cols: int = 80, rows: int = 24) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1",
                 "--refresh", "1", "--timeout", "2", *extra], cols=cols, rows=rows)


def alive(t: Tmux) -> str:
    """The screen, after checking that the program still runs and shows no internal error."""
    screen = t.screen()
    assert not t.dead() and t.exit_status() is None, f"the program exited:\n{screen}"
    assert "internal error" not in screen and "Traceback" not in screen, screen
    assert "failed:" not in screen, f"a data problem was blamed on a view:\n{screen}"
    return screen


def test_redis_gone_during_every_action_then_back(redis_binary, tmp_path):
    store = tmp_path / "redis"
    store.mkdir()
    server = RedisServer(redis_binary, directory=str(store)).start()
    port = server.port
    result = generate(server.client(0), server.client(1), str(tmp_path), Scenario(hosts=6, hours=2))
    server.client(0).save()  # the same Redis comes back with the same analysis
    t = board(server)
    try:
        t.wait_for("Profiles (")
        t.wait_for("marks loading", absent=True)
        server.stop()
        t.send("r")
        t.wait_for("connection lost")
        for keys in (("Home", "Enter"), ("Down", "Enter"), ("n",), ("b",), ("Tab", "Down", "Enter"),
                     ("Escape",), ("BTab", "BTab"), ("r",), ("/", "1", "Enter"), ("/", "BSpace", "Enter")):
            t.send(*keys)
            time.sleep(0.2)
            alive(t)
        for key in VIEW_KEYS:
            t.send(key)
            screen = t.wait_for("connection lost")
            alive(t)
            assert "failed" not in screen
            t.send("Escape")
        t.wait_for("Profiles (")
        server = RedisServer(redis_binary, directory=str(store), port=port).start()
        t.wait_for("connection restored", timeout=15)
        t.wait_for("connection lost", absent=True)
        t.send("n")  # and the board works again: the next malicious window opens
        screen = t.wait_for("Timeline 192.168.1.", "evidence")
        assert any(f"Timeline {ip} {tw} [1/" in screen for ip, tw in result.malicious)
        t.send("H")  # a view opened after the fault is not stuck in "failed"
        t.wait_for("Out tuples of", "tuple")
        alive(t)
    finally:
        t.close()
        server.stop()


def test_keys_work_while_redis_is_paused(redis_binary, tmp_path):
    server = RedisServer(redis_binary).start()
    generate(server.client(0), server.client(1), str(tmp_path), Scenario(hosts=6, hours=2))
    t = board(server, "--refresh", "0")
    try:
        t.wait_for("Profiles (")
        t.wait_for("marks loading", absent=True)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            t.send("Enter")  # expand: a read that now hangs
            t.wait_for("Redis slow")
            t.send("?")  # keys are handled while the read waits
            t.wait_for("Keys of the main board")
            t.send("x")
            t.wait_for("Keys of the main board", absent=True)
            t.send("H")  # a view opens at once, says it is loading, and Esc leaves it at once
            t.wait_for("loading…", "H Out tuples")
            t.send("Escape")
            t.wait_for("H Out tuples", absent=True)
            t.send("/")
            t.type("192.168")
            t.wait_for("filter: 192.168")
            t.send("Escape")
            t.wait_for("filter: 192.168", absent=True)
            before = t.screen(escapes=True)
            t.send("Down")
            deadline = time.monotonic() + 5
            while t.screen(escapes=True) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert t.screen(escapes=True) != before, "the cursor did not move while Redis was paused"
            alive(t)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        t.send("n")
        t.wait_for("Timeline ", "evidence", timeout=15)
        alive(t)
    finally:
        t.close()
        server.stop()


def _wrong(client, key: str) -> None:
    """Replace ``key`` with a value of another type."""
    kind = client.type(key).decode()
    client.delete(key)
    if kind == "string":
        client.hset(key, "x", "1")
    else:
        client.set(key, "not what Slips writes")


@pytest.mark.parametrize("key", [
    "BlockedProfTW", "whitelisted_evidence", "analysis", "alerts", "DNSresolution",
    "profile_{ip}", "twsprofile_{ip}", "profile_{ip}_{tw}", "profile_{ip}_{tw}_timeline",
    "profile_{ip}_{tw}_evidence", "profile_{ip}_{tw}:OutTuples:symbols",
])
def test_a_key_of_an_unexpected_type(redis_server, tmp_path, key):
    c = redis_server.client(0)
    c.flushall()
    result = generate(c, redis_server.client(1), str(tmp_path), Scenario(hosts=6, hours=2))
    ip, tw = next((i, w) for i, w in result.malicious if i == BEACON_HOST)
    name = key.format(ip=ip, tw=tw)
    if not c.exists(name):  # some keys are written only by some Slips runs: plant one
        c.set(name, "1")
    _wrong(c, name)
    t = board(redis_server, cols=100, rows=30)
    try:
        t.wait_for("Profiles (")
        t.wait_for("marks loading", absent=True)
        t.send("Home")  # threat first: the beacon host, with the most alerts, is on top
        t.wait_for(f"+!{ip}")
        t.send("Enter")
        time.sleep(0.5)
        t.send("Down", "Enter")
        time.sleep(1)
        screen = alive(t)
        if name.endswith("_timeline"):
            t.wait_for("not available", "is a")
        for view in ("H", "V", "E"):
            t.send(view)
            time.sleep(0.5)
            alive(t)
            t.send("Escape")
        time.sleep(1.2)  # one refresh reads everything again
        alive(t)
        assert "Profiles (68)" in screen
    finally:
        t.close()
