"""When a render is looked at again: the next poll's delay, and the watch over a cheap
render's last stretch (core/pipeline.py's poll step uses both)."""

from __future__ import annotations

import asyncio

from core.backends.base import RenderStatus

SOON = 0.2  # seconds: how soon a render about to end is looked at again
END_STRETCH = 0.9  # progress from which a cheap render's end is watched (see watch_end)
WATCH_FOR = 2.0  # seconds one poll watches it, then it lets its worker thread go
WATCH_EVERY = 0.1  # seconds between looks while watching


def next_poll(backend: object, status: RenderStatus, interval: float) -> float:
    """Seconds until the next poll: the poll interval, or — when the render says it ends
    sooner (its ETA) and a poll is cheap — just after that, at most every ``SOON`` s. Its
    end is then seen within ~0.2 s instead of up to a whole interval later, which on a
    short render is most of the pipeline's overhead. Cheap: the local render server answers
    on a UNIX socket (``cheap_status``); a Remotion Lambda progress poll is a function
    invocation, and keeps the interval. A render in its last stretch (:func:`watch_end`)
    is polled again at once: the next poll goes on watching it."""
    eta = status.eta_seconds
    if not _cheap_rendering(backend, status):
        return interval
    if status.progress >= END_STRETCH:
        return 0.0
    if eta is None:
        return interval
    return min(interval, max(SOON, eta))


def _cheap_rendering(backend: object, status: RenderStatus) -> bool:
    return status.state == "rendering" and getattr(backend, "cheap_status", False)


async def watch_end(backend, ref: str, status: RenderStatus) -> RenderStatus:
    """A render in its last stretch (progress ``END_STRETCH`` and up) on a backend whose
    status is cheap: look again every ``WATCH_EVERY`` s, for at most ``WATCH_FOR`` s, and
    return as soon as it is no longer rendering. Its ETA is unreliable there (Remotion's
    progress jumps from ~0.92 to done while it says seconds are left), and a poll message
    per look would add a queue hop and a claim each time; this way the end is seen within
    ~0.1 s. Returns the last status (still rendering when the watch ran out)."""
    if not _cheap_rendering(backend, status) or status.progress < END_STRETCH:
        return status
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_FOR
    while status.state == "rendering" and loop.time() < deadline:
        await asyncio.sleep(WATCH_EVERY)
        status = await backend.status(ref)
    return status
