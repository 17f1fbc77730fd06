"""Previews on the production topology: Redis broker, PostgreSQL, S3 (moto server), the
API in this process and ``renderbot worker`` in its own. The API process renders nothing:
the still is rendered by the worker's render server from the ``previews`` queue, stored
in S3, and the API answers with a presigned link to it."""

from __future__ import annotations

import io
import os
import signal
import subprocess

import httpx
import pytest
from PIL import Image

from core import accounts, projects
from core.db import Database
from core.settings import ApiSettings, LimitSettings
from tests.fixtures.api import LiveServer, free_port
from tests.fixtures.pipeline import TINY, make_settings, own_render_server_dir
from tests.pipeline.test_production_topology import RENDERBOT


@pytest.fixture
def topology(tmp_path, pg_url, redis_url, s3_bucket, moto_s3, render_server_dir,
             production_bundles):
    port = free_port()
    settings = make_settings(
        tmp_path, pg_url, render_server_dir, broker_url=redis_url,
        public_base_url=f"http://127.0.0.1:{port}", api=ApiSettings(port=port),
        storage_url=f"s3://{s3_bucket}", s3_endpoint_url=moto_s3.endpoint_url,
        s3_region=moto_s3.region, s3_access_key_id=moto_s3.access_key_id,
        s3_secret_access_key=moto_s3.secret_access_key,
        limits=LimitSettings(preview_wait_seconds=90),  # the worker's first still boots it
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": pg_url, "RENDERBOT_BROKER_URL": redis_url,
        "RENDERBOT_STORAGE_URL": f"s3://{s3_bucket}",
        "RENDERBOT_S3_ENDPOINT_URL": moto_s3.endpoint_url, "RENDERBOT_S3_REGION": moto_s3.region,
        "RENDERBOT_S3_ACCESS_KEY_ID": moto_s3.access_key_id,
        "RENDERBOT_S3_SECRET_ACCESS_KEY": moto_s3.secret_access_key,
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
        "RENDERBOT_PUBLIC_BASE_URL": settings.public_base_url,
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
    }
    own = own_render_server_dir(tmp_path, "worker", production_bundles)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen([RENDERBOT, "worker", "--threads", "2"],
                              env={**env, "RENDERBOT_RENDER_SERVER_DIR": str(own)},
                              stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    api = LiveServer(settings).start()
    yield settings, api, own
    api.stop()
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


async def test_a_worker_process_renders_the_preview_the_api_links_to(topology):
    settings, api, worker_dir = topology
    db = Database(settings.database_url)
    try:
        async with db.transaction() as s:
            account = await accounts.create(session=s, name="topology")
            key = await accounts.create_api_key(session=s, account_id=account.id)
            project = await projects.create(session=s, account_id=account.id, name="p",
                                            state=None)
    finally:
        await db.dispose()
    headers = {"Authorization": f"Bearer {key.key}"}
    body = {"project_id": project.id, "settings": {**TINY, "resolution": [480, 270]}}
    async with httpx.AsyncClient(base_url=api.url, timeout=120, trust_env=False) as c:
        first = await c.post("/v1/previews", headers=headers, json=body)
        assert first.status_code == 200, first.text
        assert (first.json()["width"], first.json()["height"]) == (480, 270)
        again = await c.post("/v1/previews", headers=headers, json=body)  # from the cache
        assert again.status_code == 200
    url = first.json()["url"]
    assert "X-Amz-Signature" in url  # presigned from the bucket, no auth needed
    async with httpx.AsyncClient(timeout=30, trust_env=False) as anonymous:
        got = await anonymous.get(url)
    assert got.status_code == 200
    image = Image.open(io.BytesIO(got.content))
    assert image.format == "JPEG" and image.size == (480, 270)
    # the worker's render server made it, once (this process's server made none)
    worker_log = (worker_dir / "cache" / "render-server.log").read_text()
    assert worker_log.count('"still done"') == 1


async def test_a_lambda_webhooks_poster_in_the_api_is_rendered_by_a_worker(topology):
    """The Remotion webhook delivers in the API process, which never renders: the poster
    of a video Lambda wrote to storage comes from a worker over the ``previews`` queue.
    Remotion's webhook call gives up after 10 s, so the API waits at most
    ``WEBHOOK_POSTER_WAIT``; the worker's render server boots cold here (longer than
    that), so the job completes without a poster and the worker attaches it when stored."""
    import asyncio
    import time

    from sqlalchemy import update

    from core import credits, posters, renders
    from core.backends.base import input_props
    from core.models import RenderJob
    from core.render_settings import RenderSettings
    from core.runtime import Runtime
    from jobs.still_requests import requester_for

    settings, api, worker_dir = topology
    rt = Runtime(settings)
    rt.still_request = requester_for(settings)  # what the API's runtime carries
    rendered = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1.0)
    state = {"composition": "Visualizer", "props": {"title": "Poster"}}
    try:
        async with rt.db.transaction() as s:
            account = await accounts.create(session=s, name="webhook")
            await credits.grant(session=s, account_id=account.id, amount=10,
                                idempotency_key=f"t:{account.id}")
            project = await projects.create(session=s, account_id=account.id, name="p",
                                            state=None)
            job = (await renders.submit(session=s, settings=settings, account_id=account.id,
                                        project_id=project.id, render_settings=TINY)).job
            # what the webhook's delivery leaves when the poster is not there in time
            await s.execute(update(RenderJob).where(RenderJob.id == job.id)
                            .values(status="completed", output_key=f"renders/{job.id}.mp4"))
        started = time.monotonic()
        key = await posters.make(
            rt, job_id=job.id, video_key=f"renders/{job.id}.mp4", bucket=None,
            storage=rt.storage, settings=rendered, composition="Visualizer",
            props=input_props(state, rendered), video_path=None,
        )
        assert time.monotonic() - started < posters.WEBHOOK_POSTER_WAIT + 2
        deadline = time.monotonic() + 90
        while True:  # the worker stores it and attaches it to the completed job
            async with rt.db.transaction() as s:
                row = await s.get(RenderJob, job.id)
                poster_key, poster_url = row.poster_key, row.poster_url
            if poster_key is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert poster_key == f"renders/{job.id}.jpg" and poster_url
        assert key in (None, poster_key)
        image = Image.open(io.BytesIO(await rt.storage.get_bytes(key=poster_key)))
        assert image.format == "JPEG" and image.size == (320, 180)
    finally:
        await rt.close()
    assert '"still done"' in (worker_dir / "cache" / "render-server.log").read_text()
