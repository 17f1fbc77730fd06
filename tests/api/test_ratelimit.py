"""The per-key sliding window behind 429: in memory, and in Redis shared by processes."""

from __future__ import annotations

import uuid

from api.ratelimit import MemoryRateLimiter, RedisRateLimiter, Unlimited, limiter_for
from tests.fixtures.api import free_port


async def test_memory_window_slides():
    now = [1000.0]
    limiter = MemoryRateLimiter(3, window=60, clock=lambda: now[0])
    for step in (0, 10, 10):
        now[0] += step
        assert await limiter.hit("a") is None  # at 1000, 1010, 1020
    assert await limiter.hit("a") == 40  # until the one from 1000 leaves the window
    assert await limiter.hit("b") is None  # per key
    now[0] = 1050
    assert await limiter.hit("a") == 10  # refused requests do not count
    now[0] = 1060.001
    assert await limiter.hit("a") is None
    assert await limiter.hit("a") == 1070 - 1060.001


async def test_memory_limiter_forgets_the_oldest_keys_beyond_its_bound():
    limiter = MemoryRateLimiter(1, max_keys=2)
    for key in ("a", "b", "c"):
        assert await limiter.hit(key) is None
    assert await limiter.hit("a") is None  # "a" was evicted, so it starts afresh
    assert await limiter.hit("c") is not None


async def test_redis_window_is_shared_by_every_process(redis_url):
    key = uuid.uuid4().hex
    one, two = RedisRateLimiter(redis_url, 3), RedisRateLimiter(redis_url, 3)
    try:
        assert await one.hit(key) is None
        assert await two.hit(key) is None
        assert await one.hit(key) is None
        wait = await two.hit(key)
        assert wait is not None and 59 < wait <= 60
        assert await one.hit(uuid.uuid4().hex) is None
    finally:
        await one.close()
        await two.close()


async def test_redis_limiter_lets_requests_through_when_redis_is_down():
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", 1)
    try:
        assert await limiter.hit("k") is None
        assert await limiter.hit("k") is None
    finally:
        await limiter.close()


def test_the_broker_decides_where_the_window_lives():
    assert isinstance(limiter_for("memory://", 5), MemoryRateLimiter)
    assert isinstance(limiter_for("redis://127.0.0.1:6379/0", 5), RedisRateLimiter)
    assert isinstance(limiter_for("redis://127.0.0.1:6379/0", 0), Unlimited)
