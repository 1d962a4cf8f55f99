"""系统管理: accounts, wall-screen tokens and the audit log (administrators)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st

from app import data
from app.guard import guarded
from app.i18n import t
from app.session import page_actor
from db.access import ROLE_LABELS, Actor

ACCOUNT_ROLES = ("admin", "planner", "leader", "field", "viewer")
NEW_TOKEN = "admin_new_token"


def _users(actor: Actor) -> None:
    from db.users import create_user, disable_user, list_users, unlock_user

    with data.engine().connect() as conn:
        users = list_users(conn, actor)
    frame = pd.DataFrame([dataclasses.asdict(u) for u in users])
    if len(frame):
        st.dataframe(
            frame[
                [
                    "username",
                    "role",
                    "display_name",
                    "street_office_codes",
                    "disabled",
                    "locked_until",
                    "last_sign_in_at",
                ]
            ],
            hide_index=True,
        )
    with st.form("admin_new_user", clear_on_submit=True):
        c1, c2, c3 = st.columns(3)
        username = c1.text_input(t("signin.username"), max_chars=64)
        role = c2.selectbox(t("admin.role"), ACCOUNT_ROLES, format_func=lambda r: ROLE_LABELS[r][0])
        password = c3.text_input(t("signin.password"), type="password", max_chars=1024)
        offices = st.text_input(t("admin.offices"))
        if st.form_submit_button(t("admin.add")):
            codes = [c.strip() for c in offices.split(",") if c.strip()] or None
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


def _tokens(actor: Actor) -> None:
    from db.kiosk import create_kiosk_token, list_kiosk_tokens, revoke_kiosk_token

    with data.engine().connect() as conn:
        tokens = list_kiosk_tokens(conn, actor)
    frame = pd.DataFrame([dataclasses.asdict(k) for k in tokens])
    if len(frame):
        st.dataframe(frame[["id", "name", "hint", "street_office_codes", "created_at",
                            "last_used_at"]], hide_index=True)  # fmt: skip
    with st.form("admin_new_token", clear_on_submit=True):
        name = st.text_input(t("admin.name"), max_chars=100)
        if st.form_submit_button(t("admin.add")):
            with data.engine().begin() as conn:
                _info, token = create_kiosk_token(conn, actor, name)
            st.session_state[NEW_TOKEN] = token
    token = st.session_state.pop(NEW_TOKEN, None)
    if token:
        st.success(t("admin.token_once", url=f"?kiosk={token}"))
    if len(frame):
        c1, c2 = st.columns([3, 1])
        chosen = c1.selectbox(t("admin.token"), frame["id"].tolist(), key="admin_pick_token",
                              format_func=lambda i: str(frame.set_index("id").loc[i, "name"]))  # fmt: skip
        if c2.button(t("admin.revoke"), key="admin_revoke"):
            with data.engine().begin() as conn:
                revoke_kiosk_token(conn, actor, int(chosen))
            st.rerun()


def _audit(actor: Actor) -> None:
    from db.queries.audit import search_audit

    text = st.text_input(t("admin.audit.search"), key="admin_audit_text", max_chars=100)
    with data.engine().connect() as conn:
        found = search_audit(conn, actor, actor_name=text or None, page_size=100)
    frame = pd.DataFrame(
        [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "entity": f"{e.entity_type or ''} {e.entity_id or ''}".strip(),
                "before": json.dumps(e.before, ensure_ascii=False) if e.before else "",
                "after": json.dumps(e.after, ensure_ascii=False) if e.after else "",
            }
            for e in found.rows
        ]
    )
    st.caption(t("admin.total", n=f"{found.total:,}"))
    st.dataframe(frame, hide_index=True)


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
