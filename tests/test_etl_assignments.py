"""Rosters: street heads by road/from/to, history kept, people created once."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.access import Actor
from tests.test_etl_formats import World, build_world

pytestmark = pytest.mark.db

HEADER = ["道路", "起点", "终点", "街长", "电话", "级别", "上级街长"]


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def roster(world: World, rows: list[list[object]], name: str = "roster.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["东城区街长名单"])  # a title row above the header, as rosters have
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    path = world.folder / name
    wb.save(path)
    return path


def active(world: World) -> list[tuple[object, ...]]:
    return world.rows(
        """
        SELECT s.code, p.name, p.phone, a.role, a.level, sup.name
        FROM assignments a JOIN road_segments s ON s.id = a.target_id
        JOIN people p ON p.id = a.person_id LEFT JOIN people sup ON sup.id = a.supervisor_id
        WHERE a.valid_to IS NULL ORDER BY s.code
        """
    )


def test_roster_by_road_and_cross_streets_either_direction(world: World) -> None:
    path = roster(
        world,
        [
            ["东西大街", "西边路", "中轴路", "王小明", 13812345678, "三级", "李总"],
            ["东西大街", "东边路", "中轴路", "张三", "138-0000-1111", 3, "李总"],
            ["小胡同", None, None, "赵巷长", "13900000000", None, None],
            ["李总", None, None, None, None, None, None],  # not a target: reported
        ],
    )
    report = world.load("assignments", path)
    assert (report.n_read, report.n_inserted, report.n_rejected) == (4, 3, 1), report.rejects
    assert active(world) == [
        ("L1", "赵巷长", "13900000000", "lane_head", None, None),
        ("S1", "王小明", "13812345678", "street_head", 3, "李总"),
        ("S2", "张三", "13800001111", "street_head", 3, "李总"),
    ]
    assert set(report.rejects["reason_code"]) == {"missing_value", "unknown_target"}
    assert set(report.rejects["row_no"]) == {6}  # one row, both of its problems
    assert world.scalar("SELECT count(*) FROM people") == 4  # three heads and 李总
    assert any("4 people were new" in m for m in report.messages)


def test_same_roster_twice_changes_nothing(world: World) -> None:
    path = roster(world, [["东西大街", "西边路", "中轴路", "王小明", 13812345678, 3, "李总"]])
    world.load("assignments", path)
    before = world.rows("SELECT * FROM assignments ORDER BY id")
    again = world.load("assignments", path)
    assert (again.n_inserted, again.n_updated, again.n_unchanged) == (0, 0, 1)
    assert world.rows("SELECT * FROM assignments ORDER BY id") == before
    assert world.scalar("SELECT count(*) FROM people") == 2


def test_new_head_ends_the_previous_assignment(world: World) -> None:
    world.load(
        "assignments",
        roster(world, [["东西大街", "西边路", "中轴路", "王小明", "13812345678", 3, None]]),
    )
    report = world.load(
        "assignments",
        roster(
            world, [["东西大街", "西边路", "中轴路", "钱新", "13700000000", 3, None]], "new.xlsx"
        ),
    )
    assert (report.n_inserted, report.n_updated) == (0, 1)
    history = world.rows(
        "SELECT p.name, a.valid_to IS NULL, a.ended_by FROM assignments a "
        "JOIN people p ON p.id = a.person_id ORDER BY a.id"
    )
    assert history == [("王小明", False, "system"), ("钱新", True, None)]
    assert world.scalar("SELECT count(*) FROM audit_log WHERE action = 'assignment.load'") == 2


def test_segment_codes_target_types_and_duplicates(world: World) -> None:
    pd.DataFrame(
        {
            "segment_code": ["S3", "S3", None, None],
            "target_type": [None, None, "cell", "网格"],
            "target_code": [None, None, "110101001001001", "999"],
            "name": ["甲", "乙", "网格员丙", "丁"],
            "phone": ["1", "2", "3", "4"],
        }
    ).to_csv(world.folder / "r.csv", index=False)
    report = world.load("assignments", world.folder / "r.csv")
    assert report.n_inserted == 3  # S3 has two heads: both kept, as a conflict to resolve
    assert report.rejects["reason_code"].tolist() == ["unknown_target"]
    assert any("1 segments are given two or more street heads" in m for m in report.messages)
    assert world.rows("SELECT target_type, role FROM assignments ORDER BY id") == [
        ("segment", "street_head"),
        ("segment", "street_head"),
        ("cell", "grid_worker"),
    ]


def test_the_same_person_twice_for_one_target_is_a_duplicate(world: World) -> None:
    path = roster(
        world,
        [
            ["东西大街", "西边路", "中轴路", "王小明", "1", 3, None],
            ["东西大街", "中轴路", "西边路", "王小明", "1", 3, None],  # the same, reversed
        ],
    )
    report = world.load("assignments", path)
    assert (report.n_inserted, report.n_rejected) == (1, 1)
    reject = report.rejects.iloc[0]
    assert (reject["reason_code"], reject["row_no"]) == ("duplicate_key", 4)
    assert "already given at row 3" in reject["reason"]


def test_level_two_heads_of_a_street_office_are_all_kept(world: World) -> None:
    frame = pd.DataFrame(
        {
            "target_type": ["street_office"] * 3,
            "target_code": ["110101001000"] * 3,
            "name": ["总街长甲", "二级乙", "二级丙"],
            "phone": ["1", "2", "3"],
            "level": [1, 2, 2],
            "supervisor": [None, "总街长甲", "总街长甲"],
        }
    )
    frame.to_csv(world.folder / "office.csv", index=False)
    report = world.load("assignments", world.folder / "office.csv")
    assert (report.n_inserted, report.n_rejected) == (3, 0), report.rejects
    held = (
        "SELECT p.name, a.level FROM assignments a JOIN people p ON p.id = a.person_id "
        "WHERE a.valid_to IS NULL ORDER BY p.name"
    )
    assert world.rows(held) == [("二级丙", 2), ("二级乙", 2), ("总街长甲", 1)]
    # the next roster names one level-2 head: the other's assignment is ended, not deleted
    frame.iloc[[0, 1]].to_csv(world.folder / "office2.csv", index=False)
    again = world.load("assignments", world.folder / "office2.csv")
    assert (again.n_inserted, again.n_updated, again.n_unchanged) == (0, 1, 2)
    assert any("1 assignments were ended" in m for m in again.messages)
    assert world.rows(held) == [("二级乙", 2), ("总街长甲", 1)]
    assert world.scalar("SELECT count(*) FROM assignments") == 3
    assert world.scalar("SELECT count(*) FROM audit_log WHERE action = 'assignment.end'") == 1


def test_ambiguous_road_without_cross_streets(world: World) -> None:
    report = world.load(
        "assignments", roster(world, [["东西大街", None, None, "某人", "1", 3, None]])
    )
    assert report.status == "rejected"
    assert report.rejects.iloc[0]["reason_code"] == "ambiguous_target"
    assert "2 road segments match 东西大街" in report.rejects.iloc[0]["reason"]


def test_area_limited_planner_only_assigns_in_their_area(world: World) -> None:
    west = world.scalar("SELECT id FROM admin_areas WHERE code = '110101001000'")
    planner = Actor("planner1", "planner", street_office_ids=frozenset({int(west)}))  # type: ignore[arg-type]
    path = roster(
        world,
        [
            ["东西大街", "西边路", "中轴路", "王小明", "1", 3, None],  # S1: west
            ["东西大街", "中轴路", "东边路", "张三", "2", 3, None],  # S2: east
        ],
    )
    report = world.load("assignments", path, actor=planner)
    assert (report.n_inserted, report.n_rejected) == (1, 1)
    assert report.rejects.iloc[0]["reason_code"] == "outside_your_area"
    assert [r[0] for r in active(world)] == ["S1"]


def test_strict_roster_rejects_everything(world: World) -> None:
    path = roster(
        world,
        [
            ["东西大街", "西边路", "中轴路", "王小明", "1", 3, None],
            ["无名路", "a", "b", "某", "2", 3, None],
        ],
    )
    report = world.load("assignments", path, strict=True)
    assert report.status == "rejected" and report.n_inserted == 0
    assert world.scalar("SELECT count(*) FROM assignments") == 0
    assert world.scalar("SELECT count(*) FROM people") == 0


# --- a roster load is a change like the desk's: undoable, versioned, rules checked ---------


def _load_change(world: World) -> int:
    change = world.scalar(
        "SELECT max(id) FROM change_sets WHERE action = 'load.assignments' AND undone_at IS NULL"
    )
    assert change is not None
    return int(change)  # type: ignore[arg-type]


def _version(world: World, code: str) -> int:
    return int(world.scalar("SELECT version FROM road_segments WHERE code = :c", c=code))  # type: ignore[arg-type]


def _undo(world: World, change: int, **kw: object):  # type: ignore[no-untyped-def]
    from db.access import SYSTEM
    from db.queries.assignments import undo

    with world.engine.begin() as conn:
        return undo(conn, SYSTEM, change, **kw)  # type: ignore[arg-type]


def test_a_roster_load_is_undone_like_a_desk_change(world: World) -> None:
    first = [
        ["东西大街", "西边路", "中轴路", "王小明", "13812345678", 3, None],
        ["东西大街", "中轴路", "东边路", "张三", "13800001111", 3, None],
    ]
    world.load("assignments", roster(world, first))
    one = _load_change(world)
    v1, v2 = _version(world, "S1"), _version(world, "S2")
    second = [[*first[0][:3], "钱新", "13700000000", 3, None], first[1]]
    report = world.load("assignments", roster(world, second, "second.xlsx"))
    assert (report.n_updated, report.n_unchanged) == (1, 1)
    two = _load_change(world)
    # the segment the load changed moved on; the one it left alone did not
    assert (_version(world, "S1"), _version(world, "S2")) == (v1 + 1, v2)
    slots = world.rows(
        "SELECT entity_type, detail->>'slot', jsonb_array_length(before->'rows'), "
        "jsonb_array_length(after->'rows') FROM audit_log WHERE change_id = :c "
        "AND detail ? 'slot'",
        c=two,
    )
    s1 = world.scalar("SELECT id FROM road_segments WHERE code = 'S1'")
    assert slots == [("segment", f"segment:{s1}:street_head:3:", 1, 1)]
    undone = _undo(world, two)
    assert undone.n_slots == 1
    assert [r[:2] for r in active(world)] == [("S1", "王小明"), ("S2", "张三")]
    _undo(world, one)  # and the first roster, back to nobody at all
    assert active(world) == []
    assert world.scalar("SELECT count(*) FROM change_sets WHERE undone_at IS NOT NULL") == 2


def test_a_roster_that_changes_nothing_leaves_no_change_to_undo(world: World) -> None:
    path = roster(world, [["东西大街", "西边路", "中轴路", "王小明", "1", 3, None]])
    world.load("assignments", path)
    version = _version(world, "S1")
    world.load("assignments", path)
    assert world.scalar("SELECT count(*) FROM change_sets") == 1
    assert _version(world, "S1") == version


def test_a_form_drawn_before_a_load_gets_a_conflict(world: World) -> None:
    from db.access import SYSTEM
    from db.queries.assignments import assign_street_head
    from gis.errors import ConflictError

    seen = _version(world, "S1")  # a planner opens the desk on S1
    world.load(
        "assignments", roster(world, [["东西大街", "西边路", "中轴路", "钱新", "7", 3, None]])
    )
    with world.engine.begin() as conn:
        person = conn.scalar(sa.text("SELECT id FROM people WHERE name = '钱新'"))
        segment = conn.scalar(sa.text("SELECT id FROM road_segments WHERE code = 'S1'"))
    with (
        pytest.raises(ConflictError, match=r"load\.assignments.*you saw version"),
        world.engine.begin() as conn,
    ):
        assign_street_head(
            conn, SYSTEM, segment_id=segment, person_id=person, expected_version=seen
        )  # type: ignore[arg-type]
    assert [r[:2] for r in active(world)] == [("S1", "钱新")]


def test_undoing_a_load_refuses_when_the_desk_changed_it_since(world: World) -> None:
    from db.access import Actor
    from db.queries.assignments import assign_street_head
    from gis.errors import ConflictError

    world.load(
        "assignments", roster(world, [["东西大街", "西边路", "中轴路", "王小明", "1", 3, None]])
    )
    load = _load_change(world)
    with world.engine.begin() as conn:
        other = conn.scalar(
            sa.text("INSERT INTO people (person_key, name) VALUES ('x|', '孙七') RETURNING id")
        )
        s1 = conn.scalar(sa.text("SELECT id FROM road_segments WHERE code = 'S1'"))
        desk = assign_street_head(
            conn, Actor("alice", "planner"), segment_id=s1, person_id=other,
            expected_version=_version(world, "S1"),
        )  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConflictError, match=rf"later changes.*change {desk.change_id} by alice"):
        _undo(world, load)
    assert [r[:2] for r in active(world)] == [("S1", "孙七")]  # nothing half-undone
    _undo(world, load, cascade=True)
    assert active(world) == []


def test_a_roster_load_reports_the_rule_check(world: World) -> None:
    path = roster(
        world,
        [
            ["东西大街", "西边路", "中轴路", "王小明", "1", 3, None],
            ["东西大街", "西边路", "中轴路", "张三", "2", 3, None],  # two heads for S1
        ],
    )
    report = world.load("assignments", path)
    assert report.rule_counts["segment_multiple_heads"] == 1
    assert report.rule_counts["head_no_supervisor"] == 2
    assert report.rule_counts["office_no_level1"] == 1
    note = next(m for m in report.messages if m.startswith("rule check after the load"))
    assert "segments with two or more level-3 street heads: 1" in note
    assert "level-3 heads with no level-2 supervisor: 2" in note
    logged = world.scalar("SELECT message FROM load_runs WHERE id = :r", r=report.run_id)
    assert "segments with two or more level-3 street heads: 1" in str(logged)


def test_the_command_line_prints_the_rule_check_of_a_roster(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from citygrid.cli import main

    path = roster(world, [["东西大街", "西边路", "中轴路", "王小明", "1", 3, None]])
    assert main(["load", "assignments", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rule check after the load" in out
    assert "level-3 heads with no level-2 supervisor: 1" in " ".join(out.split())
