"""What a person sees: every page in Debian's Chromium against ``citygrid serve``.

Opens each page and saves a screenshot to tests/artifacts/, assigns a street head by
clicking a segment on the map, exports notice boards, and shows the wall screen in
kiosk mode. Needs Debian's Chromium (never a downloaded browser).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.browser_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SEGMENT_POINT_JS,
    app_database_name,
    build_app_database,
    page_path,
    serve,
    wait_rendered,
)

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]

VIEWS = ("bigscreen", "assignment", "hotspots", "coverage", "data", "admin", "settings")


@pytest.fixture(scope="module")
def server(engine: sa.Engine) -> Iterator[str]:
    """A dashboard on a fresh copy of the demo district (size "tests")."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: apt-get install chromium")
    name = app_database_name() + "_web"
    build_app_database(name)
    with serve(name, env={"CITYGRID_REFRESH_SECONDS": "3600"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    pg = context.new_page()
    outside: list[str] = []
    pg.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")) else None,
    )  # fmt: skip
    yield pg
    context.close()
    assert outside == [], f"the page asked the internet for {outside[:5]}"


def _shot(pg: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"screen-{name}.png"
    pg.screenshot(path=str(path))
    return path


@pytest.mark.parametrize("view", VIEWS)
def test_every_page_renders_without_an_error(server: str, page: Any, view: str) -> None:
    page.goto(server + page_path(view))
    wait_rendered(page, view)
    assert page.get_by_text("页面出了点问题").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, view)


def test_wall_screen_in_kiosk_mode(server: str, page: Any, engine: sa.Engine) -> None:
    from citygrid.settings import get_settings
    from db.access import SYSTEM
    from db.engine import make_engine
    from db.kiosk import create_kiosk_token

    web = make_engine(get_settings(), database=app_database_name() + "_web")
    try:
        with web.begin() as conn:
            _info, token = create_kiosk_token(conn, SYSTEM, "browser wall")
    finally:
        web.dispose()
    page.goto(f"{server}/?kiosk={token}")
    wait_rendered(page, "bigscreen")
    assert page.locator('[data-testid="stSidebar"]').is_hidden()
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    # a wall screen never scrolls: everything, the ticker included, within 1920 x 1080
    ticker = page.locator(".cg-ticker").bounding_box()
    assert ticker is not None and ticker["y"] + ticker["height"] <= 1080
    page.wait_for_timeout(1500)  # let the map finish fitting its bounds
    _shot(page, "bigscreen-kiosk")


def test_english_switch(server: str, page: Any) -> None:
    page.goto(server + "/?lang=en")
    page.wait_for_selector("text=Open problems", timeout=60_000)
    wait_rendered(page, "bigscreen")
    assert page.get_by_text("在办问题").count() == 0
    _shot(page, "bigscreen-en")


def _choose(pg: Any, label: str, option_index: int = 1) -> str:
    """Pick an option of the Streamlit selectbox labelled ``label``; return its text."""
    box = pg.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    option = pg.locator('[role="option"]').nth(option_index)
    text = option.inner_text()
    option.click()
    return str(text)


def _map_frame(pg: Any) -> Any:
    frame = next(f for f in pg.frames if "streamlit_folium" in f.url)
    frame.wait_for_function("() => window.map && window.__GLOBAL_DATA__", timeout=30_000)
    return frame


def _view(frame: Any) -> tuple[float, float, float]:
    c = frame.evaluate(
        "() => [window.map.getCenter().lat, window.map.getCenter().lng, window.map.getZoom()]"
    )
    return round(c[0], 5), round(c[1], 5), c[2]


def test_assign_a_head_by_clicking_a_segment(server: str, page: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(server + "/assignment")
    wait_rendered(page, "assignment")
    frame = _map_frame(page)
    # the planner zooms in; selecting a segment must leave the map where they put it
    frame.evaluate("() => { window.map.setZoom(window.map.getZoom() + 1, {animate: false}); }")
    page.wait_for_timeout(300)
    point = frame.evaluate(SEGMENT_POINT_JS, ["unassigned", "street"])
    assert point, "no unassigned street segment in view"
    before = _view(frame)
    box = frame.locator(".leaflet-container").bounding_box()
    for _attempt in range(3):  # a click before the map's handlers are attached is lost
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        try:
            page.wait_for_selector("text=三级街长", timeout=15_000)
            break
        except PlaywrightTimeout:
            continue
    assert page.get_by_text("三级街长").count() >= 1, "clicking the segment selected nothing"
    wait_rendered(page, "assignment")
    page.wait_for_timeout(1000)  # time enough for a map that would refit its bounds
    frame = _map_frame(page)
    assert _view(frame) == before, "selecting a segment moved the map"
    assert frame.evaluate("() => (window.feature_group || []).length") >= 1  # the highlight
    _shot(page, "assignment-selected")
    chosen = _choose(page, "三级街长")
    page.get_by_role("button", name="保存分配").click()
    page.wait_for_selector("text=已保存", timeout=30_000)
    assert chosen.split(" · ")[0] in page.locator('[data-testid="stAlert"]').first.inner_text()
    wait_rendered(page, "assignment")
    page.wait_for_timeout(1000)
    # the map is drawn anew with the new status, where the planner left it
    assert _view(_map_frame(page)) == before, "saving moved the map"
    _shot(page, "assignment-saved")


def test_export_notice_boards(server: str, page: Any) -> None:
    page.goto(server + "/assignment")
    wait_rendered(page, "assignment")
    page.get_by_role("tab", name="公示牌").click()
    page.wait_for_selector(".cg-board", timeout=30_000)
    page.get_by_role("button", name="下载公示牌（PDF，每页一块）").click()
    link = page.get_by_role("button", name="⬇ notice-boards-zh.pdf")
    link.wait_for(timeout=60_000)
    with page.expect_download() as download:
        link.click()
    target = ARTIFACTS / "notice-boards.pdf"
    download.value.save_as(str(target))
    assert target.read_bytes().startswith(b"%PDF")
    _shot(page, "assignment-boards")
    if shutil.which("pdftoppm") and os.environ.get("CITYGRID_KEEP_BOARD_PNG"):
        import subprocess

        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(target),
                        str(ARTIFACTS / "notice-board")], check=True)  # fmt: skip


def test_notice_board_preview_in_english(server: str, page: Any) -> None:
    page.goto(server + "/assignment?lang=en")
    tab = page.get_by_role("tab", name="Notice boards")
    tab.wait_for(timeout=120_000)
    tab.click()
    card = page.locator(".cg-board")
    card.wait_for(timeout=30_000)
    text = card.inner_text()
    assert "Street Head Notice Board" in text and "Complaints hotline" in text
    assert "路段街长公示牌" not in text and "监督投诉电话" not in text
    _shot(page, "assignment-boards-en")


def test_uploader_speaks_chinese(server: str, page: Any) -> None:
    page.goto(server + "/data")
    wait_rendered(page, "data")
    zone = page.locator('[data-testid="stFileUploaderDropzone"]').first
    assert zone.locator('button [data-testid="stMarkdownContainer"]').is_hidden()  # "Upload"
    assert "选择文件" in zone.locator("button [data-has-shortcut]").evaluate(
        "e => getComputedStyle(e, '::after').content"
    )
    assert page.locator('[data-testid="stFileUploaderDropzoneInstructions"]').first.is_hidden()
