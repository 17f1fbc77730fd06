"""A JPEG poster frame beside every completed render (issue 17): a real local render's
poster is a frame of the video at its size behind ``poster_url``; a poster that cannot be
stored leaves the render completed without one; cancelling during delivery deletes it;
retention sweeps it with its video."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import httpx
import pytest
from PIL import Image

from core import downloads, retention
from core.backends.instant import InstantBackend
from core.db import utcnow
from core.posters import PLACEHOLDER_JPEG
from core.runtime import Runtime
from core.storage.base import StorageError
from tests.fixtures.pipeline import TINY, make_settings, wait_for
from tests.pipeline.test_job_lifecycle import _job, _new_job, drive


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    return image


async def test_a_local_render_has_a_poster_of_the_videos_size_behind_poster_url(
    client, api_caller, db, api_worker
):
    caller = await api_caller()
    for settings, size in (({**TINY, "effects": ["glow"]}, (320, 180)),
                           ({**TINY, "draft": True}, (160, 90))):
        created = await client.post("/v1/renders", headers=caller.headers,
                                    json={"project_id": caller.project_id, "settings": settings})
        assert created.status_code == 202, created.text
        assert created.json()["poster_url"] is None  # nothing yet
        done = await wait_for(db, created.json()["id"], within=180)
        assert done.status == "completed", done.error
        job = (await client.get(f"/v1/renders/{done.id}", headers=caller.headers)).json()
        assert job["poster_url"] and job["poster_url"] != job["result_url"]
        storage = api_worker.rt.storage
        stored = await storage.get_bytes(key=f"renders/{done.id}.jpg")  # beside the mp4
        assert _image(stored).size == size
        async with httpx.AsyncClient(trust_env=False, timeout=30) as anonymous:
            got = await anonymous.get(job["poster_url"], follow_redirects=True)
            assert got.status_code == 200
            assert got.content == stored
            forged = await anonymous.get(job["poster_url"].replace("sig=", "sig=0"))
            assert forged.status_code == 403
            # the download link's signature is not a poster link's
            video_sig = job["result_url"].split("?", 1)[1]
            crossed = await anonymous.get(f"{client.base_url}/p/{done.id}?{video_sig}")
            assert crossed.status_code == 403


class PosterlessStorage:
    """The real storage, except that small objects (posters) cannot be written."""

    def __init__(self, real) -> None:
        self.real = real
        self.refused: list[str] = []

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def put_bytes(self, *, key, **kwargs):
        self.refused.append(key)
        raise StorageError(f"local put of {key!r} failed: No space left on device",
                           retryable=True)


async def test_a_poster_that_cannot_be_stored_leaves_the_render_completed_without_one(
    db, pipeline_settings, factory, worker, caplog
):
    storage = PosterlessStorage(worker.rt.storage)
    worker.rt.storage = storage
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    from tests.pipeline.test_local_pipeline import _submit

    job = await _submit(db, pipeline_settings, account, project, TINY)
    with caplog.at_level("WARNING", logger="renderbot.posters"):
        done = await wait_for(db, job.id, within=180)
    assert done.status == "completed", done.error
    assert done.result_url and done.poster_url is None
    assert storage.refused == [f"renders/{job.id}.jpg"]  # it was tried, once
    assert any("no poster" in r.getMessage() and "No space left" in r.getMessage()
               for r in caplog.records)
    assert await storage.real.exists(key=f"renders/{job.id}.mp4")


@pytest.fixture
def instant_settings(tmp_path, database_url, render_server_dir):
    return make_settings(tmp_path, database_url, render_server_dir,
                         render_backend="instant", test_backends=True)


async def test_a_cancel_during_delivery_deletes_the_poster_too(db, instant_settings, factory):
    rt = Runtime(instant_settings)
    real = rt.storage
    uploading, release = asyncio.Event(), asyncio.Event()
    posters: list[str] = []

    class SlowUpload:
        def __getattr__(self, name):
            return getattr(real, name)

        async def put_file(self, **kwargs):
            stored = await real.put_file(**kwargs)
            uploading.set()
            await release.wait()
            return stored

        async def put_bytes(self, **kwargs):
            posters.append(kwargs["key"])
            return await real.put_bytes(**kwargs)

    rt.storage = SlowUpload()
    rt.backend = InstantBackend(instant_settings.var_dir / "renders")
    try:
        account, job = await _new_job(db, instant_settings, factory)
        driving = asyncio.create_task(drive(rt, job.id))
        await asyncio.wait_for(uploading.wait(), 30)
        from core import renders

        async with db.transaction() as s:
            await renders.cancel(session=s, account_id=account, job_id=job.id)
        release.set()
        await asyncio.wait_for(driving, 30)
    finally:
        await rt.close()
    done = await _job(db, job.id)
    assert done.status == "cancelled"
    assert posters == [f"renders/{job.id}.jpg"]  # made, then deleted with the video
    assert not await real.exists(key=f"renders/{job.id}.jpg")
    assert not await real.exists(key=f"renders/{job.id}.mp4")
    assert done.poster_key is None and done.poster_url is None


async def test_a_poster_stored_while_the_job_completes_is_attached_after_all(
    db, instant_settings, factory
):
    """The Lambda webhook's race: the API stops waiting for the worker's still, the worker
    stores it and tries to attach it before the API has committed the completion (no
    completed job yet: nothing attached). The job must still end with its poster."""
    from core import renders

    rt = Runtime(instant_settings)
    real = rt.storage
    attached_early: list[bool] = []

    class WorkerWinsTheRace:
        def __getattr__(self, name):
            return getattr(real, name)

        async def put_bytes(self, *, key, **kwargs):
            await real.put_bytes(key=key, **kwargs)  # the worker's still lands ...
            async with db.transaction() as s:  # ... and its attach finds no completed job
                attached_early.append(await renders.attach_poster(
                    session=s, job_id=key.rsplit("/", 1)[-1].removesuffix(".jpg"),
                    poster_key=key, poster_url="unused"))
            raise StorageError("no worker stored the poster still in time", retryable=True)

    rt.storage = WorkerWinsTheRace()
    rt.backend = InstantBackend(instant_settings.var_dir / "renders")
    try:
        _, job = await _new_job(db, instant_settings, factory)
        await drive(rt, job.id)
    finally:
        await rt.close()
    done = await _job(db, job.id)
    assert done.status == "completed"
    assert attached_early == [False]
    assert done.poster_key == f"renders/{job.id}.jpg"
    link = downloads.poster_url(instant_settings, job.id)  # its expiry: a later second
    assert done.poster_url.split("?")[0] == link.split("?")[0]


async def test_retention_sweeps_the_poster_with_its_video(db, instant_settings, factory):
    rt = Runtime(instant_settings)
    rt.backend = InstantBackend(instant_settings.var_dir / "renders")
    try:
        _, job = await _new_job(db, instant_settings, factory)
        await drive(rt, job.id)
        done = await _job(db, job.id)
        assert done.status == "completed" and done.poster_key == f"renders/{job.id}.jpg"
        assert await rt.storage.get_bytes(key=done.poster_key) == PLACEHOLDER_JPEG
        async with db.transaction() as s:
            assert (await downloads.poster_of(session=s, job_id=job.id)).key == done.poster_key
        assert await retention.sweep(rt, now=utcnow() + timedelta(days=31)) == 1
        assert not await rt.storage.exists(key=done.poster_key)
        assert not await rt.storage.exists(key=done.output_key)
        async with db.transaction() as s:
            with pytest.raises(downloads.VideoExpired):
                await downloads.poster_of(session=s, job_id=job.id)
    finally:
        await rt.close()


@pytest.mark.parametrize("fmt", ["webm", "gif"])
async def test_webm_and_gif_renders_get_a_poster_too(db, pipeline_settings, factory, worker, fmt):
    from tests.pipeline.test_local_pipeline import _submit

    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, pipeline_settings, account, project, {**TINY, "format": fmt})
    done = await wait_for(db, job.id, within=180)
    assert done.status == "completed", done.error
    assert done.poster_url
    poster = await worker.rt.storage.get_bytes(key=f"renders/{job.id}.jpg")
    assert _image(poster).size == (320, 180)
