"""A week of a resource at a glance: which hours are free and who holds the rest.

``mutualcredit calendar RESOURCE --week DATE`` shows seven local days as
columns and the hours of the day as rows.  The grid is built in two steps so
that the interesting part can be tested without a terminal:

1. :func:`build_week_grid` (pure) turns bookings into a :class:`WeekGrid` of
   :class:`WeekCell` values, one per local hour of each day;
2. :func:`render_week` draws that grid as a :class:`rich.table.Table`.

Each cell is the local hour ``[h:00, h+1:00)`` of its day, converted to UTC
with ``fold=0``.  That single rule makes clock changes come out right: the
hour skipped by a spring-forward gap becomes an empty range and is shown as
not existing (``—``); the hour repeated by a fall-back covers both of its
occurrences (two real hours).  Only held and completed bookings take a unit;
cancelled and expired ones leave their hours free.

A cell is *free* when nothing overlaps it, *full* when no unit is free at any
instant of it, and *busy* in between (booked for part of the hour, or on some
but not all units).  Single-unit resources show who booked the hour;
multi-unit resources show how many units are taken at the busiest instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from rich.table import Table
from rich.text import Text

from mutualcredit.domain.bookings import (
    BookingView,
    Interval,
    free_slots,
    max_overlap,
    time_zone,
)

DAYS_PER_WEEK = 7
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # fixed, not the locale's
HANDLES_PER_CELL_MAX = 2  # more bookers in one hour are summarised as "+N"
CellState = Literal["none", "free", "busy", "full"]
_STYLES: dict[CellState, str] = {
    "none": "dim",
    "free": "green dim",
    "busy": "yellow",
    "full": "bold red",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekCell:
    """One local hour of one day."""

    state: CellState
    handles: tuple[str, ...] = ()  # bookers overlapping the hour, by booking start
    busiest: int = 0  # bookings at the busiest instant of the hour


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekGrid:
    """Seven days by a range of hours; ``rows[i][j]`` is hour ``hours[i]`` of ``days[j]``."""

    days: tuple[date, ...]
    hours: tuple[int, ...]
    rows: tuple[tuple[WeekCell, ...], ...]
    units: int
    zone: str


def week_containing(day: date) -> date:
    """The Monday that starts the week containing ``day``."""
    return day - timedelta(days=day.weekday())


def hour_interval(day: date, hour: int, zone: str) -> Interval | None:
    """The UTC range of local hour ``hour`` of ``day``; None if the clocks skip it."""
    assert 0 <= hour <= 23, hour
    tz = time_zone(zone)
    start = datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
    if hour == 23:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    else:
        end = datetime.combine(day, time(hour + 1), tzinfo=tz).astimezone(UTC)
    return Interval(start=start, end=end) if start < end else None


def build_cell(bookings: Sequence[BookingView], cell: Interval | None, *, units: int) -> WeekCell:
    """The state of one hour given the occupying ``bookings`` of the resource."""
    if cell is None:
        return WeekCell(state="none")
    overlapping = sorted(
        (booking for booking in bookings if booking.interval.overlaps(cell)),
        key=lambda booking: (booking.start, booking.id),
    )
    if not overlapping:
        return WeekCell(state="free")
    intervals = [booking.interval for booking in overlapping]
    full = not free_slots(intervals, units=units, day_start=cell.start, day_end=cell.end)
    handles = tuple(dict.fromkeys(booking.booker for booking in overlapping))
    return WeekCell(
        state="full" if full else "busy",
        handles=handles,
        busiest=max_overlap(intervals, cell),
    )


def build_week_grid(
    bookings: Sequence[BookingView],
    *,
    week_start_date: date,
    zone: str,
    units: int,
    hour_first: int = 0,
    hour_last: int = 24,
) -> WeekGrid:
    """The grid of the seven days from ``week_start_date``, hours ``hour_first..hour_last-1``.

    ``bookings`` are the bookings of one resource; those that no longer take a
    unit (cancelled, expired) are ignored.
    """
    assert 0 <= hour_first < hour_last <= 24, (hour_first, hour_last)
    assert units >= 1, units
    occupying = [booking for booking in bookings if booking.occupies]
    days = tuple(week_start_date + timedelta(days=offset) for offset in range(DAYS_PER_WEEK))
    hours = tuple(range(hour_first, hour_last))
    rows = tuple(
        tuple(build_cell(occupying, hour_interval(day, hour, zone), units=units) for day in days)
        for hour in hours
    )
    return WeekGrid(days=days, hours=hours, rows=rows, units=units, zone=zone)


def cell_text(cell: WeekCell, *, units: int) -> str:
    """What a cell shows: ``free``, the bookers (one unit) or ``taken/units`` (several)."""
    if cell.state == "none":
        return "—"
    if cell.state == "free":
        return "free"
    if units > 1:
        return f"{cell.busiest}/{units}"
    shown = list(cell.handles[:HANDLES_PER_CELL_MAX])
    hidden = len(cell.handles) - len(shown)
    return ", ".join(shown) + (f" +{hidden}" if hidden else "")


def render_week(
    resource_name: str,
    bookings: Sequence[BookingView],
    *,
    week_start_date: date,
    zone: str,
    units: int,
    hour_first: int = 0,
    hour_last: int = 24,
) -> Table:
    """A rich table of the week: days as columns, local hours as rows."""
    grid = build_week_grid(
        bookings,
        week_start_date=week_start_date,
        zone=zone,
        units=units,
        hour_first=hour_first,
        hour_last=hour_last,
    )
    units_text = "1 unit" if units == 1 else f"{units} units"
    table = Table(
        title=f"{resource_name} — week of {week_start_date.isoformat()} ({units_text})",
        caption=f"local time in {zone}; — marks an hour skipped by a clock change",
    )
    table.add_column("hour", justify="right", style="bold")
    for day in grid.days:
        table.add_column(f"{DAY_NAMES[day.weekday()]} {day:%d/%m}", justify="center")
    for hour, row in zip(grid.hours, grid.rows, strict=True):
        table.add_row(
            f"{hour:02d}:00",
            *(Text(cell_text(cell, units=units), style=_STYLES[cell.state]) for cell in row),
        )
    return table
