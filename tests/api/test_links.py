"""A finished job's ``result_url`` (counted, signed, expiring, no API key) and the signed
local media links it redirects to (range requests for seeking)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from core import downloads, renders
from core.backends.instant import PLACEHOLDER
from core.storage.local import LocalStorage
from tests.fixtures.api import make_api_settings
from tests.fixtures.pipeline import TINY, wait_for


@pytest.fixture
def api_settings(tmp_path, database_url, api_port):
    return make_api_settings(tmp_path, database_url, api_port, render_backend="instant",
                             api={"renders_per_minute": 0, "media_link_seconds": 2})


async def _finished_job(client, caller, db):
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    done = await wait_for(db, response.json()["id"], within=30)
    assert done.status == "completed", done.error
    return done


async def _downloads(db, job_id):
    async with db.transaction() as s:
        return [e for e in await renders.events(session=s, job_id=job_id) if e.kind == "download"]


async def test_result_url_is_counted_then_redirects_to_the_file(
    api_server, api_caller, db, instant_worker
):
    caller = await api_caller()
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        done = await _finished_job(client, caller, db)
        assert done.result_url.startswith(f"{api_server.url}/d/{done.id}?")
        served = await client.get(f"/v1/renders/{done.id}", headers=caller.headers)
        assert served.json()["result_url"] == done.result_url

        anonymous = httpx.AsyncClient()  # no API key, like a browser
        first = await anonymous.get(done.result_url)
        assert first.status_code == 302
        assert first.headers["cache-control"] == "no-store"
        media_url = first.headers["location"]
        assert media_url.startswith(f"{api_server.url}/media/renders/{done.id}.mp4?")
        video = await anonymous.get(media_url)
        assert video.status_code == 200
        assert video.content == PLACEHOLDER
        assert video.headers["content-type"] == "video/mp4"
        assert video.headers["content-disposition"] == f'attachment; filename="caller project-{done.id[-8:]}.mp4"'
        assert video.headers["accept-ranges"] == "bytes"

        followed = await anonymous.get(done.result_url, follow_redirects=True)
        assert followed.status_code == 200 and followed.content == PLACEHOLDER
        await anonymous.aclose()

    events = await _downloads(db, done.id)
    assert [e.detail["count"] for e in events] == [1, 2]


async def test_media_links_serve_byte_ranges_and_head(api_server, api_caller, db, instant_worker):
    caller = await api_caller()
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        done = await _finished_job(client, caller, db)
        media_url = (await client.get(done.result_url)).headers["location"]
        part = await client.get(media_url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == PLACEHOLDER[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(PLACEHOLDER)}"
        tail = await client.get(media_url, headers={"Range": "bytes=-5"})
        assert tail.status_code == 206 and tail.content == PLACEHOLDER[-5:]
        beyond = await client.get(media_url, headers={"Range": f"bytes={len(PLACEHOLDER) + 10}-"})
        assert beyond.status_code == 416
        head = await client.head(media_url)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(PLACEHOLDER)


async def test_forged_and_expired_links_are_refused(api_server, api_caller, db, instant_worker,
                                                    api_settings):
    caller = await api_caller()
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        done = await _finished_job(client, caller, db)
        forged = done.result_url[:-4] + ("0000" if not done.result_url.endswith("0000") else "1111")
        r = await client.get(forged)
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_link"
        other_job = done.result_url.replace(done.id, "job_00000000000000000000")
        assert (await client.get(other_job)).status_code == 403
        unsigned = await client.get(f"/d/{done.id}")
        assert unsigned.status_code == 403

        expired = downloads.result_url(api_settings, done.id, expires_in=-5)
        r = await client.get(expired)
        assert r.status_code == 410 and r.json()["error"]["code"] == "link_expired"

        # The storage link it redirects to is short-lived (2 s here) ...
        media_url = (await client.get(done.result_url)).headers["location"]
        assert (await client.get(media_url)).status_code == 200
        await asyncio.sleep(3.1)
        late = await client.get(media_url)
        assert late.status_code == 410 and late.json()["error"]["code"] == "link_expired"
        # ... but the owner's link still works: it makes a fresh one.
        fresh = await client.get(done.result_url, follow_redirects=True)
        assert fresh.status_code == 200 and fresh.content == PLACEHOLDER

        storage = LocalStorage(api_settings.var_dir / "media", api_settings.public_base_url,
                               api_settings.secret_bytes())
        key = f"renders/{done.id}.mp4"
        tampered = f"/media/{key}?exp={int(time.time()) + 60}&sig={'0' * 64}"
        assert (await client.get(tampered)).status_code == 403
        secret = await client.get(f"/media/renders/%2e%2e/secret_key?exp={int(time.time()) + 60}"
                                  f"&sig={storage.sign('renders/../secret_key', int(time.time()) + 60)}")
        assert secret.status_code in (403, 404)
        assert b"test-secret" not in secret.content
    assert len(await _downloads(db, done.id)) == 2  # refused links count nothing


async def test_a_link_to_a_job_without_a_video_is_404(api_server, api_caller, api_settings, db):
    caller = await api_caller()
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        job = (await client.post("/v1/renders", headers=caller.headers,
                                 json={"project_id": caller.project_id, "settings": TINY})).json()
        link = downloads.result_url(api_settings, job["id"])
        response = await client.get(link)
    assert response.status_code == 404
    assert await _downloads(db, job["id"]) == []


def test_download_signatures_are_bound_to_job_and_expiry():
    secret = b"k" * 32
    sig = downloads.sign(secret, "job_a", 2_000_000_000)
    assert downloads.check(secret, "job_a", "2000000000", sig, now=1_000) == "ok"
    assert downloads.check(secret, "job_b", "2000000000", sig, now=1_000) == "invalid"
    assert downloads.check(secret, "job_a", "2000000001", sig, now=1_000) == "invalid"
    assert downloads.check(b"x" * 32, "job_a", "2000000000", sig, now=1_000) == "invalid"
    assert downloads.check(secret, "job_a", "2000000000", sig, now=2_000_000_001) == "expired"
    assert downloads.check(secret, "job_a", "soon", sig) == "invalid"
    assert downloads.check(secret, "job_a", None, None) == "invalid"
    # Not a media signature of the same secret, and vice versa.
    media = LocalStorage(__import__("pathlib").Path("/tmp"), "http://x", secret)
    assert media.sign("job_a", 2_000_000_000) != sig
