"""Paced status-message updates over Slack's Web API with the bot token.

Why the bot token and not ``response_url``: a response URL allows 5 uses in 30 minutes;
renders run longer and update more often. Why not one call per progress event: Slack
allows about 50 ``chat.update`` calls a minute per workspace (Tier 3), shared by every
job there. So:

* **Coalescing**: one slot per message; a newer state replaces a pending one, an older
  state never replaces a newer one (``rank``) — a late progress event cannot undo "Done".
* **Per-message throttle**: at most one update every ``update_interval`` seconds per
  message (final states skip the wait).
* **Per-workspace budget**: a token bucket per team for ``chat.update`` (and per channel
  for ``chat.postMessage``); when it is short, final states go first, then the message
  that has waited longest, so every job's message moves.
* **429**: the method's bucket for that team is blocked for ``Retry-After`` seconds and
  the newest state is sent after it.
* **Final states are never dropped** for rate limits; on other errors they are retried
  with backoff (``terminal_attempts``); progress gives up sooner — the next state follows.
  Permanent errors (message deleted, token revoked, ...) drop the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.budget import Budgets

log = logging.getLogger("renderbot.slack.sender")

PERMANENT = {
    "message_not_found", "channel_not_found", "cant_update_message", "edit_window_closed",
    "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "invalid_blocks",
    "msg_too_long", "no_text", "team_access_not_granted", "restricted_action",
}

USER_AGENT = "renderbot-status-sender"
TokenFor = Callable[[str], Awaitable[str | None]]


@dataclass
class Stats:
    sent: int = 0
    rate_limited: int = 0  # 429 responses received
    errors: int = 0
    dropped: int = 0
    dropped_final: int = 0
    coalesced: int = 0


@dataclass
class _Slot:
    key: tuple  # ("update", team, channel, ts) | ("post", team, channel, tag)
    method: str
    budget: tuple
    team_id: str
    body: dict[str, Any]
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
    changes: list[float] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.version > self.sent_version


class SlackSender:
    """Sends the newest state of each status message within each workspace's budget.

    Create it anywhere; it starts its task on the running loop at the first update.
    """

    def __init__(
        self,
        *,
        token_for: TokenFor,
        api_base: str | None = None,
        update_interval: float = 2.0,
        per_team_updates_per_minute: float = 45.0,
        update_burst: float = 4.0,
        posts_per_minute: float = 60.0,
        max_in_flight: int = 8,
        terminal_attempts: int = 12,
        progress_attempts: int = 3,
        timeout: float = 15.0,
    ) -> None:
        self.token_for = token_for
        self.api_base = _with_slash(api_base or AsyncWebClient.BASE_URL)
        self.update_interval = update_interval
        self.max_in_flight = max_in_flight
        self.terminal_attempts = terminal_attempts
        self.progress_attempts = progress_attempts
        self.timeout = timeout
        self.budgets = Budgets(update_per_minute=per_team_updates_per_minute,
                               update_burst=update_burst, post_per_minute=posts_per_minute)
        self.stats = Stats()
        self._slots: dict[tuple, _Slot] = {}
        self._finished: dict[tuple, float] = {}
        self._in_flight = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, AsyncWebClient] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        # (slot key, body, time) of every successful call: for tests and benchmarks
        self.on_sent: Callable[[tuple, dict[str, Any], float], None] | None = None

    # --- public API (call on the sender's loop) ------------------------------------------

    def update(
        self, team_id: str, channel: str, ts: str, message: dict[str, Any], *, rank: tuple,
        terminal: bool, then: Callable[[], None] | None = None,
    ) -> bool:
        """Make the message show ``message`` (``text`` + ``blocks``) soon; False when an
        equal or newer state is already there or on its way."""
        body = {"channel": channel, "ts": ts, **message}
        return self._put(("update", team_id, channel, ts), "chat.update",
                         ("chat.update", team_id), team_id, body, rank=rank,
                         terminal=terminal, then=then)

    def post(self, team_id: str, channel: str, message: dict[str, Any], *, tag: str) -> bool:
        """Post a message once per ``tag`` (e.g. the completion ping in the thread)."""
        body = {"channel": channel, **message}
        return self._put(("post", team_id, channel, tag), "chat.postMessage",
                         ("chat.postMessage", team_id, channel), team_id, body, rank=(0,),
                         terminal=True)

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
        self._clients.clear()

    @property
    def pending(self) -> int:
        return sum(1 for s in self._slots.values() if s.pending or s.in_flight)

    # --- internals -----------------------------------------------------------------------

    def _put(
        self, key: tuple, method: str, budget: tuple, team_id: str, body: dict[str, Any], *,
        rank: tuple, terminal: bool, then: Callable[[], None] | None = None,
    ) -> bool:
        if self._closed or key in self._finished:
            return False
        now = time.monotonic()
        slot = self._slots.get(key)
        if slot is None:
            slot = _Slot(key, method, budget, team_id, body, rank, terminal, then=then,
                         waiting_since=now)
            self._slots[key] = slot
        else:
            if rank <= slot.rank or slot.terminal and not terminal:
                return False
            if slot.pending:
                self.stats.coalesced += 1
            else:
                slot.waiting_since = now
            slot.body, slot.rank, slot.terminal = body, rank, terminal
            slot.then = then or slot.then
            slot.version += 1
            slot.failures = 0
        slot.changes.append(now)
        self._ensure_running()
        assert self._wake is not None
        self._wake.set()
        return True

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._session = None  # a session belongs to one loop
        self._clients.clear()
        self._task = loop.create_task(self._run(), name="slack-status-sender")

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closed:
            wake_at = self._dispatch(time.monotonic())
            self._wake.clear()
            if wake_at is None and self._idle():
                # nothing to do: end the task and free the connections (the next update
                # starts a new task), so a stopping worker loop leaves nothing behind
                session, self._session, self._task = self._session, None, None
                self._clients.clear()
                if session is not None:
                    await session.close()
                return
            timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
            if timeout is not None and timeout <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _idle(self) -> bool:
        return self._in_flight == 0 and not any(
            s.pending or s.in_flight for s in self._slots.values())

    def _dispatch(self, now: float) -> float | None:
        """Start every call that may go now; return when to look again (None: on wake)."""
        wake_at: float | None = None

        def later(at: float) -> None:
            nonlocal wake_at
            wake_at = at if wake_at is None else min(wake_at, at)

        ready = []
        for slot in self._slots.values():
            if not slot.pending or slot.in_flight:
                continue
            due = max(slot.not_before,
                      slot.last_sent + (0.0 if slot.terminal else self.update_interval))
            if due > now:
                later(due)
                continue
            ready.append(slot)
        # final states first, then whoever has waited longest (fair across jobs)
        ready.sort(key=lambda s: (not s.terminal, s.waiting_since))
        for slot in ready:
            if self._in_flight >= self.max_in_flight:
                break  # woken when a call finishes
            bucket = self.budgets.get(slot.budget)
            if not bucket.take(now):
                later(max(bucket.ready_at(now), now + 0.001))
                continue
            self._start(slot)
        return wake_at

    def _start(self, slot: _Slot) -> None:
        slot.in_flight = True
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(slot, slot.version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, slot: _Slot, version: int) -> None:
        body = slot.body
        outcome, error, retry_after = "error", None, 0.0
        try:
            token = await self.token_for(slot.team_id)
            if token is None:
                outcome, error = "permanent", "no_installation"
            else:
                await self._client(token).api_call(slot.method, json=body)
                outcome = "ok"
        except SlackApiError as exc:
            response = exc.response
            error = (response.data or {}).get("error") if isinstance(response.data, dict) else None
            if response.status_code == 429 or error == "ratelimited":
                outcome = "limited"
                retry_after = _retry_after(response.headers)
            elif error in PERMANENT:
                outcome = "permanent"
            else:
                error = error or f"HTTP {response.status_code}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - the sender must keep going
            log.exception("slack %s failed unexpectedly", slot.method)
            error = repr(exc)
        finally:
            slot.in_flight = False
            self._in_flight -= 1
        now = time.monotonic()
        if outcome == "ok":
            self._sent(slot, version, body, now)
        elif outcome == "limited":
            self.stats.rate_limited += 1
            self.budgets.get(slot.budget).block(retry_after, now)
            slot.not_before = now + retry_after
            log.info("slack 429 on %s for team %s; waiting %.1f s", slot.method, slot.team_id,
                     retry_after)
        elif outcome == "permanent":
            self.stats.errors += 1
            self._drop(slot, f"{slot.method}: {error}")
        else:
            self.stats.errors += 1
            self._failed(slot, now, error)
        if self._wake is not None:
            self._wake.set()

    def _sent(self, slot: _Slot, version: int, body: dict[str, Any], now: float) -> None:
        self.stats.sent += 1
        slot.sent_version = max(slot.sent_version, version)
        slot.last_sent = now
        slot.failures = 0
        slot.changes.clear()
        if self.on_sent is not None:
            self.on_sent(slot.key, body, now)
        if slot.terminal and not slot.pending:
            then, slot.then = slot.then, None
            self._forget(slot)
            if then is not None:
                try:
                    then()
                except Exception:  # noqa: BLE001 - a follow-up must not break the sender
                    log.exception("follow-up after the final update failed")

    def _failed(self, slot: _Slot, now: float, error: str | None) -> None:
        slot.failures += 1
        limit = self.terminal_attempts if slot.terminal else self.progress_attempts
        if slot.failures >= limit:
            if slot.terminal:
                self._drop(slot, f"{slot.method} failed {slot.failures} times ({error})")
            else:
                self.stats.dropped += 1
                slot.sent_version = slot.version  # wait for the next state
                log.warning("slack %s failed %d times (%s); waiting for the next state",
                            slot.method, slot.failures, error)
            return
        slot.not_before = now + min(30.0, 0.5 * 2 ** (slot.failures - 1))

    def _drop(self, slot: _Slot, why: str) -> None:
        self.stats.dropped += 1
        if slot.terminal:
            self.stats.dropped_final += 1
        log.warning("giving up on slack message %s%s: %s", slot.key[1:],
                    " (its FINAL state)" if slot.terminal else "", why)
        self._forget(slot)

    def _forget(self, slot: _Slot) -> None:
        self._slots.pop(slot.key, None)
        self._finished[slot.key] = time.monotonic()
        if len(self._finished) > 10_000:
            cutoff = time.monotonic() - 3600
            self._finished = {k: t for k, t in self._finished.items() if t > cutoff}

    def _client(self, token: str) -> AsyncWebClient:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._clients.clear()
        client = self._clients.get(token)
        if client is None:
            client = self._clients[token] = AsyncWebClient(
                token=token, base_url=self.api_base, session=self._session,
                timeout=int(self.timeout), retry_handlers=[], user_agent_prefix=USER_AGENT)
        return client


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _retry_after(headers) -> float:
    for name in ("Retry-After", "retry-after"):
        value = (headers or {}).get(name)
        if value is not None:
            if isinstance(value, list):
                value = value[0] if value else None
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(value))
    return 1.0
