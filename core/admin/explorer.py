"""The job explorer's read models: :func:`list_jobs` (filtered, ``LIMIT``-ed, newest
first), :func:`job_detail` and :func:`account_ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, renders
from core.errors import (
    InvalidInput,
    JobNotFound,
)
from core.models import JOB_STATES, Account, CreditEntry, Project, RenderJob
from core.schemas import CreditEntryRead, JobEventRead, JobRead
from core.storage import destinations
from core.storage.destinations import DestinationRead

STATES = JOB_STATES
PLATFORMS = ("discord", "slack", "api", "cli")
BACKENDS = ("local", "lambda")
MAX_LIST = 500


class JobRow(BaseModel):
    id: str
    status: str
    progress: int
    account_id: str
    project_id: str
    backend: str
    platform: str | None
    credit_cost: int
    attempts: int
    download_count: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def list_jobs(
    *,
    session: AsyncSession,
    status: str | None = None,
    account_id: str | None = None,
    project_id: str | None = None,
    backend: str | None = None,
    platform: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 100,
) -> list[JobRow]:
    """Newest jobs matching every given filter (at most ``MAX_LIST``)."""
    if status is not None and status not in JOB_STATES:
        raise InvalidInput("status", f"must be one of {', '.join(JOB_STATES)}")
    platform_col = RenderJob.origin["platform"].as_string()
    query = select(
        RenderJob.id, RenderJob.status, RenderJob.progress, RenderJob.account_id,
        RenderJob.project_id, RenderJob.backend, platform_col.label("platform"),
        RenderJob.credit_cost, RenderJob.attempts, RenderJob.download_count, RenderJob.error,
        RenderJob.created_at, RenderJob.started_at, RenderJob.finished_at,
    )
    if status:
        query = query.where(RenderJob.status == status)
    if account_id:
        query = query.where(RenderJob.account_id == account_id.strip())
    if project_id:
        query = query.where(RenderJob.project_id == project_id.strip())
    if backend:
        query = query.where(RenderJob.backend == backend)
    if platform:
        query = query.where(platform_col == platform)
    if created_from is not None:
        query = query.where(RenderJob.created_at >= created_from)
    if created_to is not None:
        query = query.where(RenderJob.created_at < created_to)
    limit = max(1, min(int(limit), MAX_LIST))
    rows = await session.execute(query.order_by(RenderJob.created_at.desc()).limit(limit))
    return [JobRow.model_validate(dict(r._mapping)) for r in rows]


class LedgerEntry(CreditEntryRead):
    account_id: str
    actor: str | None = None
    idempotency_key: str


class Attempt(BaseModel):
    series: int  # 1 for the original run, +1 for each admin retry
    number: int
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None  # error (retried) | completed | failed | cancelled | None = running
    error: str | None = None


class JobDetail(BaseModel):
    job: JobRead
    account_name: str | None
    project_name: str | None
    platform: str | None
    origin: dict[str, Any]
    callback_url: str | None
    queued_at: datetime
    backend_ref: str | None
    backend_info: dict[str, Any]
    output_key: str | None
    output_size: int | None
    cost_reported: float | None
    download_count: int
    events: list[JobEventRead]
    attempts: list[Attempt]
    errors: list[JobEventRead]
    credit_entries: list[LedgerEntry]
    refunded: bool
    can_cancel: bool
    can_retry: bool
    can_refund: bool
    error_detail: str | None = None  # the full detail of job.error (admins only)
    # issue 16: where the video went (never a secret) and when retention deleted it
    destination: DestinationRead | None = None  # None: the default storage
    output_expired_at: datetime | None = None


async def job_detail(*, session: AsyncSession, job_id: str) -> JobDetail:
    row = await session.get(RenderJob, job_id.strip(), populate_existing=True)
    if row is None:
        raise JobNotFound(job_id)
    job = await renders.get(session=session, account_id=None, job_id=row.id)
    events = await renders.events(session=session, job_id=row.id)
    entries = await session.scalars(
        select(CreditEntry).where(CreditEntry.job_id == row.id).order_by(CreditEntry.id).limit(100)
    )
    account = await session.get(Account, row.account_id)
    project = await session.get(Project, row.project_id)
    refunded = await credits.is_refunded(session=session, job_id=row.id)
    return JobDetail(
        job=job, account_name=account.name if account else None,
        project_name=project.name if project else None,
        platform=(row.origin or {}).get("platform"), origin=row.origin or {},
        callback_url=row.callback_url, queued_at=row.queued_at, backend_ref=row.backend_ref,
        backend_info=row.backend_info or {}, output_key=row.output_key,
        output_size=row.output_size, cost_reported=row.cost_reported,
        download_count=row.download_count, events=events, attempts=attempts_of(events),
        errors=[e for e in events if e.kind == "error" or (e.state == "failed")],
        credit_entries=[LedgerEntry.model_validate(e) for e in entries], refunded=refunded,
        can_cancel=row.status in ("queued", "processing") and not row.cancel_requested,
        can_retry=row.status == "failed",
        can_refund=row.status in ("failed", "cancelled") and not refunded,
        error_detail=row.error_detail,
        destination=await destinations.describe(session=session,
                                                destination_id=row.destination_id),
        output_expired_at=row.output_expired_at,
    )


def attempts_of(events: Sequence[JobEventRead]) -> list[Attempt]:
    """The render attempts told by a job's events (an admin retry starts a new series)."""
    out: list[Attempt] = []
    series = 1
    for event in events:
        current = out[-1] if out and out[-1].series == series else None
        if event.kind == "state" and event.state == "queued" and event.detail.get("retry"):
            series += 1
        elif event.kind == "attempt":
            out.append(Attempt(series=series, number=int(event.detail.get("attempt", 0)),
                               started_at=event.at))
        elif current is not None and current.outcome is None:
            if event.kind == "error":
                current.outcome, current.ended_at = "error", event.at
                current.error = str(event.detail.get("error", ""))
            elif event.kind == "state" and event.state in ("completed", "failed", "cancelled"):
                current.outcome, current.ended_at = event.state, event.at
    return out


async def account_ledger(
    *, session: AsyncSession, account_id: str, limit: int = 20
) -> tuple[int, list[LedgerEntry]]:
    balance = await credits.balance(session=session, account_id=account_id.strip())
    rows = await session.scalars(
        select(CreditEntry).where(CreditEntry.account_id == account_id.strip())
        .order_by(CreditEntry.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    )
    return balance, [LedgerEntry.model_validate(r) for r in rows]
