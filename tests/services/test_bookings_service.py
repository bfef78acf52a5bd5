"""Bookings through the library, on SQLite and PostgreSQL: money, rules, overlaps, statuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mutualcredit.domain.bookings import (
    BookingAlreadyStarted,
    BookingInPast,
    BookingNotStarted,
    BookingUnavailable,
    CompletionExceedsHold,
    InvalidCompletionAmount,
    ResourceRules,
)
from mutualcredit.domain.errors import NotFound
from mutualcredit.services import bookings as svc
from mutualcredit.services.network import AlreadyExists
from mutualcredit.services.payments import transfer_row
from mutualcredit.services.posting import NotAuthorised
from mutualcredit.services.queries import show_transfer
from tests.support import Net

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)  # a Tuesday; Sao Paulo is UTC-3 all year
STUDIO = ResourceRules(
    price=1500, per="hour", cancel_window=timedelta(hours=48), cancel_fee_percent=30
)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def local(day: int, hour: int) -> datetime:
    """``hour`` o'clock in São Paulo on December ``day``."""
    return utc(day, hour) + timedelta(hours=3)


@pytest.fixture
def studio(net: Net) -> svc.Resource:
    return svc.add_resource(
        net.ledger,
        net["ana"],
        slug="studio",
        collective="cubo",
        name="Estúdio do Cubo",
        rules=STUDIO,
        at=NOW - timedelta(days=1),
    )


def book(
    net: Net,
    who: str,
    start: datetime,
    end: datetime,
    *,
    resource: str = "studio",
    at: datetime = NOW,
) -> svc.Booking:
    return svc.book(
        net.ledger, net[who], resource=resource, booker=who, start=start, end=end, at=at
    )


def count(net: Net, table: str) -> int:
    from sqlalchemy import text

    with net.ledger.read() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


# -- resources -----------------------------------------------------------------------------------


def test_a_resource_has_its_own_account_and_a_signed_record(net: Net, studio: svc.Resource) -> None:
    assert studio.account == "collectives:cubo:resources:studio"
    assert svc.resource_document(studio) == {
        "id": "studio",
        "slug": "studio",
        "collective": "cubo",
        "name": "Estúdio do Cubo",
        "account": "collectives:cubo:resources:studio",
        "currency": "CUBO",
        "price": "15.00",
        "per": "hour",
        "units": 1,
        "min": None,
        "max": None,
        "lead": "0m",
        "cancel_window": "2d",
        "cancel_fee_percent": 30,
        "grace": "7d",
        "status": "open",
        "created_at": "2026-11-30T12:00:00.000000Z",
        "created_by": "ana",
        "closed_at": None,
    }
    from sqlalchemy import text

    with net.ledger.read() as connection:
        account = connection.execute(
            text(
                "SELECT kind, owner_kind, owner, collective, currency FROM account WHERE name = :n"
            ),
            {"n": studio.account},
        ).one()
        record = connection.execute(
            text("SELECT type, author FROM record ORDER BY id DESC LIMIT 1")
        ).one()
    assert tuple(account) == ("resource", "collective", "cubo", "cubo", "CUBO")
    assert tuple(record) == ("resource_added", "ana")
    net.assert_consistent()


def test_only_a_coordinator_of_the_collective_or_the_admin_adds_resources(net: Net) -> None:
    for who in ("bia", "caio"):
        with pytest.raises(NotAuthorised) as caught:
            svc.add_resource(
                net.ledger, net[who], slug="amp", collective="cubo", name="Amp", rules=STUDIO
            )
        assert str(caught.value) == (
            f"{who} may not add resources of cubo: it needs the admin or a coordinator of cubo"
        )
    svc.add_resource(
        net.ledger, net["banco"], slug="amp", collective="cubo", name="Amp", rules=STUDIO
    )
    assert [r.slug for r in svc.list_resources(net.ledger)] == ["amp"]


def test_resource_slugs_are_unique_in_the_network(net: Net, studio: svc.Resource) -> None:
    with pytest.raises(AlreadyExists) as caught:
        svc.add_resource(
            net.ledger,
            net["caio"],
            slug="studio",
            collective="palafita",
            name="Outro",
            rules=STUDIO,
        )
    assert str(caught.value) == (
        "resource studio already exists (of cubo); resource slugs are unique in the network"
    )
    with pytest.raises(NotFound) as missing:
        svc.add_resource(
            net.ledger, net["banco"], slug="x", collective="nope", name="X", rules=STUDIO
        )
    assert missing.value.code == "collective_not_found"
    assert count(net, "resource") == 1


# -- booking and its hold ------------------------------------------------------------------------


def test_booking_holds_the_price_and_leaves_the_balance(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    assert svc.booking_document(net.ledger, made) == {
        "id": made.id,
        "resource": "studio",
        "collective": "cubo",
        "by": "ana",
        "start": "2026-12-05T14:00:00-03:00",
        "end": "2026-12-05T17:00:00-03:00",
        "status": "held",
        "price": "45.00",
        "currency": "CUBO",
        "charged": None,
        "hold": made.hold_id,
        "resolution": None,
        "memo": "",
        "expires_at": "2026-12-12T20:00:00.000000Z",
        "created_at": "2026-12-01T12:00:00.000000Z",
        "resolved_at": None,
        "resolved_by": None,
    }
    assert net.balance("ana") == "0.00"
    assert net.available("ana") == "55.00"
    held = show_transfer(net.ledger, made.hold_id)
    assert (held["kind"], held["status"], held["author"]) == ("hold", "pending", "ana")
    assert held["expires_at"] == "2026-12-12T20:00:00.000000Z"
    assert held["meta"]["booking"] == {
        "resource": "studio",
        "start": "2026-12-05T17:00:00.000000Z",
        "end": "2026-12-05T20:00:00.000000Z",
        "price": "45.00",
        "currency": "CUBO",
    }
    assert [(p["account"], p["amount"]) for p in held["postings"]] == [
        ("members:ana", "-45.00"),
        ("collectives:cubo:resources:studio", "45.00"),
    ]
    net.assert_consistent()


def test_a_booker_from_another_collective_pays_through_clearing(
    net: Net, studio: svc.Resource
) -> None:
    made = book(net, "caio", local(5, 14), local(5, 16))
    held = show_transfer(net.ledger, made.hold_id)
    assert [(p["account"], p["amount"]) for p in held["postings"]] == [
        ("members:caio", "-30.00"),
        ("collectives:palafita:clearing", "30.00"),
        ("network:clearing:palafita", "-30.00"),
        ("network:clearing:cubo", "30.00"),
        ("collectives:cubo:clearing", "-30.00"),
        ("collectives:cubo:resources:studio", "30.00"),
    ]
    done = svc.complete_booking(
        net.ledger, net["ana"], booking_id=made.id, amount=2000, at=local(5, 16)
    )
    assert done.charged == 2000
    assert net.balance("caio") == "-20.00" and net.available("caio") == "30.00"
    assert net.balance("collectives:cubo:resources:studio") == "20.00"
    assert net.balance("network:clearing:cubo") == "20.00"
    net.assert_consistent()


def test_not_enough_credit_names_the_price_and_what_is_available(
    net: Net, studio: svc.Resource
) -> None:
    with pytest.raises(svc.InsufficientCredit) as caught:
        book(net, "bia", local(5, 14), local(5, 15))
    assert str(caught.value) == (
        "not enough available credit: booking studio costs 15.00 CUBO "
        "and bia has 0.00 CUBO available"
    )
    with pytest.raises(svc.InsufficientCredit) as across:
        book(net, "caio", local(5, 10), local(5, 14))
    assert str(across.value) == (
        "not enough available credit: booking studio costs 60.00 CUBO "
        "(60.00 PALA) and caio has 50.00 PALA available"
    )
    assert count(net, "booking") == 0 and count(net, "transfer") == 0
    net.pay("ana", "bia", "15.00")
    book(net, "bia", local(5, 14), local(5, 15))  # exactly what is available
    assert net.available("bia") == "0.00"
    net.assert_consistent()


def test_a_booking_is_signed_by_its_booker(net: Net, studio: svc.Resource) -> None:
    with pytest.raises(NotAuthorised) as caught:
        svc.book(
            net.ledger,
            net["ana"],
            resource="studio",
            booker="bia",
            start=local(5, 14),
            end=local(5, 15),
            at=NOW,
        )
    assert str(caught.value) == "ana may not book for bia: a booking is signed by its booker"


def test_unknown_resource_and_booker(net: Net, studio: svc.Resource) -> None:
    with pytest.raises(svc.ResourceNotFound) as caught:
        book(net, "ana", local(5, 14), local(5, 15), resource="van")
    assert str(caught.value) == "resource van does not exist"
    assert caught.value.exit_code == 4


def test_request_rules_are_checked_before_anything_is_written(
    net: Net, studio: svc.Resource
) -> None:
    with pytest.raises(BookingInPast):
        book(net, "ana", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert count(net, "transfer") == 0


# -- no double booking ---------------------------------------------------------------------------


def test_an_overlap_is_refused_naming_the_free_slots_of_the_day(
    net: Net, studio: svc.Resource
) -> None:
    book(net, "ana", local(5, 14), local(5, 17))
    book(net, "ana", local(5, 9), local(5, 10))
    transfers = count(net, "transfer")
    with pytest.raises(BookingUnavailable) as caught:
        book(net, "caio", local(5, 16), local(5, 18))
    assert str(caught.value) == (
        "studio is not free from 2026-12-05 16:00 (America/Sao_Paulo) to 2026-12-05 18:00 "
        "(America/Sao_Paulo): its only unit is booked at some time in that range; free on "
        "2026-12-05: 00:00–09:00, 10:00–14:00, 17:00–24:00"
    )
    assert caught.value.exit_code == 1
    assert count(net, "transfer") == transfers and count(net, "booking") == 2
    assert net.available("caio") == "50.00"
    net.assert_consistent()


def test_touching_ranges_do_not_overlap(net: Net, studio: svc.Resource) -> None:
    book(net, "ana", local(5, 14), local(5, 16))
    book(net, "caio", local(5, 16), local(5, 18))
    book(net, "ana", local(5, 12), local(5, 14))
    assert [b.status for b in svc.list_bookings(net.ledger)] == ["held"] * 3


def test_n_units_take_n_overlapping_bookings(net: Net) -> None:
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="rooms",
        collective="cubo",
        name="Salas",
        rules=ResourceRules(price=100, per="hour", units=2),
        at=NOW,
    )
    book(net, "ana", local(5, 10), local(5, 14), resource="rooms")
    book(net, "ana", local(5, 12), local(5, 16), resource="rooms")
    book(net, "caio", local(5, 14), local(5, 15), resource="rooms")  # 10-14 ended: 2 at most
    with pytest.raises(BookingUnavailable) as caught:
        book(net, "caio", local(5, 13), local(5, 14), resource="rooms")
    assert str(caught.value) == (
        "rooms is not free from 2026-12-05 13:00 (America/Sao_Paulo) to 2026-12-05 14:00 "
        "(America/Sao_Paulo): all 2 units are booked at some time in that range; free on "
        "2026-12-05: 00:00–12:00, 15:00–24:00"
    )


def test_cancelled_and_expired_bookings_free_their_slot(net: Net, studio: svc.Resource) -> None:
    first = book(net, "ana", local(5, 14), local(5, 17))
    svc.cancel_booking(net.ledger, net["ana"], booking_id=first.id, at=NOW)
    again = book(net, "caio", local(5, 14), local(5, 17))
    svc.expire_bookings(net.ledger, net["banco"], at=local(12, 17))
    assert svc.get_booking(net.ledger, again.id).status == "expired"
    book(net, "ana", local(5, 15), local(5, 16), at=local(4, 0))


def test_the_overlap_query_loads_only_the_window_and_uses_the_index(net: Net) -> None:
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="van",
        collective="cubo",
        name="Van",
        rules=ResourceRules(price=1, per="day", units=2),
        at=NOW,
    )
    for day in (2, 3, 4, 5, 6):
        book(net, "ana", local(day, 10), local(day, 11), resource="van")
    long = book(net, "ana", local(2, 20), local(5, 8), resource="van")  # the longest: 2d12h
    candidate = svc.Interval(start=local(5, 9), end=local(5, 10))
    window = svc.availability_window(candidate, "America/Sao_Paulo")
    assert (window.start, window.end) == (local(5, 0), local(6, 0))
    resource = svc.get_resource(net.ledger, "van")
    assert resource.duration_longest == long.end - long.start
    with net.ledger.read() as connection:
        found = svc._overlapping(connection, resource.id, resource.duration_longest, window)
    assert sorted((i.start, i.end) for i in found) == [
        (local(2, 20), local(5, 8)),
        (local(5, 10), local(5, 11)),
    ]
    if net.ledger.is_postgres:
        return
    from sqlalchemy import text

    with net.ledger.read() as connection:
        plan = " ".join(
            str(row[-1])
            for row in connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT start_at, end_at FROM booking WHERE resource_id = 1 "
                    "AND start_at >= 'a' AND start_at < 'b' AND end_at > 'c' "
                    "AND status IN ('held', 'completed')"
                )
            )
        )
    assert (
        "USING INDEX ix_booking_resource_range (resource_id=? AND start_at>? AND start_at<?)"
        in plan
    ), plan


# -- completing ----------------------------------------------------------------------------------


def test_complete_posts_the_hold_after_the_start_once(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    with pytest.raises(BookingNotStarted) as early:
        svc.complete_booking(
            net.ledger, net["ana"], booking_id=made.id, at=local(5, 14) - timedelta(minutes=1)
        )
    assert str(early.value) == (
        "the booking starts at 2026-12-05 17:00 UTC; it can be completed only after it starts"
    )
    done = svc.complete_booking(net.ledger, net["ana"], booking_id=made.id, at=local(5, 14))
    assert (done.status, done.charged, done.resolved_by) == ("completed", 4500, "ana")
    assert net.balance("ana") == "-45.00" and net.available("ana") == "55.00"
    assert net.balance("collectives:cubo:resources:studio") == "45.00"
    assert transfer_row(net.ledger, made.hold_id).status == "posted"
    with pytest.raises(svc.BookingNotHeld) as twice:
        svc.complete_booking(net.ledger, net["ana"], booking_id=made.id, at=local(5, 18))
    assert str(twice.value) == (
        "booking 1 is already completed; only a held booking can be completed"
    )
    net.assert_consistent()


def test_complete_for_less_releases_the_rest_and_never_for_more(
    net: Net, studio: svc.Resource
) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    with pytest.raises(CompletionExceedsHold) as more:
        svc.complete_booking(
            net.ledger, net["ana"], booking_id=made.id, amount=4501, at=local(5, 17)
        )
    assert str(more.value) == "cannot complete for 45.01 CUBO; the booking holds only 45.00 CUBO"
    with pytest.raises(InvalidCompletionAmount):
        svc.complete_booking(net.ledger, net["ana"], booking_id=made.id, amount=0, at=local(5, 17))
    done = svc.complete_booking(
        net.ledger, net["ana"], booking_id=made.id, amount=3000, at=local(5, 17)
    )
    assert done.charged == 3000
    assert net.balance("ana") == "-30.00" and net.available("ana") == "70.00"
    net.assert_consistent()


def test_only_a_coordinator_of_the_resource_or_the_admin_completes(
    net: Net, studio: svc.Resource
) -> None:
    made = book(net, "caio", local(5, 14), local(5, 15))
    for who in ("bia", "caio"):
        with pytest.raises(NotAuthorised) as caught:
            svc.complete_booking(net.ledger, net[who], booking_id=made.id, at=local(5, 16))
        assert str(caught.value) == (
            f"{who} may not complete booking 1: it needs the admin or a coordinator of cubo"
        )
    svc.complete_booking(net.ledger, net["banco"], booking_id=made.id, at=local(5, 16))
    with pytest.raises(svc.BookingNotFound) as missing:
        svc.complete_booking(net.ledger, net["banco"], booking_id=99, at=local(5, 16))
    assert str(missing.value) == "booking 99 does not exist" and missing.value.exit_code == 4


# -- cancelling ----------------------------------------------------------------------------------


def test_cancel_before_the_window_voids_the_hold(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    done = svc.cancel_booking(
        net.ledger, net["ana"], booking_id=made.id, at=local(3, 14)
    )  # exactly 48h before: free
    assert (done.status, done.charged) == ("cancelled", None)
    assert transfer_row(net.ledger, made.hold_id).status == "voided"
    assert net.balance("ana") == "0.00" and net.available("ana") == "100.00"
    net.assert_consistent()


def test_cancel_inside_the_window_posts_the_fee_only(net: Net, studio: svc.Resource) -> None:
    made = book(net, "caio", local(5, 14), local(5, 17))
    done = svc.cancel_booking(
        net.ledger, net["caio"], booking_id=made.id, at=local(3, 14) + timedelta(minutes=1)
    )
    assert (done.status, done.charged) == ("cancelled", 1350)  # 30% of 45.00
    resolution = show_transfer(net.ledger, done.resolution_id or 0)
    assert (resolution["kind"], resolution["author"]) == ("post_hold", "caio")
    assert transfer_row(net.ledger, made.hold_id).status == "posted"
    assert net.balance("caio") == "-13.50" and net.available("caio") == "36.50"
    assert net.balance("collectives:cubo:resources:studio") == "13.50"
    with pytest.raises(svc.BookingNotHeld) as twice:
        svc.cancel_booking(net.ledger, net["caio"], booking_id=made.id, at=local(4, 0))
    assert str(twice.value) == (
        "booking 1 is already cancelled; only a held booking can be cancelled"
    )
    net.assert_consistent()


def test_a_coordinator_may_waive_the_fee_and_the_booker_may_not(
    net: Net, studio: svc.Resource
) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    other = book(net, "caio", local(5, 18), local(5, 19))
    with pytest.raises(NotAuthorised) as caught:
        svc.cancel_booking(
            net.ledger, net["caio"], booking_id=other.id, waive_fee=True, at=local(5, 0)
        )
    assert str(caught.value) == (
        "caio may not waive the cancellation fee of booking 2: it "
        "needs the admin or a coordinator of cubo"
    )
    done = svc.cancel_booking(
        net.ledger, net["ana"], booking_id=other.id, waive_fee=True, at=local(5, 0)
    )
    assert (done.status, done.charged, done.resolved_by) == ("cancelled", None, "ana")
    assert net.available("caio") == "50.00"
    with pytest.raises(NotAuthorised) as stranger:
        svc.cancel_booking(net.ledger, net["caio"], booking_id=made.id, at=local(5, 0))
    assert str(stranger.value) == (
        "caio may not cancel booking 1: it needs its booker (ana), "
        "the admin or a coordinator of cubo"
    )
    net.assert_consistent()


def test_a_started_booking_cannot_be_cancelled(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    with pytest.raises(BookingAlreadyStarted) as caught:
        svc.cancel_booking(net.ledger, net["ana"], booking_id=made.id, at=local(5, 14))
    assert str(caught.value) == (
        "the booking started at 2026-12-05 17:00 UTC; a started "
        "booking cannot be cancelled, only completed (possibly for a "
        "smaller amount)"
    )
    assert svc.get_booking(net.ledger, made.id).status == "held"


# -- expiring ------------------------------------------------------------------------------------


def test_expire_after_end_plus_grace_only(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    assert (
        svc.expire_bookings(net.ledger, net["ana"], at=local(12, 17) - timedelta(seconds=1)) == []
    )
    with pytest.raises(NotAuthorised) as caught:
        svc.expire_bookings(net.ledger, net["bia"], at=local(12, 17))
    assert str(caught.value) == ("bia may not expire bookings: it needs the admin or a coordinator")
    assert svc.expire_bookings(net.ledger, net["caio"], at=local(12, 17)) == []  # not his
    (expired,) = svc.expire_bookings(net.ledger, net["ana"], at=local(12, 17))
    assert (expired.id, expired.status, expired.resolved_by) == (made.id, "expired", "ana")
    assert transfer_row(net.ledger, made.hold_id).status == "expired"
    assert net.available("ana") == "100.00" and net.balance("ana") == "0.00"
    assert svc.expire_bookings(net.ledger, net["ana"], at=local(20, 0)) == []
    net.assert_consistent()


def test_expire_follows_a_hold_expired_by_the_core(net: Net, studio: svc.Resource) -> None:
    from mutualcredit.services.payments import expire_holds

    made = book(net, "ana", local(5, 14), local(5, 17))
    expire_holds(net.ledger, net["banco"], at=local(13, 0))
    (synced,) = svc.expire_bookings(net.ledger, net["banco"], at=local(13, 0))
    assert (synced.id, synced.status) == (made.id, "expired")
    net.assert_consistent()


# -- closing -------------------------------------------------------------------------------------


def test_close_only_without_bookings_ahead(net: Net, studio: svc.Resource) -> None:
    made = book(net, "ana", local(5, 14), local(5, 17))
    with pytest.raises(svc.ResourceBusy) as caught:
        svc.close_resource(net.ledger, net["ana"], slug="studio", at=NOW)
    assert str(caught.value) == (
        "resource studio cannot be closed: 1 booking is held ahead (the "
        "first is booking 1); cancel or complete them first"
    )
    with pytest.raises(NotAuthorised):
        svc.close_resource(net.ledger, net["caio"], slug="studio", at=local(5, 18))
    closed = svc.close_resource(net.ledger, net["ana"], slug="studio", at=local(5, 18))
    assert closed.status == "closed" and closed.closed_at == "2026-12-05T21:00:00.000000Z"
    with pytest.raises(svc.ResourceClosed) as refused:
        book(net, "ana", local(9, 14), local(9, 17), at=local(6, 0))
    assert str(refused.value) == "resource studio is closed to new bookings"
    svc.complete_booking(net.ledger, net["ana"], booking_id=made.id, at=local(5, 18))
    with pytest.raises(svc.ResourceClosed):
        svc.close_resource(net.ledger, net["ana"], slug="studio", at=local(5, 18))
    net.assert_consistent()


# -- listing, calendar and iCalendar -------------------------------------------------------------


def test_list_filters(net: Net, studio: svc.Resource) -> None:
    a = book(net, "ana", local(5, 14), local(5, 17))
    b = book(net, "caio", local(7, 10), local(7, 11))
    c = book(net, "ana", local(9, 23), local(10, 1))  # spans two local days
    svc.cancel_booking(net.ledger, net["caio"], booking_id=b.id, at=NOW)

    def ids(**filters) -> list[int]:  # type: ignore[no-untyped-def]
        return [booking.id for booking in svc.list_bookings(net.ledger, **filters)]

    assert ids() == [a.id, b.id, c.id]
    assert ids(booker="ana") == [a.id, c.id]
    assert ids(status="cancelled") == [b.id]
    assert ids(first=date(2026, 12, 10)) == [c.id]
    assert ids(last=date(2026, 12, 9)) == [a.id, b.id, c.id]
    assert ids(first=date(2026, 12, 6), last=date(2026, 12, 8)) == [b.id]
    assert ids(resource="studio", status="held") == [a.id, c.id]
    with pytest.raises(svc.ResourceNotFound):
        ids(resource="van")
    with pytest.raises(NotFound):
        ids(booker="zed")


def test_week_bookings_and_ics_round_trip(net: Net, studio: svc.Resource) -> None:
    from icalendar import Calendar

    a = book(net, "ana", local(5, 14), local(5, 17))
    b = book(net, "caio", local(7, 10), local(7, 11))
    svc.cancel_booking(net.ledger, net["caio"], booking_id=b.id, at=NOW)
    resource, week = svc.week_bookings(net.ledger, "studio", date(2026, 11, 30))
    assert resource.slug == "studio" and [x.id for x in week] == [a.id]
    data = svc.export_ics(net.ledger, at=NOW)
    events = Calendar.from_ical(data).walk("VEVENT")
    assert [
        (
            str(e["UID"]),
            str(e["STATUS"]),
            int(e["SEQUENCE"]),
            e["DTSTART"].dt,
            e["DTEND"].dt,
            str(e["SUMMARY"]),
        )
        for e in events
    ] == [
        (
            f"booking-{a.id}@{net.ledger.network.id}",
            "CONFIRMED",
            0,
            local(5, 14),
            local(5, 17),
            "Estúdio do Cubo — ana",
        ),
        (
            f"booking-{b.id}@{net.ledger.network.id}",
            "CANCELLED",
            1,
            local(7, 10),
            local(7, 11),
            "Estúdio do Cubo — caio",
        ),
    ]


# -- several slots at once -----------------------------------------------------------------------


def test_a_weekly_series_is_booked_whole_or_not_at_all(net: Net, studio: svc.Resource) -> None:
    slots = svc.weekly_slots(local(5, 14), local(5, 16), 3, "America/Sao_Paulo")
    assert slots == [
        (local(5, 14), local(5, 16)),
        (local(12, 14), local(12, 16)),
        (local(19, 14), local(19, 16)),
    ]
    book(net, "caio", local(19, 15), local(19, 16))
    with pytest.raises(BookingUnavailable) as caught:
        svc.book_many(net.ledger, net["ana"], resource="studio", booker="ana", slots=slots, at=NOW)
    assert str(caught.value).startswith("studio is not free from 2026-12-19 14:00")
    assert count(net, "booking") == 1 and net.available("ana") == "100.00"
    with pytest.raises(BookingUnavailable):  # two slots of one request overlap each other
        svc.book_many(
            net.ledger,
            net["ana"],
            resource="studio",
            booker="ana",
            slots=[(local(6, 10), local(6, 12)), (local(6, 11), local(6, 13))],
            at=NOW,
        )
    with pytest.raises(svc.InsufficientCredit) as poor:
        svc.book_many(
            net.ledger,
            net["ana"],
            resource="studio",
            booker="ana",
            slots=svc.weekly_slots(local(7, 10), local(7, 14), 2, "America/Sao_Paulo"),
            at=NOW,
        )
    assert str(poor.value) == (
        "not enough available credit: 2 bookings of studio cost "
        "120.00 CUBO and ana has 100.00 CUBO available"
    )
    made = svc.book_many(
        net.ledger, net["ana"], resource="studio", booker="ana", slots=slots[:2], at=NOW
    )
    assert [(b.start, b.status, b.price) for b in made] == [
        (local(5, 14), "held", 3000),
        (local(12, 14), "held", 3000),
    ]
    assert net.available("ana") == "40.00"
    svc.cancel_booking(net.ledger, net["ana"], booking_id=made[1].id, at=NOW)
    assert net.available("ana") == "70.00"
    net.assert_consistent()


def test_weekly_slots_keep_the_local_hour_across_a_clock_change() -> None:
    zone = "America/New_York"  # clocks go back on 2026-11-01
    start = datetime(2026, 10, 25, 18, tzinfo=UTC)  # 14:00 EDT
    slots = svc.weekly_slots(start, start + timedelta(hours=2), 2, zone)
    assert slots[1] == (
        datetime(2026, 11, 1, 19, tzinfo=UTC),
        datetime(2026, 11, 1, 21, tzinfo=UTC),
    )


# -- demo ----------------------------------------------------------------------------------------


def test_the_demo_tells_the_bookings_story_deterministically(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mutualcredit.services import demo
    from mutualcredit.services.invariants import check_invariants

    monkeypatch.setenv("MUTUALCREDIT_NOW", "2026-11-27T13:30Z")  # a Friday
    stories = []
    for run in ("a", "b"):
        built = demo.build(
            tmp_path / f"{run}.db",
            seed=3,
            home=tmp_path / f"home-{run}",
            passphrase="demo-pass",
            kdf_n=2**10,
        )
        first = next(
            i for i, line in enumerate(built.lines) if line.startswith("shared infrastructure")
        )
        stories.append(built.lines[first : first + 4])
        found = svc.list_bookings(built.ledger)
        assert [(b.resource.slug, b.status) for b in found] == [
            ("studio", "completed"),
            ("studio", "held"),
            ("van", "cancelled"),
        ]
        assert [b.charged for b in found] == [4500, None, 6000]
        assert check_invariants(built.ledger) == []
    assert stories[0] == stories[1]
    assert stories[0] == [
        "shared infrastructure: studio (Espaço Cubo, 15.00 CUBO/h, 30% fee inside 2d) and van "
        "(Massa, lent to the network, 120.00 MASSA/day, 50% fee inside 7d)",
        "bruno booked the studio for 2026-11-20 14:00–17:00; ana completed it: 45.00 CUBO "
        "posted to collectives:cubo:resources:studio",
        "elis booked the van for 2026-11-30 07:00–22:00 (120.00 MASSA, through clearing) and "
        "cancelled inside the 7d window: fee 60.00 MASSA posted, the rest released",
        "iara holds the studio for 2026-11-28 14:00–17:00 (45.00 CUBO held, through clearing; "
        "booking 3)",
    ]


def test_a_fee_in_another_currency_is_rounded_down_to_what_converts_exactly(net: Net) -> None:
    from fractions import Fraction

    from mutualcredit.services import network as setup

    setup.add_collective(
        net.ledger, net["banco"], slug="massa", name="Massa", currency="MASSA", rate=Fraction(3)
    )  # one MASSA is worth 3 CARD
    net.add_member("iara", "massa", "10")
    svc.add_resource(
        net.ledger,
        net["ana"],
        slug="amp",
        collective="cubo",
        name="Amp",
        rules=ResourceRules(
            price=9, per="hour", cancel_window=timedelta(days=1), cancel_fee_percent=50
        ),
        at=NOW,
    )
    made = book(net, "iara", local(5, 14), local(5, 15), resource="amp")
    held = show_transfer(net.ledger, made.hold_id)
    assert [(p["account"], p["amount"]) for p in held["postings"]][0] == ("members:iara", "-0.03")
    done = svc.cancel_booking(net.ledger, net["iara"], booking_id=made.id, at=local(5, 0))
    # 50% of 0.09 CUBO is 0.04, which is 0.0133 MASSA: the fee is 0.01 MASSA = 0.03 CUBO.
    assert done.charged == 3
    assert (
        net.balance("iara") == "-0.01" and net.balance("collectives:cubo:resources:amp") == "0.03"
    )
    net.assert_consistent()
