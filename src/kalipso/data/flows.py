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
    of the GIL meanwhile) while Python sums the last, on a second core."""
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
        self._host_names: dict[str, str] | None = None

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
        parse of the document), Python sums all five tables from them. Flows with values the
        fast path cannot reproduce exactly (floats, booleans, escapes, numbers beyond 64 bits)
        are rare in Slips' data; for them the tables come from ``aggregates_sql``, the former
        query, which defines the result.
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
        # Per chunk of rowids, the profile's own flows and the other flows to ``ip``, each as
        # one flat JSON array of 7 fields per flow: one json.loads per chunk, no list per flow,
        # and memory bounded by the chunk. rtrim removes the closing bracket of each flow's
        # array; were its last field an array, its bracket would go too and the text would not
        # parse (ValueError: the SQL query then decides).
        flat = f"rtrim(substr(coalesce({_FIELDS}, {_NULLS}), 2), ']')"
        query = (f"SELECT '[' || group_concat({flat}, ',') FILTER (WHERE profileid = :pid) || ']', "
                 f"'[' || group_concat({flat}, ',') FILTER (WHERE profileid IS NOT :pid) || ']' "
                 "FROM flows WHERE rowid >= :lo AND rowid < :hi AND twid = :tw "
                 "AND (profileid = :pid OR json_extract(flow, '$.daddr') = :ip)")
        src: dict[tuple[Any, Any, Any], list[Any]] = {}  # (sport, proto, state) of the profile's flows
        dst: dict[tuple[Any, Any, Any, Any], list[Any]] = {}  # (daddr, dport, proto, state) of them
        others: dict[tuple[Any, Any, Any], list[Any]] = {}  # (dport, proto, state) of other flows to ip
        src_get, dst_get, others_get = src.get, dst.get, others.get
        def chunk(first: int) -> tuple[str | None, str | None]:
            return db.execute(query, {**params, "lo": first, "hi": first + _CHUNK}).fetchone()

        for own, rest in _read_ahead(chunk, range(lo, hi + 1, _CHUNK)):
            for chunk in (own, rest):
                # escapes: SQLite decodes them (lone surrogates...); true/false: 1/0 in SQLite
                if chunk and ("\\" in chunk or "true" in chunk or "false" in chunk):
                    return None
            values = json.loads(own, parse_float=_odd, parse_constant=_odd) if own else ()
            if len(values) % 7:
                return None
            for daddr, sport, dport, proto, state, pkts, nbytes in zip(*[iter(values)] * 7, strict=True):
                pkts = pkts or 0  # coalesce(..., 0); a string or a list fails below
                nbytes = nbytes or 0
                acc = src_get((sport, proto, state))
                if acc is None:
                    src[(sport, proto, state)] = [1, pkts, nbytes]
                else:
                    acc[0] += 1
                    acc[1] += pkts
                    acc[2] += nbytes
                acc = dst_get((daddr, dport, proto, state))
                if acc is None:
                    dst[(daddr, dport, proto, state)] = [1, pkts, nbytes]
                else:
                    acc[0] += 1
                    acc[1] += pkts
                    acc[2] += nbytes
            values = json.loads(rest, parse_float=_odd, parse_constant=_odd) if rest else ()
            if len(values) % 7:
                return None
            for _, _, dport, proto, state, pkts, nbytes in zip(*[iter(values)] * 7, strict=True):
                pkts = pkts or 0
                nbytes = nbytes or 0
                acc = others_get((dport, proto, state))
                if acc is None:
                    others[(dport, proto, state)] = [1, pkts, nbytes]
                else:
                    acc[0] += 1
                    acc[1] += pkts
                    acc[2] += nbytes
        # The groups above are finer than the shown ones ('TCP' and 'tcp', 80 and '80', states
        # of one class): merge them under their text, as merge_aggregates merges the SQL groups.
        keys: dict[Any, str] = {}
        kinds: dict[tuple[Any, Any], tuple[str, str]] = {}

        def kind_of(proto: Any, state: Any) -> tuple[str, str]:
            kind = kinds.get((proto, state))
            if kind is None:
                lowered = proto.translate(_ASCII_LOWER) if type(proto) is str else proto
                kind = kinds[(proto, state)] = (_key_text(lowered), established(state))
            return kind

        def add(table: dict[tuple[str, str, str], list[Any]], key: Any, proto: Any, state: Any,
                sums: list[Any]) -> None:
            shown = keys.get(key)
            if shown is None:
                shown = keys[key] = _key_text(key)
            ident = (shown, *kind_of(proto, state))
            old = table.get(ident)
            table[ident] = sums if old is None else [old[0] + sums[0], old[1] + sums[1], old[2] + sums[2]]

        merged: dict[str, dict[tuple[str, str, str], list[Any]]] = {name: {} for name in AGGREGATE_NAMES}
        table = merged["src_ports_client"]
        keys_get, kinds_get, table_get = keys.get, kinds.get, table.get
        for (sport, proto, state), sums in src.items():  # add(), inlined: one call per flow or so
            shown = keys_get(sport)
            if shown is None:
                shown = keys[sport] = _key_text(sport)
            kind = kinds_get((proto, state)) or kind_of(proto, state)
            ident = (shown, kind[0], kind[1])
            old = table_get(ident)
            table[ident] = sums if old is None else [old[0] + sums[0], old[1] + sums[1], old[2] + sums[2]]
        ips, ports, pairs, server = (merged[n] for n in ("dst_ips_client", "dst_ports_client",
                                                          "dst_ports_client_ips", "dst_ports_server"))
        for (daddr, dport, proto, state), sums in dst.items():
            add(ips, daddr, proto, state, sums)
            add(ports, dport, proto, state, sums)
            pair = None if daddr is None or dport is None else f"{_key_text(daddr)}:{_key_text(dport)}"
            add(pairs, pair, proto, state, sums)
            if daddr == ip:
                add(server, dport, proto, state, sums)
        for (dport, proto, state), sums in others.items():
            add(server, dport, proto, state, sums)
        tables: dict[str, tuple[FlowAggregate, ...]] = {}
        for name, groups in merged.items():
            rows = [(key, proto, state, *sums) for (key, proto, state), sums in groups.items()]
            for column in (4, 5):  # packets, bytes: a string, a list, or a sum SQLite refuses
                values = list(map(itemgetter(column), rows))
                if values and (set(map(type, values)) != {int} or max(values) >= 2**63 or min(values) < -2**63):
                    return None
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
        one): the reference for odd values, and the baseline of benchmarks/bench_views.py."""
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

    def host_names(self) -> dict[str, str]:
        """IP -> host name from DHCP flows (the last name a client used)."""
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
            self._host_names = names
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
