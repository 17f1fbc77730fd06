"""core.db: a pooled PostgreSQL connection that sat idle is checked before it is handed
out, so a server-side disconnect (a restart, an idle timeout) costs no request; a
connection just used is handed out without a round trip."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from tests.fixtures.databases import _pg_admin


@pytest.fixture
async def scratch_url(pg_url):
    """A database of its own: its connections are killed here, and other tests' pools in
    this process (on ``pg_url``) must not be."""
    name = pg_url.rsplit("/", 1)[1] + "_ping"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _kill_connections_of(url: str) -> None:
    """What a PostgreSQL restart does to the pool: every server process of this database
    but the caller's own ends."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql").rsplit(
        "/", 1)[0] + "/postgres", timeout=5)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await conn.close()


async def _one(db: Database) -> int:
    async with db.transaction() as s:
        return (await s.execute(text("SELECT 1"))).scalar_one()


async def _pooled_then_killed(pg_url: str, idle: float, wait: float) -> Database:
    db = Database(pg_url, ping_after_idle=idle, pool_size=1, max_overflow=0)
    assert await _one(db) == 1  # the pool now holds one connection
    await _kill_connections_of(pg_url)
    await asyncio.sleep(wait)
    return db


async def test_an_idle_connection_killed_by_the_server_is_replaced(scratch_url):
    db = await _pooled_then_killed(scratch_url, idle=0.2, wait=0.3)
    try:
        assert await _one(db) == 1  # checked, found dead, replaced: the request never saw it
        assert await _one(db) == 1
    finally:
        await db.dispose()


async def test_a_connection_just_used_is_not_checked(scratch_url):
    """The other side of the trade: within the idle window nothing is checked, so a
    connection killed in that window fails the one request that finds it (and the pool
    is then replaced, SQLAlchemy's disconnect handling)."""
    db = await _pooled_then_killed(scratch_url, idle=60, wait=0)
    try:
        with pytest.raises(DBAPIError):
            await _one(db)
        assert await _one(db) == 1
    finally:
        await db.dispose()
