"""What a worker does with a job, step by step. Transport-free: each step returns the
:class:`Next` step and ``jobs/actors.py`` turns that into a (delayed) queue message.

    start(job)  [capacity: a job that does not fit stays queued, core/render/governor.py]
                claim an attempt → backend.start → Next.poll
    poll(job)   backend.status → progress (Next.poll) | upload + complete | retry | fail
    reconcile() queued jobs nobody took, processing jobs whose lease expired → Next steps

Host-bound backends (the local render server: one per worker process): a poll step
carries ``host``, and ``jobs/actors.py`` puts it on that worker's own poll queue, so a
render's polls reach the worker whose server has it. Any worker takes any start. A
processing job whose lease expired while another worker held it (that worker died or
hangs) is taken over: the attempt counts as lost, and the next one starts on any worker.

Bounded life: every time the reconciler has to pick a processing job up again (its
lease expired: the worker died, or the step kept raising until its message was
dead-lettered), it counts; past ``worker.max_reconciles`` the job fails with one refund.
A start step that raises until its retries are spent counts the same way
(``start_gave_up``), so a queued job whose start always raises cannot loop forever.

No database transaction is held while a backend or storage call runs (SQLite has one
writer at a time; a render takes minutes). Every write re-claims the job, so a message
for an attempt that has moved on, or a job that ended, does nothing.

Retries: a retryable render error (browser crash, throttling, lost render, upload error)
starts a new attempt after ``retry_base_delay × 2^(attempt-1)`` seconds (capped at
``retry_max_delay``), at most ``max_attempts`` attempts in all; a permanent error (the
composition threw, invalid props) fails the job at once. Failure and cancel refund the
job's credits exactly once (core.renders).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select

from core import assets, fairness, job_errors, lambda_costs, renders
from core.attempt_outcomes import (
    MAX_POLL_ERRORS,
    Next,
    attempt_failed,
    describe,
    end,
    notify,
    poll_error,
    poll_step,
    quietly,
    retry_delay,
)
from core.backends.base import (
    CapacityLimited,
    HostBound,
    RenderRequest,
    RenderStatus,
    Started,
    input_props,
)
from core.db import utcnow
from core.delivery import Claimed, deliver
from core.errors import InvalidTransition
from core.models import Account, RenderJob, StorageDestination
from core.notify import JobChange
from core.poll_timing import next_poll, watch_end
from core.render import governor
from core.render_settings import RenderSettings
from core.runtime import Runtime
from core.storage import destinations
from core.storage.base import object_key

# Next, retry_delay and MAX_POLL_ERRORS live in core/attempt_outcomes.py (re-exported); the
# poll timing (next_poll, watch_end) in core/poll_timing.py
__all__ = ["LOST_HOST", "MAX_POLL_ERRORS", "Next", "announce", "apply_status", "finish_stale",
           "poll", "reconcile", "retry_delay", "start"]

log = logging.getLogger("renderbot.pipeline")
LOST_HOST = "the worker rendering it stopped (its lease expired)"


async def announce(rt: Runtime, job_id: str, change: JobChange) -> None:
    """Fan out a change made outside this process's pipeline (the Remotion completion
    webhook ends jobs in the API process) through this runtime's notifiers."""
    await notify(rt, job_id, change)


async def start(rt: Runtime, job_id: str, after_attempt: int = 0) -> Next:
    w = rt.settings.worker
    read = None  # the job as it starts processing: what its notifiers are told
    async with rt.db.transaction() as session:
        # ``fair`` holds the job and its account as the admission locked them (the
        # session's identity map keeps them only while something does)
        waiting, fair = await _admission(rt, session, job_id, after_attempt)
        if waiting is None:
            job, ended = await renders.start_attempt(
                session=session, job_id=job_id, after_attempt=after_attempt,
                lease_seconds=w.lease_seconds, max_attempts=w.max_attempts,
                job=fair.job if fair is not None else None,
            )
            if job is not None:
                request = await _request(rt, session, job)
                attempt = job.attempts
                if attempt == 1:
                    await session.flush()
                    read = await renders.read(session, job)
    if waiting is not None:
        return waiting
    if job is None:
        if ended:
            await notify(rt, job_id, ended)
        return Next.done()
    if read is not None:
        await notify(rt, job_id, "processing", read)
    try:
        request = await assets.localise(rt, request)  # project URLs → storage links
        ref = await rt.backend.start(request)
    except Exception as exc:  # noqa: BLE001 - every start failure ends this attempt
        return await attempt_failed(rt, job_id, attempt, *describe(exc))
    backend_info: dict = {}
    if isinstance(ref, Started):
        ref, backend_info = ref.ref, ref.info
    async with rt.db.transaction() as session:
        account_id = await renders.record_start(
            session=session, job_id=job_id, attempt=attempt, ref=ref,
            info={**_start_info(request), **backend_info}, lease_seconds=w.lease_seconds)
    if account_id is None:  # stale: it ended or moved on while the backend started it
        await quietly(rt.backend.cancel(ref))
        return Next.done()
    log.info("job %s attempt %s started on %s", job_id, attempt, rt.backend.name,
             extra={"job_id": job_id, "account_id": account_id})
    return poll_step(rt, job_id, attempt, w.poll_interval)


async def _admission(
    rt: Runtime, session, job_id: str, after_attempt: int
) -> tuple[Next | None, fairness.Admission | None]:
    """(None, the fair-use admission: the job and account it locked) when the job may go
    on; else the step to take instead (it stays queued).

    Fair use first (per-account and per-chat-server active limits, ``core/fairness.py``);
    then only backends with a shared capacity (Remotion Lambda) are governed; see
    ``core/render/governor.py``."""
    fair_wait = max(rt.settings.worker.poll_interval, fairness.RECHECK_SECONDS)
    fair = await fairness.admit(session=session, job_id=job_id, limits=rt.settings.limits,
                                wait_seconds=fair_wait, now=utcnow())
    if fair.duplicate:
        return Next.done(), None
    if not fair.admitted:  # parked: a job of its account ending wakes it (jobs/fair_wake.py),
        # else the reconciler once its lease runs out (no message per waiting job meanwhile)
        log.info("job %s waits for fair use (%s)", job_id, fair.as_info(),
                 extra={"job_id": job_id})
        return Next.done(), None
    backend = rt.backend
    if not isinstance(backend, CapacityLimited):
        return None, fair
    wait = rt.settings.remotion.governor_wait_seconds
    admission = await governor.admit(
        session=session, job_id=job_id, backend=backend.name, limit=backend.capacity_limit,
        units=lambda data: backend.capacity_units(RenderSettings.from_stored(data).rendered()),
        wait_seconds=wait, now=utcnow(),
    )
    if admission.admitted:
        return None, fair
    if admission.duplicate:
        return Next.done(), None
    log.info("job %s waits for capacity (%s)", job_id, admission.as_info(),
             extra={"job_id": job_id})
    return Next("start", job_id, after_attempt, wait), None


async def _request(rt: Runtime, session, job: RenderJob) -> RenderRequest:
    settings = RenderSettings.from_stored(job.settings).rendered()  # a draft: smaller, marked
    # The creator's own bucket set when the job was submitted (core.renders.submit records
    # it): every attempt, the link and the dashboard use that one.
    dest = None
    if job.destination_id is not None:
        dest = await session.get(StorageDestination, job.destination_id)
    target = None
    if dest is not None:
        key = object_key(prefix=dest.prefix, job_id=job.id, ext=settings.output.ext)
        job.output_bucket = dest.bucket
        target = destinations.output_target(rt.settings, dest)
    else:
        account = await session.get(Account, job.account_id)
        key = object_key(prefix=account.storage_prefix if account else None, job_id=job.id,
                         ext=settings.output.ext)
        job.output_bucket = account.storage_bucket if account else None
    job.output_key = key
    return RenderRequest(
        job_id=job.id, attempt=job.attempts,
        composition=job.project_state.get("composition", "Visualizer"),
        input_props=input_props(job.project_state, settings), settings=settings,
        output_key=key, output_bucket=job.output_bucket, output_target=target,
    )


def _start_info(request: RenderRequest) -> dict:
    return {"render_id": request.render_id, "frames": request.settings.frame_count}


async def poll(rt: Runtime, job_id: str, attempt: int) -> Next:
    w = rt.settings.worker
    async with rt.db.transaction() as session:
        job = await renders.claim_attempt(session=session, job_id=job_id, attempt=attempt,
                                          lease_seconds=w.lease_seconds)
    if job is None:
        return Next.done()
    ref, cancel_requested = job["backend_ref"], job["cancel_requested"]
    claimed = Claimed.of_row(job)  # a render that ended is delivered from this claim
    if ref is None:
        return await attempt_failed(rt, job_id, attempt, "the render never started", True,
                                     "lost")
    if cancel_requested:
        await quietly(rt.backend.cancel(ref))
        return await end(rt, job_id, attempt, "cancelled")
    try:
        status = await watch_end(rt.backend, ref, await rt.backend.status(ref))
    except Exception as exc:  # noqa: BLE001 - the backend is unreachable for now
        return await poll_error(rt, job_id, attempt, *describe(exc))
    return await apply_status(rt, job_id, attempt, status, claimed)


async def apply_status(rt: Runtime, job_id: str, attempt: int, status: RenderStatus,
                       claimed: Claimed | None = None) -> Next:
    """Turn what the backend reports about ``attempt`` into the job's next state.

    The second half of :func:`poll`; the Remotion Lambda completion webhook
    (``core/lambda_webhook.py``) calls it too. Every branch re-claims the job and checks
    the attempt, so a status applied twice (webhook and poll) changes the job once —
    but for a delivery that goes on from the claim of the poll that saw the render end
    (``claimed``): the completion's own claim still checks the attempt."""
    await lambda_costs.record(rt, job_id, attempt, status)  # every attempt's cost (issue 15)
    if status.state in ("queued", "rendering"):
        return await _progress(rt, job_id, attempt, status)
    if status.state == "done":
        return await deliver(rt, job_id, attempt, status, claimed)
    if status.state == "cancelled":
        return await end(rt, job_id, attempt, "cancelled")
    if status.state == "lost":
        return await attempt_failed(
            rt, job_id, attempt, status.error or "the renderer lost this render (it restarted)",
            True, "lost",
        )
    return await attempt_failed(
        rt, job_id, attempt, status.error or "the render failed", status.retryable,
        status.error_kind,
    )


async def _progress(rt: Runtime, job_id: str, attempt: int, status: RenderStatus) -> Next:
    w = rt.settings.worker
    async with rt.db.transaction() as session:
        job = await renders.claim(session=session, job_id=job_id, lease_seconds=w.lease_seconds)
        if job is None or job.attempts != attempt:
            return Next.done()
        changed = await renders.record_progress(
            session=session, job=job, progress=int(status.progress * 100),
            queue_position=status.queue_position, eta_seconds=status.eta_seconds,
        )
        job.backend_info = {**job.backend_info, "poll_errors": 0}
    if changed:
        await notify(rt, job_id, "progress")
    return poll_step(rt, job_id, attempt, next_poll(rt.backend, status, w.poll_interval))


async def reconcile(rt: Runtime, *, limit: int = 500) -> list[Next]:
    """Jobs whose message was lost: queued ones nobody took, processing ones whose lease
    expired (a killed worker, a flushed Redis). Returns the steps to enqueue."""
    w = rt.settings.worker
    now = utcnow()
    async with rt.db.transaction() as session:
        rows = await session.execute(
            select(RenderJob.id, RenderJob.status, RenderJob.attempts, RenderJob.backend_ref)
            .where(
                or_(
                    (RenderJob.status == "queued")
                    & (RenderJob.queued_at < now - timedelta(seconds=w.reconcile_grace))
                    # a live lease on a queued job: its next start is scheduled (governor)
                    & or_(RenderJob.lease_expires_at.is_(None), RenderJob.lease_expires_at < now),
                    (RenderJob.status == "processing")
                    & or_(RenderJob.lease_expires_at.is_(None), RenderJob.lease_expires_at < now),
                )
            )
            .order_by(RenderJob.created_at)
            .limit(limit)
        )
        found = rows.all()
    steps = []
    for job_id, status, attempts, ref in found:
        if status != "processing":
            steps.append(Next("start", job_id, attempts))
            continue
        step = await _pick_up(rt, job_id, attempts, ref)
        if step.action != "none":
            steps.append(step)
    if steps:
        log.info("reconciler re-enqueues %d job(s)", len(steps))
    return steps


async def _pick_up(rt: Runtime, job_id: str, attempt: int, ref: str | None) -> Next:
    """A processing job whose lease expired: count the pick-up (bounded life), then poll
    it here, or — when another worker's render server had it — take it over."""
    w = rt.settings.worker
    async with rt.db.transaction() as session:
        job = await session.get(RenderJob, job_id, with_for_update=True)
        if job is None or job.status != "processing" or job.attempts != attempt:
            return Next.done()
        if job.lease_expires_at is not None and job.lease_expires_at >= utcnow():
            return Next.done()  # polled (or picked up by another reconciler) meanwhile
        picked = int(job.backend_info.get("reconciled", 0)) + 1
        job.backend_info = {**job.backend_info, "reconciled": picked}
        job.lease_expires_at = utcnow() + timedelta(seconds=w.lease_seconds)
        account_id = job.account_id
    log.warning("job %s attempt %s picked up by the reconciler (%s/%s)", job_id, attempt,
                picked, w.max_reconciles, extra={"job_id": job_id, "account_id": account_id})
    if picked > w.max_reconciles:
        await finish_stale(rt, job_id, f"the reconciler picked it up {picked} times "
                                       f"(max_reconciles={w.max_reconciles})")
        return Next.done()
    if ref is None:
        return Next("start", job_id, attempt)
    backend = rt.backend
    if isinstance(backend, HostBound) and backend.owner(ref) not in (None, backend.host):
        return await attempt_failed(rt, job_id, attempt, LOST_HOST, True, "lost")
    return poll_step(rt, job_id, attempt, 0.0)


async def start_gave_up(rt: Runtime, job_id: str, cause: str) -> None:
    """A job's start step kept raising until its message's retries were spent (a stored
    setting this version cannot read, a row the request cannot be built from, ...). The
    job stays queued for the reconciler unless it keeps happening: like a pick-up, it
    counts, and past ``worker.max_reconciles`` the job fails with one refund."""
    w = rt.settings.worker
    async with rt.db.transaction() as session:
        job = await session.get(RenderJob, job_id, with_for_update=True)
        if job is None or job.status in ("completed", "failed", "cancelled"):
            return
        failures = int(job.backend_info.get("start_failures", 0)) + 1
        job.backend_info = {**job.backend_info, "start_failures": failures}
        account_id = job.account_id
    log.warning("job %s: its start failed every retry (%s/%s): %s", job_id, failures,
                w.max_reconciles, cause, extra={"job_id": job_id, "account_id": account_id})
    if failures > w.max_reconciles:
        await finish_stale(rt, job_id, f"its start failed {failures} times; last: {cause}")


async def finish_stale(rt: Runtime, job_id: str, message: str) -> None:
    """A job that keeps coming back (its steps keep failing): fail it, refund once (or
    cancel it, when a cancel was asked for). ``message`` goes to admins and the log."""
    text, detail = job_errors.user_error("stale", message)
    async with rt.db.transaction() as session:
        job = await session.get(RenderJob, job_id, with_for_update=True)
        if job is None or job.status in ("completed", "failed", "cancelled"):
            return
        try:
            job.error_detail = detail
            # renders.finish, not fail/mark_cancelled: those also read the job back for
            # the API, which a row this version cannot read (why its start kept
            # raising) would refuse, and the job would never end
            if job.cancel_requested:
                await renders.finish(session, job, "cancelled",
                                     detail={"reason": "cancel requested"})
            else:
                await renders.finish(session, job, "failed", detail={},
                                     error=job_errors.final_text(text))
        except InvalidTransition:
            return
        change = job.status
    log.warning("job %s %s: %s", job_id, change, message, extra={"job_id": job_id})
    try:
        await notify(rt, job_id, change)
    except Exception:  # noqa: BLE001 - it has ended; an unreadable row cannot be announced
        log.warning("job %s: its end could not be announced", job_id, exc_info=True)
