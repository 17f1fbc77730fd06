"""How API and bot processes ask workers for a preview still (issue 17).

On a Redis broker, API and bot processes do not run Chromium: :func:`requester_for` gives
``core.previews.create`` a function that puts a still's plan on the ``previews`` queue; a
worker (``jobs/stills.py``) renders it on its warm render server and stores it under the
plan's key, which the caller waits for. On the embedded default it returns None: the
process renders the still itself (the in-process worker's render server).
"""

from __future__ import annotations

from typing import Any

from core import previews
from core.settings import Settings
from jobs.enqueue import _redis_producer, send

PREVIEW_QUEUE = "previews"
ACTOR = "render_preview"


def requester_for(settings: Settings) -> previews.StillRequest | None:
    if settings.broker_url.startswith("memory"):
        return None
    producer = _redis_producer(settings.broker_url)

    def request(spec: dict[str, Any]) -> None:
        send(producer, ACTOR, spec, queue_name=PREVIEW_QUEUE)

    return request
