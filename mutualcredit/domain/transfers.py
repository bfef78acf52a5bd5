"""Transfers: balanced sets of postings, and their signed bodies.

A posting moves a signed integer amount of one currency into (positive, a
credit) or out of (negative, a debit) one account — the sign convention of
hledger and beancount.  A transfer is balanced when, in each currency, its
postings sum to exactly zero.

A transfer's *body* is the document its author signs: network, kind, author,
idempotency key, postings (amounts as decimal strings), memo, references,
metadata and creation time.  Its *content* — what idempotency compares — is the
body without its creation time, so a retry made later with the same key and
the same content is recognised as the same transfer.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from mutualcredit.domain.amounts import AMOUNT_MAX, format_amount
from mutualcredit.domain.canonical import (
    TAG_TRANSFER,
    canonical_bytes,
    canonical_json,
    dumps_sorted,
)
from mutualcredit.domain.canonical import simple as canonical_simple
from mutualcredit.domain.errors import Refused, UsageError
from mutualcredit.domain.names import MEMO_LENGTH_MAX, validate_text

POSTINGS_PER_TRANSFER_MAX = 64
TRANSFERS_PER_BATCH_MAX = 100_000

KINDS = (
    "payment",  # a member or collective pays another
    "hold",  # a pending transfer that reserves amounts (bookings)
    "post_hold",  # posts a hold in full or in part
    "void_hold",  # releases a hold
    "expire_hold",  # releases a hold past its expiry
    "reversal",  # undoes a posted transfer
    "import",  # a row of festival income
    "settlement",  # nets positions between collectives
    "fee",  # a cancellation fee
    "issuance",  # cards issued by a collective's fund
)
# The kinds that resolve a hold, and the status each leaves the hold in: the one map (the
# writer, verify's replay and the invariant checker all read it).
HOLD_RESOLUTION_STATUS = {"post_hold": "posted", "void_hold": "voided", "expire_hold": "expired"}
RESOLUTION_KINDS = tuple(HOLD_RESOLUTION_STATUS)
# What a reversal may undo: a posted transfer that moved money and is not itself an undoing.
IRREVERSIBLE_KINDS = ("hold", "void_hold", "expire_hold", "reversal")


def is_reversible(kind: str, status: str | None) -> bool:
    """The one rule for the writer and verify: may a transfer of ``kind`` in ``status`` be
    reversed?"""
    return kind in KINDS and kind not in IRREVERSIBLE_KINDS and status == "posted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Posting:
    account: str
    currency: str
    amount: int  # signed minor units: negative is a debit, positive a credit


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferDraft:
    """Everything the author signs, before the ledger assigns an id."""

    network: str
    kind: str
    author: str
    key: str  # idempotency key, scoped to the author
    postings: tuple[Posting, ...]
    created_at: str  # ISO 8601 UTC, e.g. 2026-11-27T13:00:00.000000Z
    memo: str = ""
    refs: Mapping[str, int] = field(default_factory=dict)  # reverses, hold, request, booking
    meta: Mapping[str, Any] = field(default_factory=dict)  # hours, reason, force, source, …
    expires_at: str | None = None  # holds only


class Unbalanced(Refused):
    code = "unbalanced"


class MalformedTransfer(UsageError):
    code = "malformed_transfer"


def check_draft(draft: TransferDraft) -> None:
    """The pure checks, in order: kind, shape, amounts, balance per currency, memo."""
    if draft.kind not in KINDS:
        raise MalformedTransfer(f"transfer kind {draft.kind!r} is not one of {', '.join(KINDS)}")
    void_like = draft.kind in ("void_hold", "expire_hold")
    if void_like != (not draft.postings):
        raise MalformedTransfer(f"a {draft.kind} transfer has the wrong number of postings")
    if len(draft.postings) > POSTINGS_PER_TRANSFER_MAX:
        raise MalformedTransfer(
            f"a transfer has at most {POSTINGS_PER_TRANSFER_MAX} postings; "
            f"this one has {len(draft.postings)}"
        )
    seen: set[str] = set()
    for posting in draft.postings:
        amount = posting.amount
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise MalformedTransfer(f"posting amount for {posting.account} is not an integer")
        if amount == 0 or abs(amount) > AMOUNT_MAX:
            raise MalformedTransfer(
                f"posting amount for {posting.account} must be a non-zero integer of at most "
                f"{AMOUNT_MAX} minor units"
            )
        if posting.account in seen:
            raise MalformedTransfer(f"account {posting.account} appears twice in one transfer")
        seen.add(posting.account)
    check_balanced(draft.postings)
    validate_text(draft.memo, what="memo", length_max=MEMO_LENGTH_MAX)


def check_balanced(postings: tuple[Posting, ...]) -> None:
    currency = postings[0].currency if postings else ""
    if all(posting.currency == currency for posting in postings) and not sum(
        posting.amount for posting in postings
    ):
        return  # one currency, balanced: the common case
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting.currency] += posting.amount
    for currency, total in sorted(totals.items()):
        if total != 0:
            raise Unbalanced(
                f"postings in {currency} sum to {total:+d} minor units; each currency must sum "
                "to zero",
                currency=currency,
                total=total,
            )


def body_document(draft: TransferDraft, scales: Mapping[str, int]) -> dict[str, Any]:
    """The signed document: amounts as decimal strings with the currency's scale."""
    document: dict[str, Any] = {
        "network": draft.network,
        "kind": draft.kind,
        "author": draft.author,
        "key": draft.key,
        "postings": [
            {
                "account": posting.account,
                "currency": posting.currency,
                "amount": format_amount(posting.amount, scales[posting.currency]),
            }
            for posting in draft.postings
        ],
        "memo": draft.memo,
        "refs": dict(draft.refs),
        "meta": dict(draft.meta),
        "created_at": draft.created_at,
    }
    if draft.expires_at is not None:
        document["expires_at"] = draft.expires_at
    return document


def body_bytes(document: Mapping[str, Any]) -> bytes:
    return canonical_bytes(TAG_TRANSFER, document)


def signed_forms(document: Mapping[str, Any]) -> tuple[bytes, str]:
    """:func:`body_bytes` and :func:`content_hash` of a document made by :func:`body_document`.

    The batch path signs a million bodies in a large import, so this checks
    the document for the canonical fast path once, knowing its shape, and
    derives the content's bytes from the body's: with keys sorted,
    ``created_at`` is always the second member, followed by a comma, and
    removing it gives exactly the canonical bytes of the content.
    """
    if not _body_simple(document):
        return body_bytes(document), content_hash(document)
    body_json = dumps_sorted(document).encode("utf-8")
    content_json = content_of(body_json, document["created_at"])
    assert content_json is not None, "created_at not found"
    return TAG_TRANSFER + b"\n" + body_json, hashlib.sha256(content_json).hexdigest()


def content_of(body_json: bytes, created_at: str) -> bytes | None:
    """The canonical bytes of a body's content, cut from the body's canonical bytes.

    With keys sorted, ``created_at`` is the second member, always followed by a
    comma; removing it gives exactly the content's canonical bytes.  None when
    the member is not there as the canonical form writes it.
    """
    member = b'"created_at":' + encode_basestring_ascii(created_at).encode() + b","
    content = body_json.replace(member, b"", 1)
    return content if len(content) == len(body_json) - len(member) else None


_BODY_KEYS = frozenset(
    (
        "network",
        "kind",
        "author",
        "key",
        "postings",
        "memo",
        "refs",
        "meta",
        "created_at",
        "expires_at",
    )
)


def _body_simple(document: Mapping[str, Any]) -> bool:
    try:
        texts = [
            document["network"],
            document["kind"],
            document["author"],
            document["key"],
            document["memo"],
            document["created_at"],
            document.get("expires_at") or "",
        ]
        for posting in document["postings"]:
            texts += (posting["account"], posting["currency"], posting["amount"])
        joined = "".join(texts)
    except (TypeError, KeyError):
        return False
    refs = document["refs"]
    return (
        type(document) is dict
        and document.keys() <= _BODY_KEYS
        and document["created_at"].isascii()
        and (joined.isascii() or canonical_simple(joined))
        and (not refs or canonical_simple(refs))
        and canonical_simple(document["meta"])
    )


def content_hash(document: Mapping[str, Any]) -> str:
    """What idempotency compares: the body without its creation time."""
    content = {key: value for key, value in document.items() if key != "created_at"}
    return hashlib.sha256(canonical_json(content)).hexdigest()


def batch_bytes(*, network: str, author: str, body_hashes: list[str]) -> bytes:
    """What one batch signature covers: every transfer's body hash, in order."""
    from mutualcredit.domain.canonical import TAG_BATCH

    return canonical_bytes(
        TAG_BATCH, {"network": network, "author": author, "transfers": body_hashes}
    )
