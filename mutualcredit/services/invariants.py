"""The ledger's invariants, checked over the whole database with set-based SQL.

One function, :func:`check_invariants`, checks them all and returns every
problem found (an empty list means the ledger is consistent).  Tests call it
after every mutation; ``verify`` builds on it.

1. ``zero_sum``: in each currency, posted postings sum to zero (mutual credit).
2. ``cached_totals``: each account's cached posted and pending totals equal
   the sums of its postings (posted transfers; pending holds).
3. ``limit``: no account is beyond its limits, holds included — except one that a
   reversal forced past its limit (``reverse --force``, recorded in the signed body).
4. ``positions``: the positions of collectives (``network:clearing:*``) sum to zero.
5. ``hold_status``: each resolved hold has exactly one resolution and a
   matching status; each pending hold has none.
6. ``reversal``: each reversal reverses a posted transfer, at most once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from mutualcredit.domain.transfers import HOLD_RESOLUTION_STATUS
from mutualcredit.services.context import Ledger

POSTED = "t.status = 'posted' AND t.kind != 'hold'"
PENDING = "t.status = 'pending' AND t.kind = 'hold'"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    code: str
    subject: str  # the account, transfer or currency concerned
    message: str


def check_invariants(ledger: Ledger) -> list[Problem]:
    problems: list[Problem] = []
    with ledger.read() as connection:
        for currency, total in connection.execute(
            text(
                f"SELECT p.currency, SUM(p.amount) FROM posting p JOIN transfer t "
                f"ON t.id = p.transfer_id WHERE {POSTED} GROUP BY p.currency"
            )
        ):
            if int(total) != 0:
                problems.append(
                    Problem(
                        code="zero_sum",
                        subject=currency,
                        message=f"{currency} postings sum to {int(total):+d}",
                    )
                )
        problems += _cached_totals(connection)
        problems += _limits(connection)
        total = (
            connection.execute(
                text(
                    "SELECT COALESCE(SUM(posted_credits - posted_debits), 0) FROM account "
                    "WHERE kind = 'network_clearing'"
                )
            ).scalar()
            or 0
        )
        if int(total) != 0:
            problems.append(
                Problem(
                    code="positions",
                    subject="network:clearing",
                    message=f"positions sum to {int(total):+d}",
                )
            )
        problems += _holds(connection)
        problems += _reversals(connection)
    return problems


def _cached_totals(connection) -> list[Problem]:  # type: ignore[no-untyped-def]
    rows = connection.execute(
        text(f"""
        SELECT a.name, a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,
          COALESCE(SUM(CASE WHEN {POSTED} AND p.amount < 0 THEN -p.amount END), 0),
          COALESCE(SUM(CASE WHEN {POSTED} AND p.amount > 0 THEN p.amount END), 0),
          COALESCE(SUM(CASE WHEN {PENDING} AND p.amount < 0 THEN -p.amount END), 0),
          COALESCE(SUM(CASE WHEN {PENDING} AND p.amount > 0 THEN p.amount END), 0)
        FROM account a LEFT JOIN posting p ON p.account_id = a.id
        LEFT JOIN transfer t ON t.id = p.transfer_id
        GROUP BY a.id, a.name, a.posted_debits, a.posted_credits, a.pending_debits,
          a.pending_credits""")
    )
    problems = []
    for row in rows:
        cached, actual = tuple(int(v) for v in row[1:5]), tuple(int(v) for v in row[5:9])
        if cached != actual:
            problems.append(
                Problem(
                    code="cached_totals",
                    subject=row[0],
                    message=f"{row[0]}: cached totals (debits, credits, pending debits, pending "
                    f"credits) {cached} differ from its postings {actual}",
                )
            )
    return problems


def _limits(connection) -> list[Problem]:  # type: ignore[no-untyped-def]
    # A reversal forced past a limit (recorded as meta.force in its signed body) may leave
    # an account beyond it; that account is then only refused further debits.
    rows = connection.execute(
        text(
            "SELECT a.name, a.posted_credits - a.posted_debits AS balance, a.pending_debits, "
            "a.pending_credits, a.limit_lower, a.limit_upper FROM account a "
            "WHERE NOT EXISTS (SELECT 1 FROM posting p JOIN transfer t ON t.id = p.transfer_id "
            "WHERE p.account_id = a.id AND t.kind = 'reversal' AND t.body LIKE :forced)"
        ),
        {"forced": '%"force":true%'},
    )
    problems = []
    for name, balance, pending_debits, pending_credits, lower, upper in rows:
        if lower is not None and balance - pending_debits < lower:
            problems.append(
                Problem(code="limit", subject=name, message=f"{name} is below its lower limit")
            )
        if upper is not None and balance + pending_credits > upper:
            problems.append(
                Problem(code="limit", subject=name, message=f"{name} is above its upper limit")
            )
    return problems


def _holds(connection) -> list[Problem]:  # type: ignore[no-untyped-def]
    rows = connection.execute(
        text("""
        SELECT h.id, h.status, COUNT(r.id), MIN(r.kind) FROM transfer h
        LEFT JOIN transfer r ON r.resolves_id = h.id
        WHERE h.kind = 'hold' GROUP BY h.id, h.status""")
    )
    expected = HOLD_RESOLUTION_STATUS
    problems = []
    for hold_id, status, count, kind in rows:
        wanted = "pending" if count == 0 else expected.get(kind, "?")
        if count > 1 or status != wanted:
            problems.append(
                Problem(
                    code="hold_status",
                    subject=f"transfer {hold_id}",
                    message=f"hold {hold_id} is {status} with {count} resolutions ({kind})",
                )
            )
    return problems


def _reversals(connection) -> list[Problem]:  # type: ignore[no-untyped-def]
    rows = connection.execute(
        text("""
        SELECT r.id, r.reverses_id, o.status, o.kind FROM transfer r
        LEFT JOIN transfer o ON o.id = r.reverses_id WHERE r.kind = 'reversal'""")
    )
    problems = []
    for reversal_id, original_id, status, kind in rows:
        if status != "posted" or kind in (None, "hold", "reversal"):
            problems.append(
                Problem(
                    code="reversal",
                    subject=f"transfer {reversal_id}",
                    message=f"reversal {reversal_id} reverses {original_id} ({kind}, {status})",
                )
            )
    return problems
