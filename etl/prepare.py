"""One chunk of a file, made ready for COPY: values parsed, geometries checked and
moved to the working CRS, places derived, bad rows set aside with their reasons.

Everything here is vectorised over the chunk; nothing touches the database (the
reference layers were read beforehand into a :class:`~etl.derive.Places`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from numpy.typing import NDArray

from etl import values as v
from etl.columns import ColumnMap
from etl.contract import Column, LayerSpec
from etl.derive import NONE, Places, report_days, representative_points
from etl.geometry import (
    GeometryStage,
    ewkb,
    ewkb_points,
    parse_text_geometries,
    parse_wkb,
    wkb_points,
)
from etl.readers import RawChunk
from etl.specs import OPEN_CHOICES
from gis.segments import classify_kind

Ints = NDArray[np.int64]

_GRID_PATTERNS = {"14": r"\d{14}", "15": r"\d{15}", "15an": r"[0-9A-Z]{15}"}


@dataclass
class Context:
    """What every chunk of one load shares."""

    spec: LayerSpec
    columns: ColumnMap
    srid: int
    run_id: int
    timezone: str  # the deployment's (CITYGRID_TIMEZONE): wall times are read in it
    geometry: GeometryStage | None = None
    centre: GeometryStage | None = None
    places: Places | None = None
    categories: set[str] | None = None
    road_ids: dict[str, int] | None = None
    grid_scheme: str = "15"
    nearest_max_m: float = 60.0
    actor_offices: frozenset[int] | None = None


@dataclass
class Rows:
    """A chunk being prepared."""

    n: int
    values: dict[str, pa.Array]
    issues: v.Issues
    raw: dict[str, Any] = field(default_factory=dict)  # file values, for messages
    x: NDArray[np.float64] | None = None
    y: NDArray[np.float64] | None = None
    geoms: NDArray[np.object_] | None = None
    office: Ints | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ids(self, name: str, ints: Ints) -> None:
        self.values[name] = pa.array(ints, pa.int64(), mask=ints == NONE)

    def points(self) -> NDArray[np.object_]:
        """A point per row (None where there is no geometry)."""
        if self.x is not None and self.y is not None:
            pts = np.full(self.n, None, dtype=object)
            ok = np.isfinite(self.x) & np.isfinite(self.y) & ~self.issues.bad
            pts[ok] = shapely.points(self.x[ok], self.y[ok])
            return pts
        if self.geoms is None:
            return np.full(self.n, None, dtype=object)
        pts = np.full(self.n, None, dtype=object)
        ok = ~shapely.is_missing(self.geoms)
        pts[ok] = representative_points(self.geoms[ok])
        return pts


@dataclass
class Prepared:
    """A prepared chunk: the rows to write, and every problem found, by row."""

    table: pa.Table  # output columns of the good rows, in the spec's order
    keys: NDArray[np.object_]  # natural key of every row of the chunk
    good: NDArray[np.bool_]
    row_no: NDArray[np.int64]
    issues: pd.DataFrame
    n_repaired: int
    payload: bytes = b""  # ``table`` encoded for COPY, made by the worker thread


def encode_csv(table: pa.Table) -> bytes:
    """A table as headerless CSV, the way PostgreSQL's COPY reads it (empty = NULL)."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def prepare(ctx: Context, raw: RawChunk) -> Prepared:
    """Parse, check and derive one chunk."""
    n = raw.table.num_rows
    rows = Rows(n=n, values={}, issues=v.Issues(n))
    parse_columns(ctx, raw, rows)
    _geometry(ctx, raw, rows)
    for step in ctx.spec.derive:
        DERIVATIONS[step](ctx, rows)
    for name, value in ctx.spec.fixed.items():
        rows.values[name] = pa.array([value] * n, pa.string())
    _area_limit(ctx, rows)
    keys = _keys(ctx.spec, rows)
    _duplicates(ctx.spec, keys, raw.row_no, rows.issues)
    good = ~rows.issues.bad
    table = _output(ctx, rows, good)
    issues = rows.issues.frame(raw.row_no, keys)
    return Prepared(
        table=table,
        keys=keys,
        good=good,
        row_no=raw.row_no,
        issues=issues,
        n_repaired=int((rows.issues.repaired & good).sum()),
        payload=encode_csv(table) if table.num_rows else b"",
    )


# --- columns ------------------------------------------------------------------------


def parse_columns(ctx: Context, raw: RawChunk, rows: Rows) -> None:
    """Parse every canonical column of ``raw`` into ``rows`` (absent ones as nulls)."""
    for col in ctx.spec.columns:
        source = ctx.columns.columns.get(col.name)
        if source is None:
            rows.values[col.name] = _nulls(col, rows.n)
            continue
        arr = raw.table.column(source)
        rows.raw[col.name] = arr
        if col.required:
            v.required(v.text(arr), rows.issues, col.name)
        rows.values[col.name] = _parse(ctx, col, arr, rows.issues)


def _nulls(col: Column, n: int) -> pa.Array:
    kind = {
        "int": pa.int64(),
        "float": pa.float64(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
    }.get(col.kind, pa.string())
    return pa.nulls(n, kind)


def _parse(ctx: Context, col: Column, arr: Any, issues: v.Issues) -> pa.Array:
    spec = ctx.spec
    name = col.name
    if col.kind == "text":
        out = v.text(arr)
    elif col.kind == "code":
        out = v.code(arr, issues, name, pattern=col.pattern, pad_to=col.pad_to)
    elif col.kind == "choice":
        assert col.choices is not None
        keep = (spec.name, name) in OPEN_CHOICES
        out = v.choice(arr, issues, name, choices=col.choices, keep_unknown=keep)
    elif col.kind in {"int", "float"}:
        return v.number(
            arr,
            issues,
            name,
            integer=col.kind == "int",
            minimum=col.minimum,
            maximum=col.maximum,
        )
    elif col.kind == "date":
        return v.dates(arr, issues, name, tz=ctx.timezone)
    else:
        return v.timestamps(arr, issues, name, tz=ctx.timezone)
    return v.too_long(out, col.max_len, issues, name)


# --- geometry -----------------------------------------------------------------------


def _geometry(ctx: Context, raw: RawChunk, rows: Rows) -> None:
    stage = ctx.geometry
    if stage is None:
        return
    if raw.wkb is not None:
        if stage.rule.kind == "point":
            xy = wkb_points(raw.wkb)
            if xy is not None:
                rows.x, rows.y, _ = stage.points(*xy, rows.issues)
                return
        rows.geoms, _ = stage.geometries(parse_wkb(raw.wkb, rows.issues), rows.issues)
        return
    if ctx.columns.geometry_column is not None:
        text = raw.table.column(ctx.columns.geometry_column)
        geoms = parse_text_geometries(v.text(text), rows.issues)
        has_text = ~shapely.is_missing(geoms)
        if stage.rule.kind != "point" or not _has_lonlat(ctx) or has_text.all():
            rows.geoms, _ = stage.geometries(geoms, rows.issues)
            return
    if _has_lonlat(ctx) and stage.rule.lonlat:
        x = _floats(rows.values.get("lon"), ctx, raw, "lon", rows.issues)
        y = _floats(rows.values.get("lat"), ctx, raw, "lat", rows.issues)
        if stage.rule.kind == "point":
            rows.x, rows.y, _ = stage.points(x, y, rows.issues, required=stage.rule.required)
        else:
            given = np.isfinite(x) & np.isfinite(y)
            pts = np.full(rows.n, None, dtype=object)
            pts[given] = shapely.points(x[given], y[given])
            rows.geoms, _ = stage.geometries(pts, rows.issues)
        return
    if stage.rule.required:
        rows.issues.add(np.ones(rows.n, bool), "missing_geometry", "no geometry", field="geometry")


def _has_lonlat(ctx: Context) -> bool:
    return ctx.columns.has("lon") and ctx.columns.has("lat")


def _floats(
    parsed: pa.Array | None, ctx: Context, raw: RawChunk, name: str, issues: v.Issues
) -> NDArray[np.float64]:
    if parsed is None:
        parsed = v.number(raw.table.column(ctx.columns.columns[name]), issues, name)
    return np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=float)


# --- derivations ----------------------------------------------------------------------


def _admin_parent(ctx: Context, rows: Rows) -> None:
    code = rows.values["code"]
    level = rows.values["level"]
    derived = pc.case_when(
        pc.make_struct(pc.equal(level, "community"), pc.equal(level, "street_office")),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(code, 0, 9), "000", ""),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(code, 0, 6), "000000", ""),
    )
    rows.values["parent_code"] = pc.coalesce(rows.values["parent_code"], derived)


def _admin_centre(ctx: Context, rows: Rows) -> None:
    centre = np.full(rows.n, None, dtype=object)
    if ctx.centre is not None and _has_lonlat(ctx):
        x = np.asarray(rows.values["lon"].to_numpy(zero_copy_only=False), dtype=float)
        y = np.asarray(rows.values["lat"].to_numpy(zero_copy_only=False), dtype=float)
        wx, wy, ok = ctx.centre.points(x, y, rows.issues, required=False)
        centre[ok] = shapely.points(wx[ok], wy[ok])
    if rows.geoms is not None:
        todo = shapely.is_missing(centre) & ~shapely.is_missing(rows.geoms)
        centre[todo] = shapely.point_on_surface(rows.geoms[todo])
    rows.extra["centre"] = centre


def _category_major(ctx: Context, rows: Rows) -> None:
    rows.values["major_code"] = pc.coalesce(
        rows.values["major_code"], pc.utf8_slice_codeunits(rows.values["code"], 0, 2)
    )


def _cell_code(ctx: Context, rows: Rows) -> None:
    scheme = ctx.grid_scheme
    code = rows.values["code"]
    bad = v.mask(pc.invert(pc.match_substring_regex(code, f"^(?:{_GRID_PATTERNS[scheme]})$")))
    rows.issues.add(
        bad,
        "bad_code",
        f"grid cell code does not follow the deployment's scheme {scheme!r} "
        f"({_GRID_SCHEME_TEXT[scheme]})",
        field="code",
        value=code,
    )
    if scheme == "15an":
        return
    prefix = pc.utf8_slice_codeunits(code, 0, 12)
    given = rows.values["community_code"]
    mismatch = v.mask(pc.and_(pc.is_valid(given), pc.not_equal(prefix, given))) & ~bad
    rows.issues.add(
        mismatch,
        "code_mismatch",
        v.as_object(
            pc.binary_join_element_wise(
                "the grid cell code does not start with its community code ", given, ""
            )
        ),
        field="code",
        value=code,
    )
    rows.values["community_code"] = pc.coalesce(given, pc.if_else(pa.array(bad), None, prefix))


_GRID_SCHEME_TEXT = {
    "14": "12-digit community code + 2 digits",
    "15": "12-digit community code + 3 digits",
    "15an": "15 characters 0-9 A-Z",
}


def _cell_community(ctx: Context, rows: Rows) -> None:
    places = _places(ctx)
    codes = v.as_object(rows.values["community_code"])
    community, unknown = places.ids_for_codes(codes, "community")
    rows.issues.add(
        unknown,
        "unknown_reference",
        "community code is not among the loaded communities; load admin_areas first or fix it",
        field="community_code",
        value=rows.values["community_code"],
    )
    todo = (community == NONE) & ~unknown & ~rows.issues.bad
    if todo.any() and rows.geoms is not None:
        _, found, _ = places.locate(representative_points(rows.geoms[todo]))
        community[todo] = found
    rows.issues.add(
        (community == NONE) & ~unknown & ~rows.issues.bad,
        "no_community",
        "no community code given and the cell lies in no loaded community",
        field="community_code",
    )
    rows.ids("community_id", community)
    rows.office = places.office_of(community)


def _area(ctx: Context, rows: Rows) -> None:
    assert rows.geoms is not None
    rows.values["area_m2"] = pa.array(shapely.area(rows.geoms), pa.float64(), from_pandas=True)


def _length(ctx: Context, rows: Rows) -> None:
    assert rows.geoms is not None
    rows.values["length_m"] = pa.array(shapely.length(rows.geoms), pa.float64(), from_pandas=True)


def _default_kind(ctx: Context, rows: Rows) -> None:
    """A kind the row lacks comes from its road class (胡同, 小街巷, lane ... -> lane)."""
    road_class = pd.Series(v.as_object(rows.values["road_class"]), dtype=object)
    derived = pa.array(classify_kind(road_class).to_numpy(dtype=object), pa.string())
    rows.values["kind"] = pc.coalesce(rows.values["kind"], derived)


def _default_state(ctx: Context, rows: Rows) -> None:
    rows.values["state"] = pc.coalesce(rows.values["state"], "intact")


def _road_ref(ctx: Context, rows: Rows) -> None:
    codes = v.as_object(rows.values["road_code"])
    table = ctx.road_ids or {}
    ids = np.fromiter(
        (table.get(c, NONE) if c is not None else NONE for c in codes), np.int64, count=rows.n
    )
    unknown = (ids == NONE) & np.asarray([c is not None for c in codes], dtype=bool)
    rows.issues.add(
        unknown,
        "unknown_road",
        "road_code is not among the loaded roads; loaded without the link to its road",
        field="road_code",
        value=rows.values["road_code"],
        loaded=True,
    )
    rows.ids("road_id", ids)


def _place_codes(ctx: Context, rows: Rows) -> None:
    places = _places(ctx)
    office, unknown = places.ids_for_codes(
        v.as_object(rows.values["street_office_code"]), "street_office"
    )
    rows.issues.add(
        unknown,
        "unknown_reference",
        "street_office_code is not among the loaded street offices; placed from the map instead",
        field="street_office_code",
        value=rows.values["street_office_code"],
        loaded=True,
    )
    rows.extra["office"] = office
    if "community_code" in rows.values:
        community, unknown = places.ids_for_codes(
            v.as_object(rows.values["community_code"]), "community"
        )
        rows.issues.add(
            unknown,
            "unknown_reference",
            "community_code is not among the loaded communities; placed from the map instead",
            field="community_code",
            value=rows.values["community_code"],
            loaded=True,
        )
        rows.extra["community"] = community
        from_community = places.office_of(community)
        office = np.where(office == NONE, from_community, office)
        rows.extra["office"] = office
    rows.ids("street_office_id", office)
    rows.office = office


def _place_spatial(ctx: Context, rows: Rows) -> None:
    places = _places(ctx)
    office = rows.extra.get("office", np.full(rows.n, NONE, dtype=np.int64))
    community = rows.extra.get("community", np.full(rows.n, NONE, dtype=np.int64))
    todo = ((office == NONE) | (community == NONE)) & ~rows.issues.bad
    if todo.any():
        pts = rows.points()[todo]
        _, found_community, found_office = places.locate(pts)
        community = community.copy()
        office = office.copy()
        community[todo] = np.where(community[todo] == NONE, found_community, community[todo])
        office[todo] = np.where(office[todo] == NONE, found_office, office[todo])
    rows.ids("street_office_id", office)
    rows.ids("community_id", community)
    rows.office = office


def _person_key(ctx: Context, rows: Rows) -> None:
    phone = rows.values["phone"]
    digits = pc.replace_substring_regex(phone, r"[^\d+]", "")
    rows.values["phone"] = pc.if_else(pc.equal(digits, ""), None, digits)
    derived = pc.binary_join_element_wise(
        rows.values["name"], pc.fill_null(rows.values["phone"], ""), "|"
    )
    rows.values["person_key"] = pc.coalesce(rows.values["person_key"], derived)


def _problem_dates(ctx: Context, rows: Rows) -> None:
    reported = rows.values["reported_at"]
    for name, text in (("closed_at", "closed"), ("deadline", "due")):
        before = v.mask(pc.less(rows.values[name], reported))
        rows.issues.add(
            before,
            "inconsistent_dates",
            f"{name} is before reported_at (a case cannot be {text} before it is reported)",
            field=name,
            value=rows.raw.get(name),
        )


def _category_ref(ctx: Context, rows: Rows) -> None:
    known = pa.array(sorted(ctx.categories or ()), pa.string())
    code = rows.values["category_code"]
    unknown = v.mask(pc.and_(pc.is_valid(code), pc.invert(pc.is_in(code, value_set=known))))
    rows.issues.add(
        unknown,
        "unknown_reference",
        "category_code is not in the categories table; load the categories first or fix it",
        field="category_code",
        value=code,
    )


def _problem_places(ctx: Context, rows: Rows) -> None:
    places = _places(ctx)
    if rows.x is not None and rows.y is not None:
        x, y = rows.x, rows.y
    else:
        xy = np.full((rows.n, 2), np.nan)
        pts = rows.points()
        have = ~shapely.is_missing(pts)
        xy[have] = shapely.get_coordinates(pts[have])
        x, y = xy[:, 0], xy[:, 1]
    ok = np.isfinite(x) & np.isfinite(y) & ~rows.issues.bad
    cell = np.full(rows.n, NONE, dtype=np.int64)
    community = cell.copy()
    office = cell.copy()
    segment = cell.copy()
    dist = np.full(rows.n, np.nan)
    if ok.any():
        days = report_days(rows.values["reported_at"], tz=ctx.timezone)
        cell[ok], community[ok], office[ok] = places.locate_xy(x[ok], y[ok], days=days[ok])
        segment[ok], dist[ok] = places.nearest_segment_xy(
            x[ok], y[ok], max_distance_m=ctx.nearest_max_m
        )
    rows.ids("cell_id", cell)
    rows.ids("community_id", community)
    rows.ids("street_office_id", office)
    rows.ids("segment_id", segment)
    rows.values["segment_dist_m"] = pa.array(dist, pa.float64(), from_pandas=True)
    rows.office = office


def _places(ctx: Context) -> Places:
    if ctx.places is None:
        msg = f"layer {ctx.spec.name} needs the reference layers, which were not read"
        raise RuntimeError(msg)
    return ctx.places


DERIVATIONS: dict[str, Callable[[Context, Rows], None]] = {
    "admin_parent": _admin_parent,
    "admin_centre": _admin_centre,
    "category_major": _category_major,
    "cell_code": _cell_code,
    "cell_community": _cell_community,
    "area": _area,
    "length": _length,
    "default_kind": _default_kind,
    "default_state": _default_state,
    "road_ref": _road_ref,
    "place_codes": _place_codes,
    "place_spatial": _place_spatial,
    "person_key": _person_key,
    "problem_dates": _problem_dates,
    "category_ref": _category_ref,
    "problem_places": _problem_places,
}


# --- area, keys, output ---------------------------------------------------------------


def _area_limit(ctx: Context, rows: Rows) -> None:
    allowed = ctx.actor_offices
    if allowed is None or ctx.spec.scope == "global":
        return
    office = rows.office if rows.office is not None else np.full(rows.n, NONE, dtype=np.int64)
    outside = ~np.isin(office, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
    rows.issues.add(
        outside & ~rows.issues.bad,
        "outside_your_area",
        "the row's street office is outside the street offices you may load for",
        field="street_office",
        value=np.where(office == NONE, None, office.astype(object)),
    )


def _keys(spec: LayerSpec, rows: Rows) -> NDArray[np.object_]:
    return v.as_object(rows.values[spec.natural_key])


def _duplicates(
    spec: LayerSpec, keys: NDArray[np.object_], row_no: NDArray[np.int64], issues: v.Issues
) -> None:
    present = np.asarray([k is not None for k in keys], dtype=bool) & ~issues.bad
    if not present.any():
        return
    if len(pc.unique(pa.array(keys[present], pa.string()))) == int(present.sum()):
        return  # the usual case: no key repeats within the chunk
    frame = pd.DataFrame({"key": keys[present], "row": row_no[present]})
    first = frame.groupby("key", sort=False)["row"].transform("min").to_numpy()
    dup = np.zeros(len(keys), dtype=bool)
    later = frame["row"].to_numpy() != first
    dup[np.flatnonzero(present)[later]] = True
    reasons = np.full(len(keys), None, dtype=object)
    reasons[np.flatnonzero(present)[later]] = [
        f"{spec.natural_key} appears more than once in the file (first at row {r}); "
        "only the first is loaded"
        for r in first[later]
    ]
    issues.add(dup, "duplicate_key", reasons, field=spec.natural_key, value=keys)


def _output(ctx: Context, rows: Rows, good: NDArray[np.bool_]) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    take = pa.array(np.flatnonzero(good))
    for name in ctx.spec.output:
        if name == "geom":
            cols[name] = _geom_out(ctx, rows, good)
        elif name == "centre":
            centre = rows.extra["centre"][good]
            cols[name] = ewkb(centre, ctx.srid)
        else:
            cols[name] = rows.values[name].take(take)
    cols["load_run_id"] = pa.array(np.full(int(good.sum()), ctx.run_id, dtype=np.int64))
    return pa.table(cols)


def _geom_out(ctx: Context, rows: Rows, good: NDArray[np.bool_]) -> pa.Array:
    if rows.x is not None and rows.y is not None:
        return ewkb_points(rows.x[good], rows.y[good], ctx.srid)
    if rows.geoms is None:
        return pa.nulls(int(good.sum()), pa.string())
    return ewkb(rows.geoms[good], ctx.srid)
