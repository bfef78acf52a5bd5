"""Importing an export into the ledger: validate every row, post each exactly once.

The library API behind ``mutualcredit import``::

    from mutualcredit.imports.service import import_file

    summary = import_file(ledger, signer, "tickets.csv", "tickets.toml")
    summary.imported, summary.already_imported, summary.batch_id

A **run** is one call (one command).  It validates and posts the data; how
the two overlap depends on the database:

1. **Validate.**  The file is streamed once through the reader and the row
   parser.  Each row's external id is checked against this file (an id twice
   is a problem) and against the ledger's register of imported rows
   (``import_row``, unique by *source and external id*, whoever imported
   it): a known id with the same content is *already imported*, with other
   content a *conflict*.  New rows are parsed into postings and spooled to a
   temporary file in a compact form, so memory stays bounded whatever the
   file's size.  If any row has a problem (or any conflict), nothing is
   written and :class:`ImportRefused` carries the summary — unless
   ``skip_invalid``, which leaves those rows out and copies them verbatim to
   the rejects file.  A file-level problem (empty, binary, too large, a
   missing column) always refuses the whole file.
2. **Post.**  The spooled rows are posted in batches of at most
   :data:`IMPORT_BATCH_ROWS` transfers, each batch one call of the ledger's
   one writer (:func:`mutualcredit.services.posting.post_batch`), signed once
   by the importer over the batch's transfers and recording the file's and
   the rules' SHA-256, the source, the run's counts and its part number.
   Inside each batch's write transaction the ``before`` hook re-checks the
   register under the write lock and the ``after`` hook inserts the
   register's rows, so a row is registered if and only if its transfer is in
   the ledger.

On PostgreSQL (and for a dry run, or where there is no ``fork``) the two
passes run one after the other: the whole file is validated before the
first batch is written, and each batch is a transaction of its own.  On
SQLite they overlap (:class:`_Streamed`): a forked helper validates and
drafts the file while this process posts the rows drafted so far, batch by
batch through the same posting function, in ONE write transaction that
commits only once the whole file has been read — all or nothing, as before,
in about two thirds of the time, at the price of the write lock being held
for the whole run.

A run killed at any moment (even ``kill -9``) leaves its committed batches
whole (streamed: nothing at all) and nothing of the batch in flight; running
the same command again finds the committed rows *already imported* and
posts the rest — every row exactly once.  Two runs at the same time behave
the same way: whichever commits a row first imports it; the other counts it
as already imported.

A row's **content** is the set of values the rules read from it (external id,
date, amount, description, filter and placeholder fields), hashed with
SHA-256: re-downloads may change other columns freely, but an export that now
says something else about an imported sale (another amount, or ``Estornado``
after ``Aprovado``) is a conflict that a person must resolve (e.g. with a
reversal).  Changing a rules file's ``fields`` changes what is hashed, so
re-importing old exports under such rules reports conflicts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import operator
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import IntegrityProblem, Refused
from mutualcredit.domain.transfers import TRANSFERS_PER_BATCH_MAX, Posting, TransferDraft
from mutualcredit.imports.reader import SIZE_LIMIT_DEFAULT, Problem, Record, SourceReader
from mutualcredit.imports.rows import CACHE_SIZE_MAX, Filtered, ParsedRow, RowParser
from mutualcredit.imports.rules import Rules, load_rules
from mutualcredit.persistence.bulk import bulk_insert, driver_rows, placeholders
from mutualcredit.services.clock import iso, now
from mutualcredit.services.collector import without_cycle_collection
from mutualcredit.services.context import Ledger, begin_write
from mutualcredit.services.keys import Signer
from mutualcredit.services.output_files import check_output, open_output
from mutualcredit.services.posting import SignedTransfer

IMPORT_BATCH_ROWS = 10_000  # transfers per signed batch: bounds the memory of one write
LOOKUP_ROWS = 500  # external ids per query of the register
RANGE_LOOKUP_FROM = 100  # ids from which the register is read as a range first (SQLite)
CHUNK_ROWS = 5_000  # records classified together (one set of register queries)
SPOOL_CHUNK_ROWS = 2_000  # parsed rows per marshal record in the spool
PROBLEMS_KEPT_MAX = 1_000  # problems listed in a summary; all are counted
CONTENT_HASH_LENGTH = 32  # hex digits of SHA-256 kept in the register
IMPORT_ROLES = ("admin", "coordinator", "importer")
REGISTER_COLUMNS = (
    "source",
    "external_id",
    "content_hash",
    "transfer_id",
    "batch_id",
    "line",
    "occurred_at",
)

assert IMPORT_BATCH_ROWS <= TRANSFERS_PER_BATCH_MAX

Progress = Callable[[str, int, int | None], None]  # phase, rows done, rows in all (if known)


@dataclass(slots=True, kw_only=True)
class ImportSummary:
    """What a run read, imported and left out; see ``schemas/import-summary.schema.json``.

    Every row read is counted in exactly one of ``imported``, ``filtered``,
    ``already_imported``, ``conflicts`` and ``rejected``.  ``imported`` counts
    the rows posted by this run (with ``dry_run``, those that would be).
    ``totals`` maps ``(account, currency)`` to the signed minor units those
    rows moved.
    """

    file: str
    rules: str
    source: str
    importer: str
    dry_run: bool
    skip_invalid: bool
    file_sha256: str | None = None
    rules_sha256: str = ""
    read: int = 0
    imported: int = 0
    filtered: int = 0
    already_imported: int = 0
    conflicts: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    filtered_reasons: Counter[str] = field(default_factory=Counter)
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    batch_ids: list[int] = field(default_factory=list)
    rejects: str | None = None
    started_at: str = ""
    finished_at: str = ""

    @property
    def batch_id(self) -> int | None:
        """The run's first batch (``None`` if it wrote nothing)."""
        return self.batch_ids[0] if self.batch_ids else None

    @property
    def written(self) -> bool:
        return bool(self.batch_ids)

    def add_problem(self, problem: Problem) -> None:
        self.problems_total += 1
        if len(self.problems) < PROBLEMS_KEPT_MAX:
            self.problems.append(problem)

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "imported": self.imported,
            "filtered": self.filtered,
            "already_imported": self.already_imported,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
        }

    def document(self, ledger: Ledger) -> dict[str, Any]:
        """The summary as JSON (amounts as strings with the currency's decimals)."""
        return {
            "file": self.file,
            "rules": self.rules,
            "source": self.source,
            "importer": self.importer,
            "dry_run": self.dry_run,
            "skip_invalid": self.skip_invalid,
            "file_sha256": self.file_sha256,
            "rules_sha256": self.rules_sha256,
            **self.counts(),
            "filtered_reasons": dict(sorted(self.filtered_reasons.items())),
            "problems": [
                {
                    "file": p.file,
                    "line": p.line,
                    "column": p.column,
                    "code": p.code,
                    "message": p.message,
                }
                for p in self.problems
            ],
            "problems_total": self.problems_total,
            "totals": [
                {
                    "account": account,
                    "currency": currency,
                    "amount": format_amount(amount, ledger.currency(currency).scale),
                }
                for (account, currency), amount in sorted(self.totals.items())
            ],
            "batch_id": self.batch_id,
            "batch_ids": list(self.batch_ids),
            "rejects": self.rejects,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class ImportRefused(Refused):
    """The file has problems (or conflicts) and nothing was imported; ``summary`` says which."""

    code = "import_refused"

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message)
        self.summary = summary


class _Raced(Exception):
    """Inside a batch's transaction: some of its rows were registered meanwhile."""

    def __init__(self, known: dict[str, tuple[str, int]]) -> None:
        super().__init__(f"{len(known)} rows were imported by another run")
        self.known = known


# -- the run -----------------------------------------------------------------------------------


def import_file(
    ledger: Ledger,
    signer: Signer,
    path: str | Path,
    rules_path: str | Path,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    rejects: str | Path | None = None,
    progress: Progress | None = None,
    size_limit: int = SIZE_LIMIT_DEFAULT,
) -> ImportSummary:
    """Import one export file with one rules file; see the module docstring.

    Raises :class:`ImportRefused` (with ``.summary``) when rows have problems
    or conflicts and ``skip_invalid`` is false, or when the file as a whole
    cannot be imported; ``RulesInvalid`` for a bad rules file; the ledger's
    own errors (``account_not_found``, ``not_authorised``, …) before anything
    is written.
    """
    with without_cycle_collection():
        return _import_file(
            ledger,
            signer,
            path,
            rules_path,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            rejects=rejects,
            progress=progress,
            size_limit=size_limit,
        )


def _import_file(
    ledger: Ledger,
    signer: Signer,
    path: str | Path,
    rules_path: str | Path,
    *,
    dry_run: bool,
    skip_invalid: bool,
    rejects: str | Path | None,
    progress: Progress | None,
    size_limit: int,
) -> ImportSummary:
    if rejects is not None:
        check_output(rejects)  # a symlink or a directory is refused before anything is written
    rules = load_rules(rules_path, currency_scale=lambda code: ledger.currency(code).scale)
    summary = ImportSummary(
        file=str(path),
        rules=str(rules_path),
        source=rules.source,
        importer=signer.handle,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        rules_sha256=_sha256_file(rules_path),
        started_at=iso(now()),
        rejects=str(rejects) if rejects is not None else None,
    )
    _require_import_role(ledger, signer.handle)
    _require_issuance(ledger, rules)
    report = progress or (lambda phase, done, total: None)
    if not dry_run and _streams(ledger):
        rejected_lines = _Streamed(ledger, signer, rules, summary, path, size_limit, report).run()
    else:
        rejected_lines = _import_in_two_passes(
            ledger, signer, rules, summary, path, size_limit, report
        )
    summary.finished_at = iso(now())
    _write_rejects(summary, rules, rejected_lines, rejects if skip_invalid else None)
    return summary


def _import_in_two_passes(
    ledger: Ledger,
    signer: Signer,
    rules: Rules,
    summary: ImportSummary,
    path: str | Path,
    size_limit: int,
    report: Progress,
) -> list[tuple[int, int]]:
    """Validate the whole file, then post it in batches of their own (see the module
    docstring); also every dry run.  Returns the rejected rows' lines."""
    with tempfile.TemporaryFile(prefix="mutualcredit-import-") as spool:
        signing = None if summary.dry_run else _Signing(ledger, signer, rules.source, spool)
        try:
            validation = _Validation(ledger, rules, summary, path, size_limit, signing, report)
            validation.run()
            _refuse_if_refused(summary, validation.fatal)
            _check_accounts(ledger, validation.accounts)
            if signing is not None:
                signing.finish()
        finally:
            if signing is not None:
                signing.close()
        if signing is None:  # a dry run
            summary.imported = validation.parsed
            summary.totals = dict(validation.totals)
        else:
            spool.seek(0)
            _Poster(ledger, signer, rules, summary, signing.drafts, validation.parsed, report).run(
                spool
            )
    return validation.rejected_lines


def _refused(summary: ImportSummary, fatal: bool) -> bool:
    """Whether nothing of the run may be written: a file-level problem, or problems in
    rows (or conflicts) without ``skip_invalid``."""
    return fatal or bool(summary.problems_total and not summary.skip_invalid)


def _refuse_if_refused(summary: ImportSummary, fatal: bool) -> None:
    if _refused(summary, fatal):
        summary.finished_at = iso(now())
        raise ImportRefused(_refusal_message(summary, fatal), summary)


def _refusal_message(summary: ImportSummary, fatal: bool) -> str:
    first = summary.problems[0] if summary.problems else None
    if fatal and first is not None:
        return f"{first}; nothing was imported"
    noun = "problem" if summary.problems_total == 1 else "problems"
    where = f" (first: {first})" if first is not None else ""
    return (
        f"{summary.file}: {summary.problems_total} {noun} in {summary.rejected} rows and "
        f"{summary.conflicts} conflicts{where}; nothing was imported"
    )


def _sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _require_import_role(ledger: Ledger, handle: str) -> None:
    from mutualcredit.services.network import roles_of
    from mutualcredit.services.posting import NotAuthorised

    with ledger.read() as connection:
        roles = {role for role, _scope in roles_of(connection, handle)}
    if not roles & set(IMPORT_ROLES):
        raise NotAuthorised(
            f"{handle} may not import: it needs the importer, coordinator or admin role"
        )


def _require_issuance(ledger: Ledger, rules: Rules) -> None:
    """A rules file's ``[issuance]`` says what the admin's signed issuance record says — the
    rate, the income's currency and the account credited — or nothing is imported (the
    posting function would refuse each row; this names the cause once, up front)."""
    from mutualcredit.services.posting import NotAuthorised, issuance_record

    issuance = rules.issuance
    if issuance is None:
        return
    segments = issuance.debit.split(":")
    collective = (
        segments[1]
        if len(segments) == 3 and segments[0] == "collectives" and segments[2] == "issuance"
        else None
    )
    if collective is None:
        raise NotAuthorised(
            f"issuance.debit {issuance.debit} is not a collective's issuance "
            "account (collectives:SLUG:issuance)",
            code="issuance_not_authorised",
        )
    with ledger.read() as connection:
        record = issuance_record(connection, collective)
    if record is None:
        raise NotAuthorised(
            f"{collective} has no signed issuance record: the admin fixes it "
            f"with 'collective issuance {collective} --against … --rate … "
            "--into …'",
            code="issuance_not_authorised",
        )
    if (record.against, record.rate, record.into) != (
        rules.currency,
        issuance.rate,
        issuance.credit,
    ):
        raise NotAuthorised(
            f"the rules file issues {collective}'s card at {issuance.rate} per "
            f"{rules.currency} into {issuance.credit}, but its signed issuance record says "
            f"{record.rate} per {record.against} into {record.into}",
            code="issuance_not_authorised",
        )


def _check_accounts(ledger: Ledger, accounts: dict[str, str]) -> None:
    """Every account the rows touch exists, is open and has the rows' currency."""
    from mutualcredit.services.posting import AccountClosed, AccountNotFound, CurrencyMismatch

    if not accounts:
        return
    found: dict[str, Any] = {}
    statement = text("SELECT name, currency, status FROM account WHERE name IN :names").bindparams(
        bindparam("names", expanding=True)
    )
    names = sorted(accounts)
    with ledger.read() as connection:
        for start in range(0, len(names), LOOKUP_ROWS):
            for row in connection.execute(statement, {"names": names[start : start + LOOKUP_ROWS]}):
                found[row.name] = row
    missing = [name for name in names if name not in found]
    if missing:
        raise AccountNotFound(
            f"account{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'do' if len(missing) > 1 else 'does'} not exist; add "
            f"{'them' if len(missing) > 1 else 'it'} with 'mutualcredit account add'",
            account=missing[0],
        )
    for name in names:
        row = found[name]
        if row.status != "open":
            raise AccountClosed(f"account {name} is closed", account=name)
        if row.currency != accounts[name]:
            raise CurrencyMismatch(
                f"account {name} is in {row.currency}, not {accounts[name]}", account=name
            )


# -- pass 1: validate and classify -------------------------------------------------------------


def content_hash(rules: Rules, values: tuple[str | None, ...]) -> str:
    """The register's hash of a row: the values the rules read, by field name.

    That is SHA-256 of ``name\x1fvalue`` pairs (values stripped, ``None`` as
    empty), sorted by name and joined with ``\x1e``.  Registers written by
    earlier versions hold it, so it never changes (``test_content_hash.py``).
    """
    return row_hasher(rules.fields_needed)(values)


@functools.lru_cache(maxsize=16)
def row_hasher(fields: tuple[str, ...]) -> Callable[[tuple[str | None, ...]], str]:
    """:func:`content_hash` for rows of these fields (the loops call it once per row)."""
    template, ordered = _hash_plan(fields)
    sha256, strip = hashlib.sha256, str.strip

    def row_hash(values: tuple[str | None, ...]) -> str:
        if None in values:
            values = tuple("" if value is None else value for value in values)
        joined = template % tuple(map(strip, ordered(values)))  # type: ignore[arg-type]
        return sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:CONTENT_HASH_LENGTH]

    return row_hash


def _hash_plan(fields: tuple[str, ...]) -> tuple[str, Callable[[tuple[str, ...]], tuple[str, ...]]]:
    """The joined pairs as a %-template, and a function picking the values in name order."""
    order = [index for _name, index in sorted((name, index) for index, name in enumerate(fields))]
    template = "\x1e".join(fields[index].replace("%", "%%") + "\x1f%s" for index in order)
    if len(order) == 1:
        only = order[0]
        return template, lambda values: (values[only],)
    return template, operator.itemgetter(*order)


class _Validation:
    """Pass 1: read every record, classify it, spool the new rows."""

    def __init__(
        self,
        ledger: Ledger,
        rules: Rules,
        summary: ImportSummary,
        path: str | Path,
        size_limit: int,
        signing: _Signing | None,
        progress: Progress,
    ) -> None:
        self.ledger = ledger
        self.rules = rules
        self.summary = summary
        self.reader = SourceReader(path, rules, size_limit=size_limit)
        self.parser = RowParser(rules, file=self.reader.name)
        self.row_hash = row_hasher(rules.fields_needed)
        self.signing = signing  # None for a dry run: nothing is spooled
        self.progress = progress
        self.fatal = False
        self.parsed = 0
        self.accounts: dict[str, str] = {}  # account -> currency
        self.totals: Counter[tuple[str, str]] = Counter()
        self.rejected_lines: list[tuple[int, int]] = []  # (first line, lines), for the rejects
        self._pending: list[tuple[Any, ...]] = []
        self._iso: dict[datetime, str] = {}
        self._registered: bool | None = None
        self._last_rejected_line = 0

    def run(self) -> None:
        chunk: list[Record] = []
        for item in self.reader:
            if item.__class__ is Record:
                chunk.append(item)  # type: ignore[arg-type]
                if len(chunk) >= CHUNK_ROWS:
                    self._classify(chunk)
                    chunk = []
                continue
            self._classify(chunk)
            chunk = []
            self._reader_problem(item)  # type: ignore[arg-type]
        self._classify(chunk)
        self._flush_spool()
        self.summary.file_sha256 = self.reader.sha256

    def _reader_problem(self, problem: Problem) -> None:
        self.summary.add_problem(problem)
        if problem.fatal:
            self.fatal = True
            return
        if problem.line != self._last_rejected_line:  # several problems of one row count once
            self._last_rejected_line = problem.line
            self.summary.read += 1
            self.summary.rejected += 1
            self.rejected_lines.append((problem.line, max(1, problem.text.count("\n"))))

    def _reject(
        self, record: Record, problems: Iterable[Problem], *, conflict: bool = False
    ) -> None:
        for problem in problems:
            self.summary.add_problem(problem)
        if conflict:
            self.summary.conflicts += 1
        else:
            self.summary.rejected += 1
        self.rejected_lines.append((record.line, max(1, record.text.count("\n"))))

    def _classify(self, chunk: list[Record]) -> None:
        if not chunk:
            return
        summary, parser = self.summary, self.parser
        summary.read += len(chunk)
        fresh: list[Record] = []
        for record in chunk:
            problem = parser.check_external_id(record)
            if problem is not None:
                self._reject(record, [problem])
            else:
                fresh.append(record)
        id_index = parser.id_index
        known = self._known([record.values[id_index] for record in fresh])  # type: ignore[misc]
        row_hash = self.row_hash
        for record in fresh:
            stored = known.get(record.values[id_index]) if known else None  # type: ignore[arg-type]
            if stored is not None:
                if stored[0] == row_hash(record.values):
                    summary.already_imported += 1
                else:
                    self._reject(
                        record, [_conflict_problem(parser, record, stored[1])], conflict=True
                    )
                continue
            result = parser.parse_checked(record)
            if result.__class__ is ParsedRow:
                self._keep(result, record)  # type: ignore[arg-type]
            elif result.__class__ is Filtered:
                summary.filtered += 1
                summary.filtered_reasons[result.reason] += 1  # type: ignore[union-attr]
            else:
                self._reject(record, result)  # type: ignore[arg-type]
        self.progress("validating", summary.read, None)

    def _known(self, external_ids: list[str]) -> dict[str, tuple[str, int]]:
        """Which of these ids the register holds for this source: id -> (hash, transfer)."""
        if not external_ids:
            return {}
        with self.ledger.read() as connection:
            if self._registered is None:  # a first import of a source needs no lookups
                self._registered = (
                    connection.execute(
                        text("SELECT 1 FROM import_row WHERE source = :source LIMIT 1"),
                        {"source": self.rules.source},
                    ).first()
                    is not None
                )
            if not self._registered:
                return {}
            return registered(connection, self.rules.source, external_ids)

    def _keep(self, row: ParsedRow, record: Record) -> None:
        self.parsed += 1
        for account, currency, amount in row.postings:
            self.totals[(account, currency)] += amount
            self.accounts.setdefault(account, currency)
        occurred_at = self._iso.get(row.occurred_at)
        if occurred_at is None:  # exports repeat the same minutes
            if len(self._iso) >= CACHE_SIZE_MAX:
                self._iso.clear()
            occurred_at = self._iso[row.occurred_at] = iso(row.occurred_at)
        self._pending.append(
            (
                row.external_id,
                row.line,
                occurred_at,
                row.description,
                row.postings,
                self.row_hash(record.values),
            )
        )
        if len(self._pending) >= SPOOL_CHUNK_ROWS:
            self._flush_spool()

    @property
    def refused(self) -> bool:
        """Whether nothing of this run will be written, whatever the rest of the file holds."""
        return _refused(self.summary, self.fatal)

    def _flush_spool(self) -> None:
        if self._pending:
            if self.signing is not None and not self.refused:  # refused rows need no bodies
                self.signing.add(self._pending)
            self._pending = []


def _conflict_problem(parser: RowParser, record: Record, transfer_id: int) -> Problem:
    external_id = parser.external_id(record)
    index = parser.rules.fields_needed.index(parser.rules.field_external_id)
    line, column = record.position(index)
    return Problem(
        file=parser.file,
        line=line,
        column=column,
        code="conflict",
        text=record.text,
        message=(
            f"external id {external_id!r} was already imported (transfer {transfer_id}) "
            "with different values"
        ),
    )


def registered(
    connection: Connection, source: str, external_ids: list[str]
) -> dict[str, tuple[str, int]]:
    """The register's entries among ``external_ids``: id -> (content hash, transfer id).

    On SQLite, ids that lie close together in the register (an export's order
    numbers, re-downloaded) are read as one range of its index, which costs
    half as much as looking each one up; a range that holds many other ids
    falls back to the lookups.  (PostgreSQL orders text by the column's
    collation, which Python's ``min``/``max`` do not know, so it always looks up.)
    """
    found: dict[str, tuple[str, int]] = {}
    if len(external_ids) >= RANGE_LOOKUP_FROM and connection.dialect.name == "sqlite":
        wanted = set(external_ids)
        # Text compares by its UTF-8 bytes in SQLite, which is code point order, as here.
        rows = driver_rows(
            connection,
            "SELECT external_id, content_hash, transfer_id FROM import_row "
            "WHERE source = ? AND external_id BETWEEN ? AND ? LIMIT ?",
            (source, min(wanted), max(wanted), 2 * len(wanted) + 1),
        )
        if len(rows) <= 2 * len(wanted):
            for external_id, stored_hash, transfer_id in rows:
                if external_id in wanted:
                    found[external_id] = (stored_hash, int(transfer_id))
            return found
    # On the driver's cursor: a re-import runs one of these per LOOKUP_ROWS rows.
    for start in range(0, len(external_ids), LOOKUP_ROWS):
        chunk = external_ids[start : start + LOOKUP_ROWS]
        for external_id, stored_hash, transfer_id in driver_rows(
            connection,
            "SELECT external_id, content_hash, transfer_id FROM import_row "
            f"WHERE source = ? AND external_id IN ({placeholders(len(chunk))})",
            (source, *chunk),
        ):
            found[external_id] = (stored_hash, int(transfer_id))
    return found


# -- pass 1's second stage: draft and sign the new rows -----------------------------------------


class _Signing:
    """Gives each new row its transfer's canonical body and hashes, and spools it for pass 2.

    Building a body (canonical JSON, SHA-256 of the body and of its content)
    costs about as much as reading, classifying and parsing the row, and it
    depends on nothing the ledger holds, so where the system can ``fork`` it
    runs in a child process while the parent still reads the file: the
    parent sends chunks of rows down a pipe (whose small buffer bounds the
    memory of both), the child signs them with the ledger's one
    :func:`~mutualcredit.services.posting.sign` and appends them to the
    spool.  The child touches no database and writes nothing but the spool;
    if the parent stops (an error, ``kill -9``), the pipe closes and the child
    ends.  Without ``fork`` the same work runs inline.  The batch signature,
    every check of the ledger and every write stay in the parent (pass 2).
    """

    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        source: str,
        spool: IO[bytes],
        *,
        fork: bool = True,
        drafts: _Drafts | None = None,
        emit: Callable[[list[tuple[Any, ...]]], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.source = source
        self.spool = spool
        self.emit = emit or functools.partial(_write_frame, spool)  # a chunk of signed rows
        self.drafts = drafts or _Drafts(ledger, signer, source, iso(now()))
        self.pid: int | None = None
        self._rows: Any = None  # the pipe's sending end, to the child
        self._result: Any = None  # the pipe's receiving end, from the child
        if fork and hasattr(os, "fork"):
            self._start()

    def _start(self) -> None:
        from multiprocessing.connection import Connection as Pipe

        rows_in, rows_out = os.pipe()
        result_in, result_out = os.pipe()
        self.spool.flush()

        def child() -> int:  # sign until the parent closes the pipe, then exit
            os.close(rows_out)
            os.close(result_in)
            return self._child(Pipe(rows_in, writable=False), Pipe(result_out, readable=False))

        self.pid = _fork(child)
        os.close(rows_in)
        os.close(result_out)
        self._rows = Pipe(rows_out, readable=False)
        self._result = Pipe(result_in, writable=False)

    def _child(self, rows: Any, result: Any) -> int:
        try:
            while True:
                data = rows.recv_bytes()
                if not data:
                    break
                self._sign(marshal.loads(data))
            self.spool.flush()
        except EOFError:
            return 1  # the parent is gone: it will post nothing
        except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
            _send_error(result, error)
            return 1
        result.send(None)
        return 0

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Sign a chunk of new rows (spooled in order), in the child if there is one."""
        if self._rows is None:
            self._sign(rows)
            return
        try:
            self._rows.send_bytes(marshal.dumps(rows))
        except BrokenPipeError:  # the child stopped: raise what stopped it
            self._outcome()
            raise RuntimeError("the signing process ended unexpectedly") from None

    def _sign(self, rows: list[tuple[Any, ...]]) -> None:
        from mutualcredit.services.posting import sign

        ledger, signer, draft = self.ledger, self.signer, self.drafts
        signed = []
        for row in rows:
            item = sign(ledger, draft(row), signer, in_batch=True)
            signed.append((*row, item.body, item.body_hash, item.content_hash))
        self.emit(signed)

    def finish(self) -> None:
        """Wait until every row sent is spooled; raise what went wrong in the child."""
        if self._rows is None:
            self.spool.flush()
            return
        try:
            self._rows.send_bytes(b"")
        except BrokenPipeError:
            pass  # the child stopped already: its error is waiting
        self._outcome()

    def _outcome(self) -> None:
        """The child's last word: nothing when all went well, else raise its error."""
        try:
            error = self._result.recv()
        except EOFError:
            error = RuntimeError("the signing process ended unexpectedly")
        self.close()
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop the child (if still running) and collect it."""
        if self._rows is not None:
            self._rows.close()
            self._result.close()
            self._rows = self._result = None
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None


class _Drafts:
    """The transfer of a spooled row: one row of the export, exactly as it is signed."""

    def __init__(self, ledger: Ledger, signer: Signer, source: str, created_at: str) -> None:
        self.network = ledger.network.id
        self.author = signer.handle
        self.source = source
        self.created_at = created_at
        # Rows repeat the same few postings; a Posting is immutable, so they are shared.
        self._postings: dict[tuple[Any, ...], tuple[Posting, ...]] = {}

    def __call__(self, row: tuple[Any, ...]) -> TransferDraft:
        external_id, line, occurred_at, description, postings, row_hash = row[:6]
        shared = self._postings.get(postings)
        if shared is None:
            if len(self._postings) >= CACHE_SIZE_MAX:
                self._postings.clear()
            shared = self._postings[postings] = tuple(
                Posting(account=account, currency=currency, amount=amount)
                for account, currency, amount in postings
            )
        source = self.source
        return TransferDraft(
            network=self.network,
            kind="import",
            author=self.author,
            key=f"{source}:{external_id}",
            postings=shared,
            created_at=self.created_at,
            memo=description,
            # Everything the register (import_row) holds of the row, signed, so that verify
            # can tell an edited or deleted register row (the importer dedups on it).
            meta={
                "source": source,
                "external_id": external_id,
                "line": line,
                "occurred_at": occurred_at,
                "row_hash": row_hash,
            },
        )


# -- pass 2: post in batches -------------------------------------------------------------------


def _fork(work: Callable[[], int]) -> int:
    """Fork a child that runs ``work`` and exits with its code; the child's pid."""
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        if stream is not None:
            stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = work()
        finally:
            os._exit(code)
    return pid


def _send_error(result: Any, error: BaseException) -> None:
    """A child's error, to the parent that raises it."""
    try:
        result.send(error)
    except Exception:  # noqa: BLE001 - an error that does not pickle
        result.send(RuntimeError(f"{type(error).__name__}: {error}"))


def _write_frame(stream: IO[bytes], value: Any) -> None:
    data = marshal.dumps(value)
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)


def _frames(stream: IO[bytes]) -> Iterator[Any]:
    """The values of a spool (or of a streamed run's pipe), in order.  Each frame is its
    length and its marshal bytes: ``marshal.load`` on a file reads it a few bytes per
    call, ``loads`` at once."""
    while True:
        header = stream.read(8)
        if not header:
            return
        size = int.from_bytes(header, "little")
        data = stream.read(size)
        if len(header) != 8 or len(data) != size:
            raise EOFError("the spool ends inside a frame")
        yield marshal.loads(data)


def _spooled(spool: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    """The spooled rows, in order."""
    for rows in _frames(spool):
        yield from rows


class _Poster:
    """Post spooled rows in signed batches, registering each row atomically.

    Each batch is a transaction of its own, or, given ``connection``, part of
    the caller's (a streamed run's).  ``total`` is the number of rows to post,
    ``None`` while a streamed run is still reading the file.
    """

    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        rules: Rules,
        summary: ImportSummary,
        drafts: _Drafts,
        total: int | None,
        progress: Progress,
        *,
        connection: Connection | None = None,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.rules = rules
        self.summary = summary
        self.total = total
        self.parts = None if total is None else max(1, -(-total // IMPORT_BATCH_ROWS))
        self.progress = progress
        self.draft = drafts
        self.connection = connection
        self.sizes: list[int] = []  # rows of each batch written
        self.done = 0

    def run(self, spool: IO[bytes]) -> None:
        batch: list[tuple[Any, ...]] = []
        for row in _spooled(spool):
            batch.append(row)
            if len(batch) >= IMPORT_BATCH_ROWS:
                self.post(batch)
                batch = []
        self.post(batch)

    def post(self, rows: list[tuple[Any, ...]]) -> None:
        """Post ``rows`` as one signed batch (less the rows another run registered meanwhile)."""
        from mutualcredit.services.posting import post_signed_batch

        while rows:
            items = [self._item(row) for row in rows]
            batch_ids: list[int] = []
            current = rows

            # Defaults bind this round's rows: the hooks run inside this very call.
            def before(connection: Connection, current: list[Any] = current) -> None:
                self._before(connection, current)

            def after(
                connection: Connection,
                results: list[Any],
                current: list[Any] = current,
                batch_ids: list[int] = batch_ids,
            ) -> None:
                batch_ids.append(self._after(connection, current, results))

            try:
                post_signed_batch(
                    self.ledger,
                    items,
                    self.signer,
                    kind="import",
                    meta=self._meta(len(rows), len(self.summary.batch_ids) + 1),
                    before=before,
                    after=after,
                    connection=self.connection,
                )
            except _Raced as raced:  # raised before the batch wrote anything
                rows = self._drop_known(rows, raced.known)
                continue
            except IntegrityError as error:  # PostgreSQL: another run registered a row first
                if self.connection is not None or "import_row" not in str(error.orig):
                    raise  # (in the caller's transaction, part of the batch may be written)
                with self.ledger.read() as connection:
                    known = registered(connection, self.rules.source, [row[0] for row in rows])
                rows = self._drop_known(rows, known)
                continue
            self.summary.batch_ids += batch_ids
            self.sizes.append(len(rows))
            self.summary.imported += len(rows)
            for row in rows:
                for account, currency, amount in row[4]:
                    key = (account, currency)
                    self.summary.totals[key] = self.summary.totals.get(key, 0) + amount
            self.done += len(rows)
            self.progress("posting", self.done, self.total)
            return

    def _item(self, row: tuple[Any, ...]) -> SignedTransfer:
        body, body_hash, transfer_hash = row[6:9]
        return SignedTransfer(
            draft=self.draft(row),
            body=body,
            body_hash=body_hash,
            content_hash=transfer_hash,
            public_key=self.signer.public_key,
            signature=None,
        )

    def _meta(self, size: int, part: int) -> dict[str, Any]:
        summary = self.summary
        return {
            "source": summary.source,
            "file": Path(summary.file).name,
            "file_sha256": summary.file_sha256,
            "rules": Path(summary.rules).name,
            "rules_sha256": summary.rules_sha256,
            "started_at": summary.started_at,
            "part": part,
            "parts": self.parts,
            "rows": size,
            "counts": {**summary.counts(), "imported": self.total},
        }

    def complete_meta(self) -> None:
        """A streamed run, at its end, in its transaction: its batches' provenance gets the
        counts and parts known only now (the batch signature covers the transfers alone)."""
        assert self.connection is not None
        self.total, self.parts = self.summary.imported, len(self.summary.batch_ids)
        statement = text("UPDATE batch SET meta = :meta WHERE id = :id")
        for part, (batch_id, size) in enumerate(
            zip(self.summary.batch_ids, self.sizes, strict=True), start=1
        ):
            self.connection.execute(
                statement,
                {"id": batch_id, "meta": json.dumps(self._meta(size, part), sort_keys=True)},
            )

    def _before(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        known = registered(connection, self.rules.source, [row[0] for row in rows])
        if known:
            raise _Raced(known)

    def _after(
        self, connection: Connection, rows: list[tuple[Any, ...]], results: list[Any]
    ) -> int:
        if any(result.replayed for result in results):
            raise IntegrityProblem(
                "an import transfer already existed without its register row; run verify",
                code="import_register_mismatch",
            )
        batch_id = int(
            connection.execute(
                text("SELECT batch_id FROM transfer WHERE id = :id"), {"id": results[0].transfer_id}
            ).scalar_one()
        )
        source = self.rules.source
        bulk_insert(
            connection,
            "import_row",
            REGISTER_COLUMNS,
            [
                (source, row[0], row[5], result.transfer_id, batch_id, row[1], row[2])
                for row, result in zip(rows, results, strict=True)
            ],
        )
        return batch_id

    def _drop_known(
        self, rows: list[tuple[Any, ...]], known: dict[str, tuple[str, int]]
    ) -> list[tuple[Any, ...]]:
        """Rows another run registered meanwhile: already imported, or conflicts."""
        kept = []
        for row in rows:
            stored = known.get(row[0])
            if stored is None:
                kept.append(row)
            elif stored[0] == row[5]:
                self.summary.already_imported += 1
            else:
                self.summary.conflicts += 1
                self.summary.add_problem(
                    Problem(
                        file=self.summary.file,
                        line=row[1],
                        column=1,
                        code="conflict",
                        message=(
                            f"external id {row[0]!r} was imported by another run meanwhile "
                            f"(transfer {stored[1]}) with different values"
                        ),
                    )
                )
                if not self.summary.skip_invalid:
                    raise ImportRefused(
                        f"{self.summary.file}:{row[1]}:1: external id {row[0]!r} was imported "
                        f"by another run meanwhile with different values; "
                        f"{len(self.summary.batch_ids)} batches of this run were written",
                        self.summary,
                    )
        if self.total is not None:
            self.total -= len(rows) - len(kept)
        return kept


# -- one pass: validate and post at once (SQLite) ---------------------------------------------


def _streams(ledger: Ledger) -> bool:
    """Whether a run streams (:class:`_Streamed`): SQLite, where ``fork`` is, and no
    connection of the ledger in use (none may cross the fork)."""
    checked_out = getattr(ledger.engine.pool, "checkedout", None)
    return (
        not ledger.is_postgres
        and hasattr(os, "fork")
        and checked_out is not None
        and checked_out() == 0
    )


class _Streamed:
    """A SQLite import that validates and posts at once, in ONE write transaction.

    SQLite writes one transaction at a time, and writing a row costs more than
    reading, validating and drafting it, so posting only after the whole file
    is validated (the two passes) leaves a core idle for most of a large
    import.  Here a forked child reads, classifies and drafts the file — pass 1
    and the bodies, by :class:`_Validation` and :class:`_Signing` — writing the
    new rows to a spool file and announcing each chunk down a pipe, while this
    process posts them in batches, through the one posting function, all in
    one write transaction.  When the child has
    read the whole file the run commits; if the file has problems (without
    ``skip_invalid``) or posting failed, it rolls back.  All or nothing as
    before; a run killed at any moment (even ``kill -9``) leaves nothing.

    The price: the ledger's write lock is held from the first batch to the end
    of the file (about 40 s per million rows on the reference machine), while
    other writers wait for it (``busy_timeout``); the two passes (PostgreSQL,
    dry runs, systems without ``fork``) hold it one batch at a time.  No SQLite
    connection crosses the fork (sqlite.org/howtocorrupt.html): the ledger's
    pool is emptied first, and each process opens its own.
    """

    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        rules: Rules,
        summary: ImportSummary,
        path: str | Path,
        size_limit: int,
        progress: Progress,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.rules = rules
        self.summary = summary
        self.path = path
        self.size_limit = size_limit
        self.progress = progress
        self.drafts = _Drafts(ledger, signer, rules.source, iso(now()))  # the same in both
        self.poster: _Poster | None = None  # from the first batch on, in the transaction
        self.transaction: Any = None
        self.accounts: dict[str, str] = {}  # checked already

    def run(self) -> list[tuple[int, int]]:
        """Import the file; the rejected rows' lines."""
        from multiprocessing.connection import Connection as Pipe

        self.ledger.engine.dispose()
        notes_in, notes_out = os.pipe()
        result_in, result_out = os.pipe()
        with tempfile.TemporaryFile(prefix="mutualcredit-import-") as spool:

            def child() -> int:
                os.close(notes_in)
                os.close(result_in)
                return self._child(spool, notes_out, Pipe(result_out, readable=False))

            pid = _fork(child)
            os.close(notes_out)
            os.close(result_out)
            try:
                with open(notes_in, "rb") as notes, Pipe(result_in, writable=False) as result:
                    return self._post(spool.fileno(), notes, result)
            finally:
                self._end(commit=False)
                os.waitpid(pid, 0)

    def _child(self, spool: IO[bytes], notes_fd: int, result: Any) -> int:
        """Read, classify and draft the file.  The drafted rows go to the spool (a file,
        so this never waits for the posting), each chunk announced down ``notes`` once
        written, with the rows read so far; the outcome of pass 1 (or its error) goes
        down ``result``."""
        try:
            with open(notes_fd, "wb") as notes:

                def note(value: Any) -> None:
                    _write_frame(notes, value)
                    notes.flush()

                def emit(rows: list[tuple[Any, ...]]) -> None:  # where the chunk lies
                    data = marshal.dumps(rows)
                    start = spool.tell()
                    spool.write(data)
                    spool.flush()
                    note((start, len(data)))

                signing = _Signing(
                    self.ledger,
                    self.signer,
                    self.rules.source,
                    spool,
                    fork=False,
                    drafts=self.drafts,
                    emit=emit,
                )
                validation = _Validation(
                    self.ledger,
                    self.rules,
                    self.summary,
                    self.path,
                    self.size_limit,
                    signing,
                    lambda phase, done, total: note(done),
                )
                validation.run()
        except BrokenPipeError:
            return 1  # the parent stopped reading: it raises its own error
        except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
            _send_error(result, error)
            return 1
        result.send((self.summary, validation.fatal, validation.rejected_lines))
        return 0

    def _post(self, spool: int, notes: IO[bytes], result: Any) -> list[tuple[int, int]]:
        failure: Exception | None = None
        batch: list[tuple[Any, ...]] = []
        for note in _frames(notes):
            if note.__class__ is int:  # rows read so far
                self.progress("validating", note, None)
            elif failure is None:  # after a failure, the rest of pass 1 is only read
                start, size = note
                data = os.pread(spool, size, start)
                if len(data) != size:
                    raise EOFError("the spool ends inside a chunk of rows")
                batch += marshal.loads(data)
                while failure is None and len(batch) >= IMPORT_BATCH_ROWS:
                    failure = self._write(batch[:IMPORT_BATCH_ROWS])
                    del batch[:IMPORT_BATCH_ROWS]
        try:
            outcome = result.recv()
        except EOFError:
            outcome = RuntimeError("the validating process ended unexpectedly")
        if isinstance(outcome, BaseException):
            raise outcome
        child, fatal, rejected_lines = outcome
        self._merge(child)
        # As in two passes: the file's problems first, then what posting ran into.
        _refuse_if_refused(self.summary, fatal)
        if failure is None and batch:
            failure = self._write(batch)  # fewer than a batch's rows are left
        if failure is not None:
            raise failure
        if self.poster is not None:
            self.poster.complete_meta()
        self._end(commit=True)
        return rejected_lines

    def _write(self, rows: list[tuple[Any, ...]]) -> Exception | None:
        """Post one batch in the run's transaction (begun by the first); what went wrong."""
        try:
            fresh = {
                account: currency
                for row in rows
                for account, currency, _ in row[4]
                if account not in self.accounts
            }
            _check_accounts(self.ledger, fresh)
            self.accounts.update(fresh)
            if self.poster is None:  # BEGIN IMMEDIATE: the write lock, until the run ends
                connection, self.transaction = begin_write(self.ledger.engine)
                self.poster = _Poster(
                    self.ledger,
                    self.signer,
                    self.rules,
                    self.summary,
                    self.drafts,
                    None,
                    self.progress,
                    connection=connection,
                )
            self.poster.post(rows)
        except Exception as error:  # noqa: BLE001 - raised once pass 1 has ended
            self._end(commit=False)
            return error
        return None

    def _end(self, *, commit: bool) -> None:
        """Commit or roll back the run's transaction (if it began) and release the lock."""
        if self.poster is None:
            return
        connection, self.poster = self.poster.connection, None
        assert connection is not None
        try:
            if commit:
                self.transaction.commit()
            else:
                self.transaction.rollback()
                summary = self.summary  # what the posted batches had counted is undone
                summary.imported, summary.batch_ids, summary.totals = 0, [], {}
        finally:
            connection.close()

    def _merge(self, child: ImportSummary) -> None:
        """Pass 1's counts and problems (the child's), with what posting found here."""
        summary = self.summary
        summary.file_sha256 = child.file_sha256
        summary.read, summary.filtered = child.read, child.filtered
        summary.rejected += child.rejected
        summary.already_imported += child.already_imported
        summary.conflicts += child.conflicts
        summary.filtered_reasons = child.filtered_reasons
        summary.problems = (child.problems + summary.problems)[:PROBLEMS_KEPT_MAX]
        summary.problems_total += child.problems_total


# -- rejects -----------------------------------------------------------------------------------


def _write_rejects(
    summary: ImportSummary, rules: Rules, lines: list[tuple[int, int]], rejects: str | Path | None
) -> None:
    """Copy the rejected rows' lines byte for byte (with a CSV file's header line)."""
    if rejects is None:
        return
    wanted: set[int] = set()
    for first, count in lines:
        wanted.update(range(first, first + count))
    if rules.format == "csv":
        wanted.add(1)
    with open(summary.file, "rb") as source, open_output(rejects, binary=True) as target:
        for number, raw in enumerate(source, start=1):
            if number in wanted:
                target.write(raw if raw.endswith(b"\n") else raw + b"\n")
