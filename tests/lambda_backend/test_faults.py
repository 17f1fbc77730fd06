"""Faults on Remotion Lambda that Remotion's real function cannot produce on demand,
injected by the stand-in (``tests/lambda_standin``), through the whole pipeline.

Every other fault runs against the real function: ``test_real_function.py``."""

from __future__ import annotations

from sqlalchemy import select

from core.models import CreditEntry, RenderJob
from core.settings import RemotionSettings
from tests.fixtures.lambda_standin import lambda_stack, make_lambda_settings
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit


async def _entries(db, job_id: str) -> list[str]:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(CreditEntry.kind).where(CreditEntry.job_id == job_id).order_by(CreditEntry.id)
        )
        return list(rows)


async def _detail(db, job_id: str) -> str:
    async with db.transaction() as s:
        return (await s.get(RenderJob, job_id)).error_detail


async def _run(db, settings, factory, *, state=None, body=None):
    account = await factory.account(credits_=5)
    project = await factory.project(account, state=state)
    job = await _submit(db, settings, account, project, body or TINY)
    return account, job, await wait_for(db, job.id, within=120)


async def test_a_flaky_chunk_is_retried_by_remotion_and_the_job_completes(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    """Stand-in: a browser crash in ONE try of a chunk, then success. The real function
    only fails a chunk every time (the test entry's "flaky:" title, in
    test_real_function.py); it cannot crash once on purpose."""
    lambda_standin.faults.flaky_chunks = 1
    account, job, done = await _run(db, lambda_settings, factory)

    assert done.status == "completed", done.error
    assert done.attempts == 1  # Remotion's chunk retry, not a new attempt of ours
    render = lambda_standin.only_render()
    assert len(render.local_ids) == 2  # the chunk really was rendered again
    errors = lambda_standin.read_progress(render.render_id, render.bucket)["errors"]
    assert [(e["message"], e["willRetry"], e["isFatal"]) for e in errors] == [
        ("Target closed.", True, False)]
    assert len(lambda_standin.invocations_of("start")) == 1
    assert await _entries(db, job.id) == ["debit"]


async def test_a_chunk_failing_past_remotions_retries_fails_once_without_our_retry(
    db, tmp_path, database_url, factory, lambda_standin, moto_s3, s3_bucket
):
    """One layer: the chunk was retried by Remotion (maxRetries=1); we don't start the whole
    render again on top. Stand-in: the real function cannot fail one chunk on demand (the
    test entry's faults fail in calculateMetadata, i.e. in launch, or in every chunk's
    component as a permanent error)."""
    settings = make_lambda_settings(tmp_path, database_url, standin=lambda_standin, r2=moto_s3,
                                    bucket=s3_bucket, remotion=RemotionSettings(chunk_max_retries=1))
    lambda_standin.faults.flaky_chunks = 2
    with lambda_stack(settings):
        account, job, done = await _run(db, settings, factory)
    assert done.status == "failed"
    assert done.attempts == 1 and len(lambda_standin.invocations_of("start")) == 1
    assert done.error == ("the renderer could not start or crashed; your credits were "
                          "refunded")  # the creator's words (core.job_errors)
    detail = await _detail(db, job.id)  # the admins'
    assert "kept failing after 2 tries" in detail and "Target closed" in detail
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
