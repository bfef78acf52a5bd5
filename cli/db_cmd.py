"""The database: backup, status, upgrade."""

from __future__ import annotations

from pathlib import Path

import typer

from cli import common
from cli.common import JSON_OPTION

db_app = typer.Typer(help="The ledger's database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("backup")
def db_backup(file: Path, json_output: bool = JSON_OPTION) -> None:
    """Copy a SQLite ledger safely while in use (SQLite's online backup)."""
    from mutualcredit.services.maintenance import backup

    ledger = common.open_ledger()
    pages = backup(ledger, file)
    common.print_json({"id": str(file), "out": str(file), "pages": pages}) if json_output \
        else typer.echo(f"backed up to {file}")


@db_app.command("status")
def db_status(json_output: bool = JSON_OPTION) -> None:
    """Schema revision of the database and of this program."""
    from mutualcredit.persistence import schema
    from mutualcredit.persistence.engine import database_url, make_engine

    engine = make_engine(database_url(common.database_target()))
    current = schema.current_revision(engine)
    document = {"id": common.database_target(), "revision": current,
                "head": schema.HEAD_REVISION, "up_to_date": current == schema.HEAD_REVISION}
    if json_output:
        common.print_json(document)
        return
    typer.echo(f"database revision: {current or 'none (not a ledger)'}; "
               f"program: {schema.HEAD_REVISION}")


@db_app.command("upgrade")
def db_upgrade(json_output: bool = JSON_OPTION) -> None:
    """Apply the Alembic migrations this program knows."""
    from mutualcredit.persistence import schema
    from mutualcredit.persistence.engine import database_url, make_engine

    engine = make_engine(database_url(common.database_target()))
    if schema.current_revision(engine) is None:
        raise schema.NotALedger(f"{common.database_target()} is not a mutualcredit ledger")
    before = schema.upgrade(engine)
    document = {"id": common.database_target(), "before": before, "after": schema.HEAD_REVISION}
    common.print_json(document) if json_output else typer.echo(
        f"upgraded from {before} to {schema.HEAD_REVISION}")
