"""系统管理: accounts, wall-screen tokens and the audit log (administrators).

Tables, roles and choices follow the language switch. The audit log is searched by
actor, action, object and dates, a page at a time, and exported (CSV or Excel) through
``db.queries.audit.export_audit``, which records the export in the log itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import current_lang, t
from app.session import KIOSK_PARAM, page_actor
from db.access import ROLE_LABELS, Actor
from db.queries.audit import AuditFilter, AuditPage

ACCOUNT_ROLES = ("admin", "planner", "leader", "field", "viewer")
NEW_TOKEN = "admin_token_created"  # not the form's key: Streamlit owns that one
AUDIT_EXPORT = "admin_audit_export"
AUDIT_PAGE = "admin_audit_page"
PAGE_SIZES = (50, 100, 200, 500)

USER_COLUMNS = {
    "username": "signin.username",
    "role": "admin.role",
    "display_name": "admin.col.display_name",
    "offices": "admin.col.offices",
    "disabled": "admin.col.disabled",
    "locked_until": "admin.col.locked_until",
    "last_sign_in_at": "admin.col.last_sign_in",
}
TOKEN_COLUMNS = {
    "id": "col.code",
    "name": "admin.name",
    "hint": "admin.col.hint",
    "offices": "admin.col.offices",
    "created_at": "admin.col.created_at",
    "created_by": "admin.col.created_by",
    "last_used_at": "admin.col.last_used",
}
AUDIT_COLUMNS = {
    "at": "col.when",
    "actor": "col.who",
    "action": "col.action",
    "entity_type": "admin.col.entity_type",
    "entity_id": "admin.col.entity_id",
    "before": "admin.col.before",
    "after": "admin.col.after",
    "detail": "admin.col.detail",
}


def _offices(actor: Actor) -> dict[str, str]:
    """Street-office code -> name, of the offices ``actor`` may manage."""
    frame = data.areas()
    offices = frame.loc[frame["level"] == "street_office"]
    if actor.street_office_ids is not None:
        offices = offices.loc[offices["id"].isin(actor.street_office_ids)]
    return dict(zip(offices["code"].astype(str), offices["name"].astype(str), strict=True))


def _office_names(codes: object, names: dict[str, str], every: str) -> str:
    if codes is None or (not isinstance(codes, list | tuple) and pd.isna(codes)):  # type: ignore[call-overload]
        return every
    return "、".join(names.get(str(c), str(c)) for c in codes)  # type: ignore[union-attr]


def _pick_offices(actor: Actor, key: str) -> list[str] | None:
    """A choice of street offices (none chosen: every area)."""
    offices = _offices(actor)
    chosen = st.multiselect(
        t("admin.offices"),
        list(offices),
        key=key,
        format_func=lambda c: f"{offices[c]}（{c}）",
        placeholder=t("side.all"),
    )
    return list(chosen) or None


def _users(actor: Actor) -> None:
    from db.users import create_user, disable_user, list_users, unlock_user

    lang_i = 0 if current_lang() == "zh" else 1
    with data.engine().connect() as conn:
        users = list_users(conn, actor)
    frame = pd.DataFrame([dataclasses.asdict(u) for u in users])
    if len(frame):
        names, every = _offices(actor), t("side.all")
        shown = frame.assign(
            role=[ROLE_LABELS[r][lang_i] for r in frame["role"]],
            offices=[_office_names(c, names, every) for c in frame["street_office_codes"]],
        )
        ui.table(shown, USER_COLUMNS)
    with st.form("admin_new_user", clear_on_submit=True):
        c1, c2, c3 = st.columns(3)
        username = c1.text_input(t("signin.username"), max_chars=64, key="admin_user_name")
        labels = {r: ROLE_LABELS[r][lang_i] for r in ACCOUNT_ROLES}
        role = c2.selectbox(
            t("admin.role"), ACCOUNT_ROLES, format_func=labels.__getitem__, key="admin_user_role"
        )
        password = c3.text_input(
            t("signin.password"), type="password", max_chars=1024, key="admin_user_password"
        )
        codes = _pick_offices(actor, "admin_user_offices")
        if st.form_submit_button(t("admin.add")):
            with data.engine().begin() as conn:
                create_user(conn, actor, username, role=role, password=password or None,
                            street_office_codes=codes)  # fmt: skip
            st.rerun()
    if len(frame):
        c1, c2, c3 = st.columns([2, 1, 1])
        who = c1.selectbox(t("admin.account"), frame["username"].tolist(), key="admin_pick_user")
        if c2.button(t("admin.disable"), key="admin_disable"):
            with data.engine().begin() as conn:
                disable_user(conn, actor, who)
            st.rerun()
        if c3.button(t("admin.unlock"), key="admin_unlock"):
            with data.engine().begin() as conn:
                unlock_user(conn, actor, who)
            st.rerun()


def _screen_address(token: str) -> str:
    """The address a wall screen opens: this server's root with the token."""
    parts = urlsplit(str(st.context.url or ""))
    root = f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else "/"
    return f"{root}?{KIOSK_PARAM}={token}"


def _tokens(actor: Actor) -> None:
    from db.kiosk import create_kiosk_token, list_kiosk_tokens, revoke_kiosk_token

    with data.engine().connect() as conn:
        tokens = list_kiosk_tokens(conn, actor)
    frame = pd.DataFrame([dataclasses.asdict(k) for k in tokens])
    if len(frame):
        names, every = _offices(actor), t("side.all")
        shown = frame.assign(
            offices=[_office_names(c, names, every) for c in frame["street_office_codes"]]
        )
        ui.table(shown, TOKEN_COLUMNS)
    with st.form("admin_new_token", clear_on_submit=True):
        name = st.text_input(t("admin.name"), max_chars=100, key="admin_token_name")
        codes = _pick_offices(actor, "admin_token_offices")
        if st.form_submit_button(t("admin.add")):
            with data.engine().begin() as conn:
                _info, token = create_kiosk_token(conn, actor, name, street_office_codes=codes)
            st.session_state[NEW_TOKEN] = token
    token = st.session_state.pop(NEW_TOKEN, None)
    if token:
        # st.code, not Markdown: the token's "_" and "-" must reach the screen as typed
        st.success(t("admin.token_once"))
        st.code(_screen_address(token), language=None)
    if len(frame):
        c1, c2 = st.columns([3, 1])
        names_by_id = dict(zip(frame["id"].astype(int), frame["name"].astype(str), strict=True))
        chosen = c1.selectbox(t("admin.token"), list(names_by_id), key="admin_pick_token",
                              format_func=names_by_id.__getitem__)  # fmt: skip
        if c2.button(t("admin.revoke"), key="admin_revoke"):
            with data.engine().begin() as conn:
                revoke_kiosk_token(conn, actor, int(chosen))
            st.rerun()


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(data.zone()))


def _audit_filter(actor: Actor) -> AuditFilter:
    """The filters the administrator chose."""
    from db.queries.audit import audit_actions, audit_entity_types

    with data.engine().connect() as conn:
        actions = audit_actions(conn, actor)
        kinds = audit_entity_types(conn, actor)
    # "auth." and the like: every action of a kind
    groups = sorted({a.split(".")[0] + "." for a in actions if "." in a})
    every = t("side.all")
    c1, c2, c3, c4 = st.columns(4)
    who = c1.text_input(t("admin.audit.search"), key="admin_audit_text", max_chars=100)
    action = c2.selectbox(
        t("col.action"), [None, *groups, *actions], key="admin_audit_action",
        format_func=lambda a: every if a is None else (f"{a}*" if a.endswith(".") else a),
    )  # fmt: skip
    kind = c3.selectbox(
        t("admin.col.entity_type"), [None, *kinds], key="admin_audit_entity",
        format_func=lambda k: every if k is None else k,
    )  # fmt: skip
    entity_id = c4.text_input(t("admin.col.entity_id"), key="admin_audit_entity_id",
                              max_chars=100)  # fmt: skip
    d1, d2, d3 = st.columns(3)
    since = d1.date_input(t("admin.audit.since"), value=None, key="admin_audit_since")
    until = d2.date_input(t("admin.audit.until"), value=None, key="admin_audit_until")
    d3.selectbox(t("admin.audit.page_size"), PAGE_SIZES, key="admin_audit_size")
    return AuditFilter(
        actor_name=who.strip() or None,
        action=action,
        entity_type=kind,
        entity_id=entity_id.strip() or None,
        since=None if since is None else _local_midnight(since),
        # the last day chosen is included: up to the midnight after it
        until=None if until is None else _local_midnight(until + dt.timedelta(days=1)),
    )


def _audit(actor: Actor) -> None:
    from db.queries.audit import audit_frame, search_audit

    found_filter = _audit_filter(actor)
    size = int(st.session_state.get("admin_audit_size", PAGE_SIZES[0]))
    page = max(1, int(st.session_state.get(AUDIT_PAGE, 1)))

    def search(number: int) -> AuditPage:
        with data.engine().connect() as conn:
            return search_audit(
                conn, actor, **dataclasses.asdict(found_filter), page=number, page_size=size
            )

    found = search(page)
    if page > found.pages:  # the filters narrowed the result
        page = found.pages
        found = search(page)
    st.session_state[AUDIT_PAGE] = page
    rows = found.rows
    frame = audit_frame(rows)[list(AUDIT_COLUMNS)]
    first = (page - 1) * size + 1 if rows else 0
    st.caption(
        t(
            "admin.audit.shown",
            first=f"{first:,}",
            last=f"{first + len(rows) - 1 if rows else 0:,}",
            total=f"{found.total:,}",
        )
    )
    ui.table(frame, AUDIT_COLUMNS)
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.number_input(t("admin.audit.page", pages=found.pages), min_value=1,
                    max_value=found.pages, step=1, key=AUDIT_PAGE)  # fmt: skip
    if actor.can("report.export"):
        for col, fmt in ((c2, "csv"), (c3, "xlsx")):
            if col.button(t(f"admin.audit.export.{fmt}"), key=f"admin_audit_make_{fmt}"):
                _export(actor, found_filter, fmt)
        _offer_export(found_filter)


def _export(actor: Actor, found_filter: AuditFilter, fmt: str) -> None:
    """The search as a file, through ``db.queries.audit.export_audit`` (which records the
    export in the audit log in the same transaction)."""
    from db.queries.audit import EXPORT_COLUMNS, export_audit

    keys = {**AUDIT_COLUMNS, "id": "col.code", "change_id": "admin.col.change"}
    headers = {c: t(keys[c]) for c in EXPORT_COLUMNS}
    with data.engine().begin() as conn:
        made = export_audit(
            conn, actor, found_filter, fmt=fmt, headers=headers, now=data.now(), tz=data.zone()
        )  # type: ignore[arg-type]
    st.session_state[AUDIT_EXPORT] = (found_filter, made)


def _offer_export(found_filter: AuditFilter) -> None:
    ready = st.session_state.get(AUDIT_EXPORT)
    if ready is None or ready[0] != found_filter:  # made for other filters: make it again
        return
    made = ready[1]
    st.caption(t("admin.audit.export.ready", n=f"{made.rows:,}"))
    st.download_button(
        f"⬇ {made.file_name}",
        made.data,
        file_name=made.file_name,
        mime=made.media_type,
        key="admin_audit_download",
    )


@guarded
def page() -> None:
    """The administrator page."""
    actor = page_actor()
    st.title(t("admin.title"))
    tabs = st.tabs([t("admin.users"), t("admin.kiosk"), t("admin.audit")])
    with tabs[0]:
        if actor.can("users.manage"):
            guarded(_users)(actor)
    with tabs[1]:
        if actor.can("users.manage"):
            guarded(_tokens)(actor)
    with tabs[2]:
        if actor.can("audit.read"):
            guarded(_audit)(actor)


page()
