"""Finding hotkey views: entry points of group ``kalipso.views``, sorted, validated, loaded.

A view that fails to import or to validate is kept as a ``FailedView`` (distribution, name,
error) for ``kalipso views`` to show; the other views load. Built-in views are found the same
way as third-party ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from kalipso.keymap import CONFIGURABLE_KEYS, RESERVED_KEYS
from kalipso.views.base import SUPPORTED_API_VERSIONS, View

GROUP = "kalipso.views"


@dataclass(frozen=True)
class LoadedView:
    name: str
    key: str
    title: str
    dist: str
    version: str
    cls: type[View]


@dataclass(frozen=True)
class FailedView:
    dist: str
    name: str
    error: str


@dataclass
class Registry:
    views: list[LoadedView] = field(default_factory=list)
    failures: list[FailedView] = field(default_factory=list)

    def by_key(self, key: str) -> LoadedView | None:
        return next((v for v in self.views if v.key == key), None)

    def by_name(self, name: str) -> LoadedView | None:
        return next((v for v in self.views if v.name == name), None)


_DISTS: dict[int, tuple[str, str]] = {}


def _dist(ep: EntryPoint) -> tuple[str, str]:
    """(name, version) of the distribution declaring ``ep``. Reading a distribution's metadata
    parses its METADATA file (email parser, ~1 ms); the entry points of one distribution share
    one object, so each is read once: 30 reads cost 30-45 ms of every start."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?", "?"
    known = _DISTS.get(id(dist))
    if known is None:
        meta = dist.metadata
        known = _DISTS[id(dist)] = (meta["Name"] or "?", meta["Version"] or "?")
    return known


def validate(cls: object, ep_name: str) -> str | None:
    """Why ``cls`` is not a valid view, or None."""
    if not isinstance(cls, type) or not issubclass(cls, View):
        return "is not a subclass of kalipso.views.base.View"
    if cls.name != ep_name:
        return f"name {cls.name!r} differs from its entry-point name {ep_name!r}"
    key = cls.key
    if not isinstance(key, str) or len(key) != 1 or not key.isprintable() or key.isspace():
        return f"key {key!r} is not one printable character"
    if key in RESERVED_KEYS:
        return f"key {key!r} is reserved by the main board"
    if not isinstance(cls.title, str) or not cls.title.strip():
        return "has no title"
    if cls.api_version not in SUPPORTED_API_VERSIONS:
        return f"api_version {cls.api_version!r} is not supported (supported: {SUPPORTED_API_VERSIONS})"
    for method in ("fetch", "render"):
        if getattr(cls, method) is getattr(View, method):
            return f"does not implement {method}()"
    return None


def discover(disabled: frozenset[str] | set[str] = frozenset(),
             keys: dict[str, str] | None = None,
             eps: list[EntryPoint] | None = None) -> Registry:
    """Load every view of the group in (distribution, name) order.

    ``keys`` maps view names to user-configured keys; ``disabled`` names views to skip.
    """
    found = list(eps) if eps is not None else list(entry_points(group=GROUP))
    try:
        labelled = [(ep, *_dist(ep)) for ep in found]
    finally:
        _DISTS.clear()  # ids are only valid while the entry points live
    labelled.sort(key=lambda e: (e[1] != "kalipso", e[1].lower(), e[0].name))
    registry = Registry()
    taken: dict[str, LoadedView] = {}
    seen_names: set[str] = set()
    for ep, dist, version in labelled:
        if ep.name in disabled or ep.name in seen_names:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop Kalipso
            registry.failures.append(FailedView(dist, ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        error = validate(cls, ep.name)
        if error:
            registry.failures.append(FailedView(dist, ep.name, error))
            continue
        key = (keys or {}).get(ep.name, cls.key)
        configured = ep.name in (keys or {})
        if len(key) != 1 or (key in RESERVED_KEYS and not (configured and key in CONFIGURABLE_KEYS)):
            registry.failures.append(FailedView(dist, ep.name, f"configured key {key!r} is not usable"))
            continue
        if key in taken:
            other = taken[key]
            registry.failures.append(FailedView(
                dist, ep.name, f"key {key!r} is already taken by view {other.name!r} of {other.dist}"))
            continue
        view = LoadedView(ep.name, key, cls.title, dist, version, cls)
        taken[key] = view
        seen_names.add(ep.name)
        registry.views.append(view)
    return registry
