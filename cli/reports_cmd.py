"""Settlement reports, settling positions between collectives, and exports.

``report settlement`` (table, CSV, JSON or a self-contained HTML page),
``settle`` (an admin nets the positions of a period in one atomic step) and
``export hledger|beancount|csv`` (streamed journals for plain-text
accounting).  Periods are ``--period YYYY-MM`` or ``--from DATE --to DATE``,
days in the network's time zone, both included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO, cast

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

if TYPE_CHECKING:
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.reports import Period

REPORT_FORMATS = ("table", "csv", "json", "html")
EXPORT_FORMATS = ("hledger", "beancount", "csv")

PERIOD_OPTION = typer.Option(None, "--period", help="A month, e.g. 2026-11.")
FROM_OPTION = typer.Option(None, "--from", help="First day (YYYY-MM-DD), included.")
TO_OPTION = typer.Option(None, "--to", help="Last day (YYYY-MM-DD), included.")
OUT_OPTION = typer.Option(None, "--out", help="Write to this file instead of stdout.")


def register(app: typer.Typer) -> None:
    _report_group(app).command("settlement")(report_settlement)
    app.command("settle")(settle)
    app.command("export")(export)


def _report_group(app: typer.Typer) -> typer.Typer:
    """The ``report`` group, shared with other features' reports (e.g. ``report income``).

    Whichever feature registers first creates it; the others add their commands to it.
    """
    for info in app.registered_groups:
        if info.name == "report" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Reports: settlement (and others).", no_args_is_help=True)
    app.add_typer(group, name="report")
    return group


# -- output ----------------------------------------------------------------------------------


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    """Stdout, or ``path`` (see :mod:`mutualcredit.services.output_files`).

    A regular file is written whole or not at all (a temporary file, then
    renamed); a FIFO or device is written into; a symlink or directory is refused.
    """
    import sys

    if path is None:
        yield sys.stdout
        return
    from mutualcredit.services.output_files import open_output

    with open_output(path) as handle:
        yield cast(TextIO, handle)


def _period(ledger: Ledger, period: str | None, first: str | None, last: str | None) -> Period:
    from mutualcredit.services.reports import parse_period

    return parse_period(ledger, period=period, first=first, last=last)


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        from mutualcredit.domain.errors import UsageError

        raise UsageError(
            f"{option} {value!r} is not one of {', '.join(choices)}", code="invalid_format"
        )
    return value


# -- report settlement -----------------------------------------------------------------------


def report_settlement(
    period: str | None = PERIOD_OPTION,  # noqa: UP007
    first: str | None = FROM_OPTION,  # noqa: UP007
    last: str | None = TO_OPTION,  # noqa: UP007
    collective: str | None = typer.Option(  # noqa: UP007
        None, "--collective", help="Only this collective's members, resources and income."
    ),
    format: str = typer.Option("table", "--format", help="table, csv, json or html."),
    out: str | None = OUT_OPTION,  # noqa: UP007
    threshold: int = typer.Option(
        80,
        "--threshold",
        help="Members using this percentage of their line or more are near their limit.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Balances, turnover and hours per member and collective; positions and how to net them."""
    from mutualcredit.services import reports

    chosen = "json" if json_output else _choice(format, REPORT_FORMATS, "--format")
    ledger = common.open_ledger()
    span = _period(ledger, period, first, last)
    with output(out) as handle:
        document = reports.settlement_report(
            ledger, span, collective=collective, threshold=threshold
        )
        if chosen == "json":
            handle.write(reports.report_json(document))
        elif chosen == "csv":
            reports.write_report_csv(document, handle)
        elif chosen == "html":
            handle.write(reports.report_html(ledger, document))
        else:
            _report_tables(document, handle)
    if out is not None and not json_output:
        typer.echo(
            f"wrote the settlement report for {span.first} to {span.last} to {out}", err=True
        )


NUMBER_COLUMNS = {
    "opening",
    "in",
    "out",
    "closing",
    "turnover",
    "exchanges",
    "hours",
    "limit",
    "use %",
    "members",
    "fund",
    "position",
    "amount",
    "circulation",
    "velocity",
    "bookings",
}


def _table(*columns: str, title: str | None = None):  # type: ignore[no-untyped-def]
    from rich.table import Table

    grid = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(
            column, justify="right" if column in NUMBER_COLUMNS else "left", overflow="fold"
        )
    return grid


def _report_tables(document: dict[str, Any], handle: TextIO) -> None:
    out = common.console(handle)
    text = common.text
    period = document["period"]
    scope = f" ({document['collective']})" if document["collective"] else ""
    out.print(
        text(
            f"settlement report {document['network']}{scope}: {period['first']} to "
            f"{period['last']} ({document['timezone']})"
        )
    )
    members = _table(
        "member",
        "collective",
        "currency",
        "opening",
        "in",
        "out",
        "closing",
        "turnover",
        "exchanges",
        "hours",
        "limit",
        "use %",
        "status",
        title="members",
    )
    for row in document["members"]:
        members.add_row(
            text(row["handle"]),
            text(row["collective"]),
            row["currency"],
            row["opening"],
            row["in"],
            row["out"],
            row["closing"],
            row["turnover"],
            str(row["exchanges"]),
            row["hours"],
            row["limit_lower"] or "-",
            row["limit_use"] or "-",
            row["status"].replace("_", " "),
        )
    out.print(members)
    collectives = _table(
        "collective",
        "currency",
        "members",
        "opening",
        "in",
        "out",
        "closing",
        "turnover",
        "exchanges",
        "hours",
        "fund",
        "position",
        title="collectives",
    )
    for row in document["collectives"]:
        collectives.add_row(
            text(row["slug"]),
            row["currency"],
            str(row["members"]),
            row["opening"],
            row["in"],
            row["out"],
            row["closing"],
            row["turnover"],
            str(row["exchanges"]),
            row["hours"],
            row["fund"],
            row["position"],
        )
    out.print(collectives)
    positions = _table(
        "collective",
        "position",
        title=f"positions ({document['currency']}; negative owes the network)",
    )
    for row in document["positions"]:
        positions.add_row(text(row["collective"]), row["position"])
    out.print(positions)
    netting = _table("pays", "receives", "amount", title="netting")
    for row in document["netting"]:
        netting.add_row(text(row["from"]), text(row["to"]), row["amount"])
    out.print(netting)
    circulation = _table(
        "currency", "circulation", "turnover", "velocity", title="money in circulation"
    )
    for row in document["circulation"]:
        circulation.add_row(
            row["currency"], row["circulation"], row["turnover"], row["velocity"] or "-"
        )
    out.print(circulation)
    _report_tail(out, document)


def _report_tail(out: Any, document: dict[str, Any]) -> None:
    text = common.text
    near = ", ".join(
        f"{row['handle']} {row['limit_use'] or '-'}% ({row['status']})"
        for row in document["limits"]
    )
    out.print(text(f"at or past {document['threshold']}% of their limit: {near or 'nobody'}"))
    inactive = ", ".join(document["inactive_members"])
    out.print(text(f"inactive members: {inactive or 'none'}"))
    income = document["income"]
    if income["accounts"] or income["issued"] or income["import_batches"]:
        grid = _table(
            "account",
            "currency",
            "amount",
            title=f"festival income and cards issued ({income['import_batches']} import batches)",
        )
        for row in income["accounts"]:
            grid.add_row(text(row["account"]), row["currency"], row["earned"])
        for row in income["issued"]:
            grid.add_row(text(f"issued by {row['collective']}"), row["currency"], row["amount"])
        out.print(grid)
    if document["resources"]:
        grid = _table(
            "resource", "collective", "currency", "amount", "bookings", title="revenue per resource"
        )
        for row in document["resources"]:
            completed = row["bookings_completed"]
            grid.add_row(
                text(row["name"] or row["resource"]),
                text(row["collective"]),
                row["currency"],
                row["revenue"],
                "-" if completed is None else str(completed),
            )
        out.print(grid)
    for row in document["settlements"]:
        out.print(
            text(
                f"settled: {row['first']} to {row['last']} at {row['settled_at']} by "
                f"{row['settled_by']} ({row['transfers']} transfers, {row['total']})"
            )
        )


# -- settle ----------------------------------------------------------------------------------


def settle(
    period: str | None = PERIOD_OPTION,  # noqa: UP007
    first: str | None = FROM_OPTION,  # noqa: UP007
    last: str | None = TO_OPTION,  # noqa: UP007
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the transfers; post nothing."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Net the positions between collectives at the end of a period (an admin; atomic)."""
    from mutualcredit.services.settlement import settle as settle_service

    ledger = common.open_ledger()
    span = _period(ledger, period, first, last)
    document = settle_service(ledger, common.acting_signer(ledger), span, dry_run=dry_run)
    if json_output:
        common.print_json(document)
        return
    out = common.console()
    verb = "would settle" if dry_run else f"settlement {document['id']}: settled"
    count = len(document["transfers"])
    out.print(
        common.text(
            f"{verb} {span.first} to {span.last} with {count} transfer{'' if count == 1 else 's'}"
        )
    )
    grid = _table("transfer", "pays", "receives", "amount")
    for row in document["transfers"]:
        grid.add_row(
            "-" if row["id"] is None else str(row["id"]),
            common.text(row["from"]),
            common.text(row["to"]),
            f"{row['amount']} {row['currency']}",
        )
    if count:
        out.print(grid)


# -- export ----------------------------------------------------------------------------------


def export(
    format: str = typer.Argument(..., metavar="hledger|beancount|csv", help="The journal format."),
    first: str | None = FROM_OPTION,  # noqa: UP007
    last: str | None = TO_OPTION,  # noqa: UP007
    out: str | None = OUT_OPTION,  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Export posted transfers (streamed) with ids, memos and hours as metadata."""
    from mutualcredit.services.exports import export as export_service
    from mutualcredit.services.reports import parse_date

    _choice(format, EXPORT_FORMATS, "format")
    if json_output and out is None:
        from mutualcredit.domain.errors import UsageError

        raise UsageError(
            "--json prints a summary and needs --out for the export itself", code="usage"
        )
    ledger = common.open_ledger()
    start = None if first is None else parse_date(first, "--from")
    end = None if last is None else parse_date(last, "--to")
    with output(out) as handle:
        summary = export_service(ledger, format, handle, first=start, last=end)
    document = {
        "id": out,
        "format": format,
        "out": out,
        "transfers": summary.transfers,
        "postings": summary.postings,
        "first": summary.first,
        "last": summary.last,
    }
    if json_output:
        common.print_json(document)
    elif out is not None:
        typer.echo(f"exported {summary.transfers} transfers to {out} ({format})", err=True)
