"""Fair use (issue 18): active limits per account and chat server, fair positions, wakes.

Admission runs on the real databases (SQLite and PostgreSQL via the ``db`` fixture)."""

from __future__ import annotations

from sqlalchemy import select

from core import fairness, renders
from core.db import utcnow
from core.models import RenderJob
from core.settings import LimitSettings, Settings
from tests.fixtures.pipeline import TINY

LIMITS = LimitSettings(max_active_per_account=2, max_active_per_chat_server=3)


async def _submit(db, account, project, n, origin=None):
    settings = Settings(_env_file=None, secret_key="test-secret-0123456789")
    ids = []
    for _ in range(n):
        async with db.transaction() as s:
            ids.append((await renders.submit(session=s, settings=settings, account_id=account,
                                             project_id=project, render_settings=TINY,
                                             origin=origin)).job.id)
    return ids


async def _admit(db, job_id):
    async with db.transaction() as s:
        admission = await fairness.admit(session=s, job_id=job_id, limits=LIMITS,
                                         wait_seconds=5, now=utcnow())
        if admission.admitted:
            job = await s.get(RenderJob, job_id)
            job.status = "processing"  # what the pipeline does in the same transaction
    return admission


async def _status(db, job_id):
    async with db.transaction() as s:
        return await renders.get(session=s, account_id=None, job_id=job_id)


def test_the_chat_server_of_an_origin():
    assert fairness.chat_server_of({"platform": "discord", "guild_id": "42"}) == "discord:42"
    assert fairness.chat_server_of({"platform": "slack", "team_id": "T1"}) == "slack:T1"
    assert fairness.chat_server_of({"platform": "slack", "team_id": "dm"}) is None
    assert fairness.chat_server_of({"platform": "discord", "guild_id": None}) is None
    assert fairness.chat_server_of({"platform": "api"}) is None
    assert LimitSettings().max_active_per_account == 3
    assert LimitSettings().max_active_per_chat_server == 10


async def test_an_account_past_its_limit_waits_queued_oldest_first_and_others_go_on(db, factory):
    a = await factory.account(credits_=50, name="a")
    b = await factory.account(credits_=50, name="b")
    pa, pb = await factory.project(a), await factory.project(b)
    a_jobs = await _submit(db, a, pa, 5)
    b_jobs = await _submit(db, b, pb, 1)

    results = [await _admit(db, j) for j in a_jobs]
    assert [r.admitted for r in results] == [True, True, False, False, False]
    assert results[2].as_info() == {"reason": "account", "active": 2, "ahead": 0, "limit": 2}
    assert (await _admit(db, b_jobs[0])).admitted  # another account is not held back
    waiting = await _status(db, a_jobs[3])
    assert waiting.status == "queued"  # never failed
    # fair order: a's 2nd waiting job comes after b's ... none queued now; a's own order
    assert [(await _status(db, j)).queue_position for j in a_jobs[2:]] == [1, 2, 3]
    # a job of a ends: the oldest waiting job of a is woken (its lease cleared), only one
    async with db.transaction() as s:
        (await s.get(RenderJob, a_jobs[0])).status = "completed"
    async with db.transaction() as s:
        woken = await fairness.to_wake(session=s, account_id=a, chat_server=None, limits=LIMITS)
    assert woken == [a_jobs[2]]
    assert (await _admit(db, a_jobs[2])).admitted
    assert not (await _admit(db, a_jobs[3])).admitted


async def test_a_newer_job_does_not_jump_its_accounts_older_waiting_jobs(db, factory):
    a = await factory.account(credits_=50)
    pa = await factory.project(a)
    jobs = await _submit(db, a, pa, 4)
    for j in jobs[:2]:
        assert (await _admit(db, j)).admitted
    async with db.transaction() as s:
        (await s.get(RenderJob, jobs[0])).status = "completed"
    # the newest asks first: one slot is free, but an older job of a is waiting for it
    late = await _admit(db, jobs[3])
    assert not late.admitted and late.ahead == 1
    assert (await _admit(db, jobs[2])).admitted


async def test_a_chat_server_past_its_limit_waits(db, factory):
    origin = {"platform": "discord", "guild_id": "777"}
    accounts = [await factory.account(credits_=10, name=f"u{i}") for i in range(4)]
    jobs = []
    for acc in accounts:
        jobs += await _submit(db, acc, await factory.project(acc), 1, origin=origin)
    results = [await _admit(db, j) for j in jobs]
    assert [r.admitted for r in results] == [True, True, True, False]
    assert results[3].reason == "chat_server" and results[3].limit == 3
    async with db.transaction() as s:
        assert (await s.get(RenderJob, jobs[3])).chat_server == "discord:777"


async def test_positions_are_round_robin_over_accounts(db, factory):
    a = await factory.account(credits_=50, name="a")
    b = await factory.account(credits_=50, name="b")
    a_jobs = await _submit(db, a, await factory.project(a), 4)
    b_jobs = await _submit(db, b, await factory.project(b), 2)
    positions = {j: (await _status(db, j)).queue_position for j in a_jobs + b_jobs}
    # a1 b1 a2 b2 a3 a4: b's first is second although four of a's are older
    assert [positions[j] for j in a_jobs] == [1, 3, 5, 6]
    assert [positions[j] for j in b_jobs] == [2, 4]
    async with db.transaction() as s:
        rows = await s.scalars(select(RenderJob.eta_seconds).where(RenderJob.account_id == b))
        assert list(rows) == [None, None]  # no finished renders yet: no estimate
