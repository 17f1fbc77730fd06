"""The capacity governor's admission rule on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from core.db import utcnow
from core.models import RenderJob
from core.render import governor
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit


def units(settings: dict) -> int:
    """A stand-in for the planner: one function per started second, plus the main one."""
    return int(settings["duration"]) + 1


async def _jobs(db, settings, factory, durations):
    account = await factory.account(credits_=50)
    project = await factory.project(account)
    ids = []
    for seconds in durations:
        job = await _submit(db, settings, account, project, {**TINY, "duration": seconds},
                            enqueue=lambda _: None)
        ids.append(job.id)
    return ids


async def _admit(db, job_id, limit, now=None):
    async with db.transaction() as s:
        return await governor.admit(session=s, job_id=job_id, backend="lambda", limit=limit,
                                    units=units, wait_seconds=2.0, now=now or utcnow())


async def _set(db, job_id, **values):
    async with db.transaction() as s:
        row = await s.get(RenderJob, job_id)
        for name, value in values.items():
            setattr(row, name, value)


async def test_admission_counts_running_reservations_and_older_queued_jobs(
    db, settings, factory
):
    settings = settings.model_copy(update={"render_backend": "lambda"})
    big, small, later = await _jobs(db, settings, factory, [5, 1, 1])  # 6, 2, 2 functions

    first = await _admit(db, big, limit=7)
    assert first.admitted and (first.needed, first.in_use, first.ahead) == (6, 0, 0)
    await _set(db, big, status="processing")  # what the pipeline does next
    async with db.transaction() as s:
        assert (await s.get(RenderJob, big)).backend_info[governor.UNITS_KEY] == 6

    # 6 held + 2 needed > 7: small waits, queued, with its next look scheduled
    now = utcnow()
    waiting = await _admit(db, small, limit=7, now=now)
    assert not waiting.admitted and (waiting.in_use, waiting.needed) == (6, 2)
    async with db.transaction() as s:
        row = await s.get(RenderJob, small)
        assert row.status == "queued" and row.attempts == 0
        assert row.lease_expires_at > now + timedelta(seconds=2)
        assert row.backend_info["waiting_for_capacity"]["limit"] == 7
    # first come, first served: with a limit of 9 `later` would fit alone (6 + 2), but the
    # older waiting job comes first (6 + 2 + 2 > 9)
    behind = await _admit(db, later, limit=9)
    assert not behind.admitted and behind.ahead == 2 and behind.in_use == 6
    # a duplicate message for the waiting job drops out instead of doubling its schedule
    assert (await _admit(db, small, limit=7, now=now + timedelta(seconds=0.5))).duplicate

    # the big job ends: small gets in on its next look (its own schedule, on time)
    await _set(db, big, status="completed")
    admitted = await _admit(db, small, limit=7, now=now + timedelta(seconds=2.1))
    assert admitted.admitted and admitted.in_use == 0
    async with db.transaction() as s:
        row = await s.get(RenderJob, small)
        assert "waiting_for_capacity" not in row.backend_info
        assert row.backend_info[governor.UNITS_KEY] == 2


async def test_jobs_already_running_or_ended_or_of_other_backends_pass(db, settings, factory):
    settings = settings.model_copy(update={"render_backend": "lambda"})
    running, other = await _jobs(db, settings, factory, [5, 5])
    await _set(db, running, status="processing", backend_info={governor.UNITS_KEY: 6})
    # a retry of a running job keeps its reservation: never waits, even over the limit
    assert (await _admit(db, running, limit=1)).admitted
    # local jobs hold no Lambda capacity
    await _set(db, other, backend="local", status="processing")
    fresh, = await _jobs(db, settings, factory, [1])
    got = await _admit(db, fresh, limit=8)
    assert got.admitted and got.in_use == 6
