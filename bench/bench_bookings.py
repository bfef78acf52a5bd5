"""Bookings benchmarks: a resource with 100,000 existing bookings, each figure beside a baseline.

    python bench/bench_bookings.py [--existing 100000] [--checks 2000] [--bookings 1000]
                                   [--db postgresql+psycopg://…]   (default: a SQLite file)

1. The availability check of one candidate slot (the overlap query on
   ``ix_booking_resource_range``, bounded below by the resource's longest
   booking, plus the pure sweep): median and p99 time, over ``--checks``
   random slots inside the history — baselines in the same run: the same
   check on a resource with no bookings, and the query *without* the lower
   bound on ``start_at`` (what a naive ``start < b AND end > a`` costs).
   The query plan is printed.
2. Sustained bookings per second in-process: through ``bookings.book`` (each
   one signed, its own write transaction, SQLite WAL + synchronous=FULL) —
   baseline in the same run: a bare ``payments.hold`` of the same amount between
   the same accounts, the money half of every booking; and through
   ``bookings.book_many`` in series of ``--batch`` slots (one signature and one
   transaction per series, the path of ``book --weekly N``) — baseline: bare
   ``post_batch`` of as many holds.

The 100,000 existing bookings are made through the ledger too: their holds are
posted with ``post_batch`` (one signature per 10,000) and the booking rows
inserted by its ``after`` hook, the same atomic pattern as ``book``.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from sqlalchemy import insert, text

from mutualcredit.domain.bookings import BookingUnavailable, ResourceRules, check_availability
from mutualcredit.domain.transfers import TransferDraft
from mutualcredit.persistence import models_bookings
from mutualcredit.services import bookings as svc
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.clock import iso, parse_iso
from mutualcredit.services.keys import Signer
from mutualcredit.services.posting import post_batch

STEP = timedelta(minutes=90)  # one 1-hour booking every 90 minutes: 100,000 span ~17 years
LENGTH = timedelta(hours=1)
BATCH = 10_000
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
HISTORY_START = datetime(2008, 1, 7, 12, tzinfo=UTC)  # 100,000 steps end in 2025, before NOW


def build(url: str):  # type: ignore[no-untyped-def]
    admin = Signer.generate("banco")
    ledger = setup.init_network(
        url,
        setup.NetworkSettings(
            name="bench",
            card="CARD",
            admin="banco",
            member_limit_lower=-(10**12),
            clearing_limit=10**13,
        ),
        admin,
        setup.new_network_id(),
    )
    setup.add_collective(ledger, admin, slug="cubo", name="Cubo", currency="CUBO", rate=Fraction(1))
    signers = {"banco": admin}
    for handle in ("ana", "bia"):
        signers[handle] = Signer.generate(handle)
        setup.add_member(
            ledger,
            admin,
            handle=handle,
            collective="cubo",
            public_key=signers[handle].public_key,
            limit_lower=-(10**12),
            coordinator=handle == "ana",
        )
    for slug in ("studio", "empty"):
        svc.add_resource(
            ledger,
            signers["ana"],
            slug=slug,
            collective="cubo",
            name=slug,
            rules=ResourceRules(price=100, per="hour"),
            at=HISTORY_START,
        )
    return ledger, signers


def fill(ledger, signer: Signer, existing: int) -> None:  # type: ignore[no-untyped-def]
    """``existing`` held bookings of the studio, through post_batch and its after hook."""
    resource = svc.get_resource(ledger, "studio")
    for first in range(0, existing, BATCH):
        slots = [
            HISTORY_START + index * STEP for index in range(first, min(existing, first + BATCH))
        ]
        drafts = [
            TransferDraft(
                network=ledger.network.id,
                kind="hold",
                author=signer.handle,
                key=f"bench-{secrets.token_hex(8)}",
                postings=payments.route(
                    ledger,
                    payments.resolve_account(ledger, "bia"),
                    payments.resolve_account(ledger, resource.account),
                    100,
                ),
                created_at=iso(start - timedelta(days=1)),
                memo="bench",
                meta={
                    "booking": {
                        "resource": "studio",
                        "start": iso(start),
                        "end": iso(start + LENGTH),
                    }
                },
                expires_at=iso(start + LENGTH + resource.rules.grace),
            )
            for start in slots
        ]

        def after(connection, results, slots=slots):  # type: ignore[no-untyped-def]
            connection.execute(
                insert(models_bookings.BOOKING_TABLE),
                [
                    {
                        "resource_id": resource.id,
                        "booker": "bia",
                        "start_at": iso(start),
                        "end_at": iso(start + LENGTH),
                        "status": "held",
                        "price": 100,
                        "charged": None,
                        "hold_id": result.transfer_id,
                        "resolution_id": None,
                        "memo": "",
                        "created_at": iso(start - timedelta(days=1)),
                        "resolved_at": None,
                        "resolved_by": None,
                    }
                    for start, result in zip(slots, results, strict=True)
                ],
            )
            connection.execute(
                text("UPDATE resource SET duration_longest = :d WHERE id = :i"),
                {"d": int(LENGTH.total_seconds()), "i": resource.id},
            )

        post_batch(ledger, drafts, signer, kind="bench_bookings", after=after)


def time_checks(ledger, slug: str, candidates, bounded: bool = True) -> list[float]:  # type: ignore[no-untyped-def]
    resource = svc.get_resource(ledger, slug)
    zone = ledger.network.timezone
    seconds = []
    with ledger.read() as connection:
        for candidate in candidates:
            started = time.perf_counter()
            if bounded:
                try:
                    svc.check_slot(connection, ledger, resource, candidate)
                except BookingUnavailable:
                    pass
            else:
                window = svc.availability_window(candidate, zone)
                rows = connection.execute(
                    text(
                        "SELECT start_at, end_at FROM booking WHERE resource_id = :r "
                        "AND start_at < :hi AND end_at > :lo AND status IN ('held', 'completed')"
                    ),
                    {"r": resource.id, "hi": iso(window.end), "lo": iso(window.start)},
                )
                existing = [svc.Interval(start=parse_iso(s), end=parse_iso(e)) for s, e in rows]
                try:
                    check_availability(existing, candidate, units=1, zone=zone, resource=slug)
                except BookingUnavailable:
                    pass
            seconds.append(time.perf_counter() - started)
    return seconds


def shown(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms"


def plan(ledger) -> str:  # type: ignore[no-untyped-def]
    query = (
        "SELECT start_at, end_at FROM booking WHERE resource_id = 1 AND start_at >= 'a' "
        "AND start_at < 'b' AND end_at > 'c' AND status IN ('held', 'completed')"
    )
    prefix = "EXPLAIN " if ledger.is_postgres else "EXPLAIN QUERY PLAN "
    with ledger.read() as connection:
        return " | ".join(str(row[-1]) for row in connection.execute(text(prefix + query)))


def rates(ledger, signers, count: int, batch: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Bookings/s one per transaction and in series of ``batch``, beside bare holds."""
    studio = svc.get_resource(ledger, "studio")
    first = NOW + timedelta(days=1)
    figures = {"book": 0.0, "hold": 0.0}
    # Alternate the two in rounds so that neither gets the quieter half of the run.
    rounds, done = 5, 0
    for _ in range(rounds):
        size = count // rounds
        started = time.perf_counter()
        for _ in range(size):
            payments.hold(
                ledger,
                signers["bia"],
                payer="members:bia",
                payee=studio.account,
                amount=100,
                expires_at=NOW + timedelta(days=30),
                at=NOW,
            )
        figures["hold"] += time.perf_counter() - started
        started = time.perf_counter()
        for index in range(done, done + size):
            start = first + index * STEP
            svc.book(
                ledger,
                signers["bia"],
                resource="studio",
                booker="bia",
                start=start,
                end=start + LENGTH,
                at=NOW,
            )
        figures["book"] += time.perf_counter() - started
        done += size
    figures = {name: done / seconds for name, seconds in figures.items()}
    first += done * STEP
    series = max(1, 10 * count // batch)
    started = time.perf_counter()
    for number in range(series):
        slots = [
            (
                first + (number * batch + index) * STEP,
                first + (number * batch + index) * STEP + LENGTH,
            )
            for index in range(batch)
        ]
        svc.book_many(ledger, signers["bia"], resource="studio", booker="bia", slots=slots, at=NOW)
    figures["book_many"] = series * batch / (time.perf_counter() - started)
    source = payments.resolve_account(ledger, "bia")
    target = payments.resolve_account(ledger, studio.account)
    started = time.perf_counter()
    for _ in range(series):
        post_batch(
            ledger,
            [
                TransferDraft(
                    network=ledger.network.id,
                    kind="hold",
                    author="bia",
                    key=f"bench-{secrets.token_hex(8)}",
                    postings=payments.route(ledger, source, target, 100),
                    created_at=iso(NOW),
                    expires_at=iso(NOW + timedelta(days=30)),
                )
                for _ in range(batch)
            ],
            signers["bia"],
            kind="bench",
        )
    figures["post_batch"] = series * batch / (time.perf_counter() - started)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="slots per book_many series")
    parser.add_argument("--db", default=None, help="a SQLAlchemy URL (default: a SQLite file)")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-bookings-"))
    url = arguments.db or str(folder / "ledger.db")
    assert HISTORY_START + arguments.existing * STEP < NOW, "the history must end before NOW"
    ledger, signers = build(url)
    started = time.perf_counter()
    fill(ledger, signers["bia"], arguments.existing)
    print(
        f"backend: {ledger.engine.dialect.name}; {arguments.existing} existing bookings made "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with ledger.engine.begin() as connection:
        # Settle the bulk fill first, so that no figure pays for it: statistics on
        # PostgreSQL, the WAL folded back into the database file on SQLite.
        connection.execute(
            text("ANALYZE booking" if ledger.is_postgres else "PRAGMA wal_checkpoint(TRUNCATE)")
        )
    print(f"plan: {plan(ledger)}")
    rng = random.Random(1)
    span = arguments.existing * STEP
    candidates = []
    for _ in range(arguments.checks):
        start = HISTORY_START + timedelta(
            minutes=30 * rng.randrange(int(span / timedelta(minutes=30)))
        )
        candidates.append(svc.Interval(start=start, end=start + LENGTH))
    time_checks(ledger, "studio", candidates[:50])  # warm the cache
    print(
        f"availability check, {arguments.existing} bookings:   "
        f"{shown(time_checks(ledger, 'studio', candidates))}"
    )
    print(
        f"  baseline, no bookings:                {shown(time_checks(ledger, 'empty', candidates))}"
    )
    print(
        f"  baseline, query without lower bound:  "
        f"{shown(time_checks(ledger, 'studio', candidates, bounded=False))}"
    )
    figures = rates(ledger, signers, arguments.bookings, arguments.batch)
    print(f"bookings/s in-process, one per transaction (book):      {figures['book']:,.0f}")
    print(f"  baseline, bare holds/s (payments.hold):               {figures['hold']:,.0f}")
    print(
        f"bookings/s in-process, series of {arguments.batch} (book_many):    "
        f"{figures['book_many']:,.0f}"
    )
    print(f"  baseline, bare holds/s in batches (post_batch):       {figures['post_batch']:,.0f}")


if __name__ == "__main__":
    main()
