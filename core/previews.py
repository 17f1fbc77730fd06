"""Preview stills before a quote (issue 17): one JPEG frame of a project as it will render.

Interface (the API's ``POST /v1/previews`` and the chat bots use exactly this):

    await core.previews.create(
        rt,                                   # core.runtime.Runtime
        account_id=..., project_id=...,       # the project must be the account's (else 404)
        render_settings={...},                # as for a quote; ``draft: true`` → the draft's size
        at=None,                              # seconds into the video; None → one third in
        request_still=None,                   # None: render here; else jobs.stills.requester_for
    ) -> Preview(url, width, height, jpeg)

    # chat: bots.flow.preview(runtime=rt, settings=rt.settings, user=ChatUser(...),
    #                         project_id=..., render_settings={...}, at=None) -> Preview

``url`` is a signed, time-limited link to the JPEG that works without auth; ``jpeg`` its
bytes (Discord attaches them); ``width``/``height`` the size rendered (the settings' size,
halved for a draft). Free. Errors: ProjectNotFound (404), InvalidSettings /
InvalidInput ``at`` outside the video (422), :class:`PreviewsThrottled` past
``RENDERBOT_LIMITS__PREVIEWS_PER_MINUTE`` per account (429), :class:`PreviewUnavailable`
when no still could be rendered in time (503).

The frame: ``at`` seconds in (``0 <= at < duration``), else the **representative frame one
third of the way in** (past intros and fade-ins, before endings), at the rendered frame
rate. The still draws the project's props without URL props (no audio fetch).

Cache: the object key is a digest of what the frame depends on (composition, the
composition's props — project state, size, fps, length, effects, draft mark — and the
frame number), so the same inputs give the same stored object and no second render.
Quality and format do not change a frame and are not part of it.

Where it renders: with ``request_still=None`` (the embedded default, where the API, bots
and worker share one process) on this process's warm render server. With a Redis broker
the caller passes ``jobs.stills.requester_for(settings)``: a message on the ``previews``
queue makes a worker render it with its warm render server and store it, and the caller
waits (at most ``RENDERBOT_LIMITS__PREVIEW_WAIT_SECONDS``) for the object to appear — API
and bot processes in production do not run Chromium. On Lambda deployments the worker
still renders stills on a local render server (``core/render/stills.py``): one frame is
cheap and a local still has no cold start, where ``renderStillOnLambda`` would invoke a
function (cold start, cost) per preview.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import projects, throttle
from core.backends.base import input_props
from core.errors import InvalidInput, RenderbotError
from core.render_settings import RenderSettings, validate

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("renderbot.previews")
CACHE_VERSION = 1  # bump when the compositions change what a frame looks like
LINK_SECONDS = 3600  # a preview is looked at now; kept 24 h (core/retention.py)
PREFIX = "previews"
StillRequest = Callable[[dict[str, Any]], None]
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]
_locks = weakref.WeakKeyDictionary()


class PreviewsThrottled(RenderbotError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after: float, limit: int) -> None:
        super().__init__(f"too many previews for this account (limit {limit} per minute)")
        self.retry_after = max(1, math.ceil(retry_after))


class PreviewUnavailable(RenderbotError):
    code = "preview_unavailable"
    http_status = 503

    def __init__(self) -> None:
        super().__init__("the preview could not be rendered right now; try again shortly")


@dataclass(frozen=True)
class Preview:
    url: str
    width: int
    height: int
    jpeg: bytes


@dataclass(frozen=True)
class Plan:
    """What to render and where it is cached (also the message a worker gets)."""

    key: str
    composition: str
    input_props: dict[str, Any]
    frame: int
    width: int
    height: int

    def spec(self) -> dict[str, Any]:
        return {"key": self.key, "composition": self.composition,
                "input_props": self.input_props, "frame": self.frame}


def frame_of(settings: RenderSettings, at: float | None) -> int:
    """The frame shown: ``at`` seconds in, else one third of the way in."""
    frames = settings.frame_count
    if at is None:
        return frames // 3
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise InvalidInput("at", "must be a number of seconds")
    if at < 0 or at >= settings.duration:
        raise InvalidInput("at", f"must be at least 0 and less than the duration "
                                 f"({settings.duration:g} s)")
    return min(frames - 1, int(at * settings.frame_rate))


def plan(project_state: dict[str, Any], requested: RenderSettings, at: float | None) -> Plan:
    rendered = requested.rendered()  # a draft: half size, at most 15 fps, marked
    frame = frame_of(rendered, at)
    composition = project_state.get("composition", "Visualizer")
    props = input_props(project_state, rendered)
    digest = hashlib.sha256(json.dumps(
        {"v": CACHE_VERSION, "composition": composition, "props": props, "frame": frame},
        sort_keys=True, separators=(",", ":"), default=str,
    ).encode()).hexdigest()
    return Plan(key=f"{PREFIX}/{digest[:40]}.jpg", composition=composition, input_props=props,
                frame=frame, width=rendered.width, height=rendered.height)


async def create(
    rt: Runtime, *, account_id: str, project_id: str, render_settings: dict[str, Any] | None,
    at: float | None = None, request_still: StillRequest | None = None,
) -> Preview:
    """A preview still (see the module docstring)."""
    async with rt.db.read() as session:
        project = await projects.get(session=session, account_id=account_id,
                                     project_id=project_id)
    requested = validate(render_settings, rt.settings.limits)
    p = plan(project.state, requested, at)
    limit = rt.settings.limits.previews_per_minute
    wait = await throttle.hit(rt.settings.broker_url, throttle.Rule("previews", limit),
                              account_id, fail_open=True)
    if wait is not None:
        raise PreviewsThrottled(wait, limit)
    jpeg = await _cached_or_rendered(rt, p, request_still)
    url = await rt.storage.download_url(key=p.key, expires_in=LINK_SECONDS)
    return Preview(url=url, width=p.width, height=p.height, jpeg=jpeg)


async def _cached_or_rendered(rt: Runtime, p: Plan, request_still: StillRequest | None) -> bytes:
    storage = rt.storage
    if await storage.exists(key=p.key):
        return await storage.get_bytes(key=p.key)
    if request_still is None:
        locks = _locks.setdefault(asyncio.get_running_loop(), {})
        async with locks.setdefault(p.key, asyncio.Lock()):  # one render per still at a time
            if await storage.exists(key=p.key):
                return await storage.get_bytes(key=p.key)
            try:
                return await fulfil(rt, p.spec())
            except Exception:
                log.warning("preview still failed", exc_info=True)
                raise PreviewUnavailable() from None
            finally:
                locks.pop(p.key, None)
    try:
        request_still(p.spec())
    except Exception:  # noqa: BLE001 - the broker is unreachable
        log.warning("could not ask a worker for a preview still", exc_info=True)
        raise PreviewUnavailable() from None
    deadline = time.monotonic() + rt.settings.limits.preview_wait_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if await storage.exists(key=p.key):
            return await storage.get_bytes(key=p.key)
    log.warning("no worker stored preview %s in time", p.key)
    raise PreviewUnavailable()


async def fulfil(rt: Runtime, spec: dict[str, Any]) -> bytes:
    """Render a planned still on this process's render server and store it (the worker
    side of a still request; also the in-process path). Idempotent by key.

    A preview goes to the default storage; a poster (``core/posters.py``) names its job's
    storage (``destination_id``: a creator's bucket) and ``bucket``."""
    from core.render.stills import render_still

    key, bucket = spec["key"], spec.get("bucket")
    storage = rt.storage
    if spec.get("destination_id"):
        from core.storage import destinations

        storage, refused = await destinations.delivery_storage(rt, spec["destination_id"])
        if refused:
            raise RuntimeError(refused)
    if await storage.exists(key=key, bucket=bucket):
        return await storage.get_bytes(key=key, bucket=bucket)
    still = await render_still(rt, composition=spec["composition"],
                               input_props=spec["input_props"], frame=int(spec["frame"]))
    await storage.put_bytes(key=key, data=still.jpeg, content_type="image/jpeg", bucket=bucket)
    if spec.get("job_id"):  # a poster the webhook stopped waiting for: attach it now
        from core import downloads, renders

        async with rt.db.transaction() as session:
            await renders.attach_poster(session=session, job_id=spec["job_id"], poster_key=key,
                                        poster_url=downloads.poster_url(rt.settings, spec["job_id"]))
    return still.jpeg
