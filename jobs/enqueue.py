"""How a committed job reaches the queue: the ``enqueue`` port of ``core.renders.submit``.

Producers (the API, the CLI, the chat bots) don't need the actors: they put a message for
``start_render`` on the ``renders`` queue of a broker of their own (Redis), or of the
in-process broker when a worker runs in this process (``serve``, ``demo``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import dramatiq
from dramatiq import Message

from core.renders import Enqueue
from core.settings import Settings
from jobs import broker as broker_module

RENDER_QUEUE = "renders"


def host_queue(host: str) -> str:
    """The poll queue of one worker process: only it consumes it, because only its
    render server has the renders it started (``core.backends.base.HostBound``)."""
    return f"{RENDER_QUEUE}.host.{host}"
log = logging.getLogger("renderbot.jobs")


@lru_cache(maxsize=8)
def _redis_producer(url: str) -> dramatiq.Broker:
    producer = broker_module.RedisBroker(url=url)
    producer.declare_queue(RENDER_QUEUE)
    return producer


def _producer(settings: Settings) -> dramatiq.Broker | None:
    if settings.broker_url.startswith("memory"):
        return broker_module.current()  # None unless a worker runs in this process
    return _redis_producer(settings.broker_url)


def send(broker: dramatiq.Broker, actor_name: str, *args, delay_ms: int | None = None,
         queue_name: str = RENDER_QUEUE) -> None:
    message = Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms)


def announcer_for(settings: Settings) -> Callable[[str, str], None] | None:
    """``announce(job_id, change)`` for a job change made outside the workers (the
    Remotion completion webhook, in the API): a worker's notifiers fan it out. None when
    there is no broker to send to (embedded default without an in-process worker)."""
    producer = _producer(settings)
    if producer is None:
        return None

    def announce(job_id: str, change: str) -> None:
        # Runs after a committed change (a cancel): with the broker down the change still
        # stands; the chat message / callback just isn't updated. Never an error.
        try:
            send(producer, "announce_change", job_id, change)
        except Exception:  # noqa: BLE001
            log.warning("could not announce %s of job %s (broker unreachable)", change, job_id,
                        extra={"job_id": job_id}, exc_info=True)

    return announce


def enqueuer_for(settings: Settings) -> Enqueue | None:
    """None on the embedded default when no worker runs in this process: the job stays
    queued and the next in-process worker's reconciler picks it up."""
    producer = _producer(settings)
    if producer is None:
        return None

    def enqueue(job_id: str) -> None:
        # Runs after the job's commit: the job exists and is paid for. If the broker is
        # down, the reconciler of the next worker that runs re-enqueues it, so the caller
        # must still hear "accepted", not an error inviting a second, double-charged try.
        try:
            send(producer, "start_render", job_id, 0)
        except Exception:  # noqa: BLE001
            log.warning("could not enqueue job %s; the reconciler will pick it up", job_id,
                        extra={"job_id": job_id}, exc_info=True)

    return enqueue
