"""The ledger under concurrent load, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core import credits, renders
from core.errors import InsufficientCredits, RefundNotAllowed
from core.models import CreditEntry, RenderJob

SMALL = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}


async def test_fifty_concurrent_submits_against_ten_renders_of_credit(db, settings, factory):
    account = await factory.account(credits_=0)
    project = await factory.project(account)
    async with db.transaction() as s:
        quote = await renders.quote(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=SMALL,
        )
    async with db.transaction() as s:
        await credits.grant(
            session=s, account_id=account, amount=quote.credit_cost * 10, idempotency_key="g"
        )

    observed_balances: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        # Stopped by an event, not cancelled: cancelling a task mid-query can leave its
        # connection holding SQLite's write lock.
        while not done.is_set():
            async with db.transaction() as s:
                observed_balances.append(await credits.balance(session=s, account_id=account))
            await asyncio.sleep(0.005)

    async def submit() -> str:
        try:
            async with db.transaction() as s:
                result = await renders.submit(
                    session=s, settings=settings, account_id=account, project_id=project,
                    render_settings=SMALL,
                )
            return "ok" if result.created else "replay"
        except InsufficientCredits:
            return "refused"

    watcher = asyncio.create_task(watch())
    outcomes = await asyncio.gather(*(submit() for _ in range(50)))
    done.set()
    await watcher

    assert outcomes.count("ok") == 10
    assert outcomes.count("refused") == 40
    async with db.transaction() as s:
        jobs = await s.scalar(select(func.count()).select_from(RenderJob))
        ledger_sum = await s.scalar(
            select(func.sum(CreditEntry.amount)).where(CreditEntry.account_id == account)
        )
        balance = await credits.balance(session=s, account_id=account)
    assert jobs == 10
    assert balance == 0
    assert ledger_sum == balance
    assert observed_balances and min(observed_balances) >= 0


async def test_twenty_concurrent_refunds_of_one_failed_job_refund_once(db, settings, factory):
    account = await factory.account(credits_=100)
    project = await factory.project(account)
    async with db.transaction() as s:
        job = (await renders.submit(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=SMALL,
        )).job
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
        row.status = "failed"  # failed without the automatic refund, to race the refunds
        row.error = "boom"

    async def refund() -> str:
        try:
            async with db.transaction() as s:
                await credits.refund_job(session=s, job_id=job.id, actor="test")
            return "ok"
        except RefundNotAllowed:
            return "refused"

    results = await asyncio.gather(*(refund() for _ in range(20)))
    assert results == ["ok"] * 20  # every caller gets the one refund entry back
    async with db.transaction() as s:
        refunds = await s.scalar(
            select(func.count()).select_from(CreditEntry).where(
                CreditEntry.job_id == job.id, CreditEntry.kind == "refund"
            )
        )
        balance = await credits.balance(session=s, account_id=account)
    assert refunds == 1
    assert balance == 100
