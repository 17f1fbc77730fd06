"""Where a Discord status call goes and the rate-limit bookkeeping around it (for
:mod:`bots.discord.sender`): a route with its bucket keys, an edit's two routes (the
interaction webhook while its token lives, else the bot token's channel route), the
per-bucket counts learnt from ``X-RateLimit-*`` headers, and a 429's reading."""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import Any, NamedTuple


class Route(NamedTuple):
    method: str
    path: str
    bucket: str  # the rate-limit bucket it shares with other routes (per channel)
    template: str  # "PATCH /channels/{channel_id}/messages/{message_id}", as discord.py keys it
    major: str  # the channel id: Discord's buckets are per major parameter
    files: tuple = ()  # (filename, bytes, content type): sent as multipart/form-data
    webhook: bool = False  # an interaction webhook: no bot token, not in the global budget
    shown: str = ""  # the path for logs (a webhook's token left out)

    @property
    def logged(self) -> str:
        return self.shown or self.path


@dataclass
class Edit:
    """Where an edit of one status message goes: the interaction webhook while its token
    is usable, else the bot token's channel route. ``chosen``: the route of the call
    being admitted or in flight."""

    channel: Route
    webhook: Route | None = None
    until: float = 0.0  # wall clock: the webhook's token is not used from then on
    chosen: Route | None = None

    def route(self) -> Route:
        if self.webhook is not None and time.time() < self.until:
            return self.webhook
        return self.channel


def chosen(target: Any) -> Route:
    return (target.chosen or target.route()) if isinstance(target, Edit) else target


def webhook_route(app_id: str, token: str, message_id: str) -> Route:
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]  # keys and logs: never the token
    return Route("PATCH", f"/webhooks/{app_id}/{token}/messages/{message_id}",
                  f"PATCH /webhooks:{app_id}+{digest}",
                  "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                  f"{app_id}+{digest}", webhook=True,
                  shown=f"/webhooks/{app_id}/<token {digest[:6]}>/messages/{message_id}")


@dataclass
class Bucket:
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


def is_global(data: Any, headers) -> bool:
    return bool((isinstance(data, dict) and data.get("global"))
                or headers.get("X-RateLimit-Global", "").lower() == "true")


def read_retry_after(data: Any, headers) -> float:
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
        return max(0.0, float(data["retry_after"]))
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        value = headers.get(name)
        if value:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value))
    return 1.0
