"""Appending events to the hash chain, inside the writer's transaction.

The chain head is one row; reading it (``FOR UPDATE`` on PostgreSQL, under
``BEGIN IMMEDIATE`` on SQLite) is the only serial step of a write, and it
comes last, after the account rows are locked, so it is held briefly.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.events import event_hash, next_chain_hash
from mutualcredit.persistence import models
from mutualcredit.services.context import Ledger


EVENT_COLUMNS = ("seq", "type", "subject_id", "body_hash", "event_hash", "chain_hash",
                 "created_at")


def append_events(connection: Connection, ledger: Ledger,
                  events: Sequence[tuple[str, int, str, str]]) -> list[int]:
    """Append ``(type, subject_id, body_hash, created_at)`` events; return their seqs."""
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    head = connection.execute(
        text(f"SELECT seq, chain_hash FROM chain_head WHERE id = 1{lock}")).one()
    seq, chain = int(head.seq), head.chain_hash
    rows = []
    for type_, subject_id, body_hash, created_at in events:
        seq += 1
        this_hash = event_hash(seq=seq, type=type_, body_hash=body_hash)
        chain = next_chain_hash(chain, this_hash)
        rows.append({"seq": seq, "type": type_, "subject_id": subject_id,
                     "body_hash": body_hash, "event_hash": this_hash, "chain_hash": chain,
                     "created_at": created_at})
    if rows:
        from mutualcredit.services.posting import bulk_insert

        bulk_insert(connection, "event", EVENT_COLUMNS, [tuple(row[c] for c in EVENT_COLUMNS)
                                                         for row in rows])
        connection.execute(text("UPDATE chain_head SET seq = :seq, chain_hash = :chain WHERE id = 1"),
                           {"seq": seq, "chain": chain})
    return [row["seq"] for row in rows]


def head_seq(connection: Connection, ledger: Ledger) -> int:
    """The last event's seq, locking the chain head (the next append uses seq + 1)."""
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    return int(connection.execute(text(f"SELECT seq FROM chain_head WHERE id = 1{lock}")).scalar_one())


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
    last = connection.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
    return list(range(int(last) + 1, int(last) + 1 + count))
