"""Assignment writes on a real PostGIS: change sets, audit, conflicts, undo, boards."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from db.access import SYSTEM, Actor
from db.queries import assignments as aq
from gis.errors import ConflictError, DataError, PermissionDeniedError

pytestmark = pytest.mark.db

ALICE = Actor(username="alice", role="planner")
BOB = Actor(username="bob", role="planner")


@dataclass
class World:
    office: int
    other_office: int
    seg: list[int]  # four street segments in a row, office A
    lane: int
    far: int  # a street segment in office B
    p: dict[str, int]


def _line(x0: float, x1: float) -> str:
    y = 4_420_000.0
    return f"MULTILINESTRING(({500_000 + x0} {y}, {500_000 + x1} {y}))"


def _seed(conn: Connection) -> World:
    def one(sql: str, **params: object) -> int:
        return int(conn.execute(sa.text(sql), params).scalar_one())

    office = one(
        "INSERT INTO admin_areas (code, name, level) VALUES ('110101001000', '东华门街道', "
        "'street_office') RETURNING id"
    )
    other = one(
        "INSERT INTO admin_areas (code, name, level) VALUES ('110101002000', '景山街道', "
        "'street_office') RETURNING id"
    )
    names = [
        ("东四十条", "北新桥"),
        ("北新桥", "簋街"),
        ("簋街", "香饵胡同"),
        ("香饵胡同", "交道口"),
    ]
    seg = []
    for i, (a, b) in enumerate(names):
        seg.append(
            one(
                "INSERT INTO road_segments (code, road_name, from_name, to_name, kind, "
                "street_office_id, length_m, geom) VALUES (:c, '东四北大街', :a, :b, 'street', "
                ":o, 100, ST_GeomFromText(:g, 4548)) RETURNING id",
                c=f"S{i}",
                a=a,
                b=b,
                o=office,
                g=_line(i * 100.0, i * 100.0 + 100.0),
            )
        )
    lane = one(
        "INSERT INTO road_segments (code, road_name, kind, street_office_id, length_m, geom) "
        "VALUES ('L1', '府学胡同', 'lane', :o, 80, ST_GeomFromText(:g, 4548)) RETURNING id",
        o=office,
        g=_line(1000.0, 1080.0),
    )
    far = one(
        "INSERT INTO road_segments (code, road_name, kind, street_office_id, length_m, geom) "
        "VALUES ('F1', '景山前街', 'street', :o, 100, ST_GeomFromText(:g, 4548)) RETURNING id",
        o=other,
        g=_line(5000.0, 5100.0),
    )
    people = {}
    for key, name, phone in [
        ("wang", "王总", "13800000001"),
        ("li", "李二", "13800000002"),
        ("zhao", "赵二", "13800000003"),
        ("zhang", "张三", "13812345678"),
        ("liu", "刘四", "13800000005"),
        ("chen", "陈五", "13800000006"),
    ]:
        people[key] = one(
            "INSERT INTO people (person_key, name, phone, street_office_id) "
            "VALUES (:k, :n, :ph, :o) RETURNING id",
            k=key,
            n=name,
            ph=phone,
            o=office,
        )
    p = people
    aq.appoint_office_head(conn, SYSTEM, street_office_id=office, person_id=p["wang"], level=1)
    for who in ("li", "zhao"):
        aq.appoint_office_head(
            conn, SYSTEM, street_office_id=office, person_id=p[who], level=2,
            supervisor_id=p["wang"],
        )  # fmt: skip
    return World(office, other, seg, lane, far, people)


def _version(conn: Connection, segment_id: int) -> int:
    return int(
        conn.execute(
            sa.text("SELECT version FROM road_segments WHERE id = :i"), {"i": segment_id}
        ).scalar_one()
    )


def _heads(
    conn: Connection, segment_id: int, role: str = "street_head"
) -> list[tuple[int, int | None]]:
    rows = conn.execute(
        sa.text(
            "SELECT person_id, supervisor_id FROM assignments WHERE target_type = 'segment' "
            "AND target_id = :s AND role = :r AND valid_to IS NULL ORDER BY person_id"
        ),
        {"s": segment_id, "r": role},
    ).all()
    return [(r.person_id, r.supervisor_id) for r in rows]


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def world(conn: Connection) -> World:
    return _seed(conn)


def test_assigning_a_head_ends_the_previous_one_and_is_audited(
    conn: Connection, world: World
) -> None:
    s, p = world.seg[0], world.p
    v0 = _version(conn, s)
    first = aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=v0,
        supervisor_id=p["li"],
    )  # fmt: skip
    assert first.change_id is not None and first.versions[s] == v0 + 1
    second = aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["liu"], expected_version=v0 + 1
    )
    assert _heads(conn, s) == [(p["liu"], None)]
    ended = conn.execute(
        sa.text(
            "SELECT ended_by, valid_to IS NOT NULL AS ended FROM assignments "
            "WHERE target_id = :s AND person_id = :p"
        ),
        {"s": s, "p": p["zhang"]},
    ).one()
    assert ended.ended and ended.ended_by == "alice"
    audit = conn.execute(
        sa.text(
            "SELECT entity_type, entity_id, before, after, detail FROM audit_log "
            "WHERE change_id = :c ORDER BY id"
        ),
        {"c": second.change_id},
    ).all()
    assert [a.entity_type for a in audit] == ["change_set", "segment"]
    slot = audit[1]
    assert slot.entity_id == str(s)
    assert [r["person_id"] for r in slot.before["rows"]] == [p["zhang"]]
    assert slot.before["rows"][0]["supervisor_id"] == p["li"]
    assert [r["person_id"] for r in slot.after["rows"]] == [p["liu"]]
    # 刘四 has no supervisor yet, and three segments still have no head
    codes = second.violations["code"].tolist()
    assert codes.count("segment_no_head") == 3 and "head_no_supervisor" in codes
    # the same assignment again changes nothing and writes no change set
    again = aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["liu"], expected_version=v0 + 2
    )
    assert again.change_id is None and again.n_slots == 0


def test_record_many_appends_rows_in_order_in_one_statement(conn: Connection) -> None:
    from db.audit import record_many

    assert record_many(conn, ALICE, []) == []
    ids = record_many(
        conn,
        ALICE,
        [
            {"action": "a.one", "entity_type": "segment", "entity_id": 7, "detail": {"n": 1}},
            {"action": "a.two", "before": {"rows": [{"d": dt.date(2026, 1, 2)}]}, "change_id": 3},
            {"action": "a.three"},
        ],
    )
    rows = conn.execute(
        sa.text(
            "SELECT id, actor, action, entity_type, entity_id, before, detail, change_id "
            "FROM audit_log WHERE id = ANY(:ids) ORDER BY id"
        ),
        {"ids": ids},
    ).all()
    assert [r.id for r in rows] == ids and ids == sorted(ids)
    assert [(r.action, r.entity_id, r.change_id) for r in rows] == [
        ("a.one", "7", None),
        ("a.two", None, 3),
        ("a.three", None, None),
    ]
    assert rows[0].detail == {"n": 1} and rows[1].before == {"rows": [{"d": "2026-01-02"}]}
    assert {r.actor for r in rows} == {"alice"} and rows[2].before is None
    with pytest.raises(TypeError, match="may hold only"):
        record_many(conn, ALICE, [{"action": "x", "who": "y"}])  # type: ignore[typeddict-unknown-key]


def test_a_stale_version_is_refused_naming_who_changed_it(conn: Connection, world: World) -> None:
    s, p = world.seg[1], world.p
    v = _version(conn, s)
    aq.assign_street_head(conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=v)
    rows_before = (
        _count(conn, "assignments"),
        _count(conn, "audit_log"),
        _count(conn, "change_sets"),
    )
    with pytest.raises(
        ConflictError,
        match=r"东四北大街（北新桥—簋街） was changed by alice at .*you saw version \d+, it is now \d+",
    ):
        aq.assign_street_head(conn, BOB, segment_id=s, person_id=p["liu"], expected_version=v)
    after = _count(conn, "assignments"), _count(conn, "audit_log"), _count(conn, "change_sets")
    assert after == rows_before
    assert _heads(conn, s) == [(p["zhang"], None)]


def test_permissions_are_checked_before_anything_is_written(conn: Connection, world: World) -> None:
    elsewhere = Actor(
        username="carol", role="planner", street_office_ids=frozenset({world.other_office})
    )
    viewer = Actor(username="dan", role="viewer")
    s = world.seg[0]
    for actor in (elsewhere, viewer):
        with pytest.raises(PermissionDeniedError):
            aq.assign_street_head(
                conn, actor, segment_id=s, person_id=world.p["zhang"],
                expected_version=_version(conn, s),
            )  # fmt: skip
    assert _heads(conn, s) == []
    ok = aq.assign_street_head(
        conn, elsewhere, segment_id=world.far, person_id=world.p["zhang"],
        expected_version=_version(conn, world.far),
    )  # fmt: skip
    assert ok.change_id is not None


def test_supervisors_must_be_one_level_up_and_changes_compare_and_set(
    conn: Connection, world: World
) -> None:
    p = world.p
    for s in world.seg[:2]:
        aq.assign_street_head(
            conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=_version(conn, s),
            supervisor_id=p["li"],
        )  # fmt: skip
    with pytest.raises(DataError, match="not an active level-2 street head"):
        aq.set_supervisor(
            conn, ALICE, person_id=p["zhang"], supervisor_id=p["liu"],
            expected_supervisor_id=p["li"],
        )  # fmt: skip
    done = aq.set_supervisor(
        conn, ALICE, person_id=p["zhang"], supervisor_id=p["zhao"], expected_supervisor_id=p["li"]
    )
    assert done.n_slots == 2
    assert _heads(conn, world.seg[0]) == [(p["zhang"], p["zhao"])]
    with pytest.raises(ConflictError, match="changed by alice"):
        aq.set_supervisor(
            conn, BOB, person_id=p["zhang"], supervisor_id=p["li"],
            expected_supervisor_id=p["li"],
        )  # fmt: skip


def test_lane_heads_only_on_lanes(conn: Connection, world: World) -> None:
    with pytest.raises(DataError, match="not a lane"):
        aq.assign_lane_head(
            conn, ALICE, segment_id=world.seg[0], person_id=world.p["chen"],
            expected_version=_version(conn, world.seg[0]),
        )  # fmt: skip
    aq.assign_lane_head(
        conn, ALICE, segment_id=world.lane, person_id=world.p["chen"],
        expected_version=_version(conn, world.lane),
    )  # fmt: skip
    assert _heads(conn, world.lane, "lane_head") == [(world.p["chen"], None)]


def test_suggestion_applies_as_one_change_and_undo_restores_exactly(
    conn: Connection, world: World
) -> None:
    p = world.p
    s0 = world.seg[0]
    aq.assign_street_head(
        conn, ALICE, segment_id=s0, person_id=p["zhang"], expected_version=_version(conn, s0),
        supervisor_id=p["li"],
    )  # fmt: skip
    state_before = [_heads(conn, s) for s in world.seg]
    suggestion, versions = aq.suggest(
        conn, street_office_id=world.office, people=[p["zhang"], p["liu"]]
    )
    assert suggestion.connected and suggestion.max_over_mean == 1.0
    assert suggestion.assignment.loc[s0, "person_id"] == p["zhang"]  # locked: kept
    assert set(suggestion.assignment["person_id"]) == {p["zhang"], p["liu"]}
    applied = aq.apply_suggestion(
        conn,
        ALICE,
        street_office_id=world.office,
        assignment=suggestion.assignment["person_id"].to_dict(),
        expected_versions=versions,
        supervisors={p["liu"]: p["zhao"]},
    )
    assert applied.n_slots == 3  # s0 was already 张三's
    slots = conn.execute(
        sa.text(
            "SELECT entity_id, after FROM audit_log WHERE change_id = :c "
            "AND entity_type = 'segment' ORDER BY id"
        ),
        {"c": applied.change_id},
    ).all()
    assert sorted(int(r.entity_id) for r in slots) == sorted(world.seg[1:])
    assert all(len(r.after["rows"]) == 1 for r in slots)
    assert _count(conn, "change_sets") == 5  # 3 appointments, 1 assignment, 1 suggestion
    assert "segment_no_head" not in set(applied.violations["code"])
    undone = aq.undo(conn, BOB, applied.change_id)
    assert [_heads(conn, s) for s in world.seg] == state_before
    row = conn.execute(
        sa.text("SELECT undone_by, undone_at IS NOT NULL AS done FROM change_sets WHERE id = :i"),
        {"i": applied.change_id},
    ).one()
    assert row.done and row.undone_by == "bob"
    with pytest.raises(ConflictError, match="already undone by bob"):
        aq.undo(conn, BOB, applied.change_id)
    # undoing the undo applies the suggestion again
    aq.undo(conn, ALICE, undone.change_id)
    assert [h[0][0] for h in (_heads(conn, s) for s in world.seg)] == [
        int(x) for x in suggestion.assignment["person_id"]
    ]


def test_undo_refuses_when_later_changes_touched_the_same_segment(
    conn: Connection, world: World
) -> None:
    p, s = world.p, world.seg[2]
    first = aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=_version(conn, s)
    )
    second = aq.assign_street_head(
        conn, BOB, segment_id=s, person_id=p["liu"], expected_version=_version(conn, s)
    )
    with pytest.raises(ConflictError, match=rf"later changes .*change {second.change_id} by bob"):
        aq.undo(conn, ALICE, first.change_id)
    assert _heads(conn, s) == [(p["liu"], None)]
    aq.undo(conn, ALICE, first.change_id, cascade=True)
    assert _heads(conn, s) == []
    states = (
        conn.execute(sa.text("SELECT id FROM change_sets WHERE undone_at IS NOT NULL ORDER BY id"))
        .scalars()
        .all()
    )
    assert states == [first.change_id, second.change_id]


def test_undo_of_a_load_is_refused_when_a_load_changed_it_since(
    conn: Connection, world: World
) -> None:
    p, s = world.p, world.seg[3]
    first = aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=_version(conn, s)
    )
    conn.execute(
        sa.text(
            "UPDATE assignments SET valid_to = now() WHERE target_id = :s AND valid_to IS NULL"
        ),
        {"s": s},
    )
    with pytest.raises(ConflictError, match="outside the assignment desk"):
        aq.undo(conn, ALICE, first.change_id)


def test_check_and_boards_read_the_state(conn: Connection, world: World) -> None:
    p = world.p
    aq.assign_street_head(
        conn, ALICE, segment_id=world.seg[0], person_id=p["zhang"],
        expected_version=_version(conn, world.seg[0]), supervisor_id=p["li"],
    )  # fmt: skip
    found = aq.check(conn, street_office_ids=[world.office])
    missing = found.loc[found["code"] == "segment_no_head", "target_id"].tolist()
    assert sorted(missing) == sorted(world.seg[1:])
    assert ("lane_no_head", world.lane) in set(zip(found["code"], found["target_id"], strict=True))
    boards = aq.board_rows(conn, ALICE, street_office_ids=[world.office])
    assert len(boards) == 4
    first = boards.set_index("segment_id").loc[world.seg[0]]
    assert first["label"] == "东四北大街（东四十条—北新桥）"
    assert (first["head_name"], first["head_phone"]) == ("张三", "13812345678")
    assert first["supervisor_name"] == "李二" and first["street_office"] == "东华门街道"
    masked = aq.board_rows(conn, ALICE, street_office_ids=[world.office], mask_phones=True)
    assert masked.set_index("segment_id").loc[world.seg[0], "head_phone"] == "138****5678"
    with pytest.raises(PermissionDeniedError):
        aq.board_rows(conn, Actor(username="v", role="viewer"))


def _audit_exports(conn: Connection) -> list[Any]:
    return conn.execute(
        sa.text(
            "SELECT actor, entity_id, detail FROM audit_log WHERE action = 'export.boards' "
            "ORDER BY id"
        )
    ).all()


def test_export_boards_checks_masks_renders_and_audits(
    conn: Connection, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from openpyxl import load_workbook

    from db.access import ROLE_PERMISSIONS

    p = world.p
    aq.assign_street_head(
        conn, ALICE, segment_id=world.seg[0], person_id=p["zhang"],
        expected_version=_version(conn, world.seg[0]), supervisor_id=p["li"],
    )  # fmt: skip
    aq.assign_lane_head(
        conn, ALICE, segment_id=world.lane, person_id=p["chen"],
        expected_version=_version(conn, world.lane),
    )  # fmt: skip
    made = aq.export_boards(
        conn, ALICE, fmt="xlsx", hotline="12345", lang="en", street_office_ids=[world.office],
        lanes=True,
    )  # fmt: skip
    assert (made.n_boards, made.n_vacant, made.file_name) == (5, 3, "notice-boards-en.xlsx")
    book = load_workbook(io.BytesIO(made.data))
    assert book.sheetnames == ["Street heads", "Lane heads", "Print"]
    street = list(book["Street heads"].values)[1]
    assert street[1:4] == ("东四北大街 (东四十条 – 北新桥)", "张三", "13812345678")
    assert list(book["Lane heads"].values)[1][1:4] == ("府学胡同", "陈五", "13800000006")
    (audit,) = _audit_exports(conn)
    assert audit.actor == "alice" and audit.entity_id == "xlsx"
    assert audit.detail["format"] == "xlsx" and audit.detail["language"] == "en"
    assert audit.detail["count"] == 5 and audit.detail["lanes"] is True
    assert audit.detail["street_office_ids"] == [world.office]
    # an actor who may export but not read personal data gets masked names and phones
    monkeypatch.setitem(ROLE_PERMISSIONS, "viewer", frozenset({"report.export"}))
    viewer = Actor(username="v", role="viewer")
    rows = aq.board_rows(conn, viewer, street_office_ids=[world.office])
    first = rows.set_index("segment_id").loc[world.seg[0]]
    assert (first["head_name"], first["head_phone"]) == ("张*", "138****5678")
    assert first["supervisor_name"] == "李*"
    pdf = aq.export_boards(conn, viewer, fmt="pdf", hotline="12345")
    assert pdf.data.startswith(b"%PDF") and pdf.media_type == "application/pdf"
    assert _audit_exports(conn)[-1].detail["masked_names"] is True
    monkeypatch.undo()
    with pytest.raises(PermissionDeniedError, match="may not export notice boards"):
        aq.export_boards(conn, viewer, fmt="pdf", hotline="12345")
    assert len(_audit_exports(conn)) == 2  # the refused export left no row
    with pytest.raises(DataError, match="xlsx or pdf"):
        aq.export_boards(conn, ALICE, fmt="docx", hotline="12345")  # type: ignore[arg-type]


# --- two writers on two connections --------------------------------------------------


@pytest.fixture
def committed(clean_db: Engine) -> Iterator[tuple[Engine, World]]:
    with clean_db.begin() as c:
        w = _seed(c)
    yield clean_db, w


def test_two_concurrent_writers_never_lose_an_update(committed: tuple[Engine, World]) -> None:
    engine, w = committed
    s = w.seg[0]
    with engine.connect() as c:
        seen = _version(c, s)
    outcome: dict[str, object] = {}
    a = engine.connect()
    tx = a.begin()
    aq.assign_street_head(a, ALICE, segment_id=s, person_id=w.p["zhang"], expected_version=seen)
    started = threading.Event()

    def bob() -> None:
        with engine.connect() as b, b.begin():
            b.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            started.set()
            try:
                aq.assign_street_head(
                    b, BOB, segment_id=s, person_id=w.p["liu"], expected_version=seen
                )
                outcome["bob"] = "saved"
            except ConflictError as exc:
                outcome["bob"] = str(exc)

    t = threading.Thread(target=bob)
    t.start()
    started.wait(10)
    t.join(0.5)
    assert t.is_alive()  # bob waits for alice's lock instead of writing over her
    tx.commit()
    a.close()
    t.join(20)
    assert "changed by alice" in str(outcome["bob"])
    with engine.connect() as c:
        assert _heads(c, s) == [(w.p["zhang"], None)]
        assert _version(c, s) == seen + 1


def test_command_line_suggests_applies_undoes_and_prints_boards(
    committed: tuple[Engine, World], tmp_path: Path
) -> None:
    from citygrid.cli import main
    from db.engine import get_engine

    engine, w = committed
    try:
        _run_cli(main, engine, w, tmp_path)
    finally:
        get_engine().dispose()  # the command line's cached engine; no pooled leftovers


def _run_cli(main: Any, engine: Engine, w: World, tmp_path: Path) -> None:
    office = "东华门街道"
    assert main(["assign", "check", "--street-office", office, "--lang", "en"]) == 0
    assert main(["assign", "suggest", "--street-office", office, "--person", "zhang"]) == 0
    with engine.connect() as c:
        assert all(_heads(c, s) == [] for s in w.seg)  # nothing saved without --apply
    args = ["assign", "suggest", "--street-office", office, "--person", "zhang", "--person", "liu"]
    assert main([*args, "--apply"]) == 0
    with engine.connect() as c:
        assert all(len(_heads(c, s)) == 1 for s in w.seg)
        change = c.execute(sa.text("SELECT max(id) FROM change_sets")).scalar_one()
    out = tmp_path / "boards.pdf"
    assert main(["assign", "boards", "--format", "pdf", "--out", str(out), "--mask-phones"]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    xlsx = tmp_path / "boards.xlsx"
    boards = ["assign", "boards", "--format", "xlsx", "--out", str(xlsx), "--lang", "en"]
    assert main([*boards, "--lanes", "--street-office", office]) == 0
    assert xlsx.read_bytes().startswith(b"PK")
    assert main(["assign", "undo", str(change)]) == 0
    assert main(["assign", "undo", str(change)]) == 1  # already undone: one error line
    with engine.connect() as c:
        assert all(_heads(c, s) == [] for s in w.seg)
        exported = c.execute(
            sa.text(
                "SELECT action, detail FROM audit_log WHERE entity_type = 'notice_boards' "
                "ORDER BY id"
            )
        ).all()
    assert [e.action for e in exported] == ["export.boards", "export.boards"]
    assert [(e.detail["format"], e.detail["language"]) for e in exported] == [
        ("pdf", "zh"),
        ("xlsx", "en"),
    ]
    assert exported[1].detail["count"] == 5 and exported[1].detail["lanes"] is True


def test_command_line_appoints_level_two_heads_and_sets_supervisors(
    committed: tuple[Engine, World], capsys: pytest.CaptureFixture[str]
) -> None:
    from citygrid.cli import main
    from db.engine import get_engine

    engine, w = committed
    office = "东华门街道"
    with engine.begin() as c:
        aq.assign_street_head(
            c, ALICE, segment_id=w.seg[0], person_id=w.p["zhang"],
            expected_version=_version(c, w.seg[0]), supervisor_id=w.p["li"],
        )  # fmt: skip
    try:
        capsys.readouterr()
        # 刘四 is no level-2 head yet: one clear line, nothing saved
        assert main(["assign", "supervisor", "--person", "张三", "--supervisor", "刘四"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not an active level-2 street head" in err
        assert main(["assign", "appoint", "--street-office", office, "--person", "刘四"]) == 0
        out = capsys.readouterr().out
        assert "刘四 appointed level-2 head of 东华门街道" in out
        assert main(["assign", "supervisor", "--person", "张三", "--supervisor", "刘四"]) == 0
        assert "张三 (level 3) reports to 刘四" in capsys.readouterr().out
        with engine.connect() as c:
            assert _heads(c, w.seg[0]) == [(w.p["zhang"], w.p["liu"])]
            top = aq.office_heads(c, street_office_ids=[w.office])
            assert (2, w.p["liu"], w.p["wang"]) in set(
                zip(top["level"], top["person_id"], top["supervisor_id"], strict=True)
            )  # a new level-2 head reports to the office's 总街长 by default
            change = c.execute(sa.text("SELECT max(id) FROM change_sets")).scalar_one()
            audited = c.execute(
                sa.text("SELECT actor FROM change_sets WHERE id = :c"), {"c": change}
            ).scalar_one()
        assert audited.startswith("system")
        assert main(["assign", "heads", "--street-office", office]) == 0
        listed = " ".join(capsys.readouterr().out.split())
        assert "刘四" in listed and "张三" in listed
        assert main(["assign", "undo", str(change)]) == 0
        with engine.connect() as c:
            assert _heads(c, w.seg[0]) == [(w.p["zhang"], w.p["li"])]
        assert main(["assign", "dismiss", "--street-office", office, "--person", "刘四"]) == 0
        with engine.connect() as c:
            top = aq.office_heads(c, street_office_ids=[w.office])
        assert w.p["liu"] not in set(top["person_id"])
    finally:
        get_engine().dispose()


def test_a_head_with_two_supervisors_can_be_given_one(conn: Connection, world: World) -> None:
    p = world.p
    for s, sup in zip(world.seg[:2], ("li", "zhao"), strict=True):
        aq.assign_street_head(
            conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=_version(conn, s),
            supervisor_id=p[sup],
        )  # fmt: skip
    with pytest.raises(ConflictError, match="you saw 李二, now 李二, 赵二"):
        aq.set_supervisor(
            conn, ALICE, person_id=p["zhang"], supervisor_id=p["zhao"],
            expected_supervisor_id=p["li"],
        )  # fmt: skip
    aq.set_supervisor(
        conn, ALICE, person_id=p["zhang"], supervisor_id=p["zhao"],
        expected_supervisor_id=frozenset({p["li"], p["zhao"]}),
    )  # fmt: skip
    assert [_heads(conn, s) for s in world.seg[:2]] == [[(p["zhang"], p["zhao"])]] * 2


def test_history_names_people_and_segments(conn: Connection, world: World) -> None:
    p, s = world.p, world.seg[1]
    aq.assign_street_head(
        conn, ALICE, segment_id=s, person_id=p["zhang"], expected_version=_version(conn, s),
        supervisor_id=p["li"],
    )  # fmt: skip
    latest = aq.history(conn, street_office_ids=[world.office], limit=1).iloc[0]
    assert latest["summary"] == "street head of 东四北大街（北新桥—簋街） -> 张三 (reports to 李二)"
    assert latest["summary_args"] == {
        "segment": "东四北大街（北新桥—簋街）",
        "person": "张三",
        "supervisor": "李二",
    }
    appointed = aq.history(conn, limit=10)
    assert "赵二 appointed level-2 head of 东华门街道" in set(appointed["summary"])
