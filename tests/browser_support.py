"""Databases and servers for the dashboard's tests (AppTest pages and the browser).

- :func:`seed_small` writes a tiny hand-made district whose figures are checked by hand
  in the query tests (two street offices, four communities, eight street segments, eight
  problems around a fixed ``now``).
- :func:`app_database` builds, once per test session, a database of its own holding the
  demo district at size "tests" (through ``citygrid demo``, the path a user takes), so
  the page tests never share rows with other tests that truncate tables.
- :func:`use_database` points the settings (and the cached engines) at it for a while.
- :func:`serve` starts ``citygrid serve`` on a free port for the browser tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
TZ = ZoneInfo("Asia/Shanghai")

#: The fixed "now" of :func:`seed_small`.
SMALL_NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=TZ)

# Origin of the hand-made district in EPSG:4548 (about 116.40E 39.91N).
_X0, _Y0 = 448700.0, 4419700.0


def _box(x0: float, y0: float, w: float, h: float) -> str:
    x1, y1 = x0 + w, y0 + h
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def _line(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"MULTILINESTRING(({x0} {y0},{x1} {y1}))"


def seed_small(
    conn: Connection, *, srid: int = 4548, now: dt.datetime = SMALL_NOW
) -> dict[str, int]:
    """Write the hand-made district; return ids by name (``so1``, ``com1``, ``seg1``...).

    Street offices so1 (x 0-1000 m) and so2 (x 1000-2000 m), each with two communities
    of 500 x 1000 m, each split in four 500 x 250 m cells. Two east-west street segments
    per community (seg1..seg8) and one lane in com1. Heads: seg1 -> 张伟 (level 3,
    supervisor 李强, level 2), seg2 -> 王芳, seg3 -> 张伟 and 刘洋 (a conflict).
    Problems around ``now`` (default :data:`SMALL_NOW`), in so1/com1/cell 1 unless said:

    ===  ===================  ==============  ============  =====================
    no.  reported            deadline        closed        on the big screen
    ===  ===================  ==============  ============  =====================
    p1   today 09:00         today 13:00     -             open, yellow, new
    p2   today 08:00         today 10:00     -             open, red, new, due
    p3   yesterday 12:00     in 5 days       -             open, white
    p4   10 days ago         8 days ago      9 days ago    due, closed on time
    p5   10 days ago         8 days ago      7 days ago    due, closed late
    p6   20 days ago (so2)   18 days ago     -             open, red, due
    p7   today 10:00 (void)  -               -             not counted
    p8   40 days ago         38 days ago     39 days ago   outside the window
    ===  ===================  ==============  ============  =====================
    """
    ids: dict[str, int] = {}

    def insert(sql: str, **params: object) -> int:
        return int(conn.execute(sa.text(sql + " RETURNING id"), params).scalar_one())

    g = f"ST_GeomFromText(:g, {srid})"
    ids["district"] = insert(
        f"INSERT INTO admin_areas (code, name, level, geom) VALUES ('110101000000', '东城区', "
        f"'district', {g})",
        g=_box(_X0, _Y0, 2000, 1000),
    )
    for k, (code, name) in enumerate(
        (("110101001000", "东华门街道"), ("110101002000", "景山街道"))
    ):
        ids[f"so{k + 1}"] = insert(
            f"INSERT INTO admin_areas (code, name, level, parent_code, geom) "
            f"VALUES (:c, :n, 'street_office', '110101000000', {g})",
            c=code, n=name, g=_box(_X0 + 1000 * k, _Y0, 1000, 1000),
        )  # fmt: skip
    communities = (("110101001001", "多福巷社区"), ("110101001002", "银闸社区"),
                   ("110101002001", "吉祥社区"), ("110101002002", "黄化门社区"))  # fmt: skip
    for k, (code, name) in enumerate(communities):
        x = _X0 + 500 * k
        ids[f"com{k + 1}"] = insert(
            f"INSERT INTO admin_areas (code, name, level, parent_code, geom, population) "
            f"VALUES (:c, :n, 'community', :p, {g}, 5000)",
            c=code, n=name, p=code[:9] + "000", g=_box(x, _Y0, 500, 1000),
        )  # fmt: skip
        for j in range(4):
            ids[f"cell{4 * k + j + 1}"] = insert(
                f"INSERT INTO grid_cells (code, community_id, responsible_body, area_m2, geom) "
                f"VALUES (:c, :com, :b, 125000, {g})",
                c=f"{code}{j + 1:03d}", com=ids[f"com{k + 1}"],
                b=None if (k, j) == (3, 3) else name, g=_box(x, _Y0 + 250 * j, 500, 250),
            )  # fmt: skip
        so = ids[f"so{k // 2 + 1}"]
        for j in range(2):
            n = 2 * k + j + 1
            y = _Y0 + 250 + 500 * j
            ids[f"seg{n}"] = insert(
                f"INSERT INTO road_segments (code, road_name, from_name, to_name, kind, "
                f"street_office_id, community_id, length_m, geom) VALUES (:c, :r, :f, :t, "
                f"'street', :so, :com, 500, {g})",
                c=f"S{n:03d}", r=f"{name[:2]}大街", f=f"{n}号路", t=f"{n + 1}号路",
                so=so, com=ids[f"com{k + 1}"], g=_line(x, y, x + 500, y),
            )  # fmt: skip
    ids["lane1"] = insert(
        f"INSERT INTO road_segments (code, road_name, kind, street_office_id, community_id, "
        f"length_m, geom) VALUES ('L001', '多福胡同', 'lane', :so, :com, 200, {g})",
        so=ids["so1"], com=ids["com1"], g=_line(_X0 + 100, _Y0 + 100, _X0 + 100, _Y0 + 300),
    )  # fmt: skip
    for key, name, phone, so in (("p_zhang", "张伟", "13812345678", "so1"),
                                 ("p_wang", "王芳", "13987654321", "so1"),
                                 ("p_liu", "刘洋", "13700001111", "so1"),
                                 ("p_li", "李强", "13600002222", "so1"),
                                 ("p_zhao", "赵敏", "13500003333", "so2")):  # fmt: skip
        ids[key] = insert(
            "INSERT INTO people (person_key, name, phone, street_office_id) VALUES (:k, :n, :p, :so)",
            k=key, n=name, p=phone, so=ids[so],
        )  # fmt: skip
    for seg, person in (("seg1", "p_zhang"), ("seg2", "p_wang"), ("seg3", "p_zhang"),
                        ("seg3", "p_liu")):  # fmt: skip
        insert(
            "INSERT INTO assignments (person_id, target_type, target_id, role, level, "
            "supervisor_id, assigned_by) VALUES (:p, 'segment', :t, 'street_head', 3, :s, 'seed')",
            p=ids[person], t=ids[seg], s=ids["p_li"],
        )  # fmt: skip
    insert(
        "INSERT INTO assignments (person_id, target_type, target_id, role, level, assigned_by) "
        "VALUES (:p, 'street_office', :t, 'street_head', 2, 'seed')",
        p=ids["p_li"], t=ids["so1"],
    )  # fmt: skip
    conn.execute(
        sa.text(
            "INSERT INTO problem_categories (code, name, major_code, major_name, "
            "patrol_category, deadline_value, deadline_unit) VALUES "
            "('06010', '暴露垃圾', '06', '市容环境', 1, 4, 'work_hours'), "
            "('07001', '非法小广告', '07', '宣传广告', 2, 24, 'hours'), "
            "('09006', '占道经营', '09', '街面秩序', 3, 8, 'hours'), "
            "('10001', '乱停车', '10', '交通秩序', 4, 8, 'hours'), "
            "('11001', '井盖缺损', '11', '城市设施', 5, 24, 'hours'), "
            "('12001', '鼠迹', '12', '病媒生物', 6, 48, 'hours')"
        )
    )
    now = now.astimezone(TZ).replace(hour=12, minute=0, second=0, microsecond=0)
    day = dt.timedelta(days=1)
    today = now.replace(hour=0)
    rows = (
        ("p1", "06010", "handling", today.replace(hour=9), today.replace(hour=13), None, "so1"),
        ("p2", "07001", "reported", today.replace(hour=8), today.replace(hour=10), None, "so1"),
        ("p3", "09006", "handling", now - day, now + 5 * day, None, "so1"),
        ("p4", "10001", "closed", now - 10 * day, now - 8 * day, now - 9 * day, "so1"),
        ("p5", "11001", "closed", now - 10 * day, now - 8 * day, now - 7 * day, "so1"),
        ("p6", "06010", "handling", now - 20 * day, now - 18 * day, None, "so2"),
        ("p7", "06010", "void", today.replace(hour=10), None, None, "so1"),
        ("p8", "12001", "closed", now - 40 * day, now - 38 * day, now - 39 * day, "so1"),
    )
    for case, cat, status, reported, deadline, closed, so in rows:
        com, cell, seg = ("com1", "cell1", "seg1") if so == "so1" else ("com3", "cell9", "seg5")
        ids[case] = insert(
            f"INSERT INTO problems (case_no, category_code, source, status, reported_at, "
            f"deadline, closed_at, address, cell_id, community_id, street_office_id, segment_id, "
            f"geom) VALUES (:case, :cat, 'patrol', :st, :rep, :dl, :cl, :addr, :cell, :com, :so, "
            f":seg, ST_SetSRID(ST_MakePoint(:x, :y), {srid}))",
            case=case, cat=cat, st=status, rep=reported, dl=deadline, cl=closed,
            addr=f"{case} 号院", cell=ids[cell], com=ids[com], so=ids[so], seg=ids[seg],
            x=_X0 + 100 + (1000 if so == "so2" else 0), y=_Y0 + 100,
        )  # fmt: skip
    for code, name, dx in (("M001", "东华门农贸市场", 0), ("M002", "银闸便民市场", 300)):
        ids[code] = insert(
            f"INSERT INTO premises (code, name, kind, street_office_id, community_id, geom) "
            f"VALUES (:c, :n, 'market', :so, :com, ST_SetSRID(ST_MakePoint(:x, :y), {srid}))",
            c=code, n=name, so=ids["so1"], com=ids["com1"], x=_X0 + 200 + dx, y=_Y0 + 600,
        )  # fmt: skip
    for code, state, dx in (("B001", "intact", 20), ("B002", "damaged", 320)):
        ids[code] = insert(
            f"INSERT INTO bait_stations (code, state, geom) "
            f"VALUES (:c, :s, ST_SetSRID(ST_MakePoint(:x, :y), {srid}))",
            c=code, s=state, x=_X0 + 200 + dx, y=_Y0 + 600,
        )  # fmt: skip
    return ids


# --- a database of the app tests' own ----------------------------------------------------


def _admin_engine() -> Engine:
    from citygrid.settings import get_settings
    from db.engine import server_url

    return sa.create_engine(
        server_url(get_settings(), database="postgres"), isolation_level="AUTOCOMMIT"
    )


def _reset_caches() -> None:
    import streamlit as st

    from app.data import engine
    from citygrid.settings import get_settings

    engine().dispose()
    st.cache_resource.clear()
    st.cache_data.clear()
    get_settings.cache_clear()


def point_settings_at(name: str) -> None:
    """Make the settings name database ``name`` on the configured server.

    The embedded cluster's database is ``CITYGRID_DB_NAME``; with
    ``CITYGRID_DATABASE_URL`` set, the URL's database is replaced as well.
    """
    os.environ["CITYGRID_DB_NAME"] = name
    url = os.environ.get("CITYGRID_DATABASE_URL")
    if url:
        from sqlalchemy.engine import make_url

        os.environ["CITYGRID_DATABASE_URL"] = (
            make_url(url).set(database=name).render_as_string(hide_password=False)
        )


@contextlib.contextmanager
def use_database(name: str) -> Iterator[None]:
    """Point CityGrid's settings, engines and the app's caches at database ``name``."""
    before = {k: os.environ.get(k) for k in ("CITYGRID_DB_NAME", "CITYGRID_DATABASE_URL")}
    point_settings_at(name)
    _reset_caches()
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_caches()


def app_database_name() -> str:
    """Name of the app tests' database (beside the test database, suffix ``_app``)."""
    base = os.environ.get("CITYGRID_TEST_DB", "citygrid_test")
    return f"{base}_app"


def demo_available() -> bool:
    """Whether ``citygrid demo`` exists yet."""
    return (ROOT / "citygrid" / "cli" / "demo_cmd.py").is_file()


def build_app_database(name: str) -> None:
    """Create ``name`` from scratch and load the demo district at size "tests" into it.

    Uses ``citygrid demo --size tests --no-serve`` in a subprocess (a user's path); until
    that command exists, the hand-made :func:`seed_small` district instead.
    """
    from db import migrate
    from db.engine import ensure_server, make_engine

    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    with use_database(name):
        from citygrid.settings import get_settings

        ensure_server(get_settings())
        engine = make_engine(get_settings())
        try:
            migrate.upgrade(engine)
            if not demo_available():
                with engine.begin() as conn:
                    seed_small(conn, srid=get_settings().working_srid, now=dt.datetime.now(TZ))
                return
        finally:
            engine.dispose()
    env = {**os.environ, "CITYGRID_DB_NAME": name}
    result = subprocess.run(
        [sys.executable, "-m", "citygrid", "demo", "--size", "tests", "--no-serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        msg = f"citygrid demo --size tests failed:\n{result.stdout}\n{result.stderr}"
        raise RuntimeError(msg)


# --- a running dashboard -----------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(database: str, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``citygrid serve`` on a free port against ``database``; yield its address."""
    port = free_port()
    full_env = {**os.environ, "CITYGRID_DB_NAME": database, **(env or {})}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "citygrid", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # its own process group: `citygrid serve` runs Streamlit as a child process,
        # and both must end with the test (a survivor keeps its database connections)
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            msg = f"citygrid serve did not come up on {url}; see {log.name}"
            raise RuntimeError(msg)
        yield url
    finally:
        _end_group(proc)
        log.close()


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """End the server started by :func:`serve` and its Streamlit child, by group id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- fixtures for the page tests (import them into a test module) ------------------------

_BUILT: set[str] = set()


@pytest.fixture(scope="module")
def app_db(engine: Engine) -> Iterator[str]:
    """The app tests' database (built once per session), in use for one test module."""
    name = app_database_name()
    if name not in _BUILT:
        build_app_database(name)
        _BUILT.add(name)
    with use_database(name):
        yield name


def app_test(
    page: str | None = None,
    *,
    run: bool = True,
    timeout_s: float = 60,
    address: str | None = "127.0.0.1",
) -> AppTest:
    """An AppTest of the dashboard, run once (unless ``run`` is false), switched to ``page``.

    ``address`` is the server's listening address as the app reads it (Streamlit's
    ``server.address``; None: every interface). On loopback with no account the app
    acts as the local operator; anywhere else it asks for a sign-in.
    """
    from streamlit import config

    config.set_option("server.address", address)
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=timeout_s)
    if not run:
        return at
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py")
        at.run()
    return at


def rerun_fragments(at: AppTest) -> AppTest:
    """Run the fragments of ``at``'s last run alone, as their ``run_every`` timer does.

    In a browser the big screen's :func:`board` reruns by itself every refresh, without
    the entry point; AppTest only runs whole scripts, so the fragment ids are queued on
    the rerun request here (AppTest keeps the registered fragments across runs).
    """
    import functools

    from streamlit.testing.v1 import local_script_runner

    ids = list(at._fragment_storage._fragments)  # AppTest has no public accessor
    assert ids, "the last run registered no fragment to rerun"
    plain = local_script_runner.RerunData
    local_script_runner.RerunData = functools.partial(  # type: ignore[misc]
        plain, fragment_id_queue=ids, is_auto_rerun=True
    )
    try:
        at.run()
    finally:
        local_script_runner.RerunData = plain  # type: ignore[misc]
    return at


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill in and submit the sign-in form of ``at`` (showing the sign-in page)."""
    at.text_input[0].set_value(username)
    at.text_input[1].set_value(password)
    at.button[0].click().run()
    return at


# --- driving the dashboard in Chromium ---------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: A text each page shows once it has rendered completely (its last element).
PAGE_DONE = {
    "bigscreen": ".cg-rule",
    "assignment": "text=按名称选择路段",
    "hotspots": "text=月通报",
    "coverage": "text=建议新增毒饵站",
    "data": "text=导入记录",
    "admin": "text=审计日志",
    "settings": "text=监督投诉电话",
}


#: Views that draw at least one map.
MAP_VIEWS = frozenset({"bigscreen", "assignment", "hotspots", "coverage"})


def page_path(view: str) -> str:
    """The address path of a view (the big screen is the default page, at the root)."""
    return "/" if view == "bigscreen" else f"/{view}"


def wait_rendered(page: Any, view: str, *, timeout_ms: int = 120_000) -> None:
    """Wait until ``view`` has drawn its last element, every element is drawn (no
    skeleton placeholder), every panel has its figures (no "computing" note left) and
    its maps (if any) have loaded."""
    page.wait_for_selector(PAGE_DONE[view], timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] svg')"
        " && !document.querySelector('.cg-pending')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=timeout_ms,
    )
    if view in MAP_VIEWS:
        page.wait_for_selector('iframe[src*="streamlit_folium"]', timeout=timeout_ms)
    for frame in page.frames:
        if "streamlit_folium" in frame.url:
            frame.wait_for_selector(".citygrid-legend", timeout=timeout_ms)


# JavaScript run inside a map's frame: the screen position of the middle of the first
# segment of ``kind`` whose status is ``status`` (streamlit-folium keeps the map in
# window.map).
SEGMENT_POINT_JS = """
([status, kind]) => {
  let found = null;
  window.map.eachLayer((layer) => {
    const props = layer.feature ? layer.feature.properties : null;
    if (found || !props || props.status !== status || props.kind !== kind) return;
    const b = layer.getBounds();
    if (!window.map.getBounds().contains(b.getCenter())) return;
    const lls = layer.getLatLngs().flat(2);
    const mid = lls[Math.floor(lls.length / 2)];
    const prev = lls[Math.max(Math.floor(lls.length / 2) - 1, 0)];
    const ll = L.latLng((mid.lat + prev.lat) / 2, (mid.lng + prev.lng) / 2);
    const p = window.map.latLngToContainerPoint(ll);
    found = {x: p.x, y: p.y, id: layer.feature.properties.id};
  });
  return found;
}
"""
