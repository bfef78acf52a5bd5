"""Shared infrastructure: resources, bookings paid with credit holds, calendar and .ics.

``resource add|list|show|close``, ``book``, ``bookings`` (a listing, with an
``export --ics`` subcommand), ``booking show|complete|cancel|expire`` and
``calendar``.  Times on the command line are ISO 8601, local to the network's
time zone unless they carry an offset; durations are ``30m``, ``3h``, ``2d``,
``1h30m`` or ISO 8601 (``PT3H``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from mutualcredit.domain.ids import ID_MAX
from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

if TYPE_CHECKING:
    from datetime import timedelta

    from mutualcredit.services.bookings import Booking
    from mutualcredit.services.context import Ledger

resource_app = typer.Typer(
    help="Shared resources: studios, backline, vans, rooms.", no_args_is_help=True
)
booking_app = typer.Typer(
    help="One booking: show, complete, cancel; expire old holds.", no_args_is_help=True
)
bookings_app = typer.Typer(
    help="List bookings, or export them (bookings export --ics).", invoke_without_command=True
)

RESOURCE_ARGUMENT = typer.Argument(..., metavar="RESOURCE", help="The resource's slug.")


def register(app: typer.Typer) -> None:
    app.add_typer(resource_app, name="resource")
    app.command("book")(book)
    app.add_typer(bookings_app, name="bookings")
    app.add_typer(booking_app, name="booking")
    app.command("calendar")(calendar)


# -- parsing -------------------------------------------------------------------------------------


def _duration(text: str | None, option: str, *, allow_zero: bool = False) -> timedelta | None:
    if text is None:
        return None
    from mutualcredit.domain.durations import parse_duration
    from mutualcredit.domain.errors import InvalidDuration

    try:
        return parse_duration(text, allow_zero=allow_zero)
    except InvalidDuration as error:
        raise InvalidDuration(f"{option}: {error.message}") from None


def _percent(text: str | None) -> int:
    if text is None:
        return 0
    from mutualcredit.domain.errors import UsageError

    cleaned = text.strip().removesuffix("%")
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 3 or int(cleaned) > 100:
        raise UsageError(
            f"--cancel-fee {text!r} is not valid: write a whole percentage from 0 to 100, e.g. 30",
            code="invalid_percent",
        )
    return int(cleaned)


def _local_date(text: str | None, option: str):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    from mutualcredit.domain.bookings import parse_local_date
    from mutualcredit.domain.errors import InvalidDate

    try:
        return parse_local_date(text)
    except InvalidDate as error:
        raise InvalidDate(f"{option}: {error.message}") from None


def _datetime(text: str, option: str, zone: str):  # type: ignore[no-untyped-def]
    from mutualcredit.domain.bookings import InvalidDateTime, parse_local_datetime

    try:
        return parse_local_datetime(text, zone)
    except InvalidDateTime as error:
        raise type(error)(f"{option}: {error.message}", **error.data) from None


# -- resources -----------------------------------------------------------------------------------


@resource_app.command("add")
def resource_add(
    slug: str = typer.Argument(..., help="Slug, unique in the network (e.g. studio)."),
    collective: str = typer.Option(..., "--collective", help="The collective that owns it."),
    name: str = typer.Option(..., "--name", help="Display name."),
    price: str = typer.Option(..., "--price", help="Price in the collective's currency."),
    per: str = typer.Option(..., "--per", help="The price is per 'hour' or per 'day'."),
    units: int = typer.Option(1, "--units", help="How many can be booked at once."),
    duration_min: str | None = typer.Option(
        None,
        "--min",  # noqa: UP007
        help="Shortest booking (default: no minimum).",
    ),
    duration_max: str | None = typer.Option(
        None,
        "--max",  # noqa: UP007
        help="Longest booking (default: no maximum).",
    ),
    lead: str | None = typer.Option(
        None,
        "--lead",  # noqa: UP007
        help="How long ahead a booking must be made (default 0).",
    ),
    cancel_window: str | None = typer.Option(  # noqa: UP007
        None, "--cancel-window", help="Cancelling closer than this to the start costs a fee."
    ),
    cancel_fee: str | None = typer.Option(
        None,
        "--cancel-fee",  # noqa: UP007
        help="The fee, a percentage of the price (0-100).",
    ),
    grace: str = typer.Option("7d", "--grace", help="Holds expire this long after the end."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Register a collective's resource, with its own account (coordinator or admin)."""
    from datetime import timedelta

    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.domain.bookings import ResourceRules
    from mutualcredit.domain.errors import UsageError
    from mutualcredit.domain.names import validate_handle
    from mutualcredit.services import bookings

    validate_handle(slug, what="resource slug")
    if (cancel_window is None) != (cancel_fee is None):
        raise UsageError(
            "--cancel-window and --cancel-fee go together: give both or neither", code="usage"
        )
    zero = timedelta(0)
    window = _duration(cancel_window, "--cancel-window", allow_zero=True) or zero
    lead_time = _duration(lead, "--lead", allow_zero=True) or zero
    grace_time = _duration(grace, "--grace", allow_zero=True) or zero
    shortest = _duration(duration_min, "--min")
    longest = _duration(duration_max, "--max")
    percent = _percent(cancel_fee)
    ledger = common.open_ledger()
    currency = bookings.collective_currency(ledger, collective)
    rules = ResourceRules(
        price=parse_amount(price, scale=currency.scale),
        per=per,  # type: ignore[arg-type]
        units=units,
        duration_min=shortest,
        duration_max=longest,
        lead=lead_time,
        cancel_window=window,
        cancel_fee_percent=percent,
        grace=grace_time,
    )
    added = bookings.add_resource(
        ledger,
        common.acting_signer(ledger),
        slug=slug,
        collective=collective,
        name=name,
        rules=rules,
    )
    document = bookings.resource_document(added)
    if json_output:
        common.print_json(document)
        return
    units_text = "1 unit" if added.rules.units == 1 else f"{added.rules.units} units"
    typer.echo(
        f"resource {slug} of {collective}: {document['price']} {document['currency']} "
        f"per {per}, {units_text}; account {added.account}"
    )


@resource_app.command("list")
def resource_list(
    collective: str | None = typer.Option(
        None,
        "--collective",  # noqa: UP007
        help="Only this collective's resources.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the resources of the network."""
    from mutualcredit.services import bookings

    rows = [
        bookings.resource_document(r)
        for r in bookings.list_resources(common.open_ledger(), collective=collective)
    ]
    if json_output:
        common.print_json(rows)
        return
    grid = common.table("resource", "collective", "name", "price", "per", "units", "status")
    for row in rows:
        grid.add_row(
            row["slug"],
            row["collective"],
            common.text(row["name"]),
            f"{row['price']} {row['currency']}",
            row["per"],
            str(row["units"]),
            row["status"],
        )
    common.console().print(grid)


@resource_app.command("show")
def resource_show(slug: str = RESOURCE_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Show a resource and its booking rules."""
    from mutualcredit.services import bookings

    document = bookings.resource_document(bookings.get_resource(common.open_ledger(), slug))
    if json_output:
        common.print_json(document)
        return
    _show_resource(document)


def _show_resource(document: dict[str, Any]) -> None:
    grid = common.table("field", "value", title=f"resource {document['slug']}")
    for label, value in (
        ("name", document["name"]),
        ("collective", document["collective"]),
        ("account", document["account"]),
        ("price", f"{document['price']} {document['currency']} per {document['per']}"),
        ("units", document["units"]),
        ("minimum", document["min"] or "none"),
        ("maximum", document["max"] or "none"),
        ("lead time", document["lead"]),
        (
            "cancellation",
            f"{document['cancel_fee_percent']}% inside {document['cancel_window']} of the start"
            if document["cancel_window"] != "0m"
            else "free until the start",
        ),
        ("grace", document["grace"]),
        ("status", document["status"]),
    ):
        grid.add_row(label, common.text(value))
    common.console().print(grid)


@resource_app.command("close")
def resource_close(slug: str = RESOURCE_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Close a resource to new bookings (only with no bookings held ahead)."""
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    closed = bookings.close_resource(ledger, common.acting_signer(ledger), slug=slug)
    if json_output:
        common.print_json(bookings.resource_document(closed))
        return
    typer.echo(f"resource {slug} is closed to new bookings")


# -- booking -------------------------------------------------------------------------------------


def book(
    resource: str = RESOURCE_ARGUMENT,
    booker: str = typer.Option(..., "--by", help="Who books (and signs) it."),
    start: str = typer.Option(..., "--from", help="Start, e.g. 2026-12-05T14:00 (local)."),
    end: str | None = typer.Option(None, "--to", help="End, e.g. 2026-12-05T17:00."),  # noqa: UP007
    duration: str | None = typer.Option(None, "--for", help="Or a duration, e.g. 3h."),  # noqa: UP007
    memo: str = typer.Option("", "--memo", help="What it is for."),
    weekly: int = typer.Option(
        1, "--weekly", metavar="N", help="The same slot N weeks in a row: all of them or none."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Book a resource: its price is held from the booker's available credit."""
    from mutualcredit.domain.errors import UsageError
    from mutualcredit.services import bookings
    from mutualcredit.services.payments import resolve_account
    from mutualcredit.services.queries import balance

    if (end is None) == (duration is None):
        raise UsageError(
            "give the end of the booking with --to or its length with --for (one of them)",
            code="usage",
        )
    ledger = common.open_ledger()
    zone = ledger.network.timezone
    first = _datetime(start, "--from", zone)
    if end is not None:
        last = _datetime(end, "--to", zone)
    else:
        length = _duration(duration, "--for")
        assert length is not None
        last = first + length
    # Name an unknown resource or member before asking for a passphrase.
    bookings.get_resource(ledger, resource)
    resolve_account(ledger, booker)
    slots = bookings.weekly_slots(first, last, weekly, zone)
    signer = common.signer_for(ledger, booker)
    series = bookings.book_many(
        ledger, signer, resource=resource, booker=booker, slots=slots, memo=memo
    )
    if json_output:
        documents = [bookings.booking_document(ledger, made) for made in series]
        common.print_json(documents[0] if weekly == 1 else documents)
        return
    account = balance(ledger, booker)
    for made in series:
        price = f"{bookings.booking_document(ledger, made)['price']} {made.resource.currency}"
        typer.echo(
            f"booking {made.id}: {resource} for {booker}, "
            f"{bookings.range_text(ledger, made.start, made.end)} ({zone}); {price} held "
            f"from {booker}'s available credit (transfer {made.hold_id})"
        )
    typer.echo(
        f"{booker}: balance {account['balance']} {account['currency']} (unchanged), "
        f"available {account['available'] or 'unlimited'} {account['currency']}"
    )


def _booking_rows(ledger: Ledger, made: list[Booking]) -> None:
    from mutualcredit.services import bookings

    grid = common.table(
        "id",
        "resource",
        "by",
        "when",
        "status",
        "price",
        title=f"bookings (local time, {ledger.network.timezone})",
    )
    for booking in made:
        document = bookings.booking_document(ledger, booking)
        grid.add_row(
            str(booking.id),
            booking.resource.slug,
            booking.booker,
            bookings.range_text(ledger, booking.start, booking.end),
            booking.status,
            f"{document['price']} {booking.resource.currency}",
        )
    common.console().print(grid)


@bookings_app.callback()
def bookings_list(
    context: typer.Context,
    resource: str | None = typer.Option(None, "--resource", help="Only this resource."),  # noqa: UP007
    booker: str | None = typer.Option(None, "--by", help="Only this member's."),  # noqa: UP007
    first: str | None = typer.Option(None, "--from", help="First local day (YYYY-MM-DD)."),  # noqa: UP007
    last: str | None = typer.Option(None, "--to", help="Last local day, included."),  # noqa: UP007
    status: str | None = typer.Option(
        None,
        "--status",  # noqa: UP007
        help="held, completed, cancelled or expired.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List bookings by start; `bookings export --ics` writes them as iCalendar."""
    if context.invoked_subcommand is not None:
        return
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    found = bookings.list_bookings(
        ledger,
        resource=resource,
        booker=booker,
        first=_local_date(first, "--from"),
        last=_local_date(last, "--to"),
        status=status,
    )
    if json_output:
        common.print_json([bookings.booking_document(ledger, b) for b in found])
        return
    _booking_rows(ledger, found)


@bookings_app.command("export")
def bookings_export(
    ics: bool = typer.Option(False, "--ics", help="iCalendar (RFC 5545), on stdout."),
    resource: str | None = typer.Option(None, "--resource", help="Only this resource."),  # noqa: UP007
) -> None:
    """Write every booking as one iCalendar feed on stdout (one VEVENT per booking)."""
    import sys

    from mutualcredit.domain.errors import UsageError
    from mutualcredit.services import bookings

    if not ics:
        raise UsageError("choose the export format: --ics", code="usage")
    data = bookings.export_ics(common.open_ledger(), resource=resource)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@booking_app.command("show")
def booking_show(
    booking_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show one booking."""
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    found = bookings.get_booking(ledger, booking_id)
    if json_output:
        common.print_json(bookings.booking_document(ledger, found))
        return
    _booking_rows(ledger, [found])


@booking_app.command("complete")
def booking_complete(
    booking_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    amount: str | None = typer.Option(
        None,
        "--amount",  # noqa: UP007
        help="Post less than was held (the rest is released).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """After the start: post the hold, or a smaller amount (coordinator or admin)."""
    from mutualcredit.domain.amounts import format_amount, parse_amount
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    found = bookings.get_booking(ledger, booking_id)
    minor = None if amount is None else parse_amount(amount, scale=found.resource.scale)
    done = bookings.complete_booking(
        ledger, common.acting_signer(ledger), booking_id=booking_id, amount=minor
    )
    if json_output:
        common.print_json(bookings.booking_document(ledger, done))
        return
    assert done.charged is not None
    currency, scale = done.resource.currency, done.resource.scale
    released = done.price - done.charged
    rest = f"; {format_amount(released, scale)} {currency} released" if released else ""
    typer.echo(
        f"booking {done.id} completed: {format_amount(done.charged, scale)} {currency} "
        f"posted to {done.resource.account} (transfer {done.resolution_id}){rest}"
    )


@booking_app.command("cancel")
def booking_cancel(
    booking_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    waive_fee: bool = typer.Option(
        False, "--waive-fee", help="No fee inside the window (coordinator or admin)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Before the start: free the slot (void the hold; inside the window, post the fee)."""
    from mutualcredit.domain.amounts import format_amount
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    done = bookings.cancel_booking(
        ledger, common.acting_signer(ledger), booking_id=booking_id, waive_fee=waive_fee
    )
    if json_output:
        common.print_json(bookings.booking_document(ledger, done))
        return
    currency, scale = done.resource.currency, done.resource.scale
    if not done.charged:
        typer.echo(
            f"booking {done.id} cancelled: hold voided, {format_amount(done.price, scale)}"
            f" {currency} released (transfer {done.resolution_id})"
        )
        return
    typer.echo(
        f"booking {done.id} cancelled inside the cancellation window: fee "
        f"{format_amount(done.charged, scale)} {currency} posted to "
        f"{done.resource.account}, {format_amount(done.price - done.charged, scale)} "
        f"{currency} released (transfer {done.resolution_id})"
    )


@booking_app.command("expire")
def booking_expire(json_output: bool = JSON_OPTION) -> None:
    """Expire the holds of bookings neither completed nor cancelled by end + grace."""
    from mutualcredit.services import bookings

    ledger = common.open_ledger()
    done = bookings.expire_bookings(ledger, common.acting_signer(ledger))
    if json_output:
        common.print_json([bookings.booking_document(ledger, b) for b in done])
        return
    if not done:
        typer.echo("no bookings to expire")
        return
    plural = "booking" if len(done) == 1 else "bookings"
    typer.echo(f"expired {len(done)} {plural}: " + ", ".join(str(b.id) for b in done))


# -- calendar ------------------------------------------------------------------------------------

HOUR_FIRST_DEFAULT = 8  # the grid shows 08:00-24:00 unless bookings fall earlier
HOURS_PER_DAY = 24


def calendar(
    resource: str = RESOURCE_ARGUMENT,
    week: str | None = typer.Option(
        None,
        "--week",  # noqa: UP007
        help="Any day of the week to show (default: this week).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """A week of a resource as a grid: free hours, and who holds the others."""
    from mutualcredit.domain.bookings import time_zone
    from mutualcredit.domain.calendar_view import build_week_grid, render_week, week_containing
    from mutualcredit.services import bookings
    from mutualcredit.services.clock import now

    ledger = common.open_ledger()
    zone = ledger.network.timezone
    day = _local_date(week, "--week") or now().astimezone(time_zone(zone)).date()
    monday = week_containing(day)
    found, shown = bookings.week_bookings(ledger, resource, monday)
    views = [bookings.booking_view(b) for b in bookings.occupying(shown)]
    earliest = min(
        [HOUR_FIRST_DEFAULT]
        + [max(v.start, _week_start(monday, zone)).astimezone(time_zone(zone)).hour for v in views]
    )
    if json_output:
        grid = build_week_grid(
            views,
            week_start_date=monday,
            zone=zone,
            units=found.rules.units,
            hour_first=earliest,
            hour_last=HOURS_PER_DAY,
        )
        common.print_json(_calendar_document(found.slug, monday, zone, grid, shown, ledger))
        return
    common.console().print(
        render_week(
            found.name,
            views,
            week_start_date=monday,
            zone=zone,
            units=found.rules.units,
            hour_first=earliest,
            hour_last=HOURS_PER_DAY,
        )
    )


def _week_start(monday, zone: str):  # type: ignore[no-untyped-def]
    from mutualcredit.domain.bookings import day_bounds

    return day_bounds(monday, zone).start


def _calendar_document(slug: str, monday, zone: str, grid, shown, ledger) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from mutualcredit.services import bookings

    return {
        "resource": slug,
        "week": monday.isoformat(),
        "zone": zone,
        "units": grid.units,
        "days": [day.isoformat() for day in grid.days],
        "rows": [
            {
                "hour": f"{hour:02d}:00",
                "cells": [
                    {"state": cell.state, "by": list(cell.handles), "busiest": cell.busiest}
                    for cell in row
                ],
            }
            for hour, row in zip(grid.hours, grid.rows, strict=True)
        ],
        "bookings": [bookings.booking_document(ledger, b) for b in shown],
    }
