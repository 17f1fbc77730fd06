"""job error detail for admins (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the full detail of a job's error (stderr, stack, paths): admins only; ``error`` is
    # what the creator reads (core/job_errors.py)
    with op.batch_alter_table("render_job") as batch:
        batch.add_column(sa.Column("error_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("render_job") as batch:
        batch.drop_column("error_detail")
