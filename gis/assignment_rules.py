"""Street-head rules (街长制): every violation of a street office's assignments, with reasons.

:func:`check_rules` lists what breaks the rules that a street office's assignments
must satisfy: one level-3 street head per segment, a reporting line up to the 总街长,
lane heads on lanes (一巷一人), a responsible body per grid cell, heads whose segments
hang together. Each violation has a reason code and a reason in Chinese and English.
Suggestions live in :mod:`gis.assignment_suggestion`; :mod:`gis.assignment` gathers both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from gis.errors import DataError
from gis.segments import segment_label

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

#: Reason code -> (Chinese, English) name of what it counts, for summaries of a check.
RULE_KINDS: dict[str, tuple[str, str]] = {
    "segment_no_head": ("没有三级街长的路段", "segments with no level-3 street head"),
    "segment_multiple_heads": (
        "有两名及以上三级街长的路段",
        "segments with two or more level-3 street heads",
    ),
    "head_no_segment": ("没有路段的三级街长", "level-3 heads with no segment"),
    "head_no_supervisor": (
        "没有二级街长上级的三级街长",
        "level-3 heads with no level-2 supervisor",
    ),
    "head_invalid_supervisor": (
        "上级不是在任二级街长的三级街长",
        "level-3 heads whose supervisor is not an active level-2 head",
    ),
    "head_supervisor_inconsistent": (
        "分属多名上级的三级街长",
        "level-3 heads reporting to several level-2 heads",
    ),
    "level2_no_supervisor": (
        "没有总街长上级的二级街长",
        "level-2 heads with no level-1 supervisor",
    ),
    "level2_invalid_supervisor": (
        "上级不是在任总街长的二级街长",
        "level-2 heads whose supervisor is not an active level-1 head",
    ),
    "office_no_level1": ("没有总街长的街道", "street offices with no level-1 head"),
    "lane_no_head": ("没有巷长的小街巷", "lanes with no lane head"),
    "lane_multiple_heads": ("有多名巷长的小街巷", "lanes with several lane heads"),
    "head_scattered": ("路段分散的三级街长", "level-3 heads with scattered segments"),
    "person_inactive": ("已停用但仍在任的人员", "inactive people still assigned"),
    "unknown_target": ("指向不存在目标的任务", "assignments pointing at missing targets"),
    "cell_fallback": ("由所在社区兜底的网格", "grid cells their community answers for"),
    "cell_no_body": ("没有责任主体的网格", "grid cells with no responsible body"),
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
    require_columns(segments, ("kind", "street_office_id"), "segments", "check_rules")
    require_columns(
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


def violation_counts(violations: pd.DataFrame) -> dict[str, int]:
    """How many violations of each kind (reason code), errors first.

    >>> v = pd.DataFrame({"code": ["head_no_supervisor", "segment_multiple_heads",
    ...                   "segment_multiple_heads"], "severity": ["error"] * 3})
    >>> violation_counts(v)
    {'head_no_supervisor': 1, 'segment_multiple_heads': 2}
    """
    require_columns(violations, ("code", "severity"), "violations", "violation_counts")
    order = violations.assign(_o=violations["severity"].map(_SEVERITY_ORDER))
    counts = order.groupby(["_o", "code"]).size()
    return {str(code): int(n) for (_, code), n in counts.items()}


def describe_counts(counts: Mapping[str, int], *, lang: Literal["zh", "en"]) -> str:
    """Violation counts in words, kind by kind.

    >>> describe_counts({"segment_multiple_heads": 2, "head_no_supervisor": 1}, lang="en")
    'segments with two or more level-3 street heads: 2; level-3 heads with no level-2 supervisor: 1'
    >>> describe_counts({"segment_multiple_heads": 2}, lang="zh")
    '有两名及以上三级街长的路段：2'
    """
    k = 0 if lang == "zh" else 1
    sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")
    return sep.join(f"{RULE_KINDS.get(c, (c, c))[k]}{colon}{n}" for c, n in counts.items())


def require_columns(df: pd.DataFrame, cols: Sequence[str], what: str, func: str) -> None:
    """Raise :class:`DataError` naming the columns ``func`` needs and ``df`` lacks.

    >>> require_columns(pd.DataFrame({"kind": []}), ("kind",), "segments", "check_rules")
    """
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
    rows = pd.DataFrame(
        {
            "person_id": heads["person_id"].to_numpy(),
            "sup": pd.to_numeric(heads["supervisor_id"], errors="coerce").to_numpy(dtype=float),
            "office": pd.to_numeric(
                office_of.reindex(heads["target_id"]), errors="coerce"
            ).to_numpy(dtype=float),
        }
    )
    office = rows.groupby("person_id")["office"].first()
    out.extend(
        _Found("head_no_supervisor", "person", int(p), int(p), _int(office[p]), {})
        for p in sorted(rows.loc[np.isnan(rows["sup"]), "person_id"].unique())
    )
    pairs = rows[~np.isnan(rows["sup"])]
    level2 = pd.DataFrame(
        np.array([(p, o) for p, o in l2_at if p in active], dtype=float).reshape(-1, 2),
        columns=["sup", "office"],
    ).assign(ok=True)
    judged = pairs.merge(level2.drop_duplicates(), how="left", on=["sup", "office"])
    bad = judged.loc[judged["ok"].isna(), ["person_id", "sup"]].drop_duplicates()
    for p, sup in sorted(bad.itertuples(index=False, name=None)):
        fields = {"sup": names.get(int(sup), f"#{int(sup)}")}
        out.append(
            _Found("head_invalid_supervisor", "person", int(p), int(p), _int(office[p]), fields)
        )
    distinct = pairs.drop_duplicates(["person_id", "sup"])
    many = distinct.groupby("person_id")["sup"].size()
    for p, sups in distinct[distinct["person_id"].isin(many.index[many > 1])].groupby("person_id")[
        "sup"
    ]:
        shown = "、".join(names.get(int(x), f"#{int(x)}") for x in sorted(sups))
        detail: dict[str, Any] = {"n": len(sups), "sups": shown}
        out.append(
            _Found(
                "head_supervisor_inconsistent", "person", int(p), int(p), _int(office[p]), detail
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
    require_columns(cells, ("community_id", "responsible_body"), "cells", "check_rules")
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
        centres = shapely.centroid(geoms)  # multi-part segments have no single midpoint
        codes, uniq = pd.factorize(person)
        order = np.argsort(codes, kind="stable")  # multipoints wants grouped indices
        multi = shapely.multipoints(centres[order], indices=codes[order])
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
