"""Bookings as an iCalendar (RFC 5545) feed, for phones and shared calendars.

``mutualcredit bookings export --ics`` writes one ``VEVENT`` per booking.  A
calendar application that subscribes to the file, or imports it again, must
recognise each booking as the same event and see when it changed:

- ``UID`` is ``booking-<id>@<network id>``: stable across exports and unique
  across networks, since the network id is random;
- ``DTSTART`` and ``DTEND`` are UTC (``…Z``); the application shows them in
  its own zone, and no ``VTIMEZONE`` is needed;
- ``STATUS`` is ``CONFIRMED`` while a booking holds its slot (held, completed)
  and ``CANCELLED`` once it no longer does (cancelled, expired); the exact
  ledger status is kept in ``X-MUTUALCREDIT-STATUS``;
- ``SEQUENCE`` is the number of status changes the booking has gone through.
  A booking's status moves forward once (held → completed | cancelled |
  expired), so the sequence is 0 while held and 1 afterwards — derived from
  the status alone, with nothing extra to store, and it grows exactly when
  the event changes, which is what RFC 5545 asks of it;
- ``DTSTAMP`` is the export time, passed in (the domain has no clock).

The same bookings and ``now`` always give the same bytes; events are ordered
by start, then id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.bookings import BookingView

__all__ = ["BookingView", "bookings_to_ics", "booking_uid", "ICS_STATUS", "SEQUENCE_BY_STATUS"]

PRODUCT_ID = "-//mutualcredit//bookings//EN"
ICS_STATUS = {
    "held": "CONFIRMED",
    "completed": "CONFIRMED",
    "cancelled": "CANCELLED",
    "expired": "CANCELLED",
}
SEQUENCE_BY_STATUS = {"held": 0, "completed": 1, "cancelled": 1, "expired": 1}


def booking_uid(booking_id: int, network_id: str) -> str:
    """The UID a booking keeps in every export: ``booking-<id>@<network id>``."""
    return f"booking-{booking_id}@{network_id}"


def bookings_to_ics(
    bookings: Sequence[BookingView],
    *,
    network_id: str,
    network_name: str,
    resource_names: Mapping[str, str],
    now: datetime,
) -> bytes:
    """One VCALENDAR with a VEVENT per booking; ``resource_names`` maps slug → display name.

    A resource missing from ``resource_names`` is shown by its slug.
    """
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0), now
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{network_name} bookings")
    for booking in sorted(bookings, key=lambda booking: (booking.start, booking.id)):
        name = resource_names.get(booking.resource, booking.resource)
        calendar.add_component(_event(booking, network_id=network_id, name=name, now=now))
    data: bytes = calendar.to_ical()
    return data


def _event(booking: BookingView, *, network_id: str, name: str, now: datetime) -> Event:
    event = Event()
    event.add("uid", booking_uid(booking.id, network_id))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(UTC))
    event.add("dtend", booking.end.astimezone(UTC))
    event.add("summary", f"{name} — {booking.booker}")
    event.add("description", _description(booking))
    event.add("status", ICS_STATUS[booking.status])
    event.add("sequence", SEQUENCE_BY_STATUS[booking.status])
    # A cancelled booking no longer makes anyone busy.
    event.add("transp", "OPAQUE" if booking.occupies else "TRANSPARENT")
    event.add("categories", [booking.resource])
    event.add("x-mutualcredit-status", booking.status)
    return event


def _description(booking: BookingView) -> str:
    lines = [
        f"Booking {booking.id} of {booking.resource} by {booking.booker} ({booking.status})",
        f"Price: {format_amount(booking.price, booking.scale)} {booking.currency}",
    ]
    if booking.memo:
        lines.append(booking.memo)
    return "\n".join(lines)
