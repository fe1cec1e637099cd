"""Kalipso idling beside a live Slips (issue 10, "Measure and note").

A private redis-server; the living demo writer in its own process, as Slips would be
(`python -m kalipso.demo --live --port P --print-alerts`); the real Kalipso in a private tmux
(`kalipso -p P --cache-url redis://127.0.0.1:P/1 --refresh R`), left alone. Measured:

1. CPU of the Kalipso process in % of one core over --seconds (utime+stime from /proc/PID/stat),
   next to the writer's and redis-server's;
2. the delay from the writer printing 'alert <unix time> <ip> <tw>' (the alert is in Redis) to
   the new-alert notice on Kalipso's screen. The screen is read when tmux sees output
   (pipe-pane into a file) plus a slow fallback poll, not in a tight capture loop (a capture
   process per poll costs enough CPU on 2 cores to distort what is measured);
3. Redis commands per second that Kalipso sends while idle: MONITOR on the private server,
   counted per client connection; Kalipso's connections are those that appear when it starts
   (the writer's and this script's exist before). INFO commandstats totals are printed next to it.

Prints the figures; asserts nothing. Targets (issue 10): CPU <= 2 % of one core; notice delay
<= refresh interval + 0.5 s.

Run: .venv/bin/python benchmarks/bench_live_board.py [--seconds 60] [--refresh 5] [--cols 120 --rows 40]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import redis

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from kalipso.data.server import RedisServer
from tmuxdrive import Tmux

NOTICE = re.compile(r"(\d+) new alerts?: (\S+) (timewindow-?\d+)")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def local_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets ``pid`` holds open (its Redis connections)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols[9] in inodes:
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def total_calls(client: redis.Redis) -> int:
    return sum(v["calls"] for v in client.info("commandstats").values())


class Monitor(threading.Thread):
    """MONITOR on the server: commands counted per client address, between start() and stop()."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.by_addr: Counter[str] = Counter()
        self.by_addr_cmd: dict[str, Counter[str]] = {}
        self.stop_event = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self._listen()
        except redis.ConnectionError:  # the server stopped at the end
            pass

    def _listen(self) -> None:
        with self.client.monitor() as m:
            self.ready.set()
            for cmd in m.listen():
                if self.stop_event.is_set():
                    return
                addr = f"{cmd.get('client_address')}:{cmd.get('client_port')}"
                self.by_addr[addr] += 1
                name = (cmd.get("command") or "").split(" ")[0].upper()
                self.by_addr_cmd.setdefault(addr, Counter())[name] += 1


class Watcher(threading.Thread):
    """Reads the screen when tmux sees output (pipe-pane into a file), and every 0.5 s anyway;
    records (unix time, notice text) whenever the new-alert notice changes."""

    def __init__(self, tmux: Tmux, out_file: str) -> None:
        super().__init__(daemon=True)
        self.tmux, self.out_file = tmux, out_file
        self.changes: list[tuple[float, str]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        last_size, last_text, next_poll = -1, "", 0.0
        while not self.stop_event.is_set():
            size = os.path.getsize(self.out_file)
            now = time.monotonic()
            if size != last_size or now >= next_poll:
                last_size, next_poll = size, now + 0.5
                m = NOTICE.search(self.tmux.screen())
                text = m.group(0) if m else ""
                if text != last_text:
                    self.changes.append((time.time(), text))
                    last_text = text
            time.sleep(0.02)


class Alerts(threading.Thread):
    """The writer's stdout: (unix time printed, ip, tw, local receive time) per alert."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.alerts: list[tuple[float, str, str, float]] = []
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            parts = line.split()
            if len(parts) == 4 and parts[0] == "alert":
                self.alerts.append((float(parts[1]), parts[2], parts[3], time.time()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="idle span measured (default 60)")
    parser.add_argument("--refresh", type=float, default=5.0, help="Kalipso's --refresh (default 5, its default)")
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--classic", action="store_true", help="the writer writes classic Slips' layout")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
          f" (bytecode {'not ' if os.environ.get('PYTHONDONTWRITEBYTECODE') else ''}written), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    server = RedisServer().start()
    port = server.port
    admin = redis.Redis(port=port, decode_responses=True)
    writer = tmux = watcher = None
    try:
        monitor = Monitor(redis.Redis(port=port, decode_responses=True))
        monitor.start()
        monitor.ready.wait(10)

        # Kalipso first, on the empty database ("waiting for Slips"): it sees every alert arrive
        kalipso_args = ["-p", str(port), "--cache-url", f"redis://127.0.0.1:{port}/1", "--refresh", str(args.refresh)]
        tmux = Tmux(kalipso_args, cols=args.cols, rows=args.rows)
        print("kalipso: python -m kalipso " + " ".join(kalipso_args) + f"  (tmux {args.cols}x{args.rows})")
        tmux.wait_for("waiting for Slips", timeout=60)
        pid = tmux.program_pid()
        assert pid, "no kalipso process"
        out_file = os.path.join(tmux._dir, "output")
        open(out_file, "wb").close()
        tmux._tmux("pipe-pane", "-o", f"cat >> {out_file}")
        watcher = Watcher(tmux, out_file)
        watcher.start()

        writer_cmd = [sys.executable, "-m", "kalipso.demo", "--live", "--port", str(port), "--print-alerts",
                      *(["--classic"] if args.classic else [])]
        writer = subprocess.Popen(writer_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = Alerts(writer)
        reader.start()
        print("writer:  python " + " ".join(writer_cmd[1:]))
        tmux.wait_for("Profiles (", timeout=60)
        time.sleep(args.refresh + 1.0)  # start-up reads are over; from here Kalipso idles
        print("  " + (reader.lines[0] if reader.lines else "(no output)"))

        # ---------------------------------------------------------------- the idle span
        alerts_before = len(reader.alerts)
        counts0 = Counter(monitor.by_addr)
        calls0 = total_calls(admin)
        procs = (("kalipso", pid), ("writer", writer.pid), ("redis-server", server.proc.pid))
        cpu0 = {name: cpu_seconds(p) for name, p in procs}
        t0 = time.monotonic()
        ports: set[int] = set()
        while time.monotonic() - t0 < args.seconds:
            ports |= local_ports(pid)  # Kalipso's connections (it may reconnect)
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        cpu1 = {name: cpu_seconds(p) for name, p in procs}
        calls1 = total_calls(admin)
        counts1 = Counter(monitor.by_addr)
        ports |= local_ports(pid)

        print(f"\nidle span: {elapsed:.1f} s, Kalipso pid {pid}, refresh {args.refresh:g} s")
        for name in cpu0:
            used = cpu1[name] - cpu0[name]
            print(f"  CPU {name:<13} {100 * used / elapsed:6.2f} % of one core ({used:.2f} s)")
        kalipso_addrs = {a for a in counts1 if int(a.rsplit(":", 1)[1] or 0) in ports}
        kalipso_cmds = sum(counts1[a] - counts0[a] for a in kalipso_addrs)
        all_cmds = sum((counts1 - counts0).values())
        per_cmd: Counter[str] = Counter()
        for a in kalipso_addrs:
            per_cmd.update(monitor.by_addr_cmd.get(a, Counter()))
        print(f"  Redis commands from Kalipso: {kalipso_cmds / elapsed:.1f}/s ({kalipso_cmds} in {elapsed:.0f} s, "
              f"{len(kalipso_addrs)} connections); all clients {all_cmds / elapsed:.1f}/s by MONITOR, "
              f"{(calls1 - calls0) / elapsed:.1f}/s by INFO commandstats")
        if per_cmd:
            print("  Kalipso's commands since it started: " + ", ".join(f"{c} {n}" for c, n in per_cmd.most_common(8)))

        # ---------------------------------------------------------------- alert -> notice
        changes = list(watcher.changes)
        print(f"\nalerts the writer printed: {len(reader.alerts)} ({len(reader.alerts) - alerts_before} "
              "during the idle span)")
        for printed, ip, tw, received in reader.alerts:
            seen = next((when for when, text in changes if when >= printed - 0.05 and text
                         and ip in text and tw in text), None)
            delay = f"{seen - printed:.2f} s" if seen is not None else "never"
            print(f"  alert {ip} {tw}: notice on screen after {delay} (stdout read {received - printed:.3f} s "
                  f"after it was printed); target <= {args.refresh + 0.5:g} s")
        if changes:
            print("  notice changes: " + "; ".join(f"+{when - changes[0][0]:.1f}s {text or '(none)'}"
                                                  for when, text in changes))
        return 0
    finally:
        if watcher is not None:
            watcher.stop_event.set()
            watcher.join(5)
        if monitor_stop := locals().get("monitor"):
            monitor_stop.stop_event.set()
        if tmux is not None:
            tmux.close()
        if writer is not None and writer.poll() is None:
            writer.terminate()
            try:
                writer.wait(10)
            except subprocess.TimeoutExpired:
                writer.kill()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
