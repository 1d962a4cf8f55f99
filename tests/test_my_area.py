"""我的责任区 on a real PostGIS: a person sees their own places and problems, nobody else's."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor
from db.queries.my_area import my_assignments, my_problems, person_name, problem_counts
from gis.errors import DataError, PermissionDeniedError
from tests.browser_support import SMALL_NOW, seed_small

pytestmark = pytest.mark.db


@pytest.fixture
def ids(conn: Connection) -> dict[str, int]:
    return seed_small(conn)


def field(ids: dict[str, int], key: str) -> Actor:
    return Actor(username=key, role="field", person_id=ids[key])


def test_a_street_head_sees_only_their_segments(conn: Connection, ids: dict[str, int]) -> None:
    assert person_name(conn, field(ids, "p_zhang")) == "张伟"
    places = my_assignments(conn, field(ids, "p_zhang"))
    assert sorted(places["target_id"]) == sorted([ids["seg1"], ids["seg3"]])
    first = places.set_index("target_id").loc[ids["seg1"]]
    assert first["kind"] == "street" and first["label"] == "多福大街（1号路—2号路）"
    assert (first["role"], first["level"]) == ("street_head", 3)
    assert (first["supervisor"], first["supervisor_phone"]) == ("李强", "13600002222")
    assert (first["street_office"], first["community"]) == ("东华门街道", "多福巷社区")
    assert places.crs.to_epsg() == 4326 and places.geometry.notna().all()
    # 王芳 heads seg2 alone; 刘洋 shares seg3 with 张伟
    assert list(my_assignments(conn, field(ids, "p_wang"))["target_id"]) == [ids["seg2"]]
    assert list(my_assignments(conn, field(ids, "p_liu"))["target_id"]) == [ids["seg3"]]


def test_ended_assignments_are_not_shown(conn: Connection, ids: dict[str, int]) -> None:
    conn.execute(
        sa.text("UPDATE assignments SET valid_to = now() WHERE person_id = :p AND target_id = :t"),
        {"p": ids["p_zhang"], "t": ids["seg1"]},
    )
    assert list(my_assignments(conn, field(ids, "p_zhang"))["target_id"]) == [ids["seg3"]]
    assert my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW).empty


def test_problems_on_my_segments_open_first_by_urgency(
    conn: Connection, ids: dict[str, int]
) -> None:
    problems = my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW)
    # p1-p5 lie on seg1; p6 is elsewhere, p7 void, p8 closed 39 days ago
    assert list(problems["case_no"]) == ["p2", "p1", "p3", "p5", "p4"]
    assert list(problems["colour"]) == ["red", "yellow", "white", "closed", "closed"]
    assert list(problems["on_time"].iloc[3:]) == [False, True]
    assert set(problems["place"]) == {"多福大街（1号路—2号路）"}
    assert problem_counts(problems) == {
        "open": 3, "red": 1, "yellow": 1, "white": 1, "closed": 2, "closed_on_time": 1
    }  # fmt: skip
    assert my_problems(conn, field(ids, "p_wang"), now=SMALL_NOW).empty


def test_closed_problems_only_of_the_recent_days(conn: Connection, ids: dict[str, int]) -> None:
    problems = my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW, closed_days=60)
    assert "p8" in set(problems["case_no"])
    problems = my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW, closed_days=8)
    assert list(problems["case_no"]) == ["p2", "p1", "p3", "p5"]  # p4 closed 9 days ago


def test_the_yellow_share_moves_the_colours(conn: Connection, ids: dict[str, int]) -> None:
    # p3: reported a day ago, due in 5 days: 5/6 of its time left
    problems = my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW, yellow_fraction=0.9)
    assert problems.set_index("case_no").loc["p3", "colour"] == "yellow"
    with pytest.raises(DataError, match="yellow_fraction"):
        my_problems(conn, field(ids, "p_zhang"), now=SMALL_NOW, yellow_fraction=1.0)


def test_a_grid_worker_sees_the_problems_in_their_cells_once(
    conn: Connection, ids: dict[str, int]
) -> None:
    for target_type, target in (("cell", "cell1"), ("segment", "seg1"), ("market", "M001")):
        if target == "M001":
            ids["M001"] = int(
                conn.scalar(
                    sa.text(
                        "INSERT INTO markets (code, name, street_office_id, community_id, geom) "
                        "SELECT code, name, street_office_id, community_id, geom FROM premises "
                        "WHERE code = 'M001' RETURNING id"
                    )
                )
            )
        conn.execute(
            sa.text(
                "INSERT INTO assignments (person_id, target_type, target_id, role, assigned_by) "
                "VALUES (:p, :tt, :t, :r, 'test')"
            ),
            {"p": ids["p_zhao"], "tt": target_type, "t": ids[target],
             "r": {"cell": "grid_worker", "segment": "lane_head", "market": "market_head"}[target_type]},
        )  # fmt: skip
    actor = field(ids, "p_zhao")
    places = my_assignments(conn, actor).set_index("kind")
    assert places.loc["cell", "code"] == "110101001001001"
    assert places.loc["cell", "street_office"] == "东华门街道"  # through the community
    assert places.loc["market", "label"] == "M001 东华门农贸市场"
    problems = my_problems(conn, actor, now=SMALL_NOW)
    # p1-p5 are in cell1 and on seg1: each once
    assert sorted(problems["case_no"]) == ["p1", "p2", "p3", "p4", "p5"]


def test_phones_follow_pii_read(conn: Connection, ids: dict[str, int]) -> None:
    viewer = Actor(username="v", role="viewer", person_id=ids["p_zhang"])
    first = my_assignments(conn, viewer).set_index("target_id").loc[ids["seg1"]]
    assert (first["supervisor"], first["supervisor_phone"]) == ("李*", "136****2222")


def test_an_account_without_a_person_is_told_how_to_link_one(conn: Connection) -> None:
    actor = Actor(username="wang.li", role="field")
    with pytest.raises(DataError, match=r"citygrid user edit wang\.li --person"):
        my_assignments(conn, actor)
    with pytest.raises(DataError, match="not linked to a person on the roster"):
        my_problems(conn, actor, now=SMALL_NOW)
    with pytest.raises(PermissionDeniedError, match="wall screen"):
        my_assignments(conn, Actor(username="screen", role="kiosk", person_id=1))


def test_now_in_the_past_leaves_later_reports_out(conn: Connection, ids: dict[str, int]) -> None:
    earlier = SMALL_NOW - dt.timedelta(days=2)
    problems = my_problems(conn, field(ids, "p_zhang"), now=earlier)
    assert set(problems["case_no"]) == {"p4", "p5"}  # p1-p3 not reported yet
