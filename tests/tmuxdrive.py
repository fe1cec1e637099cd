"""Drive the real curses program in a fixed-size tmux terminal: send keys, read the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest


class Tmux:
    """One private tmux server running `python -m kalipso ARGS` in one fixed-size pane.

    `env` adds or overrides variables (LANG=C.UTF-8 and TERM=tmux-256color by default); `unset`
    removes variables from the program's environment (e.g. ("TERM",)). The pane stays after the
    program exits (remain-on-exit comes from the server's config file, so it is on before the
    program can exit) and the exit status is kept for `exit_status()`.
    """

    def __init__(self, args: list[str], cols: int = 120, rows: int = 32, env: dict[str, str] | None = None,
                 python: str = sys.executable, unset: tuple[str, ...] = ()):
        if not shutil.which("tmux"):
            pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
        self.socket = f"kalipso-{uuid.uuid4().hex[:8]}"
        self._dir = tempfile.mkdtemp(prefix="kalipso-tmux-")
        self.config = os.path.join(self._dir, "tmux.conf")
        self._status_file = os.path.join(self._dir, "status")
        with open(self.config, "w", encoding="utf-8") as f:
            # read when the server starts, before new-session runs the program: no race with a fast exit
            f.write("set -g remain-on-exit on\n")
        environment = {"LANG": "C.UTF-8", "TERM": "tmux-256color", **(env or {})}
        for name in unset:
            environment.pop(name, None)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items())
        # LINES/COLUMNS would pin the size and hide resizes from the program
        removed = " ".join(f"-u {shlex.quote(name)}" for name in ("LINES", "COLUMNS", *unset))
        program = f"env {removed} {exports} {shlex.quote(python)} -m kalipso {shlex.join(args)}"
        # keep the exit status in a file too: tmux 3.3a fills #{pane_dead_status} only for the first dead pane
        command = f"{program}; s=$?; echo $s > {shlex.quote(self._status_file)}; exit $s"
        self._tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), command)

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", self.config, *args],
                                capture_output=True, text=True, timeout=20)
        return result.stdout

    def screen(self, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", *(["-e"] if escapes else []))

    def wait_for(self, *texts: str, timeout: float = 20.0, absent: bool = False) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            found = all(t in screen for t in texts)
            if found != absent:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{'still' if absent else 'never'} saw {texts!r} on screen:\n{screen}")

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", key)
            time.sleep(0.05)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def filter(self, text: str) -> None:
        """Filter the profile tree: / text Enter."""
        self.send("/")
        self.type(text)
        self.send("Enter")

    def resize(self, cols: int, rows: int) -> None:
        self._tmux("resize-window", "-x", str(cols), "-y", str(rows))

    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "#{pane_dead}").strip() == "1"

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait for the program to exit; its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(0.05)
        raise AssertionError(f"the program did not exit within {timeout} s:\n{self.screen()}")

    def exit_status(self) -> int | None:
        """The program's exit status, or None while it runs."""
        try:
            with open(self._status_file, encoding="utf-8") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def output_lines(self) -> list[str]:
        """The non-blank lines the pane shows, with scrollback, without tmux's "Pane is dead" line."""
        screen = self._tmux("capture-pane", "-p", "-S", "-")
        return [ln for ln in screen.splitlines() if ln.strip() and not ln.startswith("Pane is dead")]

    def program_pid(self) -> int | None:
        """The pid of the kalipso process in the pane (the pane's shell runs it as a child)."""
        shell = self._tmux("display-message", "-p", "#{pane_pid}").strip()
        if not shell.isdigit():
            return None
        try:
            with open(f"/proc/{shell}/task/{shell}/children", encoding="ascii") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def close(self) -> None:
        self._tmux("kill-server")
        shutil.rmtree(self._dir, ignore_errors=True)
