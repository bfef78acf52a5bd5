"""payment requests and checkpoints (issue 3)

Revision ID: 0002
Revises: 0001

Written by hand to match ``mutualcredit/persistence/models_audit.py``;
portable types only, so it runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("body_hash", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("payer", sa.String(), nullable=False),
        sa.Column("payee", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("memo", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("resolved_at", sa.String(), nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("resolution_record_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfer.id"]),
        sa.ForeignKeyConstraint(["resolution_record_id"], ["record.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
        sa.UniqueConstraint("transfer_id"),
        sa.UniqueConstraint("resolution_record_id"),
    )
    op.create_index("ix_payment_request_payer", "payment_request", ["payer"])
    op.create_index("ix_payment_request_payee", "payment_request", ["payee"])
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(), nullable=False),
        sa.Column("chain_hash", sa.String(), nullable=False),
        sa.Column("time", sa.String(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkpoint_size", "checkpoint", ["size"])
    op.create_table(
        "merkle_chunk",
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("chunk"),
    )


def downgrade() -> None:
    op.drop_table("merkle_chunk")
    op.drop_index("ix_checkpoint_size", table_name="checkpoint")
    op.drop_table("checkpoint")
    op.drop_index("ix_payment_request_payee", table_name="payment_request")
    op.drop_index("ix_payment_request_payer", table_name="payment_request")
    op.drop_table("payment_request")
