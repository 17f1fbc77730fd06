"""Dramatiq broker set-up. Import and call :func:`setup_broker` before ``jobs.actors``.

``RENDERBOT_BROKER_URL=redis://...`` → Redis (production); ``memory://`` (the default) →
Dramatiq's in-process StubBroker, served by an in-process worker (``jobs.worker``).
Both get the AsyncIO middleware (our actors are async) and the default Retries
middleware, which re-delivers a message whose actor raised (database briefly down, ...)
with exponential backoff, up to the ``max_retries`` each actor declares.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO

from core.settings import Settings

_broker: dramatiq.Broker | None = None
_url: str | None = None


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
        from dramatiq.brokers.redis import RedisBroker

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
