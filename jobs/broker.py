"""Dramatiq broker set-up. Import and call :func:`setup_broker` before ``jobs.actors``.

``RENDERBOT_BROKER_URL=redis://...`` → Redis (production); ``memory://`` (the default) →
Dramatiq's in-process StubBroker, served by an in-process worker (``jobs.worker``).
Both get the AsyncIO middleware (our actors are async) and the default Retries
middleware, which re-delivers a message whose actor raised (database briefly down, ...)
with exponential backoff, up to the ``max_retries`` each actor declares.

Redis goes through :class:`RedisBroker`, Dramatiq's own with one fix: every Redis call
that cannot reach the server raises :class:`BrokerUnreachable`, a Dramatiq
``ConnectionClosed``. Dramatiq 2.2.1 maps only the consumer's fetch/ack/nack that way; a
due delayed message re-enqueued (or re-queued) while Redis is down raised a bare redis
error that killed the consumer thread of that ``.DQ`` queue for the rest of the process,
so retries and polls stopped flowing after a Redis restart (upstream: Bogdanp/dramatiq
#894 is the same hole for timeouts). With the fix the consumer logs the outage and
reconnects like any other.
"""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware.asyncio import AsyncIO

from core.settings import Settings

_broker: dramatiq.Broker | None = None
_url: str | None = None


class BrokerUnreachable(ConnectionClosed, redis.ConnectionError):
    """Redis could not be reached. Both a Dramatiq ``ConnectionClosed`` (the consumer
    thread's "connection error, reconnect" branch) and a ``redis.ConnectionError`` (for
    code that catches redis's own)."""

    def __init__(self, cause: Exception) -> None:
        redis.ConnectionError.__init__(self, str(cause))  # args, error_type, status_code
        self.message = str(cause)  # what Dramatiq's errors print


class RedisBroker(dramatiq_redis.RedisBroker):
    """Dramatiq's RedisBroker whose every Lua dispatch (enqueue, fetch, ack, nack,
    requeue) turns an unreachable Redis into :class:`BrokerUnreachable`."""

    def _dispatch(self, command):
        dispatch = super()._dispatch(command)

        def do_dispatch(queue_name, *args):
            try:
                return dispatch(queue_name, *args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise BrokerUnreachable(exc) from exc

        return do_dispatch


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Create the process's broker once and make it Dramatiq's global broker."""
    global _broker, _url
    if _broker is not None:
        if _url != settings.broker_url:
            raise RuntimeError(
                "broker already set up for another URL; one broker per process"
            )
        return _broker
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        broker: dramatiq.Broker = RedisBroker(url=settings.broker_url)
    elif settings.broker_url.startswith("memory"):
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        raise ValueError(
            "RENDERBOT_BROKER_URL must be redis://... or memory://"
            f" (got {settings.broker_url.split(':')[0]}:...)"
        )
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    _broker, _url = broker, settings.broker_url
    return broker


def current() -> dramatiq.Broker | None:
    """The broker set up in this process, if any."""
    return _broker


def get_broker() -> dramatiq.Broker:
    if _broker is None:
        from core.settings import get_settings

        return setup_broker(get_settings())
    return _broker
