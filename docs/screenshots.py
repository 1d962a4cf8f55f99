"""Take the README's screenshots of the dashboard on the demo district.

Serves the database named by the settings (load it first with ``citygrid demo
--no-serve``) on a free port, opens each page in Debian's Chromium and writes
``docs/images/screen-*.png`` (1920 x 1080, as a command-centre screen or a desk shows it)::

    .venv/bin/citygrid demo --no-serve
    .venv/bin/python docs/screenshots.py

The wall screen is shot through a kiosk token made for the purpose and revoked after.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, serve, wait_rendered  # noqa: E402

OUT = ROOT / "docs" / "images"


def _shot(page: Any, name: str) -> None:
    page.wait_for_timeout(1500)  # let the maps finish fitting their bounds
    path = OUT / f"screen-{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from citygrid.settings import get_settings
    from db.access import SYSTEM
    from db.engine import get_engine
    from db.kiosk import create_kiosk_token, revoke_kiosk_token

    settings = get_settings()
    engine = get_engine()
    name = "README screenshots"
    with engine.begin() as conn:
        _info, token = create_kiosk_token(conn, SYSTEM, name)
    try:
        with serve(settings.db_name) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{url}/?kiosk={token}")
            wait_rendered(page, "bigscreen")
            _shot(page, "bigscreen")
            page.goto(f"{url}/?kiosk={token}&lang=en")
            wait_rendered(page, "bigscreen")
            _shot(page, "bigscreen-en")
            for view in ("hotspots", "coverage", "data"):
                page.goto(f"{url}/{view}")
                wait_rendered(page, view)
                _shot(page, view)
            page.goto(f"{url}/assignment")
            wait_rendered(page, "assignment")
            _shot(page, "assignment")
            browser.close()
    finally:
        with engine.begin() as conn:
            revoke_kiosk_token(conn, SYSTEM, name)


if __name__ == "__main__":
    main()
