"""How a committed job reaches the queue (the port `core.renders.submit` calls)."""

from __future__ import annotations

from core.renders import Enqueue
from core.settings import Settings


def enqueuer_for(settings: Settings) -> Enqueue | None:
    """None on the embedded default when no worker runs in this process: the job stays
    queued and the next in-process worker's reconciler picks it up."""
    if settings.broker_url.startswith("memory"):
        return None
    from jobs.broker import setup_broker

    setup_broker(settings)
    from jobs.actors import start_render

    return lambda job_id: start_render.send(job_id)
