"""Operations: liveness, readiness (database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
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
        "database": await _check(_database(rt)),
        "broker": await _check(_broker(rt.settings)),
    }
    failed = {name: result for name, result in checks.items() if result != "ok"}
    if failed:
        message = "; ".join(f"{name}: {result}" for name, result in failed.items())
        return JSONResponse(
            {**error_body("not_ready", message), "checks": checks}, status_code=503
        )
    return Readiness(status="ready", checks=checks)


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"{exc.__class__.__name__}: {reason}".rstrip(": ")
    return "ok"


async def _database(rt) -> None:
    async with rt.db.transaction() as session:
        await telemetry.ping(session=session)


async def _broker(settings: Settings) -> None:
    url = settings.broker_url
    if url.startswith("memory"):
        if broker_module.current() is None:
            raise RuntimeError("no in-process worker runs in this process (use `renderbot serve`)")
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
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: jobs by state, queue latency, render duration, credits,
    callback attempts, downloads, HTTP requests."""
    m = request.app.state.metrics
    body = await m.render(request.app.state.rt.db)
    return Response(body, media_type=m.content_type)
