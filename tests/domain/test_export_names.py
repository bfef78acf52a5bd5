"""Exported names and transactions for hledger and beancount."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.errors import InvalidName
from mutualcredit.domain.export_names import (
    ExportPosting,
    ExportTransaction,
    account_from_beancount,
    beancount_account,
    beancount_commodity,
    beancount_string,
    hledger_account,
    hledger_account_type,
    hledger_commodity,
    hledger_description,
    render_beancount_open,
    render_beancount_transaction,
    render_hledger_account_directive,
    render_hledger_preamble,
    render_hledger_transaction,
)

NASTY_MEMOS = [
    'say "hi" \\ back',
    "'; DROP TABLE postings; --",
    "ensaio 🎸🥁 no Cubo",
    "שלום עולם — مرحبا",
    "\u202eevil\u202c bidi",
    "(not a code) *not a status*",
    "  padded  ",
    "a;b|c # d",
    "",
    "line\u2028separator",
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("members:ana", "Assets:Members:Ana"),
        ("collectives:cubo:cash:bilheteria", "Assets:Collectives:Cubo:Cash:Bilheteria"),
        ("collectives:cubo:clearing", "Assets:Collectives:Cubo:Clearing"),
        ("network:clearing:cubo", "Assets:Network:Clearing:Cubo"),
        ("income:festivals:grito-rock-2026", "Income:Festivals:Grito-rock-2026"),
        ("expenses:van:fuel", "Expenses:Van:Fuel"),
        ("equity:opening", "Equity:Opening"),
        ("liabilities:loans", "Liabilities:Loans"),
        ("assets:bank", "Assets:Assets:Bank"),
        ("members:joao.silva", "Assets:Members:JoaoDsilva"),
        ("members:ana_maria", "Assets:Members:AnaUmaria"),
        ("members:2pac", "Assets:Members:2pac"),
        ("members:a-.-_", "Assets:Members:A-D-U"),
    ],
)
def test_beancount_account_names(name: str, expected: str) -> None:
    assert beancount_account(name) == expected
    assert account_from_beancount(expected) == name


def test_hledger_account_names_are_ours() -> None:
    assert hledger_account("collectives:cubo:cash:bilheteria") == (
        "collectives:cubo:cash:bilheteria"
    )
    assert hledger_account_type("members:ana") == "A"
    assert hledger_account_type("income:festivals:x") == "R"
    assert hledger_account_type("expenses:x") == "X"
    assert hledger_account_type("equity:x") == "E"
    assert hledger_account_type("liabilities:x") == "L"


@pytest.mark.parametrize("name", ["members", "Members:ana", "members::ana", "members:ana b"])
def test_invalid_account_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        beancount_account(name)


@pytest.mark.parametrize(
    "name",
    [
        "Assets",
        "Assets:Income:Festivals",  # income:festivals maps to Income:Festivals
        "Assets:Members:AnaXmaria",  # X is no escape of ours
        "Assets:Members:ana",
        "Banana:Members:Ana",
        "Income:Festivals:A" + "b" * 40,
    ],
)
def test_foreign_beancount_names_are_not_decoded(name: str) -> None:
    with pytest.raises(InvalidName):
        account_from_beancount(name)


def test_commodities() -> None:
    assert beancount_commodity("CARD") == "CARD"
    assert beancount_commodity("C2") == "C2"
    assert hledger_commodity("BRL") == "BRL"
    assert hledger_commodity("C2") == '"C2"'


segments = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True)
account_names = st.lists(segments, min_size=2, max_size=8).map(":".join)
BEANCOUNT_ACCOUNT_RE = r"(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+"


@given(account_names)
def test_beancount_names_are_valid_and_decode_back(name: str) -> None:
    exported = beancount_account(name)
    assert re.fullmatch(BEANCOUNT_ACCOUNT_RE, exported), exported
    assert account_from_beancount(exported) == name


@given(account_names, account_names)
def test_beancount_mapping_is_injective(first: str, second: str) -> None:
    if first != second:
        assert beancount_account(first) != beancount_account(second)


@given(account_names)
def test_beancount_names_are_valid_for_beancount_itself(name: str) -> None:
    account = pytest.importorskip("beancount.core.account")
    assert account.is_valid(beancount_account(name))


def transaction(memo: str, **changes: object) -> ExportTransaction:
    fields: dict[str, object] = {
        "date": datetime.date(2026, 3, 14),
        "memo": memo,
        "transfer_id": "tr_01J9Z",
        "postings": (
            ExportPosting(account="members:ana", amount=-3000, currency="CARD", scale=2),
            ExportPosting(account="members:joao.silva", amount=3000, currency="CARD", scale=2),
        ),
        "hours": "2.5",
    }
    fields.update(changes)
    return ExportTransaction(**fields)  # type: ignore[arg-type]


def test_render_hledger_transaction_whole() -> None:
    assert render_hledger_transaction(transaction('ensaio "Cubo"; sala 2')) == (
        '2026-03-14 * ensaio "Cubo"； sala 2\n'
        "    ; transfer-id: tr_01J9Z\n"
        "    ; hours: 2.5\n"
        "    members:ana  -30.00 CARD\n"
        "    members:joao.silva  30.00 CARD\n"
    )


def test_render_beancount_transaction_whole() -> None:
    assert render_beancount_transaction(transaction('ensaio "Cubo" \\ sala 2')) == (
        '2026-03-14 * "ensaio \\"Cubo\\" \\\\ sala 2"\n'
        '  transfer-id: "tr_01J9Z"\n'
        "  hours: 2.5\n"
        "  Assets:Members:Ana  -30.00 CARD\n"
        "  Assets:Members:JoaoDsilva  30.00 CARD\n"
    )


def test_clearing_transaction_with_three_currencies_and_extra_metadata() -> None:
    postings = (
        ExportPosting(account="members:ana", amount=-1000, currency="CUBO", scale=2),
        ExportPosting(account="collectives:cubo:clearing", amount=1000, currency="CUBO", scale=2),
        ExportPosting(account="network:clearing:cubo", amount=-1000, currency="CARD", scale=2),
        ExportPosting(account="network:clearing:palafita", amount=1000, currency="CARD", scale=2),
        ExportPosting(account="collectives:palafita:clearing", amount=-10, currency="P2", scale=0),
        ExportPosting(account="members:caio", amount=10, currency="P2", scale=0),
    )
    text = render_hledger_transaction(
        transaction("(som) roadie", postings=postings, hours=None, metadata=(("kind", "pay"),))
    )
    assert text.splitlines()[:3] == [
        "2026-03-14 * () (som) roadie",
        "    ; transfer-id: tr_01J9Z",
        "    ; kind: pay",
    ]
    assert text.endswith('    members:caio  10 "P2"\n')


def test_escaping() -> None:
    assert beancount_string('a"b\\c\nd\te\rf') == '"a\\"b\\\\c\\nd\\te\\rf"'
    assert hledger_description("  a;b\nc  ") == "a；b c"
    assert hledger_description("(x)") == "() (x)"
    assert hledger_description("") == ""


def test_programmer_errors_are_assertions() -> None:
    with pytest.raises(AssertionError, match="unbalanced"):
        render_beancount_transaction(
            transaction(
                "x", postings=(ExportPosting(account="a:b", amount=1, currency="CARD", scale=2),)
            )
        )
    with pytest.raises(AssertionError):
        render_hledger_transaction(transaction("x", hours="2,5"))
    with pytest.raises(AssertionError):
        render_hledger_transaction(transaction("bell\x07"))
    with pytest.raises(AssertionError):
        render_hledger_transaction(transaction("x", metadata=(("Bad Key", "v"),)))


def test_declarations() -> None:
    currencies = [Currency(code="CARD", scale=2), Currency(code="H1", scale=0)]
    assert render_hledger_preamble(currencies) == (
        'decimal-mark .\ncommodity 1000.00 CARD\ncommodity 1000 "H1"\n'
    )
    assert render_hledger_account_directive("income:festivals:x") == (
        "account income:festivals:x  ; type: R\n"
    )
    assert (
        render_beancount_open(date=datetime.date(2026, 1, 1), name="members:ana", currency="CARD")
        == "2026-01-01 open Assets:Members:Ana CARD\n"
    )


def _beancount_journal(memos: list[str]) -> str:
    opened = datetime.date(2026, 1, 1)
    text = "".join(
        render_beancount_open(date=opened, name=name, currency="CARD")
        for name in ("members:ana", "members:joao.silva")
    )
    return text + "\n".join(render_beancount_transaction(transaction(memo)) for memo in memos)


def test_beancount_reads_back_every_memo_exactly() -> None:
    loader = pytest.importorskip("beancount.loader")
    entries, errors, _ = loader.load_string(_beancount_journal(NASTY_MEMOS))
    assert errors == []
    transactions = [entry for entry in entries if hasattr(entry, "narration")]
    assert [entry.narration for entry in transactions] == NASTY_MEMOS
    assert {entry.meta["transfer-id"] for entry in transactions} == {"tr_01J9Z"}
    assert str(transactions[0].meta["hours"]) == "2.5"
    assert str(transactions[0].postings[0].units) == "-30.00 CARD"


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=50))
def test_beancount_reads_back_any_memo(memo: str) -> None:
    loader = pytest.importorskip("beancount.loader")
    entries, errors, _ = loader.load_string(_beancount_journal([memo]))
    assert errors == []
    assert [entry.narration for entry in entries if hasattr(entry, "narration")] == [memo]


@pytest.mark.skipif(shutil.which("hledger") is None, reason="hledger is not installed")
def test_hledger_reads_the_journal(tmp_path: Path) -> None:
    currencies = [Currency(code="CARD", scale=2)]
    journal = render_hledger_preamble(currencies) + "\n".join(
        render_hledger_transaction(transaction(memo)) for memo in NASTY_MEMOS
    )
    path = tmp_path / "ledger.journal"
    path.write_text(journal, encoding="utf-8")
    result = subprocess.run(
        ["hledger", "-f", str(path), "register", "-O", "csv", "members:ana"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = result.stdout.strip().split("\n")[1:]
    assert len(rows) == len(NASTY_MEMOS)
    assert all('"members:ana","-30.00 CARD"' in row for row in rows)
    assert '"a；b|c # d"' in result.stdout
    tags = subprocess.run(
        ["hledger", "-f", str(path), "tags", "--values", "transfer-id"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tags.stdout.split() == ["tr_01J9Z"]
