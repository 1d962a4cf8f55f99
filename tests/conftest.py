"""Shared fixtures: a real PostGIS test database, built by the migrations.

The tests run against the embedded cluster (started on demand) or against
``CITYGRID_DATABASE_URL``. They never skip for want of a database: if PostGIS cannot
be reached, the session fails with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tests.browser_support import point_settings_at

# Tests use their own database on the same server (the embedded cluster, or the one of
# CITYGRID_DATABASE_URL), never the demo one nor the URL's own: they drop and create it.
# Set before any CityGrid module reads the settings.
point_settings_at(os.environ.get("CITYGRID_TEST_DB", "citygrid_test"))
os.environ.setdefault("CITYGRID_WORKING_SRID", "4548")

from citygrid.settings import get_settings

APP_TABLES = (
    "setting_overrides",
    "kiosk_tokens",
    "users",
    "audit_log",
    "load_rejects",
    "load_runs",
    "problems",
    "problem_categories",
    "assignments",
    "change_sets",
    "people",
    "bait_stations",
    "premises",
    "markets",
    "road_segments",
    "roads",
    "grid_cells",
    "admin_areas",
)


def _fresh_database() -> Engine:
    from db import migrate
    from db.engine import ensure_server, make_engine, server_url

    settings = get_settings()
    try:
        ensure_server(settings)
    except Exception as exc:
        pytest.exit(f"PostGIS is required for the tests and is unavailable: {exc}", returncode=3)
    admin = sa.create_engine(
        server_url(settings, database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{settings.db_name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{settings.db_name}"'))
    admin.dispose()
    ensure_server(settings)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    return engine


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """Engine on a test database created from scratch by the migrations."""
    eng = _fresh_database()
    yield eng
    eng.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        trans = connection.begin()
        try:
            yield connection
        finally:
            trans.rollback()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """For code that commits: the engine, with every CityGrid table emptied afterwards."""
    yield engine
    truncate_all(engine)


def truncate_all(engine: Engine) -> None:
    """Empty the data tables (the audit log's guard is lifted for the test only)."""
    with engine.begin() as c:
        c.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        c.execute(sa.text(f"TRUNCATE {', '.join(APP_TABLES)} RESTART IDENTITY CASCADE"))
        c.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
