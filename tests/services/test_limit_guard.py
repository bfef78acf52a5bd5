"""The one-statement writer's SQL limit guard says exactly what the limit rule says.

``posting._LIMIT_CROSSED`` is the PostgreSQL statement's copy of
``domain.limits.check_limits``; this property evaluates it on the server, over
random account states and movements, and compares it with the rule.  If the two
ever part, the guard sends a valid payment down the full path (slower) or, worse,
lets one through that the rule refuses: this test fails first.
"""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutualcredit.domain.amounts import AMOUNT_MAX
from mutualcredit.domain.limits import AccountState, LimitExceeded, check_limits
from mutualcredit.services.posting import _LIMIT_CROSSED
from tests.support import PG_ADMIN_URL, require_postgres

totals = st.integers(0, AMOUNT_MAX)
limits = st.none() | st.integers(-AMOUNT_MAX, AMOUNT_MAX)
movements = st.integers(-AMOUNT_MAX, AMOUNT_MAX).filter(lambda amount: amount != 0)
# Near the edges, where an off-by-one lives: states a movement's size around the limit.
edges = st.integers(-3, 3)


@pytest.fixture(scope="module")
def server() -> psycopg.Connection:
    require_postgres()
    connection = psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    )
    yield connection
    connection.close()


def rule_refuses(state: dict[str, int | None], amount: int) -> bool:
    balance = int(state["posted_credits"] or 0) - int(state["posted_debits"] or 0)
    try:
        check_limits(
            AccountState(
                name="members:x",
                currency="CARD",
                scale=2,
                balance=balance,
                pending_debits=int(state["pending_debits"] or 0),
                pending_credits=int(state["pending_credits"] or 0),
                limit_lower=state["limit_lower"],
                limit_upper=state["limit_upper"],
            ),
            amount=amount,
        )
    except LimitExceeded:
        return True
    return False


def guard_refuses(server: psycopg.Connection, state: dict[str, int | None], amount: int) -> bool:
    row = server.execute(
        "SELECT " + _LIMIT_CROSSED + " FROM (SELECT %s::bigint AS posted_debits, "
        "%s::bigint AS posted_credits, %s::bigint AS pending_debits, "
        "%s::bigint AS pending_credits, %s::bigint AS limit_lower, %s::bigint AS limit_upper) a, "
        "(SELECT %s::bigint AS amount) m",
        [
            state["posted_debits"],
            state["posted_credits"],
            state["pending_debits"],
            state["pending_credits"],
            state["limit_lower"],
            state["limit_upper"],
            amount,
        ],
    ).fetchone()
    assert row is not None
    return bool(row[0])


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, int | None], int]:
    state: dict[str, int | None] = {
        "posted_debits": draw(totals),
        "posted_credits": draw(totals),
        "pending_debits": draw(totals),
        "pending_credits": draw(totals),
        "limit_lower": draw(limits),
        "limit_upper": draw(limits),
    }
    if draw(st.booleans()):  # a movement that lands right at (or one past) a limit
        balance = int(state["posted_credits"] or 0) - int(state["posted_debits"] or 0)
        if state["limit_lower"] is not None and draw(st.booleans()):
            amount = (
                int(state["limit_lower"])
                - balance
                + int(state["pending_debits"] or 0)
                + draw(edges)
            )
        elif state["limit_upper"] is not None:
            amount = (
                int(state["limit_upper"])
                - balance
                - int(state["pending_credits"] or 0)
                + draw(edges)
            )
        else:
            amount = draw(movements)
        if amount == 0 or abs(amount) > AMOUNT_MAX:
            amount = draw(movements)
    else:
        amount = draw(movements)
    return state, amount


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_the_sql_guard_refuses_exactly_what_the_limit_rule_refuses(
    server: psycopg.Connection, case: tuple[dict[str, int | None], int]
) -> None:
    state, amount = case
    assert guard_refuses(server, state, amount) == rule_refuses(state, amount), (state, amount)


def test_the_edges_are_where_the_rule_says(server: psycopg.Connection) -> None:
    # balance 0, limit -100.00: a debit of 100.00 is allowed, one of 100.01 is not
    state: dict[str, int | None] = {
        "posted_debits": 0,
        "posted_credits": 0,
        "pending_debits": 0,
        "pending_credits": 0,
        "limit_lower": -10_000,
        "limit_upper": None,
    }
    assert not guard_refuses(server, state, -10_000)
    assert guard_refuses(server, state, -10_001)
    assert rule_refuses(state, -10_001) and not rule_refuses(state, -10_000)
    held = {**state, "pending_debits": 1}  # a hold counts against spending power
    assert guard_refuses(server, held, -10_000) and rule_refuses(held, -10_000)
