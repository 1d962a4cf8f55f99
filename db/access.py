"""Who may do what: the actor behind every write, and the one check write paths call.

Permissions are enforced here, in the code that writes, not only by hiding buttons.
Every function in ``db`` or ``etl`` that changes data takes an :class:`Actor` and calls
:func:`require` before touching anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from gis.errors import PermissionDeniedError

Role = Literal["admin", "planner", "leader", "field", "viewer", "kiosk", "system"]
Permission = Literal[
    "users.manage",  # accounts, kiosk tokens
    "settings.manage",
    "assign.write",  # assignments, people, undo
    "data.load",  # loading files
    "report.export",  # notice boards, monthly reports, gap exports
    "audit.read",
    "pii.read",  # unmasked names and phone numbers
    "problem.update",  # problem lifecycle on own segments (field staff)
]

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "admin": frozenset(
        {
            "users.manage",
            "settings.manage",
            "assign.write",
            "data.load",
            "report.export",
            "audit.read",
            "pii.read",
            "problem.update",
        }
    ),
    "planner": frozenset({"assign.write", "data.load", "report.export", "pii.read"}),
    "leader": frozenset({"report.export", "pii.read"}),
    "field": frozenset({"problem.update", "pii.read"}),
    "viewer": frozenset(),
    "kiosk": frozenset(),
    "system": frozenset(
        {
            "users.manage",
            "settings.manage",
            "assign.write",
            "data.load",
            "report.export",
            "audit.read",
            "pii.read",
            "problem.update",
        }
    ),
}

ROLE_LABELS: dict[Role, tuple[str, str]] = {
    "admin": ("管理员", "administrator"),
    "planner": ("规划员", "planner"),
    "leader": ("领导", "leader"),
    "field": ("一线人员", "field staff"),
    "viewer": ("访客", "viewer"),
    "kiosk": ("大屏", "wall screen"),
    "system": ("系统", "system"),
}


@dataclass(frozen=True)
class Actor:
    """The person (or screen, or operator at the server) on whose behalf code runs.

    ``street_office_ids`` limits the actor to some street offices (None: all areas).
    ``person_id`` links field staff to their roster entry ("their own segments").
    """

    username: str
    role: Role
    street_office_ids: frozenset[int] | None = None
    person_id: int | None = None
    display_name: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def covers(self, street_office_id: int | None) -> bool:
        """Whether the actor's area includes ``street_office_id``."""
        if self.street_office_ids is None:
            return True
        return street_office_id is not None and street_office_id in self.street_office_ids


#: An operator on the server (the command line): may do everything, everywhere.
SYSTEM = Actor(username="system", role="system")


def command_line_operator() -> Actor:
    """The person at the server's command line: :data:`SYSTEM` named ``system:<login>``.

    The audit log then says which operating-system account ran a command.
    """
    import os
    import pwd

    try:
        login = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        login = str(os.getuid())
    return Actor(username=f"system:{login}", role="system")


def require(
    actor: Actor,
    permission: Permission,
    *,
    street_office_ids: Iterable[int | None] = (),
    what: str = "",
) -> None:
    """Raise :class:`PermissionDeniedError` unless ``actor`` may do this, here.

    ``street_office_ids`` are the areas the change touches; each must be inside the
    actor's areas.
    """
    if not actor.can(permission):
        label = ROLE_LABELS[actor.role][1]
        msg = f"{actor.username} ({label}) may not {what or permission}"
        raise PermissionDeniedError(msg)
    outside = sorted({s for s in street_office_ids if not actor.covers(s)}, key=str)
    if outside:
        msg = (
            f"{actor.username} may not {what or permission} outside their street offices "
            f"(street office {', '.join(str(s) for s in outside)})"
        )
        raise PermissionDeniedError(msg)


_PHONE = re.compile(r"^(\+?\d{0,4}[- ]?)?(\d{3})(\d*)(\d{4})$")


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number for people who may not see it.

    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_phone("010-6512 3456")
    '010****3456'
    """
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str | None:
    """Mask a Chinese or Latin name, keeping the first character.

    >>> mask_name("王小明")
    '王**'
    >>> mask_name("Li")
    'L*'
    """
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
