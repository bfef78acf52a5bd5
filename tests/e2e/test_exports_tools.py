"""The real tools accept our exports of the demo ledger, and agree with us account by account.

``hledger`` (Debian's package) must pass ``hledger check -s`` (strict: every
account and commodity declared) and report, with ``hledger bal``, the same
balance as ours for every account; ``bean-check`` and beancount's own loader
(from PyPI) must find no error and the same balances; Debian's ``ledger``
must read the hledger journal to the same balances too.  A tool that is not
installed skips its test locally and fails it under ``CI=true``.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from mutualcredit.domain.export_names import account_from_beancount
from tests.support import IN_CI, run_cli

PASS = "demo-pass"


def tool(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(
        name, path=str(Path(__import__("sys").executable).parent)
    )
    if path:
        return path
    if IN_CI:
        pytest.fail(f"CI=true but {name} is not installed ({package})")
    pytest.skip(f"{name} is not installed ({package}); CI=true fails instead")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, Decimal]]:
    root = tmp_path_factory.mktemp("exports")
    env = {"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS}
    database = str(root / "demo.db")
    result = run_cli("--db", database, "demo", env=env, cwd=str(root))
    assert result.returncode == 0, result.stderr
    for format, name in (
        ("hledger", "demo.journal"),
        ("beancount", "demo.beancount"),
        ("csv", "demo.csv"),
    ):
        done = run_cli("--db", database, "export", format, "--out", str(root / name), env=env)
        assert done.returncode == 0, done.stderr
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.queries import list_accounts

    ledger = Ledger.open(database)
    ours = {row["account"]: Decimal(row["balance"]) for row in list_accounts(ledger)}
    ledger.engine.dispose()
    return {"root": root, "ours": ours}


def non_zero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    return {account: value for account, value in balances.items() if value}


def test_hledger_checks_strictly_and_agrees_on_every_balance(demo) -> None:  # type: ignore[no-untyped-def]
    hledger = tool("hledger", "apt-get install hledger")
    journal = str(demo["root"] / "demo.journal")
    subprocess.run([hledger, "-f", journal, "check", "-s"], check=True, capture_output=True)
    shown = subprocess.run(
        [hledger, "-f", journal, "bal", "-O", "csv", "--no-total", "-E", "--flat"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    theirs: dict[str, Decimal] = {}
    for row in list(csv.reader(io.StringIO(shown)))[1:]:
        account, amount = row
        theirs[account] = Decimal(amount.split()[0]) if amount != "0" else Decimal(0)
    assert non_zero(theirs) == non_zero(demo["ours"])
    assert len(non_zero(theirs)) > 20


def test_beancount_checks_and_agrees_on_every_balance(demo) -> None:  # type: ignore[no-untyped-def]
    bean_check = tool("bean-check", "pip install beancount")
    path = str(demo["root"] / "demo.beancount")
    checked = subprocess.run([bean_check, path], capture_output=True, text=True)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    from beancount import loader
    from beancount.core import data

    entries, errors, _options = loader.load_file(path)
    assert errors == []
    theirs: dict[str, Decimal] = defaultdict(Decimal)
    hours = Decimal(0)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            hours += Decimal(str(entry.meta.get("hours", 0)))
            assert entry.meta["transfer-id"].isdigit()
            for posting in entry.postings:
                theirs[account_from_beancount(posting.account)] += posting.units.number
    assert non_zero(dict(theirs)) == non_zero(demo["ours"])
    assert hours > 0


def test_ledger_reads_the_hledger_journal_to_the_same_balances(demo) -> None:  # type: ignore[no-untyped-def]
    ledger = tool("ledger", "apt-get install ledger")
    shown = subprocess.run(
        [
            ledger,
            "-f",
            str(demo["root"] / "demo.journal"),
            "bal",
            "--flat",
            "--no-total",
            "--balance-format",
            "%(account)\t%(quantity(display_total))\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert shown.stderr == ""
    theirs = {
        account: Decimal(amount)
        for account, amount in (line.split("\t") for line in shown.stdout.splitlines())
    }
    assert non_zero(theirs) == non_zero(demo["ours"])


def test_csv_export_sums_to_every_balance(demo) -> None:  # type: ignore[no-untyped-def]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with open(demo["root"] / "demo.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            totals[row["account"]] += Decimal(row["amount"])
    assert non_zero(dict(totals)) == non_zero(demo["ours"])
