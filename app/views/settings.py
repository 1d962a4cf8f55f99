"""系统设置: the settings an administrator may change while the platform runs.

Each change goes through ``db.runtime_settings``: checked as the environment's settings
are, refused without ``settings.manage``, and written to the audit log with the value
before and after. The page shows what is in force, where it comes from, and the last
changes.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import t
from app.markup import t_text
from app.session import page_actor
from citygrid.settings import RUNTIME_FIELDS
from db.access import Actor
from db.queries.audit import search_audit
from db.runtime_settings import (
    SettingState,
    choices,
    set_setting,
    setting_states,
    unset_setting,
)
from gis.errors import DataError

#: The outcome of the last change, shown once after the page is drawn again.
DONE = "set_done"


def _shown(value: object, name: str | None = None) -> str:
    """A value as people read it: fixed choices by their label, nothing as (none)."""
    if value is None or value == "":
        return t("set.none")
    if name is not None and str(value) in (choices(name) or ()):
        return t(f"set.choice.{name}.{value}")
    return str(value)


def _when(value: object) -> str:
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return ""
    return pd.Timestamp(value).tz_convert(data.zone()).strftime("%Y-%m-%d %H:%M")


def _label(name: str) -> str:
    return t(f"set.name.{name}") if name in RUNTIME_FIELDS else name


def _change(actor: Actor, name: str, value: object | None) -> None:
    """Set (``value`` given) or unset a setting; say how it went, or why not."""
    try:
        with data.engine().begin() as conn:
            if value is None:
                state = unset_setting(conn, actor, name)
            else:
                state = set_setting(conn, actor, name, value)
    except DataError as exc:
        st.error(t_text("set.refused", detail=str(exc)))
        return
    data.settings_changed()
    shown = _shown(None if state is None else state.effective, name)
    st.session_state[DONE] = t_text("set.saved", name=_label(name), value=shown)
    st.rerun()


def _table(states: list[SettingState]) -> None:
    rows = [
        {
            "name": _label(s.name),
            "effective": _shown(s.effective, s.name),
            "source": t("set.source.ignored" if s.ignored else
                        "set.source.override" if s.overridden else "set.source.env"),
            "environment": _shown(s.environment, s.name),
            "by": s.updated_by or "",
            "at": _when(s.updated_at),
        }
        for s in states
    ]  # fmt: skip
    ui.table(
        pd.DataFrame(rows),
        {
            "name": "set.col.name",
            "effective": "set.col.effective",
            "source": "set.col.source",
            "environment": "set.col.environment",
            "by": "set.col.by",
            "at": "set.col.at",
        },
    )
    for s in states:
        if s.ignored:
            st.warning(
                t_text("set.ignored", name=_label(s.name), value=_shown(s.stored), why=s.ignored)
            )


def _editor(actor: Actor, states: list[SettingState]) -> None:
    by_name = {s.name: s for s in states}
    # Labels fixed now: a format function must not read the session when it is called.
    labels = {n: _label(n) for n in RUNTIME_FIELDS}
    name = st.selectbox(
        t("set.pick"), list(RUNTIME_FIELDS), format_func=labels.__getitem__, key="set_name"
    )
    state = by_name[name]
    st.caption(t(f"set.help.{name}"))
    options = choices(name)
    if options is not None:
        current = str(state.effective)
        value: object = st.selectbox(
            t("set.value"),
            options,
            index=options.index(current) if current in options else 0,
            format_func={v: t(f"set.choice.{name}.{v}") for v in options}.__getitem__,
            key=f"set_value_{name}",
        )
    else:
        value = st.text_input(
            t("set.value"),
            value="" if state.effective is None else str(state.effective),
            max_chars=300,
            key=f"set_value_{name}",
        )
    left, right = st.columns(2)
    if left.button(t("set.save"), type="primary", key="set_save"):
        _change(actor, name, value)
    if right.button(
        t("set.unset"), key="set_unset", disabled=not (state.overridden or state.ignored)
    ):
        _change(actor, name, None)


def _history(actor: Actor) -> None:
    with data.engine().connect() as conn:
        found = search_audit(conn, actor, action="setting.", page_size=20)
    if not found.rows:
        st.caption(t("set.history.none"))
        return
    frame = pd.DataFrame(
        {
            "at": [_when(r.at) for r in found.rows],
            "actor": [r.actor for r in found.rows],
            "name": [_label(str(r.entity_id)) for r in found.rows],
            "before": [_shown((r.before or {}).get("value"), str(r.entity_id)) for r in found.rows],
            "after": [_shown((r.after or {}).get("value"), str(r.entity_id)) for r in found.rows],
        }
    )
    ui.table(
        frame,
        {
            "at": "set.col.at",
            "actor": "set.col.by",
            "name": "set.col.name",
            "before": "set.col.before",
            "after": "set.col.after",
        },
    )


@guarded
def page() -> None:
    """The settings page."""
    actor = page_actor()
    st.title(t("set.title"))
    if not actor.can("settings.manage"):
        st.warning(t("set.denied"))
        return
    st.caption(t("set.intro", seconds=data.SETTINGS_TTL_S))
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done)
    with data.engine().connect() as conn:
        states = setting_states(conn)
    _table(states)
    st.subheader(t("set.change"))
    _editor(actor, states)
    if actor.can("audit.read"):
        st.subheader(t("set.history"))
        _history(actor)


page()
