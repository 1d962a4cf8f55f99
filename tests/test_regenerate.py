"""Regenerating cells and segments keeps every derived layer consistent (real PostGIS).

The world of ``tests.test_etl_formats``: four communities of 1 km², each loaded with
four cells of 500 m x 500 m (one missing), and problems placed at load. A new tiling
or segmentation must retire what it replaces, place the problems again exactly as a
fresh load would, report what it did, and change nothing when interrupted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.test_etl_formats import SRID, World, build_world, line, lonlat

pytestmark = pytest.mark.db

# a lattice of points over the district, a few exactly on cell edges, plus one outside
_XY = [(25.0 + 160 * i, 25.0 + 160 * j) for i in range(13) for j in range(13)]
_XY += [(500.0, 250.0), (1000.0, 500.0), (1500.0, 1000.0), (250.0, 1000.0), (262.0, 1500.0)]
_XY += [(-300.0, 300.0)]  # outside the district
_DAYS = ["2023-02-01 10:00:00", "2024-05-31 23:30:00", "2024-06-01 02:00:00", "2025-01-10 09:00:00"]


def _problems(prefix: str) -> pd.DataFrame:
    xy = [lonlat(x, y) for x, y in _XY]
    return pd.DataFrame(
        {
            "case_no": [f"{prefix}{i:03d}" for i in range(len(_XY))],
            "category_code": "06010",
            "source": "巡查",
            "status": "已上报",
            "reported_at": [_DAYS[i % len(_DAYS)] for i in range(len(_XY))],
            "lon": [p[0] for p in xy],
            "lat": [p[1] for p in xy],
        }
    )


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    w = build_world(clean_db, tmp_path, layers=("admin_areas", "grid_cells", "categories"))
    _problems("A").to_csv(tmp_path / "a.csv", index=False)
    assert w.load("problems", tmp_path / "a.csv").n_inserted == len(_XY)
    return w


def _places(world: World, prefix: str) -> dict[int, tuple[object, ...]]:
    """Point number -> (cell code, community code, office code, segment code, distance)."""
    rows = world.rows(
        """
        SELECT p.case_no, c.code, cm.code, o.code, s.code, round(p.segment_dist_m::numeric, 6)
        FROM problems p
        LEFT JOIN grid_cells c ON c.id = p.cell_id
        LEFT JOIN admin_areas cm ON cm.id = p.community_id
        LEFT JOIN admin_areas o ON o.id = p.street_office_id
        LEFT JOIN road_segments s ON s.id = p.segment_id
        WHERE p.case_no LIKE :pre ORDER BY p.case_no""",
        pre=f"{prefix}%",
    )
    return {int(str(r[0])[len(prefix) :]): r[1:] for r in rows}


def _state(world: World) -> tuple[object, ...]:
    """Everything a regeneration may change, to compare before and after."""
    return (
        world.rows("SELECT code, valid_from, valid_to, ST_AsText(geom) FROM grid_cells ORDER BY 1"),
        world.rows("SELECT code, ST_AsText(geom) FROM road_segments ORDER BY 1"),
        world.rows(
            "SELECT case_no, cell_id, community_id, street_office_id, segment_id, segment_dist_m "
            "FROM problems ORDER BY 1"
        ),
        world.rows("SELECT id, valid_to, note FROM assignments ORDER BY 1"),
    )


def _worker_on(world: World, cell_code: str) -> int:
    with world.engine.begin() as conn:
        person = conn.scalar(
            sa.text(
                "INSERT INTO people (person_key, name) VALUES ('王网格|', '王网格') "
                "ON CONFLICT (person_key) DO UPDATE SET name = excluded.name RETURNING id"
            )
        )
        return int(
            conn.scalar(
                sa.text(
                    "INSERT INTO assignments (person_id, target_type, target_id, role, "
                    "valid_from, assigned_by) SELECT :p, 'cell', id, 'grid_worker', "
                    "'2023-01-01 00:00+08', 'test' FROM grid_cells WHERE code = :c RETURNING id"
                ),
                {"p": person, "c": cell_code},
            )
        )


def _generate(tmp_path: Path, *args: str) -> None:
    """``citygrid grid generate``: two cells a community (1 km² at 500,000 m²)."""
    from citygrid.cli import main

    out = tmp_path / f"cells-{len(list(tmp_path.glob('cells-*')))}.gpkg"
    base = ["grid", "generate", "--target-area-m2", "500000", "--no-follow-roads"]
    assert main([*base, "--out", str(out), *args]) == 0


def test_new_tiling_replaces_the_old_for_the_whole_history(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from db.queries import coverage

    worker = _worker_on(world, "110101001001004")
    before = _places(world, "A")
    capsys.readouterr()
    _generate(tmp_path)
    out = capsys.readouterr().out
    # two cells a community now: codes 001-002 reused, 003-004 removed (one was missing)
    cells = world.rows("SELECT code, valid_from, valid_to FROM grid_cells ORDER BY code")
    assert [c[0][-3:] for c in cells] == ["001", "002"] * 4
    assert {(c[1], c[2]) for c in cells} == {(None, None)}  # in force for the whole history
    assert "7 old cells removed (replaced for the whole history" in out
    after = _places(world, "A")
    moved = sum(before[k][:3] != after[k][:3] for k in before)
    assert moved > 0
    assert f"{moved:,} problems re-placed (of {len(_XY) - 1:,} checked)" in out
    # every problem in the district is in a cell now, whatever its date; the one outside
    # the district is in none
    assert sum(v[0] is None for v in after.values()) == 1
    with world.engine.connect() as conn:
        assert coverage.problems_outside_cells(conn).attrs["total"] == 1
        assert coverage.problems_outside_cells(conn, recheck=True).attrs["total"] == 1
    # the grid worker of a removed cell: ended, kept, noted, reported
    ended = world.rows("SELECT valid_to IS NOT NULL, ended_by, note FROM assignments")
    assert ended[0][0] and ended[0][1].startswith("system:")
    assert "110101001001004" in ended[0][2] and "retired by citygrid grid generate" in ended[0][2]
    assert "1 assignment ended with the cells it named" in out
    assert "王网格 (grid_worker): 110101001001004" in out
    assert world.scalar("SELECT count(*) FROM assignments WHERE id = :i", i=worker) == 1
    removed = world.rows(
        "SELECT entity_id, before->>'code' FROM audit_log WHERE action = 'cell.remove' ORDER BY 2"
    )
    assert len(removed) == 7 and removed[0][1] == "110101001001003"
    # the same command again changes nothing
    _generate(tmp_path)
    again = capsys.readouterr().out
    assert "0 problems re-placed" in again and "removed" not in again


def test_placing_again_agrees_with_a_fresh_load(world: World, tmp_path: Path) -> None:
    """The SQL that places problems again and the loader's lookups are one rule: after
    a new tiling, problems loaded afresh at the same points get the same places."""
    _generate(tmp_path)
    _problems("B").to_csv(tmp_path / "b.csv", index=False)
    assert world.load("problems", tmp_path / "b.csv").n_inserted == len(_XY)
    assert _places(world, "A") == _places(world, "B")


def test_dated_tiling_keeps_the_old_cells_until_the_day_before(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from db.queries import coverage

    _worker_on(world, "110101001001004")
    capsys.readouterr()
    _generate(tmp_path, "--valid-from", "2024-06-01")
    out = capsys.readouterr().out
    old = world.rows("SELECT code, valid_to FROM grid_cells WHERE valid_from IS NULL ORDER BY 1")
    new = world.rows("SELECT code, valid_from FROM grid_cells WHERE valid_from IS NOT NULL")
    assert len(old) == 15 and {str(r[1]) for r in old} == {"2024-05-31"}
    # new codes follow the old ones: a code never names two cells (the north-east
    # community had 001-003 only)
    assert sorted(r[0][-3:] for r in new) == ["004", "005", "005", "005", "005", "006", "006",
                                              "006"]  # fmt: skip
    assert {str(r[1]) for r in new} == {"2024-06-01"}
    assert "15 old cells in force until 2024-05-31" in out
    places = _places(world, "A")
    new_codes = {r[0] for r in new}
    for k, (_, day) in enumerate(zip(_XY, [_DAYS[i % 4] for i in range(len(_XY))], strict=True)):
        cell = places[k][0]
        if cell is None:
            continue
        # 23:30 on 31 May is still May in Beijing; 02:00 on 1 June is June
        assert (cell in new_codes) == (day >= "2024-06-01"), (k, day, cell)
    with world.engine.connect() as conn:
        # the one outside the district, and those in the old tiling's missing cell
        outside = coverage.problems_outside_cells(conn, recheck=True)
    assert {int(c[1:]) for c in outside["object_code"]} == {
        k for k, v in places.items() if v[0] is None
    }
    # a load afterwards places each problem in the cell in force on its report date
    _problems("B").to_csv(tmp_path / "b.csv", index=False)
    assert world.load("problems", tmp_path / "b.csv").n_inserted == len(_XY)
    assert _places(world, "A") == _places(world, "B")
    # the grid worker serves until the new cells take over, at midnight in Beijing
    midnight = dt.datetime(2024, 6, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert world.rows("SELECT valid_to FROM assignments") == [(midnight,)]


def test_ctrl_c_while_placing_changes_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citygrid.cli import grid_cmd, main

    _worker_on(world, "110101001001004")
    before = _state(world)

    @contextmanager
    def interrupted(label: str) -> Iterator[Callable[[int, int], None]]:
        def update(done: int, total: int) -> None:
            if done:  # after the first batch was written
                raise KeyboardInterrupt

        yield update

    monkeypatch.setattr(grid_cmd, "_progress", interrupted)
    out = tmp_path / "cells.gpkg"
    base = ["grid", "generate", "--target-area-m2", "500000", "--no-follow-roads"]
    assert main([*base, "--out", str(out)]) != 0
    assert _state(world) == before
    assert world.scalar("SELECT status FROM load_runs ORDER BY id DESC LIMIT 1") == "interrupted"


# --- road segments ------------------------------------------------------------------------


@pytest.fixture
def road_world(clean_db: Engine, tmp_path: Path) -> World:
    """The world with its segments S1-S4 (on two roads) and the lane L1 (on none),
    the roads themselves, and the problems placed on the segments at load."""
    w = build_world(clean_db, tmp_path)
    roads = gpd.GeoDataFrame(
        {"code": ["r1", "r2"], "name": ["东西大街", "中轴路"], "road_class": ["主干路", "主干路"]},
        geometry=[line((0, 1000), (2000, 1000)), line((1000, 0), (1000, 2000))],
        crs=SRID,
    )
    roads.to_file(tmp_path / "roads.gpkg")
    assert w.load("roads", tmp_path / "roads.gpkg").n_inserted == 2
    _problems("A").to_csv(tmp_path / "a.csv", index=False)
    assert w.load("problems", tmp_path / "a.csv").n_inserted == len(_XY)
    return w


def _head_on(world: World, segment_code: str) -> None:
    with world.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO people (person_key, name) VALUES ('李街长|', '李街长')"))
        conn.execute(
            sa.text(
                "INSERT INTO assignments (person_id, target_type, target_id, role, level, "
                "valid_from, assigned_by) SELECT (SELECT id FROM people), 'segment', id, "
                "'street_head', 3, '2023-01-01 00:00+08', 'test' FROM road_segments "
                "WHERE code = :c"
            ),
            {"c": segment_code},
        )


def test_new_segments_replace_the_old_and_their_heads_are_reported(
    road_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from citygrid.cli import main

    world = road_world
    _head_on(world, "S1")
    before = _places(world, "A")
    assert {v[3] for v in before.values()} >= {"S1", "S2", "S3", "S4", "L1"}
    capsys.readouterr()
    args = ["roads", "segment", "--max-length-m", "0", "--out", str(tmp_path / "s.gpkg")]
    assert main(args) == 0
    out = capsys.readouterr().out
    codes = [r[0] for r in world.rows("SELECT code FROM road_segments ORDER BY code")]
    assert codes == ["L1", "r1-001", "r1-002", "r2-001", "r2-002"]  # the lane on no road stays
    assert "4 old segments removed (replaced for the whole history" in out
    after = _places(world, "A")
    moved = sum(before[k][3] != after[k][3] for k in before)
    assert moved > 0 and f"{moved:,} problems re-placed" in out
    assert {v[3] for v in after.values()} >= {"r1-001", "r1-002", "r2-001", "r2-002", "L1"}
    # the head of S1 is ended, kept with a note naming the segment, and reported
    note = world.rows("SELECT valid_to IS NOT NULL, note FROM assignments")
    assert note[0][0] and "S1 东西大街（西边路—中轴路）" in note[0][1]
    assert "李街长 (street_head L3): S1 东西大街（西边路—中轴路）" in out
    assert world.scalar("SELECT count(*) FROM audit_log WHERE action = 'segment.remove'") == 4
    # placed as a fresh load would place them
    _problems("B").to_csv(tmp_path / "b.csv", index=False)
    assert world.load("problems", tmp_path / "b.csv").n_inserted == len(_XY)
    assert _places(world, "A") == _places(world, "B")
    # cut finer, then as before: the extra segments go again and their problems move back
    finer = ["roads", "segment", "--max-length-m", "300", "--out", str(tmp_path / "f.gpkg")]
    assert main(finer) == 0
    assert world.scalar("SELECT count(*) FROM road_segments") > 5
    capsys.readouterr()
    assert main(args) == 0
    assert "old segments removed" in capsys.readouterr().out
    assert _places(world, "A") == after
