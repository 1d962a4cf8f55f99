"""Geometries at load: parse, check type, convert GCJ-02/BD-09, reproject, check the area,
repair what can be repaired without guessing, and encode for COPY.

Points travel as coordinate arrays (a million shapely objects cost more than the
arithmetic); other geometries as shapely arrays. Both end in the working CRS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from etl.contract import GeometryRule
from etl.values import Issues
from gis.crs import bd09_to_wgs84, gcj02_to_wgs84
from gis.errors import CRSError

Coords = Literal["wgs84", "gcj02", "bd09"]
Floats = NDArray[np.float64]
Geoms = NDArray[np.object_]

_ALLOWED: dict[str, frozenset[str]] = {
    "point": frozenset({"Point"}),
    "line": frozenset({"LineString", "MultiLineString"}),
    "polygon": frozenset({"Polygon", "MultiPolygon"}),
    "polygon_or_point": frozenset({"Polygon", "MultiPolygon", "Point"}),
}
_EXPECTED_TEXT = {
    "point": "a point",
    "line": "a line (LineString)",
    "polygon": "a polygon",
    "polygon_or_point": "a polygon or a point",
}


def parse_crs(value: str | int | None) -> CRS | None:
    """A CRS from ``--crs`` (EPSG code, ``EPSG:4548``, WKT or PROJ string)."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return CRS.from_epsg(int(text)) if text.isdigit() else CRS.from_user_input(text)
    except Exception:
        msg = (
            f"--crs {value!r} is not a coordinate reference system pyproj knows; use e.g. EPSG:4548"
        )
        raise CRSError(msg) from None


def looks_lonlat(x: Floats, y: Floats) -> bool:
    """Whether most finite coordinate pairs fit longitude/latitude ranges.

    Most, not all: a few swapped or mistyped rows must not make a whole file look
    projected (those rows are reported one by one).

    >>> looks_lonlat(np.array([116.4, 39.9]), np.array([39.9, 116.4]))
    True
    >>> looks_lonlat(np.array([447000.0]), np.array([4419000.0]))
    False
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return True
    fits = (np.abs(x[ok]) <= 180) & (np.abs(y[ok]) <= 90)
    return bool(fits.mean() >= 0.5)


@dataclass
class Area:
    """Where features may lie: a polygon in the working CRS, and how to name it."""

    polygon: Any
    label: str

    def __post_init__(self) -> None:
        shapely.prepare(self.polygon)


def area_of_use(working: CRS, *, tolerance_m: float) -> Area:
    """The working CRS's area of use (when no district boundary is loaded yet)."""
    aou = working.area_of_use
    if aou is None:
        msg = f"the working CRS {working.name} declares no area of use; load the district boundary"
        raise CRSError(msg)
    box = shapely.box(aou.west, aou.south, aou.east, aou.north).segmentize(0.1)
    tr = Transformer.from_crs(4326, working, always_xy=True)
    poly = shapely.transform(box, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
    return Area(shapely.buffer(poly, tolerance_m), f"the area of use of {working.name}")


@dataclass
class GeometryStage:
    """Turns a chunk's raw geometries into valid working-CRS geometries, reporting rows.

    ``source`` is None until the first coordinates are seen: coordinates that look like
    longitude/latitude are then read in ``lonlat_crs`` (EPSG:4326 when None: nobody
    said), others in ``projected_crs`` (an error when None: nobody said). The
    longitude/latitude columns of a GIS file in a projected CRS get that CRS's datum
    and the CRS itself.
    """

    rule: GeometryRule
    working_srid: int
    area: Area
    source: CRS | None = None
    coords: Coords = "wgs84"
    crs_given: bool = False
    notes: list[str] = field(default_factory=list)
    lonlat_crs: CRS | None = None
    projected_crs: CRS | None = None
    what: str = "coordinates"
    _tr: Transformer | None = None

    def _resolve(self, x: Floats, y: Floats) -> Transformer:
        if self._tr is not None:
            return self._tr
        if self.source is None:
            self.source = self._unlabelled(x, y)
        if self.coords != "wgs84" and not self.source.is_geographic:
            msg = (
                f"--coords {self.coords} applies to longitude/latitude data, but the coordinates "
                f"are in {self.source.name}; drop --coords or fix the CRS with --crs"
            )
            raise CRSError(msg)
        self._tr = Transformer.from_crs(
            self.source, CRS.from_epsg(self.working_srid), always_xy=True
        )
        return self._tr

    def _unlabelled(self, x: Floats, y: Floats) -> CRS:
        """The CRS of coordinates nobody labelled, judged from their values."""
        if looks_lonlat(x, y):
            if self.lonlat_crs is not None:
                self.notes.append(
                    f"{self.what} read as longitude/latitude on the datum of the file's CRS "
                    f"({self.lonlat_crs.name})"
                )
                return self.lonlat_crs
            self.notes.append(f"no CRS given: {self.what} read as longitude/latitude (EPSG:4326)")
            return CRS.from_epsg(4326)
        if self.projected_crs is not None:
            self.notes.append(f"{self.what} read in the file's CRS ({self.projected_crs.name})")
            return self.projected_crs
        sample = next(((a, b) for a, b in zip(x, y, strict=True) if np.isfinite(a)), (0, 0))
        msg = (
            f"the {self.what} have no CRS and do not look like longitude/latitude "
            f"(e.g. x={sample[0]:.1f}, y={sample[1]:.1f}); give the CRS with --crs, "
            f"e.g. --crs EPSG:{self.working_srid}"
        )
        raise CRSError(msg)

    def _to_working(self, x: Floats, y: Floats) -> tuple[Floats, Floats]:
        tr = self._resolve(x, y)
        if self.coords == "gcj02":
            x, y = gcj02_to_wgs84(x, y)
        elif self.coords == "bd09":
            x, y = bd09_to_wgs84(x, y)
        with np.errstate(invalid="ignore"):
            wx, wy = tr.transform(x, y, errcheck=False)
        return np.asarray(wx, dtype=float), np.asarray(wy, dtype=float)

    # -- points given as coordinates -------------------------------------------------
    def points(
        self, x: Floats, y: Floats, issues: Issues, *, required: bool = True
    ) -> tuple[Floats, Floats, NDArray[np.bool_]]:
        """Coordinate columns to working-CRS x/y; returns x, y and the rows that have a point."""
        given = np.isfinite(x) & np.isfinite(y)
        half = np.isfinite(x) ^ np.isfinite(y)
        issues.add(
            half, "bad_coordinate", "only one of the two coordinates is given", field="lon/lat"
        )
        if required:
            issues.add(
                ~given & ~half,
                "missing_geometry",
                "no coordinates (lon/lat) given",
                field="lon/lat",
            )
        wx, wy = self._to_working(x, y)
        ok = given & np.isfinite(wx) & np.isfinite(wy)
        if self.source is not None and self.source.is_geographic:
            ok &= (np.abs(x) <= 180) & (np.abs(y) <= 90)
        inside = np.zeros(len(x), dtype=bool)
        inside[ok] = shapely.contains_xy(self.area.polygon, wx[ok], wy[ok])
        self._report_outside(given & ~inside, ok, x, y, issues)
        keep = ok & inside
        return wx, wy, keep

    def _report_outside(
        self,
        out: NDArray[np.bool_],
        convertible: NDArray[np.bool_],
        x: Floats,
        y: Floats,
        issues: Issues,
    ) -> None:
        """Report points outside the area: swapped lon/lat, out of range, or just outside."""
        if not out.any():
            return
        sx, sy = self._to_working(y, x)
        swapped = np.zeros(len(x), dtype=bool)
        fin = out & np.isfinite(sx) & np.isfinite(sy)
        swapped[fin] = shapely.contains_xy(self.area.polygon, sx[fin], sy[fin])
        issues.add(
            swapped,
            "swapped_lonlat",
            "longitude and latitude look swapped (swapped, the point falls in the area); "
            "fix the row, or map the columns the other way round",
            field="lon/lat",
            value=_pairs(x, y),
        )
        rest = out & ~swapped
        issues.add(
            rest & ~convertible,
            "bad_coordinate",
            "the coordinates are out of range for their CRS",
            field="lon/lat",
            value=_pairs(x, y),
        )
        issues.add(
            rest & convertible,
            "outside_area",
            f"outside {self.area.label}",
            field="lon/lat",
            value=_pairs(x, y),
        )

    # -- geometries ------------------------------------------------------------------
    def geometries(self, geoms: Geoms, issues: Issues) -> tuple[Geoms, NDArray[np.bool_]]:
        """Shapely geometries (source CRS) to valid working-CRS ones; returns them and a mask."""
        geoms = np.asarray(geoms, dtype=object)
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        if self.rule.required:
            issues.add(
                ~present, "missing_geometry", "the geometry is empty or missing", field="geometry"
            )
        geoms = np.where(present, shapely.force_2d(geoms), None)
        geoms = _single_points(geoms)
        kinds = np.asarray(shapely.get_type_id(geoms))
        names = np.array(["", *_TYPE_NAMES])[kinds + 1]
        allowed = np.isin(names, list(_ALLOWED[self.rule.kind]))
        wrong = present & ~allowed
        got = f"expected {_EXPECTED_TEXT[self.rule.kind]}, got " + names.astype(object)
        issues.add(wrong, "wrong_geometry_type", got, field="geometry")
        ok = present & allowed
        if not ok.any():
            return np.full(len(geoms), None, dtype=object), ok
        coords = shapely.get_coordinates(geoms[ok])
        self._resolve(coords[:, 0], coords[:, 1])
        moved = shapely.transform(
            geoms[ok], lambda c: np.column_stack(self._to_working(c[:, 0], c[:, 1]))
        )
        out = np.full(len(geoms), None, dtype=object)
        out[ok] = moved
        finite = np.zeros(len(geoms), dtype=bool)
        finite[ok] = np.isfinite(shapely.bounds(moved)).all(axis=1)
        issues.add(
            ok & ~finite,
            "bad_coordinate",
            "coordinates cannot be converted (out of range)",
            field="geometry",
        )
        ok &= finite
        inside = np.zeros(len(geoms), dtype=bool)
        inside[ok] = shapely.intersects(self.area.polygon, out[ok])
        self._report_outside_geoms(ok & ~inside, geoms, issues)
        ok &= inside
        out, ok = self._repair(out, ok, issues)
        if self.rule.multi:
            out[ok] = _to_multi(out[ok])
        out[~ok] = None
        return out, ok

    def _report_outside_geoms(self, out: NDArray[np.bool_], src: Geoms, issues: Issues) -> None:
        if not out.any():
            return
        swapped_geoms = shapely.transform(src[out], lambda c: c[:, ::-1])
        moved = shapely.transform(
            swapped_geoms, lambda c: np.column_stack(self._to_working(c[:, 0], c[:, 1]))
        )
        hit = np.zeros(len(src), dtype=bool)
        fin = np.isfinite(shapely.bounds(moved)).all(axis=1)
        hit_sub = np.zeros(len(moved), dtype=bool)
        hit_sub[fin] = shapely.intersects(self.area.polygon, moved[fin])
        hit[np.flatnonzero(out)] = hit_sub
        issues.add(
            hit,
            "swapped_lonlat",
            "x and y (longitude and latitude) look swapped: swapped, the feature falls in "
            "the area; fix the file",
            field="geometry",
        )
        issues.add(out & ~hit, "outside_area", f"outside {self.area.label}", field="geometry")

    def _repair(
        self, geoms: Geoms, ok: NDArray[np.bool_], issues: Issues
    ) -> tuple[Geoms, NDArray[np.bool_]]:
        if self.rule.kind == "point":
            return geoms, ok
        invalid = np.zeros(len(geoms), dtype=bool)
        invalid[ok] = ~shapely.is_valid(geoms[ok])
        if not invalid.any():
            return geoms, ok
        idx = np.flatnonzero(invalid)
        bad = geoms[idx]
        why = np.asarray(shapely.is_valid_reason(bad), dtype=object)
        fixed = np.full(len(idx), None, dtype=object)
        agree = np.zeros(len(idx), dtype=bool)
        polygonal = np.isin(shapely.get_type_id(bad), [3, 6])
        if polygonal.any():
            a = shapely.make_valid(bad[polygonal], method="structure", keep_collapsed=False)
            b = shapely.buffer(bad[polygonal], 0)
            a_area = shapely.area(a)
            diff = shapely.area(shapely.symmetric_difference(a, b))
            same = (diff <= np.maximum(1e-6 * a_area, 1e-4)) & (a_area > 0)
            same &= np.isin(shapely.get_type_id(a), [3, 6])
            fixed[polygonal] = a
            agree[polygonal] = same
        if (~polygonal).any():
            a = shapely.make_valid(bad[~polygonal])
            same = np.isin(shapely.get_type_id(a), [1, 5]) & (shapely.length(a) > 0)
            fixed[~polygonal] = a
            agree[~polygonal] = same
        repaired = np.zeros(len(geoms), dtype=bool)
        repaired[idx[agree]] = True
        unfixable = np.zeros(len(geoms), dtype=bool)
        unfixable[idx[~agree]] = True
        reasons = np.full(len(geoms), "", dtype=object)
        reasons[idx] = why
        issues.add(
            repaired,
            "repaired_geometry",
            "the geometry was invalid (" + reasons + ") and was repaired; check it",
            field="geometry",
            loaded=True,
        )
        issues.add(
            unfixable,
            "invalid_geometry",
            "the geometry is invalid (" + reasons + ") and cannot be repaired without "
            "guessing; fix it in the source",
            field="geometry",
        )
        out = geoms.copy()
        out[idx[agree]] = fixed[agree]
        return out, ok & ~unfixable


_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)


def _single_points(geoms: Geoms) -> Geoms:
    """A MultiPoint of one point is that point (unambiguous)."""
    multi = shapely.get_type_id(geoms) == 4
    if not multi.any():
        return geoms
    one = multi & (shapely.get_num_geometries(geoms) == 1)
    out = geoms.copy()
    out[one] = shapely.get_geometry(geoms[one], 0)
    return out


def _to_multi(geoms: Geoms) -> Geoms:
    """Promote single parts to Multi* (the storage type of the column)."""
    if len(geoms) == 0:
        return geoms
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kind = shapely.get_type_id(parts[0]) if len(parts) else 3
    build = shapely.multipolygons if kind == 3 else shapely.multilinestrings
    return np.asarray(build(parts, indices=owner), dtype=object)


def _pairs(x: Floats, y: Floats) -> Callable[[NDArray[np.intp]], list[str]]:
    """The coordinates of flagged rows, as text (only computed for them)."""
    return lambda idx: [f"{a:.7g}, {b:.7g}" for a, b in zip(x[idx], y[idx], strict=True)]


def parse_text_geometries(values: pa.Array, issues: Issues) -> Geoms:
    """Geometries written as WKT or hex WKB in a text column (CSV, XLSX)."""
    raw = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    given = np.asarray([v is not None for v in raw], dtype=bool)
    out = np.full(len(raw), None, dtype=object)
    if not given.any():
        return out
    text = raw[given].astype(str)
    is_hex = np.char.str_len(np.char.strip(text, "0123456789abcdefABCDEF")) == 0
    parsed = np.full(len(text), None, dtype=object)
    if is_hex.any():
        parsed[is_hex] = shapely.from_wkb(text[is_hex], on_invalid="ignore")
    if (~is_hex).any():
        parsed[~is_hex] = shapely.from_wkt(text[~is_hex], on_invalid="ignore")
    out[given] = parsed
    bad = given & shapely.is_missing(out)
    issues.add(
        bad,
        "bad_geometry",
        "the geometry text is not valid WKT or WKB",
        field="geometry",
        value=raw,
    )
    return out


def parse_wkb(wkb: Geoms, issues: Issues) -> Geoms:
    """Geometries from a GIS file's WKB column (None stays None)."""
    out = shapely.from_wkb(wkb, on_invalid="ignore")
    bad = np.asarray([w is not None for w in wkb]) & shapely.is_missing(out)
    issues.add(bad, "bad_geometry", "the geometry cannot be read", field="geometry")
    return np.asarray(out, dtype=object)


def wkb_points(wkb: Geoms) -> tuple[Floats, Floats] | None:
    """x/y of 2-D WKB points without building shapely objects (None if not all such)."""
    if len(wkb) == 0 or any(w is None for w in wkb[:1]):
        return None
    lengths = np.fromiter(
        (len(w) if w is not None else 0 for w in wkb), dtype=np.int64, count=len(wkb)
    )
    if not (lengths == 21).all():
        return None
    raw = np.frombuffer(b"".join(wkb), dtype=np.uint8).reshape(-1, 21)
    if not ((raw[:, 0] == 1).all() and (raw[:, 1:5].view("<u4").ravel() == 1).all()):
        return None
    xy = raw[:, 5:].copy().view("<f8")
    return xy[:, 0].copy(), xy[:, 1].copy()


_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def ewkb_points(x: Floats, y: Floats, srid: int) -> pa.Array:
    """Hex EWKB of 2-D points, built with NumPy (what PostGIS COPY reads)."""
    n = len(x)
    rec = np.empty(
        n, dtype=[("bo", "u1"), ("t", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
    )
    rec["bo"] = 1
    rec["t"] = 0x20000001  # point with SRID flag
    rec["srid"] = srid
    rec["x"] = x
    rec["y"] = y
    raw = rec.view(np.uint8).reshape(n, 25)
    hexed = np.empty((n, 50), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 15]
    offsets = pa.array(np.arange(0, 50 * (n + 1), 50, dtype=np.int32))
    return pa.StringArray.from_buffers(n, offsets.buffers()[1], pa.py_buffer(hexed.tobytes()))


def ewkb(geoms: Geoms, srid: int) -> pa.Array:
    """Hex EWKB of any geometries (None stays null)."""
    with_srid = shapely.set_srid(geoms, srid)
    return pa.array(shapely.to_wkb(with_srid, hex=True, include_srid=True), pa.string())
