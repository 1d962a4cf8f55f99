"""Hot spots, emerging hot spots and top-N lists, from the problems in PostGIS.

The counts come from :mod:`db.queries.density` (GROUP BYs over the places stored at
load time); the geometry of the units gives the spatial weights
(:mod:`gis.weights`); the statistics are the pure ones of :mod:`gis.hotspots` and
:mod:`gis.emerging`. Top-N lists add who answers for each place: the active
level-3 street head of a segment (with the level-2 supervisor), the responsible
body of a grid cell (its community when none is named: 属地兜底) and its grid worker.

The units' geometries and neighbour weights change only when the grid or the road
network is reloaded, so they are kept in the process, keyed by the layer's version
(:func:`layer_version`: its latest load run and its rows); a Gi* of 50,000 cells then
costs its counts and the statistic, not half a second of contiguity each time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Literal
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor, mask_name, mask_phone
from db.queries.density import (
    DEFAULT_TZ,
    Unit,
    as_datetime,
    density,
    fetch_frame,
    problem_filters,
    units_sql,
)
from gis import emerging as gis_emerging
from gis import hotspots as gis_hotspots
from gis import weights as gis_weights
from gis.errors import DataError

HotspotUnit = Literal["cell", "segment"]
WeightsKind = Literal["queen", "rook", "distance", "network"]
Value = Literal["count", "rate"]

_TABLE: dict[HotspotUnit, str] = {"cell": "grid_cells", "segment": "road_segments"}
_GEOMETRY_TABLE: dict[Unit, str] = {
    **_TABLE,
    "community": "admin_areas",
    "street_office": "admin_areas",
}
_COLUMN: dict[HotspotUnit, str] = {"cell": "cell_id", "segment": "segment_id"}
#: Load-run layers that write each unit's table.
_LAYERS: dict[HotspotUnit, tuple[str, ...]] = {
    "cell": ("grid_cells",),
    "segment": ("road_segments", "lanes"),
}

#: Neighbour weights kept per process: the whole district and each street office, for
#: each kind of weights asked for, at the current version of the layers.
WEIGHTS_CACHE_SIZE = 32

_CACHE_LOCK = threading.Lock()
_GEOMETRIES: dict[tuple[Any, ...], tuple[tuple[Any, ...], gpd.GeoSeries]] = {}
_WEIGHTS: OrderedDict[tuple[Any, ...], Future[tuple[sp.csr_matrix, dict[str, Any]]]] = OrderedDict()


def _check(unit: str, weights: str | None) -> WeightsKind:
    if unit not in _TABLE:
        msg = f"hot spots are computed on 'cell' or 'segment', got {unit!r}"
        raise DataError(msg)
    kind = weights or ("queen" if unit == "cell" else "network")
    allowed = ("network", "distance") if unit == "segment" else ("queen", "rook", "distance")
    if kind not in allowed:
        msg = (
            f"weights {kind!r} do not apply to {unit}s; use one of: {', '.join(allowed)} "
            "(segments are neighbours along the network, cells by contiguity or distance)"
        )
        raise DataError(msg)
    return kind  # type: ignore[return-value]


def unit_geometries(conn: Connection, *, unit: Unit, ids: Sequence[int]) -> gpd.GeoSeries:
    """Geometries of the given units, in the order of ``ids`` (None where there is none)."""
    if unit not in _GEOMETRY_TABLE:
        msg = f"unit_geometries: unknown unit {unit!r}; use one of: {', '.join(_GEOMETRY_TABLE)}"
        raise DataError(msg)
    srid = conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1"))
    frame = fetch_frame(
        conn,
        f"SELECT id, ST_AsBinary(geom) AS wkb FROM {_GEOMETRY_TABLE[unit]} "
        "WHERE id = ANY(CAST(:ids AS integer[]))",
        # one array literal: psycopg adapts a list of 50,000 ints element by element
        {"ids": "{" + ",".join(str(int(i)) for i in ids) + "}"},
    )
    geoms = pd.Series(
        shapely.from_wkb([None if b is None else bytes(b) for b in frame["wkb"]]),
        index=frame["id"].astype(np.int64),
    )
    ordered = geoms.reindex(pd.Index(ids, dtype=np.int64))
    return gpd.GeoSeries(ordered.to_numpy(), index=ordered.index, crs=srid)


def layer_version(conn: Connection, *, unit: HotspotUnit) -> tuple[Any, ...]:
    """What identifies the loaded cells or segments of this database, for caching.

    The latest finished load run of the layer, and the table's row count, largest id
    and newest row version (``xmin``): loads go through load runs, and the row figures
    catch writes outside them (a grid regenerated in SQL, a test's own rows). Rows
    rewritten twice inside one open transaction keep their ``xmin``; a caller doing
    that clears the cache itself (:func:`clear_caches`).
    """
    _check(unit, None)
    row = conn.execute(
        sa.text(
            "SELECT (SELECT max(id) FROM load_runs WHERE layer = ANY(:layers) "
            "AND status = 'done'), count(*), max(id), max(xmin::text::bigint) "
            f"FROM {_TABLE[unit]}"
        ),
        {"layers": list(_LAYERS[unit])},
    ).one()
    url = conn.engine.url
    return (url.host, url.port, url.database, unit, *tuple(row))


def clear_caches() -> None:
    """Forget every unit geometry and neighbour weights kept by this process."""
    with _CACHE_LOCK:
        _GEOMETRIES.clear()
        _WEIGHTS.clear()


def _layer_geometries(
    conn: Connection, *, unit: HotspotUnit, version: tuple[Any, ...]
) -> gpd.GeoSeries:
    """Every geometry of the unit's table, by id, read once per layer version."""
    key = version[:4]
    with _CACHE_LOCK:
        held = _GEOMETRIES.get(key)
    if held is not None and held[0] == version:
        return held[1]
    srid = conn.scalar(sa.text("SELECT working_srid FROM deployment WHERE id = 1"))
    frame = fetch_frame(conn, f"SELECT id, ST_AsBinary(geom) AS wkb FROM {_TABLE[unit]}", {})
    geoms = gpd.GeoSeries(
        shapely.from_wkb([None if b is None else bytes(b) for b in frame["wkb"]]),
        index=pd.Index(frame["id"].astype(np.int64)),
        crs=srid,
    )
    with _CACHE_LOCK:
        _GEOMETRIES[key] = (version, geoms)
    return geoms


def _once(
    key: tuple[Any, ...], build: Callable[[], tuple[sp.csr_matrix, dict[str, Any]]]
) -> tuple[sp.csr_matrix, dict[str, Any]]:
    """``build()`` once per key: later callers get the kept result, and callers arriving
    while it is being built wait for it instead of building it again."""
    with _CACHE_LOCK:
        held = _WEIGHTS.get(key)
        mine = held is None or (held.done() and held.exception() is not None)
        if mine:
            held = Future()
            _WEIGHTS[key] = held
            done = [k for k, f in _WEIGHTS.items() if f.done()]
            for old in done[: max(0, len(_WEIGHTS) - WEIGHTS_CACHE_SIZE)]:
                _WEIGHTS.pop(old)
        else:
            _WEIGHTS.move_to_end(key)
    assert held is not None
    if mine:
        try:
            held.set_result(build())
        except BaseException as exc:
            held.set_exception(exc)
            with _CACHE_LOCK:
                _WEIGHTS.pop(key, None)
            raise
    return held.result()  # type: ignore[no-any-return]


def _ids_digest(ids: Sequence[int]) -> str:
    return hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=16).hexdigest()


def _pairwise(kind: WeightsKind, distance_m: float | None, network_steps: int) -> bool:
    # Whether two units' being neighbours depends on those two alone: then the weights
    # of any set of units are the rows and columns of the whole layer's weights.
    return (
        kind in ("queen", "rook")
        or (kind == "distance" and distance_m is not None)
        or (kind == "network" and network_steps == 1)
    )


def unit_weights(
    conn: Connection,
    *,
    unit: HotspotUnit,
    ids: Sequence[int],
    kind: WeightsKind,
    distance_m: float | None = None,
    tolerance_m: float | None = None,
    network_steps: int = 1,
) -> tuple[gpd.GeoSeries, sp.csr_matrix, dict[str, Any]]:
    """Geometries (in the order of ``ids``) and neighbour weights of the given units.

    Both are kept in the process for the current :func:`layer_version`. Contiguity,
    a given distance band and direct network joins depend on each pair of units alone,
    so they are built once for the whole layer and any set of units (a street office,
    the cells of a period) takes its rows and columns; other weights (the default
    distance band, network steps beyond 1) are kept per set of units. The returned
    matrix may be shared; it must not be changed.
    """
    version = layer_version(conn, unit=unit)
    every = _layer_geometries(conn, unit=unit, version=version)
    order = pd.Index(ids, dtype=np.int64)
    geoms = gpd.GeoSeries(every.reindex(order).to_numpy(), index=order, crs=every.crs)
    params = (kind, distance_m, tolerance_m, network_steps)

    def build(frame: gpd.GeoSeries) -> Callable[[], tuple[sp.csr_matrix, dict[str, Any]]]:
        return lambda: spatial_weights(
            frame,
            kind=kind,
            distance_m=distance_m,
            tolerance_m=tolerance_m,
            network_steps=network_steps,
        )

    present = every.loc[every.notna() & ~every.is_empty]
    positions = present.index.get_indexer(order)
    if _pairwise(kind, distance_m, network_steps) and (positions >= 0).all():
        whole, info = _once((version, *params, "layer"), build(present))
        w = whole[positions][:, positions].tocsr()
        info = dict(info)
        info["islands"] = len(gis_weights.islands(w))
        info["mean_neighbours"] = (
            float(gis_weights.neighbour_counts(w).mean()) if w.shape[0] else 0.0
        )
        return geoms, w, info
    w, info = _once((version, *params, _ids_digest(order)), build(geoms))
    return geoms, w, dict(info)


def spatial_weights(
    geometries: gpd.GeoSeries,
    *,
    kind: WeightsKind,
    distance_m: float | None = None,
    tolerance_m: float | None = None,
    network_steps: int = 1,
) -> tuple[sp.csr_matrix, dict[str, Any]]:
    """Weights of the given kind, and a description of them (for the report)."""
    info: dict[str, Any] = {"weights": kind}
    if kind in ("queen", "rook"):
        tol = 0.0 if tolerance_m is None else tolerance_m
        w = gis_weights.contiguity_weights(geometries, kind=kind, tolerance_m=tol)
        info["tolerance_m"] = tol
    elif kind == "distance":
        band = distance_m if distance_m is not None else gis_weights.min_threshold_m(geometries)
        w = gis_weights.distance_band_weights(geometries, threshold_m=band)
        info["distance_m"] = band
    else:
        tol = 1.0 if tolerance_m is None else tolerance_m
        w = gis_weights.network_weights(geometries, tolerance_m=tol, steps=network_steps)
        info.update(tolerance_m=tol, steps=network_steps)
    info["islands"] = len(gis_weights.islands(w))
    info["mean_neighbours"] = float(gis_weights.neighbour_counts(w).mean()) if w.shape[0] else 0.0
    return w, info


def hotspots(
    conn: Connection,
    *,
    unit: HotspotUnit = "cell",
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    categories: Sequence[str] | None = None,
    patrol_categories: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    street_office_ids: Sequence[int] | None = None,
    weights: WeightsKind | None = None,
    distance_m: float | None = None,
    tolerance_m: float | None = None,
    network_steps: int = 1,
    value: Value = "count",
    transform: gis_hotspots.Transform = "binary",
    fdr: bool = True,
    tz: str = DEFAULT_TZ,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots of problem counts per cell or segment.

    Parameters
    ----------
    unit
        ``"cell"`` (weights ``"queen"`` by default, or ``"rook"``, ``"distance"``) or
        ``"segment"`` (``"network"``: segments meeting along the road network, or
        ``"distance"``).
    start, end, categories, patrol_categories, sources, street_office_ids
        Which problems count, as for :func:`db.queries.density.density`. With
        ``street_office_ids``, only those units are compared with each other.
    distance_m
        Band of ``"distance"`` weights; by default the smallest band that leaves no
        unit without a neighbour.
    tolerance_m
        Gap still counted as contact (contiguity; default 0) or as a join (network;
        default 1 m).
    network_steps
        Network neighbours up to this many joins away.
    value
        ``"count"`` or ``"rate"`` (per km² for cells, per km of road for segments).
    transform, fdr
        As for :func:`gis.hotspots.hotspots`.

    Returns
    -------
    geopandas.GeoDataFrame
        The density columns of every unit with its geometry and ``gi_z``, ``gi_p``,
        ``gi_p_fdr``, ``gi_class``, ``gi_label_zh``, ``gi_label_en``,
        ``n_neighbours``, ``local_mean`` and ``global_mean``; ``attrs["weights"]``
        describes the neighbourhoods used.
    """
    kind = _check(unit, weights)
    counts = density(
        conn,
        unit=unit,
        start=start,
        end=end,
        categories=categories,
        patrol_categories=patrol_categories,
        sources=sources,
        street_office_ids=street_office_ids,
        tz=tz,
    )
    if len(counts) < 3:
        msg = (
            f"hot spots need at least 3 {unit}s to compare, found {len(counts)}; load the "
            f"{_TABLE[unit]} layer or widen the area"
        )
        raise DataError(msg)
    geoms, w, info = unit_weights(
        conn,
        unit=unit,
        ids=counts.index.tolist(),
        kind=kind,
        distance_m=distance_m,
        tolerance_m=tolerance_m,
        network_steps=network_steps,
    )
    frame = gpd.GeoDataFrame(counts, geometry=geoms.values, crs=geoms.crs)
    column = "n"
    if value == "rate":
        column = "per_km2" if unit == "cell" else "per_km"
        frame[column] = frame[column].fillna(0.0)
    elif value != "count":
        msg = f"value must be 'count' or 'rate', got {value!r}"
        raise DataError(msg)
    out = gis_hotspots.hotspots(frame, column=column, weights=w, transform=transform, fdr=fdr)
    info.update(value=column, transform=transform, fdr=fdr)
    out.attrs = {**counts.attrs, "weights": info, "unit": unit}
    return out


def _next_month(m: dt.datetime) -> dt.datetime:
    return m.replace(year=m.year + 1, month=1) if m.month == 12 else m.replace(month=m.month + 1)


def month_starts(
    start: dt.date | dt.datetime, end: dt.date | dt.datetime, *, tz: str = DEFAULT_TZ
) -> list[dt.datetime]:
    """First instants (in ``tz``) of the calendar months overlapping ``[start, end)``.

    >>> [m.date().isoformat() for m in month_starts(dt.date(2024, 11, 15), dt.date(2025, 2, 1))]
    ['2024-11-01', '2024-12-01', '2025-01-01']
    """
    zone = ZoneInfo(tz)
    s = as_datetime(start, tz=tz).astimezone(zone)
    e = as_datetime(end, tz=tz).astimezone(zone)
    if e <= s:
        msg = f"the period must end after it starts; got {s.isoformat()} to {e.isoformat()}"
        raise DataError(msg)
    m = s.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    while m < e:
        months.append(m)
        m = _next_month(m)
    return months


def monthly_counts(
    conn: Connection,
    *,
    unit: HotspotUnit = "cell",
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    categories: Sequence[str] | None = None,
    patrol_categories: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    street_office_ids: Sequence[int] | None = None,
    include_void: bool = False,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Problems per unit and calendar month: one row per unit, one column per month.

    The months are the whole calendar months (in ``tz``) that overlap
    ``[start, end)``; all of each month is counted. Every unit appears, with zeros.
    """
    _check(unit, None)
    months = month_starts(start, end, tz=tz)
    month_end = _next_month(months[-1])
    where, params = problem_filters(
        conn,
        categories=categories,
        patrol_categories=patrol_categories,
        sources=sources,
        include_void=include_void,
    )
    column = _COLUMN[unit]
    if street_office_ids is not None:
        params["so_ids"] = [int(x) for x in street_office_ids]
        where.append(f"p.{column} IN (SELECT unit_id FROM units)")
    # width_bucket over the month boundaries: no time-zone arithmetic per row
    params.update(start=months[0], end=month_end, bounds=[*months, month_end])
    units = units_sql(unit, street_office_ids=street_office_ids)
    extra = "".join(f" AND {w}" for w in where)
    sql = f"""
        WITH units AS ({units})
        SELECT p.{column} AS unit_id,
               width_bucket(p.reported_at, CAST(:bounds AS timestamptz[])) AS month,
               count(*) AS n
        FROM problems p
        WHERE p.reported_at >= :start AND p.reported_at < :end
          AND p.{column} IS NOT NULL{extra}
        GROUP BY 1, 2
    """
    counts = fetch_frame(conn, sql, params)
    ids = fetch_frame(
        conn, f"WITH units AS ({units}) SELECT unit_id FROM units ORDER BY unit_id", params
    )
    index = pd.Index(ids["unit_id"].astype(np.int64), name="unit_id")
    cube = np.zeros((len(index), len(months)), dtype=np.int64)
    if not counts.empty:
        rows = index.get_indexer(counts["unit_id"].astype(np.int64))
        cols = counts["month"].to_numpy(dtype=np.int64) - 1
        keep = rows >= 0  # problems of units outside the list (retired cells, other areas)
        np.add.at(cube, (rows[keep], cols[keep]), counts["n"].to_numpy(dtype=np.int64)[keep])
    columns = pd.Index([m.date() for m in months], name="month")
    return pd.DataFrame(cube, index=index, columns=columns)


def emerging(
    conn: Connection,
    *,
    unit: HotspotUnit = "cell",
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    categories: Sequence[str] | None = None,
    patrol_categories: Sequence[int] | None = None,
    sources: Sequence[str] | None = None,
    street_office_ids: Sequence[int] | None = None,
    weights: WeightsKind | None = None,
    distance_m: float | None = None,
    tolerance_m: float | None = None,
    network_steps: int = 1,
    time_steps: int = 1,
    confidence: int = 90,
    trend_alpha: float = 0.05,
    tz: str = DEFAULT_TZ,
) -> gpd.GeoDataFrame:
    """Emerging hot-spot pattern of every cell or segment over calendar months.

    See :func:`gis.emerging.emerging_hotspots` for the method; the counts are those of
    :func:`monthly_counts` and the weights those of :func:`hotspots`.
    """
    kind = _check(unit, weights)
    cube = monthly_counts(
        conn,
        unit=unit,
        start=start,
        end=end,
        categories=categories,
        patrol_categories=patrol_categories,
        sources=sources,
        street_office_ids=street_office_ids,
        tz=tz,
    )
    if len(cube) < 3:
        msg = f"emerging hot spots need at least 3 {unit}s, found {len(cube)}"
        raise DataError(msg)
    geoms, w, info = unit_weights(
        conn,
        unit=unit,
        ids=cube.index.tolist(),
        kind=kind,
        distance_m=distance_m,
        tolerance_m=tolerance_m,
        network_steps=network_steps,
    )
    result = gis_emerging.emerging_hotspots(
        cube, weights=w, time_steps=time_steps, confidence=confidence, trend_alpha=trend_alpha
    )
    names = fetch_frame(
        conn,
        f"WITH units AS ({units_sql(unit, street_office_ids=street_office_ids)}) "
        "SELECT unit_id, code, name, community, community_id, street_office FROM units",
        {
            "start": as_datetime(start, tz=tz),
            "end": as_datetime(end, tz=tz),
            **(
                {"so_ids": [int(x) for x in street_office_ids]}
                if street_office_ids is not None
                else {}
            ),
        },
    ).set_index("unit_id")
    names.index = names.index.astype(np.int64)
    out = gpd.GeoDataFrame(
        names.reindex(result.index).join(result), geometry=geoms.values, crs=geoms.crs
    )
    info.update(time_steps=time_steps, confidence=confidence, trend_alpha=trend_alpha)
    out.attrs = {
        "weights": info,
        "unit": unit,
        "months": [str(c) for c in cube.columns],
    }
    return out


def top_n(
    conn: Connection,
    frame: pd.DataFrame,
    *,
    unit: HotspotUnit,
    actor: Actor,
    n: int = 10,
    by: Literal["z", "count"] = "z",
) -> pd.DataFrame:
    """The ``n`` hottest units of a :func:`hotspots` result, with who answers for them.

    Ranked by Gi* z (``by="z"``) or by problem count (``by="count"``), ties by count
    then id. Segments get their active level-3 street head(s) and level-2 supervisor;
    cells their responsible body (the community when none is named), grid worker and the
    level-3 heads of the streets running through them.
    Names and phones are masked for actors who may not read personal data.
    """
    _check(unit, None)
    if by not in ("z", "count"):
        msg = f"top_n: rank by 'z' or 'count', got {by!r}"
        raise DataError(msg)
    if n < 1:
        msg = f"top_n: n must be at least 1, got {n}"
        raise DataError(msg)
    key = ["gi_z", "n"] if by == "z" else ["n", "gi_z"]
    missing = [c for c in key if c not in frame.columns]
    if missing:
        msg = f"top_n: the frame lacks {', '.join(missing)}; pass the result of hotspots()"
        raise DataError(msg)
    ranked = frame.assign(_id=frame.index).sort_values(
        [*key, "_id"], ascending=[False, False, True]
    )
    top = pd.DataFrame(ranked.drop(columns=["_id", "geometry"], errors="ignore").head(n))
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    people = _responsible(conn, unit=unit, ids=[int(i) for i in top.index])
    out = top.join(people)
    if not actor.can("pii.read"):
        for col, func in (
            ("street_head_name", mask_name),
            ("supervisor_name", mask_name),
            ("grid_worker_name", mask_name),
            ("street_head_phone", mask_phone),
            ("grid_worker_phone", mask_phone),
        ):
            if col in out.columns:
                out[col] = out[col].map(lambda v, f=func: _mask_joined(v, f))
    return out


def _mask_joined(value: object, func: Callable[[str | None], str | None]) -> object:
    """Mask each of several names or phones joined with '、' (empty parts stay empty)."""
    if not isinstance(value, str):
        return value
    return "、".join((func(part) or "") if part else "" for part in value.split("、"))


def _responsible(conn: Connection, *, unit: HotspotUnit, ids: list[int]) -> pd.DataFrame:
    if unit == "segment":
        sql = """
            SELECT s.id AS unit_id,
                   string_agg(h.name, '、' ORDER BY h.name) AS street_head_name,
                   string_agg(COALESCE(h.phone, ''), '、' ORDER BY h.name) AS street_head_phone,
                   string_agg(DISTINCT sup.name, '、') AS supervisor_name
            FROM road_segments s
            LEFT JOIN assignments a
                   ON a.target_type = 'segment' AND a.target_id = s.id AND a.valid_to IS NULL
                  AND a.role = 'street_head' AND a.level = 3
            LEFT JOIN people h ON h.id = a.person_id
            LEFT JOIN people sup ON sup.id = a.supervisor_id
            WHERE s.id = ANY(CAST(:ids AS integer[]))
            GROUP BY s.id
        """
    else:
        sql = """
            SELECT c.id AS unit_id,
                   COALESCE(NULLIF(c.responsible_body, ''), com.name) AS responsible_body,
                   NULLIF(c.responsible_body, '') IS NULL AS responsible_fallback,
                   string_agg(g.name, '、' ORDER BY g.name) AS grid_worker_name,
                   string_agg(COALESCE(g.phone, ''), '、' ORDER BY g.name) AS grid_worker_phone,
                   heads.street_head_name
            FROM grid_cells c
            LEFT JOIN admin_areas com ON com.id = c.community_id
            LEFT JOIN assignments a
                   ON a.target_type = 'cell' AND a.target_id = c.id AND a.valid_to IS NULL
                  AND a.role = 'grid_worker'
            LEFT JOIN people g ON g.id = a.person_id
            -- the level-3 heads of the streets running through the cell (not along its edge)
            LEFT JOIN LATERAL (
                SELECT string_agg(DISTINCT h.name, '、') AS street_head_name
                FROM road_segments s
                JOIN assignments sa
                  ON sa.target_type = 'segment' AND sa.target_id = s.id
                 AND sa.valid_to IS NULL AND sa.role = 'street_head' AND sa.level = 3
                JOIN people h ON h.id = sa.person_id
                WHERE s.geom && c.geom AND ST_Relate(s.geom, c.geom, 'T********')
            ) heads ON true
            WHERE c.id = ANY(CAST(:ids AS integer[]))
            GROUP BY c.id, c.responsible_body, com.name, heads.street_head_name
        """
    people = fetch_frame(conn, sql, {"ids": ids})
    return people.set_index(people["unit_id"].astype(np.int64)).drop(columns="unit_id")
