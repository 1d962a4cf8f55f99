"""Roster targets: what each row of a roster answers for, found in the database.

A row names its target by road and cross streets (``道路, 起点, 终点``, either
direction), by segment code, or by target type and code; each is resolved to a
target id, its street office and the role a head of it has by default. Rows whose
target is unknown, ambiguous or outside the loading planner's street offices are
reported, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.values import Issues

if TYPE_CHECKING:
    from etl.load import _Run

_DEFAULT_ROLE = {
    "cell": "grid_worker",
    "market": "market_head",
    "premises": "shop_head",
    "street_office": "street_head",
    "district": "street_head",
}
_CODED = {
    "segment": "road_segments",
    "cell": "grid_cells",
    "market": "markets",
    "premises": "premises",
}


def resolve_targets(conn: Connection, frame: pd.DataFrame, issues: Issues) -> None:
    """Fill target_type, target_id, target_office and role; report what cannot be found."""
    n = len(frame)
    ttype = frame["target_type"].astype(object).where(frame["target_type"].notna(), None)
    tcode = frame["target_code"].astype(object)
    seg_code = frame["segment_code"].astype(object)
    ttype = np.where(pd.notna(seg_code), "segment", ttype)
    tcode = np.where(pd.notna(seg_code), seg_code, tcode)
    ttype = np.where(pd.isna(ttype) & pd.notna(tcode), "segment", ttype)
    target_id = np.full(n, -1, dtype=np.int64)
    office = np.full(n, -1, dtype=np.int64)
    kind = np.full(n, None, dtype=object)
    segs = pd.read_sql_query(
        sa.text(
            "SELECT id, code, road_name, from_name, to_name, kind, street_office_id "
            "FROM road_segments"
        ),
        conn,
    )
    by_code = segs.set_index("code")
    for t, table in _CODED.items():
        pick = (ttype == t) & pd.notna(tcode)
        if not pick.any():
            continue
        found = _coded(conn, table) if t != "segment" else by_code
        codes = pd.Series(tcode[pick]).astype(str)
        hit = codes.isin(found.index).to_numpy()
        idx = np.flatnonzero(pick)
        target_id[idx[hit]] = found.loc[codes[hit], "id"].to_numpy()
        office[idx[hit]] = found.loc[codes[hit], "street_office_id"].fillna(-1).to_numpy()
        if t == "segment":
            kind[idx[hit]] = found.loc[codes[hit], "kind"].to_numpy()
        miss = np.zeros(n, dtype=bool)
        miss[idx[~hit]] = True
        issues.add(
            miss, "unknown_target", f"no {t} has this code", field="target_code", value=tcode
        )
    for t in ("street_office", "district"):
        pick = (ttype == t) & pd.notna(tcode)
        if pick.any():
            areas = pd.read_sql_query(
                sa.text("SELECT id, code FROM admin_areas WHERE level = :lv"),
                conn,
                params={"lv": t},
            ).set_index("code")
            codes = pd.Series(tcode[pick]).astype(str).str.ljust(12, "0")
            hit = codes.isin(areas.index).to_numpy()
            idx = np.flatnonzero(pick)
            target_id[idx[hit]] = areas.loc[codes[hit], "id"].to_numpy()
            if t == "street_office":
                office[idx[hit]] = target_id[idx[hit]]
            miss = np.zeros(n, dtype=bool)
            miss[idx[~hit]] = True
            issues.add(
                miss, "unknown_target", f"no {t} has this code", field="target_code", value=tcode
            )
    by_road = pd.isna(ttype) & frame["road_name"].notna().to_numpy()
    _match_roads(
        frame, segs, pick=by_road, target_id=target_id, office=office, kind=kind, issues=issues
    )
    ttype = np.where(by_road, "segment", ttype)
    nothing = pd.isna(ttype) & ~by_road
    issues.add(
        nothing,
        "missing_value",
        "the row names no target (road, segment_code or target_code)",
        field="road_name",
    )
    role = frame["role"].astype(object).to_numpy()
    default = np.array(
        [
            ("lane_head" if k == "lane" else "street_head")
            if t == "segment"
            else _DEFAULT_ROLE.get(str(t))
            for t, k in zip(ttype, kind, strict=True)
        ],
        dtype=object,
    )
    frame["role"] = np.where(pd.isna(role), default, role)
    frame["target_type"] = ttype
    frame["target_id"] = target_id
    frame["target_office"] = office
    frame["target_key"] = [
        f"{t}:{c}" if pd.notna(c) else f"{t}:{r}（{_text(a)}—{_text(b)}）"
        for t, c, r, a, b in zip(
            ttype,
            tcode,
            frame["road_name"],
            frame["from_name"],
            frame["to_name"],
            strict=True,
        )
    ]


def _text(value: Any) -> str:
    return "" if pd.isna(value) else str(value)


def _coded(conn: Connection, table: str) -> pd.DataFrame:
    office = {
        "grid_cells": "(SELECT p.id FROM admin_areas c JOIN admin_areas p ON p.code = c.parent_code "
        "WHERE c.id = t.community_id)",
        "markets": "t.street_office_id",
        "premises": "t.street_office_id",
    }[table]
    return pd.read_sql_query(
        sa.text(f"SELECT t.code, t.id, {office} AS street_office_id FROM {table} t"), conn
    ).set_index("code")


def _match_roads(
    frame: pd.DataFrame,
    segs: pd.DataFrame,
    *,
    pick: np.ndarray,
    target_id: np.ndarray,
    office: np.ndarray,
    kind: np.ndarray,
    issues: Issues,
) -> None:
    """Find segments by road name and cross streets (either direction)."""
    if not pick.any():
        return
    unknown = np.zeros(len(frame), dtype=bool)
    ambiguous = np.zeros(len(frame), dtype=bool)
    reasons = np.full(len(frame), None, dtype=object)
    names = segs.groupby("road_name")
    for i in np.flatnonzero(pick):
        road = frame.at[i, "road_name"]
        a, b = frame.at[i, "from_name"], frame.at[i, "to_name"]
        cand = names.get_group(road) if road in names.groups else segs.iloc[0:0]
        if pd.notna(a) or pd.notna(b):
            fwd = (cand["from_name"] == a) & (cand["to_name"] == b)
            rev = (cand["from_name"] == b) & (cand["to_name"] == a)
            cand = cand[fwd | rev]
        label = f"{road}（{a if pd.notna(a) else '?'}—{b if pd.notna(b) else '?'}）"
        if len(cand) == 1:
            target_id[i] = int(cand["id"].iloc[0])
            so = cand["street_office_id"].iloc[0]
            office[i] = int(so) if pd.notna(so) else -1
            kind[i] = cand["kind"].iloc[0]
        elif len(cand) == 0:
            unknown[i] = True
            reasons[i] = f"no road segment {label}; check the names against the segments layer"
        else:
            ambiguous[i] = True
            reasons[i] = (
                f"{len(cand)} road segments match {label}; give 起点/终点 (from/to) or segment_code"
            )
    issues.add(unknown, "unknown_target", reasons, field="road_name")
    issues.add(ambiguous, "ambiguous_target", reasons, field="road_name")


def area_check(run: _Run, frame: pd.DataFrame, issues: Issues) -> None:
    allowed = run.actor.street_office_ids
    if allowed is None:
        return
    office = frame["target_office"].to_numpy()
    outside = ~np.isin(office, list(allowed)) & ~issues.bad
    issues.add(
        outside,
        "outside_your_area",
        "the target lies outside the street offices you may assign for",
        field="street_office",
        value=np.where(office < 0, None, office.astype(object)),
    )
