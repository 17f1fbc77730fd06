"""Failures, retries and cancels in the real pipeline (in-process worker, real renders)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core import credits, renders
from core.models import CreditEntry, RenderJob
from tests.core.test_job_errors import clean
from tests.fixtures.faults import crash_props
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit


async def _detail(db, job_id: str) -> str:
    async with db.transaction() as s:
        return await s.scalar(select(RenderJob.error_detail).where(RenderJob.id == job_id))


async def _entries(db, job_id: str) -> list[str]:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(CreditEntry.kind).where(CreditEntry.job_id == job_id).order_by(CreditEntry.id)
        )
        return list(rows)


async def test_composition_error_fails_the_job_with_its_message_and_one_refund(
    db, pipeline_settings, factory, worker
):
    account = await factory.account(credits_=5)
    project = await factory.project(account, state={"props": crash_props("boom at frame 0")})
    job = await _submit(db, pipeline_settings, account, project, TINY)

    done = await wait_for(db, job.id)

    assert done.status == "failed"
    assert "composition failed" in done.error and "boom at frame 0" in done.error
    clean(done.error)  # one line, no stack, no path, no host
    detail = await _detail(db, job.id)
    assert "boom at frame 0" in detail and len(detail) > len(done.error)
    assert done.attempts == 1  # permanent: not retried
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5


async def test_transient_failure_is_retried_and_completes_with_one_debit(
    db, pipeline_settings, factory, flaky_worker
):
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, pipeline_settings, account, project, TINY)

    done = await wait_for(db, job.id)

    assert done.status == "completed", done.error
    assert done.attempts == 2
    assert await _entries(db, job.id) == ["debit"]
    assert await factory.balance(account) == 4
    async with db.transaction() as s:
        kinds = [e.kind for e in await renders.events(session=s, job_id=job.id)]
    assert kinds.count("attempt") == 2 and kinds.count("error") == 1


async def test_cancel_while_queued_refunds_and_never_renders(db, pipeline_settings, factory):
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, pipeline_settings, account, project, TINY, enqueue=lambda _: None)
    async with db.transaction() as s:
        cancelled = await renders.cancel(session=s, account_id=account, job_id=job.id)
    assert cancelled.status == "cancelled"
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert cancelled.started_at is None and cancelled.attempts == 0


async def test_cancel_while_rendering_stops_the_render_and_refunds(
    db, pipeline_settings, factory, worker
):
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    body = {**TINY, "duration": 20, "frame_rate": 24}  # long enough to catch it mid-render
    job = await _submit(db, pipeline_settings, account, project, body)
    seen = []
    running = await wait_for(db, job.id, statuses=("processing",), seen=seen)
    while running.progress < 3:
        running = await wait_for(db, job.id, statuses=("processing", "completed"))
        await asyncio.sleep(0.1)
    async with db.transaction() as s:
        requested = await renders.cancel(session=s, account_id=account, job_id=job.id)
    assert requested.status == "processing" and requested.cancel_requested

    done = await wait_for(db, job.id, within=30)

    assert done.status == "cancelled"
    assert await _entries(db, job.id) == ["debit", "refund"]
    status = await worker.rt.backend.server.status(f"{job.id}-a1")
    assert status is not None and status.state == "cancelled"
    assert not (pipeline_settings.var_dir / "renders" / f"{job.id}-a1.mp4").exists()


async def test_attempts_are_bounded_then_the_job_fails_and_is_refunded(
    db, pipeline_settings, factory, tmp_path, database_url, render_server_dir
):
    """A renderer that cannot be reached at all: bounded retries, then failed + refund."""
    from core.runtime import Runtime
    from jobs.worker import RenderWorker
    from tests.fixtures.pipeline import make_settings

    broken = make_settings(tmp_path, database_url, tmp_path / "nowhere",
                           remotion_dir=tmp_path / "no-remotion")
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    worker = RenderWorker(Runtime(broken), threads=2).start()
    try:
        job = await _submit(db, broken, account, project, TINY)
        done = await wait_for(db, job.id, within=60)
    finally:
        worker.stop()
    assert done.status == "failed"
    assert done.attempts == broken.worker.max_attempts
    assert "could not start" in done.error and "tried 3 times" in done.error
    assert "npm ci" in await _detail(db, job.id)  # the admins see what to do
    async with db.transaction() as s:
        refunds = await s.scalar(select(func.count()).select_from(CreditEntry).where(
            CreditEntry.job_id == job.id, CreditEntry.kind == "refund"))
        assert await credits.is_refunded(session=s, job_id=job.id)
    assert refunds == 1


async def test_an_admin_cancel_of_a_queued_job_reaches_the_workers_notifiers(
    db, pipeline_settings, factory, worker
):
    from core import admin
    from jobs.enqueue import announcer_for

    heard: list[tuple[str, str]] = []

    class Recorder:
        async def job_changed(self, job, change):
            heard.append((job.id, change))

    worker.rt.notifiers.add(Recorder())
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, pipeline_settings, account, project, TINY, enqueue=lambda _: None)
    async with db.transaction() as s:
        await admin.admins.create(session=s, name="ops", role="operator")  # only operators act
        await admin.cancel_job(session=s, job_id=job.id, admin="ops",
                               announce=announcer_for(pipeline_settings))
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.1)
    assert heard == [(job.id, "cancelled")]
