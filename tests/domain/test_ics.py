"""The .ics export, parsed back with icalendar and checked field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from icalendar import Calendar

from mutualcredit.domain.ics import BookingView, booking_uid, bookings_to_ics

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NETWORK_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
NAMES = {"studio": "Estúdio do Cubo", "van": "Van da Palafita"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


STUDIO_BOOKING = BookingView(
    id=7,
    resource="studio",
    booker="ana",
    start=utc(2026, 12, 5, 17),
    end=utc(2026, 12, 5, 20),
    status="held",
    price=4500,
    currency="CUBO",
    scale=2,
    memo="ensaio da banda; trazer cabos, por favor",
)
VAN_BOOKING = BookingView(
    id=3,
    resource="van",
    booker="caio",
    start=utc(2026, 12, 6, 11),
    end=utc(2026, 12, 7, 23),
    status="completed",
    price=24000,
    currency="PALA",
    scale=2,
)


def export(*bookings: BookingView, now: datetime = NOW) -> bytes:
    return bookings_to_ics(
        list(bookings),
        network_id=NETWORK_ID,
        network_name="Fora do Eixo",
        resource_names=NAMES,
        now=now,
    )


def events(data: bytes) -> list:  # type: ignore[type-arg]
    return list(Calendar.from_ical(data).walk("VEVENT"))


def test_the_calendar_header() -> None:
    calendar = Calendar.from_ical(export(STUDIO_BOOKING))
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//mutualcredit//bookings//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Fora do Eixo bookings"


def test_one_event_per_booking_in_start_order_field_by_field() -> None:
    studio, van = events(export(VAN_BOOKING, STUDIO_BOOKING))
    assert str(studio["UID"]) == f"booking-7@{NETWORK_ID}"
    assert studio.decoded("DTSTART") == utc(2026, 12, 5, 17)
    assert studio.decoded("DTEND") == utc(2026, 12, 5, 20)
    assert studio.decoded("DTSTAMP") == NOW
    assert str(studio["SUMMARY"]) == "Estúdio do Cubo — ana"
    assert str(studio["STATUS"]) == "CONFIRMED"
    assert studio.decoded("SEQUENCE") == 0
    assert str(studio["TRANSP"]) == "OPAQUE"
    assert str(studio["X-MUTUALCREDIT-STATUS"]) == "held"
    assert str(studio["DESCRIPTION"]) == (
        "Booking 7 of studio by ana (held)\n"
        "Price: 45.00 CUBO\n"
        "ensaio da banda; trazer cabos, por favor"
    )
    assert str(van["UID"]) == f"booking-3@{NETWORK_ID}"
    assert str(van["SUMMARY"]) == "Van da Palafita — caio"
    assert str(van["STATUS"]) == "CONFIRMED"
    assert van.decoded("SEQUENCE") == 1
    assert str(van["X-MUTUALCREDIT-STATUS"]) == "completed"


def test_times_are_written_in_utc() -> None:
    text = export(STUDIO_BOOKING).decode()
    assert "DTSTART:20261205T170000Z\r\n" in text
    assert "DTEND:20261205T200000Z\r\n" in text
    assert "DTSTAMP:20261201T120000Z\r\n" in text
    assert "VTIMEZONE" not in text


def test_a_cancellation_is_reflected_on_re_export() -> None:
    (before,) = events(export(STUDIO_BOOKING))
    (after,) = events(export(replace(STUDIO_BOOKING, status="cancelled")))
    assert str(after["UID"]) == str(before["UID"])
    assert (str(before["STATUS"]), str(after["STATUS"])) == ("CONFIRMED", "CANCELLED")
    assert after.decoded("SEQUENCE") > before.decoded("SEQUENCE")
    assert str(after["TRANSP"]) == "TRANSPARENT"


def test_expired_bookings_are_cancelled_events() -> None:
    (event,) = events(export(replace(STUDIO_BOOKING, status="expired")))
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("SEQUENCE") == 1
    assert str(event["X-MUTUALCREDIT-STATUS"]) == "expired"


def test_an_unknown_resource_is_shown_by_its_slug() -> None:
    (event,) = events(export(replace(STUDIO_BOOKING, resource="backline")))
    assert str(event["SUMMARY"]) == "backline — ana"


def test_the_same_input_gives_the_same_bytes() -> None:
    assert export(STUDIO_BOOKING, VAN_BOOKING) == export(VAN_BOOKING, STUDIO_BOOKING)


def test_an_empty_export_is_a_valid_calendar() -> None:
    assert events(export()) == []


def test_uids_are_unique_per_network() -> None:
    assert booking_uid(7, "a") != booking_uid(7, "b")
    assert booking_uid(7, "a") == "booking-7@a"
