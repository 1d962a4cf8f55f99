"""The few error types CityGrid raises on purpose.

Every message names what was wrong, what was received and how to fix it. The
command line prints ``str(error)`` as one line; the app shows it in a box. Any
other exception is a bug and is logged with its traceback, never shown.
"""

from __future__ import annotations


class CityGridError(Exception):
    """Base class: an expected failure with a message meant for a person."""


class ConfigError(CityGridError):
    """The settings are missing, contradictory or point at something unusable."""


class DatabaseError(CityGridError):
    """The database cannot be reached, created, started or migrated."""


class DataError(CityGridError):
    """Input data cannot be used as given (wrong columns, CRS, file type...)."""


class CRSError(DataError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class ConflictError(CityGridError):
    """Someone else changed the same thing first; nothing was written."""


class PermissionDeniedError(CityGridError):
    """The signed-in user's role or area does not allow this action."""
