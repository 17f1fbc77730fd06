"""dashboard covering indexes: per-interval job summary, ledger sums by kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 14:38:17.941604
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_entry_kind_created_at", ["kind", "created_at", "amount"], unique=False
        )

    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.drop_index("ix_render_job_finished_at")
        batch_op.create_index(
            "ix_render_job_finished_at_summary",
            ["finished_at", "status", "backend", "download_count", "credit_cost", "cost_reported"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.drop_index("ix_render_job_finished_at_summary")
        batch_op.create_index("ix_render_job_finished_at", ["finished_at"], unique=False)

    with op.batch_alter_table("credit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_entry_kind_created_at")
