"""Concurrency at scale on PostgreSQL: 8 writer processes × 500 payments, one hot account.

Each worker checks every answer against its own model (see
``concurrent_payments``): valid payments are accepted — delayed under
contention, never refused — and invalid ones refused for their limit; then
every accepted payment is in the ledger exactly once, none lost, balances as
modelled, no limit passed, the hash chain and the invariants clean.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from mutualcredit.domain.transfers import TransferDraft
from mutualcredit.services.clock import iso
from mutualcredit.services.payments import resolve_account, route
from mutualcredit.services.posting import post_signed, sign
from tests.services import concurrent_payments
from tests.support import make_network

pytestmark = pytest.mark.postgres


def test_eight_writers_five_hundred_payments_each_with_a_hot_account(pg_url: str) -> None:
    outcomes, balances = concurrent_payments.run(pg_url, workers=8, payments=500)
    assert len(outcomes) == 8 * 500
    concurrent_payments.check_ledger(pg_url, outcomes, balances)


def test_the_same_payment_sent_by_eight_clients_at_once_is_written_once(pg_url: str) -> None:
    """Under READ COMMITTED all eight pass the idempotency check before any commits; the
    losers hit the unique (author, key) constraint, are retried, and return the original."""
    net = make_network(pg_url)
    ledger = net.ledger
    postings = route(ledger, resolve_account(ledger, "ana"), resolve_account(ledger, "bia"), 500)
    signed = sign(
        ledger,
        TransferDraft(
            network=ledger.network.id,
            kind="payment",
            author="ana",
            key="once",
            postings=postings,
            created_at=iso(datetime.now(UTC)),
        ),
        net["ana"],
    )
    barrier = threading.Barrier(8)
    results, errors = [], []

    def send() -> None:
        barrier.wait()
        try:
            results.append(post_signed(ledger, signed))
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({result.transfer_id for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False] + [True] * 7
    with ledger.read() as connection:
        assert (
            connection.execute(
                text("SELECT COUNT(*) FROM transfer WHERE idempotency_key = 'once'")
            ).scalar()
            == 1
        )
    assert net.balance("ana") == "-5.00"
    net.assert_consistent()
