"""A queued job whose start always raises cannot loop forever: each time its start
message spends its retries (Dramatiq's Retries middleware calls ``start_gave_up``), it
counts, and past ``worker.max_reconciles`` the job fails with one refund. The row here
holds settings this version cannot read (a corrupted or foreign row)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from core import pipeline
from core.models import CreditEntry, RenderJob
from core.runtime import Runtime
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit

UNREADABLE = {"resolution": "eight-k", "frame_rate": "fast"}


async def _unreadable_job(db, settings, factory):
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
    async with db.transaction() as s:
        await s.execute(update(RenderJob).where(RenderJob.id == job.id)
                        .values(settings=UNREADABLE))
    return job


async def _row(db, job_id):
    async with db.transaction() as s:
        return await s.get(RenderJob, job_id)


async def test_a_start_that_always_raises_ends_failed_and_refunded_once(
    db, pipeline_settings, factory
):
    rt = Runtime(pipeline_settings)
    try:
        job = await _unreadable_job(db, pipeline_settings, factory)
        with pytest.raises(Exception):  # noqa: B017 - whatever reading the row raises
            await pipeline.start(rt, job.id)
        bound = pipeline_settings.worker.max_reconciles
        for n in range(1, bound + 1):
            await pipeline.start_gave_up(rt, job.id, "ValidationError: resolution")
            row = await _row(db, job.id)
            assert row.status == "queued" and row.backend_info["start_failures"] == n
        await pipeline.start_gave_up(rt, job.id, "ValidationError: resolution")
        row = await _row(db, job.id)
        assert row.status == "failed"
        assert "ValidationError" not in row.error and "Traceback" not in row.error
        assert "ValidationError" in str(row.error_detail)  # the cause is for admins
        await pipeline.start_gave_up(rt, job.id, "again")  # a late duplicate: nothing
        async with db.transaction() as s:
            kinds = list(await s.scalars(select(CreditEntry.kind)
                                         .where(CreditEntry.job_id == job.id)
                                         .order_by(CreditEntry.id)))
        assert kinds.count("refund") == 1 and len(kinds) == 2, kinds
    finally:
        await rt.close()


async def test_the_worker_counts_a_start_message_whose_retries_are_spent(
    db, pipeline_settings, factory, worker
):
    """Through the in-process worker and Dramatiq's own Retries middleware: a start
    message allowed no retry fails once and reaches ``start_gave_up``."""
    from jobs.actors import start_render

    job = await _unreadable_job(db, pipeline_settings, factory)
    start_render.send_with_options(args=(job.id, 0), max_retries=0)
    for _ in range(200):
        row = await _row(db, job.id)
        if row.backend_info.get("start_failures"):
            break
        await asyncio.sleep(0.1)
    assert row.backend_info.get("start_failures", 0) >= 1
    assert row.status == "queued"
