"""``verify``'s per-transfer checks, on every core.

Each worker process opens its own connection and checks a range of events'
transfers by itself, so only ranges go out and only problems (and the few
facts the main process needs: holds, resolutions, reversals, requests,
batches) come back.  Per transfer, in this order:

1. its stored body hashes to its body hash (``body_hash_mismatch``);
2. its columns say what the body says (``memo_mismatch``, ``column_mismatch``,
   ``content_hash_mismatch``);
3. its posting rows are exactly the body's postings (``postings_mismatch``);
4. the key that signed was the author's, registered by a signed record and
   not yet revoked at that point of the chain (``key_unknown``,
   ``author_mismatch``, ``key_not_yet_registered``, ``key_revoked``);
5. the Ed25519 signature over the body (``signature_invalid``).

Each range also sends back its transfers' stored postings, in chain order
(``Facts.moves``), so the main process replays the money from what the
workers read instead of reading every posting a second time.

Public keys are decoded once per worker; rows are read through the driver's
cursor (SQLAlchemy's per-row processing would cost more than the checks).
Records and limit changes, which are few, travel as ``(label, key id,
signature, message)`` items.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature

from mutualcredit.domain.canonical import TAG_TRANSFER
from mutualcredit.domain.transfers import content_hash, content_of

EVENTS_PER_TASK = 2_000
RESOLUTIONS = ("post_hold", "void_hold", "expire_hold")

_STATE: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """Where in the chain a key may sign: after ``introduced``, up to ``revoked``."""

    handle: str
    introduced: int
    revoked: int | None
    revoked_at: str | None


@dataclass(slots=True)
class Context:
    """What every worker needs to know, sent once when the pool starts."""

    url: str
    network: str
    keys: dict[int, tuple[str, str]]  # key id -> (handle, public key hex)
    windows: dict[str, KeyWindow]  # public key hex -> its window
    accounts: dict[str, tuple[int, str, int]]  # name -> (id, currency, scale)
    since: int = 0  # signatures of events up to here are not checked again
    members: dict[int, str] = field(default_factory=dict)  # member account id -> its owner


@dataclass(slots=True)
class Facts:
    """What the main process needs from a range of transfers, besides problems."""

    signatures: int = 0
    transfers: int = 0
    problems: list[tuple[str, str, str, int | None, str | None]] = field(default_factory=list)
    holds: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    resolutions: list[tuple[int, int, Any, str, str]] = field(default_factory=list)
    reversals: list[tuple[int, Any, bool]] = field(default_factory=list)
    accepts: list[tuple[int, int, str, str, dict[str, Any], Any]] = field(default_factory=list)
    batches: list[tuple[int, int, str, str, int]] = field(default_factory=list)
    # Per transfer, in chain order: (seq, id, kind, resolves, forced reversal, stored postings
    # as (account id, currency, amount)) — the replay's input.
    moves: list[tuple[int, int, str, Any, bool, list[tuple[int, str, int]]]] = field(
        default_factory=list)
    # Transfers that move money out of a member's account but were signed by someone else:
    # (seq, id, kind, author, the account's owner, the transfer's account ids).  Whether the
    # author might (the admin; a coordinator reversing) is decided by the main process, which
    # knows the roles as the chain granted them.
    foreign_debits: list[tuple[int, int, str, str, str, list[int]]] = field(
        default_factory=list)
    # When the range holds only plain movements (no holds, resolutions or forced reversals):
    # per account, the sum of its debits and of its credits over the range.
    sums: dict[int, list[int]] | None = None


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


def raw_stream(connection: Any, sql: str, parameters: Sequence[Any], *,
               rows_per_fetch: int = 10_000) -> Any:
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
    "content_hash FROM transfer WHERE event_seq BETWEEN ? AND ? ORDER BY event_seq")
# By transfer id (the posting index), for the ids of the range's transfers.
POSTING_SQL = (
    "SELECT transfer_id, account_id, currency, amount FROM posting "
    "WHERE transfer_id BETWEEN ? AND ? ORDER BY transfer_id, id")


def check_transfer_range(first_seq: int, last_seq: int, only_signatures: bool = False) -> Facts:
    """Check the transfers of events ``first_seq`` … ``last_seq``."""
    engine = _STATE["engine"]
    with engine.connect() as connection:
        rows = raw_rows(connection, TRANSFER_SQL, (first_seq, last_seq))
        postings: dict[int, list[tuple[int, str, int]]] = {}
        if not only_signatures and rows:
            ids = [row[0] for row in rows]
            for transfer_id, account_id, currency, amount in raw_rows(
                    connection, POSTING_SQL, (min(ids), max(ids))):
                postings.setdefault(transfer_id, []).append((account_id, currency, amount))
    facts = Facts()
    checker = _Checker(facts)
    for row in rows:
        if only_signatures:
            checker.signature(row)
        else:
            checker.transfer(row, postings.get(row[0], []))
    facts.sums = range_sums(facts.moves)
    return facts


def range_sums(moves: Sequence[tuple[int, int, str, Any, bool, list[tuple[int, str, int]]]]
               ) -> dict[int, list[int]] | None:
    """Per account, ``[debits, credits]`` over plain movements; None if any is not plain."""
    sums: dict[int, list[int]] = {}
    for _seq, _id, kind, _resolves, forced, stored in moves:
        if forced or kind == "hold" or kind in RESOLUTIONS:
            return None
        for account_id, _currency, amount in stored:
            total = sums.get(account_id)
            if total is None:
                total = sums[account_id] = [0, 0]
            if amount < 0:
                total[0] -= amount
            else:
                total[1] += amount
    return sums


class _Checker:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.context: Context = _STATE["context"]
        self.keys = _STATE["keys"]
        self.prefix = TAG_TRANSFER + b"\n"
        # key id -> (handle, introduced, revoked, revoked_at): the fast path of key_problem.
        self.windows: dict[int, tuple[str, int, int | None, str]] = {}
        for key_id, (handle, public_key) in self.context.keys.items():
            window = self.context.windows.get(public_key)
            if window is not None and window.handle == handle:
                self.windows[key_id] = (handle, window.introduced, window.revoked,
                                        window.revoked_at or "")

    def problem(self, code: str, subject: str, message: str, seq: int | None) -> None:
        self.facts.problems.append((code, subject, message, seq, None))

    def signature(self, row: tuple[Any, ...], message: bytes | None = None) -> None:
        """Check the signature of a transfer row (``message``: its signed bytes, if known)."""
        transfer_id, seq, signature, key_id = row[0], row[1], row[9], row[8]
        if signature is None:
            return
        self.facts.signatures += 1
        key = self.keys.get(key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(signature),
                       message if message is not None else self.prefix + row[6].encode("utf-8"))
        except (InvalidSignature, ValueError):
            self.problem("signature_invalid", f"transfer {transfer_id}",
                         f"the signature of transfer {transfer_id} (event {seq}) does not verify "
                         "against the key it names: its body or its key was changed", seq)

    def transfer(self, row: tuple[Any, ...], stored: list[tuple[int, str, int]]) -> None:
        (transfer_id, seq, kind, status, author, key, body, body_hash, key_id, signature,
         batch_id, memo, created_at, expires_at, resolves_id, reverses_id, resolved_at,
         content_hash) = row
        self.facts.transfers += 1
        signed = body.encode("utf-8")
        message = self.prefix + signed
        if hashlib.sha256(message).hexdigest() != body_hash:
            self.problem("body_hash_mismatch", f"transfer {transfer_id}",
                         f"transfer {transfer_id} (event {seq}) does not hash to its recorded "
                         "body hash: its body was edited", seq)
        try:
            document = orjson.loads(body)  # half json.loads's time: verify's hot path
            body_postings = document["postings"]
            refs = document["refs"]
            meta = document["meta"]
            body_kind = document["kind"]
        except (ValueError, KeyError, TypeError):
            self.problem("body_invalid", f"transfer {transfer_id}", f"transfer {transfer_id}'s "
                         "body is not a transfer", seq)
            self.facts.moves.append((seq, transfer_id, kind, resolves_id, False, stored))
            return
        if _content_hash(signed, document) != content_hash:
            self.problem("content_hash_mismatch", f"transfer {transfer_id}",
                         f"transfer {transfer_id}'s content hash (what a retry under its "
                         "idempotency key is compared with) is not its signed body's", seq)
        forced = kind == "reversal" and isinstance(meta, dict) and bool(meta.get("force"))
        self.facts.moves.append((seq, transfer_id, kind, resolves_id, forced, stored))
        if kind not in RESOLUTIONS:  # a resolution's right comes from its hold
            members = self.context.members
            for account_id, _currency, amount in stored:
                if amount < 0 and members.get(account_id, author) != author:
                    self.facts.foreign_debits.append((
                        seq, transfer_id, kind, author, members[account_id],
                        [posting[0] for posting in stored]))
                    break
        if document.get("memo") != memo:
            self.problem("memo_mismatch", f"transfer {transfer_id}",
                         f"transfer {transfer_id}'s memo {memo!r} is not the signed memo "
                         f"{document.get('memo')!r}", seq)
        if (body_kind != kind or document.get("author") != author or document.get("key") != key
                or document.get("created_at") != created_at
                or document.get("expires_at") != expires_at
                or document.get("network") != self.context.network
                or (refs.get("hold") if body_kind in RESOLUTIONS else None) != resolves_id
                or (refs.get("reverses") if body_kind == "reversal" else None) != reverses_id):
            self._columns(row, document, refs)
        if self._postings(body_postings) != stored:
            self.problem("postings_mismatch", f"transfer {transfer_id}",
                         f"the postings of transfer {transfer_id} (event {seq}) are not those "
                         "its author signed: a posting was edited, added or deleted", seq)
        window = self.windows.get(key_id)
        if window is None or window[0] != author or seq <= window[1] or (
                window[2] is not None and (seq > window[2] or created_at > window[3])):
            self._key(key_id, author, seq, created_at, f"transfer {transfer_id}")
        if batch_id is not None:
            self.facts.batches.append((batch_id, transfer_id, body_hash, author, key_id))
        elif signature is None:
            self.problem("signature_invalid", f"transfer {transfer_id}",
                         f"transfer {transfer_id} is not signed", seq)
        if seq > self.context.since:
            self.signature(row, message)
        if kind == "hold" or kind in RESOLUTIONS or kind == "reversal" or "request" in refs:
            self._facts(row, body_kind, refs, meta, stored)
        if status != "posted" and kind != "hold":
            self.problem("column_mismatch", f"transfer {transfer_id}", f"transfer "
                         f"{transfer_id} ({kind}) has status {status}, not posted", seq)

    def _columns(self, row: tuple[Any, ...], document: dict[str, Any], refs: dict[str, Any]
                 ) -> None:
        (transfer_id, seq, kind, _status, author, key, _body, _hash, _key_id, _signature,
         _batch, _memo, created_at, expires_at, resolves_id, reverses_id, _resolved,
         _content) = row
        body_kind = document.get("kind")
        expected = (body_kind, document.get("author"), document.get("key"),
                    document.get("created_at"), document.get("expires_at"),
                    refs.get("hold") if body_kind in RESOLUTIONS else None,
                    refs.get("reverses") if body_kind == "reversal" else None,
                    self.context.network)
        actual = (kind, author, key, created_at, expires_at, resolves_id, reverses_id,
                  document.get("network"))
        names = ("kind", "author", "idempotency key", "created_at", "expires_at",
                 "resolves", "reverses", "network")
        differing = [n for n, a, b in zip(names, expected, actual, strict=True) if a != b]
        self.problem("column_mismatch", f"transfer {transfer_id}",
                     f"transfer {transfer_id}'s {', '.join(differing)} differ from its "
                     "signed body", seq)

    def _postings(self, body_postings: list[Any]) -> list[tuple[int, str, int]] | None:
        accounts = self.context.accounts
        result = []
        try:
            for posting in body_postings:
                account_id, currency, scale = accounts[posting["account"]]
                text = posting["amount"]
                if scale:
                    if text[-scale - 1] != ".":
                        return None
                    text = text[:-scale - 1] + text[-scale:]
                if currency != posting["currency"]:
                    return None
                result.append((account_id, currency, int(text)))
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        return result

    def _key(self, key_id: int | None, author: str, seq: int, created_at: str,
             subject: str) -> None:
        problem = key_problem(self.context, key_id, author, seq, created_at, subject)
        if problem is not None:
            self.problem(*problem, seq)

    def _facts(self, row: tuple[Any, ...], kind: str, refs: dict[str, Any],
               meta: dict[str, Any], stored: list[tuple[int, str, int]]) -> None:
        transfer_id, seq, created_at = row[0], row[1], row[12]
        facts = self.facts
        if kind == "hold":
            facts.holds.append((transfer_id, row[3], row[16], row[13]))
        elif kind in RESOLUTIONS:
            facts.resolutions.append((transfer_id, seq, refs.get("hold"), kind, created_at))
        elif kind == "reversal":
            facts.reversals.append((transfer_id, refs.get("reverses"), bool(meta.get("force"))))
        if "request" in refs:
            facts.accepts.append((transfer_id, refs["request"], row[4], created_at, meta,
                                  stored[0] if stored else None))


def _content_hash(signed: bytes, document: dict[str, Any]) -> str:
    """The content hash of a signed body, derived as the writer derives it
    (:func:`~mutualcredit.domain.transfers.content_of`); a body where ``created_at`` cannot
    be cut out is canonicalised again."""
    created_at = document.get("created_at")
    if isinstance(created_at, str) and created_at.isascii():
        content = content_of(signed, created_at)
        if content is not None:
            return hashlib.sha256(content).hexdigest()
    try:
        return content_hash(document)
    except (TypeError, ValueError):
        return ""


def key_problem(context: Context, key_id: int | None, author: str, seq: int, created_at: str,
                subject: str) -> tuple[str, str, str] | None:
    """Was the key that signed event ``seq`` the author's, registered and not yet revoked?"""
    key = context.keys.get(key_id) if key_id is not None else None
    if key is None:
        return ("key_unknown", subject,
                f"{subject} is signed by key {key_id}, which is not in the ledger")
    handle, public_key = key
    if handle != author:
        return ("author_mismatch", subject,
                f"{subject} is by {author} but signed with a key of {handle}")
    window = context.windows.get(public_key)
    if window is None or window.handle != handle:
        return ("key_unknown", subject,
                f"{subject} is signed by key {key_id} of {handle} ({public_key[:16]}…), which "
                "no signed record registered")
    if seq <= window.introduced:
        return ("key_not_yet_registered", subject,
                f"{subject} (event {seq}) is signed by a key of {handle} registered only at "
                f"event {window.introduced}")
    if window.revoked is not None and (seq > window.revoked or (
            window.revoked_at is not None and created_at > window.revoked_at)):
        return ("key_revoked", subject,
                f"{subject} (event {seq}, {created_at}) is signed by a key of {handle} revoked "
                f"at event {window.revoked} ({window.revoked_at})")
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
            facts.problems.append((
                "signature_invalid", subject,
                f"the signature of {subject} (event {seq}) does not verify against the key it "
                "names: it was edited", seq, None))
    return facts


def process_pool(workers: int, **options: Any) -> ProcessPoolExecutor:
    """Worker processes, forked where the system can (they start with this process's
    imports and state; spawned ones import everything again)."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               **options)


class Pool:
    """Worker processes (all cores by default); with one worker, work runs in this process."""

    def __init__(self, context: Context, *, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.futures: list[Future[Facts]] = []
        self.executor: Executor | None = None
        if self.workers > 1:
            self.executor = process_pool(self.workers, initializer=_init, initargs=(context,))
        else:
            _init(context)

    def transfers(self, first_seq: int, last_seq: int, *, only_signatures: bool = False
                  ) -> None:
        for start in range(first_seq, last_seq + 1, EVENTS_PER_TASK):
            end = min(last_seq, start + EVENTS_PER_TASK - 1)
            self.futures.append(self._submit(check_transfer_range, start, end, only_signatures))

    def items(self, items: list[tuple[str, int | None, int, str, bytes]]) -> None:
        for start in range(0, len(items), EVENTS_PER_TASK):
            self.futures.append(self._submit(check_items, items[start:start + EVENTS_PER_TASK]))

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
