"""Paced status-message edits over Discord's REST API.

Which route: while the interaction token the message was posted with lives (15 minutes,
:mod:`bots.discord.interaction_tokens`), an edit goes through the interaction webhook
(``PATCH /webhooks/{app}/{token}/messages/{id}``): "Interaction endpoints are not bound to
the bot's Global Rate Limit" (Discord's rate-limit docs), so 100 live jobs are not paced
by 50 requests a second shared by all of them; only the route's own bucket (learnt from
its headers) and the per-message interval hold. After the token's end, or when Discord
refuses it (401 / 404), the edit goes through the bot token's channel route
(``PATCH /channels/{c}/messages/{id}``), within the global budget.
Why not discord.py's HTTP client: it would queue every edit in order, behind the route's
bucket; we want the opposite — one pending edit per message, always the newest state.

* **Coalescing**: one slot per message; a newer state replaces a pending one, and an
  older state never replaces a newer one (``rank``), so a late progress event cannot undo
  "Done".
* **Per-message throttle**: at most one edit every ``edit_interval`` seconds per message
  (terminal states skip the wait).
* **Rate limits**: per-route buckets learnt from ``X-RateLimit-*`` headers (requests are
  only sent while the bucket has room), a global token bucket under Discord's 50 req/s
  for the bot token's routes, and on a 429 the ``retry_after`` is honoured for the bucket
  (or globally) and the edit is retried with the newest state. A 429 on a webhook route
  blocks that route; one with ``global: true`` there blocks every route, the webhooks'
  included (the conservative reading); a bot-token global 429 leaves the interaction
  webhooks alone (they are not bound to that limit).
* **Terminal states are never dropped**: retried with backoff on errors and 429s (bounded
  by ``terminal_attempts``); progress edits give up sooner — the next state follows anyway.
* Permanent errors (401 bad token, 403, 404 deleted message) drop the slot.
* **Every process of the token** (``shared``, Redis when the broker is Redis): the global
  budget is paced evenly in Redis (GCRA), the per-route buckets learnt from any process's
  responses are spent by all, and a 429's ``retry_after`` blocks the bucket (or the token)
  for all of them; the message's lease and delivered version keep edits in order.

The slots, their order and the retries are :class:`bots.pacing.PacedSender`'s; this module
adds Discord's REST call and its rate limits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bots.discord import interaction_tokens
from bots.discord.routes import (
    Bucket,
    Edit,
    Route,
    chosen,
    is_global,
    read_retry_after,
    webhook_route,
)
from bots.pacing import (
    OK,
    Outcome,
    PacedSender,
    Slot,
    Stats,
    TokenBucket,
    Wait,
    error,
    limited,
    permanent,
    wait,
)

__all__ = ["PERMANENT", "StatusSender", "Stats"]

log = logging.getLogger("renderbot.discord.sender")

PERMANENT = {400, 401, 403, 404, 405}


class StatusSender(PacedSender):
    """Sends the newest state of each status message, within Discord's rate limits.

    Create it anywhere; it starts its task on the running loop at the first edit.
    """

    log = log
    task_name = "discord-status-sender"

    def __init__(
        self, *, token: str, api_base: str, edit_interval: float = 1.5,
        global_rate: float = 40.0, progress_attempts: int = 4, **pacing: Any,
    ) -> None:
        """``pacing``: :class:`~bots.pacing.PacedSender`'s ``max_in_flight``,
        ``terminal_attempts`` and ``timeout``."""
        super().__init__(interval=edit_interval, progress_attempts=progress_attempts, **pacing)
        self.token = token
        self.global_rate = global_rate
        self.api_base = api_base.rstrip("/")
        # any 1-second window sees at most rate + burst requests (≈ 1.1 × rate)
        self._global = TokenBucket(global_rate * 60, burst=max(1.0, min(5.0, global_rate / 10)))
        self._burst = self._global.capacity  # the shared budget allows the same burst
        self._buckets: dict[str, Bucket] = {}
        self._fallbacks: dict[tuple, Callable[[], None]] = {}
        self._webhooks_blocked_until = 0.0  # a global 429 on an interaction webhook
        self.upload_timeout = 2 * self.timeout  # under the message lease (2 × timeout + 10)

    @property
    def edit_interval(self) -> float:
        return self.interval

    # --- public API (call on the sender's loop) ------------------------------------------

    def edit(
        self, channel_id: Any, message_id: Any, payload: dict[str, Any], *, rank: tuple,
        terminal: bool, then: Callable[[], None] | None = None, via=None,
    ) -> bool:
        """Make the message show ``payload`` soon; False when an equal or newer state is
        already there or on its way (or the message's final state was delivered).
        ``via``: the :class:`~bots.discord.interaction_tokens.Webhook` the message was
        posted with, while its token is usable (then the edit goes through it)."""
        route = Route("PATCH", f"/channels/{channel_id}/messages/{message_id}",
                       f"PATCH /channels/{channel_id}/messages",
                       "PATCH /channels/{channel_id}/messages/{message_id}", str(channel_id))
        key = ("edit", str(channel_id), str(message_id))
        webhook = None if via is None else webhook_route(via.app_id, via.token, str(message_id))
        slot = self._slots.get(key)
        if slot is not None and webhook is not None and isinstance(slot.target, Edit):
            slot.target.webhook, slot.target.until = webhook, via.until
        target = Edit(route, webhook, via.until if via is not None else 0.0)
        return self._put(key, target, payload, rank=rank, terminal=terminal, then=then)

    def post(self, channel_id: Any, payload: dict[str, Any], *, tag: str) -> bool:
        """Post a message once per ``tag`` (e.g. the completion ping)."""
        route = Route("POST", f"/channels/{channel_id}/messages",
                       f"POST /channels/{channel_id}/messages",
                       "POST /channels/{channel_id}/messages", str(channel_id))
        return self._put(("post", str(channel_id), tag), route, payload, rank=(0,),
                         terminal=True)

    def upload(self, channel_id: Any, payload: dict[str, Any],
               files: list[tuple[str, bytes, str]], *, tag: str,
               fallback: Callable[[], None] | None = None) -> bool:
        """Post a message with files once per ``tag``, within the same budgets as every
        other call of the token. One attempt: when Discord refuses it (413 / 40005 over
        the guild's upload limit, any other error, a timeout) ``fallback`` runs instead."""
        route = Route("POST", f"/channels/{channel_id}/messages",
                       f"POST /channels/{channel_id}/messages",
                       "POST /channels/{channel_id}/messages", str(channel_id), tuple(files))
        key = ("post", str(channel_id), tag)
        payload = {**payload, "attachments": [{"id": i, "filename": name}
                                              for i, (name, _, _) in enumerate(files)]}
        if not self._put(key, route, payload, rank=(0,), terminal=True):
            return False
        if fallback is not None:
            self._fallbacks[key] = fallback
        return True

    # --- PacedSender hooks ---------------------------------------------------------------

    def _describe(self, slot: Slot) -> str:
        route = chosen(slot.target)
        return f"discord {route.method} {route.logged}"

    def _session_headers(self) -> dict[str, str]:
        return {"User-Agent": "DiscordBot (renderbot, 0.1)"}  # the bot token: per request

    def _admit(self, slot: Slot, now: float) -> Wait | None:
        route = slot.target.route() if isinstance(slot.target, Edit) else slot.target
        bucket = self._bucket(route.bucket)
        if not bucket.has_room(now):
            return Wait(bucket.next_room(now) if bucket.in_flight == 0 else None)
        if route.webhook:
            if self._webhooks_blocked_until > now:
                return Wait(self._webhooks_blocked_until)
        else:
            at = self._global.ready_at(now)
            if at > now or not self._global.take(now):
                # the global limit: no bot-token call goes (the webhooks' edits still may)
                return Wait(max(at, now + 0.001))
        if isinstance(slot.target, Edit):
            slot.target.chosen = route
        bucket.in_flight += 1
        return None

    def _released(self, slot: Slot) -> None:
        self._bucket(chosen(slot.target).bucket).in_flight -= 1
        if isinstance(slot.target, Edit):
            slot.target.chosen = None

    async def _shared_admit(self, slot: Slot) -> float:
        shared = self.shared
        if shared is None:
            return 0.0
        route = chosen(slot.target)
        if route.webhook:  # its own bucket, not the bot's global budget
            seconds = await shared.blocked_for("webhooks")
            if seconds == 0:
                seconds = await shared.take(route.template, route.major)
            return seconds
        seconds = await shared.blocked_for("global")
        if seconds == 0:
            seconds = await shared.take(route.template, route.major)
            if seconds > 0:
                return seconds  # this bucket only
            # final states may use all of the burst, progress half of it: processes don't
            # see each other's queues, this keeps "Done" from waiting behind progress
            burst = self._burst / self.global_rate
            seconds = await shared.pace("global", self.global_rate,
                                        burst if slot.terminal else burst / 2)
        if seconds > 0:  # the token's global limit: no bot-token call goes
            self._global.blocked_until = max(self._global.blocked_until,
                                             time.monotonic() + seconds)
        return seconds

    async def _call(self, slot: Slot) -> Outcome:
        route = chosen(slot.target)
        bucket = self._bucket(route.bucket)
        status, data, headers = 0, None, {}
        try:
            status, data, headers = await self._request(route.method, route.path, slot.payload,
                                                        route.files, bot=not route.webhook)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            detail = str(exc).replace(route.path, route.logged)
            log.warning("discord %s %s failed: %s", route.method, route.logged, detail)
        now = time.monotonic()
        if status != 429:  # a 429's own headers may describe another (sub-)limit
            self._learn(bucket, headers, now)
            await self._learn_shared(route, headers)
        if 200 <= status < 300:
            return OK
        if status == 429:
            outcome = self._rate_limited(route, bucket, data, headers, now)
            await self._block_shared(route, data, headers, outcome.retry_after)
            return outcome
        if route.webhook and status in (401, 404):
            return await self._token_refused(slot, status)
        if status in PERMANENT or route.files:  # an upload is tried once, then the fallback
            return permanent(f"{status or 'no response'} {str(data)[:200]}")
        return error(f"status {status or 'no response'}")

    def _sent(self, slot: Slot, version: int, payload: dict[str, Any], now: float) -> None:
        self._fallbacks.pop(slot.key, None)
        super()._sent(slot, version, payload, now)

    def _superseded(self, slot: Slot, version: int) -> None:
        self._fallbacks.pop(slot.key, None)
        super()._superseded(slot, version)

    def _drop(self, slot: Slot, why: str, **kw: Any) -> None:
        super()._drop(slot, why, **kw)
        fallback = self._fallbacks.pop(slot.key, None)
        if fallback is not None:
            try:
                fallback()
            except Exception:  # noqa: BLE001 - a fallback must not break the sender
                log.exception("the fallback of %s failed", self._describe(slot))

    async def _token_refused(self, slot: Slot, status: int) -> Outcome:
        """The interaction's token expired (401 50027) or the webhook lost the message
        (404): the same state goes again at once, through the bot token's channel route."""
        target: Edit = slot.target
        log.info("discord: the interaction token of message %s was refused (%s); editing "
                 "with the bot token", slot.key[-1], status)
        target.webhook, target.until = None, 0.0
        await interaction_tokens.forget(self.shared, str(slot.key[-1]))  # every process
        return wait(0.0)

    # --- Discord's rate limits -----------------------------------------------------------

    def _bucket(self, name: str) -> Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = Bucket()
        return bucket

    def _rate_limited(self, route: Route, bucket: Bucket, data: Any, headers,
                      now: float) -> Outcome:
        retry_after = read_retry_after(data, headers)
        if is_global(data, headers):
            self._global.blocked_until = max(self._global.blocked_until, now + retry_after)
            if route.webhook:
                self._webhooks_blocked_until = max(self._webhooks_blocked_until,
                                                   now + retry_after)
        else:
            bucket.remaining = 0
            bucket.reset_at = now + retry_after
        log.info("discord 429 on %s %s (%s); retrying in %.2f s", route.method, route.logged,
                 headers.get("X-RateLimit-Scope", "?"), retry_after)
        return limited(retry_after)

    async def _learn_shared(self, route: Route, headers) -> None:
        if self.shared is None:
            return
        remaining, reset_after = headers.get("X-RateLimit-Remaining"), \
            headers.get("X-RateLimit-Reset-After")
        if remaining is None or reset_after is None:
            return
        try:
            remaining_i, reset = int(remaining), float(reset_after)
        except ValueError:
            return
        await self.shared.learn(route.template, route.major, headers.get("X-RateLimit-Bucket"),
                                remaining_i, reset)

    async def _block_shared(self, route: Route, data: Any, headers, seconds: float) -> None:
        """A 429 holds for every process of the token: the bucket, or all of it (global)."""
        if self.shared is None:
            return
        if is_global(data, headers):
            await self.shared.block("global", seconds)
            if route.webhook:
                await self.shared.block("webhooks", seconds)
        else:
            await self.shared.block_route(route.template, route.major,
                                          headers.get("X-RateLimit-Bucket"), seconds)

    def _learn(self, bucket: Bucket, headers, now: float) -> None:
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

    async def _request(self, method: str, path: str, payload: dict[str, Any], files=(), *,
                       bot: bool = True):
        kw: dict[str, Any] = {"json": payload}
        if files:  # Discord's multipart form: payload_json + files[n]
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps(payload), content_type="application/json")
            for i, (name, data, content_type) in enumerate(files):
                form.add_field(f"files[{i}]", data, filename=name, content_type=content_type)
            kw = {"data": form, "timeout": aiohttp.ClientTimeout(total=self.upload_timeout)}
        if bot:  # an interaction webhook's token is in its path; it takes no bot token
            kw["headers"] = {"Authorization": f"Bot {self.token}"}
        async with self._http().request(method, self.api_base + path, **kw) as resp:
            text = await resp.text()
            data: Any = text
            if resp.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    data = await resp.json(content_type=None)
            return resp.status, data, resp.headers
