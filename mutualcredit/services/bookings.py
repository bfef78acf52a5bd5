"""Bookings of shared infrastructure: resources, and bookings paid with credit holds.

A collective registers a *resource* (a studio at 15.00 an hour, a van at
120.00 a day) with :func:`add_resource`; it gets its own account
``collectives:<collective>:resources:<slug>`` in the collective's currency.
Resource slugs are unique in the network, so commands name a resource by its
slug alone (``book studio``).

A member books it with :func:`book`.  The booking is one write transaction
that does three things atomically, through the ledger's one writer of money:

1. ``before``: lock the resource row (PostgreSQL ``FOR UPDATE``; SQLite's
   ``BEGIN IMMEDIATE`` already serialises writers), check it is still open,
   and count the held and completed bookings overlapping the candidate
   (:func:`mutualcredit.domain.bookings.check_availability`) — at most
   ``units`` may overlap at any instant;
2. the hold: the price, from the booker's account to the resource's account,
   through clearing when the booker belongs to another collective, signed by
   the booker, expiring at the booking's end plus the resource's grace;
3. ``after``: insert the booking row pointing at that hold.

Two writers trying the same slot are therefore serialised on the resource
row: the second sees the first's booking, or nothing was written by either.

What happens to the hold follows the booking:

- :func:`complete_booking` (a coordinator of the resource's collective or the
  admin, once the booking has started) posts the hold, or a smaller amount —
  the rest is released;
- :func:`cancel_booking` (the booker, a coordinator or the admin, before the
  start) voids it; inside the cancellation window it instead *posts the hold
  for the fee only*, which releases the rest: the fee is paid out of exactly
  what was reserved, in one transfer (``post_hold``) that references the hold.
  A coordinator or the admin may waive the fee (``waive_fee``);
- :func:`expire_bookings` (a coordinator or the admin, e.g. from cron)
  expires the holds of bookings neither completed nor cancelled by their end
  plus the grace: that moment is exactly the hold's ``expires_at``, so the
  resolution is the core's ``expire_hold`` (which requires it to have come),
  and the hold ends *expired*, not voided, matching the booking's status.

Amounts the user types (``--amount``) and the price and fee are in the
resource's currency; a booker from another collective is charged the same
value in their own currency at the fixed rates, exactly (a conversion that
is not exact is refused by the core).

Every function takes ``at`` (default: the clock, which honours
``MUTUALCREDIT_NOW``) so that tests and the demo can move time.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import Currency, format_amount
from mutualcredit.domain.authority import coordinates
from mutualcredit.domain.bookings import (
    BOOKING_STATUSES,
    FREE_SLOT_DAYS_SHOWN_MAX,
    OCCUPYING_STATUSES,
    BookingView,
    Interval,
    ResourceRules,
    cancel_fee_due,
    check_availability,
    check_booking_request,
    check_completion,
    day_bounds,
    expires_at,
    price_for,
    time_zone,
)
from mutualcredit.domain.durations import format_duration
from mutualcredit.domain.errors import NotFound, Refused, UsageError
from mutualcredit.domain.limits import CreditLimitExceeded
from mutualcredit.domain.names import DISPLAY_NAME_LENGTH_MAX, validate_handle, validate_text
from mutualcredit.domain.transfers import TransferDraft
from mutualcredit.persistence import models_bookings
from mutualcredit.persistence.bulk import driver_named, driver_rows
from mutualcredit.services.clock import iso, now, parse_iso
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import (
    AlreadyExists,
    collective_row,
    insert_account,
    require,
    roles_of,
)
from mutualcredit.services.payments import hold, resolve_hold
from mutualcredit.services.posting import NotAuthorised, PostResult
from mutualcredit.services.records import sign_record, write_record

BOOKINGS_LISTED_MAX = 100_000  # a listing or export larger than this is refused, not truncated
EXPIRED_PER_RUN_MAX = 10_000  # `booking expire` resolves at most this many holds per run
BOOKINGS_PER_REQUEST_MAX = 1000  # slots booked at once (`book --weekly N`), all or none
SLOT_GROUP_SPAN_MAX = timedelta(days=14)  # slots this close share one overlap query


class ResourceNotFound(NotFound):
    code = "resource_not_found"


class ResourceClosed(Refused):
    code = "resource_closed"


class ResourceBusy(Refused):
    code = "resource_has_bookings_ahead"


class BookingNotFound(NotFound):
    code = "booking_not_found"


class BookingNotHeld(Refused):
    code = "booking_not_held"


class InsufficientCredit(Refused):
    code = "insufficient_credit"


class TooManyBookings(Refused):
    code = "too_many_bookings"


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    id: int
    slug: str
    collective: str
    name: str
    account: str
    currency: str
    scale: int
    rules: ResourceRules
    status: str
    duration_longest: timedelta
    created_at: str
    created_by: str
    closed_at: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Booking:
    id: int
    resource: Resource
    booker: str
    start: datetime
    end: datetime
    status: Literal["held", "completed", "cancelled", "expired"]
    price: int
    charged: int | None
    hold_id: int
    resolution_id: int | None
    memo: str
    created_at: str
    resolved_at: str | None
    resolved_by: str | None


RESOURCE_COLUMNS = (
    "r.id, r.slug, r.collective, r.name, a.name AS account, r.currency, r.price, r.per, "
    "r.units, r.duration_min, r.duration_max, r.lead, r.cancel_window, r.cancel_fee_percent, "
    "r.grace, r.duration_longest, r.status, r.created_at, r.created_by, r.closed_at"
)
RESOURCE_SELECT = f"SELECT {RESOURCE_COLUMNS} FROM resource r JOIN account a ON a.id = r.account_id"
BOOKING_COLUMNS = (
    "b.id AS booking_id, b.booker, b.start_at, b.end_at, b.status AS booking_status, "
    "b.price AS booking_price, b.charged, b.hold_id, b.resolution_id, b.memo, "
    "b.created_at AS booking_created_at, b.resolved_at, b.resolved_by"
)
BOOKING_SELECT = (
    f"SELECT {BOOKING_COLUMNS}, {RESOURCE_COLUMNS} FROM booking b "
    "JOIN resource r ON r.id = b.resource_id JOIN account a ON a.id = r.account_id"
)


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _delta(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=int(seconds))


def _resource(ledger: Ledger, row: Any) -> Resource:
    rules = ResourceRules(
        price=int(row.price),
        per=row.per,
        units=int(row.units),
        duration_min=_delta(row.duration_min),
        duration_max=_delta(row.duration_max),
        lead=timedelta(seconds=int(row.lead)),
        cancel_window=timedelta(seconds=int(row.cancel_window)),
        cancel_fee_percent=int(row.cancel_fee_percent),
        grace=timedelta(seconds=int(row.grace)),
    )
    return Resource(
        id=int(row.id),
        slug=row.slug,
        collective=row.collective,
        name=row.name,
        account=row.account,
        currency=row.currency,
        scale=ledger.currencies[row.currency].scale,
        rules=rules,
        status=row.status,
        duration_longest=timedelta(seconds=int(row.duration_longest)),
        created_at=row.created_at,
        created_by=row.created_by,
        closed_at=row.closed_at,
    )


def _booking(ledger: Ledger, row: Any) -> Booking:
    return Booking(
        id=int(row.booking_id),
        resource=_resource(ledger, row),
        booker=row.booker,
        start=parse_iso(row.start_at),
        end=parse_iso(row.end_at),
        status=row.booking_status,
        price=int(row.booking_price),
        charged=None if row.charged is None else int(row.charged),
        hold_id=int(row.hold_id),
        resolution_id=None if row.resolution_id is None else int(row.resolution_id),
        memo=row.memo,
        created_at=row.booking_created_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
    )


def resource_account_name(collective: str, slug: str) -> str:
    return f"collectives:{collective}:resources:{slug}"


# -- documents (what --json prints) ------------------------------------------------------------


def _local_iso(ledger: Ledger, moment: datetime) -> str:
    return moment.astimezone(time_zone(ledger.network.timezone)).isoformat(timespec="seconds")


def _duration_text(value: timedelta | None) -> str | None:
    return None if value is None else format_duration(value)


def resource_document(resource: Resource) -> dict[str, Any]:
    rules = resource.rules
    return {
        "id": resource.slug,
        "slug": resource.slug,
        "collective": resource.collective,
        "name": resource.name,
        "account": resource.account,
        "currency": resource.currency,
        "price": format_amount(rules.price, resource.scale),
        "per": rules.per,
        "units": rules.units,
        "min": _duration_text(rules.duration_min),
        "max": _duration_text(rules.duration_max),
        "lead": format_duration(rules.lead),
        "cancel_window": format_duration(rules.cancel_window),
        "cancel_fee_percent": rules.cancel_fee_percent,
        "grace": format_duration(rules.grace),
        "status": resource.status,
        "created_at": resource.created_at,
        "created_by": resource.created_by,
        "closed_at": resource.closed_at,
    }


def booking_document(ledger: Ledger, booking: Booking) -> dict[str, Any]:
    scale = booking.resource.scale
    return {
        "id": booking.id,
        "resource": booking.resource.slug,
        "collective": booking.resource.collective,
        "by": booking.booker,
        "start": _local_iso(ledger, booking.start),
        "end": _local_iso(ledger, booking.end),
        "status": booking.status,
        "price": format_amount(booking.price, scale),
        "currency": booking.resource.currency,
        "charged": None if booking.charged is None else format_amount(booking.charged, scale),
        "hold": booking.hold_id,
        "resolution": booking.resolution_id,
        "memo": booking.memo,
        "expires_at": iso(expires_at(booking.resource.rules, booking.end)),
        "created_at": booking.created_at,
        "resolved_at": booking.resolved_at,
        "resolved_by": booking.resolved_by,
    }


def booking_view(booking: Booking) -> BookingView:
    return BookingView(
        id=booking.id,
        resource=booking.resource.slug,
        booker=booking.booker,
        start=booking.start,
        end=booking.end,
        status=booking.status,
        price=booking.price,
        currency=booking.resource.currency,
        scale=booking.resource.scale,
        memo=booking.memo,
    )


# -- resources -----------------------------------------------------------------------------------


def add_resource(
    ledger: Ledger,
    signer: Signer,
    *,
    slug: str,
    collective: str,
    name: str,
    rules: ResourceRules,
    at: datetime | None = None,
) -> Resource:
    """Register a resource of ``collective`` and open its account (coordinator or admin)."""
    validate_handle(slug, what="resource slug")
    validate_handle(collective, what="collective slug")
    validate_text(name, what="resource name", length_max=DISPLAY_NAME_LENGTH_MAX)
    if not name.strip():
        raise UsageError("a resource needs a --name", code="invalid_text")
    created_at = iso(at or now())
    account = resource_account_name(collective, slug)

    def work(connection: Connection) -> None:
        row = collective_row(connection, collective)
        require(
            connection, signer.handle, what=f"add resources of {collective}", collective=collective
        )
        taken = connection.execute(
            text("SELECT collective FROM resource WHERE slug = :s"), {"s": slug}
        ).scalar()
        if taken is not None:
            raise AlreadyExists(
                f"resource {slug} already exists (of {taken}); resource slugs "
                "are unique in the network"
            )
        fields = {
            "slug": slug,
            "collective": collective,
            "name": name,
            "account": account,
            "currency": row.currency,
            "price": format_amount(rules.price, ledger.currencies[row.currency].scale),
            "per": rules.per,
            "units": rules.units,
            "duration_min": _seconds(rules.duration_min),
            "duration_max": _seconds(rules.duration_max),
            "lead": _seconds(rules.lead),
            "cancel_window": _seconds(rules.cancel_window),
            "cancel_fee_percent": rules.cancel_fee_percent,
            "grace": _seconds(rules.grace),
        }
        account_id = insert_account(
            connection,
            name=account,
            currency=row.currency,
            owner_kind="collective",
            owner=collective,
            collective=collective,
            kind="resource",
            limit_lower=None,
            limit_upper=None,
            created_at=created_at,
        )
        connection.execute(
            insert(models_bookings.RESOURCE_TABLE),
            {
                **{key: value for key, value in fields.items() if key != "account"},
                "price": rules.price,
                "account_id": account_id,
                "duration_longest": 0,
                "status": "open",
                "created_at": created_at,
                "created_by": signer.handle,
                "closed_at": None,
            },
        )
        record = sign_record(ledger, signer, "resource_added", created_at, **fields)
        write_record(connection, ledger, record)

    ledger.write(work)
    return get_resource(ledger, slug)


def collective_currency(ledger: Ledger, collective: str) -> Currency:
    """The currency a collective's resources are priced in (its own card)."""
    with ledger.read() as connection:
        return ledger.currency(collective_row(connection, collective).currency)


def _resource_row(connection: Connection, slug: str, *, lock: bool = False) -> Any:
    # On the driver's cursor: this runs inside every booking's write (see persistence.bulk).
    suffix = " FOR UPDATE OF r" if lock and connection.dialect.name == "postgresql" else ""
    rows = driver_named(connection, f"{RESOURCE_SELECT} WHERE r.slug = ?{suffix}", (slug,))
    if not rows:
        raise ResourceNotFound(f"resource {slug} does not exist", resource=slug)
    return rows[0]


def get_resource(ledger: Ledger, slug: str) -> Resource:
    with ledger.read() as connection:
        return _resource(ledger, _resource_row(connection, slug))


def list_resources(ledger: Ledger, *, collective: str | None = None) -> list[Resource]:
    where = "" if collective is None else " WHERE r.collective = :c"
    with ledger.read() as connection:
        if collective is not None:
            collective_row(connection, collective)
        rows = connection.execute(
            text(f"{RESOURCE_SELECT}{where} ORDER BY r.slug"), {"c": collective}
        ).all()
    return [_resource(ledger, row) for row in rows]


def close_resource(
    ledger: Ledger, signer: Signer, *, slug: str, at: datetime | None = None
) -> Resource:
    """Close a resource to new bookings; refused while bookings are held ahead.

    Its account stays open (it holds the resource's earnings); held bookings
    that have already ended can still be completed or expire.
    """
    moment = at or now()
    created_at = iso(moment)

    def work(connection: Connection) -> None:
        row = _resource_row(connection, slug, lock=True)
        require(connection, signer.handle, what=f"close resource {slug}", collective=row.collective)
        if row.status != "open":
            raise ResourceClosed(f"resource {slug} is already closed", resource=slug)
        ahead = connection.execute(
            text(
                "SELECT COUNT(*), MIN(id) FROM booking WHERE resource_id = :r AND status = 'held' "
                "AND end_at > :now"
            ),
            {"r": row.id, "now": created_at},
        ).one()
        if int(ahead[0]):
            plural = "booking is" if int(ahead[0]) == 1 else "bookings are"
            raise ResourceBusy(
                f"resource {slug} cannot be closed: {int(ahead[0])} {plural} held ahead "
                f"(the first is booking {int(ahead[1])}); cancel or complete them first",
                resource=slug,
                count=int(ahead[0]),
            )
        connection.execute(
            text("UPDATE resource SET status = 'closed', closed_at = :at WHERE id = :i"),
            {"at": created_at, "i": row.id},
        )
        write_record(
            connection,
            ledger,
            sign_record(ledger, signer, "resource_closed", created_at, slug=slug),
        )

    ledger.write(work)
    return get_resource(ledger, slug)


# -- booking -------------------------------------------------------------------------------------


def _charge_in_payer_currency(
    ledger: Ledger, resource: Resource, payer_currency: str, amount: int
) -> int:
    """``amount`` of the resource's currency, in the payer's currency (exactly, or refused)."""
    if payer_currency == resource.currency:
        return amount
    card = ledger.card
    in_card = ledger.currencies[resource.currency].to_card_minor(amount, card=card)
    return ledger.currencies[payer_currency].from_card_minor(in_card, card=card)


def _overlapping(
    connection: Connection, resource_id: int, longest: timedelta, window: Interval
) -> list[Interval]:
    """The occupying bookings of a resource that overlap ``window``, from the index.

    ``start_at`` is bounded on both sides — a booking overlapping the window
    starts before its end and no earlier than its start minus the longest
    booking ever placed — so the query is a short range scan of
    ``ix_booking_resource_range`` however many bookings the resource has.
    """
    rows = driver_rows(
        connection,
        "SELECT start_at, end_at FROM booking WHERE resource_id = ? "
        "AND start_at >= ? AND start_at < ? AND end_at > ? "
        "AND status IN ('held', 'completed')",
        (resource_id, iso(window.start - longest), iso(window.end), iso(window.start)),
    )
    return [Interval(start=parse_iso(start), end=parse_iso(end)) for start, end in rows]


def availability_window(candidate: Interval, zone: str) -> Interval:
    """The range whose bookings decide a candidate and the free slots its refusal names.

    The candidate and the local days it touches (at most
    :data:`FREE_SLOT_DAYS_SHOWN_MAX` of them).
    """
    tz = time_zone(zone)
    first = candidate.start.astimezone(tz).date()
    last = (candidate.end - timedelta(microseconds=1)).astimezone(tz).date()
    last = min(last, first + timedelta(days=FREE_SLOT_DAYS_SHOWN_MAX - 1))
    return Interval(
        start=min(candidate.start, day_bounds(first, zone).start),
        end=max(candidate.end, day_bounds(last, zone).end),
    )


def check_slot(
    connection: Connection,
    ledger: Ledger,
    resource: Resource,
    candidate: Interval,
    *,
    also: Sequence[Interval] = (),
) -> None:
    """Refuse ``candidate`` if ``units`` occupying bookings already overlap it somewhere.

    ``also`` are slots being booked in the same request, not yet written.
    """
    zone = ledger.network.timezone
    window = availability_window(candidate, zone)
    existing = _overlapping(connection, resource.id, resource.duration_longest, window)
    existing += [other for other in also if other.overlaps(window)]
    check_availability(
        existing, candidate, units=resource.rules.units, zone=zone, resource=resource.slug
    )


def check_slots(
    connection: Connection, ledger: Ledger, resource: Resource, candidates: Sequence[Interval]
) -> None:
    """:func:`check_slot` for each of several slots of one request, in few queries.

    Slots whose windows lie within :data:`SLOT_GROUP_SPAN_MAX` of each other
    share one range query; each slot is also checked against the slots before it.
    """
    zone = ledger.network.timezone
    windows = [availability_window(candidate, zone) for candidate in candidates]
    order = sorted(range(len(candidates)), key=lambda index: windows[index].start)
    groups: list[list[int]] = []
    for index in order:
        if groups and windows[index].end - windows[groups[-1][0]].start <= SLOT_GROUP_SPAN_MAX:
            groups[-1].append(index)
        else:
            groups.append([index])
    for group in groups:
        hull = Interval(
            start=min(windows[i].start for i in group), end=max(windows[i].end for i in group)
        )
        stored = _overlapping(connection, resource.id, resource.duration_longest, hull)
        for index in group:
            window = windows[index]
            existing = [
                other for other in stored + list(candidates[:index]) if other.overlaps(window)
            ]
            check_availability(
                existing,
                candidates[index],
                units=resource.rules.units,
                zone=zone,
                resource=resource.slug,
            )


def book(
    ledger: Ledger,
    signer: Signer,
    *,
    resource: str,
    booker: str,
    start: datetime,
    end: datetime,
    memo: str = "",
    at: datetime | None = None,
) -> Booking:
    """Book ``[start, end)`` (aware datetimes) of ``resource`` for ``booker``, who signs it."""
    (made,) = book_many(
        ledger, signer, resource=resource, booker=booker, slots=[(start, end)], memo=memo, at=at
    )
    return made


def book_many(
    ledger: Ledger,
    signer: Signer,
    *,
    resource: str,
    booker: str,
    slots: Sequence[tuple[datetime, datetime]],
    memo: str = "",
    at: datetime | None = None,
) -> list[Booking]:
    """Book several slots of one resource at once: all of them, or none (a weekly series).

    One slot is one signed hold (:func:`payments.hold`); several are one
    batch of holds under one signature (:func:`posting.post_batch`), checked
    and written in one transaction, each slot also against the ones before it.
    """
    from mutualcredit.services.payments import resolve_account

    validate_text(memo, what="memo")
    if not 1 <= len(slots) <= BOOKINGS_PER_REQUEST_MAX:
        raise UsageError(
            f"a request books 1 to {BOOKINGS_PER_REQUEST_MAX} slots; got {len(slots)}", code="usage"
        )
    moment = (at or now()).astimezone(UTC)
    zone = ledger.network.timezone
    found = get_resource(ledger, resource)
    if found.status != "open":
        raise ResourceClosed(f"resource {resource} is closed to new bookings", resource=resource)
    payer = resolve_account(ledger, booker)
    if signer.handle != booker:
        raise NotAuthorised(
            f"{signer.handle} may not book for {booker}: a booking is signed by its booker"
        )
    candidates = []
    for first, last in slots:
        first, last = first.astimezone(UTC), last.astimezone(UTC)
        check_booking_request(found.rules, first, last, moment, zone=zone)
        candidates.append(Interval(start=first, end=last))
    prices = [price_for(found.rules, c.start, c.end) for c in candidates]
    charges = [_charge_in_payer_currency(ledger, found, payer.currency, p) for p in prices]
    booked: list[Booking] = []

    def before(connection: Connection) -> None:
        locked = _resource(ledger, _resource_row(connection, resource, lock=True))
        if locked.status != "open":
            raise ResourceClosed(
                f"resource {resource} is closed to new bookings", resource=resource
            )
        check_slots(connection, ledger, locked, candidates)
        if len(candidates) > 1:
            available = _available(connection, payer.name)
            if available is not None and available < sum(charges):
                raise _insufficient(
                    ledger,
                    found,
                    payer.currency,
                    booker,
                    sum(prices),
                    sum(charges),
                    available,
                    count=len(candidates),
                )

    def after(connection: Connection, results: list[PostResult]) -> None:
        assert not any(result.replayed for result in results), "booking keys are fresh"
        ids = [
            int(
                driver_rows(
                    connection,
                    "INSERT INTO booking (resource_id, booker, start_at, end_at, status, price, "
                    "charged, hold_id, resolution_id, memo, created_at, resolved_at, resolved_by) "
                    "VALUES (?, ?, ?, ?, 'held', ?, NULL, ?, NULL, ?, ?, NULL, NULL) RETURNING id",
                    (
                        found.id,
                        booker,
                        iso(candidate.start),
                        iso(candidate.end),
                        price,
                        result.transfer_id,
                        memo,
                        iso(moment),
                    ),
                )[0][0]
            )
            for candidate, price, result in zip(candidates, prices, results, strict=True)
        ]
        # What was written, as the caller gets it (no second read after the commit).
        booked[:] = [
            Booking(
                id=booking_id,
                resource=found,
                booker=booker,
                start=candidate.start,
                end=candidate.end,
                status="held",
                price=price,
                charged=None,
                hold_id=result.transfer_id,
                resolution_id=None,
                memo=memo,
                created_at=iso(moment),
                resolved_at=None,
                resolved_by=None,
            )
            for booking_id, candidate, price, result in zip(
                ids, candidates, prices, results, strict=True
            )
        ]
        longest = max(int(candidate.duration.total_seconds()) for candidate in candidates)
        driver_rows(
            connection,
            "UPDATE resource SET duration_longest = ? WHERE id = ? AND duration_longest < ?",
            (longest, found.id, longest),
        )

    try:
        _place_holds(
            ledger,
            signer,
            found,
            payer.name,
            candidates,
            prices,
            charges,
            memo=memo,
            moment=moment,
            before=before,
            after=after,
        )
    except CreditLimitExceeded as error:
        if error.data.get("account") != payer.name or len(candidates) > 1:
            raise
        available = error.would_reach + charges[0] - error.limit_minor
        raise _insufficient(
            ledger, found, payer.currency, booker, prices[0], charges[0], available
        ) from None
    return list(booked)


def weekly_slots(
    start: datetime, end: datetime, weeks: int, zone: str
) -> list[tuple[datetime, datetime]]:
    """The slot ``[start, end)`` and the same local wall times on the ``weeks - 1`` weeks after.

    Weeks are counted on the local calendar, so a series keeps its local hour
    across a clock change; a repetition that falls on a local time that does
    not exist (or happens twice) is refused, as when typed.
    """
    from mutualcredit.domain.bookings import parse_local_datetime

    if not 1 <= weeks <= BOOKINGS_PER_REQUEST_MAX:
        raise UsageError(
            f"--weekly {weeks} is not valid: book 1 to {BOOKINGS_PER_REQUEST_MAX} weeks at once",
            code="usage",
        )
    tz = time_zone(zone)
    first, last = start.astimezone(tz).replace(tzinfo=None), end.astimezone(tz).replace(tzinfo=None)
    slots = [(start, end)]
    for week in range(1, weeks):
        shift = timedelta(days=7 * week)
        slots.append(
            (
                parse_local_datetime((first + shift).isoformat(), zone),
                parse_local_datetime((last + shift).isoformat(), zone),
            )
        )
    return slots


def _place_holds(
    ledger: Ledger,
    signer: Signer,
    found: Resource,
    payer: str,
    candidates: Sequence[Interval],
    prices: Sequence[int],
    charges: Sequence[int],
    *,
    memo: str,
    moment: datetime,
    before: Any,
    after: Any,
) -> None:
    """The holds that pay for ``candidates``: one signed hold, or one signed batch of them."""
    from mutualcredit.services.payments import resolve_account, route
    from mutualcredit.services.posting import post_batch

    def meta(candidate: Interval, price: int) -> dict[str, Any]:
        return {
            "booking": {
                "resource": found.slug,
                "start": iso(candidate.start),
                "end": iso(candidate.end),
                "price": format_amount(price, found.scale),
                "currency": found.currency,
            }
        }

    if len(candidates) == 1:
        hold(
            ledger,
            signer,
            payer=payer,
            payee=found.account,
            amount=charges[0],
            expires_at=expires_at(found.rules, candidates[0].end),
            memo=memo or f"booking of {found.slug}",
            key=f"booking-{secrets.token_hex(12)}",
            meta=meta(candidates[0], prices[0]),
            at=moment,
            before=before,
            after=after,
        )
        return
    source, target = resolve_account(ledger, payer), resolve_account(ledger, found.account)
    routes = {charge: route(ledger, source, target, charge) for charge in set(charges)}
    drafts = [
        TransferDraft(
            network=ledger.network.id,
            kind="hold",
            author=signer.handle,
            key=f"booking-{secrets.token_hex(12)}",
            postings=routes[charge],
            created_at=iso(moment),
            memo=memo or f"booking of {found.slug}",
            meta={"from": source.name, "to": target.name, **meta(candidate, price)},
            expires_at=iso(expires_at(found.rules, candidate.end)),
        )
        for candidate, price, charge in zip(candidates, prices, charges, strict=True)
    ]
    post_batch(
        ledger,
        drafts,
        signer,
        kind="bookings",
        meta={"resource": found.slug},
        before=before,
        after=after,
    )


def _available(connection: Connection, account: str) -> int | None:
    row = connection.execute(
        text(
            "SELECT posted_credits - posted_debits - pending_debits - limit_lower FROM account "
            "WHERE name = :n"
        ),
        {"n": account},
    ).one()
    return None if row[0] is None else int(row[0])


def _insufficient(
    ledger: Ledger,
    resource: Resource,
    payer_currency: str,
    booker: str,
    price: int,
    charge: int,
    available: int,
    *,
    count: int = 1,
) -> InsufficientCredit:
    payer_scale = ledger.currencies[payer_currency].scale
    cost = f"{format_amount(price, resource.scale)} {resource.currency}"
    if payer_currency != resource.currency:
        cost += f" ({format_amount(charge, payer_scale)} {payer_currency})"
    what = (
        f"booking {resource.slug} costs"
        if count == 1
        else f"{count} bookings of {resource.slug} cost"
    )
    return InsufficientCredit(
        f"not enough available credit: {what} {cost} and {booker} has "
        f"{format_amount(available, payer_scale)} {payer_currency} available",
        price=format_amount(price, resource.scale),
        available=format_amount(available, payer_scale),
    )


# -- reading bookings ----------------------------------------------------------------------------


def _booking_row(connection: Connection, booking_id: int, *, lock: bool = False) -> Any:
    suffix = " FOR UPDATE OF b" if lock and connection.dialect.name == "postgresql" else ""
    row = connection.execute(
        text(f"{BOOKING_SELECT} WHERE b.id = :i{suffix}"), {"i": booking_id}
    ).one_or_none()
    if row is None:
        raise BookingNotFound(f"booking {booking_id} does not exist", booking=booking_id)
    return row


def get_booking(ledger: Ledger, booking_id: int) -> Booking:
    with ledger.read() as connection:
        return _booking(ledger, _booking_row(connection, booking_id))


def list_bookings(
    ledger: Ledger,
    *,
    resource: str | None = None,
    booker: str | None = None,
    first: date | None = None,
    last: date | None = None,
    status: str | None = None,
) -> list[Booking]:
    """Bookings by start, filtered; ``first``/``last`` are local days, both included."""
    if status is not None and status not in BOOKING_STATUSES:
        raise UsageError(
            f"status {status!r} is not one of {', '.join(BOOKING_STATUSES)}", code="invalid_status"
        )
    if first is not None and last is not None and last < first:
        raise UsageError(f"--to {last} is before --from {first}", code="invalid_period")
    zone = ledger.network.timezone
    clauses, values = [], {}
    with ledger.read() as connection:
        if resource is not None:
            clauses.append("b.resource_id = :resource")
            values["resource"] = _resource_row(connection, resource).id
        if booker is not None:
            from mutualcredit.services.network import member_row

            member_row(connection, booker)
            clauses.append("b.booker = :booker")
            values["booker"] = booker
        if first is not None:  # bookings overlapping the period
            clauses.append("b.end_at > :lo")
            values["lo"] = iso(day_bounds(first, zone).start)
        if last is not None:
            clauses.append("b.start_at < :hi")
            values["hi"] = iso(day_bounds(last, zone).end)
        if status is not None:
            clauses.append("b.status = :status")
            values["status"] = status
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = connection.execute(
            text(
                f"{BOOKING_SELECT}{where} ORDER BY b.start_at, b.id LIMIT {BOOKINGS_LISTED_MAX + 1}"
            ),
            values,
        ).all()
    if len(rows) > BOOKINGS_LISTED_MAX:
        raise TooManyBookings(
            f"more than {BOOKINGS_LISTED_MAX} bookings match; narrow the "
            "listing with --resource, --by, --from/--to or --status"
        )
    return [_booking(ledger, row) for row in rows]


def week_bookings(
    ledger: Ledger, resource: str, week_start: date
) -> tuple[Resource, list[Booking]]:
    """A resource and its bookings overlapping the seven local days from ``week_start``."""
    found = get_resource(ledger, resource)
    zone = ledger.network.timezone
    lo = day_bounds(week_start, zone).start
    hi = day_bounds(week_start + timedelta(days=6), zone).end
    with ledger.read() as connection:
        rows = connection.execute(
            text(
                f"{BOOKING_SELECT} WHERE b.resource_id = :r AND b.start_at >= :earliest "
                "AND b.start_at < :hi AND b.end_at > :lo ORDER BY b.start_at, b.id"
            ),
            {
                "r": found.id,
                "earliest": iso(lo - found.duration_longest),
                "hi": iso(hi),
                "lo": iso(lo),
            },
        ).all()
    return found, [_booking(ledger, row) for row in rows]


def export_ics(ledger: Ledger, *, resource: str | None = None, at: datetime | None = None) -> bytes:
    """Every booking (of ``resource``) as an iCalendar feed; see :mod:`mutualcredit.domain.ics`."""
    from mutualcredit.domain.ics import bookings_to_ics

    bookings = list_bookings(ledger, resource=resource)
    names = {resource.slug: resource.name for resource in list_resources(ledger)}
    return bookings_to_ics(
        [booking_view(b) for b in bookings],
        network_id=ledger.network.id,
        network_name=ledger.network.name,
        resource_names=names,
        now=(at or now()),
    )


# -- resolving bookings --------------------------------------------------------------------------


def _require_held(row: Any, verb: str) -> None:
    if row.booking_status != "held":
        raise BookingNotHeld(
            f"booking {row.booking_id} is already {row.booking_status}; only a held booking "
            f"can be {verb}",
            booking=int(row.booking_id),
            status=row.booking_status,
        )


def _payer_part(ledger: Ledger, booking: Booking, amount: int, *, exact: bool) -> tuple[int, int]:
    """The payer's side of posting ``amount`` of the resource's currency out of the hold.

    Returns ``(payer amount, resource amount)``.  With ``exact`` the amount must
    convert exactly (a completion); without it (a fee) it is rounded down to
    the largest amount every leg of the hold can carry exactly — at 1:1 rates,
    the amount itself.
    """
    held = _held_legs(ledger, booking.hold_id)
    payer_total = -held[0]
    resource_total = held[-1]
    assert payer_total > 0 and resource_total == booking.price, (held, booking.price)
    if exact:
        payer = amount * payer_total // resource_total
        if payer * resource_total != amount * payer_total:
            raise Refused(
                f"{format_amount(amount, booking.resource.scale)} {booking.resource.currency} "
                "cannot be charged exactly in the booker's currency at the fixed rates",
                code="inexact_conversion",
            )
        return payer, amount
    step = 1  # scaling leg i by payer/payer_total is exact iff payer is a multiple of this
    for leg in held:
        step = math.lcm(step, payer_total // math.gcd(payer_total, abs(leg)))
    payer = (amount * payer_total // resource_total) // step * step
    return payer, payer * resource_total // payer_total


def _held_legs(ledger: Ledger, hold_id: int) -> list[int]:
    """The amounts of a hold's postings, payer's debit first and payee's credit last."""
    from mutualcredit.domain.amounts import parse_signed_amount

    # A hold's postings are in its signed body; posting rows are written only when it posts.
    with ledger.read() as connection:
        body = connection.execute(
            text("SELECT body FROM transfer WHERE id = :i"), {"i": hold_id}
        ).scalar_one()
    postings = json.loads(body)["postings"]
    return [
        parse_signed_amount(p["amount"], scale=ledger.currencies[p["currency"]].scale)
        for p in postings
    ]


def _resolve(
    ledger: Ledger,
    signer: Signer,
    booking: Booking,
    *,
    action: str,
    payer_amount: int | None,
    status: str,
    charged: int | None,
    moment: datetime,
    check: Any,
) -> Booking:
    """Resolve a booking's hold and move the booking to ``status`` in one transaction."""

    def before(connection: Connection) -> None:
        check(connection, _booking_row(connection, booking.id, lock=True))

    def after(connection: Connection, results: list[PostResult]) -> None:
        (result,) = results
        updated = connection.execute(
            text(
                "UPDATE booking SET status = :status, charged = :charged, resolution_id = :rid, "
                "resolved_at = :at, resolved_by = :by WHERE id = :i AND status = 'held'"
            ),
            {
                "status": status,
                "charged": charged,
                "rid": result.transfer_id,
                "at": iso(moment),
                "by": signer.handle,
                "i": booking.id,
            },
        )
        assert updated.rowcount == 1, booking.id

    memo = f"booking {booking.id} of {booking.resource.slug} {status}"
    resolve_hold(
        ledger,
        signer,
        hold_id=booking.hold_id,
        action=action,
        amount=payer_amount,
        memo=memo,
        key=f"booking-{booking.id}-{status}",
        at=moment,
        meta={"booking": booking.id},
        before=before,
        after=after,
    )
    return get_booking(ledger, booking.id)


def complete_booking(
    ledger: Ledger,
    signer: Signer,
    *,
    booking_id: int,
    amount: int | None = None,
    at: datetime | None = None,
) -> Booking:
    """Post the booking's hold (or ``amount`` of it) to the resource, once it has started."""
    moment = at or now()
    booking = get_booking(ledger, booking_id)
    charged = booking.price if amount is None else amount

    def check(connection: Connection, row: Any) -> None:
        require(
            connection,
            signer.handle,
            what=f"complete booking {booking_id}",
            collective=booking.resource.collective,
        )
        _require_held(row, "completed")
        check_completion(
            start=booking.start,
            now=moment,
            held=booking.price,
            amount=charged,
            currency=booking.resource.currency,
            scale=booking.resource.scale,
        )

    with ledger.read() as connection:  # clear refusals before anything is signed
        check(connection, _booking_row(connection, booking_id))
    payer_amount = None
    if charged != booking.price:
        payer_amount = _payer_part(ledger, booking, charged, exact=True)[0]
    return _resolve(
        ledger,
        signer,
        booking,
        action="post",
        payer_amount=payer_amount,
        status="completed",
        charged=charged,
        moment=moment,
        check=check,
    )


def _may_cancel(connection: Connection, signer: Signer, booking: Booking) -> bool:
    """Whether the signer is a coordinator of the resource's collective or the admin."""
    return coordinates(roles_of(connection, signer.handle), booking.resource.collective)


def cancel_booking(
    ledger: Ledger,
    signer: Signer,
    *,
    booking_id: int,
    waive_fee: bool = False,
    at: datetime | None = None,
) -> Booking:
    """Cancel before the start: void the hold, or inside the window post the fee only."""
    moment = at or now()
    booking = get_booking(ledger, booking_id)
    fee_due: list[int] = []

    def check(connection: Connection, row: Any) -> None:
        manager = _may_cancel(connection, signer, booking)
        if not manager and signer.handle != booking.booker:
            raise NotAuthorised(
                f"{signer.handle} may not cancel booking {booking_id}: it needs its booker "
                f"({booking.booker}), the admin or a coordinator of {booking.resource.collective}"
            )
        if waive_fee and not manager:
            raise NotAuthorised(
                f"{signer.handle} may not waive the cancellation fee of booking {booking_id}: "
                f"it needs the admin or a coordinator of {booking.resource.collective}"
            )
        _require_held(row, "cancelled")
        fee = cancel_fee_due(
            booking.resource.rules, price=booking.price, start=booking.start, now=moment
        )
        fee_due[:] = [0 if waive_fee else fee]

    with ledger.read() as connection:
        check(connection, _booking_row(connection, booking_id))
    fee = fee_due[0]
    payer_amount, charged = _payer_part(ledger, booking, fee, exact=False) if fee else (0, 0)
    if payer_amount == 0:
        return _resolve(
            ledger,
            signer,
            booking,
            action="void",
            payer_amount=None,
            status="cancelled",
            charged=None,
            moment=moment,
            check=check,
        )
    return _resolve(
        ledger,
        signer,
        booking,
        action="post",
        payer_amount=payer_amount,
        status="cancelled",
        charged=charged,
        moment=moment,
        check=check,
    )


def _expirable(ledger: Ledger, signer: Signer, moment: datetime) -> Sequence[Any]:
    with ledger.read() as connection:
        roles = roles_of(connection, signer.handle)
        if not any(role in ("admin", "coordinator") for role, _ in roles):
            raise NotAuthorised(
                f"{signer.handle} may not expire bookings: it needs the admin or a coordinator"
            )
        scopes = (
            None
            if any(role == "admin" for role, _ in roles)
            else sorted({scope for role, scope in roles if role == "coordinator" and scope})
        )
        where = "" if scopes is None else " AND r.collective IN :scopes"
        statement = text(
            f"{BOOKING_SELECT} JOIN transfer t ON t.id = b.hold_id WHERE b.status = 'held' "
            f"AND t.expires_at <= :now{where} ORDER BY b.end_at, b.id "
            f"LIMIT {EXPIRED_PER_RUN_MAX}"
        )
        values: dict[str, Any] = {"now": iso(moment)}
        if scopes is not None:
            statement = statement.bindparams(bindparam("scopes", expanding=True))
            values["scopes"] = scopes
        return connection.execute(statement, values).all()


def expire_bookings(ledger: Ledger, signer: Signer, *, at: datetime | None = None) -> list[Booking]:
    """Expire the holds of bookings neither completed nor cancelled by end + grace.

    A coordinator expires the bookings of their collectives' resources; the
    admin all of them.  A booking whose hold was already resolved outside the
    bookings service (e.g. by a generic hold expiry) is brought in line with it.
    """
    moment = at or now()
    expired: list[Booking] = []
    for row in _expirable(ledger, signer, moment):
        booking = _booking(ledger, row)

        def check(connection: Connection, locked: Any) -> None:
            _require_held(locked, "expired")

        try:
            expired.append(
                _resolve(
                    ledger,
                    signer,
                    booking,
                    action="expire",
                    payer_amount=None,
                    status="expired",
                    charged=None,
                    moment=moment,
                    check=check,
                )
            )
        except BookingNotHeld:
            continue  # completed or cancelled meanwhile
        except Refused as error:
            if error.code != "hold_not_pending":
                raise
            _sync_with_hold(ledger, booking, signer, moment)
            expired.append(get_booking(ledger, booking.id))
    return expired


def _sync_with_hold(ledger: Ledger, booking: Booking, signer: Signer, moment: datetime) -> None:
    """Record that a booking's hold was expired or voided by someone else."""

    def work(connection: Connection) -> None:
        resolution = connection.execute(
            text("SELECT id, kind FROM transfer WHERE resolves_id = :h"), {"h": booking.hold_id}
        ).one()
        status = "completed" if resolution.kind == "post_hold" else "expired"
        connection.execute(
            text(
                "UPDATE booking SET status = :s, resolution_id = :r, resolved_at = :at, "
                "resolved_by = :by WHERE id = :i AND status = 'held'"
            ),
            {
                "s": status,
                "r": resolution.id,
                "at": iso(moment),
                "by": signer.handle,
                "i": booking.id,
            },
        )

    ledger.write(work)


def occupying(bookings: Sequence[Booking]) -> list[Booking]:
    return [booking for booking in bookings if booking.status in OCCUPYING_STATUSES]


def range_text(ledger: Ledger, start: datetime, end: datetime) -> str:
    """``2026-12-05 14:00–17:00`` (one local day) or ``2026-12-05 08:00 – 2026-12-06 08:00``."""
    tz = time_zone(ledger.network.timezone)
    first, last = start.astimezone(tz), end.astimezone(tz)
    if first.date() == last.date():
        return f"{first:%Y-%m-%d %H:%M}–{last:%H:%M}"
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M}"


# -- demo ----------------------------------------------------------------------------------------


def demo_step(demo: Any) -> None:
    """The demo's shared infrastructure: Cubo's studio and Massa's van, lent to the network.

    Three bookings tell the story: a studio session last week, completed; the
    van booked by a member of Palafita and cancelled inside its window (the fee
    is posted, through clearing); and a studio session ahead, still held.  The
    story is dated around the clock (``MUTUALCREDIT_NOW`` when set), so the
    past happened in the past: its transfers carry those earlier times.  Who
    books is the member of each collective with the most available credit after
    the seeded exchanges, so every seed gives a full story.
    """
    from mutualcredit.domain.amounts import parse_signed_amount
    from mutualcredit.domain.bookings import day_bounds as local_day
    from mutualcredit.services.queries import balance

    ledger, signers = demo.ledger, demo.signers
    zone = ledger.network.timezone
    tz = time_zone(zone)
    base = now().replace(minute=0, second=0, microsecond=0)
    today = base.astimezone(tz).date()

    def at_local(day: date, hour: int) -> datetime:
        return local_day(day, zone).start + timedelta(hours=hour)

    def booker_for(collective: str, price: int) -> str:
        """A member of ``collective`` who can afford ``price``: preferably not a coordinator,
        then the one with the most available credit, then by handle."""

        def rank(member: tuple[str, str, str, int, bool]) -> tuple[bool, bool, int, str]:
            available = parse_signed_amount(balance(ledger, member[0])["available"], scale=2)
            return (available < price, member[4], -available, member[0])

        return min((m for m in _demo_members() if m[2] == collective), key=rank)[0]

    setup_time = base - timedelta(days=21)
    studio = add_resource(
        ledger,
        signers["ana"],
        slug="studio",
        collective="cubo",
        name="Estúdio de ensaio do Cubo",
        at=setup_time,
        rules=ResourceRules(
            price=1500,
            per="hour",
            duration_min=timedelta(hours=1),
            duration_max=timedelta(hours=8),
            cancel_window=timedelta(days=2),
            cancel_fee_percent=30,
        ),
    )
    van = add_resource(
        ledger,
        signers["heitor"],
        slug="van",
        collective="massa",
        name="Van da Massa (emprestada à rede)",
        at=setup_time,
        rules=ResourceRules(
            price=12000,
            per="day",
            duration_min=timedelta(hours=4),
            lead=timedelta(days=1),
            cancel_window=timedelta(days=7),
            cancel_fee_percent=50,
        ),
    )
    demo.say(
        "shared infrastructure: studio (Espaço Cubo, 15.00 CUBO/h, 30% fee inside 2d) and "
        "van (Massa, lent to the network, 120.00 MASSA/day, 50% fee inside 7d)"
    )

    session_day = today - timedelta(days=7)
    booker = booker_for("cubo", 4500)
    past = book(
        ledger,
        signers[booker],
        resource="studio",
        booker=booker,
        start=at_local(session_day, 14),
        end=at_local(session_day, 17),
        memo="ensaio da banda",
        at=base - timedelta(days=10),
    )
    done = complete_booking(
        ledger, signers["ana"], booking_id=past.id, at=at_local(session_day, 18)
    )
    demo.say(
        f"{booker} booked the studio for {range_text(ledger, past.start, past.end)}; ana "
        f"completed it: {format_amount(done.charged or 0, studio.scale)} CUBO posted to "
        f"{studio.account}"
    )

    traveller = booker_for("palafita", 12000)
    trip = book(
        ledger,
        signers[traveller],
        resource="van",
        booker=traveller,
        start=at_local(today + timedelta(days=3), 7),
        end=at_local(today + timedelta(days=3), 22),
        memo="show em Santarém",
        at=base - timedelta(days=12),
    )
    cancelled = cancel_booking(
        ledger, signers[traveller], booking_id=trip.id, at=base - timedelta(hours=2)
    )
    demo.say(
        f"{traveller} booked the van for {range_text(ledger, trip.start, trip.end)} "
        f"({format_amount(trip.price, van.scale)} MASSA, through clearing) and cancelled "
        f"inside the 7d window: fee {format_amount(cancelled.charged or 0, van.scale)} "
        "MASSA posted, the rest released"
    )

    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    guest = booker_for("massa", 4500)
    ahead = book(
        ledger,
        signers[guest],
        resource="studio",
        booker=guest,
        start=at_local(saturday, 14),
        end=at_local(saturday, 17),
        memo="gravação da demo",
        at=base - timedelta(hours=1),
    )
    demo.say(
        f"{guest} holds the studio for {range_text(ledger, ahead.start, ahead.end)} "
        f"({format_amount(ahead.price, studio.scale)} CUBO held, through clearing; "
        f"booking {ahead.id})"
    )


def _demo_members() -> tuple[tuple[str, str, str, int, bool], ...]:
    from mutualcredit.services.demo import MEMBERS

    return MEMBERS
