"""Batches (issue 18) through the whole flow on the embedded default: real tiny renders of
three aspect variants, one debit for the sum, refunds of exactly the variants that did
not deliver."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from core import batches
from core.models import CreditEntry, RenderJob
from tests.fixtures.faults import crash_props
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import probe, video_stream

SIZES = [[320, 180], [180, 320], [240, 240]]  # 16:9, 9:16, 1:1, tiny


async def _submit(db, settings, account, project, *, enqueue=True, variants=SIZES, body=TINY):
    from jobs.enqueue import enqueuer_for

    async with db.transaction() as s:
        return (await batches.submit(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=body, variants=variants,
            enqueue=enqueuer_for(settings) if enqueue else None,
        )).batch


async def _ledger(db, account):
    async with db.transaction() as s:
        rows = await s.scalars(select(CreditEntry).where(CreditEntry.account_id == account)
                               .order_by(CreditEntry.id))
        return [(e.kind, e.amount, e.job_id) for e in rows]


async def test_three_sizes_one_debit_three_videos_of_the_right_sizes(
    db, pipeline_settings, factory, worker
):
    account = await factory.account(credits_=10)
    project = await factory.project(account, name="Batch")
    batch = await _submit(db, pipeline_settings, account, project)

    done = [await wait_for(db, j.id, within=240) for j in batch.jobs]

    assert [j.status for j in done] == ["completed"] * 3, [j.error for j in done]
    for job, size in zip(done, SIZES, strict=True):
        video = video_stream(probe(worker.rt.storage.local_path(key=f"renders/{job.id}.mp4")))
        assert [video["width"], video["height"]] == size
        assert int(video["nb_read_frames"]) == 30 and job.batch_id == batch.id
    assert await _ledger(db, account) == [("grant", 10, None), ("debit", -3, None)]
    async with db.transaction() as s:
        final = await batches.get(session=s, account_id=account, batch_id=batch.id)
    assert final.status == "completed" and all(j.result_url for j in final.jobs)


async def test_a_failed_variant_is_refunded_alone(db, pipeline_settings, factory, worker):
    from jobs.enqueue import enqueuer_for

    account = await factory.account(credits_=10)
    project = await factory.project(account, name="Batch")
    batch = await _submit(db, pipeline_settings, account, project, enqueue=False)
    broken = batch.jobs[1].id
    async with db.transaction() as s:  # this variant's copy of the project crashes
        job = await s.get(RenderJob, broken)
        job.project_state = {**job.project_state, "props": crash_props()}
    enqueue = enqueuer_for(pipeline_settings)
    for j in batch.jobs:
        enqueue(j.id)

    done = [await wait_for(db, j.id, within=240) for j in batch.jobs]

    assert [j.status for j in done] == ["completed", "failed", "completed"]
    assert await _ledger(db, account) == [
        ("grant", 10, None), ("debit", -3, None), ("refund", 1, broken)]


async def test_cancel_mid_batch_refunds_exactly_the_unfinished_variants(
    db, pipeline_settings, factory, worker
):
    account = await factory.account(credits_=20)
    project = await factory.project(account, name="Batch")
    body = {**TINY, "duration": 2}
    batch = await _submit(db, pipeline_settings, account, project, body=body)
    ids = [j.id for j in batch.jobs]
    first = await wait_for(db, ids[0], within=240)
    assert first.status == "completed", first.error
    async with db.transaction() as s:
        await batches.cancel(session=s, account_id=account, batch_id=batch.id)

    ended = [await wait_for(db, i, within=120) for i in ids]

    states = [j.status for j in ended]
    assert states[0] == "completed" and "cancelled" in states, states
    refunds = [(kind, amount, job) for kind, amount, job in await _ledger(db, account)
               if kind == "refund"]
    expected = [("refund", j.credit_cost, j.id) for j in ended if j.status == "cancelled"]
    assert sorted(refunds, key=str) == sorted(expected, key=str)  # each once, none for a video
    await asyncio.sleep(1.5)  # a late worker step refunds nothing more
    assert [r for r in await _ledger(db, account) if r[0] == "refund"] == refunds
