"""``verify``: is the ledger what its signatures, its chain and its checkpoints say it is?

Anyone with the database can run it; it trusts nothing stored that it can
recompute.  It checks, and names every problem with a stable code and the
event, transfer, record, key or account it concerns:

- **the chain** — events numbered 1, 2, … without gaps (``event_missing``);
  each event hash recomputed (``event_hash_mismatch``, ``event_reordered``
  when an event sits at another event's place); each chain hash from the
  genesis hash of the network's creation record (``genesis_mismatch``,
  ``chain_broken``, ``chain_head_mismatch``); every transfer, record and limit
  change has exactly its event and every event its subject
  (``not_chained``, ``event_subject_missing``, ``event_subject_mismatch``);
- **bodies and signatures** — each stored body hashes to its recorded hash
  (``body_hash_mismatch``); its columns say what the body says
  (``memo_mismatch``, ``column_mismatch``, ``postings_mismatch``), and its
  content hash, which idempotent retries are compared with, is its body's
  (``content_hash_mismatch``); every
  signature verifies (``signature_invalid``) by a key that a signed record
  registered for the author (``key_unknown``, ``key_not_recorded``,
  ``author_mismatch``) and that was active at that point of the chain
  (``key_revoked``, ``key_not_yet_registered``); batches
  (``batch_signature_invalid``, ``batch_mismatch``); keys in the key table
  match the signed key records (``key_not_recorded``, ``key_missing``,
  ``key_revocation_mismatch``);
- **authority** — every transfer was signed by someone the posting
  function's own rule (:func:`~mutualcredit.domain.authority.transfer_denial`)
  allowed, with the roles and issuance records the chain's signed records had
  in force at that point (``not_authorised``; the ``role`` table is not
  consulted): clearing accounts only as the exact route of one payment,
  imports only within the importer's collective and issuing its card only as
  the admin's signed issuance record says, settlements by the admin, a
  reversal by a coordinator of an affected collective and the exact opposite
  of its original (``reversal_mismatch``), forced only within that
  collective; a posted hold moves its postings in one proportion
  (``post_mismatch``); every transfer's ``network:clearing:*`` postings sum to
  zero, the admin's too (``positions_unbalanced``); every account's name, owner
  and currency agree
  (``account_invalid``); every account's
  kind, owner and collective, and every currency's rate, are what the signed
  record that made it says (a member's admission, a collective's creation, an
  account, resource or currency added)
  (``column_mismatch``).  Every record and limit change was signed by
  someone its service lets sign it (:func:`~mutualcredit.domain.authority.record_rule`):
  the admin, a coordinator of the collective it concerns, or for some key
  records the member themselves (``not_authorised``); a role granted by a
  record its author might not sign grants nothing.  A hold is posted or
  voided by its author, a member it credits, the admin or a coordinator of a
  credited account's collective (:func:`~mutualcredit.domain.authority.may_resolve`),
  and expired by anyone once due;
- **state tables** — every row the writers read (network defaults,
  currencies, collectives, members, accounts' currencies, statuses and limits,
  roles, resources, settlements with their period bounds and batch, bookings
  against their signed holds and resolutions, payment requests' resolutions,
  key rows' times, stored checkpoints' columns, the import register the
  importer dedups on) is what the signed records that made and changed it say
  (``column_mismatch``, ``row_not_recorded``, ``row_missing``;
  :mod:`verify_tables`, and for each import's register row :mod:`verify_workers`);
  each event's time is its subject's signed time; the report summaries that
  ``settle`` pays from are the fold of the transfers up to their watermark
  (``column_mismatch``).  ``tests/tamper/test_every_column.py`` edits each
  column of each table and checks that one of these names it;
- **money** — postings replayed in chain order against every limit as it
  stood at the time, starting from the limits the signed record that made the
  account gave it, never the table's
  (``limit_exceeded``, ``limit_history_mismatch``); from the
  replayed totals, the invariants of :mod:`invariants` (``cached_totals``,
  ``zero_sum``, ``positions``; its current-limit check is replaced by the
  historical one, and its hold and reversal checks by the stricter ones
  below); each signed body stored once (``idempotency_key_reused``);
- **resolutions** — holds resolved at most once and their status
  (``hold_resolved_twice``, ``hold_status``, ``hold_expired_early``),
  reversals at most once (``reversed_twice``, ``reversal_invalid``),
  payment requests resolved once, by the right party, before expiry
  (``request_accepted_twice``, ``request_resolved_twice``, ``request_status``,
  ``request_mismatch``, ``request_payment_mismatch``, ``request_wrong_party``,
  ``request_accepted_expired``, ``request_missing``);
- **checkpoints** — each given (and each stored) checkpoint is well formed,
  of this network, signed by keys the ledger records for its signers, and the
  ledger holds exactly its history (``ledger_behind_checkpoint``,
  ``checkpoint_root_mismatch``, ``checkpoint_chain_mismatch``,
  ``checkpoint_invalid``); the Merkle block cache (``merkle_cache``).

Before all of this, the **storage**: on SQLite the database's own check of its
pages and indexes (``PRAGMA integrity_check``); a damaged file is
``storage_corrupt``, naming the first problem SQLite reports, and nothing else
is checked — what such a file says cannot be read with confidence (a damaged
index can hide rows from one query and show them to another).  PostgreSQL
checks its own pages as it reads them: nothing is run there.

Per-transfer checks (body hash, columns, postings, key, signature) run on
every core (:mod:`verify_workers`) while this process walks the chain; it
then replays the money (:mod:`verify_transfers`) from the posting rows the
workers send back, range by range in chain order.  With ``since`` (a checkpoint the
ledger still matches), the signatures of transfers it covers are not checked
again — they were when it was signed; everything else still is, including
the signatures of records and limit changes, which are few.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mutualcredit.domain import checkpoints as documents
from mutualcredit.domain import codes
from mutualcredit.domain.amounts import format_rate
from mutualcredit.domain.authority import (
    account_shape_problem,
    is_admin,
    may_sign_record,
    parse_issuance,
    record_rule,
    roles_at,
)
from mutualcredit.domain.canonical import TAG_RECORD
from mutualcredit.domain.errors import IntegrityProblem
from mutualcredit.domain.events import EVENT_TYPES, event_hash, genesis_hash
from mutualcredit.services import audit
from mutualcredit.services.collector import without_cycle_collection
from mutualcredit.services.context import Ledger
from mutualcredit.services.network import account_kind

RECORD_EVENT_TYPES = ("record", "key", "role")
# What SQLite says when the pages it reads are not what it wrote.
STORAGE_DAMAGE = ("malformed", "file is not a database", "database corrupt")
PROBLEMS_MAX = 10_000  # a ledger rewritten wholesale is reported, not listed to the last row


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    code: str
    subject: str  # "event 7", "transfer 12", "account members:ana", "key 3 (ana)", …
    message: str
    event: int | None = None
    account: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "subject": self.subject,
            "message": self.message,
            "event": self.event,
            "account": self.account,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointInput:
    label: str  # the file name, or "stored checkpoint 3"
    document: Any
    since: bool = False


@dataclass
class KeyRecord:
    handle: str
    introduced: int  # seq of the record that registered it (0: the network's creation)
    revoked: int | None = None  # seq of the record that revoked it
    revoked_at: str | None = None
    created_at: Any = None  # the registering record's time, which the key row carries


@dataclass
class Report:
    network: str
    events: int = 0
    transfers: int = 0
    records: int = 0
    signatures: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False

    @property
    def clean(self) -> bool:
        return not self.problems

    def document(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "clean": self.clean,
            "events": self.events,
            "transfers": self.transfers,
            "records": self.records,
            "signatures_checked": self.signatures,
            "checkpoints": self.checkpoints,
            "problems": [problem.document() for problem in self.problems],
            "truncated": self.truncated,
        }


Progress = Callable[[int, int], None]  # (signatures done, signatures expected)


class StorageCorrupt(IntegrityProblem):
    """The database file is damaged: SQLite cannot read it as it wrote it (exit 3)."""

    code = "storage_corrupt"


def storage_problem(ledger: Ledger) -> str | None:
    """The first problem SQLite's own check (``PRAGMA integrity_check``) finds in the file's
    pages and indexes, or None when it finds none (and on PostgreSQL, which checks its pages
    as it reads them).  ``quick_check`` would skip the comparison of each index with its
    table; the full check costs 0.7 s on a file of 100,000 signed transfers (130 MB), a
    small part of verifying them."""
    if ledger.engine.dialect.name != "sqlite":
        return None
    try:
        with ledger.read() as connection:
            lines = [
                str(line)
                for (found,) in connection.exec_driver_sql("PRAGMA integrity_check(10)")
                for line in str(found).splitlines()
            ]
    except Exception as error:  # noqa: BLE001 - only a database error is an answer here
        reason = damage(error)
        if reason is None:
            raise
        return reason
    problems = [line for line in lines if line.strip() and not line.startswith("***")]
    if problems == ["ok"]:
        return None
    return problems[0] if problems else "integrity_check gave no answer"


def damage(error: BaseException) -> str | None:
    """The first line of a database error that says the file is damaged, else None."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        error = error.orig if error.orig is not None else error
    if not isinstance(error, sqlite3.DatabaseError):
        return None
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return reason if any(sign in reason for sign in STORAGE_DAMAGE) else None


def open_for_verify(target: str) -> Ledger:
    """:meth:`Ledger.open`, where a file too damaged to read its network record (or cut
    short, which the open reports as unavailable) is :class:`StorageCorrupt`; a file that
    is no database at all stays ``not_a_ledger``."""
    from mutualcredit.domain.errors import Unavailable

    try:
        return Ledger.open(target)
    except Unavailable as error:  # a SQLite file cut short fails its first query
        if not any(sign in error.message for sign in STORAGE_DAMAGE):
            raise
        reason = error.message.rsplit(": ", 1)[-1]
    except Exception as error:
        found = damage(error)
        if found is None:
            raise
        reason = found
    raise StorageCorrupt(
        f"the database file {target} is damaged: {reason}; restore it from a backup"
    ) from None


def _corrupt_report(ledger: Ledger, reason: str) -> Report:
    report = Report(network=ledger.network.id)
    report.problems.append(
        Problem(
            code="storage_corrupt",
            subject="database file",
            message=f"the database file is damaged ({reason}): nothing else was checked, as "
            "what it says cannot be read with confidence; restore it from a backup",
        )
    )
    return report


class Verifier:
    """One run of ``verify``; see the module docstring for what it checks."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        checkpoints: Sequence[CheckpointInput] = (),
        workers: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.ledger = ledger
        self.report = Report(network=ledger.network.id)
        self.inputs = list(checkpoints)
        self.workers = workers
        self.progress = progress
        self.seen: set[tuple[str, str]] = set()
        self.bad_event_hashes: dict[int, str] = {}
        self.record_events: dict[int, int] = {}  # record id -> seq
        self.limit_events: dict[int, int] = {}  # limit change id -> seq
        self.keys: dict[int, Any] = {}
        self.recorded: dict[str, KeyRecord] = {}
        # handle -> [role, collective, granted at event, revoked at event or None]
        self.roles: dict[str, list[list[Any]]] = defaultdict(list)
        self.issuances: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        self.collective_cards: dict[str, str] = {}
        self.admitted: set[str] = set()  # handles a signed member_added record admitted
        self.resource_collectives: dict[str, Any] = {}  # slug -> its signed collective
        # account name -> (kind, owner kind, owner, collective), as the record that made it says
        self.signed_accounts: dict[str, tuple[Any, ...]] = {}
        self.signed_currencies: dict[str, tuple[Any, Any]] = {}  # code -> (scale, rate text)
        self.account_facts: dict[int, Any] = {}  # account id -> AccountFacts, from the table
        # [handle, role, collective, granted at, granted by, revoked at, revoked by]: the role
        # table's rows as the signed records made them
        self.role_rows: list[list[Any]] = []
        self.signed_records: list[tuple[int, int, dict[str, Any], str]] = []
        self.creation: dict[str, Any] = {}
        self.signed_state: Any = None  # verify_tables.SignedState
        # (event, subject, type, signed body, author) of every record and limit change
        self._authored: list[tuple[int, str, str, dict[str, Any], str]] = []
        self._event_bodies: list[tuple[int, str, str]] = []
        self._signers: Any = None

    # -- reporting ------------------------------------------------------------------------------

    def problem(
        self,
        code: str,
        subject: str,
        message: str,
        *,
        event: int | None = None,
        account: str | None = None,
    ) -> None:
        assert code in codes.BY_NAME, f"problem {code!r} is not in domain/codes.py"
        if (code, subject) in self.seen:
            return
        self.seen.add((code, subject))
        if len(self.report.problems) >= PROBLEMS_MAX:
            self.report.truncated = True
            return
        self.report.problems.append(
            Problem(code=code, subject=subject, message=message, event=event, account=account)
        )

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> Report:
        from mutualcredit.services.verify_tables import report_summaries
        from mutualcredit.services.verify_transfers import Replay
        from mutualcredit.services.verify_workers import AccountFacts, Context, Pool

        ledger = self.ledger
        wanted = self._parse_checkpoints()
        since = max((c.size for c, i in wanted if i.since), default=0)
        with ledger.read() as connection:
            self.keys = {
                int(row.id): row
                for row in connection.execute(
                    text("SELECT id, handle, public_key, created_at, revoked_at FROM key")
                )
            }
            head_size = (_chain_head(connection) or (0, ""))[0]
            # Events past the head (appended behind the program's back) are checked too.
            head_size = max(
                head_size,
                int(
                    connection.execute(text("SELECT COALESCE(MAX(seq), 0) FROM event")).scalar_one()
                ),
            )
            self._subjects(connection)
            self._genesis(connection)
            items = self._records(connection) + self._limit_changes(connection)
            accounts, owners = {}, {}
            for row in connection.execute(
                text("SELECT id, name, currency, kind, owner_kind, owner, collective FROM account")
            ):
                # (an account in a currency the table lacks is named by verify_tables)
                known = ledger.currencies.get(row.currency)
                accounts[row.name] = (
                    int(row.id),
                    row.currency,
                    0 if known is None else known.scale,
                )
                owners[int(row.id)] = AccountFacts(
                    row.name, row.kind, row.owner_kind, row.owner, row.collective
                )
            self.account_facts = owners
            self._account_owners(list(owners.values()))
            self._check_currencies()
            self._account_shapes()
            self._record_authority(
                {
                    **{a.name: a.collective for a in owners.values()},
                    **{name: signed[3] for name, signed in self.signed_accounts.items()},
                }
            )
            self._compare_tables(connection)
        context = Context(
            url=ledger.url.render_as_string(hide_password=False),
            network=ledger.network.id,
            keys={k: (row.handle, row.public_key) for k, row in self.keys.items()},
            windows=self.windows(),
            accounts=accounts,
            since=since,
            owners=owners,
            roles=dict(self.roles),
            currencies=dict(ledger.currencies),
            card=ledger.network.card,
            issuances=dict(self.issuances),
        )
        pool = Pool(context, workers=self.workers)
        try:
            pool.transfers(1, head_size)
            pool.items(items)
            with ledger.read() as connection:
                snapshots = self._walk_events(connection, {c.size for c, _ in wanted})
                if not self._compare_checkpoints(wanted, snapshots) and since:
                    pool.transfers(1, min(since, head_size), only_signatures=True)
                self._cross_check_events(connection)
                self._check_event_bodies(connection)
                self._check_key_rows()
                replay = Replay(self, connection)
                replay.replayed_bodies(connection)  # needs no facts: while the workers run
                report_summaries(connection, ledger, self.problem)  # 2.6 s per 100,000
            facts = self._collect(pool, replay)
            replay.totals()
            with ledger.read() as connection:
                replay.finish(connection, facts)
        finally:
            pool.close()
        return self.report

    def _compare_tables(self, connection: Connection) -> None:
        """The state tables the writers read, against the signed records (:mod:`verify_tables`)."""
        from mutualcredit.services import verify_tables

        network = self.ledger.network
        self.signed_state = verify_tables.fold(
            self.creation,
            self.signed_records,
            card_scale=self._card_scale(),
            default_lower=network.member_limit_lower,
            default_clearing=network.clearing_limit,
        )
        verify_tables.compare_tables(
            connection,
            self.signed_state,
            self.problem,
            dict(self.ledger.currencies),
            self.role_rows,
        )

    def _card_scale(self) -> int:
        """The network card's scale: the currency table's, or (when the network table's card
        was edited to a code that table lacks, which verify_tables names) the creation
        record's."""
        card = self.ledger.currencies.get(self.ledger.network.card)
        return int(card.scale) if card is not None else int(self.creation.get("scale") or 0)

    def windows(self) -> dict[str, Any]:
        from mutualcredit.services.verify_workers import KeyWindow

        return {
            public_key: KeyWindow(
                handle=known.handle,
                introduced=known.introduced,
                revoked=known.revoked,
                revoked_at=known.revoked_at,
            )
            for public_key, known in self.recorded.items()
        }

    # -- checkpoints ----------------------------------------------------------------------------

    def _parse_checkpoints(self) -> list[tuple[documents.Checkpoint, CheckpointInput]]:
        wanted = []
        with self.ledger.read() as connection:
            trusted = audit.ledger_keys(connection)
        for item in self.inputs:
            try:
                checkpoint = documents.parse_checkpoint(
                    item.document, network=self.ledger.network.id
                )
                documents.verify_checkpoint_signatures(checkpoint, trusted)
            except IntegrityProblem as error:
                self.problem("checkpoint_invalid", item.label, f"{item.label}: {error.message}")
                continue
            wanted.append((checkpoint, item))
        return wanted

    def _compare_checkpoints(
        self,
        wanted: list[tuple[documents.Checkpoint, CheckpointInput]],
        snapshots: dict[int, tuple[str, str]],
    ) -> bool:
        since_ok = True
        for checkpoint, item in wanted:
            outcome = "matches"
            if checkpoint.size > self.report.events:
                outcome = "ahead"
                self.problem(
                    "ledger_behind_checkpoint",
                    item.label,
                    f"{item.label} of {checkpoint.time} states {checkpoint.size} events but the "
                    f"ledger holds {self.report.events}: events were dropped, or this copy is "
                    "behind",
                    event=self.report.events + 1,
                )
            else:
                root, chain = snapshots.get(checkpoint.size, ("", ""))
                if root != checkpoint.root:
                    outcome = "differs"
                    self.problem(
                        "checkpoint_root_mismatch",
                        item.label,
                        f"the first {checkpoint.size} events are not those {item.label} of "
                        f"{checkpoint.time} signed: history was edited, inserted or reordered",
                        event=checkpoint.size,
                    )
                elif checkpoint.size and chain != checkpoint.chain_hash:
                    outcome = "differs"
                    self.problem(
                        "checkpoint_chain_mismatch",
                        item.label,
                        f"the chain hash after event {checkpoint.size} is not the one "
                        f"{item.label} signed",
                        event=checkpoint.size,
                    )
            if item.since and outcome != "matches":
                since_ok = False
            self.report.checkpoints.append(
                {
                    "label": item.label,
                    "size": checkpoint.size,
                    "root": checkpoint.root,
                    "time": checkpoint.time,
                    "signers": [s.signer for s in checkpoint.signatures],
                    "since": item.since,
                    "outcome": outcome,
                }
            )
        return since_ok

    # -- the chain ------------------------------------------------------------------------------

    def _walk_events(self, connection: Connection, sizes: set[int]) -> dict[int, tuple[str, str]]:
        """Walk every event once: numbering, event and chain hashes, Merkle root(s)."""
        from mutualcredit.services.verify_workers import raw_stream

        ledger = self.ledger
        row = connection.execute(text("SELECT genesis_hash FROM network")).one()
        result = raw_stream(
            connection,
            f"SELECT seq, type, event_hash, chain_hash, "
            f"{audit.leaf_sql(ledger.is_postgres)} FROM event ORDER BY seq",
            (),
        )
        sha256 = hashlib.sha256
        previous = bytes.fromhex(row.genesis_hash)
        expected = 1
        snapshots: dict[int, tuple[str, str]] = {}
        merkle = _MerkleWalk()
        # The Merkle tree is needed only as far as a checkpoint or a cached block reaches.
        cached = connection.execute(text("SELECT MAX(chunk) FROM merkle_chunk")).scalar()
        merkle_until = max([*sizes, 0 if cached is None else (cached + 1) * audit.CHUNK_LEAVES])
        if 0 in sizes:
            snapshots[0] = (audit.EMPTY_ROOT.hex(), row.genesis_hash)
        for seq, type_, stored_event, stored_chain, leaf in result:
            leaf = bytes(leaf)
            if seq != expected:
                missing = (
                    f"events {expected}…{seq - 1} are"
                    if seq - 1 > expected
                    else f"event {expected} is"
                )
                self.problem(
                    "event_missing",
                    f"event {expected}",
                    f"{missing} missing from the chain",
                    event=expected,
                )
                merkle.gap = True
            expected = seq + 1
            if type_ not in EVENT_TYPES:
                self.problem(
                    "event_type_unknown",
                    f"event {seq}",
                    f"event {seq} has an unknown type {type_!r}",
                    event=seq,
                )
            this = sha256(leaf).digest()
            if this.hex() != stored_event:
                self.bad_event_hashes[seq] = stored_event
            chained = sha256(previous + this).digest()
            previous = chained
            if chained.hex() != stored_chain:
                self.problem(
                    "chain_broken",
                    f"event {seq}",
                    f"the chain hash of event {seq} does not follow from event "
                    f"{seq - 1}: an event was edited, removed, inserted or moved",
                    event=seq,
                )
                if len(stored_chain) == 64:  # go on from the stored hash: one break, one report
                    previous = bytes.fromhex(stored_chain)
            if seq <= merkle_until:
                merkle.add(leaf)
            if seq in sizes:
                snapshots[seq] = (merkle.root().hex(), stored_chain)
        self.report.events = expected - 1
        self._check_head(connection, expected - 1, previous.hex())
        if not merkle.gap:
            self._check_chunks(connection, merkle.chunks)
        return snapshots

    def _genesis(self, connection: Connection) -> None:
        row = connection.execute(
            text("SELECT id, genesis_hash, creation_record FROM network")
        ).one()
        creation = json.loads(row.creation_record)
        if genesis_hash(creation) != row.genesis_hash or creation.get("network") != row.id:
            self.problem(
                "genesis_mismatch",
                "network",
                "the network's genesis hash is not the hash of its creation record",
            )
        self.recorded[str(creation.get("admin_key", ""))] = KeyRecord(
            handle=str(creation.get("admin")), introduced=0, created_at=creation.get("created_at")
        )
        self.roles[str(creation.get("admin"))].append(["admin", None, 0, None])
        self.creation = creation
        self.role_rows.append(
            [
                creation.get("admin"),
                "admin",
                None,
                creation.get("created_at"),
                creation.get("admin"),
                None,
                None,
            ]
        )

    def _subjects(self, connection: Connection) -> None:
        """Which event holds each record and limit change."""
        for seq, type_, subject_id in connection.execute(
            text(
                "SELECT seq, type, subject_id FROM event WHERE type NOT IN "
                "('transfer', 'hold_resolution') ORDER BY seq"
            )
        ):
            if type_ in RECORD_EVENT_TYPES:
                self._subject(self.record_events, int(subject_id), int(seq), "record")
            elif type_ == "limit_change":
                self._subject(self.limit_events, int(subject_id), int(seq), "limit change")

    def _subject(self, mapping: dict[int, int], subject_id: int, seq: int, what: str) -> None:
        if subject_id in mapping:
            self.problem(
                "event_duplicate",
                f"event {seq}",
                f"event {seq} repeats {what} {subject_id} of event {mapping[subject_id]}",
                event=seq,
            )
            return
        mapping[subject_id] = seq

    def _check_head(self, connection: Connection, size: int, chain_hash: str) -> None:
        head = _chain_head(connection)
        if head is None:
            self.problem(
                "chain_head_mismatch",
                "chain head",
                "the chain head row (id 1), which every write locks and extends, is "
                "missing: it was deleted or its id edited",
                event=size,
            )
            return
        head_size, head_chain = head
        if head_size != size or (size and head_chain != chain_hash):
            self.problem(
                "chain_head_mismatch",
                "chain head",
                f"the chain head says {head_size} events but the chain holds {size} "
                "(or its hash differs)",
                event=head_size,
            )

    def _check_chunks(self, connection: Connection, chunks: list[bytes]) -> None:
        # every cached block, also one numbered past the chain (which no tree would read,
        # but which says the cache was written by something else than the ledger)
        for chunk, stored in connection.execute(text("SELECT chunk, root FROM merkle_chunk")):
            chunk = int(chunk)
            try:
                root = bytes.fromhex(stored)
            except (TypeError, ValueError):
                root = b""
            if chunk >= len(chunks) or chunks[chunk] != root:
                first = chunk * audit.CHUNK_LEAVES + 1
                self.problem(
                    "merkle_cache",
                    f"merkle block {chunk}",
                    f"the cached Merkle root of events {first}…"
                    f"{first + audit.CHUNK_LEAVES - 1} does not match the events",
                    event=first,
                )

    def _event_times(self, connection: Connection) -> None:
        """An event's time is its subject's signed time (transfer, record, limit change)."""
        for row in connection.execute(
            text(
                "SELECT e.seq, e.created_at, COALESCE(t.created_at, r.created_at, c.created_at) "
                "AS signed FROM event e "
                "LEFT JOIN transfer t ON e.type IN ('transfer', 'hold_resolution') "
                "AND t.id = e.subject_id "
                "LEFT JOIN record r ON e.type IN ('record', 'key', 'role') AND r.id = e.subject_id "
                "LEFT JOIN limit_change c ON e.type = 'limit_change' AND c.id = e.subject_id "
                "WHERE e.created_at <> COALESCE(t.created_at, r.created_at, c.created_at) "
                "ORDER BY e.seq"
            )
        ):
            self.problem(
                "column_mismatch",
                f"event {row.seq}",
                f"event {row.seq} shows the time {row.created_at} but its subject was "
                f"signed at {row.signed}: it was edited",
                event=row.seq,
            )

    def _cross_check_events(self, connection: Connection) -> None:
        """Every transfer has exactly its event, and every transfer event its transfer."""
        self._event_times(connection)
        for row in connection.execute(
            text(
                "SELECT t.id, t.event_seq, t.body_hash, e.seq, e.type, e.subject_id, "
                "e.body_hash AS event_body FROM transfer t LEFT JOIN event e "
                "ON e.seq = t.event_seq WHERE e.seq IS NULL OR e.subject_id != t.id OR "
                "e.body_hash != t.body_hash OR e.type NOT IN ('transfer', 'hold_resolution')"
            )
        ):
            if row.seq is None:
                self.problem(
                    "not_chained",
                    f"transfer {row.id}",
                    f"transfer {row.id} has no event in the chain: it was inserted "
                    "behind the program's back",
                    event=row.event_seq,
                )
            elif row.subject_id == row.id and row.event_body != row.body_hash:
                self.problem(
                    "event_subject_mismatch",
                    f"transfer {row.id}",
                    f"event {row.seq} records another body hash than transfer {row.id}'s",
                    event=row.seq,
                )
        for row in connection.execute(
            text(
                "SELECT e.seq, e.type, e.subject_id, e.body_hash, e.event_hash, t.id, "
                "t.event_seq FROM event e LEFT JOIN transfer t ON t.id = e.subject_id "
                "WHERE e.type IN ('transfer', 'hold_resolution') AND "
                "(t.id IS NULL OR t.event_seq IS NULL OR t.event_seq != e.seq)"
            )
        ):
            if row.id is None:
                self.problem(
                    "event_subject_missing",
                    f"event {row.seq}",
                    f"event {row.seq} names transfer {row.subject_id}, which is not "
                    "in the ledger: it was deleted",
                    event=row.seq,
                )
                continue
            recorded = row.event_seq
            if (
                recorded is not None
                and event_hash(seq=int(recorded), type=row.type, body_hash=row.body_hash)
                == row.event_hash
            ):
                self.bad_event_hashes.pop(row.seq, None)
                self.problem(
                    "event_reordered",
                    f"event {row.seq}",
                    f"event {row.seq} holds transfer {row.subject_id}, which was "
                    f"event {recorded}: events were reordered",
                    event=row.seq,
                )
            else:
                self.problem(
                    "event_subject_mismatch",
                    f"event {row.seq}",
                    f"event {row.seq} names transfer {row.subject_id}, which "
                    f"records event {recorded}",
                    event=row.seq,
                )
        for seq in sorted(self.bad_event_hashes):
            self.problem(
                "event_hash_mismatch",
                f"event {seq}",
                f"the hash of event {seq} does not match its number, type and body "
                "hash: the event was edited or moved",
                event=seq,
            )

    # -- records, limit changes and keys ---------------------------------------------------------

    def _records(self, connection: Connection) -> list[Any]:
        items = []
        self.request_records: dict[int, tuple[int, dict[str, Any], str]] = {}
        self.closing_records: dict[int, list[tuple[int, str, dict[str, Any], int]]] = defaultdict(
            list
        )
        rows = connection.execute(
            text(
                "SELECT r.id, r.type, r.author, r.body, r.body_hash, r.key_id, r.signature, "
                "r.created_at FROM record r ORDER BY r.id"
            )
        ).all()
        documents_by_seq = []
        for row in rows:
            self.report.records += 1
            subject = f"record {row.id}"
            seq = self.record_events.get(int(row.id))
            if seq is None:
                self.problem(
                    "not_chained",
                    subject,
                    f"record {row.id} ({row.type}) has no "
                    "event in the chain: it was inserted behind the program's back",
                )
            body = _document(row.body)
            digest = hashlib.sha256(TAG_RECORD + b"\n" + row.body.encode()).hexdigest()
            if digest != row.body_hash:
                self.problem(
                    "body_hash_mismatch",
                    subject,
                    f"record {row.id} ({row.type}) does not hash to its recorded "
                    "hash: it was edited",
                    event=seq,
                )
            if (
                body is None
                or body.get("type") != row.type
                or body.get("author") != row.author
                or body.get("created_at") != row.created_at
                or body.get("network") != self.ledger.network.id
            ):
                self.problem(
                    "column_mismatch",
                    subject,
                    f"record {row.id}'s columns differ from its signed body",
                    event=seq,
                )
            if row.signature is None or row.key_id is None:
                self.problem(
                    "signature_invalid", subject, f"record {row.id} is not signed", event=seq
                )
            else:
                items.append(
                    (
                        subject,
                        seq,
                        int(row.key_id),
                        row.signature,
                        TAG_RECORD + b"\n" + row.body.encode(),
                    )
                )
            if seq is not None:
                self._event_body(seq, row.body_hash, subject)
                documents_by_seq.append((seq, int(row.id), body or {}, row))
        documents_by_seq.sort(key=lambda item: item[0])
        self.signed_records = [
            (seq, record_id, body, str(row.author))
            for seq, record_id, body, row in documents_by_seq
        ]
        for seq, _record_id, body, row in documents_by_seq:
            self._key_history(seq, body)
            self._role_history(seq, body, str(row.author))
            self._issuance_history(seq, body, str(row.author))
            self._signed_account(body)
            self._signed_currency(body)
        for seq, record_id, body, row in documents_by_seq:
            self._check_signer(row.key_id, row.author, seq, row.created_at, f"record {record_id}")
            self._authored.append(
                (seq, f"record {record_id}", str(body.get("type")), body, row.author)
            )
            kind = body.get("type")
            if kind == "payment_request":
                self.request_records[record_id] = (seq, body, row.body_hash)
            elif kind in ("request_declined", "request_withdrawn") and isinstance(
                body.get("request"), int
            ):
                self.closing_records[body["request"]].append((record_id, kind, body, seq))
        return items

    def _event_body(self, seq: int, body_hash: str, subject: str) -> None:
        self._event_bodies.append((seq, body_hash, subject))

    def _key_history(self, seq: int, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind in ("member_added", "key_registered") and isinstance(body.get("public_key"), str):
            self.recorded.setdefault(
                body["public_key"],
                KeyRecord(
                    handle=str(body.get("handle")),
                    introduced=seq,
                    created_at=body.get("created_at"),
                ),
            )
        elif kind == "key_rotated":
            self._revoke(body.get("old_key"), seq, body)
            if isinstance(body.get("new_key"), str):
                self.recorded.setdefault(
                    body["new_key"],
                    KeyRecord(
                        handle=str(body.get("handle")),
                        introduced=seq,
                        created_at=body.get("created_at"),
                    ),
                )
        elif kind == "key_revoked":
            self._revoke(body.get("public_key"), seq, body)

    def _role_history(self, seq: int, body: dict[str, Any], author: str) -> None:
        """Roles as the chain's signed records grant and revoke them (not the ``role`` table,
        which anyone holding the file can edit): ``[role, collective, from, until]``.  A
        record its author might not sign grants and revokes nothing (it is reported by
        :meth:`_record_authority`)."""
        kind, handle = body.get("type"), str(body.get("handle"))
        if kind not in ("member_added", "role_granted", "role_revoked"):
            return
        if kind == "member_added":
            self.admitted.add(handle)
        rule = record_rule(
            str(kind),
            body,
            member_collective=self._member_collective,
            account_collective=lambda name: None,
            resource_collective=lambda slug: None,
        )
        assert rule is not None
        if not may_sign_record(author, roles_at(self.roles.get(author, ()), seq), rule, handle):
            return
        at = body.get("created_at")
        if kind == "member_added":
            if body.get("coordinator") is True:
                self.roles[handle].append(["coordinator", body.get("collective"), seq, None])
                self.role_rows.append(
                    [handle, "coordinator", body.get("collective"), at, author, None, None]
                )
        elif kind == "role_granted":
            self.roles[handle].append([body.get("role"), body.get("collective"), seq, None])
            self.role_rows.append(
                [handle, body.get("role"), body.get("collective"), at, author, None, None]
            )
        else:
            for window in self.roles[handle]:
                if window[:2] == [body.get("role"), body.get("collective")] and window[3] is None:
                    window[3] = seq
            for row in self.role_rows:
                if row[:3] == [handle, body.get("role"), body.get("collective")] and row[5] is None:
                    row[5], row[6] = at, author
                    break

    def _issuance_history(self, seq: int, body: dict[str, Any], author: str) -> None:
        """Issuances as the admin's signed ``issuance_set`` records fix them; one signed by
        anyone else fixes nothing (and is reported by :meth:`_record_authority`)."""
        if body.get("type") != "issuance_set" or not is_admin(
            roles_at(self.roles.get(author, ()), seq)
        ):
            return
        collective = str(body.get("collective"))
        issuance = parse_issuance(body, collective)
        if issuance is not None:
            self.issuances[collective].append((seq, issuance))

    def _account_shapes(self) -> None:
        """Every account a signed record added agrees with its name: its owner and its
        currency (:func:`~mutualcredit.domain.authority.account_shape_problem`)."""
        cards: dict[str, set[str]] = defaultdict(set)
        for slug, currency in self.collective_cards.items():
            cards[currency].add(slug)
        for seq, subject, kind, body, _author in self._authored:
            if kind != "account_added":
                continue
            problem = account_shape_problem(
                str(body.get("name")),
                str(body.get("owner")),
                str(body.get("currency")),
                issuers=lambda code: cards.get(code, ()),
                network_card=self.ledger.network.card,
            )
            if problem is not None:
                self.problem(
                    "account_invalid",
                    subject,
                    f"{subject} (event {seq}): {problem}",
                    event=seq,
                    account=str(body.get("name")),
                )

    def _account_owners(self, rows: Sequence[Any]) -> None:
        """Each account's kind, owner and collective are what the signed record that made it
        says — a member's admission, a collective's creation, an account or a resource
        added — not an edit of the account table: they decide who may move its money.
        ``rows``: the table's accounts (``AccountFacts``)."""
        present = {row.name for row in rows}
        for handle in sorted(self.admitted):
            name = f"members:{handle}"
            if name not in present:
                self.problem(
                    "column_mismatch",
                    f"account {name}",
                    f"{name}, which a signed record admitted {handle} with, is not in "
                    "the ledger: it was renamed or deleted",
                    account=name,
                )
        for row in rows:
            actual = (row.kind, row.owner_kind, row.owner, row.collective)
            expected = self.signed_accounts.get(row.name)
            if expected is None:
                if row.kind == "member" or row.owner_kind == "member":
                    self.problem(
                        "column_mismatch",
                        f"account {row.name}",
                        f"{row.name} names {row.owner} as its owner, but no signed "
                        f"record admitted {row.owner} with it: it was edited",
                        account=row.name,
                    )
            elif actual != expected:
                self.problem(
                    "column_mismatch",
                    f"account {row.name}",
                    f"{row.name} is {_facts(actual)} in the account table but "
                    f"{_facts(expected)} in the signed record that made it: it was "
                    "edited",
                    account=row.name,
                )

    def _signed_currency(self, body: dict[str, Any]) -> None:
        """A currency's rate (and scale, where the record gives it) as the record that added
        it says: a collective's own currency comes with the collective."""
        kind = body.get("type")
        if kind == "currency_added":
            self.signed_currencies.setdefault(
                str(body.get("code")), (body.get("scale"), body.get("rate"))
            )
        elif kind == "collective_added":
            self.signed_currencies.setdefault(str(body.get("currency")), (None, body.get("rate")))
            self.collective_cards.setdefault(str(body.get("slug")), str(body.get("currency")))

    def _check_currencies(self) -> None:
        """Rates decide whether a payment's clearing legs mirror (who may debit clearing):
        the currency table must say what the signed records said."""
        for code, currency in sorted(self.ledger.currencies.items()):
            signed = self.signed_currencies.get(code)
            if signed is None:
                continue
            scale, rate = signed
            if rate != format_rate(currency.rate) or scale not in (None, currency.scale):
                self.problem(
                    "column_mismatch",
                    f"currency {code}",
                    f"currency {code} has scale {currency.scale} and rate "
                    f"{format_rate(currency.rate)} in the currency table but "
                    f"{'' if scale is None else f'scale {scale} and '}rate {rate} in "
                    "the signed record that added it: it was edited",
                )

    def _signed_account(self, body: dict[str, Any]) -> None:
        """What a record that makes accounts says they are: (kind, owner kind, owner,
        collective) by name, the first record naming an account deciding."""
        kind, accounts = body.get("type"), self.signed_accounts
        if kind == "member_added":
            handle, collective = str(body.get("handle")), body.get("collective")
            accounts.setdefault(f"members:{handle}", ("member", "member", handle, collective))
        elif kind == "collective_added":
            slug = str(body.get("slug"))
            accounts.setdefault(f"collectives:{slug}:fund", ("fund", "collective", slug, slug))
            accounts.setdefault(
                f"collectives:{slug}:clearing", ("clearing", "collective", slug, slug)
            )
            accounts.setdefault(
                f"network:clearing:{slug}", ("network_clearing", "network", None, slug)
            )
        elif kind == "account_added":
            name, owner = str(body.get("name")), body.get("owner")
            accounts.setdefault(
                name,
                (account_kind(name), "network", None, None)
                if owner == "network"
                else (account_kind(name), "collective", owner, owner),
            )
        elif kind == "resource_added":
            collective = body.get("collective")
            accounts.setdefault(
                str(body.get("account")), ("resource", "collective", collective, collective)
            )
            self.resource_collectives.setdefault(str(body.get("slug")), collective)

    def _member_collective(self, handle: str) -> str | None:
        """The collective a signed record admitted ``handle`` to."""
        signed = self.signed_accounts.get(f"members:{handle}")
        return None if signed is None else signed[3]

    def _record_authority(self, account_collectives: dict[str, str | None]) -> None:
        """Each record and limit change was signed by someone its service would have let
        sign it, with the roles the chain's signed records had granted at that point: a
        role granted by a forged record is itself reported, and grants nothing."""
        for seq, subject, kind, body, author in sorted(self._authored, key=lambda a: a[0]):
            rule = record_rule(
                kind,
                body,
                member_collective=self._member_collective,
                account_collective=account_collectives.get,
                resource_collective=self.resource_collectives.get,
            )
            if rule is None or may_sign_record(
                author, roles_at(self.roles.get(author, ()), seq), rule, str(body.get("handle"))
            ):
                continue
            who = "the admin" + (
                f" or a coordinator of {rule.collective}" if rule.collective else ""
            )
            if not rule.roles_may:
                who = "the member it is about"
            elif rule.subject_may:
                who += ", or the member it is about"
            self.problem(
                "not_authorised",
                subject,
                f"{subject} ({kind}, event {seq}) is signed by {author}, but only "
                f"{who} might sign it at that point of the chain",
                event=seq,
            )

    def _revoke(self, public_key: Any, seq: int, body: dict[str, Any]) -> None:
        known = self.recorded.get(public_key) if isinstance(public_key, str) else None
        if known is not None and known.revoked is None:
            known.revoked = seq
            known.revoked_at = str(body.get("created_at"))

    def _check_signer(
        self, key_id: Any, author: str, seq: int, created_at: str, subject: str
    ) -> None:
        """The key that signed event ``seq`` was the author's, registered and not revoked."""
        from mutualcredit.services.verify_workers import Context, key_problem

        if self._signers is None:
            self._signers = Context(
                url="",
                network="",
                accounts={},
                windows=self.windows(),
                keys={k: (row.handle, row.public_key) for k, row in self.keys.items()},
            )
        found = key_problem(
            self._signers, None if key_id is None else int(key_id), author, seq, created_at, subject
        )
        if found is not None:
            self.problem(*found, event=seq)

    def _limit_changes(self, connection: Connection) -> list[Any]:
        items = []
        self.limit_history: dict[str, list[tuple[int, Any, Any, Any, Any]]] = defaultdict(list)
        rows = connection.execute(
            text(
                "SELECT c.id, a.name, c.author, c.old_lower, c.new_lower, c.old_upper, "
                "c.new_upper, "
                "c.reason, c.body, c.body_hash, c.key_id, c.signature, c.created_at "
                "FROM limit_change c LEFT JOIN account a ON a.id = c.account_id ORDER BY c.id"
            )
        )
        for row in rows:
            subject = f"limit change {row.id}"
            seq = self.limit_events.get(int(row.id))
            if seq is None:
                self.problem(
                    "not_chained", subject, f"{subject} has no event in the chain", account=row.name
                )
            digest = hashlib.sha256(TAG_RECORD + b"\n" + row.body.encode()).hexdigest()
            if digest != row.body_hash:
                self.problem(
                    "body_hash_mismatch",
                    subject,
                    f"{subject} does not hash to its recorded hash: it was edited",
                    event=seq,
                    account=row.name,
                )
            body = _document(row.body) or {}
            fields = (
                "account",
                "old_lower",
                "new_lower",
                "old_upper",
                "new_upper",
                "reason",
                "author",
                "created_at",
            )
            stored = (
                row.name,
                row.old_lower,
                row.new_lower,
                row.old_upper,
                row.new_upper,
                row.reason,
                row.author,
                row.created_at,
            )
            if tuple(body.get(name) for name in fields) != stored:
                self.problem(
                    "column_mismatch",
                    subject,
                    f"{subject}'s columns differ from its signed body",
                    event=seq,
                    account=row.name,
                )
            if seq is not None:
                self._check_signer(row.key_id, row.author, seq, row.created_at, subject)
                self._authored.append((seq, subject, "limit_change", body, row.author))
                self._event_body(seq, row.body_hash, subject)
                items.append(
                    (
                        subject,
                        seq,
                        int(row.key_id),
                        row.signature,
                        TAG_RECORD + b"\n" + row.body.encode(),
                    )
                )
                self.limit_history[str(body.get("account", row.name))].append(
                    (
                        seq,
                        body.get("old_lower"),
                        body.get("new_lower"),
                        body.get("old_upper"),
                        body.get("new_upper"),
                    )
                )
        return items

    def _check_event_bodies(self, connection: Connection) -> None:
        """Events of records and limit changes record their subjects' body hashes."""
        wanted = {seq: (body_hash, subject) for seq, body_hash, subject in self._event_bodies}
        self._event_bodies = []
        if not wanted:
            return
        rows = connection.execute(
            text(
                "SELECT seq, body_hash FROM event WHERE type NOT IN ('transfer', 'hold_resolution')"
            )
        )
        present = set()
        for seq, body_hash in rows:
            if seq in wanted:
                present.add(seq)
                if wanted[seq][0] != body_hash:
                    self.problem(
                        "event_subject_mismatch",
                        wanted[seq][1],
                        f"event {seq} records another body hash than {wanted[seq][1]}'s",
                        event=seq,
                    )
        chained = set(self.record_events.values()) | set(self.limit_events.values())
        for seq in chained - present:
            self.problem(
                "event_subject_missing",
                f"event {seq}",
                f"event {seq} names a record that is not in the ledger",
                event=seq,
            )
        record_ids = {r for r in self.record_events}
        known = {int(r) for (r,) in connection.execute(text("SELECT id FROM record"))}
        for record_id in sorted(record_ids - known):
            seq = self.record_events[record_id]
            self.problem(
                "event_subject_missing",
                f"event {seq}",
                f"event {seq} names record {record_id}, which is not in the ledger: it was deleted",
                event=seq,
            )
        limit_ids = {int(r) for (r,) in connection.execute(text("SELECT id FROM limit_change"))}
        for change_id in sorted(set(self.limit_events) - limit_ids):
            seq = self.limit_events[change_id]
            self.problem(
                "event_subject_missing",
                f"event {seq}",
                f"event {seq} names limit change {change_id}, which is not in the "
                "ledger: it was deleted",
                event=seq,
            )

    def _check_key_rows(self) -> None:
        in_table = set()
        for key in self.keys.values():
            in_table.add(key.public_key)
            subject = f"key {key.id} ({key.handle})"
            known = self.recorded.get(key.public_key)
            if known is None or known.handle != key.handle:
                self.problem(
                    "key_not_recorded",
                    subject,
                    f"key {key.id} of {key.handle} ({key.public_key[:16]}…) was not "
                    "registered by any signed record: it was inserted or replaced "
                    "behind the program's back",
                )
            elif (known.revoked_at or None) != (key.revoked_at or None):
                self.problem(
                    "key_revocation_mismatch",
                    subject,
                    f"key {key.id} of {key.handle} shows revocation "
                    f"{key.revoked_at or 'none'} but the signed records say "
                    f"{known.revoked_at or 'none'}",
                )
            elif known.created_at is not None and known.created_at != key.created_at:
                self.problem(
                    "column_mismatch",
                    subject,
                    f"key {key.id} of {key.handle} shows it registered at "
                    f"{key.created_at} but the signed record that registered it says "
                    f"{known.created_at}: it was edited",
                )
        for public_key, known in self.recorded.items():
            if public_key not in in_table:
                self.problem(
                    "key_missing",
                    f"key of {known.handle}",
                    f"the key {public_key[:16]}… of {known.handle} registered at event "
                    f"{known.introduced} is missing from the key table",
                    event=known.introduced or None,
                )

    # -- signatures -----------------------------------------------------------------------------

    def _collect(self, pool: Any, replay: Any) -> list[Any]:
        """The workers' facts, in the order their ranges were sent (chain order), each range's
        transfers replayed as it arrives."""
        total = len(pool.futures)
        collected = []
        for done, future in enumerate(pool.futures, start=1):
            facts = future.result()
            replay.feed(facts)
            facts.moves, facts.sums = [], None
            self.report.signatures += facts.signatures
            self.report.transfers += facts.transfers
            for code, subject, message, seq, account in facts.problems:
                self.problem(code, subject, message, event=seq, account=account)
            collected.append(facts)
            if self.progress is not None:
                self.progress(done, total)
        return collected


class _MerkleWalk:
    """The streaming root of :func:`mutualcredit.domain.merkle.root_from_leaves`, plus the
    roots of the complete blocks of :data:`audit.CHUNK_LEAVES` events it passes."""

    def __init__(self) -> None:
        self.stack: list[bytes] = []
        self.count = 0
        self.chunks: list[bytes] = []
        self.gap = False

    def add(self, leaf: bytes) -> None:
        sha256 = hashlib.sha256
        stack = self.stack
        digest = sha256(b"\x00" + leaf).digest()
        self.count += 1
        carry, width = self.count, 1
        while not carry & 1:
            digest = sha256(b"\x01" + stack.pop() + digest).digest()
            carry >>= 1
            width <<= 1
            if width == audit.CHUNK_LEAVES:
                self.chunks.append(digest)
        stack.append(digest)

    def root(self) -> bytes:
        from mutualcredit.domain.merkle import node_hash

        digest = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def _stored_checkpoints(ledger: Ledger) -> list[Any]:
    """:func:`audit.stored_checkpoints`, where a document that is not JSON (edited) stays
    text, to be reported ``checkpoint_invalid`` rather than stop verify."""
    with ledger.read() as connection:
        rows = connection.execute(text("SELECT document FROM checkpoint ORDER BY size, id"))
        return [_document(row.document) or row.document for row in rows]


def _chain_head(connection: Connection) -> tuple[int, str] | None:
    """:func:`audit.event_count`, or None when its row is not there."""
    row = connection.execute(
        text("SELECT seq, chain_hash FROM chain_head WHERE id = 1")
    ).one_or_none()
    return None if row is None else (int(row.seq), str(row.chain_hash))


def _facts(facts: tuple[Any, ...]) -> str:
    kind, owner_kind, owner, collective = facts
    return f"a {kind} account of {owner_kind} {owner or ''}".rstrip() + (
        f" in {collective}" if collective else ""
    )


def _document(body: str) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _identity(document: Any) -> tuple[Any, ...]:
    """What makes two copies of a checkpoint the same checkpoint (signatures aside)."""
    try:
        if isinstance(document, str | bytes):
            document = json.loads(document)
        return (
            document.get("network"),
            document.get("size"),
            document.get("root"),
            document.get("time"),
        )
    except (ValueError, AttributeError, RecursionError):
        return (id(document),)


def verify_ledger(
    ledger: Ledger,
    *,
    checkpoints: Sequence[CheckpointInput] = (),
    include_stored: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Verify the whole ledger (see the module docstring); never raises for what it finds."""
    reason = storage_problem(ledger)
    if reason is not None:
        return _corrupt_report(ledger, reason)
    inputs = list(checkpoints)
    if include_stored:
        given = {_identity(item.document) for item in inputs}
        for index, document in enumerate(_stored_checkpoints(ledger), start=1):
            if _identity(document) not in given:
                inputs.append(
                    CheckpointInput(label=f"stored checkpoint {index}", document=document)
                )
    try:
        with without_cycle_collection():
            return Verifier(ledger, checkpoints=inputs, workers=workers, progress=progress).run()
    except Exception as error:
        reason = damage(error)  # pages damaged after (or past) the check above
        if reason is None:
            raise
        return _corrupt_report(ledger, reason)
