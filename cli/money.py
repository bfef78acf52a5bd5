"""Moving and reading money: pay, balance, statement, tx show, reverse, limits."""

from __future__ import annotations

from typing import Any

import typer

from mutualcredit.domain.ids import ID_MAX
from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

tx_app = typer.Typer(help="Transfers.", no_args_is_help=True)
limit_app = typer.Typer(help="Credit limits.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    # Amounts like "-5" must reach the amount parser (and its clear refusal), not be
    # taken for unknown options.
    app.command("pay", context_settings={"ignore_unknown_options": True})(pay)
    app.command("balance")(balance)
    app.command("statement")(statement)
    app.command("reverse")(reverse)
    app.add_typer(tx_app, name="tx")
    app.add_typer(limit_app, name="limit")


def pay(
    payer: str = typer.Argument(..., metavar="FROM", help="Payer: a handle or account name."),
    payee: str = typer.Argument(..., metavar="TO", help="Payee: a handle or account name."),
    amount: str = typer.Argument(..., help="Amount in the payer's currency, e.g. 12.50."),
    memo: str = typer.Option("", "--memo", help="What the payment is for."),
    key: str | None = typer.Option(
        None,
        "--key",  # noqa: UP007
        help="Idempotency key: retrying with it is safe.",
    ),
    hours: str | None = typer.Option(
        None,
        "--hours",  # noqa: UP007
        help="Hours of work this pays for, e.g. 2.5.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Pay from one member or account to another, across collectives too."""
    from mutualcredit.domain.amounts import format_amount, parse_amount
    from mutualcredit.domain.names import validate_idempotency_key
    from mutualcredit.services.payments import pay as pay_service
    from mutualcredit.services.payments import resolve_account
    from mutualcredit.services.queries import show_transfer

    if key is not None:  # an empty --key is a mistake, not "no key": refuse it before any work
        validate_idempotency_key(key)
    ledger = common.open_ledger()
    source = resolve_account(ledger, payer)
    scale = ledger.currency(source.currency).scale
    minor = parse_amount(amount, scale=scale)
    meta: dict[str, Any] = {}
    if hours is not None:
        meta["hours"] = format_amount(parse_amount(hours, scale=2), 2)
    signer_handle = source.owner if source.owner_kind == "member" else None
    if signer_handle is None:
        signer_handle = common.acting_handle(ledger)
    signer = common.signer_for(ledger, signer_handle)
    result = pay_service(
        ledger, signer, payer=payer, payee=payee, amount=minor, memo=memo, key=key, meta=meta
    )
    document = show_transfer(ledger, result.transfer_id)
    document["replayed"] = result.replayed
    if json_output:
        common.print_json(document)
        return
    again = " (already recorded; nothing new written)" if result.replayed else ""
    typer.echo(
        f"transfer {result.transfer_id}: {source.name} paid "
        f"{document['meta']['to']} {format_amount(minor, scale)} {source.currency}{again}"
    )


def balance_table(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    grid = common.table(
        "account", "currency", "balance", "available", "pending out", "pending in", "limit", "upper"
    )
    for row in rows:
        closed = " (closed)" if row.get("status") == "closed" else ""
        grid.add_row(
            row["account"] + closed,
            row["currency"],
            row["balance"],
            row["available"] or "-",
            row["pending_debits"],
            row["pending_credits"],
            row["limit_lower"] or "-",
            row["limit_upper"] or "-",
        )
    return grid


def balance(
    reference: str | None = typer.Argument(  # noqa: UP007
        None, metavar="[HANDLE|ACCOUNT]", help="Whose balance; without it, every member's."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Balance, availability, holds and limits of a member or account."""
    from mutualcredit.services.queries import balance as balance_service
    from mutualcredit.services.queries import list_accounts

    ledger = common.open_ledger()
    if reference is None:
        rows = list_accounts(ledger, prefix="members:")
        common.print_json(rows) if json_output else common.console().print(balance_table(rows))
        return
    document = balance_service(ledger, reference)
    common.print_json(document) if json_output else common.console().print(
        balance_table([document])
    )


def statement(
    reference: str = typer.Argument(..., metavar="HANDLE|ACCOUNT"),
    first: str | None = typer.Option(None, "--from", help="First day (YYYY-MM-DD)."),  # noqa: UP007
    last: str | None = typer.Option(None, "--to", help="Last day, included."),  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Every posted movement of an account with the balance after it."""
    import json
    import sys

    from mutualcredit.services.queries import statement as statement_service

    ledger = common.open_ledger()
    head, entries = statement_service(
        ledger, reference, first=_date(first, "--from"), last=_date(last, "--to")
    )
    if json_output:
        # Streamed: one entry at a time, so a million postings stay in bounded memory.
        out = sys.stdout
        out.write(
            f'{{"account": {json.dumps(head["account"])}, '
            f'"currency": {json.dumps(head["currency"])}, "entries": ['
        )
        for index, entry in enumerate(entries):
            out.write(("," if index else "") + "\n  " + json.dumps(entry, ensure_ascii=False))
        out.write("\n]}\n")
        return
    grid = common.table(
        "transfer",
        "date",
        "memo",
        "amount",
        "balance after",
        title=f"{head['account']} ({head['currency']})",
    )
    for entry in entries:
        grid.add_row(
            str(entry["transfer_id"]),
            entry["created_at"][:16].replace("T", " "),
            common.text(entry["memo"]),
            entry["amount"],
            entry["balance_after"],
        )
    common.console().print(grid)


def _date(text: str | None, option: str):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    from mutualcredit.services.reports import parse_date

    return parse_date(text, option)


@tx_app.command("show")
def tx_show(
    transfer_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show one transfer with its postings."""
    from mutualcredit.services.queries import show_transfer

    document = show_transfer(common.open_ledger(), transfer_id)
    if json_output:
        common.print_json(document)
        return
    show_transfer_text(document)


def show_transfer_text(document: dict[str, Any]) -> None:
    out = common.console()
    out.print(
        common.text(
            f"transfer {document['id']} ({document['kind']}, "
            f"{document['status']}) by {document['author']} at "
            f"{document['created_at']}"
        )
    )
    if document["memo"]:
        out.print(common.text(f"memo: {document['memo']}"))
    grid = common.table("account", "currency", "amount")
    for posting in document["postings"]:
        grid.add_row(posting["account"], posting["currency"], posting["amount"])
    out.print(grid)
    if document.get("reversed_by"):
        out.print(f"reversed by transfer {document['reversed_by']}")


def reverse(
    transfer_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    reason: str = typer.Option(..., "--reason", help="Why (recorded)."),
    force: bool = typer.Option(False, "--force", help="Reverse even past a limit (recorded)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Undo a posted transfer with its exact opposite, once (coordinator or admin)."""
    from mutualcredit.services.payments import reverse as reverse_service
    from mutualcredit.services.queries import show_transfer

    ledger = common.open_ledger()
    result = reverse_service(
        ledger, common.acting_signer(ledger), transfer_id=transfer_id, reason=reason, force=force
    )
    document = show_transfer(ledger, result.transfer_id)
    common.print_json(document) if json_output else typer.echo(
        f"transfer {result.transfer_id} reverses transfer {transfer_id}"
    )


@limit_app.command("set")
def limit_set(
    reference: str = typer.Argument(..., metavar="HANDLE|ACCOUNT"),
    limit: str | None = typer.Option(None, "--limit", help="Credit line, e.g. 100."),  # noqa: UP007
    upper: str | None = typer.Option(None, "--upper", help="Balance cap."),  # noqa: UP007
    no_upper: bool = typer.Option(False, "--no-upper", help="Remove the balance cap."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Change a credit line or balance cap (a signed, recorded event)."""
    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.domain.errors import UsageError
    from mutualcredit.services.network import UNCHANGED, set_limit
    from mutualcredit.services.queries import account_name, balance

    if upper is not None and no_upper:
        raise UsageError("give --upper or --no-upper, not both", code="usage")
    if limit is None and upper is None and not no_upper:
        raise UsageError("give --limit, --upper or --no-upper", code="usage")
    ledger = common.open_ledger()
    head = balance(ledger, reference)
    scale = ledger.currency(head["currency"]).scale
    lower: object = (
        UNCHANGED if limit is None else -parse_amount(limit, scale=scale, allow_zero=True)
    )
    cap: object = (
        None
        if no_upper
        else (UNCHANGED if upper is None else parse_amount(upper, scale=scale, allow_zero=True))
    )
    set_limit(
        ledger,
        common.acting_signer(ledger),
        account=account_name(reference),
        reason=reason,
        limit_lower=lower,
        limit_upper=cap,
    )
    document = balance(ledger, reference)
    common.print_json(document) if json_output else common.console().print(
        balance_table([document])
    )


@limit_app.command("history")
def limit_history(
    reference: str = typer.Argument(..., metavar="HANDLE|ACCOUNT"), json_output: bool = JSON_OPTION
) -> None:
    """Every limit change of an account: who, when, old, new, why."""
    from mutualcredit.services.queries import limit_history as history

    document = history(common.open_ledger(), reference)
    if json_output:
        common.print_json(document)
        return
    grid = common.table(
        "when",
        "who",
        "limit",
        "upper",
        "reason",
        title=f"{document['account']} ({document['currency']})",
    )
    for change in document["changes"]:
        grid.add_row(
            change["created_at"][:16].replace("T", " "),
            change["author"],
            f"{change['old_lower'] or '-'} → {change['new_lower'] or '-'}",
            f"{change['old_upper'] or '-'} → {change['new_upper'] or '-'}",
            common.text(change["reason"]),
        )
    common.console().print(grid)
