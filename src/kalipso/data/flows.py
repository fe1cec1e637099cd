"""Slips' SQLite flows database, read-only.

Current Slips (1.1.17+) no longer stores the port/IP tables in Redis; they are rebuilt here
from the ``flows`` table with Slips' own Established rule. The file also carries DHCP host
names (``altflows``) and the complete alert list (``alerts``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from kalipso.data.models import AGGREGATE_NAMES, FlowAggregate
from kalipso.data.parse import established, loads, merge_aggregates, text

# 1.1.17+ keep the file under databases/; 1.1.5-1.1.16 directly in the output folder.
CANDIDATES = ("databases/flows.sqlite", "flows.sqlite")


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
        self._host_names: dict[str, str] | None = None

    def _db(self) -> sqlite3.Connection:
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
        """
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
