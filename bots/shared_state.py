"""What every process that edits one platform's status messages shares.

A job's polls land on any worker, so two processes may hold states of one message at the
same time. Through this store they behave as one paced sender per platform token:

* **Delivered versions and a per-message lease** (:meth:`SharedState.claim`): before an
  edit leaves, the sender takes the message's lease and checks that no equal or newer
  version (the job's state rank) was delivered — by any process —, that no newer one waits
  in another process (that one goes instead: coalescing across processes), and that the
  message's last edit (by any process) is ``interval`` seconds old; after a success it
  records its version. One edit of a message is in flight at a time, anywhere, and a delivered
  version never goes backwards, so a final edit is the last write.
* **Budgets**: a 429's
  ``retry_after`` blocks the bucket (or the token, for a global limit) for every process
  (:meth:`block`, :meth:`blocked_for`); Discord's per-route buckets as the responses
  describe them (``X-RateLimit-Bucket`` / ``-Remaining`` / ``-Reset-After``, the way
  discord.py learns them) are spent by every process (:meth:`learn`, :meth:`take`); the
  per-workspace budgets (calls a minute) are ``limits`` moving windows (:meth:`hit`) and the
  token's global budget (calls a second) is paced evenly (:meth:`pace`, GCRA: a refused
  call learns exactly when it may go, and final states may use more of the burst).

Kept in Redis when the broker is Redis, else in this process's memory (the embedded
default runs one process). When Redis cannot be reached the sender carries on with its own
pacing and rank guard (logged): a late status edit is better than none.
"""

from __future__ import annotations

import hashlib
import threading

from bots.shared_state_memory import Claim, SharedState
from bots.shared_state_redis import VERSION_TTL, RedisSharedState
from core import throttle

__all__ = ["VERSION_TTL", "Claim", "RedisSharedState", "SharedState", "for_broker", "mark",
           "namespace"]


def mark(rank: tuple) -> str:
    """A rank as a string that orders like the tuple (fixed-width, offset integers), so
    Redis can compare versions: ``(1, 40, 0, -3)`` → ``"100000000001|…"``."""
    return "|".join(f"{int(part) + 10**11:012d}" for part in rank)


def namespace(platform: str, token: str) -> str:
    """Keys of one platform token (a digest: the token itself is never stored)."""
    return f"renderbot:chat:{platform}:{hashlib.sha256(token.encode()).hexdigest()[:16]}:"


_memory: dict[str, SharedState] = {}
_memory_lock = threading.Lock()


def for_broker(broker_url: str, platform: str, token: str) -> SharedState:
    """The state shared by every sender of ``token``: Redis for a Redis broker, else this
    process's memory (one object per token, so every sender of the process shares it)."""
    prefix = namespace(platform, token)
    if broker_url.startswith(throttle.REDIS_SCHEMES):
        return RedisSharedState(prefix, broker_url)
    with _memory_lock:
        return _memory.setdefault(prefix, SharedState(prefix))
