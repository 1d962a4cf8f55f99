"""The cached engine and the cached queries the pages call.

Queries are cached per argument set for a short time (``st.cache_data(ttl=...)``):
the big screen's for one refresh interval, the others for a few minutes. A page that
writes clears the caches it made stale with :func:`invalidate`.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
import streamlit as st

from citygrid.settings import get_settings
from db.queries import dashboard as q
from db.queries.dashboard import Scope
from db.queries.density import DEFAULT_TZ

#: Cache lifetime of the pages' queries (seconds); the big screen uses its refresh interval.
PAGE_TTL_S = 300
#: Above this many grid cells or segments a district is "large": heavy analyses of the
#: whole district run in the background, and the desks ask for a street office first.
LARGE = 3000


@st.cache_resource(show_spinner=False)
def engine() -> sa.Engine:
    """The process-wide engine (starts the embedded database when needed)."""
    from db.engine import ensure_server, make_engine

    ensure_server()
    return make_engine()


def _ttl() -> int:
    return get_settings().refresh_seconds


def scope_of(key: tuple[Any, ...]) -> Scope:
    """A :class:`Scope` from its hashable key (see :func:`app.state.Filters.scope_key`)."""
    so, com, cats = key
    return Scope(street_office_ids=so, community_ids=com, patrol_categories=cats)


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def data_status() -> dict[str, int]:
    """Row counts of the layers the pages need."""
    with engine().connect() as conn:
        return q.data_status(conn)


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def areas() -> pd.DataFrame:
    """Street offices and communities."""
    with engine().connect() as conn:
        return q.areas(conn)


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def patrol_categories() -> pd.DataFrame:
    """Patrol categories present in the code table."""
    with engine().connect() as conn:
        return q.patrol_categories(conn)


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def problem_period() -> tuple[dt.datetime, dt.datetime] | None:
    """First and last report time of the loaded problems."""
    with engine().connect() as conn:
        return q.problem_period(conn)


@st.cache_data(ttl=_ttl(), show_spinner=False)
def big_screen(now: dt.datetime, scope_key: tuple[Any, ...]) -> dict[str, Any]:
    """Everything the big screen shows except the map, as plain frames and dicts.

    The six queries run at once on their own connections (PostgreSQL works on them in
    parallel), so the screen waits for the slowest, not for the sum.
    """
    scope = scope_of(scope_key)
    month_start = now - dt.timedelta(days=30)
    jobs: dict[str, Any] = {
        "kpis": lambda c: q.big_screen_kpis(c, now=now, scope=scope),
        "categories": lambda c: q.category_counts(
            c, start=month_start, end=now, now=now, scope=scope
        ),
        "trend": lambda c: q.daily_trend(c, end_day=q.day_start(now).date(), scope=scope),
        "rank_so": lambda c: q.rankings(
            c, unit="street_office", start=month_start, end=now, now=now, scope=scope
        ),
        "rank_com": lambda c: q.rankings(
            c, unit="community", start=month_start, end=now, now=now, scope=scope
        ),
        "latest": lambda c: q.latest_problems(c, now=now, scope=scope),
    }

    def run(job: Any) -> Any:
        with engine().connect() as conn:
            return job(conn)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(run, job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


@st.cache_resource(show_spinner=False)
def _background_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="citygrid-analysis")


@dataclass
class _Job:
    current: Future[Any]
    started: float
    stale: Future[Any] | None = None


@st.cache_resource(show_spinner=False)
def _background_jobs() -> dict[tuple[Any, ...], _Job]:
    return {}


def in_background(key: tuple[Any, ...], func: Any, *args: Any) -> Future[Any]:
    """``func(*args)`` computed once per ``key`` in a worker thread, shared by sessions.

    A page shows what is ready and, while a result is pending, polls for it; slow
    analyses of a whole large district thus never hold up the rest of a page. After
    :data:`PAGE_TTL_S` seconds a result is recomputed, and the old one is served until
    the new one is ready, so a wall screen never goes blank while it refreshes.
    """
    jobs = _background_jobs()
    job = jobs.get(key)
    now = time.monotonic()
    failed = job is not None and job.current.done() and job.current.exception() is not None
    if job is None or failed:
        job = _Job(_background_pool().submit(func, *args), now)
        jobs[key] = job
    elif now - job.started > PAGE_TTL_S and job.current.done():
        job.stale, job.current = job.current, _background_pool().submit(func, *args)
        job.started = now
    if not job.current.done() and job.stale is not None:
        return job.stale
    return job.current


def warm_defaults() -> None:
    """Start the whole district's default analyses (the big screen's and the hotspot
    page's first view) once per server, so that the first visitor need not wait."""
    if _background_jobs().get(("warmed",)) is not None:
        return
    from db.queries.dashboard import day_start

    today = day_start(dt.datetime.now(tz=ZoneInfo(DEFAULT_TZ)))
    window = (today - dt.timedelta(days=29), today + dt.timedelta(days=1))
    scope = (None, None, None)
    eng = engine()
    in_background(("hot", "cell", *window, scope), hotspots_of, eng, "cell", *window, scope)
    in_background(("bait", None), bait_share_of, eng, None)
    done: Future[Any] = Future()
    done.set_result(True)
    _background_jobs()[("warmed",)] = _Job(done, time.monotonic())


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def outlines(level: str, scope_key: tuple[Any, ...], simplify_m: float) -> gpd.GeoDataFrame:
    """Administrative outlines in EPSG:4326."""
    with engine().connect() as conn:
        return q.outlines(conn, level=level, scope=scope_of(scope_key), simplify_m=simplify_m)  # type: ignore[arg-type]


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def segment_status(scope_key: tuple[Any, ...]) -> gpd.GeoDataFrame:
    """Segments with their street-head status and geometry, in EPSG:4326."""
    with engine().connect() as conn:
        return q.segment_status(conn, scope=scope_of(scope_key))  # type: ignore[return-value]


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def people(scope_key: tuple[Any, ...]) -> pd.DataFrame:
    """Active people in the scope's street offices."""
    with engine().connect() as conn:
        return q.people(conn, scope=scope_of(scope_key))


@st.cache_resource(ttl=PAGE_TTL_S, show_spinner=False)
def bait_evaluation(street_office_ids: tuple[int, ...] | None) -> Any:
    """The bait-station evaluation under the shipped profile (shared, never mutated)."""
    from db.queries.coverage import bait_evaluation as evaluate
    from gis.profiles import load_bait_profile

    with engine().connect() as conn:
        return evaluate(conn, profile=load_bait_profile(), street_office_ids=street_office_ids)


@st.cache_resource(ttl=PAGE_TTL_S, show_spinner=False)
def coverage_gaps(street_office_ids: tuple[int, ...] | None) -> dict[str, gpd.GeoDataFrame]:
    """Every coverage-gap layer in the working CRS (shared, never mutated)."""
    from db.queries.coverage import coverage_gaps as gaps
    from gis.profiles import load_bait_profile

    with engine().connect() as conn:
        return gaps(conn, profile=load_bait_profile(), street_office_ids=street_office_ids)


def bait_share_of(eng: sa.Engine, street_office_ids: tuple[int, ...] | None) -> tuple[int, int]:
    """(premises meeting the bait-station rule, premises a rule applies to); no caching."""
    from db.queries.coverage import bait_evaluation as evaluate
    from gis.profiles import load_bait_profile

    with eng.connect() as conn:
        premises = evaluate(
            conn, profile=load_bait_profile(), street_office_ids=street_office_ids
        ).premises
    judged = premises.loc[premises["status"].isin(["ok", "short"])]
    return int((judged["status"] == "ok").sum()), len(judged)


def hotspots_of(
    eng: sa.Engine, unit: str, start: dt.datetime, end: dt.datetime, scope_key: tuple[Any, ...]
) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots of the period (``db.queries.hotspots.hotspots``); no caching."""
    from db.queries import hotspots as hot

    so, _com, cats = scope_key
    with eng.connect() as conn:
        return hot.hotspots(
            conn, unit=unit, start=start, end=end, patrol_categories=cats, street_office_ids=so
        )  # type: ignore[arg-type]


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def hotspots(
    unit: str, start: dt.datetime, end: dt.datetime, scope_key: tuple[Any, ...]
) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots of the period, cached."""
    return hotspots_of(engine(), unit, start, end, scope_key)


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def emerging(end: dt.datetime, months: int, scope_key: tuple[Any, ...]) -> gpd.GeoDataFrame:
    """Emerging-hotspot patterns of grid cells over the ``months`` months before ``end``."""
    from db.queries import hotspots as hot

    so, _com, cats = scope_key
    first = end.date().replace(day=1)
    start = first
    for _ in range(months):
        start = (start - dt.timedelta(days=1)).replace(day=1)
    with engine().connect() as conn:
        return hot.emerging(
            conn, unit="cell", start=start, end=first, patrol_categories=cats, street_office_ids=so
        )


def invalidate(*funcs: Any) -> None:
    """Clear the caches of ``funcs`` (after a write made them stale)."""
    for func in funcs:
        func.clear()
