"""Exports of the posted ledger to hledger and beancount journals, and to CSV.

Every posted transfer (pending holds are not money yet; voids and expiries
move nothing) becomes one transaction dated by its local day in the
network's time zone, with its memo as description, and as metadata its
transfer id, its hours of service (``meta.hours``), its kind, and the
transfer it reverses or the hold it posts.  Account names and commodities
are spelled by :mod:`mutualcredit.domain.export_names` (a documented,
deterministic and injective rule; beancount gets capitalised roots).

The export streams: transfers and postings are read by two cursors in id
order and merged, one transaction at a time, so memory stays flat whatever
the size of the ledger.  Rendering uses the account names and commodities
computed once per account; the lines written are exactly those of
:func:`~mutualcredit.domain.export_names.render_hledger_transaction` and
:func:`~mutualcredit.domain.export_names.render_beancount_transaction`
(the tests compare them transaction by transaction).

CSV has one row per posting: ``transfer_id, date, created_at, kind, memo,
hours, account, currency, amount`` — amounts as ``format_amount`` writes them;
text cells a spreadsheet would run as a formula get a leading ``'``
(:mod:`mutualcredit.domain.csv_cells`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import text

from mutualcredit.domain import export_names as names
from mutualcredit.domain.csv_cells import csv_row
from mutualcredit.domain.errors import UsageError
from mutualcredit.services.context import Ledger
from mutualcredit.services.reports import LocalDays, day_start

FORMATS = ("hledger", "beancount", "csv")
CSV_COLUMNS = (
    "transfer_id",
    "date",
    "created_at",
    "kind",
    "memo",
    "hours",
    "account",
    "currency",
    "amount",
)
FETCH_ROWS = 5000
# The same replacements as export_names.hledger_description and beancount_string, as
# translation tables.  Memos hold no other control characters (validate_text refuses them
# when a transfer is recorded), so the renderers' assertion about them is not repeated here.
_HLEDGER_TABLE = str.maketrans({";": "\uff1b", "\n": " ", "\r": " ", "\t": " "})
_BEANCOUNT_TABLE = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportSummary:
    format: str
    transfers: int
    postings: int
    first: str | None  # the earliest date exported
    last: str | None


@dataclass(frozen=True, slots=True)
class _Transfer:
    id: int
    kind: str
    created_at: str
    memo: str
    hours: str | None
    reverses_id: int | None
    resolves_id: int | None


def export(
    ledger: Ledger, format: str, out: TextIO, *, first: date | None = None, last: date | None = None
) -> ExportSummary:
    """Write the posted transfers created on local days ``first`` to ``last`` to ``out``."""
    if format not in FORMATS:
        raise UsageError(
            f"export format {format!r} is not one of {', '.join(FORMATS)}", code="invalid_format"
        )
    if first is not None and last is not None and last < first:
        raise UsageError(
            f"the period is empty: --to {last} is before --from {first}", code="invalid_period"
        )
    zone = ZoneInfo(ledger.network.timezone)
    start = None if first is None else day_start(first, zone)
    end = None if last is None else day_start(date.fromordinal(last.toordinal() + 1), zone)
    writer = _Writer(ledger, format, out, LocalDays(zone))
    with ledger.read() as connection, connection.begin():
        writer.begin(connection, start, end)
        for transfer, postings in _merged(connection, ledger, start, end):
            writer.write(transfer, postings)
    return writer.summary()


def _merged(
    connection: Any, ledger: Ledger, start: str | None, end: str | None
) -> Iterator[tuple[_Transfer, list[tuple[int, str, int]]]]:
    """Posted transfers in id order, each with its postings (account id, currency, amount)."""
    where = ["t.kind != 'hold'", "t.status = 'posted'"]
    where += [] if start is None else ["t.created_at >= :start"]
    where += [] if end is None else ["t.created_at < :end"]
    bounds = {"start": start, "end": end}
    low = connection.execute(
        text(f"SELECT MIN(t.id) FROM transfer t WHERE {' AND '.join(where)}"), bounds
    ).scalar()
    if low is None:
        return
    transfers = _rows(
        connection,
        ledger,
        "export_transfers",
        (
            "SELECT t.id, t.kind, t.created_at, t.memo, t.body, "
            f"t.reverses_id, t.resolves_id FROM transfer t WHERE {' AND '.join(where)} "
            "ORDER BY t.id"
        ),
        bounds,
    )
    postings = _rows(
        connection,
        ledger,
        "export_postings",
        (
            "SELECT p.transfer_id, p.account_id, p.currency, p.amount FROM posting p "
            "WHERE p.transfer_id >= :low ORDER BY p.transfer_id, p.id"
        ),
        {"low": low},
    )
    pending = next(postings, None)
    for row in transfers:
        transfer_id = row[0]
        while pending is not None and pending[0] < transfer_id:
            pending = next(postings, None)  # postings of transfers left out (holds, dates)
        own = []
        while pending is not None and pending[0] == transfer_id:
            own.append((pending[1], pending[2], pending[3]))
            pending = next(postings, None)
        if own:
            yield (
                _Transfer(transfer_id, row[1], row[2], row[3], _hours(row[4]), row[5], row[6]),
                own,
            )


def _hours(body: str) -> str | None:
    """``meta.hours`` of a signed body; parsing only the bodies that mention hours is fast."""
    if '"hours"' not in body:
        return None
    hours = json.loads(body).get("meta", {}).get("hours")
    return None if hours is None or isinstance(hours, bool) else str(hours)


def _rows(
    connection: Any, ledger: Ledger, name: str, sql: str, parameters: dict[str, Any]
) -> Iterator[tuple[Any, ...]]:
    """Stream rows with the driver's own cursor, FETCH_ROWS at a time.

    This is the hot loop of an export (millions of rows): SQLAlchemy's rows
    cost more than the rendering.  PostgreSQL gets a named (server-side)
    cursor so the result is not held in memory; SQLite's cursor streams as it is.
    """
    raw = connection.connection.driver_connection
    if ledger.is_postgres:
        cursor = raw.cursor(name=name)
        sql = re.sub(r":([a-z]+)", r"%(\1)s", sql)
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(
            sql,
            {
                key: value
                for key, value in parameters.items()
                if f":{key}" in sql or f"%({key})s" in sql
            },
        )
        while True:
            chunk = cursor.fetchmany(FETCH_ROWS)
            if not chunk:
                return
            yield from chunk
    finally:
        cursor.close()


def _format(minor: int, scale: int) -> str:
    """:func:`~mutualcredit.domain.amounts.format_amount`, without its checks (hot loop)."""
    if scale == 0:
        return str(minor)
    whole, fraction = divmod(-minor if minor < 0 else minor, 10**scale)
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{scale}d}"


class _Writer:
    def __init__(self, ledger: Ledger, format: str, out: TextIO, days: LocalDays) -> None:
        self.ledger = ledger
        self.format = format
        self.out = out
        self.days = days
        self.transfers = 0
        self.postings = 0
        self.first: str | None = None
        self.last: str | None = None
        self.csv = csv.writer(out) if format == "csv" else None
        self.accounts: dict[int, str] = {}  # account id -> its name as the format spells it
        self.commodities: dict[str, tuple[str, int]] = {}  # code -> (spelling, scale)

    def begin(self, connection: Any, start: str | None, end: str | None) -> None:
        rows = connection.execute(
            text("SELECT id, name, currency, created_at FROM account ORDER BY name")
        ).all()
        for code, currency in sorted(self.ledger.currencies.items()):
            spelled = (
                names.hledger_commodity(code)
                if self.format == "hledger"
                else names.beancount_commodity(code)
            )
            self.commodities[code] = (spelled, currency.scale)
        for row in rows:
            self.accounts[int(row.id)] = (
                names.beancount_account(row.name)
                if self.format == "beancount"
                else names.hledger_account(row.name)
            )
        if self.format == "csv":
            assert self.csv is not None
            self.csv.writerow(CSV_COLUMNS)
        elif self.format == "hledger":
            self.out.write(
                names.render_hledger_preamble(
                    self.ledger.currencies[code] for code in sorted(self.ledger.currencies)
                )
            )
            for row in rows:
                self.out.write(names.render_hledger_account_directive(row.name))
            self.out.write("\n")
        else:
            self._beancount_opens(connection, rows, start, end)

    def _beancount_opens(
        self, connection: Any, rows: list[Any], start: str | None, end: str | None
    ) -> None:
        """Every account opened once, on the earliest day anything could be dated."""
        earliest = connection.execute(
            text(
                "SELECT MIN(created_at) FROM transfer WHERE kind != 'hold'"
                + ("" if start is None else " AND created_at >= :start")
            ),
            {"start": start},
        ).scalar()
        created = connection.execute(text("SELECT created_at FROM network")).scalar_one()
        moments = [created] + ([earliest] if earliest else [])
        opened = date.fromisoformat(self.days.day(min(moments)))
        self.out.write(
            'option "title" ' + names.beancount_string(self.ledger.network.name) + "\n\n"
        )
        for row in rows:
            self.out.write(
                names.render_beancount_open(date=opened, name=row.name, currency=row.currency)
            )
        self.out.write("\n")

    def write(self, transfer: _Transfer, postings: list[tuple[int, str, int]]) -> None:
        day = self.days.day(transfer.created_at)
        if self.first is None or day < self.first:
            self.first = day
        if self.last is None or day > self.last:
            self.last = day
        self.transfers += 1
        self.postings += len(postings)
        hours = transfer.hours if transfer.hours and names.HOURS_RE.match(transfer.hours) else None
        if self.format == "csv":
            assert self.csv is not None
            self.csv.writerows(
                csv_row(
                    (
                        transfer.id,
                        day,
                        transfer.created_at,
                        transfer.kind,
                        transfer.memo,
                        hours or "",
                        self.accounts[account],
                        currency,
                        _format(amount, self.commodities[currency][1]),
                    )
                )
                for account, currency, amount in postings
            )
            return
        meta = [("transfer-id", str(transfer.id))]
        if hours is not None:
            meta.append(("hours", hours))
        meta.append(("kind", transfer.kind))
        if transfer.reverses_id is not None:
            meta.append(("reverses", str(transfer.reverses_id)))
        if transfer.resolves_id is not None:
            meta.append(("hold", str(transfer.resolves_id)))
        if self.format == "hledger":
            self.out.write(self._hledger(day, transfer.memo, meta, postings))
        else:
            self.out.write(self._beancount(day, transfer.memo, meta, postings))

    def _amount(self, amount: int, currency: str) -> str:
        spelled, scale = self.commodities[currency]
        return f"{_format(amount, scale)} {spelled}"

    def _hledger(
        self, day: str, memo: str, meta: list[tuple[str, str]], postings: list[tuple[int, str, int]]
    ) -> str:
        """Exactly :func:`export_names.render_hledger_transaction`, with names computed once."""
        description = memo.translate(_HLEDGER_TABLE).strip()
        if description.startswith("("):
            description = "() " + description
        lines = [f"{day} * {description}".rstrip()]
        lines += [f"    ; {key}: {value}" for key, value in meta]
        accounts = self.accounts
        lines += [
            f"    {accounts[account]}  {self._amount(amount, currency)}"
            for account, currency, amount in postings
        ]
        return "\n".join(lines) + "\n\n"

    def _beancount(
        self, day: str, memo: str, meta: list[tuple[str, str]], postings: list[tuple[int, str, int]]
    ) -> str:
        """Exactly :func:`export_names.render_beancount_transaction`, names computed once."""
        lines = [f'{day} * "{memo.translate(_BEANCOUNT_TABLE)}"']
        lines += [
            f"  {key}: "
            + (value if key == "hours" else '"' + value.translate(_BEANCOUNT_TABLE) + '"')
            for key, value in meta
        ]
        accounts = self.accounts
        lines += [
            f"  {accounts[account]}  {self._amount(amount, currency)}"
            for account, currency, amount in postings
        ]
        return "\n".join(lines) + "\n\n"

    def summary(self) -> ExportSummary:
        return ExportSummary(
            format=self.format,
            transfers=self.transfers,
            postings=self.postings,
            first=self.first,
            last=self.last,
        )
