"""Triage on the real board in tmux (issue 9): from a red host to the reason in a few keys.

At 80x24 (the usual SSH size) and 120x40, on the real Slips fixtures (skipped with a reason
when ../shared is absent) and on the demo generator:

- the grouped evidence pane counts what the export counts, per evidence type;
- a long evidence description reads in full in the detail box;
- threat first: malicious hosts behind 60 benign ones are on the first screen;
- the / prompt is visible while typing, and Esc cancels it and restores the tree;
- the help bar never shows half a view name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from kalipso.data import ConnectionSettings, open_slips
from kalipso.demo.generator import BEACON_HOST, SCANNER_HOST, Scenario, generate
from tmuxdrive import Tmux

from conftest import flows_db_of, load_keys_json, needs_fixture

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
HEAD = re.compile(r"([\d,]+) evidence in ([\d,]+) groups?, ([\d,]+) alerts?")
# a group row: sign, alert mark, threat level, ×count, type (the count is left-aligned in 4 columns)
GROUP = re.compile(r"^[+-][A ] (\S+)\s+×(\d[\d,]*)\s*([A-Za-z][A-Za-z0-9_-]*)(?: (\S+))?")


def board(server, *extra: str, cols: int = 80, rows: int = 24) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1",
                 "--refresh", "0", *extra], cols=cols, rows=rows)


def alive(t: Tmux) -> str:
    screen = t.screen()
    assert not t.dead() and t.exit_status() is None, f"the program exited:\n{screen}"
    assert "internal error" not in screen and "Traceback" not in screen, screen
    return screen


def pane(screen: str, title: str) -> list[str]:
    """The content rows of the box whose title starts with ``title`` (focused or not)."""
    rows = screen.splitlines()
    for i, row in enumerate(rows):
        m = re.search(r"┌─ (?:▶ )?" + re.escape(title), row)
        if not m:
            continue
        left, right = m.start(), row.index("┐", m.end())
        out = []
        for r in rows[i + 1:]:
            if len(r) <= left or r[left] != "│":
                break
            out.append(r[left + 1:right])
        return out
    raise AssertionError(f"no pane {title!r} on screen:\n{screen}")


def wait_until(t: Tmux, check, what: str, timeout: float = 20.0):
    """Poll the screen until ``check(screen)`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = t.screen()
        value = check(screen)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never saw {what} on screen:\n{screen}")


def export_window(server, ip: str, tw: str, flows_db: str | None) -> dict:
    """`kalipso export --profile IP --timewindow TW` (JSON), as a user would run it."""
    extra = ["--flows-db", flows_db] if flows_db else []
    out = subprocess.run([sys.executable, "-m", "kalipso", "export", "-p", str(server.port), "--cache-url",
                          f"redis://127.0.0.1:{server.port}/1", "--profile", ip, "--timewindow", tw, *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def open_window(t: Tmux, ip: str, tw: str, profiles: int) -> str:
    """Filter the tree to ``ip`` and open its next malicious window with n."""
    t.wait_for(f"Profiles ({profiles})")
    t.filter(ip)
    t.wait_for(f"filter '{ip}'")
    t.send("n")
    return t.wait_for(f"Timeline {ip} {tw}", "evidence in")


def group_rows(body: list[str]) -> list[str]:
    """The rows of the evidence pane under its head line (groups, and items of an open group)."""
    return [r.rstrip() for r in body if r.strip() and not HEAD.search(r)]


def focus_evidence(t: Tmux) -> None:
    for _ in range(4):
        if "▶ Evidence" in t.screen():
            return
        t.send("Tab")
        try:
            t.wait_for("▶ Evidence", timeout=2)
            return
        except AssertionError:
            continue
    t.wait_for("▶ Evidence")


def check_groups(t: Tmux, groups: int, total: int, per_type: Counter) -> None:
    """Read every group row of the focused evidence pane; their ×counts summed per type are ``per_type``."""

    # every group row, moving the cursor down a pane at a time and joining the panes where they
    # overlap (rows cut at 80 columns may look alike, so rows are kept in order, not in a set)
    rows_seen: list[str] = []
    deadline = time.monotonic() + 60
    body = group_rows(pane(alive(t), "Evidence"))
    rows_seen.extend(body)
    t.send(*["Down"] * (len(body) - 1))  # the cursor to the last row shown: the next Down scrolls
    while sum(1 for r in rows_seen if GROUP.match(r)) < groups and time.monotonic() < deadline:
        t.send(*["Down"] * max(len(body) - 1, 1))
        moved = time.monotonic() + 5
        new = body
        while time.monotonic() < moved and new == body:
            time.sleep(0.05)
            new = group_rows(pane(t.screen(), "Evidence"))
        if new == body:
            break  # the end of the list
        alive(t)
        overlap = max((k for k in range(1, min(len(new), len(rows_seen)) + 1) if rows_seen[-k:] == new[:k]),
                      default=0)
        rows_seen.extend(new[overlap:])
        body = new
    seen = [(m.group(3), int(m.group(2).replace(",", ""))) for r in rows_seen if (m := GROUP.match(r))]
    assert len(seen) == groups, f"{len(seen)} group rows seen of {groups}:\n" + "\n".join(rows_seen)
    shown: Counter = Counter()
    for etype, count in seen:
        if etype not in per_type:  # cut at the pane's edge (80 columns): the one type it begins
            whole = [full for full in per_type if full.startswith(etype)]
            etype = whole[0] if len(whole) == 1 else etype
        shown[etype] += count
    assert sum(shown.values()) == total
    assert shown == per_type


# ------------------------------------------------------------------ grouped counts
GROUPED = [
    ("slips-1.1.21/test9-mixed-zeek-dir", "10.0.2.15", "timewindow1"),
    ("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01", "10.0.2.15", "timewindow1"),
    ("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01", "192.168.1.15", "timewindow1"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dataset,ip,tw", GROUPED)
def test_grouped_counts_equal_the_exports_per_type_counts(redis_server, dataset, ip, tw, size):
    path = needs_fixture(dataset)
    load_keys_json(redis_server, path)
    manifest = json.loads((path / "manifest.json").read_text())
    expected_tw = next(w for p in manifest["profiles"] if p["ip"] == ip for w in p["timewindows"] if w["name"] == tw)
    assert expected_tw["malicious"]
    flows_db = flows_db_of(path)
    export = export_window(redis_server, ip, tw, flows_db)
    per_type = Counter(e["evidence_type"] for e in export["evidence"])
    assert len(export["evidence"]) == expected_tw["evidence"]
    cols, rows = size
    t = board(redis_server, *(["--flows-db", flows_db] if flows_db else []), cols=cols, rows=rows)
    try:
        screen = open_window(t, ip, tw, len(manifest["profiles"]))
        head = HEAD.search(screen)
        assert head, screen
        total, groups, alerts = (int(g.replace(",", "")) for g in head.groups())
        assert total == len(export["evidence"]) == expected_tw["evidence"]
        assert alerts == len(export["alerts"]) == expected_tw["alerts"]
        focus_evidence(t)
        check_groups(t, groups, total, per_type)

        # the alerts line expands to one line per alert, each on the export's evidence ids
        t.send("Home")
        wait_until(t, lambda s: re.search(r"[+-] [\d,]+ alerts? raised on", "\n".join(pane(s, "Evidence"))),
                   "the alerts line")
        t.send("Enter")
        fired = wait_until(t, lambda s: [r for r in pane(s, "Evidence") if re.match(r"\s+[+-] alert ", r)],
                           "alert lines")
        visible = len(pane(t.screen(), "Evidence")) - 2
        assert len(fired) == min(alerts, visible)
        on = [int(m.group(1).replace(",", "")) for r in fired if (m := re.search(r"on ([\d,]+) evidence", r))]
        if cols >= 120:
            assert len(on) == len(fired), fired
        ids = sorted(len(a["evidence_ids"]) for a in export["alerts"])
        assert set(on) <= set(ids), (on, ids)
        t.send("Enter")  # fold it again
        wait_until(t, lambda s: not [r for r in pane(s, "Evidence") if re.match(r"\s+[+-] alert ", r)],
                   "the alerts folded")

        # a group expands to exactly its ×N items (the first group whose items fit in the pane)
        body = pane(t.screen(), "Evidence")
        room = len(body) - 3
        rows_ = [r.strip(" ") for r in body]
        target = next((i for i, r in enumerate(rows_)
                       if (m := GROUP.match(r)) and 1 < int(m.group(2).replace(",", "")) <= room), None)
        if target is None:
            target = next(i for i, r in enumerate(rows_) if GROUP.match(r))
        count = int(GROUP.match(rows_[target]).group(2).replace(",", ""))
        # the cursor is on the alerts line (row 1, under the head): go to the target row
        t.send(*["Down"] * (target - 1))
        t.send("Enter")

        def items_under(screen: str):
            body = pane(screen, "Evidence")
            idx = next((i for i, r in enumerate(body) if r.strip(" ").startswith("-") and GROUP.match(r.strip(" "))),
                       None)
            if idx is None:
                return None
            n = 0
            for r in body[idx + 1:]:
                if GROUP.match(r.strip(" ")) or not r.strip():
                    break
                n += 1
            return (idx, n)

        idx, n = wait_until(t, items_under, "an expanded group")
        assert n == min(count, len(pane(t.screen(), "Evidence")) - idx - 1)
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ detail box
def detail_field(screen: str, label: str) -> str:
    """A field of the detail box, its wrapped lines joined."""
    rows = screen.splitlines()
    for i, row in enumerate(rows):
        m = re.search(r"│" + re.escape(label) + r":?(\s{2,})", row)
        if not m:
            continue
        left = m.start()
        value_col = m.end()
        right = row.index("│", value_col)
        parts = [row[value_col:right].strip()]
        for r in rows[i + 1:]:
            if len(r) <= value_col or r[left] != "│" or r[left + 1:value_col].strip():
                break
            piece = r[value_col:right].strip()
            if not piece:
                break
            parts.append(piece)
        return " ".join(parts)
    raise AssertionError(f"no field {label!r} in the detail box:\n{screen}")


def squeeze(text: str) -> str:
    return "".join(text.split())


def open_first_evidence_detail(t: Tmux) -> str:
    focus_evidence(t)
    t.send("Home", "Down")  # the first group, under the alerts line
    t.send("Enter")
    wait_until(t, lambda s: any(r.strip(" ").startswith("-") and GROUP.match(r.strip(" "))
                                for r in pane(s, "Evidence")), "an expanded group")
    t.send("Down", "Enter")
    return t.wait_for("description", "Esc close")


def evidence_by_id(server, ip: str, tw: str, flows_db: str | None = None) -> dict:
    data = open_slips(ConnectionSettings(port=server.port, cache_url=f"redis://127.0.0.1:{server.port}/1"),
                      flows_db=flows_db)
    try:
        return {e.id: e for e in data.evidence(ip, tw)}
    finally:
        data.close()


def test_long_description_readable_in_full_on_a_real_fixture(redis_server):
    path = needs_fixture("slips-1.1.21/test9-mixed-zeek-dir")
    load_keys_json(redis_server, path)
    t = board(redis_server, "--flows-db", flows_db_of(path), cols=80, rows=24)
    try:
        open_window(t, "10.0.2.15", "timewindow1", 109)
        screen = open_first_evidence_detail(t)
        ident = detail_field(screen, "id")
        evidence = evidence_by_id(redis_server, "10.0.2.15", "timewindow1")[ident]
        assert len(evidence.description) > 48, "pick an evidence longer than the pane"  # wider than the pane
        assert squeeze(detail_field(screen, "description")) == squeeze(evidence.description)
        assert detail_field(screen, "type") == evidence.evidence_type
        t.send("f")  # the flows behind it, and what they are
        t.wait_for("Why:")
        t.send("Escape")
        t.wait_for("Esc close", absent=True)
        alive(t)
    finally:
        t.close()


LONG = ("an evidence description far longer than any pane at 80x24: the host contacted "
        "https://very-long-subdomain.of-a-suspicious.example.com/path/to/payload?id=0123456789abcdef "
        "forty-two times in an hour, each time with the same user agent and a payload of 1337 bytes, "
        "which Slips reads as a beacon to a command and control server; the last word is ZEBRA-END")


def test_long_description_readable_in_full_on_the_demo(redis_server, tmp_path):
    c0, c1 = redis_server.client(0), redis_server.client(1)
    c0.flushall()
    result = generate(c0, c1, str(tmp_path), Scenario(hosts=8, hours=2))
    ip, tw = next((i, w) for i, w in result.malicious if i == BEACON_HOST)
    key = f"profile_{ip}_{tw}_evidence"
    assert c0.type(key) == b"hash"
    for eid, raw in c0.hgetall(key).items():
        ev = json.loads(raw)
        ev["description"] = f"{ev.get('description', '')} — {LONG}"
        c0.hset(key, eid, json.dumps(ev))
    t = board(redis_server, "--flows-db", result.flows_db, cols=80, rows=24)
    try:
        open_window(t, ip, tw, result.profiles)
        screen = open_first_evidence_detail(t)
        shown = detail_field(screen, "description")
        assert "ZEBRA-END" in screen
        assert all(len(r) <= 80 for r in screen.splitlines())
        ident = None
        for _ in range(30):  # the fields below it: scroll the box down to the id
            ident = re.search(r"│id:?\s{2,}([0-9a-f-]{36})", t.screen())
            if ident:
                break
            t.send("Down")
            time.sleep(0.1)
        assert ident, t.screen()
        evidence = evidence_by_id(redis_server, ip, tw)[ident.group(1)]
        assert LONG in evidence.description
        assert squeeze(shown) == squeeze(evidence.description)
        t.send("Escape")
        t.wait_for("Esc close", absent=True)
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ threat first
def add_benign(client, n: int) -> list[str]:
    """``n`` benign profiles that sort before every demo host by IP (10.0.0.x)."""
    ips = [f"10.0.0.{i}" for i in range(1, n + 1)]
    for i, ip in enumerate(ips):
        client.zadd("profiles", {f"profile_{ip}": 1795852800.0 + i})
        client.zadd(f"twsprofile_{ip}", {"timewindow1": 1795852800.0})
        line = {"timestamp": "2026/11/28 08:00:10", "daddr": "9.9.9.9", "dport/proto": "53/UDP",
                "state": "Established", "preposition": "to", "dport_name": "DNS"}
        client.zadd(f"profile_{ip}_timewindow1_timeline", {json.dumps(line): 1795852810.0})
    return ips


def test_threat_first_with_60_benign_hosts_on_the_demo(redis_server, tmp_path):
    c0 = redis_server.client(0)
    c0.flushall()
    result = generate(c0, redis_server.client(1), str(tmp_path), Scenario(hosts=10, hours=2))
    add_benign(c0, 60)
    t = board(redis_server, cols=80, rows=24)
    try:
        t.wait_for(f"Profiles ({result.profiles + 60})")
        screen = t.wait_for("marks loading", absent=True)
        tree = "\n".join(pane(screen, "Profiles"))
        for host in {ip for ip, _ in result.malicious} | {BEACON_HOST, SCANNER_HOST}:
            assert re.search(r"[+-]!" + re.escape(host) + " ", tree), f"{host} is not on the first screen:\n{screen}"
        assert "10.0.0.60 " not in tree  # benign hosts come after them
        alive(t)
    finally:
        t.close()


@pytest.mark.parametrize("size", SIZES)
def test_threat_first_on_a_real_fixture(redis_server, size):
    path = needs_fixture("slips-1.0.1/test9-mixed-zeek-dir-threshold0.01")
    load_keys_json(redis_server, path)
    manifest = json.loads((path / "manifest.json").read_text())
    malicious = [p["ip"] for p in manifest["profiles"] if any(w["malicious"] for w in p["timewindows"])]
    assert "192.168.1.240" in malicious  # by IP it is far below the first screen
    cols, rows = size
    t = board(redis_server, cols=cols, rows=rows)
    try:
        t.wait_for(f"Profiles ({len(manifest['profiles'])})")
        screen = t.wait_for("marks loading", absent=True)
        tree = pane(screen, "Profiles")
        shown = [r for r in tree if re.match(r"[+-]!", r)]
        assert len(shown) == len(malicious), "\n".join(tree)
        for ip in malicious:
            assert any(re.match(r"[+-]!" + re.escape(ip) + " ", r) for r in tree), f"{ip}:\n{screen}"
        assert all(re.match(r"[+-]!", r) for r in tree[:len(malicious)]), "malicious hosts are not first"
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ the / prompt
@pytest.fixture
def generated(redis_server, tmp_path):
    c0 = redis_server.client(0)
    c0.flushall()
    return generate(c0, redis_server.client(1), str(tmp_path), Scenario(hosts=12, hours=2))


def bottom(screen: str) -> str:
    lines = screen.splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("size", SIZES)
def test_filter_prompt_visible_and_esc_restores_the_tree(redis_server, generated, size):
    cols, rows = size
    t = board(redis_server, cols=cols, rows=rows)
    try:
        t.wait_for(f"Profiles ({generated.profiles})")
        t.wait_for("marks loading", absent=True)
        # the threat strips of the rows now on top arrive a moment after the marks: wait until the
        # tree stops changing, then compare against it
        tree_before, deadline = None, time.monotonic() + 10
        while time.monotonic() < deadline:
            now = pane(t.screen(), "Profiles")
            if now == tree_before:
                break
            tree_before = now
            time.sleep(0.5)
        t.send("/")
        wait_until(t, lambda s: "filter: _" in bottom(s), "the empty prompt on the bottom line")
        for typed in ("k", "ka", "kal"):  # visible after every key, not only after Enter
            t.type(typed[-1])
            wait_until(t, lambda s, typed=typed: f"filter: {typed}_" in bottom(s), f"'filter: {typed}_'")
        assert "Esc" in bottom(t.screen())
        t.send("Escape")
        screen = wait_until(t, lambda s: "filter:" not in bottom(s) and f"Profiles ({generated.profiles})" in s and s,
                            "the prompt gone and the whole tree back")
        assert pane(screen, "Profiles") == tree_before

        # with a filter applied, Esc in a new prompt keeps the applied one
        t.filter("kali")
        t.wait_for("Profiles (1)", SCANNER_HOST)
        t.send("/")
        wait_until(t, lambda s: "filter: kali_" in bottom(s), "the prompt holding the applied filter")
        t.send("BSpace", "BSpace", "BSpace", "BSpace")
        t.type("192")
        wait_until(t, lambda s: "filter: 192_" in bottom(s), "'filter: 192_'")
        t.send("Escape")
        screen = wait_until(t, lambda s: "filter:" not in bottom(s) and "Profiles (1)" in s and s,
                            "the applied filter restored")
        assert SCANNER_HOST in "\n".join(pane(screen, "Profiles"))
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ help bar
def view_names() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "kalipso", "views"], capture_output=True, text=True, timeout=60)
    names = {}
    for row in out.stdout.splitlines():
        m = re.match(r"^([A-Za-z])\s+(\S+)\s", row)
        if m:
            names[m.group(1)] = m.group(2)
    assert names, out.stdout + out.stderr
    return names


@pytest.mark.parametrize("cols,rows", [(80, 24), (120, 40), (100, 30), (160, 40), (240, 50)])
def test_help_bar_never_shows_half_a_view_name(redis_server, generated, cols, rows):
    names = view_names()
    t = board(redis_server, cols=cols, rows=rows)
    try:
        t.wait_for(f"Profiles ({generated.profiles})")
        for keys in ((), ("n",), ("Tab",)):  # the board, a window open, another pane focused
            t.send(*keys)
            screen = t.wait_for("marks loading", absent=True)
            bar = bottom(screen)
            assert len(bar) <= cols
            words = bar.split()
            assert words, screen
            full_names = set(names.values())
            for word in words:
                key, _, name = word.partition(":")
                if key in names and name:
                    assert name == names[key], f"{word!r} in the help bar at {cols} columns: {bar!r}"
                shown = name or word
                assert not (len(shown) >= 3 and shown not in full_names
                            and any(full.startswith(shown) for full in full_names)), \
                    f"half a view name {word!r} at {cols} columns: {bar!r}"
            bare_keys = [w for w in words if w in names]
            named = [w for w in words if w.partition(":")[0] in names and w.partition(":")[2]]
            assert bare_keys or named, f"no view keys in the help bar: {bar!r}"
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ timeline detail
@pytest.mark.parametrize("runs", [pytest.param(True, id="runs"),
                                  pytest.param(False, id="every-line")])
def test_enter_on_a_timeline_line_opens_its_detail(redis_server, generated, runs):
    t = board(redis_server, "--flows-db", generated.flows_db, cols=80, rows=24)
    try:
        ip, tw = next((i, w) for i, w in generated.malicious if i == BEACON_HOST)
        open_window(t, ip, tw, generated.profiles)
        if not runs:
            t.send("c")
            t.wait_for("every timeline line shown")
        t.send("Tab")
        screen = t.wait_for("▶ Timeline")
        first = pane(screen, "Timeline")[0]
        run = re.match(r"×(\d+) ", first)
        assert bool(run) == runs, first  # the beacon's connections fold into one run
        t.send("Enter")  # the first line: in runs, the beacon's run
        screen = wait_until(t, lambda s: ("Esc close" in s or "internal error" in s) and s, "the detail box",
                            timeout=8)
        assert "internal error" not in screen, screen
        assert re.search(r"│destination:?\s+\d+\.\d+\.\d+\.\d+", screen), screen
        if runs:
            assert re.search(rf"repeated:?\s+×{run.group(1)}\b", screen), screen
        t.send("Escape")
        t.wait_for("Esc close", absent=True)
        alive(t)
    finally:
        t.close()


# ------------------------------------------------------------------ paging the evidence pane
def test_page_down_in_the_evidence_pane_shows_every_row(redis_server):
    path = needs_fixture("slips-1.1.21/test9-mixed-zeek-dir")
    load_keys_json(redis_server, path)
    t = board(redis_server, cols=80, rows=24)
    try:
        open_window(t, "10.0.2.15", "timewindow1", 109)
        focus_evidence(t)
        # the rows in order, one Down at a time (the pane scrolls a row at a time at its bottom)
        body = group_rows(pane(t.screen(), "Evidence"))
        order = list(body)
        t.send(*["Down"] * (len(body) - 1))
        while len(order) < 3 * len(body) + 2:
            t.send("Down")
            new = wait_until(t, lambda s, last=order[-1]: (b := group_rows(pane(s, "Evidence"))) and b[-1] != last
                             and b, "the pane scrolled by a row")
            order.append(new[-1])
        # the same rows, a page at a time
        t.send("Home")
        paged = wait_until(t, lambda s: (b := group_rows(pane(s, "Evidence"))) and b[0] == order[0] and b,
                           "the top of the pane")
        shown = list(paged)
        pages = 0
        for _ in range(8):  # the first PgDn may move only the cursor, to the bottom of the page
            t.send("NPage")
            deadline = time.monotonic() + 3
            new = paged
            while time.monotonic() < deadline and new == paged:
                time.sleep(0.05)
                new = group_rows(pane(alive(t), "Evidence"))
            if new != paged:
                shown.extend(new)
                paged = new
                pages += 1
            if pages >= 3:
                break
        assert pages >= 2, "PgDn does not page the evidence pane"
        last = order.index(shown[-1]) if shown[-1] in order else len(order) - 1
        missing = [r for r in order[:last + 1] if r not in shown]
        assert not missing, f"PageDown never showed {missing}"
    finally:
        t.close()


@pytest.fixture
def thousand_alike(redis_server, tmp_path):
    """The demo's malicious window of the beacon host, plus 1,200 evidence of one (type, target)."""
    c0 = redis_server.client(0)
    c0.flushall()
    result = generate(c0, redis_server.client(1), str(tmp_path), Scenario(hosts=8, hours=2))
    ip, tw = next((i, w) for i, w in result.malicious if i == BEACON_HOST)
    key = f"profile_{ip}_{tw}_evidence"
    template = next(json.loads(v) for v in c0.hvals(key) if json.loads(v).get("evidence_type") == "UNKNOWN_PORT")
    extra = {}
    for i in range(1200):
        ev = dict(template, id=f"00000000-0000-4000-8000-{i:012d}")
        extra[ev["id"]] = json.dumps(ev)
    c0.hset(key, mapping=extra)
    export = export_window(redis_server, ip, tw, result.flows_db)
    return result, ip, tw, export


@pytest.mark.parametrize("size", SIZES)
def test_grouped_counts_on_the_demo_with_a_thousand_alike(redis_server, thousand_alike, size):
    result, ip, tw, export = thousand_alike
    per_type = Counter(e["evidence_type"] for e in export["evidence"])
    assert per_type["UNKNOWN_PORT"] >= 1201
    cols, rows = size
    t = board(redis_server, "--flows-db", result.flows_db, cols=cols, rows=rows)
    try:
        screen = open_window(t, ip, tw, result.profiles)
        total, groups, alerts = (int(g.replace(",", "")) for g in HEAD.search(screen).groups())
        assert total == len(export["evidence"]) and alerts == len(export["alerts"])
        focus_evidence(t)
        check_groups(t, groups, total, per_type)
    finally:
        t.close()


def test_a_four_digit_group_count_is_apart_from_its_type(redis_server, thousand_alike):
    result, ip, tw, export = thousand_alike
    count = sum(1 for e in export["evidence"] if e["evidence_type"] == "UNKNOWN_PORT")
    t = board(redis_server, "--flows-db", result.flows_db, cols=80, rows=24)
    try:
        screen = open_window(t, ip, tw, result.profiles)
        row = next(r for r in pane(screen, "Evidence") if "UNKNOWN_PORT" in r)
        assert re.search(rf"×{count}\s+UNKNOWN_PORT", row) or re.search(rf"×{count:,}\s+UNKNOWN_PORT", row), \
            f"the count runs into the type: {row!r}"
    finally:
        t.close()
