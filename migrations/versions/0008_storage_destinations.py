"""per-account storage destinations and retention (issue 16)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_destination",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40),
                  sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("prefix", sa.String(255), nullable=False),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("access_key_id", sa.String(255), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("verified_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_storage_destination_account_id", "storage_destination",
                    ["account_id", "cleared_at"])
    with op.batch_alter_table("render_job") as batch:
        batch.add_column(sa.Column("destination_id", sa.String(40), nullable=True))
        batch.add_column(
            sa.Column("output_expired_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_foreign_key(
            "fk_render_job_destination_id_storage_destination", "storage_destination",
            ["destination_id"], ["id"], ondelete="SET NULL",
        )
        batch.create_index("ix_render_job_destination_id", ["destination_id"])


def downgrade() -> None:
    with op.batch_alter_table("render_job") as batch:
        batch.drop_index("ix_render_job_destination_id")
        batch.drop_constraint("fk_render_job_destination_id_storage_destination",
                              type_="foreignkey")
        batch.drop_column("output_expired_at")
        batch.drop_column("destination_id")
    op.drop_index("ix_storage_destination_account_id", table_name="storage_destination")
    op.drop_table("storage_destination")
