"""export agrees exactly with the manifest of every real Slips fixture (all three generations)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from hostile import control_bytes
from kalipso import cli, export
from kalipso.data import ConnectionSettings, open_slips
from kalipso.text import cell_width

from conftest import fixture_params, flows_db_of, load_keys_json


def _without_aggregates(manifest: dict) -> dict:
    return {**manifest, "profiles": [
        {"ip": p["ip"], "timewindows": [{k: v for k, v in tw.items() if k != "aggregates"}
                                        for tw in p["timewindows"]]}
        for p in manifest["profiles"]]}


def _rows(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


@pytest.mark.parametrize("dataset", fixture_params())
def test_export_matches_manifest(redis_server, dataset):
    load_keys_json(redis_server, dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    argv = ["export", "--port", str(redis_server.port),
            "--cache-url", f"redis://127.0.0.1:{redis_server.port}/1"]
    flows = flows_db_of(dataset)
    if flows:
        argv += ["--flows-db", flows]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(argv) == 0
    assert json.loads(out.getvalue()) == _without_aggregates(manifest)

    # the text summary of real data: no control bytes, every row as wide as the header
    text = io.StringIO()
    with redirect_stdout(text):
        assert cli.main(argv + ["--format", "text"]) == 0
    assert not control_bytes(text.getvalue())
    rows = [r for r in text.getvalue().splitlines()[2:] if "(no time windows)" not in r]
    assert len({cell_width(r) for r in rows}) == 1, rows[:3]
    assert len(rows) == 1 + sum(len(p["timewindows"]) for p in manifest["profiles"])

    # the full export of every time window agrees with the manifest's port/IP tables
    data = open_slips(ConnectionSettings(port=redis_server.port,
                                         cache_url=f"redis://127.0.0.1:{redis_server.port}/1"),
                      flows_db=flows)
    try:
        checked = 0
        for profile in manifest["profiles"]:
            for tw in profile["timewindows"]:
                detail = export.timewindow_detail(data, profile["ip"], tw["name"])
                assert detail["counts"]["timeline"] == tw["timeline"] == len(detail["timeline"])
                assert len(detail["evidence"]) == tw["evidence"]
                assert len(detail["alerts"]) == tw["alerts"]
                assert len(detail["out_tuples"]) == tw["out_tuples"]
                for name, rows in tw["aggregates"].items():
                    assert _rows(detail["aggregates"][name]) == _rows(rows), (profile["ip"], tw["name"], name)
                checked += 1
        assert checked == sum(len(p["timewindows"]) for p in manifest["profiles"])
    finally:
        data.close()


@pytest.mark.parametrize("dataset", fixture_params())
def test_export_one_timewindow_cli_json_and_text(redis_server, dataset):
    load_keys_json(redis_server, dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    # the busiest time window of the dataset
    ip, tw = max(((p["ip"], t) for p in manifest["profiles"] for t in p["timewindows"]),
                 key=lambda pt: (pt[1]["timeline"], pt[1]["evidence"]))
    argv = ["export", "--port", str(redis_server.port), "--profile", ip, "--timewindow", tw["name"],
            "--cache-url", f"redis://127.0.0.1:{redis_server.port}/1"]
    if flows_db_of(dataset):
        argv += ["--flows-db", flows_db_of(dataset)]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(argv) == 0
    doc = json.loads(out.getvalue())
    assert doc["profile"] == ip and doc["name"] == tw["name"] and doc["malicious"] == tw["malicious"]
    for name, rows in tw["aggregates"].items():
        assert _rows(doc["aggregates"][name]) == _rows(rows)
    text = io.StringIO()
    with redirect_stdout(text):
        assert cli.main(argv + ["--format", "text"]) == 0
    assert f"Profile {ip}  {tw['name']}" in text.getvalue()
    assert f"Timeline ({tw['timeline']} lines)" in text.getvalue()
    assert f"Evidence ({tw['evidence']})" in text.getvalue()


def test_current_slips_without_flows_file_says_so(redis_server):
    from conftest import needs_fixture
    dataset = needs_fixture("slips-1.1.21/test15-malicious-zeek-dir")
    load_keys_json(redis_server, dataset)
    data = open_slips(ConnectionSettings(port=redis_server.port))
    agg = data.aggregates("10.0.2.15", "timewindow1")
    assert not agg.available
    assert "flows.sqlite" in agg.unavailable_reason and "--flows-db" in agg.unavailable_reason
