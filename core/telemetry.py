"""Bounded reads behind the Prometheus metrics (``/metrics``).

Gauges are counted at scrape time; counters and histograms are fed by tailing the
append-only tables (job events, credit entries, callback attempts) from a cursor, a
bounded batch per scrape, so every process serving ``/metrics`` sees what every worker
did, whichever process did it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import JOB_STATES, CallbackAttempt, CreditEntry, JobEvent, RenderJob


@dataclass(frozen=True)
class Cursors:
    job_event: int = 0
    credit_entry: int = 0
    callback_attempt: int = 0


@dataclass(frozen=True)
class JobEventRow:
    id: int
    kind: str
    state: str | None
    at: datetime
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def job_counts(*, session: AsyncSession) -> dict[str, int]:
    """Jobs per state, every state present (0 when none)."""
    rows = await session.execute(
        select(RenderJob.status, func.count()).group_by(RenderJob.status)
    )
    counts = dict.fromkeys(JOB_STATES, 0)
    counts.update({status: int(n) for status, n in rows.all()})
    return counts


async def oldest_queued_age(*, session: AsyncSession, now: datetime) -> float:
    oldest = await session.scalar(
        select(func.min(RenderJob.queued_at)).where(RenderJob.status == "queued")
    )
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())


async def latest(*, session: AsyncSession) -> Cursors:
    """Cursors at the newest rows: tail from here to count only what happens next."""
    return Cursors(
        job_event=int(await session.scalar(select(func.max(JobEvent.id))) or 0),
        credit_entry=int(await session.scalar(select(func.max(CreditEntry.id))) or 0),
        callback_attempt=int(await session.scalar(select(func.max(CallbackAttempt.id))) or 0),
    )


async def job_events_since(
    *, session: AsyncSession, after: int, limit: int = 5000
) -> list[JobEventRow]:
    """State changes and downloads after event ``after``, with their job's timestamps."""
    rows = await session.execute(
        select(
            JobEvent.id, JobEvent.kind, JobEvent.state, JobEvent.at, RenderJob.queued_at,
            RenderJob.started_at, RenderJob.finished_at,
        )
        .join(RenderJob, RenderJob.id == JobEvent.job_id)
        .where(JobEvent.id > after, JobEvent.kind.in_(("state", "download")))
        .order_by(JobEvent.id)
        .limit(limit)
    )
    return [JobEventRow(*r) for r in rows.all()]


async def credit_entries_since(
    *, session: AsyncSession, after: int, limit: int = 5000
) -> list[tuple[int, str, int]]:
    rows = await session.execute(
        select(CreditEntry.id, CreditEntry.kind, CreditEntry.amount)
        .where(CreditEntry.id > after)
        .order_by(CreditEntry.id)
        .limit(limit)
    )
    return [tuple(r) for r in rows.all()]


async def callback_attempts_since(
    *, session: AsyncSession, after: int, limit: int = 5000
) -> list[tuple[int, str, str]]:
    rows = await session.execute(
        select(CallbackAttempt.id, CallbackAttempt.outcome, CallbackAttempt.event_type)
        .where(CallbackAttempt.id > after)
        .order_by(CallbackAttempt.id)
        .limit(limit)
    )
    return [tuple(r) for r in rows.all()]


async def ping(*, session: AsyncSession) -> None:
    """Raise unless the database answers a trivial query."""
    await session.execute(select(1))
