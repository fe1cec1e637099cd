"""The world map: Slips' country names match Natural Earth, and the map marks those countries."""

from __future__ import annotations

import pytest

# kalipso_views.geo always imports (it imports geopandas lazily, in load()): skip on what it needs
pytest.importorskip("geopandas", reason="the world map needs geopandas (pip install geopandas)")
pytest.importorskip("shapely", reason="the world map needs shapely (installed with geopandas)")

from kalipso_views import geo


@pytest.fixture(scope="module")
def world():
    return geo.load()


@pytest.mark.parametrize("name", ["United States", "Netherlands", "Czechia", "Russia", "Moldova",
                                  "South Korea", "France", "Norway", "Myanmar [Burma]", "Swaziland",
                                  "Bosnia and Herzegovina", "Ivory Coast", "DR Congo", "Iran", "Vietnam",
                                  "United Kingdom", "China", "Brazil", "Japan", "Germany", "Ireland"])
def test_slips_country_names_match(world, name):
    assert world.find(name) is not None, name


def test_small_countries_are_points(world):
    for name in ("Singapore", "Hong Kong", "Malta", "Bahrain"):
        assert world.find(name) is None and geo.norm(name) in geo.POINTS


def test_map_marks_the_countries_of_the_destinations(world, monkeypatch):
    from kalipso_views import worldmap
    from kalipso_views.worldmap import MapModel, MapView

    # the view's module-level world (and its raster cache) go back as they were after the test
    monkeypatch.setitem(worldmap._world, "state", "ready")
    monkeypatch.setitem(worldmap._world, "world", world)
    monkeypatch.setitem(worldmap._world, "grids", {})
    view = MapView()
    view.options = {"utf8": True}
    model = MapModel("10.0.0.1", "timewindow1", (("Czechia", 2, 10), ("Singapore", 1, 1)))
    lines = view.render(model, worldmap.Size(40, 120), view.new_state())
    width, height = 120 - 35, 39
    y, x = geo.to_cell(15.5, 49.8, width, height)  # the middle of Czechia
    row = "".join(s.text for s in lines[1 + y])
    styles = [s.style for s in lines[1 + y] for _ in s.text]
    assert styles[x] == "port" and row[x] != " "
    y, x = geo.to_cell(-100, 40, width, height)  # the USA: land, not contacted
    styles = [s.style for s in lines[1 + y] for _ in s.text]
    assert styles[x] == "dim"
    assert any("◆" in "".join(s.text for s in ln) for ln in lines)  # Singapore as a point
    assert "Czechia" in "".join(s.text for s in lines[2])
