"""Who may write, at each write path: each role allowed or refused, areas, audit, masking.

Write paths covered here: coverage exports (``db.queries.coverage.record_export``),
street-head assignments and undo (``db.queries.assignments``) and notice boards
(``board_rows``); loading files is in ``test_access_loads.py``. Each role is tried;
refusals leave nothing behind, successes leave audit rows naming the actor, and
hostile text is stored as text.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db.access import Actor
from db.queries.coverage import record_export
from gis.errors import PermissionDeniedError

pytestmark = pytest.mark.db

DHM, JS = "110101001000", "110101002000"  # 东华门, 景山
ROLES = ("admin", "planner", "leader", "field", "viewer", "kiosk")
HOSTILE_NAMES = ("<script>alert(1)</script>", "'); DROP TABLE people;--", "王<b>小明</b>")


# --- exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_exports_need_report_export_and_are_audited(conn: Connection, role: str) -> None:
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    if role in ("admin", "planner", "leader"):
        audit_id = record_export(
            conn, actor, what="gaps", file_name="gaps.xlsx", counts={"segment_no_head": 3}
        )
        row = conn.execute(
            sa.text("SELECT actor, action, detail FROM audit_log WHERE id = :i"), {"i": audit_id}
        ).one()
        assert (row.actor, row.action, row.detail["file"]) == (f"the-{role}", "export", "gaps.xlsx")
    else:
        with pytest.raises(PermissionDeniedError, match="may not export"):
            record_export(conn, actor, what="gaps", file_name="gaps.xlsx", counts={})
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0


def test_an_area_limited_export_stays_in_its_area(conn: Connection) -> None:
    leader = Actor(username="dhm", role="leader", street_office_ids=frozenset({1}))
    record_export(conn, leader, what="gaps", file_name="a.xlsx", counts={}, street_office_ids=[1])
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        record_export(
            conn, leader, what="gaps", file_name="b.xlsx", counts={}, street_office_ids=[2]
        )
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        record_export(conn, leader, what="gaps", file_name="c.xlsx", counts={})
    assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 1


# --- assignments and notice boards ---------------------------------------------------------


@pytest.fixture
def desk(conn: Connection) -> dict[str, int]:
    """Two street offices, a street segment in each, and two people."""
    ids: dict[str, int] = {}
    for code, name in ((DHM, "东华门街道办事处"), (JS, "景山街道办事处")):
        ids[code] = conn.scalar(
            sa.text(
                "INSERT INTO admin_areas (code, name, level) "
                "VALUES (:c, :n, 'street_office') RETURNING id"
            ),
            {"c": code, "n": name},
        )
    for key, office, x in (("s_dhm", DHM, 500000), ("s_js", JS, 501000)):
        ids[key] = conn.scalar(
            sa.text(
                "INSERT INTO road_segments (code, road_name, from_name, to_name, street_office_id, "
                "geom) VALUES (:k, '东四北大街', '东四十条', '张自忠路', :so, "
                "ST_GeomFromText(:wkt, 4548)) RETURNING id"
            ),
            {
                "k": key,
                "so": ids[office],
                "wkt": f"MULTILINESTRING(({x} 4420000, {x + 200} 4420000))",
            },
        )
    for key, name, phone in (
        ("wang", "王小明", "13812345678"),
        ("evil", HOSTILE_NAMES[0], "13900001111"),
    ):
        ids[key] = conn.scalar(
            sa.text(
                "INSERT INTO people (person_key, name, phone, street_office_id) "
                "VALUES (:k, :n, :p, :so) RETURNING id"
            ),
            {"k": key, "n": name, "p": phone, "so": ids[DHM]},
        )
    return ids


def _assign(conn: Connection, actor: Actor, desk: dict[str, int], segment: str = "s_dhm", **kw):  # type: ignore[no-untyped-def]
    from db.queries.assignments import assign_street_head

    version = conn.scalar(
        sa.text("SELECT version FROM road_segments WHERE id = :i"), {"i": desk[segment]}
    )
    return assign_street_head(
        conn, actor, segment_id=desk[segment], person_id=desk[kw.pop("person", "wang")],
        expected_version=version, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_assigning_a_street_head_needs_assign_write(
    conn: Connection, desk: dict[str, int], role: str
) -> None:
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    if role in ("admin", "planner"):
        result = _assign(conn, actor, desk)
        rows = conn.execute(
            sa.text("SELECT actor, action, entity_type, after FROM audit_log ORDER BY id")
        ).all()
        assert [(r.actor, r.action) for r in rows] == [(f"the-{role}", "assign.street_head")] * 2
        assert rows[1].after["rows"][0]["person_id"] == desk["wang"]
        assert result.change_id is not None
    else:
        with pytest.raises(PermissionDeniedError, match="may not change assignments"):
            _assign(conn, actor, desk)
        for table in ("assignments", "change_sets", "audit_log"):
            assert conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 0, table


def test_a_planner_of_one_street_office_cannot_assign_in_another(
    conn: Connection, desk: dict[str, int]
) -> None:
    planner = Actor(username="dhm", role="planner", street_office_ids=frozenset({desk[DHM]}))
    _assign(conn, planner, desk, "s_dhm")
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        _assign(conn, planner, desk, "s_js")
    assert conn.scalar(sa.text("SELECT count(*) FROM assignments")) == 1


def test_undo_needs_the_same_rights_as_the_change(conn: Connection, desk: dict[str, int]) -> None:
    from db.queries.assignments import undo

    change = _assign(conn, Actor(username="p", role="planner"), desk, "s_js").change_id
    for someone in (
        Actor(username="v", role="viewer"),
        Actor(username="k", role="kiosk"),
        Actor(username="l", role="leader"),
        Actor(username="dhm", role="planner", street_office_ids=frozenset({desk[DHM]})),
    ):
        with pytest.raises(PermissionDeniedError):
            undo(conn, someone, int(change))  # type: ignore[arg-type]
    undo(
        conn,
        Actor(username="js", role="planner", street_office_ids=frozenset({desk[JS]})),
        int(change),
    )  # type: ignore[arg-type]
    assert conn.scalar(sa.text("SELECT count(*) FROM assignments WHERE valid_to IS NULL")) == 0


def test_hostile_names_and_notes_are_stored_as_text(conn: Connection, desk: dict[str, int]) -> None:
    note = HOSTILE_NAMES[1]
    _assign(conn, Actor(username=HOSTILE_NAMES[2], role="planner"), desk, person="evil", note=note)
    assert conn.scalar(sa.text("SELECT note FROM assignments")) == note
    row = conn.execute(
        sa.text("SELECT actor, after FROM audit_log WHERE entity_type = 'segment'")
    ).one()
    assert row.actor == HOSTILE_NAMES[2]
    assert row.after["rows"][0]["note"] == note
    assert conn.scalar(sa.text("SELECT to_regclass('people') IS NOT NULL"))


@pytest.mark.parametrize("role", ROLES)
def test_notice_boards_need_report_export_and_mask_phones(
    conn: Connection, desk: dict[str, int], role: str
) -> None:
    from db.queries.assignments import board_rows

    _assign(conn, Actor(username="p", role="planner"), desk)
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    if role not in ("admin", "planner", "leader"):
        with pytest.raises(PermissionDeniedError, match="may not export notice boards"):
            board_rows(conn, actor)
        return
    rows = board_rows(conn, actor).set_index("segment_id")
    assert rows.loc[desk["s_dhm"], ["head_name", "head_phone"]].tolist() == [
        "王小明",
        "13812345678",
    ]
    masked = board_rows(conn, actor, mask_phones=True).set_index("segment_id")
    assert masked.loc[desk["s_dhm"], "head_phone"] == "138****5678"


def test_an_area_limited_leader_gets_only_their_boards(
    conn: Connection, desk: dict[str, int]
) -> None:
    from db.queries.assignments import board_rows

    leader = Actor(username="l", role="leader", street_office_ids=frozenset({desk[DHM]}))
    assert board_rows(conn, leader)["segment_id"].tolist() == [desk["s_dhm"]]
    with pytest.raises(PermissionDeniedError, match="outside their street offices"):
        board_rows(conn, leader, street_office_ids=[desk[JS]])


def test_names_that_look_like_formulas_stay_text_in_excel_exports() -> None:
    import io

    import geopandas as gpd
    import openpyxl
    import pandas as pd
    from shapely.geometry import Point

    from reports.boards import boards_excel, make_boards
    from reports.exports import excel_bytes

    evil = '=HYPERLINK("http://evil.example","点击")'
    rows = pd.DataFrame(
        [{"segment_id": 1, "road_name": "东四北大街", "from_name": "东四十条", "to_name": "张自忠路",
          "head_name": evil, "head_phone": "13812345678", "supervisor_name": "=1+1",
          "supervisor_phone": None, "street_office": "东华门", "community": ""}]
    )  # fmt: skip
    gaps = gpd.GeoDataFrame({"name": [evil]}, geometry=[Point(500000, 4420000)], crs="EPSG:4548")
    for data in (boards_excel(make_boards(rows, hotline="12345")), excel_bytes({"gaps": gaps})):
        book = openpyxl.load_workbook(io.BytesIO(data))
        kinds = {
            c.data_type
            for ws in book
            for row in ws.iter_rows()
            for c in row
            if isinstance(c.value, str) and c.value.startswith("=")
        }
        assert kinds <= {"s"}, kinds


@pytest.mark.parametrize(
    ("role", "name", "phone"),
    [
        ("leader", "王小明", "13812345678"),
        ("planner", "王小明", "13812345678"),
        ("viewer", "王**", "138****5678"),
        ("kiosk", "王**", "138****5678"),
    ],
)
def test_top_hotspots_show_names_and_phones_only_to_pii_readers(
    conn: Connection, desk: dict[str, int], role: str, name: str, phone: str
) -> None:
    import pandas as pd

    from db.queries.hotspots import top_n

    _assign(conn, Actor(username="p", role="planner"), desk)
    hot = pd.DataFrame({"gi_z": [3.2], "n": [17]}, index=pd.Index([desk["s_dhm"]]))
    actor = Actor(username=f"the-{role}", role=role)  # type: ignore[arg-type]
    top = top_n(conn, hot, unit="segment", actor=actor)
    assert top.loc[desk["s_dhm"], ["street_head_name", "street_head_phone"]].tolist() == [
        name,
        phone,
    ]
