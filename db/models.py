"""Typed SQLAlchemy 2 + GeoAlchemy2 models of the CityGrid schema.

The schema itself is owned by the Alembic migrations in ``db/migrations``; these
models describe it for queries and ORM writes, and a test checks that the two agree.
Every geometry is stored in the deployment's one metric working CRS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from citygrid.settings import get_settings

SRID = get_settings().working_srid

ADMIN_LEVELS = ("district", "street_office", "community")
SEGMENT_KINDS = ("street", "lane")
STATION_STATES = ("intact", "damaged", "missing")
PROBLEM_STATUSES = ("reported", "dispatched", "handling", "checking", "closed", "void")
ASSIGNMENT_ROLES = ("street_head", "lane_head", "shop_head", "grid_worker", "market_head")
TARGET_TYPES = ("segment", "cell", "market", "premises", "street_office", "district")


def _geom(kind: str, *, nullable: bool = False) -> Any:
    # Spatial indexes are created explicitly by the migrations (GiST on every geometry).
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=False), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of every CityGrid table."""


class Deployment(Base):
    """One row: the facts fixed when the database was created."""

    __tablename__ = "deployment"
    __table_args__ = (CheckConstraint("id = 1", name="deployment_single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    working_srid: Mapped[int] = mapped_column(Integer)
    area_code: Mapped[str] = mapped_column(String(12))
    grid_code_scheme: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class LoadRun(Base):
    """One execution of ``citygrid load`` (or an upload in the app)."""

    __tablename__ = "load_runs"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    layer: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_format: Mapped[str | None] = mapped_column(String(20))
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    user_name: Mapped[str | None] = mapped_column(Text)
    backend_pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Double)
    n_read: Mapped[int] = mapped_column(Integer, server_default="0")
    n_inserted: Mapped[int] = mapped_column(Integer, server_default="0")
    n_updated: Mapped[int] = mapped_column(Integer, server_default="0")
    n_unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    n_rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    n_repaired: Mapped[int] = mapped_column(Integer, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    rejects_path: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            _in("status", ("running", "done", "failed", "interrupted", "rejected")),
            name="load_runs_status",
        ),
    )


class LoadReject(Base):
    """A row a load could not take, with the reason."""

    __tablename__ = "load_rejects"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("load_runs.id", ondelete="CASCADE"), index=True)
    row_no: Mapped[int | None] = mapped_column(Integer)
    natural_key: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    loaded: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class AdminArea(Base):
    """District, street office (街道) or community (社区) with its statistical code."""

    __tablename__ = "admin_areas"
    __table_args__ = (
        CheckConstraint(_in("level", ADMIN_LEVELS), name="admin_areas_level"),
        Index("admin_areas_geom_gist", "geom", postgresql_using="gist"),
        Index("admin_areas_centre_gist", "centre", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = _geom("MULTIPOLYGON", nullable=True)
    centre: Mapped[Any] = _geom("POINT", nullable=True)
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class GridCell(Base):
    """Unit grid cell (单元网格): the smallest management area."""

    __tablename__ = "grid_cells"
    __table_args__ = (Index("grid_cells_geom_gist", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    responsible_body: Mapped[str | None] = mapped_column(Text)
    area_m2: Mapped[float | None] = mapped_column(Double)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class Road(Base):
    """A named road centreline, before segmentation."""

    __tablename__ = "roads"
    __table_args__ = (
        CheckConstraint(_in("kind", SEGMENT_KINDS), name="roads_kind"),
        Index("roads_geom_gist", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    road_class: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(8), server_default="street")
    geom: Mapped[Any] = _geom("MULTILINESTRING")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class RoadSegment(Base):
    """Road segment (路段) between two cross streets; lanes (小街巷) have kind 'lane'."""

    __tablename__ = "road_segments"
    __table_args__ = (
        CheckConstraint(_in("kind", SEGMENT_KINDS), name="road_segments_kind"),
        Index("road_segments_geom_gist", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    road_id: Mapped[int | None] = mapped_column(ForeignKey("roads.id"), index=True)
    road_name: Mapped[str] = mapped_column(Text)
    from_name: Mapped[str | None] = mapped_column(Text)
    to_name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(8), server_default="street")
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"))
    length_m: Mapped[float | None] = mapped_column(Double)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    geom: Mapped[Any] = _geom("MULTILINESTRING")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class Market(Base):
    """Farmers', convenience and morning/night markets (农贸市场、便民市场、早夜市)."""

    __tablename__ = "markets"
    __table_args__ = (Index("markets_geom_gist", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Text)
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"))
    geom: Mapped[Any] = _geom("GEOMETRY")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class Premises(Base):
    """Key premises (重点场所) for pest control, and shops under 门前三包."""

    __tablename__ = "premises"
    __table_args__ = (Index("premises_geom_gist", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"))
    geom: Mapped[Any] = _geom("GEOMETRY")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class BaitStation(Base):
    """Rodent bait station (灭鼠毒饵站)."""

    __tablename__ = "bait_stations"
    __table_args__ = (
        CheckConstraint(_in("state", STATION_STATES), name="bait_stations_state"),
        Index("bait_stations_geom_gist", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    state: Mapped[str] = mapped_column(String(10), server_default="intact")
    bait_type: Mapped[str | None] = mapped_column(Text)
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    last_inspected: Mapped[dt.date | None] = mapped_column(Date)
    premises_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("POINT")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class Person(Base):
    """Someone on a roster: street heads, lane heads, shop heads, grid workers."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    person_key: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(Text)
    org_unit: Mapped[str | None] = mapped_column(Text)
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("admin_areas.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class ChangeSet(Base):
    """One user action (possibly many rows), the unit of undo."""

    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[str | None] = mapped_column(Text)
    undo_of: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))


class Assignment(Base):
    """Who answers for what, with full history (active while ``valid_to`` is null)."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(_in("role", ASSIGNMENT_ROLES), name="assignments_role"),
        CheckConstraint(_in("target_type", TARGET_TYPES), name="assignments_target_type"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 3", name="assignments_level"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="assignments_dates"),
        Index(
            "assignments_active_target",
            "target_type",
            "target_id",
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index("assignments_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    level: Mapped[int | None] = mapped_column(SmallInteger)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    valid_from: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_by: Mapped[str] = mapped_column(Text)
    assigned_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    ended_by: Mapped[str | None] = mapped_column(Text)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    load_run_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class ProblemCategory(Base):
    """Category code table (大类 + 小类), with the deadline rule of each category."""

    __tablename__ = "problem_categories"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    major_code: Mapped[str | None] = mapped_column(String(4))
    major_name: Mapped[str | None] = mapped_column(Text)
    patrol_category: Mapped[int | None] = mapped_column(SmallInteger)
    deadline_value: Mapped[float | None] = mapped_column(Double)
    deadline_unit: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class Problem(Base):
    """A reported problem (事件/部件) with its derived places, stored at load time.

    The derived ids carry no foreign keys on purpose: they are set by the loader from
    the spatial join, and checking four keys per row would slow million-row loads.
    """

    __tablename__ = "problems"
    __table_args__ = (
        CheckConstraint(_in("status", PROBLEM_STATUSES), name="problems_status"),
        Index("problems_geom_gist", "geom", postgresql_using="gist"),
        Index("problems_reported_at", "reported_at"),
        # partial: counts leave voided reports out (migration 0004)
        Index(
            "problems_live_cell_time",
            "cell_id",
            "reported_at",
            postgresql_where=text("status <> 'void'"),
        ),
        Index(
            "problems_live_segment_time",
            "segment_id",
            "reported_at",
            postgresql_where=text("status <> 'void'"),
        ),
        Index(
            "problems_open_deadline",
            "deadline",
            postgresql_where=text("status NOT IN ('closed', 'void')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_no: Mapped[str] = mapped_column(Text, unique=True)
    category_code: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    cell_id: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[int | None] = mapped_column(Integer)
    street_office_id: Mapped[int | None] = mapped_column(Integer)
    segment_id: Mapped[int | None] = mapped_column(Integer)
    segment_dist_m: Mapped[float | None] = mapped_column(Double)
    geom: Mapped[Any] = _geom("POINT")
    load_run_id: Mapped[int | None] = mapped_column(Integer)


class AuditLog(Base):
    """Append-only record of every change, sign-in and export (trigger-enforced)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("audit_log_at", "at"),
        Index("audit_log_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    change_id: Mapped[int | None] = mapped_column(Integer)


class SettingOverride(Base):
    """A setting an administrator changed while the platform runs (migration 0005).

    ``value`` is the validated value as JSON; a setting without a row follows the
    environment (:func:`db.runtime_settings.effective_settings`).
    """

    __tablename__ = "setting_overrides"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_by: Mapped[str] = mapped_column(Text)
