"""The worker's side of preview stills (issue 17): the actor of the ``previews`` queue.

Imported by workers only (``jobs/worker.py``); producers use ``jobs.still_requests``.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from core import previews
from jobs import runtime
from jobs.broker import get_broker
from jobs.still_requests import ACTOR, PREVIEW_QUEUE

get_broker()  # actors bind to the broker that exists when they are declared


@dramatiq.actor(actor_name=ACTOR, queue_name=PREVIEW_QUEUE, max_retries=0, time_limit=120_000)
async def render_preview(spec: dict[str, Any]) -> None:
    """Render a planned preview still and store it under its key (the caller waits)."""
    await previews.fulfil(runtime.current(), spec)
