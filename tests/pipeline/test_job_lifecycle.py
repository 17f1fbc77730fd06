"""Every job ends, once, with a clean error: bounded retries and reconciler pick-ups, a
cancel during the upload, a render whose worker died, each failure class's wording.

The pipeline is driven step by step here (no queue, delays skipped) with fake render
backends that speak ``core.backends.base.RenderBackend``; storage and databases are real.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from core import pipeline, renders
from core.backends.base import RenderError, RenderRequest, RenderStatus
from core.db import utcnow
from core.job_errors import kind_of_render_error
from core.models import CreditEntry, RenderJob
from core.runtime import Runtime
from core.storage.base import StorageError
from tests.core.test_job_errors import ASSET, STDERR, STORAGE, TIMEOUT, clean
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit
from tests.pipeline.test_production_topology import RENDERBOT


class Scripted:
    """A render backend whose renders end as the test says."""

    name = "scripted"

    def __init__(self, tmp_path: Path, *, status=None, raises: Exception | None = None) -> None:
        self.tmp_path = tmp_path
        self._status = status
        self.raises = raises
        self.cancelled: list[str] = []

    async def start(self, request: RenderRequest) -> str:
        return request.render_id

    async def status(self, ref: str) -> RenderStatus:
        if self.raises is not None:
            raise self.raises
        if self._status is not None:
            return self._status
        out = self.tmp_path / f"{ref}.mp4"
        out.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 2000)
        return RenderStatus(state="done", progress=1.0, output_path=out)

    async def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)

    async def close(self) -> None:
        return None


class HostBoundScripted(Scripted):
    host = "rb-this"

    def owner(self, ref: str) -> str | None:
        host, sep, _ = ref.rpartition("/")
        return host if sep else None


async def drive(rt: Runtime, job_id: str, *, limit: int = 200) -> None:
    step = await pipeline.start(rt, job_id)
    for _ in range(limit):
        if step.action == "none":
            return
        if step.action == "start":
            step = await pipeline.start(rt, job_id, step.attempt)
        else:
            step = await pipeline.poll(rt, job_id, step.attempt)
    raise AssertionError("the job never ended")


async def _job(db, job_id: str) -> RenderJob:
    async with db.transaction() as s:
        return await s.get(RenderJob, job_id)


async def _entries(db, job_id: str) -> list[str]:
    async with db.transaction() as s:
        rows = await s.scalars(select(CreditEntry.kind).where(CreditEntry.job_id == job_id)
                               .order_by(CreditEntry.id))
        return list(rows)


async def _new_job(db, settings, factory):
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
    return account, job


async def test_a_backend_whose_status_always_raises_fails_once_refunded_within_the_bound(
    db, pipeline_settings, factory, tmp_path
):
    rt = Runtime(pipeline_settings)
    rt.backend = Scripted(tmp_path, raises=RuntimeError(STDERR))
    try:
        account, job = await _new_job(db, pipeline_settings, factory)
        await drive(rt, job.id)
    finally:
        await rt.close()
    done = await _job(db, job.id)
    assert done.status == "failed"
    assert done.attempts == pipeline_settings.worker.max_attempts  # the bound
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
    clean(done.error)
    assert "could not" in done.error and "refunded" in done.error
    assert "Socket path too long" in done.error_detail  # the admins' detail


async def test_repeated_reconciler_pick_ups_end_the_job_failed_and_refunded_once(
    db, pipeline_settings, factory, tmp_path
):
    """The step keeps raising until its message is dead-lettered: only the reconciler
    brings the job back, and only ``max_reconciles`` times."""
    settings = pipeline_settings.model_copy(update={"worker": pipeline_settings.worker.model_copy(
        update={"max_reconciles": 2, "reconcile_grace": 0.0})})
    rt = Runtime(settings)
    rt.backend = Scripted(tmp_path, status=RenderStatus(state="rendering", progress=0.5))
    try:
        account, job = await _new_job(db, settings, factory)
        await pipeline.start(rt, job.id)  # processing, attempt 1, then its messages vanish
        picked = []
        for _ in range(settings.worker.max_reconciles + 1):
            async with db.transaction() as s:  # the lease ran out
                await s.execute(update(RenderJob).where(RenderJob.id == job.id)
                                .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
            picked.append([(n.action, n.job_id) for n in await pipeline.reconcile(rt)])
    finally:
        await rt.close()
    assert picked[:2] == [[("poll", job.id)], [("poll", job.id)]]
    assert picked[2] == []
    done = await _job(db, job.id)
    assert done.status == "failed"
    assert await _entries(db, job.id) == ["debit", "refund"]
    assert await factory.balance(account) == 5
    clean(done.error)
    assert "kept failing" in done.error and "picked it up 3 times" in done.error_detail


async def test_a_render_whose_worker_died_is_taken_over_and_started_again(
    db, pipeline_settings, factory, tmp_path
):
    rt = Runtime(pipeline_settings)
    rt.backend = HostBoundScripted(tmp_path)
    try:
        account, job = await _new_job(db, pipeline_settings, factory)
        await pipeline.start(rt, job.id)
        async with db.transaction() as s:  # started by a worker that is gone
            await s.execute(update(RenderJob).where(RenderJob.id == job.id).values(
                backend_ref=f"rb-gone/{job.id}-a1",
                lease_expires_at=utcnow() - timedelta(seconds=1)))
        steps = await pipeline.reconcile(rt)
        assert [(s.action, s.attempt) for s in steps] == [("start", 1)]
        step = await pipeline.start(rt, job.id, 1)
        assert step.action == "poll" and step.host == "rb-this"  # polled where it renders
        while step.action != "none":
            step = await pipeline.poll(rt, job.id, step.attempt)
    finally:
        await rt.close()
    done = await _job(db, job.id)
    assert done.status == "completed" and done.attempts == 2
    assert await _entries(db, job.id) == ["debit"]


async def test_cancel_during_upload_wins_refunds_once_and_leaves_no_object(
    db, pipeline_settings, factory, tmp_path
):
    rt = Runtime(pipeline_settings)
    real = rt.storage
    uploading, release = asyncio.Event(), asyncio.Event()

    class SlowUpload:
        def __getattr__(self, name):
            return getattr(real, name)

        async def put_file(self, **kwargs):
            stored = await real.put_file(**kwargs)
            uploading.set()
            await release.wait()
            return stored

    rt.storage = SlowUpload()
    rt.backend = Scripted(tmp_path)
    try:
        account, job = await _new_job(db, pipeline_settings, factory)
        driving = asyncio.create_task(drive(rt, job.id))
        await asyncio.wait_for(uploading.wait(), 30)
        async with db.transaction() as s:
            asked = await renders.cancel(session=s, account_id=account, job_id=job.id)
        assert asked.status == "processing"  # the worker ends it
        release.set()
        await asyncio.wait_for(driving, 30)
        done = await _job(db, job.id)
        assert done.status == "cancelled"
        assert await _entries(db, job.id) == ["debit", "refund"]
        assert await factory.balance(account) == 5
        assert not await real.exists(key=done.output_key, bucket=done.output_bucket)
        assert done.result_url is None
    finally:
        await rt.close()


async def _fails_with(db, settings, factory, tmp_path, backend, storage=None) -> RenderJob:
    rt = Runtime(settings)
    rt.backend = backend
    if storage is not None:
        rt.storage = storage(rt.storage)
    try:
        _, job = await _new_job(db, settings, factory)
        await drive(rt, job.id)
    finally:
        await rt.close()
    done = await _job(db, job.id)
    assert done.status == "failed"
    assert await _entries(db, job.id) == ["debit", "refund"]
    clean(done.error)
    return done


def _failed(message: str, retryable: bool) -> RenderStatus:
    return RenderStatus(state="failed", error=message, retryable=retryable,
                        error_kind=kind_of_render_error(message, retryable))


async def test_an_asset_that_cannot_be_fetched_reads_cleanly(db, pipeline_settings, factory,
                                                            tmp_path):
    done = await _fails_with(db, pipeline_settings, factory, tmp_path,
                             Scripted(tmp_path, status=_failed(ASSET, False)))
    assert "could not be loaded" in done.error and done.attempts == 1
    assert "127.0.0.1:9391" in done.error_detail and "fetchWithCorsCatch" in done.error_detail


async def test_a_timeout_reads_cleanly(db, pipeline_settings, factory, tmp_path):
    done = await _fails_with(db, pipeline_settings, factory, tmp_path,
                             Scripted(tmp_path, status=_failed(TIMEOUT, True)))
    assert "took too long" in done.error and "tried 3 times" in done.error
    assert TIMEOUT in done.error_detail


async def test_a_lost_render_reads_cleanly(db, pipeline_settings, factory, tmp_path):
    done = await _fails_with(db, pipeline_settings, factory, tmp_path,
                             Scripted(tmp_path, status=RenderStatus(state="lost")))
    assert "lost this render" in done.error and "restarted" in done.error_detail


async def test_a_browser_that_cannot_start_reads_cleanly(db, pipeline_settings, factory,
                                                         tmp_path):
    backend = Scripted(tmp_path, raises=RenderError(STDERR, retryable=True, kind="browser"))
    done = await _fails_with(db, pipeline_settings, factory, tmp_path, backend)
    assert "could not start" in done.error
    assert "SingletonSocket" in done.error_detail  # the stderr, for admins


async def test_a_storage_failure_reads_cleanly(db, pipeline_settings, factory, tmp_path):
    class DeletedBucket:
        def __init__(self, real) -> None:
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        async def put_file(self, **kwargs):
            raise StorageError(STORAGE.removeprefix("storing the video failed: "),
                               retryable=False)

    done = await _fails_with(db, pipeline_settings, factory, tmp_path, Scripted(tmp_path),
                             storage=DeletedBucket)
    assert "could not be stored" in done.error
    assert "renders-prod" in done.error_detail


async def test_the_detail_reaches_admins_only(db, pipeline_settings, factory, tmp_path,
                                              database_url):
    from core import admin
    from core.schemas import JobRead

    done = await _fails_with(db, pipeline_settings, factory, tmp_path,
                             Scripted(tmp_path, status=_failed(ASSET, False)))
    async with db.transaction() as s:
        detail = await admin.job_detail(session=s, job_id=done.id)  # the dashboard's
        api_job = await renders.get(session=s, account_id=done.account_id, job_id=done.id)
    assert "fetchWithCorsCatch" in detail.error_detail
    assert "error_detail" not in JobRead.model_fields  # the API's and chat's Job
    assert "127.0.0.1" not in api_job.model_dump_json()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": database_url, "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
    }
    out = await asyncio.to_thread(
        subprocess.run, [RENDERBOT, "render", "status", done.id, "--json"], env=env,
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["error"] == done.error and "fetchWithCorsCatch" in shown["error_detail"]
