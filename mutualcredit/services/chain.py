"""Appending events to the hash chain, inside the writer's transaction.

The chain head is one row; reading it (``FOR UPDATE`` on PostgreSQL, under
``BEGIN IMMEDIATE`` on SQLite) is the only serial step of a write, and it
comes last, after the account rows are locked, so it is held briefly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mutualcredit.domain.events import event_rows
from mutualcredit.persistence.bulk import bulk_insert, driver_rows
from mutualcredit.services.context import Ledger

EVENT_COLUMNS = ("seq", "type", "subject_id", "body_hash", "event_hash", "chain_hash",
                 "created_at")


def append_events(connection: Connection, ledger: Ledger,
                  events: Sequence[tuple[str, int, str, str]], *,
                  head: tuple[int, str] | None = None) -> list[int]:
    """Append ``(type, subject_id, body_hash, created_at)`` events; return their seqs.

    ``head`` is what :func:`lock_head` returned when the caller locked it already.
    """
    seq, chain = head if head is not None else lock_head(connection, ledger)
    rows = event_rows(seq, chain, events)
    if rows:
        bulk_insert(connection, "event", EVENT_COLUMNS, rows)
        driver_rows(connection, "UPDATE chain_head SET seq = ?, chain_hash = ? WHERE id = 1",
                    (rows[-1][0], rows[-1][5]))
    return [row[0] for row in rows]


def lock_head(connection: Connection, ledger: Ledger) -> tuple[int, str]:
    """The last event's seq and chain hash, locking the head (the next append is seq + 1)."""
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    row = driver_rows(connection, f"SELECT seq, chain_hash FROM chain_head WHERE id = 1{lock}")
    return int(row[0][0]), str(row[0][1])


def allocate_ids(connection: Connection, ledger: Ledger, table: str, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table``, to insert rows with known ids in bulk.

    PostgreSQL draws them from the table's sequence; SQLite, whose writer holds
    the database lock for the whole transaction (``BEGIN IMMEDIATE``), continues
    after the largest id, exactly as it would itself.
    """
    assert table in ("transfer", "posting", "event", "batch"), table
    if count == 0:
        return []
    if ledger.is_postgres:
        rows = connection.execute(text(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
            "FROM generate_series(1, :count)"), {"count": count})
        return sorted(int(row[0]) for row in rows)
    last = driver_rows(connection, f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]
    return list(range(int(last) + 1, int(last) + 1 + count))


# At most this many rows go into one combined statement (PostgreSQL takes 65,535 parameters).
COMBINED_ROWS_MAX = 1_000


def append_events_combined(connection: Connection,
                           events: Sequence[tuple[str, int, str, str]],
                           rows_for: Callable[[int], Sequence[tuple[str, Sequence[str],
                                                                    Sequence[tuple[Any, ...]]]]]
                           ) -> list[int]:
    """PostgreSQL: lock the head, then write rows, events and the new head in ONE statement.

    ``rows_for(first_seq)`` gives ``(table, columns, rows)`` to insert with the events
    (the transfers, whose rows carry their event's seq, and their postings).  The chain
    head — the one row every writer waits for — is then held for two round trips and
    the commit, instead of one round trip per table.  Foreign keys between the rows of
    one statement are checked at its end, so parents and children may go together.
    """
    head = connection.exec_driver_sql(
        "SELECT seq, chain_hash FROM chain_head WHERE id = 1 FOR UPDATE").one()
    seq, chain = int(head[0]), str(head[1])
    first = seq + 1
    chained = event_rows(seq, chain, events)
    if chained:
        seq, chain = chained[-1][0], chained[-1][5]
    parts: list[str] = []
    parameters: list[Any] = []
    tables = [*rows_for(first), ("event", EVENT_COLUMNS, chained)]
    assert sum(len(rows) for _, _, rows in tables) <= COMBINED_ROWS_MAX
    for index, (table, columns, rows) in enumerate(tables):
        if not rows:
            continue
        assert table.isidentifier() and all(column.isidentifier() for column in columns)
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        parts.append(f"w{index} AS (INSERT INTO {table} ({', '.join(columns)}) "
                     f"VALUES {', '.join([row] * len(rows))})")
        parameters.extend(value for values in rows for value in values)
    connection.exec_driver_sql(
        f"WITH {', '.join(parts)} UPDATE chain_head SET seq = %s, chain_hash = %s WHERE id = 1",
        (*parameters, seq, chain))
    return list(range(first, seq + 1))
