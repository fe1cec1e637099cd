"""M: a world map of the countries the selected profile's destination IPs are in.

geopandas is imported in a background thread when the map is first opened (it costs about
half a second and ~100 MB); until then the view says it is loading and already lists the
countries. The map is drawn in braille dots (2x4 a cell), or in ASCII without UTF-8: contacted
countries are solid (and coloured), other land is a light texture, so it reads in monochrome.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from kalipso.triage import plural
from kalipso.views.base import Handled, Line, PageRequest, Selection, Size, View, ViewKey, line, scroll_key

_lock = threading.Lock()
_world: dict[str, Any] = {"state": "idle", "world": None, "error": None, "grids": {}}
# dots of a braille cell: (row, column) -> bit
_BRAILLE = {(0, 0): 0x01, (1, 0): 0x02, (2, 0): 0x04, (3, 0): 0x40,
            (0, 1): 0x08, (1, 1): 0x10, (2, 1): 0x20, (3, 1): 0x80}
NOT_COUNTRIES = {"private", "unknown", ""}


def _load() -> None:
    try:
        from kalipso_views import geo
        world = geo.load()
        with _lock:
            _world.update(state="ready", world=world)
    except ImportError as exc:
        with _lock:
            _world.update(state="error", error=f"the map needs geopandas ({exc}): pip install geopandas")
    except Exception as exc:  # a broken data file must not take the view down
        with _lock:
            _world.update(state="error", error=f"cannot load the world map: {type(exc).__name__}: {exc}")


def start_loading() -> None:
    with _lock:
        if _world["state"] != "idle":
            return
        _world["state"] = "loading"
    threading.Thread(target=_load, name="kalipso-map-loader", daemon=True).start()


@dataclass(frozen=True)
class MapModel:
    profile: str | None
    timewindow: str | None
    countries: tuple[tuple[str, int, int], ...] = ()  # (country, IPs, flows), most flows first
    unlocated: int = 0  # destination IPs without a country in Slips' cache
    unavailable: str | None = None


class MapView(View):
    name, key, title = "Map", "M", "World map of destinations"
    help = "countries of the destination IPs of the selected time window on a world map"
    keys = (ViewKey("Up Down PgUp PgDn g G", "scroll the list of countries"),)

    def page(self, state: dict[str, Any], size: Size) -> PageRequest:
        # read whole, then sliced by render: scrolling must not fetch again (a new page would)
        return PageRequest(0, 0)

    def fetch(self, data: Any, selection: Selection, page: Any) -> MapModel:
        start_loading()
        if not selection.profile or not selection.timewindow:
            return MapModel(selection.profile, None, unavailable="select a time window on the main board first")
        destinations = data.destinations(selection.profile, selection.timewindow)
        infos = data.ip_infos(list(destinations))
        ips: Counter[str] = Counter()
        flows: Counter[str] = Counter()
        unlocated = 0
        for ip, n in destinations.items():
            country = (infos[ip].country or "") if ip in infos else ""
            if country.lower() in NOT_COUNTRIES:
                unlocated += 1
                continue
            ips[country] += 1
            flows[country] += n
        ranked = tuple(sorted(((c, ips[c], flows[c]) for c in ips), key=lambda t: (-t[2], t[0])))
        return MapModel(selection.profile, selection.timewindow, ranked, unlocated)

    def pending(self, model: Any) -> bool:
        return _world["state"] == "loading"

    def render(self, model: MapModel, size: Size, state: dict[str, Any]) -> list[Line]:
        head = line((f"{self.title}: {model.profile or '-'} {model.timewindow or ''}", "title"),
                    (f"   {plural(len(model.countries), 'country', 'countries')}", "dim"))
        if model.unavailable:
            return [head, line(), line((model.unavailable, "warning"))]
        side = self._list(model, size.rows - 1, state)
        list_w = 34
        map_w = size.cols - list_w - 1 if size.cols >= 90 else size.cols
        map_rows = size.rows - 1 if size.cols >= 90 else max(size.rows - 1 - len(side), 5)
        canvas = self._map(model, map_w, map_rows)
        out = [head]
        if size.cols >= 90:
            for i in range(size.rows - 1):
                left = canvas[i] if i < len(canvas) else line(" " * map_w)
                pad = map_w - sum(len(s.text) for s in left)
                out.append(left + line(" " * max(pad, 0) + " ") + (side[i] if i < len(side) else ()))
        else:
            out += canvas + side
        return out[: size.rows]

    def _list(self, model: MapModel, height: int, state: dict[str, Any]) -> list[Line]:
        rows = [line((f"{'country':<22}{'IPs':>5}{'flows':>7}", "header"))]
        offset = state.get("offset", 0)
        for country, n_ips, n_flows in model.countries[offset:]:
            rows.append(line((f"{country[:21]:<22}", "port"), f"{n_ips:>5}{n_flows:>7}"))
        if model.unlocated:
            rows.append(line((f"{plural(model.unlocated, 'IP')}: private/unknown", "dim")))
        if not model.countries:
            rows.append(line(("no country recorded by Slips", "dim")))
        state["_rows"] = len(model.countries)
        return rows[:height]

    def _map(self, model: MapModel, width: int, height: int) -> list[Line]:
        with _lock:
            status, world, error = _world["state"], _world["world"], _world["error"]
        if status in ("idle", "loading"):
            return [line(("loading the world map (geopandas)…", "dim"))]
        if status == "error":
            return [line((error, "warning"))]
        from kalipso_views import geo
        grid = _world["grids"].get((width, height))
        if grid is None:
            grid = _world["grids"][(width, height)] = geo.rasterize(world, width, height)
        wanted = {}
        points = []
        for country, _, _ in model.countries:
            idx = world.find(country)
            if idx is not None:
                wanted[idx] = country
            elif geo.norm(country) in geo.POINTS:
                points.append(geo.to_cell(*geo.POINTS[geo.norm(country)], width, height))
        utf8 = self.options.get("utf8", True)
        rows = []
        for cy in range(height):
            segments: list[tuple[str, str]] = []
            for cx in range(width):
                block = grid[cy * 4:(cy + 1) * 4, cx * 2:(cx + 1) * 2]
                hit = any(int(v) in wanted for v in block.flat)
                land = [(r, c) for r in range(4) for c in range(2) if block[r, c] >= 0]
                if (cy, cx) in points:
                    ch, style = ("◆" if utf8 else "*"), "critical"
                elif hit:
                    ch, style = (chr(0x2800 + sum(_BRAILLE[d] for d in land)) if utf8 else "#"), "port"
                elif land:
                    light = [d for d in land if (d[0] + d[1]) % 2 == 0] or land[:1]
                    ch, style = (chr(0x2800 + sum(_BRAILLE[d] for d in light)) if utf8 else "."), "dim"
                else:
                    ch, style = " ", "normal"
                if segments and segments[-1][1] == style:
                    segments[-1] = (segments[-1][0] + ch, style)
                else:
                    segments.append((ch, style))
            rows.append(line(*segments))
        return rows

    def handle_key(self, key: str, state: dict[str, Any]) -> Handled:
        return scroll_key(key, state, 10, state.get("_rows"))
