"""Amounts and account totals are bounded by AMOUNT_MAX: a refusal, never an overflow."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mutualcredit.domain.amounts import AMOUNT_MAX, parse_amount, parse_signed_amount
from mutualcredit.domain.errors import AmountTooLarge, ExitCode
from mutualcredit.domain.limits import check_total
from tests.support import make_network


def test_amount_max_keeps_thousands_of_totals_inside_64_bits() -> None:
    assert AMOUNT_MAX == 10**15
    assert 9_000 * AMOUNT_MAX < 2**63 - 1


@pytest.mark.parametrize(
    "text",
    ["10000000000000.01", "99999999999999999999", "0000000000000000000099999999999999999999"],
)
def test_parse_amount_above_the_bound_is_amount_too_large(text: str) -> None:
    with pytest.raises(AmountTooLarge) as caught:
        parse_amount(text, scale=2)
    assert caught.value.code == "amount_too_large"
    assert caught.value.exit_code == ExitCode.USAGE
    assert "is too large; at most 10000000000000.00" in caught.value.message


def test_parse_amount_at_the_bound_and_leading_zeros() -> None:
    assert parse_amount("10000000000000.00", scale=2) == AMOUNT_MAX
    assert parse_amount("0000000000000000000012", scale=2) == 1200
    with pytest.raises(AmountTooLarge):
        parse_signed_amount("-10000000000000.01", scale=2)


def test_check_total_at_the_bound_and_one_past() -> None:
    check_total(account="members:bia", total=AMOUNT_MAX - 1, amount=1, what="posted credits")
    with pytest.raises(AmountTooLarge) as caught:
        check_total(account="members:bia", total=AMOUNT_MAX, amount=-1, what="posted debits")
    assert caught.value.message == (
        f"members:bia would have {AMOUNT_MAX + 1} minor units of posted debits; "
        f"at most {AMOUNT_MAX}"
    )


def test_a_posting_past_an_account_total_is_refused_and_writes_nothing(sqlite_url: str) -> None:
    net = make_network(sqlite_url)
    with net.ledger.engine.begin() as connection:
        connection.execute(
            text("UPDATE account SET posted_credits = :total WHERE name = 'members:bia'"),
            {"total": AMOUNT_MAX - 5},
        )
    net.pay("ana", "bia", "0.05")
    with net.ledger.read() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar_one()
    with pytest.raises(AmountTooLarge) as caught:
        net.pay("ana", "bia", "0.01")
    assert caught.value.code == "amount_too_large"
    assert caught.value.message == (
        f"members:bia would have {AMOUNT_MAX + 1} minor units of posted credits; "
        f"at most {AMOUNT_MAX}"
    )
    with net.ledger.read() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar_one() == count
        assert (
            connection.execute(
                text("SELECT posted_credits FROM account WHERE name = 'members:bia'")
            ).scalar_one()
            == AMOUNT_MAX
        )


def test_the_one_statement_path_refuses_a_total_past_the_bound_too(pg_url: str) -> None:
    # On PostgreSQL a lone payment is written by one statement; its guard must keep the
    # bound as the full path does, or a total would grow past AMOUNT_MAX (and 64 bits).
    from mutualcredit.services import posting

    assert posting.ONE_STATEMENT
    net = make_network(pg_url)
    with net.ledger.engine.begin() as connection:
        connection.execute(
            text("UPDATE account SET posted_credits = :total WHERE name = 'members:bia'"),
            {"total": AMOUNT_MAX - 5},
        )
    net.pay("ana", "bia", "0.05")
    with pytest.raises(AmountTooLarge):
        net.pay("ana", "bia", "0.01")
    with net.ledger.read() as connection:
        assert (
            connection.execute(
                text("SELECT posted_credits FROM account WHERE name = 'members:bia'")
            ).scalar_one()
            == AMOUNT_MAX
        )
