"""Rule checks of street-head assignments on a small hand-built street office."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import LineString

from gis.assignment import RULES, VIOLATION_COLUMNS, check_rules, segment_label
from gis.errors import DataError

OFFICE = 1


def _segments() -> pd.DataFrame:
    """Five street segments along one road and a lane, in office 1."""
    return pd.DataFrame(
        {
            "kind": ["street", "street", "street", "street", "street", "lane"],
            "street_office_id": [OFFICE] * 6,
            "road_name": ["东四北大街"] * 5 + ["府学胡同"],
            "from_name": ["东四十条", "北新桥", "簋街", "香饵胡同", "交道口", None],
            "to_name": ["北新桥", "簋街", "香饵胡同", "交道口", "张自忠路", None],
        },
        index=pd.Index([101, 102, 103, 104, 105, 201], name="id"),
    )


def _people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["王总", "李二", "赵二", "张三", "刘四", "陈五", "周六"],
            "active": [True, True, True, True, True, True, True],
            "role": ["总街长", "二级街长", "二级街长", "三级街长", "三级街长", "巷长", "三级街长"],
            "street_office_id": [OFFICE] * 7,
        },
        index=[1, 2, 3, 10, 11, 20, 12],
    )


def _row(pid: int, ttype: str, tid: int, role: str, *, level: int | None, sup: int | None) -> dict:
    return {
        "person_id": pid,
        "target_type": ttype,
        "target_id": tid,
        "role": role,
        "level": level,
        "supervisor_id": sup,
    }


def _clean() -> list[dict]:
    """A complete, valid set: every rule satisfied."""
    return [
        _row(1, "street_office", OFFICE, "street_head", level=1, sup=None),
        _row(2, "street_office", OFFICE, "street_head", level=2, sup=1),
        _row(3, "street_office", OFFICE, "street_head", level=2, sup=1),
        _row(10, "segment", 101, "street_head", level=3, sup=2),
        _row(10, "segment", 102, "street_head", level=3, sup=2),
        _row(11, "segment", 103, "street_head", level=3, sup=3),
        _row(11, "segment", 104, "street_head", level=3, sup=3),
        _row(12, "segment", 105, "street_head", level=3, sup=3),
        _row(20, "segment", 201, "lane_head", level=None, sup=None),
    ]


def _check(rows: list[dict], **kw: object) -> pd.DataFrame:
    return check_rules(_segments(), pd.DataFrame(rows), _people(), **kw)  # type: ignore[arg-type]


def _codes(df: pd.DataFrame) -> list[tuple[str, int | None]]:
    return [
        (c, None if pd.isna(t) else int(t))
        for c, t in zip(df["code"], df["target_id"], strict=True)
    ]


def test_a_complete_assignment_has_no_violation() -> None:
    out = _check(_clean())
    assert list(out.columns) == VIOLATION_COLUMNS
    assert out.empty


def test_segment_without_head_is_named_like_a_notice_board() -> None:
    rows = [r for r in _clean() if r["target_id"] != 105 or r["target_type"] != "segment"]
    out = _check(rows)
    # 周六 (12) now has no segment either: a roster head without a segment
    assert _codes(out) == [("segment_no_head", 105), ("head_no_segment", 12)]
    first = out.iloc[0]
    assert first["severity"] == "error"
    assert first["reason_zh"] == "路段东四北大街（交道口—张自忠路）没有三级街长"
    assert first["reason_en"] == "segment 东四北大街（交道口—张自忠路） has no level-3 street head"
    assert first["street_office_id"] == OFFICE


def test_two_heads_on_one_segment_is_a_conflict() -> None:
    out = _check([*_clean(), _row(11, "segment", 101, "street_head", level=3, sup=3)])
    assert ("segment_multiple_heads", 101) in _codes(out)
    reason = out.loc[out["code"] == "segment_multiple_heads", "reason_en"].item()
    assert "2 level-3 street heads (conflict): 张三、刘四" in reason


def test_reporting_line_problems() -> None:
    rows = _clean()
    rows[3]["supervisor_id"] = None  # 张三 on 101: no supervisor
    rows[5]["supervisor_id"] = 12  # 刘四 on 103 reports to a level-3 head
    rows[2]["supervisor_id"] = None  # 赵二 (level 2) reports to nobody
    rows[1]["supervisor_id"] = 3  # 李二 (level 2) reports to a level-2 head
    out = _check(rows)
    codes = _codes(out)
    assert ("head_no_supervisor", 10) in codes
    assert ("head_invalid_supervisor", 11) in codes
    assert ("head_supervisor_inconsistent", 11) in codes  # 103 -> 周六, 104 -> 赵二
    assert ("level2_no_supervisor", 3) in codes
    assert ("level2_invalid_supervisor", 2) in codes
    bad = out.loc[out["code"] == "head_invalid_supervisor", "reason_zh"].item()
    assert bad == "三级街长刘四的上级周六不是本街道在任的二级街长"


def test_no_level2_heads_at_all() -> None:
    rows = [r for r in _clean() if r["level"] != 2]
    out = _check(rows)
    assert sorted(t for c, t in _codes(out) if c == "head_invalid_supervisor") == [10, 11, 12]


def test_office_without_level1_head() -> None:
    rows = [r for r in _clean() if r["level"] != 1]
    out = _check(rows)
    assert ("office_no_level1", OFFICE) in _codes(out)
    # the level-2 heads now report to someone who is no longer a level-1 head
    assert ("level2_invalid_supervisor", 2) in _codes(out)


def test_lanes_need_exactly_one_lane_head() -> None:
    no_lane = [r for r in _clean() if r["role"] != "lane_head"]
    assert ("lane_no_head", 201) in _codes(_check(no_lane))
    two = [*_clean(), _row(10, "segment", 201, "lane_head", level=None, sup=None)]
    assert ("lane_multiple_heads", 201) in _codes(_check(two))


def test_inactive_person_and_missing_target() -> None:
    people = _people()
    people.loc[12, "active"] = False
    rows = [*_clean(), _row(10, "segment", 999, "street_head", level=3, sup=2)]
    out = check_rules(_segments(), pd.DataFrame(rows), people)
    assert ("person_inactive", 105) in _codes(out)
    assert ("unknown_target", 999) in _codes(out)
    # 105's only head is inactive, but it still has one: no second violation for it
    assert ("segment_no_head", 105) not in _codes(out)


def test_cells_fall_back_to_their_community() -> None:
    cells = pd.DataFrame(
        {
            "code": ["110101001001001", "110101001001002", "110101001001003"],
            "community_id": [5, 5, None],
            "responsible_body": ["东四街道城管科", "  ", None],
        },
        index=[1, 2, 3],
    )
    out = _check(_clean(), cells=cells)
    assert _codes(out) == [("cell_no_body", 3), ("cell_fallback", 2)]
    fallback = out.loc[out["code"] == "cell_fallback"].iloc[0]
    assert fallback["severity"] == "info"
    assert "属地兜底" in fallback["reason_en"]


def test_scattered_head_by_network_and_by_distance() -> None:
    # 101-102-103-104-105 form a chain; 张三 holds 101 and 104: two pieces
    rows = _clean()
    rows[4]["target_id"] = 104  # 张三: 101, 104
    rows[6]["target_id"] = 102  # 刘四: 103, 102
    rows[6]["supervisor_id"] = 3
    chain = sp.diags([1.0, 1.0], [-1, 1], shape=(6, 6)).tolil()
    chain[4, 5] = chain[5, 4] = 0  # the lane is not connected
    out = _check(rows, adjacency=chain.tocsr())
    assert ("head_scattered", 10) in _codes(out)
    assert ("head_scattered", 11) not in _codes(out)  # 102 and 103 touch
    reason = out.loc[out["code"] == "head_scattered", "reason_en"].item()
    assert (
        reason
        == "level-3 street head 张三 has scattered segments: in 2 pieces not connected along the network"
    )

    geoms = [LineString([(i * 400.0, 0), (i * 400.0 + 400.0, 0)]) for i in range(6)]
    segs = gpd.GeoDataFrame(_segments(), geometry=geoms, crs=4548)
    far = check_rules(segs, pd.DataFrame(rows), _people(), max_spread_m=1000.0)
    # 张三's segment centres are 1,200 m apart; 刘四's 400 m
    spread = far.loc[far["code"] == "head_scattered", "reason_en"].item()
    assert spread.endswith("spread over 1,200 m (limit 1,000 m)")


def test_spread_with_heads_listed_out_of_order() -> None:
    # rows interleave heads (10, 11, 10, 11): the spread must still be per head
    rows = _clean()
    rows[3]["target_id"], rows[5]["target_id"] = 101, 102
    rows[4]["target_id"], rows[6]["target_id"] = 105, 103
    rows[4]["person_id"], rows[5]["person_id"] = 10, 11
    order = [0, 1, 2, 3, 5, 4, 6, 7, 8]
    ordered = pd.DataFrame([rows[i] for i in order])
    geoms = [LineString([(i * 400.0, 0), (i * 400.0 + 400.0, 0)]) for i in range(6)]
    segs = gpd.GeoDataFrame(_segments(), geometry=geoms, crs=4548)
    out = check_rules(segs, ordered, _people(), max_spread_m=1000.0)
    scattered = out.loc[out["code"] == "head_scattered"]
    # 张三 holds 101 and 105 (1,600 m apart); 刘四 102 and 103 (400 m): only 张三
    assert scattered["person_id"].tolist() == [10]
    assert scattered["reason_en"].item().endswith("spread over 1,600 m (limit 1,000 m)")


def test_every_rule_has_both_languages_and_a_known_severity() -> None:
    for code, (severity, zh, en) in RULES.items():
        assert severity in {"error", "warning", "info"}, code
        assert zh and en and zh != en


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError, match="segments lacks column\\(s\\) kind"):
        check_rules(pd.DataFrame({"street_office_id": [1]}), pd.DataFrame(_clean()), _people())


def test_inputs_are_not_changed() -> None:
    segs, rows, people = _segments(), pd.DataFrame(_clean()), _people()
    before = (segs.copy(), rows.copy(), people.copy())
    check_rules(segs, rows, people)
    pd.testing.assert_frame_equal(segs, before[0])
    pd.testing.assert_frame_equal(rows, before[1])
    pd.testing.assert_frame_equal(people, before[2])


def test_segment_label() -> None:
    assert segment_label("东四北大街", "东四十条", "张自忠路") == "东四北大街（东四十条—张自忠路）"
    assert segment_label("东四北大街", np.nan, None) == "东四北大街"


def test_every_rule_has_a_kind_to_count_by_in_both_languages() -> None:
    from gis.assignment import RULE_KINDS, describe_counts, violation_counts

    assert set(RULE_KINDS) == set(RULES)
    found = pd.DataFrame(
        {
            "code": ["cell_fallback", "segment_multiple_heads", "head_no_supervisor"],
            "severity": ["info", "error", "error"],
        }
    )
    counts = violation_counts(found)
    assert list(counts) == ["head_no_supervisor", "segment_multiple_heads", "cell_fallback"]
    assert describe_counts(counts, lang="zh").startswith("没有二级街长上级的三级街长：1；")
