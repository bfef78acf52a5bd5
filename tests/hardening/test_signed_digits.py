"""A signed body's amounts are read with ASCII digits only, by the writer and by ``verify``.

The writer parses a body's amounts with :func:`parse_signed_amount` (0-9 only);
``verify``'s fast path used ``int()``, which reads ``١``, ``+`` and ``_`` too,
so a body its author signed with amount ``-١.٠٠`` (forged into the file by
someone holding it) matched postings of -100 and ``verify`` called it clean.
"""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from mutualcredit.domain.canonical import canonical_json
from mutualcredit.domain.transfers import Posting, TransferDraft, body_bytes, body_document
from tests.tamper.test_tamper_kit import Base, append_event, base, db, rebuild_totals, verify

__all__ = ["base", "db"]  # the tamper kit's fixtures


def forge_text_amounts(connection: sqlite3.Connection, base: Base, amounts: tuple[str, str]) -> int:
    """ana signs a payment of 1.00 to bia whose body spells the amounts ``amounts``."""
    signer = base.ana
    created_at = "2030-01-01T00:00:00.000000Z"
    key_id = connection.execute(
        "SELECT id FROM key WHERE public_key = ?", (signer.public_key,)
    ).fetchone()[0]
    draft = TransferDraft(
        network=base.network,
        kind="payment",
        author="ana",
        key="digits",
        postings=(
            Posting(account="members:ana", currency="CUBO", amount=-100),
            Posting(account="members:bia", currency="CUBO", amount=100),
        ),
        created_at=created_at,
        memo="forged",
    )
    document = body_document(draft, base.scales)
    for posting, text in zip(document["postings"], amounts, strict=True):
        posting["amount"] = text
    body = body_bytes(document)
    content = hashlib.sha256(
        canonical_json({k: v for k, v in document.items() if k != "created_at"})
    ).hexdigest()
    cursor = connection.execute(
        "INSERT INTO transfer (kind, status, author, idempotency_key, content_hash, body, "
        "body_hash, key_id, signature, memo, created_at) VALUES ('payment', 'posted', 'ana', "
        "'digits', ?, ?, ?, ?, ?, 'forged', ?)",
        (
            content,
            body.split(b"\n", 1)[1].decode(),
            hashlib.sha256(body).hexdigest(),
            key_id,
            signer.sign(body),
            created_at,
        ),
    )
    transfer_id = int(cursor.lastrowid or 0)
    for account, amount in (("members:ana", -100), ("members:bia", 100)):
        connection.execute(
            "INSERT INTO posting (transfer_id, account_id, currency, amount) "
            "SELECT ?, id, 'CUBO', ? FROM account WHERE name = ?",
            (transfer_id, amount, account),
        )
    seq = append_event(
        connection, "transfer", transfer_id, hashlib.sha256(body).hexdigest(), created_at
    )
    connection.execute("UPDATE transfer SET event_seq = ? WHERE id = ?", (seq, transfer_id))
    rebuild_totals(connection)
    return transfer_id


@pytest.mark.parametrize(
    "amounts", [("-١.٠٠", "١.٠٠"), ("-1.00", "+1.00"), ("-1.00", "0_1.00"), ("-1.00", " 1.00")]
)
def test_verify_refuses_amounts_the_writer_would_not_read(db, base, amounts) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    transfer_id = forge_text_amounts(connection, base, amounts)
    problems = verify(path)
    assert [(p.code, p.subject) for p in problems] == [
        ("postings_mismatch", f"transfer {transfer_id}")
    ], problems


def test_the_same_forgery_with_plain_amounts_is_clean(db, base) -> None:  # type: ignore[no-untyped-def]
    connection, path = db
    forge_text_amounts(connection, base, ("-1.00", "1.00"))
    assert verify(path) == []
