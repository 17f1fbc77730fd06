"""Faults on Remotion Lambda, injected by the stand-in, through the whole pipeline."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from core import renders
from core.models import CreditEntry
from core.settings import RemotionSettings
from tests.fixtures.faults import crash_props
from tests.fixtures.lambda_standin import lambda_stack, make_lambda_settings
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit


async def _entries(db, job_id: str) -> list[str]:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(CreditEntry.kind).where(CreditEntry.job_id == job_id).order_by(CreditEntry.id)
        )
        return list(rows)


async def _run(db, settings, factory, *, state=None, body=None):
    account = await factory.account(credits_=5)
    project = await factory.project(account, state=state)
    job = await _submit(db, settings, account, project, body or TINY)
    return account, job, await wait_for(db, job.id, within=120)


async def test_throttled_twice_then_accepted_completes_with_one_debit(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    lambda_standin.faults.throttle = 2
    account, job, done = await _run(db, lambda_settings, factory)

    assert done.status == "completed", done.error
    assert done.attempts == 1  # botocore absorbed the 429s inside one start call
    assert [i.status for i in lambda_standin.invocations_of("start")] == [429, 429, 200]
    assert await _entries(db, job.id) == ["debit"]
    assert await factory.balance(account) == 4


async def test_a_flaky_chunk_is_retried_by_remotion_and_the_job_completes(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
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
    render again on top."""
    settings = make_lambda_settings(tmp_path, database_url, standin=lambda_standin, r2=moto_s3,
                                    bucket=s3_bucket, remotion=RemotionSettings(chunk_max_retries=1))
    lambda_standin.faults.flaky_chunks = 2
    with lambda_stack(settings):
        account, job, done = await _run(db, settings, factory)
    assert done.status == "failed"
    assert done.attempts == 1 and len(lambda_standin.invocations_of("start")) == 1
    assert "kept failing after 2 tries" in done.error and "Target closed" in done.error
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5


async def test_a_composition_error_fails_the_job_with_a_readable_error_and_one_refund(
    db, lambda_settings, factory, lambda_worker, lambda_standin, moto_s3, s3_bucket
):
    account, job, done = await _run(
        db, lambda_settings, factory, state={"props": crash_props("boom in the test composition")})

    assert done.status == "failed"
    assert done.error.startswith("the composition failed: ")  # same words as the local backend
    assert "boom in the test composition" in done.error
    assert "\n" not in done.error and " at " not in done.error
    assert done.attempts == 1  # permanent: not retried
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
    assert lambda_standin.only_render().state == "failed"
    listed = moto_s3.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0)
    assert listed == 0


async def test_an_injected_fatal_error_is_permanent_too(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    lambda_standin.faults.fatal = "TypeError: Cannot read properties of undefined (reading 'x')"
    account, job, done = await _run(db, lambda_settings, factory)
    assert done.status == "failed" and done.attempts == 1
    assert done.error == ("the composition failed: TypeError: Cannot read properties of "
                          "undefined (reading 'x')")
    assert await _entries(db, job.id) == ["debit", "refund"]


@pytest.mark.parametrize("lambda_standin", [{"function_timeout": 2.0, "timeout_grace": 0.5}],
                         indirect=True)
async def test_a_lambda_timeout_fails_the_job_and_refunds(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    lambda_standin.faults.timeout = True
    account, job, done = await _run(db, lambda_settings, factory)

    assert done.status == "failed"
    assert "timed out" in done.error
    assert done.attempts == 1
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
    assert lambda_standin.only_render().state == "timeout"


async def test_cancel_mid_render_reaches_the_function_and_cancels_the_job(
    db, lambda_settings, factory, lambda_worker, lambda_standin, moto_s3, s3_bucket
):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    body = {**TINY, "duration": 10, "frame_rate": 24}  # long enough to catch it mid-render
    job = await _submit(db, lambda_settings, account, project, body)
    running = await wait_for(db, job.id, statuses=("processing",), within=60)
    deadline = time.monotonic() + 60
    while running.progress < 25:  # frames are being rendered (evaluation + invoking = 20 %)
        assert time.monotonic() < deadline, running.progress
        await asyncio.sleep(0.1)
        running = await wait_for(db, job.id, statuses=("processing", "completed", "failed"))
    assert running.status == "processing"
    async with db.transaction() as s:
        requested = await renders.cancel(session=s, account_id=account, job_id=job.id)
    assert requested.status == "processing" and requested.cancel_requested

    done = await wait_for(db, job.id, within=30)

    assert done.status == "cancelled"
    render = lambda_standin.only_render()
    await asyncio.to_thread(lambda_standin.wait_for, lambda: render.cancel_seen, 30)
    # the SDK wrote the cancel object into Remotion's own bucket (on AWS S3)
    keys = [o["Key"] for o in lambda_standin.aws_s3().list_objects_v2(
        Bucket=render.bucket, Prefix=f"renders/{render.render_id}/").get("Contents", [])]
    assert f"renders/{render.render_id}/cancel.json" in keys
    await asyncio.to_thread(lambda_standin.wait_for, lambda: render.state == "cancelled", 30)
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 10
    assert moto_s3.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
