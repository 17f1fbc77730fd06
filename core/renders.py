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
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, fairness, pricing, projects
from core import render_settings as rs
from core.db import after_commit, utcnow
from core.errors import IdempotencyConflict, InvalidInput, InvalidTransition, JobNotFound
from core.models import TERMINAL_STATES, JobEvent, Project, RenderJob
from core.schemas import JobEventRead, JobRead, QuoteRead
from core.settings import Settings
from core.storage import destinations

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
    project = await projects.get_model(session=session, account_id=account_id, project_id=project_id)
    digest = request_hash(project_id, valid, callback_url)
    if idempotency_key is not None:
        replay = await _replay(session, account_id, idempotency_key, digest)
        if replay is not None:
            return Submitted(job=replay, created=False)

    # issue 16: a render goes to the creator's own bucket set when it was submitted
    destination = await destinations.active(session=session, account_id=account_id)
    job = RenderJob(
        account_id=account_id, project_id=project.id, status="queued",
        settings=valid.as_dict(), credit_cost=pricing.credit_cost(valid, settings.pricing),
        project_state=project.state, progress=0, attempts=0, backend=settings.render_backend,
        backend_info={}, origin=origin or {}, callback_url=callback_url,
        idempotency_key=idempotency_key, request_hash=digest,
        destination_id=destination.id if destination is not None else None,
        chat_server=fairness.chat_server_of(origin),
    )
    try:
        async with session.begin_nested():
            session.add(job)
            await session.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first.
        replay = await _replay(session, account_id, idempotency_key or "", digest)
        if replay is None:
            raise
        return Submitted(job=replay, created=False)
    await credits.debit_for_job(session=session, job=job)
    _event(session, job, "state", state="queued", detail={"credit_cost": job.credit_cost})
    await session.flush()
    if enqueue is not None:
        job_id = job.id
        after_commit(session, lambda: enqueue(job_id))
    return Submitted(job=await _read(session, job), created=True)


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
    return await _read(session, existing)


async def get(*, session: AsyncSession, account_id: str | None, job_id: str) -> JobRead:
    """The job (scoped to ``account_id``; None = any account, for admins and workers)."""
    job = await _load(session, account_id, job_id)
    return await _read(session, job)


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
    job = await _load(session, None, job_id)
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
    job = await _load(session, account_id, job_id, lock=True)
    if job.status in TERMINAL_STATES:
        raise InvalidTransition(job.id, job.status, "cancel")
    if job.status == "queued":
        await _finish(session, job, "cancelled", detail={"by": actor or "owner"}, actor=actor)
        if announce is not None:
            after_commit(session, lambda: announce(job_id, "cancelled"))
    elif not job.cancel_requested:
        job.cancel_requested = True
        _event(session, job, "cancel", detail={"by": actor or "owner"}, actor=actor)
        await session.flush()
    return await _read(session, job)


async def set_origin(
    *, session: AsyncSession, job_id: str, origin: dict[str, Any]
) -> JobRead:
    """Merge ``origin`` into the job's origin (e.g. the chat message that shows its status)."""
    job = await _load(session, None, job_id, lock=True)
    job.origin = {**(job.origin or {}), **origin}
    await session.flush()
    return await _read(session, job)


async def refund(
    *, session: AsyncSession, job_id: str, actor: str | None = None, note: str | None = None
) -> JobRead:
    job = await _load(session, None, job_id, lock=True)
    await credits.refund_job(session=session, job_id=job.id, actor=actor, note=note)
    return await _read(session, job)


# --- transitions used by workers --------------------------------------------------------


async def start_attempt(
    *,
    session: AsyncSession,
    job_id: str,
    after_attempt: int,
    lease_seconds: float,
    max_attempts: int,
) -> tuple[RenderJob | None, str | None]:
    """Claim a job for its next render attempt.

    ``after_attempt`` is the attempt count the caller saw (0 for a fresh job): a message
    for an attempt that has already moved on is stale and does nothing, as is one for a
    job another worker holds under a live lease. Returns ``(job, None)`` when claimed,
    ``(None, ended_state)`` when the job ended here (cancel requested, attempts used up),
    ``(None, None)`` when there is nothing to do.
    """
    job = await _load(session, None, job_id, lock=True)
    now = utcnow()
    if job.status in TERMINAL_STATES:
        return None, None
    if job.status == "processing" and job.attempts != after_attempt:
        return None, None  # stale: that attempt already moved on
    if job.cancel_requested:
        await _finish(session, job, "cancelled", detail={"reason": "cancel requested"})
        return None, "cancelled"
    if job.attempts >= max_attempts:
        await _finish(session, job, "failed", error=_attempts_error(job), detail={})
        return None, "failed"
    job.attempts += 1
    job.backend_ref = None
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.heartbeat_at = now
    if job.status == "queued":
        job.status = "processing"
        job.started_at = now
        _event(session, job, "state", state="processing", detail={"attempt": job.attempts})
    _event(session, job, "attempt", detail={"attempt": job.attempts})
    await session.flush()
    return job, None


def _attempts_error(job: RenderJob) -> str:
    last = job.error or "the render did not finish"
    return f"gave up after {job.attempts} attempts: {last}"


async def claim(
    *, session: AsyncSession, job_id: str, lease_seconds: float
) -> RenderJob | None:
    """Lock a processing job for one poll and renew its lease; None when not processing."""
    job = await _load(session, None, job_id, lock=True)
    if job.status != "processing":
        return None
    now = utcnow()
    job.heartbeat_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    return job


async def record_progress(
    *,
    session: AsyncSession,
    job: RenderJob,
    progress: int,
    queue_position: int | None = None,
    eta_seconds: float | None = None,
) -> bool:
    """Store progress (never backwards within an attempt); True when it changed."""
    progress = max(0, min(99, int(progress)))
    changed = progress != job.progress or queue_position != job.queue_position
    if progress > job.progress:
        job.progress = progress
        _event(session, job, "progress", progress=progress)
    job.queue_position = queue_position
    job.eta_seconds = eta_seconds
    await session.flush()
    return changed


async def attach_poster(*, session: AsyncSession, job_id: str, poster_key: str,
                        poster_url: str) -> bool:
    """A poster that was stored after its job completed without one (the Lambda webhook
    stopped waiting for it): attach it. Only a completed job without a poster changes."""
    result = await session.execute(
        update(RenderJob)
        .where(RenderJob.id == job_id, RenderJob.status == "completed",
               RenderJob.poster_key.is_(None))
        .values(poster_key=poster_key, poster_url=poster_url)
    )
    return result.rowcount == 1


async def complete(
    *,
    session: AsyncSession,
    job: RenderJob,
    output_key: str,
    output_bucket: str | None,
    output_size: int | None,
    result_url: str,
    cost_reported: float | None = None,
    poster_key: str | None = None,
    poster_url: str | None = None,
) -> JobRead:
    """The video (and its poster frame, when one was made) is stored: completed."""
    job.output_key = output_key
    job.output_bucket = output_bucket
    job.output_size = output_size
    job.result_url = result_url
    job.poster_key = poster_key
    job.poster_url = poster_url if poster_key is not None else None
    job.cost_reported = cost_reported
    job.progress = 100
    await _finish(session, job, "completed", detail={"output_key": output_key})
    project = await session.get(Project, job.project_id)
    if project is not None:
        project.last_render_job_id = job.id
        project.last_render_url = result_url
        project.last_rendered_at = job.finished_at
    await session.flush()
    return await _read(session, job)


async def fail(
    *, session: AsyncSession, job: RenderJob, error: str, detail: dict | None = None
) -> JobRead:
    await _finish(session, job, "failed", error=error, detail=detail or {})
    return await _read(session, job)


async def mark_cancelled(*, session: AsyncSession, job: RenderJob) -> JobRead:
    await _finish(session, job, "cancelled", detail={"reason": "cancel requested"})
    return await _read(session, job)


async def note_error(
    *, session: AsyncSession, job: RenderJob, error: str, retryable: bool, retry_in: float = 0
) -> None:
    """Record an attempt's error without ending the job; its retry is due in ``retry_in``
    seconds, and the lease covers that wait so the reconciler leaves it alone."""
    job.error = error
    job.backend_ref = None
    job.lease_expires_at = utcnow() + timedelta(seconds=retry_in + 30)
    _event(session, job, "error", detail={"error": error, "retryable": retryable})
    await session.flush()


async def _finish(
    session: AsyncSession,
    job: RenderJob,
    state: str,
    *,
    error: str | None = None,
    detail: dict,
    actor: str | None = None,
) -> None:
    if job.status in TERMINAL_STATES:
        raise InvalidTransition(job.id, job.status, f"become {state}")
    now = utcnow()
    job.status = state
    job.finished_at = now
    job.lease_expires_at = None
    job.queue_position = None
    job.eta_seconds = None
    if error is not None:
        job.error = error
    _event(session, job, "state", state=state, detail=detail, actor=actor)
    await session.flush()
    if state in ("failed", "cancelled"):
        await credits.refund_job(session=session, job_id=job.id, actor=actor)


def _event(
    session: AsyncSession,
    job: RenderJob,
    kind: str,
    *,
    state: str | None = None,
    progress: int | None = None,
    detail: dict | None = None,
    actor: str | None = None,
) -> None:
    session.add(
        JobEvent(
            job_id=job.id, at=utcnow(), kind=kind, state=state, progress=progress,
            detail=detail or {}, actor=actor,
        )
    )


async def _load(
    session: AsyncSession, account_id: str | None, job_id: str, *, lock: bool = False
) -> RenderJob:
    job = await session.get(RenderJob, job_id, with_for_update=lock, populate_existing=True)
    if job is None or (account_id is not None and job.account_id != account_id):
        raise JobNotFound(job_id)
    return job


async def queue_position(session: AsyncSession, job: RenderJob) -> int | None:
    if job.status != "queued":
        return job.queue_position
    ahead = await session.scalar(
        select(func.count())
        .select_from(RenderJob)
        .where(RenderJob.status == "queued", RenderJob.created_at < job.created_at)
    )
    return int(ahead or 0) + 1


async def _read(session: AsyncSession, job: RenderJob) -> JobRead:
    read = JobRead.model_validate(job)
    if job.status == "queued":  # its place in the fair order (core/fairness.py) and an ETA
        position = await fairness.queue_position(session, job)
        return read.model_copy(update={
            "queue_position": position,
            "eta_seconds": await fairness.eta_seconds(session, job, position)})
    return read.model_copy(update={"queue_position": await queue_position(session, job)})



# for core.batches, which records variant jobs like submit does
record_event = _event
read = _read
