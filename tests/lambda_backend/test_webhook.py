"""``POST /webhooks/remotion`` on the real API app: signature, idempotency, and the race
with polling (webhook first, poll first)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select

from core import lambda_webhook, renders
from core.models import CreditEntry, JobEvent, RenderJob
from tests.fixtures.lambda_standin import WEBHOOK_SECRET
from tests.fixtures.pipeline import TINY, wait_for
from tests.lambda_backend.test_e2e import Recorder, wait_for_announcement
from tests.lambda_standin import webhook_signature
from tests.pipeline.test_local_pipeline import _submit

RENDER_ID = "k3x9qa7b2m"


async def _processing_job(db, settings, factory, render_id: str = RENDER_ID):
    """A job whose first attempt is rendering on Lambda as ``render_id``."""
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
    async with db.transaction() as s:
        row, _ = await renders.start_attempt(session=s, job_id=job.id, after_attempt=0,
                                             lease_seconds=600, max_attempts=3)
        row.backend_ref = f"remotionlambda-useast1-abc/{render_id}"
        row.backend_info = {**row.backend_info, "lambda_render_id": render_id}
        row.output_key = f"renders/{job.id}.mp4"
    return account, job.id


def _body(job_id: str, kind: str = "success", attempt: int = 1, render_id: str = RENDER_ID,
          **extra) -> bytes:
    payload = {"type": kind, "renderId": render_id, "bucketName": "remotionlambda-useast1-abc",
               "expectedBucketOwner": "123456789012",
               "customData": {"job_id": job_id, "attempt": attempt}, **extra}
    if kind == "success":
        payload.setdefault("outputUrl", "https://r2.example/out.mp4")
        payload.setdefault("outputFile", "https://r2.example/out.mp4")
        payload.setdefault("lambdaErrors", [])
        payload.setdefault("timeToFinish", 4200)
        payload.setdefault("costs", {"estimatedCost": 0.0123, "estimatedDisplayCost": "$0.012",
                                     "currency": "USD", "disclaimer": "."})
    return json.dumps(payload, separators=(",", ":")).encode()


async def _post(api, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Remotion-Status": "success",
               "X-Remotion-Mode": "production"}
    if signature is not None:
        headers["X-Remotion-Signature"] = signature
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        return await client.post("/webhooks/remotion", content=body, headers=headers)


async def _snapshot(db, job_id: str) -> tuple:
    async with db.transaction() as s:
        job = await s.get(RenderJob, job_id)
        events = await s.scalar(select(func.count()).select_from(JobEvent)
                                .where(JobEvent.job_id == job_id))
        entries = list(await s.scalars(select(CreditEntry.kind)
                                       .where(CreditEntry.job_id == job_id)))
        return (job.status, job.progress, job.attempts, job.result_url, job.error,
                job.cost_reported, events, entries)


def test_the_signature_is_remotions_hmac_sha512_of_the_raw_body():
    body = b'{"type":"success"}'
    assert lambda_webhook.signature("s3cret", body) == webhook_signature(body, "s3cret")
    assert lambda_webhook.verify_signature("s3cret", body, webhook_signature(body, "s3cret"))
    assert not lambda_webhook.verify_signature("s3cret", body + b" ", webhook_signature(body, "s3cret"))
    assert not lambda_webhook.verify_signature("s3cret", body, "NO_SECRET_PROVIDED")
    assert not lambda_webhook.verify_signature(None, body, webhook_signature(body, "s3cret"))


async def test_a_bad_signature_is_a_401_and_changes_nothing(db, lambda_settings, factory,
                                                           lambda_api, moto_s3, s3_bucket):
    account, job_id = await _processing_job(db, lambda_settings, factory)
    moto_s3.client().put_object(Bucket=s3_bucket, Key=f"renders/{job_id}.mp4", Body=b"mp4")
    before = await _snapshot(db, job_id)
    body = _body(job_id)
    for signature in (None, "", "NO_SECRET_PROVIDED", "sha512=" + "0" * 128,
                      webhook_signature(body, "another-secret"),
                      webhook_signature(body + b" ", WEBHOOK_SECRET)):
        response = await _post(lambda_api, body, signature)
        assert response.status_code == 401, (signature, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
    assert await _snapshot(db, job_id) == before
    assert before[0] == "processing"


async def test_a_signed_success_completes_the_job_once(db, lambda_settings, factory, lambda_api,
                                                      moto_s3, s3_bucket):
    account, job_id = await _processing_job(db, lambda_settings, factory)
    body = _body(job_id)
    signature = webhook_signature(body, WEBHOOK_SECRET)

    # the video is not in R2 (yet): acknowledged, nothing changes, the poll will see it
    early = await _post(lambda_api, body, signature)
    assert early.status_code == 200 and early.json()["action"] == "ignored"
    assert (await _snapshot(db, job_id))[0] == "processing"

    moto_s3.client().put_object(Bucket=s3_bucket, Key=f"renders/{job_id}.mp4", Body=b"x" * 1234)
    first = await _post(lambda_api, body, signature)
    assert first.status_code == 200 and first.json() == {
        "ok": True, "action": "completed", "job_id": job_id}
    status, progress, attempts, url, error, cost, events, entries = await _snapshot(db, job_id)
    assert (status, progress, attempts, error, cost, entries) == (
        "completed", 100, 1, None, 0.0123, ["debit"])
    assert url
    async with db.transaction() as s:
        assert (await s.get(RenderJob, job_id)).output_size == 1234

    again = await _post(lambda_api, body, signature)  # Remotion retries, duplicates
    assert again.status_code == 200 and again.json()["action"] == "ignored"
    assert await _snapshot(db, job_id) == (status, progress, attempts, url, error, cost,
                                           events, entries)


@pytest.mark.parametrize(
    ("extra", "kind", "words"),
    [
        ({"errors": [{"message": "TypeError: x is undefined", "name": "TypeError",
                      "stack": "TypeError: x is undefined\n    at Visualizer"}]},
         "error", "the composition failed: TypeError: x is undefined"),
        # the creator reads core.job_errors' words; the detail is the admins'
        ({}, "timeout", "the render took too long and was stopped"),
    ],
)
async def test_a_signed_error_or_timeout_fails_the_job_with_one_refund(
    extra, kind, words, db, lambda_settings, factory, lambda_api
):
    account, job_id = await _processing_job(db, lambda_settings, factory)
    body = _body(job_id, kind, **extra)
    response = await _post(lambda_api, body, webhook_signature(body, WEBHOOK_SECRET))
    assert response.status_code == 200 and response.json()["action"] == "failed"
    status, *_, error, _cost, _events, entries = await _snapshot(db, job_id)
    assert status == "failed" and words in error and "\n" not in error
    assert entries == ["debit", "refund"]
    assert await factory.balance(account) == 5
    # a second delivery refunds nothing more
    response = await _post(lambda_api, body, webhook_signature(body, WEBHOOK_SECRET))
    assert response.json()["action"] == "ignored"
    assert (await _snapshot(db, job_id))[-1] == ["debit", "refund"]


async def test_a_transient_error_is_left_to_the_worker(db, lambda_settings, factory, lambda_api):
    account, job_id = await _processing_job(db, lambda_settings, factory)
    before = await _snapshot(db, job_id)
    body = _body(job_id, "error", errors=[{"message": "Page crashed!", "name": "Error",
                                           "stack": "Error: Page crashed!"}])
    response = await _post(lambda_api, body, webhook_signature(body, WEBHOOK_SECRET))
    assert response.status_code == 200 and response.json()["action"] == "left_to_worker"
    assert await _snapshot(db, job_id) == before


async def test_webhooks_for_other_jobs_attempts_or_renders_are_ignored(
    db, lambda_settings, factory, lambda_api, moto_s3, s3_bucket
):
    account, job_id = await _processing_job(db, lambda_settings, factory)
    moto_s3.client().put_object(Bucket=s3_bucket, Key=f"renders/{job_id}.mp4", Body=b"mp4")
    before = await _snapshot(db, job_id)
    for body in (_body(job_id, attempt=2), _body(job_id, render_id="someoneelse"),
                 _body("job_unknown"), b'{"type":"success","customData":null}'):
        response = await _post(lambda_api, body, webhook_signature(body, WEBHOOK_SECRET))
        assert response.status_code == 200 and response.json()["action"] == "ignored", body
    body = b'{"type":"started"}'
    response = await _post(lambda_api, body, webhook_signature(body, WEBHOOK_SECRET))
    assert response.status_code == 400
    assert await _snapshot(db, job_id) == before


async def _one_completion(db, job_id: str) -> datetime:
    async with db.transaction() as s:
        events = await renders.events(session=s, job_id=job_id)
        entries = list(await s.scalars(select(CreditEntry.kind)
                                       .where(CreditEntry.job_id == job_id)))
    completed = [e for e in events if e.kind == "state" and e.state == "completed"]
    assert len(completed) == 1 and entries == ["debit"]
    return completed[0].at


async def test_webhook_before_the_poll_completes_the_job_once(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    """progress.json shows "done" 3 s after the webhook went out: the webhook ends it."""
    recorder = Recorder()
    lambda_worker.rt.notifiers.add(recorder)
    lambda_standin.faults.status_lag = 3.0
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, lambda_settings, account, project, TINY)
    done = await wait_for(db, job.id, within=120)

    assert done.status == "completed", done.error
    finished = (await _one_completion(db, job.id)).timestamp()
    render = lambda_standin.only_render()
    # the stand-in records the webhook once the API has answered it (after its commit)
    await asyncio.to_thread(lambda_standin.wait_for, lambda: render.webhooks, 30)
    assert render.webhooks[0]["status"] == 200
    assert render.webhooks[0]["answer"]["action"] == "completed"
    done_answers = [i.at for i in lambda_standin.invocations_of("status")
                    if i.response and i.response.get("done")]
    assert all(at > finished for at in done_answers)  # no poll had seen it done before
    async with db.transaction() as s:
        assert (await s.get(RenderJob, job.id)).cost_reported > 0
    await wait_for_announcement(recorder, job.id)
    assert recorder.changes[job.id].count("completed") == 1


async def test_poll_before_the_webhook_completes_the_job_once(
    db, lambda_settings, factory, lambda_worker, lambda_standin
):
    recorder = Recorder()
    lambda_worker.rt.notifiers.add(recorder)
    lambda_standin.faults.webhook_delay = 2.0
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, lambda_settings, account, project, TINY)
    done = await wait_for(db, job.id, within=120)
    assert done.status == "completed", done.error
    finished = (await _one_completion(db, job.id)).timestamp()

    render = lambda_standin.only_render()
    await asyncio.to_thread(lambda_standin.wait_for, lambda: render.webhooks, 30)
    assert render.webhooks[0]["at"] > finished
    assert render.webhooks[0]["status"] == 200
    assert render.webhooks[0]["answer"]["action"] == "ignored"
    await _one_completion(db, job.id)
    await wait_for_announcement(recorder, job.id)  # announced after the commit, not in it
    assert recorder.changes[job.id].count("completed") == 1
