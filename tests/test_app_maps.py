"""Map builders (app/maps.py) without Streamlit: offline Leaflet, layers, payload, GCJ-02."""

from __future__ import annotations

import re

import geopandas as gpd
from shapely.geometry import LineString, box

from app.maps import (
    MapStyle,
    coverage_map,
    hotspot_map,
    payload_bytes,
    segment_map,
    selected_segment,
    to_display,
)

OFFLINE = MapStyle(assets_url="../app.assets.leaflet")


def _cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3], "code": ["a", "b", "c"], "n": [1, 5, 20], "name": ["甲", "乙", "丙"],
         "z": [0.1, 2.1, 3.3], "class": [0, 2, 3]},
        geometry=[box(116.40 + 0.001 * i, 39.90, 116.401 + 0.001 * i, 39.901) for i in range(3)],
        crs=4326,
    )  # fmt: skip


def _html(m: object) -> str:
    """The rendered map, with the JSON \\uXXXX escapes of labels decoded."""
    raw = m.get_root().render()  # type: ignore[attr-defined]
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), raw)


def test_maps_need_nothing_from_the_internet_without_a_basemap() -> None:
    html = _html(hotspot_map(_cells(), None, style=OFFLINE))
    assert "../app.assets.leaflet/leaflet.js" in html
    assert "cdn.jsdelivr.net" not in html and "code.jquery.com" not in html
    assert "tile" not in html.lower().replace("tilelayer", "")  # no tile layer at all
    assert "#f4f1ea" in html  # a plain background instead


def test_basemaps_by_setting() -> None:
    assert "tile.openstreetmap.org" in _html(
        hotspot_map(_cells(), None, style=MapStyle(basemap="osm"))
    )
    tdt = _html(hotspot_map(_cells(), None, style=MapStyle(basemap="tianditu", tianditu_key="K")))
    assert "tianditu.gov.cn/vec_w" in tdt and "tk=K" in tdt


def test_gaode_gets_gcj02_coordinates() -> None:
    point = gpd.GeoDataFrame({"n": [1]}, geometry=gpd.points_from_xy([116.404], [39.915]), crs=4326)
    shifted = to_display(point, MapStyle(basemap="gaode")).geometry.iloc[0]
    assert (round(shifted.x, 5), round(shifted.y, 5)) == (116.41024, 39.9164)
    assert "autonavi" in _html(hotspot_map(_cells(), None, style=MapStyle(basemap="gaode")))


def test_coordinates_are_rounded_and_only_listed_properties_sent() -> None:
    html = _html(hotspot_map(_cells(), None, style=OFFLINE, fields=("name", "n")))
    assert "116.402" in html and "116.40200000" not in html
    assert "热点 99%" in html and "热点 95%" in html
    assert "不显著" not in html  # class 0 is not drawn


def _segments() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3], "label": ["东四北大街（东四十条—张自忠路）", "b", "c"],
         "status": ["assigned", "unassigned", "conflict"], "head": ["王小明", None, "李四、张三"],
         "kind": ["street"] * 3},
        geometry=[LineString([(116.40, 39.90 + 0.001 * i), (116.41, 39.90 + 0.001 * i)]) for i in range(3)],
        crs=4326,
    )  # fmt: skip


def test_segment_map_colours_status_and_marks_the_selection() -> None:
    segs = _segments()
    html = _html(segment_map(segs, None, style=OFFLINE))
    assert "#2e7d32" in html and "#e53935" in html and "#8e24aa" in html
    assert "已分配 (1)" in html and "冲突（多名街长） (1)" in html
    m = segment_map(segs, None, style=OFFLINE)
    selected_segment(segs, 2, style=OFFLINE).add_to(m)
    marked = _html(m)
    assert "#1e88e5" in marked and "#1e88e5" not in html
    english = _html(segment_map(segs, None, style=MapStyle(lang="en")))
    assert "Unassigned (1)" in english and "未分配" not in english


def test_selecting_a_segment_leaves_the_map_as_it_was() -> None:
    # streamlit-folium draws a map anew (and fits its bounds again) whenever its script
    # changes; the selection travels as a layer of its own, so the script must not.
    from streamlit_folium import _get_map_string

    def script(selected: int | None) -> str:
        m = segment_map(_segments(), None, style=OFFLINE, view_key="assign:x")
        selected_segment(_segments(), selected, style=OFFLINE)  # built beside, not into m
        m.get_root().render()
        return _get_map_string(m)

    assert script(None) == script(2) == script(3)
    assert "citygrid-view:" in script(None)  # the view is remembered across redraws
    assert len(selected_segment(_segments(), None, style=OFFLINE)._children) == 0


def test_legend_and_tooltips_escape_hostile_names() -> None:
    cells = _cells().assign(name=["<img src=x onerror=alert(1)>", "b", "c"], **{"class": [3, 3, 3]})
    html = _html(hotspot_map(cells, None, style=OFFLINE, fields=("name",)))
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    layers = {"gap": gpd.GeoDataFrame({"name": ["<b>x</b>"], "reason": ["r"]},
                                      geometry=[box(116.4, 39.9, 116.41, 39.91)], crs=4326)}  # fmt: skip
    legend = _html(coverage_map(layers, None, style=OFFLINE, labels={"gap": "<script>x</script>"}))
    assert "&lt;script&gt;x&lt;/script&gt;" in legend and "<script>x</script>" not in legend


def test_a_thousand_segments_stay_far_below_two_megabytes() -> None:
    lines = [
        LineString([(116.3 + 0.0005 * i, 39.9), (116.3 + 0.0005 * i, 39.905)]) for i in range(1000)
    ]
    segs = gpd.GeoDataFrame(
        {"id": range(1000), "label": [f"某某大街（{i}号路—{i + 1}号路）" for i in range(1000)],
         "status": ["assigned", "unassigned"] * 500, "head": ["王小明"] * 1000},
        geometry=lines, crs=4326,
    )  # fmt: skip
    assert payload_bytes(segment_map(segs, None, style=OFFLINE)) < 600_000


def test_gap_lines_lie_over_station_dots_and_the_legend_keeps_its_order() -> None:
    from shapely.geometry import Point

    dots = gpd.GeoDataFrame(
        {"name": [f"站{i}" for i in range(300)], "reason": ["损坏"] * 300},
        geometry=[Point(116.40 + 0.0001 * i, 39.90) for i in range(300)], crs=4326,
    )  # fmt: skip
    streets = gpd.GeoDataFrame(
        {"name": ["某街"], "reason": ["无街长"]},
        geometry=[LineString([(116.40, 39.90), (116.43, 39.90)])], crs=4326,
    )  # fmt: skip
    labels = {"segment_no_head": "无三级街长的路段", "station_fault": "损坏的毒饵站"}
    html = _html(
        coverage_map({"segment_no_head": streets, "station_fault": dots}, None,
                     style=OFFLINE, labels=labels)
    )  # fmt: skip
    # drawn later is on top: the stations first, the street after them
    overlays = html[html.index("overlays") :]
    assert overlays.index("损坏的毒饵站 (300)") < overlays.index("无三级街长的路段 (1)")
    legend = html[html.index("L.DomUtil.create") :]
    assert legend.index("无三级街长的路段 (1)") < legend.index("损坏的毒饵站 (300)")
    assert '"radius": 3.0' in html  # many dots are drawn small
