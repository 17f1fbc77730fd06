"""The job state machine's writes (core/renders.py describes it): the transitions workers
make (claim an attempt, progress, complete, fail, cancel) and the helpers every change
goes through — one ``job_event`` row per change, terminal states never change, a failed
or cancelled job refunded once. core.renders re-exports all of it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, db_raw, fairness
from core.db import utcnow
from core.errors import InvalidTransition, JobNotFound
from core.models import TERMINAL_STATES, JobEvent, Project, RenderJob
from core.schemas import JobRead


async def start_attempt(
    *,
    session: AsyncSession,
    job_id: str,
    after_attempt: int,
    lease_seconds: float,
    max_attempts: int,
    job: RenderJob | None = None,
) -> tuple[RenderJob | None, str | None]:
    """Claim a job for its next render attempt.

    ``after_attempt`` is the attempt count the caller saw (0 for a fresh job): a message
    for an attempt that has already moved on is stale and does nothing, as is one for a
    job another worker holds under a live lease. Returns ``(job, None)`` when claimed,
    ``(None, ended_state)`` when the job ended here (cancel requested, attempts used up),
    ``(None, None)`` when there is nothing to do. ``job``: the job already locked in this
    transaction (the fair-use admission locks it), else it is loaded and locked here.
    """
    if job is None:
        job = await load_job(session, None, job_id, lock=True)
    now = utcnow()
    if job.status in TERMINAL_STATES:
        return None, None
    if job.status == "processing" and job.attempts != after_attempt:
        return None, None  # stale: that attempt already moved on
    if job.cancel_requested:
        await finish(session, job, "cancelled", detail={"reason": "cancel requested"})
        return None, "cancelled"
    if job.attempts >= max_attempts:
        await finish(session, job, "failed", error=_attempts_error(job), detail={})
        return None, "failed"
    job.attempts += 1
    job.backend_ref = None
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.heartbeat_at = now
    if job.status == "queued":
        job.status = "processing"
        job.started_at = now
        record_event(session, job, "state", state="processing", detail={"attempt": job.attempts})
    record_event(session, job, "attempt", detail={"attempt": job.attempts})
    # no flush: the caller's next query (autoflush) or its commit writes the job once,
    # with what it adds (the pipeline's output key)
    return job, None


def _attempts_error(job: RenderJob) -> str:
    last = job.error or "the render did not finish"
    return f"gave up after {job.attempts} attempts: {last}"


async def claim(
    *, session: AsyncSession, job_id: str, lease_seconds: float
) -> RenderJob | None:
    """Lock a processing job for one poll and renew its lease; None when not processing."""
    job = await load_job(session, None, job_id, lock=True)
    if job.status != "processing":
        return None
    now = utcnow()
    job.heartbeat_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    return job


# What a poll reads of the job it claims: its render and what a delivery needs (Claimed)
POLLED = ("backend_ref", "cancel_requested", "output_key", "output_bucket", "destination_id",
          "settings", "project_state")
_CLAIM_ATTEMPT = db_raw.Raw(
    update(RenderJob)
    .where(RenderJob.id == bindparam("job_id"), RenderJob.status == "processing",
           RenderJob.attempts == bindparam("attempt"))
    .values(heartbeat_at=bindparam("now"), lease_expires_at=bindparam("lease"),
            updated_at=bindparam("now"))
    .returning(*(RenderJob.__table__.c[name] for name in POLLED))
)


async def claim_attempt(
    *, session: AsyncSession, job_id: str, attempt: int, lease_seconds: float
) -> dict | None:
    """:func:`claim` for one attempt, in one statement (core/db_raw.py: no ORM object, the
    row locked by the UPDATE itself): renews the lease of ``attempt`` of a processing job
    and returns its ``POLLED`` columns; None when the job is not processing that attempt
    (it ended, or moved on to a later one: then its lease is left alone)."""
    now = utcnow()
    values = {"job_id": job_id, "attempt": attempt, "now": now,
              "lease": now + timedelta(seconds=lease_seconds)}
    rows = await db_raw.run(session, lambda execute: execute(_CLAIM_ATTEMPT, values))
    return dict(zip(POLLED, rows[0], strict=True)) if rows else None


_LOCK_ATTEMPT = db_raw.Raw(
    select(RenderJob.backend_info, RenderJob.account_id)
    .where(RenderJob.id == bindparam("job_id"), RenderJob.status == "processing",
           RenderJob.attempts == bindparam("attempt"))
    .with_for_update()
)
_STARTED = db_raw.Raw(
    update(RenderJob)
    .where(RenderJob.id == bindparam("job_id"))
    .values(backend_ref=bindparam("ref"), backend_info=bindparam("info"),
            heartbeat_at=bindparam("now"), lease_expires_at=bindparam("lease"),
            updated_at=bindparam("now"))
)


async def record_start(
    *, session: AsyncSession, job_id: str, attempt: int, ref: str, info: dict,
    lease_seconds: float,
) -> str | None:
    """The backend started ``attempt``: store its reference, merge ``info`` into the job's
    ``backend_info`` and renew the lease (core/db_raw.py, two statements). Returns the
    job's account, or None when the job is no longer processing that attempt (cancelled,
    taken over meanwhile): then nothing changes and the caller cancels the render."""
    def steps(execute) -> str | None:
        rows = execute(_LOCK_ATTEMPT, {"job_id": job_id, "attempt": attempt})
        if not rows:
            return None
        current, account_id = rows[0]
        now = utcnow()
        execute(_STARTED, {"job_id": job_id, "ref": ref, "info": {**(current or {}), **info},
                           "now": now, "lease": now + timedelta(seconds=lease_seconds)})
        return account_id

    return await db_raw.run(session, steps)


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
        record_event(session, job, "progress", progress=progress)
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
    await finish(session, job, "completed", detail={"output_key": output_key})
    # one UPDATE (its onupdate stamps updated_at too), not a load of the project's state
    await session.execute(
        update(Project).where(Project.id == job.project_id)
        .values(last_render_job_id=job.id, last_render_url=result_url,
                last_rendered_at=job.finished_at)
    )
    return await read_job(session, job)


async def fail(
    *, session: AsyncSession, job: RenderJob, error: str, detail: dict | None = None
) -> JobRead:
    await finish(session, job, "failed", error=error, detail=detail or {})
    return await read_job(session, job)


async def mark_cancelled(*, session: AsyncSession, job: RenderJob) -> JobRead:
    await finish(session, job, "cancelled", detail={"reason": "cancel requested"})
    return await read_job(session, job)


async def note_error(
    *, session: AsyncSession, job: RenderJob, error: str, retryable: bool, retry_in: float = 0
) -> None:
    """Record an attempt's error without ending the job; its retry is due in ``retry_in``
    seconds, and the lease covers that wait so the reconciler leaves it alone."""
    job.error = error
    job.backend_ref = None
    job.lease_expires_at = utcnow() + timedelta(seconds=retry_in + 30)
    record_event(session, job, "error", detail={"error": error, "retryable": retryable})
    await session.flush()


async def finish(
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
    record_event(session, job, "state", state=state, detail=detail, actor=actor)
    await session.flush()
    if state in ("failed", "cancelled"):
        await credits.refund_job(session=session, job_id=job.id, actor=actor)


def record_event(
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


async def load_job(
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


async def read_job(session: AsyncSession, job: RenderJob) -> JobRead:
    read = JobRead.model_validate(job)
    if job.status == "queued":  # its place in the fair order (core/fairness.py) and an ETA
        position = await fairness.queue_position(session, job)
        return read.model_copy(update={
            "queue_position": position,
            "eta_seconds": await fairness.eta_seconds(session, job, position)})
    return read.model_copy(update={"queue_position": await queue_position(session, job)})
