"""Page speed in headless Chromium: first render of each page and each map's payload.

For every run and page a fresh ``citygrid serve`` is started on the given database and
one browser context opens the data page (the server imports its modules and starts the
district's default analyses; the browser caches Streamlit's files, as an operator's
browser has); then the page is opened in a new tab, a new session whose queries are
not cached yet (first render), and once more (warm). A page has rendered when its last element and its maps' legends
are drawn. A map's payload is the size of the websocket message that carries it (the
folium HTML and script with its GeoJSON) as the browser receives it.

    python bench/bench_pages.py --database citygrid_dash_l --runs 3

Targets (issue 6): first render under 3 s, every map under 2 MB, on size "L".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_DONE,
    page_path,
    serve,
    wait_rendered,
)

VIEWS = ("bigscreen", "assignment", "hotspots", "coverage", "data")
MAP_MARKERS = (b"streamlit_folium", b"L.map(")


#: Views that ask for a street office first on a large district.
PER_OFFICE = ("assignment", "coverage")


def _choose_office(page: Any) -> None:
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="街道").first
    box.click()
    page.locator('[role="option"]').nth(1).click()


def _visit(
    context: Any, url: str, view: str, *, office: bool
) -> tuple[float, float, list[int], int]:
    """Open ``view`` in a new tab of ``context``.

    Returns seconds to the page's content, seconds to everything (maps included), the
    map payloads and all bytes received. With ``office``, a street office is chosen
    first (the desks' way on a large district) and the clock starts at that choice.
    """
    page = context.new_page()
    frames: list[bytes] = []

    def on_ws(ws: Any) -> None:
        ws.on("framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode()))

    page.on("websocket", on_ws)
    start = time.perf_counter()
    page.goto(url + page_path(view))
    if office:
        page.wait_for_selector('[data-testid="stSelectbox"]', timeout=180_000)
        page.wait_for_selector("text=选择一个街道", timeout=180_000)
        frames.clear()
        start = time.perf_counter()
        _choose_office(page)
    page.wait_for_selector(PAGE_DONE[view], timeout=180_000)
    content = time.perf_counter() - start
    wait_rendered(page, view, timeout_ms=180_000)
    seconds = time.perf_counter() - start
    page.close()
    maps = [len(f) for f in frames if all(m in f for m in MAP_MARKERS)]
    return content, seconds, maps, sum(len(f) for f in frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="database holding the district")
    parser.add_argument("--runs", type=int, default=3, help="fresh servers per page")
    parser.add_argument("--views", nargs="*", default=list(VIEWS))
    parser.add_argument(
        "--per-office",
        action="store_true",
        help="choose a street office first on the desks (needed on a large district)",
    )
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, list[float]]] = {
        v: {"content": [], "first": [], "warm": [], "map_mb": [], "total_mb": []}
        for v in args.views
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for run in range(args.runs):
            for view in args.views:
                office = args.per_office and view in PER_OFFICE
                with serve(args.database) as url:
                    context = browser.new_context(viewport={"width": 1920, "height": 1080})
                    # the data page first: the server imports its modules and starts the
                    # default analyses, the browser caches Streamlit's own files
                    _visit(context, url, "data", office=False)
                    content, first, maps, total = _visit(context, url, view, office=office)
                    _c, warm, _maps, _total = _visit(context, url, view, office=office)
                    context.close()
                r = results[view]
                r["content"].append(content)
                r["first"].append(first)
                r["warm"].append(warm)
                r["map_mb"].append(max(maps, default=0) / 1e6)
                r["total_mb"].append(total / 1e6)
                print(
                    f"run {run + 1} {view:<11} content {content:6.2f} s  all {first:6.2f} s  "
                    f"warm {warm:6.2f} s  "
                    f"largest map {max(maps, default=0) / 1e6:6.3f} MB  ({len(maps)} maps)  "
                    f"all {total / 1e6:6.2f} MB",
                    flush=True,
                )
        browser.close()
    print(
        "\n| page | content (median s) | first render, maps included (median s) "
        "| warm (median s) | largest map (MB) | target |"
    )
    print("|---|---|---|---|---|---|")
    for view, r in results.items():
        first = statistics.median(r["first"])
        mb = max(r["map_mb"])
        ok = "met" if first < 3 and mb < 2 else "missed"
        print(
            f"| {view} | {statistics.median(r['content']):.2f} | {first:.2f} "
            f"| {statistics.median(r['warm']):.2f} | {mb:.3f} | {ok} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
