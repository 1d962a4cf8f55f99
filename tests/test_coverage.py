"""Bait-station rules (gis.bait), gap frames and reasons (gis.coverage), profiles and
exports, on small hand-checked geometries."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from gis.bait import (
    evaluate_bait_coverage,
    exclusion_zones,
    perimeter_stations_needed,
    uncovered_outline,
)
from gis.coverage import (
    GAP_COLUMNS,
    REASON_LABELS,
    REASONS,
    bait_gaps,
    gap_frame,
    reason_texts,
)
from gis.covering import solve_lscp
from gis.errors import CRSError, DataError
from gis.profiles import DEFAULT_BAIT_PROFILE, BaitProfile, load_bait_profile, parse_bait_profile
from gis.siting import bait_siting_instance

CRS = 4548


@pytest.fixture(scope="module")
def profile() -> BaitProfile:
    return load_bait_profile()


def _premises(kinds: list[str], geoms: list[object], **cols: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"kind": kinds, **cols}, geometry=geoms, crs=CRS)


def _stations(xy: list[tuple[float, float]], states: list[str] | None = None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"state": states or ["intact"] * len(xy)}, geometry=[Point(p) for p in xy], crs=CRS
    )


NO_STATIONS = gpd.GeoDataFrame({"state": []}, geometry=[], crs=CRS)
SQUARE_8 = [(0, 0), (20, 0), (40, 0), (40, 20), (40, 40), (20, 40), (0, 40), (0, 20)]


def _fewest(ev: object) -> float:
    return solve_lscp(bait_siting_instance(ev).coverage).objective  # type: ignore[arg-type]


# --- the rule on one outline ------------------------------------------------------------


def test_square_market_needs_eight_at_20_m(profile: BaitProfile) -> None:
    market = _premises(["market"], [box(0, 0, 40, 40)])
    ev = evaluate_bait_coverage(market, NO_STATIONS, profile=profile)
    row = ev.premises.iloc[0]
    assert (row["status"], row["required"], row["counted"]) == ("short", 8, 0)
    assert row["outline_m"] == pytest.approx(160.0)
    assert row["uncovered_m"] == pytest.approx(160.0)
    assert len(ev.demand) == 32  # 5 m stretches
    assert _fewest(ev) == 8

    full = evaluate_bait_coverage(market, _stations(SQUARE_8), profile=profile)
    assert full.premises["status"].tolist() == ["ok"]
    assert full.premises["uncovered_m"].tolist() == [0.0]


def test_eight_stations_in_one_corner_do_not_cover_the_outline(profile: BaitProfile) -> None:
    market = _premises(["market"], [box(0, 0, 40, 40)])
    clustered = _stations([(0, i) for i in range(8)])
    ev = evaluate_bait_coverage(market, clustered, profile=profile)
    row = ev.premises.iloc[0]
    assert row["counted"] == 8 and row["required"] == 8
    assert row["status"] == "short"
    # within 10 m (along the outline) of y in [0, 7]: five 5 m stretches (midpoints at
    # y = 12.5, 7.5, 2.5 and 2.5, 7.5 m along the south side); the rest is uncovered
    assert row["uncovered_m"] == pytest.approx(160.0 - 25.0)


@pytest.mark.parametrize(
    ("w", "h", "kind", "expected"),
    [
        (40, 40, "market", 8),
        (10, 15, "catering", 3),  # 50 m at 20 m
        (60, 30, "supermarket", 6),  # 180 m at 30 m
        (20, 20, "canteen", 4),
        (41, 40, "market", 9),  # 162 m: a little over 8 spacings
    ],
)
def test_fewest_stations_match_the_formula(
    profile: BaitProfile, w: float, h: float, kind: str, expected: int
) -> None:
    ev = evaluate_bait_coverage(_premises([kind], [box(0, 0, w, h)]), NO_STATIONS, profile=profile)
    spacing = profile.rule(ev.premises["rule_id"].iloc[0]).spacing_m
    assert perimeter_stations_needed(2 * (w + h), spacing_m=spacing) == expected
    assert ev.premises["required"].iloc[0] == expected
    assert _fewest(ev) == expected


def test_open_line_catering_street(profile: BaitProfile) -> None:
    street = _premises(["catering_street"], [LineString([(0, 0), (100, 0)])])
    ev = evaluate_bait_coverage(street, NO_STATIONS, profile=profile)
    assert ev.premises["required"].iloc[0] == 5
    assert _fewest(ev) == 5
    stations = _stations([(10, 0), (30, 2), (50, -3), (70, 0), (90, 0)])
    done = evaluate_bait_coverage(street, stations, profile=profile)
    assert done.premises["status"].tolist() == ["ok"]


def test_point_premises_get_a_nominal_footprint(profile: BaitProfile) -> None:
    # catering: 150 m2 -> a 12.25 m square, 49 m of outline -> 3 stations
    ev = evaluate_bait_coverage(_premises(["餐馆"], [Point(0, 0)]), NO_STATIONS, profile=profile)
    row = ev.premises.iloc[0]
    assert row["rule_id"] == "catering"
    assert row["outline_m"] == pytest.approx(4 * math.sqrt(150.0), abs=0.01)
    assert row["required"] == 3
    assert row.geometry.geom_type == "Point"  # the input geometry is kept


def test_attach_distance(profile: BaitProfile) -> None:
    market = _premises(["market"], [box(0, 0, 40, 40)])
    near = [(x, -4.9 if y == 0 else y) for x, y in SQUARE_8]  # south side 4.9 m out
    assert evaluate_bait_coverage(market, _stations(near), profile=profile).premises[
        "status"
    ].tolist() == ["ok"]
    far = [(x, -5.5 if y == 0 else y) for x, y in SQUARE_8]
    ev = evaluate_bait_coverage(market, _stations(far), profile=profile)
    assert ev.premises["counted"].tolist() == [5]
    assert ev.premises["status"].tolist() == ["short"]


def test_only_working_stations_count(profile: BaitProfile) -> None:
    market = _premises(["market"], [box(0, 0, 40, 40)])
    states = ["intact"] * 6 + ["damaged", "missing"]
    ev = evaluate_bait_coverage(market, _stations(SQUARE_8, states), profile=profile)
    assert ev.premises["counted"].tolist() == [6]
    assert ev.stations["counts"].tolist() == [True] * 6 + [False, False]
    # corners at (0, 40) and (0, 0) are missing: 10 m beside each is uncovered... and the
    # stretch between the two remaining neighbours on the west side
    assert ev.premises["uncovered_m"].tolist() == [pytest.approx(40.0)]


def test_overdue_stations_count_unless_the_profile_says_not(profile: BaitProfile) -> None:
    market = _premises(["market"], [box(0, 0, 40, 40)])
    st = _stations(SQUARE_8)
    st["last_inspected"] = [dt.date(2025, 6, 1)] * 7 + [dt.date(2025, 1, 1)]
    assert evaluate_bait_coverage(market, st, profile=profile, as_of=dt.date(2025, 6, 30)).premises[
        "status"
    ].tolist() == ["ok"]
    strict_text = DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8").replace(
        "overdue_stations_count = true", "overdue_stations_count = false"
    )
    strict = parse_bait_profile(strict_text)
    ev = evaluate_bait_coverage(market, st, profile=strict, as_of=dt.date(2025, 6, 30))
    assert ev.premises["counted"].tolist() == [7]
    with pytest.raises(DataError, match="last_inspected"):
        evaluate_bait_coverage(market, _stations(SQUARE_8), profile=strict)


def test_count_rule_for_toilets_and_garbage_stations(profile: BaitProfile) -> None:
    facilities = _premises(
        ["公厕", "garbage_station", "public_toilet"],
        [Point(0, 0), box(100, 0, 106, 5), Point(200, 0)],
    )
    st = _stations([(9, 0), (100, 14.9), (200, 13)])
    ev = evaluate_bait_coverage(facilities, st, profile=profile)
    # toilet: footprint 5.48 m wide, station 6.3 m from it; garbage station: 9.9 m;
    # last toilet: 10.3 m away, too far
    assert ev.premises["status"].tolist() == ["ok", "ok", "short"]
    assert ev.premises["required"].tolist() == [1, 1, 1]
    assert ev.premises["counted"].tolist() == [1, 1, 0]
    assert _fewest(ev) == 1


def test_one_station_on_a_shared_wall_serves_both_shops(profile: BaitProfile) -> None:
    shops = _premises(["catering", "catering"], [box(0, 0, 10, 10), box(10, 0, 20, 10)])
    ev = evaluate_bait_coverage(shops, NO_STATIONS, profile=profile)
    assert ev.premises["required"].tolist() == [2, 2]
    assert _fewest(ev) == 3  # not 4: one station on the shared wall counts for both


def test_kinds_markets_fallback_and_no_rule(profile: BaitProfile) -> None:
    frame = _premises(
        [" Farmers_Market ", "shop", None, "unknown"],  # type: ignore[list-item]
        [box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10), box(60, 0, 70, 10)],
        source=["premises", "premises", "market", "market"],
    )
    ev = evaluate_bait_coverage(frame, NO_STATIONS, profile=profile)
    assert ev.premises["rule_id"].fillna("-").tolist() == ["market", "-", "market", "market"]
    assert ev.premises["status"].tolist() == ["short", "no_rule", "short", "short"]
    assert ev.premises["required"].tolist()[1] == 0


# --- exclusion zones ----------------------------------------------------------------------


def test_school_zone_excludes_part_of_an_outline(profile: BaitProfile) -> None:
    school = _premises(["幼儿园"], [Point(20, -90)])
    roads = gpd.GeoDataFrame({"road_class": []}, geometry=[], crs=CRS)
    zones = exclusion_zones(school, roads, profile=profile)
    market = _premises(["market"], [box(0, 0, 40, 40)])
    ev = evaluate_bait_coverage(market, NO_STATIONS, profile=profile, zones=zones)
    assert ev.demand["excluded"].any() and not ev.demand["excluded"].all()
    assert ev.premises["status"].tolist() == ["short"]
    inst = bait_siting_instance(ev)
    assert (ev.in_zone(inst.candidates.geometry.values) < 0).all()
    # no suggested site lies within 100 m of the kindergarten
    assert inst.candidates.distance(Point(20, -90)).min() > 100.0


def test_main_road_along_one_side(profile: BaitProfile) -> None:
    road = gpd.GeoDataFrame(
        {"road_class": ["主干道"]}, geometry=[LineString([(-100, -5), (200, -5)])], crs=CRS
    )
    zones = exclusion_zones(NO_STATIONS.assign(kind=[]), road, profile=profile)
    assert zones["exclusion_id"].tolist() == ["main_road"]
    market = _premises(["market"], [box(0, 0, 40, 40)])
    ev = evaluate_bait_coverage(market, NO_STATIONS, profile=profile, zones=zones)
    # within 15 m of the road: the south side and 10 m of the east and west sides
    assert int(ev.demand["excluded"].sum()) == 8 + 2 + 2
    assert ev.premises["required"].tolist() == [5]  # 100 m left at 20 m
    assert _fewest(ev) == 5


def test_premises_wholly_in_a_zone_are_exempt_and_stations_there_flagged(
    profile: BaitProfile,
) -> None:
    school = _premises(["school"], [box(0, 0, 50, 50)])
    zones = exclusion_zones(
        school, gpd.GeoDataFrame({"road_class": []}, geometry=[], crs=CRS), profile=profile
    )
    frame = _premises(["canteen", "toilet"], [box(10, 60, 30, 80), Point(60, 60)], code=["C", "T"])
    st = _stations([(10, 60), (400, 400)])
    st["id"] = [11, 12]
    st["code"] = ["S11", "S12"]
    ev = evaluate_bait_coverage(frame, st, profile=profile, zones=zones)
    assert ev.premises["status"].tolist() == ["exempt", "exempt"]
    assert ev.premises["required"].tolist() == [0, 0]
    layers = bait_gaps(ev)
    assert layers["premises_bait"].empty
    mis = layers["station_misplaced"]
    assert mis["object_id"].tolist() == [11]
    assert mis["reason_zh"].tolist() == ["毒饵站位于禁设区：学校及托幼机构100米内"]
    assert mis["reason_en"].tolist() == [
        "the station stands in an exclusion zone: within 100 m of schools and kindergartens"
    ]


# --- gap frames and outlines --------------------------------------------------------------


def test_bait_gaps_and_uncovered_outline(profile: BaitProfile) -> None:
    frame = _premises(
        ["market", "market"],
        [box(0, 0, 40, 40), box(100, 0, 140, 40)],
        code=["M1", "M2"],
        name=["东四市场", "北新桥市场"],
        object_type=["market", "market"],
        object_id=[1, 2],
        street_office_id=[7, 8],
    )
    frame.index = pd.Index([10, 20])
    st = _stations(SQUARE_8[:7] + [(x + 100, y) for x, y in SQUARE_8])
    ev = evaluate_bait_coverage(frame, st, profile=profile)
    gaps = bait_gaps(ev)["premises_bait"]
    assert tuple(gaps.columns[: len(GAP_COLUMNS)]) == GAP_COLUMNS
    assert gaps.index.tolist() == [10]
    row = gaps.iloc[0]
    assert (row["object_code"], row["name"], row["object_id"], row["street_office_id"]) == (
        "M1",
        "东四市场",
        1,
        7,
    )
    assert row["reason_en"] == (
        "too few bait stations: 8 needed at 20 m spacing, 7 working, 20 m of outline uncovered"
    )
    lines = uncovered_outline(ev)
    assert lines.index.tolist() == [10]
    assert lines["uncovered_m"].tolist() == [20.0]
    assert lines.geometry.iloc[0].length == pytest.approx(20.0)
    assert lines.geometry.iloc[0].distance(Point(0, 20)) == pytest.approx(0.0)


def test_inputs_are_not_mutated(profile: BaitProfile) -> None:
    market = _premises(["market"], [Point(0, 0)])
    st = _stations([(0, 0)])
    before_p, before_s = market.copy(), st.copy()
    evaluate_bait_coverage(market, st, profile=profile)
    pd.testing.assert_frame_equal(market, before_p)
    pd.testing.assert_frame_equal(st, before_s)


def test_input_errors(profile: BaitProfile) -> None:
    lonlat = gpd.GeoDataFrame({"kind": ["market"]}, geometry=[Point(116.4, 39.9)], crs=4326)
    with pytest.raises(CRSError, match="metric projected"):
        evaluate_bait_coverage(lonlat, NO_STATIONS, profile=profile)
    nokind = gpd.GeoDataFrame({"type": ["market"]}, geometry=[Point(0, 0)], crs=CRS)
    with pytest.raises(DataError, match="'kind' column; columns are: type"):
        evaluate_bait_coverage(nokind, NO_STATIONS, profile=profile)
    market = _premises(["market"], [Point(0, 0)])
    other = _stations([(0, 0)]).set_crs(4547, allow_override=True)
    with pytest.raises(CRSError, match="reproject"):
        evaluate_bait_coverage(market, other, profile=profile)
    lines = gpd.GeoDataFrame(
        {"state": ["intact"]}, geometry=[LineString([(0, 0), (1, 1)])], crs=CRS
    )
    with pytest.raises(DataError, match="must be Points"):
        evaluate_bait_coverage(market, lines, profile=profile)


def test_every_reason_has_a_label() -> None:
    assert set(REASON_LABELS) == set(REASONS)


def test_reason_texts_and_gap_frame() -> None:
    frame = pd.DataFrame(
        {
            "reason_code": ["segment_head_inactive", "segment_no_head"],
            "person_count": [2, 0],
            "geometry": [LineString([(0, 0), (1, 0)])] * 2,
        }
    )
    zh, en = reason_texts(frame)
    assert zh.tolist() == ["路段的三级街长已停用（2人）", "路段没有三级街长"]
    assert en.tolist()[0] == "the segment's level-3 street head is no longer active (2)"
    g = gap_frame(frame, gap_type="segment_no_head", crs=CRS)
    assert tuple(g.columns[: len(GAP_COLUMNS)]) == GAP_COLUMNS
    assert "person_count" in g.columns
    empty = gap_frame(frame.iloc[:0], gap_type="lane_no_head", crs=CRS)
    assert empty.empty and tuple(empty.columns[: len(GAP_COLUMNS)]) == GAP_COLUMNS
    with pytest.raises(DataError, match="unknown reason code"):
        reason_texts(pd.DataFrame({"reason_code": ["nope"]}))
    with pytest.raises(DataError, match="unknown gap type"):
        gap_frame(frame, gap_type="nope", crs=CRS)


def _reason_reference(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Reason texts as the first version made them: ``str.format`` row by row."""
    rows = frame.to_dict("records")
    return (
        [REASONS[r["reason_code"]][0].format(**r) for r in rows],
        [REASONS[r["reason_code"]][1].format(**r) for r in rows],
    )


def test_reason_texts_match_formatting_row_by_row() -> None:
    frame = pd.DataFrame(
        {
            "reason_code": [
                "bait_perimeter_short",
                "station_overdue",
                "bait_count_short",
                "station_in_exclusion",
                "segment_head_inactive",
                "station_missing",
                "bait_perimeter_short",
                "lane_head_inactive",
            ],
            "spacing_m": [20.0, np.nan, 30.0, np.nan, np.nan, np.nan, 29.5, np.nan],
            "required": [8, 0, 2, 0, 0, 0, 13, 0],
            "counted": [7, 0, 1, 0, 0, 0, 0, 0],
            "uncovered_m": [20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 380.49, 0.0],
            "max_age_days": pd.array([None, 30, None, None, None, None, None, None], "Int64"),
            "last_inspected": [None, dt.date(2025, 5, 1), None, None, None, None, None, None],
            "zone_zh": [None, None, None, "学校、幼儿园周边100米", None, None, None, None],
            "zone_en": [None, None, None, "within 100 m of a school", None, None, None, None],
            "person_count": [0, 0, 0, 0, 2, 0, 0, 1],
        },
        index=[10, 3, 7, 7, 1, 0, 99, 5],  # not a range, and repeated: rows go by position
    )
    zh, en = reason_texts(frame)
    assert (zh.tolist(), en.tolist()) == _reason_reference(frame)
    assert zh.iloc[0] == "周边毒饵站不足：按20米间距应设8个，有效7个，20米未覆盖"
    assert en.iloc[1] == "the station was not inspected for over 30 days (last 2025-05-01)"
    assert zh.index.tolist() == frame.index.tolist()
    with pytest.raises(DataError, match="reason 'bait_count_short' needs a 'counted' column"):
        reason_texts(pd.DataFrame({"reason_code": ["bait_count_short"], "required": [1]}))


def test_every_reason_template_names_plain_columns() -> None:
    import string

    for zh, en in REASONS.values():
        for template in (zh, en):
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            assert all(f.isidentifier() for f in fields), template


def test_names_stay_importable_where_callers_found_them() -> None:
    import gis.bait
    import gis.coverage
    import gis.covering
    import gis.siting

    for name in (
        "BaitEvaluation",
        "evaluate_bait_coverage",
        "exclusion_zones",
        "perimeter_stations_needed",
        "uncovered_outline",
    ):
        assert getattr(gis.coverage, name) is getattr(gis.bait, name)
    for name in ("SolveResult", "solve_lscp", "solve_mclp"):
        assert getattr(gis.siting, name) is getattr(gis.covering, name)


# --- exemption by the union of the zones a footprint meets --------------------------------------

ZONES = gpd.GeoDataFrame(
    {"exclusion_id": ["school", "main_road", "school", "main_road"]},
    geometry=[box(0, 0, 10, 10), box(10, 0, 25, 10), box(5, 5, 25, 15), box(100, 100, 110, 110)],
    crs=CRS,
)


def test_covered_by_zones_unites_only_the_zones_each_footprint_meets() -> None:
    from gis.bait import _covered_by_zones

    feet = np.array(
        [
            box(1, 1, 9, 9),  # inside one zone
            box(5, 2, 15, 8),  # across two zones that touch
            box(6, 2, 22, 12),  # needs all three zones at once
            box(6, 2, 27, 12),  # sticks out of the three to the east
            box(50, 50, 60, 60),  # near no zone
            box(105, 105, 115, 108),  # half in the far zone
            Point(10, 5).buffer(1),  # on the seam of two zones
        ],
        dtype=object,
    )
    got = _covered_by_zones(feet, ZONES)
    assert got.tolist() == [True, True, True, False, False, False, True]
    # the first version: one union of every zone of the city, then the test
    one_union = shapely.covered_by(feet, shapely.union_all(np.asarray(ZONES.geometry.values)))
    assert got.tolist() == one_union.tolist()
    assert _covered_by_zones(feet[:0], ZONES).tolist() == []
    assert not _covered_by_zones(feet, ZONES.iloc[:0]).any()


def test_facilities_exempt_only_where_zones_cover_them_together(profile: BaitProfile) -> None:
    # toilets (points with a nominal square): on the seam of two zones, on their east
    # edge (half out), far from any
    toilets = _premises(["公厕", "公厕", "公厕"], [Point(10, 5), Point(25, 10), Point(60, 60)])
    ev = evaluate_bait_coverage(toilets, NO_STATIONS, profile=profile, zones=ZONES)
    assert ev.premises["status"].tolist() == ["exempt", "short", "short"]
    assert ev.premises["required"].tolist() == [0, 1, 1]


# --- profiles -------------------------------------------------------------------------------


def test_default_profile_values(profile: BaitProfile) -> None:
    assert profile.rule("market").spacing_m == 20.0
    assert profile.rule("catering").spacing_m == 20.0
    assert profile.rule("canteen").spacing_m == 20.0
    assert profile.rule("building").spacing_m == 30.0
    assert profile.rule("sanitation").mode == "count"
    assert profile.stations.count_states == ("intact",)
    ex = {e.id: e for e in profile.exclusions}
    assert ex["school"].buffer_m == 100.0 and ex["school"].source == "premises"
    assert ex["main_road"].source == "road_segments"
    assert profile.kind_to_rule()["农贸市场"] == "market"
    with pytest.raises(DataError, match="no rule 'nope'"):
        profile.rule("nope")


def test_profile_problems_are_all_reported_at_once() -> None:
    text = DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8")
    text = text.replace("spacing_m = 20.0          # [A] 室外间隔20米一个", 'spacing_m = "20"')
    text = text.replace('count_states = ["intact"]', 'count_states = ["intact", "broken"]')
    text = text.replace('markets_rule = "market"', 'markets_rule = "bazaar"\ncolour = "red"')
    text = text.replace('"canteen", "食堂"]', '"canteen", "食堂", "餐饮"]')
    text = text.replace("buffer_m = 100.0", "buffer_m = -1")
    with pytest.raises(DataError) as err:
        parse_bait_profile(text, source="city.toml")
    msg = str(err.value)
    assert msg.startswith("bait-station profile city.toml has 6 problem(s)")
    for part in (
        "rules[0].spacing_m: needs a number, got '20'",
        "stations.count_states: unknown state(s) broken",
        "markets_rule: 'bazaar' is not a rule id",
        "profile: unknown key(s) colour",
        "kind '餐饮' is listed by both 'catering' and 'canteen'",
        "exclusions[0].buffer_m: must not be negative, got -1",
        "citygrid coverage profile --write FILE",
    ):
        assert part in msg


def test_profile_structure_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not valid TOML"):
        parse_bait_profile("rules = [", source="x")
    minimal = """
profile_version = 1
markets_rule = "m"
[stations]
count_states = ["intact"]
inspection_max_age_days = 0
[[rules]]
id = "m"
kinds = ["market"]
mode = "count"
spacing_m = 20
attach_m = 5
point_footprint_m2 = 100
[[rules]]
id = "m"
kinds = []
mode = "circle"
attach_m = 5
point_footprint_m2 = 0
[[exclusions]]
id = "x"
source = "rivers"
buffer_m = 1
"""
    with pytest.raises(DataError) as err:
        parse_bait_profile(minimal)
    msg = str(err.value)
    for part in (
        "inspection_max_age_days: must be at least 1, got 0",
        "rules[0].spacing_m: only a 'perimeter' rule takes it",
        "rules[0].min_stations: needs a whole number",
        "rules[1].mode: must be 'perimeter' or 'count', got 'circle'",
        "rules[1].kinds: needs a list of non-empty texts",
        "rules[1].point_footprint_m2: must be greater than 0",
        "rules: id 'm' is used twice",
        "exclusions[0].source: must be 'premises' or 'road_segments', got 'rivers'",
    ):
        assert part in msg
    with pytest.raises(DataError, match="not found"):
        load_bait_profile(tmp_path / "none.toml")
    custom = tmp_path / "city.toml"
    custom.write_text(
        DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8").replace(
            "spacing_m = 30.0", "spacing_m = 25.0"
        ),
        encoding="utf-8",
    )
    assert load_bait_profile(custom).rule("building").spacing_m == 25.0
    assert np.isclose(load_bait_profile(str(custom)).rule("market").spacing_m, 20.0)


# --- exports ----------------------------------------------------------------------------------


def _layers() -> dict[str, gpd.GeoDataFrame]:
    stations = gap_frame(
        pd.DataFrame(
            {
                "reason_code": ["station_overdue", "station_missing"],
                "object_id": [1, 2],
                "object_code": ["B1", "B2"],
                "max_age_days": [30, 30],
                "last_inspected": [dt.date(2025, 5, 1), None],
                "reported_at": pd.to_datetime(["2025-06-01T02:00Z", None], utc=True),
                "geometry": [Point(449_000, 4_420_000), Point(449_100, 4_420_000)],
            }
        ),
        gap_type="station_fault",
        crs=CRS,
    )
    outlines = gap_frame(
        pd.DataFrame(
            {
                "reason_code": ["bait_count_short"],
                "required": [1],
                "counted": [0],
                "geometry": [box(449_000, 4_420_000, 449_010, 4_420_010)],
            }
        ),
        gap_type="premises_bait",
        crs=CRS,
    )
    return {"station_fault": stations, "premises_bait": outlines, "lane_no_head": stations.iloc[:0]}


def test_excel_export(tmp_path: Path) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from reports.exports import excel_bytes

    data = excel_bytes(
        _layers(),
        titles={"station_fault": "异常毒饵站", "premises_bait": "a/b:c*d?" + "x" * 40},
        headers={"object_code": "编码"},
        coords="gcj02",
    )
    wb = load_workbook(BytesIO(data))
    assert wb.sheetnames == ["汇总 summary", "异常毒饵站", "a_b_c_d_" + "x" * 23, "lane_no_head"]
    summary = [[c.value for c in row] for row in wb["汇总 summary"].iter_rows()]
    assert summary[1:] == [["异常毒饵站", 2], ["a/b:c*d?" + "x" * 40, 1], ["lane_no_head", 0]]
    ws = wb["异常毒饵站"]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["gap_type", "reason_code", "reason_zh"] and "编码" in head
    assert "geometry" not in head and head[-2:] == ["lon", "lat"]
    row = dict(zip(head, [c.value for c in ws[2]], strict=True))
    assert row["reason_zh"] == "毒饵站超过30天未巡查（上次2025-05-01）"
    assert row["reported_at"] == dt.datetime(2025, 6, 1, 10, 0)  # Beijing wall-clock time
    # GCJ-02 is offset from WGS 84 by a few hundred metres in Beijing
    assert 116.40 < row["lon"] < 116.42 and 39.90 < row["lat"] < 39.93
    empty_row = dict(zip(head, [c.value for c in ws[3]], strict=True))
    assert empty_row["last_inspected"] is None and empty_row["reported_at"] is None
    assert [c.value for c in wb["lane_no_head"][1]][:2] == ["gap_type", "reason_code"]


def test_excel_refuses_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.exports as ex

    monkeypatch.setattr(ex, "EXCEL_MAX_ROWS", 1)
    with pytest.raises(DataError, match="station_fault have more rows than an Excel sheet"):
        ex.excel_bytes(_layers())


def test_geopackage_export(tmp_path: Path) -> None:
    import pyogrio

    from reports.exports import geopackage_bytes, write_export

    path = tmp_path / "gaps.gpkg"
    path.write_text("old")
    assert write_export(_layers(), path) == "gpkg"
    layers = dict(pyogrio.list_layers(path).tolist())
    assert set(layers) == {"station_fault", "premises_bait", "lane_no_head"}
    back = pyogrio.read_dataframe(path, layer="station_fault")
    assert back.crs.to_epsg() == CRS and len(back) == 2
    assert back["reason_zh"].tolist()[1] == "毒饵站缺失"
    assert back["last_inspected"].tolist()[0] in ("2025-05-01", dt.date(2025, 5, 1))
    assert pyogrio.read_dataframe(path, layer="lane_no_head").empty
    assert geopackage_bytes(_layers())[:16] == b"SQLite format 3\x00"
    with pytest.raises(DataError, match="letters, digits and _"):
        write_export({"bad name": _layers()["station_fault"]}, tmp_path / "x.gpkg")
    with pytest.raises(DataError, match="needs a GeoDataFrame"):
        write_export({"plain": pd.DataFrame({"a": [1]})}, tmp_path / "y.gpkg")
    with pytest.raises(DataError, match=r"name a \.xlsx"):
        write_export(_layers(), tmp_path / "gaps.shp")
    assert write_export(_layers(), tmp_path / "gaps.XLSX") == "xlsx"


def test_excel_keeps_formula_like_text_as_text() -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from reports.exports import excel_bytes

    evil = '=HYPERLINK("http://evil.example","点击")'
    layer = gpd.GeoDataFrame(
        {"name": [evil, "-1+2", "@SUM(A1)", "+86 10", "东四北大街"], "n": [1, -2, 3, 4, 5]},
        geometry=[Point(449_000, 4_420_000)] * 5,
        crs=CRS,
    )
    data = excel_bytes({"gaps": layer}, titles={"gaps": "=1+1"}, headers={"n": "=A1"})
    wb = load_workbook(BytesIO(data))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    texts = {c.value: c.data_type for c in cells if isinstance(c.value, str)}
    assert texts[evil] == texts["=1+1"] == texts["=A1"] == texts["-1+2"] == "s"
    assert texts["@SUM(A1)"] == texts["+86 10"] == "s"
    ws = wb.worksheets[1]  # named by its title, "=1+1": a sheet name is never evaluated
    assert [c.value for c in ws["A"]][1:] == layer["name"].tolist()
    assert [c.value for c in ws["B"]][1:] == [1, -2, 3, 4, 5]  # numbers stay numbers
    assert ws["A1"].font.b and ws["B1"].font.b  # headers still bold
