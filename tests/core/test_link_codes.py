"""Link codes: 80 random bits, single use under concurrency, at most 5 tries per chat
user per hour (SQLite and PostgreSQL; the throttle in memory and in Redis)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from sqlalchemy import select

from core import accounts
from core.errors import InvalidInput, TooManyAttempts
from core.models import ChatIdentity, LinkCode


async def _code(db, factory) -> tuple[str, str]:
    account = await factory.account(name="shared")
    async with db.transaction() as s:
        return account, await accounts.create_link_code(session=s, account_id=account)


async def _redeem(db, code: str, user: str, throttle_url: str = "memory://"):
    async with db.transaction() as s:
        return await accounts.redeem_link_code(
            session=s, code=code, platform="discord", team_id="g1", user_id=user,
            throttle_url=throttle_url,
        )


async def test_a_code_carries_at_least_64_random_bits(db, factory):
    account = await factory.account()
    codes = set()
    async with db.transaction() as s:
        for _ in range(20):
            codes.add(await accounts.create_link_code(session=s, account_id=account))
    assert len(codes) == 20
    for code in codes:
        raw = code.replace("-", "")
        assert len(base64.b32decode(raw)) * 8 >= 64


async def test_twenty_concurrent_redemptions_of_one_code_link_exactly_one_user(db, factory):
    account, code = await _code(db, factory)

    async def attempt(i: int) -> str:
        try:
            linked = await _redeem(db, code, f"user{i}")
        except InvalidInput:
            return "refused"
        assert linked.id == account
        return "linked"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert outcomes.count("linked") == 1
    assert outcomes.count("refused") == 19
    async with db.transaction() as s:
        linked = list(await s.scalars(select(ChatIdentity).where(
            ChatIdentity.account_id == account)))
        row = await s.get(LinkCode, code.replace("-", ""))
    assert len(linked) == 1
    assert row.used_at is not None


async def test_a_code_is_accepted_in_any_case_and_grouping_once(db, factory):
    account, code = await _code(db, factory)
    linked = await _redeem(db, " " + code.lower().replace("-", " ") + " ", "u1")
    assert linked.id == account
    with pytest.raises(InvalidInput):
        await _redeem(db, code, "u2")


async def _sixth_try_is_refused(db, factory, throttle_url: str) -> None:
    account, code = await _code(db, factory)
    for i in range(5):
        with pytest.raises(InvalidInput):
            await _redeem(db, f"WRONG-{i}", "guesser", throttle_url)
    with pytest.raises(TooManyAttempts) as refused:
        await _redeem(db, code, "guesser", throttle_url)  # even the right code, now
    assert 3000 < refused.value.retry_after <= 3600
    # another user is not held back, and the code is still good
    assert (await _redeem(db, code, "someone-else", throttle_url)).id == account


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_sixth_try_within_an_hour_is_refused_in_memory(db, factory):
    await _sixth_try_is_refused(db, factory, "memory://")


@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_sixth_try_within_an_hour_is_refused_with_redis(db, factory, private_redis):
    await _sixth_try_is_refused(db, factory, private_redis.url)
