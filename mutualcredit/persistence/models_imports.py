"""Tables of festival income imports (issue 5).

``import_row`` is the exactly-once register: one row per imported export row,
unique by ``(source, external_id)`` whoever imported it.  It is written in the
same transaction as the row's transfer (the posting function's ``after``
hook), so a row is in this table if and only if its transfer is in the
ledger.  ``content_hash`` is the SHA-256 (first 32 hex digits) of the values
the rules read from the row; a later export with the same id and other
values is a conflict.  The batch of each row (its provenance: file and rules
hashes, importer, counts) is the ledger's ``batch`` row.
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class ImportRow(SQLModel, table=True):
    __tablename__ = "import_row"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_import_row_source_external_id"),
        Index("ix_import_row_occurred_at", "occurred_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=160)
    content_hash: str = Field(max_length=32)
    transfer_id: int = Field(foreign_key="transfer.id", unique=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    line: int
    occurred_at: str  # ISO 8601 UTC, when the sale happened (the transfer's meta has it too)
