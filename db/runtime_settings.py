"""Settings an administrator changes while the platform runs, laid over the environment's.

The environment (and ``.env``) gives :func:`citygrid.settings.get_settings`; the table
``setting_overrides`` holds what an administrator changed since, for the names in
:data:`citygrid.settings.RUNTIME_FIELDS` (the complaint hotline, the yellow-card share,
the big screen's refresh interval, the default language, the basemap). Everything that
reads those settings asks :func:`effective_settings`, which falls back to the
environment for any setting nobody changed.

A change (:func:`set_setting`, :func:`unset_setting`) is validated exactly as the
settings object validates the environment, field by field and across fields (a local
basemap needs a tile address); needs ``settings.manage``; and is written to the audit
log with the value before and after, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import sqlalchemy as sa
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import Connection, Row

from citygrid.settings import RUNTIME_FIELDS, Settings, get_settings
from db import audit
from db.access import Actor, require
from gis.errors import DatabaseError, DataError

TABLE = "setting_overrides"

_NOT_RUNTIME = (
    "{name!r} cannot be changed while the platform runs; settings that can: {names} "
    "(the others are set in the environment or .env, and take effect on restart)"
)


@dataclass(frozen=True)
class SettingState:
    """One runtime setting: where its value comes from, and who changed it last.

    ``ignored`` says why a stored value is not in effect (it no longer passes the
    settings' checks, or the name is no longer a runtime setting); the environment's
    value applies meanwhile.
    """

    name: str
    description: str
    environment: Any
    effective: Any
    overridden: bool
    stored: Any = None
    ignored: str | None = None
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


def _table_exists(conn: Connection) -> bool:
    return conn.scalar(sa.text(f"SELECT to_regclass('public.{TABLE}')")) is not None


def _rows(conn: Connection, *, lock: bool = False) -> list[Row[Any]]:
    if not _table_exists(conn):
        if lock:
            msg = f"the table {TABLE} does not exist yet; run `citygrid db migrate` first"
            raise DatabaseError(msg)
        return []
    if lock:
        # One change at a time: a change is checked against the others (a local basemap
        # needs a tile address), which must not move meanwhile. Readers are not blocked.
        conn.execute(sa.text(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE"))
    return list(
        conn.execute(
            sa.text(f"SELECT name, value, updated_at, updated_by FROM {TABLE} ORDER BY name")
        )
    )


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _reasons(exc: ValidationError, values: Mapping[str, Any]) -> str:
    parts = []
    for err in exc.errors():
        text = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            name = str(err["loc"][0])
            given = values.get(name, err.get("input"))
            text = f"{name}={_shown(given)!s}: {text}"
        parts.append(text)
    return "; ".join(parts)


def _validate(base: Settings, values: Mapping[str, Any]) -> Settings:
    """``base`` with ``values`` laid over it, checked like the environment is."""
    try:
        return Settings.model_validate({**base.model_dump(), **values})
    except ValidationError as exc:
        raise DataError(_reasons(exc, values)) from None


def _resolve(
    base: Settings, rows: Sequence[Row[Any]]
) -> tuple[Settings, dict[str, Any], dict[str, str]]:
    """Lay the stored values over ``base``; return the result, those applied, those not.

    A stored value may stop passing the checks after it was stored (the Tianditu key
    was removed from the environment, the stored basemap needs it): it is skipped and
    the environment's value applies, so that a page never fails for a setting. Values
    are added while any can be (a local basemap only once its tile address is in).
    """
    pending = {r.name: r.value for r in rows}
    ignored = {
        name: _NOT_RUNTIME.format(name=name, names=", ".join(RUNTIME_FIELDS))
        for name in pending
        if name not in RUNTIME_FIELDS
    }
    pending = {k: v for k, v in pending.items() if k not in ignored}
    applied: dict[str, Any] = {}
    current = base
    if pending:
        try:
            return _validate(base, pending), pending, ignored
        except DataError:
            pass
    progress = True
    while pending and progress:
        progress = False
        for name, value in list(pending.items()):
            try:
                current = _validate(base, {**applied, name: value})
            except DataError:
                continue
            applied[name] = pending.pop(name)
            progress = True
    for name, value in pending.items():
        try:
            _validate(base, {**applied, name: value})
        except DataError as exc:
            ignored[name] = str(exc)
    return current, applied, ignored


def effective_settings(conn: Connection, *, base: Settings | None = None) -> Settings:
    """The settings in effect: the environment's, with what administrators changed.

    ``base`` defaults to :func:`citygrid.settings.get_settings`. A database without the
    table (not yet migrated) gives the environment's settings.
    """
    base = base or get_settings()
    rows = _rows(conn)
    if not rows:
        return base
    return _resolve(base, rows)[0]


def setting_states(conn: Connection, *, base: Settings | None = None) -> list[SettingState]:
    """Every runtime setting (and any stored value no longer one), for the settings page."""
    base = base or get_settings()
    rows = _rows(conn)
    effective, _applied, ignored = _resolve(base, rows)
    stored = {r.name: r for r in rows}
    names = [*RUNTIME_FIELDS, *sorted(n for n in stored if n not in RUNTIME_FIELDS)]
    states = []
    for name in names:
        row = stored.get(name)
        field = Settings.model_fields.get(name)
        states.append(
            SettingState(
                name=name,
                description=(field.description or "") if field is not None else "",
                environment=_plain(getattr(base, name, None)),
                effective=_plain(getattr(effective, name, None)),
                overridden=row is not None and name not in ignored,
                stored=None if row is None else row.value,
                ignored=ignored.get(name),
                updated_by=None if row is None else row.updated_by,
                updated_at=None if row is None else row.updated_at,
            )
        )
    return states


def _plain(value: Any) -> Any:
    # Secrets never leave as text; paths as strings (JSON and tables take them).
    if isinstance(value, SecretStr):
        return "**********"
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _state(conn: Connection, name: str, base: Settings) -> SettingState:
    return next(s for s in setting_states(conn, base=base) if s.name == name)


def _name(name: object) -> str:
    """A setting's name as stored: ``refresh-seconds`` and ``CITYGRID_REFRESH_SECONDS``
    both mean ``refresh_seconds``."""
    return str(name).strip().lower().replace("-", "_").removeprefix("citygrid_")


def _check_runtime(name: str) -> str:
    text = _name(name)
    if text not in RUNTIME_FIELDS:
        raise DataError(_NOT_RUNTIME.format(name=str(name)[:40], names=", ".join(RUNTIME_FIELDS)))
    return text


def set_setting(
    conn: Connection, actor: Actor, name: str, value: Any, *, base: Settings | None = None
) -> SettingState:
    """Change a runtime setting while the platform runs; audited with before and after.

    ``value`` is checked as the environment's would be (a text such as ``"30"`` for a
    number is converted); a value the settings refuse raises :class:`DataError` and
    nothing is written. Setting the value already in force writes nothing.
    """
    require(actor, "settings.manage", what="change settings")
    name = _check_runtime(name)
    if isinstance(value, str):
        value = value.strip()
    base = base or get_settings()
    rows = _rows(conn, lock=True)
    before, applied, _ignored = _resolve(base, rows)
    try:
        after = _validate(base, {**applied, name: value})
    except DataError as exc:
        msg = f"cannot set {name} to {_shown(value)[:80]!r}: {exc}"
        raise DataError(msg) from None
    new_value = _plain(getattr(after, name))
    old = next((r for r in rows if r.name == name), None)
    if old is not None and old.value == new_value:
        return _state(conn, name, base)
    conn.execute(
        sa.text(
            f"INSERT INTO {TABLE} (name, value, updated_by) "
            "VALUES (:n, CAST(:v AS jsonb), :by) ON CONFLICT (name) DO UPDATE "
            "SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()"
        ),
        {"n": name, "v": json.dumps(new_value, ensure_ascii=False), "by": actor.username},
    )
    audit.record(
        conn, actor, "setting.set", entity_type="setting", entity_id=name,
        before={"value": _plain(getattr(before, name)), "source": _source(name, applied)},
        after={"value": new_value, "source": "override"},
    )  # fmt: skip
    return _state(conn, name, base)


def unset_setting(
    conn: Connection, actor: Actor, name: str, *, base: Settings | None = None
) -> SettingState | None:
    """Drop a changed setting so the environment's value applies again; audited.

    Returns the setting's state afterwards (None for a stored name that is no longer a
    runtime setting). Refused when the rest would then fail the checks (a local basemap
    left without its tile address); a setting nobody changed is left as it is.
    """
    require(actor, "settings.manage", what="change settings")
    text = _name(name)
    base = base or get_settings()
    rows = _rows(conn, lock=True)
    old = next((r for r in rows if r.name == text), None)
    if old is None:
        _check_runtime(text)
        return _state(conn, text, base)
    before, applied, _ignored = _resolve(base, rows)
    rest = {k: v for k, v in applied.items() if k != text}
    try:
        after = _validate(base, rest)
    except DataError as exc:
        msg = f"cannot unset {text}: without it the settings would not hold ({exc})"
        raise DataError(msg) from None
    conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE name = :n"), {"n": text})
    runtime = text in RUNTIME_FIELDS
    audit.record(
        conn, actor, "setting.unset", entity_type="setting", entity_id=text,
        before={
            "value": _plain(getattr(before, text)) if runtime else old.value,
            "source": _source(text, applied),
        },
        after={
            "value": _plain(getattr(after, text)) if runtime else None,
            "source": "environment",
        },
    )  # fmt: skip
    return _state(conn, text, base) if runtime else None


def _source(name: str, applied: Mapping[str, Any]) -> str:
    return "override" if name in applied else "environment"


def choices(name: str) -> tuple[str, ...] | None:
    """The values a setting may take when they are a fixed list (language, basemap)."""
    field = Settings.model_fields.get(_name(name))
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return tuple(str(v) for v in get_args(field.annotation))
