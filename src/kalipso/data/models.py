"""Typed, immutable models that every Slips schema generation is read into.

Views and the UI only ever see these; they never see Redis keys or raw Slips values.
Strings in them are decoded but not sanitised: sanitising is the drawing side's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The five port/IP tables behind the hotkeys E C B P N, in that order.
AGGREGATE_NAMES = (
    "src_ports_client",
    "dst_ips_client",
    "dst_ports_server",
    "dst_ports_client",
    "dst_ports_client_ips",
)
ESTABLISHED = "established"
NOT_ESTABLISHED = "not_established"

THREAT_LEVELS = ("info", "low", "medium", "high", "critical")


def threat_rank(level: str | None) -> int:
    """'critical' -> 4 ... 'info' -> 0; unknown -> -1. Case-insensitive."""
    try:
        return THREAT_LEVELS.index((level or "").lower())
    except ValueError:
        return -1


@dataclass(frozen=True)
class AnalysisInfo:
    """What Slips says about the analysis as a whole (hash ``analysis``)."""

    schema: str
    slips_version: str | None
    name: str | None = None
    input_type: str | None = None
    output_dir: str | None = None
    analysis_start: str | None = None
    analysis_end: str | None = None
    total_flows: int | None = None
    file_start: float | None = None


@dataclass(frozen=True)
class TimeWindow:
    """One time window of one profile. ``number`` may be 0 or negative in current Slips."""

    profile_ip: str
    name: str
    number: int
    start: float | None
    end: float | None
    malicious: bool = False
    blocked: bool = False
    alert_count: int = 0


@dataclass(frozen=True)
class Profile:
    """One profile (one IP address) and its time windows, oldest first.

    ``timewindows`` is empty when the profile was read without them (the tree of a large
    database reads them per profile, on demand); ``timewindow_count`` and
    ``malicious_timewindows`` are always filled.
    """

    ip: str
    host_name: str | None = None
    threat_level: str | None = None
    timewindows: tuple[TimeWindow, ...] = ()
    timewindow_count: int = 0
    malicious_timewindows: frozenset[str] = frozenset()

    @property
    def malicious(self) -> bool:
        return bool(self.malicious_timewindows) or any(tw.malicious for tw in self.timewindows)

    def timewindow(self, name: str) -> TimeWindow | None:
        for tw in self.timewindows:
            if tw.name == name:
                return tw
        return None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a time window's timeline, as Slips' timeline module wrote it.

    ``malformed`` marks a member that was not the expected JSON object; ``raw`` keeps
    its text so that the row can still be shown. ``ts`` is None when the score was no time
    (a ``-inf``/``+inf`` score, never written by Slips).
    """

    ts: float | None
    timestamp: str = ""
    daddr: str = ""
    saddr: str = ""
    preposition: str = ""
    dport_name: str = ""
    dport_proto: str = ""
    state: str = ""
    dns_resolution: str = ""
    sent: str = ""
    recv: str = ""
    tot: str = ""
    duration: str = ""
    warning: str = ""
    critical_warning: str = ""
    info: tuple[tuple[str, str], ...] = ()
    malformed: bool = False
    raw: str = ""

    @property
    def peer(self) -> str:
        """The other end of the flow: the destination, or the source for inbound lines."""
        return self.saddr if self.preposition == "from" and self.saddr else self.daddr


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence; both the classic and the current JSON shapes map here."""

    id: str
    evidence_type: str = ""
    description: str = ""
    threat_level: str = ""
    confidence: float | None = None
    timestamp: str = ""
    ts: float | None = None
    attacker: str = ""
    victim: str = ""
    category: str = ""
    malformed: bool = False
    # The flows Slips blamed (Zeek uids), the profile the evidence was filed under, and every
    # other field Slips wrote (ports, protocol, method, the IoCs' extra facts) for a detail box.
    uids: tuple[str, ...] = ()
    profile_ip: str = ""
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Alert:
    """An alert: the evidence that together crossed Slips' threshold."""

    id: str
    profile_ip: str
    timewindow: str
    evidence_ids: tuple[str, ...] = ()
    time: str | None = None


@dataclass(frozen=True)
class OutTuple:
    """An out tuple (destination IP, port, protocol) with its behavioural letters."""

    tuple_id: str
    daddr: str
    dport: str
    proto: str
    letters: str


@dataclass(frozen=True)
class IPInfo:
    """What Slips' IP-info cache knows about one IP. Absent fields are None / empty."""

    ip: str
    asn_number: str | None = None
    asn_org: str | None = None
    country: str | None = None
    reverse_dns: str | None = None
    sni: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    virustotal: tuple[tuple[str, str], ...] = ()
    threat_intelligence: str | None = None
    score: str | None = None
    confidence: str | None = None
    threat_level: str | None = None

    @property
    def empty(self) -> bool:
        return not any(
            (self.asn_number, self.asn_org, self.country, self.reverse_dns, self.sni,
             self.domains, self.virustotal, self.threat_intelligence, self.score,
             self.threat_level)
        )


@dataclass(frozen=True)
class HostInfo:
    """Host-level facts of a profile: name, MAC, software."""

    ip: str
    host_name: str | None = None
    mac: str | None = None
    mac_vendor: str | None = None
    user_agents: tuple[str, ...] = ()
    threat_level: str | None = None


@dataclass(frozen=True)
class FlowAggregate:
    """One row of a port/IP table: flows, packets and bytes for a key, protocol and state.

    ``flows`` and ``bytes`` are None where Slips did not store them (the IP:port table of
    classic and middle Slips only has packets).
    """

    key: str
    proto: str
    state: str
    flows: int | None
    packets: int | None
    bytes: int | None


@dataclass(frozen=True)
class Aggregates:
    """The five port/IP tables of one time window, or why they are not available."""

    source: str  # "redis", "sqlite" or "none"
    tables: dict[str, tuple[FlowAggregate, ...]] = field(default_factory=dict)
    unavailable_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def table(self, name: str) -> tuple[FlowAggregate, ...]:
        return self.tables.get(name, ())


@dataclass(frozen=True)
class TimeWindowCounts:
    """Sizes of what one time window holds (the export summary)."""

    timeline: int
    evidence: int
    alerts: int
    out_tuples: int


@dataclass(frozen=True)
class Page:
    """A slice of a long list: ``items`` starting at ``offset`` out of ``total``."""

    items: tuple
    offset: int
    total: int


@dataclass(frozen=True)
class Activity:
    """Flows (and bytes, where known) per time bucket of one time window."""

    start: float
    bucket_seconds: float
    flows: tuple[int, ...]
    bytes: tuple[int, ...] | None
    bytes_source: str | None = None  # "sqlite", "timeline" or None
