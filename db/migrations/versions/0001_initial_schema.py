"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 10:03:45.542742
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from citygrid.settings import get_settings

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _geom(kind: str) -> Geometry:
    # The working CRS is fixed here, when the database is created; later migrations
    # read it back from the deployment table.
    return Geometry(geometry_type=kind, srid=get_settings().working_srid, spatial_index=False)


# Nobody, the application included, may change or delete what the audit log holds.
AUDIT_GUARD = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "admin_areas",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("geom", _geom("MULTIPOLYGON"), nullable=True),
        sa.Column("centre", _geom("POINT"), nullable=True),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "level IN ('district', 'street_office', 'community')", name="admin_areas_level"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "admin_areas_centre_gist", "admin_areas", ["centre"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "admin_areas_geom_gist", "admin_areas", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        op.f("ix_admin_areas_parent_code"), "admin_areas", ["parent_code"], unique=False
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=True),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("audit_log_entity", "audit_log", ["entity_type", "entity_id"], unique=False)
    op.create_table(
        "bait_stations",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="intact", nullable=False),
        sa.Column("bait_type", sa.Text(), nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("last_inspected", sa.Date(), nullable=True),
        sa.Column("premises_code", sa.Text(), nullable=True),
        sa.Column("geom", _geom("POINT"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("state IN ('intact', 'damaged', 'missing')", name="bait_stations_state"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "bait_stations_geom_gist", "bait_stations", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "change_sets",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.Text(), nullable=True),
        sa.Column("undo_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["undo_of"],
            ["change_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "deployment",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("working_srid", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("grid_code_scheme", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name="deployment_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "load_runs",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("layer", sa.String(length=40), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_format", sa.String(length=20), nullable=True),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("backend_pid", sa.Integer(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("n_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_repaired", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("rejects_path", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed', 'interrupted', 'rejected')",
            name="load_runs_status",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "problem_categories",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("major_code", sa.String(length=4), nullable=True),
        sa.Column("major_name", sa.Text(), nullable=True),
        sa.Column("patrol_category", sa.SmallInteger(), nullable=True),
        sa.Column("deadline_value", sa.Double(), nullable=True),
        sa.Column("deadline_unit", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_no", sa.Text(), nullable=False),
        sa.Column("category_code", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("cell_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("street_office_id", sa.Integer(), nullable=True),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("segment_dist_m", sa.Double(), nullable=True),
        sa.Column("geom", _geom("POINT"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('reported', 'dispatched', 'handling', 'checking', 'closed', 'void')",
            name="problems_status",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    )
    op.create_index("problems_cell_time", "problems", ["cell_id", "reported_at"], unique=False)
    op.create_index(
        "problems_geom_gist", "problems", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index("problems_reported_at", "problems", ["reported_at"], unique=False)
    op.create_index(
        "problems_segment_time", "problems", ["segment_id", "reported_at"], unique=False
    )
    op.create_table(
        "roads",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("road_class", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=8), server_default="street", nullable=False),
        sa.Column("geom", _geom("MULTILINESTRING"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('street', 'lane')", name="roads_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("roads_geom_gist", "roads", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "grid_cells",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("responsible_body", sa.Text(), nullable=True),
        sa.Column("area_m2", sa.Double(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("geom", _geom("MULTIPOLYGON"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "grid_cells_geom_gist", "grid_cells", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        op.f("ix_grid_cells_community_id"), "grid_cells", ["community_id"], unique=False
    )
    op.create_table(
        "load_rejects",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=True),
        sa.Column("natural_key", sa.Text(), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("loaded", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["load_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_load_rejects_run_id"), "load_rejects", ["run_id"], unique=False)
    op.create_table(
        "markets",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("street_office_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            _geom("GEOMETRY"),
            nullable=False,
        ),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_areas.id"],
        ),
        sa.ForeignKeyConstraint(
            ["street_office_id"],
            ["admin_areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("markets_geom_gist", "markets", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("person_key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("org_unit", sa.Text(), nullable=True),
        sa.Column("street_office_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["street_office_id"],
            ["admin_areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_key"),
    )
    op.create_index(
        op.f("ix_people_street_office_id"), "people", ["street_office_id"], unique=False
    )
    op.create_table(
        "premises",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("street_office_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            _geom("GEOMETRY"),
            nullable=False,
        ),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_areas.id"],
        ),
        sa.ForeignKeyConstraint(
            ["street_office_id"],
            ["admin_areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_premises_kind"), "premises", ["kind"], unique=False)
    op.create_index(
        "premises_geom_gist", "premises", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "road_segments",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("road_id", sa.Integer(), nullable=True),
        sa.Column("road_name", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=True),
        sa.Column("to_name", sa.Text(), nullable=True),
        sa.Column("road_class", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=8), server_default="street", nullable=False),
        sa.Column("street_office_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("length_m", sa.Double(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("geom", _geom("MULTILINESTRING"), nullable=False),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('street', 'lane')", name="road_segments_kind"),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_areas.id"],
        ),
        sa.ForeignKeyConstraint(
            ["road_id"],
            ["roads.id"],
        ),
        sa.ForeignKeyConstraint(
            ["street_office_id"],
            ["admin_areas.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_road_segments_road_id"), "road_segments", ["road_id"], unique=False)
    op.create_index(
        op.f("ix_road_segments_street_office_id"),
        "road_segments",
        ["street_office_id"],
        unique=False,
    )
    op.create_index(
        "road_segments_geom_gist", "road_segments", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_by", sa.Text(), nullable=False),
        sa.Column(
            "assigned_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_by", sa.Text(), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("load_run_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "role IN ('street_head', 'lane_head', 'shop_head', 'grid_worker', 'market_head')",
            name="assignments_role",
        ),
        sa.CheckConstraint(
            "target_type IN ('segment', 'cell', 'market', 'premises', 'street_office', 'district')",
            name="assignments_target_type",
        ),
        sa.CheckConstraint("level IS NULL OR level BETWEEN 1 AND 3", name="assignments_level"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="assignments_dates"),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["change_sets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["people.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "assignments_active_target",
        "assignments",
        ["target_type", "target_id"],
        unique=False,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index("assignments_person", "assignments", ["person_id"], unique=False)

    op.execute(AUDIT_GUARD)
    settings = get_settings()
    op.execute(
        sa.text(
            "INSERT INTO deployment (id, working_srid, area_code, grid_code_scheme) "
            "VALUES (1, :srid, :area, :scheme)"
        ).bindparams(
            srid=settings.working_srid, area=settings.area_code, scheme=settings.grid_code_scheme
        )
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("assignments_person", table_name="assignments")
    op.drop_index(
        "assignments_active_target",
        table_name="assignments",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("assignments")
    op.drop_index("road_segments_geom_gist", table_name="road_segments", postgresql_using="gist")
    op.drop_index(op.f("ix_road_segments_street_office_id"), table_name="road_segments")
    op.drop_index(op.f("ix_road_segments_road_id"), table_name="road_segments")
    op.drop_table("road_segments")
    op.drop_index("premises_geom_gist", table_name="premises", postgresql_using="gist")
    op.drop_index(op.f("ix_premises_kind"), table_name="premises")
    op.drop_table("premises")
    op.drop_index(op.f("ix_people_street_office_id"), table_name="people")
    op.drop_table("people")
    op.drop_index("markets_geom_gist", table_name="markets", postgresql_using="gist")
    op.drop_table("markets")
    op.drop_index(op.f("ix_load_rejects_run_id"), table_name="load_rejects")
    op.drop_table("load_rejects")
    op.drop_index(op.f("ix_grid_cells_community_id"), table_name="grid_cells")
    op.drop_index("grid_cells_geom_gist", table_name="grid_cells", postgresql_using="gist")
    op.drop_table("grid_cells")
    op.drop_index("roads_geom_gist", table_name="roads", postgresql_using="gist")
    op.drop_table("roads")
    op.drop_index("problems_segment_time", table_name="problems")
    op.drop_index("problems_reported_at", table_name="problems")
    op.drop_index("problems_geom_gist", table_name="problems", postgresql_using="gist")
    op.drop_index("problems_cell_time", table_name="problems")
    op.drop_table("problems")
    op.drop_table("problem_categories")
    op.drop_table("load_runs")
    op.drop_table("deployment")
    op.drop_table("change_sets")
    op.drop_index("bait_stations_geom_gist", table_name="bait_stations", postgresql_using="gist")
    op.drop_table("bait_stations")
    op.drop_index("audit_log_entity", table_name="audit_log")
    op.drop_index("audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_admin_areas_parent_code"), table_name="admin_areas")
    op.drop_index("admin_areas_geom_gist", table_name="admin_areas", postgresql_using="gist")
    op.drop_index("admin_areas_centre_gist", table_name="admin_areas", postgresql_using="gist")
    op.drop_table("admin_areas")
