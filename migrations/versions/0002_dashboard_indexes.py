"""dashboard indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:17:31.042883
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_event", schema=None) as batch_op:
        batch_op.create_index("ix_job_event_kind_at", ["kind", "at"], unique=False)

    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.create_index("ix_render_job_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_render_job_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_render_job_started_at", ["started_at"], unique=False)
        batch_op.create_index(
            "ix_render_job_status_finished_at", ["status", "finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.drop_index("ix_render_job_status_finished_at")
        batch_op.drop_index("ix_render_job_started_at")
        batch_op.drop_index("ix_render_job_finished_at")
        batch_op.drop_index("ix_render_job_created_at")

    with op.batch_alter_table("job_event", schema=None) as batch_op:
        batch_op.drop_index("ix_job_event_kind_at")
