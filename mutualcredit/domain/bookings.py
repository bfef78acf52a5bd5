"""Bookings of shared infrastructure: rules, prices, overlaps and local time.

A collective shares a *resource* (a studio, a backline, a van, a room) that
members of the network book with the currency.  A resource has a price per
hour or per day, a number of interchangeable ``units`` (two rehearsal rooms,
one van) and :class:`ResourceRules` that say how long a booking may last, how
far ahead it must be made, and what cancelling late costs.

A booking reserves a half-open range ``[start, end)`` on one unit.  Half-open
means touching ranges do not overlap: 14:00–16:00 and 16:00–18:00 can both be
held on a single-unit studio.  At most ``units`` bookings may overlap at any
instant; :func:`max_overlap` counts the busiest instant with a sweep line.
Counting is enough — because units are interchangeable, a set of intervals in
which no instant is covered more than ``units`` times can always be assigned
to ``units`` concrete units (interval graphs are perfect), so the ledger need
not store which unit a booking got.

**Time.**  Every instant is stored and compared as an aware UTC datetime.
People type local times in the network's time zone (``America/Sao_Paulo``,
``America/Cuiaba``); :func:`parse_local_datetime` turns them into UTC:

- ``2026-12-05T14:00`` is read in the network's zone; ``2026-12-05T14:00-03:00``
  or ``…Z`` carries its own offset and is taken as written.
- A local time that does not exist (inside a spring-forward gap, e.g.
  ``2026-03-08T02:30`` in ``America/New_York``) is refused, naming the gap.
- A local time that happens twice (inside a fall-back overlap, e.g.
  ``2026-11-01T01:30`` in New York) is refused too, naming the two offsets to
  choose from.  Guessing would silently move a booking by an hour; an offset
  says exactly which instant is meant.

Durations are elapsed time (``1d`` is 24 hours, as in
:mod:`mutualcredit.domain.durations`), so a booking across a DST change lasts
what the clock on the wall of a UTC server says, not what the local calendar
suggests.

**Prices** are integers of minor units and follow from the duration
(:func:`price_for`):

- per hour: the duration is counted in minutes (a started minute counts as a
  whole one) and priced pro rata, rounded *up* to the minor unit:
  ``ceil(price × minutes / 60)``.  3h at 15.00/h is 45.00; 1h30m is 22.50;
  1h20m at 10.00/h is 13.34 (13.333… rounded up).
- per day: every started 24 hours is a whole day.  A van for 1.5 days at
  120.00/day costs 240.00; for exactly 2 days, also 240.00.

Rounding goes up so that a collective is never paid less than its stated
rate; the cancellation fee (:func:`cancel_fee`) rounds *down* so that a booker
never pays more than the stated percentage.  Both are at most one minor unit
away from the exact value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mutualcredit.domain.amounts import AMOUNT_MAX, format_amount
from mutualcredit.domain.dates import check_date, check_moment
from mutualcredit.domain.durations import DURATION_MAX, format_duration
from mutualcredit.domain.errors import InvalidDate, Refused, UsageError

PER_VALUES = ("hour", "day")
BOOKING_STATUSES = ("held", "completed", "cancelled", "expired")
OCCUPYING_STATUSES = ("held", "completed")  # cancelled and expired bookings free their slot
UNITS_MAX = 1000
BOOKING_AHEAD_MAX = timedelta(days=731)  # how far in the future a booking may start
# The longest any booking may last, whatever the resource's rules: a resource without a
# maximum is booked for at most this long (a year and a day of a van is not a booking).
BOOKING_DURATION_MAX = timedelta(days=366)
DATETIME_TEXT_LENGTH_MAX = 40
FREE_SLOT_DAYS_SHOWN_MAX = 3  # days of free slots named when a booking is refused

# The order in which check_booking_request reports the first failing reason.
BOOKING_REQUEST_CHECKS = (
    "booking_end_before_start",
    "booking_zero_duration",
    "booking_not_whole_minutes",
    "booking_too_short",
    "booking_too_long",
    "booking_in_past",
    "booking_inside_lead_time",
    "booking_too_far_ahead",
)

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.ASCII,  # \d must not accept other scripts' digits
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


# -- errors ------------------------------------------------------------------


class InvalidResourceRules(UsageError):
    code = "invalid_resource_rules"


class InvalidTimeZone(UsageError):
    code = "invalid_time_zone"


class InvalidDateTime(UsageError):
    code = "invalid_datetime"


class NonexistentLocalTime(InvalidDateTime):
    code = "nonexistent_local_time"


class AmbiguousLocalTime(InvalidDateTime):
    code = "ambiguous_local_time"


class BookingEndBeforeStart(UsageError):
    code = "booking_end_before_start"


class BookingZeroDuration(UsageError):
    code = "booking_zero_duration"


class BookingNotWholeMinutes(UsageError):
    code = "booking_not_whole_minutes"


class BookingTooShort(Refused):
    code = "booking_too_short"


class BookingTooLong(Refused):
    code = "booking_too_long"


class BookingInPast(Refused):
    code = "booking_in_past"


class BookingInsideLeadTime(Refused):
    code = "booking_inside_lead_time"


class BookingTooFarAhead(Refused):
    code = "booking_too_far_ahead"


class BookingPriceTooLarge(Refused):
    code = "booking_price_too_large"


class BookingUnavailable(Refused):
    code = "booking_unavailable"


class BookingAlreadyStarted(Refused):
    code = "booking_already_started"


class BookingNotStarted(Refused):
    code = "booking_not_started"


class CompletionExceedsHold(Refused):
    code = "booking_complete_exceeds_hold"


class InvalidCompletionAmount(UsageError):
    code = "booking_complete_amount_invalid"


# -- values --------------------------------------------------------------------


def _assert_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0), moment


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRules:
    """How a resource is priced and booked.  Invalid rules raise :class:`InvalidResourceRules`.

    ``price`` is in minor units of the collective's currency, per ``per``
    (``"hour"`` or ``"day"``).  A cancellation less than ``cancel_window``
    before the start costs ``cancel_fee_percent`` of the price.  A booking not
    completed nor cancelled by its end plus ``grace`` expires.
    """

    price: int
    per: Literal["hour", "day"]
    units: int = 1
    duration_min: timedelta | None = None  # None: no minimum (a booking lasts at least 1m)
    duration_max: timedelta | None = None  # None: no maximum (but BOOKING_DURATION_MAX)
    lead: timedelta = timedelta(0)
    cancel_window: timedelta = timedelta(0)
    cancel_fee_percent: int = 0
    grace: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        problem = _rules_problem(self)
        if problem is not None:
            raise InvalidResourceRules(f"resource rules are not valid: {problem}")


def _rules_problem(rules: ResourceRules) -> str | None:
    """The first thing wrong with ``rules``, as a phrase, or None."""
    if not 0 < rules.price <= AMOUNT_MAX:
        return f"the price must be greater than zero and at most {AMOUNT_MAX} minor units"
    if rules.per not in PER_VALUES:
        return f"price is per {rules.per!r}; use 'hour' or 'day'"
    if not 1 <= rules.units <= UNITS_MAX:
        return f"units is {rules.units}; use 1 to {UNITS_MAX}"
    for name in ("duration_min", "duration_max"):
        value = getattr(rules, name)
        if value is not None and not _MINUTE <= value <= BOOKING_DURATION_MAX:
            what = "minimum" if name == "duration_min" else "maximum"
            shown = format_duration(value) if value >= timedelta(0) else "negative"
            return (
                f"the {what} duration ({shown}) must be between 1m and "
                f"{format_duration(BOOKING_DURATION_MAX)}"
            )
    if (
        rules.duration_min is not None
        and rules.duration_max is not None
        and rules.duration_min > rules.duration_max
    ):
        return (
            f"the minimum duration ({format_duration(rules.duration_min)}) is longer than "
            f"the maximum ({format_duration(rules.duration_max)})"
        )
    for name in ("lead", "cancel_window", "grace"):
        value = getattr(rules, name)
        if not timedelta(0) <= value <= DURATION_MAX:
            return f"{name.replace('_', ' ')} must be between 0m and {DURATION_MAX.days}d"
    if not 0 <= rules.cancel_fee_percent <= 100:
        return f"the cancellation fee is {rules.cancel_fee_percent}%; use 0 to 100"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """A half-open range of time ``[start, end)`` between aware UTC datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _assert_utc(self.start)
        _assert_utc(self.end)
        assert self.start < self.end, (self.start, self.end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """True when some instant lies in both; touching ranges do not overlap."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingView:
    """A booking as the calendar and the .ics export see it (read-only, no ledger state)."""

    id: int
    resource: str  # slug
    booker: str  # handle
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    status: Literal["held", "completed", "cancelled", "expired"]
    price: int  # minor units
    currency: str
    scale: int
    memo: str = ""

    def __post_init__(self) -> None:
        assert self.status in BOOKING_STATUSES, self.status
        _assert_utc(self.start)
        _assert_utc(self.end)
        assert self.id >= 1 and self.price >= 0, (self.id, self.price)

    @property
    def interval(self) -> Interval:
        return Interval(start=self.start, end=self.end)

    @property
    def occupies(self) -> bool:
        """Whether the booking still takes a unit (held or completed)."""
        return self.status in OCCUPYING_STATUSES


# -- prices ----------------------------------------------------------------------


def price_for(rules: ResourceRules, start: datetime, end: datetime) -> int:
    """The price in minor units of booking ``[start, end)`` (see the module docstring)."""
    _assert_utc(start)
    _assert_utc(end)
    assert start < end, (start, end)
    elapsed = end - start
    if rules.per == "hour":
        minutes = -(-elapsed // _MINUTE)  # a started minute counts as a whole one
        price = -(-rules.price * minutes // 60)  # rounded up to the minor unit
    else:
        days = -(-elapsed // _DAY)  # a started 24 hours counts as a whole day
        price = rules.price * days
    if price > AMOUNT_MAX:
        raise BookingPriceTooLarge(
            f"a booking of {format_duration(elapsed)} would cost {price} minor units; "
            f"at most {AMOUNT_MAX} are allowed",
            price=price,
        )
    return price


def cancel_fee(rules: ResourceRules, price: int) -> int:
    """``cancel_fee_percent`` of ``price``, rounded down to the minor unit."""
    assert 0 <= price <= AMOUNT_MAX, price
    fee = price * rules.cancel_fee_percent // 100
    assert 0 <= fee <= price, (fee, price)
    return fee


def cancel_fee_due(rules: ResourceRules, *, price: int, start: datetime, now: datetime) -> int:
    """What cancelling now costs: the fee inside the window, nothing before it.

    The window is closed at the start: cancelling exactly ``cancel_window``
    before the start is free; one second later costs the fee.  A booking that
    has started can no longer be cancelled (:class:`BookingAlreadyStarted`);
    the coordinator completes it instead, possibly for a smaller amount.
    """
    _assert_utc(start)
    _assert_utc(now)
    if now >= start:
        raise BookingAlreadyStarted(
            f"the booking started at {_utc_text(start)}; a started booking cannot be cancelled, "
            "only completed (possibly for a smaller amount)",
            start=start.isoformat(),
        )
    if start - now < rules.cancel_window:
        return cancel_fee(rules, price)
    return 0


def check_completion(
    *, start: datetime, now: datetime, held: int, amount: int, currency: str, scale: int
) -> None:
    """Refuse completing a booking before it starts, or for nothing, or for more than was held."""
    _assert_utc(start)
    _assert_utc(now)
    if now < start:
        raise BookingNotStarted(
            f"the booking starts at {_utc_text(start)}; it can be completed only after it starts",
            start=start.isoformat(),
        )
    if amount <= 0:
        raise InvalidCompletionAmount(
            f"the amount to complete for must be greater than 0; got "
            f"{format_amount(amount, scale)} {currency}",
            amount=format_amount(amount, scale),
            currency=currency,
        )
    if amount > held:
        raise CompletionExceedsHold(
            f"cannot complete for {format_amount(amount, scale)} {currency}; the booking holds "
            f"only {format_amount(held, scale)} {currency}",
            amount=format_amount(amount, scale),
            held=format_amount(held, scale),
            currency=currency,
        )


def expires_at(rules: ResourceRules, end: datetime) -> datetime:
    """When a booking neither completed nor cancelled expires: its end plus the grace."""
    _assert_utc(end)
    return end + rules.grace


# -- request checks --------------------------------------------------------------------


def check_booking_request(
    rules: ResourceRules, start: datetime, end: datetime, now: datetime, *, zone: str = "UTC"
) -> None:
    """Raise the first failing reason, in the order of :data:`BOOKING_REQUEST_CHECKS`.

    ``zone`` only chooses how times appear in messages.  Availability (overlap
    with other bookings) is checked separately by :func:`check_availability`,
    inside the write that takes the slot.
    """
    for moment in (start, end, now):
        _assert_utc(moment)
    tz = time_zone(zone)
    if end < start:
        raise BookingEndBeforeStart(
            f"the booking ends ({_local_text(end, tz)}) before it starts "
            f"({_local_text(start, tz)})",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    if end == start:
        raise BookingZeroDuration(
            f"the booking starts and ends at {_local_text(start, tz)}; it must last longer "
            "than zero",
            start=start.isoformat(),
        )
    _check_whole_minutes(start, end, tz)
    _check_duration(rules, end - start)
    _check_start_time(rules, start, now, tz)


def _check_whole_minutes(start: datetime, end: datetime, tz: ZoneInfo) -> None:
    for moment in (start, end):
        if moment.second or moment.microsecond:
            raise BookingNotWholeMinutes(
                f"booking times are whole minutes; {_local_text(moment, tz, seconds=True)} is not",
                moment=moment.isoformat(),
            )


def _check_duration(rules: ResourceRules, duration: timedelta) -> None:
    if rules.duration_min is not None and duration < rules.duration_min:
        raise BookingTooShort(
            f"the booking lasts {format_duration(duration)}; this resource is booked for at "
            f"least {format_duration(rules.duration_min)}",
            duration=format_duration(duration),
            duration_min=format_duration(rules.duration_min),
        )
    if rules.duration_max is None and duration > BOOKING_DURATION_MAX:
        raise BookingTooLong(
            f"the booking lasts {format_duration(duration)}; a booking lasts at most "
            f"{format_duration(BOOKING_DURATION_MAX)}",
            duration=format_duration(duration),
            duration_max=format_duration(BOOKING_DURATION_MAX),
        )
    if rules.duration_max is not None and duration > rules.duration_max:
        raise BookingTooLong(
            f"the booking lasts {format_duration(duration)}; this resource is booked for at "
            f"most {format_duration(rules.duration_max)}",
            duration=format_duration(duration),
            duration_max=format_duration(rules.duration_max),
        )


def _check_start_time(rules: ResourceRules, start: datetime, now: datetime, tz: ZoneInfo) -> None:
    if start < now:
        raise BookingInPast(
            f"the booking starts at {_local_text(start, tz)}, which is in the past "
            f"(now is {_local_text(now, tz)})",
            start=start.isoformat(),
            now=now.isoformat(),
        )
    if start - now < rules.lead:
        raise BookingInsideLeadTime(
            f"this resource is booked at least {format_duration(rules.lead)} ahead; "
            f"{_local_text(start, tz)} is only {format_duration(start - now)} from now; "
            f"the earliest start is {_local_text(now + rules.lead, tz)}",
            start=start.isoformat(),
            lead=format_duration(rules.lead),
        )
    if start - now > BOOKING_AHEAD_MAX:
        raise BookingTooFarAhead(
            f"the booking starts at {_local_text(start, tz)}; bookings start at most "
            f"{BOOKING_AHEAD_MAX.days}d from now",
            start=start.isoformat(),
        )


# -- overlaps and free slots ------------------------------------------------------------


def max_overlap(existing: Sequence[Interval], candidate: Interval) -> int:
    """How many of ``existing`` overlap ``candidate`` at its busiest instant.

    A sweep line over the existing intervals clipped to the candidate: +1 at
    each start, −1 at each end, ends before starts at the same instant so that
    touching ranges never count together.  O(n log n).
    """
    events: list[tuple[datetime, int]] = []
    for interval in existing:
        if interval.overlaps(candidate):
            events.append((max(interval.start, candidate.start), 1))
            events.append((min(interval.end, candidate.end), -1))
    events.sort()  # at equal times -1 sorts before +1
    busiest = running = 0
    for _, delta in events:
        running += delta
        busiest = max(busiest, running)
    return busiest


def free_slots(
    existing: Sequence[Interval], *, units: int, day_start: datetime, day_end: datetime
) -> list[Interval]:
    """The maximal ranges inside ``[day_start, day_end)`` where at least one unit is free."""
    window = Interval(start=day_start, end=day_end)
    deltas: dict[datetime, int] = {day_start: 0, day_end: 0}
    for interval in existing:
        if interval.overlaps(window):
            start, end = max(interval.start, day_start), min(interval.end, day_end)
            deltas[start] = deltas.get(start, 0) + 1
            deltas[end] = deltas.get(end, 0) - 1
    slots: list[Interval] = []
    running = 0
    moments = sorted(deltas)
    for here, following in zip(moments, moments[1:], strict=False):
        running += deltas[here]
        if running >= units:
            continue
        if slots and slots[-1].end == here:
            slots[-1] = Interval(start=slots[-1].start, end=following)
        else:
            slots.append(Interval(start=here, end=following))
    return slots


def check_availability(
    existing: Sequence[Interval], candidate: Interval, *, units: int, zone: str, resource: str
) -> None:
    """Refuse ``candidate`` when, with it, more than ``units`` bookings would overlap.

    ``existing`` are the occupying bookings of the resource (held or
    completed).  The refusal names the free slots on the days the candidate
    touches (at most :data:`FREE_SLOT_DAYS_SHOWN_MAX`), in local time.
    """
    busiest = max_overlap(existing, candidate)
    if busiest < units:
        return
    tz = time_zone(zone)
    unit_text = "its only unit is" if units == 1 else f"all {units} units are"
    days = _local_days(candidate, tz)[:FREE_SLOT_DAYS_SHOWN_MAX]
    free_by_day = {day: _free_slots_text(existing, units, day, tz) for day in days}
    raise BookingUnavailable(
        f"{resource} is not free from {_local_text(candidate.start, tz)} to "
        f"{_local_text(candidate.end, tz)}: {unit_text} booked at some time in that range; "
        + "; ".join(f"free on {day.isoformat()}: {text}" for day, text in free_by_day.items()),
        resource=resource,
        free={day.isoformat(): text for day, text in free_by_day.items()},
    )


def _local_days(interval: Interval, tz: ZoneInfo) -> list[date]:
    first = interval.start.astimezone(tz).date()
    last = (interval.end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _free_slots_text(existing: Sequence[Interval], units: int, day: date, tz: ZoneInfo) -> str:
    bounds = day_bounds(day, tz.key)
    slots = free_slots(existing, units=units, day_start=bounds.start, day_end=bounds.end)
    if not slots:
        return "nothing"
    return ", ".join(_slot_text(slot, bounds, tz) for slot in slots)


def _slot_text(slot: Interval, bounds: Interval, tz: ZoneInfo) -> str:
    start = slot.start.astimezone(tz).strftime("%H:%M")
    end = "24:00" if slot.end == bounds.end else slot.end.astimezone(tz).strftime("%H:%M")
    return f"{start}–{end}"


# -- local time ---------------------------------------------------------------------------


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``America/Sao_Paulo``), or :class:`InvalidTimeZone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidTimeZone(
            f"time zone {name!r} is not known: use an IANA name such as America/Sao_Paulo",
            zone=name,
        ) from None


def day_bounds(day: date, zone: str) -> Interval:
    """The UTC range of one local calendar day: 23, 24 or 25 hours long.

    Local midnight is resolved with ``fold=0``: when midnight falls in a gap
    (as on Brazil's old DST start days) that is the instant the day begins.
    """
    tz = time_zone(zone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + _DAY, time(0), tzinfo=tz).astimezone(UTC)
    return Interval(start=start, end=end)


def parse_local_date(text: str) -> date:
    """Parse a calendar date written ``YYYY-MM-DD``."""
    cleaned = text.strip()
    try:
        if not _DATE_RE.match(cleaned):
            raise ValueError
        day = date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidDate(
            f"date {_shown(text)} is not valid: write YYYY-MM-DD, e.g. 2026-12-05", text=text
        ) from None
    return check_date(day, "date")


def parse_local_datetime(text: str, zone: str) -> datetime:
    """Parse an ISO 8601 date and time into an aware UTC datetime.

    Without an offset the time is local to ``zone``; with one (``-03:00``,
    ``Z``) it is taken as written.  Local times skipped by a spring-forward
    gap are refused (:class:`NonexistentLocalTime`), and so are local times
    that happen twice at a fall-back (:class:`AmbiguousLocalTime`) — the
    message names the two offsets to pick from.
    """
    tz = time_zone(zone)
    cleaned = text.strip()
    try:
        if len(cleaned) > DATETIME_TEXT_LENGTH_MAX or not _DATETIME_RE.match(cleaned):
            raise ValueError
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidDateTime(
            f"date and time {_shown(text)} is not valid: write ISO 8601 such as "
            "2026-12-05T14:00 (in the network's time zone) or 2026-12-05T14:00-03:00",
            text=text,
        ) from None
    check_moment(parsed, "date")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return _resolve_local(parsed, tz)


def _resolve_local(naive: datetime, tz: ZoneInfo) -> datetime:
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    shown = naive.isoformat(timespec="minutes" if not naive.second else "seconds")
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        gap_start, gap_end = _gap_around(first, tz)
        raise NonexistentLocalTime(
            f"{shown} does not exist in {tz.key}: the clocks jump from {gap_start:%H:%M} to "
            f"{gap_end:%H:%M} that day; write a time outside that gap or give an offset",
            text=shown,
            zone=tz.key,
        )
    if first.utcoffset() != second.utcoffset():
        raise AmbiguousLocalTime(
            f"{shown} happens twice in {tz.key} because the clocks go back that day; "
            f"add an offset to choose: {shown}{_offset_text(first)} (the first) or "
            f"{shown}{_offset_text(second)} (the second)",
            text=shown,
            zone=tz.key,
        )
    return first.astimezone(UTC)


def _gap_around(local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local wall times where the spring-forward gap containing ``local`` begins and ends."""
    offset_before = local.replace(fold=0).utcoffset()
    offset_after = local.replace(fold=1).utcoffset()
    assert offset_before is not None and offset_after is not None
    naive = local.replace(tzinfo=None)
    low, high = naive - offset_after, naive - offset_before  # the transition lies between
    while high - low > timedelta(microseconds=1):  # binary search for the transition
        middle = low + (high - low) / 2
        if middle.replace(tzinfo=UTC).astimezone(tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high + offset_before, high + offset_after


def _offset_text(moment: datetime) -> str:
    return moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def _local_text(moment: datetime, tz: ZoneInfo, *, seconds: bool = False) -> str:
    local = moment.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} ({tz.key})"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def occupying_intervals(bookings: Iterable[BookingView]) -> list[Interval]:
    """The intervals of the bookings that still take a unit (held or completed)."""
    return [booking.interval for booking in bookings if booking.occupies]
