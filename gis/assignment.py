"""Street-head assignment (街长制): rule checks and balanced, connected suggestions.

Two pure halves. :func:`check_rules` lists every violation of the rules that a
street office's assignments must satisfy (one street head per segment, a reporting
line up to the 总街长, lane heads on lanes, a responsible body per grid cell, heads
whose segments hang together), each with a reason code and a reason in Chinese and
English. :func:`suggest_heads` proposes a head for every segment so that each
head's segments are connected along the road network and workloads are balanced;
existing assignments can be locked so that only gaps are filled.

The partitioner starts from METIS (multilevel k-way with its contiguity option)
per connected piece of the network, then repairs and refines the result itself:
METIS alone leaves 5-20% imbalance on street networks because contiguity and
uneven segment weights fight its balance constraint. The refinement moves boundary
segments (with any dead-end branch they carry) from heavy heads to lighter
neighbours, along chains of heads when a heavy head has no lighter neighbour, and
never disconnects a head's segments or moves a locked one.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pymetis
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from gis.errors import DataError

Severity = Literal["error", "warning", "info"]

#: Roster roles (``people.role``) that mark someone as a level-3 street head.
LEVEL3_ROLES = frozenset({"street_head", "三级街长", "街长", "路段街长", "level3"})

#: Reason code -> (severity, Chinese template, English template).
RULES: dict[str, tuple[Severity, str, str]] = {
    "segment_no_head": (
        "error",
        "路段{seg}没有三级街长",
        "segment {seg} has no level-3 street head",
    ),
    "segment_multiple_heads": (
        "error",
        "路段{seg}有{n}名三级街长（冲突）：{names}",
        "segment {seg} has {n} level-3 street heads (conflict): {names}",
    ),
    "head_no_segment": (
        "warning",
        "三级街长{person}没有负责的路段",
        "level-3 street head {person} has no segment",
    ),
    "head_no_supervisor": (
        "error",
        "三级街长{person}没有上级（二级街长）",
        "level-3 street head {person} reports to no level-2 head",
    ),
    "head_invalid_supervisor": (
        "error",
        "三级街长{person}的上级{sup}不是本街道在任的二级街长",
        (
            "level-3 street head {person} reports to {sup}, who is not an active level-2 "
            "head of this street office"
        ),
    ),
    "head_supervisor_inconsistent": (
        "warning",
        "三级街长{person}的路段分属{n}名上级：{sups}",
        "level-3 street head {person} reports to {n} level-2 heads on different segments: {sups}",
    ),
    "level2_no_supervisor": (
        "error",
        "二级街长{person}没有上级（总街长）",
        "level-2 street head {person} reports to no level-1 head",
    ),
    "level2_invalid_supervisor": (
        "error",
        "二级街长{person}的上级{sup}不是本街道在任的总街长",
        (
            "level-2 street head {person} reports to {sup}, who is not an active level-1 "
            "head of this street office"
        ),
    ),
    "office_no_level1": (
        "error",
        "街道{office}没有总街长（一级街长）",
        "street office {office} has no level-1 street head",
    ),
    "lane_no_head": ("error", "小街巷{seg}没有巷长", "lane {seg} has no lane head"),
    "lane_multiple_heads": (
        "error",
        "小街巷{seg}有{n}名巷长：{names}",
        "lane {seg} has {n} lane heads: {names}",
    ),
    "head_scattered": (
        "warning",
        "三级街长{person}的路段分散：{zh}",
        "level-3 street head {person} has scattered segments: {en}",
    ),
    "person_inactive": (
        "error",
        "{person}已停用，仍负责{target}",
        "{person} is inactive but still answers for {target}",
    ),
    "unknown_target": (
        "error",
        "在任任务指向不存在的{target}",
        "an active assignment points at a missing {target}",
    ),
    "cell_fallback": (
        "info",
        "网格{cell}未指定责任主体，由所在社区属地兜底",
        "grid cell {cell} names no responsible body; its community answers for it (属地兜底)",
    ),
    "cell_no_body": (
        "error",
        "网格{cell}既无责任主体也无所属社区",
        "grid cell {cell} has neither a responsible body nor a community",
    ),
}

VIOLATION_COLUMNS = [
    "code",
    "severity",
    "target_type",
    "target_id",
    "person_id",
    "street_office_id",
    "reason_zh",
    "reason_en",
]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def segment_label(road_name: Any, from_name: Any = None, to_name: Any = None) -> str:
    """Name a segment the way notice boards do: ``道路名（起点路—终点路）``.

    >>> segment_label("东四北大街", "东四十条", "张自忠路")
    '东四北大街（东四十条—张自忠路）'
    >>> segment_label("东四北大街", None, "张自忠路")
    '东四北大街（—张自忠路）'
    >>> segment_label("东四北大街")
    '东四北大街'
    """
    name = "" if _missing(road_name) else str(road_name)
    start = "" if _missing(from_name) else str(from_name)
    end = "" if _missing(to_name) else str(to_name)
    if not start and not end:
        return name
    return f"{name}（{start}—{end}）"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


class _Found(NamedTuple):
    code: str
    target_type: str
    target_id: int | None
    person_id: int | None
    street_office_id: int | None
    fields: dict[str, Any]


def check_rules(
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    people: pd.DataFrame,
    *,
    cells: pd.DataFrame | None = None,
    adjacency: sp.spmatrix | None = None,
    max_spread_m: float | None = None,
    office_names: Mapping[int, str] | None = None,
    head_roles: frozenset[str] = LEVEL3_ROLES,
) -> pd.DataFrame:
    """List every rule violation of the active assignments, with reason codes.

    Parameters
    ----------
    segments
        Indexed by segment id; columns ``kind`` (street|lane) and ``street_office_id``,
        optionally ``road_name``, ``from_name``, ``to_name`` (for messages) and a metric
        ``geometry`` (for ``max_spread_m``).
    assignments
        Active assignments: ``person_id``, ``target_type``, ``target_id``, ``role``,
        ``level``, ``supervisor_id``.
    people
        Indexed by person id; optional columns ``name``, ``active``, ``role``.
    cells
        Grid cells indexed by id with ``code``, ``community_id``, ``responsible_body``.
    adjacency
        Segment adjacency along the network (rows in ``segments`` order); when given, a
        head whose segments are not connected is reported.
    max_spread_m
        Report a head whose segments' midpoints do not fit in a circle this wide.
    office_names, head_roles
        Street office names for messages; roster roles that mark a level-3 head.

    Returns
    -------
    pandas.DataFrame
        One row per violation: ``code``, ``severity``, ``target_type``, ``target_id``,
        ``person_id``, ``street_office_id``, ``reason_zh``, ``reason_en``.

    Examples
    --------
    >>> segs = pd.DataFrame({"kind": ["street", "street"], "street_office_id": [1, 1],
    ...                      "road_name": ["东四北大街", "美术馆后街"]}, index=[10, 11])
    >>> a = pd.DataFrame({"person_id": [7, 1, 2], "target_type": ["segment", "street_office",
    ...                   "street_office"], "target_id": [10, 1, 1], "role": ["street_head"] * 3,
    ...                   "level": [3, 1, 2], "supervisor_id": [2, None, 1]})
    >>> ppl = pd.DataFrame({"name": ["王总", "李二", "张三"]}, index=[1, 2, 7])
    >>> check_rules(segs, a, ppl)[["code", "target_id", "reason_en"]].to_dict("records")
    [{'code': 'segment_no_head', 'target_id': 11, 'reason_en': 'segment 美术馆后街 has no level-3 street head'}]
    """
    _require_columns(segments, ("kind", "street_office_id"), "segments", "check_rules")
    _require_columns(
        assignments,
        ("person_id", "target_type", "target_id", "role", "level", "supervisor_id"),
        "assignments",
        "check_rules",
    )
    act = assignments
    if "valid_to" in act.columns:
        act = act[act["valid_to"].isna()]
    seg_name = _segment_names(segments)
    person_name = _person_names(people)
    office_of = segments["street_office_id"]
    found: list[_Found] = []
    found += _segment_rules(segments, act, person_name, office_of)
    found += _reporting_rules(
        segments, act, people, names=person_name, office_of=office_of, head_roles=head_roles
    )
    found += _lane_rules(segments, act, person_name, office_of)
    found += _people_rules(segments, act, people, office_of)
    if cells is not None:
        found += _cell_rules(cells)
    found += _scatter_rules(segments, act, adjacency, max_spread_m, office_of)
    return _violations_frame(found, seg_name, person_name, office_names or {})


def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str, func: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        msg = (
            f"{func}: {what} lacks column(s) {', '.join(missing)}; columns are: "
            f"{', '.join(map(str, df.columns)) or '(none)'}; add or rename them"
        )
        raise DataError(msg)


def _segment_names(segments: pd.DataFrame) -> dict[Any, str]:
    if "road_name" not in segments.columns:
        return {i: f"#{i}" for i in segments.index}
    frm = segments["from_name"] if "from_name" in segments.columns else [None] * len(segments)
    to = segments["to_name"] if "to_name" in segments.columns else [None] * len(segments)
    return {
        i: segment_label(r, f, t) or f"#{i}"
        for i, r, f, t in zip(segments.index, segments["road_name"], frm, to, strict=True)
    }


def _person_names(people: pd.DataFrame) -> dict[Any, str]:
    if "name" not in people.columns:
        return {i: f"#{i}" for i in people.index}
    return {i: (str(n) if not _missing(n) else f"#{i}") for i, n in people["name"].items()}


def _heads(act: pd.DataFrame, role: str, level: int | None, target_type: str) -> pd.DataFrame:
    m = (act["role"] == role) & (act["target_type"] == target_type)
    if level is not None:
        m &= act["level"] == level
    return act[m]


def _segment_rules(
    segments: pd.DataFrame, act: pd.DataFrame, names: dict[Any, str], office_of: pd.Series
) -> list[_Found]:
    heads = _heads(act, "street_head", 3, "segment")
    heads = heads[heads["target_id"].isin(segments.index)]
    per_seg = heads.groupby("target_id")["person_id"].agg(lambda s: sorted(set(s)))
    streets = segments.index[segments["kind"] == "street"]
    out = [
        _Found("segment_no_head", "segment", int(s), None, _int(office_of[s]), {})
        for s in streets.difference(per_seg.index)
    ]
    for s, persons in per_seg.items():
        if len(persons) > 1:
            shown = "、".join(names.get(p, f"#{p}") for p in persons)
            fields = {"n": len(persons), "names": shown}
            out.append(
                _Found(
                    "segment_multiple_heads", "segment", int(s), None, _int(office_of[s]), fields
                )
            )
    return out


def _reporting_rules(
    segments: pd.DataFrame,
    act: pd.DataFrame,
    people: pd.DataFrame,
    *,
    names: dict[Any, str],
    office_of: pd.Series,
    head_roles: frozenset[str],
) -> list[_Found]:
    active = _active_people(people)
    l1 = _heads(act, "street_head", 1, "street_office")
    l2 = _heads(act, "street_head", 2, "street_office")
    l1_at = set(zip(l1["person_id"], l1["target_id"], strict=True))
    l2_at = set(zip(l2["person_id"], l2["target_id"], strict=True))
    out: list[_Found] = []
    heads = _heads(act, "street_head", 3, "segment")
    heads = heads[heads["target_id"].isin(segments.index)]
    offices = office_of.reindex(heads["target_id"]).to_numpy()
    for person, grp in heads.assign(_office=offices).groupby("person_id"):
        office = _int(grp["_office"].iloc[0])
        sups = grp["supervisor_id"]
        if sups.isna().any():
            out.append(
                _Found("head_no_supervisor", "person", _int(person), _int(person), office, {})
            )
        distinct = sorted({int(s) for s in sups.dropna()})
        bad = [
            s
            for s in distinct
            if s not in active or not any((s, o) in l2_at for o in set(grp["_office"].dropna()))
        ]
        for s in bad:
            fields = {"sup": names.get(s, f"#{s}")}
            out.append(
                _Found(
                    "head_invalid_supervisor", "person", _int(person), _int(person), office, fields
                )
            )
        if len(distinct) > 1:
            shown = "、".join(names.get(s, f"#{s}") for s in distinct)
            detail: dict[str, Any] = {"n": len(distinct), "sups": shown}
            out.append(
                _Found(
                    "head_supervisor_inconsistent",
                    "person",
                    _int(person),
                    _int(person),
                    office,
                    detail,
                )
            )
    for person, office, sup in zip(
        l2["person_id"], l2["target_id"], l2["supervisor_id"], strict=True
    ):
        if _missing(sup) or pd.isna(sup):
            out.append(
                _Found("level2_no_supervisor", "person", int(person), int(person), _int(office), {})
            )
        elif int(sup) not in active or (int(sup), office) not in l1_at:
            fields = {"sup": names.get(int(sup), f"#{int(sup)}")}
            out.append(
                _Found(
                    "level2_invalid_supervisor",
                    "person",
                    int(person),
                    int(person),
                    _int(office),
                    fields,
                )
            )
    offices_with_l1 = {o for p, o in l1_at if p in active}
    out.extend(
        _Found("office_no_level1", "street_office", office, None, office, {})
        for office in sorted(set(office_of.dropna().astype(int)) - offices_with_l1)
    )
    if "role" in people.columns:
        roster_heads = people.index[people["role"].isin(head_roles)]
        for person in sorted(set(roster_heads) & active - set(heads["person_id"])):
            office = people.at[person, "street_office_id"] if "street_office_id" in people else None
            out.append(
                _Found("head_no_segment", "person", int(person), int(person), _int(office), {})
            )
    return out


def _lane_rules(
    segments: pd.DataFrame, act: pd.DataFrame, names: dict[Any, str], office_of: pd.Series
) -> list[_Found]:
    heads = _heads(act, "lane_head", None, "segment")
    per_lane = heads.groupby("target_id")["person_id"].agg(lambda s: sorted(set(s)))
    lanes = segments.index[segments["kind"] == "lane"]
    out = [
        _Found("lane_no_head", "segment", int(s), None, _int(office_of[s]), {})
        for s in lanes.difference(per_lane.index)
    ]
    for s, persons in per_lane.items():
        if s in segments.index and len(persons) > 1:
            shown = "、".join(names.get(p, f"#{p}") for p in persons)
            fields = {"n": len(persons), "names": shown}
            out.append(
                _Found("lane_multiple_heads", "segment", int(s), None, _int(office_of[s]), fields)
            )
    return out


def _people_rules(
    segments: pd.DataFrame, act: pd.DataFrame, people: pd.DataFrame, office_of: pd.Series
) -> list[_Found]:
    active = _active_people(people)
    out: list[_Found] = []
    for row in act[~act["person_id"].isin(active)].itertuples(index=False):
        office = _int(office_of.get(row.target_id)) if row.target_type == "segment" else None
        fields = {"target": f"{row.target_type} #{row.target_id}"}
        out.append(
            _Found(
                "person_inactive",
                str(row.target_type),
                int(row.target_id),
                int(row.person_id),
                office,
                fields,
            )
        )
    on_segments = act[(act["target_type"] == "segment") & ~act["target_id"].isin(segments.index)]
    for row in on_segments.itertuples(index=False):
        fields = {"target": f"segment #{row.target_id}"}
        out.append(
            _Found(
                "unknown_target", "segment", int(row.target_id), int(row.person_id), None, fields
            )
        )
    return out


def _active_people(people: pd.DataFrame) -> set[Any]:
    if "active" not in people.columns:
        return set(people.index)
    return set(people.index[people["active"].fillna(False).astype(bool)])


def _cell_rules(cells: pd.DataFrame) -> list[_Found]:
    _require_columns(cells, ("community_id", "responsible_body"), "cells", "check_rules")
    body = cells["responsible_body"].astype("string").str.strip()
    none = body.isna() | (body == "")
    codes = cells["code"] if "code" in cells.columns else pd.Series(cells.index, index=cells.index)
    out = []
    for cid in cells.index[none]:
        code = "cell_fallback" if pd.notna(cells.at[cid, "community_id"]) else "cell_no_body"
        out.append(_Found(code, "cell", int(cid), None, None, {"cell": codes[cid]}))
    return out


def _scatter_rules(
    segments: pd.DataFrame,
    act: pd.DataFrame,
    adjacency: sp.spmatrix | None,
    max_spread_m: float | None,
    office_of: pd.Series,
) -> list[_Found]:
    heads = _heads(act, "street_head", 3, "segment")
    heads = heads[heads["target_id"].isin(segments.index)].drop_duplicates(
        ["person_id", "target_id"]
    )
    if heads.empty:
        return []
    pos = segments.index.get_indexer(heads["target_id"])
    person = heads["person_id"].to_numpy()
    pieces: dict[Any, int] = {}
    if adjacency is not None:
        coo = sp.coo_matrix(adjacency)
        if coo.shape != (len(segments), len(segments)):
            msg = f"check_rules: adjacency is {coo.shape}, expected one row per segment ({len(segments)})"
            raise DataError(msg)
        pairs = pd.DataFrame({"pair": np.arange(len(pos)), "pos": pos, "person": person})
        edges = pd.DataFrame({"i": coo.row, "j": coo.col})
        e = edges.merge(pairs, left_on="i", right_on="pos").merge(
            pairs, left_on=["j", "person"], right_on=["pos", "person"], suffixes=("_a", "_b")
        )
        g = sp.coo_matrix((np.ones(len(e)), (e["pair_a"], e["pair_b"])), shape=(len(pos), len(pos)))
        _, comp = sp.csgraph.connected_components(g, directed=False)
        pieces = pd.Series(comp).groupby(person).nunique().to_dict()
    spread: dict[Any, float] = {}
    if max_spread_m is not None and "geometry" in segments.columns:
        geoms = np.asarray(segments.geometry.values, dtype=object)[pos]
        mids = shapely.line_interpolate_point(shapely.line_merge(geoms), 0.5, normalized=True)
        codes, uniq = pd.factorize(person)
        multi = shapely.multipoints(mids, indices=codes)
        diam = 2.0 * shapely.minimum_bounding_radius(multi)
        spread = {p: float(d) for p, d in zip(uniq, diam, strict=True) if d > max_spread_m}
    out = []
    first_office = (
        pd.Series(office_of.reindex(heads["target_id"]).to_numpy()).groupby(person).first()
    )
    for p in sorted(set(spread) | {p for p, k in pieces.items() if k > 1}):
        zh, en = [], []
        if pieces.get(p, 1) > 1:
            zh.append(f"沿路网分成{pieces[p]}块")
            en.append(f"in {pieces[p]} pieces not connected along the network")
        if p in spread:
            zh.append(f"相距约{spread[p]:,.0f}米（上限{max_spread_m:,.0f}米）")
            en.append(f"spread over {spread[p]:,.0f} m (limit {max_spread_m:,.0f} m)")
        fields = {"zh": "，".join(zh), "en": "; ".join(en)}
        out.append(
            _Found("head_scattered", "person", int(p), int(p), _int(first_office.get(p)), fields)
        )
    return out


def _int(value: Any) -> int | None:
    if value is None or _missing(value) or pd.isna(value):
        return None
    return int(value)


def _violations_frame(
    found: list[_Found],
    seg_name: dict[Any, str],
    person_name: dict[Any, str],
    office_names: Mapping[int, str],
) -> pd.DataFrame:
    rows = []
    for f in found:
        severity, zh, en = RULES[f.code]
        fields = {
            "seg": seg_name.get(f.target_id, f"#{f.target_id}"),
            "person": person_name.get(f.person_id, f"#{f.person_id}"),
            "office": office_names.get(f.target_id or -1, f"#{f.target_id}"),
            **f.fields,
        }
        rows.append(
            (
                f.code,
                severity,
                f.target_type,
                f.target_id,
                f.person_id,
                f.street_office_id,
                zh.format(**fields),
                en.format(**fields),
            )
        )
    df = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    for col in ("target_id", "person_id", "street_office_id"):
        df[col] = df[col].astype("Int64")
    order = df["severity"].map(_SEVERITY_ORDER)
    return (
        df.assign(_o=order)
        .sort_values(["_o", "code", "target_id"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


# --- suggestions ------------------------------------------------------------------------


def workload(
    segments: pd.DataFrame, *, length_weight: float = 0.5, load_weight: float = 0.5
) -> pd.Series:
    """Workload of each segment: weighted length and problem load, each relative to its mean.

    A segment of average length with an average number of problems weighs
    ``length_weight + load_weight``; with no problems anywhere only length counts.

    Parameters
    ----------
    segments
        Columns ``length_m`` and, optionally, ``problems`` (a count over some period).
    length_weight, load_weight
        Non-negative weights of the two parts.

    Examples
    --------
    >>> segs = pd.DataFrame({"length_m": [100.0, 300.0], "problems": [3, 3]})
    >>> workload(segs).round(3).tolist()
    [0.75, 1.25]
    """
    _require_columns(segments, ("length_m",), "segments", "workload")
    if length_weight < 0 or load_weight < 0 or length_weight + load_weight <= 0:
        msg = (
            f"workload: weights must be non-negative and not both zero, got length "
            f"{length_weight} and problem load {load_weight}"
        )
        raise DataError(msg)
    length = segments["length_m"].astype("float64")
    if length.isna().any() or (length < 0).any():
        bad = segments.index[length.isna() | (length < 0)]
        msg = (
            f"workload: {len(bad)} segment(s) have no or a negative length_m (first: "
            f"{', '.join(map(str, bad[:5]))}); recompute lengths from the geometry"
        )
        raise DataError(msg)
    problems = (
        segments["problems"].astype("float64").fillna(0.0)
        if "problems" in segments.columns
        else pd.Series(0.0, index=segments.index)
    )
    out = pd.Series(0.0, index=segments.index, name="workload")
    if length.mean() > 0:
        out += length_weight * length / length.mean()
    if problems.mean() > 0:
        out += load_weight * problems / problems.mean()
    return out


@dataclass(frozen=True)
class Suggestion:
    """A proposed street head for every segment, with the workloads it gives.

    ``assignment`` is indexed like the segments (``person_id``, ``workload``, ``locked``);
    ``heads`` is indexed by person (``n_segments``, ``length_m``, ``problems``,
    ``workload``, ``ratio`` to the mean, ``pieces`` along the network, 1 = connected).
    """

    assignment: pd.DataFrame
    heads: pd.DataFrame
    max_over_mean: float
    min_over_mean: float
    connected: bool
    balanced: bool
    notes: tuple[str, ...]


def suggest_heads(
    segments: pd.DataFrame,
    adjacency: sp.spmatrix | sp.sparray,
    people: Sequence[int],
    *,
    locked: pd.Series | None = None,
    length_weight: float = 0.5,
    load_weight: float = 0.5,
    max_imbalance: float = 0.05,
    seed: int = 0,
) -> Suggestion:
    """Propose a street head for every segment: connected areas, balanced workloads.

    Parameters
    ----------
    segments
        Indexed by segment id, with ``length_m`` and optionally ``problems``.
    adjacency
        Which segments meet along the network (:func:`gis.network.segment_adjacency`),
        rows in ``segments`` order.
    people
        Ids of the people available.
    locked
        Existing assignments to keep (segment id -> person id); their holders are added
        to ``people`` when missing, and only the other segments are given out.
    length_weight, load_weight
        Weights of length and problem load in the workload (see :func:`workload`).
    max_imbalance
        Target: the heaviest workload at most this fraction above the mean.
    seed
        Makes the suggestion reproducible.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> segs = pd.DataFrame({"length_m": [100.0] * 4}, index=[11, 12, 13, 14])
    >>> path = sp.diags([1.0, 1.0], [-1, 1], shape=(4, 4))
    >>> s = suggest_heads(segs, path, [7, 8], locked=pd.Series({14: 8}))
    >>> s.assignment["person_id"].tolist(), s.max_over_mean, s.connected
    ([7, 7, 8, 8], 1.0, True)
    """
    ids = [int(p) for p in dict.fromkeys(people)]
    lock_map = {} if locked is None else {int(k): int(v) for k, v in locked.dropna().items()}
    unknown = sorted(set(lock_map) - set(segments.index))
    if unknown:
        msg = (
            f"suggest_heads: {len(unknown)} locked segment(s) are not among the segments "
            f"(first: {', '.join(map(str, unknown[:5]))}); lock only segments being planned"
        )
        raise DataError(msg)
    notes: list[str] = []
    extra = sorted(set(lock_map.values()) - set(ids))
    if extra:
        notes.append(f"{len(extra)} holder(s) of locked segments added to the people available")
        ids += extra
    if not ids:
        msg = "suggest_heads: no people available; name at least one person"
        raise DataError(msg)
    part_of = {p: i for i, p in enumerate(ids)}
    lock = np.full(len(segments), -1, dtype=np.intp)
    if lock_map:
        lock[segments.index.get_indexer(list(lock_map))] = [part_of[p] for p in lock_map.values()]
    weights = workload(segments, length_weight=length_weight, load_weight=load_weight)
    part = balanced_partition(
        adjacency,
        weights.to_numpy(),
        n_parts=len(ids),
        locked=lock,
        max_imbalance=max_imbalance,
        seed=seed,
    )
    person = np.asarray(ids, dtype=np.int64)[part.labels]
    assignment = pd.DataFrame(
        {"person_id": person, "workload": weights.to_numpy(), "locked": lock >= 0},
        index=segments.index,
    )
    problems = segments["problems"] if "problems" in segments.columns else 0
    per = pd.DataFrame(
        {"person_id": person, "length_m": segments["length_m"].to_numpy(), "problems": problems}
    ).groupby("person_id")
    mean = float(part.loads.mean()) or 1.0
    heads = pd.DataFrame(
        {
            "n_segments": np.bincount(part.labels, minlength=len(ids)),
            "length_m": per["length_m"].sum().reindex(ids, fill_value=0.0).to_numpy(),
            "problems": per["problems"].sum().reindex(ids, fill_value=0).to_numpy(),
            "workload": part.loads,
            "ratio": part.loads / mean,
            "pieces": part.pieces,
        },
        index=pd.Index(ids, name="person_id"),
    )
    return Suggestion(
        assignment=assignment,
        heads=heads,
        max_over_mean=part.max_over_mean,
        min_over_mean=part.min_over_mean,
        connected=part.connected,
        balanced=part.balanced,
        notes=tuple(notes) + part.notes,
    )


# --- the balanced, connected partitioner ---------------------------------------------

_EPS = 1e-9
# METIS's allowed imbalance in 1/1000; tighter than its default (30) gives the refinement
# fewer parts to fix, and tighter still makes contiguous METIS parts ragged.
_UFACTOR = 10


@dataclass(frozen=True)
class Partition:
    """Result of :func:`balanced_partition`.

    ``labels`` gives the part of each vertex (-1 only when the graph has more pieces
    than parts could cover, which raises instead); ``loads`` the total weight of each
    part; ``pieces`` how many connected pieces each part has (1 is connected, 0 empty).
    ``notes`` explain in words why a target could not be met.
    """

    labels: NDArray[np.intp]
    loads: NDArray[np.float64]
    pieces: NDArray[np.intp]
    max_imbalance: float
    notes: tuple[str, ...] = field(default=())

    @property
    def max_over_mean(self) -> float:
        """Heaviest part's load over the mean load."""
        mean = float(self.loads.mean()) if len(self.loads) else 0.0
        return float(self.loads.max()) / mean if mean > 0 else 1.0

    @property
    def min_over_mean(self) -> float:
        """Lightest part's load over the mean load."""
        mean = float(self.loads.mean()) if len(self.loads) else 0.0
        return float(self.loads.min()) / mean if mean > 0 else 1.0

    @property
    def connected(self) -> bool:
        """Whether every non-empty part is connected."""
        return bool((self.pieces <= 1).all())

    @property
    def balanced(self) -> bool:
        """Whether the heaviest part is within ``max_imbalance`` of the mean."""
        return self.max_over_mean <= 1.0 + self.max_imbalance + 1e-9


def balanced_partition(
    adjacency: sp.spmatrix | sp.sparray,
    weights: ArrayLike,
    *,
    n_parts: int,
    locked: ArrayLike | None = None,
    max_imbalance: float = 0.05,
    seed: int = 0,
) -> Partition:
    """Split a graph into ``n_parts`` connected parts of nearly equal weight.

    Parameters
    ----------
    adjacency
        Symmetric adjacency (n × n); non-zero entries are edges.
    weights
        Non-negative workload per vertex.
    n_parts
        Number of parts.
    locked
        Part of each vertex fixed in advance, or -1 where free.
    max_imbalance
        The heaviest part may exceed the mean by this fraction (0.05: 5%).
    seed
        METIS random seed (results are reproducible for a given seed).

    Returns
    -------
    Partition

    Examples
    --------
    A path of six equal vertices in two parts, the first vertex locked to part 1:

    >>> import scipy.sparse as sp
    >>> path = sp.diags([1.0, 1.0], [-1, 1], shape=(6, 6))
    >>> p = balanced_partition(path, [1.0] * 6, n_parts=2, locked=[1, -1, -1, -1, -1, -1])
    >>> p.labels.tolist(), p.loads.tolist(), p.connected
    ([1, 1, 1, 0, 0, 0], [3.0, 3.0], True)
    """
    adj, w, lock = _validate(adjacency, weights, n_parts, locked)
    n = adj.shape[0]
    if n == 0:
        empty = np.zeros(n_parts, dtype=np.intp)
        return Partition(np.zeros(0, np.intp), np.zeros(n_parts), empty, max_imbalance)
    notes: list[str] = []
    _, comp_raw = sp.csgraph.connected_components(adj, directed=False)
    comp = np.asarray(comp_raw, dtype=np.intp)
    n_comp = int(comp.max()) + 1
    comp_load = np.bincount(comp, weights=w, minlength=n_comp).astype(np.float64)
    comp_size = np.bincount(comp, minlength=n_comp)
    home = _home_components(lock, w, comp, n_comp)
    floor = np.bincount(np.asarray(list(home.values()), dtype=np.intp), minlength=n_comp)
    counts = _apportion(comp_load, comp_size, n_parts, floor)
    if counts.sum() < n_parts:
        notes.append(
            f"{n_parts - int(counts.sum())} of {n_parts} parts stay empty: there are more "
            "parts than vertices"
        )
    labels = _initial(adj, w, lock, comp=comp, counts=counts, home=home, n_parts=n_parts, seed=seed)
    labels = _keep_cores(adj, w, labels, lock >= 0)
    ref = _Refiner(adj, w, labels, lock >= 0, n_parts, seed=seed)
    ref.grow()
    ref.seed_empty(comp, counts, home)
    mean = float(w.sum()) / n_parts
    hi, lo = (1.0 + max_imbalance) * mean, (1.0 - max_imbalance) * mean
    for _ in range(3):  # the chains are randomised: a new round may free what the last left
        ref.balance(hi=hi, lo=lo, mean=mean)
        if max(ref.loads) <= hi:
            break
    labels = np.asarray(ref.labels, dtype=np.intp)
    ok = labels >= 0
    loads = np.bincount(labels[ok], weights=w[ok], minlength=n_parts).astype(np.float64)
    result = Partition(labels, loads, _count_pieces(adj, labels, n_parts), max_imbalance)
    notes += _explain(result, w, lock, comp=comp, comp_load=comp_load, counts=counts, mean=mean)
    return Partition(result.labels, result.loads, result.pieces, max_imbalance, tuple(notes))


def _validate(
    adjacency: sp.spmatrix | sp.sparray, weights: ArrayLike, n_parts: int, locked: ArrayLike | None
) -> tuple[sp.csr_matrix, NDArray[np.float64], NDArray[np.intp]]:
    adj = sp.csr_matrix(adjacency)
    n = adj.shape[0]
    if adj.shape != (n, n):
        msg = f"balanced_partition: adjacency must be square, got {adj.shape}"
        raise DataError(msg)
    adj = adj.maximum(adj.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        msg = (
            f"balanced_partition: weights must be {n} finite non-negative numbers, got shape "
            f"{w.shape} with {int((~np.isfinite(w)).sum())} missing and {int((w < 0).sum())} "
            "negative; fill missing lengths or problem counts first"
        )
        raise DataError(msg)
    if n_parts < 1:
        msg = f"balanced_partition: n_parts must be at least 1, got {n_parts}; name some people"
        raise DataError(msg)
    lock = np.full(n, -1, dtype=np.intp) if locked is None else np.asarray(locked, dtype=np.intp)
    if lock.shape != (n,) or (lock >= n_parts).any() or (lock < -1).any():
        msg = f"balanced_partition: locked must hold -1 or a part below {n_parts} for each vertex"
        raise DataError(msg)
    return adj, w, lock


def _home_components(
    lock: NDArray[np.intp], w: NDArray[np.float64], comp: NDArray[np.intp], n_comp: int
) -> dict[int, int]:
    """Piece of the graph each locked part belongs to: where most of its locked load is."""
    home: dict[int, int] = {}
    for p in np.unique(lock[lock >= 0]).tolist():
        m = lock == p
        home[int(p)] = int(np.bincount(comp[m], weights=w[m] + _EPS, minlength=n_comp).argmax())
    return home


def _apportion(
    comp_load: NDArray[np.float64],
    comp_size: NDArray[np.intp],
    n_parts: int,
    floor: NDArray[np.intp],
) -> NDArray[np.intp]:
    """Parts per piece: at least one (and the locked ones), the rest by highest load per part."""
    counts = np.maximum(floor, 1).astype(np.intp)
    if counts.sum() > n_parts:
        msg = (
            f"the road network falls into {len(comp_load)} pieces not connected to each other, "
            f"which need at least {int(counts.sum())} heads (one per piece), but only {n_parts} "
            "people are available; add people, or join the pieces (look for gaps in the road data)"
        )
        raise DataError(msg)
    heap = [(-float(comp_load[c]) / counts[c], c) for c in range(len(comp_load))]
    heapq.heapify(heap)
    spare = n_parts - int(counts.sum())
    while spare > 0 and heap:
        _, c = heapq.heappop(heap)
        if counts[c] >= comp_size[c]:
            continue
        counts[c] += 1
        spare -= 1
        heapq.heappush(heap, (-float(comp_load[c]) / counts[c], c))
    return counts


def _metis(sub: sp.csr_matrix, w: NDArray[np.float64], k: int, seed: int) -> NDArray[np.intp]:
    if k <= 1 or sub.shape[0] <= 1:
        return np.zeros(sub.shape[0], dtype=np.intp)
    mean = float(w.mean()) or 1.0
    vw = np.maximum(1, np.round(w / mean * 100.0)).astype(np.int64)
    opts = pymetis.Options()
    opts.seed = seed
    opts.contig = 1
    opts.ufactor = _UFACTOR
    graph = pymetis.CSRAdjacency(sub.indptr, sub.indices)
    try:
        _, parts = pymetis.part_graph(k, graph, vweights=vw, options=opts)
    except RuntimeError:  # METIS refuses contiguity on some inputs; repaired below instead
        opts.contig = 0
        _, parts = pymetis.part_graph(k, graph, vweights=vw, options=opts)
    return np.asarray(parts, dtype=np.intp)


def _initial(
    adj: sp.csr_matrix,
    w: NDArray[np.float64],
    lock: NDArray[np.intp],
    *,
    comp: NDArray[np.intp],
    counts: NDArray[np.intp],
    home: dict[int, int],
    n_parts: int,
    seed: int,
) -> NDArray[np.intp]:
    """METIS per piece; its parts matched to the locked parts living there, then locks forced."""
    free = iter(sorted(set(range(n_parts)) - set(home)))
    labels = np.full(adj.shape[0], -1, dtype=np.intp)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(len(counts) + 1))
    for c in range(len(counts)):
        idx = order[bounds[c] : bounds[c + 1]]
        k = int(counts[c])
        raw = _metis(adj[idx][:, idx].tocsr(), w[idx], k, seed)
        mine = sorted(p for p, hc in home.items() if hc == c)
        ids = np.full(k, -1, dtype=np.intp)
        if mine:
            overlap = np.zeros((k, len(mine)))
            sub_lock = lock[idx]
            for j, p in enumerate(mine):
                m = sub_lock == p
                overlap[:, j] = np.bincount(raw[m], weights=w[idx][m] + _EPS, minlength=k)
            rows, cols = linear_sum_assignment(-overlap)
            ids[rows] = np.asarray(mine, dtype=np.intp)[cols]
        for r in np.flatnonzero(ids < 0):
            ids[r] = next(free)
        labels[idx] = ids[raw]
    is_locked = lock >= 0
    labels[is_locked] = lock[is_locked]
    return labels


def _pieces(adj: sp.csr_matrix, labels: NDArray[np.intp]) -> NDArray[np.intp]:
    """Connected piece of every vertex within its own part."""
    coo = adj.tocoo()
    keep = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    g = sp.coo_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=adj.shape)
    _, lab = sp.csgraph.connected_components(g, directed=False)
    return np.asarray(lab, dtype=np.intp)


def _count_pieces(adj: sp.csr_matrix, labels: NDArray[np.intp], n_parts: int) -> NDArray[np.intp]:
    piece = _pieces(adj, labels)
    pairs = np.unique(np.column_stack([labels, piece])[labels >= 0], axis=0)
    return np.bincount(pairs[:, 0], minlength=n_parts).astype(np.intp)


def _keep_cores(
    adj: sp.csr_matrix,
    w: NDArray[np.float64],
    labels: NDArray[np.intp],
    is_locked: NDArray[np.bool_],
) -> NDArray[np.intp]:
    """Free every vertex outside its part's core: the pieces holding locked vertices, or else
    the heaviest piece."""
    labels = labels.copy()
    piece = _pieces(adj, labels)
    keep = np.bincount(piece, weights=is_locked.astype(np.float64)) > 0
    part_has_lock = np.zeros(int(labels.max()) + 1, dtype=bool)
    part_has_lock[labels[is_locked]] = True
    piece_w = np.bincount(piece, weights=w + _EPS)
    order = np.lexsort((-piece_w[piece], labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    heads = order[first]
    heads = heads[~part_has_lock[labels[heads]]]
    keep[piece[heads]] = True
    labels[~keep[piece]] = -1
    return labels


def _explain(
    result: Partition,
    w: NDArray[np.float64],
    lock: NDArray[np.intp],
    *,
    comp: NDArray[np.intp],
    comp_load: NDArray[np.float64],
    counts: NDArray[np.intp],
    mean: float,
) -> list[str]:
    """Why the balance target was missed, in words a planner can act on."""
    if result.balanced or mean <= 0:
        return []
    limit = (1.0 + result.max_imbalance) * mean
    notes = [
        (
            f"balance target missed: the heaviest part carries {result.max_over_mean:.3f} × "
            f"the mean (target ≤ {1.0 + result.max_imbalance:.3f})"
        )
    ]
    heavy = np.flatnonzero(w > limit)
    if len(heavy):
        notes.append(
            f"infeasible: {len(heavy)} vertex/vertices alone weigh more than "
            f"{1.0 + result.max_imbalance:.2f} × the mean part load (heaviest: vertex "
            f"{int(heavy[np.argmax(w[heavy])])} at {float(w.max()) / mean:.2f} × the mean); "
            "split those segments or add weight to the others"
        )
    per_part = comp_load / np.maximum(counts, 1)
    notes.extend(
        f"infeasible: network piece {int(c)} ({int((comp == c).sum())} vertices) carries "
        f"{float(comp_load[c]) / mean:.2f} × the mean load but can hold only {int(counts[c])} "
        "part(s) without joining unconnected streets"
        for c in np.flatnonzero(per_part > limit)
    )
    locked_load = np.bincount(lock[lock >= 0], weights=w[lock >= 0], minlength=len(result.loads))
    over = np.flatnonzero(locked_load > limit)
    if len(over):
        notes.append(
            f"infeasible: the locked vertices of {len(over)} part(s) already weigh more than the "
            f"limit (heaviest: part {int(over[np.argmax(locked_load[over])])} at "
            f"{float(locked_load.max()) / mean:.2f} × the mean); unlock some of them"
        )
    return notes


class _Refiner:
    """Moves vertices between parts, never disconnecting one or moving a locked vertex.

    Plain Python lists and sets: each move touches a few dozen vertices, and NumPy's
    per-call overhead would dominate at that size.
    """

    def __init__(
        self,
        adj: sp.csr_matrix,
        w: NDArray[np.float64],
        labels: NDArray[np.intp],
        is_locked: NDArray[np.bool_],
        n_parts: int,
        *,
        seed: int = 0,
    ) -> None:
        self.rng = random.Random(seed)
        self.trees = 16
        self.close = 0.002 * float(w.sum()) / n_parts
        self.log: list[tuple[int, int]] = []
        ip, ix = adj.indptr, adj.indices
        self.nbrs: list[list[int]] = [ix[ip[i] : ip[i + 1]].tolist() for i in range(adj.shape[0])]
        self.w: list[float] = w.tolist()
        self.labels: list[int] = labels.tolist()
        self.locked: list[bool] = is_locked.tolist()
        ok = labels >= 0
        self.loads: list[float] = np.bincount(labels[ok], weights=w[ok], minlength=n_parts).tolist()
        self.members: list[set[int]] = [set() for _ in range(n_parts)]
        self.border: list[dict[int, int]] = [{} for _ in range(n_parts)]
        for v, p in enumerate(self.labels):
            if p >= 0:
                self.members[p].add(v)
                for u in self.nbrs[v]:
                    r = self.labels[u]
                    if r >= 0 and r != p:
                        self.border[p][r] = self.border[p].get(r, 0) + 1

    def move(self, v: int, q: int) -> None:
        p, border = self.labels[v], self.border
        for u in self.nbrs[v]:
            r = self.labels[u]
            if r < 0:
                continue
            if p >= 0 and r != p:
                for a, b in ((p, r), (r, p)):
                    if border[a][b] == 1:
                        del border[a][b]
                    else:
                        border[a][b] -= 1
            if r != q:
                border[q][r] = border[q].get(r, 0) + 1
                border[r][q] = border[r].get(q, 0) + 1
        if p >= 0:
            self.members[p].discard(v)
            self.loads[p] -= self.w[v]
        self.members[q].add(v)
        self.loads[q] += self.w[v]
        self.labels[v] = q

    def resplit(self, a: int, b: int, *, want_a: float, max_b: float, touch: int = -1) -> bool:
        """Redraw the border between parts a and b so that b carries about ``want_b``.

        The union of a and b is cut along a random spanning tree (a few trees are tried):
        both sides of a tree cut are connected, and a tree offers a cut at almost any
        weight. Locked vertices stay on their side, and b keeps touching part ``touch``
        (the next receiver along a chain). False when no cut keeps b ≤ ``max_b``.
        """
        union = list(self.members[a] | self.members[b])
        pos = {v: i for i, v in enumerate(union)}
        n = len(union)
        w = [self.w[v] for v in union]
        side = [
            (1 if self.labels[v] == b else 0) if self.locked[v] else -1 for v in union
        ]  # locked: 1 must stay in b, 0 must stay in a; -1 free
        total = sum(w)
        nb_b, nb_a = side.count(1), side.count(0)
        touching = [
            1 if touch >= 0 and any(self.labels[u] == touch for u in self.nbrs[v]) else 0
            for v in union
        ]
        n_touch = sum(touching)
        want_b = total - want_a
        now_b = self.loads[b]
        local = [[pos[u] for u in self.nbrs[v] if u in pos] for v in union]
        best: tuple[float, list[int], bool] | None = None
        edges = [(i, j) for i in range(n) for j in local[i] if i < j]
        for _ in range(self.trees):
            if best is not None and best[0] <= self.close:
                break
            order, parent = _random_tree(n, edges, self.rng)
            if len(order) < n:
                return False
            sub = w[:]
            in_b = [1 if s == 1 else 0 for s in side]
            in_a = [1 if s == 0 else 0 for s in side]
            tch = touching[:]
            for x in reversed(order[1:]):
                px = parent[x]
                sub[px] += sub[x]
                in_b[px] += in_b[x]
                in_a[px] += in_a[x]
                tch[px] += tch[x]
            for x in order[1:]:
                # subtree of x to b, rest to a; or subtree to a, rest to b
                for to_b, load_b in ((True, sub[x]), (False, total - sub[x])):
                    if to_b and (in_a[x] or in_b[x] != nb_b):
                        continue
                    if not to_b and (in_b[x] or in_a[x] != nb_a):
                        continue
                    if load_b > max_b or (
                        touch >= 0 and (tch[x] if to_b else n_touch - tch[x]) == 0
                    ):
                        continue
                    if min(load_b, total - load_b) <= _EPS or abs(load_b - now_b) <= _EPS:
                        continue
                    gap = abs(load_b - want_b)
                    if best is None or gap < best[0]:
                        best = (gap, _subtree(x, order, parent), to_b)
        if best is None:
            return False
        _, subtree, to_b = best
        chosen = {union[i] for i in subtree}
        for v in union:
            q = b if (v in chosen) == to_b else a
            if self.labels[v] != q:
                self.log.append((v, self.labels[v]))
                self.move(v, q)
        return True

    def chain(self, path: list[int], amount: float, *, ceiling: float) -> bool:
        """Shift about ``amount`` along ``path`` (neighbouring parts, giver first).

        The giver sheds ``amount``; each part on the way keeps its load and hands on the
        rest, so whatever lump a border allows is passed along. Kept only if the heaviest part on
        the path ends lighter than before (pushing), or the lightest heavier with the
        heaviest no heavier (pulling), nothing above ``ceiling``; otherwise undone.
        """
        before = [self.loads[q] for q in path]
        self.log = []
        ok = True
        last = len(path) - 2
        for i in range(last + 1):
            want = before[i] - (amount if i == 0 else 0.0)
            touch = path[i + 2] if i < last else -1
            cap = ceiling if i == last else float("inf")
            if not self.resplit(path[i], path[i + 1], want_a=want, max_b=cap, touch=touch):
                ok = False
                break
        after = [self.loads[q] for q in path]
        if (
            ok
            and max(after) <= ceiling + _EPS
            and (
                max(after) < max(before) - _EPS
                or (max(after) <= max(before) + _EPS and min(after) > min(before) + _EPS)
            )
        ):
            return True
        for v, q in reversed(self.log):
            self.move(v, q)
        return False

    def routes(
        self, start: int, accept: Callable[[int], bool], per_hop: int = 3
    ) -> list[list[int]]:
        """Shortest routes from ``start`` to the nearest acceptable parts, a few through
        each neighbour.

        Routes through different neighbours meet the network of parts from different
        sides, which is what frees a part whose cheapest contact is blocked.
        """
        out = []
        for first in sorted(self.border[start], key=self.loads.__getitem__):
            parent = {start: -1, first: start}
            frontier = [first]
            ends = [first] if accept(first) else []
            while frontier and len(ends) < per_hop:
                nxt = []
                for a in frontier:
                    for b in self.border[a]:
                        if b not in parent:
                            parent[b] = a
                            nxt.append(b)
                            if accept(b):
                                ends.append(b)
                frontier = nxt
            for end in ends[:per_hop]:
                route = [end]
                while route[-1] != start:
                    route.append(parent[route[-1]])
                out.append(route)
        return out

    def grow(self) -> None:
        """Give each unassigned vertex to its lightest assigned neighbour, outwards."""
        frontier = [v for v, p in enumerate(self.labels) if p < 0]
        while frontier:
            rest = []
            for v in frontier:
                qs = [self.labels[u] for u in self.nbrs[v] if self.labels[u] >= 0]
                if qs:
                    self.move(v, min(qs, key=self.loads.__getitem__))
                else:
                    rest.append(v)
            if len(rest) == len(frontier):
                return
            frontier = rest

    def seed_empty(
        self, comp: NDArray[np.intp], counts: NDArray[np.intp], home: dict[int, int]
    ) -> None:
        """Start each empty part with one vertex taken from the heaviest part of its piece."""
        empty = [p for p, m in enumerate(self.members) if not m and p not in home]
        if not empty:
            return
        part_comp = {p: int(comp[next(iter(m))]) for p, m in enumerate(self.members) if m}
        in_comp = np.bincount(list(part_comp.values()), minlength=len(counts))
        needy = [c for c in range(len(counts)) for _ in range(int(counts[c] - in_comp[c]))]
        for p, c in zip(empty, needy, strict=False):
            donors = sorted(
                (q for q, qc in part_comp.items() if qc == c), key=self.loads.__getitem__
            )
            for q in reversed(donors):
                leaf = self.tree_leaf(q)
                if leaf is not None:
                    self.move(leaf, p)
                    part_comp[p] = c
                    break

    def tree_leaf(self, q: int) -> int | None:
        """A free vertex of q whose removal keeps q connected: a leaf of a spanning tree."""
        if len(self.members[q]) <= 1:
            return None
        root = next(iter(self.members[q]))
        parent = {root: -1}
        order = [root]
        for x in order:
            for y in self.nbrs[x]:
                if y not in parent and self.labels[y] == q:
                    parent[y] = x
                    order.append(y)
        inner = set(parent.values())
        return next((v for v in reversed(order) if v not in inner and not self.locked[v]), None)

    def balance(self, *, hi: float, lo: float, mean: float, max_moves: int = 20_000) -> None:
        """Push load out of parts above ``hi``, then pull load into parts below ``lo``.

        A part no chain can help is set aside until some other chain succeeds (which may
        have opened a way for it).
        """
        loads, n = self.loads, len(self.loads)
        stuck: set[int] = set()
        for _ in range(max_moves):
            todo = [q for q in range(n) if q not in stuck and loads[q] > hi]
            if not todo:
                break
            p = max(todo, key=loads.__getitem__)
            limit = max(2 * hi - loads[p], mean)
            if any(
                self.chain(
                    r[::-1], min((loads[p] - loads[r[0]]) / 2, loads[p] - mean), ceiling=loads[p]
                )
                for r in self.routes(p, partial(_below, loads, limit))
            ):
                stuck.clear()
            else:
                stuck.add(p)
        ceiling = max(hi, *loads)
        stuck = set()
        for _ in range(max_moves):
            todo = [q for q in range(n) if q not in stuck and self.members[q] and loads[q] < lo]
            if not todo:
                return
            d = min(todo, key=loads.__getitem__)
            floor = min(2 * lo - loads[d], mean)
            if any(
                self.chain(r, min((loads[r[0]] - loads[d]) / 2, mean - loads[d]), ceiling=ceiling)
                for r in self.routes(d, partial(_above, loads, floor))
            ):
                stuck.clear()
            else:
                stuck.add(d)


def _below(loads: list[float], limit: float, q: int) -> bool:
    return loads[q] < limit


def _above(loads: list[float], limit: float, q: int) -> bool:
    return loads[q] > limit


def _random_tree(
    n: int, edges: list[tuple[int, int]], rng: random.Random
) -> tuple[list[int], list[int]]:
    """A random spanning tree (Kruskal on shuffled edges), as BFS order and parents."""
    root = list(range(n))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    shuffled = edges[:]
    rng.shuffle(shuffled)
    tree: list[list[int]] = [[] for _ in range(n)]
    for i, j in shuffled:
        ri, rj = find(i), find(j)
        if ri != rj:
            root[ri] = rj
            tree[i].append(j)
            tree[j].append(i)
    start = rng.randrange(n)
    parent = [-2] * n
    parent[start] = -1
    order = [start]
    for x in order:
        for y in tree[x]:
            if parent[y] == -2:
                parent[y] = x
                order.append(y)
    return order, parent


def _subtree(x: int, order: list[int], parent: list[int]) -> list[int]:
    """Vertices of the subtree rooted at x (positions in ``order``'s numbering)."""
    inside = {x}
    for y in order:
        if parent[y] in inside:
            inside.add(y)
    return list(inside)
