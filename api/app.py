"""The FastAPI app: ``create_app(settings)``.

``/v1/*`` for webhook callers (bearer API keys), ``/d/*`` counted download links,
``/media/*`` local storage files, ``/healthz`` ``/readyz`` ``/metrics``. The database
engine is created in the lifespan, on the server's event loop (one engine per loop).
``renderbot serve`` runs it beside an in-process worker; ``renderbot api`` runs it alone
(``create_app_from_env`` is the factory uvicorn imports in each worker process).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, remotion_webhook
from api.metrics import Metrics
from api.ratelimit import limiter_for
from api.routes import batches, links, ops, previews, storage, v1
from core import logs
from core.runtime import Runtime
from core.settings import Settings, get_settings
from jobs.still_requests import requester_for

log = logging.getLogger("renderbot.api")
access_log = logging.getLogger("renderbot.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

DESCRIPTION = """\
Start renders over HTTP and hear back through signed callbacks.

Authenticate with `Authorization: Bearer <api key>` (`renderbot keys create ACCOUNT`).
Every error is `{"error": {"code", "message", "field"?}}`. `POST /v1/renders` takes an
optional `Idempotency-Key` header and answers 202 with the job; its `callback_url`
receives `render.progress`, `render.completed`, `render.failed` and `render.cancelled`
events signed with `Renderbot-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
(key: the account's webhook secret, `renderbot accounts webhook-secret ACCOUNT`).
"""


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = Runtime(settings)  # the database and storage; the API never renders
        # stills (a Lambda webhook's poster) come from a worker on a Redis broker
        rt.still_request = requester_for(settings)
        app.state.rt = rt
        app.state.limiter = limiter_for(settings.broker_url, settings.api.renders_per_minute)
        await metrics.start(rt.db)
        log.info("API ready (%s database, %s broker)", settings.database_url.split(":")[0],
                 settings.broker_url.split(":")[0])
        try:
            yield
        finally:
            await app.state.limiter.close()
            await rt.close()

    app = FastAPI(
        title="renderbot",
        version="1",
        summary="Turn 'render my project' into a finished video link.",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(v1.router)
    app.include_router(batches.router)
    app.include_router(previews.router)
    app.include_router(storage.router)
    app.include_router(links.router)
    app.include_router(ops.router)
    # Other transports mount here (Slack events, the Remotion completion webhook).
    if settings.slack_signing_secret:  # Slack commands and interactivity (bolt)
        from api.routes import slack

        app.include_router(slack.router_for(settings))
    app.include_router(remotion_webhook.router)
    app.add_middleware(RequestContext, metrics=metrics)
    return app


def create_app_from_env() -> FastAPI:
    """The factory `renderbot api` hands to uvicorn (each worker process builds its own)."""
    settings = get_settings()
    logs.configure(settings.api.log_format, uncaught=True)  # a process of its own
    return create_app(settings)


class RequestContext:
    """Request id (``X-Request-Id``, echoed back) in every log line of the request, an
    access log line, request metrics, and the last-resort 500: a generic message with a
    correlation id, the traceback only in the log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = logs.request_id.set(rid)
        state = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                MutableHeaders(scope=message).append("X-Request-Id", rid)
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the one place unknown errors end up
            if state["started"]:
                log.error("error after the response started", exc_info=exc)
            else:
                await errors.internal_error(exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, state["status"], elapsed)
            access_log.info(
                "%s %s %d %.1f ms", scope["method"], scope["path"], state["status"],
                elapsed * 1000,
            )
            logs.request_id.reset(token)
