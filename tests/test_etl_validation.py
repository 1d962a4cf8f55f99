"""Every kind of bad input is reported per row, in one pass, with its reason."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy.engine import Engine

from etl.contract import GeometryRule
from etl.geometry import GeometryStage, area_of_use
from etl.values import Issues
from tests.test_etl_formats import SRID, World, box, build_world, lonlat, problems_frame

pytestmark = pytest.mark.db


@pytest.fixture
def world(clean_db: Engine, tmp_path: Path) -> World:
    return build_world(clean_db, tmp_path)


def reasons(report: object) -> dict[int, set[str]]:
    frame = report.rejects  # type: ignore[attr-defined]
    return {int(r): set(g["reason_code"]) for r, g in frame.groupby("row_no")}


def test_problem_rows_each_with_their_reasons(world: World) -> None:
    frame = problems_frame().iloc[[0] * 13].reset_index(drop=True)
    frame["case_no"] = [f"C{i}" for i in range(13)]
    lon, lat = frame.loc[0, "lon"], frame.loc[0, "lat"]
    edits = {
        1: {"category_code": "99999"},  # unknown category (not in the table)
        2: {"status": "maybe"},
        3: {"reported_at": "last tuesday"},
        4: {"closed_at": "2024-03-04 09:00"},  # before reported
        5: {"lon": lat, "lat": lon},  # swapped
        6: {"lon": 121.47, "lat": 31.23},  # Shanghai
        7: {"case_no": "C0"},  # duplicate of row 2
        8: {"lon": None, "lat": None},
        9: {"case_no": None},
        10: {"source": "x" * 20},
        11: {"lon": 500.0},  # nonsense longitude with a sane latitude
        12: {"reported_at": None, "status": None},  # two problems in one row
    }
    for i, change in edits.items():
        for col, value in change.items():
            frame.loc[i, col] = value
    frame.to_csv(world.folder / "p.csv", index=False)
    report = world.load("problems", world.folder / "p.csv")
    assert (report.n_read, report.n_inserted, report.n_rejected) == (13, 1, 12)
    assert reasons(report) == {
        3: {"unknown_reference"},
        4: {"bad_choice"},
        5: {"bad_date"},
        6: {"inconsistent_dates"},
        7: {"swapped_lonlat"},
        8: {"outside_area"},
        9: {"duplicate_key"},
        10: {"missing_geometry"},
        11: {"missing_value"},
        12: {"too_long"},
        13: {"bad_coordinate"},
        14: {"missing_value"},
    }
    assert len(report.rejects[report.rejects.row_no == 14]) == 2  # both fields named
    assert list(report.rejects.columns) == [
        "row_no", "natural_key", "reason_code", "reason", "field", "value"
    ]  # fmt: skip
    assert report.reasons["missing_value"] == 2


def test_numbers_codes_and_choices(world: World) -> None:
    pd.DataFrame(
        {
            "code": ["A1", "A-2", "A3", "A4", "A5"],
            "name": ["a", "b", "c", "d", "e"],
            "patrol_category": ["1", "1", "x", "9", "2.5"],
            "deadline_unit": ["days", "days", "days", "days", "fortnights"],
        }
    ).to_csv(world.folder / "c.csv", index=False)
    report = world.load("categories", world.folder / "c.csv")
    assert report.n_inserted == 1
    assert reasons(report) == {
        3: {"bad_code"},
        4: {"bad_number"},
        5: {"out_of_range"},
        6: {"bad_number", "bad_choice"},
    }


def test_grid_codes_follow_the_scheme_and_community(world: World) -> None:
    gpd.GeoDataFrame(
        {
            "code": ["110101001001009", "11010100100109", "110101001002009", "110109001001001"],
            "community_code": ["110101001001", None, "110101001001", None],
        },
        geometry=[box(10, 10, 5, 5)] * 4,
        crs=SRID,
    ).to_file(world.folder / "c.gpkg")
    report = world.load("grid_cells", world.folder / "c.gpkg")
    assert report.n_inserted == 1
    assert reasons(report) == {2: {"bad_code"}, 3: {"code_mismatch"}, 4: {"unknown_reference"}}


def test_geometry_problems_and_unambiguous_repair(world: World) -> None:
    cut = shapely.Polygon(
        [(0, 0), (100, 0), (100, 100), (50, 100), (50, 50), (50, 100), (0, 100), (0, 0)]
    )
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    move = shapely.affinity.translate
    gpd.GeoDataFrame(
        {"code": ["G1", "G2", "G3", "G4", "G5"], "name": list("abcde"), "kind": ["x"] * 5},
        geometry=[
            move(cut, 449_100, 4_420_100),
            move(bowtie, 449_300, 4_420_100),
            shapely.LineString([(449_100, 4_420_100), (449_200, 4_420_200)]),
            None,
            shapely.Polygon(),
        ],
        crs=SRID,
    ).to_file(world.folder / "g.gpkg")
    report = world.load("premises", world.folder / "g.gpkg")
    assert (report.n_inserted, report.n_repaired) == (1, 1)
    assert reasons(report) == {
        2: {"invalid_geometry"},
        3: {"wrong_geometry_type"},
        4: {"missing_geometry"},
        5: {"missing_geometry"},
    }
    assert report.notes.iloc[0]["reason_code"] == "repaired_geometry"
    assert "Self-intersection" in report.notes.iloc[0]["reason"]
    assert world.scalar("SELECT ST_IsValid(geom) AND ST_Area(geom) = 10000 FROM premises")


def test_bad_wkt_in_a_text_column(world: World) -> None:
    pd.DataFrame(
        {
            "code": ["W1", "W2"],
            "name": ["a", "b"],
            "geometry": ["POLYGON((1 2", "POINT (116.41 39.93)"],
        }
    ).to_csv(world.folder / "w.csv", index=False)
    report = world.load("markets", world.folder / "w.csv")
    assert report.n_inserted == 1
    assert reasons(report) == {2: {"bad_geometry", "missing_geometry"}}


def test_rejects_file_and_table(world: World) -> None:
    frame = problems_frame()
    frame.loc[0, "status"] = "=HYPERLINK()"
    frame.loc[1, "reported_at"] = "not a date"
    frame.to_csv(world.folder / "p.csv", index=False)
    report = world.load("problems", world.folder / "p.csv")
    path = report.rejects_path
    assert path is not None and path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["row_no"], r["reason_code"], r["value"], r["loaded"]) for r in lines] == [
        ("2", "bad_choice", "'=HYPERLINK()", "no"),
        ("3", "bad_date", "not a date", "no"),
    ]
    assert world.rows(
        "SELECT row_no, natural_key, reason_code, value FROM load_rejects WHERE run_id = :r ORDER BY row_no",
        r=report.run_id,
    ) == [(2, "P1", "bad_choice", "=HYPERLINK()"), (3, "P2", "bad_date", "not a date")]


def test_strict_rejects_the_whole_file_but_records_why(world: World) -> None:
    frame = problems_frame()
    frame.loc[3, "category_code"] = "00000"
    frame.to_csv(world.folder / "p.csv", index=False)
    report = world.load("problems", world.folder / "p.csv", strict=True)
    assert (report.status, report.n_inserted, report.n_rejected) == ("rejected", 0, 1)
    assert world.scalar("SELECT count(*) FROM problems") == 0
    assert world.rows(
        "SELECT status, n_rejected FROM load_runs WHERE id = :r", r=report.run_id
    ) == [("rejected", 1)]
    assert world.scalar("SELECT count(*) FROM load_rejects WHERE run_id = :r", r=report.run_id) == 1
    assert report.rejects_path is not None and report.rejects_path.is_file()


def test_geometry_stage_alone_reports_outside_the_area_of_use() -> None:
    from pyproj import CRS

    stage = GeometryStage(
        GeometryRule("point"), 4548, area_of_use(CRS.from_epsg(4548), tolerance_m=0), source=None
    )
    import numpy as np

    issues = Issues(3)
    x = np.array([*lonlat(0, 0)[:1], 121.47, 116.4])
    y = np.array([lonlat(0, 0)[1], 31.23, 39.9])
    _, _, ok = stage.points(x, y, issues)
    assert ok.tolist() == [True, False, True]
    assert (
        "area of use"
        in issues.frame(np.arange(1, 4), np.array(["a", "b", "c"], dtype=object)).iloc[0]["reason"]
    )


def test_wall_times_are_read_in_the_deployment_time_zone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citygrid.settings import get_settings

    frame = problems_frame().iloc[[0, 1]].reset_index(drop=True)
    frame["reported_at"] = ["2024-03-05 10:00:00", "2024-03-05T10:00:00+00:00"]
    frame["closed_at"] = None
    frame.to_csv(world.folder / "p.csv", index=False)
    monkeypatch.setenv("CITYGRID_TIMEZONE", "Asia/Urumqi")  # UTC+6: a zone of its own
    get_settings.cache_clear()
    try:
        assert world.load("problems", world.folder / "p.csv").n_inserted == 2
    finally:
        monkeypatch.delenv("CITYGRID_TIMEZONE")
        get_settings.cache_clear()
    got = world.rows(
        "SELECT case_no, to_char(reported_at AT TIME ZONE 'UTC', 'HH24:MI') FROM problems "
        "WHERE case_no IN ('P1', 'P2') ORDER BY case_no"
    )
    assert got == [("P1", "04:00"), ("P2", "10:00")]


def test_load_file_needs_an_actor(world: World) -> None:
    from etl.load import load_file

    problems_frame().to_csv(world.folder / "p.csv", index=False)
    with pytest.raises(TypeError, match="actor"):
        load_file(world.engine, "problems", world.folder / "p.csv")  # type: ignore[call-arg]
