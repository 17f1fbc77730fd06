"""A job's cost to the worker (issue 19): the pipeline's database transactions and
statements for one instant job, start to completed, and what its notifiers are told.

The start's transaction reads the job back for the "processing" notification before it
commits, the delivery goes on from the claim of the poll that saw the render end, and
the completion's transaction gives the "completed" snapshot — so the notifiers see the
same job a fresh read would show, without a transaction of their own per change."""

from __future__ import annotations

from contextlib import asynccontextmanager

from sqlalchemy import event

from core import pipeline, renders
from core.models import RenderJob
from core.runtime import Runtime
from tests.fixtures.api import free_port, make_api_settings
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit


class Seen:
    def __init__(self) -> None:
        self.changes = []

    async def job_changed(self, job, change) -> None:
        self.changes.append((change, job))


def _count(engine) -> dict[str, int]:
    counts = {"transactions": 0, "statements": 0}

    def begin(conn) -> None:
        counts["transactions"] += 1

    def statement(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE
            counts["statements"] += 1

    event.listen(engine.sync_engine, "begin", begin)
    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    return counts


async def test_an_instant_job_takes_four_transactions_and_its_notifiers_see_fresh_reads(
    db, tmp_path, database_url, factory
):
    settings = make_api_settings(tmp_path, database_url, free_port(), render_backend="instant")
    rt = Runtime(settings)
    seen = Seen()
    rt.notifiers.add(seen)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        counts = _count(rt.db.engine)

        step = await pipeline.start(rt, job.id)
        assert step.action == "poll"
        assert (await pipeline.poll(rt, job.id, step.attempt)).action == "none"

        # start: admit + claim the attempt, then record the backend's reference;
        # poll: claim (then deliver from it), then complete (was 7 and 22). The statements
        # core/db_raw.py issues (the poll's claim, the start's reference) bypass
        # SQLAlchemy's cursor events: the count is the ORM's share, a bound
        assert counts["transactions"] == 4, counts
        assert counts["statements"] <= 14, counts
        assert [change for change, _ in seen.changes] == ["processing", "completed"]
        processing, completed = (j for _, j in seen.changes)
        assert processing.status == "processing" and processing.attempts == 1
        async with db.transaction() as s:
            now = await renders.get(session=s, account_id=None, job_id=job.id)
        assert completed == now  # the completion's own snapshot: what a read gives
        assert completed.status == "completed" and completed.result_url
        assert completed.poster_url  # the placeholder poster, stored beside the video
    finally:
        await rt.close()


async def test_the_callback_notifier_reads_the_callback_flag_from_the_job_it_is_told_about(
    db, tmp_path, database_url, factory
):
    """Whether a job has a ``callback_url`` comes with the job's row (``has_callback``):
    the notifier looks it up in a transaction of its own only for a snapshot built
    without the row, and its answer is the same either way."""
    from jobs.callbacks import CallbackNotifier

    settings = make_api_settings(tmp_path, database_url, free_port(), render_backend="instant")
    rt = Runtime(settings)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        reads = {}
        for name, url in (("plain", None), ("hooked", "https://hooks.example.com/r")):
            async with db.transaction() as s:
                submitted = await renders.submit(
                    session=s, settings=settings, account_id=account, project_id=project,
                    render_settings=TINY, callback_url=url, enqueue=lambda _: None)
            async with db.transaction() as s:
                reads[name] = await renders.get(session=s, account_id=None,
                                                job_id=submitted.job.id)
        counts = _count(rt.db.engine)
        assert reads["plain"].has_callback is False and reads["hooked"].has_callback is True
        assert await CallbackNotifier(rt)._has_callback(reads["plain"]) is False
        assert await CallbackNotifier(rt)._has_callback(reads["hooked"]) is True
        assert counts["transactions"] == 0, counts
        # never serialized: not in the contract's Job, callbacks or chat state
        assert "has_callback" not in reads["hooked"].model_dump()
        unknown = reads["hooked"].model_copy(update={"has_callback": None})
        assert await CallbackNotifier(rt)._has_callback(unknown) is True
        assert counts["transactions"] == 1, counts
    finally:
        await rt.close()


@asynccontextmanager
async def _started(db, tmp_path, database_url, factory):
    """(runtime, account, job, start step) of an instant job whose first attempt started."""
    settings = make_api_settings(tmp_path, database_url, free_port(), render_backend="instant")
    rt = Runtime(settings)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        yield rt, account, job, await pipeline.start(rt, job.id)
    finally:
        await rt.close()


async def test_a_poll_claims_only_its_own_attempt_in_one_statement(
    db, tmp_path, database_url, factory
):
    """``renders.claim_attempt`` (the poll's claim, one UPDATE … RETURNING): it renews the
    lease of the attempt it names and returns what the poll and a delivery read; for an
    attempt that moved on, or a job that ended, it returns None and leaves the row as it
    is."""
    async with _started(db, tmp_path, database_url, factory) as (rt, _, job, step):
        async with db.transaction() as s:
            before = await s.get(RenderJob, job.id)
            lease, ref = before.lease_expires_at, before.backend_ref

        async with db.transaction() as s:
            stale = await renders.claim_attempt(session=s, job_id=job.id,
                                                attempt=step.attempt + 1, lease_seconds=600)
        assert stale is None
        async with db.transaction() as s:
            assert (await s.get(RenderJob, job.id)).lease_expires_at == lease

        async with db.transaction() as s:
            claimed = await renders.claim_attempt(session=s, job_id=job.id,
                                                  attempt=step.attempt, lease_seconds=600)
        assert claimed["backend_ref"] == ref and ref
        assert claimed["cancel_requested"] is False
        assert claimed["settings"] == before.settings
        assert claimed["project_state"] == before.project_state
        assert claimed["output_key"] == before.output_key
        async with db.transaction() as s:
            after = await s.get(RenderJob, job.id)
            assert after.lease_expires_at > lease
            assert after.updated_at.tzinfo is not None

        assert (await pipeline.poll(rt, job.id, step.attempt)).action == "none"
        async with db.transaction() as s:
            ended = await renders.claim_attempt(session=s, job_id=job.id,
                                                attempt=step.attempt, lease_seconds=600)
            assert (await s.get(RenderJob, job.id)).status == "completed"
        assert ended is None


async def test_the_start_records_its_render_only_on_the_attempt_it_started(
    db, tmp_path, database_url, factory
):
    """``renders.record_start``: the backend's reference and info are stored (merged into
    what ``backend_info`` already holds) only while the job is processing that attempt;
    otherwise it returns None and the row is left as it is."""
    async with _started(db, tmp_path, database_url, factory) as (_, account, job, step):
        async with db.transaction() as s:
            before = await s.get(RenderJob, job.id)
            info, ref = dict(before.backend_info), before.backend_ref
        assert info.get("frames")  # what the start itself recorded

        async with db.transaction() as s:
            stale = await renders.record_start(session=s, job_id=job.id, attempt=step.attempt + 1,
                                               ref="other", info={"x": 1}, lease_seconds=60)
        assert stale is None
        async with db.transaction() as s:
            row = await s.get(RenderJob, job.id)
            assert (row.backend_ref, row.backend_info) == (ref, info)

        async with db.transaction() as s:
            owner = await renders.record_start(session=s, job_id=job.id, attempt=step.attempt,
                                               ref="again", info={"x": 1}, lease_seconds=60)
        assert owner == account
        async with db.transaction() as s:
            row = await s.get(RenderJob, job.id)
            assert row.backend_ref == "again"
            assert row.backend_info == {**info, "x": 1}
