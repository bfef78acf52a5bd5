"""Ledger events, their hashes and the hash chain.

Every ledger event (a transfer, a hold resolution, a limit change, a key or
role event, ...) is appended in commit order with a sequence number ``seq``
starting at 1.  An event is described by its *event bytes*::

    b"mutualcredit/event/v1\\n" + RFC8785({"seq": seq, "type": type, "body_hash": hex})

where ``body_hash`` is the SHA-256 of the signed bytes of the event's body
(for a transfer, its canonical transfer bytes).  Then

- ``event_hash = SHA-256(event bytes)``;
- ``chain_hash(seq) = SHA-256(chain_hash(seq - 1) || event_hash)`` (raw 32-byte
  digests), starting from the genesis hash of the network's creation record;
- the event bytes are the leaves of an RFC 9162 Merkle tree, so a proof that
  carries a transfer's signed body lets anyone recompute its leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mutualcredit.domain.canonical import TAG_EVENT, TAG_RECORD, canonical_bytes

EVENT_TYPES = (
    "network",  # the genesis record
    "transfer",  # a payment, hold, reversal, import row, settlement, fee
    "hold_resolution",  # a hold posted, voided or expired
    "limit_change",
    "key",  # key added, rotated or revoked
    "role",  # role granted or revoked
    "record",  # other signed records: members, collectives, accounts, requests
)


def event_bytes(*, seq: int, type: str, body_hash: str) -> bytes:
    assert type in EVENT_TYPES, type
    assert seq >= 1 and len(body_hash) == 64 and body_hash.isalnum(), (seq, body_hash)
    # Two ASCII words (a hex digest and a name from EVENT_TYPES: nothing to escape) and a
    # small integer, keys in sorted order: exactly the RFC 8785 bytes of
    # {"body_hash": ..., "seq": ..., "type": ...}.  This runs once per transfer written.
    return b'%s\n{"body_hash":"%s","seq":%d,"type":"%s"}' % (
        TAG_EVENT,
        body_hash.encode("ascii"),
        seq,
        type.encode("ascii"),
    )


def event_hash(*, seq: int, type: str, body_hash: str) -> str:
    return hashlib.sha256(event_bytes(seq=seq, type=type, body_hash=body_hash)).hexdigest()


def next_chain_hash(previous_chain_hash: str, this_event_hash: str) -> str:
    return hashlib.sha256(
        bytes.fromhex(previous_chain_hash) + bytes.fromhex(this_event_hash)
    ).hexdigest()


def event_rows(
    seq: int, chain_hash: str, events: Iterable[tuple[str, int, str, str]]
) -> list[tuple[int, str, int, str, str, str, str]]:
    """Chain ``(type, subject_id, body_hash, created_at)`` events after ``seq`` and ``chain_hash``.

    Each becomes ``(seq, type, subject_id, body_hash, event_hash, chain_hash,
    created_at)``: :func:`event_hash` and :func:`next_chain_hash`, with the
    chain kept as raw digests in between (a write appends one event per
    transfer, a large import a million).
    """
    sha256 = hashlib.sha256
    chain = bytes.fromhex(chain_hash)
    rows = []
    for type_, subject_id, body_hash, created_at in events:
        seq += 1
        this = sha256(event_bytes(seq=seq, type=type_, body_hash=body_hash)).digest()
        chain = sha256(chain + this).digest()
        rows.append((seq, type_, subject_id, body_hash, this.hex(), chain.hex(), created_at))
    return rows


def genesis_hash(creation_record: dict[str, object]) -> str:
    """The chain's starting hash: SHA-256 of the network's canonical creation record."""
    return hashlib.sha256(canonical_bytes(TAG_RECORD, creation_record)).hexdigest()
