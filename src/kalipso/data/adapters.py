"""The three Slips schema generations, each a SlipsData with its own way to read.

classic (1.0.x): evidence in the time-window hash, tables and tuples as JSON fields, one
IPsInfo hash. middle (1.1.5-1.1.16): evidence in its own hash, tables and tuples still JSON
fields. current (1.1.17+): tuples in their own hashes, IP info split per kind, tables gone from
Redis (rebuilt from SQLite). See ../shared/fixtures/SCHEMA-*.md.
"""

from __future__ import annotations

from typing import Any

from kalipso.data import parse, plumbing
from kalipso.data.access import Read, SlipsData
from kalipso.data.models import AGGREGATE_NAMES, Aggregates, OutTuple


class _FieldsInTimeWindowHash(SlipsData):
    """What classic and middle Slips share: tables, tuples and IP info as JSON values."""

    def _out_tuples(self, ip: str, tw: str, direction: str) -> list[OutTuple]:
        return parse.out_tuples_json(self.r.hget(f"profile_{ip}_{tw}", f"{direction}Tuples"))

    def _ip_info_raw(self, ips: list[str]) -> dict[str, dict[str, Any]]:
        assert self.cache is not None
        values = plumbing.absent_on_wrong_type(
            "IPsInfo", lambda: self.cache.hmget("IPsInfo", ips), []) if ips else []
        result = {}
        for ip, value in zip(ips, values, strict=False):
            data = parse.loads(value)
            if isinstance(data, dict):
                result[ip] = data
        return result

    def _aggregates(self, ip: str, tw: str) -> Aggregates:
        rows = []
        for name, value in self.r.hscan_iter(f"profile_{ip}_{tw}", match="*Established", count=500):
            rows.extend(parse.aggregate_field(parse.decode(name), value))
        return Aggregates(source="redis", tables=parse.merge_aggregates(rows))


class ClassicSlips(_FieldsInTimeWindowHash):
    """Slips 1.0.x."""

    schema = "classic"

    def _evidence_raw(self, ip: str, tw: str) -> list[tuple[Any, Any]]:
        data = parse.loads(self.r.hget(f"profile_{ip}_{tw}", "Evidence"))
        return list(data.items()) if isinstance(data, dict) else []

    def _evidence_ids_read(self, ip: str, tw: str) -> Read:
        def ids(value: Any) -> list[str]:
            data = parse.loads(value)
            return [parse.decode(k) for k in data] if isinstance(data, dict) else []

        key = f"profile_{ip}_{tw}"
        return (lambda p: p.hget(key, "Evidence")), ids

    def _host_names(self, ips: list[str], hashes: list[list[Any]]) -> dict[str, str]:
        # The host name lives inside the JSON of field MAC: {"MAC": .., "host_name": ..}
        names = {}
        for ip, h in zip(ips, hashes, strict=False):
            mac = parse.loads(h[3])
            if isinstance(mac, dict) and mac.get("host_name"):
                names[ip] = parse.text(mac["host_name"], 255)
            elif h[4]:
                names[ip] = parse.text(h[4], 255)
        return names


class MiddleSlips(_FieldsInTimeWindowHash):
    """Slips 1.1.5 to 1.1.16."""

    schema = "middle"


class CurrentSlips(SlipsData):
    """Slips 1.1.17 and later."""

    schema = "current"
    IP_INFO_KINDS = ("geocountry", "asn", "reverse_dns", "VirusTotal", "threatintelligence",
                     "SNI", "DNS_resolution", "score", "confidence")

    def _out_tuples(self, ip: str, tw: str, direction: str) -> list[OutTuple]:
        key = f"profile_{ip}_{tw}:{direction}Tuples:symbols"
        return [parse.out_tuple(k, parse.decode(v))
                for k, v in self.r.hscan_iter(key, count=1000)]

    def _out_count_read(self, ip: str, tw: str) -> Read:
        key = f"profile_{ip}_{tw}:OutTuples:symbols"
        return (lambda p: p.hlen(key)), lambda n: int(n or 0)

    def _ip_info_raw(self, ips: list[str]) -> dict[str, dict[str, Any]]:
        assert self.cache is not None
        if not ips:
            return {}
        answers = plumbing.batched(self.cache, (
            (lambda p, kind=kind: p.hmget(f"IPsInfo:{kind}", ips)) for kind in self.IP_INFO_KINDS))
        result: dict[str, dict[str, Any]] = {}
        for kind, values in zip(self.IP_INFO_KINDS, answers, strict=False):
            if values is None:  # a key of another type (logged): as if absent
                continue
            for ip, value in zip(ips, values, strict=False):
                if value is None:
                    continue
                decoded = parse.loads(value)
                # plain strings ("United States") are stored unquoted
                result.setdefault(ip, {})[kind] = decoded if decoded is not None else parse.decode(value)
        return result

    def _aggregates(self, ip: str, tw: str) -> Aggregates:
        db = self.flows_db
        if db is None:
            return Aggregates(source="none", tables={n: () for n in AGGREGATE_NAMES},
                              unavailable_reason=self.flows_unavailable_reason)
        try:
            return Aggregates(source="sqlite", tables=db.aggregates(ip, tw))
        except Exception as exc:  # sqlite3.Error, or a file that is not a database
            return Aggregates(source="none", tables={n: () for n in AGGREGATE_NAMES},
                              unavailable_reason=f"cannot read Slips' flows database {db.path}: {exc}")
