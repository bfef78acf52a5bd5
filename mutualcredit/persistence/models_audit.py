"""Tables of the audit feature: payment requests, stored checkpoints, Merkle chunk roots.

- ``payment_request``: a request signed by the payee (its signed body is a
  ``record`` row of type ``payment_request``, appended to the hash chain); its
  status moves forward once — open → accepted | declined | withdrawn.  An
  expired request keeps the status ``open`` in the row and is *shown* as
  expired once its ``expires_at`` has passed (expiry needs no write).
- ``checkpoint``: checkpoints this ledger's coordinators signed or co-signed,
  kept for ``checkpoint list`` and so ``verify`` checks the ledger against
  them too.  They are copies: the copy a member holds is what counts.
- ``merkle_chunk``: the RFC 9162 root of each complete, aligned block of
  :data:`~mutualcredit.services.audit.CHUNK_LEAVES` events.  Derived data (like
  cached balances): it makes proofs over millions of events cost milliseconds,
  and ``verify`` recomputes it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel


class PaymentRequest(SQLModel, table=True):
    __tablename__ = "payment_request"
    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", unique=True)  # the signed request
    body_hash: str  # of the signed request record: the accepting payment names it
    author: str  # the payee's signer
    payer: str = Field(index=True)  # account name
    payee: str = Field(index=True)  # account name
    amount: int = Field(sa_type=BigInteger)  # minor units of ``currency`` (the payer's)
    currency: str
    memo: str = ""
    created_at: str
    expires_at: str | None = None
    status: str = "open"  # open | accepted | declined | withdrawn
    resolved_at: str | None = None
    resolved_by: str | None = None
    transfer_id: int | None = Field(default=None, foreign_key="transfer.id", unique=True)
    resolution_record_id: int | None = Field(default=None, foreign_key="record.id", unique=True)
    reason: str | None = None


class StoredCheckpoint(SQLModel, table=True):
    __tablename__ = "checkpoint"
    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(sa_type=BigInteger, index=True)
    root: str
    chain_hash: str
    time: str
    document: str = Field(sa_column=Column(Text, nullable=False))  # JSON, with signatures
    created_at: str


class MerkleChunk(SQLModel, table=True):
    __tablename__ = "merkle_chunk"
    chunk: int = Field(primary_key=True)  # covers events chunk*N+1 … (chunk+1)*N
    root: str  # hex
