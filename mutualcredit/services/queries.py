"""Reading the ledger: balances, account lists, statements, transfers, limit history.

Reading needs no role.  Balances come from the cached totals on account rows
(one indexed read, whatever the history); statements stream postings in
commit order with a running balance, in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import NotFound, UsageError
from mutualcredit.services.clock import iso
from mutualcredit.services.context import Ledger
from mutualcredit.services.payments import postings_of, transfer_row

STATEMENT_FETCH_ROWS = 2000


def account_name(reference: str) -> str:
    return reference if ":" in reference else f"members:{reference}"


def _shown(ledger: Ledger, minor: int | None, currency: str) -> str | None:
    return None if minor is None else format_amount(minor, ledger.currencies[currency].scale)


def balance_document(ledger: Ledger, row: Any) -> dict[str, Any]:
    balance = row.posted_credits - row.posted_debits
    available = None if row.limit_lower is None else balance - row.pending_debits - row.limit_lower
    c = row.currency
    return {
        "id": int(row.id),
        "account": row.name,
        "currency": c,
        "balance": _shown(ledger, balance, c),
        "available": _shown(ledger, available, c),
        "pending_debits": _shown(ledger, row.pending_debits, c),
        "pending_credits": _shown(ledger, row.pending_credits, c),
        "limit_lower": _shown(ledger, row.limit_lower, c),
        "limit_upper": _shown(ledger, row.limit_upper, c),
        "status": row.status,
        "owner": row.owner,
        "collective": row.collective,
        "kind": row.kind,
    }


ACCOUNT_SELECT = (
    "SELECT id, name, currency, owner, collective, kind, status, limit_lower, limit_upper, "
    "posted_debits, posted_credits, pending_debits, pending_credits FROM account"
)


def balance(ledger: Ledger, reference: str) -> dict[str, Any]:
    name = account_name(reference)
    with ledger.read() as connection:
        row = connection.execute(
            text(f"{ACCOUNT_SELECT} WHERE name = :n"), {"n": name}
        ).one_or_none()
    if row is None:
        what = "account" if ":" in reference else "member"
        raise NotFound(f"{what} {reference} does not exist", code="account_not_found")
    return balance_document(ledger, row)


def list_accounts(ledger: Ledger, *, prefix: str | None = None) -> list[dict[str, Any]]:
    # substr, not LIKE: exact and case-sensitive on both databases ('_' is no wildcard).
    where = "" if prefix is None else " WHERE substr(name, 1, :length) = :prefix"
    parameters = {} if prefix is None else {"length": len(prefix), "prefix": prefix}
    with ledger.read() as connection:
        rows = connection.execute(text(f"{ACCOUNT_SELECT}{where} ORDER BY name"), parameters)
        return [balance_document(ledger, row) for row in rows]


def list_members(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.read() as connection:
        rows = connection.execute(
            text(
                "SELECT m.handle, m.name, m.collective, m.status, m.created_at, "
                "(SELECT COUNT(*) FROM key k WHERE k.handle = m.handle AND k.revoked_at IS NULL) "
                "AS keys FROM member m ORDER BY m.handle"
            )
        )
        roles = connection.execute(
            text("SELECT handle, role, collective FROM role WHERE revoked_at IS NULL ORDER BY id")
        ).all()
        members = []
        for row in rows:
            member_roles = [
                r.role + (f":{r.collective}" if r.collective else "")
                for r in roles
                if r.handle == row.handle
            ]
            members.append(
                {
                    "id": row.handle,
                    "handle": row.handle,
                    "name": row.name,
                    "collective": row.collective,
                    "status": row.status,
                    "roles": member_roles,
                    "created_at": row.created_at,
                    "active_keys": int(row.keys),
                }
            )
        return members


def day_bounds(
    ledger: Ledger, first: date | None, last: date | None
) -> tuple[str | None, str | None]:
    """UTC bounds of a period given as local dates, both days included."""
    if first and last and last < first:
        raise UsageError(f"--to {last} is before --from {first}", code="invalid_period")
    zone = ZoneInfo(ledger.network.timezone)
    start = iso(datetime.combine(first, time(0), zone)) if first else None
    end = iso(datetime.combine(last + timedelta(days=1), time(0), zone)) if last else None
    return start, end


def statement(
    ledger: Ledger, reference: str, *, first: date | None = None, last: date | None = None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The account's head and a lazy iterator of its entries with running balances."""
    head = balance(ledger, reference)
    start, end = day_bounds(ledger, first, last)
    return head, _entries(ledger, head, start, end)


def _entries(
    ledger: Ledger, head: dict[str, Any], start: str | None, end: str | None
) -> Iterator[dict[str, Any]]:
    scale = ledger.currencies[head["currency"]].scale
    account_id = head["id"]
    counted = "t.status = 'posted' AND t.kind != 'hold'"
    with ledger.read() as connection:
        running = 0
        if start is not None:
            running = int(
                connection.execute(
                    text(  # type: ignore[arg-type]
                        f"SELECT COALESCE(SUM(p.amount), 0) FROM posting p JOIN transfer t "
                        f"ON t.id = p.transfer_id WHERE p.account_id = :a AND {counted} "
                        f"AND t.created_at < :start"
                    ),
                    {"a": account_id, "start": start},
                ).scalar()
            )
        where = "" if start is None else " AND t.created_at >= :start"
        where += "" if end is None else " AND t.created_at < :end"
        # yield_per on the statement, not the connection: rows stream in bounded memory.
        statement = text(
            "SELECT t.id, t.created_at, t.memo, t.kind, p.amount FROM posting p "
            f"JOIN transfer t ON t.id = p.transfer_id WHERE p.account_id = :a AND {counted}"
            f"{where} ORDER BY p.transfer_id, p.id"
        ).execution_options(yield_per=STATEMENT_FETCH_ROWS)
        result = connection.execute(statement, {"a": account_id, "start": start, "end": end})
        for transfer_id, created_at, memo, kind, amount in result:
            running += amount
            yield {
                "transfer_id": int(transfer_id),
                "created_at": created_at,
                "memo": memo,
                "kind": kind,
                "amount": format_amount(int(amount), scale),
                "balance_after": format_amount(running, scale),
            }


def show_transfer(ledger: Ledger, transfer_id: int) -> dict[str, Any]:
    with ledger.read() as connection:
        row = transfer_row(ledger, transfer_id, connection)
        reversal, resolution = connection.execute(
            text(
                "SELECT (SELECT id FROM transfer WHERE reverses_id = :i), "
                "(SELECT id FROM transfer WHERE resolves_id = :i)"
            ),
            {"i": transfer_id},
        ).one()
        postings = postings_of(ledger, transfer_id, connection) if row.kind != "hold" else None
    body = json.loads(row.body)
    shown = (
        [
            {
                "account": p.account,
                "currency": p.currency,
                "amount": format_amount(p.amount, ledger.currencies[p.currency].scale),
            }
            for p in postings
        ]
        if postings is not None
        else body["postings"]
    )
    return {
        "id": int(row.id),
        "kind": row.kind,
        "status": row.status,
        "author": row.author,
        "key": row.idempotency_key,
        "memo": row.memo,
        "created_at": row.created_at,
        "postings": shown,
        "refs": body.get("refs", {}),
        "meta": body.get("meta", {}),
        "expires_at": row.expires_at,
        "resolved_at": row.resolved_at,
        "reversed_by": reversal,
        "resolved_by": None if resolution is None else int(resolution),
        "batch_id": row.batch_id,
        "event_seq": row.event_seq,
    }


def limit_history(ledger: Ledger, reference: str) -> dict[str, Any]:
    head = balance(ledger, reference)
    c = head["currency"]
    with ledger.read() as connection:
        rows = connection.execute(
            text(
                "SELECT id, author, created_at, old_lower, new_lower, old_upper, new_upper, reason "
                "FROM limit_change WHERE account_id = :a ORDER BY id"
            ),
            {"a": head["id"]},
        )
        changes = [
            {
                "id": int(r.id),
                "author": r.author,
                "created_at": r.created_at,
                "old_lower": _shown(ledger, r.old_lower, c),
                "new_lower": _shown(ledger, r.new_lower, c),
                "old_upper": _shown(ledger, r.old_upper, c),
                "new_upper": _shown(ledger, r.new_upper, c),
                "reason": r.reason,
            }
            for r in rows
        ]
    return {"account": head["account"], "currency": c, "changes": changes}


def list_collectives(ledger: Ledger) -> list[dict[str, Any]]:
    card_scale = ledger.card.scale
    with ledger.read() as connection:
        rows = connection.execute(
            text(
                "SELECT c.slug, c.name, c.currency, c.clearing_limit, "
                "(SELECT COUNT(*) FROM member m WHERE m.collective = c.slug) AS members, "
                "(SELECT a.posted_credits - a.posted_debits FROM account a "
                " WHERE a.name = 'network:clearing:' || c.slug) AS position "
                "FROM collective c ORDER BY c.slug"
            )
        )
        return [
            {
                "id": r.slug,
                "slug": r.slug,
                "name": r.name,
                "currency": r.currency,
                "members": int(r.members),
                "position": format_amount(int(r.position or 0), card_scale),
                "clearing_limit": format_amount(int(r.clearing_limit), card_scale),
            }
            for r in rows
        ]
