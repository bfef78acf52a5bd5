"""Bulk inserts through the database driver, for the batch paths (imports, verify).

SQLAlchemy Core's ``insert(table)`` with a list of dicts processes every
parameter of every row in Python; for a batch of a hundred thousand transfers
that costs more than the insert itself.  :func:`bulk_insert` hands positional
rows straight to the driver's ``executemany``.  Only the posting function and
the chain writer use it, inside their write transaction; values must already
be plain ints, strings and None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

BULK_ROWS_PER_STATEMENT = 20_000


def bulk_insert(connection: Connection, table: str, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``."""
    if not rows:
        return
    assert table.isidentifier() and all(column.isidentifier() for column in columns)
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (f"INSERT INTO {table} ({', '.join(columns)}) "
                 f"VALUES ({', '.join([marker] * len(columns))})")
    for start in range(0, len(rows), BULK_ROWS_PER_STATEMENT):
        connection.exec_driver_sql(statement, list(rows[start:start + BULK_ROWS_PER_STATEMENT]))
