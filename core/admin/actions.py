"""Admin actions: cancel, refund, retry, retry a window's failures, grant credits.

Actions go through ``core.renders`` / ``core.credits`` and leave an audit trail with the
admin's name: a ``job_event`` of kind ``audit`` for job actions, the ledger entry's
``actor`` for grants (a grant belongs to no job; the ledger is append-only).

Retrying a failed job is the one deliberate exception to "terminal states never
change": an admin re-opens it as a fresh attempt series (``queued``, attempts 0), with a
``state queued`` event marked ``retry`` and an audit event. A re-charging retry debits
the job again (its own charge round, refundable once); a free retry adds no charge, so a
free retry that fails again finds its charge round already refunded — no second refund.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import accounts, credits, renders
from core.admin import admins
from core.admin.queue_health import WINDOWS
from core.db import after_commit, utcnow
from core.errors import (
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    RefundNotAllowed,
)
from core.models import JobEvent, RenderJob
from core.renders import Enqueue
from core.schemas import CreditEntryRead, JobRead

MAX_WINDOW_RETRY = 500


MAX_GRANT = 10_000  # default bound of one grant (RENDERBOT_DASHBOARD__MAX_GRANT)


async def _operator(session: AsyncSession, admin: str, action: str) -> str:
    """Only an enabled ``operator`` acts; the name goes on the audit record."""
    return await admins.operator(session=session, name=admin, action=action)


def _audit(session: AsyncSession, job_id: str, admin: str, action: str, **detail) -> None:
    session.add(JobEvent(job_id=job_id, at=utcnow(), kind="audit", actor=admin,
                         detail={"action": action, **detail}))


async def cancel_job(
    *, session: AsyncSession, job_id: str, admin: str, announce: renders.Announce | None = None
) -> JobRead:
    admin = await _operator(session, admin, "cancel jobs")
    job = await renders.cancel(
        session=session, account_id=None, job_id=job_id, actor=admin, announce=announce
    )
    _audit(session, job.id, admin, "cancel", status_after=job.status)
    await session.flush()
    return job


async def refund_job(
    *, session: AsyncSession, job_id: str, admin: str, note: str | None = None
) -> JobRead:
    """Refund a failed or cancelled job's current charge (refused when already refunded)."""
    admin = await _operator(session, admin, "refund jobs")
    if await credits.is_refunded(session=session, job_id=job_id):
        raise RefundNotAllowed(job_id, "it was already refunded")
    job = await renders.refund(session=session, job_id=job_id, actor=admin,
                               note=note or f"refunded by {admin}")
    _audit(session, job.id, admin, "refund", amount=job.credit_cost)
    await session.flush()
    return job


async def retry_job(
    *, session: AsyncSession, job_id: str, recharge: bool, admin: str,
    enqueue: Enqueue | None = None,
) -> JobRead:
    """Re-open a failed job as a fresh attempt series; ``recharge`` debits it again
    (raises :class:`InsufficientCredits`), otherwise the retry is free."""
    admin = await _operator(session, admin, "retry jobs")
    job = await session.get(RenderJob, job_id, with_for_update=True, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    await _reopen(session, job, recharge=recharge, admin=admin, scope={"scope": "job"})
    _enqueue_after_commit(session, job.id, enqueue)
    return await renders.get(session=session, account_id=None, job_id=job.id)


class RetryReport(BaseModel):
    start: datetime
    end: datetime
    recharge: bool
    retried: list[str]
    skipped: dict[str, str]  # job id → reason (e.g. insufficient credits)
    more: bool  # more failed jobs in the window than one call retries


async def retry_failed_in_window(
    *, session: AsyncSession, start: datetime, end: datetime, recharge: bool, admin: str,
    enqueue: Enqueue | None = None, limit: int = MAX_WINDOW_RETRY,
) -> RetryReport:
    """Retry the jobs that failed in ``[start, end)`` (never more than the longest
    dashboard window, never more than ``limit`` jobs per call, oldest failure first)."""
    admin = await _operator(session, admin, "retry jobs")
    if end <= start:
        raise InvalidInput("window", "must end after it starts")
    if end - start > max(WINDOWS.values()) + timedelta(minutes=1):
        raise InvalidInput("window", "is longer than the dashboard's longest window (7 days)")
    limit = max(1, min(int(limit), MAX_WINDOW_RETRY))
    ids = list(
        await session.scalars(
            select(RenderJob.id)
            .where(RenderJob.status == "failed", RenderJob.finished_at >= start,
                   RenderJob.finished_at < end)
            .order_by(RenderJob.finished_at, RenderJob.id)
            .limit(limit + 1)
        )
    )
    more = len(ids) > limit
    scope = {"scope": "window", "window": [start.isoformat(), end.isoformat()]}
    retried: list[str] = []
    skipped: dict[str, str] = {}
    for job_id in ids[:limit]:
        try:
            async with session.begin_nested():
                job = await session.get(RenderJob, job_id, with_for_update=True,
                                        populate_existing=True)
                if job is None:
                    continue
                await _reopen(session, job, recharge=recharge, admin=admin, scope=scope)
        except (InsufficientCredits, InvalidTransition) as exc:
            skipped[job_id] = str(exc)
            continue
        retried.append(job_id)
        _enqueue_after_commit(session, job_id, enqueue)
    return RetryReport(start=start, end=end, recharge=recharge, retried=retried,
                       skipped=skipped, more=more)


async def _reopen(
    session: AsyncSession, job: RenderJob, *, recharge: bool, admin: str, scope: dict
) -> None:
    if job.status != "failed":
        raise InvalidTransition(job.id, job.status, "retry (only failed jobs can be retried)")
    entry = None
    if recharge:
        entry = await credits.charge_again(session=session, job=job, actor=admin)
    previous = {
        "error": job.error, "attempts": job.attempts,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    now = utcnow()
    job.status = "queued"
    job.attempts = 0
    job.error = None
    job.progress = 0
    job.finished_at = None
    job.started_at = None
    job.queued_at = now
    job.backend_ref = None
    job.backend_info = {}
    job.lease_expires_at = None
    job.heartbeat_at = None
    job.queue_position = None
    job.eta_seconds = None
    job.cancel_requested = False
    job.result_url = None
    session.add(JobEvent(
        job_id=job.id, at=now, kind="state", state="queued", actor=admin,
        detail={"retry": True, "recharged": recharge, "by": admin,
                "credit_entry_id": entry.id if entry else None},
    ))
    _audit(session, job.id, admin, "retry", recharge=recharge,
           charged=entry.amount if entry else 0, previous=previous, **scope)
    await session.flush()


def _enqueue_after_commit(session: AsyncSession, job_id: str, enqueue: Enqueue | None) -> None:
    if enqueue is not None:
        after_commit(session, lambda: enqueue(job_id))


async def grant(
    *, session: AsyncSession, account_id: str, amount: int, admin: str,
    idempotency_key: str, note: str | None = None, max_amount: int = MAX_GRANT,
) -> CreditEntryRead:
    """Grant at most ``max_amount`` credits (the dashboard passes its setting); the ledger
    entry (with ``actor``) is the audit record. The same ``idempotency_key`` (one per
    confirmation) never grants twice."""
    admin = await _operator(session, admin, "grant credits")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= max_amount:
        raise InvalidInput("amount", f"must be a whole number of credits from 1 to {max_amount:,}")
    account = await accounts.get(session=session, account_id=account_id.strip())
    return await credits.grant(
        session=session, account_id=account.id, amount=amount,
        idempotency_key=f"admin-grant:{idempotency_key}",
        note=(note or "").strip() or f"granted by {admin}", actor=admin,
    )
