"""Per-API-key sliding-window rate limit for creating renders.

In memory (per process) on the embedded default; in Redis (shared by every API process)
when the broker is Redis. ``hit(key)`` records one request and returns None when it is
allowed, else the seconds until it would be. If Redis cannot be reached the limiter lets
requests through (and logs it): the limit protects capacity, it is not a security check.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict, deque
from typing import Protocol

log = logging.getLogger("renderbot.api")
WINDOW = 60.0


class RateLimiter(Protocol):
    limit: int

    async def hit(self, key: str) -> float | None: ...

    async def close(self) -> None: ...


class Unlimited:
    limit = 0

    async def hit(self, key: str) -> float | None:
        return None

    async def close(self) -> None:
        return None


class MemoryRateLimiter:
    def __init__(self, limit: int, window: float = WINDOW, *, max_keys: int = 100_000,
                 clock=time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    async def hit(self, key: str) -> float | None:
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return None

    async def close(self) -> None:
        return None


# KEYS[1] = the key's sorted set; ARGV = now (ms), window (ms), limit, member.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
"""


class RedisRateLimiter:
    def __init__(self, url: str, limit: int, window: float = WINDOW,
                 prefix: str = "renderbot:ratelimit:renders:") -> None:
        import redis.asyncio as redis

        self.limit = limit
        self.window = window
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._script = self.client.register_script(_SLIDING_WINDOW)

    async def hit(self, key: str) -> float | None:
        now_ms = int(time.time() * 1000)
        try:
            wait_ms = await self._script(
                keys=[self.prefix + key],
                args=[now_ms, int(self.window * 1000), self.limit, f"{now_ms}-{uuid.uuid4().hex[:8]}"],
            )
        except Exception as exc:  # noqa: BLE001 - fail open, see the module docstring
            log.warning("rate limiter: Redis unavailable (%s); request allowed", exc.__class__.__name__)
            return None
        wait_ms = int(wait_ms)
        return None if wait_ms < 0 else max(0.001, wait_ms / 1000)

    async def close(self) -> None:
        await self.client.aclose()


def limiter_for(broker_url: str, limit: int) -> RateLimiter:
    if limit <= 0:
        return Unlimited()
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(broker_url, limit)
    return MemoryRateLimiter(limit)
