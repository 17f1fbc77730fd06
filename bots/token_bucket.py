"""A token bucket: ``per_minute`` calls a minute in bursts of up to ``burst``; a 429 blocks
it. The chat senders' in-process pacing (Discord's global budget, Slack's per-workspace
budgets); :mod:`bots.pacing` re-exports it."""

from __future__ import annotations

import time


class TokenBucket:
    """``per_minute`` calls a minute in bursts of up to ``burst``; a 429 blocks it.

    It refills at ``per_minute / 60`` tokens a second up to ``burst``, so over any minute
    it allows at most ``per_minute + burst`` calls.
    """

    def __init__(self, per_minute: float, burst: float = 1.0, *, clock=time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, float(burst))
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()
        self.blocked_until = 0.0
        self.taken = 0

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def ready_at(self, now: float | None = None) -> float:
        """When the next call may go (now or later)."""
        now = self.clock() if now is None else now
        self._refill(now)
        at = now if self.tokens >= 1 else now + (1 - self.tokens) / self.rate
        return max(at, self.blocked_until)

    def take(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if now < self.blocked_until:
            return False
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        self.taken += 1
        return True

    def give_back(self) -> None:
        """The call :meth:`take` allowed did not go (a shared budget said wait)."""
        self.tokens = min(self.capacity, self.tokens + 1)
        self.taken -= 1

    def block(self, seconds: float, now: float | None = None) -> None:
        """A 429: nothing goes before ``seconds`` from now; then one call (the retry), and
        the bucket refills from there."""
        now = self.clock() if now is None else now
        self.blocked_until = max(self.blocked_until, now + max(0.0, seconds))
        self.tokens = 1.0
        self.stamp = max(self.stamp, self.blocked_until)
