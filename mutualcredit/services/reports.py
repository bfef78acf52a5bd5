"""Settlement reports: who holds what over a period, who owes the network, and how to settle.

**Periods** are whole days in the network's time zone, both included:
``--period 2026-11`` is November, ``--from 2026-11-01 --to 2026-11-15`` half
of it.  A period must not end after today (it would report days that have
not happened); ``--to`` before ``--from`` is an empty period and is refused.

**Figures.**  Only posted movements count (pending holds do not; a hold's
posting counts when it is posted, as its own transfer).  For an account over
the period: ``opening`` is the balance before the first day, ``in`` the sum
of its credits, ``out`` the sum of its debits (a positive number), ``closing
= opening + in - out``, ``turnover = in + out`` (all that passed through it),
``exchanges`` the number of transfers that touched it and ``hours`` the hours
of service those transfers recorded (``pay --hours``; ``meta.hours`` in the
signed body).  A **collective**'s figures are those of its accounts in its
own currency — members, fund, resources — without its clearing account, and
its ``exchanges`` and ``hours`` count each transfer once even when two of its
members took part.  (Its closing balance is therefore minus its clearing
balance: the value its members hold against the rest of the network.)

**Limits.**  ``limit_use`` is how much of a member's credit line the closing
balance uses, in percent with two decimals (``-85.00`` of ``-100.00`` is
``85.00``), against the limit in force at the end of the period (read back
from the limit history).  Members at or past ``threshold`` percent (default
80) are ``near_limit``; below their lower limit, ``over_limit``.

**Positions** are the balances of ``network:clearing:<collective>`` in the
card at the end of the period (negative: the collective owes the network).
A settlement counts at the end of the period it settled, whenever it was
posted, so a period that follows a settled one starts from settled positions;
the settled period itself still shows what was owed.  ``netting`` are the
transfers (greedy matching, :mod:`mutualcredit.domain.netting`) that bring
every position to zero.

**Circulation and velocity.**  Per currency, ``circulation`` is the sum of
the positive closing balances of its accounts and ``turnover`` the value paid
out of them during the period (each payment once, on the payer's side);
``velocity = turnover / circulation``.  Clearing accounts are left out of
both: they only mirror payments between collectives.

**Income and bookings** come from accounts, which exist whatever features
are installed: festival income is what ``income:*`` accounts earned (their
debits minus credits), cards issued are the credits of ``issuance``
transfers, and import batches are counted from the core ``batch`` table.
Revenue per bookable resource is what each
``collectives:<slug>:resources:<resource>`` account received.  When the
bookings feature's tables (``resource``, ``booking``) exist, resource names
and the number of completed bookings are added — see
:func:`_resource_details`, the only place that looks for them.

**Speed.**  A report must take well under a second on a million transfers, so
it does not sum postings: every posted transfer is folded once, in chain
order, into per-day summaries (``report_account_day``,
``report_collective_day``, ``report_currency_day``, and per month
``report_account_month``;
:func:`refresh_summaries`), derived data like the
cached totals on accounts.  A report then sums a few thousand summary rows.
The fold runs at the start of each report and only reads what was committed
since the last one (the chain sequence is the watermark: it follows commit
order on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.dates import DATE_MAX, DATE_MIN, DateOutOfRange, check_date
from mutualcredit.domain.errors import InvalidDate, NotFound, Refused, UsageError
from mutualcredit.domain.netting import net_positions
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger

THRESHOLD_DEFAULT = 80  # percent of a credit line
FOLD_EVENTS_PER_TRANSACTION = 200_000  # bounds the memory and lock time of one fold step
HOURS_SCALE = 6  # hours are kept in micro-hours: exact for any decimal meta.hours we accept
_HOURS_RE = re.compile(r"^([0-9]{1,6})(?:\.([0-9]{1,6}))?$")
_PERIOD_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
CLEARING_KINDS = ("clearing", "network_clearing")


class PeriodNotOver(Refused):
    code = "period_not_over"


class InvalidPeriod(UsageError):
    code = "invalid_period"


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """Local days ``first`` to ``last`` (both included) and their UTC bounds ``[start, end)``."""

    first: date
    last: date
    start: str
    end: str

    def document(self) -> dict[str, str]:
        return {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "start": self.start,
            "end": self.end,
        }


# -- periods ---------------------------------------------------------------------------------


def parse_period(
    ledger: Ledger, *, period: str | None = None, first: str | None = None, last: str | None = None
) -> Period:
    """A period from ``--period YYYY-MM`` or ``--from``/``--to`` dates (local, both included)."""
    if period is not None and (first is not None or last is not None):
        raise InvalidPeriod("give --period or --from/--to, not both")
    if period is not None:
        match = _PERIOD_RE.fullmatch(period.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise InvalidPeriod(f"--period {period!r} is not a month: write YYYY-MM, e.g. 2026-11")
        year, month = int(match.group(1)), int(match.group(2))
        if not DATE_MIN.year <= year <= DATE_MAX.year:
            raise DateOutOfRange(
                f"--period {period!r} is outside the years the ledger accepts "
                f"({DATE_MIN.year} to {DATE_MAX.year})"
            )
        start_day = date(year, month, 1)
        end_day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return make_period(ledger, start_day, end_day)
    if first is None and last is None:
        raise InvalidPeriod("the period is empty: give --period YYYY-MM or --from DATE --to DATE")
    if first is None or last is None:
        missing = "--from" if first is None else "--to"
        raise InvalidPeriod(f"the period needs {missing} too (both days are included)")
    return make_period(ledger, parse_date(first, "--from"), parse_date(last, "--to"))


def parse_date(value: str, option: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidDate(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None
    return check_date(day, option)


def make_period(ledger: Ledger, first: date, last: date) -> Period:
    """Check a period and compute its UTC bounds; refuse inverted or unfinished ones."""
    if last < first:
        raise InvalidPeriod(f"the period is empty: --to {last} is before --from {first}")
    zone = ZoneInfo(ledger.network.timezone)
    today = now().astimezone(zone).date()
    if last > today:
        raise PeriodNotOver(
            f"the period {first} to {last} ends after today ({today} in "
            f"{ledger.network.timezone}); choose one that ends today or earlier"
        )
    return Period(
        first=first,
        last=last,
        start=day_start(first, zone),
        end=day_start(last + timedelta(days=1), zone),
    )


def day_start(day: date, zone: ZoneInfo) -> str:
    """The UTC instant a local day begins (as :func:`services.queries.day_bounds`)."""
    return iso(datetime.combine(day, time(0), zone))


class LocalDays:
    """Maps stored UTC times to local days, one small table per UTC date (cached)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._of_utc_date = lru_cache(maxsize=4096)(self._boundaries)

    def _boundaries(self, utc_date: str) -> tuple[tuple[str, str], ...]:
        start = datetime.fromisoformat(utc_date).replace(tzinfo=UTC)
        end = start + timedelta(days=1)
        local = start.astimezone(self.zone).date()
        found = [(iso(start), local.isoformat())]
        day = local + timedelta(days=1)
        while True:
            midnight = datetime.combine(day, time(0), self.zone).astimezone(UTC)
            if midnight >= end:
                return tuple(found)
            found.append((iso(midnight), day.isoformat()))
            day += timedelta(days=1)

    def day(self, created_at: str) -> str:
        local = ""
        for boundary, name in self._of_utc_date(created_at[:10]):
            if created_at >= boundary:
                local = name
        assert local, created_at
        return local


def parse_hours(value: Any) -> int | None:
    """``meta.hours`` (``"2.50"``) as micro-hours; anything else is no hours at all."""
    if value is None or isinstance(value, bool):
        return None
    match = _HOURS_RE.fullmatch(str(value))
    if not match:
        return None
    return int(match.group(1)) * 10**HOURS_SCALE + int(
        (match.group(2) or "").ljust(HOURS_SCALE, "0")
    )


def format_hours(micro: int) -> str:
    """Hours with two decimals, or more when they are needed (``2.50``, ``0.125``)."""
    shown = format_amount(micro, HOURS_SCALE)
    whole, fraction = shown.split(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{whole}.{fraction}"


# -- the day summaries -----------------------------------------------------------------------


def hours_expression(ledger: Ledger, column: str = "t.body") -> str:
    if ledger.is_postgres:
        return f"(CAST({column} AS json) -> 'meta' ->> 'hours')"
    return f"json_extract({column}, '$.meta.hours')"


def refresh_summaries(ledger: Ledger) -> int:
    """Fold every transfer committed since the last fold; return the new watermark."""
    while True:
        watermark, done = ledger.write(
            lambda connection: fold(connection, ledger, events_max=FOLD_EVENTS_PER_TRANSACTION)
        )
        if done:
            return watermark


def fold(
    connection: Connection, ledger: Ledger, *, events_max: int | None = None
) -> tuple[int, bool]:
    """Fold committed transfers past the watermark into the day summaries, in this transaction.

    Returns ``(watermark, done)``; with ``events_max`` at most that many chain
    events are folded.  The watermark row is locked first, so two folds never
    count the same transfer twice.
    """
    lock = " FOR UPDATE" if ledger.is_postgres else ""
    watermark = int(
        connection.execute(
            text(f"SELECT event_seq FROM report_watermark WHERE id = 1{lock}")
        ).scalar_one()
    )
    head = connection.execute(text("SELECT MAX(event_seq) FROM transfer")).scalar()
    if head is None or int(head) <= watermark:
        return watermark, True
    upper = int(head) if events_max is None else min(int(head), watermark + events_max)
    accounts = {
        int(row.id): (row.collective, row.kind, row.currency)
        for row in connection.execute(text("SELECT id, collective, kind, currency FROM account"))
    }
    home: dict[str, str] = {
        slug: currency
        for slug, currency in connection.execute(text("SELECT slug, currency FROM collective"))
    }
    rows = connection.execute(
        text(
            f"SELECT t.id, t.kind, t.created_at, {hours_expression(ledger)} AS hours, "
            "p.account_id, p.amount FROM transfer t JOIN posting p ON p.transfer_id = t.id "
            "WHERE t.event_seq > :lower AND t.event_seq <= :upper AND t.kind != 'hold' "
            "ORDER BY t.event_seq"
        ).execution_options(yield_per=5000),
        {"lower": watermark, "upper": upper},
    )
    account_days, collective_days, currency_days = _aggregate(
        rows, accounts, home, LocalDays(ZoneInfo(ledger.network.timezone))
    )
    _upsert(connection, account_days, collective_days, currency_days)
    connection.execute(
        text("UPDATE report_watermark SET event_seq = :seq WHERE id = 1"), {"seq": upper}
    )
    return upper, upper >= int(head)


def _aggregate(
    rows: Iterable[Any],
    accounts: Mapping[int, tuple[str | None, str, str]],
    home: Mapping[str, str],
    days: LocalDays,
) -> tuple[
    dict[tuple[str, int], list[int]], dict[tuple[str, str], list[int]], dict[tuple[str, str], int]
]:
    account_days: dict[tuple[str, int], list[int]] = {}
    collective_days: dict[tuple[str, str], list[int]] = {}
    currency_days: dict[tuple[str, str], int] = defaultdict(int)  # paid out, per currency
    current = None
    touched: set[str] = set()
    day, hours = "", 0

    def close_transfer() -> None:
        for collective in touched:
            entry = collective_days.setdefault((day, collective), [0, 0])
            entry[0] += 1
            entry[1] += hours

    for transfer_id, kind, created_at, raw_hours, account_id, amount in rows:
        if transfer_id != current:
            close_transfer()
            current, touched = transfer_id, set()
            day, hours = days.day(created_at), parse_hours(raw_hours) or 0
        entry = account_days.setdefault((day, int(account_id)), [0, 0, 0, 0, 0])
        amount = int(amount)
        if amount > 0:
            entry[0] += amount
            if kind == "issuance":
                entry[4] += amount
        else:
            entry[1] -= amount
        entry[2] += 1
        entry[3] += hours
        collective, account_kind, currency = accounts[int(account_id)]
        if account_kind not in CLEARING_KINDS:
            if amount < 0:
                currency_days[(day, currency)] -= amount
            if collective is not None and home.get(collective) == currency:
                touched.add(collective)
    close_transfer()
    return account_days, collective_days, currency_days


def _upsert(
    connection: Connection,
    account_days: Mapping[tuple[str, int], list[int]],
    collective_days: Mapping[tuple[str, str], list[int]],
    currency_days: Mapping[tuple[str, str], int],
) -> None:
    if currency_days:
        connection.execute(
            text(
                "INSERT INTO report_currency_day (day, currency, paid) VALUES (:day, :currency, "
                ":paid) ON CONFLICT (day, currency) DO UPDATE SET "
                "paid = report_currency_day.paid + excluded.paid"
            ),
            [
                {"day": day, "currency": currency, "paid": paid}
                for (day, currency), paid in sorted(currency_days.items())
            ],
        )
    if account_days:
        connection.execute(
            text(
                "INSERT INTO report_account_day (day, account_id, credits, debits, postings, "
                "hours, "
                "issued) VALUES (:day, :account, :credits, :debits, :postings, :hours, :issued) "
                "ON CONFLICT (day, account_id) DO UPDATE SET "
                "credits = report_account_day.credits + excluded.credits, "
                "debits = report_account_day.debits + excluded.debits, "
                "postings = report_account_day.postings + excluded.postings, "
                "hours = report_account_day.hours + excluded.hours, "
                "issued = report_account_day.issued + excluded.issued"
            ),
            [
                {
                    "day": day,
                    "account": account,
                    "credits": v[0],
                    "debits": v[1],
                    "postings": v[2],
                    "hours": v[3],
                    "issued": v[4],
                }
                for (day, account), v in sorted(account_days.items())
            ],
        )
    if collective_days:
        connection.execute(
            text(
                "INSERT INTO report_collective_day (day, collective, exchanges, hours) "
                "VALUES (:day, :collective, :exchanges, :hours) "
                "ON CONFLICT (day, collective) DO UPDATE SET "
                "exchanges = report_collective_day.exchanges + excluded.exchanges, "
                "hours = report_collective_day.hours + excluded.hours"
            ),
            [
                {"day": day, "collective": collective, "exchanges": v[0], "hours": v[1]}
                for (day, collective), v in sorted(collective_days.items())
            ],
        )
    months: dict[tuple[str, int], list[int]] = {}
    for (day, account), values in account_days.items():
        entry = months.setdefault((day[:7], account), [0, 0, 0, 0, 0])
        for index, value in enumerate(values):
            entry[index] += value
    if months:
        connection.execute(
            text(
                "INSERT INTO report_account_month (month, account_id, credits, debits, postings, "
                "hours, issued) VALUES (:month, :account, :credits, :debits, :postings, :hours, "
                ":issued) ON CONFLICT (month, account_id) DO UPDATE SET "
                "credits = report_account_month.credits + excluded.credits, "
                "debits = report_account_month.debits + excluded.debits, "
                "postings = report_account_month.postings + excluded.postings, "
                "hours = report_account_month.hours + excluded.hours, "
                "issued = report_account_month.issued + excluded.issued"
            ),
            [
                {
                    "month": month,
                    "account": account,
                    "credits": v[0],
                    "debits": v[1],
                    "postings": v[2],
                    "hours": v[3],
                    "issued": v[4],
                }
                for (month, account), v in sorted(months.items())
            ],
        )


# -- figures ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    """What moved through one account: the period's sums and the opening balance."""

    opening: int = 0
    credits: int = 0
    debits: int = 0
    postings: int = 0
    hours: int = 0
    issued: int = 0

    @property
    def closing(self) -> int:
        return self.opening + self.credits - self.debits


SUMMARY_COLUMNS = "credits, debits, postings, hours, issued"


def _ranges(first: date, last: date) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """Split local days ``first..last`` into day ranges and one range of whole months."""

    def month_start(day: date) -> date:
        return day.replace(day=1)

    def month_end(day: date) -> date:
        return (month_start(day) + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    whole_first = first if first.day == 1 else month_end(first) + timedelta(days=1)
    whole_last = last if last == month_end(last) else month_start(last) - timedelta(days=1)
    if whole_first > whole_last:
        return [(first.isoformat(), last.isoformat())], None
    days = []
    if first < whole_first:
        days.append((first.isoformat(), (whole_first - timedelta(days=1)).isoformat()))
    if whole_last < last:
        days.append(((whole_last + timedelta(days=1)).isoformat(), last.isoformat()))
    return days, (whole_first.isoformat()[:7], whole_last.isoformat()[:7])


def _summed(connection: Connection, first: date, last: date) -> Iterable[Any]:
    """Per account, the five sums over local days ``first..last`` (months where whole)."""
    days, months = _ranges(first, last)
    parts, parameters = [], {}
    for index, (low, high) in enumerate(days):
        parts.append(
            f"SELECT account_id, {SUMMARY_COLUMNS} FROM report_account_day "
            f"WHERE day >= :low{index} AND day <= :high{index}"
        )
        parameters.update({f"low{index}": low, f"high{index}": high})
    if months is not None:
        parts.append(
            f"SELECT account_id, {SUMMARY_COLUMNS} FROM report_account_month "
            "WHERE month >= :month_low AND month <= :month_high"
        )
        parameters.update({"month_low": months[0], "month_high": months[1]})
    return connection.execute(
        text(
            "SELECT account_id, SUM(credits), SUM(debits), SUM(postings), SUM(hours), SUM(issued) "
            f"FROM ({' UNION ALL '.join(parts)}) AS parts GROUP BY account_id"
        ),
        parameters,
    )


def account_figures(connection: Connection, period: Period) -> dict[int, Figures]:
    """Per account: the sums over the period's days and the balance before its first day.

    Whole months are read from the month summaries and the remaining days from
    the day summaries, so a report reads at most about two months of day rows
    plus one row per account and month, whatever the length of the period or
    of the history.
    """
    figures: dict[int, Figures] = defaultdict(Figures)
    for account_id, credits, debits, postings, hours, issued in _summed(
        connection, period.first, period.last
    ):
        entry = figures[int(account_id)]
        entry.credits, entry.debits, entry.postings = int(credits), int(debits), int(postings)
        entry.hours, entry.issued = int(hours), int(issued)
    history_first = connection.execute(text("SELECT MIN(day) FROM report_account_day")).scalar()
    if history_first is not None and history_first < period.first.isoformat():
        for account_id, credits, debits, *_ in _summed(
            connection,
            date.fromisoformat(history_first).replace(day=1),
            period.first - timedelta(days=1),
        ):
            figures[int(account_id)].opening = int(credits) - int(debits)
    return figures


def positions(
    connection: Connection,
    ledger: Ledger,
    period: Period,
    figures: Mapping[int, Figures] | None = None,
) -> dict[str, int]:
    """Each collective's position at the end of ``period`` (card minor units).

    The day summaries count a settlement on the day it was posted; here it is
    moved to the end of the period it settled (see the module docstring).
    """
    figures = account_figures(connection, period) if figures is None else figures
    result = {
        row.collective: figures[int(row.id)].closing if int(row.id) in figures else 0
        for row in connection.execute(
            text("SELECT id, collective FROM account WHERE kind = 'network_clearing'")
        )
    }
    # Few rows: the settlements first, then their transfers by the batch index.
    settled = {
        int(batch_id): last_day
        for batch_id, last_day in connection.execute(
            text("SELECT batch_id, last_day FROM settlement WHERE batch_id IS NOT NULL")
        )
    }
    if settled:
        for batch_id, collective, created_at, amount in connection.execute(
            text(
                "SELECT t.batch_id, a.collective, t.created_at, p.amount FROM transfer t "
                "JOIN posting p ON p.transfer_id = t.id JOIN account a ON a.id = p.account_id "
                "WHERE t.batch_id IN :batches AND a.kind = 'network_clearing'"
            ).bindparams(bindparam("batches", expanding=True)),
            {"batches": sorted(settled)},
        ):
            counted = created_at < period.end
            effective = settled[int(batch_id)] < period.last.isoformat()
            result[collective] += int(amount) * (int(effective) - int(counted))
    return dict(sorted(result.items()))


def limits_at_end(connection: Connection, period: Period) -> dict[int, int | None]:
    """Lower limits that changed after the period: account id -> the limit in force at its end."""
    found: dict[int, int | None] = {}
    for account_id, old_lower in connection.execute(
        text("SELECT account_id, old_lower FROM limit_change WHERE created_at >= :end ORDER BY id"),
        {"end": period.end},
    ):
        found.setdefault(int(account_id), None if old_lower is None else int(old_lower))
    return found


def limit_use(closing: int, limit_lower: int | None) -> int | None:
    """Basis points of the credit line used (8500 is 85.00 %); None without a credit line."""
    if limit_lower is None or limit_lower >= 0:
        return None
    if closing >= 0:
        return 0
    return round(Fraction(closing * 10_000, limit_lower))


# -- the report ------------------------------------------------------------------------------


def settlement_report(
    ledger: Ledger,
    period: Period,
    *,
    collective: str | None = None,
    threshold: int = THRESHOLD_DEFAULT,
) -> dict[str, Any]:
    """Gather the settlement report of ``period`` as a JSON-ready document.

    ``collective`` narrows members, collectives, resources and income to one
    collective; positions, netting and circulation stay network-wide (netting
    needs every position).
    """
    if not 1 <= threshold <= 100:
        raise UsageError(
            f"--threshold {threshold} is not a percentage between 1 and 100",
            code="invalid_threshold",
        )
    if collective is not None:
        with ledger.read() as connection:
            if (
                connection.execute(
                    text("SELECT slug FROM collective WHERE slug = :s"), {"s": collective}
                ).scalar()
                is None
            ):
                raise NotFound(
                    f"collective {collective} does not exist", code="collective_not_found"
                )
    watermark = refresh_summaries(ledger)
    with ledger.read() as connection, connection.begin():
        return _Builder(connection, ledger, period, collective, threshold, watermark).build()


class _Builder:
    def __init__(
        self,
        connection: Connection,
        ledger: Ledger,
        period: Period,
        collective: str | None,
        threshold: int,
        watermark: int,
    ) -> None:
        self.connection = connection
        self.ledger = ledger
        self.period = period
        self.only = collective
        self.threshold = threshold
        self.watermark = watermark
        self.figures = account_figures(connection, period)
        self.accounts = connection.execute(
            text(
                "SELECT id, name, currency, owner, collective, kind, limit_lower, status, "
                "created_at, closed_at FROM account ORDER BY name"
            )
        ).all()
        self.collectives = connection.execute(
            text("SELECT slug, name, currency, clearing_limit FROM collective ORDER BY slug")
        ).all()

    def amount(self, minor: int, currency: str) -> str:
        return format_amount(minor, self.ledger.currencies[currency].scale)

    def existed(self, row: Any) -> bool:
        """An account counts if it was opened before the period ended and not closed before it."""
        return row.created_at < self.period.end and (
            row.closed_at is None or row.closed_at >= self.period.start
        )

    def build(self) -> dict[str, Any]:
        members = self.members()
        position_map = positions(self.connection, self.ledger, self.period, self.figures)
        card = self.ledger.card.code
        netting = net_positions(position_map)
        return {
            "network": self.ledger.network.name,
            "currency": card,
            "timezone": self.ledger.network.timezone,
            "period": self.period.document(),
            "generated_at": iso(now()),
            "as_of_event": self.watermark,
            "collective": self.only,
            "threshold": self.threshold,
            "members": members,
            "collectives": self.collective_rows(position_map),
            "limits": [
                {
                    key: row[key]
                    for key in (
                        "handle",
                        "collective",
                        "currency",
                        "closing",
                        "limit_lower",
                        "limit_use",
                        "status",
                    )
                }
                for row in sorted(
                    members, key=lambda r: (-Fraction(r["limit_use"] or "0"), r["handle"])
                )
                if row["status"] != "ok"
            ],
            "positions": [
                {"collective": slug, "currency": card, "position": self.amount(value, card)}
                for slug, value in position_map.items()
            ],
            "netting": [
                {
                    "from": item.from_collective,
                    "to": item.to_collective,
                    "amount": self.amount(item.amount, card),
                    "currency": card,
                }
                for item in netting
            ],
            "circulation": self.circulation(),
            "inactive_members": [row["handle"] for row in members if row["exchanges"] == 0],
            "turnover_per_day": self.turnover_per_day(),
            "income": self.income(),
            "resources": self.resources(),
            "settlements": self.settlements(),
        }

    def members(self) -> list[dict[str, Any]]:
        names: dict[str, str] = {
            handle: name
            for handle, name in self.connection.execute(text("SELECT handle, name FROM member"))
        }
        changed = limits_at_end(self.connection, self.period)
        rows = []
        for account in self.accounts:
            if account.kind != "member" or not self.existed(account):
                continue
            if self.only is not None and account.collective != self.only:
                continue
            figures = self.figures.get(int(account.id), Figures())
            lower = changed.get(int(account.id), account.limit_lower)
            lower = None if lower is None else int(lower)
            use = limit_use(figures.closing, lower)
            status = "ok"
            if lower is not None and figures.closing < lower:
                status = "over_limit"
            elif use is not None and use >= self.threshold * 100:
                status = "near_limit"
            rows.append(
                {
                    "handle": account.owner,
                    "name": names.get(account.owner, account.owner),
                    "collective": account.collective,
                    "account": account.name,
                    **self.movement(figures, account.currency),
                    "limit_lower": None if lower is None else self.amount(lower, account.currency),
                    "limit_use": None if use is None else format_amount(use, 2),
                    "status": status,
                }
            )
        return rows

    def movement(
        self,
        figures: Figures,
        currency: str,
        *,
        exchanges: int | None = None,
        hours: int | None = None,
    ) -> dict[str, Any]:
        return {
            "currency": currency,
            "opening": self.amount(figures.opening, currency),
            "in": self.amount(figures.credits, currency),
            "out": self.amount(figures.debits, currency),
            "closing": self.amount(figures.closing, currency),
            "turnover": self.amount(figures.credits + figures.debits, currency),
            "exchanges": figures.postings if exchanges is None else exchanges,
            "hours": format_hours(figures.hours if hours is None else hours),
        }

    def collective_rows(self, position_map: Mapping[str, int]) -> list[dict[str, Any]]:
        counted = {
            row.collective: (int(row.exchanges), int(row.hours))
            for row in self.connection.execute(
                text(
                    "SELECT collective, SUM(exchanges) AS exchanges, SUM(hours) AS hours "
                    "FROM report_collective_day WHERE day >= :first AND day <= :last "
                    "GROUP BY collective"
                ),
                {"first": self.period.first.isoformat(), "last": self.period.last.isoformat()},
            )
        }
        card = self.ledger.card.code
        rows = []
        for collective in self.collectives:
            if self.only is not None and collective.slug != self.only:
                continue
            total, fund, members = Figures(), 0, 0
            for account in self.accounts:
                if (
                    account.collective != collective.slug
                    or account.kind in CLEARING_KINDS
                    or account.currency != collective.currency
                ):
                    continue
                figures = self.figures.get(int(account.id), Figures())
                total.opening += figures.opening
                total.credits += figures.credits
                total.debits += figures.debits
                members += account.kind == "member" and self.existed(account)
                if account.kind == "fund":
                    fund = figures.closing
            exchanges, hours = counted.get(collective.slug, (0, 0))
            bound = int(collective.clearing_limit)
            rows.append(
                {
                    "slug": collective.slug,
                    "name": collective.name,
                    "members": members,
                    **self.movement(total, collective.currency, exchanges=exchanges, hours=hours),
                    "fund": self.amount(fund, collective.currency),
                    "position": self.amount(position_map.get(collective.slug, 0), card),
                    "position_limit": self.amount(bound, card),
                }
            )
        return rows

    def circulation(self) -> list[dict[str, Any]]:
        positive: dict[str, int] = defaultdict(int)
        paid: dict[str, int] = defaultdict(int)
        for account in self.accounts:
            if account.kind in CLEARING_KINDS:
                continue
            figures = self.figures.get(int(account.id))
            if figures is None:
                continue
            positive[account.currency] += max(figures.closing, 0)
            paid[account.currency] += figures.debits
        rows = []
        for currency in sorted(set(positive) | set(paid)):
            supply, turnover = positive[currency], paid[currency]
            velocity = (
                None if supply == 0 else format_amount(round(Fraction(turnover * 100, supply)), 2)
            )
            rows.append(
                {
                    "currency": currency,
                    "circulation": self.amount(supply, currency),
                    "turnover": self.amount(turnover, currency),
                    "velocity": velocity,
                }
            )
        return rows

    def turnover_per_day(self) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            text(
                "SELECT day, currency, paid FROM report_currency_day WHERE day >= :first "
                "AND day <= :last ORDER BY day, currency"
            ),
            {"first": self.period.first.isoformat(), "last": self.period.last.isoformat()},
        )
        return [
            {"date": day, "currency": currency, "amount": self.amount(int(paid), currency)}
            for day, currency, paid in rows
            if int(paid)
        ]

    def income(self) -> dict[str, Any]:
        accounts: list[dict[str, str]] = []
        issued: dict[tuple[str, str], int] = defaultdict(int)
        for account in self.accounts:
            if self.only is not None and account.collective != self.only:
                continue
            figures = self.figures.get(int(account.id), Figures())
            if account.kind == "income" and self.existed(account):
                accounts.append(
                    {
                        "account": account.name,
                        "currency": account.currency,
                        "earned": self.amount(figures.debits - figures.credits, account.currency),
                    }
                )
            if figures.issued and account.collective is not None:
                issued[(account.collective, account.currency)] += figures.issued
        batches, transfers = 0, 0
        imports = list(
            self.connection.execute(text("SELECT id FROM batch WHERE kind = 'import'")).scalars()
        )
        if imports:
            batches, transfers = self.connection.execute(
                text(
                    "SELECT COUNT(DISTINCT batch_id), COUNT(*) FROM transfer WHERE batch_id IN "
                    ":ids "
                    "AND created_at >= :start AND created_at < :end"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": imports, "start": self.period.start, "end": self.period.end},
            ).one()
        return {
            "accounts": accounts,
            "issued": [
                {
                    "collective": collective,
                    "currency": currency,
                    "amount": self.amount(value, currency),
                }
                for (collective, currency), value in sorted(issued.items())
            ],
            "import_batches": int(batches),
            "imported_transfers": int(transfers),
        }

    def resources(self) -> list[dict[str, Any]]:
        details = _resource_details(self.connection, self.period)
        rows = []
        for account in self.accounts:
            if account.kind != "resource" or not self.existed(account):
                continue
            if self.only is not None and account.collective != self.only:
                continue
            figures = self.figures.get(int(account.id), Figures())
            slug, name, completed = details.get(int(account.id), (None, None, None))
            rows.append(
                {
                    "account": account.name,
                    "collective": account.collective,
                    "currency": account.currency,
                    "revenue": self.amount(figures.credits - figures.debits, account.currency),
                    "resource": slug or account.name.rsplit(":", 1)[1],
                    "name": name,
                    "bookings_completed": completed,
                }
            )
        return rows

    def settlements(self) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            text(
                "SELECT id, first_day, last_day, settled_by, settled_at, transfers, total "
                "FROM settlement WHERE first_day <= :last AND last_day >= :first ORDER BY first_day"
            ),
            {"first": self.period.first.isoformat(), "last": self.period.last.isoformat()},
        )
        card = self.ledger.card.code
        return [
            {
                "id": int(row.id),
                "first": row.first_day,
                "last": row.last_day,
                "settled_by": row.settled_by,
                "settled_at": row.settled_at,
                "transfers": int(row.transfers),
                "total": self.amount(int(row.total), card),
            }
            for row in rows
        ]


def _resource_details(
    connection: Connection, period: Period
) -> dict[int, tuple[str, str, int | None]]:
    """Names and completed bookings per resource account, when the bookings feature is installed.

    This is the one place the report looks at another feature's tables: only
    if ``resource`` exists (issue 4's migration) are names read, and only if
    ``booking`` exists too are bookings counted (those that started in the
    period and were completed).  Without them the report still shows each
    resource account's revenue, read from the ledger itself.
    """
    tables = inspect(connection)
    if not tables.has_table("resource"):
        return {}
    found: dict[int, tuple[str, str, int | None]] = {
        int(row.account_id): (row.slug, row.name, None)
        for row in connection.execute(text("SELECT account_id, slug, name FROM resource"))
    }
    if tables.has_table("booking"):
        for account_id, completed in connection.execute(
            text(
                "SELECT r.account_id, COUNT(b.id) FROM resource r JOIN booking b "
                "ON b.resource_id = r.id WHERE b.status = 'completed' AND b.start_at >= :start "
                "AND b.start_at < :end GROUP BY r.account_id"
            ),
            {"start": period.start, "end": period.end},
        ):
            slug, name, _ = found[int(account_id)]
            found[int(account_id)] = (slug, name, int(completed))
        for account_id, (slug, name, completed) in list(found.items()):
            found[account_id] = (slug, name, completed or 0)
    return found


def report_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# -- renderings ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "section",
    "collective",
    "member",
    "account",
    "name",
    "currency",
    "opening",
    "in",
    "out",
    "closing",
    "turnover",
    "exchanges",
    "hours",
    "limit_lower",
    "limit_use",
    "status",
    "from",
    "to",
    "amount",
    "velocity",
)


def report_csv_rows(document: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """The report as rows of one CSV table; ``section`` says what each row is.

    ``member`` and ``collective`` rows carry the movement columns; ``position``
    rows the position in ``amount``; ``netting`` rows ``from``, ``to`` and
    ``amount``; ``circulation`` rows the money in circulation in ``closing``,
    the turnover and the velocity; ``income`` rows what an income account
    earned, ``issued`` rows cards issued, ``resource`` rows a resource's revenue
    (all in ``amount``).  Empty cells are blank.
    """
    for row in document["members"]:
        yield {
            "section": "member",
            "member": row["handle"],
            **{
                key: row[key]
                for key in (
                    "collective",
                    "account",
                    "name",
                    "currency",
                    "opening",
                    "in",
                    "out",
                    "closing",
                    "turnover",
                    "exchanges",
                    "hours",
                    "limit_lower",
                    "limit_use",
                    "status",
                )
            },
        }
    for row in document["collectives"]:
        yield {
            "section": "collective",
            "collective": row["slug"],
            **{
                key: row[key]
                for key in (
                    "name",
                    "currency",
                    "opening",
                    "in",
                    "out",
                    "closing",
                    "turnover",
                    "exchanges",
                    "hours",
                )
            },
        }
    for row in document["positions"]:
        yield {
            "section": "position",
            "collective": row["collective"],
            "currency": row["currency"],
            "amount": row["position"],
        }
    for row in document["netting"]:
        yield {
            "section": "netting",
            "from": row["from"],
            "to": row["to"],
            "currency": row["currency"],
            "amount": row["amount"],
        }
    for row in document["circulation"]:
        yield {
            "section": "circulation",
            "currency": row["currency"],
            "closing": row["circulation"],
            "turnover": row["turnover"],
            "velocity": row["velocity"],
        }
    for row in document["income"]["accounts"]:
        yield {
            "section": "income",
            "account": row["account"],
            "currency": row["currency"],
            "amount": row["earned"],
        }
    for row in document["income"]["issued"]:
        yield {
            "section": "issued",
            "collective": row["collective"],
            "currency": row["currency"],
            "amount": row["amount"],
        }
    for row in document["resources"]:
        yield {
            "section": "resource",
            "collective": row["collective"],
            "account": row["account"],
            "name": row["name"],
            "currency": row["currency"],
            "amount": row["revenue"],
            "exchanges": row["bookings_completed"],
        }


def write_report_csv(document: Mapping[str, Any], out: Any) -> None:
    """The rows of :func:`report_csv_rows`; formula-like text cells get a leading ``'``."""
    import csv

    from mutualcredit.domain.csv_cells import csv_cell

    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="raise")
    writer.writeheader()
    for row in report_csv_rows(document):
        writer.writerow(
            {key: "" if value is None else csv_cell(value) for key, value in row.items()}
        )


def report_html(ledger: Ledger, document: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (:mod:`mutualcredit.reports.html`).

    The page draws everything in the card: amounts in a collective's own
    currency are converted at its fixed rate, to the centavo (half to even)
    when the rate is not exact.  The JSON report keeps every exact figure.
    """
    from mutualcredit.reports.html import render_settlement_report_html

    card = ledger.card

    def in_card(amount: str, currency: str) -> str:
        source = ledger.currencies[currency]
        value = Fraction(amount) * source.rate * 10**card.scale
        return format_amount(round(value), card.scale)

    period = document["period"]
    per_day: dict[str, Fraction] = defaultdict(Fraction)
    for row in document["turnover_per_day"]:
        per_day[row["date"]] += Fraction(in_card(row["amount"], row["currency"]))
    days, day = [], date.fromisoformat(period["first"])
    while day <= date.fromisoformat(period["last"]):
        days.append(
            {
                "date": day.isoformat(),
                "amount": format_amount(int(per_day[day.isoformat()] * 10**card.scale), card.scale),
            }
        )
        day += timedelta(days=1)
    return render_settlement_report_html(
        {
            "network": document["network"],
            "currency": card.code,
            "period": {"first": period["first"], "last": period["last"]},
            "generated_at": document["generated_at"],
            "collectives": [
                {
                    "slug": row["slug"],
                    "name": row["name"],
                    "balance": in_card(row["fund"], row["currency"]),
                    "position": row["position"],
                }
                for row in document["collectives"]
            ],
            "turnover_per_day": days,
            "members": [
                {
                    "handle": row["handle"],
                    "name": row["name"],
                    "collective": row["collective"] or "",
                    "balance": in_card(row["closing"], row["currency"]),
                    **(
                        {}
                        if row["limit_lower"] is None
                        else {"limit_lower": in_card(row["limit_lower"], row["currency"])}
                    ),
                    "turnover": in_card(row["turnover"], row["currency"]),
                    "hours": row["hours"],
                    "status": row["status"],
                }
                for row in document["members"]
            ],
            "netting": [
                {"from": row["from"], "to": row["to"], "amount": row["amount"]}
                for row in document["netting"]
            ],
        }
    )
