"""The import register (``import_row``) is recomputed from the signed imports.

The importer decides what is *already imported* from the register alone, so
someone holding the file who deletes register rows lets a second importer
post those export rows again (issue 15, finding 5).  ``verify`` compares each
import's register row with its signed body (source, external id, line, sale
time, row hash, batch) and names a missing, edited or invented row; the
importer that signed the rows is refused outright when it re-imports them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mutualcredit.domain.errors import IntegrityProblem
from mutualcredit.imports.demo import add_festival_accounts
from mutualcredit.imports.examples import RULES_TICKETS, SAMPLE_TICKETS, example
from mutualcredit.imports.service import import_file
from mutualcredit.services import network as setup
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.verify import Problem, verify_ledger
from tests.support import make_network, run_cli

TICKETS, TICKET_RULES = example(SAMPLE_TICKETS), example(RULES_TICKETS)


class Base:
    def __init__(self, path: Path, signers: dict[str, Signer]) -> None:
        self.path, self.signers = path, signers


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    path = tmp_path_factory.mktemp("register") / "base.db"
    net = make_network(str(path))
    add_festival_accounts(net.ledger, net["banco"])
    net.add_member("robo", "cubo")
    setup.change_role(
        net.ledger, net["banco"], handle="robo", role="importer", collective="cubo", grant=True
    )
    net.pay("ana", "bia", "1.00")  # a transfer that is no import
    summary = import_file(net.ledger, net["robo"], TICKETS, TICKET_RULES)
    assert summary.imported == 193
    assert verify_ledger(net.ledger, workers=1).clean
    net.ledger.engine.dispose()
    return Base(path, net.signers)


@pytest.fixture
def copy(base: Base, tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, Path]]:
    target = tmp_path / "ledger.db"
    shutil.copy(base.path, target)
    connection = sqlite3.connect(target, isolation_level=None)
    yield connection, target
    connection.close()


def problems(path: Path) -> list[Problem]:
    ledger = Ledger.open(str(path))
    try:
        return verify_ledger(ledger, workers=1).problems
    finally:
        ledger.engine.dispose()


def codes(found: list[Problem]) -> list[tuple[str, str]]:
    return sorted((p.code, p.subject) for p in found)


def first_rows(connection: sqlite3.Connection, count: int) -> list[tuple[int, str]]:
    return connection.execute(
        f"SELECT transfer_id, external_id FROM import_row ORDER BY id LIMIT {count}"
    ).fetchall()


def test_deleted_register_rows_are_named(copy: tuple[sqlite3.Connection, Path]) -> None:
    connection, path = copy
    deleted = first_rows(connection, 3)
    connection.execute(
        "DELETE FROM import_row WHERE id IN (SELECT id FROM import_row ORDER BY id LIMIT 3)"
    )
    found = problems(path)
    assert codes(found) == sorted(
        ("row_missing", f"import_row of transfer {transfer_id}") for transfer_id, _ in deleted
    )
    assert all(external_id in " ".join(p.message for p in found) for _, external_id in deleted)


def test_verify_cli_exits_3_naming_the_deleted_row(copy: tuple[sqlite3.Connection, Path]) -> None:
    connection, path = copy
    [(transfer_id, external_id)] = first_rows(connection, 1)
    connection.execute("DELETE FROM import_row WHERE transfer_id = ?", (transfer_id,))
    result = run_cli("--db", str(path), "verify", "--json")
    assert result.returncode == 3, result.stderr
    [problem] = json.loads(result.stdout)["problems"]
    assert (problem["code"], problem["subject"]) == (
        "row_missing",
        f"import_row of transfer {transfer_id}",
    )
    assert external_id in problem["message"]


def test_a_second_importer_reposting_deleted_rows_is_named(
    base: Base, copy: tuple[sqlite3.Connection, Path]
) -> None:
    """The register's rows are gone, so another importer (the admin) posts those three sales
    again: the writer cannot tell from the register, and verify names the three originals
    whose register rows are missing."""
    connection, path = copy
    deleted = first_rows(connection, 3)
    connection.execute(
        "DELETE FROM import_row WHERE id IN (SELECT id FROM import_row ORDER BY id LIMIT 3)"
    )
    ledger = Ledger.open(str(path))
    try:
        again = import_file(ledger, base.signers["banco"], TICKETS, TICKET_RULES)
        assert (again.imported, again.already_imported) == (3, 190)  # posted twice
        found = verify_ledger(ledger, workers=1).problems
    finally:
        ledger.engine.dispose()
    assert codes(found) == sorted(
        ("row_missing", f"import_row of transfer {transfer_id}") for transfer_id, _ in deleted
    )


def test_the_same_importer_reposting_deleted_rows_is_refused(
    base: Base, copy: tuple[sqlite3.Connection, Path]
) -> None:
    connection, path = copy
    connection.execute(
        "DELETE FROM import_row WHERE id IN (SELECT id FROM import_row ORDER BY id LIMIT 3)"
    )
    transfers = connection.execute("SELECT COUNT(*) FROM transfer").fetchone()
    ledger = Ledger.open(str(path))
    try:
        with pytest.raises(IntegrityProblem) as raised:
            import_file(ledger, base.signers["robo"], TICKETS, TICKET_RULES)
    finally:
        ledger.engine.dispose()
    assert raised.value.code == "import_register_mismatch"
    assert connection.execute("SELECT COUNT(*) FROM transfer").fetchone() == transfers


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("external_id", "'GR26-999999'", "external_id"),
        ("source", "'outra-fonte'", "source"),
        ("content_hash", "'ffff' || substr(content_hash, 5)", "content_hash"),
        ("line", "line + 1", "line"),
        ("occurred_at", "'2026-01-01T00:00:00.000000Z'", "occurred_at"),
    ],
)
def test_an_edited_register_row_is_named(
    copy: tuple[sqlite3.Connection, Path], column: str, value: str, named: str
) -> None:
    connection, path = copy
    [(transfer_id, _)] = first_rows(connection, 1)
    connection.execute(
        f"UPDATE import_row SET {column} = {value} WHERE transfer_id = ?", (transfer_id,)
    )
    assert connection.total_changes == 1
    [problem] = problems(path)
    assert (problem.code, problem.subject) == (
        "column_mismatch",
        f"import_row of transfer {transfer_id}",
    )
    assert named in problem.message


@pytest.mark.parametrize("target", ["payment", "nothing"])
def test_a_register_row_of_no_import_is_named(
    copy: tuple[sqlite3.Connection, Path], target: str
) -> None:
    """A row invented for a sale never imported hides it from the next import."""
    connection, path = copy
    payment = (
        connection.execute("SELECT MIN(id) FROM transfer WHERE kind = 'payment'").fetchone()[0]
        if target == "payment"
        else 10_000
    )
    connection.execute(
        "INSERT INTO import_row (source, external_id, content_hash, transfer_id, "
        "batch_id, line, occurred_at) VALUES ('grito-rock-2026-tickets', "
        "'GR26-NEVER', 'abc', ?, 1, 9, '2026-11-13T16:19:00.000000Z')",
        (payment,),
    )
    row_id = connection.execute("SELECT MAX(id) FROM import_row").fetchone()[0]
    assert codes(problems(path)) == [("row_not_recorded", f"import_row {row_id}")]


def test_a_clean_register_verifies_clean(base: Base) -> None:
    assert problems(base.path) == []
