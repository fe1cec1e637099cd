"""A living Slips: keeps the demo network going in a Redis, the way Slips writes while it runs.

Slips on an interface writes continuously: every flow adds its profile (the first time), its
time window (the first flow in it), its out tuple and a timeline line; detections add evidence,
and when a time window's accumulated threat passes the threshold, an alert. When a time window
closes, the keys of the window two before it are deleted. This writer does all of that, in
current Slips' (1.1.21) key layout, value formats and write order (see
../shared/fixtures/SCHEMA-current-1.1.21.md), against any Redis, with a short window width (2
minutes by default) so that windows roll while you watch.

Time is the wall clock, as for a live interface: time windows are numbered from the first flow
(``analysis.file_start``), timewindow1 starting there. ``history`` seconds of past traffic are
written at once on start (so a board has something to show), then the network runs live:

* ordinary web/DNS/NTP traffic from the LAN hosts, about ``flows_per_second`` flows a second;
* a host beaconing to a C&C server every 10 s; its evidence builds up in every time window
  and raises alerts there;
* ``attack_at`` seconds after the start (default 8 s), a new host joins and port-scans the NAS:
  a new profile, evidence, and an alert within the first ~15 s;
* a new LAN host joins every ``join_every`` seconds (new profiles, DHCP host names);
* a horizontal scan of the LAN every 2.5 windows, with its alert (40 new profiles at once).

The same seed gives the same events at the same offsets from the start (``advance(ts)``
writes everything up to capture time ``ts``, whatever the tick rhythm).

API::

    writer = LiveWriter(db0, db1, output_dir, LiveScenario(width=120, seed=1),
                        on_alert=None)  # or fn(ip, timewindow, ts), called once Redis holds an alert
    writer.start()                 # flush, write the analysis hash and the history
    writer.run(stop_event)         # until stop_event is set (or seconds=N); returns LiveStats
    # or: thread = writer.run_in_thread(stop_event)
    writer.advance(ts)             # tests: write everything up to capture time ts, no waiting

Not written (Kalipso does not read them): key and hash-field TTLs, the scan-detection keys
(``…:tcp:not_estab:…``), module bookkeeping hashes, alerts.log / alerts.json.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from kalipso.demo.generator import (
    BEACON_HOST,
    GATEWAY,
    HOST_NAMES,
    LAN,
    SCANNER_HOST,
    USER_AGENTS,
    flow_document,
    letter,
    new_flows_db,
    timeline_line,
)
from kalipso.demo.world import CNC, SERVERS, Server

SLIPS_VERSION = "1.1.21"
ATTACKER_HOST = LAN + "77"
NAS_HOST = LAN + "5"
# Slips' threat levels (slips_files/common/slips_utils.py: threat_levels)
THREAT = {"info": 0.0, "low": 0.2, "medium": 0.5, "high": 0.8, "critical": 1.0}
# file/interface input: evidence_detection_threshold 0.25 per minute of window width
THRESHOLD_PER_MINUTE = 0.25


CNC_TI = {"description": "Emotet C&C server", "threat_level": "high", "source": "abuse.ch feodotracker"}
CNC_VT = {"URL": 0.62, "down_file": 0.35, "ref_file": 0.2, "com_file": 0.41}


@dataclass(frozen=True)
class _Flow:
    """One conn flow as the profiler sees it, with its out tuple after it."""

    src: str
    dst: str
    n: int  # time window of src
    uid: str
    sport: int
    dport: int
    proto: str
    ts: float
    state: str  # Zeek conn_state
    established: bool
    spkts: int
    dpkts: int
    sbytes: int
    dbytes: int
    dur: float
    label: str
    dport_name: str
    tuple_id: str
    letters: str  # of the tuple so far
    previous: float  # the tuple's previous flow ts, 0.0 for its first
    before: float | bool  # the one before that, False if none


@dataclass(frozen=True)
class LiveScenario:
    """How the living network behaves. Times are seconds."""

    width: float = 120.0  # time-window width (Slips' default is 3600; short so windows roll)
    seed: int = 1
    hosts: int = 12  # LAN hosts at the start
    max_hosts: int = 60  # LAN hosts joining stop here
    history: float = 330.0  # past traffic written at once on start (0: start empty)
    tick: float = 1.0  # how often run() writes
    flows_per_second: float = 3.0
    beacon_every: float = 10.0
    join_every: float = 25.0
    attack_at: float = 8.0  # after the start of the live part; None-like: negative disables
    scan_every_windows: float = 2.5
    forget_old_windows: bool = True  # delete per-window keys of window N-2 when N closes, like Slips
    start: float | None = None  # capture time of the live start (default: the wall clock)


@dataclass
class LiveStats:
    """What the writer has written so far."""

    flows: int = 0
    profiles: int = 0
    timewindows: int = 0
    evidence: int = 0
    alerts: int = 0
    deleted_keys: int = 0
    commands: int = 0  # Redis commands sent
    round_trips: int = 0  # pipeline executions
    ticks: int = 0
    seconds: float = 0.0  # wall-clock time spent in run() after start()
    live_flows: int = 0  # written by run() after start() (not the history)
    live_commands: int = 0
    alerted: list[tuple[str, str, float]] = field(default_factory=list)  # (ip, timewindow, capture ts)

    def summary(self) -> str:
        rate = (f"; live: {self.live_flows / self.seconds:.1f} flows/s, "
                f"{self.live_commands / self.seconds:.0f} Redis commands/s over {self.seconds:.0f} s"
                if self.seconds else "")
        return (f"{self.flows} flows, {self.profiles} profiles, {self.timewindows} time windows, "
                f"{self.evidence} evidence, {self.alerts} alerts, {self.deleted_keys} keys of old windows "
                f"deleted; {self.commands} commands in {self.round_trips} round trips{rate}")


class _Batch:
    """Commands of one write, in order, for db 0 and db 1 (one round trip each)."""

    def __init__(self, db0: redis.Redis, db1: redis.Redis | None, stats: LiveStats) -> None:
        self.db0, self.db1, self.stats = db0, db1, stats
        self.p0 = db0.pipeline(transaction=False)
        self.p1 = db1.pipeline(transaction=False) if db1 is not None else None
        self.n0 = self.n1 = 0

    def __call__(self, cache: bool = False):
        if cache:
            self.n1 += 1
            return self.p1
        self.n0 += 1
        if self.n0 >= 2000:
            self.flush()
        return self.p0

    def flush(self) -> None:
        for pipe, n in ((self.p0, self.n0), (self.p1, self.n1)):
            if pipe is not None and n:
                pipe.execute()
                self.stats.commands += n
                self.stats.round_trips += 1
        self.n0 = self.n1 = 0


class LiveWriter:
    """Writes a living current-Slips analysis into ``db0`` (analysis) and ``db1`` (IP-info cache).

    ``output_dir`` receives ``databases/flows.sqlite`` (flows, DHCP host names, alerts) as Slips'
    output folder does; None writes no SQLite (host names and port tables are then unavailable).
    """

    def __init__(self, db0: redis.Redis, db1: redis.Redis | None = None, output_dir: str | None = None,
                 scenario: LiveScenario | None = None, clock: Callable[[], float] = time.time,
                 on_alert: Callable[[str, str, float], None] | None = None) -> None:
        self.s = scenario or LiveScenario()
        self.on_alert = on_alert  # (ip, timewindow, capture ts), called once Redis holds a live alert
        self.db0, self.db1 = db0, db1
        self.output_dir = output_dir
        self.clock = clock
        self.rng = random.Random(self.s.seed)
        self.stats = LiveStats()
        self.live_start = self.s.start if self.s.start is not None else clock()
        self.file_start = self.live_start - max(self.s.history, 0.0)
        self.now = self.file_start  # capture time written up to
        self.started = False
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = 0
        self._hosts: list[str] = []
        self._names: dict[str, str] = {}
        self._next_host = 10
        self._tws: dict[str, set[int]] = {}
        self._keys: dict[tuple[str, int], set[str]] = {}
        self._tuples: dict[tuple[str, int], dict[str, list]] = {}
        self._acc: dict[tuple[str, int], float] = {}
        self._pending: dict[tuple[str, int], list[str]] = {}  # evidence ids since the last alert
        self._alerts: dict[tuple[str, int], dict[str, str]] = {}
        self._beacons: dict[int, int] = {}
        self._levels: dict[str, str] = {}
        self._known_servers: set[str] = set()
        self._window = 1  # newest window of the capture
        self._file_start_written = False
        self._sql: sqlite3.Connection | None = None
        self._b: _Batch | None = None

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Flush db 0 and db 1, write what Slips writes on start, then the history."""
        self.db0.flushdb()
        if self.db1 is not None:
            self.db1.flushdb()
        b = self._batch()
        self._store_start()
        b.flush()
        self._schedule_all()
        self.started = True
        self.advance(self.live_start)

    def advance(self, until: float) -> None:
        """Write every event with a capture time up to ``until``, in time order."""
        if not self.started:
            raise RuntimeError("call start() first")
        b = self._batch()
        alerts_before = len(self.stats.alerted)
        while self._queue and self._queue[0][0] <= until:
            ts, _, event = heapq.heappop(self._queue)
            self._roll_windows(ts)
            event(ts)
        self.now = max(self.now, until)
        b.flush()
        if self._sql is not None:
            self._sql.commit()
        if self.on_alert is not None and until > self.live_start:  # not the history's alerts
            for ip, tw, ts in self.stats.alerted[alerts_before:]:
                self.on_alert(ip, tw, ts)

    def run(self, stop: threading.Event | None = None, seconds: float | None = None) -> LiveStats:
        """Keep writing every ``tick`` until ``stop`` is set or ``seconds`` have passed.

        Starts first if needed. A Redis that goes away ends the run quietly (the demo's server
        stops before this thread notices)."""
        stop = stop or threading.Event()
        began = time.monotonic()
        flows = commands = 0
        try:
            if not self.started:
                self.start()
            began = time.monotonic()
            flows, commands = self.stats.flows, self.stats.commands
            while not stop.is_set():
                elapsed = time.monotonic() - began
                if seconds is not None and elapsed >= seconds:
                    break
                wait = self.s.tick if seconds is None else min(self.s.tick, seconds - elapsed)
                if stop.wait(max(wait, 0.0)):
                    break
                self.advance(self.live_start + (time.monotonic() - began) if self.s.start is not None
                             else self.clock())
                self.stats.ticks += 1
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        finally:
            self.stats.seconds = time.monotonic() - began
            self.stats.live_flows = self.stats.flows - flows
            self.stats.live_commands = self.stats.commands - commands
            self.close()
        return self.stats

    def run_in_thread(self, stop: threading.Event, seconds: float | None = None) -> threading.Thread:
        """run() in a daemon thread (for --demo); set ``stop`` and join the thread to end it."""
        thread = threading.Thread(target=self.run, args=(stop, seconds), name="kalipso-live-demo", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self._sql is not None:
            try:
                self._sql.commit()
                self._sql.close()
            except sqlite3.Error:
                pass
            self._sql = None

    def tw_of(self, ts: float) -> int:
        """Current Slips' numbering: timewindow1 starts at the first flow; earlier flows get 0, -1..."""
        return int((ts - self.file_start) // self.s.width) + 1

    def tw_start(self, n: int) -> float:
        return self.file_start + (n - 1) * self.s.width

    # ------------------------------------------- how current Slips stores things
    # (ClassicLiveWriter in classic.py overrides these _store_* methods)
    def _store_start(self) -> None:
        if self.output_dir:
            self._sql = new_flows_db(os.path.join(self.output_dir, "databases", "flows.sqlite"), wal=True)
        p = self._p
        p().set("slips_start_time", repr(self.clock()))
        p().hset("analysis", mapping={
            "slips_version": SLIPS_VERSION, "name": "demo/kalipso-live-office", "input_type": "interface",
            "analysis_start": time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(self.clock())) + ".000000",
            "output_dir": self.output_dir or "", "evidence_detection_threshold": "0.25",
            "branch": "None", "commit": "None", "disabled_modules": "[]"})
        p().set("mode", "interactive")
        p().hset("local_network", "default", LAN + "0/24")

    def _store_profile(self, ip: str, ts: float) -> None:
        self._p().zadd("profiles", {f"profile_{ip}": ts}, nx=True)
        self._p().hset(f"profile_{ip}", mapping={"starttime": str(ts), "duration": str(self.s.width),
                                                 "confidence": "0.05", "threat_level": "info"})

    def _store_flow(self, f: _Flow) -> None:
        """The profiler's out tuple (symbols_handler.py) and the SQLite flows row."""
        base = f"profile_{f.src}_timewindow{f.n}:OutTuples"
        self._p().hset(self._key(f.src, f.n, f"{base}:symbols"), f.tuple_id, f.letters)
        self._p().zadd(self._key(f.src, f.n, f"{base}:last_flow_ts"), {f.tuple_id: f.ts})
        if f.previous:
            self._p().zadd(self._key(f.src, f.n, f"{base}:deltas"), {f.tuple_id: f.previous})
        self._p().incr("processed_flows_by_profiler_so_far")
        if self._sql is not None:
            doc = flow_document(f.uid, f.src, f.dst, f.sport, f.dport, f.proto, f.ts, f.state, f.spkts, f.dpkts,
                                f.sbytes, f.dbytes, f.dur, f.dport_name)
            self._sql.execute("INSERT INTO flows VALUES (?,?,?,?,?,?)",
                              (f.uid, json.dumps(doc), f.label, f"profile_{f.src}", f"timewindow{f.n}", ""))

    def _store_ip_info(self, server: Server, ts: float) -> None:
        c = self._p(cache=True)
        c.hset("IPsInfo:geocountry", server.ip, server.country)
        c.hset("IPsInfo:asn", server.ip, json.dumps({"number": server.asn, "org": server.org, "timestamp": ts}))
        c.hset("IPsInfo:reverse_dns", server.ip, server.rdns)
        if server.domains:
            c.hset("IPsInfo:DNS_resolution", server.ip, json.dumps(list(server.domains)))
            c.hset("IPsInfo:SNI", server.ip, json.dumps([{"server_name": server.domains[0], "dport": 443}]))
        if server is CNC:
            c.hset("IPsInfo:threatintelligence", server.ip, json.dumps(CNC_TI))
            c.hset("IPsInfo:VirusTotal", server.ip, json.dumps({**CNC_VT, "timestamp": ts}))

    def _store_evidence(self, src: str, n: int, eid: str, ts: float, etype: str, level: str,
                        confidence: float, description: str, victim: str | None) -> None:
        ioc = {"TI": None, "AS": None, "rDNS": None, "SNI": None, "DNS_resolution": None,
               "queries": None, "CNAME": None}
        uids = [self._uid()]
        doc = {"evidence_type": etype, "description": description,
               "attacker": {"direction": "SRC", "ioc_type": "IP", "value": src, "profile": {"ip": src}, **ioc},
               "threat_level": level.upper(), "profile": {"ip": src},
               "timewindow": {"number": n, "start_time": "", "end_time": ""},
               "uid": uids, "timestamp": round(ts, 6), "interface": "default",
               "victim": ({"direction": "DST", "ioc_type": "IP", "value": victim, **ioc} if victim else None),
               "proto": False, "dst_port": None, "src_port": None, "method": "HEURISTIC",
               "id": eid, "confidence": confidence, "rel_id": None}
        p = self._p
        p().hset(self._key(src, n, f"profile_{src}_timewindow{n}_evidence"), eid, json.dumps(doc))
        p().hset("flows_causing_evidence", eid, json.dumps(uids))
        p().expire("flows_causing_evidence", 600)
        p().incr("number_of_evidence")
        p().sadd(self._key(src, n, f"processed_evidence_profile_{src}_timewindow{n}"), eid)

    def _store_threat(self, src: str, n: int, level: str, top: str, threat: float) -> None:
        self._p().hset(f"profile_{src}", mapping={"threat_level": level, "max_threat_level": top})
        if threat:
            self._p().zincrby("accumulated_threat_levels", threat, f"profile_{src}_timewindow{n}")

    def _store_alert(self, ip: str, n: int, ts: float, evidence_ids: list[str]) -> str:
        """alert_handler.py: the TW hash's ``alerts`` field (read-modify-write of a JSON object
        alert id -> JSON list of evidence ids), the counter, the reset of the accumulated threat,
        the cache's score/confidence, and the SQLite ``alerts`` row."""
        alert_id = self._uuid()
        alerts = self._alerts.setdefault((ip, n), {})
        alerts[alert_id] = json.dumps(evidence_ids)
        p = self._p
        p().hset(self._key(ip, n, f"profile_{ip}_timewindow{n}"), "alerts", json.dumps(alerts))
        p().incr("number_of_alerts")
        p().zadd("accumulated_threat_levels", {f"profile_{ip}_timewindow{n}": 0.0})
        if self.db1 is not None:
            p(cache=True).hset("IPsInfo:score", ip, str(THREAT[self._levels.get(ip, "info")]))
            p(cache=True).hset("IPsInfo:confidence", ip, "0.9")
        if self._sql is not None:
            start = self.tw_start(n)
            self._sql.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?,?)",
                              (alert_id, str(self.clock()), ip, f"timewindow{n}", str(start),
                               str(start + self.s.width), "malicious"))
        return alert_id

    def _store_host(self, ip: str, name: str, mac: str, ts: float) -> None:
        """DHCP: the host name goes to SQLite (altflows), the MAC to the profile."""
        self._altflow("dhcp", ip, ts, {"uids": [], "client_addr": ip, "server_addr": GATEWAY,
                                       "host_name": name, "smac": mac, "requested_addr": "", "daddr": GATEWAY})
        self._profile(ip, ts)
        self._p().hset(f"profile_{ip}", mapping={
            "dhcp": "true", "MAC": mac,
            "first user-agent": json.dumps({"user_agent": self.rng.choice(USER_AGENTS), "os_type": "",
                                            "os_name": ""})})

    # --------------------------------------------------------------- plumbing
    def _batch(self) -> _Batch:
        self._b = _Batch(self.db0, self.db1, self.stats)
        return self._b

    def _p(self, cache: bool = False):
        assert self._b is not None
        return self._b(cache)

    def _at(self, ts: float, event: Callable[[float], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (ts, self._seq, event))

    def _schedule_all(self) -> None:
        s, rng = self.s, self.rng
        self._at(self.file_start, lambda ts: self._join(ts, NAS_HOST, "nas", browse=False))
        for i in range(s.hosts):
            self._at(self.file_start + i * 0.2, self._join)
        self._at(self.file_start + 1.0, self._traffic)
        self._at(self.file_start + rng.uniform(2, 5), self._beacon)
        if s.join_every > 0:
            self._at(self.file_start + s.join_every, self._join_later)
        if s.attack_at >= 0:
            self._at(self.live_start + s.attack_at, self._attack)
        if s.scan_every_windows > 0:
            self._at(self.file_start + s.width * 0.4, self._scan)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _uid(self) -> str:
        return "C" + "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                             for _ in range(17))

    # ----------------------------------------------------------- time windows
    def _roll_windows(self, ts: float) -> None:
        """When window N closes (N+1 begins), Slips deletes the keys of window N-2."""
        n = self.tw_of(ts)
        while self._window < n:
            closing = self._window
            self._window += 1
            if self.s.forget_old_windows:
                self._forget(closing - 2)
            self._p().hset("analysis", "modified_ips_in_the_last_tw", str(len(self._tws)))

    def _forget(self, n: int) -> None:
        for (ip, tw), keys in list(self._keys.items()):
            if tw != n:
                continue
            if keys:
                self._p().delete(*sorted(keys))
                self.stats.deleted_keys += len(keys)
            self._p().zrem("accumulated_threat_levels", f"profile_{ip}_timewindow{n}")
            for store in (self._keys, self._tuples, self._acc, self._pending, self._alerts):
                store.pop((ip, tw), None)

    def _key(self, ip: str, n: int, key: str) -> str:
        self._keys.setdefault((ip, n), set()).add(key)
        return key

    def _profile(self, ip: str, ts: float) -> int:
        """add_profile + add_tw (profile_handler.py): the profile and its window, first time only."""
        if ip not in self._tws:
            self._tws[ip] = set()
            self._store_profile(ip, ts)
            self.stats.profiles += 1
        n = self._number(ip, ts)
        if n not in self._tws[ip]:
            self._tws[ip].add(n)
            self._p().zadd(f"twsprofile_{ip}", {f"timewindow{n}": self._window_start(ip, n)})
            self.stats.timewindows += 1
        return n

    def _number(self, ip: str, ts: float) -> int:
        """The number of the window of ``ip`` that ``ts`` falls in (current Slips: one numbering
        for the whole capture)."""
        return self.tw_of(ts)

    def _window_start(self, ip: str, n: int) -> float:
        return self.tw_start(n)

    # ------------------------------------------------------------------- flows
    def _flow(self, src: str, dst: str, dport: int, proto: str, ts: float, state: str,
              spkts: int, dpkts: int, sbytes: int, dbytes: int, dur: float, label: str = "benign",
              info: dict | None = None, dport_name: str = "") -> None:
        if not self._file_start_written:  # Slips records the first flow's time
            self._file_start_written = True
            self._p().hset("analysis", "file_start", str(self.file_start))
        n = self._profile(src, ts)
        self._profile(dst, ts)
        uid = self._uid()
        sport = self.rng.randint(49152, 65535) if proto != "icmp" else 8
        established = state in ("S1", "SF", "S2", "S3", "RSTO", "RSTP", "OTH")
        # the profiler: out tuple letters (symbols_handler.py)
        tup_id = f"{dst}-{dport}-{proto}"
        tup = self._tuples.setdefault((src, n), {}).setdefault(tup_id, ["", 0.0, False])
        previous, before = tup[1], tup[2]
        tup[0] += letter(established, sbytes + dbytes, previous, ts)
        tup[1], tup[2] = ts, previous or False
        self._store_flow(_Flow(src, dst, n, uid, sport, dport, proto, ts, state, established, spkts, dpkts,
                               sbytes, dbytes, dur, label, dport_name, tup_id, tup[0], previous, before))
        # the timeline module, after the profiler
        line = timeline_line(dst, dport, proto, ts, established, sbytes, dbytes, dur,
                             self._resolution(dst), info, dport_name)
        self._p().zadd(self._key(src, n, f"profile_{src}_timewindow{n}_timeline"), {json.dumps(line): ts})
        self.stats.flows += 1

    def _resolution(self, ip: str) -> str:
        server = next((s for s in SERVERS if s.ip == ip), None)
        return server.domains[0] if server and server.domains and ip in self._known_servers else "????"

    def _altflow(self, kind: str, src: str, ts: float, data: dict) -> None:
        if self._sql is None:
            return
        uid = self._uid()
        doc = {"interface": "default", "starttime": round(ts, 6), "uid": uid, "saddr": src, **data,
               "ground_truth_label": "", "detailed_ground_truth_label": "", "type_": kind}
        self._sql.execute("INSERT INTO altflows VALUES (?,?,?,?,?,?)",
                          (uid, json.dumps(doc), "benign", f"profile_{src}", f"timewindow{self.tw_of(ts)}", kind))

    def _server_info(self, server: Server, ts: float) -> None:
        """What the ip_info module writes to the cache the first time an IP is seen."""
        if server.ip in self._known_servers:
            return
        self._known_servers.add(server.ip)
        if server.domains:
            self._p().hset("DNSresolution", server.ip, json.dumps({
                "ts": ts, "uid": self._uid(), "domains": list(server.domains), "resolved-by": [GATEWAY],
                "timewindows": [f"timewindow{self.tw_of(ts)}"]}))
            self._p().hset("DomainsResolved", server.domains[0], json.dumps([server.ip]))
        if self.db1 is not None:
            self._store_ip_info(server, ts)

    # ----------------------------------------------------- evidence and alerts
    def _evidence(self, src: str, ts: float, etype: str, level: str, confidence: float, description: str,
                  victim: str | None = None) -> None:
        """alert_handler.set_evidence, then the evidence handler: count, accumulate, maybe alert."""
        n = self._profile(src, ts)
        eid = self._uuid()
        self._store_evidence(src, n, eid, ts, etype, level, confidence, description, victim)
        old = self._levels.get(src, "info")
        self._levels[src] = top = level if THREAT[level] >= THREAT[old] else old
        threat = THREAT[level] * confidence
        self._acc[(src, n)] = self._acc.get((src, n), 0.0) + threat
        self._store_threat(src, n, level, top, threat)
        self._pending.setdefault((src, n), []).append(eid)
        self.stats.evidence += 1
        if self._acc[(src, n)] >= THRESHOLD_PER_MINUTE * self.s.width / 60:
            self._alert(src, n, ts)

    def _alert(self, ip: str, n: int, ts: float) -> None:
        self._store_alert(ip, n, ts, self._pending.pop((ip, n), []))
        self._acc[(ip, n)] = 0.0
        self.stats.alerts += 1
        self.stats.alerted.append((ip, f"timewindow{n}", ts))

    # --------------------------------------------------------------- behaviours
    def _join(self, ts: float, ip: str | None = None, name: str | None = None, browse: bool = True) -> None:
        """A LAN host gets a DHCP lease (its host name goes to SQLite) and, unless told not to,
        starts browsing."""
        if ip is None:
            if self._next_host >= 10 + self.s.max_hosts:
                return
            ip = f"{LAN}{self._next_host}"
            self._next_host += 1
            while ip in (BEACON_HOST, SCANNER_HOST, ATTACKER_HOST, NAS_HOST) or ip in self._names:
                ip = f"{LAN}{self._next_host}"
                self._next_host += 1
        i = len(self._names)
        self._names[ip] = name or f"{HOST_NAMES[i % len(HOST_NAMES)]}-{i:02d}"
        mac = f"08:00:27:{int(ip.rsplit('.', 1)[1]):02x}:{i & 255:02x}:{self.rng.randint(0, 255):02x}"
        self._store_host(ip, self._names[ip], mac, ts)
        if browse:
            self._hosts.append(ip)

    def _join_later(self, ts: float) -> None:
        self._join(ts)
        self._at(ts + self.s.join_every * self.rng.uniform(0.8, 1.2), self._join_later)

    def _traffic(self, ts: float) -> None:
        rng = self.rng
        if self._hosts:
            host = rng.choice(self._hosts)
            if rng.random() < 0.1:
                self._flow(host, "162.159.200.123", 123, "udp", ts, "SF", 1, 1, 48, 48, 0.02, dport_name="NTP")
                self._server_info(SERVERS[14], ts)
            else:
                server = rng.choice(SERVERS)
                domain = rng.choice(server.domains)
                self._flow(host, GATEWAY, 53, "udp", ts - 0.05, "SF", 1, 1, 40 + len(domain), 120, 0.002,
                           info={"query": domain, "answers": server.ip}, dport_name="DNS")
                self._altflow("dns", host, ts - 0.05, {"daddr": GATEWAY, "sport": 53000, "dport": 53,
                                                       "proto": "udp", "query": domain, "answers": [server.ip]})
                self._server_info(server, ts)
                state = rng.choices(("SF", "S1", "RSTO", "S0"), (80, 10, 8, 2))[0]
                up, down = (0, 0) if state == "S0" else (rng.randint(600, 4000), rng.randint(2000, 900000))
                port = 443 if rng.random() < 0.85 else 80
                info = {"server_name": domain, "trusted": "Yes", "resumed": "False", "version": "TLSv13"} \
                    if port == 443 and state != "S0" else None
                self._flow(host, server.ip, port, "tcp", ts, state, max(up // 500, 1), down // 1200, up, down,
                           rng.uniform(0.05, 30), info=info, dport_name="HTTPS" if port == 443 else "HTTP")
        self._at(ts + rng.expovariate(self.s.flows_per_second / 2), self._traffic)  # two flows per visit

    def _beacon(self, ts: float) -> None:
        if BEACON_HOST not in self._names:
            self._join(ts, BEACON_HOST, "acct-pc-07")
        self._server_info(CNC, ts)
        self._flow(BEACON_HOST, CNC.ip, 4444, "tcp", ts, "SF", 6, 5, 412, 389, self.rng.uniform(0.2, 0.6),
                   label="malicious", dport_name="????")
        n = self.tw_of(ts)
        count = self._beacons[n] = self._beacons.get(n, 0) + 1
        if count == 1:
            self._evidence(BEACON_HOST, ts, "CONNECTION_WITHOUT_DNS", "low", 0.8,
                           f"A connection without DNS resolution to IP: {CNC.ip}", CNC.ip)
        elif count == 2:
            self._evidence(BEACON_HOST, ts, "UNKNOWN_PORT", "high", 0.8,
                           f"Connection to unknown destination port 4444/TCP destination IP {CNC.ip}", CNC.ip)
        elif count == 4:
            self._evidence(BEACON_HOST, ts, "COMMAND_AND_CONTROL_CHANNEL", "critical", 0.9,
                           f"C&C channel, periodic connections every {self.s.beacon_every:.0f}s to "
                           f"{CNC.ip}:4444/TCP ({count} flows)", CNC.ip)
        elif count == 5:
            self._evidence(BEACON_HOST, ts, "THREAT_INTELLIGENCE_BLACKLISTED_IP", "high", 1.0,
                           f"connection to blacklisted IP: {CNC.ip} ({CNC.country}). "
                           "Source: abuse.ch feodotracker", CNC.ip)
        self._at(ts + self.s.beacon_every + self.rng.uniform(-0.3, 0.3), self._beacon)

    def _attack(self, ts: float) -> None:
        """A new host appears and port-scans the NAS: a new profile and an alert within seconds."""
        self._join(ts, ATTACKER_HOST, "guest-laptop", browse=False)
        t = ts + 0.5
        ports = [21, 22, 23, 25, 80, 110, 139, 143, 443, 445, 993, 3306, 3389, 5432, 5900, 8080]
        for i, port in enumerate(ports):
            state = "REJ" if port not in (22, 80, 445) else "SF"
            self._at(t + i * 0.25, lambda when, port=port, state=state: self._flow(
                ATTACKER_HOST, NAS_HOST, port, "tcp", when, state, 1, 1, 0, 0, 0.0, label="malicious"))
        self._at(t + 2.0, lambda when: self._evidence(
            ATTACKER_HOST, when, "VERTICAL_PORT_SCAN", "medium", 0.5,
            f"Vertical port scan to IP {NAS_HOST} from {ATTACKER_HOST}. Total 8 connections to 8 unique "
            "destination ports.", NAS_HOST))
        self._at(t + 4.0, lambda when: self._evidence(
            ATTACKER_HOST, when, "VERTICAL_PORT_SCAN", "high", 1.0,
            f"Vertical port scan to IP {NAS_HOST} from {ATTACKER_HOST}. Total {len(ports)} connections to "
            f"{len(ports)} unique destination ports.", NAS_HOST))
        self._at(t + 4.5, lambda when: self._evidence(
            ATTACKER_HOST, when, "CONNECTION_TO_PRIVATE_IP", "info", 1.0,
            f"Connecting to private IP: {NAS_HOST} on destination port: 3389", NAS_HOST))

    def _scan(self, ts: float) -> None:
        if SCANNER_HOST not in self._names:
            self._join(ts, SCANNER_HOST, "kali", browse=False)
        targets = [f"{LAN}{i}" for i in range(200, 240)]
        self.rng.shuffle(targets)
        t = ts
        for target in targets:
            state = "REJ" if self.rng.random() < 0.1 else "S0"
            self._flow(SCANNER_HOST, target, 445, "tcp", t, state, 2, 1 if state == "REJ" else 0, 0, 0, 0.0,
                       label="malicious", dport_name="SMB")
            t += self.rng.uniform(0.01, 0.05)
        self._evidence(SCANNER_HOST, t, "HORIZONTAL_PORT_SCAN", "high", 1.0,
                       f"Horizontal port scan to port 445/TCP. From {SCANNER_HOST} to {len(targets)} unique "
                       f"destination IPs. Total packets sent: {2 * len(targets)}.")
        self._at(ts + self.s.width * self.s.scan_every_windows, self._scan)
