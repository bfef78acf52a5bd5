"""``verify``'s check of the state tables against the chain's signed records.

The writers read tables — a member's limits from ``account``, the default
credit line from ``collective`` and ``network``, who may act from ``role``,
a resource's rules from ``resource``, whether a row was imported from
``import_row`` — and anyone holding the database file can edit those tables.
(``import_row`` is compared with each import's signed body where the workers
read the bodies, :mod:`verify_workers`; here only its rows of no import.)
So each row the writers read is recomputed here from the signed records that
made and changed it (a network's creation, a currency, collective, member,
account or resource added or closed, a role granted or revoked, a
settlement), folded once in chain order, and compared column by column: a
row that differs is ``column_mismatch`` naming the columns, a row no signed
record made is ``row_not_recorded``, a row a signed record made that is
missing is ``row_missing``.

Each account's limits as of each event come from here too (the record that
made it, with its collective's and the network's signed defaults, then its
signed limit changes): :class:`~mutualcredit.services.verify_transfers.Replay`
starts every account from :attr:`SignedState.limits`, never from the table.

The work is per record and per state row (members, accounts, roles,
resources: thousands), not per transfer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import format_amount

Row = dict[str, Any]
Problem = Callable[..., None]  # Verifier.problem


@dataclass
class SignedState:
    """The state tables as the signed records say they are, by table and key."""

    network: Row = field(default_factory=dict)
    currencies: dict[str, Row] = field(default_factory=dict)
    collectives: dict[str, Row] = field(default_factory=dict)
    members: dict[str, Row] = field(default_factory=dict)
    accounts: dict[str, Row] = field(default_factory=dict)
    resources: dict[str, Row] = field(default_factory=dict)
    settlements: dict[int, Row] = field(default_factory=dict)  # record id -> row
    # account name -> (lower, upper) the record that made it gave it
    limits: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def fold(
    creation: dict[str, Any],
    records: Iterable[tuple[int, int, dict[str, Any], str]],
    *,
    card_scale: int,
    default_lower: Any,
    default_clearing: Any,
) -> SignedState:
    """Fold the signed records, in chain order, into :class:`SignedState`.

    ``creation`` is the network's creation record (its genesis);
    ``records``: ``(event, record id, signed body, author)``.  ``default_lower`` and
    ``default_clearing`` are the network table's defaults, taken only for a ledger
    made before they were signed with the network (its ``network_created`` record
    lacks them)."""
    state = SignedState()
    card = str(creation.get("card"))
    state.network = {
        "name": creation.get("name"),
        "card": card,
        "timezone": creation.get("timezone"),
        "admin": creation.get("admin"),
        "created_at": creation.get("created_at"),
        "member_limit_lower": default_lower,
        "clearing_limit": default_clearing,
    }
    state.currencies[card] = {
        "scale": creation.get("scale"),
        "rate": "1",
        "created_at": creation.get("created_at"),
    }
    state.members[str(creation.get("admin"))] = {  # the admin is made with the network
        "name": creation.get("admin"),
        "collective": None,
        "status": "open",
        "created_at": creation.get("created_at"),
        "closed_at": None,
    }
    for _seq, record_id, body, author in records:
        _fold_one(state, record_id, body, author, card_scale)
    return state


def _fold_one(
    state: SignedState, record_id: int, body: dict[str, Any], author: str, card_scale: int
) -> None:
    kind, at = body.get("type"), body.get("created_at")
    if kind == "network_created":
        for name in ("member_limit_lower", "clearing_limit"):
            if name in body:
                state.network[name] = body[name]
    elif kind == "currency_added":
        state.currencies.setdefault(
            str(body.get("code")),
            {"scale": body.get("scale"), "rate": body.get("rate"), "created_at": at},
        )
    elif kind == "collective_added":
        _collective(state, body, card_scale)
    elif kind == "member_added":
        _member(state, body)
    elif kind == "account_added":
        name = str(body.get("name"))
        _account(
            state, name, body.get("currency"), body.get("limit_lower"), body.get("limit_upper"), at
        )
    elif kind == "resource_added":
        _resource(state, body, author)
    elif kind in ("member_closed", "account_closed", "resource_closed"):
        _close(state, kind, body)
    elif kind == "settlement":
        state.settlements[record_id] = {
            "first_day": body.get("first"),
            "last_day": body.get("last"),
            "settled_by": author,
            "settled_at": at,
            "transfers": len(body.get("transfers") or ()),
            "positions": body.get("positions"),
            "total": body.get("transfers"),
        }


def _account(state: SignedState, name: str, currency: Any, lower: Any, upper: Any, at: Any) -> None:
    if name in state.accounts:
        return  # the first record naming an account decides, as the writer refuses a second
    state.accounts[name] = {
        "currency": currency,
        "status": "open",
        "created_at": at,
        "closed_at": None,
    }
    state.limits[name] = (lower, upper)


def _collective(state: SignedState, body: dict[str, Any], card_scale: int) -> None:
    slug, at = str(body.get("slug")), body.get("created_at")
    code, bound = body.get("currency"), body.get("clearing_limit")
    state.collectives.setdefault(
        slug,
        {
            "name": body.get("name"),
            "currency": code,
            "member_limit_lower": body.get("member_limit_lower"),
            "clearing_limit": bound,
            "created_at": at,
        },
    )
    state.currencies.setdefault(
        str(code), {"scale": card_scale, "rate": body.get("rate"), "created_at": at}
    )
    _account(state, f"collectives:{slug}:fund", code, None, None, at)
    _account(state, f"collectives:{slug}:clearing", code, None, None, at)
    negative = -bound if isinstance(bound, int) else None
    _account(state, f"network:clearing:{slug}", state.network["card"], negative, bound, at)


def _member(state: SignedState, body: dict[str, Any]) -> None:
    """A member and their account; an unset lower limit is the collective's default, or
    the network's, as signed — what the writer gave the account."""
    handle, slug, at = str(body.get("handle")), body.get("collective"), body.get("created_at")
    state.members.setdefault(
        handle,
        {
            "name": body.get("name"),
            "collective": slug,
            "status": "open",
            "created_at": at,
            "closed_at": None,
        },
    )
    collective = state.collectives.get(str(slug), {})
    lower = body.get("limit_lower")
    if lower is None:
        lower = collective.get("member_limit_lower")
    if lower is None:
        lower = state.network.get("member_limit_lower")
    _account(
        state, f"members:{handle}", collective.get("currency"), lower, body.get("limit_upper"), at
    )


def _resource(state: SignedState, body: dict[str, Any], author: str) -> None:
    fields = (
        "collective",
        "name",
        "currency",
        "per",
        "units",
        "duration_min",
        "duration_max",
        "lead",
        "cancel_window",
        "cancel_fee_percent",
        "grace",
    )
    slug = str(body.get("slug"))
    if slug in state.resources:
        return
    state.resources[slug] = {
        **{name: body.get(name) for name in fields},
        "account": body.get("account"),
        "price": body.get("price"),
        "status": "open",
        "created_at": body.get("created_at"),
        "created_by": author,
        "closed_at": None,
    }
    _account(
        state, str(body.get("account")), body.get("currency"), None, None, body.get("created_at")
    )


def _close(state: SignedState, kind: str, body: dict[str, Any]) -> None:
    at = body.get("created_at")
    if kind == "member_closed":
        handle = str(body.get("handle"))
        targets = [state.members.get(handle), state.accounts.get(f"members:{handle}")]
    elif kind == "account_closed":
        targets = [state.accounts.get(str(body.get("name")))]
    else:
        targets = [state.resources.get(str(body.get("slug")))]
    for row in targets:
        if row is not None and row["status"] == "open":
            row.update(status="closed", closed_at=at)


# -- the comparison ------------------------------------------------------------------------------


def compare_tables(
    connection: Connection,
    state: SignedState,
    problem: Problem,
    currencies: dict[str, Any],
    roles: list[list[Any]],
) -> None:
    """Each state table's rows against the signed records (see the module docstring)."""
    network = connection.execute(
        text(
            "SELECT name, card, timezone, admin, created_at, member_limit_lower, clearing_limit "
            "FROM network"
        )
    ).one()
    _differs(problem, "network", dict(network._mapping), state.network)
    # (the rate is compared by Verifier._check_currencies, in its own words)
    _table(
        connection,
        problem,
        "currency",
        "code",
        "SELECT code, scale, created_at FROM currency",
        state.currencies,
    )
    _table(
        connection,
        problem,
        "collective",
        "slug",
        "SELECT slug, name, currency, "
        "member_limit_lower, clearing_limit, created_at FROM collective",
        state.collectives,
    )
    _table(
        connection,
        problem,
        "member",
        "handle",
        "SELECT handle, name, collective, status, created_at, closed_at FROM member",
        state.members,
    )
    _table(
        connection,
        problem,
        "account",
        "name",
        "SELECT name, currency, status, created_at, closed_at FROM account",
        state.accounts,
    )
    _resources(connection, state, problem, currencies)
    _roles(connection, problem, roles)
    card = currencies.get(state.network["card"])
    _settlements(
        connection,
        state,
        problem,
        int(card.scale)
        if card is not None
        else int(state.currencies[state.network["card"]]["scale"] or 0),
    )
    _import_register(connection, problem)
    _stored_checkpoints(connection, problem)
    _bookings(connection, problem, currencies)


def report_summaries(connection: Connection, ledger: Any, problem: Problem) -> None:
    """The report summaries (``report_*``), which ``settle`` reads the positions it pays
    from, are the fold of the chain's transfers up to their watermark
    (:func:`mutualcredit.services.reports.fold`, recomputed here from the posting rows,
    which the workers compare with the signed postings)."""
    from zoneinfo import ZoneInfo

    from mutualcredit.services import reports

    watermark = connection.execute(
        text("SELECT event_seq FROM report_watermark WHERE id = 1")
    ).scalar()
    head = connection.execute(text("SELECT MAX(event_seq) FROM transfer")).scalar()
    if watermark is None:
        problem(
            "row_missing",
            "report watermark",
            "the report summaries' watermark row is missing: it was deleted",
        )
        return
    if int(watermark) > int(head or 0):
        problem(
            "column_mismatch",
            "report watermark",
            f"the report summaries say they hold the transfers up to event {watermark}, "
            f"past the last transfer (event {head or 0}): the watermark was edited, and "
            "the transfers after it would never be counted",
        )
    accounts = {
        int(row.id): (row.collective, row.kind, row.currency)
        for row in connection.execute(text("SELECT id, collective, kind, currency FROM account"))
    }
    home: dict[str, str] = {
        str(slug): str(code)
        for slug, code in connection.execute(text("SELECT slug, currency FROM collective"))
    }
    rows = _summary_rows(connection, ledger, int(watermark))
    known = (
        (i, kind, at, hours, account, amount)
        for i, kind, at, hours, account, amount in rows
        if int(account) in accounts
    )  # a posting of no account is named by the replay
    try:
        days = reports.LocalDays(ZoneInfo(ledger.network.timezone))
    except (ValueError, KeyError):
        return  # the network's time zone is compared with its creation record
    # the fold's own aggregation, so the two cannot drift apart
    account_days, collective_days, currency_days = reports._aggregate(known, accounts, home, days)
    months: dict[tuple[str, int], list[int]] = {}
    for (day, account), values in account_days.items():
        entry = months.setdefault((day[:7], account), [0, 0, 0, 0, 0])
        for index, value in enumerate(values):
            entry[index] += value
    summary = "credits, debits, postings, hours, issued"
    for table, key, columns, expected in (
        ("report_account_day", "day, account_id", summary, account_days),
        ("report_account_month", "month, account_id", summary, months),
        ("report_collective_day", "day, collective", "exchanges, hours", collective_days),
        (
            "report_currency_day",
            "day, currency",
            "paid",
            {k: [v] for k, v in currency_days.items()},
        ),
    ):
        stored = {
            (row[0], row[1]): [int(v) for v in row[2:]]
            for row in connection.execute(text(f"SELECT {key}, {columns} FROM {table}"))
        }
        recomputed = {k: list(v) for k, v in expected.items()}
        if stored != recomputed:
            differing = sorted(
                {*stored, *recomputed} - {k for k in stored if stored[k] == recomputed.get(k)},
                key=str,
            )
            first = differing[0]
            problem(
                "column_mismatch",
                f"{table} {first[0]} {first[1]}",
                f"{table} holds {stored.get(first)} ({columns}) for {first[0]} "
                f"{first[1]} but the transfers up to event {watermark} fold to "
                f"{recomputed.get(first)} ({len(differing)} row"
                f"{'s' if len(differing) != 1 else ''} differ): the summaries were edited, "
                "and settle and the reports read them",
            )


def _summary_rows(connection: Connection, ledger: Any, upper: int) -> Any:
    """What :func:`~mutualcredit.services.reports.fold` folds, up to event ``upper``.  A body
    that is not JSON (edited: reported by the workers) has no hours, and must not stop the
    query: SQLite asks ``json_valid``; PostgreSQL 15 has no such test, so the query runs in a
    savepoint and, should a body fail the cast, again with the hours read here."""
    import json

    from sqlalchemy.exc import DBAPIError

    from mutualcredit.services import reports

    sql = (
        "SELECT t.id, t.kind, t.created_at, {hours} AS hours, p.account_id, p.amount "
        "FROM transfer t JOIN posting p ON p.transfer_id = t.id "
        "WHERE t.event_seq <= :upper AND t.kind != 'hold' ORDER BY t.event_seq, p.id"
    )
    if connection.dialect.name == "sqlite":
        hours = f"CASE WHEN json_valid(t.body) THEN {reports.hours_expression(ledger)} END"
        return connection.execute(text(sql.format(hours=hours)), {"upper": upper})
    savepoint = connection.begin_nested()
    try:
        found = connection.execute(
            text(sql.format(hours=reports.hours_expression(ledger))), {"upper": upper}
        ).all()
        savepoint.commit()
        return found
    except DBAPIError:
        savepoint.rollback()

    def read_hours(body: str) -> Any:
        try:
            return json.loads(body)["meta"].get("hours")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    return [
        (i, kind, at, read_hours(body), account, amount)
        for i, kind, at, body, account, amount in connection.execute(
            text(sql.format(hours="t.body")), {"upper": upper}
        )
    ]


BOOKING_SQL = (
    "SELECT b.id, b.booker, b.start_at, b.end_at, b.status, b.price, b.charged, b.hold_id, "
    "b.resolution_id, b.memo, b.created_at, b.resolved_at, b.resolved_by, r.slug, "
    "h.kind AS hold_kind, h.author AS hold_author, h.body AS hold_body, h.memo AS hold_memo, "
    "h.created_at AS hold_at FROM booking b LEFT JOIN resource r ON r.id = b.resource_id "
    "LEFT JOIN transfer h ON h.id = b.hold_id ORDER BY b.id"
)


def _bookings(connection: Connection, problem: Problem, currencies: dict[str, Any]) -> None:
    """Each booking is what its signed hold (``meta.booking``: resource, start, end, price;
    its author the booker) and the hold's signed resolution say — the bookings service
    reads the table to find a slot taken and a booking still held — and every hold made
    for a booking has its row (a deleted one frees its slot for a second booking)."""
    import json

    resolutions = {
        int(row.resolves_id): row
        for row in connection.execute(
            text(
                "SELECT x.id, x.resolves_id, x.kind, x.author, x.created_at, x.idempotency_key "
                "FROM transfer x JOIN booking b ON b.hold_id = x.resolves_id"
            )
        )
    }
    charged: dict[int, int] = {}
    for transfer_id, amount in connection.execute(
        text(
            "SELECT p.transfer_id, p.amount FROM posting p "
            "JOIN transfer x ON x.id = p.transfer_id JOIN booking b ON b.hold_id = x.resolves_id "
            "JOIN resource r ON r.id = b.resource_id AND r.account_id = p.account_id "
            "WHERE p.amount > 0"
        )
    ):
        charged[int(transfer_id)] = charged.get(int(transfer_id), 0) + int(amount)
    holds = set()
    for row in connection.execute(text(BOOKING_SQL)):
        subject = f"booking {row.id}"
        holds.add(row.hold_id)
        try:
            signed = json.loads(row.hold_body)["meta"]["booking"]
            currency = currencies[signed["currency"]]
            price = format_amount(int(row.price), currency.scale)
        except (TypeError, ValueError, KeyError):
            signed, price = None, None
        if row.hold_kind != "hold" or not isinstance(signed, dict):
            problem(
                "row_not_recorded",
                subject,
                f"{subject} names transfer {row.hold_id} as its hold, which is no signed "
                "hold of a booking: it was inserted or edited",
            )
            continue
        memo_ok = row.memo == row.hold_memo or (
            row.memo == "" and row.hold_memo == f"booking of {signed.get('resource')}"
        )
        expected = {
            "resource": signed.get("resource"),
            "booker": row.hold_author,
            "start_at": signed.get("start"),
            "end_at": signed.get("end"),
            "price": signed.get("price"),
            "created_at": row.hold_at,
        }
        actual = {
            "resource": row.slug,
            "booker": row.booker,
            "start_at": row.start_at,
            "end_at": row.end_at,
            "price": price,
            "created_at": row.created_at,
        }
        expected.update(_booking_resolution(row, resolutions.get(int(row.hold_id)), charged))
        actual.update(
            status=row.status,
            resolution_id=row.resolution_id,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
            charged=row.charged,
        )
        differing = [
            name for name, value in actual.items() if expected.get(name, value) != value
        ] + ([] if memo_ok else ["memo"])
        if differing:
            problem(
                "column_mismatch",
                subject,
                f"{subject}'s {', '.join(differing)} differ from its signed hold and "
                "resolution: it was edited",
            )
    for hold_id, body in connection.execute(
        text("SELECT id, body FROM transfer WHERE kind = 'hold' AND body LIKE '%\"booking\":%'")
    ):
        try:
            is_booking = isinstance(json.loads(body)["meta"]["booking"], dict)
        except (ValueError, KeyError, TypeError):
            is_booking = False
        if is_booking and hold_id not in holds:
            problem(
                "row_missing",
                f"hold {hold_id}",
                f"hold {hold_id} was signed for a booking, which the booking table does "
                "not hold: it was deleted, and its slot looks free",
            )


def _booking_resolution(row: Any, resolution: Any, charged: dict[int, int]) -> Row:
    """A booking's status, resolution and charge as its hold's signed resolution says.  The
    bookings service resolves with the idempotency key ``booking-<id>-<status>`` and records
    its resolver and time; a hold resolved outside it (a generic expiry) is brought in line
    later, by whoever runs the expiry, at that time (not signed: not compared)."""
    if resolution is None:
        return {
            "status": "held",
            "resolution_id": None,
            "resolved_at": None,
            "resolved_by": None,
            "charged": None,
        }
    kinds = {
        "completed": ("post_hold",),
        "cancelled": ("post_hold", "void_hold"),
        "expired": ("expire_hold", "void_hold"),
    }
    if (
        resolution.idempotency_key == f"booking-{row.id}-{row.status}"
        and resolution.kind in kinds.get(str(row.status), ())
    ):
        return {
            "resolution_id": resolution.id,
            "resolved_at": resolution.created_at,
            "resolved_by": resolution.author,
            "charged": charged.get(int(resolution.id)) if resolution.kind == "post_hold" else None,
        }
    return {
        "status": "completed" if resolution.kind == "post_hold" else "expired",
        "resolution_id": resolution.id,
        "charged": None,
    }


def _stored_checkpoints(connection: Connection, problem: Problem) -> None:
    """A stored checkpoint's columns (which cosigning looks the row up by) are its signed
    document's; the document itself is checked like any checkpoint given to verify."""
    import json

    for row in connection.execute(
        text("SELECT id, size, root, chain_hash, time, document FROM checkpoint ORDER BY id")
    ):
        try:
            document = json.loads(row.document)
            signed = (
                document.get("size"),
                document.get("root"),
                document.get("chain_hash"),
                document.get("time"),
            )
        except (ValueError, AttributeError):
            signed = None  # an unreadable document is reported as checkpoint_invalid
        if signed is not None and signed != (row.size, row.root, row.chain_hash, row.time):
            problem(
                "column_mismatch",
                f"stored checkpoint {row.id}",
                f"stored checkpoint {row.id}'s size, root, chain hash or time differ from "
                "its signed document: it was edited",
            )


def _import_register(connection: Connection, problem: Problem) -> None:
    """Register rows (``import_row``) of no imported transfer.  Each import's own row is
    compared with its signed body by the workers
    (:meth:`~mutualcredit.services.verify_workers._Checker._registered`)."""
    for row in connection.execute(
        text(
            "SELECT r.id, r.transfer_id, r.source, r.external_id FROM import_row r "
            "LEFT JOIN transfer t ON t.id = r.transfer_id "
            "WHERE t.id IS NULL OR t.kind != 'import' ORDER BY r.id"
        )
    ):
        problem(
            "row_not_recorded",
            f"import_row {row.id}",
            f"the import register's row {row.id} ({row.source} {row.external_id!r}) names "
            f"transfer {row.transfer_id}, which is no import: it was inserted or edited, "
            "and hides that row from the next import",
        )


def _table(
    connection: Connection, problem: Problem, table: str, key: str, sql: str, signed: dict[str, Row]
) -> None:
    present = set()
    for row in connection.execute(text(sql)):
        values = dict(row._mapping)
        name = str(values.pop(key))
        present.add(name)
        expected = signed.get(name)
        if expected is None:
            problem(
                "row_not_recorded",
                f"{table} {name}",
                f"{table} {name} was made by no signed record: it was inserted or "
                "renamed behind the program's back",
                account=name if table == "account" else None,
            )
            continue
        _differs(
            problem,
            f"{table} {name}",
            values,
            expected,
            account=name if table == "account" else None,
        )
    for name in sorted(set(signed) - present):
        problem(
            "row_missing",
            f"{table} {name}",
            f"{table} {name}, which a signed record made, is not in the {table} table: it "
            "was deleted or renamed",
            account=name if table == "account" else None,
        )


def _differs(
    problem: Problem, subject: str, actual: Row, expected: Row, *, account: str | None = None
) -> None:
    differing = [
        name
        for name, value in actual.items()
        if name in expected and _text(value) != _text(expected[name])
    ]
    if differing:
        shown = ", ".join(
            f"{name} {actual[name]!r} (signed: {expected[name]!r})" for name in differing
        )
        problem(
            "column_mismatch",
            subject,
            f"{subject}'s {shown} in the table differ from the signed records: it was edited",
            account=account,
        )


def _text(value: Any) -> Any:
    """Compare numbers and their text alike (SQLite keeps what it is given)."""
    return None if value is None else str(value)


def _resources(
    connection: Connection, state: SignedState, problem: Problem, currencies: dict[str, Any]
) -> None:
    signed = state.resources
    rows = {}
    for row in connection.execute(
        text(
            "SELECT r.slug, r.collective, r.name, a.name AS account, r.currency, r.price, r.per, "
            "r.units, r.duration_min, r.duration_max, r.lead, r.cancel_window, "
            "r.cancel_fee_percent, r.grace, r.status, r.created_at, r.created_by, r.closed_at, "
            "r.duration_longest, r.id FROM resource r LEFT JOIN account a "
            "ON a.id = r.account_id"
        )
    ):
        values = dict(row._mapping)
        currency = currencies.get(values["currency"])
        if isinstance(values["price"], int) and currency is not None:
            values["price"] = format_amount(values["price"], currency.scale)
        rows[values["slug"]] = values
    if connection.dialect.name == "sqlite":
        seconds = "CAST(ROUND((julianday(end_at) - julianday(start_at)) * 86400) AS INTEGER)"
    else:
        seconds = (
            "CAST(EXTRACT(EPOCH FROM (CAST(end_at AS timestamptz) - "
            "CAST(start_at AS timestamptz))) AS BIGINT)"
        )
    longest = {
        int(resource): int(most or 0)
        for resource, most in connection.execute(
            text(f"SELECT resource_id, MAX({seconds}) FROM booking GROUP BY resource_id")
        )
    }
    for slug, values in rows.items():
        resource_id, recorded = int(values.pop("id")), int(values.pop("duration_longest"))
        if recorded != longest.get(resource_id, 0):
            problem(
                "column_mismatch",
                f"resource {slug}",
                f"resource {slug}'s duration_longest {recorded} is not the longest of its "
                f"bookings ({longest.get(resource_id, 0)} seconds): it was edited",
            )
    _rows(problem, "resource", rows, signed)


def _rows(problem: Problem, table: str, rows: dict[str, Row], signed: dict[str, Row]) -> None:
    for name, values in rows.items():
        expected = signed.get(name)
        if expected is None:
            problem(
                "row_not_recorded",
                f"{table} {name}",
                f"{table} {name} was made by no signed record: it was inserted or "
                "renamed behind the program's back",
            )
        else:
            _differs(
                problem,
                f"{table} {name}",
                {k: v for k, v in values.items() if k != "slug"},
                expected,
            )
    for name in sorted(set(signed) - set(rows)):
        problem(
            "row_missing",
            f"{table} {name}",
            f"{table} {name}, which a signed record made, is not in the {table} table",
        )


def _roles(connection: Connection, problem: Problem, roles: list[list[Any]]) -> None:
    """The role table is what the signed grants and revocations made it (the writer asks it
    who may act)."""
    expected = sorted(tuple(_text(v) for v in row) for row in roles)
    actual = sorted(
        tuple(_text(v) for v in row)
        for row in connection.execute(
            text(
                "SELECT handle, role, collective, granted_at, granted_by, revoked_at, revoked_by "
                "FROM role"
            )
        )
    )
    if actual != expected:
        extra = [row for row in actual if row not in expected]
        missing = [row for row in expected if row not in actual]
        for row in extra:
            problem(
                "column_mismatch",
                f"role of {row[0]}",
                f"the role table gives {row[0]} {row[1]}"
                + (f" of {row[2]}" if row[2] else "")
                + f" (granted {row[3]} by {row[4]}, revoked {row[5] or 'never'}), which no "
                "signed record says: it was inserted or edited",
            )
        for row in missing:
            problem(
                "row_missing",
                f"role of {row[0]}",
                f"the signed records give {row[0]} {row[1]}"
                + (f" of {row[2]}" if row[2] else "")
                + f" (granted {row[3]} by {row[4]}, revoked {row[5] or 'never'}), which the "
                "role table does not hold as such: it was deleted or edited",
            )


def _minor(amount: Any, scale: int) -> int:
    from mutualcredit.domain.amounts import parse_signed_amount

    return parse_signed_amount(str(amount), scale=scale)


def _settlements(
    connection: Connection, state: SignedState, problem: Problem, card_scale: int
) -> None:
    import json
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    from mutualcredit.services.reports import day_start

    # (first, last) -> the batches of the settlement transfers that say they settle it
    batches: dict[tuple[Any, Any], set[Any]] = {}
    for batch_id, body in connection.execute(
        text("SELECT batch_id, body FROM transfer WHERE kind = 'settlement'")
    ):
        try:
            period = json.loads(body)["meta"]["settlement"]
            batches.setdefault((period["first"], period["last"]), set()).add(batch_id)
        except (ValueError, KeyError, TypeError):
            continue  # a body that is not as signed is reported by the workers
    try:
        zone: ZoneInfo | None = ZoneInfo(str(state.network["timezone"]))
    except (ValueError, KeyError):
        zone = None
    seen = set()
    for row in connection.execute(
        text(
            "SELECT id, record_id, first_day, last_day, settled_by, settled_at, transfers, "
            "positions, total, period_start, period_end, batch_id FROM settlement"
        )
    ):
        subject = f"settlement {row.id}"
        signed = state.settlements.get(int(row.record_id))
        seen.add(int(row.record_id))
        if signed is None:
            problem(
                "row_not_recorded",
                subject,
                f"{subject} names record {row.record_id}, which is no signed settlement",
            )
            continue
        actual = {
            "first_day": row.first_day,
            "last_day": row.last_day,
            "settled_by": row.settled_by,
            "settled_at": row.settled_at,
            "transfers": row.transfers,
        }
        _differs(problem, subject, actual, signed)
        # The period's UTC bounds and the batch that paid it: what reports and the next
        # settle read (a settlement's transfers count at the end of the period it settled).
        try:
            bounds: tuple[Any, ...] = (
                (
                    day_start(date.fromisoformat(str(signed["first_day"])), zone),
                    day_start(
                        date.fromisoformat(str(signed["last_day"])) + timedelta(days=1), zone
                    ),
                )
                if zone is not None
                else (row.period_start, row.period_end)
            )
        except ValueError:
            bounds = (None, None)
        paid = batches.get((signed["first_day"], signed["last_day"]), set())
        batch = next(iter(paid)) if len(paid) == 1 else None
        if bounds != (row.period_start, row.period_end) or row.batch_id != batch:
            problem(
                "column_mismatch",
                subject,
                f"{subject}'s period bounds ({row.period_start} to {row.period_end}) or "
                f"batch ({row.batch_id}) are not those of the signed settlement of "
                f"{signed['first_day']} to {signed['last_day']} (batch {batch}): they "
                "were edited",
            )
        try:
            positions = {
                slug: format_amount(int(value), card_scale)
                for slug, value in json.loads(row.positions).items()
            }
            total = sum(
                int(_minor(item.get("amount"), card_scale)) for item in signed["total"] or ()
            )
        except (ValueError, TypeError, AttributeError):
            positions, total = None, None
        if positions != signed["positions"] or total != row.total:
            problem(
                "column_mismatch",
                subject,
                f"{subject}'s positions or total differ from the signed settlement: they were "
                "edited",
            )
    for record_id in sorted(set(state.settlements) - seen):
        problem(
            "row_missing",
            f"record {record_id}",
            f"the signed settlement of record {record_id} has no settlement row",
        )
