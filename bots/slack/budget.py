"""Rate budgets for Slack Web API methods: token buckets, blocked by 429 Retry-After.

Slack limits each method per workspace (``chat.update`` is Tier 3: about 50 calls a
minute) and ``chat.postMessage`` to about one message a second per channel. A bucket
(:class:`bots.pacing.TokenBucket`) refills at ``per_minute / 60`` tokens a second up to
``burst``; so over any minute it allows at most ``per_minute + burst`` calls. A 429 blocks
the bucket until Retry-After.
"""

from __future__ import annotations

from bots.pacing import TokenBucket

__all__ = ["Budgets", "TokenBucket"]


class Budgets:
    """One bucket per key, made on first use: ``("chat.update", team)``,
    ``("chat.postMessage", team, channel)``."""

    def __init__(self, *, update_per_minute: float, update_burst: float = 4.0,
                 post_per_minute: float = 60.0, post_burst: float = 3.0) -> None:
        self.update_per_minute, self.update_burst = update_per_minute, update_burst
        self.post_per_minute, self.post_burst = post_per_minute, post_burst
        self._buckets: dict[tuple, TokenBucket] = {}

    def get(self, key: tuple) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if key[0] == "chat.update":
                bucket = TokenBucket(self.update_per_minute, self.update_burst)
            else:
                bucket = TokenBucket(self.post_per_minute, self.post_burst)
            self._buckets[key] = bucket
        return bucket
