"""A create's statements in one driver trip (core/db_raw.py, core/job_create.py): the
rows it writes, driver errors as SQLAlchemy's, and the idempotency race on PostgreSQL
where the second create's insert hits the first's committed key."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from core import db_raw, renders
from core import render_settings as rs
from core.db import utcnow
from core.errors import InsufficientCredits
from core.models import Account, CreditEntry, JobEvent, Project, RenderJob

SMALL = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}


async def _submit(session, settings, account, project, **kwargs):
    return await renders.submit(session=session, settings=settings, account_id=account,
                                project_id=project, render_settings=SMALL, **kwargs)


async def test_a_create_writes_the_job_its_ledger_entry_and_event(db, settings, factory):
    account = await factory.account(credits_=50)
    project = await factory.project(account, state={"composition": "Visualizer",
                                                    "props": {"title": "t"}})
    async with db.transaction() as s:
        made = await _submit(s, settings, account, project, origin={"platform": "api"})
    job = made.job
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
        entry = await s.scalar(select(CreditEntry).where(CreditEntry.job_id == job.id))
        events = list(await s.scalars(select(JobEvent).where(JobEvent.job_id == job.id)))
        balance = await s.scalar(select(Account.balance).where(Account.id == account))
        assert row.project_state == (await s.get(Project, project)).state  # as at submit
    assert row.status == "queued" and row.project_id == project and row.account_id == account
    assert row.project_state["props"]["title"] == "t"
    assert row.settings == rs.validate(SMALL, settings.limits).as_dict()  # as validated
    assert row.origin == {"platform": "api"} and row.backend_info == {}
    assert row.created_at == job.created_at and row.created_at.tzinfo is not None
    assert (entry.kind, entry.amount, entry.idempotency_key) == (
        "debit", -job.credit_cost, f"debit:{job.id}")
    assert entry.balance_after == balance == 50 - job.credit_cost
    assert [(e.kind, e.state, e.detail) for e in events] == [
        ("state", "queued", {"credit_cost": job.credit_cost})]
    assert job.queue_position == 1 and job.eta_seconds is None  # no history yet


async def test_refused_for_credits_the_trip_writes_nothing(db, settings, factory):
    account = await factory.account(credits_=0)
    project = await factory.project(account)
    with pytest.raises(InsufficientCredits):
        async with db.transaction() as s:
            await _submit(s, settings, account, project)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(RenderJob)) == 0
        assert await s.scalar(select(func.count()).select_from(CreditEntry)) == 0


def test_a_statement_whose_python_defaults_would_be_skipped_is_refused():
    from sqlalchemy.dialects.sqlite import aiosqlite

    statement = db_raw.Raw(insert(CreditEntry).values(account_id=bindparam("a")))
    with pytest.raises(ValueError, match="created_at"):
        statement.for_dialect(aiosqlite.dialect())


async def test_a_driver_integrity_error_is_sqlalchemys_and_a_savepoint_undoes_it(db, factory):
    account = await factory.account(credits_=5)  # its grant holds idempotency key g:...
    statement = db_raw.Raw(insert(CreditEntry).values(
        account_id=bindparam("a"), kind="grant", amount=1, balance_after=1,
        idempotency_key=bindparam("k"), created_at=bindparam("at")))
    async with db.transaction() as s:
        with pytest.raises(IntegrityError):
            async with s.begin_nested():
                await db_raw.run(s, lambda execute: execute(
                    statement, {"a": account, "k": f"test-grant:{account}", "at": utcnow()}))
        # the transaction goes on after the SAVEPOINT rolled back
        await db_raw.run(s, lambda execute: execute(
            statement, {"a": account, "k": "other", "at": utcnow()}))
    async with db.transaction() as s:
        keys = set(await s.scalars(select(CreditEntry.idempotency_key)
                                   .where(CreditEntry.account_id == account)))
    assert keys == {f"test-grant:{account}", "other"}


async def test_postgresql_same_key_race_replays_the_first_job_and_charges_once(
    settings, factory, db
):
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite serialises creates at BEGIN IMMEDIATE: no race to lose")
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first():
        async with db.transaction() as s:
            made = await _submit(s, settings, account, project, idempotency_key="race")
            first_in.set()
            await release.wait()  # holds the account row and the key, uncommitted
        return made

    async def second():
        await first_in.wait()
        async with db.transaction() as s:
            # sees no committed job with the key, debits (waits on the first's account
            # row), then its insert hits the key: rolled back to its SAVEPOINT, replayed
            return await _submit(s, settings, account, project, idempotency_key="race")

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    await first_in.wait()
    await asyncio.sleep(0.3)  # the second is now waiting on the first's row lock
    assert not two.done()
    release.set()
    a, b = await asyncio.gather(one, two)
    assert a.created and not b.created and a.job.id == b.job.id
    assert await factory.balance(account) == 10 - a.job.credit_cost
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(CreditEntry)
                              .where(CreditEntry.kind == "debit")) == 1
