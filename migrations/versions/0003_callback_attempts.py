"""callback attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:19:32.429954
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_attempt",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('delivered', 'retrying', 'failed', 'refused')",
            name=op.f("ck_callback_attempt_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["render_job.id"],
            name=op.f("fk_callback_attempt_job_id_render_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempt")),
    )
    with op.batch_alter_table("callback_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_callback_attempt_event_id", ["event_id"], unique=False)
        batch_op.create_index("ix_callback_attempt_job_id_id", ["job_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_attempt_job_id_id")
        batch_op.drop_index("ix_callback_attempt_event_id")

    op.drop_table("callback_attempt")
