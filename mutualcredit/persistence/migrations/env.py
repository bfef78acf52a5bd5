"""Alembic environment: runs on the connection the program hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import mutualcredit.persistence.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
assert connection is not None, "migrations run only through mutualcredit.persistence.schema"
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
