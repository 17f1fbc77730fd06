"""Migrations build the schema on both databases, and the models match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.db import Base


def _diff(sync_conn):
    context = MigrationContext.configure(
        sync_conn, opts={"compare_type": True, "render_as_batch": True}
    )
    return compare_metadata(context, Base.metadata)


async def test_upgrade_to_head_creates_every_table_and_matches_the_models(db):
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        diff = await conn.run_sync(_diff)
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert diff == []


def test_downgrade_to_base_and_up_again(sqlite_url):
    from alembic import command

    from core.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(sqlite_url), "base")
    upgrade(sqlite_url)
