"""Map builders: plain functions that return a ``folium.Map`` (no Streamlit here).

Inputs are GeoDataFrames in EPSG:4326, already aggregated and simplified by the
database. Here they are converted for the basemap (GCJ-02 for Gaode), their
coordinates rounded to about a metre, and drawn one layer per class with a legend.

With ``basemap="none"`` (the default) a map needs nothing from the internet: no tiles,
and Leaflet itself is served by the dashboard (``assets_url``), so command centres on
closed networks see their maps.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from app.i18n import Lang, translate
from gis.crs import geoseries_to_web

Basemap = Literal["none", "osm", "tianditu", "gaode", "local"]

#: Decimal places kept in map coordinates (1e-5 degree is about 1 m).
COORD_DECIMALS = 5

STATUS_COLOURS = {
    "assigned": "#2e7d32",
    "unassigned": "#e53935",
    "conflict": "#8e24aa",
}
HOT_COLOURS = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fdbf9c",
    -1: "#b7d7ea",
    -2: "#67a9cf",
    -3: "#2166ac",
}
#: Emerging-hotspot pattern keys (gis.emerging.PATTERN_LABELS) -> colour; "none" is not drawn.
PATTERN_COLOURS = {
    "new_hot": "#ff1744",
    "consecutive_hot": "#ff5252",
    "intensifying_hot": "#d50000",
    "persistent_hot": "#b71c1c",
    "diminishing_hot": "#ffab91",
    "sporadic_hot": "#ff9100",
    "oscillating_hot": "#ffd180",
    "historical_hot": "#8d6e63",
    "new_cold": "#2979ff",
    "consecutive_cold": "#448aff",
    "intensifying_cold": "#0d47a1",
    "persistent_cold": "#1565c0",
    "diminishing_cold": "#90caf9",
    "sporadic_cold": "#00b8d4",
    "oscillating_cold": "#80d8ff",
    "historical_cold": "#78909c",
}
GAP_COLOURS = (
    "#e53935",
    "#fb8c00",
    "#8e24aa",
    "#3949ab",
    "#00897b",
    "#6d4c41",
    "#c0ca33",
    "#d81b60",
)
SUGGESTION_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


@dataclass(frozen=True)
class MapStyle:
    """How maps are drawn in this deployment and session."""

    basemap: Basemap = "none"
    tianditu_key: str | None = None
    local_tile_url: str | None = None
    assets_url: str | None = None
    dark: bool = False
    lang: Lang = "zh"

    @property
    def coords(self) -> Literal["wgs84", "gcj02"]:
        """The coordinate system the basemap expects."""
        return "gcj02" if self.basemap == "gaode" else "wgs84"

    @property
    def background(self) -> str:
        """Background colour of a map without tiles."""
        return "#0b1a2e" if self.dark else "#f4f1ea"

    @property
    def outline_colour(self) -> str:
        """Colour of administrative outlines."""
        return "#7fa7d9" if self.dark else "#555555"


def to_display(frame: gpd.GeoDataFrame, style: MapStyle) -> gpd.GeoDataFrame:
    """``frame`` in the basemap's coordinates, rounded to about a metre (a new frame).

    >>> from shapely import Point
    >>> f = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(116.4012345, 39.9012345)], crs=4326)
    >>> to_display(f, MapStyle()).geometry.iloc[0].wkt
    'POINT (116.40123 39.90123)'
    """
    out = frame.copy()
    if out.crs is None:
        out = out.set_crs(4326)
    geoms = geoseries_to_web(out.geometry, style.coords)
    rounded = shapely.transform(
        np.asarray(geoms.values, dtype=object), lambda xy: np.round(xy, COORD_DECIMALS)
    )
    out = out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=4326))
    return out.loc[~out.geometry.is_empty & out.geometry.notna()]


def dissolve_by(frame: gpd.GeoDataFrame, column: str) -> gpd.GeoDataFrame:
    """One feature per value of ``column``: the union of its shapes, with ``count`` and ``n``.

    Cells that tile without overlaps merge fast (``shapely.coverage_union_all``), and a
    wall of thousands of hot cells becomes a handful of outlines.

    >>> from shapely.geometry import box
    >>> f = gpd.GeoDataFrame({"class": [3, 3, 2], "n": [4, 5, 1]},
    ...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)])
    >>> out = dissolve_by(f, "class")
    >>> out[["class", "count", "n"]].values.tolist(), round(out.geometry.iloc[1].area, 1)
    ([[2, 1, 1], [3, 2, 9]], 2.0)
    """
    rows = []
    for value, part in frame.groupby(column, sort=True):
        geoms = np.asarray(part.geometry.values, dtype=object)
        try:
            merged = shapely.coverage_union_all(geoms)
        except shapely.errors.GEOSException:  # not a clean coverage: the general union
            merged = shapely.union_all(geoms)
        n = int(part["n"].sum()) if "n" in part.columns else len(part)
        rows.append({column: value, "count": len(part), "n": n, "geometry": merged})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=frame.crs)


def _geojson(frame: gpd.GeoDataFrame, properties: Sequence[str]) -> dict[str, Any]:
    """A compact GeoJSON FeatureCollection with only ``properties``."""
    keep = [p for p in properties if p in frame.columns]
    sub = frame[[*keep, frame.geometry.name]]
    features = []
    geoms = shapely.to_geojson(np.asarray(sub.geometry.values, dtype=object))
    records = sub[keep].astype(object).where(sub[keep].notna(), None).to_dict("records")
    for props, geom in zip(records, geoms, strict=True):
        features.append(
            {"type": "Feature", "properties": _plain(props), "geometry": json.loads(geom)}
        )
    return {"type": "FeatureCollection", "features": features}


def _plain_value(value: Any) -> Any:
    # Leaflet tooltips insert property values as HTML: send text, never markup.
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 3)
    if value is not None and not isinstance(value, int | bool):
        return html.escape(str(value))
    return value


def _plain(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain_value(value) for key, value in props.items()}


def _tiles(m: folium.Map, style: MapStyle) -> None:
    if style.basemap == "osm":
        folium.TileLayer(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            attr="© OpenStreetMap contributors",
            name="OpenStreetMap",
            max_zoom=19,
        ).add_to(m)
    elif style.basemap == "tianditu":
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={style.tianditu_key}",
                attr="© 天地图",
                name=f"天地图 {layer}",
                subdomains="01234567",
                max_zoom=18,
                overlay=layer == "cva",
                control=False,
            ).add_to(m)
    elif style.basemap == "gaode":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
            attr="© 高德地图",
            name="高德地图",
            subdomains="1234",
            max_zoom=18,
        ).add_to(m)
    elif style.basemap == "local" and style.local_tile_url:
        folium.TileLayer(style.local_tile_url, attr="local tiles", name="local").add_to(m)


class _Header(MacroElement):
    """CSS for the map's page (plain background when there are no tiles)."""

    _template = Template(
        "{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}"
    )

    def __init__(self, css: str) -> None:
        super().__init__()
        self._name = "CityGridHeader"
        self.css = css


class Legend(MacroElement):
    """A legend box in a map corner, as a Leaflet control (works inside streamlit-folium)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: {{ this.position|tojson }}});
            legend.onAdd = function() {
                var div = L.DomUtil.create('div', 'citygrid-legend');
                div.innerHTML = {{ this.content|tojson }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self, title: str, items: Iterable[tuple[str, str]], *, position: str = "bottomright"
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.position = position
        rows = "".join(
            f'<div><span style="background:{html.escape(colour)}"></span>{html.escape(label)}</div>'
            for colour, label in items
        )
        self.content = f"<b>{html.escape(title)}</b>{rows}"


def _legend_css(style: MapStyle) -> str:
    fg, bg = ("#e6eefc", "rgba(11,26,46,0.85)") if style.dark else ("#222", "rgba(255,255,255,0.9)")
    return (
        f".leaflet-container{{background:{style.background};}}"
        f".citygrid-legend{{background:{bg};color:{fg};padding:6px 8px;border-radius:4px;"
        "font:13px/1.5 'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;}"
        ".citygrid-legend span{display:inline-block;width:14px;height:10px;margin-right:6px;"
        "border:1px solid #0003;vertical-align:middle;}"
    )


def base_map(
    bounds: tuple[float, float, float, float] | None,
    *,
    style: MapStyle,
    zoom_control: bool = True,
) -> folium.Map:
    """An empty map fitted to ``bounds`` (minx, miny, maxx, maxy in the basemap's lon/lat)."""
    m = folium.Map(
        location=[39.92, 116.41],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        zoom_control=zoom_control,
        prefer_canvas=True,
        # quarter zoom steps: a fitted district fills its panel instead of the next
        # whole zoom level's half of it
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    if style.assets_url:
        base = style.assets_url.rstrip("/")
        m.default_js = [("leaflet", f"{base}/leaflet.js")]
        m.default_css = [("leaflet_css", f"{base}/leaflet.css")]
    _tiles(m, style)
    _Header(_legend_css(style)).add_to(m)
    if bounds is not None and all(np.isfinite(bounds)):
        minx, miny, maxx, maxy = bounds
        _FitBounds([[miny, minx], [maxy, maxx]]).add_to(m)
    return m


class _FitBounds(MacroElement):
    """Fit the map to bounds at once. folium's fit_bounds animates the zoom, which lands
    after the map's later scripts ran (and would undo a view :class:`KeepView` restores)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {animate: false});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "FitBounds"
        self.bounds = [[float(v) for v in corner] for corner in bounds]


def _bounds(*frames: gpd.GeoDataFrame | None) -> tuple[float, float, float, float] | None:
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        return None
    arr = np.vstack(boxes)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


def add_outlines(
    m: folium.Map, outlines: gpd.GeoDataFrame | None, *, style: MapStyle, weight: float = 1.2
) -> None:
    """Draw administrative outlines (no fill, name as tooltip)."""
    if outlines is None or not len(outlines):
        return
    colour = style.outline_colour
    folium.GeoJson(
        _geojson(to_display(outlines, style), ["name"]),
        name=translate("map.outline", style.lang),
        style_function=lambda _f: {"color": colour, "weight": weight, "fill": False},
        tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        control=False,
    ).add_to(m)


def _layer(
    m: folium.Map | folium.FeatureGroup,
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    colour: str,
    properties: Sequence[str],
    fields: Sequence[str] = (),
    aliases: Sequence[str] = (),
    line: bool = False,
    weight: float = 3.0,
    fill_opacity: float = 0.65,
    radius: float = 6.0,
) -> None:
    if not len(frame):
        return
    style = (
        {"color": colour, "weight": weight, "opacity": 0.9}
        if line
        else {"color": colour, "weight": 0.5, "fillColor": colour, "fillOpacity": fill_opacity}
    )
    tooltip = (
        folium.GeoJsonTooltip(list(fields), aliases=list(aliases), sticky=False) if fields else None
    )
    folium.GeoJson(
        _geojson(frame, properties),
        # Leaflet's layer control shows names as HTML: escape them (names can be people's).
        name=html.escape(name),
        style_function=lambda _f: style,
        highlight_function=lambda _f: {"weight": weight + 3} if line else {"fillOpacity": 0.9},
        tooltip=tooltip,
        marker=folium.CircleMarker(radius=radius, fill=True, weight=1),
    ).add_to(m)


def hotspot_map(
    units: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    *,
    style: MapStyle,
    class_column: str = "class",
    fields: Sequence[str] = ("name", "n", "z"),
    line: bool = False,
) -> folium.Map:
    """Hot and cold spots by confidence class (-3..3); class 0 is not drawn."""
    lang = style.lang
    shown = to_display(units, style)
    m = base_map(
        _bounds(to_display(outlines, style) if outlines is not None else None, shown), style=style
    )
    add_outlines(m, outlines, style=style)
    names = {"n": "map.count", "count": "col.cells"}
    aliases = [translate(names.get(f, f"col.{f}"), lang) for f in fields]
    present: list[tuple[str, str]] = []
    for cls, colour in HOT_COLOURS.items():
        part = shown.loc[shown[class_column] == cls]
        if not len(part):
            continue
        label = translate(f"map.hot.{cls}", lang)
        present.append((colour, label))
        _layer(
            m,
            part,
            name=label,
            colour=colour,
            properties=["id", *fields],
            fields=[f for f in fields if f in part.columns],
            aliases=[a for f, a in zip(fields, aliases, strict=True) if f in part.columns],
            line=line,
        )
    if present:
        Legend(translate("map.legend.hot", lang), present).add_to(m)
        folium.LayerControl(collapsed=True).add_to(m)
    return m


def emerging_map(
    cells: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    *,
    style: MapStyle,
    labels: Mapping[str, str],
    pattern_column: str = "pattern",
) -> folium.Map:
    """Emerging-hotspot patterns, one layer each (``labels``: pattern key -> label)."""
    lang = style.lang
    shown = to_display(cells, style)
    m = base_map(
        _bounds(to_display(outlines, style) if outlines is not None else None, shown),
        style=style,
    )
    add_outlines(m, outlines, style=style)
    present: list[tuple[str, str]] = []
    for pattern, colour in PATTERN_COLOURS.items():
        part = shown.loc[shown[pattern_column] == pattern]
        if not len(part):
            continue
        label = f"{labels.get(pattern, pattern)} ({len(part)})"
        present.append((colour, label))
        _layer(m, part, name=label, colour=colour, properties=["name"], fields=["name"],
               aliases=[translate("col.name", lang)])  # fmt: skip
    if present:
        Legend(translate("map.legend.emerging", lang), present).add_to(m)
    return m


class KeepView(MacroElement):
    """Remember where the user looked (centre, zoom) in the browser tab, per ``key``.

    A map drawn again (new data after a save) opens where the user left it instead of
    fitting its bounds anew; a new ``key`` (another area) fits the bounds. Panning
    sends nothing to the server.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }};
            var key = "citygrid-view:" + {{ this.key|tojson }};
            var save = function() {
                var c = map.getCenter();
                try {
                    window.sessionStorage.setItem(
                        key, JSON.stringify({lat: c.lat, lng: c.lng, zoom: map.getZoom()}));
                } catch (e) {}
            };
            var restore = function() {
                try {
                    var seen = JSON.parse(window.sessionStorage.getItem(key) || "null");
                    if (seen) { map.setView([seen.lat, seen.lng], seen.zoom, {animate: false}); }
                } catch (e) {}
                map.on("moveend", save);
            };
            restore();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, key: str) -> None:
        super().__init__()
        self._name = "KeepView"
        self.key = key


_SEGMENT_PROPS = ["id", "label", "head", "status", "kind"]


def segment_map(
    segments: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    *,
    style: MapStyle,
    suggestion: pd.Series | None = None,
    view_key: str | None = None,
) -> folium.Map:
    """Segments coloured by street-head status; click one to select it.

    ``segments`` needs ``id``, ``label``, ``status`` and ``head``; with ``suggestion``
    (suggested person name per segment id) the segments are coloured by suggested
    head instead. The clicked feature's ``id`` comes back through streamlit-folium.
    The selection is drawn by :func:`selected_segment` as a layer of its own, so that
    selecting leaves this map, and the user's view of it, as it was; with ``view_key``
    the view also survives the map being drawn again (:class:`KeepView`).
    """
    lang = style.lang
    shown = to_display(segments, style)
    m = base_map(_bounds(shown), style=style)
    if view_key is not None:
        KeepView(view_key).add_to(m)
    add_outlines(m, outlines, style=style, weight=0.8)
    props = _SEGMENT_PROPS
    fields = ["label", "head"]
    aliases = [translate("col.label", lang), translate("col.head", lang)]
    present: list[tuple[str, str]] = []
    if suggestion is not None:
        shown = shown.assign(head=shown["id"].map(suggestion))
        names = sorted(shown["head"].dropna().unique().tolist())
        for k, name in enumerate(names):
            colour = SUGGESTION_PALETTE[k % len(SUGGESTION_PALETTE)]
            _layer(m, shown.loc[shown["head"] == name], name=str(name), colour=colour,
                   properties=props, fields=fields, aliases=aliases, line=True)  # fmt: skip
        present = [
            (SUGGESTION_PALETTE[k % len(SUGGESTION_PALETTE)], str(n))
            for k, n in enumerate(names[:12])
        ]
        title = translate("map.seg.suggested", lang)
    else:
        for status, colour in STATUS_COLOURS.items():
            part = shown.loc[shown["status"] == status]
            label = translate(f"map.seg.{status}", lang)
            present.append((colour, f"{label} ({len(part)})"))
            _layer(m, part, name=label, colour=colour, properties=props, fields=fields,
                   aliases=aliases, line=True)  # fmt: skip
        title = translate("map.legend.status", lang)
    Legend(title, present).add_to(m)
    return m


def selected_segment(
    segments: gpd.GeoDataFrame, selected_id: int | None, *, style: MapStyle
) -> folium.FeatureGroup:
    """The selected segment, highlighted, as a layer to lay over :func:`segment_map`
    (streamlit-folium adds it without drawing the map again). Empty when none is."""
    lang = style.lang
    group = folium.FeatureGroup(name=html.escape(translate("map.seg.selected", lang)))
    if selected_id is not None:
        chosen = to_display(segments.loc[segments["id"] == selected_id], style)
        _layer(group, chosen, name=translate("map.seg.selected", lang), colour="#1e88e5",
               properties=_SEGMENT_PROPS, fields=["label", "head"],
               aliases=[translate("col.label", lang), translate("col.head", lang)],
               line=True, weight=8)  # fmt: skip
    return group


def coverage_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    outlines: gpd.GeoDataFrame | None,
    *,
    style: MapStyle,
    labels: Mapping[str, str],
    sites: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Every coverage-gap layer on one map, each toggleable, plus suggested sites."""
    lang = style.lang
    shown = {k: to_display(v, style) for k, v in layers.items() if v is not None and len(v)}
    sites_shown = to_display(sites, style) if sites is not None and len(sites) else None
    m = base_map(
        _bounds(to_display(outlines, style) if outlines is not None else None, *shown.values()),
        style=style,
    )
    add_outlines(m, outlines, style=style)
    present: list[tuple[str, str]] = []
    colours = {key: GAP_COLOURS[k % len(GAP_COLOURS)] for k, key in enumerate(shown)}
    # Points first, areas next, lines last: what is drawn later lies on top, and a
    # street without a head must not vanish under thousands of station dots.
    names = {key: f"{labels.get(key, key)} ({len(frame)})" for key, frame in shown.items()}
    present += [(colours[key], names[key]) for key in shown]  # the legend in the layers' order
    for key in sorted(shown, key=lambda k: _draw_rank(shown[k])):
        frame, colour, label = shown[key], colours[key], names[key]
        group = folium.FeatureGroup(name=html.escape(label))
        line = _draw_rank(frame) == 2
        _layer(group, frame, name=label, colour=colour, properties=["name", "reason"],
               fields=[f for f in ("name", "reason") if f in frame.columns],
               aliases=[translate("col.name", lang), translate("col.reason", lang)][
                   : sum(f in frame.columns for f in ("name", "reason"))],
               line=line, radius=3.0 if len(frame) > 200 else 5.0)  # fmt: skip
        group.add_to(m)
    if sites_shown is not None:
        label = f"{translate('map.gap.sites', lang)} ({len(sites_shown)})"
        present.append(("#00c853", label))
        group = folium.FeatureGroup(name=html.escape(label))
        _layer(group, sites_shown, name=label, colour="#00c853", properties=["name"])
        group.add_to(m)
    if present:
        Legend(translate("map.legend.gaps", lang), present).add_to(m)
        folium.LayerControl(collapsed=True).add_to(m)
    return m


def _draw_rank(frame: gpd.GeoDataFrame) -> int:
    """0 for points, 1 for areas (and mixed layers), 2 for lines."""
    kinds = frame.geom_type
    if kinds.isin(["Point", "MultiPoint"]).all():
        return 0
    return 2 if kinds.isin(["LineString", "MultiLineString"]).all() else 1


def payload_bytes(m: folium.Map) -> int:
    """Size of the map's rendered HTML and script, as a browser would receive it."""
    return len(m.get_root().render().encode("utf-8"))


#: Colours of a person's places (:func:`my_area_map`), by kind.
PLACE_COLOURS = {
    "street": "#1565c0",
    "lane": "#00897b",
    "cell": "#7e57c2",
    "market": "#ef6c00",
    "premises": "#8d6e63",
    "street_office": "#546e7a",
    "district": "#546e7a",
}
#: Supervision colours of open problems on the map (white drawn grey, to show on paper).
PROBLEM_COLOURS = {"red": "#e53935", "yellow": "#fbc02d", "white": "#78909c"}


def my_area_map(
    places: gpd.GeoDataFrame,
    problems: gpd.GeoDataFrame | None,
    *,
    style: MapStyle,
) -> folium.Map:
    """A person's places (segments, lanes, cells, markets...) and their open problems.

    ``places`` needs ``kind`` and ``label``; ``problems`` needs ``colour`` (red, yellow,
    white; closed ones are not drawn), ``case_no``, ``category`` and ``deadline_text``.
    Both in EPSG:4326; the map fits the places.
    """
    lang = style.lang
    shown = to_display(places.loc[places.geometry.notna()], style)
    m = base_map(_bounds(shown), style=style)
    present: list[tuple[str, str]] = []
    # areas under lines under points, so that nothing hides what it contains
    for kind in ("district", "street_office", "cell", "street", "lane", "market", "premises"):
        part = shown.loc[shown["kind"] == kind]
        if not len(part):
            continue
        colour = PLACE_COLOURS[kind]
        label = f"{translate(f'my.kind.{kind}', lang)} ({len(part)})"
        present.append((colour, label))
        area = kind in {"district", "street_office"}
        _layer(m, part, name=label, colour=colour, properties=["label"], fields=["label"],
               aliases=[translate("my.col.place", lang)],
               line=kind in {"street", "lane"} or area, weight=2.0 if area else 4.0,
               fill_opacity=0.25)  # fmt: skip
    if problems is not None and len(problems):
        open_ = to_display(problems.loc[problems["colour"].isin(list(PROBLEM_COLOURS))], style)
        fields = ["case_no", "category", "deadline_text"]
        aliases = [translate(k, lang) for k in ("col.case_no", "col.category", "my.col.deadline")]
        for colour_key, colour in PROBLEM_COLOURS.items():
            part = open_.loc[open_["colour"] == colour_key]
            if not len(part):
                continue
            label = f"{translate(f'colour.{colour_key}', lang)} ({len(part)})"
            present.append((colour, label))
            _layer(m, part, name=label, colour=colour, properties=fields, fields=fields,
                   aliases=aliases)  # fmt: skip
    if present:
        Legend(translate("my.map.legend", lang), present).add_to(m)
    return m
