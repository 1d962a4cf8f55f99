"""我的责任区: what a street head or grid worker answers for, and the problems there.

Their active assignments (segments, lanes, grid cells, markets, with level and
supervisor) on a map and in a list, then the problems on their segments and cells:
open ones first, most urgent first, with deadline and yellow/red state, then those
closed in the last 30 days. Everything comes from ``db.queries.my_area``, which filters
by the signed-in person in SQL; an account not linked to the roster is told how to be.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import current_lang, t
from app.maps import my_area_map
from app.markup import t_text
from app.session import page_actor
from db.access import Actor
from db.queries.my_area import (
    my_assignments,
    my_problems,
    person_name,
    person_of,
    place_counts,
    problem_counts,
)
from gis.errors import DataError

#: Closed problems are listed this many days back.
CLOSED_DAYS = 30


def _local(series: pd.Series) -> pd.Series:
    """Times as people read them: local, to the minute ("" for none)."""
    times = pd.to_datetime(series, utc=True).dt.tz_convert(data.zone())
    return times.dt.strftime("%Y-%m-%d %H:%M").fillna("")


def _counts(places: pd.DataFrame, problems: pd.DataFrame) -> None:
    kinds = place_counts(places)
    figures = problem_counts(problems)
    cards = [(t(f"my.kind.{k}"), n) for k, n in kinds.items()]
    cards += [
        (t("my.open"), figures["open"]),
        (t("colour.red"), figures["red"]),
        (t("colour.yellow"), figures["yellow"]),
        (t("my.closed", days=CLOSED_DAYS), figures["closed"]),
    ]
    for col, (label, value) in zip(st.columns(len(cards)), cards, strict=True):
        col.metric(label, f"{value:,}")
    if figures["closed"]:
        st.caption(
            t("my.on_time", n=figures["closed_on_time"], total=figures["closed"],
              pct=ui.pct(figures["closed_on_time"] / figures["closed"]))
        )  # fmt: skip


def _places(places: gpd.GeoDataFrame) -> None:
    shown = pd.DataFrame(places.drop(columns="geometry")).assign(
        kind=[t(f"my.kind.{k}") for k in places["kind"]],
        role=[t(f"my.role.{r}") for r in places["role"]],
        level=[t("my.level", n=int(v)) if pd.notna(v) else "" for v in places["level"]],
    )
    ui.table(
        shown,
        {
            "kind": "my.col.kind",
            "label": "my.col.place",
            "role": "my.col.role",
            "level": "my.col.level",
            "supervisor": "my.col.supervisor",
            "supervisor_phone": "col.phone",
            "street_office": "col.street_office",
            "community": "col.community",
            "valid_from": "my.col.since",
        },
    )


def _problems(problems: gpd.GeoDataFrame) -> None:
    lang = current_lang()
    shown = pd.DataFrame(problems.drop(columns="geometry")).assign(
        state=[t(f"colour.{c}") for c in problems["colour"]],
        category=problems["category" if lang == "zh" else "category_en"],
        on_time=[
            "" if pd.isna(v) else t("my.yes" if v else "my.no")
            for v in problems["on_time"].astype(object)
        ],
    )
    open_ = shown.loc[shown["colour"] != "closed"]
    closed = shown.loc[shown["colour"] == "closed"]
    st.subheader(t("my.open_title", n=len(open_)))
    if len(open_):
        ui.table(
            open_,
            {
                "state": "my.col.state",
                "case_no": "col.case_no",
                "category": "col.category",
                "place": "my.col.place",
                "address": "col.address",
                "reported_at": "col.reported_at",
                "deadline": "my.col.deadline",
            },
        )
    else:
        st.success(t("my.none_open"))
    st.subheader(t("my.closed_title", days=CLOSED_DAYS, n=len(closed)))
    if len(closed):
        ui.table(
            closed,
            {
                "case_no": "col.case_no",
                "category": "col.category",
                "place": "my.col.place",
                "reported_at": "col.reported_at",
                "closed_at": "my.col.closed_at",
                "on_time": "my.col.on_time",
            },
        )
    else:
        st.caption(t("my.none_closed", days=CLOSED_DAYS))


def _load(actor: Actor) -> tuple[str, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    with data.engine().connect() as conn:
        name = person_name(conn, actor) or actor.display_name or actor.username
        places = my_assignments(conn, actor)
        problems = my_problems(
            conn,
            actor,
            now=data.now(),
            closed_days=CLOSED_DAYS,
            yellow_fraction=data.settings().yellow_fraction,
            tz=data.zone(),
        )
    return name, places, problems


@guarded
def page() -> None:
    """The page of one's own area."""
    actor = page_actor()
    st.title(t("my.title"))
    try:
        person_of(actor)
    except DataError:
        st.info(t_text("my.unlinked", user=actor.username))
        return
    name, places, problems = _load(actor)
    if not len(places):  # problems are found through places: none either
        st.info(t("my.no_places"))
        return
    st.caption(t_text("my.intro", name=name))
    _counts(places, problems)
    if places.geometry.notna().any():
        marked = problems.assign(
            deadline_text=_local(problems["deadline"]),
            category=problems["category" if current_lang() == "zh" else "category_en"],
        )
        m = my_area_map(places, marked, style=ui.map_style())
        ui.show_map(m, key="my_map", height=460)
    st.subheader(t("my.places_title", n=len(places)))
    _places(places)
    _problems(problems)


page()
