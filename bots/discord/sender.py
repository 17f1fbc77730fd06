"""Paced status-message edits over Discord's REST API with the bot token.

Why not the interaction webhook: its token dies after 15 minutes; renders can take longer.
Why not discord.py's HTTP client: it would queue every edit in order, behind the route's
bucket; we want the opposite — one pending edit per message, always the newest state.

* **Coalescing**: one slot per message; a newer state replaces a pending one, and an
  older state never replaces a newer one (``rank``), so a late progress event cannot undo
  "Done".
* **Per-message throttle**: at most one edit every ``edit_interval`` seconds per message
  (terminal states skip the wait).
* **Rate limits**: per-route buckets learnt from ``X-RateLimit-*`` headers (requests are
  only sent while the bucket has room), a global token bucket under Discord's 50 req/s,
  and on a 429 the ``retry_after`` is honoured for the bucket (or globally) and the edit is
  retried with the newest state.
* **Terminal states are never dropped**: retried with backoff on errors and 429s (bounded
  by ``terminal_attempts``); progress edits give up sooner — the next state follows anyway.
* Permanent errors (401 bad token, 403, 404 deleted message) drop the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger("renderbot.discord.sender")

PERMANENT = {400, 401, 403, 404, 405}


@dataclass
class Stats:
    sent: int = 0
    rate_limited: int = 0  # 429 responses received
    errors: int = 0
    dropped: int = 0
    coalesced: int = 0


@dataclass
class _Slot:
    key: tuple
    method: str
    path: str
    bucket: str
    payload: dict[str, Any]
    rank: tuple
    terminal: bool
    version: int = 1
    sent_version: int = 0
    last_sent: float = -math.inf
    not_before: float = 0.0
    waiting_since: float = 0.0
    failures: int = 0
    in_flight: bool = False
    then: Callable[[], None] | None = None
    enqueued_at: list[float] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.version > self.sent_version


@dataclass
class _Bucket:
    limit: int | None = None
    remaining: int | None = None  # None: not learnt yet -> one request at a time
    reset_at: float = 0.0
    in_flight: int = 0

    def has_room(self, now: float) -> bool:
        if self.remaining is None:
            return self.in_flight == 0
        if now >= self.reset_at:
            # the window is over: the server refills the bucket; probe with one request
            return self.in_flight == 0 or (self.limit or 1) - self.in_flight > 0
        return self.remaining - self.in_flight > 0

    def next_room(self, now: float) -> float:
        return self.reset_at if self.reset_at > now else now


class _GlobalPacer:
    """A token bucket: ``rate`` requests a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.blocked_until = 0.0

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def ready_at(self, now: float) -> float:
        self._refill(now)
        at = now if self.tokens >= 1 else now + (1 - self.tokens) / self.rate
        return max(at, self.blocked_until)

    def take(self, now: float) -> bool:
        if now < self.blocked_until:
            return False
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class StatusSender:
    """Sends the newest state of each status message, within Discord's rate limits.

    Create it anywhere; it starts its task on the running loop at the first edit.
    """

    def __init__(
        self,
        *,
        token: str,
        api_base: str,
        edit_interval: float = 1.5,
        global_rate: float = 40.0,
        max_in_flight: int = 8,
        terminal_attempts: int = 12,
        progress_attempts: int = 4,
        timeout: float = 15.0,
    ) -> None:
        self.token = token
        self.api_base = api_base.rstrip("/")
        self.edit_interval = edit_interval
        self.max_in_flight = max_in_flight
        self.terminal_attempts = terminal_attempts
        self.progress_attempts = progress_attempts
        self.timeout = timeout
        self.stats = Stats()
        # any 1-second window sees at most rate + burst requests (≈ 1.1 × rate)
        self._global = _GlobalPacer(global_rate, burst=max(1.0, min(5.0, global_rate / 10)))
        self._slots: dict[tuple, _Slot] = {}
        self._finished: dict[tuple, float] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._in_flight = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        # (key, payload, response time) of every successful send, for tests and benchmarks
        self.on_sent: Callable[[tuple, dict[str, Any], float], None] | None = None

    # --- public API (call on the sender's loop) ------------------------------------------

    def edit(
        self, channel_id: Any, message_id: Any, payload: dict[str, Any], *, rank: tuple,
        terminal: bool, then: Callable[[], None] | None = None,
    ) -> bool:
        """Make the message show ``payload`` soon; False when an equal or newer state is
        already there or on its way (or the message's final state was delivered)."""
        return self._put(
            ("edit", str(channel_id), str(message_id)), "PATCH",
            f"/channels/{channel_id}/messages/{message_id}", f"PATCH /channels/{channel_id}/messages",
            payload, rank=rank, terminal=terminal, then=then,
        )

    def post(self, channel_id: Any, payload: dict[str, Any], *, tag: str) -> bool:
        """Post a message once per ``tag`` (e.g. the completion ping)."""
        return self._put(
            ("post", str(channel_id), tag), "POST", f"/channels/{channel_id}/messages",
            f"POST /channels/{channel_id}/messages", payload, rank=(0,), terminal=True,
        )

    async def flush(self, within: float = 30.0) -> bool:
        """Wait until nothing is pending or in flight; False on timeout."""
        deadline = time.monotonic() + within
        while any(s.pending or s.in_flight for s in self._slots.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pending(self) -> int:
        return sum(1 for s in self._slots.values() if s.pending or s.in_flight)

    # --- internals -----------------------------------------------------------------------

    def _put(
        self, key: tuple, method: str, path: str, bucket: str, payload: dict[str, Any], *,
        rank: tuple, terminal: bool, then: Callable[[], None] | None = None,
    ) -> bool:
        if self._closed or key in self._finished:
            return False
        now = time.monotonic()
        slot = self._slots.get(key)
        if slot is None:
            slot = _Slot(key, method, path, bucket, payload, rank, terminal, then=then,
                         waiting_since=now)
            self._slots[key] = slot
        else:
            if rank <= slot.rank or slot.terminal and not terminal:
                return False
            if slot.pending:
                self.stats.coalesced += 1
            else:
                slot.waiting_since = now
            slot.payload, slot.rank, slot.terminal = payload, rank, terminal
            slot.then = then or slot.then
            slot.version += 1
            slot.failures = 0
        slot.enqueued_at.append(now)
        self._ensure_running()
        self._wake.set()
        return True

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._session = None  # a session belongs to one loop
        self._task = loop.create_task(self._run(), name="discord-status-sender")

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket()
        return bucket

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closed:
            now = time.monotonic()
            wake_at = self._dispatch(now)
            self._wake.clear()
            timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
            if timeout is not None and timeout <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _dispatch(self, now: float) -> float | None:
        """Start every send that may go now; return when to look again (None: on wake)."""
        wake_at: float | None = None

        def later(at: float) -> None:
            nonlocal wake_at
            wake_at = at if wake_at is None else min(wake_at, at)

        ready = []
        for slot in self._slots.values():
            if not slot.pending or slot.in_flight:
                continue
            due = max(slot.not_before,
                      slot.last_sent + (0.0 if slot.terminal else self.edit_interval))
            if due > now:
                later(due)
                continue
            ready.append(slot)
        ready.sort(key=lambda s: (not s.terminal, s.waiting_since))
        for slot in ready:
            if self._in_flight >= self.max_in_flight:
                break  # woken when a send finishes
            bucket = self._bucket(slot.bucket)
            if not bucket.has_room(now):
                if bucket.in_flight == 0:
                    later(bucket.next_room(now))
                continue
            at = self._global.ready_at(now)
            if at > now or not self._global.take(now):
                later(max(at, now + 0.001))
                break
            self._start(slot, bucket)
        return wake_at

    def _start(self, slot: _Slot, bucket: _Bucket) -> None:
        slot.in_flight = True
        bucket.in_flight += 1
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(slot, bucket, slot.version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, slot: _Slot, bucket: _Bucket, version: int) -> None:
        payload = slot.payload
        status, data, headers = 0, None, {}
        try:
            status, data, headers = await self._request(slot.method, slot.path, payload)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("discord %s %s failed: %s", slot.method, slot.path, exc)
        finally:
            slot.in_flight = False
            bucket.in_flight -= 1
            self._in_flight -= 1
        now = time.monotonic()
        if status != 429:  # a 429's own headers may describe another (sub-)limit
            self._learn(bucket, headers, now)
        if 200 <= status < 300:
            self._sent(slot, version, payload, now)
        elif status == 429:
            self._rate_limited(slot, bucket, data, headers, now)
        elif status in PERMANENT:
            self.stats.errors += 1
            self.stats.dropped += 1
            log.warning("discord %s %s: %s %s; giving up on this message", slot.method,
                        slot.path, status, str(data)[:200])
            self._forget(slot, finished=True)
        else:
            self.stats.errors += 1
            self._failed(slot, now, status)
        if self._wake is not None:
            self._wake.set()

    def _sent(self, slot: _Slot, version: int, payload: dict[str, Any], now: float) -> None:
        self.stats.sent += 1
        slot.sent_version = max(slot.sent_version, version)
        slot.last_sent = now
        slot.failures = 0
        slot.enqueued_at.clear()
        if self.on_sent is not None:
            self.on_sent(slot.key, payload, now)
        if slot.terminal and not slot.pending:
            then, slot.then = slot.then, None
            self._forget(slot, finished=True)
            if then is not None:
                try:
                    then()
                except Exception:  # noqa: BLE001 - a follow-up must not break the sender
                    log.exception("follow-up after the final edit failed")

    def _rate_limited(self, slot: _Slot, bucket: _Bucket, data: Any, headers, now: float) -> None:
        self.stats.rate_limited += 1
        retry_after = _retry_after(data, headers)
        is_global = (isinstance(data, dict) and data.get("global")) or \
            headers.get("X-RateLimit-Global", "").lower() == "true"
        if is_global:
            self._global.blocked_until = max(self._global.blocked_until, now + retry_after)
        else:
            bucket.remaining = 0
            bucket.reset_at = now + retry_after
        slot.not_before = now + retry_after
        log.info("discord 429 on %s %s (%s); retrying in %.2f s", slot.method, slot.path,
                 headers.get("X-RateLimit-Scope", "?"), retry_after)

    def _failed(self, slot: _Slot, now: float, status: int) -> None:
        slot.failures += 1
        limit = self.terminal_attempts if slot.terminal else self.progress_attempts
        if slot.failures >= limit:
            self.stats.dropped += 1
            log.error("discord %s %s failed %d times (last status %s); dropping%s",
                      slot.method, slot.path, slot.failures, status or "no response",
                      " the FINAL state" if slot.terminal else "")
            if slot.terminal:
                self._forget(slot, finished=True)
            else:
                slot.sent_version = slot.version  # wait for the next state
            return
        slot.not_before = now + min(30.0, 0.5 * 2 ** (slot.failures - 1))

    def _forget(self, slot: _Slot, *, finished: bool) -> None:
        self._slots.pop(slot.key, None)
        if finished:
            self._finished[slot.key] = time.monotonic()
            if len(self._finished) > 10_000:
                cutoff = time.monotonic() - 3600
                self._finished = {k: t for k, t in self._finished.items() if t > cutoff}

    def _learn(self, bucket: _Bucket, headers, now: float) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        reset_after = headers.get("X-RateLimit-Reset-After")
        if remaining is None or reset_after is None:
            return
        try:
            remaining_i, reset = int(remaining), float(reset_after)
        except ValueError:
            return
        limit = headers.get("X-RateLimit-Limit")
        if limit is not None and limit.isdigit():
            bucket.limit = int(limit)
        new_reset = now + reset
        if bucket.remaining is not None and now < bucket.reset_at and \
                abs(new_reset - bucket.reset_at) < 0.25:
            # same window, responses may arrive out of order: keep the lower count
            bucket.remaining = min(bucket.remaining, remaining_i)
        else:
            bucket.remaining = remaining_i
        bucket.reset_at = max(bucket.reset_at, new_reset) if remaining_i == 0 else new_reset

    async def _request(self, method: str, path: str, payload: dict[str, Any]):
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Authorization": f"Bot {self.token}",
                         "User-Agent": "DiscordBot (renderbot, 0.1)"},
            )
        async with self._session.request(method, self.api_base + path, json=payload) as resp:
            text = await resp.text()
            data: Any = text
            if resp.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    data = await resp.json(content_type=None)
            return resp.status, data, resp.headers


def _retry_after(data: Any, headers) -> float:
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
        return max(0.0, float(data["retry_after"]))
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        value = headers.get(name)
        if value:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value))
    return 1.0
