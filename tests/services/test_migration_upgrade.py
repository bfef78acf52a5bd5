"""A ledger made at schema revision 0001 upgrades to head with everything intact.

The fixture ledger is built at revision 0001 — only the first migration runs,
then the core services write a network with payments in and across
collectives, holds (one posted, one pending), a reversal and a limit change,
all of which live in 0001's tables.  ``mutualcredit db upgrade`` then brings
it to head on SQLite and on PostgreSQL: every balance, transfer body and
signature, and every chain hash is unchanged, the chain recomputes, the
invariants and ``verify`` are clean,
and the upgraded ledger takes new payments.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mutualcredit.persistence import schema
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.context import Ledger
from mutualcredit.services.copy import recompute_chain, verify_if_installed
from mutualcredit.services.invariants import check_invariants
from mutualcredit.services.queries import list_accounts
from tests.support import Net, make_network, run_cli


def build_at_0001(url: str, monkeypatch: pytest.MonkeyPatch) -> Net:
    from alembic import command

    def upgrade_to_0001(engine):  # type: ignore[no-untyped-def]
        with engine.begin() as connection:
            command.upgrade(schema.alembic_config(connection), "0001")
        return "none"

    with monkeypatch.context() as patch:
        patch.setattr(schema, "upgrade", upgrade_to_0001)
        net = make_network(url)
        assert schema.current_revision(net.ledger.engine) == "0001"
        net.run("ana -> bia 30.00", "ana -> caio 12.50", "caio -> ana 5.00")
        pending = net.hold("ana", "bia", "3.00").transfer_id
        posted = net.hold("bia", "caio", "2.00").transfer_id
        payments.resolve_hold(net.ledger, net["caio"], hold_id=posted, action="post")
        payments.reverse(net.ledger, net["banco"], transfer_id=2, reason="wrong person")
        setup.set_limit(
            net.ledger, net["banco"], account="members:bia", reason="new member", limit_lower=-2_000
        )
        assert pending and schema.current_revision(net.ledger.engine) == "0001"
    return net


def snapshot(ledger: Ledger) -> tuple:
    with ledger.read() as connection:
        transfers = connection.execute(
            text(
                "SELECT id, kind, status, author, idempotency_key, content_hash, body, body_hash, "
                "signature, event_seq FROM transfer ORDER BY id"
            )
        ).all()
        events = connection.execute(text("SELECT * FROM event ORDER BY seq")).all()
        records = connection.execute(
            text("SELECT id, type, body, body_hash, signature FROM record ORDER BY id")
        ).all()
        head = connection.execute(text("SELECT seq, chain_hash FROM chain_head")).one()
    return (
        [tuple(r) for r in transfers],
        [tuple(r) for r in events],
        [tuple(r) for r in records],
        tuple(head),
        list_accounts(ledger),
    )


def test_a_ledger_made_at_0001_upgrades_to_head_intact(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = build_at_0001(db_url, monkeypatch)
    before = snapshot(net.ledger)
    assert len(before[0]) == 7 and before[3][0] == len(before[1])

    refused = run_cli("--db", db_url, "balance", "ana")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {_shown(db_url)} is at schema revision 0001; run "
        f"'mutualcredit db upgrade' to bring it to {schema.HEAD_REVISION}\n"
    )
    status = run_cli("--db", db_url, "db", "status")
    assert status.stdout == f"database revision: 0001; program: {schema.HEAD_REVISION}\n"

    upgraded = run_cli("--db", db_url, "db", "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == f"upgraded from 0001 to {schema.HEAD_REVISION}\n"

    ledger = Ledger.open(db_url)  # the schema check passes now
    assert snapshot(ledger) == before
    with ledger.read() as connection:
        assert recompute_chain(connection) == before[3][0]
    assert check_invariants(ledger) == []
    assert verify_if_installed(ledger)  # verify ran, and found nothing
    result = payments.pay(ledger, net["bia"], payer="bia", payee="ana", amount=100)
    assert result.transfer_id == 8 and check_invariants(ledger) == []
    again = run_cli("--db", db_url, "db", "upgrade")
    assert again.stdout == f"upgraded from {schema.HEAD_REVISION} to {schema.HEAD_REVISION}\n"
    ledger.engine.dispose()


def _shown(url: str) -> str:
    from mutualcredit.persistence.engine import database_url, describe

    return describe(database_url(url))
