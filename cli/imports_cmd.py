"""``mutualcredit import`` (festival income) and ``mutualcredit report income``.

``import FILE --rules RULES [--dry-run] [--skip-invalid --rejects FILE] [--json]``
validates the whole file, then posts it in signed batches, exactly once per
source and external id (see :mod:`mutualcredit.imports.service`).  Problems go
to stderr as ``FILE:LINE:COLUMN: message``; with ``--json`` stdout carries only
the summary (``schemas/import-summary.schema.json``), also when the file is
refused.  Exit codes: 0 imported (or nothing new), 1 problems or conflicts
(nothing written), 2 a bad rules file or options, 4 a missing account.
Files larger than ``MUTUALCREDIT_IMPORT_SIZE_LIMIT`` bytes (default 1 GiB) are
refused before they are read.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

if TYPE_CHECKING:
    from mutualcredit.imports.service import ImportSummary
    from mutualcredit.services.context import Ledger

PROBLEMS_SHOWN_MAX = 100  # on a terminal; the JSON summary lists up to 1000


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    _report_group(app).command("income")(report_income)


def _report_group(app: typer.Typer) -> typer.Typer:
    """The shared ``report`` group: found if another feature made it, else made here."""
    for group in app.registered_groups:
        if group.name == "report" and group.typer_instance is not None:
            return group.typer_instance
    made = typer.Typer(help="Reports: settlement, income.", no_args_is_help=True)
    app.add_typer(made, name="report")
    return made


def import_command(
    file: str = typer.Argument(..., help="The export: CSV, JSON Lines or a JSON array."),
    rules: str = typer.Option(..., "--rules", help="The rules file (TOML) for this source."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; write nothing."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good rows; copy bad rows to --rejects."
    ),
    rejects: str | None = typer.Option(  # noqa: UP007 - Typer needs Optional on 3.11
        None, "--rejects", help="Where --skip-invalid copies bad rows, verbatim."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Import festival income (tickets, bar sales) from an export, exactly once per row."""
    from mutualcredit.domain.errors import UsageError
    from mutualcredit.imports.service import ImportRefused, import_file

    if skip_invalid != (rejects is not None):
        raise UsageError(
            "--skip-invalid and --rejects go together: bad rows are copied to the rejects file",
            code="usage",
        )
    size_limit = _size_limit()
    ledger = common.open_ledger()
    signer = common.acting_signer(ledger)
    with _progress(enabled=not json_output and sys.stderr.isatty()) as progress:
        try:
            summary = import_file(
                ledger,
                signer,
                file,
                rules,
                dry_run=dry_run,
                skip_invalid=skip_invalid,
                rejects=rejects,
                progress=progress,
                size_limit=size_limit,
            )
        except ImportRefused as refused:
            _show(ledger, refused.summary, json_output, refused=True)
            raise
    _show(ledger, summary, json_output)


def _size_limit() -> int:
    """``MUTUALCREDIT_IMPORT_SIZE_LIMIT`` (bytes), else the reader's default of 1 GiB."""
    import os

    from mutualcredit.domain.errors import UsageError
    from mutualcredit.imports.reader import SIZE_LIMIT_DEFAULT

    value = os.environ.get("MUTUALCREDIT_IMPORT_SIZE_LIMIT")
    if not value:
        return SIZE_LIMIT_DEFAULT
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        raise UsageError(
            f"MUTUALCREDIT_IMPORT_SIZE_LIMIT {value!r} is not a number of bytes", code="usage"
        )
    return int(value)


class _progress:
    """A progress bar on stderr when it is a terminal; otherwise nothing."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            console=common.console(stderr=True),
            transient=True,
        )
        self.bar.start()
        return self.update

    def update(self, phase: str, done: int, total: int | None) -> None:
        task = self.tasks.get(phase)
        if task is None:
            task = self.tasks[phase] = self.bar.add_task(phase, total=total)
        self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _show(
    ledger: Ledger, summary: ImportSummary, json_output: bool, *, refused: bool = False
) -> None:
    """The summary: JSON on stdout; else problems, then counts (on stderr when refused)."""
    if json_output:
        common.print_json(summary.document(ledger))
        return
    for problem in summary.problems[:PROBLEMS_SHOWN_MAX]:
        sys.stderr.write(f"{problem}\n")
    if summary.problems_total > PROBLEMS_SHOWN_MAX:
        sys.stderr.write(
            f"... and {summary.problems_total - PROBLEMS_SHOWN_MAX} more problems "
            "(--json lists up to 1000)\n"
        )
    out = common.console(stderr=refused)
    verb = "would import" if summary.dry_run else "imported"
    out.print(
        common.text(
            f"{summary.file}: {summary.read} rows read: {summary.imported} {verb}, "
            f"{summary.filtered} filtered, {summary.already_imported} already imported, "
            f"{summary.conflicts} conflicts, {summary.rejected} rejected"
        )
    )
    if summary.batch_ids:
        noun = "batches" if len(summary.batch_ids) > 1 else "batch"
        batches = ", ".join(str(batch) for batch in summary.batch_ids)
        out.print(common.text(f"signed by {summary.importer} in {noun} {batches}"))
    if summary.rejects and summary.skip_invalid:
        out.print(common.text(f"rejected rows copied to {summary.rejects}"))
    if summary.totals:
        grid = common.table("account", "currency", "amount")
        for row in summary.document(ledger)["totals"]:
            grid.add_row(
                common.text(row["account"]),
                common.text(row["currency"]),
                common.text(row["amount"]),
            )
        out.print(grid)


def report_income(
    festival: str | None = typer.Option(  # noqa: UP007
        None, "--festival", help="Only this festival (income:festivals:FESTIVAL)."
    ),
    first: str | None = typer.Option(None, "--from", help="First day (YYYY-MM-DD), included."),  # noqa: UP007
    last: str | None = typer.Option(None, "--to", help="Last day (YYYY-MM-DD), included."),  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Festival income per source and cash box, and the cards issued against it."""
    from mutualcredit.imports.report import income_report

    document = income_report(common.open_ledger(), festival=festival, first=first, last=last)
    if json_output:
        common.print_json(document)
        return
    out = common.console()
    grid = common.table("festival", "source", "rows", "amount", "currency", title="income")
    for row in document["income"]:
        grid.add_row(
            *(common.text(row[key]) for key in ("festival", "source", "rows", "amount", "currency"))
        )
    out.print(grid)
    grid = common.table(
        "festival", "source", "cash box", "rows", "amount", "currency", title="cash boxes"
    )
    for row in document["cash_boxes"]:
        grid.add_row(
            *(
                common.text(row[key])
                for key in ("festival", "source", "account", "rows", "amount", "currency")
            )
        )
    out.print(grid)
    grid = common.table(
        "collective",
        "received",
        "issued",
        "backing ratio",
        "currency",
        title="cards issued against Reais received",
    )
    for row in document["backing"]:
        grid.add_row(
            *(
                common.text(row[key])
                for key in ("collective", "received", "issued", "backing_ratio", "currency")
            )
        )
    out.print(grid)
