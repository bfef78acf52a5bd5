"""Signed records: everything in the ledger that is not a transfer.

Limit changes, key and role events, new members, collectives, currencies and
accounts are documents signed by whoever made them and appended to the hash
chain like transfers, so ``verify`` can tell who changed what, and when.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.canonical import TAG_RECORD, canonical_bytes
from mutualcredit.persistence import models
from mutualcredit.persistence.models import core_table
from mutualcredit.services.chain import append_events
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRecord:
    type: str
    author: str
    document: dict[str, Any]
    body: bytes
    body_hash: str
    public_key: str
    signature: str


def sign_record(
    ledger: Ledger, signer: Signer, type_: str, created_at: str, **fields: Any
) -> SignedRecord:
    document = {
        "network": ledger.network.id,
        "type": type_,
        "author": signer.handle,
        "created_at": created_at,
        **fields,
    }
    body = canonical_bytes(TAG_RECORD, document)
    return SignedRecord(
        type=type_,
        author=signer.handle,
        document=document,
        body=body,
        body_hash=hashlib.sha256(body).hexdigest(),
        public_key=signer.public_key,
        signature=signer.sign(body),
    )


def key_id_of(connection: Connection, public_key: str, author: str) -> int:
    """The id of ``author``'s active key ``public_key``; refuse unknown or revoked keys."""
    from mutualcredit.services.posting import KeyRevoked, KeyUnknown

    row = connection.execute(
        text("SELECT id, handle, revoked_at FROM key WHERE public_key = :k"), {"k": public_key}
    ).one_or_none()
    if row is None or row.handle != author:
        raise KeyUnknown(f"the key that signed is not a key of {author} in this ledger")
    if row.revoked_at is not None:
        raise KeyRevoked(f"the key of {author} that signed was revoked at {row.revoked_at}")
    return int(row.id)


def write_record(
    connection: Connection, ledger: Ledger, record: SignedRecord, *, event_type: str = "record"
) -> int:
    """Insert a signed record and append its event; return the record id."""
    table = core_table(models.Record)
    record_id = connection.execute(
        insert(table).returning(table.c.id),
        {
            "type": record.type,
            "author": record.author,
            "body": record.body.split(b"\n", 1)[1].decode("utf-8"),
            "body_hash": record.body_hash,
            "key_id": key_id_of(connection, record.public_key, record.author),
            "signature": record.signature,
            "created_at": record.document["created_at"],
        },
    ).scalar_one()
    append_events(
        connection,
        ledger,
        [(event_type, int(record_id), record.body_hash, record.document["created_at"])],
    )
    return int(record_id)
