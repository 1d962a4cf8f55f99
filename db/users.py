"""Accounts and password sign-in: who is behind an :class:`~db.access.Actor`.

Three ways in, each ending in an Actor and an audit row:

- :func:`authenticate` here, for a local account (argon2id hashes; lock-out after
  repeated failures; a refusal never says whether the account exists);
- :func:`db.kiosk.actor_for_kiosk_token` for a wall screen (read-only, big screen only,
  phones and names masked because the ``kiosk`` role lacks ``pii.read``);
- :func:`db.oidc.actor_for_oidc` for a person the city's identity provider signed in.

Those two are importable from here as well. The sign-in functions commit their own work
(the failure counter and the audit row must survive the refusal) when handed a
connection with no transaction open, as ``with engine.connect() as conn:`` gives.
Inside a transaction the caller owns, the caller must commit even when they raise.

Account management takes the acting Actor and requires ``users.manage`` inside the
street offices the change touches.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Row

from db import audit
from db.access import ROLE_LABELS, Actor, Role, require
from db.models_access import ACCOUNT_ROLES
from gis.errors import DataError, PermissionDeniedError

#: Failed password attempts in a row that lock an account, and for how long.
MAX_FAILURES = 5
LOCKOUT_MINUTES = 15.0

#: argon2id with the RFC 9106 "low memory" profile (64 MiB, 3 passes, 4 lanes).
PASSWORD_HASHER = PasswordHasher()

Page = Literal[
    "big_screen",
    "my_area",
    "assignments",
    "hotspots",
    "coverage",
    "data",
    "audit",
    "users",
    "settings",
]
#: Pages about the signed-in person (their own segments and problems): open to every
#: account linked to a person on the roster, and to field staff, whose only work page
#: it is (unlinked, it says how to get linked).
PERSONAL_PAGES: frozenset[Page] = frozenset({"my_area"})
_EVERY_PAGE: frozenset[Page] = frozenset(Page.__args__) - PERSONAL_PAGES  # type: ignore[attr-defined]
PAGES: dict[Role, frozenset[Page]] = {
    "admin": _EVERY_PAGE,
    "system": _EVERY_PAGE,
    "planner": frozenset({"big_screen", "assignments", "hotspots", "coverage", "data"}),
    "leader": frozenset({"big_screen", "assignments", "hotspots", "coverage", "data"}),
    # Field staff: their own area and the wall's picture; never the assignment desk,
    # coverage, data or administration, which show every segment and phone in scope.
    "field": frozenset({"my_area", "big_screen"}),
    "viewer": frozenset({"big_screen", "hotspots", "coverage"}),
    "kiosk": frozenset({"big_screen"}),
}

_REFUSED = (
    "sign-in refused for {name!r}: the username or password is wrong, or the account is "
    "locked or disabled; check both and try again, or ask an administrator "
    "(`citygrid user unlock` / `citygrid user passwd`)"
)

T = TypeVar("T")


@dataclass(frozen=True)
class UserInfo:
    """An account as administrators see it (never its password hash)."""

    id: int
    username: str
    role: str
    street_office_codes: tuple[str, ...] | None
    display_name: str | None
    email: str | None
    person_key: str | None
    has_password: bool
    oidc_linked: bool
    disabled: bool
    locked_until: dt.datetime | None
    last_sign_in_at: dt.datetime | None
    created_at: dt.datetime
    created_by: str


def pages_for(actor: Actor) -> frozenset[Page]:
    """The dashboard pages ``actor`` may open (a wall screen: the big screen only).

    Field staff get their own area (and the big screen); anyone else linked to a person
    on the roster gets their own area beside their role's pages.
    """
    pages = PAGES[actor.role]
    if actor.person_id is not None and actor.role != "kiosk":
        pages |= PERSONAL_PAGES
    return pages


# --- what people type --------------------------------------------------------------------

_NAME_MAX = 64
_LABEL_MAX = 100
MIN_PASSWORD_LENGTH = 10
_PASSWORD_MAX = 1024  # argon2 takes any length; this bounds the work an attacker can ask for
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CODE = re.compile(r"\d{9}|\d{12}")


def _clean_text(value: object, what: str, max_len: int) -> str:
    # Any printable text is kept as typed (SQL, HTML or script included: it is stored and
    # shown as text); control and invisible formatting characters, which can disguise one
    # name as another, are refused.
    text = unicodedata.normalize("NFC", str(value)).strip()
    if not text:
        msg = f"the {what} is empty; give one"
        raise DataError(msg)
    if len(text) > max_len:
        msg = f"the {what} {text[:20]!r}... is {len(text)} characters long; the limit is {max_len}"
        raise DataError(msg)
    bad = sorted(
        {f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}}
    )
    if bad:
        msg = f"the {what} {text!r} contains invisible or control characters ({', '.join(bad)}); retype it"
        raise DataError(msg)
    return text


def clean_username(username: object) -> tuple[str, str]:
    """The username as stored, and the case-folded key sign-in matches on.

    >>> clean_username("  Wang.Li ")
    ('Wang.Li', 'wang.li')
    """
    name = _clean_text(username, "username", _NAME_MAX)
    return name, name.casefold()


def clean_label(
    value: object, *, what: str, required: bool = False, strict: bool = True
) -> str | None:
    """A display name or screen name as stored; None for none (``strict=False``: never raise)."""
    if value is None or (not required and not str(value).strip()):
        if required:
            return _clean_text("", what, _LABEL_MAX)
        return None
    try:
        return _clean_text(value, what, _LABEL_MAX)
    except DataError:
        if strict:
            raise
        return None


def clean_email(value: object, *, strict: bool = True) -> str | None:
    """An e-mail address, lower-cased; None for none (``strict=False``: never raise)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().lower()
    if _EMAIL.fullmatch(text) and len(text) <= 254:
        return text
    if strict:
        msg = f"{text[:60]!r} is not an e-mail address; give one like name@example.gov.cn"
        raise DataError(msg)
    return None


def clean_password(password: object, username_key: str) -> str:
    """Refuse passwords that are short, huge, or contain the username."""
    text = str(password)
    if len(text) < MIN_PASSWORD_LENGTH:
        msg = f"the password has {len(text)} characters; use at least {MIN_PASSWORD_LENGTH}"
        raise DataError(msg)
    if len(text) > _PASSWORD_MAX:
        msg = f"the password has {len(text)} characters; use at most {_PASSWORD_MAX}"
        raise DataError(msg)
    if len(username_key) >= 3 and username_key in text.casefold():
        msg = "the password contains the username; choose one that does not"
        raise DataError(msg)
    return text


def role_of(value: object, *, accounts_only: bool = False) -> Role:
    """A role name checked against the roles of :mod:`db.access`."""
    roles: Sequence[str] = ACCOUNT_ROLES if accounts_only else tuple(ROLE_LABELS)
    text = str(value).strip().lower()
    if text not in roles:
        known = ", ".join(f"{r} ({ROLE_LABELS[r][0]})" for r in roles)  # type: ignore[index]
        msg = f"unknown role {str(value)[:40]!r}; use one of: {known}"
        raise DataError(msg)
    return text  # type: ignore[return-value]


def resolve_street_offices(conn: Connection, codes: Sequence[str] | None) -> list[str] | None:
    """Check street-office codes (12 digits, or 9) against the loaded areas; None: all areas."""
    if codes is None:
        return None
    if isinstance(codes, str):
        codes = [codes]
    cleaned: list[str] = []
    for code in codes:
        text = str(code).strip()
        if not _CODE.fullmatch(text):
            msg = f"street office code {text[:20]!r} is not 9 or 12 digits (e.g. 110101001000)"
            raise DataError(msg)
        cleaned.append(text.ljust(12, "0"))
    if not cleaned:
        msg = "no street office given; give at least one code, or none at all for every area"
        raise DataError(msg)
    rows = conn.execute(
        sa.text("SELECT code, name FROM admin_areas WHERE level = 'street_office' ORDER BY code")
    )
    known = {str(r.code): str(r.name) for r in rows}
    unknown = [c for c in cleaned if c not in known]
    if unknown:
        listing = ", ".join(f"{c} {n}" for c, n in list(known.items())[:12]) or "none loaded yet"
        msg = (
            f"unknown street office code(s) {', '.join(unknown)}; known street offices: "
            f"{listing}; load the administrative areas first if the list is empty"
        )
        raise DataError(msg)
    return sorted(set(cleaned))


def street_office_ids(conn: Connection, codes: Sequence[str] | None) -> frozenset[int] | None:
    """The admin-area ids of street-office codes (None: every area).

    Codes no longer loaded drop out, so an account's area can only shrink, never widen.
    """
    if codes is None:
        return None
    rows = conn.execute(
        sa.text("SELECT id FROM admin_areas WHERE level = 'street_office' AND code = ANY(:c)"),
        {"c": list(codes)},
    ).scalars()
    return frozenset(int(i) for i in rows)


# --- sign-in ----------------------------------------------------------------------------


def commit_own(conn: Connection, work: Callable[[], T]) -> T:
    """Run ``work``; commit afterwards, even when it refuses, if no transaction was open."""
    own = not conn.in_transaction()
    try:
        result = work()
    except PermissionDeniedError:
        if own:
            conn.commit()
        raise
    if own:
        conn.commit()
    return result


USER_COLUMNS = (
    "u.id, u.username, u.display_name, u.email, u.role, u.street_office_codes, u.person_id, "
    "p.person_key, u.password_hash, u.oidc_subject, u.failed_count, u.locked_until, "
    "u.last_sign_in_at, u.disabled_at, u.created_at, u.created_by, now() AS now_"
)


def user_row(conn: Connection, where: str, params: Mapping[str, Any]) -> Row[Any] | None:
    """The account matching ``where``, locked for this transaction."""
    return conn.execute(
        sa.text(
            f"SELECT {USER_COLUMNS} FROM users u LEFT JOIN people p ON p.id = u.person_id "
            f"WHERE {where} FOR UPDATE OF u"
        ),
        dict(params),
    ).one_or_none()


def user_actor(conn: Connection, row: Row[Any], auth: str) -> Actor:
    """The Actor of an account row; ``auth`` says how it signed in."""
    return Actor(
        username=row.username,
        role=role_of(row.role),
        street_office_ids=street_office_ids(conn, row.street_office_codes),
        person_id=row.person_id,
        display_name=row.display_name,
        extra={"auth": auth, "user_id": str(row.id)},
    )


def _dummy_hash() -> str:
    # Verifying against this keeps a refusal for an unknown account as slow as one for a
    # wrong password, so response time does not tell whether an account exists.
    key = str(PASSWORD_HASHER.memory_cost) + str(PASSWORD_HASHER.time_cost)
    if _DUMMY.get("key") != key:
        _DUMMY.update(key=key, hash=PASSWORD_HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY["hash"]


_DUMMY: dict[str, str] = {}


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


def typed_name(name: object) -> str:
    """What someone typed as their name, bounded for the audit log."""
    return str(name)[:200]


def record_refusal(conn: Connection, who: str, method: str, reason: str, **detail: Any) -> None:
    """Audit a refused sign-in under the name that was tried."""
    audit.record(
        conn,
        Actor(username=who, role="viewer"),
        "auth.sign_in_failed",
        entity_type=detail.pop("entity_type", None),
        entity_id=detail.pop("entity_id", None),
        detail={"method": method, "reason": reason, **detail},
    )


def authenticate(
    conn: Connection,
    username: str,
    password: str,
    *,
    max_failures: int = MAX_FAILURES,
    lockout_minutes: float = LOCKOUT_MINUTES,
) -> Actor:
    """Sign in with a local account; return its Actor or raise :class:`PermissionDeniedError`.

    Every attempt is audited. ``max_failures`` wrong passwords in a row lock the account
    for ``lockout_minutes``; while locked even the right password is refused. The
    refusal reads the same whether or not the account exists.
    """
    if max_failures < 1 or lockout_minutes <= 0:
        msg = f"max_failures must be >= 1 and lockout_minutes > 0, got {max_failures}, {lockout_minutes}"
        raise ValueError(msg)
    return commit_own(
        conn, lambda: _authenticate(conn, username, password, max_failures, lockout_minutes)
    )


def _authenticate(
    conn: Connection, username: str, password: str, max_failures: int, lockout_minutes: float
) -> Actor:
    typed = typed_name(username)
    refused = PermissionDeniedError(_REFUSED.format(name=typed))
    try:
        _name, key = clean_username(username)
    except DataError:
        key = None
    row = user_row(conn, "u.username_key = :k", {"k": key}) if key else None
    if row is None or row.disabled_at is not None or row.password_hash is None:
        _verify(None, password)
        reason = (
            "unknown_user"
            if row is None
            else ("disabled" if row.disabled_at is not None else "no_local_password")
        )
        ids = {} if row is None else {"entity_type": "user", "entity_id": row.id}
        record_refusal(conn, typed, "password", reason, **ids)
        raise refused
    if row.locked_until is not None and row.locked_until > row.now_:
        _verify(None, password)
        record_refusal(
            conn, typed, "password", "locked", entity_type="user", entity_id=row.id,
            locked_until=row.locked_until,
        )  # fmt: skip
        raise refused
    if not _verify(row.password_hash, str(password)):
        failures = row.failed_count + 1
        locked = failures >= max_failures
        until = row.now_ + dt.timedelta(minutes=lockout_minutes) if locked else None
        conn.execute(
            sa.text("UPDATE users SET failed_count = :n, locked_until = :until WHERE id = :id"),
            {"n": 0 if locked else failures, "until": until, "id": row.id},
        )
        record_refusal(
            conn, typed, "password", "wrong_password", entity_type="user", entity_id=row.id,
            failures=failures,
        )  # fmt: skip
        if locked:
            audit.record(
                conn,
                Actor(username="system", role="system"),
                "user.locked_out",
                entity_type="user",
                entity_id=row.id,
                detail={"username": row.username, "failures": failures, "until": until},
            )
        raise refused
    updates = "failed_count = 0, locked_until = NULL, last_sign_in_at = now()"
    params: dict[str, Any] = {"id": row.id}
    if PASSWORD_HASHER.check_needs_rehash(row.password_hash):
        updates += ", password_hash = :h"
        params["h"] = PASSWORD_HASHER.hash(str(password))
    conn.execute(sa.text(f"UPDATE users SET {updates} WHERE id = :id"), params)
    actor = user_actor(conn, row, "password")
    audit.record(
        conn, actor, "auth.sign_in", entity_type="user", entity_id=row.id,
        detail={"method": "password", "role": actor.role},
    )  # fmt: skip
    return actor


def refresh_actor(conn: Connection, actor: Actor) -> Actor:
    """Re-read a signed-in Actor (role, areas) and refuse it if disabled or revoked since.

    Not audited: call it on every rerun or refresh of a signed-in session, so that
    disabling an account or revoking a screen's token takes effect at once.
    """
    auth = actor.extra.get("auth")
    if auth == "kiosk":
        from db.kiosk import refresh_kiosk_actor

        return refresh_kiosk_actor(conn, actor)
    if auth in {"password", "oidc"}:
        row = conn.execute(
            sa.text(
                f"SELECT {USER_COLUMNS} FROM users u LEFT JOIN people p ON p.id = u.person_id "
                "WHERE u.id = :id"
            ),
            {"id": int(actor.extra["user_id"])},
        ).one_or_none()
        if row is None or row.disabled_at is not None:
            msg = f"the account {actor.username!r} was disabled or removed; sign in again"
            raise PermissionDeniedError(msg)
        return user_actor(conn, row, auth)
    return actor


# --- account management ------------------------------------------------------------------


def require_manage(
    conn: Connection, actor: Actor, codes: Iterable[Sequence[str] | None], what: str
) -> None:
    """Require ``users.manage`` in every street office of ``codes`` (None: every area)."""
    areas: list[int | None] = []
    for group in codes:
        ids = street_office_ids(conn, group)
        areas.extend([None] if ids is None else sorted(ids))
    require(actor, "users.manage", street_office_ids=areas, what=what)


def _info(row: Row[Any]) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        role=row.role,
        street_office_codes=None if row.street_office_codes is None else tuple(row.street_office_codes),
        display_name=row.display_name,
        email=row.email,
        person_key=row.person_key,
        has_password=row.password_hash is not None,
        oidc_linked=row.oidc_subject is not None,
        disabled=row.disabled_at is not None,
        locked_until=row.locked_until,
        last_sign_in_at=row.last_sign_in_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )  # fmt: skip


def _existing(conn: Connection, username: str) -> Row[Any]:
    _name, key = clean_username(username)
    row = user_row(conn, "u.username_key = :k", {"k": key})
    if row is None:
        msg = f"there is no user {username!r}; `citygrid user list` shows who there is"
        raise DataError(msg)
    return row


def _person_id(conn: Connection, person_key: str | None) -> int | None:
    if person_key is None:
        return None
    pid = conn.scalar(sa.text("SELECT id FROM people WHERE person_key = :k"), {"k": person_key})
    if pid is None:
        msg = (
            f"no person with key {person_key!r} on the roster; load the roster first or fix the key"
        )
        raise DataError(msg)
    return int(pid)


def _check_email_free(conn: Connection, email: str | None, user_id: int | None = None) -> None:
    if email is None:
        return
    other = conn.scalar(
        sa.text("SELECT username FROM users WHERE email = :e AND id IS DISTINCT FROM :id"),
        {"e": email, "id": user_id},
    )
    if other is not None:
        msg = f"e-mail {email} already belongs to user {other!r}; give another one"
        raise DataError(msg)


def _keep_an_admin(conn: Connection, row: Row[Any], what: str) -> None:
    if row.role != "admin" or row.disabled_at is not None:
        return
    others = conn.scalar(
        sa.text("SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> :id"),
        {"id": row.id},
    )  # fmt: skip
    if not others:
        msg = f"cannot {what} {row.username!r}: it is the last active administrator; add another first"
        raise DataError(msg)


def create_user(
    conn: Connection,
    actor: Actor,
    username: str,
    *,
    role: str,
    password: str | None = None,
    street_office_codes: Sequence[str] | None = None,
    display_name: str | None = None,
    email: str | None = None,
    person_key: str | None = None,
) -> UserInfo:
    """Create an account. No password: it can sign in only through the identity provider.

    ``street_office_codes`` (12-digit, or 9) limits the account to those street offices;
    None means every area.
    """
    require(actor, "users.manage", what="create users")
    name, key = clean_username(username)
    role = role_of(role, accounts_only=True)
    codes = resolve_street_offices(conn, street_office_codes)
    require_manage(conn, actor, [codes], f"create user {name!r}")
    display = clean_label(display_name, what="display name")
    mail = clean_email(email)
    pw_hash = None if password is None else PASSWORD_HASHER.hash(clean_password(password, key))
    if conn.scalar(sa.text("SELECT 1 FROM users WHERE username_key = :k"), {"k": key}):
        msg = f"user {name!r} already exists; choose another name, or change it with `citygrid user edit`"
        raise DataError(msg)
    _check_email_free(conn, mail)
    user_id = conn.scalar(
        sa.text(
            "INSERT INTO users (username, username_key, display_name, email, role, "
            "street_office_codes, person_id, password_hash, password_changed_at, created_by) "
            "VALUES (:u, :k, :d, :e, :r, :c, :p, :h, CASE WHEN CAST(:h AS text) IS NULL THEN NULL ELSE now() END, :by) "
            "RETURNING id"
        ),
        {
            "u": name, "k": key, "d": display, "e": mail, "r": role, "c": codes,
            "p": _person_id(conn, person_key), "h": pw_hash, "by": actor.username,
        },
    )  # fmt: skip
    row = user_row(conn, "u.id = :id", {"id": user_id})
    assert row is not None  # inserted just above
    info = _info(row)
    audit.record(
        conn, actor, "user.create", entity_type="user", entity_id=info.id, after=_public(info)
    )
    return info


def _public(info: UserInfo) -> dict[str, Any]:
    return {
        "username": info.username,
        "role": info.role,
        "street_office_codes": info.street_office_codes,
        "display_name": info.display_name,
        "email": info.email,
        "person_key": info.person_key,
        "has_password": info.has_password,
        "disabled": info.disabled,
    }


_KEEP: Any = object()


def update_user(
    conn: Connection,
    actor: Actor,
    username: str,
    *,
    role: str = _KEEP,
    street_office_codes: Sequence[str] | None = _KEEP,
    display_name: str | None = _KEEP,
    email: str | None = _KEEP,
    person_key: str | None = _KEEP,
) -> UserInfo:
    """Change an account's role, areas, display name, e-mail or roster link.

    Arguments left out are kept; ``street_office_codes=None`` opens every area.
    """
    require(actor, "users.manage", what="change users")
    row = _existing(conn, username)
    before = _info(row)
    changes: dict[str, Any] = {}
    if role is not _KEEP:
        changes["role"] = role_of(role, accounts_only=True)
        if changes["role"] != "admin":
            _keep_an_admin(conn, row, "take the administrator role from")
    if street_office_codes is not _KEEP:
        changes["street_office_codes"] = resolve_street_offices(conn, street_office_codes)
    if display_name is not _KEEP:
        changes["display_name"] = clean_label(display_name, what="display name")
    if email is not _KEEP:
        changes["email"] = clean_email(email)
        _check_email_free(conn, changes["email"], row.id)
    if person_key is not _KEEP:
        changes["person_id"] = _person_id(conn, person_key)
    new_codes = changes.get("street_office_codes", row.street_office_codes)
    require_manage(
        conn, actor, [row.street_office_codes, new_codes], f"change user {row.username!r}"
    )
    if not changes:
        return before
    sets = ", ".join(f"{col} = :{col}" for col in changes)  # column names from this function
    conn.execute(sa.text(f"UPDATE users SET {sets} WHERE id = :id"), {**changes, "id": row.id})
    after_row = user_row(conn, "u.id = :id", {"id": row.id})
    assert after_row is not None  # locked above
    after = _info(after_row)
    audit.record(
        conn, actor, "user.update", entity_type="user", entity_id=row.id,
        before=_public(before), after=_public(after),
    )  # fmt: skip
    return after


def set_password(conn: Connection, actor: Actor, username: str, password: str) -> None:
    """Set (or reset) an account's password; this also lifts a lock-out."""
    require(actor, "users.manage", what="set passwords")
    row = _existing(conn, username)
    require_manage(conn, actor, [row.street_office_codes], f"set the password of {row.username!r}")
    _write_password(conn, actor, row, password, by_self=False)


def _write_password(
    conn: Connection, actor: Actor, row: Row[Any], password: str, *, by_self: bool
) -> None:
    pw_hash = PASSWORD_HASHER.hash(clean_password(password, row.username.casefold()))
    conn.execute(
        sa.text(
            "UPDATE users SET password_hash = :h, password_changed_at = now(), "
            "failed_count = 0, locked_until = NULL WHERE id = :id"
        ),
        {"h": pw_hash, "id": row.id},
    )
    audit.record(
        conn, actor, "user.password", entity_type="user", entity_id=row.id,
        detail={"username": row.username, "by_self": by_self},
    )  # fmt: skip


def change_own_password(
    conn: Connection, actor: Actor, old_password: str, new_password: str
) -> None:
    """A signed-in person changes their own password, giving the current one."""
    if "user_id" not in actor.extra:
        msg = f"{actor.username} has no local account whose password could be changed"
        raise PermissionDeniedError(msg)
    row = user_row(conn, "u.id = :id", {"id": int(actor.extra["user_id"])})
    if row is None or row.disabled_at is not None or not _verify(row.password_hash, old_password):
        msg = "the current password is wrong; nothing was changed"
        raise PermissionDeniedError(msg)
    _write_password(conn, actor, row, new_password, by_self=True)


def _set_flag(conn: Connection, actor: Actor, username: str, action: str) -> UserInfo:
    require(actor, "users.manage", what=f"{action} users")
    row = _existing(conn, username)
    require_manage(conn, actor, [row.street_office_codes], f"{action} user {row.username!r}")
    if action == "disable":
        _keep_an_admin(conn, row, "disable")
    sql = {
        "disable": "disabled_at = COALESCE(disabled_at, now()), disabled_by = :by",
        "enable": "disabled_at = NULL, disabled_by = NULL, failed_count = 0, locked_until = NULL",
        "unlock": "failed_count = 0, locked_until = NULL",
    }[action]
    conn.execute(
        sa.text(f"UPDATE users SET {sql} WHERE id = :id"), {"by": actor.username, "id": row.id}
    )
    after_row = user_row(conn, "u.id = :id", {"id": row.id})
    assert after_row is not None  # locked above
    before, after = _info(row), _info(after_row)
    audit.record(
        conn, actor, f"user.{action}", entity_type="user", entity_id=row.id,
        before={"disabled": before.disabled, "locked_until": before.locked_until},
        after={"disabled": after.disabled, "locked_until": after.locked_until},
        detail={"username": row.username},
    )  # fmt: skip
    return after


def disable_user(conn: Connection, actor: Actor, username: str) -> UserInfo:
    """Stop an account from signing in (by any method); its history stays."""
    return _set_flag(conn, actor, username, "disable")


def enable_user(conn: Connection, actor: Actor, username: str) -> UserInfo:
    """Let a disabled account sign in again."""
    return _set_flag(conn, actor, username, "enable")


def unlock_user(conn: Connection, actor: Actor, username: str) -> UserInfo:
    """Lift a lock-out after repeated failed sign-ins."""
    return _set_flag(conn, actor, username, "unlock")


def list_users(conn: Connection, actor: Actor) -> list[UserInfo]:
    """Every account, by username."""
    require(actor, "users.manage", what="list users")
    rows = conn.execute(
        sa.text(
            f"SELECT {USER_COLUMNS} FROM users u LEFT JOIN people p ON p.id = u.person_id "
            "ORDER BY u.username_key"
        )
    ).all()
    return [_info(r) for r in rows]


_ELSEWHERE = {
    "db.kiosk": (
        "KIOSK_QUERY_PARAM", "KioskTokenInfo", "actor_for_kiosk_token", "create_kiosk_token",
        "list_kiosk_tokens", "revoke_kiosk_token",
    ),
    "db.oidc": ("actor_for_oidc",),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # The app's sign-in API in one place (``from db.users import actor_for_kiosk_token``)
    # without importing the kiosk and OIDC modules, which import this one, at load time.
    import importlib

    for module, names in _ELSEWHERE.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
