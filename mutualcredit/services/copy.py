"""Moving a ledger to another database: SQLite to PostgreSQL and back.

``copy_ledger(source, "postgresql+psycopg://…")`` copies every table of an
open ledger into an *empty* database, streaming: rows are read from one
snapshot of the source (a single read transaction; ``REPEATABLE READ`` on
PostgreSQL, so writers may go on meanwhile) in primary-key order, in chunks of
:data:`COPY_ROWS_PER_CHUNK`, and written with Core ``executemany`` in
dependency order (parents before children), one target transaction per
chunk, so memory stays bounded whatever the ledger's size.

An interrupted copy is never half-valid.  The target's schema is made by the
Alembic migrations, and in the same transaction its schema revision is set to
:data:`~mutualcredit.persistence.schema.COPY_IN_PROGRESS`, which every command
refuses (``copy_incomplete``).  Only when all rows are written, PostgreSQL's
sequences moved past the copied ids, and the copy verified, is the real
revision written — the last write of the copy.

Verification compares the target with the numbers taken from the source's
snapshot: the row count of every table, each account's cached totals and the
sum of its postings, and the chain head; it recomputes the target's whole hash
chain from the network's genesis hash, and runs the ledger's invariants
(:func:`~mutualcredit.services.invariants.check_invariants`) and, where the
audit feature is installed, ``verify`` (:func:`mutualcredit.services.verify.verify_ledger`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from mutualcredit.domain.errors import IntegrityProblem, Refused, UsageError
from mutualcredit.domain.events import event_hash, next_chain_hash
from mutualcredit.persistence import schema
from mutualcredit.persistence.engine import database_url, describe, enable_wal, make_engine
from mutualcredit.services.context import Ledger, guard_connect

COPY_ROWS_PER_CHUNK = 5_000
SKIPPED_TABLES = ("alembic_version",)


class TargetNotEmpty(Refused):
    code = "target_not_empty"


class CopyMismatch(IntegrityProblem):
    code = "copy_mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    source: str
    target: str
    revision: str
    tables: dict[str, int]
    events: int
    chain_hash: str
    seconds: float
    checks: list[str] = field(default_factory=list)


Progress = Callable[[str, int], None]  # (table, rows copied so far) after each chunk


def copy_ledger(
    source: Ledger,
    target: str,
    *,
    rows_per_chunk: int = COPY_ROWS_PER_CHUNK,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the open ledger ``source`` into the empty database ``target``, then verify it."""
    assert rows_per_chunk > 0
    started = time.perf_counter()
    url = database_url(target)
    if describe(url) == describe(source.url):
        raise UsageError(
            f"the copy's target {describe(url)} is the ledger itself", code="copy_onto_itself"
        )
    engine = make_engine(url)
    try:
        guard_connect(engine, url)
        _require_empty(engine, describe(url))
        enable_wal(engine)
        target_tables = _create_schema(engine)
        with _snapshot(source) as reading:
            source_tables = _reflect(reading)
            tables = _tables_to_copy(source_tables, target_tables)
            expected = summarise(reading, tables)
            for table in tables:
                _copy_table(
                    reading, engine, source_tables[table.name], table, rows_per_chunk, progress
                )
        _reset_sequences(engine, tables)
        checks = _verify(engine, url, tables, expected)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"),
                {"head": schema.HEAD_REVISION},
            )
    finally:
        engine.dispose()
    return CopyReport(
        source=describe(source.url),
        target=describe(url),
        revision=schema.HEAD_REVISION,
        tables=expected["tables"],
        events=expected["chain"][0],
        chain_hash=expected["chain"][1],
        seconds=time.perf_counter() - started,
        checks=checks,
    )


def _require_empty(engine: Engine, where: str) -> None:
    with engine.connect() as connection:
        names = inspect(connection).get_table_names()
    if names:
        shown = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")
        raise TargetNotEmpty(
            f"{where} is not empty ({len(names)} tables: {shown}); "
            "a ledger is copied only into an empty database"
        )


def _create_schema(engine: Engine) -> dict[str, Table]:
    """Migrate the target to head, marked incomplete, and empty the rows migrations seed."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), "head")
        connection.execute(
            text("UPDATE alembic_version SET version_num = :marker"),
            {"marker": schema.COPY_IN_PROGRESS},
        )
        tables = _reflect(connection)
        for table in reversed(_sorted(tables)):
            connection.execute(table.delete())
    return tables


def _reflect(connection: Connection) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(bind=connection)
    return {name: table for name, table in metadata.tables.items() if name not in SKIPPED_TABLES}


def _sorted(tables: dict[str, Table]) -> list[Table]:
    order = (
        {
            table.name: index
            for index, table in enumerate(next(iter(tables.values())).metadata.sorted_tables)
        }
        if tables
        else {}
    )
    return sorted(tables.values(), key=lambda table: order[table.name])


def _tables_to_copy(source: dict[str, Table], target: dict[str, Table]) -> list[Table]:
    """The target's tables in dependency order; the source must have the same ones."""
    if set(source) != set(target):
        missing, extra = sorted(set(target) - set(source)), sorted(set(source) - set(target))
        raise CopyMismatch(
            f"the source's tables differ from this program's schema "
            f"(missing: {missing or 'none'}; unknown: {extra or 'none'})"
        )
    for name, table in target.items():
        theirs = {column.name for column in source[name].columns}
        ours = {column.name for column in table.columns}
        if theirs != ours:
            raise CopyMismatch(
                f"table {name} has columns {sorted(theirs)} in the source but "
                f"{sorted(ours)} in this program's schema"
            )
    return _sorted(target)


class _snapshot:
    """One read transaction over the source: a consistent snapshot of the whole ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __enter__(self) -> Connection:
        self.connection = self.ledger.engine.connect()
        if self.ledger.is_postgres:
            self.connection.execution_options(isolation_level="REPEATABLE READ")
        self.transaction = self.connection.begin()
        if self.ledger.is_postgres:
            self.connection.execute(text("SET TRANSACTION READ ONLY"))
        return self.connection

    def __exit__(self, *_exc: object) -> None:
        self.transaction.rollback()
        self.connection.close()


def _copy_table(
    reading: Connection,
    engine: Engine,
    source: Table,
    target: Table,
    rows_per_chunk: int,
    progress: Progress | None,
) -> None:
    columns = [column.name for column in target.columns]
    key = list(source.primary_key.columns) or [source.columns[columns[0]]]
    statement = select(*(source.columns[name] for name in columns)).order_by(*key)
    result = reading.execution_options(stream_results=True, yield_per=rows_per_chunk).execute(
        statement
    )
    copied = 0
    for rows in result.partitions(rows_per_chunk):
        with engine.begin() as writing:
            writing.execute(insert(target), [dict(zip(columns, row, strict=True)) for row in rows])
        copied += len(rows)
        if progress is not None:
            progress(target.name, copied)


def _reset_sequences(engine: Engine, tables: list[Table]) -> None:
    """Move each PostgreSQL serial sequence past the largest id copied (SQLite needs nothing)."""
    if engine.dialect.name != "postgresql":
        return
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        for table in tables:
            for column in table.primary_key.columns:
                sequence = connection.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": quote(table.name), "column": column.name},
                ).scalar()
                if sequence is None:
                    continue
                connection.execute(
                    text(
                        f"SELECT setval(:sequence, COALESCE((SELECT MAX({quote(column.name)}) "
                        f"FROM {quote(table.name)}), 0) + 1, false)"
                    ),
                    {"sequence": sequence},
                )


def summarise(connection: Connection, tables: list[Table]) -> dict[str, Any]:
    """Row counts, per-account totals and posting sums, and the chain head of a ledger."""
    counts = {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in tables
    }
    accounts = {
        row[0]: tuple(int(value) for value in row[1:])
        for row in connection.execute(
            text(
                "SELECT a.name, a.posted_debits, a.posted_credits, a.pending_debits, "
                "a.pending_credits, COALESCE(SUM(p.amount), 0), COUNT(p.id) FROM account a "
                "LEFT JOIN posting p ON p.account_id = a.id GROUP BY a.id, a.name, "
                "a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits"
            )
        )
    }
    head = connection.execute(text("SELECT seq, chain_hash FROM chain_head WHERE id = 1")).one()
    return {"tables": counts, "accounts": accounts, "chain": (int(head.seq), head.chain_hash)}


def _verify(engine: Engine, url: Any, tables: list[Table], expected: dict[str, Any]) -> list[str]:
    where = describe(url)
    with engine.connect() as connection:
        found = summarise(connection, tables)
        for name, count in expected["tables"].items():
            if found["tables"][name] != count:
                raise CopyMismatch(
                    f"the copy in {where} has {found['tables'][name]} rows in "
                    f"{name}; the source has {count}"
                )
        for name, totals in expected["accounts"].items():
            if found["accounts"].get(name) != totals:
                raise CopyMismatch(
                    f"account {name} has totals {found['accounts'].get(name)} "
                    f"in the copy but {totals} in the source"
                )
        if found["chain"] != expected["chain"]:
            raise CopyMismatch(
                f"the copy's chain head {found['chain']} differs from the "
                f"source's {expected['chain']}"
            )
        recompute_chain(connection)
    checks = ["row counts", "account totals", "chain head", "hash chain"]
    ledger = Ledger.from_engine(engine, url)
    from mutualcredit.services.invariants import check_invariants

    problems = check_invariants(ledger)
    if problems:
        raise CopyMismatch(
            f"the copy in {where} breaks the ledger's invariants: {problems[0].message}"
        )
    checks.append("invariants")
    if verify_if_installed(ledger):
        checks.append("verify")
    return checks


def recompute_chain(connection: Connection) -> int:
    """Recompute every event hash and the chain from the genesis hash; return the length."""
    chain = connection.execute(text("SELECT genesis_hash FROM network")).scalar_one()
    seq = 0
    result = connection.execution_options(yield_per=COPY_ROWS_PER_CHUNK).execute(
        text("SELECT seq, type, body_hash, event_hash, chain_hash FROM event ORDER BY seq")
    )
    for row in result:
        seq += 1
        this_hash = event_hash(seq=seq, type=row.type, body_hash=row.body_hash)
        chain = next_chain_hash(chain, this_hash)
        if int(row.seq) != seq or row.event_hash != this_hash or row.chain_hash != chain:
            raise CopyMismatch(f"event {row.seq} of the copy does not continue the hash chain")
    head = connection.execute(text("SELECT seq, chain_hash FROM chain_head WHERE id = 1")).one()
    if (int(head.seq), head.chain_hash) != (seq, chain):
        raise CopyMismatch(
            f"the copy's chain head (event {head.seq}) is not its last event ({seq})"
        )
    return seq


def verify_if_installed(ledger: Ledger) -> bool:
    """Run the audit feature's ``verify`` when it is installed; True when it ran clean."""
    try:
        from mutualcredit.services.verify import verify_ledger
    except ImportError:
        return False
    report = verify_ledger(ledger)
    if report.problems:
        first = report.problems[0]
        raise CopyMismatch(
            f"verify found {len(report.problems)} problems in the copy, the "
            f"first: {first.subject}: {first.message}"
        )
    return True
