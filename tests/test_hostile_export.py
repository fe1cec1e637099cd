"""Hostile strings planted everywhere Slips keeps traffic-derived text reach neither the text
export as control bytes nor the JSON export as anything but escaped, exact strings.

Planted in a real fixture of each generation: host names (classic: the MAC JSON; 1.1.x: DHCP
rows of flows.sqlite), a time-window name, timeline JSON, evidence, alert ids, out tuples, IP
info, and the protocol and state columns of flows.sqlite (classic/middle: the JSON tables).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from contextlib import redirect_stderr, redirect_stdout

import pytest

import hostile
from kalipso import cli
from kalipso.text import cell_width

from conftest import fixture_dirs, load_keys_json

IP = "10.0.2.15"
TW = "timewindow1"
# a hostile window name that still fits the 19-cell column once sanitised: alignment is checked
HOSTILE_TW = "timewindow9\x1b[2J\u202e主\u200b\x9b1m"
VALUES = list(hostile.CORPUS.values())


def _strict(value: str) -> None:
    raise ValueError(f"non-standard JSON constant {value}")


def hostile_value(i: int) -> str:
    return VALUES[i % len(VALUES)]


def plant_redis(server, generation: str) -> dict[str, str]:
    """Put the corpus into db 0 and db 1; returns a few planted values to look for."""
    r, cache = server.client(0), server.client(1)
    tw_hash = f"profile_{IP}_{TW}"
    timeline = {json.dumps({"timestamp": hostile_value(i), "daddr": hostile_value(i + 1),
                            "dport_name": hostile_value(i + 2), "dport/proto": hostile_value(i + 3),
                            "state": hostile_value(i + 4), "sent": hostile_value(i + 5),
                            "warning": hostile_value(i + 6), "critical warning": hostile_value(i + 7),
                            "info": {hostile_value(i + 8): hostile_value(i + 9)}}): 100.0 + i
                for i in range(len(VALUES))}
    timeline[hostile.ALL] = 99.0  # a member that is not JSON at all: shown raw, sanitised
    r.zadd(f"profile_{IP}_{TW}_timeline", timeline)
    r.zadd(f"profile_{IP}_{HOSTILE_TW}_timeline", timeline)
    r.zadd(f"twsprofile_{IP}", {HOSTILE_TW: 3700.0})
    evidence = {f"ev-{i}": json.dumps({
        "id": f"ev-{i}", "ID": f"ev-{i}", "evidence_type": hostile_value(i), "type_evidence": hostile_value(i),
        "description": hostile_value(i + 1), "threat_level": hostile_value(i + 2), "confidence": 0.5,
        "timestamp": "2021/09/22 12:00:00", "attacker": {"value": hostile_value(i + 3)}})
        for i in range(len(VALUES))}
    tuples = {f"{hostile_value(i)}-80-tcp": hostile_value(i + 1) for i in range(len(VALUES))}
    alerts = {f"alert-{hostile_value(i)}": json.dumps(["ev-1"]) for i in range(3)}
    r.hset(tw_hash, "alerts", json.dumps(alerts))
    if generation == "slips-1.0.1":
        old = json.loads(r.hget(tw_hash, "Evidence") or "{}")
        r.hset(tw_hash, "Evidence", json.dumps({**old, **evidence}))
        mac = json.loads(r.hget(f"profile_{IP}", "MAC") or "{}") if r.type(f"profile_{IP}") == b"hash" else {}
        r.hset(f"profile_{IP}", "MAC", json.dumps({**(mac if isinstance(mac, dict) else {}),
                                                  "MAC": hostile.OSC52, "host_name": hostile.WIDE_CJK + hostile.OSC8}))
    else:
        r.hset(f"profile_{IP}_{TW}_evidence", mapping=evidence)
    if generation == "slips-1.1.21":
        r.hset(f"profile_{IP}_{TW}:OutTuples:symbols", mapping=tuples)
        for kind in ("geocountry", "reverse_dns", "asn", "SNI"):
            cache.hset(f"IPsInfo:{kind}", IP, json.dumps(hostile.ALL))
    else:
        r.hset(tw_hash, "OutTuples", json.dumps({k: [v, [1.0, 2.0]] for k, v in tuples.items()}))
        table = {hostile_value(i): {"totalflows": 1, "totalpkt": 2, "totalbytes": 3} for i in range(len(VALUES))}
        r.hset(tw_hash, "DstIPsClientTCPEstablished", json.dumps(table))
        r.hset(tw_hash, f"DstPortsClient{hostile.CSI_CLEAR}Established", json.dumps(table))
        cache.hset("IPsInfo", IP, json.dumps({"geocountry": hostile.ALL, "reverse_dns": hostile.OSC52,
                                              "asn": {"asnorg": hostile.BIDI_RLO}}))
    return {"description": evidence["ev-3"], "tw": HOSTILE_TW}


def plant_sqlite(source: str, target: str) -> None:
    """A copy of flows.sqlite with hostile protocol/state columns and DHCP host names."""
    shutil.copy(source, target)
    db = sqlite3.connect(target)
    with db:
        db.execute("UPDATE flows SET flow = json_set(flow, '$.proto', ?, '$.state', ?)",
                   ("tcp" + hostile.OSC52 + hostile.C1_CSI, hostile.BIDI_RLO + hostile.CSI_CLEAR))
        db.execute("INSERT INTO altflows (uid, flow, label, profileid, twid, flow_type) "
                   "VALUES (?, ?, '', ?, ?, 'dhcp')",
                   ("hostile-dhcp", json.dumps({"client_addr": IP, "host_name": hostile.WIDE_CJK + hostile.OSC_TITLE
                                                + hostile.EMOJI_ZWJ}), f"profile_{IP}", TW))
    db.close()


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def summary_rows(text: str) -> list[str]:
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("profile "))
    return lines[header:]


@pytest.mark.skipif(not fixture_dirs(), reason="real Slips fixtures not found (../shared is absent)")
@pytest.mark.parametrize("generation", ["slips-1.0.1", "slips-1.1.16", "slips-1.1.21"])
def test_hostile_strings_in_both_export_formats(redis_server, tmp_path, generation):
    dataset = next(d for d in fixture_dirs() if d.parent.name == generation and "test15" in d.name)
    load_keys_json(redis_server, dataset)
    planted = plant_redis(redis_server, generation)
    base = ["export", "--port", str(redis_server.port), "--log-file", str(tmp_path / "log"),
            "--cache-url", f"redis://127.0.0.1:{redis_server.port}/1"]
    if (dataset / "flows.sqlite").exists():
        plant_sqlite(str(dataset / "flows.sqlite"), str(tmp_path / "flows.sqlite"))
        base += ["--flows-db", str(tmp_path / "flows.sqlite")]

    outputs = {}
    for name, extra in {"summary": [], "detail": ["--profile", IP, "--timewindow", TW],
                        "hostile_tw": ["--profile", IP, "--timewindow", HOSTILE_TW]}.items():
        for fmt in ("json", "text"):
            code, out, err = run(base + extra + ["--format", fmt])
            assert code == 0, (name, fmt, err)
            assert not hostile.control_bytes(out), (name, fmt, sorted(set(hostile.control_bytes(out))))
            if fmt == "json":
                assert out.isascii()  # C1 controls and bidi overrides are \u escapes, never raw
                json.loads(out, parse_constant=_strict)
            outputs[name, fmt] = out

    # JSON carries the exact strings (escaped), so a script sees what Slips stored
    detail = json.loads(outputs["detail", "json"])
    description = json.loads(planted["description"])["description"]
    assert description in {e["description"] for e in detail["evidence"]}
    assert hostile.CSI_CLEAR + "-80-tcp" in {t["tuple_id"] for t in detail["out_tuples"]}
    summary = json.loads(outputs["summary", "json"])
    assert HOSTILE_TW in {tw["name"] for p in summary["profiles"] for tw in p["timewindows"]}

    # the text shows the printable part of hostile values and nothing of the sequences
    text = outputs["detail", "text"] + outputs["summary", "text"] + outputs["hostile_tw", "text"]
    assert "evilred.com" in text and "timewindow9主" in text
    assert "Y3VybCBldmls" not in text and "pwned title" not in text  # OSC payloads dropped whole
    if generation != "slips-1.0.1":  # the protocol column of flows.sqlite (1.1.x) or JSON tables
        assert "[2J" not in text
    # borders stay aligned: every summary row is as many cells wide as the header
    rows = summary_rows(outputs["summary", "text"])
    assert len({cell_width(row) for row in rows if "(no time windows)" not in row}) == 1, rows
    assert any("主机名称" in row for row in rows)

    # a terminal whose locale is not UTF-8 gets ASCII, not an encoding error
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii")
    with redirect_stdout(ascii_out), redirect_stderr(io.StringIO()):
        assert cli.main(base + ["--profile", IP, "--timewindow", TW, "--format", "text"]) == 0
    ascii_out.flush()
    assert raw.getvalue().isascii() and b"evilred.com" in raw.getvalue()
