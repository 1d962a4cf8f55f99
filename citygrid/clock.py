"""The deployment's clock: the time and the date in ``CITYGRID_TIMEZONE``.

"Today" is the date where the platform is used, neither the machine's nor the
database server's: on a server kept in UTC, a Beijing day starts eight hours before
the server's, so ``CURRENT_DATE`` or :meth:`datetime.date.today` there would be
yesterday from 00:00 to 08:00. Everything that needs today's date asks here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from citygrid.settings import get_settings


def zone() -> ZoneInfo:
    """The deployment's time zone (``CITYGRID_TIMEZONE``)."""
    return ZoneInfo(get_settings().timezone)


def now() -> dt.datetime:
    """The current time, aware, in the deployment's zone."""
    return dt.datetime.now(tz=zone())


def today() -> dt.date:
    """Today's date in the deployment's zone."""
    return now().date()


def day_start(day: dt.date) -> dt.datetime:
    """The first moment (00:00) of ``day`` in the deployment's zone, aware
    (``2025-03-01T00:00:00+08:00`` for 1 March in Asia/Shanghai)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone())


def day_end(day: dt.date) -> dt.datetime:
    """The end of ``day`` (24:00, which is 00:00 of the next day) in the deployment's zone."""
    return day_start(day + dt.timedelta(days=1))
