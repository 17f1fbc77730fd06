"""The render service (the seed's ``RenderService``): quote, submit, status, cancel, refund.

State machine (every change writes one ``job_event`` row; terminal states never change)::

    queued ──► processing ──► completed
       │            │   └───► failed      (refund, once)
       └────────────┴───────► cancelled   (refund, once)

Cancel policy: a queued job is cancelled at once; a processing job gets
``cancel_requested`` and the worker stops the render, then marks it cancelled. Either
way the full cost is refunded: nothing is charged for a video that was not delivered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, fairness, job_create, pricing, projects
from core import render_settings as rs
from core.db import after_commit, utcnow
from core.errors import IdempotencyConflict, InvalidInput, InvalidTransition
from core.job_transitions import (
    attach_poster,
    claim,
    claim_attempt,
    complete,
    fail,
    finish,
    load_job,
    mark_cancelled,
    note_error,
    queue_position,
    read_job,
    record_event,
    record_progress,
    record_start,
    start_attempt,
)
from core.models import TERMINAL_STATES, JobEvent, RenderJob, new_id
from core.schemas import JobEventRead, JobRead, QuoteRead
from core.settings import Settings

# The transitions workers make live in core/job_transitions.py; callers keep using
# ``renders.claim``, ``renders.complete``, ... (and core.batches ``record_event``/``read``).
__all__ = [
    "Announce", "Enqueue", "Submitted", "attach_poster", "cancel", "claim", "claim_attempt",
    "complete",
    "error_detail", "events", "fail", "get", "list_", "mark_cancelled", "note_error", "quote",
    "queue_position", "read", "record_event", "record_progress", "record_start", "refund",
    "request_hash",
    "set_origin", "start_attempt", "submit",
]

Enqueue = Callable[[str], None]
Announce = Callable[[str, str], None]  # (job_id, change): tell the workers' notifiers


@dataclass(frozen=True)
class Submitted:
    job: JobRead
    created: bool  # False when an idempotent replay returned the first job


async def quote(
    *, session: AsyncSession, settings: Settings, account_id: str, project_id: str,
    render_settings: Any,
) -> QuoteRead:
    valid = rs.validate(render_settings, settings.limits)
    await projects.get_model(session=session, account_id=account_id, project_id=project_id)
    cost = pricing.credit_cost(valid, settings.pricing)
    balance = await credits.balance(session=session, account_id=account_id)
    return QuoteRead(
        project_id=project_id, settings=valid.as_dict(), credit_cost=cost, balance=balance,
        balance_after=balance - cost, frame_count=valid.rendered().frame_count,
    )


def request_hash(project_id: str, valid: rs.RenderSettings, callback_url: str | None) -> str:
    body = {"project_id": project_id, "settings": valid.as_dict(), "callback_url": callback_url}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def submit(
    *,
    session: AsyncSession,
    settings: Settings,
    account_id: str,
    project_id: str,
    render_settings: Any,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
    origin: dict[str, Any] | None = None,
    enqueue: Enqueue | None = None,
) -> Submitted:
    """Debit the credits and record the job in the caller's transaction.

    ``enqueue(job_id)`` runs after that transaction commits. Insufficient credits raise
    :class:`InsufficientCredits` and, the caller's transaction rolling back, leave nothing.
    """
    valid = rs.validate(render_settings, settings.limits)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise InvalidInput("idempotency_key", "must be 1 to 255 characters")
    if session.new or session.dirty or session.deleted:
        await session.flush()  # the caller's pending rows first: the statements below are Core
    digest = request_hash(project_id, valid, callback_url)
    values = {
        "id": new_id("job"), "account_id": account_id, "project_id": project_id,
        "status": "queued", "settings": valid.as_dict(),
        "credit_cost": pricing.credit_cost(valid, settings.pricing),
        "progress": 0, "attempts": 0, "backend": settings.render_backend, "backend_info": {},
        "cancel_requested": False, "origin": origin or {}, "callback_url": callback_url,
        "idempotency_key": idempotency_key, "request_hash": digest, "download_count": 0,
        "chat_server": fairness.chat_server_of(origin),
    }
    if idempotency_key is None:
        # one trip: the project, the debit, the job, its entry and event, its position
        _stamp(values)
        position, eta = await job_create.record(session, values, project_id=project_id)
    else:
        values["project_state"], values["destination_id"] = await job_create.project(
            session, account_id=account_id, project_id=project_id)
        replay = await _replay(session, account_id, idempotency_key, digest)
        if replay is not None:
            return Submitted(job=replay, created=False)
        _stamp(values)
        try:
            async with session.begin_nested():
                position, eta = await job_create.record(session, values)
        except IntegrityError:
            # A concurrent request with the same key committed first.
            replay = await _replay(session, account_id, idempotency_key, digest)
            if replay is None:
                raise
            return Submitted(job=replay, created=False)
    if enqueue is not None:
        job_id = values["id"]
        after_commit(session, lambda: enqueue(job_id))
    read = JobRead.model_validate(values)
    return Submitted(job=read.model_copy(update={"queue_position": position,
                                                 "eta_seconds": eta}), created=True)


def _stamp(values: dict[str, Any]) -> None:
    now = utcnow()
    values.update(created_at=now, queued_at=now, updated_at=now)


async def _replay(
    session: AsyncSession, account_id: str, key: str, digest: str
) -> JobRead | None:
    existing = await session.scalar(
        select(RenderJob).where(
            RenderJob.account_id == account_id, RenderJob.idempotency_key == key
        )
    )
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise IdempotencyConflict(key)
    return await read_job(session, existing)


async def get(*, session: AsyncSession, account_id: str | None, job_id: str) -> JobRead:
    """The job (scoped to ``account_id``; None = any account, for admins and workers)."""
    job = await load_job(session, account_id, job_id)
    return await read_job(session, job)


async def list_(
    *,
    session: AsyncSession,
    account_id: str | None,
    status: str | None = None,
    limit: int = 50,
) -> list[JobRead]:
    query = select(RenderJob)
    if account_id is not None:
        query = query.where(RenderJob.account_id == account_id)
    if status is not None:
        if status not in ("queued", "processing", "completed", "failed", "cancelled"):
            raise InvalidInput("status", "must be queued, processing, completed, failed or cancelled")
        query = query.where(RenderJob.status == status)
    rows = await session.scalars(query.order_by(RenderJob.created_at.desc()).limit(limit))
    return [JobRead.model_validate(r) for r in rows]


async def error_detail(*, session: AsyncSession, job_id: str) -> str | None:
    """The full detail of a job's error (stderr, stack, paths): for admins only — the
    dashboard's job detail and the admin CLI; never the HTTP API or chat."""
    job = await load_job(session, None, job_id)
    return job.error_detail


async def events(*, session: AsyncSession, job_id: str, limit: int = 500) -> list[JobEventRead]:
    rows = await session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id).limit(limit)
    )
    return [JobEventRead.model_validate(r) for r in rows]


async def cancel(
    *,
    session: AsyncSession,
    account_id: str | None,
    job_id: str,
    actor: str | None = None,
    announce: Announce | None = None,
) -> JobRead:
    """Cancel now (queued) or ask the worker to stop the render (processing).

    A job that never reached a worker has no worker to tell its chat message or callback
    receiver: ``announce(job_id, "cancelled")`` runs after the commit for that.
    """
    job = await load_job(session, account_id, job_id, lock=True)
    if job.status in TERMINAL_STATES:
        raise InvalidTransition(job.id, job.status, "cancel")
    if job.status == "queued":
        await finish(session, job, "cancelled", detail={"by": actor or "owner"}, actor=actor)
        if announce is not None:
            after_commit(session, lambda: announce(job_id, "cancelled"))
    elif not job.cancel_requested:
        job.cancel_requested = True
        record_event(session, job, "cancel", detail={"by": actor or "owner"}, actor=actor)
        await session.flush()
    return await read_job(session, job)


async def set_origin(
    *, session: AsyncSession, job_id: str, origin: dict[str, Any]
) -> JobRead:
    """Merge ``origin`` into the job's origin (e.g. the chat message that shows its status)."""
    job = await load_job(session, None, job_id, lock=True)
    job.origin = {**(job.origin or {}), **origin}
    await session.flush()
    return await read_job(session, job)


async def refund(
    *, session: AsyncSession, job_id: str, actor: str | None = None, note: str | None = None
) -> JobRead:
    job = await load_job(session, None, job_id, lock=True)
    await credits.refund_job(session=session, job_id=job.id, actor=actor, note=note)
    return await read_job(session, job)


# for core.batches, which records variant jobs like submit does
read = read_job
