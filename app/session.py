"""Who is acting: the one place the dashboard learns it.

- A wall screen opened with ``?kiosk=<token>`` acts as the token's kiosk actor: big
  screen only, read-only, names and phones masked. An unknown token gets nothing.
- With user accounts (``db.users``), a browser session acts as the account that signed
  in (local password, or OpenID Connect through ``st.login()`` when configured).
- Before any account exists, the dashboard acts as the local operator who started
  ``citygrid serve``: an administrator named after the operating-system user.
"""

from __future__ import annotations

import getpass
import importlib
import importlib.util
from types import ModuleType
from typing import Any

import streamlit as st

from db.access import Actor, mask_name, mask_phone

_ACTOR = "actor"
#: The actor main.py resolved for this run, read by the pages.
PAGE_ACTOR = "_page_actor"
KIOSK_PARAM = "kiosk"


def _users() -> ModuleType | None:
    """``db.users`` when the access-control module is installed."""
    if importlib.util.find_spec("db.users") is None:
        return None
    return importlib.import_module("db.users")


def local_operator() -> Actor:
    """The operator at the server, before any account exists: an administrator."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "operator"
    return Actor(username=name, role="admin", display_name=name)


def kiosk_token() -> str | None:
    """The ``?kiosk=`` token of this page's address, if any."""
    value = st.query_params.get(KIOSK_PARAM)
    return value or None


def is_kiosk() -> bool:
    """Whether this browser session is a wall screen."""
    return kiosk_token() is not None


def _accounts_exist(users: ModuleType, conn: Any) -> bool:
    probe = getattr(users, "has_users", None)
    if probe is not None:
        return bool(probe(conn))
    import sqlalchemy as sa

    try:
        return bool(conn.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM users)")))
    except sa.exc.ProgrammingError:
        conn.rollback()
        return False


def current_actor() -> Actor | None:
    """The actor of this browser session, or None when someone must sign in first."""
    from app.data import engine

    token = kiosk_token()
    users = _users()
    if token is not None:
        cached = st.session_state.get(_ACTOR)
        if isinstance(cached, Actor) and cached.role == "kiosk":
            return cached
        if users is None:
            actor = Actor(username="kiosk", role="kiosk", display_name="kiosk")
        else:
            with engine().connect() as conn:
                actor = users.actor_for_kiosk_token(conn, token)
                conn.commit()
        st.session_state[_ACTOR] = actor
        return actor  # type: ignore[no-any-return]
    cached = st.session_state.get(_ACTOR)
    if isinstance(cached, Actor) and cached.role != "kiosk":
        return cached
    if users is None:
        return local_operator()
    with engine().connect() as conn:
        if not _accounts_exist(users, conn):
            return local_operator()
        actor = _oidc_actor(users, conn)
        conn.commit()
    if actor is not None:
        st.session_state[_ACTOR] = actor
    return actor  # type: ignore[no-any-return]


def _oidc_actor(users: ModuleType, conn: Any) -> Actor | None:
    user = getattr(st, "user", None)
    if user is None or not getattr(user, "is_logged_in", False):
        return None
    return users.actor_for_oidc(conn, dict(user.to_dict()))  # type: ignore[no-any-return]


def sign_in(username: str, password: str) -> Actor:
    """Check a local account's password and remember the actor for this session."""
    from app.data import engine

    users = _users()
    if users is None:
        return local_operator()
    with engine().connect() as conn:
        actor = users.authenticate(conn, username, password)
        conn.commit()
    st.session_state[_ACTOR] = actor
    return actor  # type: ignore[no-any-return]


def sign_out() -> None:
    """Forget this session's actor (and leave the identity provider's session)."""
    st.session_state.pop(_ACTOR, None)
    user = getattr(st, "user", None)
    if user is not None and getattr(user, "is_logged_in", False):
        st.logout()


def accounts_enabled() -> bool:
    """Whether sign-in applies (the access module is installed and has accounts)."""
    from app.data import engine

    users = _users()
    if users is None:
        return False
    with engine().connect() as conn:
        return _accounts_exist(users, conn)


def oidc_configured() -> bool:
    """Whether ``st.login()`` has an identity provider configured in secrets."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


def show_phone(actor: Actor, phone: str | None) -> str | None:
    """The phone as ``actor`` may see it."""
    return phone if actor.can("pii.read") else mask_phone(phone)


def show_name(actor: Actor, name: str | None) -> str | None:
    """The name as ``actor`` may see it."""
    return name if actor.can("pii.read") else mask_name(name)


def page_actor() -> Actor:
    """The actor of this run, as resolved by the entry point (pages call this)."""
    actor = st.session_state.get(PAGE_ACTOR)
    if isinstance(actor, Actor):
        return actor
    resolved = current_actor()
    if resolved is None:
        st.stop()
    return resolved
