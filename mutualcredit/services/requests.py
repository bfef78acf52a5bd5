"""Payment requests: the payee asks, the payer accepts (signing the payment) or declines.

A member who did a job asks to be paid: ``request(payer, payee, amount)``
writes a *signed request* — a record of type ``payment_request`` signed by the
payee, appended to the hash chain — and a ``payment_request`` row that tracks
its status.  Days later, while the payee is offline, the payer

- **accepts**: signs an ordinary payment whose body names the request
  (``refs.request`` = its id, ``meta.request_hash`` = the hash of the signed
  request), posted through the one writer of money, so every ledger check
  applies and the ledger holds both parties' signatures; or
- **declines** with a reason (a signed ``request_declined`` record).

The payee may **withdraw** an open request (a signed ``request_withdrawn``
record).  A request resolves once, in the same transaction as its resolution;
an expired one (``expires_at`` passed) can no longer be accepted, declined or
withdrawn — expiry needs no write, the status is shown as ``expired``.

Who acts for an account: a member account only by its member (not even the
admin: consent is the point); a collective's account by the admin or a
coordinator of that collective; a network account by the admin.  ``AMOUNT``
is in the payer's currency, as for ``pay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.authority import coordinates
from mutualcredit.domain.errors import NotFound, Refused, UsageError
from mutualcredit.domain.names import validate_text
from mutualcredit.domain.transfers import TransferDraft
from mutualcredit.persistence import models_audit
from mutualcredit.persistence.models import core_table
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import roles_of
from mutualcredit.services.payments import AccountInfo, SelfPayment, resolve_account, route
from mutualcredit.services.posting import NotAuthorised, PostResult, post_signed, sign
from mutualcredit.services.records import sign_record, write_record

STATUSES = ("open", "accepted", "declined", "expired", "withdrawn")
REQUEST_RECORD = "payment_request"
DECLINE_RECORD = "request_declined"
WITHDRAW_RECORD = "request_withdrawn"
REQUESTS_LISTED_MAX = 10_000
COLUMNS = (
    "id, record_id, body_hash, author, payer, payee, amount, currency, memo, created_at, "
    "expires_at, status, resolved_at, resolved_by, transfer_id, resolution_record_id, reason"
)


class RequestNotFound(NotFound):
    code = "request_not_found"


class RequestNotOpen(Refused):
    code = "request_not_open"


class RequestExpired(Refused):
    code = "request_expired"


class NotParty(NotAuthorised):
    code = "not_party"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    id: int
    payer: str
    payee: str
    amount: int
    currency: str
    memo: str
    author: str
    created_at: str
    expires_at: str | None
    status: str  # the effective status: "expired" once expires_at has passed while open
    resolved_at: str | None
    resolved_by: str | None
    transfer_id: int | None
    reason: str | None
    body_hash: str


def accept_key(request_id: int) -> str:
    """The idempotency key of the payment that accepts a request: one per request."""
    return f"request-{request_id}"


# -- creating ---------------------------------------------------------------------------------


def create_request(
    ledger: Ledger,
    signer: Signer,
    *,
    payer: str,
    payee: str,
    amount: int,
    memo: str = "",
    expires_in: timedelta | None = None,
    at: datetime | None = None,
) -> Request:
    """The payee (``signer``) asks ``payer`` for ``amount`` (the payer's currency, minor units)."""
    validate_text(memo, what="memo")
    if amount <= 0:
        raise UsageError("amount must be greater than zero", code="invalid_amount")
    source, target = resolve_account(ledger, payer), resolve_account(ledger, payee)
    if source.name == target.name:
        raise SelfPayment(f"{source.name} cannot ask itself for payment")
    route(ledger, source, target, amount)  # refuse now what could never be paid
    moment = at or now()
    created_at = iso(moment)
    expires_at = iso(moment + expires_in) if expires_in is not None else None
    record = sign_record(
        ledger,
        signer,
        REQUEST_RECORD,
        created_at,
        payer=source.name,
        payee=target.name,
        amount=format_amount(amount, ledger.currency(source.currency).scale),
        currency=source.currency,
        memo=memo,
        expires_at=expires_at,
    )

    def work(connection: Connection) -> int:
        _require_party(connection, signer.handle, target, role="payee")
        record_id = write_record(connection, ledger, record)
        table = core_table(models_audit.PaymentRequest)
        return int(
            connection.execute(
                insert(table).returning(table.c.id),
                {
                    "record_id": record_id,
                    "body_hash": record.body_hash,
                    "author": signer.handle,
                    "payer": source.name,
                    "payee": target.name,
                    "amount": amount,
                    "currency": source.currency,
                    "memo": memo,
                    "created_at": created_at,
                    "expires_at": expires_at,
                    "status": "open",
                    "resolved_at": None,
                    "resolved_by": None,
                    "transfer_id": None,
                    "resolution_record_id": None,
                    "reason": None,
                },
            ).scalar_one()
        )

    return get_request(ledger, ledger.write(work))


# -- resolving --------------------------------------------------------------------------------


def accept_request(
    ledger: Ledger, signer: Signer, *, request_id: int, at: datetime | None = None
) -> tuple[Request, PostResult]:
    """The payer signs the payment the request asks for; the request is then accepted."""
    request = get_request(ledger, request_id)
    created_at = iso(at or now())
    _check_open(request, created_at)
    source = resolve_account(ledger, request.payer)
    target = resolve_account(ledger, request.payee)
    draft = TransferDraft(
        network=ledger.network.id,
        kind="payment",
        author=signer.handle,
        key=accept_key(request_id),
        postings=route(ledger, source, target, request.amount),
        created_at=created_at,
        memo=request.memo,
        refs={"request": request_id},
        meta={"from": source.name, "to": target.name, "request_hash": request.body_hash},
    )

    def before(connection: Connection) -> None:
        row = _locked(connection, ledger, request_id)
        _check_open(_request(row, created_at), created_at)
        _require_party(connection, signer.handle, source, role="payer")

    def after(connection: Connection, results: list[PostResult]) -> None:
        updated = connection.execute(
            text(
                "UPDATE payment_request SET status = 'accepted', resolved_at = :at, "
                "resolved_by = :by, transfer_id = :t WHERE id = :i AND status = 'open'"
            ),
            {"at": created_at, "by": signer.handle, "t": results[0].transfer_id, "i": request_id},
        )
        assert updated.rowcount == 1, "the request row was locked and open"

    result = post_signed(ledger, sign(ledger, draft, signer), before=before, after=after)
    return get_request(ledger, request_id), result


def decline_request(
    ledger: Ledger, signer: Signer, *, request_id: int, reason: str, at: datetime | None = None
) -> Request:
    """The payer declines, with a reason (a signed record)."""
    validate_text(reason, what="reason")
    if not reason.strip():
        raise UsageError("declining needs a --reason", code="reason_required")
    return _close(
        ledger,
        signer,
        request_id=request_id,
        record_type=DECLINE_RECORD,
        status="declined",
        party="payer",
        reason=reason,
        at=at,
    )


def withdraw_request(
    ledger: Ledger, signer: Signer, *, request_id: int, at: datetime | None = None
) -> Request:
    """The payee withdraws an open request (a signed record)."""
    return _close(
        ledger,
        signer,
        request_id=request_id,
        record_type=WITHDRAW_RECORD,
        status="withdrawn",
        party="payee",
        reason=None,
        at=at,
    )


def _close(
    ledger: Ledger,
    signer: Signer,
    *,
    request_id: int,
    record_type: str,
    status: str,
    party: str,
    reason: str | None,
    at: datetime | None,
) -> Request:
    request = get_request(ledger, request_id)
    created_at = iso(at or now())
    _check_open(request, created_at)
    fields: dict[str, Any] = {"request": request_id, "request_hash": request.body_hash}
    if reason is not None:
        fields["reason"] = reason
    record = sign_record(ledger, signer, record_type, created_at, **fields)
    account = resolve_account(ledger, request.payer if party == "payer" else request.payee)

    def work(connection: Connection) -> None:
        row = _locked(connection, ledger, request_id)
        _check_open(_request(row, created_at), created_at)
        _require_party(connection, signer.handle, account, role=party)
        record_id = write_record(connection, ledger, record)
        connection.execute(
            text(
                "UPDATE payment_request SET status = :s, resolved_at = :at, resolved_by = :by, "
                "resolution_record_id = :r, reason = :reason WHERE id = :i"
            ),
            {
                "s": status,
                "at": created_at,
                "by": signer.handle,
                "r": record_id,
                "reason": reason,
                "i": request_id,
            },
        )

    ledger.write(work)
    return get_request(ledger, request_id)


def _check_open(request: Request, moment: str) -> None:
    """A resolved request says how it was resolved; an open one may have expired since."""
    if request.status not in ("open", "expired"):
        by = f" (transfer {request.transfer_id})" if request.transfer_id else ""
        raise RequestNotOpen(
            f"request {request.id} is already {request.status}{by}",
            request=request.id,
            status=request.status,
        )
    if request.status == "expired" or (
        request.expires_at is not None and moment >= request.expires_at
    ):
        raise RequestExpired(
            f"request {request.id} expired at {request.expires_at}", request=request.id
        )


def may_act_for(connection: Connection, handle: str, account: AccountInfo) -> bool:
    """A member account: only its member; a collective's: admin or its coordinator."""
    if account.owner_kind == "member":
        return account.owner == handle
    return coordinates(roles_of(connection, handle), account.collective)


def _require_party(connection: Connection, handle: str, account: AccountInfo, *, role: str) -> None:
    if not may_act_for(connection, handle, account):
        who = (
            account.owner
            if account.owner_kind == "member"
            else (
                f"the admin or a coordinator of {account.collective}"
                if account.collective
                else "the admin"
            )
        )
        raise NotParty(
            f"{handle} may not act as the {role} {account.name}; only {who} may",
            account=account.name,
        )


# -- reading ----------------------------------------------------------------------------------


def _locked(connection: Connection, ledger: Ledger, request_id: int) -> Any:
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    row = connection.execute(
        text(f"SELECT {COLUMNS} FROM payment_request WHERE id = :i{lock}"), {"i": request_id}
    ).one_or_none()
    if row is None:
        raise RequestNotFound(f"request {request_id} does not exist")
    return row


def _request(row: Any, moment: str) -> Request:
    status = row.status
    if status == "open" and row.expires_at is not None and moment >= row.expires_at:
        status = "expired"
    return Request(
        id=int(row.id),
        payer=row.payer,
        payee=row.payee,
        amount=int(row.amount),
        currency=row.currency,
        memo=row.memo,
        author=row.author,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=status,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        transfer_id=None if row.transfer_id is None else int(row.transfer_id),
        reason=row.reason,
        body_hash=row.body_hash,
    )


def get_request(ledger: Ledger, request_id: int) -> Request:
    with ledger.read() as connection:
        row = connection.execute(
            text(f"SELECT {COLUMNS} FROM payment_request WHERE id = :i"), {"i": request_id}
        ).one_or_none()
    if row is None:
        raise RequestNotFound(f"request {request_id} does not exist")
    return _request(row, iso(now()))


def list_requests(
    ledger: Ledger, *, reference: str | None = None, status: str | None = None
) -> list[Request]:
    """Requests where ``reference`` (a handle or account) is payer or payee, newest last."""
    if status is not None and status not in STATUSES:
        raise UsageError(
            f"status {status!r} is not one of {', '.join(STATUSES)}", code="invalid_status"
        )
    moment = iso(now())
    where, parameters = [], {"now": moment, "limit": REQUESTS_LISTED_MAX}
    if reference is not None:
        name = resolve_account(ledger, reference).name
        where.append("(payer = :name OR payee = :name)")
        parameters["name"] = name
    open_now = "status = 'open' AND (expires_at IS NULL OR expires_at > :now)"
    if status == "open":
        where.append(open_now)
    elif status == "expired":
        where.append("status = 'open' AND expires_at <= :now")
    elif status is not None:
        where.append("status = :status")
        parameters["status"] = status
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    with ledger.read() as connection:
        rows = connection.execute(
            text(f"SELECT {COLUMNS} FROM payment_request{clause} ORDER BY id LIMIT :limit"),
            parameters,
        )
        return [_request(row, moment) for row in rows]


def request_document(ledger: Ledger, request: Request) -> dict[str, Any]:
    """The JSON form (``schemas/request.schema.json``)."""
    scale = ledger.currency(request.currency).scale
    return {
        "id": request.id,
        "payer": request.payer,
        "payee": request.payee,
        "amount": format_amount(request.amount, scale),
        "currency": request.currency,
        "memo": request.memo,
        "status": request.status,
        "author": request.author,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "resolved_at": request.resolved_at,
        "resolved_by": request.resolved_by,
        "transfer_id": request.transfer_id,
        "reason": request.reason,
        "request_hash": request.body_hash,
    }


# -- demo ---------------------------------------------------------------------------------------


def step_requests(demo: Any) -> None:
    """Demo: one request accepted, one declined, one left open (signers are in memory)."""
    ledger, signers = demo.ledger, demo.signers
    accepted = create_request(
        ledger,
        signers["elis"],
        payer="heitor",
        payee="elis",
        amount=2_500,
        memo="fotos do ensaio (pedido)",
        expires_in=timedelta(days=7),
    )
    accept_request(ledger, signers["heitor"], request_id=accepted.id)
    declined = create_request(
        ledger, signers["iara"], payer="davi", payee="iara", amount=9_000, memo="mixagem (pedido)"
    )
    decline_request(
        ledger, signers["davi"], request_id=declined.id, reason="combinamos 60.00, não 90.00"
    )
    create_request(
        ledger,
        signers["carla"],
        payer="caio",
        payee="carla",
        amount=3_000,
        memo="roadie no festival (pedido)",
        expires_in=timedelta(days=14),
    )
    demo.say(
        "payment requests: elis asked heitor for 25.00 (accepted), iara asked davi "
        "for 90.00 (declined), carla asked caio for 30.00 (open)"
    )
