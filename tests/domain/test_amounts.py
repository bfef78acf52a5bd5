from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.domain.amounts import (
    AMOUNT_MAX,
    Currency,
    format_amount,
    format_rate,
    parse_amount,
    parse_rate,
    parse_signed_amount,
)
from mutualcredit.domain.errors import AmountTooLarge, ExitCode, InvalidAmount, Refused, UsageError


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("12.50", 1250),
        ("12,50", 1250),
        ("12", 1200),
        ("0.01", 1),
        ("12.5", 1250),
        ("007", 700),
        ("10000000000000", 10**15),
    ],
)
def test_parse_amount_accepts_digits_with_one_decimal_mark(text: str, minor: int) -> None:
    assert parse_amount(text, scale=2) == minor


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "abc",
            "amount 'abc' is not valid: write digits with at most one decimal mark and at "
            "most 2 decimals, e.g. 12.50 or 12,50",
        ),
        ("NaN", "amount 'NaN' is not valid"),
        ("inf", "amount 'inf' is not valid"),
        ("1e3", "amount '1e3' is not valid"),
        ("-5", "amount '-5' is not valid"),
        ("+5", "amount '+5' is not valid"),
        ("0", "amount '0' must be greater than zero"),
        ("0.00", "amount '0.00' must be greater than zero"),
        ("12.345", "amount '12.345' has 3 decimals; at most 2 are allowed"),
        ("1.234,56", "amount '1.234,56' is not valid"),
        ("1 000", "amount '1 000' is not valid"),
        ("99999999999999999999", "amount '99999999999999999999' is too large"),
        ("10000000000000.01", "amount '10000000000000.01' is too large; at most 10000000000000.00"),
        ("", "amount '' is not valid"),
        ("12.", "amount '12.' is not valid"),
        (".5", "amount '.5' is not valid"),
        ("１２", "amount '１２' is not valid"),
    ],
)
def test_parse_amount_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount(text, scale=2)
    assert str(caught.value).startswith(message)
    assert caught.value.exit_code == ExitCode.USAGE


def test_scale_zero_refuses_decimals() -> None:
    assert parse_amount("5", scale=0) == 5
    with pytest.raises(InvalidAmount, match="has 1 decimals; at most 0"):
        parse_amount("5.0", scale=0)


@pytest.mark.parametrize(
    ("minor", "scale", "text"),
    [
        (-3000, 2, "-30.00"),
        (0, 2, "0.00"),
        (5, 2, "0.05"),
        (-5, 2, "-0.05"),
        (123, 0, "123"),
        (1, 3, "0.001"),
        (10**15, 2, "10000000000000.00"),
    ],
)
def test_format_amount_uses_dot_and_exact_scale(minor: int, scale: int, text: str) -> None:
    assert format_amount(minor, scale) == text


@given(st.integers(min_value=-AMOUNT_MAX, max_value=AMOUNT_MAX), st.integers(0, 6))
def test_format_then_parse_round_trips(minor: int, scale: int) -> None:
    assert parse_signed_amount(format_amount(minor, scale), scale=scale) == minor


def test_format_refuses_floats() -> None:
    with pytest.raises(AssertionError):
        format_amount(1.5, 2)  # type: ignore[arg-type]


def test_rates_are_exact_fractions() -> None:
    assert parse_rate("0.5") == Fraction(1, 2)
    assert parse_rate("1") == 1
    assert format_rate(Fraction(1, 2)) == "0.5"
    assert format_rate(Fraction(1, 3)) == "1/3"
    for bad in ("0", "-1", "abc", "1e2", ""):
        with pytest.raises(UsageError):
            parse_rate(bad)


def test_conversion_to_card_is_exact_or_refused() -> None:
    card = Currency(code="CARD", scale=2)
    half = Currency(code="MEIA", scale=2, rate=Fraction(1, 2))
    assert half.to_card_minor(1000, card=card) == 500
    assert half.from_card_minor(500, card=card) == 1000
    with pytest.raises(Refused, match="0.01 MEIA cannot be converted exactly to CARD at rate 0.5"):
        half.to_card_minor(1, card=card)
    assert Currency(code="CUBO", scale=2).to_card_minor(1234, card=card) == 1234


@pytest.mark.parametrize("text", ["12\n", "12.50\n", " 12", "12 "])
def test_whitespace_and_trailing_newlines_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text, scale=2)


def test_a_too_large_amount_carries_its_bound_as_data() -> None:
    for text in ("10000000000000.01", "1" * 19):
        with pytest.raises(AmountTooLarge) as caught:
            parse_amount(text, scale=2)
        assert caught.value.data == {"text": text, "limit": "10000000000000.00"}
        assert caught.value.message.endswith(f"at most {caught.value.data['limit']}")
