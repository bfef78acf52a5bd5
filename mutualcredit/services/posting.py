"""The one writer of money.

Every transfer — payment, booking hold and its resolution, import row,
settlement, fee, reversal — reaches the ledger through :func:`post_signed`.
Signatures are made and checked *before* the write lock; inside one database
transaction it then validates, in this fixed order, with these stable codes:

1. ``malformed_transfer`` / ``unbalanced`` — pure checks of the draft (kind,
   postings non-zero integers, each currency sums to zero, memo).
2. ``signature_invalid``, ``key_unknown``, ``key_revoked`` — the signature
   verifies against the author's active key (checked before the lock; the key's
   status again inside it).
3. ``idempotency_conflict`` — the author's key was used before: with the same
   content the original transfer is returned and nothing is written; with
   different content the write is refused.  (This comes before the account and
   limit checks on purpose: a retry must return the original even when the
   accounts have moved or closed since.)
4. ``account_not_found`` (exit 4), ``account_closed``, ``currency_mismatch``.
5. ``not_authorised`` — the author may move money out of every debited account;
   ``positions_unbalanced`` — the transfer's ``network:clearing:*`` postings sum to
   zero, so the collectives' positions still do (the admin's transfers too).
6. ``hold_not_pending``, ``hold_not_expired``, ``already_reversed``, … — the
   references of the kind (hold resolutions, reversals) hold.
7. ``limit_lower_exceeded`` / ``limit_upper_exceeded`` — pending debits count
   against the lower limit, pending credits against the upper.

Then it writes the transfer, its postings, the cached totals and the chain
event, all in the same transaction.  Batches (imports, settlements) are many
drafts covered by one signature over their body hashes; the same checks apply
to each, and the batch is written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import AMOUNT_MAX, format_amount
from mutualcredit.domain.authority import (
    Denial,
    Issuance,
    Leg,
    OwnedAccount,
    may_resolve,
    parse_issuance,
    reverses_exactly,
    scaled_exactly,
    transfer_denial,
)
from mutualcredit.domain.errors import IntegrityProblem, NotFound, Refused, UsageError
from mutualcredit.domain.limits import AccountState, check_limits, check_total
from mutualcredit.domain.transfers import (
    HOLD_RESOLUTION_STATUS,
    RESOLUTION_KINDS,
    TRANSFERS_PER_BATCH_MAX,
    Posting,
    TransferDraft,
    batch_bytes,
    body_document,
    check_draft,
    is_reversible,
    signed_forms,
)
from mutualcredit.persistence.bulk import (
    bulk_insert,
    driver_batch,
    driver_many,
    driver_rows,
    placeholders,
)
from mutualcredit.services.chain import (
    GUARD_HOLDS,
    EventSeq,
    Sql,
    allocate_ids,
    append_events,
    append_statement,
    lock_head,
)
from mutualcredit.services.context import Ledger, at_commit, run_statement
from mutualcredit.services.keys import Signer, verify_signature

ACCOUNT_COLUMNS = (
    "id, name, currency, owner_kind, owner, collective, kind, limit_lower, limit_upper, "
    "posted_debits, posted_credits, pending_debits, pending_credits, status"
)


class SignatureInvalid(IntegrityProblem):
    code = "signature_invalid"
    exit_code = Refused.exit_code


class KeyUnknown(Refused):
    code = "key_unknown"


class KeyRevoked(Refused):
    code = "key_revoked"


class IdempotencyConflict(Refused):
    code = "idempotency_conflict"


class AccountNotFound(NotFound):
    code = "account_not_found"


class AccountClosed(Refused):
    code = "account_closed"


class CurrencyMismatch(Refused):
    code = "currency_mismatch"


class NotAuthorised(Refused):
    code = "not_authorised"


class PositionsUnbalanced(Refused):
    code = "positions_unbalanced"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedTransfer:
    draft: TransferDraft
    body: bytes
    body_hash: str
    content_hash: str
    public_key: str
    signature: str | None  # None inside a batch


@dataclass(frozen=True, slots=True, kw_only=True)
class PostResult:
    transfer_id: int
    replayed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSignature:
    kind: str
    author: str
    public_key: str
    signature: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AccountFacts:
    """What never changes in an account row (cached by :func:`account_facts`); its status,
    limits and totals do, and are read under the lock."""

    id: int
    name: str
    currency: str
    owner_kind: str
    owner: str | None
    collective: str | None
    kind: str


@dataclass(slots=True)
class _Account(AccountFacts):
    """An account row loaded inside the write transaction; totals change in memory."""

    limit_lower: int | None
    limit_upper: int | None
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    status: str
    dirty: bool = False

    def state(self, scale: int) -> AccountState:
        return AccountState(
            name=self.name,
            currency=self.currency,
            scale=scale,
            balance=self.posted_credits - self.posted_debits,
            pending_debits=self.pending_debits,
            pending_credits=self.pending_credits,
            limit_lower=self.limit_lower,
            limit_upper=self.limit_upper,
        )


def sign(
    ledger: Ledger, draft: TransferDraft, signer: Signer, *, in_batch: bool = False
) -> SignedTransfer:
    """Build the canonical body of ``draft`` and sign it (unless a batch signature covers it)."""
    assert draft.author == signer.handle, (draft.author, signer.handle)
    assert draft.network == ledger.network.id
    check_draft(draft)
    try:
        document = body_document(draft, ledger.scales())
    except KeyError as error:
        raise NotFound(
            f"currency {error.args[0]} does not exist", code="currency_not_found"
        ) from None
    body, content = signed_forms(document)
    return SignedTransfer(
        draft=draft,
        body=body,
        body_hash=hashlib.sha256(body).hexdigest(),
        content_hash=content,
        public_key=signer.public_key,
        signature=None if in_batch else signer.sign(body),
    )


Before = Callable[[Connection], None]
After = Callable[[Connection, list["PostResult"]], None]


def post_signed(
    ledger: Ledger,
    signed: SignedTransfer,
    *,
    before: Before | None = None,
    after: After | None = None,
) -> PostResult:
    """Post one signed transfer: validate, then write atomically.  The only single writer.

    ``before`` runs inside the write transaction ahead of validation (e.g. a
    booking's overlap check, under the same lock); ``after`` runs once the
    transfer is written, in the same transaction (e.g. the booking row).  If
    either raises, nothing is written.
    """
    check_draft(signed.draft)
    assert signed.signature is not None, "a lone transfer carries its own signature"
    if not verify_signature(signed.public_key, signed.signature, signed.body):
        raise SignatureInvalid(f"the signature of {signed.draft.author} does not verify")
    if before is None and after is None and ONE_STATEMENT and ledger.is_postgres:
        written = _post_one_statement(ledger, signed)
        if written is not None:
            return written
    return ledger.write(
        lambda connection: _post_hooked(connection, ledger, [signed], None, before, after)
    )[0]


def _post_hooked(
    connection: Connection,
    ledger: Ledger,
    items: Sequence[SignedTransfer],
    batch: BatchSignature | None,
    before: Before | None,
    after: After | None,
    *,
    own_transaction: bool = True,
) -> list[PostResult]:
    if before is not None:
        before(connection)
    # With no ``after`` nothing follows the writer's statements in a transaction of their
    # own (run_write's): the last one may go with the COMMIT (the chain head is then never
    # held across a round trip).  In the caller's transaction, everything runs now.
    results = _post_all(connection, ledger, items, batch, final=own_transaction and after is None)
    if after is not None:
        after(connection, results)
    return results


def post_batch(
    ledger: Ledger,
    drafts: Sequence[TransferDraft],
    signer: Signer,
    *,
    kind: str,
    meta: Mapping[str, Any] | None = None,
    before: Before | None = None,
    after: After | None = None,
) -> list[PostResult]:
    """Post many transfers under one signature over their body hashes, all or nothing.

    ``before`` and ``after`` run inside the same transaction, as for :func:`post_signed`.
    """
    if len(drafts) > TRANSFERS_PER_BATCH_MAX:
        raise UsageError(f"a batch holds at most {TRANSFERS_PER_BATCH_MAX} transfers")
    return post_signed_batch(
        ledger,
        [sign(ledger, draft, signer, in_batch=True) for draft in drafts],
        signer,
        kind=kind,
        meta=meta,
        before=before,
        after=after,
    )


def post_signed_batch(
    ledger: Ledger,
    items: Sequence[SignedTransfer],
    signer: Signer,
    *,
    kind: str,
    meta: Mapping[str, Any] | None = None,
    before: Before | None = None,
    after: After | None = None,
    connection: Connection | None = None,
) -> list[PostResult]:
    """:func:`post_batch` for drafts already given their bodies by :func:`sign` (``in_batch``).

    A large import builds the bodies in a second process while it still reads
    the file; the batch signature, every check and the write happen here.
    Each body must still hash to its ``body_hash``: that hash is what the
    batch signature covers.

    With ``connection`` the batch is written in the caller's write transaction
    (a streamed import posts many batches in one, committed or rolled back as
    a whole); otherwise in a transaction of its own, retried as every write is.
    """
    if not items:
        return []
    if len(items) > TRANSFERS_PER_BATCH_MAX:
        raise UsageError(f"a batch holds at most {TRANSFERS_PER_BATCH_MAX} transfers")
    for item in items:
        assert item.signature is None and item.public_key == signer.public_key
        assert item.draft.author == signer.handle and item.draft.network == ledger.network.id
        if hashlib.sha256(item.body).hexdigest() != item.body_hash:
            raise IntegrityProblem(
                f"the body of transfer {item.draft.key!r} does not match its hash",
                code="body_hash_mismatch",
            )
    message = batch_bytes(
        network=ledger.network.id,
        author=signer.handle,
        body_hashes=[item.body_hash for item in items],
    )
    batch = BatchSignature(
        kind=kind,
        author=signer.handle,
        public_key=signer.public_key,
        signature=signer.sign(message),
        meta=dict(meta or {}),
    )
    if not verify_signature(batch.public_key, batch.signature, message):
        raise SignatureInvalid("the batch signature does not verify")
    if connection is not None:
        return _post_hooked(connection, ledger, items, batch, before, after, own_transaction=False)
    return ledger.write(
        lambda connection: _post_hooked(connection, ledger, items, batch, before, after)
    )


def _post_all(
    connection: Connection,
    ledger: Ledger,
    items: Sequence[SignedTransfer],
    batch: BatchSignature | None,
    *,
    final: bool = False,
) -> list[PostResult]:
    """Validate and write ``items``; ``final``: nothing else runs in this transaction after.

    The reads before validation — the authors' keys, the idempotency keys, and (unless
    holds are resolved, which are locked first) the accounts, locked in id order — go
    to the server together (:func:`driver_batch`, one round trip on PostgreSQL); they
    are then checked in the order the module docstring gives.
    """
    authors = {item.draft.author for item in items}
    signers = sorted({(item.draft.author, item.public_key) for item in items})
    statements: list[tuple[str, Sequence[Any]]] = [
        ("SELECT id, handle, revoked_at FROM key WHERE public_key = ?", (public_key,))
        for _, public_key in signers
    ]
    lookups = _existing_statements(items)
    statements += lookups
    names = None if any(_resolves_hold(item) for item in items) else _account_names(items)
    if names is not None:
        statements += account_statements(ledger, names)
    results = driver_batch(connection, statements)
    keys = {
        author: _active_key(rows, author, public_key)
        for (author, public_key), rows in zip(signers, results, strict=False)
    }
    assert len(keys) == len(authors)
    rest = results[len(signers) :]
    existing = {
        (str(parameters[0]), key): (int(transfer_id), stored_hash)
        for (_, parameters), rows in zip(lookups, rest, strict=False)
        for transfer_id, key, stored_hash in rows
    }
    rest = rest[len(lookups) :]
    # Missing accounts are refused by the writer, for fresh transfers only: a replay (or an
    # idempotency conflict) answers first, as when the accounts were loaded there.
    prefetched = (
        {row[1]: _Account(*row) for rows in rest for row in rows} if names is not None else None
    )
    results_by_index: list[PostResult | None] = [None] * len(items)
    fresh: list[int] = []
    seen_keys: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        found = existing.get((item.draft.author, item.draft.key))
        if found is None:
            duplicate = seen_keys.setdefault((item.draft.author, item.draft.key), index)
            if duplicate != index:
                raise IdempotencyConflict(
                    f"idempotency key {item.draft.key!r} appears twice in one batch"
                )
            fresh.append(index)
            continue
        transfer_id, stored_hash = found
        if stored_hash != item.content_hash:
            raise IdempotencyConflict(
                f"idempotency key {item.draft.key!r} of {item.draft.author} was already used "
                f"for transfer {transfer_id} with different content",
                transfer_id=transfer_id,
            )
        results_by_index[index] = PostResult(transfer_id=transfer_id, replayed=True)
    if fresh:
        writer = _Writer(
            connection,
            ledger,
            [items[i] for i in fresh],
            keys,
            batch,
            accounts=prefetched,
            final=final,
        )
        for index, transfer_id in zip(fresh, writer.run(), strict=True):
            results_by_index[index] = PostResult(transfer_id=transfer_id, replayed=False)
    return [result for result in results_by_index if result is not None]


def _resolves_hold(item: SignedTransfer) -> bool:
    return "hold" in item.draft.refs and item.draft.kind in RESOLUTION_KINDS


def _account_names(items: Sequence[SignedTransfer]) -> list[str]:
    return sorted({p.account for item in items for p in item.draft.postings})


def _active_key(rows: Sequence[tuple[Any, ...]], author: str, public_key: str) -> int:
    if not rows or rows[0][1] != author:
        raise KeyUnknown(f"the key that signed is not a key of {author} in this ledger")
    key_id, _handle, revoked_at = rows[0]
    if revoked_at is not None:
        raise KeyRevoked(f"the key of {author} that signed was revoked at {revoked_at}")
    return int(key_id)


def _existing_statements(items: Sequence[SignedTransfer]) -> list[tuple[str, Sequence[Any]]]:
    """Look-ups of the items' idempotency keys (the author is each one's first parameter)."""
    by_author: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_author[item.draft.author].append(item.draft.key)
    statements: list[tuple[str, Sequence[Any]]] = []
    for author, keys in by_author.items():
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            statements.append(
                (
                    "SELECT id, idempotency_key, content_hash FROM transfer WHERE "
                    f"author = ? AND idempotency_key IN ({placeholders(len(chunk))})",
                    (author, *chunk),
                )
            )
    return statements


def account_statements(ledger: Ledger, names: Sequence[str]) -> list[tuple[str, Sequence[Any]]]:
    """Statements that load (and on PostgreSQL lock, in id order) the accounts ``names``."""
    lock = " ORDER BY id FOR UPDATE" if ledger.is_postgres else ""
    return [
        (
            f"SELECT {ACCOUNT_COLUMNS} FROM account WHERE name "
            f"IN ({placeholders(len(names[start : start + 500]))}){lock}",
            names[start : start + 500],
        )
        for start in range(0, len(names), 500)
    ]


def require_accounts(accounts: dict[str, _Account], names: Iterable[str]) -> dict[str, _Account]:
    """``accounts``, refusing the first of ``names`` (in order) that is not among them."""
    for name in sorted(set(names)):
        if name not in accounts:
            raise AccountNotFound(f"account {name} does not exist", account=name)
    return accounts


def load_accounts(
    connection: Connection, ledger: Ledger, names: Iterable[str]
) -> dict[str, _Account]:
    """Load (and on PostgreSQL lock, in id order) the named accounts."""
    wanted = sorted(set(names))
    return require_accounts(
        {
            row[1]: _Account(*row)
            for sql, parameters in account_statements(ledger, wanted)
            for row in driver_rows(connection, sql, parameters)
        },
        wanted,
    )


class _Writer:
    """Validates fresh transfers against the locked state, then writes them in bulk."""

    def __init__(
        self,
        connection: Connection,
        ledger: Ledger,
        items: Sequence[SignedTransfer],
        keys: Mapping[str, int],
        batch: BatchSignature | None,
        *,
        accounts: dict[str, _Account] | None = None,
        final: bool = False,
    ) -> None:
        self.connection = connection
        self.ledger = ledger
        self.items = items
        self.keys = keys
        self.batch = batch
        self.roles: dict[str, list[tuple[str, str | None]]] = {}
        self.issuances: dict[str, Issuance | None] = {}
        self.holds: dict[int, Any] = {}
        self.resolved_holds: list[tuple[int, str, str]] = []
        self.prefetched = accounts  # loaded and locked with the key look-ups
        self.final = final  # nothing follows in the transaction: write with the COMMIT

    def run(self) -> list[int]:
        if self.prefetched is not None:
            self.accounts = require_accounts(
                self.prefetched, (p.account for item in self.items for p in item.draft.postings)
            )
        else:
            names = {p.account for item in self.items for p in item.draft.postings}
            self.holds = self._load_holds()
            for hold in self.holds.values():
                names.update(posting["account"] for posting in json.loads(hold.body)["postings"])
            self.accounts = load_accounts(self.connection, self.ledger, names)
        statuses: list[str] = []
        for item in self.items:
            statuses.append(self._apply(item))
        return self._write(statuses)

    # -- validation -------------------------------------------------------------------------

    def _apply(self, item: SignedTransfer) -> str:
        draft = item.draft
        for posting in draft.postings:
            account = self.accounts[posting.account]
            if account.status != "open":
                raise AccountClosed(f"account {account.name} is closed", account=account.name)
            if account.currency != posting.currency:
                raise CurrencyMismatch(
                    f"account {account.name} is in {account.currency}, not {posting.currency}",
                    account=account.name,
                )
        if draft.kind in RESOLUTION_KINDS:
            return self._resolve_hold(draft)
        self._authorise(draft)
        check_positions(draft, self.accounts, self.ledger)
        if draft.kind == "reversal":
            self._check_reversal(draft)
        pending = draft.kind == "hold"
        if pending and not draft.expires_at:
            raise UsageError("a hold needs an expiry time", code="malformed_transfer")
        force = draft.kind == "reversal" and bool(draft.meta.get("force"))
        for posting in draft.postings:
            account = self.accounts[posting.account]
            amount = posting.amount
            # Only the side that moves can be crossed; most import accounts have no limit there.
            limited = account.limit_lower if amount < 0 else account.limit_upper
            if not force and limited is not None:
                check_limits(
                    account.state(self.ledger.currencies[account.currency].scale), amount=amount
                )
            _move(account, amount, pending=pending)
        return "pending" if pending else "posted"

    def _authorise(self, draft: TransferDraft) -> None:
        """The one authority rule (:func:`~mutualcredit.domain.authority.transfer_denial`),
        first with no roles, so the author's roles are read only when they decide."""
        denial = transfer_denial_of(
            draft, self.accounts, self.ledger, (), lambda collective: self._issuance(collective)
        )
        if denial is not None:
            denial = transfer_denial_of(
                draft, self.accounts, self.ledger, self._roles(draft.author), self._issuance
            )
        if denial is not None:
            raise NotAuthorised(denial.message, account=denial.account)

    def _issuance(self, collective: str) -> Issuance | None:
        if collective not in self.issuances:
            self.issuances[collective] = issuance_record(self.connection, collective)
        return self.issuances[collective]

    def _roles(self, author: str) -> list[tuple[str, str | None]]:
        if author not in self.roles:
            rows = driver_rows(
                self.connection,
                "SELECT role, collective FROM role WHERE handle = ? AND revoked_at IS NULL",
                (author,),
            )
            self.roles[author] = [(role, collective) for role, collective in rows]
        return self.roles[author]

    def _check_reversal(self, draft: TransferDraft) -> None:
        original_id = draft.refs.get("reverses")
        assert original_id is not None, "a reversal names what it reverses"
        row = self.connection.execute(
            text("SELECT id, kind, status FROM transfer WHERE id = :id"), {"id": original_id}
        ).one_or_none()
        if row is None:
            raise NotFound(f"transfer {original_id} does not exist", code="transfer_not_found")
        if not is_reversible(row.kind, row.status):
            raise Refused(
                f"transfer {original_id} ({row.kind}, {row.status}) cannot be reversed",
                code="not_reversible",
            )
        already = self.connection.execute(
            text("SELECT id FROM transfer WHERE reverses_id = :id"), {"id": original_id}
        ).scalar()
        if already is not None or any(
            other.draft.refs.get("reverses") == original_id and other.draft is not draft
            for other in self.items
        ):
            raise Refused(
                f"transfer {original_id} was already reversed by transfer {already}",
                code="already_reversed",
                reversal_id=already,
            )
        original = driver_rows(
            self.connection,
            "SELECT a.name, p.currency, p.amount FROM posting "
            "p JOIN account a ON a.id = p.account_id WHERE p.transfer_id = ?",
            (original_id,),
        )
        if not reverses_exactly(
            [(n, c, int(a)) for n, c, a in original],
            [(p.account, p.currency, p.amount) for p in draft.postings],
        ):
            raise Refused(
                f"a reversal of transfer {original_id} must move exactly the opposite "
                "of its postings",
                code="reversal_mismatch",
            )

    # -- holds ------------------------------------------------------------------------------

    def _load_holds(self) -> dict[int, Any]:
        ids = [
            item.draft.refs["hold"]
            for item in self.items
            if "hold" in item.draft.refs and item.draft.kind in RESOLUTION_KINDS
        ]
        if not ids:
            return {}
        # Holds are locked in id order, before the accounts (whose order is also by id):
        # every writer takes its locks in the same order, so writers wait, never deadlock.
        lock = " ORDER BY id FOR UPDATE" if self.ledger.is_postgres else ""
        statement = text(
            "SELECT id, kind, status, author, body, expires_at FROM transfer WHERE id IN :ids"
            + lock
        ).bindparams(bindparam("ids", expanding=True))
        return {row.id: row for row in self.connection.execute(statement, {"ids": ids})}

    def _resolve_hold(self, draft: TransferDraft) -> str:
        hold_id = draft.refs.get("hold")
        hold = self.holds.get(hold_id) if hold_id is not None else None
        if hold is None or hold.kind != "hold":
            raise NotFound(f"hold {hold_id} does not exist", code="hold_not_found")
        if hold.status != "pending" or any(h == hold_id for h, _, _ in self.resolved_holds):
            raise Refused(
                f"hold {hold_id} is already {hold.status}",
                code="hold_not_pending",
                status=hold.status,
            )
        held = _held_postings(hold.body, self.ledger)
        if draft.kind == "expire_hold" and (
            hold.expires_at is None or draft.created_at < hold.expires_at
        ):
            raise Refused(
                f"hold {hold_id} expires at {hold.expires_at}, not yet", code="hold_not_expired"
            )
        self._authorise_resolution(draft, hold, held)
        for account_name, amount in held.items():
            _release(self.accounts[account_name], amount)
        assert hold_id is not None
        if draft.kind == "post_hold":
            self._check_post_amounts(draft, held, hold_id)
            for posting in draft.postings:
                _move(self.accounts[posting.account], posting.amount, pending=False)
        self.resolved_holds.append((hold_id, HOLD_RESOLUTION_STATUS[draft.kind], draft.created_at))
        return "posted"

    def _authorise_resolution(
        self, draft: TransferDraft, hold: Any, held: Mapping[str, int]
    ) -> None:
        credited = [self.accounts[name] for name, amount in held.items() if amount > 0]
        author = draft.author
        needs_roles = draft.kind != "expire_hold" and author != hold.author
        if not may_resolve(
            draft.kind, author, hold.author, credited, self._roles(author) if needs_roles else ()
        ):
            raise NotAuthorised(
                f"{author} may not {draft.kind.replace('_hold', '')} hold {hold.id}"
            )

    def _check_post_amounts(
        self, draft: TransferDraft, held: Mapping[str, int], hold_id: int
    ) -> None:
        if not scaled_exactly(
            [(name, self.accounts[name].currency, amount) for name, amount in held.items()],
            [(p.account, p.currency, p.amount) for p in draft.postings],
        ):
            raise Refused(
                f"posting hold {hold_id} must move every one of its postings in the "
                "same proportion, at most what it holds",
                code="post_exceeds_hold",
            )

    # -- writing ----------------------------------------------------------------------------

    def _write(self, statuses: Sequence[str]) -> list[int]:
        """Write transfers, postings, totals and chain events in bulk.

        Transfer ids and event sequence numbers are allocated first (under the
        write lock), so each table is written with one executemany and no row
        is updated afterwards: this is what lets an import post tens of
        thousands of transfers a second.
        """
        if self.ledger.is_postgres and len(self.items) <= COMBINED_TRANSFERS_MAX:
            return self._write_combined(statuses)
        connection = self.connection
        batch_id = self._write_batch()
        ids = allocate_ids(connection, self.ledger, "transfer", len(self.items))
        head = lock_head(connection, self.ledger)
        first_seq = head[0] + 1
        rows = [
            transfer_row(
                item, status, batch_id, transfer_id, first_seq + index, self.keys[item.draft.author]
            )
            for index, (item, status, transfer_id) in enumerate(
                zip(self.items, statuses, ids, strict=True)
            )
        ]
        bulk_insert(connection, "transfer", TRANSFER_COLUMNS, rows)
        del rows
        accounts = self.accounts
        postings = [
            (transfer_id, accounts[p.account].id, p.currency, p.amount)
            for transfer_id, item in zip(ids, self.items, strict=True)
            for p in item.draft.postings
        ]
        bulk_insert(
            connection, "posting", ("transfer_id", "account_id", "currency", "amount"), postings
        )
        del postings
        self._write_totals()
        for hold_id, status, resolved_at in self.resolved_holds:
            connection.execute(
                text(
                    "UPDATE transfer SET status = :status, resolved_at = :at "
                    "WHERE id = :id AND status = 'pending'"
                ),
                {"status": status, "at": resolved_at, "id": hold_id},
            )
        seqs = append_events(
            connection,
            self.ledger,
            [
                (_event_type(item), transfer_id, item.body_hash, item.draft.created_at)
                for transfer_id, item in zip(ids, self.items, strict=True)
            ],
            head=head,
        )
        assert seqs[:1] == [first_seq][: len(seqs)], (seqs[:1], first_seq)
        return ids

    def _write_combined(self, statuses: Sequence[str]) -> list[int]:
        """PostgreSQL, a few transfers (payments, holds, reversals): the same rows as
        :meth:`_write`, in ONE statement that also locks the chain head, computes the
        events' hashes on the server (:func:`chain.append_statement`) and updates the
        account totals.  When the write is ``final`` that statement goes with the COMMIT
        (:func:`context.at_commit`): the head is held while the server executes it and
        flushes, never across a round trip to this process."""
        connection = self.connection
        batch_id = self._write_batch()
        # Drawn after validation, so a refused or replayed transfer uses no id (the ids
        # then match SQLite's); not inside the last statement, whose answer comes only
        # with the COMMIT.
        ids = allocate_ids(connection, self.ledger, "transfer", len(self.items))
        for hold_id, status, resolved_at in self.resolved_holds:
            connection.execute(
                text(
                    "UPDATE transfer SET status = :status, resolved_at = :at "
                    "WHERE id = :id AND status = 'pending'"
                ),
                {"status": status, "at": resolved_at, "id": hold_id},
            )
        accounts = self.accounts
        transfers = [
            transfer_row(
                item, status, batch_id, transfer_id, EventSeq(number), self.keys[item.draft.author]
            )
            for number, (item, status, transfer_id) in enumerate(
                zip(self.items, statuses, ids, strict=True), start=1
            )
        ]
        postings = [
            (transfer_id, accounts[p.account].id, p.currency, p.amount)
            for transfer_id, item in zip(ids, self.items, strict=True)
            for p in item.draft.postings
        ]
        changed = [account for account in accounts.values() if account.dirty]
        totals = (
            [
                (
                    "UPDATE account SET posted_debits = v.posted_debits, posted_credits = "
                    "v.posted_credits, pending_debits = v.pending_debits, pending_credits = "
                    "v.pending_credits FROM (VALUES "
                    + ", ".join(
                        ["(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint)"]
                        * len(changed)
                    )
                    + ") AS v (id, posted_debits, posted_credits, pending_debits, pending_credits) "
                    "WHERE account.id = v.id",
                    [
                        value
                        for a in changed
                        for value in (
                            a.id,
                            a.posted_debits,
                            a.posted_credits,
                            a.pending_debits,
                            a.pending_credits,
                        )
                    ],
                )
            ]
            if changed
            else []
        )
        statement, parameters = append_statement(
            [
                (_event_type(item), transfer_id, item.body_hash, item.draft.created_at)
                for transfer_id, item in zip(ids, self.items, strict=True)
            ],
            [
                ("transfer", TRANSFER_COLUMNS, transfers),
                ("posting", ("transfer_id", "account_id", "currency", "amount"), postings),
            ],
            totals,
        )
        if self.final:
            at_commit(connection, statement, parameters)
        else:
            connection.exec_driver_sql(statement, tuple(parameters))
        return ids

    def _write_batch(self) -> int | None:
        if self.batch is None:
            return None
        batch = self.batch
        key_id = self.keys[batch.author]
        from mutualcredit.persistence import models  # the SQLModel tables: writes of batches only
        from mutualcredit.persistence.models import core_table

        table = core_table(models.Batch)
        return int(
            self.connection.execute(
                insert(table).returning(table.c.id),
                {
                    "kind": batch.kind,
                    "author": batch.author,
                    "key_id": key_id,
                    "signature": batch.signature,
                    "size": len(self.items),
                    "meta": json.dumps(dict(batch.meta), sort_keys=True),
                    "created_at": self.items[0].draft.created_at,
                },
            ).scalar_one()
        )

    def _write_totals(self) -> None:
        changed = [account for account in self.accounts.values() if account.dirty]
        if not changed:
            return
        driver_many(
            self.connection,
            "UPDATE account SET posted_debits = ?, posted_credits = ?, "
            "pending_debits = ?, pending_credits = ? WHERE id = ?",
            [
                (a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits, a.id)
                for a in changed
            ],
        )


def transfer_row(
    item: SignedTransfer,
    status: str,
    batch_id: int | None,
    transfer_id: int | Sql,
    event_seq: int | EventSeq,
    key_id: int | Sql,
) -> tuple[Any, ...]:
    """One row in the order of :data:`TRANSFER_COLUMNS`."""
    draft = item.draft
    kind = draft.kind
    return (
        transfer_id,
        kind,
        status,
        draft.author,
        draft.key,
        item.content_hash,
        item.body[item.body.index(b"\n") + 1 :].decode("utf-8"),
        item.body_hash,
        key_id,
        item.signature,
        batch_id,
        draft.memo,
        draft.created_at,
        draft.expires_at,
        draft.refs.get("hold") if kind in RESOLUTION_KINDS else None,
        draft.refs.get("reverses") if kind == "reversal" else None,
        None,
        event_seq,
    )


# PostgreSQL writes up to this many transfers with their events in one statement.
COMBINED_TRANSFERS_MAX = 50

TRANSFER_COLUMNS = (
    "id",
    "kind",
    "status",
    "author",
    "idempotency_key",
    "content_hash",
    "body",
    "body_hash",
    "key_id",
    "signature",
    "batch_id",
    "memo",
    "created_at",
    "expires_at",
    "resolves_id",
    "reverses_id",
    "resolved_at",
    "event_seq",
)


def _event_type(item: SignedTransfer) -> str:
    kind = item.draft.kind
    return "hold_resolution" if kind in RESOLUTION_KINDS else "transfer"


def _move(account: _Account, amount: int, *, pending: bool) -> None:
    # The one place totals grow: each stays at most AMOUNT_MAX (refused before it changes).
    what = ("pending " if pending else "posted ") + ("debits" if amount < 0 else "credits")
    total = getattr(account, what.replace(" ", "_"))
    check_total(account=account.name, total=total, amount=amount, what=what)
    account.dirty = True
    if pending:
        if amount < 0:
            account.pending_debits -= amount
        else:
            account.pending_credits += amount
    elif amount < 0:
        account.posted_debits -= amount
    else:
        account.posted_credits += amount


def _release(account: _Account, amount: int) -> None:
    account.dirty = True
    if amount < 0:
        account.pending_debits += amount
    else:
        account.pending_credits -= amount
    assert account.pending_debits >= 0 and account.pending_credits >= 0, account.name


def held_postings(body: str, ledger: Ledger) -> tuple[Posting, ...]:
    """The postings a hold's signed body reserves, in minor units."""
    from mutualcredit.domain.amounts import parse_signed_amount

    return tuple(
        Posting(
            account=p["account"],
            currency=p["currency"],
            amount=parse_signed_amount(p["amount"], scale=ledger.currencies[p["currency"]].scale),
        )
        for p in json.loads(body)["postings"]
    )


def _held_postings(body: str, ledger: Ledger) -> dict[str, int]:
    return {posting.account: posting.amount for posting in held_postings(body, ledger)}


def positions_moved(draft: TransferDraft, accounts: Mapping[str, OwnedAccount]) -> int:
    """What ``draft`` adds to the sum of the collectives' positions (its postings to
    ``network:clearing:*`` accounts): anything but zero breaks "positions sum to zero"."""
    return sum(p.amount for p in draft.postings if accounts[p.account].kind == "network_clearing")


def check_positions(
    draft: TransferDraft, accounts: Mapping[str, OwnedAccount], ledger: Ledger
) -> None:
    """Refuse a transfer that would leave the collectives' positions not summing to zero: a
    one-sided clearing leg, even the admin's, or a payment routed to or from a network
    account (whose end has no position to mirror the collective's)."""
    moved = positions_moved(draft, accounts)
    if moved:
        raise PositionsUnbalanced(
            f"the network:clearing postings of this transfer sum to "
            f"{describe_amount(ledger, moved, ledger.card.code)}; the collectives' positions "
            "must still sum to zero",
            total=moved,
        )


def transfer_denial_of(
    draft: TransferDraft,
    accounts: Mapping[str, OwnedAccount],
    ledger: Ledger,
    roles: Iterable[tuple[str, str | None]],
    issuance: Callable[[str], Issuance | None],
) -> Denial | None:
    """:func:`~mutualcredit.domain.authority.transfer_denial` for a draft whose accounts are
    loaded."""
    return transfer_denial(
        author=draft.author,
        roles=roles,
        kind=draft.kind,
        legs=[Leg(accounts[p.account], p.currency, p.amount) for p in draft.postings],
        currencies=ledger.currencies,
        card=ledger.card,
        issuance=issuance,
        force=draft.kind == "reversal" and bool(draft.meta.get("force")),
    )


def issuance_record(connection: Connection, collective: str) -> Issuance | None:
    """The collective's issuance as the admin's last signed ``issuance_set`` record fixes it
    (its body is signed: ``verify`` finds an edit)."""
    found = None
    for (body,) in driver_rows(
        connection, "SELECT body FROM record WHERE type = 'issuance_set' ORDER BY id", ()
    ):
        found = parse_issuance(json.loads(body), collective) or found
    return found


# -- one statement (PostgreSQL) ---------------------------------------------------------------

# The kinds of lone transfer that one statement may write: beyond the accounts' status and
# limits, what _Writer._apply checks of them depends only on facts that never change.
ONE_STATEMENT_KINDS = ("payment", "hold", "fee")
ONE_STATEMENT = True  # False: every write takes the full path (tests compare the two)

# A movement ``m.amount`` crossing a limit of the locked account ``a``: check_limits in SQL
# (pending debits count against the lower limit, pending credits against the upper).
_LIMIT_CROSSED = (
    "(m.amount < 0 AND a.limit_lower IS NOT NULL AND a.posted_credits - a.posted_debits "
    "- a.pending_debits + m.amount < a.limit_lower) OR (m.amount > 0 AND a.limit_upper IS NOT "
    "NULL AND a.posted_credits - a.posted_debits + a.pending_credits + m.amount > a.limit_upper)"
)
# A movement that could take a total past AMOUNT_MAX (counted with the pending ones, so it
# may be stricter than check_total): the guard fails and the full path answers exactly.
_TOTAL_CROSSED = (
    f"(m.amount < 0 AND a.posted_debits + a.pending_debits - m.amount > {AMOUNT_MAX}) OR "
    f"(m.amount > 0 AND a.posted_credits + a.pending_credits + m.amount > {AMOUNT_MAX})"
)
_DRAWN_ID = Sql("SELECT id FROM ids")


def account_facts(ledger: Ledger, names: Iterable[str]) -> dict[str, AccountFacts]:
    """The facts of those of ``names`` that exist: read once per open ledger, then cached."""
    wanted = sorted(set(names))
    missing = [name for name in wanted if ("facts", name) not in ledger.cache]
    if missing:
        with ledger.read() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, name, currency, owner_kind, owner, collective, kind FROM account "
                    "WHERE name IN :names"
                ).bindparams(bindparam("names", expanding=True)),
                {"names": missing},
            ).all()
        for row in rows:
            ledger.cache[("facts", row[1])] = AccountFacts(*row)
    return {
        name: ledger.cache[("facts", name)] for name in wanted if ("facts", name) in ledger.cache
    }


def _post_one_statement(ledger: Ledger, signed: SignedTransfer) -> PostResult | None:
    """PostgreSQL: validate and write a lone payment, hold or fee in ONE statement, its own
    transaction (:func:`context.run_statement`): one round trip, where the full path takes
    four.

    What never changes is checked here with the full path's own functions: the kind, the
    accounts' currencies, and that the author owns every account debited (or the debit is
    the mirrored clearing route of a payment) — so no role decides.  What a concurrent
    writer may change is checked by the statement on the rows it locked, in id order as
    every writer does: the author's key is active, the idempotency key unused, every
    account open and within its limits.  If any of that fails the statement locks no
    chain head, writes nothing and draws no id, and None sends the transfer down the full
    path, which answers it (a replay, a named refusal) or, if the state has moved on,
    writes it.
    """
    draft = signed.draft
    if draft.kind not in ONE_STATEMENT_KINDS or (draft.kind == "hold" and not draft.expires_at):
        return None
    names = [posting.account for posting in draft.postings]
    accounts = account_facts(ledger, names)
    if len(accounts) != len(names):  # an account missing, or one named twice
        return None
    for posting in draft.postings:
        account = accounts[posting.account]
        if account.currency != posting.currency:
            return None
    if transfer_denial_of(draft, accounts, ledger, (), lambda collective: None) is not None:
        return None  # a role would decide (the admin's, a coordinator's): the full path
    if positions_moved(draft, accounts):
        return None  # the full path refuses it
    statement, parameters = _one_statement(signed, accounts)
    rows = run_statement(ledger.engine, statement, parameters)
    if not rows:
        return None
    return PostResult(transfer_id=int(rows[0][0]), replayed=False)


def _one_statement(
    signed: SignedTransfer, accounts: Mapping[str, AccountFacts]
) -> tuple[str, list[Any]]:
    """The statement of :func:`_post_one_statement`: :func:`chain.append_statement` with the
    checks as its guard, the transfer id drawn inside it, and the totals moved by deltas on
    the rows it locked."""
    draft = signed.draft
    pending = draft.kind == "hold"
    ids = sorted(account.id for account in accounts.values())
    listed = ", ".join(["%s"] * len(ids))
    moves = [(accounts[posting.account].id, posting.amount) for posting in draft.postings]
    deltas = [
        (account_id, 0, 0, -amount, 0)
        if pending and amount < 0
        else (account_id, 0, 0, 0, amount)
        if pending
        else (account_id, -amount, 0, 0, 0)
        if amount < 0
        else (account_id, 0, amount, 0, 0)
        for account_id, amount in moves
    ]
    guard: list[tuple[str, Sequence[Any]]] = [
        (
            "acc AS (SELECT id, status, limit_lower, limit_upper, posted_debits, posted_credits, "
            f"pending_debits, pending_credits FROM account WHERE id IN ({listed}) "
            "ORDER BY id FOR UPDATE)",
            ids,
        ),
        (
            "mv (id, amount) AS (VALUES "
            + ", ".join(["(%s::bigint, %s::bigint)"] * len(moves))
            + ")",
            [value for move in moves for value in move],
        ),
        (
            "k AS (SELECT id FROM key WHERE public_key = %s AND handle = %s AND revoked_at IS "
            "NULL)",
            [signed.public_key, draft.author],
        ),
        (
            "ok AS (SELECT (SELECT count(*) FROM acc) = %s AND EXISTS (SELECT 1 FROM k) "
            "AND NOT EXISTS (SELECT 1 FROM transfer WHERE author = %s AND idempotency_key = %s) "
            "AND NOT EXISTS (SELECT 1 FROM acc a JOIN mv m ON m.id = a.id WHERE a.status <> 'open' "
            f"OR {_LIMIT_CROSSED} OR {_TOTAL_CROSSED}) AS ok)",
            [len(ids), draft.author, draft.key],
        ),
        (
            f"ids AS (SELECT nextval(pg_get_serial_sequence('transfer', 'id')) AS id "
            f"WHERE {GUARD_HOLDS})",
            [],
        ),
    ]
    totals = (
        "UPDATE account SET posted_debits = account.posted_debits + d.pd, posted_credits = "
        "account.posted_credits + d.pc, pending_debits = account.pending_debits + d.hd, "
        "pending_credits = account.pending_credits + d.hc FROM (VALUES "
        + ", ".join(["(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint)"] * len(deltas))
        + f") AS d (id, pd, pc, hd, hc) WHERE account.id = d.id AND {GUARD_HOLDS}",
        [value for delta in deltas for value in delta],
    )
    row = transfer_row(
        signed,
        "pending" if pending else "posted",
        None,
        _DRAWN_ID,
        EventSeq(1),
        Sql("SELECT id FROM k"),
    )
    postings = [
        (_DRAWN_ID, accounts[posting.account].id, posting.currency, posting.amount)
        for posting in draft.postings
    ]
    return append_statement(
        [(_event_type(signed), _DRAWN_ID, signed.body_hash, draft.created_at)],
        [
            ("transfer", TRANSFER_COLUMNS, [row]),
            ("posting", ("transfer_id", "account_id", "currency", "amount"), postings),
        ],
        [totals],
        guard=guard,
        returning=f"({_DRAWN_ID.expression})",
    )


def describe_amount(ledger: Ledger, minor: int, currency: str) -> str:
    return f"{format_amount(minor, ledger.currencies[currency].scale)} {currency}"
