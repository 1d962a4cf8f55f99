"""Coverage gaps: what nobody answers for, each with a reason and a location.

The gap catalogue (:data:`GAP_TYPES`, :data:`REASONS`, :func:`gap_frame`) gives every
gap, whichever query found it, the same columns: a reason code with Chinese and
English text, the object it concerns and a location. :func:`bait_gaps` turns a
bait-station evaluation (:mod:`gis.bait`) into gap layers; the evaluation's own names
are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import string
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gis.bait import (
    BaitEvaluation,
    evaluate_bait_coverage,
    exclusion_zones,
    perimeter_stations_needed,
    uncovered_outline,
)
from gis.errors import DataError

__all__ = [
    "GAP_COLUMNS",
    "GAP_HEADERS",
    "GAP_TYPES",
    "REASONS",
    "REASON_LABELS",
    "BaitEvaluation",
    "bait_gaps",
    "evaluate_bait_coverage",
    "exclusion_zones",
    "gap_frame",
    "perimeter_stations_needed",
    "reason_texts",
    "uncovered_outline",
]

#: Columns every gap layer starts with (a layer may add its own after them).
GAP_COLUMNS = (
    "gap_type",
    "reason_code",
    "reason_zh",
    "reason_en",
    "object_type",
    "object_id",
    "object_code",
    "name",
    "street_office_id",
    "geometry",
)

#: Gap layers: key -> (Chinese title, English title).
GAP_TYPES: dict[str, tuple[str, str]] = {
    "segment_no_head": ("无三级街长的路段", "road segments without a level-3 street head"),
    "lane_no_head": ("无巷长的小街巷", "lanes without a lane head"),
    "cell_no_body": ("未指定责任主体的单元网格", "grid cells without a responsible body"),
    "problem_outside_cells": ("不在任何网格内的问题", "problems outside every grid cell"),
    "premises_bait": (
        "毒饵站不达标的市场和重点场所",
        "markets and key premises failing the bait-station rule",
    ),
    "station_fault": ("损坏、缺失或逾期未巡查的毒饵站", "damaged, missing or overdue stations"),
    "station_misplaced": ("位于禁设区的毒饵站", "stations inside an exclusion zone"),
}

#: Reason code -> (Chinese template, English template); fields come from the row.
REASONS: dict[str, tuple[str, str]] = {
    "segment_no_head": ("路段没有三级街长", "the segment has no level-3 street head"),
    "segment_head_inactive": (
        "路段的三级街长已停用（{person_count}人）",
        "the segment's level-3 street head is no longer active ({person_count})",
    ),
    "lane_no_head": ("小街巷没有巷长", "the lane has no lane head"),
    "lane_head_inactive": (
        "小街巷的巷长已停用（{person_count}人）",
        "the lane's head is no longer active ({person_count})",
    ),
    "cell_no_body": (
        "网格未指定责任主体，也没有所属社区可兜底",
        "the cell names no responsible body and has no community to fall back on",
    ),
    "cell_community_fallback": (
        "网格未指定责任主体，由所属社区兜底",
        "the cell names no responsible body; its community answers for it",
    ),
    "problem_outside_cells": (
        "问题位置不在任何单元网格内",
        "the problem lies outside every unit grid cell",
    ),
    "bait_perimeter_short": (
        (
            "周边毒饵站不足：按{spacing_m:.0f}米间距应设{required}个，有效{counted}个，"
            "{uncovered_m:.0f}米未覆盖"
        ),
        (
            "too few bait stations: {required} needed at {spacing_m:.0f} m spacing, "
            "{counted} working, {uncovered_m:.0f} m of outline uncovered"
        ),
    ),
    "bait_count_short": (
        "毒饵站不足：应设{required}个，有效{counted}个",
        "too few bait stations: {required} needed, {counted} working",
    ),
    "station_damaged": ("毒饵站损坏", "the station is damaged"),
    "station_missing": ("毒饵站缺失", "the station is missing"),
    "station_never_inspected": ("毒饵站没有巡查记录", "the station has never been inspected"),
    "station_overdue": (
        "毒饵站超过{max_age_days}天未巡查（上次{last_inspected}）",
        "the station was not inspected for over {max_age_days} days (last {last_inspected})",
    ),
    "station_in_exclusion": (
        "毒饵站位于禁设区：{zone_zh}",
        "the station stands in an exclusion zone: {zone_en}",
    ),
}

#: Reason code -> short (Chinese, English) label, for legends and counts.
REASON_LABELS: dict[str, tuple[str, str]] = {
    "segment_no_head": ("无街长", "no head"),
    "segment_head_inactive": ("街长已停用", "head inactive"),
    "lane_no_head": ("无巷长", "no lane head"),
    "lane_head_inactive": ("巷长已停用", "lane head inactive"),
    "cell_no_body": ("无责任主体且无社区", "no body, no community"),
    "cell_community_fallback": ("社区兜底", "community answers"),
    "problem_outside_cells": ("网格外", "outside cells"),
    "bait_perimeter_short": ("外沿毒饵站不足", "outline short of stations"),
    "bait_count_short": ("毒饵站数量不足", "too few stations"),
    "station_damaged": ("损坏", "damaged"),
    "station_missing": ("缺失", "missing"),
    "station_never_inspected": ("从未巡查", "never inspected"),
    "station_overdue": ("逾期未巡查", "inspection overdue"),
    "station_in_exclusion": ("位于禁设区", "in exclusion zone"),
}

#: Readable column headers for exports: column -> (Chinese, English).
GAP_HEADERS: dict[str, tuple[str, str]] = {
    "gap_type": ("缺口类型", "gap type"),
    "reason_code": ("原因代码", "reason code"),
    "reason_zh": ("原因", "reason (Chinese)"),
    "reason_en": ("原因（英文）", "reason"),
    "object_type": ("对象类型", "object type"),
    "object_id": ("对象ID", "object id"),
    "object_code": ("编码", "code"),
    "name": ("名称", "name"),
    "street_office_id": ("街道ID", "street office id"),
}


_FORMATTER = string.Formatter()


def _fill(template: str, rows: pd.DataFrame, code: str) -> NDArray[np.object_]:
    """``template.format(**row)`` for every row, built one field (column) at a time."""
    out = np.full(len(rows), "", dtype=object)
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        out = out + literal
        if field is None:
            continue
        if field not in rows:
            msg = (
                f"reason_texts: reason {code!r} needs a {field!r} column; columns are: "
                f"{', '.join(map(str, rows.columns))}"
            )
            raise DataError(msg)
        values = rows[field].to_numpy(dtype=object)
        if conversion == "r":
            values = np.array([repr(v) for v in values], dtype=object)
        elif conversion is not None:
            values = np.array([str(v) for v in values], dtype=object)
        out = out + np.array([format(v, spec or "") for v in values], dtype=object)
    return out


def reason_texts(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Chinese and English reason text for each row's ``reason_code``.

    Templates with fields take them from the row's columns, one column at a time (the
    same text as ``template.format(**row)``).

    >>> zh, en = reason_texts(pd.DataFrame({"reason_code": ["lane_no_head"]}))
    >>> en.tolist()
    ['the lane has no lane head']
    >>> f = pd.DataFrame({"reason_code": ["bait_count_short"], "required": [2], "counted": [1]})
    >>> reason_texts(f)[1].tolist()
    ['too few bait stations: 2 needed, 1 working']
    """
    codes = frame["reason_code"].astype(str)
    unknown = sorted(set(codes) - set(REASONS))
    if unknown:
        msg = f"reason_texts: unknown reason code(s) {unknown}; known: {sorted(REASONS)}"
        raise DataError(msg)
    texts = []
    for lang in (0, 1):
        text = codes.map({c: t[lang] for c, t in REASONS.items()}).astype(object)
        for code in pd.unique(codes):
            template = REASONS[code][lang]
            if "{" in template:
                hit = (codes == code).to_numpy()
                text.loc[hit] = _fill(template, frame.loc[hit], code)
        texts.append(text)
    return texts[0], texts[1]


def gap_frame(frame: pd.DataFrame, *, gap_type: str, crs: Any) -> gpd.GeoDataFrame:
    """Give rows found by any gap query the standard gap columns, in order.

    ``frame`` needs ``reason_code`` and ``geometry`` and may have the other
    :data:`GAP_COLUMNS`; extra columns are kept after them.

    >>> from shapely.geometry import Point
    >>> f = pd.DataFrame({"reason_code": ["station_missing"], "object_id": [7],
    ...                   "geometry": [Point(0, 0)]})
    >>> g = gap_frame(f, gap_type="station_fault", crs=4548)
    >>> g[["gap_type", "reason_zh", "object_id"]].values.tolist()
    [['station_fault', '毒饵站缺失', 7]]
    """
    if gap_type not in GAP_TYPES:
        msg = f"gap_frame: unknown gap type {gap_type!r}; known: {sorted(GAP_TYPES)}"
        raise DataError(msg)
    out = pd.DataFrame(index=frame.index)
    out["gap_type"] = gap_type
    out["reason_code"] = frame["reason_code"].astype(str)
    zh, en = reason_texts(frame) if len(frame) else (pd.Series(), pd.Series())
    out["reason_zh"] = zh.astype(object) if len(frame) else pd.Series(dtype=object)
    out["reason_en"] = en.astype(object) if len(frame) else pd.Series(dtype=object)
    out["object_type"] = frame.get("object_type", None)
    out["object_id"] = frame["object_id"].astype("Int64") if "object_id" in frame else pd.NA
    for col in ("object_code", "name"):
        out[col] = frame[col].astype(object) if col in frame else None
    out["street_office_id"] = (
        frame["street_office_id"].astype("Int64") if "street_office_id" in frame else pd.NA
    )
    geometry = frame.geometry.values if isinstance(frame, gpd.GeoDataFrame) else frame["geometry"]
    out["geometry"] = gpd.GeoSeries(geometry, index=frame.index, crs=crs)
    for col in (c for c in frame.columns if c not in GAP_COLUMNS):
        out[col] = frame[col]
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def bait_gaps(evaluation: BaitEvaluation) -> dict[str, gpd.GeoDataFrame]:
    """Gap layers from an evaluation: ``premises_bait`` and ``station_misplaced``.

    Premises rows keep ``code``/``name``/``object_type``/``object_id``/
    ``street_office_id`` when the input had them.
    """
    p = evaluation.premises
    crs = p.crs
    short = p[p["status"] == "short"]
    frame = pd.DataFrame(
        {
            "reason_code": np.where(
                short["mode"] == "perimeter", "bait_perimeter_short", "bait_count_short"
            ),
            "rule_id": short["rule_id"],
            "kind": short["kind"],
            "required": short["required"].astype(int),
            "counted": short["counted"].astype(int),
            "uncovered_m": short["uncovered_m"].astype(float),
            "spacing_m": short["spacing_m"].astype(float),
            "outline_m": short["outline_m"].astype(float),
            "geometry": short.geometry.values,
        },
        index=short.index,
    )
    for src, dst in (
        ("object_type", "object_type"),
        ("object_id", "object_id"),
        ("code", "object_code"),
        ("name", "name"),
        ("street_office_id", "street_office_id"),
    ):
        if src in short:
            frame[dst] = short[src]
    layers = {"premises_bait": gap_frame(frame, gap_type="premises_bait", crs=crs)}

    st = evaluation.stations
    misplaced = st[st["exclusion_id"].notna()] if "exclusion_id" in st else st.iloc[:0]
    zones = {e.id: e for e in evaluation.profile.exclusions}
    mframe = pd.DataFrame(
        {
            "reason_code": "station_in_exclusion",
            "zone_zh": misplaced["exclusion_id"].map({k: z.name_zh for k, z in zones.items()}),
            "zone_en": misplaced["exclusion_id"].map({k: z.name_en for k, z in zones.items()}),
            "exclusion_id": misplaced["exclusion_id"],
            "state": misplaced["state"],
            "geometry": misplaced.geometry.values,
        },
        index=misplaced.index,
    )
    for src, dst in (("id", "object_id"), ("code", "object_code")):
        if src in misplaced:
            mframe[dst] = misplaced[src]
    mframe["object_type"] = "station"
    layers["station_misplaced"] = gap_frame(mframe, gap_type="station_misplaced", crs=crs)
    return layers
