"""Setting up a network: currencies, collectives, members, accounts, roles and limits.

Each change is signed by whoever makes it and appended to the hash chain as a
record.  Who may do what: the network admin anything; a coordinator of a
collective its own members, accounts and limits; nobody else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import (
    Currency,
    format_amount,
    format_rate,
    validate_currency_code,
    validate_scale,
)
from mutualcredit.domain.authority import (
    Issuance,
    account_shape_problem,
    coordinates,
    is_clearing_name,
)
from mutualcredit.domain.errors import NotFound, Refused, UsageError
from mutualcredit.domain.events import genesis_hash
from mutualcredit.domain.names import (
    DISPLAY_NAME_LENGTH_MAX,
    validate_account_name,
    validate_handle,
    validate_text,
)
from mutualcredit.persistence import models
from mutualcredit.persistence.models import core_table
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger, guard_connect
from mutualcredit.services.keys import Signer
from mutualcredit.services.posting import NotAuthorised
from mutualcredit.services.records import key_id_of, sign_record, write_record

ROLES = ("admin", "coordinator", "importer")


class AlreadyExists(Refused):
    code = "already_exists"


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    name: str
    card: str
    scale: int = 2
    admin: str
    timezone: str = "America/Sao_Paulo"
    member_limit_lower: int = 0  # a credit line of 0.00
    clearing_limit: int = 100_000  # 1,000.00 at scale 2


def new_network_id() -> str:
    return secrets.token_hex(16)


def init_network(
    engine_url: str, settings: NetworkSettings, admin_signer: Signer, network_id: str
) -> Ledger:
    """Create the schema (Alembic) and the network, its card and its admin."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from mutualcredit.persistence import schema
    from mutualcredit.persistence.engine import database_url, enable_wal, make_engine

    validate_text(settings.name, what="network name", length_max=DISPLAY_NAME_LENGTH_MAX)
    validate_currency_code(settings.card)
    validate_scale(settings.scale)
    validate_handle(settings.admin)
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"time zone {settings.timezone!r} is not known (e.g. America/Sao_Paulo)",
            code="invalid_timezone",
        ) from None
    url = database_url(engine_url)
    engine = make_engine(url)
    guard_connect(engine, url)  # an unreachable server or wrong password: one clear error
    enable_wal(engine)
    if schema.current_revision(engine) is not None:
        raise AlreadyExists(f"{url.database or url} already holds a ledger")
    schema.upgrade(engine)
    created_at = iso(now())
    record = {
        "network": network_id,
        "name": settings.name,
        "card": settings.card,
        "scale": settings.scale,
        "admin": settings.admin,
        "admin_key": admin_signer.public_key,
        "timezone": settings.timezone,
        "created_at": created_at,
    }
    genesis = genesis_hash(record)
    with engine.begin() as connection:
        _insert_network(connection, settings, network_id, genesis, record, created_at)
    ledger = Ledger.from_engine(engine, url)
    # The defaults every later member and collective takes their limits from are signed
    # with the network, so ``verify`` can take them from here rather than the network table.
    fields = {
        **{name: value for name, value in record.items() if name not in ("created_at", "network")},
        "member_limit_lower": settings.member_limit_lower,
        "clearing_limit": settings.clearing_limit,
    }
    admin_record = sign_record(ledger, admin_signer, "network_created", created_at, **fields)
    ledger.write(lambda connection: write_record(connection, ledger, admin_record))
    return ledger


def _insert_network(
    connection: Connection,
    settings: NetworkSettings,
    network_id: str,
    genesis: str,
    record: dict,
    created_at: str,
) -> None:
    from mutualcredit.domain.canonical import canonical_json

    connection.execute(
        insert(core_table(models.Network)),
        {
            "id": network_id,
            "name": settings.name,
            "card": settings.card,
            "timezone": settings.timezone,
            "member_limit_lower": settings.member_limit_lower,
            "clearing_limit": settings.clearing_limit,
            "admin": settings.admin,
            "genesis_hash": genesis,
            "creation_record": canonical_json(record).decode(),
            "created_at": created_at,
        },
    )
    connection.execute(
        insert(core_table(models.Currency)),
        {"code": settings.card, "scale": settings.scale, "rate": "1", "created_at": created_at},
    )
    connection.execute(
        insert(core_table(models.ChainHead)), {"id": 1, "seq": 0, "chain_hash": genesis}
    )
    connection.execute(
        insert(core_table(models.Member)),
        {
            "handle": settings.admin,
            "name": settings.admin,
            "collective": None,
            "status": "open",
            "created_at": created_at,
        },
    )
    connection.execute(
        insert(core_table(models.Key)),
        {"handle": settings.admin, "public_key": record["admin_key"], "created_at": created_at},
    )
    connection.execute(
        insert(core_table(models.Role)),
        {
            "handle": settings.admin,
            "role": "admin",
            "collective": None,
            "granted_at": created_at,
            "granted_by": settings.admin,
        },
    )


# -- who may ---------------------------------------------------------------------------------


def roles_of(connection: Connection, handle: str) -> list[tuple[str, str | None]]:
    rows = connection.execute(
        text("SELECT role, collective FROM role WHERE handle = :h AND revoked_at IS NULL"),
        {"h": handle},
    )
    return [(row.role, row.collective) for row in rows]


def require(
    connection: Connection, handle: str, *, what: str, collective: str | None = None
) -> None:
    """Refuse unless ``handle`` is the admin or a coordinator of ``collective``."""
    if coordinates(roles_of(connection, handle), collective):
        return
    where = f" of {collective}" if collective else ""
    raise NotAuthorised(f"{handle} may not {what}: it needs the admin or a coordinator{where}")


# -- currencies and collectives --------------------------------------------------------------


def add_currency(
    ledger: Ledger, signer: Signer, *, code: str, scale: int, rate: Fraction
) -> Currency:
    validate_currency_code(code)
    validate_scale(scale)
    created_at = iso(now())
    record = sign_record(
        ledger, signer, "currency_added", created_at, code=code, scale=scale, rate=format_rate(rate)
    )

    def work(connection: Connection) -> None:
        require(connection, signer.handle, what="add a currency")
        _insert_currency(connection, code, scale, rate, created_at)
        write_record(connection, ledger, record)

    ledger.write(work)
    ledger.reload_currencies()
    return ledger.currencies[code]


def _insert_currency(
    connection: Connection, code: str, scale: int, rate: Fraction, created_at: str
) -> None:
    exists = connection.execute(
        text("SELECT code FROM currency WHERE code = :c"), {"c": code}
    ).scalar()
    if exists:
        raise AlreadyExists(f"currency {code} already exists")
    connection.execute(
        insert(core_table(models.Currency)),
        {
            "code": code,
            "scale": scale,
            "rate": f"{rate.numerator}/{rate.denominator}",
            "created_at": created_at,
        },
    )


def add_collective(
    ledger: Ledger,
    signer: Signer,
    *,
    slug: str,
    name: str,
    currency: str | None = None,
    rate: Fraction | None = None,
    member_limit_lower: int | None = None,
    clearing_limit: int | None = None,
) -> None:
    """Add a collective with its fund, clearing and network-clearing accounts."""
    validate_handle(slug, what="collective slug")
    validate_text(name, what="collective name", length_max=DISPLAY_NAME_LENGTH_MAX)
    code = validate_currency_code(currency) if currency else ledger.network.card
    bound = ledger.network.clearing_limit if clearing_limit is None else clearing_limit
    created_at = iso(now())
    record = sign_record(
        ledger,
        signer,
        "collective_added",
        created_at,
        slug=slug,
        name=name,
        currency=code,
        rate=format_rate(rate or Fraction(1)),
        clearing_limit=bound,
        member_limit_lower=member_limit_lower,
    )

    def work(connection: Connection) -> None:
        require(connection, signer.handle, what="add a collective")
        if connection.execute(
            text("SELECT slug FROM collective WHERE slug = :s"), {"s": slug}
        ).scalar():
            raise AlreadyExists(f"collective {slug} already exists")
        known = connection.execute(
            text("SELECT code FROM currency WHERE code = :c"), {"c": code}
        ).scalar()
        if not known:
            _insert_currency(connection, code, ledger.card.scale, rate or Fraction(1), created_at)
        connection.execute(
            insert(core_table(models.Collective)),
            {
                "slug": slug,
                "name": name,
                "currency": code,
                "member_limit_lower": member_limit_lower,
                "clearing_limit": bound,
                "created_at": created_at,
            },
        )
        for account_name, account_currency, kind, lower, upper in (
            (f"collectives:{slug}:fund", code, "fund", None, None),
            (f"collectives:{slug}:clearing", code, "clearing", None, None),
            (f"network:clearing:{slug}", ledger.network.card, "network_clearing", -bound, bound),
        ):
            insert_account(
                connection,
                name=account_name,
                currency=account_currency,
                owner_kind="network" if kind == "network_clearing" else "collective",
                owner=None if kind == "network_clearing" else slug,
                collective=slug,
                kind=kind,
                limit_lower=lower,
                limit_upper=upper,
                created_at=created_at,
            )
        write_record(connection, ledger, record)

    ledger.write(work)
    ledger.reload_currencies()


def collective_row(connection: Connection, slug: str):  # type: ignore[no-untyped-def]
    row = connection.execute(
        text("SELECT * FROM collective WHERE slug = :s"), {"s": slug}
    ).one_or_none()
    if row is None:
        raise NotFound(f"collective {slug} does not exist", code="collective_not_found")
    return row


# -- members ---------------------------------------------------------------------------------


def add_member(
    ledger: Ledger,
    signer: Signer,
    *,
    handle: str,
    collective: str,
    public_key: str,
    name: str | None = None,
    limit_lower: int | None = None,
    limit_upper: int | None = None,
    coordinator: bool = False,
) -> str:
    """Admit a member with an account ``members:<handle>`` and a registered public key."""
    validate_handle(handle)
    validate_handle(collective, what="collective slug")
    display = name if name is not None else handle
    validate_text(display, what="display name", length_max=DISPLAY_NAME_LENGTH_MAX)
    created_at = iso(now())
    record = sign_record(
        ledger,
        signer,
        "member_added",
        created_at,
        handle=handle,
        collective=collective,
        name=display,
        public_key=public_key,
        limit_lower=limit_lower,
        limit_upper=limit_upper,
        coordinator=coordinator,
    )

    def work(connection: Connection) -> str:
        row = collective_row(connection, collective)
        require(
            connection, signer.handle, what=f"admit members to {collective}", collective=collective
        )
        if connection.execute(
            text("SELECT handle FROM member WHERE handle = :h"), {"h": handle}
        ).scalar():
            raise AlreadyExists(f"member {handle} already exists")
        if connection.execute(
            text("SELECT id FROM key WHERE public_key = :k"), {"k": public_key}
        ).scalar():
            raise AlreadyExists("that public key is already registered to someone")
        lower = limit_lower
        if lower is None:
            lower = (
                row.member_limit_lower
                if row.member_limit_lower is not None
                else ledger.network.member_limit_lower
            )
        connection.execute(
            insert(core_table(models.Member)),
            {
                "handle": handle,
                "name": display,
                "collective": collective,
                "status": "open",
                "created_at": created_at,
            },
        )
        connection.execute(
            insert(core_table(models.Key)),
            {"handle": handle, "public_key": public_key, "created_at": created_at},
        )
        account = f"members:{handle}"
        insert_account(
            connection,
            name=account,
            currency=row.currency,
            owner_kind="member",
            owner=handle,
            collective=collective,
            kind="member",
            limit_lower=lower,
            limit_upper=limit_upper,
            created_at=created_at,
        )
        if coordinator:
            connection.execute(
                insert(core_table(models.Role)),
                {
                    "handle": handle,
                    "role": "coordinator",
                    "collective": collective,
                    "granted_at": created_at,
                    "granted_by": signer.handle,
                },
            )
        write_record(connection, ledger, record)
        return account

    return ledger.write(work)


def member_row(connection: Connection, handle: str):  # type: ignore[no-untyped-def]
    row = connection.execute(
        text("SELECT * FROM member WHERE handle = :h"), {"h": handle}
    ).one_or_none()
    if row is None:
        raise NotFound(f"member {handle} does not exist", code="member_not_found")
    return row


def close_member(ledger: Ledger, signer: Signer, *, handle: str) -> None:
    """Close a member and their account (only with a zero balance and nothing on hold)."""
    created_at = iso(now())
    record = sign_record(ledger, signer, "member_closed", created_at, handle=handle)

    def work(connection: Connection) -> None:
        member = member_row(connection, handle)
        require(connection, signer.handle, what=f"close {handle}", collective=member.collective)
        if member.status != "open":
            raise Refused(f"member {handle} is already closed", code="already_closed")
        _close_account_row(connection, f"members:{handle}", created_at)
        connection.execute(
            text("UPDATE member SET status = 'closed', closed_at = :at WHERE handle = :h"),
            {"at": created_at, "h": handle},
        )
        write_record(connection, ledger, record)

    ledger.write(work)


# -- accounts --------------------------------------------------------------------------------


def account_kind(name: str) -> str:
    """The kind of an account added by name; it decides who may debit it.

    ``collectives:<slug>:issuance`` is where a collective's card is issued
    from against Reais received (festival imports): its importer may debit it
    in import transfers, so the card comes into being only alongside income.
    """
    segments = name.split(":")
    if segments[0] == "income":
        return "income"
    if segments[0] == "collectives" and len(segments) == 3 and segments[2] == "issuance":
        return "issuance"
    if "cash" in segments[1:-1] or segments[-1] == "cash":
        return "cash"
    if segments[0] == "collectives" and len(segments) >= 4 and segments[2] == "resources":
        return "resource"
    return "other"


def insert_account(
    connection: Connection,
    *,
    name: str,
    currency: str,
    owner_kind: str,
    owner: str | None,
    collective: str | None,
    kind: str,
    limit_lower: int | None,
    limit_upper: int | None,
    created_at: str,
) -> int:
    exists = connection.execute(
        text("SELECT id FROM account WHERE name = :n"), {"n": name}
    ).scalar()
    if exists:
        raise AlreadyExists(f"account {name} already exists")
    table = core_table(models.Account)
    return int(
        connection.execute(
            insert(table).returning(table.c.id),
            {
                "name": name,
                "currency": currency,
                "owner_kind": owner_kind,
                "owner": owner,
                "collective": collective,
                "kind": kind,
                "limit_lower": limit_lower,
                "limit_upper": limit_upper,
                "status": "open",
                "created_at": created_at,
                "posted_debits": 0,
                "posted_credits": 0,
                "pending_debits": 0,
                "pending_credits": 0,
            },
        ).scalar_one()
    )


def add_account(
    ledger: Ledger,
    signer: Signer,
    *,
    name: str,
    currency: str,
    owner: str,
    limit_lower: int | None,
    limit_upper: int | None,
) -> None:
    """Add an account owned by a collective (``owner`` its slug) or the network (``network``)."""
    validate_account_name(name)
    if name.startswith(("members:", "network:clearing:")) or name.endswith(":clearing"):
        raise UsageError(
            f"{name} is a reserved account name; members and clearing accounts "
            "are made with their member or collective",
            code="reserved_name",
        )
    ledger.currency(currency)
    created_at = iso(now())
    record = sign_record(
        ledger,
        signer,
        "account_added",
        created_at,
        name=name,
        currency=currency,
        owner=owner,
        limit_lower=limit_lower,
        limit_upper=limit_upper,
    )

    def work(connection: Connection) -> None:
        collective = None if owner == "network" else owner
        if collective is not None:
            collective_row(connection, collective)
        require(connection, signer.handle, what=f"add accounts for {owner}", collective=collective)
        issuers = {
            str(slug)
            for (slug,) in connection.execute(
                text("SELECT slug FROM collective WHERE currency = :c"), {"c": currency}
            )
        }
        problem = account_shape_problem(
            name, owner, currency, issuers=lambda code: issuers, network_card=ledger.network.card
        )
        if problem is not None:
            raise Refused(problem, code="account_invalid", account=name)
        insert_account(
            connection,
            name=name,
            currency=currency,
            owner_kind="network" if collective is None else "collective",
            owner=collective,
            collective=collective,
            kind=account_kind(name),
            limit_lower=limit_lower,
            limit_upper=limit_upper,
            created_at=created_at,
        )
        write_record(connection, ledger, record)

    ledger.write(work)


def set_issuance(
    ledger: Ledger, signer: Signer, *, collective: str, against: str, rate: Fraction, into: str
) -> Issuance:
    """Fix, by the admin's signed ``issuance_set`` record, how ``collective``'s card is issued
    in imports: ``rate`` card per unit of ``against`` income, credited to ``into`` (an
    account of the collective in its own card).  A later record replaces it."""
    validate_handle(collective, what="collective slug")
    validate_currency_code(against)
    validate_account_name(into)
    if rate <= 0:
        raise UsageError("an issuance rate must be greater than zero", code="invalid_rate")
    created_at = iso(now())
    record = sign_record(
        ledger,
        signer,
        "issuance_set",
        created_at,
        collective=collective,
        against=against,
        rate=format_rate(rate),
        into=into,
    )

    def work(connection: Connection) -> None:
        require(connection, signer.handle, what="fix how a collective's card is issued")
        card = collective_row(connection, collective).currency
        ledger.currency(against)
        target = account_row(connection, into)
        if (
            target.collective != collective
            or target.owner_kind != "collective"
            or target.currency != card
            or target.kind in ("clearing", "issuance")
        ):
            raise Refused(
                f"{into} is not an account of {collective} in its card {card}",
                code="issuance_invalid",
                account=into,
            )
        account_row(connection, f"collectives:{collective}:issuance")
        write_record(connection, ledger, record)

    ledger.write(work)
    return Issuance(collective=collective, against=against, rate=rate, into=into)


def account_row(connection: Connection, name: str):  # type: ignore[no-untyped-def]
    row = connection.execute(
        text("SELECT * FROM account WHERE name = :n"), {"n": name}
    ).one_or_none()
    if row is None:
        raise NotFound(f"account {name} does not exist", code="account_not_found")
    return row


def close_account(ledger: Ledger, signer: Signer, *, name: str) -> None:
    created_at = iso(now())
    record = sign_record(ledger, signer, "account_closed", created_at, name=name)

    def work(connection: Connection) -> None:
        row = account_row(connection, name)
        require(connection, signer.handle, what=f"close {name}", collective=row.collective)
        if row.kind in ("clearing", "network_clearing", "fund"):
            raise Refused(
                f"{name} belongs to its collective and cannot be closed", code="not_closable"
            )
        _close_account_row(connection, name, created_at)
        write_record(connection, ledger, record)

    ledger.write(work)


def _close_account_row(connection: Connection, name: str, created_at: str) -> None:
    row = account_row(connection, name)
    if row.status != "open":
        raise Refused(f"account {name} is already closed", code="already_closed")
    balance = row.posted_credits - row.posted_debits
    if balance or row.pending_debits or row.pending_credits:
        raise Refused(
            f"account {name} still has a balance or holds; settle it first",
            code="account_not_empty",
            balance=balance,
        )
    connection.execute(
        text("UPDATE account SET status = 'closed', closed_at = :at WHERE id = :i"),
        {"at": created_at, "i": row.id},
    )


# -- roles and limits ------------------------------------------------------------------------


def change_role(
    ledger: Ledger, signer: Signer, *, handle: str, role: str, collective: str | None, grant: bool
) -> None:
    if role not in ROLES:
        raise UsageError(f"role {role!r} is not one of {', '.join(ROLES)}", code="invalid_role")
    if role == "coordinator" and collective is None:
        raise UsageError("a coordinator role needs --collective", code="invalid_role")
    scope = None if role == "admin" else collective
    created_at = iso(now())
    record = sign_record(
        ledger,
        signer,
        "role_granted" if grant else "role_revoked",
        created_at,
        handle=handle,
        role=role,
        collective=scope,
    )

    def work(connection: Connection) -> None:
        member_row(connection, handle)
        if scope is not None:
            collective_row(connection, scope)
        require(
            connection,
            signer.handle,
            what=f"change roles of {handle}",
            collective=scope if role != "admin" else None,
        )
        active = connection.execute(
            text(
                "SELECT id FROM role WHERE handle = :h AND role = :r AND revoked_at IS NULL AND "
                "(collective = :c OR (collective IS NULL AND :c IS NULL))"
            ),
            {"h": handle, "r": role, "c": scope},
        ).scalar()
        if grant and active:
            raise AlreadyExists(f"{handle} is already {role}" + (f" of {scope}" if scope else ""))
        if not grant and not active:
            raise NotFound(
                f"{handle} is not {role}" + (f" of {scope}" if scope else ""), code="role_not_found"
            )
        if grant:
            connection.execute(
                insert(core_table(models.Role)),
                {
                    "handle": handle,
                    "role": role,
                    "collective": scope,
                    "granted_at": created_at,
                    "granted_by": signer.handle,
                },
            )
        else:
            connection.execute(
                text("UPDATE role SET revoked_at = :at, revoked_by = :by WHERE id = :i"),
                {"at": created_at, "by": signer.handle, "i": active},
            )
        write_record(connection, ledger, record, event_type="role")

    ledger.write(work)


UNCHANGED = object()


def _check_limit_fits(row, new_lower, new_upper, scale: int) -> None:  # type: ignore[no-untyped-def]
    """A new limit may not already be passed: no account is ever beyond its limits.

    To stop a member in debt from spending more, set the line to what they use now.
    """
    balance = row.posted_credits - row.posted_debits
    low = balance - row.pending_debits
    high = balance + row.pending_credits
    shown = f" {row.currency}"
    if new_lower is not None and low < new_lower:
        raise Refused(
            f"{row.name} is at {format_amount(low, scale)}{shown} counting holds; a lower "
            f"limit of {format_amount(new_lower, scale)}{shown} would already be passed "
            f"(the tightest possible now is {format_amount(low, scale)}{shown})",
            code="limit_already_passed",
            account=row.name,
            currency=row.currency,
            limit=format_amount(new_lower, scale),
            at=format_amount(low, scale),
        )
    if new_upper is not None and high > new_upper:
        raise Refused(
            f"{row.name} is at {format_amount(high, scale)}{shown} counting incoming holds; "
            f"an upper limit of {format_amount(new_upper, scale)}{shown} would already be "
            "passed",
            code="limit_already_passed",
            account=row.name,
            currency=row.currency,
            limit=format_amount(new_upper, scale),
            at=format_amount(high, scale),
        )


def set_limit(
    ledger: Ledger,
    signer: Signer,
    *,
    account: str,
    reason: str,
    limit_lower: int | None | object = UNCHANGED,
    limit_upper: int | None | object = UNCHANGED,
) -> dict:
    """Change an account's limits; a signed, recorded event with old and new values."""
    validate_text(reason, what="reason")
    if not reason.strip():
        raise UsageError("a limit change needs a --reason", code="reason_required")
    created_at = iso(now())

    def work(connection: Connection) -> dict:
        row = account_row(connection, account)
        if ledger.is_postgres:  # lock it, so the old limits recorded are the ones replaced
            connection.execute(
                text("SELECT id FROM account WHERE id = :i FOR UPDATE"), {"i": row.id}
            )
            row = account_row(connection, account)
        # A clearing account's limits bound what its collective may owe the network: the
        # network's risk, set by the admin alone.
        require(
            connection,
            signer.handle,
            what=f"change limits of {account}",
            collective=None if is_clearing_name(account) else row.collective,
        )
        new_lower = row.limit_lower if limit_lower is UNCHANGED else limit_lower
        new_upper = row.limit_upper if limit_upper is UNCHANGED else limit_upper
        assert new_lower is None or isinstance(new_lower, int), new_lower
        assert new_upper is None or isinstance(new_upper, int), new_upper
        scale = ledger.currencies[row.currency].scale
        _check_limit_fits(row, new_lower, new_upper, scale)
        if new_lower is not None and new_upper is not None and new_upper < new_lower:
            raise UsageError(
                f"upper limit {format_amount(new_upper, scale)} is below lower limit "
                f"{format_amount(new_lower, scale)}",
                code="invalid_limit",
            )
        change = {
            "account": account,
            "old_lower": row.limit_lower,
            "new_lower": new_lower,
            "old_upper": row.limit_upper,
            "new_upper": new_upper,
            "reason": reason,
        }
        record = sign_record(ledger, signer, "limit_change", created_at, **change)
        table = core_table(models.LimitChange)
        change_id = connection.execute(
            insert(table).returning(table.c.id),
            {
                "account_id": row.id,
                "author": signer.handle,
                "old_lower": row.limit_lower,
                "new_lower": new_lower,
                "old_upper": row.limit_upper,
                "new_upper": new_upper,
                "reason": reason,
                "body": record.body.split(b"\n", 1)[1].decode(),
                "body_hash": record.body_hash,
                "key_id": key_id_of(connection, signer.public_key, signer.handle),
                "signature": record.signature,
                "created_at": created_at,
            },
        ).scalar_one()
        connection.execute(
            text("UPDATE account SET limit_lower = :lo, limit_upper = :up WHERE id = :i"),
            {"lo": new_lower, "up": new_upper, "i": row.id},
        )
        from mutualcredit.services.chain import append_events

        append_events(
            connection, ledger, [("limit_change", int(change_id), record.body_hash, created_at)]
        )
        return {"id": int(change_id), "author": signer.handle, "created_at": created_at, **change}

    return ledger.write(work)
