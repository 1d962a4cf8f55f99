"""登录: local accounts, and the city's identity provider when one is configured."""

from __future__ import annotations

import streamlit as st

from app import session
from app.guard import guarded
from app.i18n import t
from gis.errors import PermissionDeniedError


@guarded
def page() -> None:
    """The sign-in form."""
    st.title(t("signin.title"))
    if session.oidc_configured():
        st.button(t("signin.oidc"), on_click=st.login)
        st.divider()
    with st.form("signin"):
        username = st.text_input(t("signin.username"), max_chars=64)
        password = st.text_input(t("signin.password"), type="password", max_chars=1024)
        submitted = st.form_submit_button(t("signin.submit"), type="primary")
    if submitted:
        try:
            session.sign_in(username, password)
        except PermissionDeniedError:
            st.error(t("signin.failed"))
            return
        st.rerun()


page()
