"""The demo district: reproducible, tiled exactly, city-like, and loadable end to end."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from etl.demo.build import DemoData, build
from etl.demo.dongcheng import read_reference
from etl.demo.files import FILES, cut_at, read_manifest, shift_files, write_demo
from gis.bait import evaluate_bait_coverage, exclusion_zones
from gis.grid import check_tiling
from gis.profiles import load_bait_profile

AS_OF = dt.datetime(2026, 11, 20, 10, 30)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return build("tests", seed=2004, as_of=AS_OF)


@pytest.fixture(scope="module")
def dongcheng() -> DemoData:
    return build("S", seed=2004, as_of=AS_OF)


def _frames(d: DemoData) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("admin", "cells", "roads", "segments", "markets", "premises", "stations"):
        frame = getattr(d, name)
        out[name] = pd.DataFrame(frame.drop(columns="geometry")).assign(
            wkb=shapely.to_wkb(np.asarray(frame.geometry.values), hex=True)
        )
    for name in ("people", "assignments", "problems"):
        out[name] = getattr(d, name)
    return out


def test_the_same_seed_gives_the_same_district(small: DemoData) -> None:
    again = _frames(build("tests", seed=2004, as_of=AS_OF))
    for name, frame in _frames(small).items():
        pd.testing.assert_frame_equal(frame, again[name], obj=name)


def test_another_day_moves_only_what_is_dated(small: DemoData) -> None:
    later = build("tests", seed=2004, as_of=AS_OF + dt.timedelta(days=7))
    for name in ("cells", "roads", "segments", "markets", "premises"):
        pd.testing.assert_frame_equal(_frames(small)[name], _frames(later)[name], obj=name)
    assert later.problems.reported_at.max() > small.problems.reported_at.max()


def test_another_seed_gives_another_district(small: DemoData) -> None:
    other = build("tests", seed=7, as_of=AS_OF)
    assert set(other.roads.name) != set(small.roads.name)
    assert not other.problems[["lon", "lat"]].equals(small.problems[["lon", "lat"]])


# --- the whole of Dongcheng (size S) ------------------------------------------------------


def test_real_divisions_with_their_codes_and_names(dongcheng: DemoData) -> None:
    ref = read_reference().divisions
    admin = dongcheng.admin
    for level in ("street_office", "community"):
        real = ref[ref.level == level].set_index("code").name.sort_index()
        ours = admin[admin.level == level].set_index("code").name.sort_index()
        pd.testing.assert_series_equal(ours, real, check_names=False)
    assert (admin.level == "street_office").sum() == 17
    assert (admin.level == "community").sum() == 182


def test_communities_tile_the_district_and_offices_are_their_unions(dongcheng: DemoData) -> None:
    admin = dongcheng.admin
    district = admin[admin.level == "district"].geometry.iloc[0]
    comms = admin[admin.level == "community"]
    offices = admin[admin.level == "street_office"]
    assert (comms.geom_type == "Polygon").all()
    assert (offices.geom_type == "Polygon").all()  # each office in one piece
    assert comms.area.sum() == pytest.approx(district.area, rel=1e-9)
    union = shapely.union_all(np.asarray(comms.geometry.values))
    assert shapely.symmetric_difference(union, district).area < 1.0
    for code, geom in zip(offices.code, offices.geometry, strict=True):
        mine = comms[comms.parent_code == code]
        assert mine.area.sum() == pytest.approx(geom.area, rel=1e-9)
    assert admin.area[admin.level == "community"].min() > 20_000


def test_cells_tile_every_community_near_the_target(dongcheng: DemoData) -> None:
    cells = dongcheng.cells
    comms = dongcheng.admin[dongcheng.admin.level == "community"]
    assert check_tiling(cells, comms).empty
    assert 3_500 < len(cells) < 5_000
    share = cells.area_m2 / 10_000
    assert share.min() > 0.3
    assert share.max() < 2.5
    assert share.median() == pytest.approx(1.0, abs=0.15)
    assert cells.code.is_unique
    assert (cells.code.str[:12] == cells.community_code).all()
    assert cells.code.str.fullmatch(r"\d{15}").all()


def test_roads_look_like_a_city_not_a_chessboard(dongcheng: DemoData) -> None:
    roads, segs = dongcheng.roads, dongcheng.segments
    assert {"快速路", "主干路", "次干路", "支路", "胡同"} <= set(roads.road_class)
    assert roads.name.is_unique
    lanes = segs[segs.kind == "lane"]
    assert len(lanes) > 1_000
    assert 2_000 < len(segs) < 5_000
    dead_ends = (lanes.to_name == "尽头") | (lanes.from_name == "尽头")
    assert 0.1 < dead_ends.mean() < 0.7
    # an end meeting no road is named: a dead end, or the district boundary
    assert not (segs.from_name.isna() ^ segs.to_name.isna()).any()
    assert segs.name.str.contains("东城区界").sum() > 20
    assert not segs.name.str.contains("（—|—）").any()
    # blocks between streets vary in size, as in a real city
    district = dongcheng.admin[dongcheng.admin.level == "district"].geometry.iloc[0]
    streets = roads[roads.kind == "street"].geometry.values
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(
        shapely.union_all(np.concatenate([streets, [district.boundary]])))))  # fmt: skip
    areas = shapely.area(blocks)
    assert areas.std() / areas.mean() > 0.5
    named = segs[segs.kind == "street"]
    assert named.name.str.fullmatch(r".+（.+—.+）").mean() > 0.9


def test_places_and_stations_have_realistic_gaps(dongcheng: DemoData) -> None:
    prem = dongcheng.premises
    assert {"catering", "food_shop", "hotel", "supermarket", "garbage_station",
            "public_toilet", "canteen", "school", "kindergarten", "shop"} <= set(prem.kind)  # fmt: skip
    assert len(dongcheng.markets) >= 20
    st = dongcheng.stations
    assert 0.02 < (st.state == "damaged").mean() < 0.2
    assert (st.state == "missing").any()
    stale = pd.to_datetime(st.last_inspected) < pd.Timestamp(AS_OF - dt.timedelta(days=90))
    assert stale.any()
    catering = set(prem.code[prem.kind == "catering"])
    assert 0.05 < 1 - len(catering & set(st.premises_code)) / len(catering) < 0.5


def test_bait_stations_mostly_keep_the_rules(small: DemoData) -> None:
    """Judged by the default profile, as the coverage page judges them, few stations
    stand in exclusion zones (some do, on purpose), most premises with a rule meet it,
    and no place stands on a main road's carriageway. (The first generator put 48% of
    the stations in the zones, and 24% of the premises met the rule.)"""
    profile = load_bait_profile()
    cols = ["source", "code", "kind", "geometry"]
    places = gpd.GeoDataFrame(
        pd.concat(
            [small.markets.assign(source="market")[cols],
             small.premises.assign(source="premises")[cols]],
            ignore_index=True,
        ),
        crs=small.crs,
    )  # fmt: skip
    zones = exclusion_zones(small.premises, small.segments, profile=profile)
    ev = evaluate_bait_coverage(places, small.stations, profile=profile, zones=zones)
    misplaced = ev.stations.exclusion_id.notna()
    assert 0 < misplaced.mean() < 0.1
    assert set(ev.stations.exclusion_id[misplaced]) == {"school", "main_road"}
    judged = ev.premises.status[ev.premises.status.isin(["ok", "short"])]
    assert len(judged) > 100
    assert 0.55 < (judged == "ok").mean() < 0.9
    roads = shapely.union_all(np.asarray(zones.geometry[zones.exclusion_id == "main_road"]))
    assert not shapely.intersects(roads, shapely.centroid(np.asarray(places.geometry))).any()


def test_roster_has_three_levels_gaps_and_a_few_conflicts(dongcheng: DemoData) -> None:
    a = dongcheng.assignments
    heads = a[a.role == "street_head"]
    lvl1 = heads[heads.level == 1]
    assert sorted(lvl1.target_code) == sorted(
        dongcheng.admin.code[dongcheng.admin.level == "street_office"]
    )
    assert (heads[heads.level == 2].groupby("target_code").size() >= 2).all()
    lvl3 = heads[heads.level == 3]
    streets = dongcheng.segments.code[dongcheng.segments.kind == "street"]
    unassigned = ~streets.isin(lvl3.segment_code)
    assert 0.02 < unassigned.mean() < 0.12
    per_segment = lvl3.groupby("segment_code").size()
    assert 1 <= (per_segment > 1).sum() <= 20
    level2 = set(zip(heads.name[heads.level == 2], heads.phone[heads.level == 2], strict=True))
    assert set(zip(lvl3.supervisor, lvl3.supervisor_phone, strict=True)) <= level2
    lanes = dongcheng.segments.code[dongcheng.segments.kind == "lane"]
    assert lanes.isin(a.segment_code[a.role == "lane_head"]).mean() > 0.85
    keys = set(dongcheng.people.person_key)
    assert all(f"{n}|{p}" in keys for n, p in zip(a.name, a.phone, strict=True))


def test_problems_cluster_pulse_and_age_like_real_cases(dongcheng: DemoData) -> None:
    p = dongcheng.problems
    assert len(p) == 120_000
    assert p.case_no.is_unique
    reported = pd.to_datetime(p.reported_at.str[:19])
    assert reported.max() <= pd.Timestamp(AS_OF)
    assert reported.min() >= pd.Timestamp(AS_OF) - pd.Timedelta(days=731)
    assert (reported.dt.date == AS_OF.date()).sum() > 20  # today has data
    closed = (p.status == "closed").mean()
    assert 0.85 < closed < 0.99
    deadline = pd.to_datetime(p.deadline.str[:19])
    open_ = p.status.isin(["reported", "dispatched", "handling", "checking"])
    assert (open_ & (deadline < pd.Timestamp(AS_OF))).sum() > 10  # overdue
    assert (open_ & (deadline >= pd.Timestamp(AS_OF))).sum() > 10  # still in time
    closed_at = pd.to_datetime(p.closed_at.str[:19])
    on_time = (closed_at <= deadline)[p.status == "closed"].mean()
    assert 0.65 < on_time < 0.95
    cats = dongcheng.categories.set_index("code").patrol_category
    assert set(p.category_code.map(cats).dropna().astype(int)) == {1, 2, 3, 4, 5, 6}
    patrol = reported[p.source == "patrol"]
    per_day = patrol.dt.day_of_week.value_counts()
    assert per_day[[0, 1, 2, 3, 4]].mean() > 1.5 * per_day[[5, 6]].mean()
    mosquito = reported[p.category_code == "12004"].dt.month
    assert mosquito.isin([6, 7, 8]).sum() > 5 * mosquito.isin([12, 1, 2]).sum()
    # clustering: far more problems near markets than the land near markets would give
    pts = gpd.GeoSeries(gpd.points_from_xy(p.lon, p.lat, crs=4326)).to_crs(dongcheng.crs)
    near = shapely.union_all(np.asarray(dongcheng.markets.buffer(60).values))
    district = dongcheng.admin[dongcheng.admin.level == "district"].geometry.iloc[0]
    share = shapely.contains_xy(near, pts.x.to_numpy(), pts.y.to_numpy()).mean()
    assert share > 5 * near.area / district.area
    assert shapely.contains_xy(district.buffer(1), pts.x.to_numpy(), pts.y.to_numpy()).all()


# --- files ----------------------------------------------------------------------------------


def test_files_and_manifest(small: DemoData, tmp_path: Path) -> None:
    manifest = write_demo(small, tmp_path)
    assert [f["layer"] for f in manifest["files"]] == [f.layer for f in FILES]
    for f in FILES:
        assert (tmp_path / f.file).is_file()
    assert read_manifest(tmp_path)["counts"]["problems"] == len(small.problems)
    admin = gpd.read_file(tmp_path / "admin_areas.gpkg")
    # written in GCJ-02: offset from the metric geometry's WGS 84 by hundreds of metres
    wgs = small.admin.to_crs(4326)
    a = shapely.centroid(np.asarray(admin.geometry.values))
    b = shapely.centroid(np.asarray(wgs.geometry.values))
    assert 0.002 < float(np.median(shapely.distance(a, b))) < 0.01
    problems = pd.read_csv(tmp_path / "problems.csv", dtype=str)
    assert list(problems.columns) == [
        "case_no", "category_code", "source", "status", "reported_at", "deadline",
        "closed_at", "description", "address", "lon", "lat",
    ]  # fmt: skip


def test_the_shipped_sample_compares_last_month_with_the_same_month_last_year() -> None:
    """The prebuilt sample reaches back to the month a year before its last month (同比),
    and the READMEs name its current counts."""
    import gzip
    import re

    from etl.demo import SAMPLE_DIR

    manifest = read_manifest(SAMPLE_DIR)
    as_of = dt.datetime.fromisoformat(manifest["as_of"])
    with gzip.open(SAMPLE_DIR / "problems.csv.gz", "rt", encoding="utf-8") as f:
        reported = pd.read_csv(f, usecols=["reported_at"], dtype=str)["reported_at"]
    first = pd.to_datetime(reported.str[:19]).min().date()
    last_month = (as_of.date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    assert first <= last_month.replace(year=last_month.year - 1)
    # loading moves every date by the same whole days, so this holds on any later day
    assert manifest["sample"]["problems_months"] >= 14
    counts = manifest["counts"]
    assert len(reported) == counts["problems"]
    root = SAMPLE_DIR.parent.parent
    table = dict(
        re.findall(r"^\| `[\w.]+` \| (\w+) \| ([\d,]+) \|", (root / "data" / "README.md")
                   .read_text(encoding="utf-8"), re.M)
    )  # fmt: skip
    assert {k: int(v.replace(",", "")) for k, v in table.items()} == counts
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert f"{counts['grid_cells']:,} grid cells" in readme
    assert f"{counts['problems']:,} problems" in readme


def test_shift_moves_dated_columns_by_whole_days(small: DemoData, tmp_path: Path) -> None:
    write_demo(small, tmp_path / "src")
    out = shift_files(tmp_path / "src", tmp_path / "out", days=3)
    before = pd.read_csv(tmp_path / "src" / "problems.csv", dtype=str)
    after = pd.read_csv(out["problems"], dtype=str)
    delta = pd.to_datetime(after.reported_at, format="ISO8601") - pd.to_datetime(
        before.reported_at, format="ISO8601"
    )
    assert (delta == pd.Timedelta(days=3)).all()
    assert after.closed_at.isna().equals(before.closed_at.isna())
    assert after.reported_at.str.endswith("+08:00").all()
    st = pd.read_csv(out["bait_stations"], dtype=str)
    st0 = pd.read_csv(tmp_path / "src" / "bait_stations.csv", dtype=str)
    moved = pd.to_datetime(st.installed_on) - pd.to_datetime(st0.installed_on)
    assert (moved == pd.Timedelta(days=3)).all()


def test_a_folder_changed_within_the_hour_is_shifted_again(small: DemoData, tmp_path: Path) -> None:
    """Shifted copies are reused within the hour only for the same files: a sample
    regenerated after a load in the same hour once loaded the old copies' stations."""
    from etl.demo.loading import shifted_copies

    src, work = tmp_path / "src", tmp_path / "work"
    write_demo(small, src)
    now = AS_OF + dt.timedelta(days=2)
    first = shifted_copies(src, work, now=now)
    made = first["bait_stations"].stat().st_mtime_ns
    assert shifted_copies(src, work, now=now).keys() == first.keys()
    assert first["bait_stations"].stat().st_mtime_ns == made  # reused
    stations = pd.read_csv(src / "bait_stations.csv", dtype=str)
    stations.iloc[:-1].to_csv(src / "bait_stations.csv", index=False)
    again = shifted_copies(src, work, now=now + dt.timedelta(minutes=20))
    assert again == first
    assert len(pd.read_csv(again["bait_stations"], dtype=str)) == len(stations) - 1


def test_a_district_moved_to_a_later_morning_has_no_future(small: DemoData) -> None:
    # generated at 10:30; loaded the next day at 08:00 after a one-day shift
    now = AS_OF + dt.timedelta(days=1) - dt.timedelta(hours=2, minutes=30)
    shifted = small.problems.copy()
    for col in ("reported_at", "deadline", "closed_at"):
        t = pd.to_datetime(shifted[col].str[:19]) + pd.Timedelta(days=1)
        shifted[col] = t.dt.strftime("%Y-%m-%dT%H:%M:%S+08:00").where(t.notna(), None)
    cut = cut_at(shifted, now)
    reported = pd.to_datetime(cut.reported_at.str[:19])
    closed = pd.to_datetime(cut.closed_at.str[:19])
    assert reported.max() <= pd.Timestamp(now)
    assert closed.max() <= pd.Timestamp(now)
    assert len(cut) < len(shifted)
    assert (cut.status == "closed").sum() < (shifted.status == "closed").sum()
    assert cut.closed_at.isna()[cut.status != "closed"].all()


def test_scheme_14_fits_the_large_communities_in_99_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under scheme 14 the demo still builds: 西园子 (2.2 km², about 220 cells of
    10,000 m²) gets cells just large enough for 99; the others keep the target."""
    demo_build = importlib.import_module("etl.demo.build")
    one = demo_build.Size("one", problems=300, offices=("110101016000",))
    monkeypatch.setitem(demo_build.SIZES, "one", one)
    data = build("one", seed=2004, as_of=AS_OF, scheme="14")
    cells = data.cells
    assert cells.code.str.fullmatch(r"\d{14}").all()
    per = cells.groupby(cells.code.str[:12]).size()
    assert per.max() == 99
    assert per["110101016002"] == 99
    comms = data.admin[data.admin.level == "community"]
    assert check_tiling(cells.assign(community_code=cells.code.str[:12]), comms).empty
    median = cells.groupby(cells.code.str[:12]).area_m2.median()
    assert median["110101016002"] > 1.8 * 10_000
    assert median.drop("110101016002").between(5_000, 15_000).all()


# --- end to end on a real PostGIS -------------------------------------------------------------


@pytest.mark.db
def test_citygrid_demo_loads_the_tests_district_and_skips_it_the_second_time(
    clean_db: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from citygrid.cli import demo_cmd, main
    from etl.demo import loading

    build = importlib.import_module("etl.demo.build")  # the package's build() hides it

    monkeypatch.setattr(demo_cmd, "demo_root", lambda: tmp_path)
    # one "now" for both runs: the district is moved to the current hour, and a second
    # run in the next hour would rightly load the moved problems again
    frozen = build.beijing_now()
    monkeypatch.setattr(build, "beijing_now", lambda: frozen)
    monkeypatch.setattr(loading, "beijing_now", lambda: frozen)
    assert main(["demo", "--size", "tests", "--no-serve"]) == 0
    manifest = read_manifest(tmp_path / "tests-2004")
    counts = manifest["counts"]
    with clean_db.connect() as conn:

        def n(sql: str) -> int:
            return int(conn.scalar(sa.text(sql)))

        assert n("SELECT count(*) FROM admin_areas") == counts["admin_areas"]
        assert n("SELECT count(*) FROM grid_cells") == counts["grid_cells"]
        assert n("SELECT count(*) FROM road_segments") == counts["road_segments"] + counts["lanes"]
        assert n("SELECT count(*) FROM road_segments WHERE kind = 'lane'") == counts["lanes"]
        assert n("SELECT count(*) FROM premises") == counts["premises"]
        assert n("SELECT count(*) FROM bait_stations") == counts["bait_stations"]
        assert n("SELECT count(*) FROM problems") == counts["problems"]
        assert n("SELECT count(*) FROM problems WHERE cell_id IS NULL") == 0
        # moved forward to now: the newest problem is of the last day, none is later
        # (not "of today": just after midnight, today has no problems yet)
        assert n("SELECT count(*) FROM problems WHERE reported_at > now()") == 0
        assert n("SELECT count(*) FROM problems "
                 "WHERE reported_at > now() - interval '1 day'") > 0  # fmt: skip
        assert n("SELECT count(*) FROM assignments WHERE level = 3") > 0
        runs = n("SELECT count(*) FROM load_runs")
    capsys.readouterr()
    assert main(["demo", "--size", "tests", "--no-serve"]) == 0
    assert "already loaded" in capsys.readouterr().out
    with clean_db.connect() as conn:
        assert int(conn.scalar(sa.text("SELECT count(*) FROM load_runs"))) == runs
