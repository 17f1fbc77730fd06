"""Retention of the default storage (issue 16): with a clock, a video past
RENDERBOT_STORAGE__RETENTION_DAYS is deleted, its link answers 410, the job record stays
with when it expired; a creator's own bucket is never swept; 0 keeps videos forever."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core import renders, retention
from core.db import utcnow
from core.models import RenderJob
from core.runtime import Runtime
from core.settings import StorageSettings
from tests.fixtures.api import make_api_settings
from tests.fixtures.creator_r2 import creator_r2  # noqa: F401 - a fixture
from tests.fixtures.pipeline import TINY, wait_for


@pytest.fixture
def api_settings(tmp_path, database_url, api_port):
    return make_api_settings(tmp_path, database_url, api_port, render_backend="instant")


async def render(client, caller, db):
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    done = await wait_for(db, response.json()["id"], within=60)
    assert done.status == "completed", done.error
    return done


async def test_old_videos_of_the_default_storage_are_swept(
    client, api_caller, db, instant_worker, api_settings, creator_r2,  # noqa: F811
):
    assert api_settings.storage.retention_days == 30  # the default
    ours, creator = await api_caller(name="ours"), await api_caller(name="creator")
    bucket = creator_r2.a.bucket()
    put = await client.put("/v1/storage", headers=creator.headers, json={
        "endpoint": creator_r2.a.endpoint_url, "bucket": bucket, "prefix": "mine",
        "access_key_id": creator_r2.a.access_key_id,
        "secret_access_key": creator_r2.a.secret_access_key,
    })
    assert put.status_code == 200, put.text
    job = await render(client, ours, db)
    theirs = await render(client, creator, db)
    video = api_settings.var_dir / "media" / "renders" / f"{job.id}.mp4"
    assert video.is_file() and video.with_suffix(".jpg").is_file()

    rt = Runtime(api_settings)
    try:
        now = utcnow()
        assert await retention.sweep(rt, now=now + timedelta(days=29)) == 0
        assert video.is_file()
        swept_at = now + timedelta(days=31)
        assert await retention.sweep(rt, now=swept_at) == 1
        assert await retention.sweep(rt, now=swept_at) == 0  # once
    finally:
        await rt.close()

    assert not video.exists()
    assert not video.with_suffix(".jpg").exists()  # its poster went with it
    assert creator_r2.a.keys(bucket) == [f"mine/renders/{theirs.id}.{x}"  # untouched
                                         for x in ("jpg", "mp4")]
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
        assert row.status == "completed" and row.output_key  # the record stays
        assert abs((row.output_expired_at - swept_at).total_seconds()) < 1
        events = await renders.events(session=s, job_id=job.id)
    assert any(e.detail.get("action") == "video_expired" for e in events)

    async with httpx.AsyncClient(trust_env=False) as anonymous:
        gone = await anonymous.get(job.result_url)
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "video_expired"
        kept = await anonymous.get(theirs.result_url, follow_redirects=True)
        assert kept.status_code == 200


async def test_zero_days_keeps_videos_forever(client, api_caller, db, instant_worker,
                                              api_settings):
    caller = await api_caller()
    job = await render(client, caller, db)
    forever = api_settings.model_copy(update={"storage": StorageSettings(retention_days=0)})
    rt = Runtime(forever)
    try:
        assert await retention.sweep(rt, now=utcnow() + timedelta(days=3650)) == 0
    finally:
        await rt.close()
    assert (api_settings.var_dir / "media" / "renders" / f"{job.id}.mp4").is_file()


async def test_workers_sweep_periodically(client, api_caller, db, api_settings):
    """The hook in the worker (jobs/worker.py): a worker started later sweeps on its own."""
    import asyncio
    import time

    from sqlalchemy import update

    from jobs.worker import RenderWorker

    caller = await api_caller()
    first = RenderWorker(Runtime(api_settings), threads=1).start()
    try:
        job = await render(client, caller, db)
    finally:
        first.stop()
    async with db.transaction() as s:  # finished 40 days ago
        await s.execute(update(RenderJob).where(RenderJob.id == job.id)
                        .values(finished_at=utcnow() - timedelta(days=40)))
    sweeping = api_settings.model_copy(
        update={"storage": StorageSettings(retention_days=30, sweep_interval=0.5)})
    worker = RenderWorker(Runtime(sweeping), threads=1).start()
    try:
        deadline = time.monotonic() + 30
        while True:
            async with db.transaction() as s:
                row = await s.get(RenderJob, job.id, populate_existing=True)
                expired_at = row.output_expired_at
            if expired_at is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        worker.stop()
    assert expired_at is not None
    assert not (api_settings.var_dir / "media" / "renders" / f"{job.id}.mp4").exists()
