"""CityGrid dashboard entry point (``citygrid serve`` runs it with Streamlit).

It learns who is acting, draws the shared sidebar and routes to the pages in
``app/views`` with ``st.navigation``. A wall screen (``?kiosk=<token>``) gets the big
screen alone, with no sidebar and no navigation. Nothing here shows a traceback.
"""

from __future__ import annotations

import streamlit as st

from app import data, session, style
from app.guard import guarded, show_error
from app.i18n import t
from app.state import KEY_LANG, draw_sidebar
from db.access import Actor

VIEWS = "views"


def _page(name: str, *, default: bool = False) -> st.Page:
    # No icons: Streamlit fetches a page's icon from the internet for the favicon, and
    # command-centre networks are often closed.
    return st.Page(f"{VIEWS}/{name}.py", title=t(f"nav.{name}"), url_path=name, default=default)


# Page names of db.users.pages_for -> views.
_VIEW_OF = {
    "big_screen": "bigscreen",
    "hotspots": "hotspots",
    "assignments": "assignment",
    "coverage": "coverage",
    "data": "data",
    "users": "admin",
    "audit": "admin",
    # issue 7: field staff's own area; runtime settings
    "my_area": "my_area",
    "settings": "settings",
}
_SECTIONS = {
    "nav.section.monitor": ("bigscreen", "hotspots"),
    "nav.section.work": ("my_area", "assignment", "coverage"),
    "nav.section.system": ("data", "admin", "settings"),
}


def allowed_views(actor: Actor) -> set[str]:
    """The views ``actor`` may open (``db.users.pages_for`` when access control is on)."""
    users = session.users_module()
    if users is None:
        return set(_VIEW_OF.values())
    return {_VIEW_OF[p] for p in users.pages_for(actor)}


def home_view(actor: Actor, allowed: set[str]) -> str:
    """The view ``actor`` lands on: field staff their own area, others the big screen."""
    if actor.role == "field" and "my_area" in allowed:
        return "my_area"
    return "bigscreen" if "bigscreen" in allowed else min(allowed)


def _pages(actor: Actor) -> dict[str, list[st.Page]]:
    allowed = allowed_views(actor)
    home = home_view(actor, allowed)
    sections: dict[str, list[st.Page]] = {}
    for section, names in _SECTIONS.items():
        pages = [_page(n, default=n == home) for n in names if n in allowed]
        if pages:
            sections[t(section)] = pages
    return sections


@guarded
def _run() -> None:
    if KEY_LANG not in st.session_state and st.query_params.get("lang") in ("zh", "en"):
        st.session_state[KEY_LANG] = st.query_params["lang"]
    kiosk = session.is_kiosk()
    st.set_page_config(
        page_title=t("app.title"),
        layout="wide",
        initial_sidebar_state="collapsed" if kiosk else "auto",
    )
    # first: the whole district's default analyses start while this session signs in
    data.warm_defaults()
    actor = session.current_actor()
    st.session_state[session.PAGE_ACTOR] = actor
    if kiosk:
        if actor is None or actor.role != "kiosk":
            st.error(t("signin.kiosk_bad"))
            return
        style.inject_kiosk()
        st.navigation([_page("bigscreen", default=True)], position="hidden").run()
        return
    if actor is None:
        st.navigation([_page("signin", default=True)], position="hidden").run()
        return
    draw_sidebar(actor)
    if not session.accounts_enabled():
        st.sidebar.caption(t("side.local_operator"))
    elif st.sidebar.button(t("side.signout")):
        session.sign_out()
        st.rerun()
    st.navigation(_pages(actor), position="sidebar").run()


try:
    _run()
except Exception as exc:  # the guard itself failed (e.g. no settings): still no traceback
    show_error(exc)
