"""The lambda backend end to end against Remotion's REAL function code (issue 15).

Remotion's deployed artefact runs unpatched in the harness of ``tests/lambda_real``
(Lambda emulator, one mount namespace per invocation, sites deployed with Remotion's own
``deploySite()`` into the "AWS S3" moto server); the video goes to "R2" (``moto_s3``).
Renders are tiny: 320x180, 1 s, 30 frames. Faults of the platform (429, a slow cold
start) are injected by the emulator; failures of the composition come from the test-only
Remotion entry (``tests/fixtures/faults.py``).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import select

from core import admin, renders
from core.backends.lambda_ import LambdaBackend
from core.lambda_webhook import verify_signature
from core.models import CreditEntry, LambdaAttemptCost, RenderJob
from core.runtime import Runtime
from tests.fixtures.faults import crash_props, flaky_props
from tests.fixtures.lambda_real import TESTING_SITE, WEBHOOK_SECRET, make_real_settings
from tests.fixtures.lambda_standin import lambda_stack
from tests.fixtures.pipeline import FAST_WORKER, wait_for
from tests.lambda_real.harness import OTHER_VERSION
from tests.pipeline.test_local_pipeline import _submit, probe, video_stream


@pytest.fixture
def database_url(pg_url) -> str:
    """PostgreSQL, as production: each real render runs once, not once per database."""
    return pg_url


CLIP = {"resolution": "320x180", "frame_rate": 30, "duration": 1, "quality": "low"}


async def _entries(db, job_id: str) -> list[str]:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(CreditEntry.kind).where(CreditEntry.job_id == job_id).order_by(CreditEntry.id))
        return list(rows)


async def _row(db, job_id: str) -> RenderJob:
    async with db.transaction() as s:
        return await s.get(RenderJob, job_id)


async def _costs_of(db, job_id: str) -> list[LambdaAttemptCost]:
    async with db.transaction() as s:
        return list((await s.scalars(select(LambdaAttemptCost).where(
            LambdaAttemptCost.job_id == job_id).order_by(LambdaAttemptCost.attempt))).all())


async def _run(db, settings, factory, *, props=None, within=180, seen=None):
    account = await factory.account(credits_=5)
    project = await factory.project(account, state={"props": props} if props else None)
    with lambda_stack(settings):
        job = await _submit(db, settings, account, project, CLIP)
        done = await wait_for(db, job.id, within=within, seen=seen)
    return account, job, done


async def test_done_the_mp4_is_in_r2_and_the_webhook_is_valid(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket, receiver
):
    """The webhook goes to a recorder (the poll completes the job); it is then replayed
    to the API, which accepts its signature."""
    harness = real_lambda_env
    settings = make_real_settings(
        tmp_path, database_url, harness=harness, r2=moto_s3, bucket=s3_bucket,
        remotion={**harness_remotion(), "webhook_url": receiver.url})
    began = time.monotonic()
    seen: list = []
    account, job, done = await _run(db, settings, factory, seen=seen)
    seconds = time.monotonic() - began

    assert done.status == "completed", done.error
    assert done.attempts == 1 and done.progress == 100
    progress = [j.progress for j in seen]
    assert progress == sorted(progress), progress
    async with db.transaction() as s:
        events = await renders.events(session=s, job_id=job.id)
    assert [e.state for e in events if e.kind == "state"] == ["queued", "processing", "completed"]
    key = f"renders/{job.id}.mp4"
    head = moto_s3.client().head_object(Bucket=s3_bucket, Key=key)
    path = tmp_path / "out.mp4"
    path.write_bytes(moto_s3.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    video = video_stream(probe(path))
    assert (video["width"], video["height"], int(video["nb_read_frames"])) == (320, 180, 30)
    row = await _row(db, job.id)
    assert row.output_size == head["ContentLength"] and row.cost_reported > 0
    render_id = row.backend_info["lambda_render_id"]
    routines = [i.routine for i in harness.emulator.invocations]
    assert {"start", "launch", "renderer", "status"} <= set(routines)
    # Remotion wrote nothing of the video to its own bucket ("AWS S3"): R2 only
    aws_keys = [o["Key"] for o in moto_s3_aws(harness).list_objects_v2(
        Bucket=harness.bucket, Prefix=f"renders/{render_id}/").get("Contents", [])]
    assert not [k for k in aws_keys if k.endswith(".mp4")], aws_keys
    # the webhook Remotion sent: signed with our secret, ASCII, about this attempt
    sent = await receiver.wait_for(lambda seen: bool(seen), within=30)
    hook = sent[0]
    assert hook.body.isascii()
    assert verify_signature(WEBHOOK_SECRET, hook.body, hook.headers["x-remotion-signature"])
    assert hook.json["type"] == "success" and hook.json["renderId"] == render_id
    assert hook.json["customData"] == {"job_id": job.id, "attempt": 1}
    api = LiveServerFor(settings)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(api.url + "/webhooks/remotion", content=hook.body, headers={
                "Content-Type": "application/json",
                "X-Remotion-Signature": hook.headers["x-remotion-signature"]})
    finally:
        api.stop()
    assert answer.status_code == 200 and answer.json()["action"] == "ignored"
    assert await _entries(db, job.id) == ["debit"]
    print(f"real function: job done in {seconds:.1f} s; harness start-up "
          f"{harness.startup_seconds}")


def harness_remotion() -> dict:
    from tests.fixtures.lambda_real import REAL_REMOTION

    return REAL_REMOTION.model_dump()


def LiveServerFor(settings):  # noqa: N802 - reads like the class it starts
    from tests.fixtures.api import LiveServer

    return LiveServer(settings).start()


async def test_an_unknown_render_id_is_lost(
    tmp_path, sqlite_url, real_lambda_env, moto_s3, s3_bucket
):
    harness = real_lambda_env
    settings = make_real_settings(tmp_path, sqlite_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket)
    rt = Runtime(settings)
    try:
        backend: LambdaBackend = rt.backend
        status = await backend.status(f"{harness.bucket}/zzzzzzzzzz")
    finally:
        await rt.close()
    assert status.state == "lost" and status.retryable
    answered = harness.emulator.of("status")[-1]
    assert answered.error == "Unhandled"
    assert b"The specified key does not exist." in answered.output


async def test_a_timeout_fails_the_job_with_a_timeout_reason_never_cancelled(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    """A function deployed with a 20 s timeout whose renderers start 25 s late (a slow
    cold start): Remotion's launch writes cancel.json itself before its timeout."""
    harness = real_lambda_env
    name = harness.add_function(timeout=20)
    harness.emulator.faults.delay["renderer"] = 25
    settings = make_real_settings(
        tmp_path, database_url, harness=harness, r2=moto_s3, bucket=s3_bucket,
        remotion_function_name=name,
        remotion={**harness_remotion(), "function_timeout_seconds": 20})
    account, job, done = await _run(db, settings, factory, within=240)

    assert done.status == "failed", done.error  # never "cancelled": nobody asked
    assert done.error == "the render took too long and was stopped; your credits were refunded"
    row = await _row(db, job.id)
    assert "timed out on Remotion Lambda" in row.error_detail  # the admins' detail
    assert done.attempts == 1
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5


async def test_a_crashing_composition_fails_once_and_is_not_retried(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    harness = real_lambda_env
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket, site=TESTING_SITE)
    account, job, done = await _run(db, settings, factory,
                                    props=crash_props("boom in the test composition"))

    assert done.status == "failed"
    assert done.error == ("the composition failed: boom in the test composition; your "
                          "credits were refunded")
    assert "\n" not in done.error and len(done.error) <= 300
    assert done.attempts == 1 and len(harness.emulator.of("start")) == 1
    assert await _entries(db, job.id) == ["debit", "refund"]


async def test_cancel_mid_render_cancels_the_job_and_refunds(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    harness = real_lambda_env
    harness.emulator.faults.delay["renderer"] = 6  # keep the render in flight
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket)
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    with lambda_stack(settings):
        job = await _submit(db, settings, account, project, CLIP)
        await wait_for(db, job.id, statuses=("processing",), within=60)
        deadline = time.monotonic() + 60
        while not (harness.emulator.of("launch") and await _costs_of(db, job.id)):
            assert time.monotonic() < deadline  # launched, and polled at least once
            await asyncio.sleep(0.1)
        async with db.transaction() as s:
            await renders.cancel(session=s, account_id=account, job_id=job.id)
        done = await wait_for(db, job.id, within=60)

    assert done.status == "cancelled"
    row = await _row(db, job.id)
    render_id = row.backend_info["lambda_render_id"]
    keys = [o["Key"] for o in moto_s3_aws(harness).list_objects_v2(
        Bucket=harness.bucket, Prefix=f"renders/{render_id}/").get("Contents", [])]
    assert f"renders/{render_id}/cancel.json" in keys
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
    # the cancelled attempt's reported cost is kept (as of its last poll)
    costs = await _costs_of(db, job.id)
    assert [(c.attempt, c.render_id) for c in costs] == [(1, render_id)]
    assert costs[0].cost_usd >= 0


def moto_s3_aws(harness):
    from tests.fixtures.moto_server import MotoS3

    return MotoS3(endpoint_url=harness.aws_s3_endpoint).client()


async def test_a_throttled_renderer_is_retried_as_a_new_attempt(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    """One 429 on a renderer invocation fails Remotion's whole render ("AWS Concurrency
    limit reached"; its JS client does not retry): a new attempt of ours, which renders."""
    harness = real_lambda_env
    harness.emulator.faults.throttle["renderer"] = 1
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket)
    account, job, done = await _run(db, settings, factory, within=240)

    assert done.status == "completed", done.error
    assert done.attempts == 2
    assert len(harness.emulator.of("start")) == 2
    assert await _entries(db, job.id) == ["debit"]
    # both attempts' reported costs are kept, and the dashboard's Lambda cost adds them
    async with db.transaction() as s:
        costs = (await s.scalars(select(LambdaAttemptCost).where(
            LambdaAttemptCost.job_id == job.id).order_by(LambdaAttemptCost.attempt))).all()
        report = await admin.health(session=s, window_key="15m")
    assert [(c.attempt, c.state) for c in costs] == [(1, "failed"), (2, "done")]
    # the first attempt's first renderer was the one throttled (by its render id: a
    # renderer the previous test's cancelled render still invoked may be recorded too)
    first = [i.http_status for i in harness.emulator.of("renderer")
             if i.payload.get("renderId") == costs[0].render_id]
    assert first[:1] == [429]
    # what Remotion reported: the throttled attempt failed before any frame was rendered
    assert costs[0].cost_usd >= 0 and costs[1].cost_usd > 0
    row = await _row(db, job.id)
    assert row.cost_reported == costs[1].cost_usd
    assert report.lambda_cost.attempts == 2 and report.lambda_cost.jobs == 1
    assert report.lambda_cost.total_cost == pytest.approx(sum(c.cost_usd for c in costs))
    assert report.lambda_cost.cost_reported == pytest.approx(costs[1].cost_usd)


async def test_a_function_of_another_remotion_version_fails_clearly(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    """The function is Remotion's bundle with its version strings set to an older one
    (what a function deployed from an older @remotion/lambda reports)."""
    harness = real_lambda_env
    name = harness.add_function(timeout=120, version=OTHER_VERSION)
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket, remotion_function_name=name)
    account, job, done = await _run(db, settings, factory)

    assert done.status == "failed" and done.attempts == 1
    assert done.error == "the cloud renderer failed; your credits were refunded"
    detail = (await _row(db, job.id)).error_detail  # what an admin must do about it
    assert "not version 4.0.527 (it is 4.0.0)" in detail and "deploy:lambda" in detail
    assert len(detail) <= 300 and "\n" not in detail
    assert await _entries(db, job.id) == ["debit", "refund"]


async def test_a_start_throttled_twice_is_absorbed_by_botocore_within_one_attempt(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    harness = real_lambda_env
    harness.emulator.faults.throttle["start"] = 2
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket,
                                  remotion={**harness_remotion(), "invoke_max_attempts": 4})
    account, job, done = await _run(db, settings, factory)

    assert done.status == "completed", done.error
    assert done.attempts == 1
    assert [i.http_status for i in harness.emulator.of("start")] == [429, 429, 200]
    assert await _entries(db, job.id) == ["debit"]


async def test_a_crashed_browser_in_the_main_function_is_retried_then_given_up(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    """The test entry's "flaky:" title throws "Protocol error: Target closed" from
    calculateMetadata, so the real function fails in ``launch`` (a ``stitcher`` error, not a
    chunk Remotion would retry): a new attempt of ours each time, at most max_attempts."""
    harness = real_lambda_env
    settings = make_real_settings(tmp_path, database_url, harness=harness, r2=moto_s3,
                                  bucket=s3_bucket, site=TESTING_SITE,
                                  worker=FAST_WORKER.model_copy(update={"max_attempts": 2}))
    account, job, done = await _run(db, settings, factory, props=flaky_props("test fault"))

    assert done.status == "failed"
    assert done.error == ("the renderer could not start or crashed (tried 2 times); your "
                          "credits were refunded")
    assert "Target closed (test fault)" in (await _row(db, job.id)).error_detail
    assert done.attempts == 2 and len(harness.emulator.of("start")) == 2
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert len(done.error) <= 300 and "\n" not in done.error
