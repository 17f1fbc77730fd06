"""``/v1/batches``: one confirm, 2-4 aspect variants of one project (core/batches.py)."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from api.deps import CallerDep, Session, SettingsDep
from api.errors import RateLimited
from api.routes.v1 import _announcer, _project_id
from api.schemas import Batch, BatchCreate, Job, errors
from core import batches
from jobs.enqueue import enqueuer_for

log = logging.getLogger("renderbot.api")
router = APIRouter(prefix="/v1", responses=errors(401, 422))

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BatchId = Annotated[str, Path(description="a batch id (`bat_...`)")]


def _batch_id(value: str) -> str:
    if not _ID.match(value):
        raise batches.BatchNotFound(value[:64])
    return value


def _out(batch: batches.BatchRead) -> Batch:
    return Batch(id=batch.id, status=batch.status, project_id=batch.project_id,
                 credit_cost=batch.credit_cost, created_at=batch.created_at,
                 jobs=[Job.of(j) for j in batch.jobs])


@router.post("/batches", status_code=202, response_model=Batch, tags=["renders"],
             responses=errors(402, 404, 409, 422, 429))
async def create_batch(
    body: BatchCreate,
    request: Request,
    response: Response,
    caller: CallerDep,
    session: Session,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=255,
               description="a retry with the same key and body returns the first batch"),
    ] = None,
) -> Batch:
    """ONE debit for the sum, in one transaction; each variant is a job with ``batch_id``.
    402 leaves nothing queued and nothing charged."""
    wait = await request.app.state.limiter.hit(caller.account_id)
    if wait is not None:
        raise RateLimited(wait, request.app.state.limiter.limit)
    submitted = await batches.submit(
        session=session, settings=settings, account_id=caller.account_id,
        project_id=_project_id(body.project_id), render_settings=body.settings.to_core(),
        variants=body.variants, idempotency_key=idempotency_key,
        origin={"platform": "api", "api_key": caller.key_id}, enqueue=enqueuer_for(settings),
    )
    batch = submitted.batch
    response.headers["Location"] = f"/v1/batches/{batch.id}"
    if not submitted.created:
        response.headers["Idempotent-Replayed"] = "true"
    log.info("batch %s %s (%d jobs, %d credits)", batch.id,
             "created" if submitted.created else "replayed", len(batch.jobs), batch.credit_cost,
             extra={"account_id": caller.account_id})
    return _out(batch)


@router.get("/batches/{batch_id}", response_model=Batch, tags=["renders"],
            responses=errors(404))
async def get_batch(batch_id: BatchId, caller: CallerDep, session: Session) -> Batch:
    return _out(await batches.get(session=session, account_id=caller.account_id,
                                  batch_id=_batch_id(batch_id)))


@router.post("/batches/{batch_id}/cancel", response_model=Batch, tags=["renders"],
             responses=errors(404, 409))
async def cancel_batch(
    batch_id: BatchId, caller: CallerDep, session: Session, settings: SettingsDep
) -> Batch:
    """Cancels every unfinished variant, each refunded once; 409 when all have ended."""
    batch = await batches.cancel(
        session=session, account_id=caller.account_id, batch_id=_batch_id(batch_id),
        actor=f"api:{caller.key_id}", announce=_announcer(settings),
    )
    return _out(batch)
