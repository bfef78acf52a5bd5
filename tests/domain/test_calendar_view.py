"""The week grid of a resource: the pure model, then the rich table."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rich.console import Console

from mutualcredit.domain.bookings import BookingView
from mutualcredit.domain.calendar_view import (
    WeekCell,
    build_week_grid,
    cell_text,
    hour_interval,
    render_week,
    week_containing,
)

SAO_PAULO = "America/Sao_Paulo"
MONDAY = date(2026, 12, 7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def booking(
    booking_id: int, booker: str, start: datetime, end: datetime, status: str = "held"
) -> BookingView:
    return BookingView(
        id=booking_id,
        resource="studio",
        booker=booker,
        start=start,
        end=end,
        status=status,  # type: ignore[arg-type]
        price=3000,
        currency="CUBO",
        scale=2,
    )


def test_week_containing_is_the_monday() -> None:
    assert week_containing(date(2026, 12, 10)) == MONDAY
    assert week_containing(MONDAY) == MONDAY
    assert week_containing(date(2026, 12, 13)) == MONDAY


def test_a_booking_fills_its_local_hours() -> None:
    # 14:00-16:30 local on Monday (UTC-03:00)
    bookings = [booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 19, 30))]
    grid = build_week_grid(bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=1)
    assert grid.days[0] == MONDAY and grid.days[-1] == date(2026, 12, 13)
    assert grid.hours == tuple(range(24))
    assert grid.rows[13][0] == WeekCell(state="free")
    assert grid.rows[14][0] == WeekCell(state="full", handles=("ana",), busiest=1)
    assert grid.rows[15][0] == WeekCell(state="full", handles=("ana",), busiest=1)
    assert grid.rows[16][0] == WeekCell(state="busy", handles=("ana",), busiest=1)
    assert grid.rows[17][0] == WeekCell(state="free")
    assert grid.rows[14][1] == WeekCell(state="free")


def test_touching_bookings_share_an_hour_boundary_not_an_hour() -> None:
    bookings = [
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 19)),
        booking(2, "bia", utc(2026, 12, 7, 19), utc(2026, 12, 7, 21)),
    ]
    grid = build_week_grid(bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=1)
    assert [grid.rows[hour][0].handles for hour in (14, 15, 16, 17, 18)] == [
        ("ana",),
        ("ana",),
        ("bia",),
        ("bia",),
        (),
    ]


def test_two_bookers_in_one_hour_are_both_named_in_start_order() -> None:
    bookings = [
        booking(2, "bia", utc(2026, 12, 7, 17, 30), utc(2026, 12, 7, 18)),
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 17, 30)),
    ]
    grid = build_week_grid(bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=1)
    assert grid.rows[14][0] == WeekCell(state="full", handles=("ana", "bia"), busiest=1)


def test_cancelled_and_expired_bookings_leave_the_hour_free() -> None:
    bookings = [
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 18), "cancelled"),
        booking(2, "bia", utc(2026, 12, 7, 18), utc(2026, 12, 7, 19), "expired"),
        booking(3, "caio", utc(2026, 12, 7, 19), utc(2026, 12, 7, 20), "completed"),
    ]
    grid = build_week_grid(bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=1)
    assert [grid.rows[hour][0].state for hour in (14, 15, 16)] == ["free", "free", "full"]


def test_a_multi_unit_resource_counts_units() -> None:
    bookings = [
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 19)),
        booking(2, "bia", utc(2026, 12, 7, 18), utc(2026, 12, 7, 19)),
        booking(3, "caio", utc(2026, 12, 7, 18), utc(2026, 12, 7, 18, 30)),
    ]
    grid = build_week_grid(bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=3)
    assert grid.rows[14][0] == WeekCell(state="busy", handles=("ana",), busiest=1)
    assert grid.rows[15][0] == WeekCell(state="busy", handles=("ana", "bia", "caio"), busiest=3)
    assert cell_text(grid.rows[15][0], units=3) == "3/3"
    assert cell_text(grid.rows[14][0], units=3) == "1/3"


def test_cell_text_for_one_unit() -> None:
    assert cell_text(WeekCell(state="free"), units=1) == "free"
    assert cell_text(WeekCell(state="none"), units=1) == "—"
    full = WeekCell(state="full", handles=("ana", "bia", "caio", "duda"), busiest=1)
    assert cell_text(full, units=1) == "ana, bia +2"


def test_the_hour_skipped_in_spring_does_not_exist() -> None:
    assert hour_interval(date(2026, 3, 8), 2, "America/New_York") is None
    grid = build_week_grid([], week_start_date=date(2026, 3, 2), zone="America/New_York", units=1)
    sunday = 6
    assert grid.rows[2][sunday] == WeekCell(state="none")
    assert grid.rows[1][sunday] == WeekCell(state="free")
    assert grid.rows[3][sunday] == WeekCell(state="free")


def test_the_hour_repeated_in_autumn_covers_both_occurrences() -> None:
    repeated = hour_interval(date(2026, 11, 1), 1, "America/New_York")
    assert repeated is not None
    assert (repeated.start, repeated.end) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 7))
    # A booking in the second 01:00-02:00 (EST, 06:00-07:00 UTC) shows in that row.
    bookings = [booking(1, "ana", utc(2026, 11, 1, 6), utc(2026, 11, 1, 7))]
    grid = build_week_grid(
        bookings, week_start_date=date(2026, 10, 26), zone="America/New_York", units=1
    )
    assert grid.rows[1][6] == WeekCell(state="busy", handles=("ana",), busiest=1)
    assert grid.rows[2][6] == WeekCell(state="free")


def test_render_week_draws_the_grid() -> None:
    bookings = [
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 19, 30)),
        booking(2, "bia", utc(2026, 12, 9, 18), utc(2026, 12, 9, 19)),
    ]
    table = render_week(
        "Estúdio do Cubo",
        bookings,
        week_start_date=MONDAY,
        zone=SAO_PAULO,
        units=1,
        hour_first=13,
        hour_last=18,
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(table)
    assert console.export_text() == "\n".join(
        [
            "                        Estúdio do Cubo — week of 2026-12-07 (1 unit)"
            "                        ",
            "┏━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━┓",  # noqa: E501
            "┃  hour ┃ Mon 07/12 ┃ Tue 08/12 ┃ Wed 09/12 ┃ Thu 10/12 ┃ Fri 11/12 ┃ Sat 12/12 ┃ Sun 13/12 ┃",  # noqa: E501
            "┡━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━┩",  # noqa: E501
            "│ 13:00 │   free    │   free    │   free    │   free    │   free    │   free    │   free    │",  # noqa: E501
            "│ 14:00 │    ana    │   free    │   free    │   free    │   free    │   free    │   free    │",  # noqa: E501
            "│ 15:00 │    ana    │   free    │    bia    │   free    │   free    │   free    │   free    │",  # noqa: E501
            "│ 16:00 │    ana    │   free    │   free    │   free    │   free    │   free    │   free    │",  # noqa: E501
            "│ 17:00 │   free    │   free    │   free    │   free    │   free    │   free    │   free    │",  # noqa: E501
            "└───────┴───────────┴───────────┴───────────┴───────────┴───────────┴───────────┴───────────┘",  # noqa: E501
            "         local time in America/Sao_Paulo; — marks an hour skipped by a clock change"
            "          ",
            "",
        ]
    )


def test_render_week_of_a_multi_unit_resource_shows_counts() -> None:
    bookings = [
        booking(1, "ana", utc(2026, 12, 7, 17), utc(2026, 12, 7, 18)),
        booking(2, "bia", utc(2026, 12, 7, 17), utc(2026, 12, 7, 18)),
    ]
    table = render_week(
        "Salas", bookings, week_start_date=MONDAY, zone=SAO_PAULO, units=2, hour_last=15
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "Salas — week of 2026-12-07 (2 units)" in text
    assert "│ 14:00 │    2/2    │   free    │" in text
    assert "│ 13:00 │   free    │" in text
