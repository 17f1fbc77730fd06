"""The ``lambda`` backend in the pipeline on the stand-in (``tests/lambda_standin``):
switching backends, and the capacity governor (two renders at once: cheaper on the
stand-in, and about our admission, not Remotion's code).

A render on Remotion's REAL function (mp4 in "R2", webhook, faults) is in
``test_real_function.py``."""

from __future__ import annotations

import asyncio
import time

import pytest

from core import renders
from core.models import RenderJob
from core.render_settings import RenderSettings
from core.runtime import Runtime
from core.settings import RemotionSettings
from tests.fixtures.lambda_standin import lambda_stack, make_lambda_settings
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit


class Recorder:
    """A notifier adapter: the changes the worker announced, per job."""

    def __init__(self) -> None:
        self.changes: dict[str, list[str]] = {}

    async def job_changed(self, job, change) -> None:
        self.changes.setdefault(job.id, []).append(change)


async def wait_for_announcement(recorder: Recorder, job_id: str, within: float = 10.0) -> None:
    """Until the worker's notifiers were told the job completed: they hear it after the
    commit (from the worker's own step, or from the webhook's announcement message)."""
    deadline = time.monotonic() + within
    while "completed" not in recorder.changes.get(job_id, []):
        assert time.monotonic() < deadline, recorder.changes.get(job_id)
        await asyncio.sleep(0.05)


async def _job_row(db, job_id: str) -> RenderJob:
    async with db.transaction() as s:
        return await s.get(RenderJob, job_id)


@pytest.mark.parametrize("backend", ["local", "lambda"])
async def test_switching_the_backend_changes_nothing_else(
    backend, db, tmp_path, database_url, factory, lambda_standin, moto_s3, s3_bucket,
    render_server_dir, monkeypatch,
):
    """Same settings, same service, actors, storage and notifier: only
    RENDERBOT_RENDER_BACKEND differs, and the job goes through the same states."""
    monkeypatch.setenv("RENDERBOT_RENDER_BACKEND", backend)
    settings = make_lambda_settings(
        tmp_path, database_url, standin=lambda_standin, r2=moto_s3, bucket=s3_bucket,
        render_backend=None, render_server_dir=render_server_dir,
    )
    assert settings.render_backend == backend
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    recorder = Recorder()
    with lambda_stack(settings) as worker:
        worker.rt.notifiers.add(recorder)
        assert worker.rt.backend.name == backend
        job = await _submit(db, settings, account, project, TINY)
        done = await wait_for(db, job.id, within=120)
        # the in-process worker drops its queued messages when it stops: hear the end first
        await wait_for_announcement(recorder, job.id)
    assert done.status == "completed", done.error
    changes = recorder.changes[job.id]
    assert changes[0] == "processing" and changes[-1] == "completed"
    assert set(changes[1:-1]) <= {"progress"}
    async with db.transaction() as s:
        events = await renders.events(session=s, job_id=job.id)
    assert [e.state for e in events if e.kind == "state"] == ["queued", "processing", "completed"]
    # the video is in the same bucket at the same key either way
    head = moto_s3.client().head_object(Bucket=s3_bucket, Key=f"renders/{job.id}.mp4")
    assert head["ContentLength"] > 1000
    row = await _job_row(db, job.id)
    assert (row.output_key, row.output_bucket, row.output_size) == (
        f"renders/{job.id}.mp4", None, head["ContentLength"])
    assert len(lambda_standin.renders) == (1 if backend == "lambda" else 0)


async def test_jobs_wait_queued_for_lambda_capacity_instead_of_failing(
    db, tmp_path, database_url, factory, lambda_standin, moto_s3, s3_bucket
):
    """A 1 s clip needs 2 functions (1 renderer + main): with a limit of 3 only one runs at
    a time; the other stays queued (position shown), then runs. Nothing fails."""
    settings = make_lambda_settings(
        tmp_path, database_url, standin=lambda_standin, r2=moto_s3, bucket=s3_bucket,
        remotion=RemotionSettings(concurrency_limit=3, governor_wait_seconds=0.3),
    )
    backend = Runtime(settings).backend
    clip = RenderSettings(resolution=(320, 180), frame_rate=30, duration=2, quality="low",
                          effects=())
    assert backend.capacity_units(clip) == 2
    backend.sdk.close()
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    body = {**TINY, "duration": 2}
    with lambda_stack(settings):
        first = await _submit(db, settings, account, project, body)
        await wait_for(db, first.id, statuses=("processing",), within=30)
        second = await _submit(db, settings, account, project, body)
        waiting = []
        deadline = time.monotonic() + 60
        while True:
            async with db.transaction() as s:
                a = await renders.get(session=s, account_id=None, job_id=first.id)
                b = await renders.get(session=s, account_id=None, job_id=second.id)
            if a.status == "processing":
                assert b.status == "queued", "both run at once: the limit was ignored"
                waiting.append(b)
            if a.status == "completed" and b.status == "completed":
                break
            assert time.monotonic() < deadline, (a.status, b.status)
            await asyncio.sleep(0.1)
    assert waiting, "the first job never overlapped the second one's wait"
    assert {j.queue_position for j in waiting} == {1}
    assert all(j.status == "queued" and j.attempts == 0 for j in waiting)
    row = await _job_row(db, second.id)
    assert row.attempts == 1 and "waiting_for_capacity" not in row.backend_info
    assert b.started_at >= a.finished_at
    assert await factory.balance(account) == 3  # two debits, no refunds


async def test_a_job_waiting_for_capacity_is_left_to_its_own_schedule_by_the_reconciler(
    db, tmp_path, database_url, factory, lambda_standin, moto_s3, s3_bucket
):
    from core import pipeline
    from core.render import governor

    settings = make_lambda_settings(
        tmp_path, database_url, standin=lambda_standin, r2=moto_s3, bucket=s3_bucket,
        remotion=RemotionSettings(concurrency_limit=2),
    )
    rt = Runtime(settings)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        a = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        b = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        async with rt.db.transaction() as s:  # a runs (2 of 2 functions)
            row = await s.get(RenderJob, a.id)
            row.status, row.backend_info = "processing", {governor.UNITS_KEY: 2}
        step = await pipeline.start(rt, b.id)
        assert (step.action, step.job_id, step.delay) == (
            "start", b.id, settings.remotion.governor_wait_seconds)
        row = await _job_row(db, b.id)
        assert row.status == "queued" and row.attempts == 0
        assert row.backend_info["waiting_for_capacity"] == {
            "needed": 2, "in_use": 2, "ahead": 0, "limit": 2}
        # a second message for the same waiting job drops out
        assert (await pipeline.start(rt, b.id)).action == "none"
        # the reconciler leaves it alone (its next look is scheduled) ...
        async with rt.db.transaction() as s:
            row = await s.get(RenderJob, b.id)
            row.queued_at = row.queued_at.replace(year=2000)
        assert b.id not in [st.job_id for st in await pipeline.reconcile(rt)]
        # ... until that lease runs out (a lost message)
        async with rt.db.transaction() as s:
            row = await s.get(RenderJob, b.id)
            row.lease_expires_at = row.lease_expires_at.replace(year=2000)
        assert b.id in [st.job_id for st in await pipeline.reconcile(rt)]
    finally:
        await rt.close()
