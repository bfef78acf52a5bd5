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
import json

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
    # Two ASCII words and a small integer: json.dumps gives the RFC 8785 bytes, and this
    # runs once per transfer written, so the general canonical check is skipped.
    document = {"body_hash": body_hash, "seq": seq, "type": type}
    return TAG_EVENT + b"\n" + json.dumps(document, separators=(",", ":")).encode("ascii")


def event_hash(*, seq: int, type: str, body_hash: str) -> str:
    return hashlib.sha256(event_bytes(seq=seq, type=type, body_hash=body_hash)).hexdigest()


def next_chain_hash(previous_chain_hash: str, this_event_hash: str) -> str:
    return hashlib.sha256(
        bytes.fromhex(previous_chain_hash) + bytes.fromhex(this_event_hash)
    ).hexdigest()


def genesis_hash(creation_record: dict[str, object]) -> str:
    """The chain's starting hash: SHA-256 of the network's canonical creation record."""
    return hashlib.sha256(canonical_bytes(TAG_RECORD, creation_record)).hexdigest()
