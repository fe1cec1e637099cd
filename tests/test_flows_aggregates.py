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
       IP, "10.0.0.2", "x]", "true", "a" * 5000]


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
