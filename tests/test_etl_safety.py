"""A load completes or changes nothing; re-loading changes nothing; every run is recorded;
area-limited actors only load their own area."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from db.access import Actor
from db.queries.loads import load_history
from gis.errors import PermissionDeniedError
from tests.test_etl_formats import POINTS, World, build_world, lonlat, problems_frame

pytestmark = pytest.mark.db


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def many_problems(world: World, n: int) -> Path:
    frame = problems_frame().iloc[[0, 1, 3] * (n // 3 + 1)].head(n).reset_index(drop=True)
    frame["case_no"] = [f"M{i:05d}" for i in range(n)]
    path = world.folder / "many.csv"
    frame.to_csv(path, index=False)
    return path


def test_reloading_the_same_file_changes_nothing(world: World) -> None:
    path = many_problems(world, 50)
    first = world.load("problems", path, chunk_rows=16)
    before = world.rows("SELECT * FROM problems ORDER BY id")
    second = world.load("problems", path, chunk_rows=16)
    assert (first.n_inserted, second.n_inserted, second.n_updated, second.n_unchanged) == (
        50,
        0,
        0,
        50,
    )
    assert world.rows("SELECT * FROM problems ORDER BY id") == before


def test_changed_rows_are_updated_and_only_they(world: World) -> None:
    path = many_problems(world, 30)
    world.load("problems", path)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[5, "status"] = "处置中"
    frame.loc[7, "lon"], frame.loc[7, "lat"] = (str(v) for v in lonlat(700, 700))
    frame.to_csv(path, index=False)
    report = world.load("problems", path)
    assert (report.n_inserted, report.n_updated, report.n_unchanged) == (0, 2, 28)
    assert world.rows(
        "SELECT case_no, status FROM problems WHERE load_run_id = :r ORDER BY case_no",
        r=report.run_id,
    ) == [("M00005", "handling"), ("M00007", "closed")]
    assert (
        world.scalar(
            "SELECT c.code FROM problems p JOIN grid_cells c ON c.id = p.cell_id WHERE case_no = 'M00007'"
        )
        == "110101001001004"
    )


def test_keys_repeated_across_chunks_new_and_existing(world: World) -> None:
    frame = problems_frame()
    frame = pd.concat([frame, frame.iloc[[0]], frame.iloc[[2]]], ignore_index=True)
    frame.to_csv(world.folder / "d.csv", index=False)
    first = world.load("problems", world.folder / "d.csv", chunk_rows=2)  # empty table: copy path
    assert (first.n_inserted, first.n_rejected) == (4, 2)
    assert set(first.rejects["reason_code"]) == {"duplicate_key"}
    second = world.load("problems", world.folder / "d.csv", chunk_rows=2)  # staging path
    assert (second.n_unchanged, second.n_rejected) == (4, 2)
    assert set(second.rejects["row_no"]) == {6, 7}


def test_failure_half_way_rolls_everything_back(world: World) -> None:
    path = many_problems(world, 40)

    def explode(done: int, total: int | None) -> None:
        if done >= 20:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        world.load("problems", path, chunk_rows=10, progress=explode)
    assert world.scalar("SELECT count(*) FROM problems") == 0
    status, message = world.rows("SELECT status, message FROM load_runs ORDER BY id DESC LIMIT 1")[
        0
    ]
    assert status == "failed" and "disk on fire" in str(message)


def test_ctrl_c_rolls_back_and_marks_the_run_interrupted(world: World) -> None:
    path = many_problems(world, 40)

    def interrupt(done: int, total: int | None) -> None:
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        world.load("problems", path, chunk_rows=10, progress=interrupt)
    assert world.scalar("SELECT count(*) FROM problems") == 0
    assert world.scalar("SELECT status FROM load_runs ORDER BY id DESC LIMIT 1") == "interrupted"
    assert world.scalar("SELECT count(*) FROM audit_log WHERE action = 'data.load'") == 5


KILLED = """
import sys, time
from db.access import SYSTEM
from db.engine import make_engine
from etl.load import load_file

def progress(done, total):
    print("chunk", done, flush=True)
    time.sleep(60)

load_file(make_engine(), "problems", sys.argv[1], actor=SYSTEM, chunk_rows=10,
          progress=progress)
"""


def test_kill_minus_9_half_way_leaves_the_database_as_before(world: World) -> None:
    path = many_problems(world, 40)
    with subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=Path(__file__).resolve().parent.parent,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert first.startswith("chunk 10"), proc.stderr.read() if proc.stderr else ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with world.engine.connect() as conn:
            history = load_history(conn, limit=1)
        if history.iloc[0]["status"] != "running":
            break
        time.sleep(0.2)
    assert history.iloc[0]["status"] == "interrupted"
    assert world.scalar("SELECT count(*) FROM problems") == 0
    again = world.load("problems", path)  # the next load records the dead run as interrupted
    assert again.n_inserted == 40
    assert world.rows("SELECT status FROM load_runs WHERE layer = 'problems' ORDER BY id") == [
        ("interrupted",),
        ("done",),
    ]


def test_every_run_is_recorded_with_checksum_user_and_audit(world: World) -> None:
    path = many_problems(world, 10)
    report = world.load("problems", path, actor=Actor("ops", "admin"))
    row = world.rows(
        "SELECT layer, file_name, file_sha256, file_size, file_format, user_name, status, "
        "n_read, n_inserted, duration_s > 0, backend_pid IS NOT NULL FROM load_runs WHERE id = :r",
        r=report.run_id,
    )[0]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert row == (
        "problems",
        "many.csv",
        digest,
        path.stat().st_size,
        "csv",
        "ops",
        "done",
        10,
        10,
        True,
        True,
    )
    audit = world.rows(
        "SELECT actor, entity_id, after->>'status', (after->>'n_inserted')::int, detail->>'sha256' "
        "FROM audit_log WHERE action = 'data.load' AND entity_id = :r",
        r=str(report.run_id),
    )
    assert audit == [("ops", str(report.run_id), "done", 10, digest)]


def test_area_limited_actor_loads_only_their_street_offices(world: World) -> None:
    west = int(world.scalar("SELECT id FROM admin_areas WHERE code = '110101001000'"))  # type: ignore[arg-type]
    planner = Actor("west", "planner", street_office_ids=frozenset({west}))
    frame = problems_frame({**POINTS, "Q": ((-500, 500), None, None)})
    frame.to_csv(world.folder / "p.csv", index=False)
    report = world.load("problems", world.folder / "p.csv", actor=planner)
    assert report.n_inserted == 1  # P1, in the west; P2-P4 east; Q outside every office
    assert set(report.rejects["reason_code"]) == {"outside_your_area"}
    assert sorted(report.rejects["natural_key"]) == ["P2", "P3", "P4", "Q"]
    # an existing row of the east may not be changed by the west's planner either
    world.load("problems", world.folder / "p.csv")
    frame["status"] = "作废"
    frame.to_csv(world.folder / "p.csv", index=False)
    report = world.load("problems", world.folder / "p.csv", actor=planner)
    assert report.n_updated == 1 and report.n_rejected == 4


def test_permissions_are_checked_before_anything(world: World) -> None:
    path = many_problems(world, 3)
    with pytest.raises(PermissionDeniedError, match="may not load"):
        world.load("problems", path, actor=Actor("v", "viewer"))
    limited = Actor("p", "planner", street_office_ids=frozenset({1}))
    with pytest.raises(PermissionDeniedError, match="layer of the whole deployment"):
        world.load("categories", world.folder / "categories.csv", actor=limited)
    assert world.scalar("SELECT count(*) FROM load_runs WHERE layer = 'problems'") == 0
