"""Replay a real Slips fixture (keys.json) into an empty Redis in the order Slips writes it.

Slips writes its database over the whole analysis; Kalipso reads it meanwhile. This helper
rebuilds a fixture step by step, paced over ``duration`` seconds, in Slips' order:

1. metadata: the ``analysis`` hash (``slips_version``, without ``analysis_end``), start time,
   module bookkeeping;
2. the IP-info cache (db 1), in chunks;
3. profiles (``profiles`` set/zset members in first-seen order, with their ``profile_<ip>`` hash);
4. time windows in time order (``twsprofile_<ip>`` member), each followed by its timeline, tuples
   and other per-window data in chunks;
5. evidence gradually, window by window in time order, and each alert right after the last of
   its evidence (the ``alerts`` field grows alert by alert; the last write is Slips' own string);
6. counters, ``accumulated_threat_levels``, classic ``alerts``/``ClosedTW``, ``analysis_end``.

It ends with exactly the fixture's keys and values (TTLs are ignored). Works for the current
(1.1.21), middle (1.1.16) and classic (1.0.1) fixtures. Time is shared by phase (``offsets``):
with duration=8: profiles from 0.8 s, windows from 2 s, evidence and alerts from 4.8 s to 7.6 s.

    replay = Replay(server.client(0), server.client(1), dataset, duration=8.0)
    thread = replay.run_in_thread(stop_event)   # or replay.run(stop_event)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

# (db, method, args, kwargs)
Command = tuple[int, str, tuple, dict]

TW_KEY = re.compile(
    r"^(?P<pre>processed_evidence_|requested_DHCP_addrs:)?profile_(?P<ip>.+?)_(?P<tw>timewindow-?\d+)"
    r"(?P<rest>(?:[_:].*)?)$")
EVIDENCE_GLOBALS = {"flows_causing_evidence", "whitelisted_evidence", "Evidence", "processed_evidence"}
LATE = {"number_of_alerts", "number_of_evidence", "accumulated_threat_levels", "ClosedTW", "BlockedProfTW",
        "alerts", "malicious_profiles"}


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _loads(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _write_key(key: str, entry: dict, chunk: int, db: int = 0) -> list[list[Command]]:
    """Steps that write one whole key in chunks (members of a zset in score order)."""
    kind, value = entry["type"], entry["value"]
    if not value and kind != "string":
        return []
    if kind == "string":
        return [[(db, "set", (key, value), {})]]
    if kind == "hash":
        return [[(db, "hset", (key,), {"mapping": dict(part)})] for part in _chunks(list(value.items()), chunk)]
    if kind == "zset":
        ordered = sorted(value, key=lambda m: (m[1], m[0]))
        return [[(db, "zadd", (key, {m: s for m, s in part}), {})] for part in _chunks(ordered, chunk)]
    if kind == "set":
        return [[(db, "sadd", (key, *part), {})] for part in _chunks(list(value), chunk)]
    if kind == "list":
        return [[(db, "rpush", (key, *part), {})] for part in _chunks(list(value), chunk)]
    return []  # a type keys.json cannot carry (stream, module): not replayed, not expected


def _growing(final: str, keys: list[str], upto: int) -> str:
    """The JSON object ``final`` restricted to its first ``upto`` of ``keys`` (the whole
    original string once every key is in)."""
    obj = _loads(final)
    if not isinstance(obj, dict) or upto >= len(keys):
        return final
    return json.dumps({k: obj[k] for k in keys[:upto] if k in obj})


class Replay:
    """A fixture's keys.json, as the steps Slips would have written it in."""

    def __init__(self, db0: redis.Redis, db1: redis.Redis | None, dataset: str | Path,
                 duration: float = 8.0, chunk: int = 25) -> None:
        self.db0, self.db1 = db0, db1
        self.dataset = Path(dataset)
        self.duration = duration
        self.chunk = chunk
        with open(self.dataset / "keys.json", encoding="utf-8") as f:
            self.dump: dict[str, dict[str, dict]] = json.load(f)
        self.steps: list[tuple[str, list[Command]]] = []
        self.done = 0  # steps written
        self.phase = ""  # of the last step written
        self.alerts_written = 0
        self._build()

    # ------------------------------------------------------------------ plan
    def _add(self, phase: str, steps: list[list[Command]]) -> None:
        self.steps.extend((phase, s) for s in steps if s)

    def _build(self) -> None:
        db0 = dict(self.dump.get("0", {}))
        meta, profiles, windows, per_tw, evidence_profiles, evidence_globals, late = {}, {}, {}, {}, {}, {}, {}
        for key, entry in db0.items():
            match = TW_KEY.match(key)
            if match:
                per_tw.setdefault((match["ip"], match["tw"]), {})[key] = entry
            elif key.startswith("twsprofile_"):
                windows[key] = entry
            elif key == "profiles" or key.startswith("profile_"):
                profiles[key] = entry
            elif key.startswith("evidenceprofile_"):
                evidence_profiles[key] = entry
            elif key in EVIDENCE_GLOBALS:
                evidence_globals[key] = entry
            elif key in LATE:
                late[key] = entry
            else:
                meta[key] = entry
        # 1. metadata: the analysis hash first, without the end of the analysis
        analysis = dict(meta.pop("analysis", {"type": "hash", "value": {}})["value"])
        analysis_end = analysis.pop("analysis_end", None)
        self._add("metadata", [[(0, "hset", ("analysis",), {"mapping": analysis})]] if analysis else [])
        for key in ("slips_start_time", "mode"):
            if key in meta:
                self._add("metadata", _write_key(key, meta.pop(key), self.chunk))
        for key in sorted(meta):
            self._add("metadata", _write_key(key, meta[key], 500))
        # 2. the IP-info cache
        for key in sorted(self.dump.get("1", {})):
            self._add("cache", _write_key(key, self.dump["1"][key], self.chunk * 4, db=1))
        # 3. profiles in first-seen order, each with its hash
        entry = profiles.pop("profiles", None)
        order: list[str] = []
        if entry and entry["type"] == "zset":
            order = [m for m, _ in sorted(entry["value"], key=lambda m: (m[1], m[0]))]
        elif entry:
            order = sorted(entry["value"])
        for part in _chunks(order, 10):
            step: list[Command] = []
            for member in part:
                score = dict(entry["value"]).get(member) if entry["type"] == "zset" else None
                step.append((0, "zadd", ("profiles", {member: score}), {}) if score is not None
                            else (0, "sadd", ("profiles", member), {}))
                hashed = profiles.pop(member, None)
                if hashed and hashed["value"]:
                    step.append((0, "hset", (member,), {"mapping": hashed["value"]}))
            self._add("profiles", [step])
        for key in sorted(profiles):  # profile hashes without a member in 'profiles'
            self._add("profiles", _write_key(key, profiles[key], self.chunk))
        # 4. time windows in time order, with their data in chunks
        tws = sorted(((score, key.removeprefix("twsprofile_"), member)
                      for key, entry in windows.items() for member, score in entry["value"]),
                     key=lambda t: (t[0], t[1], t[2]))
        listed = set()
        evidence_plan: list[tuple[str, str]] = []
        for score, ip, tw in tws:
            listed.add((ip, tw))
            step = [(0, "zadd", (f"twsprofile_{ip}", {tw: score}), {})]
            self._add("windows", [step])
            self._window_data(ip, tw, per_tw.get((ip, tw), {}))
            evidence_plan.append((ip, tw))
        for ip, tw in sorted(set(per_tw) - listed):  # keys of windows Slips no longer lists
            self._window_data(ip, tw, per_tw[(ip, tw)])
            evidence_plan.append((ip, tw))
        # 5. evidence gradually, each alert after its evidence
        for ip, tw in evidence_plan:
            self._evidence(ip, tw, per_tw.get((ip, tw), {}), evidence_profiles, evidence_globals, late)
        for key in sorted(evidence_profiles):
            self._add("evidence", _write_key(key, evidence_profiles[key], self.chunk))
        for key in sorted(evidence_globals):
            self._add("evidence", _write_key(key, evidence_globals[key], self.chunk))
        # 6. the rest, and the end of the analysis
        for key in sorted(late):
            self._add("end", _write_key(key, late[key], 500))
        if analysis_end is not None:
            self._add("end", [[(0, "hset", ("analysis", "analysis_end", analysis_end), {})]])

    def _window_data(self, ip: str, tw: str, keys: dict[str, dict]) -> None:
        for key in sorted(keys):
            entry = keys[key]
            if key.endswith("_evidence") or key.startswith("processed_evidence_"):
                continue  # evidence phase
            if key == f"profile_{ip}_{tw}" and entry["type"] == "hash":
                fields = {f: v for f, v in entry["value"].items() if f not in ("Evidence", "alerts")}
                if fields:
                    self._add("windows", _write_key(key, {"type": "hash", "value": fields}, self.chunk))
                continue
            self._add("windows", _write_key(key, entry, self.chunk))

    def _evidence(self, ip: str, tw: str, keys: dict[str, dict], evidence_profiles: dict[str, dict],
                  evidence_globals: dict[str, dict], late: dict[str, dict]) -> None:
        tw_hash_key = f"profile_{ip}_{tw}"
        tw_hash = keys.get(tw_hash_key, {}).get("value") or {}
        ev_key = f"{tw_hash_key}_evidence"
        items: dict[str, str] = dict(keys.get(ev_key, {}).get("value") or {})  # current, middle
        classic_final = tw_hash.get("Evidence")
        classic = _loads(classic_final) if classic_final else None
        if isinstance(classic, dict):
            items.update({k: v for k, v in classic.items() if k not in items})
        processed_key = f"processed_evidence_{tw_hash_key}"
        processed = set(keys.get(processed_key, {}).get("value") or [])
        alerts_final = tw_hash.get("alerts")
        alerts = _loads(alerts_final) if alerts_final else None
        alerts = alerts if isinstance(alerts, dict) else {}
        alert_ids = list(alerts)
        order: list[str] = []
        plan: list[tuple[str, str]] = []  # ("evidence", id) / ("alert", id)
        for alert in alert_ids:
            ids = _loads(alerts[alert])
            for eid in ids if isinstance(ids, list) else []:
                if eid in items and eid not in order:
                    order.append(eid)
                    plan.append(("evidence", eid))
            plan.append(("alert", alert))
        for eid in items:
            if eid not in order:
                order.append(eid)
                plan.append(("evidence", eid))
        profile_evidence = evidence_profiles.get(f"evidenceprofile_{ip}")
        written_evidence: list[str] = []
        written_alerts = 0
        step: list[Command] = []
        for what, ident in plan:
            if what == "evidence":
                written_evidence.append(ident)
                if ident in (keys.get(ev_key, {}).get("value") or {}):
                    step.append((0, "hset", (ev_key, ident, items[ident]), {}))
                if classic_final:
                    step.append((0, "hset", (tw_hash_key, "Evidence",
                                             _growing(classic_final, order, len(written_evidence))), {}))
                if ident in processed:
                    step.append((0, "sadd", (processed_key, ident), {}))
                if len(step) >= 3:
                    self._add("evidence", [step])
                    step = []
            else:
                written_alerts += 1
                self._add("evidence", [step] if step else [])
                step = []
                self._add("alert", [[(0, "hset", (tw_hash_key, "alerts",
                                                  _growing(alerts_final, alert_ids, written_alerts)), {})]])
        self._add("evidence", [step] if step else [])
        # what is left of this window's evidence keys (ids written elsewhere, other fields)
        rest: list[Command] = []
        if classic_final:
            rest.append((0, "hset", (tw_hash_key, "Evidence", classic_final), {}))
        if ev_key in keys and keys[ev_key]["value"]:
            rest.append((0, "hset", (ev_key,), {"mapping": keys[ev_key]["value"]}))
        if processed:
            rest.append((0, "sadd", (processed_key, *sorted(processed)), {}))
        if alerts_final is not None and not alert_ids:  # not a JSON object: Slips' value as it is
            rest.append((0, "hset", (tw_hash_key, "alerts", alerts_final), {}))
        if profile_evidence and tw in (profile_evidence["value"] or {}):  # classic: per profile, field per window
            rest.append((0, "hset", (f"evidenceprofile_{ip}", tw, profile_evidence["value"][tw]), {}))
        self._add("evidence", [rest])

    # ------------------------------------------------------------------- run
    @property
    def expected(self) -> dict[str, dict[str, dict]]:
        """{"0": {key: entry}, "1": {...}} of the keys the replay ends with (non-empty ones)."""
        kinds = ("string", "hash", "set", "zset", "list")
        return {db: {k: e for k, e in self.dump.get(db, {}).items()
                     if e["type"] in kinds and (e["value"] or e["type"] == "string")}
                for db in ("0", "1")}

    def write_step(self, commands: list[Command]) -> None:
        pipes = {0: self.db0.pipeline(transaction=False)}
        if self.db1 is not None:
            pipes[1] = self.db1.pipeline(transaction=False)
        for db, method, args, kwargs in commands:
            if db in pipes:
                getattr(pipes[db], method)(*args, **kwargs)
        for pipe in pipes.values():
            if len(pipe):
                pipe.execute()

    def offsets(self) -> list[float]:
        """When each step is written, in seconds from the start.

        Time goes to the phases a reader cares about, not to the size of the cache (a TI feed
        can be thousands of fields): metadata and cache share 10 % of ``duration``, profiles
        15 %, windows 35 %, evidence and alerts 35 %, the end 5 %, each spread evenly over its
        steps (a phase a dataset lacks gives its share to the others)."""
        weights = {"metadata": 0.05, "cache": 0.05, "profiles": 0.15, "windows": 0.35, "evidence": 0.35,
                   "end": 0.05}
        group = [("evidence" if phase == "alert" else phase) for phase, _ in self.steps]
        counts = {g: group.count(g) for g in set(group)}
        scale = sum(weights[g] for g in counts) or 1.0
        out, t = [], 0.0
        for g in group:
            out.append(t)
            t += self.duration * weights[g] / scale / counts[g]
        return out

    def run(self, stop: threading.Event | None = None) -> int:
        """Write every step, paced over ``duration`` (see offsets); returns the steps written."""
        stop = stop or threading.Event()
        began = time.monotonic()
        for i, ((phase, commands), offset) in enumerate(zip(self.steps, self.offsets(), strict=True)):
            due = began + offset
            if stop.wait(max(due - time.monotonic(), 0.0)):
                break
            self.write_step(commands)
            self.done, self.phase = i + 1, phase
            if phase == "alert":
                self.alerts_written += 1
        return self.done

    def run_in_thread(self, stop: threading.Event | None = None) -> threading.Thread:
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.run(stop)
            except BaseException as exc:  # reported to the test
                self.error = exc

        thread = threading.Thread(target=target, name="slips-replay", daemon=True)
        thread.start()
        return thread
