"""World data for the map view: country polygons (Natural Earth, shipped) and name matching.

geopandas is imported here, and this module is only imported when the map is first opened.
Slips stores a country as its English GeoLite2 name ("United States", "Russia"), or "Private"
/ "Unknown"; names are matched against several Natural Earth name columns plus aliases.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

DATA = os.path.join(os.path.dirname(__file__), "data", "countries.geojson")
LAT_TOP, LAT_BOTTOM = 84.0, -58.0  # Antarctica left out: nobody's traffic goes there

# GeoLite2 / Slips names that none of Natural Earth's name columns spell the same way
ALIASES = {
    "united states": "united states of america", "usa": "united states of america",
    "myanmar burma": "myanmar", "swaziland": "eswatini", "macedonia": "north macedonia",
    "czech republic": "czechia", "dr congo": "democratic republic of the congo",
    "congo republic": "republic of the congo", "ivory coast": "cote d'ivoire",
    "the netherlands": "netherlands", "bosnia and herzegovina": "bosnia and herz",
    "south sudan": "s sudan", "hashemite kingdom of jordan": "jordan",
    "republic of lithuania": "lithuania", "republic of moldova": "moldova",
    "cabo verde": "cape verde", "timor-leste": "timor-leste", "east timor": "timor-leste",
    "palestine": "palestine", "vatican city": "vatican", "russian federation": "russia",
    "korea": "south korea", "republic of korea": "south korea",
}
# Countries too small for a 1:110m polygon: a point marker (lon, lat)
POINTS = {
    "singapore": (103.8, 1.35), "hong kong": (114.17, 22.32), "malta": (14.4, 35.9),
    "bahrain": (50.55, 26.07), "macao": (113.55, 22.19), "macau": (113.55, 22.19),
    "mauritius": (57.55, -20.3), "monaco": (7.42, 43.74), "luxembourg": (6.13, 49.61),
    "liechtenstein": (9.55, 47.16), "andorra": (1.52, 42.51), "san marino": (12.45, 43.94),
    "seychelles": (55.45, -4.68), "maldives": (73.5, 4.17), "barbados": (-59.55, 13.1),
    "bermuda": (-64.75, 32.3), "gibraltar": (-5.35, 36.14), "vatican": (12.45, 41.9),
    "isle of man": (-4.5, 54.2), "jersey": (-2.13, 49.21), "guernsey": (-2.58, 49.45),
    "cayman islands": (-81.25, 19.3), "grenada": (-61.68, 12.12), "saint lucia": (-60.98, 13.9),
    "andorra la vella": (1.52, 42.51), "tonga": (-175.2, -21.18), "samoa": (-172.1, -13.76),
}


def norm(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z' -]+", " ", text.replace(".", ""))
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class World:
    names: list[str]                 # display name per country index
    index: dict[str, int]            # normalised name -> country index
    geometries: list                 # shapely geometries (prepared)
    bounds: list[tuple[float, float, float, float]]

    def find(self, name: str) -> int | None:
        key = norm(name)
        key = ALIASES.get(key, key)
        return self.index.get(key)


def load() -> World:
    import geopandas
    import shapely

    frame = geopandas.read_file(DATA)
    names, index, geometries, bounds = [], {}, [], []
    for i, row in enumerate(frame.itertuples()):
        names.append(row.NAME)
        for column in ("NAME", "NAME_LONG", "ADMIN", "NAME_EN", "SOVEREIGNT", "ISO_A2", "ISO_A3"):
            value = getattr(row, column, None)
            if isinstance(value, str) and value and value != "-99":
                index.setdefault(norm(value), i)
        shapely.prepare(row.geometry)
        geometries.append(row.geometry)
        bounds.append(row.geometry.bounds)
    return World(names, index, geometries, bounds)


def rasterize(world: World, width: int, height: int):
    """Country index (or -1 for sea) of each braille dot of a width x height cell canvas.

    Returns a numpy array of shape (4*height, 2*width). Plate carrée projection.
    """
    import numpy as np
    import shapely

    dots_w, dots_h = width * 2, height * 4
    xs = -180 + (np.arange(dots_w) + 0.5) * 360 / dots_w
    ys = LAT_TOP - (np.arange(dots_h) + 0.5) * (LAT_TOP - LAT_BOTTOM) / dots_h
    grid = np.full((dots_h, dots_w), -1, dtype=np.int16)
    for i, (geom, (minx, miny, maxx, maxy)) in enumerate(zip(world.geometries, world.bounds, strict=True)):
        cols = np.nonzero((xs >= minx) & (xs <= maxx))[0]
        rows = np.nonzero((ys >= miny) & (ys <= maxy))[0]
        if not len(cols) or not len(rows):
            continue
        gx, gy = np.meshgrid(xs[cols], ys[rows])
        inside = shapely.contains_xy(geom, gx, gy)
        sub = grid[np.ix_(rows, cols)]
        sub[inside] = i
        grid[np.ix_(rows, cols)] = sub
    return grid


def to_cell(lon: float, lat: float, width: int, height: int) -> tuple[int, int] | None:
    if not (LAT_BOTTOM <= lat <= LAT_TOP):
        return None
    x = int((lon + 180) / 360 * width)
    y = int((LAT_TOP - lat) / (LAT_TOP - LAT_BOTTOM) * height)
    return min(max(y, 0), height - 1), min(max(x, 0), width - 1)
