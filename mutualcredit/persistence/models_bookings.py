"""Tables of shared resources and their bookings (migration 0003).

A ``resource`` belongs to a collective and has its own account
(``collectives:<collective>:resources:<slug>``); its booking rules are stored
as columns (durations in whole seconds, ``NULL`` for "no bound").  A
``booking`` reserves ``[start_at, end_at)`` of one unit and points at the hold
that pays for it (``hold_id``) and, once resolved, at the transfer that
resolved it (``resolution_id``: post, void or expire of that hold).  The
booking's ``status`` only moves forward, like its hold's:

========= =========================================================
booking   its hold
========= =========================================================
held      pending
completed posted (in full, or the smaller amount in ``charged``)
cancelled voided, or posted for the fee (``charged``) inside the window
expired   expired
========= =========================================================

Times are ISO 8601 UTC strings with microseconds, which sort as text, so the
overlap query is a range scan of ``ix_booking_resource_range``.
``resource.duration_longest`` is the longest booking ever placed on the
resource: a booking overlapping ``[a, b)`` starts after ``a − duration_longest``,
which bounds that scan from below however long the history is.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Table, Text
from sqlmodel import Field, SQLModel


class Resource(SQLModel, table=True):
    __tablename__ = "resource"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=32)  # unique in the network: `book studio`
    collective: str = Field(foreign_key="collective.slug", index=True)
    name: str
    account_id: int = Field(foreign_key="account.id", unique=True)
    currency: str = Field(foreign_key="currency.code")
    price: int = Field(sa_type=BigInteger)  # minor units of ``currency`` per ``per``
    per: str  # hour | day
    units: int = 1
    duration_min: int | None = None  # seconds; None: no minimum
    duration_max: int | None = None  # seconds; None: no maximum (but BOOKING_DURATION_MAX)
    lead: int = 0  # seconds
    cancel_window: int = 0  # seconds
    cancel_fee_percent: int = 0
    grace: int = 604_800  # seconds (7 days)
    duration_longest: int = 0  # seconds; the longest booking ever placed here
    status: str = "open"  # open | closed
    created_at: str
    created_by: str
    closed_at: str | None = None


class Booking(SQLModel, table=True):
    __tablename__ = "booking"
    __table_args__ = (
        Index("ix_booking_resource_range", "resource_id", "start_at", "end_at"),
        Index("ix_booking_booker_start", "booker", "start_at"),
        Index("ix_booking_status_end", "status", "end_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resource.id")
    booker: str = Field(foreign_key="member.handle")
    start_at: str
    end_at: str
    status: str  # held | completed | cancelled | expired
    price: int = Field(sa_type=BigInteger)  # minor units of the resource's currency
    charged: int | None = Field(default=None, sa_type=BigInteger)  # posted to the resource
    hold_id: int = Field(foreign_key="transfer.id", unique=True)
    resolution_id: int | None = Field(default=None, foreign_key="transfer.id", unique=True)
    memo: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None


# The Core tables, for fast inserts (SQLModel's classes do not declare ``__table__`` to mypy).
RESOURCE_TABLE: Table = Resource.__table__  # type: ignore[attr-defined]
BOOKING_TABLE: Table = Booking.__table__  # type: ignore[attr-defined]
