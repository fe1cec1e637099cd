"""The README's first command on a fresh copy: `make demo` sets up and opens the demo board,
and whatever way it ends (q, Ctrl-C, the terminal closing) no Redis or file is left behind."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, "-f", os.devnull, *args], capture_output=True, text=True,
                          timeout=30).stdout


def wait_screen(sock: str, *texts: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(sock, "capture-pane", "-p")
        if all(t in screen for t in texts):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"never saw {texts} on screen:\n{screen}")


def processes() -> list[str]:
    """Command lines of all processes (from /proc: no dependence on procps)."""
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return out


def port_of(screen: str) -> int:
    """The private Redis's port, from the status line (redis-server retitles itself host:port)."""
    return int(re.search(r"Kalipso  127\.0\.0\.1:(\d+)/0", screen).group(1))


def leftovers(tmpdir: Path, port: int) -> list[str]:
    servers = [p for p in processes() if "redis-server" in p and f"127.0.0.1:{port}" in p]
    with socket.socket() as s:
        listening = [f"something listens on {port}"] if s.connect_ex(("127.0.0.1", port)) == 0 else []
    return servers + listening + [p.name for p in tmpdir.iterdir()]


def wait_clean(tmpdir: Path, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while leftovers(tmpdir, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftovers(tmpdir, port), leftovers(tmpdir, port)


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("fresh") / "kalipso"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__",
                                                              ".pytest_cache", ".ruff_cache", ".hypothesis"))
    return copy


def start(fresh_copy: Path, tmpdir: Path, command: str) -> str:
    sock = f"kalipso-demo-{uuid.uuid4().hex[:6]}"
    env = f"env -u LINES -u COLUMNS LANG=C.UTF-8 TMPDIR={tmpdir}"
    tmux(sock, "new-session", "-d", "-x", "120", "-y", "32", "-c", str(fresh_copy),
         f"{env} {command}; echo EXITED $?; sleep 30")
    return sock


def test_make_demo_then_quit(fresh_copy, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sock = start(fresh_copy, tmpdir, "make demo")
    try:
        port = port_of(wait_screen(sock, "Profiles (", "demo network", timeout=1200))  # set-up installs the venv
        tmux(sock, "send-keys", "s")  # by threat: the malicious hosts first, marked
        screen = wait_screen(sock, "sorted by threat", timeout=20)
        assert "+!192.168.1.23 acct-pc-07" in screen and "+!192.168.1.66 kali" in screen
        tmux(sock, "send-keys", "q")
        wait_screen(sock, "EXITED 0", timeout=30)
        wait_clean(tmpdir, port)
    finally:
        tmux(sock, "kill-server")


@pytest.mark.parametrize("how", ["ctrl-c", "terminal closes"])
def test_demo_cleans_up_however_it_ends(fresh_copy, tmp_path, how):
    python = fresh_copy / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("runs after test_make_demo_then_quit has set up the copy")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sock = start(fresh_copy, tmpdir, f"{python} -m kalipso --demo")
    try:
        port = port_of(wait_screen(sock, "Profiles (", timeout=60))
        assert len(leftovers(tmpdir, port)) >= 3  # a private Redis, listening, and its folders
        if how == "ctrl-c":
            tmux(sock, "send-keys", "C-c")
            wait_screen(sock, "EXITED", timeout=30)
        else:
            tmux(sock, "kill-server")  # SIGHUP to the program, as when an SSH session drops
        wait_clean(tmpdir, port)
    finally:
        tmux(sock, "kill-server")
