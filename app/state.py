"""The shared sidebar: area, period and categories that every page reads.

The choices live in ``st.session_state`` under the keys below, so they survive moving
from page to page. Pages read them with :func:`filters` and never draw the widgets
themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from app import data
from app.i18n import LANGS, current_lang, t, translate
from app.markup import t_text
from db.access import ROLE_LABELS, Actor
from db.queries.dashboard import Scope

KEY_LANG = "lang"
KEY_SO = "f_street_office"
KEY_COM = "f_community"
KEY_PERIOD = "f_period"
KEY_DATES = "f_dates"
KEY_CATS = "f_categories"

PERIODS = ("30d", "7d", "90d", "this_month", "last_month", "custom")


@dataclass(frozen=True)
class Filters:
    """The sidebar's choices, resolved: ids, a half-open period, patrol categories."""

    street_office_id: int | None
    community_id: int | None
    start: dt.datetime
    end: dt.datetime
    patrol_categories: tuple[int, ...] | None
    area_name: str

    def scope(self, actor: Actor | None = None) -> Scope:
        """The database scope, narrowed to the actor's street offices."""
        return data.scope_of(self.scope_key(actor))

    def scope_key(self, actor: Actor | None = None) -> tuple[Any, ...]:
        """A hashable key of :meth:`scope` (for cached queries)."""
        so: tuple[int, ...] | None = None
        if self.street_office_id is not None:
            so = (self.street_office_id,)
        if actor is not None and actor.street_office_ids is not None:
            allowed = tuple(sorted(actor.street_office_ids))
            so = allowed if so is None else tuple(s for s in so if s in allowed)
        com = None if self.community_id is None else (self.community_id,)
        return (so, com, self.patrol_categories)


def now() -> dt.datetime:
    """The current time in the deployment's zone (``CITYGRID_TIMEZONE``)."""
    return data.now()


def period_bounds(
    period: str, today: dt.date, dates: tuple[dt.date, ...] | None = None
) -> tuple[dt.date, dt.date]:
    """``[start, end)`` dates of a period preset relative to ``today``.

    >>> period_bounds("last_month", dt.date(2025, 3, 14))
    (datetime.date(2025, 2, 1), datetime.date(2025, 3, 1))
    >>> period_bounds("7d", dt.date(2025, 3, 14))
    (datetime.date(2025, 3, 8), datetime.date(2025, 3, 15))
    """
    tomorrow = today + dt.timedelta(days=1)
    if period == "7d":
        return today - dt.timedelta(days=6), tomorrow
    if period == "90d":
        return today - dt.timedelta(days=89), tomorrow
    if period == "this_month":
        return today.replace(day=1), tomorrow
    if period == "last_month":
        first = today.replace(day=1)
        return (first - dt.timedelta(days=1)).replace(day=1), first
    if period == "custom" and dates and len(dates) == 2:
        return dates[0], dates[1] + dt.timedelta(days=1)
    return today - dt.timedelta(days=29), tomorrow


def _local(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(data.zone()))


def filters() -> Filters:
    """The sidebar's current choices (defaults before the sidebar was drawn)."""
    so = st.session_state.get(KEY_SO)
    com = st.session_state.get(KEY_COM)
    cats = st.session_state.get(KEY_CATS) or None
    start, end = period_bounds(
        st.session_state.get(KEY_PERIOD, PERIODS[0]),
        now().date(),
        st.session_state.get(KEY_DATES),
    )
    names = _area_names()
    area = names.get(com) or names.get(so) or get_area_name()
    return Filters(
        street_office_id=so,
        community_id=com,
        start=_local(start),
        end=_local(end),
        patrol_categories=None if cats is None else tuple(sorted(int(c) for c in cats)),
        area_name=area,
    )


def get_area_name() -> str:
    """The deployment's district name."""
    from citygrid.settings import get_settings

    return get_settings().area_name


def _area_names() -> dict[int, str]:
    frame = data.areas()
    return dict(zip(frame["id"].astype(int), frame["name"], strict=True))


def _street_offices(actor: Actor) -> pd.DataFrame:
    frame = data.areas()
    offices = frame.loc[frame["level"] == "street_office"]
    if actor.street_office_ids is not None:
        offices = offices.loc[offices["id"].isin(actor.street_office_ids)]
    return offices


def draw_sidebar(actor: Actor) -> None:
    """Draw the shared sidebar (language, area, period, categories, who is signed in)."""
    if KEY_LANG not in st.session_state:
        st.session_state[KEY_LANG] = current_lang()
    with st.sidebar:
        st.radio(
            t("side.language"),
            LANGS,
            key=KEY_LANG,
            format_func=lambda code: "中文" if code == "zh" else "English",
            horizontal=True,
        )
        # Labels fixed now: a format function must not read the session when called.
        lang = current_lang()
        every = t("side.all")
        offices = _street_offices(actor)
        so_names = dict(zip(offices["id"].astype(int), offices["name"], strict=True))
        st.selectbox(
            t("side.street_office"),
            [None, *so_names],
            key=KEY_SO,
            format_func=lambda i: every if i is None else so_names[i],
            placeholder=t("side.all"),
        )
        frame = data.areas()
        coms = frame.loc[frame["level"] == "community"]
        so = st.session_state.get(KEY_SO)
        if so is not None:
            coms = coms.loc[coms["parent_id"] == so]
        com_names = dict(zip(coms["id"].astype(int), coms["name"], strict=True))
        if st.session_state.get(KEY_COM) not in com_names:
            st.session_state[KEY_COM] = None
        st.selectbox(
            t("side.community"),
            [None, *com_names],
            key=KEY_COM,
            format_func=lambda i: every if i is None else com_names[i],
            placeholder=t("side.all"),
        )
        st.selectbox(
            t("side.period"),
            PERIODS,
            key=KEY_PERIOD,
            format_func=lambda p: translate(f"side.period.{p}", lang),
        )
        if st.session_state.get(KEY_PERIOD) == "custom":
            today = now().date()
            st.date_input(
                t("side.dates"), value=(today - dt.timedelta(days=29), today), key=KEY_DATES
            )
        cats = data.patrol_categories()
        st.multiselect(
            t("side.categories"),
            [int(c) for c in cats["patrol_category"]],
            key=KEY_CATS,
            format_func=lambda c: translate(f"cat.{c}", lang) if 0 <= c <= 6 else str(c),
            help=t("side.categories.help"),
            placeholder=t("side.all"),
        )
        st.divider()
        role = ROLE_LABELS[actor.role][0 if current_lang() == "zh" else 1]
        st.caption(t_text("side.user", name=actor.display_name or actor.username, role=role))
