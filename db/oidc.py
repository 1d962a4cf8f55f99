"""Single sign-on: map a person the city's identity provider signed in to a CityGrid account.

Streamlit's ``st.login()`` runs the OpenID Connect flow and puts the identity token's
claims in ``st.user``; :func:`actor_for_oidc` maps them to a local account (by the
provider's subject, then by a verified e-mail) and so to a role and street offices.
Identities that map to nothing get no access unless a default role is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from db import audit
from db.access import Actor, Role
from db.users import (
    clean_email,
    clean_label,
    commit_own,
    create_user,
    record_refusal,
    role_of,
    typed_name,
    user_actor,
    user_row,
)
from gis.errors import PermissionDeniedError


def email_verified(claims: Mapping[str, Any]) -> bool:
    """Whether the identity provider vouches for the e-mail claim."""
    flag = claims.get("email_verified")
    return flag is True or str(flag).lower() == "true"


def actor_for_oidc(
    conn: Connection,
    claims: Mapping[str, Any],
    *,
    default_role: Role | None = None,
    default_street_office_codes: Sequence[str] | None = None,
    match_email: bool = True,
) -> Actor:
    """The Actor of a person the identity provider signed in (``st.user.to_dict()``).

    The identity (``iss``, ``sub``) maps to the account linked to it; failing that, a
    verified ``email`` maps to the account with that e-mail, which is then linked to
    the identity. An identity that maps to nothing is refused, unless ``default_role``
    is given: then an account with that role (and ``default_street_office_codes``) is
    created for it. Every attempt is audited.
    """
    if default_role is not None:
        default_role = role_of(default_role, accounts_only=True)
    return commit_own(
        conn,
        lambda: _oidc_sign_in(
            conn, claims, default_role, default_street_office_codes, match_email=match_email
        ),
    )


def _oidc_sign_in(
    conn: Connection,
    claims: Mapping[str, Any],
    default_role: Role | None,
    default_codes: Sequence[str] | None,
    *,
    match_email: bool,
) -> Actor:
    issuer = str(claims.get("iss") or "")
    subject = str(claims.get("sub") or "")
    email = clean_email(claims.get("email"), strict=False)
    who = typed_name(email or (f"oidc:{subject}" if subject else "oidc"))
    if claims.get("is_logged_in") is False or not subject:
        record_refusal(conn, who, "oidc", "no_identity", issuer=issuer)
        msg = (
            "the identity provider did not sign anyone in (no 'sub' claim); sign in again, "
            "or check the [auth] section of .streamlit/secrets.toml"
        )
        raise PermissionDeniedError(msg)
    ident = {"issuer": issuer, "subject": subject, "email": email}
    row = user_row(conn, "u.oidc_issuer = :i AND u.oidc_subject = :s", {"i": issuer, "s": subject})
    if row is None and email and match_email and email_verified(claims):
        row = user_row(conn, "u.email = :e", {"e": email})
        if row is not None and row.oidc_subject is not None:
            record_refusal(conn, who, "oidc", "email_linked_to_other_identity", **ident)
            msg = (
                f"the CityGrid account with e-mail {email} is linked to another identity; "
                "ask an administrator to check the account"
            )
            raise PermissionDeniedError(msg)
        if row is not None:
            conn.execute(
                sa.text("UPDATE users SET oidc_issuer = :i, oidc_subject = :s WHERE id = :id"),
                {"i": issuer, "s": subject, "id": row.id},
            )
            audit.record(
                conn, Actor(username=row.username, role=role_of(row.role)), "user.oidc_link",
                entity_type="user", entity_id=row.id, after=ident,
            )  # fmt: skip
    if row is None and default_role is not None:
        row = _provision(conn, claims, ident, default_role, default_codes)
    if row is None:
        record_refusal(conn, who, "oidc", "unmapped", **ident)
        hint = f" --email {email}" if email else ""
        msg = (
            f"{who} signed in at the identity provider, but no CityGrid account is mapped to "
            f"it; an administrator can create one with `citygrid user add NAME --role ROLE{hint}`"
        )
        raise PermissionDeniedError(msg)
    if row.disabled_at is not None:
        record_refusal(conn, who, "oidc", "disabled", entity_type="user", entity_id=row.id, **ident)
        msg = f"the CityGrid account {row.username!r} is disabled; ask an administrator"
        raise PermissionDeniedError(msg)
    conn.execute(sa.text("UPDATE users SET last_sign_in_at = now() WHERE id = :id"), {"id": row.id})
    actor = user_actor(conn, row, "oidc")
    audit.record(
        conn, actor, "auth.sign_in", entity_type="user", entity_id=row.id,
        detail={"method": "oidc", "role": actor.role, **ident},
    )  # fmt: skip
    return actor


def _provision(
    conn: Connection,
    claims: Mapping[str, Any],
    ident: dict[str, str | None],
    role: Role,
    codes: Sequence[str] | None,
) -> Row[Any]:
    base = ident["email"] or f"oidc-{ident['subject']}"
    base = "".join(ch for ch in base if ch.isprintable())[:56] or "oidc"
    taken = set(
        conn.execute(
            sa.text("SELECT username_key FROM users WHERE username_key LIKE :p"),
            {
                "p": base.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            },
        ).scalars()
    )
    name = next(
        n
        for n in [base, *(f"{base}-{i}" for i in range(2, len(taken) + 3))]
        if n.casefold() not in taken
    )
    email = ident["email"] if email_verified(claims) else None
    if email and conn.scalar(sa.text("SELECT 1 FROM users WHERE email = :e"), {"e": email}):
        email = None  # already another account's (reached only with match_email=False)
    info = create_user(
        conn, Actor(username="oidc", role="system"), name, role=role, street_office_codes=codes,
        display_name=clean_label(claims.get("name"), what="name", strict=False), email=email,
    )  # fmt: skip
    conn.execute(
        sa.text("UPDATE users SET oidc_issuer = :i, oidc_subject = :s WHERE id = :id"),
        {"i": ident["issuer"], "s": ident["subject"], "id": info.id},
    )
    row = user_row(conn, "u.id = :id", {"id": info.id})
    assert row is not None  # just inserted in this transaction
    return row
