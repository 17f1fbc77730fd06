"""Remotion Lambda's reported cost, per attempt of a job (issue 15).

Every status of a Lambda attempt that carries a cost (``RenderStatus.cost``: the poll's
``costs.accruedSoFar``, the success webhook's ``costs``) is recorded on the attempt's
``lambda_attempt_cost`` row — the last one wins — whatever the attempt's end: completed,
failed, retried or cancelled. ``render_job.cost_reported`` keeps only the delivered
attempt's cost; the dashboard's Lambda cost sums these rows, so money spent on renders
that delivered nothing is counted too.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.backends.base import RenderStatus
from core.db import utcnow
from core.models import LambdaAttemptCost, RenderJob
from core.runtime import Runtime


async def record(rt: Runtime, job_id: str, attempt: int, status: RenderStatus) -> None:
    """Record ``status.cost`` for the attempt (no-op without a cost)."""
    if status.cost is None:
        return
    async with rt.db.transaction() as session:
        await record_in(session, job_id=job_id, attempt=attempt, cost=float(status.cost),
                        state=status.state)


async def record_in(
    session: AsyncSession, *, job_id: str, attempt: int, cost: float, state: str
) -> LambdaAttemptCost | None:
    job = await session.get(RenderJob, job_id)
    if (job is None or job.status != "processing" or job.attempts != attempt
            or job.backend_ref is None):
        return None  # a late status of an attempt that is over: its row holds its cost
    row = await session.get(LambdaAttemptCost, (job_id, attempt))
    if row is None:
        row = LambdaAttemptCost(job_id=job_id, attempt=attempt, cost_usd=cost, state=state)
        session.add(row)
    elif (row.cost_usd, row.state) == (cost, state):
        return row  # most polls: nothing new, nothing written
    row.cost_usd, row.state, row.updated_at = cost, state, utcnow()
    row.render_id = (job.backend_info or {}).get("lambda_render_id")
    return row
