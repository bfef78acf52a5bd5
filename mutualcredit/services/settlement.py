"""Settling a period: net the positions between collectives with at most n-1 card transfers.

``settle`` takes each collective's position at the end of a period (see
:mod:`mutualcredit.services.reports`), matches debtors to creditors
(:func:`mutualcredit.domain.netting.net_positions`) and posts one
``settlement`` transfer per match between the ``network:clearing:*``
accounts, signed once by the admin through the single posting path
(:func:`mutualcredit.services.posting.post_batch`).  All transfers, the
signed settlement record and the ``settlement`` row are written in one
transaction, or nothing is.

Inside that transaction, under the write lock, the ``before`` hook checks
again that the actor is the admin, that no settled period overlaps this one
(or follows it: positions are cumulative, so settling an earlier period after
a later one would count its debts twice), and that the positions are still
the ones the transfers were built from.  A settlement transfer that would
carry a clearing account past its limit is refused by the posting function;
the message then says which limit to change.

The Reais that change hands between collectives are not part of this: where
a collective keeps cash on the ledger they are ordinary BRL transfers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import Refused
from mutualcredit.domain.limits import CreditLimitExceeded, LimitExceeded, UpperLimitExceeded
from mutualcredit.domain.netting import NettingTransfer, net_positions, positions_after
from mutualcredit.domain.transfers import Posting, TransferDraft
from mutualcredit.persistence import models_settlements
from mutualcredit.persistence.models import core_table
from mutualcredit.services import reports
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.network import require
from mutualcredit.services.posting import PostResult, post_batch
from mutualcredit.services.records import sign_record, write_record


class AlreadySettled(Refused):
    code = "already_settled"


class PositionsChanged(Refused):
    code = "positions_changed"


class SettlementLimit(Refused):
    code = "settlement_limit"


def check_not_settled(connection: Connection, period: reports.Period) -> None:
    """Refuse a period that overlaps, or ends before the end of, a settled period."""
    row = connection.execute(
        text(
            "SELECT first_day, last_day, settled_by, settled_at FROM settlement "
            "WHERE last_day >= :first ORDER BY last_day DESC, id DESC"
        ),
        {"first": period.first.isoformat()},
    ).first()
    if row is None:
        return
    asked = f"{period.first} to {period.last}"
    settled = f"{row.first_day} to {row.last_day}"
    if row.first_day <= period.last.isoformat():
        raise AlreadySettled(
            f"the period {asked} overlaps the period {settled}, settled at {row.settled_at} "
            f"by {row.settled_by}",
            first=row.first_day,
            last=row.last_day,
            settled_at=row.settled_at,
            settled_by=row.settled_by,
        )
    raise AlreadySettled(
        f"positions up to {row.last_day} were settled at {row.settled_at} by "
        f"{row.settled_by} (period {settled}); settle a period that starts after "
        f"{row.last_day}",
        first=row.first_day,
        last=row.last_day,
        settled_at=row.settled_at,
        settled_by=row.settled_by,
    )


def plan(ledger: Ledger, period: reports.Period) -> tuple[dict[str, int], list[NettingTransfer]]:
    """The positions at the end of ``period`` and the transfers that settle them."""
    reports.refresh_summaries(ledger)
    with ledger.read() as connection:
        check_not_settled(connection, period)
        position_map = reports.positions(connection, ledger, period)
    netting = net_positions(position_map)
    assert all(value == 0 for value in positions_after(position_map, netting).values())
    return position_map, netting


def settle(
    ledger: Ledger, signer: Signer, period: reports.Period, *, dry_run: bool = False
) -> dict[str, Any]:
    """Settle ``period`` (or, with ``dry_run``, only say how); return the settle document."""
    with ledger.read() as connection:
        require(connection, signer.handle, what="settle positions")
    position_map, netting = plan(ledger, period)
    if dry_run:
        return _document(ledger, period, position_map, netting, None, signer.handle, None)
    created_at = iso(now())
    card = ledger.card
    drafts = [
        _draft(ledger, signer, period, item, index, created_at)
        for index, item in enumerate(netting, start=1)
    ]
    record = sign_record(
        ledger,
        signer,
        "settlement",
        created_at,
        first=period.first.isoformat(),
        last=period.last.isoformat(),
        positions={slug: format_amount(value, card.scale) for slug, value in position_map.items()},
        transfers=[
            {
                "from": item.from_collective,
                "to": item.to_collective,
                "amount": format_amount(item.amount, card.scale),
            }
            for item in netting
        ],
    )
    written: dict[str, int] = {}

    def before(connection: Connection) -> None:
        require(connection, signer.handle, what="settle positions")
        reports.fold(connection, ledger)  # takes the summaries' lock: one settle at a time
        check_not_settled(connection, period)
        if reports.positions(connection, ledger, period) != position_map:
            raise PositionsChanged("positions changed while settling; run settle again")

    def after(connection: Connection, results: list[PostResult]) -> None:
        written["id"] = _insert(
            connection,
            ledger,
            period,
            record,
            results,
            position_map,
            netting,
            created_at,
            signer.handle,
        )

    try:
        if drafts:
            results = post_batch(
                ledger,
                drafts,
                signer,
                kind="settlement",
                before=before,
                after=after,
                meta={"first": period.first.isoformat(), "last": period.last.isoformat()},
            )
        else:

            def empty(connection: Connection) -> list[PostResult]:
                before(connection)
                after(connection, [])
                return []

            results = ledger.write(empty)
    except (CreditLimitExceeded, UpperLimitExceeded) as error:
        raise _limit_advice(ledger, error) from None
    return _document(
        ledger,
        period,
        position_map,
        netting,
        results,
        signer.handle,
        written["id"],
        settled_at=created_at,
    )


def _draft(
    ledger: Ledger,
    signer: Signer,
    period: reports.Period,
    item: NettingTransfer,
    index: int,
    created_at: str,
) -> TransferDraft:
    card = ledger.card.code
    return TransferDraft(
        network=ledger.network.id,
        kind="settlement",
        author=signer.handle,
        key=f"settlement:{period.first}:{period.last}:{index}",
        postings=(
            Posting(
                account=f"network:clearing:{item.to_collective}", currency=card, amount=-item.amount
            ),
            Posting(
                account=f"network:clearing:{item.from_collective}",
                currency=card,
                amount=item.amount,
            ),
        ),
        created_at=created_at,
        memo=f"settlement {period.first} to {period.last}: {item.from_collective} pays "
        f"{item.to_collective}",
        meta={"settlement": {"first": period.first.isoformat(), "last": period.last.isoformat()}},
    )


def _insert(
    connection: Connection,
    ledger: Ledger,
    period: reports.Period,
    record: Any,
    results: list[PostResult],
    position_map: Mapping[str, int],
    netting: list[NettingTransfer],
    created_at: str,
    author: str,
) -> int:
    record_id = write_record(connection, ledger, record)
    batch_id = None
    if results:
        batch_id = connection.execute(
            text("SELECT batch_id FROM transfer WHERE id = :id"), {"id": results[0].transfer_id}
        ).scalar_one()
    table = core_table(models_settlements.Settlement)
    return int(
        connection.execute(
            insert(table).returning(table.c.id),
            {
                "first_day": period.first.isoformat(),
                "last_day": period.last.isoformat(),
                "period_start": period.start,
                "period_end": period.end,
                "batch_id": batch_id,
                "record_id": record_id,
                "settled_by": author,
                "settled_at": created_at,
                "transfers": len(netting),
                "total": sum(item.amount for item in netting),
                "positions": json.dumps(dict(position_map), sort_keys=True),
            },
        ).scalar_one()
    )


def _limit_advice(ledger: Ledger, error: LimitExceeded) -> SettlementLimit:
    account = error.data.get("account", "")
    shown = format_amount(abs(error.would_reach), ledger.card.scale)
    option = "--upper" if isinstance(error, UpperLimitExceeded) else "--limit"
    return SettlementLimit(
        f"settling would break a limit: {error.message}; change it first "
        f"(mutualcredit limit set {account} {option} {shown} --reason ...) and settle again",
        **error.data,
    )


def _document(
    ledger: Ledger,
    period: reports.Period,
    position_map: Mapping[str, int],
    netting: list[NettingTransfer],
    results: list[PostResult] | None,
    author: str,
    settlement_id: int | None,
    *,
    settled_at: str | None = None,
) -> dict[str, Any]:
    card = ledger.card
    transfers = []
    for index, item in enumerate(netting):
        transfers.append(
            {
                "id": None if results is None else results[index].transfer_id,
                "from": item.from_collective,
                "to": item.to_collective,
                "amount": format_amount(item.amount, card.scale),
                "currency": card.code,
            }
        )
    return {
        "id": settlement_id,
        "dry_run": results is None,
        "period": period.document(),
        "settled_by": author,
        "settled_at": settled_at,
        "positions": [
            {
                "collective": slug,
                "currency": card.code,
                "position": format_amount(value, card.scale),
            }
            for slug, value in position_map.items()
        ],
        "transfers": transfers,
    }
