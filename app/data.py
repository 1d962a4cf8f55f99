"""The cached engine, the cached queries the pages call, and shared background results.

Queries are cached per argument set for a few minutes (``st.cache_data(ttl=...)``).
Results that take seconds at city scale (the big screen's figures per refresh tick,
Gi* hot spots, the bait-station share) are computed once in a worker thread and shared
by every session (:func:`in_background`); the district's defaults start with the
server's first session (:func:`warm_defaults`). A page that writes clears what it made
stale with :func:`invalidate` and :func:`forget_jobs`. Days and months are counted in
the deployment's time zone (:func:`zone`).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
import streamlit as st

from citygrid.settings import Settings, get_settings
from db.queries import dashboard as q
from db.queries.dashboard import Scope

#: Cache lifetime of the pages' queries (seconds); the big screen uses its refresh interval.
PAGE_TTL_S = 300
#: How long a change an administrator made to the settings may take to reach a page.
SETTINGS_TTL_S = 30
#: Above this many grid cells or segments a district is "large": heavy analyses of the
#: whole district run in the background, and the desks ask for a street office first.
#: Dongcheng (4,187 cells, 2,988 segments) is drawn whole: its gap layers take under a
#: second, its emerging hot spots a few; a 50,000-cell district is not.
LARGE = 10_000
#: A background result nobody asked for in this long is dropped.
JOB_KEEP_S = 2 * PAGE_TTL_S
#: Niceness of the thread running whole-district analyses (pages come first).
BACKGROUND_NICE = 10


@st.cache_resource(show_spinner=False)
def engine() -> sa.Engine:
    """The process-wide engine (starts the embedded database when needed)."""
    from db.engine import app_engine, ensure_server

    ensure_server()
    return app_engine()


@st.cache_resource(ttl=SETTINGS_TTL_S, show_spinner=False)
def _runtime_settings() -> Settings:
    from db.runtime_settings import effective_settings

    with engine().connect() as conn:
        return effective_settings(conn)


def settings() -> Settings:
    """The settings in force: the environment's, with what an administrator changed
    (``db.runtime_settings``), at most :data:`SETTINGS_TTL_S` seconds old.

    Never fails: with the database out of reach the environment's settings apply (the
    page's own queries then say what is wrong).
    """
    try:
        return _runtime_settings()
    except Exception:  # not cached: the next call asks the database again
        return get_settings()


def settings_changed() -> None:
    """Forget the settings in force (after a change), and the results they shaped."""
    _runtime_settings.clear()
    forget_jobs("big")


def zone() -> str:
    """The deployment's time zone: days, months and periods are counted in it."""
    return get_settings().timezone


def now() -> dt.datetime:
    """The current time in the deployment's zone."""
    return dt.datetime.now(tz=ZoneInfo(zone()))


def tick(moment: dt.datetime) -> dt.datetime:
    """``moment`` rounded down to the refresh interval: every screen shares one answer."""
    step = settings().refresh_seconds
    seconds = int(moment.timestamp()) // step * step
    return dt.datetime.fromtimestamp(seconds, tz=moment.tzinfo)


def last_30_days(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The 30 local days up to and including ``moment``'s day, day-aligned (shared by
    every screen and page that shows "the last 30 days")."""
    from db.queries.dashboard import day_start

    today = day_start(moment, tz=zone())
    return today - dt.timedelta(days=29), today + dt.timedelta(days=1)


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


def big_screen_of(
    eng: sa.Engine,
    moment: dt.datetime,
    scope_key: tuple[Any, ...],
    tz: str,
    yellow_fraction: float = q.YELLOW_FRACTION,
) -> dict[str, Any]:
    """Everything the big screen shows except the map and the bait-station share.

    The queries run at once on their own connections (PostgreSQL works on them in
    parallel), so the screen waits for the slowest, not for the sum. No caching here:
    :func:`big_screen` shares one result per refresh tick and scope.
    """
    scope = scope_of(scope_key)
    month_start = moment - dt.timedelta(days=30)
    jobs: dict[str, Callable[[sa.Connection], Any]] = {
        "kpis": lambda c: q.big_screen_kpis(
            c, now=moment, scope=scope, tz=tz, yellow_fraction=yellow_fraction
        ),
        "categories": lambda c: q.category_counts(
            c, start=month_start, end=moment, now=moment, scope=scope
        ),
        "trend": lambda c: q.daily_trend(
            c, end_day=q.day_start(moment, tz=tz).date(), scope=scope, tz=tz
        ),
        "ranks": lambda c: q.rankings_by_area(
            c, start=month_start, end=moment, now=moment, scope=scope
        ),
        "latest": lambda c: q.latest_problems(
            c, now=moment, scope=scope, yellow_fraction=yellow_fraction
        ),
    }

    def run(job: Callable[[sa.Connection], Any]) -> Any:
        with eng.connect() as conn:
            return job(conn)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(run, job) for name, job in jobs.items()}
        out = {name: f.result() for name, f in futures.items()}
    out["rank_so"], out["rank_com"] = out.pop("ranks")
    return out


def big_screen(moment: dt.datetime, scope_key: tuple[Any, ...]) -> Future[dict[str, Any]]:
    """The big screen's figures at refresh tick ``moment``, shared by every screen.

    Started in the background (by :func:`warm_defaults` for the whole district, or by
    the first screen to ask), so a screen opening meanwhile waits for the same answer.
    """
    yellow = settings().yellow_fraction
    return in_background(
        ("big", moment, scope_key, yellow),
        big_screen_of,
        engine(),
        moment,
        scope_key,
        zone(),
        yellow,
        pool="quick",
    )


def _yield_cpu() -> None:
    """Lower this worker thread's CPU priority (Linux schedules threads one by one), so
    that pages being drawn come first when the machine is busy; an analysis holding the
    GIL then also hands it over sooner."""
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


@st.cache_resource(show_spinner=False)
def _background_pools() -> dict[str, ThreadPoolExecutor]:
    # Whole-district analyses (seconds each) and the big screen's queries (a second)
    # get pools of their own: a screen's figures never queue behind a Gi*. The analyses
    # are mostly Python holding the GIL, so two at once take as long as one after the
    # other, and the first is ready sooner alone: one worker, first come first served.
    # Threads, not processes: a worker process takes longer to start than a Gi* takes.
    return {
        "analysis": ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="citygrid-analysis", initializer=_yield_cpu
        ),
        "quick": ThreadPoolExecutor(max_workers=2, thread_name_prefix="citygrid-quick"),
    }


@dataclass
class _Job:
    current: Future[Any]
    started: float
    used: float
    stale: Future[Any] | None = None


@st.cache_resource(show_spinner=False)
def _background_jobs() -> dict[tuple[Any, ...], _Job]:
    return {}


def in_background(
    key: tuple[Any, ...],
    func: Callable[..., Any],
    *args: Any,
    pool: Literal["analysis", "quick"] = "analysis",
) -> Future[Any]:
    """``func(*args)`` computed once per ``key`` in a worker thread, shared by sessions.

    A page draws what is ready and waits for the rest (:func:`app.ui.wait_all`); slow
    analyses of a whole large district thus never hold up the rest of a page. After
    :data:`PAGE_TTL_S` seconds a result is recomputed, and the old one is served until
    the new one is ready, so a wall screen never goes blank while it refreshes. Results
    nobody asked for in :data:`JOB_KEEP_S` seconds are dropped.
    """
    jobs = _background_jobs()
    now_s = time.monotonic()
    for old in [k for k, j in jobs.items() if now_s - j.used > JOB_KEEP_S and j.current.done()]:
        jobs.pop(old, None)
    job = jobs.get(key)
    failed = job is not None and job.current.done() and job.current.exception() is not None
    if job is None or failed:
        job = _Job(_background_pools()[pool].submit(func, *args), now_s, now_s)
        jobs[key] = job
    elif now_s - job.started > PAGE_TTL_S and job.current.done():
        job.stale, job.current = job.current, _background_pools()[pool].submit(func, *args)
        job.started = now_s
    job.used = now_s
    if not job.current.done() and job.stale is not None:
        return job.stale
    return job.current


def default_jobs(moment: dt.datetime, scope_key: tuple[Any, ...]) -> dict[str, Future[Any]]:
    """The big screen's three shared results for a scope: figures, Gi* map, bait share."""
    window = last_30_days(moment)
    return {
        "big": big_screen(tick(moment), scope_key),
        "hot": hotspots(unit="cell", start=window[0], end=window[1], scope_key=scope_key),
        "bait": in_background(("bait", scope_key[0]), bait_share_of, engine(), scope_key[0]),
    }


def warm_defaults() -> None:
    """Start the whole district's default results (the big screen's figures, its Gi*
    map and bait-station share, the hotspot page's first view) once per server, so
    that the first visitor of those pages need not wait for them."""
    jobs = _background_jobs()
    if ("warmed",) in jobs:
        return
    done: Future[Any] = Future()
    done.set_result(True)
    jobs[("warmed",)] = _Job(done, time.monotonic(), float("inf"))
    default_jobs(now(), (None, None, None))


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

    with engine().connect() as conn:
        return evaluate(conn, street_office_ids=street_office_ids)


@st.cache_resource(ttl=PAGE_TTL_S, show_spinner=False)
def coverage_gaps(street_office_ids: tuple[int, ...] | None) -> dict[str, gpd.GeoDataFrame]:
    """Every coverage-gap layer in the working CRS (shared, never mutated)."""
    from db.queries.coverage import coverage_gaps as gaps

    with engine().connect() as conn:
        return gaps(conn, street_office_ids=street_office_ids)


def bait_share_of(eng: sa.Engine, street_office_ids: tuple[int, ...] | None) -> tuple[int, int]:
    """(premises meeting the bait-station rule, premises a rule applies to), under the
    city's rule profile (``CITYGRID_BAIT_PROFILE``, else the shipped one); no caching."""
    from db.queries.coverage import bait_evaluation as evaluate

    with eng.connect() as conn:
        premises = evaluate(conn, street_office_ids=street_office_ids).premises
    judged = premises.loc[premises["status"].isin(["ok", "short"])]
    return int((judged["status"] == "ok").sum()), len(judged)


def hotspots_of(
    eng: sa.Engine,
    *,
    unit: str,
    start: dt.datetime,
    end: dt.datetime,
    scope_key: tuple[Any, ...],
    tz: str,
) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots of the period (``db.queries.hotspots.hotspots``); no caching."""
    from db.queries import hotspots as hot

    so, _com, cats = scope_key
    with eng.connect() as conn:
        return hot.hotspots(
            conn,
            unit=unit,  # type: ignore[arg-type]
            start=start,
            end=end,
            patrol_categories=cats,
            street_office_ids=so,
            tz=tz,
        )


def hotspots(
    *, unit: str, start: dt.datetime, end: dt.datetime, scope_key: tuple[Any, ...]
) -> Future[gpd.GeoDataFrame]:
    """Gi* hot spots of a period and scope, computed once in the background and shared
    (the big screen's and the hotspot page's last 30 days are the same job)."""
    return in_background(
        ("hot", unit, start, end, scope_key),
        functools.partial(
            hotspots_of,
            engine(),
            unit=unit,
            start=start,
            end=end,
            scope_key=scope_key,
            tz=zone(),
        ),
    )


@st.cache_data(ttl=PAGE_TTL_S, show_spinner=False)
def emerging(end: dt.datetime, months: int, scope_key: tuple[Any, ...]) -> gpd.GeoDataFrame:
    """Emerging-hotspot patterns of grid cells over the ``months`` months before ``end``."""
    from db.queries import hotspots as hot

    so, _com, cats = scope_key
    tz = zone()
    first = end.astimezone(ZoneInfo(tz)).date().replace(day=1)
    start = first
    for _ in range(months):
        start = (start - dt.timedelta(days=1)).replace(day=1)
    with engine().connect() as conn:
        return hot.emerging(
            conn,
            unit="cell",
            start=start,
            end=first,
            patrol_categories=cats,
            street_office_ids=so,
            tz=tz,
        )


def wait_any(futures: Iterable[Future[Any]], *, timeout_s: float) -> bool:
    """Wait until one of ``futures`` is done (True) or ``timeout_s`` passed (False).

    The wait looks at the session state between short slices: Streamlit interrupts a
    script only when it touches Streamlit, so a page switch or a rerun is never held up.
    """
    pending = set(futures)
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        done, pending = wait(pending, timeout=min(0.1, left), return_when=FIRST_COMPLETED)
        if done:
            return True
        _ = "_cg_waiting" in st.session_state  # a yield point for stop and rerun requests
    return True


def forget_jobs(*kinds: str) -> None:
    """Drop the background results of these kinds (e.g. ``"big"``) after a write."""
    jobs = _background_jobs()
    for key in [k for k in jobs if k and k[0] in kinds]:
        jobs.pop(key, None)


def invalidate(*funcs: Any) -> None:
    """Clear the caches of ``funcs`` (after a write made them stale)."""
    for func in funcs:
        func.clear()
