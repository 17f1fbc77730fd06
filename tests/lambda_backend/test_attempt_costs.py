"""Remotion Lambda's reported cost is kept for EVERY attempt (issue 15): one failed then
one completed attempt → both costs, and the dashboard's Lambda cost is their sum (before,
only the delivered attempt's cost was kept, so the margin looked best exactly where money
was lost). The statuses are what the lambda backend reports (poll or webhook); the
pipeline, database and dashboard read model are the real ones."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import admin, pipeline
from core.backends.base import RenderStatus
from core.models import LambdaAttemptCost, RenderJob
from core.runtime import Runtime
from dashboard import format as fmt
from tests.dashboard.apptest import metrics, run
from tests.fixtures.api import free_port, make_api_settings
from tests.fixtures.dashboard import app_test
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit


async def _costs(db, job_id: str) -> list[tuple[int, str, float]]:
    async with db.transaction() as s:
        rows = await s.scalars(select(LambdaAttemptCost).where(LambdaAttemptCost.job_id == job_id)
                               .order_by(LambdaAttemptCost.attempt))
        return [(r.attempt, r.state, r.cost_usd) for r in rows]


async def test_a_failed_then_a_completed_attempt_both_count(
    db, tmp_path, database_url, factory, dashboard_env
):
    settings = make_api_settings(tmp_path, database_url, free_port(), render_backend="instant")
    rt = Runtime(settings)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)

        assert (await pipeline.start(rt, job.id)).action == "poll"  # attempt 1
        await pipeline.apply_status(rt, job.id, 1, RenderStatus(state="rendering", cost=0.0004))
        assert await _costs(db, job.id) == [(1, "rendering", 0.0004)]
        failed = RenderStatus(state="failed", retryable=True, cost=0.0009,
                              error="AWS Lambda throttled the render's functions")
        step = await pipeline.apply_status(rt, job.id, 1, failed)
        assert step.action == "start"  # retried as a new attempt
        # a late status of attempt 1 changes nothing
        await pipeline.apply_status(rt, job.id, 1, RenderStatus(state="rendering", cost=5.0))

        assert (await pipeline.start(rt, job.id, after_attempt=1)).action == "poll"  # attempt 2
        await pipeline.apply_status(rt, job.id, 2, RenderStatus(
            state="done", progress=1.0, output_key=f"renders/{job.id}.mp4", output_size=1234,
            cost=0.0012))

        assert await _costs(db, job.id) == [(1, "failed", 0.0009), (2, "done", 0.0012)]
        async with db.transaction() as s:
            row = await s.get(RenderJob, job.id)
            row.backend = "lambda"  # what the lambda backend records (instant stood in)
        async with db.transaction() as s:
            assert (await s.get(RenderJob, job.id)).status == "completed"
            report = await admin.health(session=s, window_key="15m")
        cost = report.lambda_cost
        assert (cost.jobs, cost.attempts, cost.credits_charged) == (1, 2, 1)
        assert cost.cost_reported == pytest.approx(0.0012)  # the delivered attempt only
        assert cost.total_cost == pytest.approx(0.0021)  # what Lambda cost
        assert cost.cost_per_credit == pytest.approx(0.0021)
    finally:
        await rt.close()
    # ... and the dashboard shows that total beside the credits charged
    shown = metrics(run(app_test()))
    assert shown["Lambda cost (all attempts)"] == fmt.usd(0.0021)
    assert shown["Credits charged (Lambda)"] == "1"
    assert shown["Lambda cost reported"] == fmt.usd(0.0012)
