"""``verify`` runs SQLite's own check of the file first: damaged pages are ``storage_corrupt``.

A ledger built through the library is copied and bytes in the middle of one of
its b-tree pages (never page 1, the file header) are overwritten with garbage,
as a failing disk or a careless hand would.  The installed command must say
``storage_corrupt`` and exit 3 with one line on stderr — before this check,
a damaged index page was reported clean, and a damaged table page ended in a
traceback from a worker process.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from mutualcredit.services.context import Ledger
from mutualcredit.services.verify import verify_ledger
from tests.support import make_network, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("storage") / "base.db"
    net = make_network(str(path))
    for n in range(40):  # enough postings for their table and indexes to span pages
        net.pay("ana", "bia" if n % 2 else "caio", "1.00", memo=f"troca {n}")
    assert verify_ledger(net.ledger, workers=1).clean
    net.ledger.engine.dispose()
    return path


def damaged_copy(source: Path, target: Path, table: str) -> int:
    """Copy ``source`` and overwrite half of the root page of b-tree ``table`` (a table or an
    index), past its first bytes; return that page's number."""
    shutil.copy(source, target)
    with sqlite3.connect(target) as connection:
        page = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    assert page > 1
    with target.open("r+b") as handle:
        handle.seek((page - 1) * size + 8)
        handle.write(b"\xa5" * (size // 2))
    return int(page)


def one_error_line(stderr: str) -> dict[str, str]:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return dict(json.loads(lines[0])["error"])


@pytest.mark.parametrize("table", ["ix_posting_account_transfer", "posting", "transfer"])
def test_damaged_page_is_storage_corrupt(ledger_file: Path, tmp_path: Path, table: str) -> None:
    copy = tmp_path / "damaged.db"
    page = damaged_copy(ledger_file, copy, table)
    result = run_cli("--db", str(copy), "verify", "--json")
    assert result.returncode == 3, (result.stdout, result.stderr)
    error = one_error_line(result.stderr)
    assert error["code"] == "verification_failed" and "storage_corrupt" in error["message"]
    report = json.loads(result.stdout)
    assert report["clean"] is False
    assert [p["code"] for p in report["problems"]] == ["storage_corrupt"]
    # The first line SQLite reports, about the page that was damaged.
    assert f"page {page}" in report["problems"][0]["message"].lower()


def test_damaged_index_page_without_json(ledger_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "damaged.db"
    damaged_copy(ledger_file, copy, "ix_posting_account_transfer")
    result = run_cli("--db", str(copy), "verify")
    assert result.returncode == 3
    assert "storage_corrupt" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "error: the ledger failed verification: 1 problem (storage_corrupt)"
    ]


def test_service_reports_storage_corrupt(ledger_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "damaged.db"
    damaged_copy(ledger_file, copy, "ix_posting_account_transfer")
    ledger = Ledger.open(str(copy))
    try:
        report = verify_ledger(ledger, workers=1)
    finally:
        ledger.engine.dispose()
    assert [p.code for p in report.problems] == ["storage_corrupt"]
    assert report.document()["clean"] is False


def test_network_page_damaged_is_storage_corrupt_on_open(ledger_file: Path, tmp_path: Path) -> None:
    """A page the ledger reads to open itself: the open fails, still ``storage_corrupt``."""
    copy = tmp_path / "damaged.db"
    damaged_copy(ledger_file, copy, "network")
    result = run_cli("--db", str(copy), "verify", "--json")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert one_error_line(result.stderr)["code"] == "storage_corrupt"


def test_file_cut_short_is_storage_corrupt(ledger_file: Path, tmp_path: Path) -> None:
    """A copy that stopped half way (a full disk, a killed cp): exit 3, not 5 (retrying
    will not help)."""
    copy = tmp_path / "cut.db"
    data = ledger_file.read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    result = run_cli("--db", str(copy), "verify", "--json")
    assert result.returncode == 3, (result.stdout, result.stderr)
    error = one_error_line(result.stderr)
    assert error["code"] == "storage_corrupt" and "malformed" in error["message"]


def test_file_that_is_no_database(tmp_path: Path) -> None:
    """SQLite refuses to open it at all ('file is not a database'): exit 3, one line."""
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database, just bytes\n" * 400)
    result = run_cli("--db", str(path), "verify", "--json")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert one_error_line(result.stderr)["code"] == "not_a_ledger"
    assert result.stdout == ""


def test_clean_ledger_passes_the_storage_check(ledger_file: Path) -> None:
    result = run_cli("--db", str(ledger_file), "verify", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clean"] is True
