"""Concurrency on one SQLite file: 4 writer processes × 300 payments, one hot account.

``BEGIN IMMEDIATE`` serialises the writers; a busy file is waited for and
retried.  Every accepted payment is present exactly once, none lost, none
over its limit, the chain and invariants clean (see ``concurrent_payments``).
"""

from __future__ import annotations

from tests.services import concurrent_payments


def test_four_writers_three_hundred_payments_each_on_one_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = str(tmp_path / "ledger.db")
    outcomes, balances = concurrent_payments.run(url, workers=4, payments=300)
    assert len(outcomes) == 4 * 300
    concurrent_payments.check_ledger(url, outcomes, balances)
