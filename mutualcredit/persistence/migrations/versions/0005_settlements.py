"""settlements and the day summaries of reports (issue 6)

Revision ID: 0005
Revises: 0004

Written by hand to match ``mutualcredit/persistence/models_settlements.py``;
portable types only, so it runs on SQLite and PostgreSQL alike.  The day
summaries start empty with a watermark of 0: the first report folds the
existing history into them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.String(), nullable=False),
        sa.Column("last_day", sa.String(), nullable=False),
        sa.Column("period_start", sa.String(), nullable=False),
        sa.Column("period_end", sa.String(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("settled_by", sa.String(), nullable=False),
        sa.Column("settled_at", sa.String(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("positions", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_settlement_first_day", "settlement", ["first_day"])
    op.create_index("ix_settlement_last_day", "settlement", ["last_day"])
    op.create_table(
        "report_account_day",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("debits", sa.BigInteger(), nullable=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.Column("hours", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        # Reports sum a range of days over every account: the day comes first, and on
        # SQLite the rows are stored in that order (no rowid), so a period is one range.
        sa.PrimaryKeyConstraint("day", "account_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_collective_day",
        sa.Column("collective", sa.String(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("exchanges", sa.BigInteger(), nullable=False),
        sa.Column("hours", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["collective"], ["collective.slug"]),
        sa.PrimaryKeyConstraint("day", "collective"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_account_month",
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("debits", sa.BigInteger(), nullable=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.Column("hours", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("month", "account_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_currency_day",
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["currency"], ["currency.code"]),
        sa.PrimaryKeyConstraint("day", "currency"),
        sqlite_with_rowid=False,
    )
    watermark = op.create_table(
        "report_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(watermark, [{"id": 1, "event_seq": 0}])


def downgrade() -> None:
    op.drop_table("report_watermark")
    op.drop_table("report_currency_day")
    op.drop_table("report_account_month")
    op.drop_table("report_collective_day")
    op.drop_table("report_account_day")
    op.drop_index("ix_settlement_last_day", table_name="settlement")
    op.drop_index("ix_settlement_first_day", table_name="settlement")
    op.drop_table("settlement")
