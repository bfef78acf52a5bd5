"""Rows to postings: exact sample totals, splits that lose no centavo, every bad value."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.imports import (
    Filtered,
    ParsedRow,
    Problem,
    load_rules,
    parse_file,
    rules_from_document,
    split_amount,
)
from mutualcredit.imports.rows import AmountParser, DateParser, FieldInvalid

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "samples"  # copies of shared/samples
TICKETS_CSV = SAMPLES / "tickets-grito-rock-cuiaba-2026.csv"
BAR_JSONL = SAMPLES / "bar-grito-rock-cuiaba-2026-11-21.jsonl"
DATA = Path(__file__).parent / "data"
TICKETS = ROOT / "examples" / "import-rules" / "tickets.toml"
BAR = ROOT / "examples" / "import-rules" / "bar.toml"


def document(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def parse_all(path, rules, **options):
    parse = parse_file(path, rules, **options)
    items = list(parse)
    return parse, items


def totals(items) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        if isinstance(item, ParsedRow):
            for account, currency, amount in item.postings:
                sums[(account, currency)] += amount
    return dict(sums)


def assert_balanced(row: ParsedRow) -> None:
    per_currency: Counter[str] = Counter()
    for _account, currency, amount in row.postings:
        per_currency[currency] += amount
    assert set(per_currency.values()) == {0}, row.postings


# -- the samples, with totals worked out independently (awk over the files) --------------


@pytest.mark.skipif(not TICKETS_CSV.exists(), reason="shared samples not present")
def test_tickets_sample_exact_totals():
    parse, items = parse_all(TICKETS_CSV, load_rules(TICKETS))
    assert [item for item in items if isinstance(item, Problem)] == []
    assert (parse.rows_parsed, parse.rows_filtered, parse.problems) == (193, 48, 0)
    assert parse.filtered_reasons == {
        "Status do pedido is 'Estornado'": 18,
        "Status do pedido is 'Pendente'": 17,
        "Status do pedido is 'Cancelado'": 13,
    }
    # 193 approved orders, 8,570.00 BRL of tickets (fees excluded); 45 paid in cash at
    # the box office (1,815.00) and 148 through the platform (6,755.00); 90% / 10% split.
    assert totals(items) == {
        ("income:festivals:grito-rock-2026", "BRL"): -857000,
        ("collectives:cubo:cash:bilheteria", "BRL"): 163350,
        ("collectives:cubo:cash:plataforma", "BRL"): 607950,
        ("network:fund:brl", "BRL"): 85700,
    }
    rows = [item for item in items if isinstance(item, ParsedRow)]
    for row in rows:
        assert_balanced(row)
    assert sum(row.amount for row in rows) == 857000
    assert sum(1 for row in rows if "bilheteria" in row.postings[1][0]) == 45
    assert parse.sha256 == "5275ddcc0eb9a523f4cac0e65b44d2a2921ef168c1ada55621572db8b1b4bc51"


@pytest.mark.skipif(not TICKETS_CSV.exists(), reason="shared samples not present")
def test_tickets_sample_first_row_and_quoted_group_order():
    _parse, items = parse_all(TICKETS_CSV, load_rules(TICKETS))
    first = items[0]
    assert first == ParsedRow(
        source="grito-rock-2026-tickets",
        external_id="GR26-100007",
        line=2,
        occurred_at=datetime(2026, 11, 13, 16, 19, tzinfo=UTC),  # 12:19 in Cuiabá (UTC-4)
        amount=2500,
        currency="BRL",
        description="Solidário (1kg de alimento)",
        postings=(
            ("income:festivals:grito-rock-2026", "BRL", -2500),
            ("collectives:cubo:cash:plataforma", "BRL", 2250),
            ("network:fund:brl", "BRL", 250),
        ),
        text="GR26-100007;13/11/2026 12:19;Luíza Carvalho;luíza.carvalho@exemplo.com.br;"
        "Solidário (1kg de alimento);25,00;2,50;Aprovado;Pix\r\n",
    )
    assert first.idempotency_key == "grito-rock-2026-tickets:GR26-100007"
    group = next(i for i in items if getattr(i, "external_id", "") == "GR26-999001")
    assert (group.line, group.amount) == (
        242,
        120000,
    )  # "1.200,00", buyer "Coletivo Massa; produção"


@pytest.mark.skipif(not BAR_JSONL.exists(), reason="shared samples not present")
def test_bar_sample_exact_totals():
    parse, items = parse_all(BAR_JSONL, load_rules(BAR))
    assert (parse.rows_parsed, parse.rows_filtered, parse.problems) == (180, 0, 0)
    # 180 sales, 6,501.00 BRL: caixa-1 93 sales 3,366.00, caixa-2 87 sales 3,135.00;
    # Cubo's card issued 1:1 against all of it.
    assert totals(items) == {
        ("income:festivals:grito-rock-2026", "BRL"): -650100,
        ("collectives:cubo:cash:caixa-1", "BRL"): 336600,
        ("collectives:cubo:cash:caixa-2", "BRL"): 313500,
        ("collectives:cubo:issuance", "CUBO"): -650100,
        ("collectives:cubo:fund", "CUBO"): 650100,
    }
    for item in items:
        assert_balanced(item)
    assert items[0].occurred_at == datetime(2026, 11, 22, 1, 8, 56, tzinfo=UTC)
    assert items[0].description == "Água"


# -- splits ----------------------------------------------------------------------------


def test_split_100_three_ways_loses_no_centavo():
    assert split_amount(10000, (1, 1, 1)) == (3334, 3333, 3333)
    assert sum(split_amount(10000, (1, 1, 1))) == 10000


def test_split_ties_go_to_the_first_share_in_the_rules():
    assert split_amount(2, (1, 1, 1)) == (1, 1, 0)
    assert split_amount(1, (10, 90)) == (0, 1)  # the larger remainder wins before order
    assert split_amount(5, (50, 50)) == (3, 2)


def test_split_of_a_negative_amount_mirrors_the_positive():
    assert split_amount(-10000, (1, 1, 1)) == (-3334, -3333, -3333)


def test_split_in_a_file_three_ways(tmp_path):
    doc = document(TICKETS)
    doc["accounts"]["split"] = [
        {"account": "collectives:cubo:cash:{box}", "percent": "33.34"},
        {"account": "collectives:palafita:fund", "percent": "33.33"},
        {"account": "network:fund:brl", "percent": "33.33"},
    ]
    path = tmp_path / "one.csv"
    path.write_text(
        "Número do pedido;Data do pedido;Valor do ingresso;Tipo de ingresso;Status do pedido;"
        "Forma de pagamento\nA1;01/11/2026 10:00;100,00;Inteira;Aprovado;Pix\n",
        encoding="utf-8",
    )
    (row,) = list(parse_file(path, rules_from_document(doc)))
    assert row.postings == (
        ("income:festivals:grito-rock-2026", "BRL", -10000),
        ("collectives:cubo:cash:plataforma", "BRL", 3334),
        ("collectives:palafita:fund", "BRL", 3333),
        ("network:fund:brl", "BRL", 3333),
    )


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=16).filter(
        lambda weights: sum(weights) > 0
    ),
)
def test_split_always_sums_exactly(amount, weights):
    shares = split_amount(amount, tuple(weights))
    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(abs(share) - Fraction(abs(amount) * weight, total)) < 1  # within a centavo
        assert weight > 0 or share == 0


# -- amounts ---------------------------------------------------------------------------


@pytest.fixture
def brl_comma():
    return AmountParser(load_rules(TICKETS))


@pytest.mark.parametrize(
    ("text", "minor"),
    [("40,00", 4000), ("1.200,00", 120000), ("25,5", 2550), ("7", 700), (" 4,00 ", 400),
     ("1.234.567,89", 123456789), ("-40,00", -4000), ("0,00", 0)],
)  # fmt: skip
def test_amounts_in_the_rules_format(brl_comma, text, minor):
    assert brl_comma(text) == minor


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the amount is empty"),
        ("12,5,0", "amount '12,5,0' has more than one decimal mark ','"),
        ("R$ 40,00", "amount 'R$ 40,00' contains 'R'; expected digits with ',' as decimal mark "
         "and '.' between thousands, e.g. 1.234,55; amounts.strip can remove a currency symbol"),
        ("1.20,00", "amount '1.20,00' has misplaced thousands separators '.'"),
        ("40.00", "amount '40.00' has misplaced thousands separators '.'"),
        ("40,001", "amount '40,001' has 3 decimals; BRL has 2"),
        ("1e3", "amount '1e3' contains 'e'; expected digits with ',' as decimal mark and '.' "
         "between thousands, e.g. 1.234,55; amounts.strip can remove a currency symbol"),
        ("4-0", "amount '4-0' has a misplaced '-'; expected digits with ',' as decimal mark "
         "and '.' between thousands, e.g. 1.234,55"),
        ("10.000.000.000.000,01", "amount '10.000.000.000.000,01' is too large; "
         "at most 10000000000000.00"),
    ],
)  # fmt: skip
def test_amount_problems(brl_comma, text, message):
    with pytest.raises(FieldInvalid) as raised:
        brl_comma(text)
    assert raised.value.message == message


def test_amounts_strip_a_currency_symbol_when_told():
    doc = document(TICKETS)
    doc["amounts"]["strip"] = ["R$"]
    parse = AmountParser(rules_from_document(doc))
    assert (parse("R$ 40,00"), parse("-R$ 1.200,00"), parse("R$40,00")) == (4000, -120000, 4000)


# -- dates -----------------------------------------------------------------------------


def test_local_dates_go_to_utc_through_the_zone():
    parse = DateParser(load_rules(TICKETS))
    assert parse("13/11/2026 12:19") == datetime(2026, 11, 13, 16, 19, tzinfo=UTC)
    assert parse("1/2/2026 0:05") == datetime(2026, 2, 1, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "text", "message"),
    [
        ("America/Cuiaba", "31/02/2026 10:00",
         "date '31/02/2026 10:00' does not exist (day is out of range for month)"),
        ("America/Cuiaba", "13/11/2026 24:00",
         "date '13/11/2026 24:00' does not exist (hour must be in 0..23)"),
        ("America/Cuiaba", "2026-11-13 10:00",
         "date '2026-11-13 10:00' does not match the format '%d/%m/%Y %H:%M'"),
        ("America/New_York", "08/03/2026 02:30",
         "date '08/03/2026 02:30' does not exist in America/New_York"),
        ("America/New_York", "01/11/2026 01:30",
         "date '01/11/2026 01:30' happens twice in America/New_York"),
    ],
)  # fmt: skip
def test_date_problems(zone, text, message):
    doc = document(TICKETS)
    doc["dates"]["time_zone"] = zone
    with pytest.raises(FieldInvalid) as raised:
        DateParser(rules_from_document(doc))(text)
    assert raised.value.message == message


def test_iso_dates():
    parse = DateParser(load_rules(BAR))
    assert parse("2026-11-21T21:08:56-04:00") == datetime(2026, 11, 22, 1, 8, 56, tzinfo=UTC)
    assert parse("2026-11-22T01:08:56Z") == datetime(2026, 11, 22, 1, 8, 56, tzinfo=UTC)
    with pytest.raises(FieldInvalid) as raised:
        parse("2026-02-31T10:00:00-04:00")
    assert raised.value.message == (
        "date '2026-02-31T10:00:00-04:00' does not exist (day is out of range for month)"
    )


def test_offsets_in_a_pattern():
    doc = document(TICKETS)
    doc["dates"] = {"format": "%d/%m/%Y %H:%M %z"}
    parse = DateParser(rules_from_document(doc))
    assert parse("13/11/2026 12:19 -0400") == datetime(2026, 11, 13, 16, 19, tzinfo=UTC)
    assert parse("13/11/2026 12:19 +01:30") == datetime(2026, 11, 13, 10, 49, tzinfo=UTC)


# -- negative amounts, zero amounts, issuance rounding -----------------------------------------


def one_row_file(tmp_path, amount: str) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(
        f'{{"sale_id": "S1", "at": "2026-11-21T21:00:00-04:00", "item": "x", '
        f'"total": "{amount}", "cashier": "caixa-1"}}\n',
        encoding="utf-8",
    )
    return path


def bar_rules(**amounts_or_issuance):
    doc = copy.deepcopy(document(BAR))
    for key, value in amounts_or_issuance.items():
        table, name = key.split("__")
        doc[table][name] = value
    return rules_from_document(doc)


def test_negative_amounts_can_be_filtered_as_refunds(tmp_path):
    (item,) = list(
        parse_file(one_row_file(tmp_path, "-8.00"), bar_rules(amounts__negative="filter"))
    )
    assert isinstance(item, Filtered) and item.reason == "negative amount"


def test_negative_amounts_allowed_reverse_the_postings(tmp_path):
    (row,) = list(parse_file(one_row_file(tmp_path, "-8.00"), bar_rules(amounts__negative="allow")))
    assert row.postings == (
        ("income:festivals:grito-rock-2026", "BRL", 800),
        ("collectives:cubo:cash:caixa-1", "BRL", -800),
        ("collectives:cubo:issuance", "CUBO", 800),
        ("collectives:cubo:fund", "CUBO", -800),
    )


def test_zero_amount_is_filtered(tmp_path):
    (item,) = list(parse_file(one_row_file(tmp_path, "0.00"), load_rules(BAR)))
    assert isinstance(item, Filtered) and item.reason == "amount is zero"


def test_issuance_rounds_toward_zero_at_the_declared_rate(tmp_path):
    rules = bar_rules(issuance__rate="0.333")
    (row,) = list(parse_file(one_row_file(tmp_path, "10.00"), rules))
    assert row.postings[2:] == (
        ("collectives:cubo:issuance", "CUBO", -333),
        ("collectives:cubo:fund", "CUBO", 333),
    )
    assert_balanced(row)


def test_issuance_with_a_different_card_scale(tmp_path):
    doc = document(BAR)
    doc["currencies"]["CUBO"] = 0
    doc["issuance"]["rate"] = "2"
    (row,) = list(parse_file(one_row_file(tmp_path, "10.99"), rules_from_document(doc)))
    assert row.postings[2:] == (
        ("collectives:cubo:issuance", "CUBO", -21),
        ("collectives:cubo:fund", "CUBO", 21),
    )


def test_rows_are_frozen():
    row = ParsedRow(
        source="s", external_id="e", line=2, occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        amount=1, currency="BRL", description="", postings=(), text="",
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.amount = 2  # type: ignore[misc]


def test_packaged_samples_are_the_shared_samples_unchanged() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "samples"
    if not shared.is_dir():
        import pytest

        pytest.skip("no shared/samples beside this checkout")
    for name in ("tickets-grito-rock-cuiaba-2026.csv", "bar-grito-rock-cuiaba-2026-11-21.jsonl"):
        assert (SAMPLES / name).read_bytes() == (shared / name).read_bytes()
