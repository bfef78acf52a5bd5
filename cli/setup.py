"""Setting up a network: init, currencies, collectives, members, accounts, roles."""

from __future__ import annotations

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

currency_app = typer.Typer(help="Currencies of the network.", no_args_is_help=True)
collective_app = typer.Typer(help="Collectives of the network.", no_args_is_help=True)
member_app = typer.Typer(help="Members: admit, list, close.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts: add, list, close.", no_args_is_help=True)
role_app = typer.Typer(help="Roles: admin, coordinator, importer.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(currency_app, name="currency")
    app.add_typer(collective_app, name="collective")
    app.add_typer(member_app, name="member")
    app.add_typer(account_app, name="account")
    app.add_typer(role_app, name="role")


def init(
    network: str = typer.Option(..., "--network", help="The network's name."),
    currency: str = typer.Option(..., "--currency", help="Code of the network card, e.g. CARD."),
    scale: int = typer.Option(2, "--scale", help="Decimal places of the card."),
    admin: str = typer.Option(..., "--admin", help="Handle of the network admin."),
    timezone: str = typer.Option("America/Sao_Paulo", "--timezone", help="The network's zone."),
    default_limit: str = typer.Option(
        "0", "--default-limit", help="Default credit line of members."
    ),
    clearing_limit: str = typer.Option(
        "1000", "--clearing-limit", help="How much each collective may owe or be owed."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a ledger: the network, its card, its admin and the admin's key."""
    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.services.context import data_home
    from mutualcredit.services.keys import KeyStore, Signer
    from mutualcredit.services.network import NetworkSettings, init_network, new_network_id

    settings = NetworkSettings(
        name=network,
        card=currency,
        scale=scale,
        admin=admin,
        timezone=timezone,
        member_limit_lower=-parse_amount(default_limit, scale=scale, allow_zero=True),
        clearing_limit=parse_amount(clearing_limit, scale=scale, allow_zero=True),
    )
    from mutualcredit.domain.amounts import validate_currency_code, validate_scale
    from mutualcredit.domain.names import validate_handle

    validate_handle(admin)
    validate_currency_code(currency)
    validate_scale(scale)
    network_id = new_network_id()
    store = KeyStore(data_home(), network_id)
    signer = Signer.generate(admin)
    secret = common.passphrase(f"New passphrase for {admin}", confirm=True)
    key_path = store.write(signer, secret)
    try:
        ledger = init_network(common.database_target(), settings, signer, network_id)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    document = {
        "id": ledger.network.id,
        "network": network,
        "card": currency,
        "admin": admin,
        "timezone": timezone,
        "database": common.database_target(),
        "admin_key": str(key_path),
        "public_key": signer.public_key,
    }
    if json_output:
        common.print_json(document)
        return
    typer.echo(f"created network {network} ({ledger.network.id}) in {document['database']}")
    typer.echo(f"admin {admin}: key {key_path}")


@currency_app.command("add")
def currency_add(
    code: str,
    scale: int = typer.Option(..., "--scale", help="Decimal places."),
    rate: str = typer.Option(..., "--rate", help="Value of one unit in network card."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a currency (e.g. BRL for cash) at a fixed rate to the card."""
    from mutualcredit.domain.amounts import format_rate, parse_rate
    from mutualcredit.services.network import add_currency

    ledger = common.open_ledger()
    value = parse_rate(rate)
    added = add_currency(ledger, common.acting_signer(ledger), code=code, scale=scale, rate=value)
    document = {
        "id": added.code,
        "code": added.code,
        "scale": added.scale,
        "rate": format_rate(added.rate),
    }
    common.print_json(document) if json_output else typer.echo(
        f"added currency {code} (scale {scale}, rate {format_rate(value)})"
    )


@currency_app.command("list")
def currency_list(json_output: bool = JSON_OPTION) -> None:
    """List the currencies."""
    from mutualcredit.domain.amounts import format_rate

    ledger = common.open_ledger()
    rows = [
        {"id": c.code, "code": c.code, "scale": c.scale, "rate": format_rate(c.rate)}
        for c in sorted(ledger.currencies.values(), key=lambda c: c.code)
    ]
    if json_output:
        common.print_json(rows)
        return
    grid = common.table("code", "scale", "rate")
    for row in rows:
        grid.add_row(row["code"], str(row["scale"]), row["rate"])
    common.console().print(grid)


@collective_app.command("add")
def collective_add(
    slug: str,
    name: str = typer.Option(..., "--name", help="Display name."),
    currency: str | None = typer.Option(
        None,
        "--currency",  # noqa: UP007
        help="The collective's own card.",
    ),
    rate: str = typer.Option("1", "--rate", help="Value of its card in network card."),
    default_limit: str | None = typer.Option(
        None,
        "--default-limit",  # noqa: UP007
        help="Default credit line of its members.",
    ),
    clearing_limit: str | None = typer.Option(
        None,
        "--clearing-limit",  # noqa: UP007
        help="How much it may owe or be owed.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a collective with its fund and clearing accounts."""
    from mutualcredit.domain.amounts import parse_amount, parse_rate
    from mutualcredit.services.network import add_collective

    ledger = common.open_ledger()
    scale = ledger.card.scale
    lower = (
        None
        if default_limit is None
        else -parse_amount(default_limit, scale=scale, allow_zero=True)
    )
    bound = (
        None
        if clearing_limit is None
        else parse_amount(clearing_limit, scale=scale, allow_zero=True)
    )
    add_collective(
        ledger,
        common.acting_signer(ledger),
        slug=slug,
        name=name,
        currency=currency,
        rate=parse_rate(rate),
        member_limit_lower=lower,
        clearing_limit=bound,
    )
    document = {
        "id": slug,
        "slug": slug,
        "name": name,
        "currency": currency or ledger.network.card,
        "accounts": [
            f"collectives:{slug}:fund",
            f"collectives:{slug}:clearing",
            f"network:clearing:{slug}",
        ],
    }
    common.print_json(document) if json_output else typer.echo(
        f"added collective {slug} ({document['currency']})"
    )


@collective_app.command("issuance")
def collective_issuance(
    slug: str,
    against: str = typer.Option(..., "--against", help="The currency of the income (BRL)."),
    rate: str = typer.Option(..., "--rate", help="Card issued per unit of that income."),
    into: str = typer.Option(..., "--into", help="The collective's account it is issued into."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Fix how imports may issue a collective's card (the admin only): the rate against
    income and the account credited.  A rules file's [issuance] must say the same."""
    from mutualcredit.domain.amounts import format_rate, parse_rate
    from mutualcredit.services.network import set_issuance

    ledger = common.open_ledger()
    fixed = set_issuance(
        ledger,
        common.acting_signer(ledger),
        collective=slug,
        against=against,
        rate=parse_rate(rate),
        into=into,
    )
    document = {
        "collective": fixed.collective,
        "against": fixed.against,
        "rate": format_rate(fixed.rate),
        "into": fixed.into,
    }
    common.print_json(document) if json_output else typer.echo(
        f"{slug}'s card is issued at {document['rate']} per {against} of income, into {into}"
    )


@collective_app.command("list")
def collective_list(json_output: bool = JSON_OPTION) -> None:
    """List the collectives."""
    from mutualcredit.services.queries import list_collectives

    rows = list_collectives(common.open_ledger())
    if json_output:
        common.print_json(rows)
        return
    grid = common.table("slug", "name", "currency", "members", "position")
    for row in rows:
        grid.add_row(
            row["slug"],
            common.text(row["name"]),
            row["currency"],
            str(row["members"]),
            row["position"],
        )
    common.console().print(grid)


@member_app.command("add")
def member_add(
    handle: str,
    collective: str = typer.Option(..., "--collective", help="The member's collective."),
    name: str | None = typer.Option(None, "--name", help="Display name."),  # noqa: UP007
    limit: str | None = typer.Option(None, "--limit", help="Credit line."),  # noqa: UP007
    upper: str | None = typer.Option(None, "--upper", help="Balance cap."),  # noqa: UP007
    pubkey: str | None = typer.Option(
        None,
        "--pubkey",  # noqa: UP007
        help="The member's public key, or a file with it.",
    ),
    coordinator: bool = typer.Option(False, "--coordinator", help="Make them a coordinator."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Admit a member; without --pubkey a key is made on this machine."""
    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.domain.names import validate_handle
    from mutualcredit.services.keys import Signer, parse_public_key
    from mutualcredit.services.network import add_member, collective_row

    ledger = common.open_ledger()
    validate_handle(handle)
    with ledger.read() as connection:
        home = collective_row(connection, collective)
    scale = ledger.currency(home.currency).scale
    lower = None if limit is None else -parse_amount(limit, scale=scale, allow_zero=True)
    cap = None if upper is None else parse_amount(upper, scale=scale, allow_zero=True)
    actor = common.acting_signer(ledger)
    store = common.key_store(ledger)
    made = None
    if pubkey is not None:
        public_key = parse_public_key(pubkey)
    else:
        made = Signer.generate(handle)
        public_key = made.public_key
        if store.exists(handle):
            from mutualcredit.domain.errors import Refused

            raise Refused(
                f"a key file for {handle} already exists at {store.path(handle)}",
                code="key_file_exists",
            )
        # Seal (passphrase long enough) and check the key folders before the member is
        # admitted, so a refusal never leaves a member whose private key was never kept.
        sealed = store.seal(made, common.passphrase(f"New passphrase for {handle}", confirm=True))
        store.prepare()
    account = add_member(
        ledger,
        actor,
        handle=handle,
        collective=collective,
        public_key=public_key,
        name=name,
        limit_lower=lower,
        limit_upper=cap,
        coordinator=coordinator,
    )
    key_file = None
    if made is not None:
        key_file = str(store.write_document(handle, sealed))
    document = {
        "id": handle,
        "handle": handle,
        "collective": collective,
        "account": account,
        "public_key": public_key,
        "key_file": key_file,
        "coordinator": coordinator,
    }
    if json_output:
        common.print_json(document)
        return
    typer.echo(f"admitted {handle} to {collective} with account {account}")
    if key_file:
        typer.echo(f"key made on this machine: {key_file}")


@member_app.command("list")
def member_list(json_output: bool = JSON_OPTION) -> None:
    """List members, their collectives and roles."""
    from mutualcredit.services.queries import list_members

    rows = list_members(common.open_ledger())
    if json_output:
        common.print_json(rows)
        return
    grid = common.table("handle", "name", "collective", "roles", "status")
    for row in rows:
        grid.add_row(
            row["handle"],
            common.text(row["name"]),
            row["collective"] or "",
            ", ".join(row["roles"]),
            row["status"],
        )
    common.console().print(grid)


@member_app.command("close")
def member_close(handle: str, json_output: bool = JSON_OPTION) -> None:
    """Close a member and their account (zero balance, nothing on hold)."""
    from mutualcredit.services.network import close_member

    ledger = common.open_ledger()
    close_member(ledger, common.acting_signer(ledger), handle=handle)
    common.print_json(
        {"id": handle, "handle": handle, "status": "closed"}
    ) if json_output else typer.echo(f"closed member {handle}")


@account_app.command("add")
def account_add(
    name: str,
    currency: str = typer.Option(..., "--currency", help="Currency code."),
    owner: str = typer.Option(..., "--owner", help="Collective slug, or 'network'."),
    limit: str | None = typer.Option(None, "--limit", help="Credit line."),  # noqa: UP007
    upper: str | None = typer.Option(None, "--upper", help="Balance cap."),  # noqa: UP007
    no_limit: bool = typer.Option(False, "--no-limit", help="No lower limit at all."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a cash, income, issuance or other account.

    Income and issuance (collectives:SLUG:issuance) accounts default to no lower limit.
    """
    from mutualcredit.domain.amounts import parse_amount
    from mutualcredit.services.network import account_kind, add_account
    from mutualcredit.services.queries import balance

    ledger = common.open_ledger()
    scale = ledger.currency(currency).scale
    lower: int | None = 0
    if limit is not None:
        lower = -parse_amount(limit, scale=scale, allow_zero=True)
    elif no_limit or account_kind(name) in ("income", "issuance"):
        lower = None
    cap = None if upper is None else parse_amount(upper, scale=scale, allow_zero=True)
    add_account(
        ledger,
        common.acting_signer(ledger),
        name=name,
        currency=currency,
        owner=owner,
        limit_lower=lower,
        limit_upper=cap,
    )
    document = balance(ledger, name)
    common.print_json(document) if json_output else typer.echo(f"added account {name}")


@account_app.command("list")
def account_list(
    prefix: str | None = typer.Argument(None, help="Only accounts starting with this."),  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """List every account with its balance, member, collective and network accounts."""
    from mutualcredit.services.queries import list_accounts

    rows = list_accounts(common.open_ledger(), prefix=prefix)
    if json_output:
        common.print_json(rows)
        return
    from mutualcredit_cli.money import balance_table

    common.console().print(balance_table(rows))


@account_app.command("close")
def account_close(name: str, json_output: bool = JSON_OPTION) -> None:
    """Close an account (never deleted): zero balance and nothing on hold."""
    from mutualcredit.services.network import close_account

    ledger = common.open_ledger()
    close_account(ledger, common.acting_signer(ledger), name=name)
    common.print_json(
        {"id": name, "account": name, "status": "closed"}
    ) if json_output else typer.echo(f"closed account {name}")


def _role(grant: bool, handle: str, role: str, collective: str | None, json_output: bool) -> None:
    from mutualcredit.services.network import change_role

    ledger = common.open_ledger()
    change_role(
        ledger,
        common.acting_signer(ledger),
        handle=handle,
        role=role,
        collective=collective,
        grant=grant,
    )
    document = {
        "id": handle,
        "handle": handle,
        "role": role,
        "collective": collective,
        "granted": grant,
    }
    verb = "granted" if grant else "revoked"
    common.print_json(document) if json_output else typer.echo(
        f"{verb} {role}" + (f" of {collective}" if collective else "") + f" for {handle}"
    )


@role_app.command("grant")
def role_grant(
    handle: str,
    role: str,
    collective: str | None = typer.Option(None, "--collective"),  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Grant coordinator, importer or admin."""
    _role(True, handle, role, collective, json_output)


@role_app.command("revoke")
def role_revoke(
    handle: str,
    role: str,
    collective: str | None = typer.Option(None, "--collective"),  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Revoke a role."""
    _role(False, handle, role, collective, json_output)
