"""``load_file``: one file into one layer, in one transaction, losing nothing.

The file is read in chunks by a worker thread that parses, checks, reprojects and
places each chunk while the main thread streams the previous one into PostgreSQL
with COPY, so Python's work and the server's overlap. Bad rows are set aside with
their reasons as they are found (all of them, in one pass); the good rows are
upserted by natural key; the run, its counts and its rejects are recorded whatever
the outcome.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy.engine import Connection, Engine

from citygrid.settings import get_settings
from db.access import Actor, require
from db.engine import check_working_srid
from db.queries import loads as q
from etl import runs
from etl.columns import ColumnMap, header_matcher, normalise_header, resolve_columns
from etl.contract import GeometryRule, LayerSpec
from etl.derive import Places
from etl.geometry import Area, GeometryStage, area_of_use, parse_crs
from etl.prepare import Context, Prepared, prepare
from etl.readers import RawChunk, Source, iter_chunks, open_source, sha256_of
from etl.specs import LAYERS
from etl.write import Writer
from gis.errors import CityGridError, DataError, PermissionDeniedError

Status = Literal["done", "rejected", "failed", "interrupted"]
Progress = Callable[[int, int | None], None]
Finalize = Callable[[Connection, int], list[str]]

CHUNK_ROWS = 100_000
_PLACE_STEPS = {"cell_community", "place_codes", "place_spatial", "problem_places"}


@dataclass
class LoadReport:
    """What a load did.

    ``rejects`` has one line per problem of a rejected row (a row with two problems
    has two lines): row_no (the line in a CSV or sheet, header = 1; the feature number
    in a GIS file), natural_key, reason_code, reason, field, value. ``notes`` holds
    the same for rows loaded with a remark (a repaired geometry, a missing link).
    """

    run_id: int
    layer: str
    file_name: str
    status: Status
    n_read: int = 0
    n_inserted: int = 0
    n_updated: int = 0
    n_unchanged: int = 0
    n_rejected: int = 0
    n_repaired: int = 0
    duration_s: float = 0.0
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejects_path: Path | None = None
    notes: pd.DataFrame = field(default_factory=pd.DataFrame)
    reasons: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()
    #: A roster's rule check afterwards: violations by reason code (empty: none found,
    #: or not a roster).
    rule_counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_loaded(self) -> int:
        """Rows now in the table as the file has them (inserted, updated or unchanged)."""
        return self.n_inserted + self.n_updated + self.n_unchanged


def load_file(
    engine: Engine,
    layer: str,
    path: str | Path,
    *,
    actor: Actor,
    crs: str | int | None = None,
    coords: Literal["wgs84", "gcj02", "bd09"] = "wgs84",
    encoding: str | None = None,
    mapping: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    file_name: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    finalize: Finalize | None = None,
) -> LoadReport:
    """Load one file into ``layer`` (see :data:`etl.specs.LAYERS`) in one transaction.

    Parameters
    ----------
    engine
        The CityGrid database.
    layer
        Layer name, e.g. ``"problems"``.
    path
        GeoPackage, Shapefile (or a zip holding one), GeoJSON, CSV or XLSX.
    actor
        On whose behalf (required: a caller that forgets it must not get full rights);
        needs ``data.load``, and ``assign.write`` for rosters; an area-limited actor's
        rows outside their street offices are rejected (``outside_your_area``).
    crs
        CRS of the coordinates when the file has none or has a wrong one.
    coords
        ``gcj02`` or ``bd09`` for longitude/latitude from Chinese web maps.
    encoding
        Text encoding of a Shapefile or CSV (detected when not given).
    mapping
        File column -> layer column, over the default aliases.
    sheet
        XLSX sheet, or layer of a multi-layer GeoPackage (name or 0-based index).
    strict
        Reject the whole file when any row is bad.
    progress
        Called as ``progress(rows_done, rows_total_or_None)`` after each chunk.
    file_name
        Name recorded for the run (e.g. the name of an uploaded file).
    chunk_rows
        Rows per chunk (memory is flat in the file's length).
    finalize
        Called as ``finalize(conn, run_id)`` once the rows are merged, in the load's
        transaction, before it commits (not for a rejected file): work that must stand
        or fall with the load, such as retiring what a regenerated layer replaces. The
        lines it returns are recorded with the run.
    """
    spec = _spec(layer)
    require(actor, "data.load", what=f"load {spec.label_en}")
    if spec.scope == "global" and actor.street_office_ids is not None:
        msg = (
            f"{actor.username} may not load {spec.label_en}: it is a layer of the whole "
            "deployment and the account is limited to some street offices"
        )
        raise PermissionDeniedError(msg)
    if coords not in ("wgs84", "gcj02", "bd09"):
        msg = f"--coords {coords!r}: use wgs84, gcj02 or bd09"
        raise DataError(msg)
    path = Path(path)
    if not path.is_file():
        msg = f"file not found: {path}"
        raise DataError(msg)
    options = {
        "crs": crs,
        "coords": coords,
        "encoding": encoding,
        "mapping": dict(mapping or {}),
        "sheet": sheet,
        "strict": strict,
    }
    with _Run(
        engine, actor=actor, spec=spec, path=path, file_name=file_name or path.name, options=options
    ) as run:
        if spec.name == "assignments":
            from etl.assignments import load_roster

            return load_roster(run, sheet=sheet, encoding=encoding, mapping=mapping, strict=strict)
        return _load_features(
            run,
            crs=crs,
            coords=coords,
            encoding=encoding,
            mapping=mapping,
            sheet=sheet,
            strict=strict,
            progress=progress,
            chunk_rows=chunk_rows,
            finalize=finalize,
        )


def _spec(layer: str) -> LayerSpec:
    spec = LAYERS.get(layer)
    if spec is None:
        msg = f"unknown layer {layer!r}; layers are: {', '.join(LAYERS)}"
        raise DataError(msg)
    return spec


class _Run:
    """A recorded run: its row, its rejects sink, its status whatever happens inside."""

    def __init__(
        self,
        engine: Engine,
        *,
        actor: Actor,
        spec: LayerSpec,
        path: Path,
        file_name: str,
        options: dict[str, Any],
    ) -> None:
        self.engine = engine
        self.actor = actor
        self.spec = spec
        self.path = path
        self.file_name = file_name
        self.options = options
        self.started = time.perf_counter()
        self.counts = dict.fromkeys(
            ("n_read", "n_inserted", "n_updated", "n_unchanged", "n_rejected", "n_repaired"), 0
        )
        self.messages: list[str] = []
        self.rule_counts: dict[str, int] = {}
        self.ignored: tuple[str, ...] = ()
        self._hash: dict[str, Any] = {}

    def __enter__(self) -> _Run:
        self.settings = get_settings()
        self.srid = check_working_srid(self.engine, self.settings)
        hasher = threading.Thread(target=self._hash_file, daemon=True)
        hasher.start()
        self._hasher = hasher
        self.run_conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.run_id = runs.start_run(
            self.run_conn,
            layer=self.spec.name,
            file_name=self.file_name,
            size=self.path.stat().st_size,
            file_format=self.path.suffix.lower().lstrip("."),
            options=self.options,
            user=self.actor.username,
        )
        stem = re.sub(r"[^\w.-]+", "_", Path(self.file_name).stem)[:60] or "file"
        rejects_path = (
            self.settings.home / "rejects" / f"{self.run_id:06d}-{self.spec.name}-{stem}.csv"
        )
        self.sink = runs.RejectSink(self.run_conn, self.run_id, rejects_path)
        return self

    def _hash_file(self) -> None:
        self._hash["sha"], self._hash["size"] = sha256_of(self.path)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is None:
                return
            status: Status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            if isinstance(exc, CityGridError):
                message = str(exc)
            elif isinstance(exc, KeyboardInterrupt):
                message = "interrupted (Ctrl-C): nothing was changed"
            else:
                message = f"unexpected {type(exc).__name__}: {exc}; nothing was changed"
            with self.engine.begin() as conn:
                self.finish(conn, status, message=message)
        finally:
            self.sink.close()
            self.run_conn.close()

    @property
    def sha256(self) -> str:
        self._hasher.join()
        return str(self._hash.get("sha", ""))

    def finish(self, conn: Connection, status: Status, *, message: str | None = None) -> None:
        """Record the outcome in ``conn``'s transaction."""
        self.status = status
        self.duration_s = time.perf_counter() - self.started
        counts = dict(self.counts)
        if status != "done":
            counts.update(n_inserted=0, n_updated=0, n_unchanged=0, n_repaired=0)
        counts["n_rejected"] = self.sink.rows_rejected
        self.final_counts = counts
        self.rejects_path = self.sink.close()
        runs.finish_run(
            conn,
            self.actor,
            self.run_id,
            status=status,
            counts=counts,
            duration_s=self.duration_s,
            message=message or ("; ".join(self.messages) or None),
            rejects_path=self.rejects_path,
            sha256=self.sha256,
            detail={
                "layer": self.spec.name,
                "file_name": self.file_name,
                "sha256": self.sha256,
                "options": self.options,
                "reasons": self.sink.codes,
            },
        )

    def reject_file(self, conn: Connection) -> LoadReport:
        """--strict found bad rows: undo the data, record the run as rejected."""
        conn.rollback()
        self.messages.append("--strict: the file has bad rows, so nothing was loaded")
        with self.engine.begin() as rec:
            self.finish(rec, "rejected")
        return self.report()

    def report(self) -> LoadReport:
        """The report of a finished run."""
        return LoadReport(
            run_id=self.run_id,
            layer=self.spec.name,
            file_name=self.file_name,
            status=self.status,
            duration_s=self.duration_s,
            rejects=self.sink.frame(loaded=False),
            rejects_path=self.rejects_path,
            notes=self.sink.frame(loaded=True),
            reasons=dict(sorted(self.sink.codes.items(), key=lambda kv: -kv[1])),
            messages=list(self.messages),
            ignored_columns=self.ignored,
            rule_counts=dict(self.rule_counts),
            **self.final_counts,
        )

    @contextmanager
    def data(self) -> Iterator[Connection]:
        """The data connection, inside its one transaction (rolled back unless committed)."""
        with self.engine.connect() as conn:
            conn.begin()
            runs.set_backend(
                self.run_conn, self.run_id, conn.connection.driver_connection.info.backend_pid
            )  # type: ignore[union-attr]
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    try:
                        conn.rollback()
                    except Exception:  # a broken session: dropping it rolls back too
                        conn.invalidate()


def _load_features(
    run: _Run,
    *,
    crs: str | int | None,
    coords: Literal["wgs84", "gcj02", "bd09"],
    encoding: str | None,
    mapping: Mapping[str, str] | None,
    sheet: str | int | None,
    strict: bool,
    progress: Progress | None,
    chunk_rows: int,
    finalize: Finalize | None = None,
) -> LoadReport:
    spec = run.spec
    headers = header_matcher(spec)
    source = open_source(
        run.path,
        encoding=encoding,
        sheet=sheet,
        layer_hint=(spec.name, spec.table),
        is_header=lambda cells: _looks_like_header(cells, headers),
    )
    run.messages.extend(source.notes)
    has_geometry = source.format in {"gpkg", "shp", "geojson"} and source.geometry_type is not None
    columns = resolve_columns(
        spec,
        source.columns,
        mapping=mapping,
        file_has_geometry=has_geometry,
        file_name=run.file_name,
    )
    run.ignored = columns.ignored
    with run.data() as conn:
        writer = Writer(conn, spec, run_id=run.run_id)
        writer.begin()
        ctx = _context(run, conn, source, columns, crs=crs, coords=coords)
        for prepared in _pipeline(source, ctx, chunk_rows):
            run.counts["n_read"] += len(prepared.row_no)
            run.sink.add(prepared.issues)
            if not (strict and run.sink.rows_rejected):
                run.sink.add(writer.write(prepared))
                run.counts["n_repaired"] += prepared.n_repaired
            if progress is not None:
                progress(run.counts["n_read"], source.total_rows)
        for stage in (ctx.geometry, ctx.centre):
            if stage is not None:
                run.messages.extend(m for m in stage.notes if m not in run.messages)
        if strict and run.sink.rows_rejected:
            return run.reject_file(conn)
        given = set(columns.columns)
        lonlat = spec.geometry is not None and spec.geometry.lonlat and {"lon", "lat"} <= given
        if has_geometry or columns.geometry_column or lonlat:
            given.add("geometry")
        merged = writer.merge(
            actor_offices=run.actor.street_office_ids, provided=spec.provided(given)
        )
        run.sink.add(merged.rejects)
        if strict and run.sink.rows_rejected:
            return run.reject_file(conn)
        run.counts.update(
            n_inserted=writer.inserted, n_updated=merged.updated, n_unchanged=merged.unchanged
        )
        nothing = run.counts["n_read"] > 0 and run.sink.rows_rejected == run.counts["n_read"]
        if finalize is not None and not nothing:
            run.messages.extend(finalize(conn, run.run_id))
        run.finish(conn, "rejected" if nothing else "done")
        conn.commit()
    return run.report()


def _looks_like_header(cells: list[str] | Any, known: set[str]) -> bool:
    filled = [c for c in cells if c]
    hits = sum(normalise_header(c) in known for c in filled)
    return hits >= 2 or (hits >= 1 and len(filled) <= 2)


def _context(
    run: _Run,
    conn: Connection,
    source: Source,
    columns: ColumnMap,
    *,
    crs: str | int | None,
    coords: Literal["wgs84", "gcj02", "bd09"],
) -> Context:
    spec = run.spec
    settings = run.settings
    given = parse_crs(crs)
    file_crs = parse_crs(source.crs) if source.crs else None
    if given is not None and file_crs is not None and not given.equals(file_crs):
        run.messages.append(f"--crs {crs} used instead of the file's CRS ({file_crs.name})")
    source_crs = given or file_crs
    area = _area(conn, run)
    stage = None
    if spec.geometry is not None:
        stage = GeometryStage(spec.geometry, run.srid, area, source=source_crs, coords=coords)
    centre = None
    if spec.name == "admin_areas":
        centre = _centre_stage(
            source, run.srid, area, given=given, file_crs=file_crs, coords=coords
        )
    needs_places = bool(_PLACE_STEPS & set(spec.derive))
    return Context(
        spec=spec,
        columns=columns,
        srid=run.srid,
        run_id=run.run_id,
        timezone=settings.timezone,
        geometry=stage,
        centre=centre,
        places=(
            Places.read(conn, segments="problem_places" in spec.derive) if needs_places else None
        ),
        categories=q.category_codes(conn) if "category_ref" in spec.derive else None,
        road_ids=q.code_ids(conn, "roads") if "road_ref" in spec.derive else None,
        grid_scheme=settings.grid_code_scheme,
        nearest_max_m=settings.nearest_segment_max_m,
        actor_offices=run.actor.street_office_ids,
    )


def _centre_stage(
    source: Source,
    srid: int,
    area: Area,
    *,
    given: CRS | None,
    file_crs: CRS | None,
    coords: Literal["wgs84", "gcj02", "bd09"],
) -> GeometryStage:
    """The stage for the lon/lat centre columns of administrative areas.

    In a CSV or sheet they are the file's only coordinates (``--crs`` or lon/lat). In a
    GIS file, ``--crs`` names them when given; else a geographic file CRS holds for them
    too; a projected one lends its datum (for longitude/latitude) or itself (for x/y).
    """
    rule = GeometryRule("point", required=False)
    what = "the centre columns (lon/lat)"
    if source.format in {"csv", "xlsx"} or given is not None:
        return GeometryStage(rule, srid, area, source=given, coords=coords, what=what)
    if file_crs is not None and file_crs.is_geographic:
        return GeometryStage(rule, srid, area, source=file_crs, coords=coords, what=what)
    return GeometryStage(
        rule,
        srid,
        area,
        coords=coords,
        lonlat_crs=None if file_crs is None else file_crs.geodetic_crs,
        projected_crs=file_crs,
        what=what,
    )


def _area(conn: Connection, run: _Run) -> Area:
    tolerance = run.settings.area_tolerance_m
    wkb = q.district_boundary(conn, area_code=run.settings.area_code)
    if wkb is None:
        return area_of_use(CRS.from_epsg(run.srid), tolerance_m=tolerance)
    boundary = shapely.from_wkb(wkb)
    return Area(
        shapely.buffer(boundary, tolerance),
        f"the district boundary (with {tolerance:g} m tolerance)",
    )


_END = object()
FIRST_ROWS = 10_000


def _small_first(chunks: Iterator[RawChunk]) -> Iterator[RawChunk]:
    """The chunks, the first cut short so that the server starts work sooner."""
    for i, raw in enumerate(chunks):
        n = raw.table.num_rows
        if i or n <= 2 * FIRST_ROWS:
            yield raw
            continue
        for lo, hi in ((0, FIRST_ROWS), (FIRST_ROWS, n)):
            wkb = None if raw.wkb is None else raw.wkb[lo:hi]
            yield RawChunk(raw.table.slice(lo, hi - lo), raw.row_no[lo:hi], wkb)


def _pipeline(source: Source, ctx: Context, chunk_rows: int) -> Iterator[Prepared]:
    """Prepared chunks, made by a worker thread one or two chunks ahead of the writer."""
    out: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def work() -> None:
        try:
            for raw in _small_first(iter_chunks(source, chunk_rows=chunk_rows)):
                if stop.is_set():
                    return
                item = prepare(ctx, raw)
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            out.put(_END)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            out.put(exc)

    worker = threading.Thread(target=work, name="citygrid-load-reader", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = out.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
