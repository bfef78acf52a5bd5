"""resources and bookings (issue 4)

Revision ID: 0003
Revises: 0002

Written by hand to match ``mutualcredit/persistence/models_bookings.py``;
portable types only, so it runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("collective", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("per", sa.String(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=True),
        sa.Column("duration_max", sa.Integer(), nullable=True),
        sa.Column("lead", sa.Integer(), nullable=False),
        sa.Column("cancel_window", sa.Integer(), nullable=False),
        sa.Column("cancel_fee_percent", sa.Integer(), nullable=False),
        sa.Column("grace", sa.Integer(), nullable=False),
        sa.Column("duration_longest", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("closed_at", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["collective"], ["collective.slug"]),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["currency"], ["currency.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
        sa.UniqueConstraint("account_id"),
    )
    op.create_index("ix_resource_collective", "resource", ["collective"])
    op.create_table(
        "booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("booker", sa.String(), nullable=False),
        sa.Column("start_at", sa.String(), nullable=False),
        sa.Column("end_at", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=True),
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("resolved_at", sa.String(), nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.ForeignKeyConstraint(["booker"], ["member.handle"]),
        sa.ForeignKeyConstraint(["hold_id"], ["transfer.id"]),
        sa.ForeignKeyConstraint(["resolution_id"], ["transfer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hold_id"),
        sa.UniqueConstraint("resolution_id"),
    )
    # The overlap check is a range scan of this index (see models_bookings).
    op.create_index("ix_booking_resource_range", "booking", ["resource_id", "start_at", "end_at"])
    op.create_index("ix_booking_booker_start", "booking", ["booker", "start_at"])
    op.create_index("ix_booking_status_end", "booking", ["status", "end_at"])


def downgrade() -> None:
    op.drop_index("ix_booking_status_end", table_name="booking")
    op.drop_index("ix_booking_booker_start", table_name="booking")
    op.drop_index("ix_booking_resource_range", table_name="booking")
    op.drop_table("booking")
    op.drop_index("ix_resource_collective", table_name="resource")
    op.drop_table("resource")
