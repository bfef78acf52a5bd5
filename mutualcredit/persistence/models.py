"""SQLModel tables of the ledger.

History is append-only: no posting or transfer content is ever updated or
deleted.  The only updates are statuses moving forward (a hold's ``status``
from pending to posted, voided or expired; an account or member closing; a
key being revoked) and the cached totals on account rows, which are derived
data that ``verify`` recomputes from postings.

Amounts are ``BigInteger`` minor units.  Times are ISO 8601 UTC strings with
microseconds (``2026-11-27T13:00:00.000000Z``), which sort as text.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Network(SQLModel, table=True):
    __tablename__ = "network"
    id: str = Field(primary_key=True, max_length=32)  # random hex, names the key folder
    name: str
    card: str
    timezone: str
    member_limit_lower: int = Field(sa_type=BigInteger)  # default credit line (<= 0)
    clearing_limit: int = Field(sa_type=BigInteger)  # default bound of each position
    admin: str
    genesis_hash: str
    creation_record: str = Field(sa_column=Column(Text, nullable=False))
    created_at: str


class Currency(SQLModel, table=True):
    __tablename__ = "currency"
    code: str = Field(primary_key=True, max_length=10)
    scale: int
    rate: str  # exact fraction "num/den" of card units per unit
    created_at: str


class Collective(SQLModel, table=True):
    __tablename__ = "collective"
    slug: str = Field(primary_key=True, max_length=32)
    name: str
    currency: str = Field(foreign_key="currency.code")
    member_limit_lower: int | None = Field(default=None, sa_type=BigInteger)
    clearing_limit: int = Field(sa_type=BigInteger)
    created_at: str


class Member(SQLModel, table=True):
    __tablename__ = "member"
    handle: str = Field(primary_key=True, max_length=32)
    name: str
    collective: str | None = Field(default=None, foreign_key="collective.slug")
    status: str = "open"
    created_at: str
    closed_at: str | None = None


class Role(SQLModel, table=True):
    __tablename__ = "role"
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(foreign_key="member.handle", index=True)
    role: str  # admin | coordinator | importer
    collective: str | None = Field(default=None, foreign_key="collective.slug")
    granted_at: str
    granted_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


class Account(SQLModel, table=True):
    __tablename__ = "account"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    currency: str = Field(foreign_key="currency.code")
    owner_kind: str  # member | collective | network
    owner: str | None = None  # member handle or collective slug
    # The account's home collective; None for the network's own accounts.
    collective: str | None = Field(default=None, foreign_key="collective.slug")
    kind: str  # member, fund, clearing, network_clearing, cash, income, issuance, resource, other
    limit_lower: int | None = Field(default=None, sa_type=BigInteger)
    limit_upper: int | None = Field(default=None, sa_type=BigInteger)
    posted_debits: int = Field(default=0, sa_type=BigInteger)
    posted_credits: int = Field(default=0, sa_type=BigInteger)
    pending_debits: int = Field(default=0, sa_type=BigInteger)
    pending_credits: int = Field(default=0, sa_type=BigInteger)
    status: str = "open"
    created_at: str
    closed_at: str | None = None


class Key(SQLModel, table=True):
    __tablename__ = "key"
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(foreign_key="member.handle", index=True)
    public_key: str = Field(unique=True)  # hex of the raw 32-byte Ed25519 public key
    created_at: str
    revoked_at: str | None = None


class Batch(SQLModel, table=True):
    """One signature over many transfers (imports, settlements)."""

    __tablename__ = "batch"
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    author: str
    key_id: int = Field(foreign_key="key.id")
    signature: str
    size: int
    meta: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: str


class Transfer(SQLModel, table=True):
    __tablename__ = "transfer"
    __table_args__ = (
        UniqueConstraint("author", "idempotency_key", name="uq_transfer_idempotency"),
        Index("ix_transfer_pending_expiry", "status", "expires_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    status: str  # posted | pending | voided | expired (holds move forward once)
    author: str
    idempotency_key: str
    content_hash: str
    body: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, as signed
    body_hash: str
    key_id: int = Field(foreign_key="key.id")
    signature: str | None = None  # hex; None when a batch signature covers it
    batch_id: int | None = Field(default=None, foreign_key="batch.id", index=True)
    memo: str = ""
    created_at: str = Field(index=True)
    expires_at: str | None = None
    resolves_id: int | None = Field(default=None, unique=True)  # hold resolved by this one
    reverses_id: int | None = Field(default=None, unique=True)  # at most one reversal
    resolved_at: str | None = None
    event_seq: int | None = Field(default=None, unique=True)


class Posting(SQLModel, table=True):
    __tablename__ = "posting"
    __table_args__ = (Index("ix_posting_account_transfer", "account_id", "transfer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="transfer.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    currency: str
    amount: int = Field(sa_type=BigInteger)


class LimitChange(SQLModel, table=True):
    __tablename__ = "limit_change"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    author: str
    old_lower: int | None = Field(default=None, sa_type=BigInteger)
    new_lower: int | None = Field(default=None, sa_type=BigInteger)
    old_upper: int | None = Field(default=None, sa_type=BigInteger)
    new_upper: int | None = Field(default=None, sa_type=BigInteger)
    reason: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str
    key_id: int = Field(foreign_key="key.id")
    signature: str
    created_at: str


class Record(SQLModel, table=True):
    """Other signed ledger records: key and role events, members, accounts, …"""

    __tablename__ = "record"
    id: int | None = Field(default=None, primary_key=True)
    type: str
    author: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str
    key_id: int | None = Field(default=None, foreign_key="key.id")
    signature: str | None = None
    created_at: str


class Event(SQLModel, table=True):
    """The hash chain: every ledger event in commit order."""

    __tablename__ = "event"
    seq: int = Field(primary_key=True)
    type: str
    subject_id: int
    body_hash: str
    event_hash: str
    chain_hash: str
    created_at: str


class ChainHead(SQLModel, table=True):
    """One row: the last event.  Locking it is the only serial step of a write."""

    __tablename__ = "chain_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    chain_hash: str


def core_table(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel class (SQLModel does not declare ``__table__`` to mypy)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
