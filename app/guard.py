"""No traceback ever reaches a person: expected errors as a message, the rest logged.

:func:`guarded` wraps a page (and each self-refreshing fragment, whose reruns do not
pass through the page): a :class:`~gis.errors.CityGridError` is shown as the sentence it
carries; anything else is logged with its traceback to ``<home>/citygrid.log`` and the
page says so calmly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
import streamlit as st

from gis.errors import CityGridError, DatabaseError, PermissionDeniedError

P = ParamSpec("P")
R = TypeVar("R")

_LOG = logging.getLogger("citygrid.app")


def log_path() -> Path:
    """Where unexpected errors are logged."""
    from citygrid.settings import get_settings

    return get_settings().home / "citygrid.log"


def _log(exc: BaseException) -> str:
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not any(
            isinstance(h, logging.FileHandler) and h.baseFilename == str(path)
            for h in _LOG.handlers
        ):
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            _LOG.addHandler(handler)
        _LOG.error("unexpected error in the dashboard", exc_info=exc)
        return str(path)
    except Exception:  # the log is a courtesy; never mask the page with a second error
        return "log unavailable"


def show_error(exc: BaseException) -> None:
    """Show ``exc`` the way a person should see it."""
    from app.markup import escape_markdown, t_text

    # Messages quote what was typed or loaded (names, codes, file columns): text only.
    if isinstance(exc, PermissionDeniedError):
        st.warning(t_text("error.denied", detail=str(exc)))
    elif isinstance(exc, DatabaseError):
        st.error(t_text("error.db", detail=str(exc)))
    elif isinstance(exc, CityGridError):
        st.warning(escape_markdown(exc))
    elif isinstance(exc, sa.exc.OperationalError):
        _log(exc)
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        st.error(t_text("error.db", detail=first))
    else:
        st.error(t_text("error.calm", where=_log(exc)))


def guarded(func: Callable[P, R]) -> Callable[P, R | None]:
    """Run ``func``; show its errors as messages instead of tracebacks."""

    # st.rerun, st.stop and st.switch_page raise BaseExceptions, which pass through.
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            show_error(exc)
            return None

    return wrapper
