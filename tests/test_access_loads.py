"""Loading files (``etl.load.load_file``): who may load, where, and hostile content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.access import Actor
from etl.load import load_file
from gis.errors import PermissionDeniedError

pytestmark = pytest.mark.db

DHM, JS = "110101001000", "110101002000"  # 东华门, 景山
ROLES = ("admin", "planner", "leader", "field", "viewer", "kiosk")
HOSTILE_NAMES = ("<script>alert(1)</script>", "'); DROP TABLE people;--", "王<b>小明</b>")


@pytest.fixture
def offices(clean_db: Engine) -> Iterator[dict[str, int]]:
    with clean_db.begin() as c:
        rows = c.execute(
            sa.text(
                "INSERT INTO admin_areas (code, name, level) VALUES "
                f"('{DHM}', '东华门街道办事处', 'street_office'), "
                f"('{JS}', '景山街道办事处', 'street_office') RETURNING code, id"
            )
        ).all()
    yield dict(rows)  # type: ignore[misc]


def _roster(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "名册.csv"
    lines = ["姓名,电话,街道编码"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as c:
        return int(c.scalar(sa.text(sql)) or 0)


@pytest.mark.parametrize("role", ROLES)
def test_loading_a_roster_needs_data_load(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path, role: str
) -> None:
    path = _roster(tmp_path, [("王小明", "13812345678", DHM)])
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    if role in ("admin", "planner"):
        report = load_file(clean_db, "people", path, actor=actor)
        assert report.n_inserted == 1
        with clean_db.connect() as c:
            row = c.execute(
                sa.text("SELECT actor, entity_type FROM audit_log WHERE action = 'data.load'")
            ).one()
        assert tuple(row) == (f"the-{role}", "load_run")
    else:
        with pytest.raises(PermissionDeniedError, match=f"the-{role} .* may not load"):
            load_file(clean_db, "people", path, actor=actor)
        assert _count(clean_db, "SELECT count(*) FROM people") == 0
        assert _count(clean_db, "SELECT count(*) FROM load_runs") == 0
        assert _count(clean_db, "SELECT count(*) FROM audit_log") == 0


def test_a_planner_of_one_street_office_loads_only_its_rows(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path
) -> None:
    planner = Actor(username="dhm", role="planner", street_office_ids=frozenset({offices[DHM]}))
    path = _roster(tmp_path, [("王小明", "13812345678", DHM), ("李四", "13900001111", JS)])
    report = load_file(clean_db, "people", path, actor=planner)
    assert (report.n_inserted, report.n_rejected) == (1, 1)
    assert "outside_your_area" in report.reasons
    with clean_db.connect() as c:
        assert c.scalars(sa.text("SELECT name FROM people")).all() == ["王小明"]


@pytest.mark.parametrize("role", ROLES)
def test_downloading_the_rejects_file_is_an_audited_export(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path, role: str
) -> None:
    from db.queries.loads import export_rejects

    planner = Actor(username="dhm", role="planner", street_office_ids=frozenset({offices[DHM]}))
    path = _roster(tmp_path, [("王小明", "13812345678", DHM), ("李四", "13900001111", JS)])
    run_id = load_file(clean_db, "people", path, actor=planner).run_id
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    exports = "SELECT count(*) FROM audit_log WHERE action = 'export.rejects'"
    if role in ("admin", "planner", "leader"):
        with clean_db.begin() as c:
            made = export_rejects(c, actor, run_id)
        assert "李四" in made.data.decode("utf-8-sig") and made.file_name.endswith(".csv")
        with clean_db.connect() as c:
            row = c.execute(
                sa.text(
                    "SELECT actor, entity_type, entity_id, detail FROM audit_log "
                    "WHERE action = 'export.rejects'"
                )
            ).one()
        assert row[:3] == (f"the-{role}", "load_run", str(run_id))
        assert row.detail["rows"] == 1 and row.detail["source_file"] == "名册.csv"
    else:
        with clean_db.begin() as c, pytest.raises(PermissionDeniedError):
            export_rejects(c, actor, run_id)
        assert _count(clean_db, exports) == 0


def test_a_load_without_rejects_has_no_file_to_download(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path
) -> None:
    from db.queries.loads import export_rejects
    from gis.errors import DataError

    path = _roster(tmp_path, [("王小明", "13812345678", DHM)])
    run_id = load_file(clean_db, "people", path, actor=Actor(username="p", role="planner")).run_id
    with clean_db.begin() as c, pytest.raises(DataError, match="no rejects file"):
        export_rejects(c, Actor(username="p", role="planner"), run_id)


def test_a_planner_of_one_street_office_cannot_load_district_layers(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path
) -> None:
    planner = Actor(username="dhm", role="planner", street_office_ids=frozenset({offices[DHM]}))
    path = tmp_path / "areas.csv"
    path.write_text("编码,名称,级别\n110101003000,交道口街道办事处,街道\n", encoding="utf-8")
    with pytest.raises(PermissionDeniedError, match="layer of the whole deployment"):
        load_file(clean_db, "admin_areas", path, actor=planner)
    assert _count(clean_db, "SELECT count(*) FROM admin_areas") == 2


def test_hostile_names_in_a_file_are_stored_as_text(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "名册.csv"
    body = "姓名,电话,街道编码\n" + "".join(
        f'"{n.replace(chr(34), chr(34) * 2)}",1380000000{i},{DHM}\n'
        for i, n in enumerate(HOSTILE_NAMES)
    )
    path.write_text(body, encoding="utf-8")
    report = load_file(clean_db, "people", path, actor=Actor(username="p", role="planner"))
    assert report.n_inserted == len(HOSTILE_NAMES)
    with clean_db.connect() as c:
        names = set(c.scalars(sa.text("SELECT name FROM people")))
        assert c.scalar(sa.text("SELECT to_regclass('people') IS NOT NULL"))
    assert names == set(HOSTILE_NAMES)


def test_the_application_role_has_what_a_load_needs(
    clean_db: Engine, offices: dict[str, int], tmp_path: Path
) -> None:
    """Production connects as a member of citygrid_app: COPY, staging tables, audit rows."""
    import secrets

    from sqlalchemy.engine import make_url

    from db.models_access import APP_DB_ROLE

    name, password = "citygrid_test_access_loader", secrets.token_urlsafe(16)
    with clean_db.begin() as c:
        c.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {APP_DB_ROLE}"))
    app = sa.create_engine(
        make_url(clean_db.url).set(username=name, password=password), poolclass=sa.pool.NullPool
    )
    try:
        path = _roster(tmp_path, [("王小明", "13812345678", DHM), ("李四", "13900001111", JS)])
        report = load_file(app, "people", path, actor=Actor(username="p", role="planner"))
        assert (report.status, report.n_inserted) == ("done", 2)
        with app.connect() as c:
            assert c.scalar(sa.text("SELECT current_user")) == name
            assert (
                c.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'data.load'")) == 1
            )
    finally:
        app.dispose()
        with clean_db.begin() as c:
            c.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))
