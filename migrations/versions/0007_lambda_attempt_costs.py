"""lambda cost per attempt (issue 15)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lambda_attempt_cost",
        sa.Column("job_id", sa.String(40), sa.ForeignKey("render_job.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("render_id", sa.String(64), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lambda_attempt_cost_updated_at", "lambda_attempt_cost", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_lambda_attempt_cost_updated_at", table_name="lambda_attempt_cost")
    op.drop_table("lambda_attempt_cost")
