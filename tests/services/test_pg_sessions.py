"""PostgreSQL sessions: lock and idle timeouts are set, and dead pooled connections are replaced."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from mutualcredit.persistence import engine as engines
from tests.support import PG_ADMIN_URL, Net, drop_postgres_schema, make_network, postgres_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_net() -> Iterator[Net]:
    url, name = postgres_schema_url()
    try:
        net = make_network(url)
        yield net
        net.ledger.engine.dispose()
    finally:
        drop_postgres_schema(name)


def test_sessions_bound_lock_waits_and_idle_transactions(pg_net: Net) -> None:
    with pg_net.ledger.read() as connection:
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "10s"
        assert (
            connection.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
        )


def test_a_pooled_connection_the_server_dropped_is_replaced(
    pg_net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping on every checkout, but one after idling: a server restart is not an error."""
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    ledger = pg_net.ledger
    with ledger.read() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    pg_net.run("ana -> bia 1.00")  # a write on a fresh connection, no error
    with ledger.read() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    pg_net.assert_consistent()
