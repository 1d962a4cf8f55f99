"""街长分配: one street head per segment, on a map, with suggestions, imports, notice
boards and an undoable history. Writes go through ``db.queries.assignments``."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import t
from app.maps import segment_map
from app.session import page_actor, show_name, show_phone
from app.state import filters
from db.access import Actor
from gis.errors import ConflictError

SELECTED = "assign_selected"
SUGGESTION = "assign_suggestion"
#: Most segments drawn at once; above it a street office must be chosen first.
MAP_LIMIT = 3000


def _module(name: str) -> ModuleType | None:
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def _pending(what: str) -> None:
    st.info(t("empty.pending", what=what))


def _selected_from_map(result: dict[str, Any]) -> int | None:
    feature = result.get("last_active_drawing") or {}
    value = (feature.get("properties") or {}).get("id")
    return int(value) if value is not None else None


def _pick(segments: gpd.GeoDataFrame) -> None:
    st.caption(t("assign.pick_by"))
    c1, c2 = st.columns(2)
    roads = sorted(segments["road_name"].dropna().unique().tolist())
    road = c1.selectbox(t("assign.road"), [None, *roads], key="assign_road",
                        format_func=lambda r: "—" if r is None else r)  # fmt: skip
    if road is None:
        return
    on_road = segments.loc[segments["road_name"] == road]
    labels = dict(zip(on_road["id"].astype(int), on_road["label"], strict=True))
    chosen = c2.selectbox(t("assign.segment"), list(labels), key="assign_segment_pick",
                          format_func=labels.__getitem__)  # fmt: skip
    if chosen is not None and st.session_state.get("_assign_last_pick") != chosen:
        st.session_state["_assign_last_pick"] = chosen
        st.session_state[SELECTED] = int(chosen)


def _person_label(people: pd.DataFrame, actor: Actor) -> dict[int, str]:
    return {
        int(r.id): f"{show_name(actor, r.name)} · {show_phone(actor, r.phone) or ''}"
        for r in people.itertuples()
    }


def _desk(segment: pd.Series, people: pd.DataFrame, actor: Actor, key: tuple[Any, ...]) -> None:
    st.markdown(f"**{segment['label']}**")
    st.caption(
        t(
            "assign.current",
            head=show_name(actor, segment["head"]) or t("assign.nobody"),
            supervisor=show_name(actor, segment["supervisor"]) or t("assign.nobody"),
            version=int(segment["version"]),
        )
    )
    if not actor.can("assign.write") or not actor.covers(segment["street_office_id"]):
        st.info(t("assign.readonly"))
        return
    writes = _module("db.queries.assignments")
    if writes is None:
        _pending("db.queries.assignments")
        return
    labels = _person_label(people, actor)
    ids = [None, *labels]
    head_now = None if pd.isna(segment["head_id"]) else int(segment["head_id"])
    sup_now = None if pd.isna(segment["supervisor_id"]) else int(segment["supervisor_id"])
    seg_id = int(segment["id"])
    with st.form(f"assign_{seg_id}"):
        head = st.selectbox(t("assign.head"), ids, index=ids.index(head_now) if head_now in ids else 0,
                            format_func=lambda i: t("assign.nobody") if i is None else labels[i])  # fmt: skip
        sup = st.selectbox(t("assign.supervisor"), ids, index=ids.index(sup_now) if sup_now in ids else 0,
                           format_func=lambda i: t("assign.nobody") if i is None else labels[i])  # fmt: skip
        note = st.text_input(t("assign.note"), max_chars=200)
        # The version the planner saw travels with the form: a lost update is refused.
        version = int(segment["version"])
        saved = st.form_submit_button(t("assign.save"), type="primary")
    if not saved:
        return
    try:
        with data.engine().begin() as conn:
            writes.assign_segment(
                conn,
                actor,
                segment_id=seg_id,
                person_id=head,
                supervisor_id=sup,
                expected_version=version,
                note=note or None,
            )
    except ConflictError:
        data.invalidate(data.segment_status)
        st.error(t("assign.conflict", version=version))
        return
    data.invalidate(data.segment_status, data.big_screen)
    st.success(t("assign.saved", label=segment["label"], head=labels.get(head, t("assign.nobody"))))
    st.rerun()


@guarded
def page() -> None:
    """The assignment desk."""
    actor = page_actor()
    st.title(t("assign.title"))
    if not ui.has_data():
        return
    f = filters()
    key = f.scope_key(actor)
    if data.data_status()["segments"] > MAP_LIMIT and key[0] is None:
        st.info(t("assign.pick_so"))
        return
    segments = data.segment_status(key)
    if not len(segments):
        st.info(t("empty.no_segments"))
        return
    counts = segments["status"].value_counts()
    st.caption(
        t(
            "assign.counts",
            total=len(segments),
            assigned=int(counts.get("assigned", 0)),
            unassigned=int(counts.get("unassigned", 0)),
            conflict=int(counts.get("conflict", 0)),
        )
    )
    tabs = st.tabs([t(f"assign.tab.{k}") for k in ("desk", "history", "rules")])
    with tabs[0]:
        left, right = st.columns([3, 2], gap="medium")
        selected = st.session_state.get(SELECTED)
        with left:
            m = segment_map(
                segments.assign(head=[show_name(actor, h) for h in segments["head"]]),
                data.outlines("community", key, 10.0),
                style=ui.map_style(),
                selected_id=selected,
            )
            result = ui.show_map(
                m, key="assign_map", height=600, returned_objects=["last_active_drawing"]
            )
            clicked = _selected_from_map(result)
            if clicked is not None and clicked != selected:
                st.session_state[SELECTED] = clicked
                st.rerun()
        with right:
            _pick(segments)
            chosen = segments.loc[segments["id"] == st.session_state.get(SELECTED)]
            if len(chosen):
                _desk(chosen.iloc[0], data.people(key), actor, key)
            else:
                st.info(t("assign.none_selected"))
    with tabs[1]:
        _pending("db.queries.assignments")
    with tabs[2]:
        _pending("db.queries.assignments")


page()
