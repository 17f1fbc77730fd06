"""The per-account moving window behind 429 (``limits``): in memory, and in Redis shared
by processes; extra API keys do not multiply an account's quota."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx

from api.ratelimit import MovingWindow, Unlimited, limiter_for
from core import accounts
from tests.fixtures.api import LiveServer, free_port, make_api_settings
from tests.fixtures.pipeline import TINY


async def test_memory_window_counts_per_key_and_refused_requests_do_not_count():
    limiter = MovingWindow("memory://", 3)
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    assert [await limiter.hit(a) for _ in range(3)] == [None, None, None]
    wait = await limiter.hit(a)
    assert wait is not None and 59 < wait <= 60
    assert await limiter.hit(b) is None
    assert (await limiter.hit(a)) is not None  # still refused, the window did not grow


def _hits_in_another_process_like_loop(url: str, key: str, n: int) -> list[float | None]:
    """A separate event loop has its own ``limits`` storage: what another process sees."""
    out: list[float | None] = []

    def run() -> None:
        async def go() -> None:
            limiter = MovingWindow(url, 3)
            out.extend([await limiter.hit(key) for _ in range(n)])

        asyncio.run(go())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return out


async def test_redis_window_is_shared_by_every_process(private_redis):
    key = uuid.uuid4().hex
    assert _hits_in_another_process_like_loop(private_redis.url, key, 2) == [None, None]
    here = MovingWindow(private_redis.url, 3)
    assert await here.hit(key) is None
    wait = await here.hit(key)
    assert wait is not None and 59 < wait <= 60
    # in memory the other loop's hits are not seen
    assert _hits_in_another_process_like_loop("memory://", key, 1) == [None]


async def test_the_limiter_lets_requests_through_when_redis_is_down():
    limiter = MovingWindow(f"redis://127.0.0.1:{free_port()}/0", 1)
    assert await limiter.hit("k") is None
    assert await limiter.hit("k") is None


def test_zero_means_no_limit():
    assert isinstance(limiter_for("memory://", 0), Unlimited)
    assert isinstance(limiter_for("redis://127.0.0.1:6379/0", 5), MovingWindow)


async def test_a_second_api_key_does_not_multiply_the_accounts_quota(
    db, tmp_path, api_caller, api_port, database_url, factory
):
    server = LiveServer(make_api_settings(tmp_path, database_url, api_port,
                                          api={"renders_per_minute": 3})).start()
    try:
        alice = await api_caller(credits_=20, name="alice")
        bob = await api_caller(credits_=20, name="bob")
        async with db.transaction() as s:
            second = (await accounts.create_api_key(session=s, account_id=alice.account_id)).key
        body = {"project_id": alice.project_id, "settings": TINY}
        async with httpx.AsyncClient(base_url=server.url) as c:
            codes = [(await c.post("/v1/renders", headers=alice.headers, json=body)).status_code
                     for _ in range(3)]
            other_key = await c.post("/v1/renders", json=body,
                                     headers={"Authorization": f"Bearer {second}"})
            other_account = await c.post("/v1/renders", headers=bob.headers,
                                         json={"project_id": bob.project_id, "settings": TINY})
        assert codes == [202, 202, 202]
        assert other_key.status_code == 429
        assert other_key.json()["error"] == {
            "code": "rate_limited",
            "message": "too many renders created by this account (limit 3 per minute)"}
        assert 1 <= int(other_key.headers["retry-after"]) <= 60
        assert other_account.status_code == 202
        assert await factory.balance(alice.account_id) == 17
    finally:
        server.stop()
