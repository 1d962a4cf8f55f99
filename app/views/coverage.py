"""覆盖缺口: every gap layer on one map, counts, lists, exports, new bait-station sites."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import current_lang, t
from app.maps import coverage_map
from app.session import page_actor
from app.state import filters
from db.access import Actor

#: Most features of one layer sent to the map (lists and exports keep them all).
MAP_LIMIT = 3000
SITES = "cov_sites"


def _for_map(frame: gpd.GeoDataFrame, lang_i: int) -> gpd.GeoDataFrame:
    shown = frame.head(MAP_LIMIT)
    return gpd.GeoDataFrame(
        {
            "name": shown["name"].astype(str),
            "reason": shown["reason_zh" if lang_i == 0 else "reason_en"].astype(str),
        },
        geometry=shown.geometry.simplify(2.0).to_crs(4326),
        crs=4326,
    )


def _export(actor: Actor, layers: dict[str, gpd.GeoDataFrame], kind: str, so: object) -> None:
    from db.queries.coverage import record_export
    from gis.coverage import GAP_HEADERS, GAP_TYPES
    from reports.exports import excel_bytes, geopackage_bytes

    lang_i = 0 if current_lang() == "zh" else 1
    name = f"coverage-gaps-{data.now():%Y%m%d}.{kind}"
    with data.engine().begin() as conn:
        record_export(
            conn,
            actor,
            what="coverage gaps",
            file_name=name,
            counts={k: len(v) for k, v in layers.items()},
            street_office_ids=so,  # type: ignore[arg-type]
        )
    if kind == "xlsx":
        payload = excel_bytes(
            layers,
            titles={k: GAP_TYPES[k][lang_i] for k in layers},
            sheet_names=None if lang_i == 0 else {k: k for k in layers},
            headers={k: v[lang_i] for k, v in GAP_HEADERS.items()},
        )
    else:
        payload = geopackage_bytes(layers)
    st.session_state[f"cov_export_{kind}"] = (name, payload)


def _sites(so: tuple[int, ...] | None) -> None:
    from gis.siting import suggest_bait_sites

    result = suggest_bait_sites(data.bait_evaluation(so), time_limit_s=20.0)
    st.session_state[SITES] = (so, result)


def in_community(
    gaps: dict[str, gpd.GeoDataFrame], key: tuple[Any, ...]
) -> dict[str, gpd.GeoDataFrame]:
    """The gaps within (or touching) the community chosen in the sidebar, if one is.

    The gap layers are computed per street office; a community is cut from them by its
    outline (a few metres wider, so that a segment or premises on the boundary stays).
    """
    if key[1] is None or not gaps:
        return gaps
    outline = data.outlines("community", key, 1.0)
    if outline.empty:
        return gaps
    crs = next(iter(gaps.values())).crs
    area = outline.to_crs(crs).union_all().buffer(5.0)
    cut: dict[str, gpd.GeoDataFrame] = {}
    for name, layer in gaps.items():
        part = layer.loc[layer.intersects(area)]
        part.attrs = {**layer.attrs, "total": len(part)}
        cut[name] = part
    return cut


@guarded
def page() -> None:
    """The coverage-gaps page."""
    from gis.coverage import GAP_TYPES

    actor = page_actor()
    st.title(t("cov.title"))
    if not ui.has_data():
        return
    f = filters()
    key = f.scope_key(actor)
    so = key[0]
    if so is None and ui.large_district():
        st.info(t("cov.pick_so"))
        return
    lang_i = 0 if current_lang() == "zh" else 1
    gaps = in_community(data.coverage_gaps(so), key)
    counts = pd.DataFrame(
        {
            "gap": [GAP_TYPES[k][lang_i] for k in gaps],
            "count": [int(v.attrs.get("total", len(v))) for v in gaps.values()],
        }
    )
    sites_state = st.session_state.get(SITES)
    result = sites_state[1] if sites_state and sites_state[0] == so else None
    left, right = st.columns([3, 2], gap="medium")
    with left:
        layers = {k: _for_map(v, lang_i) for k, v in gaps.items() if len(v)}
        sites = None
        if result is not None and len(result.sites):
            sites = gpd.GeoDataFrame(
                {"name": [t("map.gap.sites")] * len(result.sites)},
                geometry=result.sites.geometry.to_crs(4326),
                crs=4326,
            )
        m = coverage_map(
            layers,
            data.outlines("community", key, 10.0),
            style=ui.map_style(),
            labels={k: GAP_TYPES[k][lang_i] for k in gaps},
            sites=sites,
        )
        ui.show_map(m, key="coverage_map", height=600)
    with right:
        ui.table(counts, {"gap": "col.gap", "count": "col.count"})
        chosen = st.selectbox(
            t("cov.layers"), list(gaps), format_func=lambda k: GAP_TYPES[k][lang_i]
        )
        listed = gaps[chosen].drop(columns="geometry")
        ui.table(
            listed,
            {
                "object_code": "col.code",
                "name": "col.name",
                "reason_zh" if lang_i == 0 else "reason_en": "col.reason",
            },
            height=260,
        )
        if actor.can("report.export"):
            c1, c2 = st.columns(2)
            for col, kind, label in ((c1, "xlsx", "cov.xlsx"), (c2, "gpkg", "cov.gpkg")):
                with col:
                    if st.button(label=t(label), key=f"cov_prepare_{kind}"):
                        _export(actor, gaps, kind, so)
                    ready = st.session_state.get(f"cov_export_{kind}")
                    if ready:
                        st.download_button(
                            f"⬇ {ready[0]}", ready[1], file_name=ready[0], key=f"cov_dl_{kind}"
                        )
        st.subheader(t("cov.sites"))
        if st.button(t("cov.sites.run"), key="cov_sites_run"):
            _sites(so)
            st.rerun()
        if result is not None:
            s = result.summary()
            st.info(
                t(
                    "cov.sites.result",
                    n=s["new_stations"],
                    covered=s["premises_covered"],
                    status=s["status"],
                )
            )


page()
