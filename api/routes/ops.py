"""Operations: liveness, readiness (database and broker reachable) and Prometheus metrics.

``/readyz`` is unauthenticated, so it says which dependency is down ("unreachable",
"no answer within 3 s") and never an exception's text (hosts, paths, credentials): that
goes to the log. ``/metrics`` asks for ``Authorization: Bearer <RENDERBOT_API__METRICS_TOKEN>``
when that setting is set.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.errors import error_body
from api.schemas import Health, Readiness, errors
from core import telemetry
from core.settings import Settings
from jobs import broker as broker_module

log = logging.getLogger("renderbot.api")
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT = 3.0


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (it does not look at the database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=errors(503))
async def readyz(request: Request):
    """Ready to serve: the database answers and the broker is reachable."""
    rt = request.app.state.rt
    checks = {
        "database": await _check("database", _database(rt)),
        "broker": await _check("broker", _broker(rt.settings)),
    }
    failed = {name: result for name, result in checks.items() if result != "ok"}
    if failed:
        message = "; ".join(f"{name}: {result}" for name, result in failed.items())
        return JSONResponse(
            {**error_body("not_ready", message), "checks": checks}, status_code=503
        )
    return Readiness(status="ready", checks=checks)


async def _check(name: str, probe) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        log.warning("readyz: %s gave no answer within %g s", name, CHECK_TIMEOUT)
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except NoWorker:
        return "no in-process worker in this process"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readyz: %s is down: %s: %s", name, exc.__class__.__name__,
                    str(exc).splitlines()[0][:300] if str(exc) else "")
        return "unreachable"
    return "ok"


class NoWorker(RuntimeError):
    """The embedded broker has no worker in this process."""


async def _database(rt) -> None:
    async with rt.db.transaction() as session:
        await telemetry.ping(session=session)


async def _broker(settings: Settings) -> None:
    url = settings.broker_url
    if url.startswith("memory"):
        if broker_module.current() is None:
            raise NoWorker()
        return
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
               **errors(401)},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: jobs by state, queue latency, render duration, credits,
    callback attempts, downloads, HTTP requests. With ``RENDERBOT_API__METRICS_TOKEN``
    set, only for ``Authorization: Bearer <that token>``."""
    token = request.app.state.rt.settings.api.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse(error_body("unauthorized", "metrics need the metrics token"),
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
    m = request.app.state.metrics
    body = await m.render(request.app.state.rt.db)
    return Response(body, media_type=m.content_type)
