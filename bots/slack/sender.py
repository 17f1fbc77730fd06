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
  for ``chat.postMessage``), shared by every process as evenly spaced calls (GCRA: any
  minute sees at most the budget plus its burst); when it is short, final states go first, then the message
  that has waited longest, so every job's message moves. Across processes too: a final
  state refused by the shared budget marks the workspace "finals waiting" (for
  ``FINALS_HOLD`` seconds past its turn) and no process spends that budget on progress
  meanwhile.
* **429**: the method's bucket for that team is blocked for ``Retry-After`` seconds and
  the newest state is sent after it.
* **Final states are never dropped** for rate limits; on other errors they are retried
  with backoff (``terminal_attempts``); progress gives up sooner — the next state follows.
  Permanent errors (message deleted, token revoked, ...) drop the slot.
* **Retries inside slack_sdk**: a 500/503 or a dropped connection is retried once by the
  client's retry handlers, which first ask :func:`bots.pacing.still_current` — a re-send
  never carries an older state than the newest one pending here or delivered anywhere.
* **Every process of the app** (``shared``, Redis when the broker is Redis): the
  per-workspace ``chat.update`` budget is paced evenly for all (GCRA), the other methods'
  budgets are ``limits`` moving windows spent by all, and a 429's
  ``Retry-After`` blocks that budget for all; the message's lease and delivered version
  keep updates in order.

The slots, their order and the retries are :class:`bots.pacing.PacedSender`'s; this module
adds the Web API call and the per-workspace budgets (:mod:`bots.slack.budget`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import aiohttp
from limits import RateLimitItemPerMinute
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bots.pacing import (
    OK,
    Outcome,
    PacedSender,
    Slot,
    Stats,
    Wait,
    error,
    limited,
    permanent,
    still_current,
)
from bots.slack.budget import Budgets

__all__ = ["PERMANENT", "USER_AGENT", "SlackSender", "Stats", "TokenFor"]

log = logging.getLogger("renderbot.slack.sender")

PERMANENT = {
    "message_not_found", "channel_not_found", "cant_update_message", "edit_window_closed",
    "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "invalid_blocks",
    "msg_too_long", "no_text", "team_access_not_granted", "restricted_action",
}

USER_AGENT = "renderbot-status-sender"
UPLOAD_TIMEOUT = 300  # seconds per HTTP call of an upload: 50 MB at ~1.5 MB/s
FINALS_HOLD = 1.0  # seconds progress keeps yielding after a waiting final's turn
TokenFor = Callable[[str], Awaitable[str | None]]


class _Guarded:
    """Mixed into a slack_sdk retry handler: after its pause and right before the re-send,
    a call that no longer carries the newest state is not re-sent (it fails as it is, and
    the sender sends the newest state instead)."""

    async def prepare_for_next_attempt_async(self, *, state, request, response=None,
                                             error=None) -> None:
        await super().prepare_for_next_attempt_async(  # type: ignore[misc]
            state=state, request=request, response=response, error=error)
        if not await still_current():
            state.next_attempt_requested = False
            log.info("slack: not re-sending %s, a newer state superseded it", request.url)


class GuardedServerErrorRetryHandler(_Guarded, AsyncServerErrorRetryHandler):
    pass


class GuardedConnectionErrorRetryHandler(_Guarded, AsyncConnectionErrorRetryHandler):
    pass


def retry_handlers() -> list[AsyncRetryHandler]:
    """One retry of a 500/503 or a dropped connection, guarded; 429s are the sender's (it
    blocks the budget for every process and sends the newest state after Retry-After)."""
    return [GuardedServerErrorRetryHandler(max_retry_count=1),
            GuardedConnectionErrorRetryHandler(max_retry_count=1)]


class _Call(NamedTuple):
    method: str
    budget: tuple  # ("chat.update", team) | ("chat.postMessage", team, channel)
    team_id: str


class SlackSender(PacedSender):
    """Sends the newest state of each status message within each workspace's budget.

    Create it anywhere; it starts its task on the running loop at the first update.
    """

    log = log
    task_name = "slack-status-sender"
    stop_when_idle = True

    def __init__(
        self, *, token_for: TokenFor, api_base: str | None = None,
        update_interval: float = 2.0, per_team_updates_per_minute: float = 45.0,
        update_burst: float = 4.0, posts_per_minute: float = 60.0, **pacing: Any,
    ) -> None:
        """``pacing``: :class:`~bots.pacing.PacedSender`'s ``max_in_flight``,
        ``terminal_attempts``, ``progress_attempts`` and ``timeout``."""
        super().__init__(interval=update_interval, **pacing)
        self.token_for = token_for
        self.api_base = _with_slash(api_base or AsyncWebClient.BASE_URL)
        self.budgets = Budgets(update_per_minute=per_team_updates_per_minute,
                               update_burst=update_burst, post_per_minute=posts_per_minute)
        self._shared_items = {
            "chat.update": RateLimitItemPerMinute(max(1, int(per_team_updates_per_minute))),
            "chat.postMessage": RateLimitItemPerMinute(max(1, int(posts_per_minute))),
            # files.getUploadURLExternal / completeUploadExternal are Tier 4 (100+ a minute)
            "files.uploadV2": RateLimitItemPerMinute(max(1, int(posts_per_minute))),
        }
        self._clients: dict[str, AsyncWebClient] = {}

    @property
    def update_interval(self) -> float:
        return self.interval

    # --- public API (call on the sender's loop) ------------------------------------------

    def update(
        self, team_id: str, channel: str, ts: str, message: dict[str, Any], *, rank: tuple,
        terminal: bool, then: Callable[[], None] | None = None,
    ) -> bool:
        """Make the message show ``message`` (``text`` + ``blocks``) soon; False when an
        equal or newer state is already there or on its way."""
        body = {"channel": channel, "ts": ts, **message}
        return self._put(("update", team_id, channel, ts),
                         _Call("chat.update", ("chat.update", team_id), team_id), body,
                         rank=rank, terminal=terminal, then=then)

    def post(self, team_id: str, channel: str, message: dict[str, Any], *, tag: str) -> bool:
        """Post a message once per ``tag`` (e.g. the completion ping in the thread)."""
        body = {"channel": channel, **message}
        return self._put(("post", team_id, channel, tag),
                         _Call("chat.postMessage", ("chat.postMessage", team_id, channel),
                               team_id), body, rank=(0,), terminal=True)

    def upload(self, team_id: str, channel: str, thread_ts: str, *, tag: str,
               load: Callable[[], Awaitable[bytes | None]], filename: str, title: str,
               comment: str, fallback: dict[str, Any]) -> bool:
        """Upload a file once per ``tag`` into the thread of ``thread_ts`` (files.uploadV2:
        it plays in Slack), with ``comment`` as its message. ``load()`` gives the bytes, or
        None when the file should not be uploaded (too large, gone); then, and when the
        upload fails for any reason but a rate limit, ``fallback`` is posted instead (once,
        per ``tag``): a failed upload is never an error for the user."""
        body = {"channel": channel, "thread_ts": thread_ts, "filename": filename,
                "title": title, "initial_comment": comment, "load": load,
                "fallback": {"thread_ts": thread_ts, **fallback}, "tag": tag}
        return self._put(("upload", team_id, channel, tag),
                         _Call("files.uploadV2", ("files.upload", team_id), team_id), body,
                         rank=(0,), terminal=True)

    # --- PacedSender hooks ---------------------------------------------------------------

    def _describe(self, slot: Slot) -> str:
        return f"slack {slot.target.method} {slot.key[1:]}"

    def _drop_clients(self) -> None:
        self._clients.clear()

    def _admit(self, slot: Slot, now: float) -> Wait | None:
        bucket = self.budgets.get(slot.target.budget)
        if not bucket.take(now):
            return Wait(max(bucket.ready_at(now), now + 0.001))
        return None

    async def _shared_admit(self, slot: Slot) -> float:
        shared = self.shared
        if shared is None:
            return 0.0
        seconds = await self._shared_wait(slot, shared)
        if seconds > 0:  # no call: this process's bucket keeps the token for the next one
            self.budgets.get(slot.target.budget).give_back()
        return seconds

    async def _shared_wait(self, slot: Slot, shared) -> float:
        budget = "/".join(slot.target.budget)
        seconds = await shared.blocked_for(budget)
        if seconds > 0:
            return seconds
        updates = slot.target.method == "chat.update"
        if updates and not slot.terminal:  # a final waits somewhere: it goes first
            seconds = await shared.blocked_for(f"{budget}/finals-waiting")
            if seconds > 0:
                return seconds
        if updates:
            # evenly spaced (GCRA), not a moving window: a window filled by a burst of
            # progress would hold every final until its calls are a minute old; final states
            # may use all of the burst, progress half of it
            rate = self.budgets.update_per_minute / 60
            # GCRA lets tolerance × rate + 1 calls go at once: at most ``update_burst``
            tolerance = max(0.0, self.budgets.update_burst - 1) / rate
            seconds = await shared.pace(budget, rate,
                                        tolerance if slot.terminal else tolerance / 2)
        else:
            seconds = await shared.hit(self._shared_items[slot.target.method], budget)
        if seconds > 0 and updates and slot.terminal:
            await shared.block(f"{budget}/finals-waiting", seconds + FINALS_HOLD)
        return seconds

    async def _call(self, slot: Slot) -> Outcome:
        call: _Call = slot.target
        try:
            token = await self.token_for(call.team_id)
            if token is None:
                return permanent("no_installation")
            if call.method == "files.uploadV2":
                client = self._client(token, timeout=max(self.timeout, UPLOAD_TIMEOUT))
                return await self._upload(client, call, slot.payload)
            await self._client(token).api_call(call.method, json=slot.payload)
            return OK
        except SlackApiError as exc:
            response = exc.response
            code = (response.data or {}).get("error") if isinstance(response.data, dict) else None
            if response.status_code == 429 or code == "ratelimited":
                retry_after = _retry_after(response.headers)
                self.budgets.get(call.budget).block(retry_after, time.monotonic())
                if self.shared is not None:  # every process of the app waits it out
                    await self.shared.block("/".join(call.budget), retry_after)
                log.info("slack 429 on %s for team %s; waiting %.1f s", call.method,
                         call.team_id, retry_after)
                return limited(retry_after)
            if code in PERMANENT:
                return permanent(code)
            return error(code or f"HTTP {response.status_code}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return error(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the sender must keep going
            log.exception("slack %s failed unexpectedly", call.method)
            return error(repr(exc))

    async def _upload(self, client: AsyncWebClient, call: _Call, p: dict[str, Any]) -> Outcome:
        """files_upload_v2 (files.getUploadURLExternal → POST the bytes → files.
        completeUploadExternal); a 429 waits like any call, anything else posts the link."""
        why = "not uploaded"
        try:
            data = await p["load"]()
            if data is not None:
                await client.files_upload_v2(
                    file=data, filename=p["filename"], title=p["title"], channel=p["channel"],
                    thread_ts=p["thread_ts"], initial_comment=p["initial_comment"])
                return OK
        except SlackApiError as exc:
            response = exc.response
            code = (response.data or {}).get("error") if isinstance(response.data, dict) else None
            if response.status_code == 429 or code == "ratelimited":
                raise
            why = code or f"HTTP {response.status_code}"
        except Exception as exc:  # noqa: BLE001 - any failure: the link instead
            why = f"{type(exc).__name__}: {exc}"[:200]
        else:
            why = "too large or not stored"
        log.info("slack: posting the link instead of uploading %s (%s)", p["filename"], why)
        self.post(call.team_id, p["channel"], p["fallback"], tag=p["tag"])
        return OK

    def _client(self, token: str, *, timeout: float | None = None) -> AsyncWebClient:
        session = self._http()
        seconds = int(timeout or self.timeout)
        client = self._clients.get(f"{seconds}:{token}")
        if client is None:
            client = self._clients[f"{seconds}:{token}"] = AsyncWebClient(
                token=token, base_url=self.api_base, session=session,
                timeout=seconds, retry_handlers=retry_handlers(),
                user_agent_prefix=USER_AGENT)
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
