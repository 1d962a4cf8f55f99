"""Who is acting: the one place the dashboard learns it.

- A wall screen opened with ``?kiosk=<token>`` acts as the token's kiosk actor: big
  screen only, read-only, names and phones masked. An unknown token gets nothing.
- With user accounts (``db.users``), a browser session acts as the account that signed
  in (local password, or OpenID Connect through ``st.login()`` when configured).
- Before any account exists, and only while the server listens on the loopback
  interface alone (``CITYGRID_APP_ADDRESS=127.0.0.1``, the default), the dashboard acts
  as the local operator who started ``citygrid serve``: an administrator named after
  the operating-system user. A server reachable from the network with no account yet
  lets nobody in and says how to create the first administrator.
- A person the identity provider signed in but CityGrid refuses is refused once per
  browser session: the refusal is remembered (not retried and audited on every rerun)
  and the sign-in page offers to leave the identity provider's session.
- Every run checks the session's account or wall-screen token against the database
  again, fragment runs included (the big screen refreshes itself without passing through
  the entry point): a disabled account or a revoked token sees no more data.
"""

from __future__ import annotations

import getpass
import importlib
import importlib.util
import ipaddress
import time
from types import ModuleType
from typing import Any

import pandas as pd
import streamlit as st

from db.access import Actor, mask_name, mask_phone
from gis.errors import PermissionDeniedError

_ACTOR = "actor"
#: The identity-provider sign-in this session refused: ((issuer, subject), message).
_OIDC_REFUSED = "oidc_refused"
#: The actor main.py resolved for this run, read by the pages.
PAGE_ACTOR = "_page_actor"
#: When (``time.monotonic()``) the actor of this session was last checked.
_CHECKED_AT = "_actor_checked_at"
#: How long one check holds: the calls of one run share it, while every later run and
#: every fragment run (refreshing at least every 5 s, ``CITYGRID_REFRESH_SECONDS``)
#: checks again.
RECHECK_S = 2.0
KIOSK_PARAM = "kiosk"


def users_module() -> ModuleType | None:
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


def loopback_only() -> bool:
    """Whether the server listens on the loopback interface alone (Streamlit's
    ``server.address``); unset means every interface."""
    address = st.get_option("server.address")
    if not address:
        return False
    if str(address).strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(address).strip("[] ")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def kiosk_token() -> str | None:
    """The ``?kiosk=`` token of this page's address, if any."""
    value = st.query_params.get(KIOSK_PARAM)
    return value or None


def is_kiosk() -> bool:
    """Whether this browser session is a wall screen."""
    return kiosk_token() is not None


def _accounts_exist(conn: Any) -> bool:
    import sqlalchemy as sa

    try:
        return bool(conn.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM users)")))
    except sa.exc.ProgrammingError:  # the access migration has not run on this database
        conn.rollback()
        return False


def current_actor() -> Actor | None:
    """The actor of this browser session, or None when nobody may act (sign in first).

    A remembered actor is re-checked on every run (``db.users.refresh_actor``), so that
    disabling an account or revoking a screen's token takes effect at once.
    """
    from app.data import engine

    users = users_module()
    token = kiosk_token()
    cached = st.session_state.get(_ACTOR)
    if users is None:
        if token is not None:
            return Actor(username="kiosk", role="kiosk", display_name="kiosk")
        return local_operator() if loopback_only() else None
    with engine().connect() as conn:
        try:
            actor = _resolve(users, conn, token, cached)
        except PermissionDeniedError:
            conn.commit()  # the refusal's audit row
            st.session_state.pop(_ACTOR, None)
            return None
        conn.commit()
    if actor is not None and actor.extra.get("auth"):
        st.session_state[_ACTOR] = actor
    st.session_state[_CHECKED_AT] = time.monotonic()
    return actor


def _resolve(users: ModuleType, conn: Any, token: str | None, cached: Any) -> Actor | None:
    if token is not None:
        if isinstance(cached, Actor) and cached.role == "kiosk":
            return users.refresh_actor(conn, cached)  # type: ignore[no-any-return]
        return users.actor_for_kiosk_token(conn, token)  # type: ignore[no-any-return]
    if isinstance(cached, Actor) and cached.role != "kiosk":
        return users.refresh_actor(conn, cached)  # type: ignore[no-any-return]
    if not _accounts_exist(conn) and loopback_only():
        return local_operator()
    user = getattr(st, "user", None)
    if oidc_configured() and user is not None and getattr(user, "is_logged_in", False):
        return _oidc_actor(users, conn, dict(user.to_dict()))
    return None


def _identity(claims: dict[str, Any]) -> tuple[str, str]:
    return str(claims.get("iss") or ""), str(claims.get("sub") or "")


def _oidc_actor(users: ModuleType, conn: Any, claims: dict[str, Any]) -> Actor | None:
    """The actor of the identity provider's user, or None when CityGrid refused them.

    A refusal is remembered for this browser session, so that each rerun neither asks
    the database again nor writes another audit row; signing out forgets it.
    """
    from citygrid.settings import get_settings

    refused = st.session_state.get(_OIDC_REFUSED)
    if refused is not None and refused[0] == _identity(claims):
        return None
    settings = get_settings()
    try:
        return users.actor_for_oidc(  # type: ignore[no-any-return]
            conn,
            claims,
            default_role=settings.oidc_default_role,
            default_street_office_codes=settings.oidc_default_street_offices or None,
        )
    except PermissionDeniedError as exc:
        st.session_state[_OIDC_REFUSED] = (_identity(claims), str(exc))
        raise


def oidc_refusal() -> str | None:
    """Why the identity provider's user was refused in this session, if they were."""
    refused = st.session_state.get(_OIDC_REFUSED)
    return None if refused is None else str(refused[1])


def sign_in(username: str, password: str) -> Actor:
    """Check a local account's password and remember the actor for this session."""
    from app.data import engine

    users = users_module()
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
    st.session_state.pop(_OIDC_REFUSED, None)
    user = getattr(st, "user", None)
    if user is not None and getattr(user, "is_logged_in", False):
        st.logout()


def accounts_enabled() -> bool:
    """Whether sign-in applies (the access module is installed and has accounts)."""
    from app.data import engine

    if users_module() is None:
        return False
    with engine().connect() as conn:
        return _accounts_exist(conn)


def oidc_configured() -> bool:
    """Whether ``st.login()`` has an identity provider configured in secrets."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


def _text(value: object) -> str | None:
    # Missing values arrive from frames as None, NaN or pd.NA; all mean "nobody".
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    return str(value)


def show_phone(actor: Actor, phone: object) -> str | None:
    """The phone as ``actor`` may see it (None when there is none)."""
    text = _text(phone)
    return text if actor.can("pii.read") else mask_phone(text)


def show_name(actor: Actor, name: object) -> str | None:
    """The name as ``actor`` may see it (None when there is none)."""
    text = _text(name)
    return text if actor.can("pii.read") else mask_name(text)


def page_actor() -> Actor:
    """The actor of this run (pages call this), checked at most :data:`RECHECK_S` ago.

    The entry point checks the actor at the start of every full run; a fragment's run
    does not pass through it, so an older check is made again here. An actor no longer
    valid (a revoked wall-screen token, a disabled account) makes the whole app run
    again, and the entry point shows the refusal or the sign-in page instead of data.
    """
    actor = st.session_state.get(PAGE_ACTOR)
    checked = st.session_state.get(_CHECKED_AT)
    if isinstance(actor, Actor) and checked is not None and time.monotonic() - checked < RECHECK_S:
        return actor
    resolved = current_actor()
    st.session_state[PAGE_ACTOR] = resolved
    if resolved is None or (is_kiosk() and resolved.role != "kiosk"):
        st.rerun(scope="app")
    return resolved
