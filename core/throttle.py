"""Moving-window throttles on the ``limits`` package: link-code attempts, admin sign-ins
and the API's per-account render limit share this one place.

The counters live in process memory on the embedded default and in Redis (shared by
every process) when the broker is Redis. ``limits``' async storages belong to the event
loop that first used them, so each loop gets its own (a process has one in production).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger("renderbot.throttle")

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, MovingWindowRateLimiter]]
_limiters = weakref.WeakKeyDictionary()


def storage_for(url: str) -> Storage:
    """Redis storage for a Redis broker URL, else process memory."""
    if url.startswith(REDIS_SCHEMES):
        return RedisStorage(
            "async+" + url if not url.startswith("unix://") else "async+redis+" + url,
            implementation="redispy", key_prefix="renderbot:limits",
            socket_timeout=1, socket_connect_timeout=1,
        )
    return MemoryStorage()


def limiter_for(url: str) -> MovingWindowRateLimiter:
    """The moving-window limiter of this event loop for ``url`` (a broker URL)."""
    per_loop = _limiters.setdefault(asyncio.get_running_loop(), {})
    key = url if url.startswith(REDIS_SCHEMES) else "memory"
    if key not in per_loop:
        per_loop[key] = MovingWindowRateLimiter(storage_for(url))
    return per_loop[key]


@dataclass(frozen=True)
class Rule:
    """At most ``amount`` hits per ``per`` ("minute" or "hour") for one ``scope``."""

    scope: str
    amount: int
    per: str = "minute"

    @property
    def item(self) -> RateLimitItem:
        cls = RateLimitItemPerHour if self.per == "hour" else RateLimitItemPerMinute
        return cls(self.amount, namespace=f"renderbot:{self.scope}")


async def hit(url: str, rule: Rule, *identifiers: str, fail_open: bool = True) -> float | None:
    """Record one hit; None when allowed, else the seconds until one would be.

    When the counter store cannot be reached, ``fail_open`` lets the hit through (a
    capacity limit) or refuses it for a minute (a security limit); it is logged either way.
    """
    if rule.amount <= 0:
        return None
    limiter = limiter_for(url)
    try:
        if await limiter.hit(rule.item, *identifiers):
            return None
        stats = await limiter.get_window_stats(rule.item, *identifiers)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("throttle %s: counter store unavailable (%s); %s", rule.scope,
                    exc.__class__.__name__, "allowed" if fail_open else "refused")
        return None if fail_open else 60.0
    return max(0.001, stats.reset_time - time.time())


async def blocked(url: str, rule: Rule, *identifiers: str, fail_open: bool = True) -> float | None:
    """Without recording a hit: None while a hit would be allowed, else the seconds until
    one would be (count only failures: :func:`blocked` first, :func:`hit` on failure)."""
    if rule.amount <= 0:
        return None
    limiter = limiter_for(url)
    try:
        if await limiter.test(rule.item, *identifiers):
            return None
        stats = await limiter.get_window_stats(rule.item, *identifiers)
    except Exception as exc:  # noqa: BLE001 - see hit()
        log.warning("throttle %s: counter store unavailable (%s); %s", rule.scope,
                    exc.__class__.__name__, "allowed" if fail_open else "refused")
        return None if fail_open else 60.0
    return max(0.001, stats.reset_time - time.time())


async def clear(url: str, rule: Rule, *identifiers: str) -> None:
    """Forget the hits of ``identifiers`` (e.g. after a successful sign-in)."""
    try:
        await limiter_for(url).clear(rule.item, *identifiers)
    except Exception as exc:  # noqa: BLE001
        log.warning("throttle %s: could not clear (%s)", rule.scope, exc.__class__.__name__)
