"""The database: backup, status, upgrade."""

from __future__ import annotations

from pathlib import Path

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

db_app = typer.Typer(help="The ledger's database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("backup")
def db_backup(file: Path, json_output: bool = JSON_OPTION) -> None:
    """Copy a SQLite ledger safely while in use (SQLite's online backup)."""
    from mutualcredit.services.maintenance import backup

    ledger = common.open_ledger()
    pages = backup(ledger, file)
    common.print_json(
        {"id": str(file), "out": str(file), "pages": pages}
    ) if json_output else typer.echo(f"backed up to {file}")


def _engine():  # type: ignore[no-untyped-def]
    """An engine on the --db database, refusing a missing file or an unreachable server."""
    from mutualcredit.domain.errors import NotFound
    from mutualcredit.persistence.engine import database_url, describe, make_engine
    from mutualcredit.services.context import guard_connect

    url = database_url(common.database_target())
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        raise NotFound(f"no ledger at {describe(url)}", code="ledger_not_found")
    engine = make_engine(url)
    guard_connect(engine, url)
    return engine


@db_app.command("status")
def db_status(json_output: bool = JSON_OPTION) -> None:
    """Schema revision of the database and of this program."""
    from mutualcredit.persistence import schema

    engine = _engine()
    current = schema.current_revision(engine)
    document = {
        "id": common.database_target(),
        "revision": current,
        "head": schema.HEAD_REVISION,
        "up_to_date": current == schema.HEAD_REVISION,
    }
    if json_output:
        common.print_json(document)
        return
    typer.echo(
        f"database revision: {current or 'none (not a ledger)'}; program: {schema.HEAD_REVISION}"
    )


@db_app.command("upgrade")
def db_upgrade(json_output: bool = JSON_OPTION) -> None:
    """Apply the Alembic migrations this program knows."""
    from mutualcredit.persistence import schema

    engine = _engine()
    if schema.current_revision(engine) is None:
        raise schema.NotALedger(f"{common.database_target()} is not a mutualcredit ledger")
    before = schema.upgrade(engine)
    document = {"id": common.database_target(), "before": before, "after": schema.HEAD_REVISION}
    common.print_json(document) if json_output else typer.echo(
        f"upgraded from {before} to {schema.HEAD_REVISION}"
    )


@db_app.command("copy")
def db_copy(
    to: str = typer.Option(
        ...,
        "--to",
        help="The empty database to copy into: a SQLite file "
        "or a SQLAlchemy URL (postgresql+psycopg://user@host/db).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Copy the ledger into an empty database (SQLite to PostgreSQL or back), then verify it.

    The copy streams from one snapshot of the ledger, so writers may go on meanwhile.
    Until it is verified the target is marked as an incomplete copy, which every
    command refuses: an interrupted copy is never half-used.
    """
    from mutualcredit.services.copy import copy_ledger

    ledger = common.open_ledger()
    report = copy_ledger(ledger, to)
    document = {
        "id": report.target,
        "source": report.source,
        "target": report.target,
        "revision": report.revision,
        "tables": report.tables,
        "events": report.events,
        "chain_hash": report.chain_hash,
        "checks": report.checks,
    }
    if json_output:
        common.print_json(document)
        return
    rows = sum(report.tables.values())
    typer.echo(
        f"copied {report.source} to {report.target}: {len(report.tables)} tables, "
        f"{rows} rows, {report.tables.get('transfer', 0)} transfers, "
        f"{report.events} events; verified: {', '.join(report.checks)}"
    )
