"""Admission control for backends whose renders share one capacity (Remotion Lambda).

A Lambda render occupies ``renderers + 1`` concurrent functions of the account's regional
limit. Running more renders than fit would make AWS throttle the renderers mid-render
(failed chunks, failed jobs), so a queued job starts only when the functions it needs
fit next to those held by

- every *processing* job of the same backend (a job holds its reservation, written here
  as ``backend_info["capacity_units"]``, until it ends, so its retries never wait), and
- every *older queued* job of the same backend (first come, first served: a big job at
  the head is not starved by small ones behind it).

A job that does not fit stays ``queued`` (its queue position is what users see) and the
pipeline looks again after ``governor_wait_seconds``. No attempt is used and nothing is
charged twice: the job simply has not started.

Concurrency: admissions are serialised — SQLite transactions are ``BEGIN IMMEDIATE`` (one
writer at a time); on PostgreSQL a transaction-scoped advisory lock is taken first.

Waiting jobs and the reconciler: while a job waits, its ``lease_expires_at`` is set to
the time of its next look plus a margin; the reconciler leaves queued jobs with a live
lease alone, so it does not start a second chain of messages. Should two chains exist
anyway (a redelivered message), the one that finds the lease renewed after it was
scheduled drops out (:attr:`Admission.duplicate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import RenderJob

UNITS_KEY = "capacity_units"
HOLD_MARGIN_SECONDS = 30.0
_CLOCK_SLACK_SECONDS = 1.0
_PG_LOCK_KEY = 0x72_62_67_76  # "rbgv"


@dataclass(frozen=True)
class Admission:
    admitted: bool
    needed: int = 0
    in_use: int = 0  # held by processing jobs
    ahead: int = 0  # needed by older queued jobs
    limit: int = 0
    duplicate: bool = False  # another message already drives this waiting job

    def as_info(self) -> dict[str, Any]:
        return {"needed": self.needed, "in_use": self.in_use, "ahead": self.ahead,
                "limit": self.limit}


async def admit(
    *,
    session: AsyncSession,
    job_id: str,
    backend: str,
    limit: int,
    units: Callable[[dict[str, Any]], int],
    wait_seconds: float,
    now: datetime,
) -> Admission:
    """Decide whether the queued job may start now (see the module docstring).

    ``units(job.settings)`` is the number of functions a job needs. Jobs that are not
    queued (a retry of a processing job, an ended job) are admitted: the pipeline's own
    checks deal with them. On admission the job's reservation is written; the caller
    moves it to processing in the same transaction.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    job = await session.get(RenderJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != "queued" or job.cancel_requested:
        return Admission(admitted=True)
    if job.lease_expires_at is not None and job.lease_expires_at - now > timedelta(
        seconds=HOLD_MARGIN_SECONDS + _CLOCK_SLACK_SECONDS
    ):
        return Admission(admitted=False, duplicate=True)

    needed = units(job.settings)
    infos = await session.scalars(
        select(RenderJob.backend_info).where(
            RenderJob.status == "processing", RenderJob.backend == backend,
            RenderJob.id != job.id,
        )
    )
    in_use = sum(int((info or {}).get(UNITS_KEY, 0)) for info in infos)
    older = await session.execute(
        select(RenderJob.settings, RenderJob.backend_info).where(
            RenderJob.status == "queued", RenderJob.backend == backend,
            RenderJob.created_at < job.created_at, RenderJob.id != job.id,
        )
    )
    # jobs held back by fair use (core/fairness.py) reserve nothing: one account's many
    # queued jobs must not keep another account's first job out
    ahead = sum(units(s) for s, info in older if "waiting_for_fair_use" not in (info or {}))
    admission = Admission(
        admitted=in_use + ahead + needed <= limit, needed=needed, in_use=in_use, ahead=ahead,
        limit=limit,
    )
    if admission.admitted:
        info = {k: v for k, v in (job.backend_info or {}).items() if k != "waiting_for_capacity"}
        job.backend_info = {**info, UNITS_KEY: needed}
    else:
        job.lease_expires_at = now + timedelta(seconds=wait_seconds + HOLD_MARGIN_SECONDS)
        job.backend_info = {**(job.backend_info or {}), "waiting_for_capacity": admission.as_info()}
    await session.flush()
    return admission
