"""The shared state in this process's memory: what the process's senders of one platform
token share when the broker is not Redis (the embedded default runs one process). The rules
are :mod:`bots.shared_state`'s; :class:`SharedState` is also the base of
:class:`bots.shared_state_redis.RedisSharedState`. :mod:`bots.shared_state` re-exports it."""

from __future__ import annotations

import threading
import time
from typing import Literal

from limits import RateLimitItem

Claim = Literal["go", "stale", "busy", "wait"]


class SharedState:
    """In this process's memory: what the process's senders of one token share (the
    embedded default runs the bot and the worker in one process)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._versions: dict[str, str] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._last: dict[str, float] = {}
        self._pending: dict[str, tuple[str, float]] = {}
        self._blocks: dict[str, float] = {}
        self._routes: dict[str, str] = {}
        self._buckets: dict[str, tuple[int, float]] = {}
        self._windows: dict[str, list[float]] = {}
        self._pace: dict[str, float] = {}

    async def claim(self, key: str, version: str, owner: str, hold: float,
                    interval: float = 0.0) -> tuple[Claim, float]:
        """``go`` (the lease is ours), ``stale`` (an equal or newer version was delivered),
        ``busy`` (another sender's call is in flight) or ``wait`` (seconds until the
        message's last edit is ``interval`` old)."""
        with self._lock:
            now = time.monotonic()
            if self._versions.get(key, "") >= version:
                return "stale", 0.0
            newer = self._pending.get(key)
            if newer and newer[0] > version and newer[1] > now:
                return "stale", 0.0  # a newer state waits in another sender: it goes instead
            self._pending[key] = (version, now + 120)
            held = self._leases.get(key)
            if held and held[0] != owner and held[1] > now:
                return "busy", 0.0
            due = self._last.get(key, -interval) + interval
            if interval > 0 and due > now:
                return "wait", due - now
            self._leases[key] = (owner, now + hold)
            return "go", 0.0

    async def delivered(self, key: str, version: str, owner: str) -> None:
        with self._lock:
            self._last[key] = time.monotonic()
            if self._versions.get(key, "") < version:
                self._versions[key] = version
            if self._leases.get(key, ("",))[0] == owner:
                del self._leases[key]
            if len(self._versions) > 50_000:  # keep the newest half
                for old in list(self._versions)[:25_000]:
                    del self._versions[old]
                    self._last.pop(old, None)
                    self._pending.pop(old, None)

    async def pending(self, key: str, version: str) -> None:
        """A sender holds ``version`` for the message: an older one elsewhere is not sent."""
        with self._lock:
            held = self._pending.get(key)
            if not held or held[0] < version or held[1] < time.monotonic():
                self._pending[key] = (version, time.monotonic() + 120)

    async def release(self, key: str, owner: str) -> None:
        with self._lock:
            if self._leases.get(key, ("",))[0] == owner:
                del self._leases[key]

    async def current(self, key: str, version: str, owner: str, hold: float) -> bool:
        """Still ours to send: nobody delivered this version or a newer one, and the lease
        is ours (renewed for ``hold`` seconds)."""
        with self._lock:
            if self._versions.get(key, "") >= version:
                return False
            held = self._leases.get(key)
            if not held or held[0] != owner:
                return False
            self._leases[key] = (owner, time.monotonic() + hold)
            return True

    # --- budgets: every sender of this process (the bot's and the worker's) ------------

    async def blocked_for(self, scope: str) -> float:
        with self._lock:
            return max(0.0, self._blocks.get(scope, 0.0) - time.monotonic())

    async def block(self, scope: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._blocks[scope] = max(self._blocks.get(scope, 0.0), until)

    def _bucket_of(self, route: str, bucket: str | None) -> str:
        if bucket:
            self._routes[route] = bucket
        return self._routes.get(route, route)

    async def take(self, route: str, major: str) -> float:
        with self._lock:
            now = time.monotonic()
            name = f"{self._bucket_of(route, None)}:{major}"
            blocked = max(self._blocks.get(f"bucket:{name}", 0.0),
                          self._blocks.get(f"bucket:{route}:{major}", 0.0)) - now
            if blocked > 0:
                return blocked
            learnt = self._buckets.get(name)
            if learnt is None or learnt[1] <= now:
                return 0.0
            if learnt[0] <= 0:
                return max(0.001, learnt[1] - now)
            self._buckets[name] = (learnt[0] - 1, learnt[1])
            return 0.0

    async def learn(self, route: str, major: str, bucket: str | None, remaining: int,
                    reset_after: float) -> None:
        with self._lock:
            name = f"{self._bucket_of(route, bucket)}:{major}"
            reset = time.monotonic() + reset_after
            old = self._buckets.get(name)
            if old is not None and abs(old[1] - reset) < 0.25:
                remaining = min(remaining, old[0])
            self._buckets[name] = (remaining, reset)

    async def block_route(self, route: str, major: str, bucket: str | None,
                          seconds: float) -> None:
        with self._lock:
            name = self._bucket_of(route, bucket)
        for scope in {f"bucket:{name}:{major}", f"bucket:{route}:{major}"}:
            await self.block(scope, seconds)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> float:
        """A moving window of ``item.amount`` calls per ``item.get_expiry()`` seconds."""
        with self._lock:
            now, expiry = time.monotonic(), item.get_expiry()
            window = self._windows.setdefault(item.key_for(*identifiers), [])
            while window and window[0] <= now - expiry:
                window.pop(0)
            if len(window) >= item.amount:
                return max(0.001, window[0] + expiry - now)
            window.append(now)
            return 0.0

    async def pace(self, scope: str, per_second: float, tolerance: float) -> float:
        """Evenly spaced calls (GCRA), as :meth:`RedisSharedState.pace`."""
        with self._lock:
            now = time.monotonic()
            tat = max(self._pace.get(scope, 0.0), now)
            if tat - tolerance > now:
                return tat - tolerance - now
            self._pace[scope] = tat + 1 / per_second
            return 0.0
