"""Alembic environment: runs on the connection handed over by ``db.migrate``."""

from __future__ import annotations

from typing import Any

from alembic import context

import db.models_access  # noqa: F401  (registers the access tables on Base)
from db.models import Base

target_metadata = Base.metadata

# Tables that belong to extensions, not to CityGrid.
_FOREIGN_TABLES = {"spatial_ref_sys", "topology", "layer"}


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "table" and name in _FOREIGN_TABLES)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        msg = "run migrations through `citygrid db migrate`, which supplies the connection"
        raise RuntimeError(msg)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
