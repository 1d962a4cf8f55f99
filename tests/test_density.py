"""Density: counts and rates from PostGIS against counts computed here in Python."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.queries.density import comparison_periods, density, resolve_street_offices
from gis.errors import DataError

pytestmark = pytest.mark.db

TZ = ZoneInfo("Asia/Shanghai")
X0, Y0 = 500_000.0, 4_420_000.0
START = dt.datetime(2024, 3, 1, tzinfo=TZ)
END = dt.datetime(2024, 4, 1, tzinfo=TZ)


@dataclass(frozen=True)
class Problem:
    cell_id: int | None
    segment_id: int | None
    community_id: int | None
    street_office_id: int | None
    category: str
    source: str
    status: str
    reported_at: dt.datetime


@dataclass(frozen=True)
class Tiny:
    problems: list[Problem]
    cell_community: dict[int, int]
    community_office: dict[int, int]
    segment_office: dict[int, int]


def _box(x: float, y: float, size: float = 100.0) -> str:
    x0, y0 = X0 + x * size, Y0 + y * size
    x1, y1 = x0 + size, y0 + size
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def insert_admin_and_cells(conn: Connection, *, nx: int = 3, ny: int = 2) -> dict[int, int]:
    """Two street offices, three communities, an ``nx`` x ``ny`` block of 100 m cells.

    Returns cell id -> community id. Cell ids are 1..nx*ny, row by row; cell 99 is
    retired (valid until 2020).
    """
    admin = [
        (1, "110101000000", "东城区", "district", None, None, _box(0, 0, 1000)),
        (
            10,
            "110101001000",
            "东华门街道",
            "street_office",
            "110101000000",
            50_000,
            _box(0, 0, 300),
        ),
        (20, "110101002000", "景山街道", "street_office", "110101000000", None, _box(3, 0, 300)),
        (11, "110101001001", "多福巷社区", "community", "110101001000", 8_000, _box(0, 0, 200)),
        (12, "110101001002", "银闸社区", "community", "110101001000", None, _box(1, 0, 200)),
        (21, "110101002001", "吉祥社区", "community", "110101002000", 4_000, _box(1, 1, 200)),
    ]
    conn.execute(
        sa.text(
            "INSERT INTO admin_areas (id, code, name, level, parent_code, population, geom) "
            "VALUES (:id, :code, :name, :level, :parent, :pop, ST_GeomFromText(:wkt, 4548))"
        ),
        [
            {"id": i, "code": c, "name": n, "level": lv, "parent": p, "pop": pop, "wkt": w}
            for i, c, n, lv, p, pop, w in admin
        ],
    )
    communities = [11, 12, 21]
    cells = []
    cell_community: dict[int, int] = {}
    for k in range(nx * ny):
        x, y = k % nx, k // nx
        cid = k + 1
        com = communities[min(x * len(communities) // nx, len(communities) - 1)]
        cell_community[cid] = com
        area = None if cid == 2 else 10_000.0  # one cell relies on ST_Area
        cells.append(
            {
                "id": cid,
                "code": f"11010100100{cid:04d}",
                "com": com,
                "area": area,
                "wkt": _box(x, y),
                "to": None,
            }
        )
    cells.append(
        {
            "id": 99,
            "code": "110101001009999",
            "com": 11,
            "area": 10_000.0,
            "wkt": _box(9, 9),
            "to": dt.date(2020, 1, 1),
        }
    )
    conn.execute(
        sa.text(
            "INSERT INTO grid_cells (id, code, community_id, area_m2, valid_to, geom) "
            "VALUES (:id, :code, :com, :area, :to, ST_GeomFromText(:wkt, 4548))"
        ),
        cells,
    )
    return cell_community


def insert_segments(conn: Connection) -> dict[int, int]:
    """Three segments of a road along y = Y0 (500 m, 250 m, and 200 m with no stored length)."""
    rows = [
        (1, "S1", "东四北大街", "东四十条", "张自忠路", 10, 500.0, (0, 500)),
        (2, "S2", "东四北大街", "张自忠路", "北新桥", 10, 250.0, (500, 750)),
        (3, "S3", "景山前街", None, None, 20, None, (750, 950)),
    ]
    conn.execute(
        sa.text(
            "INSERT INTO road_segments (id, code, road_name, from_name, to_name, street_office_id, "
            "length_m, geom) VALUES (:id, :code, :road, :f, :t, :so, :len, "
            "ST_Multi(ST_GeomFromText(:wkt, 4548)))"
        ),
        [
            {
                "id": i,
                "code": c,
                "road": r,
                "f": f,
                "t": t,
                "so": so,
                "len": length,
                "wkt": f"LINESTRING({X0 + a} {Y0}, {X0 + b} {Y0})",
            }
            for i, c, r, f, t, so, length, (a, b) in rows
        ],
    )
    return {1: 10, 2: 10, 3: 20}


def insert_categories(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO problem_categories (code, name, major_code, major_name, patrol_category) "
            "VALUES (:c, :n, :m, :mn, :p)"
        ),
        [
            {"c": "06010", "n": "暴露垃圾", "m": "06", "mn": "市容环境", "p": 1},
            {"c": "07001", "n": "非法小广告", "m": "07", "mn": "宣传广告", "p": 2},
            {"c": "09005", "n": "店外经营", "m": "09", "mn": "街面秩序", "p": 3},
        ],
    )


def insert_problems(conn: Connection, problems: list[Problem], *, prefix: str = "T") -> None:
    conn.execute(
        sa.text(
            "INSERT INTO problems (case_no, category_code, source, status, reported_at, cell_id, "
            "community_id, street_office_id, segment_id, geom) VALUES (:case, :cat, :src, "
            ":status, :at, :cell, :com, :so, :seg, ST_SetSRID(ST_MakePoint(:x, :y), 4548))"
        ),
        [
            {
                "case": f"{prefix}{k:06d}",
                "cat": p.category,
                "src": p.source,
                "status": p.status,
                "at": p.reported_at,
                "cell": p.cell_id,
                "com": p.community_id,
                "so": p.street_office_id,
                "seg": p.segment_id,
                "x": X0 + 10,
                "y": Y0 + 10,
            }
            for k, p in enumerate(problems)
        ],
    )


def random_problems(
    cell_community: dict[int, int],
    community_office: dict[int, int],
    *,
    n: int,
    seed: int,
    first: dt.datetime,
    days: int,
    segments: tuple[int, ...] = (1, 2, 3),
) -> list[Problem]:
    rng = random.Random(seed)
    cells: list[int | None] = [*cell_community, None]
    out = []
    for _ in range(n):
        cell = rng.choice(cells)
        com = cell_community[cell] if cell is not None else None
        office = community_office[com] if com is not None else rng.choice([10, None])
        out.append(
            Problem(
                cell_id=cell,
                segment_id=rng.choice([*segments, None]),
                community_id=com,
                street_office_id=office,
                category=rng.choice(["06010", "07001", "09005"]),
                source=rng.choice(["patrol", "patrol", "12345", "photo"]),
                status=rng.choice(["closed"] * 8 + ["reported", "void"]),
                reported_at=first + dt.timedelta(minutes=rng.randrange(days * 24 * 60)),
            )
        )
    return out


@pytest.fixture
def tiny(conn: Connection) -> Tiny:
    cell_community = insert_admin_and_cells(conn)
    segment_office = insert_segments(conn)
    insert_categories(conn)
    community_office = {11: 10, 12: 10, 21: 20}
    problems = random_problems(
        cell_community,
        community_office,
        n=600,
        seed=5,
        first=dt.datetime(2023, 1, 1, tzinfo=TZ),
        days=480,
    )
    insert_problems(conn, problems)
    return Tiny(problems, cell_community, community_office, segment_office)


def expected(
    problems: list[Problem],
    key: Callable[[Problem], object],
    *,
    start: dt.datetime = START,
    end: dt.datetime = END,
    keep: Callable[[Problem], bool] = lambda p: p.status != "void",
) -> Counter[object]:
    return Counter(key(p) for p in problems if keep(p) and start <= p.reported_at < end)


def test_cell_counts_match_python_for_all_three_periods(conn: Connection, tiny: Tiny) -> None:
    out = density(conn, unit="cell", start=START, end=END)
    periods = comparison_periods(START, END)
    assert sorted(out.index) == [1, 2, 3, 4, 5, 6]  # every live cell, the retired one left out
    for column, (s, e) in {
        "n": (START, END),
        "n_previous": (periods.previous_start, START),
        "n_last_year": (periods.last_year_start, periods.last_year_end),
    }.items():
        want = expected(tiny.problems, lambda p: p.cell_id, start=s, end=e)
        assert out[column].to_dict() == {c: want.get(c, 0) for c in range(1, 7)}, column
        assert out.attrs["unplaced"][column] == want.get(None, 0)
    assert out["n"].sum() > 0
    row = out.loc[1]
    assert row["change_previous"] == row["n"] - row["n_previous"]
    assert row["per_km2"] == pytest.approx(row["n"] / 0.01)
    assert out.loc[2, "area_km2"] == pytest.approx(0.01)  # from the geometry
    assert out.loc[1, "community"] == "多福巷社区"
    assert out.loc[1, "street_office"] == "东华门街道"
    assert out["population"].isna().all()


def test_segments_rates_per_km_of_road(conn: Connection, tiny: Tiny) -> None:
    out = density(conn, unit="segment", start=START, end=END)
    want = expected(tiny.problems, lambda p: p.segment_id)
    assert out["n"].to_dict() == {s: want.get(s, 0) for s in (1, 2, 3)}
    assert out.loc[1, "per_km"] == pytest.approx(want[1] / 0.5)
    assert out.loc[3, "length_km"] == pytest.approx(0.2)  # length from the geometry
    assert out.loc[1, "name"] == "东四北大街（东四十条—张自忠路）"
    assert out.loc[3, "name"] == "景山前街"
    assert out.loc[3, "street_office"] == "景山街道"


def test_communities_and_street_offices_per_resident_and_area(conn: Connection, tiny: Tiny) -> None:
    com = density(conn, unit="community", start=START, end=END)
    want = expected(tiny.problems, lambda p: p.community_id)
    assert com["n"].to_dict() == {c: want.get(c, 0) for c in (11, 12, 21)}
    assert com.loc[11, "per_1000"] == pytest.approx(want[11] / 8_000 * 1000)
    assert pd.isna(com.loc[12, "per_1000"])  # population not loaded
    assert com.loc[21, "area_km2"] == pytest.approx(0.04)
    assert com.loc[21, "per_km2"] == pytest.approx(want[21] / 0.04)
    offices = density(conn, unit="street_office", start=START, end=END)
    want_so = expected(tiny.problems, lambda p: p.street_office_id)
    assert offices["n"].to_dict() == {10: want_so.get(10, 0), 20: want_so.get(20, 0)}
    assert offices.loc[10, "per_1000"] == pytest.approx(want_so[10] / 50)
    assert offices.attrs["unplaced"]["n"] == want_so.get(None, 0)


@pytest.mark.parametrize(
    ("kwargs", "keep"),
    [
        ({"categories": ["06"]}, lambda p: p.category == "06010"),
        ({"categories": ["09005", "07"]}, lambda p: p.category in {"09005", "07001"}),
        ({"patrol_categories": [3]}, lambda p: p.category == "09005"),
        ({"sources": ["12345"]}, lambda p: p.source == "12345"),
        ({"include_void": True, "sources": ["photo"]}, lambda p: p.source == "photo"),
    ],
)
def test_filters(
    conn: Connection, tiny: Tiny, kwargs: dict[str, object], keep: Callable[[Problem], bool]
) -> None:
    out = density(conn, unit="cell", start=START, end=END, **kwargs)  # type: ignore[arg-type]
    void_ok = kwargs.get("include_void", False)
    want = expected(
        tiny.problems,
        lambda p: p.cell_id,
        keep=lambda p: keep(p) and (void_ok or p.status != "void"),
    )
    assert out["n"].to_dict() == {c: want.get(c, 0) for c in range(1, 7)}


def test_breakdown_by_source_and_patrol_category(conn: Connection, tiny: Tiny) -> None:
    out = density(conn, unit="street_office", start=START, end=END, by="source")
    want = expected(tiny.problems, lambda p: (p.street_office_id, p.source))
    got = {(int(i), g): int(n) for i, g, n in zip(out.index, out["group"], out["n"], strict=True)}
    # rows also exist where only the earlier periods had problems (n = 0)
    assert {k: v for k, v in got.items() if v} == {
        k: v for k, v in want.items() if k[0] is not None
    }
    out = density(conn, unit="community", start=START, end=END, by="patrol_category")
    cat_patrol = {"06010": 1, "07001": 2, "09005": 3}
    want = expected(tiny.problems, lambda p: (p.community_id, cat_patrol[p.category]))
    got = {
        (int(i), int(g)): int(n) for i, g, n in zip(out.index, out["group"], out["n"], strict=True)
    }
    assert {k: v for k, v in got.items() if v} == {
        k: v for k, v in want.items() if k[0] is not None
    }
    assert set(out.loc[out["group"] == "1", "group_name"]) == {"环境卫生"}
    by_major = density(conn, unit="cell", start=START, end=END, by="major_code")
    assert set(by_major["group_name"]) <= {"市容环境", "宣传广告", "街面秩序"}


def test_street_office_restriction(conn: Connection, tiny: Tiny) -> None:
    out = density(conn, unit="cell", start=START, end=END, street_office_ids=[20])
    in_office = sorted(
        c for c, com in tiny.cell_community.items() if tiny.community_office[com] == 20
    )
    assert sorted(out.index) == in_office
    want = expected(tiny.problems, lambda p: p.cell_id)
    assert out["n"].to_dict() == {c: want.get(c, 0) for c in in_office}
    assert resolve_street_offices(conn, ["景山街道", "110101001", "10"]) == [10, 20]
    with pytest.raises(DataError, match=r"not found.*Known: 东华门街道"):
        resolve_street_offices(conn, ["和平里街道"])


def test_naive_dates_are_local_time(conn: Connection) -> None:
    insert_admin_and_cells(conn)
    times = [
        dt.datetime(2024, 3, 1, 0, 30, tzinfo=TZ),
        dt.datetime(2024, 2, 29, 23, 30, tzinfo=TZ),  # 15:30 UTC on 29 Feb: previous period
        dt.datetime(2024, 3, 31, 23, 59, tzinfo=TZ),
    ]
    edge = [Problem(1, None, 11, 10, "06010", "patrol", "closed", t) for t in times]
    insert_problems(conn, edge)
    out = density(conn, unit="cell", start=dt.date(2024, 3, 1), end=dt.date(2024, 4, 1))
    assert out.loc[1, "n"] == 2
    assert out.loc[1, "n_previous"] == 1


def test_bad_requests_say_what_to_change(conn: Connection, tiny: Tiny) -> None:
    with pytest.raises(DataError, match="must end after it starts"):
        density(conn, unit="cell", start=END, end=START)
    with pytest.raises(DataError, match="unknown unit 'grid'"):
        density(conn, unit="grid", start=START, end=END)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="category 99 not found"):
        density(conn, unit="cell", start=START, end=END, categories=["99"])


def test_comparison_periods_handle_leap_day() -> None:
    p = comparison_periods(dt.date(2024, 2, 29), dt.date(2024, 3, 1))
    assert p.last_year_start.date() == dt.date(2023, 2, 28)
    assert p.previous_start.date() == dt.date(2024, 2, 28)


def test_last_year_counts_only_where_the_records_reach_back(conn: Connection) -> None:
    """A deployment younger than a year has no "same period last year" (0 would mislead)."""
    from db.queries.density import history_covers

    insert_admin_and_cells(conn)
    assert not history_covers(conn, START)  # nothing loaded at all
    first = dt.datetime(2023, 3, 1, 23, 0, tzinfo=TZ)  # late on the first day of last year's
    insert_problems(conn, [Problem(1, None, 11, 10, "06010", "patrol", "closed", first)])
    out = density(conn, unit="cell", start=START, end=END)
    assert out.attrs["last_year_covered"] and out.loc[1, "n_last_year"] == 1
    # a day earlier, last year's period starts the day before the records do
    earlier = density(conn, unit="cell", start=dt.date(2024, 2, 29), end=dt.date(2024, 3, 31))
    assert not earlier.attrs["last_year_covered"] and earlier.loc[1, "n_last_year"] == 1
    # days are the deployment's: 15:59 UTC on 28 February is 23:59 in Beijing, a day early
    utc = ZoneInfo("UTC")
    assert history_covers(conn, dt.datetime(2023, 2, 28, 16, 0, tzinfo=utc))
    assert not history_covers(conn, dt.datetime(2023, 2, 28, 15, 59, tzinfo=utc))
