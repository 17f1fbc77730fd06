"""Redis broker + PostgreSQL + S3 (moto server), with `renderbot worker` in its own process:
the happy path, a worker killed with SIGKILL mid-render, and a flushed Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from core import renders
from core.db import Database
from core.settings import ApiSettings
from jobs.enqueue import enqueuer_for
from tests.fixtures.api import LiveServer, free_port
from tests.fixtures.pipeline import TINY, make_settings, own_render_server_dir, wait_for
from tests.pipeline.test_local_pipeline import probe, video_stream

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"


@pytest.fixture
def prod(tmp_path, pg_url, redis_url, s3_bucket, moto_s3, render_server_dir, production_bundles):
    port = free_port()
    settings = make_settings(
        tmp_path, pg_url, render_server_dir, broker_url=redis_url,
        public_base_url=f"http://127.0.0.1:{port}", api=ApiSettings(port=port),
        storage_url=f"s3://{s3_bucket}", s3_endpoint_url=moto_s3.endpoint_url,
        s3_region=moto_s3.region, s3_access_key_id=moto_s3.access_key_id,
        s3_secret_access_key=moto_s3.secret_access_key,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": pg_url,
        "RENDERBOT_BROKER_URL": redis_url,
        "RENDERBOT_STORAGE_URL": f"s3://{s3_bucket}",
        "RENDERBOT_S3_ENDPOINT_URL": moto_s3.endpoint_url,
        "RENDERBOT_S3_REGION": moto_s3.region,
        "RENDERBOT_S3_ACCESS_KEY_ID": moto_s3.access_key_id,
        "RENDERBOT_S3_SECRET_ACCESS_KEY": moto_s3.secret_access_key,
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
        "RENDERBOT_PUBLIC_BASE_URL": settings.public_base_url,
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.2",
        "RENDERBOT_WORKER__RETRY_BASE_DELAY": "0.2",
        "RENDERBOT_WORKER__RECONCILE_INTERVAL": "1",
        "RENDERBOT_WORKER__RECONCILE_GRACE": "1",
        "RENDERBOT_WORKER__LEASE_SECONDS": "3",
    }
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        name = f"worker-{len(workers)}"
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        # its own render server dir, as compose gives each worker container
        own = own_render_server_dir(tmp_path, name, production_bundles)
        proc = subprocess.Popen([RENDERBOT, "worker", "--threads", "2"],
                                env={**env, "RENDERBOT_RENDER_SERVER_DIR": str(own)},
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        workers.append(proc)
        return proc

    db = Database(pg_url)
    yield settings, db, start_worker
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _submit(db, settings, account, project, body=TINY):
    async with db.transaction() as s:
        return (await renders.submit(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=body, enqueue=enqueuer_for(settings),
        )).job


async def _new_account(db, credits_=10):
    from tests.conftest import Factory

    factory = Factory(db)
    account = await factory.account(credits_=credits_)
    return factory, account, await factory.project(account)


async def test_worker_process_on_redis_postgres_and_s3_delivers_a_presigned_mp4(prod, tmp_path):
    """The link is the API's counted /d/ link, which redirects to a presigned S3 URL."""
    settings, db, start_worker = prod
    api = LiveServer(settings).start()
    try:
        factory, account, project = await _new_account(db)
        start_worker()
        job = await _submit(db, settings, account, project, {**TINY, "duration": 2})
        seen = []
        done = await wait_for(db, job.id, seen=seen, within=180)
        assert done.status == "completed", done.error
        assert any(0 < j.progress < 100 for j in seen)
        async with httpx.AsyncClient(follow_redirects=True) as client:
            response = await client.get(done.result_url)
        assert response.status_code == 200
        assert response.history and response.url.host == "127.0.0.1"
        assert "X-Amz-Signature" in str(response.url)  # a presigned storage URL
        assert "attachment" in response.headers.get("content-disposition", "")
        path = tmp_path / "download.mp4"
        path.write_bytes(response.content)
        video = video_stream(probe(path))
        assert (video["width"], video["height"], video["nb_read_frames"]) == (320, 180, "60")
        assert await factory.balance(account) == 9
    finally:
        api.stop()
        await db.dispose()


async def test_worker_killed_mid_render_the_job_still_ends(prod):
    settings, db, start_worker = prod
    try:
        factory, account, project = await _new_account(db)
        first = start_worker()
        job = await _submit(db, settings, account, project,
                            {**TINY, "duration": 12, "frame_rate": 24})
        for _ in range(600):  # until it is really rendering, so the kill lands mid-render
            job_now = await wait_for(db, job.id, statuses=("processing", "completed"))
            if job_now.progress >= 5 or job_now.status == "completed":
                break
            await asyncio.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        start_worker()
        done = await wait_for(db, job.id, within=180)
        assert done.status in ("completed", "failed")
        expected = ["debit"] if done.status == "completed" else ["debit", "refund"]
        async with db.transaction() as s:
            statement = await _job_entries(s, job.id)
        assert statement == expected
    finally:
        await db.dispose()


async def test_flushed_redis_the_reconciler_finishes_every_queued_job(prod, redis_url):
    settings, db, start_worker = prod
    try:
        factory, account, project = await _new_account(db)
        jobs = [await _submit(db, settings, account, project) for _ in range(3)]
        client = redis.Redis.from_url(redis_url)
        assert client.dbsize() > 0  # the messages were there ...
        client.flushdb()  # ... and are gone
        start_worker()
        for job in jobs:
            done = await wait_for(db, job.id, within=180)
            assert done.status == "completed", done.error
        assert await factory.balance(account) == 7
    finally:
        await db.dispose()


async def _job_entries(session, job_id):
    from sqlalchemy import select

    from core.models import CreditEntry

    rows = await session.scalars(
        select(CreditEntry.kind).where(CreditEntry.job_id == job_id).order_by(CreditEntry.id)
    )
    return list(rows)


async def test_submit_while_the_broker_is_down_still_accepts_the_paid_job(db, settings, factory):
    """The enqueue runs after the commit: a dead broker must not turn an accepted, paid job
    into an error (the caller would retry and pay twice); the reconciler enqueues it later."""
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    async with db.transaction() as s:
        result = await renders.submit(
            session=s, settings=down, account_id=account, project_id=project,
            render_settings=TINY, enqueue=enqueuer_for(down),
        )
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=account, job_id=result.job.id)
    assert job.status == "queued"
    assert await factory.balance(account) == 4
