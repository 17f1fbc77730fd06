"""The per-account moving-window limit on creating renders (``limits``, via core.throttle).

Per ACCOUNT, not per key: extra API keys do not multiply an account's quota. The window
lives in process memory on the embedded default and in Redis (shared by every API
process) when the broker is Redis. ``hit(account_id)`` records one request and returns
None when it is allowed, else the seconds until it would be. If Redis cannot be reached
the limiter lets requests through (and logs it): the limit protects capacity, it is not
a security check.
"""

from __future__ import annotations

from typing import Protocol

from core import throttle


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


class MovingWindow:
    """``limit`` renders per account per minute, counted where ``url`` (the broker) says."""

    def __init__(self, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        self.rule = throttle.Rule("api-renders", limit, per="minute")

    async def hit(self, key: str) -> float | None:
        return await throttle.hit(self.url, self.rule, key, fail_open=True)

    async def close(self) -> None:
        return None


def limiter_for(broker_url: str, limit: int) -> RateLimiter:
    if limit <= 0:
        return Unlimited()
    return MovingWindow(broker_url, limit)
