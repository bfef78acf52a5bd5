"""Rules files: the two examples load, and every mistake names its key."""

from __future__ import annotations

import copy
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest

from mutualcredit.domain.errors import ExitCode, UsageError
from mutualcredit.imports import RulesInvalid, load_rules, rules_from_document

ROOT = Path(__file__).resolve().parents[2]
TICKETS = ROOT / "examples" / "import-rules" / "tickets.toml"
BAR = ROOT / "examples" / "import-rules" / "bar.toml"


def tickets_document() -> dict:
    return tomllib.loads(TICKETS.read_text(encoding="utf-8"))


def problems_of(change, document=None) -> list[str]:
    document = copy.deepcopy(document or tickets_document())
    change(document)
    with pytest.raises(RulesInvalid) as raised:
        rules_from_document(document)
    return raised.value.problems


def test_tickets_rules_load():
    rules = load_rules(TICKETS)
    assert rules.source == "grito-rock-2026-tickets"
    assert (rules.format, rules.encoding, rules.delimiter) == ("csv", "utf-8-sig", ";")
    assert (rules.decimal_mark, rules.thousands_separator) == (",", ".")
    assert rules.time_zone == "America/Cuiaba"
    assert [(share.account, share.percent) for share in rules.shares] == [
        ("collectives:cubo:cash:{box}", Fraction(90)),
        ("network:fund:brl", Fraction(10)),
    ]
    assert rules.fields_needed == (
        "Número do pedido",
        "Data do pedido",
        "Valor do ingresso",
        "Tipo de ingresso",
        "Status do pedido",
        "Forma de pagamento",
    )
    assert dict(rules.currency_scales) == {"BRL": 2}


def test_bar_rules_load():
    rules = load_rules(BAR)
    assert (rules.format, rules.date_format, rules.time_zone) == ("jsonl", "iso8601", None)
    assert rules.issuance is not None
    assert (rules.issuance.currency, rules.issuance.rate) == ("CUBO", Fraction(1))
    assert [share.account for share in rules.shares] == ["collectives:cubo:cash:{cashier}"]


def test_rules_invalid_is_a_usage_error():
    assert issubclass(RulesInvalid, UsageError)
    assert RulesInvalid(["x"]).exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["source"].pop("encoding"),
            "rules.toml: source.encoding: is required",
        ),
        (
            lambda d: d["source"].update(encoding="utf8"),
            'rules.toml: source.encoding: "utf8" is not one of "utf-8", "utf-8-sig", '
            '"cp1252", "latin-1"',
        ),
        (
            lambda d: d["csv"].update(delimeter=","),
            "rules.toml: csv.delimeter: unknown key; expected one of delimiter, quotechar, quoting",
        ),
        (
            lambda d: d["source"].update(name="Grito Rock"),
            'rules.toml: source.name: "Grito Rock" is not valid: expected 1 to 32 characters '
            "from a-z, 0-9, '.', '_' and '-' (it scopes idempotency keys)",
        ),
        (
            lambda d: d["accounts"]["split"][1].update(account="Network:Fund"),
            'rules.toml: accounts.split[1].account: "Network:Fund" is not valid: expected an '
            "account name such as collectives:cubo:cash:bilheteria, optionally with "
            "{placeholder} segments",
        ),
        (
            lambda d: d["accounts"]["split"][0].update(percent=True),
            "rules.toml: accounts.split[0].percent: true is not valid: expected an integer or "
            'a decimal string such as "33.33" (never a float)',
        ),
        (lambda d: d.pop("csv"), "rules.toml: csv: is required"),
        (
            lambda d: d["filters"][0].pop("keep") and d["filters"][0].pop("drop"),
            "rules.toml: filters[0]: needs keep or drop",
        ),
    ],
)
def test_schema_errors_name_the_key(change, expected):
    assert problems_of(change) == [expected]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["accounts"].update(credit="collectives:cubo:fund"),
            "rules.toml: accounts.credit: set exactly one of accounts.credit and accounts.split",
        ),
        (
            lambda d: d["accounts"]["split"][0].update(percent="80"),
            "rules.toml: accounts.split: the percentages add up to 90, not 100",
        ),
        (
            lambda d: d["accounts"]["split"][0].update(percent=90.0),
            "rules.toml: accounts.split[0].percent: 90.0 is a float; write an integer or a "
            'decimal string such as "33.33"',
        ),
        (
            lambda d: d["dates"].pop("time_zone"),
            "rules.toml: dates.time_zone: is required because dates.format has no %z "
            "(the dates carry no offset)",
        ),
        (
            lambda d: d["dates"].update(time_zone="America/Cuiabá"),
            "rules.toml: dates.time_zone: unknown time zone 'America/Cuiabá'; use an IANA name",
        ),
        (
            lambda d: d["dates"].update(format="%d/%m/%Q"),
            "rules.toml: dates.format: '%d/%m/%Q' is not usable: %Q is not a known directive "
            "or appears twice",
        ),
        (
            lambda d: d["accounts"].update(debit="income:{festival}"),
            "rules.toml: accounts.debit: placeholder {festival} is not defined in [placeholders]",
        ),
        (
            lambda d: d.pop("currencies"),
            "rules.toml: amounts.currency: the scale of BRL is unknown; declare currencies.BRL",
        ),
        (
            lambda d: d["amounts"].update(thousands_separator=","),
            "rules.toml: amounts.thousands_separator: must differ from amounts.decimal_mark",
        ),
    ],
)
def test_meaning_errors_name_the_key(change, expected):
    assert problems_of(change) == [expected]


def test_every_problem_is_reported_at_once():
    def change(document):
        document["source"]["format"] = "xml"
        document["amounts"]["decimal_mark"] = ";"

    assert problems_of(change) == [
        'rules.toml: amounts.decimal_mark: ";" is not one of ".", ","',
        'rules.toml: source.format: "xml" is not one of "csv", "jsonl", "json"',
    ]


def test_scales_come_from_the_ledger_when_given():
    document = tickets_document()
    del document["currencies"]
    rules = rules_from_document(document, currency_scale={"BRL": 2}.__getitem__)
    assert dict(rules.currency_scales) == {"BRL": 2}
    document["currencies"] = {"BRL": 3}
    with pytest.raises(RulesInvalid) as raised:
        rules_from_document(document, currency_scale={"BRL": 2}.__getitem__)
    assert raised.value.problems == [
        "rules.toml: currencies.BRL: scale 3 differs from the ledger's 2"
    ]


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text("source = {\nname = 1", encoding="utf-8")
    with pytest.raises(RulesInvalid) as raised:
        load_rules(path)
    assert str(raised.value) == (
        f"{path}: not valid TOML: Invalid initial character for a key part (at line 1, column 11)"
    )


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesInvalid) as raised:
        load_rules(tmp_path / "nope.toml")
    assert (
        str(raised.value)
        == f"{tmp_path / 'nope.toml'}: cannot read the rules file: No such file or directory"
    )
