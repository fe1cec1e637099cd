"""Slips' SQLite flows database, read-only.

Current Slips (1.1.17+) no longer stores the port/IP tables in Redis; they are rebuilt here
from the ``flows`` table with Slips' own Established rule. The file also carries DHCP host
names (``altflows``) and the complete alert list (``alerts``).
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, TypeVar

from kalipso.data.hostnames import HostNames
from kalipso.data.models import AGGREGATE_NAMES, FlowAggregate
from kalipso.data.parse import established, loads, merge_aggregates, text

# 1.1.17+ keep the file under databases/; 1.1.5-1.1.16 directly in the output folder.
CANDIDATES = ("databases/flows.sqlite", "flows.sqlite")

# the fields of a flow that the five tables need, as one JSON array (one parse of the flow);
# a missing field is null, as json_extract gives NULL for it
_FIELDS = "json_extract(flow, '$.daddr', '$.sport', '$.dport', '$.proto', '$.state', '$.pkts', '$.bytes')"
_NULLS = "'[null,null,null,null,null,null,null]'"  # a NULL flow: a row of NULLs, as in the SQL query
T = TypeVar("T")
_CHUNK = 8192  # rowids per query of the one-pass aggregation
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # SQLite's lower()




class _Odd(Exception):
    """A value the one-pass aggregation does not reproduce exactly: the SQL query decides."""


def _odd(value: Any) -> Any:
    """json.loads hook for floats and NaN/Infinity: 80.0 groups with 80 in Python but shows
    as '80.0' in SQLite's 'daddr:dport', and SQLite parses decimals its own way."""
    raise _Odd(value)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the tables are summed: they allocate ~150,000 lists,
    tuples and rows without a cycle, which the collector would walk again and again (with the
    heap of 100,000 profiles around: 15% of the time, measured by benchmarks/bench_tables.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_ahead(run: Callable[[int], T], starts: range) -> Iterator[T]:
    """run(start) for each of ``starts``, in order. The next one runs in a helper thread while
    the caller works on this one: SQLite extracts the fields of the next chunk (sqlite3 lets go
    of the GIL meanwhile) while Python sums the last, on a second core. Measured on 2 cores
    (benchmarks/bench_tables.py, against the same code without it): 10-20% less wall time for
    0-15% more CPU time (the two cores slow each other down)."""
    if len(starts) <= 1:
        yield from map(run, starts)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kalipso-flows") as pool:
        pending = pool.submit(run, starts[0])
        try:
            for start in starts[1:]:
                result = pending.result()
                pending = pool.submit(run, start)
                yield result
            yield pending.result()
        finally:
            pending.cancel()


def _int64(value: Any) -> bool:
    return type(value) is int and -2**63 <= value < 2**63


def _key_text(value: Any) -> str:
    """A key as the SQL query shows it: strings, 64-bit integers (beyond, SQLite reads a real)
    and null; true/false and floats never get here (see _odd and the chunk test)."""
    if value is not None and type(value) is not str and not _int64(value):
        raise _Odd(value)
    return text(value)


def _counts(column: list[Any]) -> tuple[list[int], int]:
    """A chunk's packets or bytes, NULL as 0 (the SQL query's coalesce), and their sum.

    Only integers >= 0 pass: SQLite sums text and reals its own way, and with a negative value
    a running sum may overflow on the way to an in-range total; for them the SQL query decides.
    With none negative, no running sum of any group exceeds the sum of all (see the caller)."""
    try:
        total = sum(column)  # C speed; TypeError for a NULL, a string, a list or an object
    except TypeError:
        column = [0 if value is None else value for value in column]
        total = sum(column)  # TypeError again: not a NULL, the SQL query decides
    if column and min(column) < 0:
        raise _Odd("negative packets or bytes")
    return column, total


def _columns(chunk: str, flows: int) -> list[Any]:
    """The seven fields of a chunk's ``flows`` flows (their _FIELDS arrays joined by ',') as
    seven columns, packets and bytes with their sums: slices of one parsed list, so the
    per-flow work after it runs in C (zip, map)."""
    # escapes: SQLite decodes them (lone surrogates...); true/false: 1/0 in SQLite
    if "\\" in chunk or "true" in chunk or "false" in chunk:
        raise _Odd("escape or boolean")
    # One flat array: '[a,b,...],[h,i,...]' -> '[a,b,...,h,i,...]'. Between two flows the text
    # is '],['; occurrences cannot overlap, so were there any other (a string '],[', two array
    # fields side by side) the count would be higher. (Cheaper than cutting the brackets of
    # each flow in SQL: 10% of the query.)
    if chunk.count("],[") != flows - 1:
        raise _Odd("'],[' in a value")
    values = json.loads(chunk.replace("],[", ","), parse_float=_odd, parse_constant=_odd)
    if len(values) != 7 * flows:
        raise _Odd("not seven fields per flow")
    daddr, sport, dport, proto, state, pkts, nbytes = (values[i::7] for i in range(7))
    return [daddr, sport, dport, proto, state, *_counts(pkts), *_counts(nbytes)]


def _sum(table: dict[Any, list[int]], keys: Iterable[Any], packets: list[int], nbytes: list[int]) -> None:
    """Count the flows of each key and sum their packets and bytes: [flows, packets, bytes].
    The one loop per flow in Python, so it does nothing else (the keys come from zip)."""
    get = table.get
    for key, pkts, size in zip(keys, packets, nbytes, strict=True):
        acc = get(key)
        if acc is None:
            table[key] = [1, pkts, size]
        else:
            acc[0] += 1
            acc[1] += pkts
            acc[2] += size


def _add(table: dict[tuple[str, int], list[int]], ident: tuple[str, int], sums: list[int]) -> None:
    old = table.get(ident)
    table[ident] = sums if old is None else [old[0] + sums[0], old[1] + sums[1], old[2] + sums[2]]


def _merge(table: dict[tuple[str, int], list[int]], groups: dict[tuple[Any, int], list[int]]) -> None:
    """Add groups of (raw key, kind) to ``table`` under (the key's text, kind), as
    parse.merge_aggregates merges the SQL query's groups (80 and '80' are one row)."""
    if not table and groups:
        keys, kinds = zip(*groups, strict=True)
        if set(map(type, keys)) == {int} and -2**63 <= min(keys) and max(keys) < 2**63:
            # ports, the common case: text(80) is '80', and no two integers have one text
            table.update(zip(zip(map(str, keys), kinds, strict=True), groups.values(), strict=True))
            return
    shown = _Texts()
    get = table.get
    for (key, kind), sums in groups.items():  # _add, inlined: tens of thousands of ports
        ident = (shown[key], kind)
        old = get(ident)
        table[ident] = sums if old is None else [old[0] + sums[0], old[1] + sums[1], old[2] + sums[2]]


class _Texts(dict[Any, str]):
    """Raw key -> its text as the SQL query shows it (_key_text), each computed once."""

    def __missing__(self, value: Any) -> str:
        # a port, the common case, without the five calls of _key_text: text(80) is str(80)
        shown = self[value] = str(value) if _int64(value) else _key_text(value)
        return shown


class _Kinds:
    """A small int per shown (protocol, established or not) pair, and the pair of each flow.

    The tables show lower(proto) and the class of the state; grouping flows by that id from the
    start spares merging 'TCP' with 'tcp' and 'SF' with 'S1' later. Slips' data has a handful
    of (proto, state) pairs: each is looked at once, each flow costs one dict lookup in C.
    """

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []  # id -> (protocol text, state class)
        self._ids: dict[tuple[str, str], int] = {}
        self._of: dict[tuple[Any, Any], int] = {}  # (proto, state) as in the flow -> id

    def of(self, protos: list[Any], states: list[Any]) -> list[int]:
        try:  # TypeError for a list or an object: the SQL query decides
            return list(map(self._of.__getitem__, zip(protos, states, strict=True)))
        except KeyError:  # pairs not seen in an earlier chunk
            for pair in set(zip(protos, states, strict=True)).difference(self._of):
                proto, state = pair
                lowered = proto.translate(_ASCII_LOWER) if type(proto) is str else proto  # SQLite's lower()
                kind = (_key_text(lowered), established(state))
                if kind not in self._ids:
                    self._ids[kind] = len(self.shown)
                    self.shown.append(kind)
                self._of[pair] = self._ids[kind]
            return list(map(self._of.__getitem__, zip(protos, states, strict=True)))


def locate(output_dir: str | None, override: str | None = None) -> tuple[str | None, str | None]:
    """Find the flows file. Returns (path, None) or (None, why it was not found)."""
    if override:
        if os.path.isfile(override):
            return override, None
        return None, f"the flows database given with --flows-db ({override}) does not exist"
    if not output_dir:
        return None, "Slips did not record its output folder (analysis.output_dir); use --flows-db"
    for rel in CANDIDATES:
        path = os.path.join(output_dir, rel)
        if os.path.isfile(path):
            return path, None
    return None, (f"Slips' flows database is not readable at {output_dir}/databases/flows.sqlite "
                  "(use --flows-db PATH)")


class FlowsDB:
    """A read-only view of one flows.sqlite."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # one thread reads the host names, others wait for it: the loader's two threads both
        # asked at start (visible rows, global facts) and each built the whole map (at 100,000
        # DHCP clients: 0.6 s and ~15 MiB each, the second thrown away)
        self._names_lock = threading.Lock()
        self._host_names: HostNames | None = None

    def _db(self) -> sqlite3.Connection:
        with self._lock:  # opened once, whichever loader thread asks first
            return self._open()

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = "file:" + os.path.abspath(self.path)
            try:
                conn = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM flows LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                # A WAL database in a folder we may not write to: open it as immutable.
                conn = sqlite3.connect(uri + "?immutable=1", uri=True, check_same_thread=False)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def aggregates(self, ip: str, twid: str) -> dict[str, tuple[FlowAggregate, ...]]:
        """The five port/IP tables of ``ip`` in time window ``twid``.

        Client side: rows of the profile (``profileid``) in that window; server side: rows of
        any profile in that window whose destination is ``ip``.

        One pass: SQLite extracts the seven fields of each flow in one json_extract (one
        parse of the document), Python sums all five tables from them: per flow only C loops
        (json.loads, slices, zip, map) and one dict update per table family (_sum). Flows with
        values the fast path cannot reproduce exactly (floats, booleans, escapes, numbers
        beyond 64 bits, negative counts, brackets in values) are rare in Slips' data; for them
        the tables come from ``aggregates_sql``, the former query, which defines the result.
        """
        try:
            with _gc_paused():
                tables = self._aggregates_one_pass(ip, twid)
        except (sqlite3.Error, TypeError, ValueError, _Odd):
            tables = None  # the former query says what is wrong (or copes)
        return tables if tables is not None else self.aggregates_sql(ip, twid)

    def _aggregates_one_pass(self, ip: str, twid: str) -> dict[str, tuple[FlowAggregate, ...]] | None:
        db = self._db()
        lo, hi = db.execute("SELECT min(rowid), max(rowid) FROM flows").fetchone()
        if lo is None:
            return {name: () for name in AGGREGATE_NAMES}
        params = {"tw": twid, "pid": f"profile_{ip}", "ip": ip}
        # Per chunk of rowids, the profile's own flows and the other flows to ``ip``: the 7-field
        # arrays of their flows joined by ',' and how many flows. One json.loads per chunk and
        # side (_columns), no Python object per flow but its fields, memory bounded by the chunk.
        fields = f"coalesce({_FIELDS}, {_NULLS})"
        query = (f"SELECT group_concat({fields}, ',') FILTER (WHERE profileid = :pid), "
                 "count(*) FILTER (WHERE profileid = :pid), "
                 f"group_concat({fields}, ',') FILTER (WHERE profileid IS NOT :pid), "
                 "count(*) FILTER (WHERE profileid IS NOT :pid) "
                 "FROM flows WHERE rowid >= :lo AND rowid < :hi AND twid = :tw "
                 "AND (profileid = :pid OR json_extract(flow, '$.daddr') = :ip)")
        # [flows, packets, bytes] per group of raw values and kind (_Kinds): finer than the shown
        # groups (80 and '80' are two), merged under their text at the end
        src: dict[tuple[Any, int], list[int]] = {}  # (sport, kind) of the profile's flows
        dst: dict[tuple[Any, Any, int], list[int]] = {}  # (daddr, dport, kind) of them
        others: dict[tuple[Any, int], list[int]] = {}  # (dport, kind) of other flows to ip
        kinds = _Kinds()

        def chunk(first: int) -> tuple[str | None, int, str | None, int]:
            return db.execute(query, {**params, "lo": first, "hi": first + _CHUNK}).fetchone()

        # packets and bytes of all flows: below 2**63, no sum of a group can overflow (_counts)
        all_packets = all_bytes = 0
        for own, own_flows, rest, rest_flows in _read_ahead(chunk, range(lo, hi + 1, _CHUNK)):
            if own:
                daddr, sport, dport, proto, state, pkts, packets, nbytes, size = _columns(own, own_flows)
                kind = kinds.of(proto, state)
                _sum(src, zip(sport, kind, strict=True), pkts, nbytes)
                _sum(dst, zip(daddr, dport, kind, strict=True), pkts, nbytes)
                all_packets += packets
                all_bytes += size
            if rest:
                _, _, dport, proto, state, pkts, packets, nbytes, size = _columns(rest, rest_flows)
                _sum(others, zip(dport, kinds.of(proto, state), strict=True), pkts, nbytes)
                all_packets += packets
                all_bytes += size
        if all_packets >= 2**63 or all_bytes >= 2**63:
            return None

        # The shown groups: the key's text, the protocol's text and the state's class
        merged: dict[str, dict[tuple[str, int], list[int]]] = {name: {} for name in AGGREGATE_NAMES}
        _merge(merged["src_ports_client"], src)
        # a few hundred (daddr, dport) groups in Slips' data: one pass over them for 4 tables
        ips, ports, pairs, server = (merged[n] for n in ("dst_ips_client", "dst_ports_client",
                                                          "dst_ports_client_ips", "dst_ports_server"))
        shown = _Texts()
        for (daddr, dport, kind), sums in dst.items():
            _add(ips, (shown[daddr], kind), sums)
            _add(ports, (shown[dport], kind), sums)
            # SQL's daddr || ':' || dport: NULL (shown as '') if either is
            pair = "" if daddr is None or dport is None else shown[f"{shown[daddr]}:{shown[dport]}"]
            _add(pairs, (pair, kind), sums)
            if daddr == ip:
                _add(server, (shown[dport], kind), sums)
        _merge(server, others)

        tables: dict[str, tuple[FlowAggregate, ...]] = {}
        for name, groups in merged.items():
            rows = [(key, *kinds.shown[kind], *sums) for (key, kind), sums in groups.items()]
            # the order of parse.merge_aggregates: state, protocol, most flows, most packets, key;
            # as stable sorts on one field each, which compare plain str or int (a sort on
            # whole tuples compares field by field in Python objects: 5x slower on 30,000 rows)
            rows.sort(key=itemgetter(0))
            rows.sort(key=itemgetter(4), reverse=True)
            rows.sort(key=itemgetter(3), reverse=True)
            rows.sort(key=itemgetter(1))
            rows.sort(key=itemgetter(2))
            tables[name] = tuple(FlowAggregate(*row) for row in rows)
        return tables

    def aggregates_sql(self, ip: str, twid: str) -> dict[str, tuple[FlowAggregate, ...]]:
        """The five tables from one SQL query per table (the implementation before the one-pass
        one): the reference for odd values, and the baseline of benchmarks/bench_tables.py."""
        query = """
            WITH f AS MATERIALIZED (
                SELECT profileid,
                       json_extract(flow, '$.saddr') AS saddr,
                       json_extract(flow, '$.daddr') AS daddr,
                       json_extract(flow, '$.sport') AS sport,
                       json_extract(flow, '$.dport') AS dport,
                       lower(json_extract(flow, '$.proto')) AS proto,
                       json_extract(flow, '$.state') AS state,
                       coalesce(json_extract(flow, '$.pkts'), 0) AS pkts,
                       coalesce(json_extract(flow, '$.bytes'), 0) AS bytes
                FROM flows WHERE twid = :tw AND (profileid = :pid OR json_extract(flow, '$.daddr') = :ip))
            SELECT 'src_ports_client', sport, proto, state, count(*), sum(pkts), sum(bytes)
                FROM f WHERE profileid = :pid GROUP BY 2, 3, 4
            UNION ALL SELECT 'dst_ips_client', daddr, proto, state, count(*), sum(pkts), sum(bytes)
                FROM f WHERE profileid = :pid GROUP BY 2, 3, 4
            UNION ALL SELECT 'dst_ports_client', dport, proto, state, count(*), sum(pkts), sum(bytes)
                FROM f WHERE profileid = :pid GROUP BY 2, 3, 4
            UNION ALL SELECT 'dst_ports_client_ips', daddr || ':' || dport, proto, state, count(*),
                sum(pkts), sum(bytes) FROM f WHERE profileid = :pid GROUP BY 2, 3, 4
            UNION ALL SELECT 'dst_ports_server', dport, proto, state, count(*), sum(pkts), sum(bytes)
                FROM f WHERE daddr = :ip GROUP BY 2, 3, 4
        """
        params = {"tw": twid, "pid": f"profile_{ip}", "ip": ip}
        rows = [
            (table, FlowAggregate(key=text(key), proto=text(proto), state=established(state),
                                  flows=int(flows), packets=int(pkts or 0), bytes=int(nbytes or 0)))
            for table, key, proto, state, flows, pkts, nbytes in self._db().execute(query, params)
        ]
        tables = merge_aggregates(rows)
        return {name: tables.get(name, ()) for name in AGGREGATE_NAMES}

    def host_names(self) -> HostNames:
        """IP -> host name from DHCP flows (the last name a client used)."""
        with self._names_lock:
            return self._read_host_names()

    def _read_host_names(self) -> HostNames:
        if self._host_names is None:
            names: dict[str, str] = {}
            query = "SELECT flow FROM altflows WHERE flow_type = 'dhcp'"
            try:
                for (flow,) in self._db().execute(query):
                    data = loads(flow)
                    if isinstance(data, dict) and data.get("host_name"):
                        ip = text(data.get("client_addr") or data.get("saddr"))
                        if ip:
                            names[ip] = text(data["host_name"], 255)
            except sqlite3.Error:
                pass
            self._host_names = HostNames(names)  # ~3 MiB instead of ~15 at 100,000 names
        return self._host_names

    def alert_times(self) -> dict[str, str]:
        """alert id -> alert time as Slips recorded it (the SQLite list is complete)."""
        try:
            return {text(a): text(t) for a, t in self._db().execute(
                "SELECT alert_id, alert_time FROM alerts")}
        except sqlite3.Error:
            return {}

    def flow_times(self, ip: str, twid: str) -> Iterable[tuple[float, int]]:
        """(start time, bytes) of the profile's flows in a time window, oldest first."""
        query = ("SELECT json_extract(flow, '$.starttime'), coalesce(json_extract(flow, '$.bytes'), 0) "
                 "FROM flows WHERE twid = ? AND profileid = ? ORDER BY 1")
        for start, nbytes in self._db().execute(query, (twid, f"profile_{ip}")):
            if isinstance(start, (int, float)):
                yield float(start), int(nbytes or 0)

    def flows_by_uids(self, uids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """uid -> (kind, flow JSON) for the uids found: conn flows from ``flows`` (kind 'conn'),
        then dns/http/ssl/... flows from ``altflows`` (kind = their flow_type). Unknown uids
        are left out; a file that cannot be read gives {}."""
        wanted = list(dict.fromkeys(u for u in uids if u))
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        try:
            for i in range(0, len(wanted), 500):  # SQLite caps the number of parameters
                chunk = wanted[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for uid, flow in self._db().execute(f"SELECT uid, flow FROM flows WHERE uid IN ({marks})", chunk):
                    data = loads(flow)
                    if isinstance(data, dict):
                        found[text(uid)] = ("conn", data)
                rest = [u for u in chunk if u not in found]
                if rest:
                    marks = ",".join("?" * len(rest))
                    for uid, kind, flow in self._db().execute(
                            f"SELECT uid, flow_type, flow FROM altflows WHERE uid IN ({marks})", rest):
                        data = loads(flow)
                        if isinstance(data, dict):
                            found[text(uid)] = (text(kind) or text(data.get("type_")) or "other", data)
        except sqlite3.Error:
            return {}
        return found
