"""a poster frame beside every completed render's video (issue 17)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("render_job") as batch:
        batch.add_column(sa.Column("poster_key", sa.String(512), nullable=True))
        batch.add_column(sa.Column("poster_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("render_job") as batch:
        batch.drop_column("poster_url")
        batch.drop_column("poster_key")
