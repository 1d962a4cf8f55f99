"""``citygrid load``, ``load layers`` and ``load history`` as a user types them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from citygrid.cli import main
from tests.test_etl_formats import World, build_world, problems_frame

pytestmark = pytest.mark.db


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["load", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_load_prints_a_summary(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    path = world.folder / "p.csv"
    frame = problems_frame()
    frame.loc[1, "status"] = "不知道"
    frame.to_csv(path, index=False)
    code, out, _ = run(capsys, "problems", str(path), "--rejects", str(world.folder / "bad.csv"))
    assert code == 0
    assert "loaded (new)           3" in out.replace(" 3 ", " 3")
    assert "bad_choice" in out and "got 不知道" in out
    assert (world.folder / "bad.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_missing_column_is_one_clear_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    path = world.folder / "p.csv"
    problems_frame().rename(columns={"lon": "东经", "lat": "北纬"}).to_csv(path, index=False)
    code, out, err = run(capsys, "problems", str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: p.csv has no geometry and no coordinate column `lon`")
    assert "columns are: case_no, category_code" in err and "--map 经度=lon" in err
    code, out, _ = run(capsys, "problems", str(path), "--map", "东经=lon", "--map", "北纬=lat")
    assert code == 0 and world.scalar("SELECT count(*) FROM problems") == 4


def test_mapping_file(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    path = world.folder / "p.csv"
    problems_frame().rename(columns={"case_no": "单号", "lon": "E", "lat": "N"}).to_csv(
        path, index=False
    )
    toml = world.folder / "map.toml"
    toml.write_text('"单号" = "case_no"\n[problems]\nE = "lon"\nN = "lat"\n', encoding="utf-8")
    code, _, err = run(capsys, "problems", str(path), "--mapping-file", str(toml))
    assert code == 0, err
    assert world.scalar("SELECT count(*) FROM problems") == 4


def test_strict_exits_non_zero_and_loads_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    path = world.folder / "p.csv"
    frame = problems_frame()
    frame.loc[0, "reported_at"] = "昨天"
    frame.to_csv(path, index=False)
    code, out, _ = run(capsys, "problems", str(path), "--strict")
    assert code == 1
    assert "rejected: nothing was loaded" in out
    assert world.scalar("SELECT count(*) FROM problems") == 0


def test_unknown_layer_and_bad_map(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "roadz", str(world.folder / "categories.csv"))
    assert code == 1 and "unknown layer 'roadz'" in err
    code, _, err = run(capsys, "categories", str(world.folder / "categories.csv"), "--map", "x")
    assert code == 1 and "write it as FILE_COLUMN=LAYER_COLUMN" in err


def test_layers_lists_columns_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layers")
    assert code == 0
    for layer in ("admin_areas", "grid_cells", "lanes", "assignments", "problems"):
        assert f"\n{layer}  " in f"\n{out}"
    code, out, _ = run(capsys, "layers", "problems")
    assert "*case_no" in out and "经度" in out and "grid_cells" not in out


def test_history_and_one_runs_rejects(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    path = world.folder / "p.csv"
    frame = problems_frame()
    frame.loc[2, "category_code"] = "77777"
    frame.to_csv(path, index=False)
    run(capsys, "problems", str(path))
    code, out, _ = run(capsys, "history", "--limit", "3")
    assert code == 0 and "problems" in out and "p.csv" in out and "done" in out
    run_id = world.scalar("SELECT max(id) FROM load_runs")
    code, out, _ = run(capsys, "history", "--run", str(run_id))
    assert code == 0 and "unknown_reference: 1 rows" in out and "77777" in out
    code, _, err = run(capsys, "history", "--run", "99999")
    assert code == 1 and "there is no load run 99999" in err
