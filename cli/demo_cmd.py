"""``mutualcredit demo``: build and show a small Fora do Eixo-style network."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    seed: int = typer.Option(7, "--seed", help="Which exchanges happen (deterministic)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing demo file."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Build a demo network in ./mutualcredit-demo.db (or the global --db), without prompts.

    MUTUALCREDIT_DB is ignored on purpose, so a real ledger is never touched.
    """
    from mutualcredit.domain.errors import Refused
    from mutualcredit.services import demo as demo_service
    from mutualcredit.services.context import data_home
    from mutualcredit.services.queries import list_accounts

    database = Path(common.STATE.db or demo_service.DEMO_DB)
    if "://" in str(common.STATE.db or ""):
        from mutualcredit.domain.errors import UsageError

        raise UsageError("the demo writes a SQLite file; give --db a file path", code="usage")
    if database.exists():
        if not force:
            raise Refused(
                f"{database} already exists; use --force to replace it", code="file_exists"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    secret = os.environ.get("MUTUALCREDIT_PASSPHRASE") or demo_service.DEMO_PASSPHRASE
    built = demo_service.build(database, seed=seed, home=data_home(), passphrase=secret)
    members = list_accounts(built.ledger, prefix="members:")
    positions = demo_service.positions(built.ledger)
    if json_output:
        common.print_json(
            {
                "id": built.ledger.network.id,
                "database": str(database),
                "steps": built.lines,
                "refused": built.refused,
                "balances": members,
                "positions": [
                    {"collective": c, "currency": "CARD", "position": p} for c, p in positions
                ],
            }
        )
        return
    _show(built, database, members, positions, secret)


def _show(built, database: Path, members: list, positions: list, secret: str) -> None:  # type: ignore[no-untyped-def]
    from mutualcredit_cli.money import balance_table

    out = common.console()
    out.print(common.text(f"demo network written to {database} (seed {built.seed})"))
    for line in built.lines:
        out.print(common.text(f"  • {line}"))
    out.print(balance_table(members))
    grid = common.table("collective", "position")
    for collective, position in positions:
        grid.add_row(collective, position)
    out.print(common.text("positions between collectives (CARD; negative = owes the network):"))
    out.print(grid)
    db = f"--db {database} "
    from datetime import date, timedelta

    today_date = date.today()
    today, today_minus_30 = today_date.isoformat(), (today_date - timedelta(days=30)).isoformat()
    out.print(
        common.text(
            f"keys are in {common.key_store(built.ledger).folder} with passphrase {secret!r}"
        )
    )
    out.print(common.text("explore further:"))
    for command in (
        f"mutualcredit {db}account list",
        f"mutualcredit {db}statement ana",
        f"mutualcredit {db}pay ana caio 10 --memo 'roadie shift'",
        f"mutualcredit {db}tx show 1",
        f"mutualcredit {db}limit history kaue",
        f"mutualcredit {db}balance caio --json",
        f"mutualcredit {db}calendar studio",
        f"mutualcredit {db}bookings",
        f"mutualcredit {db}requests",
        f"mutualcredit {db}report income",
        f"mutualcredit {db}report settlement --from {today_minus_30} --to {today}",
        f"mutualcredit {db}verify",
    ):
        out.print(common.text(f"  {command}"))
