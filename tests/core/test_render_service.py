"""quote / submit / get / cancel / refund of the render service, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import credits, projects, renders
from core.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidSettings,
    InvalidTransition,
    JobNotFound,
    ProjectNotFound,
    RefundNotAllowed,
)
from core.models import CreditEntry, JobEvent, RenderJob

SMALL = {"resolution": [320, 180], "frame_rate": 30, "duration": 2, "quality": "low"}


async def _count(db, model, *where):
    async with db.transaction() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def _submit(db, settings, account, project, body=SMALL, **kwargs):
    async with db.transaction() as s:
        return await renders.submit(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=body, **kwargs,
        )


async def test_quote_reports_cost_and_balance_after(db, settings, factory):
    account = await factory.account(credits_=50)
    project = await factory.project(account)
    body = {"resolution": [1920, 1080], "frame_rate": 30, "duration": 180,
            "quality": "high", "effects": ["grain", "glow"]}
    async with db.transaction() as s:
        quote = await renders.quote(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=body,
        )
    assert quote.credit_cost == 54
    assert quote.balance == 50
    assert quote.balance_after == -4
    assert quote.frame_count == 5400


async def test_submit_debits_and_records_job_and_event_together(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    enqueued: list[str] = []
    result = await _submit(db, settings, account, project, enqueue=enqueued.append)
    job = result.job
    assert result.created and job.status == "queued" and job.progress == 0
    assert job.credit_cost == 1
    assert enqueued == [job.id]  # after commit
    assert await factory.balance(account) == 9
    assert await _count(db, JobEvent, JobEvent.job_id == job.id) == 1
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
        assert row.project_state["props"]["title"] == "demo"
        assert row.backend == "local"


async def test_job_renders_the_project_state_as_it_was_at_submit(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account, state={"props": {"title": "first"}})
    job = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        await projects.update(
            session=s, account_id=account, project_id=project,
            state={"props": {"title": "second"}},
        )
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
    assert row.project_state["props"]["title"] == "first"


async def test_insufficient_credits_writes_nothing_and_enqueues_nothing(db, settings, factory):
    account = await factory.account(credits_=0)
    project = await factory.project(account)
    enqueued: list[str] = []
    with pytest.raises(InsufficientCredits) as info:
        await _submit(db, settings, account, project, enqueue=enqueued.append)
    assert info.value.missing == 1 and info.value.balance == 0
    assert enqueued == []
    assert await _count(db, RenderJob) == 0
    assert await _count(db, CreditEntry, CreditEntry.account_id == account) == 0


async def test_invalid_settings_name_the_field_and_write_nothing(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    with pytest.raises(InvalidSettings) as info:
        await _submit(db, settings, account, project, body={**SMALL, "frame_rate": 29})
    assert info.value.field == "frame_rate"
    assert "24" in str(info.value)
    assert await factory.balance(account) == 10
    assert await _count(db, RenderJob) == 0


async def test_another_accounts_project_and_job_are_not_found(db, settings, factory):
    owner = await factory.account(credits_=10)
    other = await factory.account(credits_=10)
    project = await factory.project(owner)
    with pytest.raises(ProjectNotFound):
        await _submit(db, settings, other, project)
    job = (await _submit(db, settings, owner, project)).job
    async with db.transaction() as s:
        with pytest.raises(JobNotFound):
            await renders.get(session=s, account_id=other, job_id=job.id)
        with pytest.raises(JobNotFound):
            await renders.cancel(session=s, account_id=other, job_id=job.id)
    assert await factory.balance(other) == 10


async def test_same_idempotency_key_and_body_returns_first_job_with_one_debit(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    first = await _submit(db, settings, account, project, idempotency_key="k1")
    again = await _submit(db, settings, account, project, idempotency_key="k1")
    assert first.created and not again.created
    assert again.job.id == first.job.id
    assert await factory.balance(account) == 9
    assert await _count(db, RenderJob) == 1


async def test_same_idempotency_key_with_another_body_is_a_conflict(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    await _submit(db, settings, account, project, idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        await _submit(db, settings, account, project, body={**SMALL, "duration": 3},
                      idempotency_key="k1")
    assert await factory.balance(account) == 9


async def test_idempotency_keys_are_per_account(db, settings, factory):
    a = await factory.account(credits_=10)
    b = await factory.account(credits_=10)
    pa, pb = await factory.project(a), await factory.project(b)
    ja = (await _submit(db, settings, a, pa, idempotency_key="same")).job
    jb = (await _submit(db, settings, b, pb, idempotency_key="same")).job
    assert ja.id != jb.id


async def test_cancel_queued_job_refunds_once_and_is_terminal(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    job = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        cancelled = await renders.cancel(session=s, account_id=account, job_id=job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert await factory.balance(account) == 10
    async with db.transaction() as s:
        with pytest.raises(InvalidTransition):
            await renders.cancel(session=s, account_id=account, job_id=job.id)
    async with db.transaction() as s:  # an explicit refund afterwards is the same refund
        await renders.refund(session=s, job_id=job.id, actor="admin")
    assert await factory.balance(account) == 10


async def test_cancel_processing_job_only_requests_it(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    job = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        claimed, _ = await renders.start_attempt(
            session=s, job_id=job.id, after_attempt=0, lease_seconds=60, max_attempts=3
        )
        assert claimed is not None and claimed.status == "processing"
    async with db.transaction() as s:
        read = await renders.cancel(session=s, account_id=account, job_id=job.id)
    assert read.status == "processing" and read.cancel_requested
    assert await factory.balance(account) == 9


async def test_failed_job_is_refunded_once_completed_job_not_at_all(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    failing = (await _submit(db, settings, account, project)).job
    finishing = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        job, _ = await renders.start_attempt(session=s, job_id=failing.id, after_attempt=0,
                                             lease_seconds=60, max_attempts=3)
        await renders.fail(session=s, job=job, error="composition error")
    async with db.transaction() as s:
        job, _ = await renders.start_attempt(session=s, job_id=finishing.id, after_attempt=0,
                                             lease_seconds=60, max_attempts=3)
        done = await renders.complete(session=s, job=job, output_key="k", output_bucket=None,
                                      output_size=1, result_url="http://x/y.mp4")
    assert done.status == "completed" and done.progress == 100
    assert await factory.balance(account) == 9
    async with db.transaction() as s:
        await renders.refund(session=s, job_id=failing.id)
        assert await credits.is_refunded(session=s, job_id=failing.id)
        with pytest.raises(RefundNotAllowed):
            await renders.refund(session=s, job_id=finishing.id)
        project_row = await projects.get(session=s, account_id=account, project_id=project)
    assert await factory.balance(account) == 9
    assert project_row.last_render_job_id == finishing.id
    assert project_row.last_render_url == "http://x/y.mp4"


async def test_queue_position_counts_jobs_ahead(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    jobs = [(await _submit(db, settings, account, project)).job for _ in range(3)]
    assert [j.queue_position for j in jobs] == [1, 2, 3]
    async with db.transaction() as s:
        await renders.cancel(session=s, account_id=account, job_id=jobs[0].id)
        third = await renders.get(session=s, account_id=account, job_id=jobs[2].id)
    assert third.queue_position == 2


async def test_start_attempt_gives_up_after_max_attempts_and_refunds(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    job = (await _submit(db, settings, account, project)).job
    for attempt in range(2):
        async with db.transaction() as s:
            row, _ = await renders.start_attempt(session=s, job_id=job.id, after_attempt=attempt,
                                                 lease_seconds=0, max_attempts=2)
            await renders.note_error(session=s, job=row, error="browser crashed", retryable=True)
    async with db.transaction() as s:
        stale = await renders.start_attempt(session=s, job_id=job.id, after_attempt=1,
                                            lease_seconds=0, max_attempts=2)
        assert stale == (None, None)
        ended = await renders.start_attempt(session=s, job_id=job.id, after_attempt=2,
                                            lease_seconds=0, max_attempts=2)
        assert ended == (None, "failed")
        read = await renders.get(session=s, account_id=None, job_id=job.id)
    assert read.status == "failed" and "browser crashed" in read.error
    assert await factory.balance(account) == 10


async def test_duplicate_start_messages_claim_a_job_once(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    job = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        first, _ = await renders.start_attempt(session=s, job_id=job.id, after_attempt=0,
                                               lease_seconds=60, max_attempts=3)
    async with db.transaction() as s:
        second, ended = await renders.start_attempt(session=s, job_id=job.id, after_attempt=0,
                                                    lease_seconds=60, max_attempts=3)
    assert first is not None and first.attempts == 1
    assert second is None and ended is None


async def test_cancelling_a_queued_job_announces_it_after_the_commit(db, settings, factory):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    queued = (await _submit(db, settings, account, project)).job
    running = (await _submit(db, settings, account, project)).job
    async with db.transaction() as s:
        await renders.start_attempt(session=s, job_id=running.id, after_attempt=0,
                                    lease_seconds=60, max_attempts=3)
    announced: list[tuple[str, str]] = []
    async with db.transaction() as s:
        await renders.cancel(session=s, account_id=account, job_id=queued.id,
                             announce=lambda *a: announced.append(a))
        await renders.cancel(session=s, account_id=account, job_id=running.id,
                             announce=lambda *a: announced.append(a))
        assert announced == []  # not before the commit
    assert announced == [(queued.id, "cancelled")]  # the worker announces the running one
