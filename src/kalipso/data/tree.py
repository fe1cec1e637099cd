"""Reads for the profile tree in slices, so that the board paints before the database is read.

The board needs three things of every profile, at very different costs on a large database:

* the names (one ZRANGE / SMEMBERS): enough to draw the first screen;
* the details of the rows on screen (host name, window count, threat level): a few commands
  per visible row;
* global facts (every malicious mark, every threat level and host name, for the threat order,
  the n/b jumps and the filter): one SCAN plus one HMGET per profile, read in the background.

Per-profile data stays compact: plain dicts of the few profiles that have a value, not one
object per profile.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from kalipso.data import parse
from kalipso.data.access import SlipsData, guarded
from kalipso.data.models import threat_rank

# positions in the HMGET of a profile hash; SlipsData._host_names reads [3] (MAC) and [4]
PROFILE_FIELDS = ("threat_level", "max_threat_level", "duration", "MAC", "host_name")


@dataclass(frozen=True, slots=True)
class ProfileDetail:
    """What a visible tree row shows beside the IP."""

    host_name: str | None = None
    window_count: int = 0
    threat_level: str | None = None


@dataclass(frozen=True)
class TreeFacts:
    """Facts about every profile, read in the background after the first screen."""

    threat: dict[str, int] = field(default_factory=dict)  # ip -> threat rank, only ranks > 0
    host_names: Mapping[str, str] = field(default_factory=dict)  # only profiles that have one
    marks: dict[str, dict[str, int]] = field(default_factory=dict)  # ip -> {malicious window: alerts}


@guarded
def profile_count(data: SlipsData) -> int:
    """How many profiles Slips lists (one ZCARD or SCARD): a cheap test for a changed tree."""
    kind = parse.decode(data.r.type("profiles"))
    if kind == "zset":
        return int(data.r.zcard("profiles"))
    if kind == "set":
        return int(data.r.scard("profiles"))
    return 0


# Large reads as one read-only Lua script each (EVAL_RO, Redis 7+), answered as one JSON
# text: redis-py parses a reply of 100,000 elements in Python (0.3-0.5 s for the profile names,
# ~5 s for a field of every profile), one text costs one json.loads. Where scripts are not
# allowed (Redis < 7, an ACL user without @scripting) the reads go command by command as before.
# the number of members, a newline, then the members as they are: stripping 'profile_' in Lua
# (one string.sub per member) made the script ~60 % slower at 100,000 profiles (~95 against
# 150-200 ms); the prefix is taken off the JSON text instead (see profile_names)
_NAMES_LUA = """
local members
if ARGV[1] == 'zset' then members = redis.call('ZRANGE', KEYS[1], 0, -1)
else members = redis.call('SMEMBERS', KEYS[1]) end
if #members == 0 then return '0\\n[]' end
return #members .. '\\n' .. cjson.encode(members)
"""
# HMGET of profile_<ip> for each IP of ARGV[1] (one per line: one argument to encode, not
# thousands); a key of another type gives 0 (read again command by command, which logs it)
_HASHES_LUA = """
local out = {}
for ip in string.gmatch(ARGV[1], '[^\\n]+') do
  local v = redis.pcall('HMGET', 'profile_' .. ip, unpack(ARGV, 2))
  if type(v) == 'table' and v.err then
    out[#out + 1] = 0
  else
    for j = 1, #ARGV - 1 do if v[j] == false then v[j] = cjson.null end end
    out[#out + 1] = v
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
"""
_LUA_KEYS = 2000  # profiles per script: Redis is busy ~20 ms per call, Slips waits no longer
_NO_LUA: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _lua_text(data: SlipsData, script: str, keys: list[str], args: list[str]) -> str | None:
    """The script's answer as text, or None when scripts cannot run here (then the caller reads
    command by command). Lost connections and timeouts are raised as by any read."""
    if _NO_LUA.get(data.r):
        return None
    try:
        raw = data.r.execute_command("EVAL_RO", script, len(keys), *keys, *args)
    except redis.ResponseError as exc:
        text = str(exc).lower()
        if "unknown command" in text or "noperm" in text or "permission" in text or "disabled" in text:
            _NO_LUA[data.r] = True
        return None
    return parse.decode(raw)


def _lua(data: SlipsData, script: str, keys: list[str], args: list[str]) -> Any:
    """The script's JSON answer, or None (see _lua_text)."""
    text = _lua_text(data, script, keys, args)
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def _strip_profile_prefix(text: str) -> list[str] | None:
    """The members of a JSON array that all start with 'profile_', without it, parsed once.

    A quote inside a JSON string is escaped, so ',"profile_' occurs only where a member
    starts: when it occurs once less than there are members and the text starts with
    '["profile_', every member starts so. Taking the prefix off the text spares 100,000
    temporary strings (and the holes they leave in the heap between the names kept)."""
    count, _, members = text.partition("\n")
    if not count.isdigit() or not members.startswith('["profile_') \
            or members.count(',"profile_') != int(count) - 1:
        return None
    try:
        ips = json.loads('["' + members[len('["profile_'):].replace(',"profile_', ',"'))
    except ValueError:
        return None
    return ips if isinstance(ips, list) and len(ips) == int(count) else None


@guarded
def profile_names(data: SlipsData) -> list[str]:
    """Every profile's IP, sorted as text (the board sorts them by address)."""
    kind = parse.decode(data.r.type("profiles"))
    if kind in ("zset", "set"):
        text = _lua_text(data, _NAMES_LUA, ["profiles"], [kind])
        ips = _strip_profile_prefix(text) if text is not None else None
        if ips is None and text is not None:  # a member without the prefix: the long way
            try:
                members = json.loads(text.partition("\n")[2])
            except ValueError:
                members = None
            if isinstance(members, list):
                ips = [m[8:] for m in members if isinstance(m, str) and m.startswith("profile_")]
        if ips is not None and all(isinstance(ip, str) for ip in ips):
            # members are unique; only bytes that are not UTF-8, read as U+FFFD, can make two alike.
            # Sorted as text (C compares, ~20 ms): the board's sort by address then finds runs
            # instead of the order Slips lists them in, and holds the GIL ~20 ms, not ~250 ms.
            return sorted(set(ips)) if any("\ufffd" in ip for ip in ips) else sorted(ips)
    return data._profile_ips()


def _hashes(data: SlipsData, ips: list[str]) -> list[list[Any]]:
    if len(ips) > 200 and not any("\n" in ip or not ip for ip in ips):
        found: list[Any] = []
        for start in range(0, len(ips), _LUA_KEYS):
            chunk = ips[start:start + _LUA_KEYS]
            answer = _lua(data, _HASHES_LUA, [], ["\n".join(chunk), *PROFILE_FIELDS])
            if not isinstance(answer, list) or len(answer) != len(chunk):
                break
            found.extend(answer)
        else:
            odd = [i for i, h in enumerate(found) if not isinstance(h, list) or len(h) != len(PROFILE_FIELDS)]
            for i, h in zip(odd, _hashes_by_command(data, [ips[i] for i in odd]), strict=True):
                found[i] = h
            return found
    return _hashes_by_command(data, ips)


def _hashes_by_command(data: SlipsData, ips: list[str]) -> list[list[Any]]:
    results = data._batched((lambda p, ip=ip: p.hmget(f"profile_{ip}", PROFILE_FIELDS)) for ip in ips)
    return [r if isinstance(r, list) else [None] * len(PROFILE_FIELDS) for r in results]


def _level(h: list[Any]) -> str | None:
    return parse.decode(h[1] or h[0]) or None


@guarded
def profile_details(data: SlipsData, ips: list[str]) -> dict[str, ProfileDetail]:
    """Host name, number of time windows and threat level of a few profiles (the visible rows)."""
    if not ips:
        return {}
    hashes = _hashes(data, ips)
    counts = data._batched((lambda p, ip=ip: p.zcard(f"twsprofile_{ip}")) for ip in ips)
    names = data._host_names(ips, hashes)
    return {ip: ProfileDetail(names.get(ip), int(n) if isinstance(n, int) else 0, _level(h))
            for ip, h, n in zip(ips, hashes, counts, strict=True)}


@guarded
def malicious_marks(data: SlipsData) -> dict[str, dict[str, int]]:
    """ip -> {time window: number of alerts} of the windows with an alert or blocked (one SCAN)."""
    keys = data._timewindow_hashes()
    values = data._batched((lambda p, k=k: p.hget(k, "alerts")) for k in keys)
    marks: dict[str, dict[str, int]] = {ip: dict.fromkeys(tws, 0) for ip, tws in data._blocked().items() if tws}
    for key, value in zip(keys, values, strict=True):
        match = data._TW_HASH.match(key)
        count = len(parse.alert_ids(value)) if match and value else 0
        if count:
            marks.setdefault(match.group(1), {})[match.group(2)] = count
    return marks


@guarded
def tree_facts(data: SlipsData, ips: list[str]) -> TreeFacts:
    """Threat levels, host names and malicious marks of every profile.

    Read in slices of profiles, keeping only what the facts hold: the fields of 100,000
    profile hashes at once would add ~30 MB to the program's peak memory."""
    threat: dict[str, int] = {}
    parts: list[dict[str, str]] = []
    for start in range(0, len(ips), _LUA_KEYS):
        chunk = ips[start:start + _LUA_KEYS]
        hashes = _hashes(data, chunk)
        for ip, h in zip(chunk, hashes, strict=True):
            rank = threat_rank(_level(h))
            if rank > 0:
                threat[ip] = rank
        names = data._host_names(chunk, hashes)
        if not parts or names is not parts[-1]:  # current Slips answers with one dict for all
            parts.append(names)
    host_names = parts[0] if len(parts) == 1 else {ip: name for part in parts for ip, name in part.items()}
    return TreeFacts(threat=threat, host_names=host_names, marks=malicious_marks(data))


_THREAT = re.compile(rb'threat_level\W{1,6}(critical|high|medium|low|info)', re.IGNORECASE)
STRIP_WINDOWS = 48  # the newest windows of a profile that its threat strip covers


@guarded
def window_threats(data: SlipsData, ips: list[str]) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    """ip -> (its newest time windows, oldest first; {window: worst threat level of its evidence}).

    For the threat strip of the visible rows. Threat levels are found in the raw evidence
    values without parsing each JSON document: a window with 1,600 evidence costs one read."""
    out: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
    windows = data._batched((lambda p, ip=ip: p.zrange(f"twsprofile_{ip}", -STRIP_WINDOWS, -1)) for ip in ips)
    for ip, names in zip(ips, windows, strict=True):
        names = tuple(parse.decode(n) for n in names or ())
        worst: dict[str, str] = {}
        for tw in names:
            best = -1
            for _, value in data._evidence_raw(ip, tw):
                raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
                for level in _THREAT.findall(raw):
                    rank = threat_rank(level.decode().lower())
                    if rank > best:
                        best = rank
                        worst[tw] = level.decode().lower()
        out[ip] = (names, worst)
    return out
