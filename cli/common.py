"""What every command shares: global options, opening the ledger, unlocking keys, output.

Heavy imports (SQLAlchemy, SQLModel, cryptography) happen inside the functions
that need them, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.keys import Signer

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


@dataclass
class State:
    db: str | None = None
    acting: str | None = None


STATE = State()


def database_target() -> str:
    from mutualcredit.services.context import default_database

    return STATE.db or os.environ.get("MUTUALCREDIT_DB") or default_database()


def _say_waiting() -> None:
    sys.stderr.write("waiting for another writer…\n")
    sys.stderr.flush()


def open_ledger() -> Ledger:
    from mutualcredit.services.context import Ledger, on_waiting

    if sys.stderr.isatty():
        on_waiting(_say_waiting)
    return Ledger.open(database_target())


def passphrase(
    prompt: str = "Passphrase", *, confirm: bool = False, variable: str = "MUTUALCREDIT_PASSPHRASE"
) -> str:
    value = os.environ.get(variable)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        from mutualcredit.domain.errors import UsageError

        raise UsageError(
            f"no terminal to ask for the passphrase; set {variable}", code="passphrase_required"
        )
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def acting_handle(ledger: Ledger, default: str | None = None) -> str:
    """Who acts: ``--as``, else ``MUTUALCREDIT_AS``, else ``default``, else the admin.

    An empty ``--as`` or ``MUTUALCREDIT_AS`` is refused: read as "not given" it
    would silently mean the admin.
    """
    handle = STATE.acting
    if handle is None:
        handle = os.environ.get("MUTUALCREDIT_AS")
        check_acting(handle, "MUTUALCREDIT_AS")
    return handle or default or ledger.network.admin


def check_acting(handle: str | None, source: str) -> None:
    """Refuse an empty acting handle (``--as ''`` or ``MUTUALCREDIT_AS=''``), exit 2."""
    if handle is not None and not handle:
        from mutualcredit.domain.errors import UsageError

        raise UsageError(
            f"{source} is empty: give the handle of who acts, or leave it out", code="empty_acting"
        )


def key_store(ledger: Ledger):  # type: ignore[no-untyped-def]
    from mutualcredit.services.context import data_home
    from mutualcredit.services.keys import KeyStore

    return KeyStore(data_home(), ledger.network.id)


def signer_for(ledger: Ledger, handle: str) -> Signer:
    return key_store(ledger).unlock(handle, passphrase(f"Passphrase for {handle}"))


def acting_signer(ledger: Ledger, default: str | None = None) -> Signer:
    return signer_for(ledger, acting_handle(ledger, default))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def console(file: Any = None, *, stderr: bool = False):  # type: ignore[no-untyped-def]
    """The one way the CLI makes a rich console: user data is shown as data.

    Markup, emoji codes and highlighting are off, so a memo ``[bold]x[/bold]``
    prints as typed and ``collectives:a:clearing`` keeps its ``:a:`` (rich
    would draw an emoji).  Every string a table or ``print`` gets is rendered
    this way, not only :func:`text` cells.
    """
    from rich.console import Console

    target = file if file is not None else sys.stderr if stderr else sys.stdout
    # Piped output is read by people in files and by scripts: never cut account names.
    width = None if _is_terminal(target) else 200
    return Console(
        file=file, stderr=stderr, width=width, highlight=False, markup=False, emoji=False
    )


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False


def parse_amount_option(text: str | None, ledger: Ledger, currency: str) -> int | None:
    if text is None:
        return None
    from mutualcredit.domain.amounts import parse_amount

    return parse_amount(text, scale=ledger.currency(currency).scale)


def table(*columns: str, title: str | None = None):  # type: ignore[no-untyped-def]
    from rich.table import Table

    grid = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(
            column, justify="right" if column in AMOUNT_COLUMNS else "left", overflow="fold"
        )
    return grid


AMOUNT_COLUMNS = {
    "balance",
    "available",
    "amount",
    "balance after",
    "limit",
    "upper",
    "pending out",
    "pending in",
    "price",
    "position",
}


def text(value: object):  # type: ignore[no-untyped-def]
    """A cell that shows data as data: no rich markup or emoji code is interpreted.

    (A :class:`rich.text.Text` is never parsed for markup or emoji, whatever the console.)
    """
    from rich.text import Text

    return Text("" if value is None else str(value))
