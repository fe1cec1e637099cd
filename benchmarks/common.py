"""Helpers for the benchmark scripts: a large generated database and timing/memory probes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

from kalipso.data.server import RedisServer
from kalipso.demo.generator import Scenario, generate

LARGE = Scenario(hosts=5000, hours=24, flows_per_hour=1, beacon=True, scanner=True)
# the seed analysis that profiles_database() clones up to the wanted number of profiles
SEED = Scenario(hosts=2000, hours=2, flows_per_hour=1, beacon=True, scanner=True)

# Server-side copy of seed profiles (KEYS: none; ARGV: first clone number, count, then the seed
# IPs). A clone copies the seed's profile hash, window list, and per window its timeline,
# evidence, alerts hash and OutTuples: everything the board reads, under the new IP.
CLONE = """
local first, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local seeds = {}
for i = 3, #ARGV do seeds[#seeds + 1] = ARGV[i] end
for n = first, first + count - 1 do
  local seed = seeds[(n % #seeds) + 1]
  local ip = '172.' .. (16 + math.floor(n / 65536)) .. '.' .. (math.floor(n / 256) % 256) .. '.' .. (n % 256)
  redis.call('COPY', 'profile_' .. seed, 'profile_' .. ip)
  redis.call('COPY', 'twsprofile_' .. seed, 'twsprofile_' .. ip)
  local score = redis.call('ZSCORE', 'profiles', 'profile_' .. seed)
  redis.call('ZADD', 'profiles', score, 'profile_' .. ip)
  for _, tw in ipairs(redis.call('ZRANGE', 'twsprofile_' .. seed, 0, -1)) do
    for _, suffix in ipairs({'_timeline', '_evidence', '', ':OutTuples:symbols', ':OutTuples:last_flow_ts'}) do
      redis.call('COPY', 'profile_' .. seed .. '_' .. tw .. suffix, 'profile_' .. ip .. '_' .. tw .. suffix)
    end
  end
end
return count
"""


@contextmanager
def large_database(scenario: Scenario = LARGE):
    """A private Redis holding a generated analysis of the given scale (and its flows file)."""
    out = tempfile.mkdtemp(prefix="kalipso-bench-")
    with RedisServer() as server:
        t0 = time.perf_counter()
        result = generate(server.client(0), server.client(1), out, scenario)
        built = time.perf_counter() - t0
        info = server.client(0).info("memory")
        print(f"database: {result.profiles} profiles, {result.timewindows} time windows, "
              f"{result.timeline_lines} timeline lines, {result.flows} flows, {result.alerts} alerts; "
              f"built in {built:.1f} s; Redis uses {info['used_memory'] / 2**20:.0f} MiB")
        yield server, result
    subprocess.run(["rm", "-rf", out], check=False)


def clone_ip(n: int) -> str:
    return f"172.{16 + n // 65536}.{n // 256 % 256}.{n % 256}"


@contextmanager
def profiles_database(profiles: int, seed: Scenario = SEED):
    """A private Redis with ``profiles`` profiles: a generated analysis (``seed``) and clones of
    its hosts (server-side COPY, 5,000 per script call), each with a DHCP host name in the flows
    file. 100,000 profiles take about a minute on 2 cores, most of it the seed and the clones'
    timelines; Redis then holds about 300 MiB."""
    out = tempfile.mkdtemp(prefix="kalipso-bench-")
    with RedisServer() as server:
        t0 = time.perf_counter()
        db0 = server.client(0)
        result = generate(db0, server.client(1), out, seed)
        ips = (m.decode()[len("profile_"):] for m in db0.zrange("profiles", 0, -1))
        hosts = [ip for ip in ips if ip.startswith(("10.", "192.168.1."))]  # the LAN, not the servers
        clones = max(profiles - int(db0.zcard("profiles")), 0)
        script = db0.register_script(CLONE)
        for first in range(0, clones, 5000):
            script(args=[first, min(5000, clones - first), *hosts])
        import sqlite3
        sql = sqlite3.connect(result.flows_db)
        sql.executemany("INSERT INTO altflows VALUES (?,?,?,?,?,?)", (
            (f"D{n}", json.dumps({"saddr": clone_ip(n), "client_addr": clone_ip(n), "host_name": f"pc-{n}",
                                  "type_": "dhcp"}), "benign", f"profile_{clone_ip(n)}", "timewindow1", "dhcp")
            for n in range(clones)))
        sql.commit()
        sql.close()
        built = time.perf_counter() - t0
        total = int(db0.zcard("profiles"))
        info = db0.info("memory")
        print(f"database: {total:,} profiles ({result.profiles:,} generated, {clones:,} cloned from "
              f"{len(hosts):,} hosts), {db0.dbsize():,} keys; built in {built:.1f} s; "
              f"Redis uses {info['used_memory'] / 2**20:.0f} MiB")
        yield server, result
    subprocess.run(["rm", "-rf", out], check=False)


def run_probe(code: str, port: int, repeat: int = 5) -> dict:
    """Run ``code`` in fresh interpreters; it must print a JSON dict with 'seconds'.

    Peak RSS (ru_maxrss of the child) is reported as well, with and without the work, so the
    figure is what the operation adds on top of importing Kalipso.
    """
    prelude = ("import json, time\n"
               "from kalipso.data import open_slips, ConnectionSettings\n"
               f"data = open_slips(ConnectionSettings(port={port}, cache_url='redis://127.0.0.1:{port}/1'))\n"
               "def hwm():\n"
               "    # VmHWM restarts at exec; ru_maxrss would carry the benchmark parent's peak\n"
               "    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
               "base = hwm()\n")
    times, peaks, extra = [], [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                             check=True, env=dict(os.environ))
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(doc["seconds"])
        peaks.append(doc["peak_kib"] / 1024)
        extra.append(doc.get("extra"))
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_rss_mib": max(peaks), "extra": extra[0]}


def probe_end(expr_extra: str = "None") -> str:
    return ("peak = hwm()\n"
            f"print(json.dumps({{'seconds': t1 - t0, 'peak_kib': peak, 'added_kib': peak - base, "
            f"'extra': {expr_extra}}}))\n")


