"""Runtime settings: checked like the environment, refused without the permission, audited,
read back over the environment, and stored in a table the application role may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Connection, Engine

from citygrid.cli import cli, main
from citygrid.settings import RUNTIME_FIELDS, Settings, get_settings
from db import migrate
from db.access import SYSTEM, Actor
from db.models_access import APP_DB_ROLE
from db.runtime_settings import (
    choices,
    effective_settings,
    set_setting,
    setting_states,
    unset_setting,
)
from gis.errors import DataError, PermissionDeniedError

pytestmark = pytest.mark.db

ADMIN = Actor(username="root", role="admin")
BASE = Settings(_env_file=None)


def _audit(conn: Connection, action: str) -> list[sa.Row]:  # type: ignore[type-arg]
    return conn.execute(
        sa.text(
            "SELECT actor, entity_id, before, after FROM audit_log WHERE action = :a ORDER BY id"
        ),
        {"a": action},
    ).all()


def test_a_change_is_read_back_over_the_environment_and_audited(conn: Connection) -> None:
    assert effective_settings(conn, base=BASE).refresh_seconds == 60
    state = set_setting(conn, ADMIN, "refresh_seconds", "30", base=BASE)
    assert (state.effective, state.environment, state.overridden) == (30, 60, True)
    assert effective_settings(conn, base=BASE).refresh_seconds == 30
    assert effective_settings(conn, base=BASE).hotline == BASE.hotline  # others untouched
    [row] = _audit(conn, "setting.set")
    assert (row.actor, row.entity_id) == ("root", "refresh_seconds")
    assert row.before == {"value": 60, "source": "environment"}
    assert row.after == {"value": 30, "source": "override"}
    assert conn.scalar(sa.text("SELECT updated_by FROM setting_overrides")) == "root"


def test_unset_returns_to_the_environment_and_is_audited(conn: Connection) -> None:
    set_setting(conn, ADMIN, "CITYGRID_YELLOW_FRACTION", 0.4, base=BASE)
    assert effective_settings(conn, base=BASE).yellow_fraction == 0.4
    state = unset_setting(conn, ADMIN, "yellow-fraction", base=BASE)
    assert state is not None and not state.overridden and state.effective == 0.25
    assert effective_settings(conn, base=BASE).yellow_fraction == 0.25
    [row] = _audit(conn, "setting.unset")
    assert row.before == {"value": 0.4, "source": "override"}
    assert row.after == {"value": 0.25, "source": "environment"}


def test_setting_the_value_in_force_writes_nothing(conn: Connection) -> None:
    set_setting(conn, ADMIN, "hotline", "12319", base=BASE)
    set_setting(conn, ADMIN, "hotline", " 12319 ", base=BASE)
    unset_setting(conn, ADMIN, "language", base=BASE)  # nobody changed it
    assert len(_audit(conn, "setting.set")) == 1
    assert _audit(conn, "setting.unset") == []


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("refresh_seconds", "3", "greater than or equal to 5"),
        ("refresh_seconds", "soon", "valid integer"),
        ("yellow_fraction", "1.5", "less than 1"),
        ("yellow_fraction", "0", "greater than 0"),
        ("language", "fr", "'zh' or 'en'"),
        ("basemap", "tianditu", "needs CITYGRID_TIANDITU_KEY"),
        ("basemap", "local", "needs CITYGRID_LOCAL_TILE_URL"),
        ("hotline", "<script>alert(1)</script>", "is not a phone number"),
        ("hotline", "", "is not a phone number"),
        ("local_tile_url", "javascript:alert(1)", "XYZ tile template"),
    ],
)
def test_values_the_settings_refuse_are_refused_in_one_line(
    conn: Connection, name: str, value: str, reason: str
) -> None:
    with pytest.raises(DataError, match=f"cannot set {name} to") as refused:
        set_setting(conn, ADMIN, name, value, base=BASE)
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)
    assert conn.scalar(sa.text("SELECT count(*) FROM setting_overrides")) == 0
    assert _audit(conn, "setting.set") == []


def test_settings_fixed_at_start_cannot_be_changed(conn: Connection) -> None:
    for name in ("working_srid", "database_url", "tianditu_key", "timezone", "no_such"):
        with pytest.raises(DataError, match="cannot be changed while the platform runs"):
            set_setting(conn, ADMIN, name, "1", base=BASE)


def test_cross_field_checks_hold_both_ways(conn: Connection) -> None:
    url = "http://tiles.example.local/{z}/{x}/{y}.png"
    set_setting(conn, ADMIN, "local_tile_url", url, base=BASE)
    set_setting(conn, ADMIN, "basemap", "local", base=BASE)
    settings = effective_settings(conn, base=BASE)
    assert (settings.basemap, settings.local_tile_url) == ("local", url)
    with pytest.raises(DataError, match="cannot unset local_tile_url"):
        unset_setting(conn, ADMIN, "local_tile_url", base=BASE)
    unset_setting(conn, ADMIN, "basemap", base=BASE)
    unset_setting(conn, ADMIN, "local_tile_url", base=BASE)
    assert effective_settings(conn, base=BASE).basemap == "none"


@pytest.mark.parametrize("role", ["planner", "leader", "field", "viewer", "kiosk"])
def test_only_settings_managers_may_change_settings(conn: Connection, role: str) -> None:
    actor = Actor(username=f"x-{role}", role=role, person_id=None)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError, match="may not change settings"):
        set_setting(conn, actor, "hotline", "12319", base=BASE)
    set_setting(conn, SYSTEM, "hotline", "12319", base=BASE)
    with pytest.raises(PermissionDeniedError, match="may not change settings"):
        unset_setting(conn, actor, "hotline", base=BASE)
    assert effective_settings(conn, base=BASE).hotline == "12319"


def test_a_stored_value_that_no_longer_holds_is_ignored_not_fatal(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO setting_overrides (name, value, updated_by) VALUES "
            "('refresh_seconds', '2', 'hand'), ('basemap', '\"local\"', 'hand'), "
            "('local_tile_url', '\"http://t.local/{z}/{x}/{y}.png\"', 'hand'), "
            "('max_upload_mb', '5', 'hand')"
        )
    )
    settings = effective_settings(conn, base=BASE)
    assert settings.refresh_seconds == BASE.refresh_seconds  # 2 s fails the check
    assert settings.basemap == "local"  # needs the tile address, stored after it by name
    states = {s.name: s for s in setting_states(conn, base=BASE)}
    assert "greater than or equal to 5" in (states["refresh_seconds"].ignored or "")
    assert not states["refresh_seconds"].overridden
    assert states["basemap"].overridden and states["basemap"].ignored is None
    assert "cannot be changed while" in (states["max_upload_mb"].ignored or "")
    assert unset_setting(conn, ADMIN, "max_upload_mb", base=BASE) is None
    assert "max_upload_mb" not in {s.name for s in setting_states(conn, base=BASE)}


def test_without_the_table_the_environment_applies(conn: Connection) -> None:
    conn.execute(sa.text("DROP TABLE setting_overrides"))  # rolled back after the test
    assert effective_settings(conn, base=BASE) is BASE
    with pytest.raises(Exception, match="citygrid db migrate"):
        set_setting(conn, ADMIN, "hotline", "12319", base=BASE)


def test_the_application_role_reads_and_writes_settings(conn: Connection) -> None:
    conn.execute(sa.text(f"SET LOCAL ROLE {APP_DB_ROLE}"))
    set_setting(conn, ADMIN, "language", "en", base=BASE)
    assert effective_settings(conn, base=BASE).language == "en"
    unset_setting(conn, ADMIN, "language", base=BASE)
    assert len(_audit(conn, "setting.unset")) == 1


def test_every_runtime_setting_is_a_setting_with_a_description() -> None:
    for name in RUNTIME_FIELDS:
        assert Settings.model_fields[name].description, name
    assert choices("basemap") == ("none", "osm", "tianditu", "gaode", "local")
    assert choices("hotline") is None


def test_migration_0005_is_idempotent_and_grants_the_app_role(engine: Engine) -> None:
    grant = sa.text("SELECT has_table_privilege(:r, 'setting_overrides', 'DELETE')")
    migrate.downgrade(engine, "0004")
    try:
        with engine.begin() as c:
            assert c.scalar(sa.text("SELECT to_regclass('setting_overrides')")) is None
            # made by hand before the migration ran: the upgrade keeps it, and grants
            c.execute(
                sa.text(
                    "CREATE TABLE setting_overrides (name varchar(40) PRIMARY KEY, "
                    "value jsonb NOT NULL, updated_at timestamptz DEFAULT now() NOT NULL, "
                    "updated_by text NOT NULL)"
                )
            )
            c.execute(sa.text(f"REVOKE ALL ON setting_overrides FROM {APP_DB_ROLE}"))
    finally:
        migrate.upgrade(engine)
    with engine.connect() as c:
        assert c.scalar(grant, {"r": APP_DB_ROLE})
    assert migrate.current(engine) == migrate.head()


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def cli_db(clean_db: Engine) -> Iterator[Engine]:
    yield clean_db
    from db.engine import get_engine

    get_engine().dispose()


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_settings_show_set_unset_from_the_command_line(cli_db: Engine) -> None:
    env = get_settings()
    out = _run("settings", "show")
    for name in RUNTIME_FIELDS:
        assert name in out
    assert _run("settings", "set", "hotline", "12319").strip() == (
        f"hotline = 12319 (environment: {env.hotline})"
    )
    assert "changed" in _run("settings", "show")
    assert _run("settings", "unset", "hotline").strip() == (
        f"hotline = {env.hotline} (from the environment)"
    )
    with cli_db.connect() as c:
        rows = _audit(c, "setting.set") + _audit(c, "setting.unset")
    assert [r.entity_id for r in rows] == ["hotline", "hotline"]
    assert all(r.actor.startswith("system:") for r in rows)


def test_a_refused_value_is_one_line_and_exit_1(
    cli_db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["settings", "set", "refresh_seconds", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot set refresh_seconds to '1'")
    assert err.count("\n") == 1
    assert main(["settings", "set", "working_srid", "4547"]) == 1
    assert "cannot be changed while the platform runs" in capsys.readouterr().err


def test_the_notice_boards_command_prints_the_hotline_in_force(
    cli_db: Engine, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    from tests.browser_support import seed_small

    with cli_db.begin() as c:
        seed_small(c)
    _run("settings", "set", "hotline", "12319")
    out = tmp_path / "boards.xlsx"
    _run("assign", "boards", "--format", "xlsx", "--out", str(out))
    cells = {
        str(v) for ws in load_workbook(out).worksheets for row in ws.iter_rows(values_only=True)
        for v in row if v is not None
    }  # fmt: skip
    assert "12319" in cells and get_settings().hotline not in cells
