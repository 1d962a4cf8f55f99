"""Today is the deployment's date (CITYGRID_TIMEZONE), not the machine's nor the server's.

From 00:00 to 08:00 in Beijing it is still yesterday in UTC: each test fixes the clock
at 02:00 on 1 March in Beijing (18:00 on 28 February in UTC) and runs the database
session in UTC, so any reading of the server's or the machine's date shows.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import box
from sqlalchemy.engine import Connection

from citygrid import clock
from gis.bait import evaluate_bait_coverage
from gis.errors import DataError
from gis.profiles import DEFAULT_BAIT_PROFILE, parse_bait_profile

X0, Y0 = 449_000.0, 4_420_000.0


@pytest.fixture
def beijing_small_hours(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    moment = dt.datetime(2025, 3, 1, 2, 0, tzinfo=clock.zone())
    monkeypatch.setattr(clock, "now", lambda: moment)
    return moment


def test_day_bounds_are_in_the_deployment_zone() -> None:
    start = clock.day_start(dt.date(2025, 3, 1))
    assert start.utcoffset() == clock.zone().utcoffset(dt.datetime(2025, 3, 1))
    assert (start.hour, start.minute) == (0, 0)
    assert clock.day_end(dt.date(2025, 3, 1)) - start == dt.timedelta(days=1)


def test_today_follows_the_clock(beijing_small_hours: dt.datetime) -> None:
    assert clock.today() == dt.date(2025, 3, 1)


def test_analyse_periods_end_at_the_local_month_start(beijing_small_hours: dt.datetime) -> None:
    from citygrid.cli.analyse_cmd import _period

    assert _period(None, None, months=1) == (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    assert _period(None, None, months=3) == (dt.date(2024, 12, 1), dt.date(2025, 3, 1))


def test_bait_inspections_need_the_day_to_be_judged_on() -> None:
    """The pure core does not guess today: a profile that drops overdue stations asks."""
    strict = parse_bait_profile(
        DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8").replace(
            "overdue_stations_count = true", "overdue_stations_count = false"
        )
    )
    market = gpd.GeoDataFrame({"kind": ["market"]}, geometry=[box(0, 0, 40, 40)], crs=4548)
    stations = gpd.GeoDataFrame(
        {"state": ["intact"], "last_inspected": [dt.date(2025, 1, 1)]},
        geometry=gpd.points_from_xy([0.0], [0.0]),
        crs=4548,
    )
    with pytest.raises(DataError, match="as_of"):
        evaluate_bait_coverage(market, stations, profile=strict)
    judged = evaluate_bait_coverage(market, stations, profile=strict, as_of=dt.date(2025, 1, 5))
    assert judged.premises["counted"].tolist() == [1]


@pytest.mark.db
def test_assignment_state_uses_the_local_date(
    conn: Connection, beijing_small_hours: dt.datetime
) -> None:
    """Cells in force today and problems of the last 365 days, both by the local date."""
    from db.queries.assignment_state import load_state

    def one(sql: str, **params: object) -> int:
        return int(conn.execute(sa.text(sql + " RETURNING id"), params).scalar_one())

    office = one(
        "INSERT INTO admin_areas (code, name, level) VALUES ('110101001000', '东华门', "
        "'street_office')"
    )
    seg = one(
        "INSERT INTO road_segments (code, road_name, kind, street_office_id, geom) VALUES "
        "('s1', '东四北大街', 'street', :so, ST_GeomFromText(:g, 4548))",
        so=office,
        g=f"MULTILINESTRING(({X0} {Y0}, {X0 + 100} {Y0}))",
    )
    cell = one(
        "INSERT INTO grid_cells (code, valid_from, valid_to, geom) VALUES "
        "('110101001001001', '2025-03-01', '2025-03-01', ST_GeomFromText(:g, 4548))",
        g=f"MULTIPOLYGON((({X0} {Y0}, {X0 + 100} {Y0}, {X0 + 100} {Y0 + 100}, {X0} {Y0})))",
    )
    # 365 days before 1 March 2025 is 1 March 2024: the first problem is of that day
    # in Beijing (29 February in UTC), the second of the day before
    for case, at in (("A1", "2024-03-01 01:00+08"), ("A2", "2024-02-29 23:00+08")):
        conn.execute(
            sa.text(
                "INSERT INTO problems (case_no, category_code, source, status, reported_at, "
                "segment_id, geom) VALUES (:c, '06010', 'patrol', 'reported', "
                "CAST(:at AS timestamptz), :s, ST_GeomFromText(:g, 4548))"
            ),
            {"c": case, "at": at, "s": seg, "g": f"POINT({X0 + 50} {Y0})"},
        )
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    state = load_state(conn)
    assert state.cells.index.tolist() == [cell]
    assert state.segments.loc[seg, "problems"] == 1
