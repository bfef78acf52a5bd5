"""Pure booking rules: prices, refusals, overlaps, free slots and local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualcredit.domain.bookings import (
    BOOKING_DURATION_MAX,
    BOOKING_REQUEST_CHECKS,
    AmbiguousLocalTime,
    BookingAlreadyStarted,
    BookingEndBeforeStart,
    BookingInPast,
    BookingInsideLeadTime,
    BookingNotStarted,
    BookingNotWholeMinutes,
    BookingTooFarAhead,
    BookingTooLong,
    BookingTooShort,
    BookingUnavailable,
    BookingView,
    BookingZeroDuration,
    CompletionExceedsHold,
    Interval,
    InvalidCompletionAmount,
    InvalidDateTime,
    InvalidResourceRules,
    InvalidTimeZone,
    NonexistentLocalTime,
    ResourceRules,
    cancel_fee,
    cancel_fee_due,
    check_availability,
    check_booking_request,
    check_completion,
    day_bounds,
    expires_at,
    free_slots,
    max_overlap,
    occupying_intervals,
    parse_local_date,
    parse_local_datetime,
    price_for,
    time_zone,
)
from mutualcredit.domain.errors import ExitCode, InvalidDate, Refused, UsageError

SAO_PAULO = "America/Sao_Paulo"  # UTC-03:00 all year since 2019
STUDIO = ResourceRules(
    price=1500,
    per="hour",
    duration_min=timedelta(hours=1),
    duration_max=timedelta(hours=8),
    lead=timedelta(hours=24),
    cancel_window=timedelta(hours=48),
    cancel_fee_percent=30,
)
VAN = ResourceRules(price=12000, per="day", duration_min=timedelta(hours=4))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iv(start_hour: float, end_hour: float) -> Interval:
    """An interval on 2026-12-05, in UTC hours (fractions allowed for half hours)."""
    base = utc(2026, 12, 5)
    return Interval(start=base + timedelta(hours=start_hour), end=base + timedelta(hours=end_hour))


NOW = utc(2026, 12, 1, 12)


# -- prices -------------------------------------------------------------------------


def test_three_hours_at_fifteen_an_hour_cost_forty_five() -> None:
    assert price_for(STUDIO, utc(2026, 12, 5, 17), utc(2026, 12, 5, 20)) == 4500


def test_a_partial_hour_is_charged_pro_rata_by_the_minute() -> None:
    assert price_for(STUDIO, utc(2026, 12, 5, 17), utc(2026, 12, 5, 18, 30)) == 2250


def test_a_pro_rata_price_is_rounded_up_to_the_centavo() -> None:
    rules = ResourceRules(price=1000, per="hour")
    # 1h20m at 10.00/h is 13.333...: rounded up to 13.34
    assert price_for(rules, utc(2026, 12, 5, 17), utc(2026, 12, 5, 18, 20)) == 1334


def test_a_started_minute_counts_as_a_whole_minute() -> None:
    rules = ResourceRules(price=6000, per="hour")  # 1.00 a minute
    end = utc(2026, 12, 5, 18) + timedelta(seconds=1)
    assert price_for(rules, utc(2026, 12, 5, 17), end) == 6100


def test_a_van_for_a_day_and_a_half_costs_two_days() -> None:
    assert price_for(VAN, utc(2026, 12, 5, 8), utc(2026, 12, 6, 20)) == 24000


def test_a_van_for_exactly_two_days_costs_two_days() -> None:
    assert price_for(VAN, utc(2026, 12, 5, 8), utc(2026, 12, 7, 8)) == 24000


def test_a_van_for_two_days_and_a_minute_costs_three_days() -> None:
    assert price_for(VAN, utc(2026, 12, 5, 8), utc(2026, 12, 7, 8, 1)) == 36000


def test_days_are_24_hours_of_elapsed_time_even_across_a_clock_change() -> None:
    # Local midnight to midnight over New York's fall-back is 25 hours: two days.
    bounds = day_bounds(date(2026, 11, 1), "America/New_York")
    assert bounds.duration == timedelta(hours=25)
    assert price_for(VAN, bounds.start, bounds.end) == 24000


def test_price_ignores_the_zone_the_times_were_given_in() -> None:
    start = parse_local_datetime("2026-03-08T01:00", "America/New_York")
    end = parse_local_datetime("2026-03-08T04:00", "America/New_York")
    assert end - start == timedelta(hours=2)  # the clocks skipped 02:00-03:00
    assert price_for(STUDIO, start, end) == 3000


def test_cancel_fee_is_the_percentage_rounded_down() -> None:
    assert cancel_fee(STUDIO, 4500) == 1350
    assert cancel_fee(STUDIO, 4501) == 1350  # 1350.3 rounds down
    assert cancel_fee(STUDIO, 4504) == 1351  # 1351.2 rounds down


def test_cancel_fee_at_zero_and_a_hundred_percent() -> None:
    assert cancel_fee(ResourceRules(price=100, per="hour", cancel_fee_percent=0), 4500) == 0
    assert cancel_fee(ResourceRules(price=100, per="hour", cancel_fee_percent=100), 4500) == 4500


def test_cancelling_before_the_window_is_free() -> None:
    start = utc(2026, 12, 5, 17)
    assert cancel_fee_due(STUDIO, price=4500, start=start, now=start - timedelta(hours=49)) == 0


def test_cancelling_exactly_at_the_window_is_free() -> None:
    start = utc(2026, 12, 5, 17)
    assert cancel_fee_due(STUDIO, price=4500, start=start, now=start - timedelta(hours=48)) == 0


def test_cancelling_inside_the_window_costs_the_fee() -> None:
    start = utc(2026, 12, 5, 17)
    now = start - timedelta(hours=48) + timedelta(seconds=1)
    assert cancel_fee_due(STUDIO, price=4500, start=start, now=now) == 1350
    assert cancel_fee_due(STUDIO, price=4500, start=start, now=start - timedelta(minutes=1)) == 1350


def test_a_started_booking_cannot_be_cancelled() -> None:
    start = utc(2026, 12, 5, 17)
    with pytest.raises(BookingAlreadyStarted) as caught:
        cancel_fee_due(STUDIO, price=4500, start=start, now=start)
    assert caught.value.code == "booking_already_started"
    assert str(caught.value) == (
        "the booking started at 2026-12-05 17:00 UTC; a started booking cannot be cancelled, "
        "only completed (possibly for a smaller amount)"
    )


def test_expiry_is_the_end_plus_the_default_grace_of_seven_days() -> None:
    assert expires_at(STUDIO, utc(2026, 12, 5, 20)) == utc(2026, 12, 12, 20)


# -- completion ----------------------------------------------------------------------


def test_completing_for_the_held_amount_or_less_is_accepted() -> None:
    start = utc(2026, 12, 5, 17)
    for amount in (4500, 4499, 1):
        check_completion(start=start, now=start, held=4500, amount=amount, currency="CUBO", scale=2)


def test_completing_for_more_than_was_held_is_refused() -> None:
    start = utc(2026, 12, 5, 17)
    with pytest.raises(CompletionExceedsHold) as caught:
        check_completion(start=start, now=start, held=4500, amount=4501, currency="CUBO", scale=2)
    assert caught.value.code == "booking_complete_exceeds_hold"
    assert caught.value.exit_code == ExitCode.REFUSED
    assert str(caught.value) == "cannot complete for 45.01 CUBO; the booking holds only 45.00 CUBO"
    assert caught.value.data == {"amount": "45.01", "held": "45.00", "currency": "CUBO"}


def test_completing_for_nothing_is_a_usage_error() -> None:
    start = utc(2026, 12, 5, 17)
    with pytest.raises(InvalidCompletionAmount) as caught:
        check_completion(start=start, now=start, held=4500, amount=0, currency="CUBO", scale=2)
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(caught.value) == "the amount to complete for must be greater than 0; got 0.00 CUBO"
    assert caught.value.data == {"amount": "0.00", "currency": "CUBO"}


def test_completing_before_the_start_is_refused() -> None:
    start = utc(2026, 12, 5, 17)
    with pytest.raises(BookingNotStarted) as caught:
        check_completion(
            start=start,
            now=start - timedelta(minutes=1),
            held=4500,
            amount=4500,
            currency="CUBO",
            scale=2,
        )
    assert caught.value.code == "booking_not_started"
    assert str(caught.value) == (
        "the booking starts at 2026-12-05 17:00 UTC; it can be completed only after it starts"
    )


# -- resource rules -----------------------------------------------------------------------


def test_rules_defaults() -> None:
    rules = ResourceRules(price=1500, per="hour")
    assert rules.units == 1
    assert rules.grace == timedelta(days=7)
    assert rules.cancel_fee_percent == 0
    assert rules.cancel_window == timedelta(0)
    assert rules.lead == timedelta(0)
    assert rules.duration_min is None and rules.duration_max is None


def test_without_bounds_a_minute_is_enough_and_a_year_and_a_day_is_the_most() -> None:
    rules = ResourceRules(price=1500, per="hour")
    start = utc(2026, 12, 5, 10)
    check_booking_request(rules, start, start + timedelta(minutes=1), NOW)
    check_booking_request(rules, start, start + BOOKING_DURATION_MAX, NOW)
    with pytest.raises(BookingTooLong) as caught:
        check_booking_request(
            rules, start, start + BOOKING_DURATION_MAX + timedelta(minutes=1), NOW
        )
    assert str(caught.value) == "the booking lasts 366d1m; a booking lasts at most 366d"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": 0}, "the price must be greater than zero and at most 10**15"),
        ({"per": "week"}, "price is per 'week'; use 'hour' or 'day'"),
        ({"units": 0}, "units is 0; use 1 to 1000"),
        (
            {"duration_min": timedelta(hours=3), "duration_max": timedelta(hours=2)},
            "the minimum duration (3h) is longer than the maximum (2h)",
        ),
        ({"duration_min": timedelta(0)}, "the minimum duration (0m) must be between 1m and 366d"),
        (
            {"duration_max": timedelta(days=367)},
            "the maximum duration (367d) must be between 1m and 366d",
        ),
        (
            {"duration_max": timedelta(hours=-1)},
            "the maximum duration (negative) must be between 1m and 366d",
        ),
        ({"lead": timedelta(hours=-1)}, "lead must be between 0m and 3660d"),
        ({"cancel_fee_percent": 101}, "the cancellation fee is 101%; use 0 to 100"),
        ({"cancel_fee_percent": -1}, "the cancellation fee is -1%; use 0 to 100"),
    ],
)
def test_invalid_rules_are_refused(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"price": 1500, "per": "hour", **changes}
    with pytest.raises(InvalidResourceRules) as caught:
        ResourceRules(**arguments)  # type: ignore[arg-type]
    expected = message.replace("10**15", "1000000000000000 minor units")
    assert str(caught.value) == f"resource rules are not valid: {expected}"
    assert caught.value.code == "invalid_resource_rules"


# -- booking requests -----------------------------------------------------------------------


def refusal(start: datetime, end: datetime, *, now: datetime = NOW) -> Exception:
    with pytest.raises((UsageError, Refused)) as caught:
        check_booking_request(STUDIO, start, end, now, zone=SAO_PAULO)
    return caught.value


def test_a_good_request_passes() -> None:
    check_booking_request(STUDIO, utc(2026, 12, 5, 17), utc(2026, 12, 5, 20), NOW, zone=SAO_PAULO)


def test_end_before_start() -> None:
    error = refusal(utc(2026, 12, 5, 17), utc(2026, 12, 5, 16))
    assert isinstance(error, BookingEndBeforeStart) and error.exit_code == ExitCode.USAGE
    assert str(error) == (
        "the booking ends (2026-12-05 13:00 (America/Sao_Paulo)) before it starts "
        "(2026-12-05 14:00 (America/Sao_Paulo))"
    )


def test_zero_duration() -> None:
    error = refusal(utc(2026, 12, 5, 17), utc(2026, 12, 5, 17))
    assert isinstance(error, BookingZeroDuration) and error.code == "booking_zero_duration"
    assert str(error) == (
        "the booking starts and ends at 2026-12-05 14:00 (America/Sao_Paulo); "
        "it must last longer than zero"
    )


def test_times_must_be_whole_minutes() -> None:
    error = refusal(utc(2026, 12, 5, 17, 0, 30), utc(2026, 12, 5, 20))
    assert isinstance(error, BookingNotWholeMinutes)
    assert str(error) == (
        "booking times are whole minutes; 2026-12-05 14:00:30 (America/Sao_Paulo) is not"
    )


def test_too_short() -> None:
    error = refusal(utc(2026, 12, 5, 17), utc(2026, 12, 5, 17, 59))
    assert isinstance(error, BookingTooShort) and error.exit_code == ExitCode.REFUSED
    assert str(error) == "the booking lasts 59m; this resource is booked for at least 1h"
    assert error.data == {"duration": "59m", "duration_min": "1h"}


def test_exactly_the_minimum_and_the_maximum_are_accepted() -> None:
    start = utc(2026, 12, 5, 10)
    check_booking_request(STUDIO, start, start + timedelta(hours=1), NOW)
    check_booking_request(STUDIO, start, start + timedelta(hours=8), NOW)


def test_too_long() -> None:
    error = refusal(utc(2026, 12, 5, 10), utc(2026, 12, 5, 18, 1))
    assert isinstance(error, BookingTooLong) and error.code == "booking_too_long"
    assert str(error) == "the booking lasts 8h1m; this resource is booked for at most 8h"


def test_in_the_past() -> None:
    error = refusal(utc(2026, 12, 1, 11), utc(2026, 12, 1, 13))
    assert isinstance(error, BookingInPast) and error.code == "booking_in_past"
    assert str(error) == (
        "the booking starts at 2026-12-01 08:00 (America/Sao_Paulo), which is in the past "
        "(now is 2026-12-01 09:00 (America/Sao_Paulo))"
    )


def test_inside_the_lead_time() -> None:
    error = refusal(utc(2026, 12, 2, 9), utc(2026, 12, 2, 11))
    assert isinstance(error, BookingInsideLeadTime) and error.code == "booking_inside_lead_time"
    assert str(error) == (
        "this resource is booked at least 1d ahead; 2026-12-02 06:00 (America/Sao_Paulo) "
        "is only 21h from now; the earliest start is 2026-12-02 09:00 (America/Sao_Paulo)"
    )


def test_exactly_the_lead_time_ahead_is_accepted() -> None:
    start = NOW + timedelta(hours=24)
    check_booking_request(STUDIO, start, start + timedelta(hours=2), NOW)


def test_too_far_ahead() -> None:
    start = NOW + timedelta(days=732)
    error = refusal(start, start + timedelta(hours=2))
    assert isinstance(error, BookingTooFarAhead)
    assert str(error) == (
        "the booking starts at 2028-12-02 09:00 (America/Sao_Paulo); bookings start at most "
        "731d from now"
    )


def test_the_first_failing_reason_is_reported_in_the_documented_order() -> None:
    # Too short *and* in the past: the duration is checked first.
    error = refusal(utc(2026, 11, 1, 10), utc(2026, 11, 1, 10, 30))
    assert isinstance(error, BookingTooShort)
    assert BOOKING_REQUEST_CHECKS.index("booking_too_short") < BOOKING_REQUEST_CHECKS.index(
        "booking_in_past"
    )


# -- overlaps ----------------------------------------------------------------------------


def test_touching_ranges_do_not_overlap() -> None:
    assert not iv(14, 16).overlaps(iv(16, 18))
    assert max_overlap([iv(14, 16)], iv(16, 18)) == 0
    assert max_overlap([iv(14, 16), iv(18, 20)], iv(16, 18)) == 0


def test_overlapping_ranges_count() -> None:
    assert max_overlap([iv(14, 16)], iv(15, 17)) == 1
    assert max_overlap([iv(10, 20)], iv(14, 15)) == 1


def test_overlap_is_counted_at_the_busiest_instant() -> None:
    existing = [iv(14, 16), iv(15, 17), iv(16, 18), iv(15.5, 16.5)]
    assert max_overlap(existing, iv(14, 18)) == 3  # 15:30-16:00 and 16:00-16:30
    # Two bookings that never meet count once, however many there are.
    assert max_overlap([iv(14, 15), iv(15, 16), iv(16, 17)], iv(14, 17)) == 1


def test_overlap_is_clipped_to_the_candidate() -> None:
    existing = [iv(10, 12), iv(11, 13), iv(13, 15)]
    assert max_overlap(existing, iv(12, 14)) == 1


def test_a_three_unit_resource_takes_three_and_refuses_a_fourth() -> None:
    existing = [iv(14, 16), iv(14, 16), iv(15, 18)]
    assert max_overlap(existing, iv(15, 16)) == 3
    check_availability(existing[:2], iv(15, 16), units=3, zone=SAO_PAULO, resource="rooms")
    with pytest.raises(BookingUnavailable):
        check_availability(existing, iv(15, 16), units=3, zone=SAO_PAULO, resource="rooms")
    check_availability(existing, iv(18, 19), units=3, zone=SAO_PAULO, resource="rooms")


def _minutes(interval: Interval) -> range:
    base = utc(2026, 12, 5)
    return range(
        (interval.start - base) // timedelta(minutes=1),
        (interval.end - base) // timedelta(minutes=1),
    )


intervals = st.tuples(st.integers(0, 120), st.integers(1, 60)).map(
    lambda pair: Interval(
        start=utc(2026, 12, 5) + timedelta(minutes=pair[0]),
        end=utc(2026, 12, 5) + timedelta(minutes=pair[0] + pair[1]),
    )
)


@given(existing=st.lists(intervals, max_size=12), candidate=intervals)
def test_max_overlap_matches_a_minute_by_minute_count(
    existing: list[Interval], candidate: Interval
) -> None:
    covered = [set(_minutes(interval)) for interval in existing]
    expected = max(
        (sum(minute in minutes for minutes in covered) for minute in _minutes(candidate)),
        default=0,
    )
    assert max_overlap(existing, candidate) == expected


@given(existing=st.lists(intervals, max_size=12), units=st.integers(1, 3))
def test_free_slots_match_a_minute_by_minute_count(existing: list[Interval], units: int) -> None:
    day = Interval(start=utc(2026, 12, 5), end=utc(2026, 12, 5, 4))
    covered = [set(_minutes(interval)) for interval in existing]
    expected = {
        minute for minute in _minutes(day) if sum(minute in minutes for minutes in covered) < units
    }
    slots = free_slots(existing, units=units, day_start=day.start, day_end=day.end)
    assert {minute for slot in slots for minute in _minutes(slot)} == expected
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert earlier.end < later.start  # maximal: never touching, never overlapping


# -- free slots ---------------------------------------------------------------------------


def test_free_slots_of_a_day() -> None:
    slots = free_slots(
        [iv(14, 16), iv(16, 18)], units=1, day_start=iv(0, 24).start, day_end=iv(0, 24).end
    )
    assert slots == [iv(0, 14), iv(18, 24)]


def test_free_slots_of_an_empty_day_is_the_whole_day() -> None:
    assert free_slots([], units=1, day_start=iv(8, 22).start, day_end=iv(8, 22).end) == [iv(8, 22)]


def test_free_slots_of_a_two_unit_resource() -> None:
    existing = [iv(10, 14), iv(12, 16), iv(20, 26)]
    slots = free_slots(existing, units=2, day_start=iv(0, 24).start, day_end=iv(0, 24).end)
    assert slots == [iv(0, 12), iv(14, 24)]


def test_overlapping_booking_is_refused_naming_the_free_slots_that_day() -> None:
    existing = [iv(17, 19), iv(21, 23)]  # 14:00-16:00 and 18:00-20:00 in Sao Paulo
    with pytest.raises(BookingUnavailable) as caught:
        check_availability(existing, iv(18, 20), units=1, zone=SAO_PAULO, resource="studio")
    assert caught.value.code == "booking_unavailable"
    assert str(caught.value) == (
        "studio is not free from 2026-12-05 15:00 (America/Sao_Paulo) to 2026-12-05 17:00 "
        "(America/Sao_Paulo): its only unit is booked at some time in that range; "
        "free on 2026-12-05: 00:00–14:00, 16:00–18:00, 20:00–24:00"
    )
    assert caught.value.data["free"] == {"2026-12-05": "00:00–14:00, 16:00–18:00, 20:00–24:00"}


def test_a_refusal_over_two_days_names_both_days() -> None:
    existing = [iv(0, 27)]  # 21:00 on the 4th to 00:00 on the 6th, local
    with pytest.raises(BookingUnavailable) as caught:
        check_availability(existing, iv(26, 28), units=1, zone=SAO_PAULO, resource="van")
    assert str(caught.value).endswith(
        "free on 2026-12-05: nothing; free on 2026-12-06: 00:00–24:00"
    )


def test_touching_the_end_of_a_booking_is_available() -> None:
    check_availability([iv(17, 19)], iv(19, 21), units=1, zone=SAO_PAULO, resource="studio")


def test_occupying_intervals_ignore_cancelled_and_expired_bookings() -> None:
    def view(booking_id: int, status: str) -> BookingView:
        return BookingView(
            id=booking_id,
            resource="studio",
            booker="ana",
            start=utc(2026, 12, 5, 17),
            end=utc(2026, 12, 5, 19),
            status=status,
            price=3000,
            currency="CUBO",
            scale=2,  # type: ignore[arg-type]
        )

    bookings = [view(1, "held"), view(2, "completed"), view(3, "cancelled"), view(4, "expired")]
    assert occupying_intervals(bookings) == [iv(17, 19), iv(17, 19)]


# -- local time -----------------------------------------------------------------------------


def test_a_local_time_is_read_in_the_network_zone() -> None:
    assert parse_local_datetime("2026-12-05T14:00", SAO_PAULO) == utc(2026, 12, 5, 17)
    assert parse_local_datetime("2026-12-05T14:00", "America/Cuiaba") == utc(2026, 12, 5, 18)
    assert parse_local_datetime("2026-12-05 14:00:00", SAO_PAULO) == utc(2026, 12, 5, 17)


def test_an_offset_is_taken_as_written() -> None:
    assert parse_local_datetime("2026-12-05T14:00-04:00", SAO_PAULO) == utc(2026, 12, 5, 18)
    assert parse_local_datetime("2026-12-05T14:00Z", SAO_PAULO) == utc(2026, 12, 5, 14)
    assert parse_local_datetime("2026-12-05T14:00+0100", SAO_PAULO) == utc(2026, 12, 5, 13)


def test_the_result_is_utc() -> None:
    parsed = parse_local_datetime("2026-12-05T14:00", SAO_PAULO)
    assert parsed.tzinfo is UTC


def test_a_time_in_a_spring_forward_gap_does_not_exist() -> None:
    with pytest.raises(NonexistentLocalTime) as caught:
        parse_local_datetime("2026-03-08T02:30", "America/New_York")
    assert caught.value.code == "nonexistent_local_time"
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(caught.value) == (
        "2026-03-08T02:30 does not exist in America/New_York: the clocks jump from 02:00 to "
        "03:00 that day; write a time outside that gap or give an offset"
    )


def test_the_gap_in_lisbon() -> None:
    with pytest.raises(NonexistentLocalTime) as caught:
        parse_local_datetime("2026-03-29T01:00", "Europe/Lisbon")
    assert str(caught.value) == (
        "2026-03-29T01:00 does not exist in Europe/Lisbon: the clocks jump from 01:00 to "
        "02:00 that day; write a time outside that gap or give an offset"
    )


def test_the_edges_of_the_gap_exist() -> None:
    new_york = "America/New_York"
    assert parse_local_datetime("2026-03-08T01:59", new_york) == utc(2026, 3, 8, 6, 59)
    assert parse_local_datetime("2026-03-08T03:00", new_york) == utc(2026, 3, 8, 7)
    assert parse_local_datetime("2026-03-29T00:59", "Europe/Lisbon") == utc(2026, 3, 29, 0, 59)
    assert parse_local_datetime("2026-03-29T02:00", "Europe/Lisbon") == utc(2026, 3, 29, 1)


def test_a_time_in_a_fall_back_overlap_is_ambiguous() -> None:
    with pytest.raises(AmbiguousLocalTime) as caught:
        parse_local_datetime("2026-11-01T01:30", "America/New_York")
    assert caught.value.code == "ambiguous_local_time"
    assert str(caught.value) == (
        "2026-11-01T01:30 happens twice in America/New_York because the clocks go back that "
        "day; add an offset to choose: 2026-11-01T01:30-04:00 (the first) or "
        "2026-11-01T01:30-05:00 (the second)"
    )


def test_an_ambiguous_time_with_an_offset_is_accepted() -> None:
    first = parse_local_datetime("2026-11-01T01:30-04:00", "America/New_York")
    second = parse_local_datetime("2026-11-01T01:30-05:00", "America/New_York")
    assert (first, second) == (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))


def test_lisbon_fall_back_is_ambiguous() -> None:
    with pytest.raises(AmbiguousLocalTime) as caught:
        parse_local_datetime("2026-10-25T01:00", "Europe/Lisbon")
    assert "2026-10-25T01:00+01:00 (the first) or 2026-10-25T01:00+00:00 (the second)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-12-05",
        "2026-12-05T14",
        "2026-13-05T14:00",
        "2026-02-30T14:00",
        "2026-12-05T24:00",
        "05/12/2026 14:00",
        "2026-12-05T14:00-03:00:00",
        "2026-12-05T14:00 America/Sao_Paulo",
        "２０２６-12-05T14:00",
    ],
)
def test_malformed_datetimes_are_refused(text: str) -> None:
    with pytest.raises(InvalidDateTime) as caught:
        parse_local_datetime(text, SAO_PAULO)
    assert caught.value.code == "invalid_datetime"
    assert str(caught.value) == (
        f"date and time {text!r} is not valid: write ISO 8601 such as 2026-12-05T14:00 "
        "(in the network's time zone) or 2026-12-05T14:00-03:00"
    )


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidTimeZone) as caught:
        parse_local_datetime("2026-12-05T14:00", "America/Atlantis")
    assert str(caught.value) == (
        "time zone 'America/Atlantis' is not known: use an IANA name such as America/Sao_Paulo"
    )
    with pytest.raises(InvalidTimeZone):
        time_zone("../../etc/passwd")


def test_parse_local_date() -> None:
    assert parse_local_date("2026-12-05") == date(2026, 12, 5)
    for text in ("2026-12-5", "2026-02-30", "05/12/2026", "2026-12-05T00:00", ""):
        with pytest.raises(InvalidDate) as caught:
            parse_local_date(text)
        assert str(caught.value) == (
            f"date {text!r} is not valid: write YYYY-MM-DD, e.g. 2026-12-05"
        )


def test_day_bounds_are_dst_safe() -> None:
    assert day_bounds(date(2026, 12, 5), SAO_PAULO) == Interval(
        start=utc(2026, 12, 5, 3), end=utc(2026, 12, 6, 3)
    )
    assert day_bounds(date(2026, 3, 8), "America/New_York").duration == timedelta(hours=23)
    assert day_bounds(date(2026, 11, 1), "America/New_York").duration == timedelta(hours=25)


def test_a_day_whose_midnight_was_skipped_starts_at_the_jump() -> None:
    # Brazil's DST used to start at midnight: 2018-11-04 began at 01:00 (-02:00).
    bounds = day_bounds(date(2018, 11, 4), SAO_PAULO)
    assert bounds == Interval(start=utc(2018, 11, 4, 3), end=utc(2018, 11, 5, 2))
