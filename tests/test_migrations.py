"""The schema is created by the migrations, runs down and up cleanly, and matches the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import db.models_access  # noqa: F401  (registers the access tables on Base)
from db import migrate
from db.models import Base

pytestmark = pytest.mark.db


def _schema(engine: Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        cols = conn.execute(
            sa.text(
                "SELECT table_name, column_name, udt_name, is_nullable "
                "FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name <> 'spatial_ref_sys' "
                "ORDER BY 1, 2"
            )
        ).all()
        idx = conn.execute(
            sa.text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' ORDER BY 1, 2"
            )
        ).all()
    return [tuple(map(str, r)) for r in cols] + [tuple(map(str, r)) for r in idx]


def test_schema_has_every_table(engine: Engine) -> None:
    insp = sa.inspect(engine)
    tables = set(insp.get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert migrate.current(engine) == migrate.head()


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda o, name, t, r, c: (
                    not (t == "table" and name == "spatial_ref_sys")
                ),
                "compare_type": True,
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_geometry_has_a_gist_index_and_the_working_srid(engine: Engine) -> None:
    with engine.connect() as conn:
        geoms = conn.execute(
            sa.text("SELECT f_table_name, f_geometry_column, srid FROM geometry_columns")
        ).all()
        assert geoms, "no geometry columns found"
        for table, column, srid in geoms:
            assert srid == 4548, (table, column, srid)
            has_gist = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_indexes WHERE tablename = :t "
                    "AND indexdef ILIKE '%USING gist%' AND indexdef LIKE :c"
                ),
                {"t": table, "c": f"%({column})%"},
            )
            assert has_gist == 1, f"{table}.{column} has no GiST index"


def test_working_crs_recorded_at_creation(engine: Engine) -> None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT working_srid, area_code FROM deployment")).one()
    assert row == (4548, "110101")


def test_round_trip_down_and_up_changes_nothing(engine: Engine) -> None:
    before = _schema(engine)
    migrate.downgrade(engine, "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"] or set(
        sa.inspect(engine).get_table_names()
    ) <= {"alembic_version", "spatial_ref_sys"}
    migrate.upgrade(engine)
    assert _schema(engine) == before
    migrate.upgrade(engine)  # twice: nothing to do
    assert _schema(engine) == before
    assert migrate.current(engine) == migrate.head()


def test_audit_log_is_append_only(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit_log (actor, action) VALUES ('t', 'test')"))
    for stmt in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(stmt))
