"""登录: local accounts, and the city's identity provider when one is configured.

A server reachable from the network with no account yet says how to create the first
administrator instead of letting anyone in; a person the identity provider signed in
but CityGrid refused reads why, once, and may leave the identity provider's session.
"""

from __future__ import annotations

import streamlit as st

from app import session
from app.guard import guarded
from app.i18n import t
from app.markup import escape_markdown
from gis.errors import PermissionDeniedError

FIRST_ADMIN = "citygrid user add admin --role admin"


@guarded
def page() -> None:
    """The sign-in form."""
    st.title(t("signin.title"))
    refusal = session.oidc_refusal()
    if refusal is not None:
        st.error(t("signin.oidc_refused"))
        st.caption(escape_markdown(refusal))
        st.button(t("signin.oidc_signout"), on_click=session.sign_out, key="signin_oidc_out")
        return
    accounts = session.accounts_enabled()
    if not accounts:
        st.warning(t("signin.no_accounts"))
        st.code(FIRST_ADMIN, language="bash")
        st.caption(t("signin.no_accounts.local"))
    if session.oidc_configured():
        st.button(t("signin.oidc"), on_click=st.login, key="signin_oidc")
        st.divider()
    if not accounts:
        return
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
