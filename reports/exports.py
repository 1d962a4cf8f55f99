"""Exports of any list of layers: an Excel workbook and a GeoPackage.

Both take a mapping of layer key -> (Geo)DataFrame, so gap layers, suggested
stations or any other analysis result go out the same way. Excel gets a summary
sheet and one sheet per layer, with each feature's longitude and latitude (WGS 84 or
GCJ-02 for Chinese web maps) instead of its geometry; the GeoPackage keeps the
geometries in the layers' own CRS, one table per layer.

Text that looks like a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``) reaches Excel
as the characters typed: every cell goes through :func:`reports.xlsx.put`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from gis.crs import CoordSystem, geoseries_to_web
from gis.errors import DataError
from reports.xlsx import looks_like_formula, put

Layers = Mapping[str, pd.DataFrame]

#: Rows an Excel sheet can hold below its header.
EXCEL_MAX_ROWS = 1_048_575
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_LAYER_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _sheet_names(keys: list[str], titles: Mapping[str, str]) -> list[str]:
    names: list[str] = []
    for key in keys:
        base = _SHEET_BAD.sub("_", titles.get(key, key)).strip("'")[:31] or "sheet"
        name, i = base, 2
        while name.lower() in {n.lower() for n in names}:
            suffix = f" ({i})"
            name, i = base[: 31 - len(suffix)] + suffix, i + 1
        names.append(name)
    return names


def _lonlat(frame: pd.DataFrame, coords: CoordSystem) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None or len(frame) == 0:
        nan = np.full(len(frame), np.nan)
        return nan, nan
    geoms = frame.geometry
    points = gpd.GeoSeries(geoms.representative_point(), crs=frame.crs)
    missing = geoms.isna().to_numpy() | geoms.is_empty.to_numpy()
    web = geoseries_to_web(points, coords)
    lon = np.where(missing, np.nan, web.x.to_numpy())
    lat = np.where(missing, np.nan, web.y.to_numpy())
    return np.round(lon, 7), np.round(lat, 7)


def _cell_value(value: Any, tz: str) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones: show local wall-clock time
        return pd.Timestamp(value).tz_convert(tz).tz_localize(None).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple | set | dict):
        return str(value)
    return value


def _row(ws: Any, values: list[Any], *, font: Font | None = None) -> list[Any]:
    """Values for ``ws.append`` on a write-only sheet ``ws``: formula-like text (and every
    value, with ``font``) as cells set through :func:`reports.xlsx.put`, so that it stays
    text; other values stay plain, which openpyxl writes faster."""
    out: list[Any] = []
    for value in values:
        if font is None and not looks_like_formula(value):
            out.append(value)
            continue
        cell = put(WriteOnlyCell(ws), value)
        if font is not None:
            cell.font = font
        out.append(cell)
    return out


def excel_bytes(
    layers: Layers,
    *,
    titles: Mapping[str, str] | None = None,
    sheet_names: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    coords: CoordSystem = "wgs84",
    timezone: str = "Asia/Shanghai",
    summary_title: str = "汇总 summary",
) -> bytes:
    """An .xlsx workbook: a summary sheet, then one sheet per layer.

    Parameters
    ----------
    layers
        Layer key -> DataFrame or GeoDataFrame (geometry becomes ``lon``/``lat``).
    titles
        Layer key -> title on the summary sheet (and sheet name, unless given).
    sheet_names
        Layer key -> sheet name (at most 31 characters are kept).
    headers
        Column -> header text; other columns keep their names.
    coords
        The system of ``lon``/``lat``: ``wgs84``, ``gcj02`` or ``bd09``.
    timezone
        Time-zone-aware times are written as wall-clock time in this zone.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"code": ["B1"]}, geometry=[Point(449000, 4420000)], crs=4548)
    >>> data = excel_bytes({"stations": g}, headers={"code": "编码"})
    >>> from openpyxl import load_workbook
    >>> ws = load_workbook(io.BytesIO(data))["stations"]
    >>> [c.value for c in ws[1]], round(ws["B2"].value, 3), round(ws["C2"].value, 3)
    (['编码', 'lon', 'lat'], 116.404, 39.913)
    """
    titles = titles or {}
    headers = headers or {}
    keys = list(layers)
    too_long = [k for k in keys if len(layers[k]) > EXCEL_MAX_ROWS]
    if too_long:
        msg = (
            f"layer(s) {', '.join(too_long)} have more rows than an Excel sheet holds "
            f"({EXCEL_MAX_ROWS:,}); export to GeoPackage (.gpkg) instead"
        )
        raise DataError(msg)
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    names = _sheet_names(keys, {**titles, **(sheet_names or {})})

    summary = wb.create_sheet(_sheet_names([summary_title], {})[0])
    summary.column_dimensions["A"].width = 48
    summary.column_dimensions["B"].width = 12
    summary.append(_row(summary, ["layer", "rows"], font=bold))
    for key, name in zip(keys, names, strict=True):
        summary.append(_row(summary, [titles.get(key, name), len(layers[key])]))

    for key, name in zip(keys, names, strict=True):
        frame = layers[key]
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        is_geo = isinstance(frame, gpd.GeoDataFrame)
        geom_col = frame.geometry.name if is_geo else None
        columns = [c for c in frame.columns if c != geom_col]
        labels = [headers.get(str(c), str(c)) for c in columns]
        if is_geo:
            labels += ["lon", "lat"]
        for i, label in enumerate(labels, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(max(10, 2 * len(label)), 60)
        ws.append(_row(ws, labels, font=bold))
        data = [frame[c].to_numpy(dtype=object) for c in columns]
        if is_geo:
            lon, lat = _lonlat(frame, coords)
            data += [lon.astype(object), lat.astype(object)]
        for row in zip(*data, strict=True):
            ws.append(_row(ws, [_cell_value(v, timezone) for v in row]))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _gpkg_frame(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = "a GeoPackage layer needs a GeoDataFrame; give the layer a geometry column"
        raise DataError(msg)
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        series = out[col]
        if series.dtype == object:
            sample = series.dropna()
            if len(sample) and isinstance(sample.iloc[0], dt.date | list | dict | tuple):
                out[col] = series.map(lambda v: None if v is None else str(v))
    return out


def write_geopackage(layers: Layers, path: Path | str) -> Path:
    """Write each layer as a table of one GeoPackage (replacing the file)."""
    target = Path(path)
    bad = [k for k in layers if not _LAYER_OK.match(k)]
    if bad:
        msg = f"GeoPackage layer names must be letters, digits and _; got {', '.join(bad)}"
        raise DataError(msg)
    frames = {k: _gpkg_frame(v) for k, v in layers.items()}
    target.unlink(missing_ok=True)
    for key, frame in frames.items():
        frame.to_file(target, layer=key, driver="GPKG", engine="pyogrio")
    return target


def geopackage_bytes(layers: Layers) -> bytes:
    """The GeoPackage of :func:`write_geopackage` as bytes (for a download button)."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_geopackage(layers, Path(tmp) / "export.gpkg").read_bytes()


def write_export(
    layers: Layers,
    path: Path | str,
    *,
    titles: Mapping[str, str] | None = None,
    sheet_names: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    coords: CoordSystem = "wgs84",
) -> Literal["xlsx", "gpkg"]:
    """Write ``layers`` to ``path``, choosing Excel or GeoPackage by its suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".xlsx":
        data = excel_bytes(
            layers, titles=titles, sheet_names=sheet_names, headers=headers, coords=coords
        )
        target.write_bytes(data)
        return "xlsx"
    if suffix == ".gpkg":
        write_geopackage(layers, target)
        return "gpkg"
    msg = f"cannot export to {target.name!r}: name a .xlsx (Excel) or .gpkg (GeoPackage) file"
    raise DataError(msg)
