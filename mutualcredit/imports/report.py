"""The income report: festival income per source and cash box, and the cards it backs.

Built from the import register (``import_row``) joined to the imported
transfers' postings, so it shows exactly what imports brought in:

- **income**: per festival (``income:festivals:<festival>``) and source, the
  rows imported and the income they earned;
- **cash boxes**: per festival, source and cash account, the money received;
- **backing**: per collective, the Reais received in its cash boxes by
  imports, the card it issued against them (the credits of its
  ``collectives:<slug>:issuance`` account in import transfers), both in card
  value, and the **backing ratio** = received ÷ issued (``null`` when nothing
  was issued).  A ratio of at least 1 means every card issued is backed by
  Reais received.

``--from`` and ``--to`` are days in the network's time zone, both included,
and select rows by when the sale happened (the export's date).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import UsageError
from mutualcredit.services.context import Ledger

FESTIVAL_PREFIX = "income:festivals:"


def income_report(
    ledger: Ledger,
    *,
    festival: str | None = None,
    first: str | None = None,
    last: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready document (amounts as strings)."""
    from mutualcredit.services.reports import day_start, parse_date

    zone = ZoneInfo(ledger.network.timezone)
    first_day = parse_date(first, "--from") if first else None
    last_day = parse_date(last, "--to") if last else None
    if first_day and last_day and last_day < first_day:
        raise UsageError(
            f"the period is empty: --to {last_day} is before --from {first_day}",
            code="invalid_period",
        )
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if first_day:
        where.append("r.occurred_at >= :start")
        params["start"] = day_start(first_day, zone)
    if last_day:
        where.append("r.occurred_at < :end")
        params["end"] = day_start(last_day + timedelta(days=1), zone)
    if festival:
        where.append("inc.name = :income")
        params["income"] = FESTIVAL_PREFIX + festival
    condition = " AND ".join(where)
    # The income account of each imported transfer: its debited income posting.
    base = (
        "FROM import_row r "
        "JOIN posting pi ON pi.transfer_id = r.transfer_id AND pi.amount < 0 "
        "JOIN account inc ON inc.id = pi.account_id AND inc.kind = 'income' "
    )
    with ledger.read() as connection:
        income = connection.execute(
            text(
                f"SELECT inc.name, r.source, pi.currency, COUNT(*), -SUM(pi.amount) {base}"
                f"WHERE {condition} GROUP BY inc.name, r.source, pi.currency "
                "ORDER BY inc.name, r.source, pi.currency"
            ),
            params,
        ).all()
        boxes = connection.execute(
            text(
                f"SELECT inc.name, r.source, a.name, a.collective, p.currency, COUNT(*), "
                f"SUM(p.amount) {base}"
                "JOIN posting p ON p.transfer_id = r.transfer_id "
                "JOIN account a ON a.id = p.account_id AND a.kind = 'cash' "
                f"WHERE {condition} GROUP BY inc.name, r.source, a.name, a.collective, p.currency "
                "ORDER BY inc.name, r.source, a.name"
            ),
            params,
        ).all()
        issued = connection.execute(
            text(
                f"SELECT a.collective, p.currency, -SUM(p.amount) {base}"
                "JOIN posting p ON p.transfer_id = r.transfer_id "
                "JOIN account a ON a.id = p.account_id AND a.kind = 'issuance' "
                f"WHERE {condition} GROUP BY a.collective, p.currency"
            ),
            params,
        ).all()
    return {
        "period": {
            "from": first_day.isoformat() if first_day else None,
            "to": last_day.isoformat() if last_day else None,
            "timezone": ledger.network.timezone,
        },
        "festival": festival,
        "income": [
            {
                "festival": _festival(name),
                "account": name,
                "source": source,
                "currency": currency,
                "rows": int(rows),
                "amount": _amount(ledger, amount, currency),
            }
            for name, source, currency, rows, amount in income
        ],
        "cash_boxes": [
            {
                "festival": _festival(name),
                "source": source,
                "account": box,
                "collective": collective,
                "currency": currency,
                "rows": int(rows),
                "amount": _amount(ledger, amount, currency),
            }
            for name, source, box, collective, currency, rows, amount in boxes
        ],
        "backing": _backing(ledger, list(boxes), list(issued)),
    }


def _festival(account: str) -> str:
    return account[len(FESTIVAL_PREFIX) :] if account.startswith(FESTIVAL_PREFIX) else account


def _amount(ledger: Ledger, minor: Any, currency: str) -> str:
    return format_amount(int(minor), ledger.currency(currency).scale)


def _backing(ledger: Ledger, boxes: list[Any], issued: list[Any]) -> list[dict[str, Any]]:
    card = ledger.card
    received: dict[str, int] = defaultdict(int)
    for _name, _source, _box, collective, currency, _rows, amount in boxes:
        if collective is not None:
            received[collective] += ledger.currency(currency).to_card_minor(int(amount), card=card)
    cards: dict[str, int] = defaultdict(int)
    for collective, currency, amount in issued:
        cards[collective] += ledger.currency(currency).to_card_minor(int(amount), card=card)
    rows = []
    for collective in sorted(set(received) | set(cards)):
        ratio = None
        if cards[collective]:
            exact = Fraction(received[collective], cards[collective])
            ratio = str(
                (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
                    Decimal("0.0001"), rounding=ROUND_HALF_EVEN
                )
            )
        rows.append(
            {
                "collective": collective,
                "currency": card.code,
                "received": format_amount(received[collective], card.scale),
                "issued": format_amount(cards[collective], card.scale),
                "backing_ratio": ratio,
            }
        )
    return rows
