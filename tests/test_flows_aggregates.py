"""The one-pass port/IP tables (FlowsDB.aggregates) equal the SQL query they replace
(FlowsDB.aggregates_sql), on Slips-like flows and on odd values of every field, and take the
fast path on Slips-like data."""

from __future__ import annotations

import json
import random

import pytest

from kalipso.data.flows import FlowsDB
from kalipso.demo.generator import new_flows_db

IP = "10.0.0.1"
ODD = [None, 0, 1, 80, "80", 80.0, 1.5, True, False, "", "TCP", "Tcp", "\u00c0TCP", "udp", "SF", "S0",
       "established", " SF ", 2**63, 2**63 - 1, -5, 10**20, 1e20, [1, 2], {"a": 1}, "a\\b", "\u00e9",
       IP, "10.0.0.2", "x]", "true", "a" * 5000, "],[", "a],[b", [], [[1]], -2**63, 2**62]


def _flow(rng: random.Random, odd: float) -> dict:
    if rng.random() >= odd:
        return {"saddr": "x", "daddr": rng.choice([IP, "10.0.0.9"]), "sport": rng.randint(1, 9),
                "dport": rng.choice([53, 443, "443"]), "proto": rng.choice(["tcp", "TCP"]),
                "state": rng.choice(["SF", "S0", "OTH"]), "pkts": rng.randint(0, 9),
                "bytes": rng.randint(0, 999), "dur": 0.5}
    doc = {}
    for field in ("daddr", "sport", "dport", "proto", "state", "pkts", "bytes"):
        if rng.random() < 0.9:
            doc[field] = rng.choice(ODD) if rng.random() < 0.3 else rng.randint(0, 9)
    return doc


def _database(tmp_path, seed: int, count: int, odd: float) -> FlowsDB:
    rng = random.Random(seed)
    sql = new_flows_db(str(tmp_path / f"flows{seed}.sqlite"))
    rows = []
    for i in range(count):
        flow = json.dumps(_flow(rng, odd), ensure_ascii=rng.random() < 0.5) if rng.random() > 0.02 else None
        rows.append((f"u{i}", flow, "", rng.choice([f"profile_{IP}", "profile_10.0.0.2", None]),
                     rng.choice(["timewindow1", "timewindow2"]), ""))
    sql.executemany("INSERT INTO flows VALUES (?,?,?,?,?,?)", rows)
    sql.commit()
    sql.close()
    return FlowsDB(str(tmp_path / f"flows{seed}.sqlite"))


def _either(fn):
    try:
        return fn(IP, "timewindow1")
    except Exception as exc:  # both raise alike on a value SQLite refuses
        return type(exc).__name__


@pytest.mark.parametrize("seed", range(60))
def test_one_pass_equals_the_sql_query(tmp_path, seed):
    db = _database(tmp_path, seed, random.Random(seed).choice([0, 5, 60, 400]),
                   random.Random(seed + 1).choice([0.0, 0.01, 0.3, 1.0]))
    try:
        assert _either(db.aggregates) == _either(db.aggregates_sql)
    finally:
        db.close()


def test_slips_like_flows_take_the_fast_path(tmp_path):
    db = _database(tmp_path, 1, 20000, 0.0)  # more than one chunk of rowids
    try:
        fast = db._aggregates_one_pass(IP, "timewindow1")
        assert fast is not None and fast == db.aggregates_sql(IP, "timewindow1")
        assert sum(r.flows for r in fast["src_ports_client"]) > 2000
        assert fast["dst_ports_server"]
    finally:
        db.close()


def _explicit(tmp_path, flows: list[dict | None], profile: str = f"profile_{IP}") -> FlowsDB:
    """A flows file with the given flow documents, in this order, all in timewindow1."""
    path = str(tmp_path / "explicit.sqlite")
    sql = new_flows_db(path)
    sql.executemany("INSERT INTO flows VALUES (?,?,?,?,?,?)",
                    [(f"u{i}", None if flow is None else json.dumps(flow), "", profile, "timewindow1", "")
                     for i, flow in enumerate(flows)])
    sql.commit()
    sql.close()
    return FlowsDB(path)


def _same(db: FlowsDB, fast: bool) -> None:
    """aggregates equals the SQL query; ``fast``: and the one-pass path gave it."""
    try:
        assert _either(db.aggregates) == _either(db.aggregates_sql)
        if fast:
            assert db._aggregates_one_pass(IP, "timewindow1") == db.aggregates_sql(IP, "timewindow1")
        else:
            assert _either(db._aggregates_one_pass) in (None, "_Odd", "TypeError", "ValueError")
    finally:
        db.close()


def _conn(**fields) -> dict:
    return {"daddr": "10.0.0.9", "sport": 5, "dport": 80, "proto": "tcp", "state": "SF",
            "pkts": 1, "bytes": 10, **fields}


@pytest.mark.parametrize("pkts", [[2**63 - 1, 5, -10], [-10, 2**63 - 1, 5], [3, -1]])
def test_a_negative_count_leaves_the_sums_to_sqlite(tmp_path, pkts):
    # SQLite's sum() fails on a running sum beyond 64 bits even if the total is in range
    _same(_explicit(tmp_path, [_conn(pkts=p) for p in pkts]), fast=False)


def test_sums_of_all_flows_beyond_64_bits_leave_them_to_sqlite(tmp_path):
    # two groups each in range; the merged row is beyond 64 bits (Python ints, as merge_aggregates)
    _same(_explicit(tmp_path, [_conn(dport=80, bytes=2**62 + 2**61), _conn(dport="80", bytes=2**62 + 2**61)]),
          fast=False)


@pytest.mark.parametrize("fields", [{"daddr": "a],[b"}, {"sport": [1], "dport": [2]}, {"bytes": [1]},
                                    {"daddr": [], "sport": []}, {"state": "],["}])
def test_brackets_in_values_leave_the_tables_to_sqlite(tmp_path, fields):
    _same(_explicit(tmp_path, [_conn(), _conn(**fields), _conn()]), fast=False)


def test_ports_merge_across_types_and_chunks(tmp_path):
    # 80 and '80' are one row; ports as text and numbers; a (proto, state) pair first seen in a
    # later chunk of rowids (_CHUNK); NULL flows and missing fields as the SQL query shows them
    flows = [_conn(sport=i % 50, dport=80 if i % 3 else "80", pkts=i, bytes=i * 7) for i in range(9000)]
    flows += [_conn(proto="UDP", state="S0"), _conn(proto="Udp", state="REJ", sport="7"), None,
              {"daddr": IP, "dport": 22}, _conn(daddr=IP, proto=None, state=None)]
    _same(_explicit(tmp_path, flows), fast=True)


def test_long_keys_that_share_their_shown_text_are_one_row(tmp_path):
    # shown text is cut at parse.MAX_FIELD: two ports that differ after it are one row
    long = "p" * 5000
    _same(_explicit(tmp_path, [_conn(sport=long + "a"), _conn(sport=long + "b"), _conn(dport=long + "c"),
                               _conn(dport=long + "d", daddr="x" * 5000)]), fast=True)


def test_other_profiles_flows_to_the_ip_are_server_rows(tmp_path):
    _same(_explicit(tmp_path, [_conn(daddr=IP, dport=p) for p in (22, 22, "22", 443)],
                    profile="profile_10.0.0.2"), fast=True)


def test_host_names_are_read_once_when_two_threads_ask(tmp_path, monkeypatch):
    """The loader's two threads ask for the host names at start (visible rows, global facts):
    one reads them, the other waits and gets the same map (each built its own: 0.6 s and
    ~15 MiB more at 100,000 DHCP clients)."""
    import json as _json
    import sqlite3
    import threading
    import time as _time

    from kalipso.data import flows as flows_module

    path = tmp_path / "flows.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE flows (uid, flow, label, profileid, twid)")
    conn.execute("CREATE TABLE altflows (uid, flow, label, profileid, twid, flow_type)")
    conn.executemany("INSERT INTO altflows VALUES (?,?,?,?,?,?)", [
        (f"D{i}", _json.dumps({"saddr": f"10.0.0.{i}", "host_name": f"pc-{i}"}), "benign",
         f"profile_10.0.0.{i}", "timewindow1", "dhcp") for i in range(50)])
    conn.commit()
    conn.close()
    calls = []
    real_loads = flows_module.loads

    def slow_loads(value):
        calls.append(value)
        _time.sleep(0.002)
        return real_loads(value)

    monkeypatch.setattr(flows_module, "loads", slow_loads)
    db = flows_module.FlowsDB(str(path))
    got = []
    threads = [threading.Thread(target=lambda: got.append(db.host_names())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close()
    assert len(got) == 2 and got[0] is got[1] and got[0]["10.0.0.7"] == "pc-7"
    assert len(calls) == 50  # every flow parsed once, not once per thread
