"""The interaction token a status message was posted with, where every process finds it.

A job's status message is the public follow-up of its Confirm click: while that
interaction's token lives (15 minutes from the click), every edit of the message goes
through ``PATCH /webhooks/{application id}/{token}/messages/{message id}``, an interaction
endpoint — not bound to the bot's global rate limit (Discord's "Rate Limits" docs). The
token is a credential: it is kept here only, never in ``job.origin``, the database or a log;
Redis (with a TTL that ends before the token does) when the broker is Redis, so every
worker's sender reads it, else this process's memory (the embedded default).

Keyed by the message id; the value carries its own end (wall clock) so a reader stops
using it in time even when the clocks of Redis and the process disagree a little.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import NamedTuple

from bots.shared_state import RedisSharedState, SharedState

log = logging.getLogger("renderbot.discord.tokens")

TOKEN_LIFE = 15 * 60  # seconds an interaction token is valid (Discord's docs)
MARGIN = 60  # seconds before the end we stop using it (gateway delay, clock skew)


class Webhook(NamedTuple):
    app_id: str
    token: str
    until: float  # wall clock (time.time()) after which the token is not used

    def usable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.until


_memory: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def _key(shared: SharedState, message_id: str) -> str:
    return f"{shared.prefix}itoken:{message_id}"


async def remember(shared: SharedState, message_id: str, *, app_id: str, token: str,
                   issued_at: float | None = None) -> None:
    """Keep the token of the interaction that posted ``message_id`` for its life."""
    issued = time.time() if issued_at is None else issued_at
    until = issued + TOKEN_LIFE - MARGIN
    ttl = until - time.time()
    if ttl <= 0:
        return
    value = f"{until:.3f}|{app_id}|{token}"
    key = _key(shared, str(message_id))
    if isinstance(shared, RedisSharedState):
        try:
            await shared.redis().set(key, value, px=int(ttl * 1000))
            return
        except Exception as exc:  # noqa: BLE001 - then edits use the bot token: slower, fine
            log.warning("could not keep the interaction token (%s); edits use the bot token",
                        type(exc).__name__)
            return
    with _lock:
        now = time.time()
        for old in [k for k, (_, end) in _memory.items() if end <= now]:
            del _memory[old]
        _memory[key] = (value, until)


async def lookup(shared: SharedState | None, message_id: str) -> Webhook | None:
    """The usable token of ``message_id``'s interaction, or None (expired, never had one,
    or the store cannot be reached: the bot token's route works for every message)."""
    if shared is None:
        return None
    key = _key(shared, str(message_id))
    if isinstance(shared, RedisSharedState):
        try:
            raw = await shared.redis().get(key)
        except Exception:  # noqa: BLE001
            return None
        value = raw.decode() if isinstance(raw, bytes) else raw
    else:
        with _lock:
            value = _memory.get(key, (None, 0.0))[0]
    if not value:
        return None
    until, app_id, token = value.split("|", 2)
    found = Webhook(app_id, token, float(until))
    return found if found.usable() else None


async def forget(shared: SharedState | None, message_id: str) -> None:
    """Discord refused the token (401 / 404): no process uses it again."""
    if shared is None:
        return
    key = _key(shared, str(message_id))
    if isinstance(shared, RedisSharedState):
        try:
            await shared.redis().delete(key)
        except Exception:  # noqa: BLE001
            pass
        return
    with _lock:
        _memory.pop(key, None)
