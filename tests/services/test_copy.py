"""Moving a ledger between databases: SQLite to PostgreSQL and back, verified, all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from mutualcredit.persistence import schema
from mutualcredit.persistence.engine import database_url, make_engine
from mutualcredit.services import payments
from mutualcredit.services.context import Ledger
from mutualcredit.services.copy import (
    CopyMismatch,
    TargetNotEmpty,
    copy_ledger,
    recompute_chain,
)
from mutualcredit.services.invariants import check_invariants
from mutualcredit.services.queries import list_accounts
from tests.support import Net, make_network

pytestmark = pytest.mark.postgres


def busy_network(url: str) -> Net:
    """A network with payments in and across collectives, a hold, a posted hold, a reversal."""
    net = make_network(url)
    net.run("ana -> bia 30.00", "ana -> caio 12.50", "caio -> bia 7.25", "bia -> ana 1.00")
    hold = net.hold("ana", "caio", "5.00").transfer_id
    posted = net.hold("ana", "bia", "4.00").transfer_id
    payments.resolve_hold(net.ledger, net["ana"], hold_id=posted, action="post")
    assert hold
    first = net.run("ana -> bia 2.00")[0]
    payments.reverse(net.ledger, net["banco"], transfer_id=first, reason="paid twice")
    net.assert_consistent()
    return net


def everything(ledger: Ledger) -> tuple:
    """What a copy must keep: every balance, transfer signature and the chain."""
    with ledger.read() as connection:
        transfers = connection.execute(
            text(
                "SELECT id, kind, status, author, idempotency_key, body, body_hash, signature, "
                "event_seq FROM transfer ORDER BY id"
            )
        ).all()
        events = connection.execute(
            text("SELECT seq, type, body_hash, event_hash, chain_hash FROM event ORDER BY seq")
        ).all()
    return ([tuple(r) for r in transfers], [tuple(r) for r in events], list_accounts(ledger))


def test_copy_sqlite_to_postgres_and_back(tmp_path, pg_url: str) -> None:
    net = busy_network(str(tmp_path / "source.db"))
    before = everything(net.ledger)

    report = copy_ledger(net.ledger, pg_url, rows_per_chunk=3)
    assert report.revision == schema.HEAD_REVISION
    assert report.checks[:5] == [
        "row counts",
        "account totals",
        "chain head",
        "hash chain",
        "invariants",
    ]
    assert report.tables["transfer"] == len(before[0])
    copy = Ledger.open(pg_url)
    assert copy.is_postgres
    assert everything(copy) == before

    # The copy is a working ledger: new ids continue after the copied ones (sequences moved).
    result = payments.pay(copy, net["bia"], payer="bia", payee="ana", amount=100)
    assert result.transfer_id == len(before[0]) + 1
    assert check_invariants(copy) == []

    back = tmp_path / "back.db"
    copy_ledger(copy, str(back), rows_per_chunk=2)
    returned = Ledger.open(str(back))
    assert everything(returned) == everything(copy)
    assert returned.network == net.ledger.network
    result = payments.pay(returned, net["bia"], payer="bia", payee="ana", amount=100)
    assert result.transfer_id == len(before[0]) + 2
    assert check_invariants(returned) == []


def test_copy_refuses_a_non_empty_target_and_writes_nothing(tmp_path, pg_url: str) -> None:
    net = make_network(str(tmp_path / "source.db"))
    other = make_network(pg_url)
    other.run("ana -> bia 1.00")
    counts = summarise_pg(pg_url)
    with pytest.raises(
        TargetNotEmpty,
        match=r"is not empty \(\d+ tables: .*\); a ledger is "
        r"copied only into an empty database",
    ):
        copy_ledger(net.ledger, pg_url)
    assert summarise_pg(pg_url) == counts

    sqlite_target = tmp_path / "existing.db"
    make_network(str(sqlite_target))
    with pytest.raises(TargetNotEmpty):
        copy_ledger(other.ledger, str(sqlite_target))


def summarise_pg(url: str) -> dict:
    engine = make_engine(database_url(url))
    with engine.connect() as connection:
        names = sorted(inspect(connection).get_table_names())
        counts = {
            name: connection.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar()
            for name in names
        }
    engine.dispose()
    return counts


def test_copy_onto_itself_is_refused(tmp_path) -> None:
    net = make_network(str(tmp_path / "source.db"))
    with pytest.raises(Exception, match="is the ledger itself"):
        copy_ledger(net.ledger, str(tmp_path / "source.db"))


@pytest.mark.parametrize("direction", ["to_postgres", "to_sqlite"])
def test_an_interrupted_copy_leaves_the_target_refused(
    tmp_path, pg_url: str, direction: str
) -> None:
    if direction == "to_postgres":
        net, target = busy_network(str(tmp_path / "source.db")), pg_url
    else:
        net, target = busy_network(pg_url), str(tmp_path / "target.db")
    copied: list[tuple[str, int]] = []

    def interrupt(table: str, rows: int) -> None:
        copied.append((table, rows))
        if table == "transfer":
            raise KeyboardInterrupt  # the operator pressed Ctrl-C in the middle of transfers

    with pytest.raises(KeyboardInterrupt):
        copy_ledger(net.ledger, target, rows_per_chunk=2, progress=interrupt)
    assert ("transfer", 2) in copied  # some transfers were written, not all
    with pytest.raises(
        schema.CopyIncomplete,
        match=r"holds an incomplete copy of a ledger "
        r"\('mutualcredit db copy' did not finish\); empty it and copy again",
    ):
        Ledger.open(target)
    with pytest.raises(schema.CopyIncomplete):
        schema.upgrade(make_engine(database_url(target)))
    with pytest.raises(TargetNotEmpty):  # copying again needs an empty target
        copy_ledger(net.ledger, target)


def test_copy_of_the_demo_ledger(tmp_path, pg_url: str) -> None:
    from mutualcredit.services import demo

    built = demo.build(
        tmp_path / "demo.db", seed=7, home=tmp_path / "home", passphrase="demo-pass", kdf_n=2**10
    )
    report = copy_ledger(built.ledger, pg_url)
    copy = Ledger.open(pg_url)
    assert everything(copy) == everything(built.ledger)
    assert demo.positions(copy) == demo.positions(built.ledger)
    assert report.events == recompute_chain_of(copy)
    assert check_invariants(copy) == []


def recompute_chain_of(ledger: Ledger) -> int:
    with ledger.read() as connection:
        return recompute_chain(connection)


def test_verification_finds_a_tampered_copy(tmp_path, pg_url: str) -> None:
    """The chain check is real: an event edited behind the program's back is named."""
    net = busy_network(str(tmp_path / "source.db"))
    copy_ledger(net.ledger, pg_url)
    copy = Ledger.open(pg_url)
    with copy.engine.begin() as connection:
        connection.execute(text("UPDATE event SET body_hash = :h WHERE seq = 5"), {"h": "0" * 64})
        with pytest.raises(CopyMismatch, match="event 5 of the copy does not continue"):
            recompute_chain(connection)
