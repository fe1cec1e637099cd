"""Drive the real curses program in a fixed-size tmux terminal: send keys, read the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest


class Tmux:
    def __init__(self, args: list[str], cols: int = 120, rows: int = 32, env: dict[str, str] | None = None,
                 python: str = sys.executable):
        if not shutil.which("tmux"):
            pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
        self.socket = f"kalipso-{uuid.uuid4().hex[:8]}"
        environment = {"LANG": "C.UTF-8", "TERM": "tmux-256color", **(env or {})}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items())
        # LINES/COLUMNS would pin the size and hide resizes from the program
        command = f"env -u LINES -u COLUMNS {exports} {shlex.quote(python)} -m kalipso {shlex.join(args)}"
        self._tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), command)
        self._tmux("set-option", "-g", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", os.devnull, *args],
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

    def close(self) -> None:
        self._tmux("kill-server")
