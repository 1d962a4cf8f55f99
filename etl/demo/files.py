"""The demo district as the files a city would hand over, and a manifest of them.

Each layer is written in a format and coordinate system it really arrives in: the
administrative areas in GCJ-02 (a web map's district service, as the real reference
data is), premises in GCJ-02 (a web map's POI export), markets in CGCS2000
longitude/latitude, cells, roads and segments in the metric working CRS (a GIS
department's files), bait stations and problems as CSV with WGS 84 coordinates (a
GPS survey, a case-system export), rosters as Excel. ``manifest.json`` lists them in
load order with the options to load them with.

Problems, rosters and inspection dates are relative to the day the district was
generated; :func:`shift_files` moves them by whole days so that a district generated
earlier still ends "today".
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook

from etl.demo.build import CATEGORIES_CSV, GENERATOR_VERSION, DemoData
from gis.crs import wgs84_to_gcj02

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DemoFile:
    """One file of a demo district and how to load it."""

    layer: str
    file: str
    coords: str = "wgs84"
    timed: bool = False  # holds dates relative to the generation day


FILES: tuple[DemoFile, ...] = (
    DemoFile("admin_areas", "admin_areas.gpkg", coords="gcj02"),
    DemoFile("categories", "categories.csv"),
    DemoFile("grid_cells", "grid_cells.gpkg"),
    DemoFile("roads", "roads.gpkg"),
    DemoFile("road_segments", "road_segments.gpkg"),
    DemoFile("lanes", "lanes.gpkg"),
    DemoFile("markets", "markets.gpkg"),
    DemoFile("premises", "premises.gpkg", coords="gcj02"),
    DemoFile("bait_stations", "bait_stations.csv", timed=True),
    DemoFile("people", "people.xlsx"),
    DemoFile("assignments", "assignments.xlsx", timed=True),
    DemoFile("problems", "problems.csv", timed=True),
)
_SEGMENT_COLUMNS = [
    "code", "road_name", "from_name", "to_name", "road_class", "kind", "road_code",
    "street_office_code", "community_code", "geometry",
]  # fmt: skip


def _to_gcj(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    wgs = frame.to_crs(4326)

    def shift(xy: np.ndarray) -> np.ndarray:
        x, y = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = wgs.copy()
    out.geometry = gpd.GeoSeries(shapely.transform(np.asarray(wgs.geometry.values), shift),
                                 index=wgs.index, crs=4326)  # fmt: skip
    return out


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str) -> None:
    """Write a plain sheet quickly (openpyxl's streaming writer)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append([None if (v is None or (isinstance(v, float) and np.isnan(v))) else v
                   for v in row])  # fmt: skip
    wb.save(path)


def write_demo(data: DemoData, folder: Path) -> dict[str, Any]:
    """Write every layer of ``data`` into ``folder`` with its manifest; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    admin = data.admin.copy()
    lon, lat = _lonlat_gcj(admin.centre_x.to_numpy(), admin.centre_y.to_numpy(), data.crs)
    admin = _to_gcj(admin[["code", "name", "level", "parent_code", "population", "geometry"]])
    admin.insert(5, "lon", np.round(lon, 6))
    admin.insert(6, "lat", np.round(lat, 6))
    admin.to_file(folder / "admin_areas.gpkg", layer="admin_areas")
    shutil.copyfile(CATEGORIES_CSV, folder / "categories.csv")
    data.cells[["code", "community_code", "responsible_body", "valid_from", "valid_to",
                "geometry"]].to_file(folder / "grid_cells.gpkg", layer="grid_cells")  # fmt: skip
    data.roads[["code", "name", "road_class", "kind", "geometry"]].to_file(
        folder / "roads.gpkg", layer="roads"
    )
    segs = data.segments[_SEGMENT_COLUMNS]
    segs[segs.kind == "street"].to_file(folder / "road_segments.gpkg", layer="road_segments")
    segs[segs.kind == "lane"].to_file(folder / "lanes.gpkg", layer="lanes")
    data.markets[["code", "name", "kind", "address", "geometry"]].to_crs(4490).to_file(
        folder / "markets.gpkg", layer="markets"
    )
    _to_gcj(data.premises[["code", "name", "kind", "address", "geometry"]]).to_file(
        folder / "premises.gpkg", layer="premises"
    )
    st = data.stations.to_crs(4326)
    stations = pd.DataFrame(st.drop(columns="geometry"))
    stations["lon"] = np.round(st.geometry.x, 7)
    stations["lat"] = np.round(st.geometry.y, 7)
    stations.to_csv(folder / "bait_stations.csv", index=False)
    write_xlsx(data.people, folder / "people.xlsx", sheet="人员名单")
    write_xlsx(data.assignments, folder / "assignments.xlsx", sheet="街巷长名单")
    data.problems.to_csv(folder / "problems.csv", index=False)
    manifest = {
        "format": FORMAT_VERSION,
        "generator": GENERATOR_VERSION,
        "size": data.size,
        "seed": data.seed,
        "as_of": data.as_of.isoformat(timespec="minutes"),
        "crs": data.crs,
        "grid_code_scheme": data.scheme,
        "files": [f.__dict__ for f in FILES],
        "counts": {
            "admin_areas": len(data.admin),
            "categories": len(data.categories),
            "grid_cells": len(data.cells),
            "roads": len(data.roads),
            "road_segments": int((data.segments.kind == "street").sum()),
            "lanes": int((data.segments.kind == "lane").sum()),
            "markets": len(data.markets),
            "premises": len(data.premises),
            "bait_stations": len(data.stations),
            "people": len(data.people),
            "assignments": len(data.assignments),
            "problems": len(data.problems),
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    return manifest


def _lonlat_gcj(x: np.ndarray, y: np.ndarray, crs: int) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    return wgs84_to_gcj02(lon, lat)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a demo folder."""
    return dict(json.loads((folder / MANIFEST).read_text("utf-8")))


def find_file(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, or its gzip-compressed copy ``name.gz`` (the sample)."""
    path = folder / name
    return path if path.is_file() else folder / f"{name}.gz"


# --- moving a district in time --------------------------------------------------------

_TIMED_COLUMNS = {
    "bait_stations": ("installed_on", "last_inspected"),
    "assignments": ("valid_from",),
    "problems": ("reported_at", "deadline", "closed_at"),
}


def _shift_text(values: pd.Series, days: int) -> pd.Series:
    """Shift ISO dates or ``YYYY-MM-DDTHH:MM:SS+08:00`` times by whole days, as text."""
    s = values.astype("string")
    ok = s.notna() & (s.str.len() >= 10)
    out = s.copy()
    if not ok.any():
        return out
    text = s[ok]
    head = text.str[:19] if text.str.len().max() > 10 else text.str[:10]
    unit = "s" if text.str.len().max() > 10 else "D"
    moved = np.array(head.to_numpy(dtype=str), dtype=f"datetime64[{unit}]") + np.timedelta64(
        days, "D"
    )
    moved_text = pd.Series(np.datetime_as_string(moved, unit=unit), index=text.index)
    tail = text.str[19:] if unit == "s" else ""
    out[ok] = moved_text + tail
    return out


def shift_files(
    folder: Path, out: Path, *, days: int, now: dt.datetime | None = None
) -> dict[str, Path]:
    """Copies of the timed files of ``folder`` moved ``days`` later, written to ``out``.

    With ``now`` (naive Beijing time), problems are cut there: reports after ``now``
    are dropped and cases closing after ``now`` are still open, at the stage their
    elapsed share of handling time gives. Returns layer -> path of each shifted file.
    """
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    for f in FILES:
        if not f.timed:
            continue
        src = find_file(folder, f.file)
        dst = out / f.file
        if f.file.endswith(".xlsx"):
            frame = pd.read_excel(src, dtype=str)
        else:
            frame = pd.read_csv(src, dtype=str, keep_default_na=False, na_values=[""])
        for col in _TIMED_COLUMNS[f.layer]:
            frame[col] = _shift_text(frame[col], days)
        if f.layer == "problems" and now is not None:
            frame = cut_at(frame, now)
        if f.file.endswith(".xlsx"):
            write_xlsx(frame, dst, sheet="街巷长名单")
        else:
            frame.to_csv(dst, index=False)
        done[f.layer] = dst
    return done


def _local(values: pd.Series) -> np.ndarray:
    text = values.fillna("").astype(str).str[:19].replace("", "NaT")
    return np.array(text.to_numpy(dtype=str), dtype="datetime64[s]")


def cut_at(problems: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """Problems as they stand at ``now``: nothing reported later, nothing closed later.

    >>> p = pd.DataFrame({"status": ["closed", "closed"], "closed_at": [
    ...     "2026-01-01T10:00:00+08:00", "2026-01-01T12:00:00+08:00"], "reported_at": [
    ...     "2026-01-01T08:00:00+08:00", "2026-01-01T08:00:00+08:00"]})
    >>> cut_at(p, dt.datetime(2026, 1, 1, 11, 0)).status.tolist()
    ['closed', 'handling']
    """
    t = np.datetime64(now.replace(microsecond=0), "s")
    reported = _local(problems.reported_at)
    keep = reported <= t
    out = problems[keep].copy()
    reported = reported[keep]
    closed = _local(out.closed_at)
    later = ~np.isnat(closed) & (closed > t)
    if later.any():
        took = (closed[later] - reported[later]).astype(float)
        frac = (t - reported[later]).astype(float) / np.maximum(took, 1.0)
        stage = np.select([frac < 0.1, frac < 0.3, frac < 0.85], ["reported", "dispatched", "handling"],
                          "checking")  # fmt: skip
        out.loc[later, "status"] = stage
        out.loc[later, "closed_at"] = None
    return out


def gunzip_to(src: Path, dst: Path) -> Path:
    """Decompress ``src`` (``.gz``) to ``dst``."""
    with gzip.open(src, "rb") as fin, dst.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 22)
    return dst


def days_behind(as_of: str, today: dt.date) -> int:
    """Whole calendar days from a manifest's ``as_of`` to ``today`` (0 if not behind)."""
    return max(0, (today - dt.datetime.fromisoformat(as_of).date()).days)
