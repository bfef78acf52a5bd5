"""Payments, holds and reversals: building the transfers the posting function writes.

A payment between accounts of the same collective (or two network accounts)
is two postings in one currency.  Any payment between different collectives
goes through clearing, whatever the currencies — three legs, each balanced in
its own currency, converted exactly at the fixed rates::

    payer's currency:  members:ana            -10   collectives:cubo:clearing      +10
    CARD:              network:clearing:cubo  -10   network:clearing:palafita      +10
    payee's currency:  collectives:palafita:clearing -10   members:caio            +10

The balance of ``network:clearing:<collective>`` is that collective's position.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mutualcredit.domain.authority import RoutePoint, route_postings
from mutualcredit.domain.errors import NotFound, Refused, UsageError
from mutualcredit.domain.names import validate_idempotency_key, validate_text
from mutualcredit.domain.transfers import Posting, TransferDraft
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.posting import (
    AccountClosed,
    AccountNotFound,
    After,
    Before,
    CurrencyMismatch,
    PostResult,
    held_postings,
    post_signed,
    sign,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInfo:
    name: str
    currency: str
    collective: str | None
    owner_kind: str
    owner: str | None
    status: str


class SelfPayment(Refused):
    code = "self_payment"


def resolve_account(ledger: Ledger, reference: str) -> AccountInfo:
    """A handle names the member's account; anything with ``:`` is an account name."""
    name = reference if ":" in reference else f"members:{reference}"
    cached = ledger.cache.get(("account", name))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with ledger.read() as connection:
        row = connection.execute(
            text(
                "SELECT name, currency, collective, owner_kind, owner, status FROM account "
                "WHERE name = :n"
            ),
            {"n": name},
        ).one_or_none()
    if row is None:
        what = "account" if ":" in reference else "member"
        raise AccountNotFound(f"{what} {reference} does not exist", account=name)
    info = AccountInfo(**row._asdict())
    if info.status == "open":  # the posting function checks the status again under the lock
        ledger.cache[("account", name)] = info
    return info


def route(
    ledger: Ledger, payer: AccountInfo, payee: AccountInfo, amount: int
) -> tuple[Posting, ...]:
    """The postings of a payment of ``amount`` (payer's currency) from ``payer`` to ``payee``:
    :func:`~mutualcredit.domain.authority.route_postings`, the one form of a route that the
    posting function and ``verify`` accept."""
    for account in (payer, payee):
        if account.status != "open":
            raise AccountClosed(f"account {account.name} is closed", account=account.name)
    if payer.collective == payee.collective:
        if payer.currency != payee.currency:
            raise CurrencyMismatch(
                f"{payee.name} is in {payee.currency} but this payment moves {payer.currency} "
                f"from {payer.name}",
                account=payee.name,
            )
    else:
        for account in (payer, payee):
            _require_currency(
                account,
                ledger.card.code
                if account.collective is None
                else _home_currency(ledger, account.collective),
            )
    postings = route_postings(
        RoutePoint(payer.name, payer.collective, payer.currency),
        RoutePoint(payee.name, payee.collective, payee.currency),
        amount,
        ledger.currencies,
        ledger.card,
    )
    return tuple(
        Posting(account=account, currency=currency, amount=value)
        for account, currency, value in postings
    )


def _home_currency(ledger: Ledger, collective: str) -> str:
    cached = ledger.cache.get(("collective_currency", collective))
    if cached is not None:
        return str(cached)
    with ledger.read() as connection:
        code = connection.execute(
            text("SELECT currency FROM collective WHERE slug = :s"), {"s": collective}
        ).scalar()
    assert code is not None, collective
    ledger.cache[("collective_currency", collective)] = str(code)
    return str(code)


def _require_currency(account: AccountInfo, currency: str) -> None:
    if account.currency != currency:
        raise CurrencyMismatch(
            f"{account.name} is in {account.currency}; payments between collectives go "
            f"through clearing in {currency}",
            account=account.name,
        )


def new_key() -> str:
    return secrets.token_hex(12)


def pay(
    ledger: Ledger,
    signer: Signer,
    *,
    payer: str,
    payee: str,
    amount: int,
    memo: str = "",
    key: str | None = None,
    meta: Mapping[str, Any] | None = None,
    refs: Mapping[str, int] | None = None,
    kind: str = "payment",
    before: Before | None = None,
    after: After | None = None,
) -> PostResult:
    """Pay ``amount`` (minor units of the payer's currency) from ``payer`` to ``payee``."""
    validate_text(memo, what="memo")
    source, target = resolve_account(ledger, payer), resolve_account(ledger, payee)
    if source.name == target.name:
        raise SelfPayment(f"{source.name} cannot pay itself")
    if amount <= 0:
        raise UsageError("amount must be greater than zero", code="invalid_amount")
    draft = TransferDraft(
        network=ledger.network.id,
        kind=kind,
        author=signer.handle,
        key=validate_idempotency_key(key) if key is not None else new_key(),
        postings=route(ledger, source, target, amount),
        created_at=iso(now()),
        memo=memo,
        refs=dict(refs or {}),
        meta={"from": source.name, "to": target.name, **(meta or {})},
    )
    return post_signed(ledger, sign(ledger, draft, signer), before=before, after=after)


# -- holds -----------------------------------------------------------------------------------


def hold(
    ledger: Ledger,
    signer: Signer,
    *,
    payer: str,
    payee: str,
    amount: int,
    expires_at: datetime,
    memo: str = "",
    key: str | None = None,
    meta: Mapping[str, Any] | None = None,
    refs: Mapping[str, int] | None = None,
    at: datetime | None = None,
    before: Before | None = None,
    after: After | None = None,
) -> PostResult:
    """Reserve ``amount`` from ``payer`` for ``payee`` until posted, voided or expired.

    ``at`` is the hold's creation time (default: the clock), as for :func:`resolve_hold`.
    """
    source, target = resolve_account(ledger, payer), resolve_account(ledger, payee)
    if source.name == target.name:
        raise SelfPayment(f"{source.name} cannot pay itself")
    draft = TransferDraft(
        network=ledger.network.id,
        kind="hold",
        author=signer.handle,
        key=validate_idempotency_key(key) if key is not None else new_key(),
        postings=route(ledger, source, target, amount),
        created_at=iso(at or now()),
        memo=memo,
        refs=dict(refs or {}),
        meta={"from": source.name, "to": target.name, **(meta or {})},
        expires_at=iso(expires_at),
    )
    return post_signed(ledger, sign(ledger, draft, signer), before=before, after=after)


def transfer_row(
    ledger: Ledger,
    transfer_id: int,  # type: ignore[no-untyped-def]
    connection: Connection | None = None,
):
    """The transfer's row, on ``connection`` or a read connection of its own."""
    if connection is None:
        with ledger.read() as own:
            return transfer_row(ledger, transfer_id, own)
    row = connection.execute(
        text("SELECT * FROM transfer WHERE id = :i"), {"i": transfer_id}
    ).one_or_none()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist", code="transfer_not_found")
    return row


def postings_of(
    ledger: Ledger, transfer_id: int, connection: Connection | None = None
) -> tuple[Posting, ...]:
    """The transfer's posting rows, on ``connection`` or a read connection of its own."""
    if connection is None:
        with ledger.read() as own:
            return postings_of(ledger, transfer_id, own)
    rows = connection.execute(
        text(
            "SELECT a.name, p.currency, p.amount FROM posting p JOIN account a "
            "ON a.id = p.account_id WHERE p.transfer_id = :i ORDER BY p.id"
        ),
        {"i": transfer_id},
    )
    return tuple(Posting(account=n, currency=c, amount=int(a)) for n, c, a in rows)


def _held(ledger: Ledger, hold_id: int) -> tuple[Any, tuple[Posting, ...]]:
    row = transfer_row(ledger, hold_id)
    if row.kind != "hold":
        raise NotFound(f"transfer {hold_id} is not a hold", code="hold_not_found")
    return row, held_postings(row.body, ledger)


def resolve_hold(
    ledger: Ledger,
    signer: Signer,
    *,
    hold_id: int,
    action: str,
    amount: int | None = None,
    memo: str = "",
    key: str | None = None,
    at: datetime | None = None,
    meta: Mapping[str, Any] | None = None,
    before: Before | None = None,
    after: After | None = None,
) -> PostResult:
    """Post (in full, or ``amount`` of the payer's side), void or expire a hold, once."""
    assert action in ("post", "void", "expire"), action
    row, held = _held(ledger, hold_id)
    postings: tuple[Posting, ...] = ()
    if action == "post":
        postings = held if amount is None else scale_postings(ledger, held, amount, hold_id)
    draft = TransferDraft(
        network=ledger.network.id,
        kind=f"{action}_hold",
        author=signer.handle,
        key=validate_idempotency_key(key) if key is not None else f"{action}-hold-{hold_id}",
        postings=postings,
        created_at=iso(at or now()),
        memo=memo,
        refs={"hold": hold_id},
        meta=dict(meta or {}),
    )
    return post_signed(ledger, sign(ledger, draft, signer), before=before, after=after)


def scale_postings(
    ledger: Ledger, held: tuple[Posting, ...], amount: int, hold_id: int
) -> tuple[Posting, ...]:
    """Scale a hold's postings so the first (the payer's debit) moves ``amount``, exactly."""
    base = -held[0].amount
    assert base > 0, held
    if amount <= 0 or amount > base:
        scale = ledger.currencies[held[0].currency].scale
        from mutualcredit.domain.amounts import format_amount

        raise Refused(
            f"hold {hold_id} holds {format_amount(base, scale)} "
            f"{held[0].currency}; cannot post {format_amount(amount, scale)}",
            code="post_exceeds_hold",
            hold=str(hold_id),
            currency=held[0].currency,
            held=format_amount(base, scale),
            amount=format_amount(amount, scale),
        )
    scaled = []
    for posting in held:
        value, remainder = divmod(posting.amount * amount, base)
        if remainder:
            raise Refused(
                f"posting {amount} of hold {hold_id} does not convert exactly",
                code="inexact_conversion",
            )
        scaled.append(Posting(account=posting.account, currency=posting.currency, amount=value))
    return tuple(scaled)


def expire_holds(ledger: Ledger, signer: Signer, *, at: datetime | None = None) -> list[int]:
    """Expire every pending hold whose expiry is at or before ``at``; return their ids."""
    moment = iso(at or now())
    with ledger.read() as connection:
        ids = [
            int(i)
            for i in connection.execute(
                text(
                    "SELECT id FROM transfer WHERE status = 'pending' AND kind = 'hold' "
                    "AND expires_at <= :at ORDER BY id"
                ),
                {"at": moment},
            ).scalars()
        ]
    expired = []
    for hold_id in ids:
        try:
            resolve_hold(ledger, signer, hold_id=hold_id, action="expire", at=at or now())
        except Refused as error:
            if error.code != "hold_not_pending":  # resolved meanwhile by someone else
                raise
            continue
        expired.append(hold_id)
    return expired


# -- reversals -------------------------------------------------------------------------------


def reverse(
    ledger: Ledger,
    signer: Signer,
    *,
    transfer_id: int,
    reason: str,
    force: bool = False,
    key: str | None = None,
) -> PostResult:
    """Post the exact opposite of a posted transfer, once, by a coordinator or admin."""
    validate_text(reason, what="reason")
    if not reason.strip():
        raise UsageError("a reversal needs a --reason", code="reason_required")
    with ledger.read() as connection:
        original = transfer_row(ledger, transfer_id, connection)
        postings = tuple(
            Posting(account=p.account, currency=p.currency, amount=-p.amount)
            for p in postings_of(ledger, transfer_id, connection)
        )
    if not postings:
        raise Refused(
            f"transfer {transfer_id} ({original.kind}) moves no money to reverse",
            code="not_reversible",
        )
    draft = TransferDraft(
        network=ledger.network.id,
        kind="reversal",
        author=signer.handle,
        key=(
            validate_idempotency_key(key)
            if key is not None
            else _reversal_key(transfer_id, reason, force)
        ),
        postings=postings,
        created_at=iso(now()),
        memo=f"reversal of {transfer_id}: {reason}",
        refs={"reverses": transfer_id},
        meta={"reason": reason, "force": force},
    )
    return post_signed(ledger, sign(ledger, draft, signer))


def _reversal_key(transfer_id: int, reason: str, force: bool) -> str:
    """The default key names the content: a retry of the same reversal returns it, while
    another reversal of the same transfer reaches the ledger's ``already_reversed`` check."""
    digest = hashlib.sha256(f"{force}:{reason}".encode()).hexdigest()[:16]
    return f"reversal-of-{transfer_id}-{digest}"
