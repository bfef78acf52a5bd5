"""``verify``'s per-transfer checks, on every core.

Each worker process opens its own connection and checks a range of events'
transfers by itself, so only ranges go out and only problems (and the few
facts the main process needs: holds, resolutions, reversals, requests,
batches) come back.  Per transfer:

1. its stored body hashes to its body hash (``body_hash_mismatch``);
2. its columns say what the body says (``memo_mismatch``, ``column_mismatch``,
   ``content_hash_mismatch``);
3. its posting rows are exactly the body's postings (``postings_mismatch``);
4. the key that signed was the author's, registered by a signed record and
   not yet revoked at that point of the chain (``key_unknown``,
   ``author_mismatch``, ``key_not_yet_registered``, ``key_revoked``);
5. its author might move the money it moves out of each account, with the
   roles the chain's signed records had granted at that point
   (``not_authorised``; :mod:`~mutualcredit.domain.authority`);
6. an import's row in the import register (``import_row``, which the importer
   dedups on) is what its signed body's ``meta`` says: its source, external
   id, line, sale time, row hash and batch (``column_mismatch``), and it is
   there at all (``row_missing``: deleted, a new import of that export would
   post the row again);
7. the Ed25519 signature over the body (``signature_invalid``) — for the
   whole range in one tight loop after the other checks, where Ed25519 runs
   measurably faster than interleaved with them.

Each range also sends back its transfers' stored postings, in chain order
(``Facts.moves``), so the main process replays the money from what the
workers read instead of reading every posting a second time.

Public keys are decoded once per worker; rows are read through the driver's
cursor (SQLAlchemy's per-row processing would cost more than the checks).
Records and limit changes, which are few, travel as ``(label, key id,
signature, message)`` items.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidSignature

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.authority import (
    CLEARING_KINDS,
    Denial,
    Issuance,
    Leg,
    roles_at,
    transfer_denial,
)
from mutualcredit.domain.canonical import TAG_TRANSFER
from mutualcredit.domain.transfers import RESOLUTION_KINDS, content_hash, content_of
from mutualcredit.services.collector import without_cycle_collection

EVENTS_PER_TASK = 2_000
RESOLUTIONS = RESOLUTION_KINDS
# What a transfer's columns must say of its signed body (``expires_at``, ``network`` and
# the references are compared on their own: they may be absent or are not columns).
_SIGNED_FIELDS = itemgetter("kind", "author", "key", "created_at", "memo")
_ROW_FIELDS = itemgetter(2, 4, 5, 12, 11)

_STATE: dict[str, Any] = {}
_NO_END = 2**63  # past any event number
# A signed amount with its decimal point taken out, in the digits the writer reads: int()
# alone would also take '+', '_', spaces and other scripts' digits ('١.٠٠' as 100).
_MINOR_RE = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """Where in the chain a key may sign: after ``introduced``, up to ``revoked``."""

    handle: str
    introduced: int
    revoked: int | None
    revoked_at: str | None


class AccountFacts(NamedTuple):
    """What authority depends on in an account (an ``OwnedAccount`` of
    :mod:`~mutualcredit.domain.authority`)."""

    name: str
    kind: str
    owner_kind: str
    owner: str | None
    collective: str | None


@dataclass(slots=True)
class Context:
    """What every worker needs to know, sent once when the pool starts."""

    url: str
    network: str
    keys: dict[int, tuple[str, str]]  # key id -> (handle, public key hex)
    windows: dict[str, KeyWindow]  # public key hex -> its window
    accounts: dict[str, tuple[int, str, int]]  # name -> (id, currency, scale)
    since: int = 0  # signatures of events up to here are not checked again
    owners: dict[int, AccountFacts] = field(default_factory=dict)  # account id -> its facts
    # handle -> [role, collective, granted at event, revoked at event or None], as the
    # chain's signed records granted them
    roles: dict[str, list[list[Any]]] = field(default_factory=dict)
    currencies: dict[str, Currency] = field(default_factory=dict)
    card: str = ""
    # collective -> [(event, its issuance)], as the admin's signed records fixed them
    issuances: dict[str, list[tuple[int, Issuance]]] = field(default_factory=dict)


@dataclass(slots=True)
class Facts:
    """What the main process needs from a range of transfers, besides problems."""

    signatures: int = 0
    transfers: int = 0
    problems: list[tuple[str, str, str, int | None, str | None]] = field(default_factory=list)
    # (id, status, resolved at, expires at, author, the accounts it credits)
    holds: list[tuple[int, str, str | None, str | None, str, list[int]]] = field(
        default_factory=list
    )
    # (id, event, the hold it resolves, kind, created at, author)
    resolutions: list[tuple[int, int, Any, str, str, str]] = field(default_factory=list)
    reversals: list[tuple[int, Any, bool]] = field(default_factory=list)
    accepts: list[tuple[int, int, str, str, dict[str, Any], Any]] = field(default_factory=list)
    batches: list[tuple[int, int, str, str, int]] = field(default_factory=list)
    # Per transfer, in chain order: (seq, id, kind, resolves, forced reversal, its posting
    # rows as (transfer id, account id, currency, amount)) — the replay's input.
    moves: list[tuple[int, int, str, Any, bool, list[tuple[int, int, str, int]]]] = field(
        default_factory=list
    )
    # When the range holds only plain movements (no holds, resolutions or forced reversals):
    # per account, the sum of its debits and of its credits over the range.
    sums: dict[int, list[int]] | None = None


def issuance_at(
    issuances: dict[str, list[tuple[int, Issuance]]], collective: str, seq: int
) -> Issuance | None:
    """The collective's issuance in force at event ``seq``: the last record before it."""
    found = None
    for start, issuance in issuances.get(collective, ()):
        if start < seq:
            found = issuance
    return found


def _init_worker(context: Context) -> None:
    """A pool worker's start: forked from a run that paused the cycle collector, it collects
    again between ranges (each range pauses it while it runs)."""
    gc.enable()
    _init(context)


def _init(context: Context) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from mutualcredit.persistence.engine import database_url, make_engine

    _STATE["context"] = context
    _STATE["engine"] = make_engine(database_url(context.url))
    decoded = {}
    for key_id, (_handle, public_key) in context.keys.items():
        try:
            decoded[key_id] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        except ValueError:
            continue  # reported as a key problem by the main process
    _STATE["keys"] = decoded


def raw_rows(connection: Any, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows through the DB-API cursor of a SQLAlchemy connection (``?`` placeholders)."""
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, tuple(parameters))
        return cursor.fetchall()
    finally:
        cursor.close()


def raw_stream(
    connection: Any, sql: str, parameters: Sequence[Any], *, rows_per_fetch: int = 10_000
) -> Any:
    """Like :func:`raw_rows`, fetching ``rows_per_fetch`` rows at a time."""
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, tuple(parameters))
        while rows := cursor.fetchmany(rows_per_fetch):
            yield from rows
    finally:
        cursor.close()


TRANSFER_SQL = (
    "SELECT id, event_seq, kind, status, author, idempotency_key, body, body_hash, key_id, "
    "signature, batch_id, memo, created_at, expires_at, resolves_id, reverses_id, resolved_at, "
    "content_hash FROM transfer WHERE event_seq BETWEEN ? AND ? ORDER BY event_seq"
)
# By transfer id (the posting index), for the ids of the range's transfers.
POSTING_SQL = (
    "SELECT transfer_id, account_id, currency, amount FROM posting "
    "WHERE transfer_id BETWEEN ? AND ? ORDER BY transfer_id, id"
)
# The import register's rows of the range's transfers (by its unique transfer id index).
REGISTER_SQL = (
    "SELECT transfer_id, source, external_id, line, occurred_at, content_hash, batch_id "
    "FROM import_row WHERE transfer_id BETWEEN ? AND ?"
)
REGISTER_FIELDS = ("source", "external_id", "line", "occurred_at", "row_hash")


def check_transfer_range(first_seq: int, last_seq: int, only_signatures: bool = False) -> Facts:
    """Check the transfers of events ``first_seq`` … ``last_seq``.

    The range's posting rows are first compared with its signed postings in one go (a
    list comparison, in C): when they are equal, as in an untouched ledger, each
    transfer's postings are its signed ones and need no grouping.  Otherwise the range
    is checked again transfer by transfer against its own rows, to name each one that
    differs."""
    with without_cycle_collection():
        return _check_range(first_seq, last_seq, only_signatures)


def _check_range(first_seq: int, last_seq: int, only_signatures: bool) -> Facts:
    engine = _STATE["engine"]
    with engine.connect() as connection:
        rows = raw_rows(connection, TRANSFER_SQL, (first_seq, last_seq))
        stored: list[tuple[int, int, str, int]] = []
        register: dict[int, tuple[Any, ...]] = {}
        if not only_signatures and rows:
            ids = [row[0] for row in rows]
            stored = raw_rows(connection, POSTING_SQL, (min(ids), max(ids)))
            if any(row[2] == "import" for row in rows):
                register = {
                    int(found[0]): tuple(found[1:])
                    for found in raw_rows(connection, REGISTER_SQL, (min(ids), max(ids)))
                }
    if only_signatures:
        facts = Facts()
        checker = _Checker(facts, register)
        for row in rows:
            checker.queue_signature(row)
        checker.verify_signatures()
        return facts
    facts = Facts()
    checker = _Checker(facts, register)
    try:
        for row in rows:
            checker.transfer(row, None)
    except _NotAsSigned:
        pass
    else:
        if checker.signed == stored:
            checker.verify_signatures()
            facts.sums = range_sums(facts.moves)
            return facts
    grouped: dict[int, list[tuple[int, int, str, int]]] = {}
    for posting in stored:
        grouped.setdefault(posting[0], []).append(posting)
    facts = Facts()
    checker = _Checker(facts, register)
    for row in rows:
        checker.transfer(row, grouped.get(row[0], []))
    checker.verify_signatures()
    facts.sums = range_sums(facts.moves)
    return facts


def range_sums(
    moves: Sequence[tuple[int, int, str, Any, bool, list[tuple[int, int, str, int]]]],
) -> dict[int, list[int]] | None:
    """Per account, ``[debits, credits]`` over plain movements; None if any is not plain."""
    sums: dict[int, list[int]] = {}
    for _seq, _id, kind, _resolves, forced, postings in moves:
        if forced or kind == "hold" or kind in RESOLUTIONS:
            return None
        for _transfer, account_id, _currency, amount in postings:
            total = sums.get(account_id)
            if total is None:
                total = sums[account_id] = [0, 0]
            if amount < 0:
                total[0] -= amount
            else:
                total[1] += amount
    return sums


class _NotAsSigned(Exception):
    """A transfer whose signed postings could not be read: check the range row by row."""


class _Checker:
    def __init__(self, facts: Facts, register: dict[int, tuple[Any, ...]] | None = None) -> None:
        self.facts = facts
        # transfer id -> (source, external id, line, occurred at, content hash, batch id)
        self.register = register or {}
        self.context: Context = _STATE["context"]
        self.keys = _STATE["keys"]
        self.prefix = TAG_TRANSFER + b"\n"
        self.network = self.context.network
        self.owners = self.context.owners
        self.role_spans: dict[str, tuple[int, int, tuple[tuple[str, str | None], ...]]] = {}
        self.since = self.context.since
        self.signed: list[tuple[int, int, str, int]] = []  # the signed postings, as rows
        # Signatures to check, in one tight loop after the range's other checks: Ed25519
        # runs measurably faster when its tables are not evicted between calls.
        self.unverified: list[tuple[int, str, bytes, int, int]] = []
        # key id -> (handle, introduced, revoked, revoked_at): the fast path of key_problem.
        self.windows: dict[int, tuple[str, int, int | None, str]] = {}
        for key_id, (handle, public_key) in self.context.keys.items():
            window = self.context.windows.get(public_key)
            if window is not None and window.handle == handle:
                self.windows[key_id] = (
                    handle,
                    window.introduced,
                    window.revoked,
                    window.revoked_at or "",
                )

    def problem(self, code: str, subject: str, message: str, seq: int | None) -> None:
        self.facts.problems.append((code, subject, message, seq, None))

    # -- authority: the posting function's rule, with the roles of that point of the chain

    def _roles_at(self, handle: str, seq: int) -> tuple[tuple[str, str | None], ...]:
        """:func:`roles_at`, remembered per author with the span of events around ``seq``
        in which no role of theirs begins or ends (a million imports by one importer ask
        for the same roles a million times)."""
        span = self.role_spans.get(handle)
        if span is not None and span[0] <= seq < span[1]:
            return span[2]
        windows = self.context.roles.get(handle, ())
        first, last = 0, _NO_END
        for _role, _collective, start, until in windows:
            # A role holds from the event after its grant up to the event that revokes it.
            for boundary in (start + 1, until):
                if boundary is None:
                    continue
                if boundary <= seq:
                    first = max(first, boundary)
                else:
                    last = min(last, boundary)
        roles = roles_at(windows, seq)
        self.role_spans[handle] = (first, last, roles)
        return roles

    def _denial(
        self,
        author: str,
        kind: str,
        seq: int,
        forced: bool,
        stored: list[tuple[int, int, str, int]],
    ) -> Denial | None:
        """The posting function's rule (:func:`transfer_denial`) with the roles and issuance
        records the chain's signed records had in force at event ``seq``."""
        owners = self.owners
        if all(
            account_id in owners
            and (
                amount > 0
                or (
                    owners[account_id].owner_kind == "member" and owners[account_id].owner == author
                )
            )
            and owners[account_id].kind not in CLEARING_KINDS
            for _t, account_id, _c, amount in stored
        ) and kind in ("payment", "hold", "fee"):
            return None  # the author's own money, no clearing: no role decides
        if any(account_id not in owners for _t, account_id, _c, _a in stored):
            return None  # an unknown account is a postings problem
        context = self.context
        if context.card not in context.currencies:
            return Denial(None, "the network card is not a currency of the ledger")
        return transfer_denial(
            author=author,
            roles=self._roles_at(author, seq),
            kind=kind,
            legs=[
                Leg(owners[account_id], currency, amount)
                for _t, account_id, currency, amount in stored
            ],
            currencies=context.currencies,
            card=context.currencies[context.card],
            issuance=lambda collective: issuance_at(context.issuances, collective, seq),
            force=forced,
        )

    def _positions(
        self, transfer_id: int, seq: int, stored: list[tuple[int, int, str, int]]
    ) -> None:
        """The writer's ``positions_unbalanced``: a transfer's ``network:clearing:*`` postings
        sum to zero (a hold's too, before it is posted), whoever signed it."""
        owners = self.owners
        moved = sum(
            amount
            for _t, account_id, _c, amount in stored
            if account_id in owners and owners[account_id].kind == "network_clearing"
        )
        if moved:
            self.problem(
                "positions_unbalanced",
                f"transfer {transfer_id}",
                f"the network:clearing postings of transfer {transfer_id} (event "
                f"{seq}) sum to {moved:+d} minor units: the collectives' positions no "
                "longer sum to zero",
                seq,
            )

    def queue_signature(self, row: tuple[Any, ...], message: bytes | None = None) -> None:
        """Queue a transfer row's signature (over ``message``, its signed bytes, if known)
        for :meth:`verify_signatures`; an unsigned row (one of a batch) has none."""
        if row[9] is not None:
            self.unverified.append(
                (
                    row[8],
                    row[9],
                    message if message is not None else self.prefix + row[6].encode("utf-8"),
                    row[0],
                    row[1],
                )
            )

    def verify_signatures(self) -> None:
        keys = self.keys
        self.facts.signatures += len(self.unverified)
        for key_id, signature, message, transfer_id, seq in self.unverified:
            key = keys.get(key_id)
            try:
                if key is None:
                    raise InvalidSignature
                key.verify(bytes.fromhex(signature), message)
            except (InvalidSignature, ValueError):
                self._bad_signature(transfer_id, seq)
        self.unverified = []

    def _bad_signature(self, transfer_id: int, seq: int) -> None:
        self.problem(
            "signature_invalid",
            f"transfer {transfer_id}",
            f"the signature of transfer {transfer_id} (event {seq}) does not verify "
            "against the key it names: its body or its key was changed",
            seq,
        )

    def transfer(
        self, row: tuple[Any, ...], stored: list[tuple[int, int, str, int]] | None
    ) -> None:
        """Check one transfer row against its posting rows ``stored``, or, with None, take
        its signed postings as its rows and add them to ``signed`` (the caller compares the
        range's rows with ``signed``; :class:`_NotAsSigned` if the body has none to take)."""
        (
            transfer_id,
            seq,
            kind,
            status,
            author,
            key,
            body,
            body_hash,
            key_id,
            signature,
            batch_id,
            memo,
            created_at,
            expires_at,
            resolves_id,
            reverses_id,
            resolved_at,
            content_hash,
        ) = row
        self.facts.transfers += 1
        signed = body.encode("utf-8")
        message = self.prefix + signed
        if sha256(message).hexdigest() != body_hash:
            self.problem(
                "body_hash_mismatch",
                f"transfer {transfer_id}",
                f"transfer {transfer_id} (event {seq}) does not hash to its recorded "
                "body hash: its body was edited",
                seq,
            )
        try:
            document = orjson.loads(body)  # half json.loads's time: verify's hot path
            body_postings = document["postings"]
            refs = document["refs"]
            meta = document["meta"]
            body_kind = document["kind"]
        except (ValueError, KeyError, TypeError):
            if stored is None:
                raise _NotAsSigned from None
            self.problem(
                "body_invalid",
                f"transfer {transfer_id}",
                f"transfer {transfer_id}'s body is not a transfer",
                seq,
            )
            self.facts.moves.append((seq, transfer_id, kind, resolves_id, False, stored))
            if seq > self.since:
                self.queue_signature(row, message)
            return
        postings = self._postings(transfer_id, body_postings)
        if stored is None:
            if postings is None:
                raise _NotAsSigned
            self.signed += postings
            stored = postings
        elif postings != stored:
            self.problem(
                "postings_mismatch",
                f"transfer {transfer_id}",
                f"the postings of transfer {transfer_id} (event {seq}) are not those "
                "its author signed: a posting was edited, added or deleted",
                seq,
            )
        if _content_hash(signed, document) != content_hash:
            self.problem(
                "content_hash_mismatch",
                f"transfer {transfer_id}",
                f"transfer {transfer_id}'s content hash (what a retry under its "
                "idempotency key is compared with) is not its signed body's",
                seq,
            )
        forced = kind == "reversal" and isinstance(meta, dict) and bool(meta.get("force"))
        self.facts.moves.append((seq, transfer_id, kind, resolves_id, forced, stored))
        if postings is not None:  # what its author signed (edited rows are named apart)
            self._positions(transfer_id, seq, postings)
        if kind not in RESOLUTIONS:  # a resolution's right comes from its hold
            denial = self._denial(author, kind, seq, forced, stored)
            if denial is not None:
                self.problem(
                    "not_authorised",
                    f"transfer {transfer_id}",
                    f"transfer {transfer_id} (event {seq}, {kind}) was signed by "
                    f"{author}, who might not sign it at that point of the chain: "
                    f"{denial.message}",
                    seq,
                )
        try:
            plain = (
                _SIGNED_FIELDS(document) == _ROW_FIELDS(row)
                and document.get("expires_at") == expires_at
            )
        except KeyError:
            plain = False
        if (
            not plain
            or document["network"] != self.network
            or (
                (refs.get("hold") if body_kind in RESOLUTIONS else None) != resolves_id
                or (refs.get("reverses") if body_kind == "reversal" else None) != reverses_id
            )
        ):
            self._fields(row, document, refs)
        window = self.windows.get(key_id)
        if (
            window is None
            or window[0] != author
            or seq <= window[1]
            or (window[2] is not None and (seq > window[2] or created_at > window[3]))
        ):
            self._key(key_id, author, seq, created_at, f"transfer {transfer_id}")
        if batch_id is not None:
            self.facts.batches.append((batch_id, transfer_id, body_hash, author, key_id))
        elif signature is None:
            self.problem(
                "signature_invalid",
                f"transfer {transfer_id}",
                f"transfer {transfer_id} is not signed",
                seq,
            )
        if seq > self.since:
            self.queue_signature(row, message)
        if kind == "hold" or kind in RESOLUTIONS or kind == "reversal" or "request" in refs:
            self._facts(row, body_kind, refs, meta, stored)
        if kind == "import":
            self._registered(transfer_id, seq, batch_id, meta)
        if status != "posted" and kind != "hold":
            self.problem(
                "column_mismatch",
                f"transfer {transfer_id}",
                f"transfer {transfer_id} ({kind}) has status {status}, not posted",
                seq,
            )

    def _registered(self, transfer_id: int, seq: int, batch_id: Any, meta: Any) -> None:
        """An imported row's register row (``import_row``) against its signed ``meta``.

        The importer decides what is *already imported* from the register alone: a
        deleted row lets the same export row be posted again (by another importer), an
        edited one hides a conflict or makes one.  An import whose meta names no source
        and external id (signed outside the importer) is in no register."""
        subject = f"import_row of transfer {transfer_id}"
        found = self.register.get(transfer_id)
        if not isinstance(meta, dict) or "source" not in meta or "external_id" not in meta:
            if found is not None:
                self.problem(
                    "row_not_recorded",
                    subject,
                    f"the import register holds a row for transfer {transfer_id} "
                    f"(event {seq}), whose signed body names no imported row",
                    seq,
                )
            return
        if found is None:
            self.problem(
                "row_missing",
                subject,
                f"transfer {transfer_id} (event {seq}) imported row "
                f"{meta['external_id']!r} of {meta['source']}, but the import "
                "register (import_row) has no row for it: it was deleted, and "
                "importing that export again would post the row twice",
                seq,
            )
            return
        # meta of imports made before the row hash was signed lacks it: not compared
        names = [name for name in REGISTER_FIELDS if name in meta]
        expected = [meta[name] for name in names] + [batch_id]
        actual = [found[REGISTER_FIELDS.index(name)] for name in names] + [found[5]]
        differing = [
            name
            for name, a, b in zip([*names, "batch_id"], actual, expected, strict=True)
            if _text(a) != _text(b)
        ]
        if differing:
            shown = ", ".join("content_hash" if name == "row_hash" else name for name in differing)
            self.problem(
                "column_mismatch",
                subject,
                f"the import register's row for transfer {transfer_id} (event {seq}) "
                f"differs from its signed body in {shown}: it was edited",
                seq,
            )

    def _fields(self, row: tuple[Any, ...], document: dict[str, Any], refs: dict[str, Any]) -> None:
        """Name what differs between a transfer's columns and its signed body."""
        transfer_id, seq, memo = row[0], row[1], row[11]
        if document.get("memo") != memo:
            self.problem(
                "memo_mismatch",
                f"transfer {transfer_id}",
                f"transfer {transfer_id}'s memo {memo!r} is not the signed memo "
                f"{document.get('memo')!r}",
                seq,
            )
        self._columns(row, document, refs)

    def _columns(
        self, row: tuple[Any, ...], document: dict[str, Any], refs: dict[str, Any]
    ) -> None:
        (
            transfer_id,
            seq,
            kind,
            _status,
            author,
            key,
            _body,
            _hash,
            _key_id,
            _signature,
            _batch,
            _memo,
            created_at,
            expires_at,
            resolves_id,
            reverses_id,
            _resolved,
            _content,
        ) = row
        body_kind = document.get("kind")
        expected = (
            body_kind,
            document.get("author"),
            document.get("key"),
            document.get("created_at"),
            document.get("expires_at"),
            refs.get("hold") if body_kind in RESOLUTIONS else None,
            refs.get("reverses") if body_kind == "reversal" else None,
            self.context.network,
        )
        actual = (
            kind,
            author,
            key,
            created_at,
            expires_at,
            resolves_id,
            reverses_id,
            document.get("network"),
        )
        names = (
            "kind",
            "author",
            "idempotency key",
            "created_at",
            "expires_at",
            "resolves",
            "reverses",
            "network",
        )
        differing = [n for n, a, b in zip(names, expected, actual, strict=True) if a != b]
        if differing:
            self.problem(
                "column_mismatch",
                f"transfer {transfer_id}",
                f"transfer {transfer_id}'s {', '.join(differing)} differ from its signed body",
                seq,
            )

    def _postings(
        self, transfer_id: int, body_postings: list[Any]
    ) -> list[tuple[int, int, str, int]] | None:
        """The signed postings as posting rows would hold them; None if they cannot be."""
        accounts = self.context.accounts
        result = []
        try:
            for posting in body_postings:
                account_id, currency, scale = accounts[posting["account"]]
                text = posting["amount"]
                if scale:
                    if text[-scale - 1] != ".":
                        return None
                    text = text[: -scale - 1] + text[-scale:]
                if currency != posting["currency"] or not _MINOR_RE.fullmatch(text):
                    return None
                result.append((transfer_id, account_id, currency, int(text)))
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        return result

    def _key(
        self, key_id: int | None, author: str, seq: int, created_at: str, subject: str
    ) -> None:
        problem = key_problem(self.context, key_id, author, seq, created_at, subject)
        if problem is not None:
            self.problem(*problem, seq)

    def _facts(
        self,
        row: tuple[Any, ...],
        kind: str,
        refs: dict[str, Any],
        meta: dict[str, Any],
        stored: list[tuple[int, int, str, int]],
    ) -> None:
        transfer_id, seq, created_at = row[0], row[1], row[12]
        facts = self.facts
        if kind == "hold":
            facts.holds.append(
                (
                    transfer_id,
                    row[3],
                    row[16],
                    row[13],
                    row[4],
                    [posting[1] for posting in stored if posting[3] > 0],
                )
            )
        elif kind in RESOLUTIONS:
            facts.resolutions.append((transfer_id, seq, refs.get("hold"), kind, created_at, row[4]))
        elif kind == "reversal":
            facts.reversals.append((transfer_id, refs.get("reverses"), bool(meta.get("force"))))
        if "request" in refs:
            facts.accepts.append(
                (
                    transfer_id,
                    refs["request"],
                    row[4],
                    created_at,
                    meta,
                    stored[0][1:] if stored else None,
                )
            )


def _text(value: Any) -> str | None:
    """Compare numbers and their text alike (SQLite keeps what it is given)."""
    return None if value is None else str(value)


def _content_hash(signed: bytes, document: dict[str, Any]) -> str:
    """The content hash of a signed body, derived as the writer derives it
    (:func:`~mutualcredit.domain.transfers.content_of`); a body where ``created_at`` cannot
    be cut out is canonicalised again."""
    created_at = document.get("created_at")
    if isinstance(created_at, str) and created_at.isascii():
        content = content_of(signed, created_at)
        if content is not None:
            return sha256(content).hexdigest()
    try:
        return content_hash(document)
    except (TypeError, ValueError):
        return ""


def key_problem(
    context: Context, key_id: int | None, author: str, seq: int, created_at: str, subject: str
) -> tuple[str, str, str] | None:
    """Was the key that signed event ``seq`` the author's, registered and not yet revoked?"""
    key = context.keys.get(key_id) if key_id is not None else None
    if key is None:
        return (
            "key_unknown",
            subject,
            f"{subject} is signed by key {key_id}, which is not in the ledger",
        )
    handle, public_key = key
    if handle != author:
        return (
            "author_mismatch",
            subject,
            f"{subject} is by {author} but signed with a key of {handle}",
        )
    window = context.windows.get(public_key)
    if window is None or window.handle != handle:
        return (
            "key_unknown",
            subject,
            f"{subject} is signed by key {key_id} of {handle} ({public_key[:16]}…), which "
            "no signed record registered",
        )
    if seq <= window.introduced:
        return (
            "key_not_yet_registered",
            subject,
            f"{subject} (event {seq}) is signed by a key of {handle} registered only at "
            f"event {window.introduced}",
        )
    if window.revoked is not None and (
        seq > window.revoked or (window.revoked_at is not None and created_at > window.revoked_at)
    ):
        return (
            "key_revoked",
            subject,
            f"{subject} (event {seq}, {created_at}) is signed by a key of {handle} revoked "
            f"at event {window.revoked} ({window.revoked_at})",
        )
    return None


def check_items(items: Sequence[tuple[str, int | None, int, str, bytes]]) -> Facts:
    """Check ``(subject, event, key id, signature hex, message)`` items."""
    keys = _STATE["keys"]
    facts = Facts()
    for subject, seq, key_id, signature, message in items:
        facts.signatures += 1
        key = keys.get(key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError, TypeError):
            facts.problems.append(
                (
                    "signature_invalid",
                    subject,
                    f"the signature of {subject} (event {seq}) does not verify against the key it "
                    "names: it was edited",
                    seq,
                    None,
                )
            )
    return facts


def process_pool(workers: int, **options: Any) -> ProcessPoolExecutor:
    """Worker processes, forked where the system can (they start with this process's
    imports and state; spawned ones import everything again)."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method), **options
    )


class Pool:
    """Worker processes (all cores by default); with one worker, work runs in this process."""

    def __init__(self, context: Context, *, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.futures: list[Future[Facts]] = []
        self.executor: Executor | None = None
        if self.workers > 1:
            self.executor = process_pool(
                self.workers, initializer=_init_worker, initargs=(context,)
            )
        else:
            _init(context)

    def transfers(self, first_seq: int, last_seq: int, *, only_signatures: bool = False) -> None:
        for start in range(first_seq, last_seq + 1, EVENTS_PER_TASK):
            end = min(last_seq, start + EVENTS_PER_TASK - 1)
            self.futures.append(self._submit(check_transfer_range, start, end, only_signatures))

    def items(self, items: list[tuple[str, int | None, int, str, bytes]]) -> None:
        for start in range(0, len(items), EVENTS_PER_TASK):
            self.futures.append(self._submit(check_items, items[start : start + EVENTS_PER_TASK]))

    def _submit(self, function: Any, *arguments: Any) -> Future[Facts]:
        if self.executor is not None:
            return self.executor.submit(function, *arguments)
        future: Future[Facts] = Future()
        future.set_result(function(*arguments))
        return future

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        else:
            engine = _STATE.pop("engine", None)
            if engine is not None:
                engine.dispose()
