"""Writes a realistic Slips database of the current generation (1.1.21 layout).

The default scenario is a small office network over a few hours: ordinary web, DNS and NTP
traffic, one host beaconing to a command-and-control server, one host scanning the LAN, and
the evidence and alerts Slips raises for them. Key names, types and value formats follow the
real 1.1.21 fixtures (a test compares them). At larger scales it feeds the benchmarks.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass, field

import redis

from kalipso.demo.world import CNC, SERVERS, Server

WIDTH = 3600.0
LAN = "192.168.1."
GATEWAY = LAN + "1"
BEACON_HOST = LAN + "23"
SCANNER_HOST = LAN + "66"
HOST_NAMES = ("reception", "accounting", "dev-laptop", "printer", "nas", "ceo-mac", "lab-pc",
              "meeting-room", "hr-laptop", "kiosk")
USER_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0",
               "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15",
               "Microsoft NCSI", "Debian APT-HTTP/1.3 (2.6.1)")
LETTERS = "abcdefghiABCDEFGHIrstuvwxyzRSTUVWXYZ123456789"


@dataclass(frozen=True)
class Scenario:
    """How big and how eventful the generated analysis is."""

    hosts: int = 24
    hours: int = 4
    flows_per_hour: int = 30
    seed: int = 1
    start: float = 1795852800.0  # 2026-11-28 08:00 UTC
    beacon: bool = True
    scanner: bool = True
    big_window_flows: int = 0  # extra flows in the first host's first window (benchmarks)


@dataclass
class Generated:
    """What was written, for tests and benchmarks to check against."""

    profiles: int = 0
    timewindows: int = 0
    timeline_lines: int = 0
    flows: int = 0
    evidence: int = 0
    alerts: int = 0
    malicious: list[tuple[str, str]] = field(default_factory=list)
    output_dir: str = ""
    flows_db: str = ""


class _Writer:
    """Buffers Redis commands and SQLite rows and writes them in batches."""

    def __init__(self, db0: redis.Redis, db1: redis.Redis, sqlite_path: str) -> None:
        self.p0 = db0.pipeline(transaction=False)
        self.p1 = db1.pipeline(transaction=False)
        self.n = 0
        self.sql = new_flows_db(sqlite_path)
        self.flows: list[tuple] = []
        self.altflows: list[tuple] = []

    def tick(self) -> None:
        self.n += 1
        if self.n >= 5000:
            self.flush()

    def flush(self) -> None:
        self.p0.execute()
        self.p1.execute()
        self.sql.executemany("INSERT INTO flows VALUES (?,?,?,?,?,?)", self.flows)
        self.sql.executemany("INSERT INTO altflows VALUES (?,?,?,?,?,?)", self.altflows)
        self.flows.clear()
        self.altflows.clear()
        self.n = 0

    def close(self) -> None:
        self.flush()
        self.sql.commit()
        self.sql.close()


def _human(ts: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1e6) % 1000000:06d}"


def new_flows_db(path: str, wal: bool = False) -> sqlite3.Connection:
    """A new, empty Slips flows database (sqlite_db/database.py:47-59) at ``path``.

    ``wal``: journal in WAL mode, as Slips does, so that readers can read while it writes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    sql = sqlite3.connect(path, check_same_thread=False)
    if wal:
        sql.execute("PRAGMA journal_mode=WAL")
    sql.executescript(
        "CREATE TABLE flows (uid TEXT PRIMARY KEY, flow TEXT, label TEXT, profileid TEXT, twid TEXT, aid TEXT);"
        "CREATE TABLE altflows (uid TEXT PRIMARY KEY, flow TEXT, label TEXT, profileid TEXT, twid TEXT, "
        "flow_type TEXT);"
        "CREATE TABLE alerts (alert_id TEXT PRIMARY KEY, alert_time TEXT, ip_alerted TEXT, timewindow TEXT, "
        "tw_start TEXT, tw_end TEXT, label TEXT);")
    sql.commit()
    return sql


def flow_document(uid: str, src: str, dst: str, sport: int, dport: int, proto: str, ts: float, state: str,
                  spkts: int, dpkts: int, sbytes: int, dbytes: int, dur: float, dport_name: str = "") -> dict:
    """The JSON of a conn flow in SQLite ``flows.flow``, as Slips 1.1.21 stores it."""
    return {"interface": "default", "starttime": round(ts, 6), "uid": uid, "saddr": src,
            "daddr": dst, "dur": dur, "proto": proto, "appproto": dport_name.lower(),
            "sport": sport, "dport": dport, "spkts": spkts, "dpkts": dpkts, "sbytes": sbytes,
            "dbytes": dbytes, "state": state, "history": "ShADadFf" if state == "SF" else "S",
            "smac": "", "dmac": "", "ground_truth_label": "", "detailed_ground_truth_label": "",
            "endtime": round(ts + dur, 6), "pkts": spkts + dpkts, "bytes": sbytes + dbytes,
            "state_hist": "", "aid": "", "dport_name": "", "timestamp_human": "",
            "interpreted_state": "", "type_": "conn", "dir_": "->"}


def timeline_line(dst: str, dport: int, proto: str, ts: float, established: bool, sbytes: int, dbytes: int,
                  dur: float, resolution: str, info: dict | None = None, dport_name: str = "",
                  warning: str = "") -> dict:
    """One timeline line (a member of ``profile_<ip>_timewindow<N>_timeline``, timeline.py)."""
    return {"timestamp": _human(ts), "dport_name": dport_name or "????", "preposition": "to",
            "dns_resolution": resolution, "daddr": dst, "dport/proto": f"{dport}/{proto.upper()}",
            "state": "Established" if established else "Not Established",
            "warning": warning or ("" if established else "No data exchange!"),
            "info": info or "", "sent": sbytes, "recv": dbytes, "tot": sbytes + dbytes,
            "duration": round(dur, 3), "critical warning": ""}


def letter(established: bool, size: int, last: float, ts: float) -> str:
    """Stratosphere letters: the letter encodes size (and state), the symbol before it the gap."""
    alphabet = LETTERS[:27] if established else LETTERS[27:]
    char = alphabet[min(int(size).bit_length() // 2, len(alphabet) - 1)]
    if not last:
        return char
    gap = ts - last
    sep = "." if gap < 5 else "," if gap < 60 else "+" if gap < 300 else "*" if gap < 3600 else "0"
    return sep + char


def _uid(rng: random.Random) -> str:
    return "C" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                         for _ in range(17))


class _Network:
    def __init__(self, scenario: Scenario, writer: _Writer, output_dir: str) -> None:
        self.s = scenario
        self.w = writer
        self.rng = random.Random(scenario.seed)
        self.out = Generated(output_dir=output_dir)
        self.first_seen: dict[str, float] = {}
        self.tws: dict[str, dict[int, float]] = {}
        self.tuples: dict[tuple[str, int], dict[str, list]] = {}
        self.evidence: dict[tuple[str, int], list[dict]] = {}
        self.dns: dict[str, str] = {}

    # -- time windows -------------------------------------------------------
    def tw_of(self, ts: float) -> int:
        return int((ts - self.s.start) // WIDTH) + 1

    def touch(self, ip: str, ts: float) -> int:
        n = self.tw_of(ts)
        self.first_seen[ip] = min(self.first_seen.get(ip, ts), ts)
        self.tws.setdefault(ip, {})[n] = self.s.start + (n - 1) * WIDTH
        return n

    # -- one flow -----------------------------------------------------------
    def flow(self, src: str, dst: str, dport: int, proto: str, ts: float, state: str,
             spkts: int, dpkts: int, sbytes: int, dbytes: int, dur: float,
             label: str = "benign", info: dict | None = None, dport_name: str = "",
             warning: str = "") -> None:
        rng = self.rng
        uid = _uid(rng)
        sport = rng.randint(49152, 65535) if proto != "icmp" else 8
        n = self.touch(src, ts)
        self.touch(dst, ts)
        twid = f"timewindow{n}"
        flow = flow_document(uid, src, dst, sport, dport, proto, ts, state, spkts, dpkts, sbytes, dbytes,
                             dur, dport_name)
        self.w.flows.append((uid, json.dumps(flow), label, f"profile_{src}", twid, ""))
        established = state in ("S1", "SF", "S2", "S3", "RSTO", "RSTP", "OTH")
        resolution = self.dns.get(dst, "????")
        line = timeline_line(dst, dport, proto, ts, established, sbytes, dbytes, dur, resolution, info,
                             dport_name, warning)
        self.w.p0.zadd(f"profile_{src}_{twid}_timeline", {json.dumps(line): ts})
        tup = self.tuples.setdefault((src, n), {}).setdefault(f"{dst}-{dport}-{proto}", ["", 0.0])
        tup[0] += letter(established, sbytes + dbytes, tup[1], ts)
        tup[1] = ts
        self.out.flows += 1
        self.out.timeline_lines += 1
        self.w.tick()

    def altflow(self, kind: str, src: str, ts: float, data: dict) -> None:
        uid = _uid(self.rng)
        n = self.touch(src, ts)
        doc = {"interface": "default", "starttime": round(ts, 6), "uid": uid, "saddr": src, **data,
               "ground_truth_label": "", "detailed_ground_truth_label": "", "type_": kind}
        self.w.altflows.append((uid, json.dumps(doc), "benign", f"profile_{src}", f"timewindow{n}", kind))

    def add_evidence(self, src: str, ts: float, etype: str, level: str, confidence: float,
                     description: str, victim: str | None = None) -> str:
        eid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        n = self.tw_of(ts)
        ioc = {"TI": None, "AS": None, "rDNS": None, "SNI": None, "DNS_resolution": None,
               "queries": None, "CNAME": None}
        self.evidence.setdefault((src, n), []).append({
            "evidence_type": etype, "description": description,
            "attacker": {"direction": "SRC", "ioc_type": "IP", "value": src, "profile": {"ip": src}, **ioc},
            "threat_level": level.upper(), "profile": {"ip": src},
            "timewindow": {"number": n, "start_time": "", "end_time": ""},
            "uid": [_uid(self.rng)], "timestamp": round(ts, 6), "interface": "default",
            "victim": ({"direction": "DST", "ioc_type": "IP", "value": victim, **ioc} if victim else None),
            "proto": False, "dst_port": None, "src_port": None, "method": "HEURISTIC",
            "id": eid, "confidence": confidence, "rel_id": None})
        self.out.evidence += 1
        return eid

    # -- behaviours ---------------------------------------------------------
    def browse(self, host: str, hour_start: float, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            ts = hour_start + rng.uniform(0, WIDTH - 1)
            server: Server = rng.choice(SERVERS)
            domain = rng.choice(server.domains)
            self.dns[server.ip] = domain
            self.flow(host, GATEWAY, 53, "udp", ts - 0.05, "SF", 1, 1, 40 + len(domain), 120, 0.002,
                      info={"query": domain, "answers": server.ip}, dport_name="DNS")
            self.altflow("dns", host, ts - 0.05, {"daddr": GATEWAY, "sport": 53000, "dport": 53,
                                                  "proto": "udp", "query": domain, "answers": [server.ip]})
            state = rng.choices(("SF", "S1", "RSTO", "S0"), (80, 10, 8, 2))[0]
            up, down = rng.randint(600, 4000), rng.randint(2000, 900000)
            if state == "S0":
                up, down = 0, 0
            port = 443 if rng.random() < 0.85 else 80
            info = {"server_name": domain, "trusted": "Yes", "resumed": "False", "version": "TLSv13"} \
                if port == 443 and state != "S0" else ""
            self.flow(host, server.ip, port, "tcp", ts, state, max(up // 500, 1), down // 1200,
                      up, down, rng.uniform(0.05, 30), info=info or None,
                      dport_name="HTTPS" if port == 443 else "HTTP")
        if rng.random() < 0.5:
            ts = hour_start + rng.uniform(0, WIDTH - 1)
            self.flow(host, "162.159.200.123", 123, "udp", ts, "SF", 1, 1, 48, 48, 0.02, dport_name="NTP")

    def beacon(self, hour_start: float, period: float = 300.0) -> None:
        rng = self.rng
        ts = hour_start + rng.uniform(1, 30)
        uids = []
        while ts < hour_start + WIDTH:
            self.flow(BEACON_HOST, CNC.ip, 4444, "tcp", ts, "SF", 6, 5, 412, 389, rng.uniform(0.2, 0.6),
                      label="malicious", dport_name="????")
            uids.append(ts)
            ts += period + rng.uniform(-3, 3)
        first = hour_start + 40
        ids = [
            self.add_evidence(BEACON_HOST, first, "CONNECTION_WITHOUT_DNS", "low", 0.8,
                              f"A connection without DNS resolution to IP: {CNC.ip}", CNC.ip),
            self.add_evidence(BEACON_HOST, first + 1, "UNKNOWN_PORT", "high", 0.8,
                              f"Connection to unknown destination port 4444/TCP destination IP {CNC.ip}", CNC.ip),
            self.add_evidence(BEACON_HOST, first + 1200, "COMMAND_AND_CONTROL_CHANNEL", "critical", 0.9,
                              f"C&C channel, periodic connections every {period:.0f}s to {CNC.ip}:4444/TCP "
                              f"({len(uids)} flows)", CNC.ip),
            self.add_evidence(BEACON_HOST, first + 1300, "THREAT_INTELLIGENCE_BLACKLISTED_IP", "high", 1.0,
                              f"connection to blacklisted IP: {CNC.ip} ({CNC.country}). "
                              f"Source: abuse.ch feodotracker", CNC.ip),
        ]
        self.alert(BEACON_HOST, first + 1301, ids)

    def scan(self, hour_start: float) -> None:
        rng = self.rng
        ts = hour_start + 600
        targets = [f"{LAN}{i}" for i in range(200, 240)]
        rng.shuffle(targets)
        for target in targets:
            state = "REJ" if rng.random() < 0.1 else "S0"
            self.flow(SCANNER_HOST, target, 445, "tcp", ts, state, 2, 1 if state == "REJ" else 0,
                      0, 0, 0.0, label="malicious", dport_name="SMB")
            ts += rng.uniform(0.01, 0.2)
        for port in (22, 80, 139, 443, 3389, 8080):
            self.flow(SCANNER_HOST, GATEWAY, port, "tcp", ts, "REJ", 1, 1, 0, 0, 0.0,
                      label="malicious", dport_name="????")
            ts += 0.05
        ids = [
            self.add_evidence(SCANNER_HOST, ts, "HORIZONTAL_PORT_SCAN", "high", 1.0,
                              f"Horizontal port scan to port 445/TCP. From {SCANNER_HOST} to "
                              f"{len(targets)} unique destination IPs. Total packets sent: {2 * len(targets)}."),
            self.add_evidence(SCANNER_HOST, ts + 1, "VERTICAL_PORT_SCAN", "high", 0.7,
                              f"Vertical port scan to IP {GATEWAY} from {SCANNER_HOST}. "
                              "Total 6 connections to 6 unique destination ports.", GATEWAY),
            self.add_evidence(SCANNER_HOST, ts + 2, "CONNECTION_TO_PRIVATE_IP", "info", 1.0,
                              f"Connecting to private IP: {GATEWAY} on destination port: 3389", GATEWAY),
        ]
        self.alert(SCANNER_HOST, ts + 3, ids)

    def alert(self, ip: str, ts: float, evidence_ids: list[str]) -> None:
        n = self.tw_of(ts)
        alert_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        key = f"profile_{ip}_timewindow{n}"
        self.w.p0.hset(key, "alerts", json.dumps({alert_id: json.dumps(evidence_ids)}))
        start = self.s.start + (n - 1) * WIDTH
        self.w.sql.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?,?)",
                           (alert_id, str(ts), ip, f"timewindow{n}", str(start), str(start + WIDTH), "malicious"))
        self.out.alerts += 1
        self.out.malicious.append((ip, f"timewindow{n}"))


def generate(db0: redis.Redis, db1: redis.Redis, output_dir: str, scenario: Scenario = Scenario()) -> Generated:
    """Write the scenario's analysis into ``db0`` (analysis) and ``db1`` (IP-info cache), and
    its flows into ``<output_dir>/databases/flows.sqlite``. Both Redis dbs are flushed first."""
    db0.flushdb()
    db1.flushdb()
    sqlite_path = os.path.join(output_dir, "databases", "flows.sqlite")
    writer = _Writer(db0, db1, sqlite_path)
    net = _Network(scenario, writer, output_dir)
    net.out.flows_db = sqlite_path
    rng = net.rng
    hosts = [f"{LAN}{i}" for i in range(10, 10 + scenario.hosts)] if scenario.hosts <= 200 else \
        [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(256, 256 + scenario.hosts)]
    for i, host in enumerate(hosts + [BEACON_HOST, SCANNER_HOST]):
        name = "acct-pc-07" if host == BEACON_HOST else "kali" if host == SCANNER_HOST else \
            f"{HOST_NAMES[i % len(HOST_NAMES)]}-{i:02d}"
        net.altflow("dhcp", host, scenario.start + i * 0.5, {
            "uids": [], "client_addr": host, "server_addr": GATEWAY, "host_name": name,
            "smac": f"08:00:27:{i >> 8 & 255:02x}:{i & 255:02x}:{rng.randint(0, 255):02x}",
            "requested_addr": "", "daddr": GATEWAY})
    for hour in range(scenario.hours):
        hour_start = scenario.start + hour * WIDTH
        for host in hosts:
            count = rng.randint(1, max(2 * scenario.flows_per_hour - 1, 1))
            net.browse(host, hour_start, count)
        if scenario.beacon:
            net.beacon(hour_start)
        if scenario.scanner and hour == min(1, scenario.hours - 1):
            net.scan(hour_start)
    if scenario.big_window_flows and hosts:
        big = hosts[0]
        for _ in range(scenario.big_window_flows):
            ts = scenario.start + rng.uniform(0, WIDTH - 1)
            server = rng.choice(SERVERS)
            net.flow(big, server.ip, rng.choice((443, 80, 53, 8080)), "tcp", ts,
                     rng.choice(("SF", "S0", "RSTO")), 5, 4, 900, 5000, 0.5, dport_name="HTTPS")
    _finish(net, hosts, writer)
    writer.close()
    return net.out


def _finish(net: _Network, hosts: list[str], w: _Writer) -> None:
    s, p0, p1 = net.s, w.p0, w.p1
    threat = {BEACON_HOST: "critical", SCANNER_HOST: "high"}
    for ip, first in sorted(net.first_seen.items()):
        p0.zadd("profiles", {f"profile_{ip}": first})
        fields = {"starttime": str(first), "duration": str(WIDTH), "confidence": "0.05",
                  "threat_level": "info", "max_threat_level": threat.get(ip, "info")}
        if ip.startswith(LAN) or ip in hosts:
            octets = [int(x) for x in ip.split(".")]
            fields |= {"dhcp": "true", "MAC": "08:00:27:{:02x}:{:02x}:{:02x}".format(*octets[1:]),
                       "first user-agent": json.dumps({"user_agent": USER_AGENTS[0], "os_type": "", "os_name": ""}),
                       "past_user_agents": json.dumps(list(USER_AGENTS[:2])), "user_agents_count": "2"}
        p0.hset(f"profile_{ip}", mapping=fields)
        p0.zadd(f"twsprofile_{ip}", {f"timewindow{n}": start for n, start in net.tws[ip].items()})
        net.out.profiles += 1
        net.out.timewindows += len(net.tws[ip])
        w.tick()
    for (ip, n), tuples in net.tuples.items():
        base = f"profile_{ip}_timewindow{n}:OutTuples"
        p0.hset(f"{base}:symbols", mapping={t: v[0] for t, v in tuples.items()})
        p0.zadd(f"{base}:last_flow_ts", {t: v[1] for t, v in tuples.items()})
        w.tick()
    for (ip, n), items in net.evidence.items():
        p0.hset(f"profile_{ip}_timewindow{n}_evidence", mapping={e["id"]: json.dumps(e) for e in items})
        p0.sadd(f"processed_evidence_profile_{ip}_timewindow{n}", *[e["id"] for e in items])
        p0.zadd("accumulated_threat_levels", {f"profile_{ip}_timewindow{n}": 0.0})
    p0.set("number_of_alerts", net.out.alerts)
    p0.set("number_of_evidence", net.out.evidence)
    p0.hset("analysis", mapping={
        "slips_version": "1.1.21", "input_type": "zeek_folder", "name": "demo/kalipso-office-network",
        "file_start": str(s.start), "total_flows": str(net.out.flows),
        "analysis_start": time.strftime("%Y/%m/%d %H:%M:%S"), "analysis_end": time.strftime("%Y/%m/%d %H:%M:%S"),
        "evidence_detection_threshold": "0.25", "branch": "None", "commit": "None",
        "disabled_modules": "[]", "modified_ips_in_the_last_tw": "0", "size_in_MB": "0.00",
        "output_dir": net.out.output_dir})
    p0.hset("local_network", "default", LAN + "0/24")
    for ip, domain in net.dns.items():
        p0.hset("DNSresolution", ip, json.dumps({"ts": s.start, "uid": "", "domains": [domain],
                                                 "resolved-by": [GATEWAY], "timewindows": ["timewindow1"]}))
        p0.hset("DomainsResolved", domain, json.dumps([ip]))
    for server in SERVERS + [CNC]:
        if server.ip not in net.first_seen:
            continue
        p1.hset("IPsInfo:geocountry", server.ip, server.country)
        p1.hset("IPsInfo:asn", server.ip, json.dumps({"number": server.asn, "org": server.org, "timestamp": s.start}))
        p1.hset("IPsInfo:reverse_dns", server.ip, server.rdns)
        if server.domains:
            p1.hset("IPsInfo:DNS_resolution", server.ip, json.dumps(list(server.domains)))
            p1.hset("IPsInfo:SNI", server.ip, json.dumps([{"server_name": server.domains[0], "dport": 443}]))
        p1.hset("IPsInfo:score", server.ip, "1" if server is CNC else "0")
        p1.hset("IPsInfo:confidence", server.ip, "1.0" if server is CNC else "0.05")
    p1.hset("IPsInfo:VirusTotal", CNC.ip, json.dumps(
        {"URL": 0.62, "down_file": 0.35, "ref_file": 0.2, "com_file": 0.41, "timestamp": s.start}))
    p1.hset("IPsInfo:threatintelligence", CNC.ip, json.dumps(
        {"description": "Emotet C&C server", "threat_level": "high", "source": "abuse.ch feodotracker"}))
    for ip in (BEACON_HOST, SCANNER_HOST):
        p1.hset("IPsInfo:score", ip, "1")
        p1.hset("IPsInfo:confidence", ip, "0.9")
