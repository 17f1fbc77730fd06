"""What the API's request path writes and waits for: an API key's last use is written at
most once a minute, and its lookup (Database.read) does not wait for a writer on SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from core import accounts
from core.db import Database, utcnow
from core.models import ApiKey


async def _last_used(db: Database, key_id: str):
    async with db.transaction() as s:
        return await s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))


async def test_last_used_is_written_at_most_once_a_minute(db, factory):
    account = await factory.account()
    async with db.transaction() as s:
        created = await accounts.create_api_key(session=s, account_id=account)
    assert await _last_used(db, created.id) is None

    async with db.transaction() as s:
        assert await accounts.account_for_api_key(session=s, key=created.key) == account
    first = await _last_used(db, created.id)
    assert first is not None

    async with db.read() as s:  # a minute has not passed: nothing to touch
        assert await accounts.live_api_key(session=s, key=created.key) == (account, None)
    async with db.transaction() as s:
        await accounts.account_for_api_key(session=s, key=created.key)
    assert await _last_used(db, created.id) == first

    async with db.transaction() as s:  # two minutes later
        await s.execute(update(ApiKey).where(ApiKey.id == created.id)
                        .values(last_used_at=utcnow() - timedelta(minutes=2)))
    async with db.read() as s:
        assert await accounts.live_api_key(session=s, key=created.key) == (account, created.id)
    async with db.transaction() as s:
        await accounts.account_for_api_key(session=s, key=created.key)
    assert await _last_used(db, created.id) > first

    async with db.transaction() as s:
        await accounts.revoke_api_key(session=s, key_id=created.id)
    async with db.read() as s:
        assert await accounts.live_api_key(session=s, key=created.key) is None


async def test_a_key_lookup_does_not_wait_for_a_writer(sqlite_url):
    db = Database(sqlite_url)
    try:
        async with db.transaction() as s:
            account = await accounts.create(session=s, name="reader")
            created = await accounts.create_api_key(session=s, account_id=account.id)
        async with db.transaction() as writer:
            await writer.execute(update(ApiKey).where(ApiKey.id == created.id)
                                 .values(last_used_at=utcnow()))  # holds the write lock

            async def lookup():
                async with db.read() as s:
                    return await accounts.live_api_key(session=s, key=created.key)

            # committed state (no last use yet: the writer has not committed)
            assert await asyncio.wait_for(lookup(), timeout=5) == (account.id, created.id)
    finally:
        await db.dispose()
