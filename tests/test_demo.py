"""The README's first command on a fresh copy: `make demo` sets up and opens the demo board,
and whatever way it ends (q, Ctrl-C, the terminal closing) no Redis or file is left behind."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, servers_in

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


def leftovers(tmpdir: Path) -> list[str]:
    """What a demo left behind: servers still running in its folders, and the folders.
    (Found by working folder, so it holds for a server on a port or on a unix socket.)"""
    return [f"server pid {pid}" for pid in servers_in(tmpdir)] + [p.name for p in tmpdir.iterdir()]


def wait_clean(tmpdir: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while leftovers(tmpdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftovers(tmpdir), leftovers(tmpdir)


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("fresh") / "kalipso"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__",
                                                              ".pytest_cache", ".ruff_cache", ".hypothesis"))
    return copy


def start(cwd: Path, tmpdir: Path, command: str) -> str:
    sock = f"kalipso-demo-{uuid.uuid4().hex[:6]}"
    env = f"env -u LINES -u COLUMNS LANG=C.UTF-8 TMPDIR={tmpdir}"
    tmux(sock, "new-session", "-d", "-x", "120", "-y", "32", "-c", str(cwd),
         f"{env} {command}; echo EXITED $?; sleep 30")
    return sock


def test_make_demo_then_quit(fresh_copy, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sock = start(fresh_copy, tmpdir, "make demo")
    try:
        wait_screen(sock, "Profiles (", "demo network", timeout=1200)  # set-up installs the venv
        assert servers_in(tmpdir)  # its private Redis, in a folder under TMPDIR
        # the beaconing host is marked malicious once the board's global facts have arrived
        screen = wait_screen(sock, "!192.168.1.23", timeout=30)
        assert re.search(r"!192\.168\.1\.23 .*acct-pc-07", screen), screen
        tmux(sock, "send-keys", "q")
        wait_screen(sock, "EXITED 0", timeout=30)
        wait_clean(tmpdir)
    finally:
        tmux(sock, "kill-server")


@pytest.mark.parametrize("how", ["ctrl-c", "terminal closes"])
def test_demo_cleans_up_however_it_ends(tmp_path, how):
    # the installed Kalipso of this test run: no dependence on another test having built a copy
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sock = start(REPO, tmpdir, f"{shlex.quote(sys.executable)} -m kalipso --demo")
    try:
        wait_screen(sock, "Profiles (", timeout=60)
        assert servers_in(tmpdir) and list(tmpdir.iterdir())  # a private Redis and its folders
        if how == "ctrl-c":
            tmux(sock, "send-keys", "C-c")
            wait_screen(sock, "EXITED", timeout=30)
        else:
            tmux(sock, "kill-server")  # SIGHUP to the program, as when an SSH session drops
        wait_clean(tmpdir)
    finally:
        tmux(sock, "kill-server")
