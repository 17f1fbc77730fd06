"""The paced senders' data: a message's slot, how a call went, when to look again, stats.
:mod:`bots.pacing` re-exports them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Then = Callable[[], None]
OnSent = Callable[[tuple, dict[str, Any], float], None]


@dataclass
class Stats:
    sent: int = 0
    rate_limited: int = 0  # 429 responses received
    errors: int = 0
    dropped: int = 0
    dropped_final: int = 0
    coalesced: int = 0
    superseded: int = 0  # another process delivered (or holds) an equal or newer state
    waited: int = 0  # another process's edit, its call in flight or a shared budget said wait


@dataclass
class Slot:
    """The newest state of one message (or one post) and its delivery bookkeeping."""

    key: tuple
    target: Any  # the platform's address for the call (method, route, limits' keys)
    payload: dict[str, Any]
    rank: tuple
    terminal: bool
    version: int = 1
    sent_version: int = 0
    last_sent: float = -math.inf
    not_before: float = 0.0
    paced_until: float = 0.0  # another process edited the message: progress waits till then
    waiting_since: float = 0.0
    failures: int = 0
    in_flight: bool = False
    then: Then | None = None

    @property
    def pending(self) -> bool:
        return self.version > self.sent_version


@dataclass(frozen=True)
class Outcome:
    """How one call went: ``ok``, ``limited`` (retry the newest state after
    ``retry_after`` seconds), ``permanent`` (give up on the slot) or ``error`` (retry
    with backoff); without a call: ``stale`` (an equal or newer state was delivered by
    another process) or ``wait`` (shared budget or another process's call in flight: look
    again after ``retry_after``, not a failure). ``detail`` is for the log."""

    kind: Literal["ok", "limited", "permanent", "error", "stale", "wait"]
    detail: str = ""
    retry_after: float = 0.0


OK = Outcome("ok")


def limited(retry_after: float) -> Outcome:
    return Outcome("limited", retry_after=retry_after)


def permanent(detail: str) -> Outcome:
    return Outcome("permanent", detail)


def error(detail: str) -> Outcome:
    return Outcome("error", detail)


STALE = Outcome("stale")


def wait(seconds: float) -> Outcome:
    return Outcome("wait", retry_after=seconds)


@dataclass(frozen=True)
class Wait:
    """A platform limit says not now: look again at ``until`` (None: when a call in flight
    finishes). ``stop``: the limit is shared by every slot, so skip the rest of this pass."""

    until: float | None
    stop: bool = False
