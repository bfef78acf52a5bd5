"""``verify`` recomputes bookings from their signed holds: every way a booking ends is clean.

The booking table is what the bookings service reads to find a slot taken and
a booking still held, so ``verify`` compares each row with its hold's signed
``meta.booking`` and the hold's resolution.  These are the paths that write
a booking row (SQLite and PostgreSQL): booked alone and as a weekly series,
completed in part, cancelled free, with its fee and with the fee waived,
expired by the bookings service and expired by the core first.  None may be
reported; a deleted booking row or an edited status is.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from mutualcredit.services import bookings as svc
from mutualcredit.services.payments import expire_holds
from mutualcredit.services.verify import verify_ledger
from tests.services.test_bookings_service import NOW, STUDIO, local
from tests.support import Net


def every_ending(net: Net) -> None:
    net.pay("ana", "bia", "20.00")  # bia's line is 0.00
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="studio",
        collective="cubo",
        name="Estúdio do Cubo",
        rules=STUDIO,
        at=NOW - timedelta(days=1),
    )

    def book(who: str, day: int, hour: int, hours: int = 1) -> svc.Booking:
        return svc.book(
            net.ledger,
            net[who],
            resource="studio",
            booker=who,
            start=local(day, hour),
            end=local(day, hour + hours),
            at=NOW,
        )

    done = book("ana", 5, 10, 2)
    svc.complete_booking(net.ledger, net["ana"], booking_id=done.id, amount=1500, at=local(5, 12))
    free = book("ana", 6, 10)
    svc.cancel_booking(net.ledger, net["ana"], booking_id=free.id, at=NOW)
    fee = book("caio", 5, 14, 3)  # across collectives: the fee goes through clearing
    svc.cancel_booking(
        net.ledger, net["caio"], booking_id=fee.id, at=local(3, 14) + timedelta(minutes=1)
    )
    waived = book("bia", 5, 18)
    svc.cancel_booking(net.ledger, net["ana"], booking_id=waived.id, waive_fee=True, at=local(4, 0))
    svc.book_many(
        net.ledger,
        net["ana"],
        resource="studio",
        booker="ana",
        slots=svc.weekly_slots(local(7, 9), local(7, 10), 3, "America/Sao_Paulo"),
        at=NOW,
    )
    book("ana", 8, 9)
    expire_holds(net.ledger, net["banco"], at=local(20, 0))  # the core expires holds first
    svc.expire_bookings(net.ledger, net["banco"], at=local(20, 0))
    book("bia", 22, 9)  # expired by the bookings service itself
    svc.expire_bookings(net.ledger, net["banco"], at=local(30, 12))
    book("ana", 30, 9)  # still held


def test_every_way_a_booking_ends_verifies_clean(net: Net) -> None:
    every_ending(net)
    with net.ledger.read() as connection:
        statuses = sorted({s for (s,) in connection.execute(text("SELECT status FROM booking"))})
    assert statuses == ["cancelled", "completed", "expired", "held"]
    assert verify_ledger(net.ledger, workers=1).problems == []


def test_a_deleted_or_edited_booking_is_named(net: Net) -> None:
    every_ending(net)
    with net.ledger.engine.begin() as connection:
        held = connection.execute(
            text("SELECT id, hold_id FROM booking WHERE status = 'held' ORDER BY id")
        ).first()
        cancelled = connection.execute(
            text("SELECT id FROM booking WHERE status = 'cancelled' ORDER BY id")
        ).scalar()
        connection.execute(text("DELETE FROM booking WHERE id = :i"), {"i": held.id})
        connection.execute(
            text(
                "UPDATE booking SET status = 'held', resolution_id = NULL, "
                "resolved_at = NULL, resolved_by = NULL, charged = NULL "
                "WHERE id = :i"
            ),
            {"i": cancelled},
        )
    found = {(p.code, p.subject) for p in verify_ledger(net.ledger, workers=1).problems}
    assert found == {
        ("row_missing", f"hold {held.hold_id}"),
        ("column_mismatch", f"booking {cancelled}"),
    }
