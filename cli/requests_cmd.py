"""Payment requests: ``request``, ``requests``, ``accept``, ``decline``, ``request withdraw``.

``request`` is both a command and a group: ``request FROM TO AMOUNT …`` asks
for payment, ``request withdraw ID`` withdraws.  :class:`RequestGroup` sends
any first argument that is not a subcommand name to the hidden ``create``
command (a member whose handle is ``withdraw`` is written
``members:withdraw``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from mutualcredit.domain.ids import ID_MAX
from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

if TYPE_CHECKING:  # Typer carries its own Click; the plain package may not be installed
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter

USAGE = "FROM TO AMOUNT --memo TEXT [--expires DURATION] | withdraw ID"


class RequestGroup(TyperGroup):
    """A group whose default command takes the arguments when no subcommand is named."""

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in self.commands:
            return "create", self.commands["create"], args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: Context, formatter: HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, USAGE)


request_app = typer.Typer(
    cls=RequestGroup,
    no_args_is_help=True,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="Ask for payment: request FROM TO AMOUNT --memo TEXT [--expires DURATION]. "
    "FROM is the payer, TO the payee, who signs the request; AMOUNT is in the payer's "
    "currency, as for pay.  The payer later runs 'accept ID' or 'decline ID'.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(request_app, name="request")
    app.command("requests")(requests)
    app.command("accept")(accept)
    app.command("decline")(decline)


def _signer_for(ledger: Any, reference: str) -> Any:
    """The member owning ``reference`` signs, unless --as names someone else."""
    from mutualcredit.services.payments import resolve_account

    account = resolve_account(ledger, reference)
    default = account.owner if account.owner_kind == "member" else None
    return common.signer_for(ledger, common.acting_handle(ledger, default))


def _print(ledger: Any, request: Any, json_output: bool, line: str) -> None:
    from mutualcredit.services.requests import request_document

    if json_output:
        common.print_json(request_document(ledger, request))
    else:
        typer.echo(line)


def _shown(ledger: Any, request: Any) -> str:
    from mutualcredit.domain.amounts import format_amount

    amount = format_amount(request.amount, ledger.currency(request.currency).scale)
    return f"{amount} {request.currency}"


@request_app.command("create", hidden=True)
def create(
    payer: str = typer.Argument(..., metavar="FROM", help="Payer: a handle or account name."),
    payee: str = typer.Argument(..., metavar="TO", help="Payee (signs): a handle or account."),
    amount: str = typer.Argument(..., help="Amount in the payer's currency, e.g. 25.00."),
    memo: str = typer.Option(..., "--memo", help="What the payment is for."),
    expires: str | None = typer.Option(  # noqa: UP007
        None, "--expires", help="Expire after a duration: 30m, 3h, 2d, 1h30m or PT3H."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Ask FROM to pay TO; signed by TO."""
    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.domain.durations import parse_duration
    from mutualcredit.services.payments import resolve_account
    from mutualcredit.services.requests import create_request

    expires_in = parse_duration(expires) if expires is not None else None
    ledger = common.open_ledger()
    source = resolve_account(ledger, payer)
    minor = parse_amount(amount, scale=ledger.currency(source.currency).scale)
    signer = _signer_for(ledger, payee)
    request = create_request(
        ledger, signer, payer=payer, payee=payee, amount=minor, memo=memo, expires_in=expires_in
    )
    until = f", expires {request.expires_at}" if request.expires_at else ""
    _print(
        ledger,
        request,
        json_output,
        f"request {request.id}: {request.payee} asks {request.payer} for "
        f"{_shown(ledger, request)}{until}",
    )


@request_app.command("withdraw")
def withdraw(
    request_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    json_output: bool = JSON_OPTION,
) -> None:
    """Withdraw an open request (its payee)."""
    from mutualcredit.services.requests import get_request, withdraw_request

    ledger = common.open_ledger()
    request = get_request(ledger, request_id)
    request = withdraw_request(ledger, _signer_for(ledger, request.payee), request_id=request_id)
    _print(ledger, request, json_output, f"request {request.id} withdrawn")


def requests(
    reference: str | None = typer.Argument(  # noqa: UP007
        None, metavar="[HANDLE]", help="Only requests where this member or account pays or is paid."
    ),
    status: str | None = typer.Option(  # noqa: UP007
        None, "--status", help="open, accepted, declined, expired or withdrawn."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List payment requests, oldest first."""
    from mutualcredit.services.requests import list_requests, request_document

    ledger = common.open_ledger()
    found = list_requests(ledger, reference=reference, status=status)
    if json_output:
        common.print_json([request_document(ledger, request) for request in found])
        return
    grid = common.table("id", "status", "payer", "payee", "amount", "currency", "memo", "expires")
    for request in found:
        document = request_document(ledger, request)
        grid.add_row(
            str(request.id),
            request.status,
            common.text(request.payer),
            common.text(request.payee),
            document["amount"],
            request.currency,
            common.text(request.memo),
            request.expires_at or "-",
        )
    common.console().print(grid)


def accept(
    request_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    json_output: bool = JSON_OPTION,
) -> None:
    """Accept a request: the payer signs the payment it asks for."""
    from mutualcredit.services.requests import accept_request, get_request

    ledger = common.open_ledger()
    request = get_request(ledger, request_id)
    request, result = accept_request(
        ledger, _signer_for(ledger, request.payer), request_id=request_id
    )
    _print(
        ledger,
        request,
        json_output,
        f"request {request.id} accepted: transfer {result.transfer_id}, {request.payer} "
        f"paid {request.payee} {_shown(ledger, request)}",
    )


def decline(
    request_id: int = typer.Argument(..., metavar="ID", min=1, max=ID_MAX),
    reason: str = typer.Option(..., "--reason", help="Why (recorded, signed)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Decline a request (its payer), with a reason."""
    from mutualcredit.services.requests import decline_request, get_request

    ledger = common.open_ledger()
    request = get_request(ledger, request_id)
    request = decline_request(
        ledger, _signer_for(ledger, request.payer), request_id=request_id, reason=reason
    )
    _print(ledger, request, json_output, f"request {request.id} declined")
