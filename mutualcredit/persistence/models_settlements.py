"""Tables of the settlement feature: settlements, and the per-day summaries reports read.

- ``settlement``: one row per settled period (local dates, both included),
  written in the same transaction as the settling transfers (the batch they
  belong to, signed by the admin).  A period that overlaps — or ends before —
  one already settled cannot be settled again.
- ``report_account_day``, ``report_account_month`` and ``report_collective_day``: how much moved
  through each account, and how many exchanges and hours each collective
  had, per day in the network's time zone.  Derived data, like the cached
  totals on accounts: :mod:`mutualcredit.services.reports` folds every posted
  transfer into them once (in chain order, up to ``report_watermark``) and can
  rebuild them from postings at any time.  A settlement report then reads a
  few thousand summary rows instead of millions of postings.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel


class Settlement(SQLModel, table=True):
    __tablename__ = "settlement"
    id: int | None = Field(default=None, primary_key=True)
    first_day: str = Field(index=True)  # YYYY-MM-DD, local, included
    last_day: str = Field(index=True)  # YYYY-MM-DD, local, included
    period_start: str  # UTC ISO of the first day's midnight
    period_end: str  # UTC ISO of the midnight after the last day (excluded)
    batch_id: int | None = Field(default=None, foreign_key="batch.id", unique=True)
    record_id: int = Field(foreign_key="record.id", unique=True)  # the signed settlement
    settled_by: str
    settled_at: str
    transfers: int
    total: int = Field(sa_type=BigInteger)  # card minor units moved
    positions: str = Field(sa_column=Column(Text, nullable=False))  # JSON {slug: minor}


class ReportAccountDay(SQLModel, table=True):
    __tablename__ = "report_account_day"
    __table_args__ = {"sqlite_with_rowid": False}
    day: str = Field(primary_key=True)  # YYYY-MM-DD in the network's time zone
    account_id: int = Field(primary_key=True, foreign_key="account.id")
    credits: int = Field(default=0, sa_type=BigInteger)
    debits: int = Field(default=0, sa_type=BigInteger)  # positive
    postings: int = Field(default=0, sa_type=BigInteger)
    hours: int = Field(default=0, sa_type=BigInteger)  # micro-hours of the transfers
    issued: int = Field(default=0, sa_type=BigInteger)  # credits from issuance transfers


class ReportCollectiveDay(SQLModel, table=True):
    __tablename__ = "report_collective_day"
    __table_args__ = {"sqlite_with_rowid": False}
    day: str = Field(primary_key=True)
    collective: str = Field(primary_key=True, foreign_key="collective.slug")
    exchanges: int = Field(default=0, sa_type=BigInteger)  # distinct transfers
    hours: int = Field(default=0, sa_type=BigInteger)  # micro-hours


class ReportAccountMonth(SQLModel, table=True):
    """The day summaries added up per month (long periods and opening balances)."""

    __tablename__ = "report_account_month"
    __table_args__ = {"sqlite_with_rowid": False}
    month: str = Field(primary_key=True)  # YYYY-MM in the network's time zone
    account_id: int = Field(primary_key=True, foreign_key="account.id")
    credits: int = Field(default=0, sa_type=BigInteger)
    debits: int = Field(default=0, sa_type=BigInteger)
    postings: int = Field(default=0, sa_type=BigInteger)
    hours: int = Field(default=0, sa_type=BigInteger)
    issued: int = Field(default=0, sa_type=BigInteger)


class ReportCurrencyDay(SQLModel, table=True):
    """Value paid out of non-clearing accounts per currency and day (turnover per day)."""

    __tablename__ = "report_currency_day"
    __table_args__ = {"sqlite_with_rowid": False}
    day: str = Field(primary_key=True)
    currency: str = Field(primary_key=True, foreign_key="currency.code")
    paid: int = Field(default=0, sa_type=BigInteger)


class ReportWatermark(SQLModel, table=True):
    """One row: the last chain sequence number folded into the day summaries."""

    __tablename__ = "report_watermark"
    id: int = Field(default=1, primary_key=True)
    event_seq: int = Field(default=0, sa_type=BigInteger)
