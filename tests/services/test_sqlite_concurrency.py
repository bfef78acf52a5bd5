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


def test_a_write_that_cannot_be_run_again_retries_taking_the_lock(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A streamed import begins its one transaction with begin_write: while another
    # process holds the write lock for longer than busy_timeout, BEGIN is retried
    # (as run_write retries a whole write) instead of failing with "database is locked".
    import sqlite3
    import threading
    import time

    from mutualcredit.persistence import engine as engines
    from mutualcredit.services.context import begin_write
    from tests.support import make_network

    url = str(tmp_path / "ledger.db")
    make_network(url).ledger.engine.dispose()
    monkeypatch.setattr(engines, "SQLITE_BUSY_TIMEOUT_MS", 20)
    engine = engines.make_engine(engines.database_url(url))
    holder = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.5, holder.execute, ("COMMIT",))
    started = time.monotonic()
    released.start()
    try:
        connection, transaction = begin_write(engine)
    finally:
        released.join()
    waited = time.monotonic() - started
    try:
        assert waited >= 0.4  # it waited for the lock, through several timeouts of 20 ms
        connection.exec_driver_sql("UPDATE chain_head SET seq = seq")
        transaction.commit()
    finally:
        connection.close()
        holder.close()
        engine.dispose()
