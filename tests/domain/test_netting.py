"""Netting of positions between collectives: exact examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.domain.amounts import AMOUNT_MAX
from mutualcredit.domain.netting import NettingTransfer, net_positions, positions_after


def transfer(payer: str, payee: str, amount: int) -> NettingTransfer:
    return NettingTransfer(from_collective=payer, to_collective=payee, amount=amount)


def test_one_debtor_two_creditors() -> None:
    positions = {"cubo": -5000, "palafita": 3000, "goma": 2000}
    assert net_positions(positions) == [
        transfer("cubo", "palafita", 3000),
        transfer("cubo", "goma", 2000),
    ]


def test_largest_debtor_meets_largest_creditor_and_the_rest_is_rematched() -> None:
    # cubo (-70) pays palafita (+60) 60; cubo (-10) and goma (-30) remain against
    # casa (+40): goma is now the larger debtor and pays 30, then cubo pays 10.
    positions = {"cubo": -7000, "goma": -3000, "palafita": 6000, "casa": 4000}
    assert net_positions(positions) == [
        transfer("cubo", "palafita", 6000),
        transfer("goma", "casa", 3000),
        transfer("cubo", "casa", 1000),
    ]


def test_ties_are_broken_by_slug() -> None:
    positions = {"b": -100, "a": -100, "d": 100, "c": 100}
    assert net_positions(positions) == [transfer("a", "c", 100), transfer("b", "d", 100)]


def test_the_result_does_not_depend_on_the_order_of_the_mapping() -> None:
    positions = {"b": -100, "a": -100, "d": 100, "c": 100}
    assert net_positions(dict(reversed(positions.items()))) == net_positions(positions)


def test_zero_positions_take_no_part() -> None:
    assert net_positions({"cubo": 0, "palafita": 0}) == []
    assert net_positions({}) == []
    assert net_positions({"cubo": -1, "goma": 0, "palafita": 1}) == [
        transfer("cubo", "palafita", 1)
    ]


def test_positions_that_do_not_sum_to_zero_are_a_programmer_error() -> None:
    with pytest.raises(AssertionError, match="sum to 1"):
        net_positions({"cubo": -100, "palafita": 101})


def test_floats_are_a_programmer_error() -> None:
    with pytest.raises(AssertionError):
        net_positions({"cubo": -1.5, "palafita": 1.5})  # type: ignore[dict-item]


def test_transfers_are_frozen_values() -> None:
    settled = transfer("cubo", "palafita", 1)
    with pytest.raises(AttributeError):
        settled.amount = 2  # type: ignore[misc]


def test_positions_after_netting_are_all_zero() -> None:
    positions = {"cubo": -7000, "goma": -3000, "palafita": 6000, "casa": 4000}
    after = positions_after(positions, net_positions(positions))
    assert after == {"cubo": 0, "goma": 0, "palafita": 0, "casa": 0}


slugs = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True)


@st.composite
def zero_sum_positions(draw: st.DrawFn) -> dict[str, int]:
    """Positions for up to 12 collectives, some zero, that add up to exactly zero."""
    names = draw(st.lists(slugs, min_size=0, max_size=12, unique=True))
    if not names:
        return {}
    values = draw(
        st.lists(
            st.integers(min_value=-AMOUNT_MAX, max_value=AMOUNT_MAX) | st.just(0),
            min_size=len(names) - 1,
            max_size=len(names) - 1,
        )
    )
    values.append(-sum(values))
    return dict(zip(names, values, strict=True))


@given(zero_sum_positions())
def test_netting_settles_every_position_exactly(positions: dict[str, int]) -> None:
    transfers = net_positions(positions)
    assert all(value == 0 for value in positions_after(positions, transfers).values())


@given(zero_sum_positions())
def test_netting_uses_at_most_n_minus_1_transfers(positions: dict[str, int]) -> None:
    non_zero = sum(1 for value in positions.values() if value != 0)
    assert len(net_positions(positions)) <= max(non_zero - 1, 0)


@given(zero_sum_positions())
def test_transfers_are_positive_and_go_from_debtors_to_creditors(
    positions: dict[str, int],
) -> None:
    for settled in net_positions(positions):
        assert isinstance(settled.amount, int) and settled.amount > 0
        assert positions[settled.from_collective] < 0 < positions[settled.to_collective]
        assert settled.from_collective != settled.to_collective


@given(zero_sum_positions())
def test_transfers_move_exactly_what_debtors_owe(positions: dict[str, int]) -> None:
    transfers = net_positions(positions)
    owed = -sum(value for value in positions.values() if value < 0)
    assert sum(settled.amount for settled in transfers) == owed
    # Each collective only pays or only receives, never both.
    assert not {t.from_collective for t in transfers} & {t.to_collective for t in transfers}


@given(zero_sum_positions())
def test_netting_is_deterministic(positions: dict[str, int]) -> None:
    assert net_positions(dict(reversed(positions.items()))) == net_positions(positions)
