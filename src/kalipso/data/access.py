"""SlipsData: the one API through which the UI and every view read a Slips database.

The base class holds what all Slips generations share (profiles, time windows, timelines,
alerts); the generation-specific subclasses in ``adapters.py`` fill in the rest. Every
public method only reads, batches its round trips in pipelines and pages long lists.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis

from kalipso.data import parse, plumbing
from kalipso.data.connect import ConnectionSettings
from kalipso.data.errors import UnknownProfile, UnknownTimeWindow
from kalipso.data.flows import FlowsDB, locate
from kalipso.data.models import (
    Activity,
    Aggregates,
    Alert,
    AnalysisInfo,
    Evidence,
    HostInfo,
    IPInfo,
    OutTuple,
    Page,
    Profile,
    TimeWindow,
    TimeWindowCounts,
    threat_rank,
)
from kalipso.logfile import log

T = TypeVar("T")
DEFAULT_WIDTH = 3600.0
# A count is a command on a pipeline (or the client) and what its answer means, so that
# counts() reads one window and counts_many() many windows in a few round trips.
Read = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _width(duration: Any) -> float:
    """A profile's time-window width in seconds (Slips' ``duration``), or one hour."""
    width = parse.to_float(duration)
    return width if width is not None and 0 < width < 1e12 else DEFAULT_WIDTH


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Turn Redis' errors into the data layer's, the ones the UI expects: ConnectionLost,
    SlowRedis, and UnexpectedData naming the key that holds a type Slips does not write.

    Also wraps module functions whose first argument is a SlipsData (``data/tree.py``)."""

    @functools.wraps(method)
    def wrapper(self: SlipsData, *args: Any, **kwargs: Any) -> T:
        def diagnose() -> str | None:
            find = getattr(self, "_wrong_type_key", None)
            return find(method.__name__, args, kwargs) if find else None

        with plumbing.translated(getattr(self, "label", "?"), diagnose):
            return method(self, *args, **kwargs)

    return wrapper


class SlipsData:
    """Read access to one Slips analysis (a Redis db, its IP-info cache, its flows file)."""

    schema = "unknown"

    def __init__(self, client: redis.Redis, cache: redis.Redis | None,
                 settings: ConnectionSettings, version: str | None,
                 flows_db: str | None = None) -> None:
        self.round_trips = 0  # requests sent to Redis (a pipeline counts once), for benchmarks
        self._aggregate_cache: dict[tuple[str, str], tuple[float, Aggregates]] = {}
        self.r = self._counted(client)
        self.cache = self._counted(cache) if cache is not None else None
        self.settings = settings
        self.label = settings.describe()
        self._flows_override = flows_db
        self._flows: FlowsDB | None = None
        self._flows_reason: str | None = None
        self._flows_located = False
        self._flows_lock = threading.Lock()
        self.analysis = self._read_analysis(version)

    # ----------------------------------------------------------------- plumbing
    def _counted(self, client: redis.Redis) -> redis.Redis:
        def bump() -> None:
            self.round_trips += 1

        return plumbing.count_round_trips(client, bump)

    def _batched(self, commands: Iterable[Callable[[Any], Any]]) -> list[Any]:
        """Run commands (each fn(pipeline)) in pipelines of plumbing.BATCH; errors become None."""
        return plumbing.batched(self.r, commands)

    def _wrong_type_key(self, method: str, args: tuple, kwargs: dict) -> str | None:
        return plumbing.wrong_type_key(self.r, method, args, kwargs)

    def _absent_on_wrong_type(self, key: str, read: Callable[[], T], default: T) -> T:
        return plumbing.absent_on_wrong_type(key, read, default)

    def _read_analysis(self, version: str | None) -> AnalysisInfo:
        with plumbing.translated(self.label):
            raw = self._absent_on_wrong_type("analysis", lambda: self.r.hgetall("analysis"), {})
        h = {parse.decode(k): parse.decode(v) for k, v in raw.items()}
        return AnalysisInfo(
            schema=self.schema, slips_version=version or h.get("slips_version"),
            name=h.get("name"), input_type=h.get("input_type"), output_dir=h.get("output_dir"),
            analysis_start=h.get("analysis_start"), analysis_end=h.get("analysis_end"),
            total_flows=parse.to_int(h.get("total_flows")),
            file_start=parse.to_float(h.get("file_start")),
        )

    @property
    def flows_db(self) -> FlowsDB | None:
        """Slips' SQLite flows database, when it can be found (None otherwise)."""
        with self._flows_lock:  # the UI's two loader threads may ask at the same moment
            if not self._flows_located:
                path, self._flows_reason = locate(self.analysis.output_dir, self._flows_override)
                self._flows = FlowsDB(path) if path else None
                self._flows_located = True
        return self._flows

    @property
    def flows_unavailable_reason(self) -> str | None:
        return None if self.flows_db else self._flows_reason

    @guarded
    def ping(self) -> bool:
        return bool(self.r.ping())

    def close(self) -> None:
        for client in (self.r, self.cache):
            if client is not None:
                client.close()
        if self._flows:
            self._flows.close()

    # ------------------------------------------------------------ tree: profiles
    def _profile_ips(self) -> list[str]:
        kind = parse.decode(self.r.type("profiles"))
        if kind == "zset":
            members = self.r.zrange("profiles", 0, -1)
        elif kind == "set":
            members = self.r.smembers("profiles")
        else:
            if kind != "none":
                log.warning("profiles holds %s, not a set: read as absent", plumbing.type_name(kind))
            members = []
        ips = (parse.decode(m) for m in members)
        return sorted({m[len("profile_"):] for m in ips if m.startswith("profile_")})

    def _host_names(self, ips: list[str], hashes: list[list[Any]]) -> Mapping[str, str]:
        """Host names by IP (generation-specific: classic keeps them in the MAC JSON)."""
        return self.flows_db.host_names() if self.flows_db else {}

    @guarded
    def profiles(self, timewindows: bool = True) -> list[Profile]:
        """Every profile, sorted by IP string, with the names of its malicious time windows.

        With ``timewindows=False`` each profile carries only the count of its windows (one
        ZCARD) instead of the windows themselves: the tree of a database with 100,000 windows
        then costs a fraction; ``timewindows(ip)`` reads one profile's windows when needed.
        """
        return self._build_profiles(self._profile_ips(), with_windows=timewindows)

    @guarded
    def timewindows(self, ip: str) -> tuple[TimeWindow, ...]:
        """The time windows of one profile, oldest first, with their malicious marks."""
        return self._build_profiles([ip], with_windows=True)[0].timewindows

    @guarded
    def profile(self, ip: str) -> Profile:
        """One profile with its time windows; raises UnknownProfile."""
        kind = parse.decode(self.r.type("profiles"))
        in_set = (self.r.zscore("profiles", f"profile_{ip}") is not None if kind == "zset"
                  else self.r.sismember("profiles", f"profile_{ip}") if kind == "set" else False)
        if not in_set and not self.r.exists(f"twsprofile_{ip}"):
            raise UnknownProfile(f"no profile {ip} in this Slips database")
        return self._build_profiles([ip])[0]

    def timewindow(self, ip: str, name: str) -> TimeWindow:
        """One time window of a profile; raises UnknownProfile / UnknownTimeWindow."""
        tw = self.profile(ip).timewindow(name)
        if tw is None:
            raise UnknownTimeWindow(f"profile {ip} has no time window {name}")
        return tw

    def _build_profiles(self, ips: list[str], with_windows: bool = True) -> list[Profile]:
        fields = ("threat_level", "max_threat_level", "duration", "MAC", "host_name")
        results = self._batched(
            cmd for ip in ips for cmd in (
                lambda p, ip=ip: p.hmget(f"profile_{ip}", fields),
                (lambda p, ip=ip: p.zrange(f"twsprofile_{ip}", 0, -1, withscores=True)) if with_windows
                else (lambda p, ip=ip: p.zcard(f"twsprofile_{ip}")),
            ))
        hashes = [r or [None] * len(fields) for r in results[0::2]]
        blocked = self._blocked()
        names = self._host_names(ips, hashes)
        if not with_windows:
            marked = self._malicious_by_scan(blocked)
            return [Profile(ip=ip, host_name=names.get(ip), threat_level=parse.decode(h[1] or h[0]) or None,
                            timewindow_count=int(n or 0), malicious_timewindows=frozenset(marked.get(ip, ())))
                    for ip, h, n in zip(ips, hashes, results[1::2], strict=False)]
        tw_lists = [r or [] for r in results[1::2]]
        pairs = [(ip, parse.decode(name), score) for ip, tws in zip(ips, tw_lists, strict=False) for name, score in tws]
        alert_values = self._alert_fields(pairs)
        by_ip: dict[str, list[TimeWindow]] = {ip: [] for ip in ips}
        widths = {ip: _width(h[2]) for ip, h in zip(ips, hashes, strict=False)}
        for (ip, tw, score), alerts in zip(pairs, alert_values, strict=False):
            start = parse.to_float(score)
            n_alerts = len(parse.alert_ids(alerts)) if alerts else 0
            is_blocked = tw in blocked.get(ip, ())
            by_ip[ip].append(TimeWindow(
                profile_ip=ip, name=tw, number=parse.timewindow_number(tw) or 0, start=start,
                end=parse.to_float(start + widths[ip]) if start is not None else None,
                malicious=n_alerts > 0 or is_blocked, blocked=is_blocked, alert_count=n_alerts))
        profiles = []
        for ip, h in zip(ips, hashes, strict=False):
            windows = tuple(sorted(by_ip[ip], key=lambda t: (t.start is None, t.start or 0, t.number)))
            profiles.append(Profile(
                ip=ip, host_name=names.get(ip), threat_level=parse.decode(h[1] or h[0]) or None,
                timewindows=windows, timewindow_count=len(windows),
                malicious_timewindows=frozenset(t.name for t in windows if t.malicious)))
        return profiles

    _TW_HASH = re.compile(r"^profile_(.+)_(timewindow-?\d+)$")

    def _timewindow_hashes(self) -> list[str]:
        """Every ``profile_<ip>_timewindow<N>`` hash, from one server-side SCAN.

        Few time windows have such a hash (it holds their ``alerts``); the glob's last [0-9]
        leaves out ``_evidence``, ``_timeline`` and ``:OutTuples:*``."""
        return [parse.decode(k) for k in self.r.scan_iter(
            match="profile_*_timewindow*[0-9]", count=5000, _type="hash")]

    def _malicious_by_scan(self, blocked: dict[str, set[str]]) -> dict[str, set[str]]:
        """ip -> names of its time windows with an alert (or blocked), from one SCAN."""
        keys = self._timewindow_hashes()
        values = self._batched((lambda p, k=k: p.hget(k, "alerts")) for k in keys)
        marked: dict[str, set[str]] = {ip: set(tws) for ip, tws in blocked.items()}
        for key, value in zip(keys, values, strict=False):
            match = self._TW_HASH.match(key)
            if match and value and parse.alert_ids(value):
                marked.setdefault(match.group(1), set()).add(match.group(2))
        return marked

    def _alert_fields(self, pairs: list[tuple[str, str, Any]]) -> list[Any]:
        """The ``alerts`` field of each (ip, tw) time-window hash, or None.

        For many windows, finding the few hashes that exist with one SCAN costs far less than
        one HGET per window.
        """
        if len(pairs) <= 200:
            return self._batched(
                (lambda p, ip=ip, tw=tw: p.hget(f"profile_{ip}_{tw}", "alerts")) for ip, tw, _ in pairs)
        existing = set(self._timewindow_hashes())
        wanted = [f"profile_{ip}_{tw}" for ip, tw, _ in pairs]
        present = [k for k in wanted if k in existing]
        values = dict(zip(present, self._batched(
            (lambda p, k=k: p.hget(k, "alerts")) for k in present), strict=True))
        return [values.get(k) for k in wanted]

    def _blocked(self) -> dict[str, set[str]]:
        blocked: dict[str, set[str]] = {}
        raw = self._absent_on_wrong_type("BlockedProfTW", lambda: self.r.hgetall("BlockedProfTW"), {})
        for key, value in raw.items():
            tws = parse.loads(value)
            if isinstance(tws, list):
                blocked[parse.decode(key).removeprefix("profile_")] = {parse.text(t) for t in tws}
        return blocked

    # --------------------------------------------------------------- timeline
    @guarded
    def timeline(self, ip: str, tw: str, offset: int = 0, limit: int = 100) -> Page:
        """A page of the timeline, oldest first: ``limit`` entries from ``offset``."""
        key = f"profile_{ip}_{tw}_timeline"
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(key)
        if limit > 0:
            pipe.zrange(key, max(offset, 0), max(offset, 0) + limit - 1, withscores=True)
        results = pipe.execute()
        members = results[1] if limit > 0 else []
        items = tuple(parse.timeline_entry(m, s) for m, s in members)
        return Page(items=items, offset=max(offset, 0), total=int(results[0] or 0))

    # --------------------------------------------------------------- evidence
    def _evidence_raw(self, ip: str, tw: str) -> list[tuple[Any, Any]]:
        return list(self.r.hgetall(f"profile_{ip}_{tw}_evidence").items())

    def _whitelisted(self, ids: list[str]) -> set[str]:
        hidden: set[str] = set()
        for start in range(0, len(ids), 10000):
            chunk = ids[start:start + 10000]
            flags = self._absent_on_wrong_type(
                "whitelisted_evidence", lambda chunk=chunk: self.r.smismember("whitelisted_evidence", chunk), [])
            hidden.update(i for i, flag in zip(chunk, flags, strict=False) if flag)
        return hidden

    @guarded
    def evidence(self, ip: str, tw: str) -> list[Evidence]:
        """Evidence of a time window without whitelisted ones, highest threat level first."""
        items = [parse.evidence(k, v) for k, v in self._evidence_raw(ip, tw)]
        hidden = self._whitelisted([e.id for e in items])
        items = [e for e in items if e.id not in hidden]
        items.sort(key=lambda e: (-threat_rank(e.threat_level), -(e.confidence or 0), e.ts or 0))
        return items

    @guarded
    def alerts(self, ip: str, tw: str) -> list[Alert]:
        """Alerts of a time window (alert id -> the evidence ids that caused it)."""
        ids = parse.alert_ids(self.r.hget(f"profile_{ip}_{tw}", "alerts"))
        times = self.flows_db.alert_times() if self.flows_db and ids else {}
        return [Alert(id=a, profile_ip=ip, timewindow=tw, evidence_ids=e, time=times.get(a))
                for a, e in ids.items()]

    # -------------------------------------------------------- tuples, IP info
    def _out_tuples(self, ip: str, tw: str, direction: str) -> list[OutTuple]:
        raise NotImplementedError

    @guarded
    def out_tuples(self, ip: str, tw: str) -> list[OutTuple]:
        """Out tuples (IP, port, protocol) of a time window with their behavioural letters."""
        return sorted(self._out_tuples(ip, tw, "Out"), key=lambda t: t.tuple_id)

    @guarded
    def in_tuples(self, ip: str, tw: str) -> list[OutTuple]:
        """In tuples (only written by Slips with analysis_direction 'all')."""
        return sorted(self._out_tuples(ip, tw, "In"), key=lambda t: t.tuple_id)

    def _ip_info_raw(self, ips: list[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    @guarded
    def ip_infos(self, ips: list[str]) -> dict[str, IPInfo]:
        """IP info of several IPs in a few round trips. An unreachable cache gives empty info."""
        ips = list(dict.fromkeys(ips))
        try:
            raw = self._ip_info_raw(ips) if self.cache is not None else {}
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            raw = {}
        results = self._batched(
            cmd for ip in ips for cmd in (
                lambda p, ip=ip: p.hget("DNSresolution", ip),
                lambda p, ip=ip: p.hmget(f"profile_{ip}", ("max_threat_level", "threat_level")),
            ))
        infos = {}
        for i, ip in enumerate(ips):
            data = dict(raw.get(ip, {}))
            resolution = parse.loads(results[2 * i])
            if isinstance(resolution, dict) and not data.get("DNS_resolution"):
                data["DNS_resolution"] = resolution.get("domains")
            levels = results[2 * i + 1] or [None, None]
            level = parse.decode(levels[0] or levels[1]) or None
            infos[ip] = parse.ip_info(ip, data, threat_level=level)
        return infos

    def ip_info(self, ip: str) -> IPInfo:
        """IP info of one IP (ASN, country, reverse DNS, SNI, domains, VirusTotal, TI, score)."""
        return self.ip_infos([ip])[ip]

    @guarded
    def host_info(self, ip: str) -> HostInfo:
        """Host name, MAC and user agents of a profile."""
        raw = self._absent_on_wrong_type(f"profile_{ip}", lambda: self.r.hgetall(f"profile_{ip}"), {})
        h = {parse.decode(k): v for k, v in raw.items()}
        mac_field = parse.loads(h.get("MAC"))
        mac = parse.text(mac_field.get("MAC")) if isinstance(mac_field, dict) else parse.decode(h.get("MAC"))
        vendor = parse.text(mac_field.get("Vendor")) if isinstance(mac_field, dict) else ""
        agents = parse.loads(h.get("past_user_agents"))
        agents = [parse.text(a) for a in agents] if isinstance(agents, list) else []
        first = parse.loads(h.get("first user-agent") or h.get("User-agent"))
        if isinstance(first, dict) and first.get("user_agent") and parse.text(first["user_agent"]) not in agents:
            agents.insert(0, parse.text(first["user_agent"]))
        names = self._host_names([ip], [[None, None, None, h.get("MAC"), h.get("host_name")]])
        return HostInfo(ip=ip, host_name=names.get(ip), mac=mac or None,
                        mac_vendor=parse.decode(h.get("MAC_vendor")) or vendor or None,
                        user_agents=tuple(agents),
                        threat_level=parse.decode(h.get("max_threat_level") or h.get("threat_level")) or None)

    # -------------------------------------------------------------- aggregates
    def _aggregates(self, ip: str, tw: str) -> Aggregates:
        raise NotImplementedError

    AGGREGATE_CACHE_SECONDS = 30.0

    @guarded
    def aggregates(self, ip: str, tw: str) -> Aggregates:
        """The five port/IP tables (E C B P N) of a time window, or why they are unavailable.

        Rebuilding them from a large flows file takes a while (about 1.5 s for 100,000 flows),
        and five views plus the map read the same tables: results are kept for 30 seconds.
        """
        now = time.monotonic()
        hit = self._aggregate_cache.get((ip, tw))
        if hit and now - hit[0] < self.AGGREGATE_CACHE_SECONDS:
            return hit[1]
        result = self._aggregates(ip, tw)
        if len(self._aggregate_cache) >= 8:
            self._aggregate_cache.pop(next(iter(self._aggregate_cache)))
        self._aggregate_cache[(ip, tw)] = (now, result)
        return result

    # ------------------------------------------------------- activity over time
    @guarded
    def activity(self, ip: str, tw: TimeWindow, buckets: int = 60) -> Activity:
        """Flows per bucket of a time window (one ZCOUNT each), and bytes per bucket from the
        flows file, or from the timeline when it is short enough to read whole."""
        start = tw.start or 0.0
        span = (tw.end or start + DEFAULT_WIDTH) - start
        width = (span if span > 0 else DEFAULT_WIDTH) / max(buckets, 1)
        key = f"profile_{ip}_{tw.name}_timeline"
        counts = self._batched(
            (lambda p, i=i: p.zcount(key, start + i * width, f"({start + (i + 1) * width}"))
            for i in range(buckets))
        flows = tuple(int(c or 0) for c in counts)
        sums = [0] * buckets
        source = None
        if self.flows_db is not None:
            try:
                for ts, nbytes in self.flows_db.flow_times(ip, tw.name):
                    sums[min(max(int((ts - start) // width), 0), buckets - 1)] += nbytes
                source = "sqlite"
            except (sqlite3.Error, OverflowError, ValueError) as exc:  # not a database, odd numbers
                log.warning("bytes per bucket from %s failed: %s", self.flows_db.path, plumbing.first_line(exc))
                sums = [0] * buckets
        if source is None and sum(flows) <= 20000:
            for entry in self.timeline(ip, tw.name, 0, sum(flows)).items:
                if entry.ts is None:  # a score Slips could not have written (+-inf)
                    continue
                total = parse.to_int(entry.tot) or 0
                sums[min(max(int((entry.ts - start) // width), 0), buckets - 1)] += total
            source = "timeline"
        return Activity(start, width, flows, tuple(sums) if source else None, source)

    @guarded
    def evidence_counts(self, ip: str, timewindows: list[str]) -> dict[str, int]:
        """Number of evidence (whitelisted ones included) per time window of a profile."""
        return {tw: len(self._evidence_ids(ip, tw)) for tw in timewindows}

    @guarded
    def destinations(self, ip: str, tw: str) -> dict[str, int]:
        """Destination IPs of a time window with their number of flows.

        From the dst-IP table where it exists; otherwise from the out tuples (one per tuple)."""
        agg = self.aggregates(ip, tw)
        result: dict[str, int] = {}
        if agg.available and agg.table("dst_ips_client"):
            for row in agg.table("dst_ips_client"):
                result[row.key] = result.get(row.key, 0) + (row.flows or 0)
            return result
        for t in self._out_tuples(ip, tw, "Out"):
            # each flow of a tuple adds one behavioural letter (the symbols between are gaps)
            result[t.daddr] = result.get(t.daddr, 0) + max(sum(c.isalnum() for c in t.letters), 1)
        return result

    # ------------------------------------------------------------------ counts
    def _evidence_ids_read(self, ip: str, tw: str) -> Read:
        key = f"profile_{ip}_{tw}_evidence"
        return (lambda p: p.hkeys(key)), (lambda keys: [parse.decode(k) for k in keys or []])

    def _out_count_read(self, ip: str, tw: str) -> Read:
        key = f"profile_{ip}_{tw}"  # classic and middle: JSON field OutTuples
        return (lambda p: p.hget(key, "OutTuples")), (lambda value: len(parse.out_tuples_json(value)))

    def _count_reads(self, ip: str, tw: str) -> list[Read]:
        timeline, window = f"profile_{ip}_{tw}_timeline", f"profile_{ip}_{tw}"
        return [((lambda p: p.zcard(timeline)), lambda n: int(n or 0)),
                self._evidence_ids_read(ip, tw),
                ((lambda p: p.hget(window, "alerts")), lambda value: len(parse.alert_ids(value))),
                self._out_count_read(ip, tw)]

    def _evidence_ids(self, ip: str, tw: str) -> list[str]:
        command, meaning = self._evidence_ids_read(ip, tw)
        return meaning(command(self.r))

    @guarded
    def counts(self, ip: str, tw: str) -> TimeWindowCounts:
        """How many timeline lines, evidence (not whitelisted), alerts and out tuples."""
        timeline, ids, alerts, out_tuples = (meaning(command(self.r))
                                             for command, meaning in self._count_reads(ip, tw))
        return TimeWindowCounts(timeline=timeline, evidence=len(ids) - len(self._whitelisted(ids)),
                                alerts=alerts, out_tuples=out_tuples)

    @guarded
    def counts_many(self, windows: list[tuple[str, str]]) -> dict[tuple[str, str], TimeWindowCounts | None]:
        """counts() of many (ip, window) pairs in a few round trips (the export summary).

        None for a window whose keys could not be read: counts() of it raises the reason."""
        reads = [read for ip, tw in windows for read in self._count_reads(ip, tw)]
        answers = plumbing.batched(self.r, (command for command, _ in reads), keep_errors=True)
        values = [None if isinstance(a, Exception) else meaning(a)
                  for (_, meaning), a in zip(reads, answers, strict=True)]
        hidden = self._whitelisted([i for n in range(len(windows)) for i in values[4 * n + 1] or ()])
        result: dict[tuple[str, str], TimeWindowCounts | None] = {}
        for n, window in enumerate(windows):
            timeline, ids, alerts, out_tuples = values[4 * n:4 * n + 4]
            failed = any(isinstance(a, Exception) for a in answers[4 * n:4 * n + 4])
            result[window] = None if failed else TimeWindowCounts(
                timeline=timeline, evidence=sum(i not in hidden for i in ids), alerts=alerts,
                out_tuples=out_tuples)
        return result
