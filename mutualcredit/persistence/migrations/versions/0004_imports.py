"""festival income imports (issue 5)

Revision ID: 0004
Revises: 0003

Written by hand to match ``mutualcredit/persistence/models_imports.py``;
portable types only, so it runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=160), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfer.id"]),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_import_row_source_external_id"),
        sa.UniqueConstraint("transfer_id"),
    )
    op.create_index("ix_import_row_occurred_at", "import_row", ["occurred_at"])
    op.create_index("ix_import_row_batch_id", "import_row", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_import_row_batch_id", table_name="import_row")
    op.drop_index("ix_import_row_occurred_at", table_name="import_row")
    op.drop_table("import_row")
