"""Start-up in odd terminals and locales: the real program in tmux, before and after curses starts.

Each case of issue 11: an uninstalled locale falls back and the board starts; an unset, unknown
or cursorless TERM is one line and exit 2 before curses (and before any data source opens);
LANG=C draws ASCII for every glyph; a start-up error is one line, no traceback.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from kalipso.data.server import free_port
from kalipso.demo.generator import Scenario, generate
from tmuxdrive import Tmux


@pytest.fixture
def generated(redis_server, tmp_path):
    result = generate(redis_server.client(0), redis_server.client(1), str(tmp_path), Scenario(hosts=12, hours=3))
    return redis_server, result


def board(server, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1", "--refresh", "0"],
                env=env, unset=unset)


def one_line_exit_2(t: Tmux) -> str:
    """The program exited 2 after printing exactly one message (wrapped by the terminal at most)."""
    assert t.wait_exit() == 2
    joined = "".join(t.output_lines())  # one message line, wrapped by the 120-column terminal
    assert joined.startswith("kalipso: ") and joined.count("kalipso:") == 1, joined
    assert len(joined) <= 240 and "Traceback" not in joined and "internal error" not in joined, joined
    return joined


def test_startup_error_is_one_line_before_curses():
    port = free_port()
    t = Tmux(["-p", str(port)])
    try:
        joined = one_line_exit_2(t)
        assert joined.startswith(f"kalipso: No Redis server answers at 127.0.0.1:{port}/0")
        assert joined.endswith("Use -p/--port for its Redis port.")
    finally:
        t.close()


@pytest.mark.parametrize("term, unset, words", [
    ("", ("TERM",), "TERM is not set"),
    ("kalipso-no-such-terminal", (), "unknown terminal type TERM=kalipso-no-such-terminal"),
    ("dumb", (), "TERM=dumb cannot move the cursor"),
], ids=["unset", "unknown", "dumb"])
def test_unusable_term_is_one_line_and_exit_2(term, unset, words):
    # a port where nothing answers: the terminal is checked first, so its message is the one shown
    t = Tmux(["-p", str(free_port())], env={"TERM": term} if term else None, unset=unset)
    try:
        joined = one_line_exit_2(t)
        assert words in joined and "Redis" not in joined, joined
    finally:
        t.close()


def test_uninstalled_locale_falls_back_and_the_board_starts(generated):
    # LC_ALL forwarded by SSH names a locale this box does not have (only C and C.UTF-8 here)
    server, _ = generated
    t = board(server, env={"LC_ALL": "xx_XX.UTF-8"})
    try:
        screen = t.wait_for("Profiles (", "Timeline")
        assert "┌" in screen or "─" in screen  # fell back to C.UTF-8: the UTF-8 borders are drawn
        t.send("q")
        assert t.wait_exit() == 0
        assert "unsupported locale" not in "\n".join(t.output_lines())
    finally:
        t.close()


def test_lang_c_draws_ascii_for_every_glyph(generated):
    # LANG=C declares a terminal that is not UTF-8 (Python coerces LC_CTYPE to C.UTF-8 at start-up,
    # the board still honours LANG): every border, marker, arrow, bar and map dot must be ASCII
    server, result = generated
    t = Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1", "--refresh", "0",
              "--flows-db", result.flows_db], env={"LANG": "C"})
    try:
        ip, tw = result.malicious[0]
        t.wait_for("Profiles (", "Timeline", f"!{ip}")  # the malicious marks have arrived
        t.send("n")  # the first malicious time window: its timeline has the sent/received arrows
        screen = t.wait_for(f"Timeline {ip} {tw}", "evidence")
        assert screen.isascii(), [ln for ln in screen.splitlines() if not ln.isascii()]
        assert re.search(r"^\+- ", screen, re.M), "no ASCII box corner"
        timeline = screen.split("Timeline", 1)[1]
        # no blank where a glyph belongs: the sent/received arrows have ASCII stand-ins
        assert re.search(r"\S\d+ \S\d+", timeline), timeline
        for key, title in (("M", "World map"), ("A", "Activity"), ("P", "Destination ports as client")):
            t.send(key)
            screen = t.wait_for(title)
            assert screen.isascii(), (key, [ln for ln in screen.splitlines() if not ln.isascii()])
            t.send("Escape")
            t.wait_for("Profiles (")
    finally:
        t.close()


def test_terminal_going_away_logs_no_internal_error(generated, tmp_path):
    # SIGHUP with the terminal gone (an SSH session dropping): curses cannot restore the terminal,
    # which must not be reported as an internal error with a traceback
    server, _ = generated
    log = tmp_path / "kalipso.log"
    t = Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1", "--refresh", "0",
              "--log-file", str(log)])
    try:
        t.wait_for("Profiles (", "Timeline")
        pid = t.program_pid()
        assert pid
    finally:
        t.close()  # kills the tmux server: the pane's terminal closes, the program gets SIGHUP
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
    text = log.read_text() if log.exists() else ""
    assert "internal error" not in text and "Traceback" not in text, text
