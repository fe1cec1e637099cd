"""The living demo in classic Slips' layout (1.0.x), for the generation Kalipso still reads.

Same network, same events and order as ``LiveWriter``; only the storage differs (see
../shared/fixtures/SCHEMA-classic-1.0.1.md):

* ``profiles`` is a set; time windows are numbered per profile from its first flow
  (``timewindow1``) and every window in between is listed; old windows are never deleted;
* the port/IP tables (``DstPortsClientTCPEstablished``, ``DstIPsClientUDPNot Established``,
  ``SrcPortsClient…``, ``DstIPs``) and ``OutTuples`` (``{tuple: [letters, [t1, t2]]}``) are JSON
  fields of the window hash ``profile_<ip>_timewindow<N>``, rewritten as flows arrive; raw flows go
  to ``profile_<ip>_timewindow<N>_flows``; there is no SQLite;
* evidence is the JSON field ``Evidence`` of the window hash, again in ``evidenceprofile_<ip>``,
  and an IDEA0 document in the set ``Evidence``;
* alerts: field ``alerts`` of the window hash (``{profile_<ip>_timewindow<N>_<last evidence id>:
  JSON list}``) and the hash ``alerts`` (``{profile_<ip>: {timewindow<N>: {id: [evidence ids]}}}``);
* IP info is one JSON object per IP in the cache hash ``IPsInfo``; the host name lives in the
  JSON of the profile's ``MAC`` field.

    writer = ClassicLiveWriter(db0, db1, scenario=LiveScenario(width=120))
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

from kalipso.demo.generator import LAN, USER_AGENTS
from kalipso.demo.live import CNC_TI, CNC_VT, LiveScenario, LiveWriter, _Flow
from kalipso.demo.world import CNC, Server

CLASSIC_VERSION = "1.0.1"
# current evidence type -> (classic evidence_type, IDEA category)
CLASSIC_TYPES = {
    "CONNECTION_WITHOUT_DNS": ("ConnectionWithoutDNS", "Anomaly.Connection"),
    "UNKNOWN_PORT": ("UnknownPort", "Anomaly.Connection"),
    "COMMAND_AND_CONTROL_CHANNEL": ("Command-and-Control-channel", "Intrusion.Botnet"),
    "THREAT_INTELLIGENCE_BLACKLISTED_IP": ("ThreatIntelligenceBlacklistIP", "Anomaly.Traffic"),
    "VERTICAL_PORT_SCAN": ("VerticalPortscan", "Recon.Scanning"),
    "HORIZONTAL_PORT_SCAN": ("HorizontalPortscan", "Recon.Scanning"),
    "CONNECTION_TO_PRIVATE_IP": ("ConnectionToPrivateIP", "Recon.Scanning"),
}


def _stime(ts: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1e6) % 1000000:06d}"


class ClassicLiveWriter(LiveWriter):
    """``LiveWriter`` storing the classic (1.0.x) layout. Old windows are kept, as Slips 1.0 did."""

    def __init__(self, db0: redis.Redis, db1: redis.Redis | None = None, output_dir: str | None = None,
                 scenario: LiveScenario | None = None, clock: Callable[[], float] = time.time,
                 on_alert: Callable[[str, str, float], None] | None = None) -> None:
        scenario = scenario or LiveScenario()
        if scenario.forget_old_windows:
            from dataclasses import replace
            scenario = replace(scenario, forget_old_windows=False)
        super().__init__(db0, db1, None, scenario, clock, on_alert)  # classic Slips had no SQLite
        self.output_dir = output_dir
        self._first: dict[str, float] = {}
        self._tables: dict[tuple[str, int], dict[str, dict]] = {}
        self._dirty: set[tuple[str, int, str]] = set()
        self._evidence_docs: dict[tuple[str, int], dict[str, str]] = {}
        self._profile_evidence: dict[str, dict[str, str]] = {}
        self._classic_alerts: dict[str, dict[str, dict[str, list[str]]]] = {}
        self._ip_info: dict[str, dict] = {}

    # numbering per profile from its first flow, every window in between listed
    def _number(self, ip: str, ts: float) -> int:
        first = self._first.setdefault(ip, ts)
        return max(int((ts - first) // self.s.width) + 1, 1)

    def _window_start(self, ip: str, n: int) -> float:
        return self._first[ip] + (n - 1) * self.s.width

    def _profile(self, ip: str, ts: float) -> int:
        n = super()._profile(ip, ts)
        missing = [k for k in range(1, n) if k not in self._tws[ip]]
        if missing:
            self._tws[ip].update(missing)
            self._p().zadd(f"twsprofile_{ip}", {f"timewindow{k}": self._window_start(ip, k) for k in missing})
            self.stats.timewindows += len(missing)
        return n

    def advance(self, until: float) -> None:
        super().advance(until)
        if self._dirty:  # the tables changed by this batch, each written once
            b = self._batch()
            for ip, n, name in sorted(self._dirty):
                self._p().hset(f"profile_{ip}_timewindow{n}", name, json.dumps(self._tables[(ip, n)][name]))
            self._dirty.clear()
            b.flush()

    # ------------------------------------------------------------------ storage
    def _store_start(self) -> None:
        p = self._p
        p().set("slips_start_time", repr(self.clock()))
        p().hset("analysis", mapping={
            "slips_version": CLASSIC_VERSION, "name": "demo/kalipso-live-office", "input_type": "interface",
            "analysis_start": time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(self.clock())) + ".000000",
            "output_dir": self.output_dir or "", "disabled_modules": "[]"})
        p().set("mode", "interactive")
        p().set("local_network", LAN + "0/24")

    def _store_profile(self, ip: str, ts: float) -> None:
        self._p().sadd("profiles", f"profile_{ip}")
        self._p().hset(f"profile_{ip}", mapping={"starttime": str(ts), "duration": str(self.s.width),
                                                 "confidence": "0.05", "threat_level": "info"})

    def _table(self, f: _Flow, name: str) -> dict:
        self._dirty.add((f.src, f.n, name))
        return self._tables.setdefault((f.src, f.n), {}).setdefault(name, {})

    def _store_flow(self, f: _Flow) -> None:
        """add_tuple, add_ips, add_port, update_times_contacted and the raw flow
        (``_profile_flow.py``), all in the window hash but the flow."""
        state = "Established" if f.established else "Not Established"
        proto = f.proto.upper()
        pkts, total = f.spkts + f.dpkts, f.sbytes + f.dbytes
        tuples = self._table(f, "OutTuples")
        tuples[f.tuple_id] = [f.letters, [f.before, f.previous or False]]
        contacted = self._table(f, "DstIPs")
        contacted[f.dst] = contacted.get(f.dst, 0) + 1
        ips = self._table(f, f"DstIPsClient{proto}{state}")
        row = ips.setdefault(f.dst, {"totalflows": 0, "totalpkt": 0, "totalbytes": 0,
                                     "stime": _stime(f.ts).replace("/", "-"), "uid": [], "dstports": {}})
        row["totalflows"] += 1
        row["totalpkt"] += pkts
        row["totalbytes"] += total
        row["uid"].append(f.uid)
        row["dstports"][str(f.dport)] = row["dstports"].get(str(f.dport), 0) + f.spkts
        for name, port in ((f"DstPortsClient{proto}{state}", f.dport), (f"SrcPortsClient{proto}{state}", f.sport)):
            ports = self._table(f, name)
            row = ports.setdefault(str(port), {"totalflows": 0, "totalpkt": 0, "totalbytes": 0, "dstips": {}})
            row["totalflows"] += 1
            row["totalpkt"] += pkts
            row["totalbytes"] += total
            per_ip = row["dstips"].setdefault(f.dst, {"pkts": 0, "spkts": 0, "stime": _stime(f.ts).replace("/", "-"),
                                                      "uid": []})
            per_ip["pkts"] += pkts
            per_ip["spkts"] += f.spkts
            per_ip["uid"].append(f.uid)
        flow = {"ts": f.ts, "dur": f.dur, "saddr": f.src, "sport": str(f.sport), "daddr": f.dst,
                "dport": str(f.dport), "proto": f.proto, "origstate": f.state, "state": state,
                "pkts": float(pkts), "allbytes": float(total), "spkts": float(f.spkts), "sbytes": float(f.sbytes),
                "appproto": f.dport_name.lower() or "-", "smac": "", "dmac": "", "label": "normal",
                "flow_type": "conn", "module_labels": {}}
        self._p().hset(self._key(f.src, f.n, f"profile_{f.src}_timewindow{f.n}_flows"), f.uid, json.dumps(flow))

    def _store_ip_info(self, server: Server, ts: float) -> None:
        info = self._ip_info.setdefault(server.ip, {})
        info.update({"geocountry": server.country, "asn": {"asnorg": server.org, "timestamp": ts},
                     "reverse_dns": server.rdns})
        if server.domains:
            info["SNI"] = [{"server_name": server.domains[0], "dport": 443}]
        if server is CNC:
            info["threatintelligence"] = CNC_TI
            info["VirusTotal"] = {**CNC_VT, "timestamp": ts}
        self._p(cache=True).hset("IPsInfo", server.ip, json.dumps(info))

    def _store_evidence(self, src: str, n: int, eid: str, ts: float, etype: str, level: str,
                        confidence: float, description: str, victim: str | None) -> None:
        """setEvidence (database.py:1332-1466): three copies of it."""
        kind, category = CLASSIC_TYPES.get(etype, (etype.title().replace("_", ""), "Anomaly.Traffic"))
        doc = {"profileid": f"profile_{src}", "twid": f"timewindow{n}", "attacker_direction": "srcip",
               "attacker": src, "evidence_type": kind, "description": description, "stime": _stime(ts),
               "uid": self._uid(), "confidence": confidence, "threat_level": level.lower(),
               "category": category, "ID": eid}
        docs = self._evidence_docs.setdefault((src, n), {})
        docs[eid] = json.dumps(doc)
        value = json.dumps(docs)
        self._p().hset(self._key(src, n, f"profile_{src}_timewindow{n}"), "Evidence", value)
        self._profile_evidence.setdefault(src, {})[f"timewindow{n}"] = value
        self._p().hset(f"evidenceprofile_{src}", f"timewindow{n}", value)
        idea = {"Format": "IDEA0", "ID": eid, "DetectTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts)),
                "Category": [category], "Confidence": confidence, "Source": [{"IP4": [src]}],
                "Attach": [{"Content": description, "ContentType": "text/plain"}]}
        self._p().sadd("Evidence", json.dumps(idea))
        self._p().sadd("processed_evidence", eid)

    def _store_threat(self, src: str, n: int, level: str, top: str, threat: float) -> None:
        self._p().hset(f"profile_{src}", "threat_level", level)

    def _store_alert(self, ip: str, n: int, ts: float, evidence_ids: list[str]) -> str:
        """set_evidence_causing_alert (database.py:1077-1144)."""
        alert_id = evidence_ids[-1] if evidence_ids else self._uuid()
        alerts = self._alerts.setdefault((ip, n), {})
        alerts[f"profile_{ip}_timewindow{n}_{alert_id}"] = json.dumps(evidence_ids)
        self._p().hset(self._key(ip, n, f"profile_{ip}_timewindow{n}"), "alerts", json.dumps(alerts))
        per_profile = self._classic_alerts.setdefault(ip, {})
        per_profile.setdefault(f"timewindow{n}", {})[alert_id] = list(evidence_ids)
        self._p().hset("alerts", f"profile_{ip}", json.dumps(per_profile))
        if self.db1 is not None:
            info = self._ip_info.setdefault(ip, {})
            info.update({"score": 1, "confidence": "confidence: 0.9"})
            self._p(cache=True).hset("IPsInfo", ip, json.dumps(info))
        return alert_id

    def _store_host(self, ip: str, name: str, mac: str, ts: float) -> None:
        self._profile(ip, ts)
        self._p().hset(f"profile_{ip}", mapping={
            "dhcp": "true", "MAC": json.dumps({"MAC": mac, "host_name": name, "Vendor": "Unknown"}),
            "User-agent": json.dumps({"user_agent": self.rng.choice(USER_AGENTS), "os_type": "", "os_name": ""})})
