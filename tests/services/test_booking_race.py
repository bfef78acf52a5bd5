"""Several processes book the same slot at once: the check and the insert are one atomic step.

Each worker process opens the ledger on its own (a real second writer, not a
thread), waits at a barrier with the others, and books the same slot of a
one-unit studio, then — at a second barrier — of a three-unit room.  Exactly
one (then exactly three) must win; every other gets ``booking_unavailable``;
and no hold may leak: the only pending holds are the winners', and the cached
totals agree with the postings.  Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import text

from mutualcredit.domain.bookings import ResourceRules
from mutualcredit.services import bookings as svc
from tests.support import Net

WORKERS = 6
ROOM_UNITS = 3
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
START = datetime(2026, 12, 5, 17, tzinfo=UTC)
BARRIER_TIMEOUT_S = 60


def worker(url: str, handle: str, private: bytes, barrier: Any, results: Any) -> None:
    """Open the ledger, then book the studio and the room at the same moment as the others."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mutualcredit.domain.errors import MutualCreditError
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.keys import Signer, public_hex

    key = Ed25519PrivateKey.from_private_bytes(private)
    signer = Signer(handle, key, public_hex(key.public_key()))
    ledger = Ledger.open(url)
    for resource in ("studio", "room"):
        barrier.wait(BARRIER_TIMEOUT_S)
        try:
            made = svc.book(
                ledger,
                signer,
                resource=resource,
                booker=handle,
                start=START,
                end=START + timedelta(hours=2),
                at=NOW,
            )
            results.put((resource, handle, "ok", made.id))
        except MutualCreditError as error:
            results.put((resource, handle, error.code, 0))
    ledger.engine.dispose()


def raw(net: Net, handle: str) -> bytes:
    return net[handle].private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def test_concurrent_bookings_of_one_slot(net: Net) -> None:
    handles = [f"m{index}" for index in range(WORKERS)]
    for handle in handles:
        net.add_member(handle, "cubo", "100")
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="studio",
        collective="cubo",
        name="Estúdio",
        rules=ResourceRules(price=1500, per="hour"),
        at=NOW,
    )
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="room",
        collective="cubo",
        name="Salas",
        rules=ResourceRules(price=1000, per="hour", units=ROOM_UNITS),
        at=NOW,
    )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=worker, args=(net.url, h, raw(net, h), barrier, results))
        for h in handles
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * WORKERS)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    for resource, winners in (("studio", 1), ("room", ROOM_UNITS)):
        codes = sorted(code for name, _, code, _ in outcomes if name == resource)
        assert codes == ["booking_unavailable"] * (WORKERS - winners) + ["ok"] * winners, outcomes
    won = {(name, handle) for name, handle, code, _ in outcomes if code == "ok"}
    with net.ledger.read() as connection:
        rows = connection.execute(
            text(
                "SELECT r.slug, b.booker, b.status, t.status FROM booking b JOIN resource r "
                "ON r.id = b.resource_id JOIN transfer t ON t.id = b.hold_id"
            )
        ).all()
        pending = connection.execute(
            text("SELECT COUNT(*) FROM transfer WHERE kind = 'hold' AND status = 'pending'")
        ).scalar()
    assert {(slug, booker) for slug, booker, _, _ in rows} == won and len(rows) == len(won)
    assert {(status, hold) for _, _, status, hold in rows} == {("held", "pending")}
    assert pending == 1 + ROOM_UNITS  # no hold without its booking: nothing leaked
    for handle in handles:
        studio = 1500 * 2 if ("studio", handle) in won else 0
        room = 1000 * 2 if ("room", handle) in won else 0
        assert net.available(handle) == f"{(10_000 - studio - room) // 100}.00"
    net.assert_consistent()
