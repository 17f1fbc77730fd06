"""batches of aspect variants and fair use (issue 18)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "render_batch",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40),
                  sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("project_id", sa.String(40),
                  sa.ForeignKey("project.id", ondelete="CASCADE"), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("credit_cost", sa.Integer(), nullable=False),
        sa.Column("origin", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "idempotency_key"),
    )
    op.create_index("ix_render_batch_account_id", "render_batch", ["account_id"])
    with op.batch_alter_table("render_job") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("chat_server", sa.String(120), nullable=True))
        batch.create_foreign_key(
            "fk_render_job_batch_id_render_batch", "render_batch",
            ["batch_id"], ["id"], ondelete="SET NULL",
        )
        batch.create_index("ix_render_job_batch_id", ["batch_id"])
        batch.create_index("ix_render_job_status_account_id", ["status", "account_id"])


def downgrade() -> None:
    with op.batch_alter_table("render_job") as batch:
        batch.drop_index("ix_render_job_status_account_id")
        batch.drop_index("ix_render_job_batch_id")
        batch.drop_constraint("fk_render_job_batch_id_render_batch", type_="foreignkey")
        batch.drop_column("chat_server")
        batch.drop_column("batch_id")
    op.drop_index("ix_render_batch_account_id", table_name="render_batch")
    op.drop_table("render_batch")
