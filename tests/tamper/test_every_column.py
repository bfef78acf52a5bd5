"""Edit each column of each table; ``verify`` names the edit, or the next write refuses it.

Anyone holding the database file can change any value in it.  For every
column of every table of the schema (read from ``SQLModel.metadata``, so a
column added later is a new case here), one row of a copy of a small but
complete ledger (:mod:`tests.tamper.ledger_story`: a row in every table) gets
a different value of the same type — an integer moved by one, a text with
one character changed, a status or kind changed to another valid one — and
then ``verify`` must report a problem (every column the writers read is
recomputed from the signed records, so no case needs the fallback of a
refused write; a ledger that cannot be opened at all counts as refused).
The few columns that need no check are in :data:`ALLOWED`, each with its
reason; a test prints and checks the counts.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import mutualcredit.persistence.models
import mutualcredit.persistence.models_audit
import mutualcredit.persistence.models_bookings
import mutualcredit.persistence.models_imports
import mutualcredit.persistence.models_settlements  # noqa: F401 - every table in the metadata
from mutualcredit.domain.errors import MutualCreditError
from mutualcredit.services import audit
from mutualcredit.services.context import Ledger
from mutualcredit.services.verify import verify_ledger
from tests.tamper import ledger_story
from tests.tamper.ledger_story import Story

# Columns that legitimately need no check: nothing that decides who may do what, or how much
# moves, is read from them — each with the reason.
ALLOWED: dict[tuple[str, str], str] = {
    # A table's own row id, which nothing signed names and nothing trusts for a decision.
    ("import_row", "id"): "the register row's id: rows are matched by their transfer",
    ("role", "id"): "the role row's id: roles are matched by what they grant",
    # Checkpoint copies the ledger keeps for convenience: verify checks the signed document.
    ("checkpoint", "id"): "a stored checkpoint's row id: verify reads its signed document",
    ("checkpoint", "created_at"): "when this copy was stored: the signed document has its own time",
    ("settlement", "id"): "the settlement row's id: the signed settlement is named by "
    "record_id, which is compared",
    # Provenance a person reads, which no write decides on.
    ("batch", "meta"): "an import's provenance (file names, hashes, counts), not signed by "
    "design (the batch signature covers the transfers) and read by no write",
    ("batch", "kind"): "what kind of run wrote the batch: read only to count import batches "
    "in reports (each transfer's own kind is signed and checked)",
    ("batch", "created_at"): "when the batch was written: read by nothing (each transfer's "
    "time is signed)",
}

# Values that mean something else, where one character changed would only be nonsense.
VALUES: dict[tuple[str, str], Any] = {
    ("member", "status"): "closed",
    ("account", "status"): "closed",
    ("account", "kind"): "income",
    ("account", "owner_kind"): "network",
    ("resource", "status"): "closed",
    ("booking", "status"): "completed",
    ("payment_request", "status"): "withdrawn",
    ("transfer", "status"): "posted",
    ("transfer", "kind"): "issuance",
    ("role", "role"): "admin",
    ("record", "type"): "role_granted",
    ("event", "type"): "record",
    ("resource", "per"): "day",
}

# Which row to edit, where the first row with a value would be a poor choice.
ROWS: dict[tuple[str, str], str] = {
    ("transfer", "status"): "kind = 'hold' AND status = 'pending'",
    ("booking", "status"): "status = 'held'",
    ("payment_request", "status"): "status = 'open'",
    ("member", "status"): "status = 'open' AND handle != 'banco'",
    ("account", "status"): "status = 'open' AND name LIKE 'members:%'",
    ("account", "kind"): "kind = 'member'",
    ("account", "owner_kind"): "owner_kind = 'member'",
    ("account", "limit_lower"): "name = 'members:ana'",
    ("role", "role"): "role != 'admin'",
    ("event", "type"): "type = 'transfer'",
}


def _columns() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
    ]


HEX = "0123456789abcdef"
COLUMNS = _columns()
CASES = [case for case in COLUMNS if case not in ALLOWED]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    built = ledger_story.build(tmp_path_factory.mktemp("every-column") / "base.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "CHUNK_LEAVES", ledger_story.CHUNK_LEAVES)
        ledger = Ledger.open(str(built.path))
        try:
            assert verify_ledger(ledger, workers=1).problems == []
        finally:
            ledger.engine.dispose()
    return built


@pytest.fixture
def copy(story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(audit, "CHUNK_LEAVES", ledger_story.CHUNK_LEAVES)
    monkeypatch.setenv("MUTUALCREDIT_NOW", ledger_story.AFTER)
    target = tmp_path / "ledger.db"
    shutil.copy(story.path, target)
    yield target


def changed(value: Any, column: str) -> Any:
    """A different value of the same type: an integer moved by one, one character changed."""
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "2026-11-15T12:00:00.000000Z" if column.endswith("_at") else 1
    text = str(value)
    if len(text) >= 16 and all(char in HEX for char in text):  # a hash, key or signature
        return text[:-1] + HEX[(HEX.index(text[-1]) + 1) % 16]
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char.isdigit():
            return text[:index] + str((int(char) + 1) % 10) + text[index + 1 :]
        if char.isalpha() and char.isascii() and not (index == len(text) - 1 and char == "Z"):
            shifted = chr((ord(char.lower()) - 97 + 1) % 26 + 97)
            return (
                text[:index] + (shifted.upper() if char.isupper() else shifted) + text[index + 1 :]
            )
    return text + "x"


def edit(path: Path, table: str, column: str) -> str:
    """Change ``column`` in one row of ``table``; say what changed."""
    key = ", ".join(f'"{c.name}"' for c in SQLModel.metadata.tables[table].primary_key)
    match = " AND ".join(f'"{c.name}" = ?' for c in SQLModel.metadata.tables[table].primary_key)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        where = ROWS.get((table, column), f'"{column}" IS NOT NULL')
        found = connection.execute(
            f'SELECT "{column}", {key} FROM "{table}" WHERE {where} ORDER BY {key} LIMIT 1'
        ).fetchone()
        if found is None:  # every row holds NULL there
            found = connection.execute(
                f'SELECT "{column}", {key} FROM "{table}" ORDER BY {key} LIMIT 1'
            ).fetchone()
        assert found is not None, f"the story has no row in {table}: add one to ledger_story"
        value, rowid = found[0], found[1:]
        new = VALUES.get((table, column), changed(value, column))
        assert new != value, (table, column, value)
        for candidate in (new, value + 1_000_003 if isinstance(value, int) else None):
            if candidate is None:
                continue
            try:
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = ? WHERE {match}', (candidate, *rowid)
                )
            except sqlite3.IntegrityError:
                continue
            return f"{table}.{column} of row {rowid}: {value!r} -> {candidate!r}"
        raise AssertionError(f"no edit of {table}.{column} was accepted by SQLite")
    finally:
        connection.close()


def problems(path: Path) -> list[Any]:
    ledger = Ledger.open(str(path))
    try:
        return verify_ledger(ledger, workers=1).problems
    finally:
        ledger.engine.dispose()


@pytest.mark.parametrize(("table", "column"), CASES, ids=[f"{t}.{c}" for t, c in CASES])
def test_an_edit_is_named_or_refused(story: Story, copy: Path, table: str, column: str) -> None:
    what = edit(copy, table, column)
    try:
        found = problems(copy)
    except MutualCreditError as error:  # the ledger cannot even be opened: every command
        found = [error]  # refuses it (exit 3), verify included
    assert found, f"verify is clean after {what}"


def test_every_column_is_covered_or_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    unknown = sorted(set(ALLOWED) - set(COLUMNS))
    assert unknown == [], f"allowed columns that are no longer in the schema: {unknown}"
    assert len(CASES) + len(ALLOWED) == len(COLUMNS)
    with capsys.disabled():
        print(
            f"\nedit-every-column: {len(CASES)} columns covered, {len(ALLOWED)} allowed, "
            f"{len(COLUMNS)} in all"
        )


@pytest.mark.postgres
def test_the_story_verifies_clean_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above read the same tables on PostgreSQL: no problem where there is none."""
    ledger_story.build(tmp_path / "unused.db", url=pg_url)
    monkeypatch.setattr(audit, "CHUNK_LEAVES", ledger_story.CHUNK_LEAVES)
    ledger = Ledger.open(pg_url)
    try:
        assert verify_ledger(ledger, workers=1).problems == []
        with ledger.engine.begin() as connection:  # and an edited summary is named there too
            connection.execute(
                text(
                    "UPDATE report_account_day SET debits = debits + 1 "
                    "WHERE day = (SELECT MIN(day) FROM report_account_day)"
                )
            )
        found = verify_ledger(ledger, workers=1).problems
    finally:
        ledger.engine.dispose()
    assert [p.code for p in found] == ["column_mismatch"]
    assert found[0].subject.startswith("report_account_day ")


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DELETE FROM chain_head", "chain_head_mismatch"),
        ("UPDATE checkpoint SET document = substr(document, 1, 50)", "checkpoint_invalid"),
        ("UPDATE merkle_chunk SET root = 'not hex' WHERE chunk = 0", "merkle_cache"),
        ("UPDATE transfer SET body = '{not json' WHERE id = 1", "body_hash_mismatch"),
    ],
)
def test_rows_past_repair_are_named_not_a_crash(copy: Path, sql: str, code: str) -> None:
    """Edits no type-preserving change makes: a row gone, a document or root that does not
    parse, a body that is no JSON (which the report summaries' fold reads too)."""
    connection = sqlite3.connect(copy, isolation_level=None)
    connection.execute(sql)
    connection.close()
    assert code in {p.code for p in problems(copy)}
