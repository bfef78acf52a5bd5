"""Bulk inserts through the database driver, for the batch paths (imports, verify).

SQLAlchemy Core's ``insert(table)`` with a list of dicts processes every
parameter of every row in Python; for a batch of a hundred thousand transfers
that costs more than the insert itself.  :func:`bulk_insert` hands positional
rows straight to the driver's ``executemany``.  Only the posting function and
the chain writer use it, inside their write transaction; values must already
be plain ints, strings and None.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

BULK_ROWS_PER_STATEMENT = 20_000


def bulk_insert(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``."""
    if not rows:
        return
    assert table.isidentifier() and all(column.isidentifier() for column in columns)
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    )
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), BULK_ROWS_PER_STATEMENT):
            cursor.executemany(statement, list(rows[start : start + BULK_ROWS_PER_STATEMENT]))
    finally:
        cursor.close()


def _driver_sql(connection: Connection, sql: str) -> str:
    """Statements here are written with ``?``; psycopg takes ``%s``."""
    return sql if connection.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def driver_rows(
    connection: Connection, sql: str, parameters: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement on the DB-API cursor of ``connection``'s transaction; all rows.

    The single-payment path runs about ten small statements per transfer;
    through the driver directly each costs a few microseconds instead of the
    tens that SQLAlchemy's result machinery adds, which is most of the
    difference between 1,000 and 1,500 signed payments a second here.
    """
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_driver_sql(connection, sql), tuple(parameters))
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


def driver_batch(
    connection: Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[tuple[Any, ...]]]:
    """Run the SELECTs ``statements`` in order, like :func:`driver_rows`; the rows of each.

    On PostgreSQL they go as ONE statement — each a branch of a ``UNION ALL`` that
    tags its rows and sends them as JSON — so the reads a write makes before it
    validates (key, idempotency, account locks, ids) cost one statement, not one each
    (psycopg's pipeline mode saves the waits but hardly any of the per-statement CPU).
    Values must be what JSON carries exactly: integers, strings and NULLs.
    """
    if connection.dialect.paramstyle == "qmark":
        return [driver_rows(connection, sql, parameters) for sql, parameters in statements]
    branches = [
        f"(SELECT {index} AS part, row_to_json(s)::text FROM ({sql}) AS s)"
        for index, (sql, _) in enumerate(statements)
    ]
    parameters = [value for _, values in statements for value in values]
    results: list[list[tuple[Any, ...]]] = [[] for _ in statements]
    for part, document in driver_rows(connection, " UNION ALL ".join(branches), parameters):
        results[part].append(tuple(json.loads(document).values()))
    return results


def driver_many(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` on the DB-API cursor of ``connection``'s transaction."""
    if not rows:
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_driver_sql(connection, sql), list(rows))
    finally:
        cursor.close()


def placeholders(count: int) -> str:
    return ", ".join(["?"] * count)


def driver_named(connection: Connection, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
    """:func:`driver_rows`, with columns reachable by name (``row.status``)."""
    from collections import namedtuple

    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_driver_sql(connection, sql), tuple(parameters))
        names = [column[0] for column in cursor.description]
        row_type = _row_types.get(tuple(names))
        if row_type is None:
            row_type = _row_types[tuple(names)] = namedtuple("Row", names)  # type: ignore[misc]
        return [row_type(*row) for row in cursor.fetchall()]
    finally:
        cursor.close()


_row_types: dict[tuple[str, ...], Any] = {}
