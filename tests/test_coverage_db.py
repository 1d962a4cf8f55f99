"""Coverage gaps from a real PostGIS: a tiny district inserted with SQL, checked by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal
from sqlalchemy.engine import Connection

from db.access import SYSTEM, Actor
from db.queries import coverage as q
from gis.coverage import GAP_COLUMNS, REASONS
from gis.errors import DataError, PermissionDeniedError
from gis.profiles import load_bait_profile

pytestmark = pytest.mark.db

X0, Y0 = 449_000.0, 4_420_000.0
TODAY = dt.date(2025, 6, 30)


def _box(x: float, y: float, w: float, h: float) -> str:
    x, y = X0 + x, Y0 + y
    return f"POLYGON(({x} {y},{x + w} {y},{x + w} {y + h},{x} {y + h},{x} {y}))"


def _mbox(x: float, y: float, w: float, h: float) -> str:
    return "MULTI" + _box(x, y, w, h).replace("POLYGON", "POLYGON(") + ")"


def _line(*pts: tuple[float, float]) -> str:
    return "MULTILINESTRING((" + ",".join(f"{X0 + x} {Y0 + y}" for x, y in pts) + "))"


def _pt(x: float, y: float) -> str:
    return f"POINT({X0 + x} {Y0 + y})"


def _id(conn: Connection, sql: str, **params: object) -> int:
    return int(conn.execute(sa.text(sql + " RETURNING id"), params).scalar_one())


def _area(conn: Connection, code: str, level: str, parent: str | None, wkt: str) -> int:
    return _id(
        conn,
        "INSERT INTO admin_areas (code, name, level, parent_code, geom) "
        "VALUES (:c, :n, :l, :p, ST_GeomFromText(:g, 4548))",
        c=code,
        n=f"area {code}",
        l=level,
        p=parent,
        g=wkt,
    )


@pytest.fixture
def district(conn: Connection) -> dict[str, int]:
    """Two street offices side by side (x 0-1000 and 1000-2000), one community each."""
    return _make_district(conn)


def _make_district(conn: Connection) -> dict[str, int]:
    ids: dict[str, int] = {}
    _area(conn, "110101", "district", None, _mbox(0, 0, 2000, 1000))
    ids["so1"] = _area(conn, "110101001", "street_office", "110101", _mbox(0, 0, 1000, 1000))
    ids["so2"] = _area(conn, "110101002", "street_office", "110101", _mbox(1000, 0, 1000, 1000))
    ids["com1"] = _area(conn, "110101001001", "community", "110101001", _mbox(0, 0, 1000, 1000))
    ids["com2"] = _area(conn, "110101002001", "community", "110101002", _mbox(1000, 0, 1000, 1000))
    return ids


def _segment(
    conn: Connection, code: str, *, kind: str = "street", office: int, y: float, cls: str = "branch"
) -> int:
    x = 0.0 if code.endswith(("1", "3", "5", "7")) else 500.0
    return _id(
        conn,
        "INSERT INTO road_segments (code, road_name, from_name, to_name, road_class, kind, "
        "street_office_id, length_m, geom) VALUES (:c, :r, '甲路', '乙路', :cls, :k, :so, 100, "
        "ST_GeomFromText(:g, 4548))",
        c=code,
        r=f"路{code}",
        cls=cls,
        k=kind,
        so=office,
        g=_line((x, y), (x + 100, y)),
    )


def _person(conn: Connection, key: str, *, active: bool = True) -> int:
    return _id(
        conn,
        "INSERT INTO people (person_key, name, phone, active) VALUES (:k, :k, '13800000000', :a)",
        k=key,
        a=active,
    )


def _assign(
    conn: Connection,
    person: int,
    segment: int,
    *,
    role: str = "street_head",
    level: int | None = 3,
    ended: bool = False,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO assignments (person_id, target_type, target_id, role, level, "
            "valid_from, valid_to, assigned_by) VALUES (:p, 'segment', :t, :r, :l, "
            "now() - interval '10 days', CASE WHEN :e THEN now() ELSE NULL END, 'test')"
        ),
        {"p": person, "t": segment, "r": role, "l": level, "e": ended},
    )


def test_segments_and_lanes_without_heads(conn: Connection, district: dict[str, int]) -> None:
    so1, so2 = district["so1"], district["so2"]
    headed = _segment(conn, "S1", office=so1, y=10)
    bare = _segment(conn, "S2", office=so1, y=20)
    inactive = _segment(conn, "S3", office=so1, y=30)
    level2_only = _segment(conn, "S4", office=so1, y=40)
    ended = _segment(conn, "S5", office=so2, y=50)
    lane_ok = _segment(conn, "L1", kind="lane", office=so1, y=60)
    lane_bare = _segment(conn, "L2", kind="lane", office=so2, y=70)
    alice, bob, carol = (
        _person(conn, "alice"),
        _person(conn, "bob", active=False),
        _person(conn, "c"),
    )
    _assign(conn, alice, headed)
    _assign(conn, bob, inactive)
    _assign(conn, alice, level2_only, level=2)
    _assign(conn, alice, ended, ended=True)
    _assign(conn, carol, lane_ok, role="lane_head", level=None)
    _assign(conn, carol, headed, role="lane_head", level=None)  # a lane head is no street head

    gaps = q.heads_missing(conn, kind="street")
    assert list(gaps.columns[: len(GAP_COLUMNS) - 1]) == list(GAP_COLUMNS[:-1])
    got = dict(zip(gaps["object_id"], gaps["reason_code"], strict=True))
    assert got == {
        bare: "segment_no_head",
        inactive: "segment_head_inactive",
        level2_only: "segment_no_head",
        ended: "segment_no_head",
    }
    row = gaps.set_index("object_id").loc[bare]
    assert row["name"] == "路S2（甲路—乙路）"
    assert row["reason_zh"] == "路段没有三级街长"
    assert row.geometry.length == pytest.approx(100.0)
    assert gaps.crs.to_epsg() == 4548

    lanes = q.heads_missing(conn, kind="lane")
    assert lanes["object_id"].tolist() == [lane_bare]
    assert lanes["gap_type"].tolist() == ["lane_no_head"]
    only_so2 = q.heads_missing(conn, kind="street", street_office_ids=[so2])
    assert only_so2["object_id"].tolist() == [ended]
    with pytest.raises(DataError, match="kind must be"):
        q.heads_missing(conn, kind="road")


def _assign_between(
    conn: Connection, person: int, segment: int, start: str, end: str | None
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO assignments (person_id, target_type, target_id, role, level, "
            "valid_from, valid_to, assigned_by) VALUES (:p, 'segment', :t, 'street_head', 3, "
            "CAST(:f AS timestamptz), CAST(:e AS timestamptz), 'test')"
        ),
        {"p": person, "t": segment, "f": start, "e": end},
    )


def test_heads_are_judged_on_the_as_of_day(conn: Connection, district: dict[str, int]) -> None:
    """--as-of judges the assignments active on that day, not those active now: one
    ending later (even a future end date) still counts, one starting later does not."""
    so1 = district["so1"]
    ends_later = _segment(conn, "S1", office=so1, y=10)
    starts_later = _segment(conn, "S2", office=so1, y=20)
    ended_before = _segment(conn, "S3", office=so1, y=30)
    ends_that_night = _segment(conn, "S4", office=so1, y=40)
    head = _person(conn, "head")
    _assign_between(conn, head, ends_later, "2025-01-01 00:00+08", "2999-12-31 00:00+08")
    _assign_between(conn, head, starts_later, "2025-07-05 00:00+08", None)
    _assign_between(conn, head, ended_before, "2025-01-01 00:00+08", "2025-06-01 00:00+08")
    # 23:30 in Beijing is 15:30 UTC: still 30 June where the platform is used
    _assign_between(conn, head, ends_that_night, "2025-01-01 00:00+08", "2025-06-30 23:30+08")
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    on_day = q.heads_missing(conn, kind="street", as_of=TODAY)
    assert set(on_day["object_id"]) == {starts_later, ended_before, ends_that_night}
    gaps = q.coverage_gaps(
        conn, profile=load_bait_profile(), as_of=TODAY, layers=["segment_no_head"]
    )
    assert set(gaps["segment_no_head"]["object_id"]) == {
        starts_later,
        ended_before,
        ends_that_night,
    }
    # without --as-of: now (years later, the assignment starting in July 2025 is active)
    now = q.heads_missing(conn, kind="street")
    assert set(now["object_id"]) == {ended_before, ends_that_night}


def _cell(
    conn: Connection, code: str, *, community: int | None, body: str | None, x: float, **dates: str
) -> int:
    return _id(
        conn,
        "INSERT INTO grid_cells (code, community_id, responsible_body, valid_from, valid_to, geom) "
        "VALUES (:c, :com, :b, CAST(:f AS date), CAST(:t AS date), ST_GeomFromText(:g, 4548))",
        c=code,
        com=community,
        b=body,
        f=dates.get("valid_from"),
        t=dates.get("valid_to"),
        g=_mbox(x, 0, 100, 100),
    )


def test_cells_without_body(conn: Connection, district: dict[str, int]) -> None:
    com1, com2 = district["com1"], district["com2"]
    _cell(conn, "110101001001001", community=com1, body="东四街道办", x=0)
    fallback = _cell(conn, "110101001001002", community=com1, body=None, x=100)
    orphan = _cell(conn, "110101001001003", community=None, body="  ", x=200)
    _cell(conn, "110101001001004", community=com1, body=None, x=300, valid_to="2020-01-01")
    _cell(conn, "110101002001001", community=com2, body="", x=1000, valid_from="2030-01-01")
    gaps = q.cells_without_body(conn, as_of=TODAY)
    assert dict(zip(gaps["object_id"], gaps["reason_code"], strict=True)) == {
        orphan: "cell_no_body",
        fallback: "cell_community_fallback",
    }
    assert gaps.iloc[0]["object_id"] == orphan  # true gaps first
    assert gaps.set_index("object_id").loc[fallback, "street_office_id"] == district["so1"]
    assert q.cells_without_body(conn, as_of=TODAY, street_office_ids=[district["so2"]]).empty


def _problem(conn: Connection, case: str, x: float, *, status: str = "reported", day: str) -> int:
    return _id(
        conn,
        "INSERT INTO problems (case_no, category_code, source, status, reported_at, geom) "
        "VALUES (:c, '06010', 'patrol', :s, CAST(:d AS timestamptz), ST_GeomFromText(:g, 4548))",
        c=case,
        s=status,
        d=day,
        g=_pt(x, 50),
    )


def test_problems_outside_cells(conn: Connection, district: dict[str, int]) -> None:
    com1 = district["com1"]
    _cell(conn, "110101001001001", community=com1, body="x", x=0)
    _cell(conn, "110101001001002", community=com1, body="x", x=100, valid_to="2024-12-31")
    _problem(conn, "A1", 50, day="2025-03-01")  # in the first cell
    outside = _problem(conn, "A2", 500, day="2025-03-02")
    _problem(conn, "A3", 500, status="void", day="2025-03-03")  # voided: ignored
    after_end = _problem(conn, "A4", 150, day="2025-03-04")  # its cell ended in 2024
    _problem(conn, "A5", 150, day="2024-06-01")  # the same cell was in force then
    on_edge = _problem(conn, "A6", 100, day="2025-03-05")  # on the shared edge: inside
    gaps = q.problems_outside_cells(conn)
    assert gaps["object_id"].tolist() == [after_end, outside]  # newest first
    assert on_edge not in set(gaps["object_id"])
    assert gaps.attrs["total"] == 2
    assert set(gaps["reason_en"]) == {"the problem lies outside every unit grid cell"}
    limited = q.problems_outside_cells(conn, limit=1)
    assert len(limited) == 1 and limited.attrs["total"] == 2
    since = q.problems_outside_cells(conn, since=dt.date(2025, 3, 3))
    assert since["object_id"].tolist() == [after_end]


def test_report_dates_are_counted_in_the_deployments_time_zone(
    conn: Connection, district: dict[str, int]
) -> None:
    """A problem reported at 03:00 in Beijing on the day a cell comes into force is
    inside it, on a server whose sessions run in UTC (where it is still the day before)."""
    com1 = district["com1"]
    cell = _cell(conn, "110101001001001", community=com1, body="x", x=0, valid_from="2025-01-01")
    early = _problem(conn, "A1", 50, day="2025-01-01 03:00+08")
    conn.execute(sa.text("UPDATE problems SET cell_id = :c WHERE id = :p"), {"c": cell, "p": early})
    late = _problem(conn, "A2", 50, day="2024-12-31 23:00+08")  # the day before: outside
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    assert q.problems_outside_cells(conn)["object_id"].tolist() == [late]
    assert q.problems_outside_cells(conn, recheck=True)["object_id"].tolist() == [late]
    # a date bound starts at midnight in Beijing, not at midnight on the server
    assert q.problems_outside_cells(conn, until=dt.date(2025, 1, 1))["object_id"].tolist() == [late]


def test_today_is_the_deployments_date(
    conn: Connection, district: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --as-of, cells and inspections are judged on today in CITYGRID_TIMEZONE."""
    from citygrid import clock

    beijing = dt.datetime(2025, 3, 1, 2, 0, tzinfo=clock.zone())  # 28 Feb, 18:00 UTC
    monkeypatch.setattr(clock, "now", lambda: beijing)
    one_day = _cell(
        conn,
        "110101001001001",
        community=district["com1"],
        body=None,
        x=0,
        valid_from="2025-03-01",
        valid_to="2025-03-01",
    )
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    assert q.cells_without_body(conn)["object_id"].tolist() == [one_day]
    _station(conn, "B1", 10, 10, last="2025-01-30")  # 30 days before 1 March: in time
    late = _station(conn, "B2", 20, 10, last="2025-01-29")
    assert q.station_faults(conn, max_age_days=30)["object_id"].tolist() == [late]


def test_problems_outside_cells_trusts_stored_cells_unless_rechecked(
    conn: Connection, district: dict[str, int]
) -> None:
    com1 = district["com1"]
    cell = _cell(conn, "110101001001001", community=com1, body="x", x=0)
    ended = _cell(conn, "110101001001002", community=com1, body="x", x=800, valid_to="2024-12-31")
    stale = _problem(conn, "A1", 500, day="2025-03-01")  # stored in a cell that is elsewhere
    lapsed = _problem(conn, "A2", 600, day="2025-03-02")  # stored cell no longer in force
    conn.execute(sa.text("UPDATE problems SET cell_id = :c WHERE id = :p"), {"c": cell, "p": stale})
    conn.execute(
        sa.text("UPDATE problems SET cell_id = :c WHERE id = :p"), {"c": ended, "p": lapsed}
    )
    assert q.problems_outside_cells(conn)["object_id"].tolist() == [lapsed]
    assert q.problems_outside_cells(conn, recheck=True)["object_id"].tolist() == [lapsed, stale]


def _station(
    conn: Connection, code: str, x: float, y: float, *, state: str = "intact", last: str | None
) -> int:
    return _id(
        conn,
        "INSERT INTO bait_stations (code, state, last_inspected, geom) "
        "VALUES (:c, :s, CAST(:d AS date), ST_GeomFromText(:g, 4548))",
        c=code,
        s=state,
        d=last,
        g=_pt(x, y),
    )


def test_station_faults(conn: Connection, district: dict[str, int]) -> None:
    _station(conn, "B1", 10, 10, last="2025-06-20")
    never = _station(conn, "B2", 20, 10, last=None)
    overdue = _station(conn, "B3", 30, 10, last="2025-05-01")
    damaged = _station(conn, "B4", 40, 10, state="damaged", last="2025-06-29")
    missing = _station(conn, "B5", 1500, 10, state="missing", last=None)
    edge = _station(conn, "B6", 50, 10, last="2025-05-31")  # exactly 30 days: in time
    gaps = q.station_faults(conn, max_age_days=30, as_of=TODAY)
    got = dict(zip(gaps["object_id"], gaps["reason_code"], strict=True))
    assert got == {
        never: "station_never_inspected",
        overdue: "station_overdue",
        damaged: "station_damaged",
        missing: "station_missing",
    }
    assert edge not in got
    row = gaps.set_index("object_id").loc[overdue]
    assert row["reason_en"] == ("the station was not inspected for over 30 days (last 2025-05-01)")
    assert row["street_office_id"] == district["so1"]
    so2 = q.station_faults(conn, max_age_days=30, as_of=TODAY, street_office_ids=[district["so2"]])
    assert so2["object_id"].tolist() == [missing]
    with pytest.raises(DataError, match="max_age_days"):
        q.station_faults(conn, max_age_days=0)


def _market(conn: Connection, code: str, wkt: str, *, office: int, kind: str | None) -> int:
    return _id(
        conn,
        "INSERT INTO markets (code, name, kind, street_office_id, geom) "
        "VALUES (:c, :n, :k, :so, ST_GeomFromText(:g, 4548))",
        c=code,
        n=f"市场{code}",
        k=kind,
        so=office,
        g=wkt,
    )


def _premises(conn: Connection, code: str, kind: str, wkt: str, *, office: int) -> int:
    return _id(
        conn,
        "INSERT INTO premises (code, name, kind, street_office_id, geom) "
        "VALUES (:c, :n, :k, :so, ST_GeomFromText(:g, 4548))",
        c=code,
        n=f"场所{code}",
        k=kind,
        so=office,
        g=wkt,
    )


@pytest.fixture
def bait_district(conn: Connection, district: dict[str, int]) -> dict[str, int]:
    """Markets, premises and stations with known outcomes (see the comments)."""
    return _make_bait(conn, district)


def _make_bait(conn: Connection, district: dict[str, int]) -> dict[str, int]:
    so1, so2 = district["so1"], district["so2"]
    ids = dict(district)
    # a 40 m x 40 m market with 8 stations every 20 m: passes
    ids["m_ok"] = _market(conn, "M1", _box(0, 0, 40, 40), office=so1, kind=None)
    for i, (x, y) in enumerate([(0, 0), (20, 0), (40, 0), (40, 20), (40, 40), (20, 40), (0, 40)]):
        _station(conn, f"M1-{i}", x, y, last="2025-06-20")
    ids["m_damaged"] = _station(conn, "M1-7", 0, 20, state="damaged", last="2025-06-20")
    # a restaurant (point, nominal 150 m2) with no station; a toilet with one
    ids["c_bare"] = _premises(conn, "C1", "餐饮", _pt(300, 300), office=so1)
    ids["t_ok"] = _premises(conn, "T1", "公厕", _pt(500, 500), office=so1)
    _station(conn, "T1-0", 505, 500, last="2025-06-20")
    # a shop (no rule) and, in the other office, a market next to a kindergarten
    _premises(conn, "S1", "shop", _box(600, 600, 10, 10), office=so1)
    ids["m_school"] = _market(conn, "M2", _box(1200, 0, 40, 40), office=so2, kind="农贸市场")
    _premises(conn, "K1", "幼儿园", _pt(1220, 90), office=so2)
    ids["s_in_zone"] = _station(conn, "K-0", 1220, 120, last="2025-06-20")
    return ids


def test_bait_evaluation_from_database(conn: Connection, bait_district: dict[str, int]) -> None:
    ids = bait_district
    ev = q.bait_evaluation(conn, profile=load_bait_profile(), as_of=TODAY)
    p = ev.premises.set_index("code")
    assert "S1" not in p.index  # kinds without a rule are not even loaded
    assert p.loc["M1", ["rule_id", "status", "required", "counted"]].tolist() == [
        "market",
        "short",
        8,
        7,
    ]
    assert p.loc["M1", "uncovered_m"] == pytest.approx(20.0)
    assert p.loc["C1", ["rule_id", "status", "required", "counted"]].tolist() == [
        "catering",
        "short",
        3,
        0,
    ]
    assert p.loc["T1", ["status", "counted"]].tolist() == ["ok", 1]
    # the kindergarten 50 m north of M2 excludes all of its outline: 100 m zone
    assert p.loc["M2", "status"] == "exempt"
    assert ids["s_in_zone"] in set(ev.stations.loc[ev.stations["exclusion_id"].notna(), "id"])

    gaps = q.coverage_gaps(
        conn,
        profile=load_bait_profile(),
        as_of=TODAY,
        layers=["premises_bait", "station_misplaced"],
    )
    bait = gaps["premises_bait"]
    assert sorted(bait["object_code"]) == ["C1", "M1"]
    m1 = bait.set_index("object_code").loc["M1"]
    assert m1["object_type"] == "market" and m1["object_id"] == ids["m_ok"]
    assert m1["reason_zh"] == "周边毒饵站不足：按20米间距应设8个，有效7个，20米未覆盖"
    assert gaps["station_misplaced"]["object_id"].tolist() == [ids["s_in_zone"]]

    so2 = q.bait_evaluation(
        conn, profile=load_bait_profile(), as_of=TODAY, street_office_ids=[ids["so2"]]
    )
    assert so2.premises["code"].tolist() == ["M2"]
    assert so2.premises["status"].tolist() == ["exempt"]  # zone found near the office's premises


def test_coverage_gaps_all_layers(conn: Connection, bait_district: dict[str, int]) -> None:
    gaps = q.coverage_gaps(conn, profile=load_bait_profile(), as_of=TODAY)
    assert list(gaps) == [
        "segment_no_head",
        "lane_no_head",
        "cell_no_body",
        "problem_outside_cells",
        "premises_bait",
        "station_fault",
        "station_misplaced",
    ]
    assert gaps["station_fault"]["reason_code"].tolist() == ["station_damaged"]
    for layer in gaps.values():
        assert list(layer.columns[:9]) == list(GAP_COLUMNS[:9])
    with pytest.raises(DataError, match="unknown gap layer"):
        q.coverage_gaps(conn, profile=load_bait_profile(), layers=["nope"])


def test_record_export_checks_permission_and_audits(
    conn: Connection, district: dict[str, int]
) -> None:
    audit_id = q.record_export(
        conn, SYSTEM, what="coverage gaps", file_name="gaps.xlsx", counts={"lane_no_head": 2}
    )
    row = conn.execute(
        sa.text("SELECT actor, action, detail FROM audit_log WHERE id = :i"), {"i": audit_id}
    ).one()
    assert row.actor == "system" and row.action == "export"
    assert row.detail["counts"] == {"lane_no_head": 2}
    viewer = Actor(username="v", role="viewer")
    with pytest.raises(PermissionDeniedError):
        q.record_export(conn, viewer, what="gaps", file_name="x.xlsx", counts={})
    local = Actor(username="p", role="planner", street_office_ids=frozenset({district["so1"]}))
    q.record_export(
        conn, local, what="gaps", file_name="x.xlsx", counts={}, street_office_ids=[district["so1"]]
    )
    with pytest.raises(PermissionDeniedError):
        q.record_export(conn, local, what="gaps", file_name="x.xlsx", counts={})


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def committed_district(clean_db: sa.Engine) -> Iterator[sa.Engine]:
    """The bait district and one unheaded segment, committed (the CLI opens its own connection)."""
    from db.engine import get_engine

    with clean_db.begin() as c:
        ids = _make_bait(c, _make_district(c))
        _segment(c, "S2", office=ids["so1"], y=20)
    yield clean_db
    get_engine().dispose()  # the CLI's process-wide engine: close its pooled connections


def test_cli_gaps_and_sites_with_exports(committed_district: sa.Engine, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from citygrid.cli import cli

    runner = CliRunner(env={"COLUMNS": "200"})  # rich wraps tables at the terminal width
    xlsx = tmp_path / "gaps.xlsx"
    out = runner.invoke(
        cli,
        ["coverage", "gaps", "--as-of", "2025-06-30", "--lang", "en", "--export", str(xlsx)],
    )
    assert out.exit_code == 0, out.output
    assert "road segments without a level-3 street head" in out.output
    assert "outline short of stations 2" in out.output
    wb = load_workbook(xlsx)
    assert wb.sheetnames[0] == "汇总 summary"
    sheet = wb["premises_bait"]
    assert sheet["A1"].value == "gap type" and sheet.max_row == 3
    assert [c.value for c in wb["汇总 summary"]["B"]][1:] == [1, 0, 0, 0, 2, 1, 1]

    gpkg = tmp_path / "sites.gpkg"
    out = runner.invoke(
        cli,
        [
            "coverage",
            "sites",
            "--street-office",
            "110101001",
            "--export",
            str(gpkg),
            "--lang",
            "zh",
        ],
    )
    assert out.exit_code == 0, out.output
    # M1 lacks one 20 m stretch (1 station), C1 needs 3: 4 new stations, proven optimal
    assert out.output.startswith("建议新增毒饵站 4 个（已证明最优")
    import pyogrio

    layers = dict(pyogrio.list_layers(gpkg).tolist())
    assert set(layers) == {"suggested_sites", "premises_bait", "uncovered_outline", "uncoverable"}
    sites = pyogrio.read_dataframe(gpkg, layer="suggested_sites")
    assert len(sites) == 4 and sites.crs.to_epsg() == 4548
    assert sorted(sites["serves"]) == ["C1", "C1", "C1", "M1"]
    with committed_district.connect() as c:
        actions = c.execute(
            sa.text("SELECT entity_id FROM audit_log WHERE action = 'export' ORDER BY id")
        ).scalars()
        assert list(actions) == ["coverage gaps", "bait station sites"]


def test_cli_errors_and_profile(
    committed_district: sa.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from citygrid.cli import main

    assert main(["coverage", "gaps", "--street-office", "东华门"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no street office '东华门'; give a 9-digit code or a name")
    assert "110101001 area 110101001" in err
    assert main(["coverage", "gaps", "--export", str(tmp_path / "gaps.csv")]) == 1
    assert "name a .xlsx (Excel) or .gpkg (GeoPackage) file" in capsys.readouterr().err

    copy = tmp_path / "city.toml"
    assert main(["coverage", "profile", "--write", str(copy)]) == 0
    copy.write_text(copy.read_text(encoding="utf-8").replace("spacing_m = 30.0", "spacing_m = 0"))
    assert main(["coverage", "profile", "--check", str(copy)]) == 1
    assert "rules[3].spacing_m: must be greater than 0, got 0" in capsys.readouterr().err
    assert main(["coverage", "sites", "--profile", str(copy)]) == 1


# --- the city's profile by default ------------------------------------------------------------


@pytest.fixture
def city_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """CITYGRID_BAIT_PROFILE names a copy of the default with markets every 10 m."""
    from citygrid.settings import get_settings
    from gis.profiles import DEFAULT_BAIT_PROFILE

    text = DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8")
    path = tmp_path / "city.toml"
    path.write_text(
        text.replace("spacing_m = 20.0          # [A] 室外间隔20米一个", "spacing_m = 10.0", 1),
        encoding="utf-8",
    )
    monkeypatch.setenv("CITYGRID_BAIT_PROFILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_the_citys_profile_is_used_by_default(
    conn: Connection, bait_district: dict[str, int], city_profile: Path
) -> None:
    assert q.default_profile().source == str(city_profile)
    ev = q.bait_evaluation(conn, as_of=TODAY)
    # the 40 m square market now needs 16 stations; 7 work
    m1 = ev.premises.set_index("code").loc["M1"]
    assert (m1["status"], m1["required"], m1["counted"]) == ("short", 16, 7)
    gaps = q.coverage_gaps(conn, as_of=TODAY, layers=["premises_bait"])["premises_bait"]
    assert "按10米间距应设16个" in gaps.set_index("object_code").loc["M1", "reason_zh"]
    # an explicit profile still wins
    shipped = q.bait_evaluation(conn, profile=load_bait_profile(), as_of=TODAY)
    assert shipped.premises.set_index("code").loc["M1", "required"] == 8


def test_a_missing_city_profile_is_named_with_its_setting(
    conn: Connection, city_profile: Path
) -> None:
    from citygrid.settings import get_settings
    from gis.errors import ConfigError

    get_settings()  # read while the file was there: the query names the setting
    city_profile.unlink()
    with pytest.raises(
        DataError, match=r"CITYGRID_BAIT_PROFILE: bait-station profile .* not found"
    ):
        q.bait_evaluation(conn, as_of=TODAY)
    get_settings.cache_clear()  # read afresh: the settings themselves refuse it
    with pytest.raises(ConfigError, match=r"CITYGRID_BAIT_PROFILE=.* is not a file"):
        q.bait_evaluation(conn, as_of=TODAY)


def test_cli_uses_the_citys_profile(
    committed_district: sa.Engine, city_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from citygrid.cli import coverage_cmd, main

    assert main(["coverage", "profile"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"profile {city_profile}:")
    assert "rule market (" in out and "a station every 10 m of outline" in out
    assert main(["coverage", "sites", "--street-office", "110101001", "--lang", "en"]) == 0
    # at 10 m each of M1's 7 working stations covers 10 m of its 160 m: 90 m need 9 more;
    # C1 needs 3 as before (4 with the shipped profile)
    assert capsys.readouterr().out.startswith("12 new bait stations (proven optimal")
    assert coverage_cmd.PROBLEM_LIMIT == q.PROBLEM_LIMIT


# --- the fast path gives the first version's answers on the demo district ---------------------


def _frame_reference(conn: Connection, sql: str, params: dict[str, object]) -> gpd.GeoDataFrame:
    """The first version: SQLAlchemy rows handed to pandas."""
    result = conn.execute(sa.text(sql), params)
    frame = pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()))
    wkb = frame.pop("geom").to_numpy(dtype=object)
    geoms = shapely.from_wkb([bytes(g) for g in wkb]) if len(wkb) else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=q.CRS), crs=q.CRS)


def _covered_reference(geoms: np.ndarray, zones: gpd.GeoDataFrame) -> np.ndarray:
    """The first version: one union of every zone of the district, then the test."""
    union = shapely.union_all(np.asarray(zones.geometry.values, dtype=object))
    return np.asarray(shapely.covered_by(geoms, union), dtype=bool)


def _reasons_reference(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The first version: ``str.format`` row by row."""
    rows = frame.to_dict("records")
    return tuple(  # type: ignore[return-value]
        pd.Series(
            [REASONS[r["reason_code"]][lang].format(**r) for r in rows],
            index=frame.index,
            dtype=object,
        )
        for lang in (0, 1)
    )


def test_demo_district_gaps_match_the_first_version(
    clean_db: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gis.bait
    import gis.coverage
    from etl.demo import ensure_demo
    from etl.demo.loading import load_demo

    folder = ensure_demo("tests", root=tmp_path)
    load_demo(clean_db, folder, work_dir=tmp_path / "work")
    profile = load_bait_profile()
    with clean_db.connect() as conn:
        fast_ev = q.bait_evaluation(conn, profile=profile, as_of=TODAY)
        fast = q.coverage_gaps(conn, profile=profile, as_of=TODAY)
        with monkeypatch.context() as m:
            m.setattr(q, "_frame", _frame_reference)
            m.setattr(gis.bait, "_covered_by_zones", _covered_reference)
            m.setattr(gis.coverage, "reason_texts", _reasons_reference)
            first_ev = q.bait_evaluation(conn, profile=profile, as_of=TODAY)
            first = q.coverage_gaps(conn, profile=profile, as_of=TODAY)
    status = fast_ev.premises["status"].value_counts()
    # a district with something to find in every bait layer (most premises meet the rule)
    assert status["short"] > 30 and status["ok"] > status["short"] and status["exempt"] > 10
    assert len(fast_ev.demand) > 2_000
    for name in ("premises", "demand", "stations", "zones"):
        assert_geodataframe_equal(getattr(fast_ev, name), getattr(first_ev, name))
    assert list(fast) == list(first)
    for key in fast:
        assert_geodataframe_equal(fast[key], first[key])
        assert fast[key].attrs == first[key].attrs
    assert len(fast["premises_bait"]) == status["short"]
    assert len(fast["station_misplaced"]) > 0 and len(fast["segment_no_head"]) > 0
