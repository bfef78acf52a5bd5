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
        connection.execute(insert(models.Event.__table__), rows)
        connection.execute(text("UPDATE chain_head SET seq = :seq, chain_hash = :chain WHERE id = 1"),
                           {"seq": seq, "chain": chain})
    return [row["seq"] for row in rows]
